"""Hidden tests of ``fully_connected_networks.py``: layers, dropout, networks, update rules, solver.

Runs in the trusted grader: every input is made here from fixed seeds; the student's code runs in
the sandbox through the drivers of :mod:`autograder.child.drivers`, so that no object of the
student's (a layer's cache, a model, a Solver) ever crosses the wire: ``layer_roundtrip`` (forward
then backward, the cache kept in the child), ``model_loss`` (build a network, set its parameters,
call ``loss``), ``model_state``, ``update_steps`` (an update rule over several steps) and
``solver_train`` / ``call_then_train`` (training with the helper package's ``Solver``).

Outputs are compared with the references recorded from the source solutions and, for the
backward passes, with centered-difference gradients of the student's OWN forward pass, computed
here by calling it through the sandbox. Random parts (dropout masks, initializations, training)
are judged by behaviour (the course does not prescribe how a dropout mask is drawn). Failure
messages name functions, shapes, dtypes and parameters, never hidden values.

The course's own names and signatures are the contract: course behaviour is tested through calls the
course's starter code supports (``FullyConnectedNet(hidden_dims, input_dim=..., ...)`` with no
``activation``); our extras (``LeakyReLU``, ``ELU``, ``activation=``, ``sgd_nesterov``,
``adagrad``) have tests of their own. The one source rule is the course's: gradients by hand, no
autograd (``torch.relu`` and other ``torch.nn.functional`` ops are allowed from A3 on, as the course
says), judged by :mod:`autograder.source_rules` inside tests that also check the values.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder import suite_helpers
from autograder.source_rules import Banned, check_banned
from autograder.suite_helpers import check_float, check_structure, dtype_name, gen, randint, randn
from autograder.suite import GraderBug, GradingFailure, check_value, rel_error

MODULE = "fully_connected_networks.py"
M = "fully_connected_networks"

# ----------------------------------------------------------------------------------------------
# helpers (grader side)


# The course's rule for A3: gradients by hand. Anything that makes a tensor require gradients (or
# reaches autograd itself) is banned; torch.nn.functional ops are not ("you can use it from A3").
BANNED = Banned(names={"requires_grad", "requires_grad_", "enable_grad", "Parameter"},
                modules=("torch.autograd", "torch.func", "functorch"))
RULE = ("must compute its gradients by hand, without autograd (torch.autograd, requires_grad, ...); "
        "torch.relu and the other torch.nn.functional ops are allowed")


def check_not_banned(student, *qualnames: str) -> None:
    for qualname in qualnames:
        check_banned(student, MODULE, qualname, BANNED, RULE)


def tol_for(dtype: torch.dtype, float64: float, float32: float = 1e-5) -> float:
    return float64 if dtype == torch.float64 else float32


NUMERIC_STEP = 1e-5
KINK_GAP = 1e-3


def away_from_zero(seed: int, *shape: int, dtype=torch.float64, gap: float = KINK_GAP) -> torch.Tensor:
    """randn values none of which is within ``gap`` of 0 (the kink of the activations)."""
    x = randn(seed, *shape)
    return (x + torch.where(x >= 0, gap, -gap)).to(dtype)


# ----------------------------------------------------------------------------------------------
# layers: Linear, ReLU, LeakyReLU, ELU


def roundtrip(student, layer: str, args: tuple, kwargs: dict, dout, what: str):
    """``out, cache = Layer.forward(*args, **kwargs)`` then ``Layer.backward(dout, cache)`` in the
    sandbox (``dout=None``: forward only). Returns (out, grads)."""
    result = student.drive("layer_roundtrip", f"{M}.{layer}", args, kwargs, dout, what=what)
    if not isinstance(result, dict) or "out" not in result:
        raise GraderBug("layer_roundtrip returned something unexpected")
    return result["out"], result.get("grads")


def forward_only(student, layer: str, args: tuple, kwargs: dict, what: str):
    return roundtrip(student, layer, args, kwargs, None, what)[0]


def kwargs_text(kwargs: dict) -> str:
    return "".join(f", {k}={v}" for k, v in kwargs.items())


def numeric_gradient(student, layer: str, args: tuple, kwargs: dict, dout: torch.Tensor, index: int,
                     what: str) -> torch.Tensor:
    """d sum(out * dout) / d args[index] by centered differences of the student's forward."""
    target = args[index]
    numeric = torch.zeros_like(target, dtype=torch.float64)
    for position in range(target.numel()):
        values = []
        for sign in (1, -1):
            moved = target.clone()
            moved.view(-1)[position] += sign * NUMERIC_STEP
            moved_args = tuple(moved if i == index else a for i, a in enumerate(args))
            out = forward_only(student, layer, moved_args, kwargs, what)
            if not isinstance(out, torch.Tensor) or out.shape != dout.shape:
                raise GradingFailure(f"{what}: the forward pass should return out of shape {tuple(dout.shape)}")
            values.append((out.double() * dout.double()).sum())
        numeric.view(-1)[position] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
    return numeric


def check_numeric(actual, numeric: torch.Tensor, what: str, tol: float = 1e-7) -> None:
    error = rel_error(actual, numeric)
    if not error <= tol:
        raise GradingFailure(f"{what} is not the gradient of the layer's own forward pass: it differs from the "
                             f"centered-difference numeric gradient (relative error {error:.1e} > {tol:.0e})")


LINEAR_CASES = [  # (description, x shape, M, dtype)
    ("image-shaped x", (3, 4, 5), 6, torch.float64),
    ("2-D x", (2, 7), 3, torch.float64),
    ("a single example with 3 dimensions", (1, 2, 3, 2), 4, torch.float64),
    ("float32 image batch", (10, 3, 8, 8), 5, torch.float32),
]


def linear_case(seed: int, x_shape: tuple, M_: int, dtype):
    D = math.prod(x_shape[1:])
    x = randn(seed, *x_shape).to(dtype)
    w = (randn(seed + 1, D, M_) / math.sqrt(D)).to(dtype)
    b = randn(seed + 2, M_).to(dtype)
    dout = randn(seed + 3, x_shape[0], M_).to(dtype)
    what = (f"Linear.forward(x, w, b) with {description_of(x)}, w {tuple(w.shape)}, b {tuple(b.shape)}")
    return x, w, b, dout, what


def description_of(x: torch.Tensor) -> str:
    return f"{dtype_name(x.dtype)} x {tuple(x.shape)}"


@pytest.mark.group("layers")
def test_linear_forward(student, expect):
    """Linear.forward: out = x reshaped to (N, D) @ w + b, for 2-D and image-shaped x (float64, float32)"""
    check_not_banned(student, "Linear.forward")
    for index, (description, x_shape, M_, dtype) in enumerate(LINEAR_CASES):
        x, w, b, _, what = linear_case(100 + 10 * index, x_shape, M_, dtype)
        out = forward_only(student, "Linear", (x, w, b), {}, what)
        expect.tensor(f"case{index}", out, what=f"out of {what}", tol=tol_for(dtype, 1e-10), device="cpu")


def check_linear_backward_case(student, expect, index: int, x, w, b, dout, what: str) -> tuple:
    what = what.replace("Linear.forward", "Linear.backward(dout, cache) after Linear.forward")
    _, grads = roundtrip(student, "Linear", (x, w, b), {}, dout, what)
    if not isinstance(grads, (tuple, list)) or len(grads) != 3:
        raise GradingFailure(f"{what} should return a tuple (dx, dw, db)")
    dx, dw, db = grads
    if isinstance(dx, torch.Tensor) and x.dim() > 2 and tuple(dx.shape) == (x.shape[0], math.prod(x.shape[1:])):
        raise GradingFailure(f"dx of {what} has shape {tuple(dx.shape)}; it must have the shape of x, "
                             f"{tuple(x.shape)}: reshape it back (dx.reshape(x.shape))")
    tol = tol_for(x.dtype, 1e-10)
    for name, value in (("dx", dx), ("dw", dw), ("db", db)):
        expect.tensor(f"case{index}_{name}", value, what=f"{name} of {what}", tol=tol, device="cpu")
    return dx, dw, db


@pytest.mark.group("layers")
def test_linear_backward(student, expect):
    """Linear.backward: dx (the shape of x), dw and db for 2-D and image-shaped x (float64, float32)"""
    check_not_banned(student, "Linear.backward")
    for index, (description, x_shape, M_, dtype) in enumerate(LINEAR_CASES):
        x, w, b, dout, what = linear_case(200 + 10 * index, x_shape, M_, dtype)
        check_linear_backward_case(student, expect, index, x, w, b, dout, what)


