"""Hidden tests of ``convolutional_networks.py``: convolution (naive and im2col), max pooling, the
convolutional networks, Kaiming initialization, batch / spatial batch / layer / instance
normalization, and the solver settings.

Runs in the trusted grader: every input is made here from fixed seeds; the student's code runs in
the sandbox through the drivers of :mod:`autograder.child.drivers` (``layer_roundtrip`` keeps a
layer's cache in the child, ``call_many`` runs the perturbed forward passes of a numeric gradient
in one round trip, ``model_loss``/``model_losses``/``model_state`` build networks there,
``solver_train``/``call_then_train`` train them). Outputs are compared with the references recorded
from the source solutions and, for backward passes, with centered-difference gradients of the
student's OWN forward pass computed here. A wrong spatial batchnorm is told which axes it
normalized over. Failure messages name functions, shapes, dtypes and parameters, never hidden
values. The bans (``torch.nn``, autograd, the given fast layers inside the layers students write)
are judged from the submitted source.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from autograder import suite_helpers
from autograder.source_rules import Banned, SourceView, check_loops, fail_if_unverifiable
from autograder.suite import GraderBug, GradingFailure, rel_error
from autograder.suite_helpers import check_float, check_structure, dtype_name, randint, randn

MODULE = "convolutional_networks.py"
M = "convolutional_networks"
F64, F32 = torch.float64, torch.float32
NUMERIC_STEP = 1e-6


def _load_helper(name: str):
    """A helper file of this suite folder (not a test module), loaded by path."""
    spec = importlib.util.spec_from_file_location(f"a4_suite_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deep_params = _load_helper("deepconvnet_params")

# What the hand-written layers may not use: the course's rule, "you are NOT allowed to use anything
# in torch.nn" except torch.nn.functional.pad for padding (its hint); nor autograd. The given fast
# layers (FastConv, FastMaxPool) are torch.nn inside: a layer that calls them reaches torch.nn.
PAD = "torch.nn.functional.pad"
FOLDS = ("torch.nn.functional.unfold", "torch.nn.functional.fold")  # the point of the im2col convolution


def nn_and_autograd(allowed: tuple[str, ...]) -> Banned:
    return Banned(names={"requires_grad", "requires_grad_", "enable_grad"},
                  modules=("torch.nn", "torch.autograd", "torch.func", "functorch"), allowed=allowed)
GIVEN_LAYERS = {"FastConv", "FastMaxPool", "Conv_ReLU", "Conv_ReLU_Pool", "Conv_BatchNorm_ReLU",
                "Conv_BatchNorm_ReLU_Pool", "Linear_BatchNorm_ReLU"}


# ----------------------------------------------------------------------------------------------
# helpers (grader side)


def check_rules(student, *qualnames: str, allow_fold: bool = False, no_loops: bool = False,
                hand_written: bool = True) -> None:
    """No torch.nn nor autograd in each of ``qualnames`` (``torch.nn.functional.pad`` allowed,
    ``unfold`` and ``fold`` too with ``allow_fold``); a ``hand_written`` layer also may not reach them
    through the given fast layers (the networks may: they train with them); no Python loop over
    the data with ``no_loops``."""
    banned = nn_and_autograd((PAD, *FOLDS) if allow_fold else (PAD,))
    only = ("torch.nn.functional.pad (for padding), unfold and fold are" if allow_fold
            else "torch.nn.functional.pad (for padding) is")
    view = SourceView.of(student, MODULE)
    for qualname in qualnames:
        fail_if_unverifiable(view, qualname, hand_written)
        found = view.banned(qualname, banned, hand_written)
        through = [f for f in found if f.function.split(".")[0] in GIVEN_LAYERS]
        if through:
            layer = through[0].function.split(".")[0]
            raise GradingFailure(f"{qualname} calls {layer} (line {through[0].line} of {through[0].function} uses "
                                 f"{through[0].what}): the given fast layers and torch's built-in layers are for "
                                 "checking and training; write the computation yourself")
        if found:
            where = ", ".join(f"{f.what} on line {f.line}" + (f" (in {f.function})" if f.function != qualname else "")
                              for f in found[:3])
            raise GradingFailure(f"{qualname} uses torch.nn or autograd ({where}); only {only} allowed here: "
                                 "compute it, and its gradients, by hand with tensor operations")
        if no_loops:
            check_loops(student, MODULE, qualname, most=0, instead="it must use tensor operations only (no "
                        "for/while loops or comprehensions over the data)")


def tol_for(dtype: torch.dtype, float64: float, float32: float = 1e-5) -> float:
    return float64 if dtype == F64 else float32


def described(x: torch.Tensor) -> str:
    return f"{dtype_name(x.dtype)} x {tuple(x.shape)}"


def roundtrip(student, layer: str, args: tuple, dout, what: str, forward: str = "forward",
              backward: str = "backward"):
    """``out, cache = Layer.forward(*args)``, then ``Layer.backward(dout, cache)`` in the sandbox
    (``dout=None``: forward only). Returns (out, grads)."""
    result = student.drive("layer_roundtrip", f"{M}.{layer}", args, {}, dout, forward, backward, what=what)
    if not isinstance(result, dict) or "out" not in result:
        raise GraderBug("layer_roundtrip returned something unexpected")
    return result["out"], result.get("grads")


def grads_tuple(grads, count: int, names: str, what: str) -> tuple:
    if not isinstance(grads, (tuple, list)) or len(grads) != count:
        raise GradingFailure(f"{what} should return a tuple {names}")
    return tuple(grads)


def expect_gradients(expect, index: int, grads: tuple, names: tuple, what: str, tol: float) -> None:
    """Each of ``grads`` (named ``names``) against its reference, keyed by case ``index``."""
    for name, value in zip(names, grads):
        expect.tensor(f"case{index}_{name}", value, what=f"{name} of {what}", tol=tol, device="cpu")


def expect_running_statistics(expect, index: int, after, what: str, dtype) -> None:
    """``bn_param['running_mean']`` and ``['running_var']`` as a train-mode forward left them."""
    for name in ("running_mean", "running_var"):
        value = after.get(name) if isinstance(after, dict) else None
        expect.tensor(f"case{index}_{name}", value, what=f"bn_param['{name}'] after {what}",
                      tol=tol_for(dtype, 1e-10), device="cpu")


def numeric_gradient(student, target: str, args: tuple, dout: torch.Tensor, index: int, what: str) -> torch.Tensor:
    """d sum(out * dout) / d args[index] by centered differences of the student's ``target``
    (a forward method returning ``(out, cache)``), all perturbed calls in one round trip."""
    tensor = args[index]
    calls = []
    for position in range(tensor.numel()):
        for sign in (1, -1):
            moved = tensor.clone()
            moved.view(-1)[position] += sign * NUMERIC_STEP
            calls.append((tuple(moved if i == index else a for i, a in enumerate(args)), {}))
    outs = student.drive("call_many", f"{M}.{target}", calls, 0, what=what)
    if not isinstance(outs, list) or len(outs) != len(calls):
        raise GraderBug("call_many returned something unexpected")
    numeric = torch.zeros(tensor.numel(), dtype=F64)
    for position in range(tensor.numel()):
        values = []
        for out in outs[2 * position:2 * position + 2]:
            if not isinstance(out, torch.Tensor) or out.shape != dout.shape:
                raise GradingFailure(f"{what} should return out of shape {tuple(dout.shape)}")
            values.append((out.double() * dout.double()).sum())
        numeric[position] = (values[0] - values[1]) / (2 * NUMERIC_STEP)
    return numeric.reshape(tensor.shape)


def check_numeric(actual, numeric: torch.Tensor, what: str, tol: float = 1e-6) -> None:
    error = rel_error(actual, numeric)
    if not error <= tol:
        raise GradingFailure(f"{what} is not the gradient of the layer's own forward pass: it differs from the "
                             f"centered-difference numeric gradient (relative error {error:.1e} > {tol:.0e})")


def check_gradients_numerically(student, layer: str, forward: str, args: tuple, grads: tuple, names: tuple,
                                dout: torch.Tensor, what_forward: str, what_backward: str,
                                tol: float = 1e-6) -> None:
    """Each gradient in ``grads`` (for the tensor ``args[i]`` named ``names[i]``) against the
    numeric gradient of the student's forward."""
    for index, (name, grad) in enumerate(zip(names, grads)):
        check_structure(grad, args[index].shape, F64, f"{name} of {what_backward}")
        numeric = numeric_gradient(student, f"{layer}.{forward}", args, dout, index, what_forward)
        check_numeric(grad, numeric, f"{name} of {what_backward}", tol)


