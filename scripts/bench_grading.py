"""Benchmark: seconds per submission, warm and cold sandboxes, one and N jobs, a Dask cluster,
nbgrader autograde, and then a2-a4.

    .venv/bin/python scripts/bench_grading.py [--students 300] [--small 40] [--jobs N]
                                              [--nbgrader-students 4] [--others 6]

In one run on one machine:
1. a1_knn: ``--students`` copies of the complete submission graded with warm sandboxes and
   ``--jobs N`` (the default configuration), then ``--small`` of them warm with ``--jobs 1`` and
   cold (a fresh sandboxed Python per submission) with ``--jobs 1`` and ``--jobs N``, then
   ``--small`` on a two-worker Dask cluster on loopback (``dask scheduler`` and two ``dask
   worker`` processes), then ``nbgrader autograde`` (the anchor: serial, re-executes every
   notebook) on ``--nbgrader-students`` of the same students.
2. a2_linear, a3_mlp, a4_cnn: ``--others`` copies of each complete submission (checkpoints from
   the sample class), warm, ``--jobs N``.

It prints seconds per submission and the ratios, and how long a class of 300 would take.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import environ_with_venv_scripts  # noqa: E402
from autograder.grading import grade_class  # noqa: E402
from autograder.release import release_assignment  # noqa: E402
from autograder.samples import sample_class_module  # noqa: E402
from eecs498.assignment import find_assignment  # noqa: E402


def make_class(assignment, release_dir: Path, folder: Path, students: int, extra: dict | None = None) -> list[str]:
    """``students`` copies of the complete submission (source modules, release notebooks, ``extra``)."""
    folder.mkdir(parents=True)
    names = [f"student{i:03d}" for i in range(students)]
    for name in names:
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            for module in assignment.modules:
                archive.write(assignment.root / module, module)
            for notebook in assignment.notebooks:
                archive.write(release_dir / notebook, notebook)
            for filename, data in (extra or {}).items():
                archive.writestr(filename, data)
    return names


def subset(folder: Path, count: int, into: Path) -> Path:
    into.mkdir(parents=True)
    for path in sorted(folder.iterdir())[:count]:
        shutil.copy2(path, into / path.name)
    return into


def time_ours(assignment, submissions: Path, out: Path, label: str, **options) -> float:
    start = time.perf_counter()
    grades = grade_class(assignment, submissions, out, force=True, progress=False, **options)
    elapsed = time.perf_counter() - start
    full = sum(g.score == g.max_score for g in grades)
    print(f"  {label:38} {elapsed:7.1f} s for {len(grades):3d} students: {elapsed / len(grades):5.2f} s/submission"
          f" ({full}/{len(grades)} full marks)", flush=True)
    if full != len(grades):
        raise SystemExit(f"{label}: a complete submission lost points, so the figure is not comparable")
    return elapsed / len(grades)


def time_cluster(assignment, submissions: Path, out: Path, tmp: Path) -> float:
    """Two Dask workers (one thread each) and a scheduler, separate processes on 127.0.0.1."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scripts = Path(sys.executable).parent
    file = tmp / "scheduler.json"
    processes = [subprocess.Popen([str(scripts / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(file)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        while not file.is_file():
            time.sleep(0.2)
        for name in ("w0", "w1"):
            processes.append(subprocess.Popen(
                [str(scripts / "dask"), "worker", "--scheduler-file", str(file), "--nworkers", "1", "--nthreads", "1",
                 "--name", name, "--host", "127.0.0.1", "--no-dashboard"], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(scheduler_file=str(file), timeout=120) as client:
            client.wait_for_workers(2, timeout=300)
        return time_ours(assignment, submissions, out, "Dask, 2 workers x 1 thread (loopback)",
                         scheduler=str(file))
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def time_nbgrader(assignment, release_dir: Path, course: Path, names: list[str]) -> float:
    """nbgrader's own flow: generate the assignment, then autograde the submitted notebooks."""
    env = environ_with_venv_scripts()
    source = course / "source" / assignment.id
    source.mkdir(parents=True)
    for notebook in assignment.notebooks:
        shutil.copy2(assignment.root / notebook, source / notebook)
    for module in assignment.modules:  # nbgrader copies every file of the source folder
        shutil.copy2(release_dir / module, source / module)
    shutil.copy2(assignment.root / "assignment.toml", source / "assignment.toml")  # the notebooks read targets there
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
    print(f"  {'nbgrader autograde (serial)':38} {elapsed:7.1f} s for {len(names):3d} students: "
          f"{elapsed / len(names):5.2f} s/submission (executes {len(assignment.notebooks)} notebooks each)", flush=True)
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
    parser.add_argument("--students", type=int, default=300, help="a1 class size for the default configuration")
    parser.add_argument("--small", type=int, default=40, help="a1 class size for the slower configurations")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--nbgrader-students", type=int, default=4)
    parser.add_argument("--others", type=int, default=6, help="submissions of each of a2-a4 (0: skip)")
    args = parser.parse_args()
    jobs = args.jobs
    assignment = find_assignment("a1_knn")
    with tempfile.TemporaryDirectory(prefix="eecs498-bench-") as tmp:
        tmp = Path(tmp)
        release_dir = release_assignment(assignment, tmp / "release")
        names = make_class(assignment, release_dir, tmp / "a1", args.students)
        small = subset(tmp / "a1", args.small, tmp / "a1-small")
        print(f"a1_knn: copies of the complete submission, {os.cpu_count()} cores", flush=True)
        warm_n = time_ours(assignment, tmp / "a1", tmp / "o1", f"warm, --jobs {jobs} ({args.students} students)",
                           jobs=jobs)
        warm_1 = time_ours(assignment, small, tmp / "o2", "warm, --jobs 1", jobs=1)
        cold_1 = time_ours(assignment, small, tmp / "o3", "cold, --jobs 1", jobs=1, warm=False)
        cold_n = time_ours(assignment, small, tmp / "o4", f"cold, --jobs {jobs}", jobs=jobs, warm=False)
        cluster = time_cluster(assignment, small, tmp / "o5", tmp)
        print(f"  warm vs cold: {cold_1 / warm_1:.2f}x with --jobs 1, {cold_n / warm_n:.2f}x with --jobs {jobs}; "
              f"--jobs {jobs} vs 1 (warm): {warm_1 / warm_n:.2f}x; Dask vs local warm --jobs {jobs}: "
              f"{warm_n / cluster:.2f}x")
        print(f"  a class of 300: {300 * warm_n / 60:.1f} min warm with --jobs {jobs} "
              f"(cold: {300 * cold_n / 60:.1f} min)")
        if args.nbgrader_students:
            anchor = time_nbgrader(assignment, release_dir, tmp / "course", names[: args.nbgrader_students])
            print(f"  eecs498 grade (warm, --jobs {jobs}) vs nbgrader autograde, per submission: "
                  f"{anchor / warm_n:.1f}x faster")
        for other_id in ("a2_linear", "a3_mlp", "a4_cnn")[: 3 if args.others else 0]:
            other = find_assignment(other_id)
            checkpoints = sample_class_module(other).checkpoints(other, "fashion_mnist") \
                if hasattr(sample_class_module(other), "checkpoints") else {}
            other_release = release_assignment(other, tmp / f"release-{other_id}")
            make_class(other, other_release, tmp / other_id, args.others, checkpoints)
            print(f"{other_id}: {args.others} complete submissions (checkpoints trained by its sample class)",
                  flush=True)
            time_ours(other, tmp / other_id, tmp / f"o-{other_id}", f"warm, --jobs {jobs}", jobs=jobs)


if __name__ == "__main__":
    main()
