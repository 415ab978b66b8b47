"""Shared pieces of the rate-limiting suite: the event records, the headroom view, validation.

Every limiter in :mod:`day6.rate_limit` reports the same two events (topics from the table in
:mod:`day6._events`) and answers the same dashboard question through :class:`Headroom`, so a
monitor or a plot can treat a token bucket, a sliding window, a quota and a bulkhead alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from day6._validate import non_negative
from day6.errors import ConfigError

__all__ = ["Headroom", "LimiterDecision", "LimiterRateChanged"]


@dataclass(frozen=True, slots=True)
class LimiterDecision:
    """A limiter admitted or refused ``amount`` units.

    ``headroom`` is what the limiter still had *after* the decision, in its own unit (tokens for a
    bucket, free slots for a window or a bulkhead, the tightest budget's remainder for a quota).
    """

    topic: ClassVar[str] = "limiter.decision"
    name: str
    allowed: bool
    amount: float
    headroom: float
    at: float


@dataclass(frozen=True, slots=True)
class LimiterRateChanged:
    """An adaptive limiter moved its rate from ``old_rate`` to ``new_rate`` (units per second)."""

    topic: ClassVar[str] = "limiter.rate"
    name: str
    old_rate: float
    new_rate: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Headroom:
    """A non-blocking snapshot for dashboards: how much could be admitted right now.

    ``available`` and ``limit`` are in the limiter's own unit; ``waiting`` counts callers blocked
    in ``acquire``; ``rate`` is the refill rate in units per second when the limiter has one;
    ``retry_in`` is the seconds until one more unit is available (0.0 when one is available now).
    """

    name: str
    available: float
    limit: float
    waiting: int = 0
    rate: float | None = None
    retry_in: float = 0.0

    @property
    def fraction(self) -> float:
        """``available / limit`` clamped to [0, 1]: 1.0 is idle, 0.0 is saturated."""
        return min(1.0, max(0.0, self.available / self.limit)) if self.limit > 0 else 0.0


# --- validation ---------------------------------------------------------------------------------
# Settings are checked once, at construction (the number helpers live in day6._validate). NaN fails
# every comparison, so the bounds in `_fraction` reject it (and infinity) without a separate check.


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fraction(setting: str, value: Any, *, low_open: bool = True) -> float:
    """A fraction in (0, 1) (``low_open``) or [0, 1]."""
    ok = _is_number(value) and (0.0 < value < 1.0 if low_open else 0.0 <= value <= 1.0)
    if not ok:
        raise ConfigError(setting, value, "a fraction in (0, 1)" if low_open else "a fraction in [0, 1]")
    return float(value)


def _timeout(value: Any) -> float | None:
    """``None`` (wait as long as it takes) or finite seconds >= 0."""
    if value is None:
        return None
    return non_negative("timeout", value, allowed="None or finite seconds >= 0")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("name", value, "a non-empty string")
    return value


# --- float-exact waits --------------------------------------------------------------------------

_SLACK = 1e-9
"""Deadlines tolerate one nanosecond of float rounding: a wait computed as exactly the remaining
time must not be refused because ``(n - tokens) / rate`` rounded up by an ulp."""


def _delay_until(now: float, guess: float, ready: Callable[[float], bool]) -> float:
    """The smallest delay ``d >= guess`` (up to a few ulps) with ``ready(now + d)`` true in floats.

    Waits are computed by formula (``(n - tokens) / rate``), but the clock after a sleep reads
    ``now + d`` rounded to a float, and the admission check re-derives tokens from that reading.
    One rounding the wrong way would leave the waiter an ulp short and have it sleep again for a
    delay so small that ``now + d == now``: a spin. Nudging ``d`` up until the check really passes
    at ``now + d`` makes "sleep ``time_until(n)``, then acquire" succeed by construction.
    ``ready`` must be monotone in time (once ready, ready later too).
    """
    target = now + max(guess, 0.0)
    while not ready(target):
        target = math.nextafter(target, math.inf)
    delay = target - now
    while now + delay < target:
        delay = math.nextafter(delay, math.inf)
    return max(delay, 0.0)
