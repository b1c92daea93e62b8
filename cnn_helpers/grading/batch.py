"""Grade a whole course: every submission in a folder, in parallel, resumable.

    cnn-grade batch FOLDER --out DIR [--jobs 2] [--exercise 01_convolution] [--checks DIR]
                    [--no-resume] [--cell-timeout 120] [--total-timeout 900]
                    [--allow-unsandboxed]

The folder holds one submission per student, named after the student, either as a file
(``FOLDER/alice.ipynb``) or as a folder (``FOLDER/alice/<anything>.ipynb``, searched to
any depth, hidden folders such as ``.ipynb_checkpoints`` skipped). A student folder must
hold exactly one notebook; none or several gives that student a row with a note and no
grade. Names starting with ``.`` or ``__`` (``__MACOSX``) are ignored.

Each submission is graded by :func:`cnn_helpers.grading.runner.grade` in a worker process
of its own (``python -m cnn_helpers.grading.batch SPEC.json``), ``jobs`` at a time. A
worker that crashes, is killed (out of memory), prints something other than a report, or
runs past the notebook's time limit plus a margin is stopped with everything it started,
and that student gets the row "the grader could not grade this submission: ...": the
batch goes on. The worker grades a private copy of the notebook, in the sandbox, which
does not show the course folder nor the output folder (other students' work).

Output folder:

* ``results/<student>.json``: written (atomically: temporary file, then rename) the moment
  a student is graded, with the submission's SHA-256 and a fingerprint of the grading
  settings (exercise, instructor checks, time limits). With ``resume`` (the default), a
  student whose result has the same hash and settings is not graded again; a grader
  failure is always retried;
* ``gradebook.csv``: one row per student, one column per task id (instructor checks
  included), then ``total``, ``max`` and ``notes`` (how many notes the grader made);
* ``feedback/<student>.md``: the student's feedback page
  (:func:`cnn_helpers.grading.report.feedback_markdown`);
* ``report.json``: every report (``Report.as_dict()`` plus ``student`` and ``sha256``).

The last three are rewritten at the end of every run from ``results/`` (for the students
now in the folder).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from cnn_helpers import grading
from cnn_helpers.grading import ERROR, NOT_ATTEMPTED, Result, Task
from cnn_helpers.grading.report import (
    SavedReport,
    feedback_markdown,
    printable,
    report_from_dict,
)
from cnn_helpers.grading.runner import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    load_instructor_checks,
)

__all__ = ["COULD_NOT_GRADE", "BatchSummary", "Outcome", "Row", "Settings", "Submission",
           "check_sandbox", "discover", "grade_folder", "gradebook_csv", "hideable",
           "instructor_problems", "load_checks", "placeholder_report", "row_line",
           "run_worker", "runner_options", "sha256_of", "write_atomic", "write_outputs"]

#: Seconds a worker may run beyond the notebook's total time limit (start-up, checks).
WORKER_MARGIN = 120
#: Set in each worker's environment (inherited by the kernel it starts), so that every
#: process of a job can be found and stopped when the job ends.
JOB_ENV = "CNN_GRADE_JOB"
COULD_NOT_GRADE = "the grader could not grade this submission"
#: The largest worker report read back (a real one is a few kilobytes).
MAX_REPORT_BYTES = 20 * 2 ** 20
#: Larger submissions are not copied before grading (the grader refuses them anyway).
STAGE_MAX_BYTES = 200 * 2 ** 20

GradeFn = Callable[..., Any]


# --------------------------------------------------------------------------- small helpers


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader sees the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def instructor_problems(instructor: dict[str, list[Task]]) -> list[str]:
    """What is wrong with loaded instructor checks: unknown exercises, reused task ids."""
    problems = []
    for name, tasks in instructor.items():
        try:
            own = {t.id for t in grading.exercise(name).tasks}
        except KeyError:
            problems.append(f"instructor checks name an unknown exercise {name!r}")
            continue
        clash = sorted(own & {t.id for t in tasks})
        if clash:
            problems.append(f"instructor checks for {name} reuse task id(s) {', '.join(clash)}; "
                            "give them ids of their own (e.g. 'H1')")
    return problems


# --------------------------------------------------------------------------- the roster


@dataclass(frozen=True)
class Submission:
    """One student's submission: the single notebook, or why there is none."""

    student: str
    notebook: Path | None
    problem: str | None = None


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith((".", "__")) for part in path.relative_to(root).parts)