@pytest.mark.group("layers")
def test_linear_backward_numeric(student):
    """Linear.backward: dx, dw and db are the gradients of Linear.forward (numeric gradient check)"""
    check_not_banned(student, "Linear.forward", "Linear.backward")
    x, w, b, dout, what = linear_case(300, (2, 3, 2), 4, torch.float64)
    what_backward = what.replace("Linear.forward", "Linear.backward(dout, cache) after Linear.forward")
    _, grads = roundtrip(student, "Linear", (x, w, b), {}, dout, what_backward)
    if not isinstance(grads, (tuple, list)) or len(grads) != 3:
        raise GradingFailure(f"{what_backward} should return a tuple (dx, dw, db)")
    for index, (name, value, target) in enumerate((("dx", grads[0], x), ("dw", grads[1], w), ("db", grads[2], b))):
        check_structure(value, target.shape, torch.float64, f"{name} of {what_backward}")
        check_numeric(value, numeric_gradient(student, "Linear", (x, w, b), {}, dout, index, what),
                      f"{name} of {what_backward}")


# Elementwise activations: (layer, keyword arguments). Non-default slopes and alphas included.
ACTIVATION_CASES = {
    "ReLU": [{}],
    "LeakyReLU": [{}, {"negative_slope": 0.2}],
    "ELU": [{}, {"alpha": 0.5}],
}
SHAPES = [((4, 5), torch.float64), ((2, 3, 4), torch.float64), ((6, 7), torch.float32)]


def activation_what(layer: str, kwargs: dict, x: torch.Tensor, backward: bool = False) -> str:
    call_text = f"{layer}.forward(x{kwargs_text(kwargs)}) with {description_of(x)}"
    return f"{layer}.backward(dout, cache) after {call_text}" if backward else call_text


def check_activation_forward(student, expect, layer: str, seed: int) -> None:
    check_not_banned(student, f"{layer}.forward")
    for k, kwargs in enumerate(ACTIVATION_CASES[layer]):
        for s, (shape_, dtype) in enumerate(SHAPES):
            x = away_from_zero(seed + 10 * k + s, *shape_, dtype=dtype)
            what = activation_what(layer, kwargs, x)
            out = forward_only(student, layer, (x,), kwargs, what)
            if isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype and layer != "ReLU":
                hint = activation_hint(layer, kwargs, x, out)
                if hint:
                    raise GradingFailure(f"out of {what} {hint}")
            expect.tensor(f"case{k}_{s}", out, what=f"out of {what}", tol=tol_for(dtype, 1e-10), device="cpu")


def activation_hint(layer: str, kwargs: dict, x: torch.Tensor, out: torch.Tensor) -> str:
    """Say so when a non-default slope or alpha is ignored."""
    if not kwargs:
        return ""
    negative = x < 0
    value = out.double()[negative]
    xs = x.double()[negative]
    if layer == "LeakyReLU":
        if torch.allclose(value, 0.01 * xs, rtol=1e-4, atol=0):
            return "uses the default slope 0.01 instead of the given negative_slope"
    elif layer == "ELU":
        if torch.allclose(value, torch.expm1(xs), rtol=1e-4, atol=1e-12):
            return "uses alpha = 1 instead of the given alpha"
    return ""


def check_activation_backward(student, expect, layer: str, seed: int) -> None:
    check_not_banned(student, f"{layer}.forward", f"{layer}.backward")
    for k, kwargs in enumerate(ACTIVATION_CASES[layer]):
        for s, (shape_, dtype) in enumerate(SHAPES):
            x = away_from_zero(seed + 10 * k + s, *shape_, dtype=dtype)
            dout = randn(seed + 100 + 10 * k + s, *shape_).to(dtype)
            what = activation_what(layer, kwargs, x, backward=True)
            _, dx = roundtrip(student, layer, (x,), kwargs, dout, what)
            expect.tensor(f"case{k}_{s}", dx, what=f"dx of {what}", tol=tol_for(dtype, 1e-10), device="cpu")
        # The numeric gradient of the student's own forward pass, every entry (float64).
        x = away_from_zero(seed + 50 + k, 3, 4)
        dout = randn(seed + 60 + k, 3, 4)
        what = activation_what(layer, kwargs, x, backward=True)
        _, dx = roundtrip(student, layer, (x,), kwargs, dout, what)
        check_structure(dx, x.shape, torch.float64, f"dx of {what}")
        check_numeric(dx, numeric_gradient(student, layer, (x,), kwargs, dout, 0, activation_what(layer, kwargs, x)),
                      f"dx of {what}")


@pytest.mark.group("layers")
def test_relu_forward(student, expect):
    """ReLU.forward: max(0, x) elementwise, any shape (float64, float32)"""
    check_activation_forward(student, expect, "ReLU", 400)


@pytest.mark.group("layers")
def test_relu_backward(student, expect):
    """ReLU.backward: dx against the reference and the numeric gradient of ReLU.forward"""
    check_activation_backward(student, expect, "ReLU", 450)


@pytest.mark.group("layers")
def test_leaky_relu_forward(student, expect):
    """LeakyReLU.forward with the default and a non-default negative_slope (float64, float32)"""
    check_activation_forward(student, expect, "LeakyReLU", 500)


@pytest.mark.group("layers")
def test_leaky_relu_backward(student, expect):
    """LeakyReLU.backward: dx for both slopes, against the reference and the numeric gradient"""
    check_activation_backward(student, expect, "LeakyReLU", 550)


@pytest.mark.group("layers")
def test_elu_forward(student, expect):
    """ELU.forward with the default and a non-default alpha, large inputs included (float64, float32)"""
    check_activation_forward(student, expect, "ELU", 600)
    # Large positive inputs: exp of them overflows; the output must stay finite.
    x = torch.tensor([[-3.0, -0.5, 0.25, 50.0, 120.0, 800.0]], dtype=torch.float32)
    what = f"ELU.forward(x, alpha=0.5) with {description_of(x)} holding large positive values"
    out = forward_only(student, "ELU", (x,), {"alpha": 0.5}, what)
    if isinstance(out, torch.Tensor) and out.shape == x.shape and not torch.isfinite(out).all():
        raise GradingFailure(f"out of {what} contains NaN or infinity: exp of a large x overflows even in the "
                             "branch that is not selected; take the exponential of x.clamp(max=0)")
    expect.tensor("large", out, what=f"out of {what}", tol=1e-6, device="cpu")


@pytest.mark.group("layers")
def test_elu_backward(student, expect):
    """ELU.backward: dx for both alphas, against the reference and the numeric gradient"""
    check_activation_backward(student, expect, "ELU", 650)
    x = torch.tensor([[-3.0, -0.5, 0.25, 50.0, 120.0, 800.0]], dtype=torch.float32)
    dout = torch.ones_like(x)
    what = f"ELU.backward(dout, cache) after ELU.forward(x, alpha=0.5) with {description_of(x)} holding large values"
    _, dx = roundtrip(student, "ELU", (x,), {"alpha": 0.5}, dout, what)
    if isinstance(dx, torch.Tensor) and dx.shape == x.shape and not torch.isfinite(dx).all():
        raise GradingFailure(f"dx of {what} contains NaN or infinity: exp of a large x overflows even in the "
                             "branch that is not selected; take the exponential of x.clamp(max=0)")
    expect.tensor("large", dx, what=f"dx of {what}", tol=1e-6, device="cpu")


# ----------------------------------------------------------------------------------------------
# dropout: Dropout.forward / backward, and dropout in FullyConnectedNet


def dropout_what(p: float, mode: str, x: torch.Tensor, seed: int | None = None, backward: bool = False) -> str:
    param = f"{{'p': {p}, 'mode': '{mode}'" + (f", 'seed': {seed}" if seed is not None else "") + "}"
    text = f"Dropout.forward(x, {param}) with {description_of(x)}"
    return f"Dropout.backward(dout, cache) after {text}" if backward else text


def positive_input(seed: int, *shape: int, dtype=torch.float64) -> torch.Tensor:
    """Values in [1, 2): none is 0, so kept and dropped units can be told apart."""
    return (1 + torch.rand(*shape, generator=gen(seed), dtype=torch.float64)).to(dtype)


