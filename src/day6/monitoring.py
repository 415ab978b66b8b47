"""Seeing the agent: metrics, health checks, SLA tracking, alerts and exports.

Every pattern in day6 describes what it did as a small frozen event (see the topic table in
:mod:`day6._events`). A :class:`Monitor` is just a hook that folds those events into counters,
so the code that protects a call never has to know who is watching::

    monitor = Monitor(clock=clock)
    breaker = CircuitBreaker(clock=clock, hooks=[monitor])
    policy = RetryPolicy(clock=clock, hooks=[monitor])
    ...
    print(monitor.snapshot().to_text())

What the monitor keeps, and why each structure is bounded (a monitor that grows with traffic is
a memory leak with a dashboard):

* **Counters** by outcome, error kind, model, breaker, limiter and fault: one dict entry per
  *label value*, never per call.
* **Latency percentiles** from :class:`LatencySketch`, a DDSketch-style log-bucketed histogram
  (Masson, Rim and Lee, VLDB 2019). Bucket ``i`` holds values in ``(γ^(i-1), γ^i]`` with
  ``γ = (1 + α) / (1 - α)``; reporting the bucket's midpoint ``2γ^i / (γ + 1)`` is within a
  *relative* error ``α`` of the true quantile. With ``α = 1 %`` and a range of 1 µs to 10⁵ s this
  is a fixed array of about 1,270 counters, whether one call was recorded or a billion.
* **Rates** (requests/s, errors/s) from a ring of per-second buckets: constant memory, and old
  buckets are recycled lazily when their slot comes round again, so there is no cleanup timer.

On top of the monitor sit :class:`HealthRegistry` (named checks rolled up into one status),
:class:`SLATracker` (availability, p95, error budget and SRE burn rates against
:class:`SLATargets`), alert rules that fire once and resolve once (:class:`ThresholdRule`,
:class:`BurnRateRule`), the lesson's "predictive alerting" as an EWMA z-score
(:class:`AnomalyDetector`), and exports (:func:`to_prometheus`, :func:`to_json`).

The monitor only reads its injected clock; under a :class:`~day6.clock.FakeClock` or a simpy
:class:`~day6.clock.SimClock` every rate, time-in-state and burn rate is exactly reproducible.
Attach the monitor to patterns that share its clock: event timestamps (``at``) are compared with
the monitor's own readings.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import math
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final

from day6._validate import finite, int_at_least, is_real, non_negative, positive
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "AlertEvent",
    "AlertState",
    "Anomaly",
    "AnomalyDetector",
    "BreakerStats",
    "BurnRateRule",
    "HealthCheck",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "LatencySketch",
    "LatencySummary",
    "LimiterStats",
    "Monitor",
    "MonitorSnapshot",
    "PrometheusCollector",
    "RateStats",
    "RequestStats",
    "RetryStats",
    "SLAReport",
    "SLAResult",
    "SLATargets",
    "SLATracker",
    "ThresholdRule",
    "WindowCounts",
    "breaker_check",
    "error_rate_check",
    "to_json",
    "to_prometheus",
]

OUTCOMES: Final = ("ok", "fallback", "failed")
"""Request outcomes, as the agent reports them: a model answered / a degraded reply / nothing."""

_OUTAGE_STATES: Final = frozenset({"open", "forced_open"})
_INF: Final = math.inf
_SERVING_STATES: Final = frozenset({"closed", "disabled"})
_BREAKER_STATES: Final = ("closed", "open", "half_open", "forced_open", "disabled")


# --------------------------------------------------------------------------------------------
# Validation helpers (settings are checked once, at construction)
# --------------------------------------------------------------------------------------------


def _fraction(setting: str, value: float, *, low_open: bool = True, high_open: bool = True) -> float:
    ok = is_real(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(setting, value, f"a number in {lo}0, 1{hi}")
    return float(value)


def _str_key(value: object) -> str:
    """Label value for a state or kind: a StrEnum's value, a plain string, or ``unknown``."""
    if value is None:
        return "unknown"
    return str(value)


_SECRET_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{8,}|(Bearer\s+)\S+", re.IGNORECASE)


def _scrub(text: str, limit: int = 200) -> str:
    """Shorten a free-text reason and mask anything that looks like an API key or bearer token."""
    text = _SECRET_PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Latency percentiles: a bounded, mergeable log-bucketed histogram
# --------------------------------------------------------------------------------------------


class LatencySketch:
    """Quantiles of a stream in constant memory, with a guaranteed *relative* accuracy.

    Why not keep every latency and sort? A million calls would cost megabytes and a sort per
    dashboard refresh. Why not a reservoir sample? Its error on p99 is unbounded for a small
    reservoir. This is the DDSketch idea: buckets whose boundaries grow geometrically by
    ``γ = (1 + α) / (1 - α)``. A value ``x`` goes to bucket ``i = ceil(log_γ x)``, i.e.
    ``γ^(i-1) < x <= γ^i``, and a bucket reports ``2γ^i / (γ + 1)``, which is within ``α·x`` of
    every value it holds.

    Guarantee: for ``q`` in [0, 1], :meth:`quantile` returns a value within relative error
    ``relative_accuracy`` of the exact order statistic ``sorted(xs)[floor(q * (n - 1))]``, for
    values in ``[min_value, max_value]``. Values below ``min_value`` (including 0, common under a
    fake clock) share one bucket and are reported with an absolute error below ``min_value``;
    values above ``max_value`` are clamped into the top bucket. Estimates are also clamped to
    the exact observed min and max, which can only reduce the error.

    Memory: ``ceil(log_γ(max_value / min_value)) + 1`` integers, about 1,270 for the defaults.
    """

    __slots__ = (
        "_counts",
        "_gamma",
        "_inv_log_gamma",
        "_offset",
        "_zero",
        "count",
        "max",
        "max_value",
        "min",
        "min_value",
        "relative_accuracy",
        "sum",
    )

    def __init__(
        self, *, relative_accuracy: float = 0.01, min_value: float = 1e-6, max_value: float = 1e5
    ) -> None:
        self.relative_accuracy = _fraction("relative_accuracy", relative_accuracy)
        self.min_value = positive("min_value", min_value)
        self.max_value = positive("max_value", max_value)
        if self.max_value <= self.min_value:
            raise ConfigError("max_value", max_value, f"a number > min_value ({min_value})")
        a = self.relative_accuracy
        self._gamma = (1 + a) / (1 - a)
        self._inv_log_gamma = 1.0 / math.log(self._gamma)
        self._offset = math.ceil(math.log(self.min_value) * self._inv_log_gamma)
        top = math.ceil(math.log(self.max_value) * self._inv_log_gamma)
        self._counts = [0] * (top - self._offset + 1)
        self._zero = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def bucket_count(self) -> int:
        """How many counters the sketch holds: fixed at construction, independent of traffic."""
        return len(self._counts) + 1

    def add(self, value: float) -> None:
        """Record one value (seconds). Cost: one ``log``, one ``ceil``, a few additions."""
        if value >= self.min_value:
            i = math.ceil(math.log(value) * self._inv_log_gamma) - self._offset
            counts = self._counts
            if i >= len(counts):
                i = len(counts) - 1
            elif i < 0:  # rounding right at min_value
                i = 0
            counts[i] += 1
        else:
            self._zero += 1
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (``0 <= q <= 1``), or ``None`` before the first value."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> tuple[float | None, ...]:
        """Several quantiles in one pass over the buckets (what a snapshot needs)."""
        wanted = tuple(qs)
        for q in wanted:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be in [0, 1], got {q!r}")
        if self.count == 0:
            return tuple(None for _ in wanted)
        ranks = sorted((math.floor(q * (self.count - 1)), k) for k, q in enumerate(wanted))
        out: list[float | None] = [None] * len(wanted)
        pending = iter(ranks)
        rank, slot = next(pending)
        cumulative = self._zero
        done = False
        while rank < cumulative:  # answered by the below-min bucket
            out[slot] = self.min
            nxt = next(pending, None)
            if nxt is None:
                done = True
                break
            rank, slot = nxt
        if not done:
            for i, c in enumerate(self._counts):
                if c == 0:
                    continue
                cumulative += c
                while rank < cumulative:
                    estimate = 2.0 * self._gamma ** (i + self._offset) / (self._gamma + 1.0)
                    out[slot] = min(max(estimate, self.min), self.max)
                    nxt = next(pending, None)
                    if nxt is None:
                        done = True
                        break
                    rank, slot = nxt
                if done:
                    break
        return tuple(out)

    def reset(self) -> None:
        """Forget every value (the bucket array is reused, not reallocated)."""
        counts = self._counts
        for i in range(len(counts)):
            counts[i] = 0
        self._zero = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def __repr__(self) -> str:
        return f"LatencySketch(count={self.count}, relative_accuracy={self.relative_accuracy})"


