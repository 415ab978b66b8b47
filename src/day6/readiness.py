"""Production readiness, measured: the lesson's targets checked by experiment, next to the bare SDK.

The lesson ends with four promises: **99.9 % availability**, **recovery under 30 s** after an
outage, **under 5 % retry waste**, and a **p95 latency under 2 s** under normal load. A promise
is only worth the experiment that checks it, so :func:`run_readiness` runs each one twice under
*identical* faults:

* **day6**: a :class:`~day6.agent.ResilientAgent` with the production profile (adaptive
  limiter, one breaker per model, ``RetryPolicy`` with a shared retry budget, fallback model;
  the SDK's own retries off). Each simulated user asks one independent question, so the agent's
  conversation memory is cleared after every request;
* **bare SDK**: a plain ``openai.OpenAI`` client with its *default* retry behaviour
  (``max_retries=2``: three attempts, ``0.5 s * 2**n`` backoff capped at 8 s minus up to 25 %
  jitter, ``Retry-After`` honoured up to 120 s). This is what most code in the wild runs.

Each client gets its own, identical world: an :class:`~day6.backend.EmbeddedBackend` with the
same settings behind a :class:`~day6.faults.FaultTransport` whose
:class:`~day6.faults.FaultInjector` is seeded the same way (one draw per attempt, so both clients
meet the same sequence of faults attempt by attempt). Every difference in the table comes from
the client.

**Deterministic mode (the default).** Each (experiment, client) run has one
:class:`~day6.clock.FakeClock`, shared by the client, the backend (its latency model sleeps on
it) and the injector (fault windows read it).
Users arrive on that clock, one request every ``interval`` seconds; a request that finds the
previous one still running starts when it ends (one user stream, no concurrency). Every random
draw comes from a generator seeded from ``seed``. A half-hour of traffic then runs in seconds
and the same seed gives the same report, number for number.

**Real-time mode** (``real_time=SECONDS``) runs the same experiments on the
:class:`~day6.clock.SystemClock`, all at once in threads (each run has its own objects), against
a backend with millisecond latencies; no request starts after ``SECONDS``, and those in flight
finish, so a run takes a little longer than ``SECONDS``. It proves the same code holds up in real time;
its numbers come from a handful of requests and are noisy, and minute-scale effects (recovery
after a 15 s breaker timeout, a per-minute rate limit) only show with a budget of a few minutes.

The experiments (fake-time sizes; see :func:`default_experiments`):

``flaky_5xx``
    10 % of attempts fail with a 5xx (500 and 503, 5 % each), one request every 2 s.
``outage``
    Several full outages (every attempt gets 503) of different lengths, one request per second.
``normal``
    Normal load: one request every 2 s (half the client's 60 RPM), 1 % background 500s, the
    backend's latency model on (350 ms to the first token, 12 ms per token).
``rate_limited``
    The server allows 40 RPM and its minute budget is already spent by other traffic when the
    run starts; users ask once a second (60 per minute), more than the server will take.

The measures, defined precisely (all computed identically for both clients):

*availability*
    answered requests / requests. An answer from the fallback model counts (the user got one);
    an apology does not.
*retry waste*
    (wire attempts - answers) / answers: how many upstream HTTP attempts that produced no answer
    were spent per answer. *Wire attempts* are the HTTP requests that left the client: those the
    backend handled plus those the fault injector answered in its place. Attempts the client
    refused itself (an open breaker, an empty limiter) cost the server nothing and are not
    counted. When each attempt fails independently with probability ``p``, every client that
    answers at all wastes ``p / (1 - p)`` per answer in expectation (11.1 % at ``p = 10 %``),
    however clever, because each answer costs ``1 / (1 - p)`` attempts on average:
    so the 5 % target is checked where the lesson means it (normal load, and a rate-limited
    backend with client-side limiting), and the 10 % 5xx figure is reported as information.
*recovery*
    for each outage, the time from its end until a user next gets an answer from the
    *primary* model (the first answer that completes at or after the end); the worst outage is
    reported. Resolution: the request interval (1 s).
*p95 latency*
    the 95th percentile (nearest rank) of request latency, from the moment the client starts a
    request until it returns, failures included.
*goodput*
    answers per minute over the run, as a share of the server's RPM limit. The lesson states
    no number; the row's target, ``1 / (1 + waste target)`` of the limit (95.2 %), is what a
    client wasting no more than the waste target on 429s would reach.

**The one seam in the baseline.** The SDK's retry loop sleeps with ``time.sleep`` inside
``SyncAPIClient._sleep_for_retry``, which a fake clock cannot intercept. :func:`bare_sdk_client`
returns a subclass of ``openai.OpenAI`` that overrides exactly that method: it computes the
delay with the SDK's own rule (its ``_parse_retry_after_header``, its constants
``INITIAL_RETRY_DELAY``, ``MAX_RETRY_DELAY`` and ``MAX_RETRY_AFTER_DELAY``, its
``1 - 0.25 * random()`` jitter, drawn from a seeded generator instead of the ``random`` module
so runs repeat) and sleeps on the injected clock. Which errors are retried, how many times,
and everything else in the SDK run unmodified; ``tests/test_readiness.py`` checks that the delay
equals the SDK's ``_calculate_retry_timeout`` for the same jitter draw.
"""

