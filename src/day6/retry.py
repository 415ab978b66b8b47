"""Retrying a failed call: a policy that *decides*, and small drivers that *act*.

The lesson's retry manager in one sentence: classify each failure, retry only what another attempt
can fix, wait longer each time (with jitter), honour the server's Retry-After, and stop when the
attempts, the deadline or the shared retry budget run out.

Decide, then act
----------------
Deciding and acting are separate, as in tenacity's ``DoAttempt`` / ``DoSleep`` loop. For each call,
:meth:`RetryPolicy.start` returns a :class:`RetryState`; after a failure,
:meth:`RetryState.on_error` returns a :class:`RetryDecision` (retry or not, how long to wait, and
why). The state never sleeps. A *driver* does the waiting, which is why one policy serves three
worlds:

* :meth:`RetryPolicy.call` sleeps with ``clock.sleep`` (threads, scripts, ``day6 chat``);
* :meth:`RetryPolicy.acall` awaits ``clock.asleep`` (asyncio; cancellable mid-sleep);
* a simpy process yields ``env.timeout(decision.delay)`` (the lab simulations, in ``day6.sim``).

Any driver follows the same recipe::

    state = policy.start()                     # attempt 1 starts now
    while True:
        try:
            result = do_the_call()
        except Exception as exc:
            decision = state.on_error(exc)
            if not decision.retry:
                raise state.final_error(exc)   # the error itself, or a RetryError with the history
            wait(decision.delay)               # time.sleep / await asyncio.sleep / yield env.timeout
            state.begin_attempt()              # the next attempt starts now
        else:
            state.on_success()
            return result

Only ``Exception`` is caught: ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit`` and
``asyncio.CancelledError`` derive from ``BaseException`` and propagate at once, even from inside
a backoff sleep, and no attempt follows them. A cancelled call emits no ``retry.gave_up`` event:
the caller abandoned it, the policy did not decide anything.

What the caller sees when the policy stops
------------------------------------------
* A **non-retriable** error (a 401, a 400, an unknown bug) is re-raised *as is*, after one
  attempt: the caller wants the SDK's ``AuthenticationError`` to handle it, not a wrapper around
  it, and there is no retry history worth reporting.
* A **retriable** error that could not be retried further (attempts exhausted, deadline passed,
  Retry-After too long, budget refused) becomes a :class:`~day6.errors.RetryError` (or its
  subclass :class:`~day6.errors.RetryAfterTooLongError` / :class:`~day6.errors.RetryBudgetExhaustedError`)
  raised *from* the last error: ``err.attempts`` is the history, ``err.__cause__`` the last error.
  Wrapping here tells the caller something the bare error cannot: "this was retried, N times,
  and why it stopped".

Sharing
-------
A :class:`RetryPolicy` is immutable and may be shared by any number of threads and tasks; all
per-call data (attempt number, history, previous delay) lives in the :class:`RetryState` each
call creates. The :class:`RetryBudget` is the one deliberately shared, thread-safe object: it
limits retries across *all* calls, which a per-call attempt cap cannot do.

The success path is kept nearly free: with no deadline and no hooks attached, a call that
succeeds at once reads no clock, allocates no state, takes no lock and builds no event. The
price, documented on :class:`RetryState`: in that mode the first attempt's ``started_at`` in a
history is the moment it *failed* (the clock is read only once something has gone wrong).
"""

from __future__ import annotations

import enum
import functools
import inspect
import itertools
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NoReturn, ParamSpec, TypeVar, overload

from day6._events import EventHook, Hooks
from day6.backoff import Backoff, Jitter, _as_jitter, _require_real
from day6.clock import Clock, SystemClock
from day6.errors import (
    AttemptRecord,
    Classification,
    ConfigError,
    ErrorKind,
    RetryAfterTooLongError,
    RetryBudgetExhaustedError,
    RetryError,
    classify,
)

__all__ = [
    "AttemptStarted",
    "RetryBudget",
    "RetryDecision",
    "RetryGaveUp",
    "RetryPolicy",
    "RetryPredicate",
    "RetryScheduled",
    "RetryState",
    "RetrySucceeded",
]

P = ParamSpec("P")
T = TypeVar("T")

