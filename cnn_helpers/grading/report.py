"""Reports for people: the instructor's score table and the student's feedback page.

Every string that can carry a submission's content (check messages quote the student's
values, notes quote errors raised by the student's code, file names come from students) is
passed through :func:`printable` first: control characters, ANSI escape sequences
(``\\x1b[31m`` arrives as the visible text ``\\x1b[31m``), invisible formatting characters
(right-to-left overrides) and very long lines are made harmless before they reach a
terminal, a CSV file or a Markdown page.

:func:`format_report` is the table ``cnn-grade`` prints; :func:`feedback_markdown` is the
page a student gets (``cnn-grade batch`` writes one per student). Both take a
:class:`~cnn_helpers.grading.runner.Report` or a :class:`SavedReport` read back from JSON.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, Sequence

from cnn_helpers.grading import ERROR, FAILED, NOT_ATTEMPTED, PASSED, Result

__all__ = ["GradedReport", "SavedReport", "feedback_markdown", "format_report", "printable",
           "report_from_dict"]

#: The longest line a submission's text may fill; the rest is cut with a count.
MAX_LINE = 400

# Unicode categories shown as escapes: controls, invisible format characters (bidi
# overrides, zero-width), line/paragraph separators, surrogates and private-use characters.
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}

STATUS_WORDS = {PASSED: "passed", FAILED: "not yet right", NOT_ATTEMPTED: "not attempted",
                ERROR: "error"}

_STATUS_EXPLAINED = {
    FAILED: "**not yet right**: your answer was checked and is not right yet; the message "
            "is a hint about what to look at (it never gives the answer)",
    NOT_ATTEMPTED: "**not attempted**: no answer was found (the placeholder `...` or "
                   "`NotImplementedError` is still there, or the variable is never set)",
    ERROR: "**error**: the task's code stopped with an error, ran longer than the time "
           "limit, or its answer could not be read; the message says which",
}


class GradedReport(Protocol):
    """What the report functions read: :class:`~cnn_helpers.grading.runner.Report` or
    :class:`SavedReport`."""

    submission: str
    exercise: str | None
    results: list[Result]
    instructor_results: list[Result]
    notes: list[str]
    seconds: float

    @property
    def score(self) -> float: ...

    @property
    def max_score(self) -> float: ...

    @property
    def all_passed(self) -> bool: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass
class SavedReport:
    """A report read back from its JSON form (``Report.as_dict()``), with the same fields.

    Score and maximum are the ones recorded when it was graded (not recomputed).
    """

    submission: str
    exercise: str | None
    results: list[Result] = field(default_factory=list)
    instructor_results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    recorded_score: float | None = None
    recorded_max: float | None = None

    @property
    def score(self) -> float:
        if self.recorded_score is not None:
            return self.recorded_score
        return round(sum(r.points for r in self.results + self.instructor_results), 2)

    @property
    def max_score(self) -> float:
        if self.recorded_max is not None:
            return self.recorded_max
        return sum(r.max_points for r in self.results + self.instructor_results)

    @property
    def all_passed(self) -> bool:
        tasks = self.results + self.instructor_results
        return bool(tasks) and all(r.passed for r in tasks)

    def as_dict(self) -> dict[str, Any]:
        def plain(results: list[Result]) -> list[dict[str, Any]]:
            return [{f.name: getattr(r, f.name) for f in fields(Result)} for r in results]

        return {"submission": self.submission, "exercise": self.exercise, "score": self.score,
                "max_score": self.max_score, "passed": self.all_passed,
                "tasks": plain(self.results), "instructor_tasks": plain(self.instructor_results),
                "notes": list(self.notes), "seconds": round(self.seconds, 1)}


def _result(data: Any) -> Result:
    if not isinstance(data, dict):
        raise ValueError("a task result is not an object")
    return Result(str(data["task"]), str(data["title"]), str(data["status"]),
                  float(data["points"]), float(data["max_points"]), str(data.get("message", "")))


def report_from_dict(data: Any) -> SavedReport:
    """A :class:`SavedReport` from ``Report.as_dict()``; ``ValueError`` if it is not one."""
    try:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return SavedReport(
            submission=str(data["submission"]), exercise=data.get("exercise"),
            results=[_result(r) for r in data.get("tasks", [])],
            instructor_results=[_result(r) for r in data.get("instructor_tasks", [])],
            notes=[str(n) for n in data.get("notes", [])], seconds=float(data.get("seconds", 0)),
            recorded_score=float(data["score"]) if "score" in data else None,
            recorded_max=float(data["max_score"]) if "max_score" in data else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a grading report ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- escaping


def _escape_char(ch: str) -> str:
    if ch == "\t":
        return " "
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: Any, limit: int = MAX_LINE) -> str:
    """``text`` on one harmless line: control and invisible characters escaped (``\\x1b``,
    ``\\n``, ``\\u202e``), cut after ``limit`` characters with a count of the rest."""
    text = str(text)
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    line = "".join(out)
    if len(line) > limit:
        line = f"{line[:limit]}... ({len(line) - limit} more characters)"
    return line


def _markdown_text(text: Any, limit: int = MAX_LINE) -> str:
    """:func:`printable`, and no HTML, links or images in Markdown (``<``, ``[`` escaped)."""
    line = printable(text, limit)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return line.replace("[", "\\[").replace("]", "\\]")


# --------------------------------------------------------------------------- the table


def _table_lines(results: Sequence[Result]) -> list[str]:
    width = max(len(printable(r.title, 60)) for r in results)
    return [f"  {printable(r.task, 12):<5} {printable(r.title, 60):<{width}}  "
            f"{r.points:>4g}/{r.max_points:<3g} {printable(r.status, 20):<13}  {printable(r.message)}"
            for r in results]


def format_report(report: GradedReport) -> str:
    """The score table of one submission, for the instructor's terminal (hidden checks'
    messages included), every submitted string made :func:`printable`."""
    lines = [f"{printable(report.submission)}  (exercise {printable(report.exercise or '?')})"]
    for title, results in (("", report.results), ("instructor checks", report.instructor_results)):
        if not results:
            continue
        if title:
            lines.append(f"  {title}:")
        lines += _table_lines(results)
    for note in report.notes:
        lines.append(f"  note: {printable(note)}")
    seed = getattr(report, "probe_seed", None)
    regrade = f"; probes' seed {seed}" if seed is not None and report.exercise else ""
    lines.append(f"  score: {report.score:g} / {report.max_score:g}   ({report.seconds:.0f} s{regrade})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the student's page


def _points(r: Result) -> str:
    return f"{r.points:g}/{r.max_points:g} point{'s' if r.max_points != 1 else ''}"


def _task_lines(results: Sequence[Result], hidden: bool) -> list[str]:
    lines = []
    for r in results:
        status = STATUS_WORDS.get(r.status, printable(r.status, 20))
        head = f"- **Task {_markdown_text(r.task, 12)}, {_markdown_text(r.title, 80)}**: " \
               f"{_points(r)}, {status}"
        lines.append(head)
        if not hidden and r.message:
            lines.append(f"  {_markdown_text(r.message)}")
    return lines


def _legend(report: GradedReport) -> list[str]:
    present = {r.status for r in report.results + report.instructor_results}
    explained = [text for status, text in _STATUS_EXPLAINED.items() if status in present]
    if not explained:
        return []
    return ["", "What the words mean:", ""] + [f"- {text}" for text in explained]


def feedback_markdown(report: GradedReport) -> str:
    """The feedback page for the student: per task the points, the status in words and
    the check's message (a hint, never the answer); hidden instructor checks with their
    title, points and status only; the grader's notes about the notebook in plain words."""
    name = _markdown_text(report.exercise or "unknown exercise", 80)
    lines = [f"# Feedback: exercise {name}", "",
             f"**Score: {report.score:g} / {report.max_score:g}**", ""]
    if report.results:
        lines += ["## Tasks", ""] + _task_lines(report.results, hidden=False)
    if report.instructor_results:
        lines += ["", "## Further checks", "",
                  "Your instructor's own checks of the same answers (only the result is shown).",
                  ""] + _task_lines(report.instructor_results, hidden=True)
    if not report.results and not report.instructor_results:
        lines.append("No task could be graded.")
    if report.notes:
        lines += ["", "## About your notebook", ""]
        lines += [f"- {_markdown_text(note)}" for note in report.notes]
    lines += _legend(report)
    return "\n".join(lines) + "\n"
