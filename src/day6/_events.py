"""The tiny event bus every pattern shares: a list of hooks and a cheap ``emit``.

Patterns describe what happened as frozen dataclass records (``RetryScheduled``,
``CircuitStateChanged``, ...) and hand them to hooks; the :class:`~day6.monitoring.Monitor`, a
plot or a test is just a hook. Building a record costs an allocation, so callers check
:attr:`Hooks.active` first and skip the work on the success path when nobody listens.

The contract between emitters and consumers: every event is a frozen dataclass with a class-level
``topic`` string and an ``at`` field (the emitter's clock reading). Consumers dispatch on
``topic``, so the monitor needs no import of the emitting module:

============================  ===============================================================
topic                          fields beyond ``at``
============================  ===============================================================
``retry.attempt``              ``call_id``, ``attempt``
``retry.scheduled``            ``call_id``, ``attempt``, ``delay``, ``kind``, ``reason``
``retry.succeeded``            ``call_id``, ``attempts``, ``elapsed``
``retry.gave_up``              ``call_id``, ``attempts``, ``kind``, ``reason``, ``elapsed``
``breaker.state``              ``name``, ``old``, ``new`` (state values), ``reason``
``breaker.call``               ``name``, ``outcome`` (success/failure/ignored), ``duration``
``breaker.rejected``           ``name``, ``retry_after``
``limiter.decision``           ``name``, ``allowed``, ``amount``, ``headroom``
``limiter.rate``               ``name``, ``old_rate``, ``new_rate``, ``reason``
``fault.injected``             ``fault``, ``method``, ``url``
``agent.request``              ``outcome`` (ok/fallback/failed), ``latency``, ``attempts``,
                               ``kind`` (ErrorKind or None), ``model``
============================  ===============================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["EventHook", "Hooks"]

EventHook = Callable[[Any], None]
"""A callable that receives one event record. It must not raise; if it does, the error is logged."""

_log = logging.getLogger("day6.events")


class Hooks:
    """An ordered, append-only set of event hooks.

    A failing hook is logged and skipped: observability must never break the call it observes.
    """

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Iterable[EventHook] = ()) -> None:
        self._hooks: tuple[EventHook, ...] = tuple(hooks)

    @property
    def active(self) -> bool:
        """True when at least one hook listens (check before building an event)."""
        return bool(self._hooks)

    def add(self, hook: EventHook) -> None:
        """Attach a hook; copy-on-write so emitting threads never see a half-built list."""
        self._hooks = (*self._hooks, hook)

    def remove(self, hook: EventHook) -> None:
        self._hooks = tuple(h for h in self._hooks if h is not hook)

    def emit(self, event: Any) -> None:
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                _log.exception("event hook %r failed on %s", hook, type(event).__name__)

    def __len__(self) -> int:
        return len(self._hooks)

    def __repr__(self) -> str:
        return f"Hooks({len(self._hooks)} attached)"
