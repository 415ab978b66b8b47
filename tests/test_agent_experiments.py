"""day6.sim.agent_experiments and Lab 4's figures: the drill seen as a dashboard, second by second."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

from day6 import viz
from day6.config import ReliabilityConfig
from day6.errors import ConfigError
from day6.readiness import Experiment, ExperimentResult, ReadinessReport, ReadinessRow, SideResult
from day6.scenarios import ScenarioReport, run_scenario
from day6.sim.agent_experiments import (
    DRILL_SCENARIOS,
    DashboardRun,
    _p95,
    _TickingClock,
    dashboard_run,
    drills_table,
    fire_drills,
)
from day6.widgets import dashboard_panel

PRODUCTION = ReliabilityConfig.profile("production")


@pytest.fixture(autouse=True)
def _no_pyplot_figures() -> Iterator[None]:
    """Figures are built as Figure objects: nothing lands in pyplot's global list."""
    yield
    assert Gcf.get_num_fig_managers() == 0


@pytest.fixture(scope="module")
def outage() -> DashboardRun:
    """The production agent through outage_then_recovery, 60 s (shared: runs are pure)."""
    return dashboard_run("outage_then_recovery", config=PRODUCTION, seconds=60.0, seed=0)


def _renders(figure: Figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    assert buffer.getvalue().startswith(b"\x89PNG")


# ---- the ticking clock ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["sleep", "advance"]), st.floats(min_value=0.0, max_value=7.5)),
        max_size=20,
    )
)
def test_ticking_clock_stops_on_every_whole_second_it_crosses(moves: list[tuple[str, float]]) -> None:
    """Each tick fires once, in order, with the clock reading exactly that tick; sleeps are recorded."""
    clock = _TickingClock(1.0)
    seen: list[tuple[float, float]] = []
    clock.on_tick = lambda tick: seen.append((tick, clock.now()))
    total = 0.0
    for kind, seconds in moves:
        getattr(clock, kind)(seconds)
        total += seconds
    assert clock.now() == pytest.approx(total, abs=1e-9)
    assert [tick for tick, _ in seen] == [float(k) for k in range(1, math.floor(total + 1e-9) + 1)]
    assert all(now == pytest.approx(tick, abs=1e-9) for tick, now in seen)
    assert clock.sleeps == [s for kind, s in moves if kind == "sleep"]


def test_ticking_clock_refuses_to_go_back() -> None:
    """advance(-1) is an error, as on a FakeClock."""
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        _TickingClock(1.0).advance(-1.0)


# ---- the nearest-rank p95 ------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=200))
def test_p95_is_the_nearest_rank_percentile(values: list[float]) -> None:
    """At least 95 % of the values are <= p95, and fewer than 95 % are strictly below it."""
    p = _p95(values)
    assert p in values
    n = len(values)
    assert sum(v <= p for v in values) >= 0.95 * n
    assert sum(v < p for v in values) < 0.95 * n


def test_p95_of_nothing_is_none() -> None:
    """No completed request, no percentile (the dashboard draws a gap)."""
    assert _p95([]) is None


# ---- dashboard_run -------------------------------------------------------------------------------


def test_one_sample_per_simulated_second_including_both_ends(outage: DashboardRun) -> None:
    """Samples at t = 0, 1, ..., seconds."""
    assert [s.t for s in outage.samples] == [float(t) for t in range(61)]
    assert len(outage.records()) == 61


def test_same_seed_same_dashboard() -> None:
    """Everything runs in fake time from one seed: two runs give identical records."""
    first = dashboard_run("flaky", seconds=20.0, seed=3)
    second = dashboard_run("flaky", seconds=20.0, seed=3)
    assert first.records() == second.records()
    assert first.transitions == second.transitions


def test_the_dashboard_is_the_same_drill_as_run_scenario(outage: DashboardRun) -> None:
    """Same agent, traffic, config and seed as run_scenario: the breakers move at the same moments."""
    report = run_scenario("outage_then_recovery", config=PRODUCTION, seed=0)
    early = [(round(at, 6), name, old, new) for at, name, old, new in report.transitions if at < 55.0]
    mine = [(round(at, 6), name, old, new) for at, name, old, new in outage.transitions if at < 55.0]
    assert mine == early
    assert mine  # the outage does trip the breakers


def test_windowed_signals_during_and_after_the_outage(outage: DashboardRun) -> None:
    """Every request fails while the backend is down; none fail once it has recovered."""
    by_t = {s.t: s for s in outage.samples}
    for t in range(3, 11):
        assert by_t[t].error_rate == 1.0
        assert by_t[t].errors_per_s == pytest.approx(by_t[t].requests_per_s)
    for t in range(45, 61):
        assert by_t[t].error_rate == 0.0
        assert by_t[t].completed > 0


def test_sample_fields_are_consistent(outage: DashboardRun) -> None:
    """Rates agree with counts, the p95 exists iff something completed, tokens stay in the bucket."""
    for s in outage.samples:
        span = min(outage.window, max(s.t, 1.0))
        assert s.requests_per_s == pytest.approx(s.completed / span)
        assert 0.0 <= s.error_rate <= 1.0
        assert (s.p95_latency is None) == (s.completed == 0)
        assert 0.0 <= s.tokens <= s.burst
        assert 0.0 <= s.headroom <= 1.0
        assert set(s.breakers) == set(outage.models)


