"""Lab 3's experiments: what each rate limiter admits, refuses and makes callers wait for.

Every runner builds a fresh world from a seed, runs day6's own limiters from
:mod:`day6.rate_limit` in it, and returns frozen records that :mod:`day6.viz` plots. The limiters
only *read* their clock, so the same classes that guard ``day6 chat`` run here in simulated time:

* :func:`bucket_run` - a :class:`~day6.rate_limit.TokenBucket` under steady, bursty or spiky
  traffic (simpy): its token level over time, and which requests it admitted.
* :func:`window_edge` - a fixed window, the sliding window (log and counter modes) and a token
  bucket, all "10 per minute", against a client that pushes as hard as it can across a minute
  boundary; :func:`most_in_window` counts the worst window each one allowed.
* :func:`adaptive_timeline` - :func:`day6.sim_rate.adaptive_capacity` (an
  :class:`~day6.rate_limit.AdaptiveRateLimiter` probing a server of hidden capacity), cut into
  time bins: goodput and 429s per second next to the limiter's rate (the AIMD sawtooth).
* :func:`priority_run` - a saturated :class:`~day6.rate_limit.PriorityRateLimiter` serving three
  classes of callers, with and without aging: how long each class waits.
* :func:`quota_day` - a :class:`~day6.rate_limit.QuotaManager` with a daily token budget over one
  simulated day of traffic: usage, the straight-line exhaustion forecast, and the refusals.

**Waiting in virtual time.** A blocking limiter (a priority line, a FIFO bucket) is only
interesting while callers wait in it, and its waiting room is real ``asyncio`` code
(``aacquire``). :func:`priority_run` therefore runs those coroutines on an event loop whose clock
is *virtual*: whenever no task is ready, the loop jumps straight to its next timer instead of
sleeping, exactly as simpy jumps to its next event. A minute of saturated traffic takes
milliseconds, and the order in which tasks run is fixed, so runs repeat exactly.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import selectors
import statistics
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import simpy

from day6._validate import int_at_least, is_real, non_negative, positive
from day6.clock import Clock, FakeClock, SimClock
from day6.errors import ConfigError, QuotaExceededError
from day6.rate_limit.priority import Priority, PriorityRateLimiter
from day6.rate_limit.quota import QuotaManager
from day6.rate_limit.sliding_window import SlidingWindowLimiter
from day6.rate_limit.token_bucket import TokenBucket
from day6.sim_rate import AdaptiveRun, adaptive_capacity

__all__ = [
    "HOURLY_PROFILE",
    "TRAFFIC_PATTERNS",
    "AdaptiveTimeline",
    "BucketRun",
    "ClassWaits",
    "EdgeRun",
    "PriorityRun",
    "QuotaDay",
    "QuotaSample",
    "WaitRecord",
    "WindowEdgeResult",
    "adaptive_timeline",
    "bucket_run",
    "hhmm",
    "most_in_window",
    "priority_run",
    "quota_day",
    "window_edge",
]

_T = TypeVar("_T")

TRAFFIC_PATTERNS: Final[tuple[str, ...]] = ("steady", "bursty", "spike")
"""The arrival patterns :func:`bucket_run` knows (see :func:`bucket_run` for their shapes)."""


# --------------------------------------------------------------------------------------------------
# Validation and measurement helpers
# --------------------------------------------------------------------------------------------------


def most_in_window(times: Sequence[float], window: float) -> int:
    """The most ``times`` that fall in any half-open interval ``[s, s + window)``.

    The busiest interval can always be slid right until it starts at one of the times, so it is
    enough to count, for each time ``t``, the times in ``[t, t + window)``: one pass with two
    pointers over the sorted times, ``O(n log n)``.
    """
    positive("window", window, allowed="a number of seconds > 0")
    ordered = sorted(times)
    best = right = 0
    for left, start in enumerate(ordered):
        right = max(right, left)
        while right < len(ordered) and ordered[right] < start + window:
            right += 1
        best = max(best, right - left)
    return best


def _poisson(rng: random.Random, rate: float, start: float, end: float) -> list[float]:
    """Arrival times of a Poisson process of ``rate`` per second on ``[start, end)``."""
    times: list[float] = []
    t = start
    while rate > 0:
        t += rng.expovariate(rate)
        if t >= end:
            break
        times.append(t)
    return times


# --------------------------------------------------------------------------------------------------
# 1. The token bucket under bursty traffic
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketRun:
    """One :func:`bucket_run`: the traffic, the bucket's decisions and its level over time.

    ``level_times[i]`` / ``levels[i]``: the tokens in the bucket from that moment on (sampled
    every ``sample_every`` seconds and after every decision, so the refill shows as a staircase).
    """

    pattern: str
    capacity: float
    rate: float
    load: float
    duration: float
    arrivals: tuple[float, ...]
    accepted: tuple[float, ...]
    rejected: tuple[float, ...]
    level_times: tuple[float, ...]
    levels: tuple[float, ...]

    @property
    def acceptance(self) -> float:
        """The fraction of requests the bucket admitted."""
        return len(self.accepted) / len(self.arrivals) if self.arrivals else 1.0

    def bound(self, window: float) -> float:
        """The guarantee: a bucket admits at most ``capacity + rate * window`` in any ``window`` s."""
        return self.capacity + self.rate * window

    def most_admitted(self, window: float) -> int:
        """The most requests admitted in any ``window`` seconds of this run."""
        return most_in_window(self.accepted, window)


def _traffic(pattern: str, *, load: float, duration: float, rng: random.Random) -> list[float]:
    """Arrival times for one of :data:`TRAFFIC_PATTERNS`, about ``load`` requests/s on average."""
    if pattern == "steady":
        return _poisson(rng, load, 0.0, duration)
    if pattern == "bursty":
        # every 10 s, ten seconds' worth of requests arrive within one second
        period, spread = 10.0, 1.0
        times: list[float] = []
        start = 2.0
        while start < duration:
            times.extend(start + rng.uniform(0.0, spread) for _ in range(round(load * period)))
            start += period
        return sorted(t for t in times if t < duration)
    # spike: half the load all along, and a surge of five times the load for 5 s at a third
    surge_at = duration / 3
    base = _poisson(rng, load / 2, 0.0, duration)
    surge = _poisson(rng, load * 5, surge_at, min(duration, surge_at + 5.0))
    return sorted(base + surge)


def bucket_run(
    *,
    capacity: float = 10.0,
    rate: float = 2.0,
    pattern: str = "bursty",
    load: float = 2.0,
    duration: float = 60.0,
    sample_every: float = 0.1,
    seed: int = 0,
) -> BucketRun:
    """A ``TokenBucket(capacity, rate)`` facing ``pattern`` traffic of about ``load`` requests/s.

    Patterns: ``"steady"`` (Poisson arrivals), ``"bursty"`` (every 10 s, ten seconds' worth of
    requests within one second), ``"spike"`` (half the load, plus a 5-second surge of five times
    the load a third of the way in). Each request calls ``try_acquire()`` once: a client that
    would rather be refused than wait. The bucket's own ``limiter.decision`` events record what it
    admitted and the tokens it had left; a sampler reads :attr:`TokenBucket.tokens` in between.
    """
    if pattern not in TRAFFIC_PATTERNS:
        raise ConfigError("pattern", pattern, "one of " + ", ".join(TRAFFIC_PATTERNS))
    non_negative("load", load, allowed="requests per second >= 0")
    positive("duration", duration, allowed="simulated seconds > 0")
    positive("sample_every", sample_every, allowed="seconds > 0")
    arrivals = _traffic(pattern, load=load, duration=duration, rng=random.Random(seed))
    env = simpy.Environment()
    accepted: list[float] = []
    rejected: list[float] = []
    level_times: list[float] = []
    levels: list[float] = []

    def on_event(event: Any) -> None:
        if event.topic == "limiter.decision":
            (accepted if event.allowed else rejected).append(event.at)
            level_times.append(event.at)
            levels.append(event.headroom)

    bucket = TokenBucket(capacity=capacity, rate=rate, clock=SimClock(env), hooks=[on_event])

    def requests() -> simpy.events.ProcessGenerator:
        for at in arrivals:
            yield env.timeout(at - env.now)
            bucket.try_acquire()

    def sampler() -> simpy.events.ProcessGenerator:
        while True:
            level_times.append(env.now)
            levels.append(bucket.tokens)
            yield env.timeout(sample_every)

    env.process(sampler())
    env.process(requests())
    env.run(until=duration)
    return BucketRun(
        pattern=pattern,
        capacity=bucket.capacity,
        rate=bucket.rate,
        load=float(load),
        duration=float(duration),
        arrivals=tuple(arrivals),
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        level_times=tuple(level_times),
        levels=tuple(levels),
    )


# --------------------------------------------------------------------------------------------------
# 2. Fixed window, sliding window and token bucket at the window edge
# --------------------------------------------------------------------------------------------------


class _FixedWindow:
    """The naive limiter, kept only as the baseline Lab 3 measures against: do not use it.

    It counts calls per *calendar* window (``floor(now / window)``) and resets the count when the
    next window starts, so ``limit`` calls at the end of one window and ``limit`` more at the start
    of the next are all admitted: ``2 * limit`` within moments.
    """

    def __init__(self, *, limit: int, window: float, clock: Clock) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.index = -1
        self.count = 0

    def try_acquire(self) -> bool:
        index = math.floor(self.clock.now() / self.window)
        if index != self.index:
            self.index, self.count = index, 0
        if self.count >= self.limit:
            return False
        self.count += 1
        return True


@dataclass(frozen=True, slots=True)
class EdgeRun:
    """What one limiter admitted and refused from the same stream of attempts."""

    label: str
    guarantee: str
    admitted: tuple[float, ...]
    refused: tuple[float, ...]

    def most_in(self, window: float) -> int:
        """The most admitted calls in any ``window`` seconds."""
        return most_in_window(self.admitted, window)


@dataclass(frozen=True, slots=True)
class WindowEdgeResult:
    """:func:`window_edge`'s outcome: one :class:`EdgeRun` per limiter, all "``limit`` per ``window``"."""

    limit: int
    window: float
    attempts: tuple[float, ...]
    runs: tuple[EdgeRun, ...]

    def run(self, label: str) -> EdgeRun:
        for run in self.runs:
            if run.label == label:
                return run
        raise KeyError(label)


