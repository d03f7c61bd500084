"""What grading writes: Gradescope's ``results.json``, a feedback page per student, ``grades.csv``,
and the summary table. Every file is written atomically, so a killed run never leaves half a file.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from autograder.suite import TestResult
from eecs498.assignment import Assignment


@dataclass
class StudentGrade:
    """One student's outcome; ``rejected`` holds why nothing could be graded (a bad zip, ...)."""

    student: str
    score: float
    max_score: float
    tests: list[TestResult]
    submission_sha256: str = ""
    isolation: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    rejected: str = ""

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# --------------------------------------------------------------------------------------------
# Gradescope results.json


def gradescope_results(grade: StudentGrade) -> dict:
    """The ``results.json`` document Gradescope reads (top-level score, tests[], visibility)."""
    output = [f"Your submission could not be graded: {grade.rejected}"] if grade.rejected else []
    output += grade.notes
    return {
        "score": round(grade.score, 4),
        "execution_time": round(grade.seconds, 2),
        "output": "\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": test.name,
                "number": f"{test.group}",
                "score": round(test.score, 6),
                "max_score": round(test.max_score, 6),
                "status": "passed" if test.passed else "failed",
                "output": test.message,
                "visibility": "visible",
            }
            for test in grade.tests
        ],
        "extra_data": {"student": grade.student, "max_score": grade.max_score,
                       "submission_sha256": grade.submission_sha256, "rejected": grade.rejected,
                       "sandbox": grade.isolation},
    }


def grade_from_results(document: dict) -> StudentGrade:
    """Read back a ``results.json`` written by :func:`gradescope_results` (for resuming a run)."""
    extra = document.get("extra_data", {})
    tests = [TestResult(t["name"], t["number"], t["score"], t["max_score"], t["status"] == "passed", t["output"])
             for t in document["tests"]]
    return StudentGrade(extra["student"], document["score"], extra["max_score"], tests,
                        extra.get("submission_sha256", ""), isolation=extra.get("sandbox", ""),
                        seconds=document.get("execution_time", 0.0), rejected=extra.get("rejected", ""))


# --------------------------------------------------------------------------------------------
# feedback page


def points(value: float) -> str:
    """Points as a person writes them: at most two decimals (``3.33``, ``2.5``, ``10``)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def message_html(message: str) -> str:
    """A test's message as HTML: escaped, with `backticked` names as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(message))


def feedback_html(grade: StudentGrade, assignment: Assignment) -> str:
    """A self-contained page for the student: the tests grouped as the assignment groups them,
    each group with its subtotal; what lost points first, each with what to fix; passed tests
    folded away. It shows what the tests checked and the shapes and settings of their cases,
    never the hidden inputs' values or the reference outputs."""
    e = html.escape
    sections = []
    for group in assignment.groups:
        tests = [t for t in grade.tests if t.group == group.name]
        if not tests:
            continue
        score, most = sum(t.score for t in tests), sum(t.max_score for t in tests)
        failed = [t for t in tests if not t.passed]
        passed = [t for t in tests if t.passed]
        rows = "".join(f"<tr><td>{e(t.name)}</td><td class=pts>{points(t.score)} / {points(t.max_score)}</td>"
                       f"<td>{message_html(t.message)}</td></tr>" for t in failed)
        table = (f"<table><tr><th>test</th><th>points</th><th>what to fix</th></tr>{rows}</table>" if failed else "")
        folded = ("<details><summary>" + f"{len(passed)} passed test{'s' if len(passed) != 1 else ''}</summary><ul>"
                  + "".join(f"<li>{e(t.name)} <span class=pts>{points(t.max_score)}</span></li>" for t in passed)
                  + "</ul></details>") if passed else ""
        state = "full" if not failed else "lost"
        worth = (f"{points(score)} / {points(most)}" if group.points else
                 "feedback only: an extension beyond the course, not counted in your score")
        sections.append(f"<section class={state}><h2>{e(group.description or group.name)} "
                        f"<span class=pts>{worth}</span></h2>{table}{folded}</section>")
    notes = "".join(f"<p class=note>{message_html(n)}</p>" for n in grade.notes)
    rejected = (f"<p class=rejected>Your submission could not be graded: {message_html(grade.rejected)}</p>"
                if grade.rejected else "")
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{e(assignment.title)} — {e(grade.student)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; line-height: 1.4; }}
h2 {{ font-size: 1.1rem; margin: 1.5rem 0 .4rem; }} .pts {{ color: #555; font-weight: normal; white-space: nowrap; }}
section.lost h2 {{ color: #a00; }} section.full h2 {{ color: #070; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }}
td {{ background: #fff6f6; }} code {{ background: #f2f2f2; padding: 0 .2rem; border-radius: 3px; }}
details {{ margin: .3rem 0; color: #333; }} .rejected {{ color: #b00; font-weight: bold; }} .note {{ color: #555; }}
</style></head><body>
<h1>{e(assignment.title)}</h1>
<p><b>{e(grade.student)}</b>: {points(grade.score)} / {points(grade.max_score)} points; {grade.passed} of {len(grade.tests)} tests passed.</p>
{rejected}{notes}
{''.join(sections)}
</body></html>
"""


# --------------------------------------------------------------------------------------------
# class-wide outputs


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula (``= + - @``, tab or
    carriage return) gets a leading apostrophe (the usual CSV-injection rule)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def terminal_text(text: str) -> str:
    """``text`` with control and format characters (escape sequences, bidi overrides) shown as
    ``\\xNN`` / ``\\uNNNN``, so a student's message cannot rewrite the TA's terminal."""
    return "".join(ascii(ch)[1:-1] if unicodedata.category(ch)[0] == "C" else ch for ch in text)


def grades_csv(grades: list[StudentGrade]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", "percent", "tests_passed", "tests_total", "status", "sandbox"])
    for g in sorted(grades, key=lambda g: g.student):
        percent = 100 * g.score / g.max_score if g.max_score else 0.0
        status = f"rejected: {g.rejected}" if g.rejected else "graded"
        writer.writerow([csv_cell(cell) for cell in (g.student, points(g.score), points(g.max_score),
                                                     f"{percent:.1f}", g.passed, len(g.tests), status, g.isolation)])
    return buffer.getvalue()


def summary_table(grades: list[StudentGrade]) -> str:
    """A fixed-width table for the terminal: one row per student, sorted by name."""
    header = ("student", "score", "tests", "seconds", "note")
    rows = [header]
    for g in sorted(grades, key=lambda g: g.student):
        failing = [t for t in g.tests if not t.passed]
        note = terminal_text(g.rejected or (f"first lost point: {failing[0].message}" if failing
                                            else "all tests passed"))
        rows.append((terminal_text(g.student), f"{points(g.score)}/{points(g.max_score)}", f"{g.passed}/{len(g.tests)}",
                     f"{g.seconds:.1f}", note[:70] + ("…" if len(note) > 70 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def write_student_reports(grade: StudentGrade, folder: Path, assignment: Assignment) -> None:
    """``<folder>/results.json`` and ``<folder>/feedback.html``; results.json last (it marks 'done')."""
    write_atomic(folder / "feedback.html", feedback_html(grade, assignment))
    write_atomic(folder / "results.json", json.dumps(gradescope_results(grade), indent=1))

