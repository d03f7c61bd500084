"""Grading on a real Dask cluster on loopback: a scheduler and two workers as separate processes.

One worker is killed with SIGKILL (its whole process group: nanny and worker) while it holds
tasks; its submissions are graded elsewhere, and every result equals a local run's.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.grading import grade_class
from autograder.samples import replace_functions, sample_class_module
from eecs498.assignment import find_assignment
from helpers import write_folder, write_zip

pytestmark = pytest.mark.xdist_group("cluster")
ROOT = Path(__file__).resolve().parent.parent
A1 = find_assignment("a1_knn")
SCRIPTS = Path(sys.executable).parent


def comparable(grade) -> tuple:
    return grade.score, grade.rejected, [(t.name, t.group, t.score, t.passed, t.message) for t in grade.tests]


@pytest.fixture
def cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (each its own process group)."""
    pytest.importorskip("distributed", reason="distributed is not installed (`make install` installs it)")
    from distributed import Client

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    file = tmp_path / "scheduler.json"
    processes = [subprocess.Popen([str(SCRIPTS / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(file)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    deadline = time.monotonic() + 120
    while not file.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    for name in ("w0", "w1"):
        processes.append(subprocess.Popen(
            [str(SCRIPTS / "dask"), "worker", "--scheduler-file", str(file), "--nworkers", "1", "--nthreads", "1",
             "--name", name, "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "6GiB"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    with Client(scheduler_file=str(file), timeout=120) as client:
        client.wait_for_workers(2, timeout=300)
    yield file, {"w0": processes[1], "w1": processes[2]}
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def a_class(folder: Path) -> Path:
    sample = sample_class_module(A1)
    complete = {name: (A1.root / name).read_text() for name in A1.modules}
    folder.mkdir()
    for i in range(4):
        write_zip(folder / f"full{i}.zip", complete)
    write_folder(folder / "ties", {**complete, "knn.py": replace_functions(complete["knn.py"], sample.TIES_TOWARD_LARGER)})
    write_zip(folder / "loop.zip", {**complete, "knn.py": replace_functions(complete["knn.py"], sample.WITH_LOOP)})
    write_folder(folder / "half", {"pytorch101.py": complete["pytorch101.py"]})
    return folder


def test_a_class_on_a_dask_cluster_grades_as_a_local_run_when_a_worker_dies_mid_task(cluster, tmp_path):
    from distributed import Client

    scheduler_file, workers = cluster
    submissions = a_class(tmp_path / "submissions")
    local = {g.student: comparable(g) for g in grade_class(A1, submissions, tmp_path / "local", jobs=1, progress=False)}

    killed = {}

    def kill_a_busy_worker():
        with Client(scheduler_file=str(scheduler_file), timeout=60) as watcher:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not killed:
                names = {address: info["name"] for address, info in watcher.scheduler_info()["workers"].items()}
                busy = {names[a]: keys for a, keys in watcher.processing().items() if keys and a in names}
                done = list((tmp_path / "remote").glob("*/results.json"))
                if done and busy:  # grading is under way: kill one worker holding tasks
                    name = sorted(busy)[0]
                    killed.update(name=name, tasks=len(busy[name]))
                    os.killpg(workers[name].pid, signal.SIGKILL)
                time.sleep(0.2)

    watcher = threading.Thread(target=kill_a_busy_worker, daemon=True)
    watcher.start()
    remote = grade_class(A1, submissions, tmp_path / "remote", scheduler=str(scheduler_file), progress=False)
    watcher.join(60)
    assert killed and killed["tasks"] >= 1, "no worker was killed while holding tasks: the test proved nothing"
    assert {g.student: comparable(g) for g in remote} == local
    assert sorted(p.parent.name for p in (tmp_path / "remote").glob("*/results.json")) == sorted(local)
