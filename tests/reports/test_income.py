"""``GET /reports/income``: income, spend and cost avoided per authority, with settled months
equal to their settlement's invoices and the others what their settlement would charge."""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.charges import Booking, Terms, lines_through, next_month
from coop.policy.money import charge
from coop.reports.income import (
    Tally,
    charges_in,
    month_windows,
    plan_months,
    weekly_average,
)
from tests.settlement.support import Market
from tests.support import Actor, assert_problem, child

DEFAULT_BENCHMARK = 768_800  # the default policy's spot_benchmark_weekly_pence

# The home costs £5,000 a week; the price is cost + 5% margin = 525,000p a week, i.e. 75,000p
# a day for a `planned` booking; a `today` placement (Market.place) adds the 10% emergency
# premium: 577,500p a week = 82,500p a day. Every charge below is a whole number of days.
PLANNED_DAY = 75_000
TODAY_DAY = 82_500


async def get_income(
    m: Market, start: str, end: str, actor: Actor | None = None, **headers: str
) -> Any:
    actor = actor or m.region.admin
    r = await m.http.get(
        f"/reports/income?region={m.region.slug}&from={start}&to={end}",
        headers={**actor.h, **headers},
    )
    assert r.status_code == 200, r.text
    return r


async def income(m: Market, start: str, end: str, actor: Actor | None = None) -> dict[str, Any]:
    return (await get_income(m, start, end, actor)).json()


def row(
    authority: str,
    income: int = 0,
    spend: int = 0,
    sold: int = 0,
    bought: int = 0,
    avg: int | None = None,
    avoided: int = 0,
) -> dict[str, Any]:
    return {
        "authority": authority,
        "income_pence": income,
        "spend_pence": spend,
        "net_pence": income - spend,
        "bed_days_sold": sold,
        "bed_days_bought": bought,
        "avg_weekly_price_pence": avg,
        "cost_avoided_pence": avoided,
    }


# -- a small history, every figure by hand -----------------------------------------------------


