"""Visible checks for Exercise 4 (token bucket and sliding-window log)."""

from __future__ import annotations

from types import ModuleType

from day6.clock import FakeClock
from day6.grading._spec import CheckSet, Observation

CHECKS = CheckSet("ex04")


@CHECKS.check(points=2, title="a new bucket is full: capacity 3 admits a burst of 3, then refuses")
def starts_full(ex: ModuleType) -> Observation:
    bucket = ex.TokenBucket(capacity=3, refill_rate=1.0, clock=FakeClock())
    return [bucket.try_acquire() for _ in range(4)]


@CHECKS.check(points=2, title="tokens refill at refill_rate per second (rate 2: one token per 0.5 s)")
def refills(ex: ModuleType) -> Observation:
    clock = FakeClock()
    bucket = ex.TokenBucket(capacity=2, refill_rate=2.0, clock=clock)
    drained = [bucket.try_acquire(), bucket.try_acquire()]
    clock.advance(0.25)
    quarter = bucket.try_acquire()
    clock.advance(0.25)
    half = bucket.try_acquire()
    return {"drain": drained, "after_0.25s": quarter, "after_0.5s": half}


@CHECKS.check(points=1, title="available() never exceeds capacity, however long the bucket idles")
def capped_at_capacity(ex: ModuleType) -> Observation:
    clock = FakeClock()
    bucket = ex.TokenBucket(capacity=2, refill_rate=1.0, clock=clock)
    bucket.try_acquire()
    clock.advance(100.0)
    return bucket.available()


@CHECKS.check(points=1, title="time_until_available() says how long until the next token (and takes nothing)")
def time_until_available(ex: ModuleType) -> Observation:
    clock = FakeClock()
    bucket = ex.TokenBucket(capacity=2, refill_rate=1.0, clock=clock)
    bucket.try_acquire()
    bucket.try_acquire()
    waits = [bucket.time_until_available()]
    clock.advance(0.5)
    waits.append(bucket.time_until_available())
    clock.advance(0.5)
    waits.append(bucket.time_until_available())
    return {"waits": waits, "then_acquire": bucket.try_acquire()}


@CHECKS.check(points=2, title="the sliding window admits `limit` requests per window, then forgets them")
def window_limit(ex: ModuleType) -> Observation:
    clock = FakeClock()
    log = ex.SlidingWindowLog(limit=2, window=1.0, clock=clock)
    first = [log.try_acquire(), log.try_acquire(), log.try_acquire()]
    clock.advance(0.5)
    middle = log.try_acquire()
    clock.advance(0.5)
    later = [log.try_acquire(), log.try_acquire(), log.try_acquire()]
    return {"t=0": first, "t=0.5": middle, "t=1.0": later}


@CHECKS.check(points=2, title="a request stops counting at exactly t + window; retry_after() says when")
def window_boundary(ex: ModuleType) -> Observation:
    clock = FakeClock()
    log = ex.SlidingWindowLog(limit=1, window=2.0, clock=clock)
    first = log.try_acquire()
    clock.advance(1.5)
    refused = log.try_acquire()
    wait = log.retry_after()
    clock.advance(0.5)
    return {"t=0": first, "t=1.5": refused, "retry_after": wait, "t=2.0": log.try_acquire()}