# --------------------------------------------------------------------------------------------
# Snapshot records
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Convert snapshot records to JSON-ready builtins (dicts, lists, numbers, strings)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _frozen_map(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted(d.items())))


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency percentiles (seconds) and how accurate they are (relative error bound)."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    relative_accuracy: float


@dataclass(frozen=True, slots=True)
class RequestStats:
    """End-to-end requests (``agent.request`` events and :meth:`Monitor.record_request`).

    ``answers`` counts requests whose reply came from an upstream attempt: outcome ``ok``, or
    ``fallback`` with at least one attempt (a fallback *model* answered). Every other attempt is
    waste: ``wasted_attempts = attempts - answers`` and ``waste_ratio = wasted_attempts /
    answers``, the lesson's "request waste due to retries" (target below 5 %). A canned fallback
    reply served without calling anything (0 attempts) is not an answer and wastes nothing. With
    no answers at all the ratio is ``inf`` if anything was wasted, else 0.
    """

    total: int
    by_outcome: Mapping[str, int]
    errors_by_kind: Mapping[str, int]
    by_model: Mapping[str, int]
    attempts: int
    retries: int
    answers: int
    wasted_attempts: int
    waste_ratio: float
    fallbacks: int


@dataclass(frozen=True, slots=True)
class RateStats:
    """Rates over the rolling window (per second); ``error_ratio`` is failed / all requests."""

    window: float
    requests_per_s: float
    errors_per_s: float
    fallbacks_per_s: float
    error_ratio: float


@dataclass(frozen=True, slots=True)
class RetryStats:
    """What retry policies reported (``retry.*`` events): attempts, planned retries, endings."""

    attempts: int
    scheduled: int
    succeeded: int
    gave_up: int
    total_delay: float
    by_kind: Mapping[str, int]

    @property
    def waste_ratio(self) -> float:
        """Attempts that did not succeed per success, as seen by the retry layer."""
        return _ratio(self.attempts - self.succeeded, self.succeeded)


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """One circuit breaker: its state, the time spent in each state and how it recovered.

    ``time_in_state`` includes the current state up to the snapshot. Time before the breaker's
    first event is attributed to its first ``old`` state from the monitor's start. An *outage*
    starts when the breaker opens and ends when it closes again; ``max_recovery`` is the longest
    such outage (``current_outage`` is the one still running, if any): the number the SLA's
    "recovery under 30 s" is checked against.
    """

    name: str
    state: str
    since: float
    transitions: int
    time_in_state: Mapping[str, float]
    calls_by_outcome: Mapping[str, int]
    rejections: int
    recoveries: int
    last_recovery: float | None
    max_recovery: float | None
    current_outage: float | None


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """One limiter: its decisions, last reported headroom and (adaptive) current rate."""

    name: str
    allowed: int
    rejected: int
    headroom: float | None
    rate: float | None
    rate_changes: int


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    """Everything the monitor knows, frozen at one instant (``at``, on the monitor's clock).

    A ``stats`` command prints :meth:`to_text`; plots and exports read the fields;
    :meth:`as_dict` gives JSON-ready builtins. Mappings are read-only copies.
    """

    at: float
    uptime: float
    requests: RequestStats
    latency: LatencySummary
    rates: RateStats
    retries: RetryStats
    breakers: Mapping[str, BreakerStats]
    limiters: Mapping[str, LimiterStats]
    faults: Mapping[str, int]
    events: Mapping[str, int]

    @property
    def availability(self) -> float | None:
        """Share of requests that got a reply (``ok`` or ``fallback``), or None with no traffic."""
        total = self.requests.total
        if total == 0:
            return None
        return 1.0 - self.requests.by_outcome.get("failed", 0) / total

    @property
    def waste_ratio(self) -> float:
        """Request-level waste when requests were recorded, else the retry layer's own view."""
        if self.requests.total:
            return self.requests.waste_ratio
        return self.retries.waste_ratio

    @property
    def max_recovery(self) -> float | None:
        """The longest breaker outage so far (including one still running), or None."""
        worst: float | None = None
        for b in self.breakers.values():
            for v in (b.max_recovery, b.current_outage):
                if v is not None and (worst is None or v > worst):
                    worst = v
        return worst

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists/numbers (derived properties included), ready for JSON."""
        d: dict[str, Any] = _plain(self)
        d["availability"] = self.availability
        d["waste_ratio"] = self.waste_ratio
        d["max_recovery"] = self.max_recovery
        d["retries"]["waste_ratio"] = self.retries.waste_ratio
        return d

    def to_text(self) -> str:
        """A compact human-readable report (what ``stats`` prints)."""
        r, lat, rt = self.requests, self.latency, self.rates

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.1f} ms"

        avail = "-" if self.availability is None else f"{self.availability:.4%}"
        outcomes = ", ".join(f"{k} {v}" for k, v in r.by_outcome.items()) or "none"
        lines = [
            f"requests   {r.total} ({outcomes}); availability {avail}",
            f"attempts   {r.attempts} ({r.retries} retries); waste ratio {_fmt_ratio(self.waste_ratio)}",
            f"latency    p50 {ms(lat.p50)}  p95 {ms(lat.p95)}  p99 {ms(lat.p99)}"
            f"  (±{lat.relative_accuracy:.0%}, n={lat.count})",
            f"rates      {rt.requests_per_s:.2f} req/s, {rt.errors_per_s:.2f} err/s over {rt.window:g} s",
        ]
        if r.errors_by_kind:
            lines.append("errors     " + ", ".join(f"{k} {v}" for k, v in r.errors_by_kind.items()))
        for b in self.breakers.values():
            tis = ", ".join(f"{k} {v:.1f} s" for k, v in b.time_in_state.items())
            lines.append(f"breaker    {b.name}: {b.state} ({b.transitions} transitions; {tis})")
        for lim in self.limiters.values():
            head = "-" if lim.headroom is None else f"{lim.headroom:g}"
            lines.append(
                f"limiter    {lim.name}: {lim.allowed} allowed, {lim.rejected} rejected, headroom {head}"
            )
        if self.faults:
            lines.append("faults     " + ", ".join(f"{k} {v}" for k, v in self.faults.items()))
        return "\n".join(lines)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator:
        return numerator / denominator
    return math.inf if numerator else 0.0


def _fmt_ratio(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2%}"


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Request counts over the last ``window`` seconds (ending at the time asked about)."""

    window: float
    requests: int
    errors: int
    fallbacks: int

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


# --------------------------------------------------------------------------------------------
# The monitor
# --------------------------------------------------------------------------------------------


