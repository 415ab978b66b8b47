"""Lab 2's experiments: the real :class:`~day6.circuit_breaker.CircuitBreaker` in simulated time.

The breaker only *reads* its clock (OPEN becomes HALF_OPEN lazily, when a call arrives after the
recovery timeout), so it runs unchanged inside simpy with ``clock=SimClock(env)``. The simulated
clients here use its permit API exactly as any driver that cannot wrap a call would:
``try_acquire()`` -> call the backend -> ``record_success`` / ``record_failure``, and a
:class:`~day6.errors.CircuitOpenError` means "answer the user with a fallback, now".

* :func:`breaker_trace` - one client, one call a second, a short outage: the three-state machine
  drawn from the breaker's own :class:`~day6.circuit_breaker.CircuitStateChanged` events.
* :func:`outage_run` / :func:`outage_comparison` - ``clients`` users of one application send
  requests to a backend that goes down for a minute, with and without a breaker: calls wasted on
  the dead backend, what the users waited, and how long until they were served again.
* :func:`stampede` / :func:`stampede_comparison` - the half-open stampede: every client refused
  while OPEN was told the same moment to come back; if the breaker let them all through as probes,
  the whole crowd lands on a backend that has only just recovered (and still runs at reduced
  capacity). One probe at a time (the default ``half_open_max_calls=1``) avoids it.

Every runner builds a fresh world from a seed and returns one tidy, frozen :class:`BreakerRun`
that :mod:`day6.viz` plots. Traffic (who sends when) and the service draw from separate seeded
generators, so two arms of a comparison see exactly the same users.

The outage kinds (``outage_kind``):

* ``"hang"`` - the backend stops answering: a request that arrives during the outage is held until
  it ends, so the client's own ``timeout`` fires first. The worst kind for users, and the usual one
  for a dead upstream (a TCP connection that never answers).
* ``"error"`` - the backend answers every request at once with 503.
* ``"partial"`` - a brownout: during the outage each served request fails with 500 with
  probability ``partial_error_rate``. Long runs of consecutive failures are rare, so this is the
  case for the breaker's failure-*rate* rule.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import simpy

from day6._validate import int_at_least, positive
from day6.circuit_breaker import BreakerMetrics, CircuitBreaker, CircuitState, CircuitStateChanged, Permit
from day6.clock import SimClock
from day6.errors import CircuitOpenError, ConfigError, ErrorKind, classify
from day6.sim.retry_experiments import _peak_rate
from day6.sim.service import AbsNormal, Constant, Latency, SimService, SimServiceError, Uniform

__all__ = [
    "DEFAULT_BREAKER",
    "OUTAGE_KINDS",
    "TRIP_RULES",
    "BreakerRun",
    "RequestOutcome",
    "UserRequest",
    "breaker_settings",
    "breaker_trace",
    "outage_comparison",
    "outage_run",
    "stampede",
    "stampede_comparison",
]

OUTAGE_KINDS: Final = ("hang", "error", "partial")
"""What the backend does during an outage (see the module docstring)."""

_RESERVED: Final = frozenset({"name", "clock", "hooks"})
_UNBOUNDED_PROBES: Final = 1_000_000  # "everyone through": more probe slots than there are clients
_SECONDS: Final = "a finite number of seconds > 0"  # the ConfigError wording for durations
_AN_INT: Final = "an int >= 1"


class RequestOutcome(enum.StrEnum):
    """What one user saw."""

    OK = "ok"  # the backend answered
    ERROR = "error"  # the backend answered with an error (503 during an outage, 500 in a brownout)
    TIMEOUT = "timeout"  # no answer before the client's timeout
    REJECTED = "rejected"  # the breaker refused the call: the user got the fallback without a backend call


_FAILED: Final = frozenset({RequestOutcome.ERROR, RequestOutcome.TIMEOUT})


@dataclass(frozen=True, slots=True)
class UserRequest:
    """One request from one client: when it started, how long the user waited, and what they got.

    ``sent_at`` is when the breaker let it through to the backend: ``start``, or later for a
    client that first waited out a refusal; ``None`` if it never went (a breaker rejection).
    """

    client: int
    start: float
    latency: float
    outcome: RequestOutcome
    sent_at: float | None

    @property
    def sent(self) -> bool:
        """Whether the request reached the backend."""
        return self.sent_at is not None

    @property
    def end(self) -> float:
        return self.start + self.latency


@dataclass(frozen=True, slots=True)
class BreakerRun:
    """Everything one simulated run produced; the records the Lab 2 figures are drawn from.

    ``settings`` are the ``CircuitBreaker`` keyword arguments (``None``: no breaker at all).
    ``arrivals`` are the times requests reached the backend (its load); ``transitions`` the
    breaker's own state-change events, oldest first. ``throughput`` is what the backend could
    serve, as ``(from time, requests per second)`` steps (empty when unlimited); ``warmup`` the
    window after the outage in which it ran at reduced capacity, if any. ``metrics`` is the
    breaker's snapshot at the end.
    """

    label: str
    settings: Mapping[str, Any] | None
    clients: int
    outage: tuple[float, float]
    outage_kind: str
    end: float
    requests: tuple[UserRequest, ...]
    arrivals: tuple[float, ...]
    transitions: tuple[CircuitStateChanged, ...]
    throughput: tuple[tuple[float, float], ...] = ()
    warmup: tuple[float, float] | None = None
    metrics: BreakerMetrics | None = None

    @property
    def has_breaker(self) -> bool:
        return self.settings is not None

    @property
    def calls(self) -> int:
        """Requests that reached the backend."""
        return len(self.arrivals)

    def count(self, outcome: RequestOutcome | str) -> int:
        """How many requests ended with ``outcome``."""
        return sum(r.outcome == outcome for r in self.requests)

    @property
    def outcomes(self) -> dict[str, int]:
        """Requests per outcome, every outcome listed (in :class:`RequestOutcome` order)."""
        return {str(o): self.count(o) for o in RequestOutcome}

    @property
    def wasted_calls(self) -> int:
        """Calls the backend received that could not succeed (they failed or timed out).

        This is the load a breaker exists to remove: work for a dead backend, and a user waiting.
        """
        return sum(r.sent and r.outcome in _FAILED for r in self.requests)

    @property
    def failure_wait(self) -> float:
        """User-seconds spent waiting for an answer that was a failure (timeouts dominate it)."""
        return sum(r.latency for r in self.requests if r.outcome is not RequestOutcome.OK)

    def mean_latency(self, outcome: RequestOutcome | str) -> float | None:
        """Mean seconds the users with ``outcome`` waited (``None`` if there were none)."""
        waits = [r.latency for r in self.requests if r.outcome == outcome]
        return sum(waits) / len(waits) if waits else None

    @property
    def time_to_recover(self) -> float | None:
        """Seconds from the outage's end until a user was served again (``None``: never).

        Without a breaker this is about one request's latency: traffic never stopped. With one it
        includes waiting for the next probe, up to the recovery timeout: the price of failing fast.
        """
        after = [r.end for r in self.requests if r.outcome is RequestOutcome.OK and r.end >= self.outage[1]]
        return min(after) - self.outage[1] if after else None

    def state_times(self) -> tuple[list[float], list[str]]:
        """``(times, states)`` for :func:`day6.viz.plot_state_band`: closed at 0, then each change."""
        times, states = [0.0], [str(CircuitState.CLOSED)]
        for event in self.transitions:
            times.append(event.at)
            states.append(str(event.new))
        return times, states

    def opened(self, *, since: float = 0.0) -> int:
        """How many times the breaker opened at or after ``since``."""
        return sum(e.new is CircuitState.OPEN and e.at >= since for e in self.transitions)

    @property
    def closed_at(self) -> float | None:
        """When the breaker closed again after the outage ended (``None``: it did not)."""
        closes = [e.at for e in self.transitions if e.new is CircuitState.CLOSED and e.at >= self.outage[1]]
        return closes[0] if closes else None

    def peak_load(self, window: float = 0.1, *, since: float = 0.0) -> float:
        """Requests per second reaching the backend in its busiest ``window`` seconds after ``since``."""
        return _peak_rate(self.arrivals, window, since)


# --------------------------------------------------------------------------------------------------
# The simulated world
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _HangUntil:
    """A service time that stalls through an outage: a request arriving in it is held until it ends.

    It implements :class:`~day6.sim.service.Latency` by reading the simulation's clock, which is how
    a hung backend looks from outside: the request is accepted and then nothing comes back.
    """

    env: simpy.Environment
    window: tuple[float, float]
    normal: Latency

    def sample(self, rng: random.Random) -> float:
        start, end = self.window
        now = float(self.env.now)
        stall = end - now if start <= now < end else 0.0
        return stall + self.normal.sample(rng)


def _check_window(outage: object, duration: float) -> tuple[float, float]:
    valid = (
        isinstance(outage, tuple)
        and len(outage) == 2
        and all(isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in outage)
        and 0 <= outage[0] < outage[1] <= duration
    )
    if not valid:
        raise ConfigError("outage", outage, f"(start, end) with 0 <= start < end <= duration ({duration:g})")
    assert isinstance(outage, tuple)
    return float(outage[0]), float(outage[1])


def _check_settings(settings: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if settings is None:
        return None
    reserved = sorted(_RESERVED & set(settings))
    if reserved:
        raise ConfigError("breaker", dict(settings), f"CircuitBreaker settings without {', '.join(reserved)}")
    return MappingProxyType(dict(settings))


def _seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds from one master seed (traffic and service get their own streams)."""
    master = random.Random(seed)
    return [master.getrandbits(64) for _ in range(n)]