RetryPredicate = Callable[[BaseException], "bool | Classification"]
"""Decides whether an error is worth another attempt: a bool, or a full :class:`Classification`.

A bool overrides only the *retriable* verdict; the failure's kind and the server's Retry-After
still come from :func:`~day6.errors.classify`. Cancellation is never retried, whatever it says.
"""

_call_ids = itertools.count(1)
"""Process-wide call ids for events; ``next()`` on a count is atomic under the GIL."""


# --------------------------------------------------------------------------------------------------
# Events (topics per the table in day6._events)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """Attempt number ``attempt`` of call ``call_id`` started at ``at``."""

    topic: ClassVar[str] = "retry.attempt"
    at: float
    call_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """The previous attempt failed with ``kind``; attempt ``attempt`` will start after ``delay`` s."""

    topic: ClassVar[str] = "retry.scheduled"
    at: float
    call_id: int
    attempt: int
    delay: float
    kind: ErrorKind
    reason: str


@dataclass(frozen=True, slots=True)
class RetrySucceeded:
    """Call ``call_id`` succeeded on attempt ``attempts``, ``elapsed`` s after its first attempt began."""

    topic: ClassVar[str] = "retry.succeeded"
    at: float
    call_id: int
    attempts: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class RetryGaveUp:
    """Call ``call_id`` stopped after ``attempts`` attempts; ``kind`` and ``reason`` say why."""

    topic: ClassVar[str] = "retry.gave_up"
    at: float
    call_id: int
    attempts: int
    kind: ErrorKind
    reason: str
    elapsed: float


# --------------------------------------------------------------------------------------------------
# The shared retry budget
# --------------------------------------------------------------------------------------------------


