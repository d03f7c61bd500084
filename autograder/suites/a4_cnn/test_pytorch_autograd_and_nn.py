"""Hidden tests of ``pytorch_autograd_and_nn.py``: the stable sigmoid as a ``torch.autograd.Function``,
and the plain, residual and bottleneck blocks and ResNets built with ``torch.nn``.

Runs in the trusted grader. The sigmoid runs in the sandbox by plain calls and, for its gradient,
through the ``autograd_backward`` driver (``y = stable_sigmoid(x)``, ``y.backward(dout)`` next to the
student's code); values and gradients are compared with the grader's own float64 formula. The
modules are built in the sandbox by the ``module_probe`` driver, which gives their parameters
fixed values in the order of ``named_parameters`` and returns the output on a fixed input, the
parameter count and shapes and the leaf layers in order: shapes and counts are checked against
the grader's formulas, the layer order against the architecture the docstrings state, and the
outputs against the references recorded from the source solutions.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.suite import GraderBug, GradingFailure, banned_names_in, rel_error
from autograder.suite_helpers import check_structure, dtype_name, randn

MODULE = "pytorch_autograd_and_nn.py"
M = "pytorch_autograd_and_nn"
F64, F32 = torch.float64, torch.float32
BUILT_IN_SIGMOIDS = {"sigmoid", "expit", "logistic", "softplus", "grad"}


def check_own_sigmoid(student) -> None:
    for qualname in ("StableSigmoid.forward", "StableSigmoid.backward"):
        found = banned_names_in(student.function(MODULE, qualname), BUILT_IN_SIGMOIDS)
        if found:
            name, line = found[0]
            raise GradingFailure(f"{qualname} uses {name} on line {line}: compute the sigmoid and its gradient "
                                 "yourself with exp and arithmetic")


def sigmoid64(x: torch.Tensor) -> torch.Tensor:
    """The grader's sigmoid, float64, exact at both ends."""
    x = x.double()
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_inputs(dtype) -> torch.Tensor:
    moderate = 4 * randn(3000, 6, 7)
    extreme = torch.tensor([-1e4, -800.0, -120.0, -90.0, -30.0, -1e-8, 0.0, 1e-8, 30.0, 90.0, 120.0, 800.0, 1e4],
                           dtype=F64)
    return torch.cat([moderate.flatten(), extreme]).to(dtype)


@pytest.mark.group("autograd_function")
def test_stable_sigmoid_values(student):
    """stable_sigmoid: sigmoid values for moderate and extreme inputs, finite and exact at both ends (float64, float32)"""
    check_own_sigmoid(student)
    for dtype in (F64, F32):
        x = sigmoid_inputs(dtype)
        what = f"stable_sigmoid(x) with {dtype_name(dtype)} x {tuple(x.shape)}, moderate and large |x| included"
        try:
            y = student.call(f"{M}.stable_sigmoid", x)
        except GradingFailure as failure:
            raise GradingFailure(f"{failure} (when called as {what})") from None
        check_structure(y, x.shape, dtype, f"the output of {what}")
        error = rel_error(y, sigmoid64(x))
        if not error <= (1e-12 if dtype == F64 else 1e-6):
            raise GradingFailure(f"the output of {what} is not the sigmoid (relative error {error:.1e})")
        exact = sigmoid64(x).to(dtype)
        ends = (exact == 0) | (exact == 1)  # where the sigmoid rounds to 0 or 1 in this dtype
        if not torch.equal(y[ends], exact[ends]):
            raise GradingFailure(f"the output of {what} should round to exactly 0 for very negative x and exactly 1 "
                                 "for very positive x")


@pytest.mark.group("autograd_function")
def test_stable_sigmoid_gradient(student):
    """StableSigmoid.backward: autograd through stable_sigmoid gives grad_y * y * (1 - y), finite everywhere"""
    check_own_sigmoid(student)
    for dtype in (F64, F32):
        x = sigmoid_inputs(dtype)
        dout = randn(3001, x.numel()).to(dtype)
        what = f"y = stable_sigmoid(x); y.backward(dout) with {dtype_name(dtype)} x {tuple(x.shape)}"
        try:
            result = student.drive("autograd_backward", f"{M}.stable_sigmoid", x, dout, what=what)
        except GradingFailure as failure:
            if "does not require grad" in str(failure):
                raise GradingFailure(f"{failure}: stable_sigmoid must call StableSigmoid.apply(x) (never forward "
                                     "directly), so that autograd records the function") from None
            raise
        if not isinstance(result, dict):
            raise GraderBug("autograd_backward returned something unexpected")
        grad = result.get("grad")
        if grad is None:
            raise GradingFailure(f"{what} gave x no gradient: StableSigmoid.backward must return grad_x")
        check_structure(grad, x.shape, dtype, f"the gradient of x after {what}")
        y = sigmoid64(x)
        error = rel_error(grad, dout.double() * y * (1 - y))
        if not error <= (1e-12 if dtype == F64 else 1e-6):
            raise GradingFailure(f"the gradient of x after {what} is not grad_y * y * (1 - y) (relative error "
                                 f"{error:.1e})")


