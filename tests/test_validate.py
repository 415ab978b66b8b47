"""day6._validate: the shared settings checks (finite, positive, non_negative, int_at_least, is_real)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from day6._validate import finite, int_at_least, is_real, non_negative, positive
from day6.errors import ConfigError

NOT_NUMBERS: list[object] = [True, False, None, "1", b"1", [1], 1j, Fraction(1, 2)]
NON_FINITE: list[object] = [math.nan, math.inf, -math.inf]


def test_is_real_accepts_finite_ints_and_floats() -> None:
    """is_real is True for finite ints and floats of any sign, including zero."""
    for value in (0, 1, -3, 0.0, -0.0, 2.5, -1e300, 5e-324):
        assert is_real(value), value


@pytest.mark.parametrize("value", NOT_NUMBERS + NON_FINITE)
def test_is_real_refuses_bools_non_numbers_nan_and_inf(value: object) -> None:
    """is_real is False for bools, non-numbers (str, None, complex, Fraction), NaN and +-inf."""
    assert not is_real(value)


def test_finite_returns_a_float_of_any_sign() -> None:
    """finite returns the value as a float, negative and zero included."""
    assert finite("x", -2) == -2.0
    assert type(finite("x", -2)) is float
    assert finite("x", 0) == 0.0
    assert finite("x", 1.5) == 1.5


@pytest.mark.parametrize("value", NOT_NUMBERS + NON_FINITE)
def test_finite_refuses_bools_non_numbers_nan_and_inf(value: object) -> None:
    """finite raises ConfigError for bools, non-numbers, NaN and +-inf."""
    with pytest.raises(ConfigError):
        finite("x", value)


def test_positive_accepts_above_zero_and_returns_float() -> None:
    """positive accepts 1, 0.5 and the smallest subnormal, returning floats."""
    assert positive("x", 1) == 1.0
    assert type(positive("x", 1)) is float
    assert positive("x", 0.5) == 0.5
    assert positive("x", 5e-324) == 5e-324


@pytest.mark.parametrize("value", [0, 0.0, -0.0, -1, -1e-9, *NOT_NUMBERS, *NON_FINITE])
def test_positive_refuses_zero_negatives_bools_nan_inf(value: object) -> None:
    """positive refuses zero, negatives, bools (True is not 1 second), non-numbers, NaN and inf."""
    with pytest.raises(ConfigError):
        positive("x", value)


def test_positive_maximum_is_inclusive() -> None:
    """positive(maximum=m) accepts m itself and refuses anything above it."""
    assert positive("x", 10, maximum=10) == 10.0
    with pytest.raises(ConfigError):
        positive("x", 10.000001, maximum=10)


def test_non_negative_accepts_zero() -> None:
    """non_negative accepts 0 and -0.0 (and positives), returning floats."""
    assert non_negative("x", 0) == 0.0
    assert type(non_negative("x", 0)) is float
    assert non_negative("x", -0.0) == 0.0
    assert non_negative("x", 3) == 3.0


@pytest.mark.parametrize("value", [-1, -1e-9, *NOT_NUMBERS, *NON_FINITE])
def test_non_negative_refuses_negatives_bools_nan_inf(value: object) -> None:
    """non_negative refuses negatives, bools, non-numbers, NaN and +-inf."""
    with pytest.raises(ConfigError):
        non_negative("x", value)


def test_int_at_least_returns_the_int_unchanged() -> None:
    """int_at_least returns ints at or above the minimum as they are (still ints)."""
    assert int_at_least("n", 1, 1) == 1
    assert type(int_at_least("n", 1, 1)) is int
    assert int_at_least("n", 0, 0) == 0
    assert int_at_least("n", -3, -5) == -3


@pytest.mark.parametrize("value", [0, -1, 3.0, 1.5, True, False, None, "2", math.nan, math.inf])
def test_int_at_least_refuses_below_minimum_floats_and_bools(value: object) -> None:
    """int_at_least(minimum=1) refuses 0, negatives, floats (even 3.0), bools and non-numbers."""
    with pytest.raises(ConfigError):
        int_at_least("n", value, 1)


@pytest.mark.parametrize(
    ("call", "allowed"),
    [
        (lambda: finite("threshold", math.nan), "a finite number"),
        (lambda: positive("window", 0), "a finite number > 0"),
        (lambda: non_negative("window", -1), "a finite number >= 0"),
        (lambda: int_at_least("limit", 0, 1), "an integer >= 1"),
        (lambda: int_at_least("limit", 2, 3), "an integer >= 3"),
    ],
)
def test_default_allowed_texts(call: Callable[[], object], allowed: str) -> None:
    """Each helper has a default `allowed` text that states the rule (and the minimum for ints)."""
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.allowed == allowed


def test_error_names_setting_value_and_allowed() -> None:
    """The ConfigError carries setting, the original value and the caller's `allowed` text, in the message."""
    with pytest.raises(ConfigError) as info:
        positive("recovery_timeout", True, allowed="a finite number of seconds > 0")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.setting == "recovery_timeout"
    assert err.value is True
    assert err.allowed == "a finite number of seconds > 0"
    assert str(err) == "recovery_timeout=True is invalid: a finite number of seconds > 0"


@pytest.mark.parametrize(
    "call",
    [
        lambda: finite("s", "x", allowed="custom text"),
        lambda: positive("s", -1, allowed="custom text"),
        lambda: non_negative("s", math.inf, allowed="custom text"),
        lambda: int_at_least("s", 0, 1, allowed="custom text"),
    ],
)
def test_allowed_overrides_the_default(call: Callable[[], object]) -> None:
    """Every helper puts a caller-supplied `allowed` text verbatim after 'is invalid: '."""
    with pytest.raises(ConfigError, match=re.escape("s=") + r".* is invalid: custom text$"):
        call()


def test_nan_value_is_shown_in_the_message() -> None:
    """A NaN setting is echoed as nan, so the reader sees what arrived."""
    with pytest.raises(ConfigError, match=r"^delay=nan is invalid: a finite number > 0$"):
        positive("delay", math.nan)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6))
def test_helpers_agree_with_their_definitions(value: float) -> None:
    """For any int or float: positive/non_negative/finite accept exactly finite x > 0 / >= 0 / any."""
    ok = math.isfinite(value)
    for helper, rule in ((finite, ok), (positive, ok and value > 0), (non_negative, ok and value >= 0)):
        if rule:
            assert helper("x", value) == float(value)
        else:
            with pytest.raises(ConfigError):
                helper("x", value)
