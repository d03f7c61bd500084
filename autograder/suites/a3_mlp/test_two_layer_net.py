"""Hidden tests of ``two_layer_net.py``: forward pass, loss and gradients, training, prediction, search.

Runs in the trusted grader: every input is made here from fixed seeds, the student's functions run
in the sandbox (``student.call``, or a driver of :mod:`autograder.child.drivers` when a function
takes the student's own functions as arguments, like ``nn_train``'s ``loss_func``), and outputs
are compared with the references recorded from the source solutions, with the suite's own float64
formulas (the SGD trajectory of ``nn_train``), or with a numeric gradient of the student's own
loss. Failure messages name functions, shapes, dtypes and parameters, never hidden values.

The scores, the loss and each layer's gradients are separate tests, so one bug costs only the
tests it breaks. The course's ban for this file (no ``torch.relu``, no ``torch.nn``: "just for this
time", and gradients by hand, no autograd) is judged from the submitted source by
:mod:`autograder.source_rules`, inside tests that also check the values.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.source_rules import Banned, check_banned
from autograder.suite_helpers import call, check_structure, dtype_name, gen, randint, randn
from autograder.suite import GraderBug, GradingFailure, rel_error

MODULE = "two_layer_net.py"
PARAMS = ("W1", "b1", "W2", "b2")

# ----------------------------------------------------------------------------------------------
# helpers (grader side)


# The course's rule for the two-layer net: "we will NOT allow to use torch.relu and torch.nn ops just
# for this time", and the gradients are computed by hand (anything that makes a tensor require
# gradients is autograd).
BANNED = Banned(names={"relu", "relu_", "requires_grad", "requires_grad_", "enable_grad", "Parameter"},
                modules=("torch.nn", "torch.autograd", "torch.func", "functorch"))
RULE = ("must compute the ReLU, the loss and the gradients by hand, without torch.relu, torch.nn or autograd "
        "(the course's rule for this file)")


def check_not_banned(student, *qualnames: str) -> None:
    for qualname in qualnames:
        check_banned(student, MODULE, qualname, BANNED, RULE)


# --- the course's formulas, in float64 ------------------------------------------------------


def forward(params: dict, X: torch.Tensor):
    """(scores, hidden, pre-activations) of the two-layer ReLU network, float64."""
    W1, b1, W2, b2 = (params[k].double() for k in PARAMS)
    pre = X.double() @ W1 + b1
    hidden = pre.clamp(min=0)
    return hidden @ W2 + b2, hidden, pre


def loss_and_grads(params: dict, X: torch.Tensor, y: torch.Tensor, reg: float, relu_mask: bool = True):
    """Softmax loss averaged over N plus reg * (|W1|^2 + |W2|^2), and its gradients, float64."""
    W1, W2 = params["W1"].double(), params["W2"].double()
    X = X.double()
    scores, hidden, pre = forward(params, X)
    N = X.shape[0]
    rows = torch.arange(N)
    log_probs = torch.log_softmax(scores, dim=1)
    loss = -log_probs[rows, y].mean() + reg * ((W1 * W1).sum() + (W2 * W2).sum())
    dscores = log_probs.exp()
    dscores[rows, y] -= 1
    dscores /= N
    dhidden = dscores @ W2.t()
    if relu_mask:
        dhidden = dhidden * (pre > 0).double()
    grads = {"W2": hidden.t() @ dscores + 2 * reg * W2, "b2": dscores.sum(0),
             "W1": X.t() @ dhidden + 2 * reg * W1, "b1": dhidden.sum(0)}
    return loss, grads


def make_params(seed: int, D: int, H: int, C: int, dtype=torch.float64) -> dict:
    return {"W1": (randn(seed, D, H) / math.sqrt(D)).to(dtype), "b1": (0.1 * randn(seed + 1, H)).to(dtype),
            "W2": (randn(seed + 2, H, C) / math.sqrt(H)).to(dtype), "b2": (0.1 * randn(seed + 3, C)).to(dtype)}


def net_case(seed: int, N: int, D: int, H: int, C: int, dtype=torch.float64, gap: float = 1e-3):
    """(params, X, y) with no hidden pre-activation within ``gap`` of the ReLU's kink."""
    for attempt in range(500):
        s = seed + 1000 * attempt
        params = make_params(s, D, H, C, dtype)
        X = randn(s + 4, N, D).to(dtype)
        y = randint(s + 5, C, N)
        _, _, pre = forward(params, X)
        if bool(pre.abs().min() > gap):
            return params, X, y
    raise GraderBug("net_case: no input clear of the ReLU's kink")


def shapes_of(params: dict, X: torch.Tensor) -> str:
    return (f"{dtype_name(X.dtype)} X {tuple(X.shape)}, W1 {tuple(params['W1'].shape)}, "
            f"W2 {tuple(params['W2'].shape)}")


