"""day6.sim.rate_experiments: Lab 3's experiments, their figures and their panels."""

from __future__ import annotations

import asyncio
import math
import random

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from day6 import viz
from day6.errors import ConfigError
from day6.rate_limit.priority import Priority
from day6.sim import rate_experiments as rx
from day6.sim.rate_experiments import _LoopClock, _run_in_virtual_time
from day6.sim_rate import adaptive_capacity
from day6.widgets import adaptive_panel, bucket_panel

# --------------------------------------------------------------------------------------------------
# most_in_window
# --------------------------------------------------------------------------------------------------


def _brute_most(times: list[float], window: float) -> int:
    return max((sum(s <= t < s + window for t in times) for s in times), default=0)


def test_most_in_window_counts_half_open_windows() -> None:
    """A time exactly `window` after another falls in the next window, not the same one."""
    assert rx.most_in_window([], 1.0) == 0
    assert rx.most_in_window([0.0, 1.0, 2.0], 1.0) == 1
    assert rx.most_in_window([0.0, 0.5, 1.0, 1.2], 1.0) == 3
    assert rx.most_in_window([3.0, 0.0, 0.1], 60.0) == 3  # order does not matter


@settings(max_examples=100, deadline=None)
@given(
    times=st.lists(st.floats(0, 100, allow_nan=False), max_size=40),
    window=st.floats(0.01, 50, allow_nan=False),
)
def test_most_in_window_matches_a_brute_force_count(times: list[float], window: float) -> None:
    """The two-pointer count equals counting every window that starts at an event."""
    assert rx.most_in_window(times, window) == _brute_most(times, window)


@pytest.mark.parametrize("window", [0.0, -1.0, math.nan, math.inf])
def test_most_in_window_rejects_a_bad_window(window: float) -> None:
    """The window must be a finite number of seconds > 0."""
    with pytest.raises(ConfigError, match="window"):
        rx.most_in_window([1.0], window)


# --------------------------------------------------------------------------------------------------
# bucket_run
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", rx.TRAFFIC_PATTERNS)
def test_bucket_run_decides_every_request_once_and_repeats_exactly(pattern: str) -> None:
    """Every arrival is admitted or refused exactly once, and the same seed gives the same run."""
    run = rx.bucket_run(pattern=pattern, seed=3)
    assert sorted(run.accepted + run.rejected) == list(run.arrivals)
    assert run == rx.bucket_run(pattern=pattern, seed=3)
    assert run != rx.bucket_run(pattern=pattern, seed=4)
    assert all(0.0 <= level <= run.capacity for level in run.levels)
    assert list(run.level_times) == sorted(run.level_times)


def test_bursty_traffic_is_refused_when_the_burst_exceeds_the_capacity() -> None:
    """Bursts of 20 against a bucket of 10 lose about half; a bucket of 25 absorbs them all."""
    small = rx.bucket_run(capacity=10, rate=2.0, pattern="bursty", load=2.0)
    large = rx.bucket_run(capacity=25, rate=2.0, pattern="bursty", load=2.0)
    assert len(small.arrivals) == len(large.arrivals) == 120  # six bursts of 20
    assert 0.4 < small.acceptance < 0.7
    assert large.acceptance == 1.0
    assert small.most_admitted(1.0) <= small.bound(1.0)


def test_an_empty_bucket_is_visible_in_the_level_trace() -> None:
    """During a burst the level reaches (nearly) zero; between bursts it refills to capacity."""
    run = rx.bucket_run(capacity=10, rate=2.0, pattern="bursty", load=2.0)
    assert min(run.levels) < 1.0
    assert max(run.levels) == run.capacity


@settings(max_examples=15, deadline=None)
@given(
    capacity=st.floats(1, 20),
    rate=st.floats(0.2, 5),
    load=st.floats(0, 10),
    pattern=st.sampled_from(rx.TRAFFIC_PATTERNS),
    seed=st.integers(0, 1000),
)
def test_bucket_run_never_beats_the_bucket_guarantee(
    capacity: float, rate: float, load: float, pattern: str, seed: int
) -> None:
    """In any window of t seconds the bucket admitted at most capacity + rate * t requests."""
    run = rx.bucket_run(capacity=capacity, rate=rate, pattern=pattern, load=load, duration=30.0, seed=seed)
    for window in (0.5, 1.0, 5.0, 30.0):
        assert run.most_admitted(window) <= run.bound(window) + 1e-9


