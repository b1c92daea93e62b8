"""The checks of exercises/04_beyond_2d.ipynb, called directly: no kernel, no notebook.

For each task the right answer passes, typical mistakes get the intended status, points
and hint, and no failure message gives the expected answer away.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import ERROR, FAILED, NOT_ATTEMPTED, PASSED

from conftest import no_leak

EX = grading.exercise("04_beyond_2d")


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def test_tasks_and_points():
    assert [t.id for t in EX.tasks] == ["4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7",
                                        "4.8"]
    assert sum(t.points for t in EX.tasks) == 11
    assert EX.smoke == {}


def test_blank_answers_are_not_attempted():
    def stub(*args):
        raise NotImplementedError("replace this line with your code")

    for task in EX.tasks:
        answer = stub if task.kind == "function" else ...
        assert result(task.id, answer).status == NOT_ATTEMPTED, task.id


# --------------------------------------------------------------------------- 4.1
# 14x14x512 -> 1x1 (128) -> 3x3 (128) -> 1x1 (512), no padding

LAYERS_41 = [(14, 1, 512, 128), (12, 3, 128, 128), (12, 1, 128, 512)]
PARAMS = sum(ops.conv_params(d, f, m) for _, f, d, m in LAYERS_41)
MACS = sum(s * s * f * f * d * m for s, f, d, m in LAYERS_41)


def test_41_counts_pass_in_any_pair_form():
    for answer in [(PARAMS, MACS), [PARAMS, MACS], np.array([PARAMS, MACS]),
                   (float(PARAMS), float(MACS)), (np.int64(PARAMS), np.int64(MACS))]:
        r = result("4.1", answer)
        assert r.passed and r.points == 2, answer


def test_41_counts_agree_with_keras():
    import keras

    block = keras.Sequential([keras.Input(shape=(14, 14, 512)),
                              keras.layers.Conv2D(128, 1), keras.layers.Conv2D(128, 3),
                              keras.layers.Conv2D(512, 1)])
    assert block.count_params() == PARAMS
    assert block.output_shape == (None, 12, 12, 512)


NO_BIAS = sum(f * f * d * m for _, f, d, m in LAYERS_41)
INPUT_SIZE_MACS = sum(14 * 14 * f * f * d * m for _, f, d, m in LAYERS_41)
BIAS_ADDS = MACS + sum(s * s * m for s, _, _, m in LAYERS_41)
PLAIN_PARAMS = ops.conv_params(512, 3, 512)


@pytest.mark.parametrize("answer, points, hints", [
    ((NO_BIAS, MACS), 1, ["parameter count: 278,528 is too small", "one bias"]),
    ((PARAMS, INPUT_SIZE_MACS), 1, ["too large", "*output* size"]),
    ((NO_BIAS, INPUT_SIZE_MACS), 0, ["one bias", "*output* size"]),
    ((PARAMS, BIAS_ADDS), 1, ["bias additions are not counted"]),
    ((PLAIN_PARAMS, MACS), 1, ["plain 3x3 layer"]),
    ((ops.conv_params(128, 3, 128), MACS), 1, ["3x3 layer alone"]),
    ((PARAMS * 14 * 14, MACS), 1, ["shared across positions"]),
    ((PARAMS, 2 * MACS), 1, ["not two operations"]),
    ((PARAMS, sum(s * s * d * m for s, _, d, m in LAYERS_41)), 1, ["3 x 3 x D"]),
    ((MACS, PARAMS), 1, ["wrong order"]),
    ((123456, 7654321), 0, ["too small", "(F_h x F_w x D + 1) x M",
                            "H_o x W_o x F_h x F_w x D x M"]),
])
def test_41_mistakes_get_hints(answer, points, hints):
    r = result("4.1", answer)
    assert r.status == FAILED and r.points == points, r
    for hint in hints:
        assert hint in r.message, r.message
    if answer != (MACS, PARAMS):
        student = [v for v in answer]
        no_leak(r.message, *[v for v in (PARAMS, MACS) if v not in student])


@pytest.mark.parametrize("answer, message", [
    (PARAMS, "pair of numbers"),
    ((PARAMS,), "pair of numbers"),
    ("lots", "pair of numbers"),
    ((PARAMS, "many"), "should be a number"),
    ((None, MACS), "should be a number"),
])
def test_41_wrong_forms(answer, message):
    r = result("4.1", answer)
    assert r.status == FAILED and message in r.message, r.message


# --------------------------------------------------------------------------- 4.2


def matmul_pointwise(x, kernel, bias):
    h, w, d = x.shape
    m = kernel.shape[-1]
    return (x.reshape(h * w, d) @ kernel.reshape(d, m) + bias).reshape(h, w, m)


def test_42_matrix_product_and_loops_pass():
    assert result("4.2", matmul_pointwise).passed
    assert result("4.2", lambda x, k, b: np.einsum("hwd,dm->hwm", x, k[0, 0]) + b
                  ).passed
    assert result("4.2", lambda x, k, b: ops.conv2d(x, k, b)).passed


def test_42_missing_bias():
    r = result("4.2", lambda x, k, b: matmul_pointwise(x, k, 0 * b))
    assert r.status == FAILED and r.points == 0.25          # the zero-bias probe passes
    assert "the bias is missing" in r.message
    assert r.message.count("the bias is missing") == 1      # said once, not per probe


def test_42_transposed_kernel_and_channel_scaling():
    def transposed(x, k, b):
        h, w, d = x.shape
        mat = k[0, 0].T                                 # (M, D): fails unless D == M
        return (x.reshape(h * w, d) @ mat + b).reshape(h, w, -1)

    r = result("4.2", transposed)
    assert r.status == FAILED and "transposed" in r.message, r.message

    def scaling(x, k, b):
        d, m = k.shape[2:]
        if d == 1:
            return x * k[0, 0] + b
        return x[..., :m] * np.diagonal(k[0, 0])[:m] + b if d >= m else x

    r = result("4.2", scaling)
    assert r.status == FAILED and "pointwise scaling" in r.message, r.message
    assert r.points == 0.25                                 # only the 1-channel probe


def test_42_forgot_to_reshape_back():
    r = result("4.2", lambda x, k, b: x.reshape(-1, x.shape[-1]) @ k[0, 0] + b)
    assert r.status == FAILED and r.points == 0
    assert "reshape the (H x W, M) product back" in r.message


def test_42_crash_and_wrong_kind():
    r = result("4.2", lambda x, k, b: x @ k[0, 0].T + b)
    assert r.status == FAILED and "your function raised" in r.message
    r = result("4.2", 3.0)
    assert r.status == FAILED and "should be a function" in r.message


# --------------------------------------------------------------------------- 4.3


def loop_conv1d(signal, kernel, flip=False, step_short=False):
    f = kernel.shape[0]
    k = kernel[::-1] if flip else kernel
    n = signal.shape[0] - f + (0 if step_short else 1)
    out = np.zeros((n, kernel.shape[-1]))
    for t in range(n):
        out[t] = np.tensordot(signal[t:t + f], k, axes=2)
    return out


def test_43_loop_passes():
    r = result("4.3", loop_conv1d)
    assert r.passed and r.points == 2


def test_43_flipped_kernel():
    r = result("4.3", lambda s, k: loop_conv1d(s, k, flip=True))
    assert r.status == FAILED and r.points == 0.4           # the F = 1 probe passes
    assert "flipped the kernel along time" in r.message, r.message


def test_43_one_step_short():
    r = result("4.3", lambda s, k: loop_conv1d(s, k, step_short=True))
    assert r.status == FAILED and r.points == 0
    assert "one step short" in r.message


def test_43_same_length_and_first_channel_only():
    r = result("4.3", lambda s, k: ops.conv1d(s, k, padding="same"))
    assert r.status == FAILED and "no padding here" in r.message
    r = result("4.3", lambda s, k: ops.conv1d(s[:, :1], k[:, :1]))
    assert r.status == FAILED and r.points == 0.4           # the D = 1 probe passes
    assert "only the first input channel" in r.message


def test_43_dropped_filter_axis():
    r = result("4.3", lambda s, k: ops.conv1d(s, k)[:, 0])
    assert r.status == FAILED and "keep the filter axis" in r.message


# --------------------------------------------------------------------------- 4.4


def detector(kernel=13, filters=8, n_hidden=3, padding="same", last=1,
             last_activation="sigmoid", hidden_activation="relu", strides=1,
             head=None):
    import keras
    from keras import layers

    hidden = [layers.Conv1D(filters, kernel, padding=padding, strides=strides,
                            activation=hidden_activation) for _ in range(n_hidden)]
    if head is None:
        head = [layers.Conv1D(last, 1, activation=last_activation)]
    return keras.Sequential([keras.Input(shape=(128, 1)), *hidden, *head])


def test_44_solution_passes():
    r = result("4.4", detector())
    assert r.passed and r.points == 2 and not re.search(r"\d", r.message), r.message


def test_44_other_good_designs_pass():
    import keras
    from keras import layers

    assert result("4.4", detector(head=[layers.Dense(1, activation="sigmoid")])).passed
    assert result("4.4", detector(head=[layers.Conv1D(1, 1),
                                        layers.Activation("sigmoid")])).passed
    dilated = keras.Sequential([
        keras.Input(shape=(128, 1)),
        layers.Conv1D(8, 3, padding="same", activation="relu"),
        layers.Conv1D(8, 3, padding="same", dilation_rate=2, activation="relu"),
        layers.Conv1D(8, 3, padding="same", dilation_rate=4, activation="relu"),
        layers.Conv1D(8, 3, padding="same", dilation_rate=8, activation="relu"),
        layers.Conv1D(8, 3, padding="same", dilation_rate=2, activation="relu"),
        layers.Conv1D(1, 1, activation="sigmoid")])
    r = result("4.4", dilated)
    assert r.passed, r.message                               # field 35


@pytest.mark.parametrize("kwargs, points, hint", [
    (dict(padding="valid"), 0, "use padding='same'"),
    (dict(strides=2), 0, "keep strides=1"),
    (dict(last=2), 0, "1 filter"),
    (dict(last_activation="softmax"), 1, "always 1"),
    (dict(last_activation="relu"), 1, "use sigmoid"),
    (dict(kernel=11), 1, "each output step sees 31 input steps"),
    (dict(filters=16), 1, "more than 3,000"),
    (dict(hidden_activation=None), 1, "single linear filter"),
    (dict(kernel=5, last_activation=None), 0.5, "use sigmoid"),
])
def test_44_mistakes_get_hints(kwargs, points, hint):
    r = result("4.4", detector(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_44_wrong_input_and_layers():
    import keras
    from keras import layers

    wrong_input = keras.Sequential([keras.Input(shape=(128,)), layers.Reshape((128, 1)),
                                    layers.Conv1D(1, 1, activation="sigmoid")])
    r = result("4.4", wrong_input)
    assert r.status == FAILED and "(None, 128, 1)" in r.message
    per_sequence = detector(head=[layers.GlobalMaxPooling1D(),
                                  layers.Dense(1, activation="sigmoid")])
    r = result("4.4", per_sequence)
    assert r.status == FAILED and "GlobalMaxPooling1D" in r.message
    flat = detector(head=[layers.Flatten(), layers.Dense(128, activation="sigmoid")])
    r = result("4.4", flat)
    assert r.status == FAILED and "Flatten" in r.message
    r = result("4.4", "a model")
    assert r.status == FAILED and "should be a Keras model" in r.message


# --------------------------------------------------------------------------- 4.5

CLIP = (14, 30, 30, 8)


def test_45_shape_passes_and_matches_keras():
    import keras

    layer = keras.layers.Conv3D(8, (3, 5, 5), strides=(1, 2, 2))
    assert tuple(layer.compute_output_shape((None, 16, 64, 64, 3)))[1:] == CLIP
    for answer in [CLIP, list(CLIP), np.array(CLIP), tuple(float(v) for v in CLIP)]:
        assert result("4.5", answer).passed, answer


@pytest.mark.parametrize("answer, points, hint", [
    ((16, 30, 30, 8), 0.5, "3 frames fit fewer times"),
    ((7, 30, 30, 8), 0.5, "stride along time is 1"),
    ((13, 30, 30, 8), 0.5, "O = I - F + 1"),
    ((14, 60, 60, 8), 0.5, "divide by the stride"),
    ((14, 31, 31, 8), 0.5, "round the division down"),
    ((14, 29, 29, 8), 0.5, "count the positions again"),
    ((14, 32, 32, 8), 0.5, "shrinks the frame"),
    ((14, 30, 30, 3), 0.5, "one channel per filter"),
    ((14, 30, 30, 24), 0.5, "one channel per filter"),
    ((14, 30, 31, 8), 0.5, "should be equal"),
    ((16, 60, 60, 8), 0, "3 frames fit fewer times"),
    ((14, 30, 30, 1, 8), 0, "colours are the input's channels"),
    ((None, 14, 30, 30, 8), 0, "batch axis"),
    ((14, 30, 30), 0, "should have 4"),
    ("14x30x30x8", 0, "tuple of four numbers"),
])
def test_45_mistakes_get_hints(answer, points, hint):
    r = result("4.5", answer)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    assert "14 x 30" not in r.message and "(14, 30" not in r.message


# --------------------------------------------------------------------------- 4.6
# how many times fewer multiply-adds than the plain 3x3 layer (no padding anywhere)

PLAIN_MACS = 12 * 12 * 9 * 512 * 512
RATIO = PLAIN_MACS / MACS


def test_46_ratio_passes_rounded_or_not():
    assert 7.8 < RATIO < 7.81
    for answer in (RATIO, 7.8, 7.81, np.float64(RATIO), np.array(RATIO)):
        r = result("4.6", answer)
        assert r.passed and r.message == "correct", (answer, r.message)


@pytest.mark.parametrize("answer, hint", [
    (MACS / PLAIN_MACS, "divides the plain layer's count by the bottleneck's"),
    (ops.conv_params(512, 3, 512) / PARAMS, "ratio of the parameters"),
    (14 * 14 * 9 * 512 * 512 / INPUT_SIZE_MACS, "\"same\" padding"),
    (14 * 14 * 9 * 512 * 512 / MACS, "not padded either"),
    (PLAIN_MACS / INPUT_SIZE_MACS, "only the first 1x1 layer works on the full map"),
    (9.0, "divide the multiply-adds of the plain Conv2D(512, (3, 3))"),
    (7.7, "divide the multiply-adds"),
])
def test_46_slips_get_hints(answer, hint):
    r = result("4.6", answer)
    assert r.status == FAILED and r.points == 0, r
    assert hint in r.message, r.message
    assert "7.8" not in r.message


def test_46_wrong_forms():
    assert "should be a number" in result("4.6", "7.8").message
    assert "should be a number" in result("4.6", (7.8, 8.4)).message
    assert result("4.6", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 4.7
# SeparableConv2D(256, 3) on 128 channels: 3x3 depthwise without bias, then 1x1 with bias

SEPARABLE = 3 * 3 * 128 + (128 + 1) * 256


def test_47_count_passes_and_is_what_keras_counts():
    import keras

    layer = keras.layers.SeparableConv2D(256, (3, 3), padding="same")
    layer.build((None, 28, 28, 128))
    assert layer.count_params() == SEPARABLE
    for answer in (SEPARABLE, float(SEPARABLE), np.int64(SEPARABLE)):
        r = result("4.7", answer)
        assert r.passed and not re.search(r"\d", r.message), r.message


@pytest.mark.parametrize("answer, hint", [
    (SEPARABLE + 128, "depthwise step has no bias"),
    (3 * 3 * 128 + 128 * 256, "a bias for each of its filters"),
    (3 * 3 * 128 * 256 + (128 + 1) * 256, "one 3x3 filter per *input* channel"),
    (ops.conv_params(128, 3, 256), "that is the standard Conv2D"),
    (3 * 3 * 128, "the 1x1 step, which mixes the channels, has parameters too"),
    ((128 + 1) * 256, "the depthwise 3x3 step has weights too"),
    (3 * 3 * 128 + (128 + 1) * 128, "to the layer's 256 filters"),
    (SEPARABLE * 28 * 28, "shared across positions"),
    (40_000, "add the depthwise step's F x F x D weights"),
])
def test_47_slips_get_hints(answer, hint):
    r = result("4.7", answer)
    assert r.status == FAILED and r.points == 0, r
    assert hint in r.message, r.message
    no_leak(r.message, SEPARABLE)


# --------------------------------------------------------------------------- 4.8


def test_48_right_letter_in_any_case():
    for answer in ("b", "B", " b "):
        assert result("4.8", answer).passed


@pytest.mark.parametrize("letter, why", [
    ("a", "does feed a colour image to a Conv3D"),
    ("c", "27 weights"),
    ("d", "depthwise convolution"),
])
def test_48_each_wrong_option_names_its_misconception(letter, why):
    r = result("4.8", letter)
    assert r.status == FAILED and why in r.message, r.message
    assert "'b'" not in r.message and "option b" not in r.message


def test_48_not_a_letter():
    assert "one of the letters" in result("4.8", "e").message
    assert "one of the letters" in result("4.8", 2).message
    assert result("4.8", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- delegation
# Counts "worked out by hand" earn nothing when the answer is computed with ops or Keras.

IMPORTS = "import keras\nfrom keras import layers\nfrom cnn_helpers import grading, ops\n"


@pytest.mark.delegation
@pytest.mark.parametrize("task_id, answer, code", [
    ("4.1", (PARAMS, MACS), "block = keras.Sequential([keras.Input(shape=(14, 14, 512)),"
                            " layers.Conv2D(128, 1), layers.Conv2D(128, 3),"
                            " layers.Conv2D(512, 1)])\n"
                            f"bottleneck = (block.count_params(), {MACS})"),
    ("4.5", CLIP, "clip_shape = layers.Conv3D(8, (3, 5, 5), strides=(1, 2, 2))"
                  ".compute_output_shape((None, 16, 64, 64, 3))[1:]"),
    ("4.5", CLIP, "frames = ops.conv_output_size(16, 3)\n"
                  "side = ops.conv_output_size(64, 5, 2)\n"
                  "clip_shape = (frames, side, side, 8)"),
    ("4.6", RATIO, "plain_side = layers.Conv2D(512, 3).compute_output_shape("
                   "(None, 14, 14, 512))[1]\n"
                   f"times_cheaper = plain_side * plain_side * 9 * 512 * 512 / {MACS}"),
    ("4.7", SEPARABLE, "layer = layers.SeparableConv2D(256, 3)\n"
                       "layer.build((None, 28, 28, 128))\n"
                       "separable_params = layer.count_params()"),
    ("4.7", SEPARABLE, "separable_params = ops.depthwise_params(128, 3, use_bias=False)"
                       " + ops.conv_params(128, 1, 256)"),
])
def test_counts_from_keras_or_ops_earn_nothing(task_id, answer, code):
    r = EX.result(task_id, answer, sources=[IMPORTS, code])
    assert r.status == FAILED and r.points == 0, r
    assert "no credit" in r.message and "yourself" in r.message, r.message


@pytest.mark.delegation
def test_counts_by_hand_pass_with_keras_used_afterwards():
    code = ("side_3x3 = 14 - 3 + 1\n"
            "layer_list = [(14, 1, 512, 128), (side_3x3, 3, 128, 128), (side_3x3, 1, 128, 512)]\n"
            "n_params = sum((f * f * d + 1) * m for _, f, d, m in layer_list)\n"
            "n_macs = sum(s * s * f * f * d * m for s, f, d, m in layer_list)\n"
            "bottleneck = (n_params, n_macs)\n"
            "block = keras.Sequential([keras.Input(shape=(14, 14, 512)), layers.Conv2D(128, 1)])\n"
            "assert block.count_params() > 0\n")
    assert EX.result("4.1", (PARAMS, MACS), sources=[IMPORTS, code]).passed
    ratio = code + "times_cheaper = 12 * 12 * 9 * 512 * 512 / bottleneck[1]\n"
    assert EX.result("4.6", RATIO, sources=[IMPORTS, ratio]).passed


def test_check_errors_are_reported_not_raised():
    r = result("4.3", lambda s, k: None)
    assert r.status == FAILED and "returned None" in r.message
    assert r.status != ERROR and PASSED != r.status
