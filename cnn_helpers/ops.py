"""NumPy reference implementations of the operations the book teaches.

Everything here favours clarity over speed, and ``tests/test_ops.py`` checks each
function against the matching Keras layer. Arrays use Keras' default ``channels_last``
layout:

- a 2-D image or feature map is ``(height, width, channels)``, a batch of them
  ``(batch, height, width, channels)``; a 1-D signal is ``(length, channels)``, a 3-D
  volume ``(depth, height, width, channels)``;
- a convolution kernel is ``(*kernel_size, in_channels, filters)``: exactly the shape of
  ``keras.layers.Conv1D/Conv2D/Conv3D(...).kernel``.

As in Keras (and every deep-learning library), "convolution" here is *cross-correlation*:
the kernel is not flipped. Chapter 1 explains the difference.

Introduced in chapter 1 (Convolution): :func:`conv2d`, :func:`depthwise_conv2d`,
:func:`conv_output_size`, :func:`same_padding`, :func:`pad2d`, :func:`conv_params`,
:func:`depthwise_params`, :func:`dense_params`.
Chapter 3 (Pooling): :func:`pool2d`, :func:`global_pool2d`, :func:`receptive_field`,
:func:`layer_geometry`.
Chapter 2 (Stride and padding): the ``strides``, ``padding`` and ``dilation_rate`` of
:func:`conv2d`, :func:`dilated_size`.
Chapter 4 (1x1, 1D and 3D convolutions): :func:`conv1d`, :func:`conv3d`, :func:`im2col`,
:func:`conv2d_transpose`.
Chapter 5 (Anatomy of a CNN, section 5.7, the backward pass of a convolution):
:func:`conv2d_backward`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence, Union

import numpy as np

__all__ = [
    "RField",
    "conv1d",
    "conv2d",
    "conv2d_backward",
    "conv2d_transpose",
    "conv3d",
    "conv_output_size",
    "conv_params",
    "dense_params",
    "depthwise_conv2d",
    "depthwise_params",
    "dilated_size",
    "global_pool2d",
    "im2col",
    "layer_geometry",
    "pad2d",
    "pool2d",
    "receptive_field",
    "same_padding",
]

#: ``"valid"``, ``"same"``, an int ``p`` (p zeros on every side), one int per spatial axis
#: ``(ph, pw)``, or explicit pairs ``((top, bottom), (left, right))``.
Padding = Union[str, int, Sequence[int], Sequence[Sequence[int]]]

_AXES = "dhw"       # letters for up to three spatial axes in einsum subscripts
_KAXES = "ijk"      # ... and for the matching kernel axes
_SPATIAL_NAMES = {1: "length", 2: "H, W", 3: "D, H, W"}
_KERNEL_NAMES = {1: "length", 2: "height, width", 3: "depth, height, width"}


# --------------------------------------------------------------------------- argument checks


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _positive_int(value: object, what: str) -> int:
    if not _is_int(value):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if value < 1:  # type: ignore[operator]
        raise ValueError(f"{what} must be a positive integer, got {value}")
    return int(value)  # type: ignore[arg-type]


def _ntuple(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """Accept ``3`` or ``(3, 3)`` the way Keras does for kernel sizes and strides."""
    if _is_int(value):
        return (_positive_int(value, what),) * n
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        items = ()
    if len(items) != n:
        kind = "an int or a pair of ints" if n == 2 else f"an int or {n} ints"
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    return tuple(_positive_int(v, what) for v in items)


def _ntuple_nonneg(value: int | Sequence[int], what: str) -> tuple[int, int]:
    items = (value, value) if _is_int(value) else tuple(value)  # type: ignore[arg-type]
    if len(items) != 2 or not all(_is_int(v) and v >= 0 for v in items):  # type: ignore[operator]
        raise ValueError(f"{what} must be an int >= 0 or a pair of them, got {value!r}")
    return int(items[0]), int(items[1])  # type: ignore[arg-type]


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    a, b = _ntuple(value, 2, what)
    return a, b


def _as_float_array(x: object, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{what} must be a numeric array, got dtype {arr.dtype}")
    # float64 for a trustworthy reference (and no uint8 overflow on raw pixels).
    return arr.astype(np.float64)


# --------------------------------------------------------------------------- sizes and padding


def same_padding(input_size: int, kernel_size: int, stride: int = 1) -> tuple[int, int]:
    """Zeros that Keras adds ``(before, after)`` along one axis for ``padding="same"``.

    "same" makes the output ``ceil(input_size / stride)`` long. The zeros needed for that
    are split as evenly as possible, and when their number is odd the extra zero goes
    *after* (to the bottom or right): ``before = total // 2``, ``after = total - before``.
    That is TensorFlow's rule, which Keras follows on every backend.
    """
    i = _positive_int(input_size, "input_size")
    f = _positive_int(kernel_size, "kernel_size")
    s = _positive_int(stride, "stride")
    out = math.ceil(i / s)
    total = max((out - 1) * s + f - i, 0)
    return total // 2, total - total // 2


def _explicit_pair(entry: object, padding: object) -> tuple[int, int]:
    pair = (entry, entry) if _is_int(entry) else entry
    try:
        a, b = pair  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"cannot read padding {padding!r}") from None
    if not (_is_int(a) and _is_int(b)) or a < 0 or b < 0:  # type: ignore[operator]
        raise ValueError(f"padding amounts must be integers >= 0, got {padding!r}")
    return int(a), int(b)  # type: ignore[arg-type]


def _resolve_padding(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                     padding: Padding) -> list[tuple[int, int]]:
    """``(before, after)`` zeros for each spatial axis."""
    n = len(sizes)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return [(0, 0)] * n
        if mode == "same":
            return [same_padding(i, f, s) for i, f, s in zip(sizes, kernel, strides)]
        raise ValueError(f"padding must be 'valid', 'same' or a number of zeros, got {padding!r}")
    if _is_int(padding):
        if padding < 0:  # type: ignore[operator]
            raise ValueError(f"padding must be >= 0, got {padding}")
        return [(int(padding), int(padding))] * n  # type: ignore[arg-type]
    try:
        parts = list(padding)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair, got {padding!r}") from None
    if len(parts) != n:
        raise ValueError(f"padding must have one entry per spatial axis ({n}), got {padding!r}")
    return [_explicit_pair(p, padding) for p in parts]


def conv_output_size(input_size: int, kernel_size: int, stride: int = 1,
                     padding: int | str | Sequence[int] = 0, dilation: int = 1) -> int:
    """Length of a convolution's (or pooling's) output along one axis.

    ``O = floor((I + P_before + P_after - F) / S) + 1``; with the symmetric padding ``P`` of
    the lectures this is ``(I + 2P - F) / S + 1``. ``padding`` may be an int ``P``, a pair
    ``(before, after)``, ``"valid"`` (no padding) or ``"same"`` (Keras' rule, which gives
    ``ceil(I / S)``). When the stride does not divide evenly, the last positions that would
    overhang the input are dropped (the floor), as Keras does. A ``dilation`` ``d`` spreads
    the kernel's taps ``d`` apart: it covers ``d (F - 1) + 1`` inputs, and that span takes
    the place of ``F`` in the formula.

    >>> conv_output_size(28, 5)          # the lectures' 28x28 input, 5x5 field
    24
    >>> conv_output_size(28, 3, stride=2)
    13
    >>> conv_output_size(5, 3, stride=2, padding=1)
    3
    >>> conv_output_size(7, 3, dilation=2)   # the 3 taps span 5 inputs
    3
    """
    i = _positive_int(input_size, "input_size")
    f = dilated_size(kernel_size, dilation)
    s = _positive_int(stride, "stride")
    if isinstance(padding, str) or _is_int(padding):
        (before, after), = _resolve_padding([i], [f], [s], padding)  # type: ignore[arg-type]
    else:
        before, after = _explicit_pair(padding, padding)
    span = i + before + after
    if f > span:
        raise ValueError(
            f"a kernel of size {f} does not fit in an input of size {i} with padding "
            f"({before}, {after}): the padded input ({span}) must be at least as large as the kernel"
        )
    return (span - f) // s + 1


def dilated_size(kernel_size: int, dilation: int = 1) -> int:
    """How many inputs a kernel of ``kernel_size`` taps, ``dilation`` apart, spans: ``d (F - 1) + 1``."""
    return _positive_int(dilation, "dilation") * (_positive_int(kernel_size, "kernel_size") - 1) + 1


def pad2d(x: np.ndarray, padding: Padding, kernel_size: int | Sequence[int] = 1,
          strides: int | Sequence[int] = 1) -> np.ndarray:
    """Zero-pad the two spatial axes of ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``.

    ``padding`` is resolved exactly as :func:`conv2d` resolves it, so ``"same"`` needs the
    ``kernel_size`` and ``strides`` it is meant for.
    """
    arr = np.asarray(x)
    if arr.ndim not in (2, 3, 4):
        raise ValueError(f"pad2d expects (H, W), (H, W, C) or (N, H, W, C), got shape {arr.shape}")
    h_axis = 1 if arr.ndim == 4 else 0
    pads = _resolve_padding(arr.shape[h_axis:h_axis + 2], _pair(kernel_size, "kernel_size"),
                            _pair(strides, "strides"), padding)
    widths = [(0, 0)] * arr.ndim
    widths[h_axis], widths[h_axis + 1] = pads
    return np.pad(arr, widths)


# --------------------------------------------------------------------------- the N-d core


def _batch(x: np.ndarray, nd: int, op: str) -> tuple[np.ndarray, bool]:
    """Bring one sample ``(*spatial, C)`` or a batch ``(N, *spatial, C)`` to batch form."""
    if x.ndim == nd + 1:
        return x[np.newaxis], False
    if x.ndim == nd + 2:
        return x, True
    axes = _SPATIAL_NAMES[nd]
    raise ValueError(f"{op} expects one sample ({axes}, channels) or a batch "
                     f"(N, {axes}, channels); got an array of shape {x.shape}")


def _windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], padding: Padding,
             op: str, fill: float = 0.0, dilation: Sequence[int] | None = None) -> np.ndarray:
    """All receptive fields of a batch ``x`` ``(N, *spatial, C)``.

    Returns ``(N, *out_spatial, C, *kernel)``: for every output position, the window of the
    (padded) input it sees (with a dilation, every ``d``-th input of a wider span).
    """
    nd = len(kernel)
    dil = tuple(dilation) if dilation is not None else (1,) * nd
    kernel = tuple(d * (f - 1) + 1 for f, d in zip(kernel, dil))   # the span each window covers
    sizes = x.shape[1:1 + nd]
    pads = _resolve_padding(sizes, kernel, strides, padding)
    for axis, (i, f, (a, b)) in enumerate(zip(sizes, kernel, pads)):
        if f > i + a + b:
            shape = "x".join(map(str, kernel))
            insize = "x".join(map(str, sizes))
            raise ValueError(
                f"{op}: a {shape} kernel does not fit in the {insize} input padded by {pads}; "
                "the padded input must be at least as large as the kernel"
            )
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(padded, tuple(kernel), axis=tuple(range(1, 1 + nd)))
    windows = windows[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    return windows[(Ellipsis,) + tuple(slice(None, None, d) for d in dil)]


def _check_bias(bias: object, n_out: int, op: str, kernel_shape: tuple[int, ...]) -> np.ndarray | None:
    if bias is None:
        return None
    b = _as_float_array(bias, "bias")
    if b.ndim == 0 and n_out == 1:
        return b.reshape(1)
    if b.shape != (n_out,):
        raise ValueError(
            f"{op}: bias must hold one value per output channel, shape ({n_out},); got shape "
            f"{b.shape} (kernel shape {kernel_shape})"
        )
    return b


def _conv(x: np.ndarray, kernel: np.ndarray, bias: object, strides: object, padding: Padding,
          nd: int, op: str, dilation: object = 1) -> np.ndarray:
    """N-d convolution of float arrays; ``kernel`` is ``(*kernel_size, C_in, C_out)``."""
    if kernel.ndim != nd + 2:
        raise ValueError(f"{op}: kernel must be (*kernel_size, in_channels, filters) with "
                         f"{nd} kernel axes; got shape {kernel.shape}")
    xb, batched = _batch(x, nd, op)
    ksize, (d_in, m) = kernel.shape[:nd], kernel.shape[nd:]
    if xb.shape[-1] != d_in:
        raise ValueError(
            f"{op}: the input has {xb.shape[-1]} channel(s) but the kernel expects {d_in} "
            f"(kernel shape {kernel.shape} is ({_KERNEL_NAMES[nd]}, in_channels, filters))"
        )
    b = _check_bias(bias, m, op, kernel.shape)
    win = _windows(xb, ksize, _ntuple(strides, nd, "strides"), padding, op,  # type: ignore[arg-type]
                   dilation=_ntuple(dilation, nd, "dilation_rate"))          # type: ignore[arg-type]
    sp, kk = _AXES[:nd], _KAXES[:nd]
    out = np.einsum(f"n{sp}c{kk},{kk}cm->n{sp}m", win, kernel, optimize=True)
    if b is not None:
        out = out + b
    return out if batched else out[0]


# --------------------------------------------------------------------------- convolutions


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | float | None = None, *,
           strides: int | Sequence[int] = 1, padding: Padding = "valid",
           dilation_rate: int | Sequence[int] = 1) -> np.ndarray:
    """2-D convolution (cross-correlation) as ``keras.layers.Conv2D`` computes it.

    Output neuron ``(j, k)`` of filter ``m`` is
    ``b[m] + sum_{l, n, d} kernel[l, n, d, m] * x_padded[j*S_h + l, k*S_w + n, d]``.

    Args:
        x: an image ``(H, W)`` (one channel), ``(H, W, D)``, or a batch ``(N, H, W, D)``.
        kernel: ``(F_h, F_w)`` for one filter on a one-channel input, or
            ``(F_h, F_w, D, M)`` for ``M`` filters over ``D`` input channels.
        bias: ``M`` shared biases (one per filter), or ``None`` for no bias.
        strides: step of the window, an int or ``(S_h, S_w)``.
        padding: ``"valid"`` (none), ``"same"`` (Keras' rule), an int ``P``, a pair
            ``(P_h, P_w)`` or ``((top, bottom), (left, right))``.
        dilation_rate: ``d`` (or ``(d_h, d_w)``): the kernel's taps sit ``d`` inputs apart, so
            an ``F``-tap kernel spans ``d (F - 1) + 1`` inputs (``Conv2D(dilation_rate=d)``).

    Returns:
        float64 array: ``(H_o, W_o)`` for a 2-D kernel on a 2-D image, otherwise
        ``(H_o, W_o, M)``, or ``(N, H_o, W_o, M)`` for a batch.
    """
    xs = _as_float_array(x, "input x")
    k = _as_float_array(kernel, "kernel")
    if xs.ndim not in (2, 3, 4):
        raise ValueError(
            "conv2d expects an image (H, W) or (H, W, channels), or a batch (N, H, W, channels); "
            f"got an array of shape {xs.shape}")
    if k.ndim not in (2, 4):
        raise ValueError(
            "conv2d: kernel must be (F_h, F_w) for one filter on a one-channel image, or "
            f"(F_h, F_w, in_channels, filters); got shape {k.shape}"
            + (". For one filter over several channels, add a last axis: kernel[..., None]"
               if k.ndim == 3 else "")
        )
    squeeze = xs.ndim == 2 and k.ndim == 2      # 2-D image and 2-D kernel: 2-D answer
    if xs.ndim == 2:
        xs = xs[..., np.newaxis]
    if k.ndim == 2:
        k = k[..., np.newaxis, np.newaxis]
    out = _conv(xs, k, bias, strides, padding, 2, "conv2d", dilation_rate)
    return out[..., 0] if squeeze else out


def im2col(x: np.ndarray, kernel_size: int | Sequence[int], *, strides: int | Sequence[int] = 1,
           padding: Padding = "valid", dilation_rate: int | Sequence[int] = 1) -> np.ndarray:
    """Every window of an image as one row of a matrix ("image to columns").

    ``x`` is ``(H, W)`` or ``(H, W, C)``. Row ``j * W_o + k`` holds the window of output
    position ``(j, k)``, flattened in the kernel's order ``(F_h, F_w, C)``, so that a
    convolution is one matrix product::

        im2col(x, (F_h, F_w)) @ kernel.reshape(F_h * F_w * C, M)   # (H_o * W_o, M)
        == conv2d(x, kernel).reshape(H_o * W_o, M)

    That is how libraries turned convolution into the matrix multiplication that BLAS
    and GPUs do fastest (at the cost of copying each input pixel into up to ``F_h F_w`` rows).

    Returns:
        ``(H_o * W_o, F_h * F_w * C)``.
    """
    xs = _as_float_array(x, "input x")
    if xs.ndim == 2:
        xs = xs[..., np.newaxis]
    if xs.ndim != 3:
        raise ValueError(f"im2col expects one image (H, W) or (H, W, C), got shape {xs.shape}")
    fh, fw = _pair(kernel_size, "kernel_size")
    win = _windows(xs[np.newaxis], (fh, fw), _pair(strides, "strides"), padding, "im2col",
                   dilation=_pair(dilation_rate, "dilation_rate"))[0]      # (H_o, W_o, C, F_h, F_w)
    h_o, w_o = win.shape[:2]
    return win.transpose(0, 1, 3, 4, 2).reshape(h_o * w_o, -1)


def conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
           strides: int = 1, padding: Padding = "valid") -> np.ndarray:
    """1-D convolution as ``keras.layers.Conv1D`` computes it (time series, sequences).

    ``x`` is ``(L, D)`` or ``(N, L, D)``; ``kernel`` is ``(F, D, M)``; output ``(L_o, M)``
    (or ``(N, L_o, M)``). Padding and strides as in :func:`conv2d`, with one axis.
    """
    return _conv(_as_float_array(x, "input x"), _as_float_array(kernel, "kernel"), bias,
                 strides, padding, 1, "conv1d")


def conv3d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
           strides: int | Sequence[int] = 1, padding: Padding = "valid") -> np.ndarray:
    """3-D convolution as ``keras.layers.Conv3D`` computes it (volumes, video).

    ``x`` is ``(L, H, W, D)`` or ``(N, L, H, W, D)`` (``L`` slices of ``H x W`` with ``D``
    channels each, as chapter 4 writes it); ``kernel`` is ``(F_L, F_h, F_w, D, M)``; output
    ``(L_o, H_o, W_o, M)``.
    """
    return _conv(_as_float_array(x, "input x"), _as_float_array(kernel, "kernel"), bias,
                 strides, padding, 3, "conv3d")


def depthwise_conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
                     strides: int | Sequence[int] = 1, padding: Padding = "valid") -> np.ndarray:
    """Depthwise convolution as ``keras.layers.DepthwiseConv2D`` computes it.

    Each input channel ``d`` is convolved *on its own* with ``m`` filters (the channel
    multiplier), giving ``D * m`` output channels, ordered ``d * m + j``: the ``m`` maps of
    channel 0 first, then those of channel 1, and so on.

    Args:
        x: ``(H, W)``, ``(H, W, D)`` or ``(N, H, W, D)``.
        kernel: ``(F_h, F_w, D, m)``, the shape of ``DepthwiseConv2D(...).kernel``.
        bias: ``D * m`` biases, or ``None``.
        strides, padding: as in :func:`conv2d`.
    """
    xs = _as_float_array(x, "input x")
    k = _as_float_array(kernel, "kernel")
    if xs.ndim == 2:
        xs = xs[..., np.newaxis]
    xb, batched = _batch(xs, 2, "depthwise_conv2d")
    if k.ndim != 4:
        raise ValueError(
            "depthwise_conv2d: kernel must be (F_h, F_w, in_channels, depth_multiplier); "
            f"got shape {k.shape}"
        )
    fh, fw, d_in, mult = k.shape
    if xb.shape[-1] != d_in:
        raise ValueError(
            f"depthwise_conv2d: the input has {xb.shape[-1]} channel(s) but the kernel expects "
            f"{d_in} (kernel shape {k.shape} is (height, width, in_channels, depth_multiplier))"
        )
    b = _check_bias(bias, d_in * mult, "depthwise_conv2d", k.shape)
    win = _windows(xb, (fh, fw), _pair(strides, "strides"), padding, "depthwise_conv2d")
    out = np.einsum("nhwcij,ijcm->nhwcm", win, k, optimize=True)
    out = out.reshape(out.shape[:3] + (d_in * mult,))
    if b is not None:
        out = out + b
    return out if batched else out[0]


# --------------------------------------------------------------------------- the backward pass


def _scatter(contributions: np.ndarray, padded_hw: tuple[int, int],
             strides: tuple[int, int]) -> np.ndarray:
    """Add each output position's ``(F_h, F_w, C)`` contribution back onto its window.

    ``contributions`` is ``(N, H_o, W_o, F_h, F_w, C)``; the result is the padded input
    grid ``(N, H_p, W_p, C)`` where windows overlap and add up.
    """
    n, ho, wo, fh, fw, c = contributions.shape
    sh, sw = strides
    out = np.zeros((n, padded_hw[0], padded_hw[1], c))
    for i in range(fh):
        for j in range(fw):
            out[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] += contributions[:, :, :, i, j, :]
    return out


def conv2d_backward(x: np.ndarray, kernel: np.ndarray, grad_output: np.ndarray, *,
                    strides: int | Sequence[int] = 1,
                    padding: Padding = "valid") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss through :func:`conv2d`, given the gradient at its output.

    For ``y = conv2d(x, kernel, b)`` and ``g = dLoss/dy`` (same shape as ``y``):

    - ``dLoss/dx``: every output neuron sends ``g[j, k, m] * kernel[..., m]`` back to the
      input window it read; overlapping windows add up. For stride 1 this is a "full"
      convolution of ``g`` with the spatially *flipped* kernel: a transposed convolution.
    - ``dLoss/dkernel[l, n, d, m] = sum_{j, k} x_padded[j*S + l, k*S + n, d] * g[j, k, m]``:
      the input cross-correlated with ``g``.
    - ``dLoss/db[m] = sum_{j, k} g[j, k, m]``.

    Shapes as in :func:`conv2d` with a 4-D kernel: ``x`` ``(H, W, D)`` or ``(N, H, W, D)``,
    ``kernel`` ``(F_h, F_w, D, M)``. Returns ``(grad_x, grad_kernel, grad_bias)``.
    """
    xs = _as_float_array(x, "input x")
    k = _as_float_array(kernel, "kernel")
    g = _as_float_array(grad_output, "grad_output")
    if k.ndim != 4:
        raise ValueError(f"conv2d_backward: kernel must be (F_h, F_w, in_channels, filters), got {k.shape}")
    xb, batched = _batch(xs, 2, "conv2d_backward")
    gb = g if batched else g[np.newaxis]
    st = _pair(strides, "strides")
    expected = _conv(xb, k, None, st, padding, 2, "conv2d_backward").shape
    if gb.shape != expected:
        raise ValueError(f"conv2d_backward: grad_output must have the shape of the convolution's "
                         f"output, {expected if batched else expected[1:]}; got {g.shape}")
    fh, fw = k.shape[:2]
    pads = _resolve_padding(xb.shape[1:3], (fh, fw), st, padding)
    win = _windows(xb, (fh, fw), st, padding, "conv2d_backward")
    grad_kernel = np.einsum("nhwcij,nhwm->ijcm", win, gb, optimize=True)
    grad_bias = gb.sum(axis=(0, 1, 2))
    contributions = np.einsum("nhwm,ijcm->nhwijc", gb, k, optimize=True)
    padded_hw = (xb.shape[1] + sum(pads[0]), xb.shape[2] + sum(pads[1]))
    dx_padded = _scatter(contributions, padded_hw, st)
    (top, _), (left, _) = pads
    grad_x = dx_padded[:, top:top + xb.shape[1], left:left + xb.shape[2], :]
    return (grad_x if batched else grad_x[0]), grad_kernel, grad_bias


def conv2d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
                     strides: int | Sequence[int] = 1, padding: str = "valid",
                     output_padding: int | Sequence[int] | None = None) -> np.ndarray:
    """Transposed convolution as ``keras.layers.Conv2DTranspose`` computes it.

    Each input neuron stamps a copy of the kernel, scaled by its value, onto the output,
    ``strides`` apart; overlapping stamps add up. It is the backward pass of a
    convolution with respect to its input (see :func:`conv2d_backward`), used as a layer
    that *enlarges* feature maps.

    Args:
        x: ``(H, W, C_in)`` or ``(N, H, W, C_in)``.
        kernel: ``(F_h, F_w, C_out, C_in)``, the shape of ``Conv2DTranspose(...).kernel``
            (note the order: output channels first).
        padding: ``"valid"``: output ``H * S + max(F - S, 0)`` (that is ``(H - 1) * S + F``
            unless the kernel is smaller than the stride); ``"same"``: output ``H * S``.
        output_padding: as in Keras: ``None`` for the sizes above, or the extra rows and
            columns (each smaller than the stride) that make the output
            ``(H - 1) * S + F - 2 * (F // 2 if "same" else 0) + output_padding``: the
            input size of a strided convolution is ambiguous, and this picks it.
    """
    xs = _as_float_array(x, "input x")
    k = _as_float_array(kernel, "kernel")
    xb, batched = _batch(xs, 2, "conv2d_transpose")
    if k.ndim != 4:
        raise ValueError(f"conv2d_transpose: kernel must be (F_h, F_w, out_channels, in_channels), "
                         f"got {k.shape}")
    fh, fw, c_out, c_in = k.shape
    if xb.shape[-1] != c_in:
        raise ValueError(f"conv2d_transpose: the input has {xb.shape[-1]} channel(s) but the kernel "
                         f"expects {c_in} (kernel shape {k.shape} is (height, width, out_channels, "
                         "in_channels))")
    st = _pair(strides, "strides")
    b = _check_bias(bias, c_out, "conv2d_transpose", k.shape)
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"conv2d_transpose: padding must be 'valid' or 'same', got {padding!r}")
    h, w = xb.shape[1:3]
    # Output length per axis, and how much of the stamped canvas to skip at the start
    # ("same" removes the zeros the matching forward convolution would have padded).
    extra = None if output_padding is None else _ntuple_nonneg(output_padding, "output_padding")
    sizes, skips = [], []
    for axis, (i, f, s_) in enumerate(zip((h, w), (fh, fw), st)):
        if extra is None:
            size = i * s_ if mode == "same" else i * s_ + max(f - s_, 0)
        else:
            if extra[axis] >= s_:
                raise ValueError(f"conv2d_transpose: output_padding {extra} must be smaller than "
                                 f"the strides {st}")
            size = (i - 1) * s_ + f - (2 * (f // 2) if mode == "same" else 0) + extra[axis]
            back = conv_output_size(size, f, s_, mode) if size >= 1 else 0
            if back != i:
                raise ValueError(
                    f"conv2d_transpose: with output_padding {extra}, an input of {i} gives an output "
                    f"of {size}, but a {mode!r} convolution (kernel {f}, stride {s_}) of {size} gives "
                    f"{back}, not {i}: no convolution has this as its transpose; change "
                    "output_padding or padding")
        sizes.append(size)
        skips.append(same_padding(size, f, s_)[0] if mode == "same" else 0)
    canvas = tuple(max((i - 1) * s_ + f, skip + size)
                   for i, f, s_, skip, size in zip((h, w), (fh, fw), st, skips, sizes))
    contributions = np.einsum("nhwc,ijoc->nhwijo", xb, k, optimize=True)
    full = _scatter(contributions, canvas, st)                 # type: ignore[arg-type]
    out = full[:, skips[0]:skips[0] + sizes[0], skips[1]:skips[1] + sizes[1], :]
    if b is not None:
        out = out + b
    return out if batched else out[0]


# --------------------------------------------------------------------------- pooling


_POOL_MODES = ("max", "avg", "sum", "l2")


def _pool_reduce(windows: np.ndarray, mode: str, axes: tuple[int, ...]) -> np.ndarray:
    # Padded positions are NaN: they never win a max, and never count in a mean or sum.
    if mode == "max":
        return np.nanmax(windows, axis=axes)
    if mode == "avg":
        return np.nanmean(windows, axis=axes)
    if mode == "sum":
        return np.nansum(windows, axis=axes)
    return np.sqrt(np.nansum(windows ** 2, axis=axes))


def _check_pool_mode(mode: str) -> None:
    if mode not in _POOL_MODES:
        raise ValueError(f"pooling mode must be one of {_POOL_MODES}, got {mode!r}")


def pool2d(x: np.ndarray, pool_size: int | Sequence[int] = 2,
           strides: int | Sequence[int] | None = None, padding: str = "valid",
           mode: str = "max") -> np.ndarray:
    """2-D pooling, each channel on its own, as ``MaxPooling2D`` / ``AveragePooling2D`` do.

    Args:
        x: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``.
        pool_size: the window, an int or ``(P_h, P_w)``.
        strides: the step; ``None`` means the window size (non-overlapping windows), as in Keras.
        padding: ``"valid"`` or ``"same"``; with ``"same"`` the padded positions are
            ignored (they neither win a max nor count in an average), as in Keras.
        mode: ``"max"``, ``"avg"``, ``"sum"`` (the sum of the window) or ``"l2"``
            (square root of the sum of squares).
    """
    _check_pool_mode(mode)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"pool2d: padding must be 'valid' or 'same', got {padding!r}")
    xs = _as_float_array(x, "input x")
    two_d = xs.ndim == 2
    if two_d:
        xs = xs[..., np.newaxis]
    xb, batched = _batch(xs, 2, "pool2d")
    size = _pair(pool_size, "pool_size")
    step = size if strides is None else _pair(strides, "strides")
    win = _windows(xb, size, step, padding, "pool2d", fill=np.nan)
    out = _pool_reduce(win, mode, (-2, -1))
    if not batched:
        out = out[0]
    return out[..., 0] if two_d else out


def global_pool2d(x: np.ndarray, mode: str = "avg") -> np.ndarray:
    """Pool each whole feature map to one number: ``(H, W, C) -> (C,)``, ``(N, H, W, C) -> (N, C)``.

    ``GlobalAveragePooling2D`` (``mode="avg"``) and ``GlobalMaxPooling2D`` (``"max"``).
    """
    _check_pool_mode(mode)
    xs = _as_float_array(x, "input x")
    if xs.ndim not in (3, 4):
        raise ValueError(f"global_pool2d expects (H, W, C) or (N, H, W, C), got shape {xs.shape}")
    return _pool_reduce(xs, mode, (-3, -2))


# --------------------------------------------------------------------------- receptive fields


class RField(NamedTuple):
    """Receptive field after one layer: its ``size`` in input pixels (per axis), and the
    ``jump``, the distance in input pixels between neighbouring neurons of that layer."""

    layer: str
    size: int
    jump: int


def receptive_field(layers: Sequence[tuple[Any, ...]]) -> list[RField]:
    """Receptive field of every layer of a stack, along one spatial axis.

    Each layer is ``(name, kernel, stride)`` or ``(name, kernel, stride, dilation)``; a
    pooling layer's kernel is its pool size. Starting from one input pixel (size 1,
    jump 1), a layer with kernel ``F`` and stride ``S`` gives

    ``size = size_before + (F - 1) * jump_before`` and ``jump = jump_before * S``:

    its ``F`` inputs are ``jump_before`` pixels apart, so together they span ``F - 1``
    more steps of that length. Padding shifts fields but does not change their size.
    """
    size, jump = 1, 1
    out = []
    for spec in layers:
        if len(spec) not in (3, 4):
            raise ValueError(f"each layer is (name, kernel, stride[, dilation]), got {spec!r}")
        name, kernel, stride = spec[:3]
        dilation = spec[3] if len(spec) == 4 else 1
        k = _positive_int(kernel, f"kernel of {name}")
        s = _positive_int(stride, f"stride of {name}")
        d = _positive_int(dilation, f"dilation of {name}")
        size += (d * (k - 1)) * jump
        jump *= s
        out.append(RField(str(name), size, jump))
    return out


def layer_geometry(layers: Sequence[Any]) -> list[tuple[str, int, int, int]]:
    """``(name, kernel, stride, dilation)`` along the first spatial axis of Keras layers.

    Convolution and pooling layers contribute their window; layers that act on each
    position alone (activations, batch normalization, dropout) are left out. Stops at
    the first ``Flatten``, ``Dense`` or global pooling layer, where spatial layout ends.
    """
    out = []
    for layer in layers:
        kind = type(layer).__name__
        if kind in ("Flatten", "Dense") or kind.startswith("Global"):
            break
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if window is None:
            continue
        strides = getattr(layer, "strides", None) or window
        dilation = getattr(layer, "dilation_rate", None) or (1,)
        out.append((layer.name, int(window[0]), int(strides[0]), int(dilation[0])))
    return out


# --------------------------------------------------------------------------- parameter counts


def conv_params(in_channels: int, kernel_size: int | Sequence[int], filters: int, *,
                use_bias: bool = True) -> int:
    """Trainable parameters of a convolution layer: ``W = (D * F_w * F_h + 1) * M``.

    ``D`` input channels, an ``F_h x F_w`` kernel (any number of axes: ``(F,)`` for
    ``Conv1D``, ``(F_d, F_h, F_w)`` for ``Conv3D``), ``M`` filters; the ``+ 1`` is each
    filter's shared bias (dropped with ``use_bias=False``).

    >>> conv_params(3, 5, 4)        # four 5x5 filters on an RGB input
    304
    """
    d = _positive_int(in_channels, "in_channels")
    if _is_int(kernel_size):
        window = _positive_int(kernel_size, "kernel_size") ** 2
    else:
        try:
            dims = tuple(kernel_size)  # type: ignore[arg-type]
        except TypeError:
            dims = ()
        if len(dims) not in (1, 2, 3):
            raise ValueError(f"kernel_size must be an int or a pair of ints (or 1 or 3 ints), "
                             f"got {kernel_size!r}")
        window = math.prod(_positive_int(v, "kernel_size") for v in dims)
    m = _positive_int(filters, "filters")
    return (d * window + int(bool(use_bias))) * m


def depthwise_params(in_channels: int, kernel_size: int | Sequence[int],
                     depth_multiplier: int = 1, *, use_bias: bool = True) -> int:
    """Trainable parameters of ``DepthwiseConv2D``: ``D * m * (F_h * F_w + 1)``.

    Every one of the ``D * m`` output maps has its own ``F_h x F_w`` filter (over a single
    input channel) and its own bias.
    """
    d = _positive_int(in_channels, "in_channels")
    fh, fw = _pair(kernel_size, "kernel_size")
    mult = _positive_int(depth_multiplier, "depth_multiplier")
    return d * mult * (fh * fw + int(bool(use_bias)))


def dense_params(inputs: int, units: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of a fully connected layer: ``inputs * units + units``.

    >>> dense_params(784, 30)       # 28x28 pixels into 30 hidden neurons
    23550
    """
    i = _positive_int(inputs, "inputs")
    u = _positive_int(units, "units")
    return i * u + (u if use_bias else 0)
