"""``day6 check`` and ``day6 grade``: argument parsing and exit codes (the ``day6`` command wires them).

Exit codes, chosen so scripts and CI can rely on them:

``day6 check``
    0: the checks ran and the feedback was printed, whatever the score (it is feedback, not a
    gate); 1: ``--strict`` was given and a visible check did not pass, or the checks could not run
    (no exercises folder, the sandbox failed to start); 2: invalid arguments.

``day6 grade``
    0: every job was graded and the gradebook written, even if students scored 0 or their code hung
    (those are results); 1: grading could not start or finish safely (missing folders, the probe
    found weak isolation, a grader bug); 2: invalid arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from day6.clock import SystemClock
from day6.errors import ConfigError
from day6.grading.checks import resolve_exercise
from day6.grading.grader import Grader, discover_submissions, self_check
from day6.grading.report import SelfCheckReport, print_self_check, write_gradebook
from day6.grading.sandbox import SandboxError, SandboxPolicy

__all__ = ["cli_check", "cli_grade"]


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2): report it as a return code
        return int(exc.code) if isinstance(exc.code, int) else 2


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _exercise(text: str) -> str:
    try:
        return resolve_exercise(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cli_check(argv: Sequence[str]) -> int:
    """``day6 check [EXERCISE ...] [--exercises DIR] [--timeout S] [--strict]``."""
    parser = argparse.ArgumentParser(
        prog="day6 check",
        description="Run the visible checks on your exercises and print feedback (offline).",
    )
    parser.add_argument("exercise", nargs="*", type=_exercise, help="ex01 ... ex05 (default: all)")
    parser.add_argument("--exercises", type=Path, default=None, help="your exercises folder (default: found)")
    parser.add_argument("--timeout", type=_positive, default=10.0, help="seconds per exercise (default 10)")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every visible check passes")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    try:
        results = self_check(args.exercise or None, exercises_dir=args.exercises, timeout=args.timeout)
    except (FileNotFoundError, SandboxError, ConfigError) as exc:
        print(f"day6 check: {exc}", file=sys.stderr)
        return 1
    report = SelfCheckReport(tuple(results))
    print_self_check(report)
    return 1 if args.strict and not report.all_passed else 0


def cli_grade(argv: Sequence[str]) -> int:
    """``day6 grade SUBMISSIONS_DIR [--out DIR] [--workers N] [--timeout S] [--solutions DIR] ...``."""
    parser = argparse.ArgumentParser(
        prog="day6 grade",
        description=(
            "Grade a folder of submissions (one sub-folder or .zip per student), each exercise in its "
            "own sandboxed process, and write gradebook.csv, checks.csv and summary.md."
        ),
    )
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder or .zip per student")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default ./grades)")
    parser.add_argument("--workers", type=int, default=2, help="jobs in parallel (default 2)")
    parser.add_argument(
        "--timeout", type=_positive, default=20.0, help="wall-clock seconds per job (default 20)"
    )
    parser.add_argument("--check-timeout", type=_positive, default=5.0, help="seconds per check (default 5)")
    parser.add_argument("--memory", type=int, default=1024, help="memory limit per job in MiB (default 1024)")
    parser.add_argument(
        "--solutions", type=Path, default=None, help="reference solutions (default ./solutions)"
    )
    parser.add_argument("--hidden", type=Path, default=None, help="hidden checks (default ./grading/hidden)")
    parser.add_argument("--visible-only", action="store_true", help="skip hidden checks")
    parser.add_argument("--python", default=None, help="interpreter used inside the sandbox (default: found)")
    parser.add_argument("--user", default="nobody", help="user the jobs run as when grading as root")
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="grade even if the probe finds weak isolation (not advised)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    solutions = args.solutions or (Path("solutions") if Path("solutions").is_dir() else None)
    hidden = (
        None
        if args.visible_only
        else (args.hidden or (Path("grading/hidden") if Path("grading/hidden").is_dir() else None))
    )
    if hidden is not None and solutions is None:
        print("day6 grade: hidden checks need --solutions (or pass --visible-only)", file=sys.stderr)
        return 2
    clock = SystemClock()
    try:
        policy = SandboxPolicy(
            timeout=args.timeout,
            check_timeout=min(args.check_timeout, args.timeout),
            memory_bytes=args.memory << 20,
            isolation="best_effort" if args.allow_insecure else "strict",
            user=args.user,
            python=args.python,
        )
        grader = Grader(
            policy=policy,
            solutions_dir=solutions,
            hidden_dir=hidden,
            workers=args.workers,
            clock=clock,
        )
        submissions = discover_submissions(args.submissions)
        isolation = grader.prepare()
        started = clock.now()
        results = grader.grade_with_progress(submissions, show=not args.no_progress)
        elapsed = clock.now() - started
        paths = write_gradebook(
            results,
            args.out,
            isolation=isolation,
            elapsed=elapsed,
            workers=args.workers,
            problems={s.student: s.problems for s in submissions},
        )
    except (FileNotFoundError, SandboxError, ConfigError, ValueError, RuntimeError, ImportError) as exc:
        print(f"day6 grade: {exc}", file=sys.stderr)
        return 1
    print(paths["summary"].read_text(encoding="utf-8"))
    print(f"wrote {paths['gradebook']}, {paths['checks']} and {paths['summary']}")
    return 0
