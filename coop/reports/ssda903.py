"""SSDA903 episodes export (SPEC §5). (Being written.)"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from coop.auth.principal import Principal

EPISODE_COLUMNS = [
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
]


async def episodes(
    engine: AsyncEngine, principal: Principal, start: date, end: date
) -> tuple[list[str], list[list[object]], str]:
    raise NotImplementedError