class RetryBudget:
    """A token bucket shared by many calls that throttles retries when most calls are failing.

    Per-call attempt caps do not stop a *retry storm*: if a backend fails every request, 1000
    clients with ``attempts=3`` still triple its load exactly when it can least take it. A budget
    counts failures and successes across every call that shares it, and refuses retries (never
    first attempts) once failures dominate.

    This is gRPC's retry throttling (gRFC A6): the bucket starts full at ``max_tokens``; every
    retriable failure takes 1 token; every success gives back ``token_ratio``; a retry is allowed
    only while ``tokens > max_tokens / 2``. In steady state retries are then bounded by about
    ``token_ratio`` times the successes (10 % with the defaults), and a healthy system (tokens
    near the top) is never throttled. Chosen over the AWS SDK's retry quota (a capacity of 500,
    5 per retry, 10 per timeout, refunded on success) because two numbers with one meaning ("at
    most ~10 % extra load") are easier to reason about, and because it counts failed *first*
    attempts too, so it notices an outage even when each client retries only a little.
    Non-retriable failures (a 400, a spent quota) cost nothing: they say nothing about overload.

    Thread-safe. Successes are lock-free (``next()`` on an ``itertools.count`` is atomic under the
    GIL) so the success path never contends; failures, which are already the slow path, take a
    lock and fold the accumulated successes in. Folding ``k`` successes at once gives exactly
    ``min(max_tokens, tokens + k * token_ratio)``, the same as adding them one by one, because
    between two failures the tokens only go up.
    """

    __slots__ = ("_folds", "_lock", "_max", "_ratio", "_seen", "_ticks", "_tokens")

    def __init__(self, *, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        max_tokens = _require_real("max_tokens", max_tokens)
        token_ratio = _require_real("token_ratio", token_ratio)
        if max_tokens <= 0.0:
            raise ConfigError("max_tokens", max_tokens, "must be > 0")
        if not 0.0 < token_ratio <= max_tokens:
            raise ConfigError("token_ratio", token_ratio, f"must be > 0 and <= max_tokens ({max_tokens!r})")
        self._max = max_tokens
        self._ratio = token_ratio
        self._tokens = max_tokens
        self._lock = threading.Lock()
        self._ticks = itertools.count()  # one value per success and one per fold
        self._folds = 0  # values taken by folds (under the lock)
        self._seen = 0  # successes already credited

    @property
    def max_tokens(self) -> float:
        return self._max

    @property
    def token_ratio(self) -> float:
        return self._ratio

    @property
    def tokens(self) -> float:
        """The current token count (successes so far included)."""
        with self._lock:
            self._fold()
            return self._tokens

    def allows_retry(self) -> bool:
        """Whether the bucket is above the throttling line, ``tokens > max_tokens / 2`` (spends nothing).

        A failure takes its token *before* this test is applied, so a failing call retries only if
        the bucket is still above the line after paying for that failure.
        """
        return self.tokens > self._max / 2.0

    def record_success(self) -> None:
        """A call succeeded: credit ``token_ratio`` (lock-free; folded in at the next failure)."""
        next(self._ticks)

    def record_failure(self) -> bool:
        """A retriable attempt failed: take one token; return whether a retry is still allowed."""
        with self._lock:
            self._fold()
            self._tokens = max(0.0, self._tokens - 1.0)
            return self._tokens > self._max / 2.0

    def _fold(self) -> None:
        """Credit the successes recorded since the last fold (the caller holds the lock)."""
        successes = next(self._ticks) - self._folds  # values drawn before this one, minus folds
        self._folds += 1
        new = successes - self._seen
        if new:
            self._seen = successes
            self._tokens = min(self._max, self._tokens + new * self._ratio)

    def __repr__(self) -> str:
        return f"RetryBudget(max_tokens={self._max!r}, token_ratio={self._ratio!r}, tokens={self.tokens:.2f})"


# --------------------------------------------------------------------------------------------------
# Decisions and per-call state
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """The policy's answer to one failure.

    ``retry`` says whether to make another attempt, after ``delay`` seconds (0.0 when not
    retrying); ``classification`` is the verdict on the error; ``reason`` one sentence for logs.
    """

    retry: bool
    delay: float
    classification: Classification
    reason: str


class _Stop(enum.Enum):
    """Why a state stopped retrying; picks the class of the final error."""

    NOT_RETRIABLE = enum.auto()
    EXHAUSTED = enum.auto()
    DEADLINE = enum.auto()
    RETRY_AFTER = enum.auto()
    BUDGET = enum.auto()


def _fmt(seconds: float) -> str:
    return f"{seconds:.6g}"


class RetryState:
    """One call's progress through a :class:`RetryPolicy`: attempt number, history, timing.

    Created by :meth:`RetryPolicy.start` (or by a driver after a first failure); never shared
    between calls, so it needs no lock. Attributes: ``call_id`` (unique in the process, used in
    events), ``attempt`` (the current or next attempt, 1-based), ``started_at`` (clock reading
    when the call began).

    Timing note: with no deadline and no hooks, the built-in drivers run the first attempt
    before creating any state (no clock read on the success path); if it fails, ``started_at``
    and the first history record's ``started_at`` are the moment of that failure.
    """

    __slots__ = (
        "_attempt_started_at",
        "_history",
        "_last",
        "_policy",
        "_previous_delay",
        "_retry_after",
        "_stop",
        "_why",
        "attempt",
        "call_id",
        "started_at",
    )

    def __init__(self, policy: RetryPolicy, started_at: float, *, announce: bool = True) -> None:
        self._policy = policy
        self.call_id = next(_call_ids)
        self.attempt = 1
        self.started_at = started_at
        self._attempt_started_at = started_at
        self._history: list[AttemptRecord] = []
        self._previous_delay: float | None = None
        self._stop: _Stop | None = None
        self._why = ""
        self._retry_after: float = 0.0
        self._last: Classification | None = None
        if announce and policy.hooks.active:
            policy.hooks.emit(AttemptStarted(at=started_at, call_id=self.call_id, attempt=1))

    @property
    def history(self) -> tuple[AttemptRecord, ...]:
        """The failed attempts so far, oldest first."""
        return tuple(self._history)

    def elapsed(self) -> float:
        """Seconds since the call began, by the policy's clock."""
        return self._policy.clock.now() - self.started_at

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or ``None`` without a deadline.

        Useful as a per-attempt timeout: the policy bounds when attempts *start*; only the
        callee can bound how long one attempt runs.
        """
        deadline = self._policy.deadline
        if deadline is None:
            return None
        return max(0.0, deadline - self.elapsed())

    def begin_attempt(self) -> None:
        """Mark that the next attempt starts now (call it after the backoff sleep)."""
        policy = self._policy
        self._attempt_started_at = now = policy.clock.now()
        if policy.hooks.active:
            policy.hooks.emit(AttemptStarted(at=now, call_id=self.call_id, attempt=self.attempt))

    def on_success(self) -> None:
        """The current attempt succeeded: credit the budget and emit ``retry.succeeded``."""
        policy = self._policy
        if policy.budget is not None:
            policy.budget.record_success()
        if policy.hooks.active:
            now = policy.clock.now()
            policy.hooks.emit(
                RetrySucceeded(
                    at=now, call_id=self.call_id, attempts=self.attempt, elapsed=now - self.started_at
                )
            )

    def on_error(self, exc: BaseException) -> RetryDecision:
        """Decide what to do about ``exc``, the error the current attempt raised.

        In order: classify (cancellation is never retried; a non-retriable error stops at once);
        charge the budget; stop if attempts are used up or the deadline has passed; compute the
        backoff delay; honour Retry-After (``delay = max(backoff, retry_after)``, or stop if the
        server asks for more than ``max_delay`` or the time left); clamp the delay to the time
        left, so no sleep ever ends past the deadline; stop if the budget refused; otherwise
        schedule attempt ``attempt + 1``.
        """
        policy = self._policy
        now = policy.clock.now()
        verdict = policy.classify(exc)
        self._last = verdict
        if not verdict.retriable:
            return self._stop_with(_Stop.NOT_RETRIABLE, exc, verdict, verdict.reason, now)
        allowed = policy.budget.record_failure() if policy.budget is not None else True
        if self.attempt >= policy.attempts:
            why = f"all {policy.attempts} attempts failed"
            return self._stop_with(_Stop.EXHAUSTED, exc, verdict, why, now)
        remaining: float | None = None
        if policy.deadline is not None:
            remaining = policy.deadline - (now - self.started_at)
            if remaining <= 0.0:
                why = f"the {_fmt(policy.deadline)} s deadline has passed"
                return self._stop_with(_Stop.DEADLINE, exc, verdict, why, now)
        backoff = policy.backoff.delay(self.attempt, policy.rng, self._previous_delay)
        delay = backoff
        retry_after = verdict.retry_after if policy.honour_retry_after else None
        if retry_after is not None:
            limit = policy.max_delay if remaining is None else min(policy.max_delay, remaining)
            if retry_after > limit:
                self._retry_after = retry_after
                why = f"server asks to wait {_fmt(retry_after)} s, policy allows at most {_fmt(limit)} s"
                return self._stop_with(_Stop.RETRY_AFTER, exc, verdict, why, now)
            delay = max(delay, retry_after)
        if remaining is not None:
            delay = min(delay, remaining)
        if not allowed:
            why = "the shared retry budget is exhausted (too many calls are failing)"
            return self._stop_with(_Stop.BUDGET, exc, verdict, why, now)
        self._history.append(
            AttemptRecord(self.attempt, self._attempt_started_at, verdict.kind.value, exc, delay)
        )
        self._previous_delay = backoff
        self.attempt += 1
        why = f"{verdict.reason}; attempt {self.attempt} of {policy.attempts} in {_fmt(delay)} s"
        if policy.hooks.active:
            policy.hooks.emit(
                RetryScheduled(
                    at=now,
                    call_id=self.call_id,
                    attempt=self.attempt,
                    delay=delay,
                    kind=verdict.kind,
                    reason=why,
                )
            )
        return RetryDecision(True, delay, verdict, why)

    def _stop_with(
        self, stop: _Stop, exc: BaseException, verdict: Classification, why: str, now: float
    ) -> RetryDecision:
        self._stop = stop
        self._why = why
        self._history.append(AttemptRecord(self.attempt, self._attempt_started_at, verdict.kind.value, exc))
        hooks = self._policy.hooks
        if hooks.active:
            hooks.emit(
                RetryGaveUp(
                    at=now,
                    call_id=self.call_id,
                    attempts=self.attempt,
                    kind=verdict.kind,
                    reason=why,
                    elapsed=now - self.started_at,
                )
            )
        return RetryDecision(False, 0.0, verdict, why)

    def give_up(self, exc: BaseException) -> RetryError:
        """The error to raise for a retriable failure the policy stopped on; ``__cause__`` is ``exc``.

        The class says why: :class:`~day6.errors.RetryAfterTooLongError` (with ``retry_after``),
        :class:`~day6.errors.RetryBudgetExhaustedError`, or plain :class:`~day6.errors.RetryError`
        (attempts exhausted, deadline passed). The message names the attempts, the elapsed time,
        why the policy stopped and the last error's kind, class, status and code, never the
        error's own text (it can carry account details); that stays on ``__cause__``.
        """
        history = tuple(self._history)
        verdict = self._last
        why = self._why or "the driver stopped retrying"
        last = type(exc).__name__
        if verdict is not None:
            facts = [last]
            if verdict.status is not None:
                facts.append(f"HTTP {verdict.status}")
            if verdict.code:
                facts.append(verdict.code)
            last = f"{verdict.kind.value} ({', '.join(facts)})"
        message = (
            f"gave up after {self.attempt} attempt(s) in {_fmt(self.elapsed())} s: {why}; last error: {last}"
        )
        err: RetryError
        if self._stop is _Stop.RETRY_AFTER:
            err = RetryAfterTooLongError(message, retry_after=self._retry_after, attempts=history)
        elif self._stop is _Stop.BUDGET:
            err = RetryBudgetExhaustedError(message, attempts=history)
        else:
            err = RetryError(message, attempts=history)
        err.__cause__ = exc
        return err

    def final_error(self, exc: BaseException) -> BaseException:
        """What a driver raises once a decision says stop.

        The error itself when it was never retriable (the caller wants the SDK's
        ``AuthenticationError``, not a wrapper), otherwise :meth:`give_up`.
        """
        if self._stop is _Stop.NOT_RETRIABLE:
            return exc
        return self.give_up(exc)

    def __repr__(self) -> str:
        return f"RetryState(call_id={self.call_id}, attempt={self.attempt}, failures={len(self._history)})"


# --------------------------------------------------------------------------------------------------
# The policy and its drivers
# --------------------------------------------------------------------------------------------------


class RetryPolicy:
    """When and how to retry a failing call. Immutable; share one across threads and tasks.

    Settings (keyword-only; the lesson's defaults):

    ``attempts=3``
        Total attempts, the first included: 3 means one call and up to two retries.
    ``base_delay=0.1``, ``multiplier=2.0``, ``max_delay=10.0``
        The backoff after failed attempt ``n`` is ``min(max_delay, base_delay * multiplier**(n-1))``
        before jitter: 0.1 s, 0.2 s, 0.4 s, ... ``base_delay`` must be > 0; :meth:`no_backoff`
        builds the policy that retries at once (a baseline for
        the labs, not a recommendation). ``max_delay`` also caps the server's Retry-After.
    ``jitter="proportional"``, ``jitter_ratio=0.25``
        How delays are randomised (:class:`~day6.backoff.Jitter`): the lesson's +-25 % by
        default; see :mod:`day6.backoff` for full, equal and decorrelated jitter.
    ``deadline=None``
        Total seconds allowed from the start of the first attempt. Attempts only *start* before
        it: a sleep never ends past it (the last one is clamped to the time left) and once no
        time is left the policy gives up with the history. It cannot interrupt a running attempt;
        give the callee :meth:`RetryState.remaining` as its timeout for that.
    ``retry_on=None``
        A :data:`RetryPredicate`; by default :func:`~day6.errors.classify` decides.
    ``honour_retry_after=True``
        Wait ``max(backoff, retry_after)`` when the server names a delay; if it names more than
        ``max_delay`` (or the time left before the deadline) give up at once with
        :class:`~day6.errors.RetryAfterTooLongError` instead of hammering it early or sleeping
        longer than the caller agreed to.
    ``budget=None``
        A :class:`RetryBudget` shared between policies or calls, to stop retry storms.
    ``clock=None`` (a :class:`~day6.clock.SystemClock`), ``rng=None`` (a fresh ``random.Random``)
        Injected time and randomness: a FakeClock and a seeded generator make every schedule exact.
    ``hooks=()``
        Event hooks (or a shared :class:`~day6._events.Hooks`) receiving :class:`AttemptStarted`,
        :class:`RetryScheduled`, :class:`RetrySucceeded` and :class:`RetryGaveUp`.

    Invalid settings raise :class:`~day6.errors.ConfigError` naming the setting.

    Use it three ways: ``policy.call(fn, *args)``, ``await policy.acall(async_fn, *args)``, or as
    a decorator ``@policy`` on a ``def`` or an ``async def``. Anything else (a simpy process, a
    streaming loop) drives :meth:`start` / :meth:`RetryState.on_error` itself.
    """

    __slots__ = (
        "attempts",
        "backoff",
        "base_delay",
        "budget",
        "clock",
        "deadline",
        "honour_retry_after",
        "hooks",
        "jitter",
        "jitter_ratio",
        "max_delay",
        "multiplier",
        "retry_on",
        "rng",
    )

    attempts: int
    base_delay: float
    multiplier: float
    max_delay: float
    jitter: Jitter
    jitter_ratio: float
    deadline: float | None
    retry_on: RetryPredicate | None
    honour_retry_after: bool
    budget: RetryBudget | None
    clock: Clock
    rng: random.Random
    hooks: Hooks
    backoff: Backoff

    def __init__(
        self,
        *,
        attempts: int = 3,
        base_delay: float = 0.1,
        multiplier: float = 2.0,
        max_delay: float = 10.0,
        jitter: Jitter | str = Jitter.PROPORTIONAL,
        jitter_ratio: float = 0.25,
        deadline: float | None = None,
        retry_on: RetryPredicate | None = None,
        honour_retry_after: bool = True,
        budget: RetryBudget | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        hooks: Hooks | Iterable[EventHook] = (),
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(
                "attempts", attempts, "must be an int >= 1 (total attempts, the first included)"
            )
        base = _require_real("base_delay", base_delay)
        if base <= 0.0:
            raise ConfigError(
                "base_delay",
                base_delay,
                "must be > 0 seconds (RetryPolicy.no_backoff() builds the retry-at-once baseline)",
            )
        mult = _require_real("multiplier", multiplier)
        if mult < 1.0:
            raise ConfigError("multiplier", multiplier, "must be >= 1 (delays must not shrink)")
        cap = _require_real("max_delay", max_delay)
        if cap < base:
            raise ConfigError("max_delay", max_delay, f"must be >= base_delay ({base!r})")
        mode = _as_jitter(jitter)
        ratio = _require_real("jitter_ratio", jitter_ratio)
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("jitter_ratio", jitter_ratio, "must be between 0 and 1")
        limit: float | None = None
        if deadline is not None:
            limit = _require_real("deadline", deadline)
            if limit <= 0.0:
                raise ConfigError("deadline", deadline, "must be > 0 seconds, or None for no deadline")
        if retry_on is not None and not callable(retry_on):
            raise ConfigError(
                "retry_on", retry_on, "must be a callable (error -> bool | Classification) or None"
            )
        if not isinstance(honour_retry_after, bool):
            raise ConfigError("honour_retry_after", honour_retry_after, "must be True or False")
        if budget is not None and not isinstance(budget, RetryBudget):
            raise ConfigError("budget", budget, "must be a RetryBudget or None")
        if clock is not None and not isinstance(clock, Clock):
            raise ConfigError("clock", clock, "must implement day6.clock.Clock (now, wall, sleep, asleep)")
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError("rng", rng, "must be a random.Random or None")
        schedule = Backoff(base=base, multiplier=mult, cap=cap, jitter=mode, jitter_ratio=ratio)
        init = object.__setattr__
        init(self, "attempts", attempts)
        init(self, "base_delay", base)
        init(self, "multiplier", mult)
        init(self, "max_delay", cap)
        init(self, "jitter", mode)
        init(self, "jitter_ratio", ratio)
        init(self, "deadline", limit)
        init(self, "retry_on", retry_on)
        init(self, "honour_retry_after", honour_retry_after)
        init(self, "budget", budget)
        init(self, "clock", SystemClock() if clock is None else clock)
        init(self, "rng", random.Random() if rng is None else rng)
        init(self, "hooks", hooks if isinstance(hooks, Hooks) else Hooks(hooks))
        init(self, "backoff", schedule)

    @classmethod
    def no_backoff(cls, **settings: Any) -> RetryPolicy:
        """A policy that retries at once, with no delay: the labs' "no backoff" baseline.

        It exists to be measured against, never to be used on a real service: retrying at once
        is exactly the storm the rest of this module prevents, which is why the constructor
        refuses ``base_delay=0``. ``settings`` are the other keyword settings (``attempts``,
        ``retry_on``, ``clock``, ...); the delay settings do not apply.
        """
        delay_settings = {"base_delay", "multiplier", "max_delay", "jitter", "jitter_ratio"} & settings.keys()
        if delay_settings:
            raise ConfigError(
                ", ".join(sorted(delay_settings)), "given", "no_backoff() takes no delay settings"
            )
        policy = cls(**settings)
        object.__setattr__(policy, "base_delay", 0.0)
        object.__setattr__(policy, "backoff", Backoff.none())
        return policy

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"RetryPolicy is immutable (cannot set {name!r}); build a new policy instead")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"RetryPolicy is immutable (cannot delete {name!r})")

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(attempts={self.attempts}, base_delay={self.base_delay!r}, "
            f"multiplier={self.multiplier!r}, max_delay={self.max_delay!r}, jitter={self.jitter.value!r}, "
            f"jitter_ratio={self.jitter_ratio!r}, deadline={self.deadline!r}, "
            f"honour_retry_after={self.honour_retry_after}, budget={self.budget!r}, clock={self.clock!r})"
        )

    # -- deciding --------------------------------------------------------------------------------

    def classify(self, exc: BaseException) -> Classification:
        """The verdict on ``exc`` under this policy: ``retry_on`` if given, else :func:`classify`.

        Anything that is not an ``Exception`` (cancellation, interrupts, exit) is never retriable,
        and neither is whatever :func:`classify` calls CANCELLED, whatever ``retry_on`` says.
        """
        base = classify(exc, now_wall=self.clock.wall())
        if base.kind is ErrorKind.CANCELLED or not isinstance(exc, Exception):
            return replace(base, kind=ErrorKind.CANCELLED, retriable=False)
        if self.retry_on is None:
            return base
        verdict = self.retry_on(exc)
        if isinstance(verdict, Classification):
            return verdict
        retriable = bool(verdict)
        if retriable is base.retriable:
            return base
        said = "retry" if retriable else "do not retry"
        return replace(base, retriable=retriable, reason=f"retry_on says {said} ({base.reason})")

    def start(self) -> RetryState:
        """Begin a call: attempt 1 starts now. Returns the per-call state a driver works with."""
        return RetryState(self, self.clock.now())

    # -- acting: drivers ---------------------------------------------------------------------------

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` with retries, sleeping on the policy's clock between attempts."""
        if self.deadline is None and not self.hooks.active:
            # Fast path: nothing needs the clock or a state unless the first attempt fails.
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                if self.budget is not None:
                    self.budget.record_success()
                return result
            state = RetryState(self, self.clock.now(), announce=False)
        else:
            state = self.start()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                state.on_success()
                return result
        # Outside the except block, so later errors do not chain to this one as their "context".
        while True:
            decision = state.on_error(error)
            if not decision.retry:
                raise state.final_error(error)
            self.clock.sleep(decision.delay)
            state.begin_attempt()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                state.on_success()
                return result

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` with retries, awaiting ``clock.asleep`` between attempts.

        Cancelling the task (``asyncio.CancelledError``) propagates at once, from inside an attempt
        or from the middle of a backoff sleep; no further attempt is made.
        """
        if self.deadline is None and not self.hooks.active:
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                if self.budget is not None:
                    self.budget.record_success()
                return result
            state = RetryState(self, self.clock.now(), announce=False)
        else:
            state = self.start()
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                state.on_success()
                return result
        while True:
            decision = state.on_error(error)
            if not decision.retry:
                raise state.final_error(error)
            await self.clock.asleep(decision.delay)
            state.begin_attempt()
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                state.on_success()
                return result

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, T]], /) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T], /) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, Any], /) -> Callable[P, Any]:
        """Decorate ``fn`` so every call goes through this policy (``def`` and ``async def`` alike).

        ``async def`` functions are detected with :func:`inspect.iscoroutinefunction` and wrapped
        in an ``async def`` that uses :meth:`acall`. Other callables that merely *return* an
        awaitable look synchronous to that test; wrap those with :meth:`acall` explicitly.
        """
        if inspect.iscoroutinefunction(fn):
            acall = self.acall

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await acall(fn, *args, **kwargs)

            return async_wrapper
        call = self.call

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            return call(fn, *args, **kwargs)

        return wrapper
