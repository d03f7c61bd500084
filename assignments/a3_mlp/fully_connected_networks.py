"""Fully-connected networks built from modular layers, dropout and update rules (A3, part 2).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below;
``fully_connected_networks.ipynb`` imports this module, runs visible checks and trains networks
with your code.

Layers. Each layer is a class with two static methods:

* ``forward(x, ...) -> (out, cache)``: the layer's output, and a ``cache`` holding whatever the
  backward pass will need (inputs, masks, ...);
* ``backward(dout, cache) -> dx`` (or ``(dx, dw, db)`` for a layer with weights): given
  ``dout``, the gradient of the loss with respect to ``out``, the gradient of the loss with
  respect to each input, each of the shape of that input.

Networks stack layers: the forward pass calls each layer's ``forward`` and keeps its cache, the
backward pass calls the ``backward`` methods in the reverse order. A network follows the model
API that ``eecs498.solver.Solver`` trains:

* ``model.params``: dict from names to parameter tensors, ``"W1"``, ``"b1"``, ``"W2"``, ...
  for the weights and biases of the first, second, ... fully connected layer;
* ``model.loss(X, y)``: ``(loss, grads)``, the loss a 0-dim tensor and ``grads`` a dict with the
  keys, shapes, dtypes and devices of ``model.params``; ``model.loss(X)`` (no labels): the
  (N, C) class scores.

Notation: N examples in a minibatch, D input dimensions (``x`` may be (N, d_1, ..., d_k), an image
batch, with D = d_1 * ... * d_k), M outputs of a fully connected layer, H hidden units, C classes;
``y`` (N,) int64 labels in [0, C). L2 regularization adds ``reg * sum(W * W)`` for every weight
matrix W (not the biases) to the loss; its gradient is ``2 * reg * W``.

Update rules (the last part) all have the signature ``rule(w, dw, config=None) -> (next_w,
config)``: ``w`` a parameter, ``dw`` its gradient, ``config`` a dict of hyperparameters and of the
state the rule keeps between steps (velocity, caches, moments), which the rule fills in with
``config.setdefault(...)`` when missing.

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with: build new tensors with
  ``torch.zeros_like(...)``, ``torch.rand_like(...)``, ``torch.randn(..., dtype=dtype,
  device=device)`` and the like. Never call ``.cuda()``, ``.cpu()`` or ``.to(device)`` on the data,
  never write ``'cuda'``, and never hard-code ``torch.float32``.
* Compute gradients yourself, each backward pass by hand: no autograd (``torch.autograd``,
  ``.backward()``, ``requires_grad``, ``torch.nn.Parameter``). ``torch.relu`` and the other
  ``torch.nn.functional`` operations are allowed, as in the course from A3 on.
* Layers do not modify their inputs (``x``, ``dout``) in place: they return new tensors. An update
  rule may update ``w`` (and the state in ``config``) in place and return it, as the given ``sgd``
  does, or return a new tensor: both are fine.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from eecs498.solver import Solver

ACTIVATIONS = ("relu", "leaky_relu", "elu")


def hello_fully_connected_networks():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from fully_connected_networks.py!")


hello = hello_fully_connected_networks  # the short name of earlier versions of this assignment


# ------------------------------------------------------------------------------------------------
# layers


class Linear:
    """A fully connected (affine) layer: ``out = x @ w + b``, each example flattened to a row."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor) -> Tuple[Tensor, tuple]:
        """The forward pass of a fully connected layer.

        The input ``x`` has shape (N, d_1, ..., d_k): a minibatch of N examples, example ``x[i]``
        of shape (d_1, ..., d_k). Reshape each example into a row of D = d_1 * ... * d_k numbers
        (``x.reshape(N, -1)``; do not change ``x`` itself), then ``out = rows @ w + b``.

        Args:
            x: (N, d_1, ..., d_k) input, any floating dtype and device.
            w: (D, M) weights, dtype and device of ``x``.
            b: (M,) biases, dtype and device of ``x``.

        Returns:
            out: (N, M) output, dtype and device of ``x``.
            cache: ``(x, w, b)``.
        """
        out = None
        ### BEGIN SOLUTION
        out = x.reshape(x.shape[0], -1).mm(w) + b
        ### END SOLUTION
        cache = (x, w, b)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of a fully connected layer.

        Args:
            dout: (N, M) upstream gradient (of the loss with respect to ``out``).
            cache: ``(x, w, b)`` from ``forward``.

        Returns:
            dx: (N, d_1, ..., d_k) gradient with respect to ``x``, the shape of ``x``.
            dw: (D, M) gradient with respect to ``w``.
            db: (M,) gradient with respect to ``b``.
        """
        x, w, b = cache
        dx, dw, db = None, None, None
        ### BEGIN SOLUTION
        dx = dout.mm(w.t()).reshape(x.shape)
        dw = x.reshape(x.shape[0], -1).t().mm(dout)
        db = dout.sum(dim=0)
        ### END SOLUTION
        return dx, dw, db


class ReLU:
    """The rectified linear unit ``max(0, x)``, elementwise."""

    @staticmethod
    def forward(x: Tensor) -> Tuple[Tensor, Tensor]:
        """The forward pass of a ReLU layer (``x.clamp(min=0)``; ``torch.relu`` is allowed too).

        Args:
            x: input, any shape, floating dtype and device.

        Returns:
            out: ``max(0, x)`` elementwise, shape, dtype and device of ``x``.
            cache: ``x``.
        """
        out = None
        ### BEGIN SOLUTION
        out = x.clamp(min=0)
        ### END SOLUTION
        cache = x
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: Tensor) -> Tensor:
        """The backward pass of a ReLU layer: the gradient flows where ``x > 0`` (0 elsewhere,
        ``x = 0`` included).

        Args:
            dout: upstream gradient, the shape of ``x``.
            cache: ``x`` from ``forward``.

        Returns:
            dx: gradient with respect to ``x``, the shape of ``x``.
        """
        dx, x = None, cache
        ### BEGIN SOLUTION
        dx = dout * (x > 0).to(dout.dtype)
        ### END SOLUTION
        return dx


class LeakyReLU:
    """The leaky ReLU ``x if x > 0 else negative_slope * x``, elementwise."""

    @staticmethod
    def forward(x: Tensor, negative_slope: float = 0.01) -> Tuple[Tensor, tuple]:
        """The forward pass of a leaky ReLU layer (``torch.where`` is handy).

        Args:
            x: input, any shape, floating dtype and device.
            negative_slope: the slope for ``x <= 0`` (a Python float).

        Returns:
            out: shape, dtype and device of ``x``.
            cache: ``(x, negative_slope)``.
        """
        out = None
        ### BEGIN SOLUTION
        out = torch.where(x > 0, x, negative_slope * x)
        ### END SOLUTION
        cache = (x, negative_slope)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tensor:
        """The backward pass of a leaky ReLU layer: the local slope is 1 where ``x > 0`` and
        ``negative_slope`` elsewhere (``x = 0`` included).

        Args:
            dout: upstream gradient, the shape of ``x``.
            cache: ``(x, negative_slope)`` from ``forward``.

        Returns:
            dx: gradient with respect to ``x``, the shape of ``x``.
        """
        dx = None
        x, negative_slope = cache
        ### BEGIN SOLUTION
        dx = torch.where(x > 0, dout, negative_slope * dout)
        ### END SOLUTION
        return dx


class ELU:
    """The exponential linear unit ``x if x > 0 else alpha * (exp(x) - 1)``, elementwise."""

    @staticmethod
    def forward(x: Tensor, alpha: float = 1.0) -> Tuple[Tensor, tuple]:
        """The forward pass of an ELU layer.

        Numerical care: ``exp`` of a large positive ``x`` overflows to ``inf`` even where that
        branch is not selected; take the exponential of ``x.clamp(max=0)``, and prefer
        ``torch.expm1(v)`` (= ``exp(v) - 1``, exact for small ``v``) to ``exp(v) - 1``.

        Args:
            x: input, any shape, floating dtype and device.
            alpha: the scale of the negative part (a Python float).

        Returns:
            out: shape, dtype and device of ``x``.
            cache: ``(x, alpha)``.
        """
        out = None
        ### BEGIN SOLUTION
        out = torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))
        ### END SOLUTION
        cache = (x, alpha)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tensor:
        """The backward pass of an ELU layer: the local slope is 1 where ``x > 0`` and
        ``alpha * exp(x)`` elsewhere (``x = 0`` included).

        Args:
            dout: upstream gradient, the shape of ``x``.
            cache: ``(x, alpha)`` from ``forward``.

        Returns:
            dx: gradient with respect to ``x``, the shape of ``x``.
        """
        dx = None
        x, alpha = cache
        ### BEGIN SOLUTION
        dx = torch.where(x > 0, dout, dout * (alpha * torch.exp(x.clamp(max=0))))
        ### END SOLUTION
        return dx


class Dropout:
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the kept
    ones by ``1 / (1 - p)``, so that no rescaling is needed at test time."""

    @staticmethod
    def forward(x: Tensor, dropout_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of (inverted) dropout.

        In ``"train"`` mode: draw ``torch.rand_like(x)`` (uniform in [0, 1), one number per unit)
        and build the mask ``(rand > p) / (1 - p)`` in the dtype of ``x``: units whose number is
        at most ``p`` are dropped (0), the others are scaled by ``1 / (1 - p)``;
        ``out = x * mask``. In ``"test"`` mode: ``out = x`` (the identity; no mask).

        Args:
            x: input, any shape, floating dtype and device.
            dropout_param: dict with
                ``p``: the probability of DROPPING each unit, 0 <= p < 1;
                ``mode``: ``"train"`` or ``"test"``;
                ``seed`` (optional): when present, ``torch.manual_seed(seed)`` is called first
                (given below), so that gradient checks see the same mask every time.

        Returns:
            out: shape, dtype and device of ``x``.
            cache: ``(dropout_param, mask)``; the mask is ``None`` in test mode.
        """
        p, mode = dropout_param["p"], dropout_param["mode"]
        if "seed" in dropout_param and dropout_param["seed"] is not None:
            torch.manual_seed(dropout_param["seed"])

        mask = None
        out = None
        if mode == "train":
            # Draw the mask and apply it (two lines).
            ### BEGIN SOLUTION
            mask = (torch.rand_like(x) > p).to(x.dtype) / (1 - p)
            out = x * mask
            ### END SOLUTION
        elif mode == "test":
            # The identity.
            ### BEGIN SOLUTION
            out = x
            ### END SOLUTION
        else:
            raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")

        cache = (dropout_param, mask)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tensor:
        """The backward pass of (inverted) dropout.

        Args:
            dout: upstream gradient, the shape of ``x``.
            cache: ``(dropout_param, mask)`` from ``forward``.

        Returns:
            dx: gradient with respect to ``x``: ``dout`` times the mask in train mode, ``dout``
                in test mode.
        """
        dropout_param, mask = cache
        mode = dropout_param["mode"]

        dx = None
        if mode == "train":
            ### BEGIN SOLUTION
            dx = dout * mask
            ### END SOLUTION
        elif mode == "test":
            dx = dout
        else:
            raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")
        return dx


class Linear_ReLU:
    """A fully connected layer followed by a ReLU: a "sandwich" layer (given: nothing to do)."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor) -> Tuple[Tensor, tuple]:
        """``ReLU(Linear(x, w, b))``; returns ``(out, (linear cache, relu cache))``."""
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        cache = (fc_cache, relu_cache)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The gradients ``(dx, dw, db)`` of the sandwich."""
        fc_cache, relu_cache = cache
        da = ReLU.backward(dout, relu_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db


# ------------------------------------------------------------------------------------------------
# loss functions (given: nothing to do)


def softmax_loss(x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    """The softmax (cross-entropy) loss averaged over the examples, and its gradient.

    Stable: each row's maximum is subtracted before ``exp``.

    Args:
        x: (N, C) scores, ``x[i, c]`` the score of class c for example i.
        y: (N,) int64 labels in [0, C), device of ``x``.

    Returns:
        loss: 0-dim tensor, dtype and device of ``x``.
        dx: (N, C) gradient of the loss with respect to ``x``.
    """
    N = x.shape[0]
    rows = torch.arange(N, device=x.device)
    shifted = x - x.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    loss = -log_probs[rows, y].sum() / N
    dx = log_probs.exp()
    dx[rows, y] -= 1
    dx /= N
    return loss, dx


def svm_loss(x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    """The multiclass SVM (hinge) loss, margin 1, averaged over the examples, and its gradient.

    Args:
        x: (N, C) scores, ``x[i, c]`` the score of class c for example i.
        y: (N,) int64 labels in [0, C), device of ``x``.

    Returns:
        loss: 0-dim tensor, dtype and device of ``x``.
        dx: (N, C) gradient of the loss with respect to ``x``.
    """
    N = x.shape[0]
    rows = torch.arange(N, device=x.device)
    correct = x[rows, y].unsqueeze(1)
    margins = (x - correct + 1.0).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / N
    dx = (margins > 0).to(x.dtype)
    dx[rows, y] -= dx.sum(dim=1)
    dx /= N
    return loss, dx


# ------------------------------------------------------------------------------------------------
# checkpoints of the networks (given: nothing to do)

COURSE_KEYS = ("reg", "dtype", "params", "num_layers", "use_dropout", "dropout_param")  # the course's save
EXTRA_KEYS = ("hidden_dims", "activation", "input_dim", "num_classes")  # ours, so the architecture is explicit


def _save_network(net, path) -> None:
    """Write ``net`` with ``torch.save``: the course's keys ``reg``, ``dtype``, ``params`` (a dict of
    CPU tensors), ``num_layers``, ``use_dropout`` and ``dropout_param``, and ours ``hidden_dims``,
    ``activation``, ``input_dim`` and ``num_classes``. The course's own ``load`` reads it as well."""
    dropout_param = dict(getattr(net, "dropout_param", {}) or {})
    checkpoint = {
        "reg": float(net.reg),
        "dtype": net.dtype,
        "params": {k: v.detach().cpu() for k, v in net.params.items()},
        "num_layers": 1 + len(net.hidden_dims),
        "use_dropout": bool(getattr(net, "use_dropout", False)),
        "dropout_param": dropout_param,
        "hidden_dims": [int(h) for h in net.hidden_dims],
        "activation": net.activation,
        "input_dim": int(net.input_dim),
        "num_classes": int(net.num_classes),
    }
    torch.save(checkpoint, path)
    print(f"Saved in {path}")


