"""A small simulated backend: network hops, limited capacity, outages, random errors, and one row.

:class:`SimService` is the *world* the experiments put day6's patterns in. It is deliberately
tiny, so a student can hold all of it in their head:

* every request crosses the network twice (there and back), each hop drawn from ``latency``;
* during an **outage** window ``(start, end)`` every request that reaches the service fails with 503;
* with a finite ``capacity`` the service runs at most that many requests at once, each for
  ``service_time``; a request that finds every slot busy is shed at once with 503 (a loss system,
  no queue: the overload is visible as failures, which is what makes a thundering herd hurt);
* with ``error_rate`` a served request fails with 500 anyway (the background noise of real APIs);
* :meth:`SimService.read` and :meth:`SimService.write` model **optimistic concurrency** on a
  single row: a read returns the row's version, and a conditional write succeeds only if no other
  write landed since that read (409 otherwise). That is the model of Brooker's "Exponential Backoff
  And Jitter" (AWS Architecture Blog, 2015).

Every operation is a simpy generator: ``yield from service.call()`` inside a simpy process. Failures
are :class:`SimServiceError` carrying an HTTP status, so :func:`day6.errors.classify` gives them the
same verdict as the real thing (see :func:`classify_sim`). All randomness comes from the injected
``rng``; the same seed replays the same world.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import simpy

from day6._validate import non_negative
from day6.errors import Classification, ConfigError, classify

__all__ = [
    "AbsNormal",
    "Constant",
    "Exponential",
    "Latency",
    "ServiceStats",
    "SimService",
    "SimServiceError",
    "Uniform",
    "classify_sim",
]

_T = TypeVar("_T")


def _finite_non_negative(setting: str, value: float) -> float:
    return non_negative(setting, value, allowed="a finite number of seconds >= 0")


@runtime_checkable
class Latency(Protocol):
    """A distribution of durations in seconds. ``sample`` must return a finite value >= 0."""

    def sample(self, rng: random.Random) -> float: ...


@dataclass(frozen=True, slots=True)
class Constant:
    """Always ``value`` seconds: the no-surprises baseline."""

    value: float = 0.0

    def __post_init__(self) -> None:
        _finite_non_negative("Constant.value", self.value)

    def sample(self, rng: random.Random) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class AbsNormal:
    """``|Normal(mean, sd)|``: the network hop of Brooker's simulator (mean 10 ms, sd 2 ms).

    Folding at zero keeps every draw non-negative without changing the shape when ``mean`` is
    several ``sd`` above zero (the usual case). Real networks have longer tails (Weibull,
    log-normal); for comparing backoff strategies that difference does not matter.
    """

    mean: float = 0.010
    sd: float = 0.002

    def __post_init__(self) -> None:
        _finite_non_negative("AbsNormal.mean", self.mean)
        _finite_non_negative("AbsNormal.sd", self.sd)

    def sample(self, rng: random.Random) -> float:
        return abs(rng.gauss(self.mean, self.sd))


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponentially distributed with the given ``mean`` (memoryless service times)."""

    mean: float

    def __post_init__(self) -> None:
        if _finite_non_negative("Exponential.mean", self.mean) == 0:
            raise ConfigError("Exponential.mean", self.mean, "a finite number of seconds > 0")

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform on ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _finite_non_negative("Uniform.low", self.low)
        if _finite_non_negative("Uniform.high", self.high) < self.low:
            raise ConfigError("Uniform.high", self.high, f"a number of seconds >= low ({self.low})")

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class SimServiceError(Exception):
    """A failure reported by the simulated service, with the HTTP status a real one would send.

    Not a :class:`~day6.errors.ResilienceError`: it stands for an error from the *outside world*
    (like the SDK's ``APIStatusError``), not one day6 raises. :func:`classify_sim` classifies it by
    its ``status`` exactly as :func:`day6.errors.classify` classifies a bare status code.
    """

    def __init__(self, status: int, reason: str) -> None:
        # args must rebuild the error: simpy re-creates a process's failure as type(e)(*e.args).
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


def classify_sim(exc: BaseException) -> Classification:
    """:func:`day6.errors.classify` for simulated failures: by their HTTP status.

    Pass it as ``RetryPolicy(retry_on=classify_sim)`` in simulations, so the policy retries a
    simulated 503 or 409 for exactly the reason it would retry a real one. Anything else goes to
    ``classify`` unchanged.
    """
    if isinstance(exc, SimServiceError):
        return _status_verdict(exc.status)
    return classify(exc)


@functools.cache
def _status_verdict(status: int) -> Classification:
    # A Classification is frozen, so one verdict per status can be shared by every failure
    # (simulations classify millions of them).
    return classify(status)


@dataclass(slots=True)
class ServiceStats:
    """What the service saw. ``arrivals`` holds the arrival time of every request (for load plots)."""

    requests: int = 0
    served: int = 0
    shed: int = 0  # refused because every slot was busy (503)
    outage_failures: int = 0  # refused because the service was down (503)
    errors: int = 0  # served but failed at random (500)
    reads: int = 0
    writes: int = 0  # conditional writes seen (Brooker's "work")
    conflicts: int = 0  # conditional writes refused (409)
    arrivals: list[float] = field(default_factory=list)


