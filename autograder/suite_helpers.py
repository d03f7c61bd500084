"""Grader-side helpers the hidden suites share (trusted code: never sent to the sandbox).

Seeded input makers, the wrapper that adds the case to a failure message, the structure check of
outputs judged by behaviour, and the data the training and checkpoint tests use (through
``eecs498.data``, cached per grading process). The inputs these make are part of what references
record, so this file is part of every assignment's reference fingerprint.
"""
from __future__ import annotations

import torch

from autograder.suite import GraderBug, GradingFailure

# ----------------------------------------------------------------------------------------------
# inputs


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(seed: int, *shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def randint(seed: int, high: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=gen(seed), dtype=torch.int64)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def shape(tensor: torch.Tensor) -> tuple:
    return tuple(tensor.shape)


# ----------------------------------------------------------------------------------------------
# running student code


def call(student, target: str, *args, context: str, **kwargs):
    """``student.call`` whose failure message also says which case was being run."""
    try:
        return student.call(target, *args, **kwargs)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure} (when called {context})") from None


def check_structure(actual, expected_shape: tuple, dtype: torch.dtype, what: str) -> None:
    """Type, shape, dtype and device of an output whose values are judged otherwise."""
    if not isinstance(actual, torch.Tensor):
        kind = "None" if actual is None else f"a {type(actual).__name__}"
        raise GradingFailure(f"{what} should be a torch.Tensor, but is {kind}")
    if tuple(actual.shape) != tuple(expected_shape):
        raise GradingFailure(f"{what} has shape {tuple(actual.shape)}; expected shape {tuple(expected_shape)}")
    if actual.dtype != dtype:
        raise GradingFailure(f"{what} has dtype {actual.dtype}; expected {dtype}")
    device = getattr(actual, "eecs498_device", "cpu")
    if device.split(":")[0] != "cpu":
        raise GradingFailure(f"{what} is on {device}; expected it on cpu like its inputs "
                             "(don't move data between devices)")
    if actual.is_floating_point() and not torch.isfinite(actual).all():
        raise GradingFailure(f"{what} contains NaN or infinity")


def check_float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GradingFailure(f"{what} should be a Python float, not {type(value).__name__}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# data through eecs498.data, cached per grading process (a suite file is imported afresh for every
# student; this module is not)

_CACHE: dict = {}


def _training_mean(x_train: torch.Tensor) -> torch.Tensor:
    """(1, C, 1, 1) float32: the per-channel mean that ``preprocess_dataset`` subtracts (of the kept
    80% of the training images, ``validation_ratio = 0.2``), summed exactly in chunks without a
    float copy of the training split."""
    num_kept = int(x_train.shape[0] * 0.8)
    channels = x_train.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, num_kept, 5000):
        total += x_train[start:min(start + 5000, num_kept)].sum(dim=(0, 2, 3), dtype=torch.float64)
    count = num_kept * x_train.shape[2] * x_train.shape[3]
    return (total / count / 255).to(torch.float32).view(1, channels, 1, 1)


def _raw_dataset(dataset: str):
    from eecs498 import data

    try:
        return data.load_dataset(dataset, download=False)
    except data.DatasetUnavailable as exc:
        raise GraderBug(f"the {dataset} dataset is missing on the grading machine: {exc}") from None


def held_out_split(dataset: str, bias_trick: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X_test, y_test)`` exactly as ``preprocess_dataset(dataset, bias_trick=...)`` makes them
    (float32, the mean of the kept 80% of the training images subtracted, flattened). A missing
    dataset is the staff's problem (:class:`GraderBug`), never the student's."""
    key = ("held_out", dataset, bias_trick)
    if key not in _CACHE:
        x_train, _, x_test, y_test = _raw_dataset(dataset)
        mean = _training_mean(x_train)
        del x_train
        x = x_test.to(torch.float32).div_(255).sub_(mean).flatten(1)
        if bias_trick:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)
        _CACHE[key] = (x, y_test)
    return _CACHE[key]


def first_training_images(dataset: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)``: the first ``count`` training images as ``preprocess_dataset(dataset,
    flatten=False)`` makes them, (count, C, H, W) float32 — the small set a notebook overfits."""
    key = ("first_training", dataset, count)
    if key not in _CACHE:
        x_train, y_train, _, _ = _raw_dataset(dataset)
        mean = _training_mean(x_train)
        _CACHE[key] = (x_train[:count].to(torch.float32).div_(255).sub_(mean), y_train[:count].clone())
    return _CACHE[key]


def fashion_mnist_subset(num_train: int, num_val: int) -> dict:
    """The first ``num_train + num_val`` training images of Fashion-MNIST, preprocessed like
    ``preprocess_dataset`` (flattened, mean of the kept training part subtracted, no bias trick):
    ``X_train`` (num_train, 784) float32 ... ``X_val``; a fixed synthetic set of the same shapes when
    the dataset is not on this machine (``dataset`` says which)."""
    key = ("fashion_mnist", num_train, num_val)
    if key not in _CACHE:
        from eecs498 import data

        total = num_train + num_val
        try:
            subset = data.preprocess_dataset("fashion_mnist", num_train=total, validation_ratio=num_val / total)
            result = {k: subset[k].clone() for k in ("X_train", "y_train", "X_val", "y_val")}
            result["dataset"] = "Fashion-MNIST"
        except data.DatasetUnavailable:
            result = synthetic_images(num_train, num_val)
        if result["X_train"].shape[0] != num_train:
            raise GraderBug(f"fashion_mnist_subset: got {result['X_train'].shape[0]} training examples")
        _CACHE[key] = result
    return _CACHE[key]


def synthetic_images(num_train: int, num_val: int, D: int = 784, C: int = 10) -> dict:
    """Ten noisy prototypes in D dimensions (what the solver tests use when no dataset is here)."""
    generator = gen(4242)
    prototypes = 0.5 * torch.randn(C, D, generator=generator)
    y = torch.arange(num_train + num_val) % C
    X = prototypes[y] + 0.5 * torch.randn(num_train + num_val, D, generator=generator)
    return {"X_train": X[:num_train], "y_train": y[:num_train], "X_val": X[num_train:], "y_val": y[num_train:],
            "dataset": "a synthetic 10-class set"}

