"""Hidden tests of ``pytorch_autograd_and_nn.py``: the stable sigmoid as a ``torch.autograd.Function``,
the course's three-layer network written three ways (barebones ``three_layer_convnet`` with
``initialize_three_layer_conv_part2``, the ``nn.Module`` ``ThreeLayerConvNet`` with
``initialize_three_layer_conv_part3``, the ``nn.Sequential`` of ``initialize_three_layer_conv_part4``),
and the plain, residual and bottleneck blocks and ResNets built with ``torch.nn``.

Runs in the trusted grader. The sigmoid runs in the sandbox by plain calls and, for its gradient,
through the ``autograd_backward`` driver (``y = stable_sigmoid(x)``, ``y.backward(dout)`` next to the
student's code); values and gradients are compared with the grader's own float64 formula. The
modules are built in the sandbox by the ``module_probe`` driver, which gives their parameters
fixed values in the order of ``named_parameters`` and returns the output on a fixed input, the
parameter count and shapes and the leaf layers in order: shapes and counts are checked against
the grader's formulas, the layer order against the architecture the docstrings state, and the
outputs against the references recorded from the source solutions (the three-layer networks'
against the grader's own forward pass of the same parameters, reproduced from the seed; their
gradients, through ``autograd_grads``, against autograd of that forward pass). The optimizers of
``initialize_three_layer_conv_part3/4`` are described by the ``factory_probe`` driver (type,
hyperparameters, whether they hold exactly the model's parameters).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autograder import suite_helpers
from autograder.source_rules import Banned, check_banned
from autograder.suite import GraderBug, GradingFailure, rel_error
from autograder.suite_helpers import check_structure, dtype_name, randn

MODULE = "pytorch_autograd_and_nn.py"
M = "pytorch_autograd_and_nn"
F64, F32 = torch.float64, torch.float32
# StableSigmoid (our addition to the course) computes the sigmoid and its gradient itself.
BUILT_IN_SIGMOIDS = Banned(names={"sigmoid", "expit", "logistic", "softplus"},
                           modules=("torch.autograd.grad", "torch.func", "functorch"))


def check_own_sigmoid(student) -> None:
    for qualname in ("StableSigmoid.forward", "StableSigmoid.backward"):
        check_banned(student, MODULE, qualname, BUILT_IN_SIGMOIDS,
                     "must compute the sigmoid and its gradient itself with exp and arithmetic (no torch.sigmoid, "
                     "torch.special.expit, F.sigmoid, softplus or torch.autograd.grad)")


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
    y = student.call(f"{M}.stable_sigmoid", x)
    check_structure(y, x.shape, F64, f"the output of stable_sigmoid(x) with float64 x {tuple(x.shape)}")
    if not rel_error(y, sigmoid64(x)) <= 1e-12:  # the gradient check pays only for the right function
        raise GradingFailure(f"the output of stable_sigmoid(x) with float64 x {tuple(x.shape)} is not the sigmoid, so "
                             "its gradient is not checked")
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


# ----------------------------------------------------------------------------------------------
# the three-layer network three ways: barebones, Module API, Sequential API (the course's 2020
# parts II-IV). Scores are checked against the grader's own forward pass of the same parameters:
# given ones (the function), or the ones module_probe sets, reproduced here from its seed.

THREE_LAYER_ROLES = ("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b")
ARCHITECTURE = ("conv 5x5 (padding 2) - ReLU - conv 3x3 (padding 1) - ReLU - flatten - linear, every layer "
                "with its bias")


def three_layer_shapes(C: int, channel_1: int, channel_2: int, num_classes: int, H: int, W: int) -> dict:
    """Role -> shape of the course's three-layer network's parameters (fc_w in F.linear's layout)."""
    return {"conv_w1": (channel_1, C, 5, 5), "conv_b1": (channel_1,), "conv_w2": (channel_2, channel_1, 3, 3),
            "conv_b2": (channel_2,), "fc_w": (num_classes, channel_2 * H * W), "fc_b": (num_classes,)}


def three_layer_scores(x: torch.Tensor, p: dict) -> torch.Tensor:
    """The grader's forward pass of the three-layer network, float64."""
    h = F.relu(F.conv2d(x.double(), p["conv_w1"].double(), p["conv_b1"].double(), padding=2))
    h = F.relu(F.conv2d(h, p["conv_w2"].double(), p["conv_b2"].double(), padding=1))
    return F.linear(h.flatten(1), p["fc_w"].double(), p["fc_b"].double())


def probe_parameters(param_shapes: list, seed: int, roles: dict, what: str) -> dict:
    """The values module_probe gave the parameters (drawn in the order of ``named_parameters`` from
    ``seed``, scaled by 1 / sqrt(fan-in), float32), by role, the roles told apart by their shapes."""
    shapes = [tuple(shape) for _, shape in param_shapes]
    if sorted(shapes) != sorted(roles.values()):
        expected = ", ".join(str(shape) for shape in roles.values())
        raise GradingFailure(f"{what} has parameters of the shapes {shapes}; expected {expected} ({ARCHITECTURE}; the "
                             "linear layer nn.Linear(channel_2 * H * W, num_classes))")
    by_shape = {shape: role for role, shape in roles.items()}
    generator = torch.Generator().manual_seed(seed)
    values = {}
    for shape in shapes:
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        value = torch.randn(shape, generator=generator, dtype=F64) / max(1, fan_in) ** 0.5
        values[by_shape[shape]] = value.to(F32)
    return values


def check_probe_scores(probe: dict, x: torch.Tensor, seed: int, roles: dict, num_classes: int, what: str) -> None:
    if not isinstance(probe, dict) or probe.get("out") is None:
        raise GradingFailure(f"{what} should be a torch.nn.Module")
    check_structure(probe["out"], (x.shape[0], num_classes), F32, f"the scores of {what} for x {tuple(x.shape)}")
    expected = three_layer_scores(x, probe_parameters(probe["param_shapes"], seed, roles, what))
    error = rel_error(probe["out"], expected)
    if not error <= 1e-5:
        raise GradingFailure(f"the scores of {what} (fixed parameters) are not those of {ARCHITECTURE} "
                             f"(relative error {error:.1e})")


def check_kaiming(value: torch.Tensor, what: str) -> None:
    """A weight from nn.init.kaiming_normal_: mean 0, standard deviation sqrt(gain^2 / fan_in) with
    the default gain sqrt(2) (or 1, nonlinearity='linear', for the last layer); five standard errors."""
    value = value.double()
    fan_in, n = math.prod(value.shape[1:]), value.numel()
    std, tol = value.std().item(), max(0.05, 5 / math.sqrt(2 * n))
    targets = [math.sqrt(2 / fan_in), math.sqrt(1 / fan_in)]
    if not any(abs(std - target) <= tol * target for target in targets) or abs(value.mean().item()) > 5 * std / math.sqrt(n):
        raise GradingFailure(f"{what} has standard deviation {std:.3g}; nn.init.kaiming_normal_ gives "
                             f"sqrt(2 / fan_in) = {targets[0]:.3g} (fan_in = {fan_in})")


def check_optimizer(description: dict, what: str, expected: dict) -> None:
    if description.get("optimizer_type") != "SGD" or not description.get("groups"):
        raise GradingFailure(f"{what} should return (model, optimizer) with a torch.optim.SGD optimizer; it returned "
                             f"a {description.get('optimizer_type', description.get('result_type'))}")
    if not description.get("covers_model"):
        raise GradingFailure(f"the optimizer of {what} should update exactly the model's parameters "
                             "(torch.optim.SGD(model.parameters(), ...))")
    for group in description["groups"]:
        for key, value in expected.items():
            actual = group.get(key, 0)
            same = (actual is value) if isinstance(value, bool) else math.isclose(float(actual), float(value))
            if not same:
                raise GradingFailure(f"the optimizer of {what} has {key}={actual}; expected {key}={value} "
                                     f"({', '.join(f'{k}={v}' for k, v in expected.items())})")


def three_layer_params(seed: int, C: int, channel_1: int, channel_2: int, num_classes: int, H: int, W: int) -> dict:
    params = {}
    for index, (role, shape) in enumerate(three_layer_shapes(C, channel_1, channel_2, num_classes, H, W).items()):
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        params[role] = randn(seed + index, *shape) / math.sqrt(fan_in) * (1 if len(shape) > 1 else 0.1)
    return params


@pytest.mark.group("pytorch_apis")
def test_three_layer_convnet_function(student):
    """three_layer_convnet(x, params): the course's scores, and autograd's gradients through it (x and all six parameters)"""
    params = three_layer_params(3500, 3, 6, 9, 10, 32, 32)  # the course's check: 6 and 9 filters, 32x32 images
    x = randn(3510, 4, 3, 32, 32)
    dout = randn(3511, 4, 10)
    what = ("three_layer_convnet(x, [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]) with float64 x (4, 3, 32, 32), "
            "conv_w1 (6, 3, 5, 5), conv_w2 (9, 6, 3, 3), fc_w (10, 9216)")
    result = student.drive("autograd_grads", f"{M}.three_layer_convnet", (x, [params[r] for r in THREE_LAYER_ROLES]),
                           dout, what=f"scores = {what}; scores.backward(dout)")
    if not isinstance(result, dict):
        raise GraderBug("autograd_grads returned something unexpected")
    check_structure(result["out"], (4, 10), F64, f"the scores of {what}")
    error = rel_error(result["out"], three_layer_scores(x, params))
    if not error <= 1e-10:
        raise GradingFailure(f"the scores of {what} are not those of {ARCHITECTURE} (relative error {error:.1e}); "
                             "use F.conv2d(x, w, b, padding=...), F.relu, flatten and F.linear(x, fc_w, fc_b)")
    leaves = [x.clone().requires_grad_(True)] + [params[r].clone().requires_grad_(True) for r in THREE_LAYER_ROLES]
    three_layer_scores(leaves[0], dict(zip(THREE_LAYER_ROLES, leaves[1:]))).backward(dout)
    for name, grad, leaf in zip(("x",) + THREE_LAYER_ROLES, result["grads"], leaves):
        if grad is None:
            raise GradingFailure(f"after scores.backward(dout), {name} has no gradient: compute the scores from the "
                                 "given tensors with torch operations (no .detach(), no torch.no_grad())")
        check_structure(grad, leaf.shape, F64, f"the gradient of {name} through {what}")
        error = rel_error(grad, leaf.grad)
        if not error <= 1e-8:
            raise GradingFailure(f"the gradient of {name} through {what} is wrong (relative error {error:.1e})")


def check_part2_params(params, what: str, dtype, shapes: dict) -> None:
    if not isinstance(params, (list, tuple)) or len(params) != 6:
        raise GradingFailure(f"{what} should return the list [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]")
    for role, value in zip(THREE_LAYER_ROLES, params):
        check_structure(value, shapes[role], dtype, f"{role} of {what}")
        if not value.requires_grad:
            raise GradingFailure(f"{role} of {what} should require gradients (requires_grad=True), or training "
                                 "cannot update it")
        if role.startswith(("conv_b", "fc_b")):
            if not torch.equal(value.detach(), torch.zeros_like(value.detach())):
                raise GradingFailure(f"{role} of {what} should start at zeros")
        else:
            check_kaiming(value.detach(), f"{role} of {what}")


@pytest.mark.group("pytorch_apis")
def test_initialize_three_layer_conv_part2(student):
    """initialize_three_layer_conv_part2(dtype, device): six leaf tensors of the course's shapes, Kaiming normal weights, zero biases"""
    shapes = three_layer_shapes(3, 32, 16, 10, 32, 32)
    for dtype in (F32, F64):
        what = f"initialize_three_layer_conv_part2(dtype={dtype_name(dtype)}, device='cpu')"
        params = suite_helpers.call(student, f"{M}.initialize_three_layer_conv_part2", dtype=dtype, device="cpu",
                                    context=what)
        check_part2_params(params, what, dtype, shapes)


@pytest.mark.group("pytorch_apis")
def test_three_layer_convnet_module(student):
    """ThreeLayerConvNet(in_channel, channel_1, channel_2, num_classes): an nn.Module of the course's layers (32x32 images); its scores"""
    x = randn(3600, 2, 3, 32, 32).to(F32)
    what = "ThreeLayerConvNet(3, 6, 4, 10)"
    result = probe(student, "ThreeLayerConvNet", (3, 6, 4, 10), x, 3601, f"{what} applied to x (2, 3, 32, 32)")
    check_probe_scores(result, x, 3601, three_layer_shapes(3, 6, 4, 10, 32, 32), 10, what)


@pytest.mark.group("pytorch_apis")
def test_three_layer_convnet_module_initialization(student):
    """ThreeLayerConvNet.__init__: Kaiming normal weights (nn.init.kaiming_normal_) and zero biases"""
    what = "ThreeLayerConvNet(3, 6, 4, 10)"
    result = student.drive("module_init", f"{M}.ThreeLayerConvNet", (3, 6, 4, 10), {}, 3700, what=what)
    if not isinstance(result, dict) or not result.get("is_module"):
        raise GradingFailure(f"{what} should be a torch.nn.Module")
    shapes = sorted(three_layer_shapes(3, 6, 4, 10, 32, 32).values())
    if sorted(tuple(p.shape) for _, p in result["params"]) != shapes:
        raise GradingFailure(f"{what} has parameters of the shapes {[tuple(p.shape) for _, p in result['params']]}; "
                             f"expected {shapes} ({ARCHITECTURE})")
    for name, value in result["params"]:
        if value.dim() == 1:
            if not torch.equal(value, torch.zeros_like(value)):
                raise GradingFailure(f"the parameter {name} of {what} should start at zeros (nn.init.zeros_)")
        else:
            check_kaiming(value, f"the parameter {name} of {what}")


def factory_test(student, factory: str, x: torch.Tensor, seed: int, kwargs: dict, roles: dict, num_classes: int,
                 optimizer: dict, model_type: str, layers: list | None = None) -> None:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    what = f"{factory}({shown})"
    description = student.drive("factory_probe", f"{M}.{factory}", (), kwargs, x, seed, what=what)
    if not isinstance(description, dict) or "model_type" not in description:
        kind = description.get("result_type") if isinstance(description, dict) else None
        raise GradingFailure(f"{what} should return (model, optimizer); it returned a {kind}")
    if description["model_type"] != model_type:
        raise GradingFailure(f"the model of {what} should be a {model_type}; it is a {description['model_type']}")
    check_optimizer(description, what, optimizer)
    probe_result = description.get("probe")
    if layers is not None and probe_result and [n for n in probe_result["layers"] if n != "Identity"] != layers:
        raise GradingFailure(f"the layers of the model of {what} are {', '.join(probe_result['layers'])}; expected "
                             f"{', '.join(layers)}")
    check_probe_scores(probe_result, x, seed, roles, num_classes, f"the model of {what}")


@pytest.mark.group("pytorch_apis")
def test_initialize_three_layer_conv_part3(student):
    """initialize_three_layer_conv_part3(): ThreeLayerConvNet(3, 32, 16, 10) and SGD (learning rate 3e-3, weight decay 1e-4, no momentum)"""
    x = randn(3800, 2, 3, 32, 32).to(F32)
    factory_test(student, "initialize_three_layer_conv_part3", x, 3801, {}, three_layer_shapes(3, 32, 16, 10, 32, 32),
                 10, {"lr": 3e-3, "weight_decay": 1e-4, "momentum": 0, "nesterov": False}, "ThreeLayerConvNet")


SEQUENTIAL_LAYERS = ["Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear"]


@pytest.mark.group("pytorch_apis")
def test_initialize_three_layer_conv_part4(student):
    """initialize_three_layer_conv_part4(): the same network as an nn.Sequential, and SGD with Nesterov momentum 0.5 (learning rate 1e-2, weight decay 1e-4)"""
    x = randn(3900, 2, 3, 32, 32).to(F32)
    factory_test(student, "initialize_three_layer_conv_part4", x, 3901, {}, three_layer_shapes(3, 32, 16, 10, 32, 32),
                 10, {"lr": 1e-2, "weight_decay": 1e-4, "momentum": 0.5, "nesterov": True}, "Sequential",
                 SEQUENTIAL_LAYERS)


@pytest.mark.group("pytorch_apis")
def test_three_layer_networks_for_other_images(student):
    """Beyond the course: input_dims / image_size build the three networks for 1x28x28 images and 7 classes"""
    dims, classes = (1, 28, 28), 7
    shapes = three_layer_shapes(1, 32, 16, classes, 28, 28)
    what = f"initialize_three_layer_conv_part2(dtype=float32, device='cpu', input_dims={dims}, num_classes={classes})"
    params = suite_helpers.call(student, f"{M}.initialize_three_layer_conv_part2", dtype=F32, device="cpu",
                                input_dims=dims, num_classes=classes, context=what)
    check_part2_params(params, what, F32, shapes)
    x = randn(4000, 2, *dims).to(F32)
    what = f"ThreeLayerConvNet(1, 6, 4, {classes}, image_size=(28, 28))"
    result = student.drive("module_probe", f"{M}.ThreeLayerConvNet", (1, 6, 4, classes), {"image_size": (28, 28)}, x,
                           4001, what=what)
    check_probe_scores(result, x, 4001, three_layer_shapes(1, 6, 4, classes, 28, 28), classes, what)
    kwargs = {"input_dims": dims, "num_classes": classes}
    factory_test(student, "initialize_three_layer_conv_part3", x, 4002, kwargs, shapes, classes,
                 {"lr": 3e-3, "weight_decay": 1e-4, "momentum": 0, "nesterov": False}, "ThreeLayerConvNet")
    factory_test(student, "initialize_three_layer_conv_part4", x, 4003, kwargs, shapes, classes,
                 {"lr": 1e-2, "weight_decay": 1e-4, "momentum": 0.5, "nesterov": True}, "Sequential",
                 SEQUENTIAL_LAYERS)
