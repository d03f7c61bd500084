"""Shared fixtures: the devices to test on, and real-pixel datasets in their official file formats.

The dataset fixtures write 20 real images per dataset (the ones bundled in the foolbox wheel,
installed --no-deps by `make install`) in the exact on-disk formats the loaders read: CIFAR-10's
python pickle batches (and their tarball) and Fashion-MNIST's gzipped IDX files. First 15 images
are the training split, last 5 the test split.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import shutil
import site
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import eecs498.data

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NUM_TRAIN = 15  # of the 20 images; the other 5 are the test split


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each test that takes it runs on the CPU, and again on CUDA when a GPU is present."""
    return torch.device(request.param)


@dataclass
class FormatFixture:
    """Files in a dataset's official format under ``path``, and what a loader must return."""

    path: Path
    x_train: torch.Tensor  # uint8 (N, C, H, W)
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    checksums: dict[str, str]  # file name -> the checksum eecs498.data verifies for it


def _foolbox_images(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """foolbox/data/<prefix>_<NN>_<label>.png as uint8 (20, C, H, W) and int64 labels (20,)."""
    spec = importlib.util.find_spec("foolbox")  # located, never imported: it needs its own deps
    if spec is None:
        pytest.fail("foolbox's bundled images are missing: run `make install` "
                    "(it installs requirements/offline-data.txt with --no-deps)")
    paths = sorted((Path(spec.submodule_search_locations[0]) / "data").glob(f"{prefix}_*.png"))
    images = [np.asarray(Image.open(path)) for path in paths]
    x = torch.from_numpy(np.stack(images))
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    y = torch.tensor([int(path.stem.rsplit("_", 1)[1]) for path in paths])
    return x.contiguous(), y


def _split(x: torch.Tensor, y: torch.Tensor, path: Path, checksums: dict[str, str]) -> FormatFixture:
    return FormatFixture(path, x[:NUM_TRAIN], y[:NUM_TRAIN], x[NUM_TRAIN:], y[NUM_TRAIN:], checksums)


@pytest.fixture
def cifar10_format(tmp_path) -> FormatFixture:
    """``path/cifar-10-batches-py/`` (data_batch_1..5 of 3 images, test_batch of 5, batches.meta)
    and ``path/cifar-10-python.tar.gz`` holding that folder; checksums: the tarball's md5.
    """
    x, y = _foolbox_images("cifar10")
    folder = tmp_path / "cifar10-src" / eecs498.data.CIFAR10_FOLDER
    folder.mkdir(parents=True)
    parts = {f"data_batch_{i + 1}": slice(3 * i, 3 * i + 3) for i in range(5)}
    parts["test_batch"] = slice(NUM_TRAIN, None)
    for name, part in parts.items():
        batch = {b"batch_label": name.encode(), b"labels": y[part].tolist(),
                 b"data": x[part].reshape(-1, 3072).numpy(),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(len(y[part]))]}
        # The official batches were written by numpy 1.x, whose arrays pickle as numpy.core.*
        pickled = pickle.dumps(batch, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        (folder / name).write_bytes(pickled)
    meta = {b"label_names": [name.encode() for name in eecs498.data.class_names("cifar10")],
            b"num_cases_per_batch": 3, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    tarball = folder.parent / eecs498.data.CIFAR10_TARBALL
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)
    md5 = hashlib.md5(tarball.read_bytes()).hexdigest()
    return _split(x, y, folder.parent, {tarball.name: md5})


@pytest.fixture
def fashion_mnist_format(tmp_path) -> FormatFixture:
    """The four Fashion-MNIST ``*-ubyte.gz`` IDX files under ``path``; checksums: sha256 of each
    file's decompressed bytes.
    """
    x, y = _foolbox_images("fashionMNIST")
    folder = tmp_path / "fashion-mnist-src"
    folder.mkdir()
    splits = {"x_train": x[:NUM_TRAIN], "y_train": y[:NUM_TRAIN], "x_test": x[NUM_TRAIN:], "y_test": y[NUM_TRAIN:]}
    checksums = {}
    for split, file in eecs498.data.FASHION_MNIST_FILES.items():
        values = splits[split]
        header = [2051, len(values), 28, 28] if split.startswith("x") else [2049, len(values)]
        raw = np.array(header, ">u4").tobytes() + values.to(torch.uint8).numpy().tobytes()
        (folder / file).write_bytes(gzip.compress(raw))
        checksums[file] = hashlib.sha256(raw).hexdigest()
    return _split(x, y, folder, checksums)


@pytest.fixture
def cifar10_offline(monkeypatch, cifar10_format) -> FormatFixture:
    """``cifar10_format`` as the default data root: ``eecs498.data.cifar10()`` reads it."""
    monkeypatch.setattr(eecs498.data, "DATA_ROOT", cifar10_format.path)
    return cifar10_format


@pytest.fixture
def fashion_mnist_offline(monkeypatch, fashion_mnist_format) -> FormatFixture:
    """``fashion_mnist_format`` as the offline road, with its checksums the expected ones."""
    monkeypatch.setenv("EECS498_FASHION_MNIST_DIR", str(fashion_mnist_format.path))
    monkeypatch.setattr(eecs498.data, "FASHION_MNIST_SHA256", fashion_mnist_format.checksums)
    return fashion_mnist_format


@pytest.fixture
def headless_kernel(monkeypatch):
    """Environment inherited by the notebook kernels a test starts: no display, and one torch thread
    (pytest -n 2 runs another worker beside the kernel on a 2-core machine, and two threads per
    process there make training cells 10-40x slower)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@dataclass
class GradedClass:
    """An assignment's sample class (autograder/suites/<id>/sample_class.py), released, built and
    graded once per test session the way ``make demo`` does it, on Fashion-MNIST."""

    assignment: object
    kit: object  # autograder.samples.SampleKit: release_dir, checkpoints, written students
    grades: dict  # student -> StudentGrade
    out: Path     # grades.csv, <student>/results.json, feedback.html, nbgrader/


@pytest.fixture(scope="session")
def sample_class(tmp_path_factory):
    """``sample_class("a1_knn")`` -> :class:`GradedClass`, made on first use and reused: the
    assignment's contract tests and its own grading tests read the same grades. Mark tests that
    use it ``xdist_group(<assignment id>)`` so that one worker grades each class once."""
    from autograder.demo import demo_assignment
    from eecs498.assignment import find_assignment

    cache: dict[str, GradedClass] = {}

    def get(assignment_id: str) -> GradedClass:
        if assignment_id not in cache:
            assignment = find_assignment(assignment_id)
            folder = tmp_path_factory.mktemp(f"sample-{assignment_id}")
            kit, grades = demo_assignment(assignment, folder, jobs=2, dataset="fashion_mnist", progress=False)
            cache[assignment_id] = GradedClass(assignment, kit, {g.student: g for g in grades}, folder / "grades")
        return cache[assignment_id]

    return get


@pytest.fixture(scope="session")
def shared_python():
    """A Python any uid can run, as on Gradescope: a venv of the system's python3 (outside any
    private home) that reaches this venv's packages through a .pth file."""
    base = shutil.which("python3", path="/usr/bin:/bin")
    if base is None or os.geteuid() != 0:
        pytest.fail("the reduced-isolation tests need root and a system python3 (/usr/bin/python3)")
    folder = Path(tempfile.mkdtemp(prefix="eecs498-shared-python-"))
    os.chmod(folder, 0o755)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder / "venv")], check=True, timeout=300)
    packages = subprocess.run([str(folder / "venv" / "bin" / "python"), "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(packages, "eecs498-packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    yield folder / "venv" / "bin" / "python"
    shutil.rmtree(folder, ignore_errors=True)
