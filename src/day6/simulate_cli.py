"""``day6 simulate``: run the workbook's experiments in the terminal and print their tables.

::

    day6 simulate list
    day6 simulate readiness [--real-time SECONDS] [--seed N] [--requests N] [--json] [--check]
    day6 simulate herd [--clients N] [--seed N] [--json]
    day6 simulate contention [--clients 5,10,25,50] [--trials N] [--seed N] [--json]
    day6 simulate storm [--rate R] [--duration S] [--seed N] [--json]

``readiness`` is :func:`day6.readiness.run_readiness`: the lesson's production targets, measured
for day6 and for the bare SDK under the same faults. ``herd``, ``contention`` and ``storm`` are
Lab 1's simpy experiments from :mod:`day6.sim`. Everything runs in fake or simulated time
(instant, same seed, same table) except ``readiness --real-time``.

:func:`add_arguments` and :func:`run` plug into :mod:`day6.cli` like every other subcommand.
Exit codes: 0 success; 1 with ``readiness --check`` when day6 misses a binding target; 2 a usage
error (including a missing simulation name).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from day6.errors import ConfigError

if TYPE_CHECKING:
    from day6.sim import ContentionPoint

__all__ = ["SIMULATIONS", "add_arguments", "run"]


@dataclass(frozen=True, slots=True)
class _Simulation:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, left-aligned text table with a rule under the header."""
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number > 0")
    return value


def _int_list(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected a comma-separated list of integers, e.g. 5,10,25")
    return [_positive_int(p) for p in parts]


def _add_seed_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


# --------------------------------------------------------------------------------------------------
# readiness
# --------------------------------------------------------------------------------------------------


def _add_readiness(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real-time",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="run on the real clock, each experiment for about SECONDS (noisy); default: fake time",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        metavar="N",
        help="requests in the availability experiment; half as many under normal load (default: 1000)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when day6 misses a binding target"
    )
    _add_seed_json(parser)


def _run_readiness(args: argparse.Namespace) -> int:
    from day6.readiness import run_readiness

    report = run_readiness(seed=args.seed, requests=args.requests, real_time=args.real_time)
    if args.json:
        _print_json(report.as_dict())
    else:
        print(report.to_text())
    return 1 if args.check and not report.passed else 0


# --------------------------------------------------------------------------------------------------
# herd
# --------------------------------------------------------------------------------------------------

_HERD_MODES = ("none", "proportional", "full", "equal", "decorrelated")


def _add_herd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients", type=_positive_int, default=100, metavar="N", help="clients (default: 100)"
    )
    _add_seed_json(parser)


def _run_herd(args: argparse.Namespace) -> int:
    from day6.sim import thundering_herd

    results = [thundering_herd(clients=args.clients, jitter=mode, seed=args.seed) for mode in _HERD_MODES]
    summary = [
        {
            "jitter": r.jitter.value,
            "clients": r.clients,
            "succeeded": r.succeeded,
            "gave_up": r.gave_up,
            "calls": r.calls,
            "peak_load_after_outage": round(r.peak_load(0.1, since=r.outage[1]), 3),
            "capacity_per_second": round(r.throughput, 3),
            "last_success": None
            if r.succeeded == 0
            else round(max(t for t in r.finished if t is not None), 3),
        }
        for r in results
    ]
    if args.json:
        _print_json(summary)
        return 0
    first = results[0]
    print(
        f"thundering herd: {first.clients} clients, service down until t={first.outage[1]:g} s, then "
        f"{first.throughput:g} requests/s at most (seed {args.seed})"
    )
    print(
        _table(
            ("jitter", "succeeded", "gave up", "calls", "peak load after outage", "last success"),
            [
                (
                    str(s["jitter"]),
                    str(s["succeeded"]),
                    str(s["gave_up"]),
                    str(s["calls"]),
                    f"{s['peak_load_after_outage']:g}/s",
                    "-" if s["last_success"] is None else f"{s['last_success']:.2f} s",
                )
                for s in summary
            ],
        )
    )
    return 0


# --------------------------------------------------------------------------------------------------
# contention
# --------------------------------------------------------------------------------------------------


def _add_contention(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients",
        type=_int_list,
        default=[5, 10, 25, 50],
        metavar="N,N,...",
        help="client counts to sweep (default: 5,10,25,50)",
    )
    parser.add_argument(
        "--trials", type=_positive_int, default=20, metavar="N", help="trials per point (default: 20)"
    )
    _add_seed_json(parser)


