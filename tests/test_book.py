"""The book builds with warnings as errors, shows the committed outputs, renders offline."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def built(built_site) -> Path:
    """The book as ``conftest.built_site`` built it for this run (shared with the browser tests)."""
    return built_site[0]


def test_the_book_builds_in_under_a_minute(built_site):
    """A build from scratch (``--all``, execution off: the notebooks' committed outputs)."""
    seconds = built_site[1]
    print(f"book built in {seconds:.1f} s")
    assert seconds < 60, f"the book took {seconds:.0f} s to build (execution off): over 60 s"


def test_every_page_is_built(built):
    assert (built / "intro.html").is_file()
    for nb in sorted((REPO / "chapters").glob("*.ipynb")):
        assert (built / "chapters" / f"{nb.stem}.html").is_file(), nb.name
    for nb in sorted((REPO / "exercises" / "solutions").glob("*.ipynb")):
        assert (built / "exercises" / "solutions" / f"{nb.stem}.html").is_file(), nb.name


def test_solutions_are_behind_a_toggle(built):
    html = (built / "exercises" / "solutions" / "01_convolution.html").read_text(encoding="utf-8")
    assert html.count("Show solution") >= 6            # one per task
    assert "[PASS] Task 1.6" in html                   # the checks' outputs are shown


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "exercises" / "solutions")
                                        .glob("*.ipynb")))
def test_each_solution_and_its_output_share_one_toggle(built, name):
    """``hide-cell``: code and output of every solution cell behind one "Show solution"."""
    from cnn_helpers import grading

    html = (built / "exercises" / "solutions" / f"{name}.html").read_text(encoding="utf-8")
    cells = re.findall(r'<div class="cell tag_task-([\d.]+) tag_hide-cell[^"]*">\s*'
                       r'<details class="[^"]*\bhide\b[^"]*">\s*<summary[^>]*>\s*'
                       r'<p class="collapsed[^"]*">Show solution</p>', html)
    assert cells == [t.id for t in grading.exercise(name).tasks], cells


# What each solution cell prints that gives an answer away, as the solution notebooks print
# it (checked below against their outputs). With the numeric answers of every number task
# (tests/test_hint_policy.py), none of it may be readable on the page outside a toggle.
SOLUTION_OUTPUTS = {
    "02_stride_and_padding": {"2.1": ["31.5"], "2.2": ["split (1, 2)"],
                              "2.4": ["[[0 0 1 0 0 1 0 0 1 0 0 1]"], "2.5": ["80 parameters"],
                              "2.6": ["field 17"]},
    "03_pooling": {"3.2": ["400,010", "92,170"], "3.4": ["field 20 x 20"], "3.5": ["19,466"]},
    "04_beyond_2d": {"4.1": ["279,296 parameters", "43,515,904 multiply-adds"],
                     "4.4": ["receptive field 37", "1801"], "4.5": ["(None, 14, 30, 30, 8)"]},
    "05_anatomy": {"5.3": ["by hand 121,930"], "5.4": ["1,256,080"], "5.5": ["225,034"]},
    "06_regularization": {"6.1": ["final gap +0.489"], "6.5": ["156,410"]},
    "07_mnist": {"7.1": ["540 steps per epoch", "2,700 in all"]},
    "08_cifar10": {"8.2": ["4,194,816"], "8.3": ["4,736 parameters"],
                   "8.4": ["117,498 parameters"]},
    "09_many_devices": {"9.4": ["32 devices x 128 images", "learning rate 1.6",
                                "warm-up 1500 steps"], "9.5": ["speed-up  15.4"]},
}


