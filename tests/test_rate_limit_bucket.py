"""TokenBucket: the admission law, exact refill, FIFO waiting, cancellation, and bad input."""

from __future__ import annotations

import asyncio
import math
import threading
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.clock import FakeClock
from day6.errors import ConfigError, RateLimitedError
from day6.rate_limit.token_bucket import TokenBucket
from tests.test_rate_limit_autoclock import AutoClock

# --- basics ---------------------------------------------------------------------------------------


def test_starts_full_then_refuses(clock: FakeClock) -> None:
    """A new bucket admits its whole burst at once, then refuses."""
    bucket = TokenBucket(capacity=3, rate=1.0, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.tokens == 0.0


def test_refills_at_rate_and_never_beyond_capacity(clock: FakeClock) -> None:
    """Tokens come back at `rate` per second and stop at `capacity`."""
    bucket = TokenBucket(capacity=2, rate=4.0, clock=clock)
    assert bucket.try_acquire(2)
    clock.advance(0.25)
    assert bucket.tokens == 1.0
    clock.advance(100)
    assert bucket.tokens == 2.0


def test_slow_rate_still_refills(clock: FakeClock) -> None:
    """At 0.1 tokens per second one token is back after exactly 10 s, even checked every 0.5 s."""
    bucket = TokenBucket(capacity=1, rate=0.1, clock=clock)
    assert bucket.try_acquire()
    for _ in range(19):
        clock.advance(0.5)
        assert not bucket.try_acquire()
    clock.advance(0.5)
    assert bucket.try_acquire()


def test_from_per_minute_is_the_lessons_configuration(clock: FakeClock) -> None:
    """60 per minute with a burst of 10 is capacity 10 refilled at 1 token per second."""
    bucket = TokenBucket.from_per_minute(60, burst=10, clock=clock)
    assert (bucket.capacity, bucket.rate) == (10.0, 1.0)


def test_time_until_is_exact(clock: FakeClock) -> None:
    """`time_until(n)` is the wait after which `try_acquire(n)` succeeds, and not a moment less."""
    bucket = TokenBucket(capacity=5, rate=3.0, clock=clock)
    assert bucket.try_acquire(5)
    wait = bucket.time_until(2)
    assert wait == pytest.approx(2 / 3)
    clock.advance(wait * 0.999)
    assert not bucket.try_acquire(2)
    clock.advance(wait - wait * 0.999)
    assert bucket.try_acquire(2)


def test_headroom_snapshot(clock: FakeClock) -> None:
    """`headroom()` reports tokens, capacity, rate, waiters and the time until one token."""
    bucket = TokenBucket(capacity=4, rate=2.0, clock=clock, name="api")
    bucket.try_acquire(4)
    view = bucket.headroom()
    assert (view.name, view.available, view.limit, view.rate, view.waiting) == ("api", 0.0, 4.0, 2.0, 0)
    assert view.retry_in == pytest.approx(0.5)
    assert view.fraction == 0.0


def test_set_rate_keeps_tokens_already_refilled(clock: FakeClock) -> None:
    """Changing the rate keeps what the old rate refilled and applies the new one from now on."""
    bucket = TokenBucket(capacity=10, rate=1.0, clock=clock)
    bucket.try_acquire(10)
    clock.advance(2)
    bucket.set_rate(4.0)
    assert bucket.tokens == 2.0
    clock.advance(1)
    assert bucket.tokens == 6.0


def test_pause_empties_and_delays_refill(clock: FakeClock) -> None:
    """`pause(s)` empties the bucket and refills nothing for `s` seconds; a longer pause wins."""
    bucket = TokenBucket(capacity=5, rate=1.0, clock=clock)
    bucket.pause(2.0)
    assert bucket.tokens == 0.0
    bucket.pause(1.0)  # shorter: ignored
    assert bucket.time_until(1) == pytest.approx(3.0)
    bucket.set_rate(2.0)  # a rate change keeps the pause's length
    assert bucket.time_until(1) == pytest.approx(2.5)
    clock.advance(2.0)
    assert bucket.tokens == 0.0
    clock.advance(0.5)
    assert bucket.try_acquire()


def test_events_report_each_decision(clock: FakeClock) -> None:
    """Each decision emits `limiter.decision` with the amount and the tokens left."""
    events: list[Any] = []
    bucket = TokenBucket(capacity=2, rate=1.0, clock=clock, hooks=[events.append], name="b")
    bucket.try_acquire(2)
    bucket.try_acquire(1)
    bucket.set_rate(3.0, reason="test")
    assert [(e.topic, e.allowed, e.amount, e.headroom) for e in events[:2]] == [
        ("limiter.decision", True, 2, 0.0),
        ("limiter.decision", False, 1, 0.0),
    ]
    change = events[2]
    assert (change.topic, change.name, change.old_rate, change.new_rate, change.reason) == (
        "limiter.rate",
        "b",
        1.0,
        3.0,
        "test",
    )


# --- the guarantee, as properties ------------------------------------------------------------------


steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
        st.integers(min_value=1, max_value=8),
        st.booleans(),  # blocking acquire (with a timeout) instead of try_acquire
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=8),
    rate=st.floats(min_value=0.05, max_value=50.0),
    ops=steps,
)
def test_admission_law_over_any_window(
    capacity: int, rate: float, ops: list[tuple[float, int, bool]]
) -> None:
    """Over any window of length t the bucket admits at most capacity + rate * t; tokens <= capacity."""
    clock = FakeClock()
    bucket = TokenBucket(capacity=capacity, rate=rate, clock=clock)
    admitted: list[tuple[float, int]] = []
    for dt, n, blocking in ops:
        clock.advance(dt)
        n = min(n, capacity)
        if blocking:
            try:
                bucket.acquire(n, timeout=1.0)
            except RateLimitedError:
                pass
            else:
                admitted.append((clock.now(), n))
        elif bucket.try_acquire(n):
            admitted.append((clock.now(), n))
        assert 0.0 <= bucket.tokens <= capacity
    for i, (start, _) in enumerate(admitted):
        total = 0
        for at, n in admitted[i:]:
            total += n
            bound = capacity + rate * (at - start)
            assert total <= bound + 1e-9 * (1 + bound), (start, at, total, bound)


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=10),
    rate=st.floats(min_value=0.01, max_value=1000.0),
    start=st.floats(min_value=0.0, max_value=1e6),
    drain=st.integers(min_value=0, max_value=10),
    n=st.integers(min_value=1, max_value=10),
)
def test_waiting_time_until_always_suffices(
    capacity: int, rate: float, start: float, drain: int, n: int
) -> None:
    """After sleeping `time_until(n)` on the clock, `try_acquire(n)` succeeds, at any clock reading."""
    clock = FakeClock(start)
    bucket = TokenBucket(capacity=capacity, rate=rate, clock=clock)
    if drain:
        bucket.try_acquire(min(drain, capacity))
    n = min(n, capacity)
    clock.sleep(bucket.time_until(n))
    assert bucket.try_acquire(n)