# ----------------------------------------------------------------------------------------------
# convolution: naive, then im2col

# (x shape, w shape, stride, pad, dtype): the course's check, no padding, non-square images and
# filters, large stride, float32.
CONV_CASES = [
    ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1, F64),
    ((2, 2, 5, 5), (3, 2, 3, 3), 1, 0, F64),
    ((1, 3, 6, 5), (2, 3, 2, 3), 2, 2, F64),
    ((2, 1, 7, 7), (4, 1, 5, 5), 3, 1, F64),
    ((3, 3, 8, 8), (4, 3, 3, 3), 1, 1, F32),
]


def conv_case(seed: int, x_shape, w_shape, stride: int, pad: int, dtype, method: str = "Conv.forward"):
    x = randn(seed, *x_shape).to(dtype)
    w = (randn(seed + 1, *w_shape) / math.sqrt(math.prod(w_shape[1:]))).to(dtype)
    b = randn(seed + 2, w_shape[0]).to(dtype)
    param = {"stride": stride, "pad": pad}
    H_out = 1 + (x_shape[2] + 2 * pad - w_shape[2]) // stride
    W_out = 1 + (x_shape[3] + 2 * pad - w_shape[3]) // stride
    dout = randn(seed + 3, x_shape[0], w_shape[0], H_out, W_out).to(dtype)
    what = (f"{method}(x, w, b, {param}) with {described(x)}, w {tuple(w_shape)}")
    return x, w, b, param, dout, what


def check_conv_out(expect, key: str, out, x, w, param: dict, what: str) -> None:
    H_out = 1 + (x.shape[2] + 2 * param["pad"] - w.shape[2]) // param["stride"]
    W_out = 1 + (x.shape[3] + 2 * param["pad"] - w.shape[3]) // param["stride"]
    expected = (x.shape[0], w.shape[0], H_out, W_out)
    if isinstance(out, torch.Tensor) and tuple(out.shape) != expected:
        raise GradingFailure(f"out of {what} has shape {tuple(out.shape)}; expected {expected}: "
                             "H' = 1 + (H + 2 * pad - HH) // stride, W' = 1 + (W + 2 * pad - WW) // stride")
    expect.tensor(key, out, what=f"out of {what}", tol=tol_for(x.dtype, 1e-10), device="cpu")


def conv_forward_test(student, expect, forward: str, seed: int) -> None:
    for index, case in enumerate(CONV_CASES):
        x, w, b, param, _, what = conv_case(seed + 10 * index, *case, method=f"Conv.{forward}")
        out, _ = roundtrip(student, "Conv", (x, w, b, param), None, what, forward=forward)
        check_conv_out(expect, f"case{index}", out, x, w, param, what)


def conv_backward_test(student, expect, forward: str, backward: str, seed: int) -> None:
    for index, case in enumerate(CONV_CASES):
        x, w, b, param, dout, what = conv_case(seed + 10 * index, *case, method=f"Conv.{forward}")
        what_backward = f"Conv.{backward}(dout, cache) after {what}"
        _, grads = roundtrip(student, "Conv", (x, w, b, param), dout, what_backward, forward, backward)
        grads = grads_tuple(grads, 3, "(dx, dw, db)", what_backward)
        expect_gradients(expect, index, grads, ("dx", "dw", "db"), what_backward, tol_for(x.dtype, 1e-9))


def conv_numeric_test(student, expect, forward: str, backward: str, seed: int) -> None:
    """The numeric gradient check, paid only when the forward pass is right too."""
    for index in (1, 2):  # no padding; non-square with padding and stride
        x, w, b, param, dout, what = conv_case(seed + index, *CONV_CASES[index], method=f"Conv.{forward}")
        what_backward = f"Conv.{backward}(dout, cache) after {what}"
        out, grads = roundtrip(student, "Conv", (x, w, b, param), dout, what_backward, forward, backward)
        check_conv_out(expect, f"case{index}_out", out, x, w, param, what)
        grads = grads_tuple(grads, 3, "(dx, dw, db)", what_backward)
        check_gradients_numerically(student, "Conv", forward, (x, w, b, param), grads, ("dx", "dw", "db"), dout,
                                    what, what_backward)


@pytest.mark.group("conv_naive")
def test_conv_forward(student, expect):
    """Conv.forward: strides 1-3, paddings 0-2, square and non-square images and filters (float64, float32)"""
    check_rules(student, "Conv.forward")
    conv_forward_test(student, expect, "forward", 100)


@pytest.mark.group("conv_naive")
def test_conv_backward(student, expect):
    """Conv.backward: dx, dw and db for the same strides, paddings and filter sizes"""
    check_rules(student, "Conv.forward", "Conv.backward")
    conv_backward_test(student, expect, "forward", "backward", 200)


@pytest.mark.group("conv_naive")
def test_conv_backward_numeric(student, expect):
    """Conv.backward: dx, dw and db are the gradients of Conv.forward (numeric gradient check)"""
    check_rules(student, "Conv.forward", "Conv.backward")
    conv_numeric_test(student, expect, "forward", "backward", 300)


@pytest.mark.group("conv_im2col")
def test_conv_forward_im2col(student, expect):
    """Conv.forward_im2col: the same outputs as the naive convolution, without Python loops"""
    check_rules(student, "Conv.forward_im2col", allow_fold=True, no_loops=True)
    conv_forward_test(student, expect, "forward_im2col", 400)


@pytest.mark.group("conv_im2col")
def test_conv_backward_im2col(student, expect):
    """Conv.backward_im2col: dx (through fold), dw and db, without Python loops"""
    check_rules(student, "Conv.forward_im2col", "Conv.backward_im2col", allow_fold=True, no_loops=True)
    conv_backward_test(student, expect, "forward_im2col", "backward_im2col", 500)


@pytest.mark.group("conv_im2col")
def test_conv_backward_im2col_numeric(student, expect):
    """Conv.backward_im2col: the gradients of Conv.forward_im2col (numeric gradient check)"""
    check_rules(student, "Conv.forward_im2col", "Conv.backward_im2col", allow_fold=True, no_loops=True)
    conv_numeric_test(student, expect, "forward_im2col", "backward_im2col", 600)


# ----------------------------------------------------------------------------------------------
# max pooling

# (x shape, pool height, pool width, stride, dtype): the course's 2x2/2, overlapping 3x3/1,
# non-square 2x3/2, float32.
POOL_CASES = [
    ((2, 3, 4, 4), 2, 2, 2, F64),
    ((2, 2, 5, 5), 3, 3, 1, F64),
    ((1, 3, 6, 7), 2, 3, 2, F64),
    ((3, 2, 8, 8), 2, 2, 2, F32),
]


