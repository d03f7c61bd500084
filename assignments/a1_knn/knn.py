"""k-nearest-neighbor classification in PyTorch (A1, part 2).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below; ``knn.ipynb`` imports
this module, runs visible checks and trains classifiers with your code.

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with: build new tensors with
  ``x.new_zeros(...)``, ``torch.zeros(..., device=x.device)`` and the like. Never call
  ``.cuda()``, ``.cpu()`` or ``.to(device)`` on the data, and never write ``'cuda'``.
* Inputs may be non-contiguous views (slices, transposes): flatten them with ``reshape`` or
  ``flatten``, which work on any tensor, rather than ``view``.
* Do not use ``torch.norm``, ``torch.dist``, ``torch.cdist``, their method forms (``x.norm()``,
  ``x.dist(y)``...) or other names (``torch.linalg.norm`` / ``vector_norm``), or anything from
  ``torch.nn`` / ``torch.nn.functional`` to compute distances: the point is to write them yourself.
* Accuracies are in percent, as ``KnnClassifier.check_accuracy`` returns them (the course's
  convention).
"""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import Tensor

DEFAULT_K_CHOICES = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]


def hello():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from knn.py!")


def compute_distances_two_loops(x_train: Tensor, x_test: Tensor) -> Tensor:
    """Squared Euclidean distances between every training and every test sample, with two loops.

    Flatten each sample to a vector of D = C*H*W numbers; then
    ``dists[i, j] = sum_d (x_train[i, d] - x_test[j, d]) ** 2``. We do NOT take the square root:
    the ranking of the neighbors is the same, and it saves time.

    Write a doubly nested loop over the training samples (outer) and the test samples (inner)
    that computes ONE element of ``dists`` per iteration, using elementwise tensor operations
    and a sum. No ``torch.norm``, ``torch.dist``, ``torch.cdist`` (nor ``x.norm``, ``x.dist``,
    ``x.cdist``) and nothing from ``torch.nn`` or ``torch.nn.functional``.

    Args:
        x_train: (num_train, D1, D2, ...) training samples, any floating dtype and device.
        x_test: (num_test, D1, D2, ...) test samples, same trailing shape, dtype and device.

    Returns:
        dists: (num_train, num_test) tensor with the dtype and device of ``x_train``;
            ``dists[i, j]`` is the squared distance between ``x_train[i]`` and ``x_test[j]``.
    """
    num_train = x_train.shape[0]
    num_test = x_test.shape[0]
    dists = x_train.new_zeros(num_train, num_test)
    ### BEGIN SOLUTION
    train = x_train.flatten(start_dim=1)
    test = x_test.flatten(start_dim=1)
    for i in range(num_train):
        for j in range(num_test):
            diff = train[i] - test[j]
            dists[i, j] = (diff * diff).sum()
    ### END SOLUTION
    return dists


def compute_distances_one_loop(x_train: Tensor, x_test: Tensor) -> Tensor:
    """The same squared distances as ``compute_distances_two_loops``, with ONE loop.

    Loop over the test samples (or over the training samples, whichever you prefer) and fill a
    whole column (or row) of ``dists`` per iteration using broadcasting. Exactly one Python loop
    over the data (a loop over a fixed list or over ``x.shape`` does not count); no
    ``torch.norm``, ``torch.dist``, ``torch.cdist`` (nor their method forms) or ``torch.nn``.

    Args:
        x_train: (num_train, D1, D2, ...) training samples, any floating dtype and device.
        x_test: (num_test, D1, D2, ...) test samples, same trailing shape, dtype and device.

    Returns:
        dists: (num_train, num_test) squared distances, dtype and device of ``x_train``.
    """
    num_train = x_train.shape[0]
    num_test = x_test.shape[0]
    dists = x_train.new_zeros(num_train, num_test)
    ### BEGIN SOLUTION
    train = x_train.flatten(start_dim=1)  # (num_train, D)
    test = x_test.flatten(start_dim=1)  # (num_test, D)
    for j in range(num_test):
        diff = train - test[j]  # (num_train, D): test[j] is broadcast over the rows
        dists[:, j] = (diff * diff).sum(dim=1)
    ### END SOLUTION
    return dists


