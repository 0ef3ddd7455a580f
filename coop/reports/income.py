"""Income, spend and cost avoided per authority (SPEC §5), over ``[from, to)``.

Every figure comes from charge lines: an invoice line a settlement run posted, or a line
priced now from a booking's current facts exactly as settlement prices it
(:mod:`coop.policy.charges`: the booking's policy terms, ``charge(weekly_rate, days)`` per
kind and month; an owner's own placement is never charged). A line's seller is the bed's
owner, its buyer the placing authority.

**Which lines count.** Money is counted in the month it is (or will be) invoiced. Let ``L``
be the region's latest ``completed`` settlement run's month. For each calendar month ``M``
that overlaps the range:

1. ``M`` up to ``L`` with a completed run of its own, its last day inside the range: exactly
   that run's invoice lines, of every kind — its ``adjustment`` lines included, which may
   correct earlier months. So a month already settled equals that settlement's invoices, to
   the penny, always. A settled month counts whole, in the range that holds its last day;
   a range holding only some of its days, not the last, counts nothing of it.
2. ``M`` up to ``L`` with no run of its own (a month skipped, or before the region's first
   settlement): nothing — its days were invoiced by a later run as adjustments, and are
   counted there.
3. ``M`` after ``L`` (or no run at all): what ``M``'s settlement would post if it ran now,
   months settled in order — the charges for ``M``'s days inside the range from current
   facts (each charged span clipped to the range and ``M``, priced ``charge(weekly_rate,
   days)``: for a whole month, settlement's line) and, when ``M`` is the month right after
   ``L`` and its last day is inside the range, the corrections pending for months up to
   ``L`` (what was due through the end of ``L`` minus everything posted: the next run's
   adjustments, computed by :func:`coop.settlement.lines.to_post` as the run computes
   them). With no run at all this is the charges for the range's days.

So the figures add up: two ranges side by side count what the range they make counts.

**The figures** (pence and days are integers; sums of lines):

* ``income_pence``: lines where the authority is the seller; ``spend_pence``: where it is
  the buyer; ``net_pence = income_pence - spend_pence``.
* ``bed_days_sold`` / ``bed_days_bought``: the ``days`` of occupancy lines (adjustments of
  occupancy included, signed); notice and cancellation days are charged but are not bed-days.
* ``avg_weekly_price_pence``: ``(occupancy pence sold + occupancy pence bought) × 7 / (days
  sold + days bought)``, rounded half-up (half away from zero should the figures be
  negative); ``null`` when those days add up to 0.
* ``cost_avoided_pence``: over the occupancy lines bought, ``charge(benchmark, days) -
  amount_pence`` line by line (``-charge(benchmark, -days) - amount_pence`` for a line of
  negative days), where ``benchmark`` is ``pricing.spot_benchmark_weekly_pence`` of the
  policy version the booking was priced under (the default policy's for a version the region
  never had).
* ``totals``: the whole region (whatever the caller sees): every line is one authority's
  income and another's spend, so income = spend, net = 0, days sold = days bought.

Reading, in one snapshot (``REPEATABLE READ``): settled months are summed in SQL (invoice
lines of the runs, grouped by seller, buyer, the booking's policy version and the line's
days, so the benchmark's rounding stays per line); the other months read, in one query, only
the bookings whose charged days can touch them (and, when the month after ``L`` is in the
range, every booking the next run would read, with everything posted).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.db.schema import (
    bookings,
    invoice_lines,
    invoices,
    region_policies,
    settlement_runs,
)
from coop.policy.charges import (
    CHARGED_STATUSES,
    Booking,
    ChargeLine,
    Terms,
    charged_days,
    lines_through,
    month_start,
    next_month,
    period_of,
)
from coop.policy.document import PolicyDocument
from coop.policy.money import charge, round_half_up_div
from coop.reports.scope import ReportView, check_range, region_authorities
from coop.settlement.lines import to_post
from coop.settlement.runs import FACT_COLUMNS, booking_facts, posted_lines, terms_by_version

# -- what the report answers -------------------------------------------------------------------


class IncomeRow(msgspec.Struct, kw_only=True):
    """One authority's trading in the cooperative over the range (or the region's, in
    `totals`). Pence and days are whole numbers."""

    authority: str
    """The authority's slug (in `totals`: the region's)."""
    income_pence: int
    """What other councils were charged for its beds (voids sold): occupancy, notice and
    cancellation charges, and adjustments to them."""
    spend_pence: int
    """What it was charged for other councils' beds it placed children in (beds bought)."""
    net_pence: int
    """`income_pence` minus `spend_pence`: positive when it earned more than it spent."""
    bed_days_sold: int
    """Days its beds were occupied by, or held for, other councils' children (adjustments
    included, so a day taken off later counts minus one). Notice and cancellation days are
    charged but are not bed-days."""
    bed_days_bought: int
    """Days other councils' beds were occupied by, or held for, its children, counted the
    same way."""
    avg_weekly_price_pence: int | None
    """The average weekly price of the bed-days it traded, sold and bought together:
    occupancy pence × 7 / bed-days, rounded half-up to the penny; `null` when it traded no
    bed-days."""
    cost_avoided_pence: int
    """What the bed-days it bought would have cost at the spot-market benchmark (the policy's
    `spot_benchmark_weekly_pence`, of the policy version each booking was priced under) minus
    what it paid for them. Positive: the cooperative saved it money."""


