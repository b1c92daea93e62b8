"""Building blocks for task checks: numbers, arrays, probes, models and training histories.

Every check in :mod:`cnn_helpers.grading.tasks` is written with these, so that the same kind of
answer gets the same kind of message everywhere. The hint policy, for every exercise:

* a pass confirms without restating the value ("correct", "all 5 probes right"): the
  book's solution pages show the checks' messages;
* a miss names the *kind* of mistake (which way a number is off, which probe, which layer,
  which slip it looks like) and never narrows a number down to one value: no "off by 1",
  no "less than 5%" with a whole-number answer, no totals or counts ("1 too few") that
  leave one possibility, and no other number that, with the student's own value, gives
  the answer (the task's own numbers and formula constants such as the 1 of "F - 1" aside);
  the student's value is shown as given (1168.5 stays 1,168.5);
* a hint claims a cause only when the answer matches that slip; otherwise it says what
  differs (a shape, a probe) and restates the rule;
* partial credit reflects the share of the work that is right (the probes passed, the parts
  of a model that are right), never a consolation for an answer that is wrong in kind: a
  model whose weights were never set, a run that fixed nothing; probes that cannot show
  the slip an answer makes do not count as work done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from cnn_helpers.grading.protocol import Failure, Unsupported, probe_rng, use_probe_seed

__all__ = ["ACTIVATION_LAYERS", "Problems", "Progress", "accuracy_of", "activation_after",
           "arrays_agree", "held_out", "optimizer_settings",
           "as_float_array", "choice", "model_shapes", "partial_for",
           "capped_for_slip", "compare_arrays", "near", "number_answer",
           "output_layer_problems", "probe_rng", "probe_verdict", "shown_number",
           "training_losses", "training_progress", "use_probe_seed", "val_accuracy_key"]


def near(got: Any, expected: float, *, what: str, unit: str = "") -> tuple[bool, str]:
    """A numeric answer: pass if equal (to 1e-9 relative), else say which way it is off.

    A miss says "too large" or "too small" and nothing about the size of the gap: with
    the student's own number, "off by 1" or "less than 5%" would narrow a whole number
    down to one value. A pass says "correct" without repeating the number (the book
    shows the solution's checks). ``unit`` follows the student's value in a miss.
    """
    ok, message, value = number_answer(got, expected, what=what)
    if ok or value is None or not unit:
        return ok, message
    return ok, message.replace(" is too ", f"{unit} is too ", 1)


def number_answer(got: Any, expected: float, *, what: str) -> tuple[bool, str, float | None]:
    """A numeric answer: ``(passed, message, value)``.

    A pass says "correct"; a miss shows the student's value exactly as given (1168.5
    stays 1,168.5) and says only "too large" or "too small". ``value`` is the answer as
    a float (``None`` if it is not a number), so that a check can add a hint for the
    particular slip that the wrong value matches.
    """
    if isinstance(got, (bool, str, bytes)) or got is None:
        shown = "a string (remove the quotes)" if isinstance(got, str) else type(got).__name__
        return False, f"{what} should be a number, got {shown}", None
    if isinstance(got, np.ndarray) and got.size != 1:
        return False, f"{what} should be one number, got an array of shape {got.shape}", None
    try:
        value = float(got)
    except (TypeError, ValueError):
        return False, f"{what} should be a number, got {type(got).__name__}", None
    if not math.isfinite(value):
        return False, f"{what} should be a finite number, got {value}", None
    if math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
        return True, "correct", value
    return False, f"{shown_number(value)} is too {'large' if value > expected else 'small'}", value


def shown_number(value: float) -> str:
    """A student's number as they gave it, with thousands separators: 1168 -> "1,168",
    1168.5 -> "1,168.5" (never rounded to a neighbouring whole number)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.15g}"


