"""Lab 2: the real CircuitBreaker in simpy time; its figures and its panel."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from day6 import viz, widgets
from day6.circuit_breaker import CircuitState, CircuitStateChanged
from day6.errors import ConfigError
from day6.sim import breaker_experiments as bx
from day6.sim.breaker_experiments import BreakerRun, RequestOutcome

ROOT = Path(__file__).resolve().parent.parent
LAB2 = ROOT / "notebooks" / "02_circuit_breaker.ipynb"

OK, ERROR, TIMEOUT, REJECTED = (
    RequestOutcome.OK,
    RequestOutcome.ERROR,
    RequestOutcome.TIMEOUT,
    RequestOutcome.REJECTED,
)


@pytest.fixture(scope="module")
def trace() -> BreakerRun:
    return bx.breaker_trace()


@pytest.fixture(scope="module")
def outage() -> list[BreakerRun]:
    return bx.outage_comparison(seed=1)


@pytest.fixture(scope="module")
def stampede() -> list[BreakerRun]:
    return bx.stampede_comparison(seed=1)


def _state_at(run: BreakerRun, t: float) -> CircuitState:
    """The breaker's state at ``t`` (a transition at exactly ``t`` counts as already made)."""
    state = CircuitState.CLOSED
    for event in run.transitions:
        if event.at > t:
            break
        state = event.new
    return state


def _sent_while_not_closed(run: BreakerRun) -> list[float]:
    return [
        r.sent_at
        for r in run.requests
        if r.sent_at is not None and _state_at(run, r.sent_at) is not CircuitState.CLOSED
    ]


def _half_opens(run: BreakerRun) -> list[float]:
    return [e.at for e in run.transitions if e.new is CircuitState.HALF_OPEN]


# --------------------------------------------------------------------------------------------------
# 1. The state machine, traced
# --------------------------------------------------------------------------------------------------


