"""A Gradescope autograder zip that runs the same engine, and the entry point it runs there.

Gradescope unzips the archive into ``/autograder/source``, runs ``setup.sh`` once when the image is
built, then ``run_autograder`` per submission with the student's files in
``/autograder/submission``; it reads ``/autograder/results/results.json``.

The zip holds the helper package, the grader, this assignment's hidden suite and references and its
metadata — never the source solutions (the references were checked fresh when the zip was built).
``setup.sh`` makes a virtual environment of its own in ``/autograder/venv`` (no system pip, which
current Ubuntu images refuse as "externally managed"), installs the torch/torchvision pair this
repository pins (the CPU-only build where PyTorch's CPU index offers it) and the grader's other
requirements, fetches and verifies the datasets the hidden tests need into
``/autograder/datasets``, and ends with the preflight: a sandboxed child must import torch and
answer, or the image build fails with the reason.
"""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from autograder.references import load_references, references_path
from autograder.suite import hidden_suite_files
from eecs498.assignment import METADATA_FILE, Assignment

REPO = Path(__file__).resolve().parent.parent

SETUP_SH = """\
#!/usr/bin/env bash
# Runs once while Gradescope builds the autograder image (as root, from /autograder/source).
# (EECS498_GRADESCOPE_ROOT replaces /autograder, to try the zip in a folder laid out the same way.)
set -euo pipefail
source="$(cd "$(dirname "$0")" && pwd)"
root="${{EECS498_GRADESCOPE_ROOT:-/autograder}}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! python3 -c "import ensurepip" 2>/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! command -v bwrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap || echo "note: no bubblewrap; student code will run as an unprivileged uid"
fi
python3 -m venv "$root/venv"
python="$root/venv/bin/python"
# The torch/torchvision pair the references were recorded with: the CPU-only build from PyTorch's
# CPU index when it is reachable, else the same versions from the default index.
"$python" -m pip install -q --index-url https://download.pytorch.org/whl/cpu -r "$source/requirements-torch.txt" \\
  || "$python" -m pip install -q -r "$source/requirements-torch.txt"
"$python" -m pip install -q -c "$source/requirements-torch.txt" -r "$source/requirements-grader.txt"
chmod -R go+rX "$root/venv"
cd "$source"  # python -m puts the working folder first on sys.path: it must be this zip's code
EECS498_DATA="$root/datasets" PYTHONPATH="$source" "$python" -m autograder.gradescope --setup {assignment} "$root"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Runs for each submission: grades /autograder/submission into /autograder/results/results.json.
# (EECS498_GRADESCOPE_ROOT replaces /autograder, to try the zip in a folder laid out the same way.)
root="${{EECS498_GRADESCOPE_ROOT:-/autograder}}"
python="$root/venv/bin/python"
[ -x "$python" ] || python=python3
cd "$root/source"
EECS498_DATA="$root/datasets" PYTHONPATH="$root/source" exec "$python" -m autograder.gradescope {assignment} "$root" "$@"
"""


