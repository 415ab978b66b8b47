"""Run untrusted submissions in fresh, limited subprocesses, and accept only what can be believed.

Each job (one student's one exercise) runs in its own process, started from a temporary folder
that holds only the runner, the check scenarios and that one file, with:

* a **scrubbed environment** (no API keys, no ``OPENAI_*``: just ``PATH``, ``HOME``, ``LANG``) and
  ``python -I -S -B``: no user site, no site-packages, no ``PYTHON*`` variables, no bytecode
  written;
* an **unprivileged user** when the grader runs as root (``nobody`` unless told otherwise): the
  kernel does not apply ``RLIMIT_NPROC`` to root, root can signal or ptrace the grader, and root
  reads every file. The interpreter must be one that user can execute; :meth:`Sandbox.prepare`
  finds one (a Python under ``/root`` is not) and says which;
* **self-confinement** in the runner (:mod:`day6.grading._confine`): resource limits, Landlock's
  read-only filesystem allow-list, and a seccomp filter that makes process creation impossible;
* a **wall-clock deadline**, after which the whole process group is killed with ``SIGKILL``. The
  group is always killed before the leader is reaped, so its id cannot have been reused by an
  unrelated process;
* **bounded reading** of stdout, stderr and the result pipe: past the limit the job is killed.

Before grading anything, :meth:`Sandbox.prepare` runs a probe job under the same policy that tries
what a hostile submission would: read the solutions and hidden checks, fork. In ``strict`` mode
grading refuses to start if any of it works, so a machine without Landlock and with world-readable
solutions fails loudly instead of grading unsafely.

The result pipe carries JSON lines stamped with a per-job random nonce, read by the grader only
after the fact. A line without the nonce, a duplicate or out-of-order record, or too much data
marks the job as *forged*. The nonce keeps honest records apart from anything a submission prints;
it is not a secret from the submission (it runs in the same process as the runner). What makes
forgery pointless is that records carry observations, not verdicts: see :mod:`day6.grading._spec`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pwd
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from day6._validate import int_at_least, positive
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError, ResilienceError

__all__ = ["Isolation", "Job", "RunResult", "Sandbox", "SandboxError", "SandboxPolicy"]

_PACKAGE = Path(__file__).resolve().parent
_SUPPORT_FILES: dict[str, Path] = {
    "runner.py": _PACKAGE / "runner.py",
    "day6/clock.py": _PACKAGE.parent / "clock.py",
    "day6/grading/_spec.py": _PACKAGE / "_spec.py",
    "day6/grading/_confine.py": _PACKAGE / "_confine.py",
}
_RECORD_TYPES = frozenset({"hello", "probe", "import", "check", "done"})
_READ_CHUNK = 1 << 16


class SandboxError(ResilienceError):
    """The sandbox cannot be set up safely on this machine; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """Limits for every job. Times are seconds, sizes bytes.

    ``isolation="strict"`` refuses to run when the probe shows the solutions or hidden checks are
    readable from inside, or processes can be created; ``"best_effort"`` (the student self-check)
    applies whatever layers the machine offers. ``drop_privileges`` runs jobs as ``user`` (default
    ``nobody``) when the grader is root. ``python`` overrides the interpreter used inside.
    """

    timeout: float = 20.0
    check_timeout: float = 5.0
    memory_bytes: int = 1 << 30
    output_bytes: int = 1 << 20
    record_bytes: int = 4 << 20
    file_bytes: int = 1 << 20
    open_files: int = 64
    processes: int = 64
    isolation: Literal["strict", "best_effort"] = "strict"
    drop_privileges: bool = True
    user: str = "nobody"
    python: str | None = None

    def __post_init__(self) -> None:
        positive("timeout", self.timeout, allowed="must be a finite number > 0")
        positive("check_timeout", self.check_timeout, allowed="must be a finite number > 0")
        for name in ("memory_bytes", "output_bytes", "record_bytes", "file_bytes", "open_files", "processes"):
            value = getattr(self, name)
            int_at_least(name, value, 1, allowed="must be a positive integer")
        if self.memory_bytes < 64 << 20:
            raise ConfigError("memory_bytes", self.memory_bytes, "must be at least 64 MiB (Python needs it)")
        if self.open_files < 16:
            raise ConfigError("open_files", self.open_files, "must be at least 16")
        if self.isolation not in ("strict", "best_effort"):
            raise ConfigError("isolation", self.isolation, "one of 'strict', 'best_effort'")


