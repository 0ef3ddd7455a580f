from datetime import date, timedelta
from itertools import pairwise

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.charges import (
    Booking,
    ChargeLine,
    Terms,
    charged_days,
    lines_through,
    month_start,
    next_month,
    parse_period,
    period_of,
)
from coop.policy.money import charge

TERMS = Terms()
FAR = date(2100, 1, 1)
RATE = 700_000  # £7,000 a week: £1,000 a day, so amounts are easy to read


def booking(**kw) -> Booking:
    values = {
        "id": "b1",
        "requester": "leeds",
        "owner": "york",
        "status": "active",
        "start_date": date(2026, 1, 25),
        "end_date": date(2026, 3, 5),
        "weekly_rate_pence": RATE,
    }
    values.update(kw)
    return Booking(**values)


def spans(lines: list[ChargeLine]) -> list[tuple[str, date, date, int]]:
    return [(line.kind, line.start, line.end, line.days) for line in lines]


# --- months and periods ---


def test_month_helpers():
    assert month_start(date(2026, 11, 17)) == date(2026, 11, 1)
    assert next_month(date(2026, 11, 17)) == date(2026, 12, 1)
    assert next_month(date(2026, 12, 31)) == date(2027, 1, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert period_of(date(2026, 11, 1)) == "2026-11"
    assert period_of(date(1999, 2, 1)) == "1999-02"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11", date(2026, 11, 1)), ("2026-01", date(2026, 1, 1)), ("1900-12", date(1900, 12, 1))],
)
def test_parse_period(text, expected):
    assert parse_period(text) == expected
    assert period_of(parse_period(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-11",
        "2026/11",
        "2026-11-01",
        " 2026-11",
        "2026-11\n",
        "1899-12",
        "2101-01",
        "２０２６-11",  # full-width digits
        "",
        "November 2026",
    ],
)
def test_parse_period_refuses(text):
    with pytest.raises(ValueError):
        parse_period(text)


def test_parse_period_refuses_non_strings():
    with pytest.raises(ValueError):
        parse_period(202611)  # type: ignore[arg-type]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_period_round_trip(d):
    assert parse_period(period_of(d)) == month_start(d)
    assert month_start(next_month(d)) == next_month(d) > d


# --- examples ---


def test_split_at_month_boundaries():
    lines = lines_through(booking(), TERMS, FAR)
    assert spans(lines) == [
        ("occupancy", date(2026, 1, 25), date(2026, 2, 1), 7),
        ("occupancy", date(2026, 2, 1), date(2026, 3, 1), 28),
        ("occupancy", date(2026, 3, 1), date(2026, 3, 5), 4),
    ]
    assert [line.amount_pence for line in lines] == [700_000, 2_800_000, 400_000]
    assert [line.month for line in lines] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert all(line.booking_id == "b1" and line.weekly_rate_pence == RATE for line in lines)


def test_leap_february():
    b = booking(start_date=date(2028, 1, 20), end_date=date(2028, 4, 1))
    assert [line.days for line in lines_through(b, TERMS, FAR)] == [12, 29, 31]


def test_actual_start_overrides_the_planned_start():
    b = booking(actual_start_date=date(2026, 2, 10))
    assert spans(lines_through(b, TERMS, FAR)) == [
        ("occupancy", date(2026, 2, 10), date(2026, 3, 1), 19),
        ("occupancy", date(2026, 3, 1), date(2026, 3, 5), 4),
    ]


def test_confirmed_but_not_arrived_is_charged_from_the_planned_start():
    b = booking(status="confirmed", actual_start_date=None)
    assert charged_days(b, TERMS) == [("occupancy", date(2026, 1, 25), date(2026, 3, 5))]
    assert sum(line.days for line in lines_through(b, TERMS, FAR)) == 39


def test_ended_on_the_day_it_started_has_no_occupancy():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 5),
        end_date=date(2026, 6, 1),
        actual_start_date=date(2026, 1, 5),
        actual_end_date=date(2026, 1, 5),
    )
    lines = lines_through(b, TERMS, FAR)
    assert not [line for line in lines if line.kind == "occupancy"]
    assert spans(lines) == [
        ("notice", date(2026, 1, 5), date(2026, 2, 1), 27),
        ("notice", date(2026, 2, 1), date(2026, 2, 2), 1),
    ]


def test_ended_on_the_planned_end_owes_no_notice():
    b = booking(status="ended", actual_end_date=date(2026, 3, 5))
    assert charged_days(b, TERMS) == [("occupancy", date(2026, 1, 25), date(2026, 3, 5))]


