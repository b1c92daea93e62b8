"""The Gradescope autograder: the zip, ``run_autograder`` and Gradescope's results.json.

``run_autograder`` runs here as Gradescope would run it, in a temporary root instead of
``/autograder`` (``CNN_AUTOGRADER_ROOT``) and with this environment's Python instead of the
one ``setup.sh`` would install (``CNN_AUTOGRADER_PYTHON``). The ``notebooks``-marked test
grades a reference solution and a blank starter (run it under ``flock /tmp/nbexec.lock``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnn_helpers import grading
from cnn_helpers.grading import ERROR, FAILED, PASSED, Result, gradescope
from cnn_helpers.grading.report import SavedReport

from conftest import REPO

EX1 = grading.exercise("01_convolution")
FULL = sum(t.points for t in EX1.tasks)
SOL1 = REPO / "exercises" / "solutions" / "01_convolution.ipynb"
STARTER1 = REPO / "exercises" / "01_convolution.ipynb"

HIDDEN_CHECKS = """\
import numpy as np
from cnn_helpers.grading import Task

def _secret_rule_7f3a(outputs):
    return bool(np.allclose(outputs[0], [[4.0]])), "kernel applied to a 1x1 image"

TASKS = {"01_convolution": [
    Task("H1", "a hidden probe", "conv2d_single", _secret_rule_7f3a, kind="function",
         probes=lambda: [(np.array([[2.0]]), np.array([[2.0]]))]),
]}
"""


def _sandbox_works() -> bool:
    from cnn_helpers.grading.sandbox import SandboxUnavailable, find_sandbox

    try:
        find_sandbox()
    except SandboxUnavailable:
        return False
    return True


@pytest.fixture
def checks(tmp_path) -> Path:
    folder = tmp_path / "checks"
    folder.mkdir()
    (folder / "hidden.py").write_text(HIDDEN_CHECKS)
    return folder


@pytest.fixture
def autograder(tmp_path, checks) -> Path:
    return gradescope.build_autograder("01_convolution", tmp_path / "autograder.zip",
                                       checks=checks, cell_timeout=120, total_timeout=600,
                                       allow_unsandboxed=not _sandbox_works())


def install(zip_path: Path, root: Path) -> Path:
    """Unpack as Gradescope does: the zip into ROOT/source (modes kept), run_autograder
    copied to ROOT/run_autograder, an empty ROOT/submission."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            zf.extract(info, source)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (source / info.filename).chmod(mode)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, python: str = sys.executable, timeout: int = 120) -> dict:
    env = {**os.environ, gradescope.ROOT_ENV: str(root), gradescope.PYTHON_ENV: python}
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=timeout)
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results.read_text())


def _check_schema(results: dict) -> None:
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] in ("visible", "after_published")
        assert 0 <= test["score"] <= test["max_score"]


# --------------------------------------------------------------------------- the zip


def test_the_zip_holds_setup_runner_config_checks_and_sources(autograder):
    with zipfile.ZipFile(autograder) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        config = json.loads(zf.read("config.json"))
    assert {"setup.sh", "run_autograder", "config.json", "checks/hidden.py",
            "cnn_helpers_src/pyproject.toml", "cnn_helpers_src/README.md",
            "cnn_helpers_src/cnn_helpers/grading/runner.py",
            "cnn_helpers_src/cnn_helpers/grading/tasks/ex01_convolution.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert modes["setup.sh"] & 0o100 and modes["run_autograder"] & 0o100
    assert config["exercise"] == "01_convolution" and config["checks"] == "checks"
    assert config["total_timeout"] == 600
    assert "bubblewrap" in setup and "python3-venv" in setup
    assert 'pip install "$ROOT/source/cnn_helpers_src[book]"' in setup
    proc = subprocess.run(["bash", "-n", "-c", setup], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_bundled_source_builds_a_wheel_with_the_book_extra(autograder, tmp_path):
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(tmp_path / "unzipped")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp_path / "wheels"),
                           str(tmp_path / "unzipped" / "cnn_helpers_src")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [wheel] = (tmp_path / "wheels").glob("cnn_helpers-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "cnn_helpers/grading/gradescope.py" in zf.namelist()
        [meta] = [n for n in zf.namelist() if n.endswith("METADATA")]
        metadata = zf.read(meta).decode()
    assert "Provides-Extra: book" in metadata and "papermill" in metadata


def test_unknown_exercise_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="no exercise called"):
        gradescope.build_autograder("01_convolutoin", tmp_path / "a.zip")
    from cnn_helpers.grading import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["gradescope", "--exercise", "nope", "--out", str(tmp_path / "a.zip")])
    assert exc.value.code == 2 and "no exercise called 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


