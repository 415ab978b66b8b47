"""Injected time: the one seam that lets the same pattern run for real, in tests and in simpy.

Every resilience pattern in day6 needs two things from time: *what time is it* (to measure a
recovery timeout, refill a bucket, age a window) and *wait this long* (a backoff delay). If a
pattern called ``time.monotonic()`` and ``time.sleep()`` itself, its tests would either sleep for
real (slow and flaky) or monkeypatch the ``time`` module (fragile), and a notebook could not run it
inside a simulation. So every time-dependent class takes a ``clock`` and only ever talks to it.

Three clocks ship:

* :class:`SystemClock` reads ``time.monotonic()`` (never the wall clock, which jumps when NTP or a
  user changes it) and really sleeps. ``day6 chat`` uses it.
* :class:`FakeClock` moves only when told to, or when something sleeps on it; it records every
  sleep, so a test can assert "the policy waited 0.1 s, then 0.2 s" without waiting at all.
* :class:`SimClock` reads a simpy environment's ``env.now``. Patterns only *read* it; the simpy
  drivers in :mod:`day6.sim` do the waiting by yielding ``env.timeout(delay)``.

``wall()`` is separate from ``now()`` on purpose: durations come from ``now()`` (monotonic), and
only calendar questions ("when does this month's quota reset?") use ``wall()``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SimClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What a pattern may ask of time. Durations are float seconds."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for calendar boundaries only (never for durations)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``; cancellable like ``asyncio.sleep``."""
        ...


class SystemClock:
    """Real time: ``time.monotonic`` for readings, ``time.sleep`` / ``asyncio.sleep`` for waits."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """Time that moves only when told: instant, deterministic tests.

    ``sleep`` and ``asleep`` advance the clock by the requested amount and append it to
    :attr:`sleeps`, so a test can check the exact schedule a policy chose. ``asleep`` still yields
    to the event loop once (``asyncio.sleep(0)``), so cancellation delivered during a backoff sleep
    is observed exactly as it would be in real time. Thread-safe: many threads may sleep on one
    fake clock; each sleep adds its own amount.
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_767_225_600.0) -> None:
        # wall_start defaults to 2026-01-01T00:00:00Z so calendar tests are reproducible.
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (the world moved, nobody waited)."""
        if not seconds >= 0:
            raise ValueError(f"FakeClock.advance: seconds must be >= 0, got {seconds!r}")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.sleep(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"


class SimClock:
    """Simulated time: ``now()`` is a simpy environment's ``env.now``.

    The pattern classes only read the clock, so they run unchanged inside a simpy process; the
    process itself waits with ``yield clock.timeout(delay)``. Blocking ``sleep`` cannot work inside
    a simulation (it would freeze the whole simulated world), so it raises with a pointer to the
    right tool. simpy is not imported here: any object with ``now`` and ``timeout`` will do.
    """

    __slots__ = ("env", "wall_start")

    def __init__(self, env: Any, *, wall_start: float = 1_767_225_600.0) -> None:
        self.env = env
        self.wall_start = wall_start

    def now(self) -> float:
        return float(self.env.now)

    def wall(self) -> float:
        return self.wall_start + float(self.env.now)

    def timeout(self, seconds: float) -> Any:
        """The simpy event to ``yield`` for a wait of ``seconds`` (clamped at zero)."""
        return self.env.timeout(max(0.0, seconds))

    def sleep(self, seconds: float) -> None:
        raise RuntimeError(
            "SimClock cannot block: inside a simpy process use `yield clock.timeout(seconds)`, "
            "or run the pattern through the drivers in day6.sim"
        )

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def __repr__(self) -> str:
        return f"SimClock(now={self.now()!r})"
