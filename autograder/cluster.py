"""Grading a class on a Dask distributed cluster, when one machine is not enough.

``eecs498 grade A SUBMISSIONS --out OUT --scheduler tcp://HOST:PORT`` (or ``--scheduler-file F``)
sends one task per submission to the cluster instead of the local process pool. A task carries the
submission's bytes (workers need not see the submissions folder; each runs the same checkout of
this repository, started e.g. as ``dask worker tcp://HOST:PORT --nthreads 1``) and is keyed by
assignment, student and submission digest. It grades exactly as a local worker does — its own
sandboxes, its own warm template — and returns the grade as plain data; the client writes each
student's reports atomically as results arrive. A lost worker costs only the tasks in flight (Dask
runs them again elsewhere); a lost scheduler costs only unfinished students, since a rerun skips
those whose results are on disk.
"""
from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from pathlib import Path

from autograder.reports import StudentGrade
from autograder.suite import TestResult
from autograder.unpack import Submission, submission_digest


def submission_bytes(submission: Submission) -> bytes:
    """A zip submission's bytes, or a folder's files zipped (names relative to the folder)."""
    if not submission.path.is_dir():
        return submission.path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in submission.path.rglob("*") if p.is_file() and not p.is_symlink()):
            archive.write(path, path.relative_to(submission.path).as_posix())
    return buffer.getvalue()


def grade_task(assignment_id: str, student: str, data: bytes, problem: str, digest: str, device: str,
               limits: dict | None, allow_unsafe: bool) -> dict:
    """What a worker runs for one submission: grade it from its bytes; the grade as plain data."""
    from autograder.grading import grade_submission
    from autograder.sandbox import Limits, require_isolation
    from eecs498.assignment import find_assignment

    require_isolation(allow_unsafe)
    assignment = find_assignment(assignment_id)
    with tempfile.TemporaryDirectory(prefix="eecs498-task-") as tmp:
        path = Path(tmp) / f"{student}.zip"
        path.write_bytes(data)
        grade = grade_submission(assignment, Submission(student, path, problem),
                                 Limits(**limits) if limits else None, device)
    grade.submission_sha256 = digest  # the client's digest of what it sent (a folder was zipped)
    return dataclasses.asdict(grade)


def worker_check(allow_unsafe: bool) -> dict:
    """Run on every worker before grading: its isolation and its sandbox's preflight."""
    from autograder.sandbox import preflight, require_isolation

    return {"isolation": require_isolation(allow_unsafe), **preflight()}


def grade_from_dict(data: dict) -> StudentGrade:
    tests = [TestResult(**t) for t in data.pop("tests")]
    return StudentGrade(tests=tests, **data)


def connect(scheduler: str):
    """A Dask client of the scheduler at ``tcp://HOST:PORT``, or of the one a scheduler file names."""
    from distributed import Client

    if "://" in scheduler:
        return Client(scheduler, timeout=60)
    return Client(scheduler_file=scheduler, timeout=60)


def grade_on_cluster(assignment, pending: list[Submission], scheduler: str, on_grade, limits=None,
                     device: str = "cpu", allow_unsafe: bool = False) -> None:
    """Grade ``pending`` on the cluster; call ``on_grade(submission, grade)`` as each arrives."""
    from distributed import as_completed

    client = connect(scheduler)
    try:
        checks = client.run(worker_check, allow_unsafe)  # IsolationError from a worker stops here
        if not checks:
            raise RuntimeError(f"the Dask cluster at {scheduler} has no workers")
        futures = {}
        for submission in pending:
            digest = submission_digest(submission.path, submission.problem)
            key = f"grade-{assignment.id}-{submission.student}-{digest[:16]}"
            future = client.submit(grade_task, assignment.id, submission.student, submission_bytes(submission),
                                   submission.problem, digest, device,
                                   dataclasses.asdict(limits) if limits else None, allow_unsafe, key=key, pure=False)
            futures[future] = submission
        for future in as_completed(futures):
            on_grade(futures[future], grade_from_dict(future.result()))
    finally:
        client.close()
