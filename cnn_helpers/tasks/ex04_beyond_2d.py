"""Exercise 4: 1x1, 1D and 3D convolutions
(exercises/04_beyond_2d.ipynb).

Numeric answers are compared with :func:`_number`, which says only whether a wrong
answer is too large or too small (never by how much), and then names the typical slip
that the value matches. Expected values are computed with :mod:`cnn_helpers.ops`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnn_helpers import ops
from cnn_helpers.grading import (
    Task,
    as_float_array,
    number_answer,
    probe_verdict,
)

SMOKE: dict[str, Any] = {}      # nothing trains: the grader runs the real settings


def _close(arr: np.ndarray | None, other: np.ndarray) -> bool:
    return arr is not None and arr.shape == other.shape and bool(
        np.allclose(arr, other, atol=1e-6))


# --------------------------------------------------------------------------- 4.1
# A 14x14x512 volume; a plain Conv2D(512, 3) against the bottleneck
# Conv2D(128, 1) -> Conv2D(128, 3) -> Conv2D(512, 1); no padding anywhere.

SIDE_41, WIDE_41, NARROW_41 = 14, 512, 128
# (kernel, input channels, filters) of the three bottleneck layers
BOTTLENECK_41 = [(1, WIDE_41, NARROW_41), (3, NARROW_41, NARROW_41),
                 (1, NARROW_41, WIDE_41)]


def _bottleneck_counts(*, bias: bool = True, kernels: tuple[int, ...] | None = None,
                       sides: list[int] | None = None, count_bias_adds: bool = False,
                       window: bool = True) -> tuple[int, int]:
    """(parameters, multiply-adds) of the bottleneck, with switches for typical slips.

    ``kernels`` replaces the three kernel sizes, ``sides`` each layer's output side;
    ``window=False`` leaves F_h x F_w out of the multiply-adds.
    """
    side, params, macs = SIDE_41, 0, 0
    for i, (f, d, m) in enumerate(BOTTLENECK_41):
        f = kernels[i] if kernels else f
        side = ops.conv_output_size(side, f)
        out_side = sides[i] if sides else side
        params += ops.conv_params(d, f, m, use_bias=bias)
        macs += out_side * out_side * (f * f if window else 1) * d * m
        if count_bias_adds:
            macs += out_side * out_side * m
    return params, macs


def _plain_counts() -> tuple[int, int]:
    side = ops.conv_output_size(SIDE_41, 3)
    return (ops.conv_params(WIDE_41, 3, WIDE_41),
            side * side * 9 * WIDE_41 * WIDE_41)


def _param_hints() -> dict[int, str]:
    params, _ = _bottleneck_counts()
    no_bias, _ = _bottleneck_counts(bias=False)
    all_3x3, _ = _bottleneck_counts(kernels=(3, 3, 3))
    middle = ops.conv_params(NARROW_41, 3, NARROW_41)
    out_side = ops.conv_output_size(SIDE_41, 3)
    return {
        no_bias: "each filter also has one bias",
        all_3x3: "the first and last layers are 1x1: F_h x F_w = 1 there",
        middle: "that is the 3x3 layer alone; the two 1x1 layers have weights too",
        _plain_counts()[0]: ("that is the plain 3x3 layer; the task asks for the "
                             "bottleneck's three layers"),
        params * SIDE_41 * SIDE_41: ("weights are shared across positions: the map "
                                     "size does not enter the parameter count"),
        params * out_side * out_side: ("weights are shared across positions: the map "
                                       "size does not enter the parameter count"),
    }


def _mac_hints() -> dict[int, str]:
    _, macs = _bottleneck_counts()
    side = SIDE_41
    out_side = ops.conv_output_size(SIDE_41, 3)
    shrink = ("without padding the 3x3 layer shrinks the map: use each layer's "
              "*output* size H_o x W_o")
    return {
        _bottleneck_counts(sides=[side] * 3)[1]: shrink,
        _bottleneck_counts(sides=[side, side, out_side])[1]: shrink,
        _bottleneck_counts(sides=[out_side] * 3)[1]: (
            "the first 1x1 layer works on the full input map: it has as many output "
            "positions as the input has pixels"),
        _bottleneck_counts(count_bias_adds=True)[1]: (
            "the bias additions are not counted: H_o x W_o x F_h x F_w x D x M per "
            "layer"),
        _bottleneck_counts(kernels=(3, 3, 3))[1]: (
            "the first and last layers are 1x1: F_h x F_w = 1 there"),
        _bottleneck_counts(window=False)[1]: (
            "each output of the 3x3 layer multiplies 3 x 3 x D weights with inputs"),
        _plain_counts()[1]: ("that is the plain 3x3 layer; the task asks for the "
                             "bottleneck's three layers"),
        macs * 2: "count one multiply-add per weight and input, not two operations",
    }


def _bottleneck(answer: Any) -> tuple[Any, str]:
    if isinstance(answer, np.ndarray):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return False, ("`bottleneck` should be a pair of numbers: (parameters, "
                       "multiply_adds)")
    params, macs = _bottleneck_counts()
    try:
        swapped = [float(v) for v in answer] == [macs, params]
    except (TypeError, ValueError):
        swapped = False
    if swapped:
        return 0.5, ("the two numbers are in the wrong order: give (parameters, "
                     "multiply_adds)")
    parts, score = [], 0.0
    for got, expected, what, hints in [
            (answer[0], params, "the parameter count", _param_hints()),
            (answer[1], macs, "the multiply-add count", _mac_hints())]:
        ok, message, value = number_answer(got, expected, what=what)
        if not ok and value is not None:        # two numbers: say which one is off
            message = f"{what.removeprefix('the ')}: {message}"
        if ok:
            score += 0.5
        elif value is not None and value.is_integer() and int(value) in hints:
            message += f"; {hints[int(value)]}"
        elif value is not None and what == "the parameter count":
            message += "; add up (F_h x F_w x D + 1) x M over the three layers"
        elif value is not None:
            message += ("; add up H_o x W_o x F_h x F_w x D x M over the three layers "
                        "(H_o, W_o: the layer's output size)")
        parts.append(message)
    if score == 1.0:
        return True, f"{params:,} params, {macs:,} multiply-adds"
    return score, "; ".join(parts)


# --------------------------------------------------------------------------- 4.2
# pointwise(x, kernel, bias): x (H, W, D), kernel (1, 1, D, M), bias (M,)


def _pointwise_probes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(402)
    return [(rng.normal(size=(6, 5, 8)), rng.normal(size=(1, 1, 8, 4)),
             rng.normal(size=4)),
            (rng.normal(size=(4, 4, 3)), rng.normal(size=(1, 1, 3, 3)),
             rng.normal(size=3)),                        # D = M: transposes fit
            (rng.normal(size=(5, 7, 1)), rng.normal(size=(1, 1, 1, 2)),
             rng.normal(size=2)),                        # one channel: w x + b
            (rng.normal(size=(3, 2, 2)), rng.normal(size=(1, 1, 2, 5)),
             np.zeros(5))]


def _pointwise_expected(x: np.ndarray, kernel: np.ndarray,
                        bias: np.ndarray) -> np.ndarray:
    return ops.conv2d(x, kernel, bias)


def _pointwise_diagnose(x, kernel, bias, *, got: Any, expected: np.ndarray) -> str:
    arr = as_float_array(got)
    if arr is None:
        return ""
    h, w, d = x.shape
    m = kernel.shape[-1]
    matrix = kernel.reshape(d, m)
    if arr.shape != expected.shape:
        if arr.shape == (h * w, m):
            return "reshape the (H x W, M) product back to (H, W, M)"
        if arr.shape in ((m, h, w), (w, h, m)):
            return "axes in the wrong order: the output is (H, W, M), channels last"
        return "one output slice per filter: the shape is (H, W, M)"
    if bias.any() and _close(arr, expected - bias):
        return "the bias is missing"
    if d == m and _close(arr, (x.reshape(-1, d) @ matrix.T + bias).reshape(h, w, m)):
        return ("the kernel is transposed: kernel[0, 0, d, m] is the weight from input "
                "channel d to filter m, so rows are input channels")
    if d == m and _close(arr, x * np.diagonal(matrix) + bias):
        return ("that scales each channel on its own (the notes' 'pointwise "
                "scaling'); a 1x1 convolution mixes the channels: output m is "
                "b[m] + sum over d of w[d, m] x[:, :, d]")
    return ""


def _pointwise(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _pointwise_probes(), outputs, _pointwise_expected,
        lambda x, k, b: f"input {x.shape}, kernel {k.shape}",
        _pointwise_diagnose, "right: a matrix product")


# --------------------------------------------------------------------------- 4.3
# conv1d_valid(signal, kernel): signal (L, D), kernel (F, D, M) -> (L - F + 1, M)


def _conv1d_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(403)
    return [(rng.normal(size=(10, 1)), rng.normal(size=(3, 1, 1))),
            (rng.normal(size=(12, 3)), rng.normal(size=(4, 3, 2))),
            (rng.normal(size=(7, 2)), rng.normal(size=(1, 2, 3))),     # F = 1
            (rng.normal(size=(6, 2)), rng.normal(size=(6, 2, 1))),     # one window
            (rng.normal(size=(9, 4)), rng.normal(size=(5, 4, 4)))]


def _conv1d_expected(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ops.conv1d(signal, kernel)


def _conv1d_diagnose(signal, kernel, *, got: Any, expected: np.ndarray) -> str:
    arr = as_float_array(got)
    if arr is None:
        return ""
    length, d = signal.shape
    f, _, m = kernel.shape
    if arr.shape != expected.shape:
        if arr.shape == (length - f, m):
            return "one step short: the last window, starting at L - F, is missing"
        if arr.shape == (length, m):
            return "no padding here: a window of F steps fits L - F + 1 times"
        if m == 1 and arr.shape == (length - f + 1,):
            return "keep the filter axis: the output is (L - F + 1, M), even for M = 1"
        if arr.shape == (m, length - f + 1):
            return "axes in the wrong order: the output is (L - F + 1, M), filters last"
        return "the output is (L - F + 1, M): one value per window and filter"
    if f > 1 and _close(arr, ops.conv1d(signal, kernel[::-1])):
        return ("you flipped the kernel along time (a signal-processing convolution); "
                "Conv1D slides it unflipped: y[t, m] = sum of kernel[f, d, m] * "
                "signal[t + f, d]")
    if d > 1 and _close(arr, ops.conv1d(signal[:, :1], kernel[:, :1])):
        return "only the first input channel was used: a filter covers all D channels"
    return ""


def _conv1d(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _conv1d_probes(), outputs, _conv1d_expected,
        lambda s, k: f"signal {s.shape}, kernel {k.shape}",
        _conv1d_diagnose, "match Conv1D")


# --------------------------------------------------------------------------- 4.4
# A Conv1D network: (None, 128, 1) -> (None, 128, 1), sigmoid, receptive field >= 33,
# at most 3,000 parameters.

LENGTH_44 = 128
MIN_FIELD_44 = 33
MAX_PARAMS_44 = 3000
CONV_44 = {"Conv1D", "SeparableConv1D", "DepthwiseConv1D"}
PASSIVE_44 = {"InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU",
              "Dropout", "SpatialDropout1D", "BatchNormalization",
              "LayerNormalization", "GaussianNoise"}
ACTIVATION_LAYERS = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU"}


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    if act is None:
        return {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu",
                "PReLU": "prelu"}.get(type(layer).__name__, "linear")
    return getattr(act, "__name__", str(act))


def _activation_after(layers: list[Any], i: int) -> str:
    """The activation of ``layers[i]``, or of the activation layers that follow it."""
    name = _activation_name(layers[i])
    for nxt in layers[i + 1:]:
        kind = type(nxt).__name__
        if kind in ACTIVATION_LAYERS:
            if _activation_name(nxt) != "linear":
                name = _activation_name(nxt)
        elif kind not in PASSIVE_44:
            break
    return name


def _detector(model: Any) -> tuple[Any, str]:
    try:
        in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError):
        return False, ("the model has no input shape yet: start it with "
                       f"keras.Input(shape=({LENGTH_44}, 1))")
    if in_shape != (None, LENGTH_44, 1):
        return False, (f"the input should be (None, {LENGTH_44}, 1): sequences of "
                       f"{LENGTH_44} steps with one channel; it is {in_shape}")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    kinds = [type(layer).__name__ for layer in layers]
    odd = sorted({k for k in kinds if k not in CONV_44 | PASSIVE_44 | {"Dense"}})
    if odd:
        return False, ("use Conv1D layers (plus activation, dropout or normalization "
                       "layers if you like), no " + ", ".join(odd))
    convs = [i for i, k in enumerate(kinds) if k in CONV_44 or k == "Dense"]
    if not convs or kinds[convs[0]] not in CONV_44:
        return False, "the network should start with a Conv1D layer"
    if len(out_shape) != 3:
        return False, (f"the output is {out_shape}: one probability per *time step* "
                       f"needs a 3-D output (None, {LENGTH_44}, 1), so no Flatten or "
                       "global pooling")
    if out_shape[1] != LENGTH_44:
        strided = any(max(getattr(layers[i], "strides", (1,))) > 1 for i in convs)
        hint = ("a stride > 1 shortens the output: keep strides=1" if strided else
                "padding='valid' shortens the sequence at every layer with F > 1: "
                "use padding='same'")
        return False, (f"the output has {out_shape[1]} time steps, the input "
                       f"{LENGTH_44}; {hint}")
    if out_shape[2] != 1:
        return False, (f"the output has {out_shape[2]} channels per step; the last "
                       "layer should have 1 filter (one probability per time step)")
    problems = []
    last = convs[-1]
    final = _activation_after(layers, last)
    if final == "softmax":
        problems.append("the last activation is softmax, which over a single channel "
                        "is always 1; use sigmoid for one yes/no probability")
    elif final != "sigmoid":
        problems.append(f"the last activation is {final}; use sigmoid so that each "
                        "output is a probability between 0 and 1")
    linear = [layers[i].name for i in convs[:-1]
              if _activation_after(layers, i) == "linear"]
    if linear:
        problems.append(f"hidden layer {linear[0]} has no activation: a stack of "
                        "linear convolutions is a single linear filter; use relu")
    geometry = ops.layer_geometry([layer for layer in layers
                                   if type(layer).__name__ != "Dense"])
    field = ops.receptive_field(geometry)[-1].size if geometry else 1
    if field < MIN_FIELD_44:
        problems.append(f"each output step sees {field} input steps; it should see at "
                        f"least {MIN_FIELD_44} (use larger kernels, more layers or a "
                        "dilation rate)")
    n_params = model.count_params()
    if n_params > MAX_PARAMS_44:
        problems.append(f"the model has {n_params:,} parameters, more than "
                        f"{MAX_PARAMS_44:,}: use fewer filters")
    if problems:
        return (0.5 if len(problems) == 1 else 0.25), ("right input and output shapes, "
                                                       "but " + "; ".join(problems))
    return True, f"field {field} steps, {n_params:,} params"


# --------------------------------------------------------------------------- 4.5
# A clip (16, 64, 64, 3) -> Conv3D(8, (3, 5, 5), strides=(1, 2, 2)), padding "valid"

CLIP_45 = (16, 64, 64, 3)
KERNEL_45, STRIDES_45, FILTERS_45 = (3, 5, 5), (1, 2, 2), 8


def _expected_45() -> tuple[int, int, int, int]:
    sizes = [ops.conv_output_size(n, f, s)
             for n, f, s in zip(CLIP_45[:3], KERNEL_45, STRIDES_45)]
    return (*sizes, FILTERS_45)


def _clip_shape(answer: Any) -> tuple[Any, str]:
    if isinstance(answer, np.ndarray):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)):
        return False, ("`clip_shape` should be a tuple of four numbers (frames, "
                       f"height, width, channels), not a {type(answer).__name__}")
    items = list(answer)
    if len(items) == 5 and items[0] in (None, 1):
        return False, "leave out the batch axis: give (frames, height, width, channels)"
    if len(items) == 5:
        return False, ("`clip_shape` has 5 entries: colours are the input's channels, "
                       "not a fourth position axis; the output has 3 position axes "
                       "and a channel axis")
    if len(items) != 4:
        return False, (f"`clip_shape` has {len(items)} entries; it should have 4: "
                       "(frames, height, width, channels)")
    try:
        t, h, w, c = (float(v) for v in items)
    except (TypeError, ValueError):
        return False, "every entry of `clip_shape` should be a number"
    et, eh, ew, ec = _expected_45()
    n_frames, side = CLIP_45[0], CLIP_45[1]
    problems = []
    if t != et:
        hints = {float(n_frames): "without padding, 3 frames fit fewer times than 16",
                 float(ops.conv_output_size(n_frames, 3, 2)):
                     "the stride along time is 1; only height and width use 2",
                 float(n_frames - 3): "one position short: O = I - F + 1"}
        problems.append(f"the number of frames is too {'large' if t > et else 'small'}"
                        + (f"; {hints[t]}" if t in hints else
                           "; O = floor((I - F) / S) + 1 along time too"))
    if (h, w) != (eh, ew):
        if h != w:
            problems.append("the frames and the kernel are square, so height and "
                            "width should be equal")
        else:
            hints = {float(side - 5 + 1): "the window moves 2 pixels at a time: "
                                          "divide by the stride",
                     float(math.ceil((side - 5) / 2) + 1): "round the division down "
                                                           "(floor), not up",
                     float((side - 5) // 2): "one position short: the +1 is missing",
                     float(side // 2): "without padding the 5x5 window shrinks the "
                                       "frame before the stride halves it"}
            problems.append(f"height and width are too {'large' if h > eh else 'small'}"
                            + f"; {hints.get(h, 'O = floor((I - F) / S) + 1')}")
    if c != ec:
        problems.append("the channels are wrong: the filter covers all 3 colours at "
                        "once, and the output has one channel per filter")
    if not problems:
        return True, f"correct: {et} x {eh} x {ew} x {ec}"
    return (0.5 if len(problems) == 1 else 0), "; ".join(problems)


TASKS = [
    Task("4.1", "a bottleneck", "bottleneck", _bottleneck, points=2),
    Task("4.2", "1x1 convolution", "pointwise", _pointwise,
         kind="function", probes=_pointwise_probes),
    Task("4.3", "Conv1D from scratch", "conv1d_valid", _conv1d, points=2,
         kind="function", probes=_conv1d_probes),
    Task("4.4", "a Conv1D event detector", "detector", _detector, points=2,
         kind="model"),
    Task("4.5", "a Conv3D on a video clip", "clip_shape", _clip_shape),
]
