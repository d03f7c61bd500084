"""Grade one submission, or a whole class in parallel, against the hidden suite and references.

Each student is graded in a worker process of the grader (trusted: it holds the suite and the
references) that talks to that student's own sandboxed child. A failure of one student — a bad
zip, a crash, even a bug in the grader — is recorded for that student and the batch goes on.
Results are written per student as soon as they exist, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from autograder.references import load_references
from autograder.reports import (
    StudentGrade,
    grade_from_results,
    grades_csv,
    write_atomic,
    write_student_reports,
)
from autograder.sandbox import Limits, Sandbox
from autograder.suite import StudentCode, TestResult, run_suite, suite_dir
from autograder.unpack import Submission, SubmissionRejected, find_submissions, submission_digest, unpack_submission
from eecs498.assignment import Assignment


def zero_results(assignment: Assignment, message: str) -> list[TestResult]:
    """Every group at zero with the same message: used when nothing of a submission could run."""
    return [TestResult(g.description or g.name, g.name, 0.0, g.points, False, message) for g in assignment.groups]


def grade_submission(assignment: Assignment, submission: Submission, limits: Limits | None = None,
                     device: str = "cpu", check_fresh: bool = True) -> StudentGrade:
    """Unpack, run the hidden suite in a fresh sandbox, and return the grade (never raises)."""
    start = time.monotonic()
    grade = StudentGrade(submission.student, 0.0, assignment.max_score, [],
                         submission_digest(submission.path))
    try:
        references = load_references(assignment, check_fresh)
        with tempfile.TemporaryDirectory(prefix="eecs498-grade-") as tmp:
            try:
                unpacked = unpack_submission(submission.path, Path(tmp) / "submission", assignment.submit,
                                             assignment.alternative_names)
            except SubmissionRejected as exc:
                grade.rejected = str(exc)
                grade.tests = zero_results(assignment, f"not graded: {exc}")
                return grade
            grade.notes += unpacked.notes
            if unpacked.missing:
                grade.notes.append(f"missing files: {', '.join(unpacked.missing)}")
            assignment.write_given_files(unpacked.folder)  # the course's copy, never the student's
            with Sandbox(unpacked.folder, limits or Limits(), device=device) as sandbox:
                grade.isolation = sandbox.isolation
                grade.tests = run_suite(assignment, StudentCode(sandbox, unpacked.folder), references)
    except Exception as exc:  # a grader-side failure: that student only, loudly
        grade.rejected = f"internal grader error, tell the course staff: {type(exc).__name__}: {exc}"
        grade.tests = zero_results(assignment, "not graded because of an internal grader error")
        grade.notes.append(traceback.format_exc(limit=3))
    finally:
        grade.score = round(sum(t.score for t in grade.tests), 6)
        grade.seconds = time.monotonic() - start
    return grade


def _grade_and_write(assignment: Assignment, submission: Submission, out: Path,
                     limits: Limits | None, device: str) -> StudentGrade:
    grade = grade_submission(assignment, submission, limits, device)
    write_student_reports(grade, out / submission.student, assignment.title)
    return grade


def already_graded(out: Path, submission: Submission) -> StudentGrade | None:
    """The stored grade when ``results.json`` exists for this exact submission."""
    path = out / submission.student / "results.json"
    if not path.is_file():
        return None
    try:
        grade = grade_from_results(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return grade if grade.submission_sha256 == submission_digest(submission.path) else None


def grade_class(assignment: Assignment, submissions: Path, out: Path, jobs: int | None = None,
                force: bool = False, limits: Limits | None = None, device: str = "cpu",
                progress: bool = True) -> list[StudentGrade]:
    """Grade every submission in ``submissions`` into ``out``; return all grades (sorted by student).

    Writes ``<out>/<student>/results.json`` and ``feedback.html`` per student and ``<out>/grades.csv``.
    Students whose unchanged submission was already graded are skipped unless ``force``.
    """
    if not suite_dir(assignment.id).is_dir():
        raise FileNotFoundError(f"{assignment.id} has no hidden suite under {suite_dir(assignment.id)}")
    load_references(assignment)  # fail fast, before any work, when the references are stale
    out.mkdir(parents=True, exist_ok=True)
    pending, grades = [], []
    for submission in find_submissions(submissions, assignment.id):
        done = None if force else already_graded(out, submission)
        (grades.append(done) if done else pending.append(submission))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(pending) or 1))
    bar = tqdm(total=len(pending), desc=f"grading {assignment.id}", unit="student", disable=not progress)
    if jobs == 1:
        for submission in pending:
            grades.append(_grade_and_write(assignment, submission, out, limits, device))
            bar.update()
    else:
        # Fresh interpreters, not forks: a fork of a process that already ran torch (its thread
        # pools, locks held by other threads) can deadlock in the child.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
            futures = {pool.submit(_grade_and_write, assignment, s, out, limits, device): s for s in pending}
            for future in as_completed(futures):
                try:
                    grades.append(future.result())
                except Exception as exc:  # the worker process itself died
                    submission = futures[future]
                    grade = StudentGrade(submission.student, 0.0, assignment.max_score,
                                         zero_results(assignment, "not graded: the grading worker died"),
                                         rejected=f"internal grader error: {exc}")
                    write_student_reports(grade, out / submission.student, assignment.title)
                    grades.append(grade)
                bar.update()
    bar.close()
    grades.sort(key=lambda g: g.student)
    write_atomic(out / "grades.csv", grades_csv(grades))
    return grades



def grade_and_record(assignment: Assignment, submissions: Path, out: Path, jobs: int | None = None,
                     force: bool = False, device: str = "cpu", course: Path | None = None,
                     progress: bool = True) -> list[StudentGrade]:
    """:func:`grade_class`, then the grades into the nbgrader gradebook at ``course`` (default ``out/nbgrader``)."""
    from autograder.gradebook import record_grades

    grades = grade_class(assignment, submissions, out, jobs=jobs, force=force, device=device, progress=progress)
    record_grades(course or out / "nbgrader", assignment, grades, find_submissions(submissions, assignment.id))
    return grades
