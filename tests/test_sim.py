"""day6.sim: the simpy driver runs the real RetryPolicy; the service model; Lab 1's experiments."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.backoff import Backoff, Jitter
from day6.clock import FakeClock, SimClock
from day6.errors import ConfigError, ErrorKind, RetryBudgetExhaustedError, RetryError
from day6.retry import RetryBudget, RetryPolicy
from day6.sim import (
    BROOKER_STRATEGIES,
    AbsNormal,
    Constant,
    Exponential,
    SimService,
    SimServiceError,
    Uniform,
    brooker_policy,
    classify_sim,
    contention,
    delay_bands,
    retry_process,
    retry_storm,
    scripted_call,
    sdk_error,
    sdk_network_error,
    thundering_herd,
)

# --------------------------------------------------------------------------------------------------
# Import hygiene
# --------------------------------------------------------------------------------------------------


def test_import_day6_does_not_import_simpy_matplotlib_or_ipywidgets() -> None:
    """`import day6` stays light: the lab-only libraries load only when a lab asks for them."""
    code = (
        "import sys, day6\n"
        "heavy = [m for m in ('simpy', 'matplotlib', 'ipywidgets', 'day6.sim', 'day6.viz', 'day6.widgets')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------------
# Latency distributions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "setting"),
    [
        (lambda: Constant(-1.0), "Constant.value"),
        (lambda: Constant(math.nan), "Constant.value"),
        (lambda: AbsNormal(math.inf, 0.002), "AbsNormal.mean"),
        (lambda: AbsNormal(0.01, -0.1), "AbsNormal.sd"),
        (lambda: Exponential(0.0), "Exponential.mean"),
        (lambda: Uniform(0.2, 0.1), "Uniform.high"),
    ],
)
def test_latency_rejects_invalid_settings(factory, setting: str) -> None:  # type: ignore[no-untyped-def]
    """Each distribution refuses negative, NaN or inconsistent settings, naming the setting."""
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        factory()


@settings(max_examples=50, deadline=None)
@given(
    mean=st.floats(0, 10, allow_nan=False),
    sd=st.floats(0, 10, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_abs_normal_is_never_negative(mean: float, sd: float, seed: int) -> None:
    """|Normal(mean, sd)| folds at zero: every draw is a finite duration >= 0."""
    rng = random.Random(seed)
    draws = [AbsNormal(mean, sd).sample(rng) for _ in range(20)]
    assert all(math.isfinite(d) and d >= 0 for d in draws)


# --------------------------------------------------------------------------------------------------
# The service model
# --------------------------------------------------------------------------------------------------


def _run(env, gen):  # type: ignore[no-untyped-def]
    """Run one process to completion and return its value (or raise its error)."""
    process = env.process(gen)
    env.run()
    return process.value


def _failure(env, gen) -> BaseException:  # type: ignore[no-untyped-def]
    """Run one process that must fail and return the exception it raised (the very object)."""
    caught: list[BaseException] = []

    def catcher():  # type: ignore[no-untyped-def]
        try:
            yield from gen
        except BaseException as exc:
            caught.append(exc)

    env.process(catcher())
    env.run()
    assert len(caught) == 1, "the process was expected to fail"
    return caught[0]


def test_call_takes_two_network_hops(env) -> None:  # type: ignore[no-untyped-def]
    """A request costs a hop there and a hop back; the answer arrives after both."""
    service = SimService(env, rng=random.Random(0), latency=Constant(0.01))
    _run(env, service.call())
    assert env.now == pytest.approx(0.02)
    assert service.stats.requests == service.stats.served == 1
    assert service.stats.arrivals == [pytest.approx(0.01)]


def test_outage_fails_requests_that_arrive_inside_the_window(env) -> None:  # type: ignore[no-untyped-def]
    """During an outage every arriving request gets 503; after it, requests succeed."""
    service = SimService(env, rng=random.Random(0), latency=Constant(0.01), outages=[(0.0, 1.0)])
    outcomes: list[object] = []

    def caller(start: float):  # type: ignore[no-untyped-def]
        yield env.timeout(start)
        try:
            yield from service.call()
            outcomes.append((start, 200))
        except SimServiceError as exc:
            outcomes.append((start, exc.status))

    for start in (0.0, 0.98, 0.99, 1.5):
        env.process(caller(start))
    env.run()
    assert sorted(outcomes) == [(0.0, 503), (0.98, 503), (0.99, 200), (1.5, 200)]
    assert service.stats.outage_failures == 2
    assert service.is_down(0.5)
    assert not service.is_down(1.0)


def test_capacity_sheds_requests_when_every_slot_is_busy(env) -> None:  # type: ignore[no-untyped-def]
    """With capacity 2, the third simultaneous request is shed with 503 at once."""
    service = SimService(
        env, rng=random.Random(0), latency=Constant(0.0), capacity=2, service_time=Constant(1.0)
    )
    statuses: list[int] = []

    def caller():  # type: ignore[no-untyped-def]
        try:
            yield from service.call()
            statuses.append(200)
        except SimServiceError as exc:
            statuses.append(exc.status)

    for _ in range(3):
        env.process(caller())
    env.run()
    assert sorted(statuses) == [200, 200, 503]
    assert service.stats.shed == 1
    assert env.now == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "status"), [(1.0, 500), (0.0, 200)])
def test_error_rate_fails_served_requests_with_500(env, rate: float, status: int) -> None:  # type: ignore[no-untyped-def]
    """error_rate=1 fails every served request with 500; error_rate=0 never does."""
    service = SimService(env, rng=random.Random(0), error_rate=rate)
    seen: list[int] = []

    def caller():  # type: ignore[no-untyped-def]
        for _ in range(5):
            try:
                yield from service.call()
                seen.append(200)
            except SimServiceError as exc:
                seen.append(exc.status)

    _run(env, caller())
    assert seen == [status] * 5


def test_conditional_write_conflicts_when_another_write_landed_since_the_read(env) -> None:  # type: ignore[no-untyped-def]
    """Optimistic concurrency: two clients read version 0; the first write wins, the second gets 409."""
    service = SimService(env, rng=random.Random(0), latency=Constant(0.01))
    results: dict[str, int] = {}

    def client(name: str, think: float):  # type: ignore[no-untyped-def]
        version = yield from service.read()
        yield env.timeout(think)
        try:
            yield from service.write(version)
            results[name] = 200
        except SimServiceError as exc:
            results[name] = exc.status

    env.process(client("fast", 0.0))
    env.process(client("slow", 0.05))
    env.run()
    assert results == {"fast": 200, "slow": 409}
    assert service.version == 1
    assert (service.stats.writes, service.stats.conflicts, service.stats.reads) == (2, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"outages": [(2.0, 1.0)]}, "outages"),
        ({"outages": [(0.0, math.inf)]}, "outages"),
    ],
)
def test_service_rejects_invalid_settings(env, kwargs: dict[str, object], setting: str) -> None:  # type: ignore[no-untyped-def]
    """SimService validates capacity, error rate and outage windows at construction."""
    with pytest.raises(ConfigError, match=setting):
        SimService(env, rng=random.Random(0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "kind", "retriable"),
    [
        (409, ErrorKind.CONFLICT, True),
        (500, ErrorKind.SERVER_ERROR, True),
        (503, ErrorKind.OVERLOADED, True),
        (400, ErrorKind.BAD_REQUEST, False),
    ],
)
def test_classify_sim_gives_simulated_errors_the_verdict_of_their_status(
    status: int, kind: ErrorKind, retriable: bool
) -> None:
    """A simulated failure is classified exactly like a real response with the same status."""
    verdict = classify_sim(SimServiceError(status, "x"))
    assert (verdict.kind, verdict.retriable, verdict.status) == (kind, retriable, status)
    assert classify_sim(ConnectionResetError()).kind is ErrorKind.NETWORK


# --------------------------------------------------------------------------------------------------
# retry_process: the simpy driver
# --------------------------------------------------------------------------------------------------


def _failing_attempts(env, failures: int, status: int = 503):  # type: ignore[no-untyped-def]
    """An attempt function that fails `failures` times (after 1 s of work each), then returns 'ok'."""
    calls: list[float] = []

    def attempt():  # type: ignore[no-untyped-def]
        calls.append(env.now)
        yield env.timeout(1.0)
        if len(calls) <= failures:
            raise SimServiceError(status, "scripted")
        return "ok"

    return attempt, calls


def test_retry_process_waits_the_policys_delays_in_simulated_time(env) -> None:  # type: ignore[no-untyped-def]
    """Attempts start after each attempt's duration plus the policy's exact backoff delay."""
    policy = RetryPolicy(
        attempts=4, base_delay=0.5, jitter="none", retry_on=classify_sim, clock=SimClock(env)
    )
    attempt, calls = _failing_attempts(env, failures=2)
    assert _run(env, retry_process(env, policy, attempt)) == "ok"
    assert calls == [0.0, 1.5, 3.5]  # 1 s attempt + 0.5 s, 1 s attempt + 1.0 s
    assert env.now == pytest.approx(4.5)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), jitter=st.sampled_from(list(Jitter)), failures=st.integers(0, 7))
def test_retry_process_makes_the_same_decisions_as_the_sync_driver(
    seed: int, jitter: Jitter, failures: int
) -> None:
    """Same settings and seed: simpy waits exactly the delays policy.call sleeps on a FakeClock."""
    settings_ = {
        "attempts": 6,
        "base_delay": 0.1,
        "max_delay": 5.0,
        "jitter": jitter,
        "retry_on": classify_sim,
    }
    clock = FakeClock()
    sync = RetryPolicy(**settings_, clock=clock, rng=random.Random(seed))  # type: ignore[arg-type]
    script = scripted_call(*[SimServiceError(503, "down")] * failures, "ok")
    try:
        sync_outcome: object = sync.call(script)
    except RetryError as exc:
        sync_outcome = type(exc)

    env = simpy.Environment()
    waits: list[float] = []
    policy = RetryPolicy(**settings_, clock=SimClock(env), rng=random.Random(seed))  # type: ignore[arg-type]

    def attempt():  # type: ignore[no-untyped-def]
        waits.append(env.now)
        yield env.timeout(0)
        if len(waits) <= failures:
            raise SimServiceError(503, "down")
        return "ok"

    def driver():  # type: ignore[no-untyped-def]
        try:
            return (yield from retry_process(env, policy, attempt))
        except RetryError as exc:
            return type(exc)

    assert _run(env, driver()) == sync_outcome
    assert [b - a for a, b in itertools.pairwise(waits)] == pytest.approx(clock.sleeps)
    assert len(waits) == script.calls == min(failures + 1, 6)


def test_retry_process_reraises_a_non_retriable_error_after_one_attempt(env) -> None:  # type: ignore[no-untyped-def]
    """A 400 is not retried and surfaces as itself, not wrapped."""
    policy = RetryPolicy(attempts=5, retry_on=classify_sim, clock=SimClock(env))
    attempt, calls = _failing_attempts(env, failures=3, status=400)
    error = _failure(env, retry_process(env, policy, attempt))
    assert isinstance(error, SimServiceError)
    assert error.status == 400
    assert len(calls) == 1


def test_retry_process_gives_up_with_the_history_when_attempts_run_out(env) -> None:  # type: ignore[no-untyped-def]
    """Exhausted attempts raise RetryError from the last error, with one record per attempt."""
    policy = RetryPolicy(attempts=3, base_delay=0.1, retry_on=classify_sim, clock=SimClock(env))
    attempt, calls = _failing_attempts(env, failures=10)
    error = _failure(env, retry_process(env, policy, attempt))
    assert isinstance(error, RetryError)
    assert isinstance(error.__cause__, SimServiceError)
    assert [record.number for record in error.attempts] == [1, 2, 3]
    assert [record.started_at for record in error.attempts] == calls


def test_retry_process_events_carry_simulated_timestamps(env) -> None:  # type: ignore[no-untyped-def]
    """Hooks see retry.attempt / retry.scheduled / retry.succeeded stamped with env.now."""
    events: list[object] = []
    policy = RetryPolicy(
        attempts=3,
        base_delay=0.5,
        jitter="none",
        retry_on=classify_sim,
        clock=SimClock(env),
        hooks=[events.append],
    )
    attempt, _ = _failing_attempts(env, failures=1)
    _run(env, retry_process(env, policy, attempt))
    assert [(type(e).topic, e.at) for e in events] == [  # type: ignore[attr-defined]
        ("retry.attempt", 0.0),
        ("retry.scheduled", 1.0),
        ("retry.attempt", 1.5),
        ("retry.succeeded", 2.5),
    ]


def test_interrupt_propagates_at_once_without_consulting_the_policy(env) -> None:  # type: ignore[no-untyped-def]
    """simpy.Interrupt during a backoff wait ends the process; no further attempt, no gave_up event."""
    events: list[object] = []
    policy = RetryPolicy(
        attempts=5, base_delay=10.0, retry_on=classify_sim, clock=SimClock(env), hooks=[events.append]
    )
    attempt, calls = _failing_attempts(env, failures=10)
    caught: list[BaseException] = []

    def victim():  # type: ignore[no-untyped-def]
        try:
            yield from retry_process(env, policy, attempt)
        except simpy.Interrupt as exc:
            caught.append(exc)

    process = env.process(victim())

    def interrupter():  # type: ignore[no-untyped-def]
        yield env.timeout(2.0)  # the first attempt failed at 1.0; the backoff runs until ~11
        process.interrupt("shutdown")

    env.process(interrupter())
    env.run()
    assert [type(e) for e in caught] == [simpy.Interrupt]
    assert len(calls) == 1
    assert "retry.gave_up" not in [type(e).topic for e in events]  # type: ignore[attr-defined]


def test_retry_process_refuses_a_policy_on_another_clock(env) -> None:  # type: ignore[no-untyped-def]
    """A policy reading real or fake time cannot drive simulated time: ConfigError at the call."""
    attempt, _ = _failing_attempts(env, failures=0)
    with pytest.raises(ConfigError, match=r"policy\.clock"):
        retry_process(env, RetryPolicy(clock=FakeClock()), attempt)
    other = simpy.Environment()
    with pytest.raises(ConfigError, match=r"policy\.clock"):
        retry_process(env, RetryPolicy(clock=SimClock(other)), attempt)


# --------------------------------------------------------------------------------------------------
# Real SDK errors and scripted calls
# --------------------------------------------------------------------------------------------------


def test_sdk_error_is_the_real_sdk_exception_with_body_and_headers() -> None:
    """sdk_error runs the real openai client: a 429 is openai.RateLimitError with code and retry-after."""
    import openai

    exc = sdk_error(429, code="rate_limit_exceeded", headers={"retry-after": "2"})
    assert type(exc) is openai.RateLimitError
    assert exc.code == "rate_limit_exceeded"
    assert exc.response.headers["retry-after"] == "2"
    assert "sk-day6" not in repr(exc)
    assert "sk-day6" not in str(exc)
    assert isinstance(sdk_network_error("timeout"), openai.APITimeoutError)
    assert type(sdk_network_error("connect")) is openai.APIConnectionError
    with pytest.raises(ConfigError, match="status"):
        sdk_error(200)


def test_scripted_call_plays_its_outcomes_in_order() -> None:
    """Each call raises the next exception or returns the next value."""
    script = scripted_call(ValueError("first"), "second")
    with pytest.raises(ValueError, match="first"):
        script()
    assert script() == "second"
    assert script.calls == 2


# --------------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", list(Jitter))
def test_delay_bands_respect_each_jitter_modes_bounds(jitter: Jitter) -> None:
    """min <= median <= max per attempt, inside the mode's documented bounds."""
    backoff = Backoff(base=0.1, multiplier=2.0, cap=3.0, jitter=jitter)
    bands = delay_bands(backoff, attempts=7, samples=200, seed=3)
    assert [b.attempt for b in bands] == list(range(1, 8))
    for band in bands:
        assert band.low <= band.median <= band.high
        assert band.raw == backoff.raw(band.attempt)
        if jitter is Jitter.NONE:
            assert band.low == band.high == band.raw
        elif jitter is Jitter.FULL:
            assert band.low >= 0
            assert band.high <= band.raw
        elif jitter is Jitter.EQUAL:
            assert band.raw / 2 <= band.low
            assert band.high <= band.raw
        elif jitter is Jitter.DECORRELATED:
            assert band.low >= 0.1
            assert band.high <= 3.0
    assert bands == delay_bands(backoff, attempts=7, samples=200, seed=3)


