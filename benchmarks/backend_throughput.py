"""Throughput and latency of real openai SDK calls against day6's backends.

Rows, all measured in this run with the same SDK call (a non-streamed chat completion):

* **(a) floor**: ``httpx2.MockTransport`` returning one pre-encoded completion. This is the cost
  of the SDK and httpx2 themselves; nothing day6 does can be faster.
* **(b) embedded**: :func:`day6.backend.make_client` answering in-process (validation, the
  responder, token counting, JSON encoding).
* **(b+) embedded + idle injector**: the same behind a ``FaultTransport`` with nothing armed
  (the fast path every request pays once fault injection is wired in).
* **(c) day6 serve**: the backend in a separate ``day6 serve`` process on 127.0.0.1, over real
  HTTP/1.1 with keep-alive.

Each setup runs from 1 and from 32 concurrent client threads sharing one client. ``ratio`` is the
row's time per request (wall time / requests) over the floor's with the same number of clients:
how many times more each request costs. p50/p95 are per-call latencies seen by the caller. The machine is
shared, so treat differences under ~20 % as noise.

    .venv/bin/python benchmarks/backend_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai

from day6.backend import EmbeddedBackend, make_client
from day6.faults import FaultInjector

MESSAGES = [{"role": "user", "content": "What is a token bucket?"}]


def _constant_completion() -> bytes:
    reply = EmbeddedBackend().handle(
        "POST", "/v1/chat/completions", {}, json.dumps({"model": "day6-mini", "messages": MESSAGES}).encode()
    )
    return reply.body


def floor_client() -> openai.OpenAI:
    body = _constant_completion()
    headers = [("content-type", "application/json"), ("x-request-id", "req_floor")]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    return openai.OpenAI(
        api_key="day6-offline",
        base_url="http://day6.local/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def measure(client: openai.OpenAI, requests: int, concurrency: int = 1) -> tuple[float, list[float]]:
    """(wall seconds, per-call latencies) for ``requests`` calls from ``concurrency`` threads."""

    def one() -> float:
        start = time.perf_counter()
        client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]
        return time.perf_counter() - start

    for _ in range(min(50, requests)):  # warm-up: imports, pools, connections
        one()
    start = time.perf_counter()
    if concurrency == 1:
        latencies = [one() for _ in range(requests)]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies = list(pool.map(lambda _: one(), range(requests)))
    return time.perf_counter() - start, latencies


def start_server() -> tuple[subprocess.Popen[str], str]:
    argv = ["serve", "--port", "0", "--latency", "0", "--token-latency", "0"]
    code = f"from day6.cli import main; raise SystemExit(main({argv!r}))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    banner = process.stdout.readline()
    if " on http://" not in banner:
        process.kill()
        raise RuntimeError(f"day6 serve did not start: {banner!r}")
    return process, banner.split(" on ", 1)[1].split(" ", 1)[0]


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a few seconds in total)")
    args = parser.parse_args()
    n_local = 300 if args.quick else 2000
    n_http = 200 if args.quick else 1000

    rows: list[tuple[str, int, float, list[float]]] = []

    def run(label: str, make: Callable[[], openai.OpenAI], requests: int, concurrency: int = 1) -> None:
        with make() as client:
            wall, latencies = measure(client, requests, concurrency)
        rows.append((label, concurrency, wall, latencies))

    for clients, n in ((1, n_local), (32, n_local * 2)):
        run("(a) floor: httpx2.MockTransport, constant reply", floor_client, n, clients)
        run("(b) embedded backend, in-process", lambda: make_client(EmbeddedBackend()), n, clients)
        run(
            "(b+) embedded + idle FaultInjector",
            lambda: make_client(EmbeddedBackend(), FaultInjector()),
            n,
            clients,
        )
    process, url = start_server()
    try:

        def http_client() -> openai.OpenAI:
            return openai.OpenAI(api_key="day6-offline", base_url=url, max_retries=0, timeout=30.0)

        run("(c) day6 serve on loopback", http_client, n_http)
        run("(c) day6 serve on loopback", http_client, n_http * 2, concurrency=32)
    finally:
        stop_server(process)

    floor_per_request = {c: wall / len(lat) for label, c, wall, lat in rows if label.startswith("(a)")}
    print(
        f"backend_throughput: non-streamed chat completion, openai {openai.__version__}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)\n"
    )
    print("| setup | clients | requests | req/s | µs/request | p50 ms | p95 ms | ratio vs (a) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, concurrency, wall, latencies in rows:
        per_request = wall / len(latencies)
        print(
            f"| {label} | {concurrency} | {len(latencies)} | {len(latencies) / wall:,.0f} | "
            f"{per_request * 1e6:,.0f} | {percentile(latencies, 0.5) * 1e3:.2f} | "
            f"{percentile(latencies, 0.95) * 1e3:.2f} | {per_request / floor_per_request[concurrency]:.2f}x |"
        )
    mean_floor = statistics.fmean(rows[0][3])
    print(f"\nfloor mean latency {mean_floor * 1e6:,.0f} µs/call (ns/call: {mean_floor * 1e9:,.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
