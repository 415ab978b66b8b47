"""classify() and the header parsers: every rule in the errors.py table, on real SDK/httpx objects."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from day6.errors import (
    AgentError,
    BulkheadFullError,
    CircuitOpenError,
    Classification,
    ConfigError,
    ErrorKind,
    FaultInjectedError,
    QuotaExceededError,
    RateLimitedError,
    RateLimitInfo,
    RetryError,
    classify,
    parse_ratelimit_headers,
    parse_reset_duration,
    parse_retry_after,
)
from tests.sdk_helpers import (
    API_KEY,
    async_sdk_error,
    async_sdk_network_error,
    httpx2_response,
    httpx_response,
    sdk_error,
    sdk_network_error,
    sync_client,
)

K = ErrorKind

# (status, code, type, extra headers) -> (kind, retriable); each row runs through the SDK, httpx2,
# httpx responses and HTTPStatusError of both libraries.
HTTP_CASES: list[tuple[int, str | None, str | None, dict[str, str], ErrorKind, bool]] = [
    (429, "rate_limit_exceeded", "requests", {}, K.RATE_LIMIT, True),
    (429, "rate_limit_exceeded", "tokens", {}, K.RATE_LIMIT, True),
    (429, None, None, {}, K.RATE_LIMIT, True),
    (429, "insufficient_quota", "insufficient_quota", {}, K.QUOTA_EXHAUSTED, False),
    (429, "credit_balance_exhausted", None, {}, K.QUOTA_EXHAUSTED, False),
    (429, "billing_hard_limit_reached", None, {}, K.QUOTA_EXHAUSTED, False),
    (429, "usage_limit_exceeded", None, {}, K.QUOTA_EXHAUSTED, False),
    (429, "monthly_spend_cap", None, {}, K.QUOTA_EXHAUSTED, False),
    (429, None, "insufficient_quota", {}, K.QUOTA_EXHAUSTED, False),
    (429, "billing_not_active", "requests", {}, K.QUOTA_EXHAUSTED, False),
    (429, "request_too_large", None, {}, K.CONTEXT_LENGTH, False),
    # OpenAI's "Request too large" TPM 429: refused although the token budget is full.
    (
        429,
        "rate_limit_exceeded",
        "tokens",
        {"x-ratelimit-limit-tokens": "10000", "x-ratelimit-remaining-tokens": "10000"},
        K.CONTEXT_LENGTH,
        False,
    ),
    # ...whereas a tokens 429 with the budget partly spent is an ordinary rate limit.
    (
        429,
        "rate_limit_exceeded",
        "tokens",
        {"x-ratelimit-limit-tokens": "10000", "x-ratelimit-remaining-tokens": "120"},
        K.RATE_LIMIT,
        True,
    ),
    (400, "context_length_exceeded", "invalid_request_error", {}, K.CONTEXT_LENGTH, False),
    (400, "string_above_max_length", "invalid_request_error", {}, K.CONTEXT_LENGTH, False),
    (400, None, "invalid_request_error", {}, K.BAD_REQUEST, False),
    (422, None, None, {}, K.BAD_REQUEST, False),
    (418, None, None, {}, K.BAD_REQUEST, False),
    (401, "invalid_api_key", "invalid_request_error", {}, K.AUTH, False),
    (403, None, None, {}, K.AUTH, False),
    (403, "unsupported_country_region_territory", None, {}, K.AUTH, False),
    (403, "insufficient_quota", None, {}, K.QUOTA_EXHAUSTED, False),
    (403, "invalid_credentials", None, {}, K.AUTH, False),
    (403, "account_suspended", None, {}, K.AUTH, False),
    (429, "quotaExceeded", None, {}, K.QUOTA_EXHAUSTED, False),
    (429, "insufficient-credits", None, {}, K.QUOTA_EXHAUSTED, False),
    (413, "payload_too_large", None, {}, K.CONTEXT_LENGTH, False),
    (402, None, None, {}, K.QUOTA_EXHAUSTED, False),
    (404, "model_not_found", None, {}, K.NOT_FOUND, False),
    (408, None, None, {}, K.TIMEOUT, True),
    (409, None, None, {}, K.CONFLICT, True),
    (413, None, None, {}, K.CONTEXT_LENGTH, False),
    (500, None, "server_error", {}, K.SERVER_ERROR, True),
    (502, None, None, {}, K.SERVER_ERROR, True),
    (504, None, None, {}, K.SERVER_ERROR, True),
    (520, None, None, {}, K.SERVER_ERROR, True),
    (503, None, None, {}, K.OVERLOADED, True),
    (529, None, "overloaded_error", {}, K.OVERLOADED, True),
    # x-should-retry overrides retriability both ways, and keeps the kind.
    (500, None, None, {"x-should-retry": "false"}, K.SERVER_ERROR, False),
    (400, None, None, {"x-should-retry": "true"}, K.BAD_REQUEST, True),
    (429, "insufficient_quota", None, {"X-Should-Retry": "TRUE"}, K.QUOTA_EXHAUSTED, True),
    (503, None, None, {"x-should-retry": "maybe"}, K.OVERLOADED, True),
]
HTTP_IDS = [f"{s}-{c or t or '-'}-{'+'.join(h) or 'nohdr'}" for s, c, t, h, _, _ in HTTP_CASES]


def _check(c: Classification, kind: ErrorKind, retriable: bool) -> None:
    assert (c.kind, c.retriable) == (kind, retriable), c.reason
    assert c.reason
    assert "simulated" not in c.reason  # the message never leaks into the reason


@pytest.mark.parametrize(
    ("status", "code", "etype", "headers", "kind", "retriable"), HTTP_CASES, ids=HTTP_IDS
)
def test_sdk_status_errors(
    status: int,
    code: str | None,
    etype: str | None,
    headers: dict[str, str],
    kind: ErrorKind,
    retriable: bool,
) -> None:
    """A real SDK APIStatusError is classified by status, code, type and headers."""
    exc = sdk_error(status, code=code, type=etype, headers=headers)
    c = classify(exc)
    _check(c, kind, retriable)
    assert c.status == status
    assert c.code == code


@pytest.mark.parametrize(
    ("status", "code", "etype", "headers", "kind", "retriable"), HTTP_CASES, ids=HTTP_IDS
)
def test_http_responses_and_status_errors(
    status: int,
    code: str | None,
    etype: str | None,
    headers: dict[str, str],
    kind: ErrorKind,
    retriable: bool,
) -> None:
    """httpx and httpx2 responses, and their raise_for_status() errors, follow the same rules."""
    r2 = httpx2_response(status, code=code, type=etype, headers=headers)
    r1 = httpx_response(status, code=code, type=etype, headers=headers)
    with pytest.raises(httpx2.HTTPStatusError) as e2:
        r2.raise_for_status()
    with pytest.raises(httpx.HTTPStatusError) as e1:
        r1.raise_for_status()
    for x in (r2, r1, e2.value, e1.value):
        c = classify(x)
        _check(c, kind, retriable)
        assert (c.status, c.code) == (status, code)


async def test_async_sdk_errors_match_sync() -> None:
    """AsyncOpenAI raises errors that classify exactly like the sync client's."""
    exc = await async_sdk_error(429, code="insufficient_quota", headers={"retry-after": "7"})
    assert classify(exc) == classify(sdk_error(429, code="insufficient_quota", headers={"retry-after": "7"}))
    net = await async_sdk_network_error(httpx2.ConnectError)
    assert classify(net).kind is K.NETWORK


