"""Exercise 5: Anatomy of a CNN (exercises/05_anatomy.ipynb).

Expected values are computed here (a float64 NumPy softmax and cross-entropy, the
parameter counts and the input gradient with :mod:`cnn_helpers.ops`), never typed in.
Failure messages say what is wrong and which typical slip the answer looks like, never the
expected number. Task 5.6 is graded on the trained model itself, scored on test images
the check chooses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnn_helpers import ops
from cnn_helpers.grading import (
    Failure,
    Problems,
    Task,
    activation_after,
    arrays_agree,
    as_float_array,
    choice,
    model_shapes,
    partial_for,
    probe_rng,
    probe_verdict,
)
from cnn_helpers.grading.checks import (
    accuracy_of,
    capped_for_slip,
    held_out,
    optimizer_settings,
    shown_number,
)

SMOKE = {"N_TRAIN": 3000, "N_TEST": 2000, "EPOCHS": 3}

#: Accuracy on the check's own test images that task 5.6 asks for at the grader's smoke
#: size (3,000 training images, 3 epochs). The reference model reaches about 0.93 there,
#: and beyond 0.99 with all 60,000 images.
ACCURACY_FLOOR = 0.85
FULL_SIZE_GOAL = 0.99
#: MNIST test images the check of task 5.6 scores the model on (drawn per submission).
HELD_OUT_56 = 3000
#: What a parameter count "worked out by hand" may not be computed with (task 5.3).
BY_HAND = ("cnn_helpers", "keras", "tensorflow", "jax", "torch")


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The numerically stable softmax of the chapter (section 5.4), in float64."""
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _has_nan(got: Any) -> bool:
    if isinstance(got, Failure):
        return False
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    return bool(arr.size) and not bool(np.all(np.isfinite(arr)))


# --------------------------------------------------------------------------- 5.1
# softmax(x): a 1-D vector of scores, or a 2-D batch with one example per row.


def _softmax_probes() -> list[tuple[np.ndarray]]:
    rng = probe_rng(501)
    return [(np.array([1.0, 2.0, 3.0]),),
            (rng.normal(0.0, 2.0, size=10),),
            (np.array([1000.0, 1001.0, 1002.0]),),             # e^1000 overflows
            (np.array([-1000.0, -999.0, -1001.0, -1000.5]),),  # e^-1000 underflows to 0
            (rng.normal(0.0, 3.0, size=(4, 10)),),              # a batch
            (np.array([[1000.0, 1001.0, 1002.0],               # rows of very
                       [1.0, 2.0, 3.0],                         # different size: one
                       [-5.0, 0.0, 5.0]]),),                    # maximum is not enough
            (np.array([[0.5, 0.5, 0.5, 0.5, 0.5],
                       [3.0, -1.0, 0.0, 2.0, 1.0]]),)]


def _global_max_softmax(x: np.ndarray) -> np.ndarray:
    """The slip of subtracting one maximum for the whole batch (rows far below it
    underflow to 0 / 0 = nan)."""
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max())
        return e / e.sum(axis=-1, keepdims=True)


def _same_nans(got: Any, other: np.ndarray) -> bool:
    """Does ``got`` have its nan (or inf) where ``other`` has, and ``other``'s finite
    values elsewhere?"""
    arr = np.asarray(got, dtype=float)
    bad = ~np.isfinite(other)
    if arr.shape != other.shape or not np.array_equal(~np.isfinite(arr), bad):
        return False
    return bool(np.allclose(arr[~bad], other[~bad], atol=1e-6))


def _softmax_hint(got: Any, x: np.ndarray, expected: np.ndarray) -> str:
    """The typical mistake that ``got`` looks like, or ''."""
    if isinstance(got, Failure):
        if "overflow" in got.error.lower():
            return "e to a large power overflows: subtract the maximum score first"
        return ""
    if _has_nan(got):
        if x.ndim == 2 and _same_nans(got, _global_max_softmax(x)):
            return ("nan for a batch whose rows have very different sizes: subtract "
                    "each row's own maximum (max(axis=-1, keepdims=True)), not one "
                    "maximum for the whole batch")
        return ("the output contains nan or inf: np.exp of a score like 1000 is inf "
                "(and of -1000 it is 0, so the sum is 0); subtract the maximum score "
                "before np.exp, which does not change the result")
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return ""
    if arr.shape != expected.shape:
        if arr.ndim == 0 or arr.size == 1:
            return "return one probability per score (same shape as x), not one number"
        if x.ndim == 2 and arr.shape == (x.shape[0],):
            return "return the whole probability vector of each row, not one number"
        return "the output should have the same shape as x"
    if x.ndim == 2 and np.allclose(arr.sum(axis=0), 1.0, atol=1e-6):
        return ("each column sums to 1: for a batch, normalize each row (one example "
                "per row): sum with axis=-1, keepdims=True")
    if x.ndim == 2 and np.isclose(arr.sum(), 1.0, atol=1e-6):
        return ("the whole batch sums to 1: normalize each row on its own (sum with "
                "axis=-1, keepdims=True)")
    with np.errstate(all="ignore"):
        unnormalized = [np.exp(x - x.max(axis=-1, keepdims=True)), np.exp(x)]
        plain = x / x.sum(axis=-1, keepdims=True)
    if any(arrays_agree(arr, e) for e in unnormalized):
        return "the values do not sum to 1: divide by the sum of the exponentials"
    if arrays_agree(arr, plain):
        return "apply np.exp to the scores before normalizing"
    sums = arr.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        return "each probability vector should sum to 1"
    if np.any(arr < 0):
        return "probabilities cannot be negative"
    return ""


