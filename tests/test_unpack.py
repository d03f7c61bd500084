"""Submissions are unpacked into a private folder; bad zips are refused and never escape it."""
from __future__ import annotations

import os
import stat
import zipfile

import pytest

from autograder.unpack import SubmissionRejected, unpack_submission

EXPECTED = ("knn.py", "knn.ipynb")


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_top_level_files(tmp_path):
    z = make_zip(tmp_path / "alice.zip", {"knn.py": "x = 1\n", "knn.ipynb": "{}", "notes.txt": "hi"})
    out = unpack_submission(z, tmp_path / "out", EXPECTED)
    assert out.files == ["knn.ipynb", "knn.py"] and out.missing == []
    assert (tmp_path / "out" / "knn.py").read_text() == "x = 1\n"
    assert not (tmp_path / "out" / "notes.txt").exists() and "notes.txt" in out.notes[0]


def test_files_inside_one_top_level_folder(tmp_path):
    z = make_zip(tmp_path / "a.zip", {"A1/knn.py": "y = 2\n", "__MACOSX/A1/._knn.py": "junk"})
    out = unpack_submission(z, tmp_path / "out", EXPECTED)
    assert out.files == ["knn.py"] and out.missing == ["knn.ipynb"] and out.notes == []


def test_a_file_under_the_courses_name_is_read_under_ours(tmp_path):
    z = make_zip(tmp_path / "c.zip", {"knn.py": "x = 1\n", "model.pth": b"weights"})
    out = unpack_submission(z, tmp_path / "out", ("knn.py", "model.pt"), {"model.pt": ("model.pth",)})
    assert out.files == ["knn.py", "model.pt"] and out.missing == []
    assert (tmp_path / "out" / "model.pt").read_bytes() == b"weights"
    assert out.notes == ["read model.pth as model.pt"]


def test_our_name_wins_over_an_alternative(tmp_path):
    z = make_zip(tmp_path / "c.zip", {"model.pt": b"ours", "model.pth": b"theirs"})
    out = unpack_submission(z, tmp_path / "out", ("model.pt",), {"model.pt": ("model.pth",)})
    assert (tmp_path / "out" / "model.pt").read_bytes() == b"ours" and "model.pth" in out.notes[0]


def test_folder_submission(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "knn.py").write_text("z = 3\n")
    out = unpack_submission(tmp_path / "bob", tmp_path / "out", EXPECTED)
    assert out.files == ["knn.py"]


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "C:\\evil.py"])
def test_path_traversal_is_refused_and_nothing_escapes(tmp_path, name):
    z = make_zip(tmp_path / "a.zip", {name: "boom", "knn.py": "x"})
    with pytest.raises(SubmissionRejected, match="unsafe path"):
        unpack_submission(z, tmp_path / "deep" / "out", EXPECTED)
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "deep" / "evil.py").exists()


def test_symlink_in_zip_is_refused(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as archive:
        info = zipfile.ZipInfo("knn.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(SubmissionRejected, match="symbolic link"):
        unpack_submission(z, tmp_path / "out", EXPECTED)


def test_symlink_in_folder_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    os.symlink("/etc/passwd", tmp_path / "s" / "knn.py")
    with pytest.raises(SubmissionRejected, match="symbolic link"):
        unpack_submission(tmp_path / "s", tmp_path / "out", EXPECTED)


def test_corrupt_zip_is_refused(tmp_path):
    z = tmp_path / "a.zip"
    z.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(SubmissionRejected, match="not a valid zip"):
        unpack_submission(z, tmp_path / "out", EXPECTED)


def test_encrypted_zip_is_refused(tmp_path):
    z = make_zip(tmp_path / "a.zip", {"knn.py": "x"})
    data = bytearray(z.read_bytes())
    data[6] |= 0x1  # the local header's flag bits
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x1  # and the central directory's
    z.write_bytes(bytes(data))
    with pytest.raises(SubmissionRejected, match="encrypted"):
        unpack_submission(z, tmp_path / "out", EXPECTED)


def test_zip_bomb_is_refused(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("knn.py", b"\0" * (300 * 2**20))
    with pytest.raises(SubmissionRejected, match="absurd size"):
        unpack_submission(z, tmp_path / "out", EXPECTED)


def test_one_oversized_file_is_refused(tmp_path):
    z = tmp_path / "big.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("knn.py", b"#" * (21 * 2**20))
    with pytest.raises(SubmissionRejected, match="too large"):
        unpack_submission(z, tmp_path / "out", EXPECTED)


def test_not_a_zip_or_folder(tmp_path):
    (tmp_path / "x.tar").write_text("nope")
    with pytest.raises(SubmissionRejected, match="neither"):
        unpack_submission(tmp_path / "x.tar", tmp_path / "out", EXPECTED)
