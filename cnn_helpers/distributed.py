"""Start worker processes for multi-device experiments, and read back what they found.

A Python process fixes its Keras backend, and the number of devices that backend sees, the
moment the framework is first imported. So an experiment on "8 devices" (or on two hosts)
runs in fresh worker processes, exactly as on a real cluster, where one script is started
once per process:

- :func:`launch` starts ``processes`` fresh Python processes on a script (a path, or its
  source as a string), each in its own process group, with the backend and the devices set
  in its environment; it waits for all of them (at most ``timeout`` seconds: then every
  process group is killed) and returns one :class:`WorkerResult` per process, or raises a
  :class:`WorkerError` that names the process, its exit status and the last lines of its
  error output.
- Inside a worker, :func:`config` returns the settings the launcher passed, :func:`report`
  sends a JSON-able result back, :func:`process_id` / :func:`num_processes` say which
  process this is, and :func:`tf_devices` names the devices a ``MirroredStrategy`` should use.
- In the notebook, :func:`table` prints rows as an aligned text table, and
  :func:`allreduce_animation` draws a ring all-reduce step by step.

Devices. By default (``platform="cpu"``) workers run on the CPU even where there are
GPUs: the launcher sets ``CUDA_VISIBLE_DEVICES=""`` (and ``JAX_PLATFORMS=cpu`` for JAX), so
that an experiment written for 8 devices gives the same result on a machine with 0, 1 or 2
GPUs (the chapter's meshes need 8 devices; measuring what GPUs gain is the job of
``benchmarks/scaling.py``). With ``backend="jax"`` each worker gets
``XLA_FLAGS=--xla_force_host_platform_device_count=<devices>``: its CPU shows up as that
many (virtual) devices. With ``backend="tensorflow"`` a small bootstrap splits the CPU into
``devices`` logical devices before the script runs. ``platform="auto"`` leaves the
accelerators visible: JAX uses them and ignores the CPU flag, the TensorFlow bootstrap
leaves the CPU alone when it finds a GPU, and :func:`tf_devices` then names the GPUs.
Virtual CPU devices share the machine's cores: they show that a program is *correct* on
many devices, never how fast it would be.

More than one process (``processes > 1``, JAX only) means a cluster on this machine: the
launcher picks a free port on 127.0.0.1 and sets ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``, which
``keras.distribution.initialize()`` reads; on a real cluster the job scheduler sets the same
three variables (the coordinator's address, the number of processes, this process's rank).

Introduced in chapter 9 (When one device is not enough).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BACKENDS", "PLATFORMS", "WorkerError", "WorkerResult", "allreduce_animation",
           "config", "describe_sharding", "free_port", "launch", "num_processes", "process_id",
           "report", "ring_allreduce", "table", "tf_devices"]

#: The backends :func:`launch` can start workers on.
BACKENDS = ("jax", "tensorflow")
#: Where workers run: ``"cpu"`` (accelerators hidden) or ``"auto"`` (what the backend finds).
PLATFORMS = ("cpu", "auto")

_RESULT_ENV = "CNN_DISTRIBUTED_RESULT"
_CONFIG_ENV = "CNN_DISTRIBUTED_CONFIG"
_DEVICES_ENV = "CNN_DISTRIBUTED_DEVICES"
_COUNT_FLAG = "--xla_force_host_platform_device_count"
_TAIL_LINES = 15

# Run in each worker before its script: TensorFlow's logical CPU devices (only where no GPU
# is found), the script's folder on sys.path, then the script as __main__.
_BOOTSTRAP = """\
import os, runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
if os.environ.get("KERAS_BACKEND") == "tensorflow":
    import tensorflow as tf
    n = int(os.environ.get("%(devices)s", "1"))
    if n > 1 and not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n)
