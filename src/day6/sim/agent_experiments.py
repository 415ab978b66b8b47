"""Lab 4's experiments: the whole resilient agent under fire, watched like an on-call dashboard.

:func:`day6.scenarios.run_scenario` answers *what happened* in a fire drill (how many users got an
answer, what it cost, when the primary model came back). :func:`dashboard_run` answers *what did it
look like while it happened*: it drives a fresh offline :class:`~day6.agent.ResilientAgent` through
the same drill (same agent, same traffic: one request every ``interval`` seconds of fake time; a
request that falls due while the previous one is still running is sent as soon as it returns) and
samples the agent's monitor, breakers and limiter **every simulated second**, even in the middle
of a call: while a retry backs off or the limiter makes a caller wait, the dashboard keeps ticking.

How a sample is taken: the agent runs on a :class:`~day6.clock.FakeClock` whose ``sleep`` and
``advance`` stop on every whole second they cross and call the sampler there (a one-line change
of *how time passes*, nothing in the agent knows). Everything else is the real stack: the real
``openai`` SDK, the fault transport, the embedded backend. Same seed, same records.

What each sample holds (see :class:`DashboardSample`):

* **request rate, error rate, p95 latency** over the trailing ``window`` seconds, computed from
  the requests that *completed* in ``(t - window, t]``. The monitor's own ``p95`` is cumulative
  (its latency sketch keeps constant memory by never forgetting), which hides a recovery on a
  time series, so the windowed values are computed here from the same replies the monitor sees;
  the monitor's cumulative ``availability`` and waste ratio ride along for comparison.
* **breaker state** per model, read from the breakers (the *stored* state: an open breaker stays
  ``open`` after its recovery timeout until a call arrives to probe; exact transition times are in
  :attr:`DashboardRun.transitions`).
* **limiter headroom**: tokens available, the burst size, and the adaptive refill rate.

:func:`fire_drills` and :func:`drills_table` run several scenarios and tabulate their
:class:`~day6.scenarios.ScenarioReport` for the lab.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from day6._validate import positive
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.errors import ConfigError
from day6.faults import SCENARIOS
from day6.scenarios import offline_config

if TYPE_CHECKING:
    from day6.scenarios import ScenarioReport

__all__ = [
    "DRILL_SCENARIOS",
    "DashboardRun",
    "DashboardSample",
    "dashboard_run",
    "drills_table",
    "fire_drills",
]

DRILL_SCENARIOS: tuple[str, ...] = (
    "flaky",
    "outage_then_recovery",
    "rate_limited",
    "quota_exhausted",
    "slow",
)
"""The scenarios Lab 4 drills, in the order the lab discusses them."""

_MAX_SECONDS = 3600.0  # one simulated hour: more is a typo, not a drill
_SECONDS = f"a finite number of seconds in (0, {_MAX_SECONDS:g}]"
_SAMPLE_PERIOD = 1.0  # the dashboard ticks once per simulated second


@dataclass(frozen=True, slots=True)
class DashboardSample:
    """What the dashboard showed at second ``t`` (seconds since the scenario was armed).

    Windowed values cover requests that completed in ``(t - window, t]``; while ``t < window``
    the rates divide by the time elapsed so far (at least one second), as the monitor does.
    ``p95_latency`` is the nearest-rank 95th percentile of those requests' latencies (``None``
    when none completed). ``breakers`` maps model -> stored breaker state. ``tokens`` /
    ``burst`` / ``limiter_rate`` describe the client-side token bucket (rate in tokens per
    second). ``availability`` and ``waste_ratio`` are the monitor's cumulative values so far.
    """

    t: float
    completed: int
    requests_per_s: float
    errors_per_s: float
    degraded_per_s: float
    error_rate: float
    p95_latency: float | None
    breakers: Mapping[str, str]
    tokens: float
    burst: float
    limiter_rate: float | None
    availability: float | None
    waste_ratio: float
    in_call: bool

    @property
    def headroom(self) -> float:
        """Tokens available as a fraction of the burst: 1.0 idle, 0.0 saturated."""
        return min(1.0, max(0.0, self.tokens / self.burst)) if self.burst > 0 else 0.0

    def as_record(self) -> dict[str, Any]:
        """One flat row: the fields, ``headroom``, and one ``breaker:<model>`` column per breaker."""
        row: dict[str, Any] = {
            "t": self.t,
            "completed": self.completed,
            "requests_per_s": self.requests_per_s,
            "errors_per_s": self.errors_per_s,
            "degraded_per_s": self.degraded_per_s,
            "error_rate": self.error_rate,
            "p95_latency": self.p95_latency,
            "tokens": self.tokens,
            "burst": self.burst,
            "headroom": self.headroom,
            "limiter_rate": self.limiter_rate,
            "availability": self.availability,
            "waste_ratio": self.waste_ratio,
            "in_call": self.in_call,
        }
        row.update({f"breaker:{name}": state for name, state in self.breakers.items()})
        return row


@dataclass(frozen=True, slots=True)
class DashboardRun:
    """A drill seen as a dashboard: one :class:`DashboardSample` per simulated second.

    ``transitions`` are the breakers' exact state changes ``(at, model, old, new)``;
    ``fault_windows`` the scenario's fault windows ``(start, end)`` clipped to the run (``end``
    is ``seconds`` for a fault without an end). The totals count the drill's requests;
    ``attempts`` are the agent's (``AgentReply.attempts``), including attempts its own breaker or
    limiter refused before sending anything.
    """

    scenario: str
    seconds: float
    interval: float
    window: float
    seed: int
    samples: tuple[DashboardSample, ...] = field(repr=False)
    transitions: tuple[tuple[float, str, str, str], ...]
    fault_windows: tuple[tuple[float, float], ...]
    models: tuple[str, ...]
    p95_target: float
    requests: int
    answered: int
    degraded: int
    failed: int
    attempts: int

    @property
    def availability(self) -> float:
        return self.answered / self.requests if self.requests else 1.0

    def records(self) -> list[dict[str, Any]]:
        """Tidy rows, one per sample (see :meth:`DashboardSample.as_record`)."""
        return [sample.as_record() for sample in self.samples]

    def series(self, name: str) -> list[Any]:
        """One field of every sample, in time order (``run.series("p95_latency")``)."""
        return [getattr(sample, name) for sample in self.samples]

    def breaker_timeline(self, model: str) -> tuple[list[float], list[str]]:
        """``(times, states)`` of one breaker: its initial state at 0, then every transition."""
        if model not in self.models:
            raise ConfigError("model", model, "one of " + ", ".join(self.models))
        initial = self.samples[0].breakers[model] if self.samples else "closed"
        times, states = [0.0], [initial]
        for at, name, _old, new in self.transitions:
            if name == model:
                times.append(at)
                states.append(new)
        return times, states

    def to_text(self) -> str:
        """A one-paragraph summary (the figure shows the rest)."""
        worst = max((s.p95_latency for s in self.samples if s.p95_latency is not None), default=None)
        worst_text = "-" if worst is None else f"{worst:.2f} s"
        return (
            f"dashboard {self.scenario!r}: {self.seconds:g} s, {self.requests} requests, "
            f"{self.answered} answered ({self.availability:.1%}), {self.degraded} degraded, "
            f"{self.failed} failed, {self.attempts} attempts; "
            f"{len(self.transitions)} breaker transitions; worst {self.window:g}-s p95 {worst_text}"
        )


@dataclass(frozen=True, slots=True)
class _Done:
    at: float
    latency: float
    ok: bool
    degraded: bool


class _TickingClock(FakeClock):
    """A :class:`FakeClock` that stops on every whole ``period`` it crosses and calls ``on_tick``.

    Time still moves only when something sleeps or the driver advances it; a long sleep is
    split at each tick so the callback sees the world exactly at that instant. Single-threaded
    by design (the drill has one user stream): the callback runs on the sleeping thread.
    """

    def __init__(self, period: float) -> None:
        super().__init__()
        self.period = period
        self.on_tick: Callable[[float], None] | None = None
        self._next_tick = period

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"FakeClock.advance: seconds must be >= 0, got {seconds!r}")
        self._move(seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._move(max(0.0, seconds))

    def _move(self, seconds: float) -> None:
        target = self.now() + seconds
        while self._next_tick <= target:
            super().advance(max(0.0, self._next_tick - self.now()))
            tick, self._next_tick = self._next_tick, self._next_tick + self.period
            if self.on_tick is not None:
                self.on_tick(tick)
        super().advance(max(0.0, target - self.now()))


def _check_scenario(name: str) -> str:
    if name not in SCENARIOS:
        raise ConfigError("scenario", name, f"one of {', '.join(sorted(SCENARIOS))}")
    return name


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("seed", seed, "an integer")
    return seed


def _p95(values: Sequence[float]) -> float | None:
    """Nearest rank: the smallest value with at least 95 % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _fault_windows(name: str, seconds: float) -> tuple[tuple[float, float], ...]:
    windows = []
    for spec in SCENARIOS[name].faults:
        end = seconds if spec.duration is None else min(seconds, spec.start + spec.duration)
        if spec.start < end:
            windows.append((spec.start, end))
    return tuple(windows)