def test_ended_without_an_actual_end_is_taken_as_ended_on_plan():
    b = booking(status="ended", actual_end_date=None)
    assert charged_days(b, TERMS) == [("occupancy", date(2026, 1, 25), date(2026, 3, 5))]


def test_early_end_notice_splits_across_two_months():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 1),
        actual_end_date=date(2026, 3, 20),
    )
    lines = lines_through(b, TERMS, FAR)
    notice = [line for line in lines if line.kind == "notice"]
    assert spans(notice) == [
        ("notice", date(2026, 3, 20), date(2026, 4, 1), 12),
        ("notice", date(2026, 4, 1), date(2026, 4, 17), 16),
    ]
    assert [line.amount_pence for line in notice] == [1_200_000, 1_600_000]
    # sorted by (start, kind): March occupancy, then the March notice, then April
    assert [(line.kind, line.month.month) for line in lines] == [
        ("occupancy", 1),
        ("occupancy", 2),
        ("occupancy", 3),
        ("notice", 3),
        ("notice", 4),
    ]


def test_notice_given_before_the_end_counts_from_the_notice_date():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 1),
        actual_end_date=date(2026, 3, 20),
        notice_date=date(2026, 3, 1),
    )
    assert charged_days(b, TERMS)[-1] == ("notice", date(2026, 3, 20), date(2026, 3, 29))


def test_notice_given_long_before_the_end_owes_nothing():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 1),
        actual_end_date=date(2026, 3, 20),
        notice_date=date(2026, 2, 1),
    )
    assert [kind for kind, _, _ in charged_days(b, TERMS)] == ["occupancy"]


def test_notice_never_runs_past_the_planned_end():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 3, 30),
        actual_end_date=date(2026, 3, 20),
    )
    assert charged_days(b, TERMS)[-1] == ("notice", date(2026, 3, 20), date(2026, 3, 30))


def test_notice_terms_come_from_the_booking_policy():
    b = booking(
        status="ended",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 1),
        actual_end_date=date(2026, 3, 20),
    )
    assert charged_days(b, Terms(early_end_notice_days=14))[-1] == (
        "notice",
        date(2026, 3, 20),
        date(2026, 4, 3),
    )
    assert [kind for kind, _, _ in charged_days(b, Terms(early_end_notice_days=0))] == ["occupancy"]


def cancelled(on: date | None, **kw) -> Booking:
    values = {
        "status": "cancelled",
        "start_date": date(2026, 6, 15),
        "end_date": date(2026, 9, 1),
        "cancelled_on": on,
    }
    values.update(kw)
    return booking(**values)


def test_cancelled_six_days_before_start_is_charged_seven_days():
    lines = lines_through(cancelled(date(2026, 6, 9)), TERMS, FAR)
    assert spans(lines) == [("cancellation", date(2026, 6, 15), date(2026, 6, 22), 7)]
    assert lines[0].amount_pence == RATE


def test_cancelled_exactly_seven_days_before_start_is_free():
    assert lines_through(cancelled(date(2026, 6, 8)), TERMS, FAR) == []
    assert lines_through(cancelled(date(2026, 1, 1)), TERMS, FAR) == []


@pytest.mark.parametrize("on", [date(2026, 6, 15), None])
def test_cancelled_on_the_start_day_without_arrival_is_charged_the_notice(on):
    assert charged_days(cancelled(on), TERMS) == [
        ("cancellation", date(2026, 6, 15), date(2026, 6, 22))
    ]


@pytest.mark.parametrize(
    ("on", "notice_end"),
    [(date(2026, 6, 16), date(2026, 6, 23)), (date(2026, 7, 30), date(2026, 8, 6))],
)
def test_cancelled_after_the_start_owes_the_held_days_then_the_notice(on, notice_end):
    """The bed was held from the planned start until the cancellation (as it was while the
    booking was confirmed, and invoiced so): cancelling never refunds those days."""
    assert charged_days(cancelled(on), TERMS) == [
        ("occupancy", date(2026, 6, 15), on),
        ("cancellation", on, notice_end),
    ]


def test_a_late_cancellation_never_takes_back_days_already_charged():
    confirmed = booking(status="confirmed", start_date=date(2026, 6, 15), end_date=date(2026, 9, 1))
    held = lines_through(confirmed, TERMS, date(2026, 7, 1))
    later = lines_through(cancelled(date(2026, 7, 30)), TERMS, date(2026, 8, 1))
    june = [x for x in later if x.month == date(2026, 6, 1)]
    assert june == held