def test_trace_walks_closed_open_half_open_open_half_open_closed(trace: BreakerRun) -> None:
    """Three failures open it; a probe during the outage re-opens it; a probe after it closes it."""
    steps = [(round(e.at, 6), e.old, e.new) for e in trace.transitions]
    assert steps == [
        (5.02, CircuitState.CLOSED, CircuitState.OPEN),
        (10.0, CircuitState.OPEN, CircuitState.HALF_OPEN),
        (10.02, CircuitState.HALF_OPEN, CircuitState.OPEN),
        (15.0, CircuitState.OPEN, CircuitState.HALF_OPEN),
        (15.02, CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    reasons = [e.reason for e in trace.transitions]
    assert reasons[0].startswith("3 consecutive failures")
    assert reasons[2].startswith("a probe failed")
    assert all(isinstance(e, CircuitStateChanged) for e in trace.transitions)


def test_trace_half_opens_lazily_when_a_request_arrives(trace: BreakerRun) -> None:
    """OPEN turns HALF_OPEN at the first request after the 4.5 s timeout (10.0 s), not at 9.52 s."""
    opened = trace.transitions[0].at
    half_open = trace.transitions[1].at
    assert half_open > opened + 4.5
    assert half_open in {r.start for r in trace.requests}


def test_trace_outcomes_match_the_breakers_own_counters(trace: BreakerRun) -> None:
    """Requests the users saw and the breaker's metrics tell the same story."""
    assert trace.outcomes == {"ok": 8, "error": 4, "timeout": 0, "rejected": 8}
    metrics = trace.metrics
    assert metrics is not None
    assert metrics.successes == trace.count(OK)
    assert metrics.failures == trace.count(ERROR)
    assert metrics.rejections == trace.count(REJECTED)
    assert metrics.times_opened == trace.opened() == 2
    assert trace.calls == len(trace.requests) - trace.count(REJECTED)


def test_trace_state_times_start_closed_and_follow_the_events(trace: BreakerRun) -> None:
    """The state band starts closed at 0 and then follows each transition."""
    times, states = trace.state_times()
    assert times == [0.0, *(e.at for e in trace.transitions)]
    assert states == ["closed", "open", "half_open", "open", "half_open", "closed"]


def test_trace_recovery_backoff_lengthens_the_second_open_period() -> None:
    """With recovery_backoff=2 the second OPEN waits 9 s, so the successful probe comes later."""
    run = bx.breaker_trace(recovery_backoff=2.0, duration=30.0)
    assert "next probe in 9 s" in run.transitions[2].reason
    assert run.transitions[3].at == pytest.approx(20.0)


def test_rejected_requests_never_reach_the_backend_and_cost_no_time(trace: BreakerRun) -> None:
    """A refused request is answered at once and is not a backend call."""
    rejected = [r for r in trace.requests if r.outcome is REJECTED]
    assert rejected
    assert all(r.sent_at is None and not r.sent and r.latency == 0.0 for r in rejected)


# --------------------------------------------------------------------------------------------------
# 2. An outage, with and without a breaker
# --------------------------------------------------------------------------------------------------


def test_both_arms_see_exactly_the_same_users(outage: list[BreakerRun]) -> None:
    """The traffic depends only on the seed, not on what the breaker did."""
    plain, guarded = outage
    assert [(r.start, r.client) for r in plain.requests] == [(r.start, r.client) for r in guarded.requests]
    assert not plain.has_breaker
    assert guarded.has_breaker


def test_without_a_breaker_every_outage_request_waits_for_its_timeout(outage: list[BreakerRun]) -> None:
    """A hung backend costs each user the full client timeout; nothing is refused."""
    plain = outage[0]
    assert plain.count(REJECTED) == 0
    timeouts = [r for r in plain.requests if r.outcome is TIMEOUT]
    assert timeouts
    assert all(r.latency == pytest.approx(5.0) for r in timeouts)
    start, end = plain.outage
    assert all(r.outcome is TIMEOUT for r in plain.requests if start <= r.start < end - 5.0)
    assert plain.wasted_calls == len(timeouts)
    assert plain.metrics is None


def test_the_breaker_cuts_wasted_calls_and_user_waiting(outage: list[BreakerRun]) -> None:
    """With the breaker most outage requests fail fast: far fewer backend calls, far less waiting."""
    plain, guarded = outage
    assert guarded.wasted_calls * 5 < plain.wasted_calls
    assert guarded.failure_wait * 5 < plain.failure_wait
    assert guarded.calls < plain.calls
    assert guarded.mean_latency(REJECTED) == 0.0
    assert plain.mean_latency(REJECTED) is None


def test_while_not_closed_only_probes_reach_the_backend(outage: list[BreakerRun]) -> None:
    """With one probe slot, every backend call made while open/half-open is one half-open's probe."""
    guarded = outage[1]
    sent = _sent_while_not_closed(guarded)
    assert sent == _half_opens(guarded)


def test_time_to_recover_costs_at_most_a_probe_cycle(outage: list[BreakerRun]) -> None:
    """Without a breaker users are served about one latency after the outage; with one, within a cycle."""
    plain, guarded = outage
    assert plain.time_to_recover is not None
    assert plain.time_to_recover < 1.6  # the longest service time plus two hops
    assert guarded.time_to_recover is not None
    assert guarded.closed_at is not None
    recovery_timeout, client_timeout, slowest = 10.0, 5.0, 1.6
    assert guarded.time_to_recover <= recovery_timeout + client_timeout + slowest
    assert guarded.closed_at <= guarded.outage[1] + recovery_timeout + client_timeout + slowest


def test_the_same_seed_replays_the_same_run() -> None:
    """Runs are pure functions of their arguments."""
    assert bx.outage_run(seed=4) == bx.outage_run(seed=4)
    assert bx.outage_run(seed=4).requests != bx.outage_run(seed=5).requests


def test_error_outage_fails_fast_even_without_a_breaker() -> None:
    """A backend that answers 503 at once costs users little time; the breaker still saves calls."""
    plain, guarded = bx.outage_comparison(outage_kind="error")
    errors = [r.latency for r in plain.requests if r.outcome is ERROR]
    assert errors
    assert max(errors) < 0.1
    assert plain.count(TIMEOUT) == 0
    assert guarded.wasted_calls * 5 < plain.wasted_calls


def test_a_brownout_needs_the_failure_rate_rule() -> None:
    """Half the calls failing rarely makes 20 in a row; the windowed failure-rate rule trips anyway."""
    consecutive = bx.outage_run(breaker=bx.breaker_settings(failure_threshold=20), outage_kind="partial")
    windowed = bx.outage_run(
        breaker=bx.breaker_settings(failure_threshold=20, trip_rule="failure rate"), outage_kind="partial"
    )
    start, end = consecutive.outage
    during = [r for r in consecutive.requests if start <= r.start < end]
    assert 0 < sum(r.outcome is OK for r in during) < len(during)  # a brownout, not an outage
    assert consecutive.opened() == 0
    assert windowed.opened() >= 1
    assert windowed.transitions[0].reason.startswith("failure rate")
    assert windowed.wasted_calls < consecutive.wasted_calls


def test_breaker_settings_maps_trip_rules_to_circuit_breaker_arguments() -> None:
    """'consecutive' sets the threshold only; 'failure rate' adds the windowed rule."""
    assert bx.breaker_settings(failure_threshold=3, recovery_timeout=2.0) == {
        "failure_threshold": 3,
        "recovery_timeout": 2.0,
    }
    windowed = bx.breaker_settings(trip_rule="failure rate", failure_rate=0.4, window_size=30)
    assert windowed["failure_rate_threshold"] == 0.4
    assert windowed["window_size"] == 30
    assert windowed["minimum_calls"] == 10


@pytest.mark.parametrize(
    ("call", "setting"),
    [
        (lambda: bx.outage_run(outage_kind="flood"), "outage_kind"),
        (lambda: bx.outage_run(outage=(100.0, 200.0)), "outage"),
        (lambda: bx.outage_run(outage=(50.0, 40.0)), "outage"),
        (lambda: bx.outage_run(timeout=math.nan), "timeout"),
        (lambda: bx.outage_run(rate=math.inf), "rate"),
        (lambda: bx.outage_run(clients=0), "clients"),
        (lambda: bx.outage_run(partial_error_rate=1.5, outage_kind="partial"), "partial_error_rate"),
        (lambda: bx.outage_run(breaker={"clock": None}), "breaker"),
        (lambda: bx.outage_run(service_time=(1.0,)), "service_time"),
        (lambda: bx.outage_run(partial_error_rate=True, outage_kind="partial"), "partial_error_rate"),
        (lambda: bx.outage_run(breaker={"failure_threshold": 0}), "failure_threshold"),
        (lambda: bx.breaker_settings(trip_rule="vibes"), "trip_rule"),
        (lambda: bx.breaker_trace(period=0.0), "period"),
        (lambda: bx.stampede(warm_capacity=0), "warm_capacity"),
        (lambda: bx.stampede(think_time=-1.0), "think_time"),
        (lambda: bx.stampede(half_open_max_calls=0), "half_open_max_calls"),
    ],
)
def test_invalid_settings_raise_config_error_naming_the_setting(call: Any, setting: str) -> None:
    """Bad arguments fail at once with a ConfigError that names the setting."""
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.setting == setting


# --------------------------------------------------------------------------------------------------
# 3. The half-open stampede
# --------------------------------------------------------------------------------------------------


def test_one_probe_closes_the_breaker_at_the_first_probe_after_the_outage(stampede: list[BreakerRun]) -> None:
    """Bounded probes: no re-trip after the outage; closed within one recovery timeout of its end."""
    bounded = stampede[0]
    end = bounded.outage[1]
    assert bounded.opened(since=end) == 0
    assert bounded.closed_at is not None
    assert bounded.closed_at < end + 5.0 + 0.5


def test_unbounded_probes_stampede_and_re_trip_until_the_backend_warms_up(stampede: list[BreakerRun]) -> None:
    """Everyone-through probes overload the warming backend, re-open it, and recover only after warm-up."""
    bounded, unbounded = stampede
    assert unbounded.warmup is not None
    warm_start, warm_end = unbounded.warmup
    assert unbounded.opened(since=warm_start) >= 2
    assert unbounded.closed_at is not None
    assert unbounded.closed_at >= warm_end
    assert unbounded.wasted_calls > 5 * bounded.wasted_calls
    warm_capacity = 4
    crowds = [
        sum(h <= t < h + 0.01 for t in _sent_while_not_closed(unbounded)) for h in _half_opens(unbounded)
    ]
    assert max(crowds) >= 3 * warm_capacity
    assert unbounded.peak_load(0.1, since=warm_start) > 2 * bounded.peak_load(0.1, since=warm_start)


def test_unbounded_half_open_lets_a_crowd_through_at_once(stampede: list[BreakerRun]) -> None:
    """More backend calls happen while not closed than there were half-open episodes."""
    bounded, unbounded = stampede
    assert _sent_while_not_closed(bounded) == _half_opens(bounded)
    assert len(_sent_while_not_closed(unbounded)) > 3 * len(_half_opens(unbounded))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), clients=st.integers(2, 30))
