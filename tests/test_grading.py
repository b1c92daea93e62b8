"""Exercise checks and the submission grader.

Fast tests call the checks directly. The ``notebooks``-marked tests run the real grader
(``python -m cnn_helpers.grade``) on the reference solutions, the blank starters and a set
of deliberately broken submissions built from the solutions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnn_helpers import grading
from cnn_helpers.grading import protocol
from cnn_helpers.grading import ERROR, FAILED, NOT_ATTEMPTED, PASSED, Task

from conftest import REPO

SOLUTIONS = sorted((REPO / "exercises" / "solutions").glob("*.ipynb"))
STARTERS = sorted((REPO / "exercises").glob("*.ipynb"))
EX1 = grading.exercise("01_convolution")


def _status(task_id: str, answer) -> grading.Result:
    return EX1.result(task_id, answer)


# --------------------------------------------------------------------------- the checks


def test_numbers_pass_and_mistakes_get_hints():
    assert _status("1.1", 28).passed and _status("1.1", 28.0).passed
    assert _status("1.1", 28).message == "correct"                 # the value is not restated
    off_by_one = _status("1.1", 27)
    assert off_by_one.status == FAILED and off_by_one.message.startswith("27 is too small;")
    assert "positions" in off_by_one.message and "28" not in off_by_one.message
    assert "5%" not in off_by_one.message and "slightly" not in off_by_one.message
    assert _status("1.2", 1168).passed and _status("1.2", 1168).message == "correct"
    assert "bias" in _status("1.2", 16 * 9 * 8).message
    assert "all 8 input channels" in _status("1.2", 160).message
    assert "shared" in _status("1.2", 62 * 62 * 16).message
    assert _status("1.1", "twenty-eight").status == FAILED
    for wrong, direction in ((1168 * 2, "too large"), (100, "too small")):
        message = _status("1.2", wrong).message
        assert direction in message and "factor" not in message and "far" not in message
    for wrong in (27, 29, 14, 56, 3):                 # no message pins down the answer
        assert "28" not in _status("1.1", wrong).message


def test_a_number_is_shown_as_the_student_gave_it():
    """1168.5 is not "1,168" (which is the answer): the value is never rounded for display."""
    message = _status("1.2", 1168.5).message
    assert message.startswith("1,168.5 is too large"), message
    assert "1,168 " not in message.replace("1,168.5", "")
    assert grading.checks.shown_number(27.25) == "27.25"
    assert grading.checks.shown_number(1_000_000.0) == "1,000,000"


def _loop_conv(image, kernel):
    fh, fw = kernel.shape
    out = np.zeros((image.shape[0] - fh + 1, image.shape[1] - fw + 1))
    for j in range(out.shape[0]):
        for k in range(out.shape[1]):
            out[j, k] = np.sum(kernel * image[j:j + fh, k:k + fw])
    return out


def test_function_task_recognises_typical_mistakes():
    assert _status("1.3", _loop_conv).passed
    flipped = _status("1.3", lambda im, k: _loop_conv(im, k[::-1, ::-1]))
    assert flipped.status == FAILED and "flipped the kernel" in flipped.message
    assert 0 < flipped.points < 2      # partial credit: the symmetric 1x1 probe still passes
    short = _status("1.3", lambda im, k: _loop_conv(im, k)[:-1, :-1])
    assert "one position short" in short.message
    crash = _status("1.3", lambda im, k: im[k])
    assert crash.status == FAILED and "raised" in crash.message
    todo = _status("1.3", lambda im, k: (_ for _ in ()).throw(NotImplementedError()))
    assert todo.status == NOT_ATTEMPTED


def test_missing_bias_and_single_channel_are_named():
    from cnn_helpers import ops

    assert _status("1.4", lambda x, k, b: ops.conv2d(x, k, b)).passed
    assert "bias is missing" in _status("1.4", lambda x, k, b: ops.conv2d(x, k)).message
    first_only = _status("1.4", lambda x, k, b: ops.conv2d(x[..., :1], k[:, :, :1], b))
    assert "first input channel" in first_only.message


def test_model_task_checks_architecture_and_weights():
    import keras

    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])

    def model(kernel, bias=False, shape=(28, 28, 1)):
        m = keras.Sequential([keras.Input(shape=shape), keras.layers.Conv2D(2, 3, use_bias=bias)])
        m.layers[0].set_weights([kernel] + ([np.zeros(2)] if bias else []))
        return m

    right = np.stack([sobel, sobel.T], -1)[:, :, None, :]
    assert _status("1.5", model(right)).passed
    assert _status("1.5", model(right, bias=True)).passed          # zero bias is fine
    swapped = _status("1.5", model(right[..., ::-1]))
    assert swapped.status == FAILED and "wrong order" in swapped.message and swapped.points == 1
    wrong_input = _status("1.5", model(np.zeros((3, 3, 3, 2)), shape=(28, 28, 3)))
    assert "(None, 28, 28, 1)" in wrong_input.message
    assert "Keras model" in _status("1.5", "a string").message


def test_sobel_sign_and_weights_never_set():
    """Review: a negated filter is "the opposite sign", not "should respond to horizontal
    edges" (it does); a layer whose weights were never set earns nothing."""
    import keras

    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])

    def model(filters=None):
        m = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                              keras.layers.Conv2D(2, 3, use_bias=False)])
        if filters is not None:
            m.layers[0].set_weights([np.stack(filters, -1)[:, :, None, :]])
        return m

    negated = _status("1.5", model([sobel, -sobel.T]))
    assert negated.status == FAILED and "opposite sign" in negated.message, negated
    assert "filter 1" in negated.message and "should respond" not in negated.message
    assert negated.points == 1.5                   # filter 0 right, filter 1 only its sign
    both = _status("1.5", model([-sobel, -sobel.T]))
    assert both.points == 1 and both.message.count("opposite sign") == 2
    keras.utils.set_random_seed(0)
    untouched = _status("1.5", model())
    assert untouched.points == 0 and "set_weights" in untouched.message, untouched
    other = _status("1.5", model([sobel.T, sobel.T]))
    assert other.points == 1 and "holds the horizontal filter" in other.message


