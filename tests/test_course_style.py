"""The acid test of course compatibility: a second solution of every module, written in the course's
own style, scores full marks.

``tests/course_style/<assignment>/`` holds modules written to the course's starter code (its names,
signatures, defaults and habits: in-place updates, numpy search lists, 0-dim returns, ``F.pad``,
accuracies in percent...), different code from the source solutions, and optionally
``checkpoints.py`` whose ``checkpoints(assignment) -> {file name: bytes}`` trains with those modules
(trusted code, imported here) and saves the course's way (its file names and dict keys). The
submission is those files plus the release notebooks, graded in the sandbox like any student's.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from autograder.grading import grade_submission
from autograder.release import find_solution_regions, release_assignment
from autograder.unpack import Submission
from eecs498.assignment import find_assignment
from helpers import lost, write_folder

COURSE_STYLE = Path(__file__).resolve().parent / "course_style"
ASSIGNMENT_IDS = sorted(p.name for p in COURSE_STYLE.iterdir() if p.is_dir()) if COURSE_STYLE.is_dir() else []


def solution_lines(path: Path) -> set[str]:
    """The non-trivial lines inside the solution regions of a source module."""
    lines = path.read_text().splitlines()
    inside = set()
    for region in find_solution_regions(path.read_text(), str(path)):
        inside |= {line.strip() for line in lines[region.begin:region.end - 1]}
    return {line for line in inside if len(line) > 12 and not line.startswith("#")}


def course_checkpoints(assignment, folder: Path) -> dict[str, bytes]:
    script = folder / "checkpoints.py"
    if not script.is_file():
        return {}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"course_style_{assignment.id}_checkpoints", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.checkpoints(assignment)
    finally:
        sys.path.remove(str(folder))
        for name in [m.stem for m in folder.glob("*.py")]:
            sys.modules.pop(name, None)


@pytest.mark.parametrize("assignment_id", [pytest.param(a, marks=pytest.mark.xdist_group(f"{a}-course"))
                                           for a in ASSIGNMENT_IDS])
def test_a_course_style_solution_scores_full_marks(assignment_id, tmp_path):
    assignment = find_assignment(assignment_id)
    folder = COURSE_STYLE / assignment_id
    modules = {name: (folder / name).read_text() for name in assignment.modules if (folder / name).is_file()}
    assert set(modules) == set(assignment.modules), "write every module in the course's style"
    for name, text in modules.items():
        ours = solution_lines(assignment.root / name)
        shared = ours & {line.strip() for line in text.splitlines()}
        assert len(shared) <= 0.25 * max(1, len(ours)), f"{name} repeats the source solutions: {sorted(shared)[:5]}"
    release = release_assignment(assignment, tmp_path / "release")
    notebooks = {name: (release / name).read_bytes() for name in assignment.notebooks}
    files = {**notebooks, **modules, **course_checkpoints(assignment, folder)}
    grade = grade_submission(assignment, Submission("course_style", write_folder(tmp_path / "submission", files)))
    assert not grade.rejected, grade.rejected
    extensions = {g.name for g in assignment.groups if g.points == 0}  # feedback only: beyond the course
    assert {t.name: t.message for t in grade.tests if not t.passed and t.group not in extensions} == {}
    assert grade.score == pytest.approx(assignment.max_score)


def test_every_assignment_has_a_course_style_solution():
    missing = [a for a in ("a1_knn", "a2_linear", "a3_mlp", "a4_cnn") if a not in ASSIGNMENT_IDS]
    assert missing == []
