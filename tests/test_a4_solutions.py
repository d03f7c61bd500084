"""The a4_cnn source solutions (assignments/a4_cnn/*.py) on course-style checks.

These are the instructor's own checks of the reference code, fast and visible; the hidden suite
that grades students will live in autograder/suites/a4_cnn/. Tensor tests run on the CPU and again
on CUDA when a GPU is present (the ``device`` fixture from conftest.py). References are
``torch.nn.functional`` (conv2d, max_pool2d, batch_norm, layer_norm, group_norm, instance_norm)
with autograd, and centered-difference gradients (``eecs498.grad.compute_numeric_gradient``), all
in float64.

a4's ``convolutional_networks.py`` imports a3's layers (``from fully_connected_networks import
...``): in a release that file is shipped beside it (``given`` in assignment.toml); here
``assignments/a3_mlp`` is put on ``sys.path``. The release of a4 itself is not built here (its
notebooks do not exist yet): the stubs are checked by stripping the solutions into a folder with
the given file beside them.
"""
from __future__ import annotations

import ast
import inspect
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from autograder.release import find_solution_regions, strip_solutions
from eecs498.assignment import load_assignment
from helpers import body_names, import_file, loop_count
from eecs498.grad import compute_numeric_gradient, rel_error

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_DIR = ROOT / "assignments" / "a4_cnn"
A3_DIR = ROOT / "assignments" / "a3_mlp"
CONV_PATH = ASSIGNMENT_DIR / "convolutional_networks.py"
NN_PATH = ASSIGNMENT_DIR / "pytorch_autograd_and_nn.py"

if str(A3_DIR) not in sys.path:
    sys.path.insert(0, str(A3_DIR))  # the given file: `from fully_connected_networks import ...`




cn = import_file(CONV_PATH, "a4_cnn_source_convolutional_networks")
pn = import_file(NN_PATH, "a4_cnn_source_pytorch_autograd_and_nn")

CONV_GIVEN = {
    "hello_convolutional_networks", "_weight_shape", "FastConv.forward", "FastConv.backward", "FastMaxPool.forward",
    "FastMaxPool.backward",
    "Conv_ReLU.forward", "Conv_ReLU.backward", "Conv_ReLU_Pool.forward", "Conv_ReLU_Pool.backward",
    "Linear_BatchNorm_ReLU.forward", "Linear_BatchNorm_ReLU.backward", "Conv_BatchNorm_ReLU.forward",
    "Conv_BatchNorm_ReLU.backward", "Conv_BatchNorm_ReLU_Pool.forward", "Conv_BatchNorm_ReLU_Pool.backward",
    "_read_checkpoint", "_positive_ints", "_reg", "_check_params", "_per_channel",
    "ThreeLayerConvNet.save", "ThreeLayerConvNet.load", "DeepConvNet.save", "DeepConvNet.load",
}
NN_GIVEN = {
    "hello", "flatten", "check_accuracy_part2", "train_part2", "Flatten.forward", "PlainBlock.forward",
    "ResNetStem.__init__", "ResNetStem.forward", "ResNetStage.__init__",
    "ResNetStage.forward", "get_resnet", "get_loaders", "check_accuracy", "adjust_learning_rate", "train",
}
# (stride, pad, kernel (HH, WW)) cases for the convolutions
CONV_CASES = [(1, 0, (3, 3)), (1, 1, (3, 3)), (2, 1, (3, 3)), (2, 0, (5, 5)), (3, 2, (4, 2)), (1, 3, (7, 7)),
              (2, 2, (1, 1))]
POOL_CASES = [(2, 2, 2), (3, 3, 2), (2, 3, 1), (3, 2, 3)]  # (pool_height, pool_width, stride)







def _randn(*shape, seed=0, dtype=torch.float64, device="cpu", scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def _labels(n, classes=10, seed=0, device="cpu"):
    return torch.randint(classes, (n,), generator=torch.Generator().manual_seed(seed)).to(device)


def _autograd(function, inputs, dout):
    """Gradients of ``sum(function(*inputs) * dout)`` with respect to every input, by autograd."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    function(*leaves).backward(dout)
    return [leaf.grad for leaf in leaves]


def _numeric(function, inputs, dout, index, h=1e-7):
    """Numeric gradient of ``sum(function(*inputs) * dout)`` with respect to ``inputs[index]``."""
    inputs = [t.clone() for t in inputs]

    def f(value):
        args = list(inputs)
        args[index] = value
        return function(*args)

    return compute_numeric_gradient(f, inputs[index].contiguous(), dout, h=h)


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """Run these small-tensor tests on one CPU thread: they gain nothing from a second one, and on a
    machine whose cores are busy with other work, two OpenMP threads waiting for each other made
    every tiny operation ~100x slower (measured: 0.9 ms vs 86 ms per forward pass of a tiny net)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fashion_mnist():
    """Fashion-MNIST images (N, 1, 28, 28), or a skip when the offline dataset is not installed."""
    from eecs498.data import DatasetUnavailable, preprocess_dataset

    try:
        return preprocess_dataset("fashion_mnist", flatten=False)
    except DatasetUnavailable as exc:  # pragma: no cover - `make install` installs it
        pytest.skip(f"Fashion-MNIST is not installed: {exc}")


# ------------------------------------------------------------------------------------------------
# the modules as files


def _functions(tree: ast.Module) -> set[str]:
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    names |= {f"{cls.name}.{node.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
              for node in cls.body if isinstance(node, ast.FunctionDef)}
    return names


@pytest.mark.parametrize("path, given", [(CONV_PATH, CONV_GIVEN), (NN_PATH, NN_GIVEN)], ids=["conv", "nn"])
def test_every_student_function_has_a_solution_region(path, given):
    source = path.read_text()
    regions = {region.function for region in find_solution_regions(source, path.name)}
    assert regions == _functions(ast.parse(source)) - given


@pytest.mark.parametrize("path, allowed", [
    (CONV_PATH, {"torch", "typing", "__future__", "eecs498", "fully_connected_networks"}),
    (NN_PATH, {"torch", "typing", "__future__"}),
], ids=["conv", "nn"])
def test_modules_import_only_torch_the_standard_library_and_what_is_shipped(path, allowed):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= allowed | set(sys.stdlib_module_names)
    assert "numpy" not in imported


def test_conv_module_imports_the_a3_layers_the_course_way():
    tree = ast.parse(CONV_PATH.read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "fully_connected_networks"]
    assert {alias.name for alias in node.names} == {"Linear", "ReLU", "Linear_ReLU", "softmax_loss", "adam",
                                                    "sgd_momentum"}


def test_hello(capsys):
    """The course's names: hello_convolutional_networks (2022) and pytorch_autograd_and_nn's hello (2020)."""
    cn.hello_convolutional_networks()
    pn.hello()
    cn.hello()  # the short name of the earlier assignments, kept as an alias
    assert capsys.readouterr().out.split("\n")[:3] == ["Hello from convolutional_networks.py!",
                                                       "Hello from pytorch_autograd_and_nn.py!",
                                                       "Hello from convolutional_networks.py!"]


NAIVE_BANS = {"nn", "F", "functional", "autograd", "requires_grad", "conv2d", "max_pool2d", "unfold", "fold",
              "batch_norm", "layer_norm", "instance_norm", "group_norm", "cuda", "float32", "to", "cpu"}


@pytest.mark.parametrize("function", [
    cn.Conv.forward, cn.Conv.backward, cn.MaxPool.forward, cn.MaxPool.backward, cn.BatchNorm.forward,
    cn.BatchNorm.backward, cn.BatchNorm.backward_alt, cn.SpatialBatchNorm.forward, cn.SpatialBatchNorm.backward,
    cn._normalize_forward, cn._normalize_backward, cn.LayerNorm.forward, cn.LayerNorm.backward,
    cn.InstanceNorm.forward, cn.InstanceNorm.backward, cn.kaiming_initializer, cn.ThreeLayerConvNet.loss,
    cn.DeepConvNet.loss,
], ids=lambda f: f.__qualname__)
def test_layers_compute_their_own_gradients(function):
    banned = body_names(function) & NAIVE_BANS
    assert not banned, f"{function.__qualname__} uses {banned}"


def test_im2col_uses_unfold_fold_and_no_loop_nor_conv():
    assert "unfold" in body_names(cn.Conv.forward_im2col) and "fold" in body_names(cn.Conv.backward_im2col)  # Tensor.unfold
    for function in (cn.Conv.forward_im2col, cn.Conv.backward_im2col):
        assert loop_count(function) == 0
        assert not body_names(function) & {"conv2d", "autograd", "requires_grad", "conv_transpose2d", "cuda"}
    for function in (cn.Conv.forward, cn.Conv.backward, cn.MaxPool.forward, cn.MaxPool.backward):
        assert loop_count(function) >= 1  # the naive layers: the loops are the point
    for function in (cn.BatchNorm.backward_alt, cn._normalize_forward, cn._normalize_backward):
        assert loop_count(function) == 0


def test_stable_sigmoid_computes_its_own_sigmoid():
    for function in (pn.StableSigmoid.forward, pn.StableSigmoid.backward, pn.stable_sigmoid):
        assert not body_names(function) & {"sigmoid", "expit", "autograd", "logistic", "cuda"}
    assert "save_for_backward" in body_names(pn.StableSigmoid.forward)
    assert "apply" in body_names(pn.stable_sigmoid)


def test_signatures_follow_the_course():
    def params(f):
        return list(inspect.signature(f).parameters)

    assert params(cn.Conv.forward) == ["x", "w", "b", "conv_param"]
    assert params(cn.Conv.forward_im2col) == ["x", "w", "b", "conv_param"]
    assert params(cn.MaxPool.forward) == ["x", "pool_param"]
    assert params(cn.BatchNorm.forward) == ["x", "gamma", "beta", "bn_param"]
    assert params(cn.kaiming_initializer) == ["Din", "Dout", "K", "relu", "device", "dtype"]
    assert params(cn.ThreeLayerConvNet) == ["input_dims", "num_filters", "filter_size", "hidden_dim", "num_classes",
                                            "weight_scale", "reg", "dtype", "device"]
    assert params(cn.DeepConvNet) == ["input_dims", "num_filters", "max_pools", "batchnorm", "num_classes",
                                      "weight_scale", "reg", "weight_initializer", "dtype", "device"]
    assert params(cn.create_convolutional_solver_instance) == ["data_dict", "dtype", "device"]
    assert params(pn.ResNet) == ["stage_args", "Cin", "block", "num_classes"]
    for block in (pn.PlainBlock, pn.ResidualBlock, pn.ResidualBottleneckBlock):
        assert params(block) == ["Cin", "Cout", "downsample"]
    # the course's 2020 parts II-IV, our keyword arguments after the course's
    assert params(pn.flatten) == ["x", "start_dim", "end_dim"]
    assert params(pn.three_layer_convnet) == ["x", "params"]
    assert params(pn.initialize_three_layer_conv_part2)[:2] == ["dtype", "device"]
    assert params(pn.ThreeLayerConvNet)[:4] == ["in_channel", "channel_1", "channel_2", "num_classes"]
    for factory in (pn.initialize_three_layer_conv_part3, pn.initialize_three_layer_conv_part4):
        assert all(p.default is not inspect.Parameter.empty for p in inspect.signature(factory).parameters.values())
    defaults = {name: p.default for f in (cn.ThreeLayerConvNet, cn.DeepConvNet, cn.kaiming_initializer, pn.ResNet,
                                          pn.initialize_three_layer_conv_part2, pn.ThreeLayerConvNet)
                for name, p in inspect.signature(f).parameters.items() if p.default is not inspect.Parameter.empty}
    assert defaults["input_dims"] == (3, 32, 32) and defaults["weight_scale"] == 1e-3 and defaults["reg"] == 0.0
    assert defaults["relu"] is True and defaults["K"] is None and defaults["num_classes"] == 10
    assert defaults["image_size"] == (32, 32)
    assert inspect.signature(cn.DeepConvNet).parameters["num_filters"].default == [8, 8, 8, 8, 8]
    assert inspect.signature(cn.DeepConvNet).parameters["max_pools"].default == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------
# convolution


def _conv_problem(stride, pad, kernel, device="cpu", dtype=torch.float64, N=2, C=3, H=9, W=8, num_filters=4,
                  seed=0):
    HH, WW = kernel
    x = _randn(N, C, H, W, seed=seed, dtype=dtype, device=device)
    w = _randn(num_filters, C, HH, WW, seed=seed + 1, dtype=dtype, device=device)
    b = _randn(num_filters, seed=seed + 2, dtype=dtype, device=device)
    return x, w, b, {"stride": stride, "pad": pad}


@pytest.mark.parametrize("stride, pad, kernel", CONV_CASES)
def test_conv_forward_matches_conv2d(stride, pad, kernel, device):
    x, w, b, conv_param = _conv_problem(stride, pad, kernel, device)
    copies = [t.clone() for t in (x, w, b)]
    expected = F.conv2d(x, w, b, stride=stride, padding=pad)
    for forward in (cn.Conv.forward, cn.Conv.forward_im2col):
        out, _ = forward(x, w, b, conv_param)
        assert out.shape == expected.shape and out.dtype == x.dtype and out.device == x.device
        assert rel_error(out, expected) < 1e-7
    assert all(torch.equal(a, c) for a, c in zip((x, w, b), copies))  # inputs untouched


@pytest.mark.parametrize("stride, pad, kernel", CONV_CASES)
def test_conv_backward_matches_autograd_of_conv2d(stride, pad, kernel, device):
    x, w, b, conv_param = _conv_problem(stride, pad, kernel, device)
    out, cache = cn.Conv.forward(x, w, b, conv_param)
    dout = _randn(*out.shape, seed=9, device=device)
    expected = _autograd(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad), (x, w, b), dout)
    for name, got, want in zip(("dx", "dw", "db"), cn.Conv.backward(dout, cache), expected):
        assert got.shape == want.shape and got.device == want.device, name
        assert rel_error(got, want) < 1e-10, name


