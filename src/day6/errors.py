"""What went wrong, and what to do about it: day6's error taxonomy and ``classify()``.

Every exception day6 raises derives from one base, so ``except day6.ResilienceError`` catches
all of them and nothing else::

    ResilienceError
    ├── ConfigError (also a ValueError)  - a setting is invalid; names the setting, value, what is allowed
    ├── RetryError                       - a retry loop gave up; carries the attempt history
    │   ├── RetryBudgetExhaustedError    - the shared retry budget refused another attempt
    │   └── RetryAfterTooLongError       - the server asked to wait longer than the policy allows
    ├── CircuitOpenError                 - the breaker refused the call; says when the next probe is allowed
    ├── RateLimitedError                 - a client-side limiter refused or timed out
    │   ├── QuotaExceededError           - the period's quota is spent; says when it resets
    │   └── BulkheadFullError            - too many calls already in flight
    ├── FaultInjectedError               - a fault the injector raised in-process (not at the wire)
    └── AgentError                       - the resilient agent could not produce any answer

Errors that come *from* the outside world (the openai SDK's ``RateLimitError``, an
``httpx.ConnectError``, a bare 503) are not wrapped. Instead :func:`classify` looks at them and
answers the only questions a resilience layer needs: what kind of failure is it, is it worth
another attempt, and did the server say when to come back?

How :func:`classify` decides
----------------------------
It reads only *structured* facts: the HTTP status, the error ``code`` and ``type`` (from the SDK
exception or the JSON body ``{"error": {"code": ..., "type": ...}}``), the headers, and the
exception's class. It never parses a message: messages change wording, get translated, and can
carry account details that must not end up in logs.

==========================================  ==================  =========  ==========================
what arrives                                kind                retriable  why
==========================================  ==================  =========  ==========================
429, code ``rate_limit_exceeded`` or none   RATE_LIMIT          yes        wait (Retry-After), retry
429/402/403, quota/billing/spend code [1]_  QUOTA_EXHAUSTED     no         money, not time, fixes it
429 tokens, request above the limit [2]_    CONTEXT_LENGTH      no         it can never fit
any status, code ``context_length`` [3]_    CONTEXT_LENGTH      no         shorten the prompt first
402                                         QUOTA_EXHAUSTED     no         payment required
413                                         CONTEXT_LENGTH      no         the request is too large
500, 502, 504, other 5xx                    SERVER_ERROR        yes        transient; trips breakers
503, 529                                    OVERLOADED          yes        the backend sheds load
408                                         TIMEOUT             yes        the server timed out
409                                         CONFLICT            yes        a concurrent change won
400, 422, other 4xx                         BAD_REQUEST         no         fix the request
401, 403                                    AUTH                no         fix the key
404                                         NOT_FOUND           no         wrong model or URL
timeouts (SDK, httpx, httpx2, stdlib)       TIMEOUT             yes
connect/read/write errors, dropped conn.    NETWORK             yes        (TLS certificate: no)
CancelledError, KeyboardInterrupt, exit     CANCELLED           never      the caller gave up
day6 ``CircuitOpenError``                   CIRCUIT_OPEN        no         our breaker, not a fault
day6 ``RateLimitedError``/``QuotaExceeded``  RATE_LIMIT/QUOTA   yes/no
anything else                               UNKNOWN             no         never retry the unknown
==========================================  ==================  =========  ==========================

A response header ``x-should-retry: true|false`` (sent by OpenAI's gateway) overrides the
retriable column for HTTP failures, exactly as the official SDK obeys it.

.. [1] A ``code`` or ``type`` equal to ``insufficient_quota``, ``credit_balance_exhausted``,
   ``billing_hard_limit_reached``, ``usage_limit_exceeded``, or containing one of the whole words
   ``quota``, ``billing``, ``spend``, ``usage_limit``, ``credit(s)``. Codes are compared in
   snake case (``quotaExceeded`` reads as ``quota_exceeded``), word by word, so ``spend`` does
   not match ``account_suspended``.
.. [2] OpenAI's "Request too large" 429 carries ``type: "tokens"`` and
   ``code: "rate_limit_exceeded"``, the same as an ordinary tokens-per-minute limit; only its
   message differs, and we do not parse messages. The rule used instead: a ``tokens`` 429 whose
   ``x-ratelimit-remaining-tokens`` is at least ``x-ratelimit-limit-tokens`` was refused with a
   *full* bucket, so the request alone exceeds the limit and waiting cannot help. A code or type
   containing ``too_large`` (``request_too_large``, as some providers send) means the same.
   Without those headers the 429 stays RATE_LIMIT and the retry policy's attempt cap bounds it.
.. [3] A code or type containing the words ``context_length`` (OpenAI's
   ``context_length_exceeded``) or equal to ``string_above_max_length``.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import json
import math
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol, cast

__all__ = [
    "AgentError",
    "AttemptRecord",
    "BulkheadFullError",
    "CircuitOpenError",
    "Classification",
    "ConfigError",
    "ErrorKind",
    "FaultInjectedError",
    "QuotaExceededError",
    "RateLimitInfo",
    "RateLimitedError",
    "ResilienceError",
    "RetryAfterTooLongError",
    "RetryBudgetExhaustedError",
    "RetryError",
    "classify",
    "parse_ratelimit_headers",
    "parse_reset_duration",
    "parse_retry_after",
]


class ErrorKind(enum.StrEnum):
    """The failure taxonomy. Each kind implies a different response (see the lesson)."""

    RATE_LIMIT = "rate_limit"  # 429 rate_limit_exceeded: wait (Retry-After), then retry
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 insufficient_quota & co.: retrying cannot help
    SERVER_ERROR = "server_error"  # 500/502/504: transient, retry with backoff; trips breakers
    OVERLOADED = "overloaded"  # 503/529: the backend sheds load; back off harder
    TIMEOUT = "timeout"  # no answer in time: retry, and count against the backend
    NETWORK = "network"  # connection refused/reset, DNS: retry with jitter
    CONFLICT = "conflict"  # 409: a concurrent change won; retry re-reads
    AUTH = "auth"  # 401/403: fix the key, never retry
    BAD_REQUEST = "bad_request"  # 400/422: fix the request, never retry
    CONTEXT_LENGTH = "context_length"  # prompt too long: shorten it, never retry as is
    NOT_FOUND = "not_found"  # 404: wrong model or URL
    CANCELLED = "cancelled"  # the caller gave up (CancelledError, KeyboardInterrupt)
    CIRCUIT_OPEN = "circuit_open"  # our own breaker refused; not a backend failure
    UNKNOWN = "unknown"

    @property
    def is_backend_fault(self) -> bool:
        """Whether this failure says the backend is unhealthy (what a circuit breaker counts).

        A 400, a spent quota or a rate limit is not the backend being down: tripping a breaker on
        them would lock out healthy traffic.
        """
        return self in _BACKEND_FAULTS

    @property
    def retriable_by_default(self) -> bool:
        """Whether another attempt can help, absent any server override (``x-should-retry``).

        True for the transient kinds: rate limits, server errors, overload, timeouts, network
        failures and conflicts. Everything else needs a change (a key, a prompt, money) first.
        """
        return self in _TRANSIENT


_BACKEND_FAULTS = frozenset(
    {ErrorKind.SERVER_ERROR, ErrorKind.OVERLOADED, ErrorKind.TIMEOUT, ErrorKind.NETWORK}
)
_TRANSIENT = _BACKEND_FAULTS | {ErrorKind.RATE_LIMIT, ErrorKind.CONFLICT}


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one failure.

    ``retry_after`` is the server's own hint in seconds (already parsed from ``retry-after-ms``,
    ``retry-after`` or ``x-ratelimit-reset-*``), or ``None`` when it gave none.
    """

    kind: ErrorKind
    retriable: bool
    reason: str
    retry_after: float | None = None
    status: int | None = None
    code: str | None = None

    @property
    def is_backend_fault(self) -> bool:
        return self.kind.is_backend_fault


