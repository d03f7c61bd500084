"""The sandboxed child: imports the student's modules and runs the calls the grader asks for.

Started by :class:`autograder.sandbox.Sandbox` as
``python -I -B <lib>/eecs498_child/__main__.py <work> <lib>`` inside the sandbox, where ``<work>``
holds the submission and ``<lib>`` a private copy of the ``eecs498`` helpers and of this package.
It never sees tests or references: it reads requests from stdin and writes replies to the pipe that
was its stdout, both as length-prefixed :mod:`wire` payloads (a warm child forked by
:mod:`template` gets the same pipes from the grader); what the student prints goes to the
log on stderr. A request is ``{"target": "module.name", "args": [...], "kwargs": {...},
"chain": [...], "return_args": bool}``; a reply is ``{"ok": True, "value": ..., "args_after": ...}``
or ``{"ok": False, "kind": ..., "error": <sentence for the student>, "traceback": ...}``.
A request ``{"load_file": "model.pt"}`` instead returns a submitted checkpoint, read in here, and
``{"driver": name, "args": [...], "kwargs": {...}}`` runs one of the multi-step calls of
:mod:`drivers` (build a model, set its parameters, call ``loss``...), which return plain data only.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback


def read_exactly(stream, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(len(payload).to_bytes(8, "big") + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class CallFailed(Exception):
    def __init__(self, kind: str, error: str, trace: str = ""):
        super().__init__(error)
        self.kind, self.error, self.trace = kind, error, trace


def student_traceback(exc: BaseException, work: str) -> str:
    """The traceback lines that are in the student's own files (never the child's)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(work)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines)[-4000:]


def deepest_student_function(exc: BaseException, work: str) -> tuple[str, int, str]:
    """``(qualified name, line, file name)`` of the deepest frame in the student's files, or
    ``("", 0, "")`` when the exception was raised outside them."""
    found = ("", 0, "")
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(work):
            found = (getattr(code, "co_qualname", code.co_name), tb.tb_lineno, os.path.basename(code.co_filename))
        tb = tb.tb_next
    return found


def describe(exc: BaseException, work: str, entry: str = "") -> CallFailed:
    """Turn what the student's code raised into a failure kind and a sentence. When the deepest
    student function in the traceback is not ``entry`` (the function the grader called, e.g.
    ``Softmax.train``), the sentence names it: "failed because `softmax_loss_vectorized` raised..."."""
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    trace = student_traceback(exc, work)
    function, line, filename = deepest_student_function(exc, work)
    because = f"failed because `{function}` " if function and function != entry else ""
    if isinstance(exc, NotImplementedError) and (not message or message.endswith("not implemented yet")):
        # a stub (the release's, or a bare raise); torch raises NotImplementedError for real errors too
        return CallFailed("not_implemented", f"{because}{'is ' if because else ''}not implemented yet "
                                             "(it raises NotImplementedError)", trace)
    out_of_memory = ("can't allocate memory", "out of memory", "cannot allocate memory")
    if isinstance(exc, MemoryError) or any(text in str(exc).lower() for text in out_of_memory):
        return CallFailed("memory", f"{because}ran out of memory (the sandbox's memory limit was reached)", trace)
    if isinstance(exc, SystemExit):
        return CallFailed("exception", "called sys.exit() / exit(); return a value instead", trace)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return CallFailed("disk", f"{because}filled the sandbox's disk (its work folder, /tmp and each file "
                                  "are size-limited); don't write large files while graded", trace)
    where = f" on line {line} of {filename}" if function else ""
    text = f"{because}raised {type(exc).__name__}{where}" + (f": {message}" if message else "")
    return CallFailed("exception", text, trace)


def load(target: str, work: str):
    """``module.name`` -> the object, importing the student's module from ``work``."""
    import importlib

    module_name, _, attribute = target.partition(".")
    filename = f"{module_name}.py"
    if not module_name.isidentifier() or not os.path.isfile(os.path.join(work, filename)):
        raise CallFailed("missing", f"{filename} is missing from the submission")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise CallFailed("import", f"{filename} has a syntax error on line {exc.lineno}: {exc.msg}") from None
    except BaseException as exc:  # noqa: BLE001 - anything the student's module does at import
        failure = describe(exc, work, "<module>")
        raise CallFailed("import" if failure.kind == "exception" else failure.kind,
                         f"importing {filename} {failure.error}", failure.trace) from None
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise CallFailed("missing", f"{filename} has no function or class named {part}")
        obj = getattr(obj, part)
    return obj


