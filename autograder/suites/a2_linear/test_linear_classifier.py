"""Hidden tests of ``linear_classifier.py``: SVM and softmax losses, the loop rules, training, search.

Runs in the trusted grader: every input is made here from fixed seeds, the student's functions run
in the sandbox through ``student.call``, and outputs are compared with the references recorded
from the source solutions (or, for the random parts, judged by behaviour). Failure messages name
functions, shapes, dtypes and parameters, never hidden values.

Loss values and gradients are separate tests, so a gradient bug costs only the gradient tests. A
gradient that differs from the reference by exactly a multiple of the regularization gradient
(``2 * reg * W`` or ``reg * sign(W)``) is named as such.
"""
from __future__ import annotations

import ast
import math

import pytest
import torch

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


def formula(name: str, W, X, y, reg: float, reg_type: str) -> tuple[torch.Tensor, torch.Tensor]:
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


# Loss cases: (description, (N, D, C), reg, reg_type or None for the default). Several shapes,
# both regularizations, several strengths including 0.
CASES = [
    ("a batch of 12 examples", (12, 7, 4), 0.1, "l2"),
    ("a single example (N=1)", (1, 5, 3), 0.5, "l2"),
    ("two classes (C=2)", (9, 6, 2), 0.05, "l1"),
    ("a larger D", (20, 64, 5), 1.0, "l1"),
    ("no regularization", (10, 8, 3), 0.0, "l2"),
    ("no regularization", (8, 6, 4), 0.0, "l1"),
    ("the default reg_type", (11, 9, 5), 0.25, None),
]
FLOAT32_CASES = [
    ("a batch of 16 examples", (16, 10, 4), 0.1, "l2"),
    ("a single example (N=1)", (1, 12, 3), 0.3, "l1"),
    ("a larger D", (10, 100, 6), 0.01, "l2"),
]


def describe_call(name: str, reg: float, reg_type: str | None, W: torch.Tensor, X: torch.Tensor,
                  description: str) -> str:
    kind = "" if reg_type is None else f", reg_type='{reg_type}'"
    return (f"{name}(W, X, y, reg={reg}{kind}) with {description}: {dtype_name(W.dtype)} W {tuple(W.shape)} "
            f"and X {tuple(X.shape)}")


def run_loss(student, name: str, W, X, y, reg: float, reg_type: str | None, what: str):
    """(loss, dW) from the student's function, with its structure checked."""
    kwargs = {} if reg_type is None else {"reg_type": reg_type}
    try:
        result = student.call(f"linear_classifier.{name}", W, X, y, reg, **kwargs)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure} (when called as {what})") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (loss, dW)")
    loss, dW = result
    if isinstance(loss, float):
        raise GradingFailure(f"{what} returned the loss as a Python float; return it as a 0-dimensional "
                             "tensor of the inputs' dtype (don't call .item())")
    return loss, dW


def explain_loss(actual, W, X, y, name: str, reg: float, reg_type: str) -> str:
    """A hint when the loss is off by exactly a multiple of the regularization term."""
    if not isinstance(actual, torch.Tensor) or actual.numel() != 1 or reg == 0:
        return ""
    data = (svm_data if name.startswith("svm") else softmax_data)(W, X, y)[0]
    reg_loss, _ = regularization(W, reg, reg_type)
    if reg_loss.abs() < 1e-12:
        return ""
    k = ((actual.double().reshape(()) - data) / reg_loss).item()
    if math.isfinite(k) and abs(k - 1) > 1e-3 and abs(k - round(k * 2) / 2) < 1e-4:
        term = "reg * sum(W * W)" if reg_type == "l2" else "reg * sum(|W|)"
        return (f"; the loss is missing (or has a wrong) regularization term: for reg_type='{reg_type}' "
                f"add {term} once to the average data loss")
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
        return (f"; the gradient is missing (or has a wrong) regularization term: for reg_type='{reg_type}' "
                f"dW must include {hint}")
    return ""


def expect_loss(expect, key: str, loss, W, X, y, name, reg, reg_type, what: str, tol: float) -> None:
    try:
        expect.tensor(key, loss, what=f"the loss of {what}", tol=tol, device="cpu")
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}{explain_loss(loss, W, X, y, name, reg, reg_type or 'l2')}") from None


def expect_gradient(expect, key: str, dW, W, reg, reg_type, what: str, tol: float) -> None:
    try:
        expect.tensor(key, dW, what=f"dW of {what}", tol=tol, device="cpu")
    except GradingFailure as failure:
        reference = expect.references.get(f"{expect.test_id}::{key}")
        hint = explain_gradient(dW, reference, W, reg, reg_type or "l2") if isinstance(reference, torch.Tensor) else ""
        raise GradingFailure(f"{failure}{hint}") from None


