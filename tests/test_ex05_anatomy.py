"""The checks of exercises/05_anatomy.ipynb, without a kernel.

Every task: the reference answer passes, typical student mistakes get the intended
status, points and hint, and no failure message gives the answer away.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED

from conftest import no_leak

EX = grading.exercise("05_anatomy")


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def test_tasks_points_and_smoke_size():
    assert [t.id for t in EX.tasks] == ["5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "5.7",
                                        "5.8", "5.9", "5.10"]
    assert sum(t.points for t in EX.tasks) == 17
    assert [t.kind for t in EX.tasks] == ["function", "function", "value", "model",
                                          "model", "model", "function", "function",
                                          "value", "value"]
    assert EX.smoke == {"N_TRAIN": 3000, "N_TEST": 2000, "EPOCHS": 3}


# --------------------------------------------------------------------------- 5.1


def stable(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def naive(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def one_max(x):                    # subtracts the batch's maximum, not each row's
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=-1, keepdims=True)


def columns(x):                    # normalizes along axis 0
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def whole(x):                      # one sum for the whole batch
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum()


def test_51_stable_softmax_passes_and_agrees_with_keras():
    import keras

    assert result("5.1", stable).passed
    x = np.random.default_rng(0).normal(size=(3, 7))
    reference = np.array(keras.ops.convert_to_numpy(keras.activations.softmax(x)))
    assert result("5.1", lambda x: keras.ops.convert_to_numpy(
        keras.activations.softmax(np.atleast_2d(x))).reshape(np.shape(x))).passed
    np.testing.assert_allclose(stable(x), reference, atol=1e-6)


@pytest.mark.parametrize("fn, hint, points", [
    # one slip throughout: at most half the points, whatever the probes that cannot show it
    (naive, "subtract the maximum score", 1.0),
    (one_max, "each row's own maximum", 1.0),
    (columns, "each column sums to 1", 1.0),
    (whole, "the whole batch sums to 1", 1.0),
    (lambda x: np.exp(x - x.max(axis=-1, keepdims=True)), "divide by the sum", 0),
    (lambda x: x / x.sum(axis=-1, keepdims=True), "apply np.exp", 0),
    (lambda x: stable(x).max(axis=-1), "one probability per score", 0),
])
def test_51_mistakes_get_hints(fn, hint, points):
    with np.errstate(all="ignore"):
        r = result("5.1", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_51_a_cause_is_claimed_only_when_the_answer_shows_it():
    """The naive softmax (no maximum subtracted at all) was told "subtract each row's own
    maximum, not one maximum for the whole batch": a slip it does not make."""
    with np.errstate(all="ignore"):
        r = result("5.1", naive)
    assert "one maximum for the whole batch" not in r.message, r.message
    assert r.points == 1.0             # one slip throughout: at most half the points


def test_51_not_attempted_crash_and_not_a_function():
    def todo(x):
        raise NotImplementedError("replace this line with your code")

    assert result("5.1", todo).status == NOT_ATTEMPTED
    assert result("5.1", ...).status == NOT_ATTEMPTED
    crash = result("5.1", lambda x: x[5, 5, 5])
    assert crash.status == FAILED and crash.points == 0 and "raised" in crash.message
    assert "a function" in result("5.1", np.ones(3)).message


# --------------------------------------------------------------------------- 5.2


def ce(y_true, y_pred):
    return float(np.mean(-np.log(np.sum(y_true * y_pred, axis=-1))))