runpy.run_path(script, run_name="__main__")
""".replace("%(devices)s", _DEVICES_ENV)


class WorkerError(RuntimeError):
    """A worker process failed, or did not finish in time."""


@dataclass(frozen=True)
class WorkerResult:
    """What one worker process left behind."""

    process_id: int
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    result: Any
    """What the worker passed to :func:`report` (``None`` if it never called it)."""


# --------------------------------------------------------------------------- the launcher


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _xla_flags(existing: str, devices: int) -> str:
    kept = [f for f in existing.split() if not f.startswith(_COUNT_FLAG)]
    return " ".join(kept + [f"{_COUNT_FLAG}={devices}"])


def _tail(text: str, n: int = _TAIL_LINES) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-n:]) or "    (nothing)"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a worker and everything it started (its own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


def launch(source_or_path: str | os.PathLike[str], *, backend: str = "jax", processes: int = 1,
           devices: int = 8, timeout: float = 300.0, config: Mapping[str, Any] | None = None,
           env: Mapping[str, str] | None = None, platform: str = "cpu") -> list[WorkerResult]:
    """Run a script in ``processes`` fresh Python processes and wait for all of them.

    Args:
        source_or_path: a path to a ``.py`` file, or the script's source code.
        backend: ``"jax"`` or ``"tensorflow"`` (sets ``KERAS_BACKEND``).
        processes: how many processes; more than 1 (JAX only) forms a cluster on
            127.0.0.1 that ``keras.distribution.initialize()`` joins.
        devices: virtual CPU devices per process (with ``platform="auto"``, used only
            where no accelerator is found).
        timeout: seconds for the whole run; then every worker's process group is killed.
        config: JSON-able settings the workers read with :func:`config`.
        env: more environment variables for every worker.
        platform: ``"cpu"`` (the default) hides the GPUs from the workers
            (``CUDA_VISIBLE_DEVICES=""``, and ``JAX_PLATFORMS=cpu`` for JAX), so results do
            not depend on how many GPUs the machine has; ``"auto"`` lets the backend use them.

    Returns:
        One :class:`WorkerResult` per process, in process order.

    Raises:
        ValueError: bad arguments.
        WorkerError: a worker exited with a non-zero status (its stderr's last lines are
            quoted), or the run took longer than ``timeout``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name, value in (("processes", processes), ("devices", devices)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if processes > 1 and backend != "jax":
        raise ValueError("processes > 1 is supported for backend='jax' only "
                         "(keras.distribution's multi-process runs)")
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    config_json = json.dumps(dict(config or {}))   # raises TypeError early if not JSON-able

    with tempfile.TemporaryDirectory(prefix="cnn-workers-") as tmp:
        script = _script(source_or_path, Path(tmp))
        base = {**os.environ, **(env or {}), "KERAS_BACKEND": backend,
                _DEVICES_ENV: str(devices), _CONFIG_ENV: config_json,
                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        if backend == "jax":
            base["XLA_FLAGS"] = _xla_flags(base.get("XLA_FLAGS", ""), devices)
        if platform == "cpu":
            base["CUDA_VISIBLE_DEVICES"] = ""
            if backend == "jax":
                base["JAX_PLATFORMS"] = "cpu"
        if processes > 1:
            base.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{free_port()}",
                        KERAS_DISTRIBUTION_NUM_PROCESSES=str(processes))
        else:
            for key in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                        "KERAS_DISTRIBUTION_PROCESS_ID"):
                base.pop(key, None)
        return _run(script, base, processes, float(timeout), Path(tmp))


def _script(source_or_path: str | os.PathLike[str], tmp: Path) -> Path:
    if isinstance(source_or_path, os.PathLike) or (
            isinstance(source_or_path, str) and "\n" not in source_or_path
            and source_or_path.endswith(".py")):
        path = Path(source_or_path)
        if not path.is_file():
            raise ValueError(f"no such script: {path}")
        return path.resolve()
    if not isinstance(source_or_path, str) or not source_or_path.strip():
        raise ValueError("source_or_path must be a path to a .py file or a script's source code")
    path = tmp / "worker.py"
    path.write_text(source_or_path, encoding="utf-8")
    return path