@pytest.mark.parametrize(
    ("status", "kind", "retriable"),
    [
        (429, K.RATE_LIMIT, True),
        (500, K.SERVER_ERROR, True),
        (501, K.SERVER_ERROR, True),
        (502, K.SERVER_ERROR, True),
        (503, K.OVERLOADED, True),
        (504, K.SERVER_ERROR, True),
        (529, K.OVERLOADED, True),
        (408, K.TIMEOUT, True),
        (409, K.CONFLICT, True),
        (400, K.BAD_REQUEST, False),
        (422, K.BAD_REQUEST, False),
        (401, K.AUTH, False),
        (403, K.AUTH, False),
        (404, K.NOT_FOUND, False),
        (402, K.QUOTA_EXHAUSTED, False),
        (413, K.CONTEXT_LENGTH, False),
        (200, K.UNKNOWN, False),
        (302, K.UNKNOWN, False),
        (0, K.UNKNOWN, False),
        (-1, K.UNKNOWN, False),
        (10**6, K.UNKNOWN, False),
    ],
)
def test_bare_status_codes(status: int, kind: ErrorKind, retriable: bool) -> None:
    """A bare int is classified as an HTTP status with no code and no headers."""
    c = classify(status)
    _check(c, kind, retriable)
    assert c.retry_after is None