def _run_contention(args: argparse.Namespace) -> int:
    from day6.sim import BROOKER_STRATEGIES, contention_sweep

    points = contention_sweep(args.clients, trials=args.trials, seed=args.seed)
    if args.json:
        _print_json(
            [
                {
                    "strategy": p.strategy,
                    "clients": p.clients,
                    "trials": p.trials,
                    "work": round(p.work, 6),
                    "time": round(p.time, 6),
                    "gave_up": p.gave_up,
                }
                for p in points
            ]
        )
        return 0
    by_key = {(p.strategy, p.clients): p for p in points}
    header = ("strategy", *(f"{n} clients" for n in args.clients))
    print(
        f"Brooker's contention experiment: mean of {args.trials} trials (seed {args.seed}); "
        "work = conditional writes the server handled, time = until the last client succeeded"
    )

    def work(p: ContentionPoint) -> str:
        return f"{p.work:.1f}"

    def seconds(p: ContentionPoint) -> str:
        return f"{p.time:.3f}"

    for title, cell in (("work (writes)", work), ("time (seconds)", seconds)):
        print(f"\n{title}")
        rows = [
            (label, *(cell(by_key[(key, n)]) for n in args.clients))
            for key, label in BROOKER_STRATEGIES.items()
        ]
        print(_table(header, rows))
    lost = sum(p.gave_up for p in points)
    if lost:
        print(f"\nnote: {lost} clients gave up (attempt cap reached)")
    return 0


# --------------------------------------------------------------------------------------------------
# storm
# --------------------------------------------------------------------------------------------------


def _add_storm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate", type=_positive_float, default=50.0, metavar="R", help="calls per second (default: 50)"
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds of traffic; the outage is its middle third (default: 30)",
    )
    _add_seed_json(parser)


def _run_storm(args: argparse.Namespace) -> int:
    from day6.sim import retry_storm

    outage = (args.duration / 3.0, 2.0 * args.duration / 3.0)
    results = [
        retry_storm(budget=budget, rate=args.rate, duration=args.duration, outage=outage, seed=args.seed)
        for budget in (False, True)
    ]
    summary = [
        {
            "label": r.label,
            "requests": r.requests,
            "calls": r.calls,
            "amplification": round(r.amplification, 6),
            "outage_amplification": round(r.outage_amplification, 6),
            "succeeded": r.succeeded,
            "failed": r.failed,
            "refused_by_budget": r.refused_by_budget,
        }
        for r in results
    ]
    if args.json:
        _print_json(summary)
        return 0
    print(
        f"retry storm: {args.rate:g} calls/s for {args.duration:g} s, service down from "
        f"{outage[0]:g} s to {outage[1]:g} s (seed {args.seed})"
    )
    print(
        _table(
            ("retries", "requests", "calls", "calls/request", "during outage", "ok", "failed", "refused"),
            [
                (
                    str(s["label"]),
                    str(s["requests"]),
                    str(s["calls"]),
                    f"{s['amplification']:.2f}",
                    f"{s['outage_amplification']:.2f}",
                    str(s["succeeded"]),
                    str(s["failed"]),
                    str(s["refused_by_budget"]),
                )
                for s in summary
            ],
        )
    )
    return 0


# --------------------------------------------------------------------------------------------------
# list, the table, and the entry points
# --------------------------------------------------------------------------------------------------


def _add_list(parser: argparse.ArgumentParser) -> None:
    """``list`` takes no options."""


def _run_list(args: argparse.Namespace) -> int:
    print(_table(("simulation", "what it shows"), [(s.name, s.help) for s in SIMULATIONS]))
    return 0


SIMULATIONS: tuple[_Simulation, ...] = (
    _Simulation("list", "list the simulations", _add_list, _run_list),
    _Simulation(
        "readiness",
        "the lesson's production targets, measured: day6 vs the bare SDK under the same faults",
        _add_readiness,
        _run_readiness,
    ),
    _Simulation(
        "herd",
        "thundering herd: clients retrying into a recovering service, per jitter mode",
        _add_herd,
        _run_herd,
    ),
    _Simulation(
        "contention",
        "Brooker's optimistic-concurrency contention: work and time per backoff strategy",
        _add_contention,
        _run_contention,
    ),
    _Simulation(
        "storm",
        "retry storm: an outage under steady traffic, with and without a shared retry budget",
        _add_storm,
        _run_storm,
    ),
)
"""Every ``day6 simulate`` subcommand, in the order ``list`` shows them."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one sub-subcommand per entry of :data:`SIMULATIONS` to ``day6 simulate``."""
    subparsers = parser.add_subparsers(title="simulations", dest="simulation", metavar="SIMULATION")
    for simulation in SIMULATIONS:
        sub = subparsers.add_parser(simulation.name, help=simulation.help, description=simulation.help)
        simulation.add_arguments(sub)
        sub.set_defaults(simulation_run=simulation.run)
    parser.set_defaults(simulate_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run the chosen simulation; with none, print the usage and the list (exit status 2)."""
    chosen: Callable[[argparse.Namespace], int] | None = getattr(args, "simulation_run", None)
    if chosen is None:
        parser: argparse.ArgumentParser | None = getattr(args, "simulate_parser", None)
        if parser is not None:
            parser.print_usage()
        _run_list(args)
        return 2
    try:
        return chosen(args)
    except ConfigError as error:
        # Raised before any output for a bad setting (e.g. --requests 3): a usage error.
        print(f"day6 simulate {args.simulation}: {error}", file=sys.stderr)
        return 2
