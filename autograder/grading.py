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
import signal
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
from autograder.sandbox import (
    Limits,
    Sandbox,
    limits_for,
    preflight,
    protect_course_material,
    require_isolation,
    warm_template,
)
from autograder.suite import SUITES_DIR, StudentCode, TestResult, run_suite, suite_dir
from autograder.unpack import Submission, SubmissionRejected, find_submissions, submission_digest, unpack_submission
from eecs498.assignment import Assignment


def zero_results(assignment: Assignment, message: str) -> list[TestResult]:
    """Every group at zero with the same message: used when nothing of a submission could run."""
    return [TestResult(g.description or g.name, g.name, 0.0, g.points, False, message) for g in assignment.groups]


def grade_submission(assignment: Assignment, submission: Submission, limits: Limits | None = None,
                     device: str = "cpu", check_fresh: bool = True, warm: bool = True) -> StudentGrade:
    """Unpack, run the hidden suite in a fresh sandbox, and return the grade (never raises).

    With ``warm`` (the default) the sandbox's children are forked from this process's warm template
    (:func:`~autograder.sandbox.warm_template`) where one can be had: bubblewrap, CPU grading."""
    start = time.monotonic()
    grade = StudentGrade(submission.student, 0.0, assignment.max_score, [],
                         submission_digest(submission.path, submission.problem))
    try:
        references = load_references(assignment, check_fresh)
        if submission.problem:
            grade.rejected = submission.problem
            grade.tests = zero_results(assignment, f"not graded: {submission.problem}")
            return grade
        with tempfile.TemporaryDirectory(prefix="eecs498-grade-") as tmp:
            try:
                unpacked = unpack_submission(submission.path, Path(tmp) / "submission", assignment.submit,
                                             assignment.alternative_names)
            except SubmissionRejected as exc:
                grade.rejected = str(exc)
                grade.tests = zero_results(assignment, f"not graded: {exc}")
                return grade
            grade.notes += unpacked.notes
            other = other_assignment(assignment, unpacked.ignored) if not unpacked.files else None
            if other:
                grade.rejected = (f"this looks like a submission for {other.id} ({other.title}): it holds "
                                  f"{', '.join(sorted(set(other.submit) & {Path(n).name for n in unpacked.ignored}))}, "
                                  f"none of {assignment.id}'s files ({', '.join(assignment.submit)})")
                grade.tests = zero_results(assignment, f"not graded: {grade.rejected}")
                return grade
            if unpacked.missing:
                grade.notes.append(f"missing files: {', '.join(unpacked.missing)}")
            assignment.write_given_files(unpacked.folder)  # the course's copy, never the student's
            limits = limits or limits_for(assignment)
            template = warm_template(limits, device) if warm else None
            with Sandbox(unpacked.folder, limits, device=device, template=template) as sandbox:
                grade.isolation = sandbox.isolation
                grade.tests = run_suite(assignment, StudentCode(sandbox, unpacked.folder, assignment), references)
    except Exception as exc:  # a grader-side failure: that student only, loudly
        grade.rejected = f"{INTERNAL_ERROR}, tell the course staff: {type(exc).__name__}: {exc}"
        grade.tests = zero_results(assignment, "not graded because of an internal grader error")
        grade.notes.append(traceback.format_exc(limit=3))
    finally:
        grade.score = round(sum(t.score for t in grade.tests), 6)
        grade.seconds = time.monotonic() - start
    return grade


def other_assignment(assignment: Assignment, names: list[str]) -> Assignment | None:
    """The assignment whose submitted files best match ``names`` (a submission holding none of
    ``assignment``'s files), or None."""
    from eecs498.assignment import AssignmentError, load_assignment

    held = {Path(n).name for n in names}
    best, overlap = None, 0
    for toml in sorted(assignment.root.parent.glob("*/assignment.toml")):
        if toml.parent == assignment.root:
            continue
        try:
            candidate = load_assignment(toml.parent)
        except AssignmentError:
            continue
        common = len(held & set(candidate.submit))
        if common > overlap:
            best, overlap = candidate, common
    return best


class ClassGrades(list):
    """The grades of a class (a list of :class:`StudentGrade`), and who was skipped as unchanged."""

    skipped: list[str]


class NoSubmissions(ValueError):
    """The submissions folder holds nothing to grade."""


def _grade_and_write(assignment: Assignment, submission: Submission, out: Path,
                     limits: Limits | None, device: str, warm: bool = True) -> StudentGrade:
    grade = grade_submission(assignment, submission, limits, device, warm=warm)
    if _terminating:  # the stop arrived mid-grade and may have been caught as a failure: record nothing
        raise SystemExit(128 + signal.SIGTERM)
    write_student_reports(grade, out / submission.student, assignment)
    return grade


INTERNAL_ERROR = "internal grader error"
REPO = Path(__file__).resolve().parent.parent


def course_material(assignment: Assignment, *folders: Path) -> list[Path]:
    """What a student uid must not read when isolation relies on a uid drop: the hidden suites and
    references, the source solutions, the project's tests (they hold solutions too), its history
    and builds, and ``folders`` (the results and gradebook)."""
    return [SUITES_DIR, assignment.root.parent, REPO / "tests", REPO / ".git", REPO / "build", *folders]


