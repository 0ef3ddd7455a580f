"""Who sees what in the reports, decided in one place (SPEC §5, "reports:read").

A region-level ``reports:read`` client sees every authority of its region; an authority's
client sees its own rows and the region's totals; nobody sees another region. No report
carries a child profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.auth.principal import Principal, require_authority
from coop.db.schema import authorities
from coop.errors import Problem, invalid

#: the longest range a report covers (a series of days would otherwise be unbounded)
MAX_RANGE_DAYS = 366 * 10


@dataclass(frozen=True)
class ReportView:
    """The region a caller reads, and ``authority`` when its rows are only its own."""

    region: str
    authority: str | None

    def sees(self, authority: str) -> bool:
        """Whether the caller may see ``authority``'s own rows."""
        return self.authority is None or self.authority == authority


def report_view(principal: Principal, region: str | None) -> ReportView:
    """The caller's view of ``region`` (its own by default; another region is a 403)."""
    _own_region(principal, [] if region is None else [region])
    return ReportView(principal.region, principal.authority)


def _own_region(principal: Principal, asked: list[str]) -> None:
    if any(region != principal.region for region in asked):
        raise Problem(403, "other_region", "You can read your own region's reports only.")


# Guards run before the edge checks the parameters: a caller who may not ask hears so before
# anything about what it asked (a 403 before a 422).


def other_region_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """``region=`` of another region: 403 ``other_region``."""
    if connection.scope.get("method") == "OPTIONS":
        return  # the automatic OPTIONS answer lists methods only (and carries no token)
    _own_region(connection.user, connection.query_params.getall("region", []))


def authority_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Only an authority's client: 403 ``authority_required``."""
    if connection.scope.get("method") == "OPTIONS":
        return
    require_authority(connection.user)


def own_authority(view: ReportView, authority: str | None) -> str | None:
    """The one authority a report is narrowed to: ``None`` for the whole region. An
    authority's client may narrow to itself only."""
    if authority is not None and view.authority is not None and authority != view.authority:
        raise Problem(
            403, "other_authority", "You can read your own authority's rows and the region's."
        )
    return authority


def check_range(start: date, end: date) -> None:
    """``[from, to)`` must hold at least a day and at most ten years."""
    if end <= start:
        raise invalid("to", "`to` must be after `from` (the range is [from, to)).")
    if (end - start).days > MAX_RANGE_DAYS:
        raise invalid(
            "to",
            f"A report covers at most {MAX_RANGE_DAYS} days (ten years): ask for less.",
            code="range_too_long",
        )


async def region_authorities(conn: AsyncConnection, region: str) -> list[str]:
    """The slugs of the region's authorities, in order: every report has a row for each."""
    rows = await conn.scalars(
        sa.select(authorities.c.slug)
        .where(authorities.c.region == region)
        .order_by(authorities.c.slug)
    )
    return list(rows)
