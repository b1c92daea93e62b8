"""Training a recipe with a stopwatch: the code that chapters 7 and 8 and the benchmark share.

:func:`train_timed` trains a :class:`cnn_helpers.models.Recipe` exactly as its document
says, one epoch at a time, and after every epoch measures the test accuracy. Only training
counts towards the clock (the first epoch includes compiling the training step); the
evaluation after each epoch does not. :func:`prepare` turns the loaders' uint8 arrays into
what a recipe trains on, :func:`predict` adds test-time flips, and
:func:`steps_per_second` measures training throughput.

Introduced in chapter 8 (CIFAR-10); ``benchmarks/time_to_accuracy.py`` uses it for both
data sets. Chapter 6 uses the two reading aids at the end: :func:`epoch_logger`, a callback
that writes one compact line per epoch (instead of Keras' two), and :func:`results_table`,
a small text table of the results of several runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cnn_helpers import runtime
from cnn_helpers.models import Recipe

__all__ = ["Prepared", "accuracy", "epoch_logger", "predict", "prepare", "results_table",
           "steps_per_second", "train_timed"]


@dataclass
class Prepared:
    """A recipe's data: float32 images with a channel axis and one-hot labels.

    ``x_train`` / ``y_train`` are the part the optimizer trains on (a ``validation_split``
    fraction at the end is held out, as Keras' ``fit`` does); ``mean`` / ``std`` are the
    per-channel statistics used to standardize (``None`` when the recipe does not).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray
    mean: np.ndarray | None = None
    std: np.ndarray | None = None


def _images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:                      # MNIST: (n, 28, 28) -> (n, 28, 28, 1)
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (n, height, width) or (n, height, width, "
                         f"channels), got an array of shape {x.shape}")
    return x


def prepare(recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
            y_test: np.ndarray) -> Prepared:
    """Pixels as the recipe has them (scaled, standardized), one-hot labels, and only the
    training part that the recipe trains on."""
    import keras

    scale = 255.0 if recipe.scale else 1.0
    xs = _images(x_train).astype("float32") / scale
    xt = _images(x_test).astype("float32") / scale
    labels_train = np.asarray(y_train).reshape(-1)
    labels_test = np.asarray(y_test).reshape(-1)
    if len(xs) != len(labels_train) or len(xt) != len(labels_test):
        raise ValueError(f"images and labels differ in number: {len(xs)} vs "
                         f"{len(labels_train)} (training), {len(xt)} vs {len(labels_test)} (test)")
    if isinstance(recipe.validation, float):     # Keras' validation_split holds out the end
        keep = int(round(len(xs) * (1 - recipe.validation)))
        xs, labels_train = xs[:keep], labels_train[:keep]
    mean = std = None
    if recipe.standardize:
        mean = xs.mean(axis=(0, 1, 2), dtype="float64").astype("float32")
        std = xs.std(axis=(0, 1, 2), dtype="float64").astype("float32")
        xs = (xs - mean) / std
        xt = (xt - mean) / std
    return Prepared(xs, keras.utils.to_categorical(labels_train, 10), xt,
                    keras.utils.to_categorical(labels_test, 10), labels_test, mean, std)


def predict(model: Any, x: np.ndarray, *, test_time_flip: bool = False,
            batch_size: int = 1000) -> np.ndarray:
    """Class probabilities; with ``test_time_flip``, the mean of the probabilities for each
    image and for its mirror image (left and right swapped)."""
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype="float64")
    if test_time_flip:
        flipped = np.ascontiguousarray(x[:, :, ::-1])
        probs = (probs + np.asarray(model.predict(flipped, batch_size=batch_size, verbose=0),
                                    dtype="float64")) / 2
    return probs


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose most probable class is the label."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels).reshape(-1)))


@dataclass
class TimedRun:
    """What :func:`train_timed` returns: the trained model, its data and the per-epoch log."""

    model: Any
    data: Prepared
    result: dict[str, Any] = field(default_factory=dict)


