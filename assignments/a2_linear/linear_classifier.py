"""Linear classifiers in PyTorch: the multiclass SVM and softmax (A2, part 1).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below; ``linear_classifier.ipynb``
imports this module, runs visible checks and trains classifiers with your code.

Notation used throughout (the bias trick is already applied to the data: the last column of ``X``
is all ones, so the last row of ``W`` is the bias):

* ``W``: (D, C) weights, a floating tensor (float32 or float64) on any device;
* ``X``: (N, D) a minibatch of N examples, each a row of D numbers, same dtype and device as ``W``;
* ``y``: (N,) int64 labels on the same device, ``y[i] = c`` means that ``X[i]`` has label c,
  with 0 <= c < C;
* ``reg``: the regularization strength, a Python float;
* ``reg_type``: ``"l2"`` (the default, the course's regularization) adds ``reg * sum(W * W)`` to
  the loss, ``"l1"`` adds ``reg * sum(|W|)``; their gradients are ``2 * reg * W`` and
  ``reg * sign(W)``. ``reg_type`` is this assignment's addition to the course's signatures: every
  function is called the course's way, ``svm_loss_naive(W, X, y, reg)``, and means L2 then.

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with: build new tensors with
  ``W.new_zeros(...)``, ``torch.zeros_like(...)``, ``torch.arange(..., device=X.device)`` and the
  like. Never call ``.cuda()``, ``.cpu()`` or ``.to(device)`` on the data, never write ``'cuda'``,
  and never hard-code ``torch.float32``.
* Compute gradients yourself: do not use ``torch.autograd`` (``.backward()``,
  ``torch.autograd.grad``, ``requires_grad``) nor anything from ``torch.nn`` (e.g.
  ``torch.nn.functional.cross_entropy``, ``multi_margin_loss``, ``log_softmax``, ``softmax``).
* The loss is a 0-dimensional tensor with the dtype and device of ``W`` (not a Python float);
  the gradient ``dW`` has the shape, dtype and device of ``W``.
"""
from __future__ import annotations

import random
from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor

REG_TYPES = ("l2", "l1")


def hello_linear_classifier():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from linear_classifier.py!")


def _check_reg_type(reg_type: str) -> None:
    """Raise ``ValueError`` unless ``reg_type`` is one of ``REG_TYPES`` (given: nothing to do)."""
    if reg_type not in REG_TYPES:
        raise ValueError(f"reg_type must be one of {', '.join(repr(r) for r in REG_TYPES)}; got {reg_type!r}")


# ------------------------------------------------------------------------------------------------
# multiclass SVM


def svm_loss_naive(W: Tensor, X: Tensor, y: Tensor, reg: float,
                   reg_type: str = "l2") -> Tuple[Tensor, Tensor]:
    """Multiclass SVM (hinge) loss and its gradient, with explicit loops.

    For example i with scores ``s = X[i] @ W`` (C numbers) the loss is
    ``L_i = sum over j != y[i] of max(0, s[j] - s[y[i]] + 1)`` (a margin of 1). The data loss is
    the mean of ``L_i`` over the N examples; the regularization term (see ``reg_type``) is added.

    Write a loop over the examples (``for i in range(num_train)``) and, inside it, a loop over the
    classes (``for j in range(num_classes)``), computing the loss AND the gradient ``dW`` in those
    loops: each class j whose margin is positive adds ``X[i]`` to column j of ``dW`` and subtracts
    it from column ``y[i]``. Do not forget to average and to add the regularization's gradient.

    Args:
        W: (D, C) weights, any floating dtype and device.
        X: (N, D) examples, dtype and device of ``W``.
        y: (N,) int64 labels in [0, C), device of ``W``.
        reg: regularization strength (Python float).
        reg_type: ``"l2"`` or ``"l1"``; anything else raises ``ValueError``.

    Returns:
        loss: 0-dim tensor, dtype and device of ``W``.
        dW: (D, C) gradient of the loss with respect to ``W``, dtype and device of ``W``.
    """
    _check_reg_type(reg_type)
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = W.new_zeros(())
    for i in range(num_train):
        scores = W.t().mv(X[i])
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1  # note delta = 1
            if margin > 0:
                loss += margin
                ### BEGIN SOLUTION
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
                ### END SOLUTION

    # The loss is a sum over all training examples: make it an average (and the gradient too),
    # then add the regularization term and its gradient. Two or four lines.
    ### BEGIN SOLUTION
    loss = loss / num_train
    dW = dW / num_train
    if reg_type == "l2":
        loss = loss + reg * torch.sum(W * W)
        dW = dW + 2 * reg * W
    else:
        loss = loss + reg * torch.sum(W.abs())
        dW = dW + reg * torch.sign(W)
    ### END SOLUTION
    return loss, dW


