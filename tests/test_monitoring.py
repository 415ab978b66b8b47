"""Monitor, latency sketch, health, SLA, alerts, anomaly detection and exports."""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.circuit_breaker import CircuitBreaker, CircuitState, CircuitStateChanged
from day6.clock import FakeClock
from day6.errors import ConfigError, ErrorKind
from day6.faults import FaultInjected
from day6.monitoring import (
    AlertEvent,
    Anomaly,
    AnomalyDetector,
    BurnRateRule,
    HealthRegistry,
    HealthStatus,
    LatencySketch,
    Monitor,
    PrometheusCollector,
    SLATargets,
    SLATracker,
    ThresholdRule,
    breaker_check,
    error_rate_check,
    to_json,
    to_prometheus,
)
from day6.rate_limit import LimiterDecision, LimiterRateChanged
from day6.retry import RetryPolicy

# The real event records of the emitting modules, so the topic contract is tested end to end.
# No module emits ``agent.request`` yet (the agent records requests with ``record_request``), so
# that shape is declared here, as the topic table in day6._events describes it.


@dataclass(frozen=True, slots=True)
class AgentRequest:
    topic: ClassVar[str] = "agent.request"
    outcome: str
    latency: float
    attempts: int
    kind: ErrorKind | None
    model: str | None
    at: float


@dataclass(frozen=True, slots=True)
class SomethingNew:
    topic: ClassVar[str] = "future.topic"
    at: float


# --------------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------------


def test_counters_add_up(clock: FakeClock, rng: random.Random) -> None:
    """Outcomes sum to the total; attempts, retries, errors and waste follow the records."""
    monitor = Monitor(clock=clock)
    expected = {"ok": 0, "fallback": 0, "failed": 0}
    attempts = answers = 0
    kinds: dict[str, int] = {}
    for _ in range(5_000):
        outcome = rng.choice(["ok", "ok", "ok", "fallback", "failed"])
        n = rng.randint(0 if outcome == "fallback" else 1, 3)
        kind = None if outcome == "ok" else rng.choice([ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR])
        monitor.record_request(outcome, rng.uniform(0.01, 1.0), attempts=n, kind=kind, model="day6-mini")
        expected[outcome] += 1
        attempts += n
        answers += outcome != "failed" and n > 0
        if kind is not None:
            kinds[kind.value] = kinds.get(kind.value, 0) + 1
        clock.advance(0.01)
    s = monitor.snapshot().requests
    assert dict(s.by_outcome) == expected
    assert s.total == sum(expected.values()) == 5_000
    assert s.attempts == attempts
    assert s.retries == attempts - 5_000
    assert dict(s.errors_by_kind) == kinds
    assert dict(s.by_model) == {"day6-mini": 5_000}
    assert s.answers == answers
    assert s.wasted_attempts == attempts - answers
    assert s.waste_ratio == pytest.approx((attempts - answers) / answers)
    assert s.fallbacks == expected["fallback"]


def test_waste_ratio_matches_the_lesson_definition(clock: FakeClock) -> None:
    """100 answers, two of which needed a second attempt: 2 % waste."""
    monitor = Monitor(clock=clock)
    for i in range(100):
        monitor.record_request("ok", 0.1, attempts=2 if i < 2 else 1)
    snap = monitor.snapshot()
    assert snap.waste_ratio == pytest.approx(0.02)
    assert snap.requests.retries == 2


def test_a_fallback_model_answer_counts_a_canned_reply_does_not(clock: FakeClock) -> None:
    """A fallback model's reply is an answer (its attempt was productive); a canned one is not."""
    monitor = Monitor(clock=clock)
    monitor.record_request("fallback", 0.4, attempts=3, model="day6-large")  # 2 failed, then fallback model
    monitor.record_request("fallback", 0.0, attempts=0)  # breaker open: canned reply, nothing called
    r = monitor.snapshot().requests
    assert (r.answers, r.wasted_attempts, r.fallbacks) == (1, 2, 2)
    assert r.waste_ratio == pytest.approx(2.0)


def test_waste_ratio_without_answers(clock: FakeClock) -> None:
    """No answers: waste is 0 with no attempts, infinite once attempts were spent."""
    monitor = Monitor(clock=clock)
    assert monitor.snapshot().waste_ratio == 0.0
    monitor.record_request("failed", 0.5, attempts=3, kind=ErrorKind.TIMEOUT)
    assert math.isinf(monitor.snapshot().waste_ratio)


def test_agent_request_events_are_recorded_like_record_request(clock: FakeClock) -> None:
    """An agent.request event and record_request produce the same counters."""
    direct, via_event = Monitor(clock=clock), Monitor(clock=clock)
    direct.record_request("failed", 0.3, attempts=3, kind=ErrorKind.RATE_LIMIT, model="m")
    via_event(AgentRequest("failed", 0.3, 3, ErrorKind.RATE_LIMIT, "m", at=clock.now()))
    a, b = direct.snapshot(), via_event.snapshot()
    assert a.requests == b.requests
    assert a.latency == b.latency
    assert b.events["agent.request"] == 1


