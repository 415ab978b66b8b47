"""Lab 1's experiments: what retries do to a service when many clients use them at once.

Each runner builds a fresh simpy world from a seed, runs day6's own :class:`~day6.retry.RetryPolicy`
in it through :func:`~day6.sim.drivers.retry_process`, and returns tidy, frozen records that
:mod:`day6.viz` plots. Same seed, same records, on any machine.

* :func:`delay_bands` - the spread of each jitter mode's delays, attempt by attempt.
* :func:`thundering_herd` - ``clients`` callers hit a service that is down, then recovers with
  limited capacity. Without jitter their retries stay synchronised and arrive as spikes the
  service must shed; with jitter they spread out and get through.
* :func:`contention` / :func:`contention_sweep` - Brooker's experiment from "Exponential Backoff And
  Jitter" (AWS Architecture Blog, 2015): clients race to update one row under optimistic
  concurrency; we count the conditional writes (work) and the time until the last one succeeds.
* :func:`retry_storm` - steady traffic meets an outage; every failed call retries, multiplying the
  load exactly when the service can least take it, unless a shared
  :class:`~day6.retry.RetryBudget` throttles the retries.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import simpy

from day6._validate import int_at_least
from day6.backoff import Backoff, Jitter
from day6.clock import SimClock
from day6.errors import ConfigError, RetryBudgetExhaustedError, RetryError
from day6.retry import RetryBudget, RetryPolicy
from day6.sim.drivers import retry_process
from day6.sim.service import AbsNormal, Constant, SimService, SimServiceError, classify_sim

__all__ = [
    "BROOKER_STRATEGIES",
    "AttemptSpan",
    "ContentionPoint",
    "DelayBand",
    "HerdResult",
    "StormResult",
    "brooker_policy",
    "contention",
    "contention_sweep",
    "delay_bands",
    "retry_storm",
    "thundering_herd",
]

BROOKER_STRATEGIES: dict[str, str] = {
    "none": "No backoff",
    "exponential": "Exponential",
    "full": "Full jitter",
    "equal": "Equal jitter",
    "decorrelated": "Decorrelated jitter",
}
"""The five strategies of Brooker's post: key -> label used in plots and tables."""

_BROOKER_JITTER = {
    "exponential": Jitter.NONE,
    "full": Jitter.FULL,
    "equal": Jitter.EQUAL,
    "decorrelated": Jitter.DECORRELATED,
}


_AN_INT = "an int >= 1"  # the ConfigError wording for counts


def _trial_seeds(seed: int, trials: int) -> list[int]:
    """Independent per-trial seeds from one master seed (shared across strategies on purpose).

    Giving every strategy the same trial seeds ("common random numbers") makes the comparison
    between strategies less noisy than independent draws would.
    """
    master = random.Random(seed)
    return [master.getrandbits(64) for _ in range(trials)]


def _peak_rate(times: Sequence[float], window: float, since: float) -> float:
    """The most events in any ``window``-second interval from ``since`` on, per second."""
    if not window > 0:
        raise ConfigError("window", window, "a number of seconds > 0")
    ordered = sorted(t for t in times if t >= since)
    best = left = 0
    for right, t in enumerate(ordered):
        while ordered[left] <= t - window:
            left += 1
        best = max(best, right - left + 1)
    return best / window


# --------------------------------------------------------------------------------------------------
# Delay bands
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DelayBand:
    """The delays one jitter mode chose after failed attempt ``attempt``, over many samples."""

    jitter: Jitter
    attempt: int
    raw: float  # the un-jittered exponential delay
    low: float
    median: float
    high: float


def delay_bands(
    backoff: Backoff, *, attempts: int = 8, samples: int = 1000, seed: int = 0
) -> list[DelayBand]:
    """Min, median and max of ``backoff``'s delay for attempts ``1..attempts``, over ``samples`` runs.

    Each sample is one full retry sequence (:meth:`Backoff.delays`), so DECORRELATED, whose delay
    depends on the previous one, is sampled the way a client would experience it.
    """
    int_at_least("attempts", attempts, 1, allowed=_AN_INT)
    int_at_least("samples", samples, 1, allowed=_AN_INT)
    rng = random.Random(seed)
    runs = [backoff.delays(attempts, rng) for _ in range(samples)]
    bands = []
    for index in range(attempts):
        column = sorted(run[index] for run in runs)
        bands.append(
            DelayBand(
                jitter=backoff.jitter,
                attempt=index + 1,
                raw=backoff.raw(index + 1),
                low=column[0],
                median=statistics.median(column),
                high=column[-1],
            )
        )
    return bands