def dashboard_run(
    scenario: str,
    *,
    config: ReliabilityConfig | None = None,
    seconds: float = 120.0,
    interval: float = 1.0,
    window: float = 10.0,
    seed: int = 0,
) -> DashboardRun:
    """Drill ``scenario`` on a fresh offline agent for ``seconds`` of fake time, sampling each second.

    Args:
        scenario: a name from :data:`day6.faults.SCENARIOS`, armed at time 0.
        config: the agent's settings (the lesson's defaults when omitted).
        seconds: how long the drill runs (fake time; at most one hour).
        interval: seconds between requests (one user stream, like ``run_scenario``).
        window: seconds the rates and the p95 are computed over.
        seed: seeds the agent (jitter) and, through it, the fault injector.
    """
    from day6.agent import ResilientAgent

    _check_scenario(scenario)
    seconds = positive("seconds", seconds, allowed=_SECONDS, maximum=_MAX_SECONDS)
    interval = positive("interval", interval, allowed=_SECONDS, maximum=_MAX_SECONDS)
    window = positive("window", window, allowed=_SECONDS, maximum=_MAX_SECONDS)
    seed = _check_seed(seed)
    config = config if config is not None else ReliabilityConfig()

    clock = _TickingClock(_SAMPLE_PERIOD)
    agent = ResilientAgent(config=offline_config(config), clock=clock, rng=random.Random(seed), env={})
    t0 = clock.now()
    transitions: list[tuple[float, str, str, str]] = []

    def watch(event: Any) -> None:
        if getattr(event, "topic", None) == "breaker.state":
            transitions.append((round(event.at - t0, 9), event.name, str(event.old), str(event.new)))

    for breaker in agent.breakers.values():
        breaker.hooks.add(watch)

    done: list[_Done] = []
    done_times: list[float] = []
    samples: list[DashboardSample] = []
    in_call = False

    def sample(at: float) -> None:
        t = round(at - t0, 9)
        if t > seconds + 1e-9:
            return
        lo = bisect.bisect_right(done_times, t - window)
        recent = done[lo:]
        span = min(window, max(t, _SAMPLE_PERIOD))
        failed = sum(not d.ok for d in recent)
        degraded = sum(d.ok and d.degraded for d in recent)
        room = agent.limiter.headroom()
        snapshot = agent.stats()
        samples.append(
            DashboardSample(
                t=t,
                completed=len(recent),
                requests_per_s=len(recent) / span,
                errors_per_s=failed / span,
                degraded_per_s=degraded / span,
                error_rate=failed / len(recent) if recent else 0.0,
                p95_latency=_p95([d.latency for d in recent]),
                breakers=MappingProxyType({name: str(b.state) for name, b in agent.breakers.items()}),
                tokens=room.available,
                burst=room.limit,
                limiter_rate=room.rate,
                availability=snapshot.availability,
                waste_ratio=snapshot.waste_ratio,
                in_call=in_call,
            )
        )

    clock.on_tick = sample
    agent.injector.activate(scenario)
    sample(t0)
    requests = answered = degraded = failed = attempts = 0
    end = t0 + seconds
    try:
        for i in range(math.ceil(seconds / interval)):
            target = t0 + i * interval
            if clock.now() >= end:
                break
            if clock.now() < target:
                clock.advance(target - clock.now())
            in_call = True
            reply = agent.chat(f"drill request {i}: what is a circuit breaker?")
            in_call = False
            at = round(clock.now() - t0, 9)
            done.append(_Done(at, reply.latency, reply.ok, reply.degraded))
            done_times.append(at)
            requests += 1
            attempts += reply.attempts
            answered += reply.ok
            degraded += reply.ok and reply.degraded
            failed += not reply.ok
        if clock.now() < end:
            clock.advance(end - clock.now())
    finally:
        agent.close()
    return DashboardRun(
        scenario=scenario,
        seconds=seconds,
        interval=interval,
        window=window,
        seed=seed,
        samples=tuple(samples),
        transitions=tuple(transitions),
        fault_windows=_fault_windows(scenario, seconds),
        models=agent.models,
        p95_target=config.monitoring.p95_latency,
        requests=requests,
        answered=answered,
        degraded=degraded,
        failed=failed,
        attempts=attempts,
    )


