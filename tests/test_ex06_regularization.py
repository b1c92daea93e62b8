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
from cnn_helpers.grading.tasks import ex06_regularization as tasks

EX = grading.exercise("06_regularization")
SOLUTION = REPO / "exercises" / "solutions" / "06_regularization.ipynb"


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def no_values(message: str) -> None:
    """A function task's message names probes by shape and the student's mistake, and
    prints no computed value (an expected output would be a float like 1.03582)."""
    assert not re.search(r"\d\.\d{3,}", message), message


def test_tasks_points_and_smoke_size():
    assert [t.id for t in EX.tasks] == ["6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7",
                                        "6.8", "6.9", "6.10"]
    assert sum(t.points for t in EX.tasks) == 18
    assert [t.kind for t in EX.tasks] == ["value", "function", "function", "function",
                                          "model", "model", "function", "function",
                                          "value", "value"]
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
    (_slip(first_axis_only=True), "not over axis 0 only", 1.5),   # one slip: at most half
    (_slip(affine=False), "scale it by gamma", 0),
    (_slip(swap=True), "keep `momentum` of their old value", 1.5),
    (_always({"update": False}, {}), "return the updated moving averages", 1.5),
    (_always({}, {"update": True}), "the moving averages stay as they are", 1.5),
    (_always({"normalize_with": "moving"}, {}), "mini-batch's own mean", 1.5),
    (_always({}, {"normalize_with": "batch"}), "not with the statistics of the batch",
     1.5),
    (_slip(std_in_moving=True), "not the standard deviation", 1.5),
    (lambda x, g, b, mm, mv, t, momentum=0.99, epsilon=1e-3:
     batch_norm(x, g, b, mm, mv, t), "not Keras' defaults written as numbers", 1.5),
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
    assert "156,410" not in r.message                           # a pass restates nothing
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
# the trained model itself, scored on test images the check chooses


@pytest.fixture(scope="module")
def trained():
    """Task 6.5's reference model, trained for two epochs on 2,000 standardized images."""
    import keras

    from cnn_helpers import datasets

    (x, y), _ = datasets.load_cifar10(n_train=2000, n_test=10, seed=0)
    x = standardize(x, x).astype("float32")
    model = reg_model()
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    model.trained_steps = int(np.asarray(model.optimizer.iterations))   # as rebuilt
    return model


def test_66_a_trained_model_passes_on_the_checks_own_images(trained):
    r = result("6.6", trained)
    assert r.passed and r.points == 2, r.message
    assert "test images the check chose" in r.message


def test_66_untrained_made_up_and_wrong_models_earn_nothing():
    r = result("6.6", reg_model())
    assert r.status == FAILED and r.points == 0 and "has not been trained" in r.message
    made_up = {"loss": [2.2, 1.9, 1.8], "val_accuracy": [0.22, 0.27, 0.26]}
    r = result("6.6", made_up)
    assert r.status == FAILED and r.points == 0 and "Keras model" in r.message
    r = result("6.6", reg_model(input_shape=(28, 28, 1)))
    assert r.status == FAILED and "(None, 32, 32, 3)" in r.message
    assert result("6.6", ...).status == NOT_ATTEMPTED


def test_66_guessing_and_a_low_accuracy(trained, monkeypatch):
    import keras

    guess = keras.models.clone_model(trained)           # every weight 0: one class for all
    guess.set_weights([np.zeros_like(w) for w in trained.get_weights()])
    guess.trained_steps = 1
    verdict, message = tasks._trained_check(guess)
    assert verdict is False and "no better than guessing" in message
    monkeypatch.setattr(tasks, "ACCURACY_FLOOR", 0.9)
    verdict, message = tasks._trained_check(trained)
    assert verdict == 0.5 and "hardly above guessing" in message and "0.9" in message