class IncomeReport(msgspec.Struct, kw_only=True):
    """Income, spend and cost avoided per authority of a region over `[from, to)`, counted in
    the month they are invoiced. A calendar month already settled counts exactly that
    settlement's invoices (adjustments included), whole, in a range that holds its last day;
    a month not settled yet counts what its settlement would charge today for the range's
    days."""

    region: str
    """The region's slug."""
    from_: date = msgspec.field(name="from")
    """The first day of the range."""
    to: date
    """The day after the last day of the range (exclusive)."""
    settled_through: str | None
    """The latest month (`YYYY-MM`) the region has settled; `null` before its first
    settlement. Whole months after it are what their settlement would charge today."""
    rows: list[IncomeRow]
    """One per authority of the region, by slug (an authority's client: its own only)."""
    totals: IncomeRow
    """The whole region: income equals spend, net is 0, days sold equal days bought."""


# -- which lines count, month by month (pure) --------------------------------------------------

Source = Literal["settled", "projected", "skipped", "partial"]


class MonthPlan(msgspec.Struct, frozen=True):
    """How one calendar month of the range is counted: its days ``[lo, hi)`` inside the range
    and the rule that applies (see the module's docstring)."""

    month: date
    lo: date
    hi: date
    source: Source
    corrections: bool = False
    """The month right after the latest settled one, its last day in the range: carries the
    corrections of earlier months its run would post."""


def plan_months(start: date, end: date, completed: Iterable[date]) -> list[MonthPlan]:
    """The months overlapping ``[start, end)`` and how each is counted, given the months the
    region has a completed settlement run for. Additive: two ranges side by side count what
    the range they make counts."""
    settled = set(completed)
    latest = max(settled, default=None)
    out: list[MonthPlan] = []
    month = month_start(start)
    while month < end:
        after = next_month(month)
        lo, hi = max(month, start), min(after, end)
        holds_last_day = hi == after
        if latest is not None and month <= latest:
            # invoiced: a settled month counts whole, in the range that holds its last day;
            # a month with no run of its own was invoiced by a later run
            source: Source = "settled" if month in settled and holds_last_day else "skipped"
            out.append(MonthPlan(month, lo, hi, source))
        else:
            first = latest is not None and month == next_month(latest) and holds_last_day
            source = "projected" if lo == month and holds_last_day else "partial"
            out.append(MonthPlan(month, lo, hi, source, corrections=first))
        month = after
    return out


def month_windows(start: date, end: date) -> list[tuple[date, date]]:
    """``[start, end)`` cut at calendar-month boundaries."""
    out = []
    while start < end:
        stop = min(next_month(start), end)
        out.append((start, stop))
        start = stop
    return out


