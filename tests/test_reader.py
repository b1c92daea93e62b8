"""What a reader sees, at the widths people read on: a phone (390 px), a tablet or a narrow
window (900), a laptop (1366) and a desktop (1920).

On the built book in headless Chromium (fixtures in ``conftest.py``):

- the sidebar and page-contents toggles open and close at every width;
- no page scrolls sideways; a table either fits or sits in its own horizontal scroller;
  printed outputs wrap (only Keras' box-drawn summaries scroll); nothing sticks out of the
  text column unless it is inside a scroller;
- prose lines are 60-80 characters long at desktop widths;
- figure text shows at 11 CSS px or more at 1366 px (each PNG records its smallest font,
  ``cnn_helpers.plotting.figure_png``), and every figure has alt text of its own;
- no serious or critical accessibility violation (axe-core) on any page;
- nothing about the machines that executed the chapters is in their text.

Screenshots of chapters 2 and 7 at each width go to ``_build/screenshots/``.
"""

from __future__ import annotations

import base64
import io
import re
import statistics
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from browser_support import CHAPTERS, PAGES, READY, Visit
from conftest import owes_rerun

pytestmark = pytest.mark.browser

WIDTHS = (390, 900, 1366, 1920)
DESKTOP = (1366, 1920)
NARROW = (390, 900)          # below the theme's 992 px breakpoint: sidebars open as dialogs
SHOWN = ("chapters/02_stride_and_padding", "chapters/07_mnist")
MIN_FIGURE_TEXT_PX = 11.0

# Everything in the article that a reader could lose at the right edge: the page itself
# scrolling sideways; a table wider than its box with no scroller; a printed output that
# does not wrap (or, for HTML outputs, that neither fits nor scrolls); any element that
# sticks out of the text column outside a scroller.
_LAYOUT = """() => {
    const problems = [];
    const vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw + 1) {
        problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px in ${vw}`);
    }
    const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    const label = el => (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
    for (const table of document.querySelectorAll('article.bd-article table')) {
        const box = table.parentElement;
        if (table.getBoundingClientRect().width > box.clientWidth + 1 && !scrolls(box)) {
            problems.push(`table cut off at the right: "${label(table)}"`);
        }
    }
    for (const pre of document.querySelectorAll('article.bd-article .cell_output pre')) {
        if (pre.scrollWidth <= pre.clientWidth + 1) continue;
        const html = pre.closest('.text_html');
        if (!html) problems.push(`output line does not wrap: "${label(pre)}"`);
        else if (!scrolls(pre)) problems.push(`output cut off at the right: "${label(pre)}"`);
    }
    // Anything else sticking out of the column: walk the article, but not into a
    // subtree that scrolls (code, tables, formulas) or is hidden for screen readers.
    const article = document.querySelector('article.bd-article');
    if (article) {
        const right = article.getBoundingClientRect().right;
        const walker = document.createTreeWalker(article, NodeFilter.SHOW_ELEMENT, {
            acceptNode: el => (el.tagName === 'MJX-ASSISTIVE-MML' || scrolls(el))
                ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
        for (let el = walker.nextNode(); el; el = walker.nextNode()) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > right + 2) {
                problems.push(`${el.tagName.toLowerCase()} sticks out of the column by ` +
                              `${Math.round(r.right - right)} px: "${label(el)}"`);
                break;
            }
        }
    }
    return problems;
}"""

# Characters on each full line (the last line of a paragraph does not count) of the prose
# paragraphs with at least three lines and no formula.
_LINE_LENGTHS = """() => {
    const lengths = [];
    let sampled = 0;
    for (const p of document.querySelectorAll('article.bd-article section > p')) {
        if (p.querySelector('mjx-container') || sampled >= 15) continue;
        const lineHeight = parseFloat(getComputedStyle(p).lineHeight) || 24;
        if (p.getBoundingClientRect().height < 2.5 * lineHeight) continue;
        sampled += 1;
        const lines = new Map();
        const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            for (let i = 0; i < n.length; i++) {
                const range = document.createRange();
                range.setStart(n, i); range.setEnd(n, i + 1);
                const rect = range.getClientRects()[0];
                if (!rect) continue;
                const top = Math.round(rect.top / 4);
                lines.set(top, (lines.get(top) || 0) + 1);
            }
        }
        const counts = [...lines.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1]);
        if (counts.length >= 3) lengths.push(...counts.slice(0, -1));
    }
    return lengths;
}"""

