"""The checks of exercises/08_cifar10.ipynb, without a kernel.

Every task: the reference answer passes, typical student mistakes get the intended
status, points and hint, and no failure message gives the answer away.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import ERROR, FAILED, NOT_ATTEMPTED

from conftest import no_leak

EX = grading.exercise("08_cifar10")


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def test_tasks_points_and_smoke_size():
    assert [t.id for t in EX.tasks] == ["8.1", "8.2", "8.3", "8.4", "8.5", "8.6", "8.7",
                                        "8.8", "8.9"]
    assert sum(t.points for t in EX.tasks) == 14
    assert [t.kind for t in EX.tasks] == ["function", "value", "model", "model",
                                          "model", "function", "function", "value", "value"]
    assert EX.smoke == {"N_TRAIN": 2000, "N_TEST": 500, "EPOCHS": 3}


def todo(*args):
    raise NotImplementedError("replace this line with your code")


@pytest.mark.parametrize("task_id", ["8.1", "8.2", "8.3", "8.4", "8.5", "8.6", "8.7",
                                     "8.8", "8.9"])
def test_blank_answers_are_not_attempted(task_id):
    assert result(task_id, ...).status == NOT_ATTEMPTED
    if EX.task(task_id).kind == "function":
        assert result(task_id, todo).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 8.1

AXES = (0, 1, 2)


def standardize(x_train, x_test):
    scaled = x_train.astype("float32") / 255
    mean, std = scaled.mean(axis=AXES), scaled.std(axis=AXES)
    test = (x_test.astype("float32") / 255 - mean) / std
    return (scaled - mean) / std, test, mean, std


def test_81_passes_in_several_spellings():
    assert result("8.1", standardize).passed
    assert result("8.1", lambda a, b: list(standardize(a, b))).passed

    def keepdims(a, b):
        t = a / 255.0
        mean = t.mean(axis=AXES, keepdims=True)
        std = t.std(axis=AXES, ddof=1, keepdims=True)        # the sample std is fine
        return (t - mean) / std, (b / 255.0 - mean) / std, mean, std

    assert result("8.1", keepdims).passed


def test_81_agrees_with_the_chapter_helper():
    """training.prepare standardizes the same way (per channel, training statistics)."""
    from cnn_helpers import models, training
    from cnn_helpers.grading.tasks.ex08_cifar10 import _std_probes

    recipe = models.CIFAR10_RECIPES["book"]
    for x_train, x_test in _std_probes():
        y_train = np.zeros((len(x_train), 1), int)
        y_test = np.zeros((len(x_test), 1), int)
        prepared = training.prepare(recipe, x_train, y_train, x_test, y_test)
        _, test, mean, std = standardize(x_train, x_test)
        np.testing.assert_allclose(prepared.mean, mean, rtol=1e-5)
        np.testing.assert_allclose(prepared.std, std, rtol=1e-5)
        np.testing.assert_allclose(prepared.x_test, test, atol=1e-4)


def unscaled_stats(a, b):
    train, test, mean, std = standardize(a, b)
    return train, test, mean * 255, std * 255


def all_pixels(a, b):
    t = a / 255.0
    return (t - t.mean()) / t.std(), (b / 255.0 - t.mean()) / t.std(), t.mean(), t.std()


def own_test_stats(a, b):
    train, _, mean, std = standardize(a, b)
    s = b / 255.0
    return train, (s - s.mean(axis=AXES)) / s.std(axis=AXES), mean, std


def stats_from_test(a, b):
    s = b / 255.0
    mean, std = s.mean(axis=AXES), s.std(axis=AXES)
    return (a / 255.0 - mean) / std, (s - mean) / std, mean, std


def per_image(a, b):
    _, _, mean, std = standardize(a, b)

    def own(x):
        x = x / 255.0
        mean = x.mean(axis=(1, 2), keepdims=True)
        return (x - mean) / x.std(axis=(1, 2), keepdims=True)

    return own(a), own(b), mean, std


def variance(a, b):
    t = a / 255.0
    mean, var = t.mean(axis=AXES), t.var(axis=AXES)
    return (t - mean) / var, (b / 255.0 - mean) / var, mean, var


def per_pixel(a, b):
    t = a / 255.0
    mean, std = t.mean(axis=0), t.std(axis=0)
    return (t - mean) / std, (b / 255.0 - mean) / std, mean, std


@pytest.mark.parametrize("fn, hint, points", [
    (unscaled_stats, "scale the images to [0, 1] first", 1),
    (all_pixels, "one mean for all pixels of all channels", 0),
    (own_test_stats, "the test images are standardized with their own statistics", 1),
    (stats_from_test, "that is the test images' mean", 0),
    (per_image, "each image is standardized with its own statistics", 1),
    (variance, "that is the variance", 0),
    (per_pixel, "one mean per pixel position", 0),
    (lambda a, b: standardize(a, b)[:3], "return four things", 0),
    (lambda a, b: standardize(a, b)[0], "return four things", 0),
])
def test_81_mistakes_get_hints(fn, hint, points):
    r = result("8.1", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_81_messages_show_no_statistics():
    from cnn_helpers.grading.tasks.ex08_cifar10 import _std_probes

    r = result("8.1", unscaled_stats)
    for x_train, x_test in _std_probes():
        _, _, mean, std = standardize(x_train, x_test)
        for v in (*mean, *std):
            for digits in (2, 3, 4):
                assert f"{v:.{digits}f}" not in r.message
    crash = result("8.1", lambda a, b: a[99])
    assert crash.status == FAILED and "raised" in crash.message
    assert "a function" in result("8.1", np.ones(3)).message


# --------------------------------------------------------------------------- 8.2

FEATURES = 2 * 2 * 128
DENSE = (16 * 16 * 32 + 1) * 512


def test_82_the_numbers_are_the_builders():
    from keras import layers

    from cnn_helpers import models
    from cnn_helpers.grading.tasks.ex08_cifar10 import _notes_features, _slides_dense

    flatten = next(layer for layer in models.lecture_notes_cifar().layers
                   if isinstance(layer, layers.Flatten))
    dense = next(layer for layer in models.slides_cifar_simple().layers
                 if isinstance(layer, layers.Dense))
    assert flatten.output.shape[-1] == _notes_features() == FEATURES
    assert dense.count_params() == _slides_dense() == DENSE
    assert DENSE == ops.dense_params(8192, 512)


def test_82_passes():
    for answer in ((FEATURES, DENSE), [float(FEATURES), np.int64(DENSE)]):
        r = result("8.2", answer)
        assert r.passed, r


@pytest.mark.parametrize("answer, hint, points", [
    ((4 * 4 * 128, DENSE), "no padding=\"same\"", 1),
    ((3 * 3 * 128, DENSE), "both convolutions of the third block", 1),
    ((2 * 2 * 64, DENSE), "the third block has 128 filters", 1),
    ((4, DENSE), "multiply the map's area by its 128 channels", 1),
    ((12, DENSE), "not the image's 3", 1),
    ((1000, DENSE), "follow the side of the maps block by block", 1),
    ((FEATURES, 8192 * 512), "each unit of the layer has a bias too", 1),
    ((FEATURES, (32 * 32 * 32 + 1) * 512), "halves each side before Flatten", 1),
    ((FEATURES, (16 * 16 * 3 + 1) * 512), "the convolution outputs 32 channels", 1),
    ((FEATURES, (15 * 15 * 32 + 1) * 512), "the 32x32 size is kept", 1),
    ((FEATURES, 4200842), "that is the whole model", 1),
    ((FEATURES, 5130), "that is the output layer", 1),
    ((FEATURES, 123456), "(inputs + 1) x units", 1),
    ((2048, 8192 * 512), "bias too", 0),
])
def test_82_mistakes_get_hints(answer, hint, points):
    r = result("8.2", answer)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    # A right half is echoed back (the student's own number); "Dense(512)" is the task's
    # name for the layer.
    wrong = [v for v, got in zip((FEATURES, DENSE), answer) if got != v]
    no_leak(r.message.replace("Dense(512)", ""), *wrong)


def test_82_not_a_pair():
    assert "a pair of two numbers" in result("8.2", FEATURES).message
    assert "a pair of two numbers" in result("8.2", (1, 2, 3)).message
    assert "should be a number" in result("8.2", ("many", DENSE)).message


# --------------------------------------------------------------------------- 8.3


def block(*, add=True, post_relu=False, bias=False, relu_first=False, second_relu=True,
          project=False, concat=False, shortcut="x", shape=(8, 8, 16), filters=16,
          relu_layer=False):
    import keras
    from keras import layers

    inputs = keras.Input(shape=shape)
    y, first = inputs, None
    for i in range(2):
        if relu_first:
            y = layers.Conv2D(filters, 3, padding="same", use_bias=bias,
                              activation="relu")(y)
            y = layers.BatchNormalization()(y)
        else:
            y = layers.Conv2D(filters, 3, padding="same", use_bias=bias)(y)
            y = layers.BatchNormalization()(y)
            if i == 0 or second_relu:
                y = layers.ReLU()(y) if relu_layer else layers.Activation("relu")(y)
        first = y if first is None else first
    skip = inputs if shortcut == "x" else first
    if project:
        skip = layers.Conv2D(filters, 1, use_bias=False)(skip)
    if concat:
        out = layers.Concatenate()([skip, y])
    elif add:
        out = layers.Add()([skip, y])
    else:
        out = y
    if post_relu:
        out = layers.Activation("relu")(out)
    return keras.Model(inputs, out)


BLOCK_PARAMS = 2 * ops.conv_params(16, 3, 16, use_bias=False) + 2 * 4 * 16


def test_83_reference_and_chapter_block_pass():
    import keras

    from cnn_helpers import models

    r = result("8.3", block())
    assert r.passed and f"{BLOCK_PARAMS:,}" not in r.message, r    # a pass restates nothing
    assert result("8.3", block(relu_layer=True)).passed
    inputs = keras.Input(shape=(8, 8, 16))
    assert result("8.3", keras.Model(inputs, models.residual_block(inputs, 16))).passed


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"post_relu": True}, "the ReLU comes after the addition", 1),
    ({"post_relu": True, "second_relu": False}, "the ReLU comes after the addition", 1),
    ({"second_relu": False}, "is not followed by a ReLU", 1),
    ({"relu_first": True}, "the ReLU comes before BatchNormalization", 1),
    ({"shortcut": "first"}, "the shortcut must carry the block's input x", 1),
    ({"bias": True}, "use_bias=False", 1),
    ({"add": False}, "add the block's input", 0.5),
    ({"project": True}, "no 1x1 convolution", 0),
    ({"concat": True}, "Concatenate stacks x and F(x)", 0),
    ({"shape": (8, 8, 3), "filters": 3}, "the input should be (None, 8, 8, 16)", 0),
])
def test_83_mistakes(kwargs, hint, points):
    r = result("8.3", block(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message
    no_leak(r.message, BLOCK_PARAMS)


def test_83_not_a_model():
    assert "Keras model" in result("8.3", "block").message


# --------------------------------------------------------------------------- 8.4


def net(*, augmentation="ours", residual=True, softmax=True, width=16, nested=False):
    import keras
    from keras import layers

    from cnn_helpers import models
    from cnn_helpers.augment import RandomFlip, RandomShift

    def conv(x, f):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.Activation("relu")(x)

    augment = {"ours": [RandomShift(2), RandomFlip()], "none": [],
               "rotation": [layers.RandomRotation(0.05), RandomFlip()],
               "keras_flip": [layers.RandomFlip()]}[augmentation]
    inputs = keras.Input(shape=(32, 32, 3))
    x = inputs
    if not nested:
        for layer in augment:
            x = layer(x)
    x = conv(x, width)
    for f in (2 * width, 4 * width):
        x = layers.MaxPooling2D(2)(conv(x, f))
        if residual:
            x = models.residual_block(x, f, name=f"res{f}")
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax" if softmax else None)(x)
    model = keras.Model(inputs, outputs)
    return models.with_augmentation(model, *augment) if nested else model


def test_84_reference_passes_also_nested():
    r = result("8.4", net())
    assert r.passed and not re.search(r"\d", r.message), r
    assert result("8.4", net(nested=True)).passed


@pytest.mark.parametrize("kwargs, hint, points", [
    ({"augmentation": "rotation"}, "RandomRotation cannot be compiled", 0.5),
    ({"augmentation": "none"}, "no data augmentation", 0.5),
    ({"augmentation": "keras_flip"}, "flips upside down", 0.5),
    ({"residual": False}, "no residual block", 0.5),
    ({"softmax": False}, "the output has no softmax", 0.5),
    ({"width": 48}, "too many to train", 0.5),
    ({"residual": False, "augmentation": "rotation"}, "no residual block", 0.25),
])
def test_84_mistakes(kwargs, hint, points):
    r = result("8.4", net(**kwargs))
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_84_shapes():
    import keras
    from keras import layers

    small = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])
    assert "(None, 32, 32, 3)" in result("8.4", small).message
    no_pool = keras.Sequential([keras.Input(shape=(32, 32, 3)), layers.Conv2D(10, 3)])
    assert "end with global pooling" in result("8.4", no_pool).message


# --------------------------------------------------------------------------- 8.5


def recipe_sgd(epochs, *, peak=0.1, nesterov=True, weight_decay=5e-4):
    import keras

    steps = math.ceil(2000 / 128)
    total, warmup = steps * epochs, steps * epochs // 5
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10, decay_steps=total - warmup, alpha=0.0,
        warmup_target=peak, warmup_steps=warmup)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=nesterov,
                                weight_decay=weight_decay)


def small_cifar_net(*, conv=True, standardize=True, optimizer=None, epochs=3):
    """A small network trained on 2,000 CIFAR-10 images with the task's recipe (a few
    seconds; above the floor with one convolution, below it without)."""
    import keras

    from cnn_helpers import datasets

    (images, labels), _ = datasets.load_cifar10(n_train=2000, n_test=10, seed=0)
    x = images.astype("float32") / 255
    if standardize:
        x = (x - x.mean(axis=AXES)) / x.std(axis=AXES)
    keras.utils.set_random_seed(0)
    body = ([keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(4)]
            if conv else [])
    model = keras.Sequential([keras.Input((32, 32, 3)), *body, keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer or recipe_sgd(max(epochs, 1)),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
                  metrics=["accuracy"])
    if epochs:
        model.fit(x, keras.utils.to_categorical(labels, 10), batch_size=128, epochs=epochs,
                  verbose=0)
    return model


@pytest.fixture(scope="module")
def trained(data_dir):
    return small_cifar_net()


def test_85_trained_network_passes(trained):
    r = result("8.5", trained)
    assert r.passed and "1,000 test images" in r.message, r


def test_85_the_checks_statistics_are_those_of_the_training_images(data_dir):
    from cnn_helpers import datasets
    from cnn_helpers.grading.tasks.ex08_cifar10 import _training_statistics

    (images, _), _ = datasets.load_cifar10(n_train=2000, n_test=500, seed=0)
    scaled = images.astype("float64") / 255
    np.testing.assert_allclose(_training_statistics(), (scaled.mean(axis=AXES),
                                                        scaled.std(axis=AXES)), rtol=1e-9)
    _, _, mean, std = standardize(images, images[:1])       # a student's, in float32
    np.testing.assert_allclose(_training_statistics(), (mean, std), rtol=1e-3)


def test_85_below_the_floor(data_dir):
    r = result("8.5", small_cifar_net(conv=False))
    assert r.status == FAILED and r.points == 1, r
    assert "below the 0.3" in r.message and "standardize_cifar" in r.message
    assert "momentum=0.9" in r.message


@pytest.mark.parametrize("kwargs, hint", [
    ({"nesterov": False}, "nesterov=True"),
    ({"weight_decay": 0.0}, "weight_decay=5e-4"),
    ({"peak": 0.4}, "warm-up to 0.1"),
])
def test_85_another_recipe(kwargs, hint, trained):
    import keras

    model = keras.models.clone_model(trained)
    model.set_weights(trained.get_weights())
    model.compile(optimizer=recipe_sgd(3, **kwargs), loss="categorical_crossentropy")
    model.optimizer.iterations.assign(48)          # as if trained with it
    r = result("8.5", model)
    assert r.status == FAILED and r.points == 1 and hint in r.message, r


def test_85_adam_below_the_floor_earns_nothing(data_dir):
    import keras

    r = result("8.5", small_cifar_net(conv=False, optimizer=keras.optimizers.Adam(1e-6),
                                       epochs=1))
    assert r.status == FAILED and r.points == 0 and "compiled with Adam" in r.message, r


def test_85_untrained_and_made_up_answers_earn_nothing(data_dir):
    r = result("8.5", small_cifar_net(epochs=0))
    assert r.status == FAILED and r.points == 0 and "never trained" in r.message
    r = result("8.5", {"loss": [2.3, 1.4], "val_accuracy": [0.3, 0.9]})
    assert r.status == FAILED and r.points == 0 and "Keras model" in r.message


# --------------------------------------------------------------------------- 8.6


def flip_predict(model, images):
    return (model.predict(images, verbose=0)
            + model.predict(images[:, :, ::-1], verbose=0)) / 2


def test_86_passes_and_matches_the_chapter_helper():
    from cnn_helpers import training
    from cnn_helpers.grading.tasks.ex08_cifar10 import _flip_probes

    assert result("8.6", flip_predict).passed
    assert result("8.6",
                  lambda m, x: training.predict(m, x, test_time_flip=True)).passed
    assert result("8.6", lambda m, x: (np.asarray(m(x)) + np.asarray(
        m(np.flip(x, axis=2)))) / 2).passed
    from cnn_helpers.grading.tasks.ex08_cifar10 import _FLIP_CASES, _flip_case, _probs

    for (model, x), case in zip(_flip_probes(), _FLIP_CASES):   # NumPy = Keras
        _, w, b = _flip_case(*case)
        np.testing.assert_allclose(model.predict(x, verbose=0), _probs(x, w, b),
                                   atol=1e-6)


def p(m, x):
    return m.predict(x, verbose=0)


@pytest.mark.parametrize("fn, hint, points", [
    (lambda m, x: (p(m, x) + p(m, np.fliplr(x))) / 2, "np.fliplr flips axis 1", 0),
    (lambda m, x: (p(m, x) + p(m, x[:, ::-1])) / 2, "upside-down images", 0),
    (lambda m, x: (p(m, x) + p(m, x[..., ::-1])) / 2, "reverses the color channels", 0),
    (lambda m, x: p(m, x) + p(m, x[:, :, ::-1]), "average the two predictions", 0),
    (lambda m, x: p(m, x[:, :, ::-1]), "the mirror images alone", 0),
    (lambda m, x: p(m, x), "that is the plain prediction", 0),
    (lambda m, x: ((p(m, x) + p(m, x[:, :, ::-1])) / 2).argmax(axis=1),
     "not the predicted labels", 0),
    (lambda m, x: (p(m, x).argmax(axis=1) + p(m, x[:, :, ::-1]).argmax(axis=1)) / 2,
     "average the probabilities, not the predicted labels", 0),
])
def test_86_mistakes(fn, hint, points):
    r = result("8.6", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_86_reversed_batch():
    r = result("8.6", lambda m, x: (p(m, x) + p(m, x[::-1])) / 2)
    assert r.status == FAILED and r.points == 0
    assert "reverses the order of the images" in r.message


# --------------------------------------------------------------------------- 8.7


def confusions(y_true, probs, k):
    from cnn_helpers import plotting

    y_true = np.asarray(y_true).reshape(-1)
    predicted = probs.argmax(axis=1)
    m = plotting.confusion_matrix(y_true, predicted, 10)
    both = m + m.T
    np.fill_diagonal(both, 0)
    i, j = np.unravel_index(both.argmax(), both.shape)
    wrong = np.flatnonzero(predicted != y_true)
    return (int(i), int(j)), wrong[np.argsort(-probs[wrong, predicted[wrong]])][:k]


def test_87_probes_are_unambiguous():
    """One most confused pair, a different pair for a one-way count, every confidence
    unique, every probability row a distribution whose maximum is the prediction."""
    from cnn_helpers.grading.tasks.ex08_cifar10 import _confusion_probes

    for y_true, probs, k in _confusion_probes():
        t = np.asarray(y_true).reshape(-1)
        np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
        m = np.zeros((10, 10), int)
        np.add.at(m, (t, probs.argmax(axis=1)), 1)
        both = m + m.T
        np.fill_diagonal(both, 0)
        upper = both[np.triu_indices(10, 1)]
        assert (upper == upper.max()).sum() == 1
        off = m.copy()
        np.fill_diagonal(off, 0)
        a, b = np.unravel_index(off.argmax(), off.shape)
        assert (off == off.max()).sum() == 1 and both[a, b] < both.max()
        assert m.max() == m.diagonal().max()       # the diagonal would win
        conf = probs.max(axis=1)
        assert len(np.unique(conf)) == len(conf)
        assert (t != probs.argmax(axis=1)).sum() > k


def test_87_passes():
    assert result("8.7", confusions).passed
    assert result("8.7", lambda t, p, k: ([confusions(t, p, k)[0][1],
                                           confusions(t, p, k)[0][0]],
                                          list(confusions(t, p, k)[1]))).passed


def with_worst(fn):
    def answer(y_true, probs, k):
        labels = np.asarray(y_true).reshape(-1)
        return confusions(y_true, probs, k)[0], fn(labels, probs, k)
    return answer


def with_pair(fn):
    def answer(y_true, probs, k):
        t = np.asarray(y_true).reshape(-1)
        m = np.zeros((10, 10), int)
        np.add.at(m, (t, probs.argmax(axis=1)), 1)
        return fn(m), confusions(y_true, probs, k)[1]
    return answer


def wrong_and_conf(t, probs):
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != t)
    return wrong, probs[wrong, pred[wrong]], probs[wrong, t[wrong]]


def ascending(t, probs, k):
    wrong, conf, _ = wrong_and_conf(t, probs)
    return wrong[np.argsort(conf)][:k]


def reversed_order(t, probs, k):
    wrong, conf, _ = wrong_and_conf(t, probs)
    return wrong[np.argsort(-conf)][:k][::-1]


def all_images(t, probs, k):
    return np.argsort(-probs.max(axis=1))[:k]


def by_true_class(t, probs, k):
    wrong, _, true_p = wrong_and_conf(t, probs)
    return wrong[np.argsort(true_p)][:k]


def every_mistake(t, probs, k):
    wrong, conf, _ = wrong_and_conf(t, probs)
    return wrong[np.argsort(-conf)]


def probabilities(t, probs, k):
    _, conf, _ = wrong_and_conf(t, probs)
    return np.sort(conf)[::-1][:k]


def diagonal(m):
    return tuple(int(v) for v in np.unravel_index(m.argmax(), m.shape))


def directed(m):
    off = m.copy()
    np.fill_diagonal(off, 0)
    return tuple(int(v) for v in np.unravel_index(off.argmax(), off.shape))


@pytest.mark.parametrize("fn, hint, points", [
    (with_worst(ascending), "least confident mistakes", 1),
    (with_worst(reversed_order), "in reverse order", 1),
    (with_worst(all_images), "includes images classified correctly", 1),
    (with_worst(by_true_class), "not by that of the true class", 1),
    (with_worst(every_mistake), "return only the k most confident mistakes", 1),
    (with_worst(probabilities), "not their probabilities", 1),
    (with_pair(diagonal), "the diagonal counts the correct predictions", 1),
    (with_pair(directed), "add both directions", 1),
    (lambda t, p, k: confusions(t, p, k)[0], "pair should be two class numbers", 0),
    (lambda t, p, k: confusions(t, p, k)[1], "return two things", 0),
])
def test_87_mistakes(fn, hint, points):
    r = result("8.7", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


def test_87_labels_of_shape_n_by_1():
    """Without reshaping load_cifar10's (N, 1) labels, the comparison broadcasts."""
    def unreshaped(y_true, probs, k):
        predicted = probs.argmax(axis=1)
        wrong = np.flatnonzero(predicted != y_true)
        worst = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:k]
        return confusions(y_true, probs, k)[0], worst

    r = result("8.7", unreshaped)
    assert r.status == FAILED and r.points == 0 and "probe 2" in r.message, r
    assert "raised IndexError" in r.message


