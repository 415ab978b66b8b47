"""Exercise 1: exponential backoff with jitter, and a retry loop that only retries what is worth it.

Lab 1 (notebooks/01_retry.ipynb) shows why: retrying at once hammers a struggling
server, and clients that failed together retry together (the thundering herd). Here you write the
two pieces yourself. Check your work at any time (offline, visible checks only)::

    day6 check ex01                   # in a terminal, from the folder that holds exercises/
    day6.grading.check("ex01")        # in a notebook

Rules for both functions: time and randomness are *injected*. Never call ``time.sleep`` or the
``random`` module's functions directly; use the ``sleep`` and ``rng`` you are given, so a grader can
replay your schedule exactly without waiting. Use only the standard library.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TransientError(Exception):
    """An example of a retriable failure, for your own experiments (given, do not change)."""

    retriable = True


def is_retriable(exc: BaseException) -> bool:
    """Whether an error says another attempt may succeed (given, do not change).

    An error is retriable when it carries a ``retriable`` attribute that is exactly ``True``
    (Exercise 2 decides that flag from HTTP statuses). Everything else is permanent.
    """
    return getattr(exc, "retriable", False) is True


def backoff_delay(
    attempt: int,
    *,
    base_delay: float,
    max_delay: float,
    jitter: float = 0.25,
    rng: random.Random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = after the first failure).

    Specification:

    1. Validate: ``attempt < 1`` -> ``ValueError``; unless ``0 <= base_delay <= max_delay`` and
       ``max_delay`` is finite -> ``ValueError``; ``jitter`` outside ``[0, 1]`` -> ``ValueError``.
    2. Exponential growth, capped: ``capped = min(max_delay, base_delay * 2 ** (attempt - 1))``.
       It must also work for ``attempt=10_000`` (return the cap; an ``OverflowError`` is a bug).
    3. Proportional jitter: draw ``u = rng.random()`` **exactly once per call** (also when
       ``jitter == 0``, so the generator advances the same way every time), then return
       ``min(max_delay, capped * (1 + jitter * (2 * u - 1)))``: within +-``jitter`` of ``capped``
       and never above ``max_delay``.

    Example with ``jitter=0``, ``base_delay=0.1``, ``max_delay=0.5``: attempts 1, 2, 3, 4 give
    0.1, 0.2, 0.4, 0.5.
    """
    # TODO 1: validate the arguments (raise ValueError with a helpful message).
    # TODO 2: compute the capped exponential delay without overflowing for huge attempts
    #         (hint: compare attempt - 1 with math.log2(max_delay / base_delay) first).
    # TODO 3: draw u = rng.random() once and apply the proportional jitter, then cap again.
    raise NotImplementedError("backoff_delay: complete TODO 1-3")


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    jitter: float = 0.25,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> T:
    """Call ``fn()`` until it succeeds, making at most ``attempts`` attempts in total.

    Specification:

    1. ``attempts < 1`` -> ``ValueError``, before ``fn`` is ever called.
    2. ``fn()`` returns -> return its value.
    3. ``fn()`` raises an ``Exception`` that is **not** retriable (see :func:`is_retriable`) ->
       re-raise it at once (no sleep, no further attempt).
    4. It raises a retriable error and this was attempt ``n < attempts`` ->
       ``sleep(backoff_delay(n, base_delay=..., max_delay=..., jitter=..., rng=rng))``, then try
       again.
    5. The final attempt fails -> re-raise that last error itself (the same exception object, not
       a new one) and do **not** sleep after it.
    6. Only ``Exception`` subclasses are handled: ``KeyboardInterrupt`` and other
       ``BaseException`` s propagate immediately.

    Example: ``fn`` fails twice with :class:`TransientError`, then returns ``"ok"``; with
    ``jitter=0`` and ``base_delay=0.1`` the sleeps are ``[0.1, 0.2]`` and the result is ``"ok"``.
    """
    # TODO 4: validate attempts.
    # TODO 5: loop over attempt numbers 1..attempts; return on success.
    # TODO 6: on an Exception, re-raise when it is not retriable or when it was the last attempt;
    #         otherwise sleep for backoff_delay(attempt, ...) and continue.
    raise NotImplementedError("retry_call: complete TODO 4-6")