@pytest.mark.parametrize("stride, pad, kernel", [(1, 1, (3, 3)), (2, 1, (3, 3)), (3, 2, (4, 2))])
def test_conv_backward_matches_numeric_gradients(stride, pad, kernel):
    x, w, b, conv_param = _conv_problem(stride, pad, kernel, N=2, C=2, H=6, W=5, num_filters=3)
    out, cache = cn.Conv.forward(x, w, b, conv_param)
    dout = _randn(*out.shape, seed=5)
    grads = cn.Conv.backward(dout, cache)
    for index, name in enumerate(("dx", "dw", "db")):
        numeric = _numeric(lambda *a: cn.Conv.forward(*a, conv_param)[0], (x, w, b), dout, index)
        assert rel_error(grads[index], numeric) < 1e-8, name


@pytest.mark.parametrize("stride, pad, kernel", CONV_CASES)
def test_im2col_equals_naive_forward_and_backward(stride, pad, kernel, device):
    x, w, b, conv_param = _conv_problem(stride, pad, kernel, device, N=3, C=4, H=10, W=11, num_filters=5, seed=3)
    out, cache = cn.Conv.forward(x, w, b, conv_param)
    out2, cache2 = cn.Conv.forward_im2col(x, w, b, conv_param)
    assert rel_error(out, out2) < 1e-10
    dout = _randn(*out.shape, seed=7, device=device)
    for name, naive, fast in zip(("dx", "dw", "db"), cn.Conv.backward(dout, cache),
                                 cn.Conv.backward_im2col(dout, cache2)):
        assert naive.shape == fast.shape and rel_error(naive, fast) < 1e-10, name


def test_conv_layers_keep_float32(device):
    x, w, b, conv_param = _conv_problem(2, 1, (3, 3), device, dtype=torch.float32)
    for forward, backward in ((cn.Conv.forward, cn.Conv.backward),
                              (cn.Conv.forward_im2col, cn.Conv.backward_im2col),
                              (cn.FastConv.forward, cn.FastConv.backward)):
        out, cache = forward(x, w, b, conv_param)
        grads = backward(torch.ones_like(out), cache)
        assert out.dtype == torch.float32 and out.device == x.device
        assert [g.dtype for g in grads] == [torch.float32] * 3
        assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]


