"""a4_cnn graded end to end: what its sample class's students lose and why, and the suite's own
pieces.

The sample class (autograder/suites/a4_cnn/sample_class.py: mutants of the source solutions,
checkpoints trained with them on Fashion-MNIST) is graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps is in test_assignments.py. Each kind of submission
must lose exactly the points its defect deserves, with a message that says what to fix.
"""
from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
import torch

from autograder.samples import replace_functions, replace_methods, sample_class_module, source_module_with_given
from autograder.suite import suite_dir
from eecs498.assignment import find_assignment
from helpers import import_file, lost

pytestmark = pytest.mark.xdist_group("a4_cnn")

ASSIGNMENT = find_assignment("a4_cnn")
SAMPLE = sample_class_module(ASSIGNMENT)
CONV, NN = "convolutional_networks.py", "pytorch_autograd_and_nn.py"
MODEL_TESTS = {
    "one_minute_deepconvnet.pt reaches the target accuracy on the held-out test set",
    "overfit_deepconvnet.pt classifies all of the 50 training images it was overfit on",
}
SPATIAL_FORWARD = ("SpatialBatchNorm.forward: each channel over the N images and their H x W pixels, running "
                   "statistics (C,)")
CONV_FORWARD = ("Conv.forward: strides 1-3, paddings 0-2, square and non-square images and filters "
                "(float64, float32)")
CONV_NAIVE_TESTS = {
    CONV_FORWARD,
    "Conv.backward: dx, dw and db for the same strides, paddings and filter sizes",
    "Conv.backward: dx, dw and db are the gradients of Conv.forward (numeric gradient check)",
}


def source(name: str) -> str:
    return (ASSIGNMENT.root / name).read_text()


@pytest.fixture(scope="module")
def graded(sample_class):
    return sample_class("a4_cnn")


@pytest.fixture(scope="module")
def class_grades(graded) -> dict:
    return graded.grades


@pytest.fixture(scope="module")
def checkpoints(graded) -> dict[str, bytes]:
    """The two checkpoints trained with the source solutions on Fashion-MNIST."""
    return graded.kit.checkpoints


def points(grade, names: set[str]) -> float:
    return sum(t.max_score for t in grade.tests if t.name in names)


# ----------------------------------------------------------------------------------------------
# the suite's own pieces


def test_mutants_apply():
    """Each mutant really changes the methods it names, and only those."""
    for module, methods in ((CONV, SAMPLE.SPATIAL_BATCHNORM_OVER_PIXELS), (CONV, SAMPLE.CONV_WITH_F_PAD),
                            (CONV, SAMPLE.SPATIAL_BACKWARD_THROUGH_BACKWARD), (NN, SAMPLE.THREE_LAYER_MODULE_DEFAULTS),
                            (CONV, SAMPLE.SPATIAL_BATCHNORM_MIXING_CHANNELS),
                            (CONV, SAMPLE.CONV_THROUGH_FAST_LAYER), (NN, SAMPLE.HOSTILE_BLOCK)):
        text = source(module)
        mutated = replace_methods(text, methods)
        assert mutated != text and compile(mutated, module, "exec")
        assert _definitions(mutated) == _definitions(text)
        changed = {name for name in _definitions(text) if "." in name and _body(text, name) != _body(mutated, name)}
        assert changed == set(methods)
    nn_module = replace_functions(source(NN), {"initialize_three_layer_conv_part3": SAMPLE.PART3_WITH_MOMENTUM})
    assert "momentum=0.9" in nn_module and _definitions(nn_module) == _definitions(source(NN))


def _definitions(text: str) -> set[str]:
    tree = ast.parse(text)
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return names | {f"{cls.name}.{item.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
                    for item in cls.body if isinstance(item, ast.FunctionDef)}


