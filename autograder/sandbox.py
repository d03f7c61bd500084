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

Without bubblewrap (not installed, or namespaces forbidden) the child still runs with the limits,
an empty environment and its own folder, and ``sandbox.isolation`` says loudly that isolation was
reduced; every report shows that line.
"""
from __future__ import annotations

import functools
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
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


@dataclass(frozen=True)
class Limits:
    """Per-sandbox limits. Times in seconds; sizes in MiB, except ``output_bytes``."""

    call_timeout_s: float = 20.0   # wall time of one call
    cpu_s: int = 120               # CPU time of one child process (a fresh child after a kill)
    memory_mb: int = 4096          # address space of the child (CPU grading; torch needs ~2.5 GiB)
    max_procs: int = 64            # processes and threads
    file_size_mb: int = 64         # largest file the child may write
    output_bytes: int = 64_000     # how much of what the student printed is kept per call
    reply_mb: int = 256            # largest reply the grader decodes


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


class Sandbox:
    """An isolated child process that runs calls into one submission (see the module docstring)."""

    def __init__(self, submission_dir: str | os.PathLike, limits: Limits | None = None, *,
                 device: str = "cpu", extra_ro_paths: tuple[str, ...] = ()):
        self.submission_dir = Path(submission_dir)
        self.limits = limits or Limits()
        self.device = device
        self.extra_ro_paths = tuple(str(p) for p in extra_ro_paths)
        problem = bubblewrap_problem()
        self.use_bubblewrap = not problem
        self.isolation = FULL_ISOLATION if not problem else (
            f"REDUCED ISOLATION: {problem}; student code ran without namespaces (it could read files "
            "this user can read and reach the network). Install bubblewrap before trusting grades.")
        if os.geteuid() == 0 and PidsCgroup._parent() is None:  # root ignores RLIMIT_NPROC
            self.isolation += "; process limit NOT enforced (root without a writable pids cgroup)"
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
        shutil.copytree(HELPER_PACKAGE, lib / "eecs498", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(CHILD_PACKAGE, lib / "eecs498_child", ignore=shutil.ignore_patterns("__pycache__"))
        for path in [work, *work.rglob("*")]:
            os.chmod(path, 0o777 if path.is_dir() else 0o666)  # uid 65534 outside a user namespace
        self.log = open(self.scratch / "output.log", "w+b")
        self._start()  # importing torch in the child overlaps with the grader's own set-up
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._stop()
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

    def _request(self, request: dict, timeout: float | None) -> CallResult:
        if self.scratch is None:
            raise RuntimeError("use the Sandbox in a with-block")
        payload = wire.encode(request)
        if self.process is None or self.process.poll() is not None:
            self._start()
        log_start = self.log.seek(0, os.SEEK_END)
        limit = timeout if timeout is not None else self.limits.call_timeout_s
        try:
            self._send(payload)
            reply_bytes = self._receive(time.monotonic() + limit)
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
        fd, chunks, received = self.process.stdout.fileno(), [], 0
        while received < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(count - received, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    def _died(self, log_start: int) -> CallResult:
        code = self._stop()
        if code is not None and code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
            reason = (f"used more than its {self.limits.cpu_s} s of CPU time" if -code == signal.SIGXCPU
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
        self.cgroup = PidsCgroup(self.limits.max_procs)
        self.process = subprocess.Popen(
            self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            cwd=self.scratch / "work", env=self._environment(), preexec_fn=self._limit_child,
            start_new_session=True, close_fds=True)

    def _stop(self) -> int | None:
        """Kill the child and everything it started; return its exit status."""
        process, self.process = self.process, None
        code = None
        if process is not None:
            code = process.poll()
            if code is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                code = process.wait()
            if self.use_bubblewrap and code is not None and code > 128:
                code = 128 - code  # bubblewrap passes on "killed by signal N" as exit code 128 + N
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        return code

    def _limit_child(self) -> None:
        """Runs in the forked child before exec: cgroup, then resource limits."""
        if self.cgroup is not None:
            self.cgroup.enter()
        mib = 2**20
        limits = [(resource.RLIMIT_CPU, self.limits.cpu_s), (resource.RLIMIT_CORE, 0),
                  (resource.RLIMIT_FSIZE, self.limits.file_size_mb * mib), (resource.RLIMIT_NOFILE, 1024)]
        if self.use_bubblewrap:  # counted per user namespace: only this sandbox's processes
            limits.append((resource.RLIMIT_NPROC, self.limits.max_procs))
        if self.device == "cpu":  # CUDA reserves far more address space than it uses
            limits.append((resource.RLIMIT_AS, self.limits.memory_mb * mib))
        for kind, value in limits:
            try:  # the CPU limit signals SIGXCPU first, then SIGKILL two seconds later
                resource.setrlimit(kind, (value, value + 2 if kind == resource.RLIMIT_CPU else value))
            except (ValueError, OSError):
                pass

    def _environment(self) -> dict[str, str]:
        home = str(INSIDE / "work") if self.use_bubblewrap else str(self.scratch / "work")
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": "/tmp" if self.use_bubblewrap else str(self.scratch / "work"),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
               # One torch thread per child: parallelism comes from grading students side by side
               # (--jobs), and two threads per child on shared cores made training calls 7x slower.
               "OMP_NUM_THREADS": "1"}
        if self.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def _command(self) -> list[str]:
        python = [sys.executable, "-I", "-B"]
        if not self.use_bubblewrap:
            lib = self.scratch / "lib"
            return [*python, str(lib / "eecs498_child" / "__main__.py"), str(self.scratch / "work"), str(lib)]
        command = [shutil.which("bwrap"), "--unshare-all", "--die-with-parent", "--new-session",
                   "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
                   "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                command += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                command += ["--ro-bind", top, top]
        for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
                     "localtime", "hosts"):
            command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for path in self._python_paths() + list(self.extra_ro_paths):
            command += ["--ro-bind", path, path]
        for hidden in self._hidden_paths():
            command += ["--tmpfs", hidden]
        if self.device != "cpu":
            for device in sorted(Path("/dev").glob("nvidia*")):
                command += ["--dev-bind", str(device), str(device)]
            command += ["--ro-bind-try", "/sys", "/sys"]
        command += ["--bind", str(self.scratch / "work"), str(INSIDE / "work"),
                    "--ro-bind", str(self.scratch / "lib"), str(INSIDE / "lib"),
                    "--chdir", str(INSIDE / "work"), "--"]
        return command + [*python, str(INSIDE / "lib" / "eecs498_child" / "__main__.py"),
                          str(INSIDE / "work"), str(INSIDE / "lib")]

    @staticmethod
    def _python_paths() -> list[str]:
        """The Python installation and the virtual environment (torch lives there), read-only."""
        paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
        paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
        return sorted(p for p in paths if not p.startswith(("/usr/", "/bin", "/lib")) and p != "/usr")

    @staticmethod
    def _hidden_paths() -> list[str]:
        """The grader's own package, should it lie inside a folder the child sees (a non-editable
        install in site-packages): covered by an empty tmpfs."""
        own = str(Path(__file__).resolve().parent)
        seen = Sandbox._python_paths() + ["/usr"]
        return [own] if any(own.startswith(p.rstrip("/") + "/") for p in seen) else []
