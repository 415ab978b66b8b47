"""What watching costs: nanoseconds to record one request or event in day6's Monitor.

A monitor is on the path of every request, so recording must be cheap and must not grow with
traffic. This measures, in one run:

* ``Monitor.record_request`` (outcome + latency into counters, the latency sketch and the rate
  ring), with a FakeClock and with the real SystemClock;
* ``Monitor.observe`` of an ``agent.request`` event and of a real circuit breaker's
  ``breaker.call`` event (dispatch on the topic);
* the peer that does the same job in most Python services: prometheus_client, a labelled
  ``Counter.inc()`` plus a ``Histogram.observe()`` (fixed buckets: it cannot give a p99 within
  1 %) and a ``Summary.observe()`` (count and sum only: no quantiles at all in the Python client);
* an empty loop, the floor every row includes.

Method: best of N repeats of a tight loop (the minimum is the least disturbed run); ns/call
includes the loop. "vs prometheus" divides by the Counter+Histogram row. The last table is the
cost of a snapshot after a million records (percentiles and rates are computed then, not per call).

    .venv/bin/python benchmarks/monitor_record.py           # ~10 s
    .venv/bin/python benchmarks/monitor_record.py --quick   # ~3 s
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary

from day6.circuit_breaker import CallOutcome, CallRecorded
from day6.clock import FakeClock, SystemClock
from day6.monitoring import Monitor


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """An ``agent.request`` event as the topic table in day6._events defines it."""

    topic: ClassVar[str] = "agent.request"
    outcome: str
    latency: float
    attempts: int
    kind: str | None
    model: str | None
    at: float


def best_ns_per_call(loop: Callable[[int], None], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        loop(n)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer loops (for CI)")
    args = parser.parse_args(argv)
    n, repeats = (50_000, 3) if args.quick else (200_000, 5)

    latencies = [0.05 + (i % 97) / 100 for i in range(1000)]

    def empty(k: int) -> None:
        for i in range(k):
            latencies[i % 1000]

    fake = Monitor(clock=FakeClock())

    def record_fake(k: int) -> None:
        record = fake.record_request
        for i in range(k):
            record("ok", latencies[i % 1000])

    real = Monitor(clock=SystemClock())

    def record_system(k: int) -> None:
        record = real.record_request
        for i in range(k):
            record("ok", latencies[i % 1000])

    def record_failed(k: int) -> None:
        record = fake.record_request
        for i in range(k):
            record("failed", latencies[i % 1000], attempts=3, kind="timeout", model="day6-mini")

    events = [AgentRequest("ok", latencies[i], 1, None, "day6-mini", float(i)) for i in range(1000)]
    ev_monitor = Monitor(clock=FakeClock())

    def observe_request(k: int) -> None:
        observe = ev_monitor.observe
        for i in range(k):
            observe(events[i % 1000])

    call_event = CallRecorded(name="llm", outcome=CallOutcome.SUCCESS, duration=0.1, at=0.0)

    def observe_breaker_call(k: int) -> None:
        observe = ev_monitor.observe
        for _ in range(k):
            observe(call_event)

    registry = CollectorRegistry()
    counter = Counter("bench_requests", "requests", ["outcome"], registry=registry)
    histogram = Histogram("bench_latency_seconds", "latency", registry=registry)
    summary = Summary("bench_latency_summary_seconds", "latency", registry=registry)
    ok_child = counter.labels("ok")

    def prometheus_counter_histogram(k: int) -> None:
        inc, observe = ok_child.inc, histogram.observe
        for i in range(k):
            inc()
            observe(latencies[i % 1000])

    def prometheus_counter_summary(k: int) -> None:
        inc, observe = ok_child.inc, summary.observe
        for i in range(k):
            inc()
            observe(latencies[i % 1000])

    rows = [
        ("empty loop (floor)", empty),
        ("prometheus_client Counter.inc + Histogram.observe", prometheus_counter_histogram),
        ("prometheus_client Counter.inc + Summary.observe", prometheus_counter_summary),
        ("day6 record_request (FakeClock)", record_fake),
        ("day6 record_request (SystemClock)", record_system),
        ("day6 record_request failed+kind+model", record_failed),
        ("day6 observe(agent.request event)", observe_request),
        ("day6 observe(breaker.call event)", observe_breaker_call),
    ]
    results = {name: best_ns_per_call(loop, n, repeats) for name, loop in rows}
    peer = results["prometheus_client Counter.inc + Histogram.observe"]

    print(
        f"# Monitor recording cost ({platform.python_implementation()} {sys.version.split()[0]}, "
        f"{n:,} calls x best of {repeats})\n"
    )
    print("| variant | ns/call | vs prometheus |")
    print("|---|---:|---:|")
    for name, _ in rows:
        print(f"| {name} | {results[name]:,.0f} | {results[name] / peer:.2f}x |")

    # Snapshot cost after a million records (computed on demand, not per call).
    big = Monitor(clock=FakeClock())
    record = big.record_request
    total = 1_000_000 if not args.quick else 200_000
    start = time.perf_counter()
    for i in range(total):
        record("failed" if i % 100 == 0 else "ok", latencies[i % 1000])
    fill = time.perf_counter() - start

    def snapshots(k: int) -> None:
        for _ in range(k):
            big.snapshot()

    snap_us = best_ns_per_call(snapshots, 200, 3) / 1000
    print(f"\n| after {total:,} records | value |")
    print("|---|---:|")
    print(f"| time to record them all | {fill:.2f} s |")
    print(f"| snapshot() (p50/p95/p99, rates, copies) | {snap_us:,.0f} µs |")
    print(f"| latency sketch buckets (fixed) | {big.latency_sketch.bucket_count:,} |")
    print(f"| rate ring slots (fixed) | {big.ring_size:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
