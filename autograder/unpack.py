"""Turn one student's submission (a zip or a folder) into a private folder of the expected files.

Only regular files named in the assignment's ``submit`` list are taken; everything is copied by
reading bytes and writing them into ``dest``, so nothing is ever written outside it. A bad zip
(corrupt, encrypted, path traversal, symlinks, absurd sizes) is refused with a message: it costs
that student only.
"""
from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_FILE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 60 * 2**20
MAX_ENTRIES = 500
# A student name becomes a folder, a gradebook id, a CSV cell and a terminal line: letters, digits,
# "_", "." and "-", starting with a letter or digit (what `eecs498 submit` accepts).
STUDENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Names of the class-wide files and folders `grade` writes beside the per-student folders.
RESERVED_NAMES = {"grades.csv", "grades", "nbgrader", "results.json", "feedback.html", "summary.txt"}


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path  # a .zip or a folder
    problem: str = ""  # why it cannot be graded (a bad name, a duplicate): costs that student only


def find_submissions(folder: Path, assignment_id: str) -> list[Submission]:
    """One submission per ``<student>.zip`` / ``<student>_<assignment>.zip`` / ``<student>/``.

    A name that is not a valid student name (or would collide with the class files) is kept under a
    safe name with a ``problem``; two files for the same student become one submission whose
    ``problem`` names both. Neither stops the others being graded.
    """
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() or path.suffix == ".zip":
            student = path.stem if path.suffix == ".zip" else path.name
            found.setdefault(student.removesuffix(f"_{assignment_id}"), []).append(path)
    submissions = []
    for student, paths in found.items():
        name, problem = safe_student_name(student)
        if len(paths) > 1:
            problem = (f"two submissions for {name}: {' and '.join(repr(p.name) for p in paths)}; "
                       "keep exactly one and grade again")
        submissions.append(Submission(name, paths[0], problem))
    return sorted(submissions, key=lambda s: s.student)


def safe_student_name(name: str) -> tuple[str, str]:
    """``(name, '')`` for a valid student name; else a safe stand-in and why it was needed."""
    if STUDENT_NAME.match(name) and name.lower() not in RESERVED_NAMES:
        return name, ""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40].lstrip("._-") or "student"
    safe = f"invalid-{safe}-{hashlib.sha256(name.encode(errors='replace')).hexdigest()[:8]}"
    return safe, (f"the submission's name {ascii(name)} is not a valid student name (letters, digits, _ . -, "
                  "not the name of a class file such as grades.csv); rename it to the student's uniqname")


def submission_digest(path: Path, problem: str = "") -> str:
    """SHA-256 of a zip's bytes or of a folder's files (names and contents), and of the problem
    that kept it from being graded (so that fixing the problem regrades it)."""
    digest = hashlib.sha256(problem.encode())
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0" + file.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


class SubmissionRejected(Exception):
    """The whole submission is unusable; the message tells the student why."""


@dataclass
class Unpacked:
    folder: Path
    files: list[str]
    missing: list[str]
    notes: list[str] = field(default_factory=list)  # ignored extras and the like, for the feedback
    ignored: list[str] = field(default_factory=list)  # the submission's other files


def unpack_submission(source: Path, dest: Path, expected: tuple[str, ...],
                      alternatives: dict[str, tuple[str, ...]] | None = None) -> Unpacked:
    """Copy the ``expected`` files of ``source`` (a ``.zip`` or a folder) into the new folder ``dest``.

    The expected files may sit at the top level or inside a single top-level folder. An expected
    file that is absent may come under one of its ``alternatives`` (the course's name for it, e.g.
    ``one_minute_deepconvnet.pth`` for ``one_minute_deepconvnet.pt``); it is written under the
    expected name. Raises :class:`SubmissionRejected` for an unusable submission.
    """
    dest.mkdir(parents=True, exist_ok=False)
    if source.is_dir() and not source.is_symlink():
        members = _folder_members(source)
    elif source.is_file() and source.suffix == ".zip":
        members = _zip_members(source)
    else:
        raise SubmissionRejected(f"{source.name} is neither a .zip file nor a folder")
    chosen, notes, ignored = _choose(members, expected, alternatives or {})
    total = 0
    for name, read in chosen.items():
        data = read()
        total += len(data)
        if len(data) > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise SubmissionRejected(f"{name} is too large (limit {MAX_FILE_BYTES // 2**20} MB per file)")
        (dest / name).write_bytes(data)
    missing = [name for name in expected if name not in chosen]
    return Unpacked(dest, sorted(chosen), missing, notes, ignored)


def _choose(members: dict[str, callable], expected: tuple[str, ...],
            alternatives: dict[str, tuple[str, ...]]) -> tuple[dict, list[str], list[str]]:
    """Map each expected name to a reader, accepting one optional top-level folder."""
    prefixes = [""] + sorted({name.split("/")[0] + "/" for name in members if "/" in name})
    names = {e: (e, *alternatives.get(e, ())) for e in expected}
    prefix = max(prefixes, key=lambda p: sum(any(p + n in members for n in names[e]) for e in expected))
    chosen, used, notes = {}, set(), []
    for e in expected:
        for name in names[e]:
            if prefix + name in members:
                chosen[e] = members[prefix + name]
                used.add(prefix + name)
                if name != e:
                    notes.append(f"read {name} as {e}")
                break
    ignored = [n for n in sorted(members) if n not in used
               and not n.startswith("__MACOSX/") and not n.endswith(".DS_Store")]
    if ignored:
        notes.append(f"ignored files that the assignment does not ask for: {', '.join(ignored[:10])}"
                     + (" ..." if len(ignored) > 10 else ""))
    return chosen, notes, ignored


def _zip_members(path: Path) -> dict[str, callable]:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SubmissionRejected(f"{path.name} is not a valid zip file ({exc}); re-create it with `eecs498 submit`")
    if len(infos) > MAX_ENTRIES:
        raise SubmissionRejected(f"{path.name} holds {len(infos)} entries (limit {MAX_ENTRIES})")
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES * 4:
        raise SubmissionRejected(f"{path.name} unpacks to an absurd size; submit only the assignment files")
    members = {}
    for info in infos:
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (name[1:2] == ":"):
            raise SubmissionRejected(f"{path.name} contains the unsafe path {name!r}")
        if info.flag_bits & 0x1:
            raise SubmissionRejected(f"{path.name} is encrypted; submit an unencrypted zip")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise SubmissionRejected(f"{path.name} contains a symbolic link ({name}); submit plain files")
        if info.is_dir():
            continue
        members[str(pure)] = _zip_reader(archive, info, path.name)
    return members


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, zip_name: str):
    def read() -> bytes:
        try:
            with archive.open(info) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)  # bounded even if the header lies
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
            raise SubmissionRejected(f"{zip_name}: {info.filename} cannot be read ({exc})")
        return data

    return read


def _folder_members(folder: Path) -> dict[str, callable]:
    members = {}
    for path in sorted(folder.rglob("*")):
        if len(members) > MAX_ENTRIES:
            raise SubmissionRejected(f"{folder.name} holds too many files (limit {MAX_ENTRIES})")
        if path.is_symlink():
            raise SubmissionRejected(f"{folder.name} contains a symbolic link ({path.relative_to(folder)})")
        if path.is_file():
            members[path.relative_to(folder).as_posix()] = _file_reader(path)
    return members


def _file_reader(path: Path):
    def read() -> bytes:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)

    return read
