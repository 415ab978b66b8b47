"""The embedded OpenAI-compatible backend: answers, streaming, tokens, limits and error shapes.

The SDK-level tests use the real ``openai`` client through :func:`day6.backend.make_client`;
request shapes the SDK refuses to send (broken JSON, wrong types) go through the core's
``handle`` or a plain httpx2 client, as a misbehaving client would send them.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import httpx
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.backend import (
    OFFLINE_API_KEY,
    BackendResponse,
    EmbeddedBackend,
    count_tokens,
    make_client,
    respond,
    split_tokens,
)
from day6.clock import FakeClock
from day6.errors import ConfigError, ErrorKind, classify

ASK = [{"role": "user", "content": "What is a token bucket?"}]
CHAT = "/v1/chat/completions"
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture
def backend(clock: FakeClock) -> EmbeddedBackend:
    return EmbeddedBackend(clock=clock)


def post(backend: EmbeddedBackend, payload: object) -> BackendResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return backend.handle("POST", CHAT, JSON_HEADERS, body)


def error_of(response: BackendResponse) -> dict[str, Any]:
    envelope = response.json()
    assert set(envelope) == {"error"}
    assert set(envelope["error"]) == {"message", "type", "param", "code"}
    assert response.header("content-type") == "application/json"
    return dict(envelope["error"])


# --------------------------------------------------------------------------------------------------
# Tokens and the responder
# --------------------------------------------------------------------------------------------------


def test_token_examples() -> None:
    """Words and single punctuation marks are tokens."""
    assert count_tokens("Don't panic!") == 5
    assert split_tokens("Don't panic!") == ["Don", "'", "t", " panic", "!"]
    assert count_tokens("") == 0
    assert count_tokens("   ") == 0


@given(st.text())
def test_split_tokens_rebuilds_the_text(text: str) -> None:
    """Joining the pieces gives the text back, and there is one piece per counted token."""
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    if count_tokens(text):
        assert len(pieces) == count_tokens(text)


@pytest.mark.parametrize(
    ("prompt", "starts"),
    [
        ("What is jitter?", "Jitter randomises"),
        ("explain the CIRCUIT BREAKER please", "A circuit breaker stops"),
        ("what does half-open mean for a circuit breaker", "Half-open is"),
        ("the server sent Retry-After: 3, should I retry?", "Retry-After is"),
        ("token bucket vs sliding window", "A token bucket holds"),
        ("we got 429s all day", "A rate limit caps"),
        ("insufficient_quota again", "A quota is"),
        ("what is a bulkhead", "A bulkhead caps"),
        ("chaos testing and fault injection", "Fault injection makes"),
        ("what's our SLA?", "An SLA"),
        ("exponential backoff", "Backoff is"),
    ],
)
def test_responder_explains_workbook_terms(prompt: str, starts: str) -> None:
    """The earliest term mentioned (the longest at a tie) is explained."""
    assert respond(prompt).startswith(starts)


def test_responder_echoes_and_greets() -> None:
    """Unknown prompts are echoed; greetings list the topics; large models point into day6."""
    assert respond("The weather is nice") == "You said: The weather is nice"
    greeting = respond("hello")
    assert "circuit breaker" in greeting
    assert "token bucket" in greeting
    assert respond("what is jitter", model="day6-large").endswith(
        "In day6: day6.backoff implements proportional, full, equal and decorrelated jitter."
    )


# --------------------------------------------------------------------------------------------------
# Chat completions through the real SDK
# --------------------------------------------------------------------------------------------------


def test_completion_through_the_sdk(backend: EmbeddedBackend, clock: FakeClock) -> None:
    """A full reply: the answer, usage counts, ids, created from the clock, x-request-id."""
    with make_client(backend) as client:
        raw = client.chat.completions.with_raw_response.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
        reply = raw.parse()
    answer = respond("What is a token bucket?")
    assert reply.choices[0].message.content == answer
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "day6-mini"
    assert reply.created == int(clock.wall())
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == count_tokens("What is a token bucket?") + 3 + 3
    assert reply.usage.completion_tokens == count_tokens(answer)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert raw.headers["x-request-id"] == "req_day6_00000001"
    assert reply.id == "chatcmpl-day6-00000001"


async def test_async_completion_and_streaming(backend: EmbeddedBackend) -> None:
    """AsyncOpenAI gets the same answer whole and streamed."""
    async with make_client(backend, async_=True) as client:
        whole = await client.chat.completions.create(model="day6-large", messages=ASK)  # type: ignore[arg-type]
        pieces = [
            chunk.choices[0].delta.content or ""
            async for chunk in await client.chat.completions.create(
                model="day6-large", messages=ASK, stream=True
            )  # type: ignore[arg-type]
        ]
    assert "".join(pieces) == whole.choices[0].message.content
    assert "In day6:" in "".join(pieces)


def test_stream_frames_usage_and_done(backend: EmbeddedBackend) -> None:
    """A stream: role chunk, one chunk per token, a finish chunk, the usage chunk, [DONE]."""
    reply = post(
        backend,
        {"model": "day6-mini", "messages": ASK, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert reply.status == 200
    assert reply.header("content-type") == "text/event-stream; charset=utf-8"
    assert reply.chunks is not None
    assert reply.chunks[-1] == b"data: [DONE]\n\n"
    events = [json.loads(c.removeprefix(b"data: ")) for c in reply.chunks[:-1]]
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in reply.chunks)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    tokens = [e["choices"][0]["delta"]["content"] for e in events[1:-2]]
    assert "".join(tokens) == respond("What is a token bucket?")
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == len(tokens)
    assert all(e["usage"] is None for e in events[:-1])


def test_stream_without_include_usage_has_no_usage(backend: EmbeddedBackend) -> None:
    """Without stream_options.include_usage no chunk carries a usage field."""
    with make_client(backend) as client:
        chunks = list(client.chat.completions.create(model="day6-mini", messages=ASK, stream=True))  # type: ignore[arg-type]
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_max_tokens_truncates_with_finish_reason_length(backend: EmbeddedBackend) -> None:
    """max_tokens cuts the answer to that many tokens and says why."""
    with make_client(backend) as client:
        reply = client.chat.completions.create(model="day6-mini", messages=ASK, max_tokens=4)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "A token bucket holds"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4


def test_n_returns_several_choices(backend: EmbeddedBackend) -> None:
    """n=3 gives three identical (deterministic) choices, counted in usage."""
    reply = post(backend, {"model": "day6-mini", "messages": ASK, "n": 3}).json()
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2]
    assert reply["usage"]["completion_tokens"] == 3 * count_tokens(respond("What is a token bucket?"))


def test_answers_the_last_user_message_and_accepts_content_parts(backend: EmbeddedBackend) -> None:
    """System and earlier turns are context; the last user message (text parts joined) is answered."""
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is jitter?"},
        {"role": "assistant", "content": None},
        {
            "role": "user",
            "content": [{"type": "text", "text": "And a"}, {"type": "text", "text": "bulkhead?"}],
        },
    ]
    reply = post(backend, {"model": "day6-mini", "messages": messages}).json()
    assert reply["choices"][0]["message"]["content"].startswith("A bulkhead caps")


def test_models_endpoints(backend: EmbeddedBackend) -> None:
    """GET /v1/models lists the models; an unknown id is a 404 NotFoundError."""
    with make_client(backend) as client:
        assert [m.id for m in client.models.list()] == ["day6-mini", "day6-large"]
        assert client.models.retrieve("day6-large").owned_by == "day6"
        with pytest.raises(openai.NotFoundError) as excinfo:
            client.models.retrieve("gpt-17")
    assert classify(excinfo.value).kind is ErrorKind.NOT_FOUND


def test_plain_httpx_transport_serves_the_backend(backend: EmbeddedBackend) -> None:
    """backend.httpx_transport() serves plain httpx clients, streams included."""
    with httpx.Client(transport=backend.httpx_transport(), base_url="http://day6.local") as client:
        body = {"model": "day6-mini", "messages": ASK, "stream": True}
        with client.stream("POST", CHAT, json=body) as response:
            text = response.read().decode()
    assert text.endswith("data: [DONE]\n\n")


def test_responses_are_deterministic(clock: FakeClock) -> None:
    """Two backends fed the same requests answer byte for byte the same."""

    def run() -> list[bytes]:
        b = EmbeddedBackend(clock=FakeClock())
        return [post(b, {"model": "day6-mini", "messages": ASK}).body for _ in range(3)]

    assert run() == run()


# --------------------------------------------------------------------------------------------------
# Error shapes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status", "code", "param"),
    [
        (b"{not json", 400, None, None),
        (b"", 400, None, None),
        ([1, 2], 400, None, None),
        ({"messages": ASK}, 400, "missing_required_parameter", "model"),
        ({"model": 7, "messages": ASK}, 400, "invalid_type", "model"),
        ({"model": "gpt-17", "messages": ASK}, 404, "model_not_found", None),
        ({"model": "day6-mini"}, 400, "missing_required_parameter", "messages"),
        ({"model": "day6-mini", "messages": "hi"}, 400, "invalid_type", "messages"),
        ({"model": "day6-mini", "messages": []}, 400, "empty_array", "messages"),
        ({"model": "day6-mini", "messages": ["hi"]}, 400, "invalid_type", "messages[0]"),
        (
            {"model": "day6-mini", "messages": [{"content": "hi"}]},
            400,
            "missing_required_parameter",
            "messages[0]",
        ),
        (
            {"model": "day6-mini", "messages": [{"role": "boss", "content": "x"}]},
            400,
            "invalid_value",
            "messages[0].role",
        ),
        (
            {"model": "day6-mini", "messages": [{"role": "user"}]},
            400,
            "missing_required_parameter",
            "messages[0].content",
        ),
        (
            {"model": "day6-mini", "messages": [{"role": "user", "content": 5}]},
            400,
            "invalid_type",
            "messages[0].content",
        ),
        ({"model": "day6-mini", "messages": ASK, "stream": "yes"}, 400, "invalid_type", "stream"),
        ({"model": "day6-mini", "messages": ASK, "stream_options": {}}, 400, None, "stream_options"),
        (
            {"model": "day6-mini", "messages": ASK, "max_tokens": 0},
            400,
            "integer_below_min_value",
            "max_tokens",
        ),
        ({"model": "day6-mini", "messages": ASK, "max_tokens": "9"}, 400, "invalid_type", "max_tokens"),
        ({"model": "day6-mini", "messages": ASK, "n": 500}, 400, "integer_above_max_value", "n"),
    ],
)
def test_malformed_requests_get_the_apis_error_shape(
    backend: EmbeddedBackend, payload: object, status: int, code: str | None, param: str | None
) -> None:
    """Bad JSON, missing or mistyped fields and unknown models answer 400/404 in the API's envelope."""
    response = post(backend, payload)
    assert response.status == status
    error = error_of(response)
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert error["message"]
    assert response.header("x-request-id") is not None


