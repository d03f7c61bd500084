"""a2_linear graded end to end: what its sample class's students lose and why, and the suite's
own pieces.

The sample class (autograder/suites/a2_linear/sample_class.py: mutants of the source solutions,
checkpoints trained with them on Fashion-MNIST) is graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps is in test_assignments.py. Each kind of submission
must lose exactly the points its defect deserves, with a message that says what to fix.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from autograder.suite import suite_dir
from eecs498.assignment import find_assignment
from helpers import import_file, lost

pytestmark = pytest.mark.xdist_group("a2_linear")

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


def source() -> str:
    return (ASSIGNMENT.root / MODULE).read_text()


def source_module():
    """The source solutions, imported here (trusted code)."""
    return import_file(ASSIGNMENT.root / MODULE, "a2_linear_source")


@pytest.fixture(scope="module")
def graded(sample_class):
    return sample_class("a2_linear")


@pytest.fixture(scope="module")
def class_grades(graded) -> dict:
    return graded.grades


@pytest.fixture(scope="module")
def checkpoints(graded) -> dict[str, bytes]:
    """svm_best_model.pt and softmax_best_model.pt trained with the source solutions on Fashion-MNIST."""
    return graded.kit.checkpoints


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


def test_svm_gradient_without_regularization_loses_exactly_the_svm_gradient_tests(class_grades):
    failed = lost(class_grades["cat_svm_no_reg_gradient"])
    assert set(failed) == SVM_GRADIENT_TESTS
    for message in failed.values():
        assert "regularization term" in message and "dW" in message, message


def test_bad_checkpoints_lose_only_the_model_tests(class_grades):
    grade = class_grades["fay_bad_checkpoints"]
    failed = lost(grade)
    assert set(failed) == MODEL_TESTS
    assert "could not be read" in failed[sorted(MODEL_TESTS)[1]]  # svm_best_model.pt: corrupt
    assert "missing" in failed[sorted(MODEL_TESTS)[0]]  # softmax_best_model.pt: absent
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("trained_models").points)


def test_loop_in_vectorized_loss_loses_only_its_loop_rule(class_grades):
    failed = lost(class_grades["gus_loop_in_vectorized"])
    assert set(failed) == {SOFTMAX_LOOP_TEST}
    assert "loop" in failed[SOFTMAX_LOOP_TEST] and "line" in failed[SOFTMAX_LOOP_TEST]


def test_checkpoint_without_bias_row_names_the_expected_shapes(class_grades):
    failed = lost(class_grades["hal_no_bias_row"])
    assert set(failed) == {"svm_best_model.pt reaches the target accuracy on the held-out test set"}
    message = next(iter(failed.values()))
    assert "(784, 10)" in message and "(785, 10)" in message and "(3073, 10)" in message and "bias" in message
