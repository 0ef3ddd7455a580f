"""Demand and unmet demand (SPEC §5). (Being written.)"""

from __future__ import annotations

from datetime import date

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.reports.scope import ReportView


class DemandReport(msgspec.Struct, kw_only=True):
    region: str


async def demand_report(
    engine: AsyncEngine, view: ReportView, start: date, end: date
) -> DemandReport:
    raise NotImplementedError


def demand_csv(report: DemandReport) -> tuple[list[str], list[list[object]], str]:
    raise NotImplementedError
