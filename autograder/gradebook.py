"""Record grades in nbgrader's gradebook, beside the manually graded notebook cells.

The gradebook is nbgrader's own database in an nbgrader course directory. For each notebook of
the assignment we register its grade cells (the written answers, graded by hand in formgrader)
plus one cell ``hidden_tests_<module>`` worth the hidden-test points of the module with the same
name (``knn.ipynb`` <- ``knn.py``). Each student's notebooks are placed in
``autograded/<student>/<assignment>/`` with that cell appended, showing the hidden-test outcome,
so formgrader displays it while the TA grades the written answers; ``nbgrader export`` then gives
each student's total.

A submitted notebook is data, never markup (:func:`rebuilt_notebook`): the copy in the gradebook
is rebuilt from the assignment's own cells (ids, types, nbgrader metadata, locked cells, text) and
takes from the student only the text of each written answer, matched by its grade id, bounded in
size, with raw HTML and script links neutralised. No output, attachment or metadata of the
student's survives, so nothing they wrote runs in formgrader and no cell id, grade id or point
value can be forged. A malformed notebook (invalid JSON, wrong types, unencodable text, huge)
becomes that student's notebook with empty answers and a note saying why. Nothing here runs
student code.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.unpack import Submission
from autograder import environ_with_venv_scripts
from autograder.reports import StudentGrade
from autograder.unpack import SubmissionRejected, unpack_submission
from eecs498.assignment import Assignment

MAX_ANSWER_CHARS = 20_000
SCRIPT_LINK = re.compile(r"\]\(\s*(javascript|vbscript|data)\s*:", re.IGNORECASE)
CONFIG = """\
# nbgrader configuration written by `eecs498 grade`; formgrader and `nbgrader export` read it.
c = get_config()
c.CourseDirectory.course_id = "eecs498"
c.CourseDirectory.root = {root!r}
"""


def hidden_cell_id(notebook: str) -> str:
    return f"hidden_tests_{Path(notebook).stem}"


def hidden_points(assignment: Assignment, notebook: str) -> float:
    """Hidden-test points shown in ``notebook``: those of the module with the same stem."""
    return assignment.module_points(Path(notebook).stem + ".py")


def open_course(course: Path, assignment: Assignment) -> Gradebook:
    """Create or update the course directory and register the assignment the way ``nbgrader
    generate_assignment`` does — its source notebooks under ``source/<assignment>/`` and its
    notebooks and grade cells in the database — so that formgrader lists it; return the gradebook."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course.resolve())))
    source = course / "source" / assignment.id
    source.mkdir(parents=True, exist_ok=True)
    for name in assignment.notebooks:
        shutil.copy2(assignment.root / name, source / name)
    os.environ.update(PATH=environ_with_venv_scripts()["PATH"])  # nbgrader migrates with `alembic`
    gradebook = Gradebook(f"sqlite:///{course.resolve() / 'gradebook.db'}", course_id="eecs498")
    gradebook.update_or_create_assignment(assignment.id)
    for name in assignment.notebooks:
        stem = Path(name).stem
        gradebook.update_or_create_notebook(stem, assignment.id)
        for cell in nbformat.read(assignment.root / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                gradebook.update_or_create_grade_cell(meta["grade_id"], stem, assignment.id,
                                                      max_score=float(meta["points"]), cell_type=cell.cell_type)
            if meta.get("solution"):
                gradebook.update_or_create_solution_cell(meta["grade_id"], stem, assignment.id)
        if hidden_points(assignment, name):
            gradebook.update_or_create_grade_cell(hidden_cell_id(name), stem, assignment.id,
                                                  max_score=hidden_points(assignment, name), cell_type="code")
    return gradebook


def hidden_tests_cell(grade: StudentGrade, assignment: Assignment, notebook: str) -> nbformat.NotebookNode:
    """A locked, read-only cell that reports the module's hidden tests inside the student's notebook."""
    module = Path(notebook).stem + ".py"
    groups = {g.name for g in assignment.groups if g.module == module}
    tests = [t for t in grade.tests if t.group in groups]
    score = sum(t.score for t in tests)
    lines = [f"# Hidden tests of {module}, graded by `eecs498 grade`: {score:g} / {hidden_points(assignment, notebook):g}"]
    lines += [f"# {'PASS' if t.passed else 'FAIL'} [{t.score:g}/{t.max_score:g}] {t.name}"
              + (f" -- {t.message}" if t.message else "") for t in tests]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "task": False,
                                 "grade_id": hidden_cell_id(notebook), "points": hidden_points(assignment, notebook),
                                 "schema_version": 3}
    cell.metadata["deletable"] = False
    cell.metadata["editable"] = False
    return cell


