"""The a2_linear source solutions (assignments/a2_linear/linear_classifier.py) on course-style checks.

These are the instructor's own checks of the reference code, fast and visible; the hidden suite
that grades students lives in autograder/suites/a2_linear/. Tensor tests run on the CPU and again
on CUDA when a GPU is present (the ``device`` fixture from conftest.py). The last tests build the
release of a2_linear (nbgrader included) and check that every student function became a stub.
"""
from __future__ import annotations

import ast
import inspect
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.release import find_solution_regions, release_assignment, strip_solutions, verify_release
from eecs498.assignment import load_assignment
from helpers import body_names, import_file, loop_count
from eecs498.grad import compute_numeric_gradient, grad_check_sparse, rel_error

ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a2_linear"
MODULE_PATH = ASSIGNMENT_DIR / "linear_classifier.py"




lc = import_file(MODULE_PATH, "a2_linear_source_linear_classifier")

LOSSES = {"svm": (lc.svm_loss_naive, lc.svm_loss_vectorized),
          "softmax": (lc.softmax_loss_naive, lc.softmax_loss_vectorized)}
ALL_LOSSES = [f for pair in LOSSES.values() for f in pair]
GIVEN = {"hello_linear_classifier", "_check_reg_type", "LinearClassifier.__init__", "LinearClassifier.train",
         "LinearClassifier.predict", "LinearClassifier.loss", "LinearClassifier._loss",
         "LinearClassifier._reg_type_kwargs", "LinearClassifier.save", "LinearClassifier.load", "LinearSVM.loss",
         "Softmax.loss"}







def _problem(num_train=40, dim=20, num_classes=5, dtype=torch.float64, device="cpu", seed=0, scale=0.01):
    """Small random W, X, y on ``device``: Gaussian data, weights of size ``scale``."""
    generator = torch.Generator().manual_seed(seed)
    W = (scale * torch.randn(dim, num_classes, generator=generator, dtype=torch.float64)).to(device, dtype)
    X = torch.randn(num_train, dim, generator=generator, dtype=torch.float64).to(device, dtype)
    y = torch.randint(num_classes, (num_train,), generator=generator).to(device)
    return W, X, y


# ------------------------------------------------------------------------------------------------
# the module as a file


def test_every_student_function_has_a_solution_region():
    source = MODULE_PATH.read_text()
    regions = {region.function for region in find_solution_regions(source, MODULE_PATH.name)}
    tree = ast.parse(source)
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    functions |= {f"{cls.name}.{node.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
                  for node in cls.body if isinstance(node, ast.FunctionDef)}
    assert regions == functions - GIVEN


def test_module_imports_only_torch_and_the_standard_library():
    tree = ast.parse(MODULE_PATH.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"torch", "typing", "__future__"} | set(sys.stdlib_module_names)
    assert "eecs498" not in imported and "numpy" not in imported


def test_hello(capsys):
    lc.hello_linear_classifier()
    assert capsys.readouterr().out.strip() == "Hello from linear_classifier.py!"


EMPTY = inspect.Parameter.empty


def signature(function) -> list[tuple[str, object]]:
    """(name, default) of each parameter; ``inspect.Parameter.empty`` when there is no default."""
    return [(name, p.default) for name, p in inspect.signature(function).parameters.items()]


@pytest.mark.parametrize("function", ALL_LOSSES, ids=lambda f: f.__name__)
def test_loss_signatures_are_the_course_s_plus_a_reg_type_keyword_defaulting_to_l2(function):
    assert signature(function) == [("W", EMPTY), ("X", EMPTY), ("y", EMPTY), ("reg", EMPTY), ("reg_type", "l2")]


