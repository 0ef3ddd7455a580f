"""What a settlement run posts: what is due up to the end of its month, minus what earlier
runs posted (SPEC §4). Pure: plain values in, plain values out.

For each booking, the charge lines due up to the end of the month (``coop.policy.charges``)
are compared, per (kind, month), with what was posted before. A (kind, month) of the run's
own month never posted is an **ordinary** line of its kind; anything else that differs —
days of an earlier month posted late (an import), or a month whose days changed since it was
posted (a placement ended early, a corrected date) — is an **adjustment** line for the
difference. Lines of a closed run never change: a change is always a new line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import msgspec

from coop.policy.charges import ChargeKind, ChargeLine

LineKind = ChargeKind | str  # "occupancy" | "notice" | "cancellation" | "adjustment"


class Posted(msgspec.Struct, frozen=True):
    """What earlier runs posted for one (booking, kind, month), added up."""

    days: int
    amount_pence: int
    start: date
    end: date
    weekly_rate_pence: int


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """One line a run posts."""

    booking_id: str
    kind: str
    charge_kind: ChargeKind
    month: date
    start: date
    end: date
    days: int
    weekly_rate_pence: int
    amount_pence: int


def to_post(
    booking_id: str,
    due: Iterable[ChargeLine],
    posted: Mapping[tuple[str, date], Posted],
    period: date,
) -> list[Line]:
    """The lines the run of ``period`` (first day of its month) posts for one booking, given
    the lines ``due`` up to the end of that month and what earlier runs ``posted`` per
    (kind, month)."""
    due_by = {(line.kind, line.month): line for line in due}
    out: list[Line] = []
    for key in sorted(due_by.keys() | posted.keys(), key=lambda k: (k[1], k[0])):
        kind, month = key
        d, p = due_by.get(key), posted.get(key)
        if p is None:
            assert d is not None
            out.append(
                Line(
                    booking_id=booking_id,
                    kind=kind if month == period else "adjustment",
                    charge_kind=d.kind,
                    month=month,
                    start=d.start,
                    end=d.end,
                    days=d.days,
                    weekly_rate_pence=d.weekly_rate_pence,
                    amount_pence=d.amount_pence,
                )
            )
            continue
        days = (d.days if d else 0) - p.days
        amount = (d.amount_pence if d else 0) - p.amount_pence
        if days == 0 and amount == 0:
            continue
        start, end = _changed_span(d, p, days)
        out.append(
            Line(
                booking_id=booking_id,
                kind="adjustment",
                charge_kind=kind,  # type: ignore[arg-type]
                month=month,
                start=start,
                end=end,
                days=days,
                weekly_rate_pence=d.weekly_rate_pence if d else p.weekly_rate_pence,
                amount_pence=amount,
            )
        )
    return out


def _changed_span(d: ChargeLine | None, p: Posted, days: int) -> tuple[date, date]:
    """The days an adjustment is about: those taken off (fewer days) or added (more)."""
    if d is None:
        return p.start, p.end
    if days < 0 and d.start == p.start and d.end < p.end:
        return d.end, p.end
    if days > 0 and d.start == p.start and p.end < d.end:
        return p.end, d.end
    return min(d.start, p.start), max(d.end, p.end)
