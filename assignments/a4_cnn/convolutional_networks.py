"""Convolutional networks: convolution, pooling, normalization layers and deep CNNs (A4, part 1).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below;
``convolutional_networks.ipynb`` imports this module, runs visible checks and trains networks with
your code. The layers and update rules of the previous assignment come from
``fully_connected_networks.py`` (shipped beside this file, complete): ``Linear``, ``ReLU``,
``Linear_ReLU``, ``softmax_loss``, ``adam``, ``sgd_momentum``.

Layers follow the previous assignment's convention: a class with two static methods,
``forward(x, ...) -> (out, cache)`` and ``backward(dout, cache) -> dx`` (or ``(dx, dw, db)``,
``(dx, dgamma, dbeta)`` for a layer with parameters), each gradient of the shape of its input.
Networks follow the model API that ``eecs498.solver.Solver`` trains: ``model.params`` (a dict
of tensors) and ``model.loss(X, y) -> (loss, grads)``, ``model.loss(X) -> scores``.

Notation:

* ``x``: (N, C, H, W) a minibatch of N images with C channels, H rows and W columns;
* ``w``: (F, C, HH, WW) F convolution filters, each spanning all C channels over HH x WW pixels;
  ``b``: (F,) their biases;
* ``conv_param``: dict with ``"stride"`` (pixels between neighboring receptive fields, in both
  directions) and ``"pad"`` (zeros added on every side of the image, in both directions); the
  output has H' = 1 + (H + 2 * pad - HH) // stride rows and W' = 1 + (W + 2 * pad - WW) // stride
  columns;
* ``pool_param``: dict with ``"pool_height"``, ``"pool_width"`` and ``"stride"`` (no padding);
* ``bn_param``: dict with ``"mode"`` (``"train"`` or ``"test"``, required), ``"eps"`` (default
  1e-5), ``"momentum"`` (default 0.9), and the state the layer keeps, ``"running_mean"`` and
  ``"running_var"``;
* ``y``: (N,) int64 labels in [0, C) for the networks' losses; L2 regularization adds
  ``reg * sum(W * W)`` for every weight tensor W (convolution filters and fully connected weights,
  not biases, not the batchnorm ``gamma``/``beta``); its gradient is ``2 * reg * W``.

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with: build new tensors with
  ``x.new_zeros(...)``, ``torch.zeros_like(...)``, ``torch.randn(..., dtype=dtype,
  device=device)`` and the like. Never call ``.cuda()``, ``.cpu()`` or ``.to(device)`` on the data,
  never write ``'cuda'``, and never hard-code ``torch.float32`` inside a computation.
* Compute gradients yourself: do not use ``torch.autograd`` (``.backward()``,
  ``torch.autograd.grad``, ``requires_grad``) nor anything from ``torch.nn`` in the layers you
  write — except ``torch.nn.functional.pad`` for padding (the course's hint, allowed wherever you
  pad), ``torch.nn.functional.unfold`` (optional) in ``Conv.forward_im2col`` and ``fold`` in
  ``Conv.backward_im2col``, where they are the point. (The given ``FastConv`` and
  ``FastMaxPool`` wrap ``torch.nn.functional`` with autograd inside: they are what the networks
  use to train quickly, and what you check your own layers against; the layers you write may not
  call them.)
* Do not modify the inputs (``x``, ``w``, ``dout``, ...) in place: return new tensors.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from eecs498.solver import Solver
from fully_connected_networks import Linear, Linear_ReLU, ReLU, adam, sgd_momentum, softmax_loss


def hello_convolutional_networks():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from convolutional_networks.py!")


hello = hello_convolutional_networks  # the short name of the earlier assignments


# ------------------------------------------------------------------------------------------------
# convolution


class Conv:
    """A convolutional layer: F filters slid over the image, one output channel per filter."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, conv_param: dict) -> Tuple[Tensor, tuple]:
        """A naive forward pass of a convolutional layer: Python loops are fine here.

        Output channel f at output position (i, j) is the sum over the C channels and the HH x WW
        window starting at row ``i * stride``, column ``j * stride`` of the padded input, of the
        window times filter ``w[f]``, plus ``b[f]``.

        Pad first: ``pad`` zeros on each side of the height and width axes (a new tensor from
        ``x.new_zeros(...)`` with ``x`` copied into its middle, or ``torch.nn.functional.pad``; do
        not modify ``x``). Then loop
        over the output positions (i, j) — and, if you like, over the images and filters too,
        though one matrix product per position handles all of them at once.

        Args:
            x: (N, C, H, W) input, any floating dtype and device.
            w: (F, C, HH, WW) filters, dtype and device of ``x``.
            b: (F,) biases, dtype and device of ``x``.
            conv_param: ``{"stride": int, "pad": int}``.

        Returns:
            out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride and
                W' = 1 + (W + 2 * pad - WW) // stride; dtype and device of ``x``.
            cache: ``(x, w, b, conv_param)``.
        """
        out = None
        ### BEGIN SOLUTION
        stride, pad = conv_param["stride"], conv_param["pad"]
        N, C, H, W = x.shape
        num_filters, _, HH, WW = w.shape
        H_out = 1 + (H + 2 * pad - HH) // stride
        W_out = 1 + (W + 2 * pad - WW) // stride
        x_pad = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)
        x_pad[:, :, pad:pad + H, pad:pad + W] = x
        w_rows = w.reshape(num_filters, -1)  # (F, C*HH*WW)
        out = x.new_zeros(N, num_filters, H_out, W_out)
        for i in range(H_out):
            for j in range(W_out):
                r, c = i * stride, j * stride
                window = x_pad[:, :, r:r + HH, c:c + WW].reshape(N, -1)  # (N, C*HH*WW)
                out[:, :, i, j] = window.mm(w_rows.t()) + b
        ### END SOLUTION
        cache = (x, w, b, conv_param)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """A naive backward pass of a convolutional layer: Python loops are fine here.

        Each output value used one window of the padded input and one filter: send ``dout`` back
        to both. Accumulate the gradient of the PADDED input, then cut the padding off.

        Args:
            dout: (N, F, H', W') upstream gradient.
            cache: ``(x, w, b, conv_param)`` from ``Conv.forward``.

        Returns:
            dx: (N, C, H, W) gradient with respect to ``x``.
            dw: (F, C, HH, WW) gradient with respect to ``w``.
            db: (F,) gradient with respect to ``b``.
        """
        dx, dw, db = None, None, None
        ### BEGIN SOLUTION
        x, w, b, conv_param = cache
        stride, pad = conv_param["stride"], conv_param["pad"]
        N, C, H, W = x.shape
        num_filters, _, HH, WW = w.shape
        _, _, H_out, W_out = dout.shape
        x_pad = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)
        x_pad[:, :, pad:pad + H, pad:pad + W] = x
        dx_pad = torch.zeros_like(x_pad)
        w_rows = w.reshape(num_filters, -1)
        dw_rows = torch.zeros_like(w_rows)
        for i in range(H_out):
            for j in range(W_out):
                r, c = i * stride, j * stride
                window = x_pad[:, :, r:r + HH, c:c + WW].reshape(N, -1)
                d = dout[:, :, i, j]  # (N, F)
                dw_rows += d.t().mm(window)
                dx_pad[:, :, r:r + HH, c:c + WW] += d.mm(w_rows).reshape(N, C, HH, WW)
        dx = dx_pad[:, :, pad:pad + H, pad:pad + W].clone()
        dw = dw_rows.reshape(w.shape)
        db = dout.sum(dim=(0, 2, 3))
        ### END SOLUTION
        return dx, dw, db

    @staticmethod
    def forward_im2col(x: Tensor, w: Tensor, b: Tensor, conv_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of a convolutional layer as ONE matrix product ("im2col").

        Every output value is a dot product of a filter, flattened to C * HH * WW numbers, with an
        input window flattened the same way. Lay all the windows side by side as columns and the
        whole convolution is a single matrix product:

        1. pad ``x`` (as in ``Conv.forward``) and take every window with ``Tensor.unfold``:
           ``x_pad.unfold(2, HH, stride).unfold(3, WW, stride)`` is a VIEW of shape
           (N, C, H', W', HH, WW), ``[n, :, i, j]`` the window of output (i, j) — nothing is
           copied yet;
        2. permute and reshape it to the columns, (N, C * HH * WW, L) with L = H' * W': column l
           of image n is the l-th window (row by row), flattened in the order of
           ``w[f].reshape(-1)``, i.e. (c, row, column). This reshape is the one copy — the im2col
           matrix, HH * WW times the size of the input;
        3. multiply the (F, C * HH * WW) filter matrix with the columns (one ``matmul``, which
           broadcasts over the N images), add the biases, reshape (N, F, L) to (N, F, H', W').

        No Python loop. ``torch.nn.functional.unfold(x, (HH, WW), padding=pad, stride=stride)``
        returns the same columns in one call and may be used instead (it is the only ``torch.nn``
        function allowed here); on the CPU it is slower than the view (measured with
        ``scripts/bench_conv.py``).

        Args and returns: as ``Conv.forward``, except
            cache: ``(x, w, b, conv_param, cols)``, the columns kept for the backward pass.
        """
        out, cache = None, None
        ### BEGIN SOLUTION
        stride, pad = conv_param["stride"], conv_param["pad"]
        N, C, H, W = x.shape
        num_filters, _, HH, WW = w.shape
        x_pad = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)
        x_pad[:, :, pad:pad + H, pad:pad + W] = x
        windows = x_pad.unfold(2, HH, stride).unfold(3, WW, stride)  # (N, C, H', W', HH, WW), a view
        H_out, W_out = windows.shape[2], windows.shape[3]
        cols = windows.permute(0, 1, 4, 5, 2, 3).reshape(N, C * HH * WW, H_out * W_out)  # the copy
        out = w.reshape(num_filters, -1).matmul(cols) + b.reshape(1, -1, 1)  # (N, F, L)
        out = out.reshape(N, num_filters, H_out, W_out)
        cache = (x, w, b, conv_param, cols)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward_im2col(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of ``Conv.forward_im2col``: matrix products, then "col2im".

        Per image, ``out = W_rows @ cols + b``, so ``dW_rows`` is the sum over the images of
        ``dout_rows @ cols^T`` (a batched ``matmul``, then a sum) and ``dcols = W_rows^T @
        dout_rows``. Each column of ``dcols`` is the gradient of one window:
        ``torch.nn.functional.fold(dcols, (H, W), (HH, WW), padding=pad, stride=stride)``, the
        adjoint of ``unfold``, adds every window's gradient back into its place in the image,
        summing where windows overlap and dropping the padding.

        No Python loop. ``fold`` is the only ``torch.nn`` function you may use here.

        Args:
            dout: (N, F, H', W') upstream gradient.
            cache: ``(x, w, b, conv_param, cols)`` from ``Conv.forward_im2col``.

        Returns:
            dx, dw, db: as ``Conv.backward``.
        """
        dx, dw, db = None, None, None
        ### BEGIN SOLUTION
        x, w, b, conv_param, cols = cache
        stride, pad = conv_param["stride"], conv_param["pad"]
        N, C, H, W = x.shape
        num_filters, _, HH, WW = w.shape
        dout_rows = dout.reshape(N, num_filters, -1)  # (N, F, L)
        db = dout_rows.sum(dim=(0, 2))
        dw = dout_rows.matmul(cols.transpose(1, 2)).sum(dim=0).reshape(w.shape)  # (N, F, K) summed over N
        dcols = w.reshape(num_filters, -1).t().matmul(dout_rows)  # (N, C*HH*WW, L)
        dx = F.fold(dcols, (H, W), (HH, WW), padding=pad, stride=stride)
        ### END SOLUTION
        return dx, dw, db


# ------------------------------------------------------------------------------------------------
# max pooling


class MaxPool:
    """Max pooling: the largest value of every pool_height x pool_width window, channel by channel."""

    @staticmethod
    def forward(x: Tensor, pool_param: dict) -> Tuple[Tensor, tuple]:
        """A naive forward pass of a max-pooling layer: Python loops are fine here.

        Output (n, c, i, j) is the maximum of ``x[n, c]`` over the window starting at row
        ``i * stride`` and column ``j * stride``. No padding.

        Args:
            x: (N, C, H, W) input, any floating dtype and device.
            pool_param: ``{"pool_height": int, "pool_width": int, "stride": int}``.

        Returns:
            out: (N, C, H', W') with H' = 1 + (H - pool_height) // stride and
                W' = 1 + (W - pool_width) // stride; dtype and device of ``x``.
            cache: ``(x, pool_param)``.
        """
        out = None
        ### BEGIN SOLUTION
        ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        N, C, H, W = x.shape
        H_out = 1 + (H - ph) // stride
        W_out = 1 + (W - pw) // stride
        out = x.new_zeros(N, C, H_out, W_out)
        for i in range(H_out):
            for j in range(W_out):
                r, c = i * stride, j * stride
                out[:, :, i, j] = x[:, :, r:r + ph, c:c + pw].amax(dim=(2, 3))
        ### END SOLUTION
        cache = (x, pool_param)
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tensor:
        """A naive backward pass of a max-pooling layer: Python loops are fine here.

        Each output value came from one input value, the maximum of its window: its gradient
        goes there and nowhere else (to the first maximum, in row-major order, should a window
        hold several — ``argmax`` does that). Overlapping windows add up.

        Args:
            dout: (N, C, H', W') upstream gradient.
            cache: ``(x, pool_param)`` from ``MaxPool.forward``.

        Returns:
            dx: (N, C, H, W) gradient with respect to ``x``.
        """
        dx = None
        ### BEGIN SOLUTION
        x, pool_param = cache
        ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        N, C, H, W = x.shape
        _, _, H_out, W_out = dout.shape
        dx = torch.zeros_like(x)
        for i in range(H_out):
            for j in range(W_out):
                r, c = i * stride, j * stride
                window = x[:, :, r:r + ph, c:c + pw].reshape(N, C, -1)
                where = window.argmax(dim=2, keepdim=True)  # (N, C, 1): the first maximum
                dwindow = torch.zeros_like(window).scatter_(2, where, dout[:, :, i, j].unsqueeze(2))
                dx[:, :, r:r + ph, c:c + pw] += dwindow.reshape(N, C, ph, pw)
        ### END SOLUTION
        return dx


# ------------------------------------------------------------------------------------------------
# fast layers through torch (given: nothing to do)


class FastConv:
    """``Conv`` computed by ``torch.nn.functional.conv2d`` (MKL-DNN on the CPU, cuDNN on a GPU).

    Same interface and results as ``Conv.forward/backward``; the gradients come from autograd.
    """

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, conv_param: dict) -> Tuple[Tensor, tuple]:
        stride, pad = conv_param.get("stride", 1), conv_param.get("pad", 0)
        with torch.enable_grad():
            tx, tw, tb = (t.detach().requires_grad_(True) for t in (x, w, b))
            out = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
        return out.detach(), (tx, tw, tb, out)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        tx, tw, tb, out = cache
        with torch.enable_grad():
            dx, dw, db = torch.autograd.grad(out, (tx, tw, tb), dout)
        return dx, dw, db


