"""What the end-to-end grading tests of every assignment share: submissions written as a folder or
a zip, the tests a grade lost, and trusted imports of source solutions and hidden-suite files."""
from __future__ import annotations

import importlib.util
import warnings
import zipfile
from pathlib import Path

import pytest


def write_folder(folder: Path, files: dict[str, str | bytes]) -> Path:
    """A submission as a folder holding ``files`` (name -> text or bytes)."""
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return folder


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    """A submission as a zip holding ``files`` (name -> text or bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def lost(grade) -> dict[str, str]:
    """Name -> message of every test the student failed."""
    return {t.name: t.message for t in grade.tests if not t.passed}


def import_file(path: Path, name: str):
    """A source solution or a hidden-suite file, imported here (trusted code). A suite file's
    ``group`` marks are registered only by the grading plugin, so their warning is silenced."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        spec.loader.exec_module(module)
    return module
