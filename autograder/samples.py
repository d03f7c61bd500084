"""Sample classes: each assignment's demo students, built from its source and its release.

An assignment's staff folder (``autograder/suites/<id>/``) may hold ``sample_class.py``, which
defines::

    def checkpoints(assignment, dataset=None) -> dict[str, bytes]
        # optional: the files a complete submission carries besides its modules (trained
        # checkpoints), made with the source solutions (trusted code) on ``dataset``
    def students(kit: SampleKit) -> None
        # kit.add("ada_complete", kit.complete); kit.add("cat_buggy", {...}) ...
    def expected_scores(full: float) -> dict[str, float | tuple[float, float]]
        # what grading must give each student: a score, or an open interval (low, high)

Every sample class also gets, without writing them, the students every assignment is held to
(:data:`STANDARD_STUDENTS`): ``ada_complete`` (the solutions and the checkpoints: full marks),
``ben_untouched`` (the release as it is: 0, with a message on every test) and the null students
(:data:`NULL_FLAVOURS`: every stub returns zeros, its first input, or None, beside zeroed
checkpoints: 0, because no test pays for work not done).

Everything here is trusted code run by the grader's side (the demo, the project's tests).
"""
from __future__ import annotations

import ast
import importlib.util
import io
import re
import sys
import tempfile
import textwrap
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Union

from autograder.release import STUB_COMMENT
from autograder.suite import SAMPLE_CLASS_FILE, suite_dir
from eecs498.assignment import Assignment

Score = Union[float, tuple[float, float]]
NULL_FLAVOURS = ("zeros", "inputs", "none")
STANDARD_STUDENTS = ("ada_complete", "ben_untouched", *(f"null_{flavour}" for flavour in NULL_FLAVOURS))
STUB_RAISE = re.compile(r'^(?P<indent>\s*)raise NotImplementedError\("(?P<where>[\w.]+): not implemented yet"\)\s*$')


# --------------------------------------------------------------------------------------------
# editing source modules into mutants