@pytest.mark.group("autograd_function")
def test_stable_sigmoid_gradcheck(student):
    """StableSigmoid: its backward agrees with centered differences of its forward (float64)"""
    check_own_sigmoid(student)
    x = 3 * randn(3002, 20)
    dout = torch.ones_like(x)
    what = f"y = stable_sigmoid(x); y.backward(ones) with float64 x {tuple(x.shape)}"
    result = student.drive("autograd_backward", f"{M}.stable_sigmoid", x, dout, what=what)
    grad = result.get("grad") if isinstance(result, dict) else None
    check_structure(grad, x.shape, F64, f"the gradient of x after {what}")
    step = 1e-6
    plus = student.call(f"{M}.stable_sigmoid", x + step)
    minus = student.call(f"{M}.stable_sigmoid", x - step)
    numeric = (plus.double() - minus.double()) / (2 * step)
    error = rel_error(grad, numeric)
    if not error <= 1e-7:
        raise GradingFailure(f"the gradient of x after {what} differs from the numeric gradient of stable_sigmoid "
                             f"(relative error {error:.1e}): forward and backward disagree")


# ----------------------------------------------------------------------------------------------
# blocks and ResNets


def probe(student, module: str, args: tuple, x: torch.Tensor, seed: int, what: str) -> dict:
    result = student.drive("module_probe", f"{M}.{module}", args, {}, x, seed, what=what)
    if not isinstance(result, dict) or "out" not in result:
        raise GraderBug("module_probe returned something unexpected")
    if result["out"] is None:
        raise GradingFailure(f"{what} should be a torch.nn.Module; it is a {result['layers'][0]}")
    return result


