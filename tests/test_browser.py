"""The built book in a real browser: Debian's Chromium, headless, driven by Playwright.

The site is built (``jupyter-book build``, warnings as errors) into ``_build/html`` and
served by ``http.server`` on 127.0.0.1. Every page of ``_toc.yml`` must load without console
errors or failed requests, with every image decoded and every formula typeset by the local
MathJax; any request that leaves 127.0.0.1 is blocked and fails the test (the book must work
offline). A screenshot of each page goes to ``_build/screenshots/`` (kept by CI as an
artifact), plus one of chapter 1 with its launch menu open.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import REPO, build_book

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def toc_pages() -> list[str]:
    """Every page of the table of contents, in order (root first)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def _colab_cell():
    import importlib.util

    spec = importlib.util.spec_from_file_location("colab_cell", REPO / "scripts" / "colab_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGES = toc_pages()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site():
    """Build the book into _build/html and serve it on 127.0.0.1 (a free port)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run bash scripts/setup.sh (apt-get install chromium)")
    t0 = time.perf_counter()
    html = build_book(REPO, "--all")
    print(f"browser tests: book built in {time.perf_counter() - t0:.1f} s")
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", html
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Debian's Chromium; Playwright must never download a browser of its own.
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class Visit:
    """A page opened in a fresh browser context that records every problem."""

    def __init__(self, browser, base: str):
        self.base = base
        self.problems: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(
            f"request failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}")
                     if r.status >= 400 else None)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.problems.append(f"request leaves the machine: {url}")
            route.abort()

    def open(self, path: str):
        self.page.goto(f"{self.base}/{path}", wait_until="load")
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    v = Visit(browser, site[0])
    yield v
    v.close()


_TYPESET = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    const math = Array.from(document.querySelectorAll('.math'));
    return {
        mathjax: !!(window.MathJax && MathJax.version),
        formulas: math.length,
        typeset: math.filter(m => m.querySelector('mjx-container')).length,
        rendered: document.querySelectorAll('mjx-container').length,
    };
}"""

_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(img => { img.loading = 'eager'; });
    await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
        img.addEventListener('load', done); img.addEventListener('error', done);
        setTimeout(done, 15000);
    })));
    return {count: images.length,
            broken: images.filter(img => !img.complete || img.naturalWidth === 0)
                          .map(img => img.getAttribute('src'))};
}"""

# Text that MathJax should have replaced, outside code, outputs and MathJax's own markup.
_RAW_TEX = """() => {
    const skip = 'PRE, CODE, SCRIPT, STYLE, TEXTAREA, MJX-CONTAINER, MJX-ASSISTIVE-MML';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const found = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement.closest(skip)) continue;
        const text = node.textContent;
        if (/\\$\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/.test(text)) found.push(text.trim().slice(0, 80));
    }
    return found;
}"""


@pytest.mark.parametrize("page_name", PAGES)
def test_page_loads_offline_and_renders(page_name, visit, site, shots):
    html_dir = site[1]
    page = visit.open(f"{page_name}.html")
    math = page.evaluate(_TYPESET)
    images = page.evaluate(_IMAGES)
    page.wait_for_timeout(200)          # let late console messages arrive
    page.screenshot(path=str(shots / f"{page_name.replace('/', '__')}.png"))

    assert not visit.problems, "\n".join(visit.problems)
    assert not images["broken"], f"images that did not load: {images['broken']}"
    assert math["typeset"] == math["formulas"], math
    if page_name.startswith("chapters/"):
        assert math["mathjax"] and math["rendered"] > 0, math   # chapters have formulas
        assert images["count"] > 0
    raw = page.evaluate(_RAW_TEX)
    assert not raw, f"untypeset TeX left on the page: {raw[:5]}"

    # every internal link points at a page or file of the site
    links = page.eval_on_selector_all("a.reference.internal[href]", "els => els.map(e => e.href)")
    for href in links:
        target = urlsplit(href).path.lstrip("/")
        assert (html_dir / target).exists(), f"broken link {href}"


@pytest.mark.parametrize("page_name", [p for p in PAGES if (REPO / f"{p}.ipynb").is_file()])
def test_notebook_page_launches_colab_and_offers_the_ipynb(page_name, visit):
    repo = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["repository"]
    org, name = repo["url"].rstrip("/").split("/")[-2:]
    book = f"{repo['path_to_book'].strip('/')}/" if repo.get("path_to_book") else ""
    colab = f"https://colab.research.google.com/github/{org}/{name}/blob/{repo['branch']}/{book}"
    page = visit.open(f"{page_name}.html")
    hrefs = page.eval_on_selector_all(".dropdown-launch-buttons a[href]", "els => els.map(e => e.href)")
    expected = f"{colab}{page_name}.ipynb"
    assert expected in hrefs, f"Colab link should be {expected}, the page has {hrefs}"
    assert expected == _colab_cell().colab_url(_colab_cell().repository(), f"{page_name}.ipynb")
    if page_name.startswith("exercises/solutions/"):        # and the student notebook
        student = f"{colab}exercises/{Path(page_name).name}.ipynb"
        assert student in hrefs, hrefs

    downloads = page.eval_on_selector_all(".dropdown-download-buttons a[href$='.ipynb']",
                                          "els => els.map(e => e.href)")
    assert len(downloads) == 1, downloads
    response = page.request.get(downloads[0])
    assert response.ok
    nb = json.loads(response.text())
    assert "colab-setup" in nb["cells"][0]["metadata"]["tags"]      # the notebook Colab opens
    assert not visit.problems, "\n".join(visit.problems)


def test_launch_menu_screenshot(visit, shots):
    """Chapter 1 with its launch menu open: the Colab button a reader sees."""
    page = visit.open("chapters/01_convolution.html")
    page.click(".dropdown-launch-buttons button.dropdown-toggle")
    colab = page.locator(".dropdown-launch-buttons a", has_text="Colab")
    colab.first.wait_for(state="visible")
    page.screenshot(path=str(shots / "chapters__01_convolution__launch.png"))
    assert not visit.problems, "\n".join(visit.problems)


@pytest.mark.parametrize("query, page_name", [
    ("stride", "chapters/01_convolution"),      # the convolution chapter ...
    ("stride", "chapters/02_stride_and_padding"),
    ("padding", "chapters/02_stride_and_padding"),
])
def test_search_finds_the_chapter(query, page_name, visit, shots):
    page = visit.open(f"search.html?q={query}")
    page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
    page.wait_for_function("() => /Search finished|found/.test("
                           "(document.querySelector('#search-results .search-summary') || {}).textContent || '')",
                           timeout=30_000)
    hrefs = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    assert any(urlsplit(h).path.endswith(f"/{page_name}.html") for h in hrefs), hrefs
    page.screenshot(path=str(shots / f"search__{query}.png"))
    assert not visit.problems, "\n".join(visit.problems)


def test_search_box(visit):
    """The search box of any page (Ctrl+K) leads to the results for what was typed."""
    page = visit.open("chapters/03_pooling.html")
    page.keyboard.press("Control+k")
    box = page.locator("#pst-search-dialog input[name='q']")
    box.wait_for(state="visible")
    box.fill("padding")
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=padding"))
    page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
    hrefs = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    assert any("chapters/02_stride_and_padding.html" in h for h in hrefs), hrefs
    assert not visit.problems, "\n".join(visit.problems)
