"""``day6 serve``: the embedded backend and the fault injector over real HTTP on 127.0.0.1.

These tests open loopback sockets only (port 0: the OS picks a free port). The backend has no
latency configured, so nothing here waits on purpose; no assertion depends on how long anything
took.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx2
import openai
import pytest

from day6.backend import BackendServer, EmbeddedBackend, is_loopback
from day6.cli import main
from day6.errors import ConfigError, ErrorKind, classify
from day6.faults import FAULTS, SCENARIOS, FaultInjector

ASK = [{"role": "user", "content": "What is a circuit breaker?"}]


@pytest.fixture
def server() -> Iterator[BackendServer]:
    backend = EmbeddedBackend()
    with BackendServer(
        backend, FaultInjector(clock=backend.clock, rng=random.Random(0)), port=0
    ).start() as running:
        yield running


@pytest.fixture
def client(server: BackendServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="day6-offline", base_url=server.url, max_retries=0, timeout=10.0) as sdk:
        yield sdk


def admin(server: BackendServer, method: str, body: object = None) -> httpx2.Response:
    url = server.url.removesuffix("/v1") + "/admin/faults"
    return httpx2.request(method, url, json=body, timeout=10.0)


def test_sdk_completion_stream_and_models_over_http(server: BackendServer, client: openai.OpenAI) -> None:
    """The real SDK talks to the server like to any OpenAI endpoint: whole, streamed, models."""
    raw = client.chat.completions.with_raw_response.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    whole = raw.parse().choices[0].message.content
    assert whole is not None
    assert whole.startswith("A circuit breaker stops")
    assert raw.headers["x-request-id"].startswith("req_day6_")
    stream = client.chat.completions.create(
        model="day6-mini",
        messages=ASK,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole
    assert chunks[-1].usage is not None
    assert [m.id for m in client.models.list()] == ["day6-mini", "day6-large"]


async def test_async_sdk_over_http(server: BackendServer) -> None:
    """AsyncOpenAI over real HTTP, streamed."""
    async with openai.AsyncOpenAI(api_key="x", base_url=server.url, max_retries=0, timeout=10.0) as sdk:
        pieces = [
            chunk.choices[0].delta.content or ""
            async for chunk in await sdk.chat.completions.create(
                model="day6-large", messages=ASK, stream=True
            )  # type: ignore[arg-type]
        ]
    assert "In day6: day6.circuit_breaker.CircuitBreaker." in "".join(pieces)


def test_admin_endpoints_switch_faults_at_runtime(server: BackendServer, client: openai.OpenAI) -> None:
    """GET shows the state, POST arms a fault or scenario, DELETE disarms; the SDK feels each change."""
    state = admin(server, "GET").json()
    assert state["scenario"] is None
    assert state["active"] == []
    assert set(state["scenarios"]) == set(SCENARIOS)
    assert set(state["faults"]) == set(FAULTS)

    armed = admin(server, "POST", {"fault": "server_error", "count": 1}).json()
    assert [a["fault"] for a in armed["active"]] == ["server_error"]
    with pytest.raises(openai.InternalServerError) as excinfo:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert classify(excinfo.value).kind is ErrorKind.SERVER_ERROR
    client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]  # count spent

    state = admin(server, "POST", {"scenario": "quota_exhausted"}).json()
    assert state["scenario"] == "quota_exhausted"
    with pytest.raises(openai.RateLimitError) as quota:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert classify(quota.value).kind is ErrorKind.QUOTA_EXHAUSTED
    assert [entry["fault"] for entry in admin(server, "GET").json()["log"]] == [
        "server_error",
        "quota_exhausted",
    ]

    cleared = admin(server, "DELETE").json()
    assert cleared["active"] == []
    assert cleared["scenario"] is None
    client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]


def test_admin_append_adds_to_what_is_armed(server: BackendServer) -> None:
    """POST replaces by default; "append": true adds."""
    admin(server, "POST", {"fault": "slow", "params": {"latency": 0.5}})
    state = admin(server, "POST", {"fault": "server_error", "probability": 0.5, "append": True}).json()
    assert [(a["fault"], a["probability"]) for a in state["active"]] == [("slow", 1.0), ("server_error", 0.5)]
    assert state["active"][0]["params"] == {"latency": 0.5}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"scenario": "meltdown"}, "known scenarios are flaky"),
        ({"fault": "meltdown"}, "known faults are"),
        ({"fault": "server_error", "probability": 2}, "probability=2"),
        ({"fault": "slow", "params": {"latency": -1}}, "slow.latency"),
        ({"scenario": "flaky", "fault": "slow"}, 'exactly one of "scenario" or "fault"'),
        ({"colour": "red"}, "known fields are"),
        ([1, 2], "JSON object"),
    ],
)
def test_admin_rejects_bad_commands_and_keeps_the_old_faults(
    server: BackendServer, body: object, needle: str
) -> None:
    """A bad command is a 400 in the API's error envelope; what was armed stays armed."""
    admin(server, "POST", {"scenario": "flaky"})
    response = admin(server, "POST", body)
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]
    assert admin(server, "GET").json()["scenario"] == "flaky"