def test_unknown_path_and_wrong_method(backend: EmbeddedBackend) -> None:
    """Unknown URLs are 404 "Invalid URL"; GET on chat completions is 405."""
    missing = backend.handle("POST", "/v1/embeddings", {}, b"{}")
    assert missing.status == 404
    assert error_of(missing)["message"] == "Invalid URL (POST /v1/embeddings)"
    assert backend.handle("GET", CHAT, {}, b"").status == 405


def test_sdk_sees_bad_request_and_unknown_model(backend: EmbeddedBackend) -> None:
    """The SDK raises BadRequestError / NotFoundError, classified as not retriable."""
    with make_client(backend) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(model="gpt-17", messages=ASK)  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="day6-mini", messages=[])
    assert missing.value.code == "model_not_found"
    assert (classify(missing.value).kind, classify(missing.value).retriable) == (ErrorKind.NOT_FOUND, False)
    assert (classify(bad.value).kind, classify(bad.value).retriable) == (ErrorKind.BAD_REQUEST, False)


def test_context_length_exceeded(clock: FakeClock) -> None:
    """A prompt plus max_tokens beyond the context window is a 400 context_length_exceeded."""
    backend = EmbeddedBackend(clock=clock, context_window=64)
    long_prompt = [{"role": "user", "content": "word " * 100}]
    with make_client(backend) as client, pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(model="day6-mini", messages=long_prompt)  # type: ignore[arg-type]
    assert excinfo.value.code == "context_length_exceeded"
    assert classify(excinfo.value).kind is ErrorKind.CONTEXT_LENGTH


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    st.sampled_from([CHAT, "/v1/models", "/v1/models/day6-mini", "/", "/v1/chat/completions?x=1", "//"]),
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "model": st.sampled_from(["day6-mini", 3, None]),
                "messages": st.lists(
                    st.dictionaries(
                        st.sampled_from(["role", "content"]),
                        st.one_of(st.text(max_size=5), st.integers(), st.none()),
                    ),
                    max_size=3,
                ),
            }
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_any_request_gets_a_well_formed_reply(method: str, path: str, body: bytes) -> None:
    """Whatever arrives, the backend answers with a status and, on error, the JSON envelope."""
    response = EmbeddedBackend(clock=FakeClock()).handle(method, path, {}, body)
    assert response.header("x-request-id") is not None
    if response.status >= 400:
        assert response.status in {400, 404, 405}
        error_of(response)
    else:
        assert response.status == 200


