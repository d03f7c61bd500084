"""a1_knn graded end to end: what its sample class's students lose, and why.

The sample class (autograder/suites/a1_knn/sample_class.py) is built from the source solutions,
the release and mutants of the solutions, and graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps (complete full, untouched and null 0, ...) is in
test_assignments.py. Each kind of submission must lose exactly the points its defect deserves,
with a message that says what to fix.
"""
from __future__ import annotations

import shutil

import pytest

from autograder.grading import grade_class
from helpers import lost

pytestmark = pytest.mark.xdist_group("a1_knn")

# Headlines (test names as students see them) of the tests some mutants must lose.
TIE_TESTS = {
    "predict_labels breaks vote ties toward the smallest label (k=2 and k=4)",
    "predict_labels breaks vote ties toward the smallest label when k = num_train",
}
NO_LOOPS_BAN_TEST = "compute_distances_no_loops does not use torch.norm, torch.dist, torch.cdist or torch.nn"
NO_LOOPS_LOOP_TEST = "compute_distances_no_loops uses no Python loop over the data"
UNIQUE_RULE_TEST = ("challenge_get_uniques uses no Python loop and not torch.unique "
                    "(the course gives half credit for it)")
CROSS_VALIDATION_TESTS = {
    "knn_cross_validate with 5 folds: one accuracy per fold for each k (in percent like check_accuracy, or as fractions)",
    "knn_cross_validate with 4 folds of unequal size (torch.chunk), float32 image batches, k_choices in any order",
    "knn_cross_validate with its defaults (5 folds, k_choices = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100])",
}
NO_LOOPS_FLOAT64_TESTS = {
    "compute_distances_no_loops: squared L2 distances on float64 inputs (2-D and image batches)",
    "compute_distances_no_loops: works on non-contiguous inputs (transposed, strided, permuted views)",
}


@pytest.fixture(scope="module")
def graded(sample_class):
    return sample_class("a1_knn")


def groups_of(assignment, module: str) -> set[str]:
    return {g.name for g in assignment.groups if g.module == module}


def full_groups(grade) -> set[str]:
    totals: dict[str, list[float]] = {}
    for t in grade.tests:
        totals.setdefault(t.group, [0.0, 0.0])
        totals[t.group][0] += t.score
        totals[t.group][1] += t.max_score
    return {g for g, (score, most) in totals.items() if abs(score - most) < 1e-9}


def test_ties_toward_larger_label_lose_exactly_the_tie_tests(graded):
    failed = lost(graded.grades["dan_ties_toward_larger"])
    assert set(failed) == TIE_TESTS
    for message in failed.values():
        assert "tie" in message and "smallest label" in message and "larger label" in message, message


def test_cdist_loses_the_ban_not_the_values(graded):
    failed = lost(graded.grades["ivy_cdist"])
    assert set(failed) == {NO_LOOPS_BAN_TEST}
    assert "cdist" in failed[NO_LOOPS_BAN_TEST] and "line" in failed[NO_LOOPS_BAN_TEST]


def test_loop_in_no_loops_loses_the_no_loop_test(graded):
    failed = lost(graded.grades["jay_loop_in_no_loops"])
    assert set(failed) == {NO_LOOPS_LOOP_TEST}
    assert "loop" in failed[NO_LOOPS_LOOP_TEST] and "line" in failed[NO_LOOPS_LOOP_TEST]


def test_course_habits_lose_nothing(graded):
    """Correct code written the course's way where it differs from ours: 0-dim tensors and numpy
    scalars where numbers are returned, an int64 sample tensor and a float64 tensor of pi (the course
    states no dtype), ``max(x)`` over make_one_hot's list and a comprehension over the two inputs of
    the no-loop distances (neither iterates over the data), ``.cuda()`` in mm_on_gpu with no check of
    ours on a machine without a GPU, and cross-validation accuracies as fractions (numpy scalars)
    where the course and we use percent."""
    grade = graded.grades["mia_course_habits"]
    assert lost(grade) == {}
    assert grade.score == pytest.approx(graded.assignment.max_score)


