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
from autograder.sandbox import FULL_ISOLATION, Limits, Sandbox, Template, bubblewrap_problem
from helpers import no_bubblewrap_environment, world_readable_folder

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

    def ids():
        return [os.getuid(), os.geteuid()]

    def leave_traces(marker):
        """What a student might leave for the next one graded by the same warm template."""
        with open("left-behind.txt", "w") as f:
            f.write("for the next student")
        with open("/tmp/left-behind.txt", "w") as f:
            f.write("for the next student")
        os.environ["EECS498_LEFT"] = "yes"
        import torch
        torch.add = lambda *a, **k: "poisoned"
        return leave_daemon(marker)

    def traces():
        """What this child finds of a student graded before it."""
        import torch
        others = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid()))
        return {"files": sorted(os.listdir(".")), "tmp": sorted(os.listdir("/tmp")),
                "env": os.environ.get("EECS498_LEFT"), "torch_add": repr(torch.add(torch.ones(1), 1)),
                "processes": [open(f"/proc/{p}/cmdline", "rb").read()[:80] for p in others]}

    def attack_template():
        """Signal, ptrace and read the memory of the template (PID 1 of the sandbox)."""
        import ctypes, signal as signals
        found = {}
        try:
            os.kill(1, signals.SIGKILL)
            found["kill"] = "sent"
        except OSError as exc:
            found["kill"] = type(exc).__name__
        libc = ctypes.CDLL(None, use_errno=True)
        found["ptrace"] = libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH
        try:
            with open("/proc/1/mem", "rb") as f:
                f.read(16)
            found["mem"] = "read"
        except OSError as exc:
            found["mem"] = type(exc).__name__
        return found
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
def template(isolated):
    """A warm template (what grading workers keep): children forked from it must hold as a cold one."""
    warm = Template(Limits(call_timeout_s=20))
    yield warm
    warm.close()


@pytest.fixture(scope="module", params=["cold", "warm"])
def sandbox(request, isolated, classroom, template):
    """Every attack below runs against a cold child and against one forked from a warm template."""
    with Sandbox(classroom[0], Limits(call_timeout_s=20), template=template if request.param == "warm" else None) as box:
        assert box.isolation == FULL_ISOLATION
        assert (box.template is not None) == (request.param == "warm")
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


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_grader_environment_does_not_leak(sandbox, monkeypatch, warm):
    monkeypatch.setenv("EECS498_GRADER_SECRET", "hunter2")
    template = Template(Limits()) if warm else None  # made with the secret in the grader's environment
    try:
        with Sandbox(sandbox.submission_dir, template=template) as fresh:
            environment = fresh.call("attack.environment").value
    finally:
        if template is not None:
            template.close()
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


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_background_processes_die_with_the_sandbox(isolated, classroom, template, warm):
    marker = f"eecs498-daemon-{os.getpid()}-{time.monotonic_ns()}"
    with Sandbox(classroom[0], template=template if warm else None) as box:
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


# ----------------------------------------------------------------------------------------------
# reduced isolation: no bubblewrap (Gradescope's container), the grader is root

REDUCED_ATTACKS = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path

    from autograder.sandbox import Limits, Sandbox, processes_of, protect_course_material

    course, submission, marker = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    secret = course / "suites" / "references.ref"
    seen = {}
    with Sandbox(submission, Limits(call_timeout_s=120)) as box:
        def attempt(name, *args):
            result = box.call(f"attack.{name}", *args)
            return {"ok": result.ok, "value": repr(result.value)[:200], "kind": result.kind}
        seen["mode"], seen["uid"] = box.mode, box.uid
        seen["read_before"] = attempt("read", str(secret))
        protect_course_material([course / "suites"])
        seen["read_after"] = attempt("read", str(secret))
        seen["list_after"] = attempt("listdir", str(course / "suites"))
        seen["ids"] = box.call("attack.ids").value
        seen["kill_grader"] = attempt("kill", os.getpid())
        seen["write_grader_file"] = attempt("write", str(course / "grades.csv"))
        seen["daemon"] = attempt("leave_daemon", marker)
        seen["fork_many"] = attempt("fork_many", 500)
        seen["alive"] = attempt("ok")
    seen["left"] = processes_of(seen["uid"])
    print(json.dumps(seen))