def probe_verdict(probes: Sequence[tuple[Any, ...]], outputs: Sequence[Any],
                  expected_fn: Callable[..., np.ndarray], describe: Callable[..., str],
                  diagnose: Callable[..., str] | None = None,
                  done: str = "right", slip_credit: float = 0.5) -> tuple[Any, str]:
    """Verdict on a function task: compare its output on every probe with ``expected_fn``.

    Partial credit is the share of probes right. For a wrong output, ``diagnose(*args,
    got=..., expected=...)`` may name the mistake it looks like (or return ""); each hint is
    given once, and at most two problems are reported. When every wrong probe shows the
    same named slip, the function *is* that slip, and the probes that happen not to show
    it are no evidence of work: the credit is at most ``slip_credit``.
    """
    passed, problems, hints_given, hints = 0, [], set(), []
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
        hints.append(hint)
        if hint in hints_given:
            continue                       # the same mistake, already explained
        hints_given.add(hint)
        problems.append(f"{message}: {hint}" if hint else message)
    if passed == len(probes):
        return True, f"all {len(probes)} probes {done}"
    fraction = capped_for_slip(passed / len(probes), hints, slip_credit)
    return fraction, f"{passed} of {len(probes)} probes right; " + "; ".join(problems[:2])


def capped_for_slip(fraction: float, hints: Sequence[str], cap: float = 0.5) -> float:
    """The credit for a function whose wrong probes got ``hints`` (one per wrong probe,
    "" where no slip was recognised): at most ``cap`` when they all name the same slip,
    since the probes that cannot show that slip are no evidence of work."""
    if hints and hints[0] and all(h == hints[0] for h in hints):
        return min(fraction, cap)
    return fraction


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
    """What :func:`training_progress` read from a training history."""

    losses: list[float] = field(default_factory=list)      # training loss per epoch
    accuracies: list[float] = field(default_factory=list)  # validation accuracy per epoch
    fell: str = ""             # "the loss fell (first -> last)", to start a message with
    #: the verdict ``(points, message)`` of the first check that failed, or None
    shortfall: tuple[Any, str] | None = None


def training_progress(history: Any, *, fit_call: str, nan_hint: str, not_down_hint: str,
                      missing_validation: str,
                      curve: str = "validation accuracy") -> Progress:
    """The checks every "train it" task starts with, in order: the history is one
    (:func:`training_losses`), the training loss went down, and there is a validation
    accuracy per epoch.

    Returns a :class:`Progress`: the curves for the task to judge the accuracy, or, in
    ``shortfall``, the verdict ``(points, message)`` of the first check that failed: no
    credit when the loss did not fall, half when only the validation accuracy is missing.

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
        return Progress(shortfall=(False, problem))
    first, last = losses[0], losses[-1]
    if last >= first:
        return Progress(shortfall=(False, f"the training loss did not go down "
                                          f"({first:.3f} -> {last:.3f}): {not_down_hint}"))
    fell = f"the loss fell ({first:.3f} -> {last:.3f})"
    key = val_accuracy_key(history)
    if key is None:
        if "val_loss" in history:
            return Progress(shortfall=(0.5, f"{fell}, but the history has no {curve}: "
                                            "compile with metrics=[\"accuracy\"]"))
        return Progress(shortfall=(0.5, f"{fell}, but the history has no {missing_validation}"))
    try:
        accuracies = [float(v) for v in history[key]]
    except (TypeError, ValueError):
        accuracies = []
    if not accuracies:
        return Progress(shortfall=(0.5, f"{fell}, but history[{key!r}] is not a list of numbers"))
    return Progress(losses, accuracies, fell)



def compare_arrays(got: Any, expected: np.ndarray, *, what: str, atol: float = 1e-5) -> tuple[bool, str]:
    """An array answer: check type, shape, then values, and say which went wrong."""
    if isinstance(got, Failure):
        return False, f"{what}: your function raised {got}"
    arr = np.asarray(got) if not isinstance(got, Unsupported) else None
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


# --------------------------------------------------------------------------- idioms shared by the tasks


def partial_for(problems: Any) -> float:
    """Partial credit for an answer of the right kind and structure with details wrong:
    half for one problem, a quarter for more (``problems``: anything with a length)."""
    return 0.5 if len(problems) == 1 else 0.25


class Problems:
    """What is wrong with an answer, each kind of problem reported once, in order.

    ``add(key, text)`` keeps the first text per key; ``text()`` joins the first ``limit``.
    """

    def __init__(self, limit: int = 2) -> None:
        self.limit = limit
        self._items: dict[str, str] = {}

    def add(self, key: str, text: str) -> None:
        self._items.setdefault(key, text)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def messages(self) -> list[str]:
        return list(self._items.values())

    def text(self, sep: str = "; ") -> str:
        return sep.join(self.messages()[:self.limit])


def arrays_agree(got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Do ``got`` and ``expected`` have the same shape and values (within tolerance)?
    False, never an exception, for anything that is not a numeric array."""
    a, b = as_float_array(got), as_float_array(expected)
    return a is not None and b is not None and a.shape == b.shape and bool(
        np.allclose(a, b, atol=atol, rtol=rtol))


