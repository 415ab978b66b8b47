"""An OpenAI-compatible LLM backend that runs inside the process: no key, no network, no cost.

The labs need a chat model that answers instantly in tests, repeats exactly in notebooks, and can
be made to fail on demand. :class:`EmbeddedBackend` is that model. It speaks the parts of the
OpenAI HTTP API the workbook uses, with the API's own shapes:

* ``POST /v1/chat/completions``: a full reply, or a server-sent-event stream ending in
  ``data: [DONE]`` (plus a usage chunk with ``stream_options.include_usage``);
* ``GET /v1/models`` and ``GET /v1/models/{id}``;
* an ``x-request-id`` on every reply, ``usage`` token counts, ``x-ratelimit-*`` headers, and the
  API's JSON error envelope for everything that goes wrong (never a traceback).

Its answers are deterministic and useful: ask it about a resilience term of this workbook
(retry, backoff, jitter, circuit breaker, half-open, token bucket, sliding window, rate limit,
quota, bulkhead, fault injection, SLA, ...) and it explains it; anything else is echoed back as
``"You said: ..."``. ``day6-large`` also says where the idea lives in day6.

It also behaves like a server under load, all on the injected clock:

* **server-side rate limits**: ``requests_per_minute`` / ``tokens_per_minute`` are token buckets
  (capacity = the per-minute limit, refilled continuously at limit/60 per second). A request
  that does not fit gets a real 429 ``rate_limit_exceeded`` with ``retry-after``,
  ``retry-after-ms`` and ``x-ratelimit-*`` headers, exactly what :func:`day6.errors.classify`
  and the retry policy must handle;
* **latency**: ``base_latency + per_token_latency * completion_tokens`` (a stream waits
  ``base_latency`` for the first byte, then ``per_token_latency`` between chunks);
* **capacity**: with ``max_concurrent``, a request arriving while that many replies are still
  being produced is shed with 503 (overloaded).

One transport-independent core, :meth:`EmbeddedBackend.handle`, turns ``(method, path, headers,
body)`` into a :class:`BackendResponse`; it decides but never sleeps. Thin adapters do the
waiting and speak a library: :meth:`~EmbeddedBackend.transport` (httpx2, which the openai SDK
uses), :meth:`~EmbeddedBackend.httpx_transport` (plain httpx), and :class:`BackendServer` (real
HTTP on loopback, what ``day6 serve`` runs). :func:`make_client` wires the SDK to it::

    from day6.backend import make_client
    client = make_client()  # openai.OpenAI, max_retries=0, offline key
    reply = client.chat.completions.create(
        model="day6-mini", messages=[{"role": "user", "content": "What is jitter?"}]
    )

**Tokens.** The tokenizer is deliberately simple and documented rather than faithful: a token is
a run of letters/digits/underscores or a single punctuation character (``"Don't panic!"`` is
``Don ' t panic !``: 5 tokens). Real BPE tokenizers give about 4 characters per token for
English; this one gives a similar count for prose and is exact, fast and dependency free.
A prompt costs the tokens of every message's text, plus 3 per message and 3 for the reply
primer (the framing overhead OpenAI documents for its chat format).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import random
import re
import select
import socket
import struct
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Literal, overload
from urllib.parse import urlsplit

import httpx
import httpx2

from day6._validate import int_at_least, non_negative
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError
from day6.faults import (
    FAULTS,
    SCENARIOS,
    BodyCutter,
    FaultInjector,
    FaultSpec,
    RequestInfo,
    error_body,
    format_reset,
)
from day6.rate_limit import TokenBucket

if TYPE_CHECKING:
    from types import TracebackType

    import openai

__all__ = [
    "DEFAULT_BASE_URL",
    "OFFLINE_API_KEY",
    "BackendResponse",
    "BackendServer",
    "EmbeddedBackend",
    "count_tokens",
    "is_loopback",
    "make_client",
    "respond",
    "split_tokens",
]

OFFLINE_API_KEY = "day6-offline"
"""The placeholder key :func:`make_client` sends; the embedded backend accepts any key by default."""

DEFAULT_BASE_URL = "http://day6.local/v1"
"""The base URL of in-process clients. Never resolved: the transport answers before any DNS."""

_log = logging.getLogger("day6.backend")

# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


def count_tokens(text: str) -> int:
    """Tokens in ``text``: runs of word characters, and single punctuation characters."""
    return len(_TOKEN.findall(text))


def split_tokens(text: str) -> list[str]:
    """``text`` cut into its tokens, each carrying the whitespace before it.

    ``"".join(split_tokens(t)) == t`` for every string, and ``len(split_tokens(t)) ==
    count_tokens(t)`` whenever ``t`` has a token; the stream sends exactly these pieces, so the
    streamed text and the usage count always agree. Trailing whitespace rides on the last piece.
    """
    pieces: list[str] = _TOKEN.findall(text)
    consumed = sum(map(len, pieces))
    if consumed < len(text):
        if pieces:
            pieces[-1] += text[consumed:]
        else:
            pieces = [text]
    return pieces


# --------------------------------------------------------------------------------------------------
# The responder: a tiny, deterministic tutor for this workbook's vocabulary
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    term: str
    pattern: re.Pattern[str]
    answer: str
    where: str


def _entry(term: str, pattern: str, answer: str, where: str) -> _Entry:
    return _Entry(term, re.compile(pattern, re.IGNORECASE), answer, where)


_GLOSSARY: tuple[_Entry, ...] = (
    _entry(
        "retry",
        r"\bretr(?:y|ies|ying|ied)\b",
        "A retry is another attempt at a call that failed for a transient reason: a timeout, a 500, "
        "a 503, a 429. Retry only what can succeed next time (a 400 or an exhausted quota fails the "
        "same way again), bound the attempts and the total time, and wait between attempts.",
        "day6.retry.RetryPolicy decides; its sync, async and simpy drivers act.",
    ),
    _entry(
        "retry-after",
        r"\bretry[\s-]after\b",
        "Retry-After is the server saying when to come back, in seconds or as an HTTP date; "
        "OpenAI-style APIs add retry-after-ms and x-ratelimit-reset-* headers. Wait at least that "
        "long instead of your own backoff: retrying sooner only earns another 429.",
        "day6.errors.classify reads it into Classification.retry_after.",
    ),
    _entry(
        "backoff",
        r"\b(?:exponential\s+)?back-?off\b",
        "Backoff is the growing delay between attempts: base * 2 ** (attempt - 1), capped at a "
        "maximum. Waiting longer after each failure gives a struggling service room to recover "
        "instead of being hammered by its own clients.",
        "day6.backoff holds the delay schedules.",
    ),
    _entry(
        "jitter",
        r"\bjitter\w*\b",
        "Jitter randomises each backoff delay (for example +-25 %, or full jitter: uniform between 0 "
        "and the delay) so that clients which failed together do not retry together. Without it, "
        "retries arrive in synchronised waves: a thundering herd.",
        "day6.backoff implements proportional, full, equal and decorrelated jitter.",
    ),
    _entry(
        "thundering herd",
        r"\bthundering[\s-]+herds?\b",
        "A thundering herd is many clients hitting a service at the same instant, typically because "
        "they all retry on the same schedule after a shared failure. Jitter spreads them out; rate "
        "limits and circuit breakers stop the herd from reaching the service at all.",
        "the thundering-herd experiment in day6.sim shows it, with and without jitter.",
    ),
    _entry(
        "circuit breaker",
        r"\bcircuit[\s-]*breakers?\b|\bbreakers?\b",
        "A circuit breaker stops calling a backend that keeps failing. Closed: calls flow and "
        "failures are counted. Open: past a failure threshold, calls fail fast for a recovery "
        "timeout without touching the backend. Half-open: a few probe calls test it; success "
        "closes the circuit, a failure opens it again.",
        "day6.circuit_breaker.CircuitBreaker.",
    ),
    _entry(
        "half-open",
        r"\bhalf[\s-]?open\b",
        "Half-open is the circuit breaker's trial state: after the recovery timeout, a limited "
        "number of probe calls go through. If they succeed the breaker closes; if one fails it "
        "opens again and the recovery timeout starts over.",
        "day6.circuit_breaker.CircuitBreaker (its probes).",
    ),
    _entry(
        "token bucket",
        r"\btoken[\s-]?buckets?\b",
        "A token bucket holds up to `capacity` tokens and refills at a steady rate; each request "
        "takes a token or waits. It admits bursts up to the capacity while holding the long-run "
        "rate: in any window of t seconds at most capacity + rate * t requests pass.",
        "day6.rate_limit.TokenBucket.",
    ),
    _entry(
        "sliding window",
        r"\bsliding[\s-]?windows?\b",
        "A sliding-window limiter counts the requests of the last N seconds and refuses one that "
        "would exceed the limit. Unlike a fixed window it has no boundary burst: you cannot send a "
        "full window's worth at 0:59 and another at 1:00.",
        "day6.rate_limit.SlidingWindowLimiter.",
    ),
    _entry(
        "adaptive rate limiting",
        r"\badaptive\b|\baimd\b",
        "An adaptive rate limiter changes its own rate from what it observes: it cuts the rate "
        "multiplicatively when errors or 429s rise and raises it additively while calls succeed "
        "(AIMD, as TCP does), so it finds the rate the server accepts without being told.",
        "day6.rate_limit.AdaptiveRateLimiter.",
    ),
    _entry(
        "rate limit",
        r"\brate[\s-]?limit(?:s|ing|ed|er|ers)?\b|\b429s?\b|\brpm\b|\btpm\b",
        "A rate limit caps how many requests (RPM) or tokens (TPM) a client may use per minute. "
        "Past it the server answers 429 with a Retry-After header: honour it rather than retrying "
        "at once, and limit yourself on the client side so you rarely meet the server's limit.",
        "day6.rate_limit (client side); this backend's own RPM/TPM limits (server side).",
    ),
    _entry(
        "quota",
        r"\bquotas?\b|\binsufficient[_\s]quota\b|\bbudget\b",
        "A quota is a budget per period: tokens or money per day or month. When it is spent the API "
        "answers 429 insufficient_quota, and retrying cannot help until the period resets: fail "
        "fast, fall back to something cheaper, or queue the work.",
        "day6.rate_limit.QuotaManager refuses early, before a call is wasted.",
    ),
    _entry(
        "bulkhead",
        r"\bbulkheads?\b",
        "A bulkhead caps how many calls may be in flight at once, like the watertight compartments "
        "of a ship. A slow dependency can then exhaust only its own compartment, not every thread "
        "or connection the application has.",
        "day6.rate_limit.Bulkhead.",
    ),
    _entry(
        "fault injection",
        r"\bfault[\s-]?injections?\b|\bchaos\b|\bfaults?\b",
        "Fault injection makes calls fail on purpose (timeouts, 500s, 429s, cut streams) to prove the "
        "resilience code works before production proves otherwise. Inject at the HTTP transport and "
        "the real SDK meets real error responses.",
        "day6.faults.FaultInjector and its named scenarios (flaky, outage_then_recovery, ...).",
    ),
    _entry(
        "SLA",
        r"\bsla\b|\bslas\b|\bslos?\b|\bservice[\s-]level\b|\berror\s+budget\b",
        "An SLA (service level agreement) promises a level of service, such as 99.9 % of requests "
        "succeeding within 2 s over a month. That leaves an error budget of 0.1 %, about 43 minutes "
        "a month; the SLO is the internal target you track against it.",
        "day6.monitoring tracks SLA compliance and the error budget.",
    ),
    _entry(
        "timeout",
        r"\btime-?outs?\b|\btimed\s+out\b",
        "A timeout bounds how long one attempt may wait; without it a hung connection holds a thread "
        "forever. Choose it from measured latency (a little above p99), not from hope, and pair it "
        "with a deadline for the whole operation.",
        "the timeout= of the openai client, and the deadline of day6.retry.RetryPolicy.",
    ),
    _entry(
        "deadline",
        r"\bdeadlines?\b",
        "A deadline is the total time an operation may take across all its attempts. A retry loop "
        "checks the time left before every attempt and every sleep, and gives up rather than start "
        "an attempt it cannot finish.",
        "day6.retry.RetryPolicy (deadline).",
    ),
    _entry(
        "fallback",
        r"\bfall-?backs?\b|\bgraceful(?:ly)?\s+degrad\w*\b|\bdegrad\w*\b",
        "A fallback is what you answer when the primary path fails: a smaller model, a cached reply, "
        "or an honest 'try again later'. Graceful degradation keeps the core of a service working "
        "at reduced quality instead of failing completely.",
        "day6.agent.ResilientAgent falls back to a second model, then to a canned reply.",
    ),
    _entry(
        "idempotency",
        r"\bidempoten\w*\b",
        "An operation is idempotent when doing it twice has the same effect as doing it once. Only "
        "idempotent calls are safe to retry blindly; for the others, send an idempotency key so the "
        "server can recognise a repeat.",
        "the openai SDK sends an idempotency key with every non-GET request.",
    ),
    _entry(
        "error classification",
        r"\bclassif\w*\b|\bretr[iy]able\b|\btransient\b|\bpermanent\b",
        "Classifying an error decides what to do with it: transient failures (timeouts, 500, 503, "
        "connection resets, 429 rate limits) deserve another attempt; permanent ones (400, 401, "
        "404, an exhausted quota, a prompt that is too long) do not, and retrying them only wastes "
        "time and money.",
        "day6.errors.classify.",
    ),
    _entry(
        "monitoring",
        r"\bmonitor\w*\b|\bmetrics?\b|\bobservability\b|\bhealth\s*checks?\b",
        "Monitoring turns events into numbers you can act on: request rate, error rate by kind, "
        "latency percentiles (p50, p95, p99), breaker state and retry counts. Alert on what users "
        "feel (errors, latency), and check health before you need it.",
        "day6.monitoring.Monitor consumes the events every pattern emits.",
    ),
)

_GREETING = re.compile(r"^\s*(?:hi|hello|hey|good\s+(?:morning|afternoon|evening))\b", re.IGNORECASE)
_HELP = re.compile(r"\b(?:help|topics|what\s+can\s+you)\b", re.IGNORECASE)
_TOPICS = ", ".join(e.term for e in _GLOSSARY)


def respond(prompt: str, *, model: str = "day6-mini") -> str:
    """The embedded model's answer to ``prompt`` (deterministic: same prompt, same answer).

    The first workbook term mentioned (earliest in the text; the longest match when two start
    together, so "retry-after" beats "retry") is explained; a greeting or a request for help
    lists the topics; anything else is echoed as ``"You said: ..."``. Models whose name contains
    ``"large"`` add where the idea lives in day6.
    """
    best: tuple[int, int, _Entry] | None = None
    for entry in _GLOSSARY:
        match = entry.pattern.search(prompt)
        if match is not None:
            key = (match.start(), -(match.end() - match.start()), entry)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is not None:
        entry = best[2]
        if "large" in model:
            return f"{entry.answer} In day6: {entry.where}"
        return entry.answer
    if _GREETING.search(prompt) or _HELP.search(prompt):
        return (
            "Hello! I am day6's offline model. Ask me about any of these and I will explain it: "
            f"{_TOPICS}. Anything else, I repeat back to you."
        )
    return f"You said: {prompt}"


# --------------------------------------------------------------------------------------------------
# Core types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendResponse:
    """One reply of the core, before any transport carries it.

    Exactly one of ``body`` (a complete reply) and ``chunks`` (the server-sent events of a
    stream, each a complete ``data: ...\\n\\n`` frame) carries the content. ``latency`` is how
    long the adapter must wait before sending the headers; ``chunk_interval`` how long between
    two chunks. The core itself never sleeps, so sync, async and socket adapters share it.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    chunks: tuple[bytes, ...] | None = None
    latency: float = 0.0
    chunk_interval: float = 0.0

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def json(self) -> Any:
        """The parsed body of a complete (non-streamed) reply."""
        return json.loads(self.body)


