"""Lab 4's costs: what the live dashboard adds to a drill, a panel redraw, and the chat widget.

Three tables, each measured in this run (best of N repeats, interleaved round-robin so background
load hits every row alike):

1. **Drill vs dashboard.** ``run_scenario("outage_then_recovery")`` (the fire drill) beside
   ``dashboard_run`` of the same drill (same agent, traffic, config and seed, plus a sample of
   monitor, breakers and limiter every simulated second): the ratio is the price of watching.
2. **Panel redraw.** ``widgets.dashboard_panel()``: drill + figure + PNG for each scenario. The
   labs promise a redraw under 0.5 s.
3. **Chat turn.** One message through ``ChatSession.handle`` (what ``day6 chat`` does), through
   ``chat_widget.exchange`` (+ a monitor snapshot before and after, + HTML), and through
   ``ChatWidget.send`` (+ re-rendering the log widget). Fake clock, embedded backend, history
   capped at 2 messages so the SDK's per-request cost does not grow while we measure.

    .venv/bin/python benchmarks/lab4_dashboard.py            # ~25 s
    .venv/bin/python benchmarks/lab4_dashboard.py --quick    # ~8 s, noisier
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

from day6 import viz
from day6.agent import ResilientAgent
from day6.chat_widget import ChatWidget, exchange
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.repl import ChatSession
from day6.scenarios import run_scenario
from day6.sim.agent_experiments import DRILL_SCENARIOS, dashboard_run
from day6.widgets import _png

PRODUCTION = ReliabilityConfig.profile("production")
PANEL_CONFIG = ReliabilityConfig.profile("production", agent={"max_history_messages": 4})
CHAT_CONFIG = ReliabilityConfig.profile("production", agent={"max_history_messages": 2})


def best_seconds(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best wall time of one call per function, measuring each once per round."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def drill_table(repeat: int) -> list[str]:
    seconds = 45.0  # run_scenario's own length for this drill under the production profile
    report = run_scenario("outage_then_recovery", config=PRODUCTION, seed=0)
    rows = [
        (
            "run_scenario (fire drill)",
            report.requests,
            lambda: run_scenario("outage_then_recovery", config=PRODUCTION),
        ),
        (
            "dashboard_run (+ a sample per second)",
            dashboard_run("outage_then_recovery", config=PRODUCTION, seconds=seconds).requests,
            lambda: dashboard_run("outage_then_recovery", config=PRODUCTION, seconds=seconds),
        ),
    ]
    times = best_seconds([fn for _, _, fn in rows], repeat)
    lines = [
        f"### Drill vs dashboard: outage_then_recovery, production profile, {seconds:g} s of fake time",
        "",
        "| run | requests | ms per drill | ms per simulated second | vs drill |",
        "|---|---:|---:|---:|---:|",
    ]
    for (name, requests, _), t in zip(rows, times, strict=True):
        lines.append(
            f"| {name} | {requests} | {t * 1e3:.1f} | {t * 1e3 / seconds:.2f} | {t / times[0]:.2f}x |"
        )
    return lines


def panel_table(repeat: int) -> list[str]:
    lines = [
        "### Panel redraw: dashboard_panel, 60 s drill (budget 500 ms)",
        "",
        "| scenario | drill ms | figure ms | PNG ms | total ms | within budget |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for scenario in DRILL_SCENARIOS:
        drill = [float("inf")] * 3
        for _ in range(repeat):
            t0 = time.perf_counter()
            run = dashboard_run(scenario, config=PANEL_CONFIG, seconds=60.0)
            t1 = time.perf_counter()
            fig = viz.plot_dashboard(run)
            t2 = time.perf_counter()
            _png(fig)
            t3 = time.perf_counter()
            drill = [min(a, b) for a, b in zip(drill, (t1 - t0, t2 - t1, t3 - t2), strict=True)]
        total = sum(drill)
        lines.append(
            f"| {scenario} | {drill[0] * 1e3:.0f} | {drill[1] * 1e3:.0f} | {drill[2] * 1e3:.0f} | "
            f"{total * 1e3:.0f} | {'yes' if total < 0.5 else 'NO'} |"
        )
    return lines


def chat_table(number: int, repeat: int) -> list[str]:
    def agent() -> ResilientAgent:
        return ResilientAgent(config=CHAT_CONFIG, clock=FakeClock(), rng=random.Random(0), env={})

    session = ChatSession(agent())
    core = ChatSession(agent())
    widget = ChatWidget(agent(), max_entries=50)
    widget.widget  # build the live controls, so send() re-renders the log like in a notebook  # noqa: B018
    for warm in (session.handle, lambda m: exchange(core, m), widget.send):
        warm("warm-up: what is jitter?")
    calls: list[tuple[str, Callable[[str], object]]] = [
        ("ChatSession.handle (day6 chat)", session.handle),
        ("chat_widget.exchange (+ snapshots, HTML)", lambda m: exchange(core, m)),
        ("ChatWidget.send (+ log widget)", widget.send),
    ]
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for i, (_, call) in enumerate(calls):
            start = time.perf_counter_ns()
            for k in range(number):
                call(f"What is jitter? ({k})")
            best[i] = min(best[i], (time.perf_counter_ns() - start) / number)
    lines = [
        "### One chat turn (fake clock, embedded backend, history capped at 2 messages)",
        "",
        "| path | µs per turn | overhead vs ChatSession µs | ratio |",
        "|---|---:|---:|---:|",
    ]
    for (name, _), ns in zip(calls, best, strict=True):
        lines.append(f"| {name} | {ns / 1e3:.0f} | {(ns - best[0]) / 1e3:+.0f} | {ns / best[0]:.2f}x |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier, ~3x faster)")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    started = time.perf_counter()
    print(f"# Lab 4 costs (Python {platform.python_version()}, {platform.machine()})")
    print()
    for table in (drill_table(repeat), panel_table(repeat), chat_table(20 if args.quick else 50, repeat)):
        print("\n".join(table))
        print()
    print(f"(measured in {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