def svm_loss_vectorized(W: Tensor, X: Tensor, y: Tensor, reg: float,
                        reg_type: str = "l2") -> Tuple[Tensor, Tensor]:
    """The same loss and gradient as ``svm_loss_naive``, with NO Python loop.

    No ``for``/``while`` loop, no comprehension, no helper that loops: compute the (N, C) score
    matrix with one matrix product, the margins with broadcasting, and the gradient with one more
    matrix product. ``torch.arange(N, device=X.device)`` paired with ``y`` picks each row's
    correct-class entry (``scores[arange, y]``); ``gather`` and ``scatter`` work too.

    Args and returns: as ``svm_loss_naive``. The result must agree with it up to rounding.
    """
    _check_reg_type(reg_type)
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = X.mm(W)  # (N, C)
    correct = scores[rows, y].unsqueeze(1)  # (N, 1)
    margins = (scores - correct + 1).clamp(min=0)
    margins[rows, y] = 0  # the correct class does not count
    loss = margins.sum() / num_train
    # d loss / d scores: +1 for every positive margin, minus their count on the correct class
    dscores = (margins > 0).to(W.dtype)
    dscores[rows, y] = -dscores.sum(dim=1)
    dW = X.t().mm(dscores) / num_train
    if reg_type == "l2":
        loss = loss + reg * torch.sum(W * W)
        dW = dW + 2 * reg * W
    else:
        loss = loss + reg * torch.sum(W.abs())
        dW = dW + reg * torch.sign(W)
    ### END SOLUTION
    return loss, dW


# ------------------------------------------------------------------------------------------------
# softmax


def softmax_loss_naive(W: Tensor, X: Tensor, y: Tensor, reg: float,
                       reg_type: str = "l2") -> Tuple[Tensor, Tensor]:
    """Softmax (cross-entropy) loss and its gradient, with an explicit loop over the examples.

    For example i with scores ``s = X[i] @ W`` the class probabilities are
    ``p[c] = exp(s[c]) / sum_k exp(s[k])`` and the loss is ``L_i = -log p[y[i]]``. The data loss
    is the mean over the N examples; the regularization term (see ``reg_type``) is added.

    Numerical stability: ``exp`` of a large score overflows. Subtract the largest score of the
    row from every score first: the probabilities do not change. Then compute ``-log p[y[i]]``
    as ``log(sum_k exp(s[k])) - s[y[i]]`` (with the shifted scores) rather than the log of the
    probability, which underflows to ``log 0 = -inf`` when the correct class scores far below.

    Write a loop over the examples (``for i in range(num_train)``); inside it you may loop over
    the classes too. The gradient of ``L_i`` with respect to column c of ``W`` is
    ``(p[c] - [c == y[i]]) * X[i]``.

    Args:
        W: (D, C) weights, any floating dtype and device.
        X: (N, D) examples, dtype and device of ``W``.
        y: (N,) int64 labels in [0, C), device of ``W``.
        reg: regularization strength (Python float).
        reg_type: ``"l2"`` or ``"l1"``; anything else raises ``ValueError``.

    Returns:
        loss: 0-dim tensor, dtype and device of ``W``.
        dW: (D, C) gradient of the loss with respect to ``W``, dtype and device of ``W``.
    """
    _check_reg_type(reg_type)
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = W.t().mv(X[i])
        scores = scores - scores.max()  # the largest is now 0: exp cannot overflow
        exp_scores = torch.exp(scores)
        sum_exp = exp_scores.sum()  # >= 1
        probs = exp_scores / sum_exp
        loss += torch.log(sum_exp) - scores[y[i]]  # = -log probs[y[i]], finite even when it underflows
        for c in range(num_classes):
            dW[:, c] += (probs[c] - (1.0 if c == y[i] else 0.0)) * X[i]
    loss = loss / num_train
    dW = dW / num_train
    if reg_type == "l2":
        loss = loss + reg * torch.sum(W * W)
        dW = dW + 2 * reg * W
    else:
        loss = loss + reg * torch.sum(W.abs())
        dW = dW + reg * torch.sign(W)
    ### END SOLUTION
    return loss, dW


