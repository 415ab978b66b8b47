"""QuotaManager: refuse before the call, reconcile actual use, calendar resets, prediction, restarts."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest

from day6.clock import FakeClock
from day6.errors import ConfigError, QuotaExceededError
from day6.rate_limit.quota import QuotaManager, period_bounds

JAN_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, FakeClock's wall start
DAY = 86_400.0


def test_refuses_before_the_call_naming_the_budget_and_its_reset(clock: FakeClock) -> None:
    """With the daily budget spent, `reserve` raises QuotaExceededError: which budget, when it resets."""
    clock.advance(20 * 3600)  # 20:00 UTC
    quota = QuotaManager(limits={"requests": {"day": 2}}, clock=clock)
    quota.commit(quota.reserve())
    quota.commit(quota.reserve())
    with pytest.raises(QuotaExceededError) as caught:
        quota.reserve()
    error = caught.value
    assert error.resource == "requests"
    assert error.retry_after == pytest.approx(4 * 3600)
    assert "2026-01-02T00:00:00Z" in str(error)
    assert "day" in str(error)


def test_reservations_hold_budget_until_settled(clock: FakeClock) -> None:
    """Outstanding reservations count against the budget; `release` gives the hold back."""
    quota = QuotaManager(limits={"tokens": {"minute": 1000}}, clock=clock)
    first = quota.reserve(tokens=600)
    with pytest.raises(QuotaExceededError):
        quota.reserve(tokens=600)
    quota.release(first)
    quota.reserve(tokens=600)


def test_commit_reconciles_actual_usage(clock: FakeClock) -> None:
    """A commit records what the response reported, even beyond the estimate."""
    quota = QuotaManager(limits={"tokens": {"day": 1000}, "cost": {"month": 1.0}}, clock=clock)
    held = quota.reserve(tokens=300, cost=0.1)
    assert quota.remaining() == {"tokens": {"day": 700.0}, "cost": {"month": pytest.approx(0.9)}}
    quota.commit(held, tokens=450, cost=0.25)
    assert quota.usage() == {"tokens": {"day": 450.0}, "cost": {"month": 0.25}}
    assert quota.remaining()["tokens"]["day"] == 550.0


def test_settling_twice_is_an_error(clock: FakeClock) -> None:
    """A reservation is settled exactly once."""
    quota = QuotaManager(limits={"requests": {"day": 5}}, clock=clock)
    held = quota.reserve()
    quota.commit(held)
    with pytest.raises(ValueError, match="already settled"):
        quota.commit(held)
    with pytest.raises(ValueError, match="already settled"):
        quota.release(held)


def test_every_budget_must_have_room(clock: FakeClock) -> None:
    """A minute budget can refuse while the day budget still has room, and says so."""
    quota = QuotaManager(limits={"requests": {"minute": 1, "day": 100}}, clock=clock)
    quota.commit(quota.reserve())
    with pytest.raises(QuotaExceededError) as caught:
        quota.reserve()
    assert "minute" in str(caught.value)
    assert caught.value.retry_after == pytest.approx(60.0)
    clock.advance(60)
    quota.reserve()


def test_day_budget_resets_at_utc_midnight_not_24h_later(clock: FakeClock) -> None:
    """Usage at 23:00 does not carry into the next calendar day."""
    clock.advance(23 * 3600)
    quota = QuotaManager(limits={"requests": {"day": 1}}, clock=clock)
    quota.commit(quota.reserve())
    clock.advance(3600)  # 00:00 the next day
    quota.commit(quota.reserve())
    assert quota.usage() == {"requests": {"day": 1.0}}


def test_month_follows_the_calendar() -> None:
    """January has 31 days; the month budget resets on February 1st (and December rolls the year)."""
    start, end = period_bounds("month", JAN_1 + 10 * DAY)
    assert (start, end) == (JAN_1, JAN_1 + 31 * DAY)
    december = 1_796_083_200.0  # 2026-12-01T00:00:00Z
    assert period_bounds("month", december + 5) == (december, december + 31 * DAY)
    assert period_bounds("minute", JAN_1 + 61.5) == (JAN_1 + 60, JAN_1 + 120)


def test_predict_exhaustion_at_the_current_pace(clock: FakeClock) -> None:
    """100 of 1000 used in the first hour of the day: the rest lasts 9 more hours at that pace."""
    quota = QuotaManager(limits={"requests": {"day": 1000}}, clock=clock)
    assert quota.predict_exhaustion() is None  # no pace yet
    clock.advance(3600)
    quota.commit(quota.reserve(requests=100))
    assert quota.predict_exhaustion() == pytest.approx(9 * 3600)
    status = quota.status()[0]
    assert (status.used, status.remaining, status.resets_in) == (100.0, 900.0, 23 * 3600)


def test_no_exhaustion_predicted_when_the_reset_comes_first(clock: FakeClock) -> None:
    """At a pace that lasts past midnight, nothing runs out: None."""
    quota = QuotaManager(limits={"requests": {"day": 1000}}, clock=clock)
    clock.advance(12 * 3600)
    quota.commit(quota.reserve(requests=10))
    assert quota.predict_exhaustion() is None


def test_save_and_load_survive_a_restart(tmp_path: Path) -> None:
    """A new process (new clock, same day) restores the day's usage from the saved file."""
    path = tmp_path / "quota.json"
    first_clock = FakeClock(start=123.0)
    first_clock.advance(3600)
    quota = QuotaManager(limits={"requests": {"day": 10}, "tokens": {"minute": 500}}, clock=first_clock)
    quota.commit(quota.reserve(requests=3, tokens=200))
    quota.reserve(requests=2)  # in flight at the "crash": counted as used
    quota.save(path)

    # the restarted process: its monotonic clock starts over, the calendar continued
    later = FakeClock(start=0.0, wall_start=first_clock.wall() + 120)
    again = QuotaManager(limits={"requests": {"day": 10}, "tokens": {"minute": 500}}, clock=later)
    assert again.load(path) is True
    assert again.usage() == {"requests": {"day": 5.0}, "tokens": {"minute": 0.0}}  # the minute rolled over


