"""The engine, and the one way services open a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from coop.db.locks import LOCK_TIMEOUT, Busy, is_busy, sqlstate
from coop.errors import FieldError, Problem, busy_problem, field_problem
from coop.settings import Settings


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    if not url:
        raise RuntimeError("no database URL: start the embedded default first")
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        # Parameters can hold a child's profile: keep them out of logs and exceptions.
        hide_parameters=True,
        connect_args={
            "server_settings": {
                "application_name": "coop",
                "timezone": "UTC",
                # A request never waits long for a lock: it gets a 503 busy (coop.db.locks).
                "lock_timeout": LOCK_TIMEOUT,
            }
        },
    )


def constraint_name(exc: IntegrityError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)


#: constraint name -> (status, code, detail) for races that slip past the code's checks
CONSTRAINT_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "ex_voids_open_overlap": (409, "void_overlap", "The bed already has an open void then."),
    "ex_bookings_held_overlap": (
        409,
        "bed_held",
        "Another booking holds the bed over those days.",
    ),
    "uq_homes_ofsted_urn": (409, "duplicate_urn", "A home with this Ofsted URN exists."),
    "uq_beds_home_id_label": (409, "duplicate_label", "The home already has a bed so labelled."),
    "pk_authorities": (409, "duplicate_authority", "An authority with this slug exists."),
    "uq_authorities_gss_code": (409, "duplicate_gss_code", "An authority has this GSS code."),
}


def problem_from_integrity(exc: IntegrityError) -> Problem:
    name = constraint_name(exc) or ""
    if name in CONSTRAINT_PROBLEMS:
        status, code, detail = CONSTRAINT_PROBLEMS[name]
        return Problem(status, code, detail)
    if sqlstate(exc) == "23503":
        return field_problem(
            [FieldError("body", "invalid", "refers to something that is not there.")],
            "unknown_reference",
            detail="A referenced resource does not exist.",
        )
    return Problem(409, "conflict", "The change conflicts with the current state.")


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction; a constraint violation or a lock not had in time becomes a clean
    problem (409, 503 busy), never a 500."""
    try:
        async with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        raise problem_from_integrity(exc) from None
    except Busy as exc:
        raise busy_problem(exc) from None
    except DBAPIError as exc:
        # waited lock_timeout for a lock, or lost a deadlock / serialization race: retryable
        if is_busy(exc):
            raise busy_problem(Busy()) from None
        raise