def _body(text: str, qualname: str) -> str:
    node = ast.parse(text)
    for part in qualname.split("."):
        node = next(n for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
    return ast.dump(node)


def test_checkpoints_reach_the_targets(checkpoints):
    """The checkpoints the complete submission uses really reach the toml targets (trusted side),
    through the suite's own forward pass, which agrees with the source network's."""
    from eecs498.data import preprocess_dataset

    models = import_file(suite_dir("a4_cnn") / "test_trained_models.py", "a4_suite_trained_models")
    data = preprocess_dataset("fashion_mnist", flatten=False)
    one_minute = torch.load(io.BytesIO(checkpoints["one_minute_deepconvnet.pt"]), weights_only=True)
    overfit = torch.load(io.BytesIO(checkpoints["overfit_deepconvnet.pt"]), weights_only=True)
    targets = ASSIGNMENT.targets["fashion_mnist"]
    network = models.network_of(one_minute, "one_minute_deepconvnet.pt")
    assert models.accuracy(network, data["X_test"], data["y_test"]) >= targets["convnet_test"]
    assert models.accuracy(models.network_of(overfit, "overfit_deepconvnet.pt"), data["X_train"][:50],
                           data["y_train"][:50]) >= targets["overfit_train"]
    assert one_minute["batchnorm"] and len(one_minute["bn_params"]) == len(one_minute["num_filters"])
    # the same network saved the course's way (its keys, other parameter names) scores the same
    course = torch.load(io.BytesIO(SAMPLE.course_format(checkpoints["one_minute_deepconvnet.pt"], {"gamma": "g"})),
                        weights_only=True)
    assert "num_filters" not in course and "g1" in course["params"]
    course_network = models.network_of(course, "one_minute_deepconvnet.pth")
    assert course_network["format"] == "the course's" and network["format"] == "ours"
    X = data["X_test"][:500]
    assert torch.equal(models.scores_of(course_network, X), models.scores_of(network, X))


def test_a_network_too_costly_to_run_is_refused_before_it_runs(checkpoints):
    """The reference network is far inside the bounds of assignment.toml; a deep one with few
    numbers but 30 layers of 64 filters at full resolution needs more operations per image than
    the grader may spend on it (10,000 test images)."""
    models = import_file(suite_dir("a4_cnn") / "test_trained_models.py", "a4_suite_trained_models")
    bound = ASSIGNMENT.checkpoints["one_minute_deepconvnet.pt"]["max_flops"]
    reference = models.network_of(torch.load(io.BytesIO(checkpoints["one_minute_deepconvnet.pt"]), weights_only=True),
                                  "one_minute_deepconvnet.pt")
    assert models.forward_flops(reference) < bound / 10
    deep = {"input_dims": (1, 28, 28), "filters": [64] * 30, "pools": set()}
    assert models.forward_flops(deep) > bound


def test_the_suite_network_matches_the_source_network(checkpoints, tmp_path):
    """The grader's forward pass of a checkpoint gives the scores of DeepConvNet.load + loss(X)."""
    module = source_module_with_given(ASSIGNMENT, CONV, "a4_source_convolutional_networks")
    models = import_file(suite_dir("a4_cnn") / "test_trained_models.py", "a4_suite_trained_models")
    path = tmp_path / "one_minute_deepconvnet.pt"
    path.write_bytes(checkpoints["one_minute_deepconvnet.pt"])
    network = module.DeepConvNet(input_dims=(1, 28, 28))
    network.load(path)
    X = torch.randn(7, 1, 28, 28)
    checkpoint = torch.load(path, weights_only=True)
    assert torch.allclose(models.scores_of(models.network_of(checkpoint, path.name), X), network.loss(X), atol=1e-4)


# ----------------------------------------------------------------------------------------------
# whole submissions


def test_test_names_are_unique_and_every_group_has_tests(class_grades):
    tests = class_grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in ASSIGNMENT.groups}
    assert MODEL_TESTS | CONV_NAIVE_TESTS | {SPATIAL_FORWARD} <= set(names)


def test_spatial_batchnorm_over_the_wrong_axes_is_told_which_axes(class_grades):
    grade = class_grades["cat_spatial_batchnorm_wrong_axes"]
    failed = lost(grade)
    assert SPATIAL_FORWARD in failed
    message = failed[SPATIAL_FORWARD]
    assert "normalizes over the axes (H, W)" in message and "instance normalization" in message, message
    assert "it should normalize over (N, H, W)" in message, message
    groups = {t.group for t in grade.tests if not t.passed}
    assert groups <= {"spatial_batchnorm", "conv_nets"}, groups  # the batchnorm conv nets use the same layer
    assert grade.score >= ASSIGNMENT.max_score - ASSIGNMENT.group("spatial_batchnorm").points \
        - ASSIGNMENT.group("conv_nets").points


