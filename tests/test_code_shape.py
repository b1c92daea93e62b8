"""The grading group stays readable: small functions, and the repeated idioms of the task
checks named once in checks.py instead of copied (issue: "the grading code as one group")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

GRADING = REPO / "cnn_helpers" / "grading"
MODULES = sorted(GRADING.rglob("*.py"))


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(GRADING)))
def test_no_function_is_longer_than_60_lines(path):
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in _functions(path)
            if f.end_lineno - f.lineno + 1 > 60]
    assert not long, f"split these: {', '.join(long)}"


@pytest.mark.parametrize("idiom, helper", [
    (r"0\.5 if len\(\w+\) == 1 else 0\.25", "checks.partial_for"),
    (r"def note\(", "checks.Problems"),
    (r"tuple\(model\.input_shape\), tuple\(model\.output_shape\)", "checks.model_shapes"),
])
def test_the_tasks_use_the_shared_idioms(idiom, helper):
    copies = [p.name for p in (GRADING / "tasks").glob("*.py")
              if re.search(idiom, p.read_text(encoding="utf-8"))]
    assert not copies, f"use {helper} instead of a copy in {', '.join(copies)}"


def test_exercises_are_registered_not_found_by_name():
    from cnn_helpers.grading.exercises import EXERCISES

    modules = {p.stem for p in (GRADING / "tasks").glob("ex*.py")}
    assert {m.rsplit(".", 1)[1] for m in EXERCISES.values()} == modules
    notebooks = {p.stem for p in (REPO / "exercises").glob("*.ipynb")}
    assert set(EXERCISES) == notebooks
