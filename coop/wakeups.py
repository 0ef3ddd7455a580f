"""Wake-ups: arq jobs enqueued after a transaction commits.

Redis only carries wake-ups; the database is the truth. A wake-up that is lost (Redis down,
a worker gone) is found again by the sweep, so a failure to enqueue is logged, never raised.
Each is keyed (``_job_id``): enqueuing the same wake-up twice runs it once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

log = logging.getLogger("coop.wakeups")


class Wakeup(msgspec.Struct, frozen=True):
    """Run the job ``function(arg)`` at ``at`` (``None``: now), once per ``job_id``."""

    function: str
    arg: str
    job_id: str
    at: datetime | None = None


class Scheduler:
    """Enqueue wake-ups after commit on the arq pool (``None``: no Redis, nothing to do)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def schedule(self, wakeups: Iterable[Wakeup]) -> None:
        if self.redis is None:
            return
        try:
            for w in wakeups:
                # a time already passed (by Redis's clock) means now: arq refuses to defer to
                # the past (it would set a negative expiry)
                at = w.at if w.at is not None and w.at > datetime.now(UTC) else None
                await self.redis.enqueue_job(w.function, w.arg, _job_id=w.job_id, _defer_until=at)
        except Exception:
            log.warning("could not schedule a wake-up; the sweep will catch it", exc_info=True)