async def history(http, coop) -> tuple[Market, Actor]:
    """January and February 2026 in a region of three councils (nothing settled):

    * b1: `buyer` books bed 0 for 10 Jan - 1 Mar (confirmed), 75,000p a day, under policy v1
      (spot benchmark 840,000p a week = 120,000p a day);
    * b2: `buyer2` places a child in bed 1 on 20 Jan (`today`: 82,500p a day, v1), who leaves
      on 10 Feb, notice given on 1 Feb: notice runs to min(1 Apr, 1 Feb + 28 days) = 1 Mar;
    * then policy v2: spot benchmark 910,000p a week = 130,000p a day;
    * bc: `buyer` books bed 2 for 3 Feb - 31 Mar on 30 Jan and cancels on 1 Feb, two days
      before the start (the notice is 7 days): 7 cancellation days, 3-10 Feb, not bed-days;
    * b3: `buyer2` places a child in bed 3 on 15 Feb (`today`: 82,500p a day, under v2);
    * the seller places its own child in bed 4: never charged.
    """
    m = await Market.open(http, coop, date(2026, 1, 5), beds=5)
    buyer2 = await m.region.authority("buyer2")
    r = await http.put(
        f"/regions/{m.region.slug}/policy",
        json={
            "priority": {"home_window": "PT0S"},
            "pricing": {"spot_benchmark_weekly_pence": 840_000},
        },
        headers=m.region.admin.h,
    )
    assert r.status_code == 200, r.text
    b1 = await m.book(0, date(2026, 1, 10), date(2026, 3, 1))
    assert b1["weekly_rate_pence"] == 7 * PLANNED_DAY
    m.move_to(date(2026, 1, 20))
    b2 = await m.place(1, date(2026, 4, 1), buyer=buyer2, ref="case-2")
    assert b2["weekly_rate_pence"] == 7 * TODAY_DAY
    r = await http.patch(
        f"/regions/{m.region.slug}/policy",
        content=b'{"pricing": {"spot_benchmark_weekly_pence": 910000}}',
        headers={**m.region.admin.h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    m.move_to(date(2026, 1, 30))
    bc = await m.book(2, date(2026, 2, 3), date(2026, 3, 31), ref="case-3")
    m.move_to(date(2026, 2, 1))
    await m.cancel(bc)
    m.move_to(date(2026, 2, 10))
    await m.end(b2, date(2026, 2, 10), notice=date(2026, 2, 1), by=buyer2)
    m.move_to(date(2026, 2, 15))
    await m.relog()
    b3 = await m.place(3, date(2026, 5, 1), buyer=buyer2, ref="case-4")
    assert b3["weekly_rate_pence"] == 7 * TODAY_DAY
    await m.place(4, date(2026, 5, 1), buyer=m.seller, ref="own-1")
    return m, buyer2


async def test_a_small_history_every_figure_by_hand(http, coop, clock) -> None:
    m, buyer2 = await history(http, coop)
    seller, buyer, b2 = m.seller.authority, m.buyer.authority, buyer2.authority
    body = await income(m, "2026-01-01", "2026-03-01")
    # b1: 22 days in January (10 Jan - 1 Feb) + 28 in February = 50 days × 75,000
    b1_pence = 50 * PLANNED_DAY  # 3,750,000
    # b2: occupancy 20 Jan - 10 Feb = 12 + 9 = 21 days × 82,500; notice 10 Feb - 1 Mar = 19
    b2_occ, b2_notice = 21 * TODAY_DAY, 19 * TODAY_DAY  # 1,732,500 and 1,567,500
    bc_cancel = 7 * PLANNED_DAY  # 525,000
    b3_pence = 14 * TODAY_DAY  # 15 Feb - 1 Mar: 1,155,000
    # avoided: b1 50 × (120,000 - 75,000); b2 21 × (120,000 - 82,500); b3 14 × (130,000 -
    # 82,500) — each booking at the benchmark of the policy version it was priced under
    b1_avoided, b2_avoided, b3_avoided = 50 * 45_000, 21 * 37_500, 14 * 47_500
    assert body == {
        "region": m.region.slug,
        "from": "2026-01-01",
        "to": "2026-03-01",
        "settled_through": None,
        "rows": sorted(
            [
                row(
                    seller,
                    income=b1_pence + b2_occ + b2_notice + bc_cancel + b3_pence,  # 8,730,000
                    sold=50 + 21 + 14,
                    # occupancy sold: 3,750,000 + 1,732,500 + 1,155,000 = 6,637,500 for 85
                    # bed-days: × 7 / 85 = 546,617.6…, rounded half-up
                    avg=546_618,
                ),
                row(
                    buyer,
                    spend=b1_pence + bc_cancel,
                    bought=50,
                    avg=525_000,
                    avoided=b1_avoided,
                ),
                row(
                    b2,
                    spend=b2_occ + b2_notice + b3_pence,
                    bought=21 + 14,
                    avg=577_500,  # (1,732,500 + 1,155,000) × 7 / 35
                    avoided=b2_avoided + b3_avoided,
                ),
            ],
            key=lambda r: r["authority"],
        ),
        "totals": row(
            m.region.slug,
            income=8_730_000,
            spend=8_730_000,
            sold=85,
            bought=85,
            avg=546_618,
            avoided=b1_avoided + b2_avoided + b3_avoided,  # 3,702,500
        ),
    }


async def test_part_of_a_month_and_a_range_with_nothing(http, coop, clock) -> None:
    m, buyer2 = await history(http, coop)
    seller, buyer, b2 = m.seller.authority, m.buyer.authority, buyer2.authority
    # 25 Jan - 5 Feb: January's last 7 days and February's first 4, each priced on its own
    # b1 and b2: 7 + 4 = 11 bed-days each; bc: 3-5 Feb, 2 cancellation days; b3: none yet
    body = await income(m, "2026-01-25", "2026-02-05")
    b1, b2_pence = 11 * PLANNED_DAY, 11 * TODAY_DAY  # 825,000 and 907,500
    assert body["rows"] == sorted(
        [
            row(seller, income=b1 + b2_pence + 2 * PLANNED_DAY, sold=22, avg=551_250),
            row(buyer, spend=b1 + 2 * PLANNED_DAY, bought=11, avg=525_000, avoided=11 * 45_000),
            row(b2, spend=b2_pence, bought=11, avg=577_500, avoided=11 * 37_500),
        ],
        key=lambda r: r["authority"],
    )
    # (825,000 + 907,500) × 7 / 22 = 551,250
    assert body["totals"] == row(
        m.region.slug,
        income=1_882_500,
        spend=1_882_500,
        sold=22,
        bought=22,
        avg=551_250,
        avoided=11 * 45_000 + 11 * 37_500,
    )
    # a range the region traded nothing in: every authority, all zeros, no average
    body = await income(m, "2025-06-01", "2025-07-15")
    assert body["settled_through"] is None
    assert body["rows"] == [row(a) for a in sorted([seller, buyer, b2])]
    assert body["totals"] == row(m.region.slug)


# -- settled months are their invoices; the next one is what its run will post -----------------


def from_invoices(invoices: list[dict[str, Any]], authority: str) -> dict[str, Any]:
    """An authority's figures recomputed from invoices (every line bought at the default
    benchmark: the region never changed it)."""
    income = sum(i["total_pence"] for i in invoices if i["seller"] == authority)
    spend = sum(i["total_pence"] for i in invoices if i["buyer"] == authority)
    days = defaultdict(int)
    pence = 0
    avoided = 0
    for inv in invoices:
        for line in inv["lines"]:
            if line["charge_kind"] != "occupancy":
                continue
            for side in ("seller", "buyer"):
                if inv[side] == authority:
                    days[side] += line["days"]
                    pence += line["amount_pence"]
            if inv["buyer"] == authority:
                d = line["days"]
                bench = charge(DEFAULT_BENCHMARK, d) if d >= 0 else -charge(DEFAULT_BENCHMARK, -d)
                avoided += bench - line["amount_pence"]
    n = days["seller"] + days["buyer"]
    return row(
        authority,
        income=income,
        spend=spend,
        sold=days["seller"],
        bought=days["buyer"],
        avg=(2 * pence * 7 + n) // (2 * n) if n else None,
        avoided=avoided,
    )


def rows_without_settled_through(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "settled_through"}


async def test_settled_months_are_their_invoices_and_the_next_is_its_run(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 1, 10))
    buyer2 = await m.region.authority("buyer2")
    await m.no_home_window()
    b1 = await m.place(0, date(2026, 4, 1))  # from 10 Jan, 82,500p a day
    m.move_to(date(2026, 1, 20))
    await m.place(1, date(2026, 3, 15), buyer=buyer2, ref="case-2")  # b2: from 20 Jan
    m.move_to(date(2026, 2, 2))
    jan = await m.settle("2026-01")
    jan_invoices = await m.invoices(jan)
    slugs = sorted([m.seller.authority, m.buyer.authority, buyer2.authority])

    body = await income(m, "2026-01-01", "2026-02-01")
    assert body["settled_through"] == "2026-01"
    assert body["rows"] == [from_invoices(jan_invoices, a) for a in slugs]
    # b1 22 days, b2 12 days, both at 82,500p a day
    assert body["totals"]["income_pence"] == 34 * TODAY_DAY
    assert body["totals"]["bed_days_sold"] == 34

    # what January's run did not know: b1's child left on 28 Jan (recorded on 12 Feb, notice
    # the same day: 4 days fewer in January, notice 28 Jan - 25 Feb, 4 days of it in January),
    # and a placement from 1 Dec 2025, imported now (December and January are adjustments)
    m.move_to(date(2026, 2, 12))
    await m.relog()
    await m.end(b1, date(2026, 1, 28), notice=date(2026, 1, 28))
    r = await http.post(
        "/bookings/import",
        json=[
            {
                "requester": buyer2.authority,
                "bed_id": m.home["beds"][2]["id"],
                "child": child(ref="imported-1"),
                "start_date": "2025-12-01",
                "end_date": "2026-06-30",
                "weekly_rate_pence": 700_000,
                "status": "active",
            }
        ],
        headers=m.region.admin.h,
    )
    assert r.status_code == 201, r.text

    # January, settled, does not move: it is its invoices still
    assert (await income(m, "2026-01-01", "2026-02-01"))["rows"] == [
        from_invoices(jan_invoices, a) for a in slugs
    ]
    # December has no run and is before the latest settled month: nothing (its days will be
    # invoiced by February's run, as adjustments, and counted there)
    december = await income(m, "2025-12-01", "2026-01-01")
    assert december["rows"] == [row(a) for a in slugs]
    # February, not settled: what February's run would post now
    before = await income(m, "2026-02-01", "2026-03-01")
    assert before["settled_through"] == "2026-01"

    m.move_to(date(2026, 3, 2))
    await m.relog()
    feb = await m.settle("2026-02")
    feb_invoices = await m.invoices(feb)
    kinds = {(x["kind"], x["charge_kind"]) for i in feb_invoices for x in i["lines"]}
    assert ("adjustment", "occupancy") in kinds and ("adjustment", "notice") in kinds
    after = await income(m, "2026-02-01", "2026-03-01")
    assert after["settled_through"] == "2026-02"
    assert rows_without_settled_through(after) == rows_without_settled_through(before)
    assert after["rows"] == [from_invoices(feb_invoices, a) for a in slugs]
    # the adjustments by hand: b1 -4 days and +4 notice days in January, February's 24 notice
    # days; the import: December 31 days + January 31 days + February 28, 100,000p a day
    imported = (31 + 31 + 28) * 100_000
    b1_feb = -4 * TODAY_DAY + 4 * TODAY_DAY + 24 * TODAY_DAY
    b2_feb = 28 * TODAY_DAY
    assert after["totals"]["income_pence"] == imported + b1_feb + b2_feb
    assert after["totals"]["bed_days_sold"] == 31 + 31 + 28 - 4 + 28
    # two settled months together: both runs' invoices
    both = await income(m, "2026-01-01", "2026-03-01")
    assert both["rows"] == [from_invoices(jan_invoices + feb_invoices, a) for a in slugs]
    assert both["totals"]["income_pence"] == sum(
        i["total_pence"] for i in jan_invoices + feb_invoices
    )


async def test_a_skipped_month_is_counted_by_the_run_that_invoiced_it(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 1, 10))
    await m.place(0, date(2026, 6, 1))  # 82,500p a day from 10 Jan
    m.move_to(date(2026, 4, 2))
    await m.relog()
    march = await m.settle("2026-03")  # January and February were never settled
    invoices = await m.invoices(march)
    assert (await income(m, "2026-01-01", "2026-03-01"))["totals"] == row(m.region.slug)
    body = await income(m, "2026-03-01", "2026-04-01")
    assert body["totals"]["income_pence"] == sum(i["total_pence"] for i in invoices)
    assert body["totals"]["bed_days_sold"] == 22 + 28 + 31  # January's from the 10th
    assert body["totals"]["income_pence"] == (22 + 28 + 31) * TODAY_DAY
    # the whole year so far: the same (January and February are inside March's run)
    year = await income(m, "2026-01-01", "2026-04-01")
    assert year["totals"] == body["totals"]
    # ranges that cut months count each invoice once, in the range holding its month's last
    # day: a shorter range never counts more, and two ranges side by side add up
    for start in ("2026-01-10", "2026-01-31", "2026-02-15", "2026-03-31"):
        assert (await income(m, start, "2026-04-01"))["totals"] == body["totals"], start
    for end in ("2026-01-11", "2026-02-15", "2026-03-31"):
        assert (await income(m, "2026-01-01", end))["totals"] == row(m.region.slug), end
    left = await income(m, "2026-01-01", "2026-03-15")
    right = await income(m, "2026-03-15", "2026-04-01")
    assert left["totals"]["income_pence"] + right["totals"]["income_pence"] == sum(
        i["total_pence"] for i in invoices
    )


