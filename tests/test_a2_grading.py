"""a2_linear graded end to end: the hidden suite, its references and the grading engine together.

Submissions are built in a temporary folder from the source solutions plus checkpoints trained
here with them on Fashion-MNIST (complete), the student version (untouched, made the way
``eecs498 release`` makes it) and mutants, then graded through ``grade_class``/``grade_submission``
in the sandbox. Each kind of submission must lose exactly the points its defect deserves, with a
message that says what to fix.
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import torch

from autograder.demo import replace_functions, trained_a2_checkpoints
from autograder.grading import grade_class, grade_submission
from autograder.references import load_references
from autograder.release import strip_solutions
from autograder.suite import suite_dir
from autograder.unpack import Submission
from eecs498.assignment import find_assignment
from helpers import import_file, lost, write_folder, write_zip

pytestmark = pytest.mark.xdist_group("grading")

ASSIGNMENT = find_assignment("a2_linear")
MODULE = "linear_classifier.py"
CHECKPOINTS = ("svm_best_model.pt", "softmax_best_model.pt")
MODEL_TESTS = {
    "svm_best_model.pt reaches the target accuracy on the held-out test set",
    "softmax_best_model.pt reaches the target accuracy on the held-out test set",
}
SVM_GRADIENT_TESTS = {
    f"{name}: {what}"
    for name in ("svm_loss_naive", "svm_loss_vectorized")
    for what in (
        "dW with L2 and L1 regularization of several strengths (incl. 0), several shapes (float64)",
        "float32 inputs give a float32 dW",
        "dW is the gradient of the loss (numeric gradient check, L2 and L1)",
        "dW on non-contiguous inputs (transposed W, strided X and y)",
    )
}
SOFTMAX_LOOP_TEST = "softmax_loss_vectorized uses no Python loop or comprehension"

# Whole-function replacements spliced into copies of the source solutions.
SVM_NO_REG_GRADIENT = {
    "svm_loss_naive": '''
def svm_loss_naive(W, X, y, reg, reg_type="l2"):
    """Right loss; the gradient forgets the regularization term (the bug)."""
    _check_reg_type(reg_type)
    dW = torch.zeros_like(W)
    loss = W.new_zeros(())
    for i in range(X.shape[0]):
        scores = W.t().mv(X[i])
        for j in range(W.shape[1]):
            margin = scores[j] - scores[y[i]] + 1
            if j != y[i] and margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / X.shape[0] + (reg * torch.sum(W * W) if reg_type == "l2" else reg * torch.sum(W.abs()))
    return loss, dW / X.shape[0]
''',
    "svm_loss_vectorized": '''
def svm_loss_vectorized(W, X, y, reg, reg_type="l2"):
    """Right loss; the gradient forgets the regularization term (the bug)."""
    _check_reg_type(reg_type)
    rows = torch.arange(X.shape[0], device=X.device)
    scores = X.mm(W)
    margins = (scores - scores[rows, y].unsqueeze(1) + 1).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / X.shape[0]
    loss = loss + (reg * torch.sum(W * W) if reg_type == "l2" else reg * torch.sum(W.abs()))
    dscores = (margins > 0).to(W.dtype)
    dscores[rows, y] = -dscores.sum(dim=1)
    return loss, X.t().mm(dscores) / X.shape[0]
''',
}
SOFTMAX_WITH_LOOP = {
    "softmax_loss_vectorized": '''
def softmax_loss_vectorized(W, X, y, reg, reg_type="l2"):
    """Right values, with a Python loop where none is allowed."""
    _check_reg_type(reg_type)
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    for i in range(X.shape[0]):
        scores = X[i] @ W
        probs = (scores - scores.max()).exp()
        probs = probs / probs.sum()
        loss = loss - probs[y[i]].log()
        probs[y[i]] -= 1
        dW += X[i][:, None] * probs[None, :]
    loss, dW = loss / X.shape[0], dW / X.shape[0]
    if reg_type == "l2":
        return loss + reg * torch.sum(W * W), dW + 2 * reg * W
    return loss + reg * torch.sum(W.abs()), dW + reg * torch.sign(W)
''',
}


def source() -> str:
    return (ASSIGNMENT.root / MODULE).read_text()


def released() -> str:
    """The untouched student version of the module, exactly as ``eecs498 release`` strips it."""
    return strip_solutions(source(), Path(MODULE).stem, str(ASSIGNMENT.root / MODULE))


def source_module():
    """The source solutions, imported here (trusted code)."""
    return import_file(ASSIGNMENT.root / MODULE, "a2_linear_source")


def saved(W: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save({"W": W.detach().cpu()}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def checkpoints() -> dict[str, bytes]:
    """svm_best_model.pt and softmax_best_model.pt trained with the source solutions on Fashion-MNIST."""
    return trained_a2_checkpoints(ASSIGNMENT, "fashion_mnist")


def complete_files(checkpoints) -> dict[str, str | bytes]:
    return {MODULE: source(), **checkpoints}


def mutant(checkpoints, replacements: dict[str, str]) -> dict[str, str | bytes]:
    return {**complete_files(checkpoints), MODULE: replace_functions(source(), replacements)}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory, checkpoints) -> Path:
    folder = tmp_path_factory.mktemp("a2_class")
    write_zip(folder / "ada_complete_a2_linear.zip", complete_files(checkpoints))
    write_folder(folder / "ben_untouched", {MODULE: released()})
    write_folder(folder / "cat_svm_no_reg_gradient", mutant(checkpoints, SVM_NO_REG_GRADIENT))
    write_folder(folder / "dan_bad_checkpoints", {MODULE: source(), "svm_best_model.pt": b"not a checkpoint"})
    write_zip(folder / "eve_loop.zip", mutant(checkpoints, SOFTMAX_WITH_LOOP))
    W = torch.zeros(784, 10)  # no bias row
    write_folder(folder / "fay_no_bias", {**complete_files(checkpoints), "svm_best_model.pt": saved(W)})
    return folder


@pytest.fixture(scope="module")
def class_grades(class_folder, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("a2_grades")
    grades = grade_class(ASSIGNMENT, class_folder, out, jobs=2, progress=False)
    return {g.student: g for g in grades}


def test_references_are_fresh():
    assert load_references(ASSIGNMENT), "no reference outputs recorded"


def test_test_names_are_unique_and_every_group_has_tests(class_grades):
    tests = class_grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in ASSIGNMENT.groups}
    assert MODEL_TESTS | SVM_GRADIENT_TESTS | {SOFTMAX_LOOP_TEST} <= set(names)


def test_checkpoints_reach_the_targets(checkpoints):
    """The checkpoints the complete submission uses really reach the toml targets (trusted side)."""
    from eecs498.data import preprocess_dataset

    data = preprocess_dataset("fashion_mnist", bias_trick=True)
    for filename, kind in (("svm_best_model.pt", "svm"), ("softmax_best_model.pt", "softmax")):
        W = torch.load(io.BytesIO(checkpoints[filename]), weights_only=True)["W"]
        accuracy = ((data["X_test"] @ W).argmax(1) == data["y_test"]).double().mean().item()
        assert accuracy >= ASSIGNMENT.targets["fashion_mnist"][f"{kind}_test"], (filename, accuracy)


def suite_module(filename: str):
    """A hidden-suite file, imported here to test its grader-side helpers."""
    return import_file(suite_dir("a2_linear") / filename, f"a2_suite_{Path(filename).stem}")


def test_suite_formulas_match_the_solutions():
    """The suite's float64 formulas (used for hints and rule checks) agree with the source solutions."""
    suite = suite_module("test_linear_classifier.py")
    module = source_module()
    for name in suite.LOSSES:
        for index, (_, (N, D, C), reg, reg_type) in enumerate(suite.CASES):
            W, X, y = suite.loss_case(5000 + index, N, D, C)
            loss, dW = getattr(module, name)(W, X, y, reg, reg_type or "l2")
            expected_loss, expected_dW = suite.formula(name, W, X, y, reg, reg_type or "l2")
            assert abs(loss.item() - expected_loss.item()) < 1e-10 * max(1.0, abs(expected_loss.item()))
            assert suite.rel_error(dW, expected_dW) < 1e-10