def test_spatial_batchnorm_mixing_channels_is_told_to_move_the_channel_axis(class_grades):
    failed = lost(class_grades["fay_spatial_batchnorm_mixing_channels"])
    message = failed[SPATIAL_FORWARD]
    assert "mixes the channels" in message and "permute(0, 2, 3, 1)" in message, message


def test_convolution_through_the_fast_layer_loses_the_naive_convolution_tests(class_grades):
    grade = class_grades["dan_conv_through_fast_layer"]
    failed = lost(grade)
    assert set(failed) == CONV_NAIVE_TESTS
    for message in failed.values():
        assert "Conv.forward calls FastConv" in message and "write the computation yourself" in message, message
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("conv_naive").points)


def test_hostile_submission_loses_only_its_checkpoint_and_reads_nothing(class_grades):
    grade = class_grades["eve_hostile"]
    failed = lost(grade)
    assert set(failed) == {"overfit_deepconvnet.pt classifies all of the 50 training images it was overfit on"}
    assert "could not be read" in next(iter(failed.values()))
    assert not Path("/tmp/eecs498-demo-block").exists(), "the sandbox let the block write outside its folder"
    assert not Path("/tmp/eecs498-demo-pwned").exists(), "a checkpoint was unpickled"


def test_the_course_habits_score_full_marks(class_grades):
    """F.pad in the naive convolution (and a function-local import of torch.nn.functional used only for
    pad), SpatialBatchNorm.backward through BatchNorm.backward (other rounding, so another zero-ish
    gradient for the convolution biases before batchnorm), batchnorm scales named g1, g2..., and
    checkpoints saved the course's way (.pth files, the course's keys and those names) lose nothing."""
    grade = class_grades["gil_course_habits"]
    assert lost(grade) == {}
    assert grade.score == pytest.approx(ASSIGNMENT.max_score)
    passed = {t.name for t in grade.tests if t.passed}
    assert CONV_NAIVE_TESTS | MODEL_TESTS <= passed


PART3_TESTS = {
    "initialize_three_layer_conv_part3(): ThreeLayerConvNet(3, 32, 16, 10) and SGD (learning rate 3e-3, weight decay "
    "1e-4, no momentum)",
    "Beyond the course: input_dims / image_size build the three networks for 1x28x28 images and 7 classes",
}
INIT_TEST = "ThreeLayerConvNet.__init__: Kaiming normal weights (nn.init.kaiming_normal_) and zero biases"


def test_default_initialization_and_momentum_lose_exactly_their_tests(class_grades):
    grade = class_grades["hal_three_layer_defaults_and_momentum"]
    failed = lost(grade)
    assert set(failed) == PART3_TESTS | {INIT_TEST}, failed
    assert "kaiming_normal_" in failed[INIT_TEST] and "standard deviation" in failed[INIT_TEST], failed[INIT_TEST]
    for name in PART3_TESTS:
        assert "momentum=0.9; expected momentum=0" in failed[name], failed[name]


def test_an_identity_sigmoid_earns_nothing_from_the_gradient_check(class_grades):
    """A stable_sigmoid that returns its input has the gradient of its own forward pass (ones):
    the gradient check pays only once the values are the sigmoid's."""
    gradcheck = "StableSigmoid: its backward agrees with centered differences of its forward (float64)"
    failed = lost(class_grades["null_inputs"])
    assert "is not the sigmoid" in failed[gradcheck], failed[gradcheck]


# ----------------------------------------------------------------------------------------------
# the suite's readers, on their own


class _Source:
    """A stand-in for the ``student`` fixture that only has a submitted source."""

    def __init__(self, text: str):
        self.text = text

    def source(self, filename: str) -> str:
        return self.text


CONV_SUITE = import_file(suite_dir("a4_cnn") / "test_convolutional_networks.py", "a4_suite_convolutional_networks")
PAD_LINES = ("        x_pad = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)\n"
             "        x_pad[:, :, pad:pad + H, pad:pad + W] = x\n"
             "        w_rows = w.reshape(num_filters, -1)  # (F, C*HH*WW)")


