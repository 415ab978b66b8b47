"""The readiness report: day6's production targets measured in fake time, next to the bare SDK."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai._models import FinalRequestOptions

from day6.backend import OFFLINE_API_KEY, EmbeddedBackend
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.errors import ConfigError
from day6.faults import FaultInjector
from day6.readiness import (
    Experiment,
    ReadinessReport,
    ReadinessRow,
    _percentile,
    _Record,
    _recoveries,
    _run_side,
    bare_sdk_client,
    default_experiments,
    run_readiness,
)
from day6.simulate_cli import SIMULATIONS, add_arguments, run

# --------------------------------------------------------------------------------------------------
# The full fake-time report, run once for the module (about 4 s)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> ReadinessReport:
    """The default report: production profile, seed 0, deterministic fake time."""
    return run_readiness(seed=0)


def test_report_uses_the_production_profile_and_fake_time(report: ReadinessReport) -> None:
    """By default the report runs the production profile in fake time."""
    assert report.mode == "fake-time"
    assert report.profile == "production"
    assert report.seconds is None
    assert [r.key for r in report.rows] == [
        "availability",
        "recovery",
        "waste_rate_limited",
        "waste_normal",
        "waste_5xx",
        "p95_latency",
        "goodput",
    ]


def test_day6_is_available_under_ten_percent_5xx(report: ReadinessReport) -> None:
    """Under 10 % random 5xx day6 answers at least 99.9 % of 1,000 requests (here: all of them)."""
    row = report.row("availability")
    side = report.experiment("flaky_5xx").day6
    assert side.requests == 1000
    assert row.day6 == side.availability
    assert row.day6 is not None
    assert row.day6 >= 0.999
    # Expected failures with 3 + 3 attempts are 1000 * 0.1**6: none at all is the honest expectation.
    assert side.answered == side.requests
    assert row.passed


def test_day6_recovers_from_every_outage_within_30_seconds(report: ReadinessReport) -> None:
    """After each outage the primary model answers again in under 30 s (breaker timeout 15 s)."""
    side = report.experiment("outage").day6
    assert len(side.recovery_times) == 3
    assert all(t is not None and 0.0 <= t < 30.0 for t in side.recovery_times)
    row = report.row("recovery")
    assert row.day6 == max(t for t in side.recovery_times if t is not None)
    assert row.day6 is not None
    assert row.day6 < 30.0
    assert row.passed


def test_day6_retry_waste_is_under_five_percent_where_the_lesson_means_it(report: ReadinessReport) -> None:
    """Against a rate-limited backend and under normal load day6 wastes under 5 % of its attempts."""
    for key, experiment in (("waste_rate_limited", "rate_limited"), ("waste_normal", "normal")):
        row = report.row(key)
        side = report.experiment(experiment).day6
        assert side.waste == (side.wire_attempts - side.answered) / side.answered
        assert row.day6 == side.waste
        assert row.day6 is not None
        assert row.day6 < 0.05
        assert row.passed
        assert row.binding


def test_day6_p95_latency_under_normal_load_is_under_two_seconds(report: ReadinessReport) -> None:
    """With the latency model on (0.35 s + 12 ms per token), day6's p95 stays under 2 s."""
    row = report.row("p95_latency")
    side = report.experiment("normal").day6
    assert row.day6 == side.p95_latency
    assert row.day6 is not None
    assert 1.0 < row.day6 < 2.0
    assert row.passed


def test_goodput_reaches_the_server_limit_and_never_beats_it(report: ReadinessReport) -> None:
    """day6 gets at least 95.2 % of the server's 40 RPM, and no client gets more than the limit."""
    row = report.row("goodput")
    limited = report.experiment("rate_limited")
    assert row.day6 is not None
    assert row.day6 >= 1 / 1.05
    assert row.passed
    for side in (limited.day6, limited.bare):
        # The budget starts spent and refills at 40 per minute: at most 40 * minutes (+1) answers.
        assert side.answered <= 40 * side.duration / 60 + 1


def test_day6_meets_every_binding_target(report: ReadinessReport) -> None:
    """The production profile is ready: every binding row passes."""
    assert report.passed
    assert "READY" in report.to_text().split("notes:")[0]


