"""Fault injection at the HTTP transport: make the real SDK meet real failures, on purpose.

Resilience code that has never seen a failure is untested code. Instead of mocking the openai SDK
(and testing the mock), day6 breaks the *wire*: a :class:`FaultTransport` wraps whatever transport
the HTTP client already uses and, when the :class:`FaultInjector` says so, answers with a real 429,
a real 503, an HTML 502 from a "gateway", or raises the transport's own ``ConnectError`` /
``ReadTimeout`` / ``ReadError``. The SDK then runs its own, unmodified error handling, so the
exceptions your retry policy sees are exactly the ones production will throw at it.

The design is one decision core and thin adapters::

    openai SDK -> httpx2.Client -> FaultTransport -> inner transport (embedded backend, or the network)
                                        |
                           FaultInjector.decide(RequestInfo) -> FaultPlan | None

* :class:`FaultInjector` decides, on a library-neutral :class:`RequestInfo` (method, URL, the
  client's read timeout, body), whether this request meets a fault, and returns a
  :class:`FaultPlan`: *wait this long*, then *raise this wire error*, *reply with this response*,
  or *forward the request and cut the reply short*. It never touches a socket.
* :class:`FaultTransport` / :class:`AsyncFaultTransport` (httpx2, what the SDK uses) and
  :class:`HttpxFaultTransport` / :class:`AsyncHttpxFaultTransport` (plain httpx) carry the plan
  out with their own library's types. ``day6 serve`` carries the same plans out on a real socket.

Faults that *fabricate* a reply (``rate_limit``, ``server_error``, ...) never reach the inner
transport, so injecting them against a real, paid endpoint costs nothing. Faults that *degrade*
a reply (``slow``, ``connection_reset``, ``stream_cut``) forward the request first.

Activation: every fault has a probability, an optional count ("the next 3 requests") and an
optional time window on the injector's clock ("for the next 10 s", optionally starting later).
When several faults are active, each request draws **one** random number and the probabilities
stack in activation order: ``flaky``'s 10 % + 5 % + 5 % fail exactly one request in five on
average. Named :data:`SCENARIOS` bundle faults into stories (``outage_then_recovery``).
"""

from __future__ import annotations

import enum
import json
import math
import random
import threading
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn, Protocol

import httpx
import httpx2

from day6._events import EventHook, Hooks
from day6._validate import is_real
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError

__all__ = [
    "FAULTS",
    "SCENARIOS",
    "ActiveFault",
    "AsyncFaultTransport",
    "AsyncHttpxFaultTransport",
    "BodyCut",
    "BodyCutter",
    "FaultInfo",
    "FaultInjected",
    "FaultInjector",
    "FaultPlan",
    "FaultResponse",
    "FaultSpec",
    "FaultTransport",
    "HttpxFaultTransport",
    "RequestInfo",
    "Scenario",
    "WireError",
    "format_reset",
]


# --------------------------------------------------------------------------------------------------
# The catalogue: what can go wrong
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """One entry of the fault catalogue: what it does and which parameters it takes (with defaults)."""

    name: str
    description: str
    params: Mapping[str, float]
    stream_only: bool = False


def _info(name: str, description: str, stream_only: bool = False, **params: float) -> FaultInfo:
    return FaultInfo(name, description, MappingProxyType(params), stream_only)


FAULTS: Mapping[str, FaultInfo] = MappingProxyType(
    {
        f.name: f
        for f in (
            _info(
                "timeout",
                "The request hangs until the client's own read timeout (or max_hang seconds when it has "
                "none), then the transport raises ReadTimeout; the SDK turns it into APITimeoutError.",
                max_hang=600.0,
            ),
            _info(
                "rate_limit",
                "429 rate_limit_exceeded with Retry-After, retry-after-ms and x-ratelimit-* headers.",
                retry_after=1.0,
                limit=60.0,
            ),
            _info("quota_exhausted", "429 insufficient_quota: the budget is spent; retrying cannot help."),
            _info("server_error", "500: the server had an error while processing the request."),
            _info("overloaded", "503: the engine is overloaded and sheds load."),
            _info("bad_gateway", "502 with an HTML body, as a proxy or CDN in front of the API sends it."),
            _info(
                "connection_refused",
                "Nothing listens: the transport raises ConnectError; no request is sent.",
            ),
            _info(
                "connection_reset",
                "The reply's headers arrive, then the connection is reset mid-body (ReadError).",
            ),
            _info(
                "slow",
                "The reply arrives `latency` seconds late (the request itself is forwarded).",
                latency=2.0,
            ),
            _info("malformed_json", "200 OK whose body is truncated JSON: the SDK cannot parse it."),
            _info(
                "stream_cut",
                "A streamed reply stops after `after` server-sent events, before [DONE] "
                "(RemoteProtocolError). Applies to streaming requests only.",
                stream_only=True,
                after=3.0,
            ),
        )
    }
)
"""Every fault by name. ``params`` holds each parameter's default value."""