def test_one_probe_slot_means_one_backend_call_per_half_open(seed: int, clients: int) -> None:
    """Law: with half_open_max_calls=1, calls made while not closed are exactly the probes."""
    run = bx.stampede(seed=seed, clients=clients, duration=60.0)
    assert _sent_while_not_closed(run) == _half_opens(run)


def test_stampede_throughput_steps_follow_outage_and_warm_up() -> None:
    """The backend serves capacity/service_time, nothing while down, less while warming up."""
    run = bx.stampede(capacity=20, warm_capacity=4, service_time=0.1, outage=(10.0, 40.0), warmup=20.0)
    assert run.throughput == ((0.0, 200.0), (10.0, 0.0), (40.0, 40.0), (60.0, 200.0))
    assert run.warmup == (40.0, 60.0)


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


def test_plot_breaker_trace_draws_the_band_and_one_lane_per_outcome(trace: BreakerRun) -> None:
    """Two axes: the state lanes, then one marker per request in its outcome's lane."""
    fig = viz.plot_breaker_trace(trace)
    assert isinstance(fig, Figure)
    band, outcomes = fig.axes
    assert [t.get_text() for t in band.get_yticklabels()] == ["open", "half_open", "closed"]
    assert [t.get_text() for t in outcomes.get_yticklabels()] == ["rejected", "error", "ok"]
    points = sum(len(c.get_offsets()) for c in outcomes.collections)
    assert points == len(trace.requests)


