"""PyTorch's autograd and ``torch.nn``: a custom autograd function, then residual networks (A4, part 2).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below;
``pytorch_autograd_and_nn.ipynb`` imports this module, runs visible checks and trains networks
with your code.

Until now you wrote every backward pass by hand. Here PyTorch does it: tensors that require
gradients record the operations applied to them, and ``loss.backward()`` walks that graph in
reverse. Two ways to use it:

* Part 1, extending autograd: a ``torch.autograd.Function`` with your own ``forward`` and
  ``backward`` — for an operation whose automatic gradient would be slow or numerically poor,
  like the sigmoid of a large negative number (the lecture's example).
* Parts 2 to 4, three ways to write the same three-layer convolutional network (the course's
  2020 parts II-IV): "barebones" PyTorch, a function of the input and a list of parameter
  tensors that require gradients (``three_layer_convnet``, ``initialize_three_layer_conv_part2``);
  the Module API, a subclass of ``nn.Module`` that owns its layers (``ThreeLayerConvNet``,
  ``initialize_three_layer_conv_part3``); and the Sequential API, layers chained by
  ``nn.Sequential`` (``initialize_three_layer_conv_part4``), each with its ``torch.optim``
  optimizer.
* Part 5, ``torch.nn`` for deep networks: layers (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU``,
  ``nn.Linear``) are ``nn.Module`` objects holding their parameters; a network is a module made of
  modules, ``nn.Sequential`` chains them, and ``torch.optim`` updates all the parameters of a
  network. You build plain and residual blocks, then ResNets from them.

Notation: N images in a minibatch, ``Cin``/``Cout`` input/output channels, H x W pixels.

Rules for every function in this file:

* Work on whatever device and dtype the inputs come with; never call ``.cuda()`` or ``.to(...)``
  on the data and never write ``'cuda'`` (the given ``train`` moves the model and the batches).
* In ``StableSigmoid`` compute the sigmoid and its gradient yourself: no ``torch.sigmoid``,
  ``torch.special.expit``, ``torch.nn.functional.sigmoid`` or ``torch.autograd`` inside it.
* In Parts 2 to 5 use ``torch.nn`` and ``torch.optim`` freely: ``torch.nn.functional``
  (``F.conv2d``, ``F.relu``, ``F.linear``), ``nn.init``, ``nn.Sequential``, ``nn.Conv2d``,
  ``nn.BatchNorm2d``, ``nn.ReLU``, ``nn.Identity``, ``nn.Linear``, ``torch.optim.SGD``.

The three-layer networks of Parts 2 to 4 follow the course: CIFAR-10-sized images (3 x 32 x 32)
and 10 classes by default; the keyword arguments ``input_dims`` (and ``image_size`` for
``ThreeLayerConvNet``) let the notebook build them for Fashion-MNIST's 1 x 28 x 28 images.
"""
from __future__ import annotations

import time
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset


def hello():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from pytorch_autograd_and_nn.py!")


# ------------------------------------------------------------------------------------------------
# Part 1: a custom autograd function


class StableSigmoid(torch.autograd.Function):
    """The sigmoid ``1 / (1 + exp(-x))``, computed stably and differentiated from its output.

    The formula as written overflows for large negative x (``exp(-x)`` is ``inf``), and its
    automatic gradient goes through ``exp(-x)`` again. Instead:

    * forward: with ``z = exp(-|x|)`` (in (0, 1], it cannot overflow), ``sigmoid(x) = 1 / (1 + z)``
      for x >= 0 and ``z / (1 + z)`` for x < 0 — the same function, rewritten for each sign;
    * backward: ``d sigmoid / dx = sigmoid(x) * (1 - sigmoid(x))``: save the OUTPUT in the
      forward pass (``ctx.save_for_backward``) and compute the gradient from it.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        """Args: ctx: the context to save tensors in; x: any shape, floating dtype, device.

        Returns: y = sigmoid(x), the shape, dtype and device of ``x``, finite for every finite x
        (exactly 0 or 1 where it rounds there), with no warning and no NaN.
        """
        y = None
        ### BEGIN SOLUTION
        z = torch.exp(-x.abs())
        y = torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
        ctx.save_for_backward(y)
        ### END SOLUTION
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> Tensor:
        """Args: ctx: holds what forward saved; grad_y: upstream gradient, the shape of ``x``.

        Returns: grad_x = grad_y * y * (1 - y), from the saved output y.
        """
        grad_x = None
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        grad_x = grad_y * y * (1.0 - y)
        ### END SOLUTION
        return grad_x


def stable_sigmoid(x: Tensor) -> Tensor:
    """``StableSigmoid`` as a function: call the class's ``apply`` (never ``forward`` directly)."""
    y = None
    ### BEGIN SOLUTION
    y = StableSigmoid.apply(x)
    ### END SOLUTION
    return y


