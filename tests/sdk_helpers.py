"""Real openai SDK errors and responses, produced by the real client over a mock transport.

A test that hand-builds a look-alike ``RateLimitError`` proves nothing about the SDK: the real
classes take a response, parse the body into ``code``/``type`` and wrap transport exceptions with
``__cause__``. So every helper here runs the genuine ``openai.OpenAI`` (or ``AsyncOpenAI``) client,
with ``max_retries=0`` (one retry layer: ours), against an ``httpx2.MockTransport`` that answers
with a chosen status, JSON body and headers, or raises a chosen httpx2 exception. Nothing leaves
the process: the mock transport never opens a socket.

Usage::

    from tests.sdk_helpers import sdk_error, sdk_network_error
    err = sdk_error(429, code="rate_limit_exceeded", headers={"retry-after": "2"})
    err = sdk_network_error(httpx2.ConnectError)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import httpx2
import openai

__all__ = [
    "API_KEY",
    "BASE_URL",
    "ExcFactory",
    "Handler",
    "async_client",
    "async_sdk_error",
    "async_sdk_network_error",
    "error_body",
    "httpx2_response",
    "httpx_response",
    "json_handler",
    "raising_handler",
    "sdk_error",
    "sdk_network_error",
    "sync_client",
]

API_KEY = "sk-day6-test-key-not-a-secret"
"""A fake key; tests assert it never shows up in reasons, reprs or logs."""

BASE_URL = "http://127.0.0.1:9/v1"
"""Loopback discard port: even a misconfigured client could not reach anything real."""

Handler = Callable[[httpx2.Request], httpx2.Response]
ExcFactory = Callable[[httpx2.Request], BaseException]
"""Builds the exception a transport raises for a request. The helpers also accept a bare exception
class: an httpx2 ``RequestError`` subclass is built as ``cls(message, request=request)``, any other
class as ``cls(message)``."""

_DEFAULT_MESSAGE = "simulated error from day6 tests"


def error_body(
    *,
    code: str | None = None,
    type: str | None = None,  # the API's own field name
    message: str = _DEFAULT_MESSAGE,
    param: str | None = None,
) -> dict[str, Any]:
    """The JSON body OpenAI sends with an error: ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _encode(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def json_handler(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> Handler:
    """A mock-transport handler answering every request with ``status``.

    ``body`` overrides the default :func:`error_body`; ``bytes``/``str`` are sent raw (for
    non-JSON bodies), anything else as JSON.
    """
    content = _encode(error_body(code=code, type=type) if body is None else body)
    all_headers = {"content-type": "application/json", **dict(headers or {})}

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers=all_headers, content=content, request=request)

    return handler


def _exc_maker(exc_factory: ExcFactory | type[BaseException]) -> ExcFactory:
    if isinstance(exc_factory, type) and issubclass(exc_factory, httpx2.RequestError):
        exc_class = exc_factory
        return lambda request: exc_class("simulated transport failure", request=request)
    if isinstance(exc_factory, type):
        exc_type = exc_factory
        return lambda request: exc_type("simulated transport failure")
    return exc_factory


def raising_handler(exc_factory: ExcFactory | type[BaseException]) -> Handler:
    """A handler that raises ``exc_factory(request)`` (or the given exception class) instead of answering."""
    make = _exc_maker(exc_factory)

    def handler(request: httpx2.Request) -> httpx2.Response:
        raise make(request)

    return handler


def sync_client(handler: Handler) -> openai.OpenAI:
    """A real ``openai.OpenAI`` client with no SDK retries, served by ``handler``."""
    return openai.OpenAI(
        api_key=API_KEY,
        base_url=BASE_URL,
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def async_client(handler: Handler) -> openai.AsyncOpenAI:
    """A real ``openai.AsyncOpenAI`` client with no SDK retries, served by ``handler``."""
    return openai.AsyncOpenAI(
        api_key=API_KEY,
        base_url=BASE_URL,
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


_MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


def _capture(client: openai.OpenAI) -> openai.APIError:
    with client:
        try:
            client.chat.completions.create(model="day6-test", messages=_MESSAGES)
        except openai.APIError as exc:
            return exc
    raise AssertionError("the mock transport was expected to make the SDK raise")


async def _acapture(client: openai.AsyncOpenAI) -> openai.APIError:
    async with client:
        try:
            await client.chat.completions.create(model="day6-test", messages=_MESSAGES)
        except openai.APIError as exc:
            return exc
    raise AssertionError("the mock transport was expected to make the SDK raise")


def sdk_error(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> openai.APIStatusError:
    """The real ``APIStatusError`` subclass the SDK raises for ``status`` (e.g. ``RateLimitError``)."""
    exc = _capture(sync_client(json_handler(status, code=code, type=type, headers=headers, body=body)))
    assert isinstance(exc, openai.APIStatusError), _type_name(exc)
    return exc


async def async_sdk_error(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> openai.APIStatusError:
    """:func:`sdk_error` through ``AsyncOpenAI`` (the async code path of the SDK)."""
    handler = json_handler(status, code=code, type=type, headers=headers, body=body)
    exc = await _acapture(async_client(handler))
    assert isinstance(exc, openai.APIStatusError), _type_name(exc)
    return exc


def sdk_network_error(exc_factory: ExcFactory | type[BaseException]) -> openai.APIConnectionError:
    """The SDK's ``APIConnectionError`` / ``APITimeoutError`` for a transport that raises.

    Pass an httpx2 exception class (``httpx2.ConnectError``, ``httpx2.ReadTimeout``, ...) or a
    factory ``request -> exception``. The transport's exception is the result's ``__cause__``.
    """
    exc = _capture(sync_client(raising_handler(exc_factory)))
    assert isinstance(exc, openai.APIConnectionError), _type_name(exc)
    return exc


async def async_sdk_network_error(exc_factory: ExcFactory | type[BaseException]) -> openai.APIConnectionError:
    """:func:`sdk_network_error` through ``AsyncOpenAI``."""
    exc = await _acapture(async_client(raising_handler(exc_factory)))
    assert isinstance(exc, openai.APIConnectionError), _type_name(exc)
    return exc


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__


def httpx2_response(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> httpx2.Response:
    """An ``httpx2.Response`` as a mock transport would return it (read, with a request attached)."""
    request = httpx2.Request("POST", f"{BASE_URL}/chat/completions")
    return json_handler(status, code=code, type=type, headers=headers, body=body)(request)


def httpx_response(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> httpx.Response:
    """The same response for plain ``httpx`` (the labs use both libraries)."""
    content = _encode(error_body(code=code, type=type) if body is None else body)
    all_headers = {"content-type": "application/json", **dict(headers or {})}
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    return httpx.Response(status, headers=all_headers, content=content, request=request)