class SimService:
    """The simulated backend (see the module docstring for the model).

    Parameters
    ----------
    env:
        The simpy environment whose time the service lives in.
    latency:
        One network hop (each request pays two: there and back). Default ``AbsNormal(10 ms, 2 ms)``.
    capacity:
        Requests served at once; ``None`` for unlimited. A request finding all slots busy gets 503.
    service_time:
        How long the service works on an admitted request, holding one slot. Default 0.
    error_rate:
        Probability in ``[0, 1]`` that a served request fails with 500.
    outages:
        ``(start, end)`` windows in simulated seconds during which every request gets 503.
    record_arrivals:
        Keep every arrival time in :attr:`stats` (turn off in big sweeps to save memory).
    rng:
        The generator for every random draw. Required: a simulation must be reproducible.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        rng: random.Random,
        latency: Latency | None = None,
        capacity: int | None = None,
        service_time: Latency | None = None,
        error_rate: float = 0.0,
        outages: Iterable[tuple[float, float]] = (),
        record_arrivals: bool = True,
    ) -> None:
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            raise ConfigError("capacity", capacity, "an int >= 1, or None for unlimited")
        if isinstance(error_rate, bool) or not (
            isinstance(error_rate, int | float) and 0.0 <= error_rate <= 1.0
        ):
            raise ConfigError("error_rate", error_rate, "a probability in [0, 1]")
        windows: list[tuple[float, float]] = []
        for window in outages:
            start, end = window
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise ConfigError("outages", window, "(start, end) windows with finite 0 <= start < end")
            windows.append((float(start), float(end)))
        self.env = env
        self.rng = rng
        self.latency: Latency = latency if latency is not None else AbsNormal()
        self.capacity = capacity
        self.service_time: Latency = service_time if service_time is not None else Constant(0.0)
        self.error_rate = float(error_rate)
        self.outages: tuple[tuple[float, float], ...] = tuple(sorted(windows))
        self.record_arrivals = record_arrivals
        self.stats = ServiceStats()
        self.version = 0  # the single row of the optimistic-concurrency model
        self._busy = 0

    def is_down(self, at: float | None = None) -> bool:
        """Whether ``at`` (default: now) falls inside an outage window."""
        t = self.env.now if at is None else at
        return any(start <= t < end for start, end in self.outages)

    def hop(self) -> simpy.Timeout:
        """One network hop, as a simpy event to ``yield``."""
        return self.env.timeout(self.latency.sample(self.rng))

    def _arrive(self) -> SimServiceError | None:
        """Admit a request that just reached the service, or say why it is refused."""
        stats = self.stats
        stats.requests += 1
        if self.record_arrivals:
            stats.arrivals.append(self.env.now)
        if self.outages and self.is_down():
            stats.outage_failures += 1
            return SimServiceError(503, "service unavailable (outage)")
        if self.capacity is not None and self._busy >= self.capacity:
            stats.shed += 1
            return SimServiceError(503, "overloaded: request shed")
        return None

    def _request(self, action: Callable[[], _T]) -> Generator[simpy.Event, Any, _T]:
        """The life of one request; ``action`` runs at the service once the request is served.

        hop there -> admission (outage / capacity) -> hold a slot for ``service_time`` -> random
        500 -> ``action()`` -> hop back -> raise or return. The client learns of a failure only
        when the response arrives, after the return hop, as a real client would.
        """
        yield self.hop()
        error = self._arrive()
        result: _T | None = None
        if error is None:
            self._busy += 1
            try:
                duration = self.service_time.sample(self.rng)
                if duration > 0:
                    yield self.env.timeout(duration)
            finally:
                self._busy -= 1
            if self.error_rate and self.rng.random() < self.error_rate:
                self.stats.errors += 1
                error = SimServiceError(500, "internal server error")
            else:
                try:
                    result = action()
                    self.stats.served += 1
                except SimServiceError as refused:
                    error = refused
        yield self.hop()
        if error is not None:
            raise error
        return cast(_T, result)

    def call(self) -> Generator[simpy.Event, Any, None]:
        """One plain request/response (the thundering-herd and retry-storm experiments use it)."""
        return self._request(_nothing)

    def read(self) -> Generator[simpy.Event, Any, int]:
        """Read the row: returns its version as it was when the service handled the read."""
        return self._request(self._read_version)

    def write(self, version: int) -> Generator[simpy.Event, Any, None]:
        """Conditionally write the row: succeeds only if it is still at ``version`` (else 409).

        A compare-and-set, like DynamoDB's conditional writes: the write succeeds only if no other
        write landed since the caller's read. Every conditional write the service handles counts
        as work (``stats.writes``), whether it succeeds or not.
        """
        return self._request(lambda: self._compare_and_set(version))

    def _read_version(self) -> int:
        self.stats.reads += 1
        return self.version

    def _compare_and_set(self, version: int) -> None:
        self.stats.writes += 1
        if version != self.version:
            self.stats.conflicts += 1
            raise SimServiceError(409, "conflict: the row changed since it was read")
        self.version += 1


def _nothing() -> None:
    return None
