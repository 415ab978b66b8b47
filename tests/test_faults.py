"""Fault injection: the registry, activation rules, determinism, and what the real SDK sees.

Every SDK-level test runs the genuine ``openai`` client (sync and async) over
``FaultTransport(backend.transport(), injector)``, so the exception types, statuses, codes and
headers asserted here are exactly what a retry policy meets in production, and each one is also
run through :func:`day6.errors.classify`.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from typing import Any

import httpx
import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from day6.backend import EmbeddedBackend, make_client
from day6.clock import FakeClock
from day6.errors import ConfigError, ErrorKind, classify, parse_reset_duration
from day6.faults import (
    FAULTS,
    SCENARIOS,
    AsyncFaultTransport,
    AsyncHttpxFaultTransport,
    BodyCut,
    BodyCutter,
    FaultInjected,
    FaultInjector,
    FaultSpec,
    FaultTransport,
    HttpxFaultTransport,
    RequestInfo,
    WireError,
    format_reset,
)

MESSAGES = [{"role": "user", "content": "What is jitter?"}]
POST = RequestInfo("POST", "http://day6.local/v1/chat/completions")


@pytest.fixture
def injector(clock: FakeClock, rng: random.Random) -> FaultInjector:
    return FaultInjector(clock=clock, rng=rng)


@pytest.fixture
def backend(clock: FakeClock) -> EmbeddedBackend:
    return EmbeddedBackend(clock=clock)


def fired(injector: FaultInjector, n: int, request: RequestInfo = POST) -> list[str | None]:
    """The fault (or None) each of ``n`` identical requests meets."""
    out: list[str | None] = []
    for _ in range(n):
        plan = injector.decide(request)
        out.append(None if plan is None else plan.fault)
    return out


# --------------------------------------------------------------------------------------------------
# Registry and configuration errors
# --------------------------------------------------------------------------------------------------


def test_registry_lists_every_required_fault_and_scenario() -> None:
    """The catalogue holds the eleven faults and six scenarios the workbook documents."""
    assert set(FAULTS) == {
        "timeout",
        "rate_limit",
        "quota_exhausted",
        "server_error",
        "overloaded",
        "bad_gateway",
        "connection_refused",
        "connection_reset",
        "slow",
        "malformed_json",
        "stream_cut",
    }
    assert set(SCENARIOS) == {
        "none",
        "flaky",
        "outage_then_recovery",
        "rate_limited",
        "quota_exhausted",
        "slow",
    }
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.description
    for name, info in FAULTS.items():
        assert info.name == name
        assert info.description


def test_activate_unknown_name_lists_scenarios_and_faults(injector: FaultInjector) -> None:
    """An unknown name raises ConfigError naming the value and every scenario and fault."""
    with pytest.raises(ConfigError) as excinfo:
        injector.activate("meltdown")
    message = str(excinfo.value)
    assert "meltdown" in message
    for name in (*SCENARIOS, *FAULTS):
        assert name in message


def test_inject_unknown_fault_lists_faults(injector: FaultInjector) -> None:
    """inject() knows only faults; the error lists them."""
    with pytest.raises(ConfigError, match=r"known faults are .*bad_gateway.*timeout"):
        injector.inject("flaky")


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"probability": 1.5}, "probability"),
        ({"probability": -0.1}, "probability"),
        ({"probability": math.nan}, "probability"),
        ({"probability": math.inf}, "probability"),
        ({"duration": -1.0}, "duration"),
        ({"duration": 0.0}, "duration"),
        ({"duration": math.inf}, "duration"),
        ({"start": -2.0}, "start"),
        ({"count": 0}, "count"),
        ({"count": True}, "count"),
        ({"latency": -1.0}, "slow.latency"),
        ({"latency": math.nan}, "slow.latency"),
    ],
)
def test_invalid_fault_options_raise_config_error(
    injector: FaultInjector, options: dict[str, Any], setting: str
) -> None:
    """Probabilities outside 0..1, negative or non-finite durations and bad counts are refused."""
    with pytest.raises(ConfigError) as excinfo:
        injector.inject("slow", **options)
    assert excinfo.value.setting == setting
    assert not injector.armed


def test_unknown_parameter_lists_the_allowed_ones(injector: FaultInjector) -> None:
    """A parameter the fault does not take is refused with the list it does take."""
    with pytest.raises(ConfigError, match="parameters of 'rate_limit': limit, retry_after"):
        injector.inject("rate_limit", latency=3.0)


def test_stream_cut_after_must_be_whole(injector: FaultInjector) -> None:
    """stream_cut's `after` counts events, so 2.5 is refused."""
    with pytest.raises(ConfigError, match="whole number"):
        injector.inject("stream_cut", after=2.5)


