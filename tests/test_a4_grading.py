"""a4_cnn graded end to end: what its sample class's students lose and why, and the suite's own
pieces.

The sample class (autograder/suites/a4_cnn/sample_class.py: mutants of the source solutions,
checkpoints trained with them on Fashion-MNIST) is graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps is in test_assignments.py. Each kind of submission
must lose exactly the points its defect deserves, with a message that says what to fix.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from autograder.samples import replace_methods, sample_class_module, source_module_with_given
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
    for module, methods in ((CONV, SAMPLE.SPATIAL_BATCHNORM_OVER_PIXELS),
                            (CONV, SAMPLE.SPATIAL_BATCHNORM_MIXING_CHANNELS),
                            (CONV, SAMPLE.CONV_THROUGH_FAST_LAYER), (NN, SAMPLE.HOSTILE_BLOCK)):
        text = source(module)
        mutated = replace_methods(text, methods)
        assert mutated != text and compile(mutated, module, "exec")
        assert mutated.count("class ") == text.count("class ") and mutated.count("def ") == text.count("def ")


def test_checkpoints_reach_the_targets(checkpoints):
    """The checkpoints the complete submission uses really reach the toml targets (trusted side),
    through the suite's own forward pass, which agrees with the source network's."""
    from eecs498.data import preprocess_dataset

    models = import_file(suite_dir("a4_cnn") / "test_trained_models.py", "a4_suite_trained_models")
    data = preprocess_dataset("fashion_mnist", flatten=False)
    one_minute = torch.load(io.BytesIO(checkpoints["one_minute_deepconvnet.pt"]), weights_only=True)
    overfit = torch.load(io.BytesIO(checkpoints["overfit_deepconvnet.pt"]), weights_only=True)
    targets = ASSIGNMENT.targets["fashion_mnist"]
    assert models.accuracy(one_minute, data["X_test"], data["y_test"]) >= targets["convnet_test"]
    assert models.accuracy(overfit, data["X_train"][:50], data["y_train"][:50]) >= targets["overfit_train"]
    assert one_minute["batchnorm"] and len(one_minute["bn_params"]) == len(one_minute["num_filters"])


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
    assert torch.allclose(models.scores_of(checkpoint, X), network.loss(X), atol=1e-4)


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
        assert "calls FastConv on line" in message and "write the computation yourself" in message, message
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("conv_naive").points)


def test_hostile_submission_loses_only_its_checkpoint_and_reads_nothing(class_grades):
    grade = class_grades["eve_hostile"]
    failed = lost(grade)
    assert set(failed) == {"overfit_deepconvnet.pt classifies all of the 50 training images it was overfit on"}
    assert "could not be read" in next(iter(failed.values()))
    assert not Path("/tmp/eecs498-demo-block").exists(), "the sandbox let the block write outside its folder"
    assert not Path("/tmp/eecs498-demo-pwned").exists(), "a checkpoint was unpickled"