def pool_case(seed: int, x_shape, ph: int, pw: int, stride: int, dtype):
    x = randn(seed, *x_shape).to(dtype)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    H_out, W_out = 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride
    dout = randn(seed + 1, x_shape[0], x_shape[1], H_out, W_out).to(dtype)
    return x, param, dout, f"MaxPool.forward(x, {param}) with {described(x)}"


@pytest.mark.group("max_pool")
def test_max_pool_forward(student, expect):
    """MaxPool.forward: 2x2 stride 2, overlapping 3x3 stride 1, non-square 2x3 windows (float64, float32)"""
    check_rules(student, "MaxPool.forward")
    for index, case in enumerate(POOL_CASES):
        x, param, dout, what = pool_case(700 + 10 * index, *case)
        out, _ = roundtrip(student, "MaxPool", (x, param), None, what)
        if isinstance(out, torch.Tensor) and tuple(out.shape) != tuple(dout.shape):
            raise GradingFailure(f"out of {what} has shape {tuple(out.shape)}; expected {tuple(dout.shape)}: "
                                 "H' = 1 + (H - pool_height) // stride, W' = 1 + (W - pool_width) // stride")
        expect.tensor(f"case{index}", out, what=f"out of {what}", tol=tol_for(x.dtype, 1e-12), device="cpu")


@pytest.mark.group("max_pool")
def test_max_pool_backward(student, expect):
    """MaxPool.backward: the gradient goes to each window's maximum; overlapping windows add up"""
    check_rules(student, "MaxPool.forward", "MaxPool.backward")
    for index, case in enumerate(POOL_CASES):
        x, param, dout, what = pool_case(800 + 10 * index, *case)
        what_backward = f"MaxPool.backward(dout, cache) after {what}"
        _, dx = roundtrip(student, "MaxPool", (x, param), dout, what_backward)
        if isinstance(dx, torch.Tensor) and dx.shape == x.shape and index == 1:
            total = dx.double().sum().item()
            if abs(total - dout.double().sum().item()) > 1e-8 * max(1.0, abs(total)):
                raise GradingFailure(f"dx of {what_backward} does not add up to the sum of dout: with "
                                     "overlapping windows, add (+=) each window's gradient instead of assigning it")
        expect.tensor(f"case{index}", dx, what=f"dx of {what_backward}", tol=tol_for(x.dtype, 1e-12), device="cpu")


@pytest.mark.group("max_pool")
def test_max_pool_backward_numeric(student, expect):
    """MaxPool.backward: dx is the gradient of MaxPool.forward (numeric gradient check)"""
    check_rules(student, "MaxPool.forward", "MaxPool.backward")
    for index in (1, 2):
        x, param, dout, what = pool_case(900 + index, *POOL_CASES[index])
        what_backward = f"MaxPool.backward(dout, cache) after {what}"
        out, dx = roundtrip(student, "MaxPool", (x, param), dout, what_backward)
        expect.tensor(f"case{index}_out", out, what=f"out of {what}", tol=1e-12, device="cpu")
        check_gradients_numerically(student, "MaxPool", "forward", (x, param), (dx,), ("dx",), dout, what,
                                    what_backward)


# ----------------------------------------------------------------------------------------------
# networks: ThreeLayerConvNet and DeepConvNet


def model_text(model: str, kwargs: dict) -> str:
    shown = ", ".join(f"{k}={dtype_name(v) if isinstance(v, torch.dtype) else v!r}" for k, v in kwargs.items())
    return f"{model}({shown})"


def three_layer_kwargs(input_dims=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4,
                       reg=0.0, dtype=F64, **extra) -> dict:
    return dict(input_dims=input_dims, num_filters=num_filters, filter_size=filter_size, hidden_dim=hidden_dim,
                num_classes=num_classes, reg=reg, dtype=dtype, **extra)


