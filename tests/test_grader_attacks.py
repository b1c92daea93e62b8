"""The grader against submissions written to cheat it, to harm it, or just unlucky.

Each test edits a copy of the reference solution of exercise 1 the way a student would
(the cells below are the hostile notebooks), grades it through the real pipeline (sandbox,
capture, replay, verifier) and asserts the verdict of every task, the time it took, and that
nothing outside the sandbox changed. The sandbox's own limits (network, files, processes,
memory, output) are tested one by one in tests/test_sandbox.py.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

import cnn_helpers
from cnn_helpers.grading import runner
from cnn_helpers.grading.exercises import FAILED, NOT_ATTEMPTED, PASSED

from conftest import REPO

pytestmark = [pytest.mark.notebooks, pytest.mark.delegation]

SOL1 = REPO / "exercises" / "solutions" / "01_convolution.ipynb"
PACKAGE = Path(cnn_helpers.__file__).resolve().parent
MARKER = "cnn-orphan-7d1e"


def _edit(dest: Path, solution_cells: dict[str, str], *, after: dict[str, str] = (),
          end: str | None = None, metadata: object = None, untag_parameters: bool = False) -> Path:
    """A copy of exercise 1's solution: ``solution_cells`` replace the solution cell of a task;
    ``after`` adds a cell after the check of a task; ``end`` a cell before the summary."""
    nb = nbformat.read(SOL1, as_version=4)
    after = dict(after)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        task = next((t for t in tags if t.startswith("task-")), None)
        if task in solution_cells and "BEGIN SOLUTION" in cell.source:
            cell.source = solution_cells[task]
        if untag_parameters and "parameters" in tags:
            cell.metadata["tags"] = [t for t in tags if t != "parameters"]
            cell.source = cell.source.replace("2000", "60000").replace("= 10", "= 50")
        if end is not None and "ex.summary" in cell.source:
            cells.append(nbformat.v4.new_code_cell(end))
        cells.append(cell)
        if task in after and "ex.check" in cell.source:
            cells.append(nbformat.v4.new_code_cell(after.pop(task)))
    nb.cells = cells
    if metadata is not None:
        nb.metadata["cnn_book"] = metadata
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def _orphans() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if MARKER in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(pid))
        except OSError:
            pass
    return found


def _grade(path: Path, **kwargs):
    t0 = time.perf_counter()
    report = runner.grade(path, expected="01_convolution", instructor={}, **kwargs)
    return report, {r.task: r for r in report.results}, time.perf_counter() - t0


def test_a_cheating_submission_gets_credit_only_for_its_real_work(tmp_path):
    solutions = REPO / "exercises" / "solutions"
    tasks_file = PACKAGE / "grading" / "tasks" / "ex01_convolution.py"
    sub = _edit(tmp_path / "students" / "mallory.ipynb", {
        # 1.1: the right number only if the reference solutions are out of sight and
        # nothing in the environment says "you are being graded"
        "task-1.1": textwrap.dedent(f"""\
            import os
            graded = [k for k in os.environ if "GRADE" in k or "PYTEST" in k or "CI" == k]
            output_size = 0 if os.path.exists({str(solutions)!r}) or graded else 28"""),
        # 1.2: the right number only if the package cannot be rewritten and there is no network
        "task-1.2": textwrap.dedent(f"""\
            import socket
            try:
                open({str(tasks_file)!r}, "a").write("\\nTASKS = []\\n")
                n_params = 0
            except OSError:
                s = socket.socket()
                s.settimeout(3)
                n_params = (8 * 3 * 3 + 1) * 16 if s.connect_ex(("8.8.8.8", 53)) != 0 else 0"""),
        # 1.3: not solved, but a forged capture claims outputs for it
        "task-1.3": textwrap.dedent("""\
            import json, os
            os.makedirs("captures", exist_ok=True)
            json.dump({"1.3": {"state": "ok", "outputs": [{"ok": 1.0}] * 8}}, open("captures/1.3.json", "w"))
            def conv2d_single(image, kernel):
                raise NotImplementedError"""),
        # 1.4: the book's own implementation instead of the student's
        "task-1.4": "def conv2d_multi(x, kernel, bias):\n    return ops.conv2d(x, kernel, bias)",
    }, end=textwrap.dedent(f"""\
        import os, signal, subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{MARKER}"],
                         start_new_session=True)
        os.kill(-1, signal.SIGKILL)       # every process it can reach"""))
    report, tasks, seconds = _grade(sub)
    assert tasks["1.1"].status == PASSED, tasks["1.1"]       # the solutions were invisible
    assert tasks["1.2"].status == PASSED, tasks["1.2"]       # read-only package, no network
    assert tasks["1.3"].status == NOT_ATTEMPTED              # the forged capture is ignored
    assert tasks["1.4"].points == 0 and "no credit" in tasks["1.4"].message
    assert "cnn_helpers.ops.conv2d" in tasks["1.4"].message
    assert tasks["1.5"].status == tasks["1.6"].status == PASSED   # checked before the kill
    honest = [r for t, r in tasks.items() if t not in ("1.3", "1.4")]   # the solution's own
    assert all(r.passed for r in honest) and report.score == sum(r.max_points for r in honest)
    assert any("stopped before its end" in note for note in report.notes), report.notes
    assert MARKER not in tasks_file.read_text() and not _orphans()
    assert seconds < 240 and report.sandbox == "bwrap"


def test_an_unlucky_honest_submission_loses_only_what_went_wrong(tmp_path):
    sub = _edit(tmp_path / "students" / "01_convolution.ipynb", {
        "task-1.1": 'output_size = "28"',                   # a string, not a number
        "task-1.3": textwrap.dedent("""\
            import time
            def conv2d_single(image, kernel):
                time.sleep(3)                               # too slow for the grader's limit
                return image"""),
    }, after={"task-1.2": "n_params = 1   # scratch work reusing the name, after the check"},
       end="import os\nos._exit(1)",                          # the kernel dies at the end
       metadata="not a dict", untag_parameters=True)        # malformed metadata, no tag
    report, tasks, seconds = _grade(sub, probe_seconds=1)
    assert tasks["1.1"].status == FAILED and "number" in tasks["1.1"].message
    assert tasks["1.2"].status == PASSED                     # graded as it was when checked
    assert tasks["1.3"].status == FAILED and "did not finish" in tasks["1.3"].message
    for ok in ("1.4", "1.5", "1.6"):
        assert tasks[ok].status == PASSED, tasks[ok]
    assert seconds < 200                 # the small sizes held although the tag was removed


def test_hostile_output_and_resources_are_contained(tmp_path):
    sub = _edit(tmp_path / "students" / "eve.ipynb", {}, after={
        "task-1.1": "raise ValueError('\\x1b[2J\\x1b[31mGRADER HACKED\\x07')",
    }, end=textwrap.dedent("""\
        import sys
        for _ in range(60):
            sys.stdout.write("x" * 1_000_000)          # 60 MB of output
        files = []
        try:
            while True:
                files.append(open("/dev/null"))
        except OSError:
            pass
        hog = bytearray(12 * 1024 ** 3)                 # 12 GB, over the memory limit"""))
    report, tasks, seconds = _grade(sub)
    from cnn_helpers.grading.report import format_report

    printed = format_report(report)
    assert "\x1b" not in printed and "\x07" not in printed and "GRADER HACKED" in printed
    assert tasks["1.1"].status == tasks["1.5"].status == PASSED
    assert any("memory" in note for note in report.notes), report.notes
    assert seconds < 300
