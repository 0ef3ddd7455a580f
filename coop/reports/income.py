"""Income and cost avoided per authority (SPEC §5). (Being written.)"""

from __future__ import annotations

from datetime import date

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.reports.scope import ReportView


class IncomeReport(msgspec.Struct, kw_only=True):
    region: str


async def income_report(
    engine: AsyncEngine, view: ReportView, start: date, end: date, *, today: date
) -> IncomeReport:
    raise NotImplementedError


def income_csv(report: IncomeReport) -> tuple[list[str], list[list[object]], str]:
    raise NotImplementedError