def window_edge(
    *,
    limit: int = 10,
    window: float = 60.0,
    start: float = 50.0,
    stop: float = 110.0,
    interval: float = 0.25,
) -> WindowEdgeResult:
    """A greedy client attempts a call every ``interval`` s from ``start`` to ``stop``, four times.

    The same attempts go to four limiters, each configured as "``limit`` calls per ``window``
    seconds": the naive fixed window, :class:`~day6.rate_limit.SlidingWindowLimiter` in ``"log"``
    (exact) and ``"counter"`` (conservative) mode, and ``TokenBucket(capacity=limit,
    rate=limit / window)``. The defaults straddle the boundary at 60 s, where the fixed window
    resets its count. The clock is a :class:`~day6.clock.FakeClock` moved to each attempt.
    """
    int_at_least("limit", limit, 1, allowed="an int >= 1")
    positive("window", window, allowed="seconds > 0")
    positive("interval", interval, allowed="seconds > 0")
    non_negative("start", start, allowed="seconds >= 0")
    if not (is_real(stop) and stop > start):
        raise ConfigError("stop", stop, f"a finite time > start={start:g}")
    clock = FakeClock()
    limiters: list[tuple[str, str, Callable[[], bool]]] = [
        (
            "fixed window",
            f"<= {limit} per calendar window",
            _FixedWindow(limit=limit, window=window, clock=clock).try_acquire,
        ),
        (
            "sliding window (log)",
            f"<= {limit} in any {window:g} s",
            SlidingWindowLimiter(limit=limit, window=window, mode="log", clock=clock).try_acquire,
        ),
        (
            "sliding window (counter)",
            f"<= {limit} in any {window:g} s",
            SlidingWindowLimiter(limit=limit, window=window, mode="counter", clock=clock).try_acquire,
        ),
        (
            "token bucket",
            f"<= {limit} + {limit / window:.3g}/s * t",
            TokenBucket(capacity=limit, rate=limit / window, clock=clock).try_acquire,
        ),
    ]
    count = math.floor((stop - start) / interval) + 1
    attempts = [start + i * interval for i in range(count) if start + i * interval <= stop]
    outcomes: list[tuple[list[float], list[float]]] = [([], []) for _ in limiters]
    for at in attempts:
        clock.advance(at - clock.now())
        for (_, _, try_acquire), (admitted, refused) in zip(limiters, outcomes, strict=True):
            (admitted if try_acquire() else refused).append(at)
    return WindowEdgeResult(
        limit=limit,
        window=float(window),
        attempts=tuple(attempts),
        runs=tuple(
            EdgeRun(label, guarantee, tuple(admitted), tuple(refused))
            for (label, guarantee, _), (admitted, refused) in zip(limiters, outcomes, strict=True)
        ),
    )