class ResilienceError(Exception):
    """Base of every error day6 raises."""


class ConfigError(ResilienceError, ValueError):
    """An invalid setting. The message names the setting, the value and what is allowed."""

    def __init__(self, setting: str, value: Any, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        super().__init__(f"{setting}={value!r} is invalid: {allowed}")


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt in a retry history: when it started, how it ended, how long was waited after."""

    number: int
    started_at: float
    outcome: str  # "ok" or the ErrorKind value
    error: BaseException | None = None
    delay: float | None = None  # the backoff sleep that followed it, if any


class RetryError(ResilienceError):
    """A retry loop gave up. ``attempts`` is the history; ``__cause__`` is the last error."""

    def __init__(self, message: str, *, attempts: tuple[AttemptRecord, ...] = ()) -> None:
        super().__init__(message)
        self.attempts = attempts

    @property
    def last_error(self) -> BaseException | None:
        return self.__cause__


class RetryBudgetExhaustedError(RetryError):
    """The shared retry budget refused a retry: the system as a whole is retrying too much."""


class RetryAfterTooLongError(RetryError):
    """The server asked to wait longer than the policy's max delay or remaining deadline allows."""

    def __init__(self, message: str, *, retry_after: float, attempts: tuple[AttemptRecord, ...] = ()) -> None:
        super().__init__(message, attempts=attempts)
        self.retry_after = retry_after


class CircuitOpenError(ResilienceError):
    """The circuit breaker is open (or its half-open probe slots are taken).

    ``retry_after`` is how many seconds until the next probe may be admitted (0 when only the
    probe slots are busy); ``name`` is the breaker's name.
    """

    def __init__(self, name: str, *, retry_after: float, state: str = "open") -> None:
        self.name = name
        self.retry_after = max(0.0, retry_after)
        self.state = state
        super().__init__(
            f"circuit {name!r} is {state}: call rejected; next probe allowed in {self.retry_after:.3f} s"
        )


class RateLimitedError(ResilienceError):
    """A client-side limiter refused the call. ``retry_after`` says when capacity returns."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceededError(RateLimitedError):
    """The quota for this period is spent; refusing early saves a call that would fail anyway."""

    def __init__(self, message: str, *, retry_after: float | None = None, resource: str = "requests") -> None:
        super().__init__(message, retry_after=retry_after)
        self.resource = resource


class BulkheadFullError(RateLimitedError):
    """Too many calls are already in flight and the bounded wait ran out."""


class FaultInjectedError(ResilienceError):
    """A fault raised in-process by the fault injector (wire-level faults use the real types).

    ``kind`` is the failure it imitates (default: a server error), so :func:`classify` treats it
    like the real thing; ``retry_after`` is an optional server-style hint in seconds.
    """

    def __init__(
        self, message: str, *, kind: ErrorKind = ErrorKind.SERVER_ERROR, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class AgentError(ResilienceError):
    """The resilient agent could not get an answer from any model; says what failed."""

    message: str
    causes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------------
# Header parsing
# --------------------------------------------------------------------------------------------------

_MAX_SECONDS = 1e9
"""The largest hint a parser returns (about 31 years): finite, so arithmetic on it never yields
inf or NaN. The retry policy applies its own, much smaller, cap."""

_MAX_COUNT = 10**18
"""The largest limit/remaining count a parser returns; longer digit strings are clamped to it."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_COUNT = re.compile(r"([+-]?)(\d+)", re.ASCII)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)", re.ASCII)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}


