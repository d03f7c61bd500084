"""The a4_cnn sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): a spatial
batchnorm over the wrong axes, one that mixes the channels, a convolution through the given fast
layer, a hostile student, a student with the course's habits (``F.pad`` in the naive convolution,
``SpatialBatchNorm.backward`` through ``BatchNorm.backward``, the batchnorm scales named ``g1``,
``g2``..., checkpoints saved the course's way as ``.pth`` files with the course's keys: full marks),
and a three-layer ``nn.Module`` left with PyTorch's default
initialization and trained with momentum.
"""
from __future__ import annotations

from pathlib import Path

CONV, NN = "convolutional_networks.py", "pytorch_autograd_and_nn.py"

SPATIAL_BATCHNORM_OVER_PIXELS = {
    "SpatialBatchNorm.forward": '''
@staticmethod
def forward(x, gamma, beta, bn_param):
    """Normalizes each image's channels over their own pixels only, axes (H, W) (the bug: that is
    instance normalization; batch normalization also takes the N images)."""
    x_hat, norm_cache = _normalize_forward(x, (2, 3), bn_param.get("eps", 1e-5))
    out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
    return out, (x_hat, gamma, norm_cache)
''',
    "SpatialBatchNorm.backward": '''
@staticmethod
def backward(dout, cache):
    """The matching backward pass of the same wrong normalization."""
    x_hat, gamma, norm_cache = cache
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    return _normalize_backward(dout * _per_channel(gamma, dout), norm_cache), dgamma, dbeta
''',
}

CONV_THROUGH_FAST_LAYER = {
    "Conv.forward": '''
@staticmethod
def forward(x, w, b, conv_param):
    """Right values, from the given FastConv (torch's conv2d) instead of the student's own loops."""
    out, _ = FastConv.forward(x, w, b, conv_param)
    return out, (x, w, b, conv_param)
''',
}

HOSTILE_BLOCK = {
    "ResidualBlock.forward": '''
def forward(self, x):
    """Tries to read the hidden references and to write outside its folder first."""
    import glob
    for pattern in ("/work/*/autograder/suites/*/references.ref", "../*.ref", "/tmp/*/references/*.ref"):
        for path in glob.glob(pattern)[:3]:
            try:
                open(path, "rb").read(64)
            except OSError:
                pass
    try:
        open("/tmp/eecs498-demo-block", "w").write("escaped")
    except OSError:
        pass
    return self.block(x) + self.shortcut(x)
''',
}

CONV_WITH_F_PAD = {
    "Conv.forward": '''
@staticmethod
def forward(x, w, b, conv_param):
    """The course's hint: torch.nn.functional.pad for the padding (allowed), then the same loops."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    num_filters, _, HH, WW = w.shape
    x_pad = F.pad(x, (pad, pad, pad, pad))
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    out = x.new_zeros(N, num_filters, H_out, W_out)
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW].reshape(N, -1)
            out[:, :, i, j] = window.mm(w.reshape(num_filters, -1).t()) + b
    return out, (x, w, b, conv_param)
''',
    "Conv.backward": '''
@staticmethod
def backward(dout, cache):
    """Pads with a function-local import of torch.nn.functional, used only for pad."""
    import torch.nn.functional as functional
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    num_filters, _, HH, WW = w.shape
    x_pad = functional.pad(x, (pad, pad, pad, pad))
    dx_pad, dw = torch.zeros_like(x_pad), torch.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            r, c = i * stride, j * stride
            d = dout[:, :, i, j]
            dw += (d.t().mm(x_pad[:, :, r:r + HH, c:c + WW].reshape(N, -1))).reshape(w.shape)
            dx_pad[:, :, r:r + HH, c:c + WW] += d.mm(w.reshape(num_filters, -1)).reshape(N, C, HH, WW)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(dim=(0, 2, 3))
''',
}

