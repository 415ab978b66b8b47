"""Fire drills: run a named fault scenario against a resilient agent and report what happened.

A drill builds a fresh offline :class:`~day6.agent.ResilientAgent` on a
:class:`~day6.clock.FakeClock`, arms a scenario on its fault injector, and sends one request per
``interval`` seconds of fake time. Everything on the path is the real code (the real ``openai``
SDK, the real transport, the embedded backend, the real breaker and retry policy); only time is
fake, so a two-minute outage story runs in well under a second and gives the same numbers every
time for the same seed. ``day6 chat``'s ``test`` command and Lab 4 use it.

The report answers the questions an on-call engineer asks after a drill: how many users got an
answer, how many upstream attempts it cost, what the breakers did, how many answers were
degraded, and how long after the faults stopped the primary model was answering again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from day6.clock import FakeClock
from day6.config import AgentConfig, ReliabilityConfig
from day6.faults import SCENARIOS

__all__ = ["ScenarioReport", "offline_config", "run_scenario", "scenario_end"]


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """What a drill measured. Times are seconds since the scenario was armed (fake time)."""

    scenario: str
    requests: int
    answered: int
    degraded: int
    failed: int
    attempts: int
    transitions: tuple[tuple[float, str, str, str], ...]  # (at, breaker, old, new)
    faults_injected: int
    faults_end: float | None
    recovery_time: float | None
    timeline: tuple[dict[str, Any], ...] = field(repr=False, default=())

    @property
    def availability(self) -> float:
        return self.answered / self.requests if self.requests else 1.0

    @property
    def waste(self) -> float:
        """Attempts that did not produce an answer, per answer (the lesson's retry waste)."""
        return (self.attempts - self.answered) / self.answered if self.answered else math.inf

    def to_text(self) -> str:
        lines = [
            f"scenario {self.scenario!r}: {self.requests} requests, {self.answered} answered "
            f"({self.availability:.1%}), {self.degraded} degraded, {self.failed} failed",
            f"upstream attempts: {self.attempts} (waste {self.waste:.1%}); faults injected: "
            f"{self.faults_injected}",
        ]
        if self.transitions:
            moves = ", ".join(f"{at:.0f}s {name}:{old}->{new}" for at, name, old, new in self.transitions)
            lines.append(f"breaker transitions: {moves}")
        else:
            lines.append("breaker transitions: none")
        if self.faults_end is None:
            lines.append("recovery: the scenario has no end (faults stay armed for the whole drill)")
        elif self.recovery_time is None:
            lines.append(f"recovery: faults ended at {self.faults_end:.0f}s; primary model not back yet")
        else:
            lines.append(
                f"recovery: faults ended at {self.faults_end:.0f}s; primary model answering again "
                f"{self.recovery_time:.1f}s later"
            )
        return "\n".join(lines)


def scenario_end(name: str) -> float | None:
    """When the scenario's last fault window closes (seconds after arming), None if never."""
    specs = SCENARIOS[name].faults
    if not specs:
        return 0.0
    ends = [s.start + s.duration if s.duration is not None else math.inf for s in specs]
    end = max(ends)
    return None if math.isinf(end) else end


def offline_config(config: ReliabilityConfig) -> ReliabilityConfig:
    """The settings for a drill: the live session's patterns, but never its endpoint, key or file.

    ``day6 chat`` passes the live agent's config, which may name a real endpoint (a drill must not
    spend a paid quota) and the user's memory file (a drill must not write its made-up turns into
    the real conversation). A remote model name means nothing to the embedded backend, so a
    remote config drills with the default model names.
    """
    agent = config.agent
    settings = replace(agent, api_key=None, base_url=None, memory_path=None)
    if agent.api_key is not None or agent.base_url is not None:
        defaults = AgentConfig()
        settings = replace(settings, model=defaults.model, fallback_models=defaults.fallback_models)
    return replace(config, agent=settings)


def run_scenario(
    name: str,
    *,
    config: ReliabilityConfig | None = None,
    requests: int | None = None,
    interval: float = 1.0,
    seed: int = 0,
) -> ScenarioReport:
    """Drill scenario ``name`` on a fresh offline agent in fake time; see the module docs.

    ``requests`` defaults to enough traffic to cover the faults plus the breaker's recovery
    timeout (or 60 requests for scenarios without an end).
    """
    from day6.agent import ResilientAgent
    from day6.errors import ConfigError

    if name not in SCENARIOS:
        raise ConfigError("scenario", name, f"one of {', '.join(sorted(SCENARIOS))}")
    if not (interval > 0 and math.isfinite(interval)):
        raise ConfigError("interval", interval, "a finite number of seconds > 0")
    config = offline_config(config if config is not None else ReliabilityConfig())
    end = scenario_end(name)
    if requests is None:
        span = (end or 0.0) + config.circuit_breaker.recovery_timeout + 10.0 if end is not None else 60.0
        requests = max(10, math.ceil(span / interval))
    if requests < 1:
        raise ConfigError("requests", requests, "an integer >= 1")

    clock = FakeClock()
    transitions: list[tuple[float, str, str, str]] = []

    def watch(event: Any) -> None:
        if getattr(event, "topic", None) == "breaker.state":
            transitions.append((event.at - t0, event.name, str(event.old), str(event.new)))

    agent = ResilientAgent(config=config, clock=clock, rng=random.Random(seed), env={})
    for breaker in agent.breakers.values():
        breaker.hooks.add(watch)
    t0 = clock.now()
    agent.injector.activate(name)
    timeline: list[dict[str, Any]] = []
    recovered_at: float | None = None
    answered = degraded = failed = attempts = 0
    primary = agent.models[0]
    for i in range(requests):
        target = t0 + i * interval
        if clock.now() < target:
            clock.advance(target - clock.now())
        reply = agent.chat(f"drill request {i}: what is a circuit breaker?")
        at = clock.now() - t0
        attempts += reply.attempts
        answered += reply.ok
        degraded += reply.ok and reply.degraded
        failed += not reply.ok
        primary_ok = reply.ok and reply.model == primary
        if end is not None and recovered_at is None and at >= end and primary_ok:
            recovered_at = at
        timeline.append(
            {
                "t": round(at, 6),
                "ok": reply.ok,
                "degraded": reply.degraded,
                "model": reply.model,
                "attempts": reply.attempts,
                "latency": round(reply.latency, 6),
            }
        )
    agent.close()
    return ScenarioReport(
        scenario=name,
        requests=requests,
        answered=answered,
        degraded=degraded,
        failed=failed,
        attempts=attempts,
        transitions=tuple(transitions),
        faults_injected=len(agent.injector.log),
        faults_end=end,
        recovery_time=None if recovered_at is None or end is None else recovered_at - end,
        timeline=tuple(timeline),
    )