def _clamp_seconds(value: float) -> float | None:
    """Map a raw number of seconds into ``[0, _MAX_SECONDS]``; NaN is garbage (``None``).

    Negative means "already due", so it becomes 0.0 ("now"); overflow (inf) becomes the cap.
    """
    if math.isnan(value):
        return None
    if not value > 0.0:
        return 0.0
    return min(value, _MAX_SECONDS)


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """A lower-cased copy of ``headers``, so plain dicts are as case-insensitive as httpx's ``Headers``.

    One pass over the headers, then O(1) look-ups; non-string keys or values are dropped.
    httpx/httpx2 ``Headers.items()`` already joins repeated headers with commas.
    """
    return {k.lower(): v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}


def _parse_number(text: str) -> float | None:
    """A decimal number (``"2"``, ``"1.5"``, ``"1e3"``) or ``None``; ``"nan"``/``"inf"`` are garbage."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text)  # may be inf for absurdly long inputs; callers clamp


def _retry_after(lowered: Mapping[str, str], now_wall: float | None) -> float | None:
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        value = _parse_number(milliseconds)
        if value is not None:
            return _clamp_seconds(value / 1000.0)
        # garbage here falls through to retry-after, as the official SDK does
    header = lowered.get("retry-after")
    if header is None:
        return None
    value = _parse_number(header)
    if value is not None:
        return _clamp_seconds(value)
    return _seconds_until_http_date(header, now_wall)


def _seconds_until_http_date(text: str, now_wall: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown origin (RFC 5322)
        when = when.replace(tzinfo=UTC)
    try:
        target = when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    # The one place day6 reads the wall clock itself: an HTTP-date is a calendar instant, so only
    # the calendar (not the monotonic clock) can say how far away it is. Callers holding a Clock
    # pass ``now_wall=clock.wall()`` so tests and simulations stay deterministic.
    now = time.time() if now_wall is None else now_wall
    return _clamp_seconds(target - now)


def parse_retry_after(headers: Mapping[str, str] | None, *, now_wall: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``retry-after``; else ``None``.

    Precedence follows the official OpenAI SDK: ``retry-after-ms`` (milliseconds, fractional,
    non-standard but precise) wins; then ``retry-after`` as (fractional) seconds; then
    ``retry-after`` as an HTTP-date (RFC 9110 section 10.2.3), measured against ``now_wall``.

    ``now_wall`` is Unix-epoch seconds. It defaults to ``time.time()``, read *only* when the header
    is a date: a date is a point on the calendar, so converting it into a delay needs the
    calendar clock; every other day6 duration comes from the injected monotonic clock. Pass
    ``now_wall=clock.wall()`` when you hold a :class:`~day6.clock.Clock`.

    A non-finite ``now_wall`` is treated as not given.

    Guarantees: never raises on any header value; the result is ``None`` (no usable hint) or a
    finite float in ``[0, 1e9]``. Negative values and dates in the past mean "now" (0.0); huge
    values are clamped rather than overflowing. Header names match case-insensitively, for plain
    dicts as well as httpx/httpx2 ``Headers``.
    """
    if not headers:
        return None
    if now_wall is not None and not math.isfinite(now_wall):
        now_wall = None
    return _retry_after(_lowered(headers), now_wall)


