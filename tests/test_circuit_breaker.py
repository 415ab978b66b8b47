"""CircuitBreaker: every transition, the trip rules, probes, cancellation, concurrency, the call forms."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import day6.circuit_breaker as cb_module
from day6.circuit_breaker import (
    BreakerMetrics,
    CallOutcome,
    CallRecorded,
    CallRejected,
    CircuitBreaker,
    CircuitState,
    CircuitStateChanged,
    Permit,
)
from day6.clock import FakeClock, SimClock
from day6.errors import CircuitOpenError, ConfigError, ErrorKind
from tests.sdk_helpers import sdk_error, sdk_network_error

S = CircuitState


class Boom(Exception):
    """A failure the tests' predicate counts (the default predicate would ignore an unknown error)."""


def always(exc: BaseException) -> bool:
    return True


def ok() -> str:
    return "ok"


def boom() -> str:
    raise Boom("backend down")


def make(clock: FakeClock, **kw: Any) -> CircuitBreaker:
    kw.setdefault("is_failure", always)
    kw.setdefault("recovery_timeout", 10.0)
    return CircuitBreaker("test", clock=clock, **kw)


def fail_times(breaker: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        with pytest.raises(Boom):
            breaker.call(boom)


def trip(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(100):
        if breaker.state is S.OPEN:
            return
        fail_times(breaker, 1)
    raise AssertionError("the breaker did not trip")


def check_invariant(m: BreakerMetrics) -> None:
    assert m.calls == m.successes + m.failures + m.ignored + m.rejections
    assert m.slow_calls <= m.failures


# --- configuration ----------------------------------------------------------------------------

BAD_SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("name", {"name": ""}),
    ("name", {"name": 3}),
    ("failure_threshold", {"failure_threshold": 0}),
    ("failure_threshold", {"failure_threshold": -1}),
    ("failure_threshold", {"failure_threshold": 2.5}),
    ("failure_threshold", {"failure_threshold": True}),
    ("recovery_timeout", {"recovery_timeout": 0}),
    ("recovery_timeout", {"recovery_timeout": -1.0}),
    ("recovery_timeout", {"recovery_timeout": math.nan}),
    ("recovery_timeout", {"recovery_timeout": math.inf}),
    ("recovery_timeout", {"recovery_timeout": "60"}),
    ("half_open_max_calls", {"half_open_max_calls": 0}),
    ("success_threshold", {"success_threshold": 0}),
    ("failure_rate_threshold", {"failure_rate_threshold": 0.0}),
    ("failure_rate_threshold", {"failure_rate_threshold": 1.01}),
    ("failure_rate_threshold", {"failure_rate_threshold": -0.5}),
    ("failure_rate_threshold", {"failure_rate_threshold": math.nan}),
    ("failure_rate_threshold", {"failure_rate_threshold": True}),
    ("window_size", {"window_size": 0}),
    ("window_seconds", {"window_seconds": 0.0}),
    ("window_seconds", {"window_seconds": -5.0}),
    ("window_seconds", {"window_seconds": math.nan}),
    ("window_seconds", {"window_seconds": math.inf}),
    ("minimum_calls", {"minimum_calls": 0}),
    ("minimum_calls", {"failure_rate_threshold": 0.5, "window_size": 5, "minimum_calls": 6}),
    ("slow_call_threshold", {"slow_call_threshold": 0.0}),
    ("slow_call_threshold", {"slow_call_threshold": -1.0}),
    ("slow_call_threshold", {"slow_call_threshold": math.nan}),
    ("recovery_backoff", {"recovery_backoff": 0.5}),
    ("recovery_backoff", {"recovery_backoff": math.nan}),
    ("recovery_backoff", {"recovery_backoff": math.inf}),
    ("max_recovery_timeout", {"recovery_timeout": 60.0, "max_recovery_timeout": 30.0}),
    ("max_recovery_timeout", {"max_recovery_timeout": math.nan}),
    ("probe_timeout", {"probe_timeout": 0.0}),
    ("probe_timeout", {"probe_timeout": math.inf}),
    ("is_failure", {"is_failure": "yes"}),
    ("fallback", {"fallback": 42}),
]


@pytest.mark.parametrize(("setting", "kwargs"), BAD_SETTINGS)
def test_invalid_setting_raises_config_error_naming_it(setting: str, kwargs: dict[str, Any]) -> None:
    """Each invalid setting is refused at construction with a ConfigError naming setting and value."""
    args = dict(kwargs)
    name = args.pop("name", "x")
    with pytest.raises(ConfigError) as info:
        CircuitBreaker(name, **args)
    assert isinstance(info.value, ValueError)
    assert info.value.setting == setting
    assert info.value.value is kwargs[setting] or info.value.value == kwargs[setting]
    assert setting in str(info.value)
    assert info.value.allowed


def test_minimum_calls_above_window_size_is_fine_without_a_rate_rule() -> None:
    """minimum_calls only has to fit the window when the rate rule that reads it is enabled."""
    CircuitBreaker("x", window_size=5, minimum_calls=10)
    CircuitBreaker("x", failure_rate_threshold=0.5, window_seconds=10.0, window_size=5, minimum_calls=10)


def test_defaults_match_the_lesson(clock: FakeClock) -> None:
    """Defaults: 5 consecutive failures, 60 s recovery, one probe, closes after one probe success."""
    breaker = CircuitBreaker(clock=clock, is_failure=always)
    assert (breaker.name, breaker.state, breaker.clock) == ("default", S.CLOSED, clock)
    fail_times(breaker, 4)
    assert breaker.state is S.CLOSED
    fail_times(breaker, 1)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.retry_after == 60.0
    clock.advance(60.0)
    probe = breaker.try_acquire()
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()  # one probe at a time
    clock.advance(59.0)
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()  # the hung probe still holds its slot (probe_timeout = 60 s)
    breaker.record_success(probe)
    assert breaker.state is S.CLOSED


# --- CLOSED -> OPEN ------------------------------------------------------------------------------


def test_trips_after_failure_threshold_consecutive_failures(clock: FakeClock) -> None:
    """CLOSED -> OPEN exactly at the failure_threshold-th consecutive counted failure."""
    breaker = make(clock, failure_threshold=3)
    fail_times(breaker, 2)
    assert breaker.state is S.CLOSED
    assert breaker.metrics().consecutive_failures == 2
    fail_times(breaker, 1)
    assert breaker.state is S.OPEN
    assert breaker.metrics().times_opened == 1


def test_a_success_resets_the_consecutive_run(clock: FakeClock) -> None:
    """Failures separated by a success never add up to a trip under the consecutive rule."""
    breaker = make(clock, failure_threshold=3)
    for _ in range(10):
        fail_times(breaker, 2)
        assert breaker.call(ok) == "ok"
    assert breaker.state is S.CLOSED
    assert breaker.metrics().consecutive_failures == 0


def test_open_rejects_without_calling_and_says_when_to_come_back(clock: FakeClock) -> None:
    """OPEN fails fast with CircuitOpenError(retry_after = time to the next probe, state open)."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0)
    trip(breaker, clock)
    clock.advance(4.0)
    calls: list[int] = []
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(lambda: calls.append(1))
    assert calls == []
    assert info.value.name == "test"
    assert info.value.state == "open"
    assert info.value.retry_after == pytest.approx(6.0)
    assert breaker.metrics().rejections == 1


# --- OPEN -> HALF_OPEN -> CLOSED / OPEN ------------------------------------------------------------


def test_open_moves_to_half_open_lazily_on_the_next_call(clock: FakeClock) -> None:
    """No timer: OPEN stays OPEN after the timeout until a call arrives; that call is the probe."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0)
    trip(breaker, clock)
    clock.advance(10.0)
    assert breaker.state is S.OPEN
    permit = breaker.try_acquire()
    assert permit.probe
    assert breaker.state is S.HALF_OPEN
    assert [s for _, s in breaker.history] == [S.CLOSED, S.OPEN, S.HALF_OPEN]
    assert breaker.history[-1][0] == 10.0


def test_probe_success_closes(clock: FakeClock) -> None:
    """HALF_OPEN -> CLOSED after success_threshold probe successes, with a fresh failure count."""
    breaker = make(clock, failure_threshold=2, recovery_timeout=10.0, success_threshold=2)
    trip(breaker, clock)
    clock.advance(10.0)
    assert breaker.call(ok) == "ok"
    assert breaker.state is S.HALF_OPEN
    assert breaker.call(ok) == "ok"
    assert breaker.state is S.CLOSED
    assert breaker.metrics().consecutive_failures == 0
    fail_times(breaker, 1)
    assert breaker.state is S.CLOSED  # the failures before the trip were forgotten


def test_probe_failure_reopens_at_once_with_a_grown_timeout(clock: FakeClock) -> None:
    """HALF_OPEN -> OPEN on one probe failure; the next timeout is multiplied by recovery_backoff."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, recovery_backoff=2.0)
    trip(breaker, clock)
    clock.advance(10.0)
    with pytest.raises(Boom):
        breaker.call(boom)
    assert breaker.state is S.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.retry_after == pytest.approx(20.0)
    assert breaker.metrics().recovery_timeout == 20.0


def test_repeated_trips_grow_the_timeout_up_to_the_cap(clock: FakeClock) -> None:
    """Timeouts follow recovery_timeout * backoff ** (trips - 1), capped at max_recovery_timeout."""
    breaker = make(
        clock, failure_threshold=1, recovery_timeout=10.0, recovery_backoff=2.0, max_recovery_timeout=50.0
    )
    trip(breaker, clock)
    seen = []
    for _ in range(5):
        timeout = breaker.metrics().recovery_timeout
        seen.append(timeout)
        clock.advance(timeout - 0.001)
        with pytest.raises(CircuitOpenError):
            breaker.call(ok)
        clock.advance(0.001)
        with pytest.raises(Boom):
            breaker.call(boom)  # the probe fails
    assert seen == [10.0, 20.0, 40.0, 50.0, 50.0]


def test_recovery_resets_the_backoff(clock: FakeClock) -> None:
    """After the breaker closes again, the next trip starts from the base recovery_timeout."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, recovery_backoff=3.0)
    trip(breaker, clock)
    clock.advance(10.0)
    fail_times(breaker, 1)
    assert breaker.metrics().recovery_timeout == 30.0
    clock.advance(30.0)
    breaker.call(ok)
    assert breaker.state is S.CLOSED
    trip(breaker, clock)
    assert breaker.metrics().recovery_timeout == 10.0


def test_huge_backoff_and_many_trips_never_overflow(clock: FakeClock) -> None:
    """A thousand consecutive trips with backoff 1e6 stay at the cap instead of overflowing."""
    breaker = make(
        clock, failure_threshold=1, recovery_timeout=1.0, recovery_backoff=1e6, max_recovery_timeout=600.0
    )
    trip(breaker, clock)
    for _ in range(1000):
        clock.advance(breaker.metrics().recovery_timeout)
        fail_times(breaker, 1)
    assert breaker.metrics().recovery_timeout == 600.0


def test_half_open_admits_at_most_max_calls_probes(clock: FakeClock) -> None:
    """Beyond half_open_max_calls concurrent probes, callers get CircuitOpenError(half_open, 0 s)."""
    breaker = make(clock, failure_threshold=1, half_open_max_calls=2, success_threshold=2)
    trip(breaker, clock)
    clock.advance(10.0)
    first, second = breaker.try_acquire(), breaker.try_acquire()
    assert first.probe
    assert second.probe
    assert first is not second
    with pytest.raises(CircuitOpenError) as info:
        breaker.try_acquire()
    assert info.value.state == "half_open"
    assert info.value.retry_after == 0.0
    assert breaker.metrics().probes_in_flight == 2
    breaker.record_success(first)
    third = breaker.try_acquire()  # the freed slot is available again
    breaker.record_success(second)
    assert breaker.state is S.CLOSED
    breaker.record_success(third)  # stale now (admitted as a probe of the previous epoch): counted only
    assert breaker.state is S.CLOSED
    assert breaker.metrics().successes == 3


def test_hung_probe_slot_is_reclaimed_after_probe_timeout(clock: FakeClock) -> None:
    """A probe that never reports back frees its slot after probe_timeout; its late outcome is inert."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, probe_timeout=5.0)
    trip(breaker, clock)
    clock.advance(10.0)
    hung = breaker.try_acquire()
    clock.advance(4.9)
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()
    clock.advance(0.1)
    fresh = breaker.try_acquire()
    assert fresh.probe
    assert breaker.state is S.HALF_OPEN
    breaker.record_failure(hung, Boom())  # too late: it no longer holds a slot
    assert breaker.state is S.HALF_OPEN
    breaker.record_success(fresh)
    assert breaker.state is S.CLOSED
    assert breaker.metrics().failures == 2  # the trip + the late probe: counted, not acted on


def test_probe_timeout_defaults_to_recovery_timeout(clock: FakeClock) -> None:
    """Without probe_timeout, a hung probe is reclaimed after recovery_timeout."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0)
    trip(breaker, clock)
    clock.advance(10.0)
    breaker.try_acquire()
    clock.advance(9.99)
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()
    clock.advance(0.01)
    assert breaker.try_acquire().probe


def test_late_success_of_a_reclaimed_probe_does_not_close(clock: FakeClock) -> None:
    """A reclaimed probe that finally succeeds is counted, but cannot close the breaker."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, probe_timeout=5.0)
    trip(breaker, clock)
    clock.advance(10.0)
    hung = breaker.try_acquire()
    clock.advance(5.0)
    fresh = breaker.try_acquire()
    breaker.record_success(hung)
    assert breaker.state is S.HALF_OPEN
    assert breaker.metrics().probes_in_flight == 1
    breaker.record_success(fresh)
    assert breaker.state is S.CLOSED


def test_release_frees_a_probe_slot_and_counts_as_ignored(clock: FakeClock) -> None:
    """release() hands a permit back without a verdict: ignored, slot freed, reported with no duration."""
    events: list[Any] = []
    breaker = make(clock, failure_threshold=1, hooks=[events.append])
    trip(breaker, clock)
    clock.advance(10.0)
    probe = breaker.try_acquire()
    breaker.release(probe)
    assert breaker.metrics().probes_in_flight == 0
    assert breaker.state is S.HALF_OPEN
    assert breaker.try_acquire().probe
    m = breaker.metrics()
    assert (m.ignored, m.failures, m.successes) == (1, 1, 0)
    released = [e for e in events if e.topic == "breaker.call" and e.outcome == "ignored"]
    assert len(released) == 1
    assert released[0].duration is None


def test_call_admitted_while_closed_cannot_close_a_half_open_breaker(clock: FakeClock) -> None:
    """A slow call from before the trip that succeeds during HALF_OPEN is not taken as a probe result."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, success_threshold=1)
    old = breaker.try_acquire()
    trip(breaker, clock)
    clock.advance(10.0)
    probe = breaker.try_acquire()
    breaker.record_success(old)
    assert breaker.state is S.HALF_OPEN
    assert breaker.metrics().probes_in_flight == 1
    breaker.record_success(probe)
    assert breaker.state is S.CLOSED


def test_late_failures_after_a_trip_do_not_extend_the_open_state(clock: FakeClock) -> None:
    """Calls in flight when the breaker trips are counted, but do not restart the recovery timeout."""
    breaker = make(clock, failure_threshold=2, recovery_timeout=10.0)
    in_flight = [breaker.try_acquire() for _ in range(5)]
    for permit in in_flight[:2]:
        breaker.record_failure(permit, Boom())
    assert breaker.state is S.OPEN
    clock.advance(5.0)
    for permit in in_flight[2:]:
        breaker.record_failure(permit, Boom())
    assert breaker.metrics().times_opened == 1
    clock.advance(5.0)
    assert breaker.try_acquire().probe
    assert breaker.metrics().failures == 5


# --- the failure-rate rule ----------------------------------------------------------------------


def test_failure_rate_over_count_window_trips(clock: FakeClock) -> None:
    """With a rate rule, failing every other call trips once minimum_calls are in the window."""
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=0.5, window_size=10, minimum_calls=4)
    breaker.call(ok)
    fail_times(breaker, 1)
    breaker.call(ok)
    assert breaker.state is S.CLOSED
    assert breaker.metrics().failure_rate == pytest.approx(1 / 3)
    fail_times(breaker, 1)  # 2 of 4 = 50 %
    assert breaker.state is S.OPEN