def test_bool_is_not_a_status() -> None:
    """True is an int in Python, but not a status code."""
    assert classify(True).kind is K.UNKNOWN


def test_successful_response_is_not_retried() -> None:
    """A 2xx response handed to classify is not a failure and not retriable."""
    c = classify(httpx2_response(200, body={"ok": True}))
    assert (c.kind, c.retriable, c.status) == (K.UNKNOWN, False, 200)


@pytest.mark.parametrize(
    ("exc_class", "kind", "retriable"),
    [
        ("ConnectError", K.NETWORK, True),
        ("ReadError", K.NETWORK, True),
        ("WriteError", K.NETWORK, True),
        ("CloseError", K.NETWORK, True),
        ("RemoteProtocolError", K.NETWORK, True),
        ("ProxyError", K.NETWORK, True),
        ("ConnectTimeout", K.TIMEOUT, True),
        ("ReadTimeout", K.TIMEOUT, True),
        ("WriteTimeout", K.TIMEOUT, True),
        ("PoolTimeout", K.TIMEOUT, True),
        ("LocalProtocolError", K.BAD_REQUEST, False),
        ("UnsupportedProtocol", K.BAD_REQUEST, False),
        ("DecodingError", K.UNKNOWN, False),
        ("TooManyRedirects", K.UNKNOWN, False),
    ],
)
@pytest.mark.parametrize("lib", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_http_library_exceptions(lib: Any, exc_class: str, kind: ErrorKind, retriable: bool) -> None:
    """httpx and httpx2 transport exceptions map to TIMEOUT/NETWORK (retriable) or a fix-it kind."""
    exc = getattr(lib, exc_class)("simulated", request=lib.Request("GET", "http://127.0.0.1:9/"))
    _check(classify(exc), kind, retriable)


def test_http_library_misc_errors_are_unknown() -> None:
    """InvalidURL is a client bug; stream misuse is not transient either."""
    _check(classify(httpx2.InvalidURL("simulated")), K.BAD_REQUEST, False)
    _check(classify(httpx.InvalidURL("simulated")), K.BAD_REQUEST, False)
    _check(classify(httpx2.StreamConsumed()), K.UNKNOWN, False)
    _check(classify(httpx.ResponseNotRead()), K.UNKNOWN, False)


@pytest.mark.parametrize(
    ("exc_class", "kind", "retriable", "sdk_class"),
    [
        (httpx2.ConnectError, K.NETWORK, True, openai.APIConnectionError),
        (httpx2.ReadError, K.NETWORK, True, openai.APIConnectionError),
        (httpx2.RemoteProtocolError, K.NETWORK, True, openai.APIConnectionError),
        (httpx2.ConnectTimeout, K.TIMEOUT, True, openai.APITimeoutError),
        (httpx2.ReadTimeout, K.TIMEOUT, True, openai.APITimeoutError),
        (httpx2.UnsupportedProtocol, K.BAD_REQUEST, False, openai.APIConnectionError),
    ],
)
def test_sdk_connection_errors(
    exc_class: type[Exception], kind: ErrorKind, retriable: bool, sdk_class: type[Exception]
) -> None:
    """The SDK wraps transport errors; classify looks through to the transport's class."""
    exc = sdk_network_error(exc_class)
    assert type(exc) is sdk_class
    assert isinstance(exc.__cause__, exc_class)
    _check(classify(exc), kind, retriable)


def test_sdk_connection_error_with_unrecognised_cause_is_network() -> None:
    """An APIConnectionError whose cause classify does not know is still a retriable network failure."""

    class _WeirdTransportError(httpx2.TransportError):
        pass

    exc = sdk_network_error(_WeirdTransportError)
    _check(classify(exc), K.NETWORK, True)


def test_sdk_non_json_error_body() -> None:
    """A 502 with an HTML body (a proxy's error page) is still a retriable server error."""
    exc = sdk_error(502, body="<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    c = classify(exc)
    _check(c, K.SERVER_ERROR, True)
    assert c.code is None


def _stream_error(error: dict[str, Any]) -> openai.APIError:
    """The bare APIError the real SDK raises when a 200 stream carries ``data: {"error": ...}``."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        event = json.dumps({"error": {"message": "simulated", **error}})
        body = f"data: {event}\n\ndata: [DONE]\n\n".encode()
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with sync_client(handler) as client:
        stream = client.chat.completions.create(
            model="day6-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError) as info:
            list(stream)
    assert not isinstance(info.value, openai.APIStatusError | openai.APIConnectionError)
    return info.value


def test_sdk_stream_api_error_without_status() -> None:
    """A bare APIError (an error event inside a stream) is classified from its code/type alone."""
    _check(classify(_stream_error({"code": "insufficient_quota"})), K.QUOTA_EXHAUSTED, False)
    _check(classify(_stream_error({"type": "server_error"})), K.SERVER_ERROR, True)
    _check(classify(_stream_error({"code": "rate_limit_exceeded"})), K.RATE_LIMIT, True)
    _check(classify(_stream_error({"code": None, "type": None})), K.UNKNOWN, False)


@pytest.mark.parametrize(
    "exc",
    [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1), GeneratorExit()],
    ids=lambda e: type(e).__name__,
)
def test_cancellation_is_never_retriable(exc: BaseException) -> None:
    """Cancellation kinds are CANCELLED and never retriable."""
    _check(classify(exc), K.CANCELLED, False)


def test_concurrent_futures_cancelled_is_cancelled() -> None:
    """concurrent.futures.CancelledError (a different class from asyncio's) is CANCELLED too."""
    import concurrent.futures

    _check(classify(concurrent.futures.CancelledError()), K.CANCELLED, False)


@pytest.mark.parametrize(
    ("exc", "kind", "retriable"),
    [
        (TimeoutError(), K.TIMEOUT, True),
        (ConnectionRefusedError(), K.NETWORK, True),
        (ConnectionResetError(), K.NETWORK, True),
        (BrokenPipeError(), K.NETWORK, True),
        (OSError(101, "Network is unreachable"), K.NETWORK, True),
        (FileNotFoundError(), K.UNKNOWN, False),
        (PermissionError(), K.UNKNOWN, False),
        (ValueError("simulated"), K.UNKNOWN, False),
        (RuntimeError(), K.UNKNOWN, False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_stdlib_exceptions(exc: BaseException, kind: ErrorKind, retriable: bool) -> None:
    """TimeoutError -> TIMEOUT, socket-level OSErrors -> NETWORK, other errors UNKNOWN and not retried."""
    _check(classify(exc), kind, retriable)


def test_socket_gaierror_and_tls_verification() -> None:
    """DNS failure is a retriable network error; a rejected certificate is a network error not retried."""
    import socket
    import ssl

    _check(classify(socket.gaierror(-2, "Name or service not known")), K.NETWORK, True)
    _check(classify(ssl.SSLCertVerificationError()), K.NETWORK, False)


def test_day6_errors() -> None:
    """day6's own errors: breaker open is CIRCUIT_OPEN, limiter refusals carry their retry_after."""
    c = classify(CircuitOpenError("llm", retry_after=4.5))
    assert (c.kind, c.retriable, c.retry_after) == (K.CIRCUIT_OPEN, False, 4.5)
    assert not c.is_backend_fault
    c = classify(RateLimitedError("simulated", retry_after=0.25))
    assert (c.kind, c.retriable, c.retry_after) == (K.RATE_LIMIT, True, 0.25)
    c = classify(QuotaExceededError("simulated", retry_after=3600.0, resource="tokens"))
    assert (c.kind, c.retriable, c.retry_after) == (K.QUOTA_EXHAUSTED, False, 3600.0)
    c = classify(BulkheadFullError("simulated"))
    assert (c.kind, c.retriable) == (K.RATE_LIMIT, True)
    _check(classify(ConfigError("x", 1, "y")), K.UNKNOWN, False)
    _check(classify(AgentError("simulated")), K.UNKNOWN, False)


def test_fault_injected_error_imitates_its_kind() -> None:
    """An in-process injected fault classifies as the kind it imitates."""
    _check(classify(FaultInjectedError("simulated")), K.SERVER_ERROR, True)
    c = classify(FaultInjectedError("simulated", kind=K.RATE_LIMIT, retry_after=2.0))
    assert (c.kind, c.retriable, c.retry_after) == (K.RATE_LIMIT, True, 2.0)
    _check(classify(FaultInjectedError("simulated", kind=K.AUTH)), K.AUTH, False)


def test_retry_error_is_never_retried_again() -> None:
    """A retry loop that gave up reports its last error's kind but is never retriable (no amplification)."""
    err = RetryError("gave up")
    err.__cause__ = sdk_error(503)
    c = classify(err)
    assert (c.kind, c.retriable) == (K.OVERLOADED, False)
    assert classify(RetryError("gave up")).kind is K.UNKNOWN
    outer = RetryError("outer gave up")
    outer.__cause__ = err
    assert (classify(outer).kind, classify(outer).retriable) == (K.OVERLOADED, False)
    looped = RetryError("cyclic")
    looped.__cause__ = looped
    assert classify(looped).kind is K.UNKNOWN  # no infinite recursion


def test_unrecognised_objects_are_unknown() -> None:
    """Objects that are neither exceptions, responses nor ints are UNKNOWN and not retriable."""
    for x in (None, "503", 3.0, object()):
        _check(classify(x), K.UNKNOWN, False)


class _Unprintable(ConnectionError):
    def __str__(self) -> str:
        raise AssertionError("classify called str() on the exception")

    def __repr__(self) -> str:
        raise AssertionError("classify called repr() on the exception")


def test_classify_never_stringifies_the_exception() -> None:
    """classify never calls str()/repr() on an exception: messages are not a classification input."""
    _check(classify(_Unprintable()), K.NETWORK, True)

    class _UnprintableTransport(httpx2.ConnectError):
        def __str__(self) -> str:
            raise AssertionError("classify called str() on the cause")

    _check(classify(sdk_network_error(_UnprintableTransport)), K.NETWORK, True)


def test_reason_and_code_never_leak_secrets_or_bodies() -> None:
    """Neither the message, nor a sentence-like code, nor the key appears in the verdict."""
    body = {"error": {"message": f"bad key {API_KEY}", "code": f"key {API_KEY} rejected", "type": None}}
    c = classify(sdk_error(401, body=body))
    assert c.kind is K.AUTH
    assert c.code is None
    assert API_KEY not in repr(c)
    assert "bad key" not in c.reason
    as_code = classify(sdk_error(429, code=API_KEY))
    assert as_code.code is None
    assert API_KEY not in repr(as_code)
    assert classify(sdk_error(429, code="x" * 49)).code is None


def test_huge_body_is_not_parsed() -> None:
    """An oversized body is not parsed for a code (errors are small), so it cannot slow classify down."""
    body = {"error": {"code": "insufficient_quota", "message": "x" * 100_000}}
    assert classify(httpx2_response(429, body=body)).kind is K.RATE_LIMIT


def test_unread_streaming_response_is_classified_by_status() -> None:
    """A streamed response whose body was never read is classified from status and headers only."""
    response = httpx2.Response(429, headers={"retry-after": "3"}, stream=httpx2.ByteStream(b"{}"))
    c = classify(response)
    assert (c.kind, c.retry_after) == (K.RATE_LIMIT, 3.0)


# --- retry_after on classifications ------------------------------------------------------------


def test_classification_carries_retry_after() -> None:
    """retry_after comes from retry-after-ms first, then retry-after, on any status."""
    assert classify(sdk_error(503, headers={"retry-after": "5"})).retry_after == 5.0
    both = {"retry-after-ms": "250", "retry-after": "5"}
    assert classify(sdk_error(429, headers=both)).retry_after == 0.25


def test_rate_limit_without_retry_after_uses_exhausted_reset() -> None:
    """A 429 without Retry-After waits for the budget that is exhausted (x-ratelimit-reset-*)."""
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert classify(sdk_error(429, code="rate_limit_exceeded", headers=headers)).retry_after == 360.0
    # Not for non-rate-limit kinds: a spent quota does not come back in a minute.
    assert classify(sdk_error(429, code="insufficient_quota", headers=headers)).retry_after is None


def test_http_date_retry_after_uses_now_wall() -> None:
    """An HTTP-date Retry-After is measured against now_wall (the injected calendar clock)."""
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    c = classify(sdk_error(503, headers={"retry-after": date}), now_wall=now)
    assert c.retry_after == 30.0


# --- parse_retry_after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "20", "retry-after": "9"}, 0.02),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"Retry-After": "4"}, 4.0),
        ({"RETRY-AFTER-MS": "100"}, 0.1),
        ({"retry-after": "1e999"}, 1e9),
        ({"retry-after": "9" * 5000}, 1e9),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "٣"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after_table(headers: dict[str, str] | None, expected: float | None) -> None:
    """retry-after-ms wins, then retry-after seconds; garbage is None, negatives 0, huge values clamp."""
    assert parse_retry_after(headers, now_wall=0.0) == expected


def test_parse_retry_after_http_dates() -> None:
    """HTTP-dates in the future give the distance from now_wall; past dates mean now (0.0)."""
    now = 1_700_000_000.0
    future = email.utils.formatdate(now + 120, usegmt=True)
    past = email.utils.formatdate(now - 120, usegmt=True)
    assert parse_retry_after({"retry-after": future}, now_wall=now) == 120.0
    assert parse_retry_after({"retry-after": past}, now_wall=now) == 0.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now_wall=now) == 0.0
    assert parse_retry_after({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, now_wall=now) == 1e9
    assert parse_retry_after({"retry-after": "Wed, 99 Foo 2015 07:28:00 GMT"}, now_wall=now) is None
    assert parse_retry_after({"retry-after": future}, now_wall=math.nan) is not None  # falls back to time


def test_parse_retry_after_reads_httpx_headers_case_insensitively() -> None:
    """httpx and httpx2 Headers work as well as plain dicts."""
    assert parse_retry_after(httpx2.Headers({"Retry-After-Ms": "10"})) == 0.01
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "3"})) == 3.0


_HEADER_NAMES = st.sampled_from(
    ["retry-after", "Retry-After", "retry-after-ms", "RETRY-AFTER-MS", "x-ratelimit-reset-tokens"]
)
_ANY_VALUE = st.one_of(
    st.text(),
    st.from_regex(r"[+-]?[0-9]{0,400}(\.[0-9]*)?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.datetimes().map(lambda d: email.utils.format_datetime(d)),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _sane(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0.0 <= value <= 1e9)


@given(st.dictionaries(st.one_of(_HEADER_NAMES, st.text()), _ANY_VALUE), st.floats())
def test_parse_retry_after_never_raises_and_stays_sane(headers: dict[str, str], now_wall: float) -> None:
    """Any headers, any now_wall: no exception, and the result is None or finite in [0, 1e9]."""
    assert _sane(parse_retry_after(headers, now_wall=now_wall))


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",))))
def test_parse_retry_after_digitless_garbage_is_none(value: str) -> None:
    """A value without any digit is neither seconds nor an HTTP-date."""
    assert parse_retry_after({"retry-after": value, "retry-after-ms": value}) is None


@given(st.floats(min_value=0.0, max_value=1e8, allow_nan=False))
def test_parse_retry_after_seconds_round_trip(seconds: float) -> None:
    """Any non-negative number written out is read back exactly (up to the cap)."""
    assert parse_retry_after({"retry-after": repr(seconds)}) == seconds


# --- parse_reset_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("7m12s", 432.0),
        ("2.844s", 2.844),
        ("1h2m3s", 3723.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("250ns", 2.5e-7),
        ("1m30.5s", 90.5),
        (" 20ms ", 0.02),
        ("0", 0.0),
        ("20", 20.0),
        ("0.5", 0.5),
        ("-1s", 0.0),
        ("+2s", 2.0),
        ("99999999999999h", 1e9),
        ("", None),
        ("soon", None),
        ("1x", None),
        ("1s garbage", None),
        ("s", None),
        ("1 s", None),
        ("--1s", None),
        ("nan", None),
        ("inf", None),
        (None, None),
    ],
)
def test_parse_reset_duration_table(text: str | None, expected: float | None) -> None:
    """Go-style durations as OpenAI sends them; garbage is None, negatives 0, huge values clamp."""
    result = parse_reset_duration(text)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert math.isclose(result, expected, rel_tol=1e-12)


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(_UNITS))), min_size=1, max_size=5))
def test_parse_reset_duration_sums_its_parts(parts: list[tuple[int, str]]) -> None:
    """A duration made of number+unit parts reads as the sum of its parts."""
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = min(sum(n * _UNITS[unit] for n, unit in parts), 1e9)
    result = parse_reset_duration(text)
    assert result is not None
    assert math.isclose(result, expected, rel_tol=1e-9, abs_tol=1e-12)