# --------------------------------------------------------------------------------------------------
# 3. The adaptive limiter finding a hidden capacity
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdaptiveTimeline:
    """An :func:`~day6.sim_rate.adaptive_capacity` run, in bins of ``bin_width`` seconds.

    ``accepted[i]`` / ``rejected[i]``: requests the server accepted / answered with 429 in bin
    ``i``, that is ``[i * bin_width, (i + 1) * bin_width)``; ``capacity`` is the server's capacity
    as ``(time, value)`` steps; ``run`` is the whole run (its ``rates`` are the limiter's rate
    changes).
    """

    label: str
    bin_width: float
    capacity: tuple[tuple[float, float], ...]
    accepted: tuple[int, ...]
    rejected: tuple[int, ...]
    run: AdaptiveRun

    @property
    def rates(self) -> tuple[tuple[float, float], ...]:
        """``(time, rate)`` at every change of the limiter's rate, from ``(0, initial_rate)``."""
        return self.run.rates

    @property
    def edges(self) -> tuple[float, ...]:
        """The bin edges, from 0 to the end of the run."""
        return tuple(i * self.bin_width for i in range(len(self.accepted) + 1))

    @property
    def goodput(self) -> tuple[float, ...]:
        """Accepted requests per second, per bin."""
        return tuple(n / self.bin_width for n in self.accepted)

    @property
    def rejections(self) -> tuple[float, ...]:
        """429s per second, per bin."""
        return tuple(n / self.bin_width for n in self.rejected)

    def capacity_at(self, t: float) -> float:
        """The server's capacity at time ``t`` (requests per second)."""
        index = bisect.bisect_right([at for at, _ in self.capacity], t) - 1
        return self.capacity[max(0, index)][1]

    def settled_goodput(self, since: float) -> float:
        """Accepted requests per second from ``since`` on, as a fraction of the capacity there."""
        first = math.ceil(since / self.bin_width - 1e-9)
        bins = range(first, len(self.accepted))
        if not bins:
            return 0.0
        served = sum(self.accepted[i] for i in bins)
        offered = sum(self.capacity_at(i * self.bin_width) * self.bin_width for i in bins)
        return served / offered


