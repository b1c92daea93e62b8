"""Exercise 6: Improving performance (exercises/06_regularization.ipynb).

Expected values are computed here in float64 NumPy from the chapter's formulas (the test
suite checks those formulas against Keras: ``Normalization``, ``L2`` with ``SGD``,
``BatchNormalization``). Each function task also computes the outputs of the typical
slips (the test set's own statistics, a sign error in the weight decay, epsilon outside
the square root...) to name the one a wrong answer matches; no message gives an expected
value. The random shift of task 6.8 is checked on what every right shift satisfies (the
check cannot know the draws); task 6.6 is graded on the trained model itself, scored on
test images the check chooses.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from cnn_helpers.grading import (
    Failure,
    Problems,
    Task,
    activation_after,
    arrays_agree,
    as_float_array,
    choice,
    model_shapes,
    output_layer_problems,
    partial_for,
    probe_rng,
    probe_verdict,
)
from cnn_helpers.grading.checks import (
    accuracy_of,
    capped_for_slip,
    held_out,
    optimizer_settings,
)

SMOKE = {"N_TRAIN": 2000, "N_VAL": 500, "EPOCHS": 3, "BATCH_SIZE": 32}

#: Accuracy on the check's own test images that task 6.6 asks for at the grader's smoke
#: size (2,000 training images, 3 epochs). Ten classes: guessing gives 0.10. The
#: reference model reaches about 0.27 there (about 0.5 at full size).
ACCURACY_FLOOR = 0.15

#: Parameters above which task 6.5's model would be too slow to train on a CPU here.
MAX_PARAMS = 1_000_000


def _first_hint(got: Any, variants: list[tuple[np.ndarray, str]], expected: np.ndarray,
                **tol: float) -> str:
    """The hint of the first slip whose output ``got`` equals (the answer's not)."""
    for wrong, hint in variants:
        if np.all(np.isfinite(wrong)) and not arrays_agree(wrong, expected, **tol) \
                and arrays_agree(got, wrong, **tol):
            return hint
    return ""


# --------------------------------------------------------------------------- 6.1
# Four runs' learning curves, generated in the notebook (section "Task 6.1"), whose
# regimes are fixed by construction: A overfits (validation accuracy peaks early, the
# training accuracy climbs towards 1), B underfits (both low and flat, no gap), C is
# just right (a small gap), D underfits (both low and close, still rising).

RUNS = ("A", "B", "C", "D")
REGIMES_61 = {"A": "overfitting", "B": "underfitting", "C": "just right",
              "D": "underfitting"}
_WORDS = {"overfitting": "overfitting", "overfit": "overfitting",
          "underfitting": "underfitting", "underfit": "underfitting",
          "justright": "just right", "goodfit": "just right"}


def _regime(word: Any) -> str | None:
    """The regime a student's word names ("Just right", "under-fitting"...), or None."""
    if not isinstance(word, str):
        return None
    return _WORDS.get("".join(c for c in word.lower() if c.isalpha()))


def _regimes_check(answer: Any) -> tuple[Any, str]:
    allowed = '"underfitting", "just right" or "overfitting"'
    if not isinstance(answer, dict):
        return False, ("`regimes` should be a dict such as {\"A\": ..., \"B\": ..., "
                       f"...}}, not a {type(answer).__name__}")
    keys = {str(k).strip().upper(): v for k, v in answer.items()}
    missing = [r for r in RUNS if r not in keys]
    if missing:
        return False, f"give a regime for every run: {', '.join(missing)} missing"
    said = {}
    for run in RUNS:
        regime = _regime(keys[run])
        if regime is None:
            return False, f"run {run}: {keys[run]!r} is not one of {allowed}"
        said[run] = regime
    if len(set(said.values())) == 1:
        return False, ("all four runs get the same regime; compare their final "
                       "training accuracies and the gaps to validation: they differ")
    wrong = [r for r in RUNS if said[r] != REGIMES_61[r]]
    if not wrong:
        return True, "all four runs read right"
    return (len(RUNS) - len(wrong)) / len(RUNS), (
        f"{len(RUNS) - len(wrong)} of {len(RUNS)} runs right; look again at run"
        f"{'s' if len(wrong) > 1 else ''} {', '.join(wrong)}: is the final training "
        "accuracy high or low, is the gap to validation small or large, and what does "
        "the validation curve do in the last epochs?")


# --------------------------------------------------------------------------- 6.2
# standardize(train_images, images): per-channel mu and sigma of train_images, applied
# to images.

_CHANNEL = (0, 1, 2)


def _standardize(train: np.ndarray, x: np.ndarray, ddof: int = 0) -> np.ndarray:
    t = np.asarray(train, dtype=float)
    axes = tuple(range(t.ndim - 1))
    mu, sigma = t.mean(axis=axes), t.std(axis=axes, ddof=ddof)
    return (np.asarray(x, dtype=float) - mu) / sigma


def _std_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = probe_rng(602)

    def images(n: int, side: int, means: list[float], stds: list[float]) -> np.ndarray:
        return rng.normal(means, stds, size=(n, side, side, len(means)))

    def uint8(n: int) -> np.ndarray:                  # like CIFAR-10's pixels
        pixels = images(n, 5, [125.0, 122.0, 113.0], [62.0, 61.0, 66.0])
        return np.clip(np.round(pixels), 0, 255).astype(np.uint8)

    means, stds = [120.0, 60.0, 200.0], [30.0, 10.0, 45.0]
    train_1 = images(40, 6, means, stds)
    return [(train_1, images(6, 6, [140.0, 45.0, 230.0], [45.0, 20.0, 30.0])),
            (uint8(30), uint8(4)),
            (images(25, 4, [0.4], [0.2]), images(3, 4, [0.6], [0.1])),
            (train_1, images(1, 6, [100.0, 70.0, 180.0], [20.0, 15.0, 60.0])),
            (train_1, train_1)]


def _std_variants(train: np.ndarray, x: np.ndarray) -> list[tuple[np.ndarray, str]]:
    t, xf = np.asarray(train, dtype=float), np.asarray(x, dtype=float)
    mu, sigma = t.mean(axis=_CHANNEL), t.std(axis=_CHANNEL)
    own = (xf - xf.mean(axis=_CHANNEL)) / xf.std(axis=_CHANNEL)
    with np.errstate(all="ignore"):
        return [
            (own, ("that uses the statistics of `images` themselves; mu and sigma must "
                   "come from the training images only (a test image arrives alone)")),
            ((xf - t.mean()) / t.std(), ("one mean and one standard deviation for all "
                                         "channels; compute one per channel, over "
                                         "axis=(0, 1, 2)")),
            ((xf - xf.mean()) / xf.std(), ("one mean and standard deviation for all "
                                           "channels, and from `images` instead of the "
                                           "training images")),
            (xf - mu, "the mean is subtracted, but the result is not divided by sigma"),
            (xf / sigma, "divided by sigma, but the mean is not subtracted first"),
            ((xf - mu) / sigma ** 2, ("divide by the standard deviation, not by the "
                                      "variance")),
            ((xf - t.mean(axis=0)) / t.std(axis=0),
             ("that is one mean per pixel position and channel (axis=0); the standard "
              "score here is per channel, over all images, rows and columns")),
            ((xf - xf.mean(axis=(1, 2), keepdims=True))
             / xf.std(axis=(1, 2), keepdims=True),
             ("each image is standardized with its own statistics; use the training "
              "images' per-channel mean and standard deviation for every image")),
            ((t - mu) / sigma, ("that is the standardized training set; return "
                                "`images` standardized")),
        ]


def _std_check(outputs: list[Any]) -> tuple[Any, str]:
    probes = _std_probes()
    # The sample standard deviation (ddof=1) instead of np.std's default is accepted:
    # on real training sets the two agree to a few parts in a million.
    outputs = [_standardize(t, x) if arrays_agree(got, _standardize(t, x, ddof=1)) else got
               for (t, x), got in zip(probes, outputs)]

    def diagnose(train: np.ndarray, x: np.ndarray, *, got: Any,
                 expected: np.ndarray) -> str:
        return _first_hint(got, _std_variants(train, x), expected)

    return probe_verdict(
        probes, outputs, _standardize,
        lambda t, x: (f"{len(t)} training images {t.shape[1:]} {t.dtype}, "
                      f"{len(x)} to standardize"),
        diagnose, done="standardized with the training images' per-channel statistics")


# --------------------------------------------------------------------------- 6.3
# sgd_step(w, grad, learning_rate, l2): one plain SGD step on J(w) + l2 * sum(w ** 2)
# (Keras' L2(l2) regularizer), where grad is the gradient of J alone.


def _sgd_step(w: np.ndarray, grad: np.ndarray, lr: float, l2: float) -> np.ndarray:
    w, grad = np.asarray(w, dtype=float), np.asarray(grad, dtype=float)
    return w - lr * (grad + 2 * l2 * w)


def _sgd_probes() -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    rng = probe_rng(603)
    return [(rng.normal(size=5), rng.normal(size=5), 0.1, 0.01),
            (rng.normal(0.0, 0.3, size=(3, 3, 2, 4)),
             rng.normal(0.0, 0.1, size=(3, 3, 2, 4)), 0.01, 0.05),
            (np.array([1.0, -2.0, 0.5, 3.0]), np.zeros(4), 0.5, 0.1),
            (rng.normal(size=6), rng.normal(size=6), 0.1, 0.0),
            (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), 1.0, 0.25)]


