"""What grading writes for people: the student's feedback page, the TA's CSV and table, results.json."""
from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.reports import (
    StudentGrade,
    feedback_html,
    grade_from_results,
    gradescope_results,
    grades_csv,
    points,
    summary_table,
)
from autograder.suite import TestResult
from eecs498.assignment import load_assignment
from toy_assignment import make_toy_assignment

SANDBOX = "bubblewrap: namespaces (user, pid, net, ipc, uts, mount), uid 65534, no network"


@pytest.fixture
def assignment(tmp_path):
    folder = make_toy_assignment(tmp_path)
    toml = folder / "assignment.toml"
    toml.write_text(toml.read_text() + '\n[groups.squares]\nmodule = "toy.py"\npoints = 2\n'
                    'description = "Squarer squares"\n')
    return load_assignment(folder)


def a_grade() -> StudentGrade:
    third = 4 / 3
    tests = [TestResult("double on float64", "all", third, third, True, ""),
             TestResult("double on float32", "all", third, third, True, ""),
             TestResult("double keeps the device", "all", 0.0, third, False,
                        "`toy.double` returned a tensor on cuda:0; expected it on cpu <b>like its inputs</b>"),
             TestResult("Squarer squares", "squares", 2.0, 2.0, True, "")]
    return StudentGrade("ann", 2 * third + 2, 6.0, tests, "abc", isolation=SANDBOX, seconds=1.5,
                        notes=["ignored files that the assignment does not ask for: notes.txt"])


class Page(HTMLParser):
    """The page's groups (h2 text), failing-test rows, folded passed tests, and code spans."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.stack = [], [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append((tuple(self.stack), data))

    def inside(self, tag) -> list[str]:
        return [data for stack, data in self.text if tag in stack]


def test_feedback_groups_tests_with_subtotals_folds_passed_ones_and_renders_code(assignment):
    page = Page()
    page.feed(feedback_html(a_grade(), assignment))
    headings = " ".join(page.inside("h2"))
    assert "all" in headings and "2.67 / 4" in headings and "Squarer squares" in headings and "2 / 2" in headings
    assert "2 passed tests" in " ".join(page.inside("summary")) and "1 passed test" in " ".join(page.inside("summary"))
    assert "toy.double" in page.inside("code")
    assert "<b>" not in page.tags and "like its inputs" in " ".join(page.inside("td"))  # escaped, shown as text
    everything = " ".join(data for _, data in page.text)
    assert "4.67 / 6 points" in everything and "1.3333" not in everything
    assert "bubblewrap" not in everything, "the sandbox line belongs to the TA's outputs"


def test_the_sandbox_line_goes_to_the_staff_outputs_not_the_student_text(assignment):
    grade = a_grade()
    results = gradescope_results(grade)
    assert SANDBOX not in results["output"] and results["extra_data"]["sandbox"] == SANDBOX
    assert grade_from_results(json.loads(json.dumps(results))).isolation == SANDBOX
    rows = list(csv.DictReader(io.StringIO(grades_csv([grade]))))
    assert rows[0]["sandbox"] == SANDBOX and rows[0]["score"] == "4.67" and rows[0]["max_score"] == "6"
    assert "4.67/6" in summary_table([grade])


@pytest.mark.parametrize("value, shown", [(10.0, "10"), (2.5, "2.5"), (10 / 3, "3.33"), (0.0, "0"), (1 / 3 * 3, "1")])
def test_points_have_at_most_two_decimals(value, shown):
    assert points(value) == shown
