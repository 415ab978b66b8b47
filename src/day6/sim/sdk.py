"""Real openai SDK failures, produced offline, for the labs to classify and retry.

A look-alike ``class RateLimitError(Exception)`` would teach nothing about the real SDK: the real
classes wrap an HTTP response, parse ``code`` and ``type`` from its JSON body and keep the headers
(``retry-after``). So :func:`sdk_error` runs the genuine ``openai.OpenAI`` client, with
``max_retries=0`` (one retry layer: day6's), against an ``httpx2.MockTransport`` that answers with
the chosen status, body and headers, and returns the exception the SDK raised. The mock transport
never opens a socket; the API key is a placeholder that is not a secret.

:func:`scripted_call` plays a fixed script of outcomes (raise this, then that, then return), which
is how a lab shows a retry policy at work without a flaky server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from day6.errors import ConfigError

if TYPE_CHECKING:
    import httpx2
    import openai

__all__ = ["ScriptedCall", "scripted_call", "sdk_error", "sdk_network_error"]

_PLACEHOLDER_KEY = "sk-day6-offline-placeholder"
_BASE_URL = "http://127.0.0.1:9/v1"  # loopback discard port; the mock transport answers first
_MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


def _capture(handler: Callable[[httpx2.Request], httpx2.Response]) -> openai.APIError:
    import httpx2
    import openai

    client = openai.OpenAI(
        api_key=_PLACEHOLDER_KEY,
        base_url=_BASE_URL,
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client:
        try:
            client.chat.completions.create(model="day6-demo", messages=_MESSAGES)
        except openai.APIError as exc:
            return exc
    raise AssertionError("the mock transport was expected to make the SDK raise")  # pragma: no cover


def sdk_error(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,  # the API's own field name
    message: str = "simulated by day6",
    headers: Mapping[str, str] | None = None,
) -> openai.APIStatusError:
    """The exception the real SDK raises for an HTTP ``status`` error (``RateLimitError`` for 429, ...).

    ``code`` and ``type`` go into the body ``{"error": {"message", "type", "param", "code"}}`` as
    OpenAI sends it; ``headers`` onto the response (e.g. ``{"retry-after": "2"}``).
    """
    import httpx2
    import openai

    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ConfigError("status", status, "an HTTP error status from 400 to 599")
    body = json.dumps({"error": {"message": message, "type": type, "param": None, "code": code}}).encode()
    all_headers = {"content-type": "application/json", **dict(headers or {})}

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers=all_headers, content=body, request=request)

    exc = _capture(handler)
    assert isinstance(exc, openai.APIStatusError)
    return exc


def sdk_network_error(kind: Literal["connect", "timeout"] = "connect") -> openai.APIConnectionError:
    """The SDK's ``APIConnectionError`` (``"connect"``) or ``APITimeoutError`` (``"timeout"``).

    The transport raises ``httpx2.ConnectError`` or ``httpx2.ReadTimeout``, which the SDK wraps;
    the original is the result's ``__cause__``, as with a real network failure.
    """
    import httpx2
    import openai

    if kind not in ("connect", "timeout"):
        raise ConfigError("kind", kind, "'connect' or 'timeout'")
    error = httpx2.ConnectError if kind == "connect" else httpx2.ReadTimeout

    def handler(request: httpx2.Request) -> httpx2.Response:
        raise error("simulated by day6", request=request)

    exc = _capture(handler)
    assert isinstance(exc, openai.APIConnectionError)
    return exc


class ScriptedCall:
    """A callable that plays its script: each call raises the next exception or returns the next value.

    ``calls`` counts the calls made. Calling past the end of the script raises ``IndexError``.
    """

    def __init__(self, outcomes: tuple[object, ...]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    def __call__(self) -> Any:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def __repr__(self) -> str:
        return f"ScriptedCall({len(self.outcomes)} outcomes, {self.calls} calls made)"


def scripted_call(*outcomes: object) -> ScriptedCall:
    """``scripted_call(sdk_error(503), sdk_error(429), "hello")``: fails twice, then returns "hello"."""
    if not outcomes:
        raise ConfigError("outcomes", outcomes, "at least one outcome")
    return ScriptedCall(outcomes)