@pytest.mark.group("dropout")
def test_dropout_forward_train(student):
    """Dropout.forward in train mode drops a fraction p of the units and scales the kept ones by 1/(1-p)"""
    check_not_banned(student, "Dropout.forward")
    for index, (p, dtype) in enumerate(((0.25, torch.float64), (0.6, torch.float32), (0.9, torch.float64))):
        x = positive_input(700 + index, 400, 250, dtype=dtype)
        what = dropout_what(p, "train", x)
        out = forward_only(student, "Dropout", (x, {"p": p, "mode": "train"}), {}, what)
        check_structure(out, x.shape, dtype, f"out of {what}")
        out, xd = out.double(), x.double()
        kept = out != 0
        fraction = kept.double().mean().item()
        if abs(fraction - p) < 0.02 and abs(p - 0.5) > 0.05:
            raise GradingFailure(f"{what} keeps a fraction p of the units; p is the probability of DROPPING a unit: "
                                 "keep the units whose random number is greater than p")
        if abs(fraction - (1 - p)) > 0.02:
            raise GradingFailure(f"{what} keeps {100 * fraction:.0f}% of the units; it should keep about "
                                 f"{100 * (1 - p):.0f}% (each unit is dropped with probability p)")
        ratio = out[kept] / xd[kept]
        scale_tol = 1e-12 if dtype == torch.float64 else 1e-6
        if bool(((ratio - 1).abs() < scale_tol).all()):
            raise GradingFailure(f"{what} does not rescale at training time: the kept units are unchanged; "
                                 "inverted dropout divides the kept units by (1 - p), so that nothing "
                                 "changes at test time")
        if bool(((ratio - (1 - p)).abs() < scale_tol).all()):
            raise GradingFailure(f"{what} multiplies the kept units by (1 - p); inverted dropout DIVIDES them by "
                                 "(1 - p) at training time")
        if not bool(((ratio - 1 / (1 - p)).abs() < scale_tol * 10 / (1 - p)).all()):
            raise GradingFailure(f"{what}: the kept units should be the inputs scaled by 1 / (1 - p), and the "
                                 "others 0")
    what = dropout_what(0.5, "train", x)
    a = forward_only(student, "Dropout", (x, {"p": 0.5, "mode": "train"}), {}, what)
    b = forward_only(student, "Dropout", (x, {"p": 0.5, "mode": "train"}), {}, what)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b):
        raise GradingFailure(f"{what} drew the same mask in two calls without a seed: draw a new random mask "
                             "(torch.rand_like(x)) in every call")


@pytest.mark.group("dropout")
def test_dropout_forward_test_mode(student):
    """Dropout.forward in test mode is the identity (no mask, no scaling)"""
    check_not_banned(student, "Dropout.forward")
    for index, (p, dtype) in enumerate(((0.5, torch.float64), (0.8, torch.float32), (0.3, torch.float64))):
        x = randn(710 + index, 30, 20, dtype=dtype)
        what = dropout_what(p, "test", x)
        out = forward_only(student, "Dropout", (x, {"p": p, "mode": "test"}), {}, what)
        check_structure(out, x.shape, dtype, f"out of {what}")
        if not torch.equal(out, x):
            scaled = (out.double() - x.double() * (1 - p)).abs().max().item() < 1e-6 * x.abs().max().item()
            hint = ("; with inverted dropout, test mode does no scaling (the training-time mask already divided "
                    "by 1 - p)") if scaled else ": return x unchanged in test mode"
            raise GradingFailure(f"out of {what} is not x{hint}")


def check_dropout_output(out, x: torch.Tensor, p: float, what: str, fraction_tol: float) -> torch.Tensor:
    """That ``out`` is inverted dropout of ``x`` (each unit 0 or x / (1 - p), about a fraction 1 - p
    kept); returns the multiplier ``out / x`` (the mask). How the mask is drawn is the student's."""
    check_structure(out, x.shape, x.dtype, f"out of {what}")
    mask = out.double() / x.double()
    kept = mask != 0
    scale_tol = 1e-12 if x.dtype == torch.float64 else 1e-6
    if not bool(((mask[kept] - 1 / (1 - p)).abs() < scale_tol * 10 / (1 - p)).all()):
        raise GradingFailure(f"{what}: each unit should be 0 (dropped) or the input scaled by 1 / (1 - p) (kept)")
    fraction = kept.double().mean().item()
    if abs(fraction - (1 - p)) > fraction_tol:
        raise GradingFailure(f"{what} keeps {100 * fraction:.0f}% of the units; it should keep about "
                             f"{100 * (1 - p):.0f}% (each unit is dropped with probability p)")
    return mask


@pytest.mark.group("dropout")
def test_dropout_seeded_mask(student):
    """Dropout.forward with a seed draws the same mask in every call, and another one with another seed"""
    check_not_banned(student, "Dropout.forward")
    for index, (p, seed, dtype) in enumerate(((0.4, 123, torch.float64), (0.7, 5, torch.float32))):
        x = positive_input(720 + index, 20, 30, dtype=dtype)
        what = dropout_what(p, "train", x, seed)
        param = {"p": p, "mode": "train", "seed": seed}
        first = forward_only(student, "Dropout", (x, dict(param)), {}, what)
        check_dropout_output(first, x, p, what, 0.1)
        second = forward_only(student, "Dropout", (x, dict(param)), {}, what)
        if not isinstance(second, torch.Tensor) or not torch.equal(first, second):
            raise GradingFailure(f"{what} returned different outputs in two calls with the same seed; with a seed, "
                                 "torch.manual_seed(seed) is called first (given code): keep it, and draw the "
                                 "mask after it")
        other = forward_only(student, "Dropout", (x, {**param, "seed": seed + 1}), {}, what)
        if isinstance(other, torch.Tensor) and torch.equal(first, other):
            raise GradingFailure(f"{what} gives the same output with the seeds {seed} and {seed + 1}: draw the mask "
                                 "from the random number generator after torch.manual_seed(seed)")


@pytest.mark.group("dropout")
def test_dropout_backward(student):
    """Dropout.backward: dout times the training mask (train mode), dout unchanged (test mode)"""
    check_not_banned(student, "Dropout.forward", "Dropout.backward")
    for index, (p, dtype) in enumerate(((0.3, torch.float64), (0.75, torch.float32))):
        x = positive_input(730 + index, 25, 40, dtype=dtype)
        dout = randn(740 + index, 25, 40).to(dtype)
        what = dropout_what(p, "train", x, 11, backward=True)
        out, dx = roundtrip(student, "Dropout", (x, {"p": p, "mode": "train", "seed": 11}), {}, dout, what)
        try:
            mask = check_dropout_output(out, x, p, what.split(" after ")[1], 0.1)  # what forward multiplied x by
        except GradingFailure as failure:
            raise GradingFailure(f"this test needs a working Dropout.forward (see its tests): {failure}") from None
        check_structure(dx, x.shape, dtype, f"dx of {what}")
        error = rel_error(dx, dout.double() * mask)
        if error > tol_for(dtype, 1e-12, 1e-6):
            raise GradingFailure(f"dx of {what} is not dout times the mask that the forward pass applied "
                                 "(the kept units scaled by 1 / (1 - p), the dropped ones 0)")
    x = randn(750, 6, 7)
    dout = randn(751, 6, 7)
    what = dropout_what(0.5, "test", x, backward=True)
    _, dx = roundtrip(student, "Dropout", (x, {"p": 0.5, "mode": "test"}), {}, dout, what)
    check_structure(dx, x.shape, torch.float64, f"dx of {what}")
    if not torch.equal(dx, dout):
        raise GradingFailure(f"dx of {what} should be dout unchanged: test-mode dropout is the identity")


# ----------------------------------------------------------------------------------------------
# networks: the grader's float64 formulas (for safe inputs and hints), and the model drivers


def act(activation: str, x: torch.Tensor) -> torch.Tensor:
    if activation == "relu":
        return x.clamp(min=0)
    if activation == "leaky_relu":
        return torch.where(x > 0, x, 0.01 * x)
    return torch.where(x > 0, x, torch.expm1(x.clamp(max=0)))


def fc_forward(params: dict, X: torch.Tensor, num_layers: int, activation: str = "relu"):
    """(scores, pre-activations of every hidden layer) without dropout, float64."""
    h = X.double().reshape(X.shape[0], -1)
    pres = []
    for i in range(1, num_layers):
        pre = h @ params[f"W{i}"].double() + params[f"b{i}"].double()
        pres.append(pre)
        h = act(activation, pre)
    return h @ params[f"W{num_layers}"].double() + params[f"b{num_layers}"].double(), pres