def softmax_loss_vectorized(W: Tensor, X: Tensor, y: Tensor, reg: float,
                            reg_type: str = "l2") -> Tuple[Tensor, Tensor]:
    """The same loss and gradient as ``softmax_loss_naive``, with NO Python loop.

    No ``for``/``while`` loop, no comprehension, no helper that loops. Remember the numerical
    stability trick (subtract each row's maximum score).

    Args and returns: as ``softmax_loss_naive``. The result must agree with it up to rounding.
    """
    _check_reg_type(reg_type)
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = X.mm(W)
    scores = scores - scores.max(dim=1, keepdim=True).values
    exp_scores = scores.exp()
    sum_exp = exp_scores.sum(dim=1)  # (N,), each >= 1
    probs = exp_scores / sum_exp.unsqueeze(1)  # (N, C)
    loss = (torch.log(sum_exp) - scores[rows, y]).sum() / num_train  # -log probs[rows, y], stably
    dscores = probs.clone()
    dscores[rows, y] -= 1
    dW = X.t().mm(dscores) / num_train
    if reg_type == "l2":
        loss = loss + reg * torch.sum(W * W)
        dW = dW + 2 * reg * W
    else:
        loss = loss + reg * torch.sum(W.abs())
        dW = dW + reg * torch.sign(W)
    ### END SOLUTION
    return loss, dW


# ------------------------------------------------------------------------------------------------
# training with stochastic gradient descent


def sample_batch(X: Tensor, y: Tensor, num_train: int, batch_size: int) -> Tuple[Tensor, Tensor]:
    """A minibatch of ``batch_size`` random examples, drawn WITH replacement.

    Draw the indices with ``torch.randint`` on ``X.device`` (one call; sampling with replacement
    is faster than without, and is what the course does), then index ``X`` and ``y`` with them.

    Args:
        X: (num_train, D) examples, any dtype and device.
        y: (num_train,) int64 labels, device of ``X``.
        num_train: number of examples to draw from (``X.shape[0]``).
        batch_size: number of examples in the batch.

    Returns:
        X_batch: (batch_size, D), dtype and device of ``X``.
        y_batch: (batch_size,) int64, device of ``X``; ``y_batch[k]`` is the label of ``X_batch[k]``.
    """
    X_batch = None
    y_batch = None
    ### BEGIN SOLUTION
    indices = torch.randint(num_train, (batch_size,), device=X.device)
    X_batch = X[indices]
    y_batch = y[indices]
    ### END SOLUTION
    return X_batch, y_batch


def train_linear_classifier(loss_func: Callable, W: Optional[Tensor], X: Tensor, y: Tensor,
                            learning_rate: float = 1e-3, reg: float = 1e-5, num_iters: int = 100,
                            batch_size: int = 200, verbose: bool = False) -> Tuple[Tensor, List[float]]:
    """Train a linear classifier with minibatch stochastic gradient descent (SGD).

    Each iteration samples a batch with ``sample_batch``, evaluates
    ``loss, grad = loss_func(W, X_batch, y_batch, reg)`` and takes one step
    ``W <- W - learning_rate * grad``.

    Args:
        loss_func: a loss such as ``svm_loss_vectorized``: ``(W, X, y, reg) -> (loss, dW)``.
        W: (D, C) initial weights, or ``None`` to start from small random weights
            (``0.000001 * randn(D, C)``, C = ``y.max() + 1``) on the device and dtype of ``X``.
        X: (N, D) training examples, any floating dtype and device.
        y: (N,) int64 training labels in [0, C), device of ``X``.
        learning_rate: SGD step size.
        reg: regularization strength, passed to ``loss_func``.
        num_iters: number of SGD steps.
        batch_size: examples per step.
        verbose: print the loss every 100 iterations.

    Returns:
        W: (D, C) the trained weights, dtype and device of ``X``.
        loss_history: list of ``num_iters`` Python floats, the batch loss before each step.
    """
    num_train, dim = X.shape
    if W is None:
        # lazily initialize W
        num_classes = int(y.max().item()) + 1
        W = 0.000001 * torch.randn(dim, num_classes, device=X.device, dtype=X.dtype)

    # Run stochastic gradient descent to optimize W
    loss_history = []
    for it in range(num_iters):
        # Sample batch_size training examples and their labels with sample_batch.
        ### BEGIN SOLUTION
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        ### END SOLUTION

        # evaluate loss and gradient
        loss, grad = loss_func(W, X_batch, y_batch, reg)
        loss_history.append(loss.item())

        # Update the weights with the gradient and the learning rate (one line).
        ### BEGIN SOLUTION
        W = W - learning_rate * grad
        ### END SOLUTION

        if verbose and it % 100 == 0:
            print(f"iteration {it} / {num_iters}: loss {loss.item():f}")

    return W, loss_history