COURSE_SIGNATURES = {  # the 2022 starter code's (2020's is the same)
    "hello_linear_classifier": [],
    "sample_batch": [("X", EMPTY), ("y", EMPTY), ("num_train", EMPTY), ("batch_size", EMPTY)],
    "train_linear_classifier": [("loss_func", EMPTY), ("W", EMPTY), ("X", EMPTY), ("y", EMPTY),
                                ("learning_rate", 1e-3), ("reg", 1e-5), ("num_iters", 100), ("batch_size", 200),
                                ("verbose", False)],
    "predict_linear_classifier": [("W", EMPTY), ("X", EMPTY)],
    "svm_get_search_params": [],
    "softmax_get_search_params": [],
    "test_one_param_set": [("cls", EMPTY), ("data_dict", EMPTY), ("lr", EMPTY), ("reg", EMPTY),
                           ("num_iters", 2000)],
    "LinearClassifier.train": [("self", EMPTY), ("X_train", EMPTY), ("y_train", EMPTY), ("learning_rate", 1e-3),
                               ("reg", 1e-5), ("num_iters", 100), ("batch_size", 200), ("verbose", False)],
    "LinearClassifier.predict": [("self", EMPTY), ("X", EMPTY)],
    "LinearClassifier.loss": [("self", EMPTY), ("W", EMPTY), ("X_batch", EMPTY), ("y_batch", EMPTY), ("reg", EMPTY)],
    "LinearClassifier._loss": [("self", EMPTY), ("X_batch", EMPTY), ("y_batch", EMPTY), ("reg", EMPTY)],
    "LinearClassifier.save": [("self", EMPTY), ("path", EMPTY)],
    "LinearClassifier.load": [("self", EMPTY), ("path", EMPTY)],
    "LinearSVM.loss": [("self", EMPTY), ("W", EMPTY), ("X_batch", EMPTY), ("y_batch", EMPTY), ("reg", EMPTY)],
    "Softmax.loss": [("self", EMPTY), ("W", EMPTY), ("X_batch", EMPTY), ("y_batch", EMPTY), ("reg", EMPTY)],
}


@pytest.mark.parametrize("qualname", sorted(COURSE_SIGNATURES))
def test_names_signatures_and_defaults_are_the_course_s(qualname):
    owner, _, name = qualname.rpartition(".")
    function = getattr(getattr(lc, owner), name) if owner else getattr(lc, name)
    assert signature(function) == COURSE_SIGNATURES[qualname]


def test_classifiers_are_built_the_course_s_way():
    """LinearSVM() / Softmax() take no argument (reg_type is a keyword defaulting to 'l2'), seed
    Python's and torch's generators with 0 like the course's template class, and start without W."""
    assert signature(lc.LinearClassifier.__init__) == [("self", EMPTY), ("reg_type", "l2")]
    for cls in (lc.LinearSVM, lc.Softmax):
        torch.manual_seed(123)
        random.seed(123)
        model = cls()
        assert model.W is None and model.reg_type == "l2"
        after_torch, after_random = torch.randn(3), random.random()
        torch.manual_seed(0)
        random.seed(0)
        assert torch.equal(after_torch, torch.randn(3)) and after_random == random.random()


def test_loop_rules_and_bans():
    for naive, vectorized in LOSSES.values():
        assert loop_count(naive) >= 1, f"{naive.__name__} should loop over the examples"
        assert loop_count(vectorized) == 0, f"{vectorized.__name__} must not loop"
    assert loop_count(lc.svm_loss_naive) >= 2  # over the examples and over the classes
    for function in ALL_LOSSES + [lc.predict_linear_classifier, lc.sample_batch]:
        banned = body_names(function) & {"nn", "autograd", "backward", "requires_grad", "cross_entropy",
                                     "log_softmax", "softmax", "cuda", "float32"}
        assert not banned, f"{function.__name__} uses {banned}"


# ------------------------------------------------------------------------------------------------
# losses: values, gradients, agreement


@pytest.mark.parametrize("reg_type", ["l2", "l1"])
@pytest.mark.parametrize("name", ["svm", "softmax"])
def test_naive_and_vectorized_agree_in_float64(name, reg_type, device):
    naive, vectorized = LOSSES[name]
    W, X, y = _problem(num_train=64, dim=30, num_classes=7, device=device)
    for reg in (0.0, 0.05, 3.0):
        loss_n, grad_n = naive(W, X, y, reg, reg_type=reg_type)
        loss_v, grad_v = vectorized(W, X, y, reg, reg_type=reg_type)
        assert rel_error(loss_n, loss_v) < 1e-6 and rel_error(grad_n, grad_v) < 1e-6, (reg, reg_type)