_INTEGER_PARAMS = frozenset({"after", "limit"})


def _check_real(setting: str, value: object, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    """A finite float in [minimum, maximum], or ConfigError (bools and NaN/inf are rejected)."""
    if not is_real(value) or not minimum <= value <= maximum:
        raise ConfigError(setting, value, f"must be a finite number in [{minimum}, {maximum}]")
    return float(value)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault and when it fires: a probability, an optional count and an optional window.

    ``count`` is how many times the fault fires before it retires ("the next 3 requests" with
    ``probability=1``). ``start`` and ``duration`` are seconds on the injector's clock, measured
    from activation: the fault is live in ``[start, start + duration)``. ``params`` overrides the
    fault's defaults in :data:`FAULTS`. Validated on construction: a bad spec never gets armed.
    """

    fault: str
    probability: float = 1.0
    count: int | None = None
    duration: float | None = None
    start: float = 0.0
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        info = FAULTS.get(self.fault)
        if info is None:
            raise ConfigError("fault", self.fault, f"known faults are {', '.join(sorted(FAULTS))}")
        _check_real("probability", self.probability, maximum=1.0)
        if self.count is not None and (
            isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1
        ):
            raise ConfigError("count", self.count, "must be an integer >= 1, or None for no limit")
        if self.duration is not None:
            _check_real("duration", self.duration)
            if self.duration == 0:
                raise ConfigError("duration", self.duration, "must be > 0 seconds, or None for no limit")
        _check_real("start", self.start)
        for name, value in self.params:
            if name not in info.params:
                allowed = ", ".join(sorted(info.params)) or "none"
                raise ConfigError(f"{self.fault}.{name}", value, f"parameters of {self.fault!r}: {allowed}")
            _check_real(f"{self.fault}.{name}", value)
            if name in _INTEGER_PARAMS and value != int(value):
                raise ConfigError(f"{self.fault}.{name}", value, "must be a whole number")

    def param(self, name: str) -> float:
        """This spec's value for ``name``, or the fault's default."""
        for key, value in self.params:
            if key == name:
                return value
        return FAULTS[self.fault].params[name]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named story of faults over time, e.g. an outage followed by a recovery."""

    name: str
    description: str
    faults: tuple[FaultSpec, ...]


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario("none", "No faults: every request reaches the backend untouched.", ()),
            Scenario(
                "flaky",
                "One request in five fails the way real networks fail: 500 (10 %), 503 (5 %), "
                "connection reset mid-body (5 %). Retries with backoff and jitter ride it out.",
                (
                    FaultSpec("server_error", probability=0.10),
                    FaultSpec("overloaded", probability=0.05),
                    FaultSpec("connection_reset", probability=0.05),
                ),
            ),
            Scenario(
                "outage_then_recovery",
                "The backend is down for 10 s (every request gets 503), limps for 10 s more (30 % get "
                "500), then recovers. Watch a circuit breaker open, probe and close.",
                (
                    FaultSpec("overloaded", probability=1.0, duration=10.0),
                    FaultSpec("server_error", probability=0.3, start=10.0, duration=10.0),
                ),
            ),
            Scenario(
                "rate_limited",
                "Half the requests get 429 rate_limit_exceeded with Retry-After: 1 s. Honour the "
                "header, and limit yourself on the client side so you rarely meet it.",
                (FaultSpec("rate_limit", probability=0.5, params=(("retry_after", 1.0),)),),
            ),
            Scenario(
                "quota_exhausted",
                "Every request gets 429 insufficient_quota. Retrying cannot help: fail fast or fall back.",
                (FaultSpec("quota_exhausted", probability=1.0),),
            ),
            Scenario(
                "slow",
                "One request in ten hangs until the client's timeout; the rest arrive 2 s late. Tune "
                "timeouts and deadlines.",
                (
                    FaultSpec("timeout", probability=0.1),
                    FaultSpec("slow", probability=0.9, params=(("latency", 2.0),)),
                ),
            ),
        )
    }
)
"""Every named scenario. ``injector.activate(name)`` arms one; ``day6 serve --scenario`` too."""


