"""eecs498.data: every road to each dataset, on real pixels in the official formats, never online."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import urllib.error
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from eecs498 import data, get_device

matplotlib.use("Agg")  # headless, as in CI

TRAIN_IMAGES = data.FASHION_MNIST_FILES["x_train"]
TRAIN_LABELS = data.FASHION_MNIST_FILES["y_train"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Only file:// URLs open, anything else fails as on a machine without network; no dataset
    is forced through the environment."""
    real_urlopen = data.urlopen

    def urlopen(url, *args, **kwargs):
        if not url.startswith("file://"):
            raise urllib.error.URLError("network disabled in tests")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(data, "urlopen", urlopen)
    monkeypatch.delenv("EECS498_DATASET", raising=False)


@pytest.fixture
def no_fashion_offline_road(monkeypatch, tmp_path):
    monkeypatch.setenv("EECS498_FASHION_MNIST_DIR", str(tmp_path / "not-installed"))


def assert_same(loaded, fixture):
    for got, want in zip(loaded, (fixture.x_train, fixture.y_train, fixture.x_test, fixture.y_test), strict=True):
        assert got.dtype == want.dtype and torch.equal(got, want.to(got.dtype))


def test_names_and_classes():
    assert data.available_datasets() == ["cifar10", "fashion_mnist"]
    assert data.class_names("cifar10")[:2] == ["plane", "car"]
    assert data.class_names("fashion_mnist")[-1] == "Ankle boot"
    assert all(len(data.class_names(name)) == 10 for name in data.available_datasets())
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10, fashion_mnist"):
        data.load_dataset("mnist")


# --- CIFAR-10 --------------------------------------------------------------------------------------

def test_cifar10_from_extracted_folder_then_from_cache(cifar10_format, monkeypatch):
    root = cifar10_format.path
    loaded = data.load_dataset("cifar10", root=root)
    assert loaded[0].shape == (15, 3, 32, 32) and loaded[2].shape == (5, 3, 32, 32)
    assert_same(loaded, cifar10_format)
    assert (root / "cifar10.pt").is_file()

    shutil.rmtree(root / data.CIFAR10_FOLDER)
    (root / data.CIFAR10_TARBALL).unlink()
    monkeypatch.setattr(data, "urlopen", lambda *a, **k: pytest.fail("the cache needs no network"))
    assert_same(data.load_dataset("cifar10", root=root, download=False), cifar10_format)


def test_cifar10_floats_and_first_n(cifar10_offline):
    x_train, y_train, x_test, y_test = data.cifar10(num_train=10, num_test=4, x_dtype=torch.float64)
    assert x_train.shape == (10, 3, 32, 32) and x_test.shape == (4, 3, 32, 32)
    assert x_train.dtype == torch.float64 and y_train.dtype == torch.int64
    assert 0 <= x_train.min() and x_train.max() <= 1 and x_train.max() > 0.9
    assert torch.equal(x_train, cifar10_offline.x_train[:10].double() / 255)
    assert torch.equal(y_test, cifar10_offline.y_test[:4])
    with pytest.raises(ValueError, match="num_train=16 is out of range: the split has 15"):
        data.cifar10(num_train=16)