class _VisibleText(HTMLParser):
    """The text of a page's article outside the toggles (``<details class="hide ...">``),
    and, of that, the text of cell outputs."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool, bool, bool]] = []   # tag, hidden, output, article
        self.text: list[str] = []
        self.outputs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        hidden = (tag == "details" and "hide" in classes) or tag in ("script", "style")
        self.stack.append((tag, hidden, "cell_output" in classes,
                           tag == "article" and "bd-article" in classes))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, *_ in self.stack):         # a stray end tag changes nothing
            while self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not any(a for *_, a in self.stack) or any(h for _, h, _, _ in self.stack):
            return
        self.text.append(data)
        if any(o for _, _, o, _ in self.stack):
            self.outputs.append(data)


def _answer_strings(name: str) -> dict[str, list[str]]:
    """Per task, the strings that would give its answer away: the number tasks' answers
    (in every way a message writes them) and what the solution cells print."""
    from test_hint_policy import ANSWERS

    found: dict[str, list[str]] = {k: list(v) for k, v in SOLUTION_OUTPUTS.get(name, {}).items()}
    for task, answer in ANSWERS.get(name, {}).items():
        values = list(answer) if isinstance(answer, tuple) else [answer]
        texts = [f"({', '.join(f'{v:g}' for v in values)})",
                 " x ".join(f"{v:g}" for v in values)] if len(values) > 1 else []
        for v in values:              # "2" or "8" is everywhere ("all 8 probes")
            if v >= 10 and v == int(v):
                texts += [f"{int(v):,}", f"{int(v)}"]
            elif v >= 10:
                texts += [f"{v:,}", f"{v:g}", f"{v:.1f}"]
        found.setdefault(task, []).extend(dict.fromkeys(texts))
    return found


def _mentions(text: str, answer: str) -> bool:
    return re.search(rf"(?<![\w.,]){re.escape(answer)}(?![\w]|[.,]\d)", text) is not None


def test_solution_outputs_named_here_are_the_notebooks_own():
    for name, tasks in SOLUTION_OUTPUTS.items():
        nb = json.loads((REPO / "exercises" / "solutions" / f"{name}.ipynb").read_text())
        for task, strings in tasks.items():
            [cell] = [c for c in nb["cells"] if f"task-{task}" in c["metadata"].get("tags", [])
                      and "### BEGIN SOLUTION" in "".join(c["source"])]
            assert "hide-cell" in cell["metadata"]["tags"], f"{name} {task}: not behind a toggle"
            printed = json.dumps(cell.get("outputs", []))
            for text in strings:
                assert json.dumps(text)[1:-1] in printed, f"{name} {task}: no {text!r} printed"


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "exercises" / "solutions")
                                        .glob("*.ipynb")))
def test_no_answer_is_readable_outside_a_toggle(built, name):
    """Review: "(I + 2P - F) / S + 1 = 31.5, rounded down: 31", "'same' pads (1, 2)", "by
    hand 121,930" and [PASS] lines restating the value were on the exercise pages. Bare
    numbers are looked for in the cells' outputs only (the statements use "28x28" and so
    on); anything longer anywhere on the page outside a toggle."""
    page = _VisibleText()
    page.feed((built / "exercises" / "solutions" / f"{name}.html").read_text(encoding="utf-8"))
    text, outputs = " ".join(page.text), " ".join(page.outputs)
    assert "[PASS]" in outputs, "the checks' messages are shown"
    leaks = [(task, answer) for task, answers in _answer_strings(name).items()
             for answer in answers
             if _mentions(outputs if re.fullmatch(r"[\d.]+", answer) else text, answer)]
    assert not leaks, f"{name}: answers readable outside the toggles: {leaks}"


def test_chapter_shows_committed_outputs_without_stderr(built):
    html = (built / "chapters" / "01_convolution.html").read_text(encoding="utf-8")
    assert "(60000, 28, 28) uint8" in html          # a printed output
    assert "3,145,728" in html                      # a worked number
    assert re.search(r'<img[^>]+src="\.\./_images/[^"]+\.png"', html)  # a figure
    assert "absl::InitializeLog" not in html and "cuInit" not in html


def test_math_is_served_locally(built):
    html = (built / "chapters" / "01_convolution.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts), scripts
    assert (built / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert list((built / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))


def test_search_index_knows_the_chapters(built):
    index = (built / "searchindex.js").read_text(encoding="utf-8")
    assert "chapters/01_convolution" in index and "receptiv" in index


def test_no_cdn_assets(built):
    """Every script and stylesheet of the built pages is served from the site itself."""
    for page in [built / "intro.html", built / "chapters" / "01_convolution.html"]:
        html = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', html)
        assert not remote, f"{page.name} loads {remote}"


def _chapter_pages(built: Path) -> list[Path]:
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    return [built / f"{m}.html" for m in re.findall(r"file:\s*(chapters/\d+_\w+)", toc)]


def test_chapter_figures_are_numbered_and_captioned(built):
    """Every image a chapter's cells draw is a figure "Figure <chapter>.<n>" with a caption
    (cell metadata ``mystnb.figure``), numbered 1, 2, ... within the chapter."""
    pages = _chapter_pages(built)
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        chapter = int(re.match(r"(\d+)_", page.stem).group(1))
        images = re.findall(r'<img[^>]+src="\.\./_images/', html)
        figures = re.findall(r'<figure[^>]*>\s*(?:<a [^>]*>)?<img[^>]+src="\.\./_images/[^>]*>\s*'
                             r'(?:</a>\s*)?<figcaption>\s*'
                             r'<p><span class="caption-number">Figure (\d+)\.(\d+) </span>'
                             r'<span class="caption-text">(.*?)</span>(?:<a class="headerlink"|</p>)', html, re.S)
        assert images and len(figures) == len(images), \
            f"{page.name}: {len(images)} images, {len(figures)} numbered and captioned"
        assert [(int(c), int(n)) for c, n, _ in figures] == \
            [(chapter, n) for n in range(1, len(figures) + 1)], page.name
        short = [c for _, _, c in figures if len(re.sub(r"<[^>]+>", "", c)) < 40]
        assert not short, f"{page.name}: captions should say what the figure shows: {short}"


def test_status_page_lists_every_notebook(built):
    """The status page is made at build time from each notebook's metadata.cnn_book.last_run."""
    html = (built / "status.html").read_text(encoding="utf-8")
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    pages = re.findall(r"file:\s*((?:chapters|exercises)/[\w/]+)", toc)
    assert pages
    for page in pages:
        meta = json.loads((REPO / f"{page}.ipynb").read_text(encoding="utf-8"))["metadata"]
        run = meta.get("cnn_book", {}).get("last_run")
        row = re.search(rf'<tr[^>]*>\s*<td[^>]*><p><a[^>]+href="{re.escape(page)}.html".*?</tr>', html, re.S)
        assert row, f"{page} is missing from the status page"
        text = re.sub(r"<[^>]+>", "", row.group(0))
        if not run:
            assert "never executed" in text, text
            continue
        assert run["date"] in text and run["keras_backend"] in text, text
        if run.get("mode") != "full":
            assert f"{run['mode']} run only" in text, text
        if "device" in run:
            assert run["device"].split(" (")[0] in text, text


def test_colab_cell_is_not_shown(built):
    """The Colab set-up cell is for Colab; the website has its launch button instead."""
    html = (built / "chapters" / "01_convolution.html").read_text(encoding="utf-8")
    assert "google.colab" not in html and "Colab set-up" not in html