class _World:
    """One simpy world: a backend, an optional shared breaker, and the request records.

    Private plumbing shared by the runners; the interesting code is :meth:`request`, the life of
    one user request through the breaker's permit API.
    """

    def __init__(
        self,
        *,
        settings: Mapping[str, Any] | None,
        outage: tuple[float, float],
        outage_kind: str,
        timeout: float | None,
        service_rng: random.Random,
        latency: Latency,
        service_time: Latency,
        capacity: int | None = None,
        partial_error_rate: float = 0.5,
    ) -> None:
        if outage_kind not in OUTAGE_KINDS:
            raise ConfigError("outage_kind", outage_kind, "one of " + ", ".join(OUTAGE_KINDS))
        if isinstance(partial_error_rate, bool) or not (
            isinstance(partial_error_rate, int | float) and 0.0 < partial_error_rate <= 1.0
        ):
            raise ConfigError("partial_error_rate", partial_error_rate, "a probability in (0, 1]")
        if outage_kind == "hang" and timeout is None:
            raise ConfigError("timeout", timeout, "seconds > 0: a hung backend needs a client timeout")
        env = simpy.Environment()
        self.env = env
        self.timeout = timeout
        self.service = SimService(
            env,
            rng=service_rng,
            latency=latency,
            capacity=capacity,
            service_time=_HangUntil(env, outage, service_time) if outage_kind == "hang" else service_time,
            outages=[outage] if outage_kind == "error" else (),
        )
        if outage_kind == "partial":
            self.set_at(outage[0], "error_rate", float(partial_error_rate))
            self.set_at(outage[1], "error_rate", 0.0)
        self.events: list[CircuitStateChanged] = []
        self.breaker: CircuitBreaker | None = None
        if settings is not None:
            self.breaker = CircuitBreaker(
                "backend", clock=SimClock(env), hooks=[self._on_event], **dict(settings)
            )
        self.records: list[UserRequest] = []

    def _on_event(self, event: object) -> None:
        if isinstance(event, CircuitStateChanged):
            self.events.append(event)

    def set_at(self, when: float, attribute: str, value: object) -> None:
        """Change one of the backend's settings (``capacity``, ``error_rate``) at time ``when``."""

        def process() -> simpy.events.ProcessGenerator:
            yield self.env.timeout(when)
            setattr(self.service, attribute, value)

        self.env.process(process())

    def _status(self) -> simpy.events.ProcessGenerator:
        """One backend call as a process that never fails: it returns the HTTP status."""
        try:
            yield from self.service.call()
        except SimServiceError as exc:
            return exc.status
        return 200

    def _send(self) -> Generator[simpy.Event, Any, int | None]:
        """Call the backend; the status, or ``None`` if the client's timeout fired first.

        A timed-out call keeps running at the backend (nobody cancels server-side work), exactly
        the waste a hung dependency causes.
        """
        call = self.env.process(self._status())
        if self.timeout is None:
            status: int = yield call
            return status
        yield call | self.env.timeout(self.timeout)
        return call.value if call.triggered else None

    def request(self, client: int, *, patience: float | None = None) -> Generator[simpy.Event, Any, None]:
        """One user request: through the breaker (if any) to the backend, recorded when it ends.

        Refused by the breaker, the user gets the fallback at once; with ``patience``, the client
        first honours the refusal's ``retry_after`` *once* (if it is at most ``patience`` seconds)
        and asks again -- which is how a crowd of refused clients ends up arriving together.
        """
        env, breaker = self.env, self.breaker
        start = float(env.now)
        permit: Permit | None = None
        waited = False
        while breaker is not None:
            try:
                permit = breaker.try_acquire()
                break
            except CircuitOpenError as refusal:
                if patience is None or waited or refusal.retry_after > patience:
                    self.records.append(
                        UserRequest(client, start, env.now - start, RequestOutcome.REJECTED, None)
                    )
                    return
                waited = True
                yield env.timeout(refusal.retry_after)
        sent_at = float(env.now)
        status = yield from self._send()
        latency = env.now - start
        if status == 200:
            outcome = RequestOutcome.OK
        elif status is None:
            outcome = RequestOutcome.TIMEOUT
        else:
            outcome = RequestOutcome.ERROR
        if breaker is not None and permit is not None:
            if outcome is RequestOutcome.OK:
                breaker.record_success(permit, duration=latency)
            else:
                kind = ErrorKind.TIMEOUT if status is None else classify(status).kind
                breaker.record_failure(permit, kind, duration=latency)
        self.records.append(UserRequest(client, start, latency, outcome, sent_at))

    def result(
        self,
        *,
        label: str,
        settings: Mapping[str, Any] | None,
        clients: int,
        outage: tuple[float, float],
        outage_kind: str,
        throughput: Sequence[tuple[float, float]] = (),
        warmup: tuple[float, float] | None = None,
    ) -> BreakerRun:
        return BreakerRun(
            label=label,
            settings=settings,
            clients=clients,
            outage=outage,
            outage_kind=outage_kind,
            end=float(self.env.now),
            requests=tuple(sorted(self.records, key=lambda r: (r.start, r.client))),
            arrivals=tuple(self.service.stats.arrivals),
            transitions=tuple(self.events),
            throughput=tuple(throughput),
            warmup=warmup,
            metrics=self.breaker.metrics() if self.breaker is not None else None,
        )