def test_cifar10_from_a_tarball_put_in_the_root(cifar10_format, monkeypatch, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(cifar10_format.path / data.CIFAR10_TARBALL, root)
    with pytest.raises(ValueError, match="md5 checksum .* does not match the expected c58f3010"):
        data.load_dataset("cifar10", root=root)
    assert not (root / data.CIFAR10_FOLDER).exists()

    monkeypatch.setattr(data, "CIFAR10_MD5", cifar10_format.checksums[data.CIFAR10_TARBALL])
    assert_same(data.load_dataset("cifar10", root=root, download=False), cifar10_format)
    assert sorted(p.name for p in (root / data.CIFAR10_FOLDER).iterdir()) == sorted(data.CIFAR10_BATCHES)


def test_cifar10_rejects_a_foreign_tarball(monkeypatch, tmp_path):
    tarball = tmp_path / data.CIFAR10_TARBALL
    (tmp_path / "readme.html").write_text("not CIFAR-10")
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tmp_path / "readme.html", arcname=f"{data.CIFAR10_FOLDER}/readme.html")
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(tarball.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="lacks data_batch_1, .*test_batch: not the CIFAR-10 python tarball"):
        data.load_dataset("cifar10", root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [data.CIFAR10_TARBALL, "readme.html"]


def test_cifar10_web_road(cifar10_format, monkeypatch, tmp_path):
    root = tmp_path / "root"
    monkeypatch.setattr(data, "CIFAR10_URL", (cifar10_format.path / data.CIFAR10_TARBALL).as_uri())
    with pytest.raises(ValueError, match="md5 checksum"):  # the official md5 rejects the fixture
        data.load_dataset("cifar10", root=root)
    assert list(root.iterdir()) == []  # neither the tarball nor its .part stays behind

    monkeypatch.setattr(data, "CIFAR10_MD5", cifar10_format.checksums[data.CIFAR10_TARBALL])
    assert_same(data.load_dataset("cifar10", root=root), cifar10_format)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz", "cifar10.pt"]


def test_cifar10_unavailable_names_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(data.DatasetUnavailable) as offline:
        data.load_dataset("cifar10", root=tmp_path)
    message = str(offline.value)
    for hint in ("not on any package registry", "cifar-10-python.tar.gz", str(tmp_path),
                 "python -m eecs498.data cifar10", "EECS498_DATASET=fashion_mnist", "network disabled"):
        assert hint in message
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(data, "urlopen", lambda *a, **k: pytest.fail("download=False must not download"))
    with pytest.raises(data.DatasetUnavailable, match="cifar-10-python.tar.gz"):
        data.load_dataset("cifar10", root=tmp_path, download=False)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("content, error", [
    (b"not a pickle", "data_batch_2: not a readable CIFAR-10 python batch"),
    (pickle.dumps({b"data": Exploit(), b"labels": []}), "global builtins.print is not allowed"),
    (pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}), r"not an \(N, 3072\) uint8"),
    (pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]}), r"labels in \[0, 10\)"),
    (pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}), "not a list of 3 labels"),
])
def test_cifar10_rejects_damaged_batches(cifar10_format, capsys, content, error):
    (cifar10_format.path / data.CIFAR10_FOLDER / "data_batch_2").write_bytes(content)
    with pytest.raises(ValueError, match=error):
        data.load_dataset("cifar10", root=cifar10_format.path)
    assert "pwned" not in capsys.readouterr().out
    assert not (cifar10_format.path / "cifar10.pt").exists()


def test_cifar10_rejects_incomplete_folder_and_damaged_cache(cifar10_format):
    root = cifar10_format.path
    (root / data.CIFAR10_FOLDER / "test_batch").unlink()
    with pytest.raises(ValueError, match="lacks test_batch; delete the folder"):
        data.load_dataset("cifar10", root=root)
    (root / "cifar10.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cifar10.pt is not a readable CIFAR-10 cache; delete it"):
        data.load_dataset("cifar10", root=root)
    torch.save({"x_train": torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "y_train": torch.zeros(2, dtype=torch.int64),
                "x_test": torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "y_test": torch.zeros(1, dtype=torch.int64)},
               root / "cifar10.pt")
    with pytest.raises(ValueError, match=r"cifar10 train split has images \(2, 1, 28, 28\)"):
        data.load_dataset("cifar10", root=root)


# --- Fashion-MNIST ---------------------------------------------------------------------------------