# Cases: (description, (N, D, H, C), reg). The first is the course's toy network.
CASES = [
    ("the course's toy network", (5, 4, 10, 3), 0.05),
    ("a single example (N=1)", (1, 6, 7, 4), 0.1),
    ("no regularization", (20, 30, 15, 10), 0.0),
    ("two classes and strong regularization", (8, 12, 9, 2), 1.0),
]
FLOAT32_CASES = [
    ("a batch of 10 examples", (10, 20, 16, 5), 0.1),
    ("a single example (N=1)", (1, 7, 3, 3), 0.0),
]


def float_tol(dtype: torch.dtype, float64: float) -> float:
    return float64 if dtype == torch.float64 else 1e-5


# ----------------------------------------------------------------------------------------------
# two_layer_forward: nn_forward_pass, and the scores of nn_forward_backward


def run_forward_pass(student, params, X, what: str):
    result = call(student, "two_layer_net.nn_forward_pass", params, X, context=f"as {what}")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (scores, hidden)")
    return result


def check_forward_pass(student, expect, cases, dtype, output: str, seed: int) -> None:
    check_not_banned(student, "nn_forward_pass")
    for index, (description, (N, D, H, C), _) in enumerate(cases):
        params, X, _ = net_case(seed + 10 * index, N, D, H, C, dtype)
        what = f"nn_forward_pass(params, X) with {description}: {shapes_of(params, X)}"
        scores, hidden = run_forward_pass(student, params, X, what)
        tol = float_tol(dtype, 1e-9)
        if output == "scores":
            expect.tensor(f"case{index}_scores", scores, what=f"the scores of {what}", tol=tol, device="cpu")
        else:
            if isinstance(hidden, torch.Tensor) and tuple(hidden.shape) == (N, H) and bool((hidden < 0).any()):
                raise GradingFailure(f"the hidden layer of {what} has negative entries: apply the ReLU, "
                                     "max(0, X W1 + b1)")
            expect.tensor(f"case{index}_hidden", hidden, what=f"the hidden layer of {what}", tol=tol, device="cpu")


@pytest.mark.group("two_layer_forward")
def test_nn_forward_pass_scores(student, expect):
    """nn_forward_pass: scores of several networks (float64)"""
    check_forward_pass(student, expect, CASES, torch.float64, "scores", 100)


@pytest.mark.group("two_layer_forward")
def test_nn_forward_pass_hidden(student, expect):
    """nn_forward_pass: the hidden layer is ReLU(X W1 + b1) (float64)"""
    check_forward_pass(student, expect, CASES, torch.float64, "hidden", 100)


@pytest.mark.group("two_layer_forward")
def test_nn_forward_pass_float32(student, expect):
    """nn_forward_pass: float32 params and X give float32 scores and hidden layer"""
    check_forward_pass(student, expect, FLOAT32_CASES, torch.float32, "scores", 200)
    check_forward_pass(student, expect, FLOAT32_CASES, torch.float32, "hidden", 200)


@pytest.mark.group("two_layer_forward")
def test_nn_forward_pass_noncontiguous(student, expect):
    """nn_forward_pass works on a row-strided X and transposed weight matrices"""
    params, X, _ = net_case(300, 12, 6, 5, 4)
    params = {"W1": params["W1"].t().contiguous().t(), "b1": params["b1"],
              "W2": params["W2"].t().contiguous().t(), "b2": params["b2"]}
    X_big = torch.zeros(24, 6, dtype=X.dtype)
    X_big[::2] = X
    X = X_big[::2]
    what = f"nn_forward_pass(params, X) with a row-strided X and transposed W1, W2: {shapes_of(params, X)}"
    scores, hidden = run_forward_pass(student, params, X, what)
    expect.tensor("scores", scores, what=f"the scores of {what}", tol=1e-9, device="cpu")
    expect.tensor("hidden", hidden, what=f"the hidden layer of {what}", tol=1e-9, device="cpu")


@pytest.mark.group("two_layer_forward")
def test_nn_forward_backward_scores(student, expect):
    """nn_forward_backward without labels returns the (N, C) scores (float64 and float32)"""
    for index, (description, (N, D, H, C), reg) in enumerate(CASES[:2] + FLOAT32_CASES[:1]):
        dtype = torch.float32 if index == 2 else torch.float64
        params, X, _ = net_case(400 + 10 * index, N, D, H, C, dtype)
        what = f"nn_forward_backward(params, X) (no y) with {description}: {shapes_of(params, X)}"
        scores = call(student, "two_layer_net.nn_forward_backward", params, X, context=f"as {what}")
        if isinstance(scores, (tuple, list)):
            raise GradingFailure(f"{what} should return the scores alone (a tensor) when y is None, "
                                 f"not a {type(scores).__name__}")
        expect.tensor(f"case{index}", scores, what=what, tol=float_tol(dtype, 1e-9), device="cpu")


