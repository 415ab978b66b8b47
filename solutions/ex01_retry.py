"""Exercise 1 (reference answer): exponential backoff with jitter, and a retry loop.

A failed call to a busy service should be retried *later*, and later each time: the delay before
attempt ``n + 1`` doubles with every failure (exponential backoff), stops growing at ``max_delay``
(the cap), and is shifted by a random +-25 % (proportional jitter) so that clients which failed
together do not come back together. Only errors that say "try again" are retried: repeating a bad
request or a spent quota just wastes the attempts.

Randomness comes from an injected ``random.Random`` and waiting from an injected ``sleep``, so a
grader (or a test) can replay the exact schedule without waiting at all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TypeVar

__all__ = ["TransientError", "backoff_delay", "is_retriable", "retry_call"]

T = TypeVar("T")


class TransientError(Exception):
    """An example of a retriable failure, for your own experiments."""

    retriable = True


def is_retriable(exc: BaseException) -> bool:
    """Whether an error says another attempt may succeed (its ``retriable`` attribute is ``True``)."""
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

    ``capped = min(max_delay, base_delay * 2 ** (attempt - 1))``, then
    ``min(max_delay, capped * (1 + jitter * (2 * u - 1)))`` with ``u = rng.random()`` drawn exactly
    once per call. The exponent is compared with the cap in log space first, so attempt 10_000
    returns ``max_delay`` instead of overflowing.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt!r}")
    if not 0.0 <= base_delay <= max_delay or not math.isfinite(max_delay):
        raise ValueError(f"need 0 <= base_delay <= max_delay < inf, got {base_delay!r}, {max_delay!r}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], got {jitter!r}")
    u = rng.random()
    if base_delay == 0.0:
        capped = 0.0
    elif attempt - 1 >= math.log2(max_delay / base_delay):
        capped = max_delay  # 2 ** (attempt - 1) would reach the cap (or overflow a float)
    else:
        capped = min(max_delay, base_delay * 2.0 ** (attempt - 1))
    return min(max_delay, capped * (1.0 + jitter * (2.0 * u - 1.0)))


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
    """Call ``fn`` until it succeeds, retrying retriable errors at most ``attempts`` times in total.

    A non-retriable error is re-raised at once; after the last attempt the last error is re-raised
    as is (same object, traceback intact). Nothing sleeps after the final attempt.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts!r}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_retriable(exc) or attempt == attempts:
                raise
            sleep(backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay, jitter=jitter, rng=rng))
    raise AssertionError("unreachable: the loop returns or raises")
