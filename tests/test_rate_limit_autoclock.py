"""A virtual-time clock for asyncio tests of waiting limiters, and the tests of that clock.

``FakeClock.asleep`` advances time at once, so two tasks sleeping "concurrently" on it add their
sleeps up: right for one sleeper, wrong for questions like "who is served first, and when?".
:class:`AutoClock` is a tiny discrete-event scheduler instead: ``asleep`` parks the task on a
timer, and the test drives time with :meth:`AutoClock.run_until` / :meth:`AutoClock.run_all`,
which jump straight to the next timer (no real waiting), exactly as an event loop would in real
time. Other rate-limit test modules import it: ``from tests.test_rate_limit_autoclock import AutoClock``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

_WALL_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, like FakeClock


class AutoClock:
    """Virtual time for asyncio: sleepers wake in time order when the test advances the clock."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return _WALL_START + self._now

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("AutoClock drives asyncio tasks; use FakeClock for blocking code")

    async def asleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + max(0.0, seconds), next(self._seq), future))
        await future

    @staticmethod
    async def settle() -> None:
        """Let every runnable task run until all are blocked again."""
        for _ in range(50):
            await asyncio.sleep(0)

    async def run_until(self, when: float) -> None:
        """Fire every timer due by ``when`` in time order, then stop the clock at ``when``."""
        await self.settle()
        while self._timers and self._timers[0][0] <= when:
            due, _, future = heapq.heappop(self._timers)
            if future.done():  # its task was cancelled
                continue
            self._now = max(self._now, due)
            future.set_result(None)
            await self.settle()
        self._now = max(self._now, when)
        await self.settle()

    async def run_all(self, limit: float = 1e6) -> None:
        """Fire timers until none is left (bounded, so a livelock fails instead of hanging)."""
        await self.settle()
        while any(not f.done() for _, _, f in self._timers):
            next_due = min(due for due, _, f in self._timers if not f.done())
            assert next_due <= limit, f"timers run past t={limit}: a livelock?"
            await self.run_until(next_due)


async def test_sleepers_wake_in_time_order() -> None:
    """Two tasks sleeping at once wake at their own times, not at the sum of both sleeps."""
    clock = AutoClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(nap("long", 2.0)), asyncio.create_task(nap("short", 1.0))]
    await clock.run_all()
    await asyncio.gather(*tasks)
    assert woke == [("short", 1.0), ("long", 2.0)]


async def test_run_until_stops_between_timers() -> None:
    """`run_until` fires only the timers due by then and leaves the clock at that time."""
    clock = AutoClock()
    task = asyncio.create_task(clock.asleep(5.0))
    await clock.run_until(3.0)
    assert clock.now() == 3.0
    assert not task.done()
    await clock.run_all()
    assert task.done()
    assert clock.now() == 5.0


async def test_cancelled_sleeper_is_skipped() -> None:
    """A cancelled sleeper's timer does not move the clock."""
    clock = AutoClock()
    task = asyncio.create_task(clock.asleep(5.0))
    await clock.settle()
    task.cancel()
    await clock.run_all()
    assert clock.now() == 0.0
    with pytest.raises(asyncio.CancelledError):
        await task
