"""Hidden checks for Exercise 4. Instructor only: never ship this folder to students."""

from __future__ import annotations

import random
from types import ModuleType

from day6.clock import FakeClock
from day6.grading._spec import CheckSet, Observation, outcome

CHECKS = CheckSet("ex04", hidden=True)


def _none(_built: object) -> None:
    """Construct for the side effect only: the observation must not depend on the object."""


@CHECKS.check(points=1, title="fractional acquisitions take exactly what they ask for")
def fractional_tokens(ex: ModuleType) -> Observation:
    clock = FakeClock()
    bucket = ex.TokenBucket(capacity=1, refill_rate=0.5, clock=clock)
    taken = [bucket.try_acquire(0.5), bucket.try_acquire(0.5), bucket.try_acquire(0.5)]
    clock.advance(1.0)
    return {"taken": taken, "available": bucket.available(), "again": bucket.try_acquire(0.5)}


@CHECKS.check(points=2, partial=True, title="invalid settings and amounts raise ValueError")
def invalid(ex: ModuleType) -> Observation:
    clock = FakeClock()
    nan, inf = float("nan"), float("inf")
    cases = [
        ["capacity=0", outcome(lambda: _none(ex.TokenBucket(capacity=0, refill_rate=1.0, clock=clock)))],
        ["rate=-1", outcome(lambda: _none(ex.TokenBucket(capacity=1, refill_rate=-1.0, clock=clock)))],
        ["rate=nan", outcome(lambda: _none(ex.TokenBucket(capacity=1, refill_rate=nan, clock=clock)))],
        ["capacity=inf", outcome(lambda: _none(ex.TokenBucket(capacity=inf, refill_rate=1.0, clock=clock)))],
        ["limit=0", outcome(lambda: _none(ex.SlidingWindowLog(limit=0, window=1.0, clock=clock)))],
        ["window=0", outcome(lambda: _none(ex.SlidingWindowLog(limit=1, window=0.0, clock=clock)))],
    ]
    bucket = ex.TokenBucket(capacity=2, refill_rate=1.0, clock=clock)
    cases.append(["acquire(0)", outcome(lambda: bucket.try_acquire(0))])
    cases.append(["acquire(3) > capacity", outcome(lambda: bucket.try_acquire(3))])
    return cases


@CHECKS.check(points=1, title="refused requests are not recorded by the sliding window")
def refused_not_recorded(ex: ModuleType) -> Observation:
    clock = FakeClock()
    log = ex.SlidingWindowLog(limit=2, window=1.0, clock=clock)
    seen = [log.try_acquire()]
    clock.advance(0.5)
    seen += [log.try_acquire(), log.try_acquire(), log.try_acquire()]
    clock.advance(0.5)
    seen.append(log.try_acquire())
    return {"decisions": seen, "retry_after": log.retry_after()}


@CHECKS.check(points=3, partial=True, title="a random token-bucket timeline matches the specification")
def bucket_trace(ex: ModuleType) -> Observation:
    rng = random.Random(77)
    clock = FakeClock()
    bucket = ex.TokenBucket(capacity=4, refill_rate=2.0, clock=clock)
    steps = []
    for step in range(120):
        amount = rng.choice((1.0, 1.0, 1.0, 0.5, 2.0))
        steps.append([step, [amount, bucket.try_acquire(amount), bucket.available()]])
        clock.advance(rng.choice((0.0, 0.125, 0.25, 0.5, 1.0)))
    return steps


@CHECKS.check(points=3, partial=True, title="a random sliding-window timeline matches the specification")
def window_trace(ex: ModuleType) -> Observation:
    rng = random.Random(78)
    clock = FakeClock()
    log = ex.SlidingWindowLog(limit=3, window=2.0, clock=clock)
    steps = []
    for step in range(120):
        admitted = log.try_acquire()
        steps.append([step, [admitted, log.retry_after()]])
        clock.advance(rng.choice((0.0, 0.25, 0.5, 1.0)))
    return steps