# ----------------------------------------------------------------------------------------------
# two_layer_backward: the loss and the gradients of nn_forward_backward


def run_loss(student, params, X, y, reg: float, what: str):
    result = call(student, "two_layer_net.nn_forward_backward", params, X, y, reg, context=f"as {what}")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (loss, grads) when y is given")
    loss, grads = result
    if isinstance(loss, float):
        raise GradingFailure(f"{what} returned the loss as a Python float; return it as a 0-dimensional "
                             "tensor of the params' dtype (don't call .item())")
    return loss, grads


def describe(description: str, params, X, reg: float) -> str:
    return f"nn_forward_backward(params, X, y, reg={reg}) with {description}: {shapes_of(params, X)}"


def loss_hint(loss, params, X, y, reg: float) -> str:
    """A hint when the loss is off by exactly a multiple of the regularization term."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or reg == 0:
        return ""
    data = loss_and_grads(params, X, y, 0.0)[0]
    term = reg * sum((params[k].double() ** 2).sum() for k in ("W1", "W2"))
    k = ((loss.double().reshape(()) - data) / term).item()
    if math.isfinite(k) and abs(k - 1) > 1e-3 and abs(k - round(k * 2) / 2) < 1e-4:
        return "; the regularization term is missing or wrong: add reg * (sum(W1 * W1) + sum(W2 * W2)) once"
    return ""


def grad_hint(name: str, actual, params, X, y, reg: float) -> str:
    """Why a gradient differs, when it is one of the usual mistakes."""
    if (not isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(params[name].shape)
            or not actual.is_floating_point() or not torch.isfinite(actual).all()):
        return ""
    right = loss_and_grads(params, X, y, reg)[1][name]
    tol = 1e-6 if actual.dtype == torch.float64 else 1e-4
    variants = []
    if name.startswith("W") and reg:
        W = params[name].double()
        variants += [(right - 2 * reg * W, f"d{name} misses the regularization gradient 2 * reg * {name}"),
                     (right - reg * W, f"d{name} has reg * {name} where the gradient of reg * sum({name}^2) "
                                       f"is 2 * reg * {name}")]
    if name in ("W1", "b1"):
        variants.append((loss_and_grads(params, X, y, reg, relu_mask=False)[1][name],
                         f"d{name} ignores the ReLU: the gradient flows back only where the hidden unit "
                         "was positive"))
    N = X.shape[0]
    data = right - (2 * reg * params[name].double() if name.startswith("W") else 0)
    if N > 1:
        variants.append((data * N + (right - data), f"d{name} is not averaged over the N examples: divide "
                                                    "dscores by N"))
    for variant, hint in variants:
        if rel_error(actual, variant) < tol:
            return "; " + hint
    return ""


def check_loss(student, expect, cases, dtype, seed: int) -> None:
    check_not_banned(student, "nn_forward_backward")
    for index, (description, (N, D, H, C), reg) in enumerate(cases):
        params, X, y = net_case(seed + 10 * index, N, D, H, C, dtype)
        what = describe(description, params, X, reg)
        loss, _ = run_loss(student, params, X, y, reg, what)
        try:
            expect.tensor(f"case{index}", loss, what=f"the loss of {what}", tol=float_tol(dtype, 1e-9), device="cpu")
        except GradingFailure as failure:
            raise GradingFailure(f"{failure}{loss_hint(loss, params, X, y, reg)}") from None


def check_grads(student, expect, cases, dtype, names, seed: int) -> None:
    check_not_banned(student, "nn_forward_backward")
    for index, (description, (N, D, H, C), reg) in enumerate(cases):
        params, X, y = net_case(seed + 10 * index, N, D, H, C, dtype)
        what = describe(description, params, X, reg)
        _, grads = run_loss(student, params, X, y, reg, what)
        if not isinstance(grads, dict) or not set(names) <= set(grads):
            raise GradingFailure(f"{what} should return grads as a dict with the keys W1, b1, W2 and b2")
        for name in names:
            try:
                expect.tensor(f"case{index}_{name}", grads[name], what=f"grads['{name}'] of {what}",
                              tol=float_tol(dtype, 1e-8), device="cpu")
            except GradingFailure as failure:
                raise GradingFailure(f"{failure}{grad_hint(name, grads[name], params, X, y, reg)}") from None


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_loss(student, expect):
    """nn_forward_backward: the softmax loss with regularization of several strengths (incl. 0), float64"""
    check_loss(student, expect, CASES, torch.float64, 500)


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_loss_float32(student, expect):
    """nn_forward_backward: float32 params give a float32 loss"""
    check_loss(student, expect, FLOAT32_CASES, torch.float32, 600)


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_second_layer_grads(student, expect):
    """nn_forward_backward: the gradients of W2 and b2, with regularization (float64)"""
    check_grads(student, expect, CASES, torch.float64, ("W2", "b2"), 500)


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_first_layer_grads(student, expect):
    """nn_forward_backward: the gradients of W1 and b1, through the ReLU, with regularization (float64)"""
    check_grads(student, expect, CASES, torch.float64, ("W1", "b1"), 500)


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_grads_float32(student, expect):
    """nn_forward_backward: float32 params give float32 gradients"""
    check_grads(student, expect, FLOAT32_CASES, torch.float32, PARAMS, 600)


NUMERIC_STEP = 1e-5


@pytest.mark.group("two_layer_backward")
def test_nn_forward_backward_numeric_gradient(student):
    """nn_forward_backward: the gradients are those of the loss it returns (numeric gradient check)"""
    check_not_banned(student, "nn_forward_backward")
    params, X, y = net_case(700, 6, 4, 5, 3, gap=1e-2)
    reg = 0.1
    what = describe("6 examples", params, X, reg)
    _, grads = run_loss(student, params, X, y, reg, what)
    if not isinstance(grads, dict) or not set(PARAMS) <= set(grads):
        raise GradingFailure(f"{what} should return grads as a dict with the keys W1, b1, W2 and b2")
    for name in PARAMS:
        check_structure(grads[name], params[name].shape, torch.float64, f"grads['{name}'] of {what}")
    for name in PARAMS:
        numeric = torch.zeros_like(params[name])
        for index in range(params[name].numel()):
            values = []
            for sign in (1, -1):
                moved = {k: v.clone() for k, v in params.items()}
                moved[name].view(-1)[index] += sign * NUMERIC_STEP
                value, _ = run_loss(student, moved, X, y, reg, what)
                if not isinstance(value, torch.Tensor) or value.numel() != 1:
                    raise GradingFailure(f"the loss of {what} should be a 0-dimensional tensor")
                values.append(value.double().reshape(()))
            numeric.view(-1)[index] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
        error = rel_error(grads[name], numeric)
        if not error <= 1e-6:
            raise GradingFailure(f"grads['{name}'] of {what} is not the gradient of the loss it returns: it "
                                 f"differs from the centered-difference numeric gradient of that loss "
                                 f"(relative error {error:.1e} > 1e-06)")


# ----------------------------------------------------------------------------------------------
# two_layer_training: nn_train, nn_predict, nn_get_search_params, find_best_net

LOSS_FUNC = "two_layer_net.nn_forward_backward"
PRED_FUNC = "two_layer_net.nn_predict"


def run_train(student, params, X, y, X_val, y_val, kwargs: dict, what: str, timeout: float | None = None):
    """``nn_train(params, nn_forward_backward, nn_predict, X, y, X_val, y_val, **kwargs)`` with the
    student's own functions; returns (stats, params after the call)."""
    reply = student.drive("call_with_callables", "two_layer_net.nn_train",
                  (params, None, None, X, y, X_val, y_val), kwargs, {1: LOSS_FUNC, 2: PRED_FUNC},
                  what=what, timeout=timeout)
    stats, params_after = reply["result"], reply["args"][0]
    if not isinstance(stats, dict):
        raise GradingFailure(f"{what} should return a dict with loss_history, train_acc_history and "
                             f"val_acc_history, but returned {type(stats).__name__}")
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        if key not in stats:
            raise GradingFailure(f"{what} returned a dict without {key!r}")
        values = stats[key]
        if not isinstance(values, (list, tuple)):
            raise GradingFailure(f"{what}: {key} should be a list of Python floats, not {type(values).__name__}")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise GradingFailure(f"{what}: {key} should hold Python floats (use .item()), "
                                     f"not {type(value).__name__}")
        if not all(math.isfinite(v) for v in values):
            raise GradingFailure(f"{what}: {key} contains NaN or infinity")
    return stats, params_after


