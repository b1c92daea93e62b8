"""A Gradescope autograder for one exercise: ``cnn-grade gradescope``.

    cnn-grade gradescope --exercise 01_convolution [--checks DIR] --out autograder.zip
                         [--cell-timeout 120] [--total-timeout 900]

Upload the zip as the assignment's autograder ("Zip file upload"). Gradescope unpacks it
into ``/autograder/source``, runs ``setup.sh`` once, and then ``run_autograder`` for each
submission. The zip holds:

* ``setup.sh``: installs Python, ``python3-venv`` and bubblewrap with apt-get, makes
  ``/autograder/venv`` and pip-installs the bundled package with its ``book`` extra
  (papermill, nbformat, the kernel), then fetches the data sets the exercise uses;
* ``run_autograder``: grades the one notebook in ``/autograder/submission`` with
  ``--exercise`` (this module's ``run``) and writes ``/autograder/results/results.json``;
* ``config.json``: the exercise and the time limits;
* ``checks/``: the instructor checks, if any (reported as tests that students see only
  once the grades are published, without their messages);
* ``cnn_helpers_src/``: the source of this package, with its ``pyproject.toml``.

``results.json`` follows Gradescope's format: the total ``score``, an ``output`` summary,
and one test per task (``"Task 1.1: title"``, its score, maximum and message). A submission
with no notebook, several notebooks or a file that is not a notebook gets 0 and an
``output`` that says what to upload.

Two environment variables make ``run_autograder`` testable outside Gradescope:
``CNN_AUTOGRADER_ROOT`` (instead of ``/autograder``) and ``CNN_AUTOGRADER_PYTHON`` (a
Python that already has ``cnn_helpers`` installed, instead of ``$ROOT/venv/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Sequence

import cnn_helpers
from cnn_helpers.grading.batch import (
    COULD_NOT_GRADE,
    Settings,
    check_sandbox,
    hideable,
    load_checks,
    placeholder_report,
    run_worker,
    write_atomic,
)
from cnn_helpers.grading import ERROR, NOT_ATTEMPTED, PASSED, Result
from cnn_helpers.grading.report import SavedReport, printable, report_from_dict
from cnn_helpers.grading.runner import DEFAULT_CELL_TIMEOUT, DEFAULT_TOTAL_TIMEOUT

__all__ = ["ROOT_ENV", "PYTHON_ENV", "build_autograder", "find_notebook", "gradescope_results",
           "run"]

ROOT_ENV = "CNN_AUTOGRADER_ROOT"
PYTHON_ENV = "CNN_AUTOGRADER_PYTHON"
SOURCE_DIR = "cnn_helpers_src"

#: Data sets fetched at setup time, so that grading needs no download (Keras' cache).
_DATA_FOR = {"08_cifar10": ("mnist", "cifar10")}
_DEFAULT_DATA = ("mnist",)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder (made by cnn-grade gradescope).
set -euxo pipefail
ROOT="${{{root_env}:-/autograder}}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$ROOT/source/{source}[book]"
# Fetch the data sets now, so that grading a submission never waits for a download.
"$ROOT/venv/bin/python" - <<'EOF' || echo "setup.sh: could not fetch the data sets now; grading will try"
from cnn_helpers import datasets
for name in {data!r}:
    getattr(datasets, "load_" + name)(n_train=10, n_test=10)
EOF
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission (made by cnn-grade gradescope).
ROOT="${{{root_env}:-/autograder}}"
PYTHON="${{{python_env}:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
"$PYTHON" -m cnn_helpers.grading.gradescope run --root "$ROOT" && exit 0
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  why="The autograder itself failed (this is not about your notebook): please tell your instructor."
  printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$why" > "$ROOT/results/results.json"
fi
exit $status
"""


# --------------------------------------------------------------------------- building the zip


