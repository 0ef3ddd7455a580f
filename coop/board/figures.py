"""What the board page shows: the reports' own figures, gathered for one page.

Nothing is computed here that the reports do not compute: every figure on the page is a
field of ``/reports/capacity``, ``/reports/capacity/series``, ``/reports/income`` or
``/reports/demand`` for the same caller and dates (docs/reports.md defines each). This
module only picks them, names them for people and draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.board import charts
from coop.db.schema import authorities
from coop.reports import capacity, demand, income
from coop.reports.scope import ReportView

#: the capacity states, in the order the reports and the stacked bars use them
STATES: tuple[tuple[str, str], ...] = (
    ("occupied_own", "Occupied by own child"),
    ("occupied_sold", "Occupied, sold"),
    ("reserved", "Reserved"),
    ("vacant_offered", "Vacant, offered"),
    ("vacant_not_offered", "Vacant, not offered"),
    ("out_of_use", "Out of use"),
)

#: words a place name keeps in lower case
SMALL_WORDS = frozenset({"of", "and", "the", "on", "upon", "in"})


def region_name(slug: str) -> str:
    """A region's slug for people: ``east-of-england`` → ``East of England``."""
    words = slug.split("-")
    return " ".join(
        w if i and w in SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Dates:
    """The page's dates: capacity ``on`` a day; money and demand over ``[start, end)``."""

    on: date
    start: date
    end: date

    @classmethod
    def default(cls, today: date) -> Dates:
        """Capacity today; the twelve whole months before this one."""
        end = today.replace(day=1)
        return cls(on=today, start=add_months(end, -12), end=end)

    @property
    def series(self) -> tuple[date, date]:
        """The occupancy series: the twelve months to the capacity day's, up to that day."""
        return add_months(self.on, -11), self.on + timedelta(days=1)

    @property
    def label(self) -> str:
        """The period for people: its first and last days (``end`` is not in it)."""
        last = self.end - timedelta(days=1)
        return f"{self.start:%-d %B %Y} to {last:%-d %B %Y}"

    def query(self, region: str) -> dict[str, str]:
        return {
            "region": region,
            "on": self.on.isoformat(),
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
        }


def pounds(pence: int | None) -> str:
    """Whole pence as £ with thousands separators: ``-123456`` → ``−£1,234.56``."""
    if pence is None:
        return "—"
    sign = "−" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}£{whole:,}.{part:02d}"


def whole_pounds(pence: int | None) -> str:
    """Pence as whole pounds, rounded half-up (away from zero): ``1234550`` → ``£12,346``."""
    if pence is None:
        return "—"
    sign = "−" if pence < 0 else ""
    return f"{sign}£{(abs(pence) + 50) // 100:,}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def month_label(day: date) -> str:
    return day.strftime("%b %Y")


@dataclass
class Board:
    """Everything the page shows, for one caller and one set of dates."""

    view: ReportView
    dates: Dates
    names: dict[str, str]
    capacity: capacity.CapacityReport
    series: capacity.CapacitySeries
    own_series: capacity.CapacitySeries | None
    income: income.IncomeReport
    demand: demand.DemandReport
    charts: dict[str, charts.Chart] = field(default_factory=dict)

    def name(self, slug: str) -> str:
        return self.names.get(slug, slug)

    @property
    def headline(self) -> dict[str, Any]:
        t = self.capacity.totals
        return {
            "registered": t.registered,
            "operational": t.operational,
            "gap": t.registered - t.operational,
            "occupancy_pct": t.occupancy_pct,
            "income_pence": self.income.totals.income_pence,
            "cost_avoided_pence": self.income.totals.cost_avoided_pence,
            "unmet": self.demand.totals.unmet.requests,
        }

    @property
    def unmet_by_need(self) -> list[tuple[str, int, int, str | None]]:
        """(need code, requests with it, unmet ones, nearest miss), needs asked for only."""
        totals = self.demand.totals
        return [
            (code, totals.by_need.get(code, 0), unmet.requests, unmet.nearest_miss)
            for code, unmet in sorted(totals.unmet.by_need.items())
            if totals.by_need.get(code, 0) or unmet.requests
        ]