# --------------------------------------------------------------------------------------------------
# The bare SDK baseline, under the same faults
# --------------------------------------------------------------------------------------------------


def test_bare_sdk_saw_the_same_fault_rate(report: ReadinessReport) -> None:
    """Both clients met 10 % 5xx: about one attempt in ten was answered by the injector."""
    flaky = report.experiment("flaky_5xx")
    for side in (flaky.day6, flaky.bare):
        assert side.faults_injected / side.wire_attempts == pytest.approx(0.10, abs=0.03)


def test_bare_sdk_availability_matches_three_attempts(report: ReadinessReport) -> None:
    """The bare SDK makes 1 + p + p^2 attempts per request on average and fails about 1 in 1,000."""
    bare = report.experiment("flaky_5xx").bare
    assert bare.wire_attempts / bare.requests == pytest.approx(1 + 0.1 + 0.01, abs=0.03)
    # Binomial(1000, 0.001): P(more than 6 failures) is about 1e-4.
    assert bare.requests - bare.answered <= 6
    assert "1 - 0.1^3 = 99.9 %" in report.row("availability").note


def test_bare_sdk_wastes_a_429_per_answer_against_a_rate_limited_backend(report: ReadinessReport) -> None:
    """Without client-side limiting every bare request meets a 429 first; day6 meets almost none."""
    limited = report.experiment("rate_limited")
    assert limited.bare.rate_limited >= limited.bare.answered // 2
    assert limited.bare.waste is not None
    assert limited.bare.waste >= 0.5
    assert limited.day6.rate_limited <= 0.05 * limited.day6.answered
    row = report.row("waste_rate_limited")
    assert not row.bare_passed
    assert row.passed


def test_bare_sdk_recovers_first_because_it_hammers_the_outage(report: ReadinessReport) -> None:
    """The bare SDK answers within seconds of an outage's end, at the price of 3 attempts per request."""
    outage = report.experiment("outage")
    bare_worst = outage.bare.worst_recovery
    day6_worst = outage.day6.worst_recovery
    assert bare_worst is not None
    assert day6_worst is not None
    # Longest bare path: backoff 0.5 + 1.0 s, a 1.4 s answer and one request interval.
    assert bare_worst < 4.0
    assert bare_worst < day6_worst
    assert outage.bare.faults_injected >= 3 * outage.day6.faults_injected


def test_waste_under_ten_percent_5xx_is_reported_as_information(report: ReadinessReport) -> None:
    """Both clients waste about p / (1 - p) = 11 % under 10 % 5xx; the row informs, it does not judge."""
    row = report.row("waste_5xx")
    assert not row.binding
    assert row.day6 is not None
    assert row.bare is not None
    assert row.day6 == pytest.approx(0.1 / 0.9, abs=0.04)
    assert row.bare == pytest.approx(0.1 / 0.9, abs=0.04)
    assert not row.passed
    assert "info (missed)" in report.to_text()


def test_p95_is_the_same_for_both_clients_under_normal_load(report: ReadinessReport) -> None:
    """Under normal load retries are too rare to move the p95: the backend sets it for both."""
    normal = report.experiment("normal")
    assert normal.day6.p95_latency == pytest.approx(normal.bare.p95_latency)


# --------------------------------------------------------------------------------------------------
# The one seam: the SDK's retry sleep on an injected clock
# --------------------------------------------------------------------------------------------------


