"""SlidingWindowLimiter: no window at any alignment over the limit, in both modes; bounded memory."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.clock import FakeClock
from day6.errors import ConfigError, RateLimitedError
from day6.rate_limit.sliding_window import SlidingWindowLimiter

MODES = ("log", "counter")


def test_log_mode_admits_limit_then_frees_as_calls_age_out(clock: FakeClock) -> None:
    """Three per 10 s: the fourth waits until the first call is 10 s old, not for a fixed window."""
    limiter = SlidingWindowLimiter(limit=3, window=10.0, clock=clock)
    assert limiter.try_acquire()
    clock.advance(4)
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.time_until() == pytest.approx(6.0)
    clock.advance(6)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_no_double_burst_at_a_fixed_window_edge(clock: FakeClock) -> None:
    """Unlike a fixed window, a burst at 59.9 s and another at 60.1 s cannot both pass."""
    limiter = SlidingWindowLimiter(limit=5, window=60.0, clock=clock)
    clock.advance(59.9)
    assert all(limiter.try_acquire() for _ in range(5))
    clock.advance(0.2)
    assert not limiter.try_acquire()


@pytest.mark.parametrize("mode", MODES)
def test_keys_are_independent(clock: FakeClock, mode: Any) -> None:
    """Each key has its own window."""
    limiter = SlidingWindowLimiter(limit=1, window=1.0, mode=mode, clock=clock)
    assert limiter.try_acquire("alice")
    assert limiter.try_acquire("bob")
    assert not limiter.try_acquire("alice")
    assert limiter.remaining("bob") == 0
    assert limiter.remaining("carol") == 1


@pytest.mark.parametrize("mode", MODES)
def test_time_until_is_exact(clock: FakeClock, mode: Any) -> None:
    """After sleeping `time_until(key, n)`, `try_acquire(key, n)` succeeds."""
    limiter = SlidingWindowLimiter(limit=4, window=3.0, mode=mode, clock=clock)
    for step in (0.0, 0.7, 0.7, 0.7):
        clock.advance(step)
        assert limiter.try_acquire()
    wait = limiter.time_until(n=2)
    assert wait > 0
    clock.sleep(wait)
    assert limiter.try_acquire(n=2)


@pytest.mark.parametrize("mode", MODES)
def test_acquire_sleeps_until_room(clock: FakeClock, mode: Any) -> None:
    """`acquire` sleeps on the clock until the window has room; `aacquire` the same."""
    limiter = SlidingWindowLimiter(limit=2, window=5.0, mode=mode, clock=clock)
    limiter.acquire()
    limiter.acquire()
    limiter.acquire()
    assert clock.now() == pytest.approx(5.0)


async def test_async_acquire_sleeps_until_room(clock: FakeClock) -> None:
    """`aacquire` waits with `clock.asleep` until the oldest call leaves the window."""
    limiter = SlidingWindowLimiter(limit=1, window=2.0, clock=clock)
    await limiter.aacquire()
    await limiter.aacquire()
    assert clock.sleeps == [2.0]


def test_acquire_refuses_at_once_when_the_timeout_cannot_be_met(clock: FakeClock) -> None:
    """A timeout shorter than the wait raises RateLimitedError at once, with retry_after."""
    limiter = SlidingWindowLimiter(limit=1, window=2.0, clock=clock)
    limiter.acquire()
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(timeout=1.0)
    assert caught.value.retry_after == pytest.approx(2.0)
    assert clock.sleeps == []


# --- the guarantee at any alignment ---------------------------------------------------------------

ops = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=2.5, allow_nan=False),
        st.sampled_from(["a", "b"]),
        st.integers(min_value=1, max_value=4),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=6),
    window=st.floats(min_value=0.1, max_value=5.0),
    buckets=st.integers(min_value=1, max_value=8),
    start=st.floats(min_value=0.0, max_value=1e5),
    steps=ops,
)
def test_no_window_at_any_alignment_exceeds_the_limit(
    limit: int, window: float, buckets: int, start: float, steps: list[tuple[float, str, int]]
) -> None:
    """In both modes, every interval [s, s + window) holds at most `limit` admitted calls per key.

    The log is also tight (it refuses only when the exact count says so), and the counter refuses
    only what an exact window of window * (1 + 1/buckets) would refuse.
    """
    clocks = {mode: FakeClock(start) for mode in MODES}
    limiters = {
        mode: SlidingWindowLimiter(limit=limit, window=window, mode=mode, buckets=buckets, clock=clocks[mode])
        for mode in MODES
    }
    admitted: dict[tuple[str, str], list[tuple[float, int]]] = {(m, k): [] for m in MODES for k in "ab"}
    for dt, key, n in steps:
        n = min(n, limit)
        for mode in MODES:
            clocks[mode].advance(dt)
            now = clocks[mode].now()
            history = admitted[mode, key]
            if limiters[mode].try_acquire(key, n):
                history.append((now, n))
            elif mode == "log":
                in_window = sum(c for t, c in history if t + window > now)
                assert in_window + n > limit, "log mode refused a call the window had room for"
            else:
                longer = window * (1 + 1 / buckets) * (1 + 1e-9)
                in_longer = sum(c for t, c in history if t + longer > now)
                assert in_longer + n > limit, "counter mode refused beyond its stated bound"
    for history in admitted.values():
        for i, (s, _) in enumerate(history):
            inside = sum(c for t, c in history[i:] if t < s + window)
            assert inside <= limit


# --- memory ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_idle_keys_are_evicted(clock: FakeClock, mode: Any) -> None:
    """A key whose calls have all left the window is forgotten."""
    limiter = SlidingWindowLimiter(limit=3, window=1.0, mode=mode, clock=clock)
    for user in range(100):
        limiter.try_acquire(f"user-{user}")
    assert len(limiter) == 100
    clock.advance(1.0)
    limiter.try_acquire("fresh")
    assert len(limiter) == 1


def test_log_is_bounded_by_the_limit(clock: FakeClock) -> None:
    """The log never holds more than `limit` calls per key, however many are attempted."""
    limiter = SlidingWindowLimiter(limit=5, window=10.0, clock=clock)
    for _ in range(1000):
        clock.advance(0.001)
        limiter.try_acquire()
    state = limiter._keys["default"]
    assert state.total == 5
    assert len(state.entries) <= 5  # type: ignore[union-attr]


def test_counter_memory_does_not_grow_with_the_limit(clock: FakeClock) -> None:
    """Counter mode keeps at most buckets + 2 counters per key, even for a limit of a million."""
    limiter = SlidingWindowLimiter(limit=1_000_000, window=10.0, mode="counter", buckets=10, clock=clock)
    for _ in range(5000):
        clock.advance(0.01)
        assert limiter.try_acquire()
    assert len(limiter._keys["default"].slots) <= 12  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
def test_max_keys_fails_closed_and_recovers(clock: FakeClock, mode: Any) -> None:
    """With every tracked key active, a new key is refused (never evicting live history)."""
    limiter = SlidingWindowLimiter(limit=1, window=5.0, mode=mode, max_keys=2, clock=clock)
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("b")
    assert not limiter.try_acquire("c")
    assert not limiter.try_acquire("a")  # a's history was not evicted to make room
    assert limiter.time_until("c") == pytest.approx(5.0)
    clock.advance(5.0)
    assert limiter.try_acquire("c")


@pytest.mark.parametrize("mode", MODES)
def test_rejected_calls_allocate_nothing(clock: FakeClock, mode: Any) -> None:
    """Thousands of refused calls leave no memory behind."""
    limiter = SlidingWindowLimiter(limit=2, window=60.0, mode=mode, max_keys=1, clock=clock)
    limiter.try_acquire("k", 2)
    for _ in range(10):  # warm up any lazily created interpreter state
        limiter.try_acquire("k")
        limiter.try_acquire("other")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            assert not limiter.try_acquire("k")
            assert not limiter.try_acquire("other")
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before <= 256  # bytes: a refused call keeps nothing
    assert len(limiter) == 1


# --- events and views -----------------------------------------------------------------------------


def test_events_and_headroom(clock: FakeClock) -> None:
    """Decisions emit `limiter.decision`; `headroom(key)` reports the free slots."""
    events: list[Any] = []
    limiter = SlidingWindowLimiter(limit=2, window=1.0, clock=clock, hooks=[events.append], name="w")
    limiter.try_acquire()
    limiter.try_acquire()
    limiter.try_acquire()
    assert [(e.topic, e.allowed, e.headroom) for e in events] == [
        ("limiter.decision", True, 1.0),
        ("limiter.decision", True, 0.0),
        ("limiter.decision", False, 0.0),
    ]
    view = limiter.headroom()
    assert (view.available, view.limit, view.retry_in) == (0.0, 2.0, pytest.approx(1.0))


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("limit", {"limit": 0, "window": 1.0}),
        ("limit", {"limit": 1.5, "window": 1.0}),
        ("limit", {"limit": True, "window": 1.0}),
        ("window", {"limit": 1, "window": 0.0}),
        ("window", {"limit": 1, "window": -1.0}),
        ("window", {"limit": 1, "window": math.nan}),
        ("window", {"limit": 1, "window": math.inf}),
        ("mode", {"limit": 1, "window": 1.0, "mode": "fixed"}),
        ("buckets", {"limit": 1, "window": 1.0, "buckets": 0}),
        ("max_keys", {"limit": 1, "window": 1.0, "max_keys": 0}),
    ],
)
def test_bad_settings_raise_config_error(setting: str, kwargs: dict[str, Any]) -> None:
    """Every invalid setting raises ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        SlidingWindowLimiter(**kwargs)
    assert caught.value.setting == setting


@pytest.mark.parametrize("n", [0, -1, 3, 1.5, math.nan, True])
def test_bad_amounts_raise(clock: FakeClock, n: Any) -> None:
    """n must be an integer in [1, limit]: anything else raises at once, never waits."""
    limiter = SlidingWindowLimiter(limit=2, window=1.0, clock=clock)
    for call in (limiter.try_acquire, limiter.time_until, limiter.acquire):
        with pytest.raises(ConfigError):
            call("k", n)
    assert clock.sleeps == []