def test_87_crash():
    crash = result("8.7", lambda t, p, k: t[10000])
    assert crash.status == FAILED and crash.points == 0 and "raised" in crash.message
    assert all(r.status != ERROR for r in [result("8.7", "x"), result("8.7", None)])


# --------------------------------------------------------------------------- 8.8 and 8.9


@pytest.mark.parametrize("task_id, right, wrong", [
    ("8.8", "A", {"B": "never occurs among the test images", "C": "half of the object",
                  "D": "colour is evidence"}),
    ("8.9", "B", {"A": "learned nothing by heart", "C": "augmented alike",
                  "D": "not the optimizer's"}),
])
def test_questions(task_id, right, wrong):
    for answer in (right, right.lower()):
        assert result(task_id, answer).passed
    for letter, hint in wrong.items():
        r = result(task_id, letter)
        assert r.status == FAILED and r.points == 0 and hint in r.message, (letter, r.message)
    assert "one of the letters" in result(task_id, "E").message


# --------------------------------------------------------------------------- delegation, fallbacks


@pytest.mark.delegation
def test_82_numbers_read_off_the_builders_earn_nothing():
    sources = ["from cnn_helpers import models",
               "net = models.lecture_notes_cifar()",
               "source_numbers = (net.layers[-2].output.shape[-1], DENSE)"]
    r = EX.result("8.2", (FEATURES, DENSE), sources=sources)
    assert r.status == FAILED and "no credit" in r.message
    assert EX.result("8.2", (FEATURES, DENSE),
                     sources=["source_numbers = (2 * 2 * 128, (16 * 16 * 32 + 1) * 512)"]).passed