def test_52_cross_entropy_passes_and_matches_keras():
    import keras

    assert result("5.2", ce).passed
    assert result("5.2", lambda t, p: np.float32(ce(t, p))).passed
    assert result("5.2", lambda t, p: np.array([ce(t, p)])).passed
    clipped = result("5.2", lambda t, p: -np.mean(
        np.sum(t * np.log(np.clip(p, 1e-12, 1.0)), axis=-1)))
    assert clipped.passed
    keras_ce = keras.losses.CategoricalCrossentropy()
    keras_loss = result("5.2", lambda t, p: float(keras_ce(t, p)))
    assert keras_loss.passed, keras_loss.message
    rng = np.random.default_rng(1)
    t = np.eye(5)[rng.integers(0, 5, size=8)]
    p = stable(rng.normal(size=(8, 5)))
    k = float(keras.losses.CategoricalCrossentropy()(t, p))
    assert abs(k - ce(t, p)) < 1e-5


@pytest.mark.parametrize("fn, hint, points", [
    (lambda t, p: float(np.mean(-np.sum(t * np.log(p), axis=-1))),
     "0 x log(0)", 1.0),
    (lambda t, p: float(-np.sum(t * np.log(np.clip(p, 1e-12, 1)))),
     "sum over the batch", 0.4),
    (lambda t, p: float(np.mean(np.sum(t * np.log(np.clip(p, 1e-12, 1)), axis=-1))),
     "sign is wrong", 0),
    (lambda t, p: float(np.mean(-np.sum(t * np.log10(np.clip(p, 1e-12, 1)), axis=-1))),
     "not log10", 0),
    (lambda t, p: float(np.mean(-np.sum(t * np.log2(np.clip(p, 1e-12, 1)), axis=-1))),
     "not log2", 0),
    (lambda t, p: float(-np.mean(t * np.log(np.clip(p, 1e-12, 1)))),
     "mean over all N x C entries", 0),
    (lambda t, p: -np.sum(t * np.log(np.clip(p, 1e-12, 1)), axis=-1),
     "one loss per example", 0.4),
    (lambda t, p: float(np.mean(-np.sum(p * np.log(t), axis=-1))),
     "log of y_pred, not of y_true", 0),
])
def test_52_mistakes_get_hints(fn, hint, points):
    with np.errstate(all="ignore"):
        r = result("5.2", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_52_messages_do_not_show_the_expected_loss():
    from cnn_helpers.grading.tasks.ex05_anatomy import _ce_probes, _cross_entropy

    r = result("5.2", lambda t, p: 1.0)
    assert r.status == FAILED and r.points == 0
    for y_true, y_pred in _ce_probes():
        expected = _cross_entropy(y_true, y_pred)
        for digits in (3, 4, 6):
            assert f"{expected:.{digits}f}" not in r.message


# --------------------------------------------------------------------------- 5.3

N_PARAMS = (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64)
            + ops.dense_params(5 * 5 * 64, 64) + ops.dense_params(64, 10))


def test_53_count_passes_and_is_what_keras_counts():
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")])
    assert model.count_params() == N_PARAMS
    for answer in (N_PARAMS, float(N_PARAMS), np.int64(N_PARAMS)):
        assert result("5.3", answer).passed, answer


@pytest.mark.parametrize("answer, hint", [
    (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64)
     + ops.dense_params(7 * 7 * 64, 64) + ops.dense_params(64, 10), "shrinks each map"),
    (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64)
     + ops.dense_params(6 * 6 * 64, 64) + ops.dense_params(64, 10), "rounds down"),
    (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64)
     + ops.dense_params(24 * 24 * 64, 64) + ops.dense_params(64, 10),
     "pooling layers halve"),
    (N_PARAMS - 32 - 64 - 64 - 10, "also has a bias"),
    (N_PARAMS - ops.conv_params(32, 3, 64) + ops.conv_params(1, 3, 64),
     "spans all 32 maps"),
    (ops.dense_params(1600, 64) + ops.dense_params(64, 10), "convolutional layers"),
    (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64), "Dense layers"),
    (N_PARAMS - ops.dense_params(64, 10), "Dense(10) has parameters"),
    (1600, "size of one layer's output"),
    (125_000, "follow the size through the layers"),
])
def test_53_mistakes_get_hints(answer, hint):
    r = result("5.3", answer)
    assert r.status == FAILED and r.points == 0
    assert hint in r.message, r.message
    no_leak(r.message, N_PARAMS)


