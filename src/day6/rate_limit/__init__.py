"""Rate limiting for an LLM client: how fast, how much, how many at once, and who goes first.

One class per concern, each a small state machine over an injected clock that emits
``limiter.decision`` / ``limiter.rate`` events and answers ``headroom()`` for dashboards:

* :class:`TokenBucket` - a burst of ``capacity`` refilled at ``rate`` per second (the lesson's
  "60 per minute, burst 10"); FIFO waiting for threads and asyncio tasks alike.
* :class:`SlidingWindowLimiter` - at most ``limit`` calls in any ``window`` seconds, per key;
  an exact log, or a conservative counter approximation.
* :class:`AdaptiveRateLimiter` - a token bucket whose rate follows the server: AIMD with slow
  start, an immediate cut and pause on 429, pacing from ``x-ratelimit-*`` headers.
* :class:`PriorityRateLimiter` - a token bucket that serves its waiters by priority, with aging.
* :class:`QuotaManager` - request / token / cost budgets per calendar minute, hour, day or month;
  refuses *before* the call; survives restarts.
* :class:`Bulkhead` - at most ``max_concurrent`` calls in flight, with a bounded wait.

Start reading at :mod:`day6.rate_limit.token_bucket`.
"""

from day6.rate_limit._common import Headroom, LimiterDecision, LimiterRateChanged
from day6.rate_limit.adaptive import AdaptiveRateLimiter
from day6.rate_limit.bulkhead import Bulkhead, BulkheadStats
from day6.rate_limit.priority import Priority, PriorityRateLimiter
from day6.rate_limit.quota import QuotaManager, QuotaStatus, Reservation
from day6.rate_limit.sliding_window import SlidingWindowLimiter
from day6.rate_limit.token_bucket import TokenBucket

__all__ = [
    "AdaptiveRateLimiter",
    "Bulkhead",
    "BulkheadStats",
    "Headroom",
    "LimiterDecision",
    "LimiterRateChanged",
    "Priority",
    "PriorityRateLimiter",
    "QuotaManager",
    "QuotaStatus",
    "Reservation",
    "SlidingWindowLimiter",
    "TokenBucket",
]
