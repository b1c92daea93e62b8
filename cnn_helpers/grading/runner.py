"""Grade one submitted exercise notebook: run it in a sandbox, collect its answers, verify them.

What happens to a submission (:func:`grade`), and why:

1. **Read** it as untrusted data: a file that is not a notebook, truncated JSON, malformed
   metadata or the notebook of another exercise gets a note in plain words, never a traceback.
2. **Run** it in a fresh kernel inside the sandbox (:mod:`cnn_helpers.grading.sandbox`: no
   network, a read-only filesystem except a private scratch folder, the instructor's checks,
   the reference solutions and other submissions invisible, limits on time, memory,
   processes, files and output, every process killed at the end), at the exercise's small
   sizes: a grader cell re-applies them after every cell that assigns one, whatever the
   notebook's tags say. Each cell has a time limit; a looping cell is interrupted and the
   rest still runs.
3. **Collect** each value or model answer as it was when its check cell ran (the kernel
   writes a capture then: :meth:`Exercise.check <cnn_helpers.grading.exercises.Exercise.check>`),
   so a later cell cannot change a checked task and a crash, ``os._exit`` or the time limit
   later on costs only the tasks not yet checked; a grader cell at the end exports the tasks
   that were never checked.
4. **Replay** each function task from the notebook's source, in the sandbox, on probes
   drawn fresh with this submission's seed, with the implementations the task asks the
   student not to call made unavailable (:mod:`cnn_helpers.grading.replay`).
5. **Verify** all answers in a separate process with a time limit per task
   (:mod:`cnn_helpers.grading.verifier`); the instructor's hidden checks run only there.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnn_helpers import grading
from cnn_helpers.grading import protocol, replay
from cnn_helpers.grading.exercises import ERROR, NOT_ATTEMPTED, Result, Task, read_for_delegation
from cnn_helpers.grading.protocol import ExportError
from cnn_helpers.grading.sandbox import Limits, Sandbox, find_sandbox

DEFAULT_CELL_TIMEOUT = 120
DEFAULT_TOTAL_TIMEOUT = 900
#: A submitted notebook larger than this is not read (a real one is well under 5 MB).
MAX_NOTEBOOK_BYTES = 50_000_000
#: An executed notebook larger than this (outputs included) is not read back.
MAX_EXECUTED_BYTES = 200_000_000
_MARK = "Added by the grader"


@dataclass
class Report:
    """The grade of one submission."""

    submission: str
    exercise: str | None
    results: list[Result] = field(default_factory=list)
    instructor_results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    probe_seed: int | None = None
    sandbox: str = ""

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
                "notes": self.notes, "seconds": round(self.seconds, 1),
                "probe_seed": self.probe_seed, "sandbox": self.sandbox}


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


def _read_json(path: Path, report: Report) -> Any | None:
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            report.notes.append(f"the file is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB: "
                                "clear the outputs (Kernel > Restart and Clear Outputs) and resubmit")
            return None
        raw = path.read_bytes()
    except OSError as exc:
        report.notes.append(f"cannot read the file: {exc.strerror}")
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        report.notes.append("this is not a notebook: the file is not text (is it a PDF or a zip?)")
    except RecursionError:
        report.notes.append("this is not a readable notebook: its JSON is nested too deeply")
    except json.JSONDecodeError as exc:
        body = raw.strip()
        what = ("the JSON is truncated (the file ends in the middle)"
                if body.startswith(b"{") and not body.endswith(b"}") else "not valid JSON")
        report.notes.append(f"this is not a readable notebook: {what} (line {exc.lineno}, "
                            f"column {exc.colno}); save it again in Jupyter and resubmit")
    return None


def _read_notebook(path: Path, report: Report) -> Any | None:
    import nbformat

    data = _read_json(path, report)
    if data is None:
        return None
    if not isinstance(data, dict) or "cells" not in data:
        report.notes.append("this is not a notebook: valid JSON, but it has no cells")
        return None
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        first = (str(exc).splitlines() or ["?"])[0]
        report.notes.append(f"this is not a valid notebook: {_cut(first, 200)}")
        return None
    return nb


def _cut(text: Any, limit: int) -> str:
    """``text`` from a submission, cut to ``limit`` characters, for a note."""
    return str(text)[:limit]


def _which_exercise(nb: Any, path: Path, expected: str | None, report: Report) -> str | None:
    meta = nb.metadata.get("cnn_book")
    declared = meta.get("exercise") if isinstance(meta, dict) else None
    if not isinstance(declared, str) or declared not in grading.EXERCISES:
        declared = None
    name = declared or expected or path.stem
    if expected and declared and declared != expected:
        report.notes.append(f"this is the notebook of exercise {declared}, but exercise {expected} "
                            "was expected: submit the right notebook")
        return None
    if name not in grading.EXERCISES:
        report.notes.append(f"cannot tell which exercise this is (no exercise called "
                            f"{_cut(name, 60)!r}); use --exercise NAME")
        return None
    return name


def _tags(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _structure_notes(nb: Any, tasks: list[Task]) -> list[str]:
    """Deleted or reordered task cells, found through their ``task-<id>`` tags."""
    order: list[str] = []
    for cell in nb.cells:
        for tag in _tags(cell):
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


# --------------------------------------------------------------------------- preparing


def _assigned_names(source: str) -> set[str]:
    """Names a cell assigns at its top level (what could override a smoke parameter)."""
    try:
        tree = ast.parse("\n".join(ln for ln in source.splitlines()
                                   if not ln.lstrip().startswith(("%", "!"))))
    except (SyntaxError, ValueError, RecursionError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _grader_cell(source: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["grader"]
    return cell


def _export_cell(name: str, extra: list[Task]) -> str:
    specs = [(t.id, t.answer, t.kind) for t in extra if t.kind != "function"]
    return (f"# {_MARK}: export the answers whose check never ran.\n"
            "from cnn_helpers.grading import exercises as _e, protocol as _p\n"
            f"_tasks = [t for t in _e.exercise({name!r}).tasks if t.kind != 'function']\n"
            f"_tasks += [_e.Task(i, 'instructor', a, lambda v: (True, ''), kind=k) "
            f"for i, a, k in {specs!r}]\n"
            "_p.export_answers(globals(), _tasks, 'answers_end.json', 'answers_end.npz')\n")


def _prepare(nb: Any, name: str, smoke: dict[str, Any], extra: list[Task], run_dir: Path) -> Path:
    """The submission as the grader runs it: capture on, smoke sizes enforced, export at the end."""
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    smoke_source = f"# {_MARK}: the exercise's small sizes.\n" + "".join(
        f"{k} = {v!r}\n" for k, v in smoke.items())
    cells = [_grader_cell(f"# {_MARK}: record each answer when its check runs.\n"
                          "from cnn_helpers.grading import exercises as _e\n"
                          "_e.capture_to('captures')\n")]
    placed = False
    for cell in nb.cells:
        tags = [t for t in _tags(cell) if t not in ("parameters", "injected-parameters")]
        cell.setdefault("metadata", {})["tags"] = tags
        cells.append(cell)
        if cell.cell_type == "code" and smoke and _assigned_names(cell.source) & set(smoke):
            cells.append(_grader_cell(smoke_source))
            placed = True
    if smoke and not placed:
        cells.insert(1, _grader_cell(smoke_source))
    cells.append(_grader_cell(_export_cell(name, extra)))
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = run_dir / "submission.ipynb"
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------- running


def student_env(home: Path) -> dict[str, str]:
    """The environment of the submission's processes: what a student's own machine has,
    nothing of the grader's."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "HOME": str(home), "TMPDIR": str(home / "tmp"), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    for key in ("CNN_HELPERS_DATA", "KERAS_BACKEND", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES"):
        if key in os.environ:
            env[key] = os.environ[key]
    keras_home = _keras_home()
    if keras_home is not None:       # downloaded data sets (read-only inside the sandbox)
        env["KERAS_HOME"] = str(keras_home)
    (home / "tmp").mkdir(exist_ok=True)
    return env