def build(recipe: Recipe) -> Any:
    """A fresh, compiled model for ``recipe``, in mixed precision where the recipe asks for
    it and a GPU is present (elsewhere bfloat16 is emulated, and slower)."""
    import keras

    mixed = recipe.mixed_precision and runtime.environment().accelerator
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if mixed else "float32")
    try:
        model = recipe.build()
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def train_timed(recipe: Recipe, data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], *,
                epochs: int | None = None, thresholds: tuple[float, ...] = (), seed: int = 0,
                log: Callable[[str], None] | None = print, log_every: int = 1) -> TimedRun:
    """Train ``recipe`` on ``data = (x_train, y_train, x_test, y_test)`` (the loaders' arrays).

    Args:
        epochs: train this many epochs instead of the recipe's (a schedule then spans them).
        thresholds: test accuracies whose first crossing time is recorded.
        log: called with one line per epoch (``None``: silent).
        log_every: log only every this many epochs (and the last one).

    Returns:
        A :class:`TimedRun`; its ``result`` holds, per epoch, the cumulative training time,
        the training loss and accuracy, and the test accuracy (with test-time flips when
        the recipe uses them), plus the time at which each threshold was first reached
        (``None``: never) and the final test accuracy.
    """
    import keras

    runtime.set_seed(seed)
    prepared = prepare(recipe, *data)
    epochs = recipe.epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    steps = int(np.ceil(len(prepared.x_train) / recipe.batch_size))
    model = build(recipe)
    model.compile(optimizer=recipe.optimizer(steps, epochs),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])
    elapsed, times, test_acc, loss, train_acc = 0.0, [], [], [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        history = model.fit(prepared.x_train, prepared.y_train, batch_size=recipe.batch_size,
                            epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=True)
        elapsed += time.perf_counter() - t0
        probs = predict(model, prepared.x_test, test_time_flip=recipe.test_time_flip)
        times.append(round(elapsed, 2))
        test_acc.append(round(accuracy(probs, prepared.labels_test), 4))
        loss.append(round(float(history.history["loss"][-1]), 4))
        train_acc.append(round(float(history.history["accuracy"][-1]), 4))
        if log and ((epoch + 1) % max(1, log_every) == 0 or epoch + 1 == epochs):
            log(f"{recipe.name:16} epoch {epoch + 1:3}/{epochs}: {elapsed:7.1f} s  "
                f"loss {loss[-1]:.4f}  train acc {train_acc[-1]:.4f}  "
                f"test acc {test_acc[-1]:.4f}")
    reached = {f"{t:.3f}": next((s for s, a in zip(times, test_acc) if a >= t), None)
               for t in sorted(thresholds)}
    result = {"source": recipe.source, "reported": recipe.reported,
              "parameters": int(model.count_params()), "batch_size": recipe.batch_size,
              "epochs": epochs, "training_images": len(prepared.x_train),
              "scaled_inputs": recipe.scale, "standardized": recipe.standardize,
              "test_time_flip": recipe.test_time_flip,
              "mixed_precision": model.dtype_policy.name != "float32",
              "seconds_per_epoch_cumulative": times, "train_loss_per_epoch": loss,
              "train_accuracy_per_epoch": train_acc, "test_accuracy_per_epoch": test_acc,
              "time_to_accuracy_s": reached, "final_test_accuracy": test_acc[-1],
              "training_seconds": times[-1]}
    return TimedRun(model, prepared, result)


def steps_per_second(model: Any, x: np.ndarray, y: np.ndarray, *, batch_size: int,
                     steps: int = 50, repeats: int = 3) -> float:
    """Training steps per second of a compiled ``model`` on batches of ``x``, ``y``.

    One untimed pass compiles the training step; then ``repeats`` timed passes of
    ``steps`` steps each; the best pass counts (the least disturbed by other work).
    """
    n = batch_size * steps
    if len(x) < n:
        reps = int(np.ceil(n / len(x)))
        x, y = np.concatenate([x] * reps)[:n], np.concatenate([y] * reps)[:n]
    x, y = x[:n], y[:n]
    model.fit(x[:batch_size * 2], y[:batch_size * 2], batch_size=batch_size, epochs=1,
              verbose=0)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        best = min(best, time.perf_counter() - t0)
    return steps / best


_SHORT = {"accuracy": "acc", "val_accuracy": "val acc", "val_loss": "val loss"}


def epoch_logger(*, every: int = 1, log: Callable[[str], None] | None = print,
                 name: str = "", show_time: bool = False) -> Any:
    """A Keras callback that writes one compact line per epoch, for ``fit(..., verbose=0)``.

    Each line holds the epoch and the metrics of ``logs``: the training ones, then the
    validation ones, the loss first in each group, shortened (``acc``, ``val loss``,
    ``val acc``), e.g.
    ``epoch  3/20  loss 1.5204  acc 0.4518  val loss 1.4927  val acc 0.4615``.

    Args:
        every: write every this many epochs, and always the last one (0: write nothing).
        log: called with each line (``None``: write nothing).
        name: put in front of each line (to tell several runs apart).
        show_time: add the seconds the epoch took.

    The callback records the wall-clock seconds of every epoch (training plus the
    validation pass) in its ``seconds`` list, whether it writes or not.
    """
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            epochs = int((self.params or {}).get("epochs") or 0)
            last = epoch + 1 == epochs
            if not log or every < 1 or not ((epoch + 1) % every == 0 or last):
                return
            logs = dict(logs or {})
            train = [k for k in logs if not k.startswith("val_")]
            keys = [k for group in (train, [k for k in logs if k.startswith("val_")])
                    for k in sorted(group, key=lambda k: k not in ("loss", "val_loss"))]
            width = len(str(epochs)) if epochs else 1
            parts = [f"{name} " if name else "",
                     f"epoch {epoch + 1:{width}}/{epochs}" if epochs else f"epoch {epoch + 1}"]
            parts += [f"  {_SHORT.get(k, k)} {float(logs[k]):.4f}" for k in keys]
            if show_time:
                parts.append(f"  ({self.seconds[-1]:.1f} s)")
            log("".join(parts))

    return EpochLogger()


def results_table(rows: dict[str, dict[str, Any]], columns: list[tuple[str, str, str]], *,
                  name: str = "run") -> str:
    """The results of several runs as a small text table, one row per run.

    Args:
        rows: ``{run name: {key: value}}``.
        columns: ``(key, header, format)`` per column, the format as in ``format()``
            (``".3f"``, ``"+.3f"``, ``"d"``...); a missing key or ``None`` shows as ``-``.
        name: the header of the first column (the run names).

    Returns:
        The table as a string (no trailing newline): a header line, then one line per
        run; names are left-aligned, values right-aligned under their headers.
    """
    cells = [[format(row[key], fmt) if row.get(key) is not None else "-"
              for key, _, fmt in columns] for row in rows.values()]
    first = max([len(name)] + [len(str(n)) for n in rows])
    widths = [max([len(header)] + [len(r[i]) for r in cells])
              for i, (_, header, _) in enumerate(columns)]
    lines = [f"{name:{first}}" + "".join(f"  {h:>{w}}" for (_, h, _), w in zip(columns, widths))]
    for run, r in zip(rows, cells):
        lines.append(f"{str(run):{first}}" + "".join(f"  {v:>{w}}" for v, w in zip(r, widths)))
    return "\n".join(lines)