def test_export_round_trip_without_pickle(tmp_path):
    class History:  # what keras.Model.fit returns, as far as export is concerned
        history = {"loss": [np.float32(2.0), 1.0]}

    values = {"a": np.arange(6).reshape(2, 3), "n": [1, (2.5, "x"), {"k": np.ones(2)}],
              "nan": float("nan"), "h": History(), "odd": object()}
    tasks = [Task(str(i), name, name, lambda v: (True, "")) for i, name in enumerate(values)]
    grading.export_answers(values, tasks, tmp_path / "a.json", tmp_path / "a.npz")
    records, arrays = grading.load_exported(tmp_path / "a.json", tmp_path / "a.npz")
    got = {t.answer: protocol.from_plain(records[t.id]["value"], arrays) for t in tasks}
    np.testing.assert_array_equal(got["a"], values["a"])
    assert got["n"][1] == (2.5, "x") and np.array_equal(got["n"][2]["k"], np.ones(2))
    assert np.isnan(got["nan"]) and got["h"] == {"loss": [2.0, 1.0]}
    assert isinstance(got["odd"], protocol.Unsupported)


def test_a_slow_function_is_stopped(monkeypatch):
    import time

    monkeypatch.setattr(protocol, "PROBE_SECONDS", 0.2)
    result = _status("1.3", lambda im, k: time.sleep(5))
    assert result.status == FAILED and "did not finish within" in result.message


def test_a_crashing_check_is_reported_not_raised():
    task = Task("9.9", "broken check", "x", lambda v: 1 / 0)
    result = grading.verify(task, {"state": "ok", "value": 3}, {})
    assert result.status == ERROR and "ZeroDivisionError" in result.message


def test_unknown_exercise_and_task():
    with pytest.raises(KeyError, match="no exercise called"):
        grading.exercise("99_nothing")
    with pytest.raises(KeyError, match="has no task '7.1'"):
        EX1.task("7.1")


