"""The bulkhead: at most ``max_concurrent`` calls in flight, so one slow dependency cannot sink the rest.

A ship's bulkheads keep one flooded compartment from sinking the ship. When the LLM backend turns
slow, every call holds a thread (or a task, a socket, memory) for much longer; without a bound the
callers pile up until the whole process is stuck waiting on one dependency. A bulkhead caps the
calls in flight and makes the overflow fail fast, with :class:`~day6.errors.BulkheadFullError`,
after waiting at most ``max_wait`` seconds for a slot.

Rate limits bound calls *per second*; a bulkhead bounds calls *at once*. With slow calls the
second bites first: 10 calls per second of 30 seconds each means 300 in flight.

Waiting is first come, first served, with hand-off: a finishing call gives its slot directly to
the oldest waiter, so a newcomer can never grab it in between. Sync (``with bulkhead:``) and async
(``async with bulkhead:``) callers share the slots.

**Time.** ``max_wait`` is measured on the injected clock. Waiting for a slot means waiting for
*another call to finish*, an event no clock can schedule, so a waiter blocks on an event and
re-reads the clock every ``_POLL`` seconds of real time: a slot handed over wakes it at once, and
its deadline is noticed within one poll. With a :class:`~day6.clock.FakeClock` the deadline passes
exactly when the test moves the clock past it.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from day6._events import EventHook, Hooks
from day6._validate import int_at_least, non_negative
from day6.clock import Clock, SystemClock
from day6.errors import BulkheadFullError
from day6.rate_limit._common import Headroom, LimiterDecision, _name
from day6.rate_limit._waiting import _TaskWaiter, _ThreadWaiter, _Waiter

__all__ = ["Bulkhead", "BulkheadStats"]

_W = TypeVar("_W", _ThreadWaiter, _TaskWaiter)

_POLL = 0.05
"""Real seconds between clock checks while waiting for a slot (bounds how late a timeout is seen)."""


@dataclass(frozen=True, slots=True)
class BulkheadStats:
    """A consistent snapshot of a bulkhead's counters.

    ``admitted`` counts calls that got a slot, ``rejected`` those refused (full, or the wait ran
    out); ``peak`` is the most calls ever in flight at once (never above ``max_concurrent``).
    """

    name: str
    max_concurrent: int
    in_flight: int
    waiting: int
    admitted: int
    rejected: int
    peak: int


class Bulkhead:
    """At most ``max_concurrent`` calls at once; overflow waits up to ``max_wait`` seconds, then fails.

    Use it as a context manager (``with bulkhead: call()`` or ``async with bulkhead: await
    call()``), or with :meth:`try_acquire` / :meth:`acquire` / :meth:`aacquire` and
    :meth:`release`. ``max_wait=0`` (the default) never waits: a full bulkhead refuses at once.
    Thread-safe and task-safe; a cancelled waiter never keeps a slot.
    """

    def __init__(
        self,
        *,
        max_concurrent: int,
        max_wait: float = 0.0,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "bulkhead",
    ) -> None:
        self._max = int_at_least("max_concurrent", max_concurrent, 1)
        self._max_wait = non_negative("max_wait", max_wait, allowed="finite seconds >= 0")
        self.name = _name(name)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.hooks = Hooks(hooks)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._queue: deque[_Waiter] = deque()
        self._seq = itertools.count()
        self._admitted = 0
        self._rejected = 0
        self._peak = 0

    @property
    def max_concurrent(self) -> int:
        return self._max

    @property
    def max_wait(self) -> float:
        return self._max_wait

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def stats(self) -> BulkheadStats:
        with self._lock:
            return BulkheadStats(
                name=self.name,
                max_concurrent=self._max,
                in_flight=self._in_flight,
                waiting=len(self._queue),
                admitted=self._admitted,
                rejected=self._rejected,
                peak=self._peak,
            )

    def headroom(self) -> Headroom:
        with self._lock:
            return Headroom(
                name=self.name,
                available=float(self._max - self._in_flight),
                limit=float(self._max),
                waiting=len(self._queue),
            )

    # --- entering and leaving -------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits; never blocks."""
        with self._lock:
            allowed = self._in_flight < self._max and not self._queue
            if allowed:
                self._take()
            else:
                self._rejected += 1
            event = self._decision(allowed)
        if event is not None:
            self.hooks.emit(event)
        return allowed

    def acquire(self) -> None:
        """Take a slot, waiting up to ``max_wait`` seconds; raises :class:`BulkheadFullError`."""
        waiter = self._admit_or_enqueue(_ThreadWaiter)
        if waiter is None:
            return
        try:
            while True:
                slice_ = self._check(waiter)
                if slice_ is None:
                    return
                waiter.park_for(slice_)
        except BaseException:
            self._abandon(waiter)
            raise

    async def aacquire(self) -> None:
        """The async form of :meth:`acquire`; cancellation while waiting leaves no slot taken."""
        waiter = self._admit_or_enqueue(_TaskWaiter)
        if waiter is None:
            return
        try:
            while True:
                slice_ = self._check(waiter)
                if slice_ is None:
                    return
                await waiter.park_for(slice_)
        except BaseException:
            self._abandon(waiter)
            raise

    def release(self) -> None:
        """Give the slot back: to the oldest waiter if there is one, else to the pool."""
        with self._lock:
            if self._in_flight <= 0:
                raise RuntimeError(f"bulkhead {self.name!r}: release() without a matching acquire")
            self._hand_over_or_free()

    def __enter__(self) -> Bulkhead:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Bulkhead:
        await self.aacquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # --- internals (the caller holds the lock where noted) --------------------------------------

    def _take(self) -> None:
        """Count one more call in flight (lock held)."""
        self._in_flight += 1
        self._admitted += 1
        self._peak = max(self._peak, self._in_flight)

    def _hand_over_or_free(self) -> None:
        """A slot came free (lock held): the oldest waiter gets it, or the pool does."""
        if self._queue:
            waiter = self._queue.popleft()
            waiter.granted = True  # in_flight is unchanged: the slot moves from one call to the next
            self._admitted += 1
            waiter.wake()
        else:
            self._in_flight -= 1

    def _decision(self, allowed: bool) -> LimiterDecision | None:
        if not self.hooks.active:
            return None
        return LimiterDecision(self.name, allowed, 1.0, float(self._max - self._in_flight), self._clock.now())

    def _admit_or_enqueue(self, kind: type[_W]) -> _W | None:
        """Admit at once, refuse at once (``max_wait=0``), or queue a waiter and return it."""
        with self._lock:
            if self._in_flight < self._max and not self._queue:
                self._take()
                allowed = True
            elif self._max_wait == 0:
                self._rejected += 1
                allowed = False
            else:
                now = self._clock.now()
                waiter = kind(1.0, seq=next(self._seq), enqueued_at=now, deadline=now + self._max_wait)
                self._queue.append(waiter)
                return waiter
            event = self._decision(allowed)
        if event is not None:
            self.hooks.emit(event)
        if not allowed:
            raise self._full_error()
        return None

    def _check(self, waiter: _Waiter) -> float | None:
        """``None`` once the waiter holds a slot; else the real seconds to park before re-checking.

        Raises :class:`BulkheadFullError` when the waiter's deadline (on the clock) has passed.
        """
        with self._lock:
            if not waiter.granted:
                now = self._clock.now()
                deadline = waiter.deadline if waiter.deadline is not None else now
                if now < deadline:
                    waiter.clear()
                    return min(_POLL, deadline - now)
                self._queue.remove(waiter)
                self._rejected += 1
            allowed = waiter.granted
            event = self._decision(allowed)
        if event is not None:
            self.hooks.emit(event)
        if not allowed:
            raise self._full_error()
        return None

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter is leaving (cancelled, interrupted, or refused): it must not keep a slot."""
        with self._lock:
            if waiter.granted:
                waiter.granted = False
                self._admitted -= 1  # it never ran
                self._hand_over_or_free()
            elif waiter in self._queue:
                self._queue.remove(waiter)

    def _full_error(self) -> BulkheadFullError:
        return BulkheadFullError(
            f"bulkhead {self.name!r} is full: {self._max} call(s) in flight"
            + (f", none finished within {self._max_wait:g} s" if self._max_wait else ""),
            retry_after=None,
        )

    def __repr__(self) -> str:
        return (
            f"Bulkhead(name={self.name!r}, max_concurrent={self._max}, in_flight={self._in_flight}, "
            f"waiting={len(self._queue)})"
        )
