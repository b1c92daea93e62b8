"""The checks of exercises/09_many_devices.ipynb, called directly: no kernel, no notebook.

For each task the right answer passes, typical mistakes get the intended status, points
and hint, and no failure message gives the expected answer away. Task 9.6's matcher is
compared with ``keras.distribution.LayoutMap`` itself (it can be built on any backend).
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

from cnn_helpers import grading
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED
from cnn_helpers.grading.tasks import ex09_many_devices as ex9

from conftest import REPO, no_leak

EX = grading.exercise("09_many_devices")
SOLUTION = REPO / "exercises" / "solutions" / "09_many_devices.ipynb"


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def test_tasks_and_points():
    assert [t.id for t in EX.tasks] == [f"9.{i}" for i in range(1, 9)]
    assert sum(t.points for t in EX.tasks) == 15
    assert EX.smoke == {}


def test_blank_answers_are_not_attempted():
    def stub(*args):
        raise NotImplementedError("replace this line with your code")

    for task in EX.tasks:
        answer = stub if task.kind == "function" else ...
        assert result(task.id, answer).status == NOT_ATTEMPTED, task.id


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------- 9.1


def shard_batch(x, n_devices):
    if len(x) % n_devices:
        raise ValueError(f"a batch of {len(x)} does not split over {n_devices} devices")
    size = len(x) // n_devices
    return [x[i * size:(i + 1) * size] for i in range(n_devices)]


def test_91_right_answers_pass_in_any_form():
    assert result("9.1", shard_batch).passed
    assert result("9.1", lambda x, n: tuple(shard_batch(x, n))).passed
    assert result("9.1", lambda x, n: np.stack(shard_batch(x, n))).passed

    def with_split(x, n):
        if len(x) % n:
            raise ValueError(f"{len(x)} examples, {n} devices: uneven")
        return np.split(x, n)

    r = result("9.1", with_split)
    assert r.passed and r.points == 2, r.message


@pytest.mark.parametrize("fn, points, hint", [
    (lambda x, n: np.array_split(x, n), 4 / 6, "must raise a ValueError, not return shards"),
    (lambda x, n: np.split(x, n), 4 / 6, "give the batch size and the number of devices"),
    (lambda x, n: [x[i::n] for i in range(n)] if len(x) % n == 0 else 1 / 0, 2 / 6,
     "dealt like cards"),
    (lambda x, n: shard_batch(x, n) if len(x) % n == 0 else 1 / 0, 4 / 6,
     "raise a ValueError for an uneven batch, not ZeroDivisionError"),
    (lambda x, n: shard_batch(x, len(x) // n), 0, "not shards of n_devices examples"),
    (lambda x, n: [s.reshape(len(s), -1) for s in shard_batch(x, n)], 4 / 6,
     "keep the example's shape"),
])
def test_91_mistakes_get_hints(fn, points, hint):
    r = result("9.1", fn)
    assert r.status == FAILED and r.points == round(2 * points, 2), r
    assert hint in r.message, r.message


# --------------------------------------------------------------------------- 9.2


def shard_gradient(w, b, x, y):
    err = sigmoid(x @ w + b) - y
    return x.T @ err / len(x), err.mean()


def data_parallel_step(w, b, x, y, n, lr, *, reduce=np.mean, grad=shard_gradient):
    grads = [grad(w, b, xs, ys) for xs, ys in zip(shard_batch(x, n), shard_batch(y, n))]
    gw = reduce([g for g, _ in grads], axis=0)
    gb = reduce([g for _, g in grads])
    return w - lr * gw, b - lr * gb


def large_batch_step(w, b, x, y, n, lr):
    gw, gb = shard_gradient(w, b, x, y)
    return w - lr * gw, b - lr * gb


def test_92_right_answers_pass():
    assert result("9.2", data_parallel_step).passed
    assert result("9.2", large_batch_step).passed        # the same step, as it must be
    assert result("9.2", lambda *a: list(data_parallel_step(*a))).passed

    def bias_as_array(*args):
        w, b = data_parallel_step(*args)
        return w, np.array([b])

    r = result("9.2", bias_as_array)
    assert r.passed and r.points == 3


def sequential(w, b, x, y, n, lr):
    for xs, ys in zip(shard_batch(x, n), shard_batch(y, n)):
        gw, gb = shard_gradient(w, b, xs, ys)
        w, b = w - lr * gw, b - lr * gb
    return w, b


def summed_shard_gradient(w, b, x, y):
    err = sigmoid(x @ w + b) - y
    return x.T @ err, err.sum()


def first_device(w, b, x, y, n, lr):
    gw, gb = shard_gradient(w, b, *(s[0] for s in (shard_batch(x, n), shard_batch(y, n))))
    return w - lr * gw, b - lr * gb


# Probes: (B, N) = (16, 4), (24, 8), (6, 1), (12, 2), (8, 8); a slip that only matters
# for N > 1 passes the one-device probe (1 of 5 right: 0.6 of 3 points); (8, 8) has one
# example per shard, where a sum over the shard is its mean.
@pytest.mark.parametrize("fn, points, hint", [
    (lambda *a: data_parallel_step(*a, reduce=np.sum), 0.6, "the all-reduce must average"),
    (lambda *a: data_parallel_step(*a, grad=summed_shard_gradient), 0.6,
     "take the mean over the shard"),
    (lambda *a: data_parallel_step(*a, reduce=np.sum, grad=summed_shard_gradient), 0,
     "summed over examples and over devices"),
    (lambda w, b, x, y, n, lr: large_batch_step(w, b, x, y, n, -lr), 0, "goes uphill"),
    (sequential, 0.6, "one after the other"),
    (first_device, 0.6, "only the first device's gradient"),
    (lambda w, b, x, y, n, lr: shard_gradient(w, b, x, y), 0, "return the updated weights"),
    (lambda *a: (large_batch_step(*a)[0], a[1]), 0, "the bias is not updated"),
    (lambda w, b, x, y, n, lr: large_batch_step(w, b, x, y, n, lr)[0], 0,
     "return a pair (w, b)"),
    (lambda w, b, x, y, n, lr: (w[:1], b), 0, "one per feature"),
    (lambda w, b, x, y, n, lr: (w * 0.9, b), 0, "gradient averaged over the whole batch"),
])
def test_92_mistakes_get_hints(fn, points, hint):
    r = result("9.2", fn)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


# --------------------------------------------------------------------------- 9.3


def replica_gradient(w, b, x, y, global_batch):
    err = sigmoid(x @ w + b) - y
    return x.T @ err / global_batch, err.sum() / global_batch


def test_93_right_answer_passes_and_sums_to_the_global_mean():
    assert result("9.3", replica_gradient).passed
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)), (rng.random(100) < 0.5).astype(float)
    w = rng.normal(size=3)
    parts = [replica_gradient(w, 0.2, xs, ys, 100)
             for xs, ys in zip(np.array_split(x, 8), np.array_split(y, 8))]
    np.testing.assert_allclose(sum(p[0] for p in parts), shard_gradient(w, 0.2, x, y)[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fn, points, hints", [
    (lambda w, b, x, y, g: shard_gradient(w, b, x, y), 0,
     ["that is the mean over the shard", "an empty shard"]),
    (lambda w, b, x, y, g: replica_gradient(w, b, x, y, 1), 1 / 6,
     ["still needs dividing"]),
    (lambda w, b, x, y, g: tuple(-v for v in replica_gradient(w, b, x, y, g)), 1 / 6,
     ["the sign is flipped"]),
    (lambda w, b, x, y, g: replica_gradient(w, b, x, y, 2 * g), 1 / 6,
     ["mean loss over the global batch"]),
])
def test_93_mistakes_get_hints(fn, points, hints):
    r = result("9.3", fn)
    assert r.status == FAILED and r.points == round(2 * points, 2), r
    for hint in hints:
        assert hint in r.message, r.message


# --------------------------------------------------------------------------- 9.4

PER_DEVICE, LR, WARMUP = 128, 1.6, 1500


def test_94_right_answer_passes_in_any_form():
    for answer in [(PER_DEVICE, LR, WARMUP), [128.0, 0.1 * 4096 / 256, 1500.0],
                   np.array([PER_DEVICE, LR, WARMUP]), (np.int64(128), 1.6, np.int64(1500))]:
        r = result("9.4", answer)
        assert r.passed and r.points == 2, (answer, r.message)
        assert not re.search(r"\d", r.message)               # confirms, repeats nothing


@pytest.mark.parametrize("answer, points, hint", [
    ((512, LR, WARMUP), 4 / 3, "every device on every host"),
    ((4096, LR, WARMUP), 4 / 3, "split over the devices"),
    ((PER_DEVICE, 3.2, WARMUP), 4 / 3, "not by the number of devices"),
    ((PER_DEVICE, 0.4, WARMUP), 4 / 3, "square-root scaling"),
    ((PER_DEVICE, 0.1, WARMUP), 4 / 3, "raises the learning rate"),
    ((PER_DEVICE, 0.05, WARMUP), 4 / 3, "not one device's shard"),
    ((PER_DEVICE, 0.1 * 256 / 4096, WARMUP), 4 / 3, "upside down"),
    ((PER_DEVICE, LR, 24000), 4 / 3, "count the steps at the new global batch"),
    ((PER_DEVICE, LR, 48000), 4 / 3, "not one device's shard"),
    ((PER_DEVICE, LR, 300), 4 / 3, "five epochs"),
    ((PER_DEVICE, LR, 5), 4 / 3, "in steps, not epochs"),
    ((1024, 3.2, 24000), 0, "shared by every device"),
    ((100, 1.0, 1000), 0, "too small"),
])
def test_94_mistakes_get_hints(answer, points, hint):
    r = result("9.4", answer)
    assert r.status == FAILED and r.points == round(points, 2), r
    assert hint in r.message, r.message
    no_leak(r.message, *[v for v in (PER_DEVICE, LR, WARMUP) if v not in answer])


@pytest.mark.parametrize("answer", [128, (128, 1.6), "a lot", (128, "fast", 1500)])
def test_94_wrong_forms(answer):
    r = result("9.4", answer)
    assert r.status == FAILED and ("three numbers" in r.message or "should be a number"
                                   in r.message), r.message


# --------------------------------------------------------------------------- 9.5


def step(n, factor=2.0, ring=True):
    return 1.6 / n + (factor * ((n - 1) / n if ring else 1) * 400 / 10_000 if n > 1 else 0)


SPEEDUP = step(1) / step(64)


def test_95_right_answer_passes_rounded_too():
    for answer in (SPEEDUP, round(SPEEDUP, 2), np.float32(SPEEDUP)):
        r = result("9.5", answer)
        assert r.passed and r.points == 2, r.message
        assert not re.search(r"\d", r.message)


@pytest.mark.parametrize("answer, hint", [
    (64, "ignores the all-reduce"),
    (step(1) / step(64, factor=1.0), "sends the data twice"),
    (step(1) / step(64, ring=False), "2 (N - 1) / N times the gradients"),
    (64 * 1.6 / (1.6 + 2 * 63 / 64 * 0.04), "the global batch is fixed"),
    (step(1) / (1.6 / 64 + 2 * 63 * 0.04), "not 2 (N - 1) times"),
    (step(1) / (1.6 / 64 + 2 * 63 / 64 * 40), "mind the units"),
    (1 / SPEEDUP, "upside down"),
    (20, "step time on N devices = compute / N"),
])
def test_95_mistakes_get_hints(answer, hint):
    r = result("9.5", answer)
    assert r.status == FAILED and hint in r.message, r.message
    no_leak(r.message, round(SPEEDUP, 2), round(SPEEDUP, 1), SPEEDUP)


# --------------------------------------------------------------------------- 9.6

RIGHT_96 = {"net/fc1/kernel": (None, "model"), "net/fc1/bias": ("model",)}


def _notebook_model():
    """The model and mesh of the solution notebook, built by its own cell."""
    nb = nbformat.read(SOLUTION, as_version=4)
    source = next(c.source for c in nb.cells
                  if c.cell_type == "code" and c.source.startswith("net = "))
    import keras

    namespace = {"keras": keras, "print": lambda *a, **k: None}
    exec(source, namespace)
    return namespace["net"], namespace["mesh"]


def test_96_paths_are_those_of_the_notebooks_model():
    net, mesh = _notebook_model()
    assert [(v.path, tuple(v.shape)) for v in net.weights] == ex9.VARIABLES_96
    assert tuple(mesh.axis_names) == ex9.MESH_AXES_96 and mesh.shape == ex9.MESH_SHAPE_96
    for path, axes in ex9.SPLIT_96.items():
        shape = dict(ex9.VARIABLES_96)[path]
        for size, axis in zip(shape, axes):
            if axis:                           # a split axis divides evenly
                assert size % mesh.shape[ex9.MESH_AXES_96.index(axis)] == 0


@pytest.mark.parametrize("spec", [
    RIGHT_96,
    {".*fc1/kernel": (None, "model"), ".*fc1/bias": ("model",)},
    {".*kernel": (None, "model"), ".*bias": ("model",)},
    {".*fc.*/kernel": (None, "model"), "net/fc1/kernel": ("model", None)},
    {".*conv.*": (None, None, None, "model"), ".*bias": ("model",)},
    {"fc1/kernel": (None, "model")},
    {".*": (None,), ".*fc1.*": ("model",)},
])
def test_96_matching_is_that_of_keras_layout_map(spec):
    import keras

    _, mesh = _notebook_model()
    layout_map = keras.distribution.LayoutMap(mesh)
    for key, axes in spec.items():
        layout_map[key] = axes
    for path, _ in ex9.VARIABLES_96:
        try:
            theirs = layout_map[path]
        except ValueError:
            with pytest.raises(ValueError):
                ex9.layout_of(spec, path)
            continue
        ours = ex9.layout_of(spec, path)
        assert (None if theirs is None else tuple(theirs.axes)) == ours, path


def test_96_right_answers_pass():
    for spec in [RIGHT_96,
                 {".*fc1/kernel": [None, "model"], ".*fc1/bias": ["model"]},
                 {r"net/fc1/kernel": (None, "model"), r".*/fc1/bias": ("model",),
                  ".*conv./kernel": (None, None, None, None)},
                 {".*fc1/kernel": (None, "model"), ".*fc1/bias": ("model",),
                  "net/bn1/.*": (None,)}]:
        r = result("9.6", spec)
        assert r.passed and r.points == 2, (spec, r.message)


@pytest.mark.parametrize("spec, points, hint", [
    ({".*kernel": (None, "model"), ".*bias": ("model",)}, 0, "has 4 axes"),
    ({".*fc.*/kernel": (None, "model"), ".*fc.*/bias": ("model",)}, 1,
     "net/fc2/kernel should be replicated"),
    ({".*fc1/kernel": ("model", None), ".*fc1/bias": ("model",)}, 0, "by its rows"),
    ({".*fc1/kernel": (None, "batch"), ".*fc1/bias": ("batch",)}, 0,
     "the 'batch' axis splits the data"),
    ({".*fc1/kernel": (None, "model")}, 1, "fc1's bias is replicated"),
    ({".*fc1/kernel": (None, "model"), ".*fc1/bias": (None,)}, 1,
     "fc1's bias is matched, but its layout splits nothing"),
    ({"fc1/kernel": (None, "model"), "fc1/bias": ("model",)}, 0, "re.fullmatch"),
    ({".*fc1.*": (None, "model")}, 0, "net/fc1/bias has 1 axis (2048,) but its layout (None, 'model') has 2 entries"),
    ({".*fc1/kernel": (None, "model"), "net/fc1/kernel": (None, "model"),
      ".*fc1/bias": ("model",), ".*/bias": (None,)}, 0, "matches more than one pattern"),
    ({".*fc1/kernel": (None, "model"), ".*fc1/bias": ("model",),
      ".*conv2/kernel": (None, None, None, "model")}, 1, "net/conv2/kernel should be replicated"),
])
def test_96_mistakes_get_hints(spec, points, hint):
    r = result("9.6", spec)
    assert r.status == FAILED and r.points == points, r
    assert hint in r.message, r.message


@pytest.mark.parametrize("answer, hint", [
    ({}, "empty"),
    ([("net/fc1/kernel", (None, "model"))], "should be a dict"),
    ({"net/fc1/kernel": "model"}, "tuple of axis names"),
    ({"net/fc1/kernel": (None, "gpu")}, "the mesh's axes are 'batch' and 'model'"),
    ({"net/fc1/(kernel": (None, "model")}, "not a valid regular expression"),
])
def test_96_wrong_forms(answer, hint):
    r = result("9.6", answer)
    assert r.status == FAILED and hint in r.message, r.message


# --------------------------------------------------------------------------- 9.7 and 9.8


def test_97_scope():
    for answer in ("B", " b", ["B"]):
        r = result("9.7", answer)
        assert r.passed, r.message
    for wrong in "ACD":
        r = result("9.7", wrong)
        assert r.status == FAILED and r.message.startswith(f"not {wrong}:"), r.message
        assert not re.search(r"\bB\b", r.message), r.message
    for bad in ("AB", "E", 2, ""):
        r = result("9.7", bad)
        assert r.status == FAILED and "one letter" in r.message, r.message


def test_98_hosts():
    for answer in ("ACD", "a, c, d", ["A", "C", "D"], "DCA"):
        r = result("9.8", answer)
        assert r.passed and r.points == 1, r.message
    r = result("9.8", "ABCD")
    assert r.status == FAILED and "B is not true" in r.message
    assert "not every true statement" not in r.message
    r = result("9.8", "AC")
    assert r.status == FAILED and r.message == "not every true statement is chosen"
    assert result("9.8", "A").message == r.message        # no count of the missing ones
    r = result("9.8", "ACDEF")                              # one false statement at a time
    assert "E is not true" in r.message and "F is not true" not in r.message
    everything = result("9.8", "ABCDEF").message
    assert sum(f"{c} is not true" in everything for c in "BEF") == 1, everything
    for answer in ("BEF", "ABCDEF", "AE"):
        message = result("9.8", answer).message
        assert not re.search(r"\b[ACD] is\b", message), message   # true ones never named
    for bad in ("G", "", 3, ["A", 1]):
        r = result("9.8", bad)
        assert r.status == FAILED and "letters from A to F" in r.message, r.message


# --------------------------------------------------------------------------- the notebook


def test_solution_notebook_states_time_and_hidden_checks():
    nb = nbformat.read(SOLUTION, as_version=4)
    intro = " ".join(nb.cells[1].source.split())
    assert "*About" in intro and "minutes" in intro
    assert "hidden checks" in intro
    assert "(ex-many-devices)=" in intro


# --------------------------------------------------------------------------- 9.2's fallback


def given_shards_of_the_notebook():
    """The stand-in for shard_batch that the starter of task 9.2 gives, as written there."""
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if "task-9.2" in c.metadata.get("tags", [])
                and "### BEGIN SOLUTION" in c.source)
    given = cell.source.split("### BEGIN SOLUTION")[0]
    assert "def given_shards(" in given
    namespace = {"np": np}
    exec(given, namespace)                  # noqa: S102 (the book's own notebook)
    return namespace["given_shards"]


def test_92_the_given_stand_in_passes_92_but_not_91():
    """Task 9.1 not done: 9.2 can split with the starter's given_shards and earn its
    points; the stand-in itself earns none of 9.1's."""
    given_shards = given_shards_of_the_notebook()

    def step_with_given(w, b, x, y, n, lr):
        grads = [shard_gradient(w, b, xs, ys) for xs, ys in given_shards(x, y, n)]
        return (w - lr * np.mean([g for g, _ in grads], axis=0),
                b - lr * np.mean([g for _, g in grads]))

    assert result("9.2", step_with_given).passed
    r = result("9.1", given_shards)
    assert r.status == FAILED and r.points == 0, r
    assert "raised TypeError" in r.message


def test_92_the_given_stand_in_is_replayed(tmp_path):
    """The grader rebuilds 9.2 from the notebook's definitions: the given def is one of
    them, before the task's own code."""
    from cnn_helpers.grading.replay import replay_source

    nb = nbformat.read(SOLUTION, as_version=4)
    statements = replay_source(nb.cells, "task-9.2")
    given = [i for i, s in enumerate(statements) if s.startswith("def given_shards(")]
    step = [i for i, s in enumerate(statements) if s.startswith("def data_parallel_step(")]
    assert given and step and given[0] < step[0]


@pytest.mark.delegation
def test_91_a_framework_split_earns_nothing():
    import keras

    r = EX.result("9.1", lambda x, n: keras.ops.split(x, n))
    assert r.status == FAILED and r.points == 0 and "no credit" in r.message
    assert EX.result("9.1", shard_batch).passed