def test_plot_outage_has_load_state_and_waits_per_run(outage: list[BreakerRun]) -> None:
    """Three rows per run; titles carry the numbers; every request is one dot."""
    fig = viz.plot_outage(outage)
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes]
    assert any(f"{outage[0].wasted_calls} wasted" in t for t in titles)
    assert any(f"{outage[1].wasted_calls} wasted" in t for t in titles)
    assert any("no breaker" in text.get_text() for ax in fig.axes for text in ax.texts)
    for users, run in zip(fig.axes[4:], outage, strict=True):
        assert sum(len(c.get_offsets()) for c in users.collections) == len(run.requests)


def test_plot_stampede_spike_height_is_the_busiest_bin(stampede: list[BreakerRun]) -> None:
    """The load line's peak is the most requests that arrived in one 0.1 s bin."""
    fig = viz.plot_stampede(stampede, bucket=0.1)
    assert len(fig.axes) == 4
    unbounded_load = fig.axes[3]
    heights = unbounded_load.patches[-2].get_data().values  # requests, then the capacity line
    busiest = Counter(int(t / 0.1) for t in stampede[1].arrivals).most_common(1)[0][1]
    assert max(heights) == busiest
    assert busiest > 4  # far above the 4 requests the warming backend serves in 0.1 s


@pytest.mark.parametrize("plot", [viz.plot_outage, viz.plot_stampede])
def test_figures_refuse_an_empty_list_of_runs(plot: Any) -> None:
    """An empty list is a mistake, reported as such."""
    with pytest.raises(ConfigError):
        plot([])


# --------------------------------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------------------------------


def test_outage_panel_recomputes_when_a_control_moves() -> None:
    """Moving the sliders re-runs the experiment with the new breaker settings and outage."""
    pytest.importorskip("ipywidgets")
    panel = widgets.outage_panel()
    before = panel.data
    assert before.settings is not None
    assert before.settings["failure_threshold"] == 5
    panel.controls["failure_threshold"].value = 30
    after = panel.data
    assert after.settings is not None
    assert after.settings["failure_threshold"] == 30
    assert after.wasted_calls > before.wasted_calls  # a higher threshold trips later
    panel.controls["trip_rule"].value = "failure rate"
    assert panel.data.settings is not None
    assert panel.data.settings["failure_rate_threshold"] == 0.5
    assert panel.data.settings["window_size"] == 20
    panel.controls["window"].value = 50
    assert panel.data.settings is not None
    assert panel.data.settings["window_size"] == 50
    panel.controls["outage_length"].value = 20.0
    assert panel.data.outage == (30.0, 50.0)
    panel.controls["outage_kind"].value = "error"
    assert panel.data.count(TIMEOUT) == 0
    assert isinstance(panel.figure, Figure)


def test_outage_panel_static_figure_uses_the_defaults() -> None:
    """Without a widget frontend the panel shows the default run's figure."""
    panel = widgets.outage_panel()
    fig = panel.static_figure()
    assert len(fig.axes) == 3
    assert f"{bx.outage_run().wasted_calls} wasted" in fig.axes[0].get_title()


# --------------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------------


def test_lab_2_opens_with_objectives_and_ends_with_key_points_and_the_exercise() -> None:
    """Objectives first; key points and the pointer to ex03 and `day6 check` at the end."""
    cells = nbformat.read(LAB2, as_version=4).cells
    assert cells[0].cell_type == "markdown"
    assert "Objectives" in cells[0].source
    tail = "\n".join(cell.source for cell in cells[-2:])
    assert "Key points" in tail
    assert "exercises/ex03_circuit_breaker.py" in tail
    assert "day6 check" in tail
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    assert "import day6" in code[0]