@given(st.text())
def test_parse_reset_duration_never_raises(text: str) -> None:
    """Any text: no exception, and the result is None or finite in [0, 1e9]."""
    assert _sane(parse_reset_duration(text))


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",))))
def test_parse_reset_duration_digitless_garbage_is_none(text: str) -> None:
    """Text without a digit is never a duration."""
    assert parse_reset_duration(text) is None


# --- parse_ratelimit_headers ---------------------------------------------------------------------


def test_parse_ratelimit_headers_reads_openai_shape() -> None:
    """The six x-ratelimit-* headers OpenAI sends become a RateLimitInfo."""
    headers = httpx2.Headers(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-tokens": "6ms",
        }
    )
    info = parse_ratelimit_headers(headers)
    assert info == RateLimitInfo(60, 59, 1.0, 150000, 149984, 0.006)
    assert not info.is_empty
    assert info.exhausted_reset is None  # nothing exhausted


def test_parse_ratelimit_headers_garbage_and_edges() -> None:
    """Garbage is None, negative counts are 0, huge counts clamp, plain dicts match any case."""
    info = parse_ratelimit_headers(
        {
            "X-RateLimit-Limit-Requests": "lots",
            "X-RATELIMIT-REMAINING-REQUESTS": "-5",
            "x-ratelimit-limit-tokens": "9" * 5000,
            "x-ratelimit-remaining-tokens": "1.5",
            "x-ratelimit-reset-tokens": "later",
        }
    )
    assert info == RateLimitInfo(None, 0, None, 10**18, None, None)
    assert parse_ratelimit_headers({}).is_empty
    assert parse_ratelimit_headers(None).is_empty


