"""The circuit breaker: stop calling a backend that is down, and find out safely when it is back.

Retries help with a *blip*. When the backend is really down, retrying makes things worse: every
client hammers a service that cannot answer, each call waits for its own timeout, and the backend
cannot recover under the load. A circuit breaker watches the outcomes of calls and, once the
evidence says "this backend is unhealthy", fails fast for a while without calling it at all.

The state machine::

                 failure_threshold consecutive failures, or a failure rate
                 >= failure_rate_threshold over the sliding window
        CLOSED ─────────────────────────────────────────────────────────▶ OPEN
          ▲                                                                │
          │ success_threshold probe successes         recovery timeout     │
          │                                           elapsed (checked on  │
          │                                           the next call)       ▼
          └──────────────────────────────────────────────────────────── HALF_OPEN
                    a probe failure re-opens at once, with the recovery
                    timeout multiplied by recovery_backoff (capped)

* **CLOSED** lets every call through and counts outcomes.
* **OPEN** rejects every call with :class:`~day6.errors.CircuitOpenError`, whose ``retry_after``
  says when the next probe will be allowed. No call reaches the backend, which is the point.
* **HALF_OPEN** lets at most ``half_open_max_calls`` *probes* through at once. Enough probe
  successes close the breaker; one probe failure opens it again, for longer each time
  (``recovery_timeout * recovery_backoff ** (trips - 1)``, capped at ``max_recovery_timeout``), so a
  backend that keeps failing is probed less and less often.
* **FORCED_OPEN** and **DISABLED** are operator states: reject everything, or allow everything
  (still counting), until :meth:`CircuitBreaker.reset`.

Design choices worth noticing:

* **No timers, no threads, no sleeping.** OPEN becomes HALF_OPEN *lazily*, when a call arrives after
  the recovery timeout, by reading the injected clock. That is why the same class runs in real time,
  under a :class:`~day6.clock.FakeClock` in tests, and inside a simpy simulation in Lab 2.
* **Not every error is the backend's fault.** A 400 (bad request), a spent quota or a client-side
  rate limit says nothing about the backend's health; counting them would lock healthy traffic out.
  By default only :func:`day6.errors.classify` kinds that are backend faults count (server errors,
  overload, timeouts, network); anything else is *ignored*. Cancellation (``CancelledError``,
  ``KeyboardInterrupt``) is never a failure: the caller gave up, the backend did nothing wrong.
* **Slow is a failure too.** With ``slow_call_threshold`` set, a call that took longer counts as a
  failure even if it returned: a backend answering in 30 s is not healthy.
* **No lock is held while your function runs.** A short ``threading.Lock`` guards only the
  bookkeeping and the state transitions (which never await), so the breaker is safe for threads and
  asyncio tasks alike and never serialises the calls it protects. Admission while CLOSED takes no
  lock at all (one attribute read): the healthy path is the one every call pays for.
* **Permits.** Every admitted call holds a :class:`Permit` until its outcome is recorded. Drivers that
  cannot wrap a call (a simpy process) use :meth:`CircuitBreaker.try_acquire` and
  :meth:`CircuitBreaker.record_success` / :meth:`~CircuitBreaker.record_failure` /
  :meth:`~CircuitBreaker.release` directly; ``call``, ``acall``, the decorator and the context
  managers are thin layers over the same three steps. A permit remembers the *epoch* (the state
  instance) it was issued in, so a slow call admitted while CLOSED that finishes after the breaker
  has tripped and gone HALF_OPEN cannot be mistaken for a probe result.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Final, ParamSpec, TypeVar, cast, overload

from day6._events import EventHook, Hooks
from day6._validate import int_at_least, is_real, positive
from day6.clock import Clock, SystemClock
from day6.errors import CircuitOpenError, ConfigError, ErrorKind

__all__ = [
    "BreakerMetrics",
    "CallOutcome",
    "CallRecorded",
    "CallRejected",
    "CircuitBreaker",
    "CircuitState",
    "CircuitStateChanged",
    "Permit",
]

P = ParamSpec("P")
R = TypeVar("R")

_HISTORY_LEN: Final = 1000
_TIME_BUCKETS: Final = 20


class CircuitState(enum.StrEnum):
    """Where the breaker is. Values are the strings events and metrics carry."""

    CLOSED = "closed"  # calls flow; outcomes are counted
    OPEN = "open"  # calls are rejected until the recovery timeout elapses
    HALF_OPEN = "half_open"  # a few probes test whether the backend is back
    FORCED_OPEN = "forced_open"  # an operator said: reject everything
    DISABLED = "disabled"  # an operator said: allow everything (outcomes still counted)


class CallOutcome(enum.StrEnum):
    """How the breaker judged one finished call."""

    SUCCESS = "success"
    FAILURE = "failure"  # a backend fault, or a call slower than slow_call_threshold
    IGNORED = "ignored"  # not the backend's fault (a 400, a quota, cancellation): not counted either way


# Module-level aliases for the hot paths: reading `CircuitState.CLOSED` is an attribute lookup
# on the enum class, several times slower than a global on CPython 3.11.
_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_HALF_OPEN: Final = CircuitState.HALF_OPEN
_DISABLED: Final = CircuitState.DISABLED
_SUCCESS: Final = CallOutcome.SUCCESS
_FAILURE: Final = CallOutcome.FAILURE
_IGNORED: Final = CallOutcome.IGNORED


# --- events (topics from the table in day6._events) -------------------------------------------


@dataclass(frozen=True, slots=True)
class CircuitStateChanged:
    """The breaker moved from ``old`` to ``new``; ``reason`` says why in plain words."""

    topic: ClassVar[str] = "breaker.state"
    name: str
    old: CircuitState
    new: CircuitState
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallRecorded:
    """One admitted call finished, with how it was judged.

    Reported for calls admitted while a hook was attached (they are timed from admission);
    ``duration`` is ``None`` only for a permit released without a verdict.
    """

    topic: ClassVar[str] = "breaker.call"
    name: str
    outcome: CallOutcome
    duration: float | None
    at: float
    slow: bool = False


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A call was refused without reaching the backend."""

    topic: ClassVar[str] = "breaker.rejected"
    name: str
    retry_after: float
    at: float
    state: CircuitState = CircuitState.OPEN


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A consistent snapshot of a breaker's counters, taken under its lock.

    Every call the breaker has *finished deciding about* is counted exactly once, so
    ``calls == successes + failures + ignored + rejections`` always holds: a rejection when it is
    refused, an admitted call when its outcome is recorded (released and cancelled calls are
    ``ignored``); calls still running are not in ``calls`` yet. ``slow_calls`` is not a separate
    bucket: a slow call is also counted as a failure. ``probes_in_flight`` is the number of
    half-open probe slots taken.

    ``failure_rate`` is the rate the windowed trip rule reads (``None`` when no
    ``failure_rate_threshold`` is configured, or the window is empty); ``window_calls`` says how
    many calls it is computed over. ``time_in_state`` maps each state's value to the seconds spent
    in it, including the current stretch up to ``at``.
    """

    name: str
    state: CircuitState
    calls: int
    successes: int
    failures: int
    ignored: int
    rejections: int
    slow_calls: int
    probes_in_flight: int
    consecutive_failures: int
    failure_rate: float | None
    window_calls: int
    times_opened: int
    recovery_timeout: float
    time_in_state: dict[str, float]
    at: float


# --- permits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Permit:
    """The right to make one call, handed out by :meth:`CircuitBreaker.try_acquire`.

    Hand it back exactly once: :meth:`~CircuitBreaker.record_success`,
    :meth:`~CircuitBreaker.record_failure` or :meth:`~CircuitBreaker.release`. (The breaker does
    not police this; the call forms and context managers do it for you.)

    ``epoch`` identifies the state it was issued in. ``probe`` is True for a half-open trial call
    (each probe is its own object: the breaker tracks probes by identity). ``started_at`` is the
    clock reading at admission when the breaker needs one (slow-call detection, probes, or an
    attached hook), else ``None``. While CLOSED and untimed, every caller gets the *same* permit:
    nothing about an individual call needs remembering, and not allocating one keeps the success
    path cheap.
    """

    epoch: int
    started_at: float | None = None
    probe: bool = False


# --- sliding windows ----------------------------------------------------------------------------


class _CountWindow:
    """Outcomes of the last ``size`` calls in a ring buffer: O(1) per call, O(size) memory."""

    __slots__ = ("_failures", "_filled", "_i", "_ring")

    def __init__(self, size: int) -> None:
        self._ring = [False] * size
        self._i = 0
        self._filled = 0
        self._failures = 0

    def record(self, failed: bool) -> None:
        ring, i = self._ring, self._i
        if self._filled == len(ring):
            self._failures -= ring[i]  # the oldest outcome falls out of the window
        else:
            self._filled += 1
        ring[i] = failed
        self._failures += failed
        self._i = (i + 1) % len(ring)

    def totals(self) -> tuple[int, int]:
        """``(calls, failures)`` currently in the window."""
        return self._filled, self._failures

    def clear(self) -> None:
        self._ring = [False] * len(self._ring)
        self._i = self._filled = self._failures = 0


class _TimeWindow:
    """Outcomes of the last ``seconds``, aggregated in ``_TIME_BUCKETS`` buckets.

    Keeping one entry per call would make memory grow with throughput; per-bucket counts keep it
    constant. The price is resolution: a call leaves the window between
    ``seconds * (1 - 1/_TIME_BUCKETS)`` and ``seconds`` after it was recorded.
    """

    __slots__ = ("_buckets", "_calls", "_clock", "_failures", "_width")

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._width = seconds / _TIME_BUCKETS
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [bucket index, calls, failures], oldest first
        self._calls = 0
        self._failures = 0

    def _slide(self) -> int:
        """Drop buckets that have left the window; return the current bucket's index."""
        index = math.floor(self._clock.now() / self._width)
        buckets = self._buckets
        while buckets and buckets[0][0] <= index - _TIME_BUCKETS:
            _, calls, failures = buckets.popleft()
            self._calls -= calls
            self._failures -= failures
        return index

    def record(self, failed: bool) -> None:
        index = self._slide()
        if self._buckets and self._buckets[-1][0] == index:
            bucket = self._buckets[-1]
            bucket[1] += 1
            bucket[2] += failed
        else:
            self._buckets.append([index, 1, int(failed)])
        self._calls += 1
        self._failures += failed

    def totals(self) -> tuple[int, int]:
        """``(calls, failures)`` currently in the window."""
        self._slide()
        return self._calls, self._failures

    def clear(self) -> None:
        self._buckets.clear()
        self._calls = self._failures = 0


