"""cnn_helpers.distributed: workers start with the right devices, report back, and fail
clearly (which process, what status, what it said) instead of hanging."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cnn_helpers import distributed
from cnn_helpers.distributed import WorkerError, launch

PLAIN = "import sys\nfrom cnn_helpers import distributed\n"

JAX_WORKER = """\
import jax
import keras
from cnn_helpers import distributed

distributed.report({"devices": jax.device_count(), "backend": keras.backend.backend(),
                    "config": distributed.config()})
"""

TWO_PROCESSES = """\
import jax
import jax.numpy as jnp
import keras
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnn_helpers import distributed

keras.distribution.initialize()
rank = distributed.process_id()
mesh = Mesh(np.array(jax.devices()), ("batch",))
local = np.full((jax.local_device_count(), 3), rank + 1.0, dtype="float32")
x = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("batch")), local)
total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, PartitionSpec()))(x)
distributed.report({"rank": jax.process_index(), "processes": jax.process_count(),
                    "global_devices": jax.device_count(), "local_devices": jax.local_device_count(),
                    "total": float(total.addressable_data(0))})
"""

TF_WORKER = """\
import tensorflow as tf
from cnn_helpers import distributed

strategy = tf.distribute.MirroredStrategy(distributed.tf_devices())
distributed.report({"replicas": strategy.num_replicas_in_sync})
"""


def _alive(pid: int) -> bool:
    """Running (a killed process may linger as a zombie until someone reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


# --------------------------------------------------------------------------- real frameworks


def test_a_jax_worker_sees_eight_devices_and_its_config():
    pytest.importorskip("jax")
    [res] = launch(JAX_WORKER, backend="jax", devices=8, config={"n": 3}, timeout=120)
    assert res.returncode == 0 and res.process_id == 0
    assert res.result["backend"] == "jax" and res.result["config"] == {"n": 3}
    assert res.result["devices"] == 8          # platform="cpu": the same on a GPU machine


def test_two_jax_processes_agree_on_one_global_result():
    pytest.importorskip("jax")
    results = launch(TWO_PROCESSES, backend="jax", processes=2, devices=2, timeout=120)
    assert [r.result["rank"] for r in results] == [0, 1]
    for r in results:
        assert r.result["processes"] == 2
        assert r.result["global_devices"] == 4 and r.result["local_devices"] == 2
        # process 0 holds 2 devices x 3 ones, process 1 2 x 3 twos: 6 + 12 = 18, seen by both
        assert r.result["total"] == 18.0


def test_a_tensorflow_worker_mirrors_over_eight_logical_devices():
    pytest.importorskip("tensorflow")
    [res] = launch(TF_WORKER, backend="tensorflow", devices=8, timeout=120)
    assert res.result == {"replicas": 8}


# --------------------------------------------------------------------------- plumbing and errors


def test_stdout_report_and_a_script_file(tmp_path):
    script = tmp_path / "w.py"
    script.write_text(PLAIN + "print('hello from', distributed.process_id())\n"
                      "distributed.report({'x': __import__('numpy').arange(3),"
                      " 'argv0': sys.argv[0]})\n", encoding="utf-8")
    [res] = launch(script, timeout=60)
    assert res.stdout == "hello from 0\n"
    assert res.result == {"x": [0, 1, 2], "argv0": str(script.resolve())}
    [res] = launch(str(script), timeout=60)           # a path as a string works too
    assert res.result["x"] == [0, 1, 2]
    [res] = launch(PLAIN + "print('no report')\n", timeout=60)
    assert res.result is None


def test_a_worker_that_raises_names_the_process_and_the_error():
    start = time.monotonic()
    with pytest.raises(WorkerError) as err:
        launch(PLAIN + "def f():\n    return 1 / 0\nf()\n", timeout=60)
    text = str(err.value)
    assert "worker process 0 of 1" in text and "status 1" in text
    assert "ZeroDivisionError: division by zero" in text
    assert time.monotonic() - start < 20


def test_a_worker_that_exits_non_zero():
    with pytest.raises(WorkerError, match=r"exited with status 3 .*\n.*bad input"):
        launch(PLAIN + "print('bad input', file=sys.stderr)\nsys.exit(3)\n", timeout=60)


def test_a_worker_past_the_time_limit_is_killed_with_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = (PLAIN + "import subprocess, time\n"
              "child = subprocess.Popen(['sleep', '60'])\n"
              f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
              "print('waiting', file=sys.stderr, flush=True)\n"
              "time.sleep(60)\n")
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"timed out after 3 s(.|\n)*waiting"):
        launch(script, timeout=3)
    assert time.monotonic() - start < 10
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not _alive(child), "the worker's child survived: its process group was not killed"