# --------------------------------------------------------------------------------------------------
# Thundering herd
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptSpan:
    """One attempt of one client: from sending the request to receiving the answer."""

    client: int
    attempt: int
    start: float
    end: float
    status: int  # 200 for success, else the simulated HTTP status

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclass(frozen=True, slots=True)
class HerdResult:
    """Everything one thundering-herd run produced.

    ``finished[i]`` is when client ``i`` succeeded, or ``None`` if its policy gave up;
    ``arrivals`` are the times requests reached the service (its load).
    """

    label: str
    jitter: Jitter
    clients: int
    capacity: int
    throughput: float  # requests per second the service can serve (capacity / service time)
    outage: tuple[float, float]
    spans: tuple[AttemptSpan, ...]
    finished: tuple[float | None, ...]
    arrivals: tuple[float, ...]
    end: float

    @property
    def succeeded(self) -> int:
        return sum(t is not None for t in self.finished)

    @property
    def gave_up(self) -> int:
        return self.clients - self.succeeded

    @property
    def calls(self) -> int:
        """Attempts made by all clients together (the load the herd put on the service)."""
        return len(self.spans)

    def peak_load(self, window: float = 0.1, *, since: float = 0.0) -> float:
        """Requests per second reaching the service in its busiest ``window`` seconds after ``since``.

        ``since=result.outage[1]`` measures the herd the recovered service had to face.
        """
        return _peak_rate(self.arrivals, window, since)


def thundering_herd(
    *,
    clients: int = 100,
    jitter: Jitter | str = Jitter.NONE,
    attempts: int = 8,
    base_delay: float = 0.1,
    multiplier: float = 2.0,
    max_delay: float = 2.0,
    outage: tuple[float, float] = (0.0, 2.0),
    capacity: int = 10,
    service_time: float = 0.05,
    seed: int = 0,
    label: str | None = None,
) -> HerdResult:
    """``clients`` callers start together against a service that is down until ``outage[1]``.

    Each client makes one call under a ``RetryPolicy`` with the given backoff settings. The
    service serves at most ``capacity`` requests at once for ``service_time`` seconds each (so
    ``capacity / service_time`` requests per second) and sheds the rest with 503. Without jitter
    every client waits exactly the same delays, so their retries arrive as one spike per round:
    the service sheds all but ``capacity`` of each spike, and the herd keeps colliding after the
    outage is over. Jitter spreads each round out so the recovered service can absorb it.
    """
    int_at_least("clients", clients, 1, allowed=_AN_INT)
    int_at_least("capacity", capacity, 1, allowed=_AN_INT)
    env = simpy.Environment()
    rng = random.Random(seed)
    service = SimService(
        env, rng=rng, capacity=capacity, service_time=Constant(service_time), outages=[outage]
    )
    policy = RetryPolicy(
        attempts=attempts,
        base_delay=base_delay,
        multiplier=multiplier,
        max_delay=max_delay,
        jitter=jitter,
        retry_on=classify_sim,
        clock=SimClock(env),
        rng=rng,
    )
    spans: list[AttemptSpan] = []
    finished: list[float | None] = [None] * clients

    def client(index: int) -> simpy.events.ProcessGenerator:
        number = 0

        def attempt() -> simpy.events.ProcessGenerator:
            nonlocal number
            number += 1
            start = env.now
            try:
                yield from service.call()
            except SimServiceError as exc:
                spans.append(AttemptSpan(index, number, start, env.now, exc.status))
                raise
            spans.append(AttemptSpan(index, number, start, env.now, 200))

        try:
            yield from retry_process(env, policy, attempt)
        except (RetryError, SimServiceError):
            return
        finished[index] = env.now

    for index in range(clients):
        env.process(client(index))
    env.run()
    mode = policy.jitter
    return HerdResult(
        label=label or ("no jitter" if mode is Jitter.NONE else f"{mode.value} jitter"),
        jitter=mode,
        clients=clients,
        capacity=capacity,
        throughput=capacity / service_time if service_time > 0 else float("inf"),
        outage=(float(outage[0]), float(outage[1])),
        spans=tuple(sorted(spans, key=lambda s: (s.client, s.attempt))),
        finished=tuple(finished),
        arrivals=tuple(service.stats.arrivals),
        end=float(env.now),
    )