def test_torch_unique_earns_half_of_the_challenge_as_in_the_course(graded):
    grade = graded.grades["nat_torch_unique"]
    failed = lost(grade)
    assert set(failed) == {UNIQUE_RULE_TEST}
    message = failed[UNIQUE_RULE_TEST]
    assert "torch.unique" in message and "half" in message and "line" in message, message
    challenge = [t for t in grade.tests if t.name.startswith("challenge_get_uniques")]
    assert len(challenge) == 2 and sum(t.score for t in challenge) == pytest.approx(challenge[0].max_score)


def test_wrong_cross_validation_says_how_it_read_the_accuracies(graded):
    failed = lost(graded.grades["oli_cv_on_every_fold"])
    assert set(failed) == CROSS_VALIDATION_TESTS
    for message in failed.values():  # fractions: both readings were tried, and the message says so
        assert "wrong fold accuracies" in message and "percentages" in message and "fractions" in message, message


def test_syntax_error_in_knn_keeps_pytorch101_points(graded):
    grade, assignment = graded.grades["gus_syntax_error"], graded.assignment
    assert full_groups(grade) == groups_of(assignment, "pytorch101.py")
    for t in grade.tests:
        if t.group in groups_of(assignment, "knn.py"):
            assert not t.passed and "syntax" in t.message.lower(), (t.name, t.message)


def test_missing_knn_keeps_pytorch101_points_and_names_the_file(graded):
    grade, assignment = graded.grades["kim_no_knn"], graded.assignment
    assert full_groups(grade) == groups_of(assignment, "pytorch101.py")
    assert grade.score == pytest.approx(assignment.module_points("pytorch101.py"))
    assert any("knn.py" in note for note in grade.notes)
    for t in grade.tests:
        if t.group in groups_of(assignment, "knn.py"):
            assert not t.passed and "knn.py" in t.message, (t.name, t.message)


def test_partial_submission_keeps_exactly_the_finished_module(graded):
    grade, assignment = graded.grades["cat_partial"], graded.assignment
    assert full_groups(grade) == groups_of(assignment, "pytorch101.py")
    assert grade.score == pytest.approx(assignment.module_points("pytorch101.py"))


def test_hard_coded_float32_loses_the_float64_tests_naming_dtypes(graded):
    failed = lost(graded.grades["lee_float32"])
    assert set(failed) == NO_LOOPS_FLOAT64_TESTS
    for message in failed.values():
        assert "dtype" in message and "float32" in message and "float64" in message, message


def test_hanging_function_costs_its_tests_and_nothing_else(graded):
    failed = lost(graded.grades["fay_hangs"])
    assert failed and all(name.startswith("compute_distances_one_loop") for name in failed), failed
    assert any("did not finish" in message for message in failed.values())


def test_corrupt_zip_is_rejected_with_a_reason(graded):
    grade = graded.grades["hal_corrupt"]
    assert grade.score == 0 and "not a valid zip" in grade.rejected


def test_one_and_two_workers_grade_alike(graded, tmp_path):
    three = tmp_path / "three"
    three.mkdir()
    for path in sorted(graded.kit.out.iterdir()):
        if path.name.startswith(("ada_complete", "ben_untouched", "dan_ties")):
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, three / path.name)
    serial = {g.student: g for g in grade_class(graded.assignment, three, tmp_path / "out", jobs=1, progress=False)}
    assert set(serial) == {"ada_complete", "ben_untouched", "dan_ties_toward_larger"}
    for student, grade in serial.items():
        parallel = graded.grades[student]
        assert grade.score == parallel.score
        assert [(t.name, t.group, t.score, t.max_score, t.passed, t.message) for t in grade.tests] == \
               [(t.name, t.group, t.score, t.max_score, t.passed, t.message) for t in parallel.tests]
    assert (tmp_path / "out" / "grades.csv").is_file()
    assert (tmp_path / "out" / "dan_ties_toward_larger" / "results.json").is_file()
