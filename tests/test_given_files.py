"""Given files: finished code (an earlier assignment's layers) shipped beside the student modules.

An assignment may import code it does not ask students to write (a4's networks import a3's
``Linear`` and ``ReLU``). ``given = [...]`` in ``assignment.toml`` names it; release, references,
grading and the Gradescope zip all place the course's copy beside the modules, with its solutions
kept and its markers dropped — and a student's own copy never replaces it.
"""
from __future__ import annotations

import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest

from autograder.release import release_assignment, verify_release
from eecs498.assignment import AssignmentError, load_assignment

LAYERS = '''\
"""Finished layers from an earlier assignment."""


def triple(x):
    """3 * x."""
    ### BEGIN SOLUTION
    return 3 * x
    ### END SOLUTION
'''

MODULE = '''\
"""Uses the given layers."""
from layers import triple


def hello():
    print("Hello from net.py!")


def six_times(x):
    """6 * x, with triple."""
    ### BEGIN SOLUTION
    return 2 * triple(x)
    ### END SOLUTION
'''


def make_course(root: Path, given: str = '["../earlier/layers.py"]') -> Path:
    (root / "earlier").mkdir(parents=True)
    (root / "earlier" / "layers.py").write_text(LAYERS)
    folder = root / "later"
    folder.mkdir()
    (folder / "net.py").write_text(MODULE)
    (folder / "assignment.toml").write_text(textwrap.dedent(f'''\
        id = "later"
        title = "Later"
        modules = ["net.py"]
        submit = ["net.py"]
        given = {given}
        [groups.all]
        module = "net.py"
        points = 2
        '''))
    return folder


def test_given_files_keep_their_solutions_and_drop_the_markers(tmp_path):
    assignment = load_assignment(make_course(tmp_path))
    files = assignment.given_files()
    assert list(files) == ["layers.py"]
    assert "return 3 * x" in files["layers.py"] and "SOLUTION" not in files["layers.py"]


def test_release_ships_the_given_file_and_its_modules_import_it(tmp_path):
    assignment = load_assignment(make_course(tmp_path))
    folder = release_assignment(assignment, tmp_path / "release")
    assert (folder / "layers.py").read_text() == assignment.given_files()["layers.py"]
    assert "2 * triple" not in (folder / "net.py").read_text()
    # the released folder is itself an assignment whose given file sits beside the modules
    assert load_assignment(folder).given_files() == assignment.given_files()


def test_release_check_catches_a_tampered_given_file(tmp_path):
    assignment = load_assignment(make_course(tmp_path))
    folder = release_assignment(assignment, tmp_path / "release")
    (folder / "layers.py").write_text(LAYERS.replace("3 * x", "4 * x"))
    problems = verify_release(assignment, folder)
    assert any("layers.py" in p and "differs" in p for p in problems)
    assert any("marker" in p for p in problems)


def test_a_missing_or_shadowing_given_file_is_refused(tmp_path):
    missing = load_assignment(make_course(tmp_path / "a", given='["../earlier/nothing.py"]'))
    with pytest.raises(AssignmentError, match="nothing.py is missing"):
        missing.given_files()
    shadow = load_assignment(make_course(tmp_path / "b", given='["../earlier/net.py"]'))
    with pytest.raises(AssignmentError, match="name of a student module"):
        shadow.given_files()


@pytest.mark.xdist_group("grading")
def test_grading_uses_the_courses_copy_not_the_students(tmp_path, monkeypatch):
    from autograder import references, suite
    from autograder.grading import grade_submission
    from autograder.unpack import Submission

    course = make_course(tmp_path / "course")
    suites = tmp_path / "suites"
    (suites / "later").mkdir(parents=True)
    (suites / "later" / "test_net.py").write_text(textwrap.dedent('''
        import pytest
        import torch

        @pytest.mark.group("all")
        def test_six_times(student, expect):
            """six_times multiplies by six"""
            expect.tensor("six", student.call("net.six_times", torch.ones(2)), what="six_times")
        '''))
    monkeypatch.setattr(suite, "SUITES_DIR", suites)
    assignment = load_assignment(course)
    references.record_references(assignment)

    student = tmp_path / "student"
    student.mkdir()
    (student / "net.py").write_text(MODULE.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", ""))
    (student / "layers.py").write_text(LAYERS.replace("3 * x", "300 * x"))  # a doctored copy: ignored
    grade = grade_submission(assignment, Submission("ann", student))
    assert grade.score == 2, grade.tests

    # A change to the given file makes the references stale: they were recorded with the old one.
    (tmp_path / "course" / "earlier" / "layers.py").write_text(LAYERS.replace("3 * x", "x + x + x"))
    with pytest.raises(references.StaleReferences):
        references.load_references(load_assignment(course))


def test_gradescope_zip_carries_the_given_file(tmp_path, monkeypatch):
    from autograder import gradescope

    assignment = load_assignment(make_course(tmp_path))
    monkeypatch.setattr(gradescope, "load_references", lambda a: {})
    monkeypatch.setattr(gradescope, "references_path", lambda a: tmp_path / "later.ref")
    monkeypatch.setattr(gradescope, "hidden_suite_files", lambda assignment_id: [])
    (tmp_path / "later.ref").write_bytes(b"")
    monkeypatch.setattr(gradescope, "REPO", tmp_path)  # packages and the reference file live here
    for package in ("eecs498", "autograder"):
        (tmp_path / package).mkdir()
    real = Path(gradescope.__file__).resolve().parents[1]  # the zip also reads the torch pin and pyproject.toml
    (tmp_path / "requirements").mkdir()
    shutil.copy2(real / "requirements" / "torch-x86_64.txt", tmp_path / "requirements")
    shutil.copy2(real / "pyproject.toml", tmp_path)
    out = gradescope.build_autograder_zip(assignment, tmp_path / "out" / "later.zip")
    with zipfile.ZipFile(out) as archive:
        assert archive.read("assignments/later/layers.py").decode() == assignment.given_files()["layers.py"]
