"""The trusted side of grading: which checks exist, what they expect, and what a run earned.

Checks come in two sets with the same format (modules exposing ``CHECKS``, see
:mod:`day6.grading._spec`):

* **visible** checks ship in the package (:mod:`day6.grading.visible`); students run them with
  ``day6 check``. Their expected observations are stored in
  :mod:`day6.grading.visible.expected`, generated from the reference solutions by
  ``python -m day6.grading.checks --write-expected solutions`` (a test keeps it in sync).
* **hidden** checks live in an instructor-only folder (``grading/hidden/`` at the top of the
  repository, or any folder passed to ``day6 grade --hidden``). Their expectations are computed at
  grading time by running the same scenarios on the reference solutions, in this process; they are
  never stored or shipped.

Scoring happens here, never in the sandbox: :func:`evaluate` turns a :class:`RunResult` (plain
observations) into points and student-facing feedback. Each check is all-or-nothing, except
``partial`` checks, which earn points in proportion to the cases they get right. A run that did not
finish cleanly (timeout, crash, exit, output flood, tampering) earns nothing for that exercise,
with a status saying why:

=================  ======================================================================
exercise status    meaning
=================  ======================================================================
passed             every check passed
partial            some points
failed             it ran, and no check passed
not_implemented    every check still hits ``NotImplementedError`` (the untouched stub)
missing            no file for this exercise, or a function/class the checks need is absent
syntax_error       the file does not compile
import_error       importing the module raised
exited             ``sys.exit()`` / ``os._exit()`` ended the process early
crashed            the interpreter died (a signal)
timeout            the wall-clock deadline (or the CPU limit) was reached
memory             the module ran out of memory while being imported
output_limit       it printed more than the output limit
forged             the result channel carried records the runner did not write
sandbox_error      the grader could not run the job (not the student's fault)
=================  ======================================================================
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from day6.grading._spec import EXERCISES, Check, CheckSet, Observation, encode
from day6.grading.sandbox import RunResult, SandboxPolicy

__all__ = [
    "CheckResult",
    "CheckSuite",
    "ExerciseResult",
    "compare",
    "evaluate",
    "load_suites",
    "missing_result",
    "resolve_exercise",
    "visible_expectations",
    "write_visible_expectations",
]

_PACKAGE = Path(__file__).resolve().parent
_VISIBLE_EXPECTED = _PACKAGE / "visible" / "expected.py"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict, with the sentence a student reads."""

    check_id: str
    exercise: str
    title: str
    points: float
    max_points: float
    status: str
    message: str
    hidden: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True, slots=True)
class ExerciseResult:
    """One student's result on one exercise: points, a status, a summary and the per-check detail."""

    student: str
    exercise: str
    points: float
    max_points: float
    status: str
    message: str
    checks: tuple[CheckResult, ...] = ()
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class CheckSuite:
    """All checks of one exercise, their expectations, and the check-module sources to ship."""

    exercise: str
    checks: tuple[Check, ...]
    expected: Mapping[str, Observation]
    sources: Mapping[str, bytes] = field(repr=False)

    @property
    def module(self) -> str:
        return EXERCISES[self.exercise]

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks)


def resolve_exercise(name: str) -> str:
    """``"ex01"`` from ``"ex01"``, ``"1"``, ``"ex01_retry"`` or ``"ex01_retry.py"``."""
    key = name.strip().lower().removesuffix(".py")
    if key.isdigit():
        key = f"ex{int(key):02d}"
    for exercise, module in EXERCISES.items():
        if key in (exercise, module):
            return exercise
    raise ValueError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")


# --- loading ------------------------------------------------------------------------------------