# --- validation ---------------------------------------------------------------------------------


_SECONDS: Final = "a finite number of seconds > 0"


def _check_number(setting: str, value: object, *, minimum: float) -> float:
    if not is_real(value) or value < minimum:
        raise ConfigError(setting, value, f"a finite number >= {minimum:g}")
    return float(value)


def _check_rate(setting: str, value: object) -> float | None:
    if value is not None and (not is_real(value) or not 0.0 < value <= 1.0):
        raise ConfigError(setting, value, "None or a failure rate in (0, 1]")
    return None if value is None else float(value)


def _check_optional_seconds(setting: str, value: object) -> float | None:
    return None if value is None else positive(setting, value, allowed=_SECONDS)


def _default_is_failure(exc: BaseException) -> bool:
    """Count only failures that say the backend is unhealthy (see ``ErrorKind.is_backend_fault``)."""
    from day6.errors import classify  # imported lazily: errors.py must not depend on this module

    return classify(exc).is_backend_fault


# The `with breaker:` blocks open in this thread / asyncio task: a linked stack of immutable
# (breaker, permit, parent) nodes, innermost first. A ContextVar (not an attribute on the breaker)
# because one breaker is shared by many threads and tasks; immutable so that tasks, which start
# with a copy of their parent's context, never see each other's entries.
_Entered = tuple["CircuitBreaker", Permit, "_Entered | None"]
_entered: contextvars.ContextVar[_Entered | None] = contextvars.ContextVar(
    "day6_breaker_entered", default=None
)