def check_loss_values(student, expect, name: str, cases, dtype, tol: float, seed: int) -> None:
    for index, (description, (N, D, C), reg, reg_type) in enumerate(cases):
        W, X, y = loss_case(seed + 10 * index, N, D, C, dtype)
        what = describe_call(name, reg, reg_type, W, X, description)
        loss, _ = run_loss(student, name, W, X, y, reg, reg_type, what)
        expect_loss(expect, f"case{index}", loss, W, X, y, name, reg, reg_type, what, tol)


def check_gradients(student, expect, name: str, cases, dtype, tol: float, seed: int) -> None:
    for index, (description, (N, D, C), reg, reg_type) in enumerate(cases):
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
    what = describe_call(name, 0.2, "l2", W, X, NONCONTIGUOUS)
    hint = " — use reshape or index, which work on any tensor, rather than view"
    try:
        loss, dW = run_loss(student, name, W, X, y, 0.2, "l2", what)
    except GradingFailure as failure:
        text = str(failure)
        raise GradingFailure(text + (hint if "view" in text else "")) from None
    if gradient:
        expect_gradient(expect, "dW", dW, W, 0.2, "l2", what, 1e-9)
    else:
        expect_loss(expect, "loss", loss, W, X, y, name, 0.2, "l2", what, 1e-9)


NUMERIC_CASES = [  # (N, D, C), reg, reg_type
    ((6, 4, 3), 0.3, "l2"),
    ((5, 3, 4), 0.2, "l1"),
]
NUMERIC_STEP = 1e-5


def check_numeric_gradient(student, name: str, seed: int) -> None:
    """dW against the centered-difference gradient of the student's own loss (float64, every entry)."""
    for index, ((N, D, C), reg, reg_type) in enumerate(NUMERIC_CASES):
        W, X, y = loss_case(seed + 10 * index, N, D, C)
        what = describe_call(name, reg, reg_type, W, X, f"{N} examples")
        # The suite's own formula must be smooth around W at this step, or the case is a bad one.
        own = torch.zeros_like(W)
        for i in range(D):
            for j in range(C):
                plus, minus = W.clone(), W.clone()
                plus[i, j] += NUMERIC_STEP
                minus[i, j] -= NUMERIC_STEP
                own[i, j] = (formula(name, plus, X, y, reg, reg_type)[0]
                             - formula(name, minus, X, y, reg, reg_type)[0]) / (2 * NUMERIC_STEP)
        if rel_error(own, formula(name, W, X, y, reg, reg_type)[1]) > 1e-7:
            raise GraderBug(f"numeric gradient case {index} of {name} is too close to a kink")
        loss, dW = run_loss(student, name, W, X, y, reg, reg_type, what)
        check_structure(dW, W.shape, W.dtype, f"dW of {what}")
        numeric = torch.zeros_like(W)
        for i in range(D):
            for j in range(C):
                values = []
                for sign in (1, -1):
                    moved = W.clone()
                    moved[i, j] += sign * NUMERIC_STEP
                    value, _ = run_loss(student, name, moved, X, y, reg, reg_type, what)
                    if not isinstance(value, torch.Tensor) or value.numel() != 1:
                        raise GradingFailure(f"the loss of {what} should be a 0-dimensional tensor")
                    values.append(value.double().reshape(()))
                numeric[i, j] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
        error = rel_error(dW, numeric)
        if not error <= 1e-6:
            hint = explain_gradient(dW, numeric, W, reg, reg_type)
            raise GradingFailure(f"dW of {what} is not the gradient of the loss it returns: it differs from the "
                                 f"centered-difference numeric gradient of that loss (relative error "
                                 f"{error:.1e} > 1e-06){hint}")