def _sgd_variants(w: np.ndarray, g: np.ndarray, lr: float,
                  l2: float) -> list[tuple[np.ndarray, str]]:
    sign = ("the penalty's gradient has the wrong sign: the weights grow instead of "
            "decaying (the lecture notes' slip); the penalty's gradient is added to "
            "grad")
    rate = ("the decay must be multiplied by the learning rate too: w shrinks by the "
            "factor (1 - learning_rate x lambda) per step")
    return [
        (w - lr * (g + l2 * w), ("the gradient of l2 * sum(w ** 2) is 2 * l2 * w: "
                                 "Keras' L2(l) has no 1/2 in front, so lambda = 2 l")),
        (w - lr * (g - 2 * l2 * w), sign),
        (w - lr * (g - l2 * w), sign),
        (w - 2 * l2 * w - lr * g, rate),
        (w - l2 * w - lr * g, rate),
        (w + lr * (g + 2 * l2 * w), ("a descent step goes against the gradient: "
                                     "subtract learning_rate x gradient from w")),
        (w - lr * 2 * l2 * w, "the data gradient `grad` is missing from the step"),
        (w - lr * g, "the penalty is missing: that is plain SGD without weight decay"),
        (-lr * (g + 2 * l2 * w), ("return the new weights, w plus the change, not only "
                                  "the change")),
    ]


