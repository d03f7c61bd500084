"""The warm template: a sandboxed process that has imported torch and forks one child per submission.

Started by :class:`autograder.sandbox.Template` as ``python -I -B <lib>/eecs498_child/__main__.py
--template <work root> <lib> <control fd>`` inside the sandbox (as PID 1 of its PID namespace under
bubblewrap, so no child can signal it). It imports torch, numpy and the helpers once, makes itself
non-dumpable (no child can ptrace it or read its memory), and then obeys the grader on the control
socket, one message at a time:

* ``{"op": "spawn", "name": n, "limits": {...}}`` with three file descriptors (requests, replies,
  log): forks a child that copies the submission from ``/sandbox/incoming`` into a fresh
  ``<work root>/<n>``, lowers its limits, and serves calls there exactly as a cold child does;
  answers ``{"pid": ...}``.
* ``{"op": "cpu"}``: the CPU seconds the live child has used so far.
* ``{"op": "reset"}``: kills every other process it can see (the child and all it started, daemons
  included), reaps them, wipes the work root and ``/tmp``; answers the child's exit status and the
  CPU seconds they all used. The next child starts in a sandbox holding nothing of the last one.

The template never imports a student module and never runs a torch operation (forking after one
could copy held locks into the child).
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
INCOMING = "/sandbox/incoming"


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _wipe(folder: str) -> None:
    for entry in os.scandir(folder):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _child(name: str, limits: dict, fds: list[int], work_root: str, lib: str, control: socket.socket) -> None:
    """In the forked child: a fresh work folder with the submission, its limits, then serve."""
    from eecs498_child import __main__ as child

    control.close()
    os.setsid()
    work = os.path.join(work_root, name)
    shutil.copytree(INCOMING, work, dirs_exist_ok=True)
    for folder, _, files in os.walk(work):
        os.chmod(folder, 0o777)
        for file in files:
            os.chmod(os.path.join(folder, file), 0o666)
    for kind, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, kind), (value, value + 2 if kind == "RLIMIT_CPU" else value))
        except (ValueError, OSError, AttributeError):
            pass
    requests, replies, log = fds
    os.dup2(requests, 0)
    os.dup2(log, 2)
    for fd in (requests, log):
        os.close(fd)
    os.chdir(work)
    sys.path.insert(1, work)  # after the helpers: a student's file never shadows them
    child.serve(open(0, "rb", closefd=False), replies, work)
    os._exit(0)


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _reset(child: int | None, work_root: str) -> dict:
    """Kill every other process, reap them all, wipe the scratch space."""
    status, cpu = None, 0.0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)  # every process this one may signal, itself excluded
        except ProcessLookupError:
            pass
        try:
            pid, code, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += usage.ru_utime + usage.ru_stime
        if pid == child:
            status = -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)
    for folder in (work_root, "/tmp"):
        _wipe(folder)
    return {"status": status, "cpu": cpu}


def main(work_root: str, lib: str, control_fd: int) -> None:
    sys.path[:0] = [lib]
    import numpy  # noqa: F401 - imported once here, inherited by every child
    import torch  # noqa: F401

    import eecs498  # noqa: F401
    from eecs498_child import __main__ as _child_module  # noqa: F401
    from eecs498_child import drivers, wire  # noqa: F401

    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # daemons a child leaves behind become ours to kill and reap    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=control_fd)
    child: int | None = None
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 65536, 3)
        except OSError:
            return
        if not message:
            return
        request = json.loads(message)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(str(request["name"]), request["limits"], fds, work_root, lib, control)
            for fd in fds:
                os.close(fd)
            child = pid
            answer = {"pid": pid}
        elif request["op"] == "cpu":
            answer = {"cpu": _cpu_of(child) if child else 0.0}
        elif request["op"] == "reset":
            answer = _reset(child, work_root)
            child = None
        else:
            answer = {"error": f"unknown op {request['op']!r}"}
        control.sendall(json.dumps(answer).encode())