def _import_path(path: Path, name: str) -> ModuleType:
    """Import a trusted file (solution or hidden check module) under a private module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _check_set(module: ModuleType, exercise: str, origin: str) -> CheckSet:
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, CheckSet) or checks.exercise != exercise:
        raise ValueError(f"{origin} must define CHECKS = CheckSet({exercise!r})")
    return checks


def visible_expectations() -> dict[str, Observation]:
    """The stored expected observations of the visible checks."""
    from day6.grading.visible import expected

    return dict(expected.EXPECTED)


def expectations_from(checks: Iterable[Check], solution: ModuleType) -> dict[str, Observation]:
    """Run each scenario on the reference solution, here, and keep the observation as JSON data.

    The JSON round trip makes the expectation exactly what a sandbox would have sent (tuples
    become lists, floats keep their repr).
    """
    expected = {}
    for check in checks:
        try:
            value = check.scenario(solution)
        except Exception as exc:
            raise RuntimeError(f"check {check.id} fails on the reference solution: {exc!r}") from exc
        expected[check.id] = json.loads(json.dumps(encode(value), allow_nan=False))
    return expected


def load_suites(
    exercises: Sequence[str] | None = None,
    *,
    solutions_dir: Path | None = None,
    hidden_dir: Path | None = None,
    visible: bool = True,
) -> dict[str, CheckSuite]:
    """Assemble the suite of each exercise: visible checks (stored expectations) and hidden ones.

    Hidden checks need ``solutions_dir``: their expectations come from running the reference
    solutions in this process. A hidden folder without a file for some exercise simply adds no
    hidden checks to it.
    """
    wanted = [resolve_exercise(e) for e in exercises] if exercises else list(EXERCISES)
    stored = visible_expectations() if visible else {}
    suites = {}
    for exercise in wanted:
        checks: list[Check] = []
        expected: dict[str, Observation] = {}
        sources: dict[str, bytes] = {}
        if visible:
            name = f"day6.grading.visible.{exercise}"
            module = importlib.import_module(name)
            checks += _check_set(module, exercise, name).checks
            missing = [c.id for c in checks if c.id not in stored]
            if missing:
                raise RuntimeError(
                    f"no stored expectation for {missing}; run "
                    "`python -m day6.grading.checks --write-expected solutions`"
                )
            expected.update({c.id: stored[c.id] for c in checks})
            sources[name] = Path(module.__file__ or "").read_bytes()
        hidden_file = hidden_dir / f"{exercise}.py" if hidden_dir is not None else None
        if hidden_file is not None and hidden_file.is_file():
            if solutions_dir is None:
                raise ValueError("hidden checks need --solutions to compute their expectations")
            module = _import_path(hidden_file, f"_day6_hidden_{exercise}")
            hidden = _check_set(module, exercise, str(hidden_file)).checks
            solution = _import_path(solutions_dir / f"{EXERCISES[exercise]}.py", f"_day6_solution_{exercise}")
            expected.update(expectations_from(hidden, solution))
            checks += hidden
            sources[f"_hidden_{exercise}"] = hidden_file.read_bytes()
        suites[exercise] = CheckSuite(exercise, tuple(checks), expected, sources)
    return suites


def write_visible_expectations(solutions_dir: Path, target: Path = _VISIBLE_EXPECTED) -> Path:
    """Regenerate the stored expectations of the visible checks from the reference solutions."""
    expected: dict[str, Observation] = {}
    for exercise, module_name in EXERCISES.items():
        checks = _check_set(
            importlib.import_module(f"day6.grading.visible.{exercise}"), exercise, exercise
        ).checks
        solution = _import_path(solutions_dir / f"{module_name}.py", f"_day6_solution_{exercise}")
        expected.update(expectations_from(checks, solution))
    payload = json.dumps(expected, indent=1, sort_keys=True, allow_nan=False)
    target.write_text(
        '"""Expected observations of the visible checks. Generated; do not edit.\n\n'
        "Regenerate with ``python -m day6.grading.checks --write-expected solutions`` after changing a\n"
        "visible check or a reference solution (tests/test_grading.py fails until you do).\n"
        '"""\n\n'
        "import json\n\n"
        "from day6.grading._spec import Observation\n\n"
        f'EXPECTED: dict[str, Observation] = json.loads(\n    r"""\n{payload}\n"""\n)\n',
        encoding="utf-8",
    )
    return target


# --- comparing ----------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(expected: Observation, observed: Observation, tolerance: float) -> str | None:
    """``None`` when ``observed`` matches ``expected``; else where they first differ (``"[2]"``, ``".x"``).

    Numbers compare with ``math.isclose`` (relative and absolute ``tolerance``); an int may stand
    for a float of the same value. ``True`` is not ``1``. Everything else must be equal exactly.
    """
    return _first_difference(expected, observed, tolerance, "")


def _first_difference(expected: Observation, observed: Observation, tol: float, path: str) -> str | None:
    if isinstance(expected, bool) or isinstance(observed, bool):
        return None if type(expected) is type(observed) and expected == observed else path or "value"
    if _is_number(expected) and _is_number(observed):
        if isinstance(expected, int) and isinstance(observed, int):
            return None if expected == observed else path or "value"
        same = math.isclose(float(expected), float(observed), rel_tol=tol, abs_tol=tol)
        return None if same else path or "value"
    if isinstance(expected, list) and isinstance(observed, list):
        if len(expected) != len(observed):
            return f"{path or 'value'} (length {len(observed)} instead of {len(expected)})"
        for index, (exp, obs) in enumerate(zip(expected, observed, strict=True)):
            where = _first_difference(exp, obs, tol, f"{path}[{index}]")
            if where is not None:
                return where
        return None
    if isinstance(expected, dict) and isinstance(observed, dict):
        if set(expected) != set(observed):
            return path or "value"
        for key in sorted(expected):
            where = _first_difference(expected[key], observed[key], tol, f"{path}.{key}")
            if where is not None:
                return where
        return None
    if type(expected) is type(observed) and expected == observed:
        return None
    return path or "value"


