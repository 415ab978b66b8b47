"""PriorityRateLimiter: higher priority first under saturation, aging against starvation, safe cancels."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from day6.clock import FakeClock
from day6.errors import ConfigError, RateLimitedError
from day6.rate_limit.priority import Priority, PriorityRateLimiter
from tests.test_rate_limit_autoclock import AutoClock


def _saturated(clock: Any, **settings: Any) -> PriorityRateLimiter:
    limiter = PriorityRateLimiter(capacity=1, rate=1.0, clock=clock, **settings)
    assert limiter.try_acquire(priority=Priority.HIGH)
    return limiter


async def test_higher_priority_is_served_first() -> None:
    """Under saturation the HIGH waiter gets the next token, though LOW and NORMAL arrived earlier."""
    clock = AutoClock()
    limiter = _saturated(clock, aging=100.0)
    served: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await limiter.aacquire(priority=priority)
        served.append(name)

    tasks = []
    for name, priority in [("low", Priority.LOW), ("normal", Priority.NORMAL), ("high", Priority.HIGH)]:
        tasks.append(asyncio.create_task(take(name, priority)))
        await clock.settle()
    await clock.run_all()
    await asyncio.gather(*tasks)
    assert served == ["high", "normal", "low"]
    assert clock.now() == 3.0


async def test_equal_priorities_are_first_come_first_served() -> None:
    """Within one class the line is FIFO."""
    clock = AutoClock()
    limiter = _saturated(clock)
    served: list[int] = []

    async def take(i: int) -> None:
        await limiter.aacquire()
        served.append(i)

    tasks = []
    for i in range(4):
        tasks.append(asyncio.create_task(take(i)))
        await clock.settle()
    await clock.run_all()
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2, 3]


async def test_try_acquire_respects_the_line() -> None:
    """A non-blocking caller passes only when it outranks every waiter."""
    clock = AutoClock()
    limiter = PriorityRateLimiter(capacity=2, rate=1.0, clock=clock)
    limiter.try_acquire(2, priority=Priority.HIGH)
    waiter = asyncio.create_task(limiter.aacquire(2, priority=Priority.NORMAL))
    await clock.run_until(1.0)  # one token is back; the NORMAL waiter needs two
    assert not limiter.try_acquire(priority=Priority.LOW)
    assert not limiter.try_acquire(priority=Priority.NORMAL)
    assert limiter.try_acquire(priority=Priority.HIGH)  # outranks the waiter: overtakes it
    await clock.run_all()
    await waiter
    assert clock.now() == 3.0


async def test_aging_prevents_starvation() -> None:
    """A LOW waiter under a steady stream of HIGH arrivals is served after about 2 * aging seconds."""
    clock = AutoClock()
    limiter = _saturated(clock, aging=5.0)
    served: list[tuple[str, float]] = []

    async def take(name: str, priority: Priority) -> None:
        await limiter.aacquire(priority=priority)
        served.append((name, clock.now()))

    low = asyncio.create_task(take("low", Priority.LOW))
    await clock.settle()
    highs = []
    for i in range(40):  # a new HIGH caller every half second: twice what the bucket serves
        highs.append(asyncio.create_task(take(f"high-{i}", Priority.HIGH)))
        await clock.run_until(clock.now() + 0.5)
    await clock.run_all()
    await asyncio.gather(low, *highs)
    # LOW ages to HIGH after 2 * aging = 10 s; then it outranks the later HIGH arrivals
    assert dict(served)["low"] == 10.0
    assert [name for name, _ in served].index("low") == 9


async def test_without_aging_low_would_wait_for_the_whole_stream() -> None:
    """The same stream with very slow aging keeps LOW waiting until the HIGH callers are done."""
    clock = AutoClock()
    limiter = _saturated(clock, aging=1e6)
    served: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await limiter.aacquire(priority=priority)
        served.append(name)

    low = asyncio.create_task(take("low", Priority.LOW))
    await clock.settle()
    highs = []
    for i in range(20):
        highs.append(asyncio.create_task(take(f"high-{i}", Priority.HIGH)))
        await clock.run_until(clock.now() + 0.5)
    await clock.run_all()
    await asyncio.gather(low, *highs)
    assert served[-1] == "low"


async def test_cancelled_high_waiter_leaves_the_token_to_the_next() -> None:
    """Cancelling the HIGH head while it sleeps hands its turn to the LOW waiter, on time."""
    clock = AutoClock()
    limiter = _saturated(clock, aging=100.0)
    low = asyncio.create_task(limiter.aacquire(priority=Priority.LOW))
    await clock.settle()
    high = asyncio.create_task(limiter.aacquire(priority=Priority.HIGH))
    await clock.run_until(0.5)
    high.cancel()
    await clock.run_all()
    await asyncio.gather(high, return_exceptions=True)
    await low
    assert clock.now() == 1.0
    assert limiter.waiting == 0


def test_sync_threads_with_priorities() -> None:
    """Blocking callers in threads share the line with priorities (all served, in some order)."""
    clock = FakeClock()
    limiter = PriorityRateLimiter(capacity=1, rate=10.0, clock=clock)
    errors: list[BaseException] = []

    def worker(priority: Priority) -> None:
        try:
            limiter.acquire(priority=priority, timeout=60.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in list(Priority) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    assert limiter.waiting == 0


def test_timeout_applies_to_each_priority(clock: FakeClock) -> None:
    """A blocking LOW caller whose tokens cannot come in time is refused at once."""
    limiter = _saturated(clock)
    with pytest.raises(RateLimitedError):
        limiter.acquire(priority=Priority.LOW, timeout=0.5)
    assert clock.sleeps == []


def test_effective_priority_improves_one_class_per_aging_period() -> None:
    """effective = max(0, priority - floor(waited / aging))."""
    limiter = PriorityRateLimiter(aging=10.0, clock=FakeClock())
    assert [limiter.effective_priority(Priority.LOW, w) for w in (0, 9.9, 10, 19.9, 20, 1000)] == [
        2,
        2,
        1,
        1,
        0,
        0,
    ]


@pytest.mark.parametrize("priority", [-1, True, 1.5, "high"])
def test_bad_priorities_raise(clock: FakeClock, priority: Any) -> None:
    """A priority must be an integer >= 0."""
    limiter = PriorityRateLimiter(clock=clock)
    with pytest.raises(ConfigError):
        limiter.try_acquire(priority=priority)
    with pytest.raises(ConfigError):
        limiter.acquire(priority=priority)


@pytest.mark.parametrize("aging", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_aging_raises(aging: float) -> None:
    """`aging` must be finite seconds > 0."""
    with pytest.raises(ConfigError) as caught:
        PriorityRateLimiter(aging=aging)
    assert caught.value.setting == "aging"