def _sgd_check(outputs: list[Any]) -> tuple[Any, str]:
    def diagnose(w: np.ndarray, g: np.ndarray, lr: float, l2: float, *, got: Any,
                 expected: np.ndarray) -> str:
        return _first_hint(got, _sgd_variants(w, g, lr, l2), expected)

    return probe_verdict(
        _sgd_probes(), outputs, _sgd_step,
        lambda w, g, lr, l2: f"w of shape {np.shape(w)}, learning_rate {lr}, l2 {l2}",
        diagnose, done="match an SGD step with a Keras L2 penalty")


# --------------------------------------------------------------------------- 6.4
# batch_norm(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99,
#            epsilon=1e-3) -> (y, new_moving_mean, new_moving_var), per channel (last
# axis), as keras.layers.BatchNormalization computes it.


def _bn(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, moving_mean: np.ndarray,
        moving_var: np.ndarray, training: bool, momentum: float = 0.99,
        epsilon: float = 1e-3, *, ddof: int = 0, first_axis_only: bool = False,
        eps: str = "inside", affine: bool = True, swap: bool = False,
        update: bool | None = None, normalize_with: str | None = None,
        std_in_moving: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalization in float64, with switches for the typical slips.

    ``update``: whether the moving averages are updated (default: in training only);
    ``normalize_with``: "batch", "moving" (the old averages) or "updated" (the new
    ones), default "batch" in training and "moving" at inference.
    """
    x = np.asarray(x, dtype=float)
    gamma, beta = np.asarray(gamma, dtype=float), np.asarray(beta, dtype=float)
    mm, mv = np.asarray(moving_mean, dtype=float), np.asarray(moving_var, dtype=float)
    axes = (0,) if first_axis_only else tuple(range(x.ndim - 1))
    mean_b, var_b = x.mean(axis=axes), x.var(axis=axes, ddof=ddof)
    keep, take = (1 - momentum, momentum) if swap else (momentum, 1 - momentum)
    new_mm = keep * mm + take * mean_b
    new_mv = keep * mv + take * (np.sqrt(var_b) if std_in_moving else var_b)
    if update is None:
        update = bool(training)
    if normalize_with is None:
        normalize_with = "batch" if training else "moving"
    mean, var = {"batch": (mean_b, var_b), "moving": (mm, mv),
                 "updated": (new_mm, new_mv)}[normalize_with]
    scale = {"inside": np.sqrt(var + epsilon), "outside": np.sqrt(var) + epsilon,
             "none": np.sqrt(var)}[eps]
    with np.errstate(all="ignore"):
        x_hat = (x - mean) / scale
    y = gamma * x_hat + beta if affine else x_hat
    return (y, new_mm, new_mv) if update else (y, mm, mv)


def _bn_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(604)

    def case(shape: tuple[int, ...], training: bool, *extra: float) -> tuple[Any, ...]:
        c = shape[-1]
        centres = rng.normal(0.0, 2.0, size=c)
        spreads = rng.choice([0.05, 0.3, 1.0, 2.5], size=c)   # small: epsilon matters
        x = centres + spreads * rng.normal(size=shape)
        return (x, rng.uniform(0.5, 2.0, size=c), rng.normal(0.0, 1.0, size=c),
                rng.normal(0.0, 0.5, size=c), rng.uniform(0.5, 2.0, size=c),
                training, *extra)

    return [case((8, 5, 5, 4), True),          # feature maps, training
            case((8, 5, 5, 4), False),         # feature maps, inference
            case((16, 6), True),               # a Dense layer's outputs
            case((1, 4, 4, 3), False),         # a single image at inference
            case((6, 3, 3, 2), True, 0.9, 1e-5),   # other momentum and epsilon
            case((10, 5), False, 0.9, 1e-5)]


_TRAIN_STATS = ("in training mode, normalize with the mini-batch's own mean and "
                "variance, not the moving averages")
_BN_SLIPS: list[tuple[dict[str, Any], str]] = [
    ({"normalize_with": "moving"}, _TRAIN_STATS),
    ({"normalize_with": "updated"}, _TRAIN_STATS),
    ({"normalize_with": "batch"},
     ("at inference, normalize with the moving averages, not with the statistics "
      "of the batch")),
    ({"ddof": 1}, "the batch variance divides by m (np.var's default), not m - 1"),
    ({"eps": "outside"}, "epsilon goes inside the square root: sqrt(var + epsilon)"),
    ({"eps": "none"}, "epsilon is missing: divide by sqrt(var + epsilon)"),
    ({"first_axis_only": True},
     ("the statistics are per channel, over all images, rows and columns (every "
      "axis but the last), not over axis 0 only")),
    ({"affine": False}, "the result is x_hat: scale it by gamma and shift it by beta"),
    ({"swap": True},
     ("the moving averages keep `momentum` of their old value: momentum x moving + "
      "(1 - momentum) x batch statistic")),
    ({"update": False}, "in training mode, return the updated moving averages"),
    ({"update": True}, "at inference, the moving averages stay as they are"),
    ({"std_in_moving": True},
     "the moving variance averages the batch variance, not the standard deviation"),
]


def _bn_fixed_settings(args: tuple[Any, ...]) -> tuple[np.ndarray, ...] | None:
    """The output with Keras' default momentum and epsilon, where the probe sets
    others."""
    if len(args) <= 6:
        return None
    return _bn(*args[:6])


def _bn_check(outputs: list[Any]) -> tuple[Any, str]:
    probes = _bn_probes()
    names = ("y", "the new moving mean", "the new moving variance")
    passed, problems, hints = 0, [], set()  # type: ignore[var-annotated]
    slips: list[str] = []                   # one per wrong probe, "" if not recognised
    for n, (args, got) in enumerate(zip(probes, outputs), start=1):
        x, training = args[0], args[5]
        what = (f"probe {n} ({'training' if training else 'inference'}, x of shape "
                f"{x.shape}{', momentum and epsilon given' if len(args) > 6 else ''})")
        expected = _bn(*args)
        if isinstance(got, Failure):
            problems.append(f"{what}: your function raised {got}")
            slips.append("")
            continue
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            problems.append(f"{what}: return a tuple of three arrays (y, new moving "
                            "mean, new moving variance)")
            slips.append("")
            continue
        wrong = []
        for name, part, exp in zip(names, got, expected):
            arr = as_float_array(part)
            if arr is None:
                wrong.append(f"{name} is not a numeric array")
            elif arr.shape != exp.shape:
                wrong.append(f"{name} has shape {arr.shape}, expected {exp.shape}")
            elif not arrays_agree(arr, exp, rtol=1e-4, atol=1e-5):   # float32 is fine
                wrong.append(f"{name} is wrong")
        if not wrong:
            passed += 1
            continue
        hint = ""
        for switches, slip in _BN_SLIPS:
            slipped = _bn(*args, **switches)
            differs = any(not arrays_agree(a, b) for a, b in zip(slipped, expected))
            if differs and all(arrays_agree(a, b, rtol=1e-4, atol=1e-5)
                               for a, b in zip(got, slipped)):
                hint = slip
                break
        fixed = _bn_fixed_settings(args)
        if not hint and fixed is not None and all(
                arrays_agree(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(got, fixed)):
            hint = ("use the momentum and epsilon arguments, not Keras' defaults "
                    "written as numbers")
        slips.append(hint)
        if hint and hint in hints:
            continue                       # the same mistake, already explained
        hints.add(hint)
        message = f"{what}: " + ", ".join(wrong)
        problems.append(f"{message}: {hint}" if hint else message)
    if passed == len(probes):
        return True, (f"all {len(probes)} probes match "
                      "keras.layers.BatchNormalization, in training and at inference")
    return capped_for_slip(passed / len(probes), slips), (
        f"{passed} of {len(probes)} probes right; " + "; ".join(problems[:2]))


# --------------------------------------------------------------------------- models

#: Layers that only alter the images, in training only.
AUGMENTATION = {"RandomShift", "RandomFlip", "RandomTranslation", "RandomRotation",
                "RandomZoom", "RandomCrop", "RandomContrast", "RandomBrightness",
                "RandomShear"}
DROPOUT_LAYERS = {"Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout"}
CIFAR_INPUT = (None, 32, 32, 3)


def _flips_vertically(layer: Any) -> bool:
    """Keras' RandomFlip with a vertical mode (cnn_helpers' RandomFlip has no mode)."""
    return "vertical" in str(getattr(layer, "mode", ""))


def _reg_model_layers(model: Any) -> tuple[list[Any], str]:
    """The layers of a CIFAR-10 classifier (input layer left out), or why it is not one."""
    _, out_shape, problem = model_shapes(model, CIFAR_INPUT)
    if problem:
        return [], problem
    if out_shape != (None, 10):
        hint = ""
        if len(out_shape) == 4:
            hint = (": put Flatten() (or GlobalAveragePooling2D()) before the Dense "
                    "layers")
        return [], (f"the output should be (None, 10), one probability per class; "
                    f"it is {out_shape}{hint}")
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"], ""


def _augmentation_problems(layers: list[Any], kinds: list[str], problems: Problems) -> None:
    """Convolutions and augmentation: at least two Conv2D, augmentation first, no
    vertical flips."""
    convs = [i for i, k in enumerate(kinds) if k == "Conv2D"]
    if len(convs) < 2:
        problems.add("conv", (f"the model has {len(convs)} Conv2D layer"
                              f"{'s' if len(convs) != 1 else ''}; use at least two "
                              "(the chapter's network has three)"))
    augmenting = [i for i, k in enumerate(kinds) if k in AUGMENTATION]
    first_conv = convs[0] if convs else len(kinds)
    if not augmenting:
        problems.add("augment", ("the model has no data augmentation: start it with "
                                 "RandomShift(...) and RandomFlip() from "
                                 "cnn_helpers.augment"))
    elif min(augmenting) > first_conv:
        problems.add("augment", ("the augmentation layers come after a convolution: they "
                                 "should alter the images, so put them right after "
                                 "keras.Input"))
    if any(_flips_vertically(layers[i]) for i in augmenting):
        problems.add("vertical", ("keras.layers.RandomFlip() also flips upside down by "
                                  "default, which no camera produces: use "
                                  "RandomFlip(\"horizontal\") or cnn_helpers.augment's "
                                  "RandomFlip()"))


def _dropout_problem(layers: list[Any], kinds: list[str], last: int) -> str:
    """What is wrong with the model's Dropout layers ("" if nothing)."""
    dropouts = [i for i, k in enumerate(kinds) if k in DROPOUT_LAYERS]
    rates = [float(getattr(layers[i], "rate", 0.0)) for i in dropouts]
    if any(i > last for i in dropouts):
        return ("a Dropout layer comes after the output layer: in training it would zero "
                "some of the 10 probabilities; put it before the last Dense layer")
    if not dropouts:
        return ("the model has no Dropout layer: add at least one, e.g. layers.Dropout(0.3) "
                "before the output layer")
    if not any(r > 0 for r in rates):
        return "the Dropout rate is 0, so it drops nothing"
    if max(rates) >= 0.8:
        return ("a Dropout rate of 0.8 or more drops most of the units and the network "
                "hardly learns; the usual rates are 0.1 to 0.5")
    return ""


