"""Every lock coop takes, named once, in the order a transaction takes them.

In the spirit of pretix's locking service: a transaction takes its locks late and in one
order, waits for each at most :data:`LOCK_TIMEOUT` (set on every connection by
``coop.db.session``), and a lock it could not get is a domain error, :class:`Busy`, that
``coop.errors`` answers with 503 ``busy`` and ``Retry-After`` (409 ``idempotency_key_in_use``
for a key another request is still processing). A deadlock or a serialisation failure is the
same kind of answer: try again.

The order (a transaction takes any subset of these, never out of order):

1. ``idempotency`` — the request's ``Idempotency-Key`` (an advisory lock on scope and key),
   after the caller has been authorised;
2. ``policy`` — one writer of a region's policy versions at a time (advisory);
3. ``home`` — the home of the bed being decided or changed: ``FOR NO KEY UPDATE`` of its row,
   so a home's decisions are serial (a bed's match depends on the children in the home's
   other beds) while foreign-key checks (``KEY SHARE``) and unrelated homes never wait; an
   import of placements (``coop.bookings.imports``) locks every home it names, in id order;
4. the rows of the bed and its bookings, after their home.

Settlement takes its own lock, never with the ones above:

* ``settlement`` — one region's settlement (key: the region): a run is carried out under it
  (``try_advisory``: a second worker steps aside rather than wait), and opening a run takes it
  on ``<region>:open``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.db.schema import homes

#: how long any statement waits for a lock before the request is answered ``busy``
LOCK_TIMEOUT = "5s"

KeySpace = Literal["idempotency", "policy", "home", "settlement"]

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out
DEADLOCK = "40P01"
SERIALIZATION = "40001"
RETRYABLE = frozenset({LOCK_NOT_AVAILABLE, DEADLOCK, SERIALIZATION})


class Busy(Exception):
    """A lock in ``space`` could not be had in time: the request may be retried."""

    def __init__(self, space: KeySpace | None = None) -> None:
        super().__init__(f"busy: {space or 'lock'}")
        self.space = space


def sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE


@asynccontextmanager
async def waiting_for(space: KeySpace) -> AsyncIterator[None]:
    """Statements inside that time out waiting for a lock raise ``Busy(space)``."""
    try:
        yield
    except DBAPIError as exc:
        if is_busy(exc):
            raise Busy(space) from None
        raise


async def advisory(conn: AsyncConnection, space: KeySpace, key: str) -> None:
    """A transaction-level advisory lock on ``key`` in ``space``."""
    async with waiting_for(space):
        await conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"{space}:{key}", 0)))
        )


async def try_advisory(conn: AsyncConnection, space: KeySpace, key: str) -> bool:
    """Take the transaction-level advisory lock on ``key`` in ``space`` if it is free."""
    return bool(
        await conn.scalar(
            sa.select(
                sa.func.pg_try_advisory_xact_lock(sa.func.hashtextextended(f"{space}:{key}", 0))
            )
        )
    )


def locking_home(stmt: sa.Select) -> sa.Select:
    """``stmt`` (which selects from ``homes``) locking the home's row ``FOR NO KEY UPDATE``."""
    return stmt.with_for_update(of=homes, key_share=True)