def test_scenario_with_options_is_refused(injector: FaultInjector) -> None:
    """Options belong to single faults; a scenario-only name with options is an error."""
    with pytest.raises(ConfigError, match="scenario takes no options"):
        injector.activate("flaky", count=2)


def test_log_size_must_be_positive(clock: FakeClock) -> None:
    """log_size bounds the log; zero or negative is a ConfigError."""
    with pytest.raises(ConfigError, match="log_size"):
        FaultInjector(clock=clock, log_size=0)


def test_name_shared_by_scenario_and_fault_resolves_by_options(injector: FaultInjector) -> None:
    """`slow` alone is the scenario (timeout + slow); with an option it is the single fault."""
    injector.activate("slow")
    assert [a.spec.fault for a in injector.active()] == ["timeout", "slow"]
    assert injector.scenario == "slow"
    injector.clear()
    injector.activate("slow", latency=0.5)
    assert [(a.spec.fault, a.spec.param("latency")) for a in injector.active()] == [("slow", 0.5)]


# --------------------------------------------------------------------------------------------------
# Activation: probability, count, window
# --------------------------------------------------------------------------------------------------


def test_count_limits_the_fault_to_the_next_n_requests(injector: FaultInjector) -> None:
    """`count=3` fails exactly the next three requests, then retires."""
    injector.inject("server_error", count=3)
    assert fired(injector, 5) == ["server_error"] * 3 + [None] * 2
    assert not injector.active()


def test_duration_is_a_window_on_the_clock(injector: FaultInjector, clock: FakeClock) -> None:
    """`duration=10` fails requests for ten clock seconds from activation, and none after."""
    injector.inject("overloaded", duration=10.0)
    assert fired(injector, 2) == ["overloaded"] * 2
    clock.advance(9.999)
    assert fired(injector, 1) == ["overloaded"]
    clock.advance(0.001)
    assert fired(injector, 1) == [None]
    assert not injector.armed  # the expired fault retired


def test_outage_then_recovery_phases(injector: FaultInjector, clock: FakeClock) -> None:
    """503 for 10 s, then about 30 % 500s for 10 s, then a healthy backend with nothing armed."""
    injector.activate("outage_then_recovery")
    assert set(fired(injector, 50)) == {"overloaded"}
    clock.advance(10.0)
    limping = fired(injector, 400)
    assert set(limping) == {"server_error", None}
    assert 0.2 < limping.count("server_error") / 400 < 0.4
    clock.advance(10.0)
    assert set(fired(injector, 50)) == {None}
    assert injector.active() == ()


def test_flaky_probabilities_stack_to_one_in_five(injector: FaultInjector) -> None:
    """flaky's 10 % + 5 % + 5 % fail one request in five, in those proportions."""
    injector.activate("flaky")
    outcomes = fired(injector, 4000)
    failures = [o for o in outcomes if o is not None]
    assert 0.18 < len(failures) / 4000 < 0.22
    assert 0.08 < failures.count("server_error") / 4000 < 0.12
    assert 0.035 < failures.count("overloaded") / 4000 < 0.065
    assert 0.035 < failures.count("connection_reset") / 4000 < 0.065


