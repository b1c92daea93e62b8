"""Function tasks, graded from the notebook's source: rebuilt in a clean process, on fresh probes.

A function task ("write ``pool2d`` yourself") is not graded on what the submission's kernel
says its function returned, which code in the notebook could forge. The grader instead

1. reads the *definitions* of the submitted notebook (:func:`replay_source`): imports,
   ``def`` and ``class`` statements and simple assignments (numbers, tuples, NumPy arrays),
   from the first cell down to the task's own cells; nothing that trains, loads data or
   has other effects, and nothing below the task (so a later cell cannot change it);
2. runs them, in the sandbox, in a fresh Python process per task (:func:`run_job`) in which
   the implementations the task asks the student not to call (the book's ``cnn_helpers``,
   Keras, TensorFlow, JAX, PyTorch, SciPy, or single functions such as ``numpy.convolve``:
   ``Task.forbid``) are replaced by stand-ins that raise and record the call;
3. calls the function on probe inputs drawn with a seed chosen per submission (recorded in the
   report, so a regrade reproduces them) and exports the outputs as plain data.

A function that calls a forbidden implementation earns nothing, with a message that names
the call; one that loops or crashes fails its own task alone.

Run inside the sandbox as ``python -m cnn_helpers.grading.replay JOBS.json OUTDIR``.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Names whose calls an assignment may contain and still be replayed.
_PURE_CALLS = {"int", "float", "complex", "bool", "str", "tuple", "list", "dict", "set",
               "frozenset", "range", "len", "abs", "min", "max", "sum", "round", "sorted",
               "reversed", "zip", "enumerate", "map", "pow", "divmod"}
_PURE_MODULES = {"np", "numpy", "math"}
#: Seconds one replayed statement may take (a definition takes microseconds) ...
STATEMENT_SECONDS = 5
#: ... and one import (a cold ``import keras`` takes 6 to 7 s on a 2-core machine).
IMPORT_SECONDS = 60


# --------------------------------------------------------------------------- host side: the source


def _call_is_pure(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in _PURE_CALLS
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id in _PURE_MODULES


def _keep(stmt: ast.stmt) -> bool:
    """Is ``stmt`` a definition the task's function may depend on, without side effects?"""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        return all(_call_is_pure(n) for n in ast.walk(stmt.value) if isinstance(n, ast.Call))
    return False


def _tags_of(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _cell_statements(source: str) -> list[str]:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError):
        return []                       # the notebook's run reports the syntax error
    return [ast.unparse(s) for s in tree.body if _keep(s)]


def replay_source(cells: Iterable[Any], tag: str | None) -> list[str] | None:
    """The statements to replay for the task whose cells carry ``tag``: every kept
    statement of every code cell down to the task's last cell (``tag=None``: of every
    cell). None when no cell has the tag (the task's cells were deleted)."""
    code = [c for c in cells if c.get("cell_type") == "code"]
    tagged = [i for i, c in enumerate(code) if tag in _tags_of(c)]
    last = len(code) - 1 if tag is None else max(tagged, default=None)
    if last is None:
        return None
    statements: list[str] = []
    for cell in code[:last + 1]:
        source = cell.get("source", "")
        statements += _cell_statements(source if isinstance(source, str) else "".join(source))
    return statements


# --------------------------------------------------------------------------- sandbox side: one task


class DelegationError(Exception):
    """A forbidden implementation was called."""


_CALLS: list[str] = []