def test_failure_rate_waits_for_minimum_calls(clock: FakeClock) -> None:
    """Three failures out of three do not trip when minimum_calls is four."""
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=0.5, window_size=10, minimum_calls=4)
    fail_times(breaker, 3)
    assert breaker.state is S.CLOSED
    m = breaker.metrics()
    assert (m.failure_rate, m.window_calls) == (1.0, 3)


def test_count_window_forgets_calls_older_than_window_size(clock: FakeClock) -> None:
    """Only the last window_size calls count: old failures slide out."""
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=0.5, window_size=4, minimum_calls=4)
    fail_times(breaker, 1)
    for _ in range(3):
        breaker.call(ok)
    assert breaker.metrics().failure_rate == 0.25
    breaker.call(ok)  # the failure slides out
    m = breaker.metrics()
    assert (m.failure_rate, m.window_calls) == (0.0, 4)
    fail_times(breaker, 1)
    assert breaker.state is S.CLOSED  # 1 of 4
    fail_times(breaker, 1)
    assert breaker.state is S.OPEN  # 2 of 4


def test_time_window_forgets_calls_older_than_window_seconds(clock: FakeClock) -> None:
    """A time-based window drops calls older than window_seconds, so old failures stop counting."""
    kw: dict[str, Any] = {
        "failure_threshold": 100,
        "failure_rate_threshold": 0.5,
        "window_seconds": 10.0,
        "minimum_calls": 4,
    }
    control = make(clock, **kw)
    fail_times(control, 3)
    fail_times(control, 1)
    assert control.state is S.OPEN  # all four inside the window

    breaker = make(clock, **kw)
    fail_times(breaker, 3)
    clock.advance(10.0)
    fail_times(breaker, 1)
    assert breaker.state is S.CLOSED
    assert breaker.metrics().window_calls == 1


