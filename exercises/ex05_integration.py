"""Exercise 5: compose a rate limiter, a circuit breaker and retries into ``resilient_call``.

Each pattern alone is simple; the order they are stacked in is the design decision. Lab 4
(notebooks/04_integration.ipynb) runs the full agent; here you write its core loop. The breaker and
bucket are passed in (duck-typed), so your function works with the ``day6`` classes, with your
answers to exercises 3 and 4, and with the grader's scripted doubles.

Check your work with ``day6 check ex05`` or ``day6.grading.check("ex05")``. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Breaker(Protocol):
    """What ``resilient_call`` needs from a circuit breaker (given)."""

    def allow_request(self) -> bool: ...
    def record_success(self) -> None: ...
    def record_failure(self) -> None: ...


class Bucket(Protocol):
    """What ``resilient_call`` needs from a rate limiter (given)."""

    def try_acquire(self, tokens: float = 1.0) -> bool: ...


class CircuitOpenError(Exception):
    """The breaker refused the attempt (given)."""

    retriable = False


class RateLimitedError(Exception):
    """The client-side rate limiter refused the attempt (given)."""

    retriable = False


def is_retriable(exc: BaseException) -> bool:
    """Whether an error says another attempt may succeed (given, as in Exercise 1)."""
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
    """Call ``fn`` behind ``bucket`` and ``breaker``, retrying retriable errors.

    Specification. ``attempts < 1`` -> ``ValueError`` (nothing else is touched). Then for each
    attempt ``n = 1, 2, ..., attempts``, in this order:

    1. ``bucket.try_acquire()`` returns ``False`` -> raise :class:`RateLimitedError`. Every
       attempt, retries included, costs one token (call it with no arguments).
    2. ``breaker.allow_request()`` returns ``False`` -> raise :class:`CircuitOpenError` (fail
       fast: no retry, no sleep). Asking the limiter first means a refused call never holds the
       breaker's half-open probe slot without reporting back.
    3. Call ``fn()``. It returns -> ``breaker.record_success()``, then return the value.
    4. It raises an ``Exception`` -> ``breaker.record_failure()``. If the error is retriable and
       ``n < attempts``: ``sleep(delay_for(n))`` and continue with the next attempt. Otherwise
       re-raise that same exception object.

    Example: ``fn`` fails once with a retriable error, then returns ``"ok"``. The calls are:
    ``try_acquire``, ``allow_request``, ``fn`` (fails), ``record_failure``,
    ``sleep(delay_for(1))``, ``try_acquire``, ``allow_request``, ``fn``, ``record_success``.
    """
    # TODO 1: validate attempts.
    # TODO 2: for each attempt: limiter, then breaker, then the call (see steps 1-4).
    raise NotImplementedError("resilient_call: complete TODO 1-2")