def test_conv_output_size_formula():
    # H' = 1 + (H + 2 pad - HH) // stride: 1 + (32 + 2 - 3) // 2 = 16, 1 + (31 + 2 - 3) // 2 = 16
    x = torch.zeros(1, 2, 32, 31, dtype=torch.float64)
    out, _ = cn.Conv.forward(x, torch.zeros(3, 2, 3, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                             {"stride": 2, "pad": 1})
    assert out.shape == (1, 3, 16, 16)


def test_conv_of_a_worked_example():
    # one 3x3 image, a 2x2 filter of ones and bias 10, stride 1, no padding: sums of 2x2 windows
    x = torch.arange(9, dtype=torch.float64).reshape(1, 1, 3, 3)
    w = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    b = torch.tensor([10.0], dtype=torch.float64)
    for forward in (cn.Conv.forward, cn.Conv.forward_im2col):
        out, _ = forward(x, w, b, {"stride": 1, "pad": 0})
        assert out.tolist() == [[[[0 + 1 + 3 + 4 + 10, 1 + 2 + 4 + 5 + 10], [3 + 4 + 6 + 7 + 10, 4 + 5 + 7 + 8 + 10]]]]


# ------------------------------------------------------------------------------------------------
# max pooling


@pytest.mark.parametrize("ph, pw, stride", POOL_CASES)
def test_max_pool_forward_and_backward_match_max_pool2d(ph, pw, stride, device):
    x = _randn(2, 3, 9, 8, seed=11, device=device)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = cn.MaxPool.forward(x, pool_param)
    expected = F.max_pool2d(x, (ph, pw), stride=stride)
    assert out.shape == expected.shape and out.device == x.device and rel_error(out, expected) < 1e-12
    dout = _randn(*out.shape, seed=12, device=device)
    (want,) = _autograd(lambda x: F.max_pool2d(x, (ph, pw), stride=stride), (x,), dout)
    dx = cn.MaxPool.backward(dout, cache)
    assert dx.shape == x.shape and rel_error(dx, want) < 1e-12
    fast_out, fast_cache = cn.FastMaxPool.forward(x, pool_param)
    assert rel_error(fast_out, out) < 1e-12 and rel_error(cn.FastMaxPool.backward(dout, fast_cache), dx) < 1e-12


def test_max_pool_backward_matches_numeric_gradient():
    x = _randn(2, 2, 6, 6, seed=13)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = cn.MaxPool.forward(x, pool_param)
    dout = _randn(*out.shape, seed=14)
    # piecewise linear: a larger step is exact away from the kinks and rounds less
    numeric = _numeric(lambda x: cn.MaxPool.forward(x, pool_param)[0], (x,), dout, 0, h=1e-5)
    assert rel_error(cn.MaxPool.backward(dout, cache), numeric) < 1e-10


def test_max_pool_routes_each_gradient_to_the_first_maximum():
    x = torch.tensor([[[[1.0, 5.0], [5.0, 2.0]]]], dtype=torch.float64)  # a tie: the first one wins
    out, cache = cn.MaxPool.forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.item() == 5.0
    assert cn.MaxPool.backward(torch.full_like(out, 3.0), cache).tolist() == [[[[0.0, 3.0], [0.0, 0.0]]]]


# ------------------------------------------------------------------------------------------------
# fast and sandwich layers (given)


def test_fast_conv_equals_naive(device):
    x, w, b, conv_param = _conv_problem(2, 1, (3, 3), device, N=3, C=3, H=11, W=11, num_filters=4)
    out, cache = cn.Conv.forward(x, w, b, conv_param)
    fast, fast_cache = cn.FastConv.forward(x, w, b, conv_param)
    assert rel_error(out, fast) < 1e-10 and not fast.requires_grad
    dout = _randn(*out.shape, seed=2, device=device)
    for naive, quick in zip(cn.Conv.backward(dout, cache), cn.FastConv.backward(dout, fast_cache)):
        assert rel_error(naive, quick) < 1e-10


def test_sandwich_layers_match_their_parts():
    x, w, b, conv_param = _conv_problem(1, 1, (3, 3), N=4, C=3, H=8, W=8, num_filters=5)
    gamma, beta = _randn(5, seed=3), _randn(5, seed=4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = cn.Conv_BatchNorm_ReLU_Pool.forward(x, w, b, gamma, beta, conv_param, {"mode": "train"},
                                                     pool_param)
    a = F.conv2d(x, w, b, padding=1)
    a = F.batch_norm(a, None, None, gamma, beta, training=True, eps=1e-5)
    expected = F.max_pool2d(F.relu(a), 2)
    assert rel_error(out, expected) < 1e-10
    dout = _randn(*out.shape, seed=6)
    want = _autograd(lambda x, w, b, g, be: F.max_pool2d(F.relu(F.batch_norm(
        F.conv2d(x, w, b, padding=1), None, None, g, be, training=True, eps=1e-5)), 2), (x, w, b, gamma, beta), dout)
    names = ("dx", "dw", "db", "dgamma", "dbeta")
    for name, got, expected_grad in zip(names, cn.Conv_BatchNorm_ReLU_Pool.backward(dout, cache), want):
        if name == "db":  # batchnorm cancels the conv's bias: its gradient is 0 up to rounding
            assert got.abs().max() < 1e-12 and expected_grad.abs().max() < 1e-12
        else:
            assert rel_error(got, expected_grad) < 1e-8, name


# ------------------------------------------------------------------------------------------------
# batch normalization


def test_batchnorm_train_mode_normalizes_each_feature_with_batch_statistics(device):
    x = _randn(200, 3, seed=1, device=device) * torch.tensor([1.0, 5.0, 0.1], dtype=torch.float64, device=device) + 7
    gamma = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device=device)
    beta = torch.tensor([0.0, -1.0, 4.0], dtype=torch.float64, device=device)
    bn_param = {"mode": "train"}
    out, _ = cn.BatchNorm.forward(x, gamma, beta, bn_param)
    assert out.shape == x.shape and out.device == x.device and out.dtype == x.dtype
    assert torch.allclose(out.mean(dim=0), beta, atol=1e-10)
    assert torch.allclose(out.std(dim=0, unbiased=False), gamma, rtol=1e-3)  # eps makes it a hair smaller
    expected = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    assert rel_error(out, expected) < 1e-12


def test_batchnorm_running_statistics_follow_the_momentum(device):
    x1, x2 = _randn(10, 4, seed=2, device=device), _randn(10, 4, seed=3, device=device) + 2
    gamma, beta = torch.ones(4, dtype=torch.float64, device=device), torch.zeros(4, dtype=torch.float64, device=device)
    bn_param = {"mode": "train", "momentum": 0.8}
    cn.BatchNorm.forward(x1, gamma, beta, bn_param)
    mean1, var1 = x1.mean(0), x1.var(0, unbiased=False)  # biased variance, like the course
    assert rel_error(bn_param["running_mean"], 0.2 * mean1) < 1e-12
    assert rel_error(bn_param["running_var"], 0.2 * var1) < 1e-12
    cn.BatchNorm.forward(x2, gamma, beta, bn_param)
    assert rel_error(bn_param["running_mean"], 0.8 * 0.2 * mean1 + 0.2 * x2.mean(0)) < 1e-12
    assert rel_error(bn_param["running_var"], 0.8 * 0.2 * var1 + 0.2 * x2.var(0, unbiased=False)) < 1e-12
    assert bn_param["running_mean"].device == x1.device and not bn_param["running_mean"].requires_grad
    default = {"mode": "train"}
    cn.BatchNorm.forward(x1, gamma, beta, default)
    assert rel_error(default["running_mean"], 0.1 * mean1) < 1e-12  # momentum 0.9 by default


def test_batchnorm_test_mode_uses_the_running_statistics(device):
    gamma = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device=device)
    beta = torch.tensor([0.0, -1.0, 4.0], dtype=torch.float64, device=device)
    bn_param = {"mode": "train"}
    for t in range(50):  # the course's check: after training, test-time outputs are ~ N(beta, gamma^2)
        x = _randn(200, 3, seed=100 + t, device=device) * 2 + 5
        cn.BatchNorm.forward(x, gamma, beta, bn_param)
    running = (bn_param["running_mean"].clone(), bn_param["running_var"].clone())
    bn_param["mode"] = "test"
    x = _randn(500, 3, seed=7, device=device) * 2 + 5
    out, _ = cn.BatchNorm.forward(x, gamma, beta, bn_param)
    assert torch.allclose(out.mean(0), beta, atol=0.15 * gamma.max().item())
    assert torch.allclose(out.std(0), gamma, rtol=0.1)
    expected = gamma * (x - running[0]) / torch.sqrt(running[1] + 1e-5) + beta
    assert rel_error(out, expected) < 1e-12
    assert torch.equal(bn_param["running_mean"], running[0]) and torch.equal(bn_param["running_var"], running[1])
    one, _ = cn.BatchNorm.forward(x[:1], gamma, beta, bn_param)  # test mode: an example on its own
    assert rel_error(one, out[:1]) < 1e-12


def test_batchnorm_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        cn.BatchNorm.forward(torch.zeros(2, 3), torch.ones(3), torch.zeros(3), {"mode": "eval"})


def _bn_problem(N=6, D=4, seed=0):
    x = _randn(N, D, seed=seed) * 3 + 1
    return x, _randn(D, seed=seed + 1), _randn(D, seed=seed + 2)


def test_batchnorm_backward_matches_numeric_gradients():
    x, gamma, beta = _bn_problem()
    dout = _randn(*x.shape, seed=9)

    def forward(x, gamma, beta):
        return cn.BatchNorm.forward(x, gamma, beta, {"mode": "train"})[0]

    _, cache = cn.BatchNorm.forward(x, gamma, beta, {"mode": "train"})
    for backward in (cn.BatchNorm.backward, cn.BatchNorm.backward_alt):
        grads = backward(dout, cache)
        for index, name in enumerate(("dx", "dgamma", "dbeta")):
            numeric = _numeric(forward, (x, gamma, beta), dout, index)
            assert rel_error(grads[index], numeric) < 1e-7, (backward.__name__, name)


def test_batchnorm_backward_alt_equals_backward_and_autograd(device):
    x, gamma, beta = (t.to(device) for t in _bn_problem(N=50, D=7, seed=3))
    dout = _randn(*x.shape, seed=4, device=device)
    _, cache = cn.BatchNorm.forward(x, gamma, beta, {"mode": "train"})
    want = _autograd(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5), (x, gamma, beta),
                     dout)
    for a, b, c in zip(cn.BatchNorm.backward(dout, cache), cn.BatchNorm.backward_alt(dout, cache), want):
        assert rel_error(a, b) < 1e-10 and rel_error(a, c) < 1e-10 and a.device == x.device


def _channel_formula(x, gamma, beta, axes, eps=1e-5):
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    shape = [1, -1] + [1] * (x.dim() - 2)
    return gamma.reshape(shape) * (x - mean) / torch.sqrt(var + eps) + beta.reshape(shape)


