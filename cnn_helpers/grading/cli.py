"""Grade submitted exercise notebooks: the ``cnn-grade`` command.

    cnn-grade SUBMISSION.ipynb [MORE.ipynb ...] [--json report.json]
              [--exercise 01_convolution] [--checks DIR]
              [--cell-timeout 120] [--total-timeout 900]
    cnn-grade batch FOLDER --out DIR [--jobs N] [--exercise NAME] [--checks DIR]
              [--no-resume] [--cell-timeout 120] [--total-timeout 900]
    cnn-grade gradescope --exercise NAME [--checks DIR] --out autograder.zip

(also ``python -m cnn_helpers.grade``). The first form grades the notebooks given, one
after the other, and prints a score table for each: see
:mod:`cnn_helpers.grading.runner` for what happens to each submission. ``batch`` grades
a whole course folder in parallel, resumably, into a gradebook and feedback pages
(:mod:`cnn_helpers.grading.batch`); ``gradescope`` builds a Gradescope autograder
(:mod:`cnn_helpers.grading.gradescope`). A notebook file called ``batch`` or
``gradescope`` is graded as ``./batch``.

Exit status: 0 only when every task of every submission passes (``batch``: when every
submission could be graded); 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from cnn_helpers import grading
from cnn_helpers.grading.report import format_report
from cnn_helpers.grading.runner import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    grade,
    load_instructor_checks,
)

__all__ = ["batch_main", "format_report", "main"]


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


def _missing_book_extra() -> str | None:
    """The message to print when papermill or nbformat is missing, else ``None``."""
    try:
        import nbformat  # noqa: F401
        import papermill  # noqa: F401
    except ImportError as exc:
        return f"cnn-grade needs {exc.name}: pip install 'cnn-helpers[book]'"
    return None


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercise", help="the exercise every submission must be (e.g. 01_convolution)")
    parser.add_argument("--checks", type=Path, help="folder of instructor check modules")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--total-timeout", type=int, default=DEFAULT_TOTAL_TIMEOUT,
                        help=f"seconds per notebook (default {DEFAULT_TOTAL_TIMEOUT})")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="grade even where bubblewrap cannot build a sandbox (the "
                             "submitted code then runs as you: trusted submissions only)")


def grade_main(argv: Sequence[str]) -> int:
    """``cnn-grade A.ipynb B.ipynb ...``: grade the notebooks given, one after the other."""
    from cnn_helpers.grading.batch import instructor_problems, runner_options

    parser = argparse.ArgumentParser(prog="cnn-grade", description=__doc__.split("\n\n")[0],
                                     epilog="Also: cnn-grade batch --help, cnn-grade gradescope --help",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path, help="notebooks to grade")
    parser.add_argument("--json", type=Path, help="write the reports as JSON to this file")
    parser.add_argument("--seed", type=int, help="the probes' seed (default: a fresh one per "
                                                 "notebook; each report says which): to regrade "
                                                 "exactly as before")
    _add_limits(parser)
    args = parser.parse_args(argv)
    missing = _missing_book_extra()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    if args.exercise:
        try:
            grading.exercise(args.exercise)
        except KeyError as exc:
            parser.error(str(exc).strip("'\""))
    with _quiet_stderr():
        import keras  # noqa: F401  (checks of model tasks need it; import it quietly once)
    instructor = load_instructor_checks(args.checks) if args.checks else {}
    for problem in instructor_problems(instructor):
        parser.error(problem)
    try:
        options = runner_options(args.checks, (), args.allow_unsandboxed)
    except RuntimeError as exc:     # SandboxUnavailable
        parser.error(f"{exc} To grade without a sandbox anyway (trusted submissions only), "
                     "add --allow-unsandboxed.")

    reports = []
    for path in args.submissions:
        report = grade(path, expected=args.exercise, instructor=instructor, seed=args.seed,
                       cell_timeout=args.cell_timeout, total_timeout=args.total_timeout, **options)
        print(format_report(report), flush=True)
        reports.append(report)
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2), encoding="utf-8")
    return 0 if all(r.all_passed for r in reports) else 1


def batch_main(argv: Sequence[str]) -> int:
    """``cnn-grade batch FOLDER --out DIR``: grade a course folder (see :mod:`.batch`)."""
    from cnn_helpers.grading import batch

    parser = argparse.ArgumentParser(prog="cnn-grade batch", description=batch.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="one <student>.ipynb or <student>/ per student")
    parser.add_argument("--out", type=Path, required=True, help="folder for results and gradebook")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="grade every submission again, even unchanged ones")
    _add_limits(parser)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    missing = _missing_book_extra()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    try:
        summary = batch.grade_folder(
            args.folder, args.out, jobs=args.jobs, exercise=args.exercise, checks=args.checks,
            resume=args.resume, cell_timeout=args.cell_timeout, total_timeout=args.total_timeout,
            allow_unsandboxed=args.allow_unsandboxed,
            on_result=lambda row, i, n: print(batch.row_line(row, i, n), flush=True))
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        print(f"\nstopped: the results so far are in {args.out / 'results'}; run the same "
              "command again to grade the rest", file=sys.stderr)
        return 130
    print(summary.text())
    return 1 if summary.count("failed") else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "batch":
        return batch_main(args[1:])
    if args and args[0] == "gradescope":
        from cnn_helpers.grading.gradescope import build_main

        return build_main(args[1:])
    return grade_main(args)


if __name__ == "__main__":
    sys.exit(main())
