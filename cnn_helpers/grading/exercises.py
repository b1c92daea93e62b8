"""Tasks, verdicts and the notebook-facing :class:`Exercise`, with the registry of exercises.

In an exercise notebook::

    from cnn_helpers import grading
    ex = grading.exercise("01_convolution")
    ...
    output_size = 28
    ex.check("1.1", output_size)      # prints a pass, or what is wrong (never the answer)

A :class:`Task` names the variable that holds the student's answer and how to verify it.
``ex.check`` exports the answer to plain data (:mod:`cnn_helpers.grading.protocol`) and
verifies that data, exactly as the grader does, so the two always agree. It also *captures*
the answer at that moment: a later cell that reuses the variable does not change a task that
was already checked, and when the grader runs the notebook the capture is written at once, so
a crash or a time limit later in the notebook costs only the tasks not yet checked.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cnn_helpers.grading.protocol import (
    ExportError,
    Failure,
    Unsupported,
    export_answers,
    from_plain,
    load_exported,
)

__all__ = ["ERROR", "FAILED", "NOT_ATTEMPTED", "PASSED", "EXERCISES", "Exercise", "Result",
           "Task", "capture_to", "exercise", "verify"]

PASSED, FAILED, NOT_ATTEMPTED, ERROR = "pass", "fail", "not attempted", "error"

#: The registry: every exercise notebook (``exercises/<name>.ipynb``) and the module of its tasks.
EXERCISES: dict[str, str] = {
    "01_convolution": "cnn_helpers.grading.tasks.ex01_convolution",
    "02_stride_and_padding": "cnn_helpers.grading.tasks.ex02_stride_and_padding",
    "03_pooling": "cnn_helpers.grading.tasks.ex03_pooling",
    "04_beyond_2d": "cnn_helpers.grading.tasks.ex04_beyond_2d",
    "05_anatomy": "cnn_helpers.grading.tasks.ex05_anatomy",
    "06_regularization": "cnn_helpers.grading.tasks.ex06_regularization",
    "07_mnist": "cnn_helpers.grading.tasks.ex07_mnist",
    "08_cifar10": "cnn_helpers.grading.tasks.ex08_cifar10",
    "09_many_devices": "cnn_helpers.grading.tasks.ex09_many_devices",
}

#: Set by the grader in the submission's kernel (:func:`capture_to`): the folder where each
#: checked answer is captured (``<task id>.json`` + ``.npz``) as soon as its check has run.
_capture_folder: Path | None = None


def capture_to(folder: str | Path | None) -> None:
    """Write every answer checked from now on into ``folder`` (the grader's first cell)."""
    global _capture_folder
    _capture_folder = Path(folder) if folder is not None else None

#: Implementations a "write it yourself" function task may not call (see ``Task.forbid``).
DEFAULT_FORBID = ("cnn_helpers", "keras", "tensorflow", "jax", "torch", "scipy", "sklearn")
#: ... and NumPy's own 1-D convolution, for the "convolution from scratch" tasks.
NUMPY_ONLY = DEFAULT_FORBID + ("numpy:convolve", "numpy:correlate")
#: A model task asks for a model built layer by layer, not one of the book's ready-made ones.
MODEL_FORBID = ("cnn_helpers.models", "cnn_helpers.training")


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
            or numbers), drawn from :func:`~cnn_helpers.grading.protocol.probe_rng` so that
            the grader can draw fresh ones per submission.
        forbid: modules (``"keras"``, with everything under it) or single functions
            (``"numpy:convolve"``) the task asks the student not to use. A function task
            is run where they raise (default: the book's package, Keras, TensorFlow, JAX,
            PyTorch, SciPy); a value or model task is read from the source: an answer
            computed with one of them earns nothing (default for models: the book's
            ready-made models; for values: nothing). ``()``: anything goes.
    """

    id: str
    title: str
    answer: str
    verify: Callable[[Any], tuple[Any, str]]
    points: float = 1
    kind: str = "value"
    probes: Callable[[], Sequence[tuple[Any, ...]]] | None = None
    forbid: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("value", "function", "model"):
            raise ValueError(f"task {self.id}: kind must be 'value', 'function' or 'model'")
        if self.kind == "function" and self.probes is None:
            raise ValueError(f"task {self.id}: a function task needs probes")
        if self.forbid is None:
            self.forbid = {"function": DEFAULT_FORBID, "model": MODEL_FORBID}.get(self.kind, ())

    @property
    def tag(self) -> str:
        return f"task-{self.id}"


# --------------------------------------------------------------------------- verify


def _plain_activations(config: Any) -> Any:
    """``activation=tf.nn.relu`` (or ``keras.activations.relu``) serialises as a function
    reference that safe deserialisation refuses; the name says the same."""
    if isinstance(config, list):
        return [_plain_activations(c) for c in config]
    if not isinstance(config, dict):
        return config
    out = {k: _plain_activations(v) for k, v in config.items()}
    act = out.get("activation")
    if isinstance(act, dict) and act.get("class_name") == "function" and isinstance(act.get("config"), str):
        out["activation"] = act["config"]
    return out


class ModelNotRebuilt(ValueError):
    """A model that the grader cannot rebuild from its configuration (the message says why)."""


def _custom_classes(config: Any, found: set[str]) -> set[str]:
    """Registered names of the student's own classes (``"student>MyConv"``) in a config."""
    if isinstance(config, list):
        for c in config:
            _custom_classes(c, found)
    elif isinstance(config, dict):
        name = config.get("registered_name")
        if isinstance(name, str) and ">" in name and not name.startswith("cnn_helpers>"):
            found.add(name.split(">", 1)[1])
        for value in config.values():
            _custom_classes(value, found)
    return found