@given(st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=0, max_value=2**32))
def test_probability_extremes_are_exact(p: float, seed: int) -> None:
    """p = 0 never fires, p = 1 always fires; any p fires a fraction near p."""
    injector = FaultInjector(clock=FakeClock(), rng=random.Random(seed))
    injector.inject("server_error", probability=p)
    outcomes = fired(injector, 200)
    hits = outcomes.count("server_error")
    if p == 0.0:
        assert hits == 0
    elif p == 1.0:
        assert hits == 200
    else:
        assert abs(hits / 200 - p) < 0.2  # 5+ standard deviations for n = 200


def test_same_seed_same_faults() -> None:
    """Two injectors with the same seed inject the same faults on the same requests."""

    def run(seed: int) -> list[str | None]:
        injector = FaultInjector(clock=FakeClock(), rng=random.Random(seed))
        injector.activate("flaky")
        return fired(injector, 300)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_certain_faults_consume_no_randomness(clock: FakeClock) -> None:
    """A p = 1 fault decides without drawing, so arming it does not shift later draws."""
    rng = random.Random(3)
    injector = FaultInjector(clock=clock, rng=rng)
    injector.inject("server_error", count=2)
    fired(injector, 2)
    assert rng.random() == random.Random(3).random()


def test_stream_cut_skips_non_streaming_requests(injector: FaultInjector) -> None:
    """stream_cut ignores a request that does not ask for a stream, and keeps its count."""
    injector.inject("stream_cut", count=1)
    assert fired(injector, 3) == [None, None, None]
    streaming = RequestInfo("POST", POST.url, body=b'{"model": "m", "stream": true}')
    assert fired(injector, 2, streaming) == ["stream_cut", None]


def test_log_and_events_record_time_fault_method_and_url(clock: FakeClock) -> None:
    """Each injection is logged and emitted as fault.injected, with the query string dropped."""
    events: list[Any] = []
    injector = FaultInjector(clock=clock, rng=random.Random(0), hooks=[events.append])
    injector.inject("server_error", count=1)
    clock.advance(4.5)
    injector.decide(RequestInfo("POST", "http://x.test/v1/chat/completions?api-key=secret"))
    assert injector.log == (
        FaultInjected(at=4.5, fault="server_error", method="POST", url="http://x.test/v1/chat/completions"),
    )
    assert events == list(injector.log)
    assert events[0].topic == "fault.injected"
    assert "secret" not in repr(injector.log)


def test_failing_hook_does_not_break_injection(clock: FakeClock) -> None:
    """A hook that raises is logged and skipped; the fault is still injected."""

    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    injector = FaultInjector(clock=clock, hooks=[broken])
    injector.inject("server_error")
    assert fired(injector, 1) == ["server_error"]


def test_log_is_bounded(clock: FakeClock) -> None:
    """The log keeps the newest log_size records."""
    injector = FaultInjector(clock=clock, log_size=3)
    injector.inject("server_error")
    fired(injector, 5)
    assert len(injector.log) == 3
    assert injector.status()["injected"] == 5


def test_clear_disarms_but_keeps_the_log(injector: FaultInjector) -> None:
    """clear() removes every armed fault and the scenario name; history stays."""
    injector.activate("quota_exhausted")
    fired(injector, 1)
    injector.clear()
    assert not injector.armed
    assert injector.scenario is None
    assert fired(injector, 1) == [None]
    assert len(injector.log) == 1


def test_status_is_json_ready(injector: FaultInjector, clock: FakeClock) -> None:
    """status() describes armed faults with remaining count and window, serialisable as JSON."""
    injector.inject("rate_limit", count=2, duration=30.0, retry_after=3.0)
    clock.advance(10.0)
    status = json.loads(json.dumps(injector.status()))
    assert status["active"] == [
        {
            "fault": "rate_limit",
            "probability": 1.0,
            "remaining": 2,
            "starts_in": 0.0,
            "ends_in": 20.0,
            "params": {"retry_after": 3.0},
        }
    ]