SPATIAL_BACKWARD_THROUGH_BACKWARD = {
    "SpatialBatchNorm.backward": '''
@staticmethod
def backward(dout, cache):
    """The course's own habit: through BatchNorm.backward (not backward_alt). Its rounding differs,
    and so does the (zero) gradient of a bias right before batchnorm."""
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = BatchNorm.backward(dout.permute(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
''',
}

THREE_LAYER_MODULE_DEFAULTS = {
    "ThreeLayerConvNet.__init__": '''
def __init__(self, in_channel, channel_1, channel_2, num_classes, image_size=(32, 32)):
    """The right layers, left with PyTorch's default initialization (the bug: no Kaiming, biases not 0)."""
    super().__init__()
    H, W = image_size
    self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2)
    self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)
    self.fc = nn.Linear(channel_2 * H * W, num_classes)
''',
}

PART3_WITH_MOMENTUM = '''
def initialize_three_layer_conv_part3(input_dims=(3, 32, 32), num_classes=10):
    """SGD with momentum 0.9 (the bug: the course asks for plain SGD)."""
    C, H, W = input_dims
    model = ThreeLayerConvNet(C, 32, 16, num_classes, image_size=(H, W))
    return model, torch.optim.SGD(model.parameters(), lr=3e-3, momentum=0.9, weight_decay=1e-4)
'''

SPATIAL_BATCHNORM_MIXING_CHANNELS = {
    "SpatialBatchNorm.forward": '''
@staticmethod
def forward(x, gamma, beta, bn_param):
    """Reshapes (N, C, H, W) straight to (N*H*W, C) without moving the channels last (the bug)."""
    N, C, H, W = x.shape
    out, cache = BatchNorm.forward(x.reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, C, H, W), cache
''',
}


def checkpoints(assignment: Assignment, dataset: str | None = None) -> dict[str, bytes]:
    """one_minute_deepconvnet.pt and overfit_deepconvnet.pt trained with the source solutions (trusted
    code, imported here) on ``dataset`` (the default dataset when None), in ``DeepConvNet.save``'s
    format: a batchnorm DeepConvNet trained for two epochs (about 25 s on one CPU thread for
    Fashion-MNIST, instead of the notebook's 60 s budget), and the find_overfit_parameters network
    trained on the first 50 training images (its final parameters)."""
    import tempfile

    import torch

    from autograder.samples import source_module_with_given
    from eecs498.data import preprocess_dataset
    from eecs498.solver import Solver

    module = source_module_with_given(assignment, "convolutional_networks.py", "a4_convolutional_networks_source")
    with tempfile.TemporaryDirectory(prefix="eecs498-a4-") as tmp:
        folder = Path(tmp)
        data = preprocess_dataset(dataset, flatten=False)
        train_val = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
        input_dims = tuple(data["X_train"].shape[1:])
        files = {}
        torch.manual_seed(0)
        model = module.DeepConvNet(input_dims=input_dims, num_filters=[8, 16, 32], max_pools=[0, 1, 2],
                                   batchnorm=True, weight_scale="kaiming", reg=1e-5)
        Solver(model, train_val, update_rule=module.adam, optim_config={"learning_rate": 2e-3}, batch_size=64,
               num_epochs=2, lr_decay=0.5, num_train_samples=1000, num_val_samples=2000, verbose=False).train()
        model.save(folder / "one_minute_deepconvnet.pt")
        weight_scale, learning_rate = module.find_overfit_parameters()
        small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50], "X_val": data["X_val"][:50],
                 "y_val": data["y_val"][:50]}
        torch.manual_seed(0)
        model = module.DeepConvNet(input_dims=input_dims, num_filters=[8, 16, 32, 64], max_pools=[0, 1, 2, 3],
                                   reg=1e-5, weight_scale=weight_scale)
        Solver(model, small, update_rule=module.adam, optim_config={"learning_rate": learning_rate}, batch_size=10,
               num_epochs=30, verbose=False).train(return_best_params=False)
        model.save(folder / "overfit_deepconvnet.pt")
        for name in ("one_minute_deepconvnet.pt", "overfit_deepconvnet.pt"):
            files[name] = (folder / name).read_bytes()
    return files


