"""Exercise 6: Improving performance (exercises/06_regularization.ipynb).

Expected values are computed here in float64 NumPy from the chapter's formulas (the test
suite checks those formulas against Keras: ``Normalization``, ``L2`` with ``SGD``,
``BatchNormalization``). Each function task also computes the outputs of the typical
slips (the test set's own statistics, a sign error in the weight decay, epsilon outside
the square root...) to name the one a wrong answer matches; no message gives an expected
value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_helpers.grading import (
    Failure,
    Progress,
    Task,
    activation_after,
    as_float_array,
    output_layer_problems,
    probe_verdict,
    training_progress,
)

SMOKE = {"N_TRAIN": 2000, "N_VAL": 500, "EPOCHS": 3, "BATCH_SIZE": 32}

#: Best validation accuracy that task 6.6 asks for at the grader's smoke size (2,000
#: training images, 3 epochs). Ten classes: guessing gives 0.10. The reference model
#: reaches about 0.27 there (about 0.5 at full size), a heavily regularized one
#: (dropout 0.25 after every pooling layer and 0.5 before the output) about 0.18.
ACCURACY_FLOOR = 0.15

#: Parameters above which task 6.5's model would be too slow to train on a CPU here.
MAX_PARAMS = 1_000_000


def _same(got: Any, other: np.ndarray, *, rtol: float = 1e-5,
          atol: float = 1e-6) -> bool:
    arr = as_float_array(got)
    other = np.asarray(other, dtype=float)
    return (arr is not None and arr.shape == other.shape
            and bool(np.all(np.isfinite(other)))
            and bool(np.allclose(arr, other, rtol=rtol, atol=atol)))


def _first_hint(got: Any, variants: list[tuple[np.ndarray, str]], expected: np.ndarray,
                **tol: float) -> str:
    """The hint of the first slip whose output ``got`` equals (the answer's not)."""
    for wrong, hint in variants:
        if not _same(wrong, expected, **tol) and _same(got, wrong, **tol):
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
    rng = np.random.default_rng(602)

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
    outputs = [_standardize(t, x) if _same(got, _standardize(t, x, ddof=1)) else got
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
    rng = np.random.default_rng(603)
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
    rng = np.random.default_rng(604)

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
    for n, (args, got) in enumerate(zip(probes, outputs), start=1):
        x, training = args[0], args[5]
        what = (f"probe {n} ({'training' if training else 'inference'}, x of shape "
                f"{x.shape}{', momentum and epsilon given' if len(args) > 6 else ''})")
        expected = _bn(*args)
        if isinstance(got, Failure):
            problems.append(f"{what}: your function raised {got}")
            continue
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            problems.append(f"{what}: return a tuple of three arrays (y, new moving "
                            "mean, new moving variance)")
            continue
        wrong = []
        for name, part, exp in zip(names, got, expected):
            arr = as_float_array(part)
            if arr is None:
                wrong.append(f"{name} is not a numeric array")
            elif arr.shape != exp.shape:
                wrong.append(f"{name} has shape {arr.shape}, expected {exp.shape}")
            elif not _same(arr, exp, rtol=1e-4, atol=1e-5):   # float32 is fine
                wrong.append(f"{name} is wrong")
        if not wrong:
            passed += 1
            continue
        hint = ""
        for switches, slip in _BN_SLIPS:
            slipped = _bn(*args, **switches)
            differs = any(not _same(a, b) for a, b in zip(slipped, expected))
            if differs and all(_same(a, b, rtol=1e-4, atol=1e-5)
                               for a, b in zip(got, slipped)):
                hint = slip
                break
        fixed = _bn_fixed_settings(args)
        if not hint and fixed is not None and all(
                _same(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(got, fixed)):
            hint = ("use the momentum and epsilon arguments, not Keras' defaults "
                    "written as numbers")
        if hint and hint in hints:
            continue                       # the same mistake, already explained
        hints.add(hint)
        message = f"{what}: " + ", ".join(wrong)
        problems.append(f"{message}: {hint}" if hint else message)
    if passed == len(probes):
        return True, (f"all {len(probes)} probes match "
                      "keras.layers.BatchNormalization, in training and at inference")
    return passed / len(probes), (f"{passed} of {len(probes)} probes right; "
                                  + "; ".join(problems[:2]))


# --------------------------------------------------------------------------- models

#: Layers that only alter the images, in training only.
AUGMENTATION = {"RandomShift", "RandomFlip", "RandomTranslation", "RandomRotation",
                "RandomZoom", "RandomCrop", "RandomContrast", "RandomBrightness",
                "RandomShear"}
DROPOUT_LAYERS = {"Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout"}


def _layers_and_shapes(model: Any) -> tuple[tuple[Any, ...], list[Any]] | str:
    """Input shape and layers of a rebuilt model, or a message saying why not."""
    try:
        in_shape = tuple(model.input_shape)
        tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        return ("the model has no input shape yet: start it with "
                "keras.Input(shape=(32, 32, 3))")
    return in_shape, [layer for layer in model.layers
                      if type(layer).__name__ != "InputLayer"]


def _flips_vertically(layer: Any) -> bool:
    """Keras' RandomFlip with a vertical mode (cnn_helpers' RandomFlip has no mode)."""
    return "vertical" in str(getattr(layer, "mode", ""))


def _reg_model_check(model: Any) -> tuple[Any, str]:
    shaped = _layers_and_shapes(model)
    if isinstance(shaped, str):
        return False, shaped
    in_shape, layers = shaped
    if in_shape != (None, 32, 32, 3):
        return False, (f"the input should be (None, 32, 32, 3) for CIFAR-10, it is "
                       f"{in_shape}")
    out_shape = tuple(model.output_shape)
    if out_shape != (None, 10):
        hint = ""
        if len(out_shape) == 4:
            hint = (": put Flatten() (or GlobalAveragePooling2D()) before the Dense "
                    "layers")
        return False, (f"the output should be (None, 10), one probability per class; "
                       f"it is {out_shape}{hint}")
    kinds = [type(layer).__name__ for layer in layers]
    problems: dict[str, str] = {}
    convs = [i for i, k in enumerate(kinds) if k == "Conv2D"]
    if len(convs) < 2:
        problems["conv"] = (f"the model has {len(convs)} Conv2D layer"
                            f"{'s' if len(convs) != 1 else ''}; use at least two "
                            "(the chapter's network has three)")
    augmenting = [i for i, k in enumerate(kinds) if k in AUGMENTATION]
    first_conv = convs[0] if convs else len(kinds)
    if not augmenting:
        problems["augment"] = ("the model has no data augmentation: start it with "
                               "RandomShift(...) and RandomFlip() from "
                               "cnn_helpers.augment")
    elif min(augmenting) > first_conv:
        problems["augment"] = ("the augmentation layers come after a convolution: they "
                               "should alter the images, so put them right after "
                               "keras.Input")
    if any(_flips_vertically(layers[i]) for i in augmenting):
        problems["vertical"] = ("keras.layers.RandomFlip() also flips upside down by "
                                "default, which no camera produces: use "
                                "RandomFlip(\"horizontal\") or cnn_helpers.augment's "
                                "RandomFlip()")
    if "BatchNormalization" not in kinds:
        problems["bn"] = ("the model has no BatchNormalization layer: put one between "
                          "a Conv2D and its activation")
    last, output_problems = output_layer_problems(layers, kinds)
    problems.update(output_problems)
    dropouts = [i for i, k in enumerate(kinds) if k in DROPOUT_LAYERS]
    rates = [float(getattr(layers[i], "rate", 0.0)) for i in dropouts]
    if any(i > last for i in dropouts):
        problems["dropout"] = ("a Dropout layer comes after the output layer: in "
                               "training it would zero some of the 10 probabilities; "
                               "put it before the last Dense layer")
    elif not dropouts:
        problems["dropout"] = ("the model has no Dropout layer: add at least one, e.g. "
                               "layers.Dropout(0.3) before the output layer")
    elif not any(r > 0 for r in rates):
        problems["dropout"] = "the Dropout rate is 0, so it drops nothing"
    elif max(rates) >= 0.8:
        problems["dropout"] = ("a Dropout rate of 0.8 or more drops most of the units "
                               "and the network hardly learns; the usual rates are 0.1 "
                               "to 0.5")
    for i in (i for i, k in enumerate(kinds) if k in ("Conv2D", "Dense")):
        if i != last and activation_after(layers, i) == "linear":
            what = "Conv2D" if kinds[i] == "Conv2D" else "hidden Dense"
            problems.setdefault("relu", (
                f"a {what} layer has no activation: give it a ReLU (after the "
                "BatchNormalization, if it has one)"))
    total = model.count_params()
    if total > MAX_PARAMS:
        problems["size"] = (f"{total:,} parameters are too many to train in a minute "
                            f"or two on a CPU here: stay below {MAX_PARAMS:,} (fewer "
                            "filters, or more pooling before Flatten)")
    if problems:
        fraction = 0.5 if len(problems) == 1 else 0.25
        return fraction, "; ".join(problems.values())
    named = [k for k in kinds if k in AUGMENTATION]
    return True, (f"augmentation ({', '.join(named)}), {len(convs)} Conv2D, "
                  f"{kinds.count('BatchNormalization')} BatchNormalization, Dropout "
                  f"({', '.join(f'{r:g}' for r in rates)}), a softmax output; "
                  f"{total:,} parameters")


# --------------------------------------------------------------------------- 6.6


def _history_check(history: Any) -> tuple[Any, str]:
    progress = training_progress(
        history, fit_call="reg_model.fit",
        nan_hint="are the inputs standardized, and is the learning rate about 0.001?",
        not_down_hint=("are the inputs standardized, and is the model compiled with Adam "
                       "and the loss \"sparse_categorical_crossentropy\"?"),
        missing_validation=("validation curves: pass validation_data=(x_val, y_val) to "
                            "fit"))
    if not isinstance(progress, Progress):
        return progress
    fell, accuracies = progress.fell, progress.accuracies
    best = max(accuracies)
    epoch = accuracies.index(best) + 1
    result = f"{fell}; best validation accuracy {best:.3f} (epoch {epoch})"
    if best >= ACCURACY_FLOOR:
        return True, result
    return 0.5, (f"{fell}, but the best validation accuracy, {best:.3f}, is hardly "
                 f"above guessing (0.1); the check asks for {ACCURACY_FLOOR} at its "
                 f"small size ({SMOKE['N_TRAIN']:,} images, {SMOKE['EPOCHS']} epochs). "
                 "Standardize the validation images with the training statistics too, "
                 "and keep the Dropout rates moderate")


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
    Task("6.6", "training it", "history", _history_check, points=2),
]