def test_fashion_mnist_offline_road(fashion_mnist_offline, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    loaded = data.load_dataset("fashion_mnist", root=root, download=False)
    assert loaded[0].shape == (15, 1, 28, 28) and loaded[2].shape == (5, 1, 28, 28)
    assert_same(loaded, fashion_mnist_offline)
    assert list(root.iterdir()) == []  # read in place, nothing copied or cached

    x_train, y_train, x_test, _ = data.fashion_mnist(num_test=2, root=root)
    assert x_train.dtype == torch.float32 and x_train.shape == (15, 1, 28, 28) and x_test.shape == (2, 1, 28, 28)
    assert 0 <= x_train.min() and x_train.max() <= 1
    assert torch.equal(y_train, fashion_mnist_offline.y_train)


def test_fashion_mnist_from_the_data_root(fashion_mnist_format, no_fashion_offline_road, monkeypatch, tmp_path):
    shutil.copytree(fashion_mnist_format.path, tmp_path / "root" / "fashion-mnist")
    monkeypatch.setattr(data, "FASHION_MNIST_SHA256", fashion_mnist_format.checksums)
    assert_same(data.load_dataset("fashion_mnist", root=tmp_path / "root", download=False), fashion_mnist_format)


def test_fashion_mnist_web_road(fashion_mnist_format, no_fashion_offline_road, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(data, "FASHION_MNIST_URL", fashion_mnist_format.path.as_uri() + "/")
    folder = tmp_path / "root" / "fashion-mnist"
    with pytest.raises(ValueError, match="sha256 .* does not match the expected"):
        data.load_dataset("fashion_mnist", root=tmp_path / "root")
    assert list(folder.iterdir()) == []  # the rejected download left nothing behind, .part included

    monkeypatch.setattr(data, "FASHION_MNIST_SHA256", fashion_mnist_format.checksums)
    assert_same(data.load_dataset("fashion_mnist", root=tmp_path / "root"), fashion_mnist_format)
    assert sorted(p.name for p in folder.iterdir()) == sorted(data.FASHION_MNIST_FILES.values())
    assert "Downloading file://" in capsys.readouterr().out


def test_fashion_mnist_unavailable_names_the_package(no_fashion_offline_road, tmp_path):
    for download in (True, False):
        with pytest.raises(data.DatasetUnavailable) as unavailable:
            data.load_dataset("fashion_mnist", root=tmp_path, download=download)
        assert "sudo apt-get install dataset-fashion-mnist" in str(unavailable.value)
        assert "python -m eecs498.data fashion_mnist" in str(unavailable.value)


def _rewrite(path, transform):
    path.write_bytes(gzip.compress(transform(gzip.decompress(path.read_bytes()))))


@pytest.mark.parametrize("file, damage, error", [
    (TRAIN_IMAGES, lambda p: p.write_bytes(b"plain bytes"), "not a readable gzip file"),
    (TRAIN_IMAGES, lambda p: p.write_bytes(p.read_bytes()[:-100]), "not a readable gzip file"),
    (TRAIN_IMAGES, lambda p: _rewrite(p, lambda raw: raw[:-1]), "truncated or damaged"),
    (TRAIN_IMAGES, lambda p: _rewrite(p, lambda raw: b"\0\0\x08\x01" + raw[4:]), "not an IDX image file"),
    (TRAIN_LABELS, lambda p: _rewrite(p, lambda raw: raw[:4]), "not an IDX label file"),
    (TRAIN_IMAGES, lambda p: _rewrite(p, lambda raw: raw[:8] + b"\0\0\0\x20\0\0\0\x0e" + raw[16:]),
     "images are 32x14, expected 28x28"),
    (TRAIN_LABELS, lambda p: _rewrite(p, lambda raw: raw[:-1] + b"\x0a"), "sha256"),
])
def test_fashion_mnist_rejects_damaged_files(fashion_mnist_offline, tmp_path, file, damage, error):
    damage(fashion_mnist_offline.path / file)
    with pytest.raises(ValueError, match=error) as rejected:
        data.load_dataset("fashion_mnist", root=tmp_path)
    assert file in str(rejected.value)


def test_fashion_mnist_rejects_labels_out_of_range(fashion_mnist_offline, tmp_path, monkeypatch):
    path = fashion_mnist_offline.path / TRAIN_LABELS
    _rewrite(path, lambda raw: raw[:-1] + b"\x0a")
    monkeypatch.setitem(data.FASHION_MNIST_SHA256, TRAIN_LABELS,
                        hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest())
    with pytest.raises(ValueError, match=r"label 10 is outside \[0, 10\)"):
        data.load_dataset("fashion_mnist", root=tmp_path)


def test_real_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.delenv("EECS498_FASHION_MNIST_DIR", raising=False)
    folder = data.FASHION_MNIST_DEBIAN_DIR
    if not all((folder / file).is_file() for file in data.FASHION_MNIST_FILES.values()):
        if not sys.platform.startswith("linux"):
            pytest.skip("the Debian package dataset-fashion-mnist exists on Linux only")
        pytest.fail(f"Fashion-MNIST is not in {folder}: run `sudo apt-get install dataset-fashion-mnist` "
                    f"(make install does it on Debian-like machines)")
    x_train, y_train, x_test, y_test = data.load_dataset("fashion_mnist", root=tmp_path, download=False)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == torch.uint8 and y_train.dtype == torch.int64
    assert torch.bincount(y_train).tolist() == [6000] * 10
    assert torch.bincount(y_test).tolist() == [1000] * 10
    assert x_train.float().mean().item() == pytest.approx(72.94, abs=0.01)  # the known pixel mean, 0.286*255


# --- choosing a dataset, preprocessing ------------------------------------------------------------

def test_data_root_comes_from_the_environment(tmp_path):
    show = ("import importlib, os; from eecs498 import data; print(data.DATA_ROOT); "
            f"os.environ['EECS498_DATA'] = {str(tmp_path)!r}; print(importlib.reload(data).DATA_ROOT)")
    env = {key: value for key, value in os.environ.items() if key != "EECS498_DATA"}
    shown = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == [str(Path(data.__file__).resolve().parent.parent / "datasets"), str(tmp_path)]


def test_default_dataset(monkeypatch, tmp_path):
    assert data.default_dataset(root=tmp_path) == "fashion_mnist"
    monkeypatch.setattr(data, "DATA_ROOT", tmp_path)
    assert data.default_dataset() == "fashion_mnist"
    for item in ("cifar10.pt", "cifar-10-python.tar.gz", "cifar-10-batches-py"):
        (tmp_path / item).touch()
        assert data.default_dataset() == "cifar10"
        (tmp_path / item).unlink()
    monkeypatch.setenv("EECS498_DATASET", "fashion_mnist")
    (tmp_path / "cifar10.pt").touch()
    assert data.default_dataset() == "fashion_mnist"
    monkeypatch.setenv("EECS498_DATASET", "imagenet")
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        data.default_dataset()


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
def test_preprocess_dataset(name, device, cifar10_offline, fashion_mnist_offline):
    fixture = {"cifar10": cifar10_offline, "fashion_mnist": fashion_mnist_offline}[name]
    channels, size = fixture.x_train.shape[1], fixture.x_train.shape[2]
    out = data.preprocess_dataset(name, device=device, bias_trick=True, dtype=torch.float64)
    assert out["dataset"] == name and out["class_names"] == data.class_names(name)
    dim = channels * size * size
    assert out["X_train"].shape == (12, dim + 1) and out["X_val"].shape == (3, dim + 1)
    assert out["X_test"].shape == (5, dim + 1)
    for key in ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test"):
        assert out[key].device.type == device.type
        assert out[key].dtype == (torch.float64 if key.startswith("X") else torch.int64)
    assert torch.equal(out["y_val"].cpu(), fixture.y_train[12:])  # the LAST 20% of train
    assert (out["X_train"][:, -1] == 1).all() and (out["X_test"][:, -1] == 1).all()

    pixels = out["X_train"][:, :-1].reshape(12, channels, -1)
    assert pixels.mean(dim=(0, 2)).abs().max() < 1e-12  # zero mean per channel on train
    mean = (fixture.x_train[:12].double() / 255).mean(dim=(0, 2, 3))
    raw_val = out["X_val"][:, :-1].reshape(3, channels, size, size).cpu() + mean.view(1, -1, 1, 1)
    torch.testing.assert_close(raw_val, fixture.x_train[12:].double() / 255)
    raw_test = out["X_test"][:, :-1].reshape(5, channels, size, size).cpu() + mean.view(1, -1, 1, 1)
    torch.testing.assert_close(raw_test, fixture.x_test.double() / 255)


def test_preprocess_options(cifar10_offline, fashion_mnist_offline):
    out = data.preprocess_dataset("cifar10", flatten=False, validation_ratio=0.4, num_train=10, num_test=2)
    assert out["X_train"].shape == (6, 3, 32, 32) and out["X_val"].shape == (4, 3, 32, 32)
    assert out["X_test"].shape == (2, 3, 32, 32) and out["X_train"].dtype == torch.float32
    assert out["X_train"].device.type == "cpu"
    assert data.preprocess_dataset()["dataset"] == "cifar10"  # its files sit in the data root
    with pytest.raises(ValueError, match="bias_trick .* needs flatten=True"):
        data.preprocess_dataset("cifar10", bias_trick=True, flatten=False)
    with pytest.raises(ValueError, match="validation_ratio must be in"):
        data.preprocess_dataset("cifar10", validation_ratio=1)


def test_preprocess_cifar10_is_the_course_call(cifar10_offline):
    out = data.preprocess_cifar10(cuda=True, show_examples=True)
    assert out["dataset"] == "cifar10" and out["X_train"].shape == (12, 3072)
    assert out["X_train"].device == get_device()
    figure = plt.gcf()
    assert [text.get_text() for text in figure.axes[0].texts] == data.class_names("cifar10")
    plt.close("all")


def test_command_line(fashion_mnist_offline, tmp_path, capsys):
    data.main(["fashion_mnist", "--root", str(tmp_path)])
    assert "fashion_mnist: train (15, 1, 28, 28), test (5, 1, 28, 28)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cifar10: CIFAR-10 is not on any package registry"):
        data.main(["cifar10", "--root", str(tmp_path)])