def _conv_forward_padding(line: str) -> str:
    text = source(CONV)
    assert PAD_LINES in text
    return text.replace(PAD_LINES, f"        {line}\n        w_rows = w.reshape(num_filters, -1)")


@pytest.mark.parametrize("line", [
    "x_pad = F.pad(x, (pad, pad, pad, pad))",
    "x_pad = torch.nn.functional.pad(x, (pad,) * 4)",
    "import torch.nn.functional as G; x_pad = G.pad(x, (pad,) * 4)",
    "from torch.nn.functional import pad as padded; x_pad = padded(x, (pad,) * 4)",
], ids=["F.pad", "full name", "local alias", "from import"])
def test_the_naive_convolution_may_pad_with_torch_nn_functional_pad(line):
    CONV_SUITE.check_rules(_Source(_conv_forward_padding(line)), "Conv.forward")


@pytest.mark.parametrize("line, found", [
    ("x_pad = F.pad(F.conv2d(x, w), (pad,) * 4)", "torch.nn.functional.conv2d"),
    ("x_pad = F.pad(x, (pad,) * 4); G = F; G.conv2d(x, w)", "torch.nn.functional"),
    ("import torch.nn.functional as G; x_pad = G.pad(x, (pad,) * 4); G.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("x_pad = F.unfold(x, 3)", "torch.nn.functional.unfold"),
    ("x_pad = FastConv.forward(x, w, b, conv_param)[0]", "calls FastConv"),
    ("x_pad = x.clone().requires_grad_()", "requires_grad_"),
], ids=["conv2d beside pad", "module renamed beside pad", "local alias for more", "unfold", "given fast layer",
        "autograd"])
def test_the_naive_convolution_may_not_use_anything_else_of_torch_nn(line, found):
    with pytest.raises(AssertionError, match=found):
        CONV_SUITE.check_rules(_Source(_conv_forward_padding(line)), "Conv.forward")


def test_im2col_may_unfold_and_fold_but_not_loop():
    CONV_SUITE.check_rules(_Source(source(CONV)), "Conv.forward_im2col", "Conv.backward_im2col", allow_fold=True,
                           no_loops=True)
    with pytest.raises(AssertionError, match="loop"):
        CONV_SUITE.check_rules(_Source(source(CONV)), "Conv.forward", no_loops=True)


DEEP_PARAMS = import_file(suite_dir("a4_cnn") / "deepconvnet_params.py", "a4_suite_deepconvnet_params")


@pytest.mark.parametrize("names", [
    ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"],
    ["W1", "b1", "g1", "beta1", "W2", "b2", "g2", "beta2", "W3", "b3"],
    ["W0", "b0", "gamma0", "beta0", "W1", "b1", "gamma1", "beta1", "W2", "b2"],
    ["W_1", "b_1", "bn_1_gamma", "bn_1_beta", "W_2", "b_2", "bn_2_gamma", "bn_2_beta", "W_3", "b_3"],
    ["conv1_w", "conv1_b", "scale1", "shift1", "conv2_w", "conv2_b", "scale2", "shift2", "fc3_w", "fc3_b"],
], ids=["ours", "g", "from 0", "bn_i_gamma", "words"])
def test_deepconvnet_parameter_names_the_course_leaves_free_are_read(names):
    mapping = DEEP_PARAMS.resolve(names, 2, True)
    assert mapping is not None and set(mapping.values()) == set(names)
    assert mapping["W1"] == names[0] and mapping["gamma2"] == names[6] and mapping["b3"] == names[9]


@pytest.mark.parametrize("names", [
    ["W1", "b1", "W2", "b2"],  # a layer short
    ["W1", "b1", "p1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"],  # p1 says no role
    ["W1", "b1", "gamma1", "gamma1x", "W2", "b2", "gamma2", "beta2", "W3", "b3"],  # two scales for layer 1
    ["W", "b", "gamma", "beta", "W2", "b2", "gamma2", "beta2", "W3", "b3"],  # no layer number
], ids=["a layer short", "no role", "two scales", "no number"])
def test_unreadable_deepconvnet_parameter_names_are_told(names):
    assert DEEP_PARAMS.resolve(names, 2, True) is None
    assert "layer number" in DEEP_PARAMS.unresolved_message("DeepConvNet(...).params", names, 2, True)