def test_cancellation_never_runs_past_the_planned_end():
    b = cancelled(date(2026, 6, 14), end_date=date(2026, 6, 18))
    assert charged_days(b, TERMS) == [("cancellation", date(2026, 6, 15), date(2026, 6, 18))]


def test_cancellation_splits_at_a_month_boundary():
    b = cancelled(date(2026, 6, 27), start_date=date(2026, 6, 28))
    assert spans(lines_through(b, TERMS, FAR)) == [
        ("cancellation", date(2026, 6, 28), date(2026, 7, 1), 3),
        ("cancellation", date(2026, 7, 1), date(2026, 7, 5), 4),
    ]


def test_no_cancellation_notice_means_no_cancellation_charge():
    assert charged_days(cancelled(None), Terms(cancellation_notice_days=0)) == []
    # cancelled after the start: the held days only
    assert charged_days(cancelled(date(2026, 6, 20)), Terms(cancellation_notice_days=0)) == [
        ("occupancy", date(2026, 6, 15), date(2026, 6, 20))
    ]


def test_cancellation_notice_is_the_policy_s():
    b = cancelled(date(2026, 6, 1))  # 14 days before
    assert charged_days(b, TERMS) == []
    assert charged_days(b, Terms(cancellation_notice_days=15)) == [
        ("cancellation", date(2026, 6, 15), date(2026, 6, 30))
    ]


@pytest.mark.parametrize("status", ["confirmed", "active", "ended", "cancelled"])
def test_an_owner_s_own_placement_is_never_charged(status):
    b = booking(status=status, requester="york", owner="york", actual_end_date=date(2026, 2, 1))
    assert charged_days(b, TERMS) == []
    assert lines_through(b, TERMS, FAR) == []


@pytest.mark.parametrize("status", ["confirmed", "active", "ended", "cancelled"])
def test_no_rate_no_charge(status):
    b = booking(status=status, weekly_rate_pence=None, actual_end_date=date(2026, 2, 1))
    assert lines_through(b, TERMS, FAR) == []


@pytest.mark.parametrize("status", ["pending", "offered", "declined", "withdrawn", "expired"])
def test_statuses_that_carry_no_charge(status):
    assert lines_through(booking(status=status), TERMS, FAR) == []


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        charged_days(booking(status="activ"), TERMS)


def test_until_clips_the_lines():
    b = booking()
    assert spans(lines_through(b, TERMS, date(2026, 2, 1))) == [
        ("occupancy", date(2026, 1, 25), date(2026, 2, 1), 7)
    ]
    assert spans(lines_through(b, TERMS, date(2026, 2, 10))) == [
        ("occupancy", date(2026, 1, 25), date(2026, 2, 1), 7),
        ("occupancy", date(2026, 2, 1), date(2026, 2, 10), 9),
    ]
    assert lines_through(b, TERMS, date(2026, 1, 25)) == []
    assert lines_through(b, TERMS, date(2025, 12, 1)) == []


def test_a_long_stay_is_priced_per_line():
    rate = 664_125  # member × associate × emergency from the pricing example
    b = booking(start_date=date(2026, 1, 1), end_date=date(2027, 1, 1))
    lines = lines_through(b, TERMS, FAR)
    assert len(lines) == 12
    assert [line.days for line in lines][:3] == [31, 28, 31]
    b = booking(start_date=date(2026, 1, 1), end_date=date(2027, 1, 1), weekly_rate_pence=rate)
    lines = lines_through(b, TERMS, FAR)
    for line in lines:
        assert line.amount_pence == charge(rate, line.days)
    assert lines[0].amount_pence == 2_941_125  # 664125 × 31 / 7 = 2941125 exactly
    assert lines[1].amount_pence == 2_656_500  # 664125 × 4
    assert sum(line.days for line in lines) == 365


def test_a_line_serialises_as_plain_values():
    (line,) = lines_through(booking(), TERMS, date(2026, 2, 1))
    assert msgspec.json.decode(msgspec.json.encode(line)) == {
        "booking_id": "b1",
        "kind": "occupancy",
        "start": "2026-01-25",
        "end": "2026-02-01",
        "days": 7,
        "weekly_rate_pence": RATE,
        "amount_pence": 700_000,
    }


# --- properties ---

DAY0 = date(2027, 1, 1)
day = st.integers(min_value=0, max_value=800).map(lambda n: DAY0 + timedelta(days=n))
maybe_day = st.none() | day


