"""Figures the chapters share, and the book's figure style.

**Style.** :func:`use_book_style` (``runtime.start`` calls it) sets matplotlib's fonts,
colour maps and resolution for the book's page, and makes a notebook show each figure as a
hi-DPI PNG at its true size: a figure inch is :data:`PX_PER_INCH` CSS pixels on the page, so
a figure at most :data:`COLUMN_WIDTH` inches wide is never scaled down at desktop widths
and text of :data:`MIN_FONT_PT` points shows at 12 px. Each PNG records the smallest
font it uses, which the book's browser tests check on the rendered page.

**Colour maps.** Pictures are grey (:data:`IMAGE_CMAP`, 0 black); signed values (filter
weights, edge responses, gradients) use :data:`SIGNED_CMAP`, centred on zero so that white
always means 0, with a colour bar; magnitudes and counts use :data:`SEQUENTIAL_CMAP`.

Every drawing function returns the figure (or axes) it drew on, so a notebook can adjust
it further.

Introduced in chapter 1 (Convolution).
"""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
import zlib
from typing import Any, NamedTuple, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

__all__ = ["COLUMN_WIDTH", "DPI", "IMAGE_CMAP", "MIN_FONT_PT", "PX_PER_INCH", "SEQUENTIAL_CMAP",
           "SIGNED_CMAP", "Calibration", "FigureStyleWarning", "add_colorbar", "calibration_table",
           "confusion_matrix",
           "figure_png", "min_font_size", "plot_confusion_matrix", "plot_history",
           "reliability_diagram", "show_feature_maps", "show_images", "show_matrix",
           "use_book_style"]

PX_PER_INCH = 96            # CSS pixels per figure inch on the page (the CSS inch)
DPI = 2 * PX_PER_INCH       # PNG pixels per inch: twice the page's, sharp on hi-DPI screens
COLUMN_WIDTH = 7.5          # inches (720 px): the widest figure the text column shows unscaled
MIN_FONT_PT = 9.0           # the smallest text a figure may use (12 px on the page)
IMAGE_CMAP = "gray"         # pictures: 0 black, 255 white, as a screen shows them
SIGNED_CMAP = "RdBu_r"      # signed values: blue < 0 < red, white at 0
SEQUENTIAL_CMAP = "viridis"  # magnitudes and counts: dark = small, bright = large

# Key of the PNG text chunk that records a figure's smallest font (in points) and its DPI.
PNG_FONT_KEY = "cnn-book:min-font-pt"
PNG_DPI_KEY = "cnn-book:dpi"

_RC = {
    "figure.dpi": PX_PER_INCH,
    "savefig.dpi": DPI,
    "figure.figsize": (COLUMN_WIDTH, 3.2),
    "figure.constrained_layout.use": False,
    "font.size": 10.0,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11.5,
    "axes.titlepad": 4.0,
    "image.cmap": IMAGE_CMAP,
    "image.interpolation": "nearest",
}


class FigureStyleWarning(UserWarning):
    """A figure that the book's page would have to shrink, or whose text is too small."""


def min_font_size(fig: Figure) -> float:
    """The smallest font size (points) of the visible, non-empty text in ``fig``.

    Draws the figure first, so that tick labels exist. ``inf`` for a figure without text.
    """
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and _shown(t)]
    return float(min(sizes, default=math.inf))


def _shown(text: Text) -> bool:
    """Whether a text artist lies (at least partly) inside its figure."""
    try:
        box = text.get_window_extent()
    except Exception:   # a text that cannot be laid out is not drawn either
        return False
    w, h = text.figure.canvas.get_width_height()
    return box.x1 > 0 and box.y1 > 0 and box.x0 < w and box.y0 < h


def _png_text_chunk(png: bytes, items: dict[str, str]) -> bytes:
    """Insert ``tEXt`` chunks (key, value) right after a PNG's header chunk."""
    end_of_ihdr = 8 + 4 + 4 + 13 + 4          # signature, length, type, IHDR data, CRC
    chunks = b""
    for key, value in items.items():
        body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
        chunks += struct.pack(">I", len(body)) + b"tEXt" + body
        chunks += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:end_of_ihdr] + chunks + png[end_of_ihdr:]