def _student_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The notebooks in a student's folder (any depth) and the names of its other files."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p, folder))
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    others = [str(p.relative_to(folder)) for p in files if p not in notebooks]
    return notebooks, others


def _submission(student: str, notebooks: list[Path], others: list[str], root: Path) -> Submission:
    if len(notebooks) == 1:
        return Submission(student, notebooks[0])
    if notebooks:
        names = ", ".join(str(p.relative_to(root)) for p in notebooks[:6])
        return Submission(student, None, f"{len(notebooks)} notebooks were submitted ({names}); "
                                         "submit exactly one notebook: the exercise's")
    held = f"it holds only: {', '.join(others[:6])}" if others else "the folder is empty"
    return Submission(student, None, f"no notebook (.ipynb file) was submitted ({held})")


def discover(folder: Path, exclude: Sequence[Path] = ()) -> list[Submission]:
    """The students in ``folder`` (``<student>.ipynb`` or ``<student>/.../*.ipynb``), by
    name; ``exclude``: folders that are not students (the output folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    skip = {Path(p).resolve() for p in exclude}
    notebooks: dict[str, list[Path]] = {}
    others: dict[str, list[str]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")) or entry.resolve() in skip:
            continue
        if entry.is_dir():
            found, rest = _student_files(entry)
            notebooks.setdefault(entry.name, []).extend(found)
            others.setdefault(entry.name, []).extend(rest)
        elif entry.is_file() and entry.suffix.lower() == ".ipynb":
            notebooks.setdefault(entry.stem, []).append(entry)
    return [_submission(s, sorted(notebooks[s]), others.get(s, []), folder)
            for s in sorted(notebooks, key=lambda s: (s.casefold(), s))]


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """How every submission of a batch is graded (what the resume fingerprint covers)."""

    exercise: str | None = None
    checks: Path | None = None
    cell_timeout: int = DEFAULT_CELL_TIMEOUT
    total_timeout: int = DEFAULT_TOTAL_TIMEOUT
    grade_kwargs: dict[str, Any] = field(default_factory=dict)
    allow_unsandboxed: bool = False
    hide: tuple[str, ...] = ()           # folders the submissions must not see

    def fingerprint(self) -> str:
        """A short hash of the settings and of the instructor checks' source files."""
        checks = ({p.name: sha256_of(p) for p in sorted(self.checks.glob("*.py"))}
                  if self.checks else {})
        blob = json.dumps({"exercise": self.exercise, "checks": checks,
                           "cell_timeout": self.cell_timeout, "total_timeout": self.total_timeout,
                           "kwargs": self.grade_kwargs}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def spec(self, notebook: Path, out: Path) -> dict[str, Any]:
        """What a worker process is told (JSON)."""
        return {"path": str(notebook.resolve()), "out": str(out), "exercise": self.exercise,
                "checks": str(self.checks.resolve()) if self.checks else None,
                "cell_timeout": self.cell_timeout, "total_timeout": self.total_timeout,
                "kwargs": self.grade_kwargs, "allow_unsandboxed": self.allow_unsandboxed,
                "hide": list(self.hide)}


def runner_options(checks: Path | None, hide: Sequence[Path], allow_unsandboxed: bool,
                   sandbox: Any = None) -> dict[str, Any]:
    """The keyword arguments for ``runner.grade``: the instructor checks' folder (its
    verifier loads them from there; hidden from the submission), more folders to hide, and
    the sandbox: ``sandbox`` if given (one found before), else
    :func:`~cnn_helpers.grading.sandbox.find_sandbox`, which raises ``SandboxUnavailable``
    when bubblewrap cannot work here and ``allow_unsandboxed`` is false."""
    from cnn_helpers.grading.sandbox import find_sandbox

    return {"checks": checks, "hide": list(hide),
            "sandbox": sandbox if sandbox is not None else find_sandbox(allow_unsandboxed=allow_unsandboxed)}


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def hideable(folders: Sequence[Path], avoid: Sequence[Path] = ()) -> tuple[str, ...]:
    """Which of ``folders`` to hide from the submissions (besides what the runner hides):
    not one that holds the grader (``cnn_helpers``, the Python environment), which the
    kernel needs, nor one inside another or overlapping ``avoid`` (the instructor checks,
    the reference solutions: the runner hides those itself, and the sandbox cannot cover
    a folder inside one it already covers)."""
    package = Path(grading.__file__).resolve().parents[1]
    own = (package, Path(sys.prefix).resolve())
    avoid = [Path(p).resolve() for p in avoid] + [package.parent / "exercises" / "solutions"]
    paths = list(dict.fromkeys(Path(f).resolve() for f in folders))   # in order, once each
    keep = [p for p in paths
            if not any(o.is_relative_to(p) for o in own) and not any(_overlap(p, a) for a in avoid)
            and not any(p != q and p.is_relative_to(q) for q in paths)]
    return tuple(str(p) for p in keep)


def check_sandbox(allow_unsandboxed: bool) -> None:
    """``ValueError`` with what to do when no sandbox can be built here."""
    try:
        runner_options(None, (), allow_unsandboxed)
    except RuntimeError as exc:          # SandboxUnavailable
        raise ValueError(f"{exc} To grade without a sandbox anyway (only trusted "
                         "submissions!), add --allow-unsandboxed.") from None


def load_checks(settings: Settings) -> dict[str, list[Task]]:
    """Check the settings and load the instructor checks; ``ValueError`` in plain words."""
    if settings.exercise:
        try:
            grading.exercise(settings.exercise)
        except KeyError as exc:
            raise ValueError(str(exc).strip("'\"")) from None
    try:
        json.dumps(settings.grade_kwargs)
    except (TypeError, ValueError):
        raise ValueError("extra grading options must be plain data (numbers, strings, lists) "
                         "to reach the worker processes") from None
    if settings.checks is None:
        return {}
    try:
        instructor = load_instructor_checks(Path(settings.checks))
    except SystemExit as exc:
        raise ValueError(str(exc).removeprefix("cnn-grade: ")) from None
    problems = instructor_problems(instructor)
    if problems:
        raise ValueError("; ".join(problems))
    return instructor


# --------------------------------------------------------------------------- one worker


@dataclass
class Outcome:
    """What grading one submission gave: a report (``Report.as_dict()``) or a failure."""

    report: dict[str, Any] | None
    failure: str = ""
    seconds: float = 0.0
    maxrss_mb: dict[str, float] = field(default_factory=dict)


_RUNNING: dict[int, tuple[subprocess.Popen[bytes], str]] = {}
_RUNNING_LOCK = threading.Lock()


def _marked_processes(marker: str) -> list[int]:
    """Processes (this user's) whose environment carries ``JOB_ENV=marker``."""
    needle = f"{JOB_ENV}={marker}".encode()
    pids = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _stop_job(proc: subprocess.Popen[bytes], marker: str) -> None:
    """Stop a worker, its process group, and every process it started (found by marker),
    including the notebook's kernel, which runs in a session of its own."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in _marked_processes(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def stop_all_workers() -> None:
    """Stop every worker still running (on Ctrl-C)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING.values())
    for proc, marker in running:
        _stop_job(proc, marker)