@pytest.mark.parametrize(
    ("settings_", "setting"),
    [
        ({"pattern": "poisson"}, "pattern"),
        ({"load": math.nan}, "load"),
        ({"load": -1.0}, "load"),
        ({"duration": 0.0}, "duration"),
        ({"sample_every": math.inf}, "sample_every"),
        ({"capacity": 0.0}, "capacity"),
    ],
)
def test_bucket_run_rejects_invalid_settings(settings_: dict[str, object], setting: str) -> None:
    """Bad settings fail at once, naming the setting."""
    with pytest.raises(ConfigError, match=setting):
        rx.bucket_run(**settings_)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# window_edge
# --------------------------------------------------------------------------------------------------


def test_fixed_window_lets_twice_the_limit_through_across_the_edge() -> None:
    """The naive fixed window admits 2 * limit within seconds around the minute boundary."""
    edge = rx.window_edge(limit=10, window=60.0)
    fixed = edge.run("fixed window")
    assert fixed.most_in(60.0) == 20
    assert fixed.most_in(15.0) == 20
    assert fixed.admitted[:10] == tuple(50.0 + 0.25 * i for i in range(10))
    assert fixed.admitted[10] == 60.0  # the count resets exactly at the boundary


def test_sliding_windows_keep_the_limit_in_every_window() -> None:
    """Log and counter modes never admit more than the limit in any window."""
    edge = rx.window_edge(limit=10, window=60.0)
    for label in ("sliding window (log)", "sliding window (counter)"):
        assert edge.run(label).most_in(60.0) <= 10
    # the log is exact: the 11th call goes through the moment the first one leaves the window
    assert edge.run("sliding window (log)").admitted[-1] == 110.0


def test_token_bucket_keeps_its_own_bound_at_the_edge() -> None:
    """The bucket admits at most limit + rate * t in any t seconds: 19 per minute, 12 per 15 s here."""
    edge = rx.window_edge(limit=10, window=60.0)
    bucket = edge.run("token bucket")
    for t in (1.0, 15.0, 60.0):
        assert bucket.most_in(t) <= 10 + t / 6
    assert (bucket.most_in(60.0), bucket.most_in(15.0)) == (19, 12)


def test_every_limiter_sees_the_same_attempts() -> None:
    """Admitted plus refused is the full attempt stream for each limiter."""
    edge = rx.window_edge(limit=3, window=10.0, start=5.0, stop=25.0, interval=0.5)
    assert edge.attempts == tuple(5.0 + 0.5 * i for i in range(41))
    for run in edge.runs:
        assert sorted(run.admitted + run.refused) == list(edge.attempts)
    with pytest.raises(KeyError):
        edge.run("leaky bucket")


@pytest.mark.parametrize(
    ("settings_", "setting"),
    [
        ({"limit": 0}, "limit"),
        ({"window": -1.0}, "window"),
        ({"stop": 40.0}, "stop"),
        ({"interval": 0}, "interval"),
    ],
)
def test_window_edge_rejects_invalid_settings(settings_: dict[str, object], setting: str) -> None:
    """Bad settings fail at once, naming the setting (stop must come after start)."""
    with pytest.raises(ConfigError, match=setting):
        rx.window_edge(**settings_)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# adaptive_timeline
# --------------------------------------------------------------------------------------------------


def test_a_shorter_adaptive_run_is_a_prefix_of_a_longer_one() -> None:
    """The property adaptive_timeline relies on: same seed, shorter duration = the same beginning."""
    short = adaptive_capacity(duration=20.0, seed=5)
    long = adaptive_capacity(duration=40.0, seed=5)
    assert long.rates[: len(short.rates)] == short.rates
    assert all(t >= 20.0 for t, _ in long.rates[len(short.rates) :])
    assert long.accepted >= short.accepted
    assert long.rejected >= short.rejected


