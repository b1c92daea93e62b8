"""Grading a course folder: roster, parallel workers, resume, gradebook, feedback.

The fast tests grade with a stand-in grade function (real checks of exercise 1 on answers
written into the notebook's metadata) or stand-in worker processes that crash, hang or
print garbage. The ``notebooks``-marked test runs the real grader on three notebooks with
two workers (run it under ``flock /tmp/nbexec.lock``).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cnn_helpers import grading
from cnn_helpers.grading import batch
from cnn_helpers.grading import ERROR, NOT_ATTEMPTED, Result
from cnn_helpers.grading.report import (
    SavedReport,
    feedback_markdown,
    format_report,
    printable,
    report_from_dict,
)

from conftest import REPO, no_leak

EX1 = grading.exercise("01_convolution")
EX1_IDS = [t.id for t in EX1.tasks]
SOL1 = REPO / "exercises" / "solutions" / "01_convolution.ipynb"
STARTER1 = REPO / "exercises" / "01_convolution.ipynb"

HIDDEN_CHECKS = textwrap.dedent("""\
    import numpy as np
    from cnn_helpers.grading import Task

    def _secret_rule_7f3a(outputs):
        return bool(np.allclose(outputs[0], [[4.0]])), "kernel applied to a 1x1 image"

    TASKS = {"01_convolution": [
        Task("H1", "a hidden probe", "conv2d_single", _secret_rule_7f3a, kind="function",
             probes=lambda: [(np.array([[2.0]]), np.array([[2.0]]))]),
    ]}
