"""The injected clocks: fake time moves only when told, system time is monotonic."""

from __future__ import annotations

import asyncio
import threading

import pytest

from day6.clock import Clock, FakeClock, SimClock, SystemClock


def test_fake_clock_sleep_advances_and_records(clock: FakeClock) -> None:
    """Sleeping on a fake clock moves it forward by exactly that much and records the delay."""
    clock.sleep(0.25)
    clock.sleep(1.5)
    assert clock.now() == pytest.approx(1.75)
    assert clock.sleeps == [0.25, 1.5]


def test_fake_clock_advance_is_not_a_sleep(clock: FakeClock) -> None:
    """advance() moves time without recording a sleep."""
    clock.advance(3)
    assert clock.now() == 3
    assert clock.sleeps == []


def test_fake_clock_rejects_negative_advance(clock: FakeClock) -> None:
    """Time never runs backwards."""
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.advance(-1)


def test_fake_clock_wall_moves_with_now() -> None:
    """wall() is the epoch start plus monotonic progress."""
    c = FakeClock(wall_start=1000.0)
    c.advance(5)
    assert c.wall() == 1005.0


async def test_fake_clock_async_sleep_is_cancellable(clock: FakeClock) -> None:
    """asleep yields to the loop, so a cancel delivered meanwhile is observed."""
    task = asyncio.create_task(clock.asleep(10))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.now() == 0


def test_fake_clock_threads_each_add_their_sleep(clock: FakeClock) -> None:
    """100 threads sleeping 0.01 each add up to exactly 1 s of fake time."""
    threads = [threading.Thread(target=clock.sleep, args=(0.01,)) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(clock.sleeps) == 100
    assert clock.now() == pytest.approx(1.0)


def test_system_clock_is_monotonic_and_a_clock() -> None:
    """SystemClock satisfies the protocol and never goes backwards."""
    c = SystemClock()
    assert isinstance(c, Clock)
    a, b = c.now(), c.now()
    assert b >= a


def test_sim_clock_reads_env_and_refuses_to_block(env) -> None:  # type: ignore[no-untyped-def]
    """SimClock reads env.now; blocking sleep inside a simulation is refused with a pointer."""
    clock = SimClock(env)

    def proc():  # type: ignore[no-untyped-def]
        yield clock.timeout(2.5)

    env.process(proc())
    env.run()
    assert clock.now() == 2.5
    with pytest.raises(RuntimeError, match=r"yield clock\.timeout"):
        clock.sleep(1)