def three_layer_shapes(kwargs: dict) -> dict:
    C, H, W = kwargs["input_dims"]
    F_, K, Hd, Cl = kwargs["num_filters"], kwargs["filter_size"], kwargs["hidden_dim"], kwargs["num_classes"]
    return {"W1": (F_, C, K, K), "b1": (F_,), "W2": (F_ * (H // 2) * (W // 2), Hd), "b2": (Hd,),
            "W3": (Hd, Cl), "b3": (Cl,)}


def deep_kwargs(input_dims=(3, 8, 8), num_filters=(4, 5, 3), max_pools=(0, 2), batchnorm=False, num_classes=3,
                reg=0.0, dtype=F64, **extra) -> dict:
    return dict(input_dims=input_dims, num_filters=list(num_filters), max_pools=list(max_pools),
                batchnorm=batchnorm, num_classes=num_classes, reg=reg, dtype=dtype, **extra)


def deep_shapes(kwargs: dict) -> dict:
    C, H, W = kwargs["input_dims"]
    shapes = {}
    for i, filters in enumerate(kwargs["num_filters"], start=1):
        shapes[f"W{i}"], shapes[f"b{i}"] = (filters, C, 3, 3), (filters,)
        if kwargs["batchnorm"]:
            shapes[f"gamma{i}"], shapes[f"beta{i}"] = (filters,), (filters,)
        C = filters
        if i - 1 in kwargs["max_pools"]:
            H, W = H // 2, W // 2
    L = len(kwargs["num_filters"]) + 1
    shapes[f"W{L}"], shapes[f"b{L}"] = (C * H * W, kwargs["num_classes"]), (kwargs["num_classes"],)
    return shapes


def given_params(seed: int, shapes: dict, dtype) -> dict:
    """Parameters of the given shapes: weights scaled by 1/sqrt(fan-in), gamma about 1."""
    params = {}
    for index, (name, shape) in enumerate(sorted(shapes.items())):
        value = randn(seed + index, *shape)
        if name.startswith("W"):
            value = value / math.sqrt(math.prod(shape[1:]) if len(shape) == 4 else shape[0])
        elif name.startswith("gamma"):
            value = 1 + 0.2 * value
        else:
            value = 0.1 * value
        params[name] = value.to(dtype)
    return params


def model_inputs(seed: int, N: int, input_dims, num_classes: int, dtype):
    return randn(seed, N, *input_dims).to(dtype), randint(seed + 1, num_classes, N)


def deep_names(student, kwargs: dict, what: str, state=None) -> dict:
    """This suite's name -> the student's name of each parameter of ``DeepConvNet(**kwargs)``: the
    course does not prescribe them (``gamma1`` or ``g1``, ``W1`` or ``W0``...), so they are read from
    the built network's ``params`` (its ``state`` from ``model_state`` when already fetched)."""
    if state is None:
        state = student.drive("model_state", f"{M}.DeepConvNet", kwargs, what=what)
    params = state.get("params") if isinstance(state, dict) else None
    if not isinstance(params, dict):
        raise GradingFailure(f"{what}.params should be a dict of tensors")
    num_conv, batchnorm = len(kwargs["num_filters"]), kwargs["batchnorm"]
    names = deep_params.resolve(params, num_conv, batchnorm)
    if names is None:
        raise GradingFailure(deep_params.unresolved_message(f"{what}.params", params, num_conv, batchnorm))
    return names


def same_names(shapes: dict) -> dict:
    """The names of ThreeLayerConvNet's parameters, which the course prescribes: W1, b1, ... b3."""
    return {name: name for name in shapes}


def check_params(params, shapes: dict, what: str, dtype, weight_std: float | None = None,
                 names: dict | None = None) -> None:
    """``params`` (keyed by the student's names, ``names[ours]``) has the parameters of ``shapes``,
    with their dtype; biases and beta zeros, gamma ones, weights of standard deviation ``weight_std``."""
    names = names or same_names(shapes)
    if not isinstance(params, dict) or set(params) != set(names.values()):
        keys = sorted(map(str, params)) if isinstance(params, dict) else type(params).__name__
        raise GradingFailure(f"{what}.params should have the keys {', '.join(sorted(names.values()))}; it has {keys}")
    for name, shape in shapes.items():
        shown = names[name]
        check_structure(params[shown], shape, dtype, f"{what}.params['{shown}']")
        value = params[shown].double()
        if name.startswith(("b", "beta")) and not torch.equal(value, torch.zeros_like(value)):
            raise GradingFailure(f"{what}.params['{shown}'] should start at zeros")
        if name.startswith("gamma") and not torch.equal(value, torch.ones_like(value)):
            raise GradingFailure(f"{what}.params['{shown}'] should start at ones")
        if name.startswith("W") and weight_std is not None:
            # five standard errors of the sample's std and mean: a correct draw never fails
            std, n = value.std().item(), value.numel()
            std_tol, mean_tol = max(0.05, 5 / math.sqrt(2 * n)), 5 / math.sqrt(n)
            if abs(std - weight_std) > std_tol * weight_std or abs(value.mean().item()) > mean_tol * weight_std:
                raise GradingFailure(f"{what}.params['{shown}'] should be drawn from a Gaussian with mean 0 and "
                                     f"standard deviation weight_scale = {weight_std:g} (its standard deviation is "
                                     f"{std:.2g})")


def unpack_loss(result, what: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[1], dict):
        raise GradingFailure(f"{what} should return (loss, grads) with grads a dict")
    return result


def run_model(student, model: str, kwargs: dict, params: dict | None, X, y, what: str, names: dict | None = None):
    """``model(**kwargs)`` given ``params`` (keyed by this suite's names; set under the student's
    ``names``), then ``loss(X, y)``; with ``y`` a ``(loss, grads)`` whose grads are keyed by this
    suite's names again (``None`` for a missing one)."""
    names = names or same_names(params or {})
    given = {names[k]: v for k, v in params.items()} if params is not None else None
    result = student.drive("model_loss", f"{M}.{model}", kwargs, given, X, y, what=what)
    if y is None:
        return result
    loss, grads = unpack_loss(result, what)
    return loss, {name: grads.get(student_name) for name, student_name in names.items()}


def check_loss_and_grads(student, expect, key: str, model: str, kwargs: dict, params: dict, X, y, what: str,
                         tol: float, names: dict | None = None) -> None:
    names = names or same_names(params)
    loss, grads = run_model(student, model, kwargs, params, X, y, what, names)
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        loss = loss.reshape(())
    expect.tensor(f"{key}_loss", loss, what=f"the loss of {what}", tol=tol, device="cpu")
    # A convolution's bias right before batchnorm cannot change the loss: its gradient is 0 up to
    # rounding, and rounding differs between correct backward passes, so it is compared with 0.
    before_batchnorm = ({f"b{i}" for i in range(1, len(kwargs["num_filters"]) + 1)}
                        if model == "DeepConvNet" and kwargs.get("batchnorm") else set())
    scale = max((g.abs().max().item() for n, g in grads.items()
                 if n not in before_batchnorm and isinstance(g, torch.Tensor) and g.numel()), default=1.0)
    for name in sorted(params):
        value = grads.get(name)
        shown = f"grads['{names[name]}'] of {what}"
        if value is None:
            raise GradingFailure(f"grads of {what} has no entry '{names[name]}': every parameter needs a gradient")
        if name in before_batchnorm:
            check_structure(value, params[name].shape, F64, shown)
            if value.abs().max().item() > tol * max(scale, 1.0):
                raise GradingFailure(f"{shown} should be zero (up to rounding): a bias right before batchnorm cannot "
                                     "change the loss, since batchnorm subtracts the mean it adds")
            continue
        expect.tensor(f"{key}_{name}", value, what=shown, tol=tol, device="cpu")


def check_model_numeric(student, expect, key: str, model: str, kwargs: dict, params: dict, X, y, what: str,
                        tol: float = 1e-6, names: dict | None = None) -> None:
    """The loss a model returns against the reference (a gradient check pays only for a right
    loss), then the gradients it returns against centered differences of that loss, every entry of
    every parameter (all the perturbed losses in one round trip)."""
    names = names or same_names(params)
    loss, grads = run_model(student, model, kwargs, params, X, y, what, names)
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        loss = loss.reshape(())
    expect.tensor(f"{key}_loss", loss, what=f"the loss of {what}", tol=1e-8, device="cpu")
    order = sorted(params)
    moved_list, index = [], []
    for name in order:
        for position in range(params[name].numel()):
            for sign in (1, -1):
                moved = params[name].clone()
                moved.view(-1)[position] += sign * NUMERIC_STEP
                moved_list.append({names[k]: (moved if k == name else v) for k, v in params.items()})
                index.append((name, position))
    losses = student.drive("model_losses", f"{M}.{model}", kwargs, moved_list, X, y, what=what)
    if not isinstance(losses, list) or len(losses) != len(moved_list):
        raise GraderBug("model_losses returned something unexpected")
    numeric = {name: torch.zeros(params[name].numel(), dtype=F64) for name in order}
    for k in range(0, len(losses), 2):
        name, position = index[k]
        plus, minus = losses[k], losses[k + 1]
        if not all(isinstance(v, torch.Tensor) and v.numel() == 1 for v in (plus, minus)):
            raise GradingFailure(f"the loss of {what} should be a 0-dimensional tensor")
        numeric[name][position] = (plus.double().reshape(()) - minus.double().reshape(())) / (2 * NUMERIC_STEP)
    for name in order:
        check_structure(grads.get(name), params[name].shape, F64, f"grads['{names[name]}'] of {what}")
        expected = numeric[name].reshape(params[name].shape)
        if max(grads[name].abs().max().item(), expected.abs().max().item()) < 1e-8:
            continue  # both zero: a convolution bias before batchnorm cannot change the loss
        error = rel_error(grads[name], expected)
        if not error <= tol:
            raise GradingFailure(f"grads['{names[name]}'] of {what} is not the gradient of the loss it returns: it "
                                 f"differs from the centered-difference numeric gradient of that loss (relative "
                                 f"error {error:.1e} > {tol:.0e})")


@pytest.mark.group("conv_nets")
def test_three_layer_convnet_init(student):
    """ThreeLayerConvNet.__init__: parameter names, shapes, dtype; weights weight_scale * randn, biases 0"""
    kwargs = three_layer_kwargs(input_dims=(3, 10, 12), num_filters=16, filter_size=5, hidden_dim=60,
                                num_classes=10, weight_scale=2e-2)
    what = model_text("ThreeLayerConvNet", kwargs)
    state = student.drive("model_state", f"{M}.ThreeLayerConvNet", kwargs, what=what)
    check_params(state.get("params") if isinstance(state, dict) else None, three_layer_shapes(kwargs), what, F64,
                 weight_std=2e-2)


@pytest.mark.group("conv_nets")
def test_three_layer_convnet_loss_and_grads(student, expect):
    """ThreeLayerConvNet.loss: scores, loss and gradients with given parameters, with and without reg"""
    check_rules(student, "ThreeLayerConvNet.loss", hand_written=False)
    for index, reg in enumerate((0.0, 0.7)):
        kwargs = three_layer_kwargs(reg=reg)
        params = given_params(1000 + 10 * index, three_layer_shapes(kwargs), F64)
        X, y = model_inputs(1005 + 10 * index, 4, kwargs["input_dims"], kwargs["num_classes"], F64)
        what = f"{model_text('ThreeLayerConvNet', kwargs)}.loss(X, y) with X {tuple(X.shape)} and given params"
        scores = run_model(student, "ThreeLayerConvNet", kwargs, params, X, None, what.replace("(X, y)", "(X)"))
        expect.tensor(f"case{index}_scores", scores, what=f"the scores of {what.replace('(X, y)', '(X)')}",
                      tol=1e-9, device="cpu")
        check_loss_and_grads(student, expect, f"case{index}", "ThreeLayerConvNet", kwargs, params, X, y, what, 1e-8)


@pytest.mark.group("conv_nets")
def test_three_layer_convnet_numeric_gradient(student, expect):
    """ThreeLayerConvNet: the gradients are those of its own loss (numeric gradient check, with reg)"""
    check_rules(student, "ThreeLayerConvNet.loss", hand_written=False)
    kwargs = three_layer_kwargs(input_dims=(2, 4, 4), num_filters=2, hidden_dim=4, num_classes=3, reg=0.3)
    params = given_params(1100, three_layer_shapes(kwargs), F64)
    X, y = model_inputs(1105, 3, kwargs["input_dims"], kwargs["num_classes"], F64)
    what = f"{model_text('ThreeLayerConvNet', kwargs)}.loss(X, y) with X {tuple(X.shape)} and given params"
    check_model_numeric(student, expect, "case0", "ThreeLayerConvNet", kwargs, params, X, y, what)


DEEP_INIT_CASES = [
    deep_kwargs(input_dims=(3, 16, 16), num_filters=(16, 32, 24), max_pools=(0, 1), num_classes=10,
                weight_scale=3e-2),
    deep_kwargs(input_dims=(1, 9, 7), num_filters=(20, 30), max_pools=(1,), batchnorm=True, num_classes=5,
                weight_scale=5e-2, dtype=F32),
]


@pytest.mark.group("conv_nets")
def test_deep_convnet_init(student):
    """DeepConvNet.__init__: names and shapes (pools halve the size, rounding down), batchnorm gamma/beta"""
    for kwargs in DEEP_INIT_CASES:
        what = model_text("DeepConvNet", kwargs)
        state = student.drive("model_state", f"{M}.DeepConvNet", kwargs, what=what)
        names = deep_names(student, kwargs, what, state)
        check_params(state["params"], deep_shapes(kwargs), what, kwargs["dtype"], weight_std=kwargs["weight_scale"],
                     names=names)


DEEP_LOSS_CASES = [  # (kwargs, N)
    (deep_kwargs(num_filters=(4, 5, 3), max_pools=(0, 2), reg=0.0), 4),
    (deep_kwargs(num_filters=(3, 4), max_pools=(1,), reg=0.5, input_dims=(2, 7, 6)), 5),
    (deep_kwargs(num_filters=(4, 5, 3), max_pools=(0, 2), batchnorm=True, reg=0.1), 6),
    (deep_kwargs(num_filters=(3,), max_pools=(), batchnorm=True, input_dims=(2, 5, 5)), 3),
]


@pytest.mark.group("conv_nets")
def test_deep_convnet_loss_and_grads(student, expect):
    """DeepConvNet.loss: loss and gradients with given parameters, pools anywhere, with and without reg"""
    check_rules(student, "DeepConvNet.loss", hand_written=False)
    for index, (kwargs, N) in enumerate(DEEP_LOSS_CASES[:2]):
        params = given_params(1200 + 10 * index, deep_shapes(kwargs), F64)
        X, y = model_inputs(1205 + 10 * index, N, kwargs["input_dims"], kwargs["num_classes"], F64)
        what = f"{model_text('DeepConvNet', kwargs)}.loss(X, y) with X {tuple(X.shape)} and given params"
        names = deep_names(student, kwargs, model_text("DeepConvNet", kwargs))
        scores = run_model(student, "DeepConvNet", kwargs, params, X, None, what.replace("(X, y)", "(X)"), names)
        expect.tensor(f"case{index}_scores", scores, what=f"the scores of {what.replace('(X, y)', '(X)')}",
                      tol=1e-9, device="cpu")
        check_loss_and_grads(student, expect, f"case{index}", "DeepConvNet", kwargs, params, X, y, what, 1e-8, names)


@pytest.mark.group("conv_nets")
def test_deep_convnet_batchnorm_loss_and_grads(student, expect):
    """DeepConvNet(batchnorm=True).loss: loss and gradients through spatial batchnorm, gamma and beta included"""
    check_rules(student, "DeepConvNet.loss", hand_written=False)
    for index, (kwargs, N) in enumerate(DEEP_LOSS_CASES[2:]):
        params = given_params(1300 + 10 * index, deep_shapes(kwargs), F64)
        X, y = model_inputs(1305 + 10 * index, N, kwargs["input_dims"], kwargs["num_classes"], F64)
        what = f"{model_text('DeepConvNet', kwargs)}.loss(X, y) with X {tuple(X.shape)} and given params"
        names = deep_names(student, kwargs, model_text("DeepConvNet", kwargs))
        try:
            check_loss_and_grads(student, expect, f"case{index}", "DeepConvNet", kwargs, params, X, y, what, 1e-7,
                                 names)
        except GradingFailure as failure:
            raise GradingFailure(f"{failure} (with batchnorm the network runs your SpatialBatchNorm through the "
                                 "given sandwich layers: if SpatialBatchNorm's own tests fail, fix it first)") from None


@pytest.mark.group("conv_nets")
def test_deep_convnet_numeric_gradient(student, expect):
    """DeepConvNet: the gradients are those of its own loss (numeric gradient check, with batchnorm and reg)"""
    check_rules(student, "DeepConvNet.loss", hand_written=False)
    for index, batchnorm in enumerate((False, True)):
        kwargs = deep_kwargs(input_dims=(2, 4, 4), num_filters=(3, 2), max_pools=(0,), batchnorm=batchnorm,
                             num_classes=3, reg=0.2)
        params = given_params(1400 + 10 * index, deep_shapes(kwargs), F64)
        X, y = model_inputs(1405 + 10 * index, 4, kwargs["input_dims"], kwargs["num_classes"], F64)
        what = f"{model_text('DeepConvNet', kwargs)}.loss(X, y) with X {tuple(X.shape)} and given params"
        names = deep_names(student, kwargs, model_text("DeepConvNet", kwargs))
        check_model_numeric(student, expect, f"case{index}", "DeepConvNet", kwargs, params, X, y, what, tol=1e-5,
                            names=names)


# ----------------------------------------------------------------------------------------------
# Kaiming initialization

KAIMING_CASES = [  # (Din, Dout, K, relu, dtype)
    (400, 300, None, True, F32),
    (500, 200, None, False, F64),
    (64, 120, 3, True, F32),
    (30, 100, 5, False, F64),
]


@pytest.mark.group("kaiming")
def test_kaiming_initializer(student):
    """kaiming_initializer: shape, dtype and variance gain / fan_in for linear and conv layers, with and without ReLU"""
    for Din, Dout, K, relu, dtype in KAIMING_CASES:
        what = f"kaiming_initializer(Din={Din}, Dout={Dout}, K={K}, relu={relu}, dtype={dtype_name(dtype)})"
        weight = suite_helpers.call(student, f"{M}.kaiming_initializer", Din, Dout, K=K, relu=relu, device="cpu",
                                    dtype=dtype, context=what)
        shape = (Din, Dout) if K is None else (Dout, Din, K, K)
        check_structure(weight, shape, dtype, f"the weight of {what}")
        fan_in = Din if K is None else Din * K * K
        expected = math.sqrt((2.0 if relu else 1.0) / fan_in)
        std = weight.double().std().item()
        if abs(std - expected) > 0.03 * expected or abs(weight.double().mean().item()) > 0.03 * expected:
            hint = ""
            other = math.sqrt((1.0 if relu else 2.0) / fan_in)
            if abs(std - other) <= 0.03 * other:
                hint = ": the gain is 2 when a ReLU follows (relu=True), else 1"
            elif K is not None and abs(std - math.sqrt((2.0 if relu else 1.0) / Din)) <= 0.03 * expected * K:
                hint = ": for a convolution the fan-in is Din * K * K"
            raise GradingFailure(f"the weight of {what} has standard deviation {std:.3g}; expected "
                                 f"sqrt(gain / fan_in) = {expected:.3g}{hint}")


@pytest.mark.group("kaiming")
def test_deep_convnet_kaiming(student):
    """DeepConvNet(weight_scale='kaiming'): every weight has Kaiming's variance (ReLU gain for the convolutions)"""
    kwargs = deep_kwargs(input_dims=(16, 8, 8), num_filters=(64, 64), max_pools=(1,), num_classes=50,
                         weight_scale="kaiming", dtype=F32)
    what = model_text("DeepConvNet", kwargs)
    state = student.drive("model_state", f"{M}.DeepConvNet", kwargs, what=what)
    names = deep_names(student, kwargs, what, state)
    shapes = deep_shapes(kwargs)
    params = state["params"]
    check_params(params, shapes, what, F32, names=names)
    for name, shape in shapes.items():
        if not name.startswith("W"):
            continue
        relu = len(shape) == 4
        expected = math.sqrt((2.0 if relu else 1.0) / (math.prod(shape[1:]) if relu else shape[0]))
        std = params[names[name]].double().std().item()
        if abs(std - expected) > 0.05 * expected:
            raise GradingFailure(f"{what}.params['{names[name]}'] has standard deviation {std:.3g}; Kaiming "
                                 f"initialization gives {expected:.3g} (relu={relu} for this layer)")


# ----------------------------------------------------------------------------------------------
# batch normalization


def bn_call(student, layer: str, x, gamma, beta, param: dict, what: str):
    """``Layer.forward(x, gamma, beta, param)``: (out, the param dict as the layer left it)."""
    (result, args_after) = suite_helpers.call(student, f"{M}.{layer}.forward", x, gamma, beta, param,
                                              return_args=True, context=what)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{what} should return (out, cache)")
    return result[0], args_after[3]


def bn_inputs(seed: int, shape: tuple, channels: int, dtype):
    """Inputs far from mean 0 / std 1, so that forgetting to normalize shows."""
    x = (3 * randn(seed, *shape) + 5).to(dtype)
    gamma = (1 + 0.5 * randn(seed + 1, channels)).to(dtype)
    beta = randn(seed + 2, channels).to(dtype)
    dout = randn(seed + 3, *shape).to(dtype)
    return x, gamma, beta, dout


def bn_what(layer: str, x, param: dict) -> str:
    shown = {k: v for k, v in param.items() if not isinstance(v, torch.Tensor)}
    return f"{layer}.forward(x, gamma, beta, {shown}) with {described(x)}"


@pytest.mark.group("batchnorm")
def test_batchnorm_forward_train(student, expect):
    """BatchNorm.forward in train mode: per-feature minibatch statistics, gamma and beta, running averages"""
    check_rules(student, "BatchNorm.forward")
    for index, (dtype, param) in enumerate(((F64, {"mode": "train"}),
                                            (F32, {"mode": "train", "momentum": 0.8, "eps": 1e-3}))):
        x, gamma, beta, _ = bn_inputs(1500 + 10 * index, (50, 6), 6, dtype)
        what = bn_what("BatchNorm", x, param)
        out, after = bn_call(student, "BatchNorm", x, gamma, beta, dict(param), what)
        check_structure(out, x.shape, dtype, f"out of {what}")
        means = out.double().mean(dim=0)
        if rel_error(means, beta.double()) > 1e-4:
            raise GradingFailure(f"out of {what}: each feature's mean over the minibatch should be beta; "
                                 "normalize each column (feature) over the N rows (dim=0)")
        expect.tensor(f"case{index}_out", out, what=f"out of {what}", tol=tol_for(dtype, 1e-10), device="cpu")
        expect_running_statistics(expect, index, after, what, dtype)


@pytest.mark.group("batchnorm")
def test_batchnorm_running_statistics_and_test_mode(student, expect):
    """BatchNorm.forward: running averages over many train steps, then test mode normalizes with them"""
    check_rules(student, "BatchNorm.forward")
    param = {"mode": "train", "momentum": 0.9}
    gamma, beta = (1 + 0.5 * randn(1600, 4)), randn(1601, 4)
    for step in range(30):
        x = 2 * randn(1610 + step, 40, 4) - 1
        what = f"BatchNorm.forward in train mode (step {step + 1} of 30, momentum 0.9) with {described(x)}"
        _, param = bn_call(student, "BatchNorm", x, gamma, beta, param, what)
        if not isinstance(param, dict):
            raise GradingFailure(f"{what}: bn_param should stay a dict")
    expect.tensor("running_mean", param.get("running_mean"), what="bn_param['running_mean'] after 30 train steps",
                  tol=1e-10, device="cpu")
    expect.tensor("running_var", param.get("running_var"), what="bn_param['running_var'] after 30 train steps",
                  tol=1e-10, device="cpu")
    x = 2 * randn(1700, 10, 4) - 1
    test_param = {**param, "mode": "test"}
    what = f"BatchNorm.forward in test mode with {described(x)}, after 30 train steps"
    out, after = bn_call(student, "BatchNorm", x, gamma, beta, dict(test_param), what)
    check_structure(out, x.shape, F64, f"out of {what}")
    single, _ = bn_call(student, "BatchNorm", x[:2], gamma, beta, dict(test_param), what)
    if isinstance(single, torch.Tensor) and single.shape == (2, 4) and rel_error(single, out[:2]) > 1e-10:
        raise GradingFailure(f"out of {what} depends on the rest of the minibatch: in test mode, normalize with "
                             "bn_param['running_mean'] and ['running_var'], not with the minibatch's statistics "
                             "(the most common batchnorm bug)")
    expect.tensor("test_out", out, what=f"out of {what}", tol=1e-10, device="cpu")
    if isinstance(after, dict) and isinstance(after.get("running_mean"), torch.Tensor):
        if not torch.equal(after["running_mean"], param["running_mean"]):
            raise GradingFailure(f"{what} changed bn_param['running_mean']: test mode must not update it")


def bn_backward_test(student, expect, backward: str, seed: int) -> None:
    for index, dtype in enumerate((F64, F32)):
        x, gamma, beta, dout = bn_inputs(seed + 10 * index, (8, 5), 5, dtype)
        what = f"BatchNorm.{backward}(dout, cache) after {bn_what('BatchNorm', x, {'mode': 'train'})}"
        _, grads = roundtrip(student, "BatchNorm", (x, gamma, beta, {"mode": "train"}), dout, what,
                             backward=backward)
        grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what)
        expect_gradients(expect, index, grads, ("dx", "dgamma", "dbeta"), what, tol_for(dtype, 1e-8, 1e-4))


@pytest.mark.group("batchnorm")
def test_batchnorm_backward(student, expect):
    """BatchNorm.backward: dx, dgamma and dbeta in train mode (float64, float32)"""
    check_rules(student, "BatchNorm.forward", "BatchNorm.backward")
    bn_backward_test(student, expect, "backward", 1800)


@pytest.mark.group("batchnorm")
def test_batchnorm_backward_numeric(student, expect):
    """BatchNorm.backward: the gradients of BatchNorm.forward (numeric gradient check)"""
    check_rules(student, "BatchNorm.forward", "BatchNorm.backward")
    x, gamma, beta, dout = bn_inputs(1900, (6, 4), 4, F64)
    param = {"mode": "train"}
    what = bn_what("BatchNorm", x, param)
    what_backward = f"BatchNorm.backward(dout, cache) after {what}"
    out, grads = roundtrip(student, "BatchNorm", (x, gamma, beta, param), dout, what_backward)
    expect.tensor("out", out, what=f"out of {what}", tol=1e-10, device="cpu")
    grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what_backward)
    check_gradients_numerically(student, "BatchNorm", "forward", (x, gamma, beta, param), grads,
                                ("dx", "dgamma", "dbeta"), dout, what, what_backward)


