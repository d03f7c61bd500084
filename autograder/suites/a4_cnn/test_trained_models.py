"""Hidden tests of the submitted checkpoints ``one_minute_deepconvnet.pt`` and ``overfit_deepconvnet.pt``.

Each checkpoint is read inside the sandbox (``student.checkpoint``: ``torch.load`` with
``weights_only=True``) and arrives here as plain data, in either of two formats: this suite's
``DeepConvNet.save`` (``params``, ``input_dims``, ``num_filters``, ``max_pools``, ``batchnorm``,
``num_classes``, ``reg``, ``bn_params``) or the course's (``reg``, ``dtype``, ``params``,
``num_layers``, ``max_pools``, ``batchnorm``, ``bn_params``: the filters are read from the
parameters' shapes, the image size from the channels, and the parameters' names — which the course
leaves to the student — by :mod:`deepconvnet_params`). A submission may name the files the course's
way (``.pth``: ``alternative_names`` in assignment.toml). Its network is run here, in the grader,
by the forward pass written in this file (3x3 convolutions with padding 1, spatial batchnorm with
the running statistics, ReLU, 2x2 max pools, a linear layer), on data prepared as
``preprocess_dataset(name, flatten=False)`` prepares it — the dataset is the one the checkpoint's
images identify (1x28x28: Fashion-MNIST, 3x32x32: CIFAR-10):

* ``one_minute_deepconvnet.pt`` on the held-out TEST split, against ``convnet_test``;
* ``overfit_deepconvnet.pt`` on the first 50 training images (the notebook's small set), against
  ``overfit_train``.

No references are needed: the targets are thresholds. A missing dataset on the grading machine is
the staff's problem (GraderBug), never the student's.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

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
FORMAT = ("a dict as written by DeepConvNet.save ({'params', 'input_dims', 'num_filters', 'max_pools', 'batchnorm', "
          "'num_classes', 'reg', 'bn_params'}, or the course's {'reg', 'dtype', 'params', 'num_layers', 'max_pools', "
          "'batchnorm', 'bn_params'}), for 1x28x28 (Fashion-MNIST) or 3x32x32 (CIFAR-10) images and 10 classes")


def _load_helper(name: str):
    spec = importlib.util.spec_from_file_location(f"a4_suite_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deep_params = _load_helper("deepconvnet_params")


def _ints(value, low: int = 1) -> bool:
    return isinstance(value, (list, tuple)) and all(type(v) is int and v >= low for v in value)


def network_of(checkpoint, filename: str) -> dict:
    """The network a checkpoint holds, in one form whatever its format: ``input_dims``, ``filters``,
    ``pools``, ``batchnorm``, ``params`` (under this suite's names: W1, b1, gamma1, beta1, ... WL,
    bL, float32), ``stats`` (each batchnorm layer's running_mean, running_var and eps) and
    ``format`` ("ours" or "the course's"). GradingFailure when it is not a DeepConvNet that fits
    together."""
    if not isinstance(checkpoint, dict) or not {"params", "max_pools", "batchnorm", "bn_params"} <= set(checkpoint):
        raise GradingFailure(f"{filename} should hold {FORMAT}; it holds something else")
    params, pools, batchnorm, bn_params = (checkpoint[k] for k in ("params", "max_pools", "batchnorm", "bn_params"))
    if not isinstance(params, dict) or not all(isinstance(v, torch.Tensor) for v in params.values()):
        raise GradingFailure(f"{filename}: params should be a dict of tensors")
    if not isinstance(batchnorm, bool):
        raise GradingFailure(f"{filename}: batchnorm should be True or False")
    if {"input_dims", "num_filters"} <= set(checkpoint):
        form, filters = "ours", checkpoint["num_filters"]
        if not _ints(filters) or not filters:
            raise GradingFailure(f"{filename}: num_filters is not what DeepConvNet.save writes")
        num_conv = len(filters)
    elif "num_layers" in checkpoint:
        form, num_layers = "the course's", checkpoint["num_layers"]
        if type(num_layers) is not int or num_layers < 2:
            raise GradingFailure(f"{filename}: num_layers should be the number of layers (an int of at least 2)")
        num_conv = num_layers - 1
    else:
        raise GradingFailure(f"{filename} should hold {FORMAT}; it has neither num_filters nor num_layers")
    if not _ints(pools, low=0) or not all(p < num_conv for p in pools):
        raise GradingFailure(f"{filename}: max_pools should list indices of the {num_conv} convolutional layers")
    names = deep_params.resolve(params, num_conv, batchnorm)
    if names is None:
        raise GradingFailure(deep_params.unresolved_message(f"{filename}: the network", params, num_conv, batchnorm))
    params = {ours: params[theirs] for ours, theirs in names.items()}
    first = params["W1"]
    if first.dim() != 4:
        raise GradingFailure(f"{filename}: the first convolution's weight should be (F, C, 3, 3)")
    if form == "ours":
        dims = checkpoint["input_dims"]
        if (not isinstance(dims, (list, tuple)) or tuple(dims) not in DATASETS
                or checkpoint.get("num_classes") != NUM_CLASSES):
            raise GradingFailure(f"{filename}: the network takes input_dims {dims} and {checkpoint.get('num_classes')} "
                                 f"classes; expected {FORMAT}")
        dims = tuple(dims)
    else:
        dims = {1: (1, 28, 28), 3: (3, 32, 32)}.get(first.shape[1])
        if dims is None:
            raise GradingFailure(f"{filename}: the first convolution takes {first.shape[1]} channels; expected 1 "
                                 "(Fashion-MNIST) or 3 (CIFAR-10)")
        filters = [int(params[f"W{i}"].shape[0]) if params[f"W{i}"].dim() == 4 else 0 for i in range(1, num_conv + 1)]
    C, H, W = dims
    expected = {}
    for i, f in enumerate(filters, start=1):
        expected[f"W{i}"], expected[f"b{i}"] = (f, C, 3, 3), (f,)
        if batchnorm:
            expected[f"gamma{i}"], expected[f"beta{i}"] = (f,), (f,)
        C = f
        if i - 1 in pools:
            H, W = H // 2, W // 2
    L = num_conv + 1
    expected[f"W{L}"], expected[f"b{L}"] = (C * H * W, NUM_CLASSES), (NUM_CLASSES,)
    for name, shape in expected.items():
        value = params[name]
        shown = names[name]
        if not value.is_floating_point() or tuple(value.shape) != shape:
            raise GradingFailure(f"{filename}: params['{shown}'] should be a floating tensor of shape {shape} for "
                                 f"{dims[0]}x{dims[1]}x{dims[2]} images, {filters} filters and max_pools {list(pools)}")
        if not torch.isfinite(value).all():
            raise GradingFailure(f"{filename}: params['{shown}'] contains NaN or infinity")
    stats = []
    if batchnorm:
        if not isinstance(bn_params, list) or len(bn_params) != num_conv or not all(
                isinstance(p, dict) and all(isinstance(p.get(k), torch.Tensor) and tuple(p[k].shape) == (f,)
                                            for k in ("running_mean", "running_var"))
                for p, f in zip(bn_params, filters)):
            raise GradingFailure(f"{filename}: a batchnorm network needs bn_params with the running_mean and "
                                 "running_var of every layer (train it before saving)")
        for p in bn_params:
            eps = p.get("eps", EPS)
            stats.append({"running_mean": p["running_mean"].to(torch.float32),
                          "running_var": p["running_var"].to(torch.float32),
                          "eps": float(eps) if type(eps) in (int, float) and eps > 0 else EPS})
    return {"input_dims": dims, "filters": filters, "pools": set(pools), "batchnorm": batchnorm, "stats": stats,
            "params": {k: v.to(torch.float32) for k, v in params.items()}, "format": form}


def read_network(student, filename: str) -> dict:
    """The submitted checkpoint's network (:func:`network_of`); GradingFailure when missing or wrong."""
    try:
        checkpoint = student.checkpoint(filename)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}; save the network with `model.save('{filename}')` in the notebook and "
                             "submit the file") from None
    network = network_of(checkpoint, filename)
    student.check_forward_cost(filename, forward_flops(network))  # before running it on thousands of images
    return network


