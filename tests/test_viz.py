"""day6.viz: every figure has the right axes, labels and plotted data, and never touches pyplot."""

from __future__ import annotations

import io
from collections.abc import Iterator

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

from day6 import viz
from day6.backoff import Backoff, Jitter
from day6.errors import ConfigError
from day6.sim import (
    AttemptSpan,
    ContentionPoint,
    DelayBand,
    delay_bands,
    retry_storm,
    thundering_herd,
)


@pytest.fixture(autouse=True)
def _no_pyplot_figures() -> Iterator[None]:
    """viz builds Figure objects directly: nothing may land in pyplot's global figure list."""
    yield
    assert Gcf.get_num_fig_managers() == 0


def _renders(figure: Figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def _bands() -> list[DelayBand]:
    return [
        *delay_bands(Backoff(base=0.1, cap=5.0, jitter=Jitter.NONE), attempts=5, samples=50),
        *delay_bands(Backoff(base=0.1, cap=5.0, jitter=Jitter.FULL), attempts=5, samples=50),
    ]


def test_delay_bands_plot_one_panel_per_mode_with_median_band_and_raw_curve() -> None:
    """Each jitter mode gets a panel: its median line, a shaded min-max band and the dashed raw curve."""
    bands = _bands()
    fig = viz.plot_delay_bands(bands, title="Delays")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["no jitter", "full jitter"]
    assert fig.get_suptitle() == "Delays"
    full_ax = visible[1]
    median, raw = full_ax.get_lines()
    assert list(median.get_ydata()) == pytest.approx([b.median for b in bands if b.jitter is Jitter.FULL])
    assert list(raw.get_ydata()) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert raw.get_linestyle() == "--"
    assert len(full_ax.collections) == 1  # the min-max band
    assert visible[0].get_ylabel() == "delay (s)"
    assert full_ax.get_xlabel() == "failed attempt"
    assert full_ax.get_yscale() == "linear"
    assert viz.plot_delay_bands(bands, log=True).axes[0].get_yscale() == "log"
    five = [b for mode in Jitter for b in delay_bands(Backoff(jitter=mode), attempts=3, samples=10)]
    assert sum(ax.get_visible() for ax in viz.plot_delay_bands(five).axes) == 5
    with pytest.raises(ConfigError, match="bands"):
        viz.plot_delay_bands([])
    _renders(fig)


def test_timelines_mark_failed_and_successful_attempts_per_client() -> None:
    """Failed attempts and successful ones are two scatter layers at (start time, client)."""
    spans = [
        AttemptSpan(client=0, attempt=1, start=0.0, end=0.1, status=503),
        AttemptSpan(client=0, attempt=2, start=0.5, end=0.6, status=200),
        AttemptSpan(client=1, attempt=1, start=0.2, end=0.3, status=200),
    ]
    fig = viz.plot_timelines(spans, outage=(0.0, 0.4))
    (ax,) = fig.axes
    failed, ok = ax.collections[-2:]
    assert failed.get_label() == "failed attempt"
    assert failed.get_offsets().tolist() == [[0.0, 0.0]]
    assert ok.get_offsets().tolist() == [[0.5, 0.0], [0.2, 1.0]]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "client")
    assert [p.get_label() for p in ax.patches] == ["outage"]


def test_load_bars_are_requests_per_second_with_a_capacity_line() -> None:
    """Arrivals are binned per bucket and scaled to per-second rates; capacity is a dashed line."""
    fig = viz.plot_load([0.01, 0.02, 0.03, 0.25, 0.31], bucket=0.1, end=0.4, capacity=15.0)
    (ax,) = fig.axes
    (load,) = [p for p in ax.patches if p.get_label() == "requests"]
    assert list(load.get_data().values) == pytest.approx([30.0, 0.0, 10.0, 10.0])
    assert list(load.get_data().edges) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    (capacity,) = ax.get_lines()
    assert list(capacity.get_ydata()) == [15.0, 15.0]
    assert ax.get_ylabel() == "requests per second"
    for bad in (0.0, -0.1, float("inf"), float("nan"), True, "0.1"):
        with pytest.raises(ConfigError, match="bucket"):
            viz.plot_load([1.0], bucket=bad, end=1.0)  # type: ignore[arg-type]


def test_herd_figure_has_a_timeline_and_a_load_plot_per_run() -> None:
    """Two runs give a 2x2 grid; each column is titled with its successes and calls."""
    results = [thundering_herd(clients=20, jitter=j, seed=1) for j in ("none", "full")]
    fig = viz.plot_herd(results)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    for result in results:
        assert f"{result.label}: {result.succeeded}/20 succeeded, {result.calls} calls" in titles
    load_axes = [ax for ax in fig.axes if ax.get_title().startswith("load")]
    assert len(load_axes) == 2
    (load,) = [p for p in load_axes[0].patches if p.get_label() == "requests"]
    assert load.get_data().values.sum() * 0.1 == pytest.approx(len(results[0].arrivals))  # each arrival once
    _renders(fig)
    with pytest.raises(ConfigError, match="results"):
        viz.plot_herd([])


