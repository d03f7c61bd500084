"""The a3_mlp source solutions (assignments/a3_mlp/*.py) on course-style checks.

These are the instructor's own checks of the reference code, fast and visible; the hidden suite
that grades students lives in autograder/suites/a3_mlp/. Every layer's forward pass is compared
with a direct formula and its backward pass with a numeric gradient in float64; the networks'
losses and gradients with numeric gradients and with autograd (the tests may use it; the modules
may not); each update rule, over several steps, with the formula written out here. Tensor tests
run on the CPU and again on CUDA when a GPU is present (the ``device`` fixture from conftest.py).
The last tests build the release of a3_mlp (nbgrader included) and check that every student
function became a stub while the given code stayed.
"""
from __future__ import annotations

import ast
import inspect
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.release import find_solution_regions, release_assignment, strip_solutions, verify_release
from eecs498.assignment import load_assignment
from helpers import body_names, import_file
from eecs498.grad import compute_numeric_gradient, rel_error
from eecs498.solver import Solver
from eecs498.solver import sgd as solver_sgd

ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a3_mlp"
TWO_LAYER_PATH = ASSIGNMENT_DIR / "two_layer_net.py"
FC_PATH = ASSIGNMENT_DIR / "fully_connected_networks.py"




tln = import_file(TWO_LAYER_PATH, "a3_mlp_source_two_layer_net")
fcn = import_file(FC_PATH, "a3_mlp_source_fully_connected_networks")