def predict_linear_classifier(W: Tensor, X: Tensor) -> Tensor:
    """Predict labels with the weights of a trained linear classifier.

    The predicted label of ``X[i]`` is the class with the highest score ``(X @ W)[i, c]``.

    Args:
        W: (D, C) weights.
        X: (N, D) examples, dtype and device of ``W``.

    Returns:
        y_pred: (N,) int64 predicted labels in [0, C), device of ``X``.
    """
    y_pred = torch.zeros(X.shape[0], dtype=torch.int64, device=X.device)
    ### BEGIN SOLUTION
    y_pred = X.mm(W).argmax(dim=1)
    ### END SOLUTION
    return y_pred


# ------------------------------------------------------------------------------------------------
# hyperparameter search


def svm_get_search_params() -> Tuple[List[float], List[float]]:
    """The learning rates and regularization strengths to try for the SVM.

    Choose a handful of each (the notebook's grid search tries every pair, 2,000 SGD steps each):
    values with which the best pair reaches the notebook's validation target. Start from a wide,
    log-spaced range (e.g. learning rates 1e-4 ... 1e-1) and narrow it down.

    Returns:
        learning_rates: list of Python floats.
        regularization_strengths: list of Python floats.
    """
    learning_rates = []
    regularization_strengths = []
    ### BEGIN SOLUTION
    learning_rates = [3e-3, 1e-2, 3e-2]
    regularization_strengths = [1e-4, 1e-3, 1e-2]
    ### END SOLUTION
    return learning_rates, regularization_strengths


def softmax_get_search_params() -> Tuple[List[float], List[float]]:
    """The learning rates and regularization strengths to try for the softmax classifier.

    As ``svm_get_search_params``, for the softmax loss.

    Returns:
        learning_rates: list of Python floats.
        regularization_strengths: list of Python floats.
    """
    learning_rates = []
    regularization_strengths = []
    ### BEGIN SOLUTION
    learning_rates = [1e-2, 3e-2, 1e-1]
    regularization_strengths = [1e-4, 1e-3, 1e-2]
    ### END SOLUTION
    return learning_rates, regularization_strengths


def test_one_param_set(cls: "LinearClassifier", data_dict: dict, lr: float, reg: float,
                       num_iters: int = 2000) -> Tuple["LinearClassifier", float, float]:
    """Train ``cls`` with one (learning rate, regularization) pair and measure its accuracies.

    Train on ``data_dict['X_train']``, ``data_dict['y_train']`` with ``cls.train(...)``
    (``num_iters`` steps of the default batch size), then compute the fraction of correctly
    predicted examples on the training set and on ``data_dict['X_val']``, ``data_dict['y_val']``.

    Args:
        cls: a ``LinearSVM`` or ``Softmax`` instance (trained in place).
        data_dict: the dict returned by ``eecs498.data.preprocess_dataset(..., bias_trick=True)``.
        lr: learning rate.
        reg: regularization strength.
        num_iters: number of SGD steps.

    Returns:
        cls: the trained classifier (the same object).
        train_acc: training accuracy, a Python float in [0, 1] (a fraction, not a percentage).
        val_acc: validation accuracy, a Python float in [0, 1].
    """
    train_acc = 0.0  # the accuracy on the training data
    val_acc = 0.0  # the accuracy on the validation data
    ### BEGIN SOLUTION
    cls.train(data_dict["X_train"], data_dict["y_train"], learning_rate=lr, reg=reg, num_iters=num_iters)
    y_train_pred = cls.predict(data_dict["X_train"])
    train_acc = (y_train_pred == data_dict["y_train"]).double().mean().item()
    y_val_pred = cls.predict(data_dict["X_val"])
    val_acc = (y_val_pred == data_dict["y_val"]).double().mean().item()
    ### END SOLUTION
    return cls, train_acc, val_acc


# ------------------------------------------------------------------------------------------------
# the classifiers (given: nothing to do below)


