"""Seeding, environment report and timing."""

from __future__ import annotations

import time

import keras
import numpy as np

from cnn_helpers import runtime


def _draw():
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    return [np.random.rand(3), np.asarray(keras.random.normal((3,))), np.asarray(dense.kernel)]


def test_set_seed_makes_keras_and_numpy_repeat():
    runtime.set_seed(7)
    first = _draw()
    runtime.set_seed(7)
    again = _draw()
    runtime.set_seed(8)
    other = _draw()
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_start_and_report(capsys):
    env = runtime.start(seed=0)
    assert env.backend == keras.backend.backend()
    assert env.device.startswith(("CPU: ", "GPU: "))
    time.sleep(0.05)
    assert runtime.report({"EPOCHS": 2}, test_accuracy=0.98765, note="x") is None
    info = runtime.report_info({"EPOCHS": 2}, test_accuracy=0.98765)
    out = capsys.readouterr().out
    assert env.summary() in out
    assert "Run report" in out and "EPOCHS=2" in out and "test accuracy  0.9877" in out
    assert info["wall_time_s"] >= 0.05 and info["parameters"] == {"EPOCHS": 2}
    assert info["test_accuracy"] == 0.98765 and info["backend"] == env.backend
    assert runtime.elapsed() >= info["wall_time_s"]


def test_long_report_lines_wrap(capsys):
    runtime.report({f"PARAMETER_{i}": 10_000 * i for i in range(12)})
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 88


def test_timer(capsys):
    with runtime.timer("step") as t:
        time.sleep(0.02)
    assert t["seconds"] >= 0.02
    assert capsys.readouterr().out.startswith("step: ")
