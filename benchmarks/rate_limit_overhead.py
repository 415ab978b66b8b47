"""Guard-plus-call overhead of a never-refusing rate limiter: day6 beside limits, pyrate-limiter, aiolimiter.

A limiter sits in front of every call, so what it costs when there is plenty of capacity is what a
healthy system pays forever. Every row guards the same trivial function with a limiter configured
so it never refuses (a huge rate or limit), in this process and this run, so the ratios compare
like with like. Rows are grouped by kind, since the algorithms do different amounts of work:

* **O(1) state** (a token bucket, a GCRA cell, a fixed-window counter): day6 ``TokenBucket``,
  pyrate-limiter's ``StateBucket`` with its token bucket and GCRA, limits' fixed window.
* **exact sliding log**: day6 ``SlidingWindowLimiter(mode="log")``, limits' moving window,
  pyrate-limiter's in-memory (log) bucket.
* **sliding counter**: day6 ``mode="counter"``, limits' sliding window counter.
* **async**: day6 ``await bucket.aacquire()``, aiolimiter ``await limiter.acquire()``, limits'
  async fixed window (in-memory storage), pyrate-limiter's ``try_acquire_async``.

"vs fastest peer" divides by the fastest *other* library in the same group (below 1.00: day6
is cheaper). Every window is one second. Log-based limiters keep one entry per call still in the
window, so their cost can depend on how many calls the last second held: day6 appends to a deque
(O(1)); limits' in-memory moving window inserts at the front of a list (O(entries)). Numbers are
the best of several interleaved repeats.

    .venv/bin/python benchmarks/rate_limit_overhead.py            # ~25 s
    .venv/bin/python benchmarks/rate_limit_overhead.py --quick    # ~6 s, noisier
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

import aiolimiter
import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
import pyrate_limiter as pyrate

from day6.rate_limit import SlidingWindowLimiter, TokenBucket

HUGE = 10**12


@dataclass(frozen=True)
class Row:
    group: str
    library: str
    form: str
    ns: float


def work() -> int:
    return 1


def interleaved(timers: list[Callable[[int], float]], number: int, repeat: int) -> list[float]:
    """Best ns/call per timer, one round over every timer at a time (fair on a busy machine)."""
    best = [float("inf")] * len(timers)
    for _ in range(repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer(number) / number * 1e9)
    return best


def timer(stmt: Callable[[], Any]) -> Callable[[int], float]:
    return timeit.Timer(stmt).timeit


def sync_rows() -> list[tuple[str, str, str, Callable[[int], float]]]:
    bucket = TokenBucket(capacity=HUGE, rate=HUGE, name="bench")
    log = SlidingWindowLimiter(limit=HUGE, window=1.0, mode="log")
    counter = SlidingWindowLimiter(limit=HUGE, window=1.0, mode="counter")

    per_second = limits.RateLimitItemPerSecond(HUGE)
    fixed = limits.strategies.FixedWindowRateLimiter(limits.storage.MemoryStorage())
    moving = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())
    sliding = limits.strategies.SlidingWindowCounterRateLimiter(limits.storage.MemoryStorage())

    rate = pyrate.Rate(HUGE, pyrate.Duration.SECOND)
    pyrate_log = pyrate.Limiter(pyrate.InMemoryBucket([rate]))
    pyrate_token = pyrate.Limiter(pyrate.StateBucket([rate], algorithm=pyrate.TokenBucket()))
    pyrate_gcra = pyrate.Limiter(pyrate.StateBucket([rate], algorithm=pyrate.GCRA()))

    def day6_bucket() -> int:
        if bucket.try_acquire():
            return work()
        raise AssertionError("refused")

    def day6_log() -> int:
        if log.try_acquire("k"):
            return work()
        raise AssertionError("refused")

    def day6_counter() -> int:
        if counter.try_acquire("k"):
            return work()
        raise AssertionError("refused")

    def limits_fixed() -> int:
        if fixed.hit(per_second, "k"):
            return work()
        raise AssertionError("refused")

    def limits_moving() -> int:
        if moving.hit(per_second, "k"):
            return work()
        raise AssertionError("refused")

    def limits_sliding() -> int:
        if sliding.hit(per_second, "k"):
            return work()
        raise AssertionError("refused")

    def pyrate_call(limiter: pyrate.Limiter) -> Callable[[], int]:
        def call() -> int:
            if limiter.try_acquire("k", blocking=False):
                return work()
            raise AssertionError("refused")

        return call

    return [
        ("-", "(bare call)", "work()", timer(work)),
        ("O(1) state", "day6", "TokenBucket.try_acquire()", timer(day6_bucket)),
        ("O(1) state", "pyrate-limiter", "StateBucket(TokenBucket)", timer(pyrate_call(pyrate_token))),
        ("O(1) state", "pyrate-limiter", "StateBucket(GCRA)", timer(pyrate_call(pyrate_gcra))),
        ("O(1) state", "limits", "FixedWindowRateLimiter.hit", timer(limits_fixed)),
        ("sliding log", "day6", "SlidingWindowLimiter(log)", timer(day6_log)),
        ("sliding log", "limits", "MovingWindowRateLimiter.hit", timer(limits_moving)),
        ("sliding log", "pyrate-limiter", "InMemoryBucket", timer(pyrate_call(pyrate_log))),
        ("sliding counter", "day6", "SlidingWindowLimiter(counter)", timer(day6_counter)),
        ("sliding counter", "limits", "SlidingWindowCounterRateLimiter.hit", timer(limits_sliding)),
    ]


async def ainterleaved(makers: list[Callable[[], Awaitable[Any]]], number: int, repeat: int) -> list[float]:
    """Best ns per guarded call, looping inside one coroutine so event-loop cost is not counted."""
    best = [float("inf")] * len(makers)
    for _ in range(repeat):
        for i, guarded in enumerate(makers):
            start = time.perf_counter_ns()
            for _ in range(number):
                await guarded()
            best[i] = min(best[i], (time.perf_counter_ns() - start) / number)
    return best


async def async_rows(number: int, repeat: int) -> list[tuple[str, str, str, float]]:
    bucket = TokenBucket(capacity=HUGE, rate=HUGE, name="bench-async")
    aio = aiolimiter.AsyncLimiter(HUGE, 1)
    per_second = limits.RateLimitItemPerSecond(HUGE)
    afixed = limits.aio.strategies.FixedWindowRateLimiter(limits.aio.storage.MemoryStorage())
    rate = pyrate.Rate(HUGE, pyrate.Duration.SECOND)
    apyrate = pyrate.Limiter(pyrate.StateBucket([rate], algorithm=pyrate.TokenBucket()))

    async def bare() -> int:
        return work()

    async def day6_aacquire() -> int:
        await bucket.aacquire()
        return work()

    async def aiolimiter_acquire() -> int:
        await aio.acquire()
        return work()

    async def limits_hit() -> int:
        if await afixed.hit(per_second, "k"):
            return work()
        raise AssertionError("refused")

    async def pyrate_async() -> int:
        if await apyrate.try_acquire_async("k", blocking=False):
            return work()
        raise AssertionError("refused")

    rows = [
        ("async", "(bare call)", "await fn()", bare),
        ("async", "day6", "await TokenBucket.aacquire()", day6_aacquire),
        ("async", "aiolimiter", "await AsyncLimiter.acquire()", aiolimiter_acquire),
        ("async", "limits", "await aio FixedWindow.hit", limits_hit),
        ("async", "pyrate-limiter", "await try_acquire_async", pyrate_async),
    ]
    ns = await ainterleaved([fn for *_, fn in rows], number, repeat)
    return [(g, lib, form, t) for (g, lib, form, _), t in zip(rows, ns, strict=True)]


def run(quick: bool) -> list[Row]:
    number = 10_000 if quick else 40_000
    repeat = 3 if quick else 7
    rows_in = sync_rows()
    ns = interleaved([t for *_, t in rows_in], number, repeat)
    rows = [Row(g, lib, form, t) for (g, lib, form, _), t in zip(rows_in, ns, strict=True)]
    rows += [Row(*r) for r in asyncio.run(async_rows(number // 2, repeat))]
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| group | library | form | ns/call | overhead ns | vs fastest peer |",
        "|---|---|---|---:|---:|---:|",
    ]
    bare_sync = next(r.ns for r in rows if r.library == "(bare call)" and r.group == "-")
    bare_async = next(r.ns for r in rows if r.library == "(bare call)" and r.group == "async")
    for r in rows:
        bare = bare_async if r.group == "async" else bare_sync
        peers = [p.ns for p in rows if p.group == r.group and p.library not in ("day6", "(bare call)")]
        if r.library == "(bare call)":
            lines.append(f"| {r.group} | {r.library} | `{r.form}` | {r.ns:,.0f} |  |  |")
            continue
        ratio = f"{r.ns / min(peers):.2f}x" if peers else ""
        lines.append(f"| {r.group} | {r.library} | `{r.form}` | {r.ns:,.0f} | {r.ns - bare:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.quick)
    print(
        f"## Rate limiter guard-plus-call overhead ({platform.python_implementation()} "
        f"{platform.python_version()}, {sys.platform}; limits {limits.__version__}, "
        f"pyrate-limiter {pyrate.__version__}, aiolimiter {aiolimiter.__version__})\n"
    )
    print(table(rows))
    elapsed = time.perf_counter() - started
    print(f"\n_never-refusing limiters, in-memory storage; best of repeats; ran in {elapsed:.1f} s_")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