def _softmax_check(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _softmax_probes(), outputs, _softmax,
        lambda x: f"{'batch' if x.ndim == 2 else 'vector'} of shape {x.shape}",
        lambda x, got, expected: _softmax_hint(got, x, expected),
        done="right, including scores like 1000 and batches")


# --------------------------------------------------------------------------- 5.2
# cross_entropy(y_true, y_pred): one-hot (N, C) and probabilities (N, C) -> mean loss.


def _cross_entropy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the examples of -log(probability of the true class), in float64."""
    p_true = np.sum(np.asarray(y_true, float) * np.asarray(y_pred, float), axis=-1)
    return float(np.mean(-np.log(p_true)))


def _ce_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = probe_rng(502)

    def batch(n: int, c: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, c, size=n)
        return np.eye(c)[labels], _softmax(rng.normal(0.0, spread, size=(n, c)))

    boat = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    nine = np.array([[0.15 / 8] * 8 + [0.05, 0.80]])          # "80% sure it's a nine"
    return [(np.eye(10)[[9]], nine),
            (boat, np.array([[0.2, 0.4, 0.1, 0.3], [0.1, 0.1, 0.7, 0.1]])),
            batch(6, 10, 1.5),
            batch(5, 3, 1.0),
            (np.eye(4)[[0, 2, 3]],                                     # exact zeros on
             np.array([[0.7, 0.3, 0.0, 0.0],                           # wrong classes
                       [0.0, 0.0, 1.0, 0.0],
                       [0.1, 0.0, 0.2, 0.7]]))]


def _ce_hint(got: Any, y_true: np.ndarray, y_pred: np.ndarray, expected: float) -> str:
    if isinstance(got, Failure):
        return ""
    if _has_nan(got):
        if np.any(y_pred == 0):
            return ("nan when a wrong class gets probability exactly 0: 0 x log(0) "
                    "is nan in NumPy, but that term should count as 0; take the log "
                    "of the true class's probability only, e.g. np.sum(y_true * "
                    "y_pred, axis=-1) first")
        return "the result is nan or inf: take the log of y_pred, not of y_true"
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return ""
    n, c = y_true.shape
    per_example = -np.log(np.sum(y_true * y_pred, axis=-1))
    if arr.shape == (n,) and n > 1 and np.allclose(arr, per_example, atol=1e-6):
        return ("that is one loss per example; return one number, the mean over the "
                "batch")
    if arr.size != 1:
        return f"return one number (the mean loss), not an array of shape {arr.shape}"
    value = float(arr.reshape(()))
    variants = [
        (-expected, "the sign is wrong: the cross-entropy is -sum(y' log y), a "
                    "positive number"),
        (n * expected, "that is the sum over the batch; average over the examples "
                       "(as Keras does)"),
        (expected / math.log(10), "use the natural logarithm (np.log), not log10"),
        (expected / math.log(2), "use the natural logarithm (np.log), not log2"),
        (expected / c, "that is the mean over all N x C entries; sum over the classes, "
                       "then average over the examples"),
    ]
    for wrong, hint in variants:
        if n == 1 and hint.startswith("that is the sum"):
            continue
        if math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-9):
            return hint
    return ""


def _ce_check(outputs: list[Any]) -> tuple[Any, str]:
    probes = _ce_probes()
    passed = 0
    problems: list[str] = []
    hints: list[str] = []                 # one per wrong probe, "" if not recognised
    for n, ((y_true, y_pred), got) in enumerate(zip(probes, outputs), start=1):
        expected = _cross_entropy(y_true, y_pred)
        n_ex = y_true.shape[0]
        what = (f"probe {n} ({n_ex} example{'s' if n_ex > 1 else ''}, "
                f"{y_true.shape[1]} classes)")
        if isinstance(got, Failure):
            ok, message = False, f"{what}: your function raised {got}"
        else:
            try:
                arr = np.asarray(got, dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.size != 1:
                ok, message = False, f"{what}: not one number"
            elif _has_nan(arr):
                ok, message = False, f"{what}: got {float(arr.reshape(-1)[0])}"
            else:
                ok = math.isclose(float(arr.reshape(-1)[0]), expected, rel_tol=1e-5,
                                  abs_tol=1e-7)
                message = f"{what}: wrong value"
        if ok:
            passed += 1
            continue
        hint = _ce_hint(got, y_true, y_pred, expected)
        hints.append(hint)
        line = f"{message}: {hint}" if hint else message
        if len(problems) < 2 and not any(hint and hint in p for p in problems):
            problems.append(line)
    if passed == len(probes):
        return True, f"all {len(probes)} probes match Keras' CategoricalCrossentropy"
    return capped_for_slip(passed / len(probes), hints), (
        f"{passed} of {len(probes)} probes right; " + "; ".join(problems))


# --------------------------------------------------------------------------- 5.3
# Trainable parameters of the Keras tutorial's model (seed 000):
# 28x28x1 -> Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Conv2D(64, 3x3, relu)
#         -> MaxPooling2D(2x2) -> Flatten -> Dense(64, relu) -> Dense(10, softmax)

TUTORIAL = {"filters": (32, 64), "kernel": 3, "hidden": 64, "classes": 10, "side": 28}


def _tutorial_params(*, shrink: bool = True, round_up: bool = False, bias: bool = True,
                     depth: bool = True, pools: bool = True) -> dict[str, int]:
    """Parameters per layer of the tutorial's model, with switches for typical slips."""
    f1, f2 = TUTORIAL["filters"]
    k, side = TUTORIAL["kernel"], TUTORIAL["side"]
    for _ in range(2):
        if shrink:
            side = ops.conv_output_size(side, k)
        if pools:
            side = math.ceil(side / 2) if round_up else ops.conv_output_size(side, 2, 2)
    flat = side * side * f2
    return {"conv1": ops.conv_params(1, k, f1, use_bias=bias),
            "conv2": ops.conv_params(f1 if depth else 1, k, f2, use_bias=bias),
            "dense1": ops.dense_params(flat, TUTORIAL["hidden"], use_bias=bias),
            "dense2": ops.dense_params(TUTORIAL["hidden"], TUTORIAL["classes"],
                                       use_bias=bias)}


