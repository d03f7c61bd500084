"""Hostile submissions against the sandbox: each attack is student code, and each must fail.

The secrets are real: the hidden suites and references of this checkout, another student's
submission beside this one, an environment variable of the grader, a server on the grader's
loopback. These tests need bubblewrap (``make install`` installs it as root on Debian; else
``apt-get install bubblewrap``): without it grading is not isolated, and these tests say so.
"""
from __future__ import annotations

import os
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import autograder
from autograder.sandbox import FULL_ISOLATION, Limits, Sandbox, bubblewrap_problem

pytestmark = pytest.mark.xdist_group("sandbox")

AUTOGRADER = Path(autograder.__file__).resolve().parent
SECRET_FILES = [AUTOGRADER / "suites" / "a1_knn" / "test_knn.py", AUTOGRADER / "suite.py",
                AUTOGRADER / "suites" / "a1_knn" / "references.ref"]

ATTACKS = textwrap.dedent('''
    import os
    import socket
    import subprocess
    import sys
    import time

    def read(path):
        with open(path, "rb") as f:
            return f.read(100)

    def listdir(path):
        return sorted(os.listdir(path))

    def import_grader():
        import autograder.suite
        return autograder.suite.__file__

    def connect(port):
        socket.create_connection(("127.0.0.1", port), timeout=2).sendall(b"stolen")
        return "connected"

    def resolve(host):
        return socket.gethostbyname(host)

    def kill(pid):
        os.kill(pid, 9)
        return "killed"

    def environment():
        return dict(os.environ)

    def capabilities():
        with open("/proc/self/status") as f:
            return [line.split()[1] for line in f if line.startswith("CapEff")][0]

    def write(path):
        with open(path, "w") as f:
            f.write("owned")
        return "written"

    def fork_many(count):
        children = []
        try:
            for _ in range(count):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            return len(children), str(exc)
        return len(children), ""

    def fill_disk(megabytes):
        block = b"x" * 2**20
        with open("big.bin", "wb") as f:
            for _ in range(megabytes):
                f.write(block)
        return "filled"

    def leave_daemon(marker):
        if os.fork() == 0:
            os.setsid()
            os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"])
        return "left"

    def forge_reply():
        for fd in range(3, 10):
            try:
                os.write(fd, (10**12).to_bytes(8, "big") + b"forged")
            except OSError:
                pass
        time.sleep(0.2)
        return "forged"

    def ok():
        return "still alive"
''')


@pytest.fixture(scope="module")
def isolated():
    problem = bubblewrap_problem()
    if problem:
        pytest.fail(f"grading is not isolated on this machine: {problem}; install bubblewrap "
                    "(scripts/install-system-packages.sh)")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """The attacker's submission and a classmate's, side by side."""
    root = tmp_path_factory.mktemp("classroom")
    attacker, classmate = root / "mallory", root / "alice"
    attacker.mkdir()
    classmate.mkdir()
    (attacker / "attack.py").write_text(ATTACKS)
    (classmate / "knn.py").write_text("ANSWER = 'alice worked hard'\n")
    return attacker, classmate


@pytest.fixture(scope="module")
def sandbox(isolated, classroom):
    with Sandbox(classroom[0], Limits(call_timeout_s=20)) as box:
        assert box.isolation == FULL_ISOLATION
        yield box


def expect_refused(result, *allowed_kinds):
    assert not result.ok, f"the attack succeeded: {result.value!r}"
    assert result.kind in (allowed_kinds or ("exception",)), result


@pytest.mark.parametrize("secret", SECRET_FILES, ids=lambda p: p.name)
def test_cannot_read_hidden_tests_or_references(sandbox, secret):
    if secret.suffix == ".ref" and not secret.exists():
        pytest.fail("references for a1_knn are not recorded: run `eecs498 references a1_knn`")
    expect_refused(sandbox.call("attack.read", str(secret)))


def test_cannot_see_the_course_folder_or_import_the_grader(sandbox):
    expect_refused(sandbox.call("attack.listdir", str(AUTOGRADER)))
    expect_refused(sandbox.call("attack.import_grader"))


def test_cannot_read_another_submission(sandbox, classroom):
    classmate = classroom[1]
    expect_refused(sandbox.call("attack.read", str(classmate / "knn.py")))
    expect_refused(sandbox.call("attack.listdir", str(classmate.parent)))


def test_sees_only_its_own_files(sandbox):
    assert sandbox.call("attack.listdir", ".").value == ["attack.py"]


def listening_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    received = []

    def accept():
        try:
            connection, _ = server.accept()
            received.append(connection.recv(100))
        except OSError:
            pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return server, thread, received


def test_cannot_reach_a_server_on_the_graders_loopback(sandbox):
    server, thread, received = listening_server()
    try:
        expect_refused(sandbox.call("attack.connect", server.getsockname()[1]))
        expect_refused(sandbox.call("attack.resolve", "pypi.org"))
    finally:
        server.close()
        thread.join(6)
    assert received == []


def test_cannot_signal_the_grader(sandbox):
    expect_refused(sandbox.call("attack.kill", os.getpid()))
    assert sandbox.call("attack.ok").value == "still alive"


def test_grader_environment_does_not_leak(sandbox, monkeypatch):
    monkeypatch.setenv("EECS498_GRADER_SECRET", "hunter2")
    with Sandbox(sandbox.submission_dir) as fresh:
        environment = fresh.call("attack.environment").value
    assert "EECS498_GRADER_SECRET" not in environment and "hunter2" not in str(environment)


def test_runs_without_capabilities(sandbox):
    assert int(sandbox.call("attack.capabilities").value, 16) == 0


@pytest.mark.parametrize("target", ["/usr/lib/owned", "/sandbox/lib/eecs498/__init__.py", "/etc/passwd"])
def test_system_and_helper_files_are_read_only(sandbox, target):
    expect_refused(sandbox.call("attack.write", target))


def test_writes_outside_stay_in_the_sandbox(sandbox, tmp_path):
    sandbox.call("attack.write", str(tmp_path / "planted.txt"))
    assert not (tmp_path / "planted.txt").exists()


def test_process_count_is_capped(sandbox):
    result = sandbox.call("attack.fork_many", 500)
    assert result.ok, result
    started, error = result.value
    assert started < 500 and error, "the sandbox let a submission start 500 processes"
    assert sandbox.call("attack.ok").value == "still alive"


def test_file_size_is_capped(isolated, classroom):
    with Sandbox(classroom[0], Limits(file_size_mb=8)) as box:
        expect_refused(box.call("attack.fill_disk", 50), "disk")
        assert box.call("attack.ok").ok


def test_background_processes_die_with_the_sandbox(isolated, classroom):
    marker = f"eecs498-daemon-{os.getpid()}-{time.monotonic_ns()}"
    with Sandbox(classroom[0]) as box:
        assert box.call("attack.leave_daemon", marker).value == "left"
    time.sleep(1)
    survivors = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                survivors.append(proc.name)
        except OSError:
            continue
    assert survivors == []


def test_a_forged_reply_costs_only_that_call(sandbox):
    result = sandbox.call("attack.forge_reply")
    assert result.ok or result.kind == "bad_output"
    assert sandbox.call("attack.ok").value == "still alive"


def test_the_grader_process_holds_the_secrets_the_child_cannot(sandbox):
    # The same read works in the grader: the files are there, the sandbox hides them.
    assert SECRET_FILES[0].read_bytes()
    assert sys.modules.get("attack") is None  # student code never ran in this process
