"""The checks of exercise 3 (pooling), called directly: no kernel, no notebook.

For each task the right answer passes, typical mistakes get the intended status, points
and hint, and no failure message gives the expected answer away.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED, PASSED

from conftest import no_leak

EX3 = grading.exercise("03_pooling")


def _result(task_id: str, answer) -> grading.Result:
    return EX3.result(task_id, answer)


# --------------------------------------------------------------------------- 3.1


def test_31_shape_passes_in_any_sequence_form():
    for answer in [(6, 6, 32), [6, 6, 32], np.array([6, 6, 32]), (6.0, 6.0, 32.0)]:
        assert _result("3.1", answer).passed, answer


@pytest.mark.parametrize("answer, hint, points", [
    ((7, 7, 32), "rounds an odd size down", 0),
    ((26, 26, 32), "strides default to the pool size", 0),
    ((8, 8, 32), "shrinks each map", 0),
    ((28, 28, 32), "pooling layers are missing", 0),
    ((5, 5, 32), "not I - F", 0),
    ((3, 3, 32), "follow the size through all four layers", 0),
    ((6, 6, 8), "pooling keeps the depth", 0.5),
    ((6, 6, 3), "pooling keeps the depth", 0.5),
    ((7, 7, 8), "pooling keeps the depth", 0),
    ((6, 7, 32), "should be equal", 0),
    ((None, 6, 6, 32), "batch axis", 0),
    ((6, 6), "should have 3", 0),
    ("6x6x32", "tuple of three numbers", 0),
])
def test_31_mistakes_get_hints(answer, hint, points):
    result = _result("3.1", answer)
    assert result.status == FAILED and result.points == points
    assert hint in result.message, result.message
    assert "6 x 6" not in result.message and "(6, 6" not in result.message


# --------------------------------------------------------------------------- 3.2

SAVED = ops.dense_params(25 * 25 * 64, 10) - ops.dense_params(12 * 12 * 64, 10)


def test_32_saving_passes():
    assert _result("3.2", SAVED).passed and _result("3.2", float(SAVED)).passed
    assert _result("3.2", np.int64(SAVED)).passed


@pytest.mark.parametrize("answer, hint", [
    (ops.dense_params(25 * 25 * 64, 10) - ops.dense_params(13 * 13 * 64, 10),
     "rounds down"),
    (0.75 * ops.dense_params(25 * 25 * 64, 10), "not exactly 3/4"),
    (0.75 * 25 * 25 * 64 * 10, "not exactly 3/4"),
    ((25 * 25 - 12 * 12) * 10, "Flatten passes all the maps"),
    (ops.dense_params(25 * 25 * 64, 10), "head without pooling"),
    (ops.dense_params(12 * 12 * 64, 10), "head with pooling"),
    (-SAVED, "sign is wrong"),
    (4.34, "not a ratio"),
    (12345, "pooling itself has no parameters"),
])
def test_32_mistakes_get_hints(answer, hint):
    result = _result("3.2", answer)
    assert result.status == FAILED and result.points == 0
    assert hint in result.message, result.message
    no_leak(result.message, SAVED)


def test_32_says_direction_not_offset():
    result = _result("3.2", SAVED + 1000)
    assert "too large" in result.message and "1,000" not in result.message
    assert "should be a number" in _result("3.2", "lots").message
    assert "should be a number" in _result("3.2", None).message


# --------------------------------------------------------------------------- 3.3

_REDUCE = {"max": np.max, "avg": np.mean, "l2": lambda w: np.sqrt(np.sum(w ** 2))}


def _loop_pool(x, size, mode="max", stride=None, ceil=False):
    stride = stride or size
    n_rows = (x.shape[0] - size) // stride + 1
    n_cols = (x.shape[1] - size) // stride + 1
    if ceil:
        n_rows, n_cols = math.ceil(x.shape[0] / size), math.ceil(x.shape[1] / size)
    out = np.zeros((n_rows, n_cols))
    for j in range(n_rows):
        for k in range(n_cols):
            window = x[j * stride:j * stride + size, k * stride:k * stride + size]
            out[j, k] = _REDUCE[mode](window)
    return out


def test_33_loop_passes():
    result = _result("3.3", _loop_pool)
    assert result.passed and result.points == 3


def test_33_stride_one_gets_no_points_and_a_hint():
    result = _result("3.3", lambda x, s, m: _loop_pool(x, s, m, stride=1))
    assert result.status == FAILED and result.points == 0
    assert "stride = size" in result.message and "the same mistake" in result.message


def test_33_rounding_up_fails_only_the_odd_probes():
    result = _result("3.3", lambda x, s, m: _loop_pool(x, s, m, ceil=True))
    assert result.status == FAILED and result.points == 2      # 6 of 9 probes
    assert "drops the leftover rows and columns" in result.message


def test_33_sum_for_average_and_l2_without_root():
    def wrong(x, s, m):
        out = _loop_pool(x, s, m)
        return out * s * s if m == "avg" else out ** 2 if m == "l2" else out
    result = _result("3.3", wrong)
    assert result.status == FAILED and result.points == 1      # the 3 max probes
    assert "sum of each window" in result.message
    assert "square root is missing" in result.message


def test_33_root_mean_square_and_max_from_zero():
    def wrong(x, s, m):
        out = _loop_pool(x, s, m)
        return out / s if m == "l2" else np.maximum(out, 0) if m == "max" else out
    result = _result("3.3", wrong)
    assert result.status == FAILED and 0 < result.points < 3
    assert "root *mean* square" in result.message
    assert "all negative gets 0" in result.message


def test_33_unhandled_mode_crash_and_not_implemented():
    none = _result("3.3", lambda x, s, m: None if m == "l2" else _loop_pool(x, s, m))
    assert none.points == 2 and "returned None for 'l2'" in none.message
    crash = _result("3.3", lambda x, s, m: x[s, m])
    assert crash.status == FAILED and "raised" in crash.message

    def todo(x, s, m):
        raise NotImplementedError("replace this line with your code")
    assert _result("3.3", todo).status == NOT_ATTEMPTED
    assert "function" in _result("3.3", 42).message


# --------------------------------------------------------------------------- 3.4

FIELD = 20


def test_34_field_passes():
    assert _result("3.4", FIELD).passed and _result("3.4", 20.0).passed
    assert ops.receptive_field([("c1", 5, 1), ("p1", 2, 2), ("c2", 3, 1), ("p2", 2, 2),
                                ("c3", 3, 1)])[-1].size == FIELD


@pytest.mark.parametrize("answer, hint", [
    (11, "as if neighbouring units were always 1 pixel apart"),
    (15, "product of all strides so far"),
    (23, "jump of the layer *before* it"),
    (17, "pooling windows widen the field"),
    (180, "multiplied field sizes"),      # 5 * 2 * 3 * 2 * 3
    (60, "multiplied field sizes"),       # the lecture notes' "3 x 4 = 12" rule
    (12, "r = r + (F - 1) x jump"),      # no recognised slip: the recurrence
])
def test_34_mistakes_get_hints(answer, hint):
    result = _result("3.4", answer)
    assert result.status == FAILED and result.points == 0
    assert hint in result.message, result.message
    no_leak(result.message, FIELD)


def test_34_pixel_count_gets_half():
    result = _result("3.4", FIELD * FIELD)
    assert result.status == FAILED and result.points == 1
    assert "its side" in result.message
    no_leak(result.message, FIELD)


# --------------------------------------------------------------------------- 3.5


def _model(*, filters=(32, 64), padding="valid", head="gap", strides=None, order="cpcp",
           conv_act="relu", out_act="softmax", shape=(28, 28, 1), split=False):
    import keras
    from keras import layers

    def conv(n):
        if split:
            return [layers.Conv2D(n, (3, 3), padding=padding),
                    layers.Activation("relu")]
        return [layers.Conv2D(n, (3, 3), activation=conv_act, padding=padding)]

    pool = [layers.MaxPooling2D((2, 2), strides=strides)]
    last = [layers.MaxPooling2D()]
    body = {"cpcp": conv(filters[0]) + pool + conv(filters[1]) + last,
            "ccpp": conv(filters[0]) + conv(filters[1]) + pool + last}
    bridge = {"gap": [layers.GlobalAveragePooling2D()], "flat": [layers.Flatten()],
              "gmp": [layers.GlobalMaxPooling2D()]}[head]
    return keras.Sequential([keras.Input(shape=shape), *body[order], *bridge,
                             layers.Dropout(0.1), layers.Dense(10, activation=out_act)])


def test_35_right_models_pass():
    import keras
    from keras import layers

    for kwargs in [{}, {"padding": "same", "filters": (16, 32)}, {"split": True}]:
        result = _result("3.5", _model(**kwargs))
        assert result.passed, (kwargs, result.message)
    assert "26, 13, 11, 5" in _result("3.5", _model()).message
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.MaxPooling2D()(layers.Conv2D(8, 3, activation="relu")(inputs))
    h = layers.MaxPooling2D()(layers.Conv2D(8, 3, activation="relu")(h))
    outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    assert _result("3.5", keras.Model(inputs, outputs)).passed       # functional API


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"head": "flat"}, "uses Flatten", 0),
    ({"head": "gmp"}, "has GlobalMaxPooling2D", 0),
    ({"order": "ccpp"}, "yours are Conv2D, Conv2D, MaxPooling2D", 0),
    ({"shape": (28, 28, 3)}, "(None, 28, 28, 1)", 0),
    ({"strides": 1}, "should halve them", 1),
    ({"out_act": None}, "softmax", 1),
    ({"conv_act": None}, "relu", 1),
    ({"filters": (32, 128)}, "between 8 and 64", 1),
    ({"filters": (32, 128), "out_act": None}, "softmax", 0.5),
])
def test_35_mistakes(kwargs, hint, points):
    result = _result("3.5", _model(**kwargs))
    assert result.status == FAILED and result.points == points, result
    assert hint in result.message, result.message


def test_35_not_a_model():
    result = _result("3.5", "my model")
    assert result.status == FAILED and "Keras model" in result.message
    assert _result("3.5", Ellipsis).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 3.6


def test_36_history():
    class History:   # what keras.Model.fit returns, as far as export is concerned
        history = {"loss": [2.2, 1.5, 0.9], "accuracy": [0.2, 0.5, 0.7]}

    assert _result("3.6", History()).passed
    assert _result("3.6", {"loss": [2.29, 2.0]}).passed
    assert "did not go down" in _result("3.6", {"loss": [0.5, 0.9]}).message
    assert "at least 2 epochs" in _result("3.6", {"loss": [0.5]}).message
    assert "NaN" in _result("3.6", {"loss": [2.3, float("nan")]}).message
    above_chance = _result("3.6", {"loss": [14.5, 9.1]})
    assert above_chance.points == 0.5 and "ln 10" in above_chance.message
    assert "what gap_model.fit returned" in _result("3.6", [1.0, 0.5]).message
    assert _result("3.6", Ellipsis).status == NOT_ATTEMPTED


def test_tasks_and_points():
    assert [t.id for t in EX3.tasks] == ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6"]
    assert sum(t.points for t in EX3.tasks) == 10
    assert set(EX3.smoke) == {"N_TRAIN", "N_TEST", "EPOCHS"}
    assert all(r.status == PASSED for r in [_result("3.1", (6, 6, 32)),
                                            _result("3.4", FIELD)])
