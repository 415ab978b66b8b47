"""Hidden checks for Exercise 1. Instructor only: never ship this folder to students.

Expectations are computed at grading time from solutions/ex01_retry.py.
"""

from __future__ import annotations

import random
from types import ModuleType

from day6.grading._spec import CheckSet, CountingRandom, Observation, SleepRecorder, exception_name, outcome

CHECKS = CheckSet("ex01", hidden=True)


class _Transient(Exception):
    retriable = True


class _Abort(BaseException):
    """Like KeyboardInterrupt: must propagate at once even though it claims to be retriable."""

    retriable = True


class _Script:
    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.calls = 0
        self.raised: list[BaseException] = []

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return "done"


@CHECKS.check(points=2, title="backoff_delay returns the cap for huge attempts (no OverflowError)")
def huge_attempts(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = random.Random(3)
    return [
        outcome(lambda: delay(1025, base_delay=0.1, max_delay=30.0, jitter=0.0, rng=rng)),
        outcome(lambda: delay(10_000, base_delay=0.1, max_delay=30.0, jitter=0.0, rng=rng)),
        outcome(lambda: delay(5_000, base_delay=0.5, max_delay=8.0, jitter=0.25, rng=rng)),
    ]


@CHECKS.check(points=2, partial=True, title="jittered delays follow the formula (seed 11, 36 calls)")
def jitter_schedule(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = random.Random(11)
    cases = []
    for attempt in range(1, 13):
        for jitter in (0.1, 0.25, 0.5):
            value = delay(attempt, base_delay=0.05, max_delay=3.0, jitter=jitter, rng=rng)
            cases.append([[attempt, jitter], value])
    return cases


@CHECKS.check(points=1, title="backoff_delay draws exactly one rng.random() per call, even with jitter=0")
def one_draw_without_jitter(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = CountingRandom(5)
    delays = [delay(attempt, base_delay=0.1, max_delay=1.0, jitter=0.0, rng=rng) for attempt in range(1, 6)]
    return {"delays": delays, "draws": rng.draws, "next": rng.random()}


@CHECKS.check(points=1, title="attempts=1 calls once, sleeps never, and re-raises the error")
def single_attempt(ex: ModuleType) -> Observation:
    fn = _Script([_Transient("x")])
    sleep = SleepRecorder()
    try:
        ex.retry_call(fn, attempts=1, sleep=sleep, rng=random.Random(0))
        raised = "nothing"
    except _Transient as exc:
        raised = "the error" if exc is fn.raised[0] else "another _Transient"
    return {"raised": raised, "calls": fn.calls, "sleeps": sleep.delays}


@CHECKS.check(points=1, title="attempts=0 raises ValueError without calling fn")
def zero_attempts(ex: ModuleType) -> Observation:
    fn = _Script([])
    result = outcome(lambda: ex.retry_call(fn, attempts=0, sleep=SleepRecorder(), rng=random.Random(0)))
    return {"result": result, "calls": fn.calls}


@CHECKS.check(points=1, title="a BaseException (KeyboardInterrupt-like) propagates at once, never retried")
def base_exception_propagates(ex: ModuleType) -> Observation:
    fn = _Script([_Abort("stop")])
    sleep = SleepRecorder()
    try:
        ex.retry_call(fn, attempts=4, sleep=sleep, rng=random.Random(0))
        raised = "nothing"
    except _Abort:
        raised = "_Abort"
    except (NotImplementedError, MemoryError):
        raise
    except Exception as exc:
        raised = exception_name(exc)
    return {"raised": raised, "calls": fn.calls, "sleeps": sleep.delays}


@CHECKS.check(points=2, title="retry_call sleeps backoff_delay(n) with jitter from the given rng (seed 5)")
def jittered_retry_schedule(ex: ModuleType) -> Observation:
    fn = _Script([_Transient("a"), _Transient("b"), _Transient("c")])
    sleep = SleepRecorder()
    result = outcome(
        lambda: ex.retry_call(
            fn, attempts=4, base_delay=0.5, max_delay=1.5, jitter=0.25, sleep=sleep, rng=random.Random(5)
        )
    )
    return {"result": result, "calls": fn.calls, "sleeps": sleep.delays}
