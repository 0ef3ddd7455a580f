"""What a bed is on a day (SPEC §5, the capacity report). Pure: plain values in, plain out.

Every registered bed is in exactly one state on every day, decided in this order:

1. ``out_of_use`` (with its reason: staffing, ofsted_restriction, matching, maintenance) —
   the bed is not operational, whatever else is true of it that day;
2. ``occupied_own`` — an ``active`` booking (or an ``ended`` one, for the days the child
   lived there) covers the day, and the child is the owning authority's own;
3. ``occupied_sold`` — the same, for another authority's child (a void sold);
4. ``reserved`` — an ``offered`` or ``confirmed`` booking covers the day: the bed is held
   and the child has not arrived (so are the days from a placement's planned start to a
   late arrival: the booking was ``confirmed`` then);
5. ``vacant_offered`` — nobody holds the bed and an open void covers the day;
6. ``vacant_not_offered`` — nobody holds the bed and it is not offered to the cooperative.

A bed that is not registered that day (not yet created, or its home closed) is in no state.
So ``registered = operational + out of use`` and ``operational = occupied + reserved +
vacant``, always. :func:`classify` decides one day; :func:`segments` walks a bed's history
and :func:`add_bed_days` sums the days of each state per step, using :func:`classify` for
every piece, so a series is the sum of its daily reports by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from itertools import pairwise
from typing import Literal

import msgspec

from coop.policy.money import round_half_up_div

State = Literal[
    "out_of_use",
    "occupied_own",
    "occupied_sold",
    "reserved",
    "vacant_offered",
    "vacant_not_offered",
]
#: the states, in the order they are decided
STATES: tuple[State, ...] = (
    "out_of_use",
    "occupied_own",
    "occupied_sold",
    "reserved",
    "vacant_offered",
    "vacant_not_offered",
)
#: what a booking covering the day makes of the bed
Holding = Literal["own", "sold", "reserved"]

#: statuses whose booking has a child in the bed for the days it holds
OCCUPYING = frozenset({"active", "ended"})
#: statuses whose booking holds the bed before the child arrives
RESERVING = frozenset({"offered", "confirmed"})

#: far enough in the future to stand for "no end" (an open-ended span)
FOREVER = date(9999, 12, 31)


class BedDay(msgspec.Struct, frozen=True, kw_only=True):
    """What is true of one bed on one day."""

    registered: bool = True
    out_of_use_reason: str | None = None
    """``None`` while the bed is in use."""
    holding: Holding | None = None
    """What the booking holding the bed that day makes of it (at most one: bookings holding
    a bed never overlap)."""
    void_open: bool = False
    """An open void covers the day."""


def stronger(a: Holding | None, b: Holding | None) -> Holding | None:
    """Of two bookings covering a day, what the day was: a child in the bed beats a bed
    held for one."""
    if a is None or a == "reserved":
        return b or a
    return a


def holding_of(status: str, requester: str, owner: str) -> Holding | None:
    """What a booking in ``status`` makes of the bed on a day it holds it."""
    if status in OCCUPYING:
        return "own" if requester == owner else "sold"
    if status in RESERVING:
        return "reserved"
    return None


def classify(day: BedDay) -> tuple[State, str | None] | None:
    """The bed's state that day and, when out of use, why; ``None`` when not registered."""
    if not day.registered:
        return None
    if day.out_of_use_reason is not None:
        return "out_of_use", day.out_of_use_reason
    if day.holding == "own":
        return "occupied_own", None
    if day.holding == "sold":
        return "occupied_sold", None
    if day.holding == "reserved":
        return "reserved", None
    if day.void_open:
        return "vacant_offered", None
    return "vacant_not_offered", None


# -- a bed over time ---------------------------------------------------------------------------


class Registration(msgspec.Struct, frozen=True):
    """Days ``[start, end)`` in which the bed was registered with one status (``end`` None:
    still)."""

    start: date
    end: date | None
    out_of_use_reason: str | None = None


class HoldSpan(msgspec.Struct, frozen=True):
    """Days ``[start, end)`` a booking holds the bed, and what it makes of it."""

    start: date
    end: date
    holding: Holding


class VoidSpan(msgspec.Struct, frozen=True):
    """Days ``[start, end)`` an open void offered the bed (``end`` None: open-ended)."""

    start: date
    end: date | None


class BedHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that decides a bed's state, over time."""

    registrations: tuple[Registration, ...] = ()
    holds: tuple[HoldSpan, ...] = ()
    voids: tuple[VoidSpan, ...] = ()

    def on(self, day: date) -> BedDay:
        """The facts of one day (what :func:`classify` decides from)."""
        reg = next((r for r in self.registrations if _covers(r.start, r.end, day)), None)
        # bookings holding a bed never overlap; a late arrival's waiting days might meet
        # another's (an import): the child in the bed is what the day was
        hold = max(
            (h for h in self.holds if _covers(h.start, h.end, day)),
            key=lambda h: h.holding != "reserved",
            default=None,
        )
        return BedDay(
            registered=reg is not None,
            out_of_use_reason=reg.out_of_use_reason if reg else None,
            holding=hold.holding if hold else None,
            void_open=any(_covers(v.start, v.end, day) for v in self.voids),
        )


def _covers(start: date, end: date | None, day: date) -> bool:
    return start <= day and (end is None or day < end)


def segments(
    history: BedHistory, start: date, end: date
) -> Iterator[tuple[date, date, State, str | None]]:
    """The bed's states over ``[start, end)``, as maximal pieces ``(from, to, state,
    reason)`` in which nothing changes; days it was not registered are left out."""
    if end <= start:
        return
    cuts = {start, end}
    for r in history.registrations:
        cuts.update((r.start, r.end or FOREVER))
    for h in history.holds:
        cuts.update((h.start, h.end))
    for v in history.voids:
        cuts.update((v.start, v.end or FOREVER))
    days = sorted(d for d in cuts if start <= d <= end)
    for a, b in pairwise(days):
        decided = classify(history.on(a))
        if decided is not None:
            yield a, b, decided[0], decided[1]


def steps(start: date, end: date, step: Literal["day", "week", "month"]) -> list[date]:
    """The first days of the steps covering ``[start, end)``: ``start`` itself, then every
    day, every 7 days, or every first of the month after it; the last step ends at ``end``."""
    out = [start]
    while True:
        prev = out[-1]
        if step == "day":
            nxt = prev + timedelta(days=1)
        elif step == "week":
            nxt = prev + timedelta(days=7)
        else:
            nxt = date(prev.year + prev.month // 12, prev.month % 12 + 1, 1)
        if nxt >= end:
            return out
        out.append(nxt)


class Tally(msgspec.Struct, kw_only=True):
    """Bed-days (or, for one day, beds) in each state."""

    registered: int = 0
    out_of_use: dict[str, int] = msgspec.field(default_factory=dict)
    occupied_own: int = 0
    occupied_sold: int = 0
    reserved: int = 0
    vacant_offered: int = 0
    vacant_not_offered: int = 0

    def add(self, state: State, reason: str | None, n: int = 1) -> None:
        self.registered += n
        if state == "out_of_use":
            key = reason or "unknown"
            self.out_of_use[key] = self.out_of_use.get(key, 0) + n
        else:
            setattr(self, state, getattr(self, state) + n)

    def merge(self, other: Tally) -> None:
        self.registered += other.registered
        for reason, n in other.out_of_use.items():
            self.out_of_use[reason] = self.out_of_use.get(reason, 0) + n
        for state in STATES[1:]:
            setattr(self, state, getattr(self, state) + getattr(other, state))

    @property
    def operational(self) -> int:
        return self.registered - sum(self.out_of_use.values())

    @property
    def occupied(self) -> int:
        return self.occupied_own + self.occupied_sold


def add_bed_days(tallies: list[Tally], starts: list[date], end: date, history: BedHistory) -> None:
    """Add one bed's days in each state to ``tallies`` (one per step; ``starts`` are the
    steps' first days, the last step ending at ``end``)."""
    if not starts:
        return
    bounds = [*starts[1:], end]
    i = 0
    for a, b, state, reason in segments(history, starts[0], end):
        while bounds[i] <= a:
            i += 1
        j = i
        lo = a
        while lo < b:
            hi = min(b, bounds[j])
            tallies[j].add(state, reason, (hi - lo).days)
            lo = hi
            j += 1


def occupancy_pct(occupied: int, operational: int) -> float | None:
    """Occupied as a percentage of operational, to one decimal (``None`` with nothing
    operational)."""
    if operational <= 0:
        return None
    return round_half_up_div(occupied * 1000, operational) / 10


def tally_beds(days: Iterable[BedDay]) -> Tally:
    """The beds of one day, in each state."""
    t = Tally()
    for d in days:
        decided = classify(d)
        if decided is not None:
            t.add(*decided)
    return t
