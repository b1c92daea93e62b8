"""Function tasks graded from the notebook's source (cnn_helpers.grading.replay): what is
replayed, fresh probes, the "write it yourself" rule, and failures that stay in their task.

These run the replay driver as the grader does, minus the sandbox (tests/test_sandbox.py
covers that), on small notebooks written as a student would write them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnn_helpers.grading import exercises, replay
from cnn_helpers.grading.runner import _load_record, _verify

pytestmark = pytest.mark.delegation

SETUP = ("import numpy as np\nimport keras\nfrom cnn_helpers import datasets, grading, ops\n"
         "ex = grading.exercise('03_pooling')")
POOL = '''def pool2d(x, size, mode="max"):
    h, w = x.shape[0] // size, x.shape[1] // size
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            win = x[i * size:(i + 1) * size, j * size:(j + 1) * size]
            out[i, j] = {"max": win.max(), "avg": win.mean(),
                         "l2": np.sqrt((win ** 2).sum())}[mode]
    return out'''


def notebook(*cells: tuple[str, str | None]) -> list:
    """Code cells (source, task tag or None)."""
    out = []
    for source, tag in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [tag] if tag else []
        out.append(cell)
    return out


def grade_function(cells: list, name: str, task_id: str, tmp_path: Path, *, seed: int = 7,
                   verify_seed: int | None = None, probe_seconds: float = 20):
    """Replay one function task of ``cells`` and verify it: the grader's steps 4 and 5."""
    task = exercises.exercise(name).task(task_id)
    statements = replay.replay_source(cells, task.tag)
    job = {"id": task.id, "answer": task.answer, "forbid": list(task.forbid),
           "statements": statements, "exercise": name, "seed": seed, "seconds": 60,
           "probe_seconds": probe_seconds}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "jobs.json").write_text(json.dumps([job]))
    subprocess.run([sys.executable, "-m", "cnn_helpers.grading.replay", str(tmp_path / "jobs.json"),
                    str(tmp_path / "out")], check=True, timeout=120)
    got = _load_record(tmp_path / "out", task.id)
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    record, arrays = got if got is not None else (failures.get(task.id, {"state": "missing"}), {})
    seed = seed if verify_seed is None else verify_seed
    return _verify({task.id: record}, arrays, name, seed, None, [task], tmp_path / "v")[task.id]


def test_only_definitions_up_to_the_task_are_replayed():
    cells = notebook(("import numpy as np\nK = np.ones((2, 2))\nmodel.fit(x)\nprint('hi')", None),
                     ("def f(x):\n    return x\nhistory = model.fit(x)\nN = len(K) + 1", "task-3.3"),
                     ("def f(x):\n    return 2 * x", "task-3.4"))
    statements = replay.replay_source(cells, "task-3.3")
    assert statements == ["import numpy as np", "K = np.ones((2, 2))", "def f(x):\n    return x",
                          "N = len(K) + 1"]
    assert replay.replay_source(cells, "task-9.9") is None
    assert replay.replay_source(cells, None)[-1] == "def f(x):\n    return 2 * x"
    broken = notebook(("def f(x) return x", "task-3.3"), ("%timeit f(1)\nY = 3", None))
    assert replay.replay_source(broken, None) == ["Y = 3"]


def test_a_correct_function_passes_on_fresh_probes(tmp_path):
    cells = notebook((SETUP, None), (POOL, "task-3.3"), ("ex.check('3.3', pool2d)", "task-3.3"))
    result = grade_function(cells, "03_pooling", "3.3", tmp_path, seed=11)
    assert result.passed, result.message


def test_outputs_for_the_notebooks_probes_fail_on_the_graders(tmp_path):
    """Hard-coding: a function that returns what the notebook's probes (seed 0) expect."""
    from cnn_helpers import ops
    from cnn_helpers.grading.protocol import use_probe_seed

    task = exercises.exercise("03_pooling").task("3.3")
    with use_probe_seed(0):
        table = {np.asarray(x).tobytes(): ops.pool2d(x, s, mode=m).tolist()
                 for x, s, m in task.probes()}
    lookup = f"TABLE = {table!r}\n"
    cheat = ("def pool2d(x, size, mode='max'):\n"
             "    return np.array(TABLE.get(np.asarray(x).tobytes(), [[0.0]]))")
    cells = notebook((SETUP, None), (lookup, None), (cheat, "task-3.3"))
    assert grade_function(cells, "03_pooling", "3.3", tmp_path / "a", seed=0).passed
    fresh = grade_function(cells, "03_pooling", "3.3", tmp_path / "b", seed=12345)
    assert not fresh.passed and fresh.points == 0