def test_time_window_keeps_calls_younger_than_its_resolution(clock: FakeClock) -> None:
    """Calls stay in a time window for at least window_seconds * (1 - 1/20)."""
    breaker = make(
        clock, failure_threshold=100, failure_rate_threshold=0.9, window_seconds=10.0, minimum_calls=5
    )
    fail_times(breaker, 3)
    clock.advance(9.49)
    assert breaker.metrics().window_calls == 3
    clock.advance(0.51)
    assert breaker.metrics().window_calls == 0


@pytest.mark.parametrize("window", [{"window_size": 10}, {"window_seconds": 60.0}])
def test_window_starts_empty_after_recovery_and_after_reset(clock: FakeClock, window: dict[str, Any]) -> None:
    """Closing again (by probes or by reset) starts a fresh window: old failures are forgotten."""
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, **window)
    fail_times(breaker, 4)
    assert breaker.state is S.OPEN
    clock.advance(10.0)
    breaker.call(ok)
    assert breaker.state is S.CLOSED
    assert breaker.metrics().window_calls == 0
    fail_times(breaker, 3)
    breaker.reset()
    m = breaker.metrics()
    assert (m.window_calls, m.failure_rate) == (0, None)


def test_rate_rule_threshold_is_inclusive_without_float_surprises(clock: FakeClock) -> None:
    """3 failures in 10 calls trip a 0.3 threshold (0.3 * 10 is 3.0000000000000004 in floats)."""
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=0.3, window_size=10, minimum_calls=10)
    for _ in range(7):
        breaker.call(ok)
    fail_times(breaker, 3)
    assert breaker.state is S.OPEN