def adaptive_timeline(
    *,
    capacity: float = 20.0,
    initial_rate: float = 2.0,
    duration: float = 120.0,
    bin_width: float = 5.0,
    capacity_after: tuple[float, float] | None = None,
    limiter: Mapping[str, Any] | None = None,
    seed: int = 0,
    label: str | None = None,
) -> AdaptiveTimeline:
    """Goodput and 429s over time for :func:`day6.sim_rate.adaptive_capacity` (same settings).

    :func:`~day6.sim_rate.adaptive_capacity` reports totals. Simulated time is deterministic and a
    run only ever looks back, so a run of ``T`` seconds *is* the first ``T`` seconds of a longer run
    with the same seed: running it to every bin edge and differencing the totals gives the counts
    per bin, with no second copy of the experiment. (That costs ``duration / bin_width`` runs, each
    a fraction of a real second.) ``duration`` is rounded down to whole bins.
    """
    positive("bin_width", bin_width, allowed="seconds > 0")
    positive("duration", duration, allowed="simulated seconds > 0")
    bins = math.floor(duration / bin_width + 1e-9)
    if bins < 1:
        raise ConfigError("bin_width", bin_width, f"seconds <= duration={duration:g}")
    settings: dict[str, Any] = {
        "capacity": capacity,
        "initial_rate": initial_rate,
        "capacity_after": capacity_after,
        "limiter": limiter,
        "seed": seed,
    }
    accepted: list[int] = []
    rejected: list[int] = []
    done_accepted = done_rejected = 0
    run = None
    for index in range(1, bins + 1):
        run = adaptive_capacity(duration=index * bin_width, **settings)
        accepted.append(run.accepted - done_accepted)
        rejected.append(run.rejected - done_rejected)
        done_accepted, done_rejected = run.accepted, run.rejected
    assert run is not None
    steps = [(0.0, float(capacity))]
    if capacity_after is not None:
        steps.append((float(capacity_after[0]), float(capacity_after[1])))
    return AdaptiveTimeline(
        label=label or f"starts at {initial_rate:g}/s",
        bin_width=float(bin_width),
        capacity=tuple(steps),
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        run=run,
    )