class _APIError(Exception):
    """A request the API refuses; becomes the error envelope (caught inside :meth:`handle`)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers


def _json_kind(value: object) -> str:
    """The API's words for a JSON value's type, as its error messages use them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _invalid_type(param: str, expected: str, value: object) -> _APIError:
    return _APIError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_kind(value)} instead.",
        code="invalid_type",
        param=param,
    )


def _integer(payload: Mapping[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(name, "an integer", value)
    if value < minimum:
        raise _APIError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.",
            code="integer_below_min_value",
            param=name,
        )
    if value > maximum:
        raise _APIError(
            400,
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, "
            f"but got {value} instead.",
            code="integer_above_max_value",
            param=name,
        )
    return value


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _message_text(message: object, index: int) -> tuple[str, str]:
    """(role, text) of one message; text parts of a content array are joined with spaces."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _invalid_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        raise _APIError(
            400,
            f"Missing required parameter: '{where}.role'.",
            code="missing_required_parameter",
            param=where,
        )
    if not isinstance(role, str):
        raise _invalid_type(f"{where}.role", "a string", role)
    if role not in _ROLES:
        raise _APIError(
            400,
            f"Invalid value: '{role}'. Supported values are: {', '.join(sorted(_ROLES))}.",
            code="invalid_value",
            param=f"{where}.role",
        )
    if "content" not in message:
        if role == "assistant":
            return role, ""
        raise _APIError(
            400,
            f"Missing required parameter: '{where}.content'.",
            code="missing_required_parameter",
            param=f"{where}.content",
        )
    content = message["content"]
    if content is None and role == "assistant":
        return role, ""
    if isinstance(content, str):
        return role, content
    if isinstance(content, list):
        texts: list[str] = []
        for part_index, part in enumerate(content):
            if not isinstance(part, dict):
                raise _invalid_type(f"{where}.content[{part_index}]", "an object", part)
            if part.get("type") == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise _invalid_type(f"{where}.content[{part_index}].text", "a string", text)
                texts.append(text)
        return role, " ".join(texts)
    raise _invalid_type(f"{where}.content", "a string or an array", content)


@dataclass(frozen=True, slots=True)
class _ChatRequest:
    model: str
    messages: tuple[tuple[str, str], ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    n: int

    @property
    def prompt(self) -> str:
        """The text the responder answers: the last user message (or the last message at all)."""
        for role, text in reversed(self.messages):
            if role == "user":
                return text
        return self.messages[-1][1]


def _parse_chat(body: bytes, models: Sequence[str]) -> _ChatRequest:
    """Validate a chat-completions body the way the API does, raising its 400/404 errors."""
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise _APIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
            "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
            "sent was not valid JSON.)",
        )
    model = payload.get("model")
    if model is None:
        raise _APIError(
            400, "you must provide a model parameter", code="missing_required_parameter", param="model"
        )
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    if model not in models:
        raise _APIError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if "messages" not in payload:
        raise _APIError(
            400,
            "Missing required parameter: 'messages'.",
            code="missing_required_parameter",
            param="messages",
        )
    raw_messages = payload["messages"]
    if not isinstance(raw_messages, list):
        raise _invalid_type("messages", "an array", raw_messages)
    if not raw_messages:
        raise _APIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            code="empty_array",
            param="messages",
        )
    messages = tuple(_message_text(m, i) for i, m in enumerate(raw_messages))
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    include_usage = False
    options = payload.get("stream_options")
    if options is not None:
        if not stream:
            raise _APIError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        if not isinstance(options, dict):
            raise _invalid_type("stream_options", "an object", options)
        usage_flag = options.get("include_usage", False)
        if not isinstance(usage_flag, bool):
            raise _invalid_type("stream_options.include_usage", "a boolean", usage_flag)
        include_usage = usage_flag
    max_tokens = _integer(payload, "max_completion_tokens", 1, 1_000_000)
    if max_tokens is None:
        max_tokens = _integer(payload, "max_tokens", 1, 1_000_000)
    n = _integer(payload, "n", 1, 128) or 1
    return _ChatRequest(model, messages, stream, include_usage, max_tokens, n)


# --------------------------------------------------------------------------------------------------
# Server-side limits
# --------------------------------------------------------------------------------------------------


def _limit_headers(kind: str, bucket: TokenBucket) -> tuple[tuple[str, str], ...]:
    """``x-ratelimit-{limit,remaining,reset}-{kind}``: the budget, what is left, seconds until full."""
    tokens = bucket.tokens
    return (
        (f"x-ratelimit-limit-{kind}", str(int(bucket.capacity))),
        (f"x-ratelimit-remaining-{kind}", str(max(0, math.floor(tokens)))),
        (f"x-ratelimit-reset-{kind}", format_reset((bucket.capacity - tokens) / bucket.rate)),
    )


def _server_bucket(per_minute: int | None, name: str, clock: Clock) -> TokenBucket | None:
    """A per-minute budget as the API enforces it (``None``: no limit).

    The whole minute's worth may be spent at once, and it refills continuously at
    ``per_minute / 60`` per second, so a client that waits ``retry-after`` always fits.
    """
    if per_minute is None:
        return None
    return TokenBucket(capacity=per_minute, rate=per_minute / 60.0, clock=clock, name=f"server-{name}")


def _check_positive_int(setting: str, value: object, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    int_at_least(setting, value, 1, allowed="must be an integer >= 1" + (", or None" if allow_none else ""))


_SECONDS: Final = "must be a finite number of seconds >= 0"


# --------------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------------

_MODEL_CREATED = 1_767_225_600  # 2026-01-01: a fixed "created" for the model list
_OUTCOMES = {429: "rate_limited", 503: "overloaded"}


class EmbeddedBackend:
    """A deterministic OpenAI-compatible chat backend with server-side limits, on an injected clock.

    Args:
        clock: time for latency, rate-limit refills and in-flight tracking.
        rng: draws the latency jitter (answers and ids never need randomness: ids are
            sequential). Defaults to an unseeded generator when ``latency_jitter`` is set.
        requests_per_minute: server-side RPM limit (a token bucket), or ``None`` for none.
        tokens_per_minute: server-side TPM limit; a request costs prompt + completion tokens.
        base_latency: seconds before the first byte of every successful reply.
        per_token_latency: extra seconds per completion token (between chunks when streaming).
        latency_jitter: spread of the latency, as a fraction: each reply's latency is scaled by a
            uniform factor in ``[1 - j, 1 + j]`` (so percentiles differ from the mean, as real
            ones do). ``0`` (default) keeps every latency exact.
        max_concurrent: replies that may be in production at once; one more gets 503.
        context_window: the most tokens a prompt plus ``max_tokens`` may add up to (400 beyond).
        models: the model ids served; any other id gets 404 ``model_not_found``.
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (401
            otherwise). The key is compared in constant time and never echoed or logged.

    Thread-safe: one lock guards the counters and buckets; nothing sleeps while holding it.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        base_latency: float = 0.0,
        per_token_latency: float = 0.0,
        latency_jitter: float = 0.0,
        max_concurrent: int | None = None,
        context_window: int = 8192,
        models: Sequence[str] = ("day6-mini", "day6-large"),
        api_key: str | None = None,
    ) -> None:
        _check_positive_int("requests_per_minute", requests_per_minute)
        _check_positive_int("tokens_per_minute", tokens_per_minute)
        _check_positive_int("max_concurrent", max_concurrent)
        _check_positive_int("context_window", context_window, allow_none=False)
        self.base_latency = non_negative("base_latency", base_latency, allowed=_SECONDS)
        self.per_token_latency = non_negative("per_token_latency", per_token_latency, allowed=_SECONDS)
        if non_negative("latency_jitter", latency_jitter, allowed=_SECONDS) > 1.0:
            raise ConfigError("latency_jitter", latency_jitter, "must be a fraction in [0, 1]")
        self.latency_jitter = float(latency_jitter)
        if isinstance(models, str) or not models or not all(isinstance(m, str) and m for m in models):
            raise ConfigError("models", models, "must be a non-empty sequence of non-empty model ids")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ConfigError("api_key", "<hidden>", "must be a non-empty string, or None")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None or latency_jitter == 0 else random.Random()
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_concurrent = max_concurrent
        self.context_window = context_window
        self.models: tuple[str, ...] = tuple(models)
        self._api_key = api_key
        self._rpm = _server_bucket(requests_per_minute, "rpm", self.clock)
        self._tpm = _server_bucket(tokens_per_minute, "tpm", self.clock)
        self._busy_until: list[float] = []
        self._lock = threading.Lock()
        self._sequence = 0
        self._counts: dict[str, int] = {
            "requests": 0,
            "ok": 0,
            "rate_limited": 0,
            "overloaded": 0,
            "errors": 0,
        }

    def __repr__(self) -> str:
        return (
            f"EmbeddedBackend(models={self.models!r}, requests_per_minute={self.requests_per_minute!r}, "
            f"tokens_per_minute={self.tokens_per_minute!r}, max_concurrent={self.max_concurrent!r})"
        )

    # ---- the core ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> BackendResponse:
        """Answer one HTTP request. Never raises: every failure is an API-shaped error reply.

        ``path`` may carry a query string (ignored). Header names match case-insensitively.
        """
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            self._counts["requests"] += 1
        request_id = f"req_day6_{sequence:08d}"
        try:
            response = self._route(method.upper(), urlsplit(path).path, headers, body, sequence)
        except _APIError as error:
            response = BackendResponse(
                error.status,
                (("content-type", "application/json"), *error.headers),
                error_body(error.message, error.type, error.code, error.param),
            )
        except Exception:  # a bug must still answer like a server, never with a traceback
            _log.exception("embedded backend failed on %s %s", method, path)
            response = BackendResponse(
                500,
                (("content-type", "application/json"),),
                error_body(
                    "The server had an error while processing your request. Sorry about that!", "server_error"
                ),
            )
        outcome = "ok" if response.status < 400 else _OUTCOMES.get(response.status, "errors")
        with self._lock:
            self._counts[outcome] += 1
        return replace(response, headers=(*response.headers, ("x-request-id", request_id)))

    def stats(self) -> dict[str, int]:
        """How many requests were handled, and how they ended (ok, rate_limited, overloaded, errors)."""
        with self._lock:
            return dict(self._counts)

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, sequence: int
    ) -> BackendResponse:
        path = path.rstrip("/") or "/"
        if path == "/v1/chat/completions":
            if method != "POST":
                raise _APIError(405, f"Invalid method for URL ({method} {path}): use POST.")
            self._authorize(headers)
            return self._chat(body, sequence)
        if path == "/v1/models":
            if method != "GET":
                raise _APIError(405, f"Invalid method for URL ({method} {path}): use GET.")
            self._authorize(headers)
            return _json_response({"object": "list", "data": [_model_card(m) for m in self.models]})
        if path.startswith("/v1/models/") and method == "GET":
            self._authorize(headers)
            model = path.removeprefix("/v1/models/")
            if model not in self.models:
                raise _APIError(
                    404, f"The model '{model}' does not exist", code="model_not_found", param="model"
                )
            return _json_response(_model_card(model))
        raise _APIError(404, f"Invalid URL ({method} {path})")

    def _authorize(self, headers: Mapping[str, str]) -> None:
        if self._api_key is None:
            return
        given = _header(headers, "authorization") or ""
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        ):
            raise _APIError(
                401,
                "Incorrect API key provided. You can find your API key in the day6 serve output.",
                code="invalid_api_key",
            )

    def _chat(self, body: bytes, sequence: int) -> BackendResponse:
        request = _parse_chat(body, self.models)
        prompt_tokens = sum(count_tokens(text) + 3 for _, text in request.messages) + 3
        if prompt_tokens + (request.max_tokens or 0) > self.context_window:
            raise _APIError(
                400,
                f"This model's maximum context length is {self.context_window} tokens. However, you "
                f"requested {prompt_tokens + (request.max_tokens or 0)} tokens ({prompt_tokens} in the "
                f"messages, {request.max_tokens or 0} in the completion). Please reduce the length of "
                "the messages or completion.",
                code="context_length_exceeded",
                param="messages",
            )
        pieces = split_tokens(respond(request.prompt, model=request.model))
        finish_reason = "stop"
        if request.max_tokens is not None and len(pieces) > request.max_tokens:
            pieces = pieces[: request.max_tokens]
            finish_reason = "length"
        completion_tokens = len(pieces) * request.n
        total_tokens = prompt_tokens + completion_tokens

        with self._lock:
            now = self.clock.now()
            limit_headers = self._admit(request.model, total_tokens, now)
            # one draw per admitted request, under the lock: a seeded run repeats exactly
            scale = 1.0
            if self.latency_jitter > 0 and self.rng is not None:
                scale += self.latency_jitter * (2.0 * self.rng.random() - 1.0)
            if request.stream:
                latency, interval = self.base_latency * scale, self.per_token_latency * scale
                busy_for = latency + interval * len(pieces)
            else:
                latency = (self.base_latency + self.per_token_latency * len(pieces)) * scale
                interval, busy_for = 0.0, latency
            self._occupy(now, busy_for)

        created = int(self.clock.wall())
        completion_id = f"chatcmpl-day6-{sequence:08d}"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total_tokens,
        }
        if not request.stream:
            text = "".join(pieces)
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": request.model,
                "system_fingerprint": "fp_day6",
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                    for i in range(request.n)
                ],
                "usage": usage,
            }
            return _json_response(payload, limit_headers, latency=latency)
        return BackendResponse(
            200,
            (
                ("content-type", "text/event-stream; charset=utf-8"),
                ("cache-control", "no-cache"),
                *limit_headers,
            ),
            chunks=_sse_chunks(request, completion_id, created, pieces, finish_reason, usage),
            latency=latency,
            chunk_interval=interval,
        )

    def _admit(self, model: str, tokens: int, now: float) -> tuple[tuple[str, str], ...]:
        """Charge the capacity and the RPM/TPM buckets, or raise the 503/429 the API would send.

        Lock held. Both buckets are checked before either is charged, so a refused request
        costs nothing; the 429 says which budget ran out and when it will hold enough again.
        """
        if self.max_concurrent is not None:
            self._busy_until = [t for t in self._busy_until if t > now]
            if len(self._busy_until) >= self.max_concurrent:
                raise _APIError(
                    503, "The engine is currently overloaded, please try again later.", type_="server_error"
                )
        budgets = [
            (kind, amount, bucket)
            for kind, amount, bucket in (("requests", 1.0, self._rpm), ("tokens", float(tokens), self._tpm))
            if bucket is not None
        ]
        for kind, amount, bucket in budgets:
            label = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
            if amount > bucket.capacity:
                raise _APIError(
                    429,
                    f"Request too large for {model} on {label}: Limit {int(bucket.capacity)}, "
                    f"Requested {int(amount)}. The input or output tokens must be reduced in order "
                    "to run successfully.",
                    type_=kind,
                    code="rate_limit_exceeded",
                    headers=sum((_limit_headers(k, b) for k, _, b in budgets), ()),
                )
            wait = bucket.time_until(amount)
            if wait > 0:
                used = bucket.capacity - math.floor(bucket.tokens)
                raise _APIError(
                    429,
                    f"Rate limit reached for {model} in organization org-day6 on {label}: Limit "
                    f"{int(bucket.capacity)}, Used {int(used)}, Requested {int(amount)}. Please try "
                    f"again in {format_reset(wait)}.",
                    type_=kind,
                    code="rate_limit_exceeded",
                    headers=(
                        ("retry-after", str(max(1, math.ceil(wait)))),
                        ("retry-after-ms", str(max(1, math.ceil(wait * 1000)))),
                        *sum((_limit_headers(k, b) for k, _, b in budgets), ()),
                    ),
                )
        for _, amount, bucket in budgets:
            if not bucket.try_acquire(amount):  # cannot happen under the lock; never admit unpaid
                raise _APIError(503, "The engine is currently overloaded, please try again later.")
        return sum((_limit_headers(kind, bucket) for kind, _, bucket in budgets), ())

    def _occupy(self, now: float, seconds: float) -> None:
        if self.max_concurrent is not None:
            self._busy_until.append(now + seconds)

    # ---- adapters ----------------------------------------------------------------------------

    def transport(self) -> BackendTransport:
        """An httpx2 transport (sync and async) answering from this backend: what the SDK needs."""
        return BackendTransport(self)

    def httpx_transport(self) -> HttpxBackendTransport:
        """The same for plain ``httpx.Client`` / ``httpx.AsyncClient``."""
        return HttpxBackendTransport(self)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _MODEL_CREATED, "owned_by": "day6"}


