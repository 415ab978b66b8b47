"""Exercise 2 (reference answer): what kind of failure is this, and is it worth another attempt?

A resilience layer needs only a few answers about a failed call: *what kind* of failure it was
(each kind calls for a different response) and *whether retrying can help*. A 429 with
``rate_limit_exceeded`` clears up in seconds; a 429 with ``insufficient_quota`` will not clear up
until someone pays, so retrying it only burns attempts. Servers often say exactly how long to wait
(``retry-after-ms`` or ``retry-after``), and a polite client listens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["QUOTA_CODES", "Classification", "classify", "parse_retry_after"]

QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
"""Error codes that mean the budget is spent: a 429 with one of these is not a rate limit."""


@dataclass(frozen=True)
class Classification:
    """The verdict on one failure: its kind (a string from the table) and whether to retry it."""

    kind: str
    retriable: bool


def classify(status: int | None, code: str | None = None) -> Classification:
    """Classify an HTTP status (``None`` = no response at all) and an optional error code."""
    norm = code.strip().lower() if code is not None else ""
    if status is None:
        return Classification("timeout", True) if norm == "timeout" else Classification("network", True)
    if status == 408:
        return Classification("timeout", True)
    if status == 409:
        return Classification("conflict", True)
    if status == 429:
        if norm in QUOTA_CODES:
            return Classification("quota_exhausted", False)
        return Classification("rate_limit", True)
    if status in (400, 422) and norm == "context_length_exceeded":
        return Classification("context_length", False)
    if status in (401, 403):
        return Classification("auth", False)
    if status == 404:
        return Classification("not_found", False)
    if status in (503, 529):
        return Classification("overloaded", True)
    if 500 <= status <= 599:
        return Classification("server_error", True)
    if 400 <= status <= 499:
        return Classification("bad_request", False)
    return Classification("unknown", False)


def _seconds(value: str | None, scale: float) -> float | None:
    """``value`` as a finite, non-negative number times ``scale``; ``None`` when it is not one."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number * scale


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms`` wins over ``retry-after``; else ``None``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    millis = _seconds(lowered.get("retry-after-ms"), 0.001)
    if millis is not None:
        return millis
    return _seconds(lowered.get("retry-after"), 1.0)