def test_thundering_herd_jitter_lets_more_clients_through_with_smaller_spikes() -> None:
    """Without jitter the retries stay synchronised: fewer successes and taller load spikes after recovery."""
    plain = thundering_herd(clients=100, jitter="none", seed=1)
    jittered = thundering_herd(clients=100, jitter="full", seed=1)
    recovery = plain.outage[1]
    assert jittered.succeeded >= plain.succeeded + 30
    assert plain.peak_load(0.1, since=recovery) > 2 * jittered.peak_load(0.1, since=recovery)
    # Every attempt that reached the service during the outage failed with 503.
    for result in (plain, jittered):
        assert all(s.status == 503 for s in result.spans if s.start + 0.05 < recovery)
        assert result.succeeded + result.gave_up == result.clients == 100
        assert len(result.arrivals) == result.calls


def test_thundering_herd_timelines_are_consistent_and_reproducible() -> None:
    """Per-client attempts are numbered 1..n in time order and end in the outcome; a seed repeats a run."""
    result = thundering_herd(clients=30, jitter="equal", seed=4)
    assert result == thundering_herd(clients=30, jitter="equal", seed=4)
    assert result != thundering_herd(clients=30, jitter="equal", seed=5)
    for client in range(30):
        spans = [s for s in result.spans if s.client == client]
        assert [s.attempt for s in spans] == list(range(1, len(spans) + 1))
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
        finished = result.finished[client]
        if finished is None:
            assert not spans[-1].ok
            assert len(spans) == 8
        else:
            assert spans[-1].ok
            assert spans[-1].end == finished


