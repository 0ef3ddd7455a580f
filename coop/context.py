"""Everything a request or a job needs, built once when the service starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from coop.auth.keys import KeyRing
from coop.auth.tokens import Tokens
from coop.clock import Clock
from coop.settings import Settings
from coop.wakeups import Scheduler


@dataclass
class Coop:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    keyring: KeyRing
    tokens: Tokens
    redis: Any = None
    """The arq pool (wake-ups only; the database is the truth). ``None`` until started."""

    @property
    def scheduler(self) -> Scheduler:
        return Scheduler(self.redis)