def _tutorial_count(answer: Any) -> tuple[Any, str]:
    if isinstance(answer, bool) or isinstance(answer, (list, tuple, dict, str)):
        return False, f"`n_params` should be one number, not a {type(answer).__name__}"
    try:
        value = float(np.asarray(answer).reshape(()))
    except (TypeError, ValueError):
        return False, f"`n_params` should be a number, not a {type(answer).__name__}"
    if not math.isfinite(value):
        return False, "`n_params` should be a finite number"
    right = _tutorial_params()
    expected = sum(right.values())
    if value == expected:
        return True, "correct"
    shown = shown_number(value)
    message = f"{shown} is too {'large' if value > expected else 'small'}"
    slips = [
        (sum(_tutorial_params(shrink=False).values()),
         "a 3x3 convolution without padding shrinks each map (28 -> 26, not 28): "
         "Flatten gets fewer values"),
        (sum(_tutorial_params(round_up=True).values()),
         "2x2 pooling of an odd-sized map rounds down: the last row and column are "
         "dropped"),
        (sum(_tutorial_params(pools=False).values()),
         "the two pooling layers halve the maps before Flatten"),
        (sum(_tutorial_params(bias=False).values()),
         "every filter and every dense unit also has a bias"),
        (sum(_tutorial_params(depth=False).values()),
         "each filter of the second convolution spans all 32 maps of the first: "
         "(D x 3 x 3 + 1) x 64 with D = 32"),
        (right["dense1"] + right["dense2"],
         "the convolutional layers have parameters too"),
        (right["conv1"] + right["conv2"],
         "the Dense layers have parameters too (most of them)"),
        (expected - right["dense2"], "the output layer Dense(10) has parameters too"),
        (expected - right["dense1"], "the hidden Dense(64) layer has parameters too"),
    ]
    for wrong, hint in slips:
        if value == wrong:
            return False, f"{message}; {hint}"
    if value < 10_000:
        return False, (f"{message}; that looks like the size of one layer's output; "
                       "add up the weights and biases of all layers")
    return False, (f"{message}; follow the size through the layers (a 3x3 convolution "
                   "gives I - 2, 2x2 pooling halves, rounding down), then add "
                   "(D x 3 x 3 + 1) x M per Conv2D and (inputs + 1) x units per Dense")


# --------------------------------------------------------------------------- models

