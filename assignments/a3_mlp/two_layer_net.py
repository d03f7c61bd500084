"""A two-layer neural network in PyTorch, with gradients computed by hand (A3, part 1).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below; ``two_layer_net.ipynb``
imports this module, runs visible checks and trains networks with your code.

The network: input dimension D, one hidden layer of H units with a ReLU nonlinearity, C classes,
and a softmax classifier after the second fully connected layer::

    input (N, D) - fully connected (W1, b1) - ReLU - fully connected (W2, b2) - softmax

Notation used throughout (NO bias trick: the biases are the separate vectors ``b1`` and ``b2``,
and ``X`` has no column of ones):

* ``params``: a dict of the four parameters, floating tensors (float32 or float64) on any device,
  all of the same dtype and device:
  ``params["W1"]`` (D, H), ``params["b1"]`` (H,), ``params["W2"]`` (H, C), ``params["b2"]`` (C,);
* ``X``: (N, D) a minibatch of N examples, each a row of D numbers, dtype and device of the params;
* ``y``: (N,) int64 labels on the same device, ``y[i] = c`` means that ``X[i]`` has label c,
  with 0 <= c < C;
* ``reg``: the regularization strength, a Python float. The loss adds
  ``reg * (sum(W1 * W1) + sum(W2 * W2))`` (the weight matrices only, not the biases); its
  gradient with respect to ``W1`` is ``2 * reg * W1`` (and likewise for ``W2``).

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with: build new tensors with
  ``torch.zeros_like(...)``, ``torch.arange(..., device=X.device)`` and the like. Never call
  ``.cuda()``, ``.cpu()`` or ``.to(device)`` on the data, never write ``'cuda'``, and never
  hard-code ``torch.float32``.
* Compute the ReLU, the loss and the gradients yourself (the course's rule for this file, "just for
  this time"): no ``torch.relu``, nothing from ``torch.nn`` (e.g. ``torch.nn.functional.relu``,
  ``cross_entropy``, ``log_softmax``, ``softmax``) and no ``torch.autograd`` (``.backward()``,
  ``torch.autograd.grad``, ``requires_grad``).
* The loss is a 0-dimensional tensor with the dtype and device of the params (not a Python float);
  each gradient has the shape, dtype and device of its parameter.
"""
from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def hello_two_layer_net():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from two_layer_net.py!")


hello = hello_two_layer_net  # the short name of earlier versions of this assignment


def sample_batch(X: Tensor, y: Tensor, num_train: int, batch_size: int) -> Tuple[Tensor, Tensor]:
    """A minibatch of ``batch_size`` random examples, drawn WITH replacement (given: nothing to do).

    This is the function you wrote for A2 (``linear_classifier.sample_batch``).

    Args:
        X: (num_train, D) examples, any dtype and device.
        y: (num_train,) int64 labels, device of ``X``.
        num_train: number of examples to draw from (``X.shape[0]``).
        batch_size: number of examples in the batch.

    Returns:
        X_batch: (batch_size, D), dtype and device of ``X``.
        y_batch: (batch_size,) int64, device of ``X``; ``y_batch[k]`` is the label of ``X_batch[k]``.
    """
    indices = torch.randint(num_train, (batch_size,), device=X.device)
    return X[indices], y[indices]


# ------------------------------------------------------------------------------------------------
# forward and backward passes


def nn_forward_pass(params: Dict[str, Tensor], X: Tensor) -> Tuple[Tensor, Tensor]:
    """The forward pass of the two-layer network: the class scores and the hidden activations.

    ``hidden = ReLU(X @ W1 + b1)`` and ``scores = hidden @ W2 + b2``, where ``ReLU(v) = max(0, v)``
    elementwise. No loop: two matrix products and broadcasting. (``clamp(min=0)`` is a ReLU;
    ``torch.relu`` and ``torch.nn.functional.relu`` are banned here.)

    Args:
        params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), any floating dtype and device.
        X: (N, D) examples, dtype and device of the params.

    Returns:
        scores: (N, C) class scores, ``scores[i, c]`` the score of class c for ``X[i]``.
        hidden: (N, H) the hidden layer's activations after the ReLU (the backward pass needs them).
        Both have the dtype and device of the params.
    """
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    hidden = None
    scores = None
    # Compute the hidden activations (first layer and ReLU), then the scores (second layer).
    ### BEGIN SOLUTION
    hidden = (X.mm(W1) + b1).clamp(min=0)
    scores = hidden.mm(W2) + b2
    ### END SOLUTION
    return scores, hidden


