"""Print the built book (``_build/html``) to one PDF, offline.

Every page of ``_toc.yml`` is opened, in order, in a headless Chromium (Debian's
``chromium``, or the browser named by ``$CHROMIUM``; Playwright drives it and never downloads
one) from a server on 127.0.0.1, with every figure loaded and every formula typeset by the
book's own MathJax, and printed with the theme's print style (no sidebars or buttons). The
pages are joined with pypdf into one file with a bookmark per page. Exercise pages keep their
tasks, starter code and check calls; the solution cells and all outputs (the checks'
messages confirm the answers) are left out, so the PDF can be handed to students.

    bash scripts/book.sh pdf                      # builds the HTML first, then this
    .venv/bin/python scripts/book_pdf.py [--html _build/html] [--output _build/pdf/cnn-book.pdf]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]

# Wait until MathJax has typeset the page and every image has loaded (the theme loads
# images lazily, which print would leave blank). The browser tests wait the same way.
READY = """async () => {
    document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; });
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    await Promise.all(Array.from(document.images).map(img => img.complete ? null :
        new Promise(done => { img.addEventListener('load', done);
                              img.addEventListener('error', done);
                              setTimeout(done, 20000); })));
    await document.fonts.ready;
}"""

# Print-only style: no "show/hide" buttons and no code the page hides (a figure's drawing
# code), figures kept whole.
_PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
details.hide.above-input, details.hide.below-input, button.toggle-button { display: none !important; }
figure, img, .cell_output .text_html pre { break-inside: avoid; }
.bd-article-container, .bd-main .bd-content { max-width: 100% !important; }
.bd-article section > * { max-width: none !important; }
div.cell_output pre, div.highlight pre { white-space: pre-wrap !important; }
"""
# On exercise pages, for a PDF that can be handed to students: no solution cells (tagged
# hide-cell, once hide-input), and no outputs (the checks' messages confirm the answers).
_EXERCISE_CSS = """
div.cell.tag_hide-cell, div.cell.tag_hide-input, div.cell_output { display: none !important; }
"""


def toc_pages() -> list[tuple[str, str]]:
    """``(docname, caption)`` of every page in ``_toc.yml`` order, the root first."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    pages = [(toc["root"], "")]
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            pages.append((entry["file"], part.get("caption", "")))
    return pages


def chromium() -> str:
    """The Chromium to print with: ``$CHROMIUM``, else ``chromium`` on the PATH."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not Path(path).exists():
        sys.exit("book_pdf: no Chromium found. Install one (Debian/Ubuntu: "
                 "sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium.")
    return path


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def print_pages(html: Path, workdir: Path) -> list[tuple[str, Path]]:
    """Print each page of the table of contents to its own PDF; ``(title, file)`` each."""
    from playwright.sync_api import sync_playwright

    printed = []
    with serve(html) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True)
        context = browser.new_context(viewport={"width": 1000, "height": 1400})
        # offline: nothing but the local server may be asked for anything
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith((base, "data:", "blob:", "about:"))
                      else route.abort())
        page = context.new_page()
        for i, (docname, _) in enumerate(toc_pages()):
            if not (html / f"{docname}.html").is_file():
                sys.exit(f"book_pdf: {docname}.html is not in {html}: build the book first "
                         "(bash scripts/book.sh)")
            t0 = time.perf_counter()
            page.goto(f"{base}/{docname}.html", wait_until="load")
            page.add_style_tag(content=_PRINT_CSS)
            if docname.startswith("exercises/"):
                page.add_style_tag(content=_EXERCISE_CSS)
            page.emulate_media(media="print")
            page.evaluate(READY)
            title = page.eval_on_selector("article h1", "h => h.textContent")
            title = title.replace("#", "").strip()
            out = workdir / f"{i:02d}.pdf"
            page.pdf(path=str(out), format="A4", print_background=True,
                     display_header_footer=True, header_template="<span></span>",
                     footer_template=(
                         '<div style="width:100%;font-size:8px;color:#555;text-align:center">'
                         f'{_escape(title)} &middot; <span class="pageNumber"></span></div>'),
                     margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
            printed.append((title, out))
            print(f"book_pdf: {docname}: {time.perf_counter() - t0:.1f} s", flush=True)
        browser.close()
    return printed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def join(printed: list[tuple[str, Path]], output: Path) -> int:
    """One PDF with a bookmark per page; returns its number of pages."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for title, path in printed:
        start = len(writer.pages)
        writer.append(PdfReader(str(path)))
        writer.add_outline_item(title=title, page_number=start)
    writer.add_metadata({"/Title": "Convolutional Neural Networks: an executable book",
                         "/Author": "The CNN book team"})
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as fh:
        writer.write(fh)
    return len(writer.pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--output", type=Path, default=REPO / "_build" / "pdf" / "cnn-book.pdf")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnn-book-pdf-") as tmp:
        printed = print_pages(args.html.resolve(), Path(tmp))
        pages = join(printed, args.output)
    size = args.output.stat().st_size / 1e6
    print(f"book_pdf: {args.output} ({pages} pages, {size:.1f} MB) in "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