@pytest.mark.parametrize("optimizer, hint", [
    ("SGD", "compiled with SGD"),
    ("Adam 0.01", "learning_rate=0.001"),
])
def test_66_the_optimizer_the_task_asks_for(trained, optimizer, hint):
    import keras

    assert tasks._trained_check(trained)[0] is True
    other = keras.models.clone_model(trained)
    other.set_weights(trained.get_weights())
    other.compile(optimizer=keras.optimizers.SGD(0.01) if optimizer == "SGD"
                  else keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    other.trained_steps = 100
    verdict, message = tasks._trained_check(other)
    assert verdict == 0.5 and hint in message, message


FALLBACK = ("from cnn_helpers import models\n"
            "from cnn_helpers.augment import RandomFlip, RandomShift\n"
            "reg_model = models.with_augmentation(models.slides_cifar_simple(),\n"
            "                                     RandomShift(4), RandomFlip())\n"
            "reg_model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
            "history = reg_model.fit(x_train, y_train, epochs=EPOCHS)\n")


@pytest.mark.delegation
def test_66_the_fallback_model_earns_task_66_only(trained):
    assert EX.result("6.6", trained, sources=[FALLBACK]).passed
    r = EX.result("6.5", trained, sources=[FALLBACK])
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message


# --------------------------------------------------------------------------- 6.7
# inverted dropout, the mask from rng.random(x.shape) >= rate


def dropout(x, rate, training, rng):
    if not training:
        return x
    return np.where(rng.random(x.shape) >= rate, x / (1 - rate), 0.0)


def dropout_with(keep=None, scale=None, inference=None):
    """Inverted dropout with one part changed: the mask, the scale, or inference."""
    def fn(x, rate, training, rng):
        if not training:
            return x if inference is None else inference(x, rate)
        u = rng.random(x.shape)
        kept = u >= rate if keep is None else keep(u, rate)
        return np.where(kept, x * (1 / (1 - rate) if scale is None else scale(rate)), 0.0)
    return fn


def test_67_reference_and_the_other_mask_convention_pass():
    import keras

    assert result("6.7", dropout).passed
    assert result("6.7", dropout_with(keep=lambda u, rate: u < 1 - rate)).passed
    assert result("6.7", dropout_with(keep=lambda u, rate: u > rate)).passed
    ones = np.ones((1, 100_000), dtype="float32")
    ours = dropout(ones, 0.2, True, np.random.default_rng(0))
    theirs = keras.ops.convert_to_numpy(keras.layers.Dropout(0.2, seed=0)(ones, training=True))
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, 1.25}
    assert abs(np.mean(ours == 0) - np.mean(theirs == 0)) < 0.01