# --------------------------------------------------------------------------------------------------
# 1. The state machine, traced
# --------------------------------------------------------------------------------------------------


def breaker_trace(
    *,
    period: float = 1.0,
    duration: float = 20.0,
    outage: tuple[float, float] = (3.0, 12.0),
    failure_threshold: int = 3,
    recovery_timeout: float = 4.5,
    recovery_backoff: float = 1.0,
    seed: int = 0,
) -> BreakerRun:
    """One client calls every ``period`` seconds; the backend answers 503 during ``outage``.

    Every network hop takes exactly 10 ms, so the timeline is easy to read. With the defaults:
    three successes, three failures that open the breaker (at 5.02 s), refusals, a first probe
    at 10 s that fails (the backend is still down) and re-opens it, a second probe at 15 s that
    succeeds and closes it. Every transition in :attr:`BreakerRun.transitions` is the breaker's
    own event, with its reason.
    """
    period = positive("period", period, allowed=_SECONDS)
    duration = positive("duration", duration, allowed=_SECONDS)
    window = _check_window(outage, duration)
    settings = _check_settings(
        {
            "failure_threshold": failure_threshold,
            "recovery_timeout": recovery_timeout,
            "recovery_backoff": recovery_backoff,
            "max_recovery_timeout": max(600.0, float(recovery_timeout)),
        }
    )
    (service_seed,) = _seeds(seed, 1)
    world = _World(
        settings=settings,
        outage=window,
        outage_kind="error",
        timeout=None,
        service_rng=random.Random(service_seed),
        latency=Constant(0.010),
        service_time=Constant(0.0),
    )

    def client() -> simpy.events.ProcessGenerator:
        for tick in range(math.ceil(duration / period)):
            yield world.env.timeout(tick * period - world.env.now)
            world.env.process(world.request(0))

    world.env.process(client())
    world.env.run()
    return world.result(label="one client", settings=settings, clients=1, outage=window, outage_kind="error")


