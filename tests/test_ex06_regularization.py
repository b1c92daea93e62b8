"""The checks of exercises/06_regularization.ipynb, without a kernel.

Every task: the reference answer passes, typical student mistakes get the intended
status, points and hint, and no failure message gives the answer away. The formulas the
checks compute their expected values with are checked against Keras here, and the
regimes of task 6.1 against the curves the solution notebook printed.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
from conftest import REPO

from cnn_helpers import grading
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED
from cnn_helpers.tasks import ex06_regularization as tasks

EX = grading.exercise("06_regularization")
SOLUTION = REPO / "exercises" / "solutions" / "06_regularization.ipynb"


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def no_values(message: str) -> None:
    """A function task's message names probes by shape and the student's mistake, and
    prints no computed value (an expected output would be a float like 1.03582)."""
    assert not re.search(r"\d\.\d{3,}", message), message


def test_tasks_points_and_smoke_size():
    assert [t.id for t in EX.tasks] == ["6.1", "6.2", "6.3", "6.4", "6.5", "6.6"]
    assert sum(t.points for t in EX.tasks) == 12
    assert [t.kind for t in EX.tasks] == ["value", "function", "function", "function",
                                          "model", "value"]
    assert EX.smoke == {"N_TRAIN": 2000, "N_VAL": 500, "EPOCHS": 3, "BATCH_SIZE": 32}


# --------------------------------------------------------------------------- 6.1

RIGHT_61 = {"A": "overfitting", "B": "underfitting", "C": "just right",
            "D": "underfitting"}


def test_61_regimes_match_the_curves_in_the_solution_notebook():
    """The answer key agrees with the final accuracies the notebook printed."""
    nb = nbformat.read(SOLUTION, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    finals = re.findall(r"run (\w): after the last epoch, training accuracy ([\d.]+), "
                        r"validation accuracy ([\d.]+)", text)
    assert [run for run, _, _ in finals] == list(tasks.RUNS)
    for run, train, val in finals:
        train, val = float(train), float(val)
        gap = train - val
        regime = ("overfitting" if gap > 0.3 else
                  "underfitting" if train < 0.45 and abs(gap) < 0.03 else
                  "just right" if 0.03 <= gap < 0.15 else "unclear")
        assert regime == tasks.REGIMES_61[run], (run, train, val)


def test_61_right_answers_in_any_spelling():
    assert result("6.1", RIGHT_61).passed
    spelled = {"a": "Overfit", "B": "under-fitting", "C": "Just_Right",
               "D": "UNDERFITTING"}
    assert result("6.1", spelled).passed
    assert result("6.1", {**RIGHT_61, "C": "good fit"}).passed


@pytest.mark.parametrize("answer, points, hint", [
    ({**RIGHT_61, "C": "overfitting", "D": "just right"}, 0.5, "runs C, D"),
    ({**RIGHT_61, "A": "just right"}, 0.75, "run A:"),
    ({"A": "overfitting", "B": "overfitting", "C": "overfitting", "D": "overfitting"},
     0, "all four runs get the same regime"),
    ({"A": "overfitting", "B": "underfitting"}, 0, "C, D missing"),
    ({**RIGHT_61, "B": "high bias"}, 0, "is not one of"),
    (["overfitting", "underfitting", "just right", "underfitting"], 0,
     "should be a dict"),
])
def test_61_mistakes(answer, points, hint):
    r = result("6.1", answer)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    if "is not one of" not in r.message:          # that one lists the three words
        for word in ("underfitting", "just right", "overfitting"):
            assert word not in r.message, r.message


def test_61_not_attempted():
    assert result("6.1", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 6.2


def standardize(train, x):
    train = np.asarray(train, dtype=float)
    return (np.asarray(x, dtype=float) - train.mean(axis=(0, 1, 2))) / train.std(
        axis=(0, 1, 2))


def test_62_reference_and_equivalent_answers_pass():
    import keras

    assert result("6.2", standardize).passed
    assert result("6.2", lambda t, x: standardize(t, x).astype("float32")).passed
    sample = lambda t, x: (x - t.mean(axis=(0, 1, 2))) / t.std(axis=(0, 1, 2), ddof=1)
    assert result("6.2", sample).passed                       # ddof=1 is accepted

    def with_keras(train, x):
        layer = keras.layers.Normalization(axis=-1)
        layer.adapt(np.asarray(train, dtype="float32"))
        return keras.ops.convert_to_numpy(layer(np.asarray(x, dtype="float32")))

    r = result("6.2", with_keras)
    assert r.passed, r.message


def test_62_expected_values_agree_with_keras_normalization():
    import keras

    for train, x in tasks._std_probes()[:3]:
        layer = keras.layers.Normalization(axis=-1)
        layer.adapt(train.astype("float32"))
        by_keras = keras.ops.convert_to_numpy(layer(x.astype("float32")))
        np.testing.assert_allclose(tasks._standardize(train, x), by_keras,
                                   rtol=1e-3, atol=1e-3)


OWN = (0, 1, 2)


@pytest.mark.parametrize("fn, hint, points", [
    (lambda t, x: (x - x.mean(axis=OWN)) / x.std(axis=OWN), "statistics of `images`",
     0.4),
    (lambda t, x: (x - t.mean()) / t.std(), "one per channel", 0.4),
    (lambda t, x: (x - x.mean()) / x.std(), "instead of the training images", 0),
    (lambda t, x: x - t.mean(axis=OWN), "not divided by sigma", 0),
    (lambda t, x: x / t.std(axis=OWN), "mean is not subtracted", 0),
    (lambda t, x: (x - t.mean(axis=OWN)) / t.var(axis=OWN), "not by the variance", 0),
    (lambda t, x: (x - t.mean(axis=0)) / t.std(axis=0), "pixel position", 0),
    (lambda t, x: (x - x.mean(axis=(1, 2), keepdims=True))
     / x.std(axis=(1, 2), keepdims=True), "its own statistics", 0),
    (lambda t, x: standardize(t, t), "return `images` standardized", 0.4),
])
def test_62_mistakes_get_hints(fn, hint, points):
    r = result("6.2", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_values(r.message)


def test_62_not_attempted_crash_and_not_a_function():
    def todo(train_images, images):
        raise NotImplementedError("replace this line with your code")

    assert result("6.2", todo).status == NOT_ATTEMPTED
    crash = result("6.2", lambda t, x: t[99, 99, 99, 99])
    assert crash.status == FAILED and crash.points == 0 and "raised" in crash.message
    assert "a function" in result("6.2", np.ones(3)).message


# --------------------------------------------------------------------------- 6.3


def sgd_step(w, grad, lr, l2):
    return w - lr * (grad + 2 * l2 * w)


def test_63_reference_passes_and_matches_keras_sgd_with_l2():
    import keras

    assert result("6.3", sgd_step).passed
    assert result("6.3", lambda w, g, lr, l2: (1 - 2 * lr * l2) * w - lr * g).passed
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4)).astype("float32")
    w0 = rng.normal(size=(4, 1)).astype("float32")
    dense = keras.layers.Dense(1, use_bias=False,
                               kernel_regularizer=keras.regularizers.L2(0.05))
    model = keras.Sequential([keras.Input(shape=(4,)), dense])
    dense.set_weights([w0])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    model.train_on_batch(x, np.zeros((8, 1), dtype="float32"))
    expected = tasks._sgd_step(w0, x.mean(axis=0)[:, None], 0.1, 0.05)
    np.testing.assert_allclose(dense.get_weights()[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn, hint, points", [
    (lambda w, g, lr, l2: w - lr * (g + l2 * w), "2 * l2 * w", 0.4),
    (lambda w, g, lr, l2: w - lr * (g - 2 * l2 * w), "wrong sign", 0.4),
    (lambda w, g, lr, l2: w - lr * (g - l2 * w), "wrong sign", 0.4),
    (lambda w, g, lr, l2: w - 2 * l2 * w - lr * g, "multiplied by the learning rate",
     0.8),
    (lambda w, g, lr, l2: w + lr * (g + 2 * l2 * w), "against the gradient", 0),
    (lambda w, g, lr, l2: w - lr * 2 * l2 * w, "`grad` is missing", 0.4),
    (lambda w, g, lr, l2: w - lr * g, "the penalty is missing", 0.4),
    (lambda w, g, lr, l2: -lr * (g + 2 * l2 * w), "not only the change", 0),
])
def test_63_mistakes_get_hints(fn, hint, points):
    r = result("6.3", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_values(r.message)


def test_63_not_attempted_and_crash():
    def todo(w, grad, learning_rate, l2):
        raise NotImplementedError("replace this line with your code")

    assert result("6.3", todo).status == NOT_ATTEMPTED
    crash = result("6.3", lambda w, g, lr, l2: w @ np.ones((7, 7)))
    assert crash.status == FAILED and "raised" in crash.message


# --------------------------------------------------------------------------- 6.4


def batch_norm(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    axes = tuple(range(x.ndim - 1))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        mm = momentum * mm + (1 - momentum) * mean
        mv = momentum * mv + (1 - momentum) * var
    else:
        mean, var = mm, mv
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, mm, mv


def keras_batch_norm(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    """The Keras layer itself, in float32, wrapped as a student might."""
    import keras

    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    layer.build(x.shape)
    layer.set_weights([np.asarray(v, dtype="float32") for v in (gamma, beta, mm, mv)])
    y = layer(np.asarray(x, dtype="float32"), training=training)
    to_numpy = keras.ops.convert_to_numpy
    return to_numpy(y), to_numpy(layer.moving_mean), to_numpy(layer.moving_variance)


def test_64_reference_and_the_keras_layer_pass():
    assert result("6.4", batch_norm).passed
    r = result("6.4", keras_batch_norm)
    assert r.passed, r.message
    as_list = result("6.4", lambda *a, **k: list(batch_norm(*a, **k)))
    assert as_list.passed


def test_64_expected_values_agree_with_keras():
    for args in tasks._bn_probes():
        for ours, theirs in zip(tasks._bn(*args), keras_batch_norm(*args)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _slip(**switches):
    def fn(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
        return tasks._bn(x, gamma, beta, mm, mv, training, momentum, epsilon,
                         **switches)
    return fn


def _always(switches_train, switches_infer):
    def fn(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
        switches = switches_train if training else switches_infer
        return tasks._bn(x, gamma, beta, mm, mv, training, momentum, epsilon,
                         **switches)
    return fn


@pytest.mark.parametrize("fn, hint, points", [
    (_slip(ddof=1), "not m - 1", 1.5),
    (_slip(eps="outside"), "inside the square root", 1.0),
    (_slip(eps="none"), "epsilon is missing", 1.0),
    (_slip(first_axis_only=True), "not over axis 0 only", 2.0),
    (_slip(affine=False), "scale it by gamma", 0),
    (_slip(swap=True), "keep `momentum` of their old value", 1.5),
    (_always({"update": False}, {}), "return the updated moving averages", 1.5),
    (_always({}, {"update": True}), "the moving averages stay as they are", 1.5),
    (_always({"normalize_with": "moving"}, {}), "mini-batch's own mean", 1.5),
    (_always({}, {"normalize_with": "batch"}), "not with the statistics of the batch",
     1.5),
    (_slip(std_in_moving=True), "not the standard deviation", 1.5),
    (lambda x, g, b, mm, mv, t, momentum=0.99, epsilon=1e-3:
     batch_norm(x, g, b, mm, mv, t), "not Keras' defaults written as numbers", 2.0),
    (lambda *a, **k: batch_norm(*a, **k)[0], "return a tuple of three arrays", 0),
])
def test_64_mistakes_get_hints(fn, hint, points):
    with np.errstate(all="ignore"):
        r = result("6.4", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_values(r.message)


def test_64_not_attempted_and_crash():
    def todo(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99,
             epsilon=1e-3):
        raise NotImplementedError("replace this line with your code")

    assert result("6.4", todo).status == NOT_ATTEMPTED
    crash = result("6.4", lambda *a: a[0] @ np.ones((9, 9)))
    assert crash.status == FAILED and crash.points == 0 and "raised" in crash.message


# --------------------------------------------------------------------------- 6.5


def reg_model(augmentation="helpers", batchnorm=True, dropout=(0.3,), softmax=True,
              input_shape=(32, 32, 3), filters=(16, 32, 64), dense=128,
              dropout_last=False):
    import keras
    from keras import layers

    from cnn_helpers.augment import RandomFlip, RandomShift

    stack = [keras.Input(shape=input_shape)]
    augment = {"helpers": [RandomShift(4, seed=0), RandomFlip(seed=0)],
               "keras default flip": [layers.RandomFlip()],
               "keras horizontal flip": [layers.RandomFlip("horizontal")],
               None: [], "late": []}[augmentation]
    stack += augment
    for i, f in enumerate(filters):
        stack.append(layers.Conv2D(f, 3, padding="same", use_bias=not batchnorm))
        if batchnorm:
            stack.append(layers.BatchNormalization())
        stack += [layers.Activation("relu"), layers.MaxPooling2D()]
        if i == 0 and augmentation == "late":
            stack += [RandomShift(4, seed=0)]
    stack += [layers.Flatten(), layers.Dense(dense, activation="relu")]
    stack += [layers.Dropout(rate) for rate in dropout if not dropout_last]
    stack.append(layers.Dense(10, activation="softmax" if softmax else None))
    if dropout_last:
        stack += [layers.Dropout(rate) for rate in dropout]
    return keras.Sequential(stack)


def test_65_reference_passes_after_export_and_rebuild():
    r = result("6.5", reg_model())
    assert r.passed, r.message
    assert "RandomShift" in r.message and "156,410" in r.message
    assert result("6.5", reg_model("keras horizontal flip")).passed


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"augmentation": None}, "no data augmentation", 1),
    ({"augmentation": "late"}, "right after keras.Input", 1),
    ({"augmentation": "keras default flip"}, "upside down", 1),
    ({"batchnorm": False}, "no BatchNormalization", 1),
    ({"dropout": ()}, "no Dropout layer", 1),
    ({"dropout": (0.0,)}, "drops nothing", 1),
    ({"dropout": (0.9,)}, "0.8 or more", 1),
    ({"dropout_last": True}, "after the output layer", 1),
    ({"softmax": False}, "no softmax", 1),
    ({"filters": (16,)}, "1 Conv2D layer", 1),
    ({"filters": (64, 128), "dense": 512}, "too many", 1),
    ({"batchnorm": False, "dropout": ()}, "no Dropout layer", 0.5),
    ({"input_shape": (28, 28, 1)}, "(None, 32, 32, 3)", 0),
])
def test_65_mistakes_get_hints(kwargs, hint, points):
    r = result("6.5", reg_model(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_65_not_a_model_and_not_attempted():
    assert "Keras model" in result("6.5", "a model").message
    assert result("6.5", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 6.6


def test_66_history():
    good = {"loss": [2.2, 1.9, 1.8], "accuracy": [0.2, 0.3, 0.35],
            "val_loss": [2.1, 2.0, 1.9], "val_accuracy": [0.22, 0.27, 0.26]}
    r = result("6.6", good)
    assert r.passed and "0.270 (epoch 2)" in r.message
    up = result("6.6", {**good, "loss": [1.8, 1.9, 2.2]})
    assert up.status == FAILED and up.points == 0 and "did not go down" in up.message
    no_val = result("6.6", {"loss": [2.2, 1.9], "accuracy": [0.2, 0.3]})
    assert no_val.points == 1 and "validation_data=(x_val, y_val)" in no_val.message
    no_metric = result("6.6", {"loss": [2.2, 1.9], "val_loss": [2.1, 2.0]})
    assert no_metric.points == 1 and "metrics=" in no_metric.message
    low = result("6.6", {**good, "val_accuracy": [0.1, 0.11, 0.12]})
    assert low.points == 1 and "hardly above guessing" in low.message
    assert "at least 2 epochs" in result("6.6", {"loss": [2.0]}).message
    assert "NaN" in result("6.6", {"loss": [2.0, float("nan")]}).message
    assert result("6.6", ...).status == NOT_ATTEMPTED