@dataclass(frozen=True, slots=True)
class Isolation:
    """What the probe job found: the interpreter, the user, and the layers actually in force."""

    python: str
    python_version: str
    user: str
    uid: int
    landlock_abi: int | None
    seccomp: bool
    rlimits: tuple[str, ...]
    can_fork: bool
    readable_secrets: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a report: ``python 3.11.2 as nobody; landlock ABI 7; seccomp; rlimits ...``."""
        parts = [f"python {self.python_version} ({self.python}) as {self.user} (uid {self.uid})"]
        parts.append(f"landlock ABI {self.landlock_abi}" if self.landlock_abi else "no landlock")
        parts.append("seccomp: no process creation" if self.seccomp else "no seccomp")
        parts.append("rlimits " + ",".join(self.rlimits))
        if self.can_fork:
            parts.append("CAN FORK")
        if self.readable_secrets:
            parts.append("SECRETS READABLE: " + ", ".join(self.readable_secrets))
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Job:
    """One sandboxed run: the submission's module, the check modules to ship, the checks to run."""

    module: str
    source: bytes | None
    check_modules: Mapping[str, bytes] = field(default_factory=dict)
    check_ids: Sequence[str] = ()
    probe: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """What came back from one job. Only ``records`` (authenticated) feed scores."""

    pid: int
    returncode: int | None
    records: tuple[dict[str, Any], ...]
    forged: tuple[str, ...]
    stdout: bytes
    stderr: bytes
    limit: Literal["timeout", "output_limit", "record_limit"] | None
    duration: float

    def first(self, kind: str) -> dict[str, Any] | None:
        return next((r for r in self.records if r["type"] == kind), None)

    def signal_name(self) -> str | None:
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def _tail(data: bytes, limit: int = 2000) -> str:
    return data[-limit:].decode("utf-8", "replace")