# --------------------------------------------------------------------------------------------------
# Brooker's optimistic-concurrency contention
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentionPoint:
    """Mean outcome of ``trials`` runs of ``clients`` contending clients under one strategy.

    ``work`` is the mean number of conditional writes the server handled; ``time`` the mean
    simulated seconds until the last client succeeded; ``gave_up`` the clients (over all trials)
    whose attempt cap ran out (0 in a sound setup).
    """

    strategy: str
    clients: int
    trials: int
    work: float
    time: float
    gave_up: int

    @property
    def label(self) -> str:
        return BROOKER_STRATEGIES.get(self.strategy, self.strategy)


def brooker_policy(
    strategy: str,
    *,
    clock: SimClock,
    rng: random.Random,
    base: float = 0.005,
    cap: float = 2.0,
    attempts: int = 10_000,
) -> RetryPolicy:
    """The ``RetryPolicy`` for one of :data:`BROOKER_STRATEGIES`, with the post's ``base`` and ``cap``.

    The post's formulas, with ``attempt`` counting failures from 1:

    * exponential: ``sleep = min(cap, base * 2 ** attempt)``; full / equal jitter randomise that;
    * decorrelated: ``sleep = min(cap, uniform(base, previous_sleep * 3))``, starting from ``base``.

    day6's schedule is ``min(cap, base_delay * 2 ** (attempt - 1))``, so the first three use
    ``base_delay = 2 * base`` (first sleep 10 ms for ``base`` = 5 ms, as in the post), while
    decorrelated uses ``base_delay = base`` (its floor). ``"none"`` retries at once. The attempt cap
    is far above what any client needs, so clients retry until they succeed, as in the post; a
    run reports any that did not.
    """
    if strategy not in BROOKER_STRATEGIES:
        raise ConfigError("strategy", strategy, "one of " + ", ".join(BROOKER_STRATEGIES))
    if strategy == "none":
        return RetryPolicy.no_backoff(attempts=attempts, retry_on=classify_sim, clock=clock, rng=rng)
    jitter = _BROOKER_JITTER[strategy]
    return RetryPolicy(
        attempts=attempts,
        base_delay=base if jitter is Jitter.DECORRELATED else 2.0 * base,
        multiplier=2.0,
        max_delay=cap,
        jitter=jitter,
        retry_on=classify_sim,
        clock=clock,
        rng=rng,
    )


def _contention_trial(
    clients: int, strategy: str, seed: int, base: float, cap: float
) -> tuple[int, float, int]:
    """One trial: ``(conditional writes, time the last client succeeded, clients that gave up)``."""
    env = simpy.Environment()
    rng = random.Random(seed)
    service = SimService(env, rng=rng, latency=AbsNormal(0.010, 0.002), record_arrivals=False)
    policy = brooker_policy(strategy, clock=SimClock(env), rng=rng, base=base, cap=cap)
    last_success = 0.0
    gave_up = 0

    def update_row() -> simpy.events.ProcessGenerator:
        version = yield from service.read()
        yield from service.write(version)

    def client() -> simpy.events.ProcessGenerator:
        nonlocal last_success, gave_up
        try:
            yield from retry_process(env, policy, update_row)
        except RetryError:
            gave_up += 1
            return
        last_success = max(last_success, env.now)

    for _ in range(clients):
        env.process(client())
    env.run()
    return service.stats.writes, last_success, gave_up


def contention(
    clients: int,
    strategy: str,
    *,
    trials: int = 100,
    seed: int = 0,
    base: float = 0.005,
    cap: float = 2.0,
) -> ContentionPoint:
    """Brooker's experiment at one point: ``clients`` start together, each updates the row once.

    Each attempt reads the row then writes it conditionally; every network hop is
    ``|Normal(10 ms, 2 ms)|``; a conflicting write (409) is retried under ``strategy`` with the
    post's ``base`` and ``cap`` (see :func:`brooker_policy`). Returns the mean work and time over
    ``trials`` independent, seeded trials; every strategy sees the same trial seeds.
    """
    int_at_least("clients", clients, 1, allowed=_AN_INT)
    int_at_least("trials", trials, 1, allowed=_AN_INT)
    brooker_policy(strategy, clock=SimClock(simpy.Environment()), rng=random.Random(0))  # validate
    works: list[int] = []
    times: list[float] = []
    gave_up = 0
    for trial_seed in _trial_seeds(seed, trials):
        work, finish, lost = _contention_trial(clients, strategy, trial_seed, base, cap)
        works.append(work)
        times.append(finish)
        gave_up += lost
    return ContentionPoint(
        strategy=strategy,
        clients=clients,
        trials=trials,
        work=statistics.fmean(works),
        time=statistics.fmean(times),
        gave_up=gave_up,
    )


