"""Build the student ("release") version of an assignment from its instructor source.

The source keeps solutions between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines, the
markers nbgrader uses. Release:

* strips every region of the ``.py`` modules into a stub that raises ``NotImplementedError``,
  keeping signatures, docstrings and the instructions around it;
* runs the real ``nbgrader generate_assignment`` on the notebooks (solution cells blanked, written
  answers emptied, outputs cleared, cells locked and checksummed);
* writes the ``given`` files (finished code the modules import, e.g. an earlier assignment's
  layers) beside them, solutions kept and markers dropped;
* copies the ``eecs498`` helper package and ``assignment.toml`` next to them, so the folder works
  as it is on a laptop, a GPU box or Colab;
* writes a ``README.md`` for students (what to do in JupyterLab or Colab, what is graded, how to
  submit) and ends every notebook with a cell that shows the submit command;
* verifies its own output (:func:`verify_release`) and refuses to finish when a check fails.

Release is deterministic: the same source gives byte-identical files.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import environ_with_venv_scripts
from eecs498.assignment import METADATA_FILE, SOLUTION_MARKERS, Assignment

BEGIN, END = SOLUTION_MARKERS
MARKERS = (BEGIN, END, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
STUB_COMMENT = "# YOUR CODE HERE"
HELPER_PACKAGE = Path(__file__).resolve().parent.parent / "eecs498"
# Lines nbgrader itself writes into solution cells; allowed in a release.
NBGRADER_STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}


class ReleaseError(Exception):
    """The source cannot be released, or the built release failed a check."""


@dataclass(frozen=True)
class SolutionRegion:
    """Lines ``begin..end`` (1-based, marker lines included) of a module; ``function`` encloses them."""

    begin: int
    end: int
    indent: str
    function: str


# --------------------------------------------------------------------------------------------
# .py modules


def find_solution_regions(source: str, filename: str = "<module>") -> list[SolutionRegion]:
    """Locate the solution regions of a module; raise :class:`ReleaseError` on malformed markers.

    Regions may not nest and must sit inside a function body, so that the stub's
    ``raise NotImplementedError`` runs when the student calls the function.
    """
    lines = source.splitlines()
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise ReleaseError(f"{filename}:{exc.lineno}: the source module does not parse: {exc.msg}") from exc
    functions = _function_spans(tree)
    regions, begin = [], None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise ReleaseError(f"{filename}:{number}: {BEGIN} inside the region opened on line {begin}")
            begin = number
        elif stripped == END:
            if begin is None:
                raise ReleaseError(f"{filename}:{number}: {END} without a {BEGIN}")
            enclosing = [f for f in functions if f[1] < begin <= f[2]]
            if not enclosing:
                raise ReleaseError(f"{filename}:{begin}: solution region outside any function body")
            name = max(enclosing, key=lambda f: f[1])[0]  # the innermost function
            indent = lines[begin - 1][: len(lines[begin - 1]) - len(lines[begin - 1].lstrip())]
            regions.append(SolutionRegion(begin, number, indent, name))
            begin = None
        elif "BEGIN SOLUTION" in stripped or "END SOLUTION" in stripped:
            raise ReleaseError(f"{filename}:{number}: malformed marker line {stripped!r}")
    if begin is not None:
        raise ReleaseError(f"{filename}:{begin}: {BEGIN} is never closed")
    return regions


def _function_spans(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(qualified name, first line, last line) of every function, methods as ``Class.method``."""
    spans = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                spans.append((prefix + child.name, child.lineno, child.end_lineno))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def strip_solutions(source: str, module: str, filename: str = "<module>") -> str:
    """Return ``source`` with every solution region replaced by a ``NotImplementedError`` stub."""
    lines = source.splitlines()
    out, cursor = [], 0
    for region in find_solution_regions(source, filename):
        out.extend(lines[cursor : region.begin - 1])
        out.append(f"{region.indent}{STUB_COMMENT}")
        out.append(
            f'{region.indent}raise NotImplementedError("{module}.{region.function}: not implemented yet")'
        )
        cursor = region.end
    out.extend(lines[cursor:])
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# notebooks


def generate_notebooks(assignment: Assignment, out_dir: Path) -> None:
    """Run ``nbgrader generate_assignment`` on the source notebooks into ``out_dir``.

    nbgrader works on a course directory; we give it a private temporary one so a release has no
    side effect on any gradebook (grading registers the assignment in its own course directory).
    """
    if not assignment.notebooks:
        return
    with tempfile.TemporaryDirectory(prefix="eecs498-release-") as tmp:
        course = Path(tmp)
        source = course / "source" / assignment.id
        source.mkdir(parents=True)
        for name in assignment.notebooks:
            shutil.copy2(assignment.root / name, source / name)
        proc = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", assignment.id, "--force",
             f"--CourseDirectory.root={course}", "--log-level=WARN"],
            cwd=course, env=environ_with_venv_scripts(), capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise ReleaseError(f"nbgrader generate_assignment failed:\n{proc.stdout}{proc.stderr}")
        for name in assignment.notebooks:
            nb = nbformat.read(course / "release" / assignment.id / name, as_version=4)
            nbformat.write(nb, out_dir / name)  # normalized formatting: reviewable, stable diffs


