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
           "book", "--n-train", "600", "--max-epochs", "2", "--thresholds", "0.5", "0.999",
           "--output-dir", str(tmp_path)]
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