def _json_response(
    payload: object, extra: tuple[tuple[str, str], ...] = (), *, latency: float = 0.0
) -> BackendResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return BackendResponse(200, (("content-type", "application/json"), *extra), body, latency=latency)


def _sse_chunks(
    request: _ChatRequest,
    completion_id: str,
    created: int,
    pieces: Sequence[str],
    finish_reason: str,
    usage: Mapping[str, int],
) -> tuple[bytes, ...]:
    """The ``chat.completion.chunk`` events of a stream, as OpenAI frames them, then ``[DONE]``."""
    base: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": request.model,
        "system_fingerprint": "fp_day6",
    }

    def frame(choices: list[dict[str, Any]], usage_value: Mapping[str, int] | None = None) -> bytes:
        chunk: dict[str, Any] = {**base, "choices": choices}
        if request.include_usage:
            chunk["usage"] = usage_value
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    def delta(index: int, content: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": content, "logprobs": None, "finish_reason": finish}

    frames = [
        frame([delta(i, {"role": "assistant", "content": "", "refusal": None}) for i in range(request.n)])
    ]
    frames.extend(frame([delta(i, {"content": piece}) for i in range(request.n)]) for piece in pieces)
    frames.append(frame([delta(i, {}, finish_reason) for i in range(request.n)]))
    if request.include_usage:
        frames.append(frame([], usage))
    frames.append(b"data: [DONE]\n\n")
    return tuple(frames)


# --------------------------------------------------------------------------------------------------
# In-process adapters (httpx2 and httpx)
# --------------------------------------------------------------------------------------------------


class _SyncChunks(httpx.SyncByteStream, httpx2.SyncByteStream):
    """A stream's chunks, ``interval`` seconds apart on the clock (serves httpx and httpx2)."""

    def __init__(self, chunks: Sequence[bytes], clock: Clock, interval: float) -> None:
        self._chunks = chunks
        self._clock = clock
        self._interval = interval

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self._chunks):
            if index and self._interval > 0:
                self._clock.sleep(self._interval)
            yield chunk


