"""What one simulated user request costs in the readiness report, per client, in fake time.

``day6 simulate readiness`` pushes thousands of requests through the real ``openai`` SDK, so its
run time is set by the cost of one request on each side. This measures, in one run, a healthy
request (no faults, FakeClock, embedded backend with the latency model on) through:

* the raw SDK, ``max_retries=0`` (the floor: the SDK's own request/response work),
* the bare-SDK baseline of the report (``openai.OpenAI`` subclass, default retries),
* ``ResilientAgent.chat`` with the production profile (limiter, breaker, retry policy, monitor,
  memory; then the same SDK call),

and then the wall time of the whole default report. Best of N repeats (least disturbed by other
processes); "vs raw SDK" divides by the floor.

    .venv/bin/python benchmarks/readiness.py           # ~15 s
    .venv/bin/python benchmarks/readiness.py --quick   # ~5 s
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable

from day6.agent import ResilientAgent
from day6.backend import EmbeddedBackend, make_client
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.faults import FaultInjector
from day6.readiness import LATENCY_FAKE, bare_sdk_client, run_readiness

MESSAGES = [{"role": "user", "content": "What is a circuit breaker?"}]


def _backend(clock: FakeClock) -> EmbeddedBackend:
    return EmbeddedBackend(clock=clock, base_latency=LATENCY_FAKE[0], per_token_latency=LATENCY_FAKE[1])


def raw_sdk() -> Callable[[], object]:
    client = make_client(_backend(FakeClock()))
    return lambda: client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]


def bare_baseline() -> Callable[[], object]:
    clock = FakeClock()
    client = bare_sdk_client(_backend(clock), FaultInjector(clock=clock), clock=clock, rng=random.Random(0))
    return lambda: client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]


def agent_chat() -> Callable[[], object]:
    clock = FakeClock()
    agent = ResilientAgent(
        config=ReliabilityConfig.profile("production"),
        clock=clock,
        rng=random.Random(0),
        backend=_backend(clock),
        env={},
    )

    def call() -> object:
        clock.advance(2.0)  # normal load: one request every 2 s, so the limiter never waits
        reply = agent.chat("What is a circuit breaker?")
        agent.memory.clear()
        return reply

    return call


def best_ns(fn: Callable[[], object], calls: int, repeats: int) -> float:
    for _ in range(20):  # warm up: imports, caches, first-request work
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats, and a smaller report")
    args = parser.parse_args()
    calls, repeats = (100, 3) if args.quick else (300, 5)

    rows = [
        ("raw SDK, max_retries=0", best_ns(raw_sdk(), calls, repeats)),
        ("bare-SDK baseline (default retries, fake-time sleep)", best_ns(bare_baseline(), calls, repeats)),
        ("ResilientAgent.chat, production profile", best_ns(agent_chat(), calls, repeats)),
    ]
    floor = rows[0][1]
    version = platform.python_version()
    print(f"# readiness: one healthy request in fake time (Python {version}, best of {repeats})")
    print()
    print("| client | ns/call | vs raw SDK |")
    print("|---|---:|---:|")
    for name, ns in rows:
        print(f"| {name} | {ns:,.0f} | {ns / floor:.2f}x |")

    requests = 200 if args.quick else 1000
    start = time.perf_counter()
    report = run_readiness(seed=0, requests=requests)
    wall = time.perf_counter() - start
    simulated = sum(e.day6.requests + e.bare.requests for e in report.experiments)
    print()
    print("| whole report | requests (both clients) | wall time | per request |")
    print("|---|---:|---:|---:|")
    per = wall / simulated * 1e9
    print(f"| default experiments, requests={requests} | {simulated:,} | {wall:.2f} s | {per:,.0f} ns |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