@pytest.mark.delegation
def test_83_the_books_block_earns_nothing():
    import keras

    from cnn_helpers import models

    inputs = keras.Input(shape=(8, 8, 16))
    answer = keras.Model(inputs, models.residual_block(inputs, 16))
    r = EX.result("8.3", answer, sources=[
        "from cnn_helpers import models", "inputs = keras.Input(shape=(8, 8, 16))",
        "block_model = keras.Model(inputs, models.residual_block(inputs, 16))"])
    assert r.status == FAILED and "no credit" in r.message


FALLBACK_84 = """try:
    residual_block(keras.Input(shape=(8, 8, 16)), 16)
    block = residual_block
except NotImplementedError:
    def block(x, filters):
        return models.residual_block(x, filters, name=f"block{filters}")
x = conv_bn_relu(inputs, 16)
x = block(x, 32)
x = models.residual_block(x, 64)
cifar_net = keras.Model(inputs, x)"""


@pytest.mark.delegation
def test_84_the_fallback_block_is_allowed_the_books_network_not():
    """Task 8.3 not done: 8.4's starter builds with models.residual_block, which 8.4
    allows; the book's whole network it does not."""
    sources = ["from cnn_helpers import models", "inputs = keras.Input(shape=(32, 32, 3))",
               FALLBACK_84]
    assert EX.result("8.4", net(), sources=sources).passed
    r = EX.result("8.4", net(), sources=["from cnn_helpers import models",
                                         "cifar_net = models.cifar_resnet(width=8)"])
    assert r.status == FAILED and "no credit" in r.message and "cifar_resnet" in r.message