@pytest.mark.parametrize("function", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_and_gradient_keep_dtype_device_and_shape(function, dtype, device):
    W, X, y = _problem(dtype=dtype, device=device)
    loss, dW = function(W, X, y, 0.1)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0
    assert loss.dtype == dtype and loss.device == W.device
    assert dW.shape == W.shape and dW.dtype == dtype and dW.device == W.device
    assert torch.isfinite(loss) and torch.isfinite(dW).all()


@pytest.mark.parametrize("reg_type", ["l2", "l1"])
@pytest.mark.parametrize("function", ALL_LOSSES, ids=lambda f: f.__name__)
def test_gradient_matches_numeric_gradient(function, reg_type):
    W, X, y = _problem(num_train=30, dim=12, num_classes=4, scale=0.1, seed=1)
    reg = 0.1
    _, dW = function(W, X, y, reg, reg_type=reg_type)
    numeric = compute_numeric_gradient(lambda w: function(w, X, y, reg, reg_type=reg_type)[0], W.clone())
    assert rel_error(dW, numeric) < 1e-5


@pytest.mark.parametrize("name", ["svm", "softmax"])
def test_sparse_gradient_check_like_the_course(name, capsys):
    _, vectorized = LOSSES[name]
    W, X, y = _problem(num_train=128, dim=100, num_classes=10, scale=1e-4, seed=2)
    random.seed(0)  # grad_check_sparse picks its entries with Python's random
    for reg in (0.0, 1e3):
        _, dW = vectorized(W, X, y, reg)
        # h = 1e-6: with h = 1e-7 float64 rounding of a loss near 2.3 is ~2e-9 of the gradient,
        # too much for the 1e-5 bound on the smallest entries (~1e-4) of the unregularized gradient
        errors = grad_check_sparse(lambda w: vectorized(w, X, y, reg)[0], W.clone(), dW, num_checks=20, h=1e-6)
        assert max(errors) < 1e-5
    assert "relative error" in capsys.readouterr().out


def test_svm_loss_on_a_worked_example():
    # scores of the one example: (1, 3, 2.5); correct class 0 -> max(0, 3 - 1 + 1) + max(0, 2.5 - 1 + 1)
    W = torch.tensor([[1.0, 3.0, 2.5]], dtype=torch.float64)
    X = torch.tensor([[1.0]], dtype=torch.float64)
    y = torch.tensor([0])
    for function in LOSSES["svm"]:
        loss, dW = function(W, X, y, 0.0)
        assert loss.item() == pytest.approx(3.0 + 2.5)
        assert dW.tolist() == [[-2.0, 1.0, 1.0]]


def test_softmax_loss_is_stable_for_huge_scores():
    W = torch.tensor([[1000.0, 0.0, -1000.0]], dtype=torch.float64)
    X = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    for function in LOSSES["softmax"]:
        loss, dW = function(W, X, y, 0.0)
        assert torch.isfinite(loss) and torch.isfinite(dW).all()
        assert loss.item() == pytest.approx(1000.0)  # example 0: -log 1 = 0; example 1: 2000 / 2


@pytest.mark.parametrize("name, expected", [("svm", 9.0), ("softmax", math.log(10))])
def test_initial_loss_with_tiny_weights(name, expected):
    W, X, y = _problem(num_train=500, dim=50, num_classes=10, scale=1e-6, dtype=torch.float32)
    for function in LOSSES[name]:
        loss, _ = function(W, X, y, 0.0)
        assert loss.item() == pytest.approx(expected, abs=1e-3)
        loss_reg, _ = function(W, X, y, 1e3)  # tiny W: the regularization adds next to nothing
        assert loss_reg.item() == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("function", ALL_LOSSES, ids=lambda f: f.__name__)
def test_regularization_terms_l2_and_l1(function):
    W, X, y = _problem(seed=3, scale=0.5)
    W[0, 0] = 0.0  # sign(0) = 0: no L1 gradient there
    reg = 0.7
    loss0, grad0 = function(W, X, y, 0.0)
    loss2, grad2 = function(W, X, y, reg, reg_type="l2")
    loss1, grad1 = function(W, X, y, reg, reg_type="l1")
    assert (loss2 - loss0).item() == pytest.approx(reg * (W * W).sum().item(), rel=1e-10)
    assert rel_error(grad2 - grad0, 2 * reg * W) < 1e-10
    assert (loss1 - loss0).item() == pytest.approx(reg * W.abs().sum().item(), rel=1e-10)
    assert rel_error(grad1 - grad0, reg * torch.sign(W)) < 1e-10
    assert (grad1 - grad0)[0, 0].item() == pytest.approx(0.0, abs=1e-12)
    assert torch.equal(function(W, X, y, reg)[0], loss2)  # l2 is the default


@pytest.mark.parametrize("function", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", ["l3", "L2", "", None, "elasticnet"])
def test_unknown_reg_type_is_a_value_error_naming_the_choices(function, bad):
    W, X, y = _problem()
    with pytest.raises(ValueError, match="'l2', 'l1'"):
        function(W, X, y, 0.1, reg_type=bad)


def test_classifier_reg_type_is_passed_to_the_loss():
    W, X, y = _problem(scale=0.3)
    for cls, loss in ((lc.LinearSVM, lc.svm_loss_vectorized), (lc.Softmax, lc.softmax_loss_vectorized)):
        for reg_type in ("l1", "l2"):
            model = cls(reg_type=reg_type)
            assert torch.equal(model.loss(W, X, y, 0.2)[0], loss(W, X, y, 0.2, reg_type=reg_type)[0])
        assert cls().reg_type == "l2"
        with pytest.raises(ValueError, match="reg_type"):
            cls(reg_type="l0")


@pytest.mark.parametrize("cls, name", [(lc.LinearSVM, "svm_loss_vectorized"), (lc.Softmax, "softmax_loss_vectorized")])
def test_an_l2_classifier_calls_its_loss_the_course_s_way(cls, name, monkeypatch):
    """With the default reg_type the classes call loss(W, X, y, reg) with no keyword, so a loss
    written to the course's signature trains; only L1 passes reg_type."""
    calls = []
    monkeypatch.setattr(lc, name, lambda *args, **kwargs: calls.append((len(args), kwargs)) or (0.0, args[0]))
    W, X, y = _problem()
    cls().loss(W, X, y, 0.1)
    cls(reg_type="l1").loss(W, X, y, 0.1)
    assert calls == [(4, {}), (4, {"reg_type": "l1"})]


def test_underscore_loss_is_the_loss_at_the_classifier_s_weights():
    W, X, y = _problem(scale=0.3)
    model = lc.Softmax()
    model.W = W
    loss, dW = model._loss(X, y, 0.2)
    expected_loss, expected_dW = lc.softmax_loss_vectorized(W, X, y, 0.2)
    assert torch.equal(loss, expected_loss) and torch.equal(dW, expected_dW)


def test_inputs_are_not_modified():
    W, X, y = _problem()
    copies = (W.clone(), X.clone(), y.clone())
    for function in ALL_LOSSES:
        function(W, X, y, 0.5, reg_type="l1")
    assert all(torch.equal(a, b) for a, b in zip((W, X, y), copies))


# ------------------------------------------------------------------------------------------------
# training, prediction, search


def test_sample_batch_shapes_device_and_pairs(device):
    X = torch.arange(60, dtype=torch.float32, device=device).reshape(20, 3)
    y = torch.arange(20, device=device)
    torch.manual_seed(0)
    X_batch, y_batch = lc.sample_batch(X, y, 20, 50)  # more than num_train: with replacement
    assert X_batch.shape == (50, 3) and y_batch.shape == (50,)
    assert X_batch.device == X.device and y_batch.device == X.device
    assert X_batch.dtype == torch.float32 and y_batch.dtype == torch.int64
    assert torch.equal(X_batch, X[y_batch])  # each row keeps its own label
    assert len(set(y_batch.tolist())) < 50  # duplicates: drawn with replacement
    torch.manual_seed(0)
    again, _ = lc.sample_batch(X, y, 20, 50)
    assert torch.equal(again, X_batch)  # torch's generator: reproducible with reset_seed


def test_sample_batch_uses_torch_randint():
    assert "randint" in body_names(lc.sample_batch)


def _separable(num_per_class=50, device="cpu", dtype=torch.float32, seed=0):
    """Three well separated Gaussian blobs in 2-D, with the bias trick applied."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 3.0], [-3.0, -3.0]])
    X = torch.cat([c + 0.5 * torch.randn(num_per_class, 2, generator=generator) for c in centers])
    X = torch.cat([X, torch.ones(len(X), 1)], dim=1)
    y = torch.arange(3).repeat_interleave(num_per_class)
    return X.to(device, dtype), y.to(device)


@pytest.mark.parametrize("loss", [lc.svm_loss_vectorized, lc.softmax_loss_vectorized], ids=["svm", "softmax"])
def test_training_lowers_the_loss_on_a_separable_toy_set(loss, device):
    X, y = _separable(device=device)
    torch.manual_seed(0)
    W, history = lc.train_linear_classifier(loss, None, X, y, learning_rate=0.1, reg=1e-4,
                                            num_iters=200, batch_size=32)
    assert W.shape == (3, 3) and W.dtype == X.dtype and W.device == X.device
    assert len(history) == 200 and all(type(v) is float for v in history)
    assert sum(history[-20:]) / 20 < 0.2 * history[0]
    assert (lc.predict_linear_classifier(W, X) == y).double().mean().item() == 1.0


def test_training_starts_from_tiny_random_weights_and_continues_from_given_ones():
    X, y = _separable()
    torch.manual_seed(0)
    W, history = lc.train_linear_classifier(lc.softmax_loss_vectorized, None, X, y, num_iters=1)
    assert history[0] == pytest.approx(math.log(3), abs=1e-4)  # W starts tiny: log C
    W0 = torch.zeros(3, 3)
    W1, _ = lc.train_linear_classifier(lc.svm_loss_vectorized, W0, X, y, learning_rate=0.5, num_iters=3)
    assert not torch.equal(W1, W0) and W1.shape == (3, 3)


def test_training_takes_plain_sgd_steps():
    X, y = _separable()
    W0 = 0.01 * torch.ones(3, 3, dtype=torch.float32)
    torch.manual_seed(5)
    W1, _ = lc.train_linear_classifier(lc.svm_loss_vectorized, W0.clone(), X, y, learning_rate=0.3,
                                       reg=0.01, num_iters=1, batch_size=10)
    torch.manual_seed(5)
    X_batch, y_batch = lc.sample_batch(X, y, len(X), 10)
    _, grad = lc.svm_loss_vectorized(W0, X_batch, y_batch, 0.01)
    assert torch.allclose(W1, W0 - 0.3 * grad)


def test_predict_shapes_dtype_and_argmax(device):
    W = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], device=device)
    X = torch.tensor([[3.0, 1.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]], device=device)
    y_pred = lc.predict_linear_classifier(W, X)
    assert y_pred.dtype == torch.int64 and y_pred.shape == (4,) and y_pred.device == X.device
    assert y_pred.tolist() == [0, 1, 2, 0]  # the last row ties everywhere: the first class


def test_search_params_are_small_grids_of_floats():
    for get in (lc.svm_get_search_params, lc.softmax_get_search_params):
        learning_rates, regs = get()
        assert isinstance(learning_rates, list) and isinstance(regs, list)
        assert len(learning_rates) >= 2 and len(regs) >= 2 and len(learning_rates) * len(regs) < 25
        assert all(isinstance(v, float) and v > 0 for v in learning_rates + regs)


@pytest.mark.parametrize("cls", [lc.LinearSVM, lc.Softmax])
def test_test_one_param_set_returns_fractions(cls, device):
    X, y = _separable(device=device)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0)).to(device)
    X, y = X[order], y[order]
    data = {"X_train": X[:120], "y_train": y[:120], "X_val": X[120:], "y_val": y[120:]}
    torch.manual_seed(0)
    model = cls()
    returned, train_acc, val_acc = lc.test_one_param_set(model, data, 0.1, 1e-4, num_iters=100)
    assert returned is model and model.W.shape == (3, 3)
    assert type(train_acc) is float and type(val_acc) is float
    assert train_acc == 1.0 and val_acc == 1.0


# ------------------------------------------------------------------------------------------------
# classifiers: save and load


def test_save_and_load_roundtrip(tmp_path, capsys):
    X, y = _separable()
    torch.manual_seed(0)
    svm = lc.LinearSVM()
    svm.train(X, y, learning_rate=0.1, num_iters=50)
    path = tmp_path / "svm_best_model.pt"
    svm.save(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"W"} and torch.equal(checkpoint["W"], svm.W)
    loaded = lc.LinearSVM()
    loaded.load(path)
    assert torch.equal(loaded.W, svm.W) and torch.equal(loaded.predict(X), svm.predict(X))
    assert torch.equal(loaded.predict(X.double()), svm.predict(X))  # follows the data's dtype
    assert "Saved in" in capsys.readouterr().out


def test_a_checkpoint_saved_the_course_s_way_loads_and_predicts(tmp_path):
    """The course's save writes {'W': W} as trained: float64 in its notebook (on the GPU there; load
    reads with map_location='cpu'); predict follows the data's dtype, and other keys are ignored."""
    X, y = _separable()
    W = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.save({"W": W}, tmp_path / "svm_best_model.pt")
    model = lc.LinearSVM()
    model.load(tmp_path / "svm_best_model.pt")
    assert model.W.dtype == torch.float64 and torch.equal(model.W, W)
    assert torch.equal(model.predict(X), (X.double() @ W).argmax(dim=1))
    torch.save({"W": W, "note": "extra keys are ignored, as the course's load does"}, tmp_path / "extra.pt")
    lc.Softmax().load(tmp_path / "extra.pt")


@pytest.mark.parametrize("content, message", [
    ({"weights": torch.zeros(3, 3)}, "key 'W'"),
    (torch.zeros(3, 3), "expected a dict"),
    ({"W": torch.zeros(9)}, "2-dim floating"),
    ({"W": torch.zeros(3, 3, dtype=torch.int64)}, "2-dim floating"),
])
def test_loading_a_wrong_checkpoint_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "wrong.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        lc.Softmax().load(path)


def test_loading_weights_of_another_shape_is_refused(tmp_path):
    torch.save({"W": torch.zeros(785, 10)}, tmp_path / "fashion.pt")
    model = lc.Softmax()
    model.W = torch.zeros(3073, 10)
    with pytest.raises(ValueError, match=r"\(785, 10\).*\(3073, 10\)"):
        model.load(tmp_path / "fashion.pt")


def test_predict_and_save_before_training_explain_themselves(tmp_path):
    with pytest.raises(RuntimeError, match="train it or load"):
        lc.LinearSVM().predict(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="nothing to save"):
        lc.LinearSVM().save(tmp_path / "x.pt")


# ------------------------------------------------------------------------------------------------
# the release


def test_strip_solutions_keeps_the_interface():
    source = MODULE_PATH.read_text()
    stripped = strip_solutions(source, "linear_classifier", str(MODULE_PATH))
    assert "BEGIN SOLUTION" not in stripped and "W = W - learning_rate * grad" not in stripped
    assert stripped.count(": not implemented yet\")") == len(find_solution_regions(source))


@pytest.fixture(scope="module")
def a2_release(tmp_path_factory):
    assignment = load_assignment(ASSIGNMENT_DIR)
    return assignment, release_assignment(assignment, tmp_path_factory.mktemp("a2-release"))


def test_release_of_a2_is_verified(a2_release):
    assignment, folder = a2_release
    assert verify_release(assignment, folder) == []
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "assignment.toml", "eecs498", "linear_classifier.ipynb", "linear_classifier.py"]
    assert not list(folder.glob("*.pt"))