# --------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (-3.0, "0s"),
        (0.0004, "1ms"),
        (0.012, "12ms"),
        (1.0, "1s"),
        (1.2, "1.2s"),
        (59.5, "59.5s"),
        (360.0, "6m0s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_format_reset_examples(seconds: float, text: str) -> None:
    """Reset durations are written the Go way OpenAI uses."""
    assert format_reset(seconds) == text


@given(st.floats(min_value=0.001, max_value=1e7))
def test_format_reset_round_trips_through_the_parser(seconds: float) -> None:
    """errors.parse_reset_duration reads back what format_reset writes, to the millisecond."""
    parsed = parse_reset_duration(format_reset(seconds))
    assert parsed is not None
    assert abs(parsed - seconds) <= 0.0005 + 1e-9 * seconds


SSE = b"".join(b'data: {"n": %d}\n\n' % i for i in range(6)) + b"data: [DONE]\n\n"


@given(
    st.lists(st.integers(min_value=1, max_value=len(SSE) - 1), unique=True, max_size=12), st.integers(0, 9)
)
def test_cutter_passes_exactly_k_events_however_the_body_is_chunked(cuts: list[int], k: int) -> None:
    """Whatever the chunk boundaries, the cut passes the first k complete events and stops."""
    bounds = [0, *sorted(cuts), len(SSE)]
    chunks = [SSE[a:b] for a, b in itertools.pairwise(bounds)]
    cutter = BodyCutter(BodyCut(WireError.REMOTE_PROTOCOL, "cut", after_events=k))
    passed = b""
    stopped = False
    for chunk in chunks:
        data, stop = cutter.feed(chunk)
        passed += data
        if stop:
            stopped = True
            break
    events = SSE.split(b"\n\n")[:-1]
    assert passed == b"".join(e + b"\n\n" for e in events[:k])
    assert stopped == (k <= len(events))  # k == all events: cut right after the last one
    assert not cutter.at_end()


def test_reset_cutter_passes_half_then_fails() -> None:
    """A reset passes half of the first chunk and always fails, even on an empty body."""
    cutter = BodyCutter(BodyCut(WireError.READ, "reset"))
    assert cutter.feed(b"0123456789") == (b"01234", True)
    assert BodyCutter(BodyCut(WireError.READ, "reset")).at_end()


def test_request_info_detects_streaming_bodies() -> None:
    """wants_stream is true only for a JSON object with "stream": true."""
    assert RequestInfo("POST", "u", body=b'{"stream": true}').wants_stream
    assert not RequestInfo("POST", "u", body=b'{"stream": false}').wants_stream
    assert not RequestInfo("POST", "u", body=b'{"stream": "true"}').wants_stream
    assert not RequestInfo("POST", "u", body=b"stream!").wants_stream
    assert not RequestInfo("POST", "u", body=b"").wants_stream


def test_fault_spec_defaults_come_from_the_catalogue() -> None:
    """A spec without params reads each parameter's default from FAULTS."""
    spec = FaultSpec("rate_limit")
    assert spec.param("retry_after") == FAULTS["rate_limit"].params["retry_after"]


# --------------------------------------------------------------------------------------------------
# What the real SDK sees, sync and async
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(
    mode: str,
    backend: EmbeddedBackend,
    injector: FaultInjector,
    *,
    stream: bool = False,
    client_timeout: float = 30.0,
    sink: list[str] | None = None,
) -> list[str]:
    """One chat completion through the real SDK; returns the content pieces received.

    Pieces are also appended to ``sink`` as they arrive, so a test sees what came before an error.
    """
    pieces: list[str] = [] if sink is None else sink
    if mode == "sync":
        with make_client(backend, injector, timeout=client_timeout) as client:
            if not stream:
                reply = client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]
                pieces.append(reply.choices[0].message.content or "")
                return pieces
            for chunk in client.chat.completions.create(model="day6-mini", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                pieces.append(chunk.choices[0].delta.content or "")
            return pieces
    async with make_client(backend, injector, async_=True, timeout=client_timeout) as aclient:
        if not stream:
            areply = await aclient.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]
            pieces.append(areply.choices[0].message.content or "")
            return pieces
        async for chunk in await aclient.chat.completions.create(
            model="day6-mini", messages=MESSAGES, stream=True
        ):  # type: ignore[arg-type]
            pieces.append(chunk.choices[0].delta.content or "")
        return pieces