def figure_png(fig: Figure) -> tuple[bytes, dict[str, int]] | None:
    """``fig`` as the book shows it: a PNG at :data:`DPI`, cropped to its content, with its
    smallest font recorded in the file, and the size (CSS pixels) to show it at.

    Returns ``None`` for a figure with nothing drawn (as IPython expects). Warns
    (:class:`FigureStyleWarning`) when the figure is wider than :data:`COLUMN_WIDTH` or
    uses text smaller than :data:`MIN_FONT_PT`: the page would show it too small to read.
    """
    if not fig.axes and not fig.texts and not fig.images:
        return None
    smallest = min_font_size(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05,
                facecolor="white")
    png = buf.getvalue()
    width, height = struct.unpack(">II", png[16:24])
    shown_w, shown_h = round(width * PX_PER_INCH / DPI), round(height * PX_PER_INCH / DPI)
    if shown_w > COLUMN_WIDTH * PX_PER_INCH * 1.02:
        warnings.warn(f"this figure is {shown_w / PX_PER_INCH:.1f} inches wide; the page shows "
                      f"at most {COLUMN_WIDTH} unscaled (plotting.COLUMN_WIDTH)",
                      FigureStyleWarning, stacklevel=2)
    if smallest < MIN_FONT_PT - 1e-6:
        warnings.warn(f"this figure has text of {smallest:g} pt; the book uses at least "
                      f"{MIN_FONT_PT:g} pt (plotting.MIN_FONT_PT)", FigureStyleWarning,
                      stacklevel=2)
    recorded = "none" if math.isinf(smallest) else f"{smallest:g}"
    png = _png_text_chunk(png, {PNG_FONT_KEY: recorded, PNG_DPI_KEY: str(DPI)})
    return png, {"width": shown_w, "height": shown_h}


def _ipython_png(fig: Figure) -> tuple[str, dict[str, int]] | None:
    shown = figure_png(fig)
    if shown is None:
        return None
    png, size = shown
    return base64.b64encode(png).decode("ascii"), size


def use_book_style() -> None:
    """Apply the book's figure style: fonts, colour maps, resolution and, inside IPython
    (Jupyter, Colab), figures shown by :func:`figure_png`. Safe to call more than once."""
    mpl.rcParams.update(_RC)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    # Jupyter's inline backend sets up its own figure formatter when it is first loaded,
    # which is at the first figure: load it now, so that the one below is not replaced.
    backend = str(mpl.rcParams._get("backend"))
    if backend in ("inline", "module://matplotlib_inline.backend_inline"):
        import matplotlib_inline.backend_inline  # noqa: F401
    formatters = shell.display_formatter.formatters
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    formatters["image/png"].for_type(Figure, _ipython_png)


def add_colorbar(mappable: ScalarMappable, ax: Axes | Sequence[Axes], label: str | None = None,
                 **kwargs: Any) -> Any:
    """A slim colour bar beside ``ax`` (one axes or several) for ``mappable`` (what
    ``imshow`` returned): signed maps need one, so that a reader can tell -3 from +3."""
    bar = plt.colorbar(mappable, ax=ax, fraction=kwargs.pop("fraction", 0.046),
                       pad=kwargs.pop("pad", 0.03), **kwargs)
    bar.ax.tick_params(labelsize=MIN_FONT_PT)
    if label:
        bar.set_label(label)
    return bar


def _is_signed(a: np.ndarray) -> bool:
    return bool(np.issubdtype(a.dtype, np.number) and a.size and np.nanmin(a) < 0)