def compute_distances_no_loops(x_train: Tensor, x_test: Tensor) -> Tensor:
    """The same squared distances, with NO Python loop over the data (nor a helper that loops).

    Hint: expand ``||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2``. All the dot products ``a.b``
    between training and test samples form ONE matrix multiplication; the two squared-norm terms
    broadcast over it. Do not build a (num_train, num_test, D) tensor: it would need far too much
    memory on real data. No ``torch.norm``, ``torch.dist``, ``torch.cdist`` (nor their method
    forms) or ``torch.nn``. A comprehension over a fixed list, such as
    ``[t.flatten(1) for t in (x_train, x_test)]``, is not a loop over the data and is fine.

    Rounding can make the expanded form come out very slightly negative where the true distance
    is 0; clamping the result at 0 is a good idea.

    Args:
        x_train: (num_train, D1, D2, ...) training samples, any floating dtype and device.
        x_test: (num_test, D1, D2, ...) test samples, same trailing shape, dtype and device.

    Returns:
        dists: (num_train, num_test) squared distances, dtype and device of ``x_train``.
    """
    num_train = x_train.shape[0]
    num_test = x_test.shape[0]
    dists = x_train.new_zeros(num_train, num_test)
    ### BEGIN SOLUTION
    train = x_train.flatten(start_dim=1)  # (num_train, D)
    test = x_test.flatten(start_dim=1)  # (num_test, D)
    train_sq = (train * train).sum(dim=1)  # (num_train,)
    test_sq = (test * test).sum(dim=1)  # (num_test,)
    dists = train_sq[:, None] - 2.0 * (train @ test.t()) + test_sq[None, :]
    dists = dists.clamp(min=0)
    ### END SOLUTION
    return dists


def predict_labels(dists: Tensor, y_train: Tensor, k: int = 1) -> Tensor:
    """Predict a label for each test sample by a majority vote of its k nearest training samples.

    For test sample j, find the k training samples with the smallest ``dists[:, j]`` and return
    the label that occurs most often among their labels. When several labels tie for the most
    votes, return the SMALLEST of them (e.g. votes [3, 1, 3, 1] -> 1).

    You may loop over the test samples, but a vectorized version is not hard: ``torch.topk``
    (with ``largest=False``) finds the k nearest for all test samples at once, and counting votes
    is a ``scatter_add_`` or a comparison with ``torch.arange(num_classes)``. ``torch.argmax``
    returns the FIRST index of the maximum, which gives the smallest tied label for free.

    Args:
        dists: (num_train, num_test) distances (any floating dtype, any device), e.g. from
            ``compute_distances_no_loops``.
        y_train: (num_train,) int64 labels in [0, num_classes), on the device of ``dists``.
        k: number of neighbors that vote, 1 <= k <= num_train.

    Returns:
        y_pred: (num_test,) int64 predicted labels on the device of ``dists``.
    """
    num_train, num_test = dists.shape
    if not 1 <= k <= num_train:
        raise ValueError(f"k must be between 1 and num_train={num_train}, got k={k}")
    y_pred = torch.zeros(num_test, dtype=torch.int64, device=dists.device)
    ### BEGIN SOLUTION
    nearest = dists.topk(k, dim=0, largest=False).indices  # (k, num_test) training indices
    votes = y_train[nearest]  # (k, num_test) their labels
    num_classes = int(y_train.max().item()) + 1
    counts = torch.zeros(num_classes, num_test, dtype=torch.int64, device=dists.device)
    counts.scatter_add_(0, votes, torch.ones_like(votes))  # counts[c, j]: votes for c at test j
    y_pred = counts.argmax(dim=0)  # the first (smallest) label among the most voted
    ### END SOLUTION
    return y_pred


