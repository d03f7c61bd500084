"""What the project's tests of every assignment share: trusted imports of source solutions and
hidden-suite files, the names and loops a solution's body uses, submissions written as a folder or
a zip, and the tests a grade lost."""
from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import tempfile
import textwrap
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


def body_names(function) -> set[str]:
    """The names and attributes used in the body of ``function`` (not in its signature's defaults)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = ast.Module(body=tree.body[0].body, type_ignores=[])
    return {node.id if isinstance(node, ast.Name) else node.attr
            for node in ast.walk(body) if isinstance(node, (ast.Name, ast.Attribute))}


def loop_count(function) -> int:
    """How many loops and comprehensions ``function`` holds."""
    kinds = (ast.For, ast.While, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return sum(isinstance(node, kinds) for node in ast.walk(tree))


def no_bubblewrap_environment(tmp_path) -> dict:
    """The grader's environment with bubblewrap removed from PATH (an empty folder is all of it)."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def world_readable_folder(prefix: str) -> Path:
    """A folder in /tmp that every uid may enter (pytest's own tmp folders are private to root, which
    would hide secrets from the student uid without any help from the grader)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o755)
    return folder