GIVEN = {
    TWO_LAYER_PATH: {"hello_two_layer_net", "sample_batch", "TwoLayerNet.__init__", "TwoLayerNet.loss", "TwoLayerNet.train",
                     "TwoLayerNet.predict", "TwoLayerNet.save", "TwoLayerNet.load"},
    FC_PATH: {"hello_fully_connected_networks", "Linear_ReLU.forward", "Linear_ReLU.backward", "softmax_loss",
              "svm_loss", "_save_network", "_read_network_checkpoint", "_restore_network", "TwoLayerNet.save", "TwoLayerNet.load",
              "FullyConnectedNet._activation_layer", "FullyConnectedNet.save", "FullyConnectedNet.load", "sgd"},
}
STUDENT = {
    TWO_LAYER_PATH: {"nn_forward_pass", "nn_forward_backward", "nn_train", "nn_predict", "nn_get_search_params",
                     "find_best_net"},
    FC_PATH: {"Linear.forward", "Linear.backward", "ReLU.forward", "ReLU.backward", "LeakyReLU.forward",
              "LeakyReLU.backward", "ELU.forward", "ELU.backward", "Dropout.forward", "Dropout.backward",
              "TwoLayerNet.__init__", "TwoLayerNet.loss", "FullyConnectedNet.__init__", "FullyConnectedNet.loss",
              "create_solver_instance", "get_three_layer_network_params", "get_five_layer_network_params",
              "sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "adam"},
}
UPDATE_RULES = ["sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "adam"]
ACTIVATIONS = ["relu", "leaky_relu", "elu"]
GRAD_TOL = 1e-7  # float64 numeric gradient checks with h = 1e-7
# Networks: a loss of a few units (or ~100 with a big reg) rounds to ~1e-16 of itself, so with
# h = 1e-7 the centered difference carries ~1e-9..1e-7 of absolute noise, as much as 1e-7 of the
# small first-layer gradients of deep nets. h = 1e-5 keeps the noise 100 times lower; the
# truncation error (h^2) stays negligible, and the nonzero biases keep every ReLU away from its kink.
NET_H = 1e-5


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these tests run thousands of tiny matrix products, which a second
    thread only slows down (badly, on a shared 2-core machine, or next to another xdist worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)





def _functions_and_methods(tree: ast.Module) -> set[str]:
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    names |= {f"{cls.name}.{node.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
              for node in cls.body if isinstance(node, ast.FunctionDef)}
    return names


def _randn(*shape, dtype=torch.float64, device="cpu", seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def _labels(n, num_classes, device="cpu", seed=0):
    return torch.randint(num_classes, (n,), generator=torch.Generator().manual_seed(seed)).to(device)


# ------------------------------------------------------------------------------------------------
# the modules as files


@pytest.mark.parametrize("path", [TWO_LAYER_PATH, FC_PATH], ids=lambda p: p.name)
def test_every_student_function_has_a_solution_region(path):
    source = path.read_text()
    regions = {region.function for region in find_solution_regions(source, path.name)}
    functions = _functions_and_methods(ast.parse(source))
    assert regions == functions - GIVEN[path]
    assert regions == STUDENT[path]


@pytest.mark.parametrize("path", [TWO_LAYER_PATH, FC_PATH], ids=lambda p: p.name)
def test_modules_import_only_torch_the_standard_library_and_the_solver(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    allowed_packages = {"torch", "__future__"} | set(sys.stdlib_module_names)
    allowed = {name for name in imported if name.split(".")[0] in allowed_packages}
    if path == FC_PATH:
        allowed.add("eecs498.solver")
    assert imported <= allowed, imported - allowed
    assert not any(name.startswith("torch.nn") or name == "numpy" for name in imported)


def test_hello_has_the_course_names_and_the_short_alias(capsys):
    tln.hello_two_layer_net()
    fcn.hello_fully_connected_networks()
    tln.hello()
    fcn.hello()
    out = capsys.readouterr().out.splitlines()
    assert out == ["Hello from two_layer_net.py!", "Hello from fully_connected_networks.py!"] * 2


def test_student_code_uses_no_autograd_nn_or_hard_coded_device():
    banned = {"nn", "autograd", "requires_grad", "functional", "cross_entropy", "log_softmax", "softmax",
              "relu", "cuda", "float32", "cpu"}
    student = [getattr(tln, name) for name in STUDENT[TWO_LAYER_PATH]]
    for qualname in STUDENT[FC_PATH]:
        owner, _, method = qualname.partition(".")
        student.append(getattr(getattr(fcn, owner), method) if method else getattr(fcn, owner))
    for function in student:
        found = body_names(function) & banned
        assert not found, f"{function.__qualname__} uses {found}"
    assert "backward" not in body_names(tln.nn_forward_backward)  # no autograd .backward()


def test_signatures_follow_the_spec():
    def params(f):
        return {name: p.default for name, p in inspect.signature(f).parameters.items()}

    assert params(tln.nn_forward_backward) == {"params": inspect.Parameter.empty, "X": inspect.Parameter.empty,
                                               "y": None, "reg": 0.0}
    train = params(tln.nn_train)
    assert list(train) == ["params", "loss_func", "pred_func", "X", "y", "X_val", "y_val", "learning_rate",
                           "learning_rate_decay", "reg", "num_iters", "batch_size", "verbose"]
    assert (train["learning_rate"], train["learning_rate_decay"], train["reg"], train["num_iters"],
            train["batch_size"], train["verbose"]) == (1e-3, 0.95, 5e-6, 100, 200, False)
    assert params(tln.TwoLayerNet.__init__) == {
        "self": inspect.Parameter.empty, "input_size": inspect.Parameter.empty, "hidden_size": inspect.Parameter.empty,
        "output_size": inspect.Parameter.empty, "dtype": torch.float32, "device": "cuda", "std": 1e-4}  # the course's
    assert list(params(tln.nn_predict)) == ["params", "loss_func", "X"]
    assert list(params(tln.find_best_net)) == ["data_dict", "get_param_set_fn"]
    assert list(params(fcn.create_solver_instance)) == ["data_dict", "dtype", "device"]
    for cls in (fcn.TwoLayerNet, fcn.FullyConnectedNet):  # the course's load(path, dtype, device)
        assert list(params(cls.load)) == ["self", "path", "dtype", "device"]
        assert list(params(cls.save)) == ["self", "path"]
    fc = params(fcn.FullyConnectedNet.__init__)
    assert list(fc) == ["self", "hidden_dims", "input_dim", "num_classes", "dropout", "reg", "weight_scale", "seed",
                        "dtype", "device", "activation"]
    assert (fc["input_dim"], fc["num_classes"], fc["dropout"], fc["reg"], fc["weight_scale"], fc["seed"],
            fc["dtype"], fc["device"], fc["activation"]) == (3072, 10, 0.0, 0.0, 1e-2, None, torch.float32,
                                                             "cpu", "relu")
    two = params(fcn.TwoLayerNet.__init__)
    assert list(two) == ["self", "input_dim", "hidden_dim", "num_classes", "weight_scale", "reg", "dtype", "device"]
    assert (two["input_dim"], two["hidden_dim"], two["num_classes"], two["weight_scale"], two["reg"], two["dtype"],
            two["device"]) == (3072, 100, 10, 1e-3, 0.0, torch.float32, "cpu")
    assert params(fcn.LeakyReLU.forward)["negative_slope"] == 0.01
    assert params(fcn.ELU.forward)["alpha"] == 1.0
    for name in UPDATE_RULES + ["sgd"]:
        assert list(params(getattr(fcn, name))) == ["w", "dw", "config"]


# ------------------------------------------------------------------------------------------------
# layers: forward against formulas, backward against numeric gradients (float64)


def _check_backward(forward, backward, inputs, dout, tol=GRAD_TOL):
    """Analytic gradients of every input against compute_numeric_gradient of forward."""
    _, cache = forward(*inputs)
    analytic = backward(dout, cache)
    analytic = analytic if isinstance(analytic, tuple) else (analytic,)
    for index, grad in enumerate(analytic):
        def f(value, index=index):
            args = list(inputs)
            args[index] = value
            return forward(*args)[0]

        numeric = compute_numeric_gradient(f, inputs[index].clone(), dout)
        assert grad.shape == inputs[index].shape and grad.dtype == inputs[index].dtype
        assert grad.device == inputs[index].device
        assert rel_error(grad, numeric) < tol, (index, rel_error(grad, numeric))


@pytest.mark.parametrize("x_shape", [(4, 6), (3, 2, 2, 3)])
def test_linear_forward_and_backward(x_shape, device):
    x = _randn(*x_shape, device=device, seed=1)
    D = math.prod(x_shape[1:])
    w = _randn(D, 5, device=device, seed=2)
    b = _randn(5, device=device, seed=3)
    out, cache = fcn.Linear.forward(x, w, b)
    assert out.shape == (x_shape[0], 5) and out.dtype == torch.float64 and out.device == x.device
    expected = torch.stack([x[i].flatten() @ w + b for i in range(x_shape[0])])
    assert rel_error(out, expected) < 1e-12
    assert cache[0] is x
    _check_backward(fcn.Linear.forward, fcn.Linear.backward, (x, w, b), _randn(x_shape[0], 5, device=device, seed=4))


def test_linear_forward_like_the_course():
    # the course's check: linspace inputs, known outputs
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * math.prod(input_shape)
    weight_size = output_dim * math.prod(input_shape)
    x = torch.linspace(-0.1, 0.5, steps=input_size, dtype=torch.float64).reshape(num_inputs, *input_shape)
    w = torch.linspace(-0.2, 0.3, steps=weight_size, dtype=torch.float64).reshape(math.prod(input_shape), output_dim)
    b = torch.linspace(-0.3, 0.1, steps=output_dim, dtype=torch.float64)
    out, _ = fcn.Linear.forward(x, w, b)
    correct = torch.tensor([[1.49834984, 1.70660150, 1.91485316], [3.25553226, 3.51413301, 3.77273372]],
                           dtype=torch.float64)
    assert rel_error(out, correct) < 1e-7


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_activations_forward_match_formulas(dtype, device):
    x = _randn(3, 4, 5, dtype=dtype, device=device, seed=5, scale=2.0)
    x[0, 0, 0] = 0.0
    out, cache = fcn.ReLU.forward(x)
    assert torch.equal(out, torch.maximum(x, torch.zeros_like(x))) and cache is x
    for slope in (0.01, 0.2):
        out, _ = fcn.LeakyReLU.forward(x, slope)
        expected = torch.where(x > 0, x, slope * x)
        assert out.dtype == dtype and out.device == x.device and torch.allclose(out, expected)
    assert torch.equal(fcn.LeakyReLU.forward(x)[0], fcn.LeakyReLU.forward(x, 0.01)[0])
    for alpha in (1.0, 0.5):
        out, _ = fcn.ELU.forward(x, alpha)
        expected = torch.tensor([v if v > 0 else alpha * (math.exp(v) - 1) for v in x.double().flatten().tolist()],
                                dtype=torch.float64).reshape(x.shape)
        assert out.dtype == dtype and out.device == x.device
        assert rel_error(out.double().cpu(), expected) < (1e-6 if dtype == torch.float32 else 1e-14)
    assert torch.equal(fcn.ELU.forward(x)[0], fcn.ELU.forward(x, 1.0)[0])


def test_activations_are_finite_for_huge_inputs():
    x = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=torch.float32)
    for layer in (fcn.ReLU, fcn.LeakyReLU, fcn.ELU):
        out, cache = layer.forward(x)
        dx = layer.backward(torch.ones_like(x), cache)
        assert torch.isfinite(out).all() and torch.isfinite(dx).all(), layer.__name__
    out, _ = fcn.ELU.forward(x)
    assert out[0].item() == -1.0 and out[-1].item() == 1e4


def test_activation_gradients_at_zero_follow_the_docstrings():
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    dout = torch.ones_like(x)
    assert fcn.ReLU.backward(dout, fcn.ReLU.forward(x)[1]).tolist() == [0.0, 0.0, 1.0]
    assert fcn.LeakyReLU.backward(dout, fcn.LeakyReLU.forward(x, 0.1)[1]).tolist() == [0.1, 0.1, 1.0]
    assert fcn.ELU.backward(dout, fcn.ELU.forward(x, 0.5)[1]).tolist() == pytest.approx([0.5 * math.exp(-1), 0.5, 1.0])


@pytest.mark.parametrize("layer, kwargs", [(fcn.ReLU, {}), (fcn.LeakyReLU, {}),
                                           (fcn.LeakyReLU, {"negative_slope": 0.3}),
                                           (fcn.ELU, {}), (fcn.ELU, {"alpha": 0.7})],
                         ids=["relu", "leaky", "leaky0.3", "elu", "elu0.7"])
def test_activation_backward_matches_numeric_gradient(layer, kwargs, device):
    x = _randn(4, 3, 5, device=device, seed=6)
    dout = _randn(4, 3, 5, device=device, seed=7)
    forward = (lambda v: layer.forward(v, *kwargs.values()))
    _check_backward(forward, layer.backward, (x,), dout)


def test_linear_relu_sandwich_is_linear_then_relu(device):
    x = _randn(3, 2, 4, device=device, seed=8)
    w = _randn(8, 6, device=device, seed=9)
    b = _randn(6, device=device, seed=10)
    out, _ = fcn.Linear_ReLU.forward(x, w, b)
    assert torch.equal(out, fcn.Linear.forward(x, w, b)[0].clamp(min=0))
    _check_backward(fcn.Linear_ReLU.forward, fcn.Linear_ReLU.backward, (x, w, b),
                    _randn(3, 6, device=device, seed=11))


def test_layers_do_not_modify_their_inputs():
    x, w, b = _randn(4, 6, seed=1), _randn(6, 3, seed=2), _randn(3, seed=3)
    dout = _randn(4, 3, seed=4)
    copies = [t.clone() for t in (x, w, b, dout)]
    _, cache = fcn.Linear.forward(x, w, b)
    fcn.Linear.backward(dout, cache)
    for layer in (fcn.ReLU, fcn.LeakyReLU, fcn.ELU):
        _, cache = layer.forward(x)
        layer.backward(x.clone(), cache)
    _, cache = fcn.Dropout.forward(x, {"p": 0.5, "mode": "train", "seed": 0})
    fcn.Dropout.backward(x.clone(), cache)
    assert all(torch.equal(a, c) for a, c in zip((x, w, b, dout), copies))


# ------------------------------------------------------------------------------------------------
# dropout


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_train_mode_keeps_the_mean_and_drops_a_fraction_p(p, dtype, device):
    x = 10 + _randn(500, 500, dtype=dtype, device=device, seed=12)
    out, (param, mask) = fcn.Dropout.forward(x, {"mode": "train", "p": p, "seed": 0})
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert mask.dtype == dtype
    assert abs((out == 0).double().mean().item() - p) < 0.01
    assert abs(out.mean().item() - x.mean().item()) < 0.05 * x.mean().item()
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / (1 - p))
    test_out, (_, test_mask) = fcn.Dropout.forward(x, {"mode": "test", "p": p})
    assert torch.equal(test_out, x) and test_mask is None


def test_dropout_mask_is_the_specified_formula_and_the_seed_repeats_it(device):
    x = _randn(20, 30, device=device, seed=13)
    out, (_, mask) = fcn.Dropout.forward(x, {"mode": "train", "p": 0.3, "seed": 42})
    torch.manual_seed(42)
    expected_mask = (torch.rand_like(x) > 0.3).to(x.dtype) / (1 - 0.3)
    assert torch.equal(mask, expected_mask) and torch.allclose(out, x * expected_mask)
    again, _ = fcn.Dropout.forward(x, {"mode": "train", "p": 0.3, "seed": 42})
    assert torch.equal(again, out)
    other, _ = fcn.Dropout.forward(x, {"mode": "train", "p": 0.3, "seed": 43})
    assert not torch.equal(other, out)
    unseeded_1, _ = fcn.Dropout.forward(x, {"mode": "train", "p": 0.3})
    unseeded_2, _ = fcn.Dropout.forward(x, {"mode": "train", "p": 0.3})
    assert not torch.equal(unseeded_1, unseeded_2)


def test_dropout_p_zero_is_the_identity_in_train_mode():
    x = _randn(10, 10, seed=14)
    out, _ = fcn.Dropout.forward(x, {"mode": "train", "p": 0.0, "seed": 0})
    assert torch.equal(out, x)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_dropout_backward_matches_numeric_gradient(mode, device):
    x = _randn(6, 7, device=device, seed=15)
    dout = _randn(6, 7, device=device, seed=16)
    param = {"mode": mode, "p": 0.2, "seed": 123}
    _check_backward(lambda v: fcn.Dropout.forward(v, param), fcn.Dropout.backward, (x,), dout)
    _, cache = fcn.Dropout.forward(x, param)
    dx = fcn.Dropout.backward(dout, cache)
    if mode == "test":
        assert torch.equal(dx, dout)
    else:
        assert torch.equal(dx == 0, cache[1] == 0)


def test_dropout_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        fcn.Dropout.forward(torch.zeros(2), {"mode": "eval", "p": 0.5})


# ------------------------------------------------------------------------------------------------
# loss functions (given)


def test_given_softmax_and_svm_losses(device):
    x = _randn(8, 5, device=device, seed=17)
    y = _labels(8, 5, device=device, seed=17)
    loss, dx = fcn.softmax_loss(x, y)
    expected = torch.nn.functional.cross_entropy(x, y)
    assert loss.dim() == 0 and abs(loss.item() - expected.item()) < 1e-12
    assert rel_error(dx, compute_numeric_gradient(lambda v: fcn.softmax_loss(v, y)[0], x.clone())) < GRAD_TOL
    loss, dx = fcn.svm_loss(x, y)
    margins = (x - x[torch.arange(8, device=device), y][:, None] + 1).clamp(min=0)
    expected = (margins.sum() - 8.0) / 8  # each correct class contributes a margin of exactly 1
    assert abs(loss.item() - expected.item()) < 1e-12
    assert rel_error(dx, compute_numeric_gradient(lambda v: fcn.svm_loss(v, y)[0], x.clone())) < GRAD_TOL
    huge = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float32, device=device)
    loss, dx = fcn.softmax_loss(huge, torch.tensor([2], device=device))
    assert loss.item() == pytest.approx(2e4) and torch.isfinite(dx).all()


# ------------------------------------------------------------------------------------------------
# two_layer_net.py


def _two_layer_params(D=7, H=6, C=4, dtype=torch.float64, device="cpu", seed=20, scale=0.5):
    return {"W1": _randn(D, H, dtype=dtype, device=device, seed=seed, scale=scale),
            "b1": _randn(H, dtype=dtype, device=device, seed=seed + 1, scale=scale),
            "W2": _randn(H, C, dtype=dtype, device=device, seed=seed + 2, scale=scale),
            "b2": _randn(C, dtype=dtype, device=device, seed=seed + 3, scale=scale)}


def _autograd_two_layer_loss(params, X, y, reg):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    hidden = torch.relu(X @ leaves["W1"] + leaves["b1"])
    scores = hidden @ leaves["W2"] + leaves["b2"]
    loss = torch.nn.functional.cross_entropy(scores, y) + reg * ((leaves["W1"] ** 2).sum() + (leaves["W2"] ** 2).sum())
    loss.backward()
    return loss.detach(), {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nn_forward_pass_matches_the_formula(dtype, device):
    params = _two_layer_params(dtype=dtype, device=device)
    X = _randn(9, 7, dtype=dtype, device=device, seed=30)
    scores, hidden = tln.nn_forward_pass(params, X)
    expected_hidden = torch.maximum(X @ params["W1"] + params["b1"], torch.zeros(1, dtype=dtype, device=device))
    assert hidden.shape == (9, 6) and scores.shape == (9, 4)
    assert scores.dtype == dtype and scores.device == X.device and hidden.dtype == dtype
    assert torch.allclose(hidden, expected_hidden)
    assert torch.allclose(scores, expected_hidden @ params["W2"] + params["b2"])
    assert torch.equal(tln.nn_forward_backward(params, X), scores)


def test_nn_forward_pass_like_the_course_toy_model():
    # the course's toy check: 5 inputs of dimension 4, 10 hidden units, 3 classes
    params = {"W1": 1e-4 * _randn(4, 10, seed=0), "b1": torch.zeros(10, dtype=torch.float64),
              "W2": 1e-4 * _randn(10, 3, seed=1), "b2": torch.zeros(3, dtype=torch.float64)}
    X = 10.0 * _randn(5, 4, seed=2)
    y = torch.tensor([0, 1, 2, 2, 1])
    loss, _ = tln.nn_forward_backward(params, X, y, reg=0.05)
    assert loss.item() == pytest.approx(math.log(3), abs=1e-4)  # tiny weights: log C


@pytest.mark.parametrize("reg", [0.0, 0.05, 1.7])
def test_nn_forward_backward_loss_and_gradients(reg, device):
    params = _two_layer_params(device=device)
    X = _randn(10, 7, device=device, seed=31)
    y = _labels(10, 4, device=device, seed=31)
    loss, grads = tln.nn_forward_backward(params, X, y, reg)
    ref_loss, ref_grads = _autograd_two_layer_loss(params, X, y, reg)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.dtype == torch.float64
    assert loss.device == X.device
    assert abs(loss.item() - ref_loss.item()) < 1e-12
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    for name, value in params.items():
        assert grads[name].shape == value.shape and grads[name].dtype == value.dtype
        assert grads[name].device == value.device
        assert rel_error(grads[name], ref_grads[name]) < 1e-10, name
        numeric = compute_numeric_gradient(
            lambda v, name=name: tln.nn_forward_backward({**params, name: v}, X, y, reg)[0], value.clone())
        assert rel_error(grads[name], numeric) < GRAD_TOL, (name, rel_error(grads[name], numeric))


def test_nn_forward_backward_is_stable_and_keeps_float32(device):
    params = _two_layer_params(dtype=torch.float32, device=device, scale=30.0)
    X = _randn(6, 7, dtype=torch.float32, device=device, seed=32, scale=30.0)
    y = _labels(6, 4, device=device, seed=32)
    loss, grads = tln.nn_forward_backward(params, X, y, 0.1)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(torch.isfinite(g).all() and g.dtype == torch.float32 for g in grads.values())


def _toy_data(num=120, D=5, C=3, device="cpu", dtype=torch.float32, seed=0):
    """Three well separated Gaussian blobs in D dimensions."""
    generator = torch.Generator().manual_seed(seed)
    centers = 4 * torch.randn(C, D, generator=generator)
    y = torch.arange(C).repeat(num // C)
    X = centers[y] + 0.5 * torch.randn(len(y), D, generator=generator)
    order = torch.randperm(len(y), generator=generator)
    return X[order].to(device, dtype), y[order].to(device)


def test_nn_train_takes_in_place_sgd_steps_with_a_decay_per_epoch(device):
    X, y = _toy_data(device=device)
    params = _two_layer_params(D=5, H=8, C=3, dtype=torch.float32, device=device, scale=0.1)
    start = {k: v.clone() for k, v in params.items()}
    tensors = {k: v for k, v in params.items()}
    lr, decay, reg = 0.3, 0.5, 1e-3
    # batch_size >= num_train: one iteration per epoch, so the rate decays after every step
    torch.manual_seed(7)
    stats = tln.nn_train(params, tln.nn_forward_backward, tln.nn_predict, X, y, X, y, learning_rate=lr,
                         learning_rate_decay=decay, reg=reg, num_iters=3, batch_size=200)
    assert all(params[k] is tensors[k] for k in params)  # updated in place
    torch.manual_seed(7)
    expected = start
    for it in range(3):
        X_batch, y_batch = tln.sample_batch(X, y, len(X), 200)
        _, grads = tln.nn_forward_backward(expected, X_batch, y_batch, reg)
        expected = {k: v - lr * decay ** it * grads[k] for k, v in expected.items()}
    for k in params:
        assert torch.allclose(params[k], expected[k], atol=1e-6), k
    assert len(stats["loss_history"]) == 3 and len(stats["val_acc_history"]) == 3


def test_nn_train_histories_and_learning(device):
    X, y = _toy_data(num=360, device=device)
    X, y, X_val, y_val = X[:300], y[:300], X[300:], y[300:]
    torch.manual_seed(0)
    net = tln.TwoLayerNet(5, 16, 3, device=device, std=0.1)
    stats = net.train(X, y, X_val, y_val, learning_rate=0.2, learning_rate_decay=0.9, reg=1e-4, num_iters=100,
                      batch_size=30)
    # iterations_per_epoch = 300 // 30 = 10: accuracies at it = 0, 10, ..., 90
    assert len(stats["loss_history"]) == 100 and all(type(v) is float for v in stats["loss_history"])
    assert len(stats["train_acc_history"]) == 10 and len(stats["val_acc_history"]) == 10
    assert all(type(v) is float and 0 <= v <= 1 for v in stats["train_acc_history"] + stats["val_acc_history"])
    assert sum(stats["loss_history"][-10:]) / 10 < 0.3 * stats["loss_history"][0]
    assert stats["val_acc_history"][-1] == 1.0
    assert net.params["W1"].device == X.device and net.params["W1"].dtype == torch.float32


def test_nn_predict_is_the_argmax_of_the_scores(device):
    params = _two_layer_params(device=device)
    X = _randn(12, 7, device=device, seed=33)
    y_pred = tln.nn_predict(params, tln.nn_forward_backward, X)
    assert y_pred.dtype == torch.int64 and y_pred.shape == (12,) and y_pred.device == X.device
    assert torch.equal(y_pred, tln.nn_forward_pass(params, X)[0].argmax(dim=1))


def test_nn_get_search_params_is_a_small_grid():
    lrs, hidden, regs, decays = tln.nn_get_search_params()
    assert all(isinstance(v, list) and v for v in (lrs, hidden, regs, decays))
    assert all(isinstance(v, float) and v > 0 for v in lrs + regs + decays)
    assert all(type(h) is int and h > 0 for h in hidden)
    assert all(d <= 1 for d in decays)
    assert len(lrs) * len(hidden) * len(regs) * len(decays) <= 12


def test_find_best_net_picks_the_best_validation_accuracy(device, monkeypatch):
    X, y = _toy_data(num=150, D=6, device=device)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    calls = []
    nn_train = tln.nn_train

    def fewer_iterations(params, loss_func, pred_func, X, y, X_val, y_val, learning_rate, learning_rate_decay,
                         reg, num_iters, batch_size, verbose):
        calls.append((learning_rate, params["W1"].shape[1], reg, learning_rate_decay, num_iters, batch_size))
        return nn_train(params, loss_func, pred_func, X, y, X_val, y_val, learning_rate, learning_rate_decay,
                        reg, min(num_iters, 200), batch_size, verbose)

    monkeypatch.setattr(tln, "nn_train", fewer_iterations)  # what TwoLayerNet.train calls
    torch.manual_seed(0)
    # a learning rate of 0 leaves the tiny initial weights: chance accuracy
    best_net, best_stat, best_val_acc = tln.find_best_net(data, lambda: ([0.0, 0.5], [8, 5], [1e-4], [0.95]))
    assert sorted(c[:4] for c in calls) == [(0.0, 5, 1e-4, 0.95), (0.0, 8, 1e-4, 0.95), (0.5, 5, 1e-4, 0.95),
                                            (0.5, 8, 1e-4, 0.95)]
    assert all(c[4] >= 1000 for c in calls)  # the real search trains long enough
    assert isinstance(best_net, tln.TwoLayerNet)
    assert best_net.params["W1"].shape[0] == 6 and best_net.params["W2"].shape[1] == 10
    assert best_net.params["W1"].device == X.device and best_net.params["W1"].dtype == X.dtype
    assert set(best_stat) == {"loss_history", "train_acc_history", "val_acc_history"}
    assert type(best_val_acc) is float and best_val_acc == 1.0
    assert best_val_acc == (best_net.predict(X) == y).double().mean().item()


def test_given_two_layer_net_wraps_the_functions(device):
    net = tln.TwoLayerNet(7, 6, 4, dtype=torch.float64, device=device, std=0.3)
    assert set(net.params) == {"W1", "b1", "W2", "b2"}
    assert net.params["W1"].shape == (7, 6) and net.params["b2"].shape == (4,)
    assert net.params["W1"].dtype == torch.float64 and net.params["W1"].device.type == torch.device(device).type
    assert torch.equal(net.params["b1"], torch.zeros(6, dtype=torch.float64, device=device))
    X = _randn(5, 7, device=device, seed=34)
    y = _labels(5, 4, device=device)
    assert torch.equal(net.loss(X), tln.nn_forward_pass(net.params, X)[0])
    assert torch.equal(net.loss(X, y, 0.1)[0], tln.nn_forward_backward(net.params, X, y, 0.1)[0])
    assert torch.equal(net.predict(X), tln.nn_predict(net.params, tln.nn_forward_backward, X))


def test_two_layer_net_default_device_is_the_courses_and_works_without_cuda():
    net = tln.TwoLayerNet(7, 6, 4)  # device="cuda", the course's default
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert all(p.device.type == expected for p in net.params.values()) and net.device.type == expected
    assert tln.TwoLayerNet(7, 6, 4, device="cpu").params["W1"].device.type == "cpu"


def test_two_layer_net_save_and_load(tmp_path, capsys):
    net = tln.TwoLayerNet(7, 6, 4, std=0.3)
    path = tmp_path / "nn_best_model.pt"
    net.save(path)
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {"W1", "b1", "W2", "b2"}
    assert all(torch.equal(checkpoint[k], net.params[k]) for k in checkpoint)
    loaded = tln.TwoLayerNet(7, 3, 4, dtype=torch.float64)  # the hidden size comes from the file
    loaded.load(path)
    assert loaded.params["W1"].shape == (7, 6) and loaded.params["W1"].dtype == torch.float64
    X = _randn(9, 7, seed=35)
    assert torch.equal(loaded.predict(X), net.predict(X))
    assert torch.equal(loaded.predict(X.float()), net.predict(X.float()))
    assert "Saved in" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ({"W1": torch.zeros(7, 6), "b1": torch.zeros(6), "W2": torch.zeros(6, 4)}, "W1, b1, W2, b2"),
    (torch.zeros(3), "expected a dict"),
    ({"W1": torch.zeros(7, 6), "b1": torch.zeros(5), "W2": torch.zeros(6, 4), "b2": torch.zeros(4)}, "do not fit"),
    ({"W1": torch.zeros(7, 6), "b1": torch.zeros(6), "W2": torch.zeros(6, 4), "b2": torch.zeros(4, dtype=torch.int64)},
     "floating"),
    ({"W1": torch.zeros(8, 6), "b1": torch.zeros(6), "W2": torch.zeros(6, 4), "b2": torch.zeros(4)}, "D=8"),
    ({"W1": torch.zeros(7, 6), "b1": torch.zeros(6), "W2": torch.zeros(6, 5), "b2": torch.zeros(5)}, "C=5"),
])
def test_two_layer_net_load_validates(tmp_path, content, message):
    torch.save(content, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=message):
        tln.TwoLayerNet(7, 6, 4).load(tmp_path / "bad.pt")


# ------------------------------------------------------------------------------------------------
# fully_connected_networks.py: the networks


def _autograd_fc_loss(params, X, y, reg, activation="relu", dropout=0.0, seed=None):
    """The FullyConnectedNet loss written directly with torch ops, its gradients by autograd."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    L = len(params) // 2
    h = X.reshape(X.shape[0], -1)
    for i in range(1, L):
        h = h @ leaves[f"W{i}"] + leaves[f"b{i}"]
        if activation == "relu":
            h = torch.relu(h)
        elif activation == "leaky_relu":
            h = torch.nn.functional.leaky_relu(h, 0.01)
        else:
            h = torch.nn.functional.elu(h, 1.0)
        if dropout:
            if seed is not None:
                torch.manual_seed(seed)
            h = h * ((torch.rand_like(h) > dropout).to(h.dtype) / (1 - dropout))
    scores = h @ leaves[f"W{L}"] + leaves[f"b{L}"]
    if y is None:
        return scores.detach()
    loss = torch.nn.functional.cross_entropy(scores, y)
    loss = loss + reg * sum((leaves[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
    loss.backward()
    return loss.detach(), {k: v.grad for k, v in leaves.items()}


def _random_biases(model, seed=0):
    """Nonzero biases: with zero ones, an example whose units are all dead in one layer gives
    pre-activations of exactly 0 in the next, a ReLU kink where numeric gradients are wrong."""
    for name, value in model.params.items():
        if name.startswith("b"):
            model.params[name] = _randn(*value.shape, dtype=value.dtype, device=value.device, seed=seed, scale=0.1)
            seed += 1


def _check_net_gradients(model, X, y, tol=GRAD_TOL):
    _random_biases(model)
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, value in model.params.items():
        assert grads[name].shape == value.shape and grads[name].dtype == value.dtype
        assert grads[name].device == value.device

        def f(v, name=name):
            old = model.params[name]
            model.params[name] = v
            try:
                return model.loss(X, y)[0]
            finally:
                model.params[name] = old

        numeric = compute_numeric_gradient(f, value.clone(), h=NET_H)
        assert rel_error(grads[name], numeric) < tol, (name, rel_error(grads[name], numeric))
    return loss, grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fc_two_layer_net_initialization(dtype, device):
    torch.manual_seed(0)
    model = fcn.TwoLayerNet(input_dim=300, hidden_dim=200, num_classes=10, weight_scale=0.05, dtype=dtype,
                            device=device)
    shapes = {"W1": (300, 200), "b1": (200,), "W2": (200, 10), "b2": (10,)}
    assert {k: tuple(v.shape) for k, v in model.params.items()} == shapes
    for name, value in model.params.items():
        assert value.dtype == dtype and value.device.type == torch.device(device).type
    assert torch.count_nonzero(model.params["b1"]) == 0 and torch.count_nonzero(model.params["b2"]) == 0
    assert abs(model.params["W1"].std().item() - 0.05) < 0.005 and abs(model.params["W1"].mean().item()) < 0.005
    assert abs(model.params["W2"].std().item() - 0.05) < 0.01


def test_fc_two_layer_net_like_the_course():
    # the course's check: linspace weights, known scores and losses
    N, D, H, C = 3, 5, 50, 7
    X = torch.randn(N, D, dtype=torch.float64)
    model = fcn.TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, dtype=torch.float64)
    model.params["W1"] = torch.linspace(-0.7, 0.3, steps=D * H, dtype=torch.float64).reshape(D, H)
    model.params["b1"] = torch.linspace(-0.1, 0.9, steps=H, dtype=torch.float64)
    model.params["W2"] = torch.linspace(-0.3, 0.4, steps=H * C, dtype=torch.float64).reshape(H, C)
    model.params["b2"] = torch.linspace(-0.9, 0.1, steps=C, dtype=torch.float64)
    X = torch.linspace(-5.5, 4.5, steps=N * D, dtype=torch.float64).reshape(D, N).t()
    scores = model.loss(X)
    correct = torch.tensor([[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
                            [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
                            [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506,
                             16.2846319]], dtype=torch.float64)
    assert rel_error(scores, correct) < 1e-6
    y = torch.tensor([0, 5, 1])
    assert abs(model.loss(X, y)[0].item() - 3.4702243556) < 1e-10
    model.reg = 1.0
    assert abs(model.loss(X, y)[0].item() - 49.719461034881775) < 1e-10


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_fc_two_layer_net_loss_and_gradients(reg, device):
    torch.manual_seed(0)
    model = fcn.TwoLayerNet(input_dim=12, hidden_dim=8, num_classes=5, weight_scale=0.3, reg=reg,
                            dtype=torch.float64, device=device)
    X = _randn(6, 3, 2, 2, device=device, seed=41)  # image-shaped inputs are flattened
    y = _labels(6, 5, device=device, seed=41)
    loss, grads = _check_net_gradients(model, X, y)
    ref_loss, ref_grads = _autograd_fc_loss(model.params, X, y, reg)
    assert loss.dim() == 0 and abs(loss.item() - ref_loss.item()) < 1e-12
    assert all(rel_error(grads[k], ref_grads[k]) < 1e-10 for k in grads)
    assert torch.allclose(model.loss(X), _autograd_fc_loss(model.params, X, None, reg))


@pytest.mark.parametrize("hidden_dims", [[], [7], [6, 5], [5, 4, 3]], ids=lambda h: f"L{len(h) + 1}")
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fully_connected_net_gradients_for_several_depths(hidden_dims, reg, device):
    torch.manual_seed(0)
    model = fcn.FullyConnectedNet(hidden_dims, input_dim=10, num_classes=4, reg=reg, weight_scale=0.5,
                                  dtype=torch.float64, device=device, seed=0)
    assert model.num_layers == len(hidden_dims) + 1 and not model.use_dropout
    assert set(model.params) == {f"{p}{i}" for p in "Wb" for i in range(1, model.num_layers + 1)}
    X = _randn(5, 10, device=device, seed=50)
    y = _labels(5, 4, device=device, seed=50)
    # reg = 3.14 makes the loss ~100: its float64 rounding in the centered difference reaches
    # 1e-7 of the smallest (first-layer) gradients of the deepest net
    loss, grads = _check_net_gradients(model, X, y, tol=GRAD_TOL if reg < 1 else 1e-6)
    ref_loss, ref_grads = _autograd_fc_loss(model.params, X, y, reg)
    assert abs(loss.item() - ref_loss.item()) < 1e-12 * max(1.0, abs(ref_loss.item()))
    assert all(rel_error(grads[k], ref_grads[k]) < 1e-10 for k in grads)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fully_connected_net_activations(activation, device):
    torch.manual_seed(0)
    model = fcn.FullyConnectedNet([6, 5], input_dim=8, num_classes=3, reg=0.1, weight_scale=0.6,
                                  dtype=torch.float64, device=device, activation=activation)
    X = _randn(4, 8, device=device, seed=51)
    y = _labels(4, 3, device=device, seed=51)
    loss, grads = _check_net_gradients(model, X, y)
    ref_loss, ref_grads = _autograd_fc_loss(model.params, X, y, 0.1, activation)
    assert abs(loss.item() - ref_loss.item()) < 1e-12
    assert all(rel_error(grads[k], ref_grads[k]) < 1e-10 for k in grads)


@pytest.mark.parametrize("dropout", [0.25, 0.5])
@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_fully_connected_net_with_seeded_dropout(dropout, activation, device):
    torch.manual_seed(0)
    model = fcn.FullyConnectedNet([7, 6], input_dim=9, num_classes=4, dropout=dropout, reg=0.05, weight_scale=0.5,
                                  seed=123, dtype=torch.float64, device=device, activation=activation)
    assert model.use_dropout and model.dropout_param == {"mode": "train", "p": dropout, "seed": 123}
    X = _randn(6, 9, device=device, seed=52)
    y = _labels(6, 4, device=device, seed=52)
    loss, grads = _check_net_gradients(model, X, y)
    ref_loss, ref_grads = _autograd_fc_loss(model.params, X, y, 0.05, activation, dropout, seed=123)
    assert abs(loss.item() - ref_loss.item()) < 1e-12
    assert all(rel_error(grads[k], ref_grads[k]) < 1e-10 for k in grads)
    # test mode (no labels): dropout is the identity
    scores = model.loss(X)
    assert model.dropout_param["mode"] == "test"
    assert torch.allclose(scores, _autograd_fc_loss(model.params, X, None, 0.0, activation))


def test_fully_connected_net_settings():
    model = fcn.FullyConnectedNet([4, 3], input_dim=5, num_classes=2)
    assert model.params["W1"].dtype == torch.float32 and model.dropout_param["p"] == 0.0
    assert "seed" not in model.dropout_param and model.reg == 0.0
    with pytest.raises(ValueError, match="'relu', 'leaky_relu', 'elu'"):
        fcn.FullyConnectedNet([4], activation="tanh")
    torch.manual_seed(0)
    big = fcn.FullyConnectedNet([300], input_dim=400, weight_scale=0.02)
    assert abs(big.params["W1"].std().item() - 0.02) < 0.002
    assert torch.count_nonzero(big.params["b1"]) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fully_connected_net_keeps_dtype_and_device(dtype, device):
    model = fcn.FullyConnectedNet([6, 6], input_dim=4, num_classes=3, dropout=0.3, reg=0.1, dtype=dtype,
                                  device=device)
    X = _randn(5, 4, dtype=dtype, device=device)
    y = _labels(5, 3, device=device)
    loss, grads = model.loss(X, y)
    assert loss.dtype == dtype and loss.device == X.device and loss.dim() == 0
    assert all(g.dtype == dtype and g.device == X.device for g in grads.values())
    scores = model.loss(X)
    assert scores.shape == (5, 3) and scores.dtype == dtype


# ------------------------------------------------------------------------------------------------
# fully_connected_networks.py: checkpoints


@pytest.mark.parametrize("hidden_dims, activation", [([5], "relu"), ([6, 4], "elu"), ([3, 3, 3], "leaky_relu")])
def test_fully_connected_net_save_and_load(tmp_path, hidden_dims, activation):
    model = fcn.FullyConnectedNet(hidden_dims, input_dim=7, num_classes=3, weight_scale=0.3, activation=activation)
    path = tmp_path / "fc_best_model.pt"
    model.save(path)
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == set(fcn.COURSE_KEYS) | set(fcn.EXTRA_KEYS)
    assert checkpoint["hidden_dims"] == hidden_dims and checkpoint["activation"] == activation
    assert checkpoint["num_layers"] == len(hidden_dims) + 1 and checkpoint["dtype"] == torch.float32
    assert checkpoint["input_dim"] == 7 and checkpoint["num_classes"] == 3
    assert all(torch.equal(checkpoint["params"][k], model.params[k]) for k in model.params)
    loaded = fcn.FullyConnectedNet([1], input_dim=2, num_classes=2, dtype=torch.float64)
    loaded.load(path)
    assert (loaded.hidden_dims, loaded.activation, loaded.num_layers) == (hidden_dims, activation, len(hidden_dims) + 1)
    assert (loaded.input_dim, loaded.num_classes) == (7, 3) and loaded.params["W1"].dtype == torch.float64
    X = _randn(4, 7, seed=60)
    assert torch.allclose(loaded.loss(X).float(), model.loss(X.float()), atol=1e-6)
    course = fcn.FullyConnectedNet([1], input_dim=2, num_classes=2)
    course.load(path, torch.float64, "cpu")  # the course's call
    assert course.dtype == torch.float64 and course.params["W1"].dtype == torch.float64
    assert torch.allclose(course.loss(X), loaded.loss(X))


def test_fc_two_layer_net_checkpoint_is_a_fully_connected_net_checkpoint(tmp_path):
    two = fcn.TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, weight_scale=0.3)
    two.save(tmp_path / "two.pt")
    checkpoint = torch.load(tmp_path / "two.pt", weights_only=True)
    assert checkpoint["hidden_dims"] == [5] and checkpoint["activation"] == "relu"
    deep = fcn.FullyConnectedNet([9, 9])
    deep.load(tmp_path / "two.pt")
    X = _randn(4, 6, dtype=torch.float32, seed=61)
    assert torch.allclose(deep.loss(X), two.loss(X))
    again = fcn.TwoLayerNet(input_dim=2, hidden_dim=2, num_classes=2)
    again.load(tmp_path / "two.pt")
    assert torch.allclose(again.loss(X), two.loss(X)) and again.hidden_dim == 5
    fcn.FullyConnectedNet([4, 4], input_dim=6, num_classes=3).save(tmp_path / "deep.pt")
    with pytest.raises(ValueError, match="not a two-layer ReLU network"):
        again.load(tmp_path / "deep.pt")


def _good_checkpoint():
    return {"params": {"W1": torch.zeros(4, 3), "b1": torch.zeros(3), "W2": torch.zeros(3, 2), "b2": torch.zeros(2)},
            "hidden_dims": [3], "activation": "relu", "input_dim": 4, "num_classes": 2}


@pytest.mark.parametrize("change, message", [
    (lambda c: torch.zeros(3), "not a network checkpoint"),
    (lambda c: {k: v for k, v in c.items() if k != "params"}, "not a network checkpoint"),
    (lambda c: {**c, "activation": "tanh"}, "activation must be one of"),
    (lambda c: {**c, "hidden_dims": [3, 3]}, r"hidden_dims is \[3, 3\], but the weights in params have \[3\]"),
    (lambda c: {**c, "hidden_dims": "3"}, "hidden_dims is '3'"),
    (lambda c: {**c, "input_dim": 5}, "input_dim is 5"),
    (lambda c: {**c, "num_classes": 3}, "num_classes is 3"),
    (lambda c: {**c, "num_layers": 3}, "num_layers is 3"),
    (lambda c: {**c, "params": {**c["params"], "b2": torch.zeros(2, dtype=torch.int64)}}, "floating tensor"),
    (lambda c: {**c, "params": {**c["params"], "b1": torch.zeros(4)}}, "do not fit"),
    (lambda c: {**c, "params": {**c["params"], "W3": torch.zeros(2, 2)}}, "params must have the keys"),
])
def test_fully_connected_net_load_validates(tmp_path, change, message):
    torch.save(change(_good_checkpoint()), tmp_path / "bad.pt")
    for model in (fcn.FullyConnectedNet([3], input_dim=4, num_classes=2), fcn.TwoLayerNet(4, 3, 2)):
        with pytest.raises(ValueError, match=message):
            model.load(tmp_path / "bad.pt")


def test_course_format_checkpoints_load(tmp_path):
    """What the course's save methods write: TwoLayerNet {reg, params}; FullyConnectedNet {reg, dtype,
    params, num_layers, use_dropout, dropout_param} (no activation: a ReLU network)."""
    source = fcn.FullyConnectedNet([5, 4], input_dim=6, num_classes=3, weight_scale=0.3, dtype=torch.float64)
    X = _randn(5, 6, seed=62)
    torch.save({"reg": 0.25, "params": {k: v for k, v in source.params.items() if k in ("W1", "b1")}
                | {"W2": _randn(5, 3, seed=63), "b2": _randn(3, seed=64)}}, tmp_path / "best_two_layer_net.pth")
    two = fcn.TwoLayerNet()
    two.load(tmp_path / "best_two_layer_net.pth", torch.float64, "cpu")
    assert (two.reg, two.input_dim, two.hidden_dim, two.num_classes) == (0.25, 6, 5, 3)
    torch.save({"reg": 0.5, "dtype": torch.float64, "params": source.params, "num_layers": 3, "use_dropout": True,
                "dropout_param": {"mode": "train", "p": 0.3, "seed": 7}}, tmp_path / "course_fc.pth")
    deep = fcn.FullyConnectedNet([1])
    deep.load(tmp_path / "course_fc.pth", torch.float64, "cpu")
    assert (deep.hidden_dims, deep.activation, deep.reg, deep.use_dropout) == ([5, 4], "relu", 0.5, True)
    assert deep.dropout_param == {"mode": "train", "p": 0.3, "seed": 7}
    assert torch.equal(deep.loss(X), source.loss(X))
    # and the course's own load reads what our save writes
    source.save(tmp_path / "ours.pt")
    checkpoint = torch.load(tmp_path / "ours.pt", map_location="cpu")
    assert (checkpoint["reg"], checkpoint["num_layers"], checkpoint["use_dropout"]) == (0.0, 3, False)
    assert set(checkpoint["params"]) == set(source.params) and checkpoint["dtype"] == torch.float64


# ------------------------------------------------------------------------------------------------
# update rules: several steps against the formulas, state included


def _reference_rule(name, w, dw, config):
    """One step of each rule, written from the lecture's formulas on float64 copies."""
    c = config
    lr = c["learning_rate"]
    if name == "sgd":
        return w - lr * dw
    if name in ("sgd_momentum", "sgd_nesterov"):
        v_prev = c["velocity"]
        c["velocity"] = c["momentum"] * v_prev - lr * dw
        if name == "sgd_momentum":
            return w + c["velocity"]
        return w - c["momentum"] * v_prev + (1 + c["momentum"]) * c["velocity"]
    if name == "adagrad":
        c["cache"] = c["cache"] + dw ** 2
        return w - lr * dw / (c["cache"].sqrt() + c["epsilon"])
    if name == "rmsprop":
        c["cache"] = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * dw ** 2
        return w - lr * dw / (c["cache"].sqrt() + c["epsilon"])
    if name == "adam":
        c["t"] += 1
        c["m"] = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
        c["v"] = c["beta2"] * c["v"] + (1 - c["beta2"]) * dw ** 2
        m_hat = c["m"] / (1 - c["beta1"] ** c["t"])
        v_hat = c["v"] / (1 - c["beta2"] ** c["t"])
        return w - lr * m_hat / (v_hat.sqrt() + c["epsilon"])
    raise AssertionError(name)


DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "sgd_nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 0},
}
STATE = {"sgd": [], "sgd_momentum": ["velocity"], "sgd_nesterov": ["velocity"], "adagrad": ["cache"],
         "rmsprop": ["cache"], "adam": ["m", "v"]}
CUSTOM = {
    "sgd": {"learning_rate": 0.3},
    "sgd_momentum": {"learning_rate": 0.05, "momentum": 0.8},
    "sgd_nesterov": {"learning_rate": 0.05, "momentum": 0.7},
    "adagrad": {"learning_rate": 0.2, "epsilon": 1e-6},
    "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-6},
    "adam": {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "t": 3},
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["sgd"] + UPDATE_RULES)
def test_update_rules_from_defaults_over_several_steps(name, dtype, device):
    rule = getattr(fcn, name)
    w = _randn(4, 5, dtype=dtype, device=device, seed=70)
    ref_w = w.double().clone()
    ref_config = {**DEFAULTS[name], **{key: torch.zeros_like(ref_w) for key in STATE[name]}}
    config = None
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for step in range(5):
        dw = _randn(4, 5, dtype=dtype, device=device, seed=71 + step)
        w_before = w.clone()
        next_w, config = rule(w, dw, config)
        if name == "sgd":  # the course's given sgd updates w in place and returns it
            assert next_w is w
        else:
            assert torch.equal(w, w_before), f"{name} modified w in place"
        ref_w = _reference_rule(name, ref_w, dw.double(), ref_config)
        assert next_w.shape == w.shape and next_w.dtype == dtype and next_w.device == w.device
        assert rel_error(next_w.double(), ref_w) < tol, (name, step)
        for key, value in DEFAULTS[name].items():
            assert config[key] == (ref_config[key] if key == "t" else value), key
        for key in STATE[name]:
            assert config[key].dtype == dtype and config[key].device == w.device
            assert rel_error(config[key].double(), ref_config[key]) < tol, (name, key, step)
        w = next_w
    if name == "adam":
        assert config["t"] == 5