def test_saved_file_holds_wall_clock_boundaries_only(clock: FakeClock, tmp_path: Path) -> None:
    """The file stores each period's UTC start (a calendar boundary), never a monotonic reading."""
    path = tmp_path / "q.json"
    clock.advance(5000)
    quota = QuotaManager(limits={"requests": {"day": 10, "hour": 5}}, clock=clock)
    quota.save(path)
    saved = json.loads(path.read_text())
    starts = {b["period"]: b["period_start"] for b in saved["budgets"]}
    assert starts == {"day": JAN_1, "hour": JAN_1 + 3600}
    assert saved["saved_at"] == JAN_1 + 5000
    assert [p.name for p in tmp_path.iterdir()] == ["q.json"]  # no temp file left behind


def test_yesterdays_usage_is_not_restored(tmp_path: Path) -> None:
    """A file saved on another day restores nothing for a daily budget."""
    path = tmp_path / "q.json"
    clock = FakeClock()
    quota = QuotaManager(limits={"requests": {"day": 10, "month": 100}}, clock=clock)
    quota.commit(quota.reserve(requests=4))
    quota.save(path)
    tomorrow = FakeClock(wall_start=JAN_1 + DAY + 60)
    again = QuotaManager(limits={"requests": {"day": 10, "month": 100}}, clock=tomorrow)
    again.load(path)
    assert again.usage() == {"requests": {"day": 0.0, "month": 4.0}}


def test_load_missing_and_corrupt_files(clock: FakeClock, tmp_path: Path) -> None:
    """A missing file loads nothing (False); a corrupt one raises rather than forgetting usage."""
    quota = QuotaManager(limits={"requests": {"day": 10}}, clock=clock)
    assert quota.load(tmp_path / "absent.json") is False
    bad = tmp_path / "bad.json"
    for text in ("{not json", json.dumps({"version": 99}), json.dumps({"version": 1, "budgets": [{"x": 1}]})):
        bad.write_text(text)
        with pytest.raises(ValueError, match="not a day6 quota file"):
            quota.load(bad)


def test_concurrent_reservations_never_overspend(clock: FakeClock) -> None:
    """Threads racing for the last units: exactly `limit` reservations succeed."""
    quota = QuotaManager(limits={"requests": {"day": 50}}, clock=clock)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            try:
                quota.reserve()
            except QuotaExceededError:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(granted) == 50


def test_headroom_and_events(clock: FakeClock) -> None:
    """`headroom()` shows the tightest budget; each reserve emits a decision event."""
    events: list[Any] = []
    quota = QuotaManager(
        limits={"requests": {"day": 100}, "tokens": {"day": 1000}}, clock=clock, hooks=[events.append]
    )
    quota.commit(quota.reserve(requests=1, tokens=900))
    with pytest.raises(QuotaExceededError):
        quota.reserve(tokens=200)
    view = quota.headroom()
    assert (view.name, view.available, view.limit) == ("quota:tokens/day", 100.0, 1000.0)
    assert [(e.topic, e.allowed) for e in events] == [("limiter.decision", True), ("limiter.decision", False)]


@pytest.mark.parametrize(
    "limits",
    [
        {},
        {"pennies": {"day": 1}},
        {"requests": {"fortnight": 1}},
        {"requests": {}},
        {"requests": {"day": 0}},
        {"requests": {"day": -5}},
        {"requests": {"day": math.nan}},
        {"requests": {"day": math.inf}},
        {"requests": {"day": True}},
    ],
)
def test_bad_limits_raise_config_error(limits: Any) -> None:
    """Unknown resources or periods and non-positive or non-finite budgets are ConfigErrors."""
    with pytest.raises(ConfigError):
        QuotaManager(limits=limits)


@pytest.mark.parametrize(
    "amounts",
    [
        {"requests": -1},
        {"requests": 1.5},
        {"tokens": -3},
        {"cost": math.nan},
        {"cost": -0.01},
        {"tokens": True},
    ],
)
def test_bad_amounts_raise_config_error(clock: FakeClock, amounts: dict[str, Any]) -> None:
    """Negative, fractional (for counts) or NaN amounts are ConfigErrors."""
    quota = QuotaManager(limits={"requests": {"day": 10}}, clock=clock)
    with pytest.raises(ConfigError):
        quota.reserve(**amounts)


def test_amount_larger_than_the_budget_is_a_config_error(clock: FakeClock) -> None:
    """Asking for more than a whole budget could never succeed: ConfigError, not a wait."""
    quota = QuotaManager(limits={"tokens": {"minute": 100}}, clock=clock)
    with pytest.raises(ConfigError):
        quota.reserve(tokens=101)
