"""``eecs498 demo``: the whole flow on embedded defaults, for every assignment with a sample class.

For each one it releases the assignment, builds its sample class (the standard students —
complete, untouched, null — and the assignment's own partial, buggy and hostile ones, from
``autograder/suites/<id>/sample_class.py``; see :mod:`autograder.samples`), grades them in
parallel in the sandbox, records them in an nbgrader gradebook, prints the table and checks each
student's score against what the sample class documents.
"""
from __future__ import annotations

from pathlib import Path

import click

from autograder.release import release_assignment
from autograder.samples import build_sample_class, expected_scores, score_matches
from autograder.suite import SAMPLE_CLASS_FILE, SUITES_DIR
from eecs498.assignment import AssignmentError, find_assignment


def sample_classes() -> list[str]:
    """The assignments that have a sample class, in order."""
    found = []
    for path in sorted(SUITES_DIR.glob(f"*/{SAMPLE_CLASS_FILE}")):
        try:
            find_assignment(path.parent.name)
        except AssignmentError:
            continue  # a staff folder whose assignment folder is gone
        found.append(path.parent.name)
    return found


def unexpected_scores(assignment, grades) -> list[str]:
    """A sentence for each student whose score is not what the sample class documents."""
    expected = expected_scores(assignment)
    problems = []
    for grade in grades:
        want = expected.get(grade.student)
        if want is not None and not score_matches(grade.score, want):
            shown = f"between {want[0]:g} and {want[1]:g}" if isinstance(want, tuple) else f"{want:g}"
            problems.append(f"{assignment.id}/{grade.student}: scored {grade.score:g}, documented {shown}")
    return problems


def demo_assignment(assignment, folder: Path, jobs: int | None = None, dataset: str | None = None,
                    progress: bool = True):
    """Release ``assignment`` into ``folder/release``, build its sample class in
    ``folder/submissions`` and grade it into ``folder/grades``; return ``(kit, grades)``."""
    from autograder.grading import grade_and_record

    release_dir = release_assignment(assignment, folder / "release")
    kit = build_sample_class(assignment, release_dir, _fresh(folder / "submissions"), dataset)
    grades = grade_and_record(assignment, kit.out, folder / "grades", jobs=jobs, force=True, progress=progress)
    return kit, grades


def run_demo(out: Path, jobs: int | None = None, assignments: tuple[str, ...] | None = None,
             dataset: str | None = None) -> dict[str, list]:
    """For each assignment: release, build the sample class, grade it, print the table and paths.

    Everything for one assignment goes to ``out/<assignment>/`` (release, submissions, grades).
    Returns each assignment's grades; raises :class:`click.ClickException` when a score differs
    from what its sample class documents.
    """
    from autograder.reports import summary_table

    results, problems = {}, []
    for assignment_id in assignments or tuple(sample_classes()):
        assignment = find_assignment(assignment_id)
        folder = out / assignment.id
        click.echo(f"\n== {assignment.title} ==")
        click.echo(f"releasing {assignment.id}, building its sample class and grading it in the sandbox ...")
        kit, grades = demo_assignment(assignment, folder, jobs, dataset)
        click.echo(f"released to {kit.release_dir} (verified: no solution text, stubs raise, modules import); "
                   f"{len(kit.written)} sample submissions in {kit.out}")
        click.echo(summary_table(grades))
        isolation = sorted({g.isolation for g in grades if g.isolation})
        click.echo(f"\nsandbox:   {', '.join(isolation) or 'n/a'}")
        click.echo(f"grades:    {folder / 'grades' / 'grades.csv'}")
        click.echo(f"feedback:  {folder / 'grades'}/<student>/feedback.html (and results.json for Gradescope)")
        click.echo(f"gradebook: {folder / 'grades' / 'nbgrader'} (nbgrader formgrader for the written answers)")
        problems += unexpected_scores(assignment, grades)
        results[assignment.id] = grades
    if problems:
        raise click.ClickException("scores differ from what the sample classes document:\n  "
                                   + "\n  ".join(problems))
    click.echo("\nevery sample student scored what its sample class documents")
    return results


def _fresh(folder: Path) -> Path:
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    return folder