@pytest.mark.group("batchnorm")
def test_batchnorm_backward_alt(student, expect):
    """BatchNorm.backward_alt: the same gradients from the simplified formula, without Python loops"""
    check_rules(student, "BatchNorm.forward")
    check_rules(student, "BatchNorm.backward_alt", no_loops=True)
    bn_backward_test(student, expect, "backward_alt", 2000)


# ----------------------------------------------------------------------------------------------
# spatial batch normalization, told which axes it normalized over

AXES_NAMES = "NCHW"


def normalized(x: torch.Tensor, gamma, beta, axes: tuple, eps: float) -> torch.Tensor:
    """gamma * (x - mean) / sqrt(var + eps) + beta, the statistics over ``axes`` (float64, grader side)."""
    x = x.double()
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return gamma.double().reshape(shape) * (x - mean) / torch.sqrt(var + eps) + beta.double().reshape(shape)


def channels_mixed(x: torch.Tensor, gamma, beta, eps: float) -> torch.Tensor:
    """The result of reshaping (N, C, H, W) straight to (N*H*W, C), without moving C last."""
    N, C, H, W = x.shape
    columns = x.double().reshape(-1, C)
    mean, var = columns.mean(dim=0), columns.var(dim=0, unbiased=False)
    out = gamma.double() * (columns - mean) / torch.sqrt(var + eps) + beta.double()
    return out.reshape(N, C, H, W)