@pytest.fixture(scope="module")
def brooker_at_100() -> dict[str, object]:
    """Brooker's experiment at 100 clients, every strategy, 10 seeded trials."""
    return {s: contention(100, s, trials=10, seed=2015) for s in BROOKER_STRATEGIES}


def test_brooker_jitter_cuts_work_by_more_than_half_vs_plain_exponential(brooker_at_100) -> None:  # type: ignore[no-untyped-def]
    """Full and equal jitter do under half the conditional writes of exponential backoff without jitter."""
    exponential = brooker_at_100["exponential"].work
    assert brooker_at_100["full"].work < 0.5 * exponential
    assert brooker_at_100["equal"].work < 0.5 * exponential
    assert brooker_at_100["decorrelated"].work < 0.6 * exponential
    assert all(p.gave_up == 0 for p in brooker_at_100.values())


def test_brooker_full_and_equal_do_similar_work_decorrelated_more(brooker_at_100) -> None:  # type: ignore[no-untyped-def]
    """Full and equal jitter are within 10 % of each other; decorrelated does >10 % more than both."""
    full, equal, decorrelated = (brooker_at_100[s].work for s in ("full", "equal", "decorrelated"))
    assert abs(full - equal) < 0.1 * min(full, equal)
    assert decorrelated > 1.1 * max(full, equal)


