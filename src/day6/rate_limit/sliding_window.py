"""The sliding window: at most ``limit`` calls in *any* ``window`` seconds, per key.

A fixed window ("100 per calendar minute") lets 200 calls through in two seconds: 100 at 12:00:59
and 100 at 12:01:00. A sliding window closes that gap: whatever instant you pick, the calls
admitted in the ``window`` seconds around it never exceed ``limit``. Precisely, for every key
and every half-open interval ``[s, s + window)`` (or ``(s, s + window]``), admitted calls <= ``limit``.

Two modes trade memory for precision:

``mode="log"`` (exact)
    Keeps the timestamp of every admitted call still inside the window (at most ``limit`` per
    key) and admits exactly when the calls in ``(now - window, now]`` plus this one fit. It never
    refuses a call the guarantee would allow.

``mode="counter"`` (approximate, conservative)
    Keeps only counts, in ``buckets`` sub-windows of ``window / buckets`` seconds each, so memory
    per key is ``O(buckets)`` however large the limit. The popular *weighted two-bucket* estimate
    (``previous * (1 - elapsed_fraction) + current``) assumes the previous bucket's calls were
    spread evenly; when they all came at its very end, it admits up to ``2 * limit - 1`` calls in
    one window. Here a sub-window is forgotten only once its *newest* call has left the window, so
    the count can only over-estimate the true one: the guarantee holds exactly, as in log mode.
    The price is bounded: counter mode refuses a call only if an exact limiter with a window of
    ``window * (1 + 1 / buckets)`` would refuse it too (10 % longer with the default 10 buckets).

Memory is bounded by the active keys and the limit: a key whose calls have all left the window is
evicted (least recently admitted first, amortised O(1)); at most ``max_keys`` keys are tracked, and
when all of them are active a new key is refused (failing closed: evicting an active key would
forget calls and break the guarantee). A refused call allocates nothing.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable
from typing import Literal

from day6._events import EventHook, Hooks
from day6._validate import int_at_least, positive
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError, RateLimitedError
from day6.rate_limit._common import Headroom, LimiterDecision, _delay_until, _name, _timeout

__all__ = ["SlidingWindowLimiter"]

Mode = Literal["log", "counter"]


class _Log:
    """Exact mode: ``(timestamp, n)`` for each admitted call still in the window, oldest first.

    A call leaves the count once ``timestamp + window <= now``. (Written this way round, not as
    ``timestamp <= now - window``, because it is the very float expression the guarantee is
    stated in; the two can round differently.)
    """

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def expire(self, now: float, window: float) -> None:
        entries = self.entries
        while entries and entries[0][0] + window <= now:
            self.total -= entries.popleft()[1]

    def add(self, now: float, n: int, width: float) -> None:
        self.entries.append((now, n))
        self.total += n

    def newest(self) -> float:
        return self.entries[-1][0]

    def oldest_times(self) -> Iterable[tuple[float, int]]:
        """``(timestamp, how many)``, oldest first: the units leave at ``timestamp + window``."""
        return iter(self.entries)


class _Counter:
    """Counter mode: ``[sub-window index, count, newest timestamp]`` per live sub-window."""

    __slots__ = ("slots", "total")

    def __init__(self) -> None:
        self.slots: deque[list[float]] = deque()
        self.total = 0

    def expire(self, now: float, window: float) -> None:
        # forget a sub-window only when its newest call has left the window: conservative
        slots = self.slots
        while slots and slots[0][2] + window <= now:
            self.total -= int(slots.popleft()[1])

    def add(self, now: float, n: int, width: float) -> None:
        index = math.floor(now / width)
        slots = self.slots
        if slots and slots[-1][0] == index:
            slot = slots[-1]
            slot[1] += n
            slot[2] = now
        else:
            slots.append([index, n, now])
        self.total += n

    def newest(self) -> float:
        return self.slots[-1][2]

    def oldest_times(self) -> Iterable[tuple[float, int]]:
        return ((newest, int(count)) for _, count, newest in self.slots)


def _stamp_freeing(stamps: Iterable[tuple[float, int]], excess: int) -> float:
    """The timestamp whose expiry frees ``excess`` units, the oldest leaving first."""
    for stamp, count in stamps:
        excess -= count
        if excess <= 0:
            return stamp
    raise AssertionError("unreachable: n <= limit, so emptying the window frees enough")


class SlidingWindowLimiter:
    """At most ``limit`` calls per key in any ``window`` seconds (see the module docs).

    ``mode`` is ``"log"`` (exact, up to ``limit`` timestamps per key) or ``"counter"``
    (conservative, ``buckets`` counters per key). ``max_keys`` bounds the keys tracked at once.
    Thread-safe. :meth:`try_acquire` never waits; :meth:`acquire` / :meth:`aacquire` sleep on the
    clock exactly until the window has room (no fairness among waiters: use a
    :class:`~day6.rate_limit.TokenBucket` in front when that matters).
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        mode: Mode = "log",
        buckets: int = 10,
        max_keys: int = 10_000,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "window",
    ) -> None:
        self._limit = int_at_least("limit", limit, 1)
        self._window = positive("window", window, allowed="finite seconds > 0")
        if mode not in ("log", "counter"):
            raise ConfigError("mode", mode, "'log' (exact) or 'counter' (conservative approximation)")
        self._mode: Mode = mode
        self._buckets = int_at_least("buckets", buckets, 1)
        self._width = self._window / self._buckets
        self._max_keys = int_at_least("max_keys", max_keys, 1)
        self.name = _name(name)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.hooks = Hooks(hooks)
        self._lock = threading.Lock()
        self._state_type = _Log if mode == "log" else _Counter
        # least recently admitted first, so idle keys are found at the front
        self._keys: OrderedDict[Hashable, _Log | _Counter] = OrderedDict()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window(self) -> float:
        return self._window

    @property
    def mode(self) -> Mode:
        return self._mode

    def __len__(self) -> int:
        """How many keys are tracked (active ones, plus idle ones not yet evicted)."""
        return len(self._keys)

    # --- decisions ------------------------------------------------------------------------------

    def try_acquire(self, key: Hashable = "default", n: int = 1) -> bool:
        """Admit ``n`` calls for ``key`` if the window has room; never blocks."""
        if type(n) is not int or not 0 < n <= self._limit:  # one cheap test on the hot path
            self._check_amount(n)
        with self._lock:
            now = self._clock.now()
            self._evict_idle(now)
            state = self._keys.get(key)
            if state is not None:
                state.expire(now, self._window)
                used = state.total
            else:
                used = 0
            allowed = used + n <= self._limit and (state is not None or len(self._keys) < self._max_keys)
            if allowed:
                if state is None:
                    state = self._keys[key] = self._state_type()
                else:
                    self._keys.move_to_end(key)
                state.add(now, n, self._width)
                used += n
            if not self.hooks.active:
                return allowed
            event = LimiterDecision(self.name, allowed, n, float(self._limit - used), now)
        self.hooks.emit(event)
        return allowed

    def remaining(self, key: Hashable = "default") -> int:
        """How many more calls ``key`` may make right now."""
        with self._lock:
            state = self._current(key, self._clock.now())
            return self._limit - (state.total if state is not None else 0)

    def time_until(self, key: Hashable = "default", n: int = 1) -> float:
        """Seconds until ``key`` may make ``n`` calls, if nothing else is admitted meanwhile.

        Exact in the clock's floats: after sleeping this long, ``try_acquire(key, n)`` succeeds.
        """
        self._check_amount(n)
        with self._lock:
            now = self._clock.now()
            state = self._current(key, now)
            if state is None:
                return 0.0 if len(self._keys) < self._max_keys else self._time_until_free_key(now)
            excess = state.total + n - self._limit
            if excess <= 0:
                return 0.0
            leaves_at = _stamp_freeing(state.oldest_times(), excess) + self._window
            return _delay_until(now, leaves_at - now, lambda t: leaves_at <= t)

    def headroom(self, key: Hashable = "default") -> Headroom:
        """A snapshot for dashboards, for one key."""
        with self._lock:
            now = self._clock.now()
            state = self._current(key, now)
            used = state.total if state is not None else 0
        return Headroom(
            name=f"{self.name}[{key!r}]",
            available=float(self._limit - used),
            limit=float(self._limit),
            retry_in=self.time_until(key, 1),
        )

    def acquire(self, key: Hashable = "default", n: int = 1, *, timeout: float | None = None) -> None:
        """Admit ``n`` calls for ``key``, sleeping on the clock until the window has room.

        Raises :class:`~day6.errors.RateLimitedError` at once when the room will not come within
        ``timeout`` seconds (assuming no other admissions), so it never sleeps in vain.
        """
        timeout = _timeout(timeout)
        deadline = None if timeout is None else self._clock.now() + timeout
        while not self.try_acquire(key, n):
            wait = self.time_until(key, n)
            self._check_deadline(wait, deadline)
            self._clock.sleep(wait)

    async def aacquire(
        self,
        key: Hashable = "default",
        n: int = 1,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - timed on the injected clock, not the loop's
    ) -> None:
        """The async form of :meth:`acquire` (sleeps with ``clock.asleep``; cancellable)."""
        timeout = _timeout(timeout)
        deadline = None if timeout is None else self._clock.now() + timeout
        while not self.try_acquire(key, n):
            wait = self.time_until(key, n)
            self._check_deadline(wait, deadline)
            await self._clock.asleep(wait)

    # --- internals ------------------------------------------------------------------------------

    def _check_amount(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= self._limit:
            raise ConfigError("n", n, f"an integer number of calls in [1, limit={self._limit}]")

    def _check_deadline(self, wait: float, deadline: float | None) -> None:
        if deadline is not None and self._clock.now() + wait > deadline + 1e-9:
            raise RateLimitedError(
                f"{self.name}: the window has no room within the timeout; retry in {wait:.3f} s",
                retry_after=wait,
            )

    def _current(self, key: Hashable, now: float) -> _Log | _Counter | None:
        # after _evict_idle every key left has a call inside the window, so expire() never
        # empties a state: idle keys form a prefix of the least-recently-admitted order
        self._evict_idle(now)
        state = self._keys.get(key)
        if state is not None:
            state.expire(now, self._window)
        return state

    def _evict_idle(self, now: float) -> None:
        """Drop keys whose newest call has left the window (the front is least recently admitted)."""
        keys = self._keys
        window = self._window
        while keys:
            oldest = next(iter(keys.values()))
            if oldest.newest() + window > now:
                return
            keys.popitem(last=False)

    def _time_until_free_key(self, now: float) -> float:
        leaves_at = next(iter(self._keys.values())).newest() + self._window
        return _delay_until(now, leaves_at - now, lambda t: leaves_at <= t)

    def __repr__(self) -> str:
        return (
            f"SlidingWindowLimiter(name={self.name!r}, limit={self._limit}, window={self._window:g}, "
            f"mode={self._mode!r}, keys={len(self._keys)})"
        )
