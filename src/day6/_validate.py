"""Settings validation shared by every day6 module (private: the modules use it, it is not public API).

Settings are checked once, at construction, and a bad one raises
:class:`~day6.errors.ConfigError` naming the setting, the value and what is allowed. Three rules
hold for every helper here:

* **bool is not a number.** ``True`` is an ``int`` in Python, but ``timeout=True`` is a bug,
  not "one second".
* **NaN and infinity are refused explicitly.** NaN fails every comparison (so ``nan <= 0`` would
  let it through a naive check) and "infinitely many seconds" is a typo, not a plan.
* **The caller owns the wording.** ``allowed`` is the text after ``is invalid:`` in the message;
  each module keeps its own phrasing ("finite seconds > 0", "requests per second >= 0") because
  the phrasing is part of what tests and notebooks show.

The helpers return the value as a ``float`` (or ``int``), so a constructor validates and stores
in one line: ``self._window = positive("window", window)``.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from day6.errors import ConfigError

__all__ = ["finite", "int_at_least", "is_real", "non_negative", "positive"]


def is_real(value: object) -> TypeGuard[float]:
    """True for a finite ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite(setting: str, value: object, *, allowed: str = "a finite number") -> float:
    """``value`` as a float if it is a finite real number (any sign), else :class:`ConfigError`."""
    if not is_real(value):
        raise ConfigError(setting, value, allowed)
    return float(value)


def positive(
    setting: str, value: object, *, allowed: str = "a finite number > 0", maximum: float = math.inf
) -> float:
    """``value`` as a float if it is finite and in ``(0, maximum]``, else :class:`ConfigError`.

    ``maximum`` is inclusive; name it in ``allowed`` when you set it, so the message says why.
    """
    if not is_real(value) or not 0 < value <= maximum:
        raise ConfigError(setting, value, allowed)
    return float(value)


def non_negative(setting: str, value: object, *, allowed: str = "a finite number >= 0") -> float:
    """``value`` as a float if it is finite and ``>= 0``, else :class:`ConfigError`."""
    if not is_real(value) or value < 0:
        raise ConfigError(setting, value, allowed)
    return float(value)


def int_at_least(setting: str, value: object, minimum: int, *, allowed: str | None = None) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``, else :class:`ConfigError`.

    Floats are refused even when integral (``3.0``): a count that arrives as a float usually
    came from a division somebody forgot to round. ``allowed`` defaults to
    ``"an integer >= {minimum}"``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(setting, value, f"an integer >= {minimum}" if allowed is None else allowed)
    return value
