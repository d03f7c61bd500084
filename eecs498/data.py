"""The assignments' datasets: CIFAR-10 and Fashion-MNIST, each reachable by more than one road.

CIFAR-10 comes from the official python tarball (web), or from the tarball or its extracted folder
already in the data root; the decoded tensors are cached as ``<root>/cifar10.pt``. Fashion-MNIST
comes from the Debian package ``dataset-fashion-mnist`` (offline), from ``<root>/fashion-mnist/``,
or from the official IDX files (web). Every file is checked against the checksums recorded here
before it is used; ``datasets/README.md`` documents the sources and their licences.

``python -m eecs498.data NAME [NAME ...]`` fetches, verifies and caches datasets ahead of time.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import os
import pickle
import shutil
import tarfile
import warnings
import zlib
from pathlib import Path
from typing import Callable
from urllib.request import urlopen

import numpy as np
import torch

import eecs498
from eecs498 import get_device

DATA_ROOT = Path(
    os.environ.get("EECS498_DATA") or Path(eecs498.__file__).resolve().parent.parent / "datasets"
)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # of the tarball, as published with it
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_CACHE = "cifar10.pt"
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# (split, file) in the order load_dataset returns them.
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
# sha256 of the DECOMPRESSED IDX bytes: the same on every road (Debian recompressed the .gz files,
# so their own checksums differ from the official downloads'; see datasets/README.md).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_CLASS_NAMES = {
    "cifar10": ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
# (channels, height, width) of each dataset's images.
_IMAGE_SHAPE = {"cifar10": (3, 32, 32), "fashion_mnist": (1, 28, 28)}

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class DatasetUnavailable(RuntimeError):
    """No road to a dataset worked; the message says what to run or where to put the files."""


def available_datasets() -> list[str]:
    """The names ``load_dataset`` accepts."""
    return list(_CLASS_NAMES)


def class_names(name: str) -> list[str]:
    """The dataset's class names; label ``i`` is ``class_names(name)[i]``."""
    return list(_CLASS_NAMES[_check_name(name)])


def default_dataset(*, root: str | Path | None = None) -> str:
    """``$EECS498_DATASET`` when set; else "cifar10" when CIFAR-10 is already in the data root
    (cache, extracted folder or tarball; nothing is probed on the network); else "fashion_mnist".
    """
    name = os.environ.get("EECS498_DATASET")
    if name:
        return _check_name(name)
    folder = _root(root)
    if any((folder / item).exists() for item in (CIFAR10_CACHE, CIFAR10_FOLDER, CIFAR10_TARBALL)):
        return "cifar10"
    return "fashion_mnist"


def load_dataset(name: str, *, root: str | Path | None = None, download: bool = True) -> Tensors:
    """The whole dataset as stored: ``x_train, y_train, x_test, y_test``.

    Returns:
        x_train: uint8 (N_train, C, H, W); C, H, W = 3, 32, 32 (CIFAR-10) or 1, 28, 28 (Fashion-MNIST).
        y_train: int64 (N_train,), labels in [0, 10).
        x_test, y_test: the same for the test split.

    Raises:
        DatasetUnavailable: no road worked (offline, or ``download=False`` and nothing local).
        ValueError: a file is damaged or fails its checksum; the message names it.
    """
    loader = {"cifar10": _load_cifar10, "fashion_mnist": _load_fashion_mnist}[_check_name(name)]
    x_train, y_train, x_test, y_test = loader(_root(root), download)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if (x.dtype != torch.uint8 or tuple(x.shape[1:]) != _IMAGE_SHAPE[name]
                or y.dtype != torch.int64 or y.shape != x.shape[:1]):
            raise ValueError(f"{name} {split} split has images {tuple(x.shape)} {x.dtype} and labels "
                             f"{tuple(y.shape)}; expected (N, {', '.join(map(str, _IMAGE_SHAPE[name]))}) "
                             f"uint8 and (N,) int64")
    return x_train, y_train, x_test, y_test


def cifar10(num_train: int | None = None, num_test: int | None = None, x_dtype: torch.dtype = torch.float32,
            root: str | Path | None = None, download: bool = True) -> Tensors:
    """CIFAR-10 as floats: x (N, 3, 32, 32) in [0, 1] of ``x_dtype``, y int64 (N,).

    ``num_train``/``num_test`` keep the first examples of each split (all when ``None``).
    """
    return _as_float("cifar10", num_train, num_test, x_dtype, root, download)


def fashion_mnist(num_train: int | None = None, num_test: int | None = None, x_dtype: torch.dtype = torch.float32,
                  root: str | Path | None = None, download: bool = True) -> Tensors:
    """Fashion-MNIST as floats: x (N, 1, 28, 28) in [0, 1] of ``x_dtype``, y int64 (N,).

    ``num_train``/``num_test`` keep the first examples of each split (all when ``None``).
    """
    return _as_float("fashion_mnist", num_train, num_test, x_dtype, root, download)


