"""Grade submitted exercise notebooks.

    python -m cnn_helpers.grade SUBMISSION.ipynb [MORE.ipynb ...] [--json report.json]
                                [--exercise 01_convolution] [--checks DIR]
                                [--cell-timeout 120] [--total-timeout 900]

(also installed as the console script ``cnn-grade``). Each submission is executed in a
fresh kernel, in a temporary working directory, at smoke size (the exercise's own
parameters are injected, whatever the notebook says), with a time limit per cell (a cell
that runs too long is interrupted and the rest still runs) and in total. After the last
cell, one extra cell exports every task's answer as plain data; the checks then run in
this process, never in the submission's kernel. The score table lists every task with its
points, status and the reason; ``--json`` writes the same as a machine-readable report.

Instructor checks: ``--checks DIR`` imports every ``*.py`` in ``DIR`` that defines
``TASKS = {"01_convolution": [Task(...), ...]}``; they are graded and reported separately,
and their source never appears in what the student sees.

Exit status: 0 only when every task of every submission passes; 1 otherwise; 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from cnn_helpers import grading
from cnn_helpers.grading import ERROR, NOT_ATTEMPTED, Result, Task

DEFAULT_CELL_TIMEOUT = 120
DEFAULT_TOTAL_TIMEOUT = 900


@dataclass
class Report:
    """The grade of one submission."""

    submission: str
    exercise: str | None
    results: list[Result] = field(default_factory=list)
    instructor_results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(r.points for r in self.results + self.instructor_results), 2)

    @property
    def max_score(self) -> float:
        return sum(r.max_points for r in self.results + self.instructor_results)

    @property
    def all_passed(self) -> bool:
        tasks = self.results + self.instructor_results
        return bool(tasks) and all(r.passed for r in tasks)

    def as_dict(self) -> dict[str, Any]:
        return {"submission": self.submission, "exercise": self.exercise, "score": self.score,
                "max_score": self.max_score, "passed": self.all_passed,
                "tasks": [asdict(r) for r in self.results],
                "instructor_tasks": [asdict(r) for r in self.instructor_results],
                "notes": self.notes, "seconds": round(self.seconds, 1)}


# --------------------------------------------------------------------------- loading


def load_instructor_checks(folder: Path) -> dict[str, list[Task]]:
    """Every ``TASKS`` dict in the ``*.py`` files of ``folder``, merged by exercise."""
    if not folder.is_dir():
        raise SystemExit(f"cnn-grade: --checks {folder} is not a folder")
    merged: dict[str, list[Task]] = {}
    for path in sorted(folder.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_instructor_checks_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise SystemExit(f"cnn-grade: cannot load instructor checks {path.name}: "
                             f"{type(exc).__name__}: {exc}") from None
        for name, tasks in getattr(module, "TASKS", {}).items():
            merged.setdefault(name, []).extend(tasks)
    return merged


def _read_notebook(path: Path, report: Report) -> Any | None:
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.notes.append(f"cannot read the file: {exc.strerror}")
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        report.notes.append("this is not a notebook: the file is not text (is it a PDF or a zip?)")
        return None
    except json.JSONDecodeError as exc:
        body = raw.strip()
        if body.startswith(b"{") and not body.endswith(b"}"):
            what = "the JSON is truncated (the file ends in the middle)"
        else:
            what = "not valid JSON"
        report.notes.append(f"this is not a readable notebook: {what} (line {exc.lineno}, "
                            f"column {exc.colno}); save it again in Jupyter and resubmit")
        return None
    if not isinstance(data, dict) or "cells" not in data:
        report.notes.append("this is not a notebook: valid JSON, but it has no cells")
        return None
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        report.notes.append(f"this is not a valid notebook: {str(exc).splitlines()[0][:200]}")
        return None
    return nb


def _which_exercise(nb: Any, path: Path, expected: str | None, report: Report) -> str | None:
    declared = nb.metadata.get("cnn_book", {}).get("exercise")
    name = declared or expected or path.stem
    if expected and declared and declared != expected:
        report.notes.append(f"this is the notebook of exercise {declared}, but exercise {expected} "
                            "was expected: submit the right notebook")
        return None
    try:
        grading.exercise(name)
    except KeyError:
        report.notes.append(f"cannot tell which exercise this is (no exercise called {name!r}); "
                            "use --exercise NAME")
        return None
    return name


def _structure_notes(nb: Any, tasks: list[Task]) -> list[str]:
    """Deleted or reordered task cells, found through their ``task-<id>`` tags."""
    order = []
    for cell in nb.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag.startswith("task-") and tag not in order:
                order.append(tag)
    expected = [t.tag for t in tasks]
    notes = []
    missing = [tag[5:] for tag in expected if tag not in order]
    if missing:
        notes.append(f"the cells of task(s) {', '.join(missing)} are missing (deleted?)")
    present = [tag for tag in order if tag in expected]
    if present != [tag for tag in expected if tag in present]:
        notes.append("task cells are not in their original order; cells run top to bottom, "
                     "so a task may use something defined only later")
    return notes


# --------------------------------------------------------------------------- running


_EXPORT_CELL = """\
# Added by the grader: export the answers as plain data.
import json as _json
from cnn_helpers import grading as _grading
_tasks = [t for t in _grading.exercise({name!r}).tasks]
_extra = {extra!r}
_tasks += [_grading.Task(i, "instructor", a, lambda v: (True, ""), kind=k,
                         probes=(lambda p=p: _grading._load_probes(p)))
           for i, a, k, p in _extra]