def net_params(seed: int, dims: list[int], dtype) -> dict:
    params = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = (randn(seed + 2 * i, dims[i - 1], dims[i]) / math.sqrt(dims[i - 1])).to(dtype)
        params[f"b{i}"] = (0.1 * randn(seed + 2 * i + 1, dims[i])).to(dtype)
    return params


def net_case(seed: int, N: int, x_shape: tuple, hidden: list[int], C: int, dtype, activation: str = "relu",
             gap: float = KINK_GAP):
    """(params, X, y) with no hidden pre-activation within ``gap`` of the kink at 0."""
    D = math.prod(x_shape)
    for attempt in range(500):
        s = seed + 1000 * attempt
        params = net_params(s, [D, *hidden, C], dtype)
        X = randn(s + 99, N, *x_shape).to(dtype)
        y = randint(s + 98, C, N)
        _, pres = fc_forward(params, X, len(hidden) + 1, activation)
        if all(bool(pre.abs().min() > gap) for pre in pres):
            return params, X, y
    raise GraderBug("net_case: no input clear of the activation's kink")


def run_model(student, model: str, init_kwargs: dict, params: dict, X, y, what: str):
    try:
        return student.drive("model_loss", f"{M}.{model}", init_kwargs, params, X, y, what=what)
    except GradingFailure as failure:
        raise GradingFailure(str(failure)) from None


def unpack_loss(result, what: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return a tuple (loss, grads) when y is given")
    loss, grads = result
    if isinstance(loss, float):
        raise GradingFailure(f"{what} returned the loss as a Python float; return a 0-dimensional tensor "
                             "(don't call .item())")
    if not isinstance(grads, dict):
        raise GradingFailure(f"{what} should return grads as a dict with the keys of self.params")
    return loss, grads


def reg_hint(actual, expected, W: torch.Tensor, reg: float) -> str:
    if (reg == 0 or not isinstance(actual, torch.Tensor) or not isinstance(expected, torch.Tensor)
            or actual.shape != expected.shape or not torch.isfinite(actual).all()):
        return ""
    tol = 1e-6 if actual.dtype == torch.float64 else 1e-4
    if rel_error(actual, expected.double() - 2 * reg * W.double()) < tol:
        return "; the regularization gradient 2 * reg * W is missing"
    if rel_error(actual, expected.double() - reg * W.double()) < tol:
        return "; the gradient of reg * sum(W * W) is 2 * reg * W, not reg * W"
    return ""


def check_loss_and_grads(student, expect, key: str, model: str, init_kwargs: dict, params: dict, X, y,
                         what: str, loss_hint: str = "") -> None:
    loss, grads = unpack_loss(run_model(student, model, init_kwargs, params, X, y, what), what)
    dtype = X.dtype
    reg = init_kwargs.get("reg", 0.0)
    try:
        expect.tensor(f"{key}_loss", loss, what=f"the loss of {what}", tol=tol_for(dtype, 1e-10), device="cpu")
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}{loss_hint}") from None
    if set(grads) != set(params):
        raise GradingFailure(f"grads of {what} should have the keys {', '.join(sorted(params))} (those of "
                             f"self.params), but has {', '.join(sorted(map(str, grads))) or 'none'}")
    for name in sorted(params, key=lambda n: (int(n[1:]), n[0])):
        try:
            expect.tensor(f"{key}_{name}", grads[name], what=f"grads['{name}'] of {what}",
                          tol=tol_for(dtype, 1e-8), device="cpu")
        except GradingFailure as failure:
            hint = ""
            if name.startswith("W"):
                hint = reg_hint(grads[name], expect.references.get(f"{expect.test_id}::{key}_{name}"),
                                params[name], reg)
            raise GradingFailure(f"{failure}{hint}{loss_hint}") from None