def charges_in(
    booking: Booking, terms: Terms, windows: Sequence[tuple[date, date]]
) -> list[ChargeLine]:
    """The booking's charges for its days inside ``windows`` (sorted, disjoint, each within
    one calendar month): one line per (kind, window) with days, priced ``charge(weekly_rate,
    days)`` — for a whole month, the line :func:`coop.policy.charges.lines_through` gives."""
    spans = charged_days(booking, terms)
    if not spans or not windows:
        return []
    rate = booking.weekly_rate_pence
    assert rate is not None  # charged_days is empty without a rate
    ends = [hi for _, hi in windows]
    lines: list[ChargeLine] = []
    for kind, span_start, span_end in spans:
        i = bisect.bisect_right(ends, span_start)  # the first window ending after the start
        while i < len(windows) and windows[i][0] < span_end:
            lo, hi = max(span_start, windows[i][0]), min(span_end, windows[i][1])
            if lo < hi:
                days = (hi - lo).days
                # priced cumulatively from the span's first day in the month, so windows of
                # one month telescope to settlement's line for the month
                before = (lo - max(span_start, month_start(lo))).days
                lines.append(
                    ChargeLine(
                        booking_id=booking.id,
                        kind=kind,
                        start=lo,
                        end=hi,
                        days=days,
                        weekly_rate_pence=rate,
                        amount_pence=charge(rate, before + days) - charge(rate, before),
                    )
                )
            i += 1
    return lines


def cost_avoided(benchmark_weekly_pence: int, days: int, amount_pence: int) -> int:
    """One occupancy line's benchmark price minus what it charged (signed days: an
    adjustment that takes days off gives back their benchmark price)."""
    if days >= 0:
        return charge(benchmark_weekly_pence, days) - amount_pence
    return -charge(benchmark_weekly_pence, -days) - amount_pence


def weekly_average(pence: int, days: int) -> int | None:
    """``pence × 7 / days`` rounded half-up (half away from zero when negative); ``None``
    for no days."""
    if days == 0:
        return None
    value = round_half_up_div(abs(pence) * 7, abs(days))
    return -value if (pence < 0) != (days < 0) else value


@dataclass
class Tally:
    """One (seller, buyer) pair's lines, added up."""

    pence: int = 0
    occupancy_days: int = 0
    occupancy_pence: int = 0
    cost_avoided_pence: int = 0

    def add(
        self,
        kind: str,
        days: int,
        amount_pence: int,
        benchmark: int,
        *,
        lines: int = 1,
        before: int = 0,
    ) -> None:
        """``lines`` lines of ``kind`` (its charge kind), each of ``days`` days, together
        ``amount_pence``."""
        self.pence += amount_pence
        if kind == "occupancy":
            self.occupancy_days += days * lines
            self.occupancy_pence += amount_pence
            if before:
                bench = charge(benchmark, before + days) - charge(benchmark, before)
                self.cost_avoided_pence += bench * lines - amount_pence
            else:
                self.cost_avoided_pence += cost_avoided(benchmark, days, 0) * lines - amount_pence

    def merge(self, other: Tally) -> None:
        self.pence += other.pence
        self.occupancy_days += other.occupancy_days
        self.occupancy_pence += other.occupancy_pence
        self.cost_avoided_pence += other.cost_avoided_pence


Pair = tuple[str, str]  # (seller, buyer)


def row_of(authority: str, pairs: Mapping[Pair, Tally]) -> IncomeRow:
    """One authority's figures from the pairs' tallies."""
    sold, bought = Tally(), Tally()
    for (seller, buyer), t in pairs.items():
        if seller == authority:
            sold.merge(t)
        if buyer == authority:
            bought.merge(t)
    return IncomeRow(
        authority=authority,
        income_pence=sold.pence,
        spend_pence=bought.pence,
        net_pence=sold.pence - bought.pence,
        bed_days_sold=sold.occupancy_days,
        bed_days_bought=bought.occupancy_days,
        avg_weekly_price_pence=weekly_average(
            sold.occupancy_pence + bought.occupancy_pence,
            sold.occupancy_days + bought.occupancy_days,
        ),
        cost_avoided_pence=bought.cost_avoided_pence,
    )