def test_53_not_a_number():
    assert "one number" in result("5.3", [1, 2]).message
    assert "should be one number" in result("5.3", "lots").message
    assert "should be a number" in result("5.3", None).message
    assert result("5.3", ...).status == NOT_ATTEMPTED
    too_large = result("5.3", N_PARAMS + 1).message
    assert too_large.startswith(f"{N_PARAMS + 1:,} is too large")


# --------------------------------------------------------------------------- 5.4

LENET_PARAMS = (ops.conv_params(1, 5, 20) + ops.conv_params(20, 5, 50)
                + ops.dense_params(7 * 7 * 50, 500) + ops.dense_params(500, 10))


def lenet(*, padding="same", pool_strides=(2, 2), out="softmax", filters=(20, 50),
          hidden=500, act="relu", shape=(28, 28, 1), functional=False, bias=True):
    import keras
    from keras import layers

    body = [layers.Conv2D(filters[0], (5, 5), padding=padding, activation=act,
                          use_bias=bias),
            layers.MaxPooling2D((2, 2), strides=pool_strides),
            layers.Conv2D(filters[1], (5, 5), padding=padding, activation=act),
            layers.MaxPooling2D((2, 2), strides=pool_strides),
            layers.Flatten(), layers.Dense(hidden, activation=act),
            layers.Dense(10, activation=out)]
    if functional:
        inputs = keras.Input(shape=shape)
        h = inputs
        for layer in body:
            h = layer(h)
        return keras.Model(inputs, h)
    return keras.Sequential([keras.Input(shape=shape), *body])


