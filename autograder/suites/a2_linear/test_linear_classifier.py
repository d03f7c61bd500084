"""Hidden tests of ``linear_classifier.py``: SVM and softmax losses, the loop rules, training, search.

Runs in the trusted grader: every input is made here from fixed seeds, the student's functions run
in the sandbox through ``student.call``, and outputs are compared with the references recorded
from the source solutions (or, for the random parts, judged by behaviour). Failure messages name
functions, shapes, dtypes and parameters, never hidden values.

The course's behaviour is tested the course's way: ``svm_loss_naive(W, X, y, reg)`` and the other
three losses with four positional arguments, L2 regularization, ``(loss, dW)`` back; the loss may
be a 0-dim tensor or a Python number (the course's docstrings say both), of any floating dtype.
This assignment's addition, the ``reg_type`` keyword (``'l1'``), has its own tests in its own
group (``l1_regularization``): a solution written to the course's starter code loses only those.

Loss values and gradients are separate tests, so a gradient bug costs only the gradient tests. A
gradient that differs from the reference by exactly a multiple of the regularization gradient
(``2 * reg * W`` or ``reg * sign(W)``) is named as such.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.source_rules import SourceView, check_loops
from autograder.suite import GraderBug, GradingFailure, check_tensor, rel_error
from autograder.suite_helpers import call, check_structure, dtype_name, gen, randint, randn

MODULE = "linear_classifier.py"
LOSSES = ("svm_loss_naive", "svm_loss_vectorized", "softmax_loss_naive", "softmax_loss_vectorized")

# ----------------------------------------------------------------------------------------------
# helpers (grader side)

# --- the course's formulas, in float64, used only to explain failures and to pick safe inputs --


def regularization(W: torch.Tensor, reg: float, reg_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(reg term of the loss, its gradient) in float64."""
    W = W.double()
    if reg_type == "l2":
        return reg * (W * W).sum(), 2 * reg * W
    if reg_type == "l1":
        return reg * W.abs().sum(), reg * W.sign()
    raise GraderBug(f"unknown reg_type {reg_type!r} in the suite")