def _worker_env(marker: str) -> dict[str, str]:
    env = dict(os.environ)
    env[JOB_ENV] = marker
    package_root = str(Path(grading.__file__).resolve().parents[2])  # this very cnn_helpers
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _log_tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4000))
            lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            return " | ".join(lines[-2:])[-240:]
    return ""


def _read_outcome(out: Path, log: Path, code: int | None, limit: float) -> Outcome:
    if code is None:
        return Outcome(None, f"it ran longer than {limit:g} s (the time limit for the notebook "
                             "plus a margin for the grader) and was stopped")
    if out.is_file():
        try:
            if out.stat().st_size > MAX_REPORT_BYTES:
                raise ValueError("the report is far too large")
            payload = json.loads(out.read_text(encoding="utf-8"))
            report_from_dict(payload["report"])
            return Outcome(payload["report"], maxrss_mb=dict(payload.get("maxrss_mb", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return Outcome(None, f"the grading worker's report could not be read ({exc})")
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        why = f"the grading worker was killed by signal {name}"
        why += " (out of memory?)" if code == -signal.SIGKILL else ""
    else:
        why = f"the grading worker stopped (exit status {code}) without a report"
    tail = _log_tail(log)
    return Outcome(None, why + (f"; its last output: {tail}" if tail else ""))


def _wait(cmd: list[str], cwd: Path, log: Path, timeout: float) -> int | None:
    """Run one worker to the end (or the time limit); its exit status, None if stopped."""
    marker = uuid.uuid4().hex
    with log.open("wb") as log_fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_fh,
                                stderr=subprocess.STDOUT, env=_worker_env(marker),
                                start_new_session=True)
        with _RUNNING_LOCK:
            _RUNNING[proc.pid] = (proc, marker)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_job(proc, marker)
            with _RUNNING_LOCK:
                _RUNNING.pop(proc.pid, None)
    return code


def _stage(notebook: Path, folder: Path) -> Path:
    """A private copy of the notebook (same name) for the worker: a file the student
    replaces meanwhile does not change it, and the folder the grader hides from the
    submission is this one, not the student's folder inside the course folder."""
    folder.mkdir()
    copy = folder / notebook.name
    try:
        if notebook.stat().st_size <= STAGE_MAX_BYTES:
            shutil.copyfile(notebook, copy)
            return copy
    except OSError:
        pass
    return notebook        # unreadable or huge: the grader itself says what is wrong


def run_worker(notebook: Path, settings: Settings, *, margin: float = WORKER_MARGIN,
               command: Sequence[str] | None = None) -> Outcome:
    """Grade one notebook in a fresh worker process; never raises for a worker's failure.

    ``command``: the worker to run instead of ``python -m cnn_helpers.grading.batch``
    (the tests use stand-ins that crash or hang); the spec file's path is appended.
    """
    t0 = time.perf_counter()
    limit = settings.total_timeout + margin
    with tempfile.TemporaryDirectory(prefix="cnn-grade-job-") as tmp:
        work = Path(tmp)
        out, log = work / "report.json", work / "worker.log"
        staged = _stage(notebook, work / "submission")
        (work / "spec.json").write_text(json.dumps(settings.spec(staged, out)), encoding="utf-8")
        cmd = [*(command or [sys.executable, "-m", "cnn_helpers.grading.batch"]),
               str(work / "spec.json")]
        try:
            code = _wait(cmd, work, log, limit)
        except OSError as exc:
            outcome = Outcome(None, f"the grading worker could not start ({exc})")
        else:
            outcome = _read_outcome(out, log, code, limit)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _grade_in_process(grade_fn: GradeFn, notebook: Path, settings: Settings,
                      instructor: dict[str, list[Task]]) -> Outcome:
    """Grade with a function in this process (``grade_fn``: tests, embedding)."""
    t0 = time.perf_counter()
    try:
        report = grade_fn(notebook, expected=settings.exercise, instructor=instructor,
                          cell_timeout=settings.cell_timeout,
                          total_timeout=settings.total_timeout, **settings.grade_kwargs)
        data = report.as_dict()
        report_from_dict(data)
        outcome = Outcome(data)
    except Exception as exc:
        outcome = Outcome(None, f"{type(exc).__name__}: {exc}"[:300])
    outcome.seconds = time.perf_counter() - t0
    return outcome


def worker_main(argv: Sequence[str]) -> int:
    """The worker process: grade the notebook a spec file names, write its report."""
    import resource

    from cnn_helpers.grading import runner

    if len(argv) != 1:
        print("usage: python -m cnn_helpers.grading.batch SPEC.json (used by cnn-grade batch)",
              file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    checks = Path(spec["checks"]) if spec["checks"] else None
    instructor = runner.load_instructor_checks(checks) if checks else {}
    options = runner_options(checks, [Path(p) for p in spec.get("hide", [])],
                             bool(spec.get("allow_unsandboxed")))
    report = runner.grade(Path(spec["path"]), expected=spec["exercise"], instructor=instructor,
                          cell_timeout=spec["cell_timeout"], total_timeout=spec["total_timeout"],
                          **options, **spec["kwargs"])
    kib = {"worker": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
    payload = {"report": report.as_dict(),
               "maxrss_mb": {k: round(v / 1024, 1) for k, v in kib.items()}}
    write_atomic(Path(spec["out"]), json.dumps(payload, indent=1))
    return 0


# --------------------------------------------------------------------------- records


@dataclass
class Row:
    """One student's line of the batch: ``state`` is ``graded``, ``unchanged`` (resumed),
    ``no-notebook`` (none or several) or ``failed`` (the grader could not grade it)."""

    student: str
    state: str
    record: dict[str, Any]

    @property
    def report(self) -> SavedReport:
        return report_from_dict(self.record["report"])


def placeholder_report(submission: str, exercise: str | None, instructor: dict[str, list[Task]],
                       status: str, note: str) -> dict[str, Any]:
    """A report with every task ungraded (0 points, max points kept) and one note."""
    def ungraded(tasks: list[Task]) -> list[Result]:
        return [Result(t.id, t.title, status, 0, t.points, "not graded") for t in tasks]

    own = grading.exercise(exercise).tasks if exercise in grading.EXERCISES else []
    extra = instructor.get(exercise, []) if exercise else []
    return SavedReport(submission, exercise, ungraded(own), ungraded(extra), [note]).as_dict()


def _record(sub: Submission, root: Path, sha: str | None, fingerprint: str, outcome: Outcome,
            settings: Settings, instructor: dict[str, list[Task]]) -> dict[str, Any]:
    label = str(sub.notebook.relative_to(root)) if sub.notebook else sub.student
    report = dict(outcome.report) if outcome.report is not None else None
    if report is not None:
        report["submission"] = label          # not the private copy's path
    else:
        report = placeholder_report(label, settings.exercise, instructor, ERROR,
                                    f"{COULD_NOT_GRADE}: {outcome.failure}")
    return {"student": sub.student, "submission": label, "sha256": sha,
            "settings": fingerprint, "grader_failure": outcome.report is None,
            "no_single_notebook": False,
            "seconds": round(outcome.seconds, 1), "maxrss_mb": outcome.maxrss_mb,
            "report": report}


def result_path(out: Path, student: str) -> Path:
    return out / "results" / f"{student}.json"


def read_result(out: Path, student: str) -> dict[str, Any] | None:
    """A student's saved result, or None if there is none or it is unreadable."""
    try:
        record = json.loads(result_path(out, student).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("student") != student:
            return None
        report_from_dict(record["report"])
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _state(record: dict[str, Any]) -> str:
    if record.get("no_single_notebook"):
        return "no-notebook"
    return "failed" if record.get("grader_failure") else "graded"


# --------------------------------------------------------------------------- the batch


@dataclass
class _Batch:
    root: Path
    out: Path
    settings: Settings
    fingerprint: str
    instructor: dict[str, list[Task]]
    jobs: int
    margin: float
    grade_fn: GradeFn | None
    worker_command: Sequence[str] | None


def _settle(ctx: _Batch, sub: Submission, resume: bool) -> tuple[Row | None, str | None]:
    """The row of a student who needs no grading (no single notebook, or unchanged since
    the last run), else ``None``; and the notebook's SHA-256."""
    if sub.notebook is None:
        report = placeholder_report(f"{sub.student}/", ctx.settings.exercise, ctx.instructor,
                                    NOT_ATTEMPTED, sub.problem or "no notebook")
        record = {"student": sub.student, "submission": f"{sub.student}/", "sha256": None,
                  "settings": ctx.fingerprint, "grader_failure": False,
                  "no_single_notebook": True, "seconds": 0.0, "maxrss_mb": {}, "report": report}
        write_atomic(result_path(ctx.out, sub.student), json.dumps(record, indent=1))
        return Row(sub.student, "no-notebook", record), None
    try:
        sha: str | None = sha256_of(sub.notebook)
    except OSError:
        sha = None          # unreadable: the grader says so in its report
    old = read_result(ctx.out, sub.student) if resume and sha else None
    if (old is not None and old.get("sha256") == sha and old.get("settings") == ctx.fingerprint
            and _state(old) == "graded"):
        return Row(sub.student, "unchanged", old), sha
    return None, sha


def _grade_one(ctx: _Batch, sub: Submission) -> Outcome:
    assert sub.notebook is not None
    if ctx.grade_fn is not None:
        return _grade_in_process(ctx.grade_fn, sub.notebook, ctx.settings, ctx.instructor)
    return run_worker(sub.notebook, ctx.settings, margin=ctx.margin, command=ctx.worker_command)


def _grade_pending(ctx: _Batch, pending: list[tuple[Submission, str | None]]) -> Iterator[Row]:
    """Grade ``jobs`` at a time; save each result the moment it is ready, then yield it."""
    if not pending:
        return
    pool = ThreadPoolExecutor(max_workers=ctx.jobs, thread_name_prefix="cnn-grade")
    try:
        futures = {pool.submit(_grade_one, ctx, sub): (sub, sha) for sub, sha in pending}
        for future in as_completed(futures):
            sub, sha = futures[future]
            record = _record(sub, ctx.root, sha, ctx.fingerprint, future.result(), ctx.settings,
                             ctx.instructor)
            write_atomic(result_path(ctx.out, sub.student), json.dumps(record, indent=1))
            yield Row(sub.student, _state(record), record)
    except BaseException:           # Ctrl-C (or the caller stopped): stop what still runs
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all_workers()
        raise
    finally:
        pool.shutdown(wait=True)


@dataclass
class BatchSummary:
    """What a batch did: one :class:`Row` per student (in roster order)."""

    out: Path
    rows: list[Row]
    seconds: float

    def count(self, state: str) -> int:
        return sum(row.state == state for row in self.rows)

    def text(self) -> str:
        """The summary ``cnn-grade batch`` prints at the end."""
        parts = [f"{self.count('graded')} graded",
                 f"{self.count('unchanged')} unchanged since the last run (not graded again)",
                 f"{self.count('no-notebook')} without a single notebook",
                 f"{self.count('failed')} the grader could not grade"]
        lines = [f"{len(self.rows)} students in {self.seconds:.0f} s: {', '.join(parts)}"]
        reports = [row.report for row in self.rows]
        if reports:
            mean = sum(r.score for r in reports) / len(reports)
            lines.append(f"mean score: {mean:.2f} / {max(r.max_score for r in reports):g}")
        lines.append(f"written: {self.out / 'gradebook.csv'}, {self.out / 'feedback'}/, "
                     f"{self.out / 'report.json'} (results per student in {self.out / 'results'}/)")
        return "\n".join(lines)


def row_line(row: Row, index: int, total: int) -> str:
    """One line per finished student, for the terminal."""
    report = row.report
    head = f"[{index}/{total}] {printable(row.student, 60)}: {report.score:g}/{report.max_score:g}"
    if row.state == "graded":
        notes = f", {len(report.notes)} note(s)" if report.notes else ""
        return f"{head}  graded in {row.record.get('seconds', 0):.0f} s{notes}"
    if row.state == "unchanged":
        return f"{head}  unchanged since the last run (kept)"
    return f"{head}  {printable(report.notes[0] if report.notes else row.state, 300)}"


def grade_folder(folder: str | Path, out: str | Path, *, jobs: int = 1, exercise: str | None = None,
                 checks: str | Path | None = None, resume: bool = True,
                 cell_timeout: int = DEFAULT_CELL_TIMEOUT,
                 total_timeout: int = DEFAULT_TOTAL_TIMEOUT, margin: float = WORKER_MARGIN,
                 allow_unsandboxed: bool = False, grade_fn: GradeFn | None = None,
                 on_result: Callable[[Row, int, int], None] | None = None,
                 worker_command: Sequence[str] | None = None, **grade_kwargs: Any) -> BatchSummary:
    """Grade every submission in ``folder`` into ``out`` (see the module's docstring).

    Args:
        checks: a folder of instructor check modules (``TASKS = {...}``), loaded here to be
            validated and again in each worker.
        allow_unsandboxed: grade even where bubblewrap cannot build a sandbox (trusted
            submissions only). The submissions never see the submissions folder or ``out``.
        grade_fn: grade in this process with this function (same signature as
            :func:`cnn_helpers.grading.runner.grade`, called from ``jobs`` threads) instead
            of in worker processes: for tests.
        on_result: called with each student's :class:`Row`, its position and the number of
            students, as soon as the row is final.
        worker_command: the worker to run instead of ``python -m cnn_helpers.grading.batch``.
        grade_kwargs: passed on to ``runner.grade`` (plain data: they travel as JSON).

    Raises:
        ValueError: for an unknown exercise, unusable instructor checks, a missing folder,
            or no sandbox (without ``allow_unsandboxed``).
    """
    t0 = time.perf_counter()
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    folder, out = Path(folder), Path(out)
    settings = Settings(exercise, Path(checks) if checks else None, cell_timeout, total_timeout,
                        dict(grade_kwargs), allow_unsandboxed,
                        hideable([folder, out], avoid=[Path(checks)] if checks else []))
    instructor = load_checks(settings)
    if grade_fn is None and worker_command is None:
        check_sandbox(allow_unsandboxed)
    submissions = discover(folder, exclude=[out])
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Batch(folder, out, settings, settings.fingerprint(), instructor, jobs,
                 margin, grade_fn, worker_command)
    rows: list[Row] = []

    def finished(row: Row) -> None:
        rows.append(row)
        if on_result is not None:
            on_result(row, len(rows), len(submissions))

    pending = []
    for sub in submissions:
        row, sha = _settle(ctx, sub, resume)
        if row is not None:
            finished(row)
        else:
            pending.append((sub, sha))
    for row in _grade_pending(ctx, pending):
        finished(row)
    order = {sub.student: i for i, sub in enumerate(submissions)}
    rows.sort(key=lambda r: order[r.student])
    write_outputs(ctx.out, [sub.student for sub in submissions])
    return BatchSummary(ctx.out, rows, time.perf_counter() - t0)


# --------------------------------------------------------------------------- outputs


def _csv_text(value: Any) -> str:
    """A printable cell that a spreadsheet will not run as a formula."""
    text = printable(value, 200)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def gradebook_csv(records: list[dict[str, Any]]) -> str:
    """The gradebook: student, one column per task id (instructor tasks after the
    exercise's), total, max, notes (how many)."""
    reports = [(rec["student"], report_from_dict(rec["report"])) for rec in records]
    columns: list[str] = []
    for group in ("results", "instructor_results"):
        for _, report in reports:
            for r in getattr(report, group):
                if r.task not in columns:
                    columns.append(r.task)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *map(_csv_text, columns), "total", "max", "notes"])
    for student, report in reports:
        points = {r.task: r.points for r in report.results + report.instructor_results}
        writer.writerow([_csv_text(student),
                         *(f"{points[c]:g}" if c in points else "" for c in columns),
                         f"{report.score:g}", f"{report.max_score:g}", len(report.notes)])
    return buffer.getvalue()


def write_outputs(out: Path, students: list[str]) -> None:
    """Rewrite ``gradebook.csv``, ``feedback/`` and ``report.json`` from ``results/``."""
    records = [rec for rec in (read_result(out, s) for s in students) if rec is not None]
    write_atomic(out / "gradebook.csv", gradebook_csv(records))
    for rec in records:
        write_atomic(out / "feedback" / f"{rec['student']}.md",
                     feedback_markdown(report_from_dict(rec["report"])))
    everything = [{"student": rec["student"], "sha256": rec["sha256"], **rec["report"]}
                  for rec in records]
    write_atomic(out / "report.json", json.dumps(everything, indent=1))


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