def test_brooker_plain_exponential_loses_on_work_and_time(brooker_at_100) -> None:  # type: ignore[no-untyped-def]
    """Exponential without jitter does more work and takes longer than every jittered strategy."""
    exponential = brooker_at_100["exponential"]
    for strategy in ("full", "equal", "decorrelated"):
        assert exponential.work > brooker_at_100[strategy].work
        assert exponential.time > 2 * brooker_at_100[strategy].time
    assert brooker_at_100["none"].work > exponential.work  # no backoff at all is the most work


def test_brooker_equal_jitter_takes_noticeably_longer_than_full(brooker_at_100) -> None:  # type: ignore[no-untyped-def]
    """Equal jitter's guaranteed half-delay costs time: at least 15 % longer than full jitter."""
    assert brooker_at_100["equal"].time > 1.15 * brooker_at_100["full"].time


def test_contention_single_client_is_one_read_and_one_write() -> None:
    """With no contention, one client writes once and finishes after four network hops (~40 ms)."""
    point = contention(1, "full", trials=20, seed=0)
    assert point.work == 1
    assert point.time == pytest.approx(0.040, abs=0.004)


def test_brooker_policy_uses_the_posts_formulas() -> None:
    """First sleep is 2*base for the exponential family and base-floored for decorrelated; 'none' is 0."""
    clock = SimClock(simpy.Environment())
    rng = random.Random(0)
    assert brooker_policy("exponential", clock=clock, rng=rng).backoff.raw(1) == pytest.approx(0.010)
    assert brooker_policy("exponential", clock=clock, rng=rng).backoff.raw(20) == 2.0
    assert brooker_policy("decorrelated", clock=clock, rng=rng).backoff.base == pytest.approx(0.005)
    assert brooker_policy("none", clock=clock, rng=rng).backoff.raw(5) == 0.0
    with pytest.raises(ConfigError, match="strategy"):
        contention(10, "linear", trials=1)