def test_a_dead_peer_does_not_leave_the_others_hanging():
    script = (PLAIN + "import time\n"
              "if distributed.process_id() == 1:\n    raise RuntimeError('peer 1 broke')\n"
              "time.sleep(60)\n")
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"worker process 1 of 2(.|\n)*peer 1 broke"):
        launch(script, backend="jax", processes=2, timeout=60)
    assert time.monotonic() - start < 20


ENV_WORKER = PLAIN + """import os
distributed.report({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS")})
"""


def test_workers_run_on_the_cpu_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    [res] = launch(ENV_WORKER, backend="jax", timeout=60)
    assert res.result == {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    [res] = launch(ENV_WORKER, backend="tensorflow", timeout=60)
    assert res.result == {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": None}
    [res] = launch(ENV_WORKER, backend="jax", platform="auto", timeout=60)
    assert res.result == {"CUDA_VISIBLE_DEVICES": None, "JAX_PLATFORMS": None}


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "torch"}, "backend must be one of"),
    ({"processes": 0}, "processes must be a whole number"),
    ({"devices": 2.5}, "devices must be a whole number"),
    ({"devices": True}, "devices must be a whole number"),
    ({"processes": 2, "backend": "tensorflow"}, "backend='jax' only"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"platform": "gpu"}, "platform must be one of"),
])
def test_bad_arguments_are_refused_before_anything_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        launch("print(1)\n", **kwargs)


def test_bad_scripts_and_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no such script"):
        launch(str(tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="path to a .py file or a script's source"):
        launch("   ")
    with pytest.raises(TypeError):
        launch("print(1)\n", config={"f": object()})
    with pytest.raises(TypeError, match="takes a dict"):
        distributed.report([1, 2])


# --------------------------------------------------------------------------- notebook helpers


def test_the_environment_of_a_lone_worker(monkeypatch):
    monkeypatch.delenv("KERAS_DISTRIBUTION_PROCESS_ID", raising=False)
    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES", raising=False)
    assert distributed.process_id() == 0 and distributed.num_processes() == 1
    assert distributed.config() == {}
    assert distributed._xla_flags("--foo --xla_force_host_platform_device_count=2", 8) == \
        "--foo --xla_force_host_platform_device_count=8"


def test_table_aligns_columns():
    text = distributed.table([{"device": "cpu:0", "shape": (8, 28), "x": 0.000123456},
                              {"device": "cpu:10", "shape": (8,), "x": 2.0}])
    assert text.splitlines() == ["device  shape    x",
                                 "cpu:0   (8, 28)  0.000123",
                                 "cpu:10  (8,)     2"]
    assert distributed.table([]) == "(no rows)"


def test_describe_sharding_of_a_single_device_array():
    jnp = pytest.importorskip("jax.numpy")
    [row] = distributed.describe_sharding(jnp.zeros((4, 3)))
    assert row["slice"] == "[:, :]" and row["shape"] == (4, 3)


def test_ring_allreduce_leaves_every_device_with_the_sums():
    values = np.arange(16.0).reshape(4, 4)
    states = distributed.ring_allreduce(values)
    assert len(states) == 2 * (4 - 1) + 1
    np.testing.assert_array_equal(states[0], values)
    np.testing.assert_array_equal(states[-1], np.tile(values.sum(axis=0), (4, 1)))
    # after the reduce-scatter, each device holds exactly one finished chunk
    finished = np.isclose(states[3], values.sum(axis=0))
    assert finished.sum() == 4 and (finished.sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match=r"\(N, N\)"):
        distributed.ring_allreduce(np.zeros((3, 4)))


def test_allreduce_animation_has_one_frame_per_step():
    anim = distributed.allreduce_animation(np.arange(1, 10).reshape(3, 3))
    assert anim.frames == 5 and "all-gather" in anim.html and "sums 12, 15, 18" in anim.html
    assert anim.description.startswith("Animation:")      # what the browser test reads
