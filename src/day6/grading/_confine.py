"""Self-confinement for the grading runner: limits it applies to itself before loading a submission.

The runner is trusted code for its first few milliseconds: it reads its job, then locks its own
process down and only then imports the student's module. Every layer here is a one-way door (the
kernel offers no call to undo it), so the submission inherits all of them:

* **resource limits** (``setrlimit``, soft = hard so they cannot be raised again): CPU seconds,
  address space (memory), size of any file written, open files, core dumps off, and the number of
  processes of the sandbox user (``RLIMIT_NPROC``; the kernel ignores it for root, which is why the
  grader runs the sandbox as an unprivileged user when it is itself root).
* **no_new_privs**: no setuid binary can hand the process new privileges; required by the two
  layers below.
* **Landlock** (Linux >= 5.13): a read-only allow-list of the filesystem: the interpreter's
  standard library, system libraries and the job's own folder. Everything else (the solutions,
  the hidden checks, other students' work, the grader's home) cannot even be listed. From ABI 4
  TCP bind/connect are refused; from ABI 6 signals and abstract Unix sockets cannot leave the
  sandbox.
* **seccomp** (x86-64): a syscall filter that refuses process creation (``fork``, ``vfork``,
  ``clone`` without ``CLONE_THREAD``, ``clone3``), ``execve``, ``ptrace``, reading or writing other
  processes' memory, creating sockets, namespace and mount changes, ``io_uring`` (which could
  bypass the filter), and signals or ``prlimit`` aimed at any process but itself. Refusals are
  ``EPERM`` (``ENOSYS`` for ``clone3`` so threads fall back to ``clone``), so Python raises an
  ordinary ``OSError`` instead of dying. With no way to create a process there is no fork bomb and
  nothing can outlive the sandbox.

Standard library only (``ctypes``): this file is copied into each sandbox next to the runner.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import stat
from collections.abc import Iterable, Mapping

__all__ = [
    "RLIMITS",
    "apply_landlock",
    "apply_rlimits",
    "apply_seccomp",
    "landlock_abi",
    "seccomp_supported",
    "set_no_new_privs",
]

RLIMITS: dict[str, int] = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "nproc": resource.RLIMIT_NPROC,
}

_libc = ctypes.CDLL(None, use_errno=True)
# prctl and the Landlock syscalls are Linux-only; elsewhere (a student's Mac) the layers that need
# them report themselves unavailable instead of breaking the import.
_prctl = getattr(_libc, "prctl", None)
if _prctl is not None:
    _prctl.restype = ctypes.c_int
_libc.syscall.restype = ctypes.c_long

_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def apply_rlimits(limits: Mapping[str, int]) -> list[str]:
    """Set each named limit (see :data:`RLIMITS`) as both soft and hard limit; returns the names set.

    A limit is only ever lowered: if the current hard limit is already lower it is kept. A limit
    the platform refuses (macOS rejects some address-space limits) is skipped and not reported.
    """
    applied = []
    for name, value in limits.items():
        which = RLIMITS[name]
        try:
            _soft, hard = resource.getrlimit(which)
            new = value if hard == resource.RLIM_INFINITY else min(value, hard)
            if name == "cpu":  # soft limit sends SIGXCPU; the hard one a second later SIGKILL
                resource.setrlimit(which, (new, new + 1 if hard == resource.RLIM_INFINITY else hard))
            else:
                resource.setrlimit(which, (new, new))
        except (ValueError, OSError):
            continue
        applied.append(name)
    return applied


def set_no_new_privs() -> None:
    """Forbid gaining privileges through setuid binaries (prerequisite of Landlock and seccomp)."""
    if _prctl is None:
        raise OSError("prctl is not available on this platform")
    zero = ctypes.c_ulong(0)
    _check(
        _prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), zero, zero, zero),
        "prctl(PR_SET_NO_NEW_PRIVS)",
    )


# --- Landlock -------------------------------------------------------------------------------------

_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

_FS_EXECUTE = 1 << 0
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_V1_ALL = (1 << 13) - 1
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable or disabled."""
    if platform.system() != "Linux":
        return 0
    result = int(
        _libc.syscall(
            ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION),
        )
    )
    return max(result, 0)


