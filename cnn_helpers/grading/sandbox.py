"""Run a student's code so that a hostile submission can do no harm to the grader.

Threat model
------------
A submitted notebook is arbitrary code, run by the grader's user (often root on a CI
machine). It may try to:

- read what it must not see: the instructor's hidden checks, the reference solutions,
  other students' submissions, the grader's output folder, the machine's secrets;
- write outside its scratch folder (overwrite the checks, the grader, other reports);
- reach the network (fetch answers, send data out);
- outlive its time: ignore SIGTERM, ``setsid()`` and double-fork into the background, keep
  the output pipe open so that the grader waits forever;
- exhaust the machine: memory, a fork bomb, file descriptors, 200 MB of printing, a huge
  file, filling a RAM-backed ``/tmp``.

:class:`Sandbox` with ``kind="bwrap"`` uses bubblewrap (Debian package ``bubblewrap``)
to build a throw-away view of the machine. The flags, in the order they are given:

``--unshare-all``
    new user, mount, pid, network, ipc, uts and cgroup namespaces. The new network
    namespace has only ``lo`` (bwrap brings it up): 127.0.0.1 works, which the Jupyter
    kernel needs for ZMQ, and every other address is unreachable (no packet leaves).
``--unshare-user --uid 65534 --gid 65534``
    run as ``nobody`` inside a user namespace: there is no root inside the sandbox, even
    when the grader is root. (The kernel still sees the grader's user id, so a root
    grader's sandbox owns root's files in what it can see: hence ``_MASKED``.)
``--cap-drop ALL``
    no capability at all (a root grader would otherwise keep them inside).
``--disable-userns``
    no nested user namespace: the code cannot gain capabilities there (bubblewrap 0.8+;
    older ones leave it out, and the kernel still keeps the read-only mounts locked).
``--die-with-parent``
    if the grader dies, the sandbox is killed (SIGKILL) with it.
``--new-session``
    ``setsid()`` before running the command: it cannot push keystrokes into the
    grader's terminal (TIOCSTI).
``--hostname sandbox``
    a neutral host name (uts namespace).
``--proc /proc``, ``--dev /dev``
    a /proc that shows only the sandbox's processes, and a minimal /dev (null, zero,
    random, tty...), made read-only by ``--remount-ro /dev``.
``--size N --tmpfs /tmp``, ``--size N --tmpfs /dev/shm``
    a private, size-capped /tmp and /dev/shm (RAM-backed: uncapped, they could fill the
    memory without being counted as any process's).
``--ro-bind P P`` / ``--symlink T P``
    read-only views of what the code needs: /usr and /etc (minus the secrets listed in
    ``_MASKED``, covered by an empty file or folder), the Python installation, the
    virtual environment, the site-packages, the ``cnn_helpers`` package folder (not the
    rest of the repository: its solutions and .git stay out) and the caller's
    ``readable`` paths (the data folder, for one). Nothing else of the host exists inside
    (no /home, /root, /sys, /run...).
``--bind WORKDIR WORKDIR``
    the only writable host folder: the submission's private scratch, also its HOME and
    TMPDIR (unless ``env`` says otherwise).
``--tmpfs P --remount-ro P`` / ``--ro-bind /dev/null P``
    each path in ``hide`` (a folder / a file) is covered by an empty, read-only folder
    or an empty file, even where it lies inside a readable path.
``--remount-ro /``
    the sandbox's own root (where bwrap made the mount points) is read-only too.
``--chdir WORKDIR``
    start in the scratch folder.

Mounts are given parents first (sorted by depth), so that a path inside another one is
mounted on top of it: a hidden folder inside the repo, a workdir inside /tmp.

Limits, for both kinds: ``setrlimit`` in the first process, inherited by all the others
(CPU seconds per process, open files, largest file, processes, no core dumps); a
watchdog in the calling thread that every 0.2 s sums the resident memory and counts the
threads of every process of the sandbox (all descendants of the first process, read from
/proc) and kills the whole tree at the wall-time, memory or process limit (RSS: pages
that processes share count once for each of them, which errs on the safe side); a reader
thread that keeps at most ``output_bytes`` of stdout+stderr and counts the rest. The
kernel does not apply RLIMIT_NPROC to processes of user id 0, which is what a root
grader's sandbox is outside its namespace: there the watchdog's count is the cap (a fork
bomb is stopped within about 0.2 s).

Killing: when the command ends or a limit is hit, every process of the tree is stopped
(SIGSTOP, so that nothing forks any more), then killed (SIGKILL). With bwrap this is
also the pid namespace's init: when it dies the kernel kills every process in the
namespace, however it detached itself. ``run`` returns only when none of them exists.

``kind="none"`` (only with ``allow_unsandboxed=True``) applies the same limits and
whole-tree kill through a tiny supervisor that is a "child subreaper" (orphans of the
command become its children, not init's), but it cannot hide files or block the network:
the code can read and write whatever the grader's user can.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["Completed", "Limits", "Sandbox", "SandboxUnavailable", "find_sandbox"]

_TICK = 0.2                # seconds between two looks of the watchdog
_SANDBOX_ID = "65534"      # nobody / nogroup inside the sandbox
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Readable on most machines only to root; a root grader's sandbox would see them as its own.
_MASKED = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers",
           "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private", "/etc/security/opasswd")
_INSTALL_HINT = ("Install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu; "
                 "`bash scripts/setup.sh` does it), `sudo dnf install bubblewrap` (Fedora).")


@dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use."""

    wall_seconds: float = 900        # whole run; then every process of the sandbox is killed
    memory_mb: int = 6144            # resident memory of the whole process tree
    cpu_seconds: int | None = None   # per process (RLIMIT_CPU), None = wall_seconds*2
    processes: int = 512             # processes and threads of the sandbox, together
    open_files: int = 1024           # per process (RLIMIT_NOFILE)
    output_bytes: int = 2_000_000    # stdout+stderr kept; the rest is discarded (counted)
    file_bytes: int = 2_000_000_000  # largest file it may write (RLIMIT_FSIZE)
    tmpfs_mb: int = 512              # size of the private /tmp, and of /dev/shm (bwrap)

    @property
    def cpu(self) -> int:
        """RLIMIT_CPU in seconds."""
        return int(self.cpu_seconds if self.cpu_seconds is not None else self.wall_seconds * 2)


