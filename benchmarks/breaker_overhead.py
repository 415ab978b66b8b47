"""Success-path overhead of a circuit breaker: day6 beside pybreaker, circuitbreaker and purgatory.

A breaker sits in front of every call, so what it costs when nothing is wrong is what a healthy
system pays forever. Each row wraps the same trivial function (sync or async) and measures the
nanoseconds per call in this process and this run, so the ratios compare like with like. The
"overhead" column subtracts the bare call; "vs fastest peer" divides by the fastest *other*
library in the same group (sync or async), so below 1.00 means day6 is cheaper.

    .venv/bin/python benchmarks/breaker_overhead.py            # ~20 s
    .venv/bin/python benchmarks/breaker_overhead.py --quick    # ~5 s, noisier

Numbers are the best of several repeats (the least-disturbed run), per CPython's timeit advice.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import circuitbreaker
import purgatory
import pybreaker

from day6.circuit_breaker import CircuitBreaker


@dataclass(frozen=True)
class Row:
    group: str  # "sync" or "async"
    library: str
    form: str
    ns: float


def work() -> int:
    return 1


async def awork() -> int:
    return 1


def sync_timer(stmt: Callable[[], Any]) -> Callable[[int], float]:
    """A function timing ``number`` calls of ``stmt`` (timeit's loop, no extra Python frame)."""
    timer = timeit.Timer(stmt)
    return timer.timeit


def call_form_timer(call: Callable[[Callable[[], int]], int]) -> Callable[[int], float]:
    """Times ``call(work)`` directly, without a lambda between timeit and the call."""
    timer = timeit.Timer("call(work)", globals={"call": call, "work": work})
    return timer.timeit


def interleaved(timers: list[Callable[[int], float]], number: int, repeat: int) -> list[float]:
    """Best ns/call per timer, measuring every timer once per round.

    Round-robin (rather than all repeats of one, then the next) spreads any background load over
    every row alike, so the ratios stay fair on a busy machine.
    """
    best = [float("inf")] * len(timers)
    for _ in range(repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer(number) / number * 1e9)
    return best


async def ainterleaved(makers: list[Callable[[], Awaitable[Any]]], number: int, repeat: int) -> list[float]:
    """Best ns per awaited call, looping inside one coroutine so event-loop cost is not counted."""
    best = [float("inf")] * len(makers)
    for _ in range(repeat):
        for i, make_call in enumerate(makers):
            start = time.perf_counter_ns()
            for _ in range(number):
                await make_call()
            best[i] = min(best[i], (time.perf_counter_ns() - start) / number)
    return best


def run(quick: bool) -> list[Row]:
    n = 20_000 if quick else 100_000
    repeat = 5 if quick else 15

    # --- sync ----------------------------------------------------------------------------------
    day6 = CircuitBreaker("bench")
    day6_hooked = CircuitBreaker("bench-hooked", hooks=[lambda event: None])
    pyb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    purg = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)

    def day6_with() -> int:
        with day6:
            return work()

    def day6_permit() -> int:
        permit = day6.try_acquire()
        result = work()
        day6.record_success(permit)
        return result

    sync_rows: list[tuple[str, str, Callable[[int], float]]] = [
        ("(bare call)", "work()", sync_timer(work)),
        ("day6", "breaker.call(fn)", call_form_timer(day6.call)),
        ("day6", "@breaker", sync_timer(day6(work))),
        ("day6", "with breaker:", sync_timer(day6_with)),
        ("day6", "permit API", sync_timer(day6_permit)),
        ("day6 (hook attached)", "breaker.call(fn)", call_form_timer(day6_hooked.call)),
        ("pybreaker", "breaker.call(fn)", call_form_timer(pyb.call)),
        ("pybreaker", "@breaker", sync_timer(pyb(work))),
        ("circuitbreaker", "@circuit", sync_timer(circuitbreaker.circuit(failure_threshold=5)(work))),
        ("purgatory", "@factory(name)", sync_timer(purg("bench")(work))),
    ]
    sync_ns = interleaved([t for _, _, t in sync_rows], n, repeat)
    rows = [Row("sync", lib, form, ns) for (lib, form, _), ns in zip(sync_rows, sync_ns, strict=True)]

    # --- async ---------------------------------------------------------------------------------
    apurg = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)

    def day6_acall() -> Awaitable[int]:
        return day6.acall(awork)

    async_rows: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        ("(bare call)", "await fn()", awork),
        ("day6", "await breaker.acall(fn)", day6_acall),
        ("day6", "@breaker", day6(awork)),
        ("circuitbreaker", "@circuit", circuitbreaker.circuit(failure_threshold=5)(awork)),
        ("purgatory", "@factory(name)", apurg("bench-async")(awork)),
    ]

    async def measure() -> list[float]:
        await apurg.initialize()
        return await ainterleaved([m for _, _, m in async_rows], n // 2, repeat)

    async_ns = asyncio.run(measure())
    rows += [Row("async", lib, form, ns) for (lib, form, _), ns in zip(async_rows, async_ns, strict=True)]
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| group | library | form | ns/call | overhead ns | vs fastest peer |",
        "|---|---|---|---:|---:|---:|",
    ]
    for group in ("sync", "async"):
        in_group = [r for r in rows if r.group == group]
        bare = next(r.ns for r in in_group if r.library == "(bare call)")
        peers = [
            r.ns for r in in_group if r.library not in ("(bare call)",) and not r.library.startswith("day6")
        ]
        fastest = min(peers)
        for r in in_group:
            ratio = "" if r.library == "(bare call)" else f"{r.ns / fastest:.2f}x"
            overhead = "" if r.library == "(bare call)" else f"{r.ns - bare:,.0f}"
            lines.append(f"| {group} | {r.library} | `{r.form}` | {r.ns:,.0f} | {overhead} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier, ~5 s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.quick)
    print(
        f"## Circuit breaker success-path overhead ({platform.python_implementation()} "
        f"{platform.python_version()}, {sys.platform})\n"
    )
    print(table(rows))
    print(
        f"\n_all breakers closed, function always succeeds; best of repeats; "
        f"ran in {time.perf_counter() - started:.1f} s_"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