def test_adaptive_timeline_bins_add_up_to_the_whole_run() -> None:
    """Per-bin counts are non-negative and sum to an independent run of the full duration."""
    timeline = rx.adaptive_timeline(duration=30.0, bin_width=5.0, seed=1)
    whole = adaptive_capacity(duration=30.0, seed=1, initial_rate=2.0)
    assert len(timeline.accepted) == len(timeline.rejected) == 6
    assert min(timeline.accepted + timeline.rejected) >= 0
    assert sum(timeline.accepted) == whole.accepted
    assert sum(timeline.rejected) == whole.rejected
    assert timeline.rates == whole.rates
    assert timeline.edges == (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
    assert timeline.goodput[0] == timeline.accepted[0] / 5.0


def test_adaptive_limiter_settles_at_the_hidden_capacity_and_follows_a_cut() -> None:
    """After slow start the goodput is about the capacity; a halved capacity halves the rate."""
    steady = rx.adaptive_timeline(capacity=20.0, initial_rate=2.0, duration=60.0, bin_width=10.0)
    assert 0.95 <= steady.settled_goodput(30.0) <= 1.05
    cut = rx.adaptive_timeline(
        capacity=20.0, initial_rate=2.0, duration=120.0, bin_width=20.0, capacity_after=(60.0, 10.0)
    )
    assert cut.capacity == ((0.0, 20.0), (60.0, 10.0))
    assert cut.capacity_at(59.0) == 20.0
    assert cut.capacity_at(60.0) == 10.0
    assert 8.0 <= cut.run.final_rate <= 13.0
    assert 0.9 <= cut.settled_goodput(80.0) <= 1.1


@pytest.mark.parametrize(
    ("settings_", "setting"),
    [
        ({"bin_width": 0.0}, "bin_width"),
        ({"bin_width": 50.0, "duration": 10.0}, "bin_width"),
        ({"duration": -1.0}, "duration"),
    ],
)
def test_adaptive_timeline_rejects_invalid_bins(settings_: dict[str, float], setting: str) -> None:
    """The bin width must be > 0 and fit in the duration."""
    with pytest.raises(ConfigError, match=setting):
        rx.adaptive_timeline(**settings_)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# priority_run and virtual time
# --------------------------------------------------------------------------------------------------


def test_strict_priority_serves_higher_classes_first() -> None:
    """Without aging, mean waits are ordered HIGH < NORMAL < LOW, and LOW waits the longest."""
    run = rx.priority_run(aging=None)
    high, normal, low = run.by_class()
    assert (high.priority, normal.priority, low.priority) == tuple(Priority)
    assert high.mean < normal.mean < low.mean
    assert high.max < 2.0
    assert low.max > 30.0


def test_aging_bounds_the_lowest_class_wait() -> None:
    """With aging, LOW waits at most about two aging periods, far less than under strict priority."""
    strict = rx.priority_run(aging=None)
    aged = rx.priority_run(aging=10.0)
    low_strict, low_aged = strict.by_class()[2], aged.by_class()[2]
    assert low_aged.max <= 2 * 10.0 + 1.0
    assert low_aged.max < low_strict.max / 2
    assert aged.by_class()[0].mean < 1.0  # HIGH still mostly served at once


def test_priority_run_serves_every_caller_once_and_repeats_exactly() -> None:
    """Each arrival is served exactly once (the line drains), waits are >= 0, and seeds repeat."""
    run = rx.priority_run(aging=5.0, busy=20.0, seed=7)
    assert run == rx.priority_run(aging=5.0, busy=20.0, seed=7)
    assert sum(row.count for row in run.by_class()) == len(run.waits) > 0
    assert all(w.waited >= 0.0 and 0.0 <= w.arrived < 20.0 for w in run.waits)
    # 4 per second served, from an empty bucket: the whole run needs at least len/4 seconds
    assert max(w.arrived + w.waited for w in run.waits) >= len(run.waits) / 4.0 - 1e-9


def test_priority_run_with_no_callers_in_a_class_reports_zero() -> None:
    """A class with no arrivals gets an all-zero row."""
    run = rx.priority_run(loads=(1.0, 0.0, 1.0), busy=5.0)
    assert run.by_class()[1] == rx.ClassWaits(Priority.NORMAL, 0, 0.0, 0.0, 0.0)


async def test_priority_run_works_inside_a_running_event_loop() -> None:
    """As in Jupyter, where the kernel's loop is already running, the virtual-time loop still runs."""
    asyncio.get_running_loop()
    run = rx.priority_run(busy=5.0)
    assert run.waits


def test_virtual_time_jumps_to_the_next_timer() -> None:
    """Sleeps on the virtual-time loop take no real time and end at the right virtual times."""

    async def main(clock: _LoopClock) -> list[tuple[str, float]]:
        woke: list[tuple[str, float]] = []

        async def nap(name: str, seconds: float) -> None:
            await clock.asleep(seconds)
            woke.append((name, clock.now()))

        await asyncio.gather(nap("long", 3600.0), nap("short", 1.5))
        return woke

    assert _run_in_virtual_time(main) == [("short", 1.5), ("long", 3600.0)]


def test_virtual_time_reports_a_deadlock_instead_of_hanging() -> None:
    """When every task waits and no timer is due, the run fails with a clear error."""

    async def main(clock: _LoopClock) -> None:
        await asyncio.Event().wait()

    with pytest.raises(RuntimeError, match="deadlock"):
        _run_in_virtual_time(main)


def test_loop_clock_refuses_to_block() -> None:
    """Blocking sleep cannot work on the virtual loop; the error says what to use instead."""

    async def main(clock: _LoopClock) -> float:
        with pytest.raises(RuntimeError, match="asleep"):
            clock.sleep(1.0)
        return clock.wall() - clock.now()

    assert _run_in_virtual_time(main) == 1_767_225_600.0


@pytest.mark.parametrize(
    ("settings_", "setting"),
    [
        ({"aging": 0.0}, "aging"),
        ({"aging": math.nan}, "aging"),
        ({"rate": math.inf}, "rate"),
        ({"loads": (1.0, 1.0)}, "loads"),
        ({"loads": (1.0, -1.0, 1.0)}, "loads"),
        ({"busy": 0.0}, "busy"),
    ],
)
def test_priority_run_rejects_invalid_settings(settings_: dict[str, object], setting: str) -> None:
    """Bad settings fail at once, naming the setting."""
    with pytest.raises(ConfigError, match=setting):
        rx.priority_run(**settings_)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# quota_day
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def day() -> rx.QuotaDay:
    return rx.quota_day()


def test_quota_never_lets_usage_past_the_budget(day: rx.QuotaDay) -> None:
    """Reservations hold the estimate (>= actual use), so used + reserved never exceeds the budget."""
    assert all(s.used + s.reserved <= day.limit for s in day.samples)
    assert len(day.samples) == 144  # every 10 minutes of the day
    assert day.served + len(day.refused) <= day.requests


def test_quota_refuses_only_when_the_estimate_no_longer_fits(day: rx.QuotaDay) -> None:
    """The first refusal comes when less than one request's worst-case estimate is left."""
    first = day.first_refusal
    assert first is not None
    before = [s for s in day.samples if s.at <= first][-1]
    after = next(s for s in day.samples if s.at > first)
    assert before.used < day.limit - 800 - 512  # room for any request at the sample before
    assert day.limit - after.used - after.reserved < 800 + 512
    assert all(t >= first for t in day.refused)


def test_straight_line_forecast_is_late_for_a_daily_rhythm(day: rx.QuotaDay) -> None:
    """At 09:00 the forecast sees no exhaustion; at noon it predicts one later than the actual."""
    first = day.first_refusal
    assert first is not None
    assert day.forecast_at(9 * 3600) is None
    noon = day.forecast_at(12 * 3600)
    assert noon is not None
    assert noon > first
    assert day.forecast_at(first) is not None


def test_a_large_budget_is_never_exhausted() -> None:
    """With room to spare, nothing is refused and no forecast predicts exhaustion."""
    roomy = rx.quota_day(tokens_per_day=50_000_000, requests_per_day=500)
    assert roomy.first_refusal is None
    assert all(s.forecast is None for s in roomy.samples)
    assert roomy == rx.quota_day(tokens_per_day=50_000_000, requests_per_day=500)


def test_hhmm_formats_seconds_since_midnight() -> None:
    """Seconds since midnight become HH:MM, rounded to the minute."""
    assert rx.hhmm(0.0) == "00:00"
    assert rx.hhmm(15 * 3600 + 53 * 60 + 10) == "15:53"
    assert rx.hhmm(86_400.0) == "24:00"


@pytest.mark.parametrize(
    ("settings_", "setting"),
    [
        ({"tokens_per_day": 0}, "tokens_per_day"),
        ({"profile": (1.0,) * 23}, "profile"),
        ({"profile": (0.0,) * 24}, "profile"),
        ({"prompt_tokens": (10, 5)}, "prompt_tokens"),
        ({"latency": (1.0, 0.5)}, "latency"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_quota_day_rejects_invalid_settings(settings_: dict[str, object], setting: str) -> None:
    """Bad settings fail at once, naming the setting."""
    with pytest.raises(ConfigError, match=setting):
        rx.quota_day(**settings_)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


def _bars(ax: Axes, color: str) -> list[float]:
    """Heights of the bars of one colour (matplotlib draws each bar as a Rectangle patch)."""
    return [
        p.get_height()
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_facecolor() == matplotlib.colors.to_rgba(color)
    ]


def test_bucket_figure_shows_the_level_and_the_decisions() -> None:
    """Top: the sampled level (to the end of the run); bottom: accepted and rejected per second."""
    run = rx.bucket_run(duration=20.0)
    fig = viz.plot_bucket(run)
    top, bottom = fig.axes
    level = top.get_lines()[0]
    assert list(level.get_ydata()) == [*run.levels, run.levels[-1]]
    assert level.get_xdata()[-1] == 20.0
    assert sum(_bars(bottom, "tab:green")) == len(run.accepted)
    assert sum(_bars(bottom, "tab:red")) == len(run.rejected)


def test_window_edge_figure_plots_each_limiters_worst_window() -> None:
    """Right: one bar per limiter of its worst-window count (and a second set for `short`)."""
    edge = rx.window_edge()
    fig = viz.plot_window_edge(edge, short=15.0)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()[: len(edge.runs)]] == [r.label for r in edge.runs]
    widths = [p.get_width() for p in right.patches]
    assert widths == [r.most_in(60.0) for r in edge.runs] + [r.most_in(15.0) for r in edge.runs]
    assert len(viz.plot_window_edge(edge).axes[1].patches) == len(edge.runs)


def test_adaptive_figure_has_a_rate_trace_and_goodput_bars_per_timeline() -> None:
    """Per timeline: the rate as a step line over the capacity, goodput and 429 bars below."""
    timeline = rx.adaptive_timeline(duration=20.0, bin_width=5.0)
    fig = viz.plot_adaptive([timeline, timeline])
    assert len(fig.axes) == 4
    top, bottom = fig.axes[0], fig.axes[2]
    rate = top.get_lines()[0]
    assert list(rate.get_ydata())[:-1] == [r for _, r in timeline.rates]
    assert rate.get_drawstyle() == "steps-post"
    assert _bars(bottom, "tab:green") == pytest.approx(list(timeline.goodput))
    assert _bars(bottom, "tab:red") == pytest.approx(list(timeline.rejections))
    with pytest.raises(ConfigError, match="timelines"):
        viz.plot_adaptive([])


def test_priority_figure_scatters_waits_by_class() -> None:
    """One scatter per class with every caller's wait, one axes per run."""
    runs = [rx.priority_run(aging=None, busy=10.0), rx.priority_run(aging=5.0, busy=10.0)]
    fig = viz.plot_priority(runs)
    assert len(fig.axes) == 2
    for ax, run in zip(fig.axes, runs, strict=True):
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert sum(len(c.get_offsets()) for c in points) == len(run.waits)
    with pytest.raises(ConfigError, match="runs"):
        viz.plot_priority([])


def test_quota_figure_stops_the_forecast_at_the_first_refusal(day: rx.QuotaDay) -> None:
    """Usage against the budget on top; below, forecasts made before the first refusal only."""
    fig = viz.plot_quota(day)
    top, bottom = fig.axes
    assert list(top.get_lines()[0].get_ydata()) == [s.used for s in day.samples]
    forecast = bottom.get_lines()[0]
    first = day.first_refusal
    assert first is not None
    assert max(forecast.get_xdata()) < first / 3600
    assert len(forecast.get_xdata()) == sum(1 for s in day.samples if s.forecast is not None and s.at < first)


# --------------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------------


def test_bucket_panel_reruns_the_bucket_from_its_controls() -> None:
    """Capacity, rate and traffic pattern feed the bucket run behind the panel."""
    panel = bucket_panel()
    assert (panel.data.capacity, panel.data.rate, panel.data.pattern) == (10.0, 2.0, "bursty")
    panel.controls["capacity"].value = 25.0
    assert panel.data.capacity == 25.0
    assert panel.data.acceptance == 1.0
    panel.controls["pattern"].value = "spike"
    assert panel.data.pattern == "spike"
    assert isinstance(panel.figure, Figure)
    assert set(panel.controls) == {"capacity", "rate", "pattern", "load", "seed"}


def test_adaptive_panel_reruns_the_timeline_from_its_controls() -> None:
    """Moving the capacity control adds a capacity change at 60 s; the start rate is honoured."""
    panel = adaptive_panel()
    assert panel.data.capacity == ((0.0, 20.0),)
    assert panel.data.rates[0] == (0.0, 2.0)
    panel.controls["capacity_after"].value = 8.0
    assert panel.data.capacity == ((0.0, 20.0), (60.0, 8.0))
    panel.controls["initial_rate"].value = 50.0
    assert panel.data.rates[0] == (0.0, 50.0)
    assert isinstance(panel.figure, Figure)


def test_experiments_do_not_touch_the_global_random_state() -> None:
    """Every draw comes from seeded generators: the module-level `random` state is left alone."""
    random.seed(123)
    expected = random.random()
    random.seed(123)
    rx.bucket_run(pattern="steady")
    rx.priority_run(busy=5.0)
    rx.quota_day(requests_per_day=200)
    assert random.random() == expected