@pytest.mark.parametrize("name", ["sgd"] + UPDATE_RULES)
def test_update_rules_with_given_hyperparameters_and_state(name, device):
    rule = getattr(fcn, name)
    w = _randn(3, 7, device=device, seed=80)
    state = {key: _randn(3, 7, device=device, seed=81 + i).abs() for i, key in enumerate(STATE[name])}
    config = {**CUSTOM[name], **{k: v.clone() for k, v in state.items()}}
    ref_config = {**CUSTOM[name], **{k: v.clone() for k, v in state.items()}}
    ref_w = w.clone()
    for step in range(4):
        dw = _randn(3, 7, device=device, seed=90 + step)
        w, config = rule(w, dw, config)
        ref_w = _reference_rule(name, ref_w, dw, ref_config)
        assert rel_error(w, ref_w) < 1e-12, (name, step)
        for key in STATE[name]:
            assert rel_error(config[key], ref_config[key]) < 1e-12, (name, key)
        for key, value in CUSTOM[name].items():
            assert config[key] == ref_config[key]
    if name == "adam":
        assert config["t"] == 3 + 4


def test_adam_first_step_is_bias_corrected():
    # after one step from zero moments, m_hat = dw and v_hat = dw^2: the step is lr * sign(dw)
    w = torch.zeros(5, dtype=torch.float64)
    dw = torch.tensor([1e-3, -2.0, 5.0, -1e2, 3e-2], dtype=torch.float64)
    next_w, config = fcn.adam(w, dw, {"learning_rate": 0.1, "epsilon": 0.0})
    assert torch.allclose(next_w, -0.1 * torch.sign(dw), atol=1e-12)
    assert config["t"] == 1 and torch.allclose(config["m"], 0.1 * dw) and torch.allclose(config["v"], 0.001 * dw ** 2)