def nn_forward_backward(params: Dict[str, Tensor], X: Tensor, y: Optional[Tensor] = None,
                        reg: float = 0.0):
    """The loss of the two-layer network and its gradients; the scores when no labels are given.

    The loss is the softmax (cross-entropy) loss of the scores, averaged over the N examples, plus
    ``reg * (sum(W1 * W1) + sum(W2 * W2))``: for example i with scores ``s = scores[i]``,
    ``p[c] = exp(s[c]) / sum_k exp(s[k])`` and ``L_i = -log p[y[i]]``.

    Numerical stability (as in A2): subtract each row's largest score from the row before ``exp``,
    and compute ``-log p[y[i]]`` as ``log(sum_k exp(s[k])) - s[y[i]]`` with the shifted scores.

    Backward pass: with ``dscores = (p - onehot(y)) / N`` the gradient of the data loss with
    respect to the scores, backpropagate through the second layer, the ReLU (the gradient flows
    only where the hidden unit was positive) and the first layer. No Python loop.

    Args:
        params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), any floating dtype and device.
        X: (N, D) examples, dtype and device of the params.
        y: (N,) int64 labels in [0, C), device of the params; ``None`` to get the scores only.
        reg: regularization strength (Python float).

    Returns:
        When ``y`` is None: scores, a (N, C) tensor (``nn_forward_pass``'s).
        Otherwise ``(loss, grads)``:
            loss: 0-dim tensor, dtype and device of the params.
            grads: dict with keys ``"W1"``, ``"b1"``, ``"W2"``, ``"b2"``, each the gradient of the
                loss with respect to that parameter, with its shape, dtype and device.
    """
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    N, D = X.shape

    # Compute the forward pass
    scores, h1 = nn_forward_pass(params, X)
    # If the targets are not given then jump out, we're done
    if y is None:
        return scores

    # The loss: the softmax loss of the scores, averaged over the examples, plus the regularization
    # of W1 and W2. Keep what the backward pass needs (the probabilities).
    loss = None
    ### BEGIN SOLUTION
    rows = torch.arange(N, device=X.device)
    shifted = scores - scores.max(dim=1, keepdim=True).values  # the row maximum is now 0
    exp_scores = shifted.exp()
    sum_exp = exp_scores.sum(dim=1)  # (N,), each >= 1
    probs = exp_scores / sum_exp.unsqueeze(1)  # (N, C)
    loss = (torch.log(sum_exp) - shifted[rows, y]).sum() / N  # -log probs[rows, y], stably
    loss = loss + reg * (torch.sum(W1 * W1) + torch.sum(W2 * W2))
    ### END SOLUTION

    # The backward pass: the gradient of the loss with respect to W1, b1, W2 and b2, stored in
    # grads["W1"], ..., with the regularization's gradient included.
    grads = {}
    ### BEGIN SOLUTION
    dscores = probs.clone()
    dscores[rows, y] -= 1
    dscores = dscores / N  # (N, C)
    grads["W2"] = h1.t().mm(dscores) + 2 * reg * W2
    grads["b2"] = dscores.sum(dim=0)
    dh1 = dscores.mm(W2.t())  # (N, H)
    dh1 = dh1 * (h1 > 0).to(dh1.dtype)  # the ReLU passes the gradient only where it was positive
    grads["W1"] = X.t().mm(dh1) + 2 * reg * W1
    grads["b1"] = dh1.sum(dim=0)
    ### END SOLUTION
    return loss, grads


# ------------------------------------------------------------------------------------------------
# training and prediction


