"""Exercise 2: Stride and padding (exercises/02_stride_and_padding.ipynb).

Every number of this exercise is one ``ops`` call away, and the statements ask for them to
be worked out with the chapter's formulas: an answer computed with ``ops`` or Keras earns
nothing (``BY_HAND``). Tasks 2.7 and 2.8 are questions with one right letter.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from cnn_helpers import ops
from cnn_helpers.grading import (
    Failure,
    Task,
    arrays_agree,
    choice,
    compare_arrays,
    model_shapes,
    near,
    probe_rng,
)

SMOKE: dict[str, Any] = {}      # nothing trains: the grader runs the real settings

#: What a number "worked out with the formulas" may not be computed with: the book's
#: reference implementations and Keras (which the statements allow *afterwards*).
BY_HAND = ("cnn_helpers.ops", "keras", "tensorflow", "jax", "torch")


# --------------------------------------------------------------------------- 2.1

# 64x64 input, 7x7 filter, stride 2, 2 zeros on each side: the stride does not divide
# I + 2P - F, and 2 zeros per side are one fewer than "same" would add here.
OUT_I, OUT_F, OUT_S, OUT_P = 64, 7, 2, 2


def _output_size(answer: Any) -> tuple[Any, str]:
    i, f, s, p = OUT_I, OUT_F, OUT_S, OUT_P
    expected = ops.conv_output_size(i, f, s, p)
    ok, message = near(answer, expected, what="the output width")
    if ok:
        return ok, message
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False, message
    if not value.is_integer():
        if math.floor(value) == expected:
            hint = ("a layer cannot have part of a neuron: when S does not divide "
                    "I + 2P - F, only the windows that fit entirely count; which way "
                    "does that round the division?")
        else:
            hint = "an output size counts window positions: it is a whole number"
        return False, f"{message}; {hint}"
    n = i + 2 * p - f
    hints = {
        (i + p - f) // s + 1: "P zeros go on each side, so the padded width is I + 2P",
        n // s: ("count the window positions again: the formula's + 1 counts the "
                 "first position, and P zeros go on each side (2P in all)"),
        (i - f) // s + 1: "that is the size without padding: add P zeros on each side",
        -(-n // s) + 1: ("a window may not overhang the padded input: count only the "
                         "windows that fit entirely (the division is rounded down, "
                         "not up)"),
        n + 1: "the window jumps S pixels at a time: divide by the stride",
    }   # later entries win where two mistakes give the same number
    hint = hints.get(int(value), "use O = floor((I + 2P - F) / S) + 1")
    return False, f"{message}; {hint}"


# --------------------------------------------------------------------------- 2.2

SAME_I, SAME_F, SAME_S = 32, 5, 3


def _same_split(answer: Any) -> tuple[Any, str]:
    i, f, s = SAME_I, SAME_F, SAME_S
    before, after = ops.same_padding(i, f, s)
    arr = np.asarray(answer) if isinstance(answer, (list, tuple, np.ndarray)) else None
    if arr is None or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            return False, ("give two numbers, (before, after): the zeros before the "
                           "input (top/left) and after it (bottom/right)")
        return False, ("`same_pads` should be a pair of numbers, got "
                       f"{type(answer).__name__}")
    if arr.shape == (2, 2) and np.array_equal(arr[0], arr[1]):
        arr = arr[0]               # ((top, bottom), (left, right)): both axes alike
    if arr.shape != (2,):
        return False, ("`same_pads` should be a pair (before, after), got shape "
                       f"{arr.shape}")
    if not all(float(v).is_integer() and v >= 0 for v in arr):
        return False, "the number of zeros on each side is a whole number, 0 or more"
    got_before, got_after = (int(v) for v in arr)
    total = before + after
    got_total = got_before + got_after
    if (got_before, got_after) == (before, after):
        return True, "correct"
    if got_total == total:
        if (got_before, got_after) == (after, before):
            return 0.5, ("the total is right, but mirrored: when the number of zeros "
                         "is odd, Keras puts the extra zero after (bottom and right)")
        return 0.5, ("the total is right, but Keras splits it as evenly as possible: "
                     "floor(total / 2) before, the rest after")
    if got_total == f - 1:
        return False, ("your zeros add up to F - 1: that is what stride 1 needs. With "
                       "a stride, 'same' gives ceil(I / S) outputs and adds just enough "
                       "zeros for that many windows: (O - 1) * S + F - I")
    if got_total == 0:
        return False, "with 'valid' there are no zeros; 'same' adds some here"
    return False, (f"too {'many' if got_total > total else 'few'} zeros in all: "
                   "the total is max((O - 1) * S + F - I, 0) with O = ceil(I / S)")


# --------------------------------------------------------------------------- 2.3


def _strided_probes() -> list[tuple[Any, ...]]:
    """(image, kernel, strides, pad): strides 1-3, padding 0-2, uneven divisions."""
    rng = probe_rng(2202)
    cases = [((7, 7), (3, 3), (2, 2), (1, 1)),     # exact division
             ((8, 9), (3, 3), (2, 2), (0, 0)),     # 5/2 and 6/2: last row dropped
             ((10, 10), (4, 4), (3, 3), (2, 2)),   # 10/3: uneven, with padding
             ((6, 11), (2, 3), (1, 3), (0, 2)),    # strides and padding per axis
             ((5, 5), (3, 3), (1, 1), (2, 2)),     # wide ("full") convolution
             ((9, 7), (1, 1), (2, 2), (0, 0)),     # a window smaller than the stride
             ((12, 10), (5, 3), (2, 1), (1, 0)),   # (height, width) order matters
             ((6, 6), (3, 3), (1, 1), (0, 0))]     # chapter 1's case
    return [(rng.normal(size=img), rng.normal(size=ker), strides, pad)
            for img, ker, strides, pad in cases]


def _reference(image: np.ndarray, kernel: np.ndarray, strides: Any,
               pad: Any) -> np.ndarray:
    return ops.conv2d(image, kernel, strides=tuple(strides), padding=tuple(pad))


def _window_by_one(image, kernel, strides, pad):
    full = ops.conv2d(image, kernel, padding=tuple(pad))      # the window moves by 1
    shape = _reference(image, kernel, strides, pad).shape
    return full[:shape[0], :shape[1]]


def _one_short(image, kernel, strides, pad):
    return _reference(image, kernel, strides, pad)[:-1, :-1]


def _no_pad(image, kernel, strides, pad):
    return ops.conv2d(image, kernel, strides=tuple(strides))


def _pad_before(image, kernel, strides, pad):
    return ops.conv2d(image, kernel, strides=tuple(strides),
                      padding=((pad[0], 0), (pad[1], 0)))


def _pad_after(image, kernel, strides, pad):
    return ops.conv2d(image, kernel, strides=tuple(strides),
                      padding=((0, pad[0]), (0, pad[1])))


def _swapped(image, kernel, strides, pad):
    return _reference(image, kernel, strides[::-1], pad[::-1])


def _no_stride(image, kernel, strides, pad):
    return ops.conv2d(image, kernel, padding=tuple(pad))


def _flipped(image, kernel, strides, pad):
    return _reference(image, kernel[::-1, ::-1], strides, pad)


def _np_pad_pair(image, kernel, strides, pad):
    """np.pad(image, (P_h, P_w)): P_h zeros before and P_w after, on both axes."""
    return ops.conv2d(image, kernel, strides=tuple(strides),
                      padding=((pad[0], pad[1]), (pad[0], pad[1])))


def _overhang_shape(image, kernel, strides, pad) -> tuple[int, ...]:
    """The output shape when a window may overhang the padded image (ceil, not floor)."""
    return tuple(-(-(n + 2 * p - f) // s) + 1
                 for n, f, s, p in zip(image.shape, kernel.shape, strides, pad))

#: An implementation that is one of the slips below throughout earns at most this share:
#: the probes that cannot show its slip (no padding, a stride of 1...) are no evidence.
SLIP_CREDIT_23 = 1 / 3


_MISTAKES: list[tuple[Callable[..., np.ndarray], str, str]] = [
    # (what a typical wrong implementation computes, the hint when its values match,
    #  the hint when only its shape matches)
    (_one_short,
     "one window position short on each axis: the last window is missing (the +1 of "
     "floor((I + 2P - F) / S) + 1?)",
     "one window position short on each axis: the +1 of the formula?"),
    (_no_pad,
     "no zeros were added: pad P_h zeros above and below, P_w left and right",
     "that is the size without padding: pad P_h zeros above and below, P_w left "
     "and right"),
    (_pad_before,
     "zeros were added on one side only (top and left): pad both sides",
     "the size looks like padding on one side only: pad both sides"),
    (_pad_after,
     "zeros were added on one side only (bottom and right): pad both sides",
     "the size looks like padding on one side only: pad both sides"),
    (_swapped,
     "height and width are swapped: strides and pad are (height, width) pairs",
     "height and width look swapped: strides and pad are (height, width) pairs"),
    (_window_by_one,
     "the window moves 1 pixel at a time: window (r, c) must start at row r * S_h, "
     "column c * S_w of the padded image", ""),
    (_no_stride,
     "the stride was ignored: the window jumps S pixels at a time",
     "the output has the stride-1 size: the window jumps S pixels at a time"),
    (_flipped,
     "you flipped the kernel; Keras layers slide it unflipped", ""),
    (_np_pad_pair,
     ("np.pad(image, (P_h, P_w)) adds P_h zeros before and P_w after, on both axes: "
      "give each axis its pair, np.pad(image, ((P_h, P_h), (P_w, P_w)))"),
     ("the size looks like np.pad(image, (P_h, P_w)), which adds P_h zeros before and "
      "P_w after on both axes: give each axis its pair, np.pad(image, ((P_h, P_h), "
      "(P_w, P_w)))")),
]


def _diagnose(image, kernel, strides, pad, got: Any,
              expected: np.ndarray) -> tuple[list[str], bool]:
    """Hints that explain a wrong probe output (the typical mistakes it matches), and
    whether a mistake matches its values (not only its shape)."""
    if isinstance(got, Failure):
        text = str(got)
        if "broadcast" in text:
            return ["a window ran past the edge of the padded image: too many window "
                    "positions? They are floor((I + 2P - F) / S) + 1 per axis"], False
        if "integer" in text and "float" in text:
            return ["a size came out as a float: use integer division //"], False
        return [], False
    arr = np.asarray(got)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        return [], False
    by_value, by_shape = [], []
    for wrong, value_hint, size_hint in _MISTAKES:
        try:
            other = wrong(image, kernel, strides, pad)
        except ValueError:          # this mistake cannot even run on this probe
            continue
        if arrays_agree(other, expected, atol=1e-8):
            continue                # the mistake does not show on this probe
        if arrays_agree(arr, other, atol=1e-5):
            by_value.append(value_hint)
        elif size_hint and other.shape == arr.shape != expected.shape:
            by_shape.append(size_hint)
    if by_value or by_shape:
        return by_value or by_shape, bool(by_value)
    if arr.shape == _overhang_shape(image, kernel, strides, pad) != expected.shape:
        return ["too many window positions: a window may not overhang the padded image, "
                "so the division in floor((I + 2P - F) / S) + 1 is rounded down"], False
    return [], False


def _strided(outputs: list[Any]) -> tuple[Any, str]:
    probes = _strided_probes()
    passed = 0
    problems: list[tuple[str, list[str]]] = []    # (what is wrong, hints), per probe
    slips: list[set[str]] = []                    # the slips each wrong probe matches
    for n, (args, got) in enumerate(zip(probes, outputs), start=1):
        image, kernel, strides, pad = args
        expected = _reference(*args)
        what = (f"probe {n} ({image.shape} image, {kernel.shape} kernel, "
                f"strides {strides}, pad {pad})")
        ok, message = compare_arrays(got, expected, what=what)
        if ok:
            passed += 1
        else:
            hints, by_value = _diagnose(*args, got, expected)
            problems.append((message, hints))
            slips.append(set(hints) if by_value else set())
    if passed == len(probes):
        return True, (f"all {len(probes)} probes match Keras' strided, zero-padded "
                      "convolution")
    fraction = passed / len(probes)
    if set.intersection(*slips):          # one slip explains every wrong probe
        fraction = min(fraction, SLIP_CREDIT_23)
    # The hint that explains most failing probes (a tie goes to the earlier mistake).
    votes: dict[str, int] = {}
    for _, hints in problems:
        for hint in dict.fromkeys(hints):
            votes[hint] = votes.get(hint, 0) + 1
    message = problems[0][0]
    if votes:
        hint = max(votes, key=votes.get)                  # first of the most voted
        message = next(m for m, hints in problems if hint in hints) + f": {hint}"
    return fraction, f"{passed} of {len(probes)} probes right; {message}"


# --------------------------------------------------------------------------- 2.4

# Conv2D(1, kernel_size=(3, 2), strides=3), padding "valid", on an 11x12 input:
# rows: windows 0-2, 3-5, 6-8 (rows 9, 10 are left over);
# columns: windows 0-1, 3-4, 6-7, 9-10 (the window is narrower than the stride).
READ_HW, READ_KERNEL, READ_STRIDES = (11, 12), (3, 2), (3, 3)


def _never_read(hw=READ_HW, kernel=READ_KERNEL, strides=READ_STRIDES) -> np.ndarray:
    """Pixels that cannot change the output (an impulse image per pixel, 1s kernel)."""
    h, w = hw
    impulses = np.eye(h * w).reshape(h * w, h, w, 1)
    out = ops.conv2d(impulses, np.ones((*kernel, 1, 1)), strides=strides)
    return ~out.reshape(h * w, -1).any(axis=1).reshape(h, w)


def _never_read_check(answer: Any) -> tuple[Any, str]:
    expected = _never_read()
    h, w = READ_HW
    if not isinstance(answer, (np.ndarray, list, tuple)):
        return False, ("`never_read` should be a boolean array, got "
                       f"{type(answer).__name__}")
    arr = np.asarray(answer)
    if arr.dtype == object or not (arr.dtype == bool
                                   or np.issubdtype(arr.dtype, np.number)):
        return False, f"`never_read` should be a boolean array, got {arr.dtype} values"
    if arr.shape == (w, h):
        return False, (f"shape {arr.shape}: arrays are (height, width), rows first: "
                       f"the input has {h} rows and {w} columns")
    if arr.shape != expected.shape:
        return False, (f"`never_read` should have the input's shape ({h}, {w}), got "
                       f"{arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        return False, "`never_read` should hold True/False (or 1/0) only"
    arr = arr.astype(bool)
    if np.array_equal(arr, expected):
        return True, "correct"
    if np.array_equal(arr, ~expected):
        return False, "inverted: True should mark the pixels that are NEVER read"
    rows, cols = expected.all(axis=1), expected.all(axis=0)
    if np.array_equal(arr, np.outer(rows, cols)):
        return False, ("only pixels whose row AND column are skipped are marked; a "
                       "pixel is never read as soon as its row OR its column is never "
                       "read")
    if np.array_equal(arr, _never_read(kernel=READ_KERNEL[::-1])):
        return False, ("height and width are swapped: kernel_size=(3, 2) is 3 rows "
                       "high and 2 columns wide")
    got_rows, got_cols = arr.all(axis=1), arr.all(axis=0)
    if not np.array_equal(arr, got_rows[:, None] | got_cols[None, :]):
        bad = int((arr != expected).sum())
        return False, (f"{bad} of {arr.size} pixels are wrong; hint: whether a pixel "
                       "is read depends only on whether its row is read and whether "
                       "its column is")
    rows_ok, cols_ok = np.array_equal(got_rows, rows), np.array_equal(got_cols, cols)
    if rows_ok != cols_ok:
        good, wrong = ("rows", "columns") if rows_ok else ("columns", "rows")
        hint = ""
        last_only = cols & (np.arange(w) == w - 1)
        if wrong == "columns" and np.array_equal(got_cols, last_only):
            hint = ("; the window (2 wide) is narrower than the stride (3): columns "
                    "between two windows are skipped too")
        elif wrong == "columns" and not got_cols.any():
            hint = "; some columns are never read: which ones do the windows skip?"
        elif wrong == "rows" and not got_rows.any():
            hint = ("; the stride does not divide I - F for the rows: the last rows "
                    "are left over")
        return 0.5, f"the skipped {good} are right, the skipped {wrong} are not{hint}"
    return False, ("neither the skipped rows nor the skipped columns are right: list "
                   "the cells each window covers, axis by axis")


# --------------------------------------------------------------------------- 2.5

HALVE_INPUT, HALVE_FILTERS, HALVE_KERNEL = (28, 28, 1), 8, (3, 3)


def _pads_of(layer: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) of a ZeroPadding2D layer."""
    pad = layer.padding
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    rows, cols = pad
    as_pair = (lambda v: (v, v) if isinstance(v, int) else tuple(v))
    return as_pair(rows), as_pair(cols)


