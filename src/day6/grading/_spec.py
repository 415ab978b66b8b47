"""The vocabulary of checks: the exercise catalogue, :class:`Check`, and the strict observation encoder.

A check is a *scenario*: a function that drives one exercise module (a student's submission or the
reference solution) through a scripted situation and returns an **observation**, plain JSON data
such as ``[0.1, 0.2, 0.4]``. It never decides pass or fail itself. The grader runs the scenario
twice, once on the submission inside a sandbox and once on the reference solution (or reads the
stored expectation), and compares the two observations *in the grading process*. So nothing the
submitted code does inside its sandbox (patching this module, returning an object whose ``__eq__``
always says yes, printing a fake result line) can turn a wrong answer into points: only data
crosses the boundary, and the verdict is computed where the submission cannot reach.

This module uses the standard library only, because it is copied into every sandbox next to the
runner, where the student's code runs without the rest of ``day6``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

__all__ = [
    "EXERCISES",
    "Check",
    "CheckSet",
    "CountingRandom",
    "Observation",
    "SleepRecorder",
    "encode",
    "exception_name",
    "outcome",
]

EXERCISES: dict[str, str] = {
    "ex01": "ex01_retry",
    "ex02": "ex02_classify",
    "ex03": "ex03_circuit_breaker",
    "ex04": "ex04_rate_limit",
    "ex05": "ex05_integration",
}
"""Exercise id -> module (and file) name. A submission holds ``<module>.py`` files."""

Observation = Any
"""JSON data: ``None``, ``bool``, ``int``, ``float``, ``str``, lists, and dicts with ``str`` keys."""

Scenario = Callable[[ModuleType], Observation]
_F = TypeVar("_F", bound=Scenario)

# Bounds on what one observation may hold, so a hostile return value cannot exhaust the grader.
_MAX_DEPTH = 12
_MAX_ITEMS = 20_000
_MAX_STR = 4_000


@dataclass(frozen=True)
class Check:
    """One graded scenario.

    ``title`` is the student-facing statement of what is expected. ``partial`` awards points in
    proportion to the matching elements when the observation is a list (one element per case).
    ``tolerance`` is the relative and absolute tolerance for comparing floats.
    """

    id: str
    exercise: str
    points: float
    title: str
    scenario: Scenario = field(repr=False, compare=False)
    hidden: bool = False
    partial: bool = False
    tolerance: float = 1e-9


class CheckSet:
    """The checks of one exercise, in declaration order; a check module exposes one as ``CHECKS``."""

    def __init__(self, exercise: str, *, hidden: bool = False) -> None:
        if exercise not in EXERCISES:
            raise ValueError(f"unknown exercise {exercise!r}; known: {sorted(EXERCISES)}")
        self.exercise = exercise
        self.hidden = hidden
        self.checks: list[Check] = []

    def check(
        self, *, points: float, title: str, partial: bool = False, tolerance: float = 1e-9
    ) -> Callable[[_F], _F]:
        """Register the decorated scenario as a check with id ``<exercise>.[hidden.]<function name>``."""

        def register(scenario: _F) -> _F:
            prefix = f"{self.exercise}.hidden." if self.hidden else f"{self.exercise}."
            check_id = prefix + scenario.__name__
            if any(c.id == check_id for c in self.checks):
                raise ValueError(f"duplicate check id {check_id!r}")
            if not (points > 0 and math.isfinite(points)):
                raise ValueError(f"{check_id}: points must be a positive number, got {points!r}")
            self.checks.append(
                Check(
                    check_id, self.exercise, float(points), title, scenario, self.hidden, partial, tolerance
                )
            )
            return scenario

        return register

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks)


def encode(value: object) -> Observation:
    """``value`` as plain JSON data, judged by its *real* type, never by what it claims.

    Exact builtin types pass through. Subclasses of ``bool``/``int``/``float``/``str`` (an
    ``IntEnum``, a ``StrEnum``) are reduced to their underlying builtin value through the base
    class's own slot, so an overridden ``__eq__``, ``__float__`` or ``__str__`` is never consulted.
    Tuples become lists. Non-finite floats become ``{"$float": "nan"}`` (JSON has no NaN). Anything
    else becomes ``{"$type": "<class name>"}``, which never equals an expected value.
    """
    budget = [_MAX_ITEMS]
    return _encode(value, 0, budget)


def _encode(value: object, depth: int, budget: list[int]) -> Observation:
    budget[0] -= 1
    if budget[0] < 0 or depth > _MAX_DEPTH:
        return {"$type": "<too large>"}
    t = type(value)
    if value is None or t is bool:
        return value
    if issubclass(t, bool):  # pragma: no cover - bool cannot be subclassed; kept for clarity
        return bool(value)
    if issubclass(t, int):
        number = int.__int__(value)  # type: ignore[arg-type]
        return number if abs(number) < 10**30 else {"$type": "<huge int>"}
    if issubclass(t, float):
        real = float.__float__(value)  # type: ignore[arg-type]
        if math.isfinite(real):
            return real
        return {"$float": "nan" if math.isnan(real) else ("inf" if real > 0 else "-inf")}
    if issubclass(t, str):
        text = str.__str__(value)
        return text if len(text) <= _MAX_STR else text[:_MAX_STR] + "...<truncated>"
    if t is list or t is tuple:
        return [_encode(item, depth + 1, budget) for item in value]  # type: ignore[attr-defined]
    if t is dict:
        out: dict[str, Observation] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                return {"$type": "<dict with non-str keys>"}
            out[key] = _encode(item, depth + 1, budget)
        return out
    return {"$type": getattr(t, "__qualname__", "?")}


def exception_name(exc: BaseException) -> str:
    """``ValueError`` for builtin exceptions, ``module.Name`` otherwise (a look-alike class cannot pass)."""
    t = type(exc)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def outcome(fn: Callable[[], object]) -> Observation:
    """Run ``fn`` and describe how it ended: ``{"returned": value}`` or ``{"raised": "ValueError"}``.

    ``NotImplementedError`` (an unfinished stub), ``MemoryError`` and a missing module attribute
    propagate, so the runner reports them as such instead of as a wrong answer.
    """
    try:
        value = fn()
    except (NotImplementedError, MemoryError, RecursionError):
        raise
    except AttributeError as exc:
        if isinstance(getattr(exc, "obj", None), ModuleType):
            raise
        return {"raised": exception_name(exc)}
    except Exception as exc:
        return {"raised": exception_name(exc)}
    return {"returned": encode(value)}


class CountingRandom(random.Random):
    """A seeded ``random.Random`` that counts calls to :meth:`random` (``uniform`` goes through it)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return super().random()


class SleepRecorder:
    """A ``sleep`` callable that records each delay and, if given a fake clock, advances it."""

    def __init__(self, clock: Any = None) -> None:
        self.delays: list[float] = []
        self._clock = clock

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self._clock is not None:
            self._clock.advance(max(0.0, float(seconds)))
