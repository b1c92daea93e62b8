"""The time-to-accuracy benchmark runs (at smoke size) and writes a complete report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.notebooks      # it trains: run with the slow stage


def test_time_to_accuracy_smoke_run(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "time_to_accuracy.py"), "--recipes", "tutorial",
           "book", "--n-train", "600", "--n-test", "500", "--max-epochs", "2",
           "--thresholds", "0.5", "0.999", "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = tmp_path.glob("mnist_*_smoke.json")
    assert (tmp_path / path.name.replace(".json", ".png")).is_file()
    report = json.loads(path.read_text())
    assert report["smoke"] and report["environment"]["backend"]
    for name in ("tutorial", "book"):
        r = report["results"][name]
        assert r["epochs"] == 2 == len(r["test_accuracy_per_epoch"])
        times = r["seconds_per_epoch_cumulative"]
        assert 0 < times[0] < times[1] == r["training_seconds"]
        assert r["time_to_accuracy_s"]["0.999"] is None          # nobody gets there this fast
    tutorial = report["results"]["tutorial"]
    first_above = next(t for t, a in zip(tutorial["seconds_per_epoch_cumulative"],
                                         tutorial["test_accuracy_per_epoch"]) if a >= 0.5)
    assert tutorial["time_to_accuracy_s"]["0.500"] == first_above
    assert report["book_vs_lenet_at_0.992"] is None              # LeNet was not run


def test_time_to_accuracy_cifar10_smoke_run(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "time_to_accuracy.py"), "--dataset", "cifar10",
           "--recipes", "lecture_notes", "book", "--n-train", "300", "--n-test", "100",
           "--max-epochs", "1", "--thresholds", "0.0", "0.999", "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "JPEG" in proc.stdout or "Keras download" in proc.stdout or "CIFAR-10" in proc.stdout
    [path] = tmp_path.glob("cifar10_*_smoke.json")
    report = json.loads(path.read_text())
    assert report["benchmark"] == "CIFAR-10 time to test accuracy" and report["data"]
    for name in ("lecture_notes", "book"):
        r = report["results"][name]
        assert r["epochs"] == 1 and r["time_to_accuracy_s"]["0.999"] is None
        assert r["time_to_accuracy_s"]["0.000"] == r["training_seconds"] > 0
    assert report["results"]["book"]["test_time_flip"]
    assert report["book_vs_lecture_notes_at_0.780"]["ratio"] is None   # 0.78 was not a threshold


def test_unknown_recipe_is_refused(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "time_to_accuracy.py"), "--dataset", "cifar10",
           "--recipes", "lenet", "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "unknown cifar10 recipe(s) ['lenet']" in proc.stderr


def test_scaling_smoke_run(tmp_path):
    """benchmarks/scaling.py at its smallest: one and two devices (virtual CPU devices on a
    machine without an accelerator), weak and strong scaling, a JSON report and a figure."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "scaling.py"), "--smoke",
           "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = tmp_path.glob("scaling_*_smoke.json")
    assert (tmp_path / path.name.replace(".json", ".png")).is_file()
    report = json.loads(path.read_text())
    assert report["smoke"] and report["environment"]["backend"] == "jax"
    assert report["environment"]["keras"] and report["environment"]["jax"] and report["date"]
    hw = report["hardware"]
    assert hw["cpu"] and hw["cpu_cores"] >= 1 and hw["devices_present"] >= 1 and hw["device"]
    counts = report["settings"]["device_counts"]
    assert counts == [1, 2][:hw["devices_present"]]
    for mode, batch in (("weak", lambda n: 8 * n), ("strong", lambda n: 16)):
        points = report["results"][mode]["points"]
        assert [p["devices"] for p in points] == counts
        for p in points:
            assert p["global_batch"] == batch(p["devices"]) == p["per_device_batch"] * p["devices"]
            assert p["weights_replicated_on"] == p["devices"]
            steps, images = p["steps_per_second"], p["images_per_second"]
            assert 0 < steps["min"] <= steps["median"] <= steps["max"]
            assert len(steps["runs"]) == 2 and images["median"] > 0
            expected = steps["median"] * p["global_batch"]
            assert abs(images["median"] - expected) <= 0.01 * expected
        assert points[0]["speedup"] == 1.0
    if hw["platform"] == "cpu":              # the figures must not pass for a speed-up
        assert hw["virtual_cpu_devices"] == (hw["devices_present"] > 1)
        assert "share the same" in report["caveat"] and "not a speed-up" in report["caveat"]
        assert "not a speed-up" in proc.stdout
    else:
        assert report["caveat"] is None and hw["accelerators"]
