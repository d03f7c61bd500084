"""The grader-side helpers hidden suites share (autograder/suite_helpers.py), on inputs made here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from autograder import suite_helpers
from autograder.suite import GradingFailure

A3 = Path(__file__).resolve().parent.parent / "assignments" / "a3_mlp"
TWO_LAYER, FC = "two_layer_net.py", "fully_connected_networks.py"


def source(module: str) -> str:
    return (A3 / module).read_text()


class _Source:
    """What ``banned_uses`` needs of a StudentCode: the text of a submitted file."""

    def __init__(self, text: str):
        self.text = text

    def source(self, filename: str) -> str:
        return self.text


def test_banned_uses_finds_torch_nn_and_autograd_only():
    text = '''
import torch
import torch.nn.functional as F
from torch.nn.functional import relu as r

def _helper(x):
    return F.softplus(x)

class Layer:
    @staticmethod
    def forward(x):
        return x.clamp(min=0), x
    @staticmethod
    def uses_helper(x):
        return _helper(x)
    @staticmethod
    def uses_alias(x):
        return r(x)
    @staticmethod
    def uses_autograd(x):
        x = x.detach().requires_grad_()
        (x * x).sum().backward()
        return x.grad
    @staticmethod
    def uses_keyword(x):
        return torch.zeros(3, requires_grad=True)
    @staticmethod
    def calls_other_class(x):
        return Other.forward(x)
    def uses_self(self, x):
        return self.uses_helper(x)

class Other:
    @staticmethod
    def forward(x):
        return torch.nn.functional.relu(x)
'''
    student = _Source(text)
    found = {name: [n for n, _ in suite_helpers.banned_uses(student, "m.py", name)] for name in (
        "Layer.forward", "Layer.uses_helper", "Layer.uses_alias", "Layer.uses_autograd", "Layer.uses_keyword",
        "Layer.calls_other_class", "Layer.uses_self", "Other.forward")}
    assert found["Layer.forward"] == [] and found["Layer.calls_other_class"] == []
    assert found["Layer.uses_helper"] == ["F"] and found["Layer.uses_self"] == ["F"]
    assert found["Layer.uses_alias"] == ["r"] and found["Layer.uses_keyword"] == ["requires_grad"]
    assert set(found["Layer.uses_autograd"]) == {"requires_grad_", "backward()"}
    assert "nn" in found["Other.forward"]
    for module in (TWO_LAYER, FC):  # the source solutions use nothing banned
        tree = suite_helpers._definitions(ast.parse(source(module)))
        for name in tree:
            assert suite_helpers.banned_uses(_Source(source(module)), module, name) == [], (module, name)




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