def _plain(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    return img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img


def _imshow(ax: Axes, img: np.ndarray, cmap: str | None, signed: bool, limit: float | None) -> Any:
    """Draw one image without ticks; signed data symmetric around zero (``limit``: the
    largest absolute value shown, default the image's own)."""
    img = _plain(img)
    if img.ndim == 3:  # RGB: uint8 0-255 or float 0-1 as matplotlib expects
        im = ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
    elif signed:
        lim = limit if limit is not None else float(np.nanmax(np.abs(img)) or 1.0)
        im = ax.imshow(img, cmap=cmap or SIGNED_CMAP, vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(img, cmap=cmap or IMAGE_CMAP)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def show_images(images: Sequence[np.ndarray] | np.ndarray, titles: Sequence[str] | None = None, *,
                ncols: int = 8, size: float | None = None, cmap: str | None = None,
                signed: bool | None = None, share_scale: bool = True,
                colorbar: bool | None = None, suptitle: str | None = None) -> Figure:
    """Draw images in a grid that fits the book's column.

    Args:
        images: a sequence (or an array whose first axis indexes images) of ``(H, W)``,
            ``(H, W, 1)`` or RGB ``(H, W, 3)`` images.
        titles: one title per image (for example the labels).
        ncols: images per row.
        size: inches per image (default: as large as the column allows, at most 1.8).
        cmap: colour map for single-channel images (default: :data:`IMAGE_CMAP`, or
            :data:`SIGNED_CMAP` centred on zero for signed data).
        signed: draw every single-channel image as signed data (for a set of filters,
            some of which may happen to be all positive); by default an image is signed
            when it has negative values.
        share_scale: signed images share one zero-centred scale, so that the same colour
            means the same value in every panel, with one colour bar for the grid; with
            ``False`` each gets its own scale and colour bar.
        colorbar: colour bars for the signed images (default: whenever there are any).
        suptitle: a title over the whole grid.
    """
    imgs = [np.asarray(i) for i in images]
    if not imgs:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(imgs)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(imgs)))
    nrows = math.ceil(len(imgs) / ncols)
    flags = [_plain(i).ndim == 2 and (signed if signed is not None else _is_signed(i))
             for i in imgs]
    bars = any(flags) and (colorbar is None or colorbar)
    one_bar = bars and share_scale
    bar_room = 1.0 if one_bar else 0.0    # the bar and its tick labels
    size = size or min(1.8, (COLUMN_WIDTH - bar_room) / ncols)
    lines = max((str(t).count("\n") + 1 for t in titles), default=1) if titles is not None else 0
    title_room = 0.14 + 0.16 * lines if lines else 0.0     # inches of title above each row
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(
        size * ncols + bar_room, (size + title_room) * nrows + (0.4 if suptitle else 0.0)))
    shared = None
    if share_scale and any(flags):
        shared = float(max(np.nanmax(np.abs(_plain(i))) for i, f in zip(imgs, flags) if f)) or 1.0
    drawn = []
    for i, ax in enumerate(axes.flat):
        if i >= len(imgs):
            ax.axis("off")
            continue
        drawn.append(_imshow(ax, imgs[i], cmap, flags[i], shared))
        if titles is not None:
            ax.set_title(str(titles[i]))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if one_bar:
        add_colorbar(next(d for d, f in zip(drawn, flags) if f), list(axes.flat), fraction=0.02)
    elif bars:
        for ax, im, flag in zip(axes.flat, drawn, flags):
            if flag:
                add_colorbar(im, ax)
    return fig


def show_feature_maps(maps: np.ndarray, titles: Sequence[str] | None = None, *, ncols: int = 8,
                      size: float | None = None, cmap: str | None = None,
                      signed: bool | None = None, share_scale: bool = True,
                      colorbar: bool | None = None, suptitle: str | None = None) -> Figure:
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
                       share_scale=share_scale, colorbar=colorbar, suptitle=suptitle)