def nn_train(params: Dict[str, Tensor], loss_func: Callable, pred_func: Callable, X: Tensor, y: Tensor,
             X_val: Tensor, y_val: Tensor, learning_rate: float = 1e-3, learning_rate_decay: float = 0.95,
             reg: float = 5e-6, num_iters: int = 100, batch_size: int = 200, verbose: bool = False) -> dict:
    """Train the network with minibatch stochastic gradient descent (SGD).

    Each iteration samples a batch with ``sample_batch``, evaluates
    ``loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)`` and takes one SGD step on
    every parameter: ``p <- p - learning_rate * grads[name]``, IN PLACE (the tensors in ``params``
    are updated, e.g. ``params["W1"] -= ...``; the caller sees the trained parameters).

    An epoch is ``iterations_per_epoch = max(num_train // batch_size, 1)`` iterations. At every
    iteration ``it`` with ``it % iterations_per_epoch == 0`` (``it = 0`` included), after that
    iteration's update, the function records the accuracy on the current training batch and on
    the whole validation set, then multiplies the learning rate by ``learning_rate_decay``.

    Args:
        params: ``W1``, ``b1``, ``W2``, ``b2`` as in ``nn_forward_pass``; updated in place.
        loss_func: ``(params, X, y=None, reg=0.0)``, e.g. ``nn_forward_backward``.
        pred_func: ``(params, loss_func, X) -> (N,) labels``, e.g. ``nn_predict``.
        X: (N, D) training examples; y: (N,) int64 training labels.
        X_val: (N_val, D) validation examples; y_val: (N_val,) int64 validation labels.
        learning_rate: the initial SGD step size.
        learning_rate_decay: factor applied to the learning rate once per epoch.
        reg: regularization strength, passed to ``loss_func``.
        num_iters: number of SGD steps.
        batch_size: examples per step.
        verbose: print the loss every 100 iterations.

    Returns:
        dict with
            ``loss_history``: list of ``num_iters`` Python floats, the batch loss of each iteration;
            ``train_acc_history``: list of Python floats, the training-batch accuracy per epoch;
            ``val_acc_history``: list of Python floats, the validation accuracy per epoch.
    """
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)

    # Use SGD to optimize the parameters in params
    loss_history = []
    train_acc_history = []
    val_acc_history = []

    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)

        # Compute loss and gradients using the current minibatch
        loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)
        loss_history.append(loss.item())

        # Update every parameter in params (W1, b1, W2, b2) IN PLACE with a step of stochastic
        # gradient descent, using the gradients in the grads dictionary.
        ### BEGIN SOLUTION
        for name in params:
            params[name] -= learning_rate * grads[name]
        ### END SOLUTION

        if verbose and it % 100 == 0:
            print(f"iteration {it} / {num_iters}: loss {loss.item():f}")

        # Every epoch, check train and val accuracy and decay learning rate.
        if it % iterations_per_epoch == 0:
            # Check accuracy
            y_train_pred = pred_func(params, loss_func, X_batch)
            train_acc = (y_train_pred == y_batch).double().mean().item()
            y_val_pred = pred_func(params, loss_func, X_val)
            val_acc = (y_val_pred == y_val).double().mean().item()
            train_acc_history.append(train_acc)
            val_acc_history.append(val_acc)

            # Decay learning rate
            learning_rate *= learning_rate_decay

    return {
        "loss_history": loss_history,
        "train_acc_history": train_acc_history,
        "val_acc_history": val_acc_history,
    }


def nn_predict(params: Dict[str, Tensor], loss_func: Callable, X: Tensor) -> Tensor:
    """Predict labels with the trained weights: the class with the highest score.

    Get the scores with ``loss_func(params, X)`` (no labels: the scores) and take each row's argmax.

    Args:
        params: ``W1``, ``b1``, ``W2``, ``b2`` as in ``nn_forward_pass``.
        loss_func: ``(params, X, y=None, reg=0.0)``, e.g. ``nn_forward_backward``.
        X: (N, D) examples, dtype and device of the params.

    Returns:
        y_pred: (N,) int64 predicted labels in [0, C), device of ``X``.
    """
    y_pred = None
    ### BEGIN SOLUTION
    scores = loss_func(params, X)
    y_pred = scores.argmax(dim=1)
    ### END SOLUTION
    return y_pred