def _run(script: Path, base: dict[str, str], processes: int, timeout: float,
         tmp: Path) -> list[WorkerResult]:
    procs, files = [], []
    start = time.monotonic()
    try:
        for rank in range(processes):
            out, err = (open(tmp / f"{rank}.{k}", "w+b") for k in ("out", "err"))  # noqa: SIM115
            files.append((out, err))
            env = {**base, _RESULT_ENV: str(tmp / f"{rank}.json")}
            if processes > 1:
                env["KERAS_DISTRIBUTION_PROCESS_ID"] = str(rank)
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(script)], stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, env=env, cwd=os.getcwd(), start_new_session=True))
        ended: dict[int, float] = {}
        while len(ended) < processes:
            for rank, proc in enumerate(procs):
                if rank not in ended and proc.poll() is not None:
                    ended[rank] = time.monotonic() - start
            failed = [r for r in ended if procs[r].returncode != 0]
            now = time.monotonic() - start
            # A failed peer: the others may wait for it forever, so give them a moment.
            if failed and (len(ended) == processes or now > min(ended[r] for r in failed) + 5):
                break
            if now > timeout:
                break
            time.sleep(0.05)
    finally:
        for proc in procs:
            _kill(proc)
    texts = []
    for out, err in files:
        out.seek(0)
        err.seek(0)
        texts.append((out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")))
        out.close()
        err.close()

    failed = [r for r in sorted(ended, key=ended.get) if procs[r].returncode != 0]
    if failed:
        r = failed[0]
        raise WorkerError(f"worker process {r} of {processes} ({script.name}) exited with status "
                          f"{procs[r].returncode} after {ended[r]:.1f} s; the last lines of its "
                          f"error output:\n{_tail(texts[r][1])}")
    if len(ended) < processes:
        late = [r for r in range(processes) if r not in ended]
        raise WorkerError(f"worker process{'es' if len(late) > 1 else ''} "
                          f"{', '.join(map(str, late))} of {processes} ({script.name}) timed out "
                          f"after {timeout:g} s and {'were' if len(late) > 1 else 'was'} killed; "
                          f"the last lines of process {late[0]}'s error output:\n"
                          f"{_tail(texts[late[0]][1])}")
    results = []
    for rank, proc in enumerate(procs):
        path = tmp / f"{rank}.json"
        result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        results.append(WorkerResult(rank, proc.returncode, round(ended[rank], 2), texts[rank][0],
                                    texts[rank][1], result))
    return results


# --------------------------------------------------------------------------- inside a worker


def config() -> dict[str, Any]:
    """The settings the launcher passed (``launch(..., config=...)``); ``{}`` if none."""
    return dict(json.loads(os.environ.get(_CONFIG_ENV) or "{}"))


def process_id() -> int:
    """This process's rank in a multi-process run (0 when alone)."""
    return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "0"))


def num_processes() -> int:
    """How many processes the run has (1 when alone)."""
    return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1"))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):          # NumPy arrays and scalars
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report(result: Mapping[str, Any]) -> None:
    """Send a result (a dict of numbers, strings, lists, NumPy arrays) back to :func:`launch`.

    Outside a launched worker, the result is printed instead."""
    if not isinstance(result, Mapping):
        raise TypeError(f"report() takes a dict, got {type(result).__name__}")
    text = json.dumps(_plain(result))
    path = os.environ.get(_RESULT_ENV)
    if path is None:
        print(text)
        return
    Path(path).write_text(text, encoding="utf-8")