def sgd_trajectory(params: dict, X1: torch.Tensor, y1: torch.Tensor, X_val, y_val, learning_rate: float,
                   decay: float, reg: float, num_iters: int, iterations_per_epoch: int, decay_when: str = "it"):
    """What nn_train does on a batch that is always the same example: (losses, train accs, val accs,
    final params), float64. ``decay_when``: "it" (the course: after iteration it with
    it % iterations_per_epoch == 0), "end" ((it + 1) % ...), "never", "always"."""
    params = {k: v.double().clone() for k, v in params.items()}
    losses, train_accs, val_accs = [], [], []
    lr = learning_rate
    for it in range(num_iters):
        loss, grads = loss_and_grads(params, X1, y1, reg)
        losses.append(loss.item())
        for name in PARAMS:
            params[name] -= lr * grads[name]
        record = it % iterations_per_epoch == 0
        if record:
            train_accs.append(float((forward(params, X1)[0].argmax(1) == y1).double().mean()))
            val_accs.append(float((forward(params, X_val)[0].argmax(1) == y_val).double().mean()))
        if {"it": record, "end": (it + 1) % iterations_per_epoch == 0, "never": False, "always": True}[decay_when]:
            lr *= decay
    return losses, train_accs, val_accs, params


def same_history(actual: list, expected: list, tol: float = 1e-7) -> bool:
    return len(actual) == len(expected) and all(
        abs(a - b) <= tol * max(1.0, abs(b)) for a, b in zip(actual, expected))