def axes_text(axes: tuple) -> str:
    return "(" + ", ".join(AXES_NAMES[a] for a in axes) + ")"


def wrong_axes_hint(out: torch.Tensor, x, gamma, beta, eps: float, right: tuple, layer: str) -> str:
    """Which other normalization ``out`` is, in words ('' when none of them)."""
    names = {(0, 2, 3): "spatial batch normalization", (1, 2, 3): "layer normalization",
             (2, 3): "instance normalization", (0,): "batch normalization of each pixel separately",
             (0, 1, 2, 3): "one normalization of the whole tensor", (1,): "normalization across the channels"}
    for axes, name in names.items():
        if axes != right and rel_error(out, normalized(x, gamma, beta, axes, eps)) < 1e-6:
            return (f"{layer} normalizes over the axes {axes_text(axes)} ({name}); it should normalize over "
                    f"{axes_text(right)}")
    if right == (0, 2, 3) and rel_error(out, channels_mixed(x, gamma, beta, eps)) < 1e-6:
        return (f"{layer} mixes the channels: reshaping (N, C, H, W) straight to (N * H * W, C) puts values of "
                f"different channels in one column; move the channel axis last first (permute(0, 2, 3, 1)), "
                f"so that each channel is normalized over the axes {axes_text(right)}")
    return ""


