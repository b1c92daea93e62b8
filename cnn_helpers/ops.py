"""NumPy reference implementations of the operations the book teaches.

Everything here favours clarity over speed, and ``tests/test_ops.py`` checks each
function against the matching Keras layer. Arrays use Keras' default ``channels_last``
layout:

- an image or feature map is ``(height, width, channels)``; a batch is
  ``(batch, height, width, channels)``;
- a convolution kernel is ``(kernel_height, kernel_width, in_channels, filters)``: exactly
  the shape of ``keras.layers.Conv2D(...).kernel``.

As in Keras (and every deep-learning library), "convolution" here is *cross-correlation*:
the kernel is not flipped. Chapter 1 explains the difference.

Introduced in chapter 1 (Convolution): :func:`conv2d`, :func:`depthwise_conv2d`,
:func:`conv_output_size`, :func:`same_padding`, :func:`conv_params`,
:func:`depthwise_params`, :func:`dense_params`.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np

__all__ = [
    "conv2d",
    "conv_output_size",
    "conv_params",
    "dense_params",
    "depthwise_conv2d",
    "depthwise_params",
    "pad2d",
    "same_padding",
]

#: ``"valid"``, ``"same"``, an int ``p`` (p zeros on every side), a pair ``(ph, pw)`` or
#: explicit ``((top, bottom), (left, right))``.
Padding = Union[str, int, Sequence[int], Sequence[Sequence[int]]]


# --------------------------------------------------------------------------- sizes


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value}")
    return int(value)


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    """Accept ``3`` or ``(3, 3)`` the way Keras does for kernel sizes and strides."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = _positive_int(value, what)
        return v, v
    try:
        a, b = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    return _positive_int(a, what), _positive_int(b, what)


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