# --------------------------------------------------------------------------------------------------
# 4. Priorities under saturation (asyncio in virtual time)
# --------------------------------------------------------------------------------------------------


class _JumpSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking for ``timeout`` seconds, moves virtual time forward.

    asyncio's loop calls ``select(timeout)`` only when no callback is ready, with ``timeout`` the
    time until its next timer: advancing the clock by exactly that is "jump to the next event".
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("virtual time: every task is waiting and no timer is due (a deadlock)")
        if timeout > 0:
            self.now += timeout
        return super().select(0)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose ``time()`` is virtual (see :class:`_JumpSelector`)."""

    def __init__(self) -> None:
        self._jump = _JumpSelector()
        super().__init__(self._jump)

    def time(self) -> float:
        return self._jump.now


class _LoopClock:
    """A day6 :class:`~day6.clock.Clock` reading a virtual-time loop: waits are loop timers."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return 1_767_225_600.0 + self._loop.time()  # 2026-01-01T00:00:00Z, like FakeClock

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("virtual time drives asyncio tasks: use `await clock.asleep(...)`")

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def _run_in_virtual_time(main: Callable[[_LoopClock], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``main(clock)`` to completion on a fresh virtual-time loop, in a thread of its own.

    The thread is there because a thread may run only one event loop, and inside Jupyter the
    kernel's loop is already running in the main thread.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        loop = _VirtualTimeLoop()
        try:
            outcome["value"] = loop.run_until_complete(main(_LoopClock(loop)))
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="day6-virtual-time")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """One caller: its priority class, when it asked for a token and how long it waited."""

    priority: Priority
    arrived: float
    waited: float


@dataclass(frozen=True, slots=True)
class ClassWaits:
    """Waiting times of one priority class (seconds)."""

    priority: Priority
    count: int
    mean: float
    p95: float
    max: float


@dataclass(frozen=True, slots=True)
class PriorityRun:
    """One :func:`priority_run`: every caller's wait, and the settings that produced them."""

    label: str
    aging: float | None
    rate: float
    loads: tuple[float, float, float]
    busy: float
    waits: tuple[WaitRecord, ...]

    def by_class(self) -> tuple[ClassWaits, ...]:
        """Count, mean, 95th percentile and maximum wait for HIGH, NORMAL and LOW."""
        rows = []
        for priority in Priority:
            waited = sorted(w.waited for w in self.waits if w.priority is priority)
            if not waited:
                rows.append(ClassWaits(priority, 0, 0.0, 0.0, 0.0))
                continue
            p95 = waited[min(len(waited) - 1, math.ceil(0.95 * len(waited)) - 1)]
            rows.append(ClassWaits(priority, len(waited), statistics.fmean(waited), p95, waited[-1]))
        return tuple(rows)


def priority_run(
    *,
    aging: float | None = 10.0,
    rate: float = 4.0,
    loads: tuple[float, float, float] = (2.0, 1.6, 0.8),
    busy: float = 60.0,
    seed: int = 0,
    label: str | None = None,
) -> PriorityRun:
    """Three classes of callers share a ``PriorityRateLimiter(rate=rate, capacity=1)``.

    For ``busy`` seconds, HIGH, NORMAL and LOW callers arrive as Poisson streams of ``loads``
    requests/s each (by default 2.0 + 1.6 + 0.8 = 4.4/s against 4/s served: saturated); then
    arrivals stop and the line drains. Every caller blocks in the real
    ``aacquire(priority=...)`` until served. ``aging`` is the limiter's aging period; ``None``
    means strict priority (an aging period far longer than the run, so nobody ever moves up a
    class). Arrivals are drawn from ``seed`` before the run, one independent stream per class.
    """
    positive("rate", rate, allowed="requests per second > 0")
    positive("busy", busy, allowed="simulated seconds > 0")
    if len(loads) != len(Priority):
        raise ConfigError("loads", loads, "three rates: HIGH, NORMAL and LOW requests per second")
    for load in loads:
        non_negative("loads", load, allowed="requests per second >= 0")
    aging_period = 1e9 if aging is None else positive("aging", aging, allowed="seconds > 0, or None")
    master = random.Random(seed)
    arrivals = sorted(
        (at, priority)
        for priority, load in zip(Priority, loads, strict=True)
        for at in _poisson(random.Random(master.getrandbits(64)), load, 0.0, busy)
    )
    waits: list[WaitRecord] = []

    async def main(clock: _LoopClock) -> None:
        limiter = PriorityRateLimiter(capacity=1, rate=rate, aging=aging_period, clock=clock)
        limiter.try_acquire(priority=Priority.HIGH)  # start with an empty bucket: saturated from t=0

        async def caller(priority: Priority) -> None:
            arrived = clock.now()
            await limiter.aacquire(priority=priority)
            waits.append(WaitRecord(priority, arrived, clock.now() - arrived))

        callers = []
        for at, priority in arrivals:
            await clock.asleep(at - clock.now())
            callers.append(asyncio.create_task(caller(priority)))
        await asyncio.gather(*callers)

    _run_in_virtual_time(main)
    return PriorityRun(
        label=label or ("strict priority (no aging)" if aging is None else f"aging every {aging:g} s"),
        aging=None if aging is None else float(aging),
        rate=float(rate),
        loads=(float(loads[0]), float(loads[1]), float(loads[2])),
        busy=float(busy),
        waits=tuple(sorted(waits, key=lambda w: w.arrived)),
    )


# --------------------------------------------------------------------------------------------------
# 5. A day of quota
# --------------------------------------------------------------------------------------------------

HOURLY_PROFILE: Final[tuple[float, ...]] = (
    0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.3, 1.7, 1.9, 1.9,
    1.6, 1.8, 1.9, 1.8, 1.6, 1.3, 1.0, 0.8, 0.7, 0.6, 0.4, 0.3,
)  # fmt: skip
"""Relative traffic per hour of the (UTC) day: quiet nights, a busy working day."""


def hhmm(seconds: float) -> str:
    """Seconds since midnight as a time of day, ``"HH:MM"`` (``"24:00"`` at the end of the day)."""
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class QuotaSample:
    """The daily token budget at one moment (``at``: seconds since midnight UTC).

    ``forecast`` is :meth:`QuotaManager.predict_exhaustion` turned into a time of day (seconds
    since midnight), or ``None`` when the straight line does not reach the limit before midnight.
    """

    at: float
    used: float
    reserved: float
    forecast: float | None


@dataclass(frozen=True, slots=True)
class QuotaDay:
    """One simulated day against a daily token budget (times in seconds since midnight UTC)."""

    limit: float
    samples: tuple[QuotaSample, ...]
    served: int
    refused: tuple[float, ...]
    requests: int

    @property
    def first_refusal(self) -> float | None:
        """When the quota first refused a request (before calling), or ``None``."""
        return self.refused[0] if self.refused else None

    def forecast_at(self, at: float) -> float | None:
        """The exhaustion forecast made at the last sample at or before ``at``."""
        index = bisect.bisect_right([s.at for s in self.samples], at) - 1
        return self.samples[max(0, index)].forecast


def quota_day(
    *,
    tokens_per_day: float = 2_000_000,
    requests_per_day: float = 4_000,
    prompt_tokens: tuple[int, int] = (200, 800),
    completion_tokens: tuple[int, int] = (50, 400),
    max_tokens: int = 512,
    latency: tuple[float, float] = (0.5, 3.0),
    sample_every: float = 600.0,
    profile: Sequence[float] = HOURLY_PROFILE,
    seed: int = 0,
) -> QuotaDay:
    """One simulated day of chat traffic against ``QuotaManager({"tokens": {"day": tokens_per_day}})``.

    About ``requests_per_day`` requests arrive, Poisson within each hour, shaped by ``profile``
    (24 relative weights). Each request reserves its *estimate*, the prompt plus ``max_tokens``,
    before the call; after ``latency`` seconds it commits the *actual* use, the prompt plus the
    completion (uniform draws from the given ranges). A refused reservation is a call never made.
    Every ``sample_every`` seconds the run records the usage and the exhaustion forecast. The clock
    is a :class:`~day6.clock.SimClock` whose wall time starts at midnight UTC, so the daily period
    is the simulated day.
    """
    positive("tokens_per_day", tokens_per_day, allowed="a finite budget > 0")
    non_negative("requests_per_day", requests_per_day, allowed="requests >= 0")
    positive("sample_every", sample_every, allowed="seconds > 0")
    int_at_least("max_tokens", max_tokens, 1, allowed="an int >= 1")
    if len(profile) != 24 or not all(is_real(w) and w >= 0 for w in profile) or not sum(profile) > 0:
        raise ConfigError("profile", profile, "24 weights >= 0, not all zero")
    for setting, (low, high) in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens)):
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            raise ConfigError(setting, (low, high), "a range (low, high) of ints with 0 <= low <= high")
    fastest, slowest = latency
    if not (is_real(fastest) and is_real(slowest) and 0 <= fastest <= slowest):
        raise ConfigError("latency", latency, "a range (low, high) of finite seconds with 0 <= low <= high")
    day = 86_400.0
    rng = random.Random(seed)
    total = sum(profile)
    arrivals = [
        at
        for hour, weight in enumerate(profile)
        for at in _poisson(
            rng, requests_per_day * weight / total / 3600.0, hour * 3600.0, (hour + 1) * 3600.0
        )
    ]
    env = simpy.Environment()
    quota = QuotaManager(limits={"tokens": {"day": tokens_per_day}}, clock=SimClock(env))
    refused: list[float] = []
    samples: list[QuotaSample] = []
    served = 0

    def request() -> simpy.events.ProcessGenerator:
        nonlocal served
        prompt = rng.randint(*prompt_tokens)
        try:
            hold = quota.reserve(tokens=prompt + max_tokens)
        except QuotaExceededError:
            refused.append(env.now)
            return
        yield env.timeout(rng.uniform(*latency))
        quota.commit(hold, tokens=prompt + rng.randint(*completion_tokens))
        served += 1

    def traffic() -> simpy.events.ProcessGenerator:
        for at in arrivals:
            yield env.timeout(at - env.now)
            env.process(request())

    def sampler() -> simpy.events.ProcessGenerator:
        while True:
            (status,) = quota.status()
            ahead = status.exhausts_in
            samples.append(
                QuotaSample(env.now, status.used, status.reserved, None if ahead is None else env.now + ahead)
            )
            yield env.timeout(sample_every)

    env.process(sampler())
    env.process(traffic())
    env.run(until=day)
    return QuotaDay(
        limit=float(tokens_per_day),
        samples=tuple(samples),
        served=served,
        refused=tuple(refused),
        requests=len(arrivals),
    )
