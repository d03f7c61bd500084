"""eecs498.grad: numeric gradients of functions whose gradients are known, and rel_error."""
from __future__ import annotations

import pytest
import torch

from eecs498 import reset_seed
from eecs498.grad import compute_numeric_gradient, grad_check_sparse, rel_error


@pytest.fixture(autouse=True)
def seeded():
    reset_seed(0)


def randn(*shape, device):
    return torch.randn(*shape, dtype=torch.float64, device=device)


def test_sum_of_squares(device):
    x = randn(3, 4, device=device)
    before = x.clone()
    grad = compute_numeric_gradient(lambda t: (t ** 2).sum(), x)
    assert grad.shape == x.shape and grad.dtype == x.dtype and grad.device == x.device
    assert rel_error(grad, 2 * x) < 1e-7
    assert torch.equal(x, before)  # probed in place, restored afterwards


def test_elementwise_sin_with_upstream_gradient(device):
    x, dLdf = randn(5, 2, device=device), randn(5, 2, device=device)
    assert rel_error(compute_numeric_gradient(torch.sin, x, dLdf), torch.cos(x) * dLdf) < 1e-7
    assert rel_error(compute_numeric_gradient(torch.sin, x), torch.cos(x)) < 1e-7  # dLdf = ones


def test_matmul_with_upstream_gradient(device):
    x, w, dLdf = randn(4, 3, device=device), randn(3, 5, device=device), randn(4, 5, device=device)
    assert rel_error(compute_numeric_gradient(lambda t: t @ w, x, dLdf), dLdf @ w.T) < 1e-7
    assert rel_error(compute_numeric_gradient(lambda t: x @ t, w, dLdf), x.T @ dLdf) < 1e-7


def test_numeric_gradient_needs_a_contiguous_input():
    with pytest.raises(ValueError, match="contiguous"):
        compute_numeric_gradient(lambda t: t.sum(), torch.zeros(3, 2, dtype=torch.float64).T)


@pytest.mark.parametrize("x, y, expected", [
    ([1.0, 2.0], [1.0, 2.0], 0.0),
    ([0.0, 0.0], [0.0, 0.0], 0.0),  # eps keeps 0/0 finite
    ([1.0, 2.0], [1.0, 3.0], 0.2),  # max|x-y| = 1 over max(|x|+|y|) = 5
    ([0.0], [3.0], 1.0),
    ([-1.0, 4.0], [1.0, 4.0], 0.25),  # 2 / 8
    (2.0, 2.5, 0.5 / 4.5),  # plain numbers
])
def test_rel_error(x, y, expected):
    assert rel_error(torch.tensor(x), torch.tensor(y)) == pytest.approx(expected)
    assert rel_error(torch.tensor(y), torch.tensor(x)) == pytest.approx(expected)
    assert isinstance(rel_error(x, y), float)


def test_grad_check_sparse_tells_right_from_wrong(capsys):
    W = torch.rand(10, 7, dtype=torch.float64) + 0.5  # away from 0, where a relative error is noise
    loss = lambda w: (w ** 2).sum().item()  # noqa: E731
    reset_seed(0)
    good = grad_check_sparse(loss, W, 2 * W, num_checks=6)
    lines = capsys.readouterr().out.splitlines()
    assert len(good) == 6 and max(good) < 1e-6
    assert len(lines) == 6 and all(line.startswith("numerical: ") and "relative error" in line for line in lines)

    reset_seed(0)
    bad = grad_check_sparse(loss, W, 3 * W, num_checks=6)
    assert min(bad) == pytest.approx(0.2, rel=1e-5)  # |2w - 3w| / (|2w| + |3w|)
    reset_seed(0)
    grad_check_sparse(loss, W, 2 * W, num_checks=6)
    assert capsys.readouterr().out.splitlines()[6:] == lines  # reproducible under reset_seed


def test_rel_error_of_a_float64_tensor_and_a_python_float_is_exact():
    value = 3.4702243556  # more digits than float32 holds
    assert rel_error(torch.tensor(value, dtype=torch.float64), value) == 0.0
    assert rel_error(torch.tensor([value], dtype=torch.float64), torch.tensor([value], dtype=torch.float64)) == 0.0
