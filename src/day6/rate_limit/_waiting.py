"""The waiting room's tickets: one per blocked caller, woken by whoever changes who goes next.

A blocked ``acquire`` (a thread) and a blocked ``aacquire`` (an asyncio task) wait the same way:
they hold a ticket in the limiter's queue and park on an event until another caller wakes them.
Only the wake-up mechanism differs, so the limiter's decision logic is written once and serves
both. All fields are read and written under the owning limiter's lock, except the event itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__: list[str] = []


class _Waiter:
    """A ticket in a limiter's waiting room (see :class:`~day6.rate_limit.TokenBucket`)."""

    __slots__ = ("amount", "deadline", "enqueued_at", "expired", "granted", "priority", "seq")

    def __init__(
        self, amount: float, *, seq: int, enqueued_at: float, deadline: float | None, priority: int = 0
    ) -> None:
        self.amount = amount
        self.seq = seq  # arrival order: breaks ties, so equal ranks are served first come first served
        self.enqueued_at = enqueued_at
        self.deadline = deadline
        self.priority = priority
        self.expired = False  # set by another caller that found this ticket's deadline passed
        self.granted = False  # set by a caller that handed this ticket a slot (Bulkhead)

    def wake(self) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget earlier wake-ups; called under the limiter's lock just before parking."""
        raise NotImplementedError


class _ThreadWaiter(_Waiter):
    """A blocked thread: parks on a ``threading.Event``."""

    __slots__ = ("_event",)

    def __init__(
        self, amount: float, *, seq: int, enqueued_at: float, deadline: float | None, priority: int = 0
    ) -> None:
        super().__init__(amount, seq=seq, enqueued_at=enqueued_at, deadline=deadline, priority=priority)
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def park(self) -> None:
        self._event.wait()

    def park_for(self, seconds: float) -> None:
        """Park for at most ``seconds`` of real time (a polling slice, see Bulkhead)."""
        self._event.wait(seconds)


class _TaskWaiter(_Waiter):
    """A blocked asyncio task: parks on an ``asyncio.Event`` of its own loop.

    ``asyncio.Event`` is not thread-safe, so a wake-up from another thread is handed to the
    task's loop with ``call_soon_threadsafe``; from the loop's own thread it is set directly.
    """

    __slots__ = ("_event", "_loop")

    def __init__(
        self, amount: float, *, seq: int, enqueued_at: float, deadline: float | None, priority: int = 0
    ) -> None:
        super().__init__(amount, seq=seq, enqueued_at=enqueued_at, deadline=deadline, priority=priority)
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
            return
        with contextlib.suppress(RuntimeError):  # the task's loop is closed: nobody is left to wake
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def park(self) -> None:
        await self._event.wait()

    async def park_for(self, seconds: float) -> None:
        """Park for at most ``seconds`` of the loop's time (a polling slice, see Bulkhead)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