class _Fixed(random.Random):
    """A generator whose ``random()`` always returns ``u``."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


@given(
    u=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    retries_taken=st.integers(min_value=0, max_value=11),
    retry_after_ms=st.one_of(st.none(), st.integers(min_value=1, max_value=200_000)),
)
def test_bare_client_delay_equals_the_sdks_own_rule(
    u: float, retries_taken: int, retry_after_ms: int | None
) -> None:
    """For the same jitter draw the delay equals ``_calculate_retry_timeout`` (Retry-After included)."""
    clock = FakeClock()
    backend = EmbeddedBackend(clock=clock)
    client: Any = bare_sdk_client(backend, FaultInjector(clock=clock), clock=clock, rng=_Fixed(u))
    headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
    response = httpx2.Response(503, headers=headers)
    options = FinalRequestOptions(method="post", url="/chat/completions", max_retries=12)
    import openai._base_client as base

    original = base.random
    base.random = lambda: u  # type: ignore[assignment]
    try:
        expected = client._calculate_retry_timeout(12 - retries_taken, options, response.headers)
    finally:
        base.random = original
    assert client.retry_delay(retries_taken=retries_taken, response=response) == pytest.approx(expected)


def test_bare_client_retries_twice_with_sdk_backoff_on_the_fake_clock(clock: FakeClock) -> None:
    """Two 503s then an answer: three wire attempts and two fake sleeps of 0.5 s and 1 s less jitter."""
    backend = EmbeddedBackend(clock=clock)
    injector = FaultInjector(clock=clock, rng=random.Random(0))
    injector.inject("overloaded", count=2)
    client = bare_sdk_client(backend, injector, clock=clock, rng=random.Random(0))
    reply = client.chat.completions.create(model="day6-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert len(injector.log) == 2
    assert backend.stats()["requests"] == 1
    first, second = clock.sleeps
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0
    assert clock.now() == pytest.approx(first + second)


def test_bare_client_gives_up_after_three_attempts(clock: FakeClock) -> None:
    """The SDK's default is 3 attempts: a third 503 reaches the caller as InternalServerError."""
    backend = EmbeddedBackend(clock=clock)
    injector = FaultInjector(clock=clock)
    injector.inject("overloaded", count=3)
    client = bare_sdk_client(backend, injector, clock=clock, rng=random.Random(0))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="day6-mini", messages=[{"role": "user", "content": "hi"}])
    assert len(injector.log) == 3
    assert len(clock.sleeps) == 2
    assert backend.stats()["requests"] == 0


def test_bare_client_honours_the_servers_retry_after(clock: FakeClock) -> None:
    """A 429 from the backend's RPM limit is retried after exactly its retry-after-ms."""
    backend = EmbeddedBackend(clock=clock, requests_per_minute=1)
    client = bare_sdk_client(backend, FaultInjector(clock=clock), clock=clock, rng=random.Random(0))
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="day6-mini", messages=messages)  # spends the minute's budget
    client.chat.completions.create(model="day6-mini", messages=messages)
    assert backend.stats()["rate_limited"] == 1
    assert clock.sleeps == [pytest.approx(60.0)]


# --------------------------------------------------------------------------------------------------
# Determinism, isolation, validation
# --------------------------------------------------------------------------------------------------


def _small() -> tuple[Experiment, ...]:
    """The default experiments cut short (the first outage only, 40 s of rate limiting)."""
    sizes = {"flaky_5xx": 40, "outage": 70, "normal": 20, "rate_limited": 40}
    return tuple(dataclasses.replace(e, requests=sizes[e.name]) for e in default_experiments())


def test_same_seed_gives_the_same_report() -> None:
    """Two runs with one seed agree number for number; another seed draws other faults."""
    first = run_readiness(seed=7, experiments=_small())
    again = run_readiness(seed=7, experiments=_small())
    other = run_readiness(seed=8, experiments=_small())
    assert first == again
    assert first.as_dict() == again.as_dict()
    assert first.to_text() == again.to_text()
    assert first.experiment("flaky_5xx").as_dict() != other.experiment("flaky_5xx").as_dict()