class FastMaxPool:
    """``MaxPool`` computed by ``torch.nn.functional.max_pool2d``; same interface and results."""

    @staticmethod
    def forward(x: Tensor, pool_param: dict) -> Tuple[Tensor, tuple]:
        ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        with torch.enable_grad():
            tx = x.detach().requires_grad_(True)
            out = F.max_pool2d(tx, kernel_size=(ph, pw), stride=stride)
        return out.detach(), (tx, out)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tensor:
        tx, out = cache
        with torch.enable_grad():
            (dx,) = torch.autograd.grad(out, (tx,), dout)
        return dx


# ------------------------------------------------------------------------------------------------
# sandwich layers (given: nothing to do)


class Conv_ReLU:
    """conv - relu, with the fast convolution."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, conv_param: dict) -> Tuple[Tensor, tuple]:
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        out, relu_cache = ReLU.forward(a)
        return out, (conv_cache, relu_cache)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        conv_cache, relu_cache = cache
        da = ReLU.backward(dout, relu_cache)
        return FastConv.backward(da, conv_cache)


class Conv_ReLU_Pool:
    """conv - relu - max pool, with the fast convolution and pooling."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, conv_param: dict, pool_param: dict) -> Tuple[Tensor, tuple]:
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        s, relu_cache = ReLU.forward(a)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        conv_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        da = ReLU.backward(ds, relu_cache)
        return FastConv.backward(da, conv_cache)


