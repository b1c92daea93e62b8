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
from cnn_helpers.grading.tasks import ex03_pooling as ex03

from conftest import no_leak, wrong_option_is_explained

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
    assert "26" not in _result("3.5", _model()).message      # a pass restates nothing
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


def _classifier(*, n=2000, epochs=2, optimizer="adam", shuffle_labels=False, build=None,
                train=True):
    """A small MNIST classifier trained as task 3.6 asks (Flatten + softmax unless
    ``build`` gives the model): a few seconds on 2 cores."""
    import keras
    from keras import layers

    from cnn_helpers import datasets

    keras.utils.set_random_seed(0)
    model = build() if build else keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.003) if optimizer == "adam" else optimizer,
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if train:
        (x, y), _ = datasets.load_mnist(n_train=n, n_test=10, seed=0)
        if shuffle_labels:
            y = np.random.default_rng(0).permutation(y)
        model.fit(x[..., None].astype("float32") / 255, y, epochs=epochs, batch_size=32,
                  verbose=0)
    return model


def test_36_a_trained_model_passes_on_the_checks_own_digits(data_dir):
    import time

    model = _classifier()
    t0 = time.perf_counter()
    result = _result("3.6", model)
    assert result.passed, result
    assert "test digits" in result.message
    assert time.perf_counter() - t0 < 20                 # the grader's budget per check


@pytest.mark.parametrize("accuracy, credit, words", [
    (0.95, 1.0, "accuracy 0.950 on 1,000 test digits"),
    (0.55, 1.0, "this check asks for 0.4 at its small size"),
    (0.3, 0.5, "below the 0.4"),
    (0.12, 0.0, "hardly better than guessing"),
])
def test_36_accuracy_floor_and_goal(accuracy, credit, words):
    got, message = ex03._accuracy_verdict(accuracy)
    assert got == credit and words in message, message


def test_36_what_earns_nothing_or_half(data_dir):
    untrained = _result("3.6", _classifier(train=False))
    assert untrained.points == 0 and "never trained" in untrained.message
    guessing = _result("3.6", _classifier(shuffle_labels=True, epochs=1))
    assert guessing.points == 0 and "guessing" in guessing.message
    sgd = _result("3.6", _classifier(optimizer="sgd", epochs=3))
    assert sgd.points == 0.5 and "Adam optimizer" in sgd.message and "SGD" in sgd.message


def test_36_a_history_or_a_wrong_model_earns_nothing():
    import keras
    from keras import layers

    class History:   # what keras.Model.fit returns
        history = {"loss": [2.2, 1.5, 0.9], "accuracy": [0.2, 0.5, 0.7]}

    for made_up in (History(), {"loss": [2.2, 0.1]}):
        result = _result("3.6", made_up)
        assert result.status == FAILED and result.points == 0
        assert "Keras model" in result.message
    five = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                             layers.Dense(5, activation="softmax")])
    assert "(None, 10)" in _result("3.6", five).message
    rgb = keras.Sequential([keras.Input(shape=(28, 28, 3)), layers.Flatten(), layers.Dense(10)])
    assert "(None, 28, 28, 1)" in _result("3.6", rgb).message
    assert _result("3.6", Ellipsis).status == NOT_ATTEMPTED


FALLBACK = ("import keras\nfrom cnn_helpers import datasets, grading, models, ops\n",
            "gap_model = ...\n",
            "gap_model = models.tutorial_convnet()\n"
            "gap_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003),\n"
            "                  loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
            "history = gap_model.fit(x_train, y_train, epochs=EPOCHS, verbose=2)\n")


@pytest.mark.delegation
def test_36_the_starters_fallback_counts_for_36_only(data_dir):
    """Task 3.5 not done: the ready-made model of the starter trains for 3.6, but it
    earns nothing for 3.5 (not a GAP model, and one of the book's models)."""
    from cnn_helpers import models

    trained = _classifier(build=models.tutorial_convnet, n=1000, epochs=1)
    result = EX3.result("3.6", trained, sources=list(FALLBACK))
    assert result.passed, result
    assert EX3.result("3.5", ..., sources=list(FALLBACK[:2])).status == NOT_ATTEMPTED
    reused = EX3.result("3.5", trained, sources=list(FALLBACK))
    assert reused.points == 0 and "no credit" in reused.message
    assert _result("3.5", trained).points == 0                # and it is not a GAP model


# --------------------------------------------------------------------------- 3.7 and 3.8