@pytest.mark.parametrize(
    ("fault", "exc_type", "status", "code", "kind", "retriable"),
    [
        ("rate_limit", openai.RateLimitError, 429, "rate_limit_exceeded", ErrorKind.RATE_LIMIT, True),
        (
            "quota_exhausted",
            openai.RateLimitError,
            429,
            "insufficient_quota",
            ErrorKind.QUOTA_EXHAUSTED,
            False,
        ),
        ("server_error", openai.InternalServerError, 500, None, ErrorKind.SERVER_ERROR, True),
        ("overloaded", openai.InternalServerError, 503, None, ErrorKind.OVERLOADED, True),
        ("bad_gateway", openai.InternalServerError, 502, None, ErrorKind.SERVER_ERROR, True),
    ],
)
async def test_status_faults_reach_the_sdk_as_real_errors(
    mode: str,
    backend: EmbeddedBackend,
    injector: FaultInjector,
    fault: str,
    exc_type: type[openai.APIStatusError],
    status: int,
    code: str | None,
    kind: ErrorKind,
    retriable: bool,
) -> None:
    """Fabricated replies become the SDK's own status errors, classified correctly, and never
    reach the backend (injecting them against a paid endpoint costs nothing)."""
    injector.inject(fault)
    with pytest.raises(exc_type) as excinfo:
        await call(mode, backend, injector)
    error = excinfo.value
    assert error.status_code == status
    assert error.code == code
    verdict = classify(error)
    assert (verdict.kind, verdict.retriable, verdict.status) == (kind, retriable, status)
    assert backend.stats()["requests"] == 0
    if fault != "bad_gateway":
        assert error.response.headers["x-request-id"].startswith("req_fault_")
        assert error.body is not None
        assert error.type is not None