def check_unknown_reg_type(student, name: str) -> None:
    require_working(student, name)
    W, X, y = loss_case(60, 5, 4, 3)
    what = f"{name}(W, X, y, reg=0.1, reg_type='l3')"
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
# svm_loss and softmax_loss: one set of tests per function


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
        check_numeric_gradient(student, name, seed + 200)

    @pytest.mark.group(group)
    def test_noncontiguous_value(student, expect):
        check_noncontiguous(student, expect, name, seed + 300, gradient=False)

    @pytest.mark.group(group)
    def test_noncontiguous_gradient(student, expect):
        check_noncontiguous(student, expect, name, seed + 300, gradient=True)

    @pytest.mark.group(group)
    def test_unknown_reg_type(student):
        check_unknown_reg_type(student, name)

    docs = {
        test_value: f"{name}: loss with L2 and L1 regularization of several strengths (incl. 0), several shapes (float64)",
        test_value_float32: f"{name}: float32 inputs give a float32 loss",
        test_gradient: f"{name}: dW with L2 and L1 regularization of several strengths (incl. 0), several shapes (float64)",
        test_gradient_float32: f"{name}: float32 inputs give a float32 dW",
        test_numeric_gradient: f"{name}: dW is the gradient of the loss (numeric gradient check, L2 and L1)",
        test_noncontiguous_value: f"{name}: loss on non-contiguous inputs (transposed W, strided X and y)",
        test_noncontiguous_gradient: f"{name}: dW on non-contiguous inputs (transposed W, strided X and y)",
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
# loop_rules: judged from the submitted source, once the function computes the right loss


def module_functions(student) -> dict[str, ast.AST]:
    tree = ast.parse(student.source(MODULE))
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def with_helpers(student, name: str) -> list[ast.AST]:
    """The function's AST and those of the module functions it calls, transitively."""
    function = student.function(MODULE, name)  # GradingFailure on a syntax error or no such function
    functions, found, seen = module_functions(student), [function], {name}
    for node in found:
        for call_node in ast.walk(node):
            if isinstance(call_node, ast.Call) and isinstance(call_node.func, ast.Name):
                callee = call_node.func.id
                if callee in functions and callee not in seen:
                    seen.add(callee)
                    found.append(functions[callee])
    return found


def computing_loops(function: ast.AST) -> list[int]:
    """``loops_in`` without the loops inside ``raise`` statements: formatting an error message (like
    the given ``_check_reg_type`` does) is not part of the computation."""
    kinds = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    lines, stack = [], [function]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise):
            continue
        if isinstance(node, kinds):
            lines.append(node.lineno)
        stack.extend(ast.iter_child_nodes(node))
    return sorted(lines)


def loop_lines(student, name: str) -> list[int]:
    return sorted({line for node in with_helpers(student, name) for line in computing_loops(node)})


def line_list(lines: list[int]) -> str:
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(map(str, lines))


def require_working(student, name: str) -> None:
    """A rule test earns its points only once the function returns the right loss (float64, L2)."""
    W, X, y = loss_case(70, 7, 5, 3)
    what = describe_call(name, 0.1, "l2", W, X, "7 examples")
    try:
        loss, _ = run_loss(student, name, W, X, y, 0.1, "l2", what)
        expected = formula(name, W, X, y, 0.1, "l2")[0]
        check_tensor(loss, expected, what=f"the loss of {what}", tol=1e-8, device="cpu")
    except GradingFailure as failure:
        raise GradingFailure(f"this rule is checked only once {name} computes the right loss, "
                             f"and it does not yet: {failure}") from None


def check_naive_loops(student, name: str) -> None:
    require_working(student, name)
    if not loop_lines(student, name):
        raise GradingFailure(f"{name} is the naive version: compute the loss and gradient with an explicit "
                             "Python loop over the training examples, but it has no loop (the loop-free "
                             f"version belongs in {name.replace('naive', 'vectorized')})")


def check_vectorized_no_loops(student, name: str) -> None:
    require_working(student, name)
    lines = loop_lines(student, name)
    if lines:
        raise GradingFailure(f"{name} may not use Python loops or comprehensions (nor call a function that "
                             f"does), but has them on {line_list(lines)}; compute the scores of all examples "
                             "with one matrix multiply and use indexing and broadcasting for the rest")


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
    for value in history:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GradingFailure(f"{what}: the loss history should hold Python floats (use loss.item()), "
                                 f"not {type(value).__name__}")
    if not all(math.isfinite(v) for v in history):
        raise GradingFailure(f"{what}: the loss history contains NaN or infinity")
    return list(history)


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


def check_search_params(student, name: str) -> None:
    result = call(student, f"linear_classifier.{name}", context="with no arguments")
    what = f"{name}()"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (learning_rates, regularization_strengths)")
    for label, values in zip(("learning_rates", "regularization_strengths"), result):
        if not isinstance(values, (list, tuple)) or not values:
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
    check_structure(W, (9, 4), torch.float32, f"the classifier's W after {what}")
    for label, value, X_part, y_part in (("train_acc", result[1], data["X_train"], data["y_train"]),
                                         ("val_acc", result[2], data["X_val"], data["y_val"])):
        if isinstance(value, bool) or not isinstance(value, float):
            raise GradingFailure(f"{what}: {label} should be a Python float (use .item()), not "
                                 f"{type(value).__name__}")
        if not 0.0 <= value <= 1.0:
            raise GradingFailure(f"{what}: {label} should be a fraction in [0, 1], not a percentage")
        accuracy = (X_part @ W).argmax(dim=1).eq(y_part).double().mean().item()
        if abs(value - accuracy) > 1e-6:
            split = "data_dict['X_train']" if label == "train_acc" else "data_dict['X_val']"
            raise GradingFailure(f"{what}: {label} is not the accuracy of the trained classifier's predictions "
                                 f"on {split} (compare cls.predict(...) with the labels and take the mean)")
    if result[2] < 0.9:
        raise GradingFailure(f"{what}: the classifier reached only {100 * result[2]:.0f}% validation accuracy on "
                             "separable toy data; train it with the given learning rate, regularization and "
                             "num_iters before measuring")
