"""Exercise 5 (reference answer): compose a rate limiter, a circuit breaker and retries.

Each pattern alone is simple; the order they are stacked in is the design decision. For every
attempt ``n`` (counting from 1):

1. **Rate limiter first.** ``bucket.try_acquire()`` refused -> raise :class:`RateLimitedError`.
   Retries are traffic too, so every attempt pays a token. Asking the limiter before the breaker
   means a refused call never holds the breaker's half-open probe slot without reporting back.
2. **Then the breaker.** ``breaker.allow_request()`` refused -> raise :class:`CircuitOpenError`:
   fail fast, no retry, no sleep (waiting out an open circuit is the caller's decision).
3. **Call.** Success -> ``breaker.record_success()`` and return. Any ``Exception`` ->
   ``breaker.record_failure()``; retriable and attempts left -> ``sleep(delay_for(n))`` and go
   again; otherwise re-raise the same error.

The pieces are passed in (duck-typed), so the same function drives the real ``day6`` classes,
your answers to exercises 3 and 4, or scripted test doubles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

__all__ = ["Breaker", "Bucket", "CircuitOpenError", "RateLimitedError", "is_retriable", "resilient_call"]

T = TypeVar("T")


class Breaker(Protocol):
    """What ``resilient_call`` needs from a circuit breaker."""

    def allow_request(self) -> bool: ...
    def record_success(self) -> None: ...
    def record_failure(self) -> None: ...


class Bucket(Protocol):
    """What ``resilient_call`` needs from a rate limiter."""

    def try_acquire(self, tokens: float = 1.0) -> bool: ...


class CircuitOpenError(Exception):
    """The breaker refused the attempt."""

    retriable = False


class RateLimitedError(Exception):
    """The client-side rate limiter refused the attempt."""

    retriable = False


def is_retriable(exc: BaseException) -> bool:
    """Whether an error says another attempt may succeed (its ``retriable`` attribute is ``True``)."""
    return getattr(exc, "retriable", False) is True


def resilient_call(
    fn: Callable[[], T],
    *,
    breaker: Breaker,
    bucket: Bucket,
    attempts: int = 3,
    delay_for: Callable[[int], float],
    sleep: Callable[[float], None],
) -> T:
    """Call ``fn`` behind ``bucket`` and ``breaker``, retrying retriable errors (see the module docs)."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts!r}")
    for attempt in range(1, attempts + 1):
        if not bucket.try_acquire():
            raise RateLimitedError(f"rate limited before attempt {attempt}")
        if not breaker.allow_request():
            raise CircuitOpenError(f"circuit open before attempt {attempt}")
        try:
            result = fn()
        except Exception as exc:
            breaker.record_failure()
            if not is_retriable(exc) or attempt == attempts:
                raise
            sleep(delay_for(attempt))
            continue
        breaker.record_success()
        return result
    raise AssertionError("unreachable: the loop returns or raises")