def _reg_model_problems(model: Any, layers: list[Any]) -> Problems:
    problems = Problems(limit=10)
    kinds = [type(layer).__name__ for layer in layers]
    _augmentation_problems(layers, kinds, problems)
    if "BatchNormalization" not in kinds:
        problems.add("bn", ("the model has no BatchNormalization layer: put one between "
                            "a Conv2D and its activation"))
    last, output_problems = output_layer_problems(layers, kinds)
    for key, text in output_problems.items():
        problems.add(key, text)
    dropout = _dropout_problem(layers, kinds, last)
    if dropout:
        problems.add("dropout", dropout)
    for i in (i for i, k in enumerate(kinds) if k in ("Conv2D", "Dense")):
        if i != last and activation_after(layers, i) == "linear":
            what = "Conv2D" if kinds[i] == "Conv2D" else "hidden Dense"
            problems.add("relu", (f"a {what} layer has no activation: give it a ReLU (after "
                                  "the BatchNormalization, if it has one)"))
    total = model.count_params()
    if total > MAX_PARAMS:
        problems.add("size", (f"{total:,} parameters are too many to train in a minute or "
                              f"two on a CPU here: stay below {MAX_PARAMS:,} (fewer filters, "
                              "or more pooling before Flatten)"))
    return problems