def svm_data(W, X, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Multiclass SVM data loss (averaged over N, margin 1) and its gradient, float64."""
    W, X = W.double(), X.double()
    N = X.shape[0]
    scores = X @ W
    rows = torch.arange(N)
    margins = scores - scores[rows, y][:, None] + 1
    margins[rows, y] = 0
    positive = (margins > 0).double()
    positive[rows, y] = -positive.sum(dim=1)
    return margins.clamp(min=0).sum() / N, X.t() @ positive / N


def softmax_data(W, X, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy data loss (averaged over N) and its gradient, float64."""
    W, X = W.double(), X.double()
    N = X.shape[0]
    log_probs = torch.log_softmax(X @ W, dim=1)
    rows = torch.arange(N)
    probs = log_probs.exp()
    probs[rows, y] -= 1
    return -log_probs[rows, y].mean(), X.t() @ probs / N


def formula(name: str, W, X, y, reg: float, reg_type: str = "l2") -> tuple[torch.Tensor, torch.Tensor]:
    data = svm_data if name.startswith("svm") else softmax_data
    loss, dW = data(W, X, y)
    reg_loss, reg_grad = regularization(W, reg, reg_type)
    return loss + reg_loss, dW + reg_grad


def svm_margins_clear(W, X, y, gap: float) -> bool:
    """No SVM margin (j != y_i) within ``gap`` of its kink: float32 and float64 then agree on the gradient."""
    scores = X.double() @ W.double()
    rows = torch.arange(X.shape[0])
    margins = scores - scores[rows, y][:, None] + 1
    margins[rows, y] = 10.0
    return bool(margins.abs().min() > gap)


def loss_case(seed: int, N: int, D: int, C: int, dtype=torch.float64):
    """(W, X, y) from ``seed`` whose SVM margins and weights stay clear of the kinks of the loss."""
    for attempt in range(200):
        s = seed + 1000 * attempt
        W = randn(s, D, C) / math.sqrt(D)
        X = randn(s + 1, N, D)
        y = randint(s + 2, C, N)
        if svm_margins_clear(W, X, y, 1e-3) and bool(W.abs().min() > 2 * NUMERIC_STEP):
            return W.to(dtype), X.to(dtype), y
    raise GraderBug("loss_case: no input clear of the kinks of the SVM loss")


# Course cases: (description, (N, D, C), reg), called f(W, X, y, reg). Several shapes and
# strengths, including 0.
CASES = [
    ("a batch of 12 examples", (12, 7, 4), 0.1),
    ("a single example (N=1)", (1, 5, 3), 0.5),
    ("two classes (C=2)", (9, 6, 2), 0.05),
    ("a larger D", (20, 64, 5), 1.0),
    ("no regularization", (10, 8, 3), 0.0),
    ("a batch of 11 examples", (11, 9, 5), 0.25),
]
FLOAT32_CASES = [
    ("a batch of 16 examples", (16, 10, 4), 0.1),
    ("a single example (N=1)", (1, 12, 3), 0.3),
    ("a larger D", (10, 100, 6), 0.01),
]
# The reg_type keyword (this assignment's addition): (description, (N, D, C), reg, reg_type).
L1_CASES = [
    ("two classes (C=2)", (9, 6, 2), 0.05, "l1"),
    ("a larger D", (20, 64, 5), 1.0, "l1"),
    ("no regularization", (8, 6, 4), 0.0, "l1"),
    ("a single example (N=1)", (1, 12, 3), 0.3, "l1"),
    ("reg_type='l2' given explicitly", (12, 7, 4), 0.1, "l2"),
]


def describe_call(name: str, reg: float, reg_type: str | None, W: torch.Tensor, X: torch.Tensor,
                  description: str) -> str:
    kind = "" if reg_type is None else f", reg_type='{reg_type}'"
    return (f"{name}(W, X, y, {reg}{kind}) with {description}: {dtype_name(W.dtype)} W {tuple(W.shape)} "
            f"and X {tuple(X.shape)}")


REG_TYPE_HINT = ("; reg_type is this assignment's addition to the course's signature: "
                 "def {name}(W, X, y, reg, reg_type='l2'), where 'l2' keeps the course's loss")


def run_loss(student, name: str, W, X, y, reg: float, reg_type: str | None, what: str):
    """(loss, dW) from the student's function called the course's way (``reg_type`` None) or
    with the keyword; the loss as a float64 0-dim tensor of its value (a Python number or any
    one-element tensor is read as that number), dW as returned."""
    kwargs = {} if reg_type is None else {"reg_type": reg_type}
    try:
        result = student.call(f"linear_classifier.{name}", W, X, y, reg, **kwargs)
    except GradingFailure as failure:
        text = str(failure)
        hint = REG_TYPE_HINT.format(name=name) if reg_type is not None and "reg_type" in text else ""
        raise GradingFailure(f"{text} (when called as {what}){hint}") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (loss, dW)")
    loss, dW = result
    return loss_number(loss, what), dW


def loss_number(loss, what: str) -> torch.Tensor:
    """The loss as a float64 0-dim tensor; GradingFailure when it is not one number on the CPU."""
    if isinstance(loss, (int, float)) and not isinstance(loss, bool):
        return torch.tensor(float(loss), dtype=torch.float64)
    if isinstance(loss, torch.Tensor) and loss.numel() == 1 and (loss.is_floating_point()):
        device = getattr(loss, "eecs498_device", "cpu")
        if device.split(":")[0] != "cpu":
            raise GradingFailure(f"the loss of {what} is on {device}; expected it on cpu like its inputs "
                                 "(don't move data between devices)")
        return loss.detach().double().reshape(())
    kind = (f"a {loss.dtype} tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor)
            else "None" if loss is None else f"a {type(loss).__name__}")
    raise GradingFailure(f"the loss of {what} should be a single number (a 0-dimensional tensor), not {kind}")


def explain_loss(actual: torch.Tensor, W, X, y, name: str, reg: float, reg_type: str) -> str:
    """A hint when the loss is off by exactly a multiple of the regularization term."""
    if reg == 0:
        return ""
    data = (svm_data if name.startswith("svm") else softmax_data)(W, X, y)[0]
    reg_loss, _ = regularization(W, reg, reg_type)
    if reg_loss.abs() < 1e-12:
        return ""
    k = ((actual - data) / reg_loss).item()
    if math.isfinite(k) and abs(k - 1) > 1e-3 and abs(k - round(k * 2) / 2) < 1e-4:
        term = "reg * sum(W * W)" if reg_type == "l2" else "reg * sum(|W|)"
        return (f"; the loss is missing (or has a wrong) regularization term: with {reg_type.upper()} "
                f"regularization add {term} once to the average data loss")
    return ""


def explain_gradient(actual, expected: torch.Tensor, W, reg: float, reg_type: str) -> str:
    """A hint when dW differs from ``expected`` by exactly a multiple of the regularization gradient."""
    if (not isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(expected.shape)
            or not actual.is_floating_point() or reg == 0 or not torch.isfinite(actual).all()):
        return ""
    _, reg_grad = regularization(W, reg, reg_type)
    diff = expected.double() - actual.double()
    norm = (reg_grad * reg_grad).sum()
    if norm < 1e-20:
        return ""
    k = ((diff * reg_grad).sum() / norm).item()
    residual = rel_error(diff, k * reg_grad) if diff.abs().max() > 0 else 1.0
    scale = (expected.double().abs() + actual.double().abs()).max().item()
    if abs(k) > 1e-3 and (diff - k * reg_grad).abs().max().item() <= 1e-4 * max(scale, 1e-12) and residual < 1e-3:
        hint = "2 * reg * W" if reg_type == "l2" else "reg * sign(W)"
        return (f"; the gradient is missing (or has a wrong) regularization term: with {reg_type.upper()} "
                f"regularization dW must include {hint}")
    return ""


def floating_dtype(actual):
    """The dtype to hold ``actual`` to: its own when it is a floating tensor (the course checks
    values, not dtypes), else None (the reference's, so that the failure names it)."""
    return actual.dtype if isinstance(actual, torch.Tensor) and actual.is_floating_point() else None


def expect_loss(expect, key: str, loss: torch.Tensor, W, X, y, name, reg, reg_type, what: str, tol: float) -> None:
    reference = expect.reference(key, loss)
    try:
        check_tensor(loss, reference.double().reshape(()), what=f"the loss of {what}", tol=tol)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}{explain_loss(loss, W, X, y, name, reg, reg_type or 'l2')}") from None


