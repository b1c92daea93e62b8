"""Exercise checks: instant feedback in the notebook, the same verdicts in the grader.

In an exercise notebook::

    from cnn_helpers import grading
    ex = grading.exercise("01_convolution")
    ...
    output_size = 28
    ex.check("1.1", output_size)      # prints a pass, or what is wrong (never the answer)

A :class:`Task` names the variable that holds the student's answer and how to verify it.
Verification never trusts the student's kernel: the answer is first *exported* to plain
data (numbers, lists, NumPy arrays; a function is called on fixed probe inputs and its
outputs recorded; a Keras model becomes its config and weights), and the check runs on
that data. The instant check in the notebook and ``python -m cnn_helpers.grade`` (which
exports in the submission's kernel and verifies in its own process) follow the same path,
so they always agree.

Task definitions live in :mod:`cnn_helpers.tasks`, one module per exercise notebook.
Instructors add hidden checks with ``python -m cnn_helpers.grade --checks DIR``: every
``*.py`` module in ``DIR`` that defines ``TASKS = {"01_convolution": [Task(...), ...]}``.
"""

from __future__ import annotations

import importlib
import json
import math
import signal
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "ERROR",
    "FAILED",
    "NOT_ATTEMPTED",
    "PASSED",
    "Exercise",
    "Failure",
    "Result",
    "Task",
    "activation_after",
    "output_layer_problems",
    "training_progress",
    "as_float_array",
    "exercise",
    "export_answers",
    "load_exported",
    "verify",
]

PASSED, FAILED, NOT_ATTEMPTED, ERROR = "pass", "fail", "not attempted", "error"

#: Seconds one probe call of a student's function may take before it counts as a failure.
PROBE_SECONDS = 20


@dataclass(frozen=True)
class Result:
    """The verdict on one task."""

    task: str
    title: str
    status: str          # PASSED, FAILED, NOT_ATTEMPTED or ERROR
    points: float
    max_points: float
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass(frozen=True)
class Failure:
    """What a probe call of a student's function raised (or that it ran out of time)."""

    error: str

    def __str__(self) -> str:
        return self.error