STUB_CALLS = """
import torch, linear_classifier as lc
W = torch.zeros(5, 3); X = torch.zeros(4, 5); y = torch.zeros(4, dtype=torch.int64)
data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
calls = {
    "svm_loss_naive": lambda: lc.svm_loss_naive(W, X, y, 0.1),
    "svm_loss_vectorized": lambda: lc.svm_loss_vectorized(W, X, y, 0.1),
    "softmax_loss_naive": lambda: lc.softmax_loss_naive(W, X, y, 0.1),
    "softmax_loss_vectorized": lambda: lc.softmax_loss_vectorized(W, X, y, 0.1),
    "sample_batch": lambda: lc.sample_batch(X, y, 4, 2),
    "train_linear_classifier": lambda: lc.train_linear_classifier(lc.svm_loss_vectorized, W, X, y),
    "predict_linear_classifier": lambda: lc.predict_linear_classifier(W, X),
    "svm_get_search_params": lc.svm_get_search_params,
    "softmax_get_search_params": lc.softmax_get_search_params,
    "test_one_param_set": lambda: lc.test_one_param_set(lc.LinearSVM(), data, 0.1, 0.1),
}
for name, call in calls.items():
    try:
        call()
    except NotImplementedError as exc:
        assert name in str(exc), (name, str(exc))
    else:
        raise AssertionError(f"{name} did not raise NotImplementedError")
try:
    lc.svm_loss_vectorized(W, X, y, 0.1, reg_type="l3")
except ValueError:
    pass
lc.hello_linear_classifier()
print("all stubs raise")
"""


def test_every_released_student_function_raises_not_implemented(a2_release):
    _, folder = a2_release
    proc = subprocess.run([sys.executable, "-c", STUB_CALLS], cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "all stubs raise" in proc.stdout and "Hello from linear_classifier.py!" in proc.stdout
