"""Visible checks for Exercise 3 (circuit breaker state machine)."""

from __future__ import annotations

from types import ModuleType

from day6.clock import FakeClock
from day6.grading._spec import CheckSet, Observation, exception_name

CHECKS = CheckSet("ex03")


@CHECKS.check(points=2, title="3 consecutive failures (threshold 3) open the breaker, which then refuses")
def opens_at_threshold(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=3, recovery_timeout=10.0, clock=clock)
    states = [b.state]
    allowed = []
    for _ in range(3):
        allowed.append(b.allow_request())
        b.record_failure()
        states.append(b.state)
    return {"allowed": allowed, "states": states, "allowed_after": b.allow_request()}


@CHECKS.check(points=1, title="a success resets the consecutive-failure count")
def success_resets_count(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=3, recovery_timeout=10.0, clock=clock)
    for outcome in ("f", "f", "s", "f", "f"):
        b.allow_request()
        if outcome == "f":
            b.record_failure()
        else:
            b.record_success()
    before = b.state
    b.allow_request()
    b.record_failure()
    return [before, b.state]


@CHECKS.check(
    points=2, title="open refuses until recovery_timeout has passed, then admits one probe (half_open)"
)
def half_open_after_timeout(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock)
    b.allow_request()
    b.record_failure()
    clock.advance(9.5)
    early = b.allow_request()
    clock.advance(0.5)
    probe = b.allow_request()
    return {"at_9.5s": early, "at_10s": probe, "state": b.state}


@CHECKS.check(points=1, title="a successful probe closes the breaker")
def probe_success_closes(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock)
    b.allow_request()
    b.record_failure()
    clock.advance(10.0)
    b.allow_request()
    b.record_success()
    return [b.state, b.allow_request()]


@CHECKS.check(points=2, title="a failed probe reopens the breaker and restarts the recovery timer")
def probe_failure_reopens(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock)
    b.allow_request()
    b.record_failure()
    clock.advance(10.0)
    b.allow_request()
    b.record_failure()
    state = b.state
    clock.advance(9.5)
    early = b.allow_request()
    clock.advance(0.5)
    return {"state": state, "at_+9.5s": early, "at_+10s": b.allow_request()}


@CHECKS.check(
    points=2,
    title="call() returns fn's value, re-raises its error; when open raises CircuitOpenError, fn not called",
)
def call_wraps(ex: ModuleType) -> Observation:
    clock = FakeClock()
    b = ex.CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock)
    calls: list[str] = []
    boom = ValueError("boom")

    def succeeding() -> int:
        calls.append("ok")
        return 42

    def failing() -> None:
        calls.append("fail")
        raise boom

    value = b.call(succeeding)
    try:
        b.call(failing)
        reraised = "no exception"
    except ValueError as exc:
        reraised = "same error" if exc is boom else "another ValueError"
    try:
        b.call(lambda: calls.append("should not run"))
        refused = "no exception"
    except ex.CircuitOpenError:
        refused = "CircuitOpenError"
    except (NotImplementedError, MemoryError):
        raise
    except Exception as exc:
        refused = exception_name(exc)
    return {"value": value, "reraised": reraised, "when_open": refused, "calls": calls}