def _keras_home() -> Path | None:
    path = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return path if path.is_dir() else None


def data_paths() -> list[Path]:
    """What the submission may read besides Python and the package: the data sets."""
    paths = [Path(os.environ["CNN_HELPERS_DATA"])] if os.environ.get("CNN_HELPERS_DATA") else []
    keras_home = _keras_home()
    return [p for p in [*paths, *([keras_home] if keras_home else [])] if p.exists()]


def default_hidden(submission: Path) -> list[Path]:
    """Folders a submission must not see: the reference solutions, and the folder it was
    submitted from (other students' work), unless that folder holds the grader itself."""
    import cnn_helpers

    package = Path(cnn_helpers.__file__).resolve().parent
    hidden = [package.parent / "exercises" / "solutions"]
    folder = submission.resolve().parent
    own = (package, Path(sys.prefix).resolve())
    if not any(p == folder or folder in p.parents for p in own):
        hidden.append(folder)
    return [p for p in hidden if p.exists()]


def _run_notebook(box: Sandbox, notebook: Path, *, cell_timeout: int, total_timeout: int,
                  hide: Sequence[Path]) -> str | None:
    """Execute in the sandbox; a note if it was stopped as a whole or could not start."""
    run_dir = notebook.parent
    cmd = [sys.executable, "-m", "cnn_helpers.notebooks", str(notebook),
           str(run_dir / "executed.ipynb"), "--parameters", "{}", "--cell-timeout",
           str(cell_timeout), "--keep-going", "--mode", "graded"]
    done = box.run(cmd, workdir=run_dir, env=student_env(run_dir),
                   limits=Limits(wall_seconds=total_timeout), hide=hide, readable=data_paths())
    if done.stopped:
        return f"the notebook was stopped by {done.stopped}; the tasks checked before then still count"
    if done.returncode != 0 and not (run_dir / "executed.ipynb").exists():
        tail = done.output.strip().splitlines()[-3:]
        return "the notebook could not be executed: " + " | ".join(tail)[:300]
    return None