def conv_params(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def bn_params(c: int) -> int:
    return 2 * c


def shortcut_params(cin: int, cout: int, downsample: bool) -> int:
    return conv_params(cin, cout, 1) if downsample or cin != cout else 0


def plain_count(cin: int, cout: int, downsample: bool) -> int:
    return bn_params(cin) + conv_params(cin, cout, 3) + bn_params(cout) + conv_params(cout, cout, 3)


def bottleneck_count(cin: int, cout: int, downsample: bool) -> int:
    mid = cout // 4
    return (bn_params(cin) + conv_params(cin, mid, 1) + bn_params(mid) + conv_params(mid, mid, 3)
            + bn_params(mid) + conv_params(mid, cout, 1) + shortcut_params(cin, cout, downsample))


BLOCKS = {  # block -> (parameter count formula, leaf layers of the main branch, description)
    "PlainBlock": (plain_count, ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"],
                   "BatchNorm - ReLU - Conv3x3 - BatchNorm - ReLU - Conv3x3"),
    "ResidualBlock": (lambda cin, cout, d: plain_count(cin, cout, d) + shortcut_params(cin, cout, d),
                      ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"],
                      "a PlainBlock (BatchNorm - ReLU - Conv3x3 - BatchNorm - ReLU - Conv3x3) plus the shortcut"),
    "ResidualBottleneckBlock": (bottleneck_count, ["BatchNorm2d", "ReLU", "Conv2d"] * 3,
                                "BatchNorm - ReLU - Conv1x1 - BatchNorm - ReLU - Conv3x3 - BatchNorm - ReLU - "
                                "Conv1x1, plus the shortcut"),
}
BLOCK_CASES = [  # (Cin, Cout, downsample, x shape)
    (8, 8, False, (2, 8, 6, 6)),
    (4, 8, False, (2, 4, 5, 5)),
    (8, 16, True, (2, 8, 6, 6)),
    (8, 8, True, (3, 8, 7, 5)),
]


def expected_out_shape(x_shape: tuple, cout: int, downsample: bool) -> tuple:
    N, _, H, W = x_shape
    return (N, cout, math.ceil(H / 2), math.ceil(W / 2)) if downsample else (N, cout, H, W)


def shortcut_hint(block: str, cin: int, cout: int, downsample: bool) -> str:
    if block == "PlainBlock":
        return ""
    if downsample:
        return "; the shortcut is a 1x1 convolution Cin -> Cout with stride 2 when downsampling"
    if cin != cout:
        return "; the shortcut is a 1x1 convolution Cin -> Cout when the channels differ"
    return "; the shortcut is nn.Identity() (no parameters) when the shapes already match"


def block_test(student, expect, block: str, seed: int) -> None:
    count, main_layers, description = BLOCKS[block]
    for index, (cin, cout, downsample, x_shape) in enumerate(BLOCK_CASES):
        if block == "ResidualBottleneckBlock":
            cout *= 2  # Cout // 4 channels inside
        x = randn(seed + index, *x_shape).to(F32)
        what = f"{block}({cin}, {cout}, downsample={downsample})"
        result = probe(student, block, (cin, cout, downsample), x, seed + 50 + index, f"{what} applied to x {x_shape}")
        layers = [name for name in result["layers"] if name != "Identity"]
        if layers[:len(main_layers)] != main_layers:
            raise GradingFailure(f"the layers of {what} are {', '.join(layers)}; expected {description} "
                                 "(pre-activation: batchnorm and ReLU before each convolution)")
        out_shape = expected_out_shape(x_shape, cout, downsample)
        check_structure(result["out"], out_shape, F32, f"the output of {what} for x {x_shape}")
        expected_count = count(cin, cout, downsample)
        if result["num_params"] != expected_count:
            raise GradingFailure(f"{what} has {result['num_params']} parameters; expected {expected_count} "
                                 f"({description}, convolutions with biases){shortcut_hint(block, cin, cout, downsample)}")
        expect.value(f"case{index}_shapes", [shape for _, shape in result["param_shapes"]],
                     what=f"the parameter shapes of {what}, in order")
        expect.tensor(f"case{index}_out", result["out"], what=f"the output of {what} (train mode, fixed parameters)",
                      tol=1e-5, device="cpu")


@pytest.mark.group("residual_networks")
def test_plain_block(student, expect):
    """PlainBlock: pre-activation layers, output shapes with and without downsampling, parameter counts, outputs"""
    block_test(student, expect, "PlainBlock", 3100)


@pytest.mark.group("residual_networks")
def test_residual_block(student, expect):
    """ResidualBlock: identity, 1x1 and strided 1x1 shortcuts; output shapes, parameter counts, outputs"""
    block_test(student, expect, "ResidualBlock", 3200)


@pytest.mark.group("residual_networks")
def test_residual_bottleneck_block(student, expect):
    """ResidualBottleneckBlock: 1x1-3x3-1x1 at Cout // 4 channels, downsampling in the 3x3; shapes, counts, outputs"""
    block_test(student, expect, "ResidualBottleneckBlock", 3300)


RESNET_CASES = [  # (stage_args, Cin, block name, x shape)
    ([(4, 4, 1, False), (4, 8, 2, True)], 3, "ResidualBlock", (2, 3, 8, 8)),
    ([(8, 8, 1, False), (8, 16, 1, True), (16, 32, 1, True)], 1, "ResidualBottleneckBlock", (2, 1, 9, 9)),
    ([(4, 6, 2, True)], 2, "PlainBlock", (3, 2, 6, 6)),
]


def resnet_count(stage_args: list, cin: int, block: str) -> int:
    total = conv_params(cin, stage_args[0][0], 3)  # the stem
    per_block = BLOCKS[block][0]
    for stage_cin, stage_cout, num_blocks, downsample in stage_args:
        total += per_block(stage_cin, stage_cout, downsample)
        total += (num_blocks - 1) * per_block(stage_cout, stage_cout, False)
    return total + stage_args[-1][1] * 10 + 10  # the linear classifier


@pytest.mark.group("residual_networks")
def test_resnet(student, expect):
    """ResNet(stage_args, Cin, block): stem, stages, global average pooling, linear; scores, parameter counts"""
    for index, (stage_args, cin, block, x_shape) in enumerate(RESNET_CASES):
        x = randn(3400 + index, *x_shape).to(F32)
        what = f"ResNet({stage_args}, Cin={cin}, block={block})"
        result = student.drive("module_probe", f"{M}.ResNet", (stage_args, cin), {}, x, 3450 + index, True,
                               {"block": f"{M}.{block}"}, what=f"{what} applied to x {x_shape}")
        if not isinstance(result, dict) or result.get("out") is None:
            raise GradingFailure(f"{what} should be a torch.nn.Module")
        check_structure(result["out"], (x_shape[0], 10), F32, f"the scores of {what} for x {x_shape}")
        expected_count = resnet_count(stage_args, cin, block)
        if result["num_params"] != expected_count:
            raise GradingFailure(f"{what} has {result['num_params']} parameters; expected {expected_count} (the stem "
                                 "3x3 convolution Cin -> stage_args[0][0], one ResNetStage per tuple, the linear "
                                 "layer)")
        expect.value(f"case{index}_shapes", [shape for _, shape in result["param_shapes"]],
                     what=f"the parameter shapes of {what}, in order")
        expect.tensor(f"case{index}_out", result["out"], what=f"the scores of {what} (train mode, fixed parameters)",
                      tol=1e-5, device="cpu")
