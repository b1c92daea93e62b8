"""Exercise 3: Pooling (exercises/03_pooling.ipynb).

Numeric answers are compared with
:func:`~cnn_helpers.grading.checks.number_answer`, which says only whether a wrong
answer is too large or too small (never by how much: with the offset, the answer is one
subtraction away), and then names the typical slip that the value matches. The number
tasks ask for values worked out by hand: an answer computed with ``ops`` or Keras earns
nothing (``BY_HAND``). Task 3.6 is graded on the trained model itself, on test digits the
check chooses; tasks 3.7 and 3.8 are questions with one right letter.
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
    choice,
    compare_arrays,
    model_shapes,
    number_answer,
    partial_for,
    probe_rng,
)
from cnn_helpers.grading.checks import accuracy_of, held_out, optimizer_settings

#: The grader's size for task 3.6: a few seconds of training on 2 cores.
SMOKE = {"N_TRAIN": 2000, "N_TEST": 500, "EPOCHS": 3}

#: What a value "worked out by hand" may not be computed with: the book's reference
#: implementations and Keras (which the statements allow *afterwards*, to compare).
BY_HAND = ("cnn_helpers.ops", "keras", "tensorflow", "jax", "torch")


# --------------------------------------------------------------------------- 3.1
# 32x32x3 -> Conv2D(16, (3, 3)) -> MaxPooling2D((2, 2)) -> Conv2D(32, (3, 3))
#         -> MaxPooling2D((2, 2)): what is the shape of one output (no batch axis)?

FILTERS_31 = 32          # filters of the last convolution


def _side_31(size: int = 32, *, conv: int = 3, pool_stride: int = 2,
             conv_shrinks: bool = True, round_up: bool = False,
             pools: bool = True) -> int:
    """Height after conv-pool-conv-pool, with switches for the typical slips."""
    for _ in range(2):
        if conv_shrinks:
            size = size - conv + 1
        if pools:
            size = (math.ceil((size - 2) / pool_stride) + 1 if round_up
                    else ops.conv_output_size(size, 2, pool_stride))
    return size


def _expected_31() -> tuple[int, int, int]:
    h = ops.conv_output_size(ops.conv_output_size(32, 3), 2, 2)
    h = ops.conv_output_size(ops.conv_output_size(h, 3), 2, 2)
    return h, h, FILTERS_31


def _final_shape(answer: Any) -> tuple[Any, str]:
    if isinstance(answer, np.ndarray):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)):
        return False, ("`final_shape` should be a tuple of three numbers (height, "
                       f"width, channels), not a {type(answer).__name__}")
    items = list(answer)
    if len(items) == 4 and items[0] in (None, 1):
        return False, "leave out the batch axis: give (height, width, channels)"
    if len(items) != 3:
        return False, (f"`final_shape` has {len(items)} entries; it should have 3: "
                       "(height, width, channels)")
    try:
        h, w, c = (float(v) for v in items)
    except (TypeError, ValueError):
        return False, "every entry of `final_shape` should be a number"
    eh, ew, ec = _expected_31()
    spatial_ok = (h, w) == (eh, ew)
    if spatial_ok and c == ec:
        return True, "correct"
    problems = []
    if not spatial_ok and h != w:
        problems.append("the input and all windows are square, so height and width "
                        "should be equal")
    elif not spatial_ok:
        slips = {
            _side_31(round_up=True):
                "'valid' pooling rounds an odd size down: the last row and column of "
                "an odd-sized map are dropped",
            _side_31(conv_shrinks=False):
                "a 3x3 convolution without padding shrinks each map (O = I - F + 1) "
                "before it is pooled",
            _side_31(pool_stride=1):
                "MaxPooling2D's strides default to the pool size (2), not 1: the "
                "windows do not overlap",
            _side_31(pools=False):
                "the two pooling layers are missing from your computation",
            _side_31(conv=4):
                "a 3x3 convolution gives I - F + 1 positions per axis, not I - F",
        }
        hint = slips.get(h, "follow the size through all four layers: a convolution "
                            "gives I - F + 1, a pooling layer floor((I - P) / S) + 1")
        size = "large" if h > eh else "small"
        problems.append(f"the height and width are too {size}; {hint}")
    if c != ec:
        problems.append("the depth is wrong: pooling keeps the depth (each map is "
                        "pooled on its own), so it is the number of filters of the "
                        "last convolution")
    return (0.5 if spatial_ok else 0), "; ".join(problems)


# --------------------------------------------------------------------------- 3.2
# A 25x25x64 volume -> Flatten -> Dense(10), or -> MaxPooling2D((2, 2)) -> Flatten
# -> Dense(10): how many fewer trainable parameters does the second head have?

VOLUME_32 = (25, 25, 64)


def _head_params(pool: bool, *, round_up: bool = False) -> int:
    h, w, c = VOLUME_32
    if pool and round_up:
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    elif pool:
        h, w = ops.conv_output_size(h, 2, 2), ops.conv_output_size(w, 2, 2)
    return ops.dense_params(h * w * c, 10)


def _saved(answer: Any) -> tuple[Any, str]:
    without, with_pool = _head_params(False), _head_params(True)
    expected = without - with_pool
    ok, message, value = number_answer(answer, expected, what="the saving")
    if ok or value is None:
        return ok, message
    h, w, _ = VOLUME_32
    pooled_cells = ops.conv_output_size(h, 2, 2) * ops.conv_output_size(w, 2, 2)
    hints = {
        without - _head_params(True, round_up=True):
            f"'valid' 2x2 pooling of a {h} x {w} map rounds down: the last row and "
            "column are dropped",
        0.75 * without:
            "the saving is not exactly 3/4 of the first head: 2x2 pooling of an "
            "odd-sized map keeps a bit less than a quarter, and the 10 biases stay",
        0.75 * (without - 10):
            "the saving is not exactly 3/4 of the weights: 2x2 pooling of an "
            "odd-sized map keeps a bit less than a quarter",
        (h * w - pooled_cells) * 10:
            "Flatten passes all the maps of the volume to the dense layer, not just "
            "one",
        without:
            "that is the parameter count of the head without pooling; the task asks "
            "how many fewer the head with pooling has",
        with_pool:
            "that is the parameter count of the head with pooling; the task asks how "
            "many fewer it has than the head without",
        -expected:
            "the sign is wrong: the head with pooling has fewer parameters, so the "
            "saving is positive",
    }
    for wrong, hint in hints.items():
        if math.isclose(value, wrong, abs_tol=1.0):
            return False, f"{message}; {hint}"
    if 0 < value < 10:
        return False, (f"{message}; the task asks for a number of parameters, not a "
                       "ratio (pooling itself has no parameters)")
    return False, (f"{message}; count each head's Dense(10) as inputs x 10 + 10 "
                   "(pooling itself has no parameters) and subtract")


# --------------------------------------------------------------------------- 3.3
# pool2d(x, size, mode): 2-D array, size x size windows, stride = size, 'valid'.

POOL_MODES = ("max", "avg", "l2")


def _pool_probes() -> list[tuple[np.ndarray, int, str]]:
    rng = probe_rng(303)
    return [(rng.normal(size=(4, 4)), 2, "max"),
            (rng.normal(size=(5, 7)), 2, "max"),           # odd: drops a row, a column
            (-rng.uniform(1, 5, size=(6, 6)), 3, "max"),   # all values negative
            (rng.normal(size=(4, 6)), 2, "avg"),
            (rng.normal(size=(7, 5)), 3, "avg"),           # odd
            (rng.normal(size=(6, 8)), 2, "avg"),
            (rng.normal(size=(4, 4)), 2, "l2"),
            (rng.normal(size=(5, 5)), 2, "l2"),            # odd
            (rng.normal(size=(9, 6)), 3, "l2")]


def _pool_shape_hint(shape: tuple[int, ...], x: np.ndarray, size: int,
                     expected: np.ndarray) -> str:
    h, w = x.shape
    if shape == (h - size + 1, w - size + 1):
        return ("one output per window position moved 1 cell at a time; here the "
                "window moves `size` cells (stride = size), so windows do not overlap")
    if shape == (math.ceil(h / size), math.ceil(w / size)):
        return ("one output too many along an axis whose length `size` does not "
                "divide: 'valid' pooling drops the leftover rows and columns")
    if shape == expected.shape[::-1]:
        return "rows and columns are swapped"
    return ""


def _pool_hint(got: Any, x: np.ndarray, size: int, mode: str,
               expected: np.ndarray) -> str:
    """The typical mistake that ``got`` looks like, or ''."""
    if isinstance(got, Failure):
        return ""
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return ""
    if arr.shape != expected.shape:
        return _pool_shape_hint(arr.shape, x, size, expected)

    def close(other: np.ndarray) -> bool:
        return arrays_agree(arr, other, atol=1e-6)

    if mode == "avg" and close(expected * size * size):
        return "that is the sum of each window; the average divides it by the cells"
    if mode == "l2" and close(expected ** 2):
        return "the square root is missing: L2 pooling is sqrt(sum of squares)"
    if mode == "l2" and close(expected / size):
        return ("that is the root *mean* square; L2 pooling takes the sum of squares, "
                "not their mean")
    if mode == "max" and close(np.maximum(expected, 0)):
        return ("a window whose values are all negative gets 0: start the maximum from "
                "the window's own values (or -inf), not from 0")
    if mode == "max" and close(ops.pool2d(np.abs(x), size, mode="max")):
        return "that is the largest absolute value; max pooling keeps the largest value"
    for other in ("max", "avg", "sum", "l2"):
        if other != mode and close(ops.pool2d(x, size, mode=other)):
            return f"that is {other} pooling, not {mode!r}"
    return ""


def _pool(outputs: list[Any]) -> tuple[Any, str]:
    probes = _pool_probes()
    passed = {m: 0 for m in POOL_MODES}
    total = {m: 0 for m in POOL_MODES}
    problems: dict[str, str] = {}        # the first failing probe of each mode
    hints_given: set[str] = set()
    for n, ((x, size, mode), got) in enumerate(zip(probes, outputs), start=1):
        total[mode] += 1
        expected = ops.pool2d(x, size, mode=mode)
        if got is None:
            ok, message = False, f"probe {n}: your function returned None for {mode!r}"
        else:
            what = f"probe {n} ({x.shape[0]}x{x.shape[1]} input, size {size}, {mode!r})"
            ok, message = compare_arrays(got, expected, what=what)
        if ok:
            passed[mode] += 1
            continue
        if mode not in problems:
            hint = _pool_hint(got, x, size, mode, expected)
            if hint and hint in hints_given:
                hint = "the same mistake"
            hints_given.add(hint)
            problems[mode] = f"{message}: {hint}" if hint else message
    n_passed = sum(passed.values())
    if n_passed == len(probes):
        return True, f"all {len(probes)} probes right (max, avg, l2)"
    tally = ", ".join(f"{m} {passed[m]}/{total[m]}" for m in POOL_MODES)
    return n_passed / len(probes), (f"{n_passed} of {len(probes)} probes right "
                                    f"({tally}); " + "; ".join(problems.values()))


# --------------------------------------------------------------------------- 3.4
# Receptive field (side, in input pixels) of a unit of conv3 in this stack:

STACK_34 = [("conv1", 5, 1), ("pool1", 2, 2), ("conv2", 3, 1), ("pool2", 2, 2),
            ("conv3", 3, 1)]

_OVERLAP = ("it looks like you multiplied field sizes, as if the fields of "
            "neighbouring units sat side by side; they are only `jump` pixels apart "
            "(the product of the strides so far), so they overlap: each layer adds "
            "(F - 1) x jump")


def _field_variants() -> dict[float, str]:
    """Receptive-field values that typical wrong methods give, with what to say."""
    right = ops.receptive_field(STACK_34)[-1].size
    no_jump = 1 + sum(f - 1 for _, f, _ in STACK_34)
    local = prev_stride = 1          # jump = the previous layer's stride only
    own = jump = 1                   # each layer uses its own jump, not the one before
    for _, f, s in STACK_34:
        local += (f - 1) * prev_stride
        prev_stride = s
        jump *= s
        own += (f - 1) * jump
    convs_only = jump = 1            # the pooling windows left out
    notes, pooled = 1, False         # the lecture notes' slip: conv after pool
                                     # multiplies the field
    for name, f, s in STACK_34:
        conv = name.startswith("conv")
        convs_only += (f - 1) * jump if conv else 0
        notes = f * notes if (conv and pooled) else notes + (f - 1) * jump
        pooled = pooled or not conv
        jump *= s
    variants = {
        no_jump: "you added F - 1 for every layer as if neighbouring units were always "
                 "1 pixel apart; after a stride-2 pooling they are further apart: each "
                 "layer adds (F - 1) x jump",
        local: "the jump is the product of all strides so far: after two stride-2 "
               "poolings neighbouring units are 2 x 2 pixels apart",
        own: "each layer adds (F - 1) times the jump of the layer *before* it (the "
             "spacing of the units it reads), not its own",
        convs_only: "the pooling windows widen the field too: a 2x2 pooling layer adds "
                    "(2 - 1) x jump",
        right * right: "that is the number of pixels in the field; the task asks for "
                       "its side",
        math.prod(f for _, f, _ in STACK_34): _OVERLAP,
        notes: _OVERLAP,
    }
    variants.pop(right, None)
    return variants


def _field(answer: Any) -> tuple[Any, str]:
    right = ops.receptive_field(STACK_34)[-1].size
    ok, message, value = number_answer(answer, right, what="the receptive field")
    if ok:
        return True, "correct"
    if value is None:
        return False, message
    hint = _field_variants().get(value)
    if value == right * right:
        return 0.5, f"{message}; {hint}"
    if hint:
        return False, f"{message}; {hint}"
    return False, (f"{message}; apply r = r + (F - 1) x jump, then jump = jump x S, "
                   "layer by layer, starting from r = 1, jump = 1")


# --------------------------------------------------------------------------- 3.5

IGNORED_LAYERS = {"InputLayer", "Dropout", "SpatialDropout2D", "BatchNormalization",
                  "Activation", "ReLU"}
PATTERN_35 = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
              "GlobalAveragePooling2D", "Dense"]


def _layer_problems(model: Any, in_shape: tuple[Any, ...]) -> Problems:
    """Follow the shapes layer by layer (a rebuilt model has no symbolic outputs)."""
    shape = in_shape
    problems = Problems(limit=5)           # the first problem of each kind
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for i, layer in enumerate(layers):
        before = shape
        shape = tuple(layer.compute_output_shape(shape))
        kind = type(layer).__name__
        if kind == "MaxPooling2D" and (shape[1], shape[2]) != (before[1] // 2, before[2] // 2):
            problems.add("pool", (
                f"a pooling layer turns {before[1]}x{before[2]} maps into "
                f"{shape[1]}x{shape[2]}; 2x2 pooling should halve them (keep the "
                "default strides)"))
        elif kind == "Conv2D":
            fh, fw = layer.kernel_size
            if (fh, fw) != (3, 3):
                problems.add("kernel", f"a Conv2D layer has {fh}x{fw} filters; use 3x3 "
                                       "filters")
            if not 8 <= layer.filters <= 64:
                problems.add("filters", (
                    f"a Conv2D layer has {layer.filters} filters; use between 8 and 64 "
                    "(a small model trains fast)"))
            if activation_after(layers, i) != "relu":
                problems.add("relu", "both convolutions should use activation=\"relu\"")
        elif kind == "Dense" and activation_after(layers, i) != "softmax":
            problems.add("softmax", ("the Dense layer should use activation=\"softmax\" "
                                     "so that the 10 outputs are probabilities"))
    return problems


def _gap_model(model: Any) -> tuple[Any, str]:
    in_shape, out_shape, problem = model_shapes(model, (None, 28, 28, 1))
    if problem:
        return False, problem
    kinds = [type(layer).__name__ for layer in model.layers
             if type(layer).__name__ not in IGNORED_LAYERS]
    if "Flatten" in kinds:
        return False, ("the model uses Flatten; bridge the feature maps to the "
                       "classifier with GlobalAveragePooling2D instead (no Flatten)")
    if "GlobalAveragePooling2D" not in kinds:
        found = ("GlobalMaxPooling2D" if "GlobalMaxPooling2D" in kinds
                 else "no global pooling")
        return False, (f"the model has {found}; the bridge to the Dense layer should "
                       "be GlobalAveragePooling2D")
    if kinds != PATTERN_35:
        return False, ("the layers should be Conv2D, MaxPooling2D, Conv2D, "
                       "MaxPooling2D, GlobalAveragePooling2D, Dense; yours are "
                       + ", ".join(kinds))
    if out_shape != (None, 10):
        return False, ("the output should be (None, 10), one probability per digit; "
                       f"it is {out_shape}")
    problems = _layer_problems(model, in_shape)
    if problems:
        return partial_for(problems), ("right layer types and order, but "
                                       + problems.text())
    return True, "right layers, in the right order, with 3x3 filters and ReLU"


# --------------------------------------------------------------------------- 3.6

#: Test digits that the check classifies with the trained model (drawn per submission).
HELD_OUT_36 = 1000
#: Accuracy on them that task 3.6 asks for at the grader's size (2,000 images, 3 epochs:
#: the reference model reaches 0.63-0.69 over three seeds), and about what it reaches with
#: the notebook's own settings (10,000 images, 5 epochs: 0.92).
ACCURACY_FLOOR = 0.4
FULL_SIZE_GOAL = 0.9
#: Below this a trained model does little better than guessing one of 10 digits (0.1).
GUESSING = 0.2


def _held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The check's test digits, prepared as the task prepares ``x_test``:
    ``(n, 28, 28, 1)`` float32 in [0, 1], and their labels."""
    x, y = held_out("mnist", HELD_OUT_36)
    return x[..., np.newaxis].astype("float32") / 255, y


