"""Write the Colab set-up cell at the top of every notebook, from ``_config.yml``.

    .venv/bin/python scripts/colab_cell.py                 # chapters/, exercises/, exercises/solutions/
    .venv/bin/python scripts/colab_cell.py chapters/06_regularization.ipynb   # some notebooks only
    .venv/bin/python scripts/colab_cell.py --check         # exit 1 if a first cell disagrees

The repository is named in one place, ``repository:`` in ``_config.yml`` (``url``,
``path_to_book``, ``branch``); the book's Colab buttons and this cell are both derived
from it, so a fork changes ``_config.yml`` and re-runs this script.

The cell (tagged ``colab-setup``; ``remove-cell`` too, except in the student notebooks,
which the book does not show) imports ``cnn_helpers`` and, only where that fails *and*
the kernel is Google Colab, installs the package from the repository with pip. Where
``cnn_helpers`` imports it prints nothing, so the committed outputs and nbval's
comparisons are unaffected. Its code starts folded away (``cellView: form`` with its
``#@title`` in Colab, ``source_hidden`` in JupyterLab): readers see one line, the title.

Idempotent. A notebook that lacks the cell gets it inserted as its first cell, never
executed: the test suite then asks for a full re-run (``scripts/run_notebooks.py``), as for
any other new cell. A notebook that has the cell gets its text replaced (say, after a fork
changed the URL) and keeps its execution count: outside Colab the cell does nothing,
whatever URL it names, so the committed run stays what a re-run would give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
TAG = "colab-setup"
CELL_ID = "colab-setup"
BOOK_TAGS = ["remove-cell"]          # the website shows a Colab button instead of this cell

TEMPLATE = '''\
#@title Colab set-up: installs the book's helper package, cnn_helpers, if it is missing
# Only on Google Colab. Anywhere else this cell does nothing: there, install the
# repository with `pip install -e .` (see its README).
import sys

try:
    import cnn_helpers  # noqa: F401
except ImportError:
    if "google.colab" not in sys.modules:
        raise
    import importlib
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    {spec}],
                   check=True)
    importlib.invalidate_caches()
    import cnn_helpers  # noqa: F401
    print("installed cnn_helpers from {url}")'''


def repository(config: Path = REPO / "_config.yml") -> dict[str, str]:
    """``url``, ``branch`` and ``path_to_book`` from the book's configuration."""
    repo = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    if not url.startswith("https://github.com/") or len(url.split("/")) != 5:
        raise SystemExit(f"{config}: repository.url must be https://github.com/ORG/REPO, got {url!r}")
    return {"url": url, "branch": str(repo.get("branch") or "main"),
            "path_to_book": str(repo.get("path_to_book") or "").strip("/")}


def pip_spec(repo: dict[str, str]) -> str:
    """The pip requirement that installs cnn_helpers from the repository (pyproject.toml
    sits beside _config.yml, in the book's folder)."""
    spec = f"cnn-helpers @ git+{repo['url']}@{repo['branch']}"
    if repo["path_to_book"]:
        spec += f"#subdirectory={repo['path_to_book']}"
    return spec


def colab_url(repo: dict[str, str], notebook: str) -> str:
    """The Colab link of a notebook (path relative to the book's folder), as the book's
    launch button builds it."""
    org_repo = repo["url"].removeprefix("https://github.com/")
    path = f"{repo['path_to_book']}/{notebook}" if repo["path_to_book"] else notebook
    return f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/{path}"


def cell_source(repo: dict[str, str]) -> str:
    return TEMPLATE.format(spec=json.dumps(pip_spec(repo)), url=repo["url"])


def is_student_notebook(path: Path) -> bool:
    """exercises/NN_topic.ipynb (not the solutions, not the chapters)."""
    return path.resolve().parent == (REPO / "exercises").resolve()


def expected_tags(path: Path) -> list[str]:
    return [TAG] if is_student_notebook(path) else [TAG, *BOOK_TAGS]


def expected_metadata(path: Path) -> dict:
    """Tags, and the code folded away in Colab (a form) and in JupyterLab."""
    return {"tags": expected_tags(path), "cellView": "form", "jupyter": {"source_hidden": True}}


def update(nb: nbformat.NotebookNode, path: Path, source: str) -> bool:
    """Put the set-up cell first in ``nb``; return whether anything changed."""
    metadata = expected_metadata(path)
    first = nb.cells[0] if nb.cells else None
    if first is not None and TAG in first.get("metadata", {}).get("tags", []):
        changed = first.source != source or any(first.metadata.get(k) != v for k, v in metadata.items())
        first.source = source
        first.metadata.update(metadata)
        return changed
    if any(TAG in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise SystemExit(f"{path}: a '{TAG}' cell exists but is not the first cell; move or delete it")
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell["id"] = CELL_ID
    nb.cells.insert(0, cell)
    return True


def default_notebooks() -> list[Path]:
    return sorted([*(REPO / "chapters").glob("*.ipynb"), *(REPO / "exercises").glob("*.ipynb"),
                   *(REPO / "exercises" / "solutions").glob("*.ipynb")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of the book")
    parser.add_argument("--check", action="store_true", help="only report notebooks whose first cell differs")
    args = parser.parse_args(argv)
    source = cell_source(repository())
    stale = []
    for path in args.notebooks or default_notebooks():
        nb = nbformat.read(path, as_version=4)
        if not update(nb, path, source):
            continue
        shown = path.resolve().relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
        if args.check:
            stale.append(str(shown))
        else:
            nbformat.write(nb, path)
            print(f"wrote the Colab cell of {shown}")
    if stale:
        print("first cell out of date (run scripts/colab_cell.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