def already_graded(out: Path, submission: Submission) -> StudentGrade | None:
    """The stored grade when ``results.json`` exists for this exact submission (None when it
    holds an internal grader error: a rerun grades those again)."""
    path = out / submission.student / "results.json"
    if not path.is_file():
        return None
    try:
        grade = grade_from_results(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    if grade.rejected.startswith(INTERNAL_ERROR):
        return None
    return grade if grade.submission_sha256 == submission_digest(submission.path, submission.problem) else None


def grade_class(assignment: Assignment, submissions: Path, out: Path, jobs: int | None = None,
                force: bool = False, limits: Limits | None = None, device: str = "cpu",
                progress: bool = True, allow_unsafe: bool = False, protect: tuple[Path, ...] = (),
                warm: bool = True, scheduler: str | None = None) -> list[StudentGrade]:
    """Grade every submission in ``submissions`` into ``out``; return all grades (sorted by student).

    Writes ``<out>/<student>/results.json`` and ``feedback.html`` per student and ``<out>/grades.csv``.
    Students whose unchanged submission was already graded are skipped unless ``force``. Refuses
    (:class:`~autograder.sandbox.IsolationError`) where student code cannot be isolated, unless
    ``allow_unsafe``; where isolation is a uid drop, first makes the course material (and
    ``protect``) unreadable to students. With ``scheduler`` (``tcp://HOST:PORT`` or a scheduler
    file) the submissions are graded on that Dask cluster (:mod:`autograder.cluster`) instead of
    local worker processes.
    """
    if not suite_dir(assignment.id).is_dir():
        raise FileNotFoundError(f"{assignment.id} has no hidden suite under {suite_dir(assignment.id)}")
    load_references(assignment)  # fail fast, before any work, when the references are stale
    out.mkdir(parents=True, exist_ok=True)
    if require_isolation(allow_unsafe) == "uid":
        protect_course_material(course_material(assignment, out, *protect))
    preflight(limits or limits_for(assignment), device)  # IsolationError, before any grade is written
    pending, grades = [], ClassGrades()
    found = find_submissions(submissions, assignment.id)
    if not found:
        raise NoSubmissions(f"no submissions in {submissions}: expected <student>.zip, <student>_{assignment.id}.zip "
                            "or <student>/ folders")
    for submission in found:
        done = None if force else already_graded(out, submission)
        (grades.append(done) if done else pending.append(submission))
    grades.skipped = [g.student for g in grades]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(pending) or 1))
    bar = tqdm(total=len(pending), desc=f"grading {assignment.id}", unit="student", disable=not progress)
    if scheduler:
        from autograder.cluster import grade_on_cluster

        def record(submission: Submission, grade: StudentGrade) -> None:
            write_student_reports(grade, out / submission.student, assignment)
            grades.append(grade)
            bar.update()

        grade_on_cluster(assignment, pending, scheduler, record, limits, device, allow_unsafe)
    elif jobs == 1:
        for submission in pending:
            grades.append(_grade_and_write(assignment, submission, out, limits, device, warm))
            bar.update()
    else:
        # Fresh interpreters, not forks: a fork of a process that already ran torch (its thread
        # pools, locks held by other threads) can deadlock in the child. Workers ignore Ctrl-C:
        # this process stops them, so that no student in progress is recorded.
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, initializer=_init_worker)
        try:
            futures = {pool.submit(_grade_and_write, assignment, s, out, limits, device, warm): s for s in pending}
            for future in as_completed(futures):
                try:
                    grades.append(future.result())
                except Exception as exc:  # the worker process itself died
                    submission = futures[future]
                    grade = StudentGrade(submission.student, 0.0, assignment.max_score,
                                         zero_results(assignment, "not graded: the grading worker died"),
                                         rejected=f"{INTERNAL_ERROR}: the grading worker died ({exc})")
                    write_student_reports(grade, out / submission.student, assignment)
                    grades.append(grade)
                bar.update()
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown()
    bar.close()
    grades.sort(key=lambda g: g.student)
    write_atomic(out / "grades.csv", grades_csv(grades))
    return grades



def _init_worker() -> None:
    """A grading worker ignores Ctrl-C (the parent stops it) and leaves cleanly when terminated:
    its sandbox is closed and nothing is written for the student in progress."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_terminate)


_terminating = False  # set in a worker once it was told to stop


def _exit_on_terminate(signum, frame) -> None:
    global _terminating
    _terminating = True
    raise SystemExit(128 + signum)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now (an interrupt): what they were grading is not recorded."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(10)


def grade_and_record(assignment: Assignment, submissions: Path, out: Path, jobs: int | None = None,
                     force: bool = False, device: str = "cpu", course: Path | None = None,
                     progress: bool = True, allow_unsafe: bool = False, scheduler: str | None = None
                     ) -> list[StudentGrade]:
    """:func:`grade_class`, then the grades into the nbgrader gradebook at ``course`` (default ``out/nbgrader``)."""
    from autograder.gradebook import record_grades

    course = course or out / "nbgrader"
    grades = grade_class(assignment, submissions, out, jobs=jobs, force=force, device=device, progress=progress,
                         allow_unsafe=allow_unsafe, protect=(course,), scheduler=scheduler)
    record_grades(course, assignment, grades, find_submissions(submissions, assignment.id))
    return grades