def test_spatial_batchnorm_normalizes_each_channel_over_n_h_w(device):
    # channel c scaled by (c + 1) and image n shifted by 3 n: per-(N, C) or per-(C, H, W) statistics differ
    x = _randn(4, 3, 5, 6, seed=1, device=device)
    x = x * torch.arange(1, 4, device=device, dtype=x.dtype).reshape(1, 3, 1, 1)
    x = x + 3 * torch.arange(4, device=device, dtype=x.dtype).reshape(4, 1, 1, 1)
    gamma, beta = _randn(3, seed=2, device=device), _randn(3, seed=3, device=device)
    bn_param = {"mode": "train"}
    out, cache = cn.SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    assert out.shape == x.shape and out.device == x.device
    assert rel_error(out, _channel_formula(x, gamma, beta, (0, 2, 3))) < 1e-12
    assert rel_error(out, F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)) < 1e-12
    assert bn_param["running_mean"].shape == (3,)
    assert rel_error(bn_param["running_mean"], 0.1 * x.mean(dim=(0, 2, 3))) < 1e-12
    assert rel_error(bn_param["running_var"], 0.1 * x.var(dim=(0, 2, 3), unbiased=False)) < 1e-12
    dout = _randn(*x.shape, seed=4, device=device)
    want = _autograd(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5), (x, gamma, beta),
                     dout)
    for got, expected in zip(cn.SpatialBatchNorm.backward(dout, cache), want):
        assert got.shape == expected.shape and rel_error(got, expected) < 1e-10
    bn_param["mode"] = "test"
    out_test, _ = cn.SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    shape = (1, 3, 1, 1)
    expected = (gamma.reshape(shape) * (x - bn_param["running_mean"].reshape(shape))
                / torch.sqrt(bn_param["running_var"].reshape(shape) + 1e-5) + beta.reshape(shape))
    assert rel_error(out_test, expected) < 1e-12


def test_spatial_batchnorm_backward_matches_numeric_gradients():
    x = _randn(2, 3, 4, 3, seed=5) * 2 + 1
    gamma, beta = _randn(3, seed=6), _randn(3, seed=7)
    dout = _randn(*x.shape, seed=8)
    _, cache = cn.SpatialBatchNorm.forward(x, gamma, beta, {"mode": "train"})
    grads = cn.SpatialBatchNorm.backward(dout, cache)
    for index, name in enumerate(("dx", "dgamma", "dbeta")):
        numeric = _numeric(lambda *a: cn.SpatialBatchNorm.forward(*a, {"mode": "train"})[0], (x, gamma, beta),
                           dout, index)
        assert rel_error(grads[index], numeric) < 1e-7, name


# ------------------------------------------------------------------------------------------------
# layer and instance normalization


def test_layernorm_matches_layer_norm_and_group_norm(device):
    x = _randn(5, 7, seed=1, device=device) * 3 + 2
    gamma, beta = _randn(7, seed=2, device=device), _randn(7, seed=3, device=device)
    out, _ = cn.LayerNorm.forward(x, gamma, beta, {})
    assert out.shape == x.shape and out.device == x.device
    assert rel_error(out, F.layer_norm(x, (7,), gamma, beta, eps=1e-5)) < 1e-12
    out, _ = cn.LayerNorm.forward(x, gamma, beta, {"eps": 1e-2})
    assert rel_error(out, F.layer_norm(x, (7,), gamma, beta, eps=1e-2)) < 1e-12
    images = _randn(3, 4, 5, 6, seed=4, device=device) * 2 - 1
    gamma, beta = _randn(4, seed=5, device=device), _randn(4, seed=6, device=device)
    out, _ = cn.LayerNorm.forward(images, gamma, beta, {})
    assert rel_error(out, F.group_norm(images, 1, gamma, beta, eps=1e-5)) < 1e-12  # one group: over (C, H, W)
    plain, _ = cn.LayerNorm.forward(images, torch.ones_like(gamma), torch.zeros_like(beta), {})
    assert rel_error(plain, F.layer_norm(images, (4, 5, 6), eps=1e-5)) < 1e-12


def test_instancenorm_matches_instance_norm(device):
    x = _randn(3, 4, 5, 6, seed=7, device=device) * 2 + 3
    gamma, beta = _randn(4, seed=8, device=device), _randn(4, seed=9, device=device)
    out, _ = cn.InstanceNorm.forward(x, gamma, beta, {})
    assert out.shape == x.shape and out.device == x.device
    assert rel_error(out, F.instance_norm(x, weight=gamma, bias=beta, eps=1e-5)) < 1e-12
    assert rel_error(out, _channel_formula(x, gamma, beta, (2, 3))) < 1e-12


@pytest.mark.parametrize("layer, shape", [(cn.LayerNorm, (4, 5)), (cn.LayerNorm, (2, 3, 3, 2)),
                                          (cn.InstanceNorm, (2, 3, 3, 2))],
                         ids=["layer-2d", "layer-4d", "instance"])
def test_layer_and_instance_norm_backward_match_numeric_gradients(layer, shape):
    x = _randn(*shape, seed=10) * 2 + 1
    gamma, beta = _randn(shape[1], seed=11), _randn(shape[1], seed=12)
    dout = _randn(*shape, seed=13)
    _, cache = layer.forward(x, gamma, beta, {})
    grads = layer.backward(dout, cache)
    for index, name in enumerate(("dx", "dgamma", "dbeta")):
        assert grads[index].shape == (x, gamma, beta)[index].shape, name
        numeric = _numeric(lambda *a: layer.forward(*a, {})[0], (x, gamma, beta), dout, index)
        assert rel_error(grads[index], numeric) < 1e-7, name


@pytest.mark.parametrize("which", ["layer", "group1", "instance"])
def test_layer_and_instance_norm_backward_match_autograd(which, device):
    x = _randn(4, 3, 5, 5, seed=14, device=device) * 2 + 1
    gamma, beta = _randn(3, seed=15, device=device), _randn(3, seed=16, device=device)
    dout = _randn(*x.shape, seed=17, device=device)
    if which == "instance":
        layer, reference = cn.InstanceNorm, lambda x, g, b: F.instance_norm(x, weight=g, bias=b, eps=1e-5)
    else:
        layer, reference = cn.LayerNorm, lambda x, g, b: F.group_norm(x, 1, g, b, eps=1e-5)
        if which == "layer":
            x = x[:, :, 0, 0].contiguous()
            dout = dout[:, :, 0, 0].contiguous()
            reference = lambda x, g, b: F.layer_norm(x, (3,), g, b, eps=1e-5)  # noqa: E731
    _, cache = layer.forward(x, gamma, beta, {})
    for got, want in zip(layer.backward(dout, cache), _autograd(reference, (x, gamma, beta), dout)):
        assert rel_error(got, want) < 1e-10


def test_the_shared_normalization_is_batchnorm_over_other_axes():
    x = _randn(6, 4, seed=18) * 3 + 2
    ones, zeros = torch.ones(4, dtype=x.dtype), torch.zeros(4, dtype=x.dtype)
    x_hat, cache = cn._normalize_forward(x, (0,), 1e-5)
    assert rel_error(x_hat, cn.BatchNorm.forward(x, ones, zeros, {"mode": "train"})[0]) < 1e-12
    dout = _randn(6, 4, seed=19)
    _, bn_cache = cn.BatchNorm.forward(x, ones, zeros, {"mode": "train"})
    assert rel_error(cn._normalize_backward(dout, cache), cn.BatchNorm.backward_alt(dout, bn_cache)[0]) < 1e-12
    images = _randn(2, 3, 4, 4, seed=20)
    for axes in ((0, 2, 3), (1, 2, 3), (2, 3)):
        x_hat, _ = cn._normalize_forward(images, axes, 1e-5)
        assert torch.allclose(x_hat.mean(dim=axes), torch.zeros((), dtype=x_hat.dtype), atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Kaiming initialization


def test_kaiming_initializer_std_shapes_dtype_device(device):
    torch.manual_seed(0)
    w = cn.kaiming_initializer(400, 300, device=device)
    assert w.shape == (400, 300) and w.dtype == torch.float32 and w.device.type == device.type
    assert w.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert abs(w.mean().item()) < 0.01 * math.sqrt(2 / 400)
    w = cn.kaiming_initializer(400, 300, relu=False, dtype=torch.float64, device=device)
    assert w.dtype == torch.float64 and w.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.02)
    w = cn.kaiming_initializer(16, 200, K=5, device=device)
    assert w.shape == (200, 16, 5, 5) and w.std().item() == pytest.approx(math.sqrt(2 / (16 * 25)), rel=0.02)
    w = cn.kaiming_initializer(16, 200, K=3, relu=False, device=device)
    assert w.shape == (200, 16, 3, 3) and w.std().item() == pytest.approx(math.sqrt(1 / (16 * 9)), rel=0.02)


# ------------------------------------------------------------------------------------------------
# networks


def _check_net_gradients(model, X, y, tolerance=1e-5, cancelled=()):
    """Every gradient of ``model.loss`` against a numeric one; ``cancelled`` names parameters whose
    gradient is 0 (up to rounding), like a bias right before a batchnorm."""
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        assert grads[name].shape == param.shape and grads[name].dtype == param.dtype, name

        def f(value, name=name):
            saved = model.params[name]
            model.params[name] = value
            try:
                return model.loss(X, y)[0]
            finally:
                model.params[name] = saved

        numeric = compute_numeric_gradient(f, param.clone(), h=1e-6)
        if name in cancelled:
            assert grads[name].abs().max() < 1e-12 and numeric.abs().max() < 1e-8, name
        else:
            assert rel_error(grads[name], numeric) < tolerance, name
    return loss


