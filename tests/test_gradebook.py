"""Hidden-test scores land in nbgrader's gradebook beside the manually graded cells; export totals."""
from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
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
