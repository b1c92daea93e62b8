"""Measure a chapter against the reader's budget (GUIDE.md §6), as a student meets it.

What the book shows without a click is the *core path*; collapsed blocks (admonitions with
``:class: dropdown``, ``{dropdown}`` directives) and hidden cells are not. For each notebook:

- ``prose``: words of the markdown cells outside collapsed blocks (≤ 4,000);
- ``code``: non-blank lines of code cells whose input the book shows (≤ 350);
- ``output``: lines of text output (prints, logs, text results) the book shows (≤ 150);
- ``deeper``: words inside "Going deeper" blocks (≤ 1,500);
- ``pitfalls``: "Common pitfall" boxes (≤ 2); ``corrections``: boxes about a source's slip
  (0: those belong on the appendix page, "Notes on the source documents");
- ``questions``: self-check questions (``{dropdown}`` directives; ≥ 5);
- ``minutes``: the study time stated at the top (``*About NN minutes.``; ≤ 60), and
  ``unbacked``: numbers in self-check answers that no cell of the notebook prints.

    .venv/bin/python scripts/budget.py chapters/01_convolution.ipynb [more ...]

Exit status 1 when a notebook is over its budget.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

LIMITS = {"prose": 4000, "code": 350, "output": 150, "deeper": 1500, "pitfalls": 2,
          "corrections": 0, "minutes": 60}
MIN_QUESTIONS = 5

HIDDEN_INPUT = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
HIDDEN_OUTPUT = {"hide-output", "hide-cell", "remove-output", "remove-cell"}

_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(\{[\w-]+\})?\s*(.*)$")
_STUDY_TIME = re.compile(r"\*?About (\d+) minutes", re.IGNORECASE)
_CORRECTION = re.compile(r"^(Correction|A dated remark|Erratum)\b", re.IGNORECASE)
# A number as prose writes it: 1,024 / 0.25 / 31 / 3.05 (a leading minus is kept apart).
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.,×/-]*")


@dataclass
class Block:
    """One fenced directive of a markdown cell: its name, title, options and body."""

    directive: str
    title: str
    options: dict[str, str]
    body: str


@dataclass
class Budget:
    path: str
    prose: int = 0
    code: int = 0
    output: int = 0
    deeper: int = 0
    pitfalls: int = 0
    corrections: int = 0
    questions: int = 0
    minutes: int | None = None
    unbacked: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        for key in ("prose", "code", "output", "deeper", "pitfalls", "corrections"):
            if getattr(self, key) > LIMITS[key]:
                out.append(f"{key} {getattr(self, key)} > {LIMITS[key]}")
        if self.questions < MIN_QUESTIONS:
            out.append(f"{self.questions} self-check questions < {MIN_QUESTIONS}")
        if self.minutes is None:
            out.append("no study time stated at the top ('*About NN minutes.*')")
        elif self.minutes > LIMITS["minutes"]:
            out.append(f"study time {self.minutes} min > {LIMITS['minutes']}")
        if self.unbacked:
            out.append("numbers in self-check answers that no cell prints: " + ", ".join(self.unbacked))
        return out


def words(text: str) -> int:
    """Words a reader reads: MyST roles, link targets, labels and math markup dropped."""
    text = re.sub(r"^\(.*\)=\s*$", "", text, flags=re.M)                 # (label)=
    text = re.sub(r"\{[\w:-]+\}`([^`<]*)(?:<[^`]*>)?`", r"\1", text)      # {ref}`text <target>`
    text = re.sub(r"\]\([^)]*\)", "]", text)                              # [text](url)
    text = re.sub(r"^\s*:[\w-]+:.*$", "", text, flags=re.M)               # directive options
    text = re.sub(r"\$\$.*?\$\$", " formula ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " x ", text)
    return len(_WORD.findall(text))


def split_blocks(markdown: str) -> tuple[str, list[Block]]:
    """The text outside top-level fenced directives, and those directives.

    Fences nest (a ``:::`` block may hold a ```` ``` ```` block and vice versa); a fence
    closes at the next line of the same fence characters, at least as long.
    """
    outside: list[str] = []
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or not m.group(3):
            outside.append(lines[i])
            i += 1
            continue
        fence, directive, title = m.group(2), m.group(3)[1:-1], m.group(4).strip()
        depth, j, body = 1, i + 1, []
        while j < len(lines):
            inner = _FENCE.match(lines[j])
            if inner and inner.group(2)[0] == fence[0] and len(inner.group(2)) >= len(fence):
                if inner.group(3):
                    depth += 1
                elif not inner.group(4).strip():
                    depth -= 1
                    if depth == 0:
                        break
            body.append(lines[j])
            j += 1
        options = {}
        while body and re.match(r"^\s*:[\w-]+:", body[0]):
            key, _, value = body.pop(0).strip()[1:].partition(":")
            options[key] = value.strip()
        blocks.append(Block(directive, title, options, "\n".join(body)))
        i = j + 1
    return "\n".join(outside), blocks


def _collapsed(block: Block) -> bool:
    return block.directive == "dropdown" or "dropdown" in block.options.get("class", "").split()


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data and not ({"text/html", "image/png", "image/svg+xml"} & set(data)):
                parts.append(data["text/plain"])
        elif out.output_type == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p)


def measure(path: str | Path) -> Budget:
    nb = nbformat.read(str(path), as_version=4)
    b = Budget(str(path))
    printed = []
    answers: list[tuple[str, str]] = []
    for index, cell in enumerate(nb.cells):
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            if index == 1 or b.minutes is None and index < 3:
                m = _STUDY_TIME.search(cell.source)
                if m:
                    b.minutes = int(m.group(1))
            text, blocks = split_blocks(cell.source)
            b.prose += words(text)
            for block in blocks:
                if block.directive == "dropdown":
                    b.questions += 1
                    answers.append((block.title, block.body))
                elif _collapsed(block):
                    if block.title.lower().startswith("going deeper"):
                        b.deeper += words(block.body) + words(block.title)
                else:
                    if block.title.lower().startswith("common pitfall"):
                        b.pitfalls += 1
                    elif _CORRECTION.match(block.title):
                        b.corrections += 1
                    b.prose += words(block.title) + words(split_blocks(block.body)[0])
        elif cell.cell_type == "code":
            text = _output_text(cell)
            printed.append(text)
            if not tags & HIDDEN_INPUT:
                b.code += sum(1 for line in cell.source.splitlines() if line.strip())
            if not tags & HIDDEN_OUTPUT:
                b.output += sum(1 for line in text.splitlines() if line.strip())
    everything = "\n".join(printed)
    printed_numbers = {n.replace(",", "") for n in _NUMBER.findall(everything)}
    for question, answer in answers:
        given = {n.replace(",", "") for n in _NUMBER.findall(question)}
        for number in _NUMBER.findall(answer):
            plain = number.replace(",", "")
            if plain in given or plain in printed_numbers or _trivial(plain):
                continue
            b.unbacked.append(f"{number!r} (in {question[:40]!r})")
    return b


def _trivial(number: str) -> bool:
    """Small whole numbers (0-9) are counts and names ("2 filters", "layer 3"), not results."""
    return number.isdigit() and int(number) < 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = False
    print(f"{'notebook':40} {'min':>4} {'prose':>6} {'code':>5} {'output':>6} {'deeper':>6} "
          f"{'pitfalls':>8} {'corr.':>5} {'questions':>9}")
    for path in args.notebooks:
        b = measure(path)
        print(f"{path.name:40} {b.minutes if b.minutes is not None else '-':>4} {b.prose:>6} {b.code:>5} "
              f"{b.output:>6} {b.deeper:>6} {b.pitfalls:>8} {b.corrections:>5} {b.questions:>9}")
        for problem in b.problems():
            failed = True
            print(f"    OVER: {problem}")
    print(f"limits: prose ≤ {LIMITS['prose']}, code ≤ {LIMITS['code']}, output ≤ {LIMITS['output']}, "
          f"deeper ≤ {LIMITS['deeper']}, pitfalls ≤ {LIMITS['pitfalls']}, corrections 0, "
          f"questions ≥ {MIN_QUESTIONS}, minutes ≤ {LIMITS['minutes']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
