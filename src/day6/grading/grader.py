"""Grade submissions: find them, run every (student, exercise) job in the sandbox, collect results.

A *submission* is one student's folder, or one ``.zip``, holding ``ex0N_*.py`` files (nested
folders are fine, e.g. a zipped ``exercises/`` directory). Files are read by the grader as bytes
and never imported here: the only code executed in this process is the trusted check scenarios and
reference solutions. Symbolic links, special files, oversized files and unsafe archive members are
skipped (a link to ``/etc/shadow`` must not be copied into a sandbox by a grader running as root).

Each (student, exercise) pair is one sandboxed job, so a hang in one exercise costs only that
exercise. Jobs run ``workers`` at a time on a thread pool (each thread just waits on its
subprocess), and the batch always finishes: anything a job does ends as a status, never as an
exception here.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from day6.clock import Clock, SystemClock
from day6.errors import ConfigError
from day6.grading._spec import EXERCISES
from day6.grading.checks import CheckSuite, ExerciseResult, evaluate, load_suites, missing_result
from day6.grading.sandbox import Isolation, Job, Sandbox, SandboxPolicy

__all__ = ["Grader", "Submission", "discover_submissions", "find_exercises_dir", "read_submission"]

MAX_FILE_BYTES = 256 << 10
MAX_ARCHIVE_BYTES = 16 << 20
_MAX_DEPTH = 4
_EXERCISE_FILE = re.compile(r"^(ex0\d)_[A-Za-z0-9_]*\.py$")


@dataclass(frozen=True, slots=True)
class Submission:
    """One student's files, by exercise id, and anything odd noticed while reading them."""

    student: str
    files: Mapping[str, bytes]
    problems: tuple[str, ...] = ()


def _pick(exercise: str, candidates: list[tuple[str, bytes]], problems: list[str]) -> bytes | None:
    """The canonical file name wins; otherwise a single candidate; otherwise it is ambiguous."""
    canonical = f"{EXERCISES[exercise]}.py"
    exact = [data for name, data in candidates if Path(name).name == canonical]
    if len(exact) == 1:
        return exact[0]
    if not exact and len(candidates) == 1:
        return candidates[0][1]
    if candidates:
        names = ", ".join(sorted(name for name, _ in candidates))
        problems.append(f"{exercise}: several candidate files ({names}); name one {canonical}")
    return None


def _walk_folder(root: Path, problems: list[str]) -> Iterator[tuple[str, bytes]]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and depth < _MAX_DEPTH)
        for name in sorted(files):
            if not _EXERCISE_FILE.match(name):
                continue
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{rel}: not a regular file (skipped)")
                continue
            if info.st_size > MAX_FILE_BYTES:
                problems.append(f"{rel}: larger than {MAX_FILE_BYTES >> 10} KiB (skipped)")
                continue
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(path, flags)
            with os.fdopen(fd, "rb") as fh:
                yield rel, fh.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]


def _walk_zip(archive: Path, problems: list[str]) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(archive) as zf:
            total = 0
            for info in zf.infolist():
                name = info.filename
                base = name.rsplit("/", 1)[-1]
                if info.is_dir() or not _EXERCISE_FILE.match(base) or "__MACOSX" in name:
                    continue
                if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                    problems.append(f"{name}: a symbolic link in the archive (skipped)")
                    continue
                if name.count("/") > _MAX_DEPTH:
                    continue
                with zf.open(info) as member:  # read a bounded amount: headers can lie
                    data = member.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    problems.append(f"{name}: larger than {MAX_FILE_BYTES >> 10} KiB (skipped)")
                    continue
                total += len(data)
                if total > MAX_ARCHIVE_BYTES:
                    problems.append("archive holds too much data; the rest was skipped")
                    return
                yield name, data
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        problems.append(f"{archive.name}: unreadable archive ({type(exc).__name__})")


def read_submission(path: Path, student: str | None = None) -> Submission:
    """Read one student's folder or ``.zip`` (never following links, never executing anything)."""
    problems: list[str] = []
    if path.is_symlink():
        return Submission(student or path.name, {}, (f"{path.name}: a symbolic link (skipped)",))
    walker = _walk_zip(path, problems) if path.suffix.lower() == ".zip" else _walk_folder(path, problems)
    by_exercise: dict[str, list[tuple[str, bytes]]] = {}
    for name, data in walker:
        match = _EXERCISE_FILE.match(name.rsplit("/", 1)[-1])
        if match and match.group(1) in EXERCISES:
            by_exercise.setdefault(match.group(1), []).append((name, data))
    files = {}
    for exercise in EXERCISES:
        chosen = _pick(exercise, by_exercise.get(exercise, []), problems)
        if chosen is not None:
            files[exercise] = chosen
    name = student or (path.stem if path.suffix.lower() == ".zip" else path.name)
    return Submission(name, files, tuple(problems))


