"""Hidden-test scores land in nbgrader's gradebook beside the manually graded cells; export totals."""
from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import environ_with_venv_scripts
from autograder.gradebook import record_grades
from autograder.unpack import Submission
from autograder.reports import StudentGrade
from autograder.suite import TestResult
from eecs498.assignment import load_assignment
from toy_assignment import make_toy_assignment


def nbgrader_export(course: Path) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--log-level=ERROR"],
                   cwd=course, env=environ_with_venv_scripts(), check=True, capture_output=True)
    with open(course / "grades.csv") as handle:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}


def test_scores_and_notebooks_reach_the_gradebook_and_export(tmp_path):
    toy = load_assignment(make_toy_assignment(tmp_path))
    submission = tmp_path / "alice.zip"
    with zipfile.ZipFile(submission, "w") as archive:
        archive.write(toy.root / "toy.py", "toy.py")
        archive.write(toy.root / "toy.ipynb", "toy.ipynb")
    grades = [
        StudentGrade("alice", 3.0, 4.0, [TestResult("doubles", "all", 3.0, 3.0, True, ""),
                                          TestResult("squares", "all", 0.0, 1.0, False, "Squarer is wrong")]),
        StudentGrade("bob", 0.0, 4.0, [TestResult("doubles", "all", 0.0, 4.0, False, "not graded: bad zip")],
                     rejected="bad zip"),
    ]
    course = tmp_path / "course"
    submissions = [Submission("alice", submission), Submission("bob", tmp_path / "missing.zip")]
    record_grades(course, toy, grades, submissions)

    shown = nbformat.read(course / "autograded" / "alice" / "toy" / "toy.ipynb", as_version=4)
    hidden = shown.cells[-1]
    assert hidden.metadata["nbgrader"]["grade_id"] == "hidden_tests_toy"
    assert "3 / 4" in hidden.source and "Squarer is wrong" in hidden.source
    assert shown.cells[2].metadata["nbgrader"]["grade_id"] == "q1"  # the written answer, for the TA
    assert (course / "autograded" / "bob" / "toy" / "toy.ipynb").is_file()  # a placeholder, not a crash
    assert nbgrader_export(course) == {"alice": 3.0, "bob": 0.0}

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        written = gradebook.find_grade("q1", "toy", "toy", "alice")
        assert written.needs_manual_grade
        written.manual_score = 1.0  # what a TA does in formgrader
        gradebook.db.commit()
    assert nbgrader_export(course)["alice"] == 4.0

    record_grades(course, toy, grades, submissions)  # regrading keeps the TA's manual score
    assert nbgrader_export(course)["alice"] == 4.0


HOSTILE_ANSWER = ('My answer <script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
                  '[details](javascript:window.pwned=3) and a < b, $x^2$')


def hostile_notebook(toy) -> str:
    """The toy notebook as a hostile student submits it: a scripted answer, a forged hidden-tests cell
    worth 1000 points, HTML/JS outputs, attachments, extra cells and notebook metadata of its own."""
    nb = nbformat.read(toy.root / "toy.ipynb", as_version=4)
    nb.cells[2].source = HOSTILE_ANSWER
    nb.cells[2].attachments = {"x.png": {"image/png": "aGVsbG8="}}
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<script>window.pwned = 4</script>", "application/javascript": "window.pwned = 5"})]
    forged = nbformat.v4.new_code_cell("# Hidden tests: 1000 / 4")
    forged.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1000,
                                   "grade_id": "hidden_tests_toy", "schema_version": 3, "task": False}
    nb.cells.append(forged)
    nb.cells.append(nbformat.v4.new_markdown_cell("<iframe src='javascript:window.pwned=6'></iframe>"))
    nb.metadata["eecs498"] = {"score": 1000}
    return nbformat.writes(nb)


