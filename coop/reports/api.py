"""``/reports/*`` and ``/exports/ssda903``: the board's figures, as JSON or CSV."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from coop.auth.guards import requires
from coop.clock import local_date
from coop.http import Caller, CoopDep, csv_response, wants_csv
from coop.openapi import api
from coop.reports import capacity, demand, income, ssda903
from coop.reports.scope import (
    authority_guard,
    other_region_guard,
    report_view,
)
from coop.schemas import Slug

T = TypeVar("T")
READ = [requires("reports:read")]
CSV_TOO = api(csv=True)

RegionParam = Annotated[
    str | None, QueryParameter(description="Your region (the default; another is a 403)")
]
FromParam = Annotated[date, QueryParameter(name="from", description="First day")]
ToParam = Annotated[date, QueryParameter(description="Day after the last (exclusive)")]


def _answer(request: Request, report: T, table: Callable[[T], tuple]) -> Response:
    """The report as JSON, or as CSV (``table`` makes its rows) when the caller asks."""
    if wants_csv(request):
        return csv_response(*table(report))
    return Response(report)


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]
    guards = [*READ, other_region_guard]

    @get(
        "/capacity",
        operation_id="getCapacityReport",
        opt=CSV_TOO,
        summary="Capacity on a day: every bed in one state",
        description="Per authority and per home, on `on` (default today): `registered`, "
        "`operational`, `out_of_use` by reason, `occupied_own`, `occupied_sold`, `reserved`, "
        "`vacant_offered`, `vacant_not_offered` and `occupancy_pct` (occupied / operational); "
        "`totals` for the region. Every registered bed is in exactly one of the last five "
        "states or out of use. A region-level client sees every authority; an authority's "
        "client its own row and the region's totals. `Accept: text/csv`: one row per "
        "authority and per home, then the region's.",
    )
    async def capacity_on(
        self,
        request: Request,
        coop: CoopDep,
        principal: Caller,
        region: RegionParam = None,
        on: Annotated[date | None, QueryParameter(description="The day (default today)")] = None,
    ) -> Response[capacity.CapacityReport]:
        view = report_view(principal, region)
        day = on or local_date(coop.clock.now())
        report = await capacity.capacity_on(coop.engine, view, day)
        return _answer(request, report, capacity.capacity_csv)

    @get(
        "/capacity/series",
        operation_id="getCapacitySeries",
        opt=api(csv=True, problems=(404,)),
        summary="Capacity over time, in bed-days",
        description="The capacity report's states in bed-days per `week` (from `from`) or "
        "calendar `month` of `[from, to)`, with occupancy %. A step's bed-days are the sum of "
        "its days' reports. The region's by default; `authority` narrows it to one (an "
        "authority's client: its own only; one not in your region is a 404). At most ten "
        "years (422 `range_too_long`).",
    )
    async def capacity_series(
        self,
        request: Request,
        coop: CoopDep,
        principal: Caller,
        from_: FromParam,
        to: ToParam,
        region: RegionParam = None,
        step: Annotated[
            capacity.Step, QueryParameter(description="`week` or `month` (the default)")
        ] = "month",
        authority: Annotated[
            Slug | None, QueryParameter(description="One authority's beds only")
        ] = None,
    ) -> Response[capacity.CapacitySeries]:
        view = report_view(principal, region)
        series = await capacity.capacity_series(coop.engine, view, from_, to, step, authority)
        return _answer(request, series, capacity.series_csv)

    @get(
        "/income",
        operation_id="getIncomeReport",
        opt=CSV_TOO,
        summary="Income, spend and cost avoided per authority",
        description="Per authority over `[from, to)`: `income_pence` from voids sold, "
        "`spend_pence` on beds bought, `net_pence`, `bed_days_sold`, `bed_days_bought`, "
        "`avg_weekly_price_pence` and `cost_avoided_pence` (the policy's "
        "`spot_benchmark_weekly_pence` minus the price paid, over the days bought). A month "
        "already settled counts exactly that settlement's invoices. `Accept: text/csv`: one "
        "row per authority, then the region's.",
    )
    async def income(
        self,
        request: Request,
        coop: CoopDep,
        principal: Caller,
        from_: FromParam,
        to: ToParam,
        region: RegionParam = None,
    ) -> Response[income.IncomeReport]:
        view = report_view(principal, region)
        report = await income.income_report(coop.engine, view, from_, to)
        return _answer(request, report, income.income_csv)

    @get(
        "/demand",
        operation_id="getDemandReport",
        opt=CSV_TOO,
        summary="Requests, outcomes, time to offer and unmet demand",
        description="Requests made in `[from, to)`: by need code, risk code and urgency; "
        "their outcomes; median and 90th-percentile time from request to offer; the "
        "in-region fill rate; and unmet demand (requests the cooperative could not place, by "
        "need and risk code, with the rule that failed most). `Accept: text/csv`: one row "
        "per authority, then the region's.",
    )
    async def demand(
        self,
        request: Request,
        coop: CoopDep,
        principal: Caller,
        from_: FromParam,
        to: ToParam,
        region: RegionParam = None,
    ) -> Response[demand.DemandReport]:
        view = report_view(principal, region)
        report = await demand.demand_report(coop.engine, view, from_, to)
        return _answer(request, report, demand.demand_csv)


class ExportController(Controller):
    path = "/exports"
    tags = ["reports"]
    guards = [*READ, authority_guard]

    @get(
        "/ssda903",
        operation_id="getSsdaEpisodes",
        opt=api(csv_only=True),
        media_type="text/csv",
        summary="Your placements through the cooperative, as SSDA903 episodes",
        description="For the caller's own authority (a region-level client is a 403 "
        "`authority_required`): one row per placement it made through the cooperative "
        "that was live in `[from, to)`, with exactly the 13 columns of the DfE's SSDA903 "
        "Episodes table. Dates are `dd/mm/yyyy`; `PLACE` is `K2`; `PLACE_PROVIDER` is `PR1` "
        "(own provision) or `PR2` (another council's); `URN` and `PL_POST` are the home's. "
        "`RNE`, `LS`, `CIN` and `HOME_POST` are left blank for the council's case system.",
    )
    async def ssda903(
        self, coop: CoopDep, principal: Caller, from_: FromParam, to: ToParam
    ) -> Response[str]:
        return csv_response(*await ssda903.episodes(coop.engine, principal, from_, to))
