"""Numeric gradients and the relative error used by every gradient check in the course."""
from __future__ import annotations

import random
from typing import Callable

import torch


def rel_error(x: torch.Tensor | float, y: torch.Tensor | float, eps: float = 1e-10) -> float:
    """Relative error ``max|x - y| / max(|x| + |y|)`` of two tensors of the same shape.

    ``eps`` keeps the ratio finite when both are zero. Computed in float64 (a Python float is
    never rounded to float32 first). Returns a Python float.
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64, device=x.device)
    num = (x - y).abs().max()
    den = (x.abs() + y.abs()).clamp(min=eps).max()
    return (num / den).item()


def compute_numeric_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    dLdf: torch.Tensor | None = None,
    h: float = 1e-7,
) -> torch.Tensor:
    """Centered-difference gradient of ``L = sum(f(x) * dLdf)`` with respect to ``x``.

    Args:
        f: a function of one tensor; it may return a tensor of any shape (or a scalar).
        x: the input, any shape; modified in place while probing and restored afterwards.
        dLdf: upstream gradient with the shape of ``f(x)``; ones when ``None``.
        h: the step. Use float64 inputs: in float32 a step of 1e-7 is below the resolution.

    Returns:
        dx: a tensor with the shape, dtype and device of ``x``.
    """
    fx = f(x)
    if dLdf is None:
        dLdf = torch.ones_like(torch.as_tensor(fx))
    flat_x = x.view(-1) if x.is_contiguous() else None
    if flat_x is None:
        raise ValueError("compute_numeric_gradient needs a contiguous x (call .contiguous() first)")
    dx = torch.zeros_like(x)
    flat_dx = dx.view(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        pos = torch.as_tensor(f(x)).clone()
        flat_x[i] = old - h
        neg = torch.as_tensor(f(x)).clone()
        flat_x[i] = old
        flat_dx[i] = ((pos - neg) * dLdf).sum() / (2 * h)
    return dx


def grad_check_sparse(
    f: Callable[[torch.Tensor], torch.Tensor | float],
    x: torch.Tensor,
    analytic_grad: torch.Tensor,
    num_checks: int = 10,
    h: float = 1e-7,
) -> list[float]:
    """Compare ``analytic_grad`` with centered differences of scalar ``f`` at random entries of ``x``.

    Prints one line per checked entry (numeric, analytic, relative error) like the course helper,
    and returns the relative errors so a notebook can assert on them.
    """
    errors = []
    for _ in range(num_checks):
        ix = tuple(random.randrange(m) for m in x.shape)
        old = x[ix].item()
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = float(analytic_grad[ix])
        denom = abs(grad_numerical) + abs(grad_analytic)
        error = abs(grad_numerical - grad_analytic) / denom if denom > 0 else 0.0
        errors.append(error)
        print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {error:e}")
    return errors
