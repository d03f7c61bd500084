"""Run student code in an isolated child process and talk to it in plain data.

``Sandbox(submission_dir, limits)`` is a context manager. It copies the submission into a private
scratch folder beside a copy of the ``eecs498`` helpers and the call driver
(:mod:`autograder.child`), and starts ``python`` there under bubblewrap: new user, PID, network,
IPC, UTS and mount namespaces, uid 65534, no capabilities, read-only system and Python folders, a
writable copy of the submission and nothing else of the machine — no course folder, no hidden
tests, no references, no other submission, no network. Resource limits (CPU time, address space,
file size, open files, processes — a pids cgroup where one can be made) apply to the whole child.

``sandbox.call("knn.predict_labels", dists, y_train, k=3)`` returns a :class:`CallResult`: the
decoded value, or why there is none (``exception``, ``timeout``, ``crash``, ``memory``, ``missing``,
``import``, ``not_implemented``, ``bad_output``). A child that crashed or timed out is killed and a
fresh one serves the next call, so one bad call costs one test.

Disk: inside bubblewrap the work folder and ``/tmp`` are sized tmpfs (``Limits.disk_mb`` each),
filled with copies of the submission at every (re)start, so a restarted child starts clean.

Without bubblewrap (not installed, or namespaces forbidden — Gradescope's container, some laptops)
isolation is reduced but still isolation when the grader runs as root: the child drops to an
unprivileged uid of its own (one per sandbox), the grader makes the course material unreadable to
it (:func:`protect_course_material`), and when a child stops every process of that uid is killed,
so nothing a submission started outlives it. ``sandbox.isolation`` says which of these applied and
every report shows that line. Where neither bubblewrap nor a uid drop is possible, grading refuses
(:func:`require_isolation`) unless the staff passes ``--allow-unsafe``.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import itertools
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eecs498
from autograder.child import wire

CHILD_PACKAGE = Path(__file__).resolve().parent / "child"
HELPER_PACKAGE = Path(eecs498.__file__).resolve().parent
INSIDE = Path("/sandbox")  # where the scratch folder appears inside bubblewrap
NOBODY = 65534
FULL_ISOLATION = "bubblewrap: namespaces (user, pid, net, ipc, uts, mount), uid 65534, no network"
UID_ISOLATION = ("REDUCED ISOLATION ({problem}): student code ran as the unprivileged uid {uid} with the course "
                 "material unreadable to it and every process of that uid killed after it; it could reach the "
                 "network and the machine's world-readable files")
NO_ISOLATION = ("NO ISOLATION ({problem}; not root, so no uid drop either): student code ran as the grader, able "
                "to read the hidden tests and references and to change the grades")
FIRST_STUDENT_UID = 200_000  # uids of reduced-isolation sandboxes: FIRST + 8 * (pid % 100000) + slot
_sandbox_slots = itertools.count()
PR_SET_PDEATHSIG = 1


class IsolationError(Exception):
    """Student code cannot be isolated here, or the sandbox cannot run Python with torch; the
    message says why and how to fix it."""


@dataclass(frozen=True)
class Limits:
    """Per-sandbox limits. Times in seconds; sizes in MiB, except ``output_bytes``."""

    call_timeout_s: float = 20.0   # wall time of one call
    cpu_s: int = 120               # CPU time of one child process (a fresh child after a kill)
    budget_s: float = 600.0        # wall time of the whole submission (all calls); then its tests fail
    cpu_budget_s: float = 600.0    # CPU time of the whole submission (all its child processes)
    disk_mb: int = 256             # size of the work folder and of /tmp, each (bubblewrap's tmpfs)
    memory_mb: int = 4096          # address space of the child (CPU grading; torch needs ~2.5 GiB)
    max_procs: int = 64            # processes and threads
    file_size_mb: int = 64         # largest file the child may write
    output_bytes: int = 64_000     # how much of what the student printed is kept per call
    reply_mb: int = 256            # largest reply the grader decodes


def limits_for(assignment) -> Limits:
    """The defaults with the assignment's ``[limits]`` from ``assignment.toml``; an unknown key is
    the staff's mistake and says so."""
    known = {f.name for f in dataclasses.fields(Limits)}
    unknown = sorted(set(assignment.limits) - known)
    if unknown:
        raise ValueError(f"{assignment.id}: assignment.toml [limits] has unknown keys {unknown}; known: {sorted(known)}")
    return Limits(**assignment.limits)


