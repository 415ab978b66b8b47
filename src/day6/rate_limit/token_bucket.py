"""The token bucket: a burst allowance refilled at a steady rate.

A bucket holds at most ``capacity`` tokens and gains ``rate`` tokens per second. A call spends
``n`` tokens; when the bucket has fewer, the call waits (``acquire``) or is refused
(``try_acquire``). The lesson's limiter, "60 requests per minute with a burst of 10", is
``TokenBucket(capacity=10, rate=1.0)`` or ``TokenBucket.from_per_minute(60, burst=10)``.

**The guarantee.** Over any window of length ``t`` the bucket admits at most
``capacity + rate * t`` tokens, and it never holds more than ``capacity``. (Whatever is admitted in
the window was in the bucket at its start, at most ``capacity``, or was refilled during it, at most
``rate * t``.) The tests check this as a hypothesis property over arbitrary sequences of clock steps.

**No float drift.** The textbook bucket updates ``tokens += elapsed * rate`` on every call. Over a
long run of tiny clock steps the rounding errors of those additions pile up, and with a large
bucket a tiny increment can vanish entirely (``1e12 + 1e-5 == 1e12`` in floats: such a bucket
never refills). Here the state is an *anchor*: the time ``anchor`` at which the bucket held
``level`` tokens, plus the tokens ``taken`` since then::

    tokens(now) = min(capacity, level + (now - anchor) * rate - taken)

Refill is recomputed from the anchor with one multiplication, however many calls happened in
between, so it carries one rounding, not one per call; whole-token amounts keep ``taken`` an exact
integer. When the bucket is full the anchor moves to ``now`` (nothing is lost at the cap), which
also keeps the numbers small. A pause (after a 429, see :meth:`TokenBucket.pause`) is an anchor in
the future: ``tokens`` is negative until then, and every formula keeps working.

**Waiting.** Blocked callers wait in line, first come first served: a newcomer never overtakes a
waiter (``try_acquire`` says no while anyone waits), so a large request is not starved by a stream
of small ones. Only the head of the line sleeps on the clock, exactly until its tokens are
there; the others park until the head wakes them. A waiter that times out or is cancelled leaves
the line at once, holding no tokens and blocking nobody. A waiter whose timeout cannot be met
(the line ahead plus its own tokens need longer) is refused immediately rather than after a
pointless wait. Sync threads (``acquire``) and asyncio tasks (``aacquire``) share the line.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable
from typing import Final, Literal, TypeVar

from day6._events import EventHook, Hooks
from day6._validate import non_negative, positive
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError, RateLimitedError
from day6.rate_limit._common import (
    _SLACK,
    Headroom,
    LimiterDecision,
    LimiterRateChanged,
    _delay_until,
    _name,
    _timeout,
)
from day6.rate_limit._waiting import _TaskWaiter, _ThreadWaiter, _Waiter

__all__ = ["TokenBucket"]

_W = TypeVar("_W", _ThreadWaiter, _TaskWaiter)
_Action = Literal["admit", "sleep", "park"]
_ADMIT: Final = "admit"  # the waiter got its tokens
_SLEEP: Final = "sleep"  # the waiter is first in line: sleep on the clock until its tokens are there
_PARK: Final = "park"  # someone is ahead: park until woken


class _Refill:
    """The bucket's arithmetic, and nothing else: no lock, no clock, no waiting.

    ``tokens(now) = min(capacity, level + (now - anchor) * rate - taken)`` (see the module docs).
    Negative values mean a pause: the anchor lies in the future.
    """

    __slots__ = ("anchor", "capacity", "level", "rate", "taken")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.anchor = now
        self.level = capacity  # a new bucket starts full: the burst is available at once
        self.taken = 0.0

    def peek(self, now: float) -> float:
        """Tokens at ``now``, without touching the state."""
        return min(self.capacity, self.level + (now - self.anchor) * self.rate - self.taken)

    def refresh(self, now: float) -> float:
        """Tokens at ``now``; re-anchors when full, so ``taken`` restarts from zero."""
        tokens = self.level + (now - self.anchor) * self.rate - self.taken
        if tokens >= self.capacity:
            self.anchor = now
            self.level = self.capacity
            self.taken = 0.0
            return self.capacity
        return tokens

    def wait_for(self, n: float, now: float) -> float:
        """Seconds from ``now`` until ``n`` tokens are in the bucket (0.0 if they are)."""
        tokens = self.refresh(now)
        if tokens >= n:
            return 0.0
        return _delay_until(now, (n - tokens) / self.rate, lambda t: self.peek(t) >= n)

    def set_rate(self, rate: float, now: float) -> None:
        if now >= self.anchor:  # re-anchor, so the old rate's refill so far is kept exactly
            self.level = self.refresh(now)
            self.anchor = now
            self.taken = 0.0
        # during a pause the anchor stays in the future: the pause keeps its length
        self.rate = rate

    def pause(self, seconds: float, now: float) -> None:
        """Empty the bucket and refill nothing until ``now + seconds`` (a longer pause wins)."""
        until = now + seconds
        if now >= self.anchor or until > self.anchor:  # not paused yet, or paused for less
            self.anchor = until
            self.level = 0.0
            self.taken = 0.0


class TokenBucket:
    """A token bucket with FIFO waiting, for threads and asyncio tasks alike.

    ``capacity`` is the burst (tokens the bucket can hold, and the largest single request);
    ``rate`` is the refill in tokens per second. A new bucket starts full. ``name`` labels the
    events and the headroom view. Thread-safe and task-safe: one short lock guards the state; it is
    never held while sleeping, and hooks run after it is released.

    Methods: :meth:`try_acquire` (never waits), :meth:`acquire` (blocks the thread, with an optional
    ``timeout``), :meth:`aacquire` (awaits), :meth:`time_until`, :attr:`tokens`, :meth:`headroom`,
    and for adaptive control :meth:`set_rate` and :meth:`pause`. Amounts must satisfy
    ``0 < n <= capacity`` (a larger request could never be served, so it fails at once with
    :class:`~day6.errors.ConfigError` instead of waiting forever).
    """

    def __init__(
        self,
        *,
        capacity: float = 10.0,
        rate: float = 1.0,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "bucket",
    ) -> None:
        self._capacity = positive("capacity", capacity)
        rate = positive("rate", rate, allowed="a finite refill rate > 0 (tokens per second)")
        self.name = _name(name)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._now = self._clock.now  # bound once: read on every decision
        self.hooks = Hooks(hooks)
        self._lock = threading.Lock()
        self._refill = _Refill(self._capacity, rate, self._now())
        self._queue: list[_Waiter] = []  # in arrival order
        self._seq = itertools.count()

    @classmethod
    def from_per_minute(
        cls,
        requests_per_minute: float = 60,
        burst: float = 10,
        *,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "bucket",
    ) -> TokenBucket:
        """The lesson's configuration style: ``requests_per_minute`` sustained, ``burst`` at once."""
        rpm = positive("requests_per_minute", requests_per_minute)
        return cls(capacity=burst, rate=rpm / 60.0, clock=clock, hooks=hooks, name=name)

    # --- views ----------------------------------------------------------------------------------

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def rate(self) -> float:
        """The refill rate in tokens per second."""
        return self._refill.rate

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now, in ``[0, capacity]`` (0.0 during a pause)."""
        with self._lock:
            return max(0.0, self._refill.refresh(self._clock.now()))

    @property
    def waiting(self) -> int:
        """How many callers are blocked in ``acquire`` / ``aacquire``."""
        return len(self._queue)

    def time_until(self, n: float = 1) -> float:
        """Seconds until the bucket holds ``n`` tokens, if nobody else takes any (0.0 if it does).

        Exact in the clock's floats: after sleeping this long on the clock, ``try_acquire(n)``
        succeeds (provided no one else took tokens or waits in line). The simpy drivers wait this
        long with ``env.timeout``.
        """
        self._check_amount(n)
        with self._lock:
            return self._refill.wait_for(n, self._clock.now())

    def headroom(self) -> Headroom:
        """A snapshot for dashboards; takes the lock only for a few arithmetic operations."""
        with self._lock:
            now = self._clock.now()
            tokens = self._refill.refresh(now)
            retry_in = self._refill.wait_for(min(1.0, self._capacity), now)
            return Headroom(
                name=self.name,
                available=max(0.0, tokens),
                limit=self._capacity,
                waiting=len(self._queue),
                rate=self._refill.rate,
                retry_in=retry_in,
            )

    # --- acquiring ------------------------------------------------------------------------------

    def try_acquire(self, n: float = 1) -> bool:
        """Take ``n`` tokens if they are there and nobody is waiting; never blocks."""
        return self._try_acquire(n, 0)

    def acquire(self, n: float = 1, *, timeout: float | None = None) -> None:
        """Take ``n`` tokens, blocking the thread (on the clock) until they are there.

        Raises :class:`~day6.errors.RateLimitedError` (with ``retry_after``) when the tokens cannot
        be had within ``timeout`` seconds: at once when that is already certain, else when the
        timeout runs out. ``timeout=None`` waits as long as it takes (always finite, since
        ``n <= capacity`` and ``rate > 0``).
        """
        waiter = self._admit_or_enqueue(n, 0, timeout, _ThreadWaiter)
        if waiter is not None:
            self._wait_thread(waiter)

    async def aacquire(
        self,
        n: float = 1,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - timed on the injected clock, not the loop's
    ) -> None:
        """Take ``n`` tokens, awaiting (on ``clock.asleep``) until they are there.

        Same contract as :meth:`acquire`. Cancellation is safe at any point: a cancelled waiter
        leaves the line without tokens, and the next waiter moves up.
        """
        waiter = self._admit_or_enqueue(n, 0, timeout, _TaskWaiter)
        if waiter is not None:
            await self._wait_task(waiter)

    # --- adaptive control -----------------------------------------------------------------------

    def set_rate(self, rate: float, *, reason: str = "set") -> None:
        """Change the refill rate from now on (tokens already refilled are kept)."""
        rate = positive("rate", rate, allowed="a finite refill rate > 0 (tokens per second)")
        event = self._set_rate(rate, reason)
        if event is not None:
            self.hooks.emit(event)

    def _set_rate(self, rate: float, reason: str) -> LimiterRateChanged | None:
        """Change the rate; return the event for the caller to emit once it holds no lock."""
        with self._lock:
            now = self._now()
            old = self._refill.rate
            self._refill.set_rate(rate, now)
            if self.hooks.active and rate != old:
                return LimiterRateChanged(self.name, old, rate, reason, now)
            return None

    def pause(self, seconds: float) -> None:
        """Empty the bucket and refill nothing for ``seconds`` (what a 429 with Retry-After asks).

        A pause already running longer is kept. Waiters stay in line and are served after it.
        """
        seconds = non_negative("seconds", seconds, allowed="finite seconds >= 0")
        with self._lock:
            self._refill.pause(seconds, self._clock.now())

    # --- the machinery shared by TokenBucket and PriorityRateLimiter ------------------------------
    # Subclasses change the order of the line by overriding _head, _newcomer_first and _ahead.

    def _head(self, now: float) -> _Waiter:
        """The waiter served next (the line is not empty)."""
        return self._queue[0]

    def _newcomer_first(self, priority: int, now: float) -> bool:
        """Whether a newcomer of ``priority`` may be served before everyone in line."""
        return False  # FIFO: nobody overtakes

    def _ahead(self, waiter: _Waiter, now: float) -> float:
        """Tokens that will be served before ``waiter``: FIFO knows exactly."""
        total = 0.0
        for other in self._queue:
            if other is waiter:
                break
            total += other.amount
        return total

    def _check_amount(self, n: float) -> None:
        if not 0 < n <= self._capacity:  # NaN fails too; inf exceeds capacity
            raise ConfigError("n", n, f"a finite number of tokens in (0, capacity={self._capacity:g}]")

    def _try_acquire(self, n: float, priority: int) -> bool:
        if not 0 < n <= self._capacity:
            self._check_amount(n)
        with self._lock:
            now = self._now()
            refill = self._refill
            tokens = refill.refresh(now)
            allowed = tokens >= n and (not self._queue or self._newcomer_first(priority, now))
            if allowed:
                refill.taken += n
            if not self.hooks.active:
                return allowed
            event = LimiterDecision(self.name, allowed, n, max(0.0, tokens - n if allowed else tokens), now)
        self.hooks.emit(event)
        return allowed

    def _admit_or_enqueue(self, n: float, priority: int, timeout: float | None, kind: type[_W]) -> _W | None:
        """Admit a newcomer at once, refuse it at once, or put it in line (returns its ticket)."""
        if not 0 < n <= self._capacity:
            self._check_amount(n)
        if timeout is not None:
            timeout = _timeout(timeout)  # invalid input fails even when tokens are there
        refused: RateLimitedError | None = None
        with self._lock:
            now = self._now()
            refill = self._refill
            tokens = refill.refresh(now)
            if tokens >= n and (not self._queue or self._newcomer_first(priority, now)):
                refill.taken += n
                if not self.hooks.active:
                    return None
                event: LimiterDecision | None = LimiterDecision(self.name, True, n, max(0.0, tokens - n), now)
            else:
                waiter = kind(n, seq=next(self._seq), enqueued_at=now, deadline=None, priority=priority)
                self._queue.append(waiter)
                if timeout is None:
                    return waiter
                waiter.deadline = now + timeout + _SLACK
                wait = self._predicted_wait(waiter, tokens, now)
                if wait <= timeout + _SLACK:
                    return waiter
                self._queue.remove(waiter)  # the line is too long for this timeout: say so now
                refused, event = self._refusal(waiter, wait, tokens, now)
        if event is not None:
            self.hooks.emit(event)
        if refused is not None:
            raise refused
        return None

    def _predicted_wait(self, waiter: _Waiter, tokens: float, now: float) -> float:
        """How long until the line ahead and ``waiter`` are served, at the current rate.

        Exact for FIFO (cancellations ahead only make it shorter); a lower bound when newcomers
        may overtake (priorities).
        """
        need = self._ahead(waiter, now) + waiter.amount
        return max(0.0, (need - tokens) / self._refill.rate)

    def _refusal(
        self, waiter: _Waiter, wait: float, tokens: float, now: float
    ) -> tuple[RateLimitedError, LimiterDecision | None]:
        """The error for a waiter that leaves empty-handed, and its event (emitted after the lock)."""
        event = (
            LimiterDecision(self.name, False, waiter.amount, max(0.0, tokens), now)
            if self.hooks.active
            else None
        )
        error = RateLimitedError(
            f"{self.name}: {waiter.amount:g} token(s) not available within the timeout; "
            f"retry in {wait:.3f} s",
            retry_after=wait,
        )
        return error, event

    def _step(self, waiter: _Waiter) -> tuple[_Action, float]:
        """Decide what a waiter in line does next: take its tokens, sleep, park, or give up."""
        event: LimiterDecision | None = None
        refused: RateLimitedError | None = None
        action: tuple[_Action, float] = (_ADMIT, 0.0)
        with self._lock:
            now = self._clock.now()
            refill = self._refill
            tokens = refill.refresh(now)
            head = None if waiter.expired else self._head(now)
            if waiter.expired:  # another waiter found our deadline passed and removed us
                refused, event = self._refusal(waiter, self._predicted_wait(waiter, tokens, now), tokens, now)
            elif head is waiter and tokens >= waiter.amount:
                refill.taken += waiter.amount
                self._queue.remove(waiter)
                if self._queue:
                    self._head(now).wake()
                if self.hooks.active:
                    event = LimiterDecision(self.name, True, waiter.amount, tokens - waiter.amount, now)
            elif waiter.deadline is not None and (
                now >= waiter.deadline or self._predicted_wait(waiter, tokens, now) > waiter.deadline - now
            ):
                self._queue.remove(waiter)
                if self._queue and head is waiter:
                    self._head(now).wake()
                refused, event = self._refusal(waiter, self._predicted_wait(waiter, tokens, now), tokens, now)
            elif head is not waiter:
                assert head is not None
                head.wake()  # cheap, and makes sure whoever is first really runs
                waiter.clear()
                action = (_PARK, math.inf)
            else:
                action = (_SLEEP, self._head_sleep(waiter, now))
        if event is not None:
            self.hooks.emit(event)
        if refused is not None:
            raise refused
        return action

    def _head_sleep(self, head: _Waiter, now: float) -> float:
        """How long the head sleeps: until its tokens are there, or the next deadline in line.

        The head keeps time for everyone: parked waiters whose deadline has passed are removed
        and woken (they raise), and the sleep is cut short at the nearest remaining deadline.
        """
        nearest = math.inf if head.deadline is None else head.deadline
        for other in list(self._queue):
            if other is head or other.deadline is None:
                continue
            if other.deadline <= now:
                self._queue.remove(other)
                other.expired = True
                other.wake()
            else:
                nearest = min(nearest, other.deadline)
        return max(0.0, min(self._refill.wait_for(head.amount, now), nearest - now))

    def _leave(self, waiter: _Waiter) -> None:
        """A waiter is leaving abnormally (cancelled, interrupted): free its place in line."""
        with self._lock:
            if waiter in self._queue:
                self._queue.remove(waiter)
                if self._queue:
                    self._head(self._clock.now()).wake()

    def _wait_thread(self, waiter: _ThreadWaiter) -> None:
        try:
            while True:
                action, seconds = self._step(waiter)
                if action == _ADMIT:
                    return
                if action == _SLEEP:
                    self._clock.sleep(seconds)
                else:
                    waiter.park()
        except BaseException:
            self._leave(waiter)
            raise

    async def _wait_task(self, waiter: _TaskWaiter) -> None:
        try:
            while True:
                action, seconds = self._step(waiter)
                if action == _ADMIT:
                    return
                if action == _SLEEP:
                    await self._clock.asleep(seconds)
                else:
                    await waiter.park()
        except BaseException:
            self._leave(waiter)
            raise

    def __repr__(self) -> str:
        return (
            f"TokenBucket(name={self.name!r}, capacity={self._capacity:g}, rate={self._refill.rate:g}, "
            f"waiting={len(self._queue)})"
        )