def _reg_model_check(model: Any) -> tuple[Any, str]:
    layers, problem = _reg_model_layers(model)
    if problem:
        return False, problem
    problems = _reg_model_problems(model, layers)
    if problems:
        return partial_for(problems), problems.text()
    return True, ("right: augmentation first, convolutions with batch normalization "
                  "and ReLU, Dropout before the output, and a softmax output")


# --------------------------------------------------------------------------- 6.6
# reg_model, trained: scored on CIFAR-10 test images that the check chooses, standardized
# with the training images' per-channel statistics (as the task standardizes).

#: CIFAR-10 test images the check of task 6.6 scores the model on (drawn per submission).
HELD_OUT_66 = 2000
#: The training images whose statistics standardize them: the notebook's full-size draw
#: (N_TRAIN + N_VAL = 5,000, seed 0); any few thousand give the same to a few thousandths.
STATS_IMAGES_66 = 5000
#: Below this, an accuracy on ten classes is no better than guessing (0.10).
GUESSING_66 = 0.12
_STATS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _train_statistics() -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of CIFAR-10 training images."""
    if "cifar10" not in _STATS:
        from cnn_helpers import datasets

        (x, _), _ = datasets.load_cifar10(n_train=STATS_IMAGES_66, n_test=10, seed=0)
        axes = (0, 1, 2)
        _STATS["cifar10"] = (x.mean(axis=axes, dtype=np.float64), x.std(axis=axes, dtype=np.float64))
    return _STATS["cifar10"]


def _cifar_held_out() -> tuple[np.ndarray, np.ndarray]:
    x, y = held_out("cifar10", HELD_OUT_66)
    mu, sigma = _train_statistics()
    return ((x - mu) / sigma).astype("float32"), y


def _untrained_problem(model: Any) -> str:
    """Why ``model`` cannot be task 6.6's trained classifier ("" if it can be)."""
    _, out_shape, problem = model_shapes(model, CIFAR_INPUT)
    if problem:
        return problem
    if out_shape != (None, 10):
        return f"the output should be (None, 10), one probability per class; it is {out_shape}"
    if not getattr(model, "trained_steps", 0):
        return ("`reg_model` has not been trained: compile it and call reg_model.fit(...) in "
                "this task's cell (the check scores the trained model itself, on images of "
                "its own choosing)")
    return ""


def _optimizer_problem(model: Any) -> str:
    """What differs from Adam with learning_rate=0.001 ("" if nothing or, for a model
    rebuilt without its optimizer, unknown)."""
    settings = optimizer_settings(model)
    if settings is None:
        return ""
    if settings["class_name"] != "Adam":
        return f"the task asks for Adam, and the model was compiled with {settings['class_name']}"
    rate = settings.get("learning_rate")
    if isinstance(rate, (int, float)) and not math.isclose(rate, 0.001, rel_tol=1e-6):
        return f"the task asks for learning_rate=0.001, and the model was compiled with {rate:g}"
    return ""


def _trained_check(model: Any) -> tuple[Any, str]:
    problem = _untrained_problem(model)
    if problem:
        return False, problem
    x, y = _cifar_held_out()
    accuracy = accuracy_of(model, x, y)
    if accuracy is None:
        return False, "the model cannot classify the check's 32x32x3 images"
    result = (f"accuracy {accuracy:.3f} on {HELD_OUT_66:,} test images the check chose, "
              "standardized with training statistics")
    advice = (f"the check asks for {ACCURACY_FLOOR} at its small size "
              f"({SMOKE['N_TRAIN']:,} images, {SMOKE['EPOCHS']} epochs). Standardize the "
              "images with the training statistics (validation images too), and keep the "
              "Dropout rates moderate")
    if accuracy < GUESSING_66:
        return False, f"{result}: no better than guessing (0.1); {advice}"
    if accuracy < ACCURACY_FLOOR:
        return 0.5, f"{result}, hardly above guessing (0.1); {advice}"
    optimizer = _optimizer_problem(model)
    if optimizer:
        return 0.5, f"{result}, but {optimizer}"
    return True, result


