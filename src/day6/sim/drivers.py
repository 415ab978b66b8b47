"""Drivers that act on day6's pattern decisions inside simpy time.

A :class:`~day6.retry.RetryPolicy` only *decides* (retry or not, and how long to wait); a driver
*acts*. ``policy.call`` acts with ``clock.sleep``, ``policy.acall`` with ``await clock.asleep``, and
:func:`retry_process` here acts with ``yield env.timeout(delay)``, so thousands of simulated clients
run the very policy code that protects the real agent, in simulated seconds that cost microseconds.

The policy must read the simulation's time (``clock=SimClock(env)``): its deadline, elapsed times
and event timestamps are then simulated seconds. :func:`retry_process` refuses a policy on any other
clock rather than silently mixing real and simulated time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

import simpy

from day6.clock import SimClock
from day6.errors import ConfigError
from day6.retry import RetryPolicy

__all__ = ["retry_process"]

_T = TypeVar("_T")

AttemptFn = Callable[[], Generator[simpy.Event, Any, _T]]
"""One attempt as a simpy generator: it yields events, then returns a result or raises."""


def retry_process(
    env: simpy.Environment, policy: RetryPolicy, attempt_fn: AttemptFn[_T]
) -> Generator[simpy.Event, Any, _T]:
    """Run ``attempt_fn`` under ``policy`` in simulated time; a simpy process body.

    Use it as ``env.process(retry_process(env, policy, attempt))`` or, inside another process,
    ``result = yield from retry_process(env, policy, attempt)``. Each attempt is
    ``yield from attempt_fn()``; when it raises, the policy's :meth:`~day6.retry.RetryState.on_error`
    decides, and this driver waits the decided delay with ``env.timeout``. The outcome is the
    same as ``policy.call`` would give: the attempt's result, the non-retriable error as is, or the
    :class:`~day6.errors.RetryError` from ``give_up`` carrying the history.

    ``simpy.Interrupt`` is the simulation's cancellation: it propagates at once, during an attempt
    or a backoff wait, and is never offered to the policy.
    """
    clock = policy.clock
    if not (isinstance(clock, SimClock) and clock.env is env):
        # Checked here, not inside the generator, so the mistake surfaces where it is made.
        raise ConfigError("policy.clock", clock, "a SimClock over the same simpy environment (SimClock(env))")
    return _drive(env, policy, attempt_fn)


def _drive(
    env: simpy.Environment, policy: RetryPolicy, attempt_fn: AttemptFn[_T]
) -> Generator[simpy.Event, Any, _T]:
    state = policy.start()
    while True:
        try:
            result = yield from attempt_fn()
        except simpy.Interrupt:
            raise
        except Exception as exc:
            error = exc
        else:
            state.on_success()
            return result
        # Outside the except block, so the next attempt's error does not chain to this one.
        decision = state.on_error(error)
        if not decision.retry:
            raise state.final_error(error)
        if decision.delay > 0:
            yield env.timeout(decision.delay)
        state.begin_attempt()
