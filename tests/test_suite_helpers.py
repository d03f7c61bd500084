"""The grader-side helpers hidden suites share (autograder/suite_helpers.py), on inputs made here."""
from __future__ import annotations

import pytest
import torch

from autograder import suite_helpers
from autograder.suite import GradingFailure


@pytest.mark.parametrize("bias_trick", [False, True])
def test_held_out_split_is_the_test_split_preprocess_dataset_makes(bias_trick):
    """The grader's memory-light test split equals preprocess_dataset's, with and without the bias trick."""
    from eecs498.data import preprocess_dataset

    X, y = suite_helpers.held_out_split("fashion_mnist", bias_trick=bias_trick)
    data = preprocess_dataset("fashion_mnist", bias_trick=bias_trick)
    assert X.shape == data["X_test"].shape == (10000, 785 if bias_trick else 784)
    assert X.dtype == data["X_test"].dtype and torch.equal(y, data["y_test"])
    assert (X - data["X_test"]).abs().max().item() < 1e-6
    assert suite_helpers.held_out_split("fashion_mnist", bias_trick=bias_trick) is suite_helpers.held_out_split(
        "fashion_mnist", bias_trick=bias_trick)  # cached for the next student


def test_check_structure_names_what_is_wrong():
    ok = torch.zeros(2, 3)
    suite_helpers.check_structure(ok, (2, 3), torch.float32, "X")
    for actual, expected in ((None, "is None"), (torch.zeros(3, 2), "shape (3, 2)"),
                             (torch.zeros(2, 3, dtype=torch.float64), "dtype torch.float64"),
                             (torch.full((2, 3), float("nan")), "NaN")):
        with pytest.raises(GradingFailure, match=expected.replace("(", r"\(").replace(")", r"\)")):
            suite_helpers.check_structure(actual, (2, 3), torch.float32, "X")