def test_admin_rejects_broken_json(server: BackendServer) -> None:
    """A body that is not JSON is a 400 too, never a traceback."""
    url = server.url.removesuffix("/v1") + "/admin/faults"
    response = httpx2.post(url, content=b"{nope", timeout=10.0)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("fault", "params", "stream"),
    [
        ("connection_refused", {}, False),
        ("connection_reset", {}, False),
        ("connection_reset", {}, True),
        ("stream_cut", {"after": 2}, True),
    ],
)
def test_wire_faults_break_the_real_connection(
    server: BackendServer, client: openai.OpenAI, fault: str, params: dict[str, float], stream: bool
) -> None:
    """Socket-level faults reach the SDK as APIConnectionError, classified as retriable network errors."""
    admin(server, "POST", {"fault": fault, "params": params})
    received: list[str] = []

    def request() -> None:
        if not stream:
            client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
            return
        for chunk in client.chat.completions.create(model="day6-mini", messages=ASK, stream=True):  # type: ignore[arg-type]
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIConnectionError) as excinfo:
        request()
    if fault == "stream_cut":
        assert len(received) == 2
    verdict = classify(excinfo.value)
    assert (verdict.kind, verdict.retriable) == (ErrorKind.NETWORK, True)
    admin(server, "DELETE")
    client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]  # server still fine


def test_timeout_fault_over_http_lets_the_client_time_out(server: BackendServer) -> None:
    """The server holds the reply; the client's own (short) timeout fires; the server carries on."""
    admin(server, "POST", {"fault": "timeout", "count": 1})
    with (
        openai.OpenAI(api_key="x", base_url=server.url, max_retries=0, timeout=0.2) as impatient,
        pytest.raises(openai.APITimeoutError) as excinfo,
    ):
        impatient.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert classify(excinfo.value).kind is ErrorKind.TIMEOUT
    assert httpx2.get(server.url + "/models", timeout=10.0).status_code == 200


def test_fabricated_faults_over_http(server: BackendServer, client: openai.OpenAI) -> None:
    """A rate_limit fault arrives with its headers; malformed_json breaks the SDK's parser."""
    admin(server, "POST", {"fault": "rate_limit", "count": 1, "params": {"retry_after": 4}})
    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert excinfo.value.response.headers["retry-after-ms"] == "4000"
    assert classify(excinfo.value).retry_after == 4.0
    admin(server, "POST", {"fault": "malformed_json", "count": 1})
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]


def test_chunked_and_bad_request_bodies(server: BackendServer) -> None:
    """Chunked uploads are read; a bad Content-Length is a 400, an oversized body a 413."""
    chunked = httpx2.post(
        server.url + "/chat/completions",
        content=iter([b'{"model": "day6-mini", ', b'"messages": [{"role": "user", "content": "hi"}]}']),
        timeout=10.0,
    )
    assert chunked.status_code == 200
    assert "Hello!" in chunked.json()["choices"][0]["message"]["content"]
    with socket.create_connection((server.host, server.port), timeout=10.0) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection((server.host, server.port), timeout=10.0) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_server_side_rpm_limit_over_http() -> None:
    """The server's own RPM limit answers 429 with retry-after and x-ratelimit-* over HTTP."""
    with (
        BackendServer(EmbeddedBackend(requests_per_minute=2), port=0).start() as running,
        openai.OpenAI(api_key="x", base_url=running.url, max_retries=0, timeout=10.0) as sdk,
    ):
        for _ in range(2):
            sdk.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as excinfo:
            sdk.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    headers = excinfo.value.response.headers
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 29 <= int(headers["retry-after"]) <= 30  # one request refills in 60 s / 2 (minus elapsed time)
    assert classify(excinfo.value).kind is ErrorKind.RATE_LIMIT


def test_shutdown_closes_the_port_and_is_idempotent() -> None:
    """After shutdown nothing listens; a second shutdown is harmless."""
    running = BackendServer(port=0).start()
    url = running.url
    assert httpx2.get(url + "/models", timeout=10.0).status_code == 200
    running.shutdown()
    running.shutdown()
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(url + "/models", timeout=10.0)


# --------------------------------------------------------------------------------------------------
# Safety and the CLI
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.10", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Only addresses that cannot leave the machine count as loopback."""
    assert is_loopback(host) is loopback


def test_non_loopback_host_is_refused_without_the_flag() -> None:
    """Binding a public address needs allow_remote=True (the admin API has no authentication)."""
    with pytest.raises(ConfigError, match="loopback"):
        BackendServer(host="0.0.0.0", port=0)


def test_cli_refuses_a_remote_host(capsys: pytest.CaptureFixture[str]) -> None:
    """`day6 serve --host 0.0.0.0` exits 2 with a one-line explanation, and binds nothing."""
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("day6 serve: --host='0.0.0.0' is invalid: must be a loopback address")
    assert "pass --allow-remote" in err
    assert err.count("\n") == 1


def test_cli_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`day6` alone shows the commands and exits 2."""
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_cli_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refuses a scenario that does not exist, listing the choices."""
    with pytest.raises(SystemExit) as excinfo:
        main(["serve", "--scenario", "meltdown"])
    assert excinfo.value.code == 2
    assert "outage_then_recovery" in capsys.readouterr().err


def test_day6_serve_process_serves_and_stops_cleanly_on_ctrl_c() -> None:
    """The real command: prints its URL, serves the SDK and the admin API, exits 0 on SIGINT."""
    argv = ["serve", "--port", "0", "--latency", "0", "--seed", "1"]
    code = f"from day6.cli import main; raise SystemExit(main({argv!r}))"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("day6 serve: OpenAI-compatible backend on http://127.0.0.1:")
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        with openai.OpenAI(api_key="x", base_url=url, max_retries=0, timeout=10.0) as sdk:
            reply = sdk.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
            assert reply.choices[0].message.content
            httpx2.post(
                url.removesuffix("/v1") + "/admin/faults", json={"scenario": "quota_exhausted"}, timeout=10.0
            )
            with pytest.raises(openai.RateLimitError):
                sdk.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert out == "day6 serve: stopped\n"
    assert err == ""
