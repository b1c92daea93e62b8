"""Figures the chapters share: image grids, annotated matrices, feature maps.

Every function draws with matplotlib and returns the figure (or axes) it drew on, so a
notebook can adjust it further. Signed data (filter weights, edge responses) is drawn with
a diverging colour map centred on zero, so that white always means 0.

Introduced in chapter 1 (Convolution).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_history", "show_feature_maps",
           "show_images", "show_matrix"]


def _is_signed(a: np.ndarray) -> bool:
    return bool(np.issubdtype(a.dtype, np.number) and a.size and np.nanmin(a) < 0)


def _imshow(ax: Axes, img: np.ndarray, cmap: str | None, signed: bool | None) -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3:  # RGB: uint8 0-255 or float 0-1 as matplotlib expects
        ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
    else:
        signed = _is_signed(img) if signed is None else signed
        if signed:
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap or "RdBu_r", vmin=-lim, vmax=lim)
        else:
            ax.imshow(img, cmap=cmap or "gray")
    ax.set_xticks([])
    ax.set_yticks([])


def show_images(images: Sequence[np.ndarray] | np.ndarray, titles: Sequence[str] | None = None, *,
                ncols: int = 8, size: float = 1.6, cmap: str | None = None,
                signed: bool | None = None, suptitle: str | None = None) -> Figure:
    """Draw images in a grid.

    Args:
        images: a sequence (or an array whose first axis indexes images) of ``(H, W)``,
            ``(H, W, 1)`` or RGB ``(H, W, 3)`` images.
        titles: one title per image (for example the labels).
        ncols: images per row.
        size: inches per image.
        cmap: colour map for single-channel images (default: grey, or red-white-blue
            centred on zero for signed data).
        signed: force (or forbid) the zero-centred colour map; by default each image
            decides for itself, so pass ``signed=True`` to draw a set of filters (some of
            which may happen to be all positive) on one consistent scale type.
        suptitle: a title over the whole grid.
    """
    imgs = list(images)
    if not imgs:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(imgs)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(imgs)))
    nrows = math.ceil(len(imgs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(imgs):
            ax.axis("off")
            continue
        _imshow(ax, imgs[i], cmap, signed)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))  # keep room for it
    else:
        fig.tight_layout()
    return fig


def show_feature_maps(maps: np.ndarray, titles: Sequence[str] | None = None, *, ncols: int = 8,
                      size: float = 1.6, cmap: str | None = None, signed: bool | None = None,
                      suptitle: str | None = None) -> Figure:
    """Draw each channel of a ``(H, W, C)`` feature-map volume as its own image."""
    arr = np.asarray(maps)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"show_feature_maps expects (H, W, channels), got shape {arr.shape}")
    channels = [arr[..., c] for c in range(arr.shape[-1])]
    if titles is None:
        titles = [f"map {c}" for c in range(len(channels))]
    return show_images(channels, titles, ncols=ncols, size=size, cmap=cmap, signed=signed,
                       suptitle=suptitle)


def show_matrix(a: np.ndarray, *, ax: Axes | None = None, fmt: str = "{:g}", cmap: str | None = None,
                title: str | None = None, fontsize: float | None = None,
                highlight: tuple[int, int, int, int] | None = None, cell: float = 0.45,
                nan_text: str = "nan") -> Axes:
    """Draw a small 2-D array as a grid of coloured cells with each value written in it.

    Args:
        a: the matrix (a filter, a patch of pixels, a small feature map).
        ax: axes to draw on (a new figure if ``None``).
        fmt: how to write each value, e.g. ``"{:.0f}"`` or ``"{:+.2f}"``.
        cmap: colour map (default grey; red-white-blue centred on zero for signed data).
        highlight: ``(row, col, height, width)`` of a rectangle to outline, for example
            the receptive field of one output neuron.
        cell: inches per cell when a new figure is made.
        nan_text: what to write in NaN cells (e.g. ``"pad"`` for padding that pooling ignores).
    """
    m = np.asarray(a)
    if m.ndim != 2:
        raise ValueError(f"show_matrix expects a 2-D array, got shape {m.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(1.5, cell * m.shape[1]), max(1.5, cell * m.shape[0])))
    signed = _is_signed(m)
    if signed:
        lim = float(np.abs(m).max()) or 1.0
        im = ax.imshow(m, cmap=cmap or "RdBu_r", vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(m, cmap=cmap or "Greys")
    fs = fontsize or max(5.0, min(10.0, 60.0 / max(m.shape)))
    norm = im.norm
    for (r, c), v in np.ndenumerate(m):
        shade = norm(v)
        dark = (abs(shade - 0.5) > 0.3) if signed else shade > 0.55
        text = nan_text if isinstance(v, float) and np.isnan(v) else fmt.format(v)
        ax.text(c, r, text, ha="center", va="center", fontsize=fs,
                color="white" if dark else "black")
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="#d62728", lw=2.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_history(histories: dict[str, Any] | Any, metrics: Sequence[str] = ("loss", "accuracy"), *,
                 size: tuple[float, float] = (5.0, 3.4), title: str | None = None) -> Figure:
    """Learning curves: one panel per metric, training (solid) and validation (dashed).

    Args:
        histories: what ``model.fit`` returned (or its ``.history`` dict), or a dict
            ``{label: history}`` to compare several runs on the same axes.
        metrics: the metrics to draw; ``"val_" + metric`` is drawn too when present.
    """
    if hasattr(histories, "history") or (isinstance(histories, dict) and "loss" in histories):
        histories = {"": histories}
    runs = {label: getattr(h, "history", h) for label, h in histories.items()}
    if not runs:
        raise ValueError("plot_history needs at least one history")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size[0] * len(metrics), size[1]), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, (label, h) in enumerate(runs.items()):
            color = colors[i % len(colors)]
            for key, style, part in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                if key in h:
                    epochs = np.arange(1, len(h[key]) + 1)
                    name = f"{label} {part}".strip()
                    ax.plot(epochs, h[key], style, color=color, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Counts ``m[i, j]`` of examples of true class ``i`` predicted as class ``j``."""
    t = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(y_pred).reshape(-1).astype(int)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape} and {p.shape}")
    n = n_classes or int(max(t.max(initial=0), p.max(initial=0))) + 1
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (t, p), 1)
    return m


def plot_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                          class_names: Sequence[str] | None = None, *, ax: Axes | None = None,
                          title: str | None = None) -> Axes:
    """Draw the confusion matrix with counts; the diagonal (correct) is what to look past."""
    m = confusion_matrix(y_true, y_pred, len(class_names) if class_names else None)
    n = m.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(n)]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * n + 2, 0.55 * n + 1.5))
    off = m.astype(float)
    np.fill_diagonal(off, np.nan)            # colour the mistakes; the diagonal stays white
    ax.imshow(off, cmap="Reds")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                color="black" if i == j or v < 0.6 * np.nanmax(off, initial=1) else "white",
                fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                  if max(map(len, names)) > 2 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"{int(np.trace(m)):,} of {int(m.sum()):,} correct")
    return ax