def test_exhausted_reset_rules() -> None:
    """The wait is the longest reset among exhausted budgets; unknown remaining -> longest reset."""
    assert RateLimitInfo(remaining_requests=0, reset_requests=2.0, reset_tokens=9.0).exhausted_reset == 2.0
    both = RateLimitInfo(remaining_requests=0, reset_requests=2.0, remaining_tokens=0, reset_tokens=9.0)
    assert both.exhausted_reset == 9.0
    assert RateLimitInfo(reset_requests=2.0, reset_tokens=9.0).exhausted_reset == 9.0
    assert RateLimitInfo().exhausted_reset is None


_RL_NAMES = st.sampled_from(
    [
        f"x-ratelimit-{what}-{unit}"
        for what in ("limit", "remaining", "reset")
        for unit in ("requests", "tokens")
    ]
)


@given(st.dictionaries(st.one_of(_RL_NAMES, _RL_NAMES.map(str.upper), st.text()), _ANY_VALUE))
def test_parse_ratelimit_headers_never_raises(headers: dict[str, str]) -> None:
    """Any headers: no exception; counts are None or non-negative ints; resets are sane."""
    info = parse_ratelimit_headers(headers)
    for count in (info.limit_requests, info.remaining_requests, info.limit_tokens, info.remaining_tokens):
        assert count is None or 0 <= count <= 10**18
    assert _sane(info.reset_requests)
    assert _sane(info.reset_tokens)
    assert _sane(info.exhausted_reset)