# ------------------------------------------------------------------------------------------------
# hyperparameter search


def nn_get_search_params() -> Tuple[List[float], List[int], List[float], List[float]]:
    """The hyperparameters to try for the two-layer network.

    ``find_best_net`` trains one network per combination (every learning rate with every hidden
    size, regularization strength and decay), so keep the lists short: the product of their
    lengths should stay around 4 to 12. Choose values with which the best network reaches the
    notebook's validation target; start from wide, log-spaced ranges and narrow them down.

    Returns:
        learning_rates: list of Python floats.
        hidden_sizes: list of Python ints.
        regularization_strengths: list of Python floats.
        learning_rate_decays: list of Python floats.
    """
    learning_rates = []
    hidden_sizes = []
    regularization_strengths = []
    learning_rate_decays = []
    ### BEGIN SOLUTION
    learning_rates = [0.5, 1.0]
    hidden_sizes = [256]
    regularization_strengths = [1e-5, 1e-4]
    learning_rate_decays = [0.95]
    ### END SOLUTION
    return learning_rates, hidden_sizes, regularization_strengths, learning_rate_decays


def find_best_net(data_dict: dict, get_param_set_fn: Callable):
    """Tune the hyperparameters on the validation set and return the best network.

    Call ``get_param_set_fn()`` (e.g. ``nn_get_search_params``) for the candidate values and, for
    every combination of them (``itertools.product`` is handy), build a ``TwoLayerNet`` on the
    data's device and dtype (D = ``X_train.shape[1]``, C = 10 classes), train it with
    ``net.train(...)`` on ``data_dict["X_train"]``, ``data_dict["y_train"]`` (validating on
    ``X_val``, ``y_val``) and measure its accuracy on the whole validation set with ``net.predict``.
    Keep the network with the highest validation accuracy.

    Choose ``num_iters`` and ``batch_size`` for ``net.train`` yourself: enough for the best network
    to reach the notebook's target, few enough that the whole search runs in minutes.

    Args:
        data_dict: the dict of ``eecs498.data.preprocess_dataset(...)`` (flattened, no bias trick):
            ``X_train`` (N, D), ``y_train`` (N,), ``X_val`` (N_val, D), ``y_val`` (N_val,).
        get_param_set_fn: ``() -> (learning_rates, hidden_sizes, regularization_strengths,
            learning_rate_decays)``.

    Returns:
        best_net: the ``TwoLayerNet`` with the highest validation accuracy.
        best_stat: the dict ``best_net.train(...)`` returned (``loss_history``,
            ``train_acc_history``, ``val_acc_history``).
        best_val_acc: its validation accuracy, a Python float in [0, 1].
    """
    best_net = None
    best_stat = None
    best_val_acc = 0.0
    ### BEGIN SOLUTION
    X_train, y_train = data_dict["X_train"], data_dict["y_train"]
    X_val, y_val = data_dict["X_val"], data_dict["y_val"]
    learning_rates, hidden_sizes, regs, decays = get_param_set_fn()
    for lr, hidden_size, reg, decay in itertools.product(learning_rates, hidden_sizes, regs, decays):
        net = TwoLayerNet(X_train.shape[1], hidden_size, 10, dtype=X_train.dtype, device=X_train.device)
        stats = net.train(X_train, y_train, X_val, y_val, num_iters=2000, batch_size=500,
                          learning_rate=lr, learning_rate_decay=decay, reg=reg)
        val_acc = (net.predict(X_val) == y_val).double().mean().item()
        if best_net is None or val_acc > best_val_acc:
            best_net, best_stat, best_val_acc = net, stats, val_acc
    ### END SOLUTION
    return best_net, best_stat, best_val_acc


# ------------------------------------------------------------------------------------------------
# the network (given: nothing to do below)


