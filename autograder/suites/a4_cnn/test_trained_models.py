"""Hidden tests of the submitted checkpoints ``one_minute_deepconvnet.pt`` and ``overfit_deepconvnet.pt``.

Each checkpoint is read inside the sandbox (``student.checkpoint``: ``torch.load`` with
``weights_only=True``) and arrives here as plain data in the format of ``DeepConvNet.save``. Its
network is run here, in the grader, by the forward pass written in this file (3x3 convolutions
with padding 1, spatial batchnorm with the running statistics, ReLU, 2x2 max pools, a linear
layer), on data prepared as ``preprocess_dataset(name, flatten=False)`` prepares it — the dataset
is the one the checkpoint's ``input_dims`` identify (1x28x28: Fashion-MNIST, 3x32x32: CIFAR-10):

* ``one_minute_deepconvnet.pt`` on the held-out TEST split, against ``convnet_test``;
* ``overfit_deepconvnet.pt`` on the first 50 training images (the notebook's small set), against
  ``overfit_train``.

No references are needed: the targets are thresholds. A missing dataset on the grading machine is
the staff's problem (GraderBug), never the student's.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autograder.suite import GraderBug, GradingFailure
from autograder.suite_helpers import first_training_images, held_out_split
from eecs498.assignment import find_assignment

ASSIGNMENT = find_assignment("a4_cnn")
DATASETS = {(1, 28, 28): "fashion_mnist", (3, 32, 32): "cifar10"}
NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
NUM_CLASSES = 10
EPS = 1e-5  # the batchnorm eps DeepConvNet uses (bn_param's default)
FORMAT = ("a dict {'params', 'input_dims', 'num_filters', 'max_pools', 'batchnorm', 'num_classes', 'reg', "
          "'bn_params'} as written by DeepConvNet.save, for 1x28x28 (Fashion-MNIST) or 3x32x32 (CIFAR-10) images "
          "and 10 classes")


def read_network(student, filename: str) -> dict:
    """The checkpoint, checked to be a DeepConvNet that fits together; GradingFailure otherwise."""
    try:
        checkpoint = student.checkpoint(filename)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}; save the network with `model.save('{filename}')` in the notebook and "
                             "submit the file") from None
    keys = {"params", "input_dims", "num_filters", "max_pools", "batchnorm", "num_classes", "bn_params"}
    if not isinstance(checkpoint, dict) or not keys <= set(checkpoint):
        raise GradingFailure(f"{filename} should hold {FORMAT}; it holds something else")
    dims, filters, pools = checkpoint["input_dims"], checkpoint["num_filters"], checkpoint["max_pools"]
    batchnorm, params, bn_params = checkpoint["batchnorm"], checkpoint["params"], checkpoint["bn_params"]
    if not isinstance(dims, (list, tuple)) or tuple(dims) not in DATASETS or checkpoint["num_classes"] != NUM_CLASSES:
        raise GradingFailure(f"{filename}: the network takes input_dims {dims} and {checkpoint['num_classes']} "
                             f"classes; expected {FORMAT}")
    if (not isinstance(filters, (list, tuple)) or not filters or not all(type(f) is int and f > 0 for f in filters)
            or not isinstance(pools, (list, tuple)) or not all(type(p) is int and 0 <= p < len(filters) for p in pools)
            or not isinstance(batchnorm, bool)):
        raise GradingFailure(f"{filename}: num_filters, max_pools or batchnorm are not what DeepConvNet.save writes")
    C, H, W = dims
    expected = {}
    for i, f in enumerate(filters, start=1):
        expected[f"W{i}"], expected[f"b{i}"] = (f, C, 3, 3), (f,)
        if batchnorm:
            expected[f"gamma{i}"], expected[f"beta{i}"] = (f,), (f,)
        C = f
        if i - 1 in pools:
            H, W = H // 2, W // 2
    L = len(filters) + 1
    expected[f"W{L}"], expected[f"b{L}"] = (C * H * W, NUM_CLASSES), (NUM_CLASSES,)
    if not isinstance(params, dict) or set(params) != set(expected):
        raise GradingFailure(f"{filename}: params should hold exactly {', '.join(sorted(expected))} for its "
                             f"num_filters, max_pools and batchnorm")
    for name, shape in expected.items():
        value = params[name]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or tuple(value.shape) != shape:
            raise GradingFailure(f"{filename}: params['{name}'] should be a floating tensor of shape {shape}")
        if not torch.isfinite(value).all():
            raise GradingFailure(f"{filename}: params['{name}'] contains NaN or infinity")
    if batchnorm:
        if not isinstance(bn_params, list) or len(bn_params) != len(filters) or not all(
                isinstance(p, dict) and all(isinstance(p.get(k), torch.Tensor) and tuple(p[k].shape) == (f,)
                                            for k in ("running_mean", "running_var"))
                for p, f in zip(bn_params, filters)):
            raise GradingFailure(f"{filename}: a batchnorm network needs bn_params with the running_mean and "
                                 "running_var of every layer (train it before saving)")
    return checkpoint


def scores_of(checkpoint: dict, X: torch.Tensor) -> torch.Tensor:
    """The network's class scores for images X (N, C, H, W), test-mode batchnorm, float32."""
    params = {k: v.to(torch.float32) for k, v in checkpoint["params"].items()}
    h = X
    for i in range(1, len(checkpoint["num_filters"]) + 1):
        h = F.conv2d(h, params[f"W{i}"], params[f"b{i}"], stride=1, padding=1)
        if checkpoint["batchnorm"]:
            stats = checkpoint["bn_params"][i - 1]
            h = F.batch_norm(h, stats["running_mean"].to(torch.float32), stats["running_var"].to(torch.float32),
                             params[f"gamma{i}"], params[f"beta{i}"], training=False, eps=EPS)
        h = h.clamp(min=0)
        if i - 1 in checkpoint["max_pools"]:
            h = F.max_pool2d(h, 2, 2)
    L = len(checkpoint["num_filters"]) + 1
    return h.flatten(1) @ params[f"W{L}"] + params[f"b{L}"]