@dataclass(frozen=True)
class Completed:
    """The result of :meth:`Sandbox.run`."""

    returncode: int | None  # exit status (128+N: killed by signal N); None: we stopped it
    output: str             # stdout+stderr, decoded, at most output_bytes
    output_dropped: int     # bytes discarded beyond the cap
    stopped: str | None     # None, or the limit that stopped it: "the time limit of 900 s"
    seconds: float


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or does not work here (the message says why and what to do)."""


@dataclass(frozen=True)
class Sandbox:
    """Runs commands isolated (``kind="bwrap"``) or only limited (``kind="none"``)."""

    kind: str
    bwrap: str = ""  # path of the bwrap program (kind "bwrap")

    def __post_init__(self) -> None:
        if self.kind not in ("bwrap", "none"):
            raise ValueError(f"sandbox kind must be 'bwrap' or 'none', not {self.kind!r}")
        if self.kind == "bwrap" and not self.bwrap:
            object.__setattr__(self, "bwrap", shutil.which("bwrap") or "")
            if not self.bwrap:
                raise SandboxUnavailable(f"bwrap is not installed. {_INSTALL_HINT}")

    def run(self, argv: list[str], *, workdir: Path, env: dict[str, str], limits: Limits,
            hide: Sequence[Path] = (), readable: Sequence[Path] = ()) -> Completed:
        """Run ``argv`` in ``workdir`` with exactly ``env`` (plus HOME and TMPDIR set to
        ``workdir`` where ``env`` lacks them) under ``limits``. ``readable``: extra host
        paths visible read-only; ``hide``: paths made invisible (bwrap only)."""
        workdir = Path(workdir).absolute()
        env = _checked_env(argv, workdir, env)
        if self.kind == "bwrap":
            command = _bwrap_argv(self.bwrap, argv, workdir, limits, hide, readable, env)
        else:
            command = _supervisor_argv(argv, env)
        return _execute(command, workdir, env, limits)


def find_sandbox(*, allow_unsandboxed: bool = False) -> Sandbox:
    """bwrap if it works here (probed once: it can fail inside containers), else raise
    SandboxUnavailable, or with ``allow_unsandboxed=True`` return a ``Sandbox("none")``
    that still applies the limits and whole-tree kill, after one loud warning on stderr."""
    bwrap = shutil.which("bwrap")
    why = _probe(bwrap) if bwrap else f"bwrap is not installed. {_INSTALL_HINT}"
    if why is None:
        return Sandbox("bwrap", bwrap or "")
    if not allow_unsandboxed:
        raise SandboxUnavailable(why)
    print("\n" + "!" * 78 + "\nWARNING: running submissions WITHOUT a sandbox.\n" + why + "\n"
          "Time, memory, process and output limits still apply, but the submitted code can\n"
          "READ every file this user can (instructor checks, reference solutions, other\n"
          "submissions), WRITE wherever this user can, and use the NETWORK.\n"
          "Grade untrusted work only with bubblewrap.\n" + "!" * 78, file=sys.stderr)
    return Sandbox("none")


@functools.lru_cache(maxsize=None)
def _probe(bwrap: str) -> str | None:
    """None if bwrap can build the real sandbox here (only ``lo`` inside), else why not."""
    code = ("import socket,sys; names=[n for _, n in socket.if_nameindex()]; "
            "sys.exit(0 if names == ['lo'] else 'network interfaces inside: %s' % names)")
    with tempfile.TemporaryDirectory(prefix="cnn-sandbox-probe-") as tmp:
        argv = _bwrap_argv(bwrap, [sys.executable, "-I", "-S", "-c", code], Path(tmp),
                           Limits(), (), (), {})
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  env={"PATH": os.defpath, "HOME": tmp})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap ({bwrap}) could not be started: {exc}"
    if proc.returncode == 0:
        return None
    return (f"bwrap ({bwrap}) is installed but cannot build a sandbox here: "
            f"{(proc.stderr or proc.stdout).strip() or f'exit status {proc.returncode}'}. "
            "Inside a container it needs user namespaces (on the host: sysctl "
            "kernel.unprivileged_userns_clone=1; Docker: --security-opt seccomp=unconfined "
            "--security-opt apparmor=unconfined, or --privileged).")


@functools.lru_cache(maxsize=None)
def _knows(bwrap: str, option: str) -> bool:
    """Whether this bwrap has ``option`` (from its --help)."""
    try:
        found = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in found.stdout + found.stderr


def _checked_env(argv: list[str], workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with HOME and TMPDIR defaulting to ``workdir``; plain errors for bad input."""
    if not argv:
        raise ValueError("nothing to run: argv is empty")
    if not workdir.is_dir():
        raise ValueError(f"the sandbox's working folder does not exist: {workdir}")
    bad = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise ValueError(f"environment names and values must be strings: {bad}")
    return {"HOME": str(workdir), "TMPDIR": str(workdir), **env}