# --- slow calls ---------------------------------------------------------------------------------


def test_slow_success_counts_as_failure_but_returns_its_value(clock: FakeClock) -> None:
    """A call slower than slow_call_threshold counts as a failure; the caller still gets the value."""
    breaker = make(clock, failure_threshold=2, slow_call_threshold=1.0)

    def slow() -> str:
        clock.advance(1.5)
        return "late"

    assert breaker.call(slow) == "late"
    assert breaker.call(slow) == "late"
    assert breaker.state is S.OPEN
    m = breaker.metrics()
    assert (m.successes, m.failures, m.slow_calls) == (0, 2, 2)


def test_call_exactly_at_slow_threshold_is_not_slow(clock: FakeClock) -> None:
    """Slow means strictly longer than slow_call_threshold."""
    breaker = make(clock, failure_threshold=1, slow_call_threshold=1.0)
    permit = breaker.try_acquire()
    assert permit.started_at == 0.0
    clock.advance(1.0)
    assert breaker.record_success(permit) is CallOutcome.SUCCESS
    assert breaker.state is S.CLOSED


def test_explicit_duration_overrides_the_clock(clock: FakeClock) -> None:
    """A driver that knows the duration (simpy) passes it; the breaker judges slowness by it."""
    breaker = make(clock, failure_threshold=1, slow_call_threshold=1.0)
    assert breaker.record_success(breaker.try_acquire(), duration=0.5) is CallOutcome.SUCCESS
    assert breaker.record_success(breaker.try_acquire(), duration=2.0) is CallOutcome.FAILURE
    assert breaker.state is S.OPEN


# --- what counts as a failure ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda: sdk_error(400, code="invalid_request_error"), id="400"),
        pytest.param(
            lambda: sdk_error(429, code="insufficient_quota", type="insufficient_quota"), id="quota"
        ),
        pytest.param(lambda: sdk_error(429, code="rate_limit_exceeded"), id="rate-limit"),
        pytest.param(lambda: sdk_error(401), id="401"),
    ],
)
def test_errors_that_are_not_the_backends_fault_never_trip(
    clock: FakeClock, make_error: Callable[[], Exception]
) -> None:
    """By default a 400, a spent quota, a rate limit or a 401 is ignored: it raises but does not count."""
    error = make_error()
    breaker = CircuitBreaker("sdk", failure_threshold=2, clock=clock)

    def fails() -> None:
        raise error

    for _ in range(5):
        with pytest.raises(type(error)):
            breaker.call(fails)
    assert breaker.state is S.CLOSED
    m = breaker.metrics()
    assert (m.ignored, m.failures, m.consecutive_failures) == (5, 0, 0)


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda: sdk_error(500), id="500"),
        pytest.param(lambda: sdk_error(503), id="503"),
        pytest.param(lambda: sdk_network_error(httpx2.ConnectError), id="connect"),
        pytest.param(lambda: sdk_network_error(httpx2.ReadTimeout), id="timeout"),
    ],
)
def test_backend_faults_trip_by_default(clock: FakeClock, make_error: Callable[[], Exception]) -> None:
    """Server errors, overload, network errors and timeouts from the real SDK count as failures."""
    error = make_error()
    breaker = CircuitBreaker("sdk", failure_threshold=2, clock=clock)

    def fails() -> None:
        raise error

    for _ in range(2):
        with pytest.raises(type(error)):
            breaker.call(fails)
    assert breaker.state is S.OPEN


def test_ignored_error_does_not_break_a_consecutive_run(clock: FakeClock) -> None:
    """Ignored is neither success nor failure: it neither adds to nor resets the run."""
    breaker = CircuitBreaker("x", failure_threshold=2, clock=clock)
    bad_request = sdk_error(400)

    def fails_400() -> None:
        raise bad_request

    def fails_500() -> None:
        raise sdk_500

    sdk_500 = sdk_error(500)
    with pytest.raises(type(sdk_500)):
        breaker.call(fails_500)
    with pytest.raises(type(bad_request)):
        breaker.call(fails_400)
    assert breaker.metrics().consecutive_failures == 1
    with pytest.raises(type(sdk_500)):
        breaker.call(fails_500)
    assert breaker.state is S.OPEN


def test_custom_is_failure_predicate(clock: FakeClock) -> None:
    """is_failure decides which exceptions count; others are ignored."""
    breaker = CircuitBreaker("x", failure_threshold=1, clock=clock, is_failure=lambda e: isinstance(e, Boom))
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["missing"])
    assert breaker.state is S.CLOSED
    with pytest.raises(Boom):
        breaker.call(boom)
    assert breaker.state is S.OPEN


