"""Visible checks for Exercise 1 (backoff delay and retry loop)."""

from __future__ import annotations

import random
from types import ModuleType

from day6.grading._spec import CheckSet, CountingRandom, Observation, SleepRecorder, outcome

CHECKS = CheckSet("ex01")


class _Transient(Exception):
    retriable = True


class _Permanent(Exception):
    retriable = False


class _Script:
    """``fn`` for retry_call: raises the scripted errors in order, then returns ``"ok"``."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0
        self.raised: list[Exception] = []

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return "ok"


@CHECKS.check(points=2, title="backoff_delay doubles from base_delay (jitter=0): 0.1, 0.2, 0.4, 0.8, 1.6")
def doubling(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = random.Random(0)
    return [delay(n, base_delay=0.1, max_delay=100.0, jitter=0.0, rng=rng) for n in range(1, 6)]


@CHECKS.check(points=2, title="backoff_delay stops growing at max_delay (base 1, cap 5, jitter=0)")
def capped(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = random.Random(0)
    return [delay(n, base_delay=1.0, max_delay=5.0, jitter=0.0, rng=rng) for n in range(1, 7)]


@CHECKS.check(
    points=1,
    title="backoff_delay applies +-25 % jitter from exactly one rng.random() per call (seed 7)",
)
def seeded_jitter(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = CountingRandom(7)
    delays = [delay(n, base_delay=1.0, max_delay=60.0, jitter=0.25, rng=rng) for n in range(1, 5)]
    return {"delays": delays, "draws": rng.draws}


@CHECKS.check(points=1, title="backoff_delay raises ValueError for attempt=0, jitter=1.5, base_delay=-1")
def rejects_invalid(ex: ModuleType) -> Observation:
    delay = ex.backoff_delay
    rng = random.Random(0)
    return [
        outcome(lambda: delay(0, base_delay=0.1, max_delay=1.0, rng=rng)),
        outcome(lambda: delay(1, base_delay=0.1, max_delay=1.0, jitter=1.5, rng=rng)),
        outcome(lambda: delay(1, base_delay=-1.0, max_delay=1.0, rng=rng)),
    ]


@CHECKS.check(
    points=2,
    title="retry_call retries a retriable error: two failures, then 'ok' after sleeping 0.1 and 0.2 s",
)
def retry_recovers(ex: ModuleType) -> Observation:
    fn = _Script([_Transient("busy"), _Transient("busy")])
    sleep = SleepRecorder()
    result = outcome(
        lambda: ex.retry_call(fn, attempts=5, base_delay=0.1, jitter=0.0, sleep=sleep, rng=random.Random(0))
    )
    return {"result": result, "calls": fn.calls, "sleeps": sleep.delays}


@CHECKS.check(points=1, title="retry_call re-raises a non-retriable error at once: one call, no sleep")
def permanent_not_retried(ex: ModuleType) -> Observation:
    fn = _Script([_Permanent("bad request")])
    sleep = SleepRecorder()
    try:
        ex.retry_call(fn, attempts=5, base_delay=0.1, sleep=sleep, rng=random.Random(0))
    except _Permanent as exc:
        same = exc is fn.raised[0]
    else:
        same = False
    return {"raised_the_same_error": same, "calls": fn.calls, "sleeps": sleep.delays}


@CHECKS.check(
    points=1,
    title="retry_call gives up after `attempts` calls, re-raising the last error, with no sleep after it",
)
def gives_up(ex: ModuleType) -> Observation:
    fn = _Script([_Transient(f"busy {i}") for i in range(3)])
    sleep = SleepRecorder()
    try:
        ex.retry_call(fn, attempts=3, base_delay=0.1, jitter=0.0, sleep=sleep, rng=random.Random(0))
    except _Transient as exc:
        last = exc is fn.raised[-1]
    else:
        last = False
    return {"raised_the_last_error": last, "calls": fn.calls, "sleeps": sleep.delays}