@dataclass
class CallResult:
    """What one call gave: ``value`` when ``ok``, else ``kind`` and a sentence in ``error``."""

    ok: bool
    value: Any = None
    args_after: Any = None
    error: str = ""
    kind: str = ""
    traceback: str = ""
    stdout: str = ""


@functools.lru_cache(maxsize=None)
def bubblewrap_problem() -> str:
    """'' when bubblewrap can make a sandbox here, else why it cannot."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                            "--uid", str(NOBODY), "--gid", str(NOBODY), "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here ({probe.stderr.strip()[:200]})"
    return ""


def isolation_mode() -> str:
    """``"bubblewrap"``, ``"uid"`` (no bubblewrap, but root: drop to an unprivileged uid) or ``"none"``."""
    if not bubblewrap_problem():
        return "bubblewrap"
    return "uid" if os.geteuid() == 0 else "none"


def require_isolation(allow_unsafe: bool = False) -> str:
    """The isolation mode grading will use; :class:`IsolationError` when there is none and the
    staff did not pass ``--allow-unsafe``."""
    mode = isolation_mode()
    if mode == "none" and not allow_unsafe:
        raise IsolationError(
            f"refusing to grade: student code cannot be isolated here ({bubblewrap_problem()}, and the grader "
            "is not root, so it cannot drop to an unprivileged uid either). Student code would run as you, able "
            "to read the hidden tests and references and to change the grades. Fix: install bubblewrap "
            "(`sudo apt-get install bubblewrap`; on Ubuntu 24.04 and later also allow unprivileged user "
            "namespaces, e.g. `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or grade as root "
            "(as Gradescope's container does). `--allow-unsafe` grades anyway and marks every report.")
    return mode


def preflight(limits: Limits | None = None, device: str = "cpu") -> dict:
    """Before grading a class: a sandboxed child (as students' children are) imports torch, numpy
    and the helpers and answers a trivial call. Returns the versions it saw; raises
    :class:`IsolationError` saying what failed and how to fix it, so that no grade is written by a
    sandbox that cannot run student code."""
    with tempfile.TemporaryDirectory(prefix="eecs498-preflight-") as empty:
        with Sandbox(empty, limits, device=device) as box:
            result = box.drive("preflight", timeout=600)
            mode = box.mode
    if result.ok and isinstance(result.value, dict) and result.value.get("sum") == 6.0:
        return result.value
    seen = " ".join(result.stdout.strip().splitlines()[-3:])[-600:]
    where = {"bubblewrap": "the sandbox shows the child only the Python installation, the virtual environment and "
                           "the site-packages folders on sys.path (read-only), so torch must be installed in the "
                           "venv itself, not with `pip install --user` or through PYTHONPATH",
             "uid": f"the child runs as an unprivileged uid, so {sys.executable} and every folder of its "
                    "installation must be readable and searchable by other users (not under a private home "
                    "such as /root)"}.get(mode, "")
    raise IsolationError(f"the sandbox cannot run Python with torch, so no grade was written: the child "
                         f"{result.error or 'answered something else'}" + (f" ({seen})" if seen else "")
                         + (f". Fix: {where}." if where else "."))


def protect_course_material(paths) -> list[Path]:
    """Make each existing path readable by its owner only (mode 0700 for folders, 0600 for
    files), so that a student uid cannot read it; returns what was protected. Used when
    isolation relies on a uid drop (no bubblewrap): the hidden suites and references, the source
    solutions, the results and gradebook folders."""
    protected = []
    for path in map(Path, paths):
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
            protected.append(path)
    return protected


def student_uid() -> int:
    """A uid no other live sandbox uses: unique per grading process and sandbox slot."""
    return FIRST_STUDENT_UID + 8 * (os.getpid() % 100_000) + next(_sandbox_slots) % 8


def processes_of(uid: int) -> list[int]:
    """Pids of the processes whose real or effective uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"Uid:"):
                        real, effective = line.split()[1:3]
                        if int(real) == uid or int(effective) == uid:
                            found.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return found