def totals_of(region: str, pairs: Mapping[Pair, Tally]) -> IncomeRow:
    """The region's figures: every line is one authority's income and another's spend."""
    t = Tally()
    for pair in pairs.values():
        t.merge(pair)
    return IncomeRow(
        authority=region,
        income_pence=t.pence,
        spend_pence=t.pence,
        net_pence=0,
        bed_days_sold=t.occupancy_days,
        bed_days_bought=t.occupancy_days,
        avg_weekly_price_pence=weekly_average(t.occupancy_pence, t.occupancy_days),
        cost_avoided_pence=t.cost_avoided_pence,
    )


# -- the facts ---------------------------------------------------------------------------------


async def _benchmarks(conn: AsyncConnection, region: str) -> dict[int, int]:
    """``spot_benchmark_weekly_pence`` of every policy version of the region (0: the
    default), as :func:`coop.settlement.runs.terms_by_version` reads the terms."""
    out = {0: PolicyDocument().pricing.spot_benchmark_weekly_pence}
    rows = await conn.execute(
        sa.select(region_policies.c.version, region_policies.c.document).where(
            region_policies.c.region == region
        )
    )
    for version, document in rows:
        out[version] = msgspec.convert(document, PolicyDocument).pricing.spot_benchmark_weekly_pence
    return out


async def _completed_runs(conn: AsyncConnection, region: str) -> dict[date, str]:
    r = settlement_runs.c
    rows = await conn.execute(
        sa.select(r.period, r.id).where(r.region == region, r.status == "completed")
    )
    return {period: run_id for period, run_id in rows}


async def _add_settled(
    conn: AsyncConnection,
    run_ids: list[str],
    benchmarks: Mapping[int, int],
    pairs: dict[Pair, Tally],
) -> None:
    """The runs' invoice lines, summed per (seller, buyer) — occupancy lines per the
    booking's policy version and the line's days, so the benchmark is priced line by line."""
    if not run_ids:
        return
    l, i, b = invoice_lines.c, invoices.c, bookings.c  # noqa: E741
    occupancy = l.charge_kind == "occupancy"
    version = sa.case((occupancy, b.policy_version), else_=sa.null()).label("version")
    days = sa.case((occupancy, l.days), else_=sa.null()).label("days")
    rows = await conn.execute(
        sa.select(
            i.seller,
            i.buyer,
            version,
            days,
            sa.func.count().label("lines"),
            sa.func.sum(l.amount_pence).label("pence"),
        )
        .select_from(
            invoice_lines.join(invoices, i.id == l.invoice_id).join(bookings, b.id == l.booking_id)
        )
        .where(l.run_id.in_(run_ids))
        .group_by(i.seller, i.buyer, version, days)
    )
    for seller, buyer, v, d, n, pence in rows:
        tally = pairs.setdefault((seller, buyer), Tally())
        if d is None:  # notice and cancellation lines: pence only
            tally.add("other", 0, int(pence), 0, lines=int(n))
        else:
            tally.add(
                "occupancy", int(d), int(pence), benchmarks.get(v, benchmarks[0]), lines=int(n)
            )


def _intervals(windows: Sequence[tuple[date, date]]) -> list[tuple[date, date]]:
    """Adjacent windows joined."""
    out: list[tuple[date, date]] = []
    for lo, hi in windows:
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