def load_file(filename: str, work: str) -> dict:
    """A submitted checkpoint, read with ``torch.load(weights_only=True)``: tensors and plain data only."""
    import torch

    path = os.path.join(work, filename)
    if os.path.basename(filename) != filename or not os.path.isfile(path):
        raise CallFailed("missing", f"{filename} is missing from the submission")
    try:
        return {"ok": True, "value": torch.load(path, map_location="cpu", weights_only=True)}
    except BaseException as exc:  # noqa: BLE001 - a corrupt or hostile file is the student's failure
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CallFailed("bad_output", f"{filename} could not be read as a checkpoint of plain tensors "
                                       f"(save it with torch.save): {message}") from None


def run(request: dict, work: str) -> dict:
    if "load_file" in request:
        return load_file(request["load_file"], work)
    args, kwargs = list(request.get("args", [])), dict(request.get("kwargs", {}))
    if "driver" in request:
        from eecs498_child import drivers

        if request["driver"] not in drivers.DRIVERS:
            raise CallFailed("bad_request", f"the grader asked for an unknown driver {request['driver']!r}")
        driver = drivers.DRIVERS[request["driver"]]
        function = lambda *a, **k: driver(lambda target: load(target, work), *a, **k)  # noqa: E731
    else:
        function = load(request["target"], work)
    try:
        value = function(*args, **kwargs)
        for step in request.get("chain", []):
            if step[0] == "attr":
                value = getattr(value, step[1])
            else:
                _, method, step_args, step_kwargs = step
                value = getattr(value, method)(*step_args, **step_kwargs)
    except CallFailed:
        raise  # a driver's load() found the module missing or broken
    except BaseException as exc:  # noqa: BLE001 - the student's failure is reported, never raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        entry = "" if "driver" in request else request["target"].partition(".")[2]
        calls = [step[1] for step in request.get("chain", []) if step[0] == "call"]
        entry = f"{entry}.{calls[-1]}" if calls else entry
        failure = describe(exc, work, entry)
        raise CallFailed(failure.kind, failure.error, failure.trace) from None
    reply = {"ok": True, "value": value}
    if request.get("return_args"):
        reply["args_after"] = args
    return reply


def serve(requests, reply_fd: int, work: str) -> None:
    """Answer requests read from ``requests`` with replies written to ``reply_fd`` until EOF. The
    student's prints go to the log on stderr (fd 1 is pointed there), never into the reply pipe."""
    from eecs498_child import wire

    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = os.getpid()
    while True:
        if os.getpid() != server:  # a copy forked by student code returned here: only the child answers
            os._exit(0)
        header = read_exactly(requests, 8)
        if header is None:
            return
        payload = read_exactly(requests, int.from_bytes(header, "big"))
        if payload is None:
            return
        try:
            reply = run(wire.decode(payload), work)
            encoded = wire.encode(reply)
        except CallFailed as failure:
            encoded = wire.encode({"ok": False, "kind": failure.kind, "error": failure.error,
                                   "traceback": failure.trace})
        except wire.WireError as exc:
            encoded = wire.encode({"ok": False, "kind": "bad_output",
                                   "error": f"returned something that is not plain data: {exc}",
                                   "traceback": ""})
        if os.getpid() != server:
            os._exit(0)
        write_frame(reply_fd, encoded)


def main() -> None:
    if sys.argv[1] == "--template":  # the warm template (template.py): forks one child per submission
        work_root, lib, control_fd = sys.argv[2], sys.argv[3], int(sys.argv[4])
        sys.path[:0] = [lib]
        from eecs498_child import template

        template.main(work_root, lib, control_fd)
        return
    work, lib = sys.argv[1], sys.argv[2]
    sys.path[:0] = [lib, work]  # a student's file never shadows the helpers or this driver
    serve(sys.stdin.buffer, os.dup(1), work)


if __name__ == "__main__":
    main()