@pytest.mark.delegation
def test_85_the_fallback_network_is_allowed(trained):
    """Tasks 8.1 or 8.4 not done: the starter uses training.prepare and
    models.cifar_resnet, which 8.5 allows; the book's training loop it does not."""
    sources = ["from cnn_helpers import models, training",
               "prepared = training.prepare(models.CIFAR10_RECIPES['book'], a, b, c, d)",
               "net = cifar_net if isinstance(cifar_net, keras.Model) else "
               "models.cifar_resnet(width=16, max_shift=2)",
               "net.fit(prepared.x_train, y_train)", "trained_net = net"]
    assert EX.result("8.5", trained, sources=sources).passed
    delegated = ["from cnn_helpers import training",
                 "trained_net = training.train_timed(recipe, data).model"]
    r = EX.result("8.5", trained, sources=delegated)
    assert r.status == FAILED and "no credit" in r.message


@pytest.mark.delegation
def test_86_training_predict_earns_nothing():
    from cnn_helpers import training

    r = EX.result("8.6", lambda model, images: training.predict(model, images,
                                                                test_time_flip=True))
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message
    assert EX.result("8.6", flip_predict).passed


def given_code(task_id):
    """The given lines of a task's starter cell (above its solution), as the notebook has them."""
    import nbformat

    from conftest import REPO

    nb = nbformat.read(REPO / "exercises" / "solutions" / "08_cifar10.ipynb", as_version=4)
    cell = next(c for c in nb.cells if f"task-{task_id}" in c.metadata.get("tags", [])
                and "### BEGIN SOLUTION" in c.source)
    return cell.source.split("### BEGIN SOLUTION")[0]


def test_84_the_given_fallback_builds_a_network_with_two_blocks():
    """With 8.3 blank, the starter's `block` is the book's block, usable twice in one model."""
    import keras

    from cnn_helpers import models

    def residual_block(x, filters):
        raise NotImplementedError("replace this line with your code")

    namespace = {"keras": keras, "models": models, "residual_block": residual_block}
    exec(given_code("8.4"), namespace)          # noqa: S102 (the book's own notebook)
    block = namespace["block"]
    inputs = keras.Input(shape=(32, 32, 3))
    x = keras.layers.Conv2D(32, 3, padding="same")(inputs)
    x = block(keras.layers.MaxPooling2D(2)(x), 32)
    x = keras.layers.Conv2D(64, 3, padding="same")(x)
    x = block(keras.layers.MaxPooling2D(2)(x), 64)
    model = keras.Model(inputs, x)
    assert sum(type(layer).__name__ == "Add" for layer in model.layers) == 2
