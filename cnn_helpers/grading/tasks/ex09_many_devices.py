"""Exercise 9: Many devices (exercises/09_many_devices.ipynb).

Everything here runs on one device, on either Keras backend: data parallelism is written
in NumPy from first principles, the scaling rules and the cost of an all-reduce are
arithmetic, and a ``LayoutMap`` is checked by matching its patterns against the model's
variable paths exactly as ``keras.distribution.LayoutMap`` does (``re.fullmatch``; a
path matched by two patterns is an error; a path matched by none is replicated).

Expected values are computed here, never typed in. Failure messages say what is wrong
and which typical slip the answer looks like, never the expected number (and for task
9.8 one false statement at a time); pass messages confirm without repeating an answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnn_helpers.grading import (
    Failure,
    Problems,
    Task,
    arrays_agree,
    as_float_array,
    number_answer,
    probe_rng,
)

SMOKE: dict[str, Any] = {}      # nothing trains: the grader runs the real settings


def _same(got: Any, other: Any) -> bool:
    """``got`` equals ``other`` (a finite expected array) within tolerance."""
    return bool(np.all(np.isfinite(np.asarray(other, dtype=float)))) and arrays_agree(got, other)


def _verdict(results: Sequence[tuple[bool, str]], done: str) -> tuple[Any, str]:
    """Partial credit for the share of probes right; each hint once, at most two."""
    passed = sum(ok for ok, _ in results)
    if passed == len(results):
        return True, f"all {len(results)} probes {done}"
    problems: list[str] = []
    seen: set[str] = set()
    for ok, message in results:
        hint = message.split(": ", 1)[-1]
        if ok or hint in seen:
            continue
        seen.add(hint)
        problems.append(message)
    return passed / len(results), (f"{passed} of {len(results)} probes right; "
                                   + "; ".join(problems[:2]))


# --------------------------------------------------------------------------- the model
# Logistic regression: p = sigmoid(x @ w + b), loss = mean binary cross-entropy.
# Its gradient over a batch of B examples: grad_w = x.T @ (p - y) / B,
# grad_b = sum(p - y) / B.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _gradient_sum(w, b, x, y) -> tuple[np.ndarray, float]:
    """The per-example gradients summed (not averaged) over the rows of ``x``."""
    x = np.asarray(x, dtype=float)
    err = _sigmoid(x @ np.asarray(w, dtype=float) + float(b)) - np.asarray(y, dtype=float)
    return x.T @ err, float(err.sum())


def _mean_gradient(w, b, x, y) -> tuple[np.ndarray, float]:
    gw, gb = _gradient_sum(w, b, x, y)
    return gw / len(x), gb / len(x)


def _pack(w: Any, b: Any) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(w, dtype=float)),
                           [float(np.asarray(b, dtype=float).reshape(()))]])


def _as_pair(got: Any, d: int) -> tuple[np.ndarray | None, str]:
    """A ``(w, b)`` answer as one vector of d + 1 numbers, or (None, what is wrong)."""
    if isinstance(got, Failure):
        return None, f"your function raised {got}"
    if got is None:
        return None, "your function returned None"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None, "return a pair (w, b): the weight vector and the bias"
    w = as_float_array(got[0])
    b = as_float_array(got[1])
    if w is None or b is None:
        return None, "return a pair of numbers: (w as an array, b as a number)"
    if w.size != d or b.size != 1:
        return None, (f"w should have {d} entries (one per feature) and b one, "
                      f"got shapes {w.shape} and {b.shape}")
    return _pack(w, b), ""


# --------------------------------------------------------------------------- 9.1
# shard_batch(x, n_devices): n_devices contiguous, equal shards of the batch axis, as a
# list; a batch that does not divide evenly raises a ValueError that says why.


def _shard_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(901)
    return [(np.arange(36.0).reshape(12, 3), 4),
            (rng.normal(size=(16, 2, 2)), 8),
            (np.arange(10.0), 1),
            (rng.normal(size=(6, 5)), 6),
            (np.arange(20.0).reshape(10, 2), 4),      # uneven: must raise
            (rng.normal(size=(7, 3)), 2)]             # uneven: must raise


def _mentions(text: str, number: int) -> bool:
    return re.search(rf"(?<![\d.]){number}(?![\d.])", text) is not None


def _judge_shard(x: np.ndarray, n: int, got: Any) -> tuple[bool, str]:
    batch = len(x)
    what = f"probe with a batch of {batch} on {n} device{'s' if n > 1 else ''}"
    if batch % n:
        if not isinstance(got, Failure):
            return False, (f"{what}: an uneven batch must raise a ValueError, not return "
                           "shards (np.array_split gives shards of different sizes, "
                           "and the replicas' averages would no longer be the batch's)")
        text = str(got)
        if not text.startswith("ValueError"):
            return False, (f"{what}: raise a ValueError for an uneven batch, not "
                           f"{text.split(':')[0]}")
        if not (_mentions(text, batch) and _mentions(text, n)):
            return False, (f"{what}: the ValueError should say what is wrong: give the "
                           "batch size and the number of devices in its message")
        return True, ""
    expected = x.reshape(n, batch // n, *x.shape[1:])
    if isinstance(got, Failure):
        return False, f"{what}: your function raised {got}"
    if isinstance(got, (list, tuple)):
        if len(got) != n:
            if len(got) == batch // n and n != batch // n:
                return False, (f"{what}: {len(got)} shards: make n_devices shards "
                               "(one per device), not shards of n_devices examples")
            return False, f"{what}: {len(got)} shards: make one shard per device"
        shapes = {np.shape(s) for s in got}
        if len(shapes) != 1:
            return False, f"{what}: the shards have different shapes"
        stacked = as_float_array(list(got))
    else:
        stacked = as_float_array(got)
    if stacked is None:
        return False, f"{what}: return a list of arrays, one per device"
    if stacked.shape != expected.shape:
        if stacked.shape[:1] == (n,) and stacked[0].size == expected[0].size:
            return False, (f"{what}: each shard should keep the example's shape "
                           f"{x.shape[1:]} (split along the batch axis only)")
        return False, (f"{what}: the shards have shape {stacked.shape[1:]}; each device "
                       "gets batch / n_devices whole examples")
    if np.allclose(stacked, expected):
        return True, ""
    interleaved = np.stack([x[i::n] for i in range(n)])
    if np.allclose(stacked, interleaved):
        return False, (f"{what}: the examples are dealt like cards (x[i::n]); each "
                       "device gets one contiguous block of the batch, in order")
    return False, f"{what}: the shards hold the wrong examples (or in the wrong order)"


def _shard_check(outputs: list[Any]) -> tuple[Any, str]:
    results = [_judge_shard(x, n, got) for (x, n), got in zip(_shard_probes(), outputs)]
    return _verdict(results, "right, uneven batches refused")


# --------------------------------------------------------------------------- 9.2
# data_parallel_step(w, b, x, y, n_devices, learning_rate) -> (w, b): per-shard mean
# gradients, averaged (the all-reduce), one SGD step. Equal to one large-batch step.


def _dp_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(902)
    probes = []
    for d, batch, n, lr in [(3, 16, 4, 0.5), (5, 24, 8, 0.1), (2, 6, 1, 1.0),
                            (4, 12, 2, 0.3), (1, 8, 8, 2.0)]:
        x = rng.normal(size=(batch, d))
        y = (rng.random(batch) < 0.5).astype(float)
        probes.append((rng.normal(size=d) * 0.5, float(rng.normal()), x, y, n, lr))
    return probes


def _dp_expected(w, b, x, y, n, lr) -> np.ndarray:
    gw, gb = _mean_gradient(w, b, x, y)
    return _pack(w - lr * gw, b - lr * gb)


def _dp_slips(w, b, x, y, n, lr) -> list[tuple[np.ndarray, str]]:
    batch = len(x)
    gw, gb = _mean_gradient(w, b, x, y)
    g = _pack(gw, gb)
    start = _pack(w, b)
    shards = [(x[i * batch // n:(i + 1) * batch // n], y[i * batch // n:(i + 1) * batch // n])
              for i in range(n)]
    seq_w, seq_b = np.array(w, dtype=float), float(b)
    for xs, ys in shards:
        sw, sb = _mean_gradient(seq_w, seq_b, xs, ys)
        seq_w, seq_b = seq_w - lr * sw, seq_b - lr * sb
    g0 = _pack(*_mean_gradient(w, b, *shards[0]))
    return [
        (start - lr * n * g, ("the shard gradients are summed: the all-reduce must "
                              "average them (divide by the number of devices)")),
        (start - lr * (batch / n) * g, ("each shard's gradient is a sum over its "
                                        "examples: take the mean over the shard")),
        (start - lr * batch * g, ("gradients are summed over examples and over "
                                  "devices: the step should use the mean over the "
                                  "whole batch")),
        (start + lr * g, "the step goes uphill: subtract learning_rate x gradient"),
        (_pack(seq_w, seq_b), ("the shards update the weights one after the other; in "
                               "data parallelism every device starts from the same "
                               "weights and one averaged update is applied once")),
        (start - lr * g0, ("only the first device's gradient is used: average all "
                           "shards' gradients")),
        (g, "that is the averaged gradient; return the updated weights"),
        (_pack(w - lr * gw, b), "the bias is not updated"),
    ]


def _pair_results(probes: list[tuple[Any, ...]], outputs: list[Any],
                  describe: Callable[..., str], expected_of: Callable[..., np.ndarray],
                  diagnose: Callable[..., str]) -> list[tuple[bool, str]]:
    """(passed, message) per probe of a task whose function returns a ``(w, b)``-shaped pair
    (tasks 9.2 and 9.3): the answer's form first, then its value, then ``diagnose``'s hint
    for a wrong value (called as ``diagnose(vec, expected, *probe)``)."""
    results = []
    for args, got in zip(probes, outputs):
        what = describe(*args)
        vec, problem = _as_pair(got, len(args[0]))
        if vec is None:
            results.append((False, f"{what}: {problem}"))
            continue
        expected = expected_of(*args)
        if _same(vec, expected):
            results.append((True, ""))
        else:
            results.append((False, f"{what}: {diagnose(vec, expected, *args)}"))
    return results


def _dp_hint(vec: np.ndarray, expected: np.ndarray, *args: Any) -> str:
    return next((h for wrong, h in _dp_slips(*args)
                 if not _same(wrong, expected) and _same(vec, wrong)),
                "not the result of one step with the gradient averaged over the whole batch")


def _dp_check(outputs: list[Any]) -> tuple[Any, str]:
    results = _pair_results(
        _dp_probes(), outputs,
        lambda w, b, x, y, n, lr: f"probe with {len(x)} examples on {n} device{'s' if n > 1 else ''}",
        _dp_expected, _dp_hint)
    return _verdict(results, "equal to one large-batch step")


# --------------------------------------------------------------------------- 9.3
# replica_gradient(w, b, x_shard, y_shard, global_batch_size) -> (grad_w, grad_b): one
# replica's share, such that the SUM over the replicas (an all-reduce sum) is the
# gradient of the mean loss over the global batch, whatever the shard sizes.


def _replica_probes() -> list[tuple[Any, ...]]:
    rng = probe_rng(903)
    probes = []
    for d, size, global_batch in [(3, 13, 100), (3, 12, 100), (2, 9, 50), (4, 1, 8),
                                  (3, 0, 100), (2, 25, 100)]:
        x = rng.normal(size=(size, d))
        y = (rng.random(size) < 0.5).astype(float)
        probes.append((rng.normal(size=d) * 0.5, float(rng.normal()), x, y, global_batch))
    return probes


def _replica_expected(w, b, x, y, global_batch) -> np.ndarray:
    gw, gb = _gradient_sum(w, b, x, y)
    return _pack(gw / global_batch, gb / global_batch)


def _replica_hint(vec: np.ndarray, expected: np.ndarray, w, b, x, y, global_batch) -> str:
    size = len(x)
    total = _pack(*_gradient_sum(w, b, x, y))
    if size == 0 and not np.all(np.isfinite(vec)):
        return ("an empty shard (the last batch can leave a device without "
                "examples) gives NaN: it should contribute zero, a sum over no "
                "examples")
    if size and _same(vec, total / size):
        return ("that is the mean over the shard: with uneven shards the replicas' "
                "means do not add up (or average) to the global batch's mean; "
                "divide by global_batch_size")
    if _same(vec, total):
        return "the sum of the shard's gradients still needs dividing"
    if _same(vec, -expected):
        return "the sign is flipped: the gradient of the loss is (p - y) x"
    return ("the replicas' results, summed, should give the gradient of the "
            "mean loss over the global batch")


def _replica_check(outputs: list[Any]) -> tuple[Any, str]:
    results = _pair_results(
        _replica_probes(), outputs,
        lambda w, b, x, y, g: f"probe with a shard of {len(x)} of a global batch of {g}",
        _replica_expected, _replica_hint)
    return _verdict(results, "right: the replicas add up to the global mean")


# --------------------------------------------------------------------------- 9.4
# A recipe: batch 256, learning rate 0.1, 5 warm-up epochs. Now 4 hosts x 8 GPUs, global
# batch 4096, a data set of 1,228,800 images. (per-device batch, learning rate,
# warm-up steps) by the linear scaling rule.

REF_BATCH_94, REF_LR_94, WARMUP_EPOCHS_94 = 256, 0.1, 5
HOSTS_94, GPUS_94, GLOBAL_BATCH_94, N_IMAGES_94 = 4, 8, 4096, 1_228_800


def _expected_94() -> tuple[int, float, int]:
    devices = HOSTS_94 * GPUS_94
    return (GLOBAL_BATCH_94 // devices, REF_LR_94 * GLOBAL_BATCH_94 / REF_BATCH_94,
            WARMUP_EPOCHS_94 * N_IMAGES_94 // GLOBAL_BATCH_94)


def _hints_94() -> list[dict[float, str]]:
    devices = HOSTS_94 * GPUS_94
    per_device, _, steps = _expected_94()
    split = "the global batch is shared by every device on every host"
    return [
        {GLOBAL_BATCH_94 / GPUS_94: split, GLOBAL_BATCH_94 / HOSTS_94: split,
         float(GLOBAL_BATCH_94): "the global batch is split over the devices",
         float(GLOBAL_BATCH_94 * devices): "the global batch is split, not multiplied",
         float(REF_BATCH_94): "256 is the recipe's batch; the per-device batch comes "
                              "from the new global batch"},
        {REF_LR_94 * devices: "scale by how much the batch grew (global batch over the "
                              "recipe's batch), not by the number of devices",
         REF_LR_94 * math.sqrt(GLOBAL_BATCH_94 / REF_BATCH_94): (
             "that is square-root scaling; the task asks for the linear rule"),
         REF_LR_94: "with a larger batch the linear rule raises the learning rate",
         REF_LR_94 * per_device / REF_BATCH_94: (
             "the update averages over the global batch, not one device's shard"),
         REF_LR_94 * GLOBAL_BATCH_94: "the factor is the ratio of the two batch sizes",
         REF_LR_94 * REF_BATCH_94 / GLOBAL_BATCH_94: "the ratio is upside down"},
        {float(WARMUP_EPOCHS_94 * N_IMAGES_94 // REF_BATCH_94): (
             "count the steps at the new global batch: each step now consumes it all"),
         float(WARMUP_EPOCHS_94 * N_IMAGES_94 // per_device): (
             "one step consumes the global batch, not one device's shard"),
         float(steps // WARMUP_EPOCHS_94): "the warm-up lasts five epochs",
         float(WARMUP_EPOCHS_94): "give the warm-up in steps, not epochs"},
    ]


def _scaling_check(answer: Any) -> tuple[Any, str]:
    if isinstance(answer, np.ndarray):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) != 3:
        return False, ("`scaling` should be three numbers: (per_device_batch, "
                       "learning_rate, warmup_steps)")
    names = ["the per-device batch", "the learning rate", "the warm-up steps"]
    score, parts = 0.0, []
    for got, expected, what, hints in zip(answer, _expected_94(), names, _hints_94()):
        ok, message, value = number_answer(got, expected, what=what)
        if ok:
            score += 1 / 3
            continue
        message = message if value is None else f"{what.removeprefix('the ')}: {message}"
        hint = next((h for v, h in hints.items()
                     if value is not None and math.isclose(value, v, rel_tol=1e-9)), "")
        parts.append(f"{message}; {hint}" if hint else message)
    if not parts:
        return True, "correct: all three"
    return round(score, 4), "; ".join(parts)


# --------------------------------------------------------------------------- 9.5
# Strong scaling: a global batch of 1,024 images; 1.6 s of compute on one device,
# proportional to the images a device processes; 400 MB of gradients; ring all-reduce
# sends 2 (N - 1) / N x 400 MB per device over 10 GB/s links; no overlap. The speed-up
# of one step on 64 devices over one.

COMPUTE_95, GRAD_MB_95, LINK_MB_S_95, DEVICES_95 = 1.6, 400.0, 10_000.0, 64


def _step_time(n: int, *, factor: float = 2.0, ring: bool = True, comm: bool = True,
               shrink: bool = True) -> float:
    compute = COMPUTE_95 / n if shrink else COMPUTE_95
    share = (n - 1) / n if ring else 1.0
    return compute + (factor * share * GRAD_MB_95 / LINK_MB_S_95 if comm and n > 1 else 0)


def _expected_95() -> float:
    return _step_time(1) / _step_time(DEVICES_95)


def _speedup_check(answer: Any) -> tuple[Any, str]:
    expected = _expected_95()
    _, message, value = number_answer(answer, expected, what="the speed-up")
    if value is None:
        return False, message
    if math.isclose(value, expected, rel_tol=2e-3):
        return True, "correct"
    n = DEVICES_95
    slips = [
        (float(n), "that ignores the all-reduce: every step also sends the gradients"),
        (_step_time(1) / _step_time(n, factor=1.0),
         "a ring all-reduce sends the data twice (reduce-scatter, then all-gather)"),
        (_step_time(1) / _step_time(n, ring=False),
         "a ring all-reduce sends 2 (N - 1) / N times the gradients per device"),
        (n * _step_time(1) / _step_time(n, shrink=False),
         ("the global batch is fixed: each device computes on 1/N of it, so the "
          "compute time shrinks; the speed-up compares the time of one step")),
        (_step_time(1) / (COMPUTE_95 / n + 2 * (n - 1) * GRAD_MB_95 / LINK_MB_S_95),
         "each device sends 2 (N - 1) / N times the gradients, not 2 (N - 1) times"),
        (_step_time(1) / (COMPUTE_95 / n + 2 * (n - 1) / n * GRAD_MB_95 / 10.0),
         "mind the units: 10 GB/s is 10,000 MB/s"),
        (_step_time(n) / _step_time(1),
         "the ratio is upside down: one device's time over N devices' time"),
    ]
    for wrong, hint in slips:
        if math.isclose(value, wrong, rel_tol=2e-3):
            return False, f"{message}; {hint}"
    return False, (f"{message}; step time on N devices = compute / N + all-reduce "
                   "time; the speed-up is the ratio of the step times")


# --------------------------------------------------------------------------- 9.6
# A LayoutMap spec {regex: axes} for the model below on a (2, 4) mesh ("batch",
# "model"): the wide Dense layer fc1 split by its units (kernel columns and bias) over
# "model", everything else replicated.

MESH_AXES_96 = ("batch", "model")
MESH_SHAPE_96 = (2, 4)
#: The variable paths and shapes of the notebook's model (tests/test_ex09 checks them
#: against Keras).
VARIABLES_96 = [
    ("net/conv1/kernel", (3, 3, 3, 32)), ("net/conv1/bias", (32,)),
    ("net/bn1/gamma", (32,)), ("net/bn1/beta", (32,)),
    ("net/bn1/moving_mean", (32,)), ("net/bn1/moving_variance", (32,)),
    ("net/conv2/kernel", (3, 3, 32, 64)), ("net/conv2/bias", (64,)),
    ("net/fc1/kernel", (64, 2048)), ("net/fc1/bias", (2048,)),
    ("net/fc2/kernel", (2048, 10)), ("net/fc2/bias", (10,)),
]
SPLIT_96 = {"net/fc1/kernel": (None, "model"), "net/fc1/bias": ("model",)}


def layout_of(spec: dict[str, Any], path: str) -> Any:
    """What ``keras.distribution.LayoutMap`` returns for ``path``: the exact key's axes,
    else those of the one pattern that fullmatches, else None (replicated). Raises
    ValueError when several patterns match, as Keras does."""
    if path in spec:
        return spec[path]
    matches = [p for p in spec if re.fullmatch(p, path)]
    if len(matches) > 1:
        raise ValueError(f"path {path!r} matches several patterns: {matches}")
    return spec[matches[0]] if matches else None


def layout_of_safe(spec: dict[str, Any], path: str) -> Any:
    try:
        return layout_of(spec, path)
    except ValueError:
        return None


def _read_spec(answer: Any) -> tuple[dict[str, tuple[Any, ...]], str]:
    """``layout_spec`` as ``{pattern: axes}``, or ``({}, what is wrong with its form)``."""
    if not isinstance(answer, dict):
        return {}, ("`layout_spec` should be a dict {regex: axes}, e.g. "
                    "{'.*conv1/kernel': (None, None, None, None)}")
    if not answer:
        return {}, "`layout_spec` is empty: nothing is split"
    spec: dict[str, tuple[Any, ...]] = {}
    for key, axes in answer.items():
        try:
            re.compile(key)
        except re.error as exc:
            return {}, f"{key!r} is not a valid regular expression ({exc})"
        if isinstance(axes, str) or not isinstance(axes, (tuple, list)):
            return {}, (f"the value for {key!r} should be a tuple of axis names or None, one "
                        "per axis of the variable, e.g. (None, 'model')")
        for a in axes:
            if a is not None and a not in MESH_AXES_96:
                return {}, (f"the value for {key!r} names {a!r}: the mesh's axes are "
                            "'batch' and 'model' (None: not split)")
        spec[key] = tuple(axes)
    return spec, ""


def _layouts(spec: dict[str, tuple[Any, ...]], problems: Problems) -> dict[str, tuple[Any, ...]]:
    """Each variable's layout as LayoutMap gives it (None axes: replicated); paths that
    LayoutMap would refuse, and patterns that match no path in full, go into ``problems``."""
    layouts = {}
    for path, shape in VARIABLES_96:
        try:
            axes = layout_of(spec, path)
        except ValueError:
            problems.add("several", (
                f"{path} matches more than one pattern: keras.distribution.LayoutMap "
                "raises a ValueError for that; every path may match at most one"))
            continue
        if axes is not None and len(axes) != len(shape):
            problems.add("rank", (
                f"{path} has {len(shape)} ax{'es' if len(shape) > 1 else 'is'} {shape} "
                f"but its layout {axes} has {len(axes)} entr"
                f"{'ies' if len(axes) != 1 else 'y'}: one per axis"))
            continue
        layouts[path] = axes if axes is not None else (None,) * len(shape)
    paths = [p for p, _ in VARIABLES_96]
    for key in spec:
        if key not in paths and not any(re.fullmatch(key, p) for p in paths) \
                and any(re.search(key, p) for p in paths):
            problems.add("fullmatch", (
                f"the pattern {key!r} matches no variable path: LayoutMap matches a "
                "pattern against the whole path (re.fullmatch), such as "
                "'net/conv1/kernel'"))
    return layouts


def _split_problems(spec: dict[str, tuple[Any, ...]], layouts: dict[str, tuple[Any, ...]],
                    problems: Problems) -> None:
    """fc1 not split by its units, or another variable split too."""
    for path, want in SPLIT_96.items():
        got = layouts.get(path)
        if got is None or got == want:
            continue
        name = "kernel" if path.endswith("kernel") else "bias"
        if "batch" in got:
            problems.add("batch", ("the 'batch' axis splits the data; the weights of fc1 "
                                   "are split over 'model'"))
        elif not any(got):
            problems.add(path, (f"fc1's {name} is replicated: no pattern splits it" if
                                layout_of_safe(spec, path) is None else
                                f"fc1's {name} is matched, but its layout splits nothing"))
        elif name == "kernel" and got == ("model", None):
            problems.add(path, ("that splits fc1's kernel by its rows, the 64 inputs; the "
                                "task splits the units, the kernel's columns"))
        else:
            problems.add(path, f"fc1's {name} is not split by its units")
    for path, _shape in VARIABLES_96:
        got = layouts.get(path)
        if path in SPLIT_96 or got is None or not any(got):
            continue
        key = next((k for k in spec if k == path or re.fullmatch(k, path)), path)
        problems.add("replicate", (
            f"{path} should be replicated, but the pattern {key!r} splits it (a "
            "pattern applies to every path it matches in full)"))


def _layout_check(answer: Any) -> tuple[Any, str]:
    spec, problem = _read_spec(answer)
    if problem:
        return False, problem
    problems = Problems(limit=3)
    layouts = _layouts(spec, problems)
    _split_problems(spec, layouts, problems)
    if not problems:
        return True, "right: every variable gets the layout the task asks for"
    kernel_ok = layouts.get("net/fc1/kernel") == SPLIT_96["net/fc1/kernel"]
    # Half the points when fc1's kernel is right and the one slip left is its bias or
    # another layer split too; a spec that LayoutMap would refuse gets none.
    one_slip = len(problems) == 1 and ("replicate" in problems or "net/fc1/bias" in problems)
    return (0.5 if kernel_ok and one_slip else 0), problems.text()


# --------------------------------------------------------------------------- 9.7 and 9.8
# Multiple choice: a letter (9.7) and a set of letters (9.8, select all that are true).


def _letters(answer: Any) -> set[str] | None:
    if isinstance(answer, str):
        text = answer
    elif isinstance(answer, (list, tuple)) and all(isinstance(a, str) for a in answer):
        text = "".join(answer)
    else:
        return None
    return {c for c in text.upper() if c.isalpha()}


SCOPE_97 = "B"
SCOPE_HINTS_97 = {
    "A": ("by the time fit runs, the weights already exist on one device: what must "
          "the strategy see being created?"),
    "C": ("the input pipeline can be built anywhere: fit splits each batch over the "
          "replicas; what must the strategy see being created?"),
    "D": ("constructing the strategy only lists the devices; it mirrors only what is "
          "created under its scope"),
}


def _scope_check(answer: Any) -> tuple[Any, str]:
    letters = _letters(answer)
    if letters is None or len(letters) != 1 or not letters <= set("ABCD"):
        return False, "`scope_answer` should be one letter, \"A\", \"B\", \"C\" or \"D\""
    (letter,) = letters
    if letter == SCOPE_97:
        return True, "right"
    return False, f"not {letter}: {SCOPE_HINTS_97[letter]}"


HOSTS_98 = {"A", "C", "D"}
HOSTS_HINTS_98 = {
    "B": ("B is not true: after initialize, every process sees the devices of all "
          "hosts, and one mesh spans them all"),
    "E": ("E is not true: in synchronous data parallelism the gradients are averaged "
          "at every step, so the link between hosts is used at every step"),
    "F": ("F is not true: the same script runs in every process; only its process id "
          "(and the data it reads) differ"),
}


def _hosts_check(answer: Any) -> tuple[Any, str]:
    letters = _letters(answer)
    if letters is None or not letters or not letters <= set("ABCDEF"):
        return False, ("`hosts_answer` should be a string of letters from A to F, "
                       "such as \"AB\"")
    if letters == HOSTS_98:
        return True, "right"
    # One false statement at a time, and no count of the missing ones: listing every
    # false letter of "ABCDEF" would give the answer away in one try.
    problems = [HOSTS_HINTS_98[c] for c in sorted(letters - HOSTS_98)][:1]
    if HOSTS_98 - letters:
        problems.append("not every true statement is chosen")
    return False, "; ".join(problems)


TASKS = [
    Task("9.1", "shard a batch", "shard_batch", _shard_check, points=2,
         kind="function", probes=_shard_probes),
    Task("9.2", "a data-parallel step", "data_parallel_step", _dp_check, points=3,
         kind="function", probes=_dp_probes),
    Task("9.3", "uneven shards", "replica_gradient", _replica_check, points=2,
         kind="function", probes=_replica_probes),
    Task("9.4", "batch, learning rate, warm-up", "scaling", _scaling_check, points=2),
    Task("9.5", "when adding devices stops helping", "speedup", _speedup_check, points=2),
    Task("9.6", "a LayoutMap for model parallelism", "layout_spec", _layout_check,
         points=2),
    Task("9.7", "what strategy.scope() wraps", "scope_answer", _scope_check),
    Task("9.8", "more than one host", "hosts_answer", _hosts_check),
]