def test_predicate_that_raises_releases_the_permit_and_propagates(clock: FakeClock) -> None:
    """A buggy is_failure surfaces its own error (chained to the original) and leaks no probe slot."""

    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = CircuitBreaker("x", failure_threshold=1, recovery_timeout=1.0, clock=clock, is_failure=broken)
    breaker.force_open()
    breaker.reset()
    permit = breaker.try_acquire()
    with pytest.raises(RuntimeError, match="predicate bug"):
        breaker.record_failure(permit, Boom("original"))
    assert breaker.metrics().ignored == 1


def test_record_failure_accepts_an_error_kind_or_nothing(clock: FakeClock) -> None:
    """Drivers without exceptions pass an ErrorKind (backend faults count) or None (always counts)."""
    breaker = make(clock, failure_threshold=3)
    assert breaker.record_failure(breaker.try_acquire(), ErrorKind.BAD_REQUEST) is CallOutcome.IGNORED
    assert breaker.record_failure(breaker.try_acquire(), ErrorKind.SERVER_ERROR) is CallOutcome.FAILURE
    assert breaker.record_failure(breaker.try_acquire(), ErrorKind.CANCELLED) is CallOutcome.IGNORED
    assert breaker.record_failure(breaker.try_acquire()) is CallOutcome.FAILURE
    assert breaker.metrics().consecutive_failures == 2


# --- cancellation ---------------------------------------------------------------------------------


def test_keyboard_interrupt_during_a_probe_releases_it(clock: FakeClock) -> None:
    """Ctrl-C inside a probe is not a failure: the slot is freed and the next call probes again."""
    breaker = make(clock, failure_threshold=1)
    trip(breaker, clock)
    clock.advance(10.0)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.state is S.HALF_OPEN
    assert breaker.metrics().probes_in_flight == 0
    assert breaker.call(ok) == "ok"
    assert breaker.state is S.CLOSED
    m = breaker.metrics()
    assert (m.ignored, m.successes) == (1, 1)


def test_cancellation_is_never_a_failure_even_for_a_catch_all_predicate(clock: FakeClock) -> None:
    """Whatever is_failure says, BaseExceptions like KeyboardInterrupt are ignored."""
    breaker = make(clock, failure_threshold=1, is_failure=always)
    assert breaker.record_failure(breaker.try_acquire(), KeyboardInterrupt()) is CallOutcome.IGNORED
    assert breaker.record_failure(breaker.try_acquire(), asyncio.CancelledError()) is CallOutcome.IGNORED
    assert breaker.state is S.CLOSED


async def test_cancelled_async_probe_releases_its_slot(clock: FakeClock) -> None:
    """Cancelling a task while its probe awaits frees the slot and leaves the breaker usable."""
    breaker = make(clock, failure_threshold=1)
    trip(breaker, clock)
    clock.advance(10.0)
    started = asyncio.Event()

    async def hangs() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(breaker.acall(hangs))
    await started.wait()
    assert breaker.metrics().probes_in_flight == 1
    with pytest.raises(CircuitOpenError):
        await breaker.acall(hangs)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.metrics().probes_in_flight == 0

    async def fine() -> str:
        return "ok"

    assert await breaker.acall(fine) == "ok"
    assert breaker.state is S.CLOSED


# --- call forms -----------------------------------------------------------------------------------


def test_call_passes_arguments_and_returns_the_result(clock: FakeClock) -> None:
    """call(fn, *args, **kwargs) returns fn's result."""
    breaker = make(clock)
    assert breaker.call(lambda a, b=0: a + b, 2, b=3) == 5


def test_sync_decorator(clock: FakeClock) -> None:
    """@breaker wraps a def: same name and signature target, outcomes recorded, rejections raised."""
    breaker = make(clock, failure_threshold=2)

    @breaker
    def fetch(x: int, *, fail: bool = False) -> int:
        """Fetch something."""
        if fail:
            raise Boom
        return x * 2

    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch something."
    assert fetch(21) == 42
    for _ in range(2):
        with pytest.raises(Boom):
            fetch(1, fail=True)
    with pytest.raises(CircuitOpenError):
        fetch(1)
    m = breaker.metrics()
    assert (m.successes, m.failures, m.rejections) == (1, 2, 1)


async def test_async_decorator(clock: FakeClock) -> None:
    """@breaker wraps an async def into an async def with the same behaviour."""
    breaker = make(clock, failure_threshold=1)

    @breaker
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        if x < 0:
            raise Boom
        return x + 1

    import inspect

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"
    assert await fetch(1) == 2
    with pytest.raises(Boom):
        await fetch(-1)
    with pytest.raises(CircuitOpenError):
        await fetch(1)


def test_context_manager_records_the_blocks_outcome(clock: FakeClock) -> None:
    """`with breaker:` counts a clean exit as success and an escaping exception as failure."""
    breaker = make(clock, failure_threshold=2)
    with breaker:
        pass
    for _ in range(2):
        with pytest.raises(Boom), breaker:
            raise Boom
    assert breaker.state is S.OPEN
    with pytest.raises(CircuitOpenError), breaker:
        pytest.fail("the block must not run while open")
    m = breaker.metrics()
    assert (m.successes, m.failures, m.rejections) == (1, 2, 1)


def test_context_manager_nests_and_keeps_each_permit(clock: FakeClock) -> None:
    """Nested `with` blocks on two breakers each record their own outcome."""
    outer, inner = make(clock), make(clock)
    with outer, pytest.raises(Boom), inner:
        raise Boom
    assert outer.metrics().successes == 1
    assert inner.metrics().failures == 1


def test_context_exits_out_of_order_find_their_own_permit(clock: FakeClock) -> None:
    """Blocks exited out of order (e.g. via ExitStack juggling) still settle the right permits."""
    first, second = make(clock), make(clock, failure_threshold=1)
    first.__enter__()
    second.__enter__()
    first.__exit__(Boom, Boom(), None)  # not the innermost
    second.__exit__(None, None, None)
    assert (first.metrics().failures, second.metrics().successes) == (1, 1)
    with pytest.raises(RuntimeError):
        second.__exit__(None, None, None)


def test_exit_without_enter_is_an_error(clock: FakeClock) -> None:
    """__exit__ with no matching __enter__ in this context raises instead of miscounting."""
    breaker = make(clock)
    with pytest.raises(RuntimeError, match="without a matching"):
        breaker.__exit__(None, None, None)


