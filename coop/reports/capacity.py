"""Capacity on a day and over time (SPEC §5): every registered bed in one state, decided by
``coop.policy.capacity.classify`` from the facts read here.

On a day, one query reads every registered bed of the region with the booking holding it
that day (at most one: holds never overlap on a bed) and whether an open void covers it; over
time, three queries read the beds' registrations, the bookings' holds and the voids' open
spans, and :func:`coop.policy.capacity.add_bed_days` sums the days of each state per step.

A void offers its bed from ``max(available_from, the day it was published)`` until
``available_until`` or the day it was withdrawn, whichever comes first: a report on a past
day shows what was offered then.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.db.schema import bed_states, bookings, homes, voids
from coop.errors import not_found
from coop.policy import capacity as rule
from coop.policy.vocabulary import OutOfUseReason
from coop.reports.scope import ReportView, check_range, own_authority, region_authorities

REASONS: tuple[str, ...] = OutOfUseReason.__args__  # type: ignore[attr-defined]
Step = Literal["week", "month"]

# -- what the reports answer ----------------------------------------------------------------


class Figures(msgspec.Struct, kw_only=True):
    """Beds (on a day) or bed-days (over a step) in each state."""

    registered: int
    """Beds registered (homes open): operational plus out of use."""
    operational: int
    """Registered and not out of use."""
    out_of_use: dict[str, int]
    """Out of use, by reason (`staffing`, `ofsted_restriction`, `matching`, `maintenance`)."""
    occupied_own: int
    """A child of the owning authority lives there (an `active` booking covers the day)."""
    occupied_sold: int
    """Another authority's child lives there: a void sold."""
    reserved: int
    """An `offered` or `confirmed` booking holds it; the child has not arrived."""
    vacant_offered: int
    """Empty, and an open void offers it to the cooperative."""
    vacant_not_offered: int
    """Empty, and not offered."""
    occupancy_pct: float | None
    """Occupied (own and sold) as a percentage of operational, to one decimal; `null` when
    nothing is operational."""


class HomeCapacity(Figures, kw_only=True):
    home_id: str
    name: str


class AuthorityCapacity(Figures, kw_only=True):
    authority: str
    homes: list[HomeCapacity]
    """The same per home (homes with a bed registered that day)."""


class CapacityReport(msgspec.Struct, kw_only=True):
    """A region's beds on one day, per authority and per home, with the region's totals."""

    region: str
    on: date
    rows: list[AuthorityCapacity]
    """One per authority of the region (an authority's client: its own only)."""
    totals: Figures
    """The whole region."""