def replace_functions(source: str, replacements: dict[str, str]) -> str:
    """Swap whole top-level function definitions of ``source`` for the given ones."""
    lines = source.splitlines()
    spans = {node.name: (node.lineno - 1 - len(node.decorator_list), node.end_lineno)
             for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    for name in sorted(replacements, key=lambda n: spans[n][0], reverse=True):
        start, end = spans[name]
        lines[start:end] = textwrap.dedent(replacements[name]).strip().splitlines()
    return "\n".join(lines) + "\n"


def replace_methods(source: str, replacements: dict[str, str]) -> str:
    """Swap whole method definitions (``"Class.method"``, decorators included) of ``source`` for the
    given ones, written at the left margin; they are indented like the methods they replace."""
    lines = source.splitlines()
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    first = min([item.lineno, *(d.lineno for d in item.decorator_list)])
                    spans[f"{node.name}.{item.name}"] = (first - 1, item.end_lineno, item.col_offset)
    for name in sorted(replacements, key=lambda n: spans[n][0], reverse=True):
        start, end, indent = spans[name]
        text = textwrap.indent(textwrap.dedent(replacements[name]).strip(), " " * indent)
        lines[start:end] = text.splitlines()
    return "\n".join(lines) + "\n"


NULL_HELPER = '''

def _eecs498_null(flavour, arguments):
    """What a stub returns in a null submission: zeros like its first tensor argument, its first
    argument, or None (added by autograder.samples.null_module)."""
    import torch

    if flavour == "inputs":
        return arguments[0] if arguments else None
    if flavour == "zeros":
        for value in arguments:
            if isinstance(value, torch.Tensor):
                return torch.zeros_like(value)
        return 0
    return None
'''


def null_module(released: str, flavour: str) -> str:
    """The released module ``released`` with each stub doing nothing: its ``raise
    NotImplementedError`` becomes a return of zeros like the first tensor argument
    (``"zeros"``), of the first argument (``"inputs"``) or of None (``"none"``); ``__init__``
    returns None. What a student who wrote nothing real would submit."""
    if flavour not in NULL_FLAVOURS:
        raise ValueError(f"unknown null flavour {flavour!r}; known: {NULL_FLAVOURS}")
    arguments = _function_arguments(ast.parse(released))
    lines = released.splitlines()
    for number, line in enumerate(lines):
        match = STUB_RAISE.match(line)
        if not match:
            continue
        qualname = match["where"].split(".", 1)[1]
        indent = match["indent"]
        if qualname.rsplit(".", 1)[-1] == "__init__":
            lines[number] = f"{indent}return None"
        else:
            names = ", ".join(arguments.get(qualname, []))
            lines[number] = f"{indent}return _eecs498_null({flavour!r}, [{names}])"
        if number and lines[number - 1].strip() == STUB_COMMENT:
            lines[number - 1] = f"{indent}# null submission: does nothing"
    return "\n".join(lines) + "\n" + NULL_HELPER


def _function_arguments(tree: ast.AST) -> dict[str, list[str]]:
    """Qualified function name -> its parameter names, ``self``/``cls`` left out."""
    found: dict[str, list[str]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
                found[prefix + child.name] = [n for n in names if n not in ("self", "cls")]
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


# --------------------------------------------------------------------------------------------
# checkpoints and trusted imports


class Pwned:
    """Pickles into a call of ``os.system``: what a hostile checkpoint holds."""

    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /tmp/eecs498-demo-pwned",))


def checkpoint_bytes(value) -> bytes:
    """``torch.save(value)`` as bytes."""
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def zeroed_checkpoint(data: bytes) -> bytes:
    """The same checkpoint (read with ``weights_only``) with every tensor's values set to zero."""
    import torch

    def zero(value):
        if isinstance(value, torch.Tensor):
            return torch.zeros_like(value)
        if isinstance(value, dict):
            return {k: zero(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(zero(v) for v in value)
        return value

    return checkpoint_bytes(zero(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)))


def source_module(path: Path, name: str) -> ModuleType:
    """A source solution module imported here (trusted code)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_module_with_given(assignment: Assignment, filename: str, name: str) -> ModuleType:
    """A source solution module of ``assignment`` imported here (trusted code), its ``given`` files
    (e.g. a3's ``fully_connected_networks.py`` for a4) importable while it loads."""
    with tempfile.TemporaryDirectory(prefix="eecs498-given-") as tmp:
        assignment.write_given_files(Path(tmp))
        sys.path.insert(0, tmp)
        try:
            return source_module(assignment.root / filename, name)
        finally:
            sys.path.remove(tmp)
            for given in assignment.given_files():
                sys.modules.pop(Path(given).stem, None)


# --------------------------------------------------------------------------------------------
# the sample class of an assignment


def sample_class_module(assignment: Assignment) -> ModuleType | None:
    """The assignment's ``sample_class.py`` (trusted staff code), or None when it has none."""
    path = suite_dir(assignment.id) / SAMPLE_CLASS_FILE
    if not path.is_file():
        return None
    return source_module(path, f"eecs498_sample_class_{assignment.id}")


@dataclass
class SampleKit:
    """What a sample class builds its students from, and where it writes them (``out``)."""

    assignment: Assignment
    release_dir: Path
    out: Path
    module: ModuleType
    dataset: str | None = None
    written: list[str] = field(default_factory=list)

    def source(self, name: str) -> str:
        """A source module's text (solutions included)."""
        return (self.assignment.root / name).read_text()

    def released(self, name: str) -> str:
        """A released module's text (stubs)."""
        return (self.release_dir / name).read_text()

    @cached_property
    def notebooks(self) -> dict[str, bytes]:
        """The release notebooks, as a student who ran nothing would submit them."""
        return {name: (self.release_dir / name).read_bytes() for name in self.assignment.notebooks
                if (self.release_dir / name).is_file()}

    @cached_property
    def checkpoints(self) -> dict[str, bytes]:
        """The trained files of a complete submission (the sample class's ``checkpoints``)."""
        make = getattr(self.module, "checkpoints", None)
        return make(self.assignment, self.dataset) if make else {}

    @property
    def complete(self) -> dict[str, str | bytes]:
        """The source solutions and the trained checkpoints."""
        return {**{name: self.source(name) for name in self.assignment.modules}, **self.checkpoints}

    @property
    def untouched(self) -> dict[str, str]:
        """The released modules as they are."""
        return {name: self.released(name) for name in self.assignment.modules}

    def null(self, flavour: str) -> dict[str, str | bytes]:
        """Every stub doing nothing (:func:`null_module`) beside zeroed checkpoints."""
        files: dict[str, str | bytes] = {name: null_module(self.released(name), flavour)
                                         for name in self.assignment.modules}
        files.update({name: zeroed_checkpoint(data) for name, data in self.checkpoints.items()})
        return files

    def add(self, name: str, files: dict[str, str | bytes], as_zip: bool = True, notebooks: bool = True) -> None:
        """One student: ``<name>_<assignment>.zip`` (or a ``<name>/`` folder) holding ``files``
        and, unless ``notebooks`` is False, the release notebooks."""
        if name in self.written:
            raise ValueError(f"the sample class of {self.assignment.id} has two students named {name}")
        self.written.append(name)
        files = {**(self.notebooks if notebooks else {}), **files}
        if as_zip:
            with zipfile.ZipFile(self.out / f"{name}_{self.assignment.id}.zip", "w") as archive:
                for filename, data in files.items():
                    archive.writestr(filename, data)
            return
        (self.out / name).mkdir()
        for filename, data in files.items():
            (self.out / name / filename).write_bytes(data if isinstance(data, bytes) else data.encode())

    def add_raw(self, name: str, data: bytes) -> None:
        """One student whose upload is ``data`` as ``<name>_<assignment>.zip`` (a corrupt zip...)."""
        self.written.append(name)
        (self.out / f"{name}_{self.assignment.id}.zip").write_bytes(data)


def build_sample_class(assignment: Assignment, release_dir: Path, out: Path, dataset: str | None = None,
                       checkpoints: dict[str, bytes] | None = None) -> SampleKit:
    """Write the standard students and the sample class's own into ``out`` (a new folder); return
    the kit (``kit.written`` names them). ``checkpoints`` reuses files trained earlier."""
    module = sample_class_module(assignment)
    if module is None:
        raise FileNotFoundError(f"{assignment.id} has no {SAMPLE_CLASS_FILE} in {suite_dir(assignment.id)}")
    out.mkdir(parents=True)
    kit = SampleKit(assignment, release_dir, out, module, dataset)
    if checkpoints is not None:
        kit.checkpoints = checkpoints
    kit.add("ada_complete", kit.complete)
    kit.add("ben_untouched", kit.untouched, as_zip=False)
    for flavour in NULL_FLAVOURS:
        kit.add(f"null_{flavour}", kit.null(flavour))
    module.students(kit)
    return kit


def expected_scores(assignment: Assignment) -> dict[str, Score]:
    """What each student of the sample class must score: the standard students' (full, 0, 0...)
    and those the sample class documents."""
    full = assignment.max_score
    scores: dict[str, Score] = {"ada_complete": full, "ben_untouched": 0.0}
    scores.update({f"null_{flavour}": 0.0 for flavour in NULL_FLAVOURS})
    module = sample_class_module(assignment)
    if module is not None and hasattr(module, "expected_scores"):
        scores.update(module.expected_scores(full))
    return scores


def score_matches(score: float, expected: Score) -> bool:
    """``score`` equals the expected number (to 1e-6), or lies strictly inside the interval."""
    if isinstance(expected, tuple):
        low, high = expected
        return low < score < high
    return abs(score - expected) <= 1e-6
