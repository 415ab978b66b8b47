"""Exercise 4 (reference answer): a token bucket and a sliding-window log over an injected clock.

Rate limiting on the client side keeps us under the provider's limits *before* it answers 429.

* A **token bucket** holds at most ``capacity`` tokens and gains ``refill_rate`` tokens per second.
  A request spends one token (or more); with no token it is refused. Bursts up to ``capacity``
  pass at once, and over any interval of ``t`` seconds at most ``capacity + refill_rate * t``
  tokens are spent.
* A **sliding-window log** remembers when each admitted request happened and admits a new one only
  while fewer than ``limit`` of them lie in the last ``window`` seconds: a strict "at most N per
  window" with no burst at window boundaries, at the price of memory proportional to ``limit``.

Both refill lazily: they compute what changed since the last look from the injected clock, so no
background thread is needed and a test controls time exactly.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

__all__ = ["Clock", "SlidingWindowLog", "TokenBucket"]


class Clock(Protocol):
    """Anything with ``now()`` in seconds (``day6.clock.FakeClock`` in tests)."""

    def now(self) -> float: ...


def _positive(name: str, value: float) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``refill_rate`` per second; starts full."""

    def __init__(self, *, capacity: float, refill_rate: float, clock: Clock) -> None:
        self._capacity = _positive("capacity", capacity)
        self._rate = _positive("refill_rate", refill_rate)
        self._clock = clock
        self._tokens = self._capacity
        self._updated = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now

    def _check_amount(self, tokens: float) -> None:
        if not 0 < tokens <= self._capacity:
            raise ValueError(f"tokens must be in (0, capacity={self._capacity}], got {tokens!r}")

    def available(self) -> float:
        """Tokens in the bucket right now (never above ``capacity``)."""
        self._refill()
        return self._tokens

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Spend ``tokens`` if the bucket holds that many; otherwise spend nothing and refuse."""
        self._check_amount(tokens)
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def time_until_available(self, tokens: float = 1.0) -> float:
        """Seconds until :meth:`try_acquire` of ``tokens`` would succeed (0.0 if it would now)."""
        self._check_amount(tokens)
        self._refill()
        missing = tokens - self._tokens
        return 0.0 if missing <= 0 else missing / self._rate


class SlidingWindowLog:
    """At most ``limit`` admitted requests in any ``window`` seconds.

    A request admitted at time ``t`` counts against the window until ``t + window`` (exclusive).
    """

    def __init__(self, *, limit: int, window: float, clock: Clock) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        self._limit = limit
        self._window = _positive("window", window)
        self._clock = clock
        self._log: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._log and self._log[0] <= now - self._window:
            self._log.popleft()

    def try_acquire(self) -> bool:
        """Admit and remember this request if fewer than ``limit`` lie in the window."""
        now = self._clock.now()
        self._forget(now)
        if len(self._log) < self._limit:
            self._log.append(now)
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until :meth:`try_acquire` would succeed (0.0 if it would now)."""
        now = self._clock.now()
        self._forget(now)
        if len(self._log) < self._limit:
            return 0.0
        return self._log[0] + self._window - now