class SeriesStep(Figures, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    """The day after the step's last (exclusive)."""
    days: int
    """Days in the step; `registered` is at most `days` × beds."""


class CapacitySeries(msgspec.Struct, kw_only=True):
    """A region's (or one authority's) bed-days in each state, per step."""

    region: str
    authority: str | None
    """The authority the series is narrowed to; `null` for the whole region."""
    from_: date = msgspec.field(name="from")
    to: date
    step: Step
    rows: list[SeriesStep]


def figures(t: rule.Tally) -> dict[str, Any]:
    return {
        "registered": t.registered,
        "operational": t.operational,
        "out_of_use": {r: t.out_of_use.get(r, 0) for r in REASONS},
        "occupied_own": t.occupied_own,
        "occupied_sold": t.occupied_sold,
        "reserved": t.reserved,
        "vacant_offered": t.vacant_offered,
        "vacant_not_offered": t.vacant_not_offered,
        "occupancy_pct": rule.occupancy_pct(t.occupied, t.operational),
    }


# -- the facts ---------------------------------------------------------------------------------

ENGLAND = "Europe/London"


def _day(column: Any) -> Any:
    """The English date of a timestamp column."""
    return sa.cast(sa.func.timezone(ENGLAND, column), sa.Date)


def void_span() -> tuple[Any, Any]:
    """The first day a void offered its bed, and the day it stopped (NULL: still does)."""
    v = voids.c
    start = sa.func.greatest(v.available_from, _day(v.published_at))
    end = sa.func.least(v.available_until, _day(v.withdrawn_at))  # LEAST ignores NULLs
    return start, end


def _region_filter(regions: list[str] | None) -> Any:
    return sa.true() if regions is None else homes.c.region.in_(regions)


def _day_starts(day: date) -> datetime:
    """The instant the English day ``day`` begins."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(ENGLAND))


def _literal(name: str, value: Any, type_: Any) -> Any:
    """A value written into the statement: PostgreSQL plans for that day every time (a
    generic plan guesses that 0.5 % of the beds' spans cover a day — all of them do — and
    loops over the bookings' GiST index once per bed)."""
    return sa.bindparam(name, value, type_=type_, literal_execute=True)


def void_open_between(first: date, last: date) -> Any:
    """Voids whose open span (:func:`void_span`) meets the days ``[first, last]``, tested on
    the columns themselves (an index can serve it; no time zone per row)."""
    v = voids.c
    after_last = _literal("void_after", _day_starts(last + timedelta(days=1)), _INSTANT)
    after_first = _literal("void_after_first", _day_starts(first + timedelta(days=1)), _INSTANT)
    return sa.and_(
        v.available_from <= _literal("void_last", last, sa.Date),
        v.published_at < after_last,
        sa.or_(
            v.available_until.is_(None), v.available_until > _literal("void_first", first, sa.Date)
        ),
        sa.or_(v.withdrawn_at.is_(None), v.withdrawn_at >= after_first),
    )


_INSTANT = sa.DateTime(timezone=True)


def _waiting(on: Any) -> Any:
    """Bookings whose child arrived late, on a day between the planned start and the
    arrival: the bed was held for them (``confirmed``), the child not there yet."""
    k = bookings.c
    return sa.and_(
        k.status.in_(sorted(rule.OCCUPYING)),
        k.actual_start_date > k.start_date,
        k.start_date <= on,
        k.actual_start_date > on,
    )


def _cancelled_held(on: Any) -> Any:
    """Cancelled bookings whose bed was held for the child on ``on``: from the planned start
    to the cancellation (the days :func:`coop.policy.charges.charged_days` charges)."""
    k = bookings.c
    until = sa.func.least(sa.func.coalesce(k.cancelled_on, k.start_date), k.end_date)
    return sa.and_(k.status == "cancelled", k.start_date <= on, until > on)


async def beds_on(conn: AsyncConnection, regions: list[str] | None, day: date) -> list[sa.Row]:
    """Every bed registered on ``day`` in ``regions`` (None: all), with its home, what holds
    it and whether a void offers it. A bed has one row per booking covering the day (at most
    one, but for a late arrival's waiting days that an import overlapped)."""
    s, h, k, v = bed_states.c, homes.c, bookings.c, voids.c
    on = sa.cast(_literal("day", day, sa.Date), sa.Date)
    offered = sa.select(v.bed_id).where(void_open_between(day, day)).distinct().subquery("offered")
    # a booking's region is its bed's: ix_bookings_region_hold_during serves the first
    mine = sa.true() if regions is None else k.region.in_(regions)
    held = sa.union_all(
        sa.select(k.bed_id, k.status, k.requester).where(mine, k.hold_during.op("@>")(on)),
        sa.select(k.bed_id, sa.literal("confirmed").label("status"), k.requester).where(
            mine, _waiting(on)
        ),
        sa.select(k.bed_id, sa.literal("confirmed").label("status"), k.requester).where(
            mine, _cancelled_held(on)
        ),
    ).subquery("held")
    query = (
        sa.select(
            s.bed_id,
            h.owner,
            h.id.label("home_id"),
            h.name,
            s.out_of_use_reason,
            held.c.status.label("booking_status"),
            held.c.requester,
            offered.c.bed_id.is_not(None).label("void_open"),
        )
        .select_from(
            bed_states.join(homes, h.id == s.home_id)
            .outerjoin(held, held.c.bed_id == s.bed_id)
            .outerjoin(offered, offered.c.bed_id == s.bed_id)
        )
        .where(s.during.op("@>")(on), _region_filter(regions))
    )
    return list((await conn.execute(query)).all())


# -- on a day ----------------------------------------------------------------------------------


def tally_on(rows: list[Any]) -> tuple[rule.Tally, dict[str, rule.Tally], dict[str, Any]]:
    """The region's tally, per home, and each home's (owner, name). Each bed is classified by
    :func:`coop.policy.capacity.classify`; the few distinct combinations of facts are
    classified once each (a national report has twelve thousand beds and a dozen
    combinations)."""
    beds: dict[str, tuple[str, str, str, Any, rule.Holding | None, bool]] = {}
    for bed_id, owner, home_id, name, reason, status, requester, void_open in rows:
        holding = rule.holding_of(status, requester, owner) if status else None
        seen = beds.get(bed_id)
        if seen is not None:  # two bookings cover the day: the stronger decides
            holding = rule.stronger(seen[4], holding)
        beds[bed_id] = (owner, home_id, name, reason, holding, bool(void_open))
    total = rule.Tally()
    per_home: dict[str, rule.Tally] = defaultdict(rule.Tally)
    home_of: dict[str, Any] = {}
    decided: dict[tuple[Any, ...], tuple[rule.State, str | None]] = {}
    for owner, home_id, name, reason, holding, void_open in beds.values():
        key = (reason, holding, void_open)
        state = decided.get(key)
        if state is None:
            day = rule.BedDay(out_of_use_reason=reason, holding=holding, void_open=void_open)
            state = decided[key] = rule.classify(day)  # type: ignore[assignment]
            assert state is not None  # every row is a registered bed
        total.add(*state)
        per_home[home_id].add(*state)
        home_of[home_id] = (owner, name)
    return total, per_home, home_of


async def capacity_on(engine: AsyncEngine, view: ReportView, day: date) -> CapacityReport:
    """The region's beds on ``day``: an authority's client sees its own rows and the totals."""
    async with engine.connect() as conn:
        rows = await beds_on(conn, [view.region], day)
        slugs = await region_authorities(conn, view.region)
    total, per_home, home_of = tally_on(rows)
    by_owner: dict[str, list[str]] = defaultdict(list)
    for home_id, (owner, _name) in home_of.items():
        by_owner[owner].append(home_id)
    out: list[AuthorityCapacity] = []
    for slug in slugs:
        if not view.sees(slug):
            continue
        mine = rule.Tally()
        home_rows = []
        for home_id in sorted(by_owner.get(slug, []), key=lambda i: (home_of[i][1], i)):
            mine.merge(per_home[home_id])
            home_rows.append(
                HomeCapacity(
                    home_id=home_id, name=home_of[home_id][1], **figures(per_home[home_id])
                )
            )
        out.append(AuthorityCapacity(authority=slug, homes=home_rows, **figures(mine)))
    return CapacityReport(region=view.region, on=day, rows=out, totals=Figures(**figures(total)))


# -- over time ---------------------------------------------------------------------------------


async def histories(
    conn: AsyncConnection, region: str, start: date, end: date, owner: str | None
) -> dict[str, rule.BedHistory]:
    """Every bed of ``region`` (of ``owner`` only, when given) registered at some time in
    ``[start, end)``, with what decides its state over that range."""
    s, h, k, v = bed_states.c, homes.c, bookings.c, voids.c
    window = sa.func.daterange(start, end)
    mine = sa.and_(h.region == region, h.owner == owner if owner else sa.true())
    regs: dict[str, list[rule.Registration]] = defaultdict(list)
    for bed_id, lo, hi, reason in await conn.execute(
        sa.select(s.bed_id, sa.func.lower(s.during), sa.func.upper(s.during), s.out_of_use_reason)
        .join(homes, h.id == s.home_id)
        .where(mine, s.during.op("&&")(window))
    ):
        regs[bed_id].append(rule.Registration(lo, hi, reason))
    holds: dict[str, list[rule.HoldSpan]] = defaultdict(list)
    for bed_id, lo, hi, status, requester, owner_ in await conn.execute(
        sa.select(
            k.bed_id,
            sa.func.lower(k.hold_during),
            sa.func.upper(k.hold_during),
            k.status,
            k.requester,
            k.owner,
        ).where(
            k.region == region,
            k.owner == owner if owner else sa.true(),
            k.hold_during.op("&&")(window),
        )
    ):
        holding = rule.holding_of(status, requester, owner_)
        if holding is not None and bed_id in regs:
            holds[bed_id].append(rule.HoldSpan(lo, hi, holding))
    # a late arrival: the days from the planned start to the arrival were reserved
    for bed_id, lo, hi in await conn.execute(
        sa.select(k.bed_id, k.start_date, k.actual_start_date).where(
            k.region == region,
            k.owner == owner if owner else sa.true(),
            k.status.in_(sorted(rule.OCCUPYING)),
            k.actual_start_date > k.start_date,
            k.start_date < end,
            k.actual_start_date > start,
        )
    ):
        if bed_id in regs:
            holds[bed_id].append(rule.HoldSpan(lo, hi, "reserved"))
    until = sa.func.least(sa.func.coalesce(k.cancelled_on, k.start_date), k.end_date)
    for bed_id, lo, hi in await conn.execute(
        sa.select(k.bed_id, k.start_date, until).where(
            k.region == region,
            k.owner == owner if owner else sa.true(),
            k.status == "cancelled",
            until > k.start_date,
            k.start_date < end,
            until > start,
        )
    ):
        if bed_id in regs:
            holds[bed_id].append(rule.HoldSpan(lo, hi, "reserved"))
    v_start, v_end = void_span()
    spans: dict[str, list[rule.VoidSpan]] = defaultdict(list)
    for bed_id, lo, hi in await conn.execute(
        sa.select(v.bed_id, v_start, v_end)
        .join(homes, h.id == v.home_id)
        .where(mine, void_open_between(start, end - timedelta(days=1)))
    ):
        if bed_id in regs and (hi is None or lo < hi):
            spans[bed_id].append(rule.VoidSpan(lo, hi))
    return {
        bed_id: rule.BedHistory(
            registrations=tuple(r), holds=tuple(holds[bed_id]), voids=tuple(spans[bed_id])
        )
        for bed_id, r in regs.items()
    }


async def capacity_series(
    engine: AsyncEngine,
    view: ReportView,
    start: date,
    end: date,
    step: Step,
    authority: str | None = None,
) -> CapacitySeries:
    """Bed-days in each state per week or month of ``[start, end)`` (weeks run from
    ``start``; months are calendar months, the first and last cut to the range)."""
    owner = own_authority(view, authority)  # who may ask comes before what is asked
    check_range(start, end)
    async with engine.connect() as conn:
        if owner is not None and owner not in await region_authorities(conn, view.region):
            raise not_found("authority", owner)
        beds = await histories(conn, view.region, start, end, owner)
    starts = rule.steps(start, end, step)
    tallies = [rule.Tally() for _ in starts]
    for history in beds.values():
        rule.add_bed_days(tallies, starts, end, history)
    bounds = [*starts[1:], end]
    rows = [
        SeriesStep(from_=a, to=b, days=(b - a).days, **figures(t))
        for a, b, t in zip(starts, bounds, tallies, strict=True)
    ]
    return CapacitySeries(
        region=view.region, authority=owner, from_=start, to=end, step=step, rows=rows
    )


# -- CSV ---------------------------------------------------------------------------------------

FIGURE_COLUMNS = [
    "registered",
    "operational",
    *(f"out_of_use_{r}" for r in REASONS),
    "occupied_own",
    "occupied_sold",
    "reserved",
    "vacant_offered",
    "vacant_not_offered",
    "occupancy_pct",
]


def figure_cells(f: Figures) -> list[object]:
    pct = "" if f.occupancy_pct is None else f"{f.occupancy_pct:.1f}"
    return [
        f.registered,
        f.operational,
        *(f.out_of_use.get(r, 0) for r in REASONS),
        f.occupied_own,
        f.occupied_sold,
        f.reserved,
        f.vacant_offered,
        f.vacant_not_offered,
        pct,
    ]


def capacity_csv(report: CapacityReport) -> tuple[list[str], list[list[object]], str]:
    """One row per authority and per home, then the region's totals (``level`` says which)."""
    header = ["level", "authority", "home_id", "home_name", *FIGURE_COLUMNS]
    rows: list[list[object]] = []
    for a in report.rows:
        rows.append(["authority", a.authority, "", "", *figure_cells(a)])
        rows += [["home", a.authority, h.home_id, h.name, *figure_cells(h)] for h in a.homes]
    rows.append(["region", report.region, "", "", *figure_cells(report.totals)])
    return header, rows, f"capacity-{report.region}-{report.on}.csv"


def series_csv(series: CapacitySeries) -> tuple[list[str], list[list[object]], str]:
    """One row per step."""
    header = ["from", "to", "days", *FIGURE_COLUMNS]
    rows = [[r.from_.isoformat(), r.to.isoformat(), r.days, *figure_cells(r)] for r in series.rows]
    who = series.authority or series.region
    return header, rows, f"capacity-{who}-{series.from_}-{series.to}-{series.step}.csv"