class LinearClassifier:
    """A linear classifier ``scores = X @ W``; subclasses choose the loss."""

    def __init__(self, reg_type: str = "l2"):
        """Seed Python's and torch's generators with 0, as the course does, and start without weights.

        Args: reg_type: ``"l2"`` (the course's) or ``"l1"``, the regularization the loss adds.
        """
        _check_reg_type(reg_type)
        random.seed(0)
        torch.manual_seed(0)
        self.W: Optional[Tensor] = None
        self.reg_type = reg_type

    def train(self, X_train: Tensor, y_train: Tensor, learning_rate: float = 1e-3, reg: float = 1e-5,
              num_iters: int = 100, batch_size: int = 200, verbose: bool = False) -> List[float]:
        """Train with ``train_linear_classifier``, continuing from ``self.W`` when it is set.

        Returns:
            loss_history: list of Python floats, the batch loss of each iteration.
        """
        self.W, loss_history = train_linear_classifier(self.loss, self.W, X_train, y_train, learning_rate,
                                                       reg, num_iters, batch_size, verbose)
        return loss_history

    def predict(self, X: Tensor) -> Tensor:
        """(N, D) examples -> (N,) int64 predicted labels, with ``predict_linear_classifier``."""
        if self.W is None:
            raise RuntimeError("this classifier has no weights yet: train it or load a checkpoint first")
        # A loaded checkpoint lives on the CPU (float32 from save, float64 from the course's notebooks):
        # follow the data's device and dtype.
        return predict_linear_classifier(self.W.to(device=X.device, dtype=X.dtype), X)

    def loss(self, W: Tensor, X_batch: Tensor, y_batch: Tensor, reg: float) -> Tuple[Tensor, Tensor]:
        """The loss and its gradient; subclasses override this."""
        raise NotImplementedError("LinearClassifier is abstract: use LinearSVM or Softmax")

    def _loss(self, X_batch: Tensor, y_batch: Tensor, reg: float) -> Tuple[Tensor, Tensor]:
        """The loss and its gradient at the classifier's own weights ``self.W``."""
        return self.loss(self.W, X_batch, y_batch, reg)

    def _reg_type_kwargs(self) -> dict:
        """``{}`` for L2, so that the losses are called the course's way, ``{"reg_type": "l1"}`` for L1."""
        return {} if self.reg_type == "l2" else {"reg_type": self.reg_type}

    def save(self, path) -> None:
        """Write the weights to ``path``: ``torch.save({"W": W}, path)``, the course's format (W on the CPU)."""
        if self.W is None:
            raise RuntimeError("nothing to save: this classifier has no weights yet")
        torch.save({"W": self.W.detach().cpu()}, path)
        print(f"Saved in {path}")

    def load(self, path) -> None:
        """Read weights written by ``save`` (or by the course's ``save``: a dict whose ``"W"`` is the
        weights, on any device and in any floating dtype); raise ``ValueError`` when the file holds
        something else. When the classifier already has weights, the loaded ones must have the same shape.
        """
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or "W" not in checkpoint:
            keys = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
            raise ValueError(f"{path} is not a linear-classifier checkpoint: expected a dict with the key 'W' "
                             f"(as written by save), got {keys}")
        W = checkpoint["W"]
        if not isinstance(W, Tensor) or W.dim() != 2 or not W.is_floating_point():
            what = f"{W.dim()}-dim {W.dtype} tensor" if isinstance(W, Tensor) else type(W).__name__
            raise ValueError(f"{path}: 'W' must be a 2-dim floating (D, C) tensor, got a {what}")
        if self.W is not None and tuple(W.shape) != tuple(self.W.shape):
            raise ValueError(f"{path}: 'W' has shape {tuple(W.shape)}, but this classifier's weights have "
                             f"shape {tuple(self.W.shape)}")
        self.W = W
        print(f"Loaded from {path}")


class LinearSVM(LinearClassifier):
    """A linear classifier trained with the multiclass SVM loss (``svm_loss_vectorized``)."""

    def loss(self, W: Tensor, X_batch: Tensor, y_batch: Tensor, reg: float) -> Tuple[Tensor, Tensor]:
        return svm_loss_vectorized(W, X_batch, y_batch, reg, **self._reg_type_kwargs())


class Softmax(LinearClassifier):
    """A linear classifier trained with the softmax loss (``softmax_loss_vectorized``)."""

    def loss(self, W: Tensor, X_batch: Tensor, y_batch: Tensor, reg: float) -> Tuple[Tensor, Tensor]:
        return softmax_loss_vectorized(W, X_batch, y_batch, reg, **self._reg_type_kwargs())