# --------------------------------------------------------------------------- 6.7
# dropout(x, rate, training, rng): inverted dropout; in training the values whose number
# from rng.random(x.shape) is at least `rate` are kept and scaled by 1 / (1 - rate).


def _uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The numbers ``rng.random(shape)`` gives, without advancing ``rng`` itself."""
    return copy.deepcopy(rng).random(shape)


def _dropout(x: np.ndarray, rate: float, training: bool, rng: np.random.Generator, *,
             keep_low: bool = False) -> np.ndarray:
    """Inverted dropout in float64; ``keep_low``: keep where the number is below
    1 - rate (the same law, other values dropped), which is right too."""
    x = np.asarray(x, dtype=float)
    if not training:
        return x
    u = _uniform(rng, x.shape)
    keep = u < 1 - rate if keep_low else u >= rate
    return np.where(keep, x / (1 - rate), 0.0)


def _dropout_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(607)

    def generator() -> np.random.Generator:
        return np.random.default_rng(int(rng.integers(2 ** 31)))

    return [(rng.normal(size=(200, 50)), 0.5, True, generator()),
            (rng.normal(size=(4, 6, 6, 8)), 0.2, True, generator()),
            (np.ones(2000), 0.75, True, generator()),       # 1 / rate != 1 / (1 - rate)
            (rng.normal(size=(30, 40)), 0.3, False, generator()),
            (rng.normal(size=(5, 8)), 0.0, True, generator()),
            (rng.normal(size=(3, 4, 4, 2)), 0.5, False, generator())]


def _dropout_slips(x: np.ndarray, rate: float, training: bool,
                   rng: np.random.Generator) -> list[tuple[np.ndarray, str]]:
    x = np.asarray(x, dtype=float)
    u = _uniform(rng, x.shape)
    keep, low = u >= rate, u < rate
    kept_share = ("`rate` is the share of values set to 0 (Keras' Dropout(rate)); this "
                  "keeps that share instead: keep a value where its number is at least rate")
    if not training:
        return [(x * (1 - rate), "at inference inverted dropout returns x unchanged: the "
                                 "scaling happens in training (multiplying by 1 - rate is "
                                 "the original dropout's rule)"),
                (x / (1 - rate), "at inference (training=False) return x unchanged"),
                (_dropout(x, rate, True, rng), "at inference (training=False) dropout does "
                                               "nothing: return x as it is")]
    with np.errstate(all="ignore"):
        return [(x * keep, "the kept values must be scaled by 1 / (1 - rate), so that the "
                           "expected output stays x (inverted dropout)"),
                (x * keep / rate, "divide the kept values by the share kept, 1 - rate, "
                                  "not by rate"),
                (x * keep * (1 - rate), "divide the kept values by 1 - rate: multiplying "
                                        "makes them smaller, not larger"),
                (x * low / (1 - rate), kept_share),
                (x * low / rate, kept_share),
                (x, "in training (training=True) set a share `rate` of the values to 0")]


def _other_draws(got: Any, x: np.ndarray, rate: float) -> bool:
    """Is ``got`` a right inverted dropout of ``x``, with numbers drawn otherwise: every
    value 0 or x / (1 - rate), and about the share `rate` of them 0?"""
    arr = as_float_array(got)
    x = np.asarray(x, dtype=float)
    if arr is None or arr.shape != x.shape or not 0 < rate < 1:
        return False
    nonzero = x != 0
    dropped = np.isclose(arr, 0.0, atol=1e-7)
    scaled = np.isclose(arr, x / (1 - rate), rtol=1e-5, atol=1e-7)
    share = dropped[nonzero].mean() if nonzero.any() else rate
    return bool(np.all(dropped | scaled)) and abs(share - rate) < 0.05


def _dropout_diagnose(x, rate, training, rng, *, got: Any, expected: np.ndarray) -> str:
    for wrong, hint in _dropout_slips(x, rate, training, rng):
        if not arrays_agree(wrong, expected) and arrays_agree(got, wrong):
            return hint
    if training and _other_draws(got, x, rate):
        return ("each value is 0 or x / (1 - rate), about the right share of them 0, but "
                "not where rng.random(x.shape) >= rate keeps them: draw the numbers with "
                "rng.random(x.shape), from the rng passed in")
    return ""


def _dropout_check(outputs: list[Any]) -> tuple[Any, str]:
    probes = _dropout_probes()
    # Keeping the values whose number is below 1 - rate is the same dropout: accepted.
    outputs = [_dropout(*args) if args[2] and arrays_agree(got, _dropout(*args, keep_low=True))
               else got for args, got in zip(probes, outputs)]
    return probe_verdict(
        probes, outputs, _dropout,
        lambda x, rate, training, rng: (f"x of shape {np.shape(x)}, rate {rate}, "
                                        f"training={training}"),
        _dropout_diagnose, done="match inverted dropout, in training and at inference")


# --------------------------------------------------------------------------- 6.8
# random_shift(images, max_shift, rng): every image moved by its own whole-pixel shift,
# each axis uniform on -max_shift..max_shift, zeros filled in. Checked on what any right
# shift satisfies (the check cannot know the draws), not on exact values.


def _moved(images: np.ndarray, dy: int, dx: int, *, wrap: bool = False) -> np.ndarray:
    """``images`` moved down by ``dy`` and right by ``dx`` pixels, zeros filled in (or
    wrapped around, as np.roll does)."""
    if wrap:
        return np.roll(images, (dy, dx), axis=(1, 2))
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _shifts_of(images: np.ndarray, out: np.ndarray, reach: int,
               wrap: bool = False) -> np.ndarray:
    """(dy, dx) per image for which ``out`` is the image moved by it (|shift| <= reach),
    or (99, 99) where no such shift fits."""
    found = np.full((len(images), 2), 99)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            same = np.all(np.isclose(out, _moved(images, dy, dx, wrap=wrap)), axis=(1, 2, 3))
            found[same & (found[:, 0] == 99)] = (dy, dx)
    return found


def _shift_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(608)
    seeds = [int(s) for s in rng.integers(2 ** 31, size=3)]
    digits = rng.integers(1, 256, size=(400, 6, 6, 1)).astype(np.uint8)  # no zeros: a
    colour = rng.uniform(0.1, 1.0, size=(300, 5, 7, 3)).astype(np.float32)  # shift shows
    still = rng.normal(size=(20, 4, 4, 2))
    gen = np.random.default_rng
    return [(digits, 2, gen(seeds[0])),
            (colour, 1, gen(seeds[1])),
            (digits, 2, gen(seeds[0])),        # a generator in the same state: same shifts
            (digits, 2, gen(seeds[2])),        # another state: other shifts
            (still, 0, gen(seeds[1]))]         # max_shift 0: unchanged


def _shift_form(images: np.ndarray, got: Any, what: str) -> str:
    """What is wrong with the form of one probe's output ("" if nothing)."""
    if isinstance(got, Failure):
        return f"{what}: your function raised {got}"
    arr = as_float_array(got)
    if arr is None or arr.shape != images.shape:
        shape = "nothing" if arr is None else f"shape {arr.shape}"
        return f"{what}: it returned {shape}; return the batch, shape (N, H, W, C)"
    return ""


