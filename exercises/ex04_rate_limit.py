"""Exercise 4: a token bucket and a sliding-window log over an injected clock.

Client-side rate limiting keeps us under a provider's limits *before* it answers 429. Lab 3
(notebooks/03_rate_limiting.ipynb) compares the two algorithms you write here.

Both must refill *lazily*: compute what changed since the last look from ``clock.now()``; no
threads, no ``time`` module. Check your work with ``day6 check ex04`` or
``day6.grading.check("ex04")``. Standard library only.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` in seconds (given). Tests pass ``day6.clock.FakeClock``."""

    def now(self) -> float: ...


class TokenBucket:
    """At most ``capacity`` tokens, refilled continuously at ``refill_rate`` tokens per second.

    Specification:

    * ``__init__(*, capacity, refill_rate, clock)``: both must be finite and ``> 0``, else
      ``ValueError``. The bucket starts **full**.
    * Refill: at any moment ``tokens = min(capacity, tokens + elapsed * refill_rate)`` where
      ``elapsed`` is the time since the previous refill (``clock.now()`` differences).
    * :meth:`available` returns the tokens right now (after refilling).
    * :meth:`try_acquire(tokens=1.0) <try_acquire>`: ``tokens`` must satisfy
      ``0 < tokens <= capacity`` (else ``ValueError``: more than capacity could never succeed).
      If the bucket holds at least ``tokens``, take them and return ``True``; otherwise take
      nothing and return ``False``.
    * :meth:`time_until_available(tokens=1.0) <time_until_available>`: seconds until
      ``try_acquire(tokens)`` would succeed, ``0.0`` if it would succeed now. Takes nothing.

    Example: ``capacity=2``, ``refill_rate=1``: two ``try_acquire()`` succeed, the third fails;
    ``time_until_available()`` is then ``1.0``; after ``clock.advance(0.5)`` it is ``0.5``.
    """

    def __init__(self, *, capacity: float, refill_rate: float, clock: Clock) -> None:
        # TODO 1: validate, start full, remember when you last refilled.
        raise NotImplementedError("TokenBucket.__init__: complete TODO 1")

    def available(self) -> float:
        """Tokens in the bucket right now."""
        # TODO 2: refill lazily, then report.
        raise NotImplementedError("TokenBucket.available: complete TODO 2")

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if present; otherwise take nothing and return ``False``."""
        # TODO 3
        raise NotImplementedError("TokenBucket.try_acquire: complete TODO 3")

    def time_until_available(self, tokens: float = 1.0) -> float:
        """Seconds until ``try_acquire(tokens)`` would succeed (0.0 when it would now)."""
        # TODO 4
        raise NotImplementedError("TokenBucket.time_until_available: complete TODO 4")


class SlidingWindowLog:
    """At most ``limit`` admitted requests in any ``window`` seconds.

    Specification:

    * ``__init__(*, limit, window, clock)``: ``limit >= 1`` and a finite ``window > 0``, else
      ``ValueError``.
    * A request admitted at time ``t`` counts against the window until ``t + window``
      (exclusive): at exactly ``t + window`` it no longer counts.
    * :meth:`try_acquire`: if fewer than ``limit`` admitted requests still count, record
      ``clock.now()`` and return ``True``; otherwise return ``False`` (a refused request is not
      recorded).
    * :meth:`retry_after`: seconds until :meth:`try_acquire` would succeed: ``0.0`` if it would
      now, else ``oldest_counted + window - now``.
    """

    def __init__(self, *, limit: int, window: float, clock: Clock) -> None:
        # TODO 5: validate and create an empty log (collections.deque is a good fit).
        raise NotImplementedError("SlidingWindowLog.__init__: complete TODO 5")

    def try_acquire(self) -> bool:
        """Admit and record this request if the window has room."""
        # TODO 6: forget timestamps that no longer count, then decide.
        raise NotImplementedError("SlidingWindowLog.try_acquire: complete TODO 6")

    def retry_after(self) -> float:
        """Seconds until :meth:`try_acquire` would succeed (0.0 when it would now)."""
        # TODO 7
        raise NotImplementedError("SlidingWindowLog.retry_after: complete TODO 7")