@st.composite
def bookings(draw) -> Booking:
    start = draw(day)
    length = draw(st.integers(min_value=1, max_value=400))
    end = start + timedelta(days=length)
    status = draw(st.sampled_from(["confirmed", "active", "ended", "cancelled", "pending"]))
    late = st.integers(0, min(10, length - 1)).map(lambda n: start + timedelta(days=n))
    actual_start = draw(st.none() | late)
    actual_end = None
    if status == "ended":
        first = actual_start or start
        actual_end = first + timedelta(days=draw(st.integers(0, (end - first).days)))
    return Booking(
        id=draw(st.sampled_from(["b1", "b2"])),
        requester="leeds",
        owner=draw(st.sampled_from(["york", "york", "york", "leeds"])),
        status=status,
        start_date=start,
        end_date=end,
        actual_start_date=actual_start if status in ("active", "ended") else None,
        actual_end_date=actual_end,
        notice_date=draw(maybe_day) if status == "ended" else None,
        cancelled_on=draw(maybe_day) if status == "cancelled" else None,
        weekly_rate_pence=draw(st.none() | st.integers(min_value=0, max_value=2_000_000)),
    )


terms = st.builds(
    Terms,
    cancellation_notice_days=st.integers(min_value=0, max_value=60),
    early_end_notice_days=st.integers(min_value=0, max_value=120),
)
untils = st.integers(min_value=-30, max_value=1300).map(lambda n: DAY0 + timedelta(days=n))
PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(bookings(), terms, untils)
def test_every_line_is_one_priced_piece_of_one_month(b, t, until):
    for line in lines_through(b, t, until):
        assert line.start < line.end <= until
        assert line.days == (line.end - line.start).days
        assert month_start(line.start) == month_start(line.end - timedelta(days=1)) == line.month
        assert line.amount_pence == charge(line.weekly_rate_pence, line.days)
        assert line.weekly_rate_pence == b.weekly_rate_pence
        assert line.booking_id == b.id


@PROPERTY
@given(bookings(), terms, untils)
def test_lines_of_one_kind_never_overlap_and_are_sorted(b, t, until):
    lines = lines_through(b, t, until)
    assert lines == sorted(lines, key=lambda line: (line.start, line.kind))
    assert len({(line.kind, line.month) for line in lines}) == len(lines)
    for kind in ("occupancy", "notice", "cancellation"):
        of_kind = [line for line in lines if line.kind == kind]
        for before, after in pairwise(of_kind):
            assert before.end <= after.start
    # and no day is charged twice, whatever the kind
    for before, after in pairwise(lines):
        assert before.end <= after.start


@PROPERTY
@given(bookings(), terms, untils)
def test_month_lines_add_up_to_the_whole_span(b, t, until):
    lines = lines_through(b, t, until)
    for kind, start, end in charged_days(b, t):
        of_kind = [line for line in lines if line.kind == kind]
        days = max(0, (min(end, until) - start).days)
        assert sum(line.days for line in of_kind) == days
        if of_kind:
            assert of_kind[0].start == start and of_kind[-1].end == min(end, until)
            whole = charge(b.weekly_rate_pence, days)
            diff = abs(sum(line.amount_pence for line in of_kind) - whole)
            assert diff <= len(of_kind)
            assert 2 * diff <= len(of_kind)  # each line is within half a penny of exact


@PROPERTY
@given(bookings(), terms, untils, untils)
def test_later_runs_never_change_earlier_months(b, t, u1, u2):
    until1, until2 = sorted((u1, u2))
    early = lines_through(b, t, until1)
    late = lines_through(b, t, until2)
    boundary = month_start(until1)
    assert [line for line in early if line.month < boundary] == [
        line for line in late if line.month < boundary
    ]
    # a line ending on or before until1 that was not clipped is in both
    assert {line for line in early if line.end < until1} <= set(late)


@PROPERTY
@given(bookings(), terms, st.integers(min_value=0, max_value=30))
def test_monthly_runs_post_each_day_exactly_once(b, t, months):
    month = month_start(DAY0 - timedelta(days=1))
    posted: list[ChargeLine] = []
    for _ in range(months):
        until = next_month(month)
        posted += [line for line in lines_through(b, t, until) if line.month == month]
        month = until
    assert posted == lines_through(b, t, month)


@PROPERTY
@given(bookings(), terms)
def test_nothing_is_charged_to_the_owner_or_without_a_rate(b, t):
    if b.requester == b.owner or b.weekly_rate_pence is None or b.status == "pending":
        assert charged_days(b, t) == []
    for _, start, end in charged_days(b, t):
        assert start < end
        assert b.start_date <= start and end <= b.end_date