def expect_gradient(expect, key: str, dW, W, reg, reg_type, what: str, tol: float) -> None:
    try:
        expect.tensor(key, dW, what=f"dW of {what}", tol=tol, device="cpu", dtype=floating_dtype(dW),
                      inputs=(W,))
    except GradingFailure as failure:
        reference = expect.references.get(f"{expect.test_id}::{key}")
        hint = explain_gradient(dW, reference, W, reg, reg_type or "l2") if isinstance(reference, torch.Tensor) else ""
        raise GradingFailure(f"{failure}{hint}") from None


def check_loss_values(student, expect, name: str, cases, dtype, tol: float, seed: int) -> None:
    """Each case: ``(description, shape, reg)`` called the course's way, or ``(..., reg_type)``."""
    for index, (description, (N, D, C), reg, *reg_type) in enumerate(cases):
        reg_type = reg_type[0] if reg_type else None
        W, X, y = loss_case(seed + 10 * index, N, D, C, dtype)
        what = describe_call(name, reg, reg_type, W, X, description)
        loss, _ = run_loss(student, name, W, X, y, reg, reg_type, what)
        expect_loss(expect, f"case{index}", loss, W, X, y, name, reg, reg_type, what, tol)


def check_gradients(student, expect, name: str, cases, dtype, tol: float, seed: int) -> None:
    for index, (description, (N, D, C), reg, *reg_type) in enumerate(cases):
        reg_type = reg_type[0] if reg_type else None
        W, X, y = loss_case(seed + 10 * index, N, D, C, dtype)
        what = describe_call(name, reg, reg_type, W, X, description)
        _, dW = run_loss(student, name, W, X, y, reg, reg_type, what)
        expect_gradient(expect, f"case{index}", dW, W, reg, reg_type, what, tol)


def noncontiguous_case(seed: int):
    """A transposed W, every other row of X and every other label: what slicing a dataset gives."""
    W, X, y = loss_case(seed, 14, 6, 3)
    W_t = W.t().contiguous().t()            # (6, 3), column-major
    X_big = torch.zeros(28, 6, dtype=X.dtype)
    X_big[::2] = X
    y_big = torch.zeros(28, dtype=torch.int64)
    y_big[::2] = y
    X_s, y_s = X_big[::2], y_big[::2]
    assert not (W_t.is_contiguous() or X_s.is_contiguous() or y_s.is_contiguous())
    return W_t, X_s, y_s


NONCONTIGUOUS = "a transposed W, a row-strided X and a strided y"


def check_noncontiguous(student, expect, name: str, seed: int, gradient: bool) -> None:
    W, X, y = noncontiguous_case(seed)
    what = describe_call(name, 0.2, None, W, X, NONCONTIGUOUS)
    hint = " — use reshape or index, which work on any tensor, rather than view"
    try:
        loss, dW = run_loss(student, name, W, X, y, 0.2, None, what)
    except GradingFailure as failure:
        text = str(failure)
        raise GradingFailure(text + (hint if "view" in text else "")) from None
    if gradient:
        expect_gradient(expect, "dW", dW, W, 0.2, None, what, 1e-9)
    else:
        expect_loss(expect, "loss", loss, W, X, y, name, 0.2, None, what, 1e-9)


NUMERIC_CASES = {  # reg_type (None: the course's call) -> [((N, D, C), reg), ...]
    None: [((6, 4, 3), 0.3), ((5, 3, 4), 0.0)],
    "l1": [((5, 3, 4), 0.2), ((4, 5, 2), 0.5)],
}
NUMERIC_STEP = 1e-5


def require_loss(student, name: str, W, X, y, reg: float, reg_type: str | None, what: str, rule: str):
    """(loss, dW) of a call whose loss must be right (float64, against the suite's formula) before
    ``rule`` (a gradient check, a source rule) can earn its points: no points for work not done."""
    try:
        loss, dW = run_loss(student, name, W, X, y, reg, reg_type, what)
        expected = formula(name, W, X, y, reg, reg_type or "l2")[0]
        check_tensor(loss, expected, what=f"the loss of {what}", tol=1e-8)
    except GradingFailure as failure:
        raise GradingFailure(f"{rule} is checked only once {name} computes the right loss, and it does "
                             f"not yet: {failure}") from None
    return loss, dW


