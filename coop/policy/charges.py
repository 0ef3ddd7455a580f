"""What a booking owes, as charge lines split by calendar month (SPEC §4 "Settlement").

A booking's charged days, by status:

- ``pending``, ``offered``, ``declined``, ``withdrawn``, ``expired``: nothing;
- ``confirmed``: occupancy from the planned start to the planned end (the bed is held);
- ``active``: occupancy from the actual start (or the planned start) to the planned end;
- ``ended``: occupancy from the actual start to the actual end, plus, when the child left
  before the planned end, *notice* from the actual end until
  ``min(end_date, notice_date + early_end_notice_days)`` (``notice_date`` defaults to the
  actual end);
- ``cancelled``: when the cancellation came with less than ``cancellation_notice_days`` days'
  notice before the planned start (none recorded counts as on the start), *cancellation* for
  that many days from the start, never past the planned end; otherwise nothing. A booking
  cancelled after its planned start (the child never arrived) also owes *occupancy* for the
  days the bed was held, from the start to the cancellation, and its cancellation days run
  from the day it was cancelled — so cancelling never refunds days already held.

An owner's own placement is never charged, nor a booking without a weekly rate. Every span is
``[start, end)``. :func:`lines_through` clips the spans to the days before ``until``, splits
them at month boundaries and prices each piece with :func:`coop.policy.money.charge` — one
line per kind and month, so a month's lines never change once its days have passed.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

import msgspec

from coop.policy.money import charge

ChargeKind = Literal["occupancy", "notice", "cancellation"]

#: statuses that never carry a charge
UNCHARGED_STATUSES = frozenset({"pending", "offered", "declined", "withdrawn", "expired"})
#: statuses that may
CHARGED_STATUSES = frozenset({"confirmed", "active", "ended", "cancelled"})

_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
_MIN_YEAR, _MAX_YEAR = 1900, 2100


class Terms(msgspec.Struct, frozen=True):
    """The terms a booking is charged under (from the policy version it was confirmed under)."""

    cancellation_notice_days: int = 7
    early_end_notice_days: int = 28


class Booking(msgspec.Struct, frozen=True, kw_only=True):
    """What the charges of one booking depend on (plain values)."""

    id: str
    requester: str
    owner: str
    status: str
    start_date: date
    end_date: date
    actual_start_date: date | None = None
    actual_end_date: date | None = None
    notice_date: date | None = None
    cancelled_on: date | None = None
    weekly_rate_pence: int | None = None


class ChargeLine(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of charge for the days ``[start, end)`` of one calendar month."""

    booking_id: str
    kind: ChargeKind
    start: date
    end: date
    days: int
    weekly_rate_pence: int
    amount_pence: int

    @property
    def month(self) -> date:
        """The first day of the calendar month the line's days fall in."""
        return month_start(self.start)


def month_start(d: date) -> date:
    """The first day of ``d``'s month."""
    return d.replace(day=1)


def next_month(d: date) -> date:
    """The first day of the month after ``d``'s month."""
    if d.month == 12:
        return date(d.year + 1, 1, 1)
    return date(d.year, d.month + 1, 1)


def parse_period(text: str) -> date:
    """``"2026-11"`` → ``date(2026, 11, 1)``; anything but a strict ``YYYY-MM`` is a ValueError."""
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"period {text!r} is not YYYY-MM")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ValueError(f"period {text!r} has no month {month:02d}")
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ValueError(f"period {text!r} is outside the years {_MIN_YEAR}..{_MAX_YEAR}")
    return date(year, month, 1)


def period_of(month: date) -> str:
    """``date(2026, 11, 1)`` → ``"2026-11"``."""
    return f"{month.year:04d}-{month.month:02d}"


def charged_days(booking: Booking, terms: Terms) -> list[tuple[ChargeKind, date, date]]:
    """The whole-stay charged spans [start, end) by kind, before any month split. Empty when
    requester == owner (an owner's own placement is never charged), when weekly_rate_pence is
    None, or when the status carries no charge; a status outside the lifecycle is a ValueError."""
    status = booking.status
    if status not in CHARGED_STATUSES:
        if status in UNCHARGED_STATUSES:
            return []
        raise ValueError(f"unknown booking status {status!r}")
    if booking.requester == booking.owner or booking.weekly_rate_pence is None:
        return []
    spans: list[tuple[ChargeKind, date, date]] = []
    if status == "confirmed":
        spans.append(("occupancy", booking.start_date, booking.end_date))
    elif status == "active":
        spans.append(
            ("occupancy", booking.actual_start_date or booking.start_date, booking.end_date)
        )
    elif status == "ended":
        left = booking.actual_end_date or booking.end_date
        spans.append(("occupancy", booking.actual_start_date or booking.start_date, left))
        if left < booking.end_date:
            notice = booking.notice_date or left
            until = min(booking.end_date, notice + timedelta(days=terms.early_end_notice_days))
            spans.append(("notice", left, until))
    else:  # cancelled
        cancelled_on = booking.cancelled_on or booking.start_date
        # cancelled after the planned start (the child never arrived): the bed was held for
        # them until then, as while it was confirmed, and the notice runs from that day
        held_until = min(cancelled_on, booking.end_date)
        spans.append(("occupancy", booking.start_date, held_until))
        notice_given = (booking.start_date - cancelled_on).days
        if notice_given < terms.cancellation_notice_days:
            start = max(booking.start_date, cancelled_on)
            end = min(start + timedelta(days=terms.cancellation_notice_days), booking.end_date)
            spans.append(("cancellation", start, end))
    return [(kind, start, end) for kind, start, end in spans if start < end]


def lines_through(booking: Booking, terms: Terms, until: date) -> list[ChargeLine]:
    """Every charge line the booking owes for days before ``until`` (exclusive; a settlement
    passes the first day of the month after the one it settles), each span split at
    calendar-month boundaries, one line per (kind, month), amount = charge(weekly_rate, days) per
    line. Sorted by (start, kind)."""
    spans = charged_days(booking, terms)
    if not spans:
        return []
    rate = booking.weekly_rate_pence
    assert rate is not None  # charged_days is empty without a rate
    lines: list[ChargeLine] = []
    for kind, span_start, span_end in spans:
        stop = min(span_end, until)
        start = span_start
        while start < stop:
            end = min(next_month(start), stop)
            days = (end - start).days
            lines.append(
                ChargeLine(
                    booking_id=booking.id,
                    kind=kind,
                    start=start,
                    end=end,
                    days=days,
                    weekly_rate_pence=rate,
                    amount_pence=charge(rate, days),
                )
            )
            start = end
    lines.sort(key=lambda line: (line.start, line.kind))
    return lines