def model_text(model: str, kwargs: dict) -> str:
    shown = [f"{k}={v}" if isinstance(v, torch.dtype) else f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{model}({', '.join(shown)})"


def x_text(X: torch.Tensor) -> str:
    return f"{dtype_name(X.dtype)} X {tuple(X.shape)}"


# TwoLayerNet cases: (N, x_shape, H, C, reg, dtype)
TWO_LAYER_CASES = [
    (3, (5,), 50, 7, 0.0, torch.float64),       # the course's shapes
    (3, (5,), 50, 7, 0.7, torch.float64),
    (4, (2, 3), 6, 3, 0.1, torch.float64),      # image-shaped X
    (8, (20,), 10, 4, 0.05, torch.float32),
]


def two_layer_kwargs(x_shape, H, C, reg, dtype) -> dict:
    return {"input_dim": math.prod(x_shape), "hidden_dim": H, "num_classes": C, "reg": reg, "dtype": dtype}


@pytest.mark.group("networks")
def test_two_layer_net_init(student):
    """TwoLayerNet initializes W1, W2 ~ weight_scale * randn and zero biases, in the given dtype"""
    check_not_banned(student, "TwoLayerNet.__init__")
    for dtype, weight_scale in ((torch.float64, 0.02), (torch.float32, 1e-3)):
        kwargs = {"input_dim": 400, "hidden_dim": 300, "num_classes": 20, "weight_scale": weight_scale, "dtype": dtype}
        what = model_text("TwoLayerNet", kwargs)
        state = student.drive("model_state", f"{M}.TwoLayerNet", kwargs, what=what)
        check_init(state["params"], [400, 300, 20], weight_scale, dtype, what)


def check_init(params, dims: list[int], weight_scale: float, dtype, what: str) -> None:
    expected = {}
    for i in range(1, len(dims)):
        expected[f"W{i}"] = (dims[i - 1], dims[i])
        expected[f"b{i}"] = (dims[i],)
    if not isinstance(params, dict) or set(params) != set(expected):
        keys = ", ".join(sorted(map(str, params))) if isinstance(params, dict) else "not a dict"
        raise GradingFailure(f"{what}: self.params should have the keys {', '.join(sorted(expected))}, "
                             f"but has {keys or 'none'}")
    for name, shape_ in expected.items():
        value = params[name]
        check_structure(value, shape_, dtype, f"self.params['{name}'] of {what}")
        if name.startswith("b") and bool((value != 0).any()):
            raise GradingFailure(f"self.params['{name}'] of {what} should be zeros")
        if name.startswith("W"):
            values = value.double()
            std = values.std().item()
            if abs(std / weight_scale - 1) > 0.1:
                raise GradingFailure(f"self.params['{name}'] of {what} should be drawn from a Gaussian with standard "
                                     f"deviation weight_scale (weight_scale * torch.randn(...)), but its entries' "
                                     f"standard deviation is {std / weight_scale:.2f} times weight_scale")
            if abs(values.mean().item()) > 6 * weight_scale / math.sqrt(values.numel()):
                raise GradingFailure(f"self.params['{name}'] of {what} should have mean 0 (weight_scale * "
                                     "torch.randn(...))")


@pytest.mark.group("networks")
def test_two_layer_net_scores(student, expect):
    """TwoLayerNet.loss(X) returns the scores, for 2-D and image-shaped X (float64, float32)"""
    check_not_banned(student, "TwoLayerNet.loss")
    for index, (N, x_shape, H, C, reg, dtype) in enumerate(TWO_LAYER_CASES):
        params, X, _ = net_case(800 + 10 * index, N, x_shape, [H], C, dtype)
        kwargs = two_layer_kwargs(x_shape, H, C, reg, dtype)
        what = f"{model_text('TwoLayerNet', kwargs)}.loss(X) with {x_text(X)} and given params"
        scores = run_model(student, "TwoLayerNet", kwargs, params, X, None, what)
        expect.tensor(f"case{index}", scores, what=f"the scores of {what}", tol=tol_for(dtype, 1e-10), device="cpu")


@pytest.mark.group("networks")
def test_two_layer_net_loss_and_grads(student, expect):
    """TwoLayerNet.loss(X, y): loss and gradients with and without regularization (float64, float32)"""
    check_not_banned(student, "TwoLayerNet.loss")
    for index, (N, x_shape, H, C, reg, dtype) in enumerate(TWO_LAYER_CASES):
        params, X, y = net_case(800 + 10 * index, N, x_shape, [H], C, dtype)
        kwargs = two_layer_kwargs(x_shape, H, C, reg, dtype)
        what = f"{model_text('TwoLayerNet', kwargs)}.loss(X, y) with {x_text(X)} and given params"
        check_loss_and_grads(student, expect, f"case{index}", "TwoLayerNet", kwargs, params, X, y, what)


# FullyConnectedNet cases: (N, x_shape, hidden_dims, C, reg, activation, dtype). The course's
# network is a ReLU network built without ``activation``; the other activations are our extras.
FC_CASES = [
    (4, (5,), [], 3, 0.0, "relu", torch.float64),
    (5, (6,), [7], 4, 0.1, "relu", torch.float64),
    (3, (8,), [6, 5], 3, 0.0, "relu", torch.float64),
    (6, (4,), [5, 4, 6], 5, 0.5, "relu", torch.float64),
    (4, (2, 2, 3), [5, 4], 3, 0.05, "relu", torch.float64),
    (7, (10,), [8, 6], 4, 0.1, "relu", torch.float32),
]
ACTIVATION_CASES_NET = [
    (3, (8,), [6, 5], 3, 0.0, "leaky_relu", torch.float64),
    (6, (4,), [5, 4, 6], 5, 0.5, "elu", torch.float64),
    (7, (10,), [8, 6], 4, 0.1, "elu", torch.float32),
    (5, (12,), [9, 7, 5], 3, 0.0, "leaky_relu", torch.float32),
]


def fc_kwargs(x_shape, hidden, C, reg, activation, dtype, **extra) -> dict:
    """FullyConnectedNet's keyword arguments; ``activation`` only when it is not the course's ReLU."""
    kwargs = {"hidden_dims": list(hidden), "input_dim": math.prod(x_shape), "num_classes": C, "reg": reg,
              "dtype": dtype, **extra}
    if activation != "relu":
        kwargs["activation"] = activation
    return kwargs


@pytest.mark.group("networks")
def test_fc_net_init(student):
    """FullyConnectedNet initializes every layer: weights ~ weight_scale * randn, zero biases, given dtype"""
    check_not_banned(student, "FullyConnectedNet.__init__")
    for hidden, weight_scale, dtype in (([300, 200], 0.05, torch.float64), ([150, 120, 100], 1e-2, torch.float32),
                                        ([], 0.1, torch.float64)):
        kwargs = {"hidden_dims": hidden, "input_dim": 400, "num_classes": 30, "weight_scale": weight_scale,
                  "dtype": dtype}
        what = model_text("FullyConnectedNet", kwargs)
        state = student.drive("model_state", f"{M}.FullyConnectedNet", kwargs, what=what)
        check_init(state["params"], [400, *hidden, 30], weight_scale, dtype, what)
    kwargs = {"hidden_dims": [200, 100], "input_dim": 300}
    what = model_text("FullyConnectedNet", kwargs) + " (default weight_scale and dtype)"
    state = student.drive("model_state", f"{M}.FullyConnectedNet", kwargs, what=what)
    check_init(state["params"], [300, 200, 100, 10], 1e-2, torch.float32, what)


def check_fc_scores(student, expect, cases, seed: int) -> None:
    check_not_banned(student, "FullyConnectedNet.loss")
    for index, (N, x_shape, hidden, C, reg, activation, dtype) in cases:
        params, X, _ = net_case(seed + 10 * index, N, x_shape, hidden, C, dtype, activation)
        kwargs = fc_kwargs(x_shape, hidden, C, reg, activation, dtype)
        what = f"{model_text('FullyConnectedNet', kwargs)}.loss(X) with {x_text(X)} and given params"
        scores = run_model(student, "FullyConnectedNet", kwargs, params, X, None, what)
        expect.tensor(f"case{index}", scores, what=f"the scores of {what}", tol=tol_for(dtype, 1e-10), device="cpu")


@pytest.mark.group("networks")
def test_fc_net_scores(student, expect):
    """FullyConnectedNet.loss(X) returns the scores for networks of 1 to 4 layers (float64, float32)"""
    check_fc_scores(student, expect, list(enumerate(FC_CASES)), 900)


def fc_loss_test(student, expect, cases, seed: int) -> None:
    check_not_banned(student, "FullyConnectedNet.loss")
    for index, (N, x_shape, hidden, C, reg, activation, dtype) in cases:
        params, X, y = net_case(seed + 10 * index, N, x_shape, hidden, C, dtype, activation)
        kwargs = fc_kwargs(x_shape, hidden, C, reg, activation, dtype)
        what = f"{model_text('FullyConnectedNet', kwargs)}.loss(X, y) with {x_text(X)} and given params"
        check_loss_and_grads(student, expect, f"case{index}", "FullyConnectedNet", kwargs, params, X, y, what)


@pytest.mark.group("networks")
def test_fc_net_loss_and_grads(student, expect):
    """FullyConnectedNet.loss(X, y): loss and gradients for 1 to 4 layers, with and without reg (float64)"""
    fc_loss_test(student, expect, [(i, c) for i, c in enumerate(FC_CASES) if c[-1] == torch.float64], 950)


@pytest.mark.group("networks")
def test_fc_net_loss_and_grads_float32(student, expect):
    """FullyConnectedNet.loss(X, y) in float32: a float32 loss and float32 gradients"""
    fc_loss_test(student, expect, [(i, c) for i, c in enumerate(FC_CASES) if c[-1] == torch.float32], 950)


def numeric_model_gradient(student, model: str, init_kwargs: dict, params: dict, X, y, what: str) -> dict:
    numeric = {}
    for name, value in params.items():
        grad = torch.zeros_like(value)
        for position in range(value.numel()):
            values = []
            for sign in (1, -1):
                moved = {k: v.clone() for k, v in params.items()}
                moved[name].view(-1)[position] += sign * NUMERIC_STEP
                loss, _ = unpack_loss(run_model(student, model, init_kwargs, moved, X, y, what), what)
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    raise GradingFailure(f"the loss of {what} should be a 0-dimensional tensor")
                values.append(loss.double().reshape(()))
            grad.view(-1)[position] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
        numeric[name] = grad
    return numeric


def check_model_numeric(student, model: str, init_kwargs: dict, params: dict, X, y, what: str) -> None:
    _, grads = unpack_loss(run_model(student, model, init_kwargs, params, X, y, what), what)
    for name in params:
        check_structure(grads.get(name), params[name].shape, torch.float64, f"grads['{name}'] of {what}")
    numeric = numeric_model_gradient(student, model, init_kwargs, params, X, y, what)
    for name in sorted(params, key=lambda n: (int(n[1:]), n[0])):
        error = rel_error(grads[name], numeric[name])
        if not error <= 1e-6:
            raise GradingFailure(f"grads['{name}'] of {what} is not the gradient of the loss it returns: it differs "
                                 f"from the centered-difference numeric gradient of that loss (relative error "
                                 f"{error:.1e} > 1e-06)")


def check_fc_numeric(student, activation: str, seed: int) -> None:
    params, X, y = net_case(seed, 4, (4,), [3, 3], 3, torch.float64, activation, gap=1e-2)
    kwargs = fc_kwargs((4,), [3, 3], 3, 0.1, activation, torch.float64)
    what = f"{model_text('FullyConnectedNet', kwargs)}.loss(X, y) with {x_text(X)} and given params"
    # The numeric check pays only for a loss that is the network's: the loss must match first.
    loss, _ = unpack_loss(run_model(student, "FullyConnectedNet", kwargs, params, X, y, what), what)
    expected = fc_loss_and_grads(params, X, y, 3, 0.1, activation)[0]
    check_structure(loss, (), torch.float64, f"the loss of {what}")
    if rel_error(loss, expected) > 1e-10:
        raise GradingFailure(f"the loss of {what} is not the softmax loss of the network plus the regularization; "
                             "the gradient check needs the right loss first (see the loss tests)")
    check_model_numeric(student, "FullyConnectedNet", kwargs, params, X, y, what)


@pytest.mark.group("networks")
def test_fc_net_numeric_gradient(student):
    """FullyConnectedNet: the gradients are those of its own loss (numeric gradient check, with reg)"""
    check_not_banned(student, "FullyConnectedNet.loss")
    check_fc_numeric(student, "relu", 1000)


@pytest.mark.group("networks")
def test_fc_net_activations(student, expect):
    """FullyConnectedNet(activation='leaky_relu' | 'elu'): scores, loss and gradients, numeric check (our extra)"""
    cases = [(len(FC_CASES) + i, c) for i, c in enumerate(ACTIVATION_CASES_NET)]
    check_fc_scores(student, expect, cases, 900)
    fc_loss_test(student, expect, cases, 950)
    check_fc_numeric(student, "elu", 1001)


# With dropout (seeded): (N, D, hidden_dims, C, p, reg, activation, dtype)
DROPOUT_CASES = [
    (6, 8, [7, 6], 4, 0.25, 0.0, "relu", torch.float64),
    (5, 10, [9, 8, 7], 3, 0.5, 0.1, "relu", torch.float64),
    (8, 12, [10], 5, 0.75, 0.05, "relu", torch.float32),
]
DROPOUT_SEED = 123


def fc_loss_and_grads(params: dict, X: torch.Tensor, y: torch.Tensor, num_layers: int, reg: float,
                      activation: str = "relu", masks: list | None = None):
    """The loss and gradients of the network in float64 (grader side), with the dropout multipliers
    ``masks[i]`` (the output of Dropout.forward on ones: 0 or 1 / (1 - p)) after hidden layer i + 1."""
    params = {k: v.double() for k, v in params.items()}
    h = X.double().reshape(X.shape[0], -1)
    caches = []
    for i in range(1, num_layers):
        pre = h @ params[f"W{i}"] + params[f"b{i}"]
        out = act(activation, pre)
        mask = masks[i - 1].double() if masks else torch.ones_like(out)
        caches.append((h, pre, mask))
        h = out * mask
    L = num_layers
    scores = h @ params[f"W{L}"] + params[f"b{L}"]
    N = X.shape[0]
    rows = torch.arange(N)
    log_probs = torch.log_softmax(scores, dim=1)
    loss = -log_probs[rows, y].mean() + reg * sum((params[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
    dout = log_probs.exp()
    dout[rows, y] -= 1
    dout /= N
    grads = {f"W{L}": h.t() @ dout + 2 * reg * params[f"W{L}"], f"b{L}": dout.sum(0)}
    dout = dout @ params[f"W{L}"].t()
    for i in range(L - 1, 0, -1):
        h_in, pre, mask = caches[i - 1]
        dout = dout * mask
        if activation == "relu":
            dout = dout * (pre > 0).double()
        elif activation == "leaky_relu":
            dout = torch.where(pre > 0, dout, 0.01 * dout)
        else:
            dout = torch.where(pre > 0, dout, dout * torch.exp(pre.clamp(max=0)))
        grads[f"W{i}"] = h_in.t() @ dout + 2 * reg * params[f"W{i}"]
        grads[f"b{i}"] = dout.sum(0)
        dout = dout @ params[f"W{i}"].t()
    return loss, grads


def student_masks(student, shapes: list[tuple], p: float, dtype, what: str) -> list[torch.Tensor]:
    """The multipliers the student's seeded Dropout.forward applies to hidden layers of these shapes
    (its output on ones), as the network's calls with ``self.dropout_param`` draw them."""
    masks = []
    for shape_ in shapes:
        ones = torch.ones(*shape_, dtype=dtype)
        probe = dropout_what(p, "train", ones, DROPOUT_SEED)
        try:
            out = forward_only(student, "Dropout", (ones, {"p": p, "mode": "train", "seed": DROPOUT_SEED}), {}, probe)
            masks.append(check_dropout_output(out, ones, p, probe, 0.35))
        except GradingFailure as failure:
            raise GradingFailure(f"{what}: this test uses your Dropout.forward, which does not work yet "
                                 f"({failure}); see the dropout tests") from None
    return masks


@pytest.mark.group("networks")
def test_fc_net_with_dropout(student):
    """FullyConnectedNet with dropout (seeded): loss and gradients with the masks its Dropout draws (float64, float32)"""
    check_not_banned(student, "FullyConnectedNet.loss")
    for index, (N, D, hidden, C, p, reg, activation, dtype) in enumerate(DROPOUT_CASES):
        params, X, y = net_case(1100 + 10 * index, N, (D,), hidden, C, dtype, activation)
        kwargs = fc_kwargs((D,), hidden, C, reg, activation, dtype, dropout=p, seed=DROPOUT_SEED)
        what = f"{model_text('FullyConnectedNet', kwargs)}.loss(X, y) with {x_text(X)} and given params"
        loss, grads = unpack_loss(run_model(student, "FullyConnectedNet", kwargs, params, X, y, what), what)
        masks = student_masks(student, [(N, h) for h in hidden], p, dtype, what)
        expected_loss, expected_grads = fc_loss_and_grads(params, X, y, len(hidden) + 1, reg, activation, masks)
        tol = tol_for(dtype, 1e-10, 1e-5)
        check_structure(loss, (), dtype, f"the loss of {what}")
        if rel_error(loss, expected_loss) > tol:
            raise GradingFailure(f"the loss of {what} is not that of the network with dropout after each hidden "
                                 "layer's ReLU, with the masks your Dropout.forward draws with the seed (pass "
                                 "self.dropout_param to every Dropout.forward; no dropout after the last layer)")
        if set(grads) != set(params):
            raise GradingFailure(f"grads of {what} should have the keys {', '.join(sorted(params))}")
        for name in sorted(params, key=lambda n: (int(n[1:]), n[0])):
            check_structure(grads[name], params[name].shape, dtype, f"grads['{name}'] of {what}")
            error = rel_error(grads[name], expected_grads[name])
            if error > tol_for(dtype, 1e-8, 1e-5):
                raise GradingFailure(f"grads['{name}'] of {what} is not the gradient of the network with dropout "
                                     f"(relative error {error:.1e}): backpropagate through Dropout.backward with "
                                     "each layer's dropout cache, before the ReLU's backward")


@pytest.mark.group("dropout")
def test_dropout_in_network(student, expect):
    """FullyConnectedNet applies dropout in training only: test-mode scores ignore it, gradients match its loss"""
    check_not_banned(student, "FullyConnectedNet.loss")
    params, X, y = net_case(1200, 6, (8,), [7, 6], 4, torch.float64, "relu")
    plain = fc_kwargs((8,), [7, 6], 4, 0.0, "relu", torch.float64)
    dropped = {**plain, "dropout": 0.5, "seed": DROPOUT_SEED}
    what = f"{model_text('FullyConnectedNet', dropped)}.loss(X) with {x_text(X)} and given params"
    scores = run_model(student, "FullyConnectedNet", dropped, params, X, None, what)
    expected, _ = fc_forward(params, X, 3)
    check_structure(scores, (6, 4), torch.float64, f"the scores of {what}")
    if rel_error(scores, expected) > 1e-10:
        raise GradingFailure(f"the scores of {what} (no y: test mode) should be those of the same network without "
                             "dropout: in test mode dropout is the identity")
    what_train = what.replace(".loss(X)", ".loss(X, y)")
    loss, _ = unpack_loss(run_model(student, "FullyConnectedNet", dropped, params, X, y, what_train), what_train)
    plain_loss, _ = unpack_loss(run_model(student, "FullyConnectedNet", plain, params, X, y, what_train), what_train)
    if isinstance(loss, torch.Tensor) and isinstance(plain_loss, torch.Tensor) and torch.equal(loss, plain_loss):
        raise GradingFailure(f"{what_train} gives the same loss as without dropout: apply Dropout after each "
                             "hidden layer's activation when self.use_dropout, with self.dropout_param")
    # Seeded, the masks are the same in every call: its gradients must be those of its own loss.
    small, Xs, ys = net_case(1210, 4, (4,), [3, 3], 3, torch.float64, "relu", gap=1e-2)
    kwargs = {**fc_kwargs((4,), [3, 3], 3, 0.05, "relu", torch.float64), "dropout": 0.3, "seed": DROPOUT_SEED}
    what_small = f"{model_text('FullyConnectedNet', kwargs)}.loss(X, y) with {x_text(Xs)} and given params"
    check_model_numeric(student, "FullyConnectedNet", kwargs, small, Xs, ys, what_small)


# ----------------------------------------------------------------------------------------------
# optimizers: sgd_momentum, sgd_nesterov, adagrad, rmsprop, adam over several steps

STATE = {"sgd_momentum": ("velocity",), "sgd_nesterov": ("velocity",), "adagrad": ("cache",),
         "rmsprop": ("cache",), "adam": ("m", "v", "t")}
DEFAULTS = {
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "sgd_nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
FORMULAS = {
    "sgd_momentum": "v = momentum * v - learning_rate * dw; next_w = w + v",
    "sgd_nesterov": "v_prev = v; v = momentum * v - learning_rate * dw; next_w = w - momentum * v_prev + "
                    "(1 + momentum) * v",
    "adagrad": "cache = cache + dw * dw; next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)",
    "rmsprop": "cache = decay_rate * cache + (1 - decay_rate) * dw * dw; next_w = w - learning_rate * dw / "
               "(sqrt(cache) + epsilon)",
    "adam": "t += 1; m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw * dw; "
            "next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)",
}


def custom_config(rule: str, seed: int, shape_: tuple, dtype) -> dict:
    """Non-default hyperparameters and a state already under way (as in the course's checks)."""
    state = {"velocity": randn(seed, *shape_).to(dtype) * 0.1,
             "cache": (randn(seed, *shape_) ** 2 + 0.1).to(dtype),
             "m": randn(seed, *shape_).to(dtype) * 0.1,
             "v": (randn(seed + 1, *shape_) ** 2 * 0.01 + 1e-3).to(dtype)}
    if rule in ("sgd_momentum", "sgd_nesterov"):
        return {"learning_rate": 1e-3, "momentum": 0.8, "velocity": state["velocity"]}
    if rule == "adagrad":
        return {"learning_rate": 5e-2, "epsilon": 1e-6, "cache": state["cache"]}
    if rule == "rmsprop":
        return {"learning_rate": 1e-2, "decay_rate": 0.95, "cache": state["cache"]}
    return {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.99, "m": state["m"], "v": state["v"], "t": 5}


def grader_step(rule: str, w, dw, config: dict, variant: str = ""):
    """One step of the update rule in float64 (grader side): ``(next_w, config after the step)``.
    ``config`` holds the hyperparameters and the state (missing state starts at zeros / 0)."""
    c = {**DEFAULTS[rule], **{k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in config.items()}}
    w, dw = w.double(), dw.double()
    lr = c["learning_rate"]
    if rule in ("sgd_momentum", "sgd_nesterov"):
        v_prev = c.get("velocity", torch.zeros_like(w))
        v = c["momentum"] * v_prev - lr * dw
        next_w = w + v if rule == "sgd_momentum" else w - c["momentum"] * v_prev + (1 + c["momentum"]) * v
        c["velocity"] = v
    elif rule in ("adagrad", "rmsprop"):
        cache = c.get("cache", torch.zeros_like(w))
        cache = cache + dw * dw if rule == "adagrad" else c["decay_rate"] * cache + (1 - c["decay_rate"]) * dw * dw
        next_w = w - lr * dw / (torch.sqrt(cache) + c["epsilon"])
        c["cache"] = cache
    else:
        m = c.get("m", torch.zeros_like(w))
        v = c.get("v", torch.zeros_like(w))
        t = c.get("t", 0) + 1
        m = c["beta1"] * m + (1 - c["beta1"]) * dw
        v = c["beta2"] * v + (1 - c["beta2"]) * dw * dw
        if variant == "no_bias_correction":
            m_hat, v_hat = m, v
        else:
            m_hat, v_hat = m / (1 - c["beta1"] ** t), v / (1 - c["beta2"] ** t)
        if variant == "eps_inside":
            next_w = w - lr * m_hat / torch.sqrt(v_hat + c["epsilon"])
        else:
            next_w = w - lr * m_hat / (torch.sqrt(v_hat) + c["epsilon"])
        c.update(m=m, v=v, t=t)
    return next_w, c


def grader_steps(rule: str, w, dws, config: dict | None, variant: str = "") -> list[tuple]:
    """The update rule in float64 over several steps (grader side, for diagnostics):
    [(next_w, state), ...]."""
    history, c = [], dict(config or {})
    for dw in dws:
        w, c = grader_step(rule, w, dw, c, variant)
        history.append((w, {k: c[k] for k in STATE[rule]}))
    return history


def rule_what(rule: str, w, steps: int, config_text: str) -> str:
    return (f"{rule}(w, dw, config) applied {steps} times from {config_text}, "
            f"{dtype_name(w.dtype)} w {tuple(w.shape)}")


def close(actual, expected, tol: float) -> bool:
    """Whether two values of a rule's state agree (tensors of any dtype by relative error)."""
    if isinstance(expected, torch.Tensor):
        return (isinstance(actual, torch.Tensor) and actual.shape == expected.shape
                and bool(torch.isfinite(actual).all()) and rel_error(actual, expected) <= tol)
    if isinstance(actual, torch.Tensor) and actual.dim() == 0:
        actual = actual.item()
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and math.isclose(actual, expected, rel_tol=tol, abs_tol=tol))
    return actual == expected


def first_divergence(actual: list, expected: list, key, tol: float) -> int | None:
    """The first step (1-based) at which ``key`` (``"next_w"`` or a state name) differs."""
    for step, ((a_w, a_config), (e_w, e_config)) in enumerate(zip(actual, expected), start=1):
        a = a_w if key == "next_w" else (a_config.get(key) if isinstance(a_config, dict) else None)
        e = e_w if key == "next_w" else e_config.get(key)
        try:
            check_value(a, e, what=str(key), tol=tol)
        except GradingFailure:
            return step
    return None


def check_rule(student, expect, rule: str, w, dws, config: dict | None, config_text: str, key: str) -> None:
    check_not_banned(student, rule)
    what = rule_what(rule, w, len(dws), config_text)
    history = student.drive("update_steps", f"{M}.{rule}", w, dws, config, what=what)
    if not isinstance(history, (list, tuple)) or len(history) != len(dws):
        raise GraderBug("update_steps returned something unexpected")
    for step, (next_w, next_config) in enumerate(history, start=1):
        check_structure(next_w, w.shape, w.dtype, f"next_w of {what} (step {step})")
        if not isinstance(next_config, dict):
            raise GradingFailure(f"{what}: step {step} should return (next_w, config) with config a dict, not "
                                 f"{type(next_config).__name__}")
        for name in STATE[rule]:
            if name not in next_config:
                raise GradingFailure(f"{what}: the config returned by step {step} has no {name!r}; keep the rule's "
                                     f"state in config['{name}'] for the next step")
    expected = expect.reference(key, [(next_w, {k: c.get(k) for k in (*STATE[rule], *DEFAULTS[rule])})
                                       for next_w, c in history])
    tol = tol_for(w.dtype, 1e-9, 1e-5)
    quantities = ("next_w", *STATE[rule])
    diverged = {q: first_divergence(history, expected, q, tol) for q in quantities}
    bad = [q for q in quantities if diverged[q] is not None]
    first = min((diverged[q] for q in bad), default=None)
    if config is None and first in (None, 1):  # the defaults must be filled in (checked on step 1)
        for name, value in DEFAULTS[rule].items():
            got = history[0][1].get(name)
            if (isinstance(got, bool) or not isinstance(got, (int, float))
                    or not math.isclose(got, value, rel_tol=1e-12)):
                raise GradingFailure(f"{what}: config[{name!r}] should default to {value} "
                                     f"(config.setdefault({name!r}, {value}))")
    if not bad:
        return
    leading = [q for q in bad if diverged[q] == first]
    good = [q for q in quantities if diverged[q] is None or diverged[q] > first]
    verb = "diverges" if len(leading) == 1 else "diverge"
    text = f"{' and '.join(leading)} {verb} from the reference from step {first}"
    if good:
        text += f" while {', '.join(good[:-1]) + ' and ' + good[-1] if len(good) > 1 else good[0]} " \
                f"{'match' if len(good) > 1 else 'matches'}"
    carried = carried_state_hint(rule, first, history, expected, w, dws, config, tol)
    if carried:
        raise GradingFailure(f"{what}: {text}: {carried}")
    raise GradingFailure(f"{what}: {text}: {rule_hint(rule, leading, history, w, dws, config)}")


def carried_state_hint(rule: str, step: int, history, expected, w, dws, config, tol: float) -> str:
    """Never blame a correct formula: when the student's step ``step`` is the rule applied to what
    that step was given (the previous step's next_w and config, as returned), the formula is right
    and what differs is what was carried between steps; say what. '' otherwise."""
    if step == 1:
        given_w, given_config = w, dict(config or {})
    else:
        given_w, given_config = history[step - 2]
        if not isinstance(given_config, dict):
            return ""
    try:
        own_w, own_config = grader_step(rule, given_w, dws[step - 1], given_config)
        same = close(history[step - 1][0], own_w, tol) and all(
            close(history[step - 1][1].get(name), own_config[name], tol) for name in STATE[rule])
    except (TypeError, KeyError, RuntimeError, AttributeError):
        return ""
    if not same or step == 1:
        return ""  # step 1 runs on the grader's own inputs: nothing was carried yet
    changed = []
    reference_w, reference_config = expected[step - 2]
    for name in DEFAULTS[rule]:
        got, want = given_config.get(name), reference_config.get(name)
        if isinstance(want, (int, float)) and not close(got, want, 1e-9):
            changed.append(f"config[{name!r}] became {got!r} (it should stay {want!r})")
    changed += [f"config[{name!r}]" for name in STATE[rule]
                if not close(given_config.get(name), reference_config.get(name), tol)]
    if not close(given_w, reference_w, tol):
        changed.append("next_w")
    what_changed = ", ".join(changed) or "the values it returned"
    return (f"step {step} applies the rule correctly to what step {step - 1} returned, so the formula is right; "
            f"what differs is what step {step - 1} handed on: {what_changed}. Keep the hyperparameters unchanged "
            "and store the new state in config; a tensor returned and then changed in place (aliasing of next_w "
            "and config entries) also does this")


def rule_hint(rule: str, leading: list, history, w, dws, config) -> str:
    if rule == "adam" and leading == ["next_w"]:
        actual = [h[0] for h in history]
        for variant, hint in (
                ("no_bias_correction", "apply the bias correction m_hat = m / (1 - beta1 ** t), "
                                       "v_hat = v / (1 - beta2 ** t) before the update"),
                ("eps_inside", "add epsilon after the square root: sqrt(v_hat) + epsilon")):
            steps = grader_steps(rule, w, dws, config, variant)
            if all(rel_error(a, e[0]) < 1e-4 for a, e in zip(actual, steps)):
                return hint
        return "check next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon) with the bias-corrected moments"
    if rule == "adam" and "t" in leading:
        return "increment config['t'] by 1 at every step, before using it"
    return f"the rule is {FORMULAS[rule]}, with the hyperparameters taken from config"


def optimizer_tests(rule: str, seed: int):
    @pytest.mark.group("optimizers")
    def test_custom(student, expect):
        w = randn(seed, 4, 5)
        dws = [randn(seed + 1 + k, 4, 5) for k in range(3)]
        config = custom_config(rule, seed + 10, (4, 5), torch.float64)
        text = "a config with non-default hyperparameters and a state under way"
        check_rule(student, expect, rule, w, dws, config, text, "custom")

    @pytest.mark.group("optimizers")
    def test_defaults(student, expect):
        w = randn(seed + 20, 6, 3, dtype=torch.float32)
        dws = [randn(seed + 21 + k, 6, 3, dtype=torch.float32) for k in range(4)]
        check_rule(student, expect, rule, w, dws, None, "config=None (the defaults)", "defaults")

    test_custom.__doc__ = f"{rule}: several steps with given hyperparameters and state (float64): next_w and state"
    test_defaults.__doc__ = f"{rule}: several steps from config=None fill in the defaults (float32): next_w and state"
    tests = {}
    for function, suffix in ((test_custom, "custom_config"), (test_defaults, "default_config")):
        function.__name__ = function.__qualname__ = f"test_{rule}_{suffix}"
        tests[function.__name__] = function
    return tests


for _index, _rule in enumerate(STATE):
    globals().update(optimizer_tests(_rule, 1300 + 100 * _index))
del _index, _rule


# ----------------------------------------------------------------------------------------------
# solver_params: create_solver_instance, get_three/five_layer_network_params

SOLVER_TRAIN, SOLVER_VAL = 2000, 500


def course_sized(X: torch.Tensor) -> torch.Tensor:
    """(N, 784) images of 28x28 as the course's CIFAR-10 inputs, (N, 3 * 32 * 32): padded with zeros
    (the mean-subtracted value of the border) to 32x32 and repeated over 3 channels."""
    images = torch.nn.functional.pad(X.reshape(-1, 1, 28, 28), (2, 2, 2, 2))
    return images.expand(-1, 3, -1, -1).reshape(X.shape[0], 3 * 32 * 32).contiguous()


@pytest.mark.group("solver_params")
def test_create_solver_instance(student):
    """create_solver_instance returns a Solver around a TwoLayerNet that learns (trained on a data subset)"""
    data = suite_helpers.fashion_mnist_subset(SOLVER_TRAIN, SOLVER_VAL)
    # The course's given line builds TwoLayerNet(hidden_dim=200, ...) with its default input_dim
    # 3 * 32 * 32; ours sizes the net from X_train. Inputs of that size suit both.
    small = {"X_train": course_sized(data["X_train"]), "y_train": data["y_train"],
             "X_val": course_sized(data["X_val"]), "y_val": data["y_val"]}
    what = (f"create_solver_instance(data_dict, torch.float32, 'cpu') with {SOLVER_TRAIN} training images of "
            f"{data['dataset']} padded to the course's CIFAR-10 size (X_train ({SOLVER_TRAIN}, 3072)), then "
            "solver.train()")
    result = student.drive("call_then_train", f"{M}.create_solver_instance", (small, torch.float32, "cpu"), {},
                           small, what=what, timeout=150)
    if result.get("type") != "Solver":
        raise GradingFailure(f"{what}: should return an eecs498.solver.Solver, not a {result.get('type')}")
    if result.get("model_type") != "TwoLayerNet":
        raise GradingFailure(f"{what}: the solver should train the given TwoLayerNet, not a "
                             f"{result.get('model_type')}")
    val = [check_float(v, f"{what}: val_acc_history") for v in result.get("val_acc_history", [])]
    if not val or max(val) < 0.5:
        best = f"{100 * max(val):.0f}%" if val else "nothing"
        raise GradingFailure(f"{what}: the best validation accuracy is {best}; it should reach at least 50% "
                             "(choose the update rule, learning rate and epochs so that the network learns)")


def check_overfit(student, function: str, hidden: list[int]) -> None:
    params = suite_helpers.call(student, f"{M}.{function}", context="with no arguments")
    what = f"{function}()"
    if not isinstance(params, (tuple, list)) or len(params) != 2:
        raise GradingFailure(f"{what} should return a tuple (weight_scale, learning_rate)")
    params = [v.item() if isinstance(v, torch.Tensor) and v.dim() == 0 else v for v in params]  # a 0-dim tensor
    weight_scale, learning_rate = (check_float(v, f"{what}: {n}") for v, n in zip(params, ("weight_scale",
                                                                                           "learning_rate")))
    if not (weight_scale > 0 and learning_rate > 0 and math.isfinite(weight_scale) and math.isfinite(learning_rate)):
        raise GradingFailure(f"{what} should return positive, finite numbers")
    data = suite_helpers.fashion_mnist_subset(SOLVER_TRAIN, SOLVER_VAL)
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
             "X_val": data["X_val"][:200], "y_val": data["y_val"][:200]}  # the validation set only ranks epochs
    model_kwargs = {"hidden_dims": hidden, "input_dim": 784, "num_classes": 10, "weight_scale": weight_scale,
                    "dtype": torch.float32}
    solver_kwargs = {"optim_config": {"learning_rate": learning_rate}, "batch_size": 25, "num_epochs": 20,
                     "verbose": False}
    train_what = (f"FullyConnectedNet({hidden}, weight_scale=weight_scale) trained by Solver with sgd, "
                  f"learning_rate=learning_rate, batch_size=25, num_epochs=20 on 50 {data['dataset']} images, "
                  f"with the values of {what}")
    for attempt in range(2):  # training is random (initialization, batches): a second chance before failing
        result = student.drive("solver_train", f"{M}.FullyConnectedNet", model_kwargs, small, solver_kwargs,
                               what=train_what, timeout=60)
        accuracies = [check_float(v, "train_acc_history") for v in result.get("train_acc_history", [])]
        if accuracies and max(accuracies) == 1.0:
            return
    if not accuracies or max(accuracies) < 1.0:
        best = f"{100 * max(accuracies):.0f}%" if accuracies else "nothing"
        raise GradingFailure(f"{train_what}: the training accuracy reached {best}, not 100%; tune the weight scale "
                             "and learning rate (and check FullyConnectedNet if its tests fail)")


@pytest.mark.group("solver_params")
def test_three_layer_network_overfits(student):
    """get_three_layer_network_params: a 3-layer network overfits 50 images to 100% in 20 epochs"""
    check_overfit(student, "get_three_layer_network_params", [100, 100])


@pytest.mark.group("solver_params")
def test_five_layer_network_overfits(student):
    """get_five_layer_network_params: a 5-layer network overfits 50 images to 100% in 20 epochs"""
    check_overfit(student, "get_five_layer_network_params", [100, 100, 100, 100])