def check_numeric_gradient(student, name: str, seed: int, reg_type: str | None) -> None:
    """dW against the centered-difference gradient of the student's own loss (float64, every entry),
    once the loss itself is right."""
    for index, ((N, D, C), reg) in enumerate(NUMERIC_CASES[reg_type]):
        W, X, y = loss_case(seed + 10 * index, N, D, C)
        what = describe_call(name, reg, reg_type, W, X, f"{N} examples")
        # The suite's own formula must be smooth around W at this step, or the case is a bad one.
        own = torch.zeros_like(W)
        for i in range(D):
            for j in range(C):
                plus, minus = W.clone(), W.clone()
                plus[i, j] += NUMERIC_STEP
                minus[i, j] -= NUMERIC_STEP
                own[i, j] = (formula(name, plus, X, y, reg, reg_type or "l2")[0]
                             - formula(name, minus, X, y, reg, reg_type or "l2")[0]) / (2 * NUMERIC_STEP)
        if rel_error(own, formula(name, W, X, y, reg, reg_type or "l2")[1]) > 1e-7:
            raise GraderBug(f"numeric gradient case {index} of {name} is too close to a kink")
        _, dW = require_loss(student, name, W, X, y, reg, reg_type, what, "the numeric gradient check")
        if not isinstance(dW, torch.Tensor) or tuple(dW.shape) != tuple(W.shape) or not dW.is_floating_point():
            kind = (f"a {dW.dtype} tensor of shape {tuple(dW.shape)}" if isinstance(dW, torch.Tensor)
                    else "None" if dW is None else f"a {type(dW).__name__}")
            raise GradingFailure(f"dW of {what} should be a floating tensor of the shape of W {tuple(W.shape)}, "
                                 f"not {kind}")
        numeric = torch.zeros_like(W)
        for i in range(D):
            for j in range(C):
                values = []
                for sign in (1, -1):
                    moved = W.clone()
                    moved[i, j] += sign * NUMERIC_STEP
                    value, _ = run_loss(student, name, moved, X, y, reg, reg_type, what)
                    values.append(value)
                numeric[i, j] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
        error = rel_error(dW, numeric)
        if not error <= 1e-6:
            hint = explain_gradient(dW, numeric, W, reg, reg_type or "l2")
            raise GradingFailure(f"dW of {what} is not the gradient of the loss it returns: it differs from the "
                                 f"centered-difference numeric gradient of that loss (relative error "
                                 f"{error:.1e} > 1e-06){hint}")


def check_unknown_reg_type(student, name: str) -> None:
    W, X, y = loss_case(60, 5, 4, 3)
    require_loss(student, name, W, X, y, 0.1, "l1", describe_call(name, 0.1, "l1", W, X, "5 examples"),
                 "the refusal of an unknown reg_type")
    what = f"{name}(W, X, y, 0.1, reg_type='l3')"
    try:
        student.call(f"linear_classifier.{name}", W, X, y, 0.1, reg_type="l3")
    except GradingFailure as failure:
        text = str(failure)
        if "raised ValueError" in text:
            return
        if "not implemented" in text.lower():
            raise GradingFailure(f"{text} (when called as {what})") from None
        raise GradingFailure(f"{what} should raise ValueError for a reg_type other than 'l2' or 'l1', "
                             f"but it failed differently: {text}") from None
    raise GradingFailure(f"{what} should raise ValueError for a reg_type other than 'l2' or 'l1', "
                         "but it returned a value")


# ----------------------------------------------------------------------------------------------
# svm_loss and softmax_loss: one set of tests per function, the course's call; the reg_type
# keyword in the l1_regularization group