_FIGURES = """() => Array.from(document.querySelectorAll('article.bd-article .cell_output img')).map(
    img => ({src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
             shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
             shownHeight: img.getBoundingClientRect().height, naturalHeight: img.naturalHeight,
             caption: ((img.closest('figure') || {}).querySelector ?
                       (img.closest('figure').querySelector('.caption-text') || {}).textContent || ''
                       : '')}))"""


def _open(browser, site, page_name: str, width: int) -> Visit:
    visit = Visit(browser, site[0], width=width)
    page = visit.open(f"{page_name}.html")
    page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
    page.wait_for_load_state("networkidle")
    return visit


@pytest.fixture(scope="session")
def survey(browser, site, shots):
    """``survey(width)``: every page at that width, opened once (on first use, then kept for
    the session: a module-scoped cache is dropped whenever a worker switches to another
    test module between two tests of one width, and each width was surveyed twice):
    what is cut off, and on chapter pages the figures as shown and the prose line lengths;
    screenshots of chapters 2 and 7. The tests of one width share an xdist group, so that
    a parallel run surveys each width on one worker only."""
    found: dict[int, dict[str, dict]] = {}

    def at(width: int) -> dict[str, dict]:
        if width in found:
            return found[width]
        pages = {}
        visit = Visit(browser, site[0], width=width)
        try:
            for page_name in PAGES:
                page = visit.open(f"{page_name}.html")
                page.evaluate(READY)
                result = {"layout": page.evaluate(_LAYOUT)}
                if page_name in CHAPTERS:
                    result["figures"] = page.evaluate(_FIGURES)
                    if width in DESKTOP:
                        result["lines"] = page.evaluate(_LINE_LENGTHS)
                if page_name in SHOWN:
                    page.screenshot(path=str(shots / f"{page_name.replace('/', '__')}__{width}.png"))
                pages[page_name] = result
            # leaving a page cancels what it was still loading (its favicon): not a problem
            problems = [p for p in visit.problems if "net::ERR_ABORTED" not in p]
            assert not problems, "\n".join(problems)
        finally:
            visit.close()
        found[width] = pages
        return pages

    return at


def _by_width(widths):
    """Parametrize over ``widths``, each in the xdist group of its survey."""
    return pytest.mark.parametrize("width", [pytest.param(w, marks=pytest.mark.xdist_group(f"survey-{w}"))
                                             for w in widths])


@_by_width(WIDTHS)
def test_nothing_is_cut_off_at_the_right(width, survey):
    problems = [f"{page_name} at {width} px: {problem}" for page_name in PAGES
                for problem in survey(width)[page_name]["layout"]]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sidebars_open_and_close(width, browser, site):
    visit = _open(browser, site, "chapters/02_stride_and_padding", width)
    page = visit.page
    try:
        primary = page.locator("#pst-primary-sidebar")
        if width in NARROW:
            for toggle, dialog, link in (
                    (".primary-toggle", "#pst-primary-sidebar-modal", "3. Pooling"),
                    (".secondary-toggle", "#pst-secondary-sidebar-modal", "2.2 The output size")):
                button = page.locator(toggle).locator("visible=true")
                assert button.count() == 1, f"{toggle}: {button.count()} visible buttons"
                button.click()
                page.wait_for_function(f"document.querySelector('{dialog}').open")
                target = page.locator(dialog).get_by_role("link", name=link, exact=True)
                assert target.is_visible(), f"{link} is not shown in {dialog}"
                page.keyboard.press("Escape")
                page.wait_for_function(f"!document.querySelector('{dialog}').open")
        else:
            assert primary.is_visible()
            assert page.locator("#pst-secondary-sidebar").get_by_role(
                "link", name="2.2 The output size", exact=True).is_visible()
            toggle = page.locator(".primary-toggle").locator("visible=true")
            toggle.click()
            page.wait_for_timeout(400)
            assert not primary.is_visible(), "the collapse button did not hide the chapter list"
            page.locator(".primary-toggle").locator("visible=true").click()
            page.wait_for_timeout(400)
            assert primary.is_visible(), "the chapter list did not come back"
        assert not visit.problems, "\n".join(visit.problems)
    finally:
        visit.close()