''')


def test_without_bubblewrap_student_code_runs_as_its_own_uid_and_leaves_nothing(shared_python, classroom, tmp_path):
    import json
    import shutil
    import subprocess

    course = world_readable_folder("eecs498-reduced-course-")
    try:
        (course / "suites").mkdir(mode=0o755)
        (course / "suites" / "references.ref").write_text("the hidden references")
        (course / "grades.csv").write_text("student,score\n")
        os.chmod(course / "suites" / "references.ref", 0o644)
        marker = f"eecs498-reduced-daemon-{os.getpid()}-{time.monotonic_ns()}"
        script = tmp_path / "reduced_attacks.py"
        script.write_text(REDUCED_ATTACKS)
        proc = subprocess.run([str(shared_python), str(script), str(course), str(classroom[0]), marker],
                              env=no_bubblewrap_environment(tmp_path), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert seen["mode"] == "uid" and seen["uid"] >= 200_000
        assert seen["read_before"]["ok"], "the test is void: the secret was unreadable before the grader protected it"
        assert not seen["read_after"]["ok"] and not seen["list_after"]["ok"]
        assert seen["ids"] == [seen["uid"]] * 2 and 0 not in seen["ids"]
        assert not seen["kill_grader"]["ok"] and not seen["write_grader_file"]["ok"]
        assert (course / "grades.csv").read_text() == "student,score\n"
        started, error = eval(seen["fork_many"]["value"])  # (count, message), from our own test code
        assert started < 500 and error, "the uid's process limit did not hold"
        assert seen["daemon"]["ok"] and seen["alive"]["ok"]
        assert seen["left"] == [], "processes of the student uid outlived the sandbox"
        time.sleep(1)
        assert not any(marker.encode() in _cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit())
    finally:
        shutil.rmtree(course, ignore_errors=True)


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_without_any_isolation_grading_refuses_unless_told(monkeypatch, tmp_path):
    """Not root and no bubblewrap: `grade` and `run_autograder` refuse, saying why and how to fix it."""
    from autograder import gradescope, sandbox as sandbox_module
    from autograder.grading import grade_class
    from eecs498.assignment import find_assignment

    monkeypatch.setattr(sandbox_module, "bubblewrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(sandbox_module.os, "geteuid", lambda: 1000)
    assert sandbox_module.isolation_mode() == "none"
    with pytest.raises(sandbox_module.IsolationError, match="install bubblewrap") as refused:
        grade_class(find_assignment("a1_knn"), tmp_path, tmp_path / "out", progress=False)
    assert "--allow-unsafe" in str(refused.value) and "read the hidden tests" in str(refused.value)
    with pytest.raises(sandbox_module.IsolationError):
        gradescope.run("a1_knn", tmp_path)
    assert not (tmp_path / "results" / "results.json").exists()
    assert sandbox_module.require_isolation(allow_unsafe=True) == "none"


# ----------------------------------------------------------------------------------------------
# budgets, disk and the wire

BUDGET_ATTACKS = textwrap.dedent('''
    import os
    import time

    def spin():
        while True:
            pass

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        return "burnt"

    def fill(folder, megabytes):
        block = b"x" * 2**20
        with open(os.path.join(folder, "big.bin"), "wb") as f:
            for _ in range(megabytes):
                f.write(block)
        return "filled"

    def ok():
        return "still alive"
''')


@pytest.fixture(scope="module")
def budget_attacker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("budget")
    (folder / "attack.py").write_text(BUDGET_ATTACKS)
    return folder


def test_a_submission_that_uses_up_its_wall_budget_loses_the_remaining_tests_with_one_message(budget_attacker):
    # The budget counts the child's start too: 20 s leave room for a slow start on a loaded machine.
    with Sandbox(budget_attacker, Limits(call_timeout_s=60, budget_s=20)) as box:
        assert box.call("attack.ok").ok
        spun = box.call("attack.spin")  # its timeout is cut to what is left of the budget
        assert spun.kind == "timeout"
        later = [box.call("attack.ok") for _ in range(3)]
    assert all(r.kind == "budget" for r in later)
    assert len({r.error for r in later}) == 1 and "grading budget (20 s of wall time" in later[0].error


def test_a_submission_that_uses_up_its_cpu_budget_loses_the_remaining_tests(budget_attacker):
    with Sandbox(budget_attacker, Limits(call_timeout_s=120, cpu_budget_s=3)) as box:
        burnt = box.call("attack.burn", 30)  # its CPU limit is what is left of the budget
        assert not burnt.ok and burnt.kind == "timeout" and "CPU" in burnt.error, burnt
        assert box.call("attack.ok").kind == "budget"


@pytest.mark.parametrize("folder", ["/tmp", "."], ids=["tmp", "work"])
def test_the_sandbox_disk_is_size_limited_and_says_so(isolated, budget_attacker, folder):
    with Sandbox(budget_attacker, Limits(disk_mb=16, file_size_mb=64)) as box:
        result = box.call("attack.fill", folder, 40)
        assert result.kind == "disk" and "filled the sandbox's disk" in result.error, result
        assert box.call("attack.ok").ok


def test_a_reply_header_over_its_cap_is_refused_before_it_is_parsed():
    from autograder.child import wire

    header = b'{"value":["str","' + b"x" * (wire.MAX_HEADER_BYTES + 10) + b'"],"blobs":[]}'
    payload = wire.MAGIC + len(header).to_bytes(8, "big") + header
    with pytest.raises(wire.WireError, match="header of .* exceeds the limit"):
        wire.decode(payload)


# ----------------------------------------------------------------------------------------------
# warm templates: one sandboxed process per grading worker forks every student's child


def test_successive_students_on_one_template_share_nothing(template, classroom, tmp_path):
    """A student leaves files in its folder and /tmp, an environment variable, a patched torch and a
    daemon; the next student forked from the same template finds none of them."""
    marker = f"eecs498-warm-daemon-{os.getpid()}-{time.monotonic_ns()}"
    with Sandbox(classroom[0], template=template) as first:
        assert first.call("attack.leave_traces", marker).value == "left"
        assert "left-behind.txt" in first.call("attack.listdir", ".").value
    other = tmp_path / "next"
    other.mkdir()
    (other / "attack.py").write_text(ATTACKS)
    with Sandbox(other, template=template) as second:
        assert second.template is template
        found = second.call("attack.traces").value
    assert found["files"] == ["attack.py"] and found["tmp"] == [] and found["env"] is None
    assert found["torch_add"] == "tensor([2.])"
    assert found["processes"] == [], "a process of the previous student survived"


def test_a_child_can_neither_signal_nor_ptrace_nor_read_the_template(template, classroom):
    with Sandbox(classroom[0], template=template) as box:
        found = box.call("attack.attack_template").value
    assert found["ptrace"] == -1 and found["mem"] in ("PermissionError", "OSError")
    assert template.alive(), "a child killed the template"
    with Sandbox(classroom[0], template=template) as box:  # and it still serves the next student
        assert box.call("attack.ok").value == "still alive"