async def _names(engine: AsyncEngine, region: str) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(authorities.c.slug, authorities.c.name).where(authorities.c.region == region)
        )
        return {r.slug: r.name for r in rows}


async def gather(engine: AsyncEngine, view: ReportView, dates: Dates) -> Board:
    """The four reports for ``view`` (the same services as the API), and the charts."""
    # One report after another: a page takes one pooled connection at a time, so people
    # refreshing the board never starve the API's pool.
    start, end = dates.series
    cap = await capacity.capacity_on(engine, view, dates.on)
    series = await capacity.capacity_series(engine, view, start, end, "month")
    own = (
        await capacity.capacity_series(engine, view, start, end, "month", view.authority)
        if view.authority
        else None
    )
    inc = await income.income_report(engine, view, dates.start, dates.end)
    dem = await demand.demand_report(engine, view, dates.start, dates.end)
    names = await _names(engine, view.region)
    board = Board(view, dates, names, cap, series, own, inc, dem)
    board.charts = draw(board)
    return board


def draw(b: Board) -> dict[str, charts.Chart]:
    cap_rows = b.capacity.rows
    labels = [b.name(r.authority) for r in cap_rows]

    def state(r: capacity.Figures, key: str) -> int:
        return sum(r.out_of_use.values()) if key == "out_of_use" else getattr(r, key)

    out: dict[str, charts.Chart] = {}
    out["capacity"] = charts.stacked_bars(
        labels,
        [(title, [state(r, key) for r in cap_rows]) for key, title in STATES],
        y_title="Beds",
        alt=f"Stacked bar chart: each authority's beds on {b.dates.on:%-d %B %Y} by state "
        "(occupied by its own child, sold, reserved, vacant and offered, vacant and not "
        "offered, out of use). The table below gives every figure.",
    )
    steps = b.series.rows
    lines = [("Region", [s.occupancy_pct for s in steps])]
    if b.own_series is not None:
        lines.append((b.name(b.view.authority or ""), [s.occupancy_pct for s in b.own_series.rows]))
    first, last = (month_label(steps[0].from_), month_label(steps[-1].from_)) if steps else ("", "")
    own = (
        f" A second, dashed line shows {b.name(b.view.authority or '')}'s own homes."
        if b.own_series is not None
        else ""
    )
    out["occupancy"] = charts.lines(
        [month_label(s.from_) for s in steps],
        lines,
        y_title="Occupancy %",
        alt="Line chart: the region's occupancy (occupied bed-days as a percentage of "
        f"operational bed-days) for each month from {first} to {last}, up to "
        f"{b.dates.on:%-d %B %Y}.{own} The table below gives every month's figure.",
    )
    inc_rows = b.income.rows
    out["income"] = charts.bars(
        [b.name(r.authority) for r in inc_rows],
        [
            ("Income (£)", [r.income_pence / 100 for r in inc_rows]),
            ("Spend (£)", [r.spend_pence / 100 for r in inc_rows]),
            ("Cost avoided (£)", [r.cost_avoided_pence / 100 for r in inc_rows]),
        ],
        y_title="£",
        money=True,
        alt="Bar chart: each authority's income from beds sold, spend on beds bought and "
        "cost avoided against the spot-market benchmark, in pounds, from "
        f"{b.dates.label}. The table below gives every figure.",
    )
    unmet = b.unmet_by_need
    if not any(n for _code, _asked, n, _miss in unmet):
        return out  # nothing unmet: the table says so, a chart of zeros would not
    out["unmet"] = charts.bars(
        [code for code, *_ in unmet],
        [("Unmet requests", [n for _code, _asked, n, _miss in unmet])],
        y_title="Requests",
        alt="Bar chart: requests the cooperative could not place, by the child's need code, "
        f"from {b.dates.label}. The table below gives every figure.",
    )
    return out