def show_matrix(a: np.ndarray, *, ax: Axes | None = None, fmt: str = "{:g}", cmap: str | None = None,
                title: str | None = None, fontsize: float | None = None,
                highlight: tuple[int, int, int, int] | None = None,
                highlight_color: str = "#d62728", cell: float = 0.45, nan_text: str = "nan",
                signed: bool | None = None) -> Axes:
    """Draw a small 2-D array as a grid of coloured cells with each value written in it.

    Args:
        a: the matrix (a filter, a patch of pixels, a small feature map).
        ax: axes to draw on (a new figure if ``None``).
        fmt: how to write each value, e.g. ``"{:.0f}"`` or ``"{:+.2f}"``.
        cmap: colour map (default light grey shades; :data:`SIGNED_CMAP` centred on zero
            for signed data). The values are written in the cells, so no colour bar.
        fontsize: of the values (default: :data:`MIN_FONT_PT` up to 11, by cell count).
        highlight: ``(row, col, height, width)`` of a rectangle to outline, for example
            the receptive field of one output neuron.
        highlight_color: the outline's colour (red by default; black on signed data,
            where red cells would hide a red outline).
        cell: inches per cell when a new figure is made.
        nan_text: what to write in NaN cells (e.g. ``"pad"`` for padding that pooling ignores).
        signed: draw on the zero-centred signed scale (default: when there are negative
            values), so that matrices of the same kind (gradients, weights) share a
            colour meaning even when one of them happens to be all positive.
    """
    m = np.asarray(a)
    if m.ndim != 2:
        raise ValueError(f"show_matrix expects a 2-D array, got shape {m.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(1.5, cell * m.shape[1]), max(1.5, cell * m.shape[0])))
    signed = _is_signed(m) if signed is None else signed
    if signed:
        lim = float(np.nanmax(np.abs(m))) or 1.0
        im = ax.imshow(m, cmap=cmap or SIGNED_CMAP, vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(m, cmap=cmap or "Greys")
    fs = fontsize or max(MIN_FONT_PT, min(11.0, 60.0 / max(m.shape)))
    norm = im.norm
    for (r, c), v in np.ndenumerate(m):
        shade = norm(v)
        dark = (abs(shade - 0.5) > 0.3) if signed else shade > 0.55
        text = nan_text if isinstance(v, float) and np.isnan(v) else fmt.format(v)
        ax.text(c, r, text, ha="center", va="center", fontsize=fs,
                color="white" if dark else "black")
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor=highlight_color,
                                   lw=2.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def plot_history(histories: dict[str, Any] | Any, metrics: Sequence[str] = ("loss", "accuracy"), *,
                 size: tuple[float, float] | None = None, title: str | None = None,
                 legend: str = "each") -> Figure:
    """Learning curves: one panel per metric, training (solid) and validation (dashed).

    Args:
        histories: what ``model.fit`` returned (or its ``.history`` dict), or a dict
            ``{label: history}`` to compare several runs on the same axes.
        metrics: the metrics to draw; ``"val_" + metric`` is drawn too when present.
        size: ``(width, height)`` in inches of each panel (default: the panels share the
            column's width).
        legend: ``"each"``, a legend in every panel, or ``"below"``, one legend for the
            whole figure under the panels, a column per run (when several runs would
            cover the curves).
    """
    if legend not in ("each", "below"):
        raise ValueError(f'legend must be "each" or "below", not {legend!r}')
    if hasattr(histories, "history") or (isinstance(histories, dict) and "loss" in histories):
        histories = {"": histories}
    runs = {label: getattr(h, "history", h) for label, h in histories.items()}
    if not runs:
        raise ValueError("plot_history needs at least one history")
    width, height = size or (COLUMN_WIDTH / len(metrics), 3.0)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), height), squeeze=False)
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if legend == "each":
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if legend == "below":
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=max(1, len(runs)),
                   frameon=False, bbox_to_anchor=(0.5, 0.0))
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
        _, ax = plt.subplots(figsize=(min(COLUMN_WIDTH, 0.5 * n + 1.6), min(COLUMN_WIDTH, 0.5 * n + 1.4)))
    off = m.astype(float)
    np.fill_diagonal(off, np.nan)            # colour the mistakes; the diagonal stays white
    ax.imshow(off, cmap="Reds")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=MIN_FONT_PT,
                color="black" if i == j or v < 0.6 * np.nanmax(off, initial=1) else "white",
                fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                  if max(map(len, names)) > 2 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"{int(np.trace(m)):,} of {int(m.sum()):,} correct")
    return ax