class TwoLayerNet:
    """The two-layer network of this file, its parameters kept in ``self.params``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 dtype: torch.dtype = torch.float32, device: str = "cuda", std: float = 1e-4):
        """Small random weights (``std * randn``) and zero biases.

        Args:
            input_size: D, the dimension of an example.
            hidden_size: H, the number of hidden units.
            output_size: C, the number of classes.
            dtype, device: of the parameters (and of the data the network will see). The default
                device is the course's, ``"cuda"``; on a machine without CUDA a request for a CUDA
                device gives the CPU instead, so ``TwoLayerNet(D, H, C)`` works everywhere. Pass
                ``device=X.device`` to put the network where your data is.
            std: the standard deviation of the initial weights.
        """
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")
        self.dtype = dtype
        self.device = device
        self.params = {
            "W1": std * torch.randn(input_size, hidden_size, dtype=dtype, device=device),
            "b1": torch.zeros(hidden_size, dtype=dtype, device=device),
            "W2": std * torch.randn(hidden_size, output_size, dtype=dtype, device=device),
            "b2": torch.zeros(output_size, dtype=dtype, device=device),
        }

    def loss(self, X: Tensor, y: Optional[Tensor] = None, reg: float = 0.0):
        """``nn_forward_backward(self.params, X, y, reg)``: scores, or ``(loss, grads)``."""
        return nn_forward_backward(self.params, X, y, reg)

    def train(self, X: Tensor, y: Tensor, X_val: Tensor, y_val: Tensor, learning_rate: float = 1e-3,
              learning_rate_decay: float = 0.95, reg: float = 5e-6, num_iters: int = 100,
              batch_size: int = 200, verbose: bool = False) -> dict:
        """Train ``self.params`` in place with ``nn_train``; returns its stats dict."""
        return nn_train(self.params, nn_forward_backward, nn_predict, X, y, X_val, y_val,
                        learning_rate, learning_rate_decay, reg, num_iters, batch_size, verbose)

    def predict(self, X: Tensor) -> Tensor:
        """(N, D) examples -> (N,) int64 predicted labels, with ``nn_predict``.

        The parameters follow the data's device and dtype (a loaded checkpoint is float32).
        """
        params = {k: v.to(device=X.device, dtype=X.dtype) for k, v in self.params.items()}
        return nn_predict(params, nn_forward_backward, X)

    def save(self, path) -> None:
        """Write the parameters to ``path``: ``torch.save({"W1", "b1", "W2", "b2": CPU tensors})``."""
        torch.save({k: self.params[k].detach().cpu() for k in PARAM_NAMES}, path)
        print(f"Saved in {path}")

    def load(self, path) -> None:
        """Read parameters written by ``save``; raise ``ValueError`` when the file holds something else.

        The checkpoint's shapes must fit together (``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C),
        ``b2`` (C,)), and D and C must be this network's; the hidden size H is taken from the
        checkpoint. The parameters are put on this network's device and dtype.
        """
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or set(checkpoint) != set(PARAM_NAMES):
            keys = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
            raise ValueError(f"{path} is not a two-layer-net checkpoint: expected a dict with the keys "
                             f"W1, b1, W2, b2 (as written by save), got {keys}")
        for name in PARAM_NAMES:
            value = checkpoint[name]
            if not isinstance(value, Tensor) or not value.is_floating_point():
                what = f"a {value.dtype} tensor" if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"{path}: {name} must be a floating tensor, got {what}")
        W1, b1, W2, b2 = (checkpoint[name] for name in PARAM_NAMES)
        if W1.dim() != 2 or W2.dim() != 2 or b1.dim() != 1 or b2.dim() != 1 \
                or b1.shape[0] != W1.shape[1] or W2.shape[0] != W1.shape[1] or b2.shape[0] != W2.shape[1]:
            shapes = ", ".join(f"{name} {tuple(checkpoint[name].shape)}" for name in PARAM_NAMES)
            raise ValueError(f"{path}: the shapes do not fit W1 (D, H), b1 (H,), W2 (H, C), b2 (C,): {shapes}")
        D, C = self.params["W1"].shape[0], self.params["W2"].shape[1]
        if (W1.shape[0], W2.shape[1]) != (D, C):
            raise ValueError(f"{path}: the checkpoint is for D={W1.shape[0]} inputs and C={W2.shape[1]} "
                             f"classes, but this network has D={D} and C={C}")
        self.params = {k: v.to(device=self.device, dtype=self.dtype) for k, v in checkpoint.items()}
        print(f"Loaded from {path}")