def _make_loss_tests(name: str, group: str, seed: int):
    @pytest.mark.group(group)
    def test_value(student, expect):
        check_loss_values(student, expect, name, CASES, torch.float64, 1e-9, seed)

    @pytest.mark.group(group)
    def test_value_float32(student, expect):
        check_loss_values(student, expect, name, FLOAT32_CASES, torch.float32, 1e-5, seed + 100)

    @pytest.mark.group(group)
    def test_gradient(student, expect):
        check_gradients(student, expect, name, CASES, torch.float64, 1e-9, seed)

    @pytest.mark.group(group)
    def test_gradient_float32(student, expect):
        check_gradients(student, expect, name, FLOAT32_CASES, torch.float32, 1e-5, seed + 100)

    @pytest.mark.group(group)
    def test_numeric_gradient(student):
        check_numeric_gradient(student, name, seed + 200, None)

    @pytest.mark.group(group)
    def test_noncontiguous_value(student, expect):
        check_noncontiguous(student, expect, name, seed + 300, gradient=False)

    @pytest.mark.group(group)
    def test_noncontiguous_gradient(student, expect):
        check_noncontiguous(student, expect, name, seed + 300, gradient=True)

    @pytest.mark.group("l1_regularization")
    def test_l1_value(student, expect):
        check_loss_values(student, expect, name, L1_CASES, torch.float64, 1e-9, seed + 400)

    @pytest.mark.group("l1_regularization")
    def test_l1_gradient(student, expect):
        check_gradients(student, expect, name, L1_CASES, torch.float64, 1e-9, seed + 400)

    @pytest.mark.group("l1_regularization")
    def test_l1_numeric_gradient(student):
        check_numeric_gradient(student, name, seed + 500, "l1")

    @pytest.mark.group("l1_regularization")
    def test_unknown_reg_type(student):
        check_unknown_reg_type(student, name)

    docs = {
        test_value: f"{name}(W, X, y, reg): loss, several shapes and strengths (incl. 0), float64",
        test_value_float32: f"{name}(W, X, y, reg): loss of float32 inputs, to float32 precision",
        test_gradient: f"{name}(W, X, y, reg): dW, several shapes and strengths (incl. 0), float64",
        test_gradient_float32: f"{name}(W, X, y, reg): dW of float32 inputs, to float32 precision",
        test_numeric_gradient: f"{name}(W, X, y, reg): dW is the gradient of the loss (numeric gradient check)",
        test_noncontiguous_value: f"{name}: loss on non-contiguous inputs (transposed W, strided X and y)",
        test_noncontiguous_gradient: f"{name}: dW on non-contiguous inputs (transposed W, strided X and y)",
        test_l1_value: f"{name}(..., reg_type='l1'): loss with L1 regularization (and reg_type='l2' given explicitly)",
        test_l1_gradient: f"{name}(..., reg_type='l1'): dW with L1 regularization (and reg_type='l2' given explicitly)",
        test_l1_numeric_gradient: f"{name}(..., reg_type='l1'): dW is the gradient of the loss (numeric gradient check)",
        test_unknown_reg_type: f"{name}: an unknown reg_type raises ValueError",
    }
    tests = {}
    for function, doc in docs.items():
        function.__doc__ = doc
        suffix = function.__name__.removeprefix("test_")
        function.__name__ = function.__qualname__ = f"test_{name}_{suffix}"
        tests[function.__name__] = function
    return tests


for _index, _name in enumerate(LOSSES):
    globals().update(_make_loss_tests(_name, "svm_loss" if _name.startswith("svm") else "softmax_loss",
                                      1000 * (_index + 1)))
del _index, _name


# ----------------------------------------------------------------------------------------------
# loop_rules: judged from the submitted source (autograder.source_rules), once the function
# computes the right loss


def require_working(student, name: str) -> None:
    """A rule test earns its points only once the function returns the right loss (float64, the course's call)."""
    W, X, y = loss_case(70, 7, 5, 3)
    require_loss(student, name, W, X, y, 0.1, None, describe_call(name, 0.1, None, W, X, "7 examples"), "this rule")


def check_naive_loops(student, name: str) -> None:
    require_working(student, name)
    if not SourceView.of(student, MODULE).loops(name):
        raise GradingFailure(f"{name} is the naive version: compute the loss and gradient with an explicit "
                             "Python loop over the training examples, but it has no loop (the loop-free "
                             f"version belongs in {name.replace('naive', 'vectorized')})")


def check_vectorized_no_loops(student, name: str) -> None:
    require_working(student, name)
    check_loops(student, MODULE, name, most=0,
                instead="compute the scores of all examples with one matrix multiply and use indexing and "
                        "broadcasting for the rest")


@pytest.mark.group("loop_rules")
def test_svm_loss_naive_loops_over_examples(student):
    """svm_loss_naive loops over the training examples"""
    check_naive_loops(student, "svm_loss_naive")


@pytest.mark.group("loop_rules")
def test_svm_loss_vectorized_has_no_loop(student):
    """svm_loss_vectorized uses no Python loop or comprehension"""
    check_vectorized_no_loops(student, "svm_loss_vectorized")


@pytest.mark.group("loop_rules")
def test_softmax_loss_naive_loops_over_examples(student):
    """softmax_loss_naive loops over the training examples"""
    check_naive_loops(student, "softmax_loss_naive")


@pytest.mark.group("loop_rules")
def test_softmax_loss_vectorized_has_no_loop(student):
    """softmax_loss_vectorized uses no Python loop or comprehension"""
    check_vectorized_no_loops(student, "softmax_loss_vectorized")


# ----------------------------------------------------------------------------------------------
# training: sample_batch, train_linear_classifier (through the given classes), predict