# --------------------------------------------------------------------------------------------
# release and its checks


def release_assignment(assignment: Assignment, out: Path) -> Path:
    """Build ``<out>/<assignment.id>/`` from the source and verify it; return that folder."""
    out_dir = Path(out).resolve() / assignment.id
    if out_dir == assignment.root or assignment.root in out_dir.parents:
        raise ReleaseError(f"refusing to release into the source folder {assignment.root}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for name in assignment.modules:
        path = assignment.root / name
        stripped = strip_solutions(path.read_text(), Path(name).stem, str(path))
        (out_dir / name).write_text(stripped)
    assignment.write_given_files(out_dir)
    generate_notebooks(assignment, out_dir)
    for name in assignment.notebooks:
        append_submit_cell(out_dir / name, assignment)
    (out_dir / "README.md").write_text(student_readme(assignment))
    shutil.copy2(assignment.root / METADATA_FILE, out_dir / METADATA_FILE)
    shutil.copytree(HELPER_PACKAGE, out_dir / "eecs498", ignore=shutil.ignore_patterns("__pycache__"))
    problems = verify_release(assignment, out_dir)
    if problems:
        raise ReleaseError("the release failed its checks:\n  - " + "\n  - ".join(problems))
    return out_dir


SUBMIT_COMMAND = "python -m eecs498 submit . --student <uniqname>"


def append_submit_cell(notebook: Path, assignment: Assignment) -> None:
    """End a release notebook with a locked cell that says how to submit."""
    nb = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_markdown_cell(
        "## Submit\n\nSave this notebook, then run, in a terminal in this folder,\n\n"
        f"    {SUBMIT_COMMAND}\n\n"
        "(or, in a code cell, `from eecs498.submit import make_submission; make_submission('.', '<uniqname>')`) "
        f"and upload `<uniqname>_{assignment.id}.zip`. You may submit unfinished work: it lists what is "
        "missing and the points that costs. See README.md for what is graded.")
    cell.id = "eecs498-submit"
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "eecs498-submit", "locked": True,
                                 "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(cell)
    nbformat.write(nb, notebook)


def student_readme(assignment: Assignment) -> str:
    """The release's README.md: what to do (JupyterLab or Colab), what is graded, how to submit."""
    groups = "\n".join(f"| {g.description or g.name} | `{g.module}` | {g.points:g} |" if g.points else
                       f"| {g.description or g.name} (an extension beyond the course) | `{g.module}` | feedback only |"
                       for g in assignment.groups)
    answers = sum(float(cell.metadata.get("nbgrader", {}).get("points", 0))
                  for name in assignment.notebooks
                  for cell in nbformat.read(assignment.root / name, as_version=4).cells
                  if cell.metadata.get("nbgrader", {}).get("solution"))
    files = [n for n in assignment.submit if not n.endswith((".py", ".ipynb"))]
    made = f" The notebooks write {', '.join(f'`{f}`' for f in files)}; they are graded too." if files else ""
    return f"""# {assignment.title}

This folder is your copy of the assignment: the modules you complete ({', '.join(f'`{m}`' for m in assignment.modules)}),
the notebooks that explain, check and train them ({', '.join(f'`{n}`' for n in assignment.notebooks)}), the `eecs498`
helper package and `assignment.toml`.

## What to do

1. Open the notebooks in order, in JupyterLab (`jupyter lab` in this folder), Notebook 7 or Colab.
   On Colab, upload this whole folder to your Google Drive as `MyDrive/eecs498/{assignment.id}/` and open the
   notebooks from there: their first cell mounts your Drive, changes into the folder and keeps the datasets in
   `MyDrive/eecs498/datasets/` (downloaded once for every assignment).
2. Write your code in the modules where it says `# YOUR CODE HERE`. Every function raises
   `NotImplementedError` until you do; its docstring says what it takes and returns (shapes, dtypes) and what
   it may not use.
3. Run the notebook cells: they check your functions on small examples and train on real data.{made}
4. Write your answers in the notebooks' answer cells (graded by hand).

## What is graded

Hidden tests call your functions on other inputs than the notebooks' and compare with the reference
solution; every lost point comes with a sentence saying what to fix (the feedback shows what was
checked and the shapes and settings of the cases, never the hidden values).

| tests | module | points |
|---|---|---|
{groups}

Written answers in the notebooks: {answers:g} points, graded by hand.

## Submit

    {SUBMIT_COMMAND}

writes `<uniqname>_{assignment.id}.zip` to upload. You may submit unfinished work: the command lists what is
missing and the points that costs (`--strict` refuses instead). Save your notebooks first: graders look at
their outputs.
"""


def verify_release(assignment: Assignment, release_dir: Path) -> list[str]:
    """Every reason ``release_dir`` is not a safe student version of ``assignment`` (empty: fine).

    Checks: no solution marker and no solution-only line survives in any released file (given
    files excepted: they must equal the given text); every function that had a region raises
    ``NotImplementedError`` and keeps its signature and docstring; the modules import; notebook
    outputs are cleared.
    """
    problems: list[str] = []
    released = sorted(p for p in release_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    secret = _solution_only_lines(assignment)
    given = assignment.given_files()
    for path in released:
        text = path.read_text(errors="replace")
        rel = path.relative_to(release_dir)
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{rel}: contains the marker {marker!r}")
        if rel.as_posix() in given:
            if text != given[rel.as_posix()]:
                problems.append(f"{rel}: differs from the given file it should be")
            continue  # finished code shipped on purpose: a line it shares with a solution is public
        for line in _notebook_or_text_lines(path, text):
            if line in secret:
                problems.append(f"{rel}: contains solution text {line!r}")
    for name in assignment.modules:
        problems += _check_stubs(assignment.root / name, release_dir / name)
    problems += _check_imports(assignment, release_dir)
    for name in assignment.notebooks:
        nb = nbformat.read(release_dir / name, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                problems.append(f"{name}: cell {index} still has outputs")
    return problems


def _notebook_or_text_lines(path: Path, text: str) -> set[str]:
    if path.suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        text = "\n".join(cell.source for cell in nb.cells)
    return {line.strip() for line in text.splitlines() if line.strip()}


def _solution_only_lines(assignment: Assignment) -> set[str]:
    """Stripped lines that appear inside solutions and nowhere outside them in the source."""
    inside: set[str] = set()
    outside: set[str] = set(NBGRADER_STUB_LINES)
    for name in assignment.modules:
        _split_lines((assignment.root / name).read_text(), inside, outside)
    for name in assignment.notebooks:
        for cell in nbformat.read(assignment.root / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and BEGIN not in cell.source:
                inside.update(line.strip() for line in cell.source.splitlines())  # whole answer cell
            else:
                _split_lines(cell.source, inside, outside)
    for path in HELPER_PACKAGE.rglob("*.py"):
        outside.update(line.strip() for line in path.read_text().splitlines())
    outside.update(line.strip() for line in (assignment.root / METADATA_FILE).read_text().splitlines())
    return {line for line in inside - outside if line and line not in MARKERS}


def _split_lines(text: str, inside: set[str], outside: set[str]) -> None:
    in_region = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            in_region = True
        elif stripped == END:
            in_region = False
        else:
            (inside if in_region else outside).add(stripped)


def _check_stubs(source_path: Path, release_path: Path) -> list[str]:
    """Every function with a region raises NotImplementedError and keeps signature and docstring."""
    name = release_path.name
    if not release_path.is_file():
        return [f"{name}: missing from the release"]
    source_tree = ast.parse(source_path.read_text())
    try:
        release_tree = ast.parse(release_path.read_text())
    except SyntaxError as exc:
        return [f"{name}:{exc.lineno}: the released module does not parse: {exc.msg}"]
    source_defs, release_defs = _definitions(source_tree), _definitions(release_tree)
    problems = []
    for qualname, node in source_defs.items():
        twin = release_defs.get(qualname)
        if twin is None:
            problems.append(f"{name}: {qualname} is missing from the release")
            continue
        if ast.get_docstring(node) != ast.get_docstring(twin):
            problems.append(f"{name}: the docstring of {qualname} changed")
        if isinstance(node, ast.ClassDef):
            continue
        if ast.dump(node.args) != ast.dump(twin.args):
            problems.append(f"{name}: the signature of {qualname} changed")
    for region in find_solution_regions(source_path.read_text(), str(source_path)):
        twin = release_defs.get(region.function)
        if twin is not None and not _raises_not_implemented(twin):
            problems.append(f"{name}: {region.function} does not raise NotImplementedError")
    return problems


def _definitions(tree: ast.AST) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[prefix + child.name] = child
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


def _raises_not_implemented(function: ast.AST) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def _check_imports(assignment: Assignment, release_dir: Path) -> list[str]:
    """Import every released module in a fresh interpreter with the release folder first on the path."""
    problems = []
    for name in assignment.modules:
        module = Path(name).stem
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=release_dir, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(release_dir), "MPLBACKEND": "Agg"},
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            problems.append(f"{name}: does not import: {last}")
    return problems