def record_grades(course: Path, assignment: Assignment, grades: list[StudentGrade],
                  submissions: list[Submission]) -> None:
    """Write every student's hidden-test scores and notebooks into the nbgrader course at ``course``."""
    by_student = {s.student: s for s in submissions}
    gradebook = open_course(course, assignment)
    try:
        with warnings.catch_warnings():
            # nbgrader's add_submission triggers SQLAlchemy autoflush warnings about its own objects
            warnings.filterwarnings("ignore", message="Object of type <Submitted")
            for grade in grades:
                gradebook.update_or_create_student(grade.student)
                timestamp = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
                try:
                    gradebook.find_submission(assignment.id, grade.student).timestamp = timestamp
                except MissingEntry:
                    gradebook.add_submission(assignment.id, grade.student, timestamp=timestamp)
                _place_notebooks(by_student.get(grade.student), course, grade, assignment, timestamp)
                for name in assignment.notebooks:
                    if not hidden_points(assignment, name):
                        continue
                    module = Path(name).stem + ".py"
                    cell = gradebook.find_grade(hidden_cell_id(name), Path(name).stem, assignment.id, grade.student)
                    cell.auto_score = sum(t.score for t in grade.tests
                                          if assignment.group(t.group).module == module)
                    cell.needs_manual_grade = False
                gradebook.db.commit()
    finally:
        gradebook.close()


def _place_notebooks(submission: Submission | None, course: Path, grade: StudentGrade, assignment: Assignment,
                     timestamp: datetime) -> None:
    """Put the student's rebuilt notebooks where nbgrader keeps them: ``submitted/<student>/<id>/``
    as submitted, and ``autograded/<student>/<id>/`` with the hidden-tests cell (what formgrader
    shows), each with the ``timestamp.txt`` that tells formgrader the autograded copy is current."""
    submitted_folder = course / "submitted" / grade.student / assignment.id
    autograded = course / "autograded" / grade.student / assignment.id
    for folder in (submitted_folder, autograded):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text(timestamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    with tempfile.TemporaryDirectory(prefix="eecs498-gradebook-") as tmp:
        try:
            unpacked = unpack_submission(submission.path, Path(tmp) / "s", assignment.submit,
                                         assignment.alternative_names) if submission and not submission.problem else None
        except SubmissionRejected:
            unpacked = None
        for name in assignment.notebooks:
            source = unpacked.folder / name if unpacked else None
            submitted = source.read_bytes() if source is not None and source.is_file() else None
            nb = rebuilt_notebook(assignment.root / name, submitted)
            nbformat.write(nb, submitted_folder / name)
            if hidden_points(assignment, name):
                nb.cells.append(hidden_tests_cell(grade, assignment, name))
            nbformat.write(nb, autograded / name)


def rebuilt_notebook(template: Path, submitted: bytes | None) -> nbformat.NotebookNode:
    """The assignment's notebook ``template`` with the student's written answers from
    ``submitted`` (raw bytes of their ``.ipynb``, or None when absent) and nothing else of theirs.

    Every cell, id and nbgrader field comes from the template; an answer cell (nbgrader
    ``solution``) gets the student's text for its grade id (or stays empty), bounded to
    :data:`MAX_ANSWER_CHARS` and made inert (:func:`inert_markdown`). A notebook that cannot be
    read gives empty answers and a first cell saying why."""
    nb = nbformat.read(template, as_version=4)
    answers, problem = _submitted_answers(submitted)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
        if meta.get("solution"):
            text = answers.get(meta.get("grade_id"), "")
            if len(text) > MAX_ANSWER_CHARS:
                text = text[:MAX_ANSWER_CHARS] + f"\n\n*(answer cut at {MAX_ANSWER_CHARS} characters)*"
            cell.source = inert_markdown(text) if cell.cell_type == "markdown" else text
    if problem:
        note = nbformat.v4.new_markdown_cell(f"**The submitted notebook could not be read ({problem}); its answers "
                                             "are empty here.**")
        note.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "task": False,
                                     "grade_id": "eecs498_unreadable_notebook", "schema_version": 3}
        nb.cells.insert(0, note)
    return nb


def inert_markdown(text: str) -> str:
    """Markdown that renders as the student wrote it but can run nothing: raw HTML is shown as
    text (``<`` and ``>`` as entities) and ``javascript:``/``data:`` links are broken."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return SCRIPT_LINK.sub(lambda m: "](#blocked-" + m.group(1).lower() + "-link:", text)


def _submitted_answers(submitted: bytes | None) -> tuple[dict[str, str], str]:
    """grade id -> the student's answer text, and '' or why the notebook could not be read."""
    if submitted is None:
        return {}, "it is missing from the submission"
    try:
        document = json.loads(submitted.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        return {}, f"it is not valid JSON: {str(exc)[:100]}"
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        return {}, "it has no list of cells"
    answers = {}
    for cell in cells[:5000]:
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
            continue
        meta = cell["metadata"].get("nbgrader")
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if isinstance(grade_id, str) and isinstance(source, str) and grade_id not in answers:
            answers[grade_id] = source.encode("utf-8", errors="replace").decode("utf-8")
    return answers, ""