def check_normalization(expect, key: str, out, x, gamma, beta, eps: float, right: tuple, layer: str,
                        what: str) -> None:
    check_structure(out, x.shape, x.dtype, f"out of {what}")
    if rel_error(out, normalized(x, gamma, beta, right, eps)) > tol_for(x.dtype, 1e-8, 1e-4):
        hint = wrong_axes_hint(out, x, gamma, beta, eps, right, layer)
        if hint:
            raise GradingFailure(f"out of {what}: {hint}")
    expect.tensor(key, out, what=f"out of {what}", tol=tol_for(x.dtype, 1e-10), device="cpu")


SPATIAL_CASES = [((4, 3, 5, 6), F64), ((2, 4, 3, 3), F32), ((5, 2, 4, 1), F64)]


@pytest.mark.group("spatial_batchnorm")
def test_spatial_batchnorm_forward(student, expect):
    """SpatialBatchNorm.forward: each channel over the N images and their H x W pixels, running statistics (C,)"""
    check_rules(student, "SpatialBatchNorm.forward")
    for index, (shape, dtype) in enumerate(SPATIAL_CASES):
        x, gamma, beta, _ = bn_inputs(2100 + 10 * index, shape, shape[1], dtype)
        param = {"mode": "train"}
        what = bn_what("SpatialBatchNorm", x, param)
        out, after = bn_call(student, "SpatialBatchNorm", x, gamma, beta, dict(param), what)
        check_normalization(expect, f"case{index}", out, x, gamma, beta, 1e-5, (0, 2, 3), "SpatialBatchNorm.forward",
                            what)
        expect_running_statistics(expect, index, after, f"{what} (one per channel)", dtype)


@pytest.mark.group("spatial_batchnorm")
def test_spatial_batchnorm_test_mode(student, expect):
    """SpatialBatchNorm.forward in test mode: each channel normalized with its running statistics"""
    check_rules(student, "SpatialBatchNorm.forward")
    x, gamma, beta, _ = bn_inputs(2200, (3, 4, 5, 5), 4, F64)
    param = {"mode": "test", "running_mean": randn(2205, 4), "running_var": 1 + randn(2206, 4).abs()}
    what = f"SpatialBatchNorm.forward(x, gamma, beta, bn_param) in test mode with {described(x)} and given running statistics"
    out, _ = bn_call(student, "SpatialBatchNorm", x, gamma, beta, dict(param), what)
    expect.tensor("out", out, what=f"out of {what}", tol=1e-10, device="cpu")


@pytest.mark.group("spatial_batchnorm")
def test_spatial_batchnorm_backward(student, expect):
    """SpatialBatchNorm.backward: dx, dgamma and dbeta, against the reference and the numeric gradient"""
    check_rules(student, "SpatialBatchNorm.forward", "SpatialBatchNorm.backward")
    for index, (shape, dtype) in enumerate(SPATIAL_CASES):
        x, gamma, beta, dout = bn_inputs(2300 + 10 * index, shape, shape[1], dtype)
        param = {"mode": "train"}
        what = f"SpatialBatchNorm.backward(dout, cache) after {bn_what('SpatialBatchNorm', x, param)}"
        _, grads = roundtrip(student, "SpatialBatchNorm", (x, gamma, beta, param), dout, what)
        grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what)
        expect_gradients(expect, index, grads, ("dx", "dgamma", "dbeta"), what, tol_for(dtype, 1e-8, 1e-4))
    x, gamma, beta, dout = bn_inputs(2400, (2, 2, 3, 2), 2, F64)
    param = {"mode": "train"}
    what = bn_what("SpatialBatchNorm", x, param)
    what_backward = f"SpatialBatchNorm.backward(dout, cache) after {what}"
    _, grads = roundtrip(student, "SpatialBatchNorm", (x, gamma, beta, param), dout, what_backward)
    grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what_backward)
    check_gradients_numerically(student, "SpatialBatchNorm", "forward", (x, gamma, beta, param), grads,
                                ("dx", "dgamma", "dbeta"), dout, what, what_backward)


# ----------------------------------------------------------------------------------------------
# layer and instance normalization

NORM_CASES = {  # layer -> [(x shape, eps, dtype)], and the axes it normalizes over
    "LayerNorm": [((4, 7), 1e-5, F64), ((3, 2, 4, 5), 1e-5, F64), ((5, 6), 1e-3, F32)],
    "InstanceNorm": [((3, 2, 4, 5), 1e-5, F64), ((2, 3, 6, 2), 1e-3, F32)],
}