def _read_network_checkpoint(path) -> dict:
    """Read and validate a network checkpoint; ``ValueError`` says what is wrong.

    Accepts what ``save`` writes and what the course's ``save`` methods write (``{"reg",
    "params"}`` for ``TwoLayerNet``; ``{"reg", "dtype", "params", "num_layers", "use_dropout",
    "dropout_param"}`` for ``FullyConnectedNet``): the architecture is read from the shapes of
    ``params`` (W1 (D, H_1), b1 (H_1,), ..., WL (H_{L-1}, C), bL (C,)) and checked against the keys
    that are present; a checkpoint without ``activation`` is a ReLU network. Returns a dict with
    ``params``, ``hidden_dims``, ``activation``, ``input_dim``, ``num_classes``, and ``reg``,
    ``use_dropout``, ``dropout_param`` when the file has them.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("params"), dict):
        what = f"the keys {sorted(map(str, checkpoint))}" if isinstance(checkpoint, dict) else \
            f"a {type(checkpoint).__name__}"
        raise ValueError(f"{path} is not a network checkpoint: expected a dict whose 'params' is the dict of the "
                         f"weights W1, b1, ... (as written by save), got {what}")
    params = checkpoint["params"]
    num_layers = sum(1 for k in params if isinstance(k, str) and k.startswith("W"))
    expected_names = {f"{kind}{i}" for i in range(1, num_layers + 1) for kind in "Wb"}
    if num_layers == 0 or set(params) != expected_names:
        raise ValueError(f"{path}: params must have the keys W1, b1, ..., WL, bL of consecutive layers, got "
                         f"{sorted(map(str, params))}")
    dims = []
    for i in range(1, num_layers + 1):
        W, b = params[f"W{i}"], params[f"b{i}"]
        for name, value in ((f"W{i}", W), (f"b{i}", b)):
            if not isinstance(value, Tensor) or not value.is_floating_point():
                what = f"a {value.dtype} tensor" if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"{path}: params[{name!r}] must be a floating tensor, got {what}")
        if W.dim() != 2 or tuple(b.shape) != (W.shape[1],) or (dims and W.shape[0] != dims[-1]):
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(params.items()))
            raise ValueError(f"{path}: the shapes of params do not fit W1 (D, H_1), b1 (H_1,), ..., WL (H_(L-1), C), "
                             f"bL (C,): {shapes}")
        dims += [W.shape[0]] if not dims else []
        dims.append(W.shape[1])
    found = {"params": params, "hidden_dims": dims[1:-1], "input_dim": dims[0], "num_classes": dims[-1],
             "activation": checkpoint.get("activation", "relu")}
    if found["activation"] not in ACTIVATIONS:
        raise ValueError(f"{path}: activation must be one of {', '.join(map(repr, ACTIVATIONS))}, "
                         f"got {found['activation']!r}")
    stated = {"hidden_dims": checkpoint.get("hidden_dims"), "input_dim": checkpoint.get("input_dim"),
              "num_classes": checkpoint.get("num_classes"), "num_layers": checkpoint.get("num_layers")}
    actual = {"hidden_dims": found["hidden_dims"], "input_dim": found["input_dim"],
              "num_classes": found["num_classes"], "num_layers": num_layers}
    for key, value in stated.items():
        if value is not None and (list(value) if isinstance(value, (list, tuple)) else value) != actual[key]:
            raise ValueError(f"{path}: {key} is {value!r}, but the weights in params have {actual[key]!r}")
    for key in ("reg", "use_dropout", "dropout_param"):
        if key in checkpoint:
            found[key] = checkpoint[key]
    return found


def _restore_network(net, checkpoint: dict, dtype, device) -> None:
    """Put a checkpoint read by ``_read_network_checkpoint`` into ``net`` (as the course's ``load``
    does: the parameters in ``dtype`` on ``device``, and ``reg`` and dropout when the file has them)."""
    net.dtype = net.dtype if dtype is None else dtype
    net.device = net.device if device is None else torch.device(device)
    net.hidden_dims = list(checkpoint["hidden_dims"])
    net.num_layers = 1 + len(net.hidden_dims)
    net.activation = checkpoint["activation"]
    net.input_dim, net.num_classes = checkpoint["input_dim"], checkpoint["num_classes"]
    if "reg" in checkpoint:
        net.reg = checkpoint["reg"]
    if "use_dropout" in checkpoint and "dropout_param" in checkpoint:
        net.use_dropout = bool(checkpoint["use_dropout"])
        net.dropout_param = dict(checkpoint["dropout_param"])
    net.params = {k: v.to(device=net.device, dtype=net.dtype) for k, v in checkpoint["params"].items()}


# ------------------------------------------------------------------------------------------------
# networks


class TwoLayerNet:
    """A two-layer fully-connected network with a ReLU and a softmax loss, built from the layers.

    The architecture is ``linear - relu - linear - softmax``; the parameters are in
    ``self.params``: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    """

    def __init__(self, input_dim: int = 3 * 32 * 32, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 1e-3, reg: float = 0.0, dtype: torch.dtype = torch.float32,
                 device="cpu"):
        """Initialize the parameters: weights ``weight_scale * randn``, biases zeros.

        Args:
            input_dim: D, the size of an input (an input may be an image (N, d_1, ..., d_k)).
            hidden_dim: H, the size of the hidden layer.
            num_classes: C, the number of classes.
            weight_scale: the standard deviation of the random initial weights.
            reg: L2 regularization strength.
            dtype: of the parameters: float32 to train, float64 for gradient checks.
            device: of the parameters, ``"cpu"`` or a CUDA device.
        """
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        self.device = torch.device(device)
        self.input_dim, self.hidden_dim, self.num_classes = input_dim, hidden_dim, num_classes
        self.hidden_dims, self.activation = [hidden_dim], "relu"  # what save writes
        # Initialize W1, b1, W2, b2 in self.params: weights from a Gaussian with mean 0 and
        # standard deviation weight_scale (torch.randn with the given dtype and device), biases 0.
        ### BEGIN SOLUTION
        self.params["W1"] = weight_scale * torch.randn(input_dim, hidden_dim, dtype=dtype, device=device)
        self.params["b1"] = torch.zeros(hidden_dim, dtype=dtype, device=device)
        self.params["W2"] = weight_scale * torch.randn(hidden_dim, num_classes, dtype=dtype, device=device)
        self.params["b2"] = torch.zeros(num_classes, dtype=dtype, device=device)
        ### END SOLUTION

    def loss(self, X: Tensor, y: Optional[Tensor] = None):
        """The loss and gradients for a minibatch, or the scores when ``y`` is None.

        Use ``Linear_ReLU``, ``Linear`` and ``softmax_loss``. The loss is the softmax loss plus
        ``self.reg * (sum(W1 * W1) + sum(W2 * W2))``.

        Args:
            X: (N, d_1, ..., d_k) inputs, dtype and device of the parameters.
            y: (N,) int64 labels in [0, C), or ``None``.

        Returns:
            When ``y`` is None: scores, (N, C).
            Otherwise ``(loss, grads)``: the loss a 0-dim tensor; grads a dict with the keys of
            ``self.params``, each gradient with the shape, dtype and device of its parameter.
        """
        scores = None
        # The forward pass: the class scores for X, in the variable scores.
        ### BEGIN SOLUTION
        hidden, cache1 = Linear_ReLU.forward(X, self.params["W1"], self.params["b1"])
        scores, cache2 = Linear.forward(hidden, self.params["W2"], self.params["b2"])
        ### END SOLUTION

        # If y is None then we are in test mode so just return scores
        if y is None:
            return scores

        loss, grads = 0, {}
        # The backward pass: the loss in loss, the gradients in grads (regularization included).
        ### BEGIN SOLUTION
        W1, W2 = self.params["W1"], self.params["W2"]
        loss, dscores = softmax_loss(scores, y)
        loss = loss + self.reg * (torch.sum(W1 * W1) + torch.sum(W2 * W2))
        dhidden, grads["W2"], grads["b2"] = Linear.backward(dscores, cache2)
        _, grads["W1"], grads["b1"] = Linear_ReLU.backward(dhidden, cache1)
        grads["W1"] = grads["W1"] + 2 * self.reg * W1
        grads["W2"] = grads["W2"] + 2 * self.reg * W2
        ### END SOLUTION
        return loss, grads

    def save(self, path) -> None:
        """Write the network to ``path``: the course's ``{"reg", "params"}`` and the keys of
        ``FullyConnectedNet.save`` (``hidden_dims = [H]``), so either class's ``load`` reads it."""
        _save_network(self, path)

    def load(self, path, dtype: Optional[torch.dtype] = None, device=None) -> None:
        """Read a network written by ``save`` (or by the course's ``save``: ``{"reg", "params"}``);
        its parameters are put in ``dtype`` on ``device`` (as the course's ``load(path, dtype,
        device)``; ``None``: this network's dtype and device), and ``reg`` is restored.

        Raises ``ValueError`` when the file is not such a checkpoint, or holds a network that is
        not linear - relu - linear. Input, hidden and class sizes are taken from the checkpoint.
        """
        checkpoint = _read_network_checkpoint(path)
        if len(checkpoint["hidden_dims"]) != 1 or checkpoint["activation"] != "relu":
            raise ValueError(f"{path}: not a two-layer ReLU network (hidden_dims {checkpoint['hidden_dims']}, "
                             f"activation {checkpoint['activation']!r}); load it with FullyConnectedNet")
        checkpoint.pop("use_dropout", None)
        checkpoint.pop("dropout_param", None)
        _restore_network(self, checkpoint, dtype, device)
        self.hidden_dim = self.hidden_dims[0]
        print(f"load checkpoint file: {path}")