def accuracy(checkpoint: dict, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            scores = scores_of(checkpoint, X[start:start + batch_size])
            correct += int((scores.argmax(dim=1) == y[start:start + batch_size]).sum())
    return correct / X.shape[0]


def target(dataset: str, name: str) -> float:
    value = ASSIGNMENT.targets.get(dataset, {}).get(name)
    if value is None:
        raise GraderBug(f"assignment.toml has no target {name} for {dataset}")
    return value


@pytest.mark.group("trained_models")
def test_one_minute_deepconvnet(student, expect):
    """one_minute_deepconvnet.pt reaches the target accuracy on the held-out test set"""
    if expect.record:
        return  # references are recorded from the source modules alone; nothing to record here
    filename = "one_minute_deepconvnet.pt"
    checkpoint = read_network(student, filename)
    dataset = DATASETS[tuple(checkpoint["input_dims"])]
    X_test, y_test = held_out_split(dataset)
    result = accuracy(checkpoint, X_test.view(X_test.shape[0], *checkpoint["input_dims"]), y_test)
    goal = target(dataset, "convnet_test")
    if not math.isfinite(result) or result < goal:
        raise GradingFailure(f"{filename} reaches {100 * result:.2f}% accuracy on the {NAMES[dataset]} test set; "
                             f"the target is {100 * goal:.0f}% — improve create_convolutional_solver_instance "
                             "(architecture, batchnorm, Kaiming initialization, learning rate) and save the "
                             "trained model")


@pytest.mark.group("trained_models")
def test_overfit_deepconvnet(student, expect):
    """overfit_deepconvnet.pt classifies all of the 50 training images it was overfit on"""
    if expect.record:
        return
    filename = "overfit_deepconvnet.pt"
    checkpoint = read_network(student, filename)
    dataset = DATASETS[tuple(checkpoint["input_dims"])]
    X, y = first_training_images(dataset, 50)
    result = accuracy(checkpoint, X, y)
    goal = target(dataset, "overfit_train")
    if result < goal:
        raise GradingFailure(f"{filename} classifies {100 * result:.0f}% of the first 50 {NAMES[dataset]} training "
                             f"images correctly; the target is {100 * goal:.0f}% — train it on "
                             "data_dict['X_train'][:50] with find_overfit_parameters() until it reaches 100%")