def test_breaker_state_is_sampled_from_the_live_breakers(outage: DashboardRun) -> None:
    """The primary breaker is seen open during the outage and closed at the end."""
    primary = outage.models[0]
    states = outage.series("breakers")
    assert states[0][primary] == "closed"
    assert any(s[primary] == "open" for s in states[:20])
    assert states[-1][primary] == "closed"


def test_breaker_timeline_starts_closed_and_follows_the_transitions(outage: DashboardRun) -> None:
    """(times, states): the initial state at 0, then one entry per transition, in time order."""
    primary = outage.models[0]
    times, states = outage.breaker_timeline(primary)
    moves = [(at, new) for at, name, _old, new in outage.transitions if name == primary]
    assert (times[0], states[0]) == (0.0, "closed")
    assert list(zip(times[1:], states[1:], strict=True)) == moves
    assert times == sorted(times)
    with pytest.raises(ConfigError, match="model"):
        outage.breaker_timeline("no-such-model")


def test_samples_are_taken_in_the_middle_of_a_slow_call() -> None:
    """A call that hangs until its timeout spans many samples: the dashboard keeps ticking."""
    run = dashboard_run("slow", seconds=40.0)
    assert len(run.samples) == 41
    assert any(s.in_call for s in run.samples)
    assert run.requests < 40  # the hung calls held the single user stream back


def test_fault_windows_come_from_the_scenario_clipped_to_the_run() -> None:
    """outage_then_recovery: 0-10 s down, 10-20 s limping; flaky: the whole run."""
    assert dashboard_run("outage_then_recovery", seconds=15.0).fault_windows == ((0.0, 10.0), (10.0, 15.0))
    assert dashboard_run("quota_exhausted", seconds=5.0).fault_windows == ((0.0, 5.0),)


def test_totals_add_up(outage: DashboardRun) -> None:
    """Every request is answered or failed; degraded answers are a subset of the answered."""
    assert outage.answered + outage.failed == outage.requests
    assert 0 <= outage.degraded <= outage.answered
    assert outage.attempts >= outage.answered
    assert f"{outage.requests} requests" in outage.to_text()


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"scenario": "no_such_scenario"}, "scenario"),
        ({"seconds": 0.0}, "seconds"),
        ({"seconds": math.nan}, "seconds"),
        ({"seconds": math.inf}, "seconds"),
        ({"seconds": 3601.0}, "seconds"),
        ({"interval": -1.0}, "interval"),
        ({"window": 0.0}, "window"),
        ({"seed": True}, "seed"),
    ],
)
def test_invalid_settings_raise_config_error(kwargs: dict[str, object], setting: str) -> None:
    """Each bad setting is named in the error."""
    args: dict[str, object] = {"scenario": "flaky", "seconds": 10.0, **kwargs}
    scenario = args.pop("scenario")
    with pytest.raises(ConfigError, match=setting):
        dashboard_run(scenario, **args)  # type: ignore[arg-type]


# ---- fire drills ---------------------------------------------------------------------------------


def _report(
    scenario: str, *, answered: int, attempts: int, end: float | None, recovery: float | None
) -> ScenarioReport:
    return ScenarioReport(
        scenario=scenario,
        requests=10,
        answered=answered,
        degraded=1,
        failed=10 - answered,
        attempts=attempts,
        transitions=(),
        faults_injected=3,
        faults_end=end,
        recovery_time=recovery,
    )


def test_drills_table_formats_each_report() -> None:
    """Availability and waste as percentages; recovery as seconds, 'never', or '-' without an end."""
    table = drills_table(
        [
            _report("flaky", answered=10, attempts=12, end=None, recovery=None),
            _report("outage_then_recovery", answered=8, attempts=12, end=20.0, recovery=15.0),
            _report("quota_exhausted", answered=0, attempts=20, end=30.0, recovery=None),
        ]
    )
    words = [" ".join(line.split()) for line in table.splitlines()]
    assert words[0] == "scenario requests answered availability attempts waste degraded failed recovery"
    assert set(words[1]) <= {"-", " "}
    assert words[2] == "flaky 10 10 100.0% 12 20.0% 1 0 -"
    assert words[3] == "outage_then_recovery 10 8 80.0% 12 50.0% 1 2 15.0 s"
    assert words[4] == "quota_exhausted 10 0 0.0% 20 inf 1 10 never"


def test_fire_drills_run_each_scenario_with_the_same_config_and_seed() -> None:
    """fire_drills is run_scenario per name, in order."""
    reports = fire_drills(["quota_exhausted"], config=PRODUCTION, seed=1)
    assert [r.scenario for r in reports] == ["quota_exhausted"]
    assert reports[0] == run_scenario("quota_exhausted", config=PRODUCTION, seed=1)
    with pytest.raises(ConfigError, match="scenario"):
        fire_drills(["nope"])
    assert set(DRILL_SCENARIOS) <= set(__import__("day6.faults").faults.SCENARIOS)