def same_accuracies(actual: list, expected: list, count: int) -> bool:
    """Accuracies over ``count`` examples agree when they count the same number of right answers:
    a fraction computed in float32 (``.float().mean()``, the course's) is as good as a float64 one."""
    return len(actual) == len(expected) and all(abs(a - b) < 0.5 / count for a, b in zip(actual, expected))


# Every training example is the same: any batch gives the same loss and gradient, so nn_train's
# run is deterministic and the grader can follow it step by step.
TRAIN_KWARGS = dict(learning_rate=0.02, learning_rate_decay=0.8, reg=0.01, num_iters=14, batch_size=7)
TRAIN_SIZE = 29  # iterations_per_epoch = 29 // 7 = 4: accuracies at it = 0, 4, 8, 12


def train_case():
    params = make_params(800, 6, 5, 3)
    X1 = randn(801, 1, 6)
    y1 = torch.tensor([0])  # wrongly classified at first; right from the third epoch on
    if int(forward(params, X1)[0].argmax(1)) == 0:
        raise GraderBug("train_case: the initial prediction is already right")
    X_val = randn(802, 40, 6)
    y_val = randint(803, 3, 40)
    return params, X1, y1, X_val, y_val


TRAIN_CONTEXT = ("nn_train(params, nn_forward_backward, nn_predict, X, y, X_val, y_val, "
                 + ", ".join(f"{k}={v}" for k, v in TRAIN_KWARGS.items())
                 + f") with {TRAIN_SIZE} copies of one example (float64 X ({TRAIN_SIZE}, 6), label 0), "
                 "W1 (6, 5), W2 (5, 3)")


def deterministic_run(student):
    params, X1, y1, X_val, y_val = train_case()
    X = X1.expand(TRAIN_SIZE, 6).clone()
    y = y1.expand(TRAIN_SIZE).clone()
    stats, after = run_train(student, params, X, y, X_val, y_val, TRAIN_KWARGS, TRAIN_CONTEXT)
    return stats, after, (params, X1, y1, X_val, y_val)


OWN_FUNCTIONS = ("this test follows nn_train's steps with your own {name}, which {problem}; fix {name} first "
                 "(see its tests)")


def student_trajectory(student, case, decay_when: str = "it", accuracies: bool = True):
    """The run nn_train should make on the deterministic case, followed step by step HERE with the
    student's own loss_func (nn_forward_backward) and pred_func (nn_predict), called through the
    sandbox: so nn_train is judged on its own, whatever those functions compute. Returns (losses,
    train accs, val accs, final params); ``decay_when`` as in ``sgd_trajectory``."""
    params, X1, y1, X_val, y_val = case
    kwargs = TRAIN_KWARGS
    batch = kwargs["batch_size"]
    iterations_per_epoch = TRAIN_SIZE // batch
    X_batch, y_batch = X1.expand(batch, X1.shape[1]).clone(), y1.expand(batch).clone()
    params = {k: v.clone() for k, v in params.items()}
    learning_rate = kwargs["learning_rate"]
    losses, train_accs, val_accs = [], [], []

    def predict(X, y) -> float:
        try:
            labels = student.drive("call_with_callables", PRED_FUNC, (params, None, X), {}, {1: LOSS_FUNC},
                           what="nn_predict(params, nn_forward_backward, X)")["result"]
            check_structure(labels, (X.shape[0],), torch.int64, "the labels nn_predict returns")
        except GradingFailure as failure:
            raise GradingFailure(f"{TRAIN_CONTEXT}: " + OWN_FUNCTIONS.format(
                name="nn_predict", problem=f"does not work here ({failure})")) from None
        return float((labels == y).double().mean())

    for it in range(kwargs["num_iters"]):
        try:
            result = student.call(LOSS_FUNC, params, X_batch, y_batch, kwargs["reg"])
            loss, grads = result
            check_structure(loss, (), torch.float64, "the loss")
            for name in PARAMS:
                check_structure(grads[name], params[name].shape, torch.float64, f"grads['{name}']")
        except (GradingFailure, TypeError, ValueError, KeyError) as failure:
            raise GradingFailure(f"{TRAIN_CONTEXT}: " + OWN_FUNCTIONS.format(
                name="nn_forward_backward", problem=f"does not give (loss, grads) here ({failure})")) from None
        losses.append(float(loss))
        for name in PARAMS:
            params[name] = params[name] - learning_rate * grads[name]
        record = it % iterations_per_epoch == 0
        if record and accuracies:
            train_accs.append(predict(X_batch, y_batch))
            val_accs.append(predict(X_val, y_val))
        if {"it": record, "end": (it + 1) % iterations_per_epoch == 0, "never": False, "always": True}[decay_when]:
            learning_rate *= kwargs["learning_rate_decay"]
    return losses, train_accs, val_accs, params