# --------------------------------------------------------------------------------------------------
# 2. An outage, with and without a breaker
# --------------------------------------------------------------------------------------------------

DEFAULT_BREAKER: Final[Mapping[str, Any]] = MappingProxyType(
    {"failure_threshold": 5, "recovery_timeout": 10.0}
)
"""The breaker Lab 2's outage runs use: trip after 5 consecutive failures, probe after 10 s."""

TRIP_RULES: Final = ("consecutive", "failure rate")
"""The trip rules :func:`breaker_settings` can configure."""


def breaker_settings(
    *,
    failure_threshold: int = 5,
    recovery_timeout: float = 10.0,
    trip_rule: str = "consecutive",
    failure_rate: float = 0.5,
    window_size: int = 20,
    minimum_calls: int = 10,
) -> dict[str, Any]:
    """``CircuitBreaker`` keyword arguments for one of :data:`TRIP_RULES`.

    ``"consecutive"`` trips after ``failure_threshold`` failures in a row. ``"failure rate"``
    keeps that rule and adds the windowed one: trip when at least ``failure_rate`` of the last
    ``window_size`` calls failed (once ``minimum_calls`` are in the window), which also catches a
    backend failing every other call, where runs of consecutive failures stay short.
    """
    if trip_rule not in TRIP_RULES:
        raise ConfigError("trip_rule", trip_rule, "one of " + ", ".join(TRIP_RULES))
    settings: dict[str, Any] = {"failure_threshold": failure_threshold, "recovery_timeout": recovery_timeout}
    if trip_rule == "failure rate":
        settings.update(
            failure_rate_threshold=failure_rate, window_size=window_size, minimum_calls=minimum_calls
        )
    return settings


