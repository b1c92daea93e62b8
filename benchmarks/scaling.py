"""Data-parallel scaling: training throughput of a small CNN against the number of devices.

    python benchmarks/scaling.py                                  # the Keras MNIST convnet
    python benchmarks/scaling.py --recipe book                    # the book's MNIST network
    python benchmarks/scaling.py --scaling weak --per-device-batch 256
    python benchmarks/scaling.py --devices 1 2 --steps 20 --repeats 7
    python benchmarks/scaling.py --smoke                          # a tiny run (the tests')

For n = 1, 2, 4, 8, ... devices (up to the devices present, and all of them), the script
trains a fresh copy of one MNIST recipe's model (:data:`cnn_helpers.models.MNIST_RECIPES`:
its builder, optimizer and loss) with Keras 3's ``keras.distribution.DataParallel`` on the
JAX backend, over a ``DeviceMesh((n,), ["batch"])`` of the first n devices: every device
holds a copy of the weights and gets ``1/n`` of each batch, and the gradients are summed
across devices each step. Two ways to scale:

* **weak** scaling: a fixed batch *per device* (the global batch grows with n). Ideal:
  the same steps per second at every n, so n times the images per second;
* **strong** scaling: a fixed *global* batch split over n devices (counts that do not
  divide it are skipped). Ideal: n times the steps (and images) per second.

Each point: a fresh model, one untimed step and then ``--warmup-steps`` (at least 2) more
(together they compile the training step, up to three times: see :func:`measure`), then
``--repeats`` timed ``model.fit`` passes of ``--steps`` steps each (by default as many
steps as take about ``--repeat-seconds``); the median and the spread (min, max) of the
passes are reported.
The batches are MNIST-shaped (28x28x1, 10 classes): real MNIST digits when a copy is on
disk (``$CNN_HELPERS_DATA`` or the Keras cache; nothing is downloaded), else random
pixels; the content does not change the cost of a step. The copy of each batch from the
host to the devices is part of a step, as in real training.

It runs unchanged on a multi-GPU (or TPU) machine: JAX's default devices are used. On a
machine with only a CPU, the script makes ``--cpu-devices`` (8) *virtual* CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set before JAX is imported).
Those devices all share the same cores, so more devices bring no more compute: the
figures then show the overhead of data parallelism (splitting batches, summing
gradients), not a speed-up; the output and the results file say so.

It writes ``benchmarks/results/scaling_<device>.json`` (``_smoke`` added for ``--smoke``)
with the hardware (CPU model and cores, accelerator names), the versions, the date, the
settings and every timing, and a PNG beside it: steps/s and images/s against devices, with
ideal linear scaling drawn.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing, e.g. on a GPU machine

# Nothing here imports JAX or Keras at module level: the XLA flags and the backend must be
# set first (main() does it), since JAX reads XLA_FLAGS once, when it starts.

CPU_CAVEAT = ("These are virtual CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count) "
              "that all share the same {cores} CPU cores: adding devices adds no compute, so "
              "the figures show the overhead of data parallelism (splitting batches, summing "
              "gradients), not a speed-up from more hardware. Apparent gains can still appear: "
              "several virtual devices side by side may keep the cores busier than one does, "
              "and smaller per-device batches may run more efficiently (caches), "
              "which strong scaling on one machine mixes in. "
              "Run on a machine with several GPUs to measure scaling.")

#: What --smoke sets (each can still be given explicitly): a run of a few seconds per point.
SMOKE = {"recipe": "tutorial", "per_device_batch": 8, "global_batch": 16, "warmup_steps": 1,
         "steps": 2, "repeats": 2, "max_devices": 2}
DEFAULTS = {"recipe": "tutorial", "per_device_batch": 64, "global_batch": 256, "warmup_steps": 3,
            "steps": None, "repeats": 5, "max_devices": None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=None,
                        help="which MNIST recipe's model, optimizer and loss (default: tutorial, "
                             "the Keras 'Simple MNIST convnet', 121,930 parameters)")
    parser.add_argument("--scaling", choices=("weak", "strong", "both"), default="both")
    parser.add_argument("--per-device-batch", type=int, default=None,
                        help="weak scaling: images per device per step (default 64)")
    parser.add_argument("--global-batch", type=int, default=None,
                        help="strong scaling: images per step over all devices (default 256)")
    parser.add_argument("--devices", type=int, nargs="+", default=None,
                        help="device counts (default: 1, 2, 4, ... up to all devices present)")
    parser.add_argument("--max-devices", type=int, default=None, help="drop larger counts")
    parser.add_argument("--cpu-devices", type=int, default=8,
                        help="virtual CPU devices to make when there is no accelerator")
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="untimed steps after a first one, compilation included "
                             "(default 3, at least 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per timed pass (default: about --repeat-seconds' worth)")
    parser.add_argument("--repeat-seconds", type=float, default=1.0,
                        help="target length of a timed pass when --steps is not given")
    parser.add_argument("--max-steps", type=int, default=500,
                        help="cap on the automatic --steps")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes (default 5)")
    parser.add_argument("--data", choices=("auto", "mnist", "synthetic"), default="auto",
                        help="auto: MNIST if a copy is on disk (never downloaded), else random")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run: " + ", ".join(f"{k}={v}" for k, v in SMOKE.items()))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    return parser


def configure_jax(cpu_devices: int) -> str:
    """Select the JAX backend and ask XLA for ``cpu_devices`` host devices, before JAX starts.

    The flag only shapes the host (CPU) platform; on a GPU or TPU machine, JAX's default
    devices are the accelerators and the virtual CPU devices stay unused. Returns XLA_FLAGS.
    """
    backend = os.environ.get("KERAS_BACKEND", "jax")
    if backend != "jax":
        print(f"note: KERAS_BACKEND={backend} ignored; this benchmark uses JAX "
              "(keras.distribution.DataParallel over a JAX device mesh)", flush=True)
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags = f"{flags} --xla_force_host_platform_device_count={cpu_devices}".strip()
        os.environ["XLA_FLAGS"] = flags
    if "jax" in sys.modules or "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "jax":
            raise RuntimeError("Keras was imported with another backend before this benchmark "
                               "could select JAX; run it as a script "
                               "(python benchmarks/scaling.py)")
        print("note: JAX was already imported, so XLA_FLAGS (virtual CPU devices) may not "
              "apply", flush=True)
    return flags


def device_counts(available: int, requested: list[int] | None,
                  max_devices: int | None) -> list[int]:
    """1, 2, 4, ... up to ``available`` (and ``available`` itself), or the requested counts."""
    if requested:
        counts = sorted(set(requested))
        too_many = [n for n in counts if n > available or n < 1]
        if too_many:
            raise SystemExit(f"scaling.py: error: device counts {too_many} not possible with "
                             f"{available} device(s) present")
    else:
        counts = [2 ** k for k in range(available.bit_length()) if 2 ** k <= available]
        if counts[-1] != available:
            counts.append(available)
    if max_devices is not None:
        counts = [n for n in counts if n <= max_devices]
    return counts


def _spread(values: list[float]) -> dict[str, Any]:
    med = statistics.median(values)
    return {"median": round(med, 3), "min": round(min(values), 3), "max": round(max(values), 3),
            "spread_percent": round(100 * (max(values) - min(values)) / med, 1) if med else None,
            "runs": [round(v, 3) for v in values]}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def hardware(jax: Any, virtual: bool) -> dict[str, Any]:
    """What ran: CPU model and cores, JAX's devices (names of the GPUs/TPUs), memory."""
    from cnn_helpers import runtime

    devices = jax.devices()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    mem_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        mem_gib = round(kib / 2 ** 20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    accelerators = [str(getattr(d, "device_kind", d.platform)) for d in devices
                    if d.platform != "cpu"]
    env = runtime.environment()
    return {"device": env.device, "platform": devices[0].platform,
            "devices_present": len(devices), "virtual_cpu_devices": virtual,
            "accelerators": accelerators,
            "cpu": runtime._cpu_name(), "cpu_cores": os.cpu_count(), "cpu_cores_usable": usable,
            "memory_gib": mem_gib, "machine": platform.machine(), "os": platform.platform(),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def _images(data: str, n: int, seed: int) -> tuple[Any, Any, str]:
    """``n`` MNIST-shaped float images in [0, 1] and their one-hot labels, and a description."""
    import numpy as np

    from cnn_helpers import datasets

    on_disk = (bool(os.environ.get(datasets.DATA_ENV, "").strip())
               or (Path.home() / ".keras" / "datasets" / "mnist.npz").is_file())
    if data == "mnist" and not on_disk:
        raise SystemExit(f"scaling.py: error: --data mnist needs a copy on disk "
                         f"(${datasets.DATA_ENV} or ~/.keras/datasets/mnist.npz); this "
                         "benchmark never downloads")
    if data in ("mnist", "auto") and on_disk:
        (x, y), _ = datasets.load_mnist(n_train=min(n, 60000), n_test=10, seed=seed)
        source = datasets.data_source("mnist").description
    else:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        source = "synthetic: random MNIST-shaped images (28x28x1) and labels (10 classes)"
    x = (x.astype("float32") / 255.0)[..., None]
    return x, np.eye(10, dtype="float32")[y.astype(int)], source


def _batches(x: Any, y: Any, batch: int, steps: int) -> Any:
    """``steps`` batches of ``batch`` images, cycling through a fixed pool (constant memory)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()   # workers=1: batches come from this thread, no queue
            self.pool = max(1, len(x) // batch)

        def __len__(self) -> int:
            return steps

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            j = (i % self.pool) * batch
            return x[j:j + batch], y[j:j + batch]

    return Batches()


def measure(recipe: Any, mesh_devices: list[Any], global_batch: int, x: Any, y: Any, *,
            warmup_steps: int, steps: int | None, repeat_seconds: float, max_steps: int,
            repeats: int, seed: int) -> dict[str, Any]:
    """Throughput of ``recipe``'s model trained data-parallel over ``mesh_devices``."""
    import keras

    from cnn_helpers import training

    n = len(mesh_devices)
    mesh = keras.distribution.DeviceMesh((n,), ["batch"], devices=mesh_devices)
    distribution = keras.distribution.DataParallel(device_mesh=mesh)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    with distribution.scope():
        model = training.build(recipe)
        model.compile(optimizer=recipe.optimizer(100, 1),
                      loss=keras.losses.CategoricalCrossentropy(
                          label_smoothing=recipe.label_smoothing),
                      metrics=["accuracy"])

        def fit(k: int) -> float:
            t0 = time.perf_counter()
            model.fit(_batches(x, y, global_batch, k), epochs=1, verbose=0, shuffle=False)
            return time.perf_counter() - t0

        # Untimed: one step, then at least two more in a second call. The training step is
        # compiled for the freshly made weights, and on one device again for the weights
        # fit() writes back and for those passed from step to step within a call (their
        # placement differs, a new signature for jit); from then on, no compilation.
        warmup_s = fit(1) + fit(max(2, warmup_steps))
        if steps is None:            # as many steps as take about repeat_seconds
            probe = 3
            per_step = fit(probe) / probe
            steps = max(2, min(max_steps, math.ceil(repeat_seconds / per_step)))
        times = [fit(steps) for _ in range(repeats)]
    kernel = next(w for w in model.weights if len(w.shape) > 1)
    placed_on = len(kernel.value.sharding.device_set)
    if placed_on != n:
        raise RuntimeError(f"the weights live on {placed_on} device(s), not the mesh's {n}: "
                           "DataParallel did not take effect")
    sps = [steps / t for t in times]
    return {"devices": n, "global_batch": global_batch, "per_device_batch": global_batch // n,
            "steps_per_pass": steps, "warmup_seconds": round(warmup_s, 2),
            "steps_per_second": _spread(sps),
            "images_per_second": _spread([s * global_batch for s in sps]),
            "seconds_per_pass": _spread(times), "weights_replicated_on": placed_on}


def _relative(points: list[dict[str, Any]]) -> None:
    """Speed-up over the smallest count, and efficiency against ideal linear scaling."""
    base = points[0]
    for p in points:
        gain = p["images_per_second"]["median"] / base["images_per_second"]["median"]
        p["speedup"] = round(gain, 3)          # images/s relative to the first count
        p["efficiency"] = round(gain / (p["devices"] / base["devices"]), 3)


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    colours = {"weak": "C0", "strong": "C1"}
    counts = sorted({p["devices"] for r in report["results"].values() for p in r["points"]})
    for mode, result in report["results"].items():
        pts = result["points"]
        if not pts:
            continue
        n = [p["devices"] for p in pts]
        label = (f"weak ({result['per_device_batch']}/device)" if mode == "weak"
                 else f"strong ({result['global_batch']} in all)")
        for ax, key in zip(axes, ("steps_per_second", "images_per_second")):
            med = [p[key]["median"] for p in pts]
            err = [[m - p[key]["min"] for m, p in zip(med, pts)],
                   [p[key]["max"] - m for m, p in zip(med, pts)]]
            ax.errorbar(n, med, yerr=err, fmt="o-", ms=4, capsize=3, color=colours[mode],
                        label=label)
            # ideal: images/s grows with n in both modes; steps/s too for strong, flat for weak
            flat = mode == "weak" and key == "steps_per_second"
            ideal = [med[0] * (1 if flat else k / n[0]) for k in n]
            ax.plot(n, ideal, "--", lw=1, color=colours[mode], alpha=0.7,
                    label=f"{mode}: ideal linear scaling")
    for ax, ylabel in zip(axes, ("steps per second", "images per second")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_xlabel("devices")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    hw = report["hardware"]
    title = (f"Data-parallel training, {report['settings']['recipe']} model, "
             f"{report['environment']['backend']} backend, {hw['device']}")
    if hw["virtual_cpu_devices"]:
        title += ("\nvirtual CPU devices share the same cores: this shows overhead, "
                  "not speed-up")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(mode: str, points: list[dict[str, Any]]) -> str:
    lines = [f"{mode} scaling", f"  {'devices':>7} {'batch':>6} {'steps':>5} "
             f"{'steps/s (min-max)':>24} {'images/s':>9} {'speed-up':>8} {'efficiency':>10}"]
    for p in points:
        s, i = p["steps_per_second"], p["images_per_second"]
        lines.append(f"  {p['devices']:>7} {p['global_batch']:>6} {p['steps_per_pass']:>5} "
                     f"{s['median']:>9.2f} ({s['min']:.2f}-{s['max']:.2f}) "
                     f"{i['median']:>9.0f} {p['speedup']:>7.2f}x {p['efficiency']:>10.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    preset = SMOKE if args.smoke else DEFAULTS
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name in ("per_device_batch", "global_batch", "repeats", "cpu_devices"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    configure_jax(args.cpu_devices)

    import jax

    from cnn_helpers import models, runtime

    if args.recipe not in models.MNIST_RECIPES:
        parser.error(f"unknown MNIST recipe {args.recipe!r}; choose from "
                     f"{sorted(models.MNIST_RECIPES)}")
    recipe = models.MNIST_RECIPES[args.recipe]
    devices = jax.devices()
    virtual = devices[0].platform == "cpu" and len(devices) > 1
    hw = hardware(jax, virtual)
    counts = device_counts(len(devices), args.devices, args.max_devices)
    env = runtime.environment()
    print(env.summary(), flush=True)
    print(f"{len(devices)} {devices[0].platform} device(s): "
          f"{', '.join(sorted(set(str(getattr(d, 'device_kind', d.platform)) for d in devices)))}; "
          f"CPU {hw['cpu']} ({hw['cpu_cores']} cores); device counts {counts}", flush=True)
    on_cpu = devices[0].platform == "cpu"
    caveat = CPU_CAVEAT.format(cores=hw["cpu_cores_usable"]) if on_cpu else None
    if caveat:
        print("NOTE: " + caveat, flush=True)

    modes = ["weak", "strong"] if args.scaling == "both" else [args.scaling]
    largest = max([args.per_device_batch * counts[-1]] * ("weak" in modes)
                  + [args.global_batch] * ("strong" in modes))
    x, y, source = _images(args.data, min(max(largest * 4, 1024), 60000), args.seed)
    print(source, flush=True)

    results: dict[str, Any] = {}
    for mode in modes:
        points, skipped = [], []
        for n in counts:
            batch = args.per_device_batch * n if mode == "weak" else args.global_batch
            if batch % n:
                skipped.append(n)
                continue
            p = measure(recipe, devices[:n], batch, x, y, warmup_steps=args.warmup_steps,
                        steps=args.steps, repeat_seconds=args.repeat_seconds,
                        max_steps=args.max_steps, repeats=args.repeats, seed=args.seed)
            points.append(p)
            print(f"  {mode:6} {n} device(s), batch {batch}: "
                  f"{p['steps_per_second']['median']:.2f} steps/s, "
                  f"{p['images_per_second']['median']:.0f} images/s "
                  f"(spread {p['images_per_second']['spread_percent']}%, {p['steps_per_pass']} "
                  f"steps x {args.repeats}; warm-up {p['warmup_seconds']} s)", flush=True)
        _relative(points)
        results[mode] = {"points": points, "skipped_device_counts": skipped,
                         "ideal": ("steps/s constant, images/s proportional to devices"
                                   if mode == "weak" else
                                   "steps/s and images/s proportional to devices")}
        if mode == "weak":
            results[mode]["per_device_batch"] = args.per_device_batch
        else:
            results[mode]["global_batch"] = args.global_batch
        if skipped:
            print(f"  strong: skipped {skipped} device(s), which do not divide the global "
                  f"batch {args.global_batch}", flush=True)

    model = recipe.build()
    report = {
        "benchmark": "data-parallel training throughput against device count",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.argv[0]).name,
                             *(argv if argv is not None else sys.argv[1:])]),
        "environment": {"keras": env.keras, "backend": env.backend,
                        "backend_version": env.backend_version, "jax": jax.__version__,
                        "jaxlib": _version("jaxlib"), "numpy": _version("numpy"),
                        "device": env.device, "python": env.python},
        "hardware": hw,
        "caveat": caveat,
        "data": source,
        "smoke": args.smoke,
        "settings": {"recipe": args.recipe, "model": model.name,
                     "parameters": int(model.count_params()),
                     "optimizer": type(recipe.optimizer(100, 1)).__name__,
                     "distribution": "keras.distribution.DataParallel, "
                                     "DeviceMesh((n,), ['batch'], devices=jax.devices()[:n])",
                     "scaling": modes, "device_counts": counts,
                     "per_device_batch": args.per_device_batch, "global_batch": args.global_batch,
                     "warmup_steps": args.warmup_steps,
                     "steps_per_pass": args.steps if args.steps else
                     f"auto (about {args.repeat_seconds} s per pass, at most {args.max_steps})",
                     "repeats": args.repeats, "seed": args.seed,
                     "timing": "wall time of model.fit over the steps of a pass (the host-to-"
                               "device copy of each batch included); a fresh model per point; "
                               "warm-up steps (compilation) excluded; median, min and max of "
                               "the passes"},
        "results": results,
    }
    stem = f"scaling_{_slug(env.device)}" + ("_smoke" if args.smoke else "")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.output_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(report, args.output_dir / f"{stem}.png")
    for mode, result in results.items():
        print(_table(mode, result["points"]), flush=True)
    if caveat:
        print("NOTE: " + caveat, flush=True)
    print(f"wrote {json_path} and {stem}.png", flush=True)
    return 0


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
