"""The grader's comparisons (autograder/suite.py): what the course's own code returns is read as it
means it, and a failure says what differs."""
from __future__ import annotations

import pytest
import torch

from autograder.suite import GradingFailure, check_tensor, check_value


@pytest.mark.parametrize("actual, expected", [
    (torch.tensor(7), 7),                       # sum_positive_entries returning a 0-dim tensor
    (torch.tensor(0.25, dtype=torch.float64), 0.25),
    (torch.tensor(True), True),
    (torch.tensor([0.5, 0.25]), [0.5, 0.25]),   # a tensor (a numpy array on the wire) where a list is expected
    (torch.tensor([1, 2]), (1, 2)),
    ({3: torch.tensor([1.0, 2.0])}, {3: [1.0, 2.0]}),
])
def test_tensors_holding_the_expected_plain_data_are_accepted(actual, expected):
    check_value(actual, expected, what="f()", tol=1e-6)


@pytest.mark.parametrize("actual, expected, words", [
    (torch.tensor(8), 7, "wrong number"),
    (torch.tensor([1.0, 2.0]), 3.0, "Python number"),
    (torch.tensor(2.0), 2, "Python int"),
    (torch.tensor([0.5]), [0.5, 0.25], "2 items"),
])
def test_tensors_holding_other_data_still_fail(actual, expected, words):
    with pytest.raises(GradingFailure, match=words):
        check_value(actual, expected, what="f()", tol=1e-6)


def test_a_dtype_failure_names_the_inputs_dtypes_and_devices():
    x = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(GradingFailure) as failure:
        check_tensor(torch.zeros(2, dtype=torch.float32), torch.zeros(2, dtype=torch.float64), what="f(x, y)",
                     inputs=(x, torch.zeros(2, dtype=torch.int64), "not a tensor"))
    assert str(failure.value) == ("f(x, y) returned dtype torch.float32; expected torch.float64 "
                                  "(its inputs: float64 on cpu, int64 on cpu)")