@dataclass
class Task:
    """One exercise task.

    Args:
        id: ``"1.3"``: chapter and task number; the notebook's cells for the task carry the
            tag ``task-1.3``.
        title: a few words, shown in the score table.
        answer: the notebook variable that holds the answer.
        verify: receives the exported answer and returns ``(True, message)`` for a pass,
            ``(False, message)`` for a fail, or ``(fraction, message)`` for partial credit.
            For ``kind="function"`` it receives one output (or :class:`Failure`) per probe;
            for ``kind="model"`` a Keras model rebuilt from the exported config and
            weights; otherwise the value (NumPy arrays for arrays).
        points: what a pass is worth.
        kind: ``"value"``, ``"function"`` or ``"model"``.
        probes: for ``kind="function"``: the argument tuples to call it with (NumPy arrays
            or numbers), fixed and deterministic.
    """

    id: str
    title: str
    answer: str
    verify: Callable[[Any], tuple[Any, str]]
    points: float = 1
    kind: str = "value"
    probes: Callable[[], Sequence[tuple[Any, ...]]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("value", "function", "model"):
            raise ValueError(f"task {self.id}: kind must be 'value', 'function' or 'model'")
        if self.kind == "function" and self.probes is None:
            raise ValueError(f"task {self.id}: a function task needs probes")

    @property
    def tag(self) -> str:
        return f"task-{self.id}"


# --------------------------------------------------------------------------- export


class _ProbeTimeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _ProbeTimeout


def _call_with_time_limit(fn: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Any:
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows: no limit
        return fn(*args)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _to_plain(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
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
        return _to_plain(value.history, arrays, key)       # what model.fit returns
    if isinstance(value, (list, tuple)):
        return {"__seq__": type(value).__name__,
                "items": [_to_plain(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _to_plain(v, arrays, f"{key}.{k}") for k, v in value.items()}}
    return {"__unsupported__": type(value).__name__, "repr": repr(value)[:200]}


def _from_plain(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__float__" in value:
            return float(value["__float__"])
        if "__seq__" in value:
            items = [_from_plain(v, arrays) for v in value["items"]]
            return tuple(items) if value["__seq__"] == "tuple" else items
        if "__dict__" in value:
            return {k: _from_plain(v, arrays) for k, v in value["__dict__"].items()}
        if "__unsupported__" in value:
            return _Unsupported(value["__unsupported__"], value.get("repr", ""))
    return value


@dataclass(frozen=True)
class _Unsupported:
    type_name: str
    text: str


def _is_keras_model(obj: Any) -> bool:
    return any(c.__name__ in ("Model", "Functional", "Sequential") and c.__module__.startswith("keras")
               for c in type(obj).__mro__)


def _export_one(task: Task, namespace: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Plain-data record of one task's answer found in ``namespace``."""
    if task.answer not in namespace:
        return {"state": "missing"}
    value = namespace[task.answer]
    if value is Ellipsis:
        return {"state": "ellipsis"}
    key = f"t{task.id}"
    if task.kind == "function":
        if not callable(value):
            return {"state": "wrong-kind", "type": type(value).__name__}
        outputs = []
        for i, args in enumerate(task.probes()):  # type: ignore[misc]
            try:
                out = _call_with_time_limit(value, tuple(np.copy(a) if isinstance(a, np.ndarray) else a
                                                         for a in args), PROBE_SECONDS)
                outputs.append({"ok": _to_plain(out, arrays, f"{key}.p{i}")})
            except _ProbeTimeout:
                outputs.append({"raised": f"did not finish within {PROBE_SECONDS} s"})
            except NotImplementedError:
                return {"state": "not-implemented"}
            except Exception as exc:  # the student's bug, reported to them
                outputs.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
        return {"state": "ok", "outputs": outputs}
    if task.kind == "model":
        if not _is_keras_model(value):
            return {"state": "wrong-kind", "type": type(value).__name__}
        import keras

        weights = value.get_weights()
        for i, w in enumerate(weights):
            arrays[f"{key}.w{i}"] = np.asarray(w)
        config = keras.saving.serialize_keras_object(value)
        return {"state": "ok", "config": json.dumps(config), "weights": len(weights)}
    return {"state": "ok", "value": _to_plain(value, arrays, key)}


def export_answers(namespace: dict[str, Any], tasks: Iterable[Task], json_path: str | Path,
                   npz_path: str | Path) -> None:
    """Write the answers of ``tasks`` found in ``namespace`` as JSON + NPZ (no pickle)."""
    arrays: dict[str, np.ndarray] = {}
    records = {}
    for task in tasks:
        try:
            records[task.id] = _export_one(task, namespace, arrays)
        except Exception as exc:  # never let one odd answer stop the export of the others
            records[task.id] = {"state": "export-error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    np.savez(npz_path, **arrays)
    Path(json_path).write_text(json.dumps(records), encoding="utf-8")


def load_exported(json_path: str | Path, npz_path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what :func:`export_answers` wrote (arrays without pickle)."""
    records = json.loads(Path(json_path).read_text(encoding="utf-8"))
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return records, arrays


def _save_probes(probes: Sequence[tuple[Any, ...]], path: str | Path) -> None:
    """Probe inputs of an instructor's function task, for the submission's kernel."""
    arrays = {f"{i}.{j}": np.asarray(arg) for i, args in enumerate(probes) for j, arg in enumerate(args)}
    np.savez(path, **arrays)


def _load_probes(path: str | Path) -> list[tuple[Any, ...]]:
    with np.load(path, allow_pickle=False) as data:
        keys = sorted(data.files, key=lambda k: tuple(int(p) for p in k.split(".")))
        probes: dict[int, list[Any]] = {}
        for k in keys:
            arr = data[k]
            probes.setdefault(int(k.split(".")[0]), []).append(arr.item() if arr.ndim == 0 else arr)
    return [tuple(args) for _, args in sorted(probes.items())]


# --------------------------------------------------------------------------- verify


def _rebuild_model(record: dict[str, Any], arrays: dict[str, np.ndarray], key: str) -> Any:
    import keras

    from cnn_helpers import augment  # noqa: F401  (registers RandomShift / RandomFlip)

    # safe_mode refuses to deserialize Lambda layers and other arbitrary code.
    model = keras.saving.deserialize_keras_object(json.loads(record["config"]), safe_mode=True)
    model.set_weights([arrays[f"{key}.w{i}"] for i in range(record["weights"])])
    return model


def verify(task: Task, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> Result:
    """Turn an exported answer into a :class:`Result`; a crashing check is reported, not raised."""

    def result(status: str, points: float, message: str) -> Result:
        return Result(task.id, task.title, status, points, task.points, message)

    state = record.get("state")
    if state in ("missing", "ellipsis", "not-implemented"):
        return result(NOT_ATTEMPTED, 0, f"`{task.answer}` is not filled in yet")
    if state == "wrong-kind":
        wanted = {"function": "a function", "model": "a Keras model"}[task.kind]
        return result(FAILED, 0, f"`{task.answer}` should be {wanted}, but it is a {record['type']}")
    if state == "export-error":
        return result(ERROR, 0, f"could not read `{task.answer}`: {record['error']}")
    key = f"t{task.id}"
    try:
        if task.kind == "function":
            answer: Any = [_from_plain(o["ok"], arrays) if "ok" in o else Failure(o["raised"])
                           for o in record["outputs"]]
        elif task.kind == "model":
            answer = _rebuild_model(record, arrays, key)
        else:
            answer = _from_plain(record["value"], arrays)
        if isinstance(answer, _Unsupported):
            return result(FAILED, 0, f"`{task.answer}` should be a number or an array, "
                                     f"not a {answer.type_name}")
        verdict, message = task.verify(answer)
    except Exception as exc:
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return result(ERROR, 0, f"the check could not run on this answer ({detail[:200]})")
    fraction = float(verdict) if not isinstance(verdict, bool) else (1.0 if verdict else 0.0)
    fraction = min(max(fraction, 0.0), 1.0)
    if fraction >= 1.0:
        return result(PASSED, task.points, message)
    return result(FAILED, round(task.points * fraction, 2), message)


# --------------------------------------------------------------------------- notebook-facing


@dataclass
class Exercise:
    """The tasks of one exercise notebook, with instant checks for the student."""

    name: str
    tasks: list[Task]
    smoke: dict[str, Any] = field(default_factory=dict)

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        known = ", ".join(t.id for t in self.tasks)
        raise KeyError(f"exercise {self.name} has no task {task_id!r} (tasks: {known})")

    def result(self, task_id: str, answer: Any) -> Result:
        """The verdict on ``answer`` for one task, through the same export as the grader."""
        import tempfile

        task = self.task(task_id)
        with tempfile.TemporaryDirectory() as tmp:
            export_answers({task.answer: answer}, [task], f"{tmp}/a.json", f"{tmp}/a.npz")
            records, arrays = load_exported(f"{tmp}/a.json", f"{tmp}/a.npz")
        return verify(task, records[task.id], arrays)

    def check(self, task_id: str, answer: Any) -> None:
        """Print whether ``answer`` solves the task, and if not, what is wrong."""
        print(_line(self.result(task_id, answer)))

    def summary(self, namespace: dict[str, Any]) -> None:
        """Print every task's verdict for the answers in ``namespace`` (pass ``globals()``)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            export_answers(namespace, self.tasks, f"{tmp}/a.json", f"{tmp}/a.npz")
            records, arrays = load_exported(f"{tmp}/a.json", f"{tmp}/a.npz")
        results = [verify(t, records[t.id], arrays) for t in self.tasks]
        for r in results:
            print(_line(r))
        total = sum(r.points for r in results)
        print(f"score: {total:g} / {sum(r.max_points for r in results):g}")


def _line(r: Result) -> str:
    mark = {PASSED: "PASS", FAILED: "NOT YET", NOT_ATTEMPTED: "TO DO", ERROR: "ERROR"}[r.status]
    points = f"{r.points:g}/{r.max_points:g} point{'s' if r.max_points != 1 else ''}"
    return f"[{mark}] Task {r.task}, {r.title} ({points}): {r.message}"


def exercise(name: str) -> Exercise:
    """The :class:`Exercise` for an exercise notebook, e.g. ``exercise("01_convolution")``."""
    module_name = f"cnn_helpers.tasks.ex{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise KeyError(f"no exercise called {name!r}") from None
    return Exercise(name, list(module.TASKS), dict(getattr(module, "SMOKE", {})))


# --------------------------------------------------------------------------- helpers for checks


def near(got: Any, expected: float, *, what: str, unit: str = "") -> tuple[bool, str]:
    """A numeric answer: pass if equal (to 1e-9 relative), else say which way it is off.

    The message gives the direction and a rough size ("slightly too small", "too large by a
    whole factor", "far too large") but never the exact difference: with the student's own
    number, that would give the answer away.
    """
    try:
        value = float(got)
    except (TypeError, ValueError):
        return False, f"{what} should be a number, got {type(got).__name__}"
    if math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
        return True, f"correct, {what} is {_fmt(value)}{unit}"
    direction = "too large" if value > expected else "too small"
    shown = f"{_fmt(value)}{unit}"
    if expected == 0 or value == 0 or (value > 0) != (expected > 0):
        return False, f"{shown} is {direction}"
    ratio = max(value / expected, expected / value)
    if ratio < 1.05:
        return False, f"{shown} is slightly {direction} (off by less than 5%)"
    if abs(ratio - round(ratio)) < 1e-9:
        return False, f"{shown} is {direction} by a whole factor: a multiplication too many or too few?"
    if ratio < 1.5:
        return False, f"{shown} is {direction} (off by less than half)"
    return False, f"{shown} is far {direction}"


def number_answer(got: Any, expected: float, *, what: str) -> tuple[bool, str, float | None]:
    """Like :func:`near`, but a miss says only "too large" or "too small".

    Returns ``(passed, message, value)``: ``value`` is the answer as a float (``None`` if it
    is not a number), so that a check can add hints for the particular wrong value.
    """
    if isinstance(got, bool) or got is None:
        return False, f"{what} should be a number, got {type(got).__name__}", None
    try:
        value = float(got)
    except (TypeError, ValueError):
        return False, f"{what} should be a number, got {type(got).__name__}", None
    if not math.isfinite(value):
        return False, f"{what} should be a finite number, got {value}", None
    if math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
        return True, f"correct, {what} is {_fmt(value)}", value
    shown = _fmt(value) if value.is_integer() else f"{value:,.10g}"
    return False, f"{shown} is too {'large' if value > expected else 'small'}", value


def probe_verdict(probes: Sequence[tuple[Any, ...]], outputs: Sequence[Any],
                  expected_fn: Callable[..., np.ndarray], describe: Callable[..., str],
                  diagnose: Callable[..., str] | None = None,
                  done: str = "right") -> tuple[Any, str]:
    """Verdict on a function task: compare its output on every probe with ``expected_fn``.

    Partial credit is the share of probes right. For a wrong output, ``diagnose(*args,
    got=..., expected=...)`` may name the mistake it looks like (or return ""); each hint is
    given once, and at most two problems are reported.
    """
    passed, problems, hints_given = 0, [], set()
    for n, (args, got) in enumerate(zip(probes, outputs), start=1):
        expected = expected_fn(*args)
        what = f"probe {n} ({describe(*args)})"
        if got is None:
            ok, message = False, f"{what}: your function returned None"
        else:
            ok, message = compare_arrays(got, expected, what=what)
        if ok:
            passed += 1
            continue
        hint = diagnose(*args, got=got, expected=expected) if diagnose else ""
        if hint in hints_given:
            continue                       # the same mistake, already explained
        hints_given.add(hint)
        problems.append(f"{message}: {hint}" if hint else message)
    if passed == len(probes):
        return True, f"all {len(probes)} probes {done}"
    return passed / len(probes), f"{passed} of {len(probes)} probes right; " + "; ".join(problems[:2])


def as_float_array(got: Any) -> np.ndarray | None:
    """``got`` (one answer, or one probe's output) as a float array, or None when it is
    not numeric or is a :class:`Failure`."""
    if isinstance(got, Failure) or got is None:
        return None
    try:
        return np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None


#: Keras layers that only apply an activation, and the activation each applies.
ACTIVATION_LAYERS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu",
                     "PReLU": "prelu", "Softmax": "softmax"}


def _function_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


def activation_after(layers: list[Any], i: int) -> str:
    """The activation applied after ``layers[i]`` (a name such as ``"relu"``): the
    layer's own, or that of the activation layer that follows it (BatchNormalization
    and Dropout in between are skipped); ``"linear"`` when there is none."""
    own = _function_name(getattr(layers[i], "activation", "linear"))
    if own != "linear":
        return own
    for nxt in layers[i + 1:]:
        kind = type(nxt).__name__
        if kind == "Activation":
            return _function_name(nxt.activation)
        if kind in ACTIVATION_LAYERS:
            return ACTIVATION_LAYERS[kind]
        if kind not in ("BatchNormalization", "Dropout", "SpatialDropout2D"):
            break
    return "linear"


def output_layer_problems(layers: list[Any], kinds: list[str]) -> tuple[int, dict[str, str]]:
    """Index of a classifier's last layer with weights, and what is wrong with it as the
    10-class output (``{}`` when it is a Dense layer followed by softmax)."""
    weighted = [i for i, k in enumerate(kinds) if k in ("Conv2D", "Dense")]
    last = weighted[-1] if weighted else len(kinds) - 1
    if kinds[last] != "Dense":
        return last, {"last": f"the last layer with weights should be Dense(10), not "
                              f"{kinds[last]}"}
    if activation_after(layers, last) != "softmax":
        return last, {"softmax": "the output has no softmax: use Dense(10, "
                                 "activation=\"softmax\") so that the outputs are "
                                 "probabilities (the loss expects them)"}
    return last, {}


def val_accuracy_key(history: dict[str, Any]) -> str | None:
    """The key of the validation-accuracy curve in a ``fit`` history, whatever the
    metric was called (``"val_accuracy"``, older ``"val_acc"``, ...), or None."""
    for key in ("val_accuracy", "val_acc", "val_categorical_accuracy",
                "val_sparse_categorical_accuracy"):
        if key in history:
            return key
    return next((k for k in history if k.startswith("val_") and "acc" in k), None)


def training_losses(history: Any, *, fit_call: str = "model.fit",
                    nan_hint: str = "lower the learning rate") -> tuple[list[float] | None, str]:
    """The per-epoch training losses in what ``fit`` returned, or ``(None, what is wrong)``.

    Wrong means: not a history (``History`` objects arrive as their ``.history`` dict), no
    list of numbers under ``"loss"``, fewer than 2 epochs (too few to see the loss fall),
    or a NaN/infinite loss (``nan_hint`` says what to try).
    """
    if not isinstance(history, dict) or "loss" not in history:
        return None, f"`history` should be what {fit_call} returned (or its .history dict)"
    try:
        losses = [float(v) for v in history["loss"]]
    except (TypeError, ValueError):
        return None, "history['loss'] should be a list of numbers, one per epoch"
    if len(losses) < 2:
        return None, f"train for at least 2 epochs to see the loss fall (got {len(losses)})"
    if not all(math.isfinite(v) for v in losses):
        return None, f"the loss became NaN or infinite: {nan_hint}"
    return losses, ""


@dataclass(frozen=True)
class Progress:
    """A training history that passed :func:`training_progress`'s checks."""

    losses: list[float]        # training loss per epoch
    accuracies: list[float]    # validation accuracy per epoch
    fell: str                  # "the loss fell (first -> last)", to start a message with


def training_progress(history: Any, *, fit_call: str, nan_hint: str, not_down_hint: str,
                      missing_validation: str,
                      curve: str = "validation accuracy") -> Progress | tuple[Any, str]:
    """The checks every "train it" task starts with, in order: the history is one
    (:func:`training_losses`), the training loss went down, and there is a validation
    accuracy per epoch.

    Returns a :class:`Progress` for the task to judge the accuracy, or the verdict
    ``(points, message)`` of the first check that failed: no credit when the loss did not
    fall, half when only the validation accuracy is missing.

    Args:
        not_down_hint: what to try when the loss did not fall.
        missing_validation: the end of "..., but the history has no ..." when ``fit``
            got no validation data, e.g. ``"validation curves: pass validation_data=...
            to fit"``.
        curve: what the task calls the validation accuracy ("test accuracy" when the
            test set is the validation data).
    """
    losses, problem = training_losses(history, fit_call=fit_call, nan_hint=nan_hint)
    if losses is None:
        return False, problem
    first, last = losses[0], losses[-1]
    if last >= first:
        return False, (f"the training loss did not go down ({first:.3f} -> {last:.3f}): "
                       f"{not_down_hint}")
    fell = f"the loss fell ({first:.3f} -> {last:.3f})"
    key = val_accuracy_key(history)
    if key is None:
        if "val_loss" in history:
            return 0.5, (f"{fell}, but the history has no {curve}: compile with "
                         "metrics=[\"accuracy\"]")
        return 0.5, f"{fell}, but the history has no {missing_validation}"
    try:
        accuracies = [float(v) for v in history[key]]
    except (TypeError, ValueError):
        accuracies = []
    if not accuracies:
        return 0.5, f"{fell}, but history[{key!r}] is not a list of numbers"
    return Progress(losses, accuracies, fell)


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.4g}"


def compare_arrays(got: Any, expected: np.ndarray, *, what: str, atol: float = 1e-5) -> tuple[bool, str]:
    """An array answer: check type, shape, then values, and say which went wrong."""
    if isinstance(got, Failure):
        return False, f"{what}: your function raised {got}"
    arr = np.asarray(got) if not isinstance(got, _Unsupported) else None
    if arr is None or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        return False, f"{what}: expected a numeric array, got {type(got).__name__}"
    if arr.shape != expected.shape:
        return False, f"{what}: shape {arr.shape}, expected {expected.shape}"
    bad = ~np.isclose(arr, expected, atol=atol, rtol=1e-5)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return False, (f"{what}: {int(bad.sum())} of {bad.size} values are wrong "
                       f"(first at index {where})")
    return True, f"{what}: correct"