def forward_flops(network: dict) -> float:
    """Multiply-adds (x2) of one image through the network: 3x3 convolutions, then the classifier."""
    C, H, W = network["input_dims"]
    flops = 0.0
    for i, filters in enumerate(network["filters"]):
        flops += 2.0 * filters * C * 9 * H * W
        C = filters
        if i in network["pools"]:
            H, W = H // 2, W // 2
    return flops + 2.0 * C * H * W * NUM_CLASSES


def scores_of(network: dict, X: torch.Tensor) -> torch.Tensor:
    """The network's class scores for images X (N, C, H, W), test-mode batchnorm, float32."""
    params = network["params"]
    h = X
    for i in range(1, len(network["filters"]) + 1):
        h = F.conv2d(h, params[f"W{i}"], params[f"b{i}"], stride=1, padding=1)
        if network["batchnorm"]:
            stats = network["stats"][i - 1]
            h = F.batch_norm(h, stats["running_mean"], stats["running_var"], params[f"gamma{i}"], params[f"beta{i}"],
                             training=False, eps=stats["eps"])
        h = h.clamp(min=0)
        if i - 1 in network["pools"]:
            h = F.max_pool2d(h, 2, 2)
    L = len(network["filters"]) + 1
    return h.flatten(1) @ params[f"W{L}"] + params[f"b{L}"]


def accuracy(network: dict, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            scores = scores_of(network, X[start:start + batch_size])
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
    network = read_network(student, filename)
    dataset = DATASETS[network["input_dims"]]
    X_test, y_test = held_out_split(dataset)
    result = accuracy(network, X_test.view(X_test.shape[0], *network["input_dims"]), y_test)
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
    network = read_network(student, filename)
    dataset = DATASETS[network["input_dims"]]
    X, y = first_training_images(dataset, 50)
    result = accuracy(network, X, y)
    goal = target(dataset, "overfit_train")
    if result < goal:
        raise GradingFailure(f"{filename} classifies {100 * result:.0f}% of the first 50 {NAMES[dataset]} training "
                             f"images correctly; the target is {100 * goal:.0f}% — train it on "
                             "data_dict['X_train'][:50] with find_overfit_parameters() until it reaches 100%")
