"""The trusted side of grading: release, sandbox, hidden suites, references, reports. Never shipped to students."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def environ_with_venv_scripts() -> dict[str, str]:
    """``os.environ`` with this interpreter's scripts folder first on PATH.

    nbgrader runs its database migrations through the ``alembic`` script of its environment,
    which is not on PATH when the venv is used without being activated.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": path if path.split(os.pathsep)[0] == scripts else scripts + os.pathsep + path}