def grader_requirements() -> str:
    """What the grader needs besides torch: the helper package's dependencies and pytest."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    keep = [d for d in project["dependencies"] if not d.replace(" ", "").startswith(("torch>", "torch=", "torchvision"))]
    return "\n".join(["# the grader's requirements besides torch (written by `eecs498 gradescope`)", *keep, "pytest"]) + "\n"


def build_autograder_zip(assignment: Assignment, out: Path, datasets: tuple[str, ...] | None = None) -> Path:
    """Write the Gradescope autograder archive for ``assignment`` to ``out``; return its path.

    ``datasets``: what ``setup.sh`` fetches for the hidden tests (default: Fashion-MNIST when the
    assignment uses it; add ``cifar10`` when its checkpoints may be trained on CIFAR-10)."""
    load_references(assignment)  # refuses stale or missing references
    if datasets is None:
        datasets = tuple(d for d in assignment.datasets if d == "fashion_mnist")
    files: dict[str, Path] = {}
    for package in ("eecs498", "autograder"):
        for path in sorted((REPO / package).rglob("*")):
            relative = path.relative_to(REPO)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if relative.parts[1:2] == ("suites",):
                continue  # other assignments' hidden material stays home, and so do sample classes
            files[relative.as_posix()] = path
    for path in hidden_suite_files(assignment.id):
        files[path.relative_to(REPO).as_posix()] = path
    reference = references_path(assignment)
    files[reference.relative_to(REPO).as_posix()] = reference
    files[f"assignments/{assignment.id}/{METADATA_FILE}"] = assignment.root / METADATA_FILE
    given = assignment.given_files()  # finished code the modules import; grading places it beside them
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, script in (("setup.sh", SETUP_SH.format(assignment=assignment.id)),
                             ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment.id))):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            archive.writestr(info, script)
        archive.writestr("requirements-torch.txt", (REPO / "requirements" / "torch-x86_64.txt").read_text())
        archive.writestr("requirements-grader.txt", grader_requirements())
        archive.writestr("datasets.txt", "".join(f"{name}\n" for name in datasets))
        for name, path in files.items():
            archive.write(path, name)
        for name, text in given.items():
            archive.writestr(f"assignments/{assignment.id}/{name}", text)
    return out


def run(assignment_id: str, root: Path, allow_unsafe: bool = False) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json`` (Gradescope's layout).

    Without bubblewrap (Gradescope's container) the grader is root there: student code drops to
    an unprivileged uid, ``root/source`` (suite, references) and ``root/results`` are made
    unreadable to it first, and results.json is written only after the sandbox has killed every
    process of that uid. Where no isolation is possible, or the sandbox cannot run Python with
    torch, it raises :class:`~autograder.sandbox.IsolationError` and writes no results.json
    (Gradescope shows the staff the message) unless ``allow_unsafe`` allows the first.
    """
    from autograder.grading import grade_submission
    from autograder.reports import gradescope_results, write_atomic
    from autograder.sandbox import limits_for, preflight, protect_course_material, require_isolation
    from autograder.unpack import Submission
    from eecs498.assignment import find_assignment

    results_file = root / "results" / "results.json"
    assignment = find_assignment(assignment_id, search=Path(__file__).resolve().parent.parent / "assignments")
    if require_isolation(allow_unsafe) == "uid":  # IsolationError: no results.json, Gradescope shows the error
        protect_course_material([root / "source", root / "results"])
    preflight(limits_for(assignment))
    grade = grade_submission(assignment, Submission("student", root / "submission"), check_fresh=False,
                             warm=False)  # one submission per run: a template would save nothing
    results = gradescope_results(grade)  # the sandbox is closed: no student process is left
    write_atomic(results_file, json.dumps(results, indent=1))
    return results


def setup(assignment_id: str, root: Path) -> None:
    """The last steps of ``setup.sh``: fetch and verify the datasets listed in ``datasets.txt``
    into the data root, then the preflight (a sandboxed child imports torch and answers)."""
    from autograder.sandbox import preflight, require_isolation
    from eecs498 import data
    from eecs498.assignment import find_assignment

    assignment = find_assignment(assignment_id, search=Path(__file__).resolve().parent.parent / "assignments")
    listed = Path(__file__).resolve().parent.parent / "datasets.txt"
    for name in (listed.read_text().split() if listed.is_file() else []):
        x_train, _, x_test, _ = data.load_dataset(name)  # DatasetUnavailable says what to do
        print(f"{name}: train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, in {data.DATA_ROOT}")
    mode = require_isolation()
    versions = preflight()
    print(f"preflight passed for {assignment.id}: sandbox {mode}, torch {versions['torch']}, numpy {versions['numpy']}")


def main() -> None:
    from autograder.sandbox import IsolationError
    from eecs498.data import DatasetUnavailable

    arguments = [a for a in sys.argv[1:] if a not in ("--allow-unsafe", "--setup")]
    root = Path(arguments[1]) if len(arguments) > 1 else Path("/autograder")
    try:
        if "--setup" in sys.argv:
            setup(arguments[0], root)
        else:
            run(arguments[0], root, allow_unsafe="--allow-unsafe" in sys.argv)
    except (IsolationError, DatasetUnavailable) as exc:
        print(f"eecs498 autograder: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
