"""Turn results into what people read: the gradebook CSVs, a markdown summary, self-check tables.

Every string that came from a submission (exception messages, printed output) has already been
flattened by :func:`day6.grading.checks.clean`. Cells are also guarded against *CSV injection*:
a spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula, so such cells
get a leading apostrophe; a student named ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from day6.grading._spec import EXERCISES
from day6.grading.checks import ExerciseResult
from day6.grading.sandbox import Isolation

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["SelfCheckReport", "print_self_check", "summary_markdown", "write_gradebook"]

GRADEBOOK_COLUMNS = ("student", "exercise", "points", "max", "status", "message")
CHECK_COLUMNS = ("student", "exercise", "check", "hidden", "points", "max", "status", "message")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(value: float) -> str:
    return f"{value:g}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _totals(results: Sequence[ExerciseResult]) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for r in results:
        points, maximum = totals.get(r.student, (0.0, 0.0))
        totals[r.student] = (points + r.points, maximum + r.max_points)
    return totals


def summary_markdown(
    results: Sequence[ExerciseResult],
    *,
    isolation: Isolation | None = None,
    elapsed: float | None = None,
    workers: int | None = None,
    problems: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A readable summary: scores per student and exercise, status counts, sandbox, anomalies."""
    exercises = [e for e in EXERCISES if any(r.exercise == e for r in results)]
    by_key = {(r.student, r.exercise): r for r in results}
    totals = _totals(results)
    lines = ["# Grading summary", ""]
    timing = f" in {elapsed:.1f} s" if elapsed is not None else ""
    pool = f" with {workers} workers" if workers else ""
    lines.append(
        f"{len(totals)} submissions x {len(exercises)} exercises = {len(results)} jobs{timing}{pool}."
    )
    if isolation is not None:
        lines += ["", f"Sandbox: {isolation.describe()}."]
        lines += [f"- note: {note}" for note in isolation.notes]
    lines += ["", "## Scores", ""]
    lines.append("| student | " + " | ".join(exercises) + " | total | % |")
    lines.append("|---|" + "---:|" * (len(exercises) + 2))
    for student, (points, maximum) in totals.items():
        cells = []
        for exercise in exercises:
            r = by_key.get((student, exercise))
            cells.append(
                ""
                if r is None
                else f"{_number(r.points)}"
                + ("" if r.status in ("passed", "partial", "failed") else f" ({r.status})")
            )
        share = 100.0 * points / maximum if maximum else 0.0
        lines.append(
            f"| {_md(student)} | "
            + " | ".join(cells)
            + f" | {_number(points)}/{_number(maximum)} | {share:.0f} |"
        )
    lines += ["", "## Statuses", "", "| status | jobs |", "|---|---:|"]
    for status, count in sorted(Counter(r.status for r in results).items()):
        lines.append(f"| {status} | {count} |")
    if problems and any(problems.values()):
        lines += ["", "## Noticed while reading submissions", ""]
        for student, items in problems.items():
            lines += [f"- {_md(student)}: {_md(item)}" for item in items]
    return "\n".join(lines) + "\n"


def write_gradebook(
    results: Sequence[ExerciseResult],
    out_dir: Path,
    *,
    isolation: Isolation | None = None,
    elapsed: float | None = None,
    workers: int | None = None,
    problems: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Write ``gradebook.csv``, ``checks.csv``, ``summary.md`` and ``logs/`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "gradebook": out_dir / "gradebook.csv",
        "checks": out_dir / "checks.csv",
        "summary": out_dir / "summary.md",
    }
    with paths["gradebook"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(GRADEBOOK_COLUMNS)
        for r in results:
            writer.writerow(
                [
                    _cell(r.student),
                    r.exercise,
                    _number(r.points),
                    _number(r.max_points),
                    r.status,
                    _cell(r.message),
                ]
            )
    with paths["checks"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CHECK_COLUMNS)
        for r in results:
            for c in r.checks:
                writer.writerow(
                    [
                        _cell(r.student),
                        r.exercise,
                        c.check_id,
                        "yes" if c.hidden else "no",
                        _number(c.points),
                        _number(c.max_points),
                        c.status,
                        _cell(c.message),
                    ]
                )
    paths["summary"].write_text(
        summary_markdown(results, isolation=isolation, elapsed=elapsed, workers=workers, problems=problems),
        encoding="utf-8",
    )
    logs = out_dir / "logs"
    for r in results:
        if r.stdout or r.stderr:
            folder = logs / (_SAFE_NAME.sub("_", r.student).strip("._") or "student")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{r.exercise}.txt").write_text(
                f"--- stdout (tail) ---\n{r.stdout}\n--- stderr (tail) ---\n{r.stderr}\n", encoding="utf-8"
            )
    return paths


@dataclass(frozen=True)
class SelfCheckReport:
    """What ``day6 check`` / :func:`day6.grading.check` found (visible checks only)."""

    results: tuple[ExerciseResult, ...]

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.results)

    @property
    def all_passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.exercise}: {_number(r.points)}/{_number(r.max_points)}" for r in self.results)
        return f"SelfCheckReport({parts})"


_MARK = {"passed": "[green]✔[/]", "partial": "[yellow]½[/]"}


def print_self_check(report: SelfCheckReport, console: Console | None = None) -> None:
    """One table per exercise: each visible check, its points and the feedback sentence."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = console if console is not None else Console()
    for r in report.results:
        title = f"{EXERCISES[r.exercise]}.py: {_number(r.points)}/{_number(r.max_points)} points ({r.status})"
        if not r.checks or all(c.status == "not_run" for c in r.checks):
            out.print(f"[bold]{escape(title)}[/]\n  {escape(r.message)}")
            continue
        table = Table(title=title, title_justify="left", show_lines=False, expand=True)
        table.add_column("", width=2)
        table.add_column("check", no_wrap=True)
        table.add_column("points", justify="right", no_wrap=True)
        table.add_column("feedback", ratio=1)
        for c in r.checks:
            mark = _MARK.get(c.status, "[red]✘[/]")
            feedback = "ok" if c.passed else escape(c.message)
            table.add_row(mark, c.check_id, f"{_number(c.points)}/{_number(c.max_points)}", feedback)
        out.print(table)
        if r.stdout:
            out.print(f"[dim]your code printed: {escape(r.stdout[:300])}[/]")
    out.print(
        f"[bold]Total: {_number(report.points)}/{_number(report.max_points)}[/] on the visible checks. "
        "Grading adds hidden checks with other inputs: follow the specification, not just the examples."
    )