#: Layers that change neither shapes nor weights, skipped when layer kinds are compared.
PASSIVE = {"InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
           "Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout",
           "BatchNormalization"}
DROPOUT_LAYERS = {"Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout"}
MNIST_INPUT = (None, 28, 28, 1)

Row = tuple[Any, tuple[Any, ...], tuple[Any, ...]]


def _rows(model: Any) -> list[Row]:
    """(layer, in shape, out shape) of each layer of a model whose input shape is known
    (a rebuilt model has no symbolic outputs: the shapes are followed here)."""
    shape = tuple(model.input_shape)
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        out = tuple(layer.compute_output_shape(shape))
        rows.append((layer, shape, out))
        shape = out
    return rows


def _hw(shape: tuple[Any, ...]) -> str:
    return f"{shape[1]}x{shape[2]}"


# --------------------------------------------------------------------------- 5.4
# LeNet as in section 5.8 (ESIB slides, seed 004).

LENET = {"filters": (20, 50), "kernel": 5, "pool": 2, "hidden": 500, "classes": 10}
LENET_KINDS = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
               "Dense"]


def _lenet_expected() -> tuple[list[tuple[int, ...]], int]:
    """Output shape (without the batch axis) of each of LENET_KINDS, and the total."""
    side, depth, total = 28, 1, 0
    shapes: list[tuple[int, ...]] = []
    k, p = LENET["kernel"], LENET["pool"]
    for filters in LENET["filters"]:
        side = ops.conv_output_size(side, k, 1, "same")
        total += ops.conv_params(depth, k, filters)
        depth = filters
        shapes.append((side, side, depth))
        side = ops.conv_output_size(side, p, p)
        shapes.append((side, side, depth))
    flat = side * side * depth
    shapes.append((flat,))
    total += ops.dense_params(flat, LENET["hidden"])
    shapes.append((LENET["hidden"],))
    total += ops.dense_params(LENET["hidden"], LENET["classes"])
    shapes.append((LENET["classes"],))
    return shapes, total


def _lenet_conv(problems: Problems, name: str, row: Row, activation: str) -> None:
    """What is wrong with LeNet's convolution ``name`` (conv1 or conv2)."""
    layer, before, after = row
    wanted_filters = LENET["filters"][name == "conv2"]
    k = LENET["kernel"]
    if tuple(layer.kernel_size) != (k, k):
        fh, fw = layer.kernel_size
        problems.add("kernel", f"{name} has {fh}x{fw} filters; LeNet's are {k}x{k}")
    if layer.filters != wanted_filters:
        problems.add("filters", (f"{name} has {layer.filters} filters; the slides' LeNet "
                                 f"has {wanted_filters}"))
    if tuple(layer.strides) != (1, 1):
        problems.add("strides", f"{name} has strides {layer.strides}; keep the default "
                                "stride 1")
    elif after[1:3] != before[1:3] and tuple(layer.kernel_size) == (k, k):
        problems.add("padding", (
            f"{name} turns {_hw(before)} maps into {_hw(after)}: with padding=\"same\" a "
            "5x5 convolution keeps the size (the slides' LeNet stays 28 x 28 after "
            "conv1)"))
    if activation != "relu":
        problems.add("relu", f"{name} has no ReLU: give both convolutions "
                             "activation=\"relu\"")


def _lenet_dense(problems: Problems, row: Row, activation: str) -> None:
    """What is wrong with one of LeNet's Dense layers (the hidden one or the output)."""
    layer, _, after = row
    if tuple(after[1:]) == (LENET["classes"],):
        if activation != "softmax":
            problems.add("softmax", (
                "the output layer has no softmax (a missing activation): its 10 outputs "
                "are scores, not probabilities that sum to 1; use activation=\"softmax\""))
        return
    if layer.units != LENET["hidden"]:
        problems.add("units", (f"the hidden Dense layer has {layer.units} units; "
                               f"LeNet's has {LENET['hidden']}"))
    if activation != "relu":
        problems.add("relu_dense", "the hidden Dense layer should use activation=\"relu\"")