async def _add_current(
    conn: AsyncConnection,
    region: str,
    windows: list[tuple[date, date]],
    run_month: date | None,
    benchmarks: Mapping[int, int],
    pairs: dict[Pair, Tally],
) -> None:
    """The charges for the days of ``windows`` from current facts, and — ``run_month`` being
    the month right after the latest settled one — the corrections of earlier months its run
    would post now."""
    if not windows and run_month is None:
        return
    b = bookings.c
    first = sa.func.least(b.start_date, sa.func.coalesce(b.actual_start_date, b.start_date))
    last = sa.func.greatest(b.end_date, sa.func.coalesce(b.actual_end_date, b.end_date))
    touches = [sa.and_(first < hi, last > lo) for lo, hi in _intervals(windows)]
    if run_month is not None:  # every booking the run would read (coop.settlement.runs)
        touches.append(b.start_date < next_month(run_month))
    rows = await conn.execute(
        sa.select(*FACT_COLUMNS).where(
            b.region == region,
            b.requester != b.owner,
            b.status.in_(sorted(CHARGED_STATUSES)),
            b.weekly_rate_pence.is_not(None),
            sa.or_(*touches),
        )
    )
    terms = await terms_by_version(conn, region)
    posted = await posted_lines(conn, region) if run_month is not None else {}
    for r in rows:
        facts = booking_facts(r)
        booking_terms = terms.get(r.policy_version, terms[0])
        bench = benchmarks.get(r.policy_version, benchmarks[0])
        tally = pairs.setdefault((r.owner, r.requester), Tally())
        spans = {kind: lo for kind, lo, _ in charged_days(facts, booking_terms)}
        for line in charges_in(facts, booking_terms, windows):
            before = (line.start - max(spans[line.kind], month_start(line.start))).days
            tally.add(line.kind, line.days, line.amount_pence, bench, before=before)
        if run_month is not None and r.start_date < next_month(run_month):
            due = lines_through(facts, booking_terms, next_month(run_month))
            for post in to_post(r.id, due, posted.get(r.id, {}), run_month):
                if post.month < run_month:  # its own month's days are in ``windows``
                    tally.add(post.charge_kind, post.days, post.amount_pence, bench)


# -- the report --------------------------------------------------------------------------------


async def income_report(
    engine: AsyncEngine, view: ReportView, start: date, end: date
) -> IncomeReport:
    """Income, spend and cost avoided per authority of ``view.region`` over ``[start, end)``
    (see the module's docstring for which lines count). A month is counted by what the
    ledger and the bookings say now, not by whether it has ended."""
    check_range(start, end)
    region = view.region
    pairs: dict[Pair, Tally] = {}
    async with engine.connect() as conn:
        # one snapshot: a run that completes meanwhile is wholly in the figures or wholly out
        await conn.execution_options(isolation_level="REPEATABLE READ")
        slugs = await region_authorities(conn, region)
        runs = await _completed_runs(conn, region)
        plan = plan_months(start, end, runs)
        benchmarks = await _benchmarks(conn, region)
        await _add_settled(
            conn, [runs[p.month] for p in plan if p.source == "settled"], benchmarks, pairs
        )
        run_month = next((p.month for p in plan if p.corrections), None)
        windows = [(p.lo, p.hi) for p in plan if p.source in ("partial", "projected")]
        await _add_current(conn, region, windows, run_month, benchmarks, pairs)
    latest = max(runs, default=None)
    return IncomeReport(
        region=region,
        from_=start,
        to=end,
        settled_through=period_of(latest) if latest else None,
        rows=[row_of(slug, pairs) for slug in slugs if view.sees(slug)],
        totals=totals_of(region, pairs),
    )


# -- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "level",
    "authority",
    "income_pence",
    "spend_pence",
    "net_pence",
    "bed_days_sold",
    "bed_days_bought",
    "avg_weekly_price_pence",
    "cost_avoided_pence",
]


def _cells(level: str, row: IncomeRow) -> list[object]:
    return [
        level,
        row.authority,
        row.income_pence,
        row.spend_pence,
        row.net_pence,
        row.bed_days_sold,
        row.bed_days_bought,
        "" if row.avg_weekly_price_pence is None else row.avg_weekly_price_pence,
        row.cost_avoided_pence,
    ]


def income_csv(report: IncomeReport) -> tuple[list[str], list[list[object]], str]:
    """One row per authority, then the region's totals (``level``: ``authority`` or
    ``region``); an average of no days is an empty cell."""
    rows = [_cells("authority", r) for r in report.rows]
    rows.append(_cells("region", report.totals))
    return CSV_COLUMNS, rows, f"income-{report.region}-{report.from_}-{report.to}.csv"
