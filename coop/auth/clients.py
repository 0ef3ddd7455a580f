"""API clients: created by a region's admin (or the CLI), secret shown once, revocable."""

from __future__ import annotations

import functools

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.auth.principal import SCOPE_SET, Principal
from coop.auth.schemas import ClientCreated, ClientIn, ClientOut
from coop.auth.secrets import hash_secret, new_secret, verify_secret
from coop.auth.tokens import TokenClient
from coop.clock import Clock
from coop.db.schema import api_clients, authorities
from coop.db.session import transaction
from coop.errors import Problem, invalid, not_found
from coop.ids import new_id

REGION_ONLY_SCOPES = frozenset({"coop:admin"})


def _out(row: sa.Row) -> ClientOut:
    return ClientOut(
        client_id=row.id,
        name=row.name,
        authority=row.authority,
        region=row.region,
        scopes=list(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def create_client(
    engine: AsyncEngine,
    data: ClientIn,
    *,
    actor: Principal | None,
    scrypt_n: int,
) -> ClientCreated:
    """``actor`` is the admin making the client; ``None`` when the CLI does it."""
    if (data.authority is None) == (data.region is None):
        raise invalid("authority", "Give exactly one of authority or region.")
    unknown = sorted(set(data.scopes) - SCOPE_SET)
    if unknown:
        raise invalid("scopes", f"Unknown scopes: {', '.join(unknown)}.", code="invalid_scope")
    if data.authority and REGION_ONLY_SCOPES & set(data.scopes):
        raise invalid("scopes", "coop:admin is for region-level clients.", code="invalid_scope")
    secret = new_secret()
    secret_hash = await anyio.to_thread.run_sync(lambda: hash_secret(secret, n=scrypt_n))
    async with transaction(engine) as conn:
        region = data.region
        if data.authority:
            region = await conn.scalar(
                sa.select(authorities.c.region).where(authorities.c.slug == data.authority)
            )
            if region is None or (actor is not None and region != actor.region):
                raise invalid(
                    "authority",
                    f"No authority {data.authority!r} in your region.",
                    code="unknown_authority",
                )
        elif actor is not None and region != actor.region:
            raise Problem(403, "other_region", "You administer another region.")
        row = (
            await conn.execute(
                sa.insert(api_clients)
                .values(
                    id=new_id("cli"),
                    name=data.name,
                    authority=data.authority,
                    region=region,
                    scopes=sorted(set(data.scopes)),
                    secret_hash=secret_hash,
                    created_by=actor.client_id if actor else "cli",
                )
                .returning(api_clients)
            )
        ).one()
    out = _out(row)
    return ClientCreated(
        **{f: getattr(out, f) for f in out.__struct_fields__}, client_secret=secret
    )


async def revoke_client(engine: AsyncEngine, client_id: str, *, actor: Principal, clock: Clock):
    async with transaction(engine) as conn:
        row = (
            await conn.execute(
                sa.update(api_clients)
                .where(api_clients.c.id == client_id, api_clients.c.region == actor.region)
                .values(revoked_at=sa.func.coalesce(api_clients.c.revoked_at, clock.now()))
                .returning(api_clients)
            )
        ).one_or_none()
    if row is None:
        raise not_found("client", client_id)
    return _out(row)


async def authenticate(
    engine: AsyncEngine, client_id: str, secret: str, *, scrypt_n: int
) -> TokenClient | None:
    """The client, if the id and secret match and it is not revoked."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(api_clients).where(
                    api_clients.c.id == client_id, api_clients.c.revoked_at.is_(None)
                )
            )
        ).one_or_none()
    if row is None:
        # Spend the same effort as a real check, so timing does not reveal which ids exist.
        await anyio.to_thread.run_sync(lambda: verify_secret(secret, _dummy_hash(scrypt_n)))
        return None
    ok = await anyio.to_thread.run_sync(lambda: verify_secret(secret, row.secret_hash))
    if not ok:
        return None
    return TokenClient(row.id, list(row.scopes), row.authority, row.region)


@functools.cache
def _dummy_hash(n: int) -> str:
    return hash_secret("not-a-secret", n=n)


async def is_active(conn: AsyncConnection, client_id: str) -> bool:
    revoked = await conn.execute(
        sa.select(api_clients.c.revoked_at).where(api_clients.c.id == client_id)
    )
    row = revoked.one_or_none()
    return row is not None and row.revoked_at is None
