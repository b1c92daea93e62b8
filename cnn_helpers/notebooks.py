"""Executing the book's notebooks: smoke-size parameters and a quiet, reproducible kernel.

Every notebook keeps its size knobs in one cell tagged ``parameters`` (defaults: the real
lecture settings) and declares in its metadata the small values that CI uses::

    "metadata": {"cnn_book": {"smoke": {"EPOCHS": 1, "N_TRAIN": 512}}}

:func:`execute` runs a notebook with papermill, injecting parameters after that cell, in a
kernel whose low-level (C/C++) output stays out of the notebook: TensorFlow's start-up
chatter ("Could not find cuda drivers ...") goes to the runner's log, while Python-level
warnings still appear in the cell where they arise.

The same applies to every kernel a reader starts from the project's environment:
:func:`install_kernelspec` (run by ``scripts/setup.sh``) makes its ``python3`` kernel keep
that output in the terminal, for JupyterLab, papermill and ``jupyter nbconvert`` alike.

Used by ``scripts/run_notebooks.py``, ``scripts/setup.sh`` and the test suite. Needs
papermill (the ``book`` extra) to execute.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["execute", "install_kernelspec", "quiet_kernels", "read", "smoke_parameters"]

_KERNEL_CONFIG = "c.IPKernelApp.capture_fd_output = False\n"
_QUIET_FLAG = "--IPKernelApp.capture_fd_output=False"


def read(path: str | os.PathLike[str]) -> Any:
    """Read a notebook as an nbformat v4 node."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def smoke_parameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The smoke-size parameters a notebook declares in ``metadata.cnn_book.smoke``."""
    return dict(read(path).metadata.get("cnn_book", {}).get("smoke", {}))


@contextmanager
def quiet_kernels() -> Iterator[None]:
    """Start Jupyter kernels whose C-level stdout/stderr is not copied into the notebook.

    ipykernel forwards what compiled libraries write to file descriptors 1 and 2 into cell
    outputs (``capture_fd_output``). Here a private IPython profile turns that off for the
    kernels started inside the ``with`` block.
    """
    old = os.environ.get("IPYTHONDIR")
    with tempfile.TemporaryDirectory(prefix="cnn-book-ipython-") as tmp:
        profile = Path(tmp) / "profile_default"
        profile.mkdir()
        (profile / "ipython_kernel_config.py").write_text(_KERNEL_CONFIG, encoding="utf-8")
        os.environ["IPYTHONDIR"] = tmp
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("IPYTHONDIR", None)
            else:
                os.environ["IPYTHONDIR"] = old


def install_kernelspec(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Write the ``python3`` kernelspec of the environment at ``prefix`` (default: this
    Python's ``sys.prefix``) so that its kernels leave C-level output in the terminal.

    TensorFlow writes its start-up lines ("Could not find cuda drivers", an error-level
    "failed call to cuInit" on machines without a GPU) from C++ straight to file
    descriptor 2; ipykernel would copy them into the notebook under the first cell that
    imports it. Returns the kernel.json written.
    """
    from ipykernel.kernelspec import get_kernel_dict

    folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / "python3"
    folder.mkdir(parents=True, exist_ok=True)
    spec = get_kernel_dict()          # ipykernel's own spec, with one more flag
    argv = [arg for arg in spec["argv"] if arg != _QUIET_FLAG]
    spec["argv"] = ["python", *argv[1:argv.index("-f")], _QUIET_FLAG, *argv[argv.index("-f"):]]
    path = folder / "kernel.json"
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return path


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _device() -> str:
    """The device Keras computes on here ("GPU: <name>" or "CPU: <model> (<n> cores)"), asked
    of a fresh Python with the kernel's environment, so this process never imports the
    backend. Only full runs record it (a few seconds); "?" if it cannot be found."""
    code = "from cnn_helpers import runtime; print(runtime.environment().device)"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else "?"


def _record_run(output: Path, seconds: float, parameters: dict[str, Any], mode: str) -> None:
    """Drop papermill's per-cell timing noise and record how the notebook was last run
    (the book's status page lists it)."""
    import nbformat

    nb = read(output)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    run = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(seconds, 1),
        "mode": mode,
        "parameters": parameters,
        "machine": _machine(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
    }
    if mode == "full":
        run["device"] = _device()
    nb.metadata.setdefault("cnn_book", {})["last_run"] = run
    nbformat.write(nb, str(output))


def execute(path: str | os.PathLike[str], output: str | os.PathLike[str],
            parameters: dict[str, Any] | None = None, *, mode: str = "full",
            cell_timeout: int | None = None, cwd: str | os.PathLike[str] | None = None,
            keep_going: bool = False) -> float:
    """Execute ``path`` with papermill into ``output``; return the wall time in seconds.

    Args:
        parameters: injected after the cell tagged ``parameters``.
        mode: recorded in ``metadata.cnn_book.last_run`` ("full", "smoke" or "graded").
        cell_timeout: seconds any one cell may run (``None``: no limit).
        cwd: working directory of the kernel (default: the notebook's folder).
        keep_going: run every cell even after one fails, and interrupt (rather than
            abort on) a cell that exceeds ``cell_timeout``; errors stay in ``output``.
            This is how submissions are graded: one broken task must not hide the others.

    Raises:
        papermill.PapermillExecutionError: a cell raised (only when ``keep_going`` is
            false); ``output`` holds the partial run.
    """
    import papermill

    src, dst = Path(path), Path(output)
    params = dict(parameters or {})
    extra = {"allow_errors": True, "interrupt_on_timeout": True} if keep_going else {}
    t0 = time.perf_counter()
    # No one moves a slider in these runs: animations show at their defaults (animate.explore).
    old_static = os.environ.get("CNN_BOOK_STATIC_ANIMATIONS")
    os.environ["CNN_BOOK_STATIC_ANIMATIONS"] = "1"
    with quiet_kernels():
        try:
            papermill.execute_notebook(
                str(src), str(dst), parameters=params, cwd=str(cwd or src.resolve().parent),
                kernel_name="python3", progress_bar=False, log_output=False,
                execution_timeout=cell_timeout, **extra,
            )
        except papermill.PapermillExecutionError:
            if not keep_going:
                raise
        finally:
            if old_static is None:
                os.environ.pop("CNN_BOOK_STATIC_ANIMATIONS", None)
            else:
                os.environ["CNN_BOOK_STATIC_ANIMATIONS"] = old_static
    seconds = time.perf_counter() - t0
    _record_run(dst, seconds, params, mode)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """``python -m cnn_helpers.notebooks IN OUT [--parameters JSON] [--cell-timeout S] [--keep-going]``.

    A process boundary for callers that need one (the grader runs this in its own process
    group so that a total time limit can stop the kernel too).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cnn_helpers.notebooks")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--parameters", default="{}", help="JSON object of parameters")
    parser.add_argument("--cell-timeout", type=int, default=None)
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument("--mode", default="full")
    args = parser.parse_args(argv)
    execute(args.input, args.output, json.loads(args.parameters), mode=args.mode,
            cell_timeout=args.cell_timeout, keep_going=args.keep_going,
            cwd=Path(args.output).resolve().parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