@pytest.mark.parametrize(
    ("outcome", "latency"),
    [("maybe", 0.1), ("ok", -0.1), ("ok", math.nan), ("ok", math.inf)],
)
def test_record_request_rejects_bad_input(clock: FakeClock, outcome: str, latency: float) -> None:
    """Unknown outcomes and negative / non-finite latencies are refused, and nothing is counted."""
    monitor = Monitor(clock=clock)
    with pytest.raises(ValueError, match=r"outcome|latency"):
        monitor.record_request(outcome, latency)
    assert monitor.snapshot().requests.total == 0


def test_unknown_topics_are_counted_and_otherwise_ignored(clock: FakeClock) -> None:
    """A topic the monitor does not know is counted, never an error; topic-less objects are ignored."""
    monitor = Monitor(clock=clock)
    monitor(SomethingNew(at=0.0))
    monitor.observe(object())
    snap = monitor.snapshot()
    assert dict(snap.events) == {"future.topic": 1}
    assert snap.requests.total == 0


def test_reset_forgets_everything(clock: FakeClock) -> None:
    """reset() clears counters, percentiles, rates and breakers; uptime restarts."""
    monitor = Monitor(clock=clock)
    monitor.record_request("ok", 0.2)
    monitor(CircuitStateChanged("b", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    clock.advance(10)
    monitor.reset()
    snap = monitor.snapshot()
    assert snap.requests.total == 0
    assert snap.latency.count == 0
    assert snap.latency.p95 is None
    assert snap.rates.requests_per_s == 0.0
    assert dict(snap.breakers) == {}
    assert snap.uptime == 0.0


def test_many_threads_lose_no_counts(clock: FakeClock) -> None:
    """Eight threads recording concurrently: every request is counted exactly once."""
    monitor = Monitor(clock=clock)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(5_000):
            monitor.record_request("ok", 0.05, attempts=2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = monitor.snapshot().requests
    assert s.total == 40_000
    assert s.attempts == 80_000


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"rate_window": 0}, "rate_window"),
        ({"rate_window": math.nan}, "rate_window"),
        ({"history": -1}, "history"),
        ({"history": 10.0, "rate_window": 60.0}, "history"),
        ({"resolution": 0}, "resolution"),
        ({"resolution": 120.0}, "resolution"),
        ({"history": 1e9, "resolution": 1.0}, "history"),
        ({"latency_accuracy": 0}, "latency_accuracy"),
        ({"latency_accuracy": 1.0}, "latency_accuracy"),
        ({"latency_accuracy": math.inf}, "latency_accuracy"),
    ],
)
def test_monitor_settings_are_validated(kwargs: dict[str, Any], setting: str) -> None:
    """Bad monitor settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError) as info:
        Monitor(clock=FakeClock(), **kwargs)
    assert info.value.setting == setting
    assert setting in str(info.value)


# --------------------------------------------------------------------------------------------
# Latency percentiles
# --------------------------------------------------------------------------------------------


def _exact(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[math.floor(q * (len(ordered) - 1))]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.01, 0.02, 0.05]),
)
def test_quantiles_within_stated_relative_accuracy(xs: list[float], accuracy: float) -> None:
    """Every quantile is within the stated relative error of the exact order statistic."""
    sketch = LatencySketch(relative_accuracy=accuracy)
    for x in xs:
        sketch.add(x)
    for q in (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0):
        est = sketch.quantile(q)
        exact = _exact(xs, q)
        assert est is not None
        assert abs(est - exact) <= accuracy * exact * (1 + 1e-9), (q, est, exact)


def test_monitor_percentiles_on_a_heavy_tailed_sample(clock: FakeClock, rng: random.Random) -> None:
    """p50/p95/p99 of 100k lognormal latencies are within 1 % of the exact values."""
    monitor = Monitor(clock=clock, latency_accuracy=0.01)
    xs = [rng.lognormvariate(-1.5, 0.8) for _ in range(100_000)]
    for x in xs:
        monitor.record_request("ok", x)
    lat = monitor.snapshot().latency
    for q, est in ((0.5, lat.p50), (0.95, lat.p95), (0.99, lat.p99)):
        exact = _exact(xs, q)
        assert est is not None
        assert abs(est - exact) <= 0.01 * exact * (1 + 1e-9)
    assert lat.count == 100_000
    assert lat.min == min(xs)
    assert lat.max == max(xs)
    assert lat.mean == pytest.approx(sum(xs) / len(xs))


def test_zero_latencies_are_reported_as_their_exact_minimum() -> None:
    """Values below the sketch's floor (a fake clock's 0 s) come back with absolute error < floor."""
    sketch = LatencySketch()
    for _ in range(10):
        sketch.add(0.0)
    sketch.add(0.5)
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(1.0) == pytest.approx(0.5, rel=0.01)


def test_empty_sketch_has_no_quantiles() -> None:
    """Before the first value every quantile is None; out-of-range q is refused."""
    sketch = LatencySketch()
    assert sketch.quantiles((0.5, 0.99)) == (None, None)
    with pytest.raises(ValueError, match="quantile"):
        sketch.quantile(1.5)


def test_memory_is_bounded_after_a_million_requests(clock: FakeClock) -> None:
    """10**6 requests over a simulated day leave every structure at its construction size."""
    monitor = Monitor(clock=clock)
    buckets, ring = monitor.latency_sketch.bucket_count, monitor.ring_size
    record = monitor.record_request
    advance = clock.advance
    latencies = [0.001 * (1 + i % 5000) for i in range(1000)]
    for i in range(1_000_000):
        record(
            "failed" if i % 100 == 0 else "ok", latencies[i % 1000], kind="timeout" if i % 100 == 0 else None
        )
        advance(0.0864)  # 10**6 requests spread over 24 h: the ring wraps 24 times
    assert monitor.latency_sketch.bucket_count == buckets
    assert monitor.ring_size == ring == 3600
    snap = monitor.snapshot()
    assert snap.requests.total == 1_000_000
    assert len(snap.requests.errors_by_kind) == 1
    assert len(snap.events) == 0
    assert len(monitor._ring.epochs) == ring  # the ring recycles slots instead of growing


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------


def test_rates_over_the_rolling_window(clock: FakeClock) -> None:
    """2 req/s with a quarter failing reads as 2 req/s and 0.5 err/s; an idle window reads 0."""
    monitor = Monitor(clock=clock, rate_window=60.0)
    for i in range(240):  # 120 s of traffic
        monitor.record_request("failed" if i % 4 == 0 else "ok", 0.1)
        clock.advance(0.5)
    rates = monitor.snapshot().rates
    assert rates.requests_per_s == pytest.approx(2.0, abs=0.05)
    assert rates.errors_per_s == pytest.approx(0.5, abs=0.05)
    assert rates.error_ratio == pytest.approx(0.25, abs=0.02)
    clock.advance(61.0)
    idle = monitor.snapshot().rates
    assert (idle.requests_per_s, idle.errors_per_s) == (0.0, 0.0)


def test_rates_stay_right_after_the_ring_wraps(clock: FakeClock) -> None:
    """After many trips round the ring, recycled slots hold only their own second's counts."""
    monitor = Monitor(clock=clock, rate_window=60.0, history=120.0)
    for second in range(1000):
        for _ in range(1 + second % 3):  # 1, 2, 3, 1, 2, 3 ... requests per second
            monitor.record_request("failed" if second % 10 == 0 else "ok", 0.1)
        clock.advance(1.0)
    window = monitor.counts_over(60.0, now=clock.now() - 1.0)  # seconds 940..999
    assert window.requests == sum(1 + s % 3 for s in range(940, 1000))
    assert window.errors == sum(1 + s % 3 for s in range(940, 1000) if s % 10 == 0)
    assert monitor.snapshot().rates.requests_per_s == pytest.approx(
        sum(1 + s % 3 for s in range(941, 1000)) / 60.0
    )