class Linear_BatchNorm_ReLU:
    """linear - batchnorm - relu."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor,
                bn_param: dict) -> Tuple[Tensor, tuple]:
        a, fc_cache = Linear.forward(x, w, b)
        a_bn, bn_cache = BatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(a_bn)
        return out, (fc_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Returns ``(dx, dw, db, dgamma, dbeta)``."""
        fc_cache, bn_cache, relu_cache = cache
        da_bn = ReLU.backward(dout, relu_cache)
        da, dgamma, dbeta = BatchNorm.backward(da_bn, bn_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_BatchNorm_ReLU:
    """conv - spatial batchnorm - relu, with the fast convolution."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor, conv_param: dict,
                bn_param: dict) -> Tuple[Tensor, tuple]:
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(an)
        return out, (conv_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Returns ``(dx, dw, db, dgamma, dbeta)``."""
        conv_cache, bn_cache, relu_cache = cache
        dan = ReLU.backward(dout, relu_cache)
        da, dgamma, dbeta = SpatialBatchNorm.backward(dan, bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_BatchNorm_ReLU_Pool:
    """conv - spatial batchnorm - relu - max pool, with the fast convolution and pooling."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor, conv_param: dict,
                bn_param: dict, pool_param: dict) -> Tuple[Tensor, tuple]:
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        s, relu_cache = ReLU.forward(an)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, bn_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Returns ``(dx, dw, db, dgamma, dbeta)``."""
        conv_cache, bn_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        dan = ReLU.backward(ds, relu_cache)
        da, dgamma, dbeta = SpatialBatchNorm.backward(dan, bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta


# ------------------------------------------------------------------------------------------------
# checkpoints of the networks (given: nothing to do)


def _read_checkpoint(path, kind: str, keys: Sequence[str], course_keys: Sequence[str]) -> Tuple[dict, bool]:
    """``torch.load`` a dict (weights only) holding ``keys`` (this suite's format) or ``course_keys``
    (the course's: its ``save`` records less of the architecture, which is then read from the
    parameters' shapes). Returns ``(checkpoint, in_course_format)``; ``ValueError`` says what is wrong."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} is not a {kind} checkpoint: expected a dict with the keys {', '.join(keys)} "
                         f"(as written by {kind}.save), got a {type(checkpoint).__name__}")
    if all(k in checkpoint for k in keys):
        return checkpoint, False
    if all(k in checkpoint for k in course_keys):
        return checkpoint, True
    missing = [k for k in keys if k not in checkpoint]
    raise ValueError(f"{path} is not a {kind} checkpoint: the keys {', '.join(missing)} are missing "
                     f"(expected {', '.join(keys)}, as written by {kind}.save, or the course's "
                     f"{', '.join(course_keys)})")


def _weight_shape(path, params, name: str, dims: int) -> Tuple[int, ...]:
    """The shape of ``params[name]``, a ``dims``-dimensional tensor, else ``ValueError``."""
    value = params.get(name) if isinstance(params, dict) else None
    if not isinstance(value, Tensor) or value.dim() != dims:
        keys = sorted(map(str, params)) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"{path}: expected params[{name!r}], a {dims}-dimensional tensor, among the params "
                         f"{keys} (the layers are read from W1, W2, ...)")
    return tuple(value.shape)


def _positive_ints(path, name: str, value, length: Optional[int] = None) -> List[int]:
    """``value`` as a list of positive ints (of ``length`` entries when given), else ``ValueError``."""
    if (not isinstance(value, (list, tuple)) or not all(type(v) is int and v > 0 for v in value)
            or (length is not None and len(value) != length)):
        size = f"{length} " if length is not None else ""
        raise ValueError(f"{path}: {name} must be a list of {size}positive ints, got {value!r}")
    return list(value)


def _reg(path, value) -> float:
    """The regularization strength of a checkpoint, a number, else ``ValueError``."""
    if type(value) not in (int, float) or value < 0:
        raise ValueError(f"{path}: reg must be a non-negative number, got {value!r}")
    return float(value)


def _check_params(path, params, expected: Dict[str, tuple]) -> None:
    """``params`` must map exactly the names of ``expected`` to floating tensors of those shapes."""
    if not isinstance(params, dict) or set(params) != set(expected):
        keys = sorted(map(str, params)) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"{path}: params must have the keys {', '.join(sorted(expected))}, got {keys}")
    for name, shape in expected.items():
        value = params[name]
        if not isinstance(value, Tensor) or not value.is_floating_point() or tuple(value.shape) != tuple(shape):
            what = (f"a {value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, Tensor)
                    else type(value).__name__)
            raise ValueError(f"{path}: params[{name!r}] must be a floating tensor of shape {tuple(shape)}, "
                             f"got {what}")


# ------------------------------------------------------------------------------------------------
# networks


class ThreeLayerConvNet:
    """A three-layer convolutional network::

        conv - relu - 2x2 max pool - linear - relu - linear - softmax

    on images of shape (C, H, W). The convolution keeps the image size (stride 1, padding
    ``(filter_size - 1) // 2``, for an odd ``filter_size``); the pool halves it (rounding down).
    Parameters in ``self.params``: ``W1`` (F, C, filter_size, filter_size), ``b1`` (F,),
    ``W2`` (F * (H // 2) * (W // 2), hidden_dim), ``b2`` (hidden_dim,), ``W3`` (hidden_dim,
    num_classes), ``b3`` (num_classes,).
    """

    def __init__(self, input_dims: Sequence[int] = (3, 32, 32), num_filters: int = 32, filter_size: int = 7,
                 hidden_dim: int = 100, num_classes: int = 10, weight_scale: float = 1e-3, reg: float = 0.0,
                 dtype: torch.dtype = torch.float, device="cpu"):
        """Initialize the parameters: weights ``weight_scale * randn``, biases zeros.

        Args:
            input_dims: (C, H, W), the size of an input image.
            num_filters: F, the number of filters of the convolutional layer.
            filter_size: the width and height of the filters (odd).
            hidden_dim: the size of the hidden fully connected layer.
            num_classes: the number of classes.
            weight_scale: the standard deviation of the random initial weights.
            reg: L2 regularization strength.
            dtype: of the parameters: float32 to train, float64 for gradient checks.
            device: of the parameters, ``"cpu"`` or a CUDA device.
        """
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        self.device = torch.device(device)
        self.input_dims = [int(d) for d in input_dims]
        self.num_filters, self.filter_size = num_filters, filter_size
        self.hidden_dim, self.num_classes = hidden_dim, num_classes
        # Initialize W1, b1, W2, b2, W3, b3 in self.params (shapes in the class docstring):
        # weights from a Gaussian with mean 0 and standard deviation weight_scale (torch.randn
        # with the given dtype and device), biases 0.
        ### BEGIN SOLUTION
        C, H, W = self.input_dims
        pooled = num_filters * (H // 2) * (W // 2)
        self.params["W1"] = weight_scale * torch.randn(num_filters, C, filter_size, filter_size,
                                                       dtype=dtype, device=device)
        self.params["b1"] = torch.zeros(num_filters, dtype=dtype, device=device)
        self.params["W2"] = weight_scale * torch.randn(pooled, hidden_dim, dtype=dtype, device=device)
        self.params["b2"] = torch.zeros(hidden_dim, dtype=dtype, device=device)
        self.params["W3"] = weight_scale * torch.randn(hidden_dim, num_classes, dtype=dtype, device=device)
        self.params["b3"] = torch.zeros(num_classes, dtype=dtype, device=device)
        ### END SOLUTION

    def loss(self, X: Tensor, y: Optional[Tensor] = None):
        """The loss and gradients for a minibatch, or the scores when ``y`` is None.

        Use the given sandwich layers ``Conv_ReLU_Pool`` and ``Linear_ReLU``, then ``Linear`` and
        ``softmax_loss``. The loss is the softmax loss plus ``self.reg`` times the sum of
        ``sum(W * W)`` over W1, W2 and W3.

        Args:
            X: (N, C, H, W) images, dtype and device of the parameters.
            y: (N,) int64 labels in [0, num_classes), or ``None``.

        Returns:
            When ``y`` is None: scores, (N, num_classes).
            Otherwise ``(loss, grads)``: the loss a 0-dim tensor; grads a dict with the keys of
            ``self.params``, each gradient with the shape, dtype and device of its parameter.
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]

        # pass conv_param to the forward pass for the convolutional layer: padding and stride
        # chosen to preserve the input's spatial size
        filter_size = W1.shape[2]
        conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        # pass pool_param to the forward pass for the max-pooling layer
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        scores = None
        # The forward pass: the class scores for X, in the variable scores.
        ### BEGIN SOLUTION
        h1, cache1 = Conv_ReLU_Pool.forward(X, W1, b1, conv_param, pool_param)
        h2, cache2 = Linear_ReLU.forward(h1, W2, b2)
        scores, cache3 = Linear.forward(h2, W3, b3)
        ### END SOLUTION

        if y is None:
            return scores

        loss, grads = 0.0, {}
        # The backward pass: the loss in loss, the gradients in grads (regularization included).
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss = loss + self.reg * (torch.sum(W1 * W1) + torch.sum(W2 * W2) + torch.sum(W3 * W3))
        dh2, dW3, grads["b3"] = Linear.backward(dscores, cache3)
        dh1, dW2, grads["b2"] = Linear_ReLU.backward(dh2, cache2)
        _, dW1, grads["b1"] = Conv_ReLU_Pool.backward(dh1, cache1)
        grads["W1"] = dW1 + 2 * self.reg * W1
        grads["W2"] = dW2 + 2 * self.reg * W2
        grads["W3"] = dW3 + 2 * self.reg * W3
        ### END SOLUTION
        return loss, grads

    CHECKPOINT_KEYS = ("params", "input_dims", "num_filters", "filter_size", "hidden_dim", "num_classes", "reg")
    COURSE_CHECKPOINT_KEYS = ("params", "reg")  # the course's save: reg, dtype, params

    def save(self, path) -> None:
        """Write the network to ``path`` (given: nothing to do): ``{"params": {name: CPU tensor},
        "input_dims", "num_filters", "filter_size", "hidden_dim", "num_classes", "reg", "dtype"}``
        (the course's keys ``reg``, ``dtype``, ``params`` among them)."""
        checkpoint = {
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "input_dims": [int(d) for d in self.input_dims],
            "num_filters": int(self.num_filters), "filter_size": int(self.filter_size),
            "hidden_dim": int(self.hidden_dim), "num_classes": int(self.num_classes),
            "reg": float(self.reg), "dtype": self.dtype,
        }
        torch.save(checkpoint, path)
        print(f"Saved in {path}")

    def load(self, path, dtype: Optional[torch.dtype] = None, device=None) -> None:
        """Read a network written by ``save`` (given: nothing to do), or by the course's ``save``
        (``reg``, ``dtype``, ``params``: the sizes are then read from the parameters' shapes and
        the image height and width are this network's ``input_dims``).

        Restores the architecture and the parameters, put on ``dtype`` and ``device`` (this
        network's own when ``None``). Raises ``ValueError`` when the file is not such a checkpoint.
        """
        checkpoint, course = _read_checkpoint(path, "ThreeLayerConvNet", self.CHECKPOINT_KEYS,
                                              self.COURSE_CHECKPOINT_KEYS)
        if course:
            params = checkpoint["params"]
            F_, C, size, _ = _weight_shape(path, params, "W1", 4)
            hidden = _weight_shape(path, params, "W2", 2)[1]
            classes = _weight_shape(path, params, "W3", 2)[1]
            H, W = self.input_dims[1:]
        else:
            C, H, W = _positive_ints(path, "input_dims", checkpoint["input_dims"], 3)
            F_, size, hidden, classes = (_positive_ints(path, k, [checkpoint[k]])[0]
                                         for k in ("num_filters", "filter_size", "hidden_dim", "num_classes"))
        _check_params(path, checkpoint["params"], {
            "W1": (F_, C, size, size), "b1": (F_,), "W2": (F_ * (H // 2) * (W // 2), hidden),
            "b2": (hidden,), "W3": (hidden, classes), "b3": (classes,)})
        self.dtype = dtype if dtype is not None else self.dtype
        self.device = torch.device(device) if device is not None else self.device
        self.input_dims, self.num_filters, self.filter_size = [C, H, W], F_, size
        self.hidden_dim, self.num_classes, self.reg = hidden, classes, _reg(path, checkpoint["reg"])
        self.params = {k: v.to(device=self.device, dtype=self.dtype) for k, v in checkpoint["params"].items()}
        print(f"Loaded from {path}")


class DeepConvNet:
    """A convolutional network with any number of 3x3 convolutional layers and one linear layer.

    For L layers (L - 1 convolutional, then the linear one) the architecture is::

        {conv - [batchnorm?] - relu - [pool?]} x (L - 1) - linear - softmax

    Each convolution has 3x3 filters, stride 1 and padding 1 (it keeps the image size); each pool
    is a 2x2 max pool with stride 2 (it halves the size, rounding down), after the layers listed
    in ``max_pools``. Parameters in ``self.params``: ``W1`` ... ``W{L-1}`` (num_filters[i],
    channels in, 3, 3) and ``b1`` ... (num_filters[i],) for the convolutions; ``WL``
    (num_filters[-1] * H_last * W_last, num_classes) and ``bL`` (num_classes,) for the linear
    layer; with batchnorm also ``gamma1``, ``beta1``, ... (num_filters[i],) for each convolution.
    The batchnorm layers' running statistics are in ``self.bn_params``, one dict per layer.
    """

    def __init__(self, input_dims: Sequence[int] = (3, 32, 32), num_filters: Sequence[int] = [8, 8, 8, 8, 8],
                 max_pools: Sequence[int] = [0, 1, 2, 3, 4], batchnorm: bool = False, num_classes: int = 10,
                 weight_scale: Union[float, str] = 1e-3, reg: float = 0.0, weight_initializer=None,
                 dtype: torch.dtype = torch.float, device="cpu"):
        """Initialize the parameters.

        Weights: with ``weight_scale`` a number, from a Gaussian with mean 0 and that standard
        deviation; with ``weight_scale="kaiming"``, from ``kaiming_initializer`` (``relu=True`` for
        the convolutions, which a ReLU follows, ``relu=False`` for the last, linear layer). Biases
        and ``beta``: zeros; ``gamma``: ones.

        Args:
            input_dims: (C, H, W), the size of an input image.
            num_filters: the number of filters of each convolutional layer (L - 1 of them).
            max_pools: the indices (from 0) of the convolutional layers followed by a max pool.
            batchnorm: put a spatial batchnorm layer after each convolution.
            num_classes: the number of classes.
            weight_scale: the standard deviation of the random initial weights, or ``"kaiming"``.
            reg: L2 regularization strength.
            weight_initializer: ``None``, or a function with ``kaiming_initializer``'s signature
                used for every weight instead of ``weight_scale`` (``weight_scale="kaiming"`` is
                the same as ``weight_initializer=kaiming_initializer``).
            dtype: of the parameters: float32 to train, float64 for gradient checks.
            device: of the parameters, ``"cpu"`` or a CUDA device.
        """
        self.params = {}
        self.num_layers = len(num_filters) + 1
        self.num_filters = [int(f) for f in num_filters]
        self.max_pools = sorted(int(p) for p in max_pools)
        self.batchnorm = batchnorm
        self.reg = reg
        self.dtype = dtype
        self.device = torch.device(device)
        self.input_dims = [int(d) for d in input_dims]
        self.num_classes = num_classes
        if any(not 0 <= p < len(num_filters) for p in self.max_pools):
            raise ValueError(f"max_pools {list(max_pools)} must index the {len(num_filters)} convolutional layers")
        if weight_scale == "kaiming" and weight_initializer is None:
            weight_initializer = kaiming_initializer

        # Initialize the parameters in self.params (names and shapes in the class docstring).
        # Layer i (from 1) maps the channels of layer i - 1 (input_dims[0] for the first) to
        # num_filters[i - 1]; the linear layer takes the last layer's output, flattened: keep
        # track of the image size, halved (rounding down) after each layer in max_pools.
        # With weight_initializer (not None), weights are
        # weight_initializer(Din, Dout, K=3, relu=True, device=device, dtype=dtype) for a conv
        # layer and weight_initializer(Din, Dout, relu=False, device=device, dtype=dtype) for the
        # linear layer; otherwise weight_scale * torch.randn(...).
        ### BEGIN SOLUTION
        C, H, W = self.input_dims
        for i, F_out in enumerate(self.num_filters, start=1):
            if weight_initializer is not None:
                w = weight_initializer(C, F_out, K=3, relu=True, device=device, dtype=dtype)
            else:
                w = weight_scale * torch.randn(F_out, C, 3, 3, dtype=dtype, device=device)
            self.params[f"W{i}"] = w
            self.params[f"b{i}"] = torch.zeros(F_out, dtype=dtype, device=device)
            if batchnorm:
                self.params[f"gamma{i}"] = torch.ones(F_out, dtype=dtype, device=device)
                self.params[f"beta{i}"] = torch.zeros(F_out, dtype=dtype, device=device)
            C = F_out
            if i - 1 in self.max_pools:
                H, W = H // 2, W // 2
        L = self.num_layers
        D = C * H * W
        if weight_initializer is not None:
            self.params[f"W{L}"] = weight_initializer(D, num_classes, relu=False, device=device, dtype=dtype)
        else:
            self.params[f"W{L}"] = weight_scale * torch.randn(D, num_classes, dtype=dtype, device=device)
        self.params[f"b{L}"] = torch.zeros(num_classes, dtype=dtype, device=device)
        ### END SOLUTION

        # With batch normalization we need to keep track of running means and variances, so we
        # need to pass a special bn_param object to each batch normalization layer. You should
        # pass self.bn_params[0] to the forward pass of the first batch normalization layer,
        # self.bn_params[1] to the forward pass of the second batch normalization layer, etc.
        self.bn_params = []
        if self.batchnorm:
            self.bn_params = [{"mode": "train"} for _ in range(len(num_filters))]

        # Check that we got the right number of parameters, on the right device and dtype
        params_per_macro_layer = 4 if self.batchnorm else 2  # weight, bias (, scale, shift)
        num_params = params_per_macro_layer * len(num_filters) + 2
        if len(self.params) != num_params:
            raise RuntimeError(f"self.params has the wrong number of elements: got {len(self.params)}, "
                               f"expected {num_params}")
        for k, param in self.params.items():
            if param.device.type != self.device.type or param.dtype != dtype:
                raise RuntimeError(f"self.params[{k!r}] is a {param.dtype} tensor on {param.device}; "
                                   f"expected {dtype} on {self.device}")

    def loss(self, X: Tensor, y: Optional[Tensor] = None):
        """The loss and gradients for a minibatch, or the scores when ``y`` is None.

        Use the given sandwich layers — ``Conv_ReLU``, ``Conv_ReLU_Pool``, and with batchnorm
        ``Conv_BatchNorm_ReLU``, ``Conv_BatchNorm_ReLU_Pool`` (with ``self.bn_params[i]`` for
        layer i) — then ``Linear`` and ``softmax_loss``. The loss is the softmax loss plus
        ``self.reg`` times the sum of ``sum(W * W)`` over all the weights W1 ... WL.

        Args:
            X: (N, C, H, W) images, dtype and device of the parameters.
            y: (N,) int64 labels in [0, num_classes), or ``None``: then batchnorm runs in test
                mode (running statistics).

        Returns:
            When ``y`` is None: scores, (N, num_classes).
            Otherwise ``(loss, grads)``: the loss a 0-dim tensor; grads a dict with the keys of
            ``self.params``, each gradient with the shape, dtype and device of its parameter.
        """
        mode = "test" if y is None else "train"

        # Set train/test mode for batchnorm params since they behave differently during training
        # and testing.
        if self.batchnorm:
            for bn_param in self.bn_params:
                bn_param["mode"] = mode
        scores = None

        # pass conv_param to the forward pass for the convolutional layer: 3x3 filters, padding 1
        conv_param = {"stride": 1, "pad": 1}
        # pass pool_param to the forward pass for the max-pooling layer
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        # The forward pass: the class scores for X, in the variable scores.
        ### BEGIN SOLUTION
        caches = []
        h = X
        for i in range(1, self.num_layers):
            w, b = self.params[f"W{i}"], self.params[f"b{i}"]
            pool = i - 1 in self.max_pools
            if self.batchnorm:
                gamma, beta = self.params[f"gamma{i}"], self.params[f"beta{i}"]
                bn_param = self.bn_params[i - 1]
                if pool:
                    h, cache = Conv_BatchNorm_ReLU_Pool.forward(h, w, b, gamma, beta, conv_param, bn_param,
                                                                pool_param)
                else:
                    h, cache = Conv_BatchNorm_ReLU.forward(h, w, b, gamma, beta, conv_param, bn_param)
            elif pool:
                h, cache = Conv_ReLU_Pool.forward(h, w, b, conv_param, pool_param)
            else:
                h, cache = Conv_ReLU.forward(h, w, b, conv_param)
            caches.append(cache)
        L = self.num_layers
        scores, last_cache = Linear.forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION

        if y is None:
            return scores

        loss, grads = 0, {}
        # The backward pass: the loss in loss, the gradients in grads (regularization included).
        ### BEGIN SOLUTION
        loss, dout = softmax_loss(scores, y)
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss = loss + self.reg * torch.sum(W * W)
        dout, dW, grads[f"b{L}"] = Linear.backward(dout, last_cache)
        grads[f"W{L}"] = dW + 2 * self.reg * self.params[f"W{L}"]
        for i in range(L - 1, 0, -1):
            cache = caches[i - 1]
            pool = i - 1 in self.max_pools
            if self.batchnorm:
                layer = Conv_BatchNorm_ReLU_Pool if pool else Conv_BatchNorm_ReLU
                dout, dW, grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = layer.backward(dout, cache)
            else:
                layer = Conv_ReLU_Pool if pool else Conv_ReLU
                dout, dW, grads[f"b{i}"] = layer.backward(dout, cache)
            grads[f"W{i}"] = dW + 2 * self.reg * self.params[f"W{i}"]
        ### END SOLUTION
        return loss, grads

    CHECKPOINT_KEYS = ("params", "input_dims", "num_filters", "max_pools", "batchnorm", "num_classes", "reg",
                       "bn_params")
    COURSE_CHECKPOINT_KEYS = ("params", "num_layers", "max_pools", "batchnorm", "bn_params")

    def save(self, path) -> None:
        """Write the network to ``path`` (given: nothing to do): ``{"params": {name: CPU tensor},
        "input_dims", "num_filters", "max_pools", "batchnorm", "num_classes", "reg", "dtype",
        "num_layers", "bn_params": [{"running_mean": CPU tensor, "running_var": CPU tensor} (each
        when set)]}`` (the course's keys ``reg``, ``dtype``, ``params``, ``num_layers``,
        ``max_pools``, ``batchnorm``, ``bn_params`` among them)."""
        checkpoint = {
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "input_dims": [int(d) for d in self.input_dims],
            "num_filters": [int(f) for f in self.num_filters],
            "max_pools": [int(p) for p in self.max_pools],
            "batchnorm": bool(self.batchnorm),
            "num_classes": int(self.num_classes),
            "num_layers": int(self.num_layers),
            "reg": float(self.reg),
            "dtype": self.dtype,
            "bn_params": [{k: p[k].detach().cpu() for k in ("running_mean", "running_var") if k in p}
                          for p in self.bn_params],
        }
        torch.save(checkpoint, path)
        print(f"Saved in {path}")

    def load(self, path, dtype: Optional[torch.dtype] = None, device=None) -> None:
        """Read a network written by ``save`` (given: nothing to do), or by the course's ``save``
        (``reg``, ``dtype``, ``params``, ``num_layers``, ``max_pools``, ``batchnorm``,
        ``bn_params``: the filters are then read from the parameters' shapes, and the image height
        and width are this network's ``input_dims``).

        Restores the architecture, the parameters and the batchnorm running statistics, put on
        ``dtype`` and ``device`` (this network's own when ``None``; the course's
        ``load(path, dtype, device)``). Raises ``ValueError`` when the file is not such a checkpoint.
        """
        checkpoint, course = _read_checkpoint(path, "DeepConvNet", self.CHECKPOINT_KEYS, self.COURSE_CHECKPOINT_KEYS)
        params = checkpoint["params"]
        if course:
            num_layers = checkpoint["num_layers"]
            if type(num_layers) is not int or num_layers < 2:
                raise ValueError(f"{path}: num_layers must be an int of at least 2, got {num_layers!r}")
            num_filters = [_weight_shape(path, params, f"W{i}", 4)[0] for i in range(1, num_layers)]
            C = _weight_shape(path, params, "W1", 4)[1]
            H, W = self.input_dims[1:]
            classes = _weight_shape(path, params, f"W{num_layers}", 2)[1]
        else:
            C, H, W = _positive_ints(path, "input_dims", checkpoint["input_dims"], 3)
            num_filters = _positive_ints(path, "num_filters", checkpoint["num_filters"])
            classes = _positive_ints(path, "num_classes", [checkpoint["num_classes"]])[0]
        input_dims = [C, H, W]
        max_pools, batchnorm = checkpoint["max_pools"], checkpoint["batchnorm"]
        if (not isinstance(max_pools, (list, tuple))
                or not all(type(p) is int and 0 <= p < len(num_filters) for p in max_pools)):
            raise ValueError(f"{path}: max_pools must list indices of the {len(num_filters)} convolutional "
                             f"layers, got {max_pools!r}")
        if not isinstance(batchnorm, bool):
            raise ValueError(f"{path}: batchnorm must be True or False, got {batchnorm!r}")
        expected, channels = {}, C
        for i, f in enumerate(num_filters, start=1):
            expected[f"W{i}"], expected[f"b{i}"] = (f, channels, 3, 3), (f,)
            if batchnorm:
                expected[f"gamma{i}"], expected[f"beta{i}"] = (f,), (f,)
            channels = f
            if i - 1 in max_pools:
                H, W = H // 2, W // 2
        L = len(num_filters) + 1
        expected[f"W{L}"], expected[f"b{L}"] = (channels * H * W, classes), (classes,)
        _check_params(path, params, expected)
        bn_params = checkpoint["bn_params"]
        if not isinstance(bn_params, list) or len(bn_params) != (len(num_filters) if batchnorm else 0):
            raise ValueError(f"{path}: bn_params must be a list of one dict per batchnorm layer")
        statistics = []
        for i, p in enumerate(bn_params):
            kept = {k: p[k] for k in ("running_mean", "running_var") if isinstance(p, dict) and k in p}
            if not isinstance(p, dict) or any(not isinstance(v, Tensor) or tuple(v.shape) != (num_filters[i],)
                                              for v in kept.values()):
                raise ValueError(f"{path}: bn_params[{i}] must hold running_mean and running_var tensors of "
                                 f"shape ({num_filters[i]},)")
            statistics.append(kept)
        self.dtype = dtype if dtype is not None else self.dtype
        self.device = torch.device(device) if device is not None else self.device
        self.input_dims = input_dims
        self.num_filters, self.num_layers = num_filters, L
        self.max_pools, self.batchnorm = sorted(max_pools), batchnorm
        self.num_classes, self.reg = classes, _reg(path, checkpoint.get("reg", 0.0))
        self.params = {k: v.to(device=self.device, dtype=self.dtype) for k, v in params.items()}
        self.bn_params = [{"mode": "train", **{k: v.to(device=self.device, dtype=self.dtype) for k, v in p.items()}}
                          for p in statistics]
        print(f"Loaded from {path}")


def find_overfit_parameters() -> Tuple[float, float]:
    """The weight scale and learning rate with which a deep network overfits a small training set.

    The notebook builds ``DeepConvNet(input_dims, num_classes=10, num_filters=[8, 16, 32, 64],
    max_pools=[0, 1, 2, 3], reg=1e-5, weight_scale=weight_scale)`` (no batchnorm, float32) and
    trains it with ``Solver`` on 50 training images, ``update_rule=adam``,
    ``optim_config={"learning_rate": learning_rate}``, ``batch_size=10``, ``num_epochs=30``: the
    training accuracy must reach 100%. The defaults below do not: experiment.

    Returns:
        weight_scale: a Python float, the standard deviation of the initial weights.
        learning_rate: a Python float, Adam's learning rate.
    """
    weight_scale = 2e-3  # Experiment with this!
    learning_rate = 1e-5  # Experiment with this!
    ### BEGIN SOLUTION
    weight_scale = 3e-1
    learning_rate = 2e-3
    ### END SOLUTION
    return weight_scale, learning_rate


def create_convolutional_solver_instance(data_dict: dict, dtype: torch.dtype, device) -> Solver:
    """A ``Solver`` that trains the best ``DeepConvNet`` you can within the notebook's time budget.

    The notebook calls ``solver.train(time_limit=...)`` and then checks the validation accuracy:
    on CIFAR-10 at least 71% after 60 seconds on a GPU (the course's target); on Fashion-MNIST the
    target and the CPU budget are stated in the notebook. Choose the architecture (filters, pools,
    batchnorm, initialization), the update rule and its ``optim_config``, the batch size, the
    number of epochs and any learning-rate decay or schedule.

    Args:
        data_dict: ``X_train`` (N, C, H, W), ``y_train``, ``X_val``, ``y_val`` (images, not
            flattened).
        dtype: of the model's parameters (the data's dtype).
        device: where the model and the data live.

    Returns:
        solver: an ``eecs498.solver.Solver`` holding the model (``solver.model``), not trained yet.
    """
    model = None
    solver = None
    input_dims = tuple(data_dict["X_train"].shape[1:])
    ### BEGIN SOLUTION
    if torch.device(device).type == "cuda":
        # A GPU runs a wider network for many epochs within the course's 60 seconds.
        num_filters, max_pools, batch_size = [32, 64, 128, 256], [0, 1, 2, 3], 128
    else:
        # On a CPU the budget allows about two epochs of Fashion-MNIST for a narrow network:
        # more small steps beat fewer large ones (measured: [16, 32, 64] gets a quarter of the steps).
        num_filters, max_pools, batch_size = [8, 16, 32], [0, 1, 2], 64
    model = DeepConvNet(input_dims=input_dims, num_classes=10, num_filters=num_filters, max_pools=max_pools,
                        batchnorm=True, weight_scale="kaiming", reg=1e-5, dtype=dtype, device=device)
    solver = Solver(model, data_dict, num_epochs=20, batch_size=batch_size, update_rule=adam,
                    optim_config={"learning_rate": 2e-3}, lr_decay=0.9, num_train_samples=1000,
                    num_val_samples=2000, print_every=100, verbose=True, device=device)
    ### END SOLUTION
    return solver


# ------------------------------------------------------------------------------------------------
# initialization


def kaiming_initializer(Din: int, Dout: int, K: Optional[int] = None, relu: bool = True, device="cpu",
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """Kaiming (He) initialization: random weights whose variance keeps activations' scale.

    A Gaussian with mean 0 and variance ``gain / fan_in``, where ``gain`` is 2 when a ReLU
    follows the layer (it zeroes half of its inputs on average) and 1 otherwise, and ``fan_in``
    is the number of inputs of one output: ``Din`` for a linear layer, ``Din * K * K`` for a
    convolutional layer with K x K filters.

    Args:
        Din: the number of input dimensions (a linear layer) or channels (a convolution).
        Dout: the number of output dimensions or channels (filters).
        K: the filter size of a convolution; ``None`` for a linear layer.
        relu: whether a ReLU follows the layer.
        device: of the weights.
        dtype: of the weights.

    Returns:
        weight: (Din, Dout) for a linear layer, (Dout, Din, K, K) for a convolution.
    """
    gain = 2.0 if relu else 1.0
    weight = None
    if K is None:
        # The weight of a linear layer, (Din, Dout), with variance gain / Din.
        ### BEGIN SOLUTION
        weight = torch.randn(Din, Dout, device=device, dtype=dtype) * (gain / Din) ** 0.5
        ### END SOLUTION
    else:
        # The weight of a convolution, (Dout, Din, K, K), with variance gain / (Din * K * K).
        ### BEGIN SOLUTION
        weight = torch.randn(Dout, Din, K, K, device=device, dtype=dtype) * (gain / (Din * K * K)) ** 0.5
        ### END SOLUTION
    return weight


# ------------------------------------------------------------------------------------------------
# batch normalization


class BatchNorm:
    """Batch normalization of (N, D) inputs: each of the D features over the N examples."""

    @staticmethod
    def forward(x: Tensor, gamma: Tensor, beta: Tensor, bn_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of batch normalization.

        In train mode, each feature is normalized with the mean and the (biased: divided by N)
        variance of the minibatch, then scaled by ``gamma`` and shifted by ``beta``::

            mean = mean of x over the N examples        var = mean of (x - mean)^2
            x_hat = (x - mean) / sqrt(var + eps)        out = gamma * x_hat + beta

        and running averages of those statistics are updated::

            running_mean = momentum * running_mean + (1 - momentum) * mean
            running_var = momentum * running_var + (1 - momentum) * var

        In test mode, ``x`` is normalized with ``running_mean`` and ``running_var`` instead (no
        update), so that an example's output does not depend on the rest of its minibatch.

        Args:
            x: (N, D) input, any floating dtype and device.
            gamma: (D,) scale, dtype and device of ``x``.
            beta: (D,) shift, dtype and device of ``x``.
            bn_param: ``"mode"`` (``"train"`` or ``"test"``), optional ``"eps"`` (default 1e-5)
                and ``"momentum"`` (default 0.9), and the running statistics ``"running_mean"``
                and ``"running_var"`` ((D,) tensors; zeros when missing), which this function
                updates in the dict.

        Returns:
            out: (N, D), dtype and device of ``x``.
            cache: whatever ``backward`` needs (train mode); ``None`` is fine in test mode.
        """
        mode = bn_param["mode"]
        eps = bn_param.get("eps", 1e-5)
        momentum = bn_param.get("momentum", 0.9)

        N, D = x.shape
        running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
        running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))

        out, cache = None, None
        if mode == "train":
            # The minibatch statistics, the normalized and scaled output, the updated running
            # averages (in running_mean and running_var), and the cache for the backward pass.
            ### BEGIN SOLUTION
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            std = torch.sqrt(var + eps)
            x_hat = (x - mean) / std
            out = gamma * x_hat + beta
            running_mean = momentum * running_mean + (1 - momentum) * mean
            running_var = momentum * running_var + (1 - momentum) * var
            cache = (x, x_hat, mean, std, gamma)
            ### END SOLUTION
        elif mode == "test":
            # Normalize with the running statistics, then scale and shift.
            ### BEGIN SOLUTION
            x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
            out = gamma * x_hat + beta
            ### END SOLUTION
        else:
            raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

        # Store the updated running means back into bn_param
        bn_param["running_mean"] = running_mean.detach()
        bn_param["running_var"] = running_var.detach()

        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of batch normalization (train mode), step by step.

        Draw the computational graph of the forward pass (mean, centered x, variance, standard
        deviation, x_hat, out) and backpropagate through it one node at a time, in reverse. Mind
        that ``mean`` and ``var`` depend on every example: their gradients gather contributions
        from all N rows and send them back to all N rows.

        Args:
            dout: (N, D) upstream gradient.
            cache: from ``BatchNorm.forward`` in train mode.

        Returns:
            dx: (N, D) gradient with respect to ``x``.
            dgamma: (D,) gradient with respect to ``gamma``.
            dbeta: (D,) gradient with respect to ``beta``.
        """
        dx, dgamma, dbeta = None, None, None
        ### BEGIN SOLUTION
        x, x_hat, mean, std, gamma = cache
        N = x.shape[0]
        dbeta = dout.sum(dim=0)
        dgamma = (dout * x_hat).sum(dim=0)
        dx_hat = dout * gamma
        centered = x - mean
        # x_hat = centered / std
        dcentered = dx_hat / std
        dstd = -(dx_hat * centered).sum(dim=0) / (std * std)
        # std = sqrt(var + eps); var = mean of centered^2
        dvar = dstd / (2 * std)
        dcentered = dcentered + 2 * centered * dvar / N
        # centered = x - mean; mean = mean of x
        dmean = -dcentered.sum(dim=0)
        dx = dcentered + dmean / N
        ### END SOLUTION
        return dx, dgamma, dbeta

    @staticmethod
    def backward_alt(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The same gradients as ``BatchNorm.backward``, from a simplified formula.

        Work the derivative of ``x_hat`` with respect to ``x`` out on paper and simplify: the
        result fits on one line,
        ``dx = gamma / (N * std) * (N * dout - sum(dout) - x_hat * sum(dout * x_hat))``
        with the sums over the N examples — derive it and implement it. No Python loop.

        Args and returns: as ``BatchNorm.backward`` (the same cache).
        """
        dx, dgamma, dbeta = None, None, None
        ### BEGIN SOLUTION
        x, x_hat, mean, std, gamma = cache
        N = x.shape[0]
        dbeta = dout.sum(dim=0)
        dgamma = (dout * x_hat).sum(dim=0)
        dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
        ### END SOLUTION
        return dx, dgamma, dbeta


class SpatialBatchNorm:
    """Batch normalization of (N, C, H, W) images: each channel over the N images and H x W pixels."""

    @staticmethod
    def forward(x: Tensor, gamma: Tensor, beta: Tensor, bn_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of spatial batch normalization.

        A channel's statistics are taken over the N images AND all their pixels: N * H * W values
        per channel. Put the channel axis last and flatten the rest, so that each of the C channels
        is a column of an (N * H * W, C) matrix, use ``BatchNorm.forward`` on it, and put the
        result back in the (N, C, H, W) layout.

        Args:
            x: (N, C, H, W) input.
            gamma: (C,) scale; beta: (C,) shift.
            bn_param: as for ``BatchNorm.forward`` (running statistics of shape (C,)).

        Returns:
            out: (N, C, H, W).
            cache: whatever ``backward`` needs.
        """
        out, cache = None, None
        ### BEGIN SOLUTION
        N, C, H, W = x.shape
        columns = x.permute(0, 2, 3, 1).reshape(-1, C)  # (N*H*W, C)
        out_columns, cache = BatchNorm.forward(columns, gamma, beta, bn_param)
        out = out_columns.reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous()
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of spatial batch normalization, through ``BatchNorm``'s.

        Args:
            dout: (N, C, H, W) upstream gradient.
            cache: from ``SpatialBatchNorm.forward``.

        Returns:
            dx: (N, C, H, W); dgamma: (C,); dbeta: (C,).
        """
        dx, dgamma, dbeta = None, None, None
        ### BEGIN SOLUTION
        N, C, H, W = dout.shape
        dcolumns = dout.permute(0, 2, 3, 1).reshape(-1, C)
        dx_columns, dgamma, dbeta = BatchNorm.backward_alt(dcolumns, cache)
        dx = dx_columns.reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous()
        ### END SOLUTION
        return dx, dgamma, dbeta


# ------------------------------------------------------------------------------------------------
# layer and instance normalization: the same computation over other axes


def _normalize_forward(x: Tensor, axes: Tuple[int, ...], eps: float) -> Tuple[Tensor, tuple]:
    """Normalize ``x`` to mean 0 and variance 1 over ``axes``, separately for every index of the
    other axes: the computation that batch, layer and instance normalization share.

    ``mean`` and the biased ``var`` are taken over ``axes`` (keep those axes, with size 1, so they
    broadcast), then ``x_hat = (x - mean) / sqrt(var + eps)``. Batch normalization is
    ``axes=(0,)`` on (N, D) inputs and ``(0, 2, 3)`` on images; layer normalization normalizes
    each example over all its features, instance normalization each example's channels over their
    pixels.

    Args:
        x: any shape, floating dtype and device.
        axes: the axes to normalize over (a tuple of ints).
        eps: added to the variance.

    Returns:
        x_hat: the shape, dtype and device of ``x``.
        cache: ``(x_hat, inv_std, axes)``, ``inv_std = 1 / sqrt(var + eps)`` with size 1 along
            ``axes``.
    """
    x_hat, cache = None, None
    ### BEGIN SOLUTION
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    inv_std = 1.0 / torch.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    cache = (x_hat, inv_std, axes)
    ### END SOLUTION
    return x_hat, cache


def _normalize_backward(dx_hat: Tensor, cache: tuple) -> Tensor:
    """The gradient with respect to ``x`` of ``_normalize_forward``, given that of ``x_hat``.

    ``BatchNorm.backward_alt``'s formula, with its sums over the examples replaced by sums over
    ``axes`` and N by M, the number of values in each normalized group::

        dx = inv_std / M * (M * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))

    Args:
        dx_hat: the upstream gradient, the shape of ``x``.
        cache: from ``_normalize_forward``.

    Returns:
        dx: the shape of ``x``.
    """
    dx = None
    ### BEGIN SOLUTION
    x_hat, inv_std, axes = cache
    M = x_hat.numel() // inv_std.numel()
    dx = inv_std / M * (M * dx_hat - dx_hat.sum(dim=axes, keepdim=True)
                        - x_hat * (dx_hat * x_hat).sum(dim=axes, keepdim=True))
    ### END SOLUTION
    return dx


def _per_channel(p: Tensor, x: Tensor) -> Tensor:
    """A (C,) parameter viewed as (1, C, 1, ...) to broadcast over ``x`` (given: nothing to do)."""
    return p.reshape(1, -1, *([1] * (x.dim() - 2)))


class LayerNorm:
    """Layer normalization: each example over all its features; the same at train and test time.

    For (N, D) inputs the statistics are over the D features of each example and ``gamma``,
    ``beta`` have shape (D,); for (N, C, H, W) images over the C * H * W values of each image
    (like a group normalization with one group) and ``gamma``, ``beta`` are per channel, (C,).
    """

    @staticmethod
    def forward(x: Tensor, gamma: Tensor, beta: Tensor, ln_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of layer normalization.

        Normalize with ``_normalize_forward`` over every axis but the first, then scale and shift
        along axis 1 (``_per_channel`` shapes ``gamma`` and ``beta`` to broadcast).

        Args:
            x: (N, D) or (N, C, H, W) input, any floating dtype and device.
            gamma: (D,) or (C,) scale; beta: the same shape, shift.
            ln_param: optional ``"eps"`` (default 1e-5).

        Returns:
            out: the shape of ``x``.
            cache: whatever ``backward`` needs.
        """
        eps = ln_param.get("eps", 1e-5)
        out, cache = None, None
        ### BEGIN SOLUTION
        axes = tuple(range(1, x.dim()))
        x_hat, norm_cache = _normalize_forward(x, axes, eps)
        out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
        cache = (x_hat, gamma, norm_cache)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of layer normalization, through ``_normalize_backward``.

        Args:
            dout: upstream gradient, the shape of ``x``.
            cache: from ``LayerNorm.forward``.

        Returns:
            dx: the shape of ``x``; dgamma, dbeta: the shape of ``gamma``.
        """
        dx, dgamma, dbeta = None, None, None
        ### BEGIN SOLUTION
        x_hat, gamma, norm_cache = cache
        others = tuple(a for a in range(dout.dim()) if a != 1)  # every axis but the channel axis
        dbeta = dout.sum(dim=others)
        dgamma = (dout * x_hat).sum(dim=others)
        dx = _normalize_backward(dout * _per_channel(gamma, dout), norm_cache)
        ### END SOLUTION
        return dx, dgamma, dbeta


class InstanceNorm:
    """Instance normalization: each channel of each image over its H x W pixels.

    ``gamma`` and ``beta`` are per channel, (C,); the same computation at train and test time.
    """

    @staticmethod
    def forward(x: Tensor, gamma: Tensor, beta: Tensor, in_param: dict) -> Tuple[Tensor, tuple]:
        """The forward pass of instance normalization.

        Normalize with ``_normalize_forward`` over the spatial axes, then scale and shift per
        channel (``_per_channel``).

        Args:
            x: (N, C, H, W) input, any floating dtype and device.
            gamma: (C,) scale; beta: (C,) shift.
            in_param: optional ``"eps"`` (default 1e-5).

        Returns:
            out: (N, C, H, W).
            cache: whatever ``backward`` needs.
        """
        eps = in_param.get("eps", 1e-5)
        out, cache = None, None
        ### BEGIN SOLUTION
        axes = tuple(range(2, x.dim()))
        x_hat, norm_cache = _normalize_forward(x, axes, eps)
        out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
        cache = (x_hat, gamma, norm_cache)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout: Tensor, cache: tuple) -> Tuple[Tensor, Tensor, Tensor]:
        """The backward pass of instance normalization, through ``_normalize_backward``.

        Args:
            dout: (N, C, H, W) upstream gradient.
            cache: from ``InstanceNorm.forward``.

        Returns:
            dx: (N, C, H, W); dgamma: (C,); dbeta: (C,).
        """
        dx, dgamma, dbeta = None, None, None
        ### BEGIN SOLUTION
        x_hat, gamma, norm_cache = cache
        others = tuple(a for a in range(dout.dim()) if a != 1)
        dbeta = dout.sum(dim=others)
        dgamma = (dout * x_hat).sum(dim=others)
        dx = _normalize_backward(dout * _per_channel(gamma, dout), norm_cache)
        ### END SOLUTION
        return dx, dgamma, dbeta