# --- the bwrap command line --------------------------------------------------------------

def _python_paths() -> list[Path]:
    """What this Python needs to run: its installation, the venv, site-packages and the
    ``cnn_helpers`` package folder (in the repository, for an editable install: only the
    package is made readable, not the repository with its solutions and .git)."""
    import site

    package = Path(__file__).resolve().parents[1]
    paths = [Path(sys.base_prefix), Path(sys.base_exec_prefix), Path(sys.prefix),
             Path(sys.exec_prefix), Path(sys.executable).resolve().parent.parent, package]
    paths += [Path(p) for p in site.getsitepackages()]
    return paths


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """The existing paths and their real locations, without those inside another one."""
    found = {q for p in paths if p.exists() for q in (p.absolute(), p.resolve())}
    return sorted(p for p in found if not any(p != q and p.is_relative_to(q) for q in found))


_Plan = list[tuple[int, int, list[str]]]   # (depth, order at that depth, bwrap options)


def _mounts(workdir: Path, limits: Limits, hide: Sequence[Path],
            readable: Sequence[Path]) -> list[list[str]]:
    """bwrap's mount options, parents before children (a hidden folder inside a readable
    one is covered after that one is mounted; the workdir is bound after /tmp)."""
    missing = [str(p) for p in readable if not Path(p).exists()]
    if missing:
        raise ValueError(f"paths to make readable in the sandbox do not exist: {missing}")
    tmpfs = str(limits.tmpfs_mb * 2**20)
    plan: _Plan = [(0, 0, ["--proc", "/proc"]), (0, 1, ["--dev", "/dev"]),
                   (2, 0, ["--size", tmpfs, "--tmpfs", "/dev/shm"]),
                   (2, 1, ["--remount-ro", "/dev"]), (1, 0, ["--size", tmpfs, "--tmpfs", "/tmp"])]
    system = []          # host folders seen as they are (what lies inside is there too)
    for path in _SYSTEM:
        if os.path.islink(path):
            plan.append((1, 0, ["--symlink", os.readlink(path), path]))
        elif os.path.isdir(path):
            plan.append((1, 0, ["--ro-bind", path, path]))
            system.append(Path(path))
    roots = [*system, Path("/tmp"), workdir]
    for path in _outermost([*_python_paths(), *map(Path, readable)]):
        if not any(path.is_relative_to(folder) for folder in system):
            plan.append((len(path.parts), 0, ["--ro-bind", str(path), str(path)]))
            roots.append(path)
    plan.append((len(workdir.parts), 1, ["--bind", str(workdir), str(workdir)]))
    for path in [*map(Path, _MASKED), *_outermost([Path(p).absolute() for p in hide])]:
        if any(path.is_relative_to(root) or root.is_relative_to(path) for root in roots):
            plan += _hidden(path)   # (a path not mounted at all is invisible already)
    plan.sort(key=lambda item: (item[0], item[1]))
    return [args for _, _, args in plan]