def test_three_layer_convnet_shapes_scores_and_initial_loss(device):
    torch.manual_seed(0)
    model = cn.ThreeLayerConvNet(input_dims=(3, 16, 16), num_filters=6, filter_size=5, hidden_dim=20,
                                 num_classes=10, weight_scale=1e-3, dtype=torch.float64, device=device)
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes == {"W1": (6, 3, 5, 5), "b1": (6,), "W2": (6 * 8 * 8, 20), "b2": (20,), "W3": (20, 10), "b3": (10,)}
    assert all(v.device.type == device.type and v.dtype == torch.float64 for v in model.params.values())
    assert model.params["W1"].std().item() == pytest.approx(1e-3, rel=0.2)
    X = _randn(50, 3, 16, 16, seed=1, device=device)
    y = _labels(50, device=device)
    scores = model.loss(X)
    assert scores.shape == (50, 10) and scores.device == X.device
    loss, _ = model.loss(X, y)
    assert loss.dim() == 0 and loss.item() == pytest.approx(math.log(10), abs=0.01)  # the course's sanity check
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    expected_reg = 0.5 * sum((model.params[k] ** 2).sum().item() for k in ("W1", "W2", "W3"))
    assert (loss_reg - loss).item() == pytest.approx(expected_reg, rel=1e-8)


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_three_layer_convnet_gradients_match_numeric(reg):
    torch.manual_seed(1)
    model = cn.ThreeLayerConvNet(input_dims=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                                 weight_scale=0.3, reg=reg, dtype=torch.float64)
    X, y = _randn(3, 2, 6, 6, seed=2), _labels(3, classes=4, seed=3)
    _check_net_gradients(model, X, y)


def test_deep_convnet_parameters_follow_the_architecture(device):
    torch.manual_seed(0)
    model = cn.DeepConvNet(input_dims=(3, 32, 32), num_filters=[8, 16, 32], max_pools=[0, 2], batchnorm=True,
                           num_classes=7, weight_scale=1e-2, dtype=torch.float64, device=device)
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes == {"W1": (8, 3, 3, 3), "b1": (8,), "gamma1": (8,), "beta1": (8,),
                      "W2": (16, 8, 3, 3), "b2": (16,), "gamma2": (16,), "beta2": (16,),
                      "W3": (32, 16, 3, 3), "b3": (32,), "gamma3": (32,), "beta3": (32,),
                      "W4": (32 * 8 * 8, 7), "b4": (7,)}
    assert torch.equal(model.params["gamma2"], torch.ones(16, dtype=torch.float64, device=device))
    assert len(model.bn_params) == 3 and model.num_layers == 4
    plain = cn.DeepConvNet(input_dims=(1, 28, 28), num_filters=[4, 4, 4], max_pools=[0, 1, 2], device=device)
    assert plain.params["W4"].shape == (4 * 3 * 3, 10) and plain.bn_params == []  # 28 -> 14 -> 7 -> 3
    assert plain.params["W1"].dtype == torch.float32
    scores = plain.loss(_randn(2, 1, 28, 28, dtype=torch.float32, device=device))
    assert scores.shape == (2, 10) and scores.dtype == torch.float32


def test_deep_convnet_kaiming_and_weight_initializer():
    torch.manual_seed(0)
    model = cn.DeepConvNet(input_dims=(3, 8, 8), num_filters=[64, 64], max_pools=[], weight_scale="kaiming")
    assert model.params["W1"].std().item() == pytest.approx(math.sqrt(2 / 27), rel=0.1)
    assert model.params["W2"].std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    assert model.params["W3"].std().item() == pytest.approx(math.sqrt(1 / (64 * 64)), rel=0.05)  # no ReLU after
    calls = []

    def initializer(Din, Dout, K=None, relu=True, device="cpu", dtype=torch.float32):
        calls.append((Din, Dout, K, relu))
        shape = (Din, Dout) if K is None else (Dout, Din, K, K)
        return torch.full(shape, 0.5, device=device, dtype=dtype)

    model = cn.DeepConvNet(input_dims=(3, 8, 8), num_filters=[5, 6], max_pools=[1], weight_initializer=initializer,
                           dtype=torch.float64)
    assert calls == [(3, 5, 3, True), (5, 6, 3, True), (6 * 4 * 4, 10, None, False)]
    assert torch.all(model.params["W2"] == 0.5) and model.params["W2"].dtype == torch.float64


@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_deep_convnet_gradients_match_numeric(batchnorm, reg):
    torch.manual_seed(2)
    model = cn.DeepConvNet(input_dims=(2, 6, 6), num_filters=[3, 4], max_pools=[0], batchnorm=batchnorm,
                           num_classes=5, weight_scale=0.3, reg=reg, dtype=torch.float64)
    X, y = _randn(4, 2, 6, 6, seed=3), _labels(4, classes=5, seed=4)
    cancelled = ("b1", "b2") if batchnorm else ()  # batchnorm subtracts the conv's bias right away
    loss = _check_net_gradients(model, X, y, tolerance=1e-5, cancelled=cancelled)
    if not batchnorm:
        assert loss.item() > 0


def test_deep_convnet_batchnorm_modes():
    torch.manual_seed(3)
    model = cn.DeepConvNet(input_dims=(1, 8, 8), num_filters=[4, 4], max_pools=[0, 1], batchnorm=True,
                           weight_scale="kaiming", dtype=torch.float64)
    X, y = _randn(16, 1, 8, 8, seed=4), _labels(16, seed=5)
    model.loss(X, y)
    assert all(p["mode"] == "train" and "running_mean" in p for p in model.bn_params)
    running = [p["running_mean"].clone() for p in model.bn_params]
    scores = model.loss(X)
    assert all(p["mode"] == "test" for p in model.bn_params)
    assert all(torch.equal(p["running_mean"], r) for p, r in zip(model.bn_params, running))  # test: no update
    assert torch.allclose(model.loss(X[:1]), scores[:1], atol=1e-12)  # test mode: each image on its own


def test_three_layer_convnet_save_load_roundtrip(tmp_path, capsys):
    torch.manual_seed(4)
    model = cn.ThreeLayerConvNet(input_dims=(1, 10, 10), num_filters=4, filter_size=3, hidden_dim=6, reg=0.1)
    path = tmp_path / "three.pt"
    model.save(path)
    loaded = cn.ThreeLayerConvNet(dtype=torch.float64)
    loaded.load(path)
    assert loaded.input_dims == [1, 10, 10] and loaded.num_filters == 4 and loaded.reg == pytest.approx(0.1)
    assert all(torch.equal(loaded.params[k], v.double()) for k, v in model.params.items())
    X = _randn(3, 1, 10, 10, seed=1, dtype=torch.float32)
    assert torch.allclose(loaded.loss(X.double()).float(), model.loss(X), atol=1e-6)
    out = capsys.readouterr().out
    assert "Saved in" in out and "Loaded from" in out


def test_deep_convnet_save_load_roundtrip_with_running_statistics(tmp_path, device):
    torch.manual_seed(5)
    model = cn.DeepConvNet(input_dims=(1, 8, 8), num_filters=[4, 6], max_pools=[1], batchnorm=True, num_classes=3,
                           weight_scale="kaiming", reg=0.01, device=device)
    X, y = _randn(8, 1, 8, 8, seed=6, dtype=torch.float32, device=device), _labels(8, classes=3, device=device)
    model.loss(X, y)  # sets running statistics
    path = tmp_path / "deep.pt"
    model.save(path)
    checkpoint = torch.load(path, weights_only=True)  # plain data only
    assert checkpoint["num_filters"] == [4, 6] and checkpoint["max_pools"] == [1] and checkpoint["batchnorm"] is True
    loaded = cn.DeepConvNet()
    loaded.load(path, dtype=torch.float32, device=device)
    assert loaded.num_filters == [4, 6] and loaded.batchnorm and loaded.num_classes == 3 and loaded.num_layers == 3
    assert set(loaded.params) == set(model.params)
    assert all(p.device.type == device.type for p in loaded.params.values())
    assert torch.equal(loaded.bn_params[1]["running_var"], model.bn_params[1]["running_var"])
    assert torch.allclose(loaded.loss(X), model.loss(X), atol=1e-6)


@pytest.mark.parametrize("content, message", [
    (torch.zeros(3), "expected a dict"),
    ({"params": {}}, "are missing"),
    ({"params": {"W1": torch.zeros(2, 1, 3, 3)}, "input_dims": [1, 8, 8], "num_filters": [2], "max_pools": [0],
      "batchnorm": False, "num_classes": 10, "reg": 0.0, "bn_params": []}, "params must have the keys"),
    ({"params": {"W1": torch.zeros(2, 1, 3, 3), "b1": torch.zeros(2), "W2": torch.zeros(99, 10), "b2": torch.zeros(10)},
      "input_dims": [1, 8, 8], "num_filters": [2], "max_pools": [0], "batchnorm": False, "num_classes": 10,
      "reg": 0.0, "bn_params": []}, r"params\['W2'\] must be a floating tensor of shape \(32, 10\)"),
    ({"params": {}, "input_dims": [1, 8, 8], "num_filters": [2], "max_pools": [5], "batchnorm": False,
      "num_classes": 10, "reg": 0.0, "bn_params": []}, "max_pools"),
])
def test_loading_a_wrong_deep_convnet_checkpoint_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "wrong.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        cn.DeepConvNet().load(path)