def _shift_law(shifts: np.ndarray, m: int, problems: Problems) -> None:
    """What the drawn shifts of one probe get wrong: one for all, a missing end of the
    range, one axis only, rows and columns tied, or some shifts far more frequent."""
    n = len(shifts)
    if len({tuple(s) for s in shifts}) == 1:
        problems.add("same", "every image moved by the same shift: draw a shift for each "
                             "image")
        return
    for axis in (0, 1):
        if shifts[:, axis].max() == m - 1 and shifts[:, axis].min() == -m:
            problems.add("high", "shifts of +max_shift never occur: rng.integers(low, high) "
                                 "leaves high out, so use high = max_shift + 1")
    if np.all(shifts[:, 0] == 0) or np.all(shifts[:, 1] == 0):
        problems.add("axis", "the images move along one axis only: draw a row shift and a "
                             "column shift")
    elif np.all(shifts[:, 0] == shifts[:, 1]):
        problems.add("tied", "every image moves as far down as right: draw the row shift "
                             "and the column shift separately")
    share, spread = 1 / (2 * m + 1), 5 * math.sqrt((1 / (2 * m + 1)) * (1 - 1 / (2 * m + 1)) / n)
    counts = [np.mean(shifts[:, axis] == v) for axis in (0, 1) for v in range(-m, m + 1)]
    tied = any(key in problems for key in ("high", "axis", "tied"))
    if not tied and any(abs(c - share) > spread for c in counts):
        problems.add("uneven", "some shifts come up far more often than others: every whole "
                               "number from -max_shift to max_shift should be equally likely")


def _shift_probe(images: np.ndarray, m: int, got: Any, what: str,
                 problems: Problems) -> tuple[np.ndarray | None, str]:
    """The shifts one probe's output shows (None if not all images are shifts within
    reach), or a fatal message; problems found along the way go into ``problems``."""
    form = _shift_form(images, got, what)
    if form:
        return None, form
    arr = np.asarray(got)
    if arr.dtype != images.dtype:
        problems.add("dtype", f"keep the images' dtype ({images.dtype} in, {images.dtype} "
                              f"out; yours is {arr.dtype}): e.g. np.zeros_like(images)")
    shifts = _shifts_of(images, arr.astype(images.dtype), m + 1)
    if np.all(shifts[:, 0] != 99) and np.all(np.abs(shifts) <= m):
        return shifts, ""
    if m and np.all(_shifts_of(images, arr.astype(images.dtype), m, wrap=True)[:, 0] != 99):
        problems.add("wrap", "np.roll wraps the pixels that leave one side around to the "
                             "other: fill the uncovered rows and columns with 0 instead")
        return None, ""
    if np.all(shifts[:, 0] != 99):
        problems.add("reach", "some images move by more than max_shift pixels")
        return None, ""
    bad = int(np.argmax(shifts[:, 0] == 99))
    return None, (f"{what}: image {bad} is not its input moved by whole pixels (at most "
                  "max_shift along each axis) with zeros filled in")


