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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

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
    "RateLimitedError",
    "ResilienceError",
    "RetryAfterTooLongError",
    "RetryBudgetExhaustedError",
    "RetryError",
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


_BACKEND_FAULTS = frozenset(
    {ErrorKind.SERVER_ERROR, ErrorKind.OVERLOADED, ErrorKind.TIMEOUT, ErrorKind.NETWORK}
)


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
    """A fault raised in-process by the fault injector (wire-level faults use the real types)."""


@dataclass
class AgentError(ResilienceError):
    """The resilient agent could not get an answer from any model; says what failed."""

    message: str
    causes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message