def kill_processes_of(uid: int, rounds: int = 200) -> None:
    """SIGKILL every process of ``uid`` until none is left (a fork bomb is outrun: the uid's
    process limit bounds it); raises RuntimeError if some survive."""
    quiet = 0
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            quiet += 1
            if quiet == 2:
                return
            continue
        quiet = 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    raise RuntimeError(f"processes of the student uid {uid} survived SIGKILL: {processes_of(uid)}")


class PidsCgroup:
    """A pids cgroup (v1 or v2) capping the processes of one sandbox, when this user may make one."""

    def __init__(self, max_procs: int):
        self.path: Path | None = None
        parent = self._parent()
        if parent is None:
            return
        path = parent / f"eecs498-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_procs))
            self.path, self.procs = path, str(path / "cgroup.procs")
        except OSError:
            if path.is_dir():
                path.rmdir()

    @staticmethod
    def _parent() -> Path | None:
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            _, controllers, relative = line.split(":", 2)
            if "pids" in controllers.split(","):  # cgroup v1
                root = Path("/sys/fs/cgroup/pids")
            elif controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").is_file():  # v2
                root = Path("/sys/fs/cgroup")
            else:
                continue
            parent = root / relative.lstrip("/")
            controls = parent / "cgroup.subtree_control"
            if root.name != "pids" and (not controls.is_file() or "pids" not in controls.read_text().split()):
                continue
            if os.access(parent, os.W_OK):
                return parent
        return None

    def enter(self) -> None:
        """Move the calling process in (called in the forked child before exec: plain syscalls only)."""
        if self.path is not None:
            fd = os.open(self.procs, os.O_WRONLY)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)

    def remove(self) -> None:
        if self.path is None:
            return
        for _ in range(500):  # the killed processes leave the cgroup within milliseconds
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.01)


class TemplateBroken(Exception):
    """The warm template stopped answering; the sandbox falls back to a cold child."""


