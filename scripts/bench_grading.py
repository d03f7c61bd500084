"""Benchmark: seconds per a1_knn submission, eecs498 grade (1 and N jobs) vs nbgrader autograde.

    .venv/bin/python scripts/bench_grading.py [--students 40] [--jobs N] [--nbgrader-students 4]

Grades ``--students`` copies of the complete a1 submission with ``eecs498 grade`` serially and with
N workers, then runs ``nbgrader autograde`` (the anchor: strictly serial, it re-executes every
notebook) on the notebooks of the first ``--nbgrader-students`` of the same students, all in one
run on one machine. nbgrader executes the full assignment notebooks (minutes each on a 2-core CPU),
so by default it runs on fewer students; the figure compared is seconds per submission.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from autograder import environ_with_venv_scripts
from autograder.grading import grade_class
from autograder.release import release_assignment
from eecs498.assignment import find_assignment


def make_class(assignment, release_dir: Path, folder: Path, students: int) -> list[str]:
    """``students`` copies of the complete submission (source modules + the release notebooks)."""
    folder.mkdir(parents=True)
    names = [f"student{i:03d}" for i in range(students)]
    for name in names:
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            for module in assignment.modules:
                archive.write(assignment.root / module, module)
            for notebook in assignment.notebooks:
                archive.write(release_dir / notebook, notebook)
    return names


def time_ours(assignment, submissions: Path, out: Path, jobs: int) -> float:
    start = time.perf_counter()
    grades = grade_class(assignment, submissions, out, jobs=jobs, force=True, progress=False)
    elapsed = time.perf_counter() - start
    full = sum(g.score == g.max_score for g in grades)
    print(f"  eecs498 grade --jobs {jobs}: {elapsed:7.1f} s for {len(grades)} students "
          f"({elapsed / len(grades):.2f} s/submission; {full}/{len(grades)} full marks)")
    return elapsed / len(grades)


def time_nbgrader(assignment, release_dir: Path, course: Path, names: list[str]) -> float:
    """nbgrader's own flow: generate the assignment, then autograde the submitted notebooks."""
    env = environ_with_venv_scripts()
    source = course / "source" / assignment.id
    source.mkdir(parents=True)
    for notebook in assignment.notebooks:
        shutil.copy2(assignment.root / notebook, source / notebook)
    for module in assignment.modules:  # nbgrader copies every file of the source folder
        shutil.copy2(release_dir / module, source / module)
    # By default autograde overwrites submitted non-notebook files with the source folder's (here
    # the stubs): keep the students' modules, as a course using nbgrader for a1 must.
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Autograde.exclude_overwriting = {{{assignment.id!r}: {list(assignment.modules)!r}}}\n")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    common = [f"--CourseDirectory.root={course}", "--log-level=ERROR"]
    subprocess.run(nbgrader + ["generate_assignment", assignment.id, "--force"] + common,
                   cwd=course, env=env, check=True)
    for name in names:
        target = course / "submitted" / name / assignment.id
        target.mkdir(parents=True)
        for module in assignment.modules:
            shutil.copy2(assignment.root / module, target / module)
        for notebook in assignment.notebooks:
            shutil.copy2(course / "release" / assignment.id / notebook, target / notebook)
        subprocess.run(nbgrader + ["db", "student", "add", name] + common, cwd=course, env=env, check=True)
    start = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", assignment.id, "--ExecutePreprocessor.timeout=600"] + common,
                   cwd=course, env={**env, "MPLBACKEND": "Agg"}, check=True)
    elapsed = time.perf_counter() - start
    errors = notebook_errors(course / "autograded")
    if errors:
        raise SystemExit(f"nbgrader's executed notebooks hold errors, so its time is not comparable: {errors[:3]}")
    print(f"  nbgrader autograde:      {elapsed:7.1f} s for {len(names)} students "
          f"({elapsed / len(names):.2f} s/submission; serial, executes {len(assignment.notebooks)} notebooks each)")
    return elapsed / len(names)


def notebook_errors(folder: Path) -> list[str]:
    """'<notebook>: <error>' for every executed cell that raised."""
    import nbformat

    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    found.append(f"{path.name}: {output.get('ename')}: {output.get('evalue', '')[:100]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--nbgrader-students", type=int, default=4)
    args = parser.parse_args()

    assignment = find_assignment("a1_knn")
    with tempfile.TemporaryDirectory(prefix="eecs498-bench-") as tmp:
        tmp = Path(tmp)
        release_dir = release_assignment(assignment, tmp / "release")
        names = make_class(assignment, release_dir, tmp / "submissions", args.students)
        print(f"a1_knn, {args.students} copies of the complete submission, {os.cpu_count()} cores")
        serial = time_ours(assignment, tmp / "submissions", tmp / "out1", 1)
        parallel = time_ours(assignment, tmp / "submissions", tmp / "outN", args.jobs)
        print(f"speedup of --jobs {args.jobs} over --jobs 1: {serial / parallel:.2f}x")
        if args.nbgrader_students:
            anchor = time_nbgrader(assignment, release_dir, tmp / "course", names[: args.nbgrader_students])
            print(f"eecs498 grade --jobs {args.jobs} vs nbgrader autograde, per submission: {anchor / parallel:.1f}x faster")


if __name__ == "__main__":
    main()
