"""Exercise 4: 1x1, 1D and 3D convolutions
(exercises/04_beyond_2d.ipynb).

Numeric answers are compared with
:func:`~cnn_helpers.grading.checks.number_answer`, which says only whether a wrong
answer is too large or too small (never by how much), and then names the typical slip
that the value matches. Expected values are computed with :mod:`cnn_helpers.ops`. The
number tasks ask for counts worked out by hand: an answer computed with ``ops`` or Keras
earns nothing (``BY_HAND``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnn_helpers import ops
from cnn_helpers.grading.exercises import NUMPY_ONLY
from cnn_helpers.grading import (
    Problems,
    Task,
    activation_after,
    arrays_agree,
    as_float_array,
    choice,
    model_shapes,
    number_answer,
    partial_for,
    probe_rng,
    probe_verdict,
)
from cnn_helpers.grading.checks import shown_number

SMOKE: dict[str, Any] = {}      # nothing trains: the grader runs the real settings

#: What a count "worked out by hand" may not be computed with: the book's reference
#: implementations and Keras (which the statements allow *afterwards*, to compare).
BY_HAND = ("cnn_helpers.ops", "keras", "tensorflow", "jax", "torch")


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
            message = f"{what} is right"
        elif value is not None and value.is_integer() and int(value) in hints:
            message += f"; {hints[int(value)]}"
        elif value is not None and what == "the parameter count":
            message += "; add up (F_h x F_w x D + 1) x M over the three layers"
        elif value is not None:
            message += ("; add up H_o x W_o x F_h x F_w x D x M over the three layers "
                        "(H_o, W_o: the layer's output size)")
        parts.append(message)
    if score == 1.0:
        return True, "correct: both counts"
    return score, "; ".join(parts)


# --------------------------------------------------------------------------- 4.2
# pointwise(x, kernel, bias): x (H, W, D), kernel (1, 1, D, M), bias (M,)


def _pointwise_probes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = probe_rng(402)
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
    if bias.any() and arrays_agree(arr, expected - bias):
        return "the bias is missing"
    if d == m and arrays_agree(arr, (x.reshape(-1, d) @ matrix.T + bias).reshape(h, w, m)):
        return ("the kernel is transposed: kernel[0, 0, d, m] is the weight from input "
                "channel d to filter m, so rows are input channels")
    if d == m and arrays_agree(arr, x * np.diagonal(matrix) + bias):
        return ("that scales each channel on its own (the notes' 'pointwise "
                "scaling'); a 1x1 convolution mixes the channels: output m is "
                "b[m] + sum over d of w[d, m] x[:, :, d]")
    return ""


def _pointwise(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _pointwise_probes(), outputs, _pointwise_expected,
        lambda x, k, b: f"input {x.shape}, kernel {k.shape}",
        _pointwise_diagnose, "right")


# --------------------------------------------------------------------------- 4.3
# conv1d_valid(signal, kernel): signal (L, D), kernel (F, D, M) -> (L - F + 1, M)


def _conv1d_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = probe_rng(403)
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
    if f > 1 and arrays_agree(arr, ops.conv1d(signal, kernel[::-1])):
        return ("you flipped the kernel along time (a signal-processing convolution); "
                "Conv1D slides it unflipped: y[t, m] = sum of kernel[f, d, m] * "
                "signal[t + f, d]")
    if d > 1 and arrays_agree(arr, ops.conv1d(signal[:, :1], kernel[:, :1])):
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
#: Layers between a convolution and its activation that neither change it nor are one.
_BETWEEN_44 = {"Dropout", "SpatialDropout1D", "BatchNormalization", "LayerNormalization",
               "GaussianNoise"}


def _activation_44(layers: list[Any], i: int) -> str:
    """The activation after ``layers[i]``, looking past the 1-D normalization and noise
    layers as well as those :func:`activation_after` skips."""
    kept = [layer for j, layer in enumerate(layers)
            if j == i or type(layer).__name__ not in _BETWEEN_44]
    return activation_after(kept, kept.index(layers[i]))


def _detector_shape(model: Any) -> tuple[list[Any], list[int], str]:
    """The layers (input layer left out) and the indices of those with weights, or a
    message saying why the model is not a per-step Conv1D detector at all."""
    _, out_shape, problem = model_shapes(model, (None, LENGTH_44, 1))
    if problem:
        return [], [], problem
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    kinds = [type(layer).__name__ for layer in layers]
    odd = sorted({k for k in kinds if k not in CONV_44 | PASSIVE_44 | {"Dense"}})
    if odd:
        return [], [], ("use Conv1D layers (plus activation, dropout or normalization "
                        "layers if you like), no " + ", ".join(odd))
    convs = [i for i, k in enumerate(kinds) if k in CONV_44 or k == "Dense"]
    if not convs or kinds[convs[0]] not in CONV_44:
        return [], [], "the network should start with a Conv1D layer"
    if len(out_shape) != 3:
        return [], [], (f"the output is {out_shape}: one probability per *time step* "
                         f"needs a 3-D output (None, {LENGTH_44}, 1), so no Flatten or "
                         "global pooling")
    if out_shape[1] != LENGTH_44:
        strided = any(max(getattr(layers[i], "strides", (1,))) > 1 for i in convs)
        hint = ("a stride > 1 shortens the output: keep strides=1" if strided else
                "padding='valid' shortens the sequence at every layer with F > 1: "
                "use padding='same'")
        return [], [], (f"the output has {out_shape[1]} time steps, the input "
                        f"{LENGTH_44}; {hint}")
    if out_shape[2] != 1:
        return [], [], (f"the output has {out_shape[2]} channels per step; the last "
                        "layer should have 1 filter (one probability per time step)")
    return layers, convs, ""


def _detector_problems(model: Any, layers: list[Any], convs: list[int]) -> Problems:
    """What is wrong with a detector of the right shape: activations, field, size."""
    problems = Problems(limit=4)
    final = _activation_44(layers, convs[-1])
    if final == "softmax":
        problems.add("last", "the last activation is softmax, which over a single channel "
                             "is always 1; use sigmoid for one yes/no probability")
    elif final != "sigmoid":
        problems.add("last", f"the last activation is {final}; use sigmoid so that each "
                             "output is a probability between 0 and 1")
    linear = [layers[i].name for i in convs[:-1] if _activation_44(layers, i) == "linear"]
    if linear:
        problems.add("linear", f"hidden layer {linear[0]} has no activation: a stack of "
                               "linear convolutions is a single linear filter; use relu")
    geometry = ops.layer_geometry([layer for layer in layers
                                   if type(layer).__name__ != "Dense"])
    field = ops.receptive_field(geometry)[-1].size if geometry else 1
    if field < MIN_FIELD_44:
        problems.add("field", f"each output step sees {field} input steps; it should see "
                              f"at least {MIN_FIELD_44} (use larger kernels, more layers "
                              "or a dilation rate)")
    n_params = model.count_params()
    if n_params > MAX_PARAMS_44:
        problems.add("size", f"the model has {n_params:,} parameters, more than "
                             f"{MAX_PARAMS_44:,}: use fewer filters")
    return problems


def _detector(model: Any) -> tuple[Any, str]:
    layers, convs, problem = _detector_shape(model)
    if problem:
        return False, problem
    problems = _detector_problems(model, layers, convs)
    if problems:
        return partial_for(problems), ("right input and output shapes, but "
                                       + problems.text())
    return True, ("right: the length is kept, each step sees a whole event, and the "
                  "model is small enough")


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
                 float(n_frames - 3): "count the positions again: O = I - F + 1"}
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
                     float((side - 5) // 2): ("count the positions again: "
                                              "O = floor((I - F) / S) + 1"),
                     float(side // 2): "without padding the 5x5 window shrinks the "
                                       "frame before the stride halves it"}
            problems.append(f"height and width are too {'large' if h > eh else 'small'}"
                            + f"; {hints.get(h, 'O = floor((I - F) / S) + 1')}")
    if c != ec:
        problems.append("the channels are wrong: the filter covers all 3 colours at "
                        "once, and the output has one channel per filter")
    if not problems:
        return True, "correct"
    return (0.5 if len(problems) == 1 else 0), "; ".join(problems)


# --------------------------------------------------------------------------- 4.6
# How many times fewer multiply-adds the bottleneck of 4.1 needs than the plain 3x3 layer.

#: A ratio rounded to one decimal is right: 7.8 for 7.807...
ROUNDING_46 = 0.05


def _ratio_46() -> float:
    return _plain_counts()[1] / _bottleneck_counts()[1]


def _ratio_hints() -> list[tuple[float, str]]:
    """Ratios that typical slips give, each with its hint."""
    _, macs = _bottleneck_counts()
    plain_params, plain_macs = _plain_counts()
    params, _ = _bottleneck_counts()
    unshrunk_plain = SIDE_41 * SIDE_41 * 9 * WIDE_41 * WIDE_41
    full_size = _bottleneck_counts(sides=[SIDE_41] * 3)[1]
    padded = ("that is about the ratio of the parameters, or of the multiply-adds with "
              "\"same\" padding (the chapter's case); here nothing is padded: compare "
              "the multiply-adds")
    return [
        (macs / plain_macs, "that is the bottleneck's cost as a share of the plain "
                            "layer's; \"how many times cheaper\" divides the plain "
                            "layer's count by the bottleneck's"),
        (plain_params / params, padded),
        (unshrunk_plain / full_size, padded),
        (unshrunk_plain / macs, "the plain 3x3 layer is not padded either: its output "
                                "map is smaller than its input"),
        (plain_macs / full_size, "in the bottleneck only the first 1x1 layer works on "
                                 "the full map: count the others on the map the 3x3 "
                                 "layer leaves (task 4.1)"),
    ]


def _times_cheaper(answer: Any) -> tuple[Any, str]:
    expected = _ratio_46()
    _, message, value = number_answer(answer, expected, what="`times_cheaper`")
    if value is None:
        return False, message
    if abs(value - expected) <= ROUNDING_46 + 1e-12:
        return True, "correct"
    message = f"{shown_number(value)} is too {'large' if value > expected else 'small'}"
    for ratio, hint in _ratio_hints():
        if abs(value - ratio) <= ROUNDING_46 + 1e-12:
            return False, f"{message}; {hint}"
    return False, (f"{message}; divide the multiply-adds of the plain Conv2D(512, (3, 3)) "
                   "by those of the bottleneck (task 4.1), each counted on the layer's "
                   "output map")


# --------------------------------------------------------------------------- 4.7
# Parameters of SeparableConv2D(256, (3, 3)) on 28x28 maps with 128 channels: a 3x3
# depthwise step without bias (Keras), then a 1x1 convolution 128 -> 256 with biases.

D_47, M_47, F_47, SIDE_47 = 128, 256, 3, 28


def _separable_parts() -> tuple[int, int]:
    """(depthwise weights, 1x1 parameters) of the separable layer."""
    return (ops.depthwise_params(D_47, F_47, use_bias=False),
            ops.conv_params(D_47, 1, M_47))


def _separable_hints() -> dict[int, str]:
    depth, point = _separable_parts()
    standard = ops.conv_params(D_47, F_47, M_47)
    shared = ("weights are shared across positions: the map size does not enter the "
              "parameter count")
    return {
        depth + D_47 + point: "Keras' depthwise step has no bias; only the 1x1 step has "
                              "one per output channel",
        depth + D_47 * M_47: "the 1x1 step has a bias for each of its filters",
        F_47 * F_47 * D_47 * M_47 + point: (
            "the depthwise step has one 3x3 filter per *input* channel, each on its own "
            "channel: F x F x D weights, not F x F x D per output channel"),
        standard: "that is the standard Conv2D; the separable layer splits it into a "
                  "depthwise step and a 1x1 step",
        depth: "the 1x1 step, which mixes the channels, has parameters too",
        point: "the depthwise 3x3 step has weights too",
        depth + ops.conv_params(D_47, 1, D_47): (
            "the 1x1 step goes from the input channels to the layer's 256 filters"),
        depth + ops.conv_params(D_47, F_47, M_47): "the second step is a 1x1 convolution",
        (depth + point) * SIDE_47 * SIDE_47: shared,
        (depth + point) * (SIDE_47 - 2) ** 2: shared,
    }


def _separable(answer: Any) -> tuple[Any, str]:
    depth, point = _separable_parts()
    ok, message, value = number_answer(answer, depth + point, what="`separable_params`")
    if ok or value is None:
        return ok, message
    hints = _separable_hints()
    if value.is_integer() and int(value) in hints:
        return False, f"{message}; {hints[int(value)]}"
    return False, (f"{message}; add the depthwise step's F x F x D weights and the 1x1 "
                   "step's (D + 1) x M parameters")


# --------------------------------------------------------------------------- 4.8
# Why colour images get a 2-D convolution (section 4.5 of the chapter): a letter.

LETTERS_48 = ("a", "b", "c", "d")
WHY_WRONG_48 = {
    "a": ("section 4.5 of the chapter does feed a colour image to a Conv3D, as a "
          "32x32x3 volume with one channel, and it runs"),
    "c": ("count again: a 3x3x3 kernel as deep as the colour axis has 27 weights, as "
          "many as a 3x3 window over 3 channels (section 4.5 prints both layers' "
          "parameters)"),
    "d": ("a Conv2D filter covers all input channels at once (chapter 1); filtering each "
          "channel on its own is the depthwise convolution"),
}


def _why_2d(answer: Any) -> tuple[Any, str]:
    return choice(answer, "b", LETTERS_48, why_wrong=WHY_WRONG_48, what="`why_2d`")


TASKS = [
    Task("4.1", "a bottleneck", "bottleneck", _bottleneck, points=2, forbid=BY_HAND),
    Task("4.2", "1x1 convolution", "pointwise", _pointwise,
         kind="function", probes=_pointwise_probes),
    Task("4.3", "Conv1D from scratch", "conv1d_valid", _conv1d, points=2,
         kind="function", probes=_conv1d_probes, forbid=NUMPY_ONLY),
    Task("4.4", "a Conv1D event detector", "detector", _detector, points=2,
         kind="model"),
    Task("4.5", "a Conv3D on a video clip", "clip_shape", _clip_shape, forbid=BY_HAND),
    Task("4.6", "how many times cheaper", "times_cheaper", _times_cheaper, forbid=BY_HAND),
    Task("4.7", "a depthwise-separable layer", "separable_params", _separable,
         forbid=BY_HAND),
    Task("4.8", "why RGB gets Conv2D", "why_2d", _why_2d),
]