class Template:
    """A warm template (bubblewrap only; see :mod:`autograder.child.template`): one sandboxed
    Python that has imported torch, numpy and the helpers, sees no submission, and forks one child
    per submission — the same isolation as a cold child (its own work folder, its limits, no view
    of the course, other submissions or the network) without paying for ``import torch`` each time.

    A grading worker keeps one (:func:`warm_template`) and grades its students one after another
    through it: before a submission's files are staged into ``/sandbox/incoming`` the last child
    and everything it started have been killed and the work folder and ``/tmp`` wiped.
    """

    def __init__(self, limits: Limits | None = None, device: str = "cpu"):
        if isolation_mode() != "bubblewrap":
            raise TemplateBroken("warm templates need bubblewrap")
        self.limits, self.device = limits or Limits(), device
        self.scratch = Path(tempfile.mkdtemp(prefix="eecs498-template-"))
        os.chmod(self.scratch, 0o755)
        self.incoming = self.scratch / "incoming"
        self.incoming.mkdir(mode=0o755)
        copy_private_lib(self.scratch / "lib")
        self.log = open(self.scratch / "template.log", "w+b")
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.cgroup = PidsCgroup(self.limits.max_procs + 1)  # the template and what its child starts
        command = bubblewrap_base(self.limits, device) + [
            "--as-pid-1", "--size", str(self.limits.disk_mb * 2**20), "--tmpfs", str(INSIDE / "work"),
            "--ro-bind", str(self.incoming), str(INSIDE / "incoming"),
            "--ro-bind", str(self.scratch / "lib"), str(INSIDE / "lib"), "--chdir", str(INSIDE / "work"), "--",
            sys.executable, "-I", "-B", str(INSIDE / "lib" / "eecs498_child" / "__main__.py"), "--template",
            str(INSIDE / "work"), str(INSIDE / "lib"), str(theirs.fileno())]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, close_fds=True,
            env=sandbox_environment(str(INSIDE / "work"), "/tmp", device), preexec_fn=self._limit,
            start_new_session=True, pass_fds=[theirs.fileno()])
        theirs.close()
        self.spawned = 0

    def _limit(self) -> None:
        self.cgroup.enter()
        for kind, value in ((resource.RLIMIT_NPROC, self.limits.max_procs + 1), (resource.RLIMIT_CORE, 0),
                            (resource.RLIMIT_NOFILE, 1024)):
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass

    def ask(self, message: dict, fds: list[int] = (), timeout: float = 60.0) -> dict:
        """One request on the control socket and its answer; TemplateBroken if none comes."""
        import json

        try:
            self.control.settimeout(timeout)
            socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
            answer = self.control.recv(65536)
        except OSError as exc:
            self.close()
            raise TemplateBroken(f"the warm template did not answer {message['op']!r} ({exc})") from None
        if not answer:
            self.close()
            raise TemplateBroken(f"the warm template is gone ({self.process.poll()})")
        return json.loads(answer)

    def stage(self, submission: Path) -> None:
        """Put one submission's files where the next child copies them from (and nothing else)."""
        for entry in self.incoming.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        shutil.copytree(submission, self.incoming, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names if (Path(folder) / n).is_symlink()])
        for path in self.incoming.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)

    def spawn(self, child_limits: dict, log_fd: int) -> _WarmChild:
        """A fresh child of the staged submission, its request and reply pipes ours."""
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        self.spawned += 1
        try:
            # the first child waits for the template's own imports
            answer = self.ask({"op": "spawn", "name": str(self.spawned), "limits": child_limits},
                              [requests_read, replies_write, log_fd], timeout=600 if self.spawned == 1 else 60)
        finally:
            os.close(requests_read)
            os.close(replies_write)
        if "pid" not in answer:
            os.close(requests_write)
            os.close(replies_read)
            raise TemplateBroken(f"the warm template refused to spawn: {answer}")
        return _WarmChild(self, requests_write, replies_read)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None
        self.cgroup.remove()
        self.control.close()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class _WarmChild:
    """What a :class:`Sandbox` needs of its child, for one forked by a :class:`Template`: the two
    pipes, and stopping it (the template kills it and all it started, and says how it ended)."""

    pid = None

    def __init__(self, template: Template, requests: int, replies: int):
        self.template = template
        self.stdin = os.fdopen(requests, "wb")
        self.stdout = os.fdopen(replies, "rb", buffering=0)

    def poll(self):
        return None  # its death shows as the end of the reply pipe

    def cpu(self) -> float:
        return float(self.template.ask({"op": "cpu"}).get("cpu", 0.0))

    def stop(self) -> tuple[int | None, float]:
        """Kill it and everything in the sandbox but the template; (exit status, CPU seconds)."""
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        answer = self.template.ask({"op": "reset"}, timeout=60)
        return answer.get("status"), float(answer.get("cpu", 0.0))


_WARM: dict = {}


def warm_template(limits: Limits, device: str = "cpu") -> Template | None:
    """This process's warm template for sandboxes with ``limits`` (made on first use, remade when it
    died); None where there can be none (no bubblewrap, or CUDA: a fork after CUDA is set up is not
    safe)."""
    if device != "cpu" or isolation_mode() != "bubblewrap":
        return None
    key = (threading.get_ident(), limits.disk_mb, limits.max_procs)  # one child at a time per template
    template = _WARM.get(key)
    if template is None or not template.alive():
        try:
            template = _WARM[key] = Template(limits, device)
        except (TemplateBroken, OSError):
            return None
    return template