class KnnClassifier:
    """A k-nearest-neighbor classifier that memorizes its training data."""

    def __init__(self, x_train: Tensor, y_train: Tensor):
        """Memorize the training data: that is all the "training" kNN does.

        Args:
            x_train: (num_train, D1, D2, ...) training samples.
            y_train: (num_train,) int64 labels, on the device of ``x_train``.
        """
        ### BEGIN SOLUTION
        self.x_train = x_train
        self.y_train = y_train
        ### END SOLUTION

    def predict(self, x_test: Tensor, k: int = 1) -> Tensor:
        """Predict labels for test samples with your ``compute_distances_no_loops`` and
        ``predict_labels``.

        Args:
            x_test: (num_test, D1, D2, ...) samples shaped like the training samples.
            k: number of neighbors that vote.

        Returns:
            y_test_pred: (num_test,) int64 predicted labels, on the device of ``x_test``.
        """
        ### BEGIN SOLUTION
        dists = compute_distances_no_loops(self.x_train, x_test)
        y_test_pred = predict_labels(dists, self.y_train, k=k)
        ### END SOLUTION
        return y_test_pred

    def check_accuracy(self, x_test: Tensor, y_test: Tensor, k: int = 1, quiet: bool = False) -> float:
        """Classify ``x_test`` and compare with the true labels ``y_test`` (given: nothing to do).

        Args:
            x_test: (num_test, D1, D2, ...) samples.
            y_test: (num_test,) int64 true labels.
            k: number of neighbors that vote.
            quiet: when False, print the number and percentage of correct predictions.

        Returns:
            accuracy: the percentage of correct predictions, a Python float in [0, 100] (the
                course's convention: 27.8 means 27.8%).
        """
        y_test_pred = self.predict(x_test, k=k)
        num_samples = x_test.shape[0]
        num_correct = int((y_test == y_test_pred).sum().item())
        accuracy = 100.0 * num_correct / num_samples
        if not quiet:
            print(f"Got {num_correct} / {num_samples} correct; accuracy is {accuracy:.2f}%")
        return accuracy


def knn_cross_validate(
    x_train: Tensor,
    y_train: Tensor,
    num_folds: int = 5,
    k_choices: List[int] = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100],
) -> Dict[int, List[float]]:
    """Estimate how well each k generalizes with ``num_folds``-fold cross-validation.

    1. Split ``x_train`` and ``y_train`` into ``num_folds`` folds with ``torch.chunk`` (in their
       given order: no shuffling, so that everyone gets the same folds).
    2. For each fold i and each k: train a kNN classifier on all folds except fold i, predict
       the labels of fold i with k neighbors, and record the accuracy IN PERCENT, the number
       ``KnnClassifier(...).check_accuracy(x_fold, y_fold, k=k, quiet=True)`` returns.

    Computing the distances between the training folds and the held-out fold once per fold, and
    reusing them for every k, is much faster than building a classifier per (fold, k); the
    accuracy is then ``100.0 * num_correct / num_samples``, exactly what ``check_accuracy`` gives.

    Args:
        x_train: (num_train, D1, D2, ...) training samples, any device and floating dtype.
        y_train: (num_train,) int64 labels.
        num_folds: number of folds (>= 2).
        k_choices: the values of k to try (a list of ints; ``None`` also means the default list,
            as in the course's 2020 version).

    Returns:
        k_to_accuracies: dict mapping each k in ``k_choices`` to a list of ``num_folds`` Python
            floats in [0, 100]: element i is the accuracy in percent on fold i when training on
            the others.
    """
    if k_choices is None:
        k_choices = list(DEFAULT_K_CHOICES)
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2, got {num_folds}")
    k_to_accuracies: Dict[int, List[float]] = {}
    ### BEGIN SOLUTION
    x_folds = torch.chunk(x_train, num_folds)
    y_folds = torch.chunk(y_train, num_folds)
    k_to_accuracies = {k: [] for k in k_choices}
    for i in range(num_folds):
        x_tr = torch.cat(x_folds[:i] + x_folds[i + 1:])
        y_tr = torch.cat(y_folds[:i] + y_folds[i + 1:])
        x_val, y_val = x_folds[i], y_folds[i]
        dists = compute_distances_no_loops(x_tr, x_val)
        for k in k_choices:
            y_pred = predict_labels(dists, y_tr, k=k)
            num_correct = int((y_pred == y_val).sum().item())
            k_to_accuracies[k].append(100.0 * num_correct / y_val.shape[0])
    ### END SOLUTION
    return k_to_accuracies


def knn_get_best_k(k_to_accuracies: Dict[int, List[float]]) -> int:
    """The k with the highest mean cross-validation accuracy; ties go to the SMALLEST such k.

    Args:
        k_to_accuracies: dict k -> list of fold accuracies, as returned by ``knn_cross_validate``.

    Returns:
        best_k: a Python int, a key of ``k_to_accuracies``.
    """
    best_k = 0
    ### BEGIN SOLUTION
    best_mean = float("-inf")
    for k in sorted(k_to_accuracies):  # increasing k: a later k must be strictly better
        accuracies = [float(a) for a in k_to_accuracies[k]]
        mean = sum(accuracies) / len(accuracies)
        if mean > best_mean:
            best_k, best_mean = k, mean
    best_k = int(best_k)
    ### END SOLUTION
    return best_k