# --------------------------------------------------------------------------------------------------
# Requests, plans and events (library neutral)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the fault core may know about a request, whichever HTTP library carries it.

    ``timeout`` is the client's *read* timeout in seconds (``None`` when it has none), which the
    ``timeout`` fault hangs for. ``body`` is only parsed when a fault needs it (``stream_cut``
    asks whether the request wants a stream).
    """

    method: str
    url: str
    timeout: float | None = None
    body: bytes = b""

    @property
    def wants_stream(self) -> bool:
        """Whether the JSON body asks for a streamed reply (``"stream": true``)."""
        if b"stream" not in self.body:
            return False
        try:
            payload = json.loads(self.body)
        except (ValueError, RecursionError):
            return False
        return isinstance(payload, dict) and payload.get("stream") is True


class WireError(enum.Enum):
    """A transport-level failure, named neutrally; each adapter raises its own library's class."""

    CONNECT = "connect"  # ConnectError: nothing listens
    READ_TIMEOUT = "read_timeout"  # ReadTimeout: no bytes within the read timeout
    READ = "read"  # ReadError: the connection was reset
    REMOTE_PROTOCOL = "remote_protocol"  # RemoteProtocolError: the peer closed mid-message


@dataclass(frozen=True, slots=True)
class FaultResponse:
    """A fabricated reply: status, headers (lower-case names) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class BodyCut:
    """Forward the request, then break the reply's body.

    ``after_events`` set: pass that many complete server-sent events (``\\n\\n``-terminated),
    then fail; a reply with fewer events completes normally. ``after_events`` ``None``: pass
    half of the first body chunk, then fail (a reset mid-body).
    """

    error: WireError
    message: str
    after_events: int | None = None


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What an adapter must do to one request: wait ``delay`` seconds on the clock, then exactly one
    of raise ``error``, reply ``response``, or forward (cutting the body when ``cut`` is set)."""

    fault: str
    delay: float = 0.0
    error: WireError | None = None
    message: str = ""
    response: FaultResponse | None = None
    cut: BodyCut | None = None