def _shift_check(outputs: list[Any]) -> tuple[Any, str]:
    probes = _shift_probes()
    problems, found = Problems(limit=3), []
    for n, ((images, m, _), got) in enumerate(zip(probes, outputs), start=1):
        what = f"probe {n} ({len(images)} images {images.shape[1:]} {images.dtype}, max_shift {m})"
        shifts, note = _shift_probe(images, m, got, what, problems)
        if note and n <= 2:                 # the function does not shift the images
            return False, note
        if note:
            problems.add(f"probe {n}", note)
        found.append(shifts)
        if shifts is not None and m > 0 and n <= 2:
            _shift_law(shifts, m, problems)
    if found[0] is not None and found[2] is not None and not np.array_equal(found[0], found[2]):
        problems.add("rng", "two generators in the same state gave different shifts: draw "
                            "them from the rng passed in, not from np.random")
    if found[0] is not None and found[3] is not None and np.array_equal(found[0], found[3]):
        problems.add("fixed", "the shifts do not change with the rng passed in: draw them "
                              "from it")
    if problems:
        return partial_for(problems), problems.text()
    return True, ("every image moved by its own shift within max_shift, zeros filled in, "
                  "all shifts equally likely, the same for the same generator")


# --------------------------------------------------------------------------- 6.9
# A remedy for runs A, B and D of task 6.1: a letter each.

LETTERS = ("a", "b", "c", "d")
REMEDIES_69 = {"A": "c", "B": "b", "D": "a"}
WHY_WRONG_69 = {
    "A": {"a": ("run A's validation accuracy stopped rising long ago, and sinks, while the "
                "training accuracy climbs: more epochs widen the gap"),
          "b": ("a bigger model fits the training images even more closely, and run A "
                "already fits them far better than new ones"),
          "d": ("run A learns its training images quickly and well: the step size is not "
                "its problem, the gap is")},
    "B": {"a": "run B's curves have been flat for many epochs: more of them will not lift them",
          "c": ("regularization makes the training images harder to fit, and run B cannot "
                "fit them as it is"),
          "d": "run B's curves are smooth and flat, not noisy: it learned what its model can"},
    "D": {"b": ("a bigger model is the remedy once the training accuracy has stopped "
                "rising; run D's still climbs at the last epoch"),
          "c": "regularization closes a gap between training and validation; run D has none",
          "d": "run D's curves rise smoothly: a smaller step would only slow them down"},
}


def _remedies_check(answer: Any) -> tuple[Any, str]:
    if not isinstance(answer, dict):
        return False, ("`remedies` should be a dict such as {\"A\": ..., \"B\": ..., "
                       f"\"D\": ...}}, not a {type(answer).__name__}")
    said = {str(k).strip().upper(): v for k, v in answer.items()}
    missing = [run for run in REMEDIES_69 if run not in said]
    if missing:
        return False, f"give a remedy for runs A, B and D: {', '.join(missing)} missing"
    verdicts = {run: choice(said[run], right, LETTERS, why_wrong=WHY_WRONG_69[run],
                            what=f"run {run}'s remedy")
                for run, right in REMEDIES_69.items()}
    odd = [message for ok, message in verdicts.values() if "should be one of" in message]
    if odd:
        return False, odd[0]
    if len({str(said[run]).strip().lower() for run in REMEDIES_69}) == 1:
        return False, "all three runs get the same remedy; their curves differ"
    wrong = [f"run {run}: {message}" for run, (ok, message) in verdicts.items() if not ok]
    if not wrong:
        return True, "all three remedies right"
    right = len(REMEDIES_69) - len(wrong)
    return right / len(REMEDIES_69), (f"{right} of {len(REMEDIES_69)} right; "
                                      + "; ".join(wrong))


# --------------------------------------------------------------------------- 6.10
# Which technique holds the gap down most, in the chapter's table (section 6.8): a letter.

WHY_WRONG_610 = {
    "a": ("the L2 penalty narrows the gap, but compare train - val for every technique "
          "before choosing"),
    "b": ("the \"fit\" column is measured with dropout switching units off, while the "
          "weights still change; the gap that counts is measured in inference mode, with "
          "the \"train\" column (section 6.3 of the chapter)"),
    "d": ("batch normalization mainly makes training faster and steadier: its gap is close "
          "to the baseline's"),
}


def _holds_gap(answer: Any) -> tuple[Any, str]:
    return choice(answer, "c", LETTERS, why_wrong=WHY_WRONG_610, what="`holds_gap`")


TASKS = [
    Task("6.1", "reading learning curves", "regimes", _regimes_check),
    Task("6.2", "standardize per channel", "standardize", _std_check, points=2,
         kind="function", probes=_std_probes),
    Task("6.3", "an SGD step with weight decay", "sgd_step", _sgd_check, points=2,
         kind="function", probes=_sgd_probes),
    Task("6.4", "batch normalization", "batch_norm", _bn_check, points=3,
         kind="function", probes=_bn_probes),
    Task("6.5", "a regularized CNN", "reg_model", _reg_model_check, points=2,
         kind="model"),
    # trained, not built: the ready-made fallback model (cnn_helpers.models) is allowed
    Task("6.6", "training it", "reg_model", _trained_check, points=2, kind="model",
         forbid=("cnn_helpers.training",)),
    Task("6.7", "dropout from scratch", "dropout", _dropout_check, points=2,
         kind="function", probes=_dropout_probes),
    Task("6.8", "a random shift from scratch", "random_shift", _shift_check, points=2,
         kind="function", probes=_shift_probes),
    Task("6.9", "a remedy for each run", "remedies", _remedies_check),
    Task("6.10", "what narrows the gap most", "holds_gap", _holds_gap),
]