@pytest.mark.parametrize("fn, hint, points", [
    (dropout_with(scale=lambda rate: 1.0), "scaled by 1 / (1 - rate)", 1.0),
    (dropout_with(scale=lambda rate: 1 / rate), "not by rate", 1.0),
    (dropout_with(keep=lambda u, rate: u < rate), "keeps that share instead", 1.0),
    (dropout_with(inference=lambda x, rate: x * (1 - rate)), "original dropout's rule", 1.0),
    (dropout_with(inference=lambda x, rate: x / (1 - rate)), "return x unchanged", 1.0),
    (lambda x, rate, training, rng: np.where(rng.random(x.shape) >= rate, x / (1 - rate), 0.0),
     "dropout does nothing", 1.0),
    (lambda x, rate, training, rng: x, "set a share `rate` of the values to 0", 1.0),
    (lambda x, rate, training, rng: dropout(x, rate, training, np.random.default_rng()),
     "from the rng passed in", 1.0),
])
def test_67_slips_get_hints(fn, hint, points):
    with np.errstate(all="ignore"):
        r = result("6.7", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_values(r.message)


def test_67_not_attempted_and_crash():
    def todo(x, rate, training, rng):
        raise NotImplementedError("replace this line with your code")

    assert result("6.7", todo).status == NOT_ATTEMPTED
    crash = result("6.7", lambda x, rate, training, rng: x @ np.ones((7, 7)))
    assert crash.status == FAILED and "raised" in crash.message


@pytest.mark.delegation
def test_67_keras_dropout_earns_nothing():
    def with_keras(x, rate, training, rng):
        import keras
        return keras.ops.convert_to_numpy(keras.layers.Dropout(rate)(x, training=training))

    r = EX.result("6.7", with_keras)
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message


# --------------------------------------------------------------------------- 6.8
# a random shift per image, checked on what every right shift satisfies


def random_shift(images, max_shift, rng, *, high=1, fill="zeros", per_image=True,
                 axes=(True, True), dtype=None):
    n, h, w, _ = images.shape
    m = max_shift
    shifts = rng.integers(-m, m + high, size=(n if per_image else 1, 2))
    shifts = np.repeat(shifts, n, axis=0) if not per_image else shifts
    shifts = shifts * np.array(axes, dtype=int)
    out = np.empty_like(images)
    padded = np.pad(images, ((0, 0), (m + 1, m + 1), (m + 1, m + 1), (0, 0)))
    for i, (dy, dx) in enumerate(shifts):
        if fill == "wrap":
            out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
        else:
            out[i] = padded[i, m + 1 - dy:m + 1 - dy + h, m + 1 - dx:m + 1 - dx + w]
    return out if dtype is None else out.astype(dtype)


def test_68_reference_passes_and_moves_like_random_shift():
    import keras

    from cnn_helpers.augment import RandomShift

    r = result("6.8", random_shift)
    assert r.passed and r.points == 2, r.message
    square = np.zeros((200, 6, 6, 1), dtype="float32")
    square[:, 2:4, 2:4] = 1.0
    for moved in (random_shift(square, 2, np.random.default_rng(0)),
                  keras.ops.convert_to_numpy(RandomShift(2, seed=0)(square, training=True))):
        rows = {int(np.nonzero(m[..., 0])[0].min()) - 2 for m in moved}
        assert rows == {-2, -1, 0, 1, 2} and all(m.sum() == 4 for m in moved)


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"fill": "wrap"}, "np.roll wraps", 1.0),
    ({"per_image": False}, "the same shift", 1.0),
    ({"axes": (False, True)}, "one axis only", 1.0),
    ({"dtype": "float64"}, "keep the images' dtype", 1.0),
    ({"high": 2}, "more than max_shift", 1.0),
])
def test_68_slips_get_hints(kwargs, hint, points):
    r = result("6.8", lambda images, m, rng: random_shift(images, m, rng, **kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_68_the_range_and_the_generator():
    def exclusive(images, m, rng):      # rng.integers(-m, m): +m never drawn
        return random_shift(images, m, rng, high=0) if m else images

    r = result("6.8", exclusive)
    assert r.status == FAILED and r.points == 1.0 and "leaves high out" in r.message
    r = result("6.8", lambda images, m, rng: random_shift(images, m, np.random.default_rng()))
    assert r.status == FAILED and "not from np.random" in r.message
    r = result("6.8", lambda images, m, rng: random_shift(images, m, np.random.default_rng(1)))
    assert r.status == FAILED and "do not change with the rng" in r.message

    def tied(images, m, rng):
        out = np.empty_like(images)
        for i, d in enumerate(rng.integers(-m, m + 1, size=len(images))):
            out[i] = random_shift(images[i:i + 1], 0, rng)[0] if d == 0 else np.pad(
                images[i], ((m, m), (m, m), (0, 0)))[m - d:m - d + images.shape[1],
                                                       m - d:m - d + images.shape[2]]
        return out

    r = result("6.8", tied)
    assert r.status == FAILED and "as far down as right" in r.message, r.message


def test_68_not_a_shift_crash_and_not_attempted():
    r = result("6.8", lambda images, m, rng: images[:, :, ::-1])
    assert r.status == FAILED and r.points == 0 and "not its input moved" in r.message
    r = result("6.8", lambda images, m, rng: images[0])
    assert r.status == FAILED and r.points == 0 and "(N, H, W, C)" in r.message
    r = result("6.8", lambda images, m, rng: images[99, 99])
    assert r.status == FAILED and r.points == 0 and "raised" in r.message

    def todo(images, max_shift, rng):
        raise NotImplementedError("replace this line with your code")

    assert result("6.8", todo).status == NOT_ATTEMPTED


@pytest.mark.delegation
def test_68_the_books_random_shift_earns_nothing():
    def with_layer(images, m, rng):
        from cnn_helpers.augment import RandomShift
        return RandomShift(m)(images, training=True)

    r = EX.result("6.8", with_layer)
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message


# --------------------------------------------------------------------------- 6.9, 6.10

RIGHT_69 = {"A": "c", "B": "b", "D": "a"}


def _solution_curves() -> dict:
    """The curves of task 6.1, rebuilt from the solution notebook's own cell."""
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and "curves = {" in c.source)
    namespace = {"np": np}
    exec(cell[:cell.index("fig, axes")], namespace)            # noqa: S102 (our notebook)
    return namespace["curves"]


def test_69_the_remedies_match_the_curves():
    curves = _solution_curves()
    rise = {run: h["accuracy"][-1] - h["accuracy"][-6] for run, h in curves.items()}
    gap = {run: h["accuracy"][-1] - h["val_accuracy"][-1] for run, h in curves.items()}
    assert gap["A"] > 0.3 and np.argmax(curves["A"]["val_accuracy"]) < 12    # overfits
    assert abs(gap["B"]) < 0.03 and rise["B"] < 0.02                          # flat: bigger
    assert abs(gap["D"]) < 0.03 and rise["D"] > 0.03                          # rising: longer


def test_69_right_answers_in_any_spelling():
    assert result("6.9", RIGHT_69).passed
    assert result("6.9", {"a": "C", "b": " b", "d": "A", "C": "x"}).passed


@pytest.mark.parametrize("run, letter, why", [
    (run, letter, why) for run, whys in tasks.WHY_WRONG_69.items()
    for letter, why in whys.items()])
def test_69_each_wrong_remedy_says_why(run, letter, why):
    r = result("6.9", {**RIGHT_69, run: letter})
    assert r.status == FAILED and r.points == round(2 / 3, 2), r
    assert f"run {run}: {why}" in r.message


@pytest.mark.parametrize("answer, hint", [
    ({"A": "a", "B": "a", "D": "a"}, "same remedy"),
    ({"A": "c", "B": "b"}, "D missing"),
    ({**RIGHT_69, "B": "bigger"}, "should be one of the letters"),
    (["c", "b", "a"], "should be a dict"),
])
def test_69_wrong_forms(answer, hint):
    r = result("6.9", answer)
    assert r.status == FAILED and r.points == 0 and hint in r.message, r.message


def _chapter_table() -> dict[str, tuple[float, float, float]]:
    """fit, train and val of each run in section 6.8's table, as the chapter printed it."""
    nb = nbformat.read(REPO / "chapters" / "06_regularization.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    rows = re.findall(r"^(baseline|L2 penalty|dropout|augmentation|batch norm)\s+"
                      r"([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[+-]", text, re.M)
    return {name: (float(a), float(b), float(c)) for name, a, b, c in rows}


def test_610_the_table_is_the_chapters_and_the_key_follows_from_it():
    chapter = _chapter_table()
    nb = nbformat.read(SOLUTION, as_version=4)
    task = next(c.source for c in nb.cells if c.cell_type == "markdown"
                and "## Task 6.10" in c.source)
    shown = {name.replace("batch normalization", "batch norm"): tuple(map(float, vals))
             for name, *vals in re.findall(r"^\| ([\w ]+?) \| ([\d.]+) \| ([\d.]+) \| "
                                           r"([\d.]+) \|$", task, re.M)}
    assert shown == chapter and len(shown) == 5
    gaps = {name: train - val for name, (fit, train, val) in shown.items()}
    fit_gaps = {name: fit - val for name, (fit, train, val) in shown.items()}
    techniques = [n for n in gaps if n != "baseline"]
    assert min(techniques, key=gaps.get) == "augmentation"                 # the key: c
    assert min(techniques, key=fit_gaps.get) == "dropout"                  # the trap: b


@pytest.mark.parametrize("letter, why", [
    ("a", "compare train - val"), ("b", "inference mode"), ("d", "faster and steadier")])
def test_610_wrong_options(letter, why):
    assert result("6.10", "c").passed and result("6.10", "C").passed
    r = result("6.10", letter)
    assert r.status == FAILED and why in r.message and "'c'" not in r.message
    assert result("6.10", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- the fallbacks


@pytest.mark.notebooks
def test_one_gap_costs_one_task(tmp_path):
    """Tasks 6.2 and 6.5 left blank, task 6.6 done with the starter's ready-made
    replacements (uncommented): the grader gives 6.6 its points and 6.2 and 6.5 none."""
    import json
    import subprocess
    import sys

    nb = nbformat.read(SOLUTION, as_version=4)
    starters = {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "BEGIN SOLUTION" in cell.source and {"task-6.2", "task-6.5", "task-6.6"} & set(tags):
            starters[tags[0]] = cell
    starters["task-6.2"].source = starters["task-6.2"].metadata["starter"]
    starters["task-6.5"].source = starters["task-6.5"].metadata["starter"]
    fallback = "\n".join(line[2:] for line in starters["task-6.6"].metadata["starter"]
                         .splitlines() if line.startswith("# ") and "not done" not in line)
    cell = starters["task-6.6"]
    solution = cell.source[cell.source.index("### BEGIN SOLUTION"):]
    lines = [ln for ln in solution.splitlines() if "standardize(" not in ln]
    cell.source = cell.source[:cell.source.index("### BEGIN SOLUTION")] + fallback + "\n" \
        + "\n".join(lines)
    path = tmp_path / "fallbacks.ipynb"
    nbformat.write(nb, path)
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "cnn_helpers.grade", str(path), "--json",
                    str(report)], capture_output=True, text=True, timeout=900)
    [graded] = json.loads(report.read_text())
    tasks_ = {t["task"]: t for t in graded["tasks"]}
    assert tasks_["6.6"]["status"] == "pass", tasks_["6.6"]
    assert tasks_["6.2"]["status"] == tasks_["6.5"]["status"] == NOT_ATTEMPTED
    assert graded["score"] == graded["max_score"] - 4 and graded["notes"] == []
