"""What the browser tests share: the pages of the book, a visit that records problems.

The fixtures that build and serve the book and start Chromium are in ``conftest.py``
(session-wide, so that the book is built and the browser started once for every module).
"""

from __future__ import annotations

import os
import re
import shutil
from urllib.parse import urlsplit

import yaml

from conftest import REPO, load_script

# A page as a reader finally sees it: every image loaded, every formula typeset.
READY = load_script("book_pdf").READY

SCREENSHOTS = REPO / "_build" / "screenshots"
# Debian's Chromium (scripts/setup.sh installs it), or the browser named by $CHROMIUM.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


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


PAGES = toc_pages()
# The numbered chapters (not the appendix page of notes on the sources, also in chapters/).
CHAPTERS = [p for p in PAGES if re.match(r"chapters/\d", p)]


class Visit:
    """A page opened in a fresh browser context that records every problem."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 900):
        self.base = base
        self.problems: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": height})
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
