"""cnn_helpers.training: preparing a recipe's data, timed training, test-time flips, throughput."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from cnn_helpers import models, training


def _cifar_like(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
            rng.integers(0, 10, (n, 1), dtype=np.uint8))


def test_prepare_scales_splits_and_standardizes_with_training_statistics():
    x, y = _cifar_like(50, 0)
    xt, yt = _cifar_like(10, 1)
    recipe = dataclasses.replace(models.CIFAR10_RECIPES["slides_simple"], validation=0.2)
    p = training.prepare(recipe, x, y, xt, yt)
    assert p.x_train.shape == (40, 8, 8, 3) and p.y_train.shape == (40, 10)
    np.testing.assert_allclose(p.x_train, x[:40] / 255.0, atol=1e-6)
    assert p.mean is None and list(p.labels_test) == list(yt.ravel())
    notes = training.prepare(models.CIFAR10_RECIPES["lecture_notes"], x, y, xt, yt)
    scaled = x / 255.0
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    np.testing.assert_allclose(notes.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(notes.x_test, (xt / 255.0 - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(notes.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)


def test_prepare_adds_the_mnist_channel_and_checks_lengths():
    recipe = models.MNIST_RECIPES["lecture_notes"]          # unscaled pixels
    x = np.full((4, 28, 28), 255, np.uint8)
    p = training.prepare(recipe, x, np.arange(4), x, np.arange(4))
    assert p.x_train.shape == (4, 28, 28, 1) and p.x_train.max() == 255.0
    with pytest.raises(ValueError, match="images and labels differ in number"):
        training.prepare(recipe, x, np.arange(3), x, np.arange(4))
    with pytest.raises(ValueError, match="expected images shaped"):
        training.prepare(recipe, np.zeros((4, 784)), np.arange(4), x, np.arange(4))


def test_predict_with_test_time_flips_averages_the_mirror_image():
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).random((5, 4, 4, 1)).astype("float32")
    one = training.predict(model, x)
    mirror = training.predict(model, x[:, :, ::-1])
    both = training.predict(model, x, test_time_flip=True)
    np.testing.assert_allclose(both, (one + mirror) / 2, atol=1e-6)
    assert training.accuracy(both, both.argmax(axis=1)) == 1.0


def test_train_timed_records_every_epoch_and_thresholds():
    x, y = _cifar_like(64, 2)
    xt, yt = _cifar_like(16, 3)
    small = dataclasses.replace(
        models.CIFAR10_RECIPES["book"], batch_size=16,
        build=lambda: keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                        keras.layers.Dense(10, activation="softmax")]))
    lines = []
    run = training.train_timed(small, (x, y, xt, yt), epochs=3, thresholds=(0.0, 1.01),
                               log=lines.append, log_every=2)
    r = run.result
    assert r["epochs"] == 3 == len(r["test_accuracy_per_epoch"]) == len(r["train_loss_per_epoch"])
    assert len(lines) == 2                                 # epochs 2 and 3 (the last)
    times = r["seconds_per_epoch_cumulative"]
    assert 0 < times[0] <= times[1] <= times[2] == r["training_seconds"]
    assert r["time_to_accuracy_s"] == {"0.000": times[0], "1.010": None}
    assert r["test_time_flip"] and not r["mixed_precision"]           # no GPU here
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        training.train_timed(small, (x, y, xt, yt), epochs=0)


def test_steps_per_second_is_positive():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    sps = training.steps_per_second(model, np.zeros((8, 4)), np.zeros((8, 2)), batch_size=4,
                                    steps=3, repeats=1)
    assert sps > 0


def _tiny_fit(callback, epochs=3, validation=True):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    extra = {"validation_data": (x[:8], y[:8])} if validation else {}
    return model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[callback], **extra)


def test_epoch_logger_writes_one_compact_line_per_epoch_and_records_seconds():
    lines = []
    logger = training.epoch_logger(log=lines.append)
    history = _tiny_fit(logger)
    assert len(lines) == 3 and len(logger.seconds) == 3 and min(logger.seconds) > 0
    assert lines[0].startswith("epoch 1/3  loss ")
    assert "  acc " in lines[0] and "  val loss " in lines[0] and lines[0].endswith(
        f"val acc {history.history['val_accuracy'][0]:.4f}")
    assert f"loss {history.history['loss'][2]:.4f}" in lines[2]
    assert all("\n" not in line for line in lines)


def test_epoch_logger_every_name_time_and_silence():
    lines = []
    _tiny_fit(training.epoch_logger(every=2, log=lines.append, name="run A",
                                    show_time=True), epochs=5, validation=False)
    assert [line.split()[3] for line in lines] == ["2/5", "4/5", "5/5"]   # and the last
    assert all(line.startswith("run A epoch ") and line.endswith(" s)") for line in lines)
    assert "val" not in lines[0]
    quiet = training.epoch_logger(every=0, log=lines.append)
    _tiny_fit(quiet, epochs=2)
    assert len(lines) == 3 and len(quiet.seconds) == 2


def test_results_table_aligns_names_and_values():
    rows = {"baseline": {"train": 0.9421, "val": 0.4956, "epoch": 16},
            "dropout": {"train": 0.6862, "val": 0.5546, "epoch": None}}
    table = training.results_table(rows, [("train", "train acc", ".3f"),
                                          ("val", "val", ".3f"), ("epoch", "best epoch", "d")])
    assert table.splitlines() == ["run       train acc    val  best epoch",
                                  "baseline      0.942  0.496          16",
                                  "dropout       0.686  0.555           -"]
    assert training.results_table({}, [("a", "A", ".1f")], name="model") == "model  A"
