"""Figures for the labs: every function takes records from :mod:`day6.sim` (or plain sequences)
and returns a :class:`matplotlib.figure.Figure`.

Design choices a reader may wonder about:

* **No pyplot.** Figures are built as ``Figure(...)`` objects, not with ``plt.subplots``: nothing is
  registered in pyplot's global figure list, so nothing leaks between calls, nothing needs
  ``plt.close``, a notebook shows a figure exactly once (when a cell returns it) and
  ``plt.show()`` is never called. In a notebook, ``%matplotlib inline`` in the setup cell lets
  Jupyter render a returned ``Figure``.
* **Building blocks take ``ax=``.** :func:`plot_state_band`, :func:`plot_level`,
  :func:`plot_accepted_rejected`, :func:`plot_timelines` and :func:`plot_load` draw into a given
  axes (and return its figure) or make their own figure, so Labs 2-4 can compose panels such as
  "breaker state above accepted vs rejected" in a few lines.
* **Fixed colours per strategy** (:data:`COLORS`), so "full jitter" is the same blue in every lab.
* matplotlib is imported by this module, which is why ``import day6`` never imports it: the labs
  import :mod:`day6.viz` themselves.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from day6._validate import positive
from day6.errors import ConfigError

if TYPE_CHECKING:
    from day6.sim.retry_experiments import AttemptSpan, ContentionPoint, DelayBand, HerdResult, StormResult

__all__ = [
    "COLORS",
    "STATE_COLORS",
    "plot_accepted_rejected",
    "plot_contention",
    "plot_delay_bands",
    "plot_herd",
    "plot_level",
    "plot_load",
    "plot_state_band",
    "plot_storm",
    "plot_timelines",
]

COLORS: Mapping[str, str] = {
    "none": "tab:gray",  # Brooker's "no backoff" / Jitter.NONE is keyed by its own name below
    "exponential": "tab:red",
    "proportional": "tab:purple",
    "full": "tab:blue",
    "equal": "tab:orange",
    "decorrelated": "tab:green",
}
"""One colour per backoff strategy / jitter mode, shared by every figure."""

STATE_COLORS: Mapping[str, str] = {
    "closed": "tab:green",
    "half_open": "tab:orange",
    "open": "tab:red",
}
"""Default colours for :func:`plot_state_band` (circuit breaker states)."""

_OK = "tab:green"
_FAILED = "tab:red"
_OUTAGE = "0.85"


def _jitter_color(jitter: str) -> str:
    # Jitter.NONE is plain exponential backoff: red, like Brooker's "Exponential".
    return COLORS["exponential"] if jitter == "none" else COLORS.get(jitter, "black")


def _jitter_label(jitter: str) -> str:
    return "no jitter" if jitter == "none" else f"{jitter} jitter"


def _figure(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure and axes to draw on: ``ax``'s own, or a new single-axes figure."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _shade_outage(ax: Axes, outage: tuple[float, float] | None) -> None:
    if outage is not None:
        ax.axvspan(outage[0], outage[1], color=_OUTAGE, zorder=0, label="outage")


def _check_bucket(bucket: float) -> None:
    positive("bucket", bucket, allowed="a number of seconds > 0")


def _bins(times: Sequence[float], bucket: float, end: float) -> tuple[list[float], list[int]]:
    """``(edges, counts)``: how many ``times`` fall in each ``bucket``-wide bin of ``[0, end)``."""
    bins = max(1, int(end / bucket + 0.5))
    counts = [0] * bins
    for t in times:
        index = int(t / bucket)
        if 0 <= index < bins:
            counts[index] += 1
    return [i * bucket for i in range(bins + 1)], counts


# --------------------------------------------------------------------------------------------------
# Lab 1 figures
# --------------------------------------------------------------------------------------------------


def plot_delay_bands(bands: Sequence[DelayBand], *, log: bool = False, title: str | None = None) -> Figure:
    """Delay per attempt, one small panel per jitter mode: median line, min..max shaded band.

    Every panel repeats the un-jittered exponential curve (dashed) and shares the y axis, so the
    panels compare at a glance: proportional hugs the curve, full and equal stay below it,
    decorrelated wanders between the base delay and the cap.
    """
    if not bands:
        raise ConfigError("bands", bands, "at least one DelayBand")
    groups: dict[str, list[DelayBand]] = defaultdict(list)
    for band in bands:
        groups[str(band.jitter)].append(band)
    columns = min(len(groups), 3)
    rows_needed = -(-len(groups) // columns)
    fig = Figure(figsize=(max(6.0, 3.6 * columns + 0.6), 3.0 * rows_needed + 0.6), layout="constrained")
    grid = fig.subplots(rows_needed, columns, sharex=True, sharey=True, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax, (jitter, group) in zip(axes, groups.items(), strict=False):
        group = sorted(group, key=lambda b: b.attempt)
        x = [b.attempt for b in group]
        color = _jitter_color(jitter)
        ax.fill_between(
            x, [b.low for b in group], [b.high for b in group], color=color, alpha=0.25, linewidth=0
        )
        ax.plot(x, [b.median for b in group], marker="o", markersize=4, color=color, label="median")
        ax.plot(x, [b.raw for b in group], linestyle="--", color="black", label="no jitter")
        ax.set_title(_jitter_label(jitter))
        if log:
            ax.set_yscale("log")
    for index, ax in enumerate(axes):
        if index >= len(groups):
            ax.set_visible(False)
        elif index + columns >= len(groups):  # nothing visible below: label this one's x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("failed attempt")
    for row in grid:
        row[0].set_ylabel("delay (s)")
    axes[0].legend(fontsize="small", loc="upper left")
    fig.suptitle(title or "Delay before the next attempt (line: median; band: min to max)")
    return fig


def plot_timelines(
    spans: Sequence[AttemptSpan],
    *,
    outage: tuple[float, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """One row per client, one mark per attempt at the time it was sent: green ok, red failed.

    Synchronised retries show up as vertical stripes of red; jittered ones as scattered marks.
    """
    fig, ax = _figure(ax, (7.0, 4.0))
    _shade_outage(ax, outage)
    ok = [s for s in spans if s.ok]
    failed = [s for s in spans if not s.ok]
    ax.scatter(
        [s.start for s in failed],
        [s.client for s in failed],
        s=6,
        marker="x",
        color=_FAILED,
        label="failed attempt",
    )
    ax.scatter(
        [s.start for s in ok], [s.client for s in ok], s=10, marker="o", color=_OK, label="successful attempt"
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("client")
    ax.set_title(title or "Attempts per client")
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_load(
    times: Sequence[float],
    *,
    bucket: float,
    end: float,
    capacity: float | None = None,
    outage: tuple[float, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    label: str = "requests",
) -> Figure:
    """Requests per second reaching a service, in ``bucket``-second bins; ``capacity`` as a line."""
    _check_bucket(bucket)
    fig, ax = _figure(ax, (7.0, 3.0))
    _shade_outage(ax, outage)
    edges, counts = _bins(times, bucket, end)
    # One filled step patch, not a bar per bin: a redraw costs the same for 10 bins or 1000.
    ax.stairs([c / bucket for c in counts], edges, fill=True, color="tab:blue", label=label)
    if capacity is not None:
        ax.axhline(capacity, color="black", linestyle="--", label="service capacity")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("requests per second")
    ax.set_title(title or "Load on the service")
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_herd(results: Sequence[HerdResult], *, bucket: float = 0.1) -> Figure:
    """Thundering herd side by side: per-client attempts above, load on the service below."""
    if not results:
        raise ConfigError("results", results, "at least one HerdResult")
    _check_bucket(bucket)
    fig = Figure(figsize=(max(6.0, 5.0 * len(results)), 6.0), layout="constrained")
    axes = fig.subplots(2, len(results), sharex=True, sharey="row", squeeze=False)
    end = max(r.end for r in results)
    for column, result in enumerate(results):
        top, bottom = axes[0][column], axes[1][column]
        plot_timelines(
            result.spans,
            outage=result.outage,
            ax=top,
            title=f"{result.label}: {result.succeeded}/{result.clients} succeeded, {result.calls} calls",
        )
        plot_load(
            result.arrivals,
            bucket=bucket,
            end=end,
            capacity=result.throughput,
            outage=result.outage,
            ax=bottom,
            title=f"load on the service ({bucket:g} s bins)",
        )
        top.set_xlabel("")  # shared with the load plot below
        if column:
            top.set_ylabel("")
            bottom.set_ylabel("")
    # One legend for the whole figure, below the plots, instead of one per axes over the data.
    legend: dict[str, Any] = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles, strict=True))
        ax.get_legend().remove()
    columns = len(legend) if len(results) > 1 else 3
    fig.legend(
        list(legend.values()), list(legend), loc="outside lower center", ncols=columns, fontsize="small"
    )
    return fig


def plot_contention(points: Sequence[ContentionPoint]) -> Figure:
    """Brooker's two graphs: total work (conditional writes) and completion time vs clients."""
    if not points:
        raise ConfigError("points", points, "at least one ContentionPoint")
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    work_ax, time_ax = fig.subplots(1, 2)
    groups: dict[str, list[ContentionPoint]] = defaultdict(list)
    for point in points:
        groups[point.strategy].append(point)
    for strategy, rows in groups.items():
        rows = sorted(rows, key=lambda p: p.clients)
        x = [p.clients for p in rows]
        color = COLORS.get(strategy, "black")
        work_ax.plot(x, [p.work for p in rows], marker="o", markersize=3, color=color, label=rows[0].label)
        time_ax.plot(x, [p.time for p in rows], marker="o", markersize=3, color=color, label=rows[0].label)
    trials = points[0].trials
    work_ax.set_xlabel("clients")
    work_ax.set_ylabel("conditional writes (mean)")
    work_ax.set_title(f"Work (mean of {trials} trials)")
    time_ax.set_xlabel("clients")
    time_ax.set_ylabel("time until the last client succeeded (s)")
    time_ax.set_yscale("log")
    time_ax.set_title(f"Time (mean of {trials} trials, log scale)")
    work_ax.legend(fontsize="small")
    return fig


