"""The adaptive limiter: a token bucket whose rate follows what the server will take.

A fixed client-side rate is a guess. Too low wastes capacity you pay for; too high turns every
extra call into a 429. :class:`AdaptiveRateLimiter` wraps a :class:`~day6.rate_limit.TokenBucket`
and moves its rate with the evidence, always inside ``[min_rate, max_rate]``. The ideas are TCP
congestion control's, because the problem is the same: find an unknown capacity from feedback
that arrives one round trip late.

**AIMD on the success rate (the lesson's rule).** Outcomes are judged in windows of
``evaluation_window`` calls. Above ``success_high`` (90 %) the rate grows by ``increase``; below
``success_low`` (70 %) it is multiplied by ``decrease_factor``; in between it holds. Only failures
that say something about the backend count (``ErrorKind.is_backend_fault``: 5xx, timeouts,
network); a 400 or a bad key is the caller's problem and is ignored. Additive increase with
multiplicative decrease is what lets clients sharing one server converge to fair shares (Chiu and
Jain, 1989).

**Fresh evidence only.** A window judges the *current* rate, so outcomes of calls sent before the
rate last changed are not counted; pass ``sent_at`` (the clock reading when the call was sent) to
make this exact. One window per round trip, as TCP grows once per round trip: without it, a
limiter with slow responses keeps raising the rate on news that predates its last raise.

**Slow start.** Until the first cut, a good window *doubles* the rate, so a limiter started far
too low finds the capacity in a few windows rather than a few hundred.

**429: pause, and cut once per episode.** A rate limit is the clearest signal there is, so
:meth:`record_rate_limited` does not wait for a window. It pauses the bucket for the Retry-After
the server asked for, and cuts the rate to ``min(0.9 * rate, max(delivered, decrease_factor *
rate))``, where *delivered* is the successes per second over the last ``delivery_window`` seconds:
the server was saturated, so what it accepted is the best estimate of its capacity (TCP
Westwood's idea). Just above the limit that is a 10 % cut (``delivery_floor``), not a halving;
far above it the cut is as deep as ``decrease_factor`` allows. More 429s for calls sent before
the cut (or, without ``sent_at``, within ``cooldown`` seconds of it) answer the same episode: they
pause but do not cut again.

**Fast recovery.** After a cut, each good window climbs halfway back to the rate at which the
429 came (at least ``increase``); past that rate it probes additively. Most of a sawtooth's cycle
is thus spent near the capacity (BIC-TCP's binary search), which is what keeps goodput high.

**Headers.** :meth:`observe_headers` reads ``x-ratelimit-{limit,remaining,reset}-requests``
and slows down *before* the first 429 when the budget is running out.

Measured in ``benchmarks/adaptive_capacity.py`` (simulated time, :mod:`day6.sim_rate`): against a
hidden 20 req/s limit, starting 10x below or 5x above it, goodput is >= 97 % of the capacity with
about 2 % of requests refused.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping

from day6._events import EventHook, Hooks
from day6._validate import int_at_least, non_negative, positive
from day6.clock import Clock, SystemClock
from day6.errors import Classification, ConfigError, ErrorKind, classify, parse_ratelimit_headers
from day6.rate_limit._common import Headroom, LimiterRateChanged, _fraction, _name
from day6.rate_limit.token_bucket import TokenBucket

__all__ = ["AdaptiveRateLimiter"]


class AdaptiveRateLimiter:
    """A token bucket whose rate adapts: AIMD with slow start, 429 cuts and header pacing.

    Acquire exactly as from a :class:`~day6.rate_limit.TokenBucket` (``try_acquire``,
    ``acquire``, ``aacquire``, ``time_until``); after each call report how it went with
    :meth:`record_success`, :meth:`record_failure` (an exception, an ``ErrorKind`` or a
    ``Classification``; a rate limit is routed to :meth:`record_rate_limited`) and, when you have
    the response headers, :meth:`observe_headers`. Pass ``sent_at=clock.now()`` as read when the
    call was sent, if you can: it makes "evidence about the current rate" exact. Thread-safe.
    Settings (rates in calls per second):

    ``initial_rate``, ``min_rate``, ``max_rate``
        Where to start, and the floor and ceiling (``min_rate <= initial_rate <= max_rate``).
    ``increase``
        The additive step per good window after slow start (default: ``min_rate``, the
        smallest rate you would accept being the natural smallest step).
    ``decrease_factor``
        The deepest multiplicative cut, in (0, 1).
    ``evaluation_window``, ``success_high``, ``success_low``
        Judge every ``evaluation_window`` outcomes; grow above ``success_high``, cut below
        ``success_low``.
    ``capacity``
        The bucket's burst. The default, 1, paces calls evenly: a burst from the client is
        exactly what trips a server's limit.
    ``delivery_window``, ``delivery_floor``, ``cooldown``
        How a 429 cut is sized and debounced (see the module docs).

    The defaults (window 10, cooldown 1 s, delivery floor 0.9) were chosen on the simulated
    benchmark's scenarios, and checked against others (capacities of 5 and 100 req/s, a capacity
    cut mid-run, long round trips), not tuned to one run.
    """

    def __init__(
        self,
        *,
        initial_rate: float = 1.0,
        min_rate: float = 0.1,
        max_rate: float = 100.0,
        increase: float | None = None,
        decrease_factor: float = 0.5,
        evaluation_window: int = 10,
        success_high: float = 0.9,
        success_low: float = 0.7,
        capacity: float = 1.0,
        delivery_window: float = 5.0,
        delivery_floor: float = 0.9,
        cooldown: float = 1.0,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "adaptive",
    ) -> None:
        self._min = positive("min_rate", min_rate)
        self._max = positive("max_rate", max_rate)
        if self._max < self._min:
            raise ConfigError("max_rate", max_rate, f"a finite rate >= min_rate={self._min:g}")
        initial = positive("initial_rate", initial_rate)
        if not self._min <= initial <= self._max:
            raise ConfigError(
                "initial_rate", initial_rate, f"a rate in [min_rate={self._min:g}, max_rate={self._max:g}]"
            )
        self._increase = self._min if increase is None else positive("increase", increase)
        self._decrease = _fraction("decrease_factor", decrease_factor)
        self._window_size = int_at_least("evaluation_window", evaluation_window, 1)
        self._high = _fraction("success_high", success_high, low_open=False)
        self._low = _fraction("success_low", success_low, low_open=False)
        if self._low > self._high:
            raise ConfigError("success_low", success_low, f"a fraction <= success_high={self._high:g}")
        self._delivery_window = positive("delivery_window", delivery_window, allowed="finite seconds > 0")
        self._delivery_floor = _fraction("delivery_floor", delivery_floor)
        self._cooldown = non_negative("cooldown", cooldown, allowed="finite seconds >= 0")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.bucket = TokenBucket(
            capacity=capacity, rate=initial, clock=self._clock, hooks=hooks, name=_name(name)
        )
        self._lock = threading.Lock()
        self._successes = 0
        self._outcomes = 0
        self._slow_start = True
        self._cut_at = -math.inf
        self._changed_at = -math.inf
        self._ceiling = math.inf  # the rate at the last 429: fast recovery climbs back toward it
        self._delivered: deque[float] = deque()  # success timestamps within delivery_window

    # --- the bucket's interface -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.bucket.name

    @property
    def hooks(self) -> Hooks:
        return self.bucket.hooks

    @property
    def rate(self) -> float:
        """The current rate in calls per second, always in ``[min_rate, max_rate]``."""
        return self.bucket.rate

    @property
    def min_rate(self) -> float:
        return self._min

    @property
    def max_rate(self) -> float:
        return self._max

    @property
    def in_slow_start(self) -> bool:
        return self._slow_start

    def try_acquire(self, n: float = 1) -> bool:
        return self.bucket.try_acquire(n)

    def acquire(self, n: float = 1, *, timeout: float | None = None) -> None:
        self.bucket.acquire(n, timeout=timeout)

    async def aacquire(
        self,
        n: float = 1,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - timed on the injected clock, not the loop's
    ) -> None:
        await self.bucket.aacquire(n, timeout=timeout)

    def time_until(self, n: float = 1) -> float:
        return self.bucket.time_until(n)

    def headroom(self) -> Headroom:
        return self.bucket.headroom()

    # --- evidence -------------------------------------------------------------------------------
    # Every decision is made and applied under the limiter's lock, so concurrent reports cannot
    # interleave a read of the rate with another thread's change; events are emitted after it.

    def record_success(self, *, sent_at: float | None = None) -> None:
        """A call went through. ``sent_at``: the clock reading when it was sent (see the class docs)."""
        with self._lock:
            now = self._clock.now()
            self._delivered.append(now)
            self._trim_delivered(now)
            if self._stale(sent_at, now):
                return
            self._successes += 1
            self._outcomes += 1
            event = self._evaluate(now)
        self._emit(event)

    def record_failure(
        self, failure: BaseException | ErrorKind | Classification, *, sent_at: float | None = None
    ) -> None:
        """A call failed: an exception (classified with :func:`day6.errors.classify`), an
        ``ErrorKind`` or a ``Classification``. A rate limit goes to :meth:`record_rate_limited`;
        backend faults count in the window; the caller's own errors (bad request, auth, context
        length, cancellation) say nothing about capacity and are ignored.
        """
        if isinstance(failure, BaseException):
            failure = classify(failure, now_wall=self._clock.wall())
        if isinstance(failure, Classification):
            kind, retry_after = failure.kind, failure.retry_after
        elif isinstance(failure, ErrorKind):
            kind, retry_after = failure, None
        else:
            raise ConfigError("failure", failure, "an exception, an ErrorKind or a Classification")
        if kind is ErrorKind.RATE_LIMIT:
            self.record_rate_limited(retry_after, sent_at=sent_at)
            return
        if not kind.is_backend_fault:
            return
        with self._lock:
            now = self._clock.now()
            if self._stale(sent_at, now):
                return
            self._outcomes += 1
            event = self._evaluate(now)
        self._emit(event)

    def record_rate_limited(self, retry_after: float | None = None, *, sent_at: float | None = None) -> None:
        """The server said 429: pause for ``retry_after`` seconds, and cut the rate once per episode.

        A 429 for a call sent before the last cut (``sent_at`` at or before it, or, without
        ``sent_at``, arriving within ``cooldown`` seconds of it) belongs to the episode that cut
        already answered: it pauses the bucket but does not cut again.
        """
        if retry_after is not None:
            retry_after = non_negative("retry_after", retry_after, allowed="None or finite seconds >= 0")
        event = None
        with self._lock:
            now = self._clock.now()
            if retry_after:
                self.bucket.pause(retry_after)
            if not self._stale(sent_at, now, since_cut=True):
                rate = self.bucket.rate
                self._trim_delivered(now)
                delivered = len(self._delivered) / self._delivery_window
                self._ceiling = rate
                self._cut(now)
                target = min(rate * self._delivery_floor, max(delivered, rate * self._decrease))
                event = self._change(
                    target, f"rate limited (429); the server delivered {delivered:.3g}/s", now
                )
        self._emit(event)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Slow down before the first 429 when ``x-ratelimit-*`` says the budget is running out.

        The sustainable pace is ``limit / reset`` when ``x-ratelimit-limit-requests`` is given (a
        continuously refilled budget: OpenAI's model, where ``reset`` is the time until it is full
        again), else ``remaining / reset`` (safe whatever the model). When the current rate is
        above that pace, it drops to it (never below ``min_rate``). Headers never raise the rate:
        the budget they describe is shared with every other client of the same key.
        """
        info = parse_ratelimit_headers(headers)
        limit, remaining, reset = info.limit_requests, info.remaining_requests, info.reset_requests
        if remaining is None or reset is None or reset <= 0:
            return
        pace = (limit if limit is not None and limit >= remaining else remaining) / reset
        event = None
        with self._lock:
            if pace < self.bucket.rate:
                self._slow_start = False  # the budget is running low: the capacity is found
                event = self._change(
                    pace, "x-ratelimit headers: the budget is running low", self._clock.now()
                )
        self._emit(event)

    # --- internals (the limiter's lock is held unless noted) -------------------------------------

    def _trim_delivered(self, now: float) -> None:
        delivered = self._delivered
        while delivered and delivered[0] <= now - self._delivery_window:
            delivered.popleft()

    def _stale(self, sent_at: float | None, now: float, *, since_cut: bool = False) -> bool:
        """Whether an outcome answers a call sent before the rate last changed (or, with
        ``since_cut``, before the last cut): it judges an old rate, not the current one."""
        if sent_at is not None:
            return sent_at <= (self._cut_at if since_cut else self._changed_at)
        return now < self._cut_at + self._cooldown

    def _cut(self, now: float) -> None:
        """Start a new episode: slow start is over and a fresh window judges the new rate."""
        self._cut_at = now
        self._slow_start = False
        self._successes = self._outcomes = 0

    def _evaluate(self, now: float) -> LimiterRateChanged | None:
        """Judge the window once it is full: grow, hold or cut."""
        if self._outcomes < self._window_size:
            return None
        success = self._successes / self._outcomes
        self._successes = self._outcomes = 0
        rate = self.bucket.rate
        if success > self._high:
            if self._slow_start:
                return self._change(rate * 2, f"slow start: {success:.0%} success", now)
            if rate < self._ceiling < math.inf:  # fast recovery: halfway back to where the 429 hit
                step = max(self._increase, (self._ceiling - rate) / 2)
                reason = f"recovery toward {self._ceiling:.3g}/s: {success:.0%} success"
                return self._change(rate + step, reason, now)
            return self._change(rate + self._increase, f"additive increase: {success:.0%} success", now)
        if success < self._low:
            self._cut(now)
            return self._change(rate * self._decrease, f"multiplicative decrease: {success:.0%} success", now)
        return None

    def _change(self, target: float, reason: str, now: float) -> LimiterRateChanged | None:
        """Clamp ``target`` into [min_rate, max_rate] and apply it; a real change opens a new window."""
        new = min(self._max, max(self._min, target))  # with a NaN target, max() keeps the floor
        if not math.isfinite(new) or new <= 0:
            new = self._min
        if new == self.bucket.rate:
            return None
        self._changed_at = now
        self._successes = self._outcomes = 0
        return self.bucket._set_rate(new, reason)

    def _emit(self, event: LimiterRateChanged | None) -> None:
        """Emit outside the lock (a hook may be slow, or even call back into the limiter)."""
        if event is not None:
            self.hooks.emit(event)

    def __repr__(self) -> str:
        return (
            f"AdaptiveRateLimiter(name={self.name!r}, rate={self.rate:g}, min_rate={self._min:g}, "
            f"max_rate={self._max:g}, slow_start={self._slow_start})"
        )
