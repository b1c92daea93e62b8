"""The book builds with warnings as errors, shows the committed outputs, renders offline."""

from __future__ import annotations

import json
import re
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
