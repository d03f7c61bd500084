"""A Gradescope autograder zip that runs the same engine, and the entry point it runs there.

Gradescope unzips the archive into ``/autograder/source``, runs ``setup.sh`` once when the image is
built, then ``run_autograder`` per submission with the student's files in
``/autograder/submission``; it reads ``/autograder/results/results.json``.

The zip holds the helper package, the grader, this assignment's hidden suite and references and its
metadata — never the source solutions (the references were checked fresh when the zip was built).
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
# Runs once while Gradescope builds the autograder image.
set -euo pipefail
apt-get update -q
apt-get install -y -q python3 python3-pip bubblewrap
pip3 install -q torch numpy tqdm click pytest nbformat matplotlib
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Runs for each submission: grades /autograder/submission into /autograder/results/results.json.
# (EECS498_GRADESCOPE_ROOT replaces /autograder, to try the zip in a folder laid out the same way.)
root="${{EECS498_GRADESCOPE_ROOT:-/autograder}}"
python="$root/venv/bin/python"
[ -x "$python" ] || python=python3
cd "$root/source"
PYTHONPATH="$root/source" exec "$python" -m autograder.gradescope {assignment} "$root" "$@"
"""


def build_autograder_zip(assignment: Assignment, out: Path) -> Path:
    """Write the Gradescope autograder archive for ``assignment`` to ``out``; return its path."""
    load_references(assignment)  # refuses stale or missing references
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
        for name, script in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment.id))):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            archive.writestr(info, script)
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
    grade = grade_submission(assignment, Submission("student", root / "submission"), check_fresh=False)
    results = gradescope_results(grade)  # the sandbox is closed: no student process is left
    write_atomic(results_file, json.dumps(results, indent=1))
    return results


def main() -> None:
    from autograder.sandbox import IsolationError

    arguments = [a for a in sys.argv[1:] if a != "--allow-unsafe"]
    try:
        run(arguments[0], Path(arguments[1]) if len(arguments) > 1 else Path("/autograder"),
            allow_unsafe="--allow-unsafe" in sys.argv)
    except IsolationError as exc:
        print(f"eecs498 autograder: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