class Calibration(NamedTuple):
    """A classifier's confidence against its accuracy, bin by bin (:func:`calibration_table`).

    ``edges`` has one more entry than the other arrays; ``counts[b]`` examples have a top
    probability in ``[edges[b], edges[b + 1])`` (the last bin includes 1.0), their mean top
    probability is ``confidence[b]`` and the fraction of them predicted right ``accuracy[b]``
    (both NaN for an empty bin). ``ece`` is the expected calibration error, the mean of
    ``|accuracy - confidence|`` over the bins weighted by their counts.
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float


def calibration_table(probs: np.ndarray, labels: np.ndarray, *,
                      bins: int | Sequence[float] = 10) -> Calibration:
    """Bin the test examples by their top probability and measure the accuracy in each bin.

    ``probs`` is ``(N, K)`` (each row a probability vector), ``labels`` the ``N`` true classes
    (integers, or one-hot rows). ``bins`` is a number of equal-width bins on [0, 1] or the bin
    edges themselves (increasing, from 0 to 1 or any sub-range that holds every top
    probability). A well-calibrated classifier has ``accuracy ≈ confidence`` in every bin:
    of the digits it gives 0.8, 80% are right.
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    y = np.asarray(labels)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype(int)
    if len(y) != len(p):
        raise ValueError(f"probs and labels must have the same length, got {len(p)} and {len(y)}")
    edges = (np.linspace(0.0, 1.0, int(bins) + 1) if np.ndim(bins) == 0
             else np.asarray(bins, dtype=float))
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be a positive count or increasing edges, got {bins!r}")
    top = p.max(axis=1)
    right = p.argmax(axis=1) == y
    if len(top) and (top.min() < edges[0] or top.max() > edges[-1]):
        raise ValueError(f"top probabilities {top.min():.3g} ... {top.max():.3g} fall outside "
                         f"the bins {edges[0]:g} ... {edges[-1]:g}")
    which = np.clip(np.searchsorted(edges, top, side="right") - 1, 0, len(edges) - 2)
    n_bins = len(edges) - 1
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=top, minlength=n_bins) / counts
        accuracy = np.bincount(which, weights=right.astype(float), minlength=n_bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] * np.abs(accuracy[filled] - confidence[filled]))
                / max(1, counts.sum()))
    return Calibration(edges, counts, confidence, accuracy, ece)


def reliability_diagram(probs: np.ndarray, labels: np.ndarray, *,
                        bins: int | Sequence[float] = 10, ax: Axes | None = None,
                        title: str | None = None) -> Axes:
    """Draw a reliability diagram: accuracy against confidence, one bar per bin.

    Each bin of top probability (x) gets a bar as high as the fraction of its examples
    predicted right (y), a dot at the bin's mean top probability, and its number of examples
    written above the bar; the dashed diagonal is perfect calibration. Bars above the
    diagonal mean an under-confident classifier (right more often than it says), bars below
    an over-confident one. Empty bins are left blank. Returns the axes.
    """
    table = calibration_table(probs, labels, bins=bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(COLUMN_WIDTH, 5.0), 4.0))
    left, width = table.edges[:-1], np.diff(table.edges)
    filled = table.counts > 0
    ax.bar(left[filled], table.accuracy[filled], width=width[filled], align="edge",
           color="#9ecae1", edgecolor="#3182bd", label="accuracy in the bin")
    ax.plot(table.confidence[filled], table.accuracy[filled], "o", color="#08519c", ms=4,
            zorder=4, label="at the bin's mean confidence")
    lo, hi = float(table.edges[0]), float(table.edges[-1])
    ax.plot([lo, hi], [lo, hi], "--", color="0.2", lw=1.2, zorder=3, label="perfect calibration")
    for b in np.flatnonzero(filled):
        ax.text(left[b] + width[b] / 2, table.accuracy[b] + 0.02, f"{table.counts[b]:,}",
                ha="center", va="bottom", fontsize=MIN_FONT_PT, rotation=90 if width[b] < 0.08
                else 0)
    ax.set(xlim=(lo, hi), ylim=(0, 1.18), xlabel="top probability (confidence)",
           ylabel="fraction correct")
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title(title or f"reliability diagram (ECE {table.ece:.3f})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False,
              fontsize=MIN_FONT_PT)
    ax.grid(alpha=0.3)
    return ax