class FullyConnectedNet:
    """A fully-connected network with any number of hidden layers, an activation, dropout and a
    softmax loss.

    For a network with L layers the architecture is::

        {linear - activation - [dropout]} x (L - 1) - linear - softmax

    where dropout is optional and the {...} block is repeated L - 1 times. The parameters are in
    ``self.params``: ``W1`` (D, H_1), ``b1`` (H_1,), ..., ``WL`` (H_{L-1}, C), ``bL`` (C,).
    """

    def __init__(self, hidden_dims: Sequence[int], input_dim: int = 3 * 32 * 32, num_classes: int = 10,
                 dropout: float = 0.0, reg: float = 0.0, weight_scale: float = 1e-2, seed: Optional[int] = None,
                 dtype: torch.dtype = torch.float, device="cpu", activation: str = "relu"):
        """Initialize the parameters: weights ``weight_scale * randn``, biases zeros.

        Args:
            hidden_dims: the sizes of the hidden layers, [H_1, ..., H_{L-1}].
            input_dim: D, the size of an input.
            num_classes: C, the number of classes.
            dropout: the probability of dropping a unit, 0 <= dropout < 1; 0 means no dropout.
            reg: L2 regularization strength.
            weight_scale: the standard deviation of the random initial weights.
            seed: when not None, the dropout layers are seeded with it (deterministic masks, for
                gradient checks).
            dtype: of the parameters: float32 to train, float64 for gradient checks.
            device: of the parameters, ``"cpu"`` or a CUDA device.
            activation: ``"relu"``, ``"leaky_relu"`` or ``"elu"``; anything else is a ``ValueError``.
        """
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}")
        self.use_dropout = dropout != 0
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.device = torch.device(device)
        self.hidden_dims = list(hidden_dims)
        self.input_dim, self.num_classes, self.activation = input_dim, num_classes, activation
        self.params = {}

        # Initialize W1, b1, ..., WL, bL in self.params (L = self.num_layers): the weights of
        # layer i from a Gaussian with mean 0 and standard deviation weight_scale (torch.randn with
        # the given dtype and device), its biases zeros. Layer i maps the output size of layer
        # i - 1 (input_dim for the first layer) to hidden_dims[i - 1] (num_classes for the last).
        ### BEGIN SOLUTION
        dims = [input_dim, *self.hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * torch.randn(dims[i - 1], dims[i], dtype=dtype, device=device)
            self.params[f"b{i}"] = torch.zeros(dims[i], dtype=dtype, device=device)
        ### END SOLUTION

        # When using dropout we need to pass a dropout_param dictionary to each dropout layer so
        # that the layer knows the dropout probability and the mode (train / test). You can pass
        # the same dropout_param to each dropout layer.
        self.dropout_param = {"mode": "train", "p": dropout}
        if seed is not None:
            self.dropout_param["seed"] = seed

    def _activation_layer(self):
        """The layer class of ``self.activation`` (given: nothing to do)."""
        return {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU}[self.activation]

    def loss(self, X: Tensor, y: Optional[Tensor] = None):
        """The loss and gradients for a minibatch, or the scores when ``y`` is None.

        Use ``Linear``, the activation's layer (``self._activation_layer()``, with its default
        slope or alpha), ``Dropout`` (after each activation, when ``self.use_dropout``, with
        ``self.dropout_param``) and ``softmax_loss``. Keep the caches of every layer for the
        backward pass. The loss is the softmax loss plus ``self.reg`` times the sum of
        ``sum(W * W)`` over all the weight matrices.

        Args:
            X: (N, d_1, ..., d_k) inputs, dtype and device of the parameters.
            y: (N,) int64 labels in [0, C), or ``None``: then dropout runs in test mode.

        Returns:
            When ``y`` is None: scores, (N, C).
            Otherwise ``(loss, grads)``: the loss a 0-dim tensor; grads a dict with the keys of
            ``self.params``, each gradient with the shape, dtype and device of its parameter.
        """
        mode = "test" if y is None else "train"

        # Set train/test mode for dropout param since it behaves differently during training
        # and testing.
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        act = self._activation_layer()
        scores = None
        # The forward pass: the class scores for X, in the variable scores.
        ### BEGIN SOLUTION
        caches = []
        h = X
        for i in range(1, self.num_layers):
            h, linear_cache = Linear.forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            h, act_cache = act.forward(h)
            dropout_cache = None
            if self.use_dropout:
                h, dropout_cache = Dropout.forward(h, self.dropout_param)
            caches.append((linear_cache, act_cache, dropout_cache))
        L = self.num_layers
        scores, last_cache = Linear.forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION

        # If test mode return early
        if mode == "test":
            return scores

        loss, grads = 0.0, {}
        # The backward pass: the loss in loss, the gradients in grads (regularization included).
        ### BEGIN SOLUTION
        loss, dout = softmax_loss(scores, y)
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss = loss + self.reg * torch.sum(W * W)
        dout, dW, grads[f"b{L}"] = Linear.backward(dout, last_cache)
        grads[f"W{L}"] = dW + 2 * self.reg * self.params[f"W{L}"]
        for i in range(L - 1, 0, -1):
            linear_cache, act_cache, dropout_cache = caches[i - 1]
            if self.use_dropout:
                dout = Dropout.backward(dout, dropout_cache)
            dout = act.backward(dout, act_cache)
            dout, dW, grads[f"b{i}"] = Linear.backward(dout, linear_cache)
            grads[f"W{i}"] = dW + 2 * self.reg * self.params[f"W{i}"]
        ### END SOLUTION
        return loss, grads

    def save(self, path) -> None:
        """Write the network to ``path`` (given: nothing to do): the course's keys ``reg``,
        ``dtype``, ``params`` ({name: CPU tensor}), ``num_layers``, ``use_dropout``,
        ``dropout_param``, and ``hidden_dims``, ``activation``, ``input_dim``, ``num_classes``."""
        _save_network(self, path)

    def load(self, path, dtype: Optional[torch.dtype] = None, device=None) -> None:
        """Read a network written by ``save`` or by the course's ``save`` (given: nothing to do).

        Restores the architecture (hidden sizes, activation, input and class sizes, from the
        shapes of the weights when the file does not say them), ``reg`` and dropout (when the
        file has them) and the parameters, put in ``dtype`` on ``device`` (the course's
        ``load(path, dtype, device)``; ``None``: this network's dtype and device). Raises
        ``ValueError`` when the file is not such a checkpoint.
        """
        checkpoint = _read_network_checkpoint(path)
        _restore_network(self, checkpoint, dtype, device)
        print(f"load checkpoint file: {path}")


# ------------------------------------------------------------------------------------------------
# training with the Solver


def create_solver_instance(data_dict: dict, dtype: torch.dtype, device):
    """A ``Solver`` (``eecs498.solver``) that trains a ``TwoLayerNet`` to the notebook's target.

    The model is given. Choose the update rule, its ``optim_config`` (learning rate, ...), the
    learning rate decay or schedule, the batch size and the number of epochs so that, after
    ``solver.train()``, the best validation accuracy reaches the notebook's target (at least 50%
    on CIFAR-10) within about a minute of training on a laptop CPU.

    Args:
        data_dict: ``X_train``, ``y_train``, ``X_val``, ``y_val`` (flattened, no bias trick).
        dtype: of the model's parameters (the data's dtype).
        device: where the model and the data live.

    Returns:
        solver: an ``eecs498.solver.Solver``, not trained yet.
    """
    model = TwoLayerNet(input_dim=data_dict["X_train"][0].numel(), hidden_dim=200, num_classes=10,
                        dtype=dtype, device=device)
    solver = None
    ### BEGIN SOLUTION
    solver = Solver(model, data_dict, update_rule=sgd_momentum, optim_config={"learning_rate": 5e-2},
                    lr_schedule="cosine", batch_size=128, num_epochs=10, print_every=1000, device=device)
    ### END SOLUTION
    return solver


def get_three_layer_network_params() -> Tuple[float, float]:
    """The weight scale and learning rate with which a three-layer network overfits 50 examples.

    The notebook trains ``FullyConnectedNet([100, 100], weight_scale=weight_scale)`` with
    ``Solver(..., update_rule=sgd, optim_config={"learning_rate": learning_rate}, batch_size=25,
    num_epochs=20)`` on 50 training examples; it should reach 100% training accuracy.

    Returns:
        weight_scale, learning_rate: Python floats.
    """
    weight_scale = 1e-2  # Experiment with this!
    learning_rate = 1e-4  # Experiment with this!
    ### BEGIN SOLUTION
    weight_scale = 2e-1
    learning_rate = 1e-1
    ### END SOLUTION
    return weight_scale, learning_rate


def get_five_layer_network_params() -> Tuple[float, float]:
    """The weight scale and learning rate with which a five-layer network overfits 50 examples.

    As ``get_three_layer_network_params``, with ``FullyConnectedNet([100, 100, 100, 100])``.

    Returns:
        weight_scale, learning_rate: Python floats.
    """
    weight_scale = 1e-2  # Experiment with this!
    learning_rate = 2e-3  # Experiment with this!
    ### BEGIN SOLUTION
    weight_scale = 1.5e-1
    learning_rate = 1.2e-1
    ### END SOLUTION
    return weight_scale, learning_rate


# ------------------------------------------------------------------------------------------------
# update rules


def sgd(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """Vanilla stochastic gradient descent: ``w -= learning_rate * dw`` (given: nothing to do).

    As the course's: ``w`` is updated IN PLACE and returned (``next_w`` is ``w``).

    config format:
        ``learning_rate``: scalar learning rate (default 1e-2).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_momentum(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """Stochastic gradient descent with momentum.

    ``v = momentum * v - learning_rate * dw``; ``next_w = w + v``; store the new ``v`` in
    ``config["velocity"]``.

    Args:
        w: a parameter, any shape, floating dtype and device.
        dw: its gradient, same shape, dtype and device.
        config: dict with ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9) and
            ``velocity`` (default ``torch.zeros_like(w)``), the state carried between steps.

    Returns:
        next_w: the updated parameter: a new tensor, or ``w`` itself updated in place.
        config: the same dict, its ``velocity`` the new one.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", torch.zeros_like(w))
    v = config["velocity"]

    next_w = None
    ### BEGIN SOLUTION
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    ### END SOLUTION
    config["velocity"] = v
    return next_w, config


def sgd_nesterov(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """Stochastic gradient descent with Nesterov momentum (lecture 4's change of variables).

    ``v_prev = v``; ``v = momentum * v - learning_rate * dw``;
    ``next_w = w - momentum * v_prev + (1 + momentum) * v``; store the new ``v`` in
    ``config["velocity"]``.

    Args:
        w: a parameter, any shape, floating dtype and device.
        dw: its gradient, same shape, dtype and device.
        config: dict with ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9) and
            ``velocity`` (default ``torch.zeros_like(w)``).

    Returns:
        next_w: the updated parameter: a new tensor, or ``w`` itself updated in place.
        config: the same dict, its ``velocity`` the new one.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", torch.zeros_like(w))
    v = config["velocity"]

    next_w = None
    ### BEGIN SOLUTION
    v_prev = v
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w - config["momentum"] * v_prev + (1 + config["momentum"]) * v
    ### END SOLUTION
    config["velocity"] = v
    return next_w, config


def adagrad(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """AdaGrad: per-parameter learning rates from the sum of the squared gradients so far.

    ``cache = cache + dw * dw``; ``next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``;
    store the new ``cache`` in ``config["cache"]``.

    Args:
        w: a parameter, any shape, floating dtype and device.
        dw: its gradient, same shape, dtype and device.
        config: dict with ``learning_rate`` (default 1e-2), ``epsilon`` (default 1e-8, avoids a
            division by zero) and ``cache`` (default ``torch.zeros_like(w)``).

    Returns:
        next_w: the updated parameter: a new tensor, or ``w`` itself updated in place.
        config: the same dict, its ``cache`` the new one.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", torch.zeros_like(w))

    next_w = None
    ### BEGIN SOLUTION
    cache = config["cache"] + dw * dw
    next_w = w - config["learning_rate"] * dw / (torch.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def rmsprop(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """RMSProp: AdaGrad with a moving average of the squared gradients.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw * dw``;
    ``next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``; store the new ``cache`` in
    ``config["cache"]``.

    Args:
        w: a parameter, any shape, floating dtype and device.
        dw: its gradient, same shape, dtype and device.
        config: dict with ``learning_rate`` (default 1e-2), ``decay_rate`` (default 0.99),
            ``epsilon`` (default 1e-8) and ``cache`` (default ``torch.zeros_like(w)``).

    Returns:
        next_w: the updated parameter: a new tensor, or ``w`` itself updated in place.
        config: the same dict, its ``cache`` the new one.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", torch.zeros_like(w))

    next_w = None
    ### BEGIN SOLUTION
    decay = config["decay_rate"]
    cache = decay * config["cache"] + (1 - decay) * dw * dw
    next_w = w - config["learning_rate"] * dw / (torch.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def adam(w: Tensor, dw: Tensor, config: Optional[dict] = None) -> Tuple[Tensor, dict]:
    """Adam: momentum (first moment) and RMSProp (second moment), with bias correction.

    Increment ``t`` FIRST, then::

        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw * dw
        m_hat = m / (1 - beta1 ** t)          # bias correction
        v_hat = v / (1 - beta2 ** t)
        next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ``config`` keeps ``t`` and the UNCORRECTED ``m`` and ``v``.

    Args:
        w: a parameter, any shape, floating dtype and device.
        dw: its gradient, same shape, dtype and device.
        config: dict with ``learning_rate`` (default 1e-3), ``beta1`` (default 0.9), ``beta2``
            (default 0.999), ``epsilon`` (default 1e-8), ``m`` and ``v`` (default
            ``torch.zeros_like(w)``) and ``t`` (default 0, the number of steps taken).

    Returns:
        next_w: the updated parameter: a new tensor, or ``w`` itself updated in place.
        config: the same dict with the new ``m``, ``v`` and ``t``.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", torch.zeros_like(w))
    config.setdefault("v", torch.zeros_like(w))
    config.setdefault("t", 0)

    next_w = None
    ### BEGIN SOLUTION
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = beta2 * config["v"] + (1 - beta2) * dw * dw
    m_hat = config["m"] / (1 - beta1 ** t)
    v_hat = config["v"] / (1 - beta2 ** t)
    next_w = w - config["learning_rate"] * m_hat / (torch.sqrt(v_hat) + config["epsilon"])
    ### END SOLUTION
    return next_w, config