class Sandbox:
    """An isolated child process that runs calls into one submission (see the module docstring).
    With a ``template`` (:class:`Template`), each child is forked from it instead of started cold."""

    def __init__(self, submission_dir: str | os.PathLike, limits: Limits | None = None, *,
                 device: str = "cpu", extra_ro_paths: tuple[str, ...] = (), template: Template | None = None):
        self.submission_dir = Path(submission_dir)
        self.template = template if template is not None and template.alive() else None
        self.limits = limits or Limits()
        self.device = device
        self.extra_ro_paths = tuple(str(p) for p in extra_ro_paths)
        problem = bubblewrap_problem()
        self.mode = isolation_mode()
        self.use_bubblewrap = self.mode == "bubblewrap"
        self.uid = student_uid() if self.mode == "uid" else None
        if self.mode == "bubblewrap":
            self.isolation = FULL_ISOLATION
        elif self.mode == "uid":
            self.isolation = UID_ISOLATION.format(problem=problem, uid=self.uid)
        else:
            self.isolation = NO_ISOLATION.format(problem=problem)
        self.started = time.monotonic()
        self.cpu_spent = 0.0       # CPU seconds of the children that have stopped
        self.child_pid: int | None = None  # the host pid of the sandboxed Python process
        self.child_cpu = 0.0       # its CPU seconds when last measured
        self.cpu_limit = self.limits.cpu_s  # the RLIMIT_CPU it was started with
        self.scratch: Path | None = None
        self.process: subprocess.Popen | None = None
        self.cgroup: PidsCgroup | None = None
        self.log = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.scratch = Path(tempfile.mkdtemp(prefix="eecs498-sandbox-"))
        os.chmod(self.scratch, 0o755)
        work, lib = self.scratch / "work", self.scratch / "lib"
        shutil.copytree(self.submission_dir, work, symlinks=True,
                        ignore=lambda folder, names: [n for n in names if (Path(folder) / n).is_symlink()])
        copy_private_lib(lib)
        for path in [work, *work.rglob("*")]:
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
            if self.uid is not None:
                os.chown(path, self.uid, self.uid)
        self.log = open(self.scratch / "output.log", "w+b")
        self.started, self.cpu_spent = time.monotonic(), 0.0
        if self.template is not None:
            self.template.stage(work)
        self._start()  # importing torch in the child overlaps with the grader's own set-up
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child and everything it started (for a uid sandbox: every process of its uid,
        checked gone), then delete the scratch folder."""
        self._stop()
        if self.uid is not None:
            kill_processes_of(self.uid)
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    # -- calls -----------------------------------------------------------------------------

    def call(self, target: str, *args: Any, chain=(), return_args: bool = False,
             timeout: float | None = None, **kwargs: Any) -> CallResult:
        """Run ``target(*args, **kwargs)`` then each ``chain`` step in the child.

        ``chain`` steps are ``("attr", name)`` or ``("call", method, args, kwargs)``, applied to the
        previous result (e.g. build a class, then call a method). With ``return_args`` the result
        also carries ``args`` as they were after the call (to check for in-place changes).
        """
        request = {"target": target, "args": list(args), "kwargs": kwargs,
                   "chain": [list(step) for step in chain], "return_args": return_args}
        return self._request(request, timeout)

    def drive(self, driver: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> CallResult:
        """Run the named driver of :mod:`autograder.child.drivers` in the child: a multi-step call
        (build a model, set its parameters, call ``loss``...) that returns plain data only."""
        return self._request({"driver": driver, "args": list(args), "kwargs": kwargs}, timeout)

    def load_file(self, filename: str, timeout: float | None = None) -> CallResult:
        """A submitted checkpoint (``torch.save`` of tensors and plain data), unpickled in the child
        with ``torch.load(weights_only=True)``; the grader receives only the decoded plain data."""
        return self._request({"load_file": filename}, timeout)

    def budget_left(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) of the submission's budget that are left."""
        wall = self.limits.budget_s - (time.monotonic() - self.started)
        return wall, self.limits.cpu_budget_s - self.cpu_spent - self._measure_child_cpu()

    def _measure_child_cpu(self) -> float:
        """CPU seconds of the live sandboxed Python (read from /proc); its last reading once gone."""
        if isinstance(self.process, _WarmChild):
            try:
                self.child_cpu = self.process.cpu()
            except TemplateBroken:
                pass
        elif self.child_pid is not None:
            try:
                with open(f"/proc/{self.child_pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                self.child_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return self.child_cpu

    def _request(self, request: dict, timeout: float | None) -> CallResult:
        if self.scratch is None:
            raise RuntimeError("use the Sandbox in a with-block")
        wall_left, cpu_left = self.budget_left()
        if wall_left <= 0 or cpu_left <= 0:
            return CallResult(False, kind="budget", error=(
                f"not run: the submission used up its grading budget ({self.limits.budget_s:g} s of wall time, "
                f"{self.limits.cpu_budget_s:g} s of CPU time) in the tests before this one; make the slow "
                "functions faster (a timeout in an earlier test says which)"))
        payload = wire.encode(request)
        if self.process is None or self.process.poll() is not None:
            self._start()
        log_start = self.log.seek(0, os.SEEK_END)
        limit = min(timeout if timeout is not None else self.limits.call_timeout_s, max(wall_left, 0.1))
        deadline = time.monotonic() + limit
        try:
            self._send(payload)
            reply_bytes = self._receive(deadline)
        except TimeoutError:
            self._stop()
            return self._failed("timeout", f"did not finish within {limit:g} s (an infinite loop, or far too "
                                            "slow?)", log_start)
        except (BrokenPipeError, EOFError):
            return self._died(log_start)
        except wire.WireError as exc:
            self._stop()
            return self._failed("bad_output", f"sent a reply the grader could not read ({exc})", log_start)
        try:
            reply = wire.decode(reply_bytes, max_bytes=self.limits.reply_mb * 2**20)
            if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
                raise wire.WireError("not a reply")
        except wire.WireError as exc:
            self._stop()
            return self._failed("bad_output", f"sent a reply the grader could not read ({exc})", log_start)
        del reply_bytes
        if time.monotonic() > deadline + 5:  # decoding is bounded by the size caps; this says if it was slow
            self._stop()
            return self._failed("timeout", f"did not finish within {limit:g} s (its reply took too long to read)",
                                log_start)
        output = self._output_since(log_start)
        if reply["ok"]:
            return CallResult(True, reply.get("value"), reply.get("args_after"), stdout=output)
        return CallResult(False, error=str(reply.get("error", "failed"))[:2000], kind=str(reply.get("kind", "")),
                          traceback=str(reply.get("traceback", ""))[:4000], stdout=output)

    def _send(self, payload: bytes) -> None:
        self.process.stdin.write(len(payload).to_bytes(8, "big") + payload)
        self.process.stdin.flush()

    def _receive(self, deadline: float) -> bytes:
        header = self._read(8, deadline)
        length = int.from_bytes(header, "big")
        if length > self.limits.reply_mb * 2**20:
            raise wire.WireError(f"a reply of {length} bytes is over the {self.limits.reply_mb} MiB limit")
        return self._read(length, deadline)

    def _read(self, count: int, deadline: float) -> bytes:
        """Exactly ``count`` bytes from the child before ``deadline``, read into one buffer (the
        caller has checked ``count`` against the reply limit)."""
        fd, buffer, received = self.process.stdout.fileno(), bytearray(count), 0
        view = memoryview(buffer)
        while received < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            got = os.readv(fd, [view[received:received + (1 << 20)]])
            if not got:
                raise EOFError
            received += got
        return bytes(buffer) if count < (1 << 20) else buffer

    def _died(self, log_start: int) -> CallResult:
        code = self._stop()
        if code is not None and code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
            reason = (f"used more than its {self.cpu_limit} s of CPU time" if -code == signal.SIGXCPU
                      else "was killed (out of memory or too many processes?)")
            return self._failed("timeout" if -code == signal.SIGXCPU else "memory", reason, log_start)
        if code is not None and code < 0:
            what = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            return self._failed("crash", f"crashed the Python process running it ({what})", log_start)
        return self._failed("crash", f"ended the Python process running it (exit code {code})", log_start)

    def _failed(self, kind: str, error: str, log_start: int) -> CallResult:
        return CallResult(False, error=error, kind=kind, stdout=self._output_since(log_start))

    def _output_since(self, start: int) -> str:
        if self.log is None:
            return ""
        end = self.log.seek(0, os.SEEK_END)
        self.log.seek(max(start, end - self.limits.output_bytes))
        return self.log.read(self.limits.output_bytes).decode(errors="replace")

    # -- the child process -------------------------------------------------------------------

    def _start(self) -> None:
        self._stop()
        self.cpu_limit = max(1, min(self.limits.cpu_s, int(self.budget_left()[1]) + 1))
        if self.template is not None:
            try:
                self.process = self.template.spawn(self._child_limits(), self.log.fileno())
                return
            except TemplateBroken:
                self.template = None  # this submission goes on with cold children
        self.cgroup = PidsCgroup(self.limits.max_procs)
        self._file_fds: list[int] = []
        info_read, info_write = os.pipe() if self.use_bubblewrap else (None, None)
        try:
            command = self._command(info_write)
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                cwd=self.scratch / "work", env=self._environment(), preexec_fn=self._limit_child,
                start_new_session=True, close_fds=True,
                pass_fds=self._file_fds + ([info_write] if info_write is not None else []))
        finally:
            for fd in self._file_fds + ([info_write] if info_write is not None else []):
                os.close(fd)
        self.child_pid = self.process.pid if info_read is None else _read_child_pid(info_read)

    def _stop(self) -> int | None:
        """Kill the child and everything it started; return its exit status."""
        process, self.process = self.process, None
        code = None
        if isinstance(process, _WarmChild):
            try:
                code, cpu = process.stop()
            except TemplateBroken:
                code, cpu = None, self.child_cpu
                self.template = None
            self.cpu_spent += cpu
            self.child_cpu = 0.0
            if code is not None and code < 0 and -code == signal.SIGXCPU:
                self.cpu_spent = max(self.cpu_spent, self.cpu_spent - cpu + self.cpu_limit)
            return code
        if process is not None:
            self._measure_child_cpu()
            code = process.poll()
            if code is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                code = process.wait()
            if self.use_bubblewrap and code is not None and code > 128:
                code = 128 - code  # bubblewrap passes on "killed by signal N" as exit code 128 + N
            if code is not None and -code in (signal.SIGXCPU, signal.SIGKILL) and self.child_cpu < self.cpu_limit - 1:
                self.child_cpu = max(self.child_cpu, self.cpu_limit if -code == signal.SIGXCPU else 0.0)
            self.cpu_spent += self.child_cpu
            self.child_pid, self.child_cpu = None, 0.0
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.uid is not None:
            kill_processes_of(self.uid)  # a daemon that left the process group dies too
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        return code

    def _child_limits(self) -> dict:
        """The rlimits of a warm child, set by itself after the fork (names of :mod:`resource`)."""
        mib = 2**20
        limits = {"RLIMIT_CPU": self.cpu_limit, "RLIMIT_CORE": 0, "RLIMIT_FSIZE": self.limits.file_size_mb * mib}
        if self.device == "cpu":
            limits["RLIMIT_AS"] = self.limits.memory_mb * mib
        return limits

    def _limit_child(self) -> None:
        """Runs in the forked child before exec: cgroup, then resource limits."""
        if self.cgroup is not None:
            self.cgroup.enter()
        mib = 2**20
        limits = [(resource.RLIMIT_CPU, self.cpu_limit), (resource.RLIMIT_CORE, 0),
                  (resource.RLIMIT_FSIZE, self.limits.file_size_mb * mib), (resource.RLIMIT_NOFILE, 1024)]
        if self.use_bubblewrap or self.uid is not None:  # counted per (namespaced) uid: this sandbox's only
            limits.append((resource.RLIMIT_NPROC, self.limits.max_procs))
        if self.device == "cpu":  # CUDA reserves far more address space than it uses
            limits.append((resource.RLIMIT_AS, self.limits.memory_mb * mib))
        for kind, value in limits:
            try:  # the CPU limit signals SIGXCPU first, then SIGKILL two seconds later
                resource.setrlimit(kind, (value, value + 2 if kind == resource.RLIMIT_CPU else value))
            except (ValueError, OSError):
                pass
        if self.uid is not None:  # no bubblewrap: die with the grader, and become an unprivileged uid
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)

    def _environment(self) -> dict[str, str]:
        if self.use_bubblewrap:
            return sandbox_environment(str(INSIDE / "work"), "/tmp", self.device)
        return sandbox_environment(str(self.scratch / "work"), str(self.scratch / "work"), self.device)

    def _command(self, info_fd: int | None = None) -> list[str]:
        python = [sys.executable, "-I", "-B"]
        if not self.use_bubblewrap:
            lib = self.scratch / "lib"
            return [*python, str(lib / "eecs498_child" / "__main__.py"), str(self.scratch / "work"), str(lib)]
        command = bubblewrap_base(self.limits, self.device, self.extra_ro_paths, info_fd)
        command += ["--size", str(self.limits.disk_mb * 2**20), "--tmpfs", str(INSIDE / "work")]
        work = self.scratch / "work"
        for path in sorted(work.rglob("*")):  # copies in the sized tmpfs, fresh at every start
            inside = str(INSIDE / "work" / path.relative_to(work))
            if path.is_dir():
                command += ["--perms", "0777", "--dir", inside]
            elif path.is_file():
                fd = os.open(path, os.O_RDONLY)
                self._file_fds.append(fd)
                command += ["--perms", "0666", "--file", str(fd), inside]
        command += ["--ro-bind", str(self.scratch / "lib"), str(INSIDE / "lib"),
                    "--chdir", str(INSIDE / "work"), "--"]
        return command + [*python, str(INSIDE / "lib" / "eecs498_child" / "__main__.py"),
                          str(INSIDE / "work"), str(INSIDE / "lib")]