def parse_reset_duration(text: str | None) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value, or ``None`` when it is not a duration.

    OpenAI sends Go-style durations: ``"12ms"``, ``"1s"``, ``"6m0s"``, ``"2.844s"``,
    ``"1h2m3s"``; units ``h``, ``m``, ``s``, ``ms``, ``us``/``µs``, ``ns``, each part a decimal
    number, optionally with a leading sign. A bare number (``"20"``, ``"0.5"``) is read as seconds,
    since some gateways drop the unit. Negative durations mean "now" (0.0); the result is clamped
    to ``[0, 1e9]`` and is never NaN or inf. Anything else (``"soon"``, ``"1x"``, ``""``) is
    ``None``.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    bare = _parse_number(text)
    if bare is not None:
        return _clamp_seconds(bare)
    negative = text[:1] == "-"
    if text[:1] in "+-":
        text = text[1:]
    if not text:
        return None
    total = 0.0
    position = 0
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    return _clamp_seconds(-total if negative else total)


def _parse_count(text: str | None) -> int | None:
    if text is None:
        return None
    match = _COUNT.fullmatch(text.strip())
    if match is None:
        return None
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    if sign == "-":
        return 0
    # compare lengths first: int() of a 5000-digit string is slow and limited by Python
    if len(digits) > len(str(_MAX_COUNT)):
        return _MAX_COUNT
    return min(int(digits), _MAX_COUNT)


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What the ``x-ratelimit-*`` headers say about the caller's request and token budgets.

    OpenAI reports two budgets per minute: requests (RPM) and tokens (TPM). For each, ``limit``
    is the budget, ``remaining`` what is left now, and ``reset`` the seconds until it is full
    again. Any field is ``None`` when its header is missing or unreadable. An adaptive limiter
    can slow down *before* the first 429 by watching ``remaining`` fall.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when no rate-limit header was present (or none could be read)."""
        return self == _EMPTY_RATE_LIMIT_INFO

    @property
    def exhausted_reset(self) -> float | None:
        """Seconds until the exhausted budget refills: the wait a 429 without Retry-After implies.

        Takes the longest reset among the budgets whose ``remaining`` is 0 (both must refill
        before the call can pass). When neither ``remaining`` is known, the longest reset
        present is the safe guess; when both are known and neither is 0, ``None``.
        """
        exhausted = [
            reset
            for remaining, reset in (
                (self.remaining_requests, self.reset_requests),
                (self.remaining_tokens, self.reset_tokens),
            )
            if remaining == 0 and reset is not None
        ]
        if exhausted:
            return max(exhausted)
        if self.remaining_requests is None and self.remaining_tokens is None:
            known = [r for r in (self.reset_requests, self.reset_tokens) if r is not None]
            return max(known) if known else None
        return None


_EMPTY_RATE_LIMIT_INFO = RateLimitInfo()


def _ratelimit_info(lowered: Mapping[str, str]) -> RateLimitInfo:
    return RateLimitInfo(
        limit_requests=_parse_count(lowered.get("x-ratelimit-limit-requests")),
        remaining_requests=_parse_count(lowered.get("x-ratelimit-remaining-requests")),
        reset_requests=parse_reset_duration(lowered.get("x-ratelimit-reset-requests")),
        limit_tokens=_parse_count(lowered.get("x-ratelimit-limit-tokens")),
        remaining_tokens=_parse_count(lowered.get("x-ratelimit-remaining-tokens")),
        reset_tokens=parse_reset_duration(lowered.get("x-ratelimit-reset-tokens")),
    )


def parse_ratelimit_headers(headers: Mapping[str, str] | None) -> RateLimitInfo:
    """Read ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` into a :class:`RateLimitInfo`.

    Counts are non-negative integers (a negative count reads as 0, absurdly long ones are
    clamped to 10**18); resets go through :func:`parse_reset_duration`. Garbage becomes ``None``;
    this function never raises on header values.
    """
    if not headers:
        return _EMPTY_RATE_LIMIT_INFO
    return _ratelimit_info(_lowered(headers))


# --------------------------------------------------------------------------------------------------
# classify()
# --------------------------------------------------------------------------------------------------


class _HTTPResponse(Protocol):
    """The part of ``httpx.Response`` and ``httpx2.Response`` that classification reads."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...


class _SDKError(Protocol):
    """The part of ``openai.APIError`` that classification reads (``code``/``type`` from the body)."""

    code: str | None
    type: str | None


class _SDKStatusError(_SDKError, Protocol):
    status_code: int

    @property
    def response(self) -> _HTTPResponse: ...


_STATUS_RULES: dict[int, tuple[ErrorKind, str]] = {
    400: (ErrorKind.BAD_REQUEST, "the request is invalid; fix it, do not retry"),
    401: (ErrorKind.AUTH, "authentication failed; fix the API key, do not retry"),
    402: (ErrorKind.QUOTA_EXHAUSTED, "payment required; retrying cannot help"),
    403: (ErrorKind.AUTH, "permission denied; fix the key or its access, do not retry"),
    404: (ErrorKind.NOT_FOUND, "not found; check the model name and URL"),
    408: (ErrorKind.TIMEOUT, "the server timed out waiting for the request; retry"),
    409: (ErrorKind.CONFLICT, "a concurrent change conflicted; retry"),
    413: (ErrorKind.CONTEXT_LENGTH, "the request is too large; shorten it, do not retry as is"),
    422: (ErrorKind.BAD_REQUEST, "the request is invalid; fix it, do not retry"),
    429: (ErrorKind.RATE_LIMIT, "rate limited; wait for the server's hint, then retry"),
    503: (ErrorKind.OVERLOADED, "the backend is overloaded; back off, then retry"),
    529: (ErrorKind.OVERLOADED, "the backend is overloaded; back off, then retry"),
}
_QUOTA_CODES = frozenset(
    {"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached", "usage_limit_exceeded"}
)
_QUOTA_MARKERS = ("quota", "billing", "spend", "usage_limit", "credit", "credits")
_CONTEXT_CODES = frozenset({"string_above_max_length"})
_CONTEXT_MARKERS = ("context_length", "too_large")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-zA-Z0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,48}", re.ASCII)
_MAX_BODY = 64 * 1024
"""Bodies larger than this are not parsed for an error code (an error body is a few hundred bytes)."""


def _identifier(value: object) -> str | None:
    """``value`` if it looks like an error code (short, plain characters); else ``None``.

    Codes end up in ``Classification.code`` and in reasons that get logged, so anything that is
    not an identifier-like token (a sentence, a blob, a possible secret) is dropped. The length
    cap (48) is below any OpenAI or Anthropic key's length, and ``sk-`` keys are refused outright.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value) and not value.startswith("sk-"):
        return value
    return None


def _snake(value: str) -> str:
    """``"quotaExceeded"``, ``"quota-exceeded"`` and ``"QUOTA_EXCEEDED"`` all become ``"quota_exceeded"``."""
    return _SEPARATORS.sub("_", _CAMEL_HUMP.sub("_", value)).lower()


def _matches(fields: tuple[str, ...], exact: frozenset[str], markers: tuple[str, ...]) -> bool:
    """Whether a (snake-case) field is in ``exact`` or contains a marker as whole ``_``-separated words.

    Whole words, so ``"spend"`` matches ``monthly_spend_cap`` but not ``account_suspended``, and
    ``"credit"`` matches ``credit_balance_exhausted`` but not ``invalid_credentials``.
    """
    return any(f in exact or any(f"_{m}_" in f"_{f}_" for m in markers) for f in fields)


def _body_fields(response: _HTTPResponse) -> tuple[str | None, str | None]:
    """``(code, type)`` from a JSON body ``{"error": {...}}`` (or a bare ``{...}``), if readable."""
    try:
        content = response.content
    except Exception:  # a streamed response that was never read: no body to look at
        return None, None
    if not content or len(content) > _MAX_BODY:
        return None, None
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None, None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return _identifier(error.get("code")), _identifier(error.get("type"))
    return None, None


def _http_verdict(
    status: int | None, code: str | None, etype: str | None, info: RateLimitInfo
) -> tuple[ErrorKind, str]:
    """The kind and a short explanation for an HTTP-level failure (status and/or code/type)."""
    fields = tuple(_snake(f) for f in (code, etype) if f)
    if _matches(fields, _CONTEXT_CODES, _CONTEXT_MARKERS):
        return (
            ErrorKind.CONTEXT_LENGTH,
            "the request is too long for the model; shorten it, do not retry as is",
        )
    if status in (None, 402, 403, 429) and _matches(fields, _QUOTA_CODES, _QUOTA_MARKERS):
        return ErrorKind.QUOTA_EXHAUSTED, "the quota or credit is spent; retrying cannot help"
    if status == 429 and "tokens" in fields and _over_whole_budget(info):
        return ErrorKind.CONTEXT_LENGTH, "the request alone exceeds the tokens-per-minute limit; shorten it"
    if status is None:
        if "rate_limit_exceeded" in fields:
            return _STATUS_RULES[429]
        if "server_error" in fields:
            return ErrorKind.SERVER_ERROR, "the server reported an error; retry with backoff"
        return ErrorKind.UNKNOWN, "an API error without a status; not retried"
    rule = _STATUS_RULES.get(status)
    if rule is not None:
        return rule
    if 500 <= status <= 599:
        return ErrorKind.SERVER_ERROR, "the server failed; retry with backoff"
    if 400 <= status <= 499:
        return ErrorKind.BAD_REQUEST, "the request was refused; fix it, do not retry"
    return ErrorKind.UNKNOWN, "not an error status; not retried"


def _over_whole_budget(info: RateLimitInfo) -> bool:
    """A tokens 429 while the token budget is full: the request can never fit (see note [2])."""
    return (
        info.limit_tokens is not None
        and info.remaining_tokens is not None
        and info.remaining_tokens >= info.limit_tokens
    )


def _from_http(
    status: int | None,
    code: str | None,
    etype: str | None,
    headers: Mapping[str, str] | None,
    now_wall: float | None,
) -> Classification:
    lowered = _lowered(headers) if headers else {}
    info = _ratelimit_info(lowered) if status == 429 or status is None else _EMPTY_RATE_LIMIT_INFO
    kind, why = _http_verdict(status, code, etype, info)
    retriable = kind.retriable_by_default
    override = lowered.get("x-should-retry", "").strip().lower()
    if override in ("true", "false") and (override == "true") != retriable:
        retriable = override == "true"
        why = f"{why} (overridden: server sent x-should-retry: {override})"
    retry_after = _retry_after(lowered, now_wall) if lowered else None
    if retry_after is None and kind is ErrorKind.RATE_LIMIT:
        retry_after = info.exhausted_reset
    label = f"HTTP {status}" if status is not None else "API error"
    shown = code or etype
    reason = f"{label} ({shown}): {why}" if shown else f"{label}: {why}"
    return Classification(kind, retriable, reason, retry_after=retry_after, status=status, code=code)


def _from_response(response: _HTTPResponse, now_wall: float | None) -> Classification:
    status = response.status_code
    code, etype = _body_fields(response) if status >= 400 else (None, None)
    return _from_http(status, code, etype, response.headers, now_wall)


def _loaded(name: str) -> Any:
    """The module ``name`` if something already imported it, else ``None``.

    An exception or response of a library can only exist if that library was imported, so
    classify never needs to import openai (slow) or httpx itself: ``import day6`` stays cheap.
    """
    return sys.modules.get(name)


def _http_modules() -> tuple[Any, ...]:
    return tuple(m for m in (_loaded("httpx2"), _loaded("httpx")) if m is not None)


def _verdict(x: BaseException, kind: ErrorKind, why: str, *, retriable: bool | None = None) -> Classification:
    retriable = kind.retriable_by_default if retriable is None else retriable
    return Classification(kind, retriable, f"{type(x).__name__}: {why}")


def _from_openai(x: BaseException, openai: Any, now_wall: float | None) -> Classification:
    if isinstance(x, openai.APIStatusError):
        err = cast(_SDKStatusError, x)
        response = err.response
        return _from_http(
            err.status_code, _identifier(err.code), _identifier(err.type), response.headers, now_wall
        )
    if isinstance(x, openai.APITimeoutError):
        return _verdict(x, ErrorKind.TIMEOUT, "the request timed out; retry")
    if isinstance(x, openai.APIConnectionError):
        # The SDK wraps the transport's exception; its class says more (a TLS or URL error is not
        # worth retrying). Anything it does not recognise is still a connection failure.
        cause = x.__cause__
        if cause is not None:
            inner = _classify_exception(cause, now_wall, follow_sdk=False)
            if inner.kind is not ErrorKind.UNKNOWN:
                return inner
        return _verdict(x, ErrorKind.NETWORK, "the connection failed; retry with backoff")
    if isinstance(x, openai.APIResponseValidationError):
        return _verdict(x, ErrorKind.UNKNOWN, "the response did not match the API schema; not retried")
    # A bare APIError: an error event inside a stream, with code/type but no status.
    sdk = cast(_SDKError, x)
    return _from_http(None, _identifier(sdk.code), _identifier(sdk.type), None, now_wall)


def _from_http_library(x: BaseException, lib: Any, now_wall: float | None) -> Classification | None:
    if isinstance(x, lib.HTTPStatusError):
        response = cast(_HTTPResponse, x.response)
        return _from_response(response, now_wall)
    if isinstance(x, lib.TimeoutException):
        return _verdict(x, ErrorKind.TIMEOUT, "no answer in time; retry")
    if isinstance(x, lib.NetworkError | lib.RemoteProtocolError | lib.ProxyError):
        return _verdict(x, ErrorKind.NETWORK, "the connection failed or dropped; retry with backoff")
    if isinstance(x, lib.LocalProtocolError | lib.UnsupportedProtocol | lib.InvalidURL):
        return _verdict(x, ErrorKind.BAD_REQUEST, "the client built an invalid request; fix it")
    if isinstance(x, lib.HTTPError | lib.StreamError | lib.CookieConflict):
        return _verdict(x, ErrorKind.UNKNOWN, "an HTTP client error that retrying will not fix")
    return None


_CANCELLATIONS: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def _cancelled(x: BaseException) -> bool:
    if isinstance(x, _CANCELLATIONS):
        return True
    futures = _loaded("concurrent.futures")
    return futures is not None and isinstance(x, futures.CancelledError)


def _from_own_error(x: ResilienceError, now_wall: float | None) -> Classification:
    if isinstance(x, CircuitOpenError):
        return Classification(
            ErrorKind.CIRCUIT_OPEN,
            False,
            "CircuitOpenError: our circuit breaker refused the call; wait for it to half-open",
            retry_after=x.retry_after,
        )
    if isinstance(x, QuotaExceededError):
        return Classification(
            ErrorKind.QUOTA_EXHAUSTED,
            False,
            f"QuotaExceededError: the {x.resource} quota is spent until it resets",
            retry_after=x.retry_after,
        )
    if isinstance(x, RateLimitedError):
        return Classification(
            ErrorKind.RATE_LIMIT,
            True,
            f"{type(x).__name__}: a client-side limiter refused the call; retry when capacity returns",
            retry_after=x.retry_after,
        )
    if isinstance(x, FaultInjectedError):
        return Classification(
            x.kind,
            x.kind.retriable_by_default,
            f"FaultInjectedError: an injected {x.kind.value} fault",
            retry_after=x.retry_after,
        )
    if isinstance(x, RetryError):
        # Retrying a retry loop that gave up multiplies attempts (retry amplification): report
        # the last error's kind, but never as retriable.
        cause = x.__cause__
        for _ in range(8):  # nested retry loops; bounded, so a cyclic __cause__ cannot recurse forever
            if not isinstance(cause, RetryError):
                break
            cause = cause.__cause__
        if cause is None or isinstance(cause, RetryError):
            kind = ErrorKind.UNKNOWN
        else:
            kind = _classify_exception(cause, now_wall).kind
        return Classification(kind, False, f"{type(x).__name__}: a retry loop already gave up")
    return _verdict(x, ErrorKind.UNKNOWN, "not a transient failure; not retried", retriable=False)


def _classify_exception(
    x: BaseException, now_wall: float | None, *, follow_sdk: bool = True
) -> Classification:
    if _cancelled(x):
        return _verdict(x, ErrorKind.CANCELLED, "the caller cancelled; never retried")
    if isinstance(x, ResilienceError):
        return _from_own_error(x, now_wall)
    openai = _loaded("openai") if follow_sdk else None
    if openai is not None and isinstance(x, openai.APIError):
        return _from_openai(x, openai, now_wall)
    for lib in _http_modules():
        verdict = _from_http_library(x, lib, now_wall)
        if verdict is not None:
            return verdict
    anyio = _loaded("anyio")
    if anyio is not None and isinstance(x, anyio.EndOfStream | anyio.BrokenResourceError):
        return _verdict(x, ErrorKind.NETWORK, "the stream closed unexpectedly; retry with backoff")
    if isinstance(x, TimeoutError):  # before OSError: TimeoutError is an OSError
        return _verdict(x, ErrorKind.TIMEOUT, "no answer in time; retry")
    ssl = _loaded("ssl")
    if ssl is not None and isinstance(x, ssl.SSLCertVerificationError):
        return _verdict(
            x, ErrorKind.NETWORK, "the TLS certificate was rejected; retrying cannot fix it", retriable=False
        )
    if isinstance(x, _LOCAL_OS_ERRORS):
        return _verdict(x, ErrorKind.UNKNOWN, "a local file-system error; not retried")
    if isinstance(x, OSError):  # ConnectionError, socket.gaierror, ENETUNREACH, ...
        return _verdict(x, ErrorKind.NETWORK, "a network error; retry with backoff")
    return _verdict(x, ErrorKind.UNKNOWN, "an unrecognised error; not retried")


def classify(x: object, *, now_wall: float | None = None) -> Classification:
    """Say what kind of failure ``x`` is, whether another attempt can help, and when to try again.

    ``x`` may be an exception (openai SDK, httpx, httpx2, asyncio, OS, day6's own), an
    ``httpx.Response`` / ``httpx2.Response``, or a bare ``int`` status code. The rules are in the
    table at the top of this module; in short, transient failures (rate limits, 5xx, timeouts,
    network errors, conflicts) are retriable, everything that needs a change first is not,
    cancellation never is, and whatever is not recognised is ``UNKNOWN`` and not retried: a
    retry layer that retries bugs hides them and multiplies load.

    ``retry_after`` comes from ``retry-after-ms`` / ``retry-after`` (see :func:`parse_retry_after`;
    ``now_wall`` is used only for an HTTP-date) or, for a rate limit without one, from the
    exhausted budget's ``x-ratelimit-reset-*``. ``reason`` is one short sentence naming the class
    or status and the code; it never contains the exception message, the body or header values,
    and classification never calls ``str()`` on ``x``.
    """
    if now_wall is not None and not math.isfinite(now_wall):
        now_wall = None
    if isinstance(x, BaseException):
        return _classify_exception(x, now_wall)
    if isinstance(x, int) and not isinstance(x, bool):
        return _from_http(x, None, None, None, now_wall)
    for lib in _http_modules():
        if isinstance(x, lib.Response):
            response = cast(_HTTPResponse, x)
            return _from_response(response, now_wall)
    return Classification(ErrorKind.UNKNOWN, False, f"{type(x).__name__} is not a failure day6 recognises")