def _lenet_problems(rows: list[Row]) -> Problems:
    """What is wrong with a model whose layers are LeNet's kinds, in LeNet's order."""
    problems = Problems(limit=len(LENET_KINDS) * 3)
    layers = [layer for layer, _, _ in rows]
    names = {"Conv2D": iter(["conv1", "conv2"]), "MaxPooling2D": iter(["pool1", "pool2"])}
    for i, row in enumerate(rows):
        layer, before, after = row
        kind = type(layer).__name__
        if kind == "Conv2D":
            _lenet_conv(problems, next(names[kind]), row, activation_after(layers, i))
        elif kind == "MaxPooling2D":
            name = next(names[kind])
            if tuple(after[1:3]) != (before[1] // 2, before[2] // 2):
                problems.add("pool", (f"{name} turns {_hw(before)} maps into "
                                      f"{_hw(after)}; 2x2 max pooling with stride 2 "
                                      "should halve them"))
        elif kind == "Dense":
            _lenet_dense(problems, row, activation_after(layers, i))
    return problems


def _lenet_check(model: Any) -> tuple[Any, str]:
    _, out_shape, problem = model_shapes(model, MNIST_INPUT)
    if problem:
        return False, problem
    rows = _rows(model)
    kinds = [type(layer).__name__ for layer, _, _ in rows
             if type(layer).__name__ not in PASSIVE]
    if kinds != LENET_KINDS:
        return False, ("LeNet's layers are Conv2D, MaxPooling2D, Conv2D, "
                       "MaxPooling2D, Flatten, Dense, Dense; yours are "
                       + ", ".join(kinds or ["none"]))
    if out_shape != (None, 10):
        return False, f"the output should be (None, 10), it is {out_shape}"
    problems = _lenet_problems(rows)
    if not problems and model.count_params() != _lenet_expected()[1]:
        problems.add("params", (f"the shapes are right but the model has "
                                f"{model.count_params():,} parameters: does every layer "
                                "have its biases?"))
    if problems:
        return partial_for(problems), "right layer types and order, but " + problems.text()
    return True, "right: LeNet's layers, output shapes and parameter count"


# --------------------------------------------------------------------------- 5.5
# mnist_model: Conv2D and MaxPooling2D, at least one Dropout, Dense(10, softmax).


def _mnist_model_shape(model: Any) -> tuple[list[Any], str]:
    """The layers of a classifier of 28x28x1 digits with convolutions and max pooling
    (input layer left out), or a message saying why it is not one."""
    _, out_shape, problem = model_shapes(model, MNIST_INPUT)
    if problem:
        return [], problem
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    kinds = [type(layer).__name__ for layer in layers]
    if "Conv2D" not in kinds:
        return [], "the model should use convolutional layers (Conv2D)"
    if "MaxPooling2D" not in kinds:
        return [], "the model should use max pooling layers (MaxPooling2D)"
    if out_shape != (None, 10):
        hint = ""
        if len(out_shape) == 4:
            hint = (": a Dense layer on a volume works on every position separately; "
                    "put Flatten() (or GlobalAveragePooling2D()) before the Dense layers")
        return [], (f"the output should be (None, 10), one probability per digit; it is "
                    f"{out_shape}{hint}")
    return layers, ""


def _dropout_problem(layers: list[Any], kinds: list[str], last: int) -> str:
    """What is wrong with the model's Dropout layers ("" if nothing)."""
    dropouts = [i for i, k in enumerate(kinds) if k in DROPOUT_LAYERS]
    useful = [i for i in dropouts if float(getattr(layers[i], "rate", 0.0)) > 0
              and i < last]
    if any(i > last for i in dropouts):
        return ("a Dropout layer comes after the output layer: during training it would "
                "set some of the 10 probabilities to 0; put Dropout before the last Dense "
                "layer")
    if not dropouts:
        return ("the model has no Dropout layer: add at least one, e.g. "
                "layers.Dropout(0.5) before a Dense layer")
    if not useful:
        return ("the Dropout rate is 0, so it drops nothing: give it a rate between 0 "
                "and 1, e.g. 0.5")
    return ""


def _mnist_model_problems(layers: list[Any]) -> Problems:
    problems = Problems(limit=5)
    kinds = [type(layer).__name__ for layer in layers]
    last = [i for i, k in enumerate(kinds) if k not in PASSIVE][-1]
    if kinds[last] != "Dense":
        problems.add("last", f"the last layer with weights should be Dense(10), not "
                             f"{kinds[last]}")
    elif activation_after(layers, last) != "softmax":
        problems.add("softmax", "the output layer has no softmax (a missing activation): "
                                "use Dense(10, activation=\"softmax\") so that the outputs "
                                "are probabilities")
    dropout = _dropout_problem(layers, kinds, last)
    if dropout:
        problems.add("dropout", dropout)
    for i, kind in enumerate(kinds):
        if i != last and kind in ("Conv2D", "Dense") \
                and activation_after(layers, i) == "linear":
            what = "Conv2D" if kind == "Conv2D" else "hidden Dense"
            problems.add("relu", (f"a {what} layer has no activation: without a "
                                  "non-linearity, stacked layers collapse into one linear "
                                  "layer (section 5.2); use activation=\"relu\""))
    return problems


def _mnist_model_check(model: Any) -> tuple[Any, str]:
    layers, problem = _mnist_model_shape(model)
    if problem:
        return False, problem
    problems = _mnist_model_problems(layers)
    if problems:
        return partial_for(problems), problems.text()
    return True, ("right: convolutions with ReLU, max pooling, Dropout before the "
                  "output, and a softmax output")


# --------------------------------------------------------------------------- 5.6
# mnist_model, trained: scored on MNIST test digits that the check chooses.

#: Optimizers task 5.6 allows: Adam (asked for) and RMSprop (the tutorial's choice).
OPTIMIZERS_56 = {"Adam", "AdamW", "RMSprop"}


def _untrained_problem(model: Any) -> str:
    """Why ``model`` cannot be task 5.6's trained classifier ("" if it can be)."""
    _, problem = _mnist_model_shape(model)
    if problem:
        return problem
    if not getattr(model, "trained_steps", 0):
        return ("`mnist_model` has not been trained: compile it and call "
                "mnist_model.fit(...) in this task's cell (the check scores the trained "
                "model itself, on digits of its own choosing)")
    return ""


def _optimizer_problem(model: Any) -> str:
    """What is wrong with the compiled optimizer ("" if it is one the task allows or,
    for a model rebuilt without it, unknown)."""
    settings = optimizer_settings(model)
    if settings is None or settings["class_name"] in OPTIMIZERS_56:
        return ""
    return (f"the model was compiled with {settings['class_name']}: this task asks for "
            "Adam (or RMSprop, the tutorial's choice)")


def _trained_check(model: Any) -> tuple[Any, str]:
    problem = _untrained_problem(model)
    if problem:
        return False, problem
    x, y = held_out("mnist", HELD_OUT_56)
    accuracy = accuracy_of(model, x[..., np.newaxis].astype("float32") / 255, y)
    if accuracy is None:
        return False, ("the model cannot classify the check's digits, 28x28x1 images "
                       "scaled to [0, 1]")
    result = f"accuracy {accuracy:.4f} on {HELD_OUT_56:,} test digits the check chose"
    advice = (f"the check asks for {ACCURACY_FLOOR} at its small size "
              f"({SMOKE['N_TRAIN']:,} images, {SMOKE['EPOCHS']} epochs); are the pixels "
              "scaled to [0, 1], and is it Adam or RMSprop with its default learning "
              "rate, a batch size of about 64, and Dropout rates of at most 0.5?")
    if accuracy < ACCURACY_FLOOR:
        if accuracy < 0.2:
            return False, f"{result}: no better than guessing; {advice}"
        return 0.5, f"{result}, too low: {advice}"
    optimizer = _optimizer_problem(model)
    if optimizer:
        return 0.5, f"{result}, but {optimizer}"
    if accuracy >= FULL_SIZE_GOAL:
        return True, f"{result}: beyond 99%"
    return True, (f"{result} (this check asks for {ACCURACY_FLOOR}; the goal with all "
                  "60,000 images is beyond 0.99)")


# --------------------------------------------------------------------------- 5.7
# conv2d_input_grad(grad_out, kernel): dL/dx of a stride-1 "valid" single-channel
# convolution, from dL/dy (H_o, W_o) and the kernel (F_h, F_w) (the backward pass of
# section 5.7, which moved here from chapter 4 with its task and probes).


def _grad_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = probe_rng(406)
    return [(rng.normal(size=(4, 5)), rng.normal(size=(3, 3))),
            (rng.normal(size=(1, 1)), rng.normal(size=(3, 3))),   # one output: dx = g w
            (rng.normal(size=(3, 3)), rng.normal(size=(2, 4))),   # not square
            (rng.normal(size=(5, 2)), np.array([[1.5]])),          # 1x1 kernel
            (rng.normal(size=(2, 6)), rng.normal(size=(4, 2)))]


def _grad_expected(grad_out: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    fh, fw = kernel.shape
    h, w = grad_out.shape[0] + fh - 1, grad_out.shape[1] + fw - 1
    dx, _, _ = ops.conv2d_backward(np.zeros((h, w, 1)), kernel[:, :, None, None],
                                   grad_out[:, :, None])
    return dx[:, :, 0]


def _full(grad_out: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    fh, fw = kernel.shape
    return ops.conv2d(np.pad(grad_out, ((fh - 1, fh - 1), (fw - 1, fw - 1))), kernel)


def _grad_diagnose(grad_out, kernel, *, got: Any, expected: np.ndarray) -> str:
    arr = as_float_array(got)
    if arr is None:
        return ""
    (ho, wo), (fh, fw) = grad_out.shape, kernel.shape
    if arr.shape != expected.shape:
        if arr.shape in ((ho - fh + 1, wo - fw + 1), (ho, wo)):
            return ("the gradient has one value per input pixel, (H_o + F_h - 1) x "
                    "(W_o + F_w - 1): pad dL/dy with F - 1 zeros on each side (a "
                    "'full' convolution)")
        if arr.shape == expected.shape[::-1]:
            return "rows and columns are swapped"
        return ("the gradient has the shape of the input: (H_o + F_h - 1) x "
                "(W_o + F_w - 1)")
    if arrays_agree(arr, _full(grad_out, kernel)):
        return ("the kernel is not flipped: input pixel (p, q) reaches output (j, k) "
                "through w[p - j, q - k], so the backward pass slides the kernel "
                "turned by 180 degrees, kernel[::-1, ::-1]")
    if arrays_agree(arr, _full(grad_out, kernel[::-1, :])) or arrays_agree(
            arr, _full(grad_out, kernel[:, ::-1])):
        return "the kernel is flipped along one axis only; flip rows and columns"
    if fh == fw and (arrays_agree(arr, _full(grad_out, np.rot90(kernel)))
                     or arrays_agree(arr, _full(grad_out, np.rot90(kernel, -1)))):
        return "the kernel is turned by 90 degrees; it should be turned by 180"
    if fh == fw and arrays_agree(arr, _full(grad_out, kernel.T[::-1, ::-1])):
        return "the flipped kernel is also transposed: flip it, do not transpose it"
    return ""


def _input_grad(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _grad_probes(), outputs, _grad_expected,
        lambda g, k: f"dL/dy {g.shape}, kernel {k.shape}",
        _grad_diagnose, "match dL/dx")


# --------------------------------------------------------------------------- 5.8
# adam_step(w, g, m, v, t, learning_rate): one step of Keras' Adam (section 5.11), returning
# (w, m, v) after the step; beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7 as in Keras.

ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


def _adam_variants(w, g, m, v, t, lr) -> dict[str, np.ndarray]:
    """The right step (Keras' form) and typical slips, each as np.stack([w, m, v])."""
    b1, b2, eps = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    w, g, m, v = (np.asarray(a, dtype=float) for a in (w, g, m, v))
    m1 = b1 * m + (1 - b1) * g
    v1 = b2 * v + (1 - b2) * g ** 2
    alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    out = {"right": np.stack([w - alpha * m1 / (np.sqrt(v1) + eps), m1, v1])}
    out["no bias correction"] = np.stack([w - lr * m1 / (np.sqrt(v1) + eps), m1, v1])
    out["epsilon inside"] = np.stack([w - alpha * m1 / np.sqrt(v1 + eps), m1, v1])
    m_hat, v_hat = m1 / (1 - b1 ** t), v1 / (1 - b2 ** t)
    out["textbook"] = np.stack([w - lr * m_hat / (np.sqrt(v_hat) + eps), m1, v1])
    out["sign"] = np.stack([w + alpha * m1 / (np.sqrt(v1) + eps), m1, v1])
    t0 = t + 1
    alpha0 = lr * math.sqrt(1 - b2 ** t0) / (1 - b1 ** t0)
    out["t + 1"] = np.stack([w - alpha0 * m1 / (np.sqrt(v1) + eps), m1, v1])
    m_fresh, v_fresh = (1 - b1) * g, (1 - b2) * g ** 2
    out["state ignored"] = np.stack([w - alpha * m_fresh / (np.sqrt(v_fresh) + eps),
                                     m_fresh, v_fresh])
    return out


def _adam_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(508)
    small_m = rng.normal(0.0, 1e-8, size=4)
    return [
        (rng.normal(size=3), rng.normal(size=3), np.zeros(3), np.zeros(3), 1, 0.001),
        (rng.normal(size=5), rng.normal(size=5), rng.normal(0, 0.1, size=5),
         rng.uniform(0.01, 0.1, size=5), 3, 0.01),
        (rng.normal(size=4), rng.normal(0.0, 1e-7, size=4), small_m,     # tiny gradients:
         small_m ** 2, 2, 0.01),                                       # epsilon matters
        (rng.normal(size=(2, 3)), rng.normal(0.0, 100.0, size=(2, 3)),
         rng.normal(0.0, 10.0, size=(2, 3)), rng.uniform(10.0, 1e4, size=(2, 3)), 40, 0.1),
        (np.array([1.0]), np.array([0.02]), np.zeros(1), np.zeros(1), 1, 0.001),
    ]


def _adam_expected(w, g, m, v, t, lr) -> np.ndarray:
    return _adam_variants(w, g, m, v, t, lr)["right"]


def _adam_diagnose(w, g, m, v, t, lr, *, got: Any, expected: np.ndarray) -> str:
    arr = as_float_array(got)
    if arr is None:
        return ""
    if arr.shape != expected.shape:
        if arr.shape == expected.shape[1:]:
            return "return the three arrays w, m, v after the step, not w alone"
        return "return (w, m, v): three arrays, each of the shape of w"
    variants = _adam_variants(w, g, m, v, t, lr)
    hints = {
        "no bias correction": "the step lacks the bias correction: multiply the learning "
                              "rate by sqrt(1 - beta_2**t) / (1 - beta_1**t)",
        "epsilon inside": "epsilon is inside the square root; Keras' Adam divides by "
                          "sqrt(v) + epsilon",
        "textbook": "that is the textbook form (epsilon added to the corrected sqrt(v_hat)); "
                    "Keras folds the bias correction into the learning rate and adds "
                    "epsilon to sqrt(v) itself, which differs for tiny gradients",
        "sign": "the weight moves up the gradient: subtract the step",
        "t + 1": "t is already the number of this step (1 for the first): do not add 1",
        "state ignored": "m and v must start from the values passed in, not from zero",
    }
    for key, hint in hints.items():
        if np.allclose(arr, variants[key], atol=1e-9, rtol=1e-7) and not np.allclose(
                variants[key], expected, atol=1e-9, rtol=1e-7):
            return hint
    if np.allclose(arr[0], expected[0], atol=1e-9, rtol=1e-7):
        return "w is right, but m or v is not the updated running mean"
    return ""


def _adam_check(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(
        _adam_probes(), outputs, _adam_expected,
        lambda w, g, m, v, t, lr: f"w {np.shape(w)}, step t = {t}, lr = {lr}",
        _adam_diagnose, "match Keras' Adam")


# --------------------------------------------------------------------------- 5.9
# A deep network without hidden activations against softmax regression: a letter.

LETTERS = ("a", "b", "c", "d")
WHY_WRONG_59 = {
    "a": ("each of its layers is linear (a convolution too), and a linear function of a "
          "linear function is linear: stacking them adds no new function (section 5.2)"),
    "b": ("a linear layer passes gradients back without trouble: what limits this network "
          "is not its training but what it can compute"),
    "d": ("it is the other way round: the deep network has far more parameters; what "
          "limits it is that its layers compose to one linear map"),
}


def _no_activation(answer: Any) -> tuple[Any, str]:
    return choice(answer, "c", LETTERS, why_wrong=WHY_WRONG_59, what="`no_activation`")


# --------------------------------------------------------------------------- 5.10
# Why fit's training accuracy is below the test accuracy in task 5.6: a letter.

WHY_WRONG_510 = {
    "b": ("underfitting shows as a high error on the training images, with the test "
          "error close to it: here the same weights score higher on new images, which no "
          "lack of capacity explains"),
    "c": ("validation data are only evaluated after each epoch, never trained on: fit "
          "computes no gradient from them"),
    "d": ("with 10,000 test images the standard error of an accuracy near 0.99 is about "
          "0.001, far smaller than the gap"),
}


def _lower_in_training(answer: Any) -> tuple[Any, str]:
    return choice(answer, "a", LETTERS, why_wrong=WHY_WRONG_510,
                  what="`lower_in_training`")


TASKS = [
    Task("5.1", "stable softmax", "softmax", _softmax_check, points=2, kind="function",
         probes=_softmax_probes),
    Task("5.2", "cross-entropy", "cross_entropy", _ce_check, points=2, kind="function",
         probes=_ce_probes),
    Task("5.3", "the tutorial model's parameters", "n_params", _tutorial_count,
         forbid=BY_HAND),
    Task("5.4", "LeNet", "lenet", _lenet_check, points=2, kind="model"),
    Task("5.5", "a CNN with Dropout", "mnist_model", _mnist_model_check, points=2,
         kind="model"),
    # trained, not built: the ready-made fallback model (cnn_helpers.models) is allowed
    Task("5.6", "beyond 99%", "mnist_model", _trained_check, points=2, kind="model",
         forbid=("cnn_helpers.training",)),
    Task("5.7", "the input gradient", "conv2d_input_grad", _input_grad, points=2,
         kind="function", probes=_grad_probes,
         # ops.conv2d is allowed (the derivation uses it); its backward pass is the answer.
         # The book's models are listed too: the notebook imports them (task 5.6's
         # fallback), and they register Keras classes when imported.
         forbid=("cnn_helpers.ops:conv2d_backward", "cnn_helpers.ops:conv2d_transpose",
                 "cnn_helpers.autodiff", "cnn_helpers.training", "cnn_helpers.models",
                 "cnn_helpers.augment", "keras", "tensorflow", "jax", "torch", "scipy")),
    Task("5.8", "one Adam step", "adam_step", _adam_check, points=2, kind="function",
         probes=_adam_probes),
    Task("5.9", "depth without activations", "no_activation", _no_activation),
    Task("5.10", "lower in training", "lower_in_training", _lower_in_training),
]
