"""The grader's sandbox: what a hostile submission cannot do, and what a real one still can.

Each test runs a small Python snippet (the venv's own interpreter) in the sandbox, with
bubblewrap (skipped where it cannot work) and, where the guarantee does not depend on
bwrap, with the unsandboxed fallback ``kind="none"`` too. The last test executes a tiny
notebook with a Jupyter kernel, NumPy and Keras inside the sandbox (marked ``notebooks``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
from pathlib import Path

import pytest

from cnn_helpers.grading import sandbox as sandbox_module
from cnn_helpers.grading.sandbox import (Completed, Limits, Sandbox, SandboxUnavailable,
                                         find_sandbox)

REPO = Path(__file__).resolve().parents[1]
ENV = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8"}
QUICK = Limits(wall_seconds=60)


def _bwrap() -> Sandbox:
    """The bwrap sandbox; skipped only where bwrap is missing or cannot make namespaces at
    all (a container without user namespaces), so that a broken sandbox fails."""
    path = shutil.which("bwrap")
    if not path:
        pytest.skip("bubblewrap is not installed (scripts/setup.sh installs it)")
    basic = subprocess.run([path, "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
    if basic.returncode != 0:
        pytest.skip(f"bubblewrap cannot make namespaces here: {basic.stderr.strip()}")
    return find_sandbox()


@pytest.fixture(params=["bwrap", "none"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Each kind: the guarantees that both must keep."""
    return _bwrap() if request.param == "bwrap" else Sandbox("none")


@pytest.fixture
def bwrap() -> Sandbox:
    """Only bubblewrap: hiding files and cutting the network."""
    return _bwrap()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def run(box: Sandbox, code: str, work: Path, limits: Limits = QUICK, **kwargs) -> Completed:
    """Run a Python snippet in ``box`` with ``work`` as its scratch folder."""
    kwargs.setdefault("env", ENV)
    return box.run([sys.executable, "-c", textwrap.dedent(code)], workdir=work,
                   limits=limits, **kwargs)


