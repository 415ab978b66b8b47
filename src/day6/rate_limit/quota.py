"""Quotas: budgets of requests, tokens and money per calendar period, spent only on purpose.

A rate limit says how *fast*; a quota says how *much*: 1 000 requests a day, 2 million tokens a
month, 20 dollars a month. When a quota is spent, every further call fails until the period
resets, so the useful thing is to refuse *before* calling: a call that is sure to be refused
still costs latency, and with a paid API, money.

:class:`QuotaManager` works in three steps, like a card payment:

1. :meth:`~QuotaManager.reserve` checks every budget and holds the *estimated* use (say, the prompt
   tokens plus ``max_tokens``), or refuses with :class:`~day6.errors.QuotaExceededError` naming
   the budget and when it resets. Nothing is sent yet.
2. :meth:`~QuotaManager.commit` turns the hold into the *actual* use the response reported
   (``usage.total_tokens``, the real cost), or
3. :meth:`~QuotaManager.release` drops the hold when the call never happened.

Periods follow the calendar in UTC (minute, hour, day, month), read from ``clock.wall()``: a daily
quota resets at midnight UTC, not 24 hours after the process started. That is also why a quota
survives a restart: :meth:`~QuotaManager.save` writes each budget's use together with the
*wall-clock* start of its period (never a monotonic reading, which means nothing in another
process), and :meth:`~QuotaManager.load` restores the use only if that period is still current.
Writes are atomic (a temporary file, fsync, ``os.replace``): a crash leaves the old file or the
new one, never half of either.

:meth:`~QuotaManager.predict_exhaustion` answers the capacity-planning question: at the pace of
this period so far, how many seconds until the first budget runs out (``None`` if none will
before it resets)?
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from day6._events import EventHook, Hooks
from day6.clock import Clock, SystemClock
from day6.errors import ConfigError, QuotaExceededError
from day6.rate_limit._common import Headroom, LimiterDecision, _is_number, _name

__all__ = ["QuotaManager", "QuotaStatus", "Reservation"]

Resource = Literal["requests", "tokens", "cost"]
Period = Literal["minute", "hour", "day", "month"]
RESOURCES: Final[tuple[Resource, ...]] = ("requests", "tokens", "cost")
PERIODS: Final[tuple[Period, ...]] = ("minute", "hour", "day", "month")
_FIXED_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_FORMAT_VERSION = 1


def period_bounds(period: Period, wall: float) -> tuple[float, float]:
    """The UTC calendar period containing ``wall``, as ``(start, end)`` Unix seconds.

    Minutes, hours and days are fixed lengths in Unix time (which has no leap seconds), so they are
    a floor division; months need the calendar.
    """
    if period != "month":
        length = _FIXED_SECONDS[period]
        start = math.floor(wall / length) * length
        return float(start), float(start + length)
    moment = datetime.fromtimestamp(wall, UTC)
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return first.timestamp(), following.timestamp()


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Reservation:
    """A hold on the budgets, made by :meth:`QuotaManager.reserve`; settle it exactly once."""

    id: int
    requests: int
    tokens: int
    cost: float

    def amount(self, resource: Resource) -> float:
        return float(getattr(self, resource))


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """One budget's state. Times are wall-clock Unix seconds (``resets_in`` is seconds from now).

    ``remaining = limit - used - reserved`` (never below 0); ``exhausts_in`` is the seconds until
    ``remaining`` reaches 0 at this period's pace so far, or ``None`` if it will not before the reset.
    """

    resource: Resource
    period: Period
    limit: float
    used: float
    reserved: float
    remaining: float
    period_start: float
    resets_at: float
    resets_in: float
    exhausts_in: float | None


class _Budget:
    __slots__ = ("end", "limit", "period", "reserved", "resource", "start", "used")

    def __init__(self, resource: Resource, period: Period, limit: float, wall: float) -> None:
        self.resource = resource
        self.period = period
        self.limit = limit
        self.start, self.end = period_bounds(period, wall)
        self.used = 0.0
        self.reserved = 0.0

    def roll(self, wall: float) -> None:
        """Start a new period once the current one is over (a clock set back keeps the current one)."""
        if wall >= self.end:
            self.start, self.end = period_bounds(self.period, wall)
            self.used = 0.0

    def remaining(self) -> float:
        return max(0.0, self.limit - self.used - self.reserved)

    def exhausts_in(self, wall: float) -> float | None:
        left = self.limit - self.used - self.reserved
        if left <= 0:
            return 0.0
        elapsed = wall - self.start
        if self.used <= 0 or elapsed <= 0:
            return None  # no pace to extrapolate yet
        seconds = left / (self.used / elapsed)
        return seconds if wall + seconds < self.end else None

    def status(self, wall: float) -> QuotaStatus:
        return QuotaStatus(
            resource=self.resource,
            period=self.period,
            limit=self.limit,
            used=self.used,
            reserved=self.reserved,
            remaining=self.remaining(),
            period_start=self.start,
            resets_at=self.end,
            resets_in=max(0.0, self.end - wall),
            exhausts_in=self.exhausts_in(wall),
        )


class QuotaManager:
    """Per-period budgets for requests, tokens and cost, checked before each call.

    ``limits`` maps a resource (``"requests"``, ``"tokens"``, ``"cost"``) to its budgets per
    period (``"minute"``, ``"hour"``, ``"day"``, ``"month"``), e.g.
    ``{"requests": {"day": 1000}, "tokens": {"minute": 40_000, "month": 2_000_000},
    "cost": {"month": 20.0}}``. Every budget is a finite number > 0. Thread-safe.
    """

    def __init__(
        self,
        *,
        limits: Mapping[str, Mapping[str, float]],
        clock: Clock | None = None,
        hooks: Iterable[EventHook] = (),
        name: str = "quota",
    ) -> None:
        self.name = _name(name)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.hooks = Hooks(hooks)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Reservation] = {}
        wall = self._clock.wall()
        self._budgets: list[_Budget] = []
        if not isinstance(limits, Mapping) or not limits:
            raise ConfigError("limits", limits, "a non-empty mapping of resource -> {period: budget}")
        for resource, periods in limits.items():
            if resource not in RESOURCES:
                raise ConfigError("limits", resource, f"a resource in {RESOURCES}")
            if not isinstance(periods, Mapping) or not periods:
                raise ConfigError(f"limits[{resource!r}]", periods, "a non-empty mapping of period -> budget")
            for period, limit in periods.items():
                if period not in PERIODS:
                    raise ConfigError(f"limits[{resource!r}]", period, f"a period in {PERIODS}")
                if not _is_number(limit) or not math.isfinite(limit) or not limit > 0:
                    raise ConfigError(f"limits[{resource!r}][{period!r}]", limit, "a finite budget > 0")
                self._budgets.append(_Budget(resource, period, float(limit), wall))

    # --- spending -------------------------------------------------------------------------------

    def reserve(self, requests: int = 1, tokens: int = 0, cost: float = 0.0) -> Reservation:
        """Hold ``requests``, ``tokens`` and ``cost`` against every budget, or refuse before the call.

        Raises :class:`~day6.errors.QuotaExceededError` (with ``resource`` and ``retry_after``, the
        seconds until the refusing budget resets; the latest one if several refuse) when any budget
        lacks room. Raises :class:`~day6.errors.ConfigError` for an amount no budget could ever
        hold (larger than the budget itself), since waiting would not help.
        """
        amounts = self._amounts(requests, tokens, cost)
        event: LimiterDecision | None = None
        refusal: QuotaExceededError | None = None
        reservation: Reservation | None = None
        with self._lock:
            wall = self._clock.wall()
            blocking: list[_Budget] = []
            for budget in self._budgets:
                budget.roll(wall)
                amount = amounts[budget.resource]
                if amount > budget.limit:
                    raise ConfigError(
                        budget.resource,
                        amount,
                        f"at most the {budget.period}ly budget of {budget.limit:g} (it can never fit)",
                    )
                if amount > 0 and budget.used + budget.reserved + amount > budget.limit:
                    blocking.append(budget)
            if blocking:
                worst = max(blocking, key=lambda b: b.end)
                refusal = self._refusal(worst, amounts[worst.resource], wall)
            else:
                for budget in self._budgets:
                    budget.reserved += amounts[budget.resource]
                reservation = Reservation(next(self._ids), int(requests), int(tokens), float(cost))
                self._pending[reservation.id] = reservation
            if self.hooks.active:
                tightest = self._tightest()
                event = LimiterDecision(
                    self.name, refusal is None, float(requests), tightest.remaining(), self._clock.now()
                )
        if event is not None:
            self.hooks.emit(event)
        if refusal is not None:
            raise refusal
        assert reservation is not None
        return reservation

    def commit(
        self,
        reservation: Reservation,
        *,
        requests: int | None = None,
        tokens: int | None = None,
        cost: float | None = None,
    ) -> None:
        """Settle a reservation with the *actual* use (defaults: the reserved amounts).

        Actual use may exceed the estimate: it is recorded as it happened, even past a budget
        (the provider counted it), and later reservations see it.
        """
        actual = self._amounts(
            reservation.requests if requests is None else requests,
            reservation.tokens if tokens is None else tokens,
            reservation.cost if cost is None else cost,
        )
        with self._lock:
            self._settle(reservation)
            wall = self._clock.wall()
            for budget in self._budgets:
                budget.roll(wall)
                budget.used += actual[budget.resource]

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose call never happened: its hold goes back to the budgets."""
        with self._lock:
            self._settle(reservation)

    # --- views ----------------------------------------------------------------------------------

    def status(self) -> tuple[QuotaStatus, ...]:
        """Every budget's state, in configuration order."""
        with self._lock:
            wall = self._clock.wall()
            for budget in self._budgets:
                budget.roll(wall)
            return tuple(budget.status(wall) for budget in self._budgets)

    def usage(self) -> dict[str, dict[str, float]]:
        """``{resource: {period: used}}`` for the current periods (settled use, not holds)."""
        return self._table(lambda s: s.used)

    def remaining(self) -> dict[str, dict[str, float]]:
        """``{resource: {period: limit - used - reserved}}``, never below 0."""
        return self._table(lambda s: s.remaining)

    def predict_exhaustion(self) -> float | None:
        """Wall-clock seconds until the first budget runs out at this period's pace so far.

        ``None`` when no budget will run out before its period resets (or nothing was used yet).
        The pace of a budget is its use divided by the time since its period started, so it is a
        straight-line forecast: good for "will we make it to midnight?", blind to bursts.
        """
        forecasts = [s.exhausts_in for s in self.status() if s.exhausts_in is not None]
        return min(forecasts) if forecasts else None

    def headroom(self) -> Headroom:
        """The tightest budget (least remaining as a fraction of its limit), for dashboards."""
        with self._lock:
            wall = self._clock.wall()
            for budget in self._budgets:
                budget.roll(wall)
            tightest = self._tightest()
            remaining = tightest.remaining()
            return Headroom(
                name=f"{self.name}:{tightest.resource}/{tightest.period}",
                available=remaining,
                limit=tightest.limit,
                retry_in=0.0 if remaining > 0 else max(0.0, tightest.end - wall),
            )

    # --- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write each budget's use and its period's wall-clock start to ``path``, atomically.

        Outstanding reservations are saved as used: if the process dies, the calls they held may
        well have happened, and a quota should err on the side of not overspending.
        """
        with self._lock:
            wall = self._clock.wall()
            budgets = []
            for budget in self._budgets:
                budget.roll(wall)
                budgets.append(
                    {
                        "resource": budget.resource,
                        "period": budget.period,
                        "limit": budget.limit,
                        "period_start": budget.start,
                        "used": budget.used + budget.reserved,
                    }
                )
        document = {"version": _FORMAT_VERSION, "saved_at": wall, "budgets": budgets}
        _atomic_write(Path(path), json.dumps(document, indent=2, sort_keys=True) + "\n")

    def load(self, path: str | os.PathLike[str]) -> bool:
        """Restore use saved by :meth:`save`; call it at start-up, before reserving anything.

        A saved budget is restored only if its period is still the current one (yesterday's use
        does not count today) and it is configured here (same resource and period). Returns
        ``False`` when the file does not exist. Raises ``ValueError`` for a file that is not a
        day6 quota file: starting from zero would risk overspending, so that is never silent.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        saved = _parse_saved(text, path)
        with self._lock:
            wall = self._clock.wall()
            for budget in self._budgets:
                budget.roll(wall)
                for entry in saved:
                    same = entry["resource"] == budget.resource and entry["period"] == budget.period
                    if same and entry["period_start"] == budget.start:
                        budget.used = entry["used"]
        return True

    # --- internals ------------------------------------------------------------------------------

    def _amounts(self, requests: Any, tokens: Any, cost: Any) -> dict[str, float]:
        for setting, value, integral in (
            ("requests", requests, True),
            ("tokens", tokens, True),
            ("cost", cost, False),
        ):
            ok = (isinstance(value, int) and not isinstance(value, bool)) if integral else _is_number(value)
            if not ok or not math.isfinite(value) or value < 0:
                kind = "an integer >= 0" if integral else "a finite number >= 0"
                raise ConfigError(setting, value, kind)
        return {"requests": float(requests), "tokens": float(tokens), "cost": float(cost)}

    def _settle(self, reservation: Reservation) -> None:
        """Remove a pending reservation's holds (lock held); a second settle is a bug."""
        if self._pending.pop(reservation.id, None) is None:
            raise ValueError(f"reservation {reservation.id} is unknown or already settled")
        for budget in self._budgets:
            budget.reserved = max(0.0, budget.reserved - reservation.amount(budget.resource))

    def _tightest(self) -> _Budget:
        return min(self._budgets, key=lambda b: b.remaining() / b.limit)

    def _refusal(self, budget: _Budget, amount: float, wall: float) -> QuotaExceededError:
        resets_in = max(0.0, budget.end - wall)
        return QuotaExceededError(
            f"{self.name}: the {budget.resource} budget per {budget.period} would be exceeded "
            f"({budget.used:g} used + {budget.reserved:g} reserved + {amount:g} requested > "
            f"{budget.limit:g}); it resets at {_iso(budget.end)} (in {resets_in:.0f} s)",
            retry_after=resets_in,
            resource=budget.resource,
        )

    def _table(self, pick: Any) -> dict[str, dict[str, float]]:
        table: dict[str, dict[str, float]] = {}
        for status in self.status():
            table.setdefault(status.resource, {})[status.period] = pick(status)
        return table

    def __repr__(self) -> str:
        budgets = ", ".join(f"{b.resource}/{b.period}={b.limit:g}" for b in self._budgets)
        return f"QuotaManager(name={self.name!r}, {budgets})"


def _parse_saved(text: str, path: Path) -> list[dict[str, Any]]:
    """Validate a saved quota file strictly; anything unexpected is a ``ValueError``."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a day6 quota file (invalid JSON: {exc.msg})") from None
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{path}: not a day6 quota file (expected version {_FORMAT_VERSION})")
    entries = document.get("budgets")
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not a day6 quota file (no budgets list)")
    for entry in entries:
        ok = (
            isinstance(entry, dict)
            and entry.get("resource") in RESOURCES
            and entry.get("period") in PERIODS
            and all(
                _is_number(entry.get(k)) and math.isfinite(entry[k]) and entry[k] >= 0
                for k in ("period_start", "used")
            )
        )
        if not ok:
            raise ValueError(f"{path}: not a day6 quota file (bad budget entry {entry!r})")
    return entries


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible everywhere)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