@pytest.mark.parametrize("body, call", [
    ("return ops.pool2d(x, size, mode=mode)", "cnn_helpers.ops.pool2d"),
    ("import cnn_helpers.ops as o\n    return o.pool2d(x, size, mode=mode)", "cnn_helpers.ops.pool2d"),
    ("from cnn_helpers.ops import pool2d as p\n    return p(x, size, mode=mode)", "cnn_helpers.ops.pool2d"),
    ("y = keras.layers.MaxPooling2D(size)(x[None, :, :, None])\n    return np.asarray(y)[0, :, :, 0]",
     "keras.layers.MaxPooling2D"),
    ("import importlib\n    m = importlib.import_module('cnn_helpers.ops')\n    return m.pool2d(x, size, mode=mode)",
     "cnn_helpers.ops.pool2d"),
    ("try:\n        return ops.pool2d(x, size, mode=mode)\n    except BaseException:\n"
     "        return np.zeros((1, 1))", "cnn_helpers.ops.pool2d"),
])
def test_delegating_to_the_book_or_keras_earns_nothing(tmp_path, body, call):
    cheat = f"def pool2d(x, size, mode='max'):\n    {body}"
    cells = notebook((SETUP, None), (cheat, "task-3.3"))
    result = grade_function(cells, "03_pooling", "3.3", tmp_path)
    assert result.points == 0 and "no credit" in result.message, result.message
    assert call in result.message


def test_numpy_convolve_is_refused_where_the_task_says_from_scratch(tmp_path):
    cheat = ("def conv1d_valid(signal, kernel):\n"
             "    return np.stack([sum(np.convolve(signal[:, c], kernel[::-1, c, f], 'valid')\n"
             "                         for c in range(signal.shape[1]))\n"
             "                     for f in range(kernel.shape[2])], axis=-1)")
    cells = notebook(("import numpy as np", None), (cheat, "task-4.3"))
    result = grade_function(cells, "04_beyond_2d", "4.3", tmp_path)
    assert result.points == 0 and "numpy.convolve" in result.message, result.message


def test_a_later_cell_does_not_change_a_replayed_task(tmp_path):
    cells = notebook((SETUP, None), (POOL, "task-3.3"),
                     ("def pool2d(x, size, mode='max'):\n    return None", None))
    assert grade_function(cells, "03_pooling", "3.3", tmp_path).passed


def test_helpers_from_other_cells_and_earlier_tasks_are_available(tmp_path):
    helper = "def window(x, i, j, size):\n    return x[i * size:(i + 1) * size, j * size:(j + 1) * size]"
    uses = POOL.replace("win = x[i * size:(i + 1) * size, j * size:(j + 1) * size]",
                        "win = window(x, i, j, size)")
    cells = notebook((SETUP, None), (helper, None), (uses, "task-3.3"))
    assert grade_function(cells, "03_pooling", "3.3", tmp_path).passed


def test_a_looping_function_fails_its_task_alone(tmp_path):
    loop = "def pool2d(x, size, mode='max'):\n    while True:\n        pass"
    cells = notebook((SETUP, None), (loop, "task-3.3"))
    result = grade_function(cells, "03_pooling", "3.3", tmp_path, probe_seconds=0.5)
    assert result.points == 0 and "did not finish" in result.message, result.message


def test_a_function_that_kills_its_process_fails_its_task_alone(tmp_path):
    cells = notebook((SETUP, None), ("import os\ndef pool2d(x, size, mode='max'):\n    os._exit(3)",
                                     "task-3.3"))
    result = grade_function(cells, "03_pooling", "3.3", tmp_path)
    assert result.points == 0 and result.status == "error", result.message


def test_the_notebooks_own_check_refuses_delegation_too(capsys):
    from cnn_helpers import ops

    ex = exercises.exercise("03_pooling")
    ex.check("3.3", lambda x, size, mode="max": ops.pool2d(x, size, mode=mode))
    out = capsys.readouterr().out
    assert out.startswith("[NOT YET]") and "no credit" in out and "cnn_helpers.ops.pool2d" in out
    ex.check("3.3", lambda x, size, mode="max": ops.pool2d(x, size, mode=mode) * 1)
    assert "cnn_helpers.ops.pool2d" in capsys.readouterr().out