def test_course_values_for_momentum_rmsprop_and_adam():
    # the course's checks: linspace inputs, expected arrays
    N, D = 4, 5
    w = torch.linspace(-0.4, 0.6, steps=N * D, dtype=torch.float64).reshape(N, D)
    dw = torch.linspace(-0.6, 0.4, steps=N * D, dtype=torch.float64).reshape(N, D)
    v = torch.linspace(0.6, 0.9, steps=N * D, dtype=torch.float64).reshape(N, D)
    next_w, config = fcn.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = torch.tensor([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]], dtype=torch.float64)
    assert rel_error(next_w, expected_next_w) < 1e-7
    cache = torch.linspace(0.6, 0.9, steps=N * D, dtype=torch.float64).reshape(N, D)
    next_w, _ = fcn.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache})
    expected_next_w = torch.tensor([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]], dtype=torch.float64)
    assert rel_error(next_w, expected_next_w) < 1e-6
    m = torch.linspace(0.6, 0.9, steps=N * D, dtype=torch.float64).reshape(N, D)
    v = torch.linspace(0.7, 0.5, steps=N * D, dtype=torch.float64).reshape(N, D)
    next_w, config = fcn.adam(w, dw, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    expected_next_w = torch.tensor([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]], dtype=torch.float64)
    assert rel_error(next_w, expected_next_w) < 1e-6
    assert config["t"] == 6