def test_report_stays_offline_whatever_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real key or base URL in the environment is never used, and no key appears in the output."""
    secret = "sk-live-abcdefghijklmnopqrstuvwxyz123456"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.invalid/v1")
    result = run_readiness(seed=1, experiments=_small())
    assert result.experiment("normal").day6.answered == 20  # answered by the embedded backend
    dumped = json.dumps(result.as_dict(), allow_nan=False) + result.to_text()
    assert secret not in dumped
    assert OFFLINE_API_KEY not in dumped


def test_as_dict_is_strict_json(report: ReadinessReport) -> None:
    """``as_dict`` is plain JSON (no NaN or infinity) that keeps every row and experiment."""
    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert data["passed"] is True
    assert [r["key"] for r in data["rows"]] == [r.key for r in report.rows]
    assert {e["name"] for e in data["experiments"]} == {"flaky_5xx", "outage", "normal", "rate_limited"}
    assert data["rows"][0]["day6"] == pytest.approx(report.rows[0].day6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"real_time": 0.5},
        {"real_time": math.nan},
        {"real_time": math.inf},
        {"seed": "zero"},
        {"seed": True},
        {"requests": 5},
        {"experiments": default_experiments()[:2]},
    ],
)
def test_invalid_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    """Bad settings are refused before anything runs, naming the setting."""
    with pytest.raises(ConfigError) as info:
        run_readiness(**kwargs)
    assert info.value.setting == next(iter(kwargs))


@pytest.mark.parametrize(
    ("field", "value"), [("requests", 0), ("requests", 2.5), ("interval", math.nan), ("interval", -1.0)]
)
def test_experiment_validates_its_settings(field: str, value: Any) -> None:
    """An experiment with no requests or a non-positive interval is refused."""
    with pytest.raises(ConfigError):
        Experiment(**{"name": "x", "title": "x", "requests": 10, "interval": 1.0, field: value})


def test_experiment_rejects_an_outage_that_ends_before_it_starts() -> None:
    """Outages are (start, end) with start < end."""
    with pytest.raises(ConfigError):
        Experiment("x", "x", 10, 1.0, outages=((20.0, 10.0),))


def test_real_time_mode_runs_on_the_system_clock_and_says_it_is_noisy() -> None:
    """``real_time`` runs the same experiments briefly in real time and labels the table noisy."""
    result = run_readiness(seed=0, real_time=1.0)
    assert result.mode == "real-time"
    assert result.seconds == 1.0
    assert "REAL TIME" in result.to_text()
    assert "NOISY" in result.to_text()
    assert all(e.day6.requests >= 1 and e.bare.requests >= 1 for e in result.experiments)
    assert len(result.rows) == 7


def test_a_time_budget_also_stops_a_client_running_behind_schedule() -> None:
    """With a time budget no request starts after it, even when the client has fallen behind."""
    limited = next(e for e in default_experiments() if e.name == "rate_limited")
    config = ReliabilityConfig.profile("production")
    side = _run_side("bare", limited, config=config, seed=0, clock=FakeClock(), stop_after=30.0)
    # 40 RPM with a spent budget: about 2 s per answer, so the 1 s schedule falls behind at once.
    assert 10 <= side.requests < 30
    assert side.duration >= 30.0 - 3.0


def test_unmeasured_rows_say_run_longer_in_real_time() -> None:
    """In real time a row with no measurement asks for a longer run instead of claiming a failure."""
    row = ReadinessRow("r", "recovery", "< 30 s", 30.0, False, "seconds", None, 1.0, False, True, True, "n")
    report = ReadinessReport("real-time", 0, "production", 10.0, (row,), ())
    text = report.to_text()
    assert "n/a (run longer)" in text
    assert "(1 not measured): NOT READY" in text


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_nearest_rank_p95_is_a_sample_with_95_percent_at_or_below(values: list[float]) -> None:
    """The p95 is one of the samples; at least 95 % are <= it and fewer than 95 % are below it."""
    p95 = _percentile(values, 0.95)
    assert p95 in values
    n = len(values)
    assert sum(v <= p95 for v in values) >= 0.95 * n
    assert sum(v < p95 for v in values) < 0.95 * n


def test_percentile_of_nothing_is_none() -> None:
    """No samples, no percentile."""
    assert _percentile([], 0.95) is None


def test_recovery_is_the_first_primary_answer_after_each_outage() -> None:
    """Fallback answers and answers before the outage's end do not count; none at all gives None."""
    records = [
        _Record(9.0, 10.5, ok=True, primary=True),  # ends after the first outage: counts
        _Record(12.0, 13.0, ok=True, primary=True),
        _Record(31.0, 32.0, ok=True, primary=False),  # fallback model: not a recovery
        _Record(45.0, 46.0, ok=False, primary=False),
    ]
    assert _recoveries(records, [(0.0, 10.0), (20.0, 30.0)]) == (0.5, None)