_ASCII_VALUE = _ANY_VALUE.filter(lambda v: v.isascii())
_CLASSIFY_HEADERS = st.sampled_from(["retry-after", "retry-after-ms", "x-should-retry"])


@given(
    st.integers(min_value=100, max_value=599),
    st.dictionaries(_CLASSIFY_HEADERS, st.one_of(_ASCII_VALUE, st.sampled_from(["true", "false", " TRUE "]))),
)
def test_classify_any_status_and_headers_is_sane(status: int, headers: dict[str, str]) -> None:
    """Any status with any retry headers: no exception, sane retry_after, x-should-retry obeyed."""
    c = classify(httpx2_response(status, headers=headers))
    assert _sane(c.retry_after)
    assert c.status == status
    said = {k.lower(): v.strip().lower() for k, v in headers.items()}.get("x-should-retry")
    expected = said == "true" if said in ("true", "false") else c.kind.retriable_by_default
    assert c.retriable == expected


def test_retriable_by_default_matches_the_table() -> None:
    """Exactly the transient kinds are retriable by default; every backend fault is transient."""
    transient = {K.RATE_LIMIT, K.SERVER_ERROR, K.OVERLOADED, K.TIMEOUT, K.NETWORK, K.CONFLICT}
    assert {k for k in K if k.retriable_by_default} == transient
    assert {k for k in K if k.is_backend_fault} <= transient


def test_errors_module_does_not_import_http_libraries() -> None:
    """Loading day6/errors.py imports neither openai, httpx nor httpx2 (import day6 stays cheap)."""
    import day6.errors

    path = Path(day6.errors.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('errors_alone', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['errors_alone'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "assert mod.classify(503).kind.value == 'overloaded'\n"
        "print(','.join(m for m in ('openai', 'httpx', 'httpx2', 'anyio') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
