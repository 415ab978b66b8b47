"""day6: the resilience workbook. Retries, circuit breakers, rate limits, monitoring and fault
injection for an LLM agent, as small deterministic state machines over an injected clock.

Start with ``day6.retry``, ``day6.circuit_breaker`` and ``day6.rate_limit``: they are written to be
read. The labs in ``notebooks/`` drive these same classes through simpy time.
"""

from day6.backoff import Backoff, Jitter
from day6.clock import Clock, FakeClock, SimClock, SystemClock
from day6.errors import (
    AgentError,
    AttemptRecord,
    BulkheadFullError,
    CircuitOpenError,
    Classification,
    ConfigError,
    ErrorKind,
    FaultInjectedError,
    QuotaExceededError,
    RateLimitedError,
    RateLimitInfo,
    ResilienceError,
    RetryAfterTooLongError,
    RetryBudgetExhaustedError,
    RetryError,
    classify,
    parse_ratelimit_headers,
    parse_reset_duration,
    parse_retry_after,
)
from day6.retry import (
    AttemptStarted,
    RetryBudget,
    RetryDecision,
    RetryGaveUp,
    RetryPolicy,
    RetryScheduled,
    RetryState,
    RetrySucceeded,
)

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "AttemptRecord",
    "AttemptStarted",
    "Backoff",
    "BulkheadFullError",
    "CircuitOpenError",
    "Classification",
    "Clock",
    "ConfigError",
    "ErrorKind",
    "FakeClock",
    "FaultInjectedError",
    "Jitter",
    "QuotaExceededError",
    "RateLimitInfo",
    "RateLimitedError",
    "ResilienceError",
    "RetryAfterTooLongError",
    "RetryBudget",
    "RetryBudgetExhaustedError",
    "RetryDecision",
    "RetryError",
    "RetryGaveUp",
    "RetryPolicy",
    "RetryScheduled",
    "RetryState",
    "RetrySucceeded",
    "SimClock",
    "SystemClock",
    "classify",
    "parse_ratelimit_headers",
    "parse_reset_duration",
    "parse_retry_after",
]