def distinct_rows(seed: int, N: int, D: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    X = randn(seed, N, D, dtype=dtype)
    X[:, 0] = torch.arange(N, dtype=dtype)  # every row differs from every other
    return X, randint(seed + 1, 10, N)


def sampled_indices(X: torch.Tensor, y: torch.Tensor, result, num_train: int, batch_size: int,
                    what: str) -> torch.Tensor:
    """The rows of ``X`` that ``sample_batch`` returned; GradingFailure for anything else."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (X_batch, y_batch)")
    X_batch, y_batch = result
    check_structure(X_batch, (batch_size, X.shape[1]), X.dtype, f"X_batch of {what}")
    check_structure(y_batch, (batch_size,), y.dtype, f"y_batch of {what}")
    matches = (X_batch[:, None, :] == X[None, :, :]).all(dim=2)  # (batch_size, N)
    if not matches.any(dim=1).all():
        raise GradingFailure(f"X_batch of {what} holds rows that are not rows of X: index X with the "
                             "sampled indices, don't build new examples")
    indices = matches.int().argmax(dim=1)
    if (indices >= num_train).any():
        raise GradingFailure(f"X_batch of {what} holds rows beyond the first num_train rows of X")
    if not torch.equal(y_batch, y[indices]):
        raise GradingFailure(f"y_batch of {what} does not hold the labels of the rows in X_batch: index X "
                             "and y with the same indices")
    return indices


@pytest.mark.group("training")
def test_sample_batch_rows_and_labels(student):
    """sample_batch returns batch_size rows of X with their labels (float32 and float64, shapes, dtypes)"""
    cases = [(torch.float32, 40, 7, 16), (torch.float64, 25, 3, 25), (torch.float32, 30, 5, 1)]
    for index, (dtype, N, D, batch_size) in enumerate(cases):
        X, y = distinct_rows(800 + index, N, D, dtype)
        what = (f"sample_batch(X, y, num_train={N}, batch_size={batch_size}) with {dtype_name(dtype)} X {(N, D)}")
        result = call(student, "linear_classifier.sample_batch", X, y, N, batch_size, context=f"as {what}")
        sampled_indices(X, y, result, N, batch_size, what)


@pytest.mark.group("training")
def test_sample_batch_random_with_replacement(student):
    """sample_batch draws random examples with replacement (every example can be drawn; a batch may repeat one)"""
    X, y = distinct_rows(810, 8, 4, torch.float32)
    seen, batches, repeats = set(), [], 0
    what = "sample_batch(X, y, num_train=8, batch_size=6) with float32 X (8, 4)"
    for _ in range(15):
        result = call(student, "linear_classifier.sample_batch", X, y, 8, 6, context=f"as {what}")
        indices = sampled_indices(X, y, result, 8, 6, what)
        seen |= set(indices.tolist())
        batches.append(tuple(indices.tolist()))
        repeats += indices.unique().numel() < 6
    if len(set(batches)) == 1:
        raise GradingFailure(f"{what} returned the same batch in 15 calls: draw the indices at random "
                             "(torch.randint) in every call")
    if len(seen) < 8:
        raise GradingFailure(f"{what}: in 15 calls some examples were never drawn; draw indices uniformly "
                             "from all num_train examples")
    if repeats == 0:
        raise GradingFailure(f"{what} never repeated an example within a batch in 15 calls: sample WITH "
                             "replacement (torch.randint), not a permutation")
    X_small, y_small = distinct_rows(811, 5, 4, torch.float64)
    what = "sample_batch(X, y, num_train=5, batch_size=12) with float64 X (5, 4)"
    result = call(student, "linear_classifier.sample_batch", X_small, y_small, 5, 12, context=f"as {what}")
    sampled_indices(X_small, y_small, result, 5, 12, what)


def train(student, classifier: str, X, y, context: str, **kwargs) -> list:
    """``<classifier>().train(X, y, **kwargs)`` in the sandbox: the loss history of train_linear_classifier."""
    history = call(student, f"linear_classifier.{classifier}", chain=[("call", "train", (X, y), kwargs)],
                   context=context)
    what = f"train_linear_classifier (through {classifier}().train) {context}"
    num_iters = kwargs["num_iters"]
    if not isinstance(history, (list, tuple)) or len(history) != num_iters:
        count = f"{len(history)} items" if isinstance(history, (list, tuple)) else type(history).__name__
        raise GradingFailure(f"{what} should return a loss history of num_iters={num_iters} losses, "
                             f"one per iteration, but returned {count}")
    values = []
    for value in history:
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
            value = value.item()  # a one-element tensor is read as its number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GradingFailure(f"{what}: the loss history should hold Python floats (use loss.item()), "
                                 f"not {type(value).__name__}")
        values.append(float(value))
    if not all(math.isfinite(v) for v in values):
        raise GradingFailure(f"{what}: the loss history contains NaN or infinity")
    return values


def toy_problem(seed: int, N: int, D: int, C: int):
    """Linearly separable classes with a bias column, float32 (what the notebook trains on)."""
    generator = gen(seed)
    centers = 3 * torch.randn(C, D - 1, generator=generator)
    y = torch.arange(N) % C
    X = centers[y] + torch.randn(N, D - 1, generator=generator)
    return torch.cat([X, torch.ones(N, 1)], dim=1), y


@pytest.mark.group("training")
def test_train_initial_loss_and_history(student):
    """train_linear_classifier starts from small random weights with C = y.max() + 1 and returns one loss per iteration"""
    X, y = toy_problem(820, 60, 6, 5)
    # Starting from W ~ 0, every SVM margin is 1: the first batch loss is C - 1; softmax's is log(C).
    for classifier, first in (("LinearSVM", 4.0), ("Softmax", math.log(5))):
        context = "with X (60, 6), labels 0..4, learning_rate=1e-3, reg=1e-4, num_iters=7, batch_size=20"
        history = train(student, classifier, X, y, context, learning_rate=1e-3, reg=1e-4, num_iters=7,
                        batch_size=20)
        if abs(history[0] - first) > 1e-3:
            raise GradingFailure(f"train_linear_classifier (through {classifier}().train) {context}: the first "
                                 "loss is not the one of nearly-zero weights with C = y.max() + 1 classes; "
                                 "when W is None, start from 0.000001 * randn(D, C) with C = y.max() + 1")


@pytest.mark.group("training")
def test_train_decreases_loss(student):
    """train_linear_classifier lowers the loss of a linear SVM and a softmax classifier on separable toy data"""
    X, y = toy_problem(830, 300, 11, 4)
    for classifier in ("LinearSVM", "Softmax"):
        context = "with separable X (300, 11), 4 classes, learning_rate=1e-2, reg=1e-4, num_iters=200, batch_size=50"
        history = train(student, classifier, X, y, context, learning_rate=1e-2, reg=1e-4, num_iters=200,
                        batch_size=50)
        start, end = sum(history[:10]) / 10, sum(history[-10:]) / 10
        if not end < 0.25 * start:
            raise GradingFailure(f"train_linear_classifier (through {classifier}().train) {context}: the loss "
                                 "did not drop to a quarter of its start; step against the gradient, "
                                 "W = W - learning_rate * grad, once per iteration, on a new batch")


def softmax_trajectory(X, y, learning_rate: float, reg: float, num_iters: int) -> list[float]:
    """Batch losses of SGD on the softmax loss from W = 0, float64 (grader side)."""
    W = torch.zeros(X.shape[1], int(y.max()) + 1, dtype=torch.float64)
    history = []
    for _ in range(num_iters):
        loss, dW = formula("softmax", W, X, y, reg, "l2")
        history.append(loss.item())
        W = W - learning_rate * dW
    return history


@pytest.mark.group("training")
def test_train_sgd_steps(student):
    """train_linear_classifier takes one step W = W - learning_rate * dW per iteration with the given reg"""
    # Every example is the same: any batch gives the same loss, so the history is deterministic.
    X = randn(840, 1, 6).expand(29, 6).clone()
    y = torch.full((29,), 2, dtype=torch.int64)  # C = y.max() + 1 = 3
    kwargs = dict(learning_rate=0.05, reg=0.1, num_iters=12, batch_size=7)
    context = "with 29 copies of one example (X float64 (29, 6), label 2), learning_rate=0.05, reg=0.1, num_iters=12"
    history = train(student, "Softmax", X, y, context, **kwargs)
    expected = softmax_trajectory(X, y, 0.05, 0.1, 12)
    error = max(abs(a - b) / max(abs(b), 1e-3) for a, b in zip(history, expected))
    if error > 1e-4:
        raise GradingFailure(f"train_linear_classifier (through Softmax().train) {context}: the losses are "
                             "not those of SGD steps W = W - learning_rate * grad with "
                             "loss, grad = loss_func(W, X_batch, y_batch, reg)")


PREDICT_CASES = [  # (description, dtype, N, D, C)
    ("float64 inputs", torch.float64, 15, 6, 4),
    ("float32 inputs with a bias column", torch.float32, 12, 785, 10),
    ("a single example", torch.float64, 1, 5, 3),
]


def clear_scores(W, X) -> bool:
    top = (X.double() @ W.double()).topk(min(2, W.shape[1]), dim=1).values
    return W.shape[1] < 2 or bool((top[:, 0] - top[:, 1]).min() > 1e-4)


@pytest.mark.group("training")
def test_predict_linear_classifier(student, expect):
    """predict_linear_classifier returns the int64 class of the highest score for each example"""
    for index, (description, dtype, N, D, C) in enumerate(PREDICT_CASES):
        for attempt in range(100):
            W = randn(850 + index + 10 * attempt, D, C, dtype=dtype)
            X = randn(860 + index + 10 * attempt, N, D, dtype=dtype)
            if clear_scores(W, X):
                break
        else:
            raise GraderBug("test_predict_linear_classifier: no tie-free case")
        what = f"predict_linear_classifier(W, X) with {description}: W {tuple(W.shape)}, X {tuple(X.shape)}"
        labels = call(student, "linear_classifier.predict_linear_classifier", W, X, context=f"with {description}")
        expect.tensor(f"case{index}", labels, what=what, exact=True, device="cpu")


@pytest.mark.group("training")
def test_predict_linear_classifier_noncontiguous(student, expect):
    """predict_linear_classifier works on a transposed W and a row-strided X"""
    W = randn(870, 4, 7).t()  # (7, 4) view
    X = randn(871, 20, 7)[::2]
    if not clear_scores(W, X):
        raise GraderBug("test_predict_linear_classifier_noncontiguous: tied scores")
    what = f"predict_linear_classifier(W, X) with a transposed W {tuple(W.shape)} and a row-strided X {tuple(X.shape)}"
    labels = call(student, "linear_classifier.predict_linear_classifier", W, X,
                  context="with a transposed W and a row-strided X")
    expect.tensor("labels", labels, what=what, exact=True, device="cpu")


# ----------------------------------------------------------------------------------------------
# search: the hyperparameters students chose


def search_values(values) -> list | None:
    """A list of candidates as the course's notebook iterates it: a list or tuple of numbers, or a
    1-dim tensor (a numpy array arrives as one; numpy scalars arrive as numbers); None otherwise."""
    if isinstance(values, torch.Tensor):
        return values.tolist() if values.dim() == 1 and not values.dtype == torch.bool else None
    if isinstance(values, (list, tuple)):
        return [v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in values]
    return None


def check_search_params(student, name: str) -> None:
    result = call(student, f"linear_classifier.{name}", context="with no arguments")
    what = f"{name}()"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (learning_rates, regularization_strengths)")
    for label, values in zip(("learning_rates", "regularization_strengths"), result):
        values = search_values(values)
        if not values:
            raise GradingFailure(f"{what}: {label} should be a non-empty list of Python floats")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise GradingFailure(f"{what}: {label} should hold Python floats, not {type(value).__name__}")
            if not (math.isfinite(value) and value > 0) and not (label == "regularization_strengths" and value == 0):
                raise GradingFailure(f"{what}: {label} should hold positive, finite numbers")


@pytest.mark.group("search")
def test_svm_get_search_params(student):
    """svm_get_search_params returns non-empty lists of positive learning rates and regularization strengths"""
    check_search_params(student, "svm_get_search_params")


@pytest.mark.group("search")
def test_softmax_get_search_params(student):
    """softmax_get_search_params returns non-empty lists of positive learning rates and regularization strengths"""
    check_search_params(student, "softmax_get_search_params")


INSTANCE = "<the instance it was given>"  # what the call_with_instance driver puts in place of cls


def read_accuracy(value, accuracy: float, label: str, what: str) -> float:
    """``value`` (a Python number or a one-element tensor) as a fraction: the course's convention
    is a fraction in [0, 1]; a value that equals the accuracy in percent is read as a percentage.
    GradingFailure when it is neither."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GradingFailure(f"{what}: {label} should be a Python float (use .item()), not {type(value).__name__}")
    if abs(value - accuracy) <= 1e-6:
        return float(value)
    if abs(value - 100 * accuracy) <= 1e-4:
        return float(value) / 100
    raise GradingFailure(f"{what}: {label} is not the accuracy of the trained classifier's predictions on its "
                         "split (compare cls.predict(...) with the labels and take the mean; read as a fraction "
                         "in [0, 1], or as a percentage when it is above 1)")


@pytest.mark.group("search")
def test_test_one_param_set(student):
    """test_one_param_set trains the classifier it is given and returns it with its train and validation accuracies"""
    X, y = toy_problem(880, 400, 9, 4)
    data = {"X_train": X[:300], "y_train": y[:300], "X_val": X[300:], "y_val": y[300:]}
    what = "test_one_param_set(LinearSVM(), data_dict, lr=1e-2, reg=1e-4, num_iters=200)"
    reply = student.drive("call_with_instance", "linear_classifier.test_one_param_set", "linear_classifier.LinearSVM",
                          {}, (data, 1e-2, 1e-4), {"num_iters": 200}, ("W",), what=what)
    result, W = reply["result"], reply["instance"]["W"]
    if not isinstance(result, list) or len(result) != 3:
        raise GradingFailure(f"{what} should return a tuple (cls, train_acc, val_acc)")
    if result[0] != INSTANCE:
        raise GradingFailure(f"{what} should return the classifier it was given (trained in place) as its "
                             "first item")
    if W is None:
        raise GradingFailure(f"{what}: the classifier has no weights afterwards; train it with cls.train(...)")
    if not isinstance(W, torch.Tensor) or tuple(W.shape) != (9, 4) or not W.is_floating_point():
        kind = f"a {W.dtype} tensor of shape {tuple(W.shape)}" if isinstance(W, torch.Tensor) else type(W).__name__
        raise GradingFailure(f"the classifier's W after {what} should be a floating (9, 4) tensor, not {kind}")
    if not torch.isfinite(W).all():
        raise GradingFailure(f"the classifier's W after {what} contains NaN or infinity")
    fractions = []
    for label, value, X_part, y_part in (("train_acc", result[1], data["X_train"], data["y_train"]),
                                         ("val_acc", result[2], data["X_val"], data["y_val"])):
        accuracy = (X_part.to(W.dtype) @ W).argmax(dim=1).eq(y_part).double().mean().item()
        fractions.append(read_accuracy(value, accuracy, label, what))
    if fractions[1] < 0.9:
        raise GradingFailure(f"{what}: the classifier reached only {100 * fractions[1]:.0f}% validation accuracy on "
                             "separable toy data; train it with the given learning rate, regularization and "
                             "num_iters before measuring")