# ------------------------------------------------------------------------------------------------
# Part 2: barebones PyTorch — a network as a function of its parameter tensors


def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """(N, C, H, W) -> (N, C * H * W): the axes ``start_dim`` to ``end_dim`` merged into one, so
    that a linear layer can follow a convolution (given: nothing to do)."""
    return x.flatten(start_dim=start_dim, end_dim=end_dim)


def three_layer_convnet(x: Tensor, params: Sequence[Tensor]) -> Tensor:
    """The forward pass of a three-layer convolutional network, written with ``torch.nn.functional``::

        conv (channel_1 filters KH1 x KW1, with bias, zero-padding 2) - ReLU
        - conv (channel_2 filters KH2 x KW2, with bias, zero-padding 1) - ReLU
        - fully connected (with bias) to the class scores

    (5 x 5 filters for the first convolution and 3 x 3 for the second keep the image size.)
    Autograd differentiates it: with parameters that require gradients, ``scores.sum().backward()``
    fills their ``.grad``. Hints: ``F.conv2d``, ``F.relu``, ``flatten``, ``F.linear``.

    Args:
        x: (N, C, H, W) images, any floating dtype and device.
        params: ``[conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]``: ``conv_w1`` (channel_1, C,
            KH1, KW1), ``conv_b1`` (channel_1,), ``conv_w2`` (channel_2, channel_1, KH2, KW2),
            ``conv_b2`` (channel_2,), ``fc_w`` (num_classes, channel_2 * H * W) (the layout of
            ``F.linear``: one row per class), ``fc_b`` (num_classes,).

    Returns:
        scores: (N, num_classes).
    """
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    scores = None
    ### BEGIN SOLUTION
    hidden = F.relu(F.conv2d(x, conv_w1, conv_b1, stride=1, padding=2))
    hidden = F.relu(F.conv2d(hidden, conv_w2, conv_b2, stride=1, padding=1))
    scores = F.linear(flatten(hidden), fc_w, fc_b)
    ### END SOLUTION
    return scores


def initialize_three_layer_conv_part2(dtype: torch.dtype = torch.float, device="cpu",
                                      input_dims: Sequence[int] = (3, 32, 32), num_classes: int = 10) -> list:
    """The parameters of ``three_layer_convnet`` for the course's network: 32 filters 5 x 5, then
    16 filters 3 x 3, then the linear layer to ``num_classes`` scores.

    Weights from ``nn.init.kaiming_normal_`` (its defaults: fan-in, gain sqrt(2)) on tensors of the
    given dtype and device, biases zeros; every tensor requires gradients (a leaf that autograd
    fills the ``.grad`` of).

    Args:
        dtype: of the parameters (float32 to train, float64 for gradient checks).
        device: of the parameters.
        input_dims: (C, H, W) of the images: the course's CIFAR-10 (3, 32, 32) by default.
        num_classes: the number of class scores.

    Returns:
        ``[conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]`` with the shapes of
        ``three_layer_convnet``'s docstring (``fc_w``: (num_classes, 16 * H * W)).
    """
    C, H, W = input_dims
    channel_1, channel_2 = 32, 16
    kernel_size_1, kernel_size_2 = 5, 3
    conv_w1 = conv_b1 = conv_w2 = conv_b2 = fc_w = fc_b = None
    ### BEGIN SOLUTION
    shapes = [(channel_1, C, kernel_size_1, kernel_size_1), (channel_2, channel_1, kernel_size_2, kernel_size_2),
              (num_classes, channel_2 * H * W)]
    conv_w1, conv_w2, fc_w = (nn.init.kaiming_normal_(torch.empty(shape, dtype=dtype, device=device)).requires_grad_()
                              for shape in shapes)
    conv_b1, conv_b2, fc_b = (torch.zeros(shape[0], dtype=dtype, device=device, requires_grad=True)
                              for shape in shapes)
    ### END SOLUTION
    return [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]