# ------------------------------------------------------------------------------------------------
# training with the Solver: the overfit check and create_solver_instance


@pytest.fixture(scope="module")
def fashion_small():
    from eecs498.data import preprocess_dataset

    return preprocess_dataset("fashion_mnist", num_train=6250)  # 5000 train, 1250 val


@pytest.mark.parametrize("depth", [3, 5])
def test_three_and_five_layer_params_overfit_50_examples(depth, fashion_small, device):
    weight_scale, learning_rate = (fcn.get_three_layer_network_params() if depth == 3
                                   else fcn.get_five_layer_network_params())
    assert type(weight_scale) is float and type(learning_rate) is float
    data = {"X_train": fashion_small["X_train"][:50], "y_train": fashion_small["y_train"][:50],
            "X_val": fashion_small["X_val"][:100], "y_val": fashion_small["y_val"][:100]}
    for seed in range(3):
        torch.manual_seed(seed)
        model = fcn.FullyConnectedNet([100] * (depth - 1), input_dim=784, weight_scale=weight_scale,
                                      dtype=torch.float32, device=device)
        solver = Solver(model, data, update_rule=solver_sgd, optim_config={"learning_rate": learning_rate},
                        batch_size=25, num_epochs=20, print_every=10 ** 6, verbose=False, device=device)
        solver.train()
        assert solver.train_acc_history[-1] == 1.0, (depth, seed, solver.train_acc_history)


