"""Alembic environment: async, reading the URL from the config or COOP_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from coop.db.schema import metadata
from coop.settings import load_settings

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or load_settings().database_url
    if not url:
        raise SystemExit("COOP_DATABASE_URL is not set (or run `coop migrate`)")
    return url


def _include_object(obj, name, type_, reflected, compare_to):
    # Exclusion constraints and extension-owned objects are written by hand.
    return not (type_ == "table" and reflected and compare_to is None)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
    else:
        asyncio.run(_main())
