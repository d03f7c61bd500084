"""An assignment's metadata file, ``assignment.toml``, shared by release, submit and grading.

Example (``assignments/a1_knn/assignment.toml``)::

    id = "a1_knn"
    title = "A1: PyTorch 101 and k-nearest neighbors"
    modules = ["pytorch101.py", "knn.py"]          # files students edit
    notebooks = ["pytorch101.ipynb", "knn.ipynb"]
    submit = ["pytorch101.py", "knn.py", "pytorch101.ipynb", "knn.ipynb"]
    datasets = ["fashion_mnist", "cifar10"]
    given = ["../a3_mlp/fully_connected_networks.py"]   # optional: shipped as is (see given_files)

    [checkpoints."knn_model.pt"]                    # optional: bounds on a submitted network (the grader runs it)
    max_params = 2_000_000                          # numbers in all its tensors
    max_flops = 1e9                                 # operations of one forward pass on one image

    [limits]                                        # optional: the sandbox's limits for this assignment
    budget_s = 600                                  # wall time for a whole submission (see autograder.sandbox.Limits)

    [alternative_names]                             # optional: names a submitted file may also have
    "one_minute_deepconvnet.pt" = ["one_minute_deepconvnet.pth"]   # (the course's), read as the first

    [groups.knn_distances]                          # one hidden-test group
    points = 10
    module = "knn.py"
    description = "compute_distances_* agree with the reference"
    files = ["knn_model.pt"]                        # optional: submitted files its tests read
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METADATA_FILE = "assignment.toml"
# The lines around a solution region; spelled out at run time so that this file, which every
# release ships, never contains a marker itself.
SOLUTION_MARKERS = tuple(f"### {word} SOLUTION" for word in ("BEGIN", "END"))


class AssignmentError(Exception):
    """A missing or malformed assignment folder or metadata file."""


@dataclass(frozen=True)
class TestGroup:
    name: str
    points: float
    description: str = ""
    module: str = ""  # the student module whose hidden tests make up the group, e.g. "knn.py"
    files: tuple[str, ...] = ()  # other submitted files its tests read (checkpoints)


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    root: Path
    modules: tuple[str, ...]
    notebooks: tuple[str, ...]
    submit: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    groups: tuple[TestGroup, ...] = field(default=())
    # files shipped complete beside the student modules (an earlier assignment's reference layers
    # that this one imports), as paths relative to ``root``; see ``given_files``
    given: tuple[str, ...] = ()
    # dataset -> what -> the accuracy the reference reaches and submissions must reach,
    # e.g. {"fashion_mnist": {"svm_test": 0.80}}; stated in the notebook, checked by the grader
    targets: dict[str, dict[str, float]] = field(default_factory=dict)
    # submitted file -> other names it may come under (the course's ``.pth``), e.g.
    # {"overfit_deepconvnet.pt": ("overfit_deepconvnet.pth",)}
    alternative_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # sandbox limits that differ from the defaults (autograder.sandbox.Limits field -> value)
    limits: dict[str, float] = field(default_factory=dict)
    # submitted checkpoint -> bounds the grader checks before running it ("max_params", "max_flops")
    checkpoints: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return sum(g.points for g in self.groups)

    def given_files(self) -> dict[str, str]:
        """The ``given`` files as they go beside the student modules: file name -> text.

        Their solutions are kept and the solution-marker lines dropped (they are finished code
        that the student's modules import). A path is resolved against ``root``; in a released or
        packaged copy, where the file already sits beside the modules, its file name is used.
        Raises :class:`AssignmentError` when one cannot be found or shadows a student module.
        """
        files = {}
        for entry in self.given:
            name = Path(entry).name
            if name in self.modules:
                raise AssignmentError(f"{self.id}: the given file {entry} has the name of a student module")
            path = self.root / entry if (self.root / entry).is_file() else self.root / name
            if not path.is_file():
                raise AssignmentError(f"{self.id}: the given file {entry} is missing")
            lines = path.read_text().splitlines(keepends=True)
            files[name] = "".join(line for line in lines if line.strip() not in SOLUTION_MARKERS)
        return files

    def write_given_files(self, folder: Path) -> None:
        """Write :meth:`given_files` into ``folder`` (replacing any copy of the same name)."""
        for name, text in self.given_files().items():
            (Path(folder) / name).write_text(text)

    def module_points(self, module: str) -> float:
        """Points of the hidden tests of one student module (e.g. ``"knn.py"``)."""
        return sum(g.points for g in self.groups if g.module == module)

    def points_at_stake(self, filename: str) -> float | None:
        """Hidden-test points that need a submitted file: a module's groups, or the groups that
        list it in ``files``; None when no group says (a notebook's are its written answers)."""
        groups = [g for g in self.groups if g.module == filename or filename in g.files]
        return sum(g.points for g in groups) if groups else None

    def group(self, name: str) -> TestGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"{self.id} has no test group {name!r}; groups: {[g.name for g in self.groups]}")


def load_assignment(folder: str | Path) -> Assignment:
    """Read ``<folder>/assignment.toml``; raise :class:`AssignmentError` naming what is wrong."""
    root = Path(folder).resolve()
    path = root / METADATA_FILE
    if not path.is_file():
        raise AssignmentError(f"{root} is not an assignment folder: {METADATA_FILE} is missing")
    try:
        meta = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{path}: {exc}") from exc
    missing = [k for k in ("id", "title", "modules", "submit") if k not in meta]
    if missing:
        raise AssignmentError(f"{path}: missing keys {missing}")
    groups = tuple(
        TestGroup(name, float(g["points"]), g.get("description", ""), g.get("module", ""), tuple(g.get("files", ())))
        for name, g in meta.get("groups", {}).items()
    )
    return Assignment(
        id=meta["id"],
        title=meta["title"],
        root=root,
        modules=tuple(meta["modules"]),
        notebooks=tuple(meta.get("notebooks", ())),
        submit=tuple(meta["submit"]),
        datasets=tuple(meta.get("datasets", ())),
        groups=groups,
        targets={dataset: {k: float(v) for k, v in values.items()}
                 for dataset, values in meta.get("targets", {}).items()},
        given=tuple(meta.get("given", ())),
        alternative_names={name: tuple(others) for name, others in meta.get("alternative_names", {}).items()},
        limits={str(k): v for k, v in meta.get("limits", {}).items()},
        checkpoints={name: {str(k): float(v) for k, v in bounds.items()}
                     for name, bounds in meta.get("checkpoints", {}).items()},
    )


def find_assignment(name_or_path: str | Path, search: Path | None = None) -> Assignment:
    """Resolve ``a1_knn`` (a folder under ``assignments/``) or a path to an assignment folder."""
    candidate = Path(name_or_path)
    if (candidate / METADATA_FILE).is_file():
        return load_assignment(candidate)
    search = search or Path(__file__).resolve().parent.parent / "assignments"
    if (search / str(name_or_path) / METADATA_FILE).is_file():
        return load_assignment(search / str(name_or_path))
    known = sorted(p.parent.name for p in search.glob(f"*/{METADATA_FILE}")) if search.is_dir() else []
    raise AssignmentError(f"no assignment {str(name_or_path)!r}; known: {known or 'none'}")