def _hidden(path: Path) -> _Plan:
    """Mounts that make ``path`` look empty: a read-only empty folder, or /dev/null."""
    depth = len(path.parts)
    if path.is_dir() and not path.is_symlink():
        return [(depth, 2, ["--tmpfs", str(path)]), (depth, 3, ["--remount-ro", str(path)])]
    if path.exists():
        return [(depth, 2, ["--ro-bind", "/dev/null", str(path)])]
    return []


def _bwrap_argv(bwrap: str, argv: list[str], workdir: Path, limits: Limits,
                hide: Sequence[Path], readable: Sequence[Path], env: dict[str, str]) -> list[str]:
    """The full bwrap command line (see the module's docstring for each flag). bwrap always
    sets PWD: ``env(1)`` puts it back as ``env`` has it, or removes it."""
    pwd = [f"PWD={env['PWD']}"] if "PWD" in env else ["-u", "PWD"]
    head = [bwrap, "--unshare-all", "--unshare-user", "--uid", _SANDBOX_ID, "--gid", _SANDBOX_ID,
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if _knows(bwrap, "--disable-userns"):     # bubblewrap 0.8+ (Debian 12, Ubuntu 24.04)
        head.append("--disable-userns")
    mounts = [arg for args in _mounts(workdir, limits, hide, readable) for arg in args]
    return [*head, *mounts, "--remount-ro", "/", "--chdir", str(workdir),
            "--", shutil.which("env") or "/usr/bin/env", *pwd, "--", *argv]


# --- kind "none": a supervisor that keeps every orphan as its child ----------------------
# It runs the command with exactly ``env``, reaps what ends, and once the command has ended
# stops and kills every descendant left (they cannot escape to init: it is a subreaper).

_SUPERVISOR = r"""
import ctypes, json, os, signal, sys
argv, env = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
main = os.fork()
if main == 0:
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, ("cannot run %s: %s\n" % (argv[0], exc)).encode())
    os._exit(127)


def tree():                                      # every descendant of this supervisor
    kids = {}
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as fh:
                ppid = int(fh.read().rpartition(")")[2].split()[1])
            kids.setdefault(ppid, []).append(int(name))
        except (OSError, ValueError):
            pass
    found, todo = [], [os.getpid()]
    while todo:
        for kid in kids.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


status, main_done = 0, False
while True:
    if main_done:                                # the command ended: no one may stay
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in tree():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    if pid == main:
        status, main_done = os.waitstatus_to_exitcode(st), True
sys.exit(128 - status if status < 0 else status)
"""


def _supervisor_argv(argv: list[str], env: dict[str, str]) -> list[str]:
    """Run ``argv`` with exactly ``env`` under the subreaper supervisor (kind "none")."""
    return [sys.executable, "-I", "-S", "-c", _SUPERVISOR, json.dumps(argv), json.dumps(env)]


# --- limits -------------------------------------------------------------------------------

def _limiter(limits: Limits) -> Callable[[], None]:
    """The ``preexec_fn`` that sets the rlimits of the sandbox's first process (inherited by
    every process it starts). RLIMIT_NPROC counts all the processes of the user: for a
    non-root grader those it already runs are added to the cap."""
    nproc = limits.processes + (0 if os.geteuid() == 0 else _tasks_of(os.getuid()))
    cpu = limits.cpu
    wanted = [(resource.RLIMIT_CPU, cpu, cpu + 5),  # SIGXCPU first, SIGKILL 5 s later
              (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
              (resource.RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes),
              (resource.RLIMIT_NPROC, nproc, nproc),
              (resource.RLIMIT_CORE, 0, 0)]

    def apply() -> None:
        for which, soft, hard in wanted:
            old_hard = resource.getrlimit(which)[1]
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))

    return apply


