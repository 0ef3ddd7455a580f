from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT48H", timedelta(hours=48)),
        ("PT4H", timedelta(hours=4)),
        ("PT24H", timedelta(hours=24)),
        ("P2D", timedelta(days=2)),
        ("PT4H30M", timedelta(hours=4, minutes=30)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("PT90S", timedelta(seconds=90)),
        ("PT0S", timedelta(0)),
        ("P0D", timedelta(0)),
        ("P1DT1S", timedelta(days=1, seconds=1)),
    ],
)
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P1Y", "years or months"),
        ("P2M", "years or months"),
        ("P1Y2DT3H", "years or months"),
        ("-PT1H", "negative"),
        ("PT1.5H", "fraction"),
        ("PT1,5H", "fraction"),
        ("P", "empty"),
        ("PT", "empty"),
        ("P1DT", "no hours"),
        ("P1W2D", "mixes weeks"),
        ("", "not an ISO 8601 duration"),
        ("48h", "not an ISO 8601 duration"),
        ("pt48h", "not an ISO 8601 duration"),
        (" PT1H", "not an ISO 8601 duration"),
        ("PT1H ", "not an ISO 8601 duration"),
        ("PT1S1H", "not an ISO 8601 duration"),
        ("PT5", "not an ISO 8601 duration"),
        ("P1H", "not an ISO 8601 duration"),
        ("P٣D", "not an ISO 8601 duration"),
        ("P99999999999D", "too long"),
        ("PT" + "9" * 5000 + "S", "too long"),
    ],
)
def test_parse_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_minutes_after_t_are_minutes():
    assert parse_duration("PT1M") == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(days=2), "P2D"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (timedelta(hours=4, minutes=30), "PT4H30M"),
        (timedelta(hours=4), "PT4H"),
        (timedelta(seconds=5), "PT5S"),
        (timedelta(0), "PT0S"),
        (timedelta(weeks=1), "P7D"),
        (timedelta(days=3, seconds=1), "P3DT1S"),
    ],
)
def test_format(td, text):
    assert format_duration(td) == text


def test_whole_days_format_as_days():
    # timedelta(hours=48) == timedelta(days=2): one value, one canonical form.
    assert format_duration(timedelta(hours=48)) == "P2D"


@pytest.mark.parametrize("td", [timedelta(seconds=-1), timedelta(microseconds=1)])
def test_format_refuses(td):
    with pytest.raises(ValueError):
        format_duration(td)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**10))
def test_round_trip(seconds):
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td)) == td


@settings(max_examples=200)
@given(st.integers(0, 400), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_parse_then_format_is_canonical(d, h, m, s):
    text = f"P{d}DT{h}H{m}M{s}S"
    td = parse_duration(text)
    assert td == timedelta(days=d, hours=h, minutes=m, seconds=s)
    assert parse_duration(format_duration(td)) == td