@_by_width(DESKTOP)
def test_prose_lines_are_60_to_80_characters(width, survey):
    problems = []
    for page_name in CHAPTERS:
        lengths = survey(width)[page_name]["lines"]
        assert len(lengths) > 20, f"{page_name}: too few prose lines measured ({len(lengths)})"
        median = statistics.median(lengths)
        if not 60 <= median <= 80 or max(lengths) > 82:
            problems.append(f"{page_name} at {width} px: median {median} characters a line, "
                            f"longest {max(lengths)}")
    assert not problems, "\n".join(problems)


def _png_font(path: Path | bytes) -> tuple[float | None, int | None]:
    from cnn_helpers import plotting

    info = Image.open(io.BytesIO(path if isinstance(path, bytes) else path.read_bytes())).info
    font, dpi = info.get(plotting.PNG_FONT_KEY), info.get(plotting.PNG_DPI_KEY)
    return (None if font in (None, "none") else float(font)), (int(dpi) if dpi else None)


@_by_width(NARROW)
def test_figures_shrink_on_narrow_screens_without_distortion(width, survey):
    problems = []
    for page_name in CHAPTERS:
        for fig in survey(width)[page_name]["figures"]:
            if fig["shown"] > width:
                problems.append(f"{page_name}: {fig['src']} is {fig['shown']:.0f} px wide")
            ratio = (fig["shownHeight"] / fig["shown"]) / (fig["naturalHeight"] / fig["natural"])
            if abs(ratio - 1) > 0.02:
                problems.append(f"{page_name}: {fig['src'][-20:]} is distorted ({ratio:.2f})")
    assert not problems, "\n".join(problems)


@pytest.mark.xdist_group("survey-1366")
def test_figure_text_is_readable_and_every_figure_has_alt_text(site, survey):
    html = site[1]
    problems, measured = [], []
    for page_name in CHAPTERS:
        figures = survey(1366)[page_name]["figures"]
        assert figures, f"{page_name} shows no figure"
        old_rules = owes_rerun(page_name)
        for fig in figures:
            name = "animation" if fig["src"].startswith("data:") else Path(urlsplit(fig["src"]).path).name
            where = f"{page_name}: {fig['caption'][:50]!r} ({name[:12]})"
            if not fig["alt"].strip() or fig["alt"].endswith(".png"):
                problems.append(f"{where}: no alt text")
            elif fig["alt"].strip() == fig["caption"].strip():
                problems.append(f"{where}: the alt text only repeats the caption")
            if old_rules:
                continue
            if fig["src"].startswith("data:image/png;base64,"):    # an animation's frame
                font, dpi = _png_font(base64.b64decode(fig["src"].split(",", 1)[1]))
            else:
                path = (html / page_name).parent / unquote(urlsplit(fig["src"]).path)
                font, dpi = _png_font(path.resolve())
            if font is None or dpi is None:
                problems.append(f"{where}: not drawn with the book's figure style")
                continue
            px = font * dpi / 72 * fig["shown"] / fig["natural"]
            measured.append(px)
            if px < MIN_FIGURE_TEXT_PX:
                problems.append(f"{where}: smallest text shows at {px:.1f} px")
    if measured:
        print(f"figure text at 1366 px: smallest {min(measured):.1f} px, median "
              f"{statistics.median(measured):.1f} px over {len(measured)} figures")
    assert not problems, "\n".join(problems)


# Pages whose colour contrast and code cells axe checks: one of each kind. Every page has the
# same theme and the same markup for code, and the contrast rule, which measures every piece
# of text (thousands of coloured spans in code cells), is what makes an audit slow; every
# other rule runs on everything else of every page.
CONTRAST_PAGES = {PAGES[0], CHAPTERS[0], "exercises/solutions/01_convolution", "status"}