def norm_axes(layer: str, x: torch.Tensor) -> tuple:
    return tuple(range(1, x.dim())) if layer == "LayerNorm" else tuple(range(2, x.dim()))


def norm_forward_test(student, expect, layer: str, seed: int) -> None:
    check_rules(student, f"{layer}.forward")
    for index, (shape, eps, dtype) in enumerate(NORM_CASES[layer]):
        x, gamma, beta, _ = bn_inputs(seed + 10 * index, shape, shape[1], dtype)
        param = {"eps": eps}
        what = bn_what(layer, x, param)
        out, _ = bn_call(student, layer, x, gamma, beta, dict(param), what)
        check_normalization(expect, f"case{index}", out, x, gamma, beta, eps, norm_axes(layer, x),
                            f"{layer}.forward", what)


def norm_backward_test(student, expect, layer: str, seed: int) -> None:
    check_rules(student, f"{layer}.forward", f"{layer}.backward")
    for index, (shape, eps, dtype) in enumerate(NORM_CASES[layer]):
        x, gamma, beta, dout = bn_inputs(seed + 10 * index, shape, shape[1], dtype)
        param = {"eps": eps}
        what = f"{layer}.backward(dout, cache) after {bn_what(layer, x, param)}"
        _, grads = roundtrip(student, layer, (x, gamma, beta, param), dout, what)
        grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what)
        expect_gradients(expect, index, grads, ("dx", "dgamma", "dbeta"), what, tol_for(dtype, 1e-8, 1e-4))
    shape = (3, 5) if layer == "LayerNorm" else (2, 2, 3, 3)
    x, gamma, beta, dout = bn_inputs(seed + 100, shape, shape[1], F64)
    param = {"eps": 1e-5}
    what = bn_what(layer, x, param)
    what_backward = f"{layer}.backward(dout, cache) after {what}"
    _, grads = roundtrip(student, layer, (x, gamma, beta, param), dout, what_backward)
    grads = grads_tuple(grads, 3, "(dx, dgamma, dbeta)", what_backward)
    check_gradients_numerically(student, layer, "forward", (x, gamma, beta, param), grads, ("dx", "dgamma", "dbeta"),
                                dout, what, what_backward)


@pytest.mark.group("layer_instance_norm")
def test_layer_norm_forward(student, expect):
    """LayerNorm.forward: each example over all its features, for (N, D) and (N, C, H, W) inputs"""
    norm_forward_test(student, expect, "LayerNorm", 2500)


@pytest.mark.group("layer_instance_norm")
def test_layer_norm_backward(student, expect):
    """LayerNorm.backward: dx, dgamma and dbeta, against the reference and the numeric gradient"""
    norm_backward_test(student, expect, "LayerNorm", 2600)


@pytest.mark.group("layer_instance_norm")
def test_instance_norm_forward(student, expect):
    """InstanceNorm.forward: each channel of each image over its H x W pixels"""
    norm_forward_test(student, expect, "InstanceNorm", 2700)


@pytest.mark.group("layer_instance_norm")
def test_instance_norm_backward(student, expect):
    """InstanceNorm.backward: dx, dgamma and dbeta, against the reference and the numeric gradient"""
    norm_backward_test(student, expect, "InstanceNorm", 2800)


# ----------------------------------------------------------------------------------------------
# solver settings

OVERFIT_ARCHITECTURE = {"num_filters": [8, 16, 32, 64], "max_pools": [0, 1, 2, 3], "reg": 1e-5,
                        "num_classes": 10}


def small_images(num_train: int, num_val: int) -> dict:
    """The first Fashion-MNIST images as (N, 1, 28, 28), float32 (a fixed synthetic set without it)."""
    flat = suite_helpers.fashion_mnist_subset(num_train, num_val)
    return {k: (v.reshape(v.shape[0], 1, 28, 28) if k.startswith("X") else v) for k, v in flat.items()
            if k != "dataset"}


@pytest.mark.group("solver_params")
def test_find_overfit_parameters(student):
    """find_overfit_parameters: DeepConvNet trained with them reaches 100% on 50 training images in 30 epochs"""
    settings = suite_helpers.call(student, f"{M}.find_overfit_parameters", context="with no arguments")
    if not isinstance(settings, (tuple, list)) or len(settings) != 2:
        raise GradingFailure("find_overfit_parameters() should return (weight_scale, learning_rate)")
    weight_scale = check_float(settings[0], "the weight_scale of find_overfit_parameters()")
    learning_rate = check_float(settings[1], "the learning_rate of find_overfit_parameters()")
    if not (0 < weight_scale and 0 < learning_rate):
        raise GradingFailure("find_overfit_parameters() should return positive numbers")
    data = small_images(50, 10)
    model_kwargs = {"input_dims": (1, 28, 28), **OVERFIT_ARCHITECTURE, "weight_scale": weight_scale,
                    "dtype": F32}
    solver_kwargs = {"optim_config": {"learning_rate": learning_rate}, "batch_size": 10, "num_epochs": 30,
                     "print_every": 10_000, "verbose": False}
    what = (f"DeepConvNet(num_filters=[8, 16, 32, 64], max_pools=[0, 1, 2, 3], weight_scale={weight_scale:g}) "
            f"trained by Solver with adam, learning_rate={learning_rate:g}, on 50 images")
    result = student.drive("solver_train", f"{M}.DeepConvNet", model_kwargs, data, solver_kwargs,
                           f"{M}.adam", what=what, timeout=90)
    history = result.get("train_acc_history") if isinstance(result, dict) else None
    if not isinstance(history, list) or not history:
        raise GraderBug("solver_train returned no training accuracies")
    accuracy = check_float(history[-1], f"the training accuracy of {what} after the last epoch")
    if accuracy < 1.0:
        raise GradingFailure(f"{what} reaches {100 * accuracy:.0f}% training accuracy, not 100%: tune the weight "
                             "scale (too small and the deep net does not learn, too large and it diverges) and "
                             "the learning rate")


@pytest.mark.group("solver_params")
def test_create_convolutional_solver_instance(student):
    """create_convolutional_solver_instance: an untrained Solver around a DeepConvNet for the data's image size"""
    data = small_images(20, 10)
    what = "create_convolutional_solver_instance(data_dict, torch.float32, 'cpu') with 1x28x28 images"
    description = student.drive("call_then_train", f"{M}.create_convolutional_solver_instance",
                                (data, F32, "cpu"), {}, what=what)
    if not isinstance(description, dict) or description.get("type") != "Solver":
        raise GradingFailure(f"{what} should return an eecs498.solver.Solver")
    if description.get("model_type") != "DeepConvNet":
        raise GradingFailure(f"the Solver of {what} should hold a DeepConvNet (the network the notebook saves as "
                             f"one_minute_deepconvnet.pt), not a {description.get('model_type')}")
    shapes = description.get("param_shapes") or {}
    convolutions = [tuple(shape) for shape in shapes.values() if len(shape) == 4]
    linear = [tuple(shape) for shape in shapes.values() if len(shape) == 2]
    if not convolutions or not any(shape[1] == 1 for shape in convolutions):
        raise GradingFailure(f"the network of {what} should take the data's 1-channel images: its convolution weights "
                             f"have the shapes {convolutions}; use input_dims = data_dict['X_train'].shape[1:]")
    if len(linear) != 1 or linear[0][-1] != 10:
        raise GradingFailure(f"the network of {what} should end with one linear layer to 10 class scores; its "
                             f"2-dimensional weights have the shapes {linear}")