def _tasks_of(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (what RLIMIT_NPROC counts)."""
    return sum(p.threads for p in _processes().values() if p.uid == uid)


# --- the process tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    uid: int
    state: str
    start: int    # start time (clock ticks since boot): (pid, start) names one process
    threads: int
    rss: int      # resident pages


def _processes() -> dict[int, _Proc]:
    """Every process of the machine, from /proc/PID/stat (one read each)."""
    procs: dict[int, _Proc] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                uid = os.fstat(fh.fileno()).st_uid
                fields = fh.read().rpartition(b")")[2].split()
            procs[int(name)] = _Proc(int(name), int(fields[1]), uid, fields[0].decode(),
                                     int(fields[19]), int(fields[17]), int(fields[21]))
        except (OSError, IndexError, ValueError):
            continue   # it ended while we looked
    return procs


class _Tree:
    """The processes of one sandbox: its first process and all their descendants, with
    every member ever seen remembered (one that a parent's death moved away still counts)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, int] = {}   # pid -> start time

    def look(self) -> list[_Proc]:
        """The members now (and remember them)."""
        procs = _processes()
        children: dict[int, list[_Proc]] = {}
        for proc in procs.values():
            children.setdefault(proc.ppid, []).append(proc)
        members = [procs[self.root]] if self.root in procs else []
        todo = [self.root]
        while todo:
            for child in children.get(todo.pop(), []):
                members.append(child)
                todo.append(child.pid)
        known = {p.pid: p for p in members}
        known.update((p.pid, p) for p in procs.values()
                     if self.seen.get(p.pid) == p.start and p.pid not in known)
        self.seen.update((p.pid, p.start) for p in known.values())
        return list(known.values())

    def alive(self) -> list[int]:
        """Members still running (zombies and the unreaped first process excluded)."""
        procs = _processes()
        return [pid for pid, start in self.seen.items() if pid != self.root
                and pid in procs and procs[pid].start == start and procs[pid].state != "Z"]

    def kill(self) -> None:
        """Freeze every member (SIGSTOP until no new one appears), then SIGKILL them all and
        the first process's group; with bwrap that includes the pid namespace's init."""
        for _ in range(20):
            members = {p.pid for p in self.look()}
            for pid in members:
                _signal(pid, signal.SIGSTOP)
            if {p.pid for p in self.look()} <= members:
                break
        _signal(-self.root, signal.SIGKILL)
        for proc in self.look():
            _signal(proc.pid, signal.SIGKILL)

    def wait_gone(self, seconds: float = 10.0) -> None:
        """Return once no member runs any more (SIGKILL again whatever remains)."""
        deadline = time.monotonic() + seconds
        while (left := self.alive()) and time.monotonic() < deadline:
            for pid in left:
                _signal(pid, signal.SIGKILL)
            time.sleep(0.02)


def _signal(pid: int, sig: int) -> None:
    """``os.kill`` that ignores a process (or group, pid < 0) that is already gone."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --- output ---------------------------------------------------------------------------------

class _Output(threading.Thread):
    """Reads the sandbox's stdout+stderr in chunks, keeps the first ``cap`` bytes and counts
    the rest. Stops at end of file, or once told to and nothing more is waiting (a process
    that escaped the kill and keeps the pipe open cannot hold the grader)."""

    def __init__(self, fd: int, cap: int) -> None:
        super().__init__(daemon=True, name="sandbox-output")
        self.fd, self.cap = fd, cap
        self.kept = bytearray()
        self.dropped = 0
        self._stop_at: float | None = None

    def run(self) -> None:
        while self._stop_at is None or time.monotonic() < self._stop_at:
            ready, _, _ = select.select([self.fd], [], [], _TICK)
            if not ready:
                if self._stop_at is not None:
                    return
                continue
            data = os.read(self.fd, 1 << 16)
            if not data:
                return
            room = max(0, self.cap - len(self.kept))
            self.kept += data[:room]
            self.dropped += max(0, len(data) - room)

    def finish(self) -> str:
        """Stop reading (within 2 s) and return the text kept."""
        self._stop_at = time.monotonic() + 2.0
        self.join()
        return self.kept.decode("utf-8", errors="replace")


# --- one run --------------------------------------------------------------------------------

def _execute(command: list[str], workdir: Path, env: dict[str, str], limits: Limits) -> Completed:
    """Start ``command`` in its own session, watch it, and leave nothing of it behind."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_limiter(limits))
    except OSError as exc:
        raise SandboxUnavailable(f"could not start {command[0]}: {exc}") from exc
    assert proc.stdout is not None
    output = _Output(proc.stdout.fileno(), limits.output_bytes)
    output.start()
    tree = _Tree(proc.pid)
    try:
        stopped = _watch(proc.pid, tree, limits, started)
    finally:
        tree.kill()
        proc.wait()
        tree.wait_gone()
        text = output.finish()
        proc.stdout.close()
    code = None if stopped else _exit_status(proc.returncode)
    if code == 128 + signal.SIGXCPU:
        stopped = f"the CPU time limit of {limits.cpu} s (per process)"
    return Completed(code, text, output.dropped, stopped, time.monotonic() - started)


def _exit_status(returncode: int) -> int:
    """Popen's status in bwrap's convention: 128+N for a death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _watch(pid: int, tree: _Tree, limits: Limits, started: float) -> str | None:
    """Wait for the first process to end (None) or a limit to be passed (which one)."""
    pidfd = _pidfd(pid)
    try:
        while True:
            left = limits.wall_seconds - (time.monotonic() - started)
            if left <= 0:
                return f"the time limit of {limits.wall_seconds:g} s"
            members = tree.look()
            if sum(p.threads for p in members) > limits.processes:   # first: forks share pages
                return f"the limit of {limits.processes} processes (threads included)"
            if sum(p.rss for p in members) * resource.getpagesize() > limits.memory_mb * 2**20:
                return f"the memory limit of {limits.memory_mb} MB"
            if _ended(pid, pidfd, min(_TICK, left)):
                return None
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when ``pid`` ends (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _ended(pid: int, pidfd: int | None, seconds: float) -> bool:
    """Wait up to ``seconds``; True once ``pid`` has ended. It is not reaped: its pid and
    group stay reserved until ``Popen.wait``, so they can still be signalled safely."""
    if pidfd is not None:
        return bool(select.select([pidfd], [], [], seconds)[0])
    time.sleep(seconds)
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
