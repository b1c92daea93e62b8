"""The checks of exercises/07_mnist.ipynb, without a kernel.

Every task: the reference answer passes, typical student mistakes get the intended
status, points and hint, and no failure message gives the answer away.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED

from conftest import no_leak

EX = grading.exercise("07_mnist")


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def test_tasks_points_and_smoke_size():
    assert [t.id for t in EX.tasks] == ["7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.7",
                                        "7.8", "7.9"]
    assert sum(t.points for t in EX.tasks) == 14
    assert [t.kind for t in EX.tasks] == ["value", "function", "model", "function",
                                          "function", "value", "model", "value", "value"]
    assert EX.smoke == {"N_TRAIN": 3000, "N_TEST": 1000, "EPOCHS": 3}


# --------------------------------------------------------------------------- 7.1

N_STEPS = 5 * math.ceil((60000 - 6000) / 100)


def test_71_steps_pass():
    for answer in (N_STEPS, float(N_STEPS), np.int64(N_STEPS)):
        assert result("7.1", answer).passed, answer


@pytest.mark.parametrize("answer, hint", [
    (5 * 600, "holds 10% of the images out"),
    (540, "that is one epoch"),
    (600, "without the 10% held out"),
    (5 * 60, "counts the validation images"),
    (54000 * 5, "a whole mini-batch of 100 images"),
    (60000 * 5, "a whole mini-batch of 100 images"),
    (54000, "a number of images, not of steps"),
    (1234, "count the mini-batches of one epoch"),
])
def test_71_mistakes_get_hints(answer, hint):
    r = result("7.1", answer)
    assert r.status == FAILED and r.points == 0, r
    assert hint in r.message, r.message
    no_leak(r.message, N_STEPS)


def test_71_not_a_number_and_not_attempted():
    assert "should be a number" in result("7.1", "many").message
    assert "should be a number" in result("7.1", [540, 5]).message
    assert result("7.1", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 7.2


def prepare(images, labels):
    import keras

    x = images.reshape(len(images), 28, 28, 1).astype("float32") / 255
    return x, keras.utils.to_categorical(labels, num_classes=10)


def test_72_prepare_passes_in_several_spellings():
    assert result("7.2", prepare).passed
    assert result("7.2", lambda i, l: [np.expand_dims(i, -1).astype(np.float32) / 255.0,
                                       np.eye(10, dtype=np.float32)[l]]).passed
    assert result("7.2", lambda i, l: ((i / 255).astype("float32")[..., None],
                                       np.eye(10, dtype=int)[l])).passed


@pytest.mark.parametrize("fn, hint, points", [
    (lambda i, l: (i.astype("float32") / 255, np.eye(10)[l]),
     "the channel axis is missing", 0.8),
    (lambda i, l: (i.astype("float32")[:, None] / 255, np.eye(10)[l]),
     "channel axis is first", 0.8),
    (lambda i, l: (i.reshape(len(i), -1).astype("float32") / 255, np.eye(10)[l]),
     "keep the 28 x 28 layout", 0.8),
    (lambda i, l: (i[..., None].astype("float32"), np.eye(10)[l]),
     "still run from 0 to 255", 0.8),
    (lambda i, l: (i[..., None].astype("float32") / i.max(), np.eye(10)[l]),
     "not by the largest value in this batch", 0.8),
    (lambda i, l: (i[..., None] // 255, np.eye(10)[l]), "integer division", 0.8),
    (lambda i, l: ((i[..., None] - 127.5).astype("float32") / 127.5, np.eye(10)[l]),
     "negative values", 0.8),
    (lambda i, l: (i[..., None] / 255, np.eye(10)[l]), "dtype float64", 1.6),
    (lambda i, l: (i[..., None].astype("float32") / 255, l),
     "the labels are still digits", 1.2),
    (lambda i, l: (i[..., None].astype("float32") / 255, np.eye(int(l.max()) + 1)[l]),
     "num_classes=10", 1.2),
    (lambda i, l: (i.reshape(60000, 28, 28, 1) / 255, np.eye(10)[l]),
     "do not hard-code the number of images", 0),
    (lambda i, l: i[..., None].astype("float32") / 255, "return two arrays", 0),
])
def test_72_mistakes_get_hints(fn, hint, points):
    r = result("7.2", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_72_not_attempted_and_not_a_function():
    def todo(images, labels):
        raise NotImplementedError("replace this line with your code")

    assert result("7.2", todo).status == NOT_ATTEMPTED
    assert "a function" in result("7.2", np.ones(3)).message


# --------------------------------------------------------------------------- 7.3

NOTES_PARAMS = (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 32)
                + ops.dense_params(12 * 12 * 32, 64) + ops.dense_params(64, 10))
ROW_PARAMS = (ops.conv_params(1, 3, 32), ops.conv_params(32, 3, 32),
              ops.dense_params(12 * 12 * 32, 64), ops.dense_params(64, 10))


def notes(*, kernel=3, padding="valid", filters=(32, 32), hidden=64, pool=True,
          flatten=True, fused=False, acts=("relu", "relu", "relu", "softmax"),
          bias=True, shape=(28, 28, 1), extra=()):
    import keras
    from keras import layers

    def block(kind, *args, act, **kwargs):
        if fused:
            return [kind(*args, activation=act, **kwargs)]
        return [kind(*args, **kwargs), layers.Activation(act)]

    body = block(layers.Conv2D, filters[0], kernel, padding=padding, use_bias=bias,
                 act=acts[0])
    body += block(layers.Conv2D, filters[1], kernel, padding=padding, act=acts[1])
    body += [layers.MaxPooling2D((2, 2))] if pool else []
    body += [layers.Flatten()] if flatten else []
    body += block(layers.Dense, hidden, act=acts[2]) + list(extra)
    body += block(layers.Dense, 10, act=acts[3])
    return keras.Sequential([keras.Input(shape=shape), *body])


def test_73_reference_and_builder_pass():
    """The builder's network is the right one (the delegation rule, lifted here, is
    tested below)."""
    from cnn_helpers import models

    r = result("7.3", notes())
    assert r.passed and f"{NOTES_PARAMS:,}" not in r.message     # a pass restates nothing
    built = models.lecture_notes_mnist()
    assert built.count_params() == NOTES_PARAMS
    assert result("7.3", built).passed


def test_73_summary_is_what_keras_prints():
    """The expected rows, computed with ops, are the rows of a Keras model."""
    from cnn_helpers.grading.tasks.ex07_mnist import _notes_summary

    model = notes()
    rows = [(type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers]
    assert rows == _notes_summary()


def test_73_relu_layers_pass():
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3), layers.ReLU(),
        layers.Conv2D(32, 3), layers.ReLU(), layers.MaxPooling2D(), layers.Flatten(),
        layers.Dense(64), layers.ReLU(), layers.Dense(10), layers.Softmax()])
    r = result("7.3", model)
    assert r.passed and "the same computation" in r.message


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"fused": True}, "each activation is a layer of its own", 1),
    ({"acts": ("relu", "relu", "relu", "relu")}, "activation row 4 is relu", 1),
    ({"acts": ("sigmoid", "relu", "relu", "softmax")}, "activation row 1 is sigmoid",
     1),
    ({"padding": "same"}, "no padding", 0.5),
    ({"kernel": 5}, "what kernel size", 0.5),
    ({"filters": (32, 64)}, "row 3 (Conv2D) has 64 filters", 0.5),
    ({"hidden": 128}, "row 7 (Dense) has 128 units", 0.5),
    ({"bias": False}, "no biases", 0.5),
    ({"pool": False}, "yours are Conv2D, Conv2D, Flatten", 0),
    ({"flatten": False}, "put Flatten() before the Dense layers", 0),
    ({"extra": "dropout"}, "the summary has no Dropout layer", 0),
    ({"shape": (28, 28, 3)}, "(None, 28, 28, 1)", 0),
])
def test_73_mistakes(kwargs, hint, points):
    if kwargs.get("extra") == "dropout":
        from keras import layers

        kwargs = {"extra": (layers.Dropout(0.5),)}
    r = result("7.3", notes(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_leak(r.message, NOTES_PARAMS, *ROW_PARAMS, 4608)


def test_73_a_consequence_is_not_blamed():
    """With padding="same" every later row differs too; only the cause is named."""
    r = result("7.3", notes(padding="same"))
    assert "MaxPooling2D" not in r.message and "rows differ" in r.message


def test_73_unbuilt_and_not_a_model():
    import keras
    from keras import layers

    unbuilt = keras.Sequential([layers.Conv2D(32, 3), layers.Flatten(),
                                layers.Dense(10)])
    r = result("7.3", unbuilt)
    assert r.status == FAILED and "keras.Input" in r.message
    assert "Keras model" in result("7.3", "notes").message
    assert result("7.3", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 7.4


def smoothed(y_true, y_pred, eps):
    k = y_true.shape[-1]
    target = (1 - eps) * y_true + eps / k
    return float(np.mean(-np.sum(target * np.log(y_pred), axis=-1)))


def test_74_passes_and_matches_keras():
    import keras

    from cnn_helpers.grading.tasks.ex07_mnist import _smooth_probes

    assert result("7.4", smoothed).passed
    assert result("7.4", lambda t, p, e: np.float32(smoothed(t, p, e))).passed
    assert result("7.4", lambda t, p, e: float(keras.losses.CategoricalCrossentropy(
        label_smoothing=e)(t, p))).passed
    for y_true, y_pred, eps in _smooth_probes():
        theirs = float(keras.losses.CategoricalCrossentropy(label_smoothing=eps)(
            y_true, y_pred))
        assert theirs == pytest.approx(smoothed(y_true, y_pred, eps), rel=1e-5)


def ce(target, p):
    return float(np.mean(-np.sum(target * np.log(p), axis=-1)))


@pytest.mark.parametrize("fn, hint, points", [
    (lambda t, p, e: ce(t, p), "the smoothing has no effect", 0.4),
    (lambda t, p, e: ce(t + e / t.shape[-1], p), "no longer sum to 1", 0.4),
    (lambda t, p, e: ce((1 - e) * t + e, p), "each class gets eps / K, not eps", 0.4),
    (lambda t, p, e: ce(np.where(t > 0, 1 - e, e / (t.shape[-1] - 1)), p),
     "another convention", 0.4),
    (lambda t, p, e: ce(t, (1 - e) * p + e / t.shape[-1]), "not the predictions", 0.4),
    (lambda t, p, e: ce((1 - e) * t + e / 10, p), "not always 10", 1.0),   # one slip: half
    (lambda t, p, e: -smoothed(t, p, e), "the sign is wrong", 0),
    (lambda t, p, e: smoothed(t, p, e) * len(t), "sum over the batch", 0.4),
    (lambda t, p, e: -np.sum(((1 - e) * t + e / t.shape[-1]) * np.log(p), axis=-1),
     "one loss per example", 0.4),
    (lambda t, p, e: smoothed(t, p, e) / math.log(10), "natural logarithm", 0),
])
def test_74_mistakes_get_hints(fn, hint, points):
    r = result("7.4", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_74_messages_do_not_show_the_expected_loss():
    from cnn_helpers.grading.tasks.ex07_mnist import _smooth_probes

    r = result("7.4", lambda t, p, e: 1.0)
    assert r.status == FAILED and r.points == 0
    for y_true, y_pred, eps in _smooth_probes():
        expected = smoothed(y_true, y_pred, eps)
        for digits in (2, 3, 4, 6):
            assert f"{expected:.{digits}f}" not in r.message


def test_74_crash_and_not_attempted():
    crash = result("7.4", lambda t, p, e: t[99])
    assert crash.status == FAILED and "raised" in crash.message
    assert result("7.4", lambda t, p, e: (_ for _ in ()).throw(
        NotImplementedError())).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 7.5


def confusion(y_true, y_pred):
    m = np.zeros((10, 10), dtype=int)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m, np.diag(m) / m.sum(axis=1)


def test_75_passes_and_agrees_with_plotting():
    from cnn_helpers import plotting
    from cnn_helpers.grading.tasks.ex07_mnist import _confusion_probes

    assert result("7.5", confusion).passed
    assert result("7.5", lambda t, p: [confusion(t, p)[0].astype(float),
                                       list(confusion(t, p)[1])]).passed
    for y_true, y_pred in _confusion_probes():
        np.testing.assert_array_equal(confusion(y_true, y_pred)[0],
                                      plotting.confusion_matrix(y_true, y_pred, 10))


def transposed(y_true, y_pred):
    m, _ = confusion(y_true, y_pred)
    with np.errstate(all="ignore"):
        return m.T, np.diag(m) / m.T.sum(axis=1)


def precision(y_true, y_pred):
    m, _ = confusion(y_true, y_pred)
    with np.errstate(all="ignore"):
        return m, np.diag(m) / m.sum(axis=0)


@pytest.mark.parametrize("fn, hint, points", [
    (transposed, "rows and columns are swapped", 0),
    (precision, "that is the precision", 1),
    (lambda t, p: (confusion(t, p)[0], 100 * confusion(t, p)[1]), "not percentages", 1),
    (lambda t, p: (confusion(t, p)[0], np.diag(confusion(t, p)[0]) / len(t)),
     "not by all examples", 1),
    (lambda t, p: (confusion(t, p)[0], float(np.mean(t == p))),
     "not the overall accuracy", 1),
    (lambda t, p: (confusion(t, p)[0] / len(t), confusion(t, p)[1]),
     "counts (how many examples), not fractions", 1),
    (lambda t, p: (np.diag(np.diag(confusion(t, p)[0])), confusion(t, p)[1]),
     "only the diagonal is filled", 1),
    (lambda t, p: confusion(t, p)[0], "return two arrays", 0),
])
def test_75_mistakes(fn, hint, points):
    r = result("7.5", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_75_matrix_must_be_10_by_10():
    r = result("7.5", lambda t, p: (confusion(t, p)[0][:9, :9], confusion(t, p)[1]))
    assert r.status == FAILED and r.points == 1 and "10 x 10" in r.message


def test_75_not_attempted_and_crash():
    def todo(y_true, y_pred):
        raise NotImplementedError

    assert result("7.5", todo).status == NOT_ATTEMPTED
    crash = result("7.5", lambda t, p: t[1000])
    assert crash.status == FAILED and crash.points == 0 and "raised" in crash.message


# --------------------------------------------------------------------------- 7.6, 7.8, 7.9


@pytest.mark.parametrize("task_id, right, wrong", [
    ("7.6", "C", {"A": "far below the 10% of guessing", "B": "falls steadily",
                  "D": "scaled exactly like the training images",
                  "E": "shuffles the images and their labels together"}),
    ("7.8", "B", {"A": "chosen by them", "C": "which 10,000 digits",
                  "D": "standard error"}),
    ("7.9", "C", {"A": "cannot reach 0", "B": "jump about", "D": "99.9%"}),
])
def test_questions(task_id, right, wrong):
    for answer in (right, right.lower(), f" {right} "):
        r = result(task_id, answer)
        assert r.passed and r.message == "correct", r
    for letter, hint in wrong.items():
        r = result(task_id, letter)
        assert r.status == FAILED and r.points == 0 and hint in r.message, (letter, r.message)
        assert f"'{right}'" not in r.message and f" {right}." not in r.message
    assert result(task_id, ...).status == NOT_ATTEMPTED
    for bad in ("AB", "Z", 3, ["C"]):
        r = result(task_id, bad)
        assert r.status == FAILED and "one of the letters" in r.message, (bad, r.message)


def test_76_options_are_those_of_the_notebook():
    """Every letter the check knows is an option of the notebook's task, and the right
    one is the cause the solution demonstrates."""
    import nbformat

    from conftest import REPO

    nb = nbformat.read(REPO / "exercises" / "solutions" / "07_mnist.ipynb", as_version=4)
    statement = next(c.source for c in nb.cells if "## Task 7.6:" in c.source)
    for letter in "ABCDE":
        assert f"**{letter}.**" in statement
    option_c = statement.split("**C.**")[1].split("**D.**")[0]
    assert "validation_split=0.1` takes the last 10%" in option_c


# --------------------------------------------------------------------------- 7.7


def small_model(optimizer=None, *, skip_digit=None, epochs=6):
    """A softmax regression trained on 3,000 MNIST digits (quick, and above the floor)."""
    import keras

    from cnn_helpers import datasets

    (images, labels), _ = datasets.load_mnist(n_train=3000, n_test=10, seed=0)
    x = images[..., None].astype("float32") / 255
    y = keras.utils.to_categorical(labels, 10)
    if skip_digit is not None:
        keep = labels != skip_digit
        x, y = x[keep], y[keep]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer or keras.optimizers.Adadelta(learning_rate=1.0),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    if epochs:
        model.fit(x, y, batch_size=100, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="module")
def fixed(data_dir):
    return small_model()


def test_77_a_trained_model_passes(fixed):
    r = result("7.7", fixed)
    assert r.passed, r
    assert "every digit learned" in r.message and "0.85" in r.message


def test_77_the_classmates_run_earns_nothing(data_dir):
    """Trained without one digit (what validation_split does to sorted arrays)."""
    r = result("7.7", small_model(skip_digit=9))
    assert r.status == FAILED and r.points == 0, r
    assert "none of the digit 9 right" in r.message and "fault is still there" in r.message


def test_77_untrained_and_made_up_answers_earn_nothing(data_dir):
    r = result("7.7", small_model(epochs=0))
    assert r.status == FAILED and r.points == 0 and "never trained" in r.message
    r = result("7.7", {"loss": [2.3, 0.1], "val_accuracy": [0.5, 0.99]})
    assert r.status == FAILED and r.points == 0 and "Keras model" in r.message
    assert result("7.7", ...).status == NOT_ATTEMPTED


def test_77_barely_trained(data_dir):
    import keras

    r = result("7.7", small_model(keras.optimizers.Adadelta(learning_rate=0.001), epochs=1))
    assert r.status == FAILED and r.points == 0 and "hardly learned" in r.message, r


def test_77_another_optimizer_or_too_low(fixed, monkeypatch, data_dir):
    import keras

    from cnn_helpers.grading.tasks import ex07_mnist

    r = result("7.7", small_model(keras.optimizers.Adadelta(learning_rate=2.0)))
    assert r.status == FAILED and r.points == 1
    assert "learning rate is not the classmate's" in r.message
    r = result("7.7", small_model(keras.optimizers.Adam()))
    assert r.status == FAILED and r.points in (0.5, 1) and "compiled with Adam" in r.message
    monkeypatch.setattr(ex07_mnist, "ACCURACY_FLOOR", 0.99)
    r = result("7.7", fixed)
    assert r.status == FAILED and r.points == 1 and "below the 0.99" in r.message


def test_77_shapes():
    import keras

    wrong_input = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                    keras.layers.Dense(10, activation="softmax")])
    r = result("7.7", wrong_input)
    assert r.status == FAILED and "(None, 28, 28, 1)" in r.message
    wrong_output = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                     keras.layers.Dense(5, activation="softmax")])
    assert "(None, 10)" in result("7.7", wrong_output).message


# --------------------------------------------------------------------------- delegation


@pytest.mark.delegation
def test_73_the_books_builder_earns_nothing():
    from cnn_helpers import models

    r = EX.result("7.3", models.lecture_notes_mnist(), sources=[
        "from cnn_helpers import models", "notes_model = models.lecture_notes_mnist()"])
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message
    assert "lecture_notes_mnist" in r.message
    assert EX.result("7.3", notes(), sources=["notes_model = keras.Sequential([])"]).passed


@pytest.mark.delegation
def test_71_worked_out_not_delegated():
    r = EX.result("7.1", N_STEPS, sources=[
        "from cnn_helpers import ops", "n_steps = 5 * ops.conv_output_size(54000, 100, 100)"])
    assert r.status == FAILED and "no credit" in r.message
    assert EX.result("7.1", N_STEPS, sources=["n_steps = 5 * math.ceil(54000 / 100)"]).passed


@pytest.mark.delegation
def test_77_the_fallback_network_is_allowed(fixed):
    """Task 7.3 not done: the starter trains the book's builder instead, which 7.7 allows
    (it grades the training); the book's training helpers it does not."""
    fallback = ["from cnn_helpers import models",
                "network = models.lecture_notes_mnist()",
                "network.fit(x, y)", "fixed_model = network"]
    assert EX.result("7.7", fixed, sources=fallback).passed
    r = EX.result("7.7", fixed, sources=["from cnn_helpers import training",
                                         "fixed_model = training.build(recipe)"])
    assert r.status == FAILED and "no credit" in r.message


@pytest.mark.delegation
def test_75_confusion_matrix_is_written_in_numpy():
    from cnn_helpers import plotting

    r = EX.result("7.5", lambda t, p: (plotting.confusion_matrix(t, p, 10),
                                       np.ones(10)))
    assert r.status == FAILED and "no credit" in r.message
