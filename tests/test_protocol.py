"""The grader never dies on its input: forged answer files, malformed records, slow or
secret-revealing checks, models it cannot rebuild (cnn_helpers.grading.protocol, .exercises,
.verifier). Fast: no notebook runs here (tests/test_grader_attacks.py runs them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnn_helpers.grading import exercises, protocol
from cnn_helpers.grading.exercises import ERROR, FAILED, NOT_ATTEMPTED, PASSED, Task, verify
from cnn_helpers.grading.runner import _load_record, _verify

EX1 = exercises.exercise("01_convolution")


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, why", [
    ("[1, 2, 3]", "one record per task"),
    ('{"1.1": 5}', "one record per task"),
    ("{" * 100_000 + "}" * 100_000, "cannot be read"),
    ("not json at all", "cannot be read"),
])
def test_forged_answer_files_are_refused_in_plain_words(tmp_path, text, why):
    path = _write(tmp_path, "1.1.json", text)
    with pytest.raises(protocol.ExportError, match=why):
        protocol.load_exported(path, tmp_path / "1.1.npz")
    assert _load_record(tmp_path, "1.1") is None       # the runner then ignores the capture


def test_huge_and_pickled_array_files_are_refused(tmp_path, monkeypatch):
    _write(tmp_path, "a.json", '{"1.1": {"state": "ok", "value": 1}}')
    np.savez(tmp_path / "a.npz", x=np.array([object()], dtype=object))
    with pytest.raises(protocol.ExportError, match="cannot be read|objects"):
        protocol.load_exported(tmp_path / "a.json", tmp_path / "a.npz")
    np.savez(tmp_path / "a.npz", x=np.zeros(1000))
    monkeypatch.setattr(protocol, "MAX_ARRAY_BYTES", 100)
    with pytest.raises(protocol.ExportError, match="larger than"):
        protocol.load_exported(tmp_path / "a.json", tmp_path / "a.npz")


@pytest.mark.parametrize("record", [
    None, 7, "ok", [], {"state": "ok"}, {"state": "ok", "value": {"__array__": "nope"}},
    {"state": "ok", "value": {"__seq__": "list", "items": 3}},
    {"state": "ok", "value": {"__float__": "1e999999"}},
    {"state": "ok", "value": {"__weird__": 1}},
    {"state": "ok", "outputs": "lots"}, {"state": "delegated"}, {"state": "wrong-kind"},
    {"state": "\x1b[31mred"},
])
def test_malformed_records_get_a_verdict_not_a_traceback(record):
    for task in EX1.tasks:
        result = verify(task, record, {})
        assert result.status in (ERROR, FAILED, NOT_ATTEMPTED) and result.points == 0


def test_deeply_nested_answers_are_refused():
    value: dict = {"__seq__": "list", "items": []}
    inner = value
    for _ in range(200):
        nxt = {"__seq__": "list", "items": []}
        inner["items"].append(nxt)
        inner = nxt
    result = verify(EX1.task("1.1"), {"state": "ok", "value": value}, {})
    assert result.status == ERROR and "nested" in result.message


def test_hidden_checks_never_describe_their_exceptions():
    secret = Task("H1", "hidden", "x", lambda v: (_ for _ in ()).throw(ValueError("SECRET_42")))
    shown = verify(secret, {"state": "ok", "value": 1}, {}, hidden=True)
    assert shown.status == ERROR and "SECRET_42" not in shown.message
    assert "SECRET_42" in verify(secret, {"state": "ok", "value": 1}, {}).message   # own checks do


def test_a_slow_check_stops_at_its_time_limit_and_the_others_still_run(tmp_path):
    """A forged model of 600 layers (minutes to rebuild): the check of that task has a limit."""
    import keras

    layers = [keras.Input(shape=(4,))] + [keras.layers.Dense(4) for _ in range(600)]
    config = keras.saving.serialize_keras_object(keras.Sequential(layers))
    task = EX1.task("1.5")
    records = {"1.5": {"state": "ok", "config": json.dumps(config), "weights": 0},
               "1.1": {"state": "ok", "value": 28}}
    results = _verify(records, {}, "01_convolution", 0, None, EX1.tasks, tmp_path / "v",
                      task_seconds=1)
    assert results["1.5"].status == ERROR and "longer than 1 s" in results["1.5"].message
    assert results["1.1"].status == PASSED
    del task


def test_models_with_own_layer_classes_are_named_and_activation_spellings_accepted():
    import keras

    @keras.saving.register_keras_serializable(package="student")
    class MyConv(keras.layers.Conv2D):
        pass

    custom = keras.Sequential([keras.Input(shape=(28, 28, 1)), MyConv(2, (3, 3), use_bias=False)])
    result = EX1.result("1.5", custom)
    assert result.status == FAILED and "MyConv" in result.message and "built-in" in result.message
    import tensorflow as tf

    spelled = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                keras.layers.Conv2D(2, (3, 3), use_bias=False,
                                                    activation=tf.nn.relu)])
    assert "could not be read back" not in EX1.result("1.5", spelled).message


def test_the_probe_seed_changes_the_probes_and_the_notebook_keeps_its_own():
    task = EX1.task("1.3")
    zero = [a[0] for a in task.probes()]
    with protocol.use_probe_seed(99):
        fresh = [a[0] for a in task.probes()]
    again = [a[0] for a in task.probes()]
    assert all(np.array_equal(a, b) for a, b in zip(zero, again))
    assert not any(np.array_equal(a, b) for a, b in zip(zero, fresh) if a.size > 1)


def test_the_chapters_library_never_imports_the_grader():
    """ops, models, training, ... are what the chapters use; grading is built on top."""
    import subprocess
    import sys

    code = ("import sys\nimport cnn_helpers\n"
            "from cnn_helpers import augment, autodiff, datasets, distributed, models, notebooks, "
            "ops, plotting, runtime, training\n"
            "print(sorted(m for m in sys.modules if m.startswith('cnn_helpers.grading')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