class _Ring:
    """Per-tick counters over a fixed horizon, recycled lazily (no timer, constant memory).

    Slot ``tick % size`` holds the counts of tick ``epochs[slot]``; a slot whose epoch is stale
    is zeroed when it is next written and ignored when read.
    """

    __slots__ = ("epochs", "errors", "fallbacks", "requests", "resolution", "size")

    def __init__(self, resolution: float, horizon: float) -> None:
        self.resolution = resolution
        self.size = max(1, math.ceil(horizon / resolution))
        self.epochs = [-1] * self.size
        self.requests = [0] * self.size
        self.errors = [0] * self.size
        self.fallbacks = [0] * self.size

    def add(self, at: float, error: int, fallback: int) -> None:
        tick = int(at // self.resolution)
        slot = tick % self.size
        if self.epochs[slot] != tick:
            self.epochs[slot] = tick
            self.requests[slot] = 0
            self.errors[slot] = 0
            self.fallbacks[slot] = 0
        self.requests[slot] += 1
        self.errors[slot] += error
        self.fallbacks[slot] += fallback

    def counts(self, now: float, window: float) -> tuple[int, int, int]:
        tick = int(now // self.resolution)
        n = min(self.size, max(1, math.ceil(window / self.resolution)))
        req = err = fb = 0
        for t in range(tick - n + 1, tick + 1):
            slot = t % self.size
            if self.epochs[slot] == t:
                req += self.requests[slot]
                err += self.errors[slot]
                fb += self.fallbacks[slot]
        return req, err, fb

    def clear(self) -> None:
        for i in range(self.size):
            self.epochs[i] = -1


class _Breaker:
    __slots__ = (
        "calls",
        "last_recovery",
        "max_recovery",
        "outage_started",
        "recoveries",
        "rejections",
        "since",
        "state",
        "time_in_state",
        "transitions",
    )

    def __init__(self, state: str, since: float) -> None:
        self.state = state
        self.since = since
        self.transitions = 0
        self.time_in_state: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.rejections = 0
        self.outage_started: float | None = since if state in _OUTAGE_STATES else None
        self.recoveries = 0
        self.last_recovery: float | None = None
        self.max_recovery: float | None = None


class _Limiter:
    __slots__ = ("allowed", "headroom", "rate", "rate_changes", "rejected")

    def __init__(self) -> None:
        self.allowed = 0
        self.rejected = 0
        self.headroom: float | None = None
        self.rate: float | None = None
        self.rate_changes = 0


class Monitor:
    """A hook that turns pattern events into metrics. Attach it anywhere ``hooks=`` is accepted.

    ``monitor(event)`` (or :meth:`observe`) dispatches on the event's ``topic``; unknown topics
    are counted in ``events`` and otherwise ignored, so new patterns never break old monitors.
    :meth:`record_request` records an end-to-end request directly (what ``agent.request``
    events carry), for code that has no agent.

    Settings (keyword-only):

    * ``rate_window`` -- seconds the request/error rates are averaged over (default 60).
    * ``history`` -- seconds of per-``resolution`` counters kept for windowed questions
      (:meth:`counts_over`, SLA burn rates); must be >= ``rate_window``. Default one hour.
    * ``resolution`` -- width of one rate bucket in seconds (default 1).
    * ``latency_accuracy`` -- relative error bound of the latency percentiles (default 1 %).

    Thread-safe: one lock guards the counters for the few dozen nanoseconds an update takes;
    no hook, callback or I/O ever runs under it.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_window: float = 60.0,
        history: float = 3600.0,
        resolution: float = 1.0,
        latency_accuracy: float = 0.01,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rate_window = positive("rate_window", rate_window)
        self.history = positive("history", history)
        self.resolution = positive("resolution", resolution)
        if self.history < self.rate_window:
            raise ConfigError("history", history, f"a number >= rate_window ({rate_window})")
        if self.resolution > self.rate_window:
            raise ConfigError("resolution", resolution, f"a number <= rate_window ({rate_window})")
        if self.history / self.resolution > 1_000_000:
            raise ConfigError("history", history, "at most 1e6 resolution buckets (raise resolution)")
        self.latency_accuracy = _fraction("latency_accuracy", latency_accuracy)
        self._lock = threading.Lock()
        self._latency = LatencySketch(relative_accuracy=self.latency_accuracy)
        self._ring = _Ring(self.resolution, self.history)
        self._handlers: dict[str, Callable[[Any], None]] = {
            "agent.request": self._on_request,
            "retry.attempt": self._on_retry_attempt,
            "retry.scheduled": self._on_retry_scheduled,
            "retry.succeeded": self._on_retry_succeeded,
            "retry.gave_up": self._on_retry_gave_up,
            "breaker.state": self._on_breaker_state,
            "breaker.call": self._on_breaker_call,
            "breaker.rejected": self._on_breaker_rejected,
            "limiter.decision": self._on_limiter_decision,
            "limiter.rate": self._on_limiter_rate,
            "fault.injected": self._on_fault,
        }
        self._clear(self.clock.now())

    def _clear(self, now: float) -> None:
        self._started = now
        self._by_outcome: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._errors_by_kind: dict[str, int] = {}
        self._by_model: dict[str, int] = {}
        self._attempts = 0
        self._answers = 0
        self._latency.reset()
        self._ring.clear()
        self._retry_attempts = 0
        self._retry_scheduled = 0
        self._retry_succeeded = 0
        self._retry_gave_up = 0
        self._retry_delay = 0.0
        self._retry_kinds: dict[str, int] = {}
        self._breakers: dict[str, _Breaker] = {}
        self._limiters: dict[str, _Limiter] = {}
        self._faults: dict[str, int] = {}
        self._events: dict[str, int] = {}

    def reset(self) -> None:
        """Forget everything; uptime and time-in-state restart now. Structures are reused."""
        now = self.clock.now()
        with self._lock:
            self._clear(now)

    # -- recording -------------------------------------------------------------------------

    def record_request(
        self,
        outcome: str,
        latency: float,
        *,
        attempts: int = 1,
        kind: object = None,
        model: str | None = None,
        at: float | None = None,
    ) -> None:
        """Record one end-to-end request: ``outcome`` is ``ok``, ``fallback`` or ``failed``.

        ``latency`` is the seconds the caller waited, ``attempts`` how many upstream calls were
        made (0 when a breaker or quota refused before calling), ``kind`` the error kind of the
        last failure (an :class:`~day6.errors.ErrorKind` or string) if any. ``at`` places the
        request in the rate window (default: the monitor's clock now; events pass their own).
        """
        if not 0.0 <= latency < _INF:
            raise ValueError(f"latency must be a finite number >= 0, got {latency!r}")
        if at is None:
            at = self.clock.now()
        with self._lock:
            by_outcome = self._by_outcome
            if outcome not in by_outcome:
                raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}")
            by_outcome[outcome] += 1
            self._attempts += attempts
            if attempts and outcome != "failed":
                self._answers += 1
            self._latency.add(latency)
            self._ring.add(at, outcome == "failed", outcome == "fallback")
            if kind is not None:
                k = str(kind)
                self._errors_by_kind[k] = self._errors_by_kind.get(k, 0) + 1
            if model is not None:
                self._by_model[model] = self._by_model.get(model, 0) + 1

    def observe(self, event: Any) -> None:
        """Fold one event into the metrics (dispatch on ``event.topic``)."""
        topic = getattr(event, "topic", None)
        if not isinstance(topic, str):
            return
        handler = self._handlers.get(topic)
        if handler is None:
            with self._lock:
                self._events[topic] = self._events.get(topic, 0) + 1
            return
        handler(event)

    __call__ = observe

    def _count(self, topic: str) -> None:  # caller holds the lock
        self._events[topic] = self._events.get(topic, 0) + 1

    def _on_request(self, e: Any) -> None:
        with self._lock:
            self._count("agent.request")
        self.record_request(
            str(e.outcome),
            float(e.latency),
            attempts=int(e.attempts),
            kind=e.kind,
            model=e.model,
            at=float(e.at),
        )

    def _on_retry_attempt(self, e: Any) -> None:
        with self._lock:
            self._count("retry.attempt")
            self._retry_attempts += 1

    def _on_retry_scheduled(self, e: Any) -> None:
        kind = _str_key(e.kind)
        with self._lock:
            self._count("retry.scheduled")
            self._retry_scheduled += 1
            self._retry_delay += float(e.delay)
            self._retry_kinds[kind] = self._retry_kinds.get(kind, 0) + 1

    def _on_retry_succeeded(self, e: Any) -> None:
        with self._lock:
            self._count("retry.succeeded")
            self._retry_succeeded += 1

    def _on_retry_gave_up(self, e: Any) -> None:
        kind = _str_key(e.kind)
        with self._lock:
            self._count("retry.gave_up")
            self._retry_gave_up += 1
            self._retry_kinds[kind] = self._retry_kinds.get(kind, 0) + 1

    def _breaker(self, name: str, initial: str) -> _Breaker:  # caller holds the lock
        b = self._breakers.get(name)
        if b is None:
            b = self._breakers[name] = _Breaker(initial, self._started)
        return b

    def _on_breaker_state(self, e: Any) -> None:
        old, new, at = _str_key(e.old), _str_key(e.new), float(e.at)
        with self._lock:
            self._count("breaker.state")
            b = self._breaker(str(e.name), old)
            b.time_in_state[b.state] = b.time_in_state.get(b.state, 0.0) + max(0.0, at - b.since)
            b.state, b.since = new, at
            b.transitions += 1
            if new in _OUTAGE_STATES and b.outage_started is None:
                b.outage_started = at
            elif new in _SERVING_STATES and b.outage_started is not None:
                took = max(0.0, at - b.outage_started)
                b.outage_started = None
                b.recoveries += 1
                b.last_recovery = took
                b.max_recovery = took if b.max_recovery is None else max(b.max_recovery, took)

    def _on_breaker_call(self, e: Any) -> None:
        outcome = _str_key(e.outcome)
        with self._lock:
            self._count("breaker.call")
            b = self._breaker(str(e.name), "closed")
            b.calls[outcome] = b.calls.get(outcome, 0) + 1

    def _on_breaker_rejected(self, e: Any) -> None:
        with self._lock:
            self._count("breaker.rejected")
            self._breaker(str(e.name), "open").rejections += 1

    def _limiter(self, name: str) -> _Limiter:  # caller holds the lock
        lim = self._limiters.get(name)
        if lim is None:
            lim = self._limiters[name] = _Limiter()
        return lim

    def _on_limiter_decision(self, e: Any) -> None:
        headroom = e.headroom
        with self._lock:
            self._count("limiter.decision")
            lim = self._limiter(str(e.name))
            if e.allowed:
                lim.allowed += 1
            else:
                lim.rejected += 1
            lim.headroom = None if headroom is None else float(headroom)

    def _on_limiter_rate(self, e: Any) -> None:
        with self._lock:
            self._count("limiter.rate")
            lim = self._limiter(str(e.name))
            lim.rate = float(e.new_rate)
            lim.rate_changes += 1

    def _on_fault(self, e: Any) -> None:
        fault = _str_key(e.fault)
        with self._lock:
            self._count("fault.injected")
            self._faults[fault] = self._faults.get(fault, 0) + 1

    # -- reading ---------------------------------------------------------------------------

    def counts_over(self, window: float, *, now: float | None = None) -> WindowCounts:
        """Requests, errors and fallbacks in the ``window`` seconds ending at ``now``.

        Resolution is one bucket: a window covers the ``ceil(window / resolution)`` buckets up
        to and including the current one. ``window`` may not exceed the monitor's ``history``.
        """
        positive("window", window)
        if window > self.history + 1e-9:
            raise ConfigError("window", window, f"a number <= the monitor's history ({self.history:g} s)")
        t = self.clock.now() if now is None else now
        with self._lock:
            req, err, fb = self._ring.counts(t, window)
        return WindowCounts(window=window, requests=req, errors=err, fallbacks=fb)

    def snapshot(self) -> MonitorSnapshot:
        """Freeze the current metrics into a :class:`MonitorSnapshot` (copies; safe to keep)."""
        now = self.clock.now()
        with self._lock:
            lat = self._latency
            p50, p95, p99 = lat.quantiles((0.50, 0.95, 0.99))
            by_outcome = dict(self._by_outcome)
            total = sum(by_outcome.values())
            answers = self._answers
            wasted = max(0, self._attempts - answers)
            requests = RequestStats(
                total=total,
                by_outcome=MappingProxyType(by_outcome),
                errors_by_kind=_frozen_map(self._errors_by_kind),
                by_model=_frozen_map(self._by_model),
                attempts=self._attempts,
                retries=max(0, self._attempts - total),
                answers=answers,
                wasted_attempts=wasted,
                waste_ratio=_ratio(wasted, answers),
                fallbacks=by_outcome["fallback"],
            )
            latency = LatencySummary(
                count=lat.count,
                mean=lat.sum / lat.count if lat.count else None,
                min=lat.min if lat.count else None,
                max=lat.max if lat.count else None,
                p50=p50,
                p95=p95,
                p99=p99,
                relative_accuracy=lat.relative_accuracy,
            )
            # While the monitor is younger than the window, divide by its age (at least one
            # bucket) so the first minute is not under-reported.
            span = min(self.rate_window, max(now - self._started, self.resolution))
            req, err, fb = self._ring.counts(now, self.rate_window)
            rates = RateStats(
                window=self.rate_window,
                requests_per_s=req / span,
                errors_per_s=err / span,
                fallbacks_per_s=fb / span,
                error_ratio=err / req if req else 0.0,
            )
            retries = RetryStats(
                attempts=self._retry_attempts,
                scheduled=self._retry_scheduled,
                succeeded=self._retry_succeeded,
                gave_up=self._retry_gave_up,
                total_delay=self._retry_delay,
                by_kind=_frozen_map(self._retry_kinds),
            )
            breakers = {name: self._breaker_stats(name, b, now) for name, b in sorted(self._breakers.items())}
            limiters = {
                name: LimiterStats(
                    name=name,
                    allowed=lim.allowed,
                    rejected=lim.rejected,
                    headroom=lim.headroom,
                    rate=lim.rate,
                    rate_changes=lim.rate_changes,
                )
                for name, lim in sorted(self._limiters.items())
            }
            return MonitorSnapshot(
                at=now,
                uptime=max(0.0, now - self._started),
                requests=requests,
                latency=latency,
                rates=rates,
                retries=retries,
                breakers=MappingProxyType(breakers),
                limiters=MappingProxyType(limiters),
                faults=_frozen_map(self._faults),
                events=_frozen_map(self._events),
            )

    @staticmethod
    def _breaker_stats(name: str, b: _Breaker, now: float) -> BreakerStats:
        tis = dict(b.time_in_state)
        tis[b.state] = tis.get(b.state, 0.0) + max(0.0, now - b.since)
        return BreakerStats(
            name=name,
            state=b.state,
            since=b.since,
            transitions=b.transitions,
            time_in_state=_frozen_map(tis),
            calls_by_outcome=_frozen_map(b.calls),
            rejections=b.rejections,
            recoveries=b.recoveries,
            last_recovery=b.last_recovery,
            max_recovery=b.max_recovery,
            current_outage=None if b.outage_started is None else max(0.0, now - b.outage_started),
        )

    @property
    def latency_sketch(self) -> LatencySketch:
        """The live sketch (read-only use: its size is the monitor's latency memory)."""
        return self._latency

    @property
    def ring_size(self) -> int:
        """Number of rate buckets kept: fixed by ``history / resolution``."""
        return self._ring.size

    def __repr__(self) -> str:
        return f"Monitor(rate_window={self.rate_window:g}, history={self.history:g}, clock={self.clock!r})"


# --------------------------------------------------------------------------------------------
# Health checks
# --------------------------------------------------------------------------------------------


class HealthStatus(enum.StrEnum):
    """How well a component works. Ordered: HEALTHY < DEGRADED < UNHEALTHY (worst wins)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"  # working, with reduced quality (fallbacks, a non-critical part down)
    UNHEALTHY = "unhealthy"  # not working

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY: Final = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}

CheckResult = HealthStatus | bool | tuple[HealthStatus, str] | None
"""What a check may return: a status, a ``(status, reason)`` pair, or a bool (True = healthy).

A ping that returns ``None`` (it simply did not raise) is healthy.
"""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """The result of one named check: status, a short reason, how long it took (clock seconds)."""

    name: str
    status: HealthStatus
    reason: str
    duration: float
    critical: bool = True


@dataclass(frozen=True, slots=True)
class HealthReport:
    """All checks rolled up. ``status`` is the overall verdict (see :class:`HealthRegistry`)."""

    status: HealthStatus
    reason: str
    checks: tuple[HealthCheck, ...]
    at: float

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = _plain(self)
        return d


@dataclass(frozen=True, slots=True)
class _Registered:
    fn: Callable[..., Any]
    critical: bool
    timeout: float
    ping: bool


def _interpret(result: object) -> tuple[HealthStatus, str]:
    if result is None or result is True:
        return HealthStatus.HEALTHY, "ok"
    if result is False:
        return HealthStatus.UNHEALTHY, "check returned False"
    if isinstance(result, HealthStatus):
        return result, result.value
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and isinstance(result[0], HealthStatus)
        and isinstance(result[1], str)
    ):
        return result[0], _scrub(result[1])
    return HealthStatus.UNHEALTHY, f"check returned an unexpected {type(result).__name__}"


class HealthRegistry:
    """Named health checks, run on demand and rolled up into one status.

    Two kinds of check:

    * :meth:`register` -- ``fn()`` returns a :data:`CheckResult` (e.g. "is the breaker closed?").
    * :meth:`register_ping` -- ``fn(timeout)`` pings a dependency; it *receives* its timeout
      and must honour it (every HTTP client takes one). Returning without raising is healthy.

    A check that raises is UNHEALTHY with the exception type and message as its reason (API keys
    and bearer tokens masked). A check that takes longer than its ``timeout`` on the clock is
    UNHEALTHY ("took 3.2 s, timeout 2 s") even if it then said healthy: a health endpoint that
    answers late is itself an outage. A synchronous check cannot be pre-empted safely in Python
    (killing a thread is not possible), which is why the ping is handed its timeout;
    :meth:`arun` does cancel async checks that overrun.

    Roll-up rule: **critical checks: worst wins; a non-critical check can at most degrade.** An
    UNHEALTHY cache (non-critical) makes the whole DEGRADED, an UNHEALTHY model backend
    (critical) makes it UNHEALTHY. No checks at all is HEALTHY ("nothing to check").
    """

    def __init__(self, *, clock: Clock | None = None, default_timeout: float = 2.0) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.default_timeout = positive("default_timeout", default_timeout)
        self._checks: dict[str, _Registered] = {}

    def register(
        self,
        name: str,
        check: Callable[[], CheckResult | Awaitable[CheckResult]],
        *,
        critical: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Add (or replace) the check ``name``; ``check()`` returns a status, pair or bool."""
        self._add(name, check, critical=critical, timeout=timeout, ping=False)

    def register_ping(
        self,
        name: str,
        ping: Callable[[float], object],
        *,
        critical: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Add a dependency ping: ``ping(timeout)`` must return (healthy) or raise within it."""
        self._add(name, ping, critical=critical, timeout=timeout, ping=True)

    def _add(
        self, name: str, fn: Callable[..., Any], *, critical: bool, timeout: float | None, ping: bool
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        if not callable(fn):
            raise ConfigError(f"check {name!r}", fn, "a callable")
        t = self.default_timeout if timeout is None else positive("timeout", timeout)
        self._checks[name] = _Registered(fn=fn, critical=bool(critical), timeout=t, ping=ping)

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def run(self) -> HealthReport:
        """Run every check in registration order (synchronously) and roll them up."""
        results = []
        for name, reg in self._checks.items():
            start = self.clock.now()
            try:
                out = reg.fn(reg.timeout) if reg.ping else reg.fn()
                if inspect.isawaitable(out):
                    _close_awaitable(out)
                    status, reason = HealthStatus.UNHEALTHY, "async check: use HealthRegistry.arun()"
                else:
                    status, reason = _interpret(out)
            except Exception as exc:
                status, reason = HealthStatus.UNHEALTHY, _describe_exception(exc)
            results.append(self._finish(name, reg, status, reason, start))
        return self._roll_up(results)

    async def arun(self) -> HealthReport:
        """Run every check concurrently; sync checks run inline, async ones are cancelled on overrun.

        The overrun timer sleeps on the injected clock, so under a FakeClock a check that hangs is
        cut off without any real waiting.
        """
        names = list(self._checks)
        results = await asyncio.gather(*(self._arun_one(n, self._checks[n]) for n in names))
        return self._roll_up(list(results))

    async def _arun_one(self, name: str, reg: _Registered) -> HealthCheck:
        start = self.clock.now()
        try:
            out = reg.fn(reg.timeout) if reg.ping else reg.fn()
            if inspect.isawaitable(out):
                task = asyncio.ensure_future(self._timed(out))
                timer = asyncio.ensure_future(self.clock.asleep(reg.timeout))
                try:
                    await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    timer.cancel()
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    reason = f"no answer within the {reg.timeout:g} s timeout"
                    return HealthCheck(name, HealthStatus.UNHEALTHY, reason, reg.timeout, reg.critical)
                out, took = task.result()
                # Timed inside the task: other checks' timers sharing a fake clock must not count.
                status, reason = _interpret(out)
                return self._finish(name, reg, status, reason, start, took=took)
            status, reason = _interpret(out)
        except Exception as exc:
            status, reason = HealthStatus.UNHEALTHY, _describe_exception(exc)
        return self._finish(name, reg, status, reason, start)

    async def _timed(self, awaitable: Awaitable[object]) -> tuple[object, float]:
        start = self.clock.now()
        out = await awaitable
        return out, max(0.0, self.clock.now() - start)

    def _finish(
        self,
        name: str,
        reg: _Registered,
        status: HealthStatus,
        reason: str,
        start: float,
        *,
        took: float | None = None,
    ) -> HealthCheck:
        if took is None:
            took = max(0.0, self.clock.now() - start)
        if took > reg.timeout:
            status = HealthStatus.UNHEALTHY
            reason = f"took {took:.3g} s, timeout {reg.timeout:g} s ({reason})"
        return HealthCheck(name=name, status=status, reason=reason, duration=took, critical=reg.critical)

    def _roll_up(self, checks: list[HealthCheck]) -> HealthReport:
        now = self.clock.now()
        if not checks:
            return HealthReport(HealthStatus.HEALTHY, "no checks registered", (), now)
        overall = HealthStatus.HEALTHY
        for c in checks:
            effective = c.status
            if not c.critical and effective is HealthStatus.UNHEALTHY:
                effective = HealthStatus.DEGRADED
            if effective.severity > overall.severity:
                overall = effective
        bad = [f"{c.name}: {c.reason}" for c in checks if c.status is not HealthStatus.HEALTHY]
        reason = "; ".join(bad) if bad else "all checks healthy"
        return HealthReport(status=overall, reason=reason, checks=tuple(checks), at=now)


def _close_awaitable(obj: object) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()


def _describe_exception(exc: BaseException) -> str:
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return _scrub(text)


def error_rate_check(
    monitor: Monitor, *, degraded_at: float = 0.05, unhealthy_at: float = 0.5
) -> Callable[[], tuple[HealthStatus, str]]:
    """A health check on the monitor's rolling error ratio (failed / requests over its window)."""
    degraded = _fraction("degraded_at", degraded_at, high_open=False)
    unhealthy = _fraction("unhealthy_at", unhealthy_at, high_open=False)
    if unhealthy < degraded:
        raise ConfigError("unhealthy_at", unhealthy_at, f"a number >= degraded_at ({degraded_at})")

    def check() -> tuple[HealthStatus, str]:
        c = monitor.counts_over(monitor.rate_window)
        ratio = c.error_ratio
        text = f"error ratio {ratio:.1%} over the last {monitor.rate_window:g} s ({c.requests} requests)"
        if ratio >= unhealthy:
            return HealthStatus.UNHEALTHY, text
        if ratio >= degraded:
            return HealthStatus.DEGRADED, text
        return HealthStatus.HEALTHY, text

    return check


def breaker_check(monitor: Monitor) -> Callable[[], tuple[HealthStatus, str]]:
    """A health check on the breakers the monitor has seen: open is UNHEALTHY, half-open DEGRADED."""

    def check() -> tuple[HealthStatus, str]:
        snap = monitor.snapshot()
        worst, notes = HealthStatus.HEALTHY, []
        for b in snap.breakers.values():
            status = {
                "open": HealthStatus.UNHEALTHY,
                "forced_open": HealthStatus.UNHEALTHY,
                "half_open": HealthStatus.DEGRADED,
            }.get(b.state, HealthStatus.HEALTHY)
            if status is not HealthStatus.HEALTHY:
                notes.append(f"{b.name} is {b.state}")
            if status.severity > worst.severity:
                worst = status
        return worst, ("; ".join(notes) if notes else "all breakers closed")

    return check


# --------------------------------------------------------------------------------------------
# SLA tracking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SLATargets:
    """The lesson's production targets.

    * ``availability`` -- share of requests that get a reply (0.999: "99.9 % uptime").
    * ``p95_latency`` -- seconds (2.0: "latency p95 under 2 s").
    * ``recovery_time`` -- seconds from a breaker opening to closing again (30: "recovery < 30 s").
    * ``retry_waste`` -- wasted attempts per answer (0.05: "< 5 % request waste due to retries").
    """

    availability: float = 0.999
    p95_latency: float = 2.0
    recovery_time: float = 30.0
    retry_waste: float = 0.05

    def __post_init__(self) -> None:
        _fraction("availability", self.availability)
        positive("p95_latency", self.p95_latency)
        positive("recovery_time", self.recovery_time)
        non_negative("retry_waste", self.retry_waste)

    @property
    def error_budget(self) -> float:
        """The allowed failure share, ``1 - availability`` (0.1 % for three nines)."""
        return 1.0 - self.availability


@dataclass(frozen=True, slots=True)
class SLAResult:
    """One target checked: ``actual`` is None when there is no data yet (counts as passed)."""

    name: str
    target: float
    actual: float | None
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class SLAReport:
    """Every target with pass/fail, the error budget and both burn rates."""

    at: float
    results: tuple[SLAResult, ...]
    error_budget_remaining: float
    burn_rate_short: float
    burn_rate_long: float
    short_window: float
    long_window: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = _plain(self)
        d["passed"] = self.passed
        return d

    def to_text(self) -> str:
        lines = []
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"{mark}  {r.name:<13} {r.detail}")
        lines.append(
            f"error budget remaining {self.error_budget_remaining:.1%}; burn rate "
            f"{self.burn_rate_short:.2f}x ({self.short_window:g} s), "
            f"{self.burn_rate_long:.2f}x ({self.long_window:g} s)"
        )
        return "\n".join(lines)


class SLATracker:
    """Checks a :class:`Monitor` against :class:`SLATargets`, SRE-style.

    * **Availability** counts a request as available when the user got a reply: ``ok`` or a
      ``fallback`` (degraded, not down; the fallback rate is reported so it cannot hide). Only
      ``failed`` spends the budget.
    * **Availability** and **error budget** are over everything since the monitor's last reset:
      the budget is ``(1 - availability_target) * requests`` failures, and
      ``error_budget_remaining = 1 - failures / budget`` (negative once overspent).
    * **Burn rate** over a window is ``error_ratio(window) / (1 - availability_target)``: 1.0
      spends the budget exactly over the SLO period, 14.4 spends a 30-day budget's 2 % in an
      hour. Two windows (default 5 min and 1 h, Google's SRE workbook, ch. 5) let an alert
      require both: the long one proves the problem is significant, the short one that it is
      still happening (so the alert resolves quickly after recovery).
    * **p95** comes from the monitor's sketch (since reset), **recovery** from the longest
      breaker outage, **waste** from the monitor's waste ratio.
    """

    def __init__(
        self,
        monitor: Monitor,
        targets: SLATargets | None = None,
        *,
        short_window: float = 300.0,
        long_window: float = 3600.0,
    ) -> None:
        self.monitor = monitor
        self.targets = targets if targets is not None else SLATargets()
        self.short_window = positive("short_window", short_window)
        self.long_window = positive("long_window", long_window)
        if self.long_window < self.short_window:
            raise ConfigError("long_window", long_window, f"a number >= short_window ({short_window:g})")
        if self.long_window > monitor.history:
            raise ConfigError(
                "long_window", long_window, f"a number <= the monitor's history ({monitor.history:g} s)"
            )

    def availability(self, snapshot: MonitorSnapshot | None = None) -> float | None:
        snap = snapshot if snapshot is not None else self.monitor.snapshot()
        return snap.availability

    def p95(self, snapshot: MonitorSnapshot | None = None) -> float | None:
        snap = snapshot if snapshot is not None else self.monitor.snapshot()
        return snap.latency.p95

    def error_budget_remaining(self, snapshot: MonitorSnapshot | None = None) -> float:
        """1.0 = untouched, 0.0 = spent, negative = overspent."""
        snap = snapshot if snapshot is not None else self.monitor.snapshot()
        total = snap.requests.total
        if total == 0:
            return 1.0
        budget = self.targets.error_budget * total
        return 1.0 - snap.requests.by_outcome.get("failed", 0) / budget

    def burn_rate(self, window: float, *, now: float | None = None) -> float:
        """How fast the error budget burns over the last ``window`` seconds (1.0 = on pace)."""
        counts = self.monitor.counts_over(window, now=now)
        return counts.error_ratio / self.targets.error_budget

    def report(self) -> SLAReport:
        snap = self.monitor.snapshot()
        t = self.targets
        results = []

        avail = snap.availability
        results.append(
            SLAResult(
                "availability",
                t.availability,
                avail,
                avail is None or avail >= t.availability,
                "no requests yet"
                if avail is None
                else f"{avail:.4%} (target >= {t.availability:.4%}, {snap.requests.total} requests)",
            )
        )
        p95 = snap.latency.p95
        results.append(
            SLAResult(
                "p95_latency",
                t.p95_latency,
                p95,
                p95 is None or p95 <= t.p95_latency,
                "no requests yet" if p95 is None else f"{p95:.3f} s (target <= {t.p95_latency:g} s)",
            )
        )
        rec = snap.max_recovery
        results.append(
            SLAResult(
                "recovery_time",
                t.recovery_time,
                rec,
                rec is None or rec <= t.recovery_time,
                "no outage yet"
                if rec is None
                else f"longest outage {rec:.1f} s (target <= {t.recovery_time:g} s)",
            )
        )
        waste = snap.waste_ratio if (snap.requests.total or snap.retries.attempts) else None
        results.append(
            SLAResult(
                "retry_waste",
                t.retry_waste,
                waste,
                waste is None or waste <= t.retry_waste,
                "no attempts yet"
                if waste is None
                else f"{_fmt_ratio(waste)} (target <= {t.retry_waste:.0%})",
            )
        )
        return SLAReport(
            at=snap.at,
            results=tuple(results),
            error_budget_remaining=self.error_budget_remaining(snap),
            burn_rate_short=self.burn_rate(self.short_window, now=snap.at),
            burn_rate_long=self.burn_rate(self.long_window, now=snap.at),
            short_window=self.short_window,
            long_window=self.long_window,
        )


# --------------------------------------------------------------------------------------------
# Alerts: fire once, resolve once
# --------------------------------------------------------------------------------------------


class AlertState(enum.StrEnum):
    """An alert rule's state: OK -> PENDING (breach, waiting ``for_duration``) -> FIRING -> OK."""

    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert changed: ``state`` is ``firing`` or ``resolved``. Delivered to the callback."""

    topic: ClassVar[str] = "alert.state"
    rule: str
    state: str
    value: float
    threshold: float
    at: float
    message: str


AlertCallback = Callable[[AlertEvent], None]


class _AlertRule:
    """The shared state machine; subclasses decide what "breach" and "clear" mean.

    Two defences against flapping, both optional and combinable:

    * **for-duration** (Prometheus' ``for:``): a breach must hold ``for_duration`` seconds before
      the alert fires; a single good reading while pending resets the wait.
    * **hysteresis**: the value must come back past a *clear* threshold (lower than the firing
      one for an "above" rule), and stay there ``clear_for`` seconds, before it resolves.
    """

    def __init__(
        self, name: str, *, for_duration: float, clear_for: float, callback: AlertCallback | None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        self.name = name
        self.for_duration = non_negative("for_duration", for_duration)
        self.clear_for = non_negative("clear_for", clear_for)
        self.callback = callback
        self.state = AlertState.OK
        self._pending_since: float | None = None
        self._clear_since: float | None = None
        self.history: deque[AlertEvent] = deque(maxlen=100)

    def _step(
        self, at: float, value: float, breach: bool, clear: bool, threshold: float, what: str
    ) -> AlertEvent | None:
        event: AlertEvent | None = None
        if self.state is AlertState.OK and breach:
            self.state, self._pending_since = AlertState.PENDING, at
        if self.state is AlertState.PENDING:
            if not breach:
                self.state, self._pending_since = AlertState.OK, None
            elif self._pending_since is not None and at - self._pending_since >= self.for_duration:
                self.state, self._clear_since = AlertState.FIRING, None
                event = AlertEvent(self.name, "firing", value, threshold, at, f"{self.name}: {what}")
        elif self.state is AlertState.FIRING:
            if not clear:
                self._clear_since = None
            else:
                if self._clear_since is None:
                    self._clear_since = at
                if at - self._clear_since >= self.clear_for:
                    self.state, self._clear_since, self._pending_since = AlertState.OK, None, None
                    event = AlertEvent(self.name, "resolved", value, threshold, at, f"{self.name}: {what}")
        if event is not None:
            self.history.append(event)
            if self.callback is not None:
                self.callback(event)
        return event

    @property
    def firing(self) -> bool:
        return self.state is AlertState.FIRING


class ThresholdRule(_AlertRule):
    """Alert when a metric goes above (or below) a threshold; resolve when it comes back.

    ``metric`` reads a number from a :class:`MonitorSnapshot` (e.g.
    ``lambda s: s.rates.error_ratio``); ``None`` means "no data" and leaves the state as is.
    Give exactly one of ``above`` / ``below``. ``clear`` is the hysteresis threshold (default:
    the firing threshold itself): for ``above=0.10, clear=0.05`` the alert fires above 10 % and
    resolves only at or below 5 %.
    """

    def __init__(
        self,
        name: str,
        metric: Callable[[MonitorSnapshot], float | None],
        *,
        above: float | None = None,
        below: float | None = None,
        clear: float | None = None,
        for_duration: float = 0.0,
        clear_for: float = 0.0,
        callback: AlertCallback | None = None,
    ) -> None:
        super().__init__(name, for_duration=for_duration, clear_for=clear_for, callback=callback)
        if (above is None) == (below is None):
            raise ConfigError("above/below", (above, below), "exactly one of above= or below=")
        self.metric = metric
        self.above = above is not None
        threshold = above if above is not None else below
        assert threshold is not None
        self.threshold = finite("above" if self.above else "below", threshold)
        self.clear = self.threshold if clear is None else finite("clear", clear)
        if self.above and self.clear > self.threshold:
            raise ConfigError("clear", clear, f"a number <= above ({self.threshold:g}) for hysteresis")
        if not self.above and self.clear < self.threshold:
            raise ConfigError("clear", clear, f"a number >= below ({self.threshold:g}) for hysteresis")

    def evaluate(self, snapshot: MonitorSnapshot) -> AlertEvent | None:
        """Check the rule against a snapshot; returns the event when the alert fires or resolves."""
        return self.update(self.metric(snapshot), at=snapshot.at)

    def update(self, value: float | None, *, at: float) -> AlertEvent | None:
        """Feed one reading directly (what :meth:`evaluate` does with the metric's value)."""
        if value is None or math.isnan(value):
            return None
        if self.above:
            breach, clear = value > self.threshold, value <= self.clear
            what = f"{value:g} > {self.threshold:g}" if breach else f"{value:g} back to <= {self.clear:g}"
        else:
            breach, clear = value < self.threshold, value >= self.clear
            what = f"{value:g} < {self.threshold:g}" if breach else f"{value:g} back to >= {self.clear:g}"
        return self._step(at, value, breach, clear, self.threshold, what)


class BurnRateRule(_AlertRule):
    """The SRE multiwindow burn-rate alert: fire when *both* windows burn faster than ``factor``.

    The default ``factor=14.4`` over 1 h and 5 min pages when 2 % of a 30-day budget burns in an
    hour (Google SRE workbook, "Alerting on SLOs"). It resolves when either window's burn drops
    to ``clear_factor`` (default ``factor``) or below -- in practice the short window, which is
    why it is there. Windows default to the tracker's.
    """

    def __init__(
        self,
        name: str,
        tracker: SLATracker,
        *,
        factor: float = 14.4,
        clear_factor: float | None = None,
        short_window: float | None = None,
        long_window: float | None = None,
        for_duration: float = 0.0,
        clear_for: float = 0.0,
        callback: AlertCallback | None = None,
    ) -> None:
        super().__init__(name, for_duration=for_duration, clear_for=clear_for, callback=callback)
        self.tracker = tracker
        self.factor = positive("factor", factor)
        self.clear_factor = self.factor if clear_factor is None else positive("clear_factor", clear_factor)
        if self.clear_factor > self.factor:
            raise ConfigError("clear_factor", clear_factor, f"a number <= factor ({self.factor:g})")
        self.short_window = (
            tracker.short_window if short_window is None else positive("short_window", short_window)
        )
        self.long_window = (
            tracker.long_window if long_window is None else positive("long_window", long_window)
        )
        if self.long_window > tracker.monitor.history:
            raise ConfigError(
                "long_window", long_window, f"<= the monitor's history ({tracker.monitor.history:g} s)"
            )

    def evaluate(self, snapshot: MonitorSnapshot | None = None) -> AlertEvent | None:
        """Check both windows at ``snapshot.at`` (or the monitor's clock now)."""
        at = snapshot.at if snapshot is not None else self.tracker.monitor.clock.now()
        short = self.tracker.burn_rate(self.short_window, now=at)
        long = self.tracker.burn_rate(self.long_window, now=at)
        breach = short >= self.factor and long >= self.factor
        clear = short <= self.clear_factor or long <= self.clear_factor
        what = f"burn rate {short:.1f}x over {self.short_window:g} s, {long:.1f}x over {self.long_window:g} s"
        return self._step(at, min(short, long), breach, clear, self.factor, what)


# --------------------------------------------------------------------------------------------
# Predictive alerting: EWMA z-scores
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A reading far above its recent normal: ``z`` standard deviations over the EWMA mean."""

    topic: ClassVar[str] = "monitor.anomaly"
    signal: str  # "latency" or "error_rate"
    value: float
    mean: float
    std: float
    z: float
    at: float


class _Ewma:
    """Exponentially weighted mean and variance (Finch, "Incremental calculation of weighted
    mean and variance", 2009): ``d = x - μ; μ += α·d; σ² = (1 - α)(σ² + α·d²)``."""

    __slots__ = ("alpha", "mean", "n", "var")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def update(self, x: float) -> None:
        if self.n == 0:
            self.mean = x
        else:
            d = x - self.mean
            self.mean += self.alpha * d
            self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d)
        self.n += 1


class AnomalyDetector:
    """Flags latency and error-rate spikes against their own recent history.

    Each signal keeps an EWMA mean and variance (weight ``alpha`` per reading: ~``1/alpha``
    readings of memory). A reading is anomalous when ``z = (x - mean) / std > threshold``, with
    ``z`` computed *before* the reading updates the baseline. One-sided on purpose: latency
    dropping is not an incident. ``std`` has a floor (``min_std_*``) so a perfectly flat series
    does not turn a 1 ms wobble into an infinite z-score; the first ``warmup`` readings only
    learn. A sustained shift is flagged at first and then becomes the new normal: that is what
    distinguishes this from a fixed threshold (use :class:`ThresholdRule` for hard limits).

    Latency is one reading per request. The error rate is one reading per ``interval`` seconds
    (failed / requests in that interval), closed when a later request arrives or on
    :meth:`flush`; intervals without traffic are skipped. Use it as a hook (``agent.request``
    events) or call :meth:`record`.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        threshold: float = 3.0,
        warmup: int = 20,
        interval: float = 10.0,
        min_std_latency: float = 0.005,
        min_std_error_rate: float = 0.01,
        callback: Callable[[Anomaly], None] | None = None,
        max_kept: int = 100,
    ) -> None:
        self.alpha = _fraction("alpha", alpha)
        self.threshold = positive("threshold", threshold)
        self.warmup = int_at_least("warmup", warmup, 1)
        max_kept = int_at_least("max_kept", max_kept, 1)
        self.interval = positive("interval", interval)
        self.min_std_latency = positive("min_std_latency", min_std_latency)
        self.min_std_error_rate = positive("min_std_error_rate", min_std_error_rate)
        self.callback = callback
        self.anomalies: deque[Anomaly] = deque(maxlen=max_kept)
        self._latency = _Ewma(self.alpha)
        self._error_rate = _Ewma(self.alpha)
        self._bucket: int | None = None
        self._bucket_total = 0
        self._bucket_failed = 0
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        if getattr(event, "topic", None) == "agent.request":
            self.record(float(event.latency), failed=event.outcome == "failed", at=float(event.at))

    def record(self, latency: float, *, failed: bool, at: float) -> list[Anomaly]:
        """One request: updates the latency signal and the current error-rate interval."""
        found: list[Anomaly] = []
        with self._lock:
            a = self._check(self._latency, "latency", latency, at, self.min_std_latency)
            if a is not None:
                found.append(a)
            bucket = int(at // self.interval)
            if self._bucket is not None and bucket != self._bucket:
                a = self._close_interval(at)
                if a is not None:
                    found.append(a)
            self._bucket = bucket
            self._bucket_total += 1
            self._bucket_failed += int(failed)
        self._deliver(found)
        return found

    def flush(self, at: float) -> Anomaly | None:
        """Close the current error-rate interval now (e.g. at the end of a run)."""
        with self._lock:
            a = self._close_interval(at) if self._bucket_total else None
            self._bucket = None
        self._deliver([a] if a is not None else [])
        return a

    def _close_interval(self, at: float) -> Anomaly | None:
        rate = self._bucket_failed / self._bucket_total if self._bucket_total else None
        self._bucket_total = self._bucket_failed = 0
        if rate is None:
            return None
        return self._check(self._error_rate, "error_rate", rate, at, self.min_std_error_rate)

    def _check(self, ewma: _Ewma, signal: str, x: float, at: float, floor: float) -> Anomaly | None:
        found = None
        if ewma.n >= self.warmup:
            std = max(math.sqrt(ewma.var), floor)
            z = (x - ewma.mean) / std
            if z > self.threshold:
                found = Anomaly(signal=signal, value=x, mean=ewma.mean, std=std, z=z, at=at)
                self.anomalies.append(found)
        ewma.update(x)
        return found

    def _deliver(self, found: list[Anomaly]) -> None:
        if self.callback is not None:
            for a in found:
                self.callback(a)

    def baseline(self, signal: str) -> tuple[float, float]:
        """The current ``(mean, std)`` of ``latency`` or ``error_rate`` (for plots)."""
        ewma = {"latency": self._latency, "error_rate": self._error_rate}.get(signal)
        if ewma is None:
            raise ValueError(f"signal must be 'latency' or 'error_rate', got {signal!r}")
        return ewma.mean, math.sqrt(ewma.var)


# --------------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no inf/NaN; an infinite waste ratio means "no answers at all"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def to_json(monitor: Monitor | MonitorSnapshot, *, indent: int | None = 2) -> str:
    """The snapshot as strict JSON (non-finite numbers become ``null``), keys sorted."""
    snap = monitor.snapshot() if isinstance(monitor, Monitor) else monitor
    return json.dumps(_json_safe(snap.as_dict()), indent=indent, sort_keys=True, allow_nan=False)


class PrometheusCollector:
    """A prometheus_client custom collector reading a :class:`Monitor` at scrape time.

    Register it on any ``CollectorRegistry`` (``registry.register(PrometheusCollector(m))``) to
    serve ``/metrics``; :func:`to_prometheus` does this on a private registry. prometheus_client
    is imported only when metrics are collected (it is an optional extra: ``day6[prometheus]``).

    Naming follows Prometheus conventions: a ``day6_`` prefix, base units (seconds), ``_total``
    on counters, and labels for dimensions (``outcome``, ``kind``, ``breaker``, ``state``...).
    """

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        s = self.monitor.snapshot()
        r = s.requests

        requests = CounterMetricFamily("day6_requests", "End-to-end requests by outcome.", labels=["outcome"])
        for outcome, n in r.by_outcome.items():
            requests.add_metric([outcome], n)
        yield requests

        errors = CounterMetricFamily("day6_request_errors", "Failed requests by error kind.", labels=["kind"])
        for kind, n in r.errors_by_kind.items():
            errors.add_metric([kind], n)
        yield errors

        yield CounterMetricFamily(
            "day6_request_attempts", "Upstream attempts made for requests.", value=r.attempts
        )
        yield CounterMetricFamily(
            "day6_request_retries", "Attempts beyond the first per request.", value=r.retries
        )
        yield GaugeMetricFamily(
            "day6_retry_waste_ratio", "Wasted attempts per answered request.", value=s.waste_ratio
        )

        lat = s.latency
        summary = SummaryMetricFamily(
            "day6_request_latency_seconds",
            f"Request latency (quantiles within {lat.relative_accuracy:.0%} relative error).",
        )
        for q, v in (("0.5", lat.p50), ("0.95", lat.p95), ("0.99", lat.p99)):
            if v is not None:
                summary.add_sample("day6_request_latency_seconds", {"quantile": q}, v)
        summary.add_metric([], lat.count, lat.mean * lat.count if lat.mean is not None else 0.0)
        yield summary

        rt = s.retries
        yield CounterMetricFamily(
            "day6_retry_attempts", "Attempts started by retry policies.", value=rt.attempts
        )
        scheduled = CounterMetricFamily(
            "day6_retry_scheduled", "Retries scheduled, by error kind.", labels=["kind"]
        )
        yield CounterMetricFamily("day6_retry_gave_up", "Retry loops that gave up.", value=rt.gave_up)
        yield CounterMetricFamily("day6_retry_succeeded", "Retry loops that succeeded.", value=rt.succeeded)
        yield CounterMetricFamily(
            "day6_retry_delay_seconds", "Total backoff delay scheduled.", value=rt.total_delay
        )
        for kind, n in rt.by_kind.items():
            scheduled.add_metric([kind], n)
        yield scheduled

        state = GaugeMetricFamily(
            "day6_breaker_state",
            "1 for the breaker's current state, 0 otherwise.",
            labels=["breaker", "state"],
        )
        in_state = CounterMetricFamily(
            "day6_breaker_state_seconds", "Time spent in each breaker state.", labels=["breaker", "state"]
        )
        transitions = CounterMetricFamily(
            "day6_breaker_transitions", "Breaker state changes.", labels=["breaker"]
        )
        calls = CounterMetricFamily(
            "day6_breaker_calls", "Calls through a breaker.", labels=["breaker", "outcome"]
        )
        rejected = CounterMetricFamily(
            "day6_breaker_rejections", "Calls a breaker refused.", labels=["breaker"]
        )
        for name, b in s.breakers.items():
            for st in sorted({*_BREAKER_STATES, b.state}):
                state.add_metric([name, st], 1.0 if st == b.state else 0.0)
            for st, secs in b.time_in_state.items():
                in_state.add_metric([name, st], secs)
            transitions.add_metric([name], b.transitions)
            for outcome, n in b.calls_by_outcome.items():
                calls.add_metric([name, outcome], n)
            rejected.add_metric([name], b.rejections)
        yield from (state, in_state, transitions, calls, rejected)

        decisions = CounterMetricFamily(
            "day6_limiter_decisions", "Limiter decisions.", labels=["limiter", "decision"]
        )
        headroom = GaugeMetricFamily("day6_limiter_headroom", "Last reported headroom.", labels=["limiter"])
        rate = GaugeMetricFamily(
            "day6_limiter_rate", "Current adaptive rate (per second).", labels=["limiter"]
        )
        for name, lim in s.limiters.items():
            decisions.add_metric([name, "allowed"], lim.allowed)
            decisions.add_metric([name, "rejected"], lim.rejected)
            if lim.headroom is not None:
                headroom.add_metric([name], lim.headroom)
            if lim.rate is not None:
                rate.add_metric([name], lim.rate)
        yield from (decisions, headroom, rate)

        faults = CounterMetricFamily("day6_faults_injected", "Faults injected, by fault.", labels=["fault"])
        for fault, n in s.faults.items():
            faults.add_metric([fault], n)
        yield faults


def to_prometheus(monitor: Monitor) -> str:
    """The monitor in the Prometheus text exposition format (needs ``prometheus_client``)."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise ImportError("to_prometheus needs prometheus_client: pip install 'day6[prometheus]'") from exc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusCollector(monitor))
    return generate_latest(registry).decode("utf-8")