def apply_landlock(read_paths: Iterable[str]) -> int:
    """Restrict this process to reading (and executing) beneath ``read_paths``; returns the ABI used.

    Nothing may be written, created, removed or renamed anywhere; already open descriptors (the
    pipes to the grader) keep working. Paths that do not exist are skipped. Raises ``OSError``
    when Landlock is unavailable.
    """
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    fs = _FS_V1_ALL
    if abi >= 2:
        fs |= _FS_REFER
    if abi >= 3:
        fs |= _FS_TRUNCATE
    if abi >= 5:
        fs |= _FS_IOCTL_DEV
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = _RulesetAttr(fs, net, scoped)
    ruleset = _check(
        int(
            _libc.syscall(
                ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
                ctypes.byref(attr),
                ctypes.c_size_t(size),
                ctypes.c_uint32(0),
            )
        ),
        "landlock_create_ruleset",
    )
    try:
        for path in read_paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                rights = _FS_EXECUTE | _FS_READ_FILE | (_FS_READ_DIR if is_dir else 0)
                rule = _PathBeneathAttr(rights & fs, fd)
                _check(
                    int(
                        _libc.syscall(
                            ctypes.c_long(_SYS_LANDLOCK_ADD_RULE),
                            ctypes.c_int(ruleset),
                            ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
                            ctypes.byref(rule),
                            ctypes.c_uint32(0),
                        )
                    ),
                    f"landlock_add_rule({path})",
                )
            finally:
                os.close(fd)
        set_no_new_privs()
        _check(
            int(
                _libc.syscall(
                    ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
                )
            ),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)
    return abi


# --- seccomp ---------------------------------------------------------------------------------------

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_EPERM = 1
_ENOSYS = 38

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16  # args[0], low 32 bits on a little-endian machine

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
_DENY_X86_64: dict[str, int] = {
    "socket": 41,
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "ptrace": 101,
    "pivot_root": 155,
    "chroot": 161,
    "mount": 165,
    "umount2": 166,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "bpf": 321,
    "execveat": 322,
    "userfaultfd": 323,
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "pidfd_open": 434,
    "pidfd_getfd": 438,
}
_NR_CLONE = 56
_NR_CLONE3 = 435
_SELF_ONLY_X86_64 = {"kill": 62, "tkill": 200, "tgkill": 234, "prlimit64": 302}

_Insn = tuple[int, int, int, int]


def _seccomp_program(own_pid: int) -> list[_Insn]:
    """The BPF program (x86-64): a flat list of ``(code, jt, jf, k)`` instructions."""
    errno_eperm = _RET_ERRNO | _EPERM
    prog: list[_Insn] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        (_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS),  # a foreign ABI (int 0x80): refuse everything
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
        (_BPF_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        (_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS),  # the x32 ABI: refuse everything
    ]

    def rule(nr: int, body: list[_Insn]) -> None:
        prog.append((_BPF_LD_W_ABS, 0, 0, _OFF_NR))
        prog.append((_BPF_JEQ_K, 0, len(body), nr))
        prog.extend(body)

    for nr in _DENY_X86_64.values():
        rule(nr, [(_BPF_RET_K, 0, 0, errno_eperm)])
    rule(_NR_CLONE3, [(_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS)])  # glibc then falls back to clone
    rule(
        _NR_CLONE,  # threads share the process; anything else would be a new process
        [
            (_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LO),
            (_BPF_JSET_K, 0, 1, _CLONE_THREAD),
            (_BPF_RET_K, 0, 0, _RET_ALLOW),
            (_BPF_RET_K, 0, 0, errno_eperm),
        ],
    )
    for name, nr in _SELF_ONLY_X86_64.items():
        allowed = (own_pid, 0) if name in ("kill", "prlimit64") else (own_pid,)
        body: list[_Insn] = [(_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LO)]
        for i, pid in enumerate(allowed):
            body.append((_BPF_JEQ_K, len(allowed) - i, 0, pid & 0xFFFFFFFF))
        body += [(_BPF_RET_K, 0, 0, errno_eperm), (_BPF_RET_K, 0, 0, _RET_ALLOW)]
        rule(nr, body)
    prog.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_supported() -> bool:
    """Whether :func:`apply_seccomp` knows this machine's syscall table (Linux x86-64 only)."""
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def apply_seccomp() -> None:
    """Install the syscall filter described in the module docstring on this process (irreversible)."""
    if not seccomp_supported():
        raise OSError(f"seccomp filter not available for {platform.system()} {platform.machine()}")
    program = _seccomp_program(os.getpid())
    filters = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    fprog = _SockFprog(len(program), filters)
    set_no_new_privs()
    assert _prctl is not None  # set_no_new_privs raised otherwise
    zero = ctypes.c_ulong(0)
    _check(
        _prctl(
            ctypes.c_int(_PR_SET_SECCOMP),
            ctypes.c_ulong(_SECCOMP_MODE_FILTER),
            ctypes.byref(fprog),
            zero,
            zero,
        ),
        "prctl(PR_SET_SECCOMP)",
    )