def test_notebook_check_prints_without_the_answer(capsys):
    EX1.check("1.1", 27)
    out = capsys.readouterr().out
    assert out.startswith("[NOT YET] Task 1.1") and "28" not in out


# --------------------------------------------------------------------------- solutions and starters in sync


def test_student_notebooks_are_generated_from_the_solutions():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_exercises.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_task_has_cells_in_both_notebooks(solution):
    name = solution.stem
    student = REPO / "exercises" / solution.name
    assert student.exists(), f"no student notebook for {name}"

    def tags(path):
        nb = nbformat.read(path, as_version=4)
        return sorted({t for c in nb.cells for t in c.metadata.get("tags", []) if t.startswith("task-")})

    expected = sorted(t.tag for t in grading.exercise(name).tasks)
    assert tags(solution) == expected, "solution notebook and task definitions disagree"
    assert tags(student) == expected, "student notebook and task definitions disagree"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_intro_says_time_grading_and_how_to_hand_in(solution):
    """Review: the intro said only "run the grader from the repository root"."""
    name = solution.stem
    intro = nbformat.read(solution, as_version=4).cells[1].source
    text = " ".join(intro.split())
    minutes = re.search(r"\*About (\d+) minutes\.", text)
    assert minutes and 65 <= int(minutes.group(1)) <= 150, "a time estimate at the top"
    assert "Each task's check" in text and "hidden checks" in text and "only then" in text
    assert "*File > Download*" in text and "*File > Download > Download .ipynb*" in text
    assert "Upload it where your course says" in text
    assert "from top to bottom" in text and "without errors" in text
    assert f"`python -m cnn_helpers.grade exercises/{name}.ipynb`" in text
    assert "Submitting" not in text and "cnn-grade" not in text
    smoke = grading.exercise(name).smoke
    images = next((v for k, v in smoke.items() if k in ("N_TRAIN", "LEARN_IMAGES")), None)
    if images is not None:            # the size the grader runs at, as the tasks define it
        epochs = next(v for k, v in smoke.items() if k.endswith("EPOCHS"))
        assert f"({images:,} training images, {epochs} epochs)" in text