def test_complete_submission_scores_full_marks(tmp_path, checkpoints):
    zip_path = write_zip(tmp_path / "ada.zip", complete_files(checkpoints))
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
        if t.name in MODEL_TESTS:
            assert "missing" in t.message and t.name.split()[0] in t.message, (t.name, t.message)
        else:
            assert "not implemented" in t.message.lower(), (t.name, t.message)


def test_svm_gradient_without_regularization_loses_exactly_the_svm_gradient_tests(class_grades):
    failed = lost(class_grades["cat_svm_no_reg_gradient"])
    assert set(failed) == SVM_GRADIENT_TESTS
    for message in failed.values():
        assert "regularization term" in message and "dW" in message, message


def test_bad_checkpoints_lose_only_the_model_tests(class_grades):
    grade = class_grades["dan_bad_checkpoints"]
    failed = lost(grade)
    assert set(failed) == MODEL_TESTS
    assert "could not be read" in failed[sorted(MODEL_TESTS)[1]]  # svm_best_model.pt: corrupt
    assert "missing" in failed[sorted(MODEL_TESTS)[0]]  # softmax_best_model.pt: absent
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("trained_models").points)


def test_loop_in_vectorized_loss_loses_only_its_loop_rule(class_grades):
    failed = lost(class_grades["eve_loop"])
    assert set(failed) == {SOFTMAX_LOOP_TEST}
    assert "loop" in failed[SOFTMAX_LOOP_TEST] and "line" in failed[SOFTMAX_LOOP_TEST]


def test_checkpoint_without_bias_row_names_the_expected_shapes(class_grades):
    failed = lost(class_grades["fay_no_bias"])
    assert set(failed) == {"svm_best_model.pt reaches the target accuracy on the held-out test set"}
    message = next(iter(failed.values()))
    assert "(784, 10)" in message and "(785, 10)" in message and "(3073, 10)" in message and "bias" in message
