"""A token bucket whose line is ordered by priority, with aging so nobody starves.

Under saturation, a user's interactive chat should not wait behind a batch job's hundred
summarisation calls. :class:`PriorityRateLimiter` is a :class:`~day6.rate_limit.TokenBucket`
(same refill, same guarantee, same waiting machinery) whose waiting line is served by priority
instead of arrival: the most important waiter gets the next tokens, and a newcomer may overtake
waiters it outranks.

**Aging.** Strict priority starves: with a steady stream of HIGH calls a LOW call would wait
forever. So a waiter's *effective* priority improves by one class for every ``aging`` seconds it
has waited::

    effective = max(0, priority - floor(waited / aging))

Ties go to the earlier arrival. Once a waiter has aged to class 0 nobody can overtake it any more,
so a waiter of priority ``p`` is first in line after at most ``p * aging`` seconds plus the time
needed to serve the waiters that arrived before it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

from day6._events import EventHook
from day6._validate import positive
from day6.clock import Clock
from day6.errors import ConfigError
from day6.rate_limit._waiting import _TaskWaiter, _ThreadWaiter, _Waiter
from day6.rate_limit.token_bucket import TokenBucket

__all__ = ["Priority", "PriorityRateLimiter"]


class Priority(enum.IntEnum):
    """Priority classes; a smaller value is served first. Plain ints >= 0 work too."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


def _check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        raise ConfigError("priority", priority, "a Priority or an integer >= 0 (0 is served first)")
    return int(priority)


class PriorityRateLimiter(TokenBucket):
    """A token bucket that serves its waiters by priority, with aging against starvation.

    ``capacity`` and ``rate`` are the bucket's; ``aging`` is the seconds of waiting that improve a
    waiter's priority by one class (see the module docs). Every acquiring method takes a keyword
    ``priority`` (default :attr:`Priority.NORMAL`). ``try_acquire`` succeeds only when the tokens
    are there and the caller outranks everyone waiting, so priorities hold for non-blocking callers
    too. Sync and async waiters share the line; cancellation is as safe as in the bucket.
    """

    def __init__(
        self,
        *,
        capacity: float = 10.0,
        rate: float = 1.0,
        aging: float = 10.0,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "priority",
    ) -> None:
        self._aging = positive("aging", aging, allowed="finite seconds > 0 (per class of priority gained)")
        super().__init__(capacity=capacity, rate=rate, clock=clock, hooks=hooks, name=name)

    @property
    def aging(self) -> float:
        return self._aging

    def try_acquire(self, n: float = 1, *, priority: int = Priority.NORMAL) -> bool:
        """Take ``n`` tokens if they are there and no waiter outranks ``priority``; never blocks."""
        return self._try_acquire(n, _check_priority(priority))

    def acquire(self, n: float = 1, *, timeout: float | None = None, priority: int = Priority.NORMAL) -> None:
        """Block until ``n`` tokens are granted at ``priority`` (see :meth:`TokenBucket.acquire`)."""
        waiter = self._admit_or_enqueue(n, _check_priority(priority), timeout, _ThreadWaiter)
        if waiter is not None:
            self._wait_thread(waiter)

    async def aacquire(
        self,
        n: float = 1,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - timed on the injected clock, not the loop's
        priority: int = Priority.NORMAL,
    ) -> None:
        """Await ``n`` tokens at ``priority`` (see :meth:`TokenBucket.aacquire`)."""
        waiter = self._admit_or_enqueue(n, _check_priority(priority), timeout, _TaskWaiter)
        if waiter is not None:
            await self._wait_task(waiter)

    def effective_priority(self, priority: int, waited: float) -> int:
        """The class a waiter of ``priority`` competes in after ``waited`` seconds in line."""
        return max(0, priority - math.floor(max(0.0, waited) / self._aging))

    # --- the line's order -----------------------------------------------------------------------

    def _rank(self, waiter: _Waiter, now: float) -> tuple[int, int]:
        return (self.effective_priority(waiter.priority, now - waiter.enqueued_at), waiter.seq)

    def _head(self, now: float) -> _Waiter:
        return min(self._queue, key=lambda w: self._rank(w, now))

    def _newcomer_first(self, priority: int, now: float) -> bool:
        # a newcomer has waited 0 s, and arrived last: it must be strictly better than the head
        return priority < self._rank(self._head(now), now)[0]

    def _ahead(self, waiter: _Waiter, now: float) -> float:
        # who will be served first depends on future arrivals and aging: count nobody, which makes
        # the predicted wait a lower bound (early refusals stay correct, never premature)
        return 0.0

    def __repr__(self) -> str:
        return (
            f"PriorityRateLimiter(name={self.name!r}, capacity={self.capacity:g}, rate={self.rate:g}, "
            f"aging={self._aging:g}, waiting={self.waiting})"
        )
