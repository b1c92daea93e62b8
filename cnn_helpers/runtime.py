"""Run settings shared by every notebook: seeding, the backend/device report, timing.

A chapter starts with ``runtime.start(seed=SEED)``, which seeds Python, NumPy and the Keras
backend, applies the book's figure style and prints what the notebook runs on; it ends with
``runtime.report(...)``, which prints the run report (backend, device, wall time and any
results passed in). Both are for the person running the notebook: on the book's website,
those two cells' outputs are hidden (cell tags), since the hardware of the committed run
is listed on the execution status page instead.

Introduced in chapter 1 (Convolution).
"""

from __future__ import annotations

import os
import platform
import textwrap
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

__all__ = ["Environment", "elapsed", "environment", "report", "report_info", "set_seed", "start",
           "timer"]

_started: float | None = None


@dataclass(frozen=True)
class Environment:
    """What a notebook runs on."""

    keras: str
    backend: str
    backend_version: str
    device: str
    accelerator: bool
    python: str

    def summary(self) -> str:
        return (f"Keras {self.keras}, backend {self.backend} {self.backend_version}, "
                f"on {self.device}; Python {self.python}")


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and the Keras backend in one call.

    Same seed, same machine, same library versions: same results. Across different
    hardware the last digits of a trained model's accuracy still differ (GPU kernels and
    CPU threads sum in different orders), so the book never compares those exactly.
    """
    import keras

    keras.utils.set_random_seed(int(seed))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _accelerator(backend: str) -> str | None:
    """Name of the first GPU the backend will use, or ``None`` when it runs on the CPU."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return str(details.get("device_name", gpus[0].name))
        elif backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform != "cpu":
                return str(getattr(dev, "device_kind", dev.platform))
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return str(torch.cuda.get_device_name(0))
    except Exception:  # a broken driver must not stop a lecture; we report the CPU instead
        return None
    return None


def _backend_version(backend: str) -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if module is None:
        return ""
    try:
        return str(__import__(module).__version__)
    except Exception:
        return "?"


def environment() -> Environment:
    """Keras version, backend, and the device (GPU name, or CPU model and core count)."""
    import keras

    backend = keras.backend.backend()
    gpu = _accelerator(backend)
    device = f"GPU: {gpu}" if gpu else f"CPU: {_cpu_name()} ({os.cpu_count()} cores)"
    return Environment(
        keras=keras.__version__,
        backend=backend,
        backend_version=_backend_version(backend),
        device=device,
        accelerator=gpu is not None,
        python=platform.python_version(),
    )


def start(seed: int | None = 0) -> Environment:
    """Start the notebook's clock, seed everything (unless ``seed`` is None), apply the
    book's figure style (:func:`cnn_helpers.plotting.use_book_style`), print the setup."""
    global _started
    from cnn_helpers import plotting

    _started = time.perf_counter()
    if seed is not None:
        set_seed(seed)
    plotting.use_book_style()
    env = environment()
    print(env.summary())
    return env


def elapsed() -> float:
    """Seconds since :func:`start` (0.0 if it was never called)."""
    return 0.0 if _started is None else time.perf_counter() - _started


def _fmt_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def report_info(parameters: dict[str, Any] | None = None, **results: Any) -> dict[str, Any]:
    """The run report as a dict: environment, wall time since :func:`start`, parameters, results."""
    return {**asdict(environment()), "wall_time_s": elapsed(),
            "parameters": dict(parameters or {}), **results}


def report(parameters: dict[str, Any] | None = None, **results: Any) -> None:
    """Print the run report: backend, device, wall time since :func:`start`, parameters, results.

    A chapter's last cell calls it, so the committed outputs say what ran where and how long.
    """
    info = report_info(parameters, **results)
    rows: list[tuple[str, str]] = [
        ("backend", f"{info['backend']} {info['backend_version']} (Keras {info['keras']})"),
        ("device", info["device"]),
        ("wall time", _fmt_seconds(info["wall_time_s"])),
    ]
    if parameters:
        rows.append(("parameters", ", ".join(f"{k}={v}" for k, v in parameters.items())))
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((key.replace("_", " "), shown))
    width = max(len(k) for k, _ in rows)
    print("Run report")
    for key, value in rows:   # long values wrap, so no line exceeds 88 characters
        print(textwrap.fill(value, 88, initial_indent=f"  {key:<{width}}  ",
                            subsequent_indent=" " * (width + 4), break_on_hyphens=False))


@contextmanager
def timer(label: str) -> Iterator[dict[str, float]]:
    """Time a block: ``with timer("training") as t: ...`` prints the seconds; ``t["seconds"]``."""
    box: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - t0
        print(f"{label}: {_fmt_seconds(box['seconds'])}")