# --------------------------------------------------------------------------------------------------
# Server-side limits, latency, capacity
# --------------------------------------------------------------------------------------------------


def test_rpm_limit_returns_429_with_headers_then_recovers(clock: FakeClock) -> None:
    """Past the RPM budget: a real 429 with retry-after and x-ratelimit-*; waiting it out works."""
    backend = EmbeddedBackend(clock=clock, requests_per_minute=3)
    with make_client(backend) as client:
        remaining = []
        for _ in range(3):
            raw = client.chat.completions.with_raw_response.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
            remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert remaining == ["2", "1", "0"]
        with pytest.raises(openai.RateLimitError) as excinfo:
            client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
        error = excinfo.value
        headers = error.response.headers
        assert error.code == "rate_limit_exceeded"
        assert error.type == "requests"
        assert headers["retry-after"] == "20"
        assert headers["retry-after-ms"] == "20000"
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"] == "1m0s"
        assert "Limit 3, Used 3, Requested 1" in error.message
        verdict = classify(error)
        assert (verdict.kind, verdict.retriable, verdict.retry_after) == (ErrorKind.RATE_LIMIT, True, 20.0)
        clock.advance(verdict.retry_after)
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert backend.stats() == {"requests": 5, "ok": 4, "rate_limited": 1, "overloaded": 0, "errors": 0}


