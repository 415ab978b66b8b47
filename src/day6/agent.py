"""The resilient agent: every pattern of the workbook on one call path.

``ResilientAgent.chat(text)`` walks the lesson's layers, outermost first (the breaker and the
limiter guard each *attempt*, inside the retry loop; see below)::

    QuotaManager.reserve          refuse early when the period's budget is gone (no wasted call)
    for each model                the primary, then the fallback models
      RetryPolicy attempts        classify each error, honour Retry-After, respect the deadline
        CircuitBreaker permit     one breaker per model: fail fast while open (next model)
        rate limiter token        adaptive token bucket; a bounded wait, never an unbounded one
        openai SDK, max_retries=0 exactly one retry layer: ours
        httpx2 transport          FaultInjector wraps it; embedded backend or a real endpoint

Every step reports to one :class:`~day6.monitoring.Monitor`, so ``stats`` shows what happened.

Design choices worth knowing:

* **The breaker sees every attempt, not every user request.** Each attempt takes a permit, so an
  outage trips the breaker after ``failure_threshold`` failed *calls to the backend*, and an
  attempt refused by an open breaker stops the retry loop at once (``CIRCUIT_OPEN`` is not
  retriable) and moves on to the fallback model.
* **Graceful degradation, in order:** a fallback model when the primary's breaker is open or its
  retries are spent; a shorter prompt (the last few turns only) while the limiter is nearly empty
  or a breaker is probing; and when nothing can answer, an honest reply that says what failed.
  ``chat`` never raises for a fault the lesson covers; it raises only for bad input (a non-string
  or empty message) and for cancellation (Ctrl-C stops the agent, as it should).
* **A failed turn is not remembered.** Memory records a question only together with its answer.
* **Secrets stay secret.** The API key lives in a :class:`~day6.config.Secret` and is revealed
  only to the SDK client; the agent's repr, replies, errors and saved files never contain it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2

from day6.backend import DEFAULT_BASE_URL, OFFLINE_API_KEY, EmbeddedBackend
from day6.circuit_breaker import CircuitBreaker, CircuitState, Permit
from day6.clock import Clock, SystemClock
from day6.config import ReliabilityConfig, Secret
from day6.errors import (
    CircuitOpenError,
    ErrorKind,
    QuotaExceededError,
    RateLimitedError,
    RetryError,
    classify,
)
from day6.faults import AsyncFaultTransport, FaultInjector, FaultTransport
from day6.memory import ConversationMemory
from day6.monitoring import HealthRegistry, HealthReport, HealthStatus, Monitor, MonitorSnapshot
from day6.rate_limit import AdaptiveRateLimiter, QuotaManager, TokenBucket
from day6.rate_limit.quota import Reservation
from day6.retry import RetryBudget, RetryPolicy

__all__ = ["AgentReply", "ResilientAgent"]

SYSTEM_PROMPT = "You are day6, a helpful assistant that explains how to make LLM agents resilient."
_SHORT_CONTEXT_MESSAGES = 2  # the prompt fallback keeps the last turn only
_LOW_HEADROOM = 0.2  # below this fraction of the bucket, shorten the prompt


@dataclass(frozen=True, slots=True)
class AgentReply:
    """What one ``chat`` call produced, and how.

    ``ok`` is true when a model answered; ``degraded`` when the answer came through a fallback
    (another model, a shortened prompt) or is the agent's own apology. ``attempts`` counts the
    requests that really went out (an attempt refused by a breaker or the limiter costs the
    backend nothing and is not counted). ``notes`` tell the story in plain words ("day6-mini:
    circuit open, next probe in 41.2 s").
    """

    text: str
    ok: bool
    degraded: bool
    model: str | None
    attempts: int
    latency: float
    notes: tuple[str, ...] = ()
    kind: ErrorKind | None = None

    def __str__(self) -> str:
        return self.text


@dataclass
class _Turn:
    """Mutable bookkeeping for one chat call."""

    started: float
    reservation: Reservation | None = None
    tokens: int = 0
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    kind: ErrorKind | None = None
    shortened: bool = False


class ResilientAgent:
    """A chat agent that keeps answering while the backend fails, throttles or disappears.

    Args:
        api_key: a key for a real OpenAI-compatible endpoint. With neither ``api_key`` nor
            ``base_url`` (and none in ``config.agent`` or ``OPENAI_API_KEY`` /
            ``OPENAI_BASE_URL`` in ``env``), the agent talks to the embedded offline backend.
        config: a :class:`~day6.config.ReliabilityConfig`; the lesson's defaults when omitted.
        clock, rng: injected time and randomness. With a :class:`~day6.clock.FakeClock` the whole
            stack (backoff, breaker timeouts, limiter refill, backend latency, injected hangs)
            runs in fake time: instant and deterministic.
        backend: the embedded backend to use offline (one is built when omitted).
        injector: the fault injector on the transport (one is built when omitted, disarmed).
        memory, monitor: pass your own to share or inspect them.
        env: where to look for ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``OPENAI_MODEL``
            (default ``os.environ``; pass ``{}`` to force offline).
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        config: ReliabilityConfig | None = None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        backend: EmbeddedBackend | None = None,
        injector: FaultInjector | None = None,
        memory: ConversationMemory | None = None,
        monitor: Monitor | None = None,
        env: Mapping[str, str] | None = None,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        env = os.environ if env is None else env
        config = config if config is not None else ReliabilityConfig()
        agent_cfg = config.agent
        key = _as_secret(api_key) or agent_cfg.api_key or _as_secret(env.get("OPENAI_API_KEY") or None)
        url = base_url or agent_cfg.base_url or env.get("OPENAI_BASE_URL") or None
        remote = key is not None or url is not None
        model = model or (env.get("OPENAI_MODEL") if remote else None) or agent_cfg.model
        agent_cfg = replace(agent_cfg, model=model, base_url=url, api_key=key)
        self.config = replace(config, agent=agent_cfg)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None else random.Random()
        self.system_prompt = system_prompt
        self.models: tuple[str, ...] = (
            agent_cfg.model,
            *(m for m in agent_cfg.fallback_models if m != model),
        )

        self.monitor = (
            monitor
            if monitor is not None
            else Monitor(clock=self.clock, **self.config.monitoring.monitor_kwargs())
        )
        self.injector = (
            injector
            if injector is not None
            else FaultInjector(clock=self.clock, rng=random.Random(self.rng.random()), hooks=[self.monitor])
        )
        if backend is None and not remote:
            backend = EmbeddedBackend(clock=self.clock)
        self.backend = backend
        self.offline = backend is not None  # True: every request stays in this process
        self.memory = (
            memory
            if memory is not None
            else ConversationMemory(agent_cfg.memory_path, max_messages=agent_cfg.max_history_messages)
        )
        self._build_patterns()
        self._client: Any = None
        self._async_client: Any = None
        self.health_checks = self._build_health()

    # ---- construction ------------------------------------------------------------------------

    def _build_patterns(self) -> None:
        cfg = self.config
        hooks = [self.monitor]
        # gRPC's default ratio (0.1) throttles retries once ~9 % of calls fail: right for a fleet,
        # too tight for one interactive client under the lesson's 10-20 % flaky backends. A ratio
        # of 1 still stops a storm (retries stop once failures outnumber successes) and leaves
        # whole outages to the breaker.
        self.budget = RetryBudget(max_tokens=10.0, token_ratio=1.0)
        self.retry = RetryPolicy(
            **cfg.retry.kwargs(), budget=self.budget, clock=self.clock, rng=self.rng, hooks=hooks
        )
        self.breakers: dict[str, CircuitBreaker] = {
            m: CircuitBreaker(m, **cfg.circuit_breaker.kwargs(), clock=self.clock, hooks=hooks)
            for m in self.models
        }
        rl = cfg.rate_limit
        self.limiter: TokenBucket | AdaptiveRateLimiter
        if rl.adaptive_enabled:
            self.limiter = AdaptiveRateLimiter(
                initial_rate=rl.rate_per_second,
                min_rate=rl.min_rate_per_minute / 60.0,
                max_rate=rl.max_rate_per_minute / 60.0,
                capacity=rl.burst_size,
                clock=self.clock,
                hooks=hooks,
                name="client",
            )
        else:
            self.limiter = TokenBucket(
                capacity=rl.burst_size, rate=rl.rate_per_second, clock=self.clock, hooks=hooks, name="client"
            )
        self.quota: QuotaManager | None = None
        limits = _quota_limits(cfg.quota.kwargs())
        if limits:
            self.quota = QuotaManager(limits=limits, clock=self.clock, hooks=hooks)

    def _transport(self) -> httpx2.BaseTransport:
        inner: httpx2.BaseTransport = (
            self.backend.transport() if self.backend is not None else httpx2.HTTPTransport()
        )
        return FaultTransport(inner, self.injector)

    def _async_transport(self) -> httpx2.AsyncBaseTransport:
        inner: httpx2.AsyncBaseTransport = (
            self.backend.transport() if self.backend is not None else httpx2.AsyncHTTPTransport()
        )
        return AsyncFaultTransport(inner, self.injector)

    def _client_kwargs(self) -> dict[str, Any]:
        cfg = self.config.agent
        key = cfg.api_key.reveal() if cfg.api_key is not None else OFFLINE_API_KEY
        return {
            "api_key": key,
            "base_url": cfg.base_url or DEFAULT_BASE_URL,
            "max_retries": 0,  # exactly one retry layer: ours
            "timeout": cfg.request_timeout,
        }

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client (built on first use; the SDK import is not free)."""
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                **self._client_kwargs(), http_client=httpx2.Client(transport=self._transport())
            )
        return self._client

    @property
    def async_client(self) -> Any:
        if self._async_client is None:
            import openai

            self._async_client = openai.AsyncOpenAI(
                **self._client_kwargs(), http_client=httpx2.AsyncClient(transport=self._async_transport())
            )
        return self._async_client

    def _build_health(self) -> HealthRegistry:
        registry = HealthRegistry(clock=self.clock)
        for name, breaker in self.breakers.items():
            registry.register(f"breaker:{name}", _breaker_check(breaker), critical=name == self.models[0])
        registry.register("rate_limiter", self._limiter_check, critical=False)
        if self.quota is not None:
            registry.register("quota", self._quota_check)
        registry.register_ping("backend", self._ping, timeout=min(5.0, self.config.agent.request_timeout))
        return registry

    def _ping(self, timeout: float) -> None:
        """Dependency ping: list the models, through the same transport (faults included)."""
        self.client.models.list(timeout=timeout)

    # ---- the call path -----------------------------------------------------------------------

    def chat(self, text: str) -> AgentReply:
        """Answer ``text``; never raises for a fault the lesson covers (see the module docs)."""
        text = _check_text(text)
        turn = _Turn(started=self.clock.now())
        refusal = self._admit(turn)
        if refusal is not None:
            return refusal
        messages = self._messages(text, turn)
        for model in self.models:
            try:
                answer = self.retry.call(self._attempt, model, messages, turn)
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                self._note_failure(model, exc, turn)
                continue
            return self._answered(text, answer, model, turn)
        return self._give_up(turn)

    async def achat(self, text: str) -> AgentReply:
        """The async twin of :meth:`chat`: same path, awaiting the SDK, the limiter and backoff."""
        text = _check_text(text)
        turn = _Turn(started=self.clock.now())
        refusal = self._admit(turn)
        if refusal is not None:
            return refusal
        messages = self._messages(text, turn)
        for model in self.models:
            try:
                answer = await self.retry.acall(self._aattempt, model, messages, turn)
            except Exception as exc:
                self._note_failure(model, exc, turn)
                continue
            return self._answered(text, answer, model, turn)
        return self._give_up(turn)

    def _admit(self, turn: _Turn) -> AgentReply | None:
        """The quota check: refuse before spending a call that would fail anyway."""
        if self.quota is None:
            return None
        try:
            turn.reservation = self.quota.reserve(requests=1)
        except QuotaExceededError as exc:
            turn.kind = ErrorKind.QUOTA_EXHAUSTED
            when = f"; it resets in {exc.retry_after:.0f} s" if exc.retry_after is not None else ""
            turn.notes.append(f"quota: the {exc.resource} budget for this period is spent{when}")
            return self._give_up(turn)
        return None

    def _messages(self, text: str, turn: _Turn) -> list[dict[str, str]]:
        """System prompt + history + the question; shortened while capacity is scarce."""
        scarce = self.limiter.headroom().fraction < _LOW_HEADROOM
        probing = any(b.state is CircuitState.HALF_OPEN for b in self.breakers.values())
        last: int | None = None
        if scarce or probing:
            last = _SHORT_CONTEXT_MESSAGES
            turn.shortened = len(self.memory) > last
            if turn.shortened:
                why = "rate limiter nearly empty" if scarce else "circuit breaker probing"
                turn.notes.append(f"prompt fallback: sent only the last turn ({why})")
        return [
            {"role": "system", "content": self.system_prompt},
            *self.memory.context(last=last),
            {"role": "user", "content": text},
        ]

    def _limit_wait(self) -> float:
        """How long an attempt may queue for a limiter token: as long as a request may take."""
        return self.config.agent.request_timeout

    def _attempt(self, model: str, messages: list[dict[str, str]], turn: _Turn) -> str:
        """One attempt: a breaker permit, a limiter token, one SDK call, feedback to both.

        The permit comes first so an open breaker fails fast instead of queueing for a token.
        """
        breaker = self.breakers[model]
        permit = breaker.try_acquire()
        try:
            self.limiter.acquire(1, timeout=self._limit_wait())
        except BaseException:
            breaker.release(permit)
            raise
        turn.attempts += 1  # from here on the request really goes out
        sent_at = self.clock.now()
        try:
            raw = self.client.chat.completions.with_raw_response.create(model=model, messages=messages)
            completion = raw.parse()
        except BaseException as exc:
            self._attempt_failed(breaker, permit, exc, sent_at)
            raise
        return self._attempt_succeeded(breaker, permit, raw.headers, completion, turn, sent_at)

    async def _aattempt(self, model: str, messages: list[dict[str, str]], turn: _Turn) -> str:
        """The async twin of :meth:`_attempt`."""
        breaker = self.breakers[model]
        permit = breaker.try_acquire()
        try:
            await self.limiter.aacquire(1, timeout=self._limit_wait())
        except BaseException:
            breaker.release(permit)
            raise
        turn.attempts += 1
        sent_at = self.clock.now()
        try:
            raw = await self.async_client.chat.completions.with_raw_response.create(
                model=model, messages=messages
            )
            completion = raw.parse()
        except BaseException as exc:
            self._attempt_failed(breaker, permit, exc, sent_at)
            raise
        return self._attempt_succeeded(breaker, permit, raw.headers, completion, turn, sent_at)

    def _attempt_succeeded(
        self,
        breaker: CircuitBreaker,
        permit: Permit,
        headers: Mapping[str, str],
        completion: Any,
        turn: _Turn,
        sent_at: float,
    ) -> str:
        breaker.record_success(permit)
        if isinstance(self.limiter, AdaptiveRateLimiter):
            self.limiter.record_success(sent_at=sent_at)
            self.limiter.observe_headers(headers)
        turn.tokens += completion.usage.total_tokens if completion.usage is not None else 0
        return str(completion.choices[0].message.content or "")

    def _attempt_failed(
        self, breaker: CircuitBreaker, permit: Permit, exc: BaseException, sent_at: float
    ) -> None:
        breaker.record_failure(permit, exc)
        if isinstance(self.limiter, AdaptiveRateLimiter) and isinstance(exc, Exception):
            # ``sent_at`` lets the limiter cut its rate once per overload episode, not once per 429.
            # The limiter classifies with its own clock's wall time (an HTTP-date Retry-After).
            self.limiter.record_failure(exc, sent_at=sent_at)

    def _note_failure(self, model: str, exc: Exception, turn: _Turn) -> None:
        cause: BaseException = exc.__cause__ if isinstance(exc, RetryError) and exc.__cause__ else exc
        verdict = classify(cause)
        turn.kind = verdict.kind
        if isinstance(cause, CircuitOpenError):
            turn.notes.append(f"{model}: circuit {cause.state}, next probe in {cause.retry_after:.1f} s")
        elif isinstance(cause, RateLimitedError):
            returns = _secs(cause.retry_after)
            turn.notes.append(f"{model}: client-side rate limit, capacity returns in {returns}")
        elif isinstance(exc, RetryError):
            tries = len(exc.attempts)
            turn.notes.append(f"{model}: {verdict.kind.value} after {tries} attempt(s): {verdict.reason}")
        else:
            turn.notes.append(f"{model}: {verdict.kind.value}: {verdict.reason}")

    def _answered(self, question: str, answer: str, model: str, turn: _Turn) -> AgentReply:
        fallback = model != self.models[0]
        if fallback:
            turn.notes.append(f"answered by fallback model {model}")
        degraded = fallback or turn.shortened
        latency = self.clock.now() - turn.started
        self._settle_quota(turn)
        self.memory.record_turn(question, answer)  # a failed save warns, never raises
        if self.memory.save_error is not None:
            turn.notes.append(f"memory: {self.memory.save_error}")
        self.monitor.record_request(
            "fallback" if degraded else "ok", latency, attempts=turn.attempts, kind=turn.kind, model=model
        )
        return AgentReply(answer, True, degraded, model, turn.attempts, latency, tuple(turn.notes), turn.kind)

    def _settle_quota(self, turn: _Turn) -> None:
        """Charge what was really spent: every attempt sent is a request the provider counted."""
        if self.quota is None or turn.reservation is None:
            return
        if turn.attempts:
            self.quota.commit(turn.reservation, requests=turn.attempts, tokens=turn.tokens)
        else:
            self.quota.release(turn.reservation)
        turn.reservation = None

    def _give_up(self, turn: _Turn) -> AgentReply:
        self._settle_quota(turn)
        latency = self.clock.now() - turn.started
        detail = "; ".join(turn.notes) if turn.notes else "no model could be reached"
        text = (
            f"Sorry, I could not get an answer right now ({detail}). "
            "Your message was not added to the conversation; please try again shortly."
        )
        self.monitor.record_request("failed", latency, attempts=turn.attempts, kind=turn.kind, model=None)
        return AgentReply(text, False, True, None, turn.attempts, latency, tuple(turn.notes), turn.kind)

    # ---- operator views ----------------------------------------------------------------------

    def stats(self) -> MonitorSnapshot:
        """The monitor's snapshot: requests, latency percentiles, retries, breakers, limiter."""
        return self.monitor.snapshot()

    def health(self) -> HealthReport:
        """Component health (breakers, limiter, quota) rolled up into one status."""
        return self.health_checks.run()

    def describe_config(self) -> str:
        """The effective configuration, secrets masked."""
        mode = "embedded offline backend" if self.offline else "remote OpenAI-compatible endpoint"
        return f"# backend: {mode}; models: {', '.join(self.models)}\n{self.config.describe()}"

    def reset(self) -> None:
        """Back to a clean slate: faults disarmed, breakers closed, limiter full, stats zeroed.

        The conversation is kept: use ``memory.clear()`` to forget it.
        """
        self.injector.clear()
        for breaker in self.breakers.values():
            breaker.reset()
        self._build_patterns()
        self.health_checks = self._build_health()
        self.monitor.reset()

    def close(self) -> None:
        """Close the sync SDK client (its connection pool); use :meth:`aclose` after ``achat``."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close both SDK clients, the async one included."""
        self.close()
        if self._async_client is not None:
            await self._async_client.close()

    def __enter__(self) -> ResilientAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _limiter_check(self) -> tuple[HealthStatus, str]:
        room = self.limiter.headroom()
        if room.fraction <= 0.0:
            return HealthStatus.DEGRADED, f"bucket empty; next token in {self.limiter.time_until(1):.2f} s"
        return HealthStatus.HEALTHY, f"{room.fraction:.0%} of the burst available"

    def _quota_check(self) -> tuple[HealthStatus, str]:
        assert self.quota is not None
        left = self.quota.remaining()
        spent = [f"{res} per {per}" for res, periods in left.items() for per, v in periods.items() if v <= 0]
        if spent:
            return HealthStatus.UNHEALTHY, f"quota spent: {', '.join(spent)}"
        return HealthStatus.HEALTHY, "quota available"

    def __repr__(self) -> str:
        where = "offline" if self.offline else "remote"
        return f"ResilientAgent({where}, models={self.models!r})"


def _breaker_check(breaker: CircuitBreaker) -> Callable[[], tuple[HealthStatus, str]]:
    def check() -> tuple[HealthStatus, str]:
        state = breaker.state
        if state in (CircuitState.CLOSED, CircuitState.DISABLED):
            return HealthStatus.HEALTHY, f"circuit {state.value}"
        if state is CircuitState.HALF_OPEN:
            return HealthStatus.DEGRADED, "circuit half-open: probing the backend"
        return HealthStatus.UNHEALTHY, f"circuit {state.value}: calls are failing fast"

    return check


def _quota_limits(fields: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``requests_per_day=1000`` -> ``{"requests": {"day": 1000}}`` (unset budgets left out)."""
    limits: dict[str, dict[str, float]] = {}
    for name, value in fields.items():
        if value is not None:
            resource, _, period = name.partition("_per_")
            limits.setdefault(resource, {})[period] = value
    return limits


def _as_secret(value: str | Secret | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value) if value else None


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"chat() takes the message as a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("chat() needs a non-empty message")
    return text


def _secs(value: float | None) -> str:
    return "an unknown time" if value is None else f"{value:.1f} s"