def _source_root() -> Path:
    """The folder with ``pyproject.toml`` and the ``cnn_helpers`` package."""
    root = Path(cnn_helpers.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise ValueError(f"no pyproject.toml beside the cnn_helpers package in {root}: build the "
                         "autograder from a checkout of the book's repository")
    return root


def _add_text(zf: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    zf.writestr(info, text)


def _add_sources(zf: zipfile.ZipFile, root: Path) -> None:
    """``cnn_helpers_src/``: pyproject.toml, a short README, every ``.py`` of the package."""
    _add_text(zf, f"{SOURCE_DIR}/pyproject.toml", (root / "pyproject.toml").read_text("utf-8"))
    _add_text(zf, f"{SOURCE_DIR}/README.md",
              "# cnn-helpers\n\nThe book's helper package, bundled for a Gradescope autograder.\n")
    for path in sorted((root / "cnn_helpers").rglob("*.py")):
        if "__pycache__" not in path.parts:
            _add_text(zf, f"{SOURCE_DIR}/{path.relative_to(root).as_posix()}",
                      path.read_text("utf-8"))


def build_autograder(exercise: str, out: str | Path, *, checks: str | Path | None = None,
                     cell_timeout: int = DEFAULT_CELL_TIMEOUT,
                     total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
                     allow_unsandboxed: bool = False) -> Path:
    """Write the autograder zip for ``exercise`` to ``out``; ``ValueError`` for an unknown
    exercise or unusable instructor checks.

    ``allow_unsandboxed``: grade even if bubblewrap cannot build its sandbox in
    Gradescope's container (each submission has a container of its own there, but the
    code could then read the instructor checks).
    """
    settings = Settings(exercise, Path(checks) if checks else None, cell_timeout, total_timeout)
    load_checks(settings)
    root = _source_root()
    config = {"exercise": exercise, "cell_timeout": cell_timeout, "total_timeout": total_timeout,
              "checks": "checks" if checks else None, "allow_unsandboxed": allow_unsandboxed}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            data = _DATA_FOR.get(exercise, _DEFAULT_DATA)
            _add_text(zf, "setup.sh", SETUP_SH.format(root_env=ROOT_ENV, source=SOURCE_DIR,
                                                      data=data), executable=True)
            _add_text(zf, "run_autograder", RUN_AUTOGRADER.format(root_env=ROOT_ENV,
                                                                  python_env=PYTHON_ENV),
                      executable=True)
            _add_text(zf, "config.json", json.dumps(config, indent=1) + "\n")
            for path in sorted(Path(checks).glob("*.py")) if checks else []:
                _add_text(zf, f"checks/{path.name}", path.read_text("utf-8"))
            _add_sources(zf, root)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


# --------------------------------------------------------------------------- grading on Gradescope


def _visible_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith((".", "__")) for part in p.relative_to(folder).parts))


def find_notebook(submission: Path, exercise: str) -> tuple[Path | None, str]:
    """The one notebook in ``submission``, or ``None`` and what to tell the student."""
    files = _visible_files(submission)
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    if notebooks:
        names = ", ".join(printable(p.relative_to(submission), 80) for p in notebooks[:6])
        return None, (f"Your submission holds {len(notebooks)} notebooks ({names}). Upload "
                      f"only one: the exercise notebook {exercise}.ipynb.")
    held = (f"it holds only: {', '.join(printable(p.relative_to(submission), 80) for p in files[:6])}"
            if files else "it is empty")
    return None, (f"No notebook (.ipynb file) was found in your submission ({held}). Upload "
                  f"the exercise notebook {exercise}.ipynb itself, saved from Jupyter.")


def _hidden_output(r: Result) -> str:
    if r.status == PASSED:
        return "passed"
    if r.status == ERROR:
        return "this check could not run on your answer"
    return "not attempted" if r.status == NOT_ATTEMPTED else "not passed"


def _test(r: Result, hidden: bool) -> dict[str, Any]:
    return {"name": f"Task {printable(r.task, 20)}: {printable(r.title, 100)}",
            "score": r.points, "max_score": r.max_points,
            "status": "passed" if r.status == PASSED else "failed",
            "output": _hidden_output(r) if hidden else printable(r.message),
            "visibility": "after_published" if hidden else "visible"}