def test_54_lenet_passes_in_several_spellings():
    import keras
    from keras import layers

    r = result("5.4", lenet())
    assert r.passed and f"{LENET_PARAMS:,}" not in r.message     # a pass restates nothing
    assert result("5.4", lenet(functional=True)).passed
    separate = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(20, 5, padding="same"), layers.ReLU(), layers.MaxPooling2D(),
        layers.Conv2D(50, 5, padding="same"), layers.Activation("relu"),
        layers.MaxPooling2D(), layers.Flatten(), layers.Dense(500),
        layers.Activation("relu"), layers.Dense(10), layers.Softmax()])
    assert result("5.4", separate).passed


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"padding": "valid"}, "padding=\"same\"", 1),
    ({"pool_strides": (1, 1)}, "should halve them", 1),
    ({"out": None}, "a missing activation", 1),
    ({"out": "relu"}, "no softmax", 1),
    ({"filters": (6, 16)}, "conv1 has 6 filters", 1),
    ({"hidden": 120}, "has 120 units", 1),
    ({"bias": False}, "biases", 1),
    ({"act": None}, "no ReLU", 0.5),
    ({"padding": "valid", "out": None}, "no softmax", 0.5),
    ({"shape": (32, 32, 1)}, "(None, 28, 28, 1)", 0),
])
def test_54_mistakes(kwargs, hint, points):
    r = result("5.4", lenet(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_leak(r.message, LENET_PARAMS)


def test_54_wrong_layers_and_no_input():
    import keras
    from keras import layers

    no_pool = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(20, 5, padding="same", activation="relu"),
        layers.Conv2D(50, 5, padding="same", activation="relu"),
        layers.Flatten(), layers.Dense(500, activation="relu"),
        layers.Dense(10, activation="softmax")])
    r = result("5.4", no_pool)
    assert r.status == FAILED and r.points == 0
    assert "yours are Conv2D, Conv2D" in r.message
    unbuilt = keras.Sequential([layers.Conv2D(20, 5), layers.Flatten(),
                                layers.Dense(10)])
    r = result("5.4", unbuilt)
    assert r.status == FAILED and "keras.Input" in r.message
    assert "Keras model" in result("5.4", "lenet").message
    assert result("5.4", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 5.5


def cnn(*, drop=(0.5, 0.5), where="before", out="softmax", conv_act="relu", flat=True,
        pool=True, conv=True, shape=(28, 28, 1)):
    import keras
    from keras import layers

    body = []
    if conv:
        body += [layers.Conv2D(32, (3, 3), activation=conv_act)]
    if pool:
        body += [layers.MaxPooling2D((2, 2))]
    if conv:
        body += [layers.Conv2D(64, (3, 3), activation=conv_act)]
    if pool:
        body += [layers.MaxPooling2D((2, 2))]
    if flat:
        body += [layers.Flatten()]
    dropouts = [layers.Dropout(rate) for rate in drop]
    if where == "before":
        body += dropouts[:1] + [layers.Dense(128, activation="relu")] + dropouts[1:]
        body += [layers.Dense(10, activation=out)]
    else:
        body += [layers.Dense(128, activation="relu"), layers.Dense(10, activation=out)]
        body += dropouts
    return keras.Sequential([keras.Input(shape=shape), *body])


def test_55_models_with_dropout_pass():
    import keras
    from keras import layers

    r = result("5.5", cnn())
    assert r.passed and not re.search(r"\d", r.message), r.message
    assert result("5.5", cnn(drop=(0.25,))).passed
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.MaxPooling2D()(layers.Conv2D(16, 3, activation="relu")(inputs))
    h = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(h))
    functional = keras.Model(inputs, layers.Dense(10, activation="softmax")(h))
    assert result("5.5", functional).passed


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"drop": ()}, "no Dropout layer", 1),
    ({"drop": (0.0,)}, "drops nothing", 1),
    ({"drop": (0.5,), "where": "after"}, "after the output layer", 1),
    ({"out": None}, "a missing activation", 1),
    ({"conv_act": None}, "collapse into one linear layer", 1),
    ({"out": None, "drop": ()}, "no Dropout layer", 0.5),
    ({"flat": False}, "put Flatten()", 0),
    ({"pool": False}, "MaxPooling2D", 0),
    ({"conv": False, "pool": False}, "Conv2D", 0),
    ({"shape": (28, 28, 3)}, "(None, 28, 28, 1)", 0),
])
def test_55_mistakes(kwargs, hint, points):
    r = result("5.5", cnn(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_55_not_a_model():
    assert "Keras model" in result("5.5", {"layers": 3}).message
    assert result("5.5", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 5.6
# the trained model itself, scored on test digits the check chooses


@pytest.fixture(scope="module")
def trained():
    """The ready-made fallback model of task 5.6, trained for one epoch at smoke size."""
    import keras

    from cnn_helpers import datasets, models

    keras.utils.set_random_seed(0)
    (x, y), _ = datasets.load_mnist(n_train=3000, n_test=10, seed=0)
    x = x[..., np.newaxis].astype("float32") / 255
    model = models.tutorial_convnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model.trained_steps = int(np.asarray(model.optimizer.iterations))   # as rebuilt
    return model


def test_56_a_trained_model_passes_on_the_checks_own_digits(trained):
    r = result("5.6", trained)
    assert r.passed and r.points == 2, r.message
    assert "test digits the check chose" in r.message and "0.99" in r.message


def test_56_an_untrained_model_earns_nothing():
    r = result("5.6", cnn())
    assert r.status == FAILED and r.points == 0
    assert "has not been trained" in r.message


def test_56_a_made_up_history_earns_nothing():
    made_up = {"loss": [0.3, 0.05], "val_accuracy": [0.985, 0.9917]}
    r = result("5.6", made_up)
    assert r.status == FAILED and r.points == 0 and "Keras model" in r.message


def test_56_low_accuracy_and_guessing(trained):
    import keras

    half = keras.models.clone_model(trained)
    weights = trained.get_weights()
    kernel, bias = weights[-2].copy(), weights[-1].copy()
    kernel[:, :5], bias[:5] = kernel[:, [1, 2, 3, 4, 0]], bias[[1, 2, 3, 4, 0]]
    half.set_weights(weights[:-2] + [kernel, bias])            # digits 0-4 mixed up
    half.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    half.fit(np.zeros((1, 28, 28, 1)), np.zeros(1), epochs=1, verbose=0)   # one step
    r = result("5.6", half)
    assert r.status == FAILED and r.points == 1, r.message
    assert "too low" in r.message and "scaled to [0, 1]" in r.message

    from cnn_helpers.grading.tasks import ex05_anatomy as tasks

    guess = keras.models.clone_model(trained)           # every weight 0: one digit for all
    guess.set_weights([np.zeros_like(w) for w in trained.get_weights()])
    guess.trained_steps = 1
    verdict, message = tasks._trained_check(guess)
    assert verdict is False and "no better than guessing" in message


def test_56_the_optimizer_the_task_asks_for(trained):
    import keras

    from cnn_helpers.grading.tasks import ex05_anatomy as tasks

    assert tasks._trained_check(trained)[0] is True           # Adam
    sgd = keras.models.clone_model(trained)
    sgd.set_weights(trained.get_weights())
    sgd.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    sgd.trained_steps = 100
    verdict, message = tasks._trained_check(sgd)
    assert verdict == 0.5 and "compiled with SGD" in message and "Adam" in message


def test_56_wrong_model_and_not_attempted():
    r = result("5.6", lenet(shape=(32, 32, 1)))
    assert r.status == FAILED and "(None, 28, 28, 1)" in r.message
    assert result("5.6", ...).status == NOT_ATTEMPTED


FALLBACK = ("from cnn_helpers import models\n"
            "mnist_model = models.tutorial_convnet()\n"
            "mnist_model.compile(optimizer='adam', loss='categorical_crossentropy')\n"
            "history = mnist_model.fit(x_train, y_train, epochs=EPOCHS)\n")


@pytest.mark.delegation
def test_56_the_fallback_model_earns_task_56_only(trained):
    r = EX.result("5.6", trained, sources=[FALLBACK])
    assert r.passed, r.message
    r = EX.result("5.5", trained, sources=[FALLBACK])
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message


# --------------------------------------------------------------------------- 5.7
# the backward pass (moved here from exercise 4 with section 5.7 of the chapter)


def input_grad(grad_out, kernel, flip=(True, True), pad=True):
    fh, fw = kernel.shape
    k = kernel[::-1] if flip[0] else kernel
    k = k[:, ::-1] if flip[1] else k
    padded = np.pad(grad_out, ((fh - 1, fh - 1), (fw - 1, fw - 1))) if pad else grad_out
    return ops.conv2d(padded, k)


def scatter_grad(grad_out, kernel):
    """The other way to write it: every output sends g[j, k] * kernel to its window."""
    fh, fw = kernel.shape
    dx = np.zeros((grad_out.shape[0] + fh - 1, grad_out.shape[1] + fw - 1))
    for j in range(grad_out.shape[0]):
        for k in range(grad_out.shape[1]):
            dx[j:j + fh, k:k + fw] += grad_out[j, k] * kernel
    return dx


def test_57_full_convolution_and_scatter_pass():
    for fn in (input_grad, scatter_grad):
        r = result("5.7", fn)
        assert r.passed and r.points == 2, r.message


def test_57_agrees_with_autodiff():
    import keras

    from cnn_helpers.autodiff import gradients

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    g = rng.normal(size=ops.conv2d(x, w).shape)
    g_t = keras.ops.convert_to_tensor(g[None, :, :, None], "float32")
    auto, = gradients(lambda t: keras.ops.sum(keras.ops.conv(
        t, w[:, :, None, None].astype("float32")) * g_t), x[None, :, :, None])
    np.testing.assert_allclose(input_grad(g, w), auto[0, :, :, 0], atol=1e-5)


def test_57_not_flipped():
    r = result("5.7", lambda g, k: input_grad(g, k, flip=(False, False)))
    assert r.status == FAILED and r.points == 0.4            # the 1x1 kernel probe
    assert "the kernel is not flipped" in r.message
    assert "rows and columns" not in r.message               # (1, 1) probe: same hint


def test_57_flipped_along_one_axis():
    r = result("5.7", lambda g, k: input_grad(g, k, flip=(True, False)))
    assert r.status == FAILED and "one axis only" in r.message, r.message


def test_57_turned_by_90_degrees():
    def rot(g, k):
        return input_grad(g, np.rot90(k)[::-1, ::-1]) if k.shape[0] == k.shape[1] \
            else input_grad(g, k)

    r = result("5.7", rot)
    assert r.status == FAILED and "turned by 90 degrees" in r.message, r.message


def test_57_no_padding():
    r = result("5.7", lambda g, k: input_grad(g, k, pad=False))
    assert r.status == FAILED and r.points == 0.4
    assert "pad dL/dy with F - 1 zeros" in r.message


def test_57_same_size_padding():
    def same(g, k):
        return ops.conv2d(g, k[::-1, ::-1], padding="same")

    r = result("5.7", same)
    assert r.status == FAILED and "'full' convolution" in r.message, r.message


def test_57_forward_pass_instead():
    r = result("5.7", lambda g, k: ops.conv2d(g, k))
    assert r.status == FAILED
    assert "shape" in r.message and "pad dL/dy" in r.message


# --------------------------------------------------------------------------- 5.8
# one step of Keras' Adam (section 5.11 of the chapter)


def adam_step(w, g, m, v, t, lr=0.001, *, correct=True, eps_inside=False, textbook=False,
              sign=-1, t_shift=0, fresh=False):
    b1, b2, eps = 0.9, 0.999, 1e-7
    if fresh:
        m, v = 0.0 * m, 0.0 * v
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    t = t + t_shift
    if textbook:
        step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    else:
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) if correct else lr
        step = alpha * m / (np.sqrt(v + eps) if eps_inside else np.sqrt(v) + eps)
    return w + sign * step, m, v


def test_58_reference_passes_and_matches_keras():
    import keras

    assert result("5.8", adam_step).passed
    rng = np.random.default_rng(0)
    w0, grads = rng.normal(size=5), rng.normal(size=(4, 5))
    variable = keras.Variable(w0.astype("float32"))
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    w, m, v = w0, np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g, "float32"), variable)])
        w, m, v = adam_step(w, g, m, v, t, lr=0.01)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), w, atol=1e-6)
    from cnn_helpers.grading.tasks.ex05_anatomy import _adam_expected, _adam_probes

    for probe in _adam_probes():          # the checker's expected values are Keras' rule
        np.testing.assert_allclose(_adam_expected(*probe), np.stack(adam_step(*probe)),
                                   atol=1e-12)