def model_shapes(model: Any, expected_input: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], str]:
    """``(input shape, output shape, "")`` of a Keras model, or ``((), (), message)`` when it
    has no input shape or not ``expected_input`` (e.g. ``(None, 28, 28, 1)``): the first
    check of every model task."""
    start = f"keras.Input(shape={tuple(expected_input[1:])})"
    try:
        in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        return (), (), f"the model has no input shape: start it with {start}"
    if in_shape != tuple(expected_input):
        return (), (), f"the input should be {tuple(expected_input)}, it is {in_shape}: start the model with {start}"
    return in_shape, out_shape, ""


def choice(got: Any, right: str, options: Sequence[str], *, why_wrong: dict[str, str] | None = None,
           what: str = "the answer") -> tuple[bool, str]:
    """A multiple-choice answer: one letter of ``options`` (case and spaces ignored).

    A wrong choice gets the reason it is wrong (``why_wrong[letter]``), which names the
    misconception without saying which option is right.
    """
    if not isinstance(got, str) or got.strip().lower() not in [o.lower() for o in options]:
        return False, f"{what} should be one of the letters {', '.join(repr(o) for o in options)}"
    letter = got.strip().lower()
    if letter == right.lower():
        return True, "correct"
    return False, (why_wrong or {}).get(letter, f"{letter!r} is not it: read the options again")


# --------------------------------------------------------------------------- training tasks


_HELD_OUT: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def held_out(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` test images and labels that the check chooses: a stratified subset of the
    test set, drawn with the probes' seed (fresh per submission at grading time), as
    uint8 images ``(n, 28, 28)`` or ``(n, 32, 32, 3)`` and integer labels ``(n,)``."""
    from cnn_helpers import datasets
    from cnn_helpers.grading import protocol

    key = (dataset, n, protocol._probe_seed)
    if key not in _HELD_OUT:
        loader = {"mnist": datasets.load_mnist, "cifar10": datasets.load_cifar10}[dataset]
        _, (x, y) = loader(n_train=1, n_test=None)
        y = np.asarray(y).reshape(-1)
        pick = datasets.stratified_indices(y, n, seed=int(protocol._probe_seed) + 1)
        _HELD_OUT[key] = (np.asarray(x)[pick], y[pick])
    return _HELD_OUT[key]


def accuracy_of(model: Any, x: np.ndarray, y: np.ndarray, *, batch_size: int = 250) -> float | None:
    """The share of ``x`` that ``model`` classifies as ``y`` (None when it cannot run on
    ``x``: wrong input shape, or outputs that are not one score per class)."""
    try:
        scores = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                                 for i in range(0, len(x), batch_size)])
    except Exception:  # the model cannot take these inputs: the check says what it expected
        return None
    if scores.ndim != 2 or scores.shape[0] != len(y):
        return None
    return float(np.mean(scores.argmax(axis=1) == np.asarray(y).reshape(-1)))


def optimizer_settings(model: Any) -> dict[str, Any] | None:
    """The compiled optimizer's class name and config (``{"class_name": "Adam",
    "learning_rate": 0.001, ...}``), or None for a model that was never compiled."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        config = dict(optimizer.get_config())
    except Exception:  # an optimizer without a config is not one a task asks for
        return None
    config["class_name"] = type(optimizer).__name__
    return config