def test_contention_figure_plots_work_and_time_per_strategy() -> None:
    """Two axes (work, time); one line per strategy with its label and the mean values."""
    points = [
        ContentionPoint("full", n, trials=3, work=w, time=t, gave_up=0)
        for n, w, t in [(10, 20.0, 0.3), (20, 50.0, 0.6)]
    ] + [
        ContentionPoint("exponential", n, trials=3, work=w, time=t, gave_up=0)
        for n, w, t in [(10, 40.0, 1.0)]
    ]
    fig = viz.plot_contention(points)
    work_ax, time_ax = fig.axes
    assert work_ax.get_ylabel() == "conditional writes (mean)"
    assert time_ax.get_ylabel() == "time until the last client succeeded (s)"
    assert work_ax.get_xlabel() == time_ax.get_xlabel() == "clients"
    work = {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in work_ax.get_lines()
    }
    assert work["Full jitter"] == ([10, 20], [20.0, 50.0])
    assert work["Exponential"] == ([10], [40.0])
    time = {line.get_label(): list(line.get_ydata()) for line in time_ax.get_lines()}
    assert time["Full jitter"] == [0.3, 0.6]
    assert "3 trials" in work_ax.get_title()


def test_storm_figure_shows_offered_calls_and_attempts_per_run() -> None:
    """A dashed offered-load line plus one attempts line per run, labelled with the outage amplification."""
    runs = [retry_storm(budget=b, seed=2, duration=12.0, outage=(4.0, 8.0)) for b in (False, True)]
    fig = viz.plot_storm(runs, bucket=1.0)
    (ax,) = fig.axes
    steps = {patch.get_label(): patch for patch in ax.patches if patch.get_label() != "outage"}
    assert "calls started" in steps
    storm = steps[f"attempts, no retry budget ({runs[0].outage_amplification:.1f}x during the outage)"]
    calm = steps[f"attempts, with retry budget ({runs[1].outage_amplification:.1f}x during the outage)"]
    assert storm.get_data().values.sum() == len(runs[0].arrivals)  # per-second rates in 1 s bins
    assert calm.get_data().values.sum() == len(runs[1].arrivals)
    assert list(storm.get_data().edges) == [float(i) for i in range(13)]
    assert steps["calls started"].get_data().values.sum() == runs[0].requests
    assert ax.get_xlabel() == "time (s)"
    _renders(fig)


def test_state_band_draws_one_lane_per_state_with_its_spans() -> None:
    """Each state gets a lane; its bars cover exactly the intervals the machine spent in it."""
    fig = viz.plot_state_band([0.0, 2.0, 5.0, 6.0], ["closed", "open", "half_open", "closed"], end=9.0)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["half_open", "open", "closed"]
    spans = {c.get_label(): [tuple(p.get_extents().bounds) for p in c.get_paths()] for c in ax.collections}
    assert set(spans) == {"closed", "open", "half_open"}
    closed = ax.collections[0]
    xs = sorted(
        (round(float(p.vertices[:, 0].min()), 6), round(float(p.vertices[:, 0].max()), 6))
        for p in closed.get_paths()
    )
    assert xs == [(0.0, 2.0), (6.0, 9.0)]
    assert ax.get_xlabel() == "time (s)"
    with pytest.raises(ConfigError, match="states"):
        viz.plot_state_band([0.0], ["closed", "open"], end=1.0)
    with pytest.raises(ConfigError, match="times"):
        viz.plot_state_band([1.0, 0.0], ["closed", "open"], end=2.0)


def test_level_is_a_step_line_with_a_capacity_line() -> None:
    """Token levels are drawn as a post-step line; the capacity as a horizontal line."""
    fig = viz.plot_level([0.0, 1.0, 2.0], [10.0, 4.0, 7.0], capacity=10.0, end=3.0, label="tokens")
    (ax,) = fig.axes
    level, capacity = ax.get_lines()
    assert list(level.get_xdata()) == [0.0, 1.0, 2.0, 3.0]
    assert list(level.get_ydata()) == [10.0, 4.0, 7.0, 7.0]
    assert level.get_drawstyle() == "steps-post"
    assert list(capacity.get_ydata()) == [10.0, 10.0]
    assert ax.get_ylabel() == "tokens"
    with pytest.raises(ConfigError, match="levels"):
        viz.plot_level([0.0], [1.0, 2.0])


def test_accepted_and_rejected_are_stacked_per_bucket() -> None:
    """Accepted bars sit at the bottom; rejected bars start on top of them."""
    fig = viz.plot_accepted_rejected([0.1, 0.2, 1.5], [0.3, 1.1, 1.2, 1.9], bucket=1.0, end=2.0)
    (ax,) = fig.axes
    accepted = [p for p in ax.patches if p.get_facecolor() == matplotlib.colors.to_rgba("tab:green")]
    rejected = [p for p in ax.patches if p.get_facecolor() == matplotlib.colors.to_rgba("tab:red")]
    assert [p.get_height() for p in accepted] == [2, 1]
    assert [p.get_height() for p in rejected] == [1, 3]
    assert [p.get_y() for p in rejected] == [2, 1]
    assert ax.get_ylabel() == "requests per 1 s"


def test_building_blocks_draw_into_a_given_axes() -> None:
    """With ax=, a building block draws there and returns that axes' figure (composable panels)."""
    fig = Figure()
    top, bottom = fig.subplots(2, 1)
    assert viz.plot_level([0.0, 1.0], [1.0, 2.0], ax=top) is fig
    assert viz.plot_accepted_rejected([0.5], [0.7], bucket=1.0, ax=bottom) is fig
    assert len(fig.axes) == 2
    assert top.get_lines()