@pytest.mark.parametrize("options, hint", [
    ({"correct": False}, "bias correction"),
    ({"eps_inside": True}, "inside the square root"),
    ({"textbook": True}, "textbook form"),
    ({"sign": 1}, "subtract the step"),
    ({"t_shift": 1}, "do not add 1"),
    ({"fresh": True}, "not from zero"),
])
def test_58_mistakes_get_hints(options, hint):
    r = result("5.8", lambda w, g, m, v, t, lr: adam_step(w, g, m, v, t, lr, **options))
    assert r.status == FAILED and r.points < 2, r
    assert hint in r.message, r.message


def test_58_textbook_form_gets_partial_credit_and_w_alone_is_named():
    r = result("5.8", lambda w, g, m, v, t, lr: adam_step(w, g, m, v, t, lr, textbook=True))
    assert 0 < r.points < 2                       # right except for tiny gradients
    r = result("5.8", lambda w, g, m, v, t, lr: adam_step(w, g, m, v, t, lr)[0])
    assert r.status == FAILED and r.points == 0 and "not w alone" in r.message
    assert result("5.8", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 5.9, 5.10


@pytest.mark.parametrize("task_id, right, wrong", [
    ("5.9", "c", {"a": "a linear function of a linear function is linear",
                  "b": "passes gradients back without trouble",
                  "d": "far more parameters"}),
    ("5.10", "a", {"b": "no lack of capacity explains",
                   "c": "never trained on",
                   "d": "standard error"}),
])
def test_conceptual_questions(task_id, right, wrong):
    assert result(task_id, right).passed and result(task_id, right.upper()).passed
    for letter, why in wrong.items():
        r = result(task_id, letter)
        assert r.status == FAILED and r.points == 0 and why in r.message, r.message
        assert f"'{right}'" not in r.message
    assert "one of the letters" in result(task_id, "e").message
    assert result(task_id, ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- delegation

TUTORIAL = ("import keras\nfrom keras import layers\nfrom cnn_helpers import ops\n"
            "tutorial_model = keras.Sequential([keras.Input(shape=(28, 28, 1)),"
            " layers.Conv2D(32, (3, 3)), layers.MaxPooling2D((2, 2)),"
            " layers.Conv2D(64, (3, 3)), layers.MaxPooling2D((2, 2)), layers.Flatten(),"
            " layers.Dense(64), layers.Dense(10)])\n")


@pytest.mark.delegation
@pytest.mark.parametrize("code", [
    "n_params = tutorial_model.count_params()",
    "n_params = sum(layer.count_params() for layer in tutorial_model.layers)",
    "n_params = (ops.conv_params(1, 3, 32) + ops.conv_params(32, 3, 64)"
    " + ops.dense_params(1600, 64) + ops.dense_params(64, 10))",
])
def test_53_a_count_from_keras_or_ops_earns_nothing(code):
    r = EX.result("5.3", N_PARAMS, sources=[TUTORIAL, code])
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message, r.message


@pytest.mark.delegation
def test_53_a_count_by_hand_passes_with_the_model_built_to_compare():
    by_hand = ("side = (28 - 3 + 1) // 2\nside = (side - 3 + 1) // 2\n"
               "n_params = 10 * 32 + (32 * 9 + 1) * 64 + (side * side * 64 + 1) * 64"
               " + 65 * 10\n")
    r = EX.result("5.3", N_PARAMS, sources=[TUTORIAL, by_hand,
                                           "print(n_params, tutorial_model.count_params())"])
    assert r.passed, r.message


@pytest.mark.delegation
def test_57_replayed_after_the_notebooks_imports(tmp_path):
    """The notebook imports the book's models (task 5.6's fallback), which register Keras
    classes when imported: that is no call of the student's function into Keras."""
    from test_replay import grade_function, notebook

    header = ("import numpy as np\nimport keras\nfrom keras import layers\n"
              "from cnn_helpers import datasets, grading, models, ops\n"
              "from cnn_helpers.autodiff import gradients")
    answer = ("def conv2d_input_grad(grad_out, kernel):\n"
              "    fh, fw = kernel.shape\n"
              "    padded = np.pad(grad_out, ((fh - 1, fh - 1), (fw - 1, fw - 1)))\n"
              "    return ops.conv2d(padded, kernel[::-1, ::-1])")
    r = grade_function(notebook((header, None), (answer, "task-5.7")), "05_anatomy", "5.7",
                       tmp_path)
    assert r.passed, r.message
    cheat = answer.replace("return ops.conv2d(padded, kernel[::-1, ::-1])",
                           "return ops.conv2d_transpose(grad_out[:, :, None], "
                           "kernel[:, :, None, None])[:, :, 0]")
    r = grade_function(notebook((header, None), (cheat, "task-5.7")), "05_anatomy", "5.7",
                       tmp_path / "cheat")
    assert r.points == 0 and "no credit" in r.message, r.message