def _accuracy_verdict(accuracy: float) -> tuple[float, str]:
    """Credit for the accuracy on the check's test digits, and what to say about it."""
    shown = f"accuracy {accuracy:.3f} on {HELD_OUT_36:,} test digits"
    size = f"{SMOKE['N_TRAIN']:,} images and {SMOKE['EPOCHS']} epochs"
    if accuracy >= FULL_SIZE_GOAL:
        return 1.0, shown
    if accuracy >= ACCURACY_FLOOR:
        return 1.0, (f"{shown} (this check asks for {ACCURACY_FLOOR} at its small size, "
                     f"{size}; with the notebook's settings the model reaches about "
                     f"{FULL_SIZE_GOAL})")
    if accuracy >= GUESSING:
        return 0.5, (f"{shown}, below the {ACCURACY_FLOOR} this check asks for at its small "
                     f"size ({size}): train for `EPOCHS` epochs on `x_train` with Adam at "
                     "a learning rate of about 0.003")
    return 0.0, (f"{shown}, hardly better than guessing one of 10 digits: are the labels "
                 "`y_train`, the loss \"sparse_categorical_crossentropy\" and the pixels "
                 "scaled to [0, 1]?")


def _trained(model: Any) -> tuple[Any, str]:
    _, out_shape, problem = model_shapes(model, (None, 28, 28, 1))
    if problem:
        return False, problem
    if out_shape != (None, 10):
        return False, ("the output should be (None, 10), one probability per digit; it is "
                       f"{out_shape}")
    if getattr(model, "trained_steps", 0) <= 0:
        return False, ("`gap_model` was never trained (no optimizer step): compile it and "
                       "call gap_model.fit(x_train, y_train, ...) before its check "
                       "(compiling it again after fit starts a new optimizer)")
    x, y = _held_out_digits()
    accuracy = accuracy_of(model, x, y)
    if accuracy is None:
        return False, "the model could not classify test digits of shape (n, 28, 28, 1)"
    credit, verdict = _accuracy_verdict(accuracy)
    problems = Problems()
    if credit < 1:
        problems.add("accuracy", verdict)
    settings = optimizer_settings(model)
    if settings is None or settings["class_name"] != "Adam":
        used = "no optimizer" if settings is None else settings["class_name"]
        problems.add("optimizer", "the task asks for the Adam optimizer; `gap_model` was "
                                  f"compiled with {used}")
    if not problems:
        return True, verdict
    return (partial_for(problems) if credit else False), problems.text()