def gradescope_results(report: SavedReport) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one report."""
    lines = [f"Score: {report.score:g} / {report.max_score:g} (exercise {report.exercise})."]
    if report.notes:
        lines += ["", "About your notebook:"] + [f"- {printable(note)}" for note in report.notes]
    lines += ["", "Each task below has a message: a hint about what to look at, never the answer."]
    tests = ([_test(r, hidden=False) for r in report.results]
             + [_test(r, hidden=True) for r in report.instructor_results])
    return {"score": report.score, "output": "\n".join(lines), "tests": tests}


def _config(root: Path) -> dict[str, Any]:
    config = json.loads((root / "source" / "config.json").read_text(encoding="utf-8"))
    if not isinstance(config, dict) or "exercise" not in config:
        raise ValueError("config.json names no exercise")
    return config


def _grade(notebook: Path, settings: Settings, instructor: dict[str, Any]) -> dict[str, Any]:
    """The report on one notebook, or one that says why it could not be graded."""
    try:
        check_sandbox(settings.allow_unsandboxed)
    except ValueError as exc:
        return placeholder_report(notebook.name, settings.exercise, instructor, ERROR,
                                  f"{COULD_NOT_GRADE} (this is not about your notebook: "
                                  f"please tell your instructor): {exc}")
    outcome = run_worker(notebook, settings)
    return outcome.report or placeholder_report(
        notebook.name, settings.exercise, instructor, ERROR,
        f"{COULD_NOT_GRADE}: {outcome.failure}. Please tell your instructor.")


def run(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and write ``root/results/results.json``; return it."""
    config = _config(root)
    checks = root / "source" / config["checks"] if config.get("checks") else None
    settings = Settings(config["exercise"], checks,
                        int(config.get("cell_timeout", DEFAULT_CELL_TIMEOUT)),
                        int(config.get("total_timeout", DEFAULT_TOTAL_TIMEOUT)),
                        dict(config.get("grade_kwargs", {})),
                        bool(config.get("allow_unsandboxed", False)),
                        hideable([root / "source", root / "results"],
                                 avoid=[checks] if checks else []))
    instructor = load_checks(settings)
    notebook, problem = find_notebook(root / "submission", settings.exercise or "")
    if notebook is None:
        data = placeholder_report("submission", settings.exercise, instructor, NOT_ATTEMPTED, problem)
    else:
        data = _grade(notebook, settings, instructor)
    results = gradescope_results(report_from_dict(data))
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=1))
    return results


# --------------------------------------------------------------------------- command lines


def build_main(argv: Sequence[str] | None = None) -> int:
    """``cnn-grade gradescope``: build the autograder zip."""
    parser = argparse.ArgumentParser(prog="cnn-grade gradescope",
                                     description="Build a Gradescope autograder zip for one exercise.")
    parser.add_argument("--exercise", required=True, help="the exercise (e.g. 01_convolution)")
    parser.add_argument("--checks", type=Path, help="folder of instructor check modules")
    parser.add_argument("--out", type=Path, required=True, help="the zip to write")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--total-timeout", type=int, default=DEFAULT_TOTAL_TIMEOUT,
                        help=f"seconds per notebook (default {DEFAULT_TOTAL_TIMEOUT}); keep it "
                             "under the assignment's autograder timeout on Gradescope")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="grade even if bubblewrap cannot build a sandbox on Gradescope")
    args = parser.parse_args(argv)
    try:
        path = build_autograder(args.exercise, args.out, checks=args.checks,
                                cell_timeout=args.cell_timeout, total_timeout=args.total_timeout,
                                allow_unsandboxed=args.allow_unsandboxed)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): upload it as the autograder "
          f"of the {args.exercise} assignment on Gradescope")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cnn_helpers.grading.gradescope run [--root DIR]`` (run_autograder's)."""
    parser = argparse.ArgumentParser(prog="python -m cnn_helpers.grading.gradescope")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--root", type=Path,
                        default=Path(os.environ.get(ROOT_ENV, "/autograder")))
    args = parser.parse_args(argv)
    results = run(args.root)
    print(results["output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