# --- no float drift ------------------------------------------------------------------------------


def test_tiny_steps_admit_exactly_what_the_formula_says() -> None:
    """150 000 steps of 1 ms at 0.1 tokens/s admit exactly floor(rate * elapsed) after a drain.

    The expectation is computed in exact rational arithmetic from the clock's actual reading. (The
    capacity of 2 is never reached, so the cap plays no part: every refilled token is admitted.)
    """
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=0.1, clock=clock)
    assert bucket.try_acquire(2)
    admitted = 0
    for _ in range(150_000):
        clock.advance(0.001)
        admitted += bucket.try_acquire()
    exact = Fraction(0.1) * Fraction(clock.now())
    assert admitted == math.floor(exact) == 15


def test_large_bucket_refills_through_tiny_steps() -> None:
    """A huge bucket refills even when each step's refill is below the float resolution of its level.

    The textbook `tokens += elapsed * rate` loses every one of these increments (1e12 + 1e-5 ==
    1e12 in floats) and never refills; the anchored formula does not.
    """
    clock = FakeClock()
    bucket = TokenBucket(capacity=1e12, rate=1.0, clock=clock)
    assert bucket.try_acquire(1)
    assert 1e12 - 1 + 1e-5 == 1e12 - 1  # the increment the naive bucket would add, lost
    for _ in range(200_000):
        clock.advance(1e-5)
        assert bucket.tokens <= 1e12
    assert bucket.tokens == 1e12


# --- blocking acquire ------------------------------------------------------------------------------


def test_acquire_sleeps_exactly_until_tokens_are_there(clock: FakeClock) -> None:
    """A blocking acquire sleeps on the clock for exactly the missing tokens' refill time."""
    bucket = TokenBucket(capacity=2, rate=4.0, clock=clock)
    bucket.acquire(2)
    bucket.acquire(1)
    assert clock.sleeps == [0.25]