# -- CSV ---------------------------------------------------------------------------------------


async def test_csv_has_the_json_figures(http, coop, clock) -> None:
    m, _ = await history(http, coop)
    body = await income(m, "2026-01-01", "2026-03-01")
    r = await get_income(m, "2026-01-01", "2026-03-01", Accept="text/csv")
    assert r.headers["content-type"].startswith("text/csv"), r.headers
    assert (
        r.headers["content-disposition"]
        == f'attachment; filename="income-{m.region.slug}-2026-01-01-2026-03-01.csv"'
    )
    header, *lines = list(csv.reader(io.StringIO(r.text)))
    assert header == [
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
    expected = [("authority", x) for x in body["rows"]] + [("region", body["totals"])]
    assert len(lines) == len(expected) == 4
    for line, (level, figures) in zip(lines, expected, strict=True):
        cells = dict(zip(header, line, strict=True))
        assert cells.pop("level") == level
        assert cells.pop("authority") == figures["authority"]
        parsed = {k: (int(v) if v != "" else None) for k, v in cells.items()}
        assert parsed == {k: v for k, v in figures.items() if k != "authority"}
    # no days: an empty cell
    r = await get_income(m, "2025-06-01", "2025-07-01", Accept="text/csv")
    _, *lines = list(csv.reader(io.StringIO(r.text)))
    assert [line[7] for line in lines] == ["", "", "", ""]
    assert lines[-1][:2] == ["region", m.region.slug]


# -- who sees what -----------------------------------------------------------------------------


async def test_who_sees_which_rows(http, coop, clock) -> None:
    m, buyer2 = await history(http, coop)
    everyone = await income(m, "2026-01-01", "2026-03-01")  # the region's admin: every row
    assert [r["authority"] for r in everyone["rows"]] == sorted(
        [m.seller.authority, m.buyer.authority, buyer2.authority]
    )
    mine = await income(m, "2026-01-01", "2026-03-01", actor=m.buyer)
    assert mine["rows"] == [r for r in everyone["rows"] if r["authority"] == m.buyer.authority]
    assert mine["totals"] == everyone["totals"]
    # another region
    other = await Market.open(http, coop, date(2026, 2, 15))
    r = await http.get(
        f"/reports/income?region={other.region.slug}&from=2026-01-01&to=2026-03-01",
        headers=m.buyer.h,
    )
    assert_problem(r, 403, "other_region")
    # no reports:read
    reader = await m.region.client(m.buyer.authority, ["market:read", "finance:read"])
    r = await http.get(
        f"/reports/income?region={m.region.slug}&from=2026-01-01&to=2026-03-01",
        headers=reader.h,
    )
    assert_problem(r, 403, "insufficient_scope")


# -- the pure part -----------------------------------------------------------------------------

STATUSES = ["confirmed", "active", "ended", "cancelled"]


@st.composite
def bookings_(draw: st.DrawFn) -> Booking:
    start = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 500)))
    end = start + timedelta(days=draw(st.integers(1, 400)))
    status = draw(st.sampled_from(STATUSES))
    actual_end = notice = cancelled = None
    if status == "ended":
        actual_end = start + timedelta(days=draw(st.integers(0, (end - start).days)))
        notice = actual_end - timedelta(days=draw(st.integers(0, 20)))
    if status == "cancelled":
        cancelled = start + timedelta(days=draw(st.integers(-30, 30)))
    return Booking(
        id="b",
        requester="leeds",
        owner="york",
        status=status,
        start_date=start,
        end_date=end,
        actual_end_date=actual_end,
        notice_date=notice,
        cancelled_on=cancelled,
        weekly_rate_pence=draw(st.integers(0, 2_000_000)),
    )


