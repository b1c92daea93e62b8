"""Sphinx extension of the book (loaded through ``sphinx.local_extensions`` in _config.yml).

- ``{execution-status}``: a directive that renders, at build time, a table of every notebook
  page with its last full run (``metadata.cnn_book.last_run``, written by
  ``scripts/run_notebooks.py``): date, wall time, Keras backend, device, and the smoke-size
  parameters CI uses. Nothing generated is committed, so the page cannot go stale.
- Figures in ``chapters/NN_topic`` are numbered per chapter ("Figure 2.3", as the sections
  are numbered by hand) instead of one count across the whole book.
- Exercise pages (``exercises/solutions/NN_topic``) get a second Colab button that opens the
  student notebook ``exercises/NN_topic.ipynb``, the one without the solutions, and a
  second download, that notebook itself (copied into the site at build time).
- The page's contents (right sidebar) highlight the section being read, at any scroll
  position (``static/cnn_book.js``; the theme only reacts when a heading crosses the top
  of the window, so a jump into a long section left the wrong entry, or none, lit).
- Each page loads every script once, and none of sphinx-thebe's while the "live code"
  button is off (``launch_buttons.thebe``): its configuration script ends up twice on
  every page of this Jupyter Book version (a JavaScript error, "THEBE_JS_URL has already
  been declared"), and it names a CDN copy of thebe.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

CHAPTER = re.compile(r"^chapters/(\d+)_")
SOLUTION = re.compile(r"^exercises/solutions/([^/]+)$")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "?"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class ExecutionStatus(SphinxDirective):
    """A table of the notebook pages and how each was last executed."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        env = self.env
        notebooks = sorted(d for d in env.found_docs if str(env.doc2path(d)).endswith(".ipynb"))
        lines = ["| Notebook | Last full run | Wall time | Backend | Device | CI runs it with |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for docname in notebooks:
            path = Path(env.doc2path(docname))
            env.note_dependency(str(path))
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("cnn_book", {})
            run = meta.get("last_run") or {}
            smoke = meta.get("smoke") or {}
            ci = ", ".join(f"`{k}={v}`" for k, v in smoke.items()) or "its defaults"
            if not run:
                when = "**never executed**"
            elif run.get("mode") != "full":
                when = f"**{_cell(run.get('mode'))} run only**, {_cell(run.get('date', '?'))}"
            else:
                when = _cell(run.get("date", "?"))
            device = run.get("device") or (f"CPU: {run['machine']}" if run.get("machine") else "?")
            lines.append(f"| {{doc}}`/{docname}` | {when} | {_duration(run.get('seconds'))} "
                         f"| {_cell(run.get('keras_backend', '?'))} | {_cell(device)} | {ci} |")
        container = nodes.container(classes=["execution-status"])
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                self.content_offset, container)
        return [container]


def chapter_figure_numbers(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Renumber the figures (tables, listings) of each chapter as CHAPTER.N.

    Runs after Sphinx has numbered them across the book (``env-get-updated``, later
    priority); the chapter number is the file name's prefix, as in the chapter's title.
    """
    changed = []
    for docname, by_type in env.toc_fignumbers.items():
        match = CHAPTER.match(docname)
        if not match:
            continue
        chapter = int(match.group(1))
        for figtype, numbers in by_type.items():
            ordered = sorted(numbers, key=numbers.__getitem__)
            renumbered = {fig_id: (chapter, i) for i, fig_id in enumerate(ordered, start=1)}
            if renumbered != numbers:
                by_type[figtype] = renumbered
                changed.append(docname)
    return sorted(set(changed))


def student_colab_button(app: Sphinx, pagename: str, templatename: str,
                         context: dict[str, Any], doctree: Any) -> None:
    """On an exercise page, add "Colab: exercise" (the student notebook) to the launch menu."""
    match = SOLUTION.match(pagename)
    if not match:
        return
    opts = app.config.html_theme_options
    colab = opts.get("launch_buttons", {}).get("colab_url", "").strip("/")
    repo_url = str(opts.get("repository_url", "")).rstrip("/")
    if not colab or not repo_url.startswith("https://github.com/"):
        return
    student = Path(app.srcdir) / "exercises" / f"{match.group(1)}.ipynb"
    if not student.is_file():
        return
    org_repo = repo_url.removeprefix("https://github.com/")
    branch = opts.get("repository_branch") or "master"
    book = str(opts.get("path_to_docs", "")).strip("/")
    path = f"{book}/exercises/{student.name}" if book else f"exercises/{student.name}"
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group["buttons"]:
                if button.get("text") == "Colab":
                    button["text"] = "Colab: with solutions"
            group["buttons"].append({
                "type": "link",
                "text": "Colab: exercise",
                "tooltip": "Open the exercise notebook (no solutions) in Colab",
                "icon": "_static/images/logo_colab.png",
                "url": f"{colab}/github/{org_repo}/blob/{branch}/{path}",
            })


def student_download_button(app: Sphinx, pagename: str, templatename: str,
                            context: dict[str, Any], doctree: Any) -> None:
    """On an exercise page, offer the student notebook (no solutions) for download too."""
    match = SOLUTION.match(pagename)
    if not match or not (Path(app.srcdir) / "exercises" / f"{match.group(1)}.ipynb").is_file():
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            for button in group["buttons"]:
                if button.get("label") == "download-notebook-button":
                    button["text"] = ".ipynb (with solutions)"
            group["buttons"].insert(0, {
                "type": "link",
                "text": ".ipynb (exercise)",
                "tooltip": "Download the exercise notebook, without the solutions",
                "icon": "fas fa-code",
                "label": "download-exercise-button",
                "url": f"../{match.group(1)}.ipynb",
            })


def copy_student_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Put ``exercises/NN_topic.ipynb`` into the site, beside the exercise pages' folder."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "exercises"
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((Path(app.srcdir) / "exercises").glob("*.ipynb")):
        shutil.copyfile(notebook, target / notebook.name)


def page_assets(app: Sphinx, pagename: str, templatename: str,
                context: dict[str, Any], doctree: Any) -> None:
    """Drop repeated scripts, and thebe's scripts and style sheet while thebe is off."""
    launch = app.config.html_theme_options.get("launch_buttons", {})
    thebe_off = not launch.get("thebe")

    def is_thebe(asset: Any) -> bool:
        name = str(getattr(asset, "filename", "") or "")
        body = str(getattr(asset, "attributes", {}).get("body", ""))
        return "sphinx-thebe" in name or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if assets is None:
            continue
        kept, seen = [], set()
        for asset in assets:
            ident = (str(getattr(asset, "filename", asset)),
                     tuple(sorted((k, str(v)) for k, v in getattr(asset, "attributes", {}).items())))
            if ident in seen or (thebe_off and is_thebe(asset)):
                continue
            seen.add(ident)
            kept.append(asset)
        assets[:] = kept


def _static_path(app: Sphinx) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _static_path)
    app.add_css_file("cnn_book.css")
    app.add_js_file("cnn_book.js")
    app.add_directive("execution-status", ExecutionStatus)
    app.connect("env-get-updated", chapter_figure_numbers, priority=900)
    app.connect("html-page-context", student_colab_button, priority=600)
    app.connect("html-page-context", student_download_button, priority=600)
    app.connect("build-finished", copy_student_notebooks)
    app.connect("html-page-context", page_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