def plot_storm(results: Sequence[StormResult], *, bucket: float = 0.5) -> Figure:
    """Load on the service over time for each run, against the traffic the callers offered."""
    if not results:
        raise ConfigError("results", results, "at least one StormResult")
    _check_bucket(bucket)
    fig, ax = _figure(None, (8.0, 4.0))
    _shade_outage(ax, results[0].outage)
    end = max(r.duration for r in results)
    edges, offered = _bins(results[0].request_times, bucket, end)
    rate = [c / bucket for c in offered]
    ax.stairs(rate, edges, baseline=None, color="black", linestyle="--", label="calls started")
    for result in results:
        edges, counts = _bins(result.arrivals, bucket, end)
        color = "tab:blue" if result.budget else "tab:red"
        ax.stairs(
            [c / bucket for c in counts],
            edges,
            baseline=None,
            color=color,
            label=f"attempts, {result.label} ({result.outage_amplification:.1f}x during the outage)",
        )
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"per second ({bucket:g} s bins)")
    ax.set_ylim(bottom=0)
    ax.set_title("Retry storm: attempts reaching the service")
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------------
# Building blocks for Labs 2-4
# --------------------------------------------------------------------------------------------------


def plot_state_band(
    times: Sequence[float],
    states: Sequence[str],
    *,
    end: float,
    order: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """A state machine over time: one lane per state, a bar while the machine was in it.

    ``times[i]`` is when ``states[i]`` began (sorted); the last state lasts until ``end``.
    ``order`` fixes the lanes top to bottom (default: first appearance); ``colors`` defaults to
    :data:`STATE_COLORS` (a circuit breaker's closed / half_open / open).
    """
    if len(times) != len(states):
        raise ConfigError("states", len(states), f"as many states as times ({len(times)})")
    if any(b < a for a, b in itertools.pairwise(times)):
        raise ConfigError("times", list(times), "non-decreasing change times")
    fig, ax = _figure(ax, (7.0, 2.0))
    lanes = list(order) if order is not None else list(dict.fromkeys(states))
    palette = {**STATE_COLORS, **(colors or {})}
    bounds = [*times[1:], end]
    for lane, state in enumerate(lanes):
        segments = [(t0, t1 - t0) for s, t0, t1 in zip(states, times, bounds, strict=True) if s == state]
        y = len(lanes) - 1 - lane
        ax.broken_barh(segments, (y - 0.4, 0.8), facecolors=palette.get(state, "tab:gray"), label=state)
    ax.set_yticks(range(len(lanes)), list(reversed(lanes)))
    ax.set_xlabel("time (s)")
    ax.set_title(title or "State over time")
    return fig


def plot_level(
    times: Sequence[float],
    levels: Sequence[float],
    *,
    capacity: float | None = None,
    end: float | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    label: str = "tokens",
) -> Figure:
    """A level over time as a step line (e.g. a token bucket's tokens), ``capacity`` dashed.

    ``levels[i]`` holds from ``times[i]`` until the next time; give ``end`` to draw the last level
    up to it (otherwise it is a single point at the last time).
    """
    if len(times) != len(levels):
        raise ConfigError("levels", len(levels), f"as many levels as times ({len(times)})")
    fig, ax = _figure(ax, (7.0, 3.0))
    xs, ys = list(times), list(levels)
    if end is not None and xs:
        xs.append(end)
        ys.append(ys[-1])
    ax.step(xs, ys, where="post", color="tab:blue", label=label)
    if capacity is not None:
        ax.axhline(capacity, color="black", linestyle="--", label="capacity")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(label)
    ax.set_title(title or f"{label} over time")
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_accepted_rejected(
    accepted: Sequence[float],
    rejected: Sequence[float],
    *,
    bucket: float,
    end: float | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Requests per ``bucket``-second bin, accepted (green) stacked under rejected (red)."""
    _check_bucket(bucket)
    fig, ax = _figure(ax, (7.0, 3.0))
    horizon = end if end is not None else max([*accepted, *rejected, bucket])
    edges, ok = _bins(accepted, bucket, horizon)
    _, refused = _bins(rejected, bucket, horizon)
    starts = edges[:-1]
    ax.bar(starts, ok, width=bucket, align="edge", color=_OK, label="accepted")
    ax.bar(starts, refused, width=bucket, align="edge", bottom=ok, color=_FAILED, label="rejected")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"requests per {bucket:g} s")
    ax.set_title(title or "Accepted vs rejected")
    ax.legend(fontsize="small", loc="upper right")
    return fig


# ---- Lab 3 ----
# Rate limiting figures. The records come from day6.sim.rate_experiments (imported for type
# checking only, like Lab 1's): token bucket level, window edge, adaptive sawtooth, priorities, quota.

if TYPE_CHECKING:
    from day6.sim.rate_experiments import AdaptiveTimeline, BucketRun, PriorityRun, QuotaDay, WindowEdgeResult

PRIORITY_COLORS: Mapping[str, str] = {"HIGH": "tab:blue", "NORMAL": "tab:orange", "LOW": "tab:purple"}
"""One colour per priority class (:class:`~day6.rate_limit.Priority` names) in Lab 3's figures."""

_LIMITER_COLORS = ("tab:red", "tab:blue", "tab:cyan", "tab:green", "tab:purple", "tab:brown")


def plot_bucket(run: BucketRun, *, bucket: float = 1.0, title: str | None = None) -> Figure:
    """A token bucket under traffic: its level above, accepted vs rejected requests below.

    The level drops by one token per admitted request and climbs back at ``rate`` per second, never
    above ``capacity``; requests that find it empty are the red part of the bars.
    """
    _check_bucket(bucket)
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    plot_level(
        run.level_times,
        run.levels,
        capacity=run.capacity,
        end=run.duration,
        ax=top,
        title=title
        or (
            f"TokenBucket(capacity={run.capacity:g}, rate={run.rate:g}/s), {run.pattern} traffic: "
            f"{len(run.accepted)} of {len(run.arrivals)} admitted"
        ),
    )
    top.set_ylim(bottom=0.0, top=run.capacity * 1.15)
    top.set_xlabel("")
    plot_accepted_rejected(
        run.accepted, run.rejected, bucket=bucket, end=run.duration, ax=bottom, title="Requests"
    )
    return fig


def plot_window_edge(result: WindowEdgeResult, *, short: float | None = None) -> Figure:
    """Each limiter's admitted calls over time (left) and the most it admitted in one window (right).

    Dotted lines mark the calendar window boundaries where a fixed window resets. On the right, the
    dashed line is the limit: a bar above it is a window in which the limiter let more through than
    "``limit`` per ``window``" promises. ``short`` adds a second bar per limiter for windows of that
    many seconds (how bursty the admitted calls were).
    """
    if not result.runs:
        raise ConfigError("result", result, "a WindowEdgeResult with at least one run")
    fig = Figure(figsize=(11.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    first, last = result.attempts[0], result.attempts[-1]
    for index, run in enumerate(result.runs):
        color = _LIMITER_COLORS[index % len(_LIMITER_COLORS)]
        xs = [first, *run.admitted, last]
        ys = [0, *range(1, len(run.admitted) + 1), len(run.admitted)]
        left.step(xs, ys, where="post", color=color, label=run.label)
    boundary = (first // result.window + 1) * result.window
    while boundary < last:
        left.axvline(boundary, color="black", linestyle=":", linewidth=1)
        boundary += result.window
    left.set_xlabel("time (s)")
    left.set_ylabel("calls admitted so far")
    left.set_title(f"A greedy client, one attempt every {result.attempts[1] - first:g} s")
    left.legend(fontsize="small", loc="lower right")
    labels = [run.label for run in result.runs]
    positions = list(range(len(labels)))
    height = 0.4 if short is not None else 0.7
    worst = [run.most_in(result.window) for run in result.runs]
    right.barh(
        [p - (height / 2 if short is not None else 0) for p in positions],
        worst,
        height=height,
        color=[_LIMITER_COLORS[i % len(_LIMITER_COLORS)] for i in positions],
        label=f"in any {result.window:g} s",
    )
    if short is not None:
        right.barh(
            [p + height / 2 for p in positions],
            [run.most_in(short) for run in result.runs],
            height=height,
            color=[_LIMITER_COLORS[i % len(_LIMITER_COLORS)] for i in positions],
            alpha=0.4,
            label=f"in any {short:g} s",
        )
    right.axvline(result.limit, color="black", linestyle="--", label=f"limit ({result.limit})")
    right.set_yticks(positions, labels)
    right.invert_yaxis()
    right.set_xlabel("most calls admitted in one window")
    right.set_title(f"Worst window: the promise is {result.limit} per {result.window:g} s")
    right.legend(fontsize="small", loc="lower right")
    return fig


def plot_adaptive(timelines: Sequence[AdaptiveTimeline]) -> Figure:
    """The adaptive limiter probing a hidden capacity: its rate (top), what the server did (bottom).

    Top: the limiter's rate as a step line against the server's capacity (dashed): slow start
    doubles it, a 429 cuts it, additive increase creeps back up, the AIMD sawtooth. Bottom:
    accepted requests per second (green, the goodput) with the 429s stacked on top (red, waste).
    """
    if not timelines:
        raise ConfigError("timelines", timelines, "at least one AdaptiveTimeline")
    fig = Figure(figsize=(5.0 * len(timelines), 6.0), layout="constrained")
    axes = fig.subplots(2, len(timelines), sharex=True, sharey="row", squeeze=False)
    for column, timeline in enumerate(timelines):
        top, bottom = axes[0][column], axes[1][column]
        end = timeline.run.duration
        times = [t for t, _ in timeline.rates] + [end]
        rates = [r for _, r in timeline.rates]
        top.step(times, [*rates, rates[-1]], where="post", color="tab:blue", label="limiter rate")
        capacity_times = [t for t, _ in timeline.capacity] + [end]
        capacity = [c for _, c in timeline.capacity]
        top.step(
            capacity_times,
            [*capacity, capacity[-1]],
            where="post",
            color="black",
            linestyle="--",
            label="server capacity (hidden)",
        )
        top.set_ylim(0.0, 1.6 * max(capacity))  # the slow-start overshoot runs off the top
        top.set_ylabel("requests per second")
        top.set_title(f"{timeline.label}: goodput {timeline.run.goodput_fraction:.0%} over the run")
        edges = timeline.edges[:-1]
        good = timeline.goodput
        bottom.bar(edges, good, width=timeline.bin_width, align="edge", color=_OK, label="accepted (goodput)")
        bottom.bar(
            edges,
            timeline.rejections,
            width=timeline.bin_width,
            align="edge",
            bottom=good,
            color=_FAILED,
            label=f"429 ({timeline.run.rejected_fraction:.1%} of sent)",
        )
        bottom.step(capacity_times, [*capacity, capacity[-1]], where="post", color="black", linestyle="--")
        bottom.set_xlabel("time (s)")
        bottom.set_ylabel(f"per second ({timeline.bin_width:g} s bins)")
        top.legend(fontsize="small", loc="lower right")
        bottom.legend(fontsize="small", loc="lower right")
        if column:
            top.set_ylabel("")
            bottom.set_ylabel("")
    return fig


def plot_priority(runs: Sequence[PriorityRun]) -> Figure:
    """How long each caller waited for a token, by arrival time and priority class, one run per column.

    The shaded span is the saturated period; after it, arrivals stop and the line drains.
    """
    if not runs:
        raise ConfigError("runs", runs, "at least one PriorityRun")
    fig = Figure(figsize=(4.5 * len(runs), 4.0), layout="constrained")
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, run in zip(axes, runs, strict=True):
        ax.axvspan(0.0, run.busy, color=_OUTAGE, zorder=0, label="arrivals exceed the rate")
        for stats in run.by_class():
            name = stats.priority.name
            waits = [w for w in run.waits if w.priority is stats.priority]
            ax.scatter(
                [w.arrived for w in waits],
                [w.waited for w in waits],
                s=8,
                color=PRIORITY_COLORS.get(name, "black"),
                label=f"{name} (max {stats.max:.1f} s)",
            )
        ax.set_xlabel("arrival time (s)")
        ax.set_title(run.label)
        ax.legend(fontsize="small", loc="upper right")
    axes[0].set_ylabel("wait for a token (s)")
    return fig


def plot_quota(day: QuotaDay) -> Figure:
    """A day against a daily token budget: usage (top) and the exhaustion forecast (bottom), by hour.

    Top: tokens used and held by reservations, against the budget; red ticks are requests the
    quota refused before calling. Bottom: when :meth:`QuotaManager.predict_exhaustion` expected the
    budget to run out, asked every sample; the dotted line is the actual first refusal.
    """
    if not day.samples:
        raise ConfigError("day", day, "a QuotaDay with samples")
    fig = Figure(figsize=(8.0, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    hours = [s.at / 3600 for s in day.samples]
    top.plot(hours, [s.used for s in day.samples], color="tab:blue", label="used")
    top.plot(
        hours,
        [s.used + s.reserved for s in day.samples],
        color="tab:blue",
        alpha=0.4,
        label="used + reserved",
    )
    top.axhline(day.limit, color="black", linestyle="--", label="daily budget")
    if day.refused:
        top.plot(
            [t / 3600 for t in day.refused],
            [0.0] * len(day.refused),
            linestyle="none",
            marker="|",
            markersize=10,
            color=_FAILED,
            label=f"refused before calling ({len(day.refused)})",
        )
    top.set_ylabel("tokens")
    top.set_title(f"Daily token budget: {day.served} calls served, {len(day.refused)} refused")
    top.legend(fontsize="small", loc="upper left")
    # forecasts made while the budget still had room; after the first refusal "now" is the answer
    cutoff = day.first_refusal if day.first_refusal is not None else float("inf")
    pending = [
        (s.at / 3600, s.forecast / 3600) for s in day.samples if s.forecast is not None and s.at < cutoff
    ]
    bottom.plot(
        [h for h, _ in pending], [f for _, f in pending], marker=".", color="tab:purple", label="forecast"
    )
    bottom.plot([0, 24], [0, 24], color="0.6", linewidth=1, label="now")
    if day.first_refusal is not None:
        bottom.axhline(day.first_refusal / 3600, color=_FAILED, linestyle=":", label="actual first refusal")
    bottom.set_xlim(0, 24)
    bottom.set_ylim(0, 24)
    bottom.set_xticks(range(0, 25, 3))
    bottom.set_yticks(range(0, 25, 3))
    bottom.set_xlabel("time of day (h, UTC)")
    bottom.set_ylabel("forecast exhaustion (h)")
    bottom.set_title("Straight-line forecast of when the budget runs out")
    bottom.legend(fontsize="small", loc="lower right")
    return fig


# ---- Lab 4 ----
# The resilient agent: a fire drill as a live dashboard (day6.sim.agent_experiments) and the
# production-readiness report (day6.readiness); both imported for type checking only.

if TYPE_CHECKING:
    from day6.readiness import ReadinessReport
    from day6.sim.agent_experiments import DashboardRun

_FAULT_SHADE = "0.88"
_DEGRADED = "tab:orange"
_BREAKER_LANES = ("closed", "half_open", "open")


def _shade_faults(ax: Axes, windows: Sequence[tuple[float, float]]) -> None:
    for start, end in windows:
        ax.axvspan(start, end, color=_FAULT_SHADE, zorder=0)


def _gaps(values: Sequence[float | None]) -> list[float]:
    """``None`` (nothing measured) as NaN, so matplotlib leaves a gap instead of drawing a zero."""
    return [float("nan") if v is None else v for v in values]


def plot_dashboard(run: DashboardRun, *, title: str | None = None) -> Figure:
    """A fire drill as an on-call dashboard: one row per signal, time shared, faults shaded.

    Rows, top to bottom: requests, failures and degraded answers per second; the share of
    requests that failed; the p95 latency against the SLA target (a gap where no request
    completed); one state band per circuit breaker; the client-side limiter's tokens (with the
    burst size dashed) and its adaptive refill rate. Rates and the p95 cover the run's trailing
    ``window``; grey spans are the scenario's fault windows.
    """
    models = run.models
    rows = 4 + len(models)
    ratios = [1.2, 0.9, 1.0, *([0.45] * len(models)), 1.1]
    height = 1.4 * rows + 1.0
    # A fixed layout rather than "constrained": this figure is redrawn live by a panel, and the
    # layout solver would cost more than drawing it. Margins in inches, converted to fractions.
    fig = Figure(figsize=(9.0, height))
    fig.subplots_adjust(left=0.08, right=0.9, top=1.0 - 0.9 / height, bottom=0.5 / height, hspace=0.55)
    axes = fig.subplots(rows, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    traffic, errors, latency, *bands, limiter = axes
    t = run.series("t")
    window = f"last {run.window:g} s"

    failed, degraded = run.series("errors_per_s"), run.series("degraded_per_s")
    answered = [
        max(0.0, r - f - d) for r, f, d in zip(run.series("requests_per_s"), failed, degraded, strict=True)
    ]
    traffic.stackplot(
        t,
        answered,
        degraded,
        failed,
        colors=[_OK, _DEGRADED, _FAILED],
        labels=["answered", "degraded answer", "failed"],
        step="post",
    )
    traffic.set_ylabel("completed per second")
    traffic.set_title(f"Requests ({window})", fontsize="medium", loc="left")

    errors.step(t, [100.0 * e for e in run.series("error_rate")], where="post", color=_FAILED, label="failed")
    errors.set_ylim(-5.0, 105.0)
    errors.set_ylabel("% failed")
    errors.set_title(f"Error rate ({window})", fontsize="medium", loc="left")

    latency.step(t, _gaps(run.series("p95_latency")), where="post", color="tab:purple", label="p95")
    latency.axhline(run.p95_target, color="black", linestyle="--", label=f"SLA p95 < {run.p95_target:g} s")
    latency.set_ylabel("seconds")
    latency.set_title(f"p95 latency ({window})", fontsize="medium", loc="left")

    for ax, model in zip(bands, models, strict=True):
        times, states = run.breaker_timeline(model)
        lanes = [*_BREAKER_LANES, *sorted(set(states) - set(_BREAKER_LANES))]
        plot_state_band(times, states, end=run.seconds, order=lanes, ax=ax)
        ax.set_title("")  # the building block's default title; ours goes on the left, like the others
        ax.set_title(f"Circuit breaker {model}", fontsize="medium", loc="left")
        ax.tick_params(axis="y", labelsize="small")

    burst = run.samples[0].burst if run.samples else None
    plot_level(t, run.series("tokens"), capacity=burst, end=run.seconds, ax=limiter, label="tokens")
    limiter.set_title("")
    limiter.set_title("Client-side rate limiter", fontsize="medium", loc="left")
    rates = run.series("limiter_rate")
    if any(r is not None for r in rates):
        twin = limiter.twinx()
        per_minute = [float("nan") if r is None else 60.0 * r for r in rates]
        twin.step(t, per_minute, where="post", color="tab:brown", linestyle=":", label="refill rate (/min)")
        twin.set_ylabel("refill (/min)")
        twin.set_ylim(bottom=0.0)
        # One legend for both axes, on the twin (it is drawn on top of the tokens axes).
        limiter.get_legend().remove()
        handles, labels = limiter.get_legend_handles_labels()
        more, more_labels = twin.get_legend_handles_labels()
        twin.legend([*handles, *more], [*labels, *more_labels], fontsize="small", loc="center right")

    # A fault armed for the whole run would grey out every panel: say so in the title instead.
    throughout = any(start <= 0.0 and end >= run.seconds for start, end in run.fault_windows)
    for ax in axes:
        if not throughout:
            _shade_faults(ax, run.fault_windows)
        ax.set_xlim(0.0, run.seconds)
        ax.set_xlabel("")
    for ax in (traffic, errors, latency):
        ax.legend(fontsize="small", loc="upper right")
    limiter.set_xlabel("time since the scenario was armed (s)")
    when = "faults armed throughout" if throughout else "grey: faults armed"
    fig.suptitle(
        title
        or f"Scenario {run.scenario!r} ({when})\n{run.answered}/{run.requests} answered, "
        f"{run.degraded} of them degraded, {run.failed} failed; {run.attempts} attempts"
    )
    return fig


def _readiness_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if unit == "seconds" else f"{100.0 * value:.1f} %"


def plot_readiness(report: ReadinessReport) -> Figure:
    """The readiness table as small multiples: day6 vs the bare SDK per target, and latency.

    One panel per target row: a bar per client (green where it meets the target, red where it
    misses, grey for information rows), the target dashed. Ratios are shown in percent; the
    axis of a "higher is better" ratio is zoomed near 100 % so 99.9 % and 100 % can be told
    apart (the printed values are exact). The last panel is the latency distribution under
    normal load for both clients, with the p95 target.
    """
    import textwrap

    rows = report.rows
    columns = 4
    panels = len(rows) + 1
    fig = Figure(figsize=(12.0, 3.0 * -(-panels // columns)), layout="constrained")
    grid = fig.subplots(-(-panels // columns), columns, squeeze=False)
    axes = [ax for line in grid for ax in line]
    for ax, row in zip(axes, rows, strict=False):
        scale = 1.0 if row.unit == "seconds" else 100.0
        values = [row.day6, row.bare]
        heights = [0.0 if v is None else v * scale for v in values]
        if row.binding:
            colors = [_OK if passed else _FAILED for passed in (row.passed, row.bare_passed)]
        else:
            colors = ["tab:gray", "tab:gray"]
        bars = ax.bar(["day6", "bare SDK"], heights, color=colors)
        ax.bar_label(bars, labels=[_readiness_value(v, row.unit) for v in values], fontsize="small")
        ax.axhline(row.threshold * scale, color="black", linestyle="--", label=f"target {row.target}")
        if row.unit == "ratio" and row.higher_is_better:
            low = min(
                row.threshold * scale, *(h for h, v in zip(heights, values, strict=True) if v is not None)
            )
            ax.set_ylim(max(0.0, low - max(0.5, (100.0 - low) * 0.5)), 100.0 + max(0.25, (100.0 - low) * 0.2))
        else:
            ax.set_ylim(0.0, max([row.threshold * scale, *heights]) * 1.25)
        ax.set_ylabel("s" if row.unit == "seconds" else "%")
        suffix = "" if row.binding else " (info)"
        ax.set_title(textwrap.fill(row.name + suffix, 30), fontsize="small")
        ax.legend(fontsize="x-small", loc="lower right" if row.higher_is_better else "upper right")
    cdf = axes[len(rows)]
    normal = report.experiment("normal")
    p95 = report.row("p95_latency")
    for side, color, style in ((normal.day6, "tab:blue", "-"), (normal.bare, "tab:gray", "--")):
        ordered = sorted(side.latencies)
        if ordered:
            shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
            label = "day6" if side.client == "day6" else "bare SDK"
            cdf.step(ordered, shares, where="post", color=color, linestyle=style, label=label)
    cdf.axvline(p95.threshold, color="black", linestyle="--", label=f"p95 target {p95.target}")
    cdf.axhline(0.95, color="0.6", linestyle=":")
    cdf.set_xlabel("latency (s)")
    cdf.set_ylabel("share of requests")
    cdf.set_title("Latency distribution, normal load", fontsize="small")
    cdf.legend(fontsize="x-small", loc="lower right")
    for ax in axes[panels:]:
        ax.set_visible(False)
    verdict = "READY" if report.passed else "NOT READY"
    fig.suptitle(
        f"Production readiness ({report.mode}, seed {report.seed}, profile {report.profile}): {verdict}"
    )
    return fig


__all__ += ["plot_dashboard", "plot_readiness"]


# ---- Lab 2 ----
# The circuit breaker lab: its state machine traced, an outage with and without a breaker, and the
# half-open stampede. Each figure takes BreakerRun records from day6.sim.breaker_experiments.

__all__ += ["OUTCOME_COLORS", "plot_breaker_trace", "plot_outage", "plot_stampede"]

if TYPE_CHECKING:
    from day6.sim.breaker_experiments import BreakerRun

OUTCOME_COLORS: Mapping[str, str] = {
    "ok": "tab:green",
    "error": "tab:red",
    "timeout": "tab:purple",
    "rejected": "tab:gray",
}
"""One colour per outcome a user saw (:class:`~day6.sim.breaker_experiments.RequestOutcome`)."""

_BREAKER_LANES = ("closed", "half_open", "open")
_WARMUP = "#fde8c8"


def _plot_breaker_states(run: BreakerRun, ax: Axes, *, end: float, title: str | None = None) -> None:
    """The breaker's state band on ``ax``, or a note when the run had no breaker."""
    if not run.has_breaker:
        _shade_outage(ax, run.outage)
        ax.text(
            0.5,
            0.5,
            "no breaker: every request goes to the backend",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
        ax.set_yticks([])
        ax.set_title(title or "breaker state")
        return
    times, states = run.state_times()
    _shade_outage(ax, run.outage)
    plot_state_band(times, states, end=end, order=_BREAKER_LANES, ax=ax, title=title or "breaker state")
    # Half-open usually lasts one probe's round trip: too short for a visible bar, so mark it.
    probes = [t for t, s in zip(times, states, strict=True) if s == "half_open"]
    lane = len(_BREAKER_LANES) - 1 - _BREAKER_LANES.index("half_open")
    ax.scatter(probes, [lane] * len(probes), marker="D", s=25, color=STATE_COLORS["half_open"], zorder=3)


def _check_runs(runs: Sequence[BreakerRun]) -> None:
    if not runs:
        raise ConfigError("runs", runs, "at least one BreakerRun")


def plot_breaker_trace(run: BreakerRun) -> Figure:
    """The three-state machine over time (top) and each request's outcome (bottom).

    The band is drawn from the breaker's own state-change events, so it shows what the breaker
    did, including that OPEN turns HALF_OPEN only when a request arrives after the timeout.
    """
    fig = Figure(figsize=(8.0, 4.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1.0, 1.2))
    _plot_breaker_states(run, top, end=run.end, title="breaker state (from its own events)")
    top.set_xlabel("")
    _shade_outage(bottom, run.outage)
    lanes = [o for o in OUTCOME_COLORS if any(r.outcome == o for r in run.requests)]
    for lane, outcome in enumerate(lanes):
        starts = [r.start for r in run.requests if r.outcome == outcome]
        y = len(lanes) - 1 - lane
        bottom.scatter(starts, [y] * len(starts), s=40, color=OUTCOME_COLORS[outcome], label=outcome)
    bottom.set_yticks(range(len(lanes)), list(reversed(lanes)))
    bottom.set_ylim(-0.6, len(lanes) - 0.4)
    bottom.set_xlabel("time (s)")
    bottom.set_title("each request: what the client got")
    return fig


def plot_outage(runs: Sequence[BreakerRun], *, bucket: float = 1.0) -> Figure:
    """An outage side by side (one column per run): backend load, breaker state, what users waited.

    Top: requests per second reaching the backend (``bucket``-second bins). Middle: the breaker's
    state. Bottom: one dot per request at its start time, its height the seconds the user waited,
    coloured by outcome -- timeouts sit at the client's timeout, breaker rejections at zero.
    """
    _check_runs(runs)
    _check_bucket(bucket)
    columns = len(runs)
    fig = Figure(figsize=(5.5 * columns, 7.5), layout="constrained")
    axes = fig.subplots(3, columns, sharex=True, squeeze=False, height_ratios=(1.0, 0.6, 1.2))
    for row in (0, 2):  # load and waits share a scale across runs; the state lanes need no sharing
        for ax in axes[row][1:]:
            ax.sharey(axes[row][0])
    end = max(r.end for r in runs)
    for column, run in enumerate(runs):
        load, state, users = axes[0][column], axes[1][column], axes[2][column]
        plot_load(
            run.arrivals,
            bucket=bucket,
            end=end,
            outage=run.outage,
            ax=load,
            title=f"{run.label}: {run.calls} calls reached the backend, {run.wasted_calls} wasted",
        )
        _plot_breaker_states(run, state, end=end)
        _shade_outage(users, run.outage)
        for outcome, color in OUTCOME_COLORS.items():
            chosen = [r for r in run.requests if r.outcome == outcome]
            if chosen:
                users.scatter(
                    [r.start for r in chosen],
                    [r.latency for r in chosen],
                    s=6,
                    color=color,
                    label=f"{outcome} ({len(chosen)})",
                )
        users.set_xlabel("time the request was sent (s)")
        users.set_ylabel("seconds the user waited")
        users.set_title(f"what users saw: {run.failure_wait:.0f} user-seconds waiting for failures")
        users.legend(fontsize="small", loc="upper right", markerscale=2)
        for ax in (load, state):
            ax.set_xlabel("")
        if column:
            load.set_ylabel("")
            users.set_ylabel("")
    return fig


def plot_stampede(runs: Sequence[BreakerRun], *, bucket: float = 0.1) -> Figure:
    """The half-open stampede: the breaker's state above the load on a backend that is warming up.

    The load is the number of requests arriving in each ``bucket`` seconds, against the dashed
    line of how many the backend can serve in that time (it drops during the warm-up, shaded
    orange): a crowd let through at once is a spike far above the line.
    """
    _check_runs(runs)
    _check_bucket(bucket)
    columns = len(runs)
    fig = Figure(figsize=(5.5 * columns, 5.0), layout="constrained")
    axes = fig.subplots(2, columns, sharex=True, squeeze=False, height_ratios=(0.6, 1.2))
    for ax in axes[1][1:]:
        ax.sharey(axes[1][0])
    end = max(r.end for r in runs)
    for column, run in enumerate(runs):
        state, load = axes[0][column], axes[1][column]
        _plot_breaker_states(run, state, end=end, title=f"{run.label}: opened {run.opened()} times")
        state.set_xlabel("")
        _shade_outage(load, run.outage)
        if run.warmup is not None:
            load.axvspan(*run.warmup, color=_WARMUP, zorder=0, label="warming up")
        edges, counts = _bins(run.arrivals, bucket, end)
        load.stairs(counts, edges, color="tab:blue", linewidth=1.2, label="requests arriving")
        if run.throughput:
            xs = [t for t, _ in run.throughput] + [end]
            ys = [rate * bucket for _, rate in run.throughput]
            load.stairs(ys, xs, color="black", linestyle="--", label="what the backend can serve")
        if run.throughput:
            load.set_ylim(0, 1.5 * max([*counts, *ys]))  # headroom for the legend
        load.set_xlabel("time (s)")
        load.set_ylabel(f"requests per {bucket:g} s")
        load.set_title(f"load on the backend: {run.wasted_calls} calls wasted")
        load.legend(fontsize="small", loc="upper right")
        if column:
            load.set_ylabel("")
    return fig