""")


# --------------------------------------------------------------------------- stand-ins


def fake_notebook(path: Path, answers: dict[str, object], **extra: object) -> Path:
    """A file the fake grader reads: answers (and odd behaviours) in the metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fake": answers, **extra}
    path.write_text(json.dumps({"cells": [], "metadata": meta, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


class FakeGrader:
    """Grades exercise 1 with its real checks, on answers found in the notebook's metadata;
    hidden checks come out as errors whose message must never reach a student."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, path: Path, *, expected, instructor, cell_timeout, total_timeout, **kw):
        with self.lock:
            self.calls.append(Path(path).name)
        meta = json.loads(Path(path).read_text(encoding="utf-8"))["metadata"]
        if meta.get("raise"):
            raise RuntimeError("the fake grader broke")
        time.sleep(meta.get("sleep", 0))
        results = []
        for task in EX1.tasks:
            if task.id in meta["fake"]:
                results.append(EX1.result(task.id, meta["fake"][task.id]))
            else:
                results.append(Result(task.id, task.title, NOT_ATTEMPTED, 0, task.points,
                                      f"`{task.answer}` is not filled in yet"))
        hidden = [Result(t.id, t.title, ERROR, 0, t.points, "_secret_rule_7f3a: np.allclose failed")
                  for t in instructor.get("01_convolution", [])]
        return SavedReport(str(path), expected or "01_convolution", results, hidden,
                           list(meta.get("notes", [])), seconds=0.1)


@pytest.fixture
def roster(tmp_path) -> Path:
    """alice (flat file), bob (in a folder, with checkpoint litter), carol (two notebooks),
    dave (a PDF only), and things that are not students."""
    folder = tmp_path / "submissions"
    fake_notebook(folder / "alice.ipynb", {"1.1": 28, "1.2": 1168})
    fake_notebook(folder / "bob" / "work" / "Exercise 1.ipynb", {"1.1": 27})
    fake_notebook(folder / "bob" / ".ipynb_checkpoints" / "Exercise 1-checkpoint.ipynb", {})
    fake_notebook(folder / "carol" / "a.ipynb", {})
    fake_notebook(folder / "carol" / "b.ipynb", {})
    (folder / "dave").mkdir()
    (folder / "dave" / "homework.pdf").write_bytes(b"%PDF-1.4")
    (folder / "notes.txt").write_text("not a submission")
    fake_notebook(folder / "__MACOSX" / "alice.ipynb", {})
    fake_notebook(folder / ".hidden.ipynb", {})
    return folder


def _checks(tmp_path: Path) -> Path:
    folder = tmp_path / "checks"
    folder.mkdir(exist_ok=True)
    (folder / "hidden.py").write_text(HIDDEN_CHECKS)
    return folder


def _gradebook(out: Path) -> list[dict[str, str]]:
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- the roster


def test_roster_flat_folders_several_and_none(roster):
    subs = {s.student: s for s in batch.discover(roster)}
    assert list(subs) == ["alice", "bob", "carol", "dave"]
    assert subs["alice"].notebook == roster / "alice.ipynb" and subs["alice"].problem is None
    assert subs["bob"].notebook == roster / "bob" / "work" / "Exercise 1.ipynb"
    assert subs["carol"].notebook is None and "2 notebooks" in subs["carol"].problem
    assert "carol/a.ipynb" in subs["carol"].problem and "exactly one" in subs["carol"].problem
    assert subs["dave"].notebook is None and "no notebook" in subs["dave"].problem
    assert "homework.pdf" in subs["dave"].problem


def test_a_file_and_a_folder_of_the_same_student_are_two_notebooks(tmp_path):
    fake_notebook(tmp_path / "erin.ipynb", {})
    fake_notebook(tmp_path / "erin" / "x.ipynb", {})
    [erin] = batch.discover(tmp_path)
    assert erin.notebook is None and "2 notebooks" in erin.problem


def test_an_output_folder_inside_the_course_folder_is_not_a_student(roster, tmp_path):
    batch.grade_folder(roster, roster / "graded", grade_fn=FakeGrader())
    assert (roster / "graded" / "gradebook.csv").is_file()
    assert "graded" not in [s.student for s in batch.discover(roster, exclude=[roster / "graded"])]
    assert [r["student"] for r in _gradebook(roster / "graded")] == ["alice", "bob", "carol", "dave"]


def test_hidden_folders_never_nest_nor_cover_the_grader(tmp_path):
    subs, checks = tmp_path / "subs", tmp_path / "subs" / "checks"
    out = tmp_path / "out"
    assert batch.hideable([subs, out]) == (str(subs.resolve()), str(out.resolve()))
    assert batch.hideable([subs, subs / "graded"]) == (str(subs.resolve()),)
    assert batch.hideable([subs, out], avoid=[checks]) == (str(out.resolve()),)
    assert batch.hideable([REPO, Path(sys.prefix)]) == ()       # the kernel needs them


def test_missing_folder_is_a_plain_error(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        batch.grade_folder(tmp_path / "nowhere", tmp_path / "out", grade_fn=FakeGrader())


# --------------------------------------------------------------------------- a batch


def test_batch_writes_results_gradebook_feedback_and_report(roster, tmp_path):
    out, fake = tmp_path / "out", FakeGrader()
    seen = []

    def on_result(row, index, total):
        # each result is on disk, complete, before the row is announced
        record = json.loads((out / "results" / f"{row.student}.json").read_text())
        seen.append((row.student, row.state, record["student"], index, total))

    summary = batch.grade_folder(roster, out, jobs=2, exercise="01_convolution",
                                 checks=_checks(tmp_path), grade_fn=fake, on_result=on_result)
    assert sorted(fake.calls) == ["Exercise 1.ipynb", "alice.ipynb"]
    assert sorted(s[0] for s in seen) == ["alice", "bob", "carol", "dave"]
    assert all(student == rec for student, _, rec, _, _ in seen)
    assert [i for *_, i, _ in seen] == [1, 2, 3, 4] and {n for *_, n in seen} == {4}
    assert [r.state for r in summary.rows] == ["graded", "graded", "no-notebook", "no-notebook"]

    alice = json.loads((out / "results" / "alice.json").read_text())
    assert alice["sha256"] == batch.sha256_of(roster / "alice.ipynb")
    assert alice["report"]["score"] == 2 and not alice["grader_failure"]

    rows = _gradebook(out)
    assert list(rows[0]) == ["student", *EX1_IDS, "H1", "total", "max", "notes"]
    by_student = {r["student"]: r for r in rows}
    assert list(by_student) == ["alice", "bob", "carol", "dave"]
    assert by_student["alice"]["1.1"] == "1" and by_student["alice"]["1.2"] == "1"
    assert by_student["alice"]["H1"] == "0" and by_student["alice"]["total"] == "2"
    assert by_student["bob"]["1.1"] == "0" and by_student["bob"]["notes"] == "0"
    max_score = str(sum(t.points for t in EX1.tasks) + 1)
    assert {r["max"] for r in rows} == {max_score}         # the hidden check counts everywhere
    assert by_student["carol"]["notes"] == "1" and by_student["carol"]["total"] == "0"

    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        "alice.md", "bob.md", "carol.md", "dave.md"]
    assert "2 notebooks" in (out / "feedback" / "carol.md").read_text()
    everything = json.loads((out / "report.json").read_text())
    assert [r["student"] for r in everything] == ["alice", "bob", "carol", "dave"]
    assert everything[0]["sha256"] == alice["sha256"] and everything[0]["tasks"]
    assert not list((out / "results").glob(".*")), "no temporary files are left behind"
    assert "2 graded" in summary.text() and "2 without a single notebook" in summary.text()


def test_resume_grades_only_what_changed(roster, tmp_path):
    out, checks = tmp_path / "out", _checks(tmp_path)
    batch.grade_folder(roster, out, exercise="01_convolution", checks=checks, grade_fn=FakeGrader())

    again = FakeGrader()
    summary = batch.grade_folder(roster, out, exercise="01_convolution", checks=checks,
                                 grade_fn=again)
    assert again.calls == []
    assert [r.state for r in summary.rows] == ["unchanged", "unchanged", "no-notebook", "no-notebook"]
    assert _gradebook(out)[0]["total"] == "2"              # the kept grades are still there

    fake_notebook(roster / "alice.ipynb", {"1.1": 28})       # alice resubmits
    changed = FakeGrader()
    batch.grade_folder(roster, out, exercise="01_convolution", checks=checks, grade_fn=changed)
    assert changed.calls == ["alice.ipynb"]
    assert _gradebook(out)[0]["total"] == "1"

    (checks / "hidden.py").write_text(HIDDEN_CHECKS + "\n# a changed rule\n")
    new_rules = FakeGrader()
    batch.grade_folder(roster, out, exercise="01_convolution", checks=checks, grade_fn=new_rules)
    assert sorted(new_rules.calls) == ["Exercise 1.ipynb", "alice.ipynb"]

    everything = FakeGrader()
    batch.grade_folder(roster, out, exercise="01_convolution", checks=checks, grade_fn=everything,
                       resume=False)
    assert len(everything.calls) == 2


def test_a_grader_failure_is_a_row_and_is_retried(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    fake_notebook(folder / "ann.ipynb", {"1.1": 28}, **{"raise": True})
    fake_notebook(folder / "ben.ipynb", {"1.1": 28})
    summary = batch.grade_folder(folder, out, exercise="01_convolution", grade_fn=FakeGrader())
    ann, ben = summary.rows
    assert ann.state == "failed" and ben.state == "graded"
    assert ann.report.notes == [f"{batch.COULD_NOT_GRADE}: RuntimeError: the fake grader broke"]
    assert {r.status for r in ann.report.results} == {ERROR}
    assert len(ann.report.results) == len(EX1.tasks)
    retry = FakeGrader()
    batch.grade_folder(folder, out, exercise="01_convolution", grade_fn=retry)
    assert retry.calls == ["ann.ipynb"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "results" / "alice.json"
    batch.write_atomic(target, '{"old": true}')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(batch.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        batch.write_atomic(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in target.parent.iterdir()] == ["alice.json"]


def test_unknown_exercise_and_clashing_checks_are_refused(roster, tmp_path):
    with pytest.raises(ValueError, match="no exercise called"):
        batch.grade_folder(roster, tmp_path / "out", exercise="01_convolutoin", grade_fn=FakeGrader())
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "c.py").write_text(HIDDEN_CHECKS.replace('Task("H1"', 'Task("1.3"'))
    with pytest.raises(ValueError, match="reuse task id"):
        batch.grade_folder(roster, tmp_path / "out", checks=clash, grade_fn=FakeGrader())
    with pytest.raises(ValueError, match="plain data"):
        batch.grade_folder(roster, tmp_path / "out", grade_fn=FakeGrader(), seed=object())


# --------------------------------------------------------------------------- what students see


def test_feedback_gives_hints_not_answers(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    fake_notebook(folder / "fay.ipynb", {"1.1": 27, "1.2": 1152})   # off by one; no biases
    batch.grade_folder(folder, out, exercise="01_convolution", checks=_checks(tmp_path),
                       grade_fn=FakeGrader())
    page = (out / "feedback" / "fay.md").read_text()
    assert "**Score: 0 / " in page
    assert "too small" in page and "bias" in page                   # the hints are there
    assert "not yet right" in page and "not attempted" in page      # statuses in words
    no_leak(page, 28, 1168)                                          # the answers are not
    assert "H1" in page and "a hidden probe" in page and "error" in page
    assert "_secret_rule_7f3a" not in page and "allclose" not in page
    # the instructor's table does show the hidden check's message
    report = report_from_dict(json.loads((out / "report.json").read_text())[0])
    assert "_secret_rule_7f3a" in format_report(report)


def test_escape_codes_and_long_lines_are_escaped(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    nasty = "\x1b[2J\x1b[31mYOU GET FULL MARKS\x1b[0m\r\u202eevil\x07 " + "x" * 5000
    fake_notebook(folder / "=HYPERLINK(1).ipynb", {"1.1": 27}, notes=[nasty, "two\nlines"])
    fake_notebook(folder / "zed\x1b[31m\u202e.ipynb", {"1.1": 28})     # a name with escapes
    summary = batch.grade_folder(folder, out, exercise="01_convolution", grade_fn=FakeGrader())
    row, zed = summary.rows
    texts = {"table": format_report(row.report),
             "feedback": (out / "feedback" / f"{row.student}.md").read_text(),
             "line": batch.row_line(zed, 2, 2), "csv": (out / "gradebook.csv").read_text(),
             "summary": summary.text()}
    for name, text in texts.items():
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text, name
        assert "\r" not in text, name
    for name in ("table", "feedback", "line", "csv"):
        shown = "\\x1b\\[31m" if name == "feedback" else "\\x1b[31m"   # Markdown escapes [
        assert shown in texts[name] and "\\u202e" in texts[name], name
    for name in ("table", "feedback"):
        assert max(len(line) for line in texts[name].splitlines()) < 700, name
        assert "more characters)" in texts[name], name
    assert "two\\nlines" in texts["table"]
    assert _gradebook(out)[0]["student"] == "'=HYPERLINK(1)"     # not a spreadsheet formula
    assert printable("ok\tfine") == "ok fine" and printable("é ü 中") == "é ü 中"


def test_feedback_markdown_cannot_inject_html_or_links():
    report = SavedReport("s.ipynb", "01_convolution", [Result(
        "1.1", "output size", "fail", 0, 1, "got <script>alert(1)</script> ![x](http://e.vil/p.png)")])
    page = feedback_markdown(report)
    assert "<script>" not in page and "![x](" not in page and "&lt;script&gt;" in page


# --------------------------------------------------------------------------- worker processes

FAKE_WORKER = textwrap.dedent("""\
    import json, os, subprocess, sys, time
    from pathlib import Path

    spec = json.loads(Path(sys.argv[1]).read_text())
    name = Path(spec["path"]).stem
    if name == "crash":
        print("Segmentation fault (core dumped)")
        sys.exit(3)
    if name == "garbage":
        print("{{ not json")
        Path(spec["out"]).write_text("{{ not json at all")
        sys.exit(0)
    if name == "killed":
        os.kill(os.getpid(), 9)
    if name == "hang":
        # a grandchild in a session of its own (like the notebook's kernel), then hang
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 start_new_session=True)
        Path({pids!r}).write_text(str(child.pid))
        time.sleep(600)
    report = {{"submission": spec["path"], "exercise": spec["exercise"], "score": 1,
              "max_score": 2, "passed": False, "notes": [], "seconds": 0.1,
              "tasks": [{{"task": "1.1", "title": "output size", "status": "pass", "points": 1,
                         "max_points": 1, "message": "right"}},
                        {{"task": "1.2", "title": "parameters", "status": "fail", "points": 0,
                         "max_points": 1, "message": "look again"}}],
              "instructor_tasks": []}}
    Path(spec["out"]).write_text(json.dumps({{"report": report,
                                             "maxrss_mb": {{"worker": 12.5}}}}))
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat                      # a zombie is dead too


def test_workers_that_crash_hang_or_print_garbage_do_not_stop_the_batch(tmp_path):
    folder, out, pids = tmp_path / "subs", tmp_path / "out", tmp_path / "grandchild.pid"
    for name in ("crash", "garbage", "good", "hang", "killed"):
        fake_notebook(folder / f"{name}.ipynb", {})
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER.format(pids=str(pids)))
    t0 = time.perf_counter()
    summary = batch.grade_folder(folder, out, jobs=2, exercise="01_convolution", total_timeout=2,
                                 margin=2, worker_command=[sys.executable, str(worker)])
    assert time.perf_counter() - t0 < 60
    rows = {r.student: r for r in summary.rows}
    assert rows["good"].state == "graded" and rows["good"].report.score == 1
    assert rows["good"].record["maxrss_mb"] == {"worker": 12.5}
    why = {name: rows[name].report.notes[0] for name in ("crash", "garbage", "hang", "killed")}
    assert all(rows[n].state == "failed" and why[n].startswith(batch.COULD_NOT_GRADE) for n in why)
    assert "exit status 3" in why["crash"] and "Segmentation fault" in why["crash"]
    assert "could not be read" in why["garbage"]
    assert "longer than 4 s" in why["hang"]
    assert "signal SIGKILL" in why["killed"]
    assert not _alive(int(pids.read_text())), "the hanging worker's grandchild was left running"
    assert len(_gradebook(out)) == 5 and summary.count("failed") == 4


def test_the_worker_entry_point_refuses_bad_usage():
    proc = subprocess.run([sys.executable, "-m", "cnn_helpers.grading.batch"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_cli_refuses_an_unknown_exercise(tmp_path, capsys):
    from cnn_helpers.grading import cli

    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit) as exc:
        cli.main(["batch", str(tmp_path / "subs"), "--out", str(tmp_path / "o"),
                  "--exercise", "nope"])
    assert exc.value.code == 2 and "no exercise called 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["batch", str(tmp_path / "subs"), "--out", str(tmp_path / "o"), "--jobs", "0"])
    assert exc.value.code == 2


# --------------------------------------------------------------------------- end to end


@pytest.mark.notebooks
def test_real_batch_with_two_workers(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(SOL1.read_bytes())
    (folder / "bob").mkdir()
    (folder / "bob" / "01_convolution.ipynb").write_bytes(STARTER1.read_bytes())
    (folder / "carol.ipynb").write_bytes(SOL1.read_bytes())
    cmd = [sys.executable, "-m", "cnn_helpers.grade", "batch", str(folder), "--out", str(out),
           "--jobs", "2", "--exercise", "01_convolution", "--checks", str(_checks(tmp_path))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("graded in") == 3 and "3 graded" in proc.stdout
    rows = {r["student"]: r for r in _gradebook(out)}
    full = str(sum(t.points for t in EX1.tasks) + 1)
    assert rows["alice"]["total"] == rows["carol"]["total"] == rows["alice"]["max"] == full
    assert rows["alice"]["H1"] == "1" and rows["alice"]["notes"] == "0"
    assert rows["bob"]["total"] == "0" and rows["bob"]["max"] == full
    bob = (out / "feedback" / "bob.md").read_text()
    assert "not attempted" in bob and "_secret_rule_7f3a" not in bob
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("unchanged since the last run (kept)") == 3
