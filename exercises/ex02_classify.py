"""Exercise 2: what kind of failure is this, and is it worth another attempt?

A resilience layer needs two answers about a failed call: *what kind* of failure it was (each kind
calls for a different response) and *whether retrying can help*. A 429 with
``rate_limit_exceeded`` clears up in seconds; a 429 with ``insufficient_quota`` will not clear up
until someone pays, so retrying it only burns attempts. Servers also say how long to wait
(``retry-after-ms`` or ``retry-after``), and a polite client listens.

Check your work with ``day6 check ex02`` or ``day6.grading.check("ex02")``. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
"""Error codes that mean the budget is spent: a 429 with one of these is not a rate limit."""


@dataclass(frozen=True)
class Classification:
    """The verdict on one failure (given, do not change): its ``kind`` and whether to retry it."""

    kind: str
    retriable: bool


def classify(status: int | None, code: str | None = None) -> Classification:
    """Classify an HTTP status (``None`` = no response arrived) and an optional error ``code``.

    Return ``Classification(kind, retriable)`` following this table; the first matching row wins.
    Compare ``code`` case-insensitively, ignoring surrounding whitespace (``" Timeout "`` is
    ``"timeout"``); ``code`` may be ``None``.

    =======================  ================================  ==================  =========
    status                   code                              kind                retriable
    =======================  ================================  ==================  =========
    ``None`` (no response)   ``"timeout"``                     ``timeout``         yes
    ``None``                 anything else (or ``None``)       ``network``         yes
    408                      any                               ``timeout``         yes
    409                      any                               ``conflict``        yes
    429                      one of :data:`QUOTA_CODES`        ``quota_exhausted`` no
    429                      anything else                     ``rate_limit``      yes
    400 or 422               ``"context_length_exceeded"``     ``context_length``  no
    401 or 403               any                               ``auth``            no
    404                      any                               ``not_found``       no
    503 or 529               any                               ``overloaded``      yes
    any other 500..599       any                               ``server_error``    yes
    any other 400..499       any                               ``bad_request``     no
    anything else            any                               ``unknown``         no
    =======================  ================================  ==================  =========
    """
    # TODO 1: normalise the code (None stays "no code").
    # TODO 2: walk the table from top to bottom and return the first matching row.
    raise NotImplementedError("classify: complete TODO 1-2")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait before the next attempt, or ``None``.

    Specification:

    * Header names are case-insensitive (``Retry-After`` is ``retry-after``).
    * ``retry-after-ms`` holds milliseconds, ``retry-after`` seconds; both may be integers or
      decimals (``"1.5"``). When both are present and valid, ``retry-after-ms`` wins.
    * A value that is not a finite, non-negative number (``"soon"``, ``"-1"``, ``"nan"``,
      ``"inf"``, an HTTP date) is ignored as if the header were absent; so an invalid
      ``retry-after-ms`` falls back to a valid ``retry-after``.
    * Return a ``float`` number of seconds, or ``None`` when no valid header is present.

    Example: ``{"Retry-After-Ms": "250", "retry-after": "3"}`` -> ``0.25``.
    """
    # TODO 3: look headers up case-insensitively.
    # TODO 4: parse each candidate safely (float() raises ValueError on junk; check finiteness).
    # TODO 5: prefer retry-after-ms (converted to seconds), then retry-after, else None.
    raise NotImplementedError("parse_retry_after: complete TODO 3-5")
