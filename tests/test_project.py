"""The project's own test machinery: what `make test` relies on to stay within its time."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path):
    """`make test` runs `-n 2 --dist loadgroup`: each assignment's sample class is graded once, by the
    worker that runs every test of its group. A pytest that breaks the grouping (9.2, pytest-xdist
    #1386) grades each class twice, ten minutes more; this notices it."""
    (tmp_path / "test_grouped.py").write_text(textwrap.dedent("""\
        import os
        import pytest
        pytestmark = pytest.mark.xdist_group("one")

        @pytest.mark.parametrize("i", range(6))
        def test_worker(i):
            with open("workers.txt", "a") as f:
                f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
        """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p",
                           "no:cacheprovider", "test_grouped.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