def outage_run(
    *,
    breaker: Mapping[str, Any] | None = DEFAULT_BREAKER,
    clients: int = 20,
    rate: float = 0.5,
    duration: float = 150.0,
    outage: tuple[float, float] = (30.0, 90.0),
    outage_kind: str = "hang",
    timeout: float = 5.0,
    service_time: tuple[float, float] = (0.5, 1.5),
    partial_error_rate: float = 0.5,
    seed: int = 0,
    label: str | None = None,
) -> BreakerRun:
    """``clients`` users each send requests at ``rate`` per second (Poisson) for ``duration`` s.

    All of them go through one application, so one breaker (``breaker``: ``CircuitBreaker``
    keyword arguments; ``None`` for no breaker) guards the backend for all of them. The backend
    answers in ``Uniform(*service_time)`` seconds plus two ~10 ms hops, and fails during
    ``outage`` as ``outage_kind`` says; the client gives up after ``timeout`` seconds. A request
    the breaker refuses is answered at once with a fallback (:attr:`RequestOutcome.REJECTED`).

    The traffic depends only on ``seed`` (not on what the backend or breaker do: users keep
    arriving whatever happens), so runs that differ only in ``breaker`` see the same users.
    """
    int_at_least("clients", clients, 1, allowed=_AN_INT)
    rate = positive("rate", rate, allowed="a finite number of requests per second per client > 0")
    duration = positive("duration", duration, allowed=_SECONDS)
    window = _check_window(outage, duration)
    client_timeout = positive("timeout", timeout, allowed=_SECONDS)
    if not (isinstance(service_time, tuple) and len(service_time) == 2):
        raise ConfigError("service_time", service_time, "(low, high) seconds for Uniform(low, high)")
    low, high = service_time
    settings = _check_settings(breaker)
    traffic_seed, service_seed = _seeds(seed, 2)
    world = _World(
        settings=settings,
        outage=window,
        outage_kind=outage_kind,
        timeout=client_timeout,
        service_rng=random.Random(service_seed),
        latency=AbsNormal(),
        service_time=Uniform(low, high),
        partial_error_rate=partial_error_rate,
    )
    # Open-loop traffic, drawn up front: a merged Poisson stream, each request from a random user.
    traffic = random.Random(traffic_seed)
    schedule: list[tuple[float, int]] = []
    t = traffic.expovariate(rate * clients)
    while t < duration:
        schedule.append((t, traffic.randrange(clients)))
        t += traffic.expovariate(rate * clients)

    def users() -> simpy.events.ProcessGenerator:
        for when, client in schedule:
            yield world.env.timeout(when - world.env.now)
            world.env.process(world.request(client))

    world.env.process(users())
    world.env.run()
    return world.result(
        label=label or ("no breaker" if settings is None else "with breaker"),
        settings=settings,
        clients=clients,
        outage=window,
        outage_kind=outage_kind,
    )


