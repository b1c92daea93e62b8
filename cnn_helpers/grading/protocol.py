"""How an answer travels from a student's kernel to a check: as plain data, never pickled.

An answer is *exported* to JSON-able records plus NumPy arrays (an ``.npz`` file read with
``allow_pickle=False``): numbers, strings, lists, dicts and arrays as themselves; a function as
its outputs on the task's probe inputs; a Keras model as its config and weights. The checks
then run on that data, in a process that never ran the student's code.

Everything read back is treated as hostile: :func:`load_exported` refuses files that are too
large, too deeply nested or malformed with :class:`ExportError` (a plain-words reason), never
with a traceback from deep inside.
"""

from __future__ import annotations

import json
import math
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from cnn_helpers.grading.exercises import Task

#: Seconds one probe call of a student's function may take before it counts as a failure.
PROBE_SECONDS = 20
#: Limits on what :func:`load_exported` reads back.
MAX_JSON_BYTES = 20_000_000
MAX_ARRAY_BYTES = 400_000_000
MAX_DEPTH = 40


class ExportError(ValueError):
    """An exported answer file that cannot be trusted or read (the message says why)."""


@dataclass(frozen=True)
class Failure:
    """What a probe call of a student's function raised (or that it ran out of time)."""

    error: str

    def __str__(self) -> str:
        return self.error


class ProbeTimeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise ProbeTimeout