async def test_rate_limit_fault_sends_retry_after_and_ratelimit_headers(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """The 429 carries retry-after (s), retry-after-ms and x-ratelimit-* that classify reads."""
    injector.inject("rate_limit", retry_after=2.5, limit=40)
    with pytest.raises(openai.RateLimitError) as excinfo:
        await call(mode, backend, injector)
    headers = excinfo.value.response.headers
    assert headers["retry-after"] == "3"
    assert headers["retry-after-ms"] == "2500"
    assert headers["x-ratelimit-limit-requests"] == "40"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "2.5s"
    assert excinfo.value.body == {
        "message": "Rate limit reached for requests per min (RPM): Limit 40, Used 40, Requested 1. "
        "Please try again in 2.5s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert classify(excinfo.value).retry_after == 2.5


async def test_bad_gateway_body_is_html(mode: str, backend: EmbeddedBackend, injector: FaultInjector) -> None:
    """The 502 looks like a proxy's: text/html, no JSON envelope."""
    injector.inject("bad_gateway")
    with pytest.raises(openai.InternalServerError) as excinfo:
        await call(mode, backend, injector)
    assert excinfo.value.response.headers["content-type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in excinfo.value.response.text


async def test_timeout_hangs_for_the_clients_timeout_then_times_out(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector, clock: FakeClock
) -> None:
    """The request waits exactly the SDK's read timeout on the clock, then APITimeoutError."""
    injector.inject("timeout")
    with pytest.raises(openai.APITimeoutError) as excinfo:
        await call(mode, backend, injector, client_timeout=7.5)
    assert clock.sleeps == [7.5]
    assert isinstance(excinfo.value.__cause__, httpx2.ReadTimeout)
    verdict = classify(excinfo.value)
    assert (verdict.kind, verdict.retriable) == (ErrorKind.TIMEOUT, True)


def test_timeout_without_a_client_timeout_hangs_max_hang(injector: FaultInjector) -> None:
    """A request with no read timeout hangs max_hang seconds (it would hang forever)."""
    injector.inject("timeout", max_hang=42.0)
    plan = injector.decide(POST)
    assert plan is not None
    assert plan.delay == 42.0
    assert plan.error is WireError.READ_TIMEOUT


@pytest.mark.parametrize(
    ("fault", "cause"),
    [("connection_refused", httpx2.ConnectError), ("connection_reset", httpx2.ReadError)],
)
async def test_connection_faults_raise_api_connection_error(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector, fault: str, cause: type[Exception]
) -> None:
    """Refused and reset connections surface as APIConnectionError caused by the transport error."""
    injector.inject(fault)
    with pytest.raises(openai.APIConnectionError) as excinfo:
        await call(mode, backend, injector)
    assert type(excinfo.value) is openai.APIConnectionError
    assert isinstance(excinfo.value.__cause__, cause)
    verdict = classify(excinfo.value)
    assert (verdict.kind, verdict.retriable) == (ErrorKind.NETWORK, True)
    # refused: nothing was sent; reset: the backend answered, the reply was lost on the way
    assert backend.stats()["requests"] == (0 if fault == "connection_refused" else 1)


async def test_slow_delays_the_reply_on_the_clock(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector, clock: FakeClock
) -> None:
    """`slow` forwards the request and the reply arrives `latency` seconds later (no error)."""
    injector.inject("slow", latency=3.25)
    pieces = await call(mode, backend, injector)
    assert pieces[0].startswith("Jitter randomises")
    assert clock.sleeps == [3.25]


async def test_malformed_json_breaks_the_sdks_parser(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """A 200 with truncated JSON makes the SDK raise json.JSONDecodeError.

    classify() does not recognise a decode error as a transport failure, so it is UNKNOWN and not
    retried: a body that does not parse is not assumed to parse next time.
    """
    injector.inject("malformed_json")
    with pytest.raises(json.JSONDecodeError) as excinfo:
        await call(mode, backend, injector)
    verdict = classify(excinfo.value)
    assert (verdict.kind, verdict.retriable) == (ErrorKind.UNKNOWN, False)


async def test_malformed_json_on_a_stream(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """On a stream the broken JSON arrives as an SSE event, and parsing it fails the same way."""
    injector.inject("malformed_json")
    with pytest.raises(json.JSONDecodeError):
        await call(mode, backend, injector, stream=True)


async def test_streaming_without_faults_completes(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """A healthy stream through an armed-but-idle injector delivers the whole answer."""
    injector.inject("stream_cut", start=100.0)  # armed, not yet live
    pieces = await call(mode, backend, injector, stream=True)
    assert "".join(pieces) == (await call(mode, backend, injector))[0]


async def test_stream_cut_raises_after_k_chunks(
    mode: str, backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """The stream delivers `after` chunks, then the SDK raises APIConnectionError (RemoteProtocolError)."""
    injector.inject("stream_cut", after=3)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as excinfo:
        await call(mode, backend, injector, stream=True, sink=received)
    assert len(received) == 3
    assert "".join(received) == "Jitter randomises"  # role chunk "", then two content tokens
    assert isinstance(excinfo.value.__cause__, httpx2.RemoteProtocolError)
    verdict = classify(excinfo.value)
    assert (verdict.kind, verdict.retriable) == (ErrorKind.NETWORK, True)


# --------------------------------------------------------------------------------------------------
# Any transport, both libraries
# --------------------------------------------------------------------------------------------------


def test_fault_transport_wraps_any_httpx2_transport(injector: FaultInjector) -> None:
    """Faults work in front of an arbitrary transport (here a MockTransport standing in for the network)."""
    seen: list[str] = []

    def upstream(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json={"ok": True})

    injector.inject("server_error", count=1)
    with httpx2.Client(transport=FaultTransport(httpx2.MockTransport(upstream), injector)) as client:
        assert client.get("https://api.example.test/v1/models").status_code == 500
        assert client.get("https://api.example.test/v1/models").json() == {"ok": True}
    assert seen == ["https://api.example.test/v1/models"]


def test_plain_httpx_client_gets_faults(backend: EmbeddedBackend, injector: FaultInjector) -> None:
    """HttpxFaultTransport raises httpx's own exceptions and cuts httpx streams."""
    transport = HttpxFaultTransport(backend.httpx_transport(), injector)
    body = {"model": "day6-mini", "messages": MESSAGES}
    with httpx.Client(transport=transport, base_url="http://day6.local") as client:
        injector.inject("overloaded", count=1)
        assert client.post("/v1/chat/completions", json=body).status_code == 503
        injector.inject("connection_refused", count=1)
        with pytest.raises(httpx.ConnectError):
            client.post("/v1/chat/completions", json=body)
        injector.inject("stream_cut", count=1, after=2)
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response,
        ):
            for _ in response.iter_bytes():
                pass
        assert client.post("/v1/chat/completions", json=body).status_code == 200


async def test_plain_httpx_async_client_gets_faults(
    backend: EmbeddedBackend, injector: FaultInjector, clock: FakeClock
) -> None:
    """AsyncHttpxFaultTransport: timeouts wait on the clock and raise httpx.ReadTimeout."""
    transport = AsyncHttpxFaultTransport(backend.httpx_transport(), injector)
    async with httpx.AsyncClient(transport=transport, base_url="http://day6.local", timeout=4.0) as client:
        injector.inject("timeout", count=1)
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/v1/models")
        assert clock.sleeps == [4.0]
        injector.inject("connection_reset", count=1)
        with pytest.raises(httpx.ReadError):
            await client.get("/v1/models")
        assert (await client.get("/v1/models")).status_code == 200


def test_sdk_over_a_plain_httpx_client_gets_faults(backend: EmbeddedBackend, injector: FaultInjector) -> None:
    """The openai SDK also accepts a legacy httpx.Client; the same faults reach it."""
    injector.inject("quota_exhausted")
    http_client = httpx.Client(transport=HttpxFaultTransport(backend.httpx_transport(), injector))
    client = openai.OpenAI(
        api_key="day6-offline", base_url="http://day6.local/v1", max_retries=0, http_client=http_client
    )  # type: ignore[arg-type]
    with client, pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert classify(excinfo.value).kind is ErrorKind.QUOTA_EXHAUSTED


async def test_async_fault_transport_passes_through_when_disarmed(
    backend: EmbeddedBackend, injector: FaultInjector
) -> None:
    """With nothing armed the async transport is a pass-through."""
    async with httpx2.AsyncClient(transport=AsyncFaultTransport(backend.transport(), injector)) as client:
        response = await client.get("http://day6.local/v1/models")
    assert response.status_code == 200
    assert injector.log == ()


def test_faults_are_deterministic_end_to_end(clock: FakeClock) -> None:
    """Same seed, same scenario: the same SDK calls fail the same way."""

    def run() -> list[str]:
        injector = FaultInjector(clock=FakeClock(), rng=random.Random(11))
        injector.activate("flaky")
        outcomes = []
        with make_client(EmbeddedBackend(clock=FakeClock()), injector) as client:
            for _ in range(40):
                try:
                    client.chat.completions.create(model="day6-mini", messages=MESSAGES)  # type: ignore[arg-type]
                    outcomes.append("ok")
                except openai.APIError as error:
                    outcomes.append(classify(error).kind.value)
        return outcomes

    first = run()
    assert first == run()
    assert "ok" in first
    assert len(set(first)) > 1
