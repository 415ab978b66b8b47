"""Bulkhead: a hard cap on calls in flight, bounded waits on the clock, FIFO hand-off, safe cancels."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import pytest

from day6.clock import FakeClock
from day6.errors import BulkheadFullError, ConfigError
from day6.rate_limit.bulkhead import Bulkhead


def test_threads_never_exceed_max_concurrent() -> None:
    """Twelve threads through a bulkhead of 3: never more than 3 inside at once, and all get through."""
    bulkhead = Bulkhead(max_concurrent=3, max_wait=60.0, clock=FakeClock())
    inside = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal inside, most
        try:
            with bulkhead:
                with lock:
                    inside += 1
                    most = max(most, inside)
                release.wait(timeout=5)
                with lock:
                    inside -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5  # a safety net for the test itself, not a timing assertion
    while bulkhead.stats().waiting < 9 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert bulkhead.stats().in_flight == 3
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    assert most == 3
    stats = bulkhead.stats()
    assert (stats.admitted, stats.rejected, stats.in_flight, stats.peak) == (12, 0, 0, 3)


def test_full_bulkhead_without_wait_refuses_at_once() -> None:
    """With max_wait=0 the call beyond the limit raises BulkheadFullError immediately."""
    bulkhead = Bulkhead(max_concurrent=1, clock=FakeClock())
    with bulkhead:
        with pytest.raises(BulkheadFullError, match="full"):
            bulkhead.acquire()
        assert not bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    assert bulkhead.stats().rejected == 2


def test_waiter_gives_up_when_the_clock_passes_its_deadline() -> None:
    """A waiter fails once the fake clock moves past max_wait, with no real sleeping of max_wait."""
    clock = FakeClock()
    bulkhead = Bulkhead(max_concurrent=1, max_wait=30.0, clock=clock)
    bulkhead.acquire()
    outcome: list[str] = []

    def waiter() -> None:
        try:
            bulkhead.acquire()
        except BulkheadFullError:
            outcome.append("full")

    thread = threading.Thread(target=waiter)
    thread.start()
    while bulkhead.stats().waiting == 0:
        time.sleep(0.001)
    clock.advance(29.0)
    thread.join(timeout=0.2)
    assert thread.is_alive()  # 29 s on the clock: still waiting
    clock.advance(1.0)
    thread.join(timeout=10)
    assert outcome == ["full"]
    assert bulkhead.stats().waiting == 0
    assert bulkhead.in_flight == 1


async def test_slots_are_handed_over_first_come_first_served() -> None:
    """A released slot goes to the oldest waiter, and a newcomer cannot grab it in between."""
    bulkhead = Bulkhead(max_concurrent=1, max_wait=60.0, clock=FakeClock())
    order: list[str] = []

    async def call(name: str) -> None:
        async with bulkhead:
            order.append(name)
            await asyncio.sleep(0)

    await bulkhead.aacquire()
    tasks = []
    for name in "abc":
        tasks.append(asyncio.create_task(call(name)))
        await asyncio.sleep(0)
    bulkhead.release()
    assert not bulkhead.try_acquire()  # the slot already belongs to "a"
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert bulkhead.in_flight == 0


async def test_cancelled_waiter_leaves_no_slot_taken() -> None:
    """Cancelling a waiter, even one just handed a slot, never leaks the slot."""
    bulkhead = Bulkhead(max_concurrent=1, max_wait=60.0, clock=FakeClock())
    await bulkhead.aacquire()
    first = asyncio.create_task(bulkhead.aacquire())
    second = asyncio.create_task(bulkhead.aacquire())
    await asyncio.sleep(0)
    bulkhead.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs: the slot moves on to `second`
    await asyncio.gather(first, return_exceptions=True)
    await second
    assert first.cancelled()
    assert bulkhead.in_flight == 1
    bulkhead.release()
    assert bulkhead.in_flight == 0
    stats = bulkhead.stats()
    assert (stats.admitted, stats.waiting) == (2, 0)


async def test_async_waiter_times_out_on_the_clock() -> None:
    """An async waiter fails once the clock passes its deadline."""
    clock = FakeClock()
    bulkhead = Bulkhead(max_concurrent=1, max_wait=5.0, clock=clock)
    await bulkhead.aacquire()
    waiter = asyncio.create_task(bulkhead.aacquire())
    await asyncio.sleep(0)
    clock.advance(5.0)
    with pytest.raises(BulkheadFullError):
        await waiter


def test_release_without_acquire_is_an_error() -> None:
    """Releasing more than was acquired is a bug, reported at once."""
    bulkhead = Bulkhead(max_concurrent=2, clock=FakeClock())
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        bulkhead.release()


def test_headroom_and_events() -> None:
    """`headroom()` counts free slots; admissions and refusals emit decision events."""
    events: list[Any] = []
    bulkhead = Bulkhead(max_concurrent=2, clock=FakeClock(), hooks=[events.append], name="llm")
    bulkhead.acquire()
    bulkhead.acquire()
    assert not bulkhead.try_acquire()
    view = bulkhead.headroom()
    assert (view.name, view.available, view.limit) == ("llm", 0.0, 2.0)
    assert [(e.topic, e.allowed, e.headroom) for e in events] == [
        ("limiter.decision", True, 1.0),
        ("limiter.decision", True, 0.0),
        ("limiter.decision", False, 0.0),
    ]


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("max_concurrent", {"max_concurrent": 0}),
        ("max_concurrent", {"max_concurrent": 1.5}),
        ("max_concurrent", {"max_concurrent": True}),
        ("max_wait", {"max_concurrent": 1, "max_wait": -1.0}),
        ("max_wait", {"max_concurrent": 1, "max_wait": math.nan}),
        ("max_wait", {"max_concurrent": 1, "max_wait": math.inf}),
    ],
)
def test_bad_settings_raise_config_error(setting: str, kwargs: dict[str, Any]) -> None:
    """Every invalid setting raises ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        Bulkhead(**kwargs)
    assert caught.value.setting == setting