def test_create_solver_instance_trains_the_two_layer_net(fashion_small, device):
    data = {k: fashion_small[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    torch.manual_seed(0)
    solver = fcn.create_solver_instance(data, torch.float32, device)
    assert isinstance(solver, Solver) and isinstance(solver.model, fcn.TwoLayerNet)
    assert solver.model.params["W1"].shape[0] == 784 and solver.model.params["W2"].shape[1] == 10
    assert 100 <= solver.model.params["W1"].shape[1] <= 512
    assert solver.model.params["W1"].dtype == torch.float32
    assert solver.model.params["W1"].device.type == torch.device(device).type
    assert solver.epoch == 0 and not solver.loss_history  # not trained yet
    solver.verbose = False
    solver.train()  # on 5,000 examples here; the full data sets are measured in the notebooks
    assert solver.best_val_acc >= 0.80


# ------------------------------------------------------------------------------------------------
# the release


@pytest.mark.parametrize("path", [TWO_LAYER_PATH, FC_PATH], ids=lambda p: p.name)
def test_strip_solutions_keeps_the_interface(path):
    source = path.read_text()
    stripped = strip_solutions(source, path.stem, str(path))
    assert "BEGIN SOLUTION" not in stripped
    assert stripped.count(": not implemented yet\")") == len(find_solution_regions(source))
    ast.parse(stripped)


@pytest.fixture(scope="module")
def a3_release(tmp_path_factory):
    assignment = load_assignment(ASSIGNMENT_DIR)
    missing = [name for name in assignment.notebooks if not (ASSIGNMENT_DIR / name).is_file()]
    if missing:
        pytest.fail(f"the release needs the notebooks {missing} in {ASSIGNMENT_DIR}")
    return assignment, release_assignment(assignment, tmp_path_factory.mktemp("a3-release"))


def test_release_of_a3_is_verified(a3_release):
    assignment, folder = a3_release
    assert verify_release(assignment, folder) == []
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "assignment.toml", "eecs498", "fully_connected_networks.ipynb", "fully_connected_networks.py",
                     "two_layer_net.ipynb", "two_layer_net.py"]
    assert not list(folder.glob("*.pt"))
    assert (folder / "eecs498" / "solver.py").is_file()


@pytest.mark.parametrize("path", [TWO_LAYER_PATH, FC_PATH], ids=lambda p: p.name)
def test_release_keeps_the_given_code_unchanged(a3_release, path):
    _, folder = a3_release

    def definitions(tree):
        found = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = node
            elif isinstance(node, ast.ClassDef):
                found.update({f"{node.name}.{m.name}": m for m in node.body if isinstance(m, ast.FunctionDef)})
        return found

    source = definitions(ast.parse(path.read_text()))
    released = definitions(ast.parse((folder / path.name).read_text()))
    assert set(source) == set(released)
    for name in GIVEN[path]:
        assert ast.dump(source[name]) == ast.dump(released[name]), f"{name} changed in the release"
    for name in STUDENT[path]:
        assert ast.dump(source[name]) != ast.dump(released[name]), f"{name} kept its solution"


STUB_CALLS = """
import torch, tempfile, os
import two_layer_net as tln, fully_connected_networks as fcn
from eecs498.solver import Solver
X = torch.randn(4, 5); y = torch.tensor([0, 1, 2, 1]); w = torch.randn(5, 3); b = torch.zeros(3)
params = {"W1": torch.randn(5, 4), "b1": torch.zeros(4), "W2": torch.randn(4, 3), "b2": torch.zeros(3)}
data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
stub_forward_pass = tln.nn_forward_pass


def working_forward_pass(params, X):  # so that nn_forward_backward reaches its own regions
    hidden = (X @ params["W1"] + params["b1"]).clamp(min=0)
    return hidden @ params["W2"] + params["b2"], hidden


def forward_backward():
    tln.nn_forward_pass = working_forward_pass
    try:
        return tln.nn_forward_backward(params, X, y, 0.1)
    finally:
        tln.nn_forward_pass = stub_forward_pass


calls = {
    "nn_forward_pass": lambda: tln.nn_forward_pass(params, X),
    "nn_forward_backward": forward_backward,
    "nn_train": lambda: tln.nn_train(params, lambda p, X, y=None, reg=0.0: (torch.zeros(()), p), None,
                                     X, y, X, y, num_iters=1),
    "nn_predict": lambda: tln.nn_predict(params, lambda p, X, y=None, reg=0.0: X[:, :3], X),
    "nn_get_search_params": tln.nn_get_search_params,
    "find_best_net": lambda: tln.find_best_net(data, lambda: ([0.1], [4], [0.0], [0.95])),
    "Linear.forward": lambda: fcn.Linear.forward(X, w, b),
    "Linear.backward": lambda: fcn.Linear.backward(torch.ones(4, 3), (X, w, b)),
    "ReLU.forward": lambda: fcn.ReLU.forward(X),
    "ReLU.backward": lambda: fcn.ReLU.backward(X, X),
    "LeakyReLU.forward": lambda: fcn.LeakyReLU.forward(X),
    "LeakyReLU.backward": lambda: fcn.LeakyReLU.backward(X, (X, 0.01)),
    "ELU.forward": lambda: fcn.ELU.forward(X),
    "ELU.backward": lambda: fcn.ELU.backward(X, (X, 1.0)),
    "Dropout.forward(train)": lambda: fcn.Dropout.forward(X, {"p": 0.5, "mode": "train"}),
    "Dropout.forward(test)": lambda: fcn.Dropout.forward(X, {"p": 0.5, "mode": "test"}),
    "Dropout.backward": lambda: fcn.Dropout.backward(X, ({"p": 0.5, "mode": "train"}, X)),
    "TwoLayerNet.__init__": lambda: fcn.TwoLayerNet(5, 4, 3),
    "FullyConnectedNet.__init__": lambda: fcn.FullyConnectedNet([4], input_dim=5, num_classes=3),
    "create_solver_instance": lambda: fcn.create_solver_instance(data, torch.float32, "cpu"),
    "get_three_layer_network_params": fcn.get_three_layer_network_params,
    "get_five_layer_network_params": fcn.get_five_layer_network_params,
    "sgd_momentum": lambda: fcn.sgd_momentum(w, w),
    "sgd_nesterov": lambda: fcn.sgd_nesterov(w, w),
    "adagrad": lambda: fcn.adagrad(w, w),
    "rmsprop": lambda: fcn.rmsprop(w, w),
    "adam": lambda: fcn.adam(w, w),
}
for name, call in calls.items():
    try:
        call()
    except NotImplementedError as exc:
        # create_solver_instance stops first in the (student) TwoLayerNet constructor
        expected = "TwoLayerNet.__init__" if name == "create_solver_instance" else name.split("(")[0]
        assert f".{expected}: not implemented yet" in str(exc), (name, str(exc))
    else:
        raise AssertionError(f"{name} did not raise NotImplementedError")

# the methods of the networks: build the objects without the (student) constructors
two = object.__new__(fcn.TwoLayerNet)
two.params, two.reg = params, 0.0
deep = object.__new__(fcn.FullyConnectedNet)
deep.params, deep.reg, deep.num_layers, deep.use_dropout = params, 0.0, 2, False
deep.dropout_param, deep.activation = {"mode": "train", "p": 0.0}, "relu"
methods = {"TwoLayerNet.loss": lambda: two.loss(X, y), "FullyConnectedNet.loss": lambda: deep.loss(X, y)}
for name, call in methods.items():
    try:
        call()
    except NotImplementedError:
        pass
    else:
        raise AssertionError(f"{name} did not raise NotImplementedError")

# the given code works
tln.hello_two_layer_net(); fcn.hello_fully_connected_networks()
Xb, yb = tln.sample_batch(X, y, 4, 7)
assert Xb.shape == (7, 5) and yb.shape == (7,)
loss, dx = fcn.softmax_loss(torch.randn(4, 3), y)
assert dx.shape == (4, 3)
loss, dx = fcn.svm_loss(torch.randn(4, 3), y)
assert dx.shape == (4, 3)
net = tln.TwoLayerNet(5, 4, 3)
assert set(net.params) == {"W1", "b1", "W2", "b2"}
with tempfile.TemporaryDirectory() as tmp:
    net.save(os.path.join(tmp, "nn.pt"))
    tln.TwoLayerNet(5, 2, 3).load(os.path.join(tmp, "nn.pt"))
    two.input_dim, two.num_classes, two.hidden_dims, two.hidden_dim = 5, 3, [4], 4
    two.activation, two.dtype, two.device = "relu", torch.float32, torch.device("cpu")
    two.save(os.path.join(tmp, "fc.pt"))
    two.load(os.path.join(tmp, "fc.pt"))
    deep.hidden_dims, deep.input_dim, deep.num_classes = [4], 5, 3
    deep.dtype, deep.device = torch.float32, torch.device("cpu")
    deep.save(os.path.join(tmp, "deep.pt"))
    deep.load(os.path.join(tmp, "deep.pt"))
next_w, config = fcn.sgd(w, w)
assert config["learning_rate"] == 1e-2
print("all stubs raise")
"""


def test_every_released_student_function_raises_not_implemented(a3_release):
    _, folder = a3_release
    proc = subprocess.run([sys.executable, "-c", STUB_CALLS], cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "all stubs raise" in proc.stdout
    assert "Hello from two_layer_net.py!" in proc.stdout and "Hello from fully_connected_networks.py!" in proc.stdout