def preprocess_dataset(name: str | None = None, *, device: torch.device | str | None = None,
                       cuda: bool | None = None, show_examples: bool = False, bias_trick: bool = False,
                       flatten: bool = True, validation_ratio: float = 0.2, dtype: torch.dtype = torch.float32,
                       num_train: int | None = None, num_test: int | None = None,
                       root: str | Path | None = None) -> dict:
    """Load a dataset and prepare it the way the course's classifiers expect.

    Steps: scale pixels to [0, 1]; split off the LAST ``validation_ratio`` of the training examples
    as the validation set; subtract the per-channel mean of the remaining training images from
    every split (the course took the mean before the split; here the validation images do not
    leak into it); flatten each image to a row when ``flatten``; append a column of ones when
    ``bias_trick`` (needs ``flatten``).

    Args:
        name: a name from ``available_datasets()``; ``default_dataset()`` when ``None``.
        device: where the tensors go; ``None`` means the CPU, or ``get_device()`` when ``cuda``
            (the course's flag) is true.
        show_examples: draw a grid of training images per class (``vis.visualize_dataset``).
        num_train, num_test: keep the first examples of each split before anything else.

    Returns:
        dict with ``X_train`` (N_train, D) (D = C*H*W, +1 with the bias trick; (N_train, C, H, W)
        without ``flatten``), ``y_train`` int64 (N_train,), the same for ``X_val``/``y_val`` and
        ``X_test``/``y_test``, plus ``class_names`` and ``dataset`` (the name).
    """
    if bias_trick and not flatten:
        raise ValueError("bias_trick appends a column to (N, D) rows: it needs flatten=True")
    if not 0 <= validation_ratio < 1:
        raise ValueError(f"validation_ratio must be in [0, 1), got {validation_ratio}")
    name = _check_name(name) if name is not None else default_dataset(root=root)
    if device is None:
        device = get_device() if cuda else torch.device("cpu")
    x_train, y_train, x_test, y_test = load_dataset(name, root=root)
    x_train, y_train = _first(x_train, y_train, num_train, "num_train")
    x_test, y_test = _first(x_test, y_test, num_test, "num_test")
    # Move the uint8 images first: a quarter of the bytes of the floats they become.
    x_train, x_test = (x.to(device).to(dtype).div_(255) for x in (x_train, x_test))
    y_train, y_test = y_train.to(device), y_test.to(device)
    if show_examples:
        _show_examples(x_train, y_train, class_names(name))

    num_kept = int(x_train.shape[0] * (1.0 - validation_ratio))
    if num_kept == 0:
        raise ValueError(f"no training examples left after taking validation_ratio={validation_ratio} "
                         f"of {x_train.shape[0]}")
    mean = x_train[:num_kept].mean(dim=(0, 2, 3), keepdim=True)
    x_train.sub_(mean)
    x_test.sub_(mean)
    if flatten:
        x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    if bias_trick:
        x_train, x_test = (torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1) for x in (x_train, x_test))
    return {
        "X_train": x_train[:num_kept], "y_train": y_train[:num_kept],
        "X_val": x_train[num_kept:], "y_val": y_train[num_kept:],
        "X_test": x_test, "y_test": y_test,
        "class_names": class_names(name), "dataset": name,
    }


def preprocess_cifar10(cuda: bool = False, show_examples: bool = True, bias_trick: bool = False,
                       flatten: bool = True, validation_ratio: float = 0.2, dtype: torch.dtype = torch.float32,
                       **kwargs) -> dict:
    """The course's name: ``preprocess_dataset("cifar10", ...)``; ``kwargs`` go through to it."""
    return preprocess_dataset("cifar10", cuda=cuda, show_examples=show_examples, bias_trick=bias_trick,
                              flatten=flatten, validation_ratio=validation_ratio, dtype=dtype, **kwargs)


def _check_name(name: str) -> str:
    if name not in _CLASS_NAMES:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(_CLASS_NAMES)}")
    return name


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else DATA_ROOT


