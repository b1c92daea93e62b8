"""The hint policy of ``cnn_helpers.grading.checks``, for every number task of every exercise.

A check's message may say which way a number is off and which slip it looks like, but it
must never narrow the answer down to one value. For each number task this file tries the
answer plus and minus 1 and 2, twice and half of it (one entry at a time for tuples), and
asserts that no message

* contains the true answer (unless the student gave that very number, or the task's
  statement does),
* uses a phrase that measures the gap ("off by", "less than 5%", "slightly", "2 too few",
  "by a whole factor", "far too"),
* contains any other number that, with the student's value, gives the answer by one
  addition, subtraction, multiplication or division. Numbers the student already has are
  allowed: those of the task's statement in the solution notebook, the student's own
  values, and the formula constants 0, 1 and 2 (the 1 of "F - 1", the 2 of "2P").

A pass says "correct" (or the like) without any number: the book shows the checks' output.
"""

from __future__ import annotations

import math
import re
from typing import Any

import nbformat
import pytest

from cnn_helpers import grading

from conftest import REPO

SOLUTIONS = REPO / "exercises" / "solutions"

#: The answer of every task whose answer is a number or a tuple of numbers.
ANSWERS: dict[str, dict[str, Any]] = {
    "01_convolution": {"1.1": 28, "1.2": 1168},
    "02_stride_and_padding": {"2.1": 31, "2.2": (1, 2), "2.6": 17},
    "03_pooling": {"3.1": (6, 6, 32), "3.2": 307_840, "3.4": 20},
    "04_beyond_2d": {"4.1": (279_296, 43_515_904), "4.5": (14, 30, 30, 8),
                     "4.6": 339_738_624 / 43_515_904, "4.7": 34_176},
    "05_anatomy": {"5.3": 121_930},
    "07_mnist": {"7.1": 2700},
    "08_cifar10": {"8.2": (512, 4_194_816)},
    "09_many_devices": {"9.4": (128, 1.6, 1500),
                        "9.5": 1.6 / (1.6 / 64 + 2 * 63 / 64 * 400 / 10_000)},
}
#: Value tasks whose answer is not a number (histories, arrays, dicts, letters).
NOT_NUMBERS = {"1.6", "1.7", "1.8", "2.4", "2.7", "2.8", "3.6", "3.7", "3.8", "4.8", "5.6", "5.9", "5.10", "6.1", "6.6", "6.9", "6.10", "7.5", "7.6", "7.8", "7.9", "8.5", "8.8", "8.9", "9.6", "9.7", "9.8"}

CASES = [(name, task, answer) for name, tasks in ANSWERS.items()
         for task, answer in tasks.items()]
GAP_WORDS = re.compile(r"off by|less than \d|\d\s*%|slightly|\d+ too (?:few|many)|"
                       r"too (?:few|many) by|whole factor|far too", re.I)
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` ("1,168", "3x3" gives 3 and 3, "2P" gives 2)."""
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def statement_numbers(name: str, task_id: str) -> set[float]:
    """The numbers of the task's statement: the cells of the solution notebook from the
    task's heading to its first cell (the heading line itself left out)."""
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    tag = f"task-{task_id}"
    start = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "markdown" and f"## Task {task_id}:" in c.source)
    end = next(i for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", []))
    text = "\n".join(c.source for c in nb.cells[start:end])
    text = re.sub(rf"## Task {re.escape(task_id)}:[^\n]*", "", text)
    return set(numbers_in(text))


def wrong_answers(answer: Any) -> list[Any]:
    """The answer with one entry at a time plus or minus 1 and 2, doubled and halved."""
    entries = list(answer) if isinstance(answer, tuple) else [answer]
    wrong = []
    for i, a in enumerate(entries):
        for w in (a + 1, a - 1, a + 2, a - 2, a * 2, a / 2):
            if not _same(w, a):
                changed = entries[:i] + [w] + entries[i + 1:]
                wrong.append(tuple(changed) if isinstance(answer, tuple) else w)
    return wrong


def pinning_numbers(message: str, answer: Any, wrong: Any, allowed: set[float]) -> list[str]:
    """What in ``message`` gives away an entry of ``answer`` that ``wrong`` misses."""
    answers = list(answer) if isinstance(answer, tuple) else [answer]
    given = list(wrong) if isinstance(wrong, tuple) else [wrong]
    allowed = allowed | {0.0, 1.0, 2.0} | {float(g) for g in given}
    found = []
    for n in numbers_in(message):
        for a, g in zip(answers, given):
            if _same(a, g):
                continue                                  # the student has this one
            if _same(n, a) and not any(_same(n, x) for x in allowed):
                found.append(f"the answer {n:g} itself")
            elif not any(_same(n, x) for x in allowed):
                ways = {f"{g:g} + {n:g}": g + n, f"{g:g} - {n:g}": g - n,
                        f"{n:g} - {g:g}": n - g, f"{g:g} * {n:g}": g * n,
                        f"{g:g} / {n:g}": g / n if n else math.inf}
                found += [way for way, v in ways.items() if _same(v, a)]
    return found


def test_the_table_covers_every_number_task():
    value_tasks = {t.id for name in grading.EXERCISES
                   for t in grading.exercise(name).tasks if t.kind == "value"}
    assert {task for _, task, _ in CASES} == value_tasks - NOT_NUMBERS


@pytest.mark.parametrize("name, task_id, answer", CASES, ids=[c[1] for c in CASES])
def test_the_answer_passes_without_restating_it(name, task_id, answer):
    result = grading.exercise(name).result(task_id, answer)
    assert result.passed, result
    assert not re.search(r"\d", result.message), result.message


@pytest.mark.parametrize("name, task_id, answer", CASES, ids=[c[1] for c in CASES])
def test_no_miss_narrows_the_answer_down(name, task_id, answer):
    ex = grading.exercise(name)
    allowed = statement_numbers(name, task_id)
    for wrong in wrong_answers(answer):
        result = ex.result(task_id, wrong)
        message = result.message
        assert not result.passed, (wrong, message)
        assert not GAP_WORDS.search(message), (wrong, message)
        assert not pinning_numbers(message, answer, wrong, allowed), (
            wrong, message, pinning_numbers(message, answer, wrong, allowed))


def test_the_review_examples():
    """The three messages the student review quoted, as they read now."""
    ex1, ex2 = grading.exercise("01_convolution"), grading.exercise("02_stride_and_padding")
    assert ex1.result("1.1", 27).message.startswith("27 is too small")     # was "off by < 5%"
    assert ex1.result("1.2", 1168.5).message.startswith("1,168.5 is too large")  # not "1,168"
    zeros = ex2.result("2.2", (1, 1)).message                              # was "2, 1 too few"
    assert zeros.startswith("too few zeros in all") and not re.search(r"\d+ too", zeros)


def test_the_pinning_rule_can_fail():
    """The detector itself: the messages the review quoted would have been caught."""
    assert GAP_WORDS.search("your zeros add up to 2, 1 too few")
    assert GAP_WORDS.search("27 is slightly too small (off by less than 5%)")
    assert pinning_numbers("your zeros add up to 3", (1, 2), (1, 1), {32.0, 5.0}) == ["3 - 1"]
    assert pinning_numbers("the answer is 28", 28, 27, set()) == ["the answer 28 itself"]
    assert pinning_numbers("add 7 more", 35, 28, set()) == ["28 + 7"]
    assert pinning_numbers("add 7 more", 35, 28, {7.0}) == []      # 7 is in the statement
    assert pinning_numbers("3x3 filters", 31, 30, set()) == []      # no way to 31 from 3