def test_a_young_monitor_divides_by_its_age(clock: FakeClock) -> None:
    """Ten requests in the first 5 s of a 60 s window read as 2 req/s, not 10/60."""
    monitor = Monitor(clock=clock, rate_window=60.0)
    for _ in range(10):
        monitor.record_request("ok", 0.1)
        clock.advance(0.5)
    assert monitor.snapshot().rates.requests_per_s == pytest.approx(2.0)


def test_counts_over_a_window(clock: FakeClock) -> None:
    """counts_over sees only the requests inside its window and refuses windows beyond history."""
    monitor = Monitor(clock=clock, history=600.0)
    monitor.record_request("failed", 0.1)
    clock.advance(100.0)
    monitor.record_request("ok", 0.1)
    monitor.record_request("fallback", 0.1)
    recent = monitor.counts_over(30.0)
    assert (recent.requests, recent.errors, recent.fallbacks) == (2, 0, 1)
    everything = monitor.counts_over(600.0)
    assert (everything.requests, everything.errors) == (3, 1)
    assert everything.error_ratio == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="history"):
        monitor.counts_over(601.0)


# --------------------------------------------------------------------------------------------
# Breakers, retries, limiters, faults (events)
# --------------------------------------------------------------------------------------------


def _boom() -> None:
    raise ConnectionError("backend down")