def _show(value: Observation, limit: int = 160) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clean(text: str, limit: int = 300) -> str:
    """Student-controlled text made safe for one line of a report: no control characters, bounded."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- scoring ------------------------------------------------------------------------------------


def _score_returned(check: Check, expected: Observation, observed: Observation) -> CheckResult:
    title = check.title
    partial = check.partial and isinstance(expected, list) and isinstance(observed, list)
    if partial and expected and len(expected) == len(observed):
        wrong = [
            i
            for i, (e, o) in enumerate(zip(expected, observed, strict=True))
            if compare(e, o, check.tolerance) is not None
        ]
        right = len(expected) - len(wrong)
        points = round(check.points * right / len(expected), 2)
        if not wrong:
            return _result(check, check.points, "passed", "passed")
        first = wrong[0]
        message = (
            f"{title}: {right}/{len(expected)} cases right; first wrong case "
            f"{_show(expected[first][0]) if _is_case(expected[first]) else first}: expected "
            f"{_show(_case_value(expected[first]))}, got {_show(_case_value(observed[first]))}"
        )
        return _result(check, points, "partial" if right else "wrong", message)
    where = compare(expected, observed, check.tolerance)
    if where is None:
        return _result(check, check.points, "passed", "passed")
    detail = "" if where == "value" else f" (first difference at {where})"
    return _result(check, 0.0, "wrong", f"{title}: expected {_show(expected)}, got {_show(observed)}{detail}")


def _is_case(item: Observation) -> bool:
    """Partial checks report ``[input, output]`` pairs; show the input when they do."""
    return isinstance(item, list) and len(item) == 2


def _case_value(item: Observation) -> Observation:
    return item[1] if _is_case(item) else item


def _result(check: Check, points: float, status: str, message: str) -> CheckResult:
    return CheckResult(
        check.id, check.exercise, check.title, points, check.points, status, message, check.hidden
    )


def _score_raised(
    check: Check, record: Mapping[str, Any], policy: SandboxPolicy, filename: str
) -> CheckResult:
    status = str(record.get("status", "error"))
    error = record.get("error") or {}
    name = clean(str(error.get("type", "an exception")), 80)
    text = clean(str(error.get("message", "")), 200)
    where = clean(str(error.get("where", "")), 80)
    at = f" ({where})" if where else ""
    if status == "not_implemented":
        message = f"{check.title}: still raises NotImplementedError{at}; complete the TODOs"
    elif status == "missing":
        missing = clean(str(error.get("missing", "?")), 80)
        message = f"{check.title}: {filename} has no `{missing}` (was it renamed or deleted?)"
    elif status == "timeout":
        message = f"{check.title}: did not finish within {policy.check_timeout:g} s (an infinite loop?){at}"
    elif status == "memory":
        message = f"{check.title}: ran out of memory (limit {policy.memory_bytes >> 20} MiB){at}"
    elif status == "exited":
        message = f"{check.title}: called sys.exit(){at}; return a value or raise an exception instead"
    else:
        status = "error"
        message = f"{check.title}: raised {name}: {text}{at}" if text else f"{check.title}: raised {name}{at}"
    return _result(check, 0.0, status, message)


def _zero(suite: CheckSuite, message: str) -> tuple[CheckResult, ...]:
    return tuple(_result(c, 0.0, "not_run", message) for c in suite.checks) if suite.checks else ()


def missing_result(student: str, suite: CheckSuite, reason: str) -> ExerciseResult:
    """The result for an exercise the submission does not contain."""
    checks = tuple(_result(c, 0.0, "missing", reason) for c in suite.checks)
    return ExerciseResult(student, suite.exercise, 0.0, suite.max_points, "missing", reason, checks)


def evaluate(student: str, suite: CheckSuite, run: RunResult, policy: SandboxPolicy) -> ExerciseResult:
    """Score one run. Only authenticated records count; a run that did not end cleanly scores 0."""
    filename = f"{suite.module}.py"

    def fail(status: str, message: str) -> ExerciseResult:
        return ExerciseResult(
            student,
            suite.exercise,
            0.0,
            suite.max_points,
            status,
            message,
            _zero(suite, message),
            clean(run.stdout.decode("utf-8", "replace"), 2000),
            clean(run.stderr.decode("utf-8", "replace"), 2000),
            run.duration,
        )

    hello, imported, done = run.first("hello"), run.first("import"), run.first("done")
    signal_name = run.signal_name()
    if run.limit == "timeout" or signal_name == "SIGXCPU":
        return fail("timeout", f"stopped after {policy.timeout:g} s (an infinite loop or a blocking call?)")
    if run.limit == "output_limit":
        return fail(
            "output_limit",
            f"printed more than {policy.output_bytes >> 10} KiB; remove debugging prints and run again",
        )
    if run.forged:
        return fail("forged", "the result channel was tampered with: " + clean(run.forged[0], 160))
    if hello is None or not hello.get("ok"):
        detail = clean(
            str(hello.get("error")) if hello else run.stderr.decode("utf-8", "replace")[-300:], 300
        )
        return fail("sandbox_error", f"the grader could not run this exercise (not your fault): {detail}")
    if imported is None:
        if signal_name:
            return fail("crashed", f"the Python process died ({signal_name}) while importing {filename}")
        if run.returncode:
            return fail(
                "crashed", f"the process failed (exit code {run.returncode}) while importing {filename}"
            )
        return fail("exited", f"{filename} ended the process while being imported (sys.exit or os._exit?)")
    if not imported.get("ok"):
        error = imported.get("error") or {}
        status = str(imported.get("status", "error"))
        kind, text = clean(str(error.get("type", "")), 80), clean(str(error.get("message", "")), 200)
        if status == "syntax_error":
            return fail("syntax_error", f"{filename} does not compile: line {error.get('line')}: {text}")
        if status == "exited":
            return fail("exited", f"{filename} called sys.exit() while being imported")
        if status == "memory":
            return fail("memory", f"{filename} ran out of memory while being imported")
        if status == "timeout":
            return fail("timeout", f"importing {filename} took longer than {policy.check_timeout:g} s")
        where = clean(str(error.get("where", "")), 80)
        return fail(
            "import_error", f"importing {filename} raised {kind}: {text}" + (f" ({where})" if where else "")
        )
    by_id = {r["id"]: r for r in run.records if r["type"] == "check"}
    if done is None:
        pending = next((c.id for c in suite.checks if c.id not in by_id), "?")
        if signal_name or run.returncode:
            how = f"({signal_name})" if signal_name else f"(exit code {run.returncode})"
            return fail("crashed", f"the Python process failed {how} during check {pending}")
        return fail("exited", f"the process ended during check {pending} (os._exit?)")

    results = []
    for check in suite.checks:
        record = by_id.get(check.id)
        if record is None:  # pragma: no cover - `done` guarantees every check reported
            results.append(_result(check, 0.0, "not_run", f"{check.title}: no result"))
        elif record.get("status") == "returned":
            results.append(_score_returned(check, suite.expected[check.id], record.get("value")))
        else:
            results.append(_score_raised(check, record, policy, filename))
    points = round(sum(r.points for r in results), 2)
    statuses = {r.status for r in results}
    if points >= suite.max_points:
        status, message = "passed", "all checks passed"
    elif "missing" in statuses:  # flagged even with partial points: likely a renamed function
        status = "missing"
        message = next(r.message for r in results if r.status == "missing")
    elif points > 0:
        failing = sum(1 for r in results if not r.passed)
        status, message = "partial", f"{failing} of {len(results)} checks not passed"
    elif statuses == {"not_implemented"}:
        status, message = "not_implemented", "still the stub: every check raises NotImplementedError"
    elif len(statuses) == 1 and statuses <= {"memory", "timeout", "exited"}:
        status = statuses.pop()
        message = f"every check ended with {status}: " + results[0].message
    else:
        status, message = "failed", "no check passed"
    return ExerciseResult(
        student,
        suite.exercise,
        points,
        suite.max_points,
        status,
        message,
        tuple(results),
        clean(run.stdout.decode("utf-8", "replace"), 2000),
        clean(run.stderr.decode("utf-8", "replace"), 2000),
        run.duration,
    )


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m day6.grading.checks", description=__doc__.split("\n")[0])
    parser.add_argument("--write-expected", metavar="SOLUTIONS_DIR", type=Path, required=True)
    args = parser.parse_args(argv)
    path = write_visible_expectations(args.write_expected)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