def test_acquire_refuses_at_once_when_the_timeout_cannot_be_met(clock: FakeClock) -> None:
    """A timeout shorter than the refill time raises RateLimitedError at once, without sleeping."""
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock)
    bucket.acquire()
    with pytest.raises(RateLimitedError) as caught:
        bucket.acquire(timeout=0.5)
    assert caught.value.retry_after == pytest.approx(1.0)
    assert clock.sleeps == []
    assert bucket.waiting == 0


def test_refused_waiter_emits_a_refusal(clock: FakeClock) -> None:
    """A blocking call refused for its timeout reports `allowed=False`, like `try_acquire` does."""
    events: list[Any] = []
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock, hooks=[events.append])
    bucket.acquire()
    with pytest.raises(RateLimitedError):
        bucket.acquire(timeout=0.5)
    assert [(e.allowed, e.amount) for e in events] == [(True, 1), (False, 1)]


def test_acquire_with_an_exactly_sufficient_timeout_succeeds(clock: FakeClock) -> None:
    """A timeout equal to the refill time is enough (float rounding does not refuse it)."""
    bucket = TokenBucket(capacity=1, rate=3.0, clock=clock)
    bucket.acquire()
    bucket.acquire(timeout=1 / 3)
    assert clock.now() == pytest.approx(1 / 3)


def test_threads_share_the_line_and_sleep_one_at_a_time() -> None:
    """Four threads on an empty bucket are all served; only the head sleeps, so time moves 4 x 1 s."""
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock)
    bucket.acquire()
    done: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        bucket.acquire(timeout=30.0)
        with lock:
            done.append(clock.now())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(done) == [1.0, 2.0, 3.0, 4.0]
    assert clock.sleeps == [1.0, 1.0, 1.0, 1.0]


# --- async waiting: FIFO, fairness, cancellation ---------------------------------------------------


async def test_async_waiters_are_served_first_come_first_served() -> None:
    """Waiters get tokens in arrival order, even when a later, smaller request could fit sooner."""
    clock = AutoClock()
    bucket = TokenBucket(capacity=3, rate=1.0, clock=clock)
    bucket.try_acquire(3)
    served: list[tuple[str, float]] = []

    async def take(name: str, n: int) -> None:
        await bucket.aacquire(n)
        served.append((name, clock.now()))

    tasks = []
    for name, n in [("a", 3), ("b", 1), ("c", 2), ("d", 1)]:
        tasks.append(asyncio.create_task(take(name, n)))
        await clock.settle()
    assert bucket.waiting == 4
    await clock.run_until(1.0)
    assert not bucket.try_acquire(1)  # a token is there, but newcomers never overtake the line
    await clock.run_all()
    await asyncio.gather(*tasks)
    assert served == [("a", 3.0), ("b", 4.0), ("c", 6.0), ("d", 7.0)]


async def test_cancelled_waiter_holds_nothing_and_blocks_nobody() -> None:
    """Cancelling a parked waiter lets the one behind it move up: it is served a full turn earlier."""
    clock = AutoClock()
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock)
    bucket.try_acquire()
    served: dict[str, float] = {}

    async def take(name: str) -> None:
        await bucket.aacquire()
        served[name] = clock.now()

    tasks = {name: asyncio.create_task(take(name)) for name in "abc"}
    await clock.settle()
    tasks["b"].cancel()
    await clock.run_all()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert served == {"a": 1.0, "c": 2.0}
    assert tasks["b"].cancelled()
    assert bucket.waiting == 0
    assert bucket.tokens == 0.0


async def test_cancelling_the_sleeping_head_promotes_the_next() -> None:
    """Cancel the head while it sleeps for its tokens: the next waiter gets them, on time."""
    clock = AutoClock()
    bucket = TokenBucket(capacity=2, rate=1.0, clock=clock)
    bucket.try_acquire(2)
    served: dict[str, float] = {}

    async def take(name: str, n: int) -> None:
        await bucket.aacquire(n)
        served[name] = clock.now()

    head = asyncio.create_task(take("head", 2))
    await clock.settle()
    second = asyncio.create_task(take("second", 1))
    await clock.run_until(0.5)
    head.cancel()
    await clock.run_all()
    await asyncio.gather(head, second, return_exceptions=True)
    assert served == {"second": 1.0}
    assert bucket.tokens == 0.0