def figures(booking: Booking, start: date, end: date, benchmark: int) -> Tally:
    t = Tally()
    for line in charges_in(booking, Terms(), month_windows(start, end)):
        t.add(line.kind, line.days, line.amount_pence, benchmark)
    return t


@settings(max_examples=20, deadline=None)
@given(
    booking=bookings_(),
    first=st.integers(0, 24),
    cuts=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    benchmark=st.integers(1, 2_000_000),
)
def test_consecutive_whole_months_add_up_to_their_union(
    booking: Booking, first: int, cuts: list[int], benchmark: int
) -> None:
    bounds = [date(2025 + first // 12, first % 12 + 1, 1)]
    for n in cuts:
        month = bounds[-1]
        for _ in range(n):
            month = next_month(month)
        bounds.append(month)
    parts = Tally()
    for lo, hi in itertools.pairwise(bounds):
        parts.merge(figures(booking, lo, hi, benchmark))
    assert parts == figures(booking, bounds[0], bounds[-1], benchmark)
    # and a whole month is settlement's own line: the union is lines_through's lines
    due = [x for x in lines_through(booking, Terms(), bounds[-1]) if x.start >= bounds[0]]
    assert parts.pence == sum(x.amount_pence for x in due)


@settings(max_examples=20, deadline=None)
@given(
    start=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    days=st.integers(1, 800),
    settled=st.sets(st.integers(0, 59), max_size=12),
)
def test_every_day_of_the_range_is_in_one_month_of_the_plan(
    start: date, days: int, settled: set[int]
) -> None:
    end = start + timedelta(days=days)
    completed = {date(2024 + n // 12, n % 12 + 1, 1) for n in settled}
    plan = plan_months(start, end, completed)
    assert plan[0].lo == start and plan[-1].hi == end
    assert all(a.hi == b.lo for a, b in itertools.pairwise(plan))
    latest = max(completed, default=None)
    for p in plan:
        whole = p.lo == p.month and p.hi == next_month(p.month)
        holds_last_day = p.hi == next_month(p.month)
        if latest is not None and p.month <= latest:
            assert p.source == ("settled" if p.month in completed and holds_last_day else "skipped")
        else:
            assert p.source == ("projected" if whole else "partial")
    assert sum(p.corrections for p in plan) <= 1
    for p in plan:
        if p.corrections:
            assert latest is not None and p.month == next_month(latest)
            assert p.hi == next_month(p.month)


def counted(plan: list) -> tuple[list, list, list]:
    """What a plan counts: settled months (whole runs), days priced from facts (merged), and
    the month whose run's corrections are counted."""
    runs = [p.month for p in plan if p.source == "settled"]
    days: list[tuple[date, date]] = []
    for p in plan:
        if p.source in ("projected", "partial"):
            if days and days[-1][1] == p.lo:
                days[-1] = (days[-1][0], p.hi)
            else:
                days.append((p.lo, p.hi))
    return runs, days, [p.month for p in plan if p.corrections]


@settings(max_examples=40, deadline=None)
@given(
    start=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    first=st.integers(1, 400),
    second=st.integers(1, 400),
    settled=st.sets(st.integers(0, 59), max_size=12),
)
def test_two_ranges_side_by_side_count_what_their_union_counts(
    start: date, first: int, second: int, settled: set[int]
) -> None:
    completed = {date(2024 + n // 12, n % 12 + 1, 1) for n in settled}
    middle = start + timedelta(days=first)
    end = middle + timedelta(days=second)
    left, right = (
        counted(plan_months(start, middle, completed)),
        counted(plan_months(middle, end, completed)),
    )
    union = counted(plan_months(start, end, completed))
    days = left[1] + right[1]
    if len(days) >= 2 and left[1] and right[1] and left[1][-1][1] == right[1][0][0]:
        days = [*left[1][:-1], (left[1][-1][0], right[1][0][1]), *right[1][1:]]
    assert (left[0] + right[0], days, left[2] + right[2]) == union


def test_weekly_average_rounds_half_up() -> None:
    assert weekly_average(0, 0) is None
    assert weekly_average(1, 14) == 1  # 0.5 → 1
    assert weekly_average(-1, 14) == -1  # a range of adjustments only: half away from zero
    assert weekly_average(6_637_500, 85) == 546_618


def test_the_rule_of_each_month() -> None:
    settled = {date(2026, 2, 1), date(2026, 4, 1)}
    plan = plan_months(date(2026, 1, 15), date(2026, 6, 10), settled)
    assert [(p.month.month, p.lo.day, p.hi, p.source, p.corrections) for p in plan] == [
        (1, 15, date(2026, 2, 1), "skipped", False),  # January was invoiced by February's run
        (2, 1, date(2026, 3, 1), "settled", False),  # February's run's invoices
        (3, 1, date(2026, 4, 1), "skipped", False),  # invoiced by April's run
        (4, 1, date(2026, 5, 1), "settled", False),
        (5, 1, date(2026, 6, 1), "projected", True),  # the next run: with the corrections
        (6, 1, date(2026, 6, 10), "partial", False),
    ]
    # a settled month counts whole in the range that holds its last day, not in the other
    split = [
        (p.month.month, p.source)
        for p in plan_months(date(2026, 2, 10), date(2026, 2, 20), settled)
        + plan_months(date(2026, 2, 20), date(2026, 3, 1), settled)
    ]
    assert split == [(2, "skipped"), (2, "settled")]
    # the month after the latest settled one carries the corrections in the part that holds
    # its last day
    parts = plan_months(date(2026, 5, 1), date(2026, 5, 10), settled) + plan_months(
        date(2026, 5, 10), date(2026, 6, 1), settled
    )
    assert [(p.source, p.corrections) for p in parts] == [("partial", False), ("partial", True)]
    # with no run at all, every whole month is what its run would post, no corrections
    assert {
        (p.source, p.corrections) for p in plan_months(date(2026, 1, 1), date(2027, 1, 1), [])
    } == {("projected", False)}