class _AsyncChunks(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    """The async twin of :class:`_SyncChunks` (waits with ``clock.asleep``)."""

    def __init__(self, chunks: Sequence[bytes], clock: Clock, interval: float) -> None:
        self._chunks = chunks
        self._clock = clock
        self._interval = interval

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self._chunks):
            if index and self._interval > 0:
                await self._clock.asleep(self._interval)
            yield chunk


class BackendTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """Serves an :class:`EmbeddedBackend` to ``httpx2.Client`` and ``httpx2.AsyncClient``."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        reply = self.backend.handle(request.method, request.url.path, request.headers, request.read())
        if reply.latency > 0:
            self.backend.clock.sleep(reply.latency)
        if reply.chunks is None:
            return httpx2.Response(
                reply.status, headers=list(reply.headers), content=reply.body, request=request
            )
        stream = _SyncChunks(reply.chunks, self.backend.clock, reply.chunk_interval)
        return httpx2.Response(reply.status, headers=list(reply.headers), stream=stream, request=request)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        reply = self.backend.handle(request.method, request.url.path, request.headers, await request.aread())
        if reply.latency > 0:
            await self.backend.clock.asleep(reply.latency)
        if reply.chunks is None:
            return httpx2.Response(
                reply.status, headers=list(reply.headers), content=reply.body, request=request
            )
        stream = _AsyncChunks(reply.chunks, self.backend.clock, reply.chunk_interval)
        return httpx2.Response(reply.status, headers=list(reply.headers), stream=stream, request=request)


class HttpxBackendTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serves an :class:`EmbeddedBackend` to plain ``httpx.Client`` and ``httpx.AsyncClient``."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self.backend.handle(request.method, request.url.path, request.headers, request.read())
        if reply.latency > 0:
            self.backend.clock.sleep(reply.latency)
        if reply.chunks is None:
            return httpx.Response(
                reply.status, headers=list(reply.headers), content=reply.body, request=request
            )
        stream = _SyncChunks(reply.chunks, self.backend.clock, reply.chunk_interval)
        return httpx.Response(reply.status, headers=list(reply.headers), stream=stream, request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reply = self.backend.handle(request.method, request.url.path, request.headers, await request.aread())
        if reply.latency > 0:
            await self.backend.clock.asleep(reply.latency)
        if reply.chunks is None:
            return httpx.Response(
                reply.status, headers=list(reply.headers), content=reply.body, request=request
            )
        stream = _AsyncChunks(reply.chunks, self.backend.clock, reply.chunk_interval)
        return httpx.Response(reply.status, headers=list(reply.headers), stream=stream, request=request)


@overload
def make_client(
    backend: EmbeddedBackend | None = None,
    injector: FaultInjector | None = None,
    *,
    async_: Literal[False] = False,
    base_url: str = DEFAULT_BASE_URL,
    api_key: str = OFFLINE_API_KEY,
    timeout: float = 30.0,
) -> openai.OpenAI: ...


@overload
def make_client(
    backend: EmbeddedBackend | None = None,
    injector: FaultInjector | None = None,
    *,
    async_: Literal[True],
    base_url: str = DEFAULT_BASE_URL,
    api_key: str = OFFLINE_API_KEY,
    timeout: float = 30.0,
) -> openai.AsyncOpenAI: ...


def make_client(
    backend: EmbeddedBackend | None = None,
    injector: FaultInjector | None = None,
    *,
    async_: bool = False,
    base_url: str = DEFAULT_BASE_URL,
    api_key: str = OFFLINE_API_KEY,
    timeout: float = 30.0,
) -> openai.OpenAI | openai.AsyncOpenAI:
    """An ``openai`` client wired to ``backend`` in-process, through ``injector`` when given.

    ``max_retries=0`` on purpose: the SDK's built-in retries would hide every failure from the
    retry policy you are learning to write (exactly one retry layer: yours). ``timeout`` is the
    SDK's per-request timeout, which the ``timeout`` fault hangs for.
    """
    import openai

    non_negative("timeout", timeout, allowed=_SECONDS)
    backend = backend if backend is not None else EmbeddedBackend()
    transport = backend.transport()
    if async_:
        from day6.faults import AsyncFaultTransport

        async_transport: httpx2.AsyncBaseTransport = transport
        if injector is not None:
            async_transport = AsyncFaultTransport(transport, injector)
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=httpx2.AsyncClient(transport=async_transport),
        )
    from day6.faults import FaultTransport

    sync_transport: httpx2.BaseTransport = transport
    if injector is not None:
        sync_transport = FaultTransport(transport, injector)
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        http_client=httpx2.Client(transport=sync_transport),
    )


# --------------------------------------------------------------------------------------------------
# Real HTTP on loopback: what `day6 serve` runs
# --------------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: BackendServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (or is reset by a fault) is routine, not a traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            _log.debug("connection from %s ended: %r", client_address, error)
            return
        _log.error("day6 serve: error while handling %s", client_address, exc_info=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Parses HTTP/1.1 and hands each request to :meth:`BackendServer._serve`."""

    protocol_version = "HTTP/1.1"
    server_version = "day6-serve"
    sys_version = ""
    timeout = 30  # idle keep-alive connections close after this many seconds
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK of the headers (~40 ms per request on Linux loopback).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _dispatch(self) -> None:
        try:
            self.server.app._serve(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log = self.server.app.access_log
        if log is not None:
            log(f"{self.address_string()} {format % args}")


class BackendServer:
    """An :class:`EmbeddedBackend` over real HTTP on loopback, faults included (``day6 serve``).

    Uses the standard library's threading HTTP server (HTTP/1.1, keep-alive, chunked streaming):
    enough for a workbook and one fewer dependency. Endpoints: the backend's ``/v1/...``, plus

    * ``GET /admin/faults``: the armed faults, known scenarios and faults, recent injections;
    * ``POST /admin/faults``: ``{"scenario": "flaky"}`` or ``{"fault": "server_error",
      "probability": 0.5, "count": 3, "duration": 10, "params": {...}}``; replaces what is armed
      unless ``"append": true``;
    * ``DELETE /admin/faults``: disarm everything;
    * ``GET /healthz``: ``{"status": "ok"}``.

    Faults are carried out on the socket: a fabricated reply is sent as is; ``connection_refused``
    and ``timeout`` close the connection without a reply (an accepted connection cannot be
    refused any more; the client sees a disconnect, or its own timeout fires first);
    ``connection_reset`` and ``stream_cut`` send part of the reply, then reset the connection.

    Binding anything but loopback requires ``allow_remote=True``: the admin endpoints have no
    authentication.
    """

    def __init__(
        self,
        backend: EmbeddedBackend | None = None,
        injector: FaultInjector | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8006,
        allow_remote: bool = False,
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ConfigError(
                "host",
                host,
                "must be a loopback address (127.0.0.1, ::1, localhost) "
                "unless remote access is explicitly allowed",
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError("port", port, "must be an integer in [0, 65535] (0 picks a free port)")
        self.backend = backend if backend is not None else EmbeddedBackend()
        self.injector = injector if injector is not None else FaultInjector(clock=self.backend.clock)
        self.access_log = access_log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd = server_class((host.strip("[]"), port), _Handler)
        self._httpd.app = self

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give an OpenAI client, e.g. ``http://127.0.0.1:8006/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`shutdown` is called from another thread."""
        self._httpd.serve_forever(poll_interval=0.1)

    def start(self) -> BackendServer:
        """Serve on a background thread; returns ``self`` (so ``with BackendServer().start():``)."""
        self._thread = threading.Thread(target=self.serve_forever, name="day6-serve", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop accepting, wake sleeping handlers, close the socket. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5.0)
        self._httpd.server_close()

    def __enter__(self) -> BackendServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    # ---- per request (runs on a handler thread) ------------------------------------------------

    def _nap(self, seconds: float, connection: socket.socket) -> bool:
        """Sleep on the backend's clock in short slices; False when the server is stopping or the
        client hung up (a ``timeout`` fault must not hold a thread after its client gave up)."""
        clock = self.backend.clock
        deadline = clock.now() + seconds
        while not self._stop.is_set() and not _client_gone(connection):
            left = deadline - clock.now()
            if left <= 0:
                return True
            clock.sleep(min(left, 0.1))
        return False

    def _serve(self, handler: _Handler) -> None:
        try:
            body = _read_body(handler)
        except _APIError as error:
            handler.close_connection = True  # the rest of the stream cannot be trusted
            _write_json(handler, error.status, json.loads(error_body(error.message, error.type)))
            return
        method = handler.command
        path = urlsplit(handler.path).path
        if path == "/admin/faults" or path == "/healthz":
            self._admin(handler, method, path, body)
            return
        headers = {key.lower(): value for key, value in handler.headers.items()}
        plan = None
        if self.injector.armed:
            url = f"http://{headers.get('host', self.host)}{handler.path}"
            plan = self.injector.decide(RequestInfo(method, url, None, body))
        if plan is not None:
            if plan.delay > 0 and not self._nap(plan.delay, handler.connection):
                _abort(handler)
                return
            if plan.error is not None:
                _abort(handler)
                return
            if plan.response is not None:
                r = plan.response
                _write(handler, r.status, r.headers, r.body)
                return
        reply = self.backend.handle(method, handler.path, headers, body)
        if reply.latency > 0 and not self._nap(reply.latency, handler.connection):
            _abort(handler)
            return
        cutter = BodyCutter(plan.cut) if plan is not None and plan.cut is not None else None
        if reply.chunks is None:
            if cutter is None:
                _write(handler, reply.status, reply.headers, reply.body)
                return
            sent, _ = cutter.feed(reply.body)
            _write(handler, reply.status, reply.headers, reply.body, send=sent)
            _abort(handler)
            return
        _start(handler, reply.status, (*reply.headers, ("transfer-encoding", "chunked")))
        for index, chunk in enumerate(reply.chunks):
            if index and reply.chunk_interval > 0 and not self._nap(reply.chunk_interval, handler.connection):
                _abort(handler)
                return
            stop = False
            if cutter is not None:
                chunk, stop = cutter.feed(chunk)
            if chunk:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
            if stop:
                _abort(handler)
                return
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _admin(self, handler: _Handler, method: str, path: str, body: bytes) -> None:
        if path == "/healthz":
            _write_json(handler, 200, {"status": "ok"})
            return
        injector = self.injector
        if method == "GET":
            _write_json(handler, 200, self._admin_state())
            return
        if method == "DELETE":
            injector.clear()
            _write_json(handler, 200, self._admin_state())
            return
        if method != "POST":
            _write_json(
                handler,
                405,
                {
                    "error": {
                        "message": "use GET, POST or DELETE",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        try:
            command = json.loads(body) if body else None
            if not isinstance(command, dict):
                raise ConfigError("body", command, 'a JSON object such as {"scenario": "flaky"}')
            _apply_admin(injector, command)
        except (ValueError, TypeError) as error:  # ConfigError is a ValueError; bad JSON too
            _write_json(
                handler,
                400,
                {
                    "error": {
                        "message": str(error),
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        _write_json(handler, 200, self._admin_state())

    def _admin_state(self) -> dict[str, Any]:
        state = self.injector.status()
        state["scenarios"] = {name: s.description for name, s in SCENARIOS.items()}
        state["faults"] = {name: f.description for name, f in FAULTS.items()}
        state["log"] = [
            {"at": r.at, "fault": r.fault, "method": r.method, "url": r.url} for r in self.injector.log[-20:]
        ]
        state["backend"] = self.backend.stats()
        return state


def _apply_admin(injector: FaultInjector, command: Mapping[str, Any]) -> None:
    """Carry out a ``POST /admin/faults`` command (raises ConfigError / TypeError on bad input).

    Everything is validated before anything is disarmed, so a typo leaves the armed faults alone.
    """
    known = {"scenario", "fault", "probability", "count", "duration", "start", "params", "append"}
    unknown = sorted(set(command) - known)
    if unknown:
        raise ConfigError("body", unknown[0], f"known fields are {', '.join(sorted(known))}")
    scenario, fault = command.get("scenario"), command.get("fault")
    if (scenario is None) == (fault is None):
        raise ConfigError("body", dict(command), 'give exactly one of "scenario" or "fault"')
    replace = not command.get("append", False)
    if scenario is not None:
        if scenario not in SCENARIOS:
            raise ConfigError("scenario", scenario, f"known scenarios are {', '.join(sorted(SCENARIOS))}")
        if replace:
            injector.clear()
        injector.activate(scenario)
        return
    if not isinstance(fault, str):
        raise ConfigError("fault", fault, f"known faults are {', '.join(sorted(FAULTS))}")
    params = command.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError("params", params, "must be an object of numbers")
    spec = FaultSpec(
        fault,
        probability=command.get("probability", 1.0),
        count=command.get("count"),
        duration=command.get("duration"),
        start=command.get("start", 0.0),
        params=tuple(sorted(params.items())),
    )
    if replace:
        injector.clear()
    injector.arm(spec)


_MAX_BODY = 8 * 1024 * 1024
"""Largest request body ``day6 serve`` reads (a chat request is a few kilobytes)."""


def _read_body(handler: _Handler) -> bytes:
    """The request body, by ``Content-Length`` or chunked transfer coding (413/400 on abuse)."""
    if "chunked" in handler.headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            line = handler.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _APIError(400, "Malformed chunked request body.") from None
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields: ignored
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise _APIError(413, f"Request body larger than {_MAX_BODY} bytes.")
            parts.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
    raw = handler.headers.get("content-length") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise _APIError(400, "Invalid Content-Length header.") from None
    if length < 0:
        raise _APIError(400, "Invalid Content-Length header.")
    if length > _MAX_BODY:
        raise _APIError(413, f"Request body larger than {_MAX_BODY} bytes.")
    return handler.rfile.read(length) if length else b""


def _start(handler: _Handler, status: int, headers: Sequence[tuple[str, str]]) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()


def _write(
    handler: _Handler,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    send: bytes | None = None,
) -> None:
    """A complete reply with ``content-length``; ``send`` writes only part of the body (a cut)."""
    _start(handler, status, (*headers, ("content-length", str(len(body)))))
    handler.wfile.write(body if send is None else send)
    handler.wfile.flush()


def _write_json(handler: _Handler, status: int, payload: object) -> None:
    _write(handler, status, (("content-type", "application/json"),), json.dumps(payload).encode())


def _client_gone(connection: socket.socket) -> bool:
    """Whether the peer closed its side: readable, yet a peek returns no bytes (EOF)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _abort(handler: _Handler) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), as a crashed server or proxy would."""
    try:
        handler.wfile.flush()
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    handler.close_connection = True
