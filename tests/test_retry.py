"""RetryPolicy: which errors are retried, how long it waits, when it stops, and what it reports."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import random
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest

from day6.backoff import Jitter
from day6.clock import FakeClock
from day6.errors import (
    Classification,
    ConfigError,
    ErrorKind,
    RetryAfterTooLongError,
    RetryBudgetExhaustedError,
    RetryError,
)
from day6.retry import (
    AttemptStarted,
    RetryBudget,
    RetryDecision,
    RetryGaveUp,
    RetryPolicy,
    RetryScheduled,
    RetrySucceeded,
)
from tests.sdk_helpers import API_KEY, async_client, error_body, sync_client


class Flaky:
    """A callable that raises ``error()`` for its first ``failures`` calls, then returns ``value``."""

    def __init__(
        self, failures: int, error: Callable[[], BaseException] = ConnectionResetError, value: Any = "ok"
    ):
        self.failures = failures
        self.error = error
        self.value = value
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error()
        return self.value


class AsyncFlaky(Flaky):
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)


def exact(clock: FakeClock, **settings: Any) -> RetryPolicy:
    """A policy with no jitter on the fake clock, so every delay is known in advance."""
    return RetryPolicy(jitter="none", clock=clock, rng=random.Random(0), **settings)


def rate_limited(retry_after: float | None) -> Callable[[BaseException], Classification]:
    """A retry_on predicate that calls every error a 429 with the given Retry-After."""
    return lambda exc: Classification(ErrorKind.RATE_LIMIT, True, "429 (test)", retry_after=retry_after)


# -- the basic schedule ----------------------------------------------------------------------------


def test_default_schedule_without_jitter_is_point_one_then_point_two(clock: FakeClock) -> None:
    """Defaults: 3 attempts, waits of exactly 0.1 s then 0.2 s, then RetryError from the last error."""
    fn = Flaky(failures=10)
    with pytest.raises(RetryError) as info:
        exact(clock).call(fn)
    assert fn.calls == 3
    assert clock.sleeps == [0.1, 0.2]
    err = info.value
    assert type(err) is RetryError
    assert isinstance(err.__cause__, ConnectionResetError)
    assert err.last_error is err.__cause__
    assert [a.number for a in err.attempts] == [1, 2, 3]
    assert [a.delay for a in err.attempts] == [0.1, 0.2, None]
    assert [a.outcome for a in err.attempts] == ["network"] * 3
    assert [a.started_at for a in err.attempts] == pytest.approx([0.0, 0.1, 0.3])
    assert "3 attempt(s)" in str(err)
    assert "all 3 attempts failed" in str(err)
    assert str(err).endswith("last error: network (ConnectionResetError)")


def test_policy_defaults_match_the_lesson() -> None:
    """attempts=3, base 0.1 s, x2, cap 10 s, +-25 % proportional jitter, Retry-After honoured."""
    p = RetryPolicy()
    assert (p.attempts, p.base_delay, p.multiplier, p.max_delay) == (3, 0.1, 2.0, 10.0)
    assert (p.jitter, p.jitter_ratio, p.deadline, p.honour_retry_after) == (
        Jitter.PROPORTIONAL,
        0.25,
        None,
        True,
    )
    assert p.budget is None
    assert p.retry_on is None


def test_default_jitter_stays_within_25_percent(clock: FakeClock) -> None:
    """With the default jitter each wait is within +-25 % of 0.1 s and 0.2 s."""
    with pytest.raises(RetryError):
        RetryPolicy(clock=clock, rng=random.Random(3)).call(Flaky(failures=5))
    first, second = clock.sleeps
    assert 0.075 <= first <= 0.125
    assert 0.15 <= second <= 0.25


def test_success_first_time_returns_value_without_sleeping(clock: FakeClock) -> None:
    """A call that succeeds at once is called once, with its arguments, and never sleeps."""
    seen: list[tuple[Any, ...]] = []

    def fn(a: int, *, b: int) -> int:
        seen.append((a, b))
        return a + b

    assert exact(clock).call(fn, 1, b=2) == 3
    assert seen == [(1, 2)]
    assert clock.sleeps == []


def test_recovers_after_transient_failures(clock: FakeClock) -> None:
    """Two failures then success: the value comes back after waits of 0.1 s and 0.2 s."""
    fn = Flaky(failures=2, value=42)
    assert exact(clock).call(fn) == 42
    assert fn.calls == 3
    assert clock.sleeps == [0.1, 0.2]


def test_no_backoff_baseline_retries_immediately(clock: FakeClock) -> None:
    """RetryPolicy.no_backoff() is the retry-at-once baseline: every wait is 0 s."""
    fn = Flaky(failures=4)
    policy = RetryPolicy.no_backoff(attempts=5, clock=clock, rng=random.Random(0))
    assert policy.call(fn) == "ok"
    assert clock.sleeps == [0.0] * 4
    assert policy.base_delay == 0.0


def test_no_backoff_refuses_delay_settings() -> None:
    """no_backoff() takes no delay settings: asking for one is a clear error."""
    with pytest.raises(ConfigError, match="base_delay"):
        RetryPolicy.no_backoff(base_delay=0.5)


def test_single_attempt_policy_wraps_a_retriable_failure(clock: FakeClock) -> None:
    """attempts=1 makes one call; a retriable failure still reports the (one-entry) history."""
    fn = Flaky(failures=1)
    with pytest.raises(RetryError) as info:
        exact(clock, attempts=1).call(fn)
    assert fn.calls == 1
    assert clock.sleeps == []
    assert len(info.value.attempts) == 1


# -- what is retried -------------------------------------------------------------------------------


def test_non_retriable_error_is_reraised_as_is(clock: FakeClock) -> None:
    """An error classify() calls non-retriable (a bug: ValueError) is raised unwrapped after one call."""
    boom = ValueError("bad input")
    fn = Flaky(failures=1, error=lambda: boom)
    with pytest.raises(ValueError) as info:
        exact(clock).call(fn)
    assert info.value is boom
    assert fn.calls == 1
    assert clock.sleeps == []


def test_retry_on_bool_overrides_retriability_only(clock: FakeClock) -> None:
    """retry_on=True makes a ValueError retriable; retry_on=False stops a network error."""
    assert exact(clock, retry_on=lambda e: isinstance(e, ValueError)).call(Flaky(2, ValueError)) == "ok"
    fn = Flaky(2, ConnectionResetError)
    with pytest.raises(ConnectionResetError):
        exact(clock, retry_on=lambda e: False).call(fn)
    assert fn.calls == 1


def test_classify_verdict_kind_survives_a_bool_predicate(clock: FakeClock) -> None:
    """A bool retry_on keeps classify()'s kind: a timeout is still recorded as 'timeout'."""
    with pytest.raises(RetryError) as info:
        exact(clock, retry_on=lambda e: True).call(Flaky(5, TimeoutError))
    assert [a.outcome for a in info.value.attempts] == ["timeout"] * 3


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError])
def test_cancellation_and_exit_are_never_retried(clock: FakeClock, exc_type: type[BaseException]) -> None:
    """KeyboardInterrupt, SystemExit, GeneratorExit and CancelledError propagate after one call."""
    fn = Flaky(failures=5, error=exc_type)
    with pytest.raises(exc_type):
        exact(clock, retry_on=lambda e: True).call(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_on_error_refuses_to_retry_cancellation_even_if_retry_on_says_yes(clock: FakeClock) -> None:
    """The decision API itself never retries a KeyboardInterrupt, whatever retry_on returns."""
    state = exact(clock, retry_on=lambda e: True).start()
    decision = state.on_error(KeyboardInterrupt())
    assert decision.retry is False
    assert decision.classification.kind is ErrorKind.CANCELLED


# -- deadline --------------------------------------------------------------------------------------


def test_deadline_clamps_the_last_sleep_and_gives_up(clock: FakeClock) -> None:
    """deadline=0.25: sleeps 0.1, then only the 0.15 s left (not 0.2), then gives up with the history."""
    fn = Flaky(failures=10)
    with pytest.raises(RetryError) as info:
        exact(clock, attempts=10, deadline=0.25).call(fn)
    assert clock.sleeps == pytest.approx([0.1, 0.15])
    assert clock.now() == pytest.approx(0.25)
    assert fn.calls == 3
    assert len(info.value.attempts) == 3
    assert "deadline" in str(info.value)


def test_deadline_counts_time_spent_inside_attempts(clock: FakeClock) -> None:
    """Slow attempts use up the deadline too: no sleep ever ends past it."""

    def slow() -> None:
        clock.advance(0.4)
        raise ConnectionResetError

    with pytest.raises(RetryError):
        exact(clock, attempts=10, deadline=1.0).call(slow)
    # t=0.4 fail, sleep 0.1; t=0.9 fail, 0.1 s left < 0.2 backoff, sleep 0.1; t=1.4 fail: past it.
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    assert sum(clock.sleeps) + 3 * 0.4 == pytest.approx(1.4)


def test_remaining_reports_time_left(clock: FakeClock) -> None:
    """state.remaining() is the deadline minus elapsed time, never negative; None without a deadline."""
    state = exact(clock, deadline=2.0).start()
    clock.advance(0.5)
    assert state.remaining() == pytest.approx(1.5)
    clock.advance(5)
    assert state.remaining() == 0.0
    assert exact(clock).start().remaining() is None


# -- Retry-After -----------------------------------------------------------------------------------


def test_retry_after_longer_than_backoff_is_honoured(clock: FakeClock) -> None:
    """The wait is max(backoff, retry_after): the server's 1.5 s beats the 0.1 s backoff."""
    assert exact(clock, retry_on=rate_limited(1.5)).call(Flaky(1)) == "ok"
    assert clock.sleeps == [1.5]


def test_retry_after_shorter_than_backoff_keeps_backoff(clock: FakeClock) -> None:
    """A 0.05 s Retry-After does not shorten the 0.1 s backoff."""
    assert exact(clock, retry_on=rate_limited(0.05)).call(Flaky(1)) == "ok"
    assert clock.sleeps == [0.1]


def test_retry_after_above_max_delay_raises_at_once(clock: FakeClock) -> None:
    """A server asking for 30 s under max_delay=10 gives up at once with a clear message."""
    fn = Flaky(failures=1)
    with pytest.raises(RetryAfterTooLongError) as info:
        exact(clock, retry_on=rate_limited(30.0)).call(fn)
    err = info.value
    assert fn.calls == 1
    assert clock.sleeps == []
    assert err.retry_after == 30.0
    assert "server asks to wait 30 s, policy allows at most 10 s" in str(err)
    assert isinstance(err.__cause__, ConnectionResetError)
    assert len(err.attempts) == 1


def test_retry_after_beyond_the_deadline_raises(clock: FakeClock) -> None:
    """Retry-After longer than the time left before the deadline is also too long."""
    with pytest.raises(RetryAfterTooLongError, match="server asks to wait 5 s, policy allows at most 2 s"):
        exact(clock, deadline=2.0, retry_on=rate_limited(5.0)).call(Flaky(1))


def test_retry_after_ignored_when_not_honoured(clock: FakeClock) -> None:
    """honour_retry_after=False uses the plain backoff, even for a 30 s hint."""
    assert exact(clock, honour_retry_after=False, retry_on=rate_limited(30.0)).call(Flaky(1)) == "ok"
    assert clock.sleeps == [0.1]


# -- the real openai SDK ---------------------------------------------------------------------------

_COMPLETION = {
    "id": "chatcmpl-day6",
    "object": "chat.completion",
    "created": 0,
    "model": "day6-test",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}
_MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


def sequence(
    *answers: tuple[int, dict[str, str]],
) -> tuple[list[int], Callable[[httpx2.Request], httpx2.Response]]:
    """A mock-transport handler answering with the given (status, headers) in turn; counts requests."""
    served: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        status, headers = answers[min(len(served), len(answers) - 1)]
        served.append(status)
        body = (
            _COMPLETION
            if status == 200
            else error_body(code="rate_limit_exceeded" if status == 429 else None)
        )
        return httpx2.Response(
            status, headers={"content-type": "application/json", **headers}, content=json.dumps(body).encode()
        )

    return served, handler


def test_sdk_rate_limit_with_retry_after_is_retried_after_that_delay(clock: FakeClock) -> None:
    """A real RateLimitError carrying retry-after: 2 is retried after exactly 2 s, then succeeds."""
    served, handler = sequence((429, {"retry-after": "2"}), (200, {}))
    client = sync_client(handler)
    with client:
        reply = exact(clock).call(client.chat.completions.create, model="day6-test", messages=_MESSAGES)
    assert reply.choices[0].message.content == "hi"
    assert served == [429, 200]
    assert clock.sleeps == [2.0]


async def test_async_sdk_rate_limit_is_retried(clock: FakeClock) -> None:
    """The same through AsyncOpenAI and acall: retry-after-ms 1500 means a 1.5 s wait."""
    served, handler = sequence(
        (429, {"retry-after-ms": "1500"}), (429, {"retry-after-ms": "1500"}), (200, {})
    )
    client = async_client(handler)
    async with client:
        reply = await exact(clock).acall(
            client.chat.completions.create, model="day6-test", messages=_MESSAGES
        )
    assert reply.id == "chatcmpl-day6"
    assert served == [429, 429, 200]
    assert clock.sleeps == [1.5, 1.5]


def test_sdk_authentication_error_is_not_retried(clock: FakeClock) -> None:
    """A 401 reaches the caller as the SDK's own AuthenticationError, after exactly one request."""
    served, handler = sequence((401, {}))
    client = sync_client(handler)
    with client, pytest.raises(openai.AuthenticationError):
        exact(clock).call(client.chat.completions.create, model="day6-test", messages=_MESSAGES)
    assert served == [401]
    assert clock.sleeps == []


def test_sdk_retry_after_too_long_names_the_numbers(clock: FakeClock) -> None:
    """A real 429 asking for 60 s under max_delay=10 fails fast with RetryAfterTooLongError."""
    served, handler = sequence((429, {"retry-after": "60"}))
    client = sync_client(handler)
    with client, pytest.raises(RetryAfterTooLongError) as info:
        exact(clock).call(client.chat.completions.create, model="day6-test", messages=_MESSAGES)
    assert served == [429]
    assert isinstance(info.value.__cause__, openai.RateLimitError)
    assert "server asks to wait 60 s, policy allows at most 10 s" in str(info.value)
    assert str(info.value).endswith("last error: rate_limit (RateLimitError, HTTP 429, rate_limit_exceeded)")


def test_give_up_message_never_contains_the_error_text(clock: FakeClock) -> None:
    """RetryError's message names kinds and classes, not the error's text (it may carry secrets)."""
    fn = Flaky(failures=5, error=lambda: ConnectionResetError(f"token {API_KEY} rejected"))
    with pytest.raises(RetryError) as info:
        exact(clock).call(fn)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert "ConnectionResetError" in str(info.value)


# -- budget ----------------------------------------------------------------------------------------


def test_budget_stops_a_retry_storm_across_calls(clock: FakeClock) -> None:
    """100 always-failing calls sharing a budget make 3 retries in total, not 200."""
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    policy = exact(clock, budget=budget)
    fn = Flaky(failures=10**6)
    errors: list[RetryError] = []
    for _ in range(100):
        with pytest.raises(RetryError) as info:
            policy.call(fn)
        errors.append(info.value)
    # tokens 10 -> 9, 8, 7 (call 1: 2 retries, exhausted) -> 6 (retry) -> 5 (= max/2: refused) -> ...
    assert fn.calls == 103
    assert type(errors[0]) is RetryError
    assert all(isinstance(e, RetryBudgetExhaustedError) for e in errors[1:])
    assert isinstance(errors[1].__cause__, ConnectionResetError)
    assert len(errors[1].attempts) == 2
    assert len(errors[2].attempts) == 1
    assert budget.tokens == 0.0
    assert not budget.allows_retry()


def test_budget_refills_with_successes(clock: FakeClock) -> None:
    """Each success adds token_ratio; a failure retries only if its token leaves tokens above half."""
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    for _ in range(5):
        budget.record_failure()
    assert budget.tokens == 5.0
    assert not budget.allows_retry()
    policy = exact(clock, budget=budget)
    for _ in range(11):
        policy.call(lambda: "fine")
    assert budget.tokens == pytest.approx(6.1)
    assert policy.call(Flaky(failures=1)) == "ok"  # 6.1 -> 5.1 > 5: retried; success -> 5.2
    assert budget.tokens == pytest.approx(5.2)
    with pytest.raises(RetryBudgetExhaustedError):  # 5.2 -> 4.2: refused
        policy.call(Flaky(failures=1))
    assert clock.sleeps == [0.1]


def test_budget_never_exceeds_max_tokens() -> None:
    """Successes stop crediting at max_tokens, even when folded in bulk."""
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    budget.record_failure()
    for _ in range(1000):
        budget.record_success()
    assert budget.tokens == 10.0


def test_non_retriable_failures_do_not_spend_the_budget(clock: FakeClock) -> None:
    """A 400-style error says nothing about overload, so it costs no token."""
    budget = RetryBudget()
    with pytest.raises(ValueError):
        exact(clock, budget=budget).call(Flaky(1, ValueError))
    assert budget.tokens == 10.0


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Make CPython switch threads every microsecond, so races have a chance to show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.mark.usefixtures("busy_switching")
def test_budget_is_exact_under_concurrency() -> None:
    """8 threads of (success, success, failure) at ratio 0.5 leave the tokens exactly unchanged."""
    budget = RetryBudget(max_tokens=100_000, token_ratio=0.5)
    for _ in range(50_000):
        budget.record_failure()
    assert budget.tokens == 50_000.0
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for i in range(2000):
            budget.record_success()  # lock-free
            budget.record_success()
            budget.record_failure()  # folds the successes in under the lock
            if i % 100 == 0:
                _ = budget.tokens

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Never near the floor or the cap, so order cannot matter: a lost or double-counted success
    # would show up as a difference of 0.5.
    assert budget.tokens == 50_000.0


# -- sharing: threads and tasks --------------------------------------------------------------------


@pytest.mark.usefixtures("busy_switching")
def test_one_policy_shared_by_100_threads_counts_per_call(clock: FakeClock) -> None:
    """100 threads share a policy; each call's attempts are its own (1..3, or RetryError after 3)."""
    events: list[Any] = []
    policy = exact(clock, hooks=[events.append])
    barrier = threading.Barrier(100)
    outcomes: dict[int, tuple[int, object]] = {}

    def worker(i: int) -> None:
        fn = Flaky(failures=i % 4, value=i)
        barrier.wait()
        try:
            result: object = policy.call(fn)
        except RetryError as err:
            result = len(err.attempts)
        outcomes[i] = (fn.calls, result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(100):
        failures = i % 4
        calls, result = outcomes[i]
        assert calls == min(failures + 1, 3)
        assert result == (i if failures < 3 else 3)
    _assert_event_streams_are_per_call(events, calls=100)


async def test_one_policy_shared_by_1000_tasks_counts_per_call(clock: FakeClock) -> None:
    """1000 interleaved tasks share a policy; each task's attempt count is exactly its own."""
    events: list[Any] = []
    policy = exact(clock, hooks=[events.append])

    async def worker(i: int) -> tuple[int, object]:
        fn = AsyncFlaky(failures=i % 4, value=i)
        try:
            result: object = await policy.acall(fn)
        except RetryError as err:
            result = len(err.attempts)
        return fn.calls, result

    results = await asyncio.gather(*(worker(i) for i in range(1000)))
    for i, (calls, result) in enumerate(results):
        failures = i % 4
        assert calls == min(failures + 1, 3)
        assert result == (i if failures < 3 else 3)
    _assert_event_streams_are_per_call(events, calls=1000)


def _assert_event_streams_are_per_call(events: list[Any], *, calls: int) -> None:
    by_call: dict[int, list[Any]] = defaultdict(list)
    for e in events:
        by_call[e.call_id].append(e)
    assert len(by_call) == calls
    for stream in by_call.values():
        started = [e.attempt for e in stream if isinstance(e, AttemptStarted)]
        assert started == list(range(1, len(started) + 1))
        assert isinstance(stream[-1], RetrySucceeded | RetryGaveUp)
        assert stream[-1].attempts == len(started)


# -- cancellation ----------------------------------------------------------------------------------


async def test_cancel_during_backoff_sleep_stops_at_once(clock: FakeClock) -> None:
    """Cancelling while the FakeClock sleep yields raises CancelledError; no second attempt is made."""
    fn = AsyncFlaky(failures=5)
    task = asyncio.create_task(exact(clock).acall(fn))
    await asyncio.sleep(0)  # the task runs attempt 1, fails, and yields inside clock.asleep
    assert fn.calls == 1
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fn.calls == 1
    assert clock.sleeps == []  # the sleep never completed


class StuckClock(FakeClock):
    """A fake clock whose async sleep never ends on its own (a long real-world backoff)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def asleep(self, seconds: float) -> None:
        self.sleeping.set()
        await asyncio.Event().wait()


async def test_cancel_in_the_middle_of_a_long_sleep() -> None:
    """A task parked in a long backoff sleep is cancelled promptly and never attempts again."""
    clock = StuckClock()
    fn = AsyncFlaky(failures=5)
    task = asyncio.create_task(exact(clock).acall(fn))
    await asyncio.wait_for(clock.sleeping.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fn.calls == 1


async def test_cancelled_error_from_the_call_is_not_retried(clock: FakeClock) -> None:
    """An attempt raising CancelledError ends the call at once."""
    fn = AsyncFlaky(failures=5, error=asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        await exact(clock, retry_on=lambda e: True).acall(fn)
    assert fn.calls == 1


# -- decorator -------------------------------------------------------------------------------------


def test_decorator_on_def(clock: FakeClock) -> None:
    """@policy on a def retries it and keeps its name, docstring and signature."""
    fn = Flaky(failures=2, value=7)

    @exact(clock)
    def fetch(x: int) -> int:
        """Fetch something."""
        return int(fn()) * x

    assert fetch(3) == 21
    assert fn.calls == 3
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch something."
    assert str(inspect.signature(fetch)) == "(x: 'int') -> 'int'"
    assert not inspect.iscoroutinefunction(fetch)


async def test_decorator_on_async_def(clock: FakeClock) -> None:
    """@policy on an async def gives an async function that retries with clock.asleep."""
    fn = Flaky(failures=1, value=5)

    @exact(clock)
    async def fetch(x: int) -> int:
        """Fetch asynchronously."""
        await asyncio.sleep(0)
        return int(fn()) + x

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch asynchronously."
    assert await fetch(1) == 6
    assert fn.calls == 2
    assert clock.sleeps == [0.1]


# -- events ----------------------------------------------------------------------------------------


def test_events_are_emitted_in_order(clock: FakeClock) -> None:
    """attempt 1, scheduled 2, attempt 2, scheduled 3, attempt 3, succeeded, with times and kinds."""
    events: list[Any] = []
    exact(clock, hooks=[events.append]).call(Flaky(failures=2))
    assert [e.topic for e in events] == [
        "retry.attempt",
        "retry.scheduled",
        "retry.attempt",
        "retry.scheduled",
        "retry.attempt",
        "retry.succeeded",
    ]
    assert len({e.call_id for e in events}) == 1
    a1, s2, a2, s3, a3, ok = events
    assert (a1.attempt, a1.at) == (1, 0.0)
    assert (s2.attempt, s2.delay, s2.kind, s2.at) == (2, 0.1, ErrorKind.NETWORK, 0.0)
    assert (a2.attempt, a2.at) == (2, 0.1)
    assert (s3.attempt, s3.delay) == (3, 0.2)
    assert a3.attempt == 3
    assert a3.at == pytest.approx(0.3)
    assert ok.attempts == 3
    assert ok.elapsed == pytest.approx(0.3)


def test_gave_up_event_says_why(clock: FakeClock) -> None:
    """Exhausting the attempts emits retry.gave_up with the count, kind and reason."""
    events: list[Any] = []
    with pytest.raises(RetryError):
        exact(clock, hooks=[events.append]).call(Flaky(failures=5, error=TimeoutError))
    last = events[-1]
    assert isinstance(last, RetryGaveUp)
    assert (last.attempts, last.kind) == (3, ErrorKind.TIMEOUT)
    assert "all 3 attempts failed" in last.reason
    assert last.elapsed == pytest.approx(0.3)


def test_non_retriable_error_emits_gave_up(clock: FakeClock) -> None:
    """A non-retriable error ends with one attempt and a gave_up event naming its kind."""
    events: list[Any] = []
    with pytest.raises(ValueError):
        exact(clock, hooks=[events.append]).call(Flaky(1, ValueError))
    assert [e.topic for e in events] == ["retry.attempt", "retry.gave_up"]
    assert events[-1].kind is ErrorKind.UNKNOWN


def test_events_are_frozen_with_topics() -> None:
    """Each event class carries its topic from the _events table and cannot be mutated."""
    topics = {cls.topic for cls in (AttemptStarted, RetryScheduled, RetrySucceeded, RetryGaveUp)}
    assert topics == {"retry.attempt", "retry.scheduled", "retry.succeeded", "retry.gave_up"}
    e = AttemptStarted(at=0.0, call_id=1, attempt=1)
    with pytest.raises(AttributeError):
        e.attempt = 2  # type: ignore[misc]


# -- the success path ------------------------------------------------------------------------------


class CountingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()

    def wall(self) -> float:
        self.reads += 1
        return super().wall()


def test_success_path_reads_no_clock() -> None:
    """Without a deadline or hooks, a first-time success never reads the clock."""
    clock = CountingClock()
    policy = exact(clock)
    assert policy.call(lambda: 1) == 1
    assert clock.reads == 0


async def test_async_success_path_reads_no_clock() -> None:
    """The async fast path reads no clock either."""
    clock = CountingClock()

    async def fn() -> int:
        return 1

    assert await exact(clock).acall(fn) == 1
    assert clock.reads == 0


def test_deadline_or_hooks_do_read_the_clock() -> None:
    """A deadline (or a listening hook) needs the start time, so the clock is read."""
    clock = CountingClock()
    exact(clock, deadline=1.0).call(lambda: 1)
    assert clock.reads >= 1


# -- the decide/act API (what the simpy driver uses) -----------------------------------------------


def test_manual_driver_follows_decisions(clock: FakeClock) -> None:
    """start/on_error/begin_attempt/on_success drive a call without the built-in drivers."""
    policy = exact(clock)
    state = policy.start()
    assert state.attempt == 1
    d1 = state.on_error(ConnectionResetError())
    assert d1 == RetryDecision(True, 0.1, d1.classification, d1.reason)
    assert d1.classification.kind is ErrorKind.NETWORK
    assert state.attempt == 2
    clock.advance(d1.delay)
    state.begin_attempt()
    d2 = state.on_error(ConnectionResetError())
    assert (d2.retry, d2.delay) == (True, 0.2)
    clock.advance(d2.delay)
    state.begin_attempt()
    last = ConnectionResetError()
    d3 = state.on_error(last)
    assert d3.retry is False
    assert d3.delay == 0.0
    err = state.give_up(last)
    assert err.__cause__ is last
    assert len(err.attempts) == 3
    assert state.final_error(last) is not last


def test_final_error_returns_non_retriable_errors_unwrapped(clock: FakeClock) -> None:
    """final_error() hands back the original error when it was never retriable."""
    state = exact(clock).start()
    boom = ValueError("no")
    assert state.on_error(boom).retry is False
    assert state.final_error(boom) is boom


def test_states_are_independent(clock: FakeClock) -> None:
    """Two states from one policy keep separate attempt counts and call ids."""
    policy = exact(clock)
    a, b = policy.start(), policy.start()
    a.on_error(ConnectionResetError())
    assert (a.attempt, b.attempt) == (2, 1)
    assert a.call_id != b.call_id


def test_policy_is_immutable() -> None:
    """Settings cannot be changed after construction, so sharing a policy is safe."""
    p = RetryPolicy()
    with pytest.raises(AttributeError, match="immutable"):
        p.attempts = 5
    with pytest.raises(AttributeError, match="immutable"):
        del p.attempts


def test_decorrelated_policy_stays_within_bounds(clock: FakeClock) -> None:
    """A decorrelated-jitter policy's waits stay in [base_delay, max_delay]."""
    policy = RetryPolicy(attempts=30, jitter="decorrelated", max_delay=2.0, clock=clock, rng=random.Random(5))
    with pytest.raises(RetryError):
        policy.call(Flaky(failures=100))
    assert len(clock.sleeps) == 29
    assert all(0.1 <= s <= 2.0 for s in clock.sleeps)


# -- validation ------------------------------------------------------------------------------------

BAD_POLICY = [
    ("attempts", 0),
    ("attempts", -1),
    ("attempts", 2.5),
    ("attempts", True),
    ("attempts", "3"),
    ("base_delay", -0.1),
    ("base_delay", 0.0),
    ("base_delay", math.nan),
    ("base_delay", math.inf),
    ("base_delay", "0.1"),
    ("multiplier", 0.5),
    ("multiplier", math.nan),
    ("multiplier", math.inf),
    ("max_delay", 0.05),
    ("max_delay", math.inf),
    ("max_delay", math.nan),
    ("jitter", "gaussian"),
    ("jitter", None),
    ("jitter_ratio", -0.1),
    ("jitter_ratio", 1.01),
    ("jitter_ratio", math.nan),
    ("deadline", 0),
    ("deadline", -1.0),
    ("deadline", math.nan),
    ("deadline", math.inf),
    ("retry_on", "yes"),
    ("honour_retry_after", "yes"),
    ("honour_retry_after", 1),
    ("budget", 5),
    ("clock", "clock"),
    ("rng", 42),
    ("rng", random),
]


@pytest.mark.parametrize(("setting", "value"), BAD_POLICY)
def test_invalid_policy_settings_name_the_setting(setting: str, value: object) -> None:
    """Every invalid RetryPolicy setting raises ConfigError naming it and its value."""
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**{setting: value})  # type: ignore[arg-type]
    assert info.value.setting == setting
    assert str(info.value).startswith(f"{setting}={value!r}")


BAD_BUDGET = [
    ("max_tokens", 0),
    ("max_tokens", -1.0),
    ("max_tokens", math.nan),
    ("max_tokens", math.inf),
    ("token_ratio", 0),
    ("token_ratio", -0.1),
    ("token_ratio", math.nan),
    ("token_ratio", 11.0),
]


@pytest.mark.parametrize(("setting", "value"), BAD_BUDGET)
def test_invalid_budget_settings_name_the_setting(setting: str, value: object) -> None:
    """Every invalid RetryBudget setting raises ConfigError naming it and its value."""
    with pytest.raises(ConfigError) as info:
        RetryBudget(**{setting: value})  # type: ignore[arg-type]
    assert info.value.setting == setting
    assert str(info.value).startswith(f"{setting}=")