def _all_pixels_read(model: Any) -> bool:
    """Does every input row and column reach the output (ZeroPadding2D + Conv2D)?"""
    import keras

    (top, bottom), (left, right) = (0, 0), (0, 0)
    sizes = list(HALVE_INPUT[:2])
    for layer in model.layers:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            (t, b), (l, r) = _pads_of(layer)
            top, bottom, left, right = top + t, bottom + b, left + l, right + r
        elif isinstance(layer, keras.layers.Conv2D):
            kernel, strides = layer.kernel_size, layer.strides
            for axis, (before, after) in enumerate(((top, bottom), (left, right))):
                size = sizes[axis]
                f, s = kernel[axis], strides[axis]
                extra = (ops.same_padding(size + before + after, f, s)
                         if layer.padding == "same" else (0, 0))
                lo = before + extra[0]        # index of input cell 0 in the padded axis
                span = size + before + after + sum(extra)
                read = np.zeros(span, dtype=bool)
                for o in range(ops.conv_output_size(span, f, s)):
                    read[o * s:o * s + f] = True
                if not read[lo:lo + size].all():
                    return False
    return True


def _halving_model(model: Any) -> tuple[Any, str]:
    import keras

    layers = [layer for layer in model.layers
              if not isinstance(layer, keras.layers.InputLayer)]
    convs = [layer for layer in layers if type(layer) is keras.layers.Conv2D]
    others = [type(layer).__name__ for layer in layers
              if type(layer) not in (keras.layers.Conv2D, keras.layers.ZeroPadding2D)]
    if others:
        pooling = any("Pool" in name for name in others)
        return False, (f"the model should hold one Conv2D layer (and, if you like, "
                       f"ZeroPadding2D before it), nothing else; it also has "
                       f"{', '.join(others)}"
                       + ("; no pooling: the convolution itself must halve the size"
                          if pooling else ""))
    if len(convs) != 1:
        return False, ("the model should have exactly one Conv2D layer, it has "
                       f"{len(convs)}")
    _, out_shape, problem = model_shapes(model, (None, *HALVE_INPUT))
    if problem:
        return False, problem
    conv = convs[0]
    if conv.filters != HALVE_FILTERS or tuple(conv.kernel_size) != HALVE_KERNEL:
        return 0.25, (f"the Conv2D should have {HALVE_FILTERS} filters of 3x3, it has "
                      f"{conv.filters} of {conv.kernel_size[0]}x{conv.kernel_size[1]}")
    if tuple(conv.dilation_rate) != (1, 1):
        return 0.25, "leave dilation_rate at its default (1, 1)"
    want = (None, HALVE_INPUT[0] // 2, HALVE_INPUT[1] // 2, HALVE_FILTERS)
    if out_shape != want:
        height = out_shape[1] if len(out_shape) == 4 else None
        size, f = HALVE_INPUT[0], HALVE_KERNEL[0]
        hints = {size: "'same' keeps the input size only at stride 1: add a stride",
                 ops.conv_output_size(size, f): ("no stride and no padding: the "
                                                 "window moves 1 pixel at a time"),
                 ops.conv_output_size(size, f, 2): ("'valid' with stride 2 drops the "
                                                    "last position (floor): add "
                                                    "padding so that one more window "
                                                    "fits")}
        hint = hints.get(height, "choose strides and padding with "
                                 "O = floor((I + 2P - F) / S) + 1")
        if out_shape[1] != out_shape[2]:
            hint = ("height and width differ: use the same stride and padding on "
                    "both axes")
        return 0.5, f"the output should be {want}, it is {out_shape}: {hint}"
    expected_params = ops.conv_params(HALVE_INPUT[2], HALVE_KERNEL, HALVE_FILTERS)
    if model.count_params() != expected_params:
        return 0.75, (f"the output shape is right, but the model has "
                      f"{model.count_params()} parameters: keep the layer's biases "
                      "(use_bias=True, the default)")
    if not _all_pixels_read(model):
        return 0.75, ("the output is 14x14, but the windows never read the last row or "
                      "column of the image: put the extra zeros after, not before")
    return True, "one Conv2D layer that halves the image and reads every pixel"


# --------------------------------------------------------------------------- 2.6

# Four 3x3 convolutions with strides 1, 2, 2, 1 (padding "same"; it does not matter).
FIELD_STACK = [("conv1", 3, 1), ("conv2", 3, 2), ("conv3", 3, 2), ("conv4", 3, 1)]


def _field(answer: Any) -> tuple[Any, str]:
    expected = ops.receptive_field(FIELD_STACK)[-1].size
    ok, message = near(answer, expected, what="the receptive field")
    if ok:
        return True, message
    try:
        value = int(float(answer))
    except (TypeError, ValueError):
        return False, message
    kernels = [k for _, k, _ in FIELD_STACK]
    strides = [s for _, _, s in FIELD_STACK]
    own_stride = 1 + sum((k - 1) * s for k, s in zip(kernels, strides))
    jump_after = 1 + sum((k - 1) * math.prod(strides[:n + 1])
                         for n, k in enumerate(kernels))
    hints = {
        ops.receptive_field([(n, k, 1) for n, k, _ in FIELD_STACK])[-1].size:
            "that is the field of stride-1 layers: the strides make it grow faster",
        own_stride: ("each layer adds (F - 1) times the jump of the layer BEFORE it "
                     "(the product of the earlier strides), not times its own stride"),
        jump_after: ("a layer's own stride spaces out its outputs, not its inputs: use "
                     "the jump before the layer (the product of the earlier strides)"),
        math.prod(kernels): "fields do not multiply: each layer adds (F - 1) x jump",
        sum(kernels): "each layer adds F - 1 pixels times the jump, not F",
    }
    hint = hints.get(value, "r = r + (F - 1) * j, then j = j * S")
    return False, f"{message}; {hint}"


# --------------------------------------------------------------------------- 2.7
# Conv2D(32, 3, padding="same") on 28x28x16, at stride 2 instead of 1: what changes? A letter.

LETTERS = ("a", "b", "c", "d")
WHY_WRONG_27 = {
    "a": ("the filters are the same 3x3x16 grids, with the same biases, whatever the "
          "stride: a stride changes where the windows go, not the weights (section 2.6)"),
    "b": ("the stride applies along both axes: the window skips every other column and "
          "every other row"),
    "d": ("each output does cost the same 3x3x16 multiply-adds, but how many outputs are "
          "there at stride 2?"),
}


def _stride_cost(answer: Any) -> tuple[Any, str]:
    return choice(answer, "c", LETTERS, why_wrong=WHY_WRONG_27, what="`stride_answer`")


# --------------------------------------------------------------------------- 2.8
# Windows that span a 5x5 patch with the 9 weights per channel of a 3x3 filter: a letter.

WHY_WRONG_28 = {
    "a": ("a stride spaces this layer's neurons apart, but each still reads a 3x3 window; "
          "it widens what the *next* layer sees (section 2.6)"),
    "c": ("padding adds zeros around the input so that more windows fit; each window is "
          "still 3x3"),
    "d": ("a 5x5 filter does see a 5x5 patch, but with 25 weights per channel, not 9"),
}


def _wider_view(answer: Any) -> tuple[Any, str]:
    return choice(answer, "b", LETTERS, why_wrong=WHY_WRONG_28, what="`view_answer`")


TASKS = [
    Task("2.1", "output size with stride and padding", "out_size", _output_size,
         forbid=BY_HAND),
    Task("2.2", "how 'same' pads", "same_pads", _same_split, forbid=BY_HAND),
    Task("2.3", "strided, padded convolution", "conv2d_strided", _strided, points=3,
         kind="function", probes=_strided_probes),
    Task("2.4", "pixels that are never read", "never_read", _never_read_check,
         points=2, forbid=BY_HAND),
    Task("2.5", "a layer that halves", "halving_model", _halving_model, points=2,
         kind="model"),
    Task("2.6", "receptive field", "field_size", _field, forbid=BY_HAND),
    Task("2.7", "what a stride saves", "stride_answer", _stride_cost),
    Task("2.8", "a wider view, the same weights", "view_answer", _wider_view),
]