from __future__ import annotations

import math
import random
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal

from day6.backend import DEFAULT_BASE_URL, OFFLINE_API_KEY, EmbeddedBackend
from day6.clock import Clock, FakeClock, SystemClock
from day6.config import ReliabilityConfig
from day6.errors import ConfigError
from day6.faults import FaultInjected, FaultInjector, FaultSpec, FaultTransport

if TYPE_CHECKING:
    import openai

    from day6.agent import ResilientAgent

__all__ = [
    "Experiment",
    "ExperimentResult",
    "ReadinessReport",
    "ReadinessRow",
    "SideResult",
    "bare_sdk_client",
    "default_experiments",
    "run_readiness",
]

Mode = Literal["fake-time", "real-time"]
ClientName = Literal["day6", "bare"]

PRIMARY_MODEL: Final = "day6-mini"
"""The model both clients ask first (the agent's default; the bare SDK has no other)."""

LATENCY_FAKE: Final = (0.35, 0.012)
"""Backend latency model in fake time: seconds to the first token, seconds per completion token.
A hosted small model: ~350 ms to the first token, ~80 tokens/s. Answers are 50-90 tokens, so a
clean request takes about 1.0-1.4 s."""

LATENCY_REAL: Final = (0.005, 0.0001)
"""Backend latency model in real time: small, so a short run still sees many requests."""

_QUESTIONS: Final = (
    "What is a circuit breaker?",
    "How do retries with exponential backoff work?",
    "Why add jitter to a backoff delay?",
    "What is rate limiting?",
    "Hello!",
    "What does a 429 error mean?",
    "How do I make an LLM agent resilient?",
)
"""What the simulated users ask, in turn (answers of different lengths give a latency spread)."""

_SYSTEM: Final = "You are day6, a helpful assistant that explains how to make LLM agents resilient."
_FIVE_XX: Final = frozenset({"server_error", "overloaded", "bad_gateway"})
_WIDTH: Final = 110


# --------------------------------------------------------------------------------------------------
# The bare SDK baseline
# --------------------------------------------------------------------------------------------------