def _string_constants(path: Path) -> list[str]:
    """The string literals of a module, docstrings left out (messages and titles)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_internal_names_in_student_text():
    """Review: "seed `000_2a4dcc60907c12fc.txt`", "two numbers from the seeds" (easily
    confused with SEED). Sources are cited by their titles; no file names, no "seeds"."""
    from cnn_helpers import models

    leak = re.compile("|".join([*map(re.escape, models.DOCUMENTS), r"\.txt\b", r"seeds?/",
                                r"/work/", r"(?-i:\bseeds?(?:_\w+)?\b)(?! NumPy)"]), re.I)
    for starter in STARTERS:
        nb = nbformat.read(starter, as_version=4)
        for cell in nb.cells:
            text = cell.source if cell.cell_type == "markdown" else "\n".join(
                line.split("#", 1)[1] for line in cell.source.splitlines() if "#" in line)
            assert not leak.search(text), (starter.name, leak.search(text).group(0))
    for name, module in grading.EXERCISES.items():
        path = REPO / (module.replace(".", "/") + ".py")
        for text in [t.title for t in grading.exercise(name).tasks] + _string_constants(path):
            assert not leak.search(text), (name, text)


def test_starter_code_replaces_solutions():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_exercises", REPO / "scripts" / "make_exercises.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    src = "a = 1\n    ### BEGIN SOLUTION\n    b = 2\n    ### END SOLUTION\nc = 3"
    assert make.starter_source(src, "b = ...") == "a = 1\n    b = ...\nc = 3"
    assert make.starter_source(src, None) == "a = 1\n    raise NotImplementedError()\nc = 3"
    with pytest.raises(ValueError, match="without END"):
        make.starter_source("### BEGIN SOLUTION\nx", None)


# --------------------------------------------------------------------------- the grader, end to end


def _grade(*paths: Path, extra: list[str] = (), timeout: int = 600) -> tuple[int, str, list[dict]]:
    report = Path(paths[0]).with_suffix(".report.json")
    cmd = [sys.executable, "-m", "cnn_helpers.grade", *map(str, paths), "--json", str(report), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    data = json.loads(report.read_text()) if report.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, data


def _by_task(report: dict) -> dict[str, dict]:
    return {t["task"]: t for t in report["tasks"]}


def _edit(solution: Path, dest: Path, edits: dict[str, str]) -> Path:
    """Copy a solution notebook, replacing the source of the cell tagged ``task-X`` (first one)."""
    nb = nbformat.read(solution, as_version=4)
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag in edits and cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source:
                cell.source = edits.pop(tag)
    assert not edits, f"no solution cell for {list(edits)}"
    nbformat.write(nb, dest)
    return dest


SOL1 = REPO / "exercises" / "solutions" / "01_convolution.ipynb"


@pytest.mark.notebooks
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_reference_solutions_get_full_marks(solution, tmp_path):
    copy = tmp_path / solution.name
    copy.write_bytes(solution.read_bytes())
    code, out, [report] = _grade(copy)
    assert code == 0, out
    assert report["score"] == report["max_score"] > 0 and report["passed"]
    assert report["notes"] == [], "the solution notebook should run without any error"


@pytest.mark.notebooks
def test_blank_starters_score_zero_without_crashing(tmp_path):
    """All nine starters in one grader run (which also grades several exercises at once)."""
    copies = []
    for starter in STARTERS:
        copies.append(tmp_path / starter.name)
        copies[-1].write_bytes(starter.read_bytes())
    code, out, reports = _grade(*copies, timeout=1800)
    assert code == 1 and "Traceback" not in out
    assert [Path(r["submission"]).name for r in reports] == [s.name for s in STARTERS]
    for starter, report in zip(STARTERS, reports):
        assert report["exercise"] == starter.stem and report["score"] == 0, starter.stem
        assert {t["status"] for t in report["tasks"]} == {NOT_ATTEMPTED}, starter.stem
        assert report["notes"] == [], f"{starter.stem}: a blank starter must run without an error"
        assert len(report["tasks"]) == len(grading.exercise(starter.stem).tasks)


@pytest.mark.notebooks
def test_broken_tasks_do_not_hide_the_others(tmp_path):
    sub = _edit(SOL1, tmp_path / "broken.ipynb", {
        "task-1.1": "while True:\n    pass",                       # an endless loop
        "task-1.2": "n_params = (8 * 3 * 3 + 1) * 16 +",           # a syntax error
        "task-1.4": "raise ValueError('I gave up')",                # an exception
    })
    code, out, [report] = _grade(sub, extra=["--cell-timeout", "45"])
    tasks = _by_task(report)
    assert code == 1 and "Traceback" not in out
    assert tasks["1.1"]["status"] == ERROR and "endless loop" in tasks["1.1"]["message"]
    assert tasks["1.2"]["status"] == ERROR and "SyntaxError" in tasks["1.2"]["message"]
    assert tasks["1.4"]["status"] == ERROR and "ValueError: I gave up" in tasks["1.4"]["message"]
    for ok in ("1.3", "1.5", "1.6", "1.7", "1.8"):
        assert tasks[ok]["status"] == PASSED, tasks[ok]
    assert report["score"] == 7


@pytest.mark.notebooks
def test_plausible_student_mistakes_get_partial_scores(tmp_path):
    sub = _edit(SOL1, tmp_path / "mistakes.ipynb", {
        "task-1.1": "output_size = 32 - 5",                        # off by one
        "task-1.2": "n_params = 8 * 3 * 3 * 16",                   # forgot the biases
        "task-1.4": textwrap.dedent("""\
            def conv2d_multi(x, kernel, bias):
                fh, fw, _, m = kernel.shape
                out = np.zeros((x.shape[0] - fh + 1, x.shape[1] - fw + 1, m))
                for j in range(out.shape[0]):
                    for k in range(out.shape[1]):
                        out[j, k, :] = np.tensordot(x[j:j + fh, k:k + fw, :], kernel, axes=3)
                return out"""),                                   # no bias
        "task-1.5": textwrap.dedent("""\
            sobel_v = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
            sobel_model = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                            keras.layers.Conv2D(2, (3, 3), use_bias=False)])
            sobel_model.layers[0].set_weights([np.stack([sobel_v.T, sobel_v], -1)[:, :, None]])"""),
    })
    code, _, [report] = _grade(sub)
    tasks = _by_task(report)
    assert code == 1
    assert tasks["1.1"]["status"] == FAILED and "too small" in tasks["1.1"]["message"]
    assert "bias" in tasks["1.2"]["message"]
    assert "bias is missing" in tasks["1.4"]["message"]
    assert 0 < tasks["1.4"]["points"] < 2       # the zero-bias probe is still right
    assert tasks["1.5"]["points"] == 1 and "wrong order" in tasks["1.5"]["message"]
    assert tasks["1.3"]["status"] == tasks["1.6"]["status"] == PASSED


@pytest.mark.notebooks
def test_deleted_and_reordered_cells(tmp_path):
    nb = nbformat.read(SOL1, as_version=4)
    cells = nb.cells
    # delete the solution cell of task 1.5, and move all of task 1.2 after task 1.3
    cells[:] = [c for c in cells if not ("task-1.5" in c.metadata.get("tags", [])
                                         and "BEGIN SOLUTION" in c.source)]
    t12 = [c for c in cells if "task-1.2" in c.metadata.get("tags", [])]
    rest = [c for c in cells if c not in t12]
    at = max(i for i, c in enumerate(rest) if "task-1.3" in c.metadata.get("tags", [])) + 1
    nb.cells = rest[:at] + t12 + rest[at:]
    sub = tmp_path / "moved.ipynb"
    nbformat.write(nb, sub)
    _, _, [report] = _grade(sub)
    tasks = _by_task(report)
    assert tasks["1.5"]["status"] == ERROR and "never defined" in tasks["1.5"]["message"]
    assert tasks["1.2"]["status"] == PASSED
    assert any("not in their original order" in n for n in report["notes"])


@pytest.mark.notebooks
def test_files_that_are_not_the_right_notebook(tmp_path):
    text = tmp_path / "essay.ipynb"
    text.write_text("Dear grader, here is my homework.")
    binary = tmp_path / "scan.ipynb"
    binary.write_bytes(b"%PDF-1.4\n\xff\xfe\x00\x01")
    truncated = tmp_path / "cut.ipynb"
    truncated.write_text(SOL1.read_text()[:5000])
    other = tmp_path / "other.ipynb"
    nb = nbformat.read(SOL1, as_version=4)
    nb.metadata["cnn_book"]["exercise"] = "02_stride_and_padding"
    nbformat.write(nb, other)
    code, out, reports = _grade(text, binary, truncated, other, extra=["--exercise", "01_convolution"])
    assert code == 1 and "Traceback" not in out
    notes = {Path(r["submission"]).name: " ".join(r["notes"]) for r in reports}
    assert "not valid JSON" in notes["essay.ipynb"]
    assert "not text" in notes["scan.ipynb"]
    assert "truncated" in notes["cut.ipynb"]
    assert "exercise 02_stride_and_padding" in notes["other.ipynb"] and "expected" in notes["other.ipynb"]
    n_tasks = len(grading.exercise("01_convolution").tasks)
    assert all(r["score"] == 0 and len(r["tasks"]) == n_tasks for r in reports)


@pytest.mark.notebooks
def test_instructor_checks_and_tampering(tmp_path):
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "hidden.py").write_text(textwrap.dedent("""\
        import numpy as np
        from cnn_helpers.grading import Task

        def _secret_rule_7f3a(outputs):
            return bool(np.allclose(outputs[0], [[4.0]])), "kernel applied to a 1x1 image"

        TASKS = {"01_convolution": [
            Task("H1", "a hidden probe", "conv2d_single", _secret_rule_7f3a, kind="function",
                 probes=lambda: [(np.array([[2.0]]), np.array([[2.0]]))]),
        ]}
    """))
    # The submission answers 1.1 wrongly and tries to make every check pass in its kernel.
    sub = _edit(SOL1, tmp_path / "tamper.ipynb", {"task-1.1": textwrap.dedent("""\
        output_size = 99
        import json
        grading.verify = lambda *a, **k: grading.Result("1.1", "x", "pass", 1, 1, "hacked")
        open("__answers__.json", "w").write(json.dumps({"1.1": {"state": "ok", "value": 28}}))""")})
    code, out, [report] = _grade(sub, extra=["--checks", str(checks)])
    assert _by_task(report)["1.1"]["status"] == FAILED       # verdict from the grader's process
    [hidden] = report["instructor_tasks"]
    assert hidden["task"] == "H1" and hidden["status"] == PASSED
    assert "instructor checks" in out and "_secret_rule_7f3a" not in out
    assert "np.allclose" not in json.dumps(report)


def test_as_float_array_accepts_numbers_and_refuses_the_rest():
    np.testing.assert_array_equal(grading.as_float_array([[1, 2], [3, 4]]),
                                  np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert grading.as_float_array(np.uint8(7)).dtype == float
    assert grading.as_float_array(None) is None
    assert grading.as_float_array("seven") is None
    assert grading.as_float_array(grading.Failure("ValueError: no")) is None


def test_val_accuracy_key_finds_the_validation_accuracy_curve():
    assert grading.val_accuracy_key({"loss": [1], "val_accuracy": [0.5]}) == "val_accuracy"
    assert grading.val_accuracy_key({"val_acc": [0.5]}) == "val_acc"
    assert grading.val_accuracy_key(
        {"val_sparse_categorical_accuracy": [0.5]}) == "val_sparse_categorical_accuracy"
    assert grading.val_accuracy_key({"val_top_acc": [0.5]}) == "val_top_acc"
    assert grading.val_accuracy_key({"loss": [1], "val_loss": [1], "accuracy": [0.5]}) is None


def test_activation_after_reads_the_layer_or_the_activation_layer_after_it():
    import keras

    from cnn_helpers.grading import activation_after

    layers = [keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Conv2D(4, 3),
              keras.layers.BatchNormalization(), keras.layers.Activation("elu"),
              keras.layers.Dense(3), keras.layers.Dropout(0.5), keras.layers.Softmax(),
              keras.layers.Dense(2), keras.layers.Flatten(), keras.layers.ReLU()]
    assert [activation_after(layers, i) for i in (0, 1, 4, 7)] == ["relu", "elu", "softmax",
                                                                     "linear"]


def test_training_progress_stops_at_the_first_shortfall():
    from cnn_helpers.grading import Progress, training_progress

    kw = dict(fit_call="m.fit", nan_hint="N", not_down_hint="D", missing_validation="V: pass it")
    assert training_progress({"loss": [1.0, 1.2], "val_accuracy": [0.1, 0.2]}, **kw).shortfall == (
        False, "the training loss did not go down (1.000 -> 1.200): D")
    assert training_progress({"loss": [1.0, 0.5]}, **kw).shortfall == (
        0.5, "the loss fell (1.000 -> 0.500), but the history has no V: pass it")
    assert training_progress({"loss": [1.0, 0.5], "val_loss": [1, 1]}, curve="test accuracy",
                             **kw).shortfall[1].endswith("no test accuracy: compile with metrics=[\"accuracy\"]")
    assert training_progress({"loss": [1.0, 0.5], "val_accuracy": []}, **kw).shortfall[0] == 0.5
    progress = training_progress({"loss": [1.0, 0.5], "val_accuracy": [0.2, 0.4]}, **kw)
    assert isinstance(progress, Progress) and progress.shortfall is None
    assert progress.accuracies == [0.2, 0.4]
    assert progress.fell == "the loss fell (1.000 -> 0.500)"