def explain_trajectory(student, losses: list, case) -> str:
    for decay_when, hint in (
            ("never", "the learning rate is never decayed: multiply it by learning_rate_decay once per epoch, "
                      "after the iterations with it % iterations_per_epoch == 0"),
            ("end", "the learning rate is decayed at the wrong iterations: decay it after each iteration with "
                    "it % iterations_per_epoch == 0 (it = 0 included), as the docstring says"),
            ("always", "the learning rate is decayed after every iteration; decay it once per epoch")):
        if same_history(losses, student_trajectory(student, case, decay_when, accuracies=False)[0]):
            return hint
    first = student_trajectory(student, case, accuracies=False)[0][0]
    if not losses or abs(losses[0] - first) > 1e-7 * max(1.0, abs(first)):
        return ("even the first loss is not that of the initial parameters: record the loss that "
                "loss_func(params, X_batch, y=y_batch, reg=reg) returns, before the update")
    return ("the losses after the first are not those of SGD steps p -= learning_rate * grads[name] on "
            "every parameter, once per iteration, with the gradients loss_func returns")


@pytest.mark.group("two_layer_training")
def test_nn_train_sgd_steps_and_decay(student):
    """nn_train takes one SGD step per iteration and decays the learning rate once per epoch"""
    stats, _, case = deterministic_run(student)
    losses = list(stats["loss_history"])
    if len(losses) != TRAIN_KWARGS["num_iters"]:
        raise GradingFailure(f"{TRAIN_CONTEXT}: loss_history should hold num_iters=14 losses, one per "
                             f"iteration, but holds {len(losses)}")
    expected = student_trajectory(student, case, accuracies=False)[0]
    if not same_history(losses, expected):
        raise GradingFailure(f"{TRAIN_CONTEXT}: the loss history is not the expected one; "
                             f"{explain_trajectory(student, losses, case)}")


@pytest.mark.group("two_layer_training")
def test_nn_train_accuracy_histories(student):
    """nn_train records the training-batch and validation accuracies once per epoch"""
    stats, _, case = deterministic_run(student)
    losses, train_accs, val_accs, _ = student_trajectory(student, case)
    for key, expected in (("train_acc_history", train_accs), ("val_acc_history", val_accs)):
        actual = list(stats[key])
        if len(actual) != len(expected):
            raise GradingFailure(f"{TRAIN_CONTEXT}: {key} should hold one accuracy per epoch ({len(expected)}: "
                                 f"after the iterations with it % iterations_per_epoch == 0, "
                                 f"iterations_per_epoch = max(num_train // batch_size, 1)), but holds {len(actual)}")
        if any(not 0.0 <= v <= 1.0 for v in actual):
            raise GradingFailure(f"{TRAIN_CONTEXT}: {key} should hold fractions in [0, 1], not percentages")
    if not same_history(list(stats["loss_history"]), losses):
        raise GradingFailure(f"{TRAIN_CONTEXT}: the accuracies are checked once the training steps are right, and "
                             "they are not yet (see the test of the SGD steps)")
    for key, expected in (("train_acc_history", train_accs), ("val_acc_history", val_accs)):
        if not same_accuracies(list(stats[key]), expected, TRAIN_KWARGS["batch_size"] if key == "train_acc_history"
                               else case[3].shape[0]):
            split = "the training batch" if key == "train_acc_history" else "the whole validation set"
            raise GradingFailure(f"{TRAIN_CONTEXT}: {key} is not the accuracy on {split} of the parameters "
                                 "after each epoch's first update (pred_func(params, loss_func, X) compared with "
                                 "the labels)")


@pytest.mark.group("two_layer_training")
def test_nn_train_updates_params_in_place(student):
    """nn_train updates the tensors of params in place: the caller sees the trained parameters"""
    stats, after, case = deterministic_run(student)
    params = case[0]
    if not isinstance(after, dict) or set(PARAMS) - set(after):
        raise GradingFailure(f"{TRAIN_CONTEXT}: params should still hold W1, b1, W2 and b2 after training")
    for name in PARAMS:
        check_structure(after[name], params[name].shape, torch.float64, f"params['{name}'] after {TRAIN_CONTEXT}")
    if all(torch.equal(after[k], params[k]) for k in PARAMS):
        raise GradingFailure(f"{TRAIN_CONTEXT}: the params dict the caller passed is unchanged after training; "
                             "update its tensors in place (params['W1'] -= learning_rate * grads['W1'], ...)")
    losses, _, _, final = student_trajectory(student, case, accuracies=False)
    if not same_history(list(stats["loss_history"]), losses):
        return  # the steps themselves are wrong: the test of the SGD steps says why
    for name in PARAMS:
        error = rel_error(after[name], final[name])
        if error > 1e-7:
            raise GradingFailure(f"params['{name}'] after {TRAIN_CONTEXT} is not the result of the last SGD step "
                                 f"(relative error {error:.1e}); leave the trained values in params")


