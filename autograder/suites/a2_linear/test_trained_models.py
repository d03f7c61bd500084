"""Hidden tests of the submitted checkpoints ``svm_best_model.pt`` and ``softmax_best_model.pt``.

Each checkpoint is read inside the sandbox (``student.checkpoint``: ``torch.load`` with
``weights_only=True``) and arrives here as plain data. Its weights are then evaluated here, in the
grader, on the held-out test split of the dataset they fit (``preprocess_dataset(name,
bias_trick=True)["X_test"]``), and the accuracy is compared with the target of
``assignment.toml``. No references are needed: the targets are thresholds. A missing dataset on
the grading machine is the staff's problem (GraderBug), never the student's.
"""
from __future__ import annotations


import pytest
import torch

from autograder.suite import GraderBug, GradingFailure
from autograder.suite_helpers import held_out_split
from eecs498.assignment import find_assignment

ASSIGNMENT = find_assignment("a2_linear")
# D + 1 (the bias trick's column of ones) -> dataset; every dataset has 10 classes.
DATASETS = {785: "fashion_mnist", 3073: "cifar10"}
NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
NUM_CLASSES = 10


def load_weights(student, filename: str) -> tuple[torch.Tensor, str]:
    """The checkpoint's ``W`` and the dataset it fits; GradingFailure naming what is wrong."""
    try:
        checkpoint = student.checkpoint(filename)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}; save your best classifier with "
                             f"`classifier.save('{filename}')` in the notebook and submit the file") from None
    expected = ("a dict {'W': W} with W a floating tensor of shape (785, 10) (Fashion-MNIST) or "
                "(3073, 10) (CIFAR-10), as written by LinearClassifier.save")
    if not isinstance(checkpoint, dict) or "W" not in checkpoint:
        raise GradingFailure(f"{filename} should hold {expected}; it holds something else")
    W = checkpoint["W"]
    if not isinstance(W, torch.Tensor) or not W.is_floating_point():
        raise GradingFailure(f"{filename}: 'W' should be a floating tensor; expected {expected}")
    shape = tuple(W.shape)
    if len(shape) != 2 or shape[0] not in DATASETS or shape[1] != NUM_CLASSES:
        raise GradingFailure(f"{filename}: 'W' has shape {shape}; expected {expected} — train on "
                             "preprocess_dataset(..., bias_trick=True) so that W includes the bias row")
    if not torch.isfinite(W).all():
        raise GradingFailure(f"{filename}: 'W' contains NaN or infinity")
    return W, DATASETS[shape[0]]


def check_model(student, expect, filename: str, kind: str) -> None:
    if expect.record:
        return  # references are recorded from the source modules alone; nothing to record here
    W, dataset = load_weights(student, filename)
    target = ASSIGNMENT.targets.get(dataset, {}).get(f"{kind}_test")
    if target is None:
        raise GraderBug(f"assignment.toml has no target {kind}_test for {dataset}")
    X_test, y_test = held_out_split(dataset, bias_trick=True)
    accuracy = (X_test @ W.to(torch.float32)).argmax(dim=1).eq(y_test).double().mean().item()
    if accuracy < target:
        raise GradingFailure(f"{filename} reaches {100 * accuracy:.2f}% accuracy on the {NAMES[dataset]} test "
                             f"set; the target is {100 * target:.0f}% — tune the learning rate and "
                             "regularization on the validation set, train longer, and save the best model")


@pytest.mark.group("trained_models")
def test_svm_best_model(student, expect):
    """svm_best_model.pt reaches the target accuracy on the held-out test set"""
    check_model(student, expect, "svm_best_model.pt", "svm")


@pytest.mark.group("trained_models")
def test_softmax_best_model(student, expect):
    """softmax_best_model.pt reaches the target accuracy on the held-out test set"""
    check_model(student, expect, "softmax_best_model.pt", "softmax")
