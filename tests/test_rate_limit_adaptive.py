"""AdaptiveRateLimiter: AIMD with slow start, 429 cuts and pauses, header pacing, sane rates always."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.clock import FakeClock
from day6.errors import Classification, ConfigError, ErrorKind
from day6.rate_limit.adaptive import AdaptiveRateLimiter
from tests.sdk_helpers import sdk_error


def _limiter(clock: FakeClock, **settings: Any) -> AdaptiveRateLimiter:
    defaults: dict[str, Any] = {
        "initial_rate": 4.0,
        "min_rate": 0.5,
        "max_rate": 64.0,
        "evaluation_window": 10,
        "clock": clock,
    }
    defaults.update(settings)
    return AdaptiveRateLimiter(**defaults)


def _succeed(limiter: AdaptiveRateLimiter, times: int) -> None:
    for _ in range(times):
        limiter.record_success()


def test_slow_start_doubles_each_good_window(clock: FakeClock) -> None:
    """Before any sign of trouble, every all-success window doubles the rate."""
    limiter = _limiter(clock)
    _succeed(limiter, 10)
    assert limiter.rate == 8.0
    _succeed(limiter, 10)
    assert limiter.rate == 16.0
    assert limiter.in_slow_start


def test_ceiling_caps_growth(clock: FakeClock) -> None:
    """The rate never exceeds max_rate."""
    limiter = _limiter(clock, max_rate=10.0)
    _succeed(limiter, 100)
    assert limiter.rate == 10.0


def test_rate_limit_cuts_at_once_and_pauses(clock: FakeClock) -> None:
    """A 429 halves the rate immediately (no window needed) and pauses for Retry-After."""
    limiter = _limiter(clock, initial_rate=8.0)
    limiter.record_rate_limited(retry_after=2.0)
    assert limiter.rate == 4.0
    assert not limiter.in_slow_start
    assert limiter.try_acquire() is False
    assert limiter.time_until() == pytest.approx(2.0 + 1 / 4.0)


def test_cut_is_floored_by_the_delivered_rate_and_kept_modest(clock: FakeClock) -> None:
    """Just above the limit, a 429 cuts to 90 % (what the server delivered), not to half."""
    limiter = _limiter(clock, initial_rate=10.0)
    for _ in range(50):  # 10 successes per second for 5 s: the server took 10/s
        clock.advance(0.1)
        limiter.bucket.set_rate(10.0)
        limiter._delivered.append(clock.now())
    limiter.record_rate_limited(retry_after=0.1)
    assert limiter.rate == pytest.approx(9.0)


def test_one_cut_per_episode(clock: FakeClock) -> None:
    """429s answering calls sent before the cut do not cut again; a fresh one does."""
    limiter = _limiter(clock, initial_rate=16.0)
    limiter.record_rate_limited(sent_at=0.0)
    assert limiter.rate == 8.0
    clock.advance(0.5)
    limiter.record_rate_limited(sent_at=0.0)  # sent before the cut
    limiter.record_rate_limited()  # no sent_at, but within the cooldown
    assert limiter.rate == 8.0
    clock.advance(0.2)
    limiter.record_rate_limited(sent_at=0.6)  # sent after the cut: a new episode
    assert limiter.rate == 4.0


def test_stale_successes_do_not_judge_the_new_rate(clock: FakeClock) -> None:
    """Outcomes of calls sent before the last rate change are not counted in the window."""
    limiter = _limiter(clock, initial_rate=16.0)
    limiter.record_rate_limited(sent_at=0.0)
    clock.advance(0.1)
    for _ in range(30):
        limiter.record_success(sent_at=0.0)
    assert limiter.rate == 8.0
    for _ in range(10):
        limiter.record_success(sent_at=0.1)
    assert limiter.rate > 8.0


def test_fast_recovery_then_additive_probing(clock: FakeClock) -> None:
    """After a cut the rate climbs halfway back to where the 429 hit, then probes by `increase`."""
    limiter = _limiter(clock, initial_rate=16.0, increase=0.5, cooldown=0.0)
    limiter.record_rate_limited()
    assert limiter.rate == 8.0
    rates = []
    for _ in range(6):
        _succeed(limiter, 10)
        rates.append(limiter.rate)
    assert rates == [12.0, 14.0, 15.0, 15.5, 16.0, 16.5]


def test_backend_failures_decrease_multiplicatively(clock: FakeClock) -> None:
    """Below 70 % success the rate is multiplied by decrease_factor; 70-90 % holds it."""
    limiter = _limiter(clock, initial_rate=16.0)
    _succeed(limiter, 8)
    for _ in range(2):
        limiter.record_failure(ErrorKind.SERVER_ERROR)
    assert limiter.rate == 16.0  # 80 %: hold
    _succeed(limiter, 6)
    for _ in range(4):
        limiter.record_failure(ErrorKind.TIMEOUT)
    assert limiter.rate == 8.0  # 60 %: cut


def test_caller_errors_say_nothing_about_capacity(clock: FakeClock) -> None:
    """Bad requests, auth errors and cancellations are ignored by the window."""
    limiter = _limiter(clock)
    for kind in (ErrorKind.BAD_REQUEST, ErrorKind.AUTH, ErrorKind.CONTEXT_LENGTH, ErrorKind.CANCELLED):
        for _ in range(10):
            limiter.record_failure(kind)
    assert limiter.rate == 4.0
    _succeed(limiter, 10)
    assert limiter.rate == 8.0


def test_real_sdk_rate_limit_error_cuts_and_pauses(clock: FakeClock) -> None:
    """An openai RateLimitError (real client, mock transport) is classified, cut and paused."""
    error = sdk_error(429, code="rate_limit_exceeded", headers={"retry-after-ms": "1500"})
    limiter = _limiter(clock, initial_rate=8.0)
    limiter.record_failure(error)
    assert limiter.rate == 4.0
    assert limiter.time_until() == pytest.approx(1.5 + 0.25)


def test_real_sdk_server_error_counts_as_failure(clock: FakeClock) -> None:
    """A real 503 from the SDK counts against the success rate."""
    error = sdk_error(503)
    limiter = _limiter(clock, initial_rate=8.0)
    _succeed(limiter, 5)
    for _ in range(5):
        limiter.record_failure(error)
    assert limiter.rate == 4.0


def test_classification_is_accepted(clock: FakeClock) -> None:
    """A Classification carries its kind and retry_after through."""
    limiter = _limiter(clock, initial_rate=8.0)
    limiter.record_failure(Classification(ErrorKind.RATE_LIMIT, True, "429", retry_after=3.0))
    assert limiter.time_until() == pytest.approx(3.0 + 0.25)


def test_headers_slow_down_before_the_first_429(clock: FakeClock) -> None:
    """When the remaining budget would not last until its reset, the rate drops to match."""
    limiter = _limiter(clock, initial_rate=32.0)
    limiter.observe_headers({"x-ratelimit-remaining-requests": "10", "x-ratelimit-reset-requests": "2s"})
    assert limiter.rate == 5.0
    assert not limiter.in_slow_start
    limiter.observe_headers({"x-ratelimit-remaining-requests": "1000", "x-ratelimit-reset-requests": "1s"})
    assert limiter.rate == 5.0  # headers never raise the rate


def test_headers_with_a_limit_assume_continuous_refill(clock: FakeClock) -> None:
    """With the limit known, the budget refills as it is spent: pace by limit / reset."""
    limiter = _limiter(clock, initial_rate=32.0)
    limiter.observe_headers(
        {
            "x-ratelimit-limit-requests": "20",
            "x-ratelimit-remaining-requests": "5",
            "x-ratelimit-reset-requests": "750ms",  # 15 used, refilled at 20/s
        }
    )
    assert limiter.rate == pytest.approx(20 / 0.75)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-remaining-requests": "3"},
        {"x-ratelimit-remaining-requests": "garbage", "x-ratelimit-reset-requests": "1s"},
        {"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "0s"},
    ],
)
def test_incomplete_headers_are_ignored(clock: FakeClock, headers: dict[str, str]) -> None:
    """Missing, unreadable or zero-reset headers change nothing."""
    limiter = _limiter(clock)
    limiter.observe_headers(headers)
    assert limiter.rate == 4.0


def test_rate_changes_emit_events(clock: FakeClock) -> None:
    """Every change emits `limiter.rate` with the old and new rate and a reason."""
    events: list[Any] = []
    limiter = _limiter(clock, hooks=[events.append], name="llm")
    _succeed(limiter, 10)
    limiter.record_rate_limited()
    rates = [e for e in events if e.topic == "limiter.rate"]
    assert [(e.name, e.old_rate, e.new_rate) for e in rates] == [("llm", 4.0, 8.0), ("llm", 8.0, 4.0)]
    assert "slow start" in rates[0].reason
    assert "429" in rates[1].reason


# --- the rate is always sane -----------------------------------------------------------------------

evidence = st.lists(
    st.one_of(
        st.tuples(st.just("ok"), st.none()),
        st.tuples(st.just("fail"), st.sampled_from(list(ErrorKind))),
        st.tuples(st.just("429"), st.one_of(st.none(), st.floats(min_value=0, max_value=1e6))),
        st.tuples(
            st.just("headers"),
            st.tuples(
                st.one_of(st.none(), st.integers(min_value=0, max_value=10**20)),
                st.one_of(st.none(), st.integers(min_value=0, max_value=10**20)),
                st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            ),
        ),
        st.tuples(st.just("tick"), st.floats(min_value=0, max_value=100)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(
    low=st.floats(min_value=1e-6, max_value=10.0),
    spread=st.floats(min_value=1.0, max_value=1e6),
    decrease=st.floats(min_value=0.01, max_value=0.99),
    events=evidence,
)
def test_rate_is_never_zero_negative_or_nan(
    low: float, spread: float, decrease: float, events: list[tuple[str, Any]]
) -> None:
    """Whatever happens, the rate stays finite and inside [min_rate, max_rate]."""
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(
        initial_rate=low, min_rate=low, max_rate=low * spread, decrease_factor=decrease, clock=clock
    )
    for kind, value in events:
        if kind == "ok":
            limiter.record_success(sent_at=clock.now())
        elif kind == "fail":
            limiter.record_failure(value)
        elif kind == "429":
            limiter.record_rate_limited(value)
        elif kind == "headers":
            limit, remaining, reset = value
            headers = {}
            if limit is not None:
                headers["x-ratelimit-limit-requests"] = str(limit)
            if remaining is not None:
                headers["x-ratelimit-remaining-requests"] = str(remaining)
            if reset is not None:
                headers["x-ratelimit-reset-requests"] = f"{reset}s"
            limiter.observe_headers(headers)
        else:
            clock.advance(value)
        rate = limiter.rate
        assert math.isfinite(rate)
        assert limiter.min_rate <= rate <= limiter.max_rate
        assert rate > 0


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("min_rate", {"min_rate": 0.0}),
        ("max_rate", {"min_rate": 2.0, "max_rate": 1.0, "initial_rate": 1.5}),
        ("max_rate", {"max_rate": math.inf}),
        ("initial_rate", {"initial_rate": 1000.0}),
        ("initial_rate", {"initial_rate": math.nan}),
        ("increase", {"increase": 0.0}),
        ("decrease_factor", {"decrease_factor": 1.0}),
        ("decrease_factor", {"decrease_factor": 0.0}),
        ("decrease_factor", {"decrease_factor": math.nan}),
        ("evaluation_window", {"evaluation_window": 0}),
        ("success_high", {"success_high": 1.5}),
        ("success_low", {"success_low": 0.95, "success_high": 0.9}),
        ("delivery_window", {"delivery_window": 0.0}),
        ("delivery_floor", {"delivery_floor": 1.0}),
        ("cooldown", {"cooldown": -1.0}),
        ("capacity", {"capacity": 0.0}),
    ],
)
def test_bad_settings_raise_config_error(setting: str, kwargs: dict[str, Any]) -> None:
    """Every invalid setting raises ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        AdaptiveRateLimiter(**kwargs)
    assert caught.value.setting == setting


