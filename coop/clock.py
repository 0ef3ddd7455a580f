"""The one clock. Production reads the system time; tests move a ``FrozenClock``.

Instants are UTC; days are English days. Every member is an English council, so "today",
a placement's start and a void's first day are dates in Europe/London: between 00:00 and
01:00 British Summer Time it is already tomorrow, whatever the UTC date says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ENGLAND = ZoneInfo("Europe/London")


def local_date(at: datetime) -> date:
    """The English date of an instant."""
    return at.astimezone(ENGLAND).date()


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return local_date(self.now())


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, at: datetime | None = None) -> None:
        self._now = at or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta or timedelta(**kwargs)
        return self._now