def test_a_row_without_a_measurement_fails_when_binding() -> None:
    """A binding target with no measurement is not met, and the table says so."""
    row = ReadinessRow("r", "recovery", "< 30 s", 30.0, False, "seconds", None, 1.0, False, True, True, "n")
    report = ReadinessReport("fake-time", 0, "production", None, (row,), ())
    assert not report.passed
    assert "FAIL (not measured)" in report.to_text()


# --------------------------------------------------------------------------------------------------
# The `day6 simulate` subcommand
# --------------------------------------------------------------------------------------------------


def _simulate(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="day6 simulate")
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


@pytest.fixture
def small_readiness(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Make the CLI run the shortened experiments (same code path, a quarter of the time)."""
    calls: list[dict[str, Any]] = []
    real = run_readiness

    def shortened(**kwargs: Any) -> ReadinessReport:
        calls.append(kwargs)
        return real(**kwargs, experiments=_small())

    monkeypatch.setattr("day6.readiness.run_readiness", shortened)
    return calls


def test_cli_readiness_prints_the_table(
    small_readiness: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``day6 simulate readiness`` prints every target with day6's and the bare SDK's numbers."""
    assert _simulate("readiness", "--seed", "3") == 0
    assert small_readiness == [{"seed": 3, "requests": 1000, "real_time": None}]
    out = capsys.readouterr().out
    assert "day6 readiness: fake time (deterministic), seed 3, profile production" in out
    for name in ("availability, 10 % random 5xx", "recovery after an outage", "p95 latency, normal load"):
        assert name in out
    assert "bare SDK" in out
    assert "day6 verdict" in out


def test_cli_readiness_json(
    small_readiness: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` prints the report's dictionary."""
    assert _simulate("readiness", "--requests", "20", "--json") == 0
    assert small_readiness[0]["requests"] == 20
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "fake-time"
    assert len(data["rows"]) == 7


def test_cli_check_exits_1_when_a_target_is_missed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``--check`` a missed binding target is exit status 1 (without it, 0)."""
    row = ReadinessRow(
        "a", "availability", ">= 99.9 %", 0.999, True, "ratio", 0.99, 0.99, False, False, True, ""
    )
    missed = ReadinessReport("fake-time", 0, "production", None, (row,), ())
    monkeypatch.setattr("day6.readiness.run_readiness", lambda **_: missed)
    assert _simulate("readiness", "--check") == 1
    assert _simulate("readiness") == 0
    assert "NOT READY" in capsys.readouterr().out


def test_cli_bad_setting_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--requests 3`` is refused with exit status 2 and the reason on stderr."""
    assert _simulate("readiness", "--requests", "3") == 2
    assert "requests=3 is invalid" in capsys.readouterr().err


def test_cli_list_and_missing_name(capsys: pytest.CaptureFixture[str]) -> None:
    """``list`` names every simulation; no name prints the list and exits 2."""
    assert _simulate("list") == 0
    listed = capsys.readouterr().out
    assert all(s.name in listed for s in SIMULATIONS)
    assert _simulate() == 2
    assert "readiness" in capsys.readouterr().out


def test_cli_sim_experiments_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    """herd, contention and storm run Lab 1's simpy experiments and print their summaries."""
    assert _simulate("herd", "--clients", "20", "--json") == 0
    herd = json.loads(capsys.readouterr().out)
    assert [h["jitter"] for h in herd] == ["none", "proportional", "full", "equal", "decorrelated"]
    assert _simulate("contention", "--clients", "3,5", "--trials", "2", "--json") == 0
    points = json.loads(capsys.readouterr().out)
    assert {(p["strategy"], p["clients"]) for p in points} >= {("full", 3), ("none", 5)}
    assert _simulate("storm", "--duration", "3", "--rate", "20", "--json") == 0
    storm = json.loads(capsys.readouterr().out)
    assert [s["label"] for s in storm] == ["no retry budget", "with retry budget"]


def test_cli_sim_tables(capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``--json`` the simulations print aligned tables."""
    assert _simulate("herd", "--clients", "10") == 0
    assert "peak load after outage" in capsys.readouterr().out
    assert _simulate("storm", "--duration", "3", "--rate", "10") == 0
    assert "calls/request" in capsys.readouterr().out
    assert _simulate("contention", "--clients", "3", "--trials", "1") == 0
    assert "Full jitter" in capsys.readouterr().out
