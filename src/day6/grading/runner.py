"""The sandboxed side of grading: run one exercise's checks on one submission, report observations.

The grader starts this file as a fresh ``python -I -S -B runner.py`` in a folder holding only the
runner, the check scenarios, a copy of ``day6/clock.py`` and the student's one exercise file. The
job arrives on stdin as JSON. The runner then

1. applies its resource limits and, while it is still trusted, imports the check modules;
2. confines itself (see :mod:`day6.grading._confine`) and reports which layers are in force in a
   ``hello`` record; it is written before any submitted code exists in the process, so the grader
   can believe it;
3. imports the submission (a syntax error, a crash or ``sys.exit`` at import is reported as such);
4. runs each check's scenario under a soft per-check time limit and reports what it *observed*:
   the value returned, or the exception raised. The grader, in its own process, compares the
   observations with the expected ones; this process never learns or reports a verdict.

Records go to a dedicated pipe (never stdout, which the student's ``print`` owns), one JSON object
per line, each carrying the job's nonce. Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn

# Imported while still trusted, so later lookups cannot be redirected by a submission's sys.path.
_HERE = Path(__file__).resolve().parent
_SPEC_LIMIT = 1 << 20
_MESSAGE_LIMIT = 400
# What the exercises import, loaded while still unconfined. Anything else in the standard library
# still imports later (the allow-list covers it); heavy modules such as asyncio are not preloaded
# because every job would pay for them (it alone costs about as much as starting Python).
_PRELOAD = ("collections", "dataclasses", "math", "random", "typing")


class _CheckTimeout(BaseException):
    """Raised by the soft per-check timer (a BaseException so ``except Exception`` does not eat it)."""


class _Channel:
    """The result pipe: newline-delimited JSON records, each stamped with the job's nonce."""

    def __init__(self, fd: int, nonce: str) -> None:
        self._fd = fd
        self._nonce = nonce
        self._write = os.write

    def send(self, kind: str, **fields: Any) -> None:
        record = {"nonce": self._nonce, "type": kind, **fields}
        data = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:  # a signal can interrupt a large pipe write part-way; finish it
            written = self._write(self._fd, view)
            view = view[written:]


def _exit(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # the submission may have replaced or closed them
            stream.flush()
    os._exit(code)


def _read_paths() -> list[str]:
    """What the confined runner may read: the interpreter's library, system libraries, this job."""
    paths = {str(_HERE)}
    for entry in sys.path:
        if entry and os.path.exists(entry):
            paths.add(entry)
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/etc/ld.so.cache"))
    return sorted(paths)


def _confine(modes: dict[str, str]) -> dict[str, Any]:
    """Apply the Landlock and seccomp layers as the job asks ("require", "try" or "off")."""
    from day6.grading import _confine as confine  # only inside the sandbox

    applied: dict[str, Any] = {"landlock": None, "seccomp": False, "errors": []}
    if modes.get("landlock", "off") != "off":
        try:
            applied["landlock"] = confine.apply_landlock(_read_paths())
        except OSError as exc:
            if modes["landlock"] == "require":
                raise
            applied["errors"].append(f"landlock: {exc}")
    if modes.get("seccomp", "off") != "off":
        try:
            confine.apply_seccomp()
            applied["seccomp"] = True
        except OSError as exc:
            if modes["seccomp"] == "require":
                raise
            applied["errors"].append(f"seccomp: {exc}")
    return applied


def _probe(paths: list[str]) -> dict[str, Any]:
    """Try what a hostile submission would try; the grader refuses to grade if any of it works."""
    readable = []
    for path in paths:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as fh:
                    fh.read(1)
            readable.append(path)
        except OSError:
            pass
    try:
        pid = os.fork()
    except OSError:
        can_fork = False
    else:
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        can_fork = True
    return {"readable": readable, "can_fork": can_fork, "uid": os.getuid()}


def _where(exc: BaseException, filename: str) -> str:
    """``line 12 in backoff_delay`` for the innermost frame in the student's file, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name == filename]
    if not frames:
        return ""
    last = frames[-1]
    return f"line {last.lineno} in {last.name}"


def _describe(exc: BaseException, module: ModuleType | None, filename: str) -> dict[str, Any]:
    """A plain-data description of an exception (the message is read defensively and truncated)."""
    from day6.grading._spec import exception_name

    try:
        message = str(exc)
    except BaseException:  # a hostile __str__
        message = "<unprintable>"
    info: dict[str, Any] = {
        "type": exception_name(exc),
        "message": message[:_MESSAGE_LIMIT],
        "where": _where(exc, filename),
    }
    if isinstance(exc, AttributeError) and module is not None and getattr(exc, "obj", None) is module:
        info["missing"] = str(getattr(exc, "name", "") or "")
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno
    return info


def _status_of(exc: BaseException, info: dict[str, Any]) -> str:
    if isinstance(exc, NotImplementedError):
        return "not_implemented"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, _CheckTimeout):
        return "timeout"
    if isinstance(exc, SystemExit):
        return "exited"
    if "missing" in info:
        return "missing"
    return "error"


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _CheckTimeout


def _run_check(scenario: Callable[[ModuleType], object], module: ModuleType, limit: float) -> object:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return scenario(module)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> NoReturn:
    spec = json.loads(sys.stdin.buffer.read(_SPEC_LIMIT))
    channel = _Channel(int(spec["result_fd"]), str(spec["nonce"]))
    sys.path[:0] = [str(_HERE / "submission"), str(_HERE)]

    from day6.grading import _confine as confine
    from day6.grading._spec import encode

    rlimits = confine.apply_rlimits({k: int(v) for k, v in spec.get("rlimits", {}).items()})
    check_modules = [importlib.import_module(name) for name in spec.get("check_modules", [])]
    for name in _PRELOAD:
        importlib.import_module(name)

    try:
        layers = _confine(spec.get("confine", {}))
    except OSError as exc:
        channel.send("hello", ok=False, error=f"sandbox setup failed: {exc}")
        _exit(3)
    channel.send(
        "hello",
        ok=True,
        python=".".join(map(str, sys.version_info[:3])),
        uid=os.getuid(),
        layers=layers,
        rlimits=sorted(rlimits),
    )
    if "probe" in spec:
        channel.send("probe", **_probe([str(p) for p in spec["probe"]]))
        channel.send("done", count=0)
        _exit(0)

    module_name = str(spec["module"])
    filename = module_name + ".py"
    limit = float(spec.get("check_timeout", 5.0))
    wanted = list(spec.get("check_ids", []))
    checks = {c.id: c for m in check_modules for c in m.CHECKS.checks}

    module: ModuleType | None = None
    try:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            module = importlib.import_module(module_name)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # every way an import can fail is a result
        info = _describe(exc, None, filename)
        status = "syntax_error" if isinstance(exc, SyntaxError) else _status_of(exc, info)
        channel.send("import", ok=False, status=status, error=info)
        channel.send("done", count=0)
        _exit(0)
    channel.send("import", ok=True)

    for check_id in wanted:
        check = checks[check_id]
        try:
            value = _run_check(check.scenario, module, limit)
            observation = encode(value)
        except BaseException as exc:  # the check failed; say how
            info = _describe(exc, module, filename)
            channel.send("check", id=check_id, status=_status_of(exc, info), error=info)
        else:
            channel.send("check", id=check_id, status="returned", value=observation)
    channel.send("done", count=len(wanted))
    _exit(0)


if __name__ == "__main__":
    main()