def bubblewrap_base(limits: Limits, device: str = "cpu", extra_ro_paths: tuple[str, ...] = (),
                    info_fd: int | None = None) -> list[str]:
    """The bubblewrap command line every sandboxed Python shares: all namespaces, uid 65534, no
    capabilities, read-only system and Python folders, a sized tmpfs on /tmp, the GPUs for CUDA."""
    command = [shutil.which("bwrap"), "--unshare-all", "--die-with-parent", "--new-session"]
    if info_fd is not None:
        command += ["--info-fd", str(info_fd)]
    command += ["--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
                "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
                 "localtime", "hosts"):
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in python_paths() + list(extra_ro_paths):
        command += ["--ro-bind", path, path]
    for hidden in hidden_paths():
        command += ["--tmpfs", hidden]
    if device != "cpu":
        for gpu in sorted(Path("/dev").glob("nvidia*")):
            command += ["--dev-bind", str(gpu), str(gpu)]
        command += ["--ro-bind-try", "/sys", "/sys"]
    return command


def python_paths() -> list[str]:
    """The Python installation, the virtual environment and every site-packages folder on
    ``sys.path`` (a venv may reach torch through a ``.pth`` file), read-only; never a folder
    holding the grader or the course material."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    paths |= {os.path.realpath(p) for p in sys.path
              if ("site-packages" in p or "dist-packages" in p) and os.path.isdir(p)}
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    return sorted(p for p in paths if not p.startswith(("/usr/", "/bin", "/lib")) and p != "/usr"
                  and not repo.startswith(p.rstrip("/") + "/"))  # a folder holding the course: never


def hidden_paths() -> list[str]:
    """The grader's own package, should it lie inside a folder the child sees (a non-editable
    install in site-packages): covered by an empty tmpfs."""
    own = str(Path(__file__).resolve().parent)
    seen = python_paths() + ["/usr"]
    return [own] if any(own.startswith(p.rstrip("/") + "/") for p in seen) else []


def sandbox_environment(home: str, tmp: str, device: str) -> dict[str, str]:
    """The whole environment of a sandboxed Python: nothing of the grader's."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "TMPDIR": tmp,
           "MPLCONFIGDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           # One torch thread per child: parallelism comes from grading students side by side
           # (--jobs), and two threads per child on shared cores made training calls 7x slower.
           "OMP_NUM_THREADS": "1"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def copy_private_lib(folder: Path) -> None:
    """The helper package and the child's code, copied for one sandbox (never the grader's own)."""
    shutil.copytree(HELPER_PACKAGE, folder / "eecs498", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(CHILD_PACKAGE, folder / "eecs498_child", ignore=shutil.ignore_patterns("__pycache__"))


def _read_child_pid(fd: int, timeout: float = 60.0) -> int | None:
    """The host pid of the sandboxed process, from bubblewrap's ``--info-fd`` JSON; None if it
    said nothing (it failed to start)."""
    import json

    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
            if b"}" in chunk:
                break
    finally:
        os.close(fd)
    try:
        return int(json.loads(b"".join(chunks).decode())["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None