@cache
def _bare_client_class() -> Callable[..., openai.OpenAI]:
    """Build the ``openai.OpenAI`` subclass once (lazily: importing the SDK is not free)."""
    import openai
    from openai._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY, MAX_RETRY_DELAY

    class BareSDKClient(openai.OpenAI):
        """``openai.OpenAI`` with its default retries, sleeping on an injected clock.

        Overrides only ``_sleep_for_retry`` (see the seam in :mod:`day6.readiness`).
        """

        def __init__(self, *, clock: Clock, jitter_rng: random.Random, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.day6_clock = clock
            self.day6_jitter = jitter_rng
            self.day6_delays: list[float] = []

        def retry_delay(self, *, retries_taken: int, response: Any) -> float:
            """The SDK's ``_calculate_retry_timeout``, with the jitter drawn from ``day6_jitter``.

            Retry-After (``retry-after-ms`` first) when it is in (0, 120] s; otherwise
            ``min(0.5 * 2**retries_taken, 8) * (1 - 0.25 * u)`` with ``u`` uniform in [0, 1).
            """
            headers = response.headers if response is not None else None
            retry_after = self._parse_retry_after_header(headers)
            if (
                retry_after is not None
                and math.isfinite(retry_after)
                and 0 < retry_after <= MAX_RETRY_AFTER_DELAY
            ):
                return float(retry_after)
            retries_done = min(retries_taken, 1000)  # = max_retries - remaining_retries in the SDK
            delay = min(INITIAL_RETRY_DELAY * 2.0**retries_done, MAX_RETRY_DELAY)
            return max(0.0, delay * (1.0 - 0.25 * self.day6_jitter.random()))

        def _sleep_for_retry(
            self, *, retries_taken: int, max_retries: int, options: Any, response: Any
        ) -> None:
            delay = self.retry_delay(retries_taken=retries_taken, response=response)
            self.day6_delays.append(delay)
            self.day6_clock.sleep(delay)

    return BareSDKClient


def bare_sdk_client(
    backend: EmbeddedBackend,
    injector: FaultInjector,
    *,
    clock: Clock,
    rng: random.Random,
    timeout: float = 600.0,
) -> openai.OpenAI:
    """A real ``openai.OpenAI`` with the SDK's default retries (``max_retries=2``) over the faults.

    The transport is ``FaultTransport(backend.transport(), injector)``, exactly what the agent
    uses. ``timeout`` defaults to the SDK's own 600 s. Retry sleeps go to ``clock`` and the jitter
    to ``rng`` (the only change to the SDK: see the module docs).
    """
    import httpx2
    import openai

    cls = _bare_client_class()
    client = cls(
        clock=clock,
        jitter_rng=rng,
        api_key=OFFLINE_API_KEY,
        base_url=DEFAULT_BASE_URL,
        max_retries=openai.DEFAULT_MAX_RETRIES,
        timeout=timeout,
        http_client=httpx2.Client(transport=FaultTransport(backend.transport(), injector)),
    )
    return client


# --------------------------------------------------------------------------------------------------
# Experiments and their results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Experiment:
    """One load pattern with its faults, run identically against both clients.

    ``faults`` are armed when the run starts (their ``start`` / ``duration`` are offsets from it).
    ``outages`` are the ``(start, end)`` offsets of full outages, for the recovery measure.
    ``server_rpm`` sets the backend's requests-per-minute limit; with ``server_busy`` its minute
    budget starts spent ("other traffic used it"), so the limit binds from the first request.
    """

    name: str
    title: str
    requests: int
    interval: float
    faults: tuple[FaultSpec, ...] = ()
    outages: tuple[tuple[float, float], ...] = ()
    server_rpm: int | None = None
    server_busy: bool = False
    latency: tuple[float, float] = LATENCY_FAKE

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int) or self.requests < 1:
            raise ConfigError(f"{self.name}.requests", self.requests, "an integer >= 1")
        interval = self.interval
        if isinstance(interval, bool) or not (
            isinstance(interval, int | float) and math.isfinite(interval) and interval > 0
        ):
            raise ConfigError(f"{self.name}.interval", self.interval, "a finite number of seconds > 0")
        for start, end in self.outages:
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise ConfigError(
                    f"{self.name}.outages", (start, end), "finite (start, end) with 0 <= start < end"
                )