def test_retry_storm_budget_cuts_the_outage_load_to_about_one_attempt_per_call() -> None:
    """Without a budget every call retries through the outage (~attempts x load); with one, ~1x."""
    storm = retry_storm(budget=False, seed=3)
    calm = retry_storm(budget=True, seed=3)
    assert storm.outage_amplification > 3.5
    assert calm.outage_amplification < 1.3
    assert calm.refused_by_budget > 0
    assert storm.refused_by_budget == 0
    assert storm.calls > 1.5 * calm.calls
    assert abs(storm.requests - calm.requests) < 0.1 * storm.requests
    assert storm.succeeded + storm.failed == storm.requests


def test_retry_budget_refusal_is_the_budget_error() -> None:
    """A refused retry surfaces as RetryBudgetExhaustedError (the class the storm counts)."""
    env = simpy.Environment()
    budget = RetryBudget(max_tokens=2, token_ratio=0.1)
    policy = RetryPolicy(attempts=5, retry_on=classify_sim, budget=budget, clock=SimClock(env))
    attempt, _ = _failing_attempts(env, failures=10)
    error = _failure(env, retry_process(env, policy, attempt))
    assert isinstance(error, RetryBudgetExhaustedError)


@pytest.mark.parametrize("bad", [True, -1.0, float("nan"), float("inf"), "1"])
def test_constant_latency_refuses_non_numbers_and_bools(bad: object) -> None:
    """A latency of True is a bug, not one second: every non-finite or non-number value is refused."""
    from day6.sim import Constant

    with pytest.raises(ConfigError, match=r"Constant\.value"):
        Constant(bad)  # type: ignore[arg-type]