class _Forbidden(types.ModuleType):
    """Stands in for a forbidden module or function: attributes are more stand-ins,
    calling one records the call and raises."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Forbidden(f"{self.__name__}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _CALLS.append(self.__name__)
        raise DelegationError(f"{self.__name__} is not available here: this task asks you to "
                              "write it yourself")


class _ForbiddenFinder:
    """An import hook: forbidden modules import as stand-ins."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        self.prefixes = tuple(prefixes)

    def forbidden(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not self.forbidden(name):
            return None
        import importlib.machinery

        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec: Any) -> types.ModuleType:
        return _Forbidden(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _forbid(names: Sequence[str]) -> None:
    """Make every name in ``names`` unusable in this process from now on."""
    finder = _ForbiddenFinder([n for n in names if ":" not in n])
    for name in list(sys.modules):
        if finder.forbidden(name):
            sys.modules[name] = _Forbidden(name)
    sys.meta_path.insert(0, finder)
    for name in names:      # single functions of allowed modules: "numpy:convolve"
        module_name, _, attr = name.partition(":")
        module = sys.modules.get(module_name) if attr else None
        if module is not None and not isinstance(module, _Forbidden):
            setattr(module, attr, _Forbidden(f"{module_name}.{attr}"))


def _alarm(_signum: int, _frame: Any) -> None:
    raise TimeoutError("took too long")


def _define(statements: Sequence[str]) -> dict[str, Any]:
    """Run the replayed statements in a fresh namespace, skipping any that fail."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    signal.signal(signal.SIGALRM, _alarm)
    for statement in statements:
        signal.alarm(IMPORT_SECONDS if statement.startswith(("import ", "from "))
                     else STATEMENT_SECONDS)
        try:
            exec(compile(statement, "<notebook>", "exec"), namespace)  # noqa: S102 (sandboxed)
        except BaseException:   # noqa: BLE001  (a failing statement is skipped, as documented)
            pass
        finally:
            signal.alarm(0)
    return namespace


def _probes_for(job: dict[str, Any]) -> list[tuple[Any, ...]]:
    from cnn_helpers.grading import protocol

    if job.get("probes_file"):
        return protocol.load_probes(job["probes_file"])
    from cnn_helpers.grading.exercises import exercise

    task = exercise(job["exercise"]).task(job["id"])
    with protocol.use_probe_seed(int(job["seed"])):
        return list(task.probes())  # type: ignore[misc]


def run_job(job: dict[str, Any], out: Path) -> None:
    """Replay one task (in this process, which it then spoils) and write its record."""
    from cnn_helpers.grading import protocol
    from cnn_helpers.grading.exercises import Task

    probes = _probes_for(job)
    protocol.PROBE_SECONDS = float(job.get("probe_seconds", protocol.PROBE_SECONDS))
    task = Task(job["id"], "", job["answer"], lambda v: (True, ""), kind="function",
                probes=lambda: probes, forbid=tuple(job["forbid"]))
    _forbid(job["forbid"])
    namespace = _define(job["statements"])
    # Calls made while defining (an allowed module that uses a forbidden one when imported,
    # as cnn_helpers.augment registers its layers with Keras) are not the function's own.
    del _CALLS[:]
    protocol.export_answers(namespace, [task], out / f"{job['id']}.json", out / f"{job['id']}.npz",
                            calls=_CALLS)


# --------------------------------------------------------------------------- sandbox side: the driver


def _run_one(job: dict[str, Any], jobs_file: Path, out: Path, seconds: float) -> dict[str, Any] | None:
    """Run one task's replay in a child process; a note if it failed as a whole."""
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "cnn_helpers.grading.replay", "--one", str(jobs_file), job["id"],
           str(out)]
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=seconds, start_new_session=True)
    except subprocess.TimeoutExpired:
        return {"state": "export-error", "error": f"the function's probes took longer than "
                                                  f"{seconds:.0f} s in all"}
    if proc.returncode != 0 or not (out / f"{job['id']}.json").exists():
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return {"state": "export-error", "error": f"rebuilding it stopped: {tail[0][:200]}"}
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--one":
        jobs_file, task_id, out = Path(args[1]), args[2], Path(args[3])
        job = next(j for j in json.loads(jobs_file.read_text()) if j["id"] == task_id)
        run_job(job, out)
        return 0
    jobs_file, out = Path(args[0]), Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    failures: dict[str, Any] = {}
    for job in json.loads(jobs_file.read_text()):
        note = _run_one(job, jobs_file, out, float(job.get("seconds", 120)))
        if note is not None:
            failures[job["id"]] = note
    (out / "failures.json").write_text(json.dumps(failures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- value and model tasks


def _aliases(trees: Sequence[ast.Module]) -> dict[str, str]:
    """Local name -> the dotted name it was imported as, over every import statement."""
    names: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _assigned(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _read(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _matches(name: str, forbid: Sequence[str]) -> bool:
    for entry in forbid:
        entry = entry.replace(":", ".")
        if name == entry or name.startswith(entry + "."):
            return True
    return False


def static_delegation(sources: Sequence[str], answer: str, forbid: Sequence[str]) -> list[str]:
    """Forbidden calls the value of ``answer`` is computed with, read from the source.

    ``sources``: the code cells run up to the task's check, in order. The statements that
    last assigned ``answer``, and those that assigned the names they read (transitively),
    are searched for calls of the implementations in ``forbid`` (``"cnn_helpers.models"``,
    ``"cnn_helpers.ops:conv_output_size"``), through whatever name they were imported as.
    """
    if not forbid:
        return []
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse("\n".join(ln for ln in source.splitlines()
                                             if not ln.lstrip().startswith(("%", "!")))))
        except (SyntaxError, ValueError, RecursionError):
            continue
    aliases = _aliases(trees)
    statements = [s for t in trees for s in t.body]
    wanted, found, seen = {answer}, [], set()
    for stmt in reversed(statements):
        if not (_assigned(stmt) & wanted) or id(stmt) in seen:
            continue
        seen.add(id(stmt))
        wanted |= _read(stmt)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                name = _dotted(node.func, aliases)
                if name and _matches(name, forbid) and name not in found:
                    found.append(name)
    return found
