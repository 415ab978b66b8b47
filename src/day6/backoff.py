"""How long to wait before the next attempt: pure, clamped backoff schedules.

A retry that fires immediately hits a struggling server again while it is still down, and when
thousands of clients fail together they retry together: the *thundering herd*. Two ideas fix it:

1. **Exponential backoff** spreads attempts out in time. Attempt ``n`` (counting from 1) that
   failed is followed by ::

       raw(n) = min(cap, base * multiplier ** (n - 1))

   so the lesson's defaults (``base=0.1``, ``multiplier=2``, ``cap=10``) give 0.1, 0.2, 0.4, ...
   seconds, never more than 10.

2. **Jitter** de-synchronises clients that failed at the same moment, so their retries do not
   arrive as one spike. Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog,
   2015) compares the variants offered here; with ``U(a, b)`` a uniform draw and ``d = raw(n)``:

   ==============  ====================================  ===============================
   jitter          delay                                 bounds
   ==============  ====================================  ===============================
   NONE            ``d``                                 exactly ``d``
   PROPORTIONAL    ``min(cap, d * (1 + U(-r, +r)))``     ``[d(1-r), min(cap, d(1+r))]``
   FULL            ``U(0, d)``                           ``[0, d]``
   EQUAL           ``d/2 + U(0, d/2)``                   ``[d/2, d]``
   DECORRELATED    ``min(cap, U(base, 3 * previous))``   ``[base, cap]``
   ==============  ====================================  ===============================

   PROPORTIONAL (``r = jitter_ratio = 0.25``) is the lesson's "+-25 %" and day6's default: it keeps
   the shape of the exponential curve, which makes plots easy to read. FULL spreads load best
   (Brooker measured it doing the least total work) at the price of sometimes retrying almost at
   once; EQUAL guarantees at least half the backoff; DECORRELATED grows from the *previous
   delay* instead of the attempt number, so it needs ``previous``.

Guarantees, for every setting that passes validation: every delay is a finite float, never
negative, never NaN, never above ``cap``; ``raw`` is non-decreasing in the attempt number; and
nothing overflows or raises for any attempt from 1 to 10**9 (the exponent is compared with the
cap in log space before anything is raised to a power). A schedule draws its randomness only from
the ``random.Random`` it is handed, so a seeded generator repeats a schedule exactly.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from day6._validate import finite
from day6.errors import ConfigError

__all__ = ["Backoff", "Jitter"]


class Jitter(enum.StrEnum):
    """How a delay is randomised around (or below) the exponential curve; see the module table."""

    NONE = "none"
    PROPORTIONAL = "proportional"
    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"


_JITTER_ALLOWED = "one of " + ", ".join(j.value for j in Jitter)


def _require_real(setting: str, value: object) -> float:
    """``value`` as a finite float, or :class:`ConfigError` naming ``setting`` (bools, NaN, inf refused).

    The message says which rule broke: a float that is not finite is NaN or inf; anything else
    that is refused has the wrong type (a str, a bool, None).
    """
    if isinstance(value, float):
        return finite(setting, value, allowed="must be finite (NaN and inf are refused)")
    return finite(setting, value, allowed="must be a real number of seconds or a ratio (int or float)")


def _as_jitter(value: object) -> Jitter:
    """A :class:`Jitter` from an enum member or its string value (``"full"``)."""
    if isinstance(value, Jitter):
        return value
    if isinstance(value, str):
        try:
            return Jitter(value.lower())
        except ValueError:
            pass
    raise ConfigError("jitter", value, _JITTER_ALLOWED)


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential backoff schedule with a cap and a jitter mode (immutable, shareable).

    ``base`` is the first raw delay in seconds, ``multiplier`` the growth per attempt (1 gives a
    constant delay), ``cap`` the largest delay ever returned, ``jitter`` the randomisation (a
    :class:`Jitter` or its string value) and ``jitter_ratio`` the ``r`` of PROPORTIONAL.

    Validation (:class:`~day6.errors.ConfigError` names the setting): every number finite;
    ``base > 0``; ``multiplier >= 1`` (a shrinking "backoff" would hammer a server harder the
    longer it fails); ``cap >= base``; ``0 <= jitter_ratio <= 1`` (above 1 a delay could go
    negative). The one exception is the zero schedule ``base == cap == 0`` of :meth:`none`, the
    "no backoff" baseline the labs compare against.
    """

    base: float = 0.1
    multiplier: float = 2.0
    cap: float = 10.0
    jitter: Jitter = Jitter.PROPORTIONAL
    jitter_ratio: float = 0.25

    def __post_init__(self) -> None:
        base = _require_real("base", self.base)
        multiplier = _require_real("multiplier", self.multiplier)
        cap = _require_real("cap", self.cap)
        ratio = _require_real("jitter_ratio", self.jitter_ratio)
        zero_schedule = base == 0.0 and cap == 0.0
        if not (base > 0.0 or zero_schedule):
            raise ConfigError("base", self.base, "must be > 0 seconds (Backoff.none() is the zero schedule)")
        if multiplier < 1.0:
            raise ConfigError("multiplier", self.multiplier, "must be >= 1 (delays must not shrink)")
        if cap < base:
            raise ConfigError("cap", self.cap, f"must be >= base ({base!r})")
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("jitter_ratio", self.jitter_ratio, "must be between 0 and 1")
        # Normalise ints and strings so equality, hashing and repr are canonical.
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "multiplier", multiplier)
        object.__setattr__(self, "cap", cap)
        object.__setattr__(self, "jitter_ratio", ratio)
        object.__setattr__(self, "jitter", _as_jitter(self.jitter))

    @classmethod
    def none(cls) -> Backoff:
        """The zero schedule: every delay is 0 (retry at once). A baseline, not a recommendation."""
        return cls(base=0.0, multiplier=1.0, cap=0.0, jitter=Jitter.NONE, jitter_ratio=0.0)

    def raw(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt ``attempt`` (1-based): ``min(cap, base * m**(n-1))``.

        Computed without overflow: if ``(n - 1) * log(m) >= log(cap) - log(base)`` the power would
        reach the cap anyway, so the cap is returned without evaluating it. Non-decreasing in
        ``attempt``; ``attempt < 1`` raises :class:`~day6.errors.ConfigError`.
        """
        _check_attempt(attempt)
        if self.base == 0.0 or self.multiplier == 1.0:
            return self.base
        exponent = attempt - 1
        log_growth = exponent * math.log(self.multiplier)
        if log_growth >= math.log(self.cap) - math.log(self.base):
            return self.cap
        try:
            return min(self.cap, self.base * self.multiplier**exponent)
        except OverflowError:  # only when cap / base exceeds the float range (a tiny base)
            return min(self.cap, math.exp(math.log(self.base) + log_growth))

    def delay(self, attempt: int, rng: random.Random, previous: float | None = None) -> float:
        """The jittered delay after failed attempt ``attempt``, drawn from ``rng``.

        ``previous`` is the delay used before this one; only DECORRELATED reads it (``None``, a
        value below ``base``, or NaN count as ``base``: the AWS article's starting point). Every
        mode draws at most one number from ``rng``; NONE draws none.
        """
        d = self.raw(attempt)
        mode = self.jitter
        if mode is Jitter.NONE:
            return d
        u = rng.random()  # in [0, 1)
        if mode is Jitter.PROPORTIONAL:
            # 1 + r * (2u - 1) lies in [1 - r, 1 + r]; clamping keeps the cap a hard ceiling, so
            # at the cap the jitter is one-sided: [cap * (1 - r), cap].
            return min(self.cap, d * (1.0 + self.jitter_ratio * (2.0 * u - 1.0)))
        if mode is Jitter.FULL:
            return d * u
        if mode is Jitter.EQUAL:
            half = d / 2.0
            return half + half * u
        # DECORRELATED: grows from the previous delay, not from the attempt number.
        prev = previous if previous is not None and previous >= self.base else self.base
        high = 3.0 * min(prev, self.cap)
        return min(self.cap, self.base + (high - self.base) * u)

    def delays(self, n: int, rng: random.Random) -> list[float]:
        """The first ``n`` delays of one retry sequence (attempts 1..n), e.g. for a plot."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError("n", n, "must be an int >= 0")
        out: list[float] = []
        previous: float | None = None
        for attempt in range(1, n + 1):
            previous = self.delay(attempt, rng, previous)
            out.append(previous)
        return out


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ConfigError("attempt", attempt, "must be an int >= 1 (attempts count from 1)")