def test_tpm_limit_counts_prompt_and_completion_tokens(clock: FakeClock) -> None:
    """The TPM bucket is charged prompt + completion tokens; a request too large can never pass."""
    backend = EmbeddedBackend(clock=clock, tokens_per_minute=100)
    first = post(backend, {"model": "day6-mini", "messages": [{"role": "user", "content": "hi there"}]})
    used = first.json()["usage"]["total_tokens"]
    assert first.header("x-ratelimit-remaining-tokens") == str(100 - used)
    refused = post(backend, {"model": "day6-mini", "messages": ASK})
    assert refused.status == 429
    assert error_of(refused)["type"] == "tokens"
    assert float(refused.header("retry-after-ms") or 0) > 0
    huge = post(backend, {"model": "day6-mini", "messages": [{"role": "user", "content": "x " * 200}]})
    assert huge.status == 429
    assert error_of(huge)["message"].startswith("Request too large for day6-mini on tokens per min (TPM)")


def test_limits_hold_under_concurrent_callers(clock: FakeClock) -> None:
    """Eight threads racing for a 20-RPM budget get exactly 20 replies while time stands still."""
    backend = EmbeddedBackend(clock=clock, requests_per_minute=20)
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            status = post(backend, {"model": "day6-mini", "messages": ASK}).status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 20
    assert statuses.count(429) == 60


