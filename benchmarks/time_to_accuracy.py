"""Time to accuracy: train MNIST recipes side by side and record when each reaches a target.

    python benchmarks/time_to_accuracy.py                        # every recipe, full size
    python benchmarks/time_to_accuracy.py --recipes lenet book   # a selection
    python benchmarks/time_to_accuracy.py --n-train 2000 --max-epochs 1   # a smoke run

For each recipe of :data:`cnn_helpers.models.MNIST_RECIPES` (the lecture documents' and the
book's), the script trains the model exactly as the recipe says, one epoch at a time, and
after every epoch measures the test accuracy. Only training counts towards the clock; the
evaluation after each epoch does not. It writes a JSON file with, for each recipe, the
cumulative training time and test accuracy after every epoch, the time at which the test
accuracy first reached each threshold (``null`` if never), and the final accuracy; and a
PNG of accuracy against training time. The file names carry the backend and the device.

Runs on any Keras 3 backend: ``KERAS_BACKEND=jax python benchmarks/time_to_accuracy.py``
on a GPU machine without TensorFlow (the data comes from ``$CNN_HELPERS_DATA`` or the
Keras download, as everywhere in the book).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing, e.g. on a GPU machine

from cnn_helpers import datasets, models, runtime  # noqa: E402

DEFAULT_THRESHOLDS = (0.99, 0.992, 0.994, 0.995)


def _prepare(recipe: models.Recipe, x_train: np.ndarray, y_train: np.ndarray,
             x_test: np.ndarray, y_test: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pixels as the recipe has them; the training part the recipe trains on."""
    import keras

    scale = 255.0 if recipe.scale else 1.0
    xs = x_train[..., None].astype("float32") / scale
    xt = x_test[..., None].astype("float32") / scale
    ys = keras.utils.to_categorical(y_train, 10)
    yt = keras.utils.to_categorical(y_test, 10)
    if isinstance(recipe.validation, float):     # Keras' validation_split holds out the end
        keep = int(round(len(xs) * (1 - recipe.validation)))
        xs, ys = xs[:keep], ys[:keep]
    return xs, ys, xt, yt


def run_recipe(recipe: models.Recipe, data: tuple[np.ndarray, ...], thresholds: tuple[float, ...],
               max_epochs: int | None, seed: int) -> dict[str, Any]:
    import keras

    runtime.set_seed(seed)
    xs, ys, xt, yt = _prepare(recipe, *data)
    epochs = recipe.epochs if max_epochs is None else min(recipe.epochs, max_epochs)
    steps = int(np.ceil(len(xs) / recipe.batch_size))
    model = recipe.build()
    model.compile(optimizer=recipe.optimizer(steps, epochs),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])
    elapsed, times, accuracies = 0.0, [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.fit(xs, ys, batch_size=recipe.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                  verbose=0, shuffle=True)
        elapsed += time.perf_counter() - t0
        accuracy = float(model.evaluate(xt, yt, batch_size=1000, verbose=0)[1])
        times.append(round(elapsed, 2))
        accuracies.append(round(accuracy, 4))
        print(f"  {recipe.name:14} epoch {epoch + 1:2}/{epochs}: {elapsed:7.1f} s  "
              f"test accuracy {accuracy:.4f}", flush=True)
    reached = {f"{t:.3f}": next((s for s, a in zip(times, accuracies) if a >= t), None)
               for t in thresholds}
    return {"source": recipe.source, "reported": recipe.reported, "parameters": model.count_params(),
            "batch_size": recipe.batch_size, "epochs": epochs, "training_images": len(xs),
            "scaled_inputs": recipe.scale, "seconds_per_epoch_cumulative": times,
            "test_accuracy_per_epoch": accuracies, "time_to_accuracy_s": reached,
            "final_test_accuracy": accuracies[-1], "training_seconds": times[-1]}


def _speedup(results: dict[str, Any], fast: str, slow: str, threshold: str) -> dict[str, Any] | None:
    """How many times sooner ``fast`` reaches ``threshold`` than ``slow``.

    If ``slow`` never reaches it, its whole training time is a lower bound for its time, so
    the ratio is a lower bound too (``"at_least": true``).
    """
    if fast not in results or slow not in results:
        return None
    t_fast = results[fast]["time_to_accuracy_s"].get(threshold)
    t_slow = results[slow]["time_to_accuracy_s"].get(threshold)
    if t_fast is None:
        return {"threshold": threshold, "ratio": None, "note": f"{fast} never reached it"}
    at_least = t_slow is None
    t_slow = results[slow]["training_seconds"] if at_least else t_slow
    return {"threshold": threshold, "fast": fast, "slow": slow, "fast_s": t_fast, "slow_s": t_slow,
            "ratio": round(t_slow / t_fast, 2), "at_least": at_least}


def _plot(results: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, r in results.items():
        ax.plot(r["seconds_per_epoch_cumulative"], r["test_accuracy_per_epoch"], "o-", ms=3,
                label=f"{name} ({r['final_test_accuracy']:.4f})")
    ax.axhline(0.992, color="0.5", lw=0.8, ls="--")
    ax.set_ylim(0.95, 1.0)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=sorted(models.MNIST_RECIPES),
                        default=list(models.MNIST_RECIPES), help="which recipes (default: all)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(DEFAULT_THRESHOLDS))
    parser.add_argument("--n-train", type=int, default=None, help="a stratified training subset")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap every recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    env = runtime.environment()
    print(env.summary(), flush=True)
    data_train, data_test = datasets.load_mnist(n_train=args.n_train)
    data = (*data_train, *data_test)
    thresholds = tuple(sorted(args.thresholds))
    results = {}
    for name in args.recipes:
        recipe = models.MNIST_RECIPES[name]
        print(f"{name}: {recipe.source}", flush=True)
        results[name] = run_recipe(recipe, data, thresholds, args.max_epochs, args.seed)

    smoke = args.n_train is not None or args.max_epochs is not None
    device = re.sub(r"[^a-z0-9]+", "-", env.device.lower()).strip("-")[:40]
    stem = f"mnist_{env.backend}_{device}" + ("_smoke" if smoke else "")
    report = {
        "benchmark": "MNIST time to test accuracy",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "environment": {"keras": env.keras, "backend": env.backend,
                        "backend_version": env.backend_version, "device": env.device,
                        "python": env.python},
        "data": datasets.data_source("mnist").description,
        "smoke": smoke,
        "thresholds": [f"{t:.3f}" for t in thresholds],
        "results": results,
        "book_vs_lenet_at_0.992": _speedup(results, "book", "lenet", "0.992"),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.output_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(results, args.output_dir / f"{stem}.png", f"MNIST: test accuracy vs training time ({env.device})")
    print(f"wrote {json_path} and {stem}.png", flush=True)
    speed = report["book_vs_lenet_at_0.992"]
    if speed and speed.get("ratio"):
        bound = "at least " if speed["at_least"] else ""
        print(f"book vs LeNet to 99.2%: {bound}{speed['ratio']}x sooner "
              f"({speed['fast_s']} s vs {speed['slow_s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
