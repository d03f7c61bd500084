"""The contract every assignment keeps, run over every assignment of this checkout.

An assignment is two folders: ``assignments/<id>/`` (what students get) and its staff folder
``autograder/suites/<id>/`` (hidden tests, ``references.ref``, ``sample_class.py``). Adding one
needs no new project test: these promises apply to it at once. Per-assignment test files keep only
what is specific (which tests a given bug loses, with which message).

The sample class is released, built and graded once per session (the ``sample_class`` fixture,
the same flow as ``make demo``); the tests of one assignment share an xdist group so one worker
does that work once.
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from autograder.grading import grade_submission
from autograder.references import load_references, references_path
from autograder.release import release_assignment
from autograder.samples import NULL_FLAVOURS, STANDARD_STUDENTS, expected_scores, score_matches
from autograder.suite import SAMPLE_CLASS_FILE, hidden_suite_files, suite_dir
from autograder.unpack import Submission
from eecs498.assignment import find_assignment
from helpers import lost
from notebook_helpers import check_clean_nbgrader, check_stopped_at_first_stub, errors, execute, stdout, targets_reached

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_IDS = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/assignment.toml"))


def per_assignment(group_suffix: str = ""):
    """Parametrize over every assignment, each in its own xdist group (its sample class is graded once)."""
    return pytest.mark.parametrize("assignment_id", [
        pytest.param(a, marks=pytest.mark.xdist_group(a + group_suffix)) for a in ASSIGNMENT_IDS])


RELEASE_NOTEBOOKS = [pytest.param(a, n, marks=[pytest.mark.notebook, pytest.mark.xdist_group(f"{a}-notebooks")])
             for a in ASSIGNMENT_IDS for n in find_assignment(a).notebooks]


def test_there_are_assignments():
    assert {"a1_knn", "a2_linear", "a3_mlp", "a4_cnn"} <= set(ASSIGNMENT_IDS)


# ----------------------------------------------------------------------------------------------
# the two folders


@per_assignment()
def test_an_assignment_is_two_folders(assignment_id):
    assignment = find_assignment(assignment_id)
    staff = suite_dir(assignment_id)
    for name in (*assignment.modules, *assignment.notebooks):
        assert (assignment.root / name).is_file(), name
    assert [p for p in hidden_suite_files(assignment_id) if p.name.startswith("test_")], "no hidden tests"
    assert references_path(assignment).parent == staff and references_path(assignment).is_file()
    assert (staff / SAMPLE_CLASS_FILE).is_file()
    assert {g.module for g in assignment.groups} <= set(assignment.modules), "a group names no student module"
    assert assignment.max_score > 0


@per_assignment()
def test_references_are_fresh(assignment_id):
    assert load_references(find_assignment(assignment_id))  # StaleReferences when suite or solutions changed


@per_assignment("-release")
def test_release_is_verified_and_byte_identical_when_run_twice(assignment_id, tmp_path):
    assignment = find_assignment(assignment_id)
    first = release_assignment(assignment, tmp_path / "one")  # raises ReleaseError when a check fails
    second = release_assignment(assignment, tmp_path / "two")
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    match, mismatch, error = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and error == []
    assert not any(p.suffix == ".pt" for p in first.rglob("*")), "a checkpoint shipped in the release"


# ----------------------------------------------------------------------------------------------
# grading: the standard students of the sample class


@per_assignment()
def test_every_group_has_tests_and_test_names_are_unique(assignment_id, sample_class):
    graded = sample_class(assignment_id)
    tests = graded.grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in graded.assignment.groups}


@per_assignment()
def test_complete_submission_scores_full_marks(assignment_id, sample_class):
    graded = sample_class(assignment_id)
    grade = graded.grades["ada_complete"]
    assert not grade.rejected, grade.rejected
    assert lost(grade) == {}
    assert grade.score == pytest.approx(graded.assignment.max_score)


@per_assignment()
def test_untouched_release_scores_zero_with_a_message_on_every_test(assignment_id, sample_class):
    graded = sample_class(assignment_id)
    grade = graded.grades["ben_untouched"]
    assert grade.score == 0 and not grade.rejected
    checkpoints = [name for name in graded.assignment.submit if name.endswith(".pt")]
    for test in grade.tests:
        assert not test.passed
        message = test.message.lower()
        said = "not implemented" in message or ("missing" in message and any(c in test.message for c in checkpoints))
        assert said, (test.name, test.message)


@per_assignment()
@pytest.mark.parametrize("flavour", NULL_FLAVOURS)
def test_null_submission_scores_zero(assignment_id, flavour, sample_class):
    """Every stub returns zeros, its first input or None, beside zeroed checkpoints: no test pays."""
    grade = sample_class(assignment_id).grades[f"null_{flavour}"]
    earned = {t.name: t.score for t in grade.tests if t.score}
    assert grade.score == 0 and earned == {}, earned
    assert all(t.message for t in grade.tests)


@per_assignment()
def test_sample_class_scores_what_it_documents(assignment_id, sample_class):
    graded = sample_class(assignment_id)
    expected = expected_scores(graded.assignment)
    assert set(STANDARD_STUDENTS) <= set(graded.grades)
    assert set(graded.kit.written) == set(graded.grades), "a sample student was not graded"
    wrong = {student: (grade.score, expected.get(student)) for student, grade in graded.grades.items()
             if student not in expected or not score_matches(grade.score, expected[student])}
    assert wrong == {}, wrong
    for student in graded.grades:
        assert (graded.out / student / "feedback.html").is_file()
        assert (graded.out / student / "results.json").is_file()
    assert (graded.out / "grades.csv").is_file() and (graded.out / "nbgrader" / "gradebook.db").is_file()


# ----------------------------------------------------------------------------------------------
# notebooks


@per_assignment()
def test_source_notebooks_are_clean_nbgrader(assignment_id):
    assignment = find_assignment(assignment_id)
    for name in assignment.notebooks:
        check_clean_nbgrader(assignment.root / name)
    assert not list(assignment.root.glob("*.pt")), "trained models must not be left in the source folder"


@pytest.mark.notebook
@pytest.mark.usefixtures("headless_kernel")
@per_assignment("-notebooks")
def test_source_notebooks_run_clean_reach_every_target_and_write_the_checkpoints(assignment_id, tmp_path):
    """All notebooks, in order, in a copy of the source folder (they write checkpoints beside
    themselves): no error, a hello from each module, one dataset, every target of that dataset in
    ``assignment.toml`` reported reached, and every checkpoint students submit written."""
    assignment = find_assignment(assignment_id)
    folder = tmp_path / assignment_id
    shutil.copytree(assignment.root, folder, ignore=shutil.ignore_patterns("*.pt", ".ipynb_checkpoints"))
    assignment.write_given_files(folder)
    reached = set()
    for notebook in assignment.notebooks:
        executed = tmp_path / f"executed-{notebook}"
        nb, _ = execute(folder, notebook, executed)
        assert errors(nb) == [], f"executed copy: {executed}"
        assert f"Hello from {Path(notebook).stem}.py!" in stdout(nb)
        reached |= targets_reached(nb)
    datasets = {dataset for dataset, _ in reached}
    assert len(datasets) <= 1, reached
    if assignment.targets:
        dataset = datasets.pop() if datasets else "fashion_mnist"
        assert reached == {(dataset, name) for name in assignment.targets.get(dataset, {})}
    missing = [name for name in assignment.submit if not (folder / name).is_file()]
    assert missing == [], f"the notebooks did not write {missing}"
    assert not list(assignment.root.glob("*.pt")), "the run wrote into the source folder"
    # What the notebooks wrote is what the grader accepts: the folder, submitted, scores full marks.
    grade = grade_submission(assignment, Submission("notebook_run", folder))
    assert lost(grade) == {} and grade.score == pytest.approx(assignment.max_score)


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """assignment id -> its release, built once per module."""
    cache = {}

    def get(assignment_id):
        if assignment_id not in cache:
            cache[assignment_id] = release_assignment(find_assignment(assignment_id),
                                                      tmp_path_factory.mktemp(f"release-{assignment_id}"))
        return cache[assignment_id]

    return get


@pytest.mark.usefixtures("headless_kernel")
@pytest.mark.parametrize("assignment_id, notebook", RELEASE_NOTEBOOKS)
def test_release_notebook_stops_at_its_first_stub(assignment_id, notebook, releases, tmp_path):
    assignment = find_assignment(assignment_id)
    folder = tmp_path / assignment_id
    shutil.copytree(releases(assignment_id), folder)  # each run gets its own copy of the release
    nb, _ = execute(folder, notebook, tmp_path / f"executed-release-{notebook}", stop_on_error=True)
    check_stopped_at_first_stub(nb, assignment.modules)
    assert not list(folder.glob("*.pt"))