def test_latency_model_sleeps_on_the_clock(clock: FakeClock) -> None:
    """Whole replies wait base + per-token latency; streams wait base, then per token."""
    backend = EmbeddedBackend(clock=clock, base_latency=0.25, per_token_latency=0.01)
    answer_tokens = count_tokens(respond("What is a token bucket?"))
    with make_client(backend) as client:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
        assert clock.sleeps == [pytest.approx(0.25 + 0.01 * answer_tokens)]
        clock.sleeps.clear()
        chunks = list(client.chat.completions.create(model="day6-mini", messages=ASK, stream=True))  # type: ignore[arg-type]
    assert clock.sleeps[0] == 0.25
    assert clock.sleeps[1:] == [0.01] * (len(chunks))  # between every pair of frames, incl. [DONE]


def test_latency_jitter_is_seeded_and_bounded() -> None:
    """Jittered latencies stay within base * (1 +- j) and repeat exactly with the same seed."""

    def latencies(seed: int) -> list[float]:
        backend = EmbeddedBackend(
            clock=FakeClock(), rng=random.Random(seed), base_latency=1.0, latency_jitter=0.2
        )
        return [
            post(backend, {"model": "day6-mini", "messages": ASK, "stream": True}).latency for _ in range(50)
        ]

    first = latencies(5)
    assert first == latencies(5)
    assert first != latencies(6)
    assert all(0.8 <= x <= 1.2 for x in first)
    assert max(first) - min(first) > 0.2  # it really spreads


def test_max_concurrent_sheds_load_with_503(clock: FakeClock) -> None:
    """Beyond max_concurrent replies in production, a request gets 503 until one finishes."""
    backend = EmbeddedBackend(clock=clock, base_latency=1.0, max_concurrent=2)
    body = {"model": "day6-mini", "messages": ASK}
    assert [post(backend, body).status for _ in range(3)] == [200, 200, 503]
    shed = post(backend, body)
    assert error_of(shed)["type"] == "server_error"
    assert classify(httpx2.Response(shed.status, content=shed.body)).kind is ErrorKind.OVERLOADED
    clock.advance(1.0)
    assert post(backend, body).status == 200


def test_api_key_is_enforced_and_never_echoed(clock: FakeClock) -> None:
    """With api_key set, a wrong key gets 401 invalid_api_key; the key appears nowhere."""
    secret = "sk-day6-secret-value-123"
    backend = EmbeddedBackend(clock=clock, api_key=secret)
    with make_client(backend) as client, pytest.raises(openai.AuthenticationError) as excinfo:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert excinfo.value.code == "invalid_api_key"
    assert classify(excinfo.value).kind is ErrorKind.AUTH
    with make_client(backend, api_key=secret) as client:
        client.chat.completions.create(model="day6-mini", messages=ASK)  # type: ignore[arg-type]
    assert secret not in repr(backend)
    assert secret not in excinfo.value.response.text
    assert OFFLINE_API_KEY not in excinfo.value.response.text


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"requests_per_minute": 0}, "requests_per_minute"),
        ({"tokens_per_minute": -5}, "tokens_per_minute"),
        ({"requests_per_minute": 2.5}, "requests_per_minute"),
        ({"base_latency": -0.1}, "base_latency"),
        ({"per_token_latency": float("nan")}, "per_token_latency"),
        ({"base_latency": float("inf")}, "base_latency"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"context_window": 0}, "context_window"),
        ({"models": ()}, "models"),
        ({"models": "day6-mini"}, "models"),
        ({"api_key": ""}, "api_key"),
        ({"latency_jitter": 1.5}, "latency_jitter"),
        ({"latency_jitter": -0.1}, "latency_jitter"),
    ],
)
def test_invalid_settings_raise_config_error(kwargs: dict[str, Any], setting: str) -> None:
    """Each invalid setting is refused at construction, naming the setting."""
    with pytest.raises(ConfigError) as excinfo:
        EmbeddedBackend(**kwargs)
    assert excinfo.value.setting == setting


def test_make_client_rejects_a_negative_timeout() -> None:
    """make_client validates its timeout like every other setting."""
    with pytest.raises(ConfigError, match="timeout"):
        make_client(timeout=-1.0)


def test_make_client_defaults_to_one_retry_layer() -> None:
    """The SDK's own retries are off and the offline key is used."""
    with make_client() as client:
        assert client.max_retries == 0
        assert client.api_key == OFFLINE_API_KEY
