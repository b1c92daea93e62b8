"""List the figures of notebooks as the book will show them, and check them.

For every image a notebook's outputs hold: the cell, its caption and alt text (cell
metadata ``mystnb.figure.caption`` / ``mystnb.image.alt``), the size the page shows it at
(CSS pixels, from the output's metadata), and the smallest font it uses, as
``cnn_helpers.plotting.figure_png`` recorded it in the PNG. A figure fails when it is wider
than the column, its text is smaller than ``plotting.MIN_FONT_PT``, or it has no caption or
no alt text of its own::

    .venv/bin/python scripts/figures.py chapters/01_convolution.ipynb
    .venv/bin/python scripts/figures.py --extract /tmp/figs chapters/*.ipynb   # PNGs to look at

Exit status 1 if any figure fails. Works on committed notebooks and on executed copies.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from PIL import Image

from cnn_helpers import plotting


@dataclass
class Figure:
    notebook: str
    cell: int
    index: int              # image number within the cell
    caption: str
    alt: str
    shown_width: int        # CSS px the page shows it at (before the column scales it)
    min_font_pt: float | None
    dpi: int | None
    png: bytes

    def problems(self) -> list[str]:
        found = []
        column = plotting.COLUMN_WIDTH * plotting.PX_PER_INCH
        if self.min_font_pt is None:
            found.append("not drawn with the book's style (no font record in the PNG)")
        elif self.min_font_pt < plotting.MIN_FONT_PT - 1e-6:
            found.append(f"text of {self.min_font_pt:g} pt (at least {plotting.MIN_FONT_PT:g})")
        if self.shown_width > column * 1.02:
            found.append(f"{self.shown_width} px wide (the column shows {column:.0f} unscaled)")
        if not self.caption:
            found.append("no caption")
        if not self.alt:
            found.append("no alt text")
        elif self.alt.strip() == self.caption.strip():
            found.append("the alt text repeats the caption")
        return found


def figures(path: Path) -> list[Figure]:
    """Every image output of the notebook at ``path``."""
    nb = nbformat.read(str(path), as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("mystnb", {})
        caption = str(meta.get("figure", {}).get("caption", ""))
        alt = str(meta.get("image", {}).get("alt", ""))
        k = 0
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            png = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(png))
            width = output.get("metadata", {}).get("image/png", {}).get("width", image.width)
            info = image.info
            font = info.get(plotting.PNG_FONT_KEY)
            dpi = info.get(plotting.PNG_DPI_KEY)
            found.append(Figure(
                notebook=str(path), cell=i, index=k, caption=caption, alt=alt,
                shown_width=int(width),
                min_font_pt=None if font in (None, "none") else float(font),
                dpi=int(dpi) if dpi else None, png=png))
            k += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--extract", type=Path, metavar="DIR",
                        help="also write each figure as DIR/<notebook>__cell<N>[_<k>].png")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        for fig in figures(path):
            problems = fig.problems()
            failed += bool(problems)
            font = "?" if fig.min_font_pt is None else f"{fig.min_font_pt:g} pt"
            status = "ok" if not problems else "FAIL: " + "; ".join(problems)
            print(f"{path.name} cell {fig.cell}{f'.{fig.index}' if fig.index else ''}: "
                  f"{fig.shown_width} px, smallest text {font} - {status}")
            if args.extract:
                args.extract.mkdir(parents=True, exist_ok=True)
                suffix = f"_{fig.index}" if fig.index else ""
                (args.extract / f"{path.stem}__cell{fig.cell}{suffix}.png").write_bytes(fig.png)
    print(f"{failed} figure(s) with problems" if failed else "every figure is fine")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