# --------------------------------------------------------------------------------------------------
# Fire drills, tabulated
# --------------------------------------------------------------------------------------------------


def fire_drills(
    scenarios: Iterable[str] = DRILL_SCENARIOS,
    *,
    config: ReliabilityConfig | None = None,
    seed: int = 0,
) -> tuple[ScenarioReport, ...]:
    """:func:`~day6.scenarios.run_scenario` for each scenario, with the same config and seed."""
    from day6.scenarios import run_scenario

    names = [_check_scenario(name) for name in scenarios]
    seed = _check_seed(seed)
    return tuple(run_scenario(name, config=config, seed=seed) for name in names)


def drills_table(reports: Sequence[ScenarioReport]) -> str:
    """The drills side by side: availability, attempts, waste, degraded, failed, recovery.

    ``attempts`` are the agent's attempts as :class:`~day6.scenarios.ScenarioReport` counts them:
    including those its own open breaker or empty limiter refused before anything was sent.
    ``waste`` is (attempts - answers) / answers, ``inf`` when nothing was answered; ``recovery``
    is the time from the end of the faults to the primary model's next answer (``never`` when
    it did not come back within the drill, ``-`` for scenarios whose faults never end).
    """
    header = ("scenario", "requests", "answered", "availability", "attempts", "waste", "degraded", "failed")
    rows: list[tuple[str, ...]] = [(*header, "recovery")]
    for r in reports:
        waste = "inf" if math.isinf(r.waste) else f"{r.waste:.1%}"
        if r.faults_end is None:
            recovery = "-"
        elif r.recovery_time is None:
            recovery = "never"
        else:
            recovery = f"{r.recovery_time:.1f} s"
        rows.append(
            (
                r.scenario,
                str(r.requests),
                str(r.answered),
                f"{r.availability:.1%}",
                str(r.attempts),
                waste,
                str(r.degraded),
                str(r.failed),
                recovery,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