def toy_problem(seed: int, N: int, D: int, C: int, dtype=torch.float32):
    """Linearly separable classes (no bias column), what a two-layer net learns quickly."""
    generator = gen(seed)
    centers = 3 * torch.randn(C, D, generator=generator)
    y = torch.arange(N) % C
    X = centers[y] + torch.randn(N, D, generator=generator)
    return X.to(dtype), y


@pytest.mark.group("two_layer_training")
def test_nn_train_learns_toy_data(student):
    """nn_train with random minibatches lowers the loss and learns separable toy data"""
    X, y = toy_problem(810, 500, 10, 4)
    generator = gen(811)
    params = {"W1": 1e-2 * torch.randn(10, 32, generator=generator), "b1": torch.zeros(32),
              "W2": 1e-2 * torch.randn(32, 4, generator=generator), "b2": torch.zeros(4)}
    kwargs = dict(learning_rate=0.5, learning_rate_decay=0.95, reg=1e-4, num_iters=200, batch_size=50)
    what = ("nn_train(params, nn_forward_backward, nn_predict, X, y, X_val, y_val, learning_rate=0.5, "
            "learning_rate_decay=0.95, reg=1e-4, num_iters=200, batch_size=50) on separable float32 X (400, 10), "
            "4 classes")
    stats, after = run_train(student, params, X[:400], y[:400], X[400:], y[400:], kwargs, what, timeout=60)
    history = list(stats["loss_history"])
    if len(history) != 200:
        raise GradingFailure(f"{what}: loss_history should hold num_iters=200 losses, but holds {len(history)}")
    if len(stats["val_acc_history"]) != 25:
        raise GradingFailure(f"{what}: val_acc_history should hold one accuracy per epoch (25: iterations_per_epoch "
                             f"= 400 // 50 = 8), but holds {len(stats['val_acc_history'])}")
    start, end = sum(history[:10]) / 10, sum(history[-10:]) / 10
    if not end < 0.25 * start:
        raise GradingFailure(f"{what}: the loss did not drop to a quarter of its start; take a step "
                             "p -= learning_rate * grads[name] per iteration on a fresh minibatch")
    if not isinstance(after, dict) or not all(isinstance(after.get(k), torch.Tensor) for k in PARAMS):
        raise GradingFailure(f"{what}: params should still hold the tensors W1, b1, W2 and b2 after training")
    if all(torch.equal(after[k], params[k]) for k in PARAMS):
        raise GradingFailure(f"{what}: the params dict the caller passed is unchanged after training; update its "
                             "tensors in place")
    accuracy = float((forward(after, X[400:])[0].argmax(1) == y[400:]).double().mean())
    if accuracy < 0.9:
        raise GradingFailure(f"{what}: the trained parameters classify only {100 * accuracy:.0f}% of the "
                             "validation examples of separable toy data right")


PREDICT_CASES = [  # (description, dtype, (N, D, H, C))
    ("float64 inputs", torch.float64, (15, 6, 8, 4)),
    ("float32 inputs", torch.float32, (30, 784, 20, 10)),
    ("a single example", torch.float64, (1, 5, 3, 3)),
]


@pytest.mark.group("two_layer_training")
def test_nn_predict(student, expect):
    """nn_predict returns the int64 class of the highest score of each example"""
    for index, (description, dtype, (N, D, H, C)) in enumerate(PREDICT_CASES):
        for attempt in range(100):
            params, X, _ = net_case(900 + index + 10 * attempt, N, D, H, C, dtype)
            top = forward(params, X)[0].topk(2, dim=1).values
            if bool((top[:, 0] - top[:, 1]).min() > 1e-4):
                break
        else:
            raise GraderBug("test_nn_predict: no tie-free case")
        what = f"nn_predict(params, nn_forward_backward, X) with {description}: {shapes_of(params, X)}"
        reply = student.drive("call_with_callables", "two_layer_net.nn_predict", (params, None, X), {},
                      {1: LOSS_FUNC}, what=what)
        expect.tensor(f"case{index}", reply["result"], what=what, exact=True, device="cpu")