def discover_submissions(folder: Path) -> list[Submission]:
    """Every sub-folder and ``.zip`` in ``folder`` is one student (sorted by name; dot-files skipped)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no submissions folder at {folder}")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_symlink() or entry.is_dir() or entry.suffix.lower() == ".zip":
            found.append(read_submission(entry))
    return found


def find_exercises_dir(start: Path | None = None) -> Path:
    """The student's ``exercises/`` folder: ``./exercises``, ``.`` itself, or ``../exercises``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here / "exercises", here, here.parent / "exercises"):
        if any((candidate / f"{module}.py").is_file() for module in EXERCISES.values()):
            return candidate
    raise FileNotFoundError(
        f"no exercises folder found from {here}: run from the workbook folder, or pass exercises_dir="
    )


class Grader:
    """Checks + sandbox: grades one exercise, one submission, or a whole batch.

    ``solutions_dir`` and ``hidden_dir`` are the instructor's: with both, hidden checks are added
    and their expectations computed from the solutions; both are also probed to make sure no job
    can read them. Without them only the visible checks run (what ``day6 check`` does).
    ``workdir`` is where job folders are created (default: the system temporary folder).
    """

    def __init__(
        self,
        *,
        policy: SandboxPolicy | None = None,
        solutions_dir: Path | None = None,
        hidden_dir: Path | None = None,
        exercises: Sequence[str] | None = None,
        workers: int = 2,
        clock: Clock | None = None,
        workdir: Path | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise ConfigError("workers", workers, "an integer from 1 to 64")
        self.policy = policy if policy is not None else SandboxPolicy()
        self.workers = workers
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.suites: dict[str, CheckSuite] = load_suites(
            exercises, solutions_dir=solutions_dir, hidden_dir=hidden_dir
        )
        self._secrets = [p for p in (solutions_dir, hidden_dir) if p is not None]
        self.sandbox = Sandbox(self.policy, clock=self._clock, workdir=workdir)
        self._isolation: Isolation | None = None
        self._prepare_lock = threading.Lock()

    def prepare(self) -> Isolation:
        """Probe the sandbox once (raises :class:`~day6.grading.sandbox.SandboxError` if unsafe)."""
        with self._prepare_lock:
            if self._isolation is None:
                self._isolation = self.sandbox.prepare(secrets_paths=self._secrets)
            return self._isolation

    def grade_exercise(self, student: str, exercise: str, source: bytes | None) -> ExerciseResult:
        """Grade one file (``None``: the submission has no file for this exercise)."""
        suite = self.suites[exercise]
        if source is None:
            return missing_result(student, suite, f"no {suite.module}.py in the submission")
        self.prepare()
        job = Job(
            module=suite.module,
            source=source,
            check_modules=suite.sources,
            check_ids=[c.id for c in suite.checks],
        )
        try:
            run = self.sandbox.run(job)
            return evaluate(student, suite, run, self.policy)
        except Exception as exc:  # a grader bug must not stop the batch; it is reported instead
            return ExerciseResult(
                student, exercise, 0.0, suite.max_points, "sandbox_error", f"internal grader error: {exc!r}"
            )

    def grade(
        self,
        submissions: Sequence[Submission],
        *,
        on_result: Callable[[ExerciseResult], None] | None = None,
    ) -> list[ExerciseResult]:
        """Grade every exercise of every submission, ``workers`` jobs at a time, in a stable order."""
        self.prepare()
        jobs = [(s, e) for s in submissions for e in self.suites]

        def work(item: tuple[Submission, str]) -> ExerciseResult:
            submission, exercise = item
            result = self.grade_exercise(submission.student, exercise, submission.files.get(exercise))
            if on_result is not None:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="day6-grade") as pool:
            return list(pool.map(work, jobs))

    def grade_with_progress(
        self, submissions: Sequence[Submission], *, show: bool = True
    ) -> list[ExerciseResult]:
        """:meth:`grade` with a rich progress bar on stderr (only when ``show`` and stderr is a terminal)."""
        total = len(submissions) * len(self.suites)
        if not show or not sys.stderr.isatty():
            return self.grade(submissions)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as progress:
            task = progress.add_task("grading", total=total)
            return self.grade(submissions, on_result=lambda _result: progress.advance(task))


def self_check(
    exercises: Sequence[str] | None = None,
    *,
    exercises_dir: Path | None = None,
    timeout: float = 10.0,
    clock: Clock | None = None,
) -> list[ExerciseResult]:
    """Run the visible checks on a student's own exercise files (best-effort isolation)."""
    folder = exercises_dir if exercises_dir is not None else find_exercises_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"no exercises folder at {folder}")
    policy = SandboxPolicy(
        timeout=timeout,
        check_timeout=min(5.0, timeout),
        isolation="best_effort",
        drop_privileges=False,
    )
    grader = Grader(
        policy=policy, exercises=exercises, workers=min(2, len(exercises or EXERCISES)), clock=clock
    )
    submission = read_submission(folder, student="you")
    return grader.grade([submission])