class CircuitBreaker:
    """A closed / open / half-open circuit breaker over an injected clock.

    Parameters (all keyword-only except ``name``; durations are float seconds):

    ``failure_threshold``
        Trip after this many *consecutive* counted failures (any success resets the run).
    ``failure_rate_threshold``, ``window_size``, ``window_seconds``, ``minimum_calls``
        Optional second trip rule: trip when the failure rate over the sliding window reaches the
        threshold (a fraction in (0, 1]), once the window holds at least ``minimum_calls`` calls.
        The window is the last ``window_size`` calls, or the last ``window_seconds`` when given.
        Consecutive counts catch a hard outage fast; a rate catches a backend failing one call in
        two, which never produces a long run of consecutive failures.
    ``slow_call_threshold``
        Calls taking longer than this (on the breaker's clock) count as failures.
    ``recovery_timeout``, ``recovery_backoff``, ``max_recovery_timeout``
        How long OPEN lasts before probing: ``recovery_timeout * recovery_backoff ** (trips - 1)``
        for the n-th trip in a row without a recovery, capped at ``max_recovery_timeout``.
    ``half_open_max_calls``, ``success_threshold``
        At most this many probes in flight while HALF_OPEN; close after this many probe successes.
    ``probe_timeout``
        A probe that has not reported back after this long gives up its slot (at the next admission
        check), so a hung probe cannot keep the breaker half-open forever. Default:
        ``recovery_timeout``. Its late outcome, if it ever comes, is counted but not acted on.
    ``is_failure``
        Which exceptions count against the backend. Default: ``classify(exc).is_backend_fault``.
        Cancellation is never a failure, whatever the predicate says.
    ``fallback``
        If set, ``call`` / ``acall`` / the decorator return ``fallback(exc)`` instead of raising
        for rejections and counted failures (ignored errors still raise).
    ``clock``, ``hooks``
        Where time comes from, and who hears the events.

    Four ways to put a call behind it, all sharing one state machine::

        breaker = CircuitBreaker("llm", failure_threshold=5, recovery_timeout=30.0)

        reply = breaker.call(client.chat.completions.create, model=model, messages=messages)

        @breaker                      # def or async def
        async def ask(prompt: str) -> str: ...

        async with breaker:           # or `with breaker:`; the block's exception is the outcome
            reply = await aclient.chat.completions.create(model=model, messages=messages)

        permit = breaker.try_acquire()    # drivers that cannot wrap a call (simpy)
        ...
        breaker.record_success(permit, duration=elapsed)
    """

    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        failure_rate_threshold: float | None = None,
        window_size: int = 100,
        window_seconds: float | None = None,
        minimum_calls: int = 10,
        slow_call_threshold: float | None = None,
        recovery_backoff: float = 1.0,
        max_recovery_timeout: float = 600.0,
        probe_timeout: float | None = None,
        is_failure: Callable[[BaseException], bool] | None = None,
        fallback: Callable[[BaseException], Any] | None = None,
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        self._name = name
        self._failure_threshold = int_at_least("failure_threshold", failure_threshold, 1)
        self._recovery_timeout = positive("recovery_timeout", recovery_timeout, allowed=_SECONDS)
        self._half_open_max_calls = int_at_least("half_open_max_calls", half_open_max_calls, 1)
        self._success_threshold = int_at_least("success_threshold", success_threshold, 1)
        self._failure_rate_threshold = _check_rate("failure_rate_threshold", failure_rate_threshold)
        self._window_size = int_at_least("window_size", window_size, 1)
        self._window_seconds = _check_optional_seconds("window_seconds", window_seconds)
        self._minimum_calls = int_at_least("minimum_calls", minimum_calls, 1)
        if failure_rate_threshold is not None and window_seconds is None and minimum_calls > window_size:
            raise ConfigError(
                "minimum_calls",
                minimum_calls,
                f"at most window_size={window_size} (a count window never holds more calls)",
            )
        self._slow_call_threshold = _check_optional_seconds("slow_call_threshold", slow_call_threshold)
        self._recovery_backoff = _check_number("recovery_backoff", recovery_backoff, minimum=1.0)
        self._max_recovery_timeout = positive("max_recovery_timeout", max_recovery_timeout, allowed=_SECONDS)
        if self._max_recovery_timeout < self._recovery_timeout:
            raise ConfigError(
                "max_recovery_timeout",
                max_recovery_timeout,
                f"at least recovery_timeout={self._recovery_timeout:g}",
            )
        self._probe_timeout = (
            _check_optional_seconds("probe_timeout", probe_timeout) or self._recovery_timeout
        )
        if is_failure is not None and not callable(is_failure):
            raise ConfigError("is_failure", is_failure, "None or a callable taking the exception")
        if fallback is not None and not callable(fallback):
            raise ConfigError("fallback", fallback, "None or a callable taking the exception")
        self._is_failure = is_failure or _default_is_failure
        self._fallback = fallback
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.hooks = Hooks(hooks)

        self._lock = threading.Lock()
        self._window: _CountWindow | _TimeWindow | None = None
        if failure_rate_threshold is not None:
            if self._window_seconds is None:
                self._window = _CountWindow(self._window_size)
            else:
                self._window = _TimeWindow(self._window_seconds, self._clock)
        now = self._clock.now()
        # The state machine. Written only under self._lock; read without it on the admission fast path.
        self._state = _CLOSED
        self._epoch = 0  # bumped on every transition; permits from an older epoch are stale
        self._closed_permit: Permit | None = Permit(0)
        self._since = now  # when the current state was entered
        self._consecutive_failures = 0
        self._trips = 0  # trips in a row without a recovery: drives the growing timeout
        self._open_timeout = self._recovery_timeout
        self._next_probe_at = now
        self._probes: dict[Permit, float] = {}  # half-open probes in flight -> admitted at
        self._probe_successes = 0
        # Lifetime counters (reset() keeps them).
        self._successes = 0
        self._failures = 0
        self._ignored = 0
        self._rejections = 0
        self._slow_calls = 0
        self._times_opened = 0
        self._time_in_state = dict.fromkeys(CircuitState, 0.0)
        self.history: deque[tuple[float, CircuitState]] = deque([(now, _CLOSED)], maxlen=_HISTORY_LEN)
        """Recent ``(at, new_state)`` transitions, oldest first (bounded: for plots, not audits)."""

    # --- read-only views -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> CircuitState:
        """The stored state. OPEN stays OPEN after the timeout until a call arrives (lazy by design)."""
        return self._state

    @property
    def clock(self) -> Clock:
        return self._clock

    def metrics(self) -> BreakerMetrics:
        """A consistent snapshot of the counters, taken under the lock (see :class:`BreakerMetrics`)."""
        with self._lock:
            now = self._clock.now()
            time_in_state = {str(s): t for s, t in self._time_in_state.items()}
            time_in_state[str(self._state)] += max(0.0, now - self._since)
            rate: float | None = None
            window_calls = 0
            if self._window is not None:
                window_calls, window_failures = self._window.totals()
                rate = window_failures / window_calls if window_calls else None
            return BreakerMetrics(
                name=self._name,
                state=self._state,
                calls=self._successes + self._failures + self._ignored + self._rejections,
                successes=self._successes,
                failures=self._failures,
                ignored=self._ignored,
                rejections=self._rejections,
                slow_calls=self._slow_calls,
                probes_in_flight=len(self._probes),
                consecutive_failures=self._consecutive_failures,
                failure_rate=rate,
                window_calls=window_calls,
                times_opened=self._times_opened,
                recovery_timeout=self._open_timeout,
                time_in_state=time_in_state,
                at=now,
            )

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker({self._name!r}, state={self._state.value!r}, "
            f"consecutive_failures={self._consecutive_failures}/{self._failure_threshold})"
        )

    # --- the permit API --------------------------------------------------------------------------
    # Hot paths acquire the lock with acquire()/release() rather than `with`: the same guarantee,
    # about half the cost on CPython 3.11, and the success path is what every call pays.

    def try_acquire(self) -> Permit:
        """Ask to make one call: a :class:`Permit`, or :class:`CircuitOpenError` if refused.

        Never blocks and never sleeps; the OPEN -> HALF_OPEN move happens here, when the clock
        says the recovery timeout is over. The caller must hand the permit back exactly once.
        """
        # Fast path, no lock: CLOSED admits everyone and changes nothing, so one attribute read
        # decides. If a transition slips in right after it, the permit is merely stale (its outcome
        # is counted but cannot move the state machine), never mistaken for a current one.
        shared = self._closed_permit
        if shared is not None:
            if self._slow_call_threshold is None and not self.hooks.active:
                return shared
            return Permit(shared.epoch, self._clock.now())
        events: list[object] = []
        with self._lock:
            result = self._admit(self._clock.now(), events)
        if events:
            self._emit(events)
        if isinstance(result, CircuitOpenError):
            raise result
        return result

    def _admit(self, now: float, events: list[object]) -> Permit | CircuitOpenError:
        """Admission under the lock (any state). Returns the permit or the refusal to raise."""
        if self._state is _OPEN and now >= self._next_probe_at:
            self._transition(_HALF_OPEN, now, "recovery timeout elapsed", events)
        state = self._state
        if state is _CLOSED or state is _DISABLED:  # changed since the unlocked read
            return Permit(self._epoch, now)
        if state is _HALF_OPEN:
            probes = self._probes
            for permit in [p for p, started in probes.items() if now - started >= self._probe_timeout]:
                del probes[permit]  # a hung probe gives its slot back; its late outcome is ignored
            if len(probes) < self._half_open_max_calls:
                permit = Permit(self._epoch, now, probe=True)
                probes[permit] = now
                return permit
            retry_after = 0.0  # only the probe slots are busy; one frees up when a probe returns
        elif state is _OPEN:
            retry_after = self._next_probe_at - now
        else:  # FORCED_OPEN: no automatic recovery
            retry_after = math.inf
        self._rejections += 1
        if self.hooks.active:
            events.append(CallRejected(self._name, retry_after, now, state))
        return CircuitOpenError(self._name, retry_after=retry_after, state=state.value)

    def record_success(self, permit: Permit, *, duration: float | None = None) -> CallOutcome:
        """The call returned. Returns how it was judged: FAILURE if it was slower than allowed.

        ``duration`` overrides the breaker's own measurement (a simpy driver knows it exactly).
        """
        started = permit.started_at
        now: float | None = None
        if started is not None:  # timed: the slow-call rule or a hook wants the duration
            now = self._clock.now()
            if duration is None:
                duration = now - started
        limit = self._slow_call_threshold
        if limit is not None and duration is not None and duration > limit:
            return self._record_failure(permit, duration, slow=True)
        events: list[object] | None = None
        if now is not None and self.hooks.active:
            events = [CallRecorded(self._name, _SUCCESS, duration, now)]
        lock = self._lock
        lock.acquire()
        try:
            self._successes += 1
            if permit.epoch == self._epoch:
                state = self._state
                if state is _CLOSED:
                    self._consecutive_failures = 0
                    if self._window is not None:
                        self._window.record(False)
                elif state is _HALF_OPEN:
                    events = events or []
                    self._on_probe_success(permit, events)
        finally:
            lock.release()
        if events:
            self._emit(events)
        return _SUCCESS

    def record_failure(
        self, permit: Permit, error: BaseException | ErrorKind | None = None, *, duration: float | None = None
    ) -> CallOutcome:
        """The call failed with ``error``. Returns FAILURE if it counted, IGNORED if it did not.

        ``error`` may be the exception (judged by ``is_failure``; cancellation is never a failure),
        an :class:`~day6.errors.ErrorKind` (a failure iff ``kind.is_backend_fault``) for drivers
        without exceptions, or ``None`` to count it unconditionally. If ``is_failure`` itself
        raises, the permit is released and that error propagates.
        """
        if error is None:
            failed = True
        elif isinstance(error, ErrorKind):
            failed = error.is_backend_fault
        elif not isinstance(error, Exception):  # CancelledError, KeyboardInterrupt, SystemExit
            failed = False
        else:
            try:
                failed = bool(self._is_failure(error))
            except Exception:
                self._record_ignored(permit, duration)
                raise
        if permit.started_at is not None and duration is None:
            duration = self._clock.now() - permit.started_at
        if not failed:
            self._record_ignored(permit, duration)
            return _IGNORED
        limit = self._slow_call_threshold
        slow = limit is not None and duration is not None and duration > limit
        return self._record_failure(permit, duration, slow=slow)

    def release(self, permit: Permit) -> None:
        """Give the permit back without a verdict (cancelled, ignored, or never made).

        Counted as ``ignored``. A released probe frees its half-open slot for the next caller.
        """
        self._record_ignored(permit, None)

    def _record_ignored(self, permit: Permit, duration: float | None) -> None:
        with self._lock:
            self._ignored += 1
            if permit.probe:  # an ignored probe proves nothing: free its slot for another
                self._probes.pop(permit, None)
        if permit.started_at is not None and self.hooks.active:
            self.hooks.emit(CallRecorded(self._name, _IGNORED, duration, self._clock.now()))

    def _record_failure(self, permit: Permit, duration: float | None, *, slow: bool) -> CallOutcome:
        events: list[object] = []
        if permit.started_at is not None and self.hooks.active:
            events.append(CallRecorded(self._name, _FAILURE, duration, self._clock.now(), slow))
        with self._lock:
            self._failures += 1
            self._slow_calls += slow
            if permit.epoch == self._epoch:
                self._on_failure(permit, self._clock.now(), events)
        if events:
            self._emit(events)
        return _FAILURE

    # --- the state machine (called under the lock) ----------------------------------------------

    def _on_failure(self, permit: Permit, now: float, events: list[object]) -> None:
        state = self._state
        if state is _CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self._failure_threshold:
                self._trip(now, f"{self._consecutive_failures} consecutive failures", events)
                return
            window = self._window
            if window is not None:
                window.record(True)
                calls, failures = window.totals()
                threshold = cast(float, self._failure_rate_threshold)
                if calls >= self._minimum_calls and failures / calls >= threshold:
                    self._trip(now, f"failure rate {failures}/{calls} reached {threshold:.0%}", events)
        elif state is _HALF_OPEN and self._probes.pop(permit, None) is not None:
            self._trip(now, "a probe failed", events)

    def _on_probe_success(self, permit: Permit, events: list[object]) -> None:
        if self._probes.pop(permit, None) is None:
            return  # reclaimed after probe_timeout: too late to count
        self._probe_successes += 1
        if self._probe_successes >= self._success_threshold:
            self._trips = 0
            self._open_timeout = self._recovery_timeout
            reason = f"{self._probe_successes} probe successes"
            self._transition(_CLOSED, self._clock.now(), reason, events)

    def _trip(self, now: float, reason: str, events: list[object]) -> None:
        """Open the breaker; each trip in a row without a recovery waits longer."""
        self._trips += 1
        if self._trips > 1:
            # Multiplying the previous timeout (rather than computing backoff ** trips) cannot
            # overflow however many times it trips.
            self._open_timeout = min(self._open_timeout * self._recovery_backoff, self._max_recovery_timeout)
        self._times_opened += 1
        self._next_probe_at = now + self._open_timeout
        self._transition(_OPEN, now, f"{reason}; next probe in {self._open_timeout:g} s", events)

    def _transition(self, new: CircuitState, now: float, reason: str, events: list[object]) -> None:
        old = self._state
        self._time_in_state[old] += max(0.0, now - self._since)
        self._since = now
        self._epoch += 1
        self._state = new
        # The permit the unlocked fast path hands out; None sends callers through the lock.
        self._closed_permit = Permit(self._epoch) if new is _CLOSED or new is _DISABLED else None
        self._probes.clear()
        self._probe_successes = 0
        if new is _CLOSED:  # a fresh start: old evidence is about the old backend
            self._consecutive_failures = 0
            if self._window is not None:
                self._window.clear()
        if old is not new:
            self.history.append((now, new))
            if self.hooks.active:
                events.append(CircuitStateChanged(self._name, old, new, reason, now))

    def _emit(self, events: list[object]) -> None:
        # Outside the lock: a hook may call metrics(), or even this breaker, without deadlocking.
        for event in events:
            self.hooks.emit(event)

    # --- operators -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Close the breaker and forget failures and trip history (lifetime counters are kept)."""
        self._operator(CircuitState.CLOSED, "reset by operator")

    def force_open(self) -> None:
        """Reject every call until :meth:`reset` (e.g. during a known backend maintenance)."""
        self._operator(CircuitState.FORCED_OPEN, "forced open by operator")

    def disable(self) -> None:
        """Let every call through until :meth:`reset`; outcomes are still counted."""
        self._operator(CircuitState.DISABLED, "disabled by operator")

    def _operator(self, new: CircuitState, reason: str) -> None:
        events: list[object] = []
        with self._lock:
            self._trips = 0
            self._open_timeout = self._recovery_timeout
            self._consecutive_failures = 0
            if self._window is not None:
                self._window.clear()
            self._transition(new, self._clock.now(), reason, events)
        self._emit(events)

    # --- call forms ------------------------------------------------------------------------------

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` through the breaker.

        Raises :class:`CircuitOpenError` when refused, or ``fn``'s own exception; with a
        ``fallback``, rejections and counted failures return ``fallback(exc)`` instead.
        """
        try:
            permit = self.try_acquire()
        except CircuitOpenError as exc:
            if self._fallback is None:
                raise
            return cast(R, self._fallback(exc))
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if self.record_failure(permit, exc) is CallOutcome.FAILURE and self._fallback is not None:
                return cast(R, self._fallback(exc))
            raise
        self.record_success(permit)
        return result

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` through the breaker (see :meth:`call`).

        A cancelled call releases its permit (a cancelled probe frees its slot). An async
        fallback is awaited.
        """
        try:
            permit = self.try_acquire()
        except CircuitOpenError as exc:
            if self._fallback is None:
                raise
            return cast(R, await self._afallback(exc))
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if self.record_failure(permit, exc) is CallOutcome.FAILURE and self._fallback is not None:
                return cast(R, await self._afallback(exc))
            raise
        self.record_success(permit)
        return result

    async def _afallback(self, exc: BaseException) -> Any:
        value = cast(Callable[[BaseException], Any], self._fallback)(exc)
        return await value if inspect.isawaitable(value) else value

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a function (``def`` or ``async def``) so every call goes through the breaker."""
        # A partial of the bound `call` / `acall` (rather than a nested def) saves a Python frame,
        # and for async functions a whole extra coroutine, per call. update_wrapper still gives it
        # fn's name, docstring and __wrapped__ (so its signature), and inspect still reports an
        # async partial as a coroutine function.
        method: Callable[..., Any] = self.acall if inspect.iscoroutinefunction(fn) else self.call
        return functools.update_wrapper(functools.partial(method, fn), fn)

    # --- context managers ------------------------------------------------------------------------
    # `with breaker:` records the block's outcome from the exception that leaves it. The permit is
    # kept per thread / task (a ContextVar), so one breaker can be entered concurrently. There is no
    # value to substitute, so the fallback does not apply here: rejections raise CircuitOpenError.

    def __enter__(self) -> CircuitBreaker:
        permit = self.try_acquire()
        _entered.set((self, permit, _entered.get()))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        top = _entered.get()
        if top is not None and top[0] is self:  # the usual case: the innermost block exits first
            permit = top[1]
            _entered.set(top[2])
        else:
            permit = self._unlink(top)
        if exc is None:
            self.record_success(permit)
        else:
            self.record_failure(permit, exc)

    def _unlink(self, top: _Entered | None) -> Permit:
        """Remove this breaker's innermost entry from a context stack exited out of order."""
        skipped: list[tuple[CircuitBreaker, Permit]] = []
        node = top
        while node is not None and node[0] is not self:
            skipped.append((node[0], node[1]))
            node = node[2]
        if node is None:
            raise RuntimeError(f"{self!r}: __exit__ without a matching __enter__ in this context")
        rest = node[2]
        for breaker, permit in reversed(skipped):
            rest = (breaker, permit, rest)
        _entered.set(rest)
        return node[1]

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
