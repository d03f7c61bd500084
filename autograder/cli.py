"""Instructor commands of ``eecs498``: release (and, as they land, references, grade, ...)."""
from __future__ import annotations

from pathlib import Path

import click

from eecs498.assignment import AssignmentError, find_assignment


def _assignment(name: str):
    try:
        return find_assignment(name)
    except AssignmentError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("assignment")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/release"),
              show_default=True, help="The student version goes to OUT/<assignment>/.")
def release(assignment: str, out: Path) -> None:
    """Build and verify the student version of ASSIGNMENT (e.g. a1_knn)."""
    from autograder.release import ReleaseError, release_assignment

    try:
        folder = release_assignment(_assignment(assignment), out)
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"released {assignment} to {folder} (verified: no solution text, stubs raise, modules import)")


@click.command()
@click.argument("assignment")
def references(assignment: str) -> None:
    """Record the hidden reference outputs of ASSIGNMENT from its source solutions.

    Runs the hidden suite (autograder/suites/ASSIGNMENT/) against the source solutions in the
    sandbox, as a student's code runs, and writes what the tests compare against to
    autograder/suites/ASSIGNMENT/references.ref. Needed after changing the source modules, the
    hidden suite, autograder/suite_helpers.py or a given file: until then `grade` refuses the
    stale references. It prints how many references changed from the recorded ones."""
    from autograder.references import record_references
    from autograder.suite import GraderBug

    try:
        path, changed, total = record_references(_assignment(assignment))
    except GraderBug as exc:
        raise click.ClickException(str(exc)) from exc
    shown = f": {', '.join(changed[:8])}" + (" ..." if len(changed) > 8 else "") if changed else ""
    click.echo(f"wrote {path}: {total} references, {len(changed)} changed from the recorded ones{shown}")


@click.command()
@click.argument("assignment")
@click.argument("submissions", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where grades.csv and <student>/results.json, feedback.html go.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [default: cores].")
@click.option("--force", is_flag=True, help="Regrade students whose submission did not change.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the student code runs its tensors.")
@click.option("--gradebook", "course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="nbgrader course directory to record grades in [default: OUT/nbgrader].")
@click.option("--allow-unsafe", is_flag=True,
              help="Grade even where student code cannot be isolated (no bubblewrap and not root); every "
                   "report says so.")
@click.option("--scheduler", default=None, metavar="ADDRESS|FILE",
              help="Grade on a Dask cluster: its scheduler's tcp://HOST:PORT, or a scheduler file (workers: "
                   "`dask worker ADDRESS --nthreads 1` in a checkout of this repository).")
def grade(assignment: str, submissions: Path, out: Path, jobs: int | None, force: bool, device: str,
          course: Path | None, allow_unsafe: bool, scheduler: str | None) -> None:
    """Grade every submission in SUBMISSIONS (<student>.zip or <student>/ each)."""
    from autograder.grading import grade_and_record
    from autograder.references import StaleReferences
    from autograder.reports import summary_table
    from autograder.sandbox import IsolationError

    course = course or out / "nbgrader"
    try:
        grades = grade_and_record(_assignment(assignment), submissions, out, jobs, force, device, course,
                                  allow_unsafe=allow_unsafe, scheduler=scheduler)
    except (StaleReferences, FileNotFoundError, ValueError, IsolationError) as exc:  # NoSubmissions included
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.secho("\ninterrupted: the students graded so far are kept in "
                    f"{out}; nobody in progress was recorded. Run the same command again to go on.", fg="yellow",
                    err=True)
        raise SystemExit(130) from None
    click.echo(summary_table(grades))
    if grades.skipped:
        click.echo(f"{len(grades.skipped)} of {len(grades)} students were unchanged since they were graded and kept "
                   "their results (--force grades them again)")
    click.echo(f"gradebook: {course / 'gradebook.db'} (nbgrader formgrader / `nbgrader export` in {course})")
    isolation = sorted({g.isolation for g in grades if g.isolation})
    for level in isolation:
        if not level.startswith("bubblewrap"):
            click.secho(f"WARNING: student code ran with {level}", fg="red", err=True)
    click.echo(f"\n{len(grades)} students: {out / 'grades.csv'}, feedback in {out}/<student>/feedback.html")


@click.command()
@click.argument("assignment")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The autograder zip to upload to Gradescope.")
@click.option("--dataset", "datasets", multiple=True, type=click.Choice(["fashion_mnist", "cifar10"]),
              help="A dataset setup.sh fetches for the hidden tests (repeatable) [default: fashion_mnist when "
                   "the assignment uses it; add cifar10 when students may train on CIFAR-10].")
def gradescope(assignment: str, out: Path, datasets: tuple[str, ...]) -> None:
    """Build a Gradescope autograder zip (setup.sh, run_autograder) for ASSIGNMENT."""
    from autograder.gradescope import build_autograder_zip
    from autograder.references import StaleReferences

    try:
        path = build_autograder_zip(_assignment(assignment), out, datasets or None)
    except StaleReferences as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}: upload it as the assignment's autograder on Gradescope")


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/demo"), show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [default: cores].")
@click.option("--assignment", "assignments", multiple=True,
              help="Only this assignment (repeatable) [default: every assignment with a sample class].")
def demo(out: Path, jobs: int | None, assignments: tuple[str, ...]) -> None:
    """Release each assignment, build sample submissions (complete, untouched, partial, buggy,
    hostile, hanging, corrupt...), grade them in parallel and print the tables."""
    from autograder.demo import run_demo, sample_classes

    known = sample_classes()
    unknown = [a for a in assignments if a not in known]
    if unknown:
        raise click.ClickException(f"no sample class for {unknown}; known: {known}")
    run_demo(out, jobs, assignments or None)


@click.command()
@click.argument("assignment_id")
@click.option("--title", default=None, help="The title students see [default: '<id>: a new assignment'].")
@click.option("--module", default=None, help="The student module's name [default: the id after 'aN_'].")
def new(assignment_id: str, title: str | None, module: str | None) -> None:
    """Write a working skeleton of a new assignment's two folders: assignments/ASSIGNMENT_ID/ (a
    module with one function and its solution region, a notebook, assignment.toml) and
    autograder/suites/ASSIGNMENT_ID/ (one hidden test, a sample class)."""
    from autograder.skeleton import SkeletonError, new_assignment

    try:
        folder, staff = new_assignment(assignment_id, title, module)
    except SkeletonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {folder} (what students get) and {staff} (hidden tests, sample class)\nnext:")
    click.echo(f"  eecs498 references {assignment_id}          # record the hidden references from the solution")
    click.echo(f"  eecs498 demo --assignment {assignment_id}   # release it, build its sample class, grade it")
    click.echo("then grow it: README.md, section 'Writing an assignment'")


def register(group: click.Group) -> None:
    """Add the instructor commands to the ``eecs498`` command group."""
    for command in (new, release, references, grade, gradescope, demo):
        group.add_command(command)