QUESTIONS = {"3.7": ("c", ex03.WHY_WRONG_37), "3.8": ("d", ex03.WHY_WRONG_38)}


@pytest.mark.parametrize("task_id", QUESTIONS)
def test_questions_pass_with_the_right_letter(task_id):
    right, _ = QUESTIONS[task_id]
    for answer in (right, right.upper()):
        result = _result(task_id, answer)
        assert result.passed and result.message == "correct", result
    assert _result(task_id, ...).status == NOT_ATTEMPTED
    assert "one of the letters" in _result(task_id, 3).message


@pytest.mark.parametrize("task_id, letter", [(t, w) for t, (_, why) in QUESTIONS.items()
                                             for w in why])
def test_each_wrong_option_names_its_misconception(task_id, letter):
    right, why_wrong = QUESTIONS[task_id]
    wrong_option_is_explained(_result(task_id, letter), letter, right, why_wrong)


def test_37_equivariance_and_invariance_as_the_right_option_says():
    """Shift a blob 1 pixel: the conv maps and the 2x2-pooled maps change, the global
    maximum of each map does not."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    conv = layers.Conv2D(4, 3, activation="relu")
    x = np.zeros((1, 28, 28, 1), "float32")
    x[0, 8:20, 6:18, 0] = np.random.default_rng(0).uniform(size=(12, 12))
    moved = np.roll(x, 1, axis=2)
    for represent, same in [(lambda f: f, False), (layers.MaxPooling2D(2), False),
                            (layers.GlobalMaxPooling2D(), True)]:
        a, b = (keras.ops.convert_to_numpy(represent(conv(v))) for v in (x, moved))
        assert np.allclose(a, b, atol=1e-6) == same


# --------------------------------------------------------------------------- delegation

IMPORTS = "import keras\nfrom keras import layers\nfrom cnn_helpers import grading, ops\n"


@pytest.mark.delegation
@pytest.mark.parametrize("task_id, answer, code", [
    ("3.1", (6, 6, 32), "net = keras.Sequential([keras.Input(shape=(32, 32, 3)), "
                        "layers.Conv2D(16, 3), layers.MaxPooling2D(), layers.Conv2D(32, 3), "
                        "layers.MaxPooling2D()])\nfinal_shape = net.output_shape[1:]"),
    ("3.1", (6, 6, 32), "side = ops.conv_output_size(ops.conv_output_size(32, 3), 2, 2)\n"
                        "side = ops.conv_output_size(ops.conv_output_size(side, 3), 2, 2)\n"
                        "final_shape = (side, side, 32)"),
    ("3.2", SAVED, "saved = ops.dense_params(25 * 25 * 64, 10) - ops.dense_params(12 * 12 * 64, 10)"),
    ("3.4", FIELD, "field = ops.receptive_field([('c1', 5, 1), ('p1', 2, 2), ('c2', 3, 1), "
                   "('p2', 2, 2), ('c3', 3, 1)])[-1].size"),
])
def test_values_from_ops_or_keras_earn_nothing(task_id, answer, code):
    result = EX3.result(task_id, answer, sources=[IMPORTS, code])
    assert result.status == FAILED and result.points == 0, result
    assert "no credit" in result.message and "yourself" in result.message


@pytest.mark.delegation
def test_values_by_hand_pass_with_ops_used_afterwards():
    code = ("stack = [('c1', 5, 1), ('p1', 2, 2), ('c2', 3, 1), ('p2', 2, 2), ('c3', 3, 1)]\n"
            "field, jump = 1, 1\n"
            "for name, window, stride in stack:\n"
            "    field += (window - 1) * jump\n"
            "    jump *= stride\n"
            "assert field == ops.receptive_field(stack)[-1].size\n")
    assert EX3.result("3.4", FIELD, sources=[IMPORTS, code]).passed


def test_tasks_and_points():
    assert [t.id for t in EX3.tasks] == [f"3.{n}" for n in range(1, 9)]
    assert sum(t.points for t in EX3.tasks) == 12
    assert set(EX3.smoke) == {"N_TRAIN", "N_TEST", "EPOCHS"}
    assert EX3.task("3.6").kind == "model" and EX3.task("3.6").answer == "gap_model"
    assert "cnn_helpers.models" not in EX3.task("3.6").forbid    # the starter's fallback
    assert all(r.status == PASSED for r in [_result("3.1", (6, 6, 32)),
                                            _result("3.4", FIELD)])