def processes_with(token: str) -> list[int]:
    """Processes of this machine whose command line holds ``token``."""
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and token.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                found.append(int(name))
        except OSError:
            continue
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (dead, waiting for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_exit_status_and_output_come_back(sandbox, work):
    done = run(sandbox, "import sys; print('hello'); sys.exit(3)", work)
    assert (done.returncode, done.output, done.stopped) == (3, "hello\n", None)
    killed = run(sandbox, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", work)
    assert killed.returncode == 128 + 9


def test_loopback_works(sandbox, work):
    """The Jupyter kernel talks ZMQ over 127.0.0.1."""
    done = run(sandbox, """
        import socket
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname(), timeout=5)
        conn, _ = server.accept()
        client.sendall(b"ping")
        print("loopback", conn.recv(4).decode())
        """, work)
    assert done.output == "loopback ping\n", done.output


def test_no_network_but_loopback(bwrap, work):
    """Only ``lo`` exists inside, so an outside address is unreachable (the snippet checks
    that first: without the namespace it tries no outside address at all). 192.0.2.1 is
    TEST-NET-1, an address reserved for documentation."""
    done = run(bwrap, """
        import errno, socket, sys
        names = [name for _, name in socket.if_nameindex()]
        if names != ["lo"]:
            sys.exit(f"interfaces inside: {names}")
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=5)
            print("connected")
        except OSError as exc:
            print("outside:", errno.errorcode.get(exc.errno, exc))
        """, work)
    assert done.output == "outside: ENETUNREACH\n", done.output


def test_filesystem_is_read_only_but_the_workdir_and_hides_paths(bwrap, work, tmp_path):
    shared = tmp_path / "shared"
    (shared / "solutions").mkdir(parents=True)
    (shared / "visible.txt").write_text("open")
    (shared / "solutions" / "answer.py").write_text("SECRET = 42")
    (shared / "key.txt").write_text("SECRET KEY")
    done = run(bwrap, f"""
        import os
        shared = {str(shared)!r}
        print("visible:", open(shared + "/visible.txt").read())
        print("listing:", sorted(os.listdir(shared + "/solutions")))
        for path in [shared + "/solutions/answer.py", shared + "/key.txt"]:
            try:
                print("read:", open(path).read())
            except OSError as exc:
                print("hidden:", type(exc).__name__)
        for path in [shared + "/new.txt", shared + "/solutions/new.py", "/etc/new",
                     "/usr/new", {str(REPO / "new.txt")!r}, "/new", "/dev/new"]:
            try:
                open(path, "w").write("x")
                print("wrote:", path)
            except OSError as exc:
                print("refused:", exc.strerror)
        open("result.txt", "w").write("kept")
        open("/tmp/private.txt", "w").write("gone")
        print("home:", os.environ["HOME"] == os.getcwd() == os.environ["TMPDIR"])
        """, work, readable=[shared], hide=[shared / "solutions", shared / "key.txt"])
    lines = done.output.splitlines()
    assert lines[:4] == ["visible: open", "listing: []", "hidden: FileNotFoundError",
                         "hidden: PermissionError"], done.output
    assert [line.split(":")[0] for line in lines[4:11]] == ["refused"] * 7, done.output
    assert lines[11:] == ["home: True"], done.output
    assert (work / "result.txt").read_text() == "kept"
    assert not (Path("/tmp") / "private.txt").exists()
    assert sorted(p.name for p in shared.iterdir()) == ["key.txt", "solutions", "visible.txt"]


def test_only_what_is_needed_is_mounted(bwrap, work):
    done = run(bwrap, """
        import os
        print(sorted(os.listdir("/")))
        print(os.path.exists("/sys"), os.path.exists("/root/.ssh"), os.getuid())
        """, work)
    top = set(json.loads(done.output.splitlines()[0].replace("'", '"')))
    assert {"usr", "etc", "tmp", "proc", "dev"} <= top
    assert not top & {"home", "sys", "run", "var", "srv", "mnt", "boot"}
    assert done.output.splitlines()[1] == "False False 65534"


def test_environment_is_exactly_env(sandbox, work, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    env = {**ENV, "MPLBACKEND": "Agg", "KERAS_BACKEND": "tensorflow", "HOME": str(work)}
    done = run(sandbox, "import json, os; print(json.dumps(dict(os.environ)))", work, env=env)
    assert json.loads(done.output) == {**env, "TMPDIR": str(work)}


def test_time_limit_kills_the_whole_tree(sandbox, work):
    """A grandchild in its own session that ignores SIGTERM and SIGINT, and a main process
    that does the same: all gone when ``run`` returns."""
    token = f"sandbox-test-{uuid.uuid4()}"
    done = run(sandbox, f"""
        import os, signal, sys, time
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                with open("grandchild.pid", "w") as fh:
                    fh.write(str(os.getpid()))
                code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
                os.execv(sys.executable, [sys.executable, "-c", code, {token!r}])
            os._exit(0)
        print("started", flush=True)
        while True:
            time.sleep(1)
        """, work, Limits(wall_seconds=3))
    assert (done.returncode, done.stopped) == (None, "the time limit of 3 s")
    assert done.output == "started\n"
    assert 3 <= done.seconds < 10
    pid = int((work / "grandchild.pid").read_text())
    assert processes_with(token) == []
    if sandbox.kind == "none":   # inside bwrap the pid is the namespace's own
        assert not running(pid)


def test_a_child_holding_stdout_does_not_block(sandbox, work):
    token = f"sandbox-test-{uuid.uuid4()}"
    done = run(sandbox, f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", {token!r}])
        print("main done")
        """, work)
    assert (done.returncode, done.output, done.stopped) == (0, "main done\n", None)
    assert done.seconds < 10
    assert processes_with(token) == []


def test_output_is_capped_without_growing_the_grader(sandbox, work):
    limits = Limits(wall_seconds=120, output_bytes=2_000_000)
    tracemalloc.start()
    try:
        done = run(sandbox, """
            import sys
            chunk = b"x" * (1 << 20)
            for _ in range(200):
                sys.stdout.buffer.write(chunk)
            """, work, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.returncode == 0
    assert done.output == "x" * 2_000_000
    assert done.output_dropped == 200 * 2**20 - 2_000_000
    assert peak < 20 * 2**20, f"the grader held {peak / 2**20:.0f} MB"


def test_memory_limit_stops_the_run(sandbox, work):
    done = run(sandbox, """
        import time
        blocks = []
        for i in range(40):                  # 4 GB at most, if nothing stops it
            blocks.append(b"x" * (100 << 20))
            time.sleep(0.05)
        print("never stopped")
        """, work, Limits(wall_seconds=60, memory_mb=300))
    assert (done.returncode, done.stopped) == (None, "the memory limit of 300 MB")
    assert "never stopped" not in done.output
    assert done.seconds < 20


def test_a_fork_bomb_is_capped_and_ends_in_time(sandbox, work):
    """RLIMIT_NPROC refuses the forks (non-root grader), or the watchdog's count stops the
    run (the kernel exempts user id 0 from RLIMIT_NPROC)."""
    token = f"sandbox-test-{uuid.uuid4()}"
    done = run(sandbox, f"""
        import os, sys, time
        TOKEN = {token!r}
        for _ in range(10):                  # 1024 processes at most, if nothing stops it
            try:
                os.fork()
            except OSError as exc:
                print("fork failed:", exc.strerror, flush=True)
                break
        time.sleep(5)
        """, work, Limits(wall_seconds=30, processes=64, memory_mb=4000))
    assert done.seconds < 15
    capped = done.stopped == "the limit of 64 processes (threads included)"
    assert capped or "fork failed: Resource temporarily unavailable" in done.output, done
    assert processes_with(token) == []


def test_open_files_are_capped(sandbox, work):
    done = run(sandbox, """
        import errno, os
        fds = []
        try:
            for _ in range(100_000):
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            print(errno.errorcode[exc.errno], len(fds))
        """, work, Limits(wall_seconds=60, open_files=256))
    name, count = done.output.split()
    assert name == "EMFILE" and int(count) < 256, done.output


def test_cpu_time_is_capped_per_process(sandbox, work):
    done = run(sandbox, "while True: pass", work, Limits(wall_seconds=30, cpu_seconds=1))
    assert done.stopped == "the CPU time limit of 1 s (per process)"
    assert done.seconds < 10


def test_file_size_is_capped(sandbox, work):
    done = run(sandbox, """
        import errno
        try:
            open("big.bin", "wb").write(b"x" * 3_000_000)
        except OSError as exc:
            print(errno.errorcode[exc.errno])
        """, work, Limits(wall_seconds=30, file_bytes=1_000_000))
    assert done.output == "EFBIG\n", done.output
    assert (work / "big.bin").stat().st_size == 1_000_000


def test_private_tmp_is_size_capped(bwrap, work):
    """/tmp and /dev/shm live in memory: uncapped, they could fill it unseen."""
    done = run(bwrap, """
        import errno
        for path in ["/tmp/fill", "/dev/shm/fill"]:
            try:
                open(path, "wb").write(b"x" * (64 << 20))
            except OSError as exc:
                print(path, errno.errorcode[exc.errno])
        """, work, Limits(wall_seconds=30, tmpfs_mb=16))
    assert done.output == "/tmp/fill ENOSPC\n/dev/shm/fill ENOSPC\n", done.output


def test_bad_input_is_refused_in_plain_words(sandbox, work):
    with pytest.raises(ValueError, match="argv is empty"):
        sandbox.run([], workdir=work, env=ENV, limits=QUICK)
    with pytest.raises(ValueError, match="does not exist"):
        sandbox.run(["true"], workdir=work / "missing", env=ENV, limits=QUICK)
    with pytest.raises(ValueError, match="must be 'bwrap' or 'none'"):
        Sandbox("docker")


def test_without_bwrap_it_refuses_or_warns_loudly(monkeypatch, capsys):
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        find_sandbox()
    assert capsys.readouterr().err == ""
    box = find_sandbox(allow_unsandboxed=True)
    err = capsys.readouterr().err
    assert box.kind == "none"
    assert err.count("WITHOUT a sandbox") == 1 and "READ every file" in err and "NETWORK" in err


@pytest.mark.notebooks
def test_a_notebook_runs_in_the_sandbox(bwrap, work):
    """The real workload: papermill, a Jupyter kernel over loopback, NumPy and Keras on
    TensorFlow, with the reference solutions hidden."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import numpy as np\nimport keras\n"
        "print('sum', int(np.arange(4).sum()), keras.backend.backend())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(work / "in.ipynb"))
    env = {**ENV, "HOME": str(work), "MPLBACKEND": "Agg", "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = bwrap.run([sys.executable, "-m", "cnn_helpers.notebooks", "in.ipynb", "out.ipynb",
                      "--parameters", "{}", "--cell-timeout", "120", "--keep-going",
                      "--mode", "graded"], workdir=work, env=env,
                     limits=Limits(wall_seconds=600), hide=[REPO / "exercises" / "solutions"])
    assert done.returncode == 0, done.output
    cell = nbformat.read(str(work / "out.ipynb"), as_version=4).cells[0]
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "sum 6 tensorflow" in text, cell.outputs