def _axis_padding(padding: object, input_size: int, kernel_size: int, stride: int,
                  axis: int) -> tuple[int, int]:
    """Resolve the ``(before, after)`` padding of one axis (0 = height, 1 = width)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(input_size, kernel_size, stride)
        raise ValueError(f"padding must be 'valid', 'same' or a number of zeros, got {padding!r}")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, (bool, np.bool_)):
        p = int(padding)
        if p < 0:
            raise ValueError(f"padding must be >= 0, got {p}")
        return p, p
    try:
        parts = list(padding)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair, got {padding!r}") from None
    if len(parts) != 2:
        raise ValueError(f"padding must have one entry per spatial axis (2), got {padding!r}")
    return _axis_padding_explicit(parts[axis], padding)


def _axis_padding_explicit(entry: object, padding: object) -> tuple[int, int]:
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
        pair: tuple[object, object] = (entry, entry)
    else:
        try:
            a, b = entry  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ValueError(f"cannot read padding {padding!r}") from None
        pair = (a, b)
    out = []
    for p in pair:
        if not isinstance(p, (int, np.integer)) or isinstance(p, (bool, np.bool_)) or p < 0:
            raise ValueError(f"padding amounts must be integers >= 0, got {padding!r}")
        out.append(int(p))
    return out[0], out[1]


def conv_output_size(input_size: int, kernel_size: int, stride: int = 1,
                     padding: int | str | Sequence[int] = 0) -> int:
    """Length of a convolution's output along one axis.

    ``O = floor((I + P_before + P_after - F) / S) + 1``; with the symmetric padding ``P`` of
    the lectures this is ``(I + 2P - F) / S + 1``. ``padding`` may be an int ``P``, a pair
    ``(before, after)``, ``"valid"`` (no padding) or ``"same"`` (Keras' rule, which gives
    ``ceil(I / S)``). When the stride does not divide evenly, the last positions that would
    overhang the input are dropped (the floor), as Keras does.

    >>> conv_output_size(28, 5)          # the lectures' 28x28 input, 5x5 field
    24
    >>> conv_output_size(28, 3, stride=2)
    13
    >>> conv_output_size(5, 3, stride=2, padding=1)
    3
    """
    i = _positive_int(input_size, "input_size")
    f = _positive_int(kernel_size, "kernel_size")
    s = _positive_int(stride, "stride")
    if isinstance(padding, str):
        before, after = _axis_padding(padding, i, f, s, 0)
    elif isinstance(padding, (int, np.integer)):
        before, after = _axis_padding(int(padding), i, f, s, 0)
    else:
        before, after = _axis_padding_explicit(padding, padding)
    span = i + before + after
    if f > span:
        raise ValueError(
            f"a kernel of size {f} does not fit in an input of size {i} with padding "
            f"({before}, {after}): the padded input ({span}) must be at least as large as the kernel"
        )
    return (span - f) // s + 1


# --------------------------------------------------------------------------- convolution


def _as_float_array(x: object, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{what} must be a numeric array, got dtype {arr.dtype}")
    # float64 for a trustworthy reference (and no uint8 overflow on raw pixels).
    return arr.astype(np.float64)


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
    (top, bottom), (left, right) = _resolve_padding(
        arr.shape[h_axis], arr.shape[h_axis + 1], _pair(kernel_size, "kernel_size"),
        _pair(strides, "strides"), padding)
    widths = [(0, 0)] * arr.ndim
    widths[h_axis] = (top, bottom)
    widths[h_axis + 1] = (left, right)
    return np.pad(arr, widths)


def _resolve_padding(height: int, width: int, kernel_hw: tuple[int, int],
                     strides: tuple[int, int], padding: Padding) -> tuple[tuple[int, int], tuple[int, int]]:
    return (_axis_padding(padding, height, kernel_hw[0], strides[0], 0),
            _axis_padding(padding, width, kernel_hw[1], strides[1], 1))


def _windows(x: np.ndarray, kernel_hw: tuple[int, int], strides: tuple[int, int],
             padding: Padding, op: str) -> np.ndarray:
    """All receptive fields of a batch ``x`` (N, H, W, C): shape (N, Ho, Wo, C, Fh, Fw)."""
    n, h, w, c = x.shape
    (top, bottom), (left, right) = _resolve_padding(h, w, kernel_hw, strides, padding)
    fh, fw = kernel_hw
    if fh > h + top + bottom or fw > w + left + right:
        raise ValueError(
            f"{op}: a {fh}x{fw} kernel does not fit in the {h}x{w} input padded by "
            f"{(top, bottom)} rows and {(left, right)} columns; the padded input must be "
            "at least as large as the kernel"
        )
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (fh, fw), axis=(1, 2))
    return windows[:, :: strides[0], :: strides[1]]


def _batch(x: np.ndarray, op: str) -> tuple[np.ndarray, int]:
    """Bring (H, W), (H, W, C) or (N, H, W, C) to (N, H, W, C); remember the input rank."""
    if x.ndim == 2:
        return x[np.newaxis, :, :, np.newaxis], 2
    if x.ndim == 3:
        return x[np.newaxis], 3
    if x.ndim == 4:
        return x, 4
    raise ValueError(
        f"{op} expects an image (H, W) or (H, W, channels), or a batch (N, H, W, channels); "
        f"got an array of shape {x.shape}"
    )


def _unbatch(y: np.ndarray, rank: int, squeeze_channels: bool) -> np.ndarray:
    if rank == 4:
        return y
    y = y[0]
    if rank == 2 and squeeze_channels:
        return y[..., 0]
    return y


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


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | float | None = None, *,
           strides: int | Sequence[int] = 1, padding: Padding = "valid") -> np.ndarray:
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

    Returns:
        float64 array: ``(H_o, W_o)`` for a 2-D kernel on a 2-D image, otherwise
        ``(H_o, W_o, M)``, or ``(N, H_o, W_o, M)`` for a batch.
    """
    xs = _as_float_array(x, "input x")
    k = _as_float_array(kernel, "kernel")
    xb, rank = _batch(xs, "conv2d")
    two_d_kernel = k.ndim == 2
    if two_d_kernel:
        k = k[:, :, np.newaxis, np.newaxis]
    elif k.ndim != 4:
        raise ValueError(
            "conv2d: kernel must be (F_h, F_w) for one filter on a one-channel image, or "
            f"(F_h, F_w, in_channels, filters); got shape {k.shape}"
            + (". For one filter over several channels, add a last axis: kernel[..., None]"
               if k.ndim == 3 else "")
        )
    fh, fw, d_in, m = k.shape
    if xb.shape[-1] != d_in:
        raise ValueError(
            f"conv2d: the input has {xb.shape[-1]} channel(s) but the kernel expects {d_in} "
            f"(kernel shape {k.shape} is (height, width, in_channels, filters))"
        )
    b = _check_bias(bias, m, "conv2d", k.shape)
    win = _windows(xb, (fh, fw), _pair(strides, "strides"), padding, "conv2d")
    out = np.einsum("nhwcij,ijcm->nhwm", win, k, optimize=True)
    if b is not None:
        out = out + b
    return _unbatch(out, rank, squeeze_channels=two_d_kernel)


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
    xb, rank = _batch(xs, "depthwise_conv2d")
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
    return _unbatch(out, rank, squeeze_channels=False)


# --------------------------------------------------------------------------- parameter counts


def conv_params(in_channels: int, kernel_size: int | Sequence[int], filters: int, *,
                use_bias: bool = True) -> int:
    """Trainable parameters of a ``Conv2D`` layer: ``W = (D * F_w * F_h + 1) * M``.

    ``D`` input channels, an ``F_h x F_w`` kernel, ``M`` filters; the ``+ 1`` is each
    filter's shared bias (dropped with ``use_bias=False``).

    >>> conv_params(3, 5, 4)        # four 5x5 filters on an RGB input
    304
    """
    d = _positive_int(in_channels, "in_channels")
    fh, fw = _pair(kernel_size, "kernel_size")
    m = _positive_int(filters, "filters")
    return (d * fh * fw + int(bool(use_bias))) * m


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
