"""a1_knn graded end to end: the hidden suite, its references and the grading engine together.

Submissions are built in a temporary folder from the source solutions (complete), the student
version (untouched, made the way ``eecs498 release`` makes it) and mutants of the solutions, then
graded through ``grade_class``/``grade_submission`` in the sandbox. Each kind of submission must
lose exactly the points its defect deserves, with a message that says what to fix.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from autograder.demo import replace_functions
from autograder.grading import grade_class, grade_submission
from autograder.references import load_references
from autograder.release import strip_solutions
from autograder.unpack import Submission
from eecs498.assignment import find_assignment
from helpers import lost, write_folder, write_zip

pytestmark = pytest.mark.xdist_group("grading")

ASSIGNMENT = find_assignment("a1_knn")
KNN_GROUPS = {g.name for g in ASSIGNMENT.groups if g.module == "knn.py"}
PYTORCH101_GROUPS = {g.name for g in ASSIGNMENT.groups if g.module == "pytorch101.py"}

# Headlines (test names as students see them) of the tests some mutants must lose.
TIE_TESTS = {
    "predict_labels breaks vote ties toward the smallest label (k=2 and k=4)",
    "predict_labels breaks vote ties toward the smallest label when k = num_train",
}
NO_LOOPS_BAN_TEST = "compute_distances_no_loops does not use torch.norm, torch.dist, torch.cdist or torch.nn"
NO_LOOPS_LOOP_TEST = "compute_distances_no_loops uses no Python loop or comprehension"
NO_LOOPS_FLOAT64_TESTS = {
    "compute_distances_no_loops: squared L2 distances on float64 inputs (2-D and image batches)",
    "compute_distances_no_loops: works on non-contiguous inputs (transposed, strided, permuted views)",
}

# Whole-function replacements spliced into copies of the source solutions.
TIES_TOWARD_LARGER = '''
def predict_labels(dists, y_train, k=1):
    """Majority vote whose ties go to the LARGEST label (the bug)."""
    nearest = dists.topk(k, dim=0, largest=False).indices
    votes = y_train[nearest]
    num_classes = int(y_train.max()) + 1
    counts = torch.zeros(num_classes, votes.shape[1], dtype=torch.int64, device=dists.device)
    counts.scatter_add_(0, votes, torch.ones_like(votes))
    return num_classes - 1 - counts.flip(0).argmax(dim=0)
'''
WITH_CDIST = '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, from a banned library call."""
    return torch.cdist(x_train.flatten(1), x_test.flatten(1)) ** 2
'''
WITH_LOOP = '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, with a Python loop where none is allowed."""
    train, test = x_train.flatten(1), x_test.flatten(1)
    dists = train.new_zeros(train.shape[0], test.shape[0])
    for j in range(test.shape[0]):
        dists[:, j] = ((train - test[j]) ** 2).sum(dim=1)
    return dists
'''
ALWAYS_FLOAT32 = '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, but always float32 (a hard-coded .float())."""
    train, test = x_train.flatten(1).float(), x_test.flatten(1).float()
    return (train ** 2).sum(1)[:, None] - 2 * train @ test.t() + (test ** 2).sum(1)[None, :]
