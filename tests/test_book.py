"""The book builds with warnings as errors, shows the committed outputs, renders offline."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    t0 = time.perf_counter()
    proc = subprocess.run([str(jb), "build", str(REPO), "--path-output", str(out),
                           "--warningiserror", "--keep-going"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    print(f"book built in {seconds:.1f} s")
    return out / "_build" / "html"


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
