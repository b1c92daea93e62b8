"""Animations of what slides, strides and flows: convolution, padding, pooling, transposed
convolution, drawn from the numbers :mod:`cnn_helpers.ops` computes.

Each function returns an :class:`Animation`: a small, self-contained HTML player (the frames
as PNG images, Play / Pause / step buttons and a slider, a few lines of script, nothing
loaded from the network) that plays in the rendered book offline, in JupyterLab and in
Colab. It starts paused on the first frame; every frame is also reachable with the slider
and the step buttons (keyboard too), and the image carries a text description.

- :func:`convolution`: a kernel slides over a small image, the output fills in (chapter 1);
- :func:`conv_arithmetic`: input and output grids for any kernel size, stride, padding and
  dilation, in the style of Dumoulin and Visin's "convolution arithmetic" (chapter 2);
- :func:`volume`: a 3-D input (several channels), several filters, every number shown:
  the 5×5×3 demonstration of the CNN slides (chapter 2);
- :func:`pooling`: a pooling window slides, the winner of each window marked (chapter 3);
- :func:`transposed_convolution`: zeros inserted between the inputs, then an ordinary
  convolution with the flipped kernel, matched to :func:`ops.conv2d_transpose` (chapter 4);
- :func:`trajectories`: optimizers' paths across the contour lines of a 2-D loss, one
  step per frame (chapter 5).

:func:`explore` turns the knobs of an animation (kernel size, stride, padding, ...) into
sliders in a live notebook (JupyterLab, Colab: needs ``ipywidgets``), and shows the
animation at its default knobs where no one can move a slider: in the book, and whenever
``CNN_BOOK_STATIC_ANIMATIONS=1`` is set (the book's notebook runs set it).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnn_helpers import ops, plotting

__all__ = ["Animation", "MAX_BYTES", "conv_arithmetic", "convolution", "explore", "pooling",
           "trajectories", "transposed_convolution", "volume"]

#: The largest animation the book embeds in a page (bytes of HTML).
MAX_BYTES = 1_500_000
#: Environment variable that makes :func:`explore` show the static animation.
STATIC_ENV = "CNN_BOOK_STATIC_ANIMATIONS"

_FRAME_DPI = 144        # frames: sharper than the CSS inch, and small once palettised
_CELL_IN = 0.3          # the side of one grid cell, inches (shrunk to fit the column)
_FONT_PT = plotting.MIN_FONT_PT

# Colours: the input blue, the output green, the window orange (as in conv_arithmetic's
# pictures, where students already know them from).
_INPUT = "#cfe2f3"
_PAD = "#ffffff"
_WINDOW = "#f6b26b"
_WINDOW_EDGE = "#b45f06"
_OUTPUT = "#d9ead3"
_OUTPUT_NOW = "#6aa84f"
_EMPTY = "#ffffff"
_GRID = "#5f6368"
_WIN_MARK = "#cc0000"

_PLAYER_CSS = """
.cnn-anim{margin:0.5rem 0 1rem;max-width:100%}
.cnn-anim img{display:block;max-width:100%;height:auto;background:#fff}
.cnn-anim-controls{display:flex;flex-wrap:wrap;align-items:center;gap:0.4rem;margin-top:0.3rem;
  font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif}
.cnn-anim-controls button{font:inherit;padding:0.15rem 0.6rem;border:1px solid #5f6368;
  border-radius:4px;background:#fff;color:#202124;cursor:pointer}
.cnn-anim-controls button:focus-visible,.cnn-anim-controls input:focus-visible{outline:2px solid #1a73e8}
.cnn-anim-controls input[type=range]{flex:1 1 8rem;min-width:6rem}
.cnn-anim-step{min-width:4.5rem;color:#202124}
"""

# The player: plain DOM, found by its id (JupyterLab and Colab run an output's scripts after
# inserting it; the book runs them as the page loads).
_PLAYER_JS = """
(function(){
  var root = document.getElementById(%(id)s);
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var frames = JSON.parse(root.querySelector("script[type='application/json']").textContent);
  var img = root.querySelector("img"), slider = root.querySelector("input[type=range]");
  var play = root.querySelector("[data-act=play]"), label = root.querySelector(".cnn-anim-step");
  var captions = %(captions)s, interval = %(interval)d, timer = null, i = 0;
  function show(k){
    i = Math.max(0, Math.min(frames.length - 1, k));
    img.src = "data:image/png;base64," + frames[i];
    img.alt = captions[i];
    slider.value = i;
    label.textContent = "step " + (i + 1) + " / " + frames.length;
    root.dataset.frame = i;
  }
  function stop(){ if (timer) { clearInterval(timer); timer = null; } play.textContent = "Play";
                   play.setAttribute("aria-pressed", "false"); }
  function start(){
    if (i >= frames.length - 1) show(0);
    play.textContent = "Pause"; play.setAttribute("aria-pressed", "true");
    timer = setInterval(function(){ if (i >= frames.length - 1) { stop(); } else { show(i + 1); } }, interval);
  }
  play.addEventListener("click", function(){ timer ? stop() : start(); });
  root.querySelector("[data-act=prev]").addEventListener("click", function(){ stop(); show(i - 1); });
  root.querySelector("[data-act=next]").addEventListener("click", function(){ stop(); show(i + 1); });
  slider.addEventListener("input", function(){ stop(); show(parseInt(slider.value, 10)); });
  show(0);
})();
"""


@dataclass
class Animation:
    """An animation as the page embeds it; displays itself in Jupyter (``_repr_html_``)."""

    html: str
    frames: int
    description: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Animation: {self.frames} frames, {len(self.html) / 1e3:.0f} kB: {self.description}>"


# --------------------------------------------------------------------------- drawing


class _Grid:
    """A grid of square cells on an axes (row 0 at the top), with optional numbers."""

    def __init__(self, ax: Any, x0: float, y0: float, values: np.ndarray, *, fmt: str | None,
                 fill: str, title: str | None = None, pad: int = 0, dashed_pad: bool = True):
        self.rows, self.cols = values.shape
        self.x0, self.y0 = x0, y0
        self.fill = fill
        self.cells: list[list[Rectangle]] = []
        self.texts: list[list[Any]] = []
        inner = np.zeros(values.shape, bool)
        inner[pad:self.rows - pad, pad:self.cols - pad] = True
        self.inner = inner
        for r in range(self.rows):
            row_cells, row_texts = [], []
            for c in range(self.cols):
                is_pad = not inner[r, c]
                rect = Rectangle((x0 + c, y0 + r), 1, 1, facecolor=_PAD if is_pad else fill,
                                 edgecolor=_GRID, linewidth=0.8,
                                 linestyle=(0, (2, 2)) if is_pad and dashed_pad else "-")
                ax.add_patch(rect)
                row_cells.append(rect)
                text = None
                if fmt is not None:
                    text = ax.text(x0 + c + 0.5, y0 + r + 0.5, fmt.format(values[r, c]),
                                   ha="center", va="center", fontsize=_FONT_PT,
                                   color="#5f6368" if is_pad else "#202124")
                row_texts.append(text)
            self.cells.append(row_cells)
            self.texts.append(row_texts)
        if title:
            ax.text(x0 + self.cols / 2, y0 - 0.35, title, ha="center", va="bottom", fontsize=_FONT_PT + 1)

    def reset(self, colour: str | None = None) -> None:
        for r in range(self.rows):
            for c in range(self.cols):
                rect = self.cells[r][c]
                rect.set_facecolor(colour if colour and self.inner[r, c] else
                                   (self.fill if self.inner[r, c] else _PAD))
                rect.set_edgecolor(_GRID)
                rect.set_linewidth(0.8)

    def paint(self, r: int, c: int, colour: str, edge: str | None = None, width: float = 0.8) -> None:
        rect = self.cells[r][c]
        rect.set_facecolor(colour)
        if edge:
            rect.set_edgecolor(edge)
            rect.set_linewidth(width)

    def window(self, top: int, left: int, rows: int, cols: int, step: int = 1) -> None:
        """Mark a window: ``rows`` x ``cols`` taps from ``(top, left)``, ``step`` cells apart."""
        for a in range(rows):
            for b in range(cols):
                self.paint(top + a * step, left + b * step, _WINDOW, _WINDOW_EDGE, 1.6)

    def fill_upto(self, n: int, values: np.ndarray | None = None, fmt: str | None = None,
             current: bool = True) -> None:
        """Fill positions ``0..n`` in reading order (position ``n`` highlighted if
        ``current``), writing ``values`` with ``fmt`` when given."""
        for j in range(n + 1):
            r, c = divmod(j, self.cols)
            self.paint(r, c, _OUTPUT_NOW if current and j == n else _OUTPUT)
            if values is not None and fmt is not None:
                self.text(r, c, fmt.format(values[r, c]))

    def text(self, r: int, c: int, value: str | None) -> None:
        t = self.texts[r][c]
        if t is not None:
            t.set_text(value or "")


def _fmt(*arrays: np.ndarray) -> str:
    """Whole numbers without decimals; otherwise as few decimals (up to two) as are exact."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    for decimals in (0, 1, 2):     # as few decimals as show every value exactly
        if np.allclose(values, np.round(values, decimals), rtol=0, atol=1e-9):
            return f"{{:.{decimals}f}}"
    return "{:.1f}" if np.abs(values).max() >= 10 else "{:.2f}"


def _figure(cols: float, rows: float) -> tuple[Figure, Any, float]:
    """A figure for a drawing ``cols`` x ``rows`` cells wide, at most the column wide."""
    cell = min(_CELL_IN, plotting.COLUMN_WIDTH / cols)
    fig = Figure(figsize=(cols * cell, rows * cell))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax, cell


def _fit(fig: Figure) -> None:
    """Widen the drawing to hold every label (a title may be wider than its grid), keeping
    cells square and the figure at most the column wide."""
    ax = fig.axes[0]
    for _ in range(3):
        renderer = fig._get_renderer()
        (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
        to_data = ax.transData.inverted()
        left, right = x0, x1
        for text in ax.texts:
            if not text.get_text():
                continue
            box = text.get_window_extent(renderer)
            (a, _), (b, _) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
            left, right = min(left, a - 0.1), max(right, b + 0.1)
        if left >= x0 - 1e-6 and right <= x1 + 1e-6:
            return
        cell = fig.get_figwidth() / (x1 - x0)
        cell = min(cell, plotting.COLUMN_WIDTH / (right - left))
        ax.set_xlim(left, right)
        fig.set_size_inches((right - left) * cell, (y1 - y0) * cell)


def _png(fig: Figure, font: float, dpi: int = _FRAME_DPI, octree: bool = False) -> bytes:
    """One frame: a palettised PNG (grids need few colours) recording its smallest font.

    ``octree`` picks the palette by octree, which keeps a thin line's colour exact (median
    cut, right for grids of flat cells, merges the few pixels of a line into its
    neighbours)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    small = io.BytesIO()
    method = Image.Quantize.FASTOCTREE if octree else Image.Quantize.MEDIANCUT
    image.convert("RGB").quantize(colors=48, method=method).save(small, format="PNG", optimize=True)
    return plotting._png_text_chunk(small.getvalue(), {plotting.PNG_FONT_KEY: f"{font:g}",
                                                       plotting.PNG_DPI_KEY: str(dpi)})


def _player(fig: Figure, draw: Callable[[int], str], n_frames: int, description: str,
            interval_ms: int, *, fit: bool = True, dpi: int = _FRAME_DPI,
            octree: bool = False) -> Animation:
    """Render ``n_frames`` frames (``draw(i)`` updates the figure and returns the frame's
    text description) into a player, and check its size."""
    frames, captions = [], []
    draw(n_frames - 1)              # the last frame has every label filled in
    if fit:
        _fit(fig)
    fig.set_facecolor("white")
    font = plotting.min_font_size(fig)
    for i in range(n_frames):
        captions.append(f"{description} Step {i + 1} of {n_frames}: {draw(i)}")
        frames.append(base64.b64encode(_png(fig, font, dpi, octree)).decode("ascii"))
    width_px = round(fig.get_figwidth() * plotting.PX_PER_INCH)
    height_px = round(fig.get_figheight() * plotting.PX_PER_INCH)
    ident = "cnn-anim-" + uuid.uuid4().hex[:12]
    script = _PLAYER_JS % {"id": json.dumps(ident), "captions": json.dumps(captions),
                           "interval": interval_ms}
    page = (
        f'<div class="cnn-anim" id="{ident}" role="group" aria-label="{html.escape(description)}">'
        f"<style>{_PLAYER_CSS}</style>"
        f'<img src="data:image/png;base64,{frames[0]}" width="{width_px}" height="{height_px}" '
        f'alt="{html.escape(captions[0])}">'
        '<div class="cnn-anim-controls">'
        '<button type="button" data-act="play" aria-pressed="false">Play</button>'
        '<button type="button" data-act="prev" aria-label="previous step">&#9664;</button>'
        '<button type="button" data-act="next" aria-label="next step">&#9654;</button>'
        f'<input type="range" min="0" max="{n_frames - 1}" value="0" step="1" aria-label="step">'
        f'<span class="cnn-anim-step">step 1 / {n_frames}</span></div>'
        f'<script type="application/json">{json.dumps(frames)}</script>'
        f"<script>{script}</script></div>"
    )
    if len(page) > MAX_BYTES:
        raise ValueError(f"this animation would be {len(page) / 1e6:.1f} MB, more than the "
                         f"{MAX_BYTES / 1e6:.1f} MB a page should carry: use a smaller input "
                         "(fewer output positions means fewer frames)")
    return Animation(page, n_frames, description)


def _as_2d(a: object, what: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows, columns), got shape {arr.shape}")
    return arr


def _check_frames(n: int, limit: int = 100) -> None:
    if n > limit:
        raise ValueError(f"this animation would have {n} frames (one per output position); at most "
                         f"{limit} read well: use a smaller input or a larger stride")


# --------------------------------------------------------------------------- the animations


def convolution(x: object, kernel: object, *, stride: int = 1, padding: int = 0, dilation: int = 1,
                values: bool = True, interval_ms: int = 700) -> Animation:
    """A kernel slides over a small image; the output fills in, one position per step.

    Args:
        x: the image, ``(H, W)``, small enough to read (up to about 10×10).
        kernel: ``(F_h, F_w)``.
        stride, padding, dilation: as in :func:`ops.conv2d` (``padding`` zeros on every side).
        values: write the numbers in the cells (the products are summed, as the text says).

    The output values come from :func:`ops.conv2d`, so the animation shows exactly what the
    book computes.
    """
    img, k = _as_2d(x, "x"), _as_2d(kernel, "kernel")
    out = ops.conv2d(img, k, strides=stride, padding=padding, dilation_rate=dilation)
    padded = np.pad(img, padding)
    ho, wo = out.shape
    _check_frames(ho * wo)
    fmt = _fmt(img, k, out) if values else None
    kh, kw = k.shape
    gap = 1.5
    cols = padded.shape[1] + gap + kw + gap + wo + 0.5
    rows = max(padded.shape[0], kh, ho) + 2.2
    fig, ax, _ = _figure(cols, rows)
    top = 1.2
    g_in = _Grid(ax, 0.25, top, padded, fmt=fmt, fill=_INPUT, pad=padding,
                 title=f"input {img.shape[0]}×{img.shape[1]}" + (f", padding {padding}" if padding else ""))
    kx = 0.25 + padded.shape[1] + gap
    _Grid(ax, kx, top, k, fmt=fmt, fill=_WINDOW, title=f"kernel {kh}×{kw}")
    ox = kx + kw + gap
    g_out = _Grid(ax, ox, top, np.zeros_like(out), fmt=fmt, fill=_EMPTY, title=f"output {ho}×{wo}")
    for r in range(ho):
        for c in range(wo):
            g_out.text(r, c, "")
    note = ax.text(0.25, rows - 0.35, "", ha="left", va="bottom", fontsize=_FONT_PT)

    def draw(i: int) -> str:
        r, c = divmod(i, wo)
        g_in.reset()
        g_in.window(r * stride, c * stride, kh, kw, dilation)
        g_out.fill_upto(i, out, fmt)
        value = fmt.format(out[r, c]) if fmt else f"{out[r, c]:.2f}"
        note.set_text(f"output ({r}, {c}) = sum of kernel ⊙ window = {value}")
        return f"the window at rows {r * stride} to {r * stride + dilation * (kh - 1)}, columns " \
               f"{c * stride} to {c * stride + dilation * (kw - 1)} gives output ({r}, {c}) = {value}."

    desc = (f"Animation: a {kh}×{kw} kernel slides over a {img.shape[0]}×{img.shape[1]} input"
            f"{f' padded by {padding}' if padding else ''}{f' with stride {stride}' if stride > 1 else ''}"
            f"{f' and dilation {dilation}' if dilation > 1 else ''}; the {ho}×{wo} output fills in.")
    return _player(fig, draw, ho * wo, desc, interval_ms)


def conv_arithmetic(input_size: int = 5, kernel_size: int = 3, *, stride: int = 1, padding: int = 0,
                    dilation: int = 1, interval_ms: int = 600) -> Animation:
    """Where each output neuron reads, for any kernel size, stride, padding and dilation.

    A square input of ``input_size`` (blue; the zero padding dashed), the kernel's taps at
    one position (orange), and the output (green), which fills in one position per step.
    The output size is :func:`ops.conv_output_size`; the taps are the ones
    :func:`ops.conv2d` multiplies (checked here on a one-hot input).
    """
    i = int(input_size)
    f, s, p, d = int(kernel_size), int(stride), int(padding), int(dilation)
    if p < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    o = ops.conv_output_size(i, f, s, p, dilation=d)
    _check_frames(o * o)
    # The taps of output (0, 0), read back from ops.conv2d: an input that is one at the
    # kernel's tap positions shows which padded inputs a window multiplies.
    span = ops.dilated_size(f, d)
    probe = np.zeros((span, span))
    probe[::d, ::d] = 1
    assert ops.conv2d(probe, np.ones((f, f)), dilation_rate=d)[0, 0] == f * f
    size = i + 2 * p
    gap = 2.0
    cols = size + gap + o + 0.5
    rows = max(size, o) + 2.4
    fig, ax, _ = _figure(cols, rows)
    top = 1.2
    g_in = _Grid(ax, 0.25, top, np.zeros((size, size)), fmt=None, fill=_INPUT, pad=p,
                 title=f"input {i}×{i}" + (f" + padding {p}" if p else ""))
    ox = 0.25 + size + gap
    g_out = _Grid(ax, ox, top + (size - o) / 2, np.zeros((o, o)), fmt=None, fill=_EMPTY,
                  title=f"output {o}×{o}")
    knobs = f"kernel {f}×{f}, stride {s}, padding {p}" + (f", dilation {d}" if d > 1 else "")
    ax.text(0.25, rows - 0.3, knobs, ha="left", va="bottom", fontsize=_FONT_PT)

    def draw(n: int) -> str:
        r, c = divmod(n, o)
        g_in.reset()
        g_in.window(r * s, c * s, f, f, d)
        g_out.fill_upto(n)
        return (f"output ({r}, {c}) reads padded rows {r * s} to {r * s + d * (f - 1)} and columns "
                f"{c * s} to {c * s + d * (f - 1)}" + (f", every {d}th one." if d > 1 else "."))

    desc = f"Animation: a {i}×{i} input, {knobs}, gives a {o}×{o} output."
    return _player(fig, draw, o * o, desc, interval_ms)


def volume(x: object, kernels: object, bias: object, *, stride: int = 2, padding: int = 1,
           interval_ms: int = 900) -> Animation:
    """A convolution over a volume: every input slice, every filter slice, every number.

    Args:
        x: ``(H, W, D)``: ``D`` input slices (channels).
        kernels: ``(F, F, D, M)``: ``M`` filters, each with ``D`` slices.
        bias: ``(M,)``.

    One step per output neuron, filter by filter: the window (orange) in every input slice,
    the filter in use, and the output slice filling in. Values from :func:`ops.conv2d`.
    """
    xs = np.asarray(x, dtype=float)
    ks = np.asarray(kernels, dtype=float)
    bs = np.asarray(bias, dtype=float).reshape(-1)
    if xs.ndim != 3 or ks.ndim != 4 or ks.shape[2] != xs.shape[2] or bs.shape != (ks.shape[3],):
        raise ValueError(f"volume needs x (H, W, D), kernels (F, F, D, M) and bias (M,) with "
                         f"matching D and M; got {xs.shape}, {ks.shape}, {bs.shape}")
    out = ops.conv2d(xs, ks, bs, strides=stride, padding=padding)
    ho, wo, m = out.shape
    _check_frames(ho * wo * m, 60)
    depth, f = xs.shape[2], ks.shape[0]
    padded = np.pad(xs, ((padding, padding), (padding, padding), (0, 0)))
    fmt = _fmt(xs, ks, bs, out)
    size = padded.shape[0]
    block = size + 1.6                          # one input slice and the gap below it
    cols = size + 1.5 + m * (f + 1.5) + wo + 0.5
    rows = depth * block + 2.0
    fig, ax, _ = _figure(cols, rows)
    top = 1.2
    inputs = [_Grid(ax, 0.25, top + k * block, padded[..., k], fmt=fmt, fill=_INPUT, pad=padding,
                    title=f"input slice {k}" + (f" (padding {padding})" if k == 0 and padding else ""))
              for k in range(depth)]
    filters = []
    for j in range(m):
        fx = 0.25 + size + 1.5 + j * (f + 1.5)
        slices = [_Grid(ax, fx, top + k * block, ks[:, :, k, j], fmt=fmt, fill="#fff2cc",
                        title=f"filter {j}" if k == 0 else None) for k in range(depth)]
        _Grid(ax, fx + (f - 1) / 2, top + depth * block - 1.6, np.array([[bs[j]]]), fmt=fmt,
              fill="#fff2cc", title=None)
        ax.text(fx - 0.2, top + depth * block - 1.1, "bias", ha="right", va="center", fontsize=_FONT_PT)
        filters.append(slices)
    ox = 0.25 + size + 1.5 + m * (f + 1.5)
    outs = [_Grid(ax, ox, top + j * block, out[..., j], fmt=fmt, fill=_EMPTY, title=f"output slice {j}")
            for j in range(m)]
    for g in outs:
        for r in range(ho):
            for c in range(wo):
                g.text(r, c, "")
    note = ax.text(0.25, rows - 0.3, "", ha="left", va="bottom", fontsize=_FONT_PT)

    def draw(n: int) -> str:
        j, rest = divmod(n, ho * wo)
        r, c = divmod(rest, wo)
        for g in inputs:
            g.reset()
            g.window(r * stride, c * stride, f, f)
        for jj, slices in enumerate(filters):
            for g in slices:
                g.reset("#f6b26b" if jj == j else "#fff2cc")
        for jj in range(j):                       # the filters already done
            outs[jj].fill_upto(ho * wo - 1, out[..., jj], fmt, current=False)
        outs[j].fill_upto(rest, out[..., j], fmt)
        value = fmt.format(out[r, c, j])
        note.set_text(f"output slice {j}, ({r}, {c}) = sum over {depth} slices of filter ⊙ window "
                      f"+ bias = {value}")
        return f"filter {j} on the window at ({r * stride}, {c * stride}) of every slice gives {value}."

    desc = (f"Animation: a {xs.shape[0]}×{xs.shape[1]}×{depth} input padded by {padding}, {m} filters "
            f"of {f}×{f}×{depth} with stride {stride}, give a {ho}×{wo}×{m} output.")
    return _player(fig, draw, ho * wo * m, desc, interval_ms)


def pooling(x: object, *, pool_size: int = 2, stride: int | None = None, mode: str = "max",
            interval_ms: int = 700) -> Animation:
    """A pooling window slides over a small feature map; its result fills the output.

    With ``mode="max"`` the winning cell of each window is outlined in red. Values from
    :func:`ops.pool2d` (``"max"`` or ``"avg"``).
    """
    img = _as_2d(x, "x")
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    step = pool_size if stride is None else stride
    out = ops.pool2d(img, pool_size, step, mode=mode)
    ho, wo = out.shape
    _check_frames(ho * wo)
    fmt = _fmt(img, out)
    gap = 2.0
    cols = img.shape[1] + gap + wo + 0.5
    rows = max(img.shape[0], ho) + 2.4
    fig, ax, _ = _figure(cols, rows)
    top = 1.2
    g_in = _Grid(ax, 0.25, top, img, fmt=fmt, fill=_INPUT, title=f"input {img.shape[0]}×{img.shape[1]}")
    name = "max" if mode == "max" else "average"
    g_out = _Grid(ax, 0.25 + img.shape[1] + gap, top + (img.shape[0] - ho) / 2, out, fmt=fmt,
                  fill=_EMPTY, title=f"{name} pool {ho}×{wo}")
    for r in range(ho):
        for c in range(wo):
            g_out.text(r, c, "")
    ax.text(0.25, rows - 0.3, f"{name} pooling, window {pool_size}×{pool_size}, stride {step}",
            ha="left", va="bottom", fontsize=_FONT_PT)

    def draw(n: int) -> str:
        r, c = divmod(n, wo)
        g_in.reset()
        window = img[r * step:r * step + pool_size, c * step:c * step + pool_size]
        g_in.window(r * step, c * step, pool_size, pool_size)
        if mode == "max":
            a, b = np.unravel_index(int(np.argmax(window)), window.shape)
            g_in.paint(r * step + a, c * step + b, _WINDOW, _WIN_MARK, 2.6)
        g_out.fill_upto(n, out, fmt)
        return f"the {name} of the window at ({r * step}, {c * step}) is {fmt.format(out[r, c])}."

    desc = (f"Animation: {name} pooling with a {pool_size}×{pool_size} window and stride {step} "
            f"turns a {img.shape[0]}×{img.shape[1]} map into {ho}×{wo}.")
    return _player(fig, draw, ho * wo, desc, interval_ms)


def transposed_convolution(x: object, kernel: object, *, stride: int = 2,
                           interval_ms: int = 600) -> Animation:
    """A transposed convolution as zero insertion: ``stride - 1`` zeros between the inputs,
    ``F - 1`` zeros around them, then an ordinary stride-1 convolution with the kernel
    flipped. The output is :func:`ops.conv2d_transpose`'s (``padding="valid"``), checked
    here against that construction.
    """
    img, k = _as_2d(x, "x"), _as_2d(kernel, "kernel")
    s = int(stride)
    if s < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    fh, fw = k.shape
    out = ops.conv2d_transpose(img[..., None], k[:, :, None, None], strides=s)[..., 0]
    h, w = img.shape
    spread = np.zeros(((h - 1) * s + 1, (w - 1) * s + 1))
    spread[::s, ::s] = img
    # Keras' "valid" output is H * S + max(F - S, 0): pad the spread input to match it.
    pad_h = (fh - 1, out.shape[0] + fh - 1 - spread.shape[0] - (fh - 1))
    pad_w = (fw - 1, out.shape[1] + fw - 1 - spread.shape[1] - (fw - 1))
    canvas = np.pad(spread, (pad_h, pad_w))
    flipped = k[::-1, ::-1]
    assert np.allclose(ops.conv2d(canvas, flipped), out), "zero insertion must match conv2d_transpose"
    ho, wo = out.shape
    _check_frames(ho * wo)
    fmt = _fmt(img, k, out)
    gap = 1.4
    cols = w + gap + canvas.shape[1] + gap + fw + gap + wo + 0.5
    rows = max(canvas.shape[0], ho) + 2.4
    fig, ax, _ = _figure(cols, rows)
    top = 1.2
    _Grid(ax, 0.25, top, img, fmt=fmt, fill=_INPUT, title=f"input {h}×{w}")
    cx = 0.25 + w + gap
    g_can = _Grid(ax, cx, top, canvas, fmt=fmt, fill=_PAD, title=f"zeros inserted, {canvas.shape[0]}×{canvas.shape[1]}")
    # the input's values in blue inside the canvas
    for r in range(h):
        for c in range(w):
            g_can.cells[pad_h[0] + r * s][pad_w[0] + c * s].set_facecolor(_INPUT)
    kx = cx + canvas.shape[1] + gap
    _Grid(ax, kx, top, flipped, fmt=fmt, fill="#fff2cc", title="kernel, flipped")
    ox = kx + fw + gap
    g_out = _Grid(ax, ox, top, out, fmt=fmt, fill=_EMPTY, title=f"output {ho}×{wo}")
    for r in range(ho):
        for c in range(wo):
            g_out.text(r, c, "")
    ax.text(0.25, rows - 0.3, f"stride {s}: {s - 1} zero(s) between inputs, {fh - 1} around; "
            "then an ordinary stride-1 convolution", ha="left", va="bottom", fontsize=_FONT_PT)
    blue = {(pad_h[0] + r * s, pad_w[0] + c * s) for r in range(h) for c in range(w)}

    def draw(n: int) -> str:
        r, c = divmod(n, wo)
        for rr in range(canvas.shape[0]):
            for cc in range(canvas.shape[1]):
                g_can.cells[rr][cc].set_facecolor(_INPUT if (rr, cc) in blue else _PAD)
                g_can.cells[rr][cc].set_edgecolor(_GRID)
                g_can.cells[rr][cc].set_linewidth(0.8)
        for a in range(fh):
            for b in range(fw):
                colour = _WINDOW if (r + a, c + b) in blue else "#fce5cd"
                g_can.paint(r + a, c + b, colour, _WINDOW_EDGE, 1.6)
        g_out.fill_upto(n, out, fmt)
        return f"output ({r}, {c}) = {fmt.format(out[r, c])}."

    desc = (f"Animation: a transposed convolution with stride {s} turns a {h}×{w} input into "
            f"{ho}×{wo}: zeros are inserted between and around the inputs, then a {fh}×{fw} "
            "kernel, flipped, slides with stride 1.")
    return _player(fig, draw, ho * wo, desc, interval_ms)


def trajectories(loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 paths: dict[str, object], *, extent: Sequence[float],
                 levels: int | Sequence[float] | None = None,
                 minimum: Sequence[float] | None = None, title: str | None = None,
                 every: int = 1, interval_ms: int = 250) -> Animation:
    """Optimizers' paths across the contour lines of a 2-D loss, one step per frame.

    Args:
        loss: the loss surface, ``loss(X, Y)`` for two arrays of the same shape (a
            meshgrid), returning an array of that shape.
        paths: name -> positions, an array ``(T + 1, 2)``: the start, then the point after
            each of ``T`` steps. Every path has the same number of steps.
        extent: ``(x_min, x_max, y_min, y_max)`` of the plotted region; a path may leave it
            (it is cut at the frame).
        levels: the contour levels (a count or the values); default: 14 levels spaced
            evenly in the square root of the loss above its smallest value on the grid, so
            that the valley floor has lines too.
        minimum: where to mark the minimum with a star (optional).
        title: a line above the plot.
        every: draw a frame every ``every`` steps (the last step always has one).
        interval_ms: milliseconds per frame when playing.

    Frame ``t`` shows each path up to its ``t``-th point, its current point ringed; the
    frame's text description gives each path's loss there.
    """
    if not callable(loss):
        raise TypeError(f"loss must be a function loss(X, Y) -> array, got {type(loss).__name__}")
    if not isinstance(paths, dict) or not paths:
        raise ValueError("paths must be a non-empty dict: name -> array of shape (steps + 1, 2)")
    arrays = {}
    for name, path in paths.items():
        arr = np.asarray(path, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 2:
            raise ValueError(f"path {name!r} must have shape (steps + 1, 2) with at least one "
                             f"step, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"path {name!r} has a NaN or infinite position (did it diverge?)")
        arrays[str(name)] = arr
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"every path needs the same number of steps, got lengths {sorted(lengths)}")
    n_points = lengths.pop()
    if len(extent) != 4 or not (extent[0] < extent[1] and extent[2] < extent[3]):
        raise ValueError(f"extent must be (x_min, x_max, y_min, y_max) with min < max, got {extent}")
    if every < 1:
        raise ValueError(f"every must be a positive whole number, got {every}")
    shown = list(range(0, n_points, every))
    if shown[-1] != n_points - 1:
        shown.append(n_points - 1)
    _check_frames(len(shown), limit=120)

    x_min, x_max, y_min, y_max = (float(v) for v in extent)
    gx, gy = np.meshgrid(np.linspace(x_min, x_max, 241), np.linspace(y_min, y_max, 181))
    z = np.asarray(loss(gx, gy), dtype=float)
    if z.shape != gx.shape:
        raise ValueError(f"loss(X, Y) must return an array shaped like X {gx.shape}, got {z.shape}")
    if levels is None:
        low, high = float(np.nanmin(z)), float(np.nanmax(z))
        levels = low + (high - low) * np.linspace(0.02, 1.0, 14) ** 2

    width = plotting.COLUMN_WIDTH * 0.8
    fig = Figure(figsize=(width, width * 0.6))
    ax = fig.add_axes((0.085, 0.12, 0.6, 0.8))
    ax.contour(gx, gy, z, levels=levels, colors="0.72", linewidths=0.8)
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], marker="*", ms=12, color="black", ls="none")
    ax.set(xlim=(x_min, x_max), ylim=(y_min, y_max))
    ax.set_xlabel("$w_1$", fontsize=_FONT_PT)
    ax.set_ylabel("$w_2$", fontsize=_FONT_PT)
    ax.tick_params(labelsize=_FONT_PT)
    if title:
        ax.set_title(title, fontsize=_FONT_PT, loc="left")
    colours = [f"C{k}" for k in range(len(arrays))]
    lines, heads = [], []
    for (name, arr), colour in zip(arrays.items(), colours):
        (line,) = ax.plot(arr[:1, 0], arr[:1, 1], "-", color=colour, lw=1.8, label=name)
        (head,) = ax.plot(arr[:1, 0], arr[:1, 1], "o", color=colour, ms=6, mfc="white", mew=2)
        lines.append(line)
        heads.append(head)
    start = next(iter(arrays.values()))[0]
    ax.plot([start[0]], [start[1]], marker="s", ms=6, color="black", ls="none")
    fig.legend(handles=lines, loc="center left", bbox_to_anchor=(0.7, 0.5), frameon=False,
               fontsize=_FONT_PT)
    step_text = ax.text(0.02, 0.03, "", transform=ax.transAxes, fontsize=_FONT_PT,
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.85))
    names = list(arrays)

    def draw(i: int) -> str:
        t = shown[i]
        described = []
        for name, line, head in zip(names, lines, heads):
            arr = arrays[name]
            line.set_data(arr[:t + 1, 0], arr[:t + 1, 1])
            head.set_data(arr[t:t + 1, 0], arr[t:t + 1, 1])
            value = float(np.asarray(loss(arr[t:t + 1, 0], arr[t:t + 1, 1])).ravel()[0])
            described.append(f"{name} at ({arr[t, 0]:.2f}, {arr[t, 1]:.2f}), loss {value:.3g}")
        step_text.set_text(f"step {t}" if t else "start")
        return f"after step {t}: " + "; ".join(described) + "."

    desc = (f"Animation: {len(names)} optimizer{'s' if len(names) > 1 else ''} "
            f"({', '.join(names)}) start from the same point (black square) and take "
            f"{n_points - 1} steps across the contour lines of the loss.")
    try:
        return _player(fig, draw, len(shown), desc, interval_ms, fit=False, dpi=100, octree=True)
    except ValueError as err:
        raise ValueError(f"{len(shown)} frames are too many for one page ({err}): draw a frame "
                         f"every few steps (every={2 * every}) or take fewer steps") from None


# --------------------------------------------------------------------------- knobs


def _live() -> bool:
    """Can a reader move a slider here? (A notebook front end, ipywidgets installed, and
    not a run that produces the book's outputs.)"""
    if os.environ.get(STATIC_ENV, "").strip() not in ("", "0"):
        return False
    try:
        from IPython import get_ipython
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def explore(animation: Callable[..., Animation], **knobs: tuple[int, int, int] | Any) -> Any:
    """Sliders for an animation's knobs in JupyterLab or Colab; the animation itself elsewhere.

    Each knob is ``(minimum, maximum, default)`` (a slider over whole numbers) or a fixed
    value::

        animate.explore(animate.conv_arithmetic, input_size=(3, 9, 5), kernel_size=(1, 5, 3),
                        stride=(1, 3, 1), padding=(0, 3, 0), dilation=(1, 3, 1))

    A combination that does not fit (a kernel larger than the padded input) shows the
    reason instead of an animation. Returns the ``ipywidgets`` box in a live notebook, and
    the :class:`Animation` at the defaults elsewhere (the book, a notebook run that
    produces the book's outputs, a Python script).
    """
    sliders = {k: v for k, v in knobs.items() if isinstance(v, tuple) and len(v) == 3}
    fixed = {k: v for k, v in knobs.items() if k not in sliders}
    for name, (low, high, default) in sliders.items():
        if not low <= default <= high:
            raise ValueError(f"knob {name}: the default {default} is not within ({low}, {high})")
    defaults = {k: v[2] for k, v in sliders.items()}
    if not _live():
        return animation(**fixed, **defaults)
    import ipywidgets as widgets
    from IPython.display import display

    controls = {name: widgets.IntSlider(value=default, min=low, max=high, description=name,
                                        continuous_update=False,
                                        style={"description_width": "initial"})
                for name, (low, high, default) in sliders.items()}
    shown = widgets.Output()

    def update(**values: int) -> None:
        shown.clear_output(wait=True)
        with shown:
            try:
                display(animation(**fixed, **values))
            except ValueError as err:
                print(f"This combination does not fit: {err}")

    widgets.interactive_output(update, controls)
    box = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), shown])
    display(box)
    return None