class Sandbox:
    """Prepares the isolation once (:meth:`prepare`), then runs jobs (:meth:`run`), thread-safely."""

    def __init__(
        self,
        policy: SandboxPolicy | None = None,
        *,
        clock: Clock | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.policy = policy if policy is not None else SandboxPolicy()
        self._clock: Clock = clock if clock is not None else SystemClock()
        # One private root per sandbox: traversable (0o711) but not listable, so a job cannot even
        # see the names of the other jobs' folders. Removed when the sandbox is garbage collected.
        self.root = Path(tempfile.mkdtemp(prefix="day6-sandbox-", dir=workdir))
        self.root.chmod(0o711)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.root), True)
        self._support = {name: path.read_bytes() for name, path in _SUPPORT_FILES.items()}
        self._support.update({"day6/__init__.py": b"", "day6/grading/__init__.py": b""})
        self._isolation: Isolation | None = None
        self._argv0 = ""
        self._ids: tuple[int, int] | None = None  # (uid, gid) to switch to, when dropping root
        self._confine: dict[str, str] = {}
        self._rlimits: dict[str, int] = {}

    def close(self) -> None:
        """Remove the sandbox's folder now (it is also removed when the sandbox is collected)."""
        self._cleanup()

    @property
    def isolation(self) -> Isolation:
        if self._isolation is None:
            raise SandboxError("call Sandbox.prepare() before running jobs")
        return self._isolation

    # --- preparation ------------------------------------------------------------------------------

    def prepare(self, *, secrets_paths: Sequence[Path] = ()) -> Isolation:
        """Pick interpreter and user, then probe the isolation; raises :class:`SandboxError` if unsafe."""
        policy = self.policy
        notes: list[str] = []
        if os.geteuid() == 0 and policy.drop_privileges:
            try:
                entry = pwd.getpwnam(policy.user)
            except KeyError:
                raise SandboxError(
                    f"sandbox user {policy.user!r} does not exist; pass another user"
                ) from None
            if entry.pw_uid == 0:
                raise SandboxError(f"sandbox user {policy.user!r} is root; pick an unprivileged user")
            self._ids = (entry.pw_uid, entry.pw_gid)
            self._argv0 = self._find_python(notes)
            self._rlimits_base(nproc=policy.processes)
        else:
            self._ids = None
            self._argv0 = policy.python or sys.executable
            if os.geteuid() == 0:
                notes.append("running as root without dropping privileges: RLIMIT_NPROC does not apply")
                self._rlimits_base(nproc=None)
            else:
                self._rlimits_base(nproc=_count_own_processes() + policy.processes)
        self._confine = {"landlock": "try", "seccomp": "try"}
        probe_paths = [str(p.resolve()) for p in secrets_paths]
        result = self.run(Job(module="", source=None, probe=probe_paths), _preparing=True)
        hello, probe = result.first("hello"), result.first("probe")
        if hello is None or probe is None or not hello.get("ok") or result.forged:
            detail = hello.get("error") if hello else _tail(result.stderr) or result.limit
            raise SandboxError(
                f"the sandbox probe did not start correctly with {self._argv0!r}: {detail} "
                f"(the job folder {self.root} must be reachable by the sandbox user; check TMPDIR)"
            )
        layers = hello["layers"]
        notes.extend(str(e) for e in layers.get("errors", []))
        uid = int(hello["uid"])
        user = pwd.getpwuid(uid).pw_name if _has_user(uid) else str(uid)
        isolation = Isolation(
            python=self._argv0,
            python_version=str(hello["python"]),
            user=user,
            uid=uid,
            landlock_abi=layers.get("landlock"),
            seccomp=bool(layers.get("seccomp")),
            rlimits=tuple(hello.get("rlimits", ())),
            can_fork=bool(probe["can_fork"]),
            readable_secrets=tuple(probe["readable"]),
            notes=tuple(notes),
        )
        # From now on each layer that worked in the probe is required in every job.
        self._confine = {
            "landlock": "require" if isolation.landlock_abi else "off",
            "seccomp": "require" if isolation.seccomp else "off",
        }
        if policy.isolation == "strict":
            problems = []
            if isolation.readable_secrets:
                problems.append(
                    "these paths are readable from inside the sandbox: "
                    + ", ".join(isolation.readable_secrets)
                    + " (use a kernel with Landlock, or make them unreadable to "
                    f"{user!r}: chmod -R o-rwx, keep them out of shared folders)"
                )
            if isolation.can_fork:
                problems.append(
                    "submissions could create processes, which may escape the kill at the deadline "
                    "(the seccomp layer needs Linux on x86-64)"
                )
            if problems:
                raise SandboxError("refusing to grade with weak isolation: " + "; ".join(problems))
        self._isolation = isolation
        return isolation

    def _rlimits_base(self, *, nproc: int | None) -> None:
        policy = self.policy
        cpu = max(1, math.ceil(policy.timeout))
        self._rlimits = {
            "cpu": cpu,
            "as": policy.memory_bytes,
            "fsize": policy.file_bytes,
            "nofile": policy.open_files,
            "core": 0,
        }
        if nproc is not None:
            self._rlimits["nproc"] = nproc

    def _find_python(self, notes: list[str]) -> str:
        """A Python >= 3.11 that the unprivileged sandbox user can execute, with its stdlib."""
        assert self._ids is not None
        candidates = [self.policy.python] if self.policy.python else _python_candidates()
        tried = []
        for candidate in candidates:
            if candidate is None:
                continue
            code = "import sys, ctypes, json, resource; print(sys.version_info[0], sys.version_info[1])"
            try:
                done = subprocess.run(
                    [candidate, "-I", "-S", "-B", "-c", code],
                    capture_output=True,
                    timeout=30,
                    user=self._ids[0],
                    group=self._ids[1],
                    extra_groups=[],
                    env=_ENV_BASE,
                    cwd="/",
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                tried.append(f"{candidate}: {exc}")
                continue
            words = done.stdout.split()
            if done.returncode == 0 and len(words) == 2 and (int(words[0]), int(words[1])) >= (3, 11):
                if candidate != sys.executable:
                    notes.append(f"{sys.executable} is not usable by {self.policy.user!r}; using {candidate}")
                return candidate
            tried.append(f"{candidate}: exit {done.returncode} {_tail(done.stderr, 200).strip()}")
        raise SandboxError(
            f"no Python >= 3.11 is executable by {self.policy.user!r} (tried: {'; '.join(tried)}); "
            "install one outside private home folders or pass --python"
        )

    # --- running ----------------------------------------------------------------------------------

    def run(self, job: Job, *, _preparing: bool = False) -> RunResult:
        """Run one job to completion or to its deadline; never raises for anything the job does."""
        if not _preparing:
            _ = self.isolation  # prepared?
        policy = self.policy
        nonce = secrets.token_hex(16)
        job_dir = Path(tempfile.mkdtemp(prefix="day6-job-", dir=self.root))
        try:
            self._populate(job_dir, job)
            read_fd, write_fd = os.pipe()
            spec: dict[str, Any] = {
                "nonce": nonce,
                "result_fd": write_fd,
                "rlimits": self._rlimits,
                "confine": self._confine,
                "check_timeout": policy.check_timeout,
                "module": job.module,
                "check_modules": sorted(job.check_modules),
                "check_ids": list(job.check_ids),
            }
            if job.probe is not None:
                spec["probe"] = list(job.probe)
            return self._execute(job_dir, spec, read_fd, write_fd, nonce, job)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def _populate(self, job_dir: Path, job: Job) -> None:
        files = dict(self._support)
        for name, source in job.check_modules.items():  # shipped at their import path
            parts = name.split(".")
            for depth in range(1, len(parts)):
                files.setdefault("/".join(parts[:depth]) + "/__init__.py", b"")
            files["/".join(parts) + ".py"] = source
        if job.source is not None:
            files[f"submission/{job.module}.py"] = job.source
        for rel, data in files.items():
            target = job_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        for folder in [job_dir, *(p for p in job_dir.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)  # readable by the sandbox user, writable by nobody but us

    def _execute(
        self, job_dir: Path, spec: dict[str, Any], read_fd: int, write_fd: int, nonce: str, job: Job
    ) -> RunResult:
        policy = self.policy
        argv = [self._argv0, "-I", "-S", "-B", str(job_dir / "runner.py")]
        env = dict(_ENV_BASE, HOME=str(job_dir))
        ids: dict[str, Any] = {}
        if self._ids is not None:
            ids = {"user": self._ids[0], "group": self._ids[1], "extra_groups": []}
        started = self._clock.now()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=job_dir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                close_fds=True,
                start_new_session=True,
                **ids,
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            return RunResult(-1, None, (), (), b"", f"cannot start {argv[0]}: {exc}".encode(), None, 0.0)
        os.close(write_fd)
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        limit: Literal["timeout", "output_limit", "record_limit"] | None = None
        buffers = {"stdout": bytearray(), "stderr": bytearray(), "records": bytearray()}
        caps = {"stdout": policy.output_bytes, "stderr": policy.output_bytes, "records": policy.record_bytes}
        deadline = started + policy.timeout
        try:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.write(json.dumps(spec).encode())
            with contextlib.suppress(OSError):
                proc.stdin.close()
            limit = self._collect(proc, read_fd, buffers, caps, deadline)
            while limit is None and not _has_exited(proc.pid):
                if self._clock.now() >= deadline:
                    limit = "timeout"
                    break
                self._clock.sleep(0.005)
        finally:
            # Kill the whole group while the leader is still unreaped (its pid cannot be reused yet).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                stream.close()
            os.close(read_fd)
        duration = self._clock.now() - started
        expected_ids = set(job.check_ids)
        records, forged = _authenticate(bytes(buffers["records"]), nonce, expected_ids)
        if limit == "record_limit":
            forged = (*forged, "more data on the result pipe than any honest run produces")
        return RunResult(
            pid=proc.pid,
            returncode=proc.returncode,
            records=records,
            forged=forged,
            stdout=bytes(buffers["stdout"]),
            stderr=bytes(buffers["stderr"]),
            limit=limit,
            duration=duration,
        )

    def _collect(
        self,
        proc: subprocess.Popen[bytes],
        read_fd: int,
        buffers: dict[str, bytearray],
        caps: dict[str, int],
        deadline: float,
    ) -> Literal["timeout", "output_limit", "record_limit"] | None:
        assert proc.stdout is not None
        assert proc.stderr is not None
        streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr", read_fd: "records"}
        with selectors.DefaultSelector() as selector:
            for fd, name in streams.items():
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ, name)
            while selector.get_map():
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    return "timeout"
                for key, _ in selector.select(min(remaining, 0.5)):
                    name = key.data
                    try:
                        chunk = os.read(key.fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    buffer = buffers[name]
                    room = caps[name] - len(buffer)
                    buffer.extend(chunk[: max(room, 0)])
                    if len(chunk) > room:
                        return "record_limit" if name == "records" else "output_limit"
        return None


_ENV_BASE = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _has_exited(pid: int) -> bool:
    """Whether ``pid`` has exited, *without* reaping it (``WNOWAIT``), so its group id stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _has_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _python_candidates() -> list[str | None]:
    found = [sys.executable, getattr(sys, "_base_executable", None), os.path.realpath(sys.executable)]
    found += ["/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3")]
    unique: list[str | None] = []
    for candidate in found:
        if candidate and candidate not in unique:
            unique.append(candidate)
    return unique


def _count_own_processes() -> int:
    """How many processes this user already runs (RLIMIT_NPROC counts them all, not just ours)."""
    uid = os.getuid()
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        count += 1
    return count


def _authenticate(
    data: bytes, nonce: str, expected_ids: set[str]
) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """Parse the result pipe; return the records and the reasons to distrust the run (if any).

    The runner writes, in order: ``hello``, then either ``probe`` or ``import``, then ``check``
    records for distinct expected ids, then ``done``. Anything else was written by someone else.
    A final line without its newline (cut off by a kill) is dropped.
    """
    lines = data.split(b"\n")
    lines.pop()  # b"" after a final newline; otherwise a line cut off by a kill, which proves nothing
    records: list[dict[str, Any]] = []
    forged: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            forged.append(f"line {number} on the result pipe is not JSON")
            continue
        if not isinstance(record, dict) or record.get("nonce") != nonce:
            forged.append(f"line {number} on the result pipe lacks this run's nonce")
            continue
        kind = record.get("type")
        if kind not in _RECORD_TYPES:
            forged.append(f"line {number}: unknown record type {kind!r}")
            continue
        previous = records[-1]["type"] if records else None
        order_ok = {
            "hello": previous is None,
            "probe": previous == "hello",
            "import": previous == "hello",
            "check": previous in ("import", "check"),
            "done": previous in ("probe", "import", "check"),
        }[kind]
        if not order_ok or (previous == "done"):
            forged.append(f"line {number}: {kind!r} record out of order")
            continue
        if kind == "check":
            check_id = record.get("id")
            if check_id not in expected_ids or check_id in seen:
                forged.append(f"line {number}: unexpected or repeated check {check_id!r}")
                continue
            seen.add(check_id)
        if kind == "done" and record.get("count") != len(seen):
            forged.append(f"line {number}: 'done' does not match the checks reported")
            continue
        records.append(record)
    return tuple(records), tuple(forged)