def outage_comparison(*, breaker: Mapping[str, Any] = DEFAULT_BREAKER, **options: Any) -> list[BreakerRun]:
    """:func:`outage_run` twice on the same traffic: ``[no breaker, with breaker]``."""
    return [outage_run(breaker=None, **options), outage_run(breaker=breaker, **options)]


# --------------------------------------------------------------------------------------------------
# 3. The half-open stampede
# --------------------------------------------------------------------------------------------------


def stampede(
    *,
    half_open_max_calls: int = 1,
    clients: int = 20,
    think_time: float = 2.0,
    duration: float = 80.0,
    outage: tuple[float, float] = (10.0, 40.0),
    warmup: float = 20.0,
    capacity: int = 20,
    warm_capacity: int = 4,
    service_time: float = 0.1,
    failure_threshold: int = 5,
    recovery_timeout: float = 5.0,
    patience: float = 30.0,
    seed: int = 0,
    label: str | None = None,
) -> BreakerRun:
    """The half-open stampede: patient clients, an open breaker, and a backend still warming up.

    ``clients`` workers each send one request, wait ``Exponential(think_time)``, send the next.
    The backend answers 503 during ``outage``; for ``warmup`` seconds after it, it can serve only
    ``warm_capacity`` requests at once (cold caches, a shrunken pool) instead of ``capacity``,
    each taking ``service_time``, and sheds the rest with 503.

    A refused client honours the breaker's ``retry_after`` once (up to ``patience`` seconds) and
    asks again. While OPEN, every refusal names the *same* moment (the next probe), so the
    clients gather there. With ``half_open_max_calls=1`` one of them is the probe and the others
    are refused again (they fall back); with a huge value, all of them are let through at once:
    a spike that a warming backend must shed, whose first failure re-opens the breaker, cycle
    after cycle, until the backend is fully back. Both arms run the real ``CircuitBreaker``.
    """
    int_at_least("clients", clients, 1, allowed=_AN_INT)
    int_at_least("capacity", capacity, 1, allowed=_AN_INT)
    int_at_least("warm_capacity", warm_capacity, 1, allowed=_AN_INT)
    think = positive("think_time", think_time, allowed=_SECONDS)
    duration = positive("duration", duration, allowed=_SECONDS)
    window = _check_window(outage, duration)
    warm = positive("warmup", warmup, allowed=_SECONDS)
    serve = positive("service_time", service_time, allowed=_SECONDS)
    wait_limit = positive("patience", patience, allowed=_SECONDS)
    settings = _check_settings(
        {
            "failure_threshold": failure_threshold,
            "recovery_timeout": recovery_timeout,
            "half_open_max_calls": half_open_max_calls,
        }
    )
    service_seed, *client_seeds = _seeds(seed, clients + 1)
    world = _World(
        settings=settings,
        outage=window,
        outage_kind="error",
        timeout=None,
        service_rng=random.Random(service_seed),
        latency=AbsNormal(),
        service_time=Constant(serve),
        capacity=capacity,
    )
    warm_end = window[1] + warm
    world.set_at(window[1], "capacity", warm_capacity)
    world.set_at(warm_end, "capacity", capacity)

    def worker(client: int, rng: random.Random) -> simpy.events.ProcessGenerator:
        while True:
            yield world.env.timeout(rng.expovariate(1.0 / think))
            if world.env.now >= duration:
                return
            yield from world.request(client, patience=wait_limit)

    for client, client_seed in enumerate(client_seeds):
        world.env.process(worker(client, random.Random(client_seed)))
    world.env.run()
    unbounded = half_open_max_calls >= clients
    return world.result(
        label=label or (f"{half_open_max_calls} probe(s) at a time" if not unbounded else "unbounded probes"),
        settings=settings,
        clients=clients,
        outage=window,
        outage_kind="error",
        throughput=[
            (0.0, capacity / serve),
            (window[0], 0.0),  # down: it serves nothing
            (window[1], warm_capacity / serve),
            (warm_end, capacity / serve),
        ],
        warmup=(window[1], warm_end),
    )


def stampede_comparison(**options: Any) -> list[BreakerRun]:
    """:func:`stampede` with one probe at a time (the default) and with every client let through."""
    return [
        stampede(half_open_max_calls=1, label="1 probe at a time (default)", **options),
        stampede(
            half_open_max_calls=_UNBOUNDED_PROBES, label="unbounded probes: everyone through", **options
        ),
    ]