@dataclass(frozen=True, slots=True)
class FaultInjected:
    """Event ``fault.injected``: a fault fired on a request. Also the record kept in ``injector.log``.

    ``url`` has its query string removed, so a key passed as a query parameter is never recorded.
    """

    topic: ClassVar[str] = "fault.injected"
    at: float
    fault: str
    method: str
    url: str


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A snapshot of an armed fault: its spec, and what is left of its count and window."""

    spec: FaultSpec
    remaining: int | None
    starts_in: float
    ends_in: float | None


# --------------------------------------------------------------------------------------------------
# Response bodies shared with the embedded backend
# --------------------------------------------------------------------------------------------------


def format_reset(seconds: float) -> str:
    """Format a duration the way ``x-ratelimit-reset-*`` headers do: ``"12ms"``, ``"1.5s"``, ``"6m0s"``.

    OpenAI writes Go ``time.Duration`` strings. Below one second: whole milliseconds (at least 1 ms
    for a positive value, so "not yet" is never printed as "0s"); below a minute: seconds with up
    to three decimals; then ``"{m}m{s}s"`` and ``"{h}h{m}m{s}s"``. Negative and NaN read as ``"0s"``.
    """
    if not seconds > 0:
        return "0s"
    if seconds < 1.0:
        return f"{max(1, round(seconds * 1000))}ms"
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> bytes:
    """The OpenAI error envelope: ``{"error": {"message", "type", "param", "code"}}`` as JSON bytes."""
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


_JSON = "application/json"
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>day6-gateway</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_TRUNCATED_JSON = (
    b'{"id": "chatcmpl-day6-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'
)


# --------------------------------------------------------------------------------------------------
# The decision core
# --------------------------------------------------------------------------------------------------


class _Rule:
    """An armed FaultSpec: absolute window on the clock and remaining count (mutable, lock-held)."""

    __slots__ = ("ends_at", "remaining", "spec", "starts_at")

    def __init__(self, spec: FaultSpec, now: float) -> None:
        self.spec = spec
        self.starts_at = now + spec.start
        self.ends_at = None if spec.duration is None else self.starts_at + spec.duration
        self.remaining = spec.count


class FaultInjector:
    """Decides which requests meet which fault; the transports carry the decision out.

    Args:
        clock: the time source for fault windows and the waits the adapters perform
            (``timeout`` and ``slow`` sleep on it, so a :class:`~day6.clock.FakeClock` makes them
            instant and exactly measurable).
        rng: the generator for probability draws; pass ``random.Random(seed)`` for repeatable runs.
        hooks: callables that receive a :class:`FaultInjected` event for every injected fault.
        log_size: how many :class:`FaultInjected` records :attr:`log` keeps (oldest dropped first).

    Thread-safe: ``day6 serve`` decides for many connections at once. The lock covers only the
    decision (a few dictionary operations), never the request itself.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        hooks: Iterable[EventHook] = (),
        log_size: int = 1000,
    ) -> None:
        if isinstance(log_size, bool) or not isinstance(log_size, int) or log_size < 1:
            raise ConfigError("log_size", log_size, "must be an integer >= 1")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None else random.Random()
        self.hooks = Hooks(hooks)
        self._rules: list[_Rule] = []
        self._log: deque[FaultInjected] = deque(maxlen=log_size)
        self._lock = threading.Lock()
        self._scenario: str | None = None
        self._sequence = 0

    # ---- arming ------------------------------------------------------------------------------

    def activate(
        self,
        name: str,
        *,
        probability: float | None = None,
        count: int | None = None,
        duration: float | None = None,
        start: float | None = None,
        **params: float,
    ) -> None:
        """Arm a scenario by name, or a single fault with options (added to what is armed).

        ``activate("flaky")`` arms the scenario; ``activate("server_error", count=3)`` arms one
        fault. A name that is both (``"slow"``, ``"quota_exhausted"``) means the scenario when no
        option is given and the fault when one is; :meth:`inject` always means the fault.
        Unknown names raise :class:`~day6.errors.ConfigError` listing every scenario and fault.
        """
        has_options = bool(params) or any(o is not None for o in (probability, count, duration, start))
        if name in SCENARIOS and not (has_options and name in FAULTS):
            if has_options:
                raise ConfigError(
                    "activate", name, "a scenario takes no options; pass options to single faults"
                )
            with self._lock:
                now = self.clock.now()
                self._rules.extend(_Rule(spec, now) for spec in SCENARIOS[name].faults)
                self._scenario = name
            return
        if name not in FAULTS:
            raise ConfigError(
                "activate",
                name,
                f"scenarios are {', '.join(sorted(SCENARIOS))}; faults are {', '.join(sorted(FAULTS))}",
            )
        self.inject(
            name,
            probability=1.0 if probability is None else probability,
            count=count,
            duration=duration,
            start=0.0 if start is None else start,
            **params,
        )

    def inject(
        self,
        fault: str,
        *,
        probability: float = 1.0,
        count: int | None = None,
        duration: float | None = None,
        start: float = 0.0,
        **params: float,
    ) -> None:
        """Arm one fault (added after what is already armed). See :class:`FaultSpec` for options."""
        self.arm(
            FaultSpec(
                fault,
                probability=probability,
                count=count,
                duration=duration,
                start=start,
                params=tuple(sorted(params.items())),
            )
        )

    def arm(self, spec: FaultSpec) -> None:
        """Arm an already-built :class:`FaultSpec`; its window starts now on the clock."""
        with self._lock:
            self._rules.append(_Rule(spec, self.clock.now()))

    def clear(self) -> None:
        """Disarm everything. The log is kept."""
        with self._lock:
            self._rules.clear()
            self._scenario = None

    # ---- introspection -----------------------------------------------------------------------

    @property
    def armed(self) -> bool:
        """True when any fault is armed (the transports' fast path checks this first)."""
        return bool(self._rules)

    @property
    def scenario(self) -> str | None:
        """The last scenario armed with :meth:`activate` (``None`` after :meth:`clear`)."""
        return self._scenario

    @property
    def log(self) -> tuple[FaultInjected, ...]:
        """What was injected, oldest first (a snapshot; at most ``log_size`` records)."""
        with self._lock:
            return tuple(self._log)

    def active(self) -> tuple[ActiveFault, ...]:
        """A snapshot of the armed faults that have not yet retired."""
        with self._lock:
            now = self.clock.now()
            self._expire(now)
            return tuple(
                ActiveFault(
                    spec=r.spec,
                    remaining=r.remaining,
                    starts_in=max(0.0, r.starts_at - now),
                    ends_in=None if r.ends_at is None else r.ends_at - now,
                )
                for r in self._rules
            )

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary: armed faults, the scenario, how many faults fired (for admin APIs)."""
        active = self.active()
        with self._lock:
            injected = self._sequence
        return {
            "scenario": self._scenario,
            "active": [
                {
                    "fault": a.spec.fault,
                    "probability": a.spec.probability,
                    "remaining": a.remaining,
                    "starts_in": a.starts_in,
                    "ends_in": a.ends_in,
                    "params": dict(a.spec.params),
                }
                for a in active
            ],
            "injected": injected,
        }

    # ---- deciding ----------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        self._rules = [
            r
            for r in self._rules
            if (r.remaining is None or r.remaining > 0) and (r.ends_at is None or now < r.ends_at)
        ]

    def decide(self, request: RequestInfo) -> FaultPlan | None:
        """The fault this request meets, or ``None`` to let it through untouched.

        One uniform draw ``u`` per request (drawn only when a fault with ``0 < p < 1`` is live);
        the live faults' probabilities stack in activation order and the first whose running sum
        exceeds ``u`` fires; once the sum reaches 1, later faults only get what is left (a
        ``p = 0.5`` fault armed after a ``p = 0.9`` one fires on 10 % of requests). Faults that
        do not apply (``stream_cut`` on a non-streaming request) are skipped without consuming a
        draw or their count.
        """
        if not self._rules:
            return None
        chosen: FaultSpec | None = None
        with self._lock:
            now = self.clock.now()
            self._expire(now)
            draw: float | None = None
            cumulative = 0.0
            wants_stream: bool | None = None
            for rule in self._rules:
                spec = rule.spec
                if now < rule.starts_at or spec.probability <= 0.0:
                    continue
                if FAULTS[spec.fault].stream_only:
                    if wants_stream is None:
                        wants_stream = request.wants_stream
                    if not wants_stream:
                        continue
                cumulative += spec.probability
                certain = cumulative >= 1.0 - 1e-12  # 0.7 + 0.2 + 0.1 sums to 0.9999999999999999
                if not certain and draw is None:
                    draw = self.rng.random()
                if certain or (draw is not None and draw < cumulative):
                    chosen = spec
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    break
            if chosen is None:
                return None
            self._sequence += 1
            sequence = self._sequence
            record = FaultInjected(
                at=now, fault=chosen.fault, method=request.method, url=request.url.split("?", 1)[0]
            )
            self._log.append(record)
        if self.hooks.active:
            self.hooks.emit(record)
        return _plan(chosen, request, sequence)

    def __repr__(self) -> str:
        return (
            f"FaultInjector(scenario={self._scenario!r}, armed={len(self._rules)}, injected={self._sequence})"
        )


def _json_reply(status: int, body: bytes, sequence: int, *extra: tuple[str, str]) -> FaultResponse:
    headers = (("content-type", _JSON), ("x-request-id", f"req_fault_{sequence:06d}"), *extra)
    return FaultResponse(status, headers, body)


def _plan(spec: FaultSpec, request: RequestInfo, sequence: int) -> FaultPlan:
    """Turn a chosen fault into concrete instructions (pure: no clock, no randomness)."""
    fault = spec.fault
    if fault == "timeout":
        hang = request.timeout if request.timeout is not None else spec.param("max_hang")
        return FaultPlan(
            fault, delay=hang, error=WireError.READ_TIMEOUT, message="The read operation timed out"
        )
    if fault == "rate_limit":
        wait = spec.param("retry_after")
        limit = int(spec.param("limit"))
        message = (
            f"Rate limit reached for requests per min (RPM): Limit {limit}, Used {limit}, Requested 1. "
            f"Please try again in {format_reset(wait)}."
        )
        return FaultPlan(
            fault,
            response=_json_reply(
                429,
                error_body(message, "requests", "rate_limit_exceeded"),
                sequence,
                ("retry-after", str(math.ceil(wait))),
                ("retry-after-ms", str(round(wait * 1000))),
                ("x-ratelimit-limit-requests", str(limit)),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", format_reset(wait)),
            ),
        )
    if fault == "quota_exhausted":
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "(day6: injected fault quota_exhausted)"
        )
        return FaultPlan(
            fault,
            response=_json_reply(
                429, error_body(message, "insufficient_quota", "insufficient_quota"), sequence
            ),
        )
    if fault == "server_error":
        message = "The server had an error while processing your request. Sorry about that!"
        return FaultPlan(fault, response=_json_reply(500, error_body(message, "server_error"), sequence))
    if fault == "overloaded":
        message = "The engine is currently overloaded, please try again later."
        return FaultPlan(fault, response=_json_reply(503, error_body(message, "server_error"), sequence))
    if fault == "bad_gateway":
        return FaultPlan(fault, response=FaultResponse(502, (("content-type", "text/html"),), _HTML_502))
    if fault == "connection_refused":
        return FaultPlan(fault, error=WireError.CONNECT, message="[Errno 111] Connection refused")
    if fault == "connection_reset":
        return FaultPlan(fault, cut=BodyCut(WireError.READ, "[Errno 104] Connection reset by peer"))
    if fault == "slow":
        return FaultPlan(fault, delay=spec.param("latency"))
    if fault == "malformed_json":
        if request.wants_stream:
            return FaultPlan(
                fault,
                response=FaultResponse(
                    200,
                    (("content-type", "text/event-stream"), ("x-request-id", f"req_fault_{sequence:06d}")),
                    b"data: " + _TRUNCATED_JSON + b"\n\n",
                ),
            )
        return FaultPlan(fault, response=_json_reply(200, _TRUNCATED_JSON, sequence))
    if fault == "stream_cut":
        return FaultPlan(
            fault,
            cut=BodyCut(
                WireError.REMOTE_PROTOCOL,
                "peer closed connection without sending complete message body (incomplete chunked read)",
                after_events=int(spec.param("after")),
            ),
        )
    raise AssertionError(f"fault {fault!r} has no plan")  # pragma: no cover - FaultSpec validates names


# --------------------------------------------------------------------------------------------------
# Cutting a body short (shared by every adapter)
# --------------------------------------------------------------------------------------------------


class BodyCutter:
    """Feeds body chunks through, deciding where a :class:`BodyCut` breaks the stream.

    Shared by every adapter (the transports here and ``day6 serve``'s socket writer), so the
    same plan cuts the same bytes wherever it is carried out.

    Event boundaries (``\\n\\n``) are found even when a chunk ends between the two newlines.
    """

    __slots__ = ("_events_left", "_newline_pending", "_reset", "done")

    def __init__(self, cut: BodyCut) -> None:
        self._reset = cut.after_events is None
        self._events_left = 0 if cut.after_events is None else cut.after_events
        self._newline_pending = False  # the previous chunk ended in a "\n" that may open a boundary
        self.done = False

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on from ``chunk``, and whether the connection breaks after them."""
        if self._reset:
            self.done = True
            return chunk[: len(chunk) // 2], True
        position = 0
        if self._events_left > 0 and self._newline_pending and chunk.startswith(b"\n"):
            position = 1
            self._events_left -= 1
        while self._events_left > 0:
            end = chunk.find(b"\n\n", position)
            if end < 0:
                self._newline_pending = chunk.endswith(b"\n") and len(chunk) > position
                return chunk, False
            position = end + 2
            self._events_left -= 1
        self.done = True
        return chunk[:position], True

    def at_end(self) -> bool:
        """Whether to fail when the body ended before the cut (a reset always fails)."""
        return self._reset and not self.done


class _Closable(Protocol):
    def close(self) -> None: ...


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


class _SyncCutStream(httpx.SyncByteStream, httpx2.SyncByteStream):
    """A response body that breaks where the cut says. Subclasses both libraries' stream bases, so
    the one class serves httpx and httpx2 responses alike; ``fail`` raises the right library's error."""

    def __init__(
        self, inner: Iterable[bytes], closer: _Closable, cut: BodyCut, fail: Callable[[], NoReturn]
    ) -> None:
        self._inner = inner
        self._closer = closer
        self._cut = cut
        self._fail = fail

    def __iter__(self) -> Iterator[bytes]:
        cutter = BodyCutter(self._cut)
        for chunk in self._inner:
            data, stop = cutter.feed(chunk)
            if data:
                yield data
            if stop:
                self._fail()
        if cutter.at_end():
            self._fail()

    def close(self) -> None:
        self._closer.close()


class _AsyncCutStream(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    """The async twin of :class:`_SyncCutStream`."""

    def __init__(
        self, inner: AsyncIterable[bytes], closer: _AsyncClosable, cut: BodyCut, fail: Callable[[], NoReturn]
    ) -> None:
        self._inner = inner
        self._closer = closer
        self._cut = cut
        self._fail = fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        cutter = BodyCutter(self._cut)
        async for chunk in self._inner:
            data, stop = cutter.feed(chunk)
            if data:
                yield data
            if stop:
                self._fail()
        if cutter.at_end():
            self._fail()

    async def aclose(self) -> None:
        await self._closer.aclose()


# --------------------------------------------------------------------------------------------------
# Adapters: httpx2 (what the openai SDK uses) and plain httpx
# --------------------------------------------------------------------------------------------------

_HTTPX2_ERRORS: dict[WireError, type[httpx2.TransportError]] = {
    WireError.CONNECT: httpx2.ConnectError,
    WireError.READ_TIMEOUT: httpx2.ReadTimeout,
    WireError.READ: httpx2.ReadError,
    WireError.REMOTE_PROTOCOL: httpx2.RemoteProtocolError,
}
_HTTPX_ERRORS: dict[WireError, type[httpx.TransportError]] = {
    WireError.CONNECT: httpx.ConnectError,
    WireError.READ_TIMEOUT: httpx.ReadTimeout,
    WireError.READ: httpx.ReadError,
    WireError.REMOTE_PROTOCOL: httpx.RemoteProtocolError,
}


def _read_timeout(extensions: Mapping[str, Any]) -> float | None:
    """The read timeout httpx / httpx2 put in ``request.extensions["timeout"]``, if any."""
    timeout = extensions.get("timeout")
    if isinstance(timeout, Mapping):
        read = timeout.get("read")
        if isinstance(read, int | float) and not isinstance(read, bool):
            return float(read)
    return None


def _info_of(request: httpx.Request | httpx2.Request, body: bytes) -> RequestInfo:
    return RequestInfo(request.method, str(request.url), _read_timeout(request.extensions), body)


def _httpx2_failer(error: WireError, message: str, request: httpx2.Request) -> Callable[[], NoReturn]:
    def fail() -> NoReturn:
        raise _HTTPX2_ERRORS[error](f"{message} (day6 fault)", request=request)

    return fail


def _httpx_failer(error: WireError, message: str, request: httpx.Request) -> Callable[[], NoReturn]:
    def fail() -> NoReturn:
        raise _HTTPX_ERRORS[error](f"{message} (day6 fault)", request=request)

    return fail


class FaultTransport(httpx2.BaseTransport):
    """An httpx2 transport that injects faults in front of ``inner`` (any httpx2 transport).

    ``httpx2.Client(transport=FaultTransport(httpx2.HTTPTransport(), injector))`` breaks a real
    endpoint; ``FaultTransport(backend.transport(), injector)`` breaks the embedded one.
    """

    def __init__(self, inner: httpx2.BaseTransport, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        injector = self.injector
        if not injector.armed:
            return self.inner.handle_request(request)
        plan = injector.decide(_info_of(request, request.read()))
        if plan is None:
            return self.inner.handle_request(request)
        if plan.delay > 0:
            injector.clock.sleep(plan.delay)
        if plan.error is not None:
            _httpx2_failer(plan.error, plan.message, request)()
        if plan.response is not None:
            r = plan.response
            return httpx2.Response(r.status, headers=list(r.headers), content=r.body, request=request)
        response = self.inner.handle_request(request)
        if plan.cut is None:
            return response
        stream = response.stream
        if not isinstance(stream, httpx2.SyncByteStream):
            raise TypeError("a sync httpx2 transport returned an async-only response stream")
        fail = _httpx2_failer(plan.cut.error, plan.cut.message, request)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncCutStream(stream, stream, plan.cut, fail),
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


class AsyncFaultTransport(httpx2.AsyncBaseTransport):
    """The async twin of :class:`FaultTransport`, for ``httpx2.AsyncClient`` / ``openai.AsyncOpenAI``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        injector = self.injector
        if not injector.armed:
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        plan = injector.decide(_info_of(request, body))
        if plan is None:
            return await self.inner.handle_async_request(request)
        if plan.delay > 0:
            await injector.clock.asleep(plan.delay)
        if plan.error is not None:
            _httpx2_failer(plan.error, plan.message, request)()
        if plan.response is not None:
            r = plan.response
            return httpx2.Response(r.status, headers=list(r.headers), content=r.body, request=request)
        response = await self.inner.handle_async_request(request)
        if plan.cut is None:
            return response
        stream = response.stream
        if not isinstance(stream, httpx2.AsyncByteStream):
            raise TypeError("an async httpx2 transport returned a sync-only response stream")
        fail = _httpx2_failer(plan.cut.error, plan.cut.message, request)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncCutStream(stream, stream, plan.cut, fail),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class HttpxFaultTransport(httpx.BaseTransport):
    """:class:`FaultTransport` for plain ``httpx.Client`` (the labs use both libraries)."""

    def __init__(self, inner: httpx.BaseTransport, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        injector = self.injector
        if not injector.armed:
            return self.inner.handle_request(request)
        plan = injector.decide(_info_of(request, request.read()))
        if plan is None:
            return self.inner.handle_request(request)
        if plan.delay > 0:
            injector.clock.sleep(plan.delay)
        if plan.error is not None:
            _httpx_failer(plan.error, plan.message, request)()
        if plan.response is not None:
            r = plan.response
            return httpx.Response(r.status, headers=list(r.headers), content=r.body, request=request)
        response = self.inner.handle_request(request)
        if plan.cut is None:
            return response
        stream = response.stream
        if not isinstance(stream, httpx.SyncByteStream):
            raise TypeError("a sync httpx transport returned an async-only response stream")
        fail = _httpx_failer(plan.cut.error, plan.cut.message, request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncCutStream(stream, stream, plan.cut, fail),
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


class AsyncHttpxFaultTransport(httpx.AsyncBaseTransport):
    """:class:`AsyncFaultTransport` for plain ``httpx.AsyncClient``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        injector = self.injector
        if not injector.armed:
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        plan = injector.decide(_info_of(request, body))
        if plan is None:
            return await self.inner.handle_async_request(request)
        if plan.delay > 0:
            await injector.clock.asleep(plan.delay)
        if plan.error is not None:
            _httpx_failer(plan.error, plan.message, request)()
        if plan.response is not None:
            r = plan.response
            return httpx.Response(r.status, headers=list(r.headers), content=r.body, request=request)
        response = await self.inner.handle_async_request(request)
        if plan.cut is None:
            return response
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            raise TypeError("an async httpx transport returned a sync-only response stream")
        fail = _httpx_failer(plan.cut.error, plan.cut.message, request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncCutStream(stream, stream, plan.cut, fail),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