def call_with_time_limit(fn: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Any:
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows: no limit
        return fn(*args)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def to_plain(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """JSON-able form of ``value``; arrays go into ``arrays`` and leave a reference."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else {"__float__": repr(f)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) or type(value).__module__.split(".")[0] in ("tensorflow", "jax", "jaxlib", "torch"):
        try:
            arr = np.asarray(value)
        except Exception:  # a tensor that refuses conversion
            return {"__unsupported__": type(value).__name__, "repr": repr(value)[:200]}
        if arr.dtype == object:
            return {"__unsupported__": "object array", "repr": repr(value)[:200]}
        arrays[key] = arr
        return {"__array__": key}
    if type(value).__name__ == "History" and isinstance(getattr(value, "history", None), dict):
        return to_plain(value.history, arrays, key)       # what model.fit returns
    if isinstance(value, (list, tuple)):
        return {"__seq__": type(value).__name__,
                "items": [to_plain(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: to_plain(v, arrays, f"{key}.{k}") for k, v in value.items()}}
    return {"__unsupported__": type(value).__name__, "repr": repr(value)[:200]}


def from_plain(value: Any, arrays: dict[str, np.ndarray], _depth: int = 0) -> Any:
    """The answer that :func:`to_plain` exported. Raises :class:`ExportError` for a record
    that :func:`to_plain` cannot have written (unknown array, too deep, wrong field types)."""
    if _depth > MAX_DEPTH:
        raise ExportError(f"the answer is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, list):
        raise ExportError("a list where the export writes a tagged record")
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        key = value["__array__"]
        if not isinstance(key, str) or key not in arrays:
            raise ExportError("the answer refers to an array that is not in the export")
        return arrays[key]
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise ExportError("a malformed special number")
        return float(text)
    if "__seq__" in value:
        items = value.get("items")
        if not isinstance(items, list):
            raise ExportError("a malformed list")
        out = [from_plain(v, arrays, _depth + 1) for v in items]
        return tuple(out) if value["__seq__"] == "tuple" else out
    if "__dict__" in value:
        inner = value["__dict__"]
        if not isinstance(inner, dict):
            raise ExportError("a malformed dict")
        return {str(k): from_plain(v, arrays, _depth + 1) for k, v in inner.items()}
    if "__unsupported__" in value:
        return Unsupported(str(value["__unsupported__"])[:100], str(value.get("repr", ""))[:200])
    raise ExportError("an answer record of an unknown form")


@dataclass(frozen=True)
class Unsupported:
    """An answer of a type that cannot travel as plain data (its type name and a short repr)."""

    type_name: str
    text: str


def _is_keras_model(obj: Any) -> bool:
    return any(c.__name__ in ("Model", "Functional", "Sequential") and c.__module__.startswith("keras")
               for c in type(obj).__mro__)


class watch_calls:  # noqa: N801  (a context manager)
    """Record calls into forbidden implementations made inside the ``with`` block.

    ``forbid`` holds module names (``"keras"``: the module and everything under it) and
    single functions (``"numpy:convolve"``); each call into one adds its name to ``calls``.
    Used while a student's function runs on its probes, in the notebook and in the grader.
    """

    _OWN = ("cnn_helpers.grading.protocol", "cnn_helpers.grading.replay")

    def __init__(self, forbid: Sequence[str], calls: list[str]) -> None:
        self.modules = tuple(n for n in forbid if ":" not in n)
        self.functions: dict[int, str] = {}
        for name in forbid:
            if ":" in name:
                obj = _resolve(name)
                if obj is not None:
                    self.functions[id(getattr(obj, "__code__", obj))] = name
        self.calls = calls
        self._saved: Any = None

    def _module_forbidden(self, module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in self.modules) \
            and not module.startswith(self._OWN)

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        """Record the entry into a forbidden implementation (not the calls it makes)."""
        if event == "call":
            caller = frame.f_back
            if caller is not None and self._module_forbidden(caller.f_globals.get("__name__") or ""):
                return
            name = self.functions.get(id(frame.f_code))
            module = frame.f_globals.get("__name__") or ""
            if name is None and self._module_forbidden(module):
                name = f"{module}.{frame.f_code.co_name}"
        elif event == "c_call":
            if self._module_forbidden(frame.f_globals.get("__name__") or ""):
                return
            name = self.functions.get(id(arg))
            module = getattr(arg, "__module__", None) or ""
            if name is None and self._module_forbidden(module):
                name = f"{module}.{getattr(arg, '__name__', '?')}"
        else:
            return
        if name is not None and name not in self.calls and len(self.calls) < 10:
            self.calls.append(name.replace(":", "."))

    def __enter__(self) -> "watch_calls":
        import sys

        self._saved = sys.getprofile()
        if self.modules or self.functions:
            sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        import sys

        sys.setprofile(self._saved)


def _resolve(name: str) -> Any:
    import importlib

    module_name, _, attr = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return None


def _export_function(task: Task, value: Any, arrays: dict[str, np.ndarray],
                     calls: Sequence[str]) -> dict[str, Any]:
    """Call a student's function on every probe; record outputs, failures and forbidden calls."""
    if not callable(value):
        return {"state": "wrong-kind", "type": type(value).__name__}
    outputs = []
    used = list(calls)
    for i, args in enumerate(task.probes()):  # type: ignore[misc]
        copied = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
        try:
            with watch_calls(task.forbid, used):
                out = call_with_time_limit(value, copied, PROBE_SECONDS)
            outputs.append({"ok": to_plain(out, arrays, f"t{task.id}.p{i}")})
        except ProbeTimeout:
            outputs.append({"raised": f"did not finish within {PROBE_SECONDS} s"})
        except NotImplementedError:
            return {"state": "not-implemented"}
        except Exception as exc:  # the student's bug, reported to them
            outputs.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
    used += [c for c in calls if c not in used]
    if used:
        return {"state": "delegated", "calls": ", ".join(sorted(set(used))[:3])}
    return {"state": "ok", "outputs": outputs}


def _export_one(task: Task, namespace: dict[str, Any], arrays: dict[str, np.ndarray],
                calls: Sequence[str]) -> dict[str, Any]:
    """Plain-data record of one task's answer found in ``namespace``."""
    if task.answer not in namespace:
        return {"state": "missing"}
    value = namespace[task.answer]
    if value is Ellipsis:
        return {"state": "ellipsis"}
    key = f"t{task.id}"
    if task.kind == "function":
        return _export_function(task, value, arrays, calls)
    if task.kind == "model":
        if not _is_keras_model(value):
            return {"state": "wrong-kind", "type": type(value).__name__}
        import keras

        weights = value.get_weights()
        for i, w in enumerate(weights):
            arrays[f"{key}.w{i}"] = np.asarray(w)
        config = keras.saving.serialize_keras_object(value)
        optimizer = getattr(value, "optimizer", None)
        steps = int(np.asarray(optimizer.iterations)) if getattr(optimizer, "iterations", None) is not None else 0
        return {"state": "ok", "config": json.dumps(config), "weights": len(weights),
                "trained_steps": steps}
    return {"state": "ok", "value": to_plain(value, arrays, key)}


def export_answers(namespace: dict[str, Any], tasks: Iterable[Task], json_path: str | Path,
                   npz_path: str | Path, *, calls: Sequence[str] = ()) -> None:
    """Write the answers of ``tasks`` found in ``namespace`` as JSON + NPZ (no pickle).

    ``calls``: forbidden implementations already known to have been called (by the
    grader's replay); a function task with any gets the state ``"delegated"``.
    """
    arrays: dict[str, np.ndarray] = {}
    records = {}
    for task in tasks:
        try:
            records[task.id] = _export_one(task, namespace, arrays, calls)
        except Exception as exc:  # never let one odd answer stop the export of the others
            records[task.id] = {"state": "export-error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    np.savez(npz_path, **arrays)
    Path(json_path).write_text(json.dumps(records), encoding="utf-8")


def load_exported(json_path: str | Path, npz_path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what :func:`export_answers` wrote (arrays without pickle).

    Raises :class:`ExportError` for anything :func:`export_answers` cannot have written:
    a missing, huge or malformed file, records that are not a dict of dicts.
    """
    json_path, npz_path = Path(json_path), Path(npz_path)
    try:
        if json_path.stat().st_size > MAX_JSON_BYTES:
            raise ExportError(f"the answers file is larger than {MAX_JSON_BYTES // 1_000_000} MB")
        records = json.loads(json_path.read_text(encoding="utf-8"))
    except ExportError:
        raise
    except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ExportError(f"the answers file cannot be read ({type(exc).__name__})") from None
    if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
        raise ExportError("the answers file does not hold one record per task")
    arrays: dict[str, np.ndarray] = {}
    if npz_path.exists():
        try:
            if npz_path.stat().st_size > MAX_ARRAY_BYTES:
                raise ExportError(f"the arrays file is larger than {MAX_ARRAY_BYTES // 1_000_000} MB")
            with np.load(npz_path, allow_pickle=False) as data:
                for k in data.files:
                    arr = data[k]
                    if arr.dtype == object:
                        raise ExportError("an array of Python objects")
                    arrays[k] = arr
        except ExportError:
            raise
        except Exception as exc:  # zip, header, dtype errors of a forged file
            raise ExportError(f"the arrays file cannot be read ({type(exc).__name__})") from None
    return records, arrays


def save_probes(probes: Sequence[tuple[Any, ...]], path: str | Path) -> None:
    """Probe inputs of an instructor's function task, for the submission's kernel."""
    arrays = {f"{i}.{j}": np.asarray(arg) for i, args in enumerate(probes) for j, arg in enumerate(args)}
    np.savez(path, **arrays)


def load_probes(path: str | Path) -> list[tuple[Any, ...]]:
    with np.load(path, allow_pickle=False) as data:
        keys = sorted(data.files, key=lambda k: tuple(int(p) for p in k.split(".")))
        probes: dict[int, list[Any]] = {}
        for k in keys:
            arr = data[k]
            probes.setdefault(int(k.split(".")[0]), []).append(arr.item() if arr.ndim == 0 else arr)
    return [tuple(args) for _, args in sorted(probes.items())]




# --------------------------------------------------------------------------- probe seeds

_probe_seed = 0


def probe_rng(salt: int) -> np.random.Generator:
    """The random generator a task's probe inputs are drawn from.

    ``salt`` tells the tasks apart; the seed under it is 0 in the notebook (the same probes
    on every run, so a student can compare) and drawn fresh per submission by the grader
    (:func:`use_probe_seed`), so outputs hard-coded for the notebook's probes earn nothing.
    """
    return np.random.default_rng([int(salt), _probe_seed])


class use_probe_seed:  # noqa: N801  (used as a context manager, like a function)
    """``with use_probe_seed(seed): ...``: probes drawn inside use ``seed``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._saved = 0

    def __enter__(self) -> "use_probe_seed":
        global _probe_seed
        self._saved, _probe_seed = _probe_seed, self.seed
        return self

    def __exit__(self, *exc: object) -> None:
        global _probe_seed
        _probe_seed = self._saved