def _replay_functions(box: Sandbox, nb: Any, name: str, tasks: list[Task], seed: int,
                      work: Path, hide: Sequence[Path],
                      probe_seconds: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Records of the function tasks, rebuilt from the notebook's source in the sandbox."""
    jobs, records = [], {}
    instructor = {t.id for t in tasks} - {t.id for t in grading.exercise(name).tasks}
    for task in tasks:
        statements = replay.replay_source(nb.cells, task.tag)
        if statements is None:         # its cells were deleted: the whole notebook's definitions
            statements = replay.replay_source(nb.cells, None)
        job = {"id": task.id, "answer": task.answer, "forbid": list(task.forbid),
               "statements": statements, "exercise": name, "seed": seed, "seconds": 150,
               "probe_seconds": probe_seconds}
        if task.id in instructor:
            with protocol.use_probe_seed(seed):
                protocol.save_probes(task.probes(), work / f"probes_{task.id}.npz")  # type: ignore[misc]
            job["probes_file"] = str(work / f"probes_{task.id}.npz")
        jobs.append(job)
    if not jobs:
        return {}, {}
    (work / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    box.run([sys.executable, "-m", "cnn_helpers.grading.replay", str(work / "jobs.json"),
             str(work / "out")], workdir=work, env=student_env(work),
            limits=Limits(wall_seconds=150 * len(jobs) + 60), hide=hide)
    arrays: dict[str, np.ndarray] = {}
    failures = _load_json_dict(work / "out" / "failures.json")
    for task in tasks:
        got = _load_record(work / "out", task.id)
        if got is not None:
            records[task.id], more = got
            arrays.update(more)
        elif isinstance(failures.get(task.id), dict):
            records[task.id] = failures[task.id]
        else:
            records[task.id] = {"state": "export-error", "error": "the grader could not rebuild it"}
    return records, arrays


def _sources_upto(nb: Any, task: Task) -> list[str]:
    """The code cells down to the task's last cell (all of them if it has none)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    last = max((i for i, c in enumerate(code) if task.tag in _tags(c)), default=len(code) - 1)
    return [c.source for c in code[:last + 1] if isinstance(c.source, str)]


def _load_json_dict(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < 1_000_000 else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _load_record(folder: Path, task_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The record of one task from ``<id>.json`` + ``<id>.npz``; None if absent or unreadable."""
    json_path = folder / f"{task_id}.json"
    if not json_path.is_file():
        return None
    try:
        records, arrays = protocol.load_exported(json_path, folder / f"{task_id}.npz")
    except ExportError:
        return None
    record = records.get(task_id)
    return (record, arrays) if isinstance(record, dict) else None


def _collect(run_dir: Path, tasks: list[Task], report: Report) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Value and model answers: the capture of each checked task, else the final export."""
    records: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    end = run_dir / "answers_end.json"
    if end.is_file():
        try:
            got, more = protocol.load_exported(end, run_dir / "answers_end.npz")
            records.update({k: v for k, v in got.items() if k in {t.id for t in tasks}})
            arrays.update(more)
        except ExportError as exc:
            report.notes.append(f"the answers at the end of the notebook could not be read: {exc}")
    for task in tasks:
        got_one = _load_record(run_dir / "captures", task.id)
        if got_one is not None:
            records[task.id], more = got_one
            arrays.update(more)
    return records, arrays


# --------------------------------------------------------------------------- verifying


def _verify(records: dict[str, Any], arrays: dict[str, np.ndarray], name: str, seed: int,
            checks: Path | None, tasks: list[Task], work: Path, *,
            task_seconds: float = 60) -> dict[str, Result]:
    """Run the checks in the verifier process; a task whose check never answered gets an error."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "answers.json").write_text(json.dumps(records), encoding="utf-8")
    np.savez(work / "answers.npz", **arrays)
    results: dict[str, Result] = {}
    for _attempt in range(3):                  # a check that kills the verifier is skipped
        spec = {"exercise": name, "checks": str(checks) if checks else None, "seed": seed,
                "done": list(results), "task_seconds": task_seconds}
        (work / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        try:
            subprocess.run([sys.executable, "-m", "cnn_helpers.grading.verifier", str(work)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=task_seconds * len(tasks) + 120)
        except subprocess.TimeoutExpired:
            pass
        results.update(_read_results(work / "results.jsonl"))
        pending = [t for t in tasks if t.id not in results]
        if not pending:
            break
        stuck = pending[0]
        results[stuck.id] = Result(stuck.id, stuck.title, ERROR, 0, stuck.points,
                                   "the check of this answer stopped the checker")
    for task in tasks:
        results.setdefault(task.id, Result(task.id, task.title, ERROR, 0, task.points,
                                           "the check of this answer did not run"))
    return results


def _read_results(path: Path) -> dict[str, Result]:
    results = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            data.pop("hidden", None)
            results[data["task"]] = Result(**data)
    return results


def _executed_cells(executed: Path) -> list[Any]:
    import nbformat

    try:
        if not executed.exists() or executed.stat().st_size > MAX_EXECUTED_BYTES:
            return []
        return list(nbformat.read(str(executed), as_version=4).cells)
    except Exception:  # a notebook the kernel left half-written
        return []


def _cell_errors(cells: list[Any]) -> tuple[dict[str, str], list[str]]:
    """The first error raised in the cells of each task (by task tag), and errors elsewhere."""
    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    code_cells = [c for c in cells if c.cell_type == "code" and "grader" not in _tags(c)]
    for number, cell in enumerate(code_cells, start=1):
        tags = [t for t in _tags(cell) if t.startswith("task-")]
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            message = f"{out.get('ename', '')}: {out.get('evalue', '')}".strip()[:200]
            for tag in tags:
                errors.setdefault(tag, message)
            if not tags:
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
        return Result(task.id, task.title, ERROR, 0, task.points,
                      "not graded: the notebook was stopped before this task's check ran")
    return result


# --------------------------------------------------------------------------- one submission


def _grade_in(work: Path, box: Sandbox, nb: Any, name: str, extra: list[Task], report: Report, *,
              cell_timeout: int, total_timeout: int, probe_seconds: float, checks: Path | None,
              hidden: list[Path]) -> tuple[dict[str, Result], dict[str, str], str | None]:
    """Steps 2 to 5 in the scratch folder ``work``: the verdicts, the errors of the task
    cells, and why the notebook was stopped (or None). Notes go into ``report``."""
    ex = grading.exercise(name)
    for sub in ("run", "replay", "verify"):
        (work / sub).mkdir()
    notebook = _prepare(nb, name, ex.smoke, extra, work / "run")
    stopped = _run_notebook(box, notebook, cell_timeout=cell_timeout,
                            total_timeout=total_timeout, hide=hidden)
    if stopped:
        report.notes.append(stopped)
    elif not (work / "run" / "answers_end.json").exists():
        report.notes.append("the notebook stopped before its end (does a cell exit or kill "
                            "Python?); the tasks checked before then still count")
    cell_errors, elsewhere = _cell_errors(_executed_cells(work / "run" / "executed.ipynb"))
    report.notes += elsewhere
    all_tasks = ex.tasks + extra
    records, arrays = _collect(work / "run", [t for t in all_tasks if t.kind != "function"], report)
    more, more_arrays = _replay_functions(box, nb, name, [t for t in all_tasks if t.kind == "function"],
                                          report.probe_seed or 0, work / "replay", hidden,
                                          probe_seconds)
    records.update(more)
    arrays.update(more_arrays)
    for task in all_tasks:
        records[task.id] = read_for_delegation(task, records.get(task.id, {"state": "missing"}),
                                               _sources_upto(nb, task))
    verdicts = _verify(records, arrays, name, report.probe_seed or 0, checks, all_tasks,
                       work / "verify")
    return verdicts, cell_errors, stopped


def _start(path: Path, expected: str | None, report: Report) -> tuple[Any, str | None]:
    nb = _read_notebook(path, report)
    name = _which_exercise(nb, path, expected, report) if nb is not None else None
    if name is None and expected:
        report.exercise = expected
        report.results = [Result(t.id, t.title, NOT_ATTEMPTED, 0, t.points, "not graded")
                          for t in grading.exercise(expected).tasks]
    return nb, name


def grade(path: Path, *, expected: str | None, instructor: dict[str, list[Task]],
          cell_timeout: int = DEFAULT_CELL_TIMEOUT, total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
          seed: int | None = None, sandbox: Sandbox | None = None, checks: Path | None = None,
          hide: Sequence[Path] = (), probe_seconds: float = protocol.PROBE_SECONDS) -> Report:
    """Grade one submission; never raises for anything wrong with the submission.

    Args:
        seed: the probes' seed (default: drawn at random; it is in the report, and passing
            it again reproduces the grading).
        sandbox: where the submission runs (default: :func:`find_sandbox`).
        checks: the instructor checks' folder (hidden from the submission; its tasks are
            passed, loaded, in ``instructor``).
        hide: more folders the submission must not see.
        probe_seconds: how long one call of a student's function may take.
    """
    t0 = time.perf_counter()
    report = Report(str(path), None, probe_seed=secrets.randbits(31) if seed is None else int(seed))
    nb, name = _start(path, expected, report)
    if name is None:
        report.seconds = time.perf_counter() - t0
        return report
    box = sandbox or find_sandbox()
    report.exercise, report.sandbox = name, box.kind
    ex = grading.exercise(name)
    extra = instructor.get(name, [])
    report.notes += _structure_notes(nb, ex.tasks)
    hidden = [*default_hidden(path), *hide, *([checks] if checks else [])]
    with tempfile.TemporaryDirectory(prefix="cnn-grade-") as tmp:
        verdicts, cell_errors, stopped = _grade_in(
            Path(tmp), box, nb, name, extra, report, cell_timeout=cell_timeout,
            total_timeout=total_timeout, probe_seconds=probe_seconds, checks=checks, hidden=hidden)
    own = {t.id for t in ex.tasks}
    for task in ex.tasks + extra:
        result = _explain(task, verdicts[task.id], cell_errors, stopped)
        (report.results if task.id in own else report.instructor_results).append(result)
    report.seconds = time.perf_counter() - t0
    return report
