"""Exercise 3 (reference answer): a three-state circuit breaker over an injected clock.

When a backend is down, every call to it waits for a timeout and fails anyway, and the retries pile
more load on a service that is trying to recover. A circuit breaker notices the failures and *fails
fast* for a while instead:

* ``closed``: calls flow; consecutive failures are counted; ``failure_threshold`` of them in a row
  open the circuit.
* ``open``: calls are refused at once. After ``recovery_timeout`` seconds the next request is let
  through as a *probe* and the breaker goes ``half_open``.
* ``half_open``: one probe at a time. ``success_threshold`` successful probes close the circuit; a
  failed probe opens it again and restarts the recovery timer.

The breaker never reads the system time: it asks the injected ``clock``, so a test can jump ten
minutes ahead in a microsecond.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypeVar

__all__ = ["CircuitBreaker", "CircuitOpenError", "Clock"]

T = TypeVar("T")


class Clock(Protocol):
    """Anything with ``now()`` in seconds (``day6.clock.FakeClock`` in tests)."""

    def now(self) -> float: ...


class CircuitOpenError(Exception):
    """Raised by :meth:`CircuitBreaker.call` when the breaker refuses the call."""

    retriable = False


class CircuitBreaker:
    """Closed / open / half-open, with consecutive-failure tripping and single probes."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 1,
        clock: Clock,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold!r}")
        if success_threshold < 1:
            raise ValueError(f"success_threshold must be >= 1, got {success_threshold!r}")
        if not (recovery_timeout >= 0 and math.isfinite(recovery_timeout)):
            raise ValueError(f"recovery_timeout must be a finite number >= 0, got {recovery_timeout!r}")
        self._failure_threshold = failure_threshold
        self._recovery_timeout = recovery_timeout
        self._success_threshold = success_threshold
        self._clock = clock
        self._state = "closed"
        self._failures = 0  # consecutive failures while closed
        self._successes = 0  # successful probes while half-open
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (reading it never changes it)."""
        return self._state

    def allow_request(self) -> bool:
        """Whether a call may go ahead now; in half-open this admits the single probe."""
        if self._state == "closed":
            return True
        if self._state == "open":
            if self._clock.now() - self._opened_at < self._recovery_timeout:
                return False
            self._state = "half_open"
            self._successes = 0
            self._probe_in_flight = False
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        """A call admitted by :meth:`allow_request` succeeded."""
        if self._state == "closed":
            self._failures = 0
        elif self._state == "half_open":
            self._probe_in_flight = False
            self._successes += 1
            if self._successes >= self._success_threshold:
                self._state = "closed"
                self._failures = 0
                self._successes = 0

    def record_failure(self) -> None:
        """A call admitted by :meth:`allow_request` failed."""
        if self._state == "closed":
            self._failures += 1
            if self._failures >= self._failure_threshold:
                self._open()
        elif self._state == "half_open":
            self._open()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the breaker: refuse with :class:`CircuitOpenError`, or run and record."""
        if not self.allow_request():
            raise CircuitOpenError(f"circuit is {self._state}")
        try:
            result = fn()
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock.now()
        self._failures = 0
        self._successes = 0
        self._probe_in_flight = False
