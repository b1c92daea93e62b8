"""The checks, run on a submission's exported answers in a process of their own, with time limits.

The answers are data (:mod:`cnn_helpers.grading.protocol`), but checking them still does work
on what the submission chose: rebuilding a Keras model from its config (a forged config of
600 layers takes minutes), running it, comparing large arrays. So the grader runs the checks
in this child process: each task's check has :data:`TASK_SECONDS`; a check that runs over is
stopped and its task alone gets an error; the grader kills the whole process if it stops
answering. Nothing of the student's code runs here.

    python -m cnn_helpers.grading.verifier FOLDER

``FOLDER/spec.json`` names the exercise, the instructor checks' folder, the probes' seed and
the tasks already done;
``FOLDER/answers.json`` + ``answers.npz`` hold the records. Each verdict is appended to
``FOLDER/results.jsonl`` as soon as it is known.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

#: Seconds the check of one task may take (rebuilding and running a model included).
TASK_SECONDS = 60


class _CheckTimeout(BaseException):  # not caught by verify()
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _CheckTimeout


def _tasks(spec: dict[str, Any]) -> list[tuple[Any, bool]]:
    """The exercise's tasks, then the instructor's (flagged hidden)."""
    from cnn_helpers.grading.exercises import exercise

    tasks = [(t, False) for t in exercise(spec["exercise"]).tasks]
    if spec.get("checks"):
        from cnn_helpers.grading.runner import load_instructor_checks

        tasks += [(t, True) for t in load_instructor_checks(Path(spec["checks"])).get(spec["exercise"], [])]
    return tasks


def main(argv: list[str] | None = None) -> int:
    folder = Path((sys.argv[1:] if argv is None else argv)[0])
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    from cnn_helpers.grading.exercises import ERROR, Result, verify
    from cnn_helpers.grading.protocol import ExportError, load_exported, use_probe_seed

    try:
        records, arrays = load_exported(folder / "answers.json", folder / "answers.npz")
    except ExportError as exc:
        records, arrays = {}, {}
        (folder / "load_error.txt").write_text(str(exc), encoding="utf-8")
    seconds = float(spec.get("task_seconds", TASK_SECONDS))
    signal.signal(signal.SIGALRM, _alarm)
    with open(folder / "results.jsonl", "a", encoding="utf-8") as out, \
            use_probe_seed(int(spec.get("seed", 0))):
        for task, hidden in _tasks(spec):
            if task.id in spec.get("done", []):
                continue
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                result = verify(task, records.get(task.id, {"state": "missing"}), arrays, hidden=hidden)
            except _CheckTimeout:
                result = Result(task.id, task.title, ERROR, 0, task.points,
                                f"checking this answer took longer than {seconds:.0f} s")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            out.write(json.dumps({"hidden": hidden, **asdict(result)}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
