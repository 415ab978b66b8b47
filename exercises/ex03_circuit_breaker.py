"""Exercise 3: a three-state circuit breaker over an injected clock.

When a backend is down, every call waits for a timeout and fails anyway, and retries pile more
load on a service trying to recover. A circuit breaker notices and *fails fast* for a while.
Lab 2 (notebooks/02_circuit_breaker.ipynb) draws its timeline; here you build the state machine.

Check your work with ``day6 check ex03`` or ``day6.grading.check("ex03")``. Standard library only;
read the time only from the injected ``clock`` (never ``time.time()`` / ``time.monotonic()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Anything with ``now()`` in seconds (given). Tests pass ``day6.clock.FakeClock``."""

    def now(self) -> float: ...


class CircuitOpenError(Exception):
    """Raised by :meth:`CircuitBreaker.call` when the breaker refuses the call (given)."""

    retriable = False


class CircuitBreaker:
    """A circuit breaker with three states: ``"closed"``, ``"open"`` and ``"half_open"``.

    Specification:

    * ``__init__(*, failure_threshold=5, recovery_timeout=30.0, success_threshold=1, clock)``:
      ``failure_threshold < 1``, ``success_threshold < 1`` or a ``recovery_timeout`` that is
      negative or not finite -> ``ValueError``. A new breaker is ``"closed"``.
    * **closed**: :meth:`allow_request` returns ``True``. :meth:`record_failure` counts
      *consecutive* failures; when the count reaches ``failure_threshold`` the breaker opens
      (remember ``clock.now()`` as the moment it opened). :meth:`record_success` resets the count.
    * **open**: :meth:`allow_request` returns ``False`` while ``clock.now() - opened_at <
      recovery_timeout``. The first call at or after that moment switches to ``"half_open"`` and
      returns ``True``: that request is the *probe*. ``record_success`` / ``record_failure``
      arriving while open (late results) are ignored.
    * **half_open**: only one probe at a time: :meth:`allow_request` returns ``True`` only when no
      probe is in flight (a probe is in flight from its ``allow_request`` until its
      ``record_*``). A probe success counts towards ``success_threshold``; reaching it closes the
      breaker (failure count back to 0). A probe failure opens the breaker again, restarting the
      recovery timer from ``clock.now()``.
    * :attr:`state` only reports the state; reading it never changes anything.
    * :meth:`call(fn) <call>`: if :meth:`allow_request` is ``False`` raise
      :class:`CircuitOpenError` without calling ``fn``; otherwise call ``fn()``, record a success
      and return its value, or record a failure and re-raise the same ``Exception``.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 1,
        clock: Clock,
    ) -> None:
        # TODO 1: validate the settings and set up the initial (closed) state.
        raise NotImplementedError("CircuitBreaker.__init__: complete TODO 1")

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        # TODO 2
        raise NotImplementedError("CircuitBreaker.state: complete TODO 2")

    def allow_request(self) -> bool:
        """Whether a call may go ahead now (in half-open: admits the single probe)."""
        # TODO 3: closed -> True; open -> check the recovery timer; half_open -> one probe at a time.
        raise NotImplementedError("CircuitBreaker.allow_request: complete TODO 3")

    def record_success(self) -> None:
        """A call admitted by :meth:`allow_request` succeeded."""
        # TODO 4
        raise NotImplementedError("CircuitBreaker.record_success: complete TODO 4")

    def record_failure(self) -> None:
        """A call admitted by :meth:`allow_request` failed."""
        # TODO 5
        raise NotImplementedError("CircuitBreaker.record_failure: complete TODO 5")

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the breaker (see the class specification)."""
        # TODO 6
        raise NotImplementedError("CircuitBreaker.call: complete TODO 6")