# ---- figures -------------------------------------------------------------------------------------


def test_plot_dashboard_draws_one_row_per_signal_and_one_band_per_breaker(outage: DashboardRun) -> None:
    """Traffic, error rate, p95, a state band per breaker, the limiter (+ its rate on a twin axis)."""
    fig = viz.plot_dashboard(outage)
    axes = fig.get_axes()
    assert len(axes) == 4 + len(outage.models) + 1  # the twin axis for the refill rate
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles[:3] == ["Requests (last 10 s)", "Error rate (last 10 s)", "p95 latency (last 10 s)"]
    assert titles[3:5] == [f"Circuit breaker {m}" for m in outage.models]
    error_line = axes[1].get_lines()[0]
    assert list(error_line.get_ydata()) == [100.0 * e for e in outage.series("error_rate")]
    p95_line = axes[2].get_lines()[0]
    expected = [math.nan if v is None else v for v in outage.series("p95_latency")]
    assert [(math.isnan(a), a if not math.isnan(a) else 0) for a in p95_line.get_ydata()] == [
        (math.isnan(e), e if not math.isnan(e) else 0) for e in expected
    ]
    assert len(axes[0].patches) == 2  # the outage and the limping phase are shaded
    _renders(fig)


def test_plot_dashboard_does_not_shade_a_scenario_armed_for_the_whole_run() -> None:
    """A fault without an end would grey every panel: the title says so instead."""
    run = dashboard_run("quota_exhausted", seconds=10.0)
    fig = viz.plot_dashboard(run)
    assert "faults armed throughout" in fig.get_suptitle()
    assert not fig.get_axes()[1].patches


def _side(client: str, answered: int, latencies: tuple[float, ...]) -> SideResult:
    return SideResult(
        client=client,  # type: ignore[arg-type]
        requests=10,
        answered=answered,
        primary_answered=answered,
        wire_attempts=12,
        rate_limited=0,
        faults_injected=2,
        duration=20.0,
        latencies=latencies,
    )


def _row(
    key: str, unit: str, day6: float | None, bare: float, *, passed: bool, binding: bool = True
) -> ReadinessRow:
    return ReadinessRow(
        key=key,
        name=key.replace("_", " "),
        target="< 2 s" if unit == "seconds" else ">= 99.9 %",
        threshold=2.0 if unit == "seconds" else 0.999,
        higher_is_better=unit != "seconds",
        unit=unit,  # type: ignore[arg-type]
        day6=day6,
        bare=bare,
        passed=passed,
        bare_passed=not passed,
        binding=binding,
        note="",
    )


def test_plot_readiness_draws_a_bar_pair_per_target_and_the_latency_distribution() -> None:
    """Bars are day6 and bare SDK (scaled to % for ratios); green passes, red misses, grey is info."""
    normal = Experiment(name="normal", title="normal", requests=10, interval=2.0)
    result = ExperimentResult(normal, _side("day6", 10, (1.0, 1.2, 1.4)), _side("bare", 9, (1.1, 1.3, 3.0)))
    rows = (
        _row("availability", "ratio", 1.0, 0.99, passed=True),
        _row("p95_latency", "seconds", 1.4, 3.0, passed=True),
        _row("waste_5xx", "ratio", None, 0.1, passed=False, binding=False),
    )
    report = ReadinessReport(
        mode="fake-time", seed=0, profile="production", seconds=None, rows=rows, experiments=(result,)
    )
    fig = viz.plot_readiness(report)
    visible = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert len(visible) == len(rows) + 1
    heights = [[bar.get_height() for bar in ax.patches] for ax in visible[:3]]
    assert heights == [[100.0, 99.0], [1.4, 3.0], [0.0, 10.0]]
    green, red, grey = (matplotlib.colors.to_rgba(c) for c in ("tab:green", "tab:red", "tab:gray"))
    assert [bar.get_facecolor() for bar in visible[0].patches] == [green, red]
    assert [bar.get_facecolor() for bar in visible[2].patches] == [grey, grey]
    assert [text.get_text() for text in visible[2].texts] == ["n/a", "10.0 %"]
    cdf = visible[-1]
    assert [list(line.get_xdata()) for line in cdf.get_lines()[:2]] == [[1.0, 1.2, 1.4], [1.1, 1.3, 3.0]]
    assert "READY" in fig.get_suptitle()
    _renders(fig)


# ---- the dashboard panel -------------------------------------------------------------------------


def test_dashboard_panel_recomputes_when_a_control_moves() -> None:
    """Moving the scenario or the recovery timeout reruns the drill with the new settings."""
    panel = dashboard_panel(seconds=30.0)
    assert panel.data.scenario == "outage_then_recovery"
    default_moves = panel.data.transitions
    panel.controls["recovery_timeout"].value = 5.0
    assert panel.data.transitions != default_moves
    panel.controls["scenario"].value = "quota_exhausted"
    assert panel.data.scenario == "quota_exhausted"
    assert panel.data.answered == 0
    assert isinstance(panel.figure, Figure)