def test_bad_evidence_raises(clock: FakeClock) -> None:
    """A negative or NaN Retry-After, or something that is not a failure, is a ConfigError."""
    limiter = _limiter(clock)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError):
            limiter.record_rate_limited(bad)
    with pytest.raises(ConfigError):
        limiter.record_failure("boom")  # type: ignore[arg-type]


# --- the benchmark's target, in simulated time (deterministic) ---------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("initial_rate", [2.0, 100.0])
def test_finds_a_hidden_capacity_from_far_below_or_above(initial_rate: float, seed: int) -> None:
    """Against a hidden 20 req/s limit for 300 simulated s: goodput >= 95 %, <= 5 % of sends refused."""
    from day6.sim_rate import adaptive_capacity

    run = adaptive_capacity(capacity=20.0, duration=300.0, initial_rate=initial_rate, seed=seed)
    assert run.goodput_fraction >= 0.95
    assert run.rejected_fraction <= 0.05
    assert 15.0 <= run.final_rate <= 25.0


def test_headers_let_it_pace_without_429s() -> None:
    """With x-ratelimit headers, the client slows down before the limit: almost no 429 at all."""
    from day6.sim_rate import adaptive_capacity

    run = adaptive_capacity(capacity=20.0, duration=300.0, initial_rate=2.0, send_headers=True)
    assert run.goodput_fraction >= 0.95
    assert run.rejected_fraction <= 0.01


def test_no_jump_after_a_failure_cut_without_any_429(clock: FakeClock) -> None:
    """With no 429 ever seen there is no ceiling to recover toward: growth is additive."""
    limiter = _limiter(clock, initial_rate=16.0, increase=0.5)
    for _ in range(10):
        limiter.record_failure(ErrorKind.OVERLOADED)
    assert limiter.rate == 8.0
    clock.advance(1.0)  # past the cooldown: these successes judge the new rate
    _succeed(limiter, 10)
    assert limiter.rate == 8.5


def test_simulation_is_deterministic_and_validates_its_settings() -> None:
    """The same seed replays the same run; impossible settings are ConfigErrors."""
    from day6.sim_rate import adaptive_capacity

    first = adaptive_capacity(duration=30.0, seed=7)
    again = adaptive_capacity(duration=30.0, seed=7)
    assert first == again
    assert first.rates[0] == (0.0, 2.0)
    for bad in ({"capacity": 0.0}, {"duration": math.inf}, {"latency": (0.3, 0.1)}, {"burst": 0.5}):
        with pytest.raises(ConfigError):
            adaptive_capacity(**bad)  # type: ignore[arg-type]
