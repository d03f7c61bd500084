"""The ``eecs498`` command. Students use ``submit``; the instructor commands (release, grade, ...)
are added from the ``autograder`` package, which exists only in the course repository."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import click

from eecs498.submit import SubmissionError, make_submission


@click.group()
def main() -> None:
    """EECS 498 assignments: submit your work, or (course staff) release and grade."""


@main.command()
@click.argument("assignment_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--student", prompt="Your uniqname", help="Your uniqname (letters, digits, _ . -).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Where to write the zip.")
@click.option("--no-import-check", is_flag=True, help="Skip importing the .py modules first.")
@click.option("--strict", is_flag=True, help="Refuse when a file is missing (by default the rest is zipped).")
def submit(assignment_dir: Path, student: str, out_dir: Path | None, no_import_check: bool, strict: bool) -> None:
    """Check ASSIGNMENT_DIR (default: here) and write <student>_<assignment>.zip.

    Unfinished work may be submitted: each missing file is named with the points it costs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            path = make_submission(assignment_dir, student, out_dir, check_imports=not no_import_check,
                                   strict=strict)
        except SubmissionError as exc:
            raise click.ClickException(str(exc)) from exc
    for warning in caught:
        click.secho(f"warning: {warning.message}", fg="yellow", err=True)
    click.echo(f"wrote {path}")


if importlib.util.find_spec("autograder") is not None:  # the course repository, not a student's copy
    from autograder.cli import register

    register(main)
