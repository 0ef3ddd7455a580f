"""The board's pure helpers: money for people, dates, axis ticks, region names."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from coop.board.charts import whole_ticks
from coop.board.figures import Dates, add_months, pounds, region_name, whole_pounds

PENCE = st.integers(min_value=-(10**13), max_value=10**13)


@given(PENCE)
def test_pounds_read_back_to_the_same_pence(pence: int) -> None:
    text = pounds(pence)
    sign = -1 if text.startswith("−") else 1
    assert sign * int(text.lstrip("−£").replace(",", "").replace(".", "")) == pence


@given(PENCE)
def test_whole_pounds_round_half_up_away_from_zero(pence: int) -> None:
    text = whole_pounds(pence)
    shown = int(text.lstrip("−£").replace(",", "")) * (-1 if text.startswith("−") else 1)
    assert abs(shown * 100 - pence) <= 50
    if abs(pence) % 100 == 50:
        assert abs(shown * 100) > abs(pence)


def test_money_examples() -> None:
    assert pounds(-123456) == "−£1,234.56"
    assert pounds(5) == "£0.05"
    assert pounds(None) == "—"
    assert whole_pounds(1_069_461_243) == "£10,694,612"
    assert whole_pounds(150) == "£2" and whole_pounds(-150) == "−£2"
    assert whole_pounds(149) == "£1"


@given(st.integers(min_value=0, max_value=10**7))
def test_whole_ticks_cover_the_top_in_at_most_nine_whole_steps(top: int) -> None:
    ticks = whole_ticks(top)
    assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 10
    steps = {b - a for a, b in pairwise(ticks)}
    assert len(steps) == 1 and str(steps.pop()).lstrip("0")[0] in "125"


def test_default_dates_are_the_twelve_whole_months_before_this_one() -> None:
    d = Dates.default(date(2026, 12, 1))
    assert (d.on, d.start, d.end) == (date(2026, 12, 1), date(2025, 12, 1), date(2026, 12, 1))
    assert d.label == "1 December 2025 to 30 November 2026"
    assert d.series == (date(2026, 1, 1), date(2026, 12, 2))
    d = Dates.default(date(2026, 3, 31))
    assert (d.start, d.end) == (date(2025, 3, 1), date(2026, 3, 1))
    assert add_months(date(2026, 1, 31), -1) == date(2025, 12, 1)


def test_region_names() -> None:
    assert region_name("east-of-england") == "East of England"
    assert region_name("london") == "London"
    assert region_name("yorkshire-and-the-humber") == "Yorkshire and the Humber"