def rebuild_model(record: dict[str, Any], arrays: dict[str, np.ndarray], key: str) -> Any:
    """The Keras model of a ``kind="model"`` record (safe mode: no Lambda layers, no code).

    Raises :class:`ModelNotRebuilt` for a model made with classes of the student's own:
    their code does not travel with the answer (it could change the checks), so the task
    asks for Keras' built-in layers, and the notebook's check says so as the grader does.
    """
    import keras

    from cnn_helpers import augment  # noqa: F401  (registers RandomShift / RandomFlip)

    raw = json.loads(record["config"])
    custom = sorted(_custom_classes(raw, set()))
    if custom:
        raise ModelNotRebuilt(f"it uses a layer class of your own ({', '.join(custom[:3])}); "
                              "build it from Keras' built-in layers, which the grader can "
                              "rebuild from the model's configuration")
    config = _plain_activations(raw)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    n = int(record["weights"])
    model.set_weights([arrays[f"{key}.w{i}"] for i in range(n)])
    # how many optimizer steps it was trained for (0: never fitted), for training tasks
    model.trained_steps = max(int(record.get("trained_steps", 0) or 0), 0)
    return model


def _answer_of(task: Task, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    if task.kind == "function":
        outputs = record["outputs"]
        if not isinstance(outputs, list):
            raise ExportError("malformed probe outputs")
        return [from_plain(o["ok"], arrays) if "ok" in o else Failure(str(o["raised"])[:300])
                for o in outputs]
    if task.kind == "model":
        return rebuild_model(record, arrays, f"t{task.id}")
    return from_plain(record["value"], arrays)


def verify(task: Task, record: Any, arrays: dict[str, np.ndarray], *, hidden: bool = False) -> Result:
    """Turn an exported answer into a :class:`Result`; never raises.

    ``hidden``: an instructor's hidden check, whose exceptions are not described (their
    messages could reveal the check's code or constants).
    """

    def result(status: str, points: float, message: str) -> Result:
        return Result(task.id, task.title, status, points, task.points, message)

    state = record.get("state") if isinstance(record, dict) else None
    if state in ("missing", "ellipsis", "not-implemented"):
        return result(NOT_ATTEMPTED, 0, f"`{task.answer}` is not filled in yet")
    if state == "wrong-kind":
        wanted = {"function": "a function", "model": "a Keras model"}.get(task.kind, "a value")
        return result(FAILED, 0, f"`{task.answer}` should be {wanted}, but it is a "
                                 f"{str(record.get('type'))[:60]}")
    if state == "delegated":
        verb = {"function": "write", "model": "build"}.get(task.kind, "work out")
        return result(FAILED, 0, f"no credit: this task asks you to {verb} `{task.answer}` "
                                 f"yourself, but it uses {str(record.get('calls'))[:120]}")
    if state == "export-error":
        return result(ERROR, 0, f"could not read `{task.answer}`: {str(record.get('error'))[:300]}")
    if state != "ok":
        return result(ERROR, 0, f"the answer to task {task.id} was not recorded in a readable form")
    try:
        answer = _answer_of(task, record, arrays)
    except ModelNotRebuilt as exc:
        return result(FAILED, 0, f"`{task.answer}` cannot be graded: {exc}")
    except Exception as exc:
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return result(ERROR, 0, f"`{task.answer}` could not be read back ({detail[:200]})")
    if isinstance(answer, Unsupported):
        return result(FAILED, 0, f"`{task.answer}` should be a number or an array, "
                                 f"not a {answer.type_name}")
    try:
        verdict, message = task.verify(answer)
        fraction = float(verdict) if not isinstance(verdict, bool) else (1.0 if verdict else 0.0)
    except Exception as exc:
        if hidden:
            return result(ERROR, 0, "this check could not run on the answer")
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return result(ERROR, 0, f"the check could not run on this answer ({detail[:200]})")
    fraction = min(max(fraction, 0.0), 1.0)
    if fraction >= 1.0:
        return result(PASSED, task.points, str(message))
    return result(FAILED, round(task.points * fraction, 2), str(message))


def export_one(task: Task, answer: Any, folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Export one answer into ``folder`` and read it back, as the grader would."""
    folder = Path(folder)
    export_answers({task.answer: answer}, [task], folder / "a.json", folder / "a.npz")
    records, arrays = load_exported(folder / "a.json", folder / "a.npz")
    return records[task.id], arrays


def read_for_delegation(task: Task, record: dict[str, Any], sources: Sequence[str]) -> dict[str, Any]:
    """``record``, or a ``"delegated"`` record when the source shows that a value or model
    answer was computed with something ``task.forbid`` names (function tasks are checked
    when they run instead)."""
    if task.kind == "function" or record.get("state") != "ok" or not task.forbid:
        return record
    from cnn_helpers.grading.replay import static_delegation

    calls = static_delegation(sources, task.answer, task.forbid)
    return {"state": "delegated", "calls": ", ".join(calls[:3])} if calls else record


def _write_capture(folder: Path, task: Task, answer: Any) -> None:
    """Write ``<id>.json`` + ``<id>.npz`` into ``folder`` atomically (rename into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        export_answers({task.answer: answer}, [task], f"{tmp}/a.json", f"{tmp}/a.npz")
        os.replace(f"{tmp}/a.npz", folder / f"{task.id}.npz")
        os.replace(f"{tmp}/a.json", folder / f"{task.id}.json")


# --------------------------------------------------------------------------- notebook-facing


@dataclass
class Exercise:
    """The tasks of one exercise notebook, with instant checks for the student."""

    name: str
    tasks: list[Task]
    smoke: dict[str, Any] = field(default_factory=dict)
    captured: dict[str, Any] = field(default_factory=dict, repr=False)

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        known = ", ".join(t.id for t in self.tasks)
        raise KeyError(f"exercise {self.name} has no task {task_id!r} (tasks: {known})")

    def result(self, task_id: str, answer: Any, sources: Sequence[str] | None = None) -> Result:
        """The verdict on ``answer`` for one task, through the same export as the grader.

        ``sources``: the code run so far (default: the kernel's cell history), read as the
        grader reads the notebook for a value or model task computed with something the
        task forbids.
        """
        task = self.task(task_id)
        with tempfile.TemporaryDirectory() as tmp:
            record, arrays = export_one(task, answer, tmp)
        record = read_for_delegation(task, record, _kernel_sources() if sources is None else sources)
        return verify(task, record, arrays)

    def check(self, task_id: str, answer: Any) -> None:
        """Print whether ``answer`` solves the task, and if not, what is wrong; remember
        the answer as the one this task is graded on."""
        task = self.task(task_id)
        result = self.result(task_id, answer)
        self.captured[task_id] = answer
        if _capture_folder is not None and task.kind != "function":   # those are replayed
            try:
                _write_capture(_capture_folder, task, answer)
            except Exception as exc:  # never hide the verdict behind a capture problem
                print(f"(the grader could not record this answer: {type(exc).__name__})")
        print(_line(result))

    def summary(self, namespace: dict[str, Any]) -> None:
        """Print every task's verdict (pass ``globals()``): the answer as it was when its
        check ran, or, for a task never checked, what ``namespace`` holds now."""
        sources = _kernel_sources()
        results = []
        for task in self.tasks:
            if task.id in self.captured:
                results.append(self.result(task.id, self.captured[task.id], sources))
            elif task.answer in namespace:
                results.append(self.result(task.id, namespace[task.answer], sources))
            else:
                results.append(verify(task, {"state": "missing"}, {}))
        for r in results:
            print(_line(r))
        total = sum(r.points for r in results)
        print(f"score: {total:g} / {sum(r.max_points for r in results):g}")


def _kernel_sources() -> list[str]:
    """The cells this IPython kernel has run, in order (empty outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    history = shell.user_ns.get("In", []) if shell is not None else []
    return [s for s in history if isinstance(s, str)]


def _line(r: Result) -> str:
    mark = {PASSED: "PASS", FAILED: "NOT YET", NOT_ATTEMPTED: "TO DO", ERROR: "ERROR"}[r.status]
    points = f"{r.points:g}/{r.max_points:g} point{'s' if r.max_points != 1 else ''}"
    return f"[{mark}] Task {r.task}, {r.title} ({points}): {r.message}"


def exercise(name: str) -> Exercise:
    """The :class:`Exercise` for an exercise notebook, e.g. ``exercise("01_convolution")``."""
    if name not in EXERCISES:
        known = ", ".join(EXERCISES)
        raise KeyError(f"no exercise called {name!r} (exercises: {known})")
    module = importlib.import_module(EXERCISES[name])
    return Exercise(name, list(module.TASKS), dict(getattr(module, "SMOKE", {})))