def test_find_overfit_parameters_overfits_50_fashion_mnist_images():
    data = _fashion_mnist()
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
             "X_val": data["X_val"][:100], "y_val": data["y_val"][:100]}
    weight_scale, learning_rate = cn.find_overfit_parameters()
    assert type(weight_scale) is float and type(learning_rate) is float
    torch.manual_seed(0)
    model = cn.DeepConvNet(input_dims=small["X_train"].shape[1:], num_classes=10, num_filters=[8, 16, 32, 64],
                           max_pools=[0, 1, 2, 3], reg=1e-5, weight_scale=weight_scale, dtype=torch.float32)
    solver = cn.Solver(model, small, print_every=1000, num_epochs=30, batch_size=10, update_rule=cn.adam,
                       optim_config={"learning_rate": learning_rate}, verbose=False)
    solver.train(return_best_params=False)
    assert max(solver.train_acc_history) == 1.0
    assert solver.check_accuracy(small["X_train"], small["y_train"]) == 1.0  # and still there at the end


def test_create_convolutional_solver_instance_builds_an_untrained_solver(device):
    data = {"X_train": _randn(40, 1, 16, 16, dtype=torch.float32, device=device), "y_train": _labels(40, device=device),
            "X_val": _randn(10, 1, 16, 16, dtype=torch.float32, seed=1, device=device),
            "y_val": _labels(10, seed=1, device=device)}
    solver = cn.create_convolutional_solver_instance(data, torch.float32, device)
    assert isinstance(solver, cn.Solver) and isinstance(solver.model, cn.DeepConvNet)
    assert solver.loss_history == [] and solver.model.input_dims == [1, 16, 16]
    assert all(p.device.type == device.type and p.dtype == torch.float32 for p in solver.model.params.values())
    solver.verbose = False
    solver.train(time_limit=1.0)
    assert len(solver.loss_history) >= 1 and math.isfinite(solver.loss_history[0])


# ------------------------------------------------------------------------------------------------
# PyTorch autograd: the stable sigmoid


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_sigmoid_matches_torch_sigmoid_without_nan(dtype, device):
    x = torch.cat([torch.linspace(-50, 50, 1001), torch.tensor([-1000.0, 1000.0, -1e30, 1e30, 0.0])])
    x = x.to(device=device, dtype=dtype).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = pn.stable_sigmoid(x)
        y.backward(torch.ones_like(y))
    assert y.dtype == dtype and y.device == x.device and y.shape == x.shape
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    expected = torch.sigmoid(x.detach())
    assert torch.allclose(y.detach(), expected, rtol=1e-6 if dtype == torch.float32 else 1e-14, atol=0)
    assert y[-5].item() == 0.0 and y[-4].item() == 1.0 and y[-1].item() == 0.5
    assert torch.allclose(x.grad, expected * (1 - expected), rtol=1e-5, atol=1e-30)
    assert x.grad[-5].item() == 0.0 and x.grad[-1].item() == 0.25


def test_stable_sigmoid_is_exact_for_very_negative_inputs():
    # in float32 exp(100) overflows: 1 / (1 + exp(-x)) gives 0 at x = -100 (and autograd's gradient
    # of it inf / inf = NaN); exp(x) / (1 + exp(x)) keeps the subnormal 3.7e-44
    x = torch.tensor([-100.0, -30.0], dtype=torch.float32)
    y = pn.stable_sigmoid(x)
    assert y[0].item() == pytest.approx(math.exp(-100), rel=1e-2)  # a subnormal: few digits left
    assert y[1].item() == pytest.approx(math.exp(-30) / (1 + math.exp(-30)), rel=1e-6)
    naive = torch.tensor([-100.0], requires_grad=True)
    (1 / (1 + torch.exp(-naive))).backward()
    assert naive.grad.isnan().all()  # what the custom function avoids


def test_stable_sigmoid_passes_gradcheck_and_saves_its_output():
    x = (torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 5).requires_grad_(True)
    assert torch.autograd.gradcheck(pn.StableSigmoid.apply, (x,))
    assert torch.autograd.gradgradcheck(pn.StableSigmoid.apply, (x,))
    y = pn.stable_sigmoid(x)
    assert type(y.grad_fn).__name__ == "StableSigmoidBackward"
    (saved,) = y.grad_fn.saved_tensors
    assert torch.equal(saved, y.detach())  # the gradient comes from the output


# ------------------------------------------------------------------------------------------------
# PyTorch nn: residual networks


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv(cin, cout, k):
    return cin * cout * k * k + cout  # with a bias


def _bn(c):
    return 2 * c


@pytest.mark.parametrize("Cin, Cout, downsample", [(3, 10, False), (3, 10, True), (8, 8, False), (8, 8, True)])
def test_plain_block_shapes_and_parameter_count(Cin, Cout, downsample, device):
    torch.manual_seed(0)
    block = pn.PlainBlock(Cin, Cout, downsample).to(device)
    x = torch.zeros(2, Cin, 5, 6, device=device)
    assert block(x).shape == ((2, Cout, 3, 3) if downsample else (2, Cout, 5, 6))
    assert _count(block) == _bn(Cin) + _conv(Cin, Cout, 3) + _bn(Cout) + _conv(Cout, Cout, 3)
    kinds = [type(m).__name__ for m in block.net]
    assert kinds == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]  # pre-activation


@pytest.mark.parametrize("Cin, Cout, downsample, shortcut", [
    (3, 10, False, _conv(3, 10, 1)), (3, 10, True, _conv(3, 10, 1)), (8, 8, False, 0), (8, 8, True, _conv(8, 8, 1)),
])
def test_residual_block_shapes_parameter_counts_and_shortcut(Cin, Cout, downsample, shortcut, device):
    torch.manual_seed(0)
    block = pn.ResidualBlock(Cin, Cout, downsample).to(device)
    x = torch.randn(2, Cin, 5, 6, device=device)
    out = block(x)
    assert out.shape == ((2, Cout, 3, 3) if downsample else (2, Cout, 5, 6))
    plain = _bn(Cin) + _conv(Cin, Cout, 3) + _bn(Cout) + _conv(Cout, Cout, 3)
    assert _count(block) == plain + shortcut
    assert torch.allclose(out, block.block(x) + block.shortcut(x))
    if shortcut == 0:
        assert isinstance(block.shortcut, torch.nn.Identity)
        assert torch.allclose(out, block.block(x) + x)


@pytest.mark.parametrize("Cin, Cout, downsample", [(3, 12, False), (3, 12, True), (16, 16, False), (16, 32, True)])
def test_bottleneck_block_shapes_and_parameter_count(Cin, Cout, downsample, device):
    torch.manual_seed(0)
    block = pn.ResidualBottleneckBlock(Cin, Cout, downsample).to(device)
    assert block(torch.zeros(2, Cin, 5, 6, device=device)).shape == ((2, Cout, 3, 3) if downsample else (2, Cout, 5, 6))
    mid = Cout // 4
    main = _bn(Cin) + _conv(Cin, mid, 1) + _bn(mid) + _conv(mid, mid, 3) + _bn(mid) + _conv(mid, Cout, 1)
    shortcut = 0 if (Cin == Cout and not downsample) else _conv(Cin, Cout, 1)
    assert _count(block) == main + shortcut


def _resnet_count(stage_args, Cin, num_classes, block):
    total = _conv(Cin, stage_args[0][0], 3)  # stem
    for cin, cout, num_blocks, downsample in stage_args:
        for i in range(num_blocks):
            a, ds = (cin, downsample) if i == 0 else (cout, False)
            if block == "bottleneck":
                mid = cout // 4
                total += _bn(a) + _conv(a, mid, 1) + _bn(mid) + _conv(mid, mid, 3) + _bn(mid) + _conv(mid, cout, 1)
            else:
                total += _bn(a) + _conv(a, cout, 3) + _bn(cout) + _conv(cout, cout, 3)
            if block != "plain" and (ds or a != cout):
                total += _conv(a, cout, 1)
    return total + stage_args[-1][1] * num_classes + num_classes


@pytest.mark.parametrize("name, kind, depth", [("plain32", "plain", 32), ("resnet32", "residual", 32),
                                               ("resnet47", "bottleneck", 47), ("resnet56", "residual", 56),
                                               ("plain20", "plain", 20)])
