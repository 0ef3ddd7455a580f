"""Background work of the bookings slice: deferred allocation, offer-hold expiry, the sweep.

Every job calls :func:`coop.bookings.allocation.settle_bed`, the same code the requests
call. Jobs are keyed (``_job_id``) and idempotent: running one twice, late, or never (the
sweep then finds its work in the database) leaves the same result.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coop import metrics
from coop.bookings.allocation import settle_bed
from coop.clock import Clock, local_date
from coop.db.schema import bookings, idempotency_keys
from coop.db.session import transaction
from coop.wakeups import Scheduler

log = logging.getLogger("coop.bookings.jobs")


async def settle(engine: AsyncEngine, bed_id: str, now: datetime, scheduler: Scheduler) -> None:
    async with transaction(engine) as conn:
        wake = await settle_bed(conn, bed_id, now)
    metrics.booking_moves(wake.moves)  # the deferred decisions, once committed
    await scheduler.schedule(wake.wakeups())


async def due_beds(engine: AsyncEngine, now: datetime) -> list[str]:
    """Beds with work the clock has made due: decidable requests, passed starts, spent holds."""
    offer = bookings.alias("offer")
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(bookings.c.bed_id)
            .where(
                sa.or_(
                    sa.and_(
                        bookings.c.status == "pending",
                        sa.or_(
                            bookings.c.decide_at <= now,
                            bookings.c.start_date < local_date(now),
                        ),
                        # not one simply waiting behind an offer: the offer's accept, reject
                        # or expiry wakes the bed
                        ~sa.exists().where(
                            offer.c.bed_id == bookings.c.bed_id,
                            offer.c.status == "offered",
                            offer.c.offer_expires_at > now,
                            offer.c.start_date < bookings.c.end_date,
                            offer.c.end_date > bookings.c.start_date,
                        ),
                    ),
                    sa.and_(bookings.c.status == "offered", bookings.c.offer_expires_at <= now),
                )
            )
            .distinct()
        )
        return [r.bed_id for r in rows]


#: how long a stored Idempotency-Key response is kept (it may hold a child's profile)
IDEMPOTENCY_RETENTION = timedelta(days=7)


async def purge_idempotency_keys(engine: AsyncEngine, now: datetime) -> int:
    async with transaction(engine) as conn:
        result = await conn.execute(
            sa.delete(idempotency_keys).where(
                idempotency_keys.c.created_at < now - IDEMPOTENCY_RETENTION
            )
        )
    return result.rowcount or 0


async def sweep_once(engine: AsyncEngine, clock: Clock, scheduler: Scheduler) -> int:
    """Settle every bed with due work; returns how many beds it visited."""
    await purge_idempotency_keys(engine, clock.now())
    beds = await due_beds(engine, clock.now())
    for bed_id in beds:
        try:
            await settle(engine, bed_id, clock.now(), scheduler)
        except Exception:
            log.exception("sweep could not settle bed %s; next sweep retries", bed_id)
    return len(beds)


# -- arq jobs (ctx is arq's: "redis" is the pool; coop.worker adds engine and clock) --------


async def allocate_bed(ctx: dict[str, Any], bed_id: str) -> str:
    metrics.job_started("allocate_bed", ctx)
    await settle(ctx["engine"], bed_id, ctx["clock"].now(), Scheduler(ctx["redis"]))
    return bed_id


async def expire_offer(ctx: dict[str, Any], booking_id: str) -> str | None:
    metrics.job_started("expire_offer", ctx)
    engine: AsyncEngine = ctx["engine"]
    async with engine.connect() as conn:
        bed_id = await conn.scalar(sa.select(bookings.c.bed_id).where(bookings.c.id == booking_id))
    if bed_id is not None:
        await settle(engine, bed_id, ctx["clock"].now(), Scheduler(ctx["redis"]))
    return bed_id


async def sweep(ctx: dict[str, Any]) -> int:
    metrics.job_started("sweep", ctx)
    return await sweep_once(ctx["engine"], ctx["clock"], Scheduler(ctx["redis"]))