def tf_devices() -> list[str]:
    """The devices a ``tf.distribute.MirroredStrategy`` should mirror over: every GPU if
    there is one, otherwise every logical CPU device (the launcher's bootstrap made
    ``devices`` of them)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def describe_sharding(array: Any) -> list[dict[str, Any]]:
    """One row per shard of a JAX array held in this process: the device, which slice of
    each axis it holds (``"0:16"``, or ``":"`` for the whole axis) and its shape."""
    rows = []
    for shard in sorted(array.addressable_shards, key=lambda s: s.device.id):
        where = []
        for axis, piece in enumerate(shard.index):
            start, stop = piece.start, piece.stop
            full = array.shape[axis]
            if (start in (None, 0)) and (stop in (None, full)):
                where.append(":")
            else:
                where.append(f"{start or 0}:{full if stop is None else stop}")
        rows.append({"device": f"{shard.device.platform}:{shard.device.id}",
                     "slice": "[" + ", ".join(where) + "]",
                     "shape": tuple(shard.data.shape)})
    return rows


# --------------------------------------------------------------------------- in the notebook


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows (dicts) as a text table with aligned columns; floats in ``{:.3g}``."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, (list, tuple)) and not isinstance(v, str):
            return "(" + ", ".join(map(str, v)) + ("," if len(v) == 1 else "") + ")"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def ring_allreduce(values: Any) -> list[Any]:
    """The states of a ring all-reduce (sum), step by step.

    ``values`` is ``(N, N)``: device ``d`` holds row ``d``, cut into N chunks. Returns N*2-1
    arrays of ``(N, N)`` (the start, N-1 reduce-scatter steps, N-1 all-gather steps); in
    the last one every row is the column sums. Each step, every device sends one chunk to
    its right-hand neighbour."""
    import numpy as np

    state = np.array(values, dtype=float)
    n = state.shape[0]
    if state.ndim != 2 or state.shape[1] != n or n < 2:
        raise ValueError(f"values must be (N, N) with N >= 2 (N devices, N chunks), got {state.shape}")
    states = [state.copy()]
    for step in range(n - 1):                 # reduce-scatter: add the neighbour's chunk
        new = state.copy()
        for d in range(n):
            chunk = (d - step) % n
            new[(d + 1) % n, chunk] += state[d, chunk]
        state = new
        states.append(state.copy())
    for step in range(n - 1):                 # all-gather: pass the finished chunks on
        new = state.copy()
        for d in range(n):
            chunk = (d + 1 - step) % n
            new[(d + 1) % n, chunk] = state[d, chunk]
        state = new
        states.append(state.copy())
    return states


def _ring_moves(n: int, frame: int) -> list[tuple[int, int]]:
    """(device, chunk) pairs that were sent to the right-hand neighbour to reach ``frame``."""
    if frame == 0:
        return []
    step = frame - 1
    if step < n - 1:
        return [(d, (d - step) % n) for d in range(n)]
    step -= n - 1
    return [(d, (d + 1 - step) % n) for d in range(n)]


def allreduce_animation(values: Any, *, interval_ms: int = 1200) -> Any:
    """A ring all-reduce, one step per frame: N devices each hold N chunks of a gradient;
    in N-1 reduce-scatter steps each chunk collects its sum on one device, in N-1
    all-gather steps the sums travel on until every device holds all of them.

    Returns a :class:`cnn_helpers.animate.Animation` (the book's offline player)."""
    import numpy as np
    from matplotlib.patches import Rectangle

    from cnn_helpers import animate

    states = ring_allreduce(values)
    n = states[0].shape[0]
    total = states[-1][0]
    fmt = animate._fmt(*states)
    cols, rows = n + 5.2, 2 * n + 1.6
    fig, ax, _ = animate._figure(cols, rows)
    boxes, texts = {}, {}
    for d in range(n):
        y = 1.6 + 2 * d
        ax.text(0.1, y + 0.5, f"device {d}", ha="left", va="center")
        for c in range(n):
            boxes[d, c] = Rectangle((2.6 + c, y), 1, 1, fc=animate._INPUT, ec=animate._GRID, lw=1)
            ax.add_patch(boxes[d, c])
            texts[d, c] = ax.text(3.1 + c, y + 0.5, "", ha="center", va="center")
    ax.text(2.5, 1.3, "chunk", ha="right", va="bottom")
    for c in range(n):
        ax.text(3.1 + c, 1.3, str(c), ha="center", va="bottom")
    title = ax.text(0.1, 0.35, "", ha="left", va="center")
    arrows: list[Any] = []

    def draw(i: int) -> str:
        for a in arrows:
            a.remove()
        arrows.clear()
        state = states[i]
        moved = _ring_moves(n, i)
        received = {((d + 1) % n, c) for d, c in moved}
        for (d, c), box in boxes.items():
            done = np.isclose(state[d, c], total[c])
            box.set_facecolor(animate._OUTPUT_NOW if (d, c) in received
                              else animate._OUTPUT if done else animate._INPUT)
            texts[d, c].set_text(fmt.format(state[d, c]))
        for d, c in moved:
            target = (d + 1) % n
            y0, y1 = 2.6 + 2 * d, 1.6 + 2 * target
            if target == 0:       # the ring closes: the last device sends to the first
                x = 2.7 + n
                arrows.append(ax.annotate(
                    "", xy=(x, 2.1), xytext=(x, 2.1 + 2 * d),
                    arrowprops={"arrowstyle": "->", "color": animate._WIN_MARK, "lw": 1.2,
                                "connectionstyle": "arc3,rad=0.35"}))
            else:
                arrows.append(ax.annotate("", xy=(3.1 + c, y1), xytext=(3.1 + c, y0),
                                          arrowprops={"arrowstyle": "->",
                                                      "color": animate._WIN_MARK, "lw": 1.2}))
        if i == 0:
            phase = "start: each device holds its own gradient"
            said = "Each device holds its own gradient, cut into chunks."
        elif i < n:
            phase = f"reduce-scatter, step {i} of {n - 1}"
            said = (f"Reduce-scatter step {i}: every device sends one chunk to the next device, "
                    "which adds it to its own.")
        else:
            phase = f"all-gather, step {i - n + 1} of {n - 1}"
            said = (f"All-gather step {i - n + 1}: every device passes a finished sum on to "
                    "the next device, which copies it.")
        title.set_text(phase)
        if i == len(states) - 1:
            said += " Every device now holds the sums " + ", ".join(fmt.format(v) for v in total) + "."
        return said

    description = (f"Animation: a ring all-reduce on {n} devices: each device's gradient is cut "
                   f"into {n} chunks; {n - 1} reduce-scatter steps and {n - 1} all-gather steps "
                   "leave every device with the sum of all gradients.")
    return animate._player(fig, draw, len(states), description, interval_ms, octree=True)
