"""Rate-limit experiments in simulated time: can an adaptive client find a capacity it cannot see?

The world: a server accepts ``capacity`` requests per second (a token bucket holding ``burst``),
and answers anything beyond with 429 and a Retry-After. The client has an endless backlog of work
and an :class:`~day6.rate_limit.AdaptiveRateLimiter` that starts far below or far above the
capacity; it never learns the capacity except through 429s (and, if ``send_headers``, the
``x-ratelimit-*`` headers real APIs send). Each request crosses the network there and back
(``latency`` seconds in total, drawn uniformly from a range), so the limiter always acts on
slightly stale news, as in real life.

Two numbers judge the client: **goodput**, the accepted requests per second as a fraction of the
capacity (higher is better: capacity left unused is paid for and wasted), and the **rejected
fraction** of what it sent (lower is better: every 429 is load the server had to refuse).

The limiter, the server's bucket and the clock are day6's own classes running on a
:class:`~day6.clock.SimClock`: the code measured here is the code that protects the agent.
simpy is imported here only; ``import day6`` never loads this module.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import simpy

from day6.clock import SimClock
from day6.errors import ConfigError
from day6.rate_limit.adaptive import AdaptiveRateLimiter
from day6.rate_limit.token_bucket import TokenBucket

__all__ = ["AdaptiveRun", "adaptive_capacity"]


@dataclass(frozen=True, slots=True)
class AdaptiveRun:
    """The outcome of one :func:`adaptive_capacity` run (all times in simulated seconds)."""

    capacity: float
    duration: float
    sent: int
    accepted: int
    rejected: int
    final_rate: float
    rates: tuple[tuple[float, float], ...]  # (time, new rate) at every change, starting at (0, initial)

    @property
    def goodput_fraction(self) -> float:
        """Accepted requests per second as a fraction of the capacity."""
        return self.accepted / (self.capacity * self.duration)

    @property
    def rejected_fraction(self) -> float:
        """429s as a fraction of the requests sent."""
        return self.rejected / self.sent if self.sent else 0.0


def adaptive_capacity(
    *,
    capacity: float = 20.0,
    burst: float | None = None,
    duration: float = 300.0,
    initial_rate: float = 2.0,
    latency: tuple[float, float] = (0.1, 0.3),
    send_headers: bool = False,
    report_sent_at: bool = True,
    capacity_after: tuple[float, float] | None = None,
    limiter: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> AdaptiveRun:
    """Run an adaptive client against a server of hidden ``capacity`` for ``duration`` seconds.

    ``burst`` is the server bucket's size (default: one second's worth, ``capacity``).
    ``send_headers`` adds ``x-ratelimit-*`` headers to every response (as OpenAI does) and has
    the client read them; ``report_sent_at`` passes each call's send time to the limiter (as an
    agent that notes ``clock.now()`` before calling can).
    ``capacity_after=(t, c)`` changes the capacity to ``c`` at time ``t`` (a provider tightening
    its limits mid-run). ``limiter`` overrides :class:`AdaptiveRateLimiter` settings; by default
    its ``max_rate`` is ``10 * capacity`` and ``min_rate`` is ``0.1``. The run is deterministic
    for a given ``seed``.
    """
    if not (isinstance(capacity, int | float) and math.isfinite(capacity) and capacity > 0):
        raise ConfigError("capacity", capacity, "a finite number of requests per second > 0")
    if not (isinstance(duration, int | float) and math.isfinite(duration) and duration > 0):
        raise ConfigError("duration", duration, "finite simulated seconds > 0")
    if burst is not None and not (isinstance(burst, int | float) and math.isfinite(burst) and burst >= 1):
        raise ConfigError("burst", burst, "None (one second's worth) or a finite number of requests >= 1")
    low, high = latency
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ConfigError("latency", latency, "a range (low, high) of finite seconds with 0 <= low <= high")

    env = simpy.Environment()
    clock = SimClock(env)
    rng = random.Random(seed)
    size = capacity if burst is None else burst
    server = TokenBucket(capacity=size, rate=capacity, clock=clock, name="server")
    rates: list[tuple[float, float]] = [(0.0, float(initial_rate))]

    def on_event(event: Any) -> None:
        if event.topic == "limiter.rate":
            rates.append((event.at, event.new_rate))

    settings: dict[str, Any] = {"initial_rate": initial_rate, "min_rate": 0.1, "max_rate": 10 * capacity}
    settings.update(limiter or {})
    client = AdaptiveRateLimiter(clock=clock, hooks=[on_event], **settings)
    counts = {"sent": 0, "accepted": 0, "rejected": 0}

    def request() -> Generator[simpy.Event, Any, None]:
        sent_at = env.now
        yield env.timeout(rng.uniform(low, high) / 2)  # there
        accepted = server.try_acquire()
        if env.now < duration:
            counts["accepted" if accepted else "rejected"] += 1
        retry_after = None if accepted else server.time_until(1)
        tokens = server.tokens
        headers = {
            "x-ratelimit-limit-requests": str(math.floor(server.capacity)),
            "x-ratelimit-remaining-requests": str(math.floor(tokens)),
            "x-ratelimit-reset-requests": f"{(server.capacity - tokens) / server.rate:.3f}s",
        }
        yield env.timeout(rng.uniform(low, high) / 2)  # and back
        if accepted:
            client.record_success(sent_at=sent_at if report_sent_at else None)
        else:
            client.record_rate_limited(retry_after, sent_at=sent_at if report_sent_at else None)
        if send_headers:
            client.observe_headers(headers)

    def sender() -> Generator[simpy.Event, Any, None]:
        while True:
            wait = client.time_until(1)
            if wait > 0:
                yield env.timeout(wait)
            if client.try_acquire():
                if env.now < duration:
                    counts["sent"] += 1
                env.process(request())

    def tighten(at: float, new_capacity: float) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(at)
        server.set_rate(new_capacity, reason="provider tightened the limit")

    env.process(sender())
    if capacity_after is not None:
        env.process(tighten(*capacity_after))
    env.run(until=duration)
    effective = capacity
    if capacity_after is not None:  # average capacity over the run
        at, after = capacity_after
        effective = (capacity * min(at, duration) + after * max(0.0, duration - at)) / duration
    return AdaptiveRun(
        capacity=effective,
        duration=float(duration),
        sent=counts["sent"],
        accepted=counts["accepted"],
        rejected=counts["rejected"],
        final_rate=client.rate,
        rates=tuple(rates),
    )