@pytest.mark.group("two_layer_training")
def test_nn_get_search_params(student):
    """nn_get_search_params returns non-empty lists of learning rates, hidden sizes, regularizations and decays"""
    result = call(student, "two_layer_net.nn_get_search_params", context="with no arguments")
    what = "nn_get_search_params()"
    labels = ("learning_rates", "hidden_sizes", "regularization_strengths", "learning_rate_decays")
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise GradingFailure(f"{what} should return a tuple ({', '.join(labels)})")
    for label, values in zip(labels, result):
        if isinstance(values, torch.Tensor) and values.dim() == 1:
            values = values.tolist()  # a numpy array (np.logspace(...)) arrives as a tensor: read as its list
        if not isinstance(values, (list, tuple)) or not values:
            raise GradingFailure(f"{what}: {label} should be a non-empty list")
        for value in values:
            number = (int,) if label == "hidden_sizes" else (int, float)
            if isinstance(value, bool) or not isinstance(value, number):
                kind = "Python ints" if label == "hidden_sizes" else "Python floats"
                raise GradingFailure(f"{what}: {label} should hold {kind}, not {type(value).__name__}")
            if not math.isfinite(value):
                raise GradingFailure(f"{what}: {label} should hold finite numbers")
        if label in ("learning_rates", "hidden_sizes") and min(values) <= 0:
            raise GradingFailure(f"{what}: {label} should hold positive numbers")
        if label == "regularization_strengths" and min(values) < 0:
            raise GradingFailure(f"{what}: {label} should hold non-negative numbers")
        if label == "learning_rate_decays" and not all(0 < v <= 1 for v in values):
            raise GradingFailure(f"{what}: {label} should hold factors in (0, 1]")


@pytest.mark.group("two_layer_training")
def test_find_best_net(student):
    """find_best_net trains a TwoLayerNet per parameter set and returns the one best on validation data"""
    X, y = toy_problem(950, 500, 20, 10)
    data = {"X_train": X[:400], "y_train": y[:400], "X_val": X[400:], "y_val": y[400:]}
    param_sets = ([0.5, 1e-7], [16], [1e-4], [0.95])  # the second learning rate learns nothing
    what = ("find_best_net(data_dict, get_param_set_fn) with separable float32 X_train (400, 20), 10 classes, "
            "and get_param_set_fn() = ([0.5, 1e-7], [16], [1e-4], [0.95])")
    reply = student.drive("call_with_callables", "two_layer_net.find_best_net", (data, None), {},
                  {1: {"returns": param_sets}}, what=what, timeout=120)
    result = reply["result"]
    if not isinstance(result, list) or len(result) != 3:
        raise GradingFailure(f"{what} should return a tuple (best_net, best_stat, best_val_acc)")
    net, stat, val_acc = result
    if isinstance(val_acc, torch.Tensor) and val_acc.dim() == 0 and val_acc.is_floating_point():
        val_acc = val_acc.item()  # a 0-dim tensor is read as its number
    if not isinstance(net, dict) or net.get("class") != "TwoLayerNet":
        raise GradingFailure(f"{what}: best_net should be the TwoLayerNet that was trained")
    params = net["params"]
    for name, shape in (("W1", (20, 16)), ("b1", (16,)), ("W2", (16, 10)), ("b2", (10,))):
        check_structure(params.get(name), shape, torch.float32, f"best_net.params['{name}'] of {what}")
    if not isinstance(stat, dict) or not {"loss_history", "train_acc_history", "val_acc_history"} <= set(stat):
        raise GradingFailure(f"{what}: best_stat should be the stats dict that best_net.train(...) returned")
    if isinstance(val_acc, bool) or not isinstance(val_acc, (int, float)) or not 0.0 <= val_acc <= 100.0:
        raise GradingFailure(f"{what}: best_val_acc should be a Python float, the validation accuracy of best_net "
                             "(a fraction in [0, 1], or a percentage as the course's notebooks print it)")
    accuracy = float((forward(params, data["X_val"])[0].argmax(1) == data["y_val"]).double().mean())
    count = data["y_val"].shape[0]
    # Either convention, when the value says which: the accuracy as a fraction, or in percent (an
    # accuracy above 1% read as a fraction would exceed 1, so a value above 1 is a percentage).
    as_fraction = abs(accuracy - val_acc) < 0.5 / count
    as_percent = val_acc > 1.0 and abs(accuracy - val_acc / 100) < 0.5 / count
    if not (as_fraction or as_percent):
        reading = f"read as a percentage ({val_acc:g}%)" if val_acc > 1.0 else "read as a fraction"
        raise GradingFailure(f"{what}: best_val_acc, {reading}, is not the validation accuracy of best_net "
                             "(compare net.predict(X_val) with y_val and take the mean)")
    if accuracy < 0.5:  # a trained network gets far more; the one with learning rate 1e-7 about 10%
        raise GradingFailure(f"{what}: best_net classifies only {100 * accuracy:.0f}% of the validation examples "
                             "right; train a network for every combination of the parameter lists and keep the "
                             "one with the highest validation accuracy")