def test_no_serious_accessibility_violations(browser, site):
    """axe-core (bundled with axe-playwright-python) on every page at 1366 px."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    problems = []
    visit = Visit(browser, site[0], width=1366)
    try:
        for page_name in PAGES:
            page = visit.open(f"{page_name}.html")
            page.evaluate(READY)
            options, context = {"resultTypes": ["violations"]}, None
            if page_name not in CONTRAST_PAGES:    # and code, the same markup everywhere
                options["rules"] = {"color-contrast": {"enabled": False}}
                context = {"exclude": [["div.highlight"]]}
            result = axe.run(page, context=context, options=options)
            for violation in result.response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [n["target"] for n in violation["nodes"][:3]]
                    problems.append(f"{page_name}: {violation['impact']} {violation['id']} "
                                    f"({violation['help']}), {len(violation['nodes'])} "
                                    f"elements, e.g. {targets}")
    finally:
        visit.close()
    assert not problems, "\n".join(problems)


# What the execution of a chapter would leave in its text: the environment line of
# runtime.start(), the run report, phrases about "our" machines.
_MACHINE = re.compile(r"Keras \d+\.\d+\.\d+, backend \w+|Run report|this book is executed on|"
                      r"this book's machines|\bon CPU: |\bon GPU: ")
_BENCHMARK_RECORD = re.compile(r"benchmark run of [0-9: -]+UTC on (?:CPU|GPU): [^,\n]+")


def test_chapters_say_nothing_about_the_build_machines(site):
    html = site[1]
    problems = []
    for page_name in CHAPTERS:
        if owes_rerun(page_name):       # its printed outputs follow the old rules until re-run
            continue
        text = re.sub(r"<[^>]+>", " ", (html / f"{page_name}.html").read_text(encoding="utf-8"))
        # A benchmark's result names the device it was measured on (a time to accuracy means
        # nothing without it): that line is the benchmark's record, not the chapter's run.
        text = _BENCHMARK_RECORD.sub("benchmark run", text)
        for match in _MACHINE.finditer(text):
            problems.append(f"{page_name}: ...{text[max(0, match.start() - 40):match.end() + 40]}...")
    assert not problems, "\n".join(problems)


def test_sources_are_cited_by_name_and_linked(site):
    html = site[1]
    hashed = re.compile(r"\b00[0-4]_[0-9a-f]{16}\.txt\b")
    problems = []
    for page_name in PAGES:
        if page_name == "sources" or owes_rerun(page_name):
            continue
        text = (html / f"{page_name}.html").read_text(encoding="utf-8")
        if hashed.search(text):
            problems.append(f"{page_name}: {hashed.search(text).group(0)}")
    assert not problems, "a document's file name where its title belongs:\n" + "\n".join(problems)
    sources = (html / "sources.html").read_text(encoding="utf-8")
    assert len(set(hashed.findall(sources))) == 5        # each file name once, on its page
    chapter = (html / "chapters" / "02_stride_and_padding.html").read_text(encoding="utf-8")
    assert re.search(r'href="\.\./sources\.html#src-lecture-notes"', chapter)


def test_the_whole_book_prints_to_one_pdf(site, tmp_path):
    """``scripts/book_pdf.py`` (what ``bash scripts/book.sh pdf`` runs after the build) on
    the built site: every page's title in the text, the figures embedded, the formulas
    typeset (no TeX source left), no solution code."""
    import subprocess
    import sys
    import time

    from pypdf import PdfReader

    from conftest import REPO

    output = tmp_path / "cnn-book.pdf"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "book_pdf.py"), "--html",
                           str(site[1]), "--output", str(output)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"PDF printed in {time.perf_counter() - t0:.0f} s: {proc.stdout.splitlines()[-1]}")
    reader = PdfReader(str(output))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    html = site[1]
    for page_name in PAGES:
        title = re.search(r"<h1>(.*?)</h1>", (html / f"{page_name}.html").read_text(encoding="utf-8"),
                          re.S)
        assert title, page_name
        words = re.sub(r"<a class=\"headerlink\".*?</a>|<[^>]+>", "", title.group(1)).replace(
            "’", "'").split()
        assert " ".join(words[:3]) in flat.replace("’", "'"), f"{page_name}: {words} not in the PDF"
    assert [item.title for item in reader.outline][:2] == [
        "Convolutional Neural Networks: an executable book", "1. Convolution"]

    def images(resources, seen) -> int:
        found = 0
        for obj in ((resources or {}).get("/XObject") or {}).values():
            obj = obj.get_object()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.get("/Subtype") == "/Image":
                found += 1
            elif obj.get("/Subtype") == "/Form":
                found += images(obj.get("/Resources"), seen)
        return found

    seen: set[int] = set()
    embedded = sum(images(page.get("/Resources"), seen) for page in reader.pages)
    figures = sum(len(re.findall(r'<img[^>]+src="\.\./_images/',
                                 (html / f"{p}.html").read_text(encoding="utf-8"))) for p in CHAPTERS)
    assert embedded >= figures, f"{embedded} images in the PDF, the chapters show {figures}"
    assert not re.search(r"\\frac|\\begin\{|\\left|\$\$|\\\(", text), "TeX source in the PDF"
    assert "BEGIN SOLUTION" not in text and "[PASS]" not in text