@dataclass(frozen=True, slots=True)
class SideResult:
    """What one client achieved in one experiment. Times are seconds on the run's clock."""

    client: ClientName
    requests: int
    answered: int
    primary_answered: int
    wire_attempts: int
    rate_limited: int
    faults_injected: int
    duration: float
    latencies: tuple[float, ...] = field(repr=False)
    recovery_times: tuple[float | None, ...] = ()
    retries_refused: int = 0
    """Retries the agent's shared :class:`~day6.retry.RetryBudget` refused (always 0 for the SDK)."""

    @property
    def availability(self) -> float | None:
        return self.answered / self.requests if self.requests else None

    @property
    def waste(self) -> float | None:
        """(wire attempts - answers) / answers; None when nothing was answered."""
        return (self.wire_attempts - self.answered) / self.answered if self.answered else None

    @property
    def p95_latency(self) -> float | None:
        return _percentile(self.latencies, 0.95)

    @property
    def p50_latency(self) -> float | None:
        return _percentile(self.latencies, 0.50)

    @property
    def answers_per_minute(self) -> float | None:
        return self.answered * 60.0 / self.duration if self.duration > 0 else None

    @property
    def worst_recovery(self) -> float | None:
        """The slowest recovery over all outages; None if any outage saw no recovery at all."""
        if not self.recovery_times or any(t is None for t in self.recovery_times):
            return None
        return max(t for t in self.recovery_times if t is not None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "requests": self.requests,
            "answered": self.answered,
            "primary_answered": self.primary_answered,
            "wire_attempts": self.wire_attempts,
            "rate_limited": self.rate_limited,
            "faults_injected": self.faults_injected,
            "duration": _rounded(self.duration),
            "availability": _rounded(self.availability),
            "waste": _rounded(self.waste),
            "p50_latency": _rounded(self.p50_latency),
            "p95_latency": _rounded(self.p95_latency),
            "answers_per_minute": _rounded(self.answers_per_minute),
            "recovery_times": [_rounded(t) for t in self.recovery_times],
            "retries_refused": self.retries_refused,
        }


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """One experiment, both clients."""

    experiment: Experiment
    day6: SideResult
    bare: SideResult

    def as_dict(self) -> dict[str, Any]:
        e = self.experiment
        return {
            "name": e.name,
            "title": e.title,
            "requests": e.requests,
            "interval": e.interval,
            "faults": [
                {"fault": f.fault, "probability": f.probability, "start": f.start, "duration": f.duration}
                for f in e.faults
            ],
            "outages": [list(o) for o in e.outages],
            "server_rpm": e.server_rpm,
            "day6": self.day6.as_dict(),
            "bare": self.bare.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class ReadinessRow:
    """One target: its goal, what day6 and the bare SDK measured, and whether day6 met it.

    ``binding`` rows decide :attr:`ReadinessReport.passed`; a non-binding row is information
    (the 10 % 5xx retry waste, whose floor the faults themselves set; see the module docs).
    """

    key: str
    name: str
    target: str
    threshold: float
    higher_is_better: bool
    unit: Literal["ratio", "seconds"]
    day6: float | None
    bare: float | None
    passed: bool
    bare_passed: bool
    binding: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "target": self.target,
            "threshold": self.threshold,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
            "day6": _rounded(self.day6),
            "bare": _rounded(self.bare),
            "passed": self.passed,
            "bare_passed": self.bare_passed,
            "binding": self.binding,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """The readiness table: one :class:`ReadinessRow` per target, plus the raw experiment results."""

    mode: Mode
    seed: int
    profile: str
    seconds: float | None
    rows: tuple[ReadinessRow, ...]
    experiments: tuple[ExperimentResult, ...]

    @property
    def passed(self) -> bool:
        """True when day6 meets every binding target."""
        return all(row.passed for row in self.rows if row.binding)

    def row(self, key: str) -> ReadinessRow:
        for candidate in self.rows:
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    def experiment(self, name: str) -> ExperimentResult:
        for candidate in self.experiments:
            if candidate.experiment.name == name:
                return candidate
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every number rounded to 6 decimals, None where nothing was measured."""
        return {
            "mode": self.mode,
            "seed": self.seed,
            "profile": self.profile,
            "seconds": self.seconds,
            "passed": self.passed,
            "rows": [row.as_dict() for row in self.rows],
            "experiments": [result.as_dict() for result in self.experiments],
        }

    def to_text(self) -> str:
        """A plain-text table (fits 110 columns), the notes, and one line per experiment."""
        if self.mode == "fake-time":
            head = f"day6 readiness: fake time (deterministic), seed {self.seed}, profile {self.profile}"
        else:
            head = (
                f"day6 readiness: REAL TIME ({self.seconds:g} s per experiment, SystemClock) -- NOISY: "
                "few requests; minute-scale rows need minutes"
            )
        lines = [
            head,
            "bare SDK = openai.OpenAI with its default retries (max_retries=2), same backend, same faults",
            "",
        ]
        header = ("#", "target", "goal", "day6", "bare SDK", "day6 verdict")
        table = [header]
        # In fake time a missing measurement means it never happened (no recovery at all); in
        # real time it usually means the run was too short to see it. Neither counts as met.
        unmeasured = "FAIL (not measured)" if self.mode == "fake-time" else "n/a (run longer)"
        for number, row in enumerate(self.rows, 1):
            verdict = (
                ("PASS" if row.passed else "FAIL")
                if row.binding
                else ("info (met)" if row.passed else "info (missed)")
            )
            if row.day6 is None:
                verdict = "n/a" if not row.binding else unmeasured
            table.append(
                (
                    str(number),
                    row.name,
                    row.target,
                    _show(row.day6, row.unit),
                    _show(row.bare, row.unit),
                    verdict,
                )
            )
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for index, cells in enumerate(table):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        binding = [r for r in self.rows if r.binding]
        met = sum(r.passed for r in binding)
        missing = sum(r.day6 is None for r in binding)
        gap = f" ({missing} not measured)" if missing else ""
        verdict = "READY" if self.passed else "NOT READY"
        lines += ["", f"day6 meets {met} of {len(binding)} binding targets{gap}: {verdict}"]
        lines += ["", "notes:"]
        for n, row in enumerate(self.rows, 1):
            lines += textwrap.wrap(row.note, _WIDTH, initial_indent=f"  {n}. ", subsequent_indent="     ")
        lines += ["", "experiments (day6 | bare SDK):"]
        for result in self.experiments:
            lines.append(f"  {result.experiment.name}: {result.experiment.title}")
            for side in (result.day6, result.bare):
                lines += textwrap.wrap(
                    _side_summary(side), _WIDTH, initial_indent="    ", subsequent_indent="          "
                )
        return "\n".join(lines)


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "seconds":
        return f"{value:.2f} s"
    return f"{value:.3%}".replace("%", " %")


def _side_summary(side: SideResult) -> str:
    parts = [
        f"{side.client:>4}: {side.answered}/{side.requests} answered",
        f"{side.wire_attempts} wire attempts",
        f"{side.rate_limited} x 429",
        f"{side.faults_injected} faults",
        f"p95 {_show(side.p95_latency, 'seconds')}",
    ]
    if side.answers_per_minute is not None:
        parts.append(f"{side.answers_per_minute:.1f} answers/min")
    if side.recovery_times:
        parts.append("recovery " + ", ".join(_show(t, "seconds") for t in side.recovery_times))
    return "; ".join(parts)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``q`` of the data at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


# --------------------------------------------------------------------------------------------------
# The default experiments
# --------------------------------------------------------------------------------------------------


def _check_real_time(real_time: object) -> None:
    if real_time is not None and (
        isinstance(real_time, bool)
        or not isinstance(real_time, int | float)
        or not (math.isfinite(real_time) and 1.0 <= real_time <= 3600.0)
    ):
        raise ConfigError("real_time", real_time, "a number of seconds from 1 to 3600, or None for fake time")


_OUTAGES_FAKE: Final = ((30.0, 20.0), (110.0, 45.5), (215.5, 60.25))
"""(start, length) of the fake-time outages: different lengths, so they end at different phases
of the breaker's recovery timeout and of the request schedule."""


def default_experiments(*, requests: int = 1000, real_time: float | None = None) -> tuple[Experiment, ...]:
    """The four experiments of the report.

    ``requests`` sizes the two statistical experiments (``flaky_5xx`` and ``normal``); the
    outage and rate-limit experiments are sized by time. With ``real_time`` every experiment is
    sized to last about that many seconds of wall time, with small backend latencies.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 10:
        raise ConfigError("requests", requests, "an integer >= 10")
    _check_real_time(real_time)
    five_xx = (FaultSpec("server_error", probability=0.05), FaultSpec("overloaded", probability=0.05))
    background = (FaultSpec("server_error", probability=0.01),)
    if real_time is None:
        latency = LATENCY_FAKE
        outages = tuple((start, start + length) for start, length in _OUTAGES_FAKE)
        outage_run = outages[-1][1] + 60.0
        sizes = {"flaky_5xx": requests, "normal": max(10, requests // 2), "rate_limited": 300}
        outage_requests = math.ceil(outage_run)
    else:
        latency = LATENCY_REAL
        outages = ((0.2 * real_time, 0.5 * real_time),)
        sizes = {
            name: math.ceil(real_time / interval) + 1
            for name, interval in (("flaky_5xx", 2.0), ("normal", 2.0), ("rate_limited", 1.0))
        }
        outage_requests = math.ceil(real_time) + 1
    return (
        Experiment(
            "flaky_5xx",
            "10 % of attempts get a 5xx (500 or 503, 5 % each); one request every 2 s",
            sizes["flaky_5xx"],
            2.0,
            faults=five_xx,
            latency=latency,
        ),
        Experiment(
            "outage",
            "full outages (every attempt gets 503) of "
            + ", ".join(f"{end - start:g} s" for start, end in outages)
            + "; one request per second",
            outage_requests,
            1.0,
            faults=tuple(
                FaultSpec("overloaded", probability=1.0, start=start, duration=end - start)
                for start, end in outages
            ),
            outages=outages,
            latency=latency,
        ),
        Experiment(
            "normal",
            "normal load: one request every 2 s, 1 % background 500s, backend latency model on",
            sizes["normal"],
            2.0,
            faults=background,
            latency=latency,
        ),
        Experiment(
            "rate_limited",
            "the server allows 40 RPM, its minute budget already spent; users ask 60 times a minute",
            sizes["rate_limited"],
            1.0,
            server_rpm=40,
            server_busy=True,
            latency=latency,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Running one side of one experiment
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    start: float
    end: float
    ok: bool
    primary: bool


class _Counting:
    """A hook counting injected faults by name (the injector's log is bounded) and the retries
    the agent's retry budget refused (``retry.gave_up`` events that name the budget)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        if isinstance(event, FaultInjected):
            with self._lock:
                self.counts[event.fault] += 1
        elif getattr(event, "topic", None) == "retry.gave_up" and "budget" in str(
            getattr(event, "reason", "")
        ):
            with self._lock:
                self.refused += 1


def _spend_server_budget(backend: EmbeddedBackend) -> None:
    """Use up the backend's RPM budget, as other traffic on the same account would have."""
    import json

    body = json.dumps({"model": PRIMARY_MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
    limit = backend.requests_per_minute or 0
    for _ in range(limit):
        backend.handle("POST", "/v1/chat/completions", {"content-type": "application/json"}, body)


def _wait_until(clock: Clock, when: float) -> None:
    gap = when - clock.now()
    if gap <= 0:
        return
    if isinstance(clock, FakeClock):
        clock.advance(gap)  # nobody waited: the next user simply arrives later
    else:
        clock.sleep(gap)


def _run_side(
    client: ClientName,
    experiment: Experiment,
    *,
    config: ReliabilityConfig,
    seed: int,
    clock: Clock,
    stop_after: float | None,
) -> SideResult:
    """Run ``experiment`` against one client on its own backend, injector and clock."""
    backend = EmbeddedBackend(
        clock=clock,
        requests_per_minute=experiment.server_rpm,
        base_latency=experiment.latency[0],
        per_token_latency=experiment.latency[1],
    )
    if experiment.server_busy:
        _spend_server_budget(backend)
    before = backend.stats()
    counter = _Counting()
    injector = FaultInjector(
        clock=clock, rng=random.Random(f"{seed}/faults/{experiment.name}"), hooks=[counter]
    )
    ask: Callable[[str], tuple[bool, bool]]
    closer: Callable[[], None]
    if client == "day6":
        agent = _agent(
            config, clock=clock, seed=seed, backend=backend, injector=injector, name=experiment.name
        )
        agent.retry.hooks.add(counter)
        ask, closer = _agent_asker(agent), agent.close
    else:
        sdk = bare_sdk_client(
            backend, injector, clock=clock, rng=random.Random(f"{seed}/sdk/{experiment.name}")
        )
        ask, closer = _sdk_asker(sdk), sdk.close

    t0 = clock.now()
    for spec in experiment.faults:
        injector.arm(spec)
    stop_at = None if stop_after is None else t0 + stop_after
    records: list[_Record] = []
    try:
        for i in range(experiment.requests):
            arrival = t0 + i * experiment.interval
            # A client running behind schedule must not keep draining its backlog past the budget.
            if stop_at is not None and max(arrival, clock.now()) >= stop_at:
                break
            _wait_until(clock, arrival)
            start = clock.now()
            ok, primary = ask(_QUESTIONS[i % len(_QUESTIONS)])
            records.append(_Record(start - t0, clock.now() - t0, ok, primary))
    finally:
        closer()

    after = backend.stats()
    injected = sum(counter.counts.values())
    fabricated_429 = counter.counts["rate_limit"] + counter.counts["quota_exhausted"]
    return SideResult(
        client=client,
        requests=len(records),
        answered=sum(r.ok for r in records),
        primary_answered=sum(r.primary for r in records),
        # Every fault used here answers in the backend's place (none forwards the request).
        wire_attempts=after["requests"] - before["requests"] + injected,
        rate_limited=after["rate_limited"] - before["rate_limited"] + fabricated_429,
        faults_injected=injected,
        duration=max((r.end for r in records), default=0.0),
        latencies=tuple(r.end - r.start for r in records),
        recovery_times=_recoveries(records, experiment.outages),
        retries_refused=counter.refused,
    )


def _recoveries(
    records: Sequence[_Record], outages: Sequence[tuple[float, float]]
) -> tuple[float | None, ...]:
    """Per outage: from its end to the first primary answer completing at or after it."""
    times: list[float | None] = []
    for index, (_, end) in enumerate(outages):
        horizon = outages[index + 1][0] if index + 1 < len(outages) else math.inf
        first = next((r.end for r in records if r.primary and end <= r.end < horizon), None)
        times.append(None if first is None else first - end)
    return tuple(times)


def _agent(
    config: ReliabilityConfig,
    *,
    clock: Clock,
    seed: int,
    backend: EmbeddedBackend,
    injector: FaultInjector,
    name: str,
) -> ResilientAgent:
    from day6.agent import ResilientAgent

    agent = ResilientAgent(
        config=config,
        clock=clock,
        rng=random.Random(f"{seed}/agent/{name}"),
        backend=backend,
        injector=injector,
        env={},  # never a real key or URL from the environment: the report stays offline
    )
    injector.hooks.add(agent.monitor)
    return agent


def _agent_asker(agent: ResilientAgent) -> Callable[[str], tuple[bool, bool]]:
    primary = agent.models[0]

    def ask(text: str) -> tuple[bool, bool]:
        reply = agent.chat(text)
        # Each simulated user asks one independent question: no shared conversation.
        agent.memory.clear()
        return reply.ok, reply.ok and reply.model == primary

    return ask


def _sdk_asker(client: openai.OpenAI) -> Callable[[str], tuple[bool, bool]]:
    import openai

    def ask(text: str) -> tuple[bool, bool]:
        try:
            client.chat.completions.create(
                model=PRIMARY_MODEL,
                messages=[{"role": "system", "content": _SYSTEM}, {"role": "user", "content": text}],
            )
        except openai.OpenAIError:
            return False, False
        return True, True

    return ask


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


def run_readiness(
    *,
    config: ReliabilityConfig | None = None,
    seed: int = 0,
    requests: int = 1000,
    real_time: float | None = None,
    experiments: Sequence[Experiment] | None = None,
) -> ReadinessReport:
    """Run the readiness experiments for day6 and the bare SDK and build the report.

    Args:
        config: the agent's settings; the production profile when omitted. The targets are its
            ``monitoring`` section (the lesson's numbers unless you changed them).
        seed: seeds every generator (faults, jitter, the agent); same seed, same report.
        requests: size of the two statistical experiments (see :func:`default_experiments`).
        real_time: run on the system clock instead, each experiment for about this many seconds.
        experiments: override the experiments (they must keep the default names).
    """
    if config is None:
        config = ReliabilityConfig.profile("production")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("seed", seed, "an integer")
    _check_real_time(real_time)
    chosen = (
        tuple(experiments)
        if experiments is not None
        else default_experiments(requests=requests, real_time=real_time)
    )
    required = {"flaky_5xx", "outage", "normal", "rate_limited"}
    if {e.name for e in chosen} != required:
        raise ConfigError(
            "experiments", [e.name for e in chosen], f"exactly the experiments {sorted(required)}"
        )

    clients: tuple[ClientName, ...] = ("day6", "bare")
    jobs = [(e, client) for e in chosen for client in clients]
    sides: dict[tuple[str, str], SideResult]
    if real_time is None:
        sides = {
            (e.name, client): _run_side(
                client, e, config=config, seed=seed, clock=FakeClock(), stop_after=None
            )
            for e, client in jobs
        }
    else:
        # Import once up front so no thread pays for (or races on) the first import.
        _bare_client_class()
        import day6.agent  # noqa: F401

        # Concurrent: each pair gets the whole budget of wall time; the threads mostly sleep.
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="day6-readiness") as pool:
            futures = {
                (e.name, client): pool.submit(
                    _run_side, client, e, config=config, seed=seed, clock=SystemClock(), stop_after=real_time
                )
                for e, client in jobs
            }
            sides = {key: future.result() for key, future in futures.items()}
    results = tuple(ExperimentResult(e, sides[(e.name, "day6")], sides[(e.name, "bare")]) for e in chosen)
    return ReadinessReport(
        mode="fake-time" if real_time is None else "real-time",
        seed=seed,
        profile=config.profile_name or "defaults",
        seconds=None if real_time is None else float(real_time),
        rows=_rows(results, config),
        experiments=results,
    )


def _rows(results: Sequence[ExperimentResult], config: ReliabilityConfig) -> tuple[ReadinessRow, ...]:
    by_name = {r.experiment.name: r for r in results}
    targets = config.monitoring
    flaky, outage, normal, limited = (by_name[n] for n in ("flaky_5xx", "outage", "normal", "rate_limited"))
    waste_floor = _five_xx_probability(flaky.experiment)
    floor = waste_floor / (1.0 - waste_floor)
    goodput_target = 1.0 / (1.0 + targets.retry_waste)
    rpm = limited.experiment.server_rpm or 0

    def goodput(side: SideResult) -> float | None:
        per_minute = side.answers_per_minute
        return None if per_minute is None or not rpm else per_minute / rpm

    def pct(x: float) -> str:
        return f"{x:.1%}".replace("%", " %")

    def bare_failures(side: SideResult) -> str:
        return f"{side.requests - side.answered} of {side.requests} requests failed"

    p = waste_floor
    attempts = config.retry.attempts
    refused = (
        f"; the shared RetryBudget refused {flaky.day6.retries_refused} retries"
        if flaky.day6.retries_refused
        else ""
    )
    rows = [
        _row(
            "availability",
            "availability, 10 % random 5xx",
            f">= {pct(targets.availability)}",
            targets.availability,
            True,
            "ratio",
            flaky.day6.availability,
            flaky.bare.availability,
            True,
            f"day6: {bare_failures(flaky.day6)} (up to {attempts} attempts on the primary model, then "
            f"{attempts} on the fallback{refused}). bare SDK: {bare_failures(flaky.bare)}; with 3 attempts "
            f"it expects 1 - {p:g}^3 = {pct(1 - p**3)}, exactly the target, so it passes or misses by luck.",
        ),
        _row(
            "recovery",
            "recovery after an outage (worst)",
            f"< {targets.recovery_time:g} s",
            targets.recovery_time,
            False,
            "seconds",
            outage.day6.worst_recovery,
            outage.bare.worst_recovery,
            True,
            "from the end of each outage to the next answer from the primary model. day6 waits for its "
            f"breaker's recovery timeout ({config.circuit_breaker.recovery_timeout:g} s) before probing; "
            f"meanwhile it sent {outage.day6.faults_injected} attempts into the outages against the bare "
            f"SDK's {outage.bare.faults_injected}: the bare client recovers at once because it never "
            "stops hammering the backend. The price of waiting: over the whole experiment day6 "
            f"answered {outage.day6.answered} of {outage.day6.requests} requests, the bare SDK "
            f"{outage.bare.answered}.",
        ),
        _row(
            "waste_rate_limited",
            "retry waste, rate-limited backend",
            f"< {pct(targets.retry_waste)}",
            targets.retry_waste,
            False,
            "ratio",
            limited.day6.waste,
            limited.bare.waste,
            True,
            f"server limit {rpm} RPM, users ask 60 times a minute. 429s: day6 {limited.day6.rate_limited}, "
            f"bare SDK {limited.bare.rate_limited}. day6's adaptive limiter paces itself to the limit; "
            "the bare SDK sends, gets a 429, waits the Retry-After and sends again.",
        ),
        _row(
            "waste_normal",
            "retry waste, normal load",
            f"< {pct(targets.retry_waste)}",
            targets.retry_waste,
            False,
            "ratio",
            normal.day6.waste,
            normal.bare.waste,
            True,
            "1 % background 500s: each failed attempt is one wasted attempt, for both clients alike.",
        ),
        _row(
            "waste_5xx",
            "retry waste, 10 % random 5xx",
            f"< {pct(targets.retry_waste)}",
            targets.retry_waste,
            False,
            "ratio",
            flaky.day6.waste,
            flaky.bare.waste,
            False,
            f"information, not a verdict: when p = {pct(p)} of attempts fail at random, any client, "
            f"whatever its retry policy, wastes p / (1 - p) = {pct(floor)} per answer in expectation "
            "(every answer costs 1 / (1 - p) attempts), so the 5 % target cannot apply here.",
        ),
        _row(
            "p95_latency",
            "p95 latency, normal load",
            f"< {targets.p95_latency:g} s",
            targets.p95_latency,
            False,
            "seconds",
            normal.day6.p95_latency,
            normal.bare.p95_latency,
            True,
            f"backend latency {normal.experiment.latency[0]:g} s + {normal.experiment.latency[1]:g} s per "
            f"token; median day6 {_show(normal.day6.p50_latency, 'seconds')}, bare SDK "
            f"{_show(normal.bare.p50_latency, 'seconds')}.",
        ),
        _row(
            "goodput",
            f"goodput vs a {rpm} RPM limit",
            f">= {pct(goodput_target)} of limit",
            goodput_target,
            True,
            "ratio",
            goodput(limited.day6),
            goodput(limited.bare),
            True,
            "answers per minute over the run / the server's RPM limit. The lesson names no number: "
            f"{pct(goodput_target)} = 1 / (1 + waste target) is what a client wasting no more than "
            "the waste target on 429s would reach.",
        ),
    ]
    return tuple(rows)


def _five_xx_probability(experiment: Experiment) -> float:
    return sum(f.probability for f in experiment.faults if f.fault in _FIVE_XX)


def _row(
    key: str,
    name: str,
    target: str,
    threshold: float,
    higher_is_better: bool,
    unit: Literal["ratio", "seconds"],
    day6: float | None,
    bare: float | None,
    binding: bool,
    note: str,
) -> ReadinessRow:
    def meets(value: float | None) -> bool:
        if value is None:
            return False
        return value >= threshold if higher_is_better else value < threshold

    return ReadinessRow(
        key=key,
        name=name,
        target=target,
        threshold=threshold,
        higher_is_better=higher_is_better,
        unit=unit,
        day6=day6,
        bare=bare,
        passed=meets(day6),
        bare_passed=meets(bare),
        binding=binding,
        note=note,
    )
