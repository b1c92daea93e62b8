"""Generate the student exercise notebooks from the reference solutions.

    .venv/bin/python scripts/make_exercises.py            # write exercises/NN_topic.ipynb
    .venv/bin/python scripts/make_exercises.py --check    # exit 1 if any is out of date

In ``exercises/solutions/NN_topic.ipynb`` every solution sits between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION`` of a code cell. The student notebook gets
the cell's ``metadata.starter`` text there instead (default: ``raise NotImplementedError()``
at the marker's indentation); outputs, execution counts and the book's display settings
(the ``hide-cell`` tag that puts a solution and its output behind the "Show solution"
toggle, the other hide/remove tags, ``mystnb``) are dropped, and ``metadata.cnn_book``
names the exercise and its smoke-size parameters (from ``cnn_helpers.grading.tasks``). So
the two notebooks cannot drift apart: the test suite runs ``--check``.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from cnn_helpers import grading

REPO = Path(__file__).resolve().parents[1]
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
BOOK_ONLY_TAGS = {"hide-input", "hide-cell", "hide-output", "remove-cell", "remove-input"}


def starter_source(source: str, starter: str | None) -> str:
    """Replace every BEGIN/END SOLUTION region of ``source`` with the starter code."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError("nested '### BEGIN SOLUTION'")
            inside = True
            indent = begin.group(1)
            text = starter if starter is not None else "raise NotImplementedError()"
            out += [indent + t if t else t for t in text.rstrip("\n").splitlines()]
        elif END.match(line):
            if not inside:
                raise ValueError("'### END SOLUTION' without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'### BEGIN SOLUTION' without END")
    return "\n".join(out)


def student_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        meta = cell.metadata
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if "### BEGIN SOLUTION" in cell.source:
                cell.source = starter_source(cell.source, meta.get("starter"))
        meta.pop("starter", None)
        meta.pop("mystnb", None)
        meta.pop("execution", None)
        meta.pop("papermill", None)
        if "tags" in meta:
            meta["tags"] = [t for t in meta["tags"] if t not in BOOK_ONLY_TAGS]
            if not meta["tags"]:
                del meta["tags"]
    nb.metadata.pop("papermill", None)
    nb.metadata["cnn_book"] = {"exercise": name, "smoke": grading.exercise(name).smoke}
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date notebooks")
    args = parser.parse_args(argv)
    stale = []
    for sol_path in sorted((REPO / "exercises" / "solutions").glob("*.ipynb")):
        name = sol_path.stem
        student = student_notebook(nbformat.read(sol_path, as_version=4), name)
        target = REPO / "exercises" / sol_path.name
        text = nbformat.writes(student) + "\n"
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(str(target.relative_to(REPO)))
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(REPO)}")
    if stale:
        print("out of date (run scripts/make_exercises.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
