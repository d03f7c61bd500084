"""Benchmark: each source notebook's wall time beside its budget (5 minutes on a 2-core CPU).

    .venv/bin/python scripts/bench_notebooks.py [--assignment a1_knn ...] [--threads 1]

Runs every notebook of every assignment (or those named) top to bottom with nbclient in a fresh
kernel, in a copy of its source folder, with the default dataset (Fashion-MNIST offline), and
prints a table: notebook, seconds, budget, seconds / budget. Budgets are measured here, never
asserted by a test: a loaded machine is slower, not wrong. Exits non-zero if a notebook raised.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eecs498.assignment import find_assignment  # noqa: E402

BUDGET_S = 300


def run(folder: Path, name: str) -> tuple[float, str]:
    nb = nbformat.read(folder / name, as_version=4)
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    try:
        client.execute()
        status = "ok"
    except Exception as exc:  # noqa: BLE001 - reported in the table
        status = f"raised {type(exc).__name__}"
    return time.perf_counter() - start, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each kernel (default 1)")
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS=str(args.threads), MPLBACKEND="Agg")
    ids = args.assignment or sorted(p.parent.name for p in (ROOT / "assignments").glob("*/assignment.toml"))
    rows, failed = [], False
    for assignment_id in ids:
        assignment = find_assignment(assignment_id)
        with tempfile.TemporaryDirectory(prefix="eecs498-bench-nb-") as tmp:
            folder = Path(tmp) / assignment.id
            shutil.copytree(assignment.root, folder, ignore=shutil.ignore_patterns("*.pt", ".ipynb_checkpoints"))
            assignment.write_given_files(folder)
            for name in assignment.notebooks:
                seconds, status = run(folder, name)
                failed |= status != "ok"
                rows.append((f"{assignment.id}/{name}", seconds, status))
                print(f"{assignment.id}/{name}: {seconds:.0f} s ({status})", flush=True)
    print(f"\n{'notebook':58} {'seconds':>8} {'budget':>7} {'ratio':>6}  status")
    for name, seconds, status in rows:
        print(f"{name:58} {seconds:8.0f} {BUDGET_S:7d} {seconds / BUDGET_S:6.2f}  {status}")
    print(f"\n{sum(s <= BUDGET_S for _, s, _ in rows)} of {len(rows)} notebooks within the {BUDGET_S} s budget "
          f"({args.threads} torch thread{'s' if args.threads > 1 else ''} per kernel, {os.cpu_count()} cores)")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
