"""Hidden checks for Exercise 3. Instructor only: never ship this folder to students."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

from day6.clock import FakeClock
from day6.grading._spec import CheckSet, Observation, outcome

CHECKS = CheckSet("ex03", hidden=True)


def _none(_built: object) -> None:
    """Construct for the side effect only: the observation must not depend on the object."""


def _opened(ex: ModuleType, clock: FakeClock, **settings: float) -> Any:
    breaker = ex.CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock, **settings)
    breaker.allow_request()
    breaker.record_failure()
    return breaker


@CHECKS.check(points=2, title="half_open admits one probe at a time")
def single_probe(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = _opened(ex, clock, success_threshold=2)
    clock.advance(10.0)
    first = b.allow_request()
    second = b.allow_request()
    b.record_success()
    after = b.allow_request()
    return [first, second, after, b.state]


@CHECKS.check(points=2, title="success_threshold=2 needs two successful probes to close")
def success_threshold(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = _opened(ex, clock, success_threshold=2)
    clock.advance(10.0)
    states = []
    for _ in range(2):
        b.allow_request()
        b.record_success()
        states.append(b.state)
    return states


@CHECKS.check(points=1, partial=True, title="invalid settings raise ValueError")
def invalid_settings(ex: ModuleType) -> Observation:
    clock = FakeClock()
    settings: list[dict[str, float]] = [
        {"failure_threshold": 0},
        {"success_threshold": 0},
        {"recovery_timeout": -1.0},
        {"recovery_timeout": float("inf")},
    ]
    return [[s, outcome(lambda s=s: _none(ex.CircuitBreaker(clock=clock, **s)))] for s in settings]


@CHECKS.check(points=1, title="late results while open are ignored (the timer is not restarted)")
def late_results_ignored(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = _opened(ex, clock)
    clock.advance(5.0)
    b.record_failure()
    b.record_success()
    state = b.state
    clock.advance(5.0)
    return [state, b.allow_request()]


@CHECKS.check(points=4, partial=True, title="a long random trace matches the specification step by step")
def random_trace(ex: ModuleType) -> Observation:
    rng = random.Random(2024)
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=3, recovery_timeout=4.0, success_threshold=2, clock=clock)
    steps = []
    for step in range(240):
        if b.allow_request():
            ok = rng.random() < (0.35 if 60 <= step < 140 else 0.8)
            if ok:
                b.record_success()
            else:
                b.record_failure()
            steps.append([step, ["admitted", "success" if ok else "failure", b.state]])
        else:
            steps.append([step, ["refused"]])
        clock.advance(rng.choice((0.25, 0.5, 1.0)))
    return steps