def course_format(data: bytes, rename: dict[str, str]) -> bytes:
    """A DeepConvNet.save checkpoint rewritten the way the course's save writes it: the keys reg,
    dtype, params, num_layers, max_pools, batchnorm and bn_params only (the running statistics in
    bn_params dicts that also hold the mode), parameters renamed by ``rename`` (old prefix -> new)."""
    import io

    import torch

    from autograder.samples import checkpoint_bytes

    ours = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    def renamed(name: str) -> str:
        for old, new in rename.items():
            if name.startswith(old) and name[len(old):].isdigit():
                return new + name[len(old):]
        return name

    return checkpoint_bytes({
        "reg": ours["reg"], "dtype": torch.float32, "params": {renamed(k): v for k, v in ours["params"].items()},
        "num_layers": len(ours["num_filters"]) + 1, "max_pools": ours["max_pools"], "batchnorm": ours["batchnorm"],
        "bn_params": [{"mode": "train", **p} for p in ours["bn_params"]],
    })


def students(kit) -> None:
    from autograder.samples import Pwned, checkpoint_bytes, replace_functions, replace_methods

    complete = kit.complete

    def mutant(name: str, module: str, methods: dict, as_zip: bool = True, **changes) -> None:
        kit.add(name, {**complete, module: replace_methods(kit.source(module), methods), **changes}, as_zip)

    mutant("cat_spatial_batchnorm_wrong_axes", CONV, SPATIAL_BATCHNORM_OVER_PIXELS)
    mutant("dan_conv_through_fast_layer", CONV, CONV_THROUGH_FAST_LAYER, as_zip=False)
    mutant("eve_hostile", NN, HOSTILE_BLOCK,
           **{"overfit_deepconvnet.pt": checkpoint_bytes({"params": {"W1": Pwned()}})})
    mutant("fay_spatial_batchnorm_mixing_channels", CONV, SPATIAL_BATCHNORM_MIXING_CHANNELS, as_zip=False)

    conv = replace_methods(kit.source(CONV), {**CONV_WITH_F_PAD, **SPATIAL_BACKWARD_THROUGH_BACKWARD})
    if conv.count('f"gamma{i}"') < 3:
        raise ValueError("the course-habits student expects DeepConvNet to name its scales f\"gamma{i}\"")
    conv = conv.replace('f"gamma{i}"', 'f"g{i}"')  # the course leaves the names to the student
    course = {CONV: conv, NN: complete[NN]}
    for name in ("one_minute_deepconvnet.pt", "overfit_deepconvnet.pt"):
        if name in complete:
            course[name + "h"] = course_format(complete[name], {"gamma": "g"})
    kit.add("gil_course_habits", course)

    nn_module = replace_methods(kit.source(NN), THREE_LAYER_MODULE_DEFAULTS)
    nn_module = replace_functions(nn_module, {"initialize_three_layer_conv_part3": PART3_WITH_MOMENTUM})
    kit.add("hal_three_layer_defaults_and_momentum", {**complete, NN: nn_module}, as_zip=False)


def expected_scores(full: float) -> dict:
    """The wrong spatial batchnorm also costs the batchnorm conv nets; the convolution through the
    given FastConv loses the naive convolution group (10 points); the hostile student loses only its
    pickled checkpoint's test; the course's habits cost nothing; the default initialization loses the
    initialization test and momentum the two tests of initialize_three_layer_conv_part3 (1 point
    each; see tests/test_a4_grading.py for exactly which tests each loses)."""
    return {"cat_spatial_batchnorm_wrong_axes": (full - 20, full), "dan_conv_through_fast_layer": full - 10,
            "eve_hostile": (full - 10, full), "fay_spatial_batchnorm_mixing_channels": (full - 20, full),
            "gil_course_habits": full, "hal_three_layer_defaults_and_momentum": full - 3}