def test_real_breaker_events_give_state_time_and_recovery(clock: FakeClock) -> None:
    """A real CircuitBreaker's events: state, time in each state, and the outage it recovered from."""
    monitor = Monitor(clock=clock)
    breaker = CircuitBreaker("llm", failure_threshold=2, recovery_timeout=10.0, clock=clock, hooks=[monitor])
    clock.advance(5.0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(_boom)
    clock.advance(10.0)  # recovery timeout passes; the next call is a probe
    breaker.call(lambda: "ok")
    clock.advance(3.0)
    b = monitor.snapshot().breakers["llm"]
    assert b.state == "closed"
    assert b.transitions == 3  # closed -> open -> half_open -> closed
    assert b.time_in_state["open"] == pytest.approx(10.0)
    assert b.time_in_state["closed"] == pytest.approx(8.0)
    assert b.recoveries == 1
    assert b.max_recovery == pytest.approx(10.0)
    assert b.current_outage is None
    assert b.calls_by_outcome["failure"] == 2
    assert b.calls_by_outcome["success"] == 1


def test_breaker_counters_add_up(clock: FakeClock, rng: random.Random) -> None:
    """Through a real breaker: calls = successes + failures + ignored + rejections, as the breaker counts."""
    monitor = Monitor(clock=clock)
    breaker = CircuitBreaker("llm", failure_threshold=3, recovery_timeout=5.0, clock=clock, hooks=[monitor])
    calls = 0
    for _ in range(2_000):
        outcome = rng.choice(["ok", "ok", "down", "bad_request"])
        calls += 1
        try:
            if outcome == "ok":
                breaker.call(lambda: "fine")
            elif outcome == "down":
                breaker.call(_boom)
            else:
                breaker.call(_bad_request)
        except Exception:
            pass
        clock.advance(rng.uniform(0.0, 2.0))
    b = monitor.snapshot().breakers["llm"]
    m = breaker.metrics()
    assert sum(b.calls_by_outcome.values()) + b.rejections == calls == m.calls
    assert b.calls_by_outcome.get("success", 0) == m.successes
    assert b.calls_by_outcome.get("failure", 0) == m.failures
    assert b.calls_by_outcome.get("ignored", 0) == m.ignored
    assert b.rejections == m.rejections
    assert min(m.successes, m.failures, m.ignored, m.rejections) > 0  # every kind really happened


def _bad_request() -> None:
    raise ValueError("a caller's mistake, not the backend's fault")


def test_a_failed_probe_does_not_restart_the_outage(clock: FakeClock) -> None:
    """open -> half_open -> open -> half_open -> closed is one outage, measured from the first trip."""
    monitor = Monitor(clock=clock)
    breaker = CircuitBreaker("llm", failure_threshold=1, recovery_timeout=10.0, clock=clock, hooks=[monitor])
    with pytest.raises(ConnectionError):
        breaker.call(_boom)  # t=0: trips
    clock.advance(10.0)
    with pytest.raises(ConnectionError):
        breaker.call(_boom)  # t=10: the probe fails, open again
    clock.advance(10.0)
    breaker.call(lambda: "ok")  # t=20: the probe succeeds
    b = monitor.snapshot().breakers["llm"]
    assert b.recoveries == 1
    assert b.max_recovery == pytest.approx(20.0)
    assert b.time_in_state["half_open"] == pytest.approx(0.0)
    assert b.time_in_state["open"] == pytest.approx(20.0)


def test_breaker_rejections_and_an_ongoing_outage(clock: FakeClock) -> None:
    """While open, rejections are counted and the running outage grows with the clock."""
    monitor = Monitor(clock=clock)
    breaker = CircuitBreaker("llm", failure_threshold=1, recovery_timeout=60.0, clock=clock, hooks=[monitor])
    with pytest.raises(ConnectionError):
        breaker.call(_boom)
    clock.advance(20.0)
    with pytest.raises(Exception, match="open"):
        breaker.call(lambda: "never runs")
    snap = monitor.snapshot()
    b = snap.breakers["llm"]
    assert b.state == "open"
    assert b.rejections == 1
    assert b.current_outage == pytest.approx(20.0)
    assert snap.max_recovery == pytest.approx(20.0)


def test_real_retry_events_are_counted(clock: FakeClock, rng: random.Random) -> None:
    """A RetryPolicy's events: attempts, scheduled retries by kind, delay total, success."""
    monitor = Monitor(clock=clock)
    policy = RetryPolicy(attempts=3, base_delay=0.1, jitter="none", clock=clock, rng=rng, hooks=[monitor])
    calls = iter([ConnectionError("x"), ConnectionError("y"), None])

    def flaky() -> str:
        err = next(calls)
        if err is not None:
            raise err
        return "ok"

    assert policy.call(flaky) == "ok"
    r = monitor.snapshot().retries
    assert (r.attempts, r.scheduled, r.succeeded, r.gave_up) == (3, 2, 1, 0)
    assert r.total_delay == pytest.approx(0.1 + 0.2)
    assert dict(r.by_kind) == {"network": 2}
    assert r.waste_ratio == pytest.approx(2.0)
    assert monitor.snapshot().waste_ratio == pytest.approx(2.0)  # no requests: the retry view


def test_limiter_and_fault_events(clock: FakeClock) -> None:
    """Limiter decisions, headroom and rate changes, and injected faults are tracked per name."""
    monitor = Monitor(clock=clock)
    monitor(LimiterDecision("bucket", True, 1.0, 9.0, at=0.0))
    monitor(LimiterDecision("bucket", True, 1.0, 8.0, at=0.1))
    monitor(LimiterDecision("bucket", False, 1.0, 0.0, at=0.2))
    monitor(LimiterRateChanged("bucket", 1.0, 0.5, "429", at=0.3))
    monitor(
        FaultInjected(at=0.4, fault="timeout", method="POST", url="http://day6.local/v1/chat/completions")
    )
    snap = monitor.snapshot()
    lim = snap.limiters["bucket"]
    assert (lim.allowed, lim.rejected, lim.headroom, lim.rate, lim.rate_changes) == (2, 1, 0.0, 0.5, 1)
    assert dict(snap.faults) == {"timeout": 1}


def test_snapshot_is_frozen_and_text_renders(clock: FakeClock) -> None:
    """Snapshots cannot be mutated, and to_text mentions the key numbers."""
    monitor = Monitor(clock=clock)
    monitor.record_request("ok", 0.25)
    monitor(CircuitStateChanged("llm", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    snap = monitor.snapshot()
    with pytest.raises(AttributeError):
        snap.at = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.requests.by_outcome["ok"] = 5  # type: ignore[index]
    text = snap.to_text()
    assert "requests   1" in text
    assert "p95" in text
    assert "llm: open" in text


# --------------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------------


def _busy_monitor(clock: FakeClock) -> Monitor:
    monitor = Monitor(clock=clock)
    for i in range(100):
        monitor.record_request(
            "failed" if i % 10 == 0 else "ok",
            0.1 + i / 1000,
            attempts=1 + (i % 3 == 0),
            kind=ErrorKind.SERVER_ERROR if i % 10 == 0 else None,
        )
    monitor(CircuitStateChanged("llm", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    monitor(LimiterDecision("bucket", False, 1.0, 0.0, at=0.0))
    monitor(FaultInjected(at=0.0, fault="server_error", method="POST", url="u"))
    clock.advance(5.0)
    return monitor


def test_prometheus_exposition_parses(clock: FakeClock) -> None:
    """to_prometheus output parses with prometheus_client's own parser and carries the numbers."""
    from prometheus_client.parser import text_string_to_metric_families

    monitor = _busy_monitor(clock)
    families = {f.name: f for f in text_string_to_metric_families(to_prometheus(monitor))}
    requests = {s.labels["outcome"]: s.value for s in families["day6_requests"].samples}
    assert requests == {"ok": 90.0, "fallback": 0.0, "failed": 10.0}
    assert families["day6_requests"].type == "counter"
    latency = families["day6_request_latency_seconds"]
    assert latency.type == "summary"
    by_name = {(s.name, s.labels.get("quantile")): s.value for s in latency.samples}
    assert by_name[("day6_request_latency_seconds_count", None)] == 100
    assert by_name[("day6_request_latency_seconds", "0.95")] == pytest.approx(0.195, rel=0.02)
    states = {s.labels["state"]: s.value for s in families["day6_breaker_state"].samples}
    assert states["open"] == 1.0
    assert states["closed"] == 0.0
    in_state = {s.labels["state"]: s.value for s in families["day6_breaker_state_seconds"].samples}
    assert in_state["open"] == pytest.approx(5.0)
    errors = {s.labels["kind"]: s.value for s in families["day6_request_errors"].samples}
    assert errors == {"server_error": 10.0}
    decisions = {s.labels["decision"]: s.value for s in families["day6_limiter_decisions"].samples}
    assert decisions == {"allowed": 0.0, "rejected": 1.0}
    assert families["day6_faults_injected"].samples[0].value == 1.0


def test_prometheus_collector_registers_on_any_registry(clock: FakeClock) -> None:
    """The collector can be registered on a caller's registry (e.g. to serve /metrics)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(PrometheusCollector(_busy_monitor(clock)))
    assert b"day6_requests_total" in generate_latest(registry)


def test_json_export_is_strict_json(clock: FakeClock) -> None:
    """to_json is valid strict JSON (no NaN/inf) and round-trips the numbers."""
    monitor = _busy_monitor(clock)
    data = json.loads(to_json(monitor))
    assert data["requests"]["total"] == 100
    assert data["requests"]["by_outcome"]["failed"] == 10
    assert data["breakers"]["llm"]["state"] == "open"
    assert data["availability"] == pytest.approx(0.9)
    no_answers = Monitor(clock=clock)
    no_answers.record_request("failed", 0.1, attempts=2)
    assert json.loads(to_json(no_answers))["waste_ratio"] is None  # inf has no JSON form


# --------------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------------


def test_health_roll_up_worst_critical_wins(clock: FakeClock) -> None:
    """Critical checks: the worst status wins; a non-critical failure only degrades."""
    reg = HealthRegistry(clock=clock)
    assert reg.run().status is HealthStatus.HEALTHY  # nothing registered
    reg.register("backend", lambda: HealthStatus.HEALTHY)
    reg.register("cache", lambda: (HealthStatus.UNHEALTHY, "cache unreachable"), critical=False)
    report = reg.run()
    assert report.status is HealthStatus.DEGRADED
    assert "cache: cache unreachable" in report.reason
    reg.register("memory", lambda: (HealthStatus.DEGRADED, "disk 95 % full"))
    assert reg.run().status is HealthStatus.DEGRADED
    reg.register("backend", lambda: False)
    report = reg.run()
    assert report.status is HealthStatus.UNHEALTHY
    assert [c.name for c in report.checks] == ["backend", "cache", "memory"]


def test_a_raising_check_is_unhealthy_with_its_reason_and_no_secret(clock: FakeClock) -> None:
    """An exception becomes UNHEALTHY with its type and message; an API key in it is masked."""
    planted = "sk-proj-PLANTEDSECRET0123456789"

    def check() -> HealthStatus:
        raise RuntimeError(f"auth failed for key {planted}")

    reg = HealthRegistry(clock=clock)
    reg.register("auth", check)
    result = reg.run().checks[0]
    assert result.status is HealthStatus.UNHEALTHY
    assert "RuntimeError" in result.reason
    assert planted not in result.reason
    assert planted not in repr(reg.run())


def test_ping_gets_its_timeout_and_an_overrun_is_unhealthy(clock: FakeClock) -> None:
    """A ping receives its timeout; one that takes longer (on the clock) is UNHEALTHY."""
    seen: list[float] = []

    def fast(timeout: float) -> None:
        seen.append(timeout)

    def slow(timeout: float) -> None:
        clock.advance(timeout + 1.0)

    reg = HealthRegistry(clock=clock)
    reg.register_ping("fast", fast, timeout=1.5)
    reg.register_ping("slow", slow, timeout=2.0)
    report = reg.run()
    assert seen == [1.5]
    fast_r, slow_r = report.checks
    assert fast_r.status is HealthStatus.HEALTHY
    assert slow_r.status is HealthStatus.UNHEALTHY
    assert "took 3 s, timeout 2 s" in slow_r.reason
    assert report.status is HealthStatus.UNHEALTHY


async def test_async_run_cancels_a_hanging_check(clock: FakeClock) -> None:
    """arun() cuts off an async check that never answers (on the fake clock: no real wait)."""
    cancelled = asyncio.Event()

    async def hangs() -> HealthStatus:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return HealthStatus.HEALTHY  # pragma: no cover

    async def fine() -> HealthStatus:
        return HealthStatus.HEALTHY

    reg = HealthRegistry(clock=clock)
    reg.register("hangs", hangs, timeout=5.0)
    reg.register("fine", fine)
    reg.register("sync", lambda: True)
    report = await reg.arun()
    by_name = {c.name: c for c in report.checks}
    assert by_name["hangs"].status is HealthStatus.UNHEALTHY
    assert "5 s timeout" in by_name["hangs"].reason
    assert by_name["fine"].status is HealthStatus.HEALTHY
    assert by_name["sync"].status is HealthStatus.HEALTHY
    assert cancelled.is_set()


def test_sync_run_refuses_an_async_check_cleanly(clock: FakeClock) -> None:
    """run() reports an async check as UNHEALTHY pointing at arun(), without leaking a coroutine."""

    async def check() -> HealthStatus:  # pragma: no cover - never awaited
        return HealthStatus.HEALTHY

    reg = HealthRegistry(clock=clock)
    reg.register("async", check)
    result = reg.run().checks[0]
    assert result.status is HealthStatus.UNHEALTHY
    assert "arun" in result.reason


def test_monitor_based_checks(clock: FakeClock) -> None:
    """error_rate_check and breaker_check read the monitor."""
    monitor = Monitor(clock=clock)
    rate, breakers = error_rate_check(monitor, degraded_at=0.05, unhealthy_at=0.5), breaker_check(monitor)
    for i in range(100):
        monitor.record_request("failed" if i < 10 else "ok", 0.1)
    assert rate()[0] is HealthStatus.DEGRADED
    assert breakers()[0] is HealthStatus.HEALTHY
    monitor(CircuitStateChanged("llm", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    assert breakers() == (HealthStatus.UNHEALTHY, "llm is open")
    monitor(CircuitStateChanged("llm", CircuitState.OPEN, CircuitState.HALF_OPEN, "timeout", at=1.0))
    assert breakers()[0] is HealthStatus.DEGRADED
    with pytest.raises(ConfigError, match="unhealthy_at"):
        error_rate_check(monitor, degraded_at=0.5, unhealthy_at=0.1)


# --------------------------------------------------------------------------------------------
# SLA
# --------------------------------------------------------------------------------------------


def test_sla_targets_are_the_lessons() -> None:
    """Defaults: 99.9 % availability, p95 2 s, recovery 30 s, waste 5 %."""
    t = SLATargets()
    assert (t.availability, t.p95_latency, t.recovery_time, t.retry_waste) == (0.999, 2.0, 30.0, 0.05)
    assert t.error_budget == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"availability": 1.0}, "availability"),
        ({"availability": 0}, "availability"),
        ({"p95_latency": 0}, "p95_latency"),
        ({"recovery_time": math.nan}, "recovery_time"),
        ({"retry_waste": -0.1}, "retry_waste"),
    ],
)
def test_sla_targets_are_validated(kwargs: dict[str, float], setting: str) -> None:
    """Bad targets raise ConfigError naming the target."""
    with pytest.raises(ConfigError) as info:
        SLATargets(**kwargs)
    assert info.value.setting == setting


def test_sla_report_pass_and_fail(clock: FakeClock) -> None:
    """A healthy run passes every target; a slow, failing, wasteful one fails each of them."""
    good = Monitor(clock=clock)
    for _ in range(2000):
        good.record_request("ok", 0.3)
    good(CircuitStateChanged("llm", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    good(CircuitStateChanged("llm", CircuitState.OPEN, CircuitState.CLOSED, "probe ok", at=20.0))
    report = SLATracker(good).report()
    assert report.passed
    assert all(r.passed for r in report.results)

    bad = Monitor(clock=clock)
    for i in range(1000):
        bad.record_request("failed" if i % 50 == 0 else "ok", 3.0, attempts=2)
    bad(CircuitStateChanged("llm", CircuitState.CLOSED, CircuitState.OPEN, "trip", at=0.0))
    bad(CircuitStateChanged("llm", CircuitState.OPEN, CircuitState.CLOSED, "probe ok", at=45.0))
    report = SLATracker(bad).report()
    assert not report.passed
    assert {r.name: r.passed for r in report.results} == {
        "availability": False,
        "p95_latency": False,
        "recovery_time": False,
        "retry_waste": False,
    }
    assert "FAIL" in report.to_text()


def test_sla_with_no_traffic_passes_with_a_note(clock: FakeClock) -> None:
    """No data is not a violation; each result says so."""
    report = SLATracker(Monitor(clock=clock)).report()
    assert report.passed
    assert all(r.actual is None for r in report.results)
    assert report.error_budget_remaining == 1.0


def test_error_budget_remaining(clock: FakeClock) -> None:
    """10,000 requests at 99.9 % allow 10 failures: 5 failures leave half the budget, 20 overspend."""
    monitor = Monitor(clock=clock)
    tracker = SLATracker(monitor)
    for i in range(10_000):
        monitor.record_request("failed" if i < 5 else "ok", 0.1)
    assert tracker.error_budget_remaining() == pytest.approx(0.5)
    for _ in range(15):
        monitor.record_request("failed", 0.1)
    assert tracker.error_budget_remaining() < 0


def test_burn_rate_short_and_long_windows(clock: FakeClock) -> None:
    """Burn rate = windowed error ratio / error budget, separately per window."""
    monitor = Monitor(clock=clock)
    tracker = SLATracker(monitor, short_window=300.0, long_window=3600.0)
    for _ in range(3000):  # 50 min at 1 req/s, no errors
        monitor.record_request("ok", 0.1)
        clock.advance(1.0)
    for i in range(300):  # then 5 min with 1 % errors
        monitor.record_request("failed" if i % 100 == 50 else "ok", 0.1)
        clock.advance(1.0)
    assert tracker.burn_rate(300.0) == pytest.approx(0.01 / 0.001, rel=0.05)
    assert tracker.burn_rate(3600.0) == pytest.approx((3 / 3300) / 0.001, rel=0.05)
    report = tracker.report()
    assert report.burn_rate_short > report.burn_rate_long


def test_tracker_windows_must_fit_the_monitor(clock: FakeClock) -> None:
    """A burn window longer than the monitor's history is a ConfigError, not a silent undercount."""
    with pytest.raises(ConfigError, match="long_window"):
        SLATracker(Monitor(clock=clock, history=600.0), long_window=3600.0)
    with pytest.raises(ConfigError, match="long_window"):
        SLATracker(Monitor(clock=clock), short_window=600.0, long_window=300.0)


# --------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------


def test_threshold_rule_with_flapping_input_fires_once_and_resolves_once() -> None:
    """A value flapping around the threshold fires once (hysteresis) and resolves once."""
    events: list[AlertEvent] = []
    rule = ThresholdRule(
        "error ratio",
        lambda s: s.rates.error_ratio,
        above=0.10,
        clear=0.05,
        clear_for=30.0,
        callback=events.append,
    )
    t = 0.0
    flapping = [0.12, 0.09, 0.11, 0.08, 0.13, 0.07, 0.11, 0.06, 0.12] * 5
    for v in flapping:
        rule.update(v, at=t)
        t += 10.0
    assert [e.state for e in events] == ["firing"]
    for v in [0.04, 0.06, 0.03, 0.02, 0.01, 0.02, 0.01]:  # one dip back above clear resets clear_for
        rule.update(v, at=t)
        t += 10.0
    assert [e.state for e in events] == ["firing", "resolved"]
    for v in [0.04, 0.09, 0.03]:  # below the firing threshold: nothing more
        rule.update(v, at=t)
        t += 10.0
    assert len(events) == 2
    assert events[0].value == 0.12
    assert events[1].value <= 0.05


def test_hysteresis_alone_stops_flapping() -> None:
    """Without any clear_for, readings between clear and threshold do not resolve the alert."""
    events: list[AlertEvent] = []
    rule = ThresholdRule("latency", lambda s: s.latency.p95, above=2.0, clear=1.0, callback=events.append)
    for t, v in enumerate([2.5, 1.9, 2.4, 1.5, 2.2, 1.8, 0.9, 1.5, 0.8]):
        rule.update(v, at=float(t))
    assert [(e.state, e.at) for e in events] == [("firing", 0.0), ("resolved", 6.0)]


def test_for_duration_ignores_short_breaches() -> None:
    """A breach shorter than for_duration never fires; a sustained one fires once."""
    rule = ThresholdRule("p95", lambda s: s.latency.p95, above=2.0, for_duration=60.0)
    fired = [rule.update(v, at=t * 20.0) for t, v in enumerate([3.0, 3.0, 1.0, 3.0, 3.0, 1.0])]
    assert fired == [None] * 6  # the good readings reset the pending wait each time
    results = [rule.update(3.0, at=t) for t in range(100, 200, 10)]
    assert [e.state for e in results if e is not None] == ["firing"]
    assert results.index(next(e for e in results if e is not None)) == 6  # at t=160: 60 s after 100


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=60), st.floats(0.0, 20.0), st.floats(0.0, 20.0)
)
def test_alert_events_alternate_firing_and_resolved(
    values: list[float], for_d: float, clear_for: float
) -> None:
    """Whatever the input, a rule's events alternate firing/resolved, starting with firing."""
    rule = ThresholdRule("x", lambda s: None, above=0.5, clear=0.3, for_duration=for_d, clear_for=clear_for)
    events = [e for t, v in enumerate(values) if (e := rule.update(v, at=t * 5.0)) is not None]
    states = [e.state for e in events]
    assert states == ["firing", "resolved"] * (len(states) // 2) + (["firing"] if len(states) % 2 else [])


def test_below_rule_and_snapshot_evaluation(clock: FakeClock) -> None:
    """A below-rule on availability fires from a snapshot and names the rule."""
    monitor = Monitor(clock=clock)
    for i in range(100):
        monitor.record_request("failed" if i < 5 else "ok", 0.1)
    rule = ThresholdRule("availability", lambda s: s.availability, below=0.99)
    event = rule.evaluate(monitor.snapshot())
    assert event is not None
    assert event.state == "firing"
    assert event.rule == "availability"
    assert rule.firing


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"above": 1.0, "below": 0.5},
        {"above": 1.0, "clear": 2.0},
        {"below": 1.0, "clear": 0.5},
        {"above": math.nan},
        {"above": 1.0, "for_duration": -1.0},
    ],
)
def test_threshold_rule_settings_are_validated(kwargs: dict[str, Any]) -> None:
    """Missing/both thresholds, a clear level on the wrong side, NaN and negative durations are refused."""
    with pytest.raises(ConfigError):
        ThresholdRule("x", lambda s: None, **kwargs)


def test_burn_rate_rule_fires_once_and_resolves_once(clock: FakeClock) -> None:
    """An error burst burns both windows: one page; after recovery the short window resolves it."""
    events: list[AlertEvent] = []
    monitor = Monitor(clock=clock, history=3600.0)
    tracker = SLATracker(monitor, short_window=300.0, long_window=3600.0)
    rule = BurnRateRule("budget burn", tracker, factor=14.4, callback=events.append)
    for phase, error_every, seconds in (("calm", 0, 1800), ("outage", 2, 900), ("recovered", 0, 1800)):
        for i in range(seconds):
            failed = error_every and i % error_every == 0
            monitor.record_request("failed" if failed else "ok", 0.1)
            clock.advance(1.0)
            if i % 10 == 0:
                rule.evaluate(monitor.snapshot())
        if phase == "outage":
            assert [e.state for e in events] == ["firing"]
    assert [e.state for e in events] == ["firing", "resolved"]
    assert "burn rate" in events[0].message


# --------------------------------------------------------------------------------------------
# Anomaly detection
# --------------------------------------------------------------------------------------------


def test_anomaly_detector_flags_a_latency_spike(rng: random.Random) -> None:
    """After a steady baseline, a 10x latency spike is flagged, and only the spike."""
    found: list[Anomaly] = []
    detector = AnomalyDetector(alpha=0.05, threshold=4.0, warmup=30, callback=found.append)
    t = 0.0
    for _ in range(300):
        detector.record(max(0.0, rng.gauss(0.2, 0.02)), failed=False, at=t)
        t += 0.5
    assert found == []
    detector.record(2.0, failed=False, at=t)
    assert [a.signal for a in found] == ["latency"]
    assert found[0].value == 2.0
    assert found[0].z > 4.0


def test_anomaly_detector_flags_an_error_rate_spike(rng: random.Random) -> None:
    """Error rate per interval: ~1 % for 50 intervals, then 50 % in one interval is flagged."""
    detector = AnomalyDetector(interval=10.0, warmup=10, threshold=4.0)
    t = 0.0
    for _ in range(50):  # 50 intervals of 20 requests
        for _ in range(200):
            detector.record(0.2, failed=rng.random() < 0.01, at=t)
            t += 0.05
    assert [a for a in detector.anomalies if a.signal == "error_rate"] == []
    for i in range(200):
        detector.record(0.2, failed=i % 2 == 0, at=t)
        t += 0.05
    spike = detector.flush(at=t)
    assert spike is not None
    assert spike.signal == "error_rate"
    assert spike.value == pytest.approx(0.5)


def test_anomaly_detector_as_a_hook(clock: FakeClock) -> None:
    """Used as a hook, the detector reads agent.request events and ignores other topics."""
    detector = AnomalyDetector(warmup=5)
    for i in range(20):
        detector(AgentRequest("ok", 0.1, 1, None, None, at=float(i)))
    detector(SomethingNew(at=21.0))
    detector(AgentRequest("ok", 5.0, 1, None, None, at=22.0))
    assert [a.signal for a in detector.anomalies] == ["latency"]
    mean, std = detector.baseline("latency")
    assert mean > 0.1
    assert std > 0


@pytest.mark.parametrize(
    "kwargs",
    [{"alpha": 0}, {"alpha": 1}, {"threshold": -1}, {"warmup": 0}, {"interval": 0}, {"max_kept": 0}],
)
def test_anomaly_detector_settings_are_validated(kwargs: dict[str, float]) -> None:
    """Invalid detector settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError) as info:
        AnomalyDetector(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == next(iter(kwargs))