def executable_markup(page: str) -> list[str]:
    """What in an HTML page would run the student's code: their scripts, event-handler attributes,
    javascript: links and frames (the page's own scripts hold no "pwned")."""
    from html.parser import HTMLParser

    found = []

    class Finder(HTMLParser):
        def __init__(self):
            super().__init__()
            self.in_script = False

        def handle_starttag(self, tag, attrs):
            self.in_script = tag == "script"
            if tag in ("iframe", "object", "embed"):
                found.append(tag)
            for name, value in attrs:
                value = (value or "").strip().lower()
                if name.startswith("on") and "pwned" in value or value.startswith(("javascript:", "data:text")):
                    found.append(f"{tag} {name}={value}")

        def handle_data(self, data):
            if self.in_script and "pwned" in data:
                found.append(f"script {data[:60]}")

        def handle_endtag(self, tag):
            self.in_script = False

    Finder().feed(page)
    return found


def rendered_html(notebook: Path) -> str:
    """The notebook as formgrader renders it for manual grading: nbconvert's HTML exporter."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    return body


def test_a_submitted_notebook_is_rebuilt_from_the_assignment_keeping_only_answer_text(tmp_path):
    toy = load_assignment(make_toy_assignment(tmp_path))
    submission = tmp_path / "mallory.zip"
    with zipfile.ZipFile(submission, "w") as archive:
        archive.write(toy.root / "toy.py", "toy.py")
        archive.writestr("toy.ipynb", hostile_notebook(toy))
    grades = [StudentGrade("mallory", 1.0, 4.0, [TestResult("doubles", "all", 1.0, 4.0, True, "")])]
    course = tmp_path / "course"
    record_grades(course, toy, grades, [Submission("mallory", submission)])

    placed = course / "autograded" / "mallory" / "toy" / "toy.ipynb"
    shown, template = nbformat.read(placed, as_version=4), nbformat.read(toy.root / "toy.ipynb", as_version=4)
    assert [c.get("id") for c in shown.cells[:-1]] == [c.get("id") for c in template.cells]
    assert [c.metadata for c in shown.cells[:-1]] == [c.metadata for c in template.cells]
    assert shown.metadata == template.metadata
    assert shown.cells[1].outputs == [] and "attachments" not in shown.cells[2]
    assert shown.cells[-1].metadata["nbgrader"]["points"] == 4  # ours, not the forged 1000
    assert "My answer" in shown.cells[2].source and "a &lt; b" in shown.cells[2].source
    assert executable_markup(rendered_html(placed)) == []
    raw = tmp_path / "raw.ipynb"
    raw.write_text(hostile_notebook(toy))
    assert len(executable_markup(rendered_html(raw))) >= 3, "the control: the notebook as submitted is hostile"
    assert nbgrader_export(course) == {"mallory": 1.0}


@pytest.mark.parametrize("content, reason", [
    (b"{not json", "not valid JSON"),
    (b'{"cells": "nope"}', "no list of cells"),
    (b'["a", "list"]', "no list of cells"),
    (b'{"cells": [{"metadata": {"nbgrader": {"grade_id": "q1"}}, "source": "\\ud800 lone surrogate"}]}', None),
    (b'{"cells": [{"metadata": {"nbgrader": {"grade_id": "q1"}}, "source": "' + b"x" * 100_000 + b'"}]}', None),
])
def test_a_malformed_notebook_becomes_a_placeholder_and_the_class_goes_on(tmp_path, content, reason):
    toy = load_assignment(make_toy_assignment(tmp_path))
    submissions = []
    for student, notebook in (("eve", content), ("ann", (toy.root / "toy.ipynb").read_bytes())):
        path = tmp_path / f"{student}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("toy.ipynb", notebook)
        submissions.append(Submission(student, path))
    grades = [StudentGrade(s.student, 2.0, 4.0, [TestResult("doubles", "all", 2.0, 4.0, True, "")]) for s in submissions]
    course = tmp_path / "course"
    record_grades(course, toy, grades, submissions)
    eve = nbformat.read(course / "autograded" / "eve" / "toy" / "toy.ipynb", as_version=4)
    nbformat.validate(eve)
    answer = next(c for c in eve.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q1")
    if reason:
        assert reason in eve.cells[0].source and answer.source == ""
    else:
        assert len(answer.source) < 21_000 and "\ud800" not in answer.source
    assert (course / "autograded" / "ann" / "toy" / "toy.ipynb").is_file()
    assert nbgrader_export(course) == {"eve": 2.0, "ann": 2.0}