def check_accuracy_part2(loader: DataLoader, model_fn, params: Sequence[Tensor], device) -> float:
    """The fraction of the loader's images that ``model_fn(x, params)`` classifies correctly
    (given: nothing to do)."""
    dtype = params[0].dtype
    num_correct, num_samples = 0, 0
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            num_correct += int((model_fn(x, params).argmax(dim=1) == y).sum())
            num_samples += x.shape[0]
    return num_correct / max(num_samples, 1)


def train_part2(model_fn, params: Sequence[Tensor], loader_train: DataLoader, loader_val: DataLoader, device,
                learning_rate: float, epochs: int = 1, print_every: int = 100, verbose: bool = True) -> Dict[str, list]:
    """Train a barebones network by hand (given: nothing to do): every iteration, the
    cross-entropy loss of ``model_fn(x, params)``, ``loss.backward()``, then plain SGD on every
    tensor of ``params`` (``w -= learning_rate * w.grad`` under ``torch.no_grad()``) and its
    gradient cleared.

    Returns:
        dict with ``loss_history`` (floats), ``val_acc_history`` and ``val_iters`` (the
        validation accuracy every ``print_every`` iterations and at the end).
    """
    dtype = params[0].dtype
    history: Dict[str, list] = {"loss_history": [], "val_acc_history": [], "val_iters": []}
    t = 0
    for _ in range(epochs):
        for x, y in loader_train:
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            loss = F.cross_entropy(model_fn(x, params), y)
            loss.backward()
            with torch.no_grad():
                for w in params:
                    w -= learning_rate * w.grad
                    w.grad = None
            t += 1
            history["loss_history"].append(loss.item())
            if t % print_every == 0:
                acc = check_accuracy_part2(loader_val, model_fn, params, device)
                history["val_acc_history"].append(acc)
                history["val_iters"].append(t)
                if verbose:
                    print(f"Iteration {t}, loss = {loss.item():.4f}, val acc = {100 * acc:.2f}%")
    if not history["val_iters"] or history["val_iters"][-1] != t:
        history["val_acc_history"].append(check_accuracy_part2(loader_val, model_fn, params, device))
        history["val_iters"].append(t)
    return history


# ------------------------------------------------------------------------------------------------
# Part 3: the Module API — the same network as an nn.Module