_grading.export_answers(globals(), _tasks, "__answers__.json", "__answers__.npz")
"""


def _prepare(nb: Any, name: str, extra: list[Task], workdir: Path) -> Path:
    """Write the submission, with the export cell appended and probes saved, into ``workdir``."""
    import nbformat

    specs = []
    for task in extra:
        probe_file = ""
        if task.kind == "function":
            probe_file = str(workdir / f"__probes_{len(specs)}__.npz")
            grading._save_probes(task.probes(), probe_file)  # type: ignore[misc]
        specs.append((task.id, task.answer, task.kind, probe_file))
    nb = nbformat.from_dict(nb)
    nb.cells.append(nbformat.v4.new_code_cell(_EXPORT_CELL.format(name=name, extra=specs)))
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                          "language": "python"})
    path = workdir / "submission.ipynb"
    nbformat.write(nb, str(path))
    return path


def _run(notebook: Path, smoke: dict[str, Any], cell_timeout: int, total_timeout: int) -> str | None:
    """Execute in a child process group; return a note if the total time limit was hit."""
    out = notebook.with_name("executed.ipynb")
    cmd = [sys.executable, "-m", "cnn_helpers.notebooks", str(notebook), str(out),
           "--parameters", json.dumps(smoke), "--cell-timeout", str(cell_timeout),
           "--keep-going", "--mode", "graded"]
    proc = subprocess.Popen(cmd, cwd=notebook.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=total_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # papermill and the kernel it started
        proc.communicate()
        return f"the whole notebook took longer than the {total_timeout} s limit and was stopped"
    if proc.returncode != 0 and not out.exists():
        tail = log.decode("utf-8", "replace").strip().splitlines()[-3:]
        return "the notebook could not be executed: " + " | ".join(tail)[:300]
    return None


def _export_ran(executed: Path) -> bool:
    """Did the grader's own export cell (the last one) run to the end?"""
    import nbformat

    if not executed.exists():
        return False
    last = nbformat.read(str(executed), as_version=4).cells[-1]
    return (last.cell_type == "code" and "Added by the grader" in last.source
            and last.execution_count is not None
            and not any(o.get("output_type") == "error" for o in last.get("outputs", [])))


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (TensorFlow's C++ start-up logs) for a moment."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _cell_errors(executed: Path) -> tuple[dict[str, str], list[str]]:
    """The first error raised in the cells of each task (by task tag), and errors elsewhere."""
    import nbformat

    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    if not executed.exists():
        return errors, elsewhere
    nb = nbformat.read(str(executed), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code" and "Added by the grader" not in c.source]
    for number, cell in enumerate(code_cells, start=1):
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if t.startswith("task-")]
        is_injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            message = f"{out['ename']}: {out['evalue']}".strip()[:200]
            for tag in tags:
                errors.setdefault(tag, message)
            if not tags and not is_injected:
                elsewhere.append(f"code cell {number} (outside the tasks) raised {message}")
    return errors, elsewhere


def _explain(task: Task, result: Result, cell_errors: dict[str, str], stopped: str | None) -> Result:
    """Say why an answer is missing: an error in its cell, a time limit, or not attempted."""
    if result.status != NOT_ATTEMPTED:
        return result
    error = cell_errors.get(task.tag)
    if error and not error.startswith("NotImplementedError"):
        if error.startswith("KeyboardInterrupt"):
            error = "the cell ran longer than the time limit and was interrupted (an endless loop?)"
        elif error.startswith("NameError") and f"'{task.answer}'" in error:
            error = f"`{task.answer}` is never defined (was the cell that defines it deleted or moved?)"
        return Result(task.id, task.title, ERROR, 0, task.points, error)
    if stopped:
        return Result(task.id, task.title, ERROR, 0, task.points, "not graded: " + stopped)
    return result


def grade(path: Path, *, expected: str | None, instructor: dict[str, list[Task]],
          cell_timeout: int = DEFAULT_CELL_TIMEOUT, total_timeout: int = DEFAULT_TOTAL_TIMEOUT) -> Report:
    """Grade one submission; never raises for anything wrong with the submission."""
    t0 = time.perf_counter()
    report = Report(str(path), None)
    nb = _read_notebook(path, report)
    name = _which_exercise(nb, path, expected, report) if nb is not None else None
    if name is None:
        if expected:
            report.exercise = expected
            report.results = [Result(t.id, t.title, NOT_ATTEMPTED, 0, t.points, "not graded")
                              for t in grading.exercise(expected).tasks]
        report.seconds = time.perf_counter() - t0
        return report
    report.exercise = name
    ex = grading.exercise(name)
    extra = instructor.get(name, [])
    report.notes += _structure_notes(nb, ex.tasks)
    with tempfile.TemporaryDirectory(prefix="cnn-grade-") as tmp:
        workdir = Path(tmp)
        notebook = _prepare(nb, name, extra, workdir)
        stopped = _run(notebook, ex.smoke, cell_timeout, total_timeout)
        if stopped:
            report.notes.append(stopped)
        cell_errors, elsewhere = _cell_errors(workdir / "executed.ipynb")
        report.notes += elsewhere
        answers = workdir / "__answers__.json"
        # Only answers written by the grader's own cell count (not a file the submission made).
        if _export_ran(workdir / "executed.ipynb") and answers.exists():
            records, arrays = grading.load_exported(answers, workdir / "__answers__.npz")
        else:
            records, arrays = {}, {}
            if not stopped:
                report.notes.append("the answers could not be exported: the notebook's kernel "
                                    "stopped before the end (does a cell exit or crash Python?)")
        for group, tasks in ((report.results, ex.tasks), (report.instructor_results, extra)):
            for task in tasks:
                record = records.get(task.id, {"state": "missing"})
                group.append(_explain(task, grading.verify(task, record, arrays), cell_errors, stopped))
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------- output


def format_report(report: Report) -> str:
    lines = [f"{report.submission}  (exercise {report.exercise or '?'})"]
    for title, results in (("", report.results), ("instructor checks", report.instructor_results)):
        if not results:
            continue
        if title:
            lines.append(f"  {title}:")
        width = max(len(r.title) for r in results)
        for r in results:
            lines.append(f"  {r.task:<5} {r.title:<{width}}  {r.points:>4g}/{r.max_points:<3g} "
                         f"{r.status:<13}  {r.message}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append(f"  score: {report.score:g} / {report.max_score:g}   ({report.seconds:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnn-grade", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path, help="notebooks to grade")
    parser.add_argument("--json", type=Path, help="write the reports as JSON to this file")
    parser.add_argument("--exercise", help="the exercise every submission must be (e.g. 01_convolution)")
    parser.add_argument("--checks", type=Path, help="folder of instructor check modules")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--total-timeout", type=int, default=DEFAULT_TOTAL_TIMEOUT,
                        help=f"seconds per notebook (default {DEFAULT_TOTAL_TIMEOUT})")
    args = parser.parse_args(argv)
    try:
        import nbformat  # noqa: F401
        import papermill  # noqa: F401
    except ImportError as exc:
        print(f"cnn-grade needs {exc.name}: pip install 'cnn-helpers[book]'", file=sys.stderr)
        return 2
    if args.exercise:
        try:
            grading.exercise(args.exercise)
        except KeyError as exc:
            parser.error(str(exc).strip("'\""))
    with _quiet_stderr():
        import keras  # noqa: F401  (checks of model tasks need it; import it quietly once)
    instructor = load_instructor_checks(args.checks) if args.checks else {}
    for name, tasks in instructor.items():
        try:
            own = {t.id for t in grading.exercise(name).tasks}
        except KeyError:
            parser.error(f"instructor checks name an unknown exercise {name!r}")
        clash = sorted(own & {t.id for t in tasks})
        if clash:
            parser.error(f"instructor checks for {name} reuse task id(s) {', '.join(clash)}; "
                         "give them ids of their own (e.g. 'H1')")

    reports = []
    for path in args.submissions:
        report = grade(path, expected=args.exercise, instructor=instructor,
                       cell_timeout=args.cell_timeout, total_timeout=args.total_timeout)
        print(format_report(report), flush=True)
        reports.append(report)
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2), encoding="utf-8")
    return 0 if all(r.all_passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