'''


def source(name: str) -> str:
    return (ASSIGNMENT.root / name).read_text()


def released(name: str) -> str:
    """The untouched student version of a module, exactly as ``eecs498 release`` strips it."""
    return strip_solutions(source(name), Path(name).stem, str(ASSIGNMENT.root / name))


def complete_files() -> dict[str, str]:
    return {name: source(name) for name in ASSIGNMENT.modules}


def knn_mutant(replacement: str) -> dict[str, str]:
    return {**complete_files(), "knn.py": replace_functions(source("knn.py"), _by_name(replacement))}


def _by_name(replacement: str) -> dict[str, str]:
    name = replacement.split("def ", 1)[1].split("(", 1)[0]
    return {name: replacement}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory) -> Path:
    """Eight students, zips and folders mixed."""
    folder = tmp_path_factory.mktemp("a1_class")
    write_zip(folder / "ada_complete_a1_knn.zip", complete_files())
    write_folder(folder / "ben_untouched", {name: released(name) for name in ASSIGNMENT.modules})
    write_folder(folder / "cat_ties", knn_mutant(TIES_TOWARD_LARGER))
    write_folder(folder / "dan_cdist", knn_mutant(WITH_CDIST))
    write_zip(folder / "eve_loop.zip", knn_mutant(WITH_LOOP))
    write_folder(folder / "fay_syntax", {**complete_files(), "knn.py": source("knn.py").replace("def ", "def (", 1)})
    write_folder(folder / "gus_no_knn", {"pytorch101.py": source("pytorch101.py")})
    write_folder(folder / "hal_float32", knn_mutant(ALWAYS_FLOAT32))
    return folder


@pytest.fixture(scope="module")
def class_grades(class_folder, tmp_path_factory) -> dict:
    """The whole class graded once with two workers."""
    out = tmp_path_factory.mktemp("a1_grades_jobs2")
    grades = grade_class(ASSIGNMENT, class_folder, out, jobs=2, progress=False)
    return {g.student: g for g in grades}


def group_scores(grade) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for t in grade.tests:
        score, most = totals.get(t.group, (0.0, 0.0))
        totals[t.group] = (score + t.score, most + t.max_score)
    return totals


def full_groups(grade) -> set[str]:
    return {g for g, (score, most) in group_scores(grade).items() if abs(score - most) < 1e-9}


def test_references_are_fresh():
    references = load_references(ASSIGNMENT)  # StaleReferences when the suite or solutions changed
    assert references, "no reference outputs recorded"


def test_test_names_are_unique_and_every_group_has_tests(class_grades):
    tests = class_grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in ASSIGNMENT.groups}


def test_complete_submission_scores_full_marks(tmp_path):
    zip_path = write_zip(tmp_path / "ada.zip", complete_files())
    start = time.monotonic()
    grade = grade_submission(ASSIGNMENT, Submission("ada", zip_path))
    seconds = time.monotonic() - start
    assert not grade.rejected, grade.rejected
    assert lost(grade) == {}
    assert grade.score == pytest.approx(ASSIGNMENT.max_score) and grade.max_score == ASSIGNMENT.max_score
    assert seconds < 60, f"grading one complete submission took {seconds:.1f} s"


def test_complete_submission_in_class_scores_full_marks(class_grades):
    grade = class_grades["ada_complete"]
    assert lost(grade) == {} and grade.score == pytest.approx(ASSIGNMENT.max_score)


def test_untouched_release_scores_zero_and_says_not_implemented(class_grades):
    grade = class_grades["ben_untouched"]
    assert grade.score == 0 and not grade.rejected
    assert all(not t.passed for t in grade.tests)
    for t in grade.tests:
        assert "not implemented" in t.message.lower() or "notimplementederror" in t.message.lower(), (t.name, t.message)


def test_ties_toward_larger_label_lose_exactly_the_tie_tests(class_grades):
    failed = lost(class_grades["cat_ties"])
    assert set(failed) == TIE_TESTS
    for message in failed.values():
        assert "tie" in message and "smallest label" in message and "larger label" in message, message


def test_cdist_loses_the_ban_not_the_values(class_grades):
    failed = lost(class_grades["dan_cdist"])
    assert set(failed) == {NO_LOOPS_BAN_TEST}
    assert "cdist" in failed[NO_LOOPS_BAN_TEST] and "line" in failed[NO_LOOPS_BAN_TEST]


def test_loop_in_no_loops_loses_the_no_loop_test(class_grades):
    failed = lost(class_grades["eve_loop"])
    assert set(failed) == {NO_LOOPS_LOOP_TEST}
    assert "loop" in failed[NO_LOOPS_LOOP_TEST] and "line" in failed[NO_LOOPS_LOOP_TEST]


def test_syntax_error_in_knn_keeps_pytorch101_points(class_grades):
    grade = class_grades["fay_syntax"]
    assert full_groups(grade) == PYTORCH101_GROUPS
    assert grade.score == pytest.approx(sum(ASSIGNMENT.group(g).points for g in PYTORCH101_GROUPS))
    for t in grade.tests:
        if t.group in KNN_GROUPS:
            assert not t.passed and "syntax" in t.message.lower(), (t.name, t.message)


def test_missing_knn_keeps_pytorch101_points_and_names_the_file(class_grades):
    grade = class_grades["gus_no_knn"]
    assert full_groups(grade) == PYTORCH101_GROUPS
    assert grade.score == pytest.approx(sum(ASSIGNMENT.group(g).points for g in PYTORCH101_GROUPS))
    assert any("knn.py" in note for note in grade.notes)
    for t in grade.tests:
        if t.group in KNN_GROUPS:
            assert not t.passed and "knn.py" in t.message, (t.name, t.message)


def test_hard_coded_float32_loses_the_float64_tests_naming_dtypes(class_grades):
    failed = lost(class_grades["hal_float32"])
    assert set(failed) == NO_LOOPS_FLOAT64_TESTS
    for message in failed.values():
        assert "dtype" in message and "float32" in message and "float64" in message, message


def test_one_and_two_workers_grade_alike(class_folder, class_grades, tmp_path):
    three = tmp_path / "three"
    three.mkdir()
    for name in ("ada_complete_a1_knn.zip", "ben_untouched", "cat_ties"):
        path = class_folder / name
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, three / name)
    serial = {g.student: g for g in grade_class(ASSIGNMENT, three, tmp_path / "out", jobs=1, progress=False)}
    assert set(serial) == {"ada_complete", "ben_untouched", "cat_ties"}
    for student, grade in serial.items():
        parallel = class_grades[student]
        assert grade.score == parallel.score
        assert [(t.name, t.group, t.score, t.max_score, t.passed, t.message) for t in grade.tests] == \
               [(t.name, t.group, t.score, t.max_score, t.passed, t.message) for t in parallel.tests]
    assert (tmp_path / "out" / "grades.csv").is_file()
    assert (tmp_path / "out" / "cat_ties" / "results.json").is_file()