class ThreeLayerConvNet(nn.Module):
    """``three_layer_convnet`` as an ``nn.Module`` that owns its layers::

        Conv2d(in_channel -> channel_1, 5 x 5, padding 2) - ReLU
        - Conv2d(channel_1 -> channel_2, 3 x 3, padding 1) - ReLU - Linear(-> num_classes)

    The convolutions keep the image size, so the linear layer takes ``channel_2 * H * W``
    inputs: the course assumes 32 x 32 images (``image_size`` says otherwise). Weights from
    Kaiming normal initialization (``nn.init.kaiming_normal_``), biases zero.

    (Not the ``ThreeLayerConvNet`` of ``convolutional_networks.py``: that one computes its own
    gradients; this one is a module whose gradients autograd computes.)
    """

    def __init__(self, in_channel: int, channel_1: int, channel_2: int, num_classes: int,
                 image_size: Sequence[int] = (32, 32)):
        """Args:
            in_channel: C, the channels of the images.
            channel_1, channel_2: the filters of the two convolutions.
            num_classes: the number of class scores.
            image_size: (H, W) of the images, the course's (32, 32) by default.
        """
        super().__init__()
        # The layers as attributes (self.conv1, self.conv2, self.fc), then their initialization.
        ### BEGIN SOLUTION
        H, W = image_size
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)
        self.fc = nn.Linear(channel_2 * H * W, num_classes)
        for layer in (self.conv1, self.conv2, self.fc):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channel, H, W) images -> (N, num_classes) scores, through the layers of
        ``__init__`` (hint: ``flatten`` before the linear layer)."""
        scores = None
        ### BEGIN SOLUTION
        hidden = F.relu(self.conv2(F.relu(self.conv1(x))))
        scores = self.fc(flatten(hidden))
        ### END SOLUTION
        return scores


def initialize_three_layer_conv_part3(input_dims: Sequence[int] = (3, 32, 32),
                                      num_classes: int = 10) -> Tuple[nn.Module, torch.optim.Optimizer]:
    """A ``ThreeLayerConvNet`` with 32 and 16 filters for ``input_dims`` images, and its optimizer:
    stochastic gradient descent without momentum, learning rate 3e-3, L2 weight decay 1e-4
    (``torch.optim.SGD``).

    Args:
        input_dims: (C, H, W) of the images: the course's CIFAR-10 (3, 32, 32) by default.
        num_classes: the number of class scores.

    Returns:
        ``(model, optimizer)``.
    """
    C, H, W = input_dims
    channel_1, channel_2 = 32, 16
    learning_rate, weight_decay = 3e-3, 1e-4
    model, optimizer = None, None
    ### BEGIN SOLUTION
    model = ThreeLayerConvNet(C, channel_1, channel_2, num_classes, image_size=(H, W))
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    ### END SOLUTION
    return model, optimizer


# ------------------------------------------------------------------------------------------------
# Part 4: the Sequential API — the same network as a chain of layers


class Flatten(nn.Module):
    """``flatten`` as a module, to put in an ``nn.Sequential`` (given: nothing to do; PyTorch's own
    ``nn.Flatten`` does the same)."""

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x)


def initialize_three_layer_conv_part4(input_dims: Sequence[int] = (3, 32, 32),
                                      num_classes: int = 10) -> Tuple[nn.Module, torch.optim.Optimizer]:
    """The three-layer network of Part 3 as one ``nn.Sequential`` (PyTorch's default
    initialization), and its optimizer: SGD with Nesterov momentum 0.5, learning rate 1e-2, L2
    weight decay 1e-4::

        Conv2d(C -> 32, 5 x 5, padding 2) - ReLU - Conv2d(32 -> 16, 3 x 3, padding 1) - ReLU
        - Flatten - Linear(16 * H * W -> num_classes)

    Args:
        input_dims: (C, H, W) of the images: the course's CIFAR-10 (3, 32, 32) by default.
        num_classes: the number of class scores.

    Returns:
        ``(model, optimizer)``.
    """
    C, H, W = input_dims
    channel_1, channel_2 = 32, 16
    kernel_size_1, pad_size_1 = 5, 2
    kernel_size_2, pad_size_2 = 3, 1
    learning_rate, weight_decay, momentum = 1e-2, 1e-4, 0.5
    model, optimizer = None, None
    ### BEGIN SOLUTION
    model = nn.Sequential(
        nn.Conv2d(C, channel_1, kernel_size_1, padding=pad_size_1),
        nn.ReLU(),
        nn.Conv2d(channel_1, channel_2, kernel_size_2, padding=pad_size_2),
        nn.ReLU(),
        Flatten(),
        nn.Linear(channel_2 * H * W, num_classes),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum, nesterov=True,
                                weight_decay=weight_decay)
    ### END SOLUTION
    return model, optimizer


# ------------------------------------------------------------------------------------------------
# Part 5: plain and residual blocks, ResNets


class PlainBlock(nn.Module):
    """Two 3x3 convolutions, each preceded by batchnorm and ReLU ("pre-activation")::

        BatchNorm(Cin) - ReLU - Conv3x3(Cin -> Cout, stride 2 if downsample else 1, padding 1)
        - BatchNorm(Cout) - ReLU - Conv3x3(Cout -> Cout, stride 1, padding 1)

    Input (N, Cin, H, W); output (N, Cout, H, W), or (N, Cout, ceil(H / 2), ceil(W / 2)) with
    ``downsample``. The convolutions have biases (PyTorch's default).
    """

    def __init__(self, Cin: int, Cout: int, downsample: bool = False):
        super().__init__()
        self.net = None
        # The layers, in one nn.Sequential, in self.net.
        ### BEGIN SOLUTION
        self.net = nn.Sequential(
            nn.BatchNorm2d(Cin),
            nn.ReLU(),
            nn.Conv2d(Cin, Cout, kernel_size=3, stride=2 if downsample else 1, padding=1),
            nn.BatchNorm2d(Cout),
            nn.ReLU(),
            nn.Conv2d(Cout, Cout, kernel_size=3, stride=1, padding=1),
        )
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ResidualBlock(nn.Module):
    """A plain block plus a shortcut: ``out = block(x) + shortcut(x)``.

    ``self.block`` is a ``PlainBlock(Cin, Cout, downsample)``; ``self.shortcut`` makes ``x`` the
    shape of the block's output:

    * ``nn.Identity()`` when ``Cin == Cout`` and not ``downsample``;
    * a 1x1 convolution ``Cin -> Cout`` (stride 1) when the channels differ;
    * a 1x1 convolution ``Cin -> Cout`` with stride 2 when ``downsample``.
    """

    def __init__(self, Cin: int, Cout: int, downsample: bool = False):
        super().__init__()
        self.block = None  # F
        self.shortcut = None  # G
        ### BEGIN SOLUTION
        self.block = PlainBlock(Cin, Cout, downsample)
        if downsample:
            self.shortcut = nn.Conv2d(Cin, Cout, kernel_size=1, stride=2)
        elif Cin != Cout:
            self.shortcut = nn.Conv2d(Cin, Cout, kernel_size=1)
        else:
            self.shortcut = nn.Identity()
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W'): the block's output plus the shortcut's."""
        out = None
        ### BEGIN SOLUTION
        out = self.block(x) + self.shortcut(x)
        ### END SOLUTION
        return out


class ResidualBottleneckBlock(nn.Module):
    """A residual block whose main branch narrows to ``Cout // 4`` channels for its 3x3 convolution::

        BatchNorm(Cin) - ReLU - Conv1x1(Cin -> Cout // 4)
        - BatchNorm(Cout // 4) - ReLU - Conv3x3(Cout // 4 -> Cout // 4, stride 2 if downsample, padding 1)
        - BatchNorm(Cout // 4) - ReLU - Conv1x1(Cout // 4 -> Cout)

    in ``self.block`` (one ``nn.Sequential``), plus ``self.shortcut`` as in ``ResidualBlock``.
    Downsampling happens in the 3x3 convolution, where no pixel is skipped outright.
    """

    def __init__(self, Cin: int, Cout: int, downsample: bool = False):
        super().__init__()
        self.block = None
        self.shortcut = None
        ### BEGIN SOLUTION
        mid = Cout // 4
        self.block = nn.Sequential(
            nn.BatchNorm2d(Cin),
            nn.ReLU(),
            nn.Conv2d(Cin, mid, kernel_size=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, mid, kernel_size=3, stride=2 if downsample else 1, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, Cout, kernel_size=1),
        )
        if downsample:
            self.shortcut = nn.Conv2d(Cin, Cout, kernel_size=1, stride=2)
        elif Cin != Cout:
            self.shortcut = nn.Conv2d(Cin, Cout, kernel_size=1)
        else:
            self.shortcut = nn.Identity()
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W'): the block's output plus the shortcut's."""
        out = None
        ### BEGIN SOLUTION
        out = self.block(x) + self.shortcut(x)
        ### END SOLUTION
        return out


class ResNetStem(nn.Module):
    """The first layer of a ResNet: a 3x3 convolution ``Cin -> Cout`` (padding 1) and a ReLU
    (given: nothing to do)."""

    def __init__(self, Cin: int = 3, Cout: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(Cin, Cout, kernel_size=3, padding=1, stride=1),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ResNetStage(nn.Module):
    """``num_blocks`` blocks: the first ``Cin -> Cout`` (downsampling when asked), the others
    ``Cout -> Cout`` (given: nothing to do)."""

    def __init__(self, Cin: int, Cout: int, num_blocks: int, downsample: bool = True, block=ResidualBlock):
        super().__init__()
        blocks = [block(Cin, Cout, downsample)]
        for _ in range(num_blocks - 1):
            blocks.append(block(Cout, Cout))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ResNet(nn.Module):
    """A ResNet: a stem, stages of blocks, global average pooling, and a linear classifier::

        ResNetStem(Cin -> stage_args[0][0]) - ResNetStage(*stage_args[0], block=block) - ...
        - ResNetStage(*stage_args[-1], block=block) - global average pool - Linear(-> num_classes)

    ``stage_args`` is a list of ``(Cin, Cout, num_blocks, downsample)`` tuples, one per stage.
    """

    def __init__(self, stage_args: Sequence[tuple], Cin: int = 3, block=ResidualBlock, num_classes: int = 10):
        """Args:
            stage_args: ``[(Cin, Cout, num_blocks, downsample), ...]``, one tuple per stage.
            Cin: the channels of the input images.
            block: the block class of every stage (``PlainBlock``, ``ResidualBlock``,
                ``ResidualBottleneckBlock``, ...).
            num_classes: the number of classes.
        """
        super().__init__()
        self.cnn = None
        # The convolutional part, in one nn.Sequential in self.cnn: the stem (its Cout is the
        # first stage's Cin), then one ResNetStage per tuple of stage_args.
        ### BEGIN SOLUTION
        layers = [ResNetStem(Cin=Cin, Cout=stage_args[0][0])]
        for args in stage_args:
            layers.append(ResNetStage(*args, block=block))
        self.cnn = nn.Sequential(*layers)
        ### END SOLUTION
        self.fc = nn.Linear(stage_args[-1][1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) images -> (N, num_classes) scores.

        Run ``self.cnn``, average each channel over all its pixels (global average pooling:
        ``F.adaptive_avg_pool2d(..., 1)`` or a mean over the last two axes), flatten to
        (N, channels), and apply ``self.fc``.
        """
        scores = None
        ### BEGIN SOLUTION
        features = self.cnn(x)
        pooled = features.mean(dim=(2, 3))  # (N, C)
        scores = self.fc(pooled)
        ### END SOLUTION
        return scores


# ------------------------------------------------------------------------------------------------
# networks by name (given: nothing to do)

# Depth = 1 (stem) + convolutions per block * blocks + 1 (the linear layer): 1 + 2 * 15 + 1 = 32
# for three stages of five plain or residual blocks, 1 + 3 * 15 + 1 = 47 with bottlenecks.
networks = {
    "plain20": {"block": PlainBlock, "stage_args": [(8, 8, 3, False), (8, 16, 3, True), (16, 32, 3, True)]},
    "resnet20": {"block": ResidualBlock, "stage_args": [(8, 8, 3, False), (8, 16, 3, True), (16, 32, 3, True)]},
    "plain32": {"block": PlainBlock, "stage_args": [(8, 8, 5, False), (8, 16, 5, True), (16, 32, 5, True)]},
    "resnet32": {"block": ResidualBlock, "stage_args": [(8, 8, 5, False), (8, 16, 5, True), (16, 32, 5, True)]},
    "resnet47": {"block": ResidualBottleneckBlock,
                 "stage_args": [(32, 32, 5, False), (32, 64, 5, True), (64, 128, 5, True)]},
    "plain56": {"block": PlainBlock, "stage_args": [(8, 8, 9, False), (8, 16, 9, True), (16, 32, 9, True)]},
    "resnet56": {"block": ResidualBlock, "stage_args": [(8, 8, 9, False), (8, 16, 9, True), (16, 32, 9, True)]},
}


def get_resnet(name: str, Cin: int = 3, num_classes: int = 10) -> ResNet:
    """The network ``networks[name]`` for images with ``Cin`` channels (1 for Fashion-MNIST)."""
    if name not in networks:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(networks)}")
    return ResNet(**networks[name], Cin=Cin, num_classes=num_classes)


# ------------------------------------------------------------------------------------------------
# training with torch.optim and a DataLoader (given: nothing to do)


def get_loaders(data_dict: dict, batch_size: int = 64, num_train: Optional[int] = None,
                seed: int = 0) -> Tuple[DataLoader, DataLoader, DataLoader]:
    """DataLoaders over the tensors of ``eecs498.data.preprocess_dataset(..., flatten=False)``.

    Args:
        data_dict: ``X_train``, ``y_train``, ``X_val``, ``y_val``, ``X_test``, ``y_test``.
        batch_size: images per minibatch.
        num_train: keep only the first ``num_train`` training images (all when ``None``).
        seed: of the generator that shuffles the training set every epoch.

    Returns:
        ``(loader_train, loader_val, loader_test)``; only the training loader shuffles.
    """
    X_train, y_train = data_dict["X_train"], data_dict["y_train"]
    if num_train is not None:
        X_train, y_train = X_train[:num_train], y_train[:num_train]
    generator = torch.Generator().manual_seed(seed)
    loader_train = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True,
                              generator=generator)
    loader_val = DataLoader(TensorDataset(data_dict["X_val"], data_dict["y_val"]), batch_size=batch_size)
    loader_test = DataLoader(TensorDataset(data_dict["X_test"], data_dict["y_test"]), batch_size=batch_size)
    return loader_train, loader_val, loader_test


def check_accuracy(loader: DataLoader, model: nn.Module, device, verbose: bool = False) -> float:
    """The fraction of the loader's images that ``model`` classifies correctly (eval mode).

    Args:
        loader: yields ``(x, y)`` batches.
        model: an ``nn.Module`` on ``device`` mapping images to (N, num_classes) scores.
        device: where the batches go.
        verbose: print "Got k / n correct (p%)".

    Returns:
        A Python float in [0, 1]. The model is left in eval mode.
    """
    model.eval()
    dtype = next(model.parameters()).dtype
    num_correct, num_samples = 0, 0
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            scores = model(x)
            num_correct += int((scores.argmax(dim=1) == y).sum())
            num_samples += x.shape[0]
    acc = num_correct / max(num_samples, 1)
    if verbose:
        print(f"Got {num_correct} / {num_samples} correct ({100 * acc:.2f}%)")
    return acc


def adjust_learning_rate(optimizer: torch.optim.Optimizer, learning_rate_decay: float, epoch: int,
                         schedule: Sequence[int]) -> None:
    """Multiply every parameter group's learning rate by ``learning_rate_decay`` when ``epoch`` is
    in ``schedule`` (the course's step decay)."""
    if epoch in schedule:
        for group in optimizer.param_groups:
            group["lr"] *= learning_rate_decay


def train(model: nn.Module, optimizer: torch.optim.Optimizer, loader_train: DataLoader, loader_val: DataLoader,
          device, epochs: int = 1, learning_rate_decay: float = 0.1, schedule: Sequence[int] = (),
          time_limit: Optional[float] = None, print_every: int = 100, verbose: bool = True) -> Dict[str, list]:
    """Train ``model`` with ``optimizer`` on the cross-entropy loss.

    Every iteration: train mode, a batch moved to ``device`` (and the model's dtype), scores,
    ``F.cross_entropy``, ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``.
    The validation accuracy is measured every ``print_every`` iterations and after every epoch.

    Args:
        model: an ``nn.Module``; moved to ``device`` here.
        optimizer: a ``torch.optim`` optimizer over ``model.parameters()``.
        loader_train, loader_val: DataLoaders of ``(x, y)`` batches.
        device: where to train.
        epochs: passes over the training loader.
        learning_rate_decay, schedule: the learning rate is multiplied by ``learning_rate_decay``
            at the start of every epoch listed in ``schedule``.
        time_limit: seconds; training stops (after the current iteration) once they are spent.
        print_every: iterations between validation checks (and prints, with ``verbose``).
        verbose: print the progress.

    Returns:
        dict with ``loss_history`` (the training loss of every iteration, floats),
        ``val_acc_history`` (floats) and ``val_iters`` (the iteration count at each check).
    """
    model.to(device)
    dtype = next(model.parameters()).dtype
    history: Dict[str, list] = {"loss_history": [], "val_acc_history": [], "val_iters": []}
    start, t = time.perf_counter(), 0
    for epoch in range(epochs):
        adjust_learning_rate(optimizer, learning_rate_decay, epoch, schedule)
        for x, y in loader_train:
            model.train()
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            t += 1
            history["loss_history"].append(loss.item())
            if t % print_every == 0:
                acc = check_accuracy(loader_val, model, device)
                history["val_acc_history"].append(acc)
                history["val_iters"].append(t)
                if verbose:
                    print(f"Epoch {epoch}, iteration {t}, loss = {loss.item():.4f}, val acc = {100 * acc:.2f}%")
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
        if not history["val_iters"] or history["val_iters"][-1] != t:
            acc = check_accuracy(loader_val, model, device)
            history["val_acc_history"].append(acc)
            history["val_iters"].append(t)
            if verbose:
                print(f"Epoch {epoch} done, iteration {t}, val acc = {100 * acc:.2f}%")
        if time_limit is not None and time.perf_counter() - start > time_limit:
            if verbose:
                print(f"Stopped after {time.perf_counter() - start:.1f} s (time_limit={time_limit})")
            break
    return history