async def test_async_context_manager_keeps_permits_per_task(clock: FakeClock) -> None:
    """`async with breaker:` in many overlapping tasks records each task's own outcome."""
    breaker = make(clock, failure_threshold=1000)
    gate = asyncio.Event()

    async def worker(i: int) -> None:
        async with breaker:
            await gate.wait()
            if i % 3 == 0:
                raise Boom

    tasks = [asyncio.create_task(worker(i)) for i in range(30)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(isinstance(r, Boom) for r in results) == 10
    m = breaker.metrics()
    assert (m.successes, m.failures) == (20, 10)


async def test_async_context_manager_ignores_cancellation(clock: FakeClock) -> None:
    """A task cancelled inside `async with breaker:` releases its permit (ignored, not failed)."""
    breaker = make(clock, failure_threshold=1)

    async def worker() -> None:
        async with breaker:
            await asyncio.Event().wait()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    m = breaker.metrics()
    assert (m.ignored, m.failures, breaker.state) == (1, 0, S.CLOSED)


# --- fallback --------------------------------------------------------------------------------------


def test_fallback_replaces_counted_failures_and_rejections(clock: FakeClock) -> None:
    """With a fallback, counted failures and rejections return fallback(exc) instead of raising."""
    seen: list[BaseException] = []

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "cached answer"

    breaker = make(clock, failure_threshold=1, fallback=fallback)
    assert breaker.call(boom) == "cached answer"
    assert breaker.call(ok) == "cached answer"
    assert isinstance(seen[0], Boom)
    assert isinstance(seen[1], CircuitOpenError)


def test_fallback_does_not_hide_ignored_errors(clock: FakeClock) -> None:
    """An ignored error (the caller's fault) still raises: a fallback must not mask a bad request."""
    breaker = CircuitBreaker("x", clock=clock, fallback=lambda exc: "fallback")
    bad_request = sdk_error(400)

    def fails() -> None:
        raise bad_request

    with pytest.raises(type(bad_request)):
        breaker.call(fails)


async def test_async_fallback_is_awaited(clock: FakeClock) -> None:
    """acall awaits an async fallback and returns a sync fallback's value directly."""

    async def afallback(exc: BaseException) -> str:
        return f"async:{type(exc).__name__}"

    breaker = make(clock, failure_threshold=1, fallback=afallback)

    async def fails() -> str:
        raise Boom

    assert await breaker.acall(fails) == "async:Boom"
    assert await breaker.acall(fails) == "async:CircuitOpenError"
    sync_fb = make(clock, failure_threshold=1, fallback=lambda exc: "sync")
    assert await sync_fb.acall(fails) == "sync"


# --- operators --------------------------------------------------------------------------------------


def test_force_open_rejects_until_reset(clock: FakeClock) -> None:
    """FORCED_OPEN rejects every call with an infinite retry_after, whatever the clock says."""
    breaker = make(clock)
    breaker.force_open()
    clock.advance(1e6)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.state == "forced_open"
    assert info.value.retry_after == math.inf
    breaker.reset()
    assert breaker.call(ok) == "ok"


def test_disable_allows_everything_and_still_counts(clock: FakeClock) -> None:
    """DISABLED never trips but keeps counting outcomes."""
    breaker = make(clock, failure_threshold=1)
    breaker.disable()
    fail_times(breaker, 5)
    assert breaker.call(ok) == "ok"
    assert breaker.state is S.DISABLED
    m = breaker.metrics()
    assert (m.failures, m.successes, m.times_opened) == (5, 1, 0)


def test_reset_closes_and_forgets_the_failure_history(clock: FakeClock) -> None:
    """reset() closes an open breaker, clears the run and the backoff, keeps lifetime counters."""
    breaker = make(clock, failure_threshold=2, recovery_backoff=2.0)
    fail_times(breaker, 2)
    clock.advance(10.0)
    fail_times(breaker, 1)
    assert breaker.metrics().recovery_timeout == 20.0
    breaker.reset()
    assert breaker.state is S.CLOSED
    m = breaker.metrics()
    assert (m.recovery_timeout, m.consecutive_failures, m.failures) == (10.0, 0, 3)
    fail_times(breaker, 1)
    assert breaker.state is S.CLOSED


# --- events, history, metrics ----------------------------------------------------------------------


def test_events_follow_the_topic_contract(clock: FakeClock) -> None:
    """State changes, recorded calls and rejections reach hooks as frozen records with topic and at."""
    events: list[Any] = []
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, hooks=[events.append])

    def slowish() -> str:
        clock.advance(0.25)
        return "ok"

    breaker.call(slowish)
    fail_times(breaker, 1)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.advance(9.0)
    breaker.call(ok)
    topics = [e.topic for e in events]
    assert topics == [
        "breaker.call",
        "breaker.call",
        "breaker.state",
        "breaker.rejected",
        "breaker.state",
        "breaker.call",
        "breaker.state",
    ]
    first = events[0]
    assert isinstance(first, CallRecorded)
    assert (first.name, first.outcome, first.duration, first.at) == ("test", "success", 0.25, 0.25)
    opened = events[2]
    assert isinstance(opened, CircuitStateChanged)
    assert (opened.old, opened.new, opened.at) == ("closed", "open", 0.25)
    assert "1 consecutive failures" in opened.reason
    rejected = events[3]
    assert isinstance(rejected, CallRejected)
    assert rejected.retry_after == pytest.approx(9.0)
    assert [(e.old, e.new) for e in events if e.topic == "breaker.state"] == [
        (S.CLOSED, S.OPEN),
        (S.OPEN, S.HALF_OPEN),
        (S.HALF_OPEN, S.CLOSED),
    ]
    with pytest.raises(AttributeError):
        first.outcome = CallOutcome.FAILURE  # type: ignore[misc]


def test_slow_call_is_reported_once_as_a_slow_failure(clock: FakeClock) -> None:
    """A slow success emits one breaker.call event: outcome failure, slow=True, with its duration."""
    events: list[Any] = []
    breaker = make(clock, slow_call_threshold=1.0, hooks=[events.append])

    def slow() -> str:
        clock.advance(2.0)
        return "late"

    breaker.call(slow)
    assert len(events) == 1
    assert isinstance(events[0], CallRecorded)
    assert (events[0].outcome, events[0].slow, events[0].duration) == ("failure", True, 2.0)