def _first(x: torch.Tensor, y: torch.Tensor, num: int | None, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``num`` examples of a split (all when ``None``)."""
    if num is None:
        return x, y
    if not 0 <= num <= x.shape[0]:
        raise ValueError(f"{what}={num} is out of range: the split has {x.shape[0]} examples")
    return x[:num], y[:num]


def _as_float(name, num_train, num_test, x_dtype, root, download) -> Tensors:
    x_train, y_train, x_test, y_test = load_dataset(name, root=root, download=download)
    x_train, y_train = _first(x_train, y_train, num_train, "num_train")
    x_test, y_test = _first(x_test, y_test, num_test, "num_test")
    return x_train.to(x_dtype).div_(255), y_train, x_test.to(x_dtype).div_(255), y_test


def _show_examples(x: torch.Tensor, y: torch.Tensor, classes: list[str]) -> None:
    import matplotlib.pyplot as plt  # only when asked: keeps `import eecs498.data` light

    from eecs498.vis import visualize_dataset

    _, ax = plt.subplots(figsize=(8, 8))
    visualize_dataset(x, y, 12, classes, ax=ax)


# --- download -------------------------------------------------------------------------------------

def _download(url: str, dest: Path, verify: Callable[[Path], object]) -> None:
    """Fetch ``url`` to ``dest`` atomically: stream into ``dest.part``, ``verify`` it (raises when
    wrong), then rename. The ``.part`` file never outlives the call.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    print(f"Downloading {url} to {dest}", flush=True)
    try:
        with urlopen(url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        verify(part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


# --- CIFAR-10 --------------------------------------------------------------------------------------

def _check_cifar10_tarball(path: Path) -> None:
    with open(path, "rb") as handle:
        actual = hashlib.file_digest(handle, "md5").hexdigest()
    if actual != CIFAR10_MD5:
        raise ValueError(f"{path}: md5 checksum {actual} does not match the expected {CIFAR10_MD5}: the file "
                         f"is damaged or not the official tarball; fetch {CIFAR10_URL} again")


def _cifar10_help(root: Path) -> str:
    return (f"CIFAR-10 is not on any package registry: put {CIFAR10_TARBALL} ({CIFAR10_URL}) in {root}, "
            f"or run `python -m eecs498.data cifar10` with network access, "
            f"or use Fashion-MNIST instead: EECS498_DATASET=fashion_mnist")


def _load_cifar10(root: Path, download: bool) -> Tensors:
    cache = root / CIFAR10_CACHE
    if cache.exists():
        return _read_cifar10_cache(cache)
    folder = root / CIFAR10_FOLDER
    if not folder.is_dir():
        tarball = root / CIFAR10_TARBALL
        if tarball.exists():
            _check_cifar10_tarball(tarball)
        elif not download:
            raise DatasetUnavailable(_cifar10_help(root))
        else:
            try:
                _download(CIFAR10_URL, tarball, _check_cifar10_tarball)
            except OSError as error:
                raise DatasetUnavailable(f"{_cifar10_help(root)} (download failed: {error})") from error
        _extract_cifar10(tarball, folder)
    tensors = _read_cifar10_folder(folder)
    try:
        _save_atomic(dict(zip(("x_train", "y_train", "x_test", "y_test"), tensors, strict=True)), cache)
    except OSError as error:  # a read-only data root still works, only slower next time
        warnings.warn(f"could not cache CIFAR-10 as {cache}: {error}", stacklevel=3)
    return tensors


def _extract_cifar10(tarball: Path, folder: Path) -> None:
    """Extract the six batch files (and nothing else) into ``folder``, atomically."""
    part = folder.with_name(folder.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    wanted = {f"{CIFAR10_FOLDER}/{batch}" for batch in CIFAR10_BATCHES}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    with archive.extractfile(member) as src, open(part / Path(member.name).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        missing = [batch for batch in CIFAR10_BATCHES if not (part / batch).exists()]
        if missing:
            raise ValueError(f"{tarball} lacks {', '.join(missing)}: not the CIFAR-10 python tarball")
        os.replace(part, folder)
    finally:
        shutil.rmtree(part, ignore_errors=True)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches and refuses every global they do not use."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar10_folder(folder: Path) -> Tensors:
    missing = [batch for batch in CIFAR10_BATCHES if not (folder / batch).is_file()]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}; delete the folder to extract it again")
    train = [_read_cifar10_batch(folder / batch) for batch in CIFAR10_BATCHES[:-1]]
    x_test, y_test = _read_cifar10_batch(folder / CIFAR10_BATCHES[-1])
    return torch.cat([x for x, _ in train]), torch.cat([y for _, y in train]), x_test, y_test


def _read_cifar10_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One official batch: dict with b'data' (N, 3072) uint8, channel-major rows, and b'labels'.

    Returns x uint8 (N, 3, 32, 32) and y int64 (N,).
    """
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
    except Exception as error:  # a damaged pickle can fail in many ways; all mean the same here
        raise ValueError(f"{path}: not a readable CIFAR-10 python batch ({error})") from error
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        raise ValueError(f"{path}: b'data' is not an (N, 3072) uint8 array")
    if not (isinstance(labels, list) and len(labels) == data.shape[0]
            and all(isinstance(label, int) and 0 <= label < 10 for label in labels)):
        raise ValueError(f"{path}: b'labels' is not a list of {data.shape[0]} labels in [0, 10)")
    return torch.tensor(data).reshape(-1, 3, 32, 32), torch.tensor(labels, dtype=torch.int64)


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path) -> None:
    part = path.with_name(path.name + ".part")
    try:
        torch.save(tensors, part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _read_cifar10_cache(cache: Path) -> Tensors:
    try:
        tensors = torch.load(cache, weights_only=True)
        return tuple(tensors[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except Exception as error:  # truncated file, foreign pickle, missing key
        # torch's own message suggests weights_only=False, which is never the fix here
        raise ValueError(f"{cache} is not a readable CIFAR-10 cache; delete it and load again") from error


# --- Fashion-MNIST ---------------------------------------------------------------------------------

def _fashion_mnist_help(root: Path) -> str:
    return (f"Fashion-MNIST not found. Install it with `sudo apt-get install dataset-fashion-mnist` "
            f"(files in {FASHION_MNIST_DEBIAN_DIR}, or point EECS498_FASHION_MNIST_DIR at them), "
            f"or run `python -m eecs498.data fashion_mnist` with network access to download "
            f"{', '.join(FASHION_MNIST_FILES.values())} from {FASHION_MNIST_URL} into {root / 'fashion-mnist'}")


def _load_fashion_mnist(root: Path, download: bool) -> Tensors:
    offline = Path(os.environ.get("EECS498_FASHION_MNIST_DIR") or FASHION_MNIST_DEBIAN_DIR)
    local = root / "fashion-mnist"
    for folder in (offline, local):
        if all((folder / file).is_file() for file in FASHION_MNIST_FILES.values()):
            break
    else:
        folder = local
        if not download:
            raise DatasetUnavailable(_fashion_mnist_help(root))
        for file in FASHION_MNIST_FILES.values():
            if not (folder / file).is_file():
                try:
                    _download(FASHION_MNIST_URL + file, folder / file, lambda part, file=file: _read_idx(part, file))
                except OSError as error:
                    raise DatasetUnavailable(f"{_fashion_mnist_help(root)} (download failed: {error})") from error
    x_train, y_train, x_test, y_test = (_read_idx(folder / file, file) for file in FASHION_MNIST_FILES.values())
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{folder}: {x.shape[0]} images but {y.shape[0]} labels in one split")
    return x_train, y_train, x_test, y_test


def _read_idx(path: Path, file: str) -> torch.Tensor:
    """Decode one gzipped IDX file named like ``file`` (a key of ``FASHION_MNIST_SHA256``).

    Images (magic 2051, 16-byte header: magic, count, rows, cols) -> uint8 (N, 1, 28, 28);
    labels (magic 2049, 8-byte header: magic, count) -> int64 (N,). All integers big-endian.
    """
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error})") from error
    images = "images" in file
    magic, header = (2051, 16) if images else (2049, 8)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"{path}: not an IDX {'image' if images else 'label'} file "
                         f"(expected magic number {magic} in a {header}-byte header)")
    dims = [int.from_bytes(raw[i:i + 4], "big") for i in range(4, header, 4)]
    if images and dims[1:] != [28, 28]:
        raise ValueError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    if len(raw) - header != math.prod(dims):
        raise ValueError(f"{path}: {len(raw) - header} data bytes where the header promises "
                         f"{math.prod(dims)}: the file is truncated or damaged")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != FASHION_MNIST_SHA256[file]:
        raise ValueError(f"{path}: sha256 {digest} of the decompressed data does not match the expected "
                         f"{FASHION_MNIST_SHA256[file]}; the file is damaged or not the official one")
    data = np.frombuffer(raw, np.uint8, offset=header)
    if images:
        return torch.from_numpy(data.reshape(-1, 1, 28, 28).copy())
    if data.size and data.max() > 9:
        raise ValueError(f"{path}: label {data.max()} is outside [0, 10)")
    return torch.from_numpy(data.astype(np.int64))


def main(argv: list[str] | None = None) -> None:
    """``python -m eecs498.data NAME [NAME ...] [--root DIR]``: fetch, verify and cache datasets."""
    parser = argparse.ArgumentParser(prog="python -m eecs498.data",
                                     description="Fetch, verify and cache datasets in the data root.")
    parser.add_argument("names", nargs="+", choices=available_datasets(), metavar="NAME",
                        help=f"one of {', '.join(available_datasets())}")
    parser.add_argument("--root", type=Path, default=None, help=f"data root (default {DATA_ROOT})")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            x_train, _, x_test, _ = load_dataset(name, root=args.root)
        except DatasetUnavailable as error:
            raise SystemExit(f"{name}: {error}") from None
        print(f"{name}: train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")


if __name__ == "__main__":
    main()