def contention_sweep(
    clients: Sequence[int],
    *,
    strategies: Sequence[str] = tuple(BROOKER_STRATEGIES),
    trials: int = 100,
    seed: int = 0,
) -> list[ContentionPoint]:
    """:func:`contention` for every strategy at every client count (the post's two graphs)."""
    return [contention(n, s, trials=trials, seed=seed) for s in strategies for n in clients]


# --------------------------------------------------------------------------------------------------
# Retry storm and the retry budget
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StormResult:
    """One retry-storm run: steady traffic, an outage, and what the retries did to the load.

    ``request_times`` are when callers started a call (the offered load); ``arrivals`` when
    attempts reached the service (the load it actually got).
    """

    label: str
    budget: bool
    rate: float
    duration: float
    outage: tuple[float, float]
    request_times: tuple[float, ...]
    arrivals: tuple[float, ...]
    succeeded: int
    failed: int
    refused_by_budget: int

    @property
    def requests(self) -> int:
        return len(self.request_times)

    @property
    def calls(self) -> int:
        return len(self.arrivals)

    @property
    def amplification(self) -> float:
        """Attempts per request over the whole run (1.0 means no retries at all)."""
        return self.calls / self.requests if self.requests else 0.0

    @property
    def outage_amplification(self) -> float:
        """Attempts per request during the outage: the storm itself."""
        start, end = self.outage
        requests = sum(start <= t < end for t in self.request_times)
        calls = sum(start <= t < end for t in self.arrivals)
        return calls / requests if requests else 0.0

    def peak_load(self, window: float = 1.0, *, since: float = 0.0) -> float:
        """Attempts per second reaching the service in its busiest ``window`` seconds after ``since``."""
        return _peak_rate(self.arrivals, window, since)


def retry_storm(
    *,
    budget: bool,
    rate: float = 50.0,
    duration: float = 30.0,
    outage: tuple[float, float] = (10.0, 20.0),
    attempts: int = 5,
    base_delay: float = 0.1,
    max_delay: float = 2.0,
    max_tokens: float = 10.0,
    token_ratio: float = 0.1,
    seed: int = 0,
    label: str | None = None,
) -> StormResult:
    """Poisson traffic at ``rate`` calls/s for ``duration`` s; the service is down during ``outage``.

    Every call runs under the same ``RetryPolicy`` (``attempts``, full jitter). With
    ``budget=True`` the calls share one :class:`~day6.retry.RetryBudget` (gRPC retry throttling:
    ``max_tokens``, ``token_ratio``): once failures drain it below half, retries are refused and
    each call makes one attempt, so the outage costs about 1x the normal load instead of
    ``attempts``-x. First attempts are never throttled.
    """
    if not rate > 0:
        raise ConfigError("rate", rate, "calls per second > 0")
    if not duration > 0:
        raise ConfigError("duration", duration, "seconds > 0")
    env = simpy.Environment()
    rng = random.Random(seed)
    service = SimService(env, rng=rng, outages=[outage])
    shared = RetryBudget(max_tokens=max_tokens, token_ratio=token_ratio) if budget else None
    policy = RetryPolicy(
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        jitter=Jitter.FULL,
        retry_on=classify_sim,
        budget=shared,
        clock=SimClock(env),
        rng=rng,
    )
    request_times: list[float] = []
    outcome = {"succeeded": 0, "failed": 0, "refused": 0}

    def caller() -> simpy.events.ProcessGenerator:
        request_times.append(env.now)
        try:
            yield from retry_process(env, policy, service.call)
        except RetryBudgetExhaustedError:
            outcome["failed"] += 1
            outcome["refused"] += 1
            return
        except RetryError:
            outcome["failed"] += 1
            return
        outcome["succeeded"] += 1

    def traffic() -> simpy.events.ProcessGenerator:
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now >= duration:
                return
            env.process(caller())

    env.process(traffic())
    env.run()
    return StormResult(
        label=label or ("with retry budget" if budget else "no retry budget"),
        budget=budget,
        rate=float(rate),
        duration=float(duration),
        outage=(float(outage[0]), float(outage[1])),
        request_times=tuple(request_times),
        arrivals=tuple(service.stats.arrivals),
        succeeded=outcome["succeeded"],
        failed=outcome["failed"],
        refused_by_budget=outcome["refused"],
    )
