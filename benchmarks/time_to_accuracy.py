"""Time to accuracy: train the lectures' recipes and the book's side by side, record when each
reaches a target test accuracy.

    python benchmarks/time_to_accuracy.py                        # MNIST, every recipe
    python benchmarks/time_to_accuracy.py --dataset cifar10      # CIFAR-10, every recipe
    python benchmarks/time_to_accuracy.py --recipes lenet book   # a selection
    python benchmarks/time_to_accuracy.py --n-train 2000 --max-epochs 1   # a smoke run

For each recipe of :data:`cnn_helpers.models.MNIST_RECIPES` or
:data:`~cnn_helpers.models.CIFAR10_RECIPES` (the lecture documents' and the book's), the
script trains the model exactly as the recipe says, one epoch at a time, and after every
epoch measures the test accuracy (:func:`cnn_helpers.training.train_timed`). Only training
counts towards the clock; the evaluation after each epoch does not. It writes a JSON file
with, for each recipe, the cumulative training time and test accuracy after every epoch,
the time at which the test accuracy first reached each threshold (``null`` if never), and
the final accuracy; and a PNG of accuracy against training time. The file names carry the
data set, the backend and the device.

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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing, e.g. on a GPU machine

from cnn_helpers import datasets, models, runtime, training  # noqa: E402

#: Per data set: its recipes, its loader, the default thresholds, the comparison the book
#: sets itself (fast recipe, slow recipe, threshold) and the plot's accuracy range.
DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"recipes": models.MNIST_RECIPES, "load": datasets.load_mnist,
              "thresholds": (0.99, 0.992, 0.994, 0.995), "compare": ("book", "lenet", "0.992"),
              "ylim": (0.95, 1.0), "title": "MNIST"},
    "cifar10": {"recipes": models.CIFAR10_RECIPES, "load": datasets.load_cifar10,
                "thresholds": (0.78, 0.85, 0.9, 0.93),
                "compare": ("book", "lecture_notes", "0.780"),
                "ylim": (0.3, 1.0), "title": "CIFAR-10"},
}
DEFAULT_THRESHOLDS = DATASETS["mnist"]["thresholds"]


def run_recipe(recipe: models.Recipe, data: tuple[Any, ...], thresholds: tuple[float, ...],
               max_epochs: int | None, seed: int) -> dict[str, Any]:
    """Train one recipe (at most ``max_epochs`` epochs) and return its per-epoch record."""
    epochs = recipe.epochs if max_epochs is None else min(recipe.epochs, max_epochs)
    run = training.train_timed(recipe, data, epochs=epochs, thresholds=thresholds, seed=seed,
                               log=lambda line: print("  " + line, flush=True))
    return run.result


def _speedup(results: dict[str, Any], fast: str, slow: str, threshold: str) -> dict[str, Any] | None:
    """How many times sooner ``fast`` reaches ``threshold`` than ``slow``.

    If ``slow`` never reaches it, its whole training time is a lower bound for its time, so
    the ratio is a lower bound too (``"at_least": true``).
    """
    if fast not in results or slow not in results:
        return None
    if threshold not in results[fast]["time_to_accuracy_s"]:
        return {"threshold": threshold, "ratio": None, "note": "not among the thresholds measured"}
    t_fast = results[fast]["time_to_accuracy_s"].get(threshold)
    t_slow = results[slow]["time_to_accuracy_s"].get(threshold)
    if t_fast is None:
        return {"threshold": threshold, "ratio": None, "note": f"{fast} never reached it"}
    at_least = t_slow is None
    t_slow = results[slow]["training_seconds"] if at_least else t_slow
    return {"threshold": threshold, "fast": fast, "slow": slow, "fast_s": t_fast, "slow_s": t_slow,
            "ratio": round(t_slow / t_fast, 2), "at_least": at_least}


def _plot(results: dict[str, Any], path: Path, title: str, ylim: tuple[float, float],
          line: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, r in results.items():
        ax.plot(r["seconds_per_epoch_cumulative"], r["test_accuracy_per_epoch"], "o-", ms=3,
                label=f"{name} ({r['final_test_accuracy']:.4f})")
    ax.axhline(line, color="0.5", lw=0.8, ls="--")
    ax.set_ylim(*ylim)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="which recipes (default: all of the data set's)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=None)
    parser.add_argument("--n-train", type=int, default=None, help="a stratified training subset")
    parser.add_argument("--n-test", type=int, default=None, help="a stratified test subset")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap every recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    spec = DATASETS[args.dataset]
    recipes = args.recipes or list(spec["recipes"])
    unknown = sorted(set(recipes) - set(spec["recipes"]))
    if unknown:
        parser.error(f"unknown {args.dataset} recipe(s) {unknown}; "
                     f"choose from {sorted(spec['recipes'])}")

    env = runtime.environment()
    print(env.summary(), flush=True)
    data_train, data_test = spec["load"](n_train=args.n_train, n_test=args.n_test)
    data = (*data_train, *data_test)
    source = datasets.data_source(args.dataset).description
    print(source, flush=True)
    thresholds = tuple(sorted(args.thresholds or spec["thresholds"]))
    results = {}
    for name in recipes:
        recipe = spec["recipes"][name]
        print(f"{name}: {recipe.source}", flush=True)
        results[name] = run_recipe(recipe, data, thresholds, args.max_epochs, args.seed)

    smoke = any(v is not None for v in (args.n_train, args.n_test, args.max_epochs))
    device = re.sub(r"[^a-z0-9]+", "-", env.device.lower()).strip("-")[:40]
    stem = f"{args.dataset}_{env.backend}_{device}" + ("_smoke" if smoke else "")
    fast, slow, at = spec["compare"]
    key = f"{fast}_vs_{slow}_at_{float(at):.3f}"
    report = {
        "benchmark": f"{spec['title']} time to test accuracy",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "environment": {"keras": env.keras, "backend": env.backend,
                        "backend_version": env.backend_version, "device": env.device,
                        "python": env.python},
        "data": source,
        "smoke": smoke,
        "thresholds": [f"{t:.3f}" for t in thresholds],
        "results": results,
        key: _speedup(results, fast, slow, f"{float(at):.3f}"),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.output_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(results, args.output_dir / f"{stem}.png",
          f"{spec['title']}: test accuracy vs training time ({env.device})", spec["ylim"],
          float(at))
    print(f"wrote {json_path} and {stem}.png", flush=True)
    speed = report[key]
    if speed and speed.get("ratio"):
        bound = "at least " if speed["at_least"] else ""
        print(f"{fast} vs {slow} to {float(at):.1%}: {bound}{speed['ratio']}x sooner "
              f"({speed['fast_s']} s vs {speed['slow_s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
