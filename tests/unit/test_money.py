from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.money import apply_bp, charge, round_half_up_div

pence = st.integers(min_value=0, max_value=10**9)
days = st.integers(min_value=0, max_value=3660)


@pytest.mark.parametrize(
    ("n", "d", "expected"),
    [(0, 7, 0), (1, 2, 1), (3, 2, 2), (5, 2, 3), (1, 3, 0), (2, 3, 1), (7, 7, 1), (14, 4, 4)],
)
def test_round_half_up_div(n, d, expected):
    assert round_half_up_div(n, d) == expected


def test_halves_round_up_not_to_even():
    assert round_half_up_div(5, 2) == 3  # banker's rounding would give 2
    assert round_half_up_div(25, 10) == 3


@pytest.mark.parametrize(("n", "d"), [(-1, 2), (1, 0), (1, -2)])
def test_round_half_up_div_refuses_negatives_and_zero(n, d):
    with pytest.raises(ValueError):
        round_half_up_div(n, d)


def test_no_floats():
    with pytest.raises(TypeError):
        round_half_up_div(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        charge(100.0, 1)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(pence, st.integers(min_value=1, max_value=10**6))
def test_round_half_up_div_is_exact(n, d):
    assert round_half_up_div(n, d) == floor(Fraction(n, d) + Fraction(1, 2))


def test_apply_bp():
    assert apply_bp(500_000, 500) == 525_000
    assert apply_bp(525_000, 1500) == 603_750
    assert apply_bp(603_750, 1000) == 664_125
    assert apply_bp(10, 500) == 11  # 10.5 rounds up
    assert apply_bp(1, 500) == 1  # 1.05 rounds down
    assert apply_bp(123_457, 0) == 123_457


@pytest.mark.parametrize(("amount", "bp"), [(-1, 500), (100, -1)])
def test_apply_bp_refuses_negatives(amount, bp):
    with pytest.raises(ValueError):
        apply_bp(amount, bp)


@settings(max_examples=200)
@given(pence, st.integers(min_value=0, max_value=100_000))
def test_apply_bp_is_half_up_of_the_exact_value(amount, bp):
    exact = Fraction(amount * (10_000 + bp), 10_000)
    result = apply_bp(amount, bp)
    assert isinstance(result, int)
    assert result == floor(exact + Fraction(1, 2))
    assert result >= amount


def test_charge():
    assert charge(700_000, 7) == 700_000
    assert charge(700_000, 1) == 100_000
    assert charge(100_001, 3) == 42_858  # 42857.57
    assert charge(100, 1) == 14  # 14.29
    assert charge(525_000, 0) == 0


def test_charge_is_per_line_not_a_sum_of_rounded_days():
    assert charge(10, 7) == 10
    assert sum(charge(10, 1) for _ in range(7)) == 7


@pytest.mark.parametrize(("rate", "d"), [(-1, 1), (1, -1)])
def test_charge_refuses_negatives(rate, d):
    with pytest.raises(ValueError):
        charge(rate, d)


@settings(max_examples=300)
@given(pence, days)
def test_charge_is_within_half_a_penny_of_exact(rate, d):
    result = charge(rate, d)
    assert isinstance(result, int)
    assert abs(7 * result - rate * d) <= 3  # |result - W·d/7| < 1/2 (7 is odd: no exact halves)


@settings(max_examples=200)
@given(pence, st.integers(min_value=0, max_value=500))
def test_whole_weeks_charge_the_weekly_rate(rate, weeks):
    assert charge(rate, 7 * weeks) == rate * weeks


@settings(max_examples=200)
@given(pence, days, days)
def test_charge_is_monotone_and_nearly_additive(rate, a, b):
    assert charge(rate, min(a, b)) <= charge(rate, max(a, b))
    assert abs(charge(rate, a) + charge(rate, b) - charge(rate, a + b)) <= 1