def test_named_resnets_depth_parameter_count_and_output(name, kind, depth, device):
    torch.manual_seed(0)
    model = pn.get_resnet(name, Cin=1).to(device)
    stage_args = pn.networks[name]["stage_args"]
    assert _count(model) == _resnet_count(stage_args, 1, 10, kind)
    # depth: the convolutions and linear layers on the main path (shortcuts are 1x1 side branches)
    shortcut_convs = sum(1 for m in model.modules() if isinstance(m, (pn.ResidualBlock, pn.ResidualBottleneckBlock))
                         and isinstance(m.shortcut, torch.nn.Conv2d))
    layers = sum(1 for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert layers - shortcut_convs == depth
    scores = model(torch.randn(3, 1, 28, 28, device=device))
    assert scores.shape == (3, 10) and scores.device.type == device.type


def test_resnet_forward_on_cifar_sized_images_and_custom_stages(device):
    torch.manual_seed(0)
    model = pn.ResNet([(4, 8, 2, False), (8, 16, 1, True)], Cin=3, block=pn.ResidualBottleneckBlock,
                      num_classes=7).to(device)
    assert isinstance(model.cnn, torch.nn.Sequential) and isinstance(model.cnn[0], pn.ResNetStem)
    assert model(torch.randn(2, 3, 32, 32, device=device)).shape == (2, 7)
    assert _count(model) == _resnet_count([(4, 8, 2, False), (8, 16, 1, True)], 3, 7, "bottleneck")
    with pytest.raises(ValueError, match="resnet32"):
        pn.get_resnet("resnet1000")


def test_resnet_uses_global_average_pooling():
    torch.manual_seed(0)
    model = pn.ResNet([(4, 4, 1, False)], Cin=1, num_classes=3).eval()
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        expected = model.fc(model.cnn(x).mean(dim=(2, 3)))
        assert torch.allclose(model(x), expected, atol=1e-6)
        assert model(torch.randn(2, 1, 9, 13)).shape == (2, 3)  # any image size


def _toy_images(n=256, seed=0):
    """Two classes of 1x8x8 images: a bright left half or a bright right half, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(2, (n,), generator=generator)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=generator)
    x[y == 0, :, :, :4] += 1.0
    x[y == 1, :, :, 4:] += 1.0
    return x, y


def test_train_and_check_accuracy_with_an_optimizer_and_loaders(device, capsys):
    X, y = _toy_images()
    data = {"X_train": X[:192], "y_train": y[:192], "X_val": X[192:], "y_val": y[192:], "X_test": X[192:],
            "y_test": y[192:]}
    loader_train, loader_val, loader_test = pn.get_loaders(data, batch_size=32)
    torch.manual_seed(0)
    model = pn.ResNet([(4, 4, 1, False), (4, 8, 1, True)], Cin=1, num_classes=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = pn.check_accuracy(loader_val, model.to(device), device)
    history = pn.train(model, optimizer, loader_train, loader_val, device, epochs=3, print_every=5)
    assert len(history["loss_history"]) == 3 * 6 and all(type(v) is float for v in history["loss_history"])
    assert history["val_iters"] == [5, 6, 10, 12, 15, 18]
    acc = pn.check_accuracy(loader_test, model, device, verbose=True)
    assert 0.0 <= before <= 1.0 and acc >= 0.95 and history["val_acc_history"][-1] == acc
    assert "correct" in capsys.readouterr().out


def test_adjust_learning_rate_steps_on_schedule():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    for epoch in range(4):
        pn.adjust_learning_rate(optimizer, 0.1, epoch, schedule=[1, 3])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


# ------------------------------------------------------------------------------------------------
# PyTorch: the course's three-layer network three ways (2020 parts II-IV)


def _three_layer_reference(x, params):
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    h = torch.relu(F.conv2d(x, conv_w1, conv_b1, padding=2))
    h = torch.relu(F.conv2d(h, conv_w2, conv_b2, padding=1))
    return h.flatten(1) @ fc_w.t() + fc_b


def test_flatten_and_flatten_module():
    x = torch.arange(24.0).reshape(2, 3, 2, 2)
    assert pn.flatten(x).shape == (2, 12) and torch.equal(pn.flatten(x)[1], x[1].reshape(-1))
    assert torch.equal(pn.Flatten()(x), pn.flatten(x))


def test_three_layer_convnet_function_matches_conv2d_and_is_differentiable(device):
    x = _randn(4, 3, 32, 32, seed=20, device=device)
    shapes = [(6, 3, 5, 5), (6,), (9, 6, 3, 3), (9,), (10, 9 * 32 * 32), (10,)]  # the course's check
    params = [_randn(*shape, seed=21 + i, device=device, scale=0.1).requires_grad_() for i, shape in enumerate(shapes)]
    scores = pn.three_layer_convnet(x, params)
    assert scores.shape == (4, 10)
    assert rel_error(scores, _three_layer_reference(x, params)) < 1e-12
    scores.sum().backward()
    reference = [p.detach().clone().requires_grad_() for p in params]
    _three_layer_reference(x, reference).sum().backward()
    for mine, theirs in zip(params, reference):
        assert rel_error(mine.grad, theirs.grad) < 1e-10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_initialize_three_layer_conv_part2_kaiming_leaves(dtype, device):
    torch.manual_seed(0)
    params = pn.initialize_three_layer_conv_part2(dtype=dtype, device=device)
    assert [tuple(p.shape) for p in params] == [(32, 3, 5, 5), (32,), (16, 32, 3, 3), (16,), (10, 16 * 32 * 32), (10,)]
    for p in params:
        assert p.dtype == dtype and p.device.type == device.type and p.requires_grad and p.is_leaf
    for w in params[::2]:
        fan_in = math.prod(w.shape[1:])
        assert abs(w.std().item() / math.sqrt(2 / fan_in) - 1) < 0.08  # nn.init.kaiming_normal_'s default gain
    assert all(torch.equal(b, torch.zeros_like(b)) for b in params[1::2])
    assert pn.three_layer_convnet(torch.zeros(2, 3, 32, 32, dtype=dtype, device=device), params).shape == (2, 10)
    small = pn.initialize_three_layer_conv_part2(dtype=dtype, device=device, input_dims=(1, 28, 28), num_classes=7)
    assert tuple(small[0].shape) == (32, 1, 5, 5) and tuple(small[4].shape) == (7, 16 * 28 * 28)


def test_three_layer_module_is_the_barebones_network_with_kaiming_init():
    torch.manual_seed(0)
    model = pn.ThreeLayerConvNet(3, 6, 9, 10)
    assert isinstance(model, torch.nn.Module)
    assert [tuple(p.shape) for p in model.parameters()] == [(6, 3, 5, 5), (6,), (9, 6, 3, 3), (9,), (10, 9216), (10,)]
    for name, p in model.named_parameters():
        if p.dim() == 1:
            assert torch.equal(p, torch.zeros_like(p)), name
        else:
            assert abs(p.std().item() / math.sqrt(2 / math.prod(p.shape[1:])) - 1) < 0.2, name
    x = _randn(2, 3, 32, 32, seed=3, dtype=torch.float32)
    params = [p.detach() for p in model.parameters()]
    assert torch.allclose(model(x), _three_layer_reference(x, params), atol=1e-5)
    other = pn.ThreeLayerConvNet(1, 4, 5, 7, image_size=(28, 28))
    assert other(torch.zeros(3, 1, 28, 28)).shape == (3, 7)


@pytest.mark.parametrize("factory, model_type, hyper", [
    (pn.initialize_three_layer_conv_part3, pn.ThreeLayerConvNet,
     {"lr": 3e-3, "weight_decay": 1e-4, "momentum": 0, "nesterov": False}),
    (pn.initialize_three_layer_conv_part4, torch.nn.Sequential,
     {"lr": 1e-2, "weight_decay": 1e-4, "momentum": 0.5, "nesterov": True}),
], ids=["part3", "part4"])
def test_initialize_three_layer_conv_parts_3_and_4(factory, model_type, hyper):
    torch.manual_seed(0)
    model, optimizer = factory()
    assert isinstance(model, model_type) and isinstance(optimizer, torch.optim.SGD)
    (group,) = optimizer.param_groups
    assert {k: group[k] for k in hyper} == hyper
    assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters()]
    assert [tuple(p.shape) for p in model.parameters()] == [(32, 3, 5, 5), (32,), (16, 32, 3, 3), (16,),
                                                            (10, 16384), (10,)]
    x = _randn(2, 3, 32, 32, seed=4, dtype=torch.float32)
    assert torch.allclose(model(x), _three_layer_reference(x, [p.detach() for p in model.parameters()]), atol=1e-5)
    small, _ = factory(input_dims=(1, 28, 28), num_classes=7)
    assert small(torch.zeros(2, 1, 28, 28)).shape == (2, 7)


def test_part4_is_a_sequential_of_the_course_layers():
    model, _ = pn.initialize_three_layer_conv_part4()
    assert [type(m).__name__ for m in model] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear"]
    assert model[0].padding == (2, 2) and model[2].padding == (1, 1)


def test_train_part2_updates_the_parameters_by_hand_and_learns():
    torch.manual_seed(0)
    X = torch.randn(64, 1, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y, "X_test": X, "y_test": y}
    loader_train, loader_val, _ = pn.get_loaders(data, batch_size=16)
    params = pn.initialize_three_layer_conv_part2(input_dims=(1, 8, 8), num_classes=2)
    before = pn.check_accuracy_part2(loader_val, pn.three_layer_convnet, params, "cpu")
    history = pn.train_part2(pn.three_layer_convnet, params, loader_train, loader_val, "cpu", learning_rate=1e-2,
                             epochs=10, verbose=False)
    assert len(history["loss_history"]) == 40 and all(p.grad is None for p in params)
    assert history["loss_history"][-1] < history["loss_history"][0]
    assert history["val_acc_history"][-1] >= max(before, 0.8)


# ------------------------------------------------------------------------------------------------
# checkpoints saved the course's way


def _course_deep_checkpoint(model) -> dict:
    """What the course's DeepConvNet.save writes: reg, dtype, params, num_layers, max_pools, batchnorm,
    bn_params (whole bn_param dicts)."""
    return {"reg": model.reg, "dtype": model.dtype, "params": {k: v.clone() for k, v in model.params.items()},
            "num_layers": model.num_layers, "max_pools": list(model.max_pools), "batchnorm": model.batchnorm,
            "bn_params": [dict(p) for p in model.bn_params]}


def test_deep_convnet_loads_a_checkpoint_saved_the_course_way(tmp_path):
    torch.manual_seed(7)
    model = cn.DeepConvNet(input_dims=(1, 8, 8), num_filters=[4, 6], max_pools=[0, 1], batchnorm=True, num_classes=3,
                           weight_scale="kaiming", reg=0.02)
    X, y = _randn(8, 1, 8, 8, seed=8, dtype=torch.float32), _labels(8, classes=3)
    model.loss(X, y)
    path = tmp_path / "deep.pth"
    torch.save(_course_deep_checkpoint(model), path)
    loaded = cn.DeepConvNet(input_dims=(1, 8, 8))
    loaded.load(path, dtype=torch.float32, device="cpu")
    assert loaded.num_filters == [4, 6] and loaded.num_classes == 3 and loaded.reg == pytest.approx(0.02)
    assert torch.allclose(loaded.loss(X), model.loss(X), atol=1e-6)
    ours = tmp_path / "deep.pt"
    model.save(ours)
    keys = set(torch.load(ours, weights_only=True))
    assert {"reg", "dtype", "params", "num_layers", "max_pools", "batchnorm", "bn_params"} <= keys  # the course's too
    wrong_size = cn.DeepConvNet(input_dims=(1, 12, 12))
    with pytest.raises(ValueError, match="must be a floating tensor of shape"):
        wrong_size.load(path)  # the course's keys do not say the image size: the network's own must fit


def test_three_layer_convnet_loads_a_checkpoint_saved_the_course_way(tmp_path):
    torch.manual_seed(9)
    model = cn.ThreeLayerConvNet(input_dims=(1, 10, 10), num_filters=4, filter_size=3, hidden_dim=6, reg=0.1)
    path = tmp_path / "three.pth"
    torch.save({"reg": model.reg, "dtype": model.dtype, "params": model.params}, path)
    loaded = cn.ThreeLayerConvNet(input_dims=(1, 10, 10))
    loaded.load(path)
    assert loaded.num_filters == 4 and loaded.filter_size == 3 and loaded.hidden_dim == 6
    X = _randn(3, 1, 10, 10, seed=1, dtype=torch.float32)
    assert torch.allclose(loaded.loss(X), model.loss(X), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# the stubs (a release without its notebooks: they do not exist yet)


STUB_CALLS = """
import torch, convolutional_networks as cn, pytorch_autograd_and_nn as pn
x = torch.zeros(1, 1, 4, 4); w = torch.zeros(1, 1, 3, 3); b = torch.zeros(1)
cp = {"stride": 1, "pad": 1}; pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
g = torch.ones(1); be = torch.zeros(1); x2 = torch.zeros(2, 1)
calls = {
    "Conv.forward": lambda: cn.Conv.forward(x, w, b, cp),
    "Conv.backward": lambda: cn.Conv.backward(x, (x, w, b, cp)),
    "Conv.forward_im2col": lambda: cn.Conv.forward_im2col(x, w, b, cp),
    "Conv.backward_im2col": lambda: cn.Conv.backward_im2col(x, (x, w, b, cp, None)),
    "MaxPool.forward": lambda: cn.MaxPool.forward(x, pp),
    "MaxPool.backward": lambda: cn.MaxPool.backward(x, (x, pp)),
    "convolutional_networks.ThreeLayerConvNet.__init__": lambda: cn.ThreeLayerConvNet(),
    "DeepConvNet.__init__": lambda: cn.DeepConvNet(),
    "find_overfit_parameters": cn.find_overfit_parameters,
    "create_convolutional_solver_instance": lambda: cn.create_convolutional_solver_instance(
        {"X_train": x, "y_train": torch.zeros(1, dtype=torch.long), "X_val": x,
         "y_val": torch.zeros(1, dtype=torch.long)}, torch.float32, "cpu"),
    "kaiming_initializer": lambda: cn.kaiming_initializer(3, 4),
    "BatchNorm.forward": lambda: cn.BatchNorm.forward(x2, g, be, {"mode": "train"}),
    "BatchNorm.backward": lambda: cn.BatchNorm.backward(x2, None),
    "BatchNorm.backward_alt": lambda: cn.BatchNorm.backward_alt(x2, None),
    "SpatialBatchNorm.forward": lambda: cn.SpatialBatchNorm.forward(x, g, be, {"mode": "train"}),
    "SpatialBatchNorm.backward": lambda: cn.SpatialBatchNorm.backward(x, None),
    "_normalize_forward": lambda: cn._normalize_forward(x, (1,), 1e-5),
    "_normalize_backward": lambda: cn._normalize_backward(x, None),
    "LayerNorm.forward": lambda: cn.LayerNorm.forward(x, g, be, {}),
    "LayerNorm.backward": lambda: cn.LayerNorm.backward(x, None),
    "InstanceNorm.forward": lambda: cn.InstanceNorm.forward(x, g, be, {}),
    "InstanceNorm.backward": lambda: cn.InstanceNorm.backward(x, None),
    "StableSigmoid.forward": lambda: pn.StableSigmoid.apply(x),
    "stable_sigmoid": lambda: pn.stable_sigmoid(x),
    "PlainBlock.__init__": lambda: pn.PlainBlock(1, 2),
    "ResidualBlock.__init__": lambda: pn.ResidualBlock(1, 2),
    "ResidualBottleneckBlock.__init__": lambda: pn.ResidualBottleneckBlock(4, 8),
    "ResNet.__init__": lambda: pn.ResNet([(4, 4, 1, False)]),
    "three_layer_convnet": lambda: pn.three_layer_convnet(x, [w, b, w, b, torch.zeros(1, 16), b]),
    "initialize_three_layer_conv_part2": pn.initialize_three_layer_conv_part2,
    "pytorch_autograd_and_nn.ThreeLayerConvNet.__init__": lambda: pn.ThreeLayerConvNet(3, 4, 4, 10),
    "initialize_three_layer_conv_part3": pn.initialize_three_layer_conv_part3,
    "initialize_three_layer_conv_part4": pn.initialize_three_layer_conv_part4,
}
for name, call in calls.items():
    try:
        call()
    except NotImplementedError as exc:
        assert name in str(exc), (name, str(exc))
    else:
        raise AssertionError(f"{name} did not raise NotImplementedError")
# the given parts still work in the student copy
out, cache = cn.FastConv.forward(x, w, b, cp)
cn.FastConv.backward(out, cache)
cn.FastMaxPool.forward(x, pp)
pn.ResNetStem(1, 4)(x)
pn.get_loaders({"X_train": x, "y_train": torch.zeros(1, dtype=torch.long), "X_val": x,
                "y_val": torch.zeros(1, dtype=torch.long), "X_test": x, "y_test": torch.zeros(1, dtype=torch.long)})
cn.hello_convolutional_networks(); pn.hello()
print("all stubs raise")
"""


def test_stripped_modules_import_beside_the_given_file_and_every_stub_raises(tmp_path):
    assignment = load_assignment(ASSIGNMENT_DIR)
    assert list(assignment.given_files()) == ["fully_connected_networks.py"]
    for path in (CONV_PATH, NN_PATH):
        stripped = strip_solutions(path.read_text(), path.stem, str(path))
        assert "BEGIN SOLUTION" not in stripped
        (tmp_path / path.name).write_text(stripped)
    assignment.write_given_files(tmp_path)
    proc = subprocess.run([sys.executable, "-c", STUB_CALLS], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "all stubs raise" in proc.stdout and "Hello from pytorch_autograd_and_nn.py!" in proc.stdout


def test_assignment_metadata():
    assignment = load_assignment(ASSIGNMENT_DIR)
    assert assignment.id == "a4_cnn" and assignment.max_score == 100
    assert set(assignment.modules) | set(assignment.notebooks) <= set(assignment.submit)
    assert {"one_minute_deepconvnet.pt", "overfit_deepconvnet.pt"} <= set(assignment.submit)
    assert {g.module for g in assignment.groups} == set(assignment.modules)
    assert assignment.given == ("../a3_mlp/fully_connected_networks.py",)
    for dataset in ("cifar10", "fashion_mnist"):
        assert set(assignment.targets[dataset]) == {"convnet_val", "convnet_test", "overfit_train"}
    assert assignment.targets["cifar10"]["convnet_val"] == 0.71  # the course's target