# --------------------------------------------------------------------------- 3.7
# A digit shifted 1 pixel: which representation is exactly unchanged? A letter.

LETTERS = ("a", "b", "c", "d")
WHY_WRONG_37 = {
    "a": ("a convolution is equivariant: shift the input and the feature maps shift with "
          "it; they do not stay the same (section 3.6)"),
    "b": ("2x2 pooling changes less than the maps themselves, but a 1-pixel shift still "
          "changes the pooled maps: pooling is only approximately invariant to small "
          "shifts (section 3.6 measures how much)"),
    "d": ("one of them keeps, for each map, a value that does not depend on where in the "
          "map it sits"),
}


def _unchanged(answer: Any) -> tuple[Any, str]:
    return choice(answer, "c", LETTERS, why_wrong=WHY_WRONG_37, what="`shift_answer`")


# --------------------------------------------------------------------------- 3.8
# Digits drawn at half the size of the training digits: a letter.

WHY_WRONG_38 = {
    "a": ("pooling gives some robustness to small shifts, not to size: a filter looks at "
          "a window of fixed size, whatever the size of the digit (section 3.6, \"Scale "
          "is another matter\")"),
    "b": ("global pooling forgets *where* a feature is, not *how large* the strokes are: "
          "a smaller digit gives other feature values to average"),
    "c": ("a convolution is equivariant to shifts only: the maps of a half-size digit are "
          "not a shrunk copy of the original's (section 3.6 compares them)"),
}


def _other_size(answer: Any) -> tuple[Any, str]:
    return choice(answer, "d", LETTERS, why_wrong=WHY_WRONG_38, what="`size_answer`")


TASKS = [
    Task("3.1", "conv-pool shapes", "final_shape", _final_shape, forbid=BY_HAND),
    Task("3.2", "what pooling saves", "saved", _saved, forbid=BY_HAND),
    Task("3.3", "pooling from scratch", "pool2d", _pool, points=3, kind="function",
         probes=_pool_probes),
    Task("3.4", "receptive field", "field", _field, points=2, forbid=BY_HAND),
    Task("3.5", "a GAP classifier", "gap_model", _gap_model, points=2,
         kind="model"),
    # the book's ready-made models are allowed: the starter offers one as a fallback
    Task("3.6", "train it", "gap_model", _trained, points=1, kind="model",
         forbid=("cnn_helpers.training",)),
    Task("3.7", "what a shift leaves unchanged", "shift_answer", _unchanged),
    Task("3.8", "digits of another size", "size_answer", _other_size),
]