async def test_waiter_refused_at_once_when_the_line_is_too_long() -> None:
    """A waiter whose place in line cannot be served within its timeout is refused on arrival."""
    clock = AutoClock()
    bucket = TokenBucket(capacity=5, rate=1.0, clock=clock)
    bucket.try_acquire(5)
    head = asyncio.create_task(bucket.aacquire(5))
    await clock.settle()
    with pytest.raises(RateLimitedError) as caught:
        await bucket.aacquire(1, timeout=5.5)  # 5 tokens ahead + 1 at 1/s: 6 s
    assert caught.value.retry_after == pytest.approx(6.0)
    assert clock.now() == 0.0
    await clock.run_all()
    await head
    assert bucket.waiting == 0


async def test_deadline_noticed_while_the_head_sleeps() -> None:
    """When the rate drops after a waiter queued, the head wakes it at its deadline to give up."""
    clock = AutoClock()
    bucket = TokenBucket(capacity=4, rate=1.0, clock=clock)
    bucket.try_acquire(4)
    log: list[tuple[str, float]] = []

    async def take(name: str, n: int, limit: float | None) -> None:
        try:
            await bucket.aacquire(n, timeout=limit)
        except RateLimitedError:
            log.append((f"{name} gave up", clock.now()))
        else:
            log.append((f"{name} served", clock.now()))

    head = asyncio.create_task(take("head", 4, None))
    await clock.settle()
    behind = asyncio.create_task(take("behind", 1, 6.0))  # 4 + 1 tokens at 1/s: 5 s, fits
    await clock.settle()
    bucket.set_rate(0.5)  # the head already sleeps until t=4; now the line needs 10 s
    await clock.run_all()
    await asyncio.gather(head, behind)
    assert log == [("behind gave up", pytest.approx(6.0)), ("head served", pytest.approx(8.0))]
    assert bucket.waiting == 0


async def test_async_timeout_raises_rate_limited(clock: FakeClock) -> None:
    """`aacquire(timeout=...)` refuses at once when the refill cannot arrive in time."""
    bucket = TokenBucket(capacity=1, rate=0.1, clock=clock)
    await bucket.aacquire()
    with pytest.raises(RateLimitedError) as caught:
        await bucket.aacquire(timeout=1.0)
    assert caught.value.retry_after == pytest.approx(10.0)


async def test_async_acquire_sleeps_on_the_clock(clock: FakeClock) -> None:
    """`aacquire` waits with `clock.asleep` for exactly the refill time."""
    bucket = TokenBucket(capacity=1, rate=2.0, clock=clock)
    await bucket.aacquire()
    await bucket.aacquire()
    assert clock.sleeps == [0.5]


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("capacity", {"capacity": 0}),
        ("capacity", {"capacity": -1}),
        ("capacity", {"capacity": math.nan}),
        ("capacity", {"capacity": math.inf}),
        ("capacity", {"capacity": True}),
        ("rate", {"rate": 0}),
        ("rate", {"rate": -2.0}),
        ("rate", {"rate": math.nan}),
        ("rate", {"rate": math.inf}),
        ("name", {"name": ""}),
    ],
)
def test_bad_settings_raise_config_error(setting: str, kwargs: dict[str, Any]) -> None:
    """Every invalid setting raises ConfigError naming it, at construction."""
    with pytest.raises(ConfigError) as caught:
        TokenBucket(**kwargs)
    assert caught.value.setting == setting


@pytest.mark.parametrize("n", [0, -1, math.nan, math.inf, 11])
def test_bad_amounts_raise_at_once(clock: FakeClock, n: float) -> None:
    """n <= 0, n > capacity, NaN and inf raise ConfigError from every method, never wait."""
    bucket = TokenBucket(capacity=10, rate=1.0, clock=clock)
    for call in (bucket.try_acquire, bucket.acquire, bucket.time_until):
        with pytest.raises(ConfigError):
            call(n)
    with pytest.raises(ConfigError):
        asyncio.run(bucket.aacquire(n))
    assert clock.sleeps == []


@pytest.mark.parametrize("timeout", [-1.0, math.nan, math.inf])
def test_bad_timeouts_raise(clock: FakeClock, timeout: float) -> None:
    """A negative, NaN or infinite timeout is a ConfigError (None means no limit), tokens or not."""
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock)
    with pytest.raises(ConfigError):
        bucket.acquire(timeout=timeout)  # a token is there: still refused
    bucket.try_acquire()
    with pytest.raises(ConfigError):
        bucket.acquire(timeout=timeout)
    assert bucket.waiting == 0


def test_bad_rate_changes_and_pauses_raise(clock: FakeClock) -> None:
    """`set_rate` and `pause` validate like the constructor."""
    bucket = TokenBucket(clock=clock)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError):
            bucket.set_rate(bad)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError):
            bucket.pause(bad)
