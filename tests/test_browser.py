"""The built book in a real browser: Debian's Chromium, headless, driven by Playwright.

The site is built (``jupyter-book build``, warnings as errors) into ``_build/html`` and
served by ``http.server`` on 127.0.0.1. Every page of ``_toc.yml`` must load without console
errors or failed requests, with every image decoded and every formula typeset by the local
MathJax; any request that leaves 127.0.0.1 is blocked and fails the test (the book must work
offline). A screenshot of each page goes to ``_build/screenshots/`` (kept by CI as an
artifact), plus one of chapter 1 with its launch menu open.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from browser_support import PAGES
from conftest import REPO, load_script

pytestmark = pytest.mark.browser


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
    colab_cell = load_script("colab_cell")
    assert expected == colab_cell.colab_url(colab_cell.repository(), f"{page_name}.ipynb")
    if page_name.startswith("exercises/solutions/"):        # and the student notebook
        student = f"{colab}exercises/{Path(page_name).name}.ipynb"
        assert student in hrefs, hrefs

    downloads = page.eval_on_selector_all(".dropdown-download-buttons a[href$='.ipynb']",
                                          "els => els.map(e => e.href)")
    exercise = page_name.startswith("exercises/solutions/")
    assert len(downloads) == (2 if exercise else 1), downloads
    for href in downloads:
        response = page.request.get(href)
        assert response.ok, href
        nb = json.loads(response.text())
        assert "colab-setup" in nb["cells"][0]["metadata"]["tags"]      # the notebook Colab opens
    if exercise:      # the student's notebook, without the solutions, is offered first
        student = json.loads(page.request.get(downloads[0]).text())
        repo_copy = json.loads((REPO / "exercises" / f"{Path(page_name).name}.ipynb").read_text(
            encoding="utf-8"))
        assert student == repo_copy
        assert "### BEGIN SOLUTION" not in json.dumps(student)
        assert "### BEGIN SOLUTION" in json.dumps(json.loads(page.request.get(downloads[1]).text()))
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


# Chapters 1-7 are written to the reader's budget (GUIDE.md §6): each has self-check
# questions, and those about what slides, strides or flows (convolution, padding, pooling,
# the transposed convolution, an optimizer's path) have animations. Chapter 8 follows when
# it is re-run on a GPU.
INTERACTIVE = [p for p in PAGES if re.match(r"chapters/0[1-79]_", p)]
ANIMATED = [p for p in PAGES if re.match(r"chapters/0[1-59]_", p)]


@pytest.mark.parametrize("page_name", INTERACTIVE)
def test_animations_play_and_answers_open_on_a_click(page_name, visit, shots):
    """Every animation of the page plays offline (Play advances the frames, the step
    buttons and the slider move them); every self-check answer and every Going-deeper
    block is folded until clicked, then shows."""
    page = visit.open(f"{page_name}.html")
    players = page.locator(".cnn-anim")
    if page_name in ANIMATED:
        assert players.count() >= 1, "no animation on the page"
    for i in range(players.count()):
        player = players.nth(i)
        player.scroll_into_view_if_needed()
        assert player.get_attribute("data-frame") == "0", "an animation starts on its first frame"
        image = player.locator("img")
        first = image.get_attribute("src")
        player.locator("[data-act=play]").click()
        page.wait_for_function("el => parseInt(el.dataset.frame, 10) >= 1", arg=player.element_handle(),
                               timeout=10_000)
        player.locator("[data-act=play]").click()                     # pause
        assert image.get_attribute("src") != first
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        frames = int(player.locator("input[type=range]").get_attribute("max")) + 1
        player.locator("input[type=range]").fill(str(frames - 1))     # the slider: last frame
        assert player.get_attribute("data-frame") == str(frames - 1)
        player.locator("[data-act=prev]").click()
        assert player.get_attribute("data-frame") == str(frames - 2)
        assert image.get_attribute("alt").startswith("Animation:")
    if page_name.endswith("02_stride_and_padding"):
        players.first.scroll_into_view_if_needed()
        players.first.screenshot(path=str(shots / "animation__02_stride_and_padding.png"))

    questions = page.locator("details.sd-dropdown")
    assert questions.count() >= 5, "fewer than five self-check questions"
    for i in range(questions.count()):
        question = questions.nth(i)
        assert question.get_attribute("open") is None, "an answer shows before it is clicked"
        question.locator("summary").click()
        assert question.get_attribute("open") is not None
        assert question.locator(".sd-summary-content").is_visible()
    deeper = page.locator(".admonition.dropdown", has_text="Going deeper")
    for i in range(deeper.count()):
        block = deeper.nth(i)
        body = block.locator(":scope > :not(.admonition-title)").first
        assert not body.is_visible(), "a Going-deeper block is open before it is clicked"
        block.locator(".admonition-title").click()
        body.wait_for(state="visible", timeout=5_000)
    assert not visit.problems, "\n".join(visit.problems)
