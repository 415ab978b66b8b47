"""Exercises, self-check and grading: ``day6 check`` for students, ``day6 grade`` for instructors.

Students complete the stubs in ``exercises/`` and check them offline at any time::

    day6.grading.check("ex01")       # in a notebook: a feedback table for Exercise 1
    day6 check                       # in a terminal: every exercise

Instructors grade a folder of submissions; every (student, exercise) pair runs in its own
sandboxed process and is compared, in the grader, with the reference solutions::

    day6 grade submissions/ --solutions solutions --hidden grading/hidden --out grades/

How the pieces fit: :mod:`~day6.grading._spec` defines checks as scenarios that return plain
observations; :mod:`~day6.grading.sandbox` runs untrusted code (:mod:`~day6.grading.runner` inside,
confined by :mod:`~day6.grading._confine`); :mod:`~day6.grading.checks` scores observations
against expectations; :mod:`~day6.grading.grader` finds submissions and runs batches;
:mod:`~day6.grading.report` writes the gradebook and prints feedback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from day6.grading.checks import CheckResult, ExerciseResult
from day6.grading.cli import cli_check, cli_grade
from day6.grading.grader import Grader, Submission, discover_submissions, read_submission, self_check
from day6.grading.report import SelfCheckReport, print_self_check, write_gradebook
from day6.grading.sandbox import Isolation, SandboxError, SandboxPolicy

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "CheckResult",
    "ExerciseResult",
    "Grader",
    "Isolation",
    "SandboxError",
    "SandboxPolicy",
    "SelfCheckReport",
    "Submission",
    "check",
    "cli_check",
    "cli_grade",
    "discover_submissions",
    "read_submission",
    "write_gradebook",
]


def check(
    *exercises: str,
    exercises_dir: str | Path | None = None,
    timeout: float = 10.0,
    console: Console | None = None,
) -> SelfCheckReport:
    """Run the visible checks on your exercise files and print the feedback: ``check("ex01")``.

    With no argument every exercise is checked. ``exercises_dir`` defaults to ``exercises/`` next
    to (or above) the current folder, so it works from the workbook root and from ``notebooks/``.
    Your code runs in a separate process with a time limit, so an infinite loop cannot hang the
    notebook. Returns the report (its ``points`` and ``max_points``) after printing it.
    """
    folder = Path(exercises_dir) if exercises_dir is not None else None
    results = self_check(list(exercises) or None, exercises_dir=folder, timeout=timeout)
    report = SelfCheckReport(tuple(results))
    print_self_check(report, console)
    return report