def test_no_event_is_built_without_hooks(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no hook attached, the success, failure and rejection paths never construct an event."""

    def explode(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("event built with no hook attached")

    for name in ("CallRecorded", "CallRejected", "CircuitStateChanged"):
        monkeypatch.setattr(cb_module, name, explode)
    breaker = make(clock, failure_threshold=1)
    breaker.call(ok)
    fail_times(breaker, 1)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.advance(10.0)
    breaker.call(ok)
    assert breaker.state is S.CLOSED


def test_hook_may_read_the_breaker_without_deadlock(clock: FakeClock) -> None:
    """Hooks run outside the lock, so a hook calling metrics() (or the breaker) cannot deadlock."""
    states: list[CircuitState] = []
    breaker = make(clock, failure_threshold=1)
    breaker.hooks.add(lambda e: states.append(breaker.metrics().state))
    fail_times(breaker, 1)
    # Two events (the failed call, then the trip), both delivered after the transition is done.
    assert states == [S.OPEN, S.OPEN]


def test_a_failing_hook_does_not_break_the_call(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a hook is logged; the call's result still comes back."""

    def bad_hook(event: object) -> None:
        raise ValueError("hook bug")

    breaker = make(clock, hooks=[bad_hook])
    assert breaker.call(ok) == "ok"
    assert "hook" in caplog.text


def test_time_in_state_and_history(clock: FakeClock) -> None:
    """time_in_state adds up every stretch, including the current one; history is bounded."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0)
    clock.advance(5.0)
    fail_times(breaker, 1)
    clock.advance(12.0)
    breaker.call(ok)
    clock.advance(3.0)
    m = breaker.metrics()
    assert m.time_in_state == {
        "closed": 8.0,
        "open": 12.0,
        "half_open": 0.0,
        "forced_open": 0.0,
        "disabled": 0.0,
    }
    assert m.at == 20.0
    for _ in range(600):
        breaker.force_open()
        breaker.reset()
    assert len(breaker.history) == 1000
    assert breaker.history[-1][1] is S.CLOSED


def test_metrics_invariant_and_repr(clock: FakeClock) -> None:
    """calls == successes + failures + ignored + rejections; repr names the state, never raises."""
    breaker = make(clock, failure_threshold=2, is_failure=lambda e: isinstance(e, Boom))
    breaker.call(ok)
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["k"])
    fail_times(breaker, 2)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    held = breaker.metrics()
    check_invariant(held)
    assert (held.calls, held.successes, held.ignored, held.failures, held.rejections) == (5, 1, 1, 2, 1)
    assert "open" in repr(breaker)
    assert "test" in repr(breaker)
    assert "Permit" in repr(Permit(3, None, probe=True))


# --- a reference model ---------------------------------------------------------------------------


class _Model:
    """The breaker as a dozen lines: consecutive-failure rule, growing timeouts, sequential probes."""

    def __init__(self, threshold: int, timeout: float, backoff: float, cap: float, successes: int) -> None:
        self.threshold, self.base, self.backoff, self.cap = threshold, timeout, backoff, cap
        self.success_threshold = successes
        self.state = S.CLOSED
        self.consecutive = self.trips = self.probe_ok = 0
        self.timeout = timeout
        self.next_probe = 0.0
        self.counts = {"success": 0, "failure": 0, "ignored": 0, "rejected": 0}

    def trip(self, now: float) -> None:
        self.trips += 1
        self.timeout = self.base if self.trips == 1 else min(self.timeout * self.backoff, self.cap)
        self.next_probe = now + self.timeout
        self.state = S.OPEN

    def close(self) -> None:
        self.state, self.consecutive, self.trips, self.timeout = S.CLOSED, 0, 0, self.base

    def call(self, now: float, outcome: str) -> float | None:
        """Returns None when admitted, else the expected retry_after."""
        if self.state is S.OPEN and now >= self.next_probe:
            self.state, self.probe_ok = S.HALF_OPEN, 0
        if self.state is S.OPEN:
            self.counts["rejected"] += 1
            return self.next_probe - now
        if self.state is S.FORCED_OPEN:
            self.counts["rejected"] += 1
            return math.inf
        self.counts[outcome] += 1
        if self.state is S.CLOSED and outcome == "success":
            self.consecutive = 0
        elif self.state is S.CLOSED and outcome == "failure":
            self.consecutive += 1
            if self.consecutive >= self.threshold:
                self.trip(now)
        elif self.state is S.HALF_OPEN and outcome == "success":
            self.probe_ok += 1
            if self.probe_ok >= self.success_threshold:
                self.close()
        elif self.state is S.HALF_OPEN and outcome == "failure":
            self.trip(now)
        return None


class BreakerAgainstModel(RuleBasedStateMachine):
    """Random call/advance/operator sequences: the breaker and the model never disagree."""

    @initialize(
        threshold=st.integers(1, 4),
        timeout=st.sampled_from([1.0, 5.0, 10.0]),
        backoff=st.sampled_from([1.0, 1.5, 2.0]),
        successes=st.integers(1, 3),
    )
    def setup(self, threshold: int, timeout: float, backoff: float, successes: int) -> None:
        self.clock = FakeClock()
        self.breaker = CircuitBreaker(
            "model",
            failure_threshold=threshold,
            recovery_timeout=timeout,
            recovery_backoff=backoff,
            max_recovery_timeout=4 * timeout,
            success_threshold=successes,
            is_failure=lambda e: isinstance(e, Boom),
            clock=self.clock,
        )
        self.model = _Model(threshold, timeout, backoff, 4 * timeout, successes)

    @rule(outcome=st.sampled_from(["success", "failure", "ignored"]))
    def call(self, outcome: str) -> None:
        expected = self.model.call(self.clock.now(), outcome)

        def fn() -> str:
            if outcome == "failure":
                raise Boom
            if outcome == "ignored":
                raise KeyError("caller's fault")
            return "ok"

        rejection: CircuitOpenError | None = None
        try:
            self.breaker.call(fn)
        except CircuitOpenError as exc:
            rejection = exc
        except (Boom, KeyError):
            pass
        if expected is None:
            assert rejection is None, "breaker rejected a call the model admits"
        else:
            assert rejection is not None, "breaker admitted a call the model rejects"
            assert rejection.retry_after == pytest.approx(max(0.0, expected))

    @rule(dt=st.floats(0.0, 30.0, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(op=st.sampled_from(["reset", "force_open", "disable"]))
    def operator(self, op: str) -> None:
        getattr(self.breaker, op)()
        self.model.close()
        self.model.state = {"reset": S.CLOSED, "force_open": S.FORCED_OPEN, "disable": S.DISABLED}[op]

    @invariant()
    def agrees(self) -> None:
        m = self.breaker.metrics()
        check_invariant(m)
        assert self.breaker.state is self.model.state
        assert m.recovery_timeout == pytest.approx(self.model.timeout)
        counts = self.model.counts
        assert (m.successes, m.failures, m.ignored, m.rejections) == (
            counts["success"],
            counts["failure"],
            counts["ignored"],
            counts["rejected"],
        )
        if self.model.state is S.CLOSED:
            assert m.consecutive_failures == self.model.consecutive


TestBreakerAgainstModel = BreakerAgainstModel.TestCase
TestBreakerAgainstModel.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- concurrency -----------------------------------------------------------------------------------


def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll a condition other threads will make true (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + 30.0
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.parametrize("max_probes", [1, 3])
def test_thousand_threads_admit_exactly_max_probes(clock: FakeClock, max_probes: int) -> None:
    """1,000 threads released together on a half-open breaker: exactly half_open_max_calls get in."""
    n = 1000
    breaker = make(clock, failure_threshold=1, half_open_max_calls=max_probes, success_threshold=max_probes)
    trip(breaker, clock)
    clock.advance(10.0)
    barrier = threading.Barrier(n)
    gate = threading.Event()
    lock = threading.Lock()
    entered: list[int] = []
    rejected: list[CircuitOpenError] = []
    results: list[str] = []

    def probe(i: int) -> str:
        with lock:
            entered.append(i)
        assert gate.wait(timeout=30.0)
        return "ok"

    def worker(i: int) -> None:
        barrier.wait(timeout=30.0)
        try:
            results.append(breaker.call(probe, i))
        except CircuitOpenError as exc:
            with lock:
                rejected.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        _wait_until(lambda: len(entered) + len(rejected) == n, "every thread to be admitted or rejected")
        assert len(entered) == max_probes
        assert all(e.state == "half_open" and e.retry_after == 0.0 for e in rejected)
        assert breaker.metrics().probes_in_flight == max_probes
    finally:
        gate.set()  # never leave a thousand threads parked when an assertion fails
        for t in threads:
            t.join(timeout=30.0)
    assert results == ["ok"] * max_probes
    assert breaker.state is S.CLOSED
    m = breaker.metrics()
    assert (m.successes, m.rejections) == (max_probes, n - max_probes)
    check_invariant(m)


@pytest.mark.parametrize("max_probes", [1, 3])
async def test_thousand_tasks_admit_exactly_max_probes(clock: FakeClock, max_probes: int) -> None:
    """1,000 asyncio tasks started together on a half-open breaker: exactly half_open_max_calls get in."""
    n = 1000
    breaker = make(clock, failure_threshold=1, half_open_max_calls=max_probes, success_threshold=max_probes)
    trip(breaker, clock)
    clock.advance(10.0)
    gate = asyncio.Event()
    settled = asyncio.Event()  # set once every task was either admitted or rejected
    entered: list[int] = []
    rejected: list[int] = []

    def note(bucket: list[int], i: int) -> None:
        bucket.append(i)
        if len(entered) + len(rejected) == n:
            settled.set()

    async def probe(i: int) -> str:
        note(entered, i)
        await gate.wait()
        return "ok"

    async def attempt(i: int) -> str:
        try:
            return await breaker.acall(probe, i)
        except CircuitOpenError:
            note(rejected, i)
            raise

    tasks = [asyncio.create_task(attempt(i)) for i in range(n)]
    try:
        await asyncio.wait_for(settled.wait(), timeout=30.0)
        assert len(entered) == max_probes
    finally:
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(r == "ok" for r in results) == max_probes
    assert sum(isinstance(r, CircuitOpenError) for r in results) == n - max_probes
    assert breaker.state is S.CLOSED


def test_concurrent_closed_calls_are_counted_exactly(clock: FakeClock) -> None:
    """Eight threads hammering a closed breaker: no lost updates in the counters."""
    breaker = make(clock, failure_threshold=10**9)
    per_thread = 2000

    def worker(seed: int) -> None:
        for i in range(per_thread):
            if (i + seed) % 4 == 0:
                with pytest.raises(Boom):
                    breaker.call(boom)
            else:
                breaker.call(ok)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = breaker.metrics()
    assert m.calls == 8 * per_thread
    assert (m.failures, m.successes) == (8 * per_thread // 4, 8 * per_thread * 3 // 4)


# --- simulated time --------------------------------------------------------------------------------


def test_breaker_runs_unchanged_inside_simpy(env: Any) -> None:
    """Driven by a simpy process through the permit API, the breaker follows simulated time."""
    clock = SimClock(env)
    breaker = CircuitBreaker("sim", failure_threshold=3, recovery_timeout=5.0, clock=clock)
    log: list[tuple[float, str]] = []

    def backend_ok(now: float) -> bool:
        return not 10.0 <= now < 22.0  # an outage from t=10 to t=22

    def client() -> Any:
        while env.now < 40:
            try:
                permit = breaker.try_acquire()
            except CircuitOpenError:
                log.append((env.now, "rejected"))
            else:
                yield clock.timeout(0.5)  # the call takes half a second
                if backend_ok(env.now):
                    breaker.record_success(permit)
                else:
                    breaker.record_failure(permit, ErrorKind.SERVER_ERROR)
            yield clock.timeout(0.5)

    env.process(client())
    env.run()
    states = [(at, s.value) for at, s in breaker.history]
    assert states[1] == (12.5, "open")  # calls end at x.5; the third failure is the call ending at 12.5
    assert "half_open" in [s for _, s in states]
    assert states[-1][1] == "closed"
    assert 20.0 < states[-1][0] <= 28.0
    assert any(kind == "rejected" for _, kind in log)