# --------------------------------------------------------------------------- results.json


def test_results_follow_gradescope_and_hide_the_hidden_checks():
    report = SavedReport("s.ipynb", "01_convolution", [
        Result("1.1", "output size", PASSED, 1, 1, "correct"),
        Result("1.2", "parameter count", FAILED, 0, 1, "1,152 is too small; each filter also "
                                                      "has one bias \x1b[31m")],
        [Result("H1", "a hidden probe", ERROR, 0, 1, "_secret_rule_7f3a raised KeyError"),
         Result("H2", "another", FAILED, 0.5, 1, "the secret constant is 42")],
        ["a note about the notebook"])
    results = gradescope.gradescope_results(report)
    _check_schema(results)
    assert results["score"] == 1.5
    names = [t["name"] for t in results["tests"]]
    assert names == ["Task 1.1: output size", "Task 1.2: parameter count", "Task H1: a hidden probe",
                     "Task H2: another"]
    t11, t12, h1, h2 = results["tests"]
    assert t11["visibility"] == t12["visibility"] == "visible" and t11["status"] == "passed"
    assert "bias" in t12["output"] and "\x1b" not in t12["output"] and t12["status"] == "failed"
    assert h1["visibility"] == h2["visibility"] == "after_published"
    assert "_secret_rule_7f3a" not in json.dumps(results) and "42" not in json.dumps(results)
    assert h2["score"] == 0.5 and h2["max_score"] == 1
    assert "a note about the notebook" in results["output"]


@pytest.mark.parametrize("files, expected", [
    ({}, "No notebook (.ipynb file) was found in your submission (it is empty)"),
    ({"essay.pdf": b"%PDF-1.4"}, "it holds only: essay.pdf"),
    ({"a.ipynb": b"{}", "sub/b.ipynb": b"{}"}, "holds 2 notebooks (a.ipynb, sub/b.ipynb)"),
], ids=["empty", "a-pdf", "two-notebooks"])
def test_no_single_notebook_scores_zero_with_a_clear_output(autograder, tmp_path, files, expected):
    root = install(autograder, tmp_path / "root")
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "submission" / ".DS_Store").write_bytes(b"\0")       # ignored
    results = run_autograder(root)
    _check_schema(results)
    assert results["score"] == 0 and expected in results["output"]
    assert "01_convolution.ipynb" in results["output"]
    assert [t["name"].split(":")[0] for t in results["tests"]] == [
        *(f"Task {t.id}" for t in EX1.tasks), "Task H1"]
    assert sum(t["max_score"] for t in results["tests"]) == FULL + 1


def test_a_broken_installation_still_writes_results(autograder, tmp_path):
    root = install(autograder, tmp_path / "root")
    (root / "submission" / "x.ipynb").write_text("{}")
    results = run_autograder(root, python="/bin/false")
    assert results["score"] == 0 and "autograder itself failed" in results["output"]


# --------------------------------------------------------------------------- end to end


@pytest.mark.notebooks
def test_reference_solution_full_marks_and_blank_starter_zero(autograder, tmp_path):
    solution = install(autograder, tmp_path / "solution")
    (solution / "submission" / "my work.ipynb").write_bytes(SOL1.read_bytes())
    results = run_autograder(solution, timeout=900)
    _check_schema(results)
    assert results["score"] == FULL + 1, results
    assert all(t["score"] == t["max_score"] and t["status"] == "passed" for t in results["tests"])
    assert results["tests"][-1]["name"] == "Task H1: a hidden probe"
    assert results["tests"][-1]["visibility"] == "after_published"

    starter = install(autograder, tmp_path / "starter")
    (starter / "submission" / "01_convolution.ipynb").write_bytes(STARTER1.read_bytes())
    results = run_autograder(starter, timeout=900)
    _check_schema(results)
    assert results["score"] == 0 and len(results["tests"]) == len(EX1.tasks) + 1
    assert all(t["output"] and t["status"] == "failed" for t in results["tests"]), results
