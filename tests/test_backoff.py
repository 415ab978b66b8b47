"""Backoff schedules: exponential with a cap, five jitter modes, each within its documented bounds."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.backoff import Backoff, Jitter
from day6.errors import ConfigError

# Settings that pass validation, over a wide range (sub-millisecond to an hour).
bases = st.floats(min_value=1e-6, max_value=100.0, allow_nan=False, allow_infinity=False)
multipliers = st.floats(min_value=1.0, max_value=10.0, allow_nan=False, allow_infinity=False)
cap_factors = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
ratios = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)
# Small attempt numbers (where the curve still grows) as well as huge ones (where it is capped).
attempt_numbers = st.one_of(st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=10**9))
DRAWS = 50  # delays checked per example, so rare extreme draws are exercised too
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def schedules(draw: st.DrawFn, jitter: Jitter | None = None) -> Backoff:
    base = draw(bases)
    return Backoff(
        base=base,
        multiplier=draw(multipliers),
        cap=base * draw(cap_factors),
        jitter=draw(st.sampled_from(Jitter)) if jitter is None else jitter,
        jitter_ratio=draw(ratios),
    )


def _sane(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x >= 0.0


# -- raw schedule ----------------------------------------------------------------------------------


def test_default_raw_schedule_is_the_lesson_curve() -> None:
    """Defaults give 0.1, 0.2, 0.4, 0.8 s ... and stop growing at the 10 s cap."""
    b = Backoff()
    assert [b.raw(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert b.raw(8) == 10.0  # 0.1 * 2**7 = 12.8 is clamped
    assert b.raw(10**9) == 10.0


def test_jitter_none_delays_equal_raw(rng: random.Random) -> None:
    """With jitter NONE the delays are exactly the raw curve, and no randomness is drawn."""
    b = Backoff(jitter=Jitter.NONE)
    state = rng.getstate()
    assert b.delays(3, rng) == [0.1, 0.2, 0.4]
    assert rng.getstate() == state


def test_multiplier_one_is_constant() -> None:
    """multiplier=1 is a constant delay of base seconds."""
    b = Backoff(base=0.5, multiplier=1.0, cap=0.5, jitter=Jitter.NONE)
    assert [b.raw(n) for n in (1, 2, 1000, 10**9)] == [0.5] * 4


@given(schedules(), attempt_numbers)
def test_raw_is_monotone_and_capped(b: Backoff, n: int) -> None:
    """raw(n) <= raw(n+1) <= cap, and raw(n) >= base, for every attempt up to 10**9."""
    a, c = b.raw(n), b.raw(n + 1)
    assert _sane(a)
    assert _sane(c)
    assert b.base <= a <= c <= b.cap


@given(schedules())
def test_raw_far_out_never_overflows(b: Backoff) -> None:
    """Attempt 10**9 returns the cap without overflow, whatever the multiplier (> 1)."""
    if b.multiplier > 1.0001:
        assert b.raw(10**9) == b.cap
    assert _sane(b.raw(10**9))


def test_tiny_base_with_huge_cap_does_not_overflow() -> None:
    """Even when cap/base exceeds the float range, raw() stays finite and monotone."""
    b = Backoff(base=1e-300, multiplier=2.0, cap=1e300, jitter=Jitter.NONE)
    values = [b.raw(n) for n in (1, 500, 1000, 1500, 1900, 1996, 2000, 10**9)]
    assert all(_sane(v) for v in values)
    assert values == sorted(values)
    assert values[-1] == 1e300


# -- jitter laws -----------------------------------------------------------------------------------


@given(schedules(Jitter.NONE), attempt_numbers, seeds)
def test_none_equals_raw(b: Backoff, n: int, seed: int) -> None:
    """NONE: delay == raw."""
    assert b.delay(n, random.Random(seed)) == b.raw(n)


@given(schedules(Jitter.PROPORTIONAL), attempt_numbers, seeds)
def test_proportional_bounds(b: Backoff, n: int, seed: int) -> None:
    """PROPORTIONAL: raw*(1-r) <= delay <= min(cap, raw*(1+r))."""
    d, r, rng = b.raw(n), b.jitter_ratio, random.Random(seed)
    for _ in range(DRAWS):
        x = b.delay(n, rng)
        assert _sane(x)
        assert d * (1 - r) <= x <= min(b.cap, d * (1 + r))


@given(schedules(Jitter.FULL), attempt_numbers, seeds)
def test_full_bounds(b: Backoff, n: int, seed: int) -> None:
    """FULL: 0 <= delay <= raw."""
    rng = random.Random(seed)
    for _ in range(DRAWS):
        x = b.delay(n, rng)
        assert _sane(x)
        assert 0.0 <= x <= b.raw(n)


@given(schedules(Jitter.EQUAL), attempt_numbers, seeds)
def test_equal_bounds(b: Backoff, n: int, seed: int) -> None:
    """EQUAL: raw/2 <= delay <= raw."""
    d, rng = b.raw(n), random.Random(seed)
    for _ in range(DRAWS):
        x = b.delay(n, rng)
        assert _sane(x)
        assert d / 2 <= x <= d


@given(
    schedules(Jitter.DECORRELATED),
    attempt_numbers,
    seeds,
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_decorrelated_bounds(b: Backoff, n: int, seed: int, previous: float | None) -> None:
    """DECORRELATED: base <= delay <= cap, for any previous value (even NaN, inf or negative)."""
    rng = random.Random(seed)
    for _ in range(DRAWS):
        x = b.delay(n, rng, previous)
        assert _sane(x)
        assert b.base <= x <= b.cap


@given(schedules(Jitter.DECORRELATED), seeds)
def test_decorrelated_sequence_grows_from_previous(b: Backoff, seed: int) -> None:
    """Each decorrelated delay is at most min(cap, 3 * previous) (AWS's formula)."""
    ds = b.delays(20, random.Random(seed))
    previous = b.base
    for x in ds:
        assert b.base <= x <= min(b.cap, 3 * previous) * (1 + 1e-12)
        previous = x


@settings(max_examples=50)
@given(schedules(), seeds, st.integers(min_value=0, max_value=30))
def test_seeded_schedules_repeat_exactly(b: Backoff, seed: int, n: int) -> None:
    """The same seed gives the same delays; every delay is finite, non-negative and <= cap."""
    first = b.delays(n, random.Random(seed))
    assert first == b.delays(n, random.Random(seed))
    assert len(first) == n
    assert all(_sane(x) and x <= b.cap for x in first)


class FixedDraw(random.Random):
    """A generator whose every draw is ``u``: pins jitter to the edges of its range."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


TOP = 1.0 - 2.0**-53  # the largest value random.random() can return


@pytest.mark.parametrize(
    ("jitter", "u", "expected"),
    [
        (Jitter.PROPORTIONAL, 0.0, 0.4 * 0.75),  # d * (1 - r)
        (Jitter.PROPORTIONAL, 0.5, 0.4),  # the middle of the range is d itself
        (Jitter.PROPORTIONAL, TOP, 0.4 * 1.25),  # d * (1 + r)
        (Jitter.FULL, 0.0, 0.0),
        (Jitter.FULL, TOP, 0.4),
        (Jitter.EQUAL, 0.0, 0.2),  # d / 2
        (Jitter.EQUAL, TOP, 0.4),
        (Jitter.DECORRELATED, 0.0, 0.1),  # base
        (Jitter.DECORRELATED, TOP, 0.9),  # 3 * previous (0.3 here)
    ],
)
def test_jitter_edges_are_exact(jitter: Jitter, u: float, expected: float) -> None:
    """At the smallest and largest draws each mode hits exactly the edge of its documented range."""
    b = Backoff(jitter=jitter)  # raw(3) == 0.4
    assert b.delay(3, FixedDraw(u), previous=0.3) == pytest.approx(expected, rel=1e-15, abs=0)


def test_proportional_is_clamped_at_the_cap() -> None:
    """At the cap PROPORTIONAL is one-sided: never above cap, never below cap*(1-r)."""
    b = Backoff(base=1.0, cap=4.0)  # raw(3) == 4 == cap
    r = random.Random(1)
    draws = [b.delay(10, r) for _ in range(500)]
    assert max(draws) <= 4.0
    assert min(draws) >= 3.0
    assert max(draws) == 4.0  # about half the draws land above the cap and are clamped


def test_jitter_spreads_delays(rng: random.Random) -> None:
    """Jitter actually varies: many FULL draws for one attempt are not all equal."""
    b = Backoff(jitter=Jitter.FULL)
    assert len({b.delay(3, rng) for _ in range(20)}) > 10


def test_zero_schedule() -> None:
    """Backoff.none() waits 0 s for every attempt and mode."""
    z = Backoff.none()
    assert z.delays(5, random.Random(0)) == [0.0] * 5
    assert z.raw(10**9) == 0.0


def test_jitter_accepts_strings_and_normalises() -> None:
    """jitter='full' becomes Jitter.FULL; ints become floats so equal schedules compare equal."""
    assert Backoff(jitter="FULL", base=1, cap=2).jitter is Jitter.FULL  # type: ignore[arg-type]
    assert Backoff(base=1, cap=2) == Backoff(base=1.0, cap=2.0)


# -- validation ------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ("base", {"base": 0.0}),
    ("base", {"base": -0.1}),
    ("base", {"base": math.nan}),
    ("base", {"base": math.inf}),
    ("base", {"base": "0.1"}),
    ("base", {"base": True}),
    ("multiplier", {"multiplier": 0.5}),
    ("multiplier", {"multiplier": math.nan}),
    ("multiplier", {"multiplier": math.inf}),
    ("cap", {"cap": 0.05}),
    ("cap", {"cap": math.inf}),
    ("cap", {"cap": -math.inf}),
    ("cap", {"cap": math.nan}),
    ("jitter", {"jitter": "gaussian"}),
    ("jitter", {"jitter": 3}),
    ("jitter_ratio", {"jitter_ratio": -0.01}),
    ("jitter_ratio", {"jitter_ratio": 1.5}),
    ("jitter_ratio", {"jitter_ratio": math.nan}),
]


@pytest.mark.parametrize(("setting", "kwargs"), BAD_SETTINGS)
def test_invalid_settings_name_the_setting(setting: str, kwargs: dict[str, object]) -> None:
    """Each invalid setting raises ConfigError whose message names that setting and its value."""
    with pytest.raises(ConfigError) as info:
        Backoff(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting
    assert str(info.value).startswith(f"{setting}=")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("attempt", [0, -1, 1.5, True, "2"])
def test_attempt_must_be_a_positive_int(attempt: object) -> None:
    """raw() and delay() reject attempt numbers below 1 and non-ints."""
    with pytest.raises(ConfigError, match="attempt="):
        Backoff().raw(attempt)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="attempt="):
        Backoff().delay(attempt, random.Random(0))  # type: ignore[arg-type]


def test_delays_rejects_negative_count() -> None:
    """delays(n) needs n >= 0."""
    with pytest.raises(ConfigError, match="n="):
        Backoff().delays(-1, random.Random(0))


def test_backoff_is_frozen() -> None:
    """A schedule is immutable, so one instance can be shared safely."""
    b = Backoff()
    with pytest.raises(AttributeError):
        b.base = 1.0  # type: ignore[misc]
