"""API clients: created by a region's admin (or the CLI), secret shown once, revocable,
listed to the authority they act for (and to the region's admin). Every creation and
revocation is an audit event (``coop.audit``), in the same transaction.
"""

from __future__ import annotations

import functools
from datetime import datetime

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop import audit
from coop.auth.principal import SCOPE_SET, Principal
from coop.auth.schemas import ClientCreated, ClientIn, ClientOut
from coop.auth.secrets import hash_secret, new_secret, verify_secret
from coop.auth.tokens import TokenClient
from coop.clock import Clock
from coop.db.schema import api_clients, authorities
from coop.db.session import transaction
from coop.errors import Problem, invalid, not_found
from coop.ids import new_id
from coop.schemas import Page, check_limit, decode_cursor, encode_cursor

REGION_ONLY_SCOPES = frozenset({"coop:admin"})


def _out(row: sa.Row) -> ClientOut:
    return ClientOut(
        client_id=row.id,
        name=row.name,
        authority=row.authority,
        region=row.region,
        scopes=list(row.scopes),
        created_by=row.created_by,
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
                    created_by=audit.actor_of(actor),
                )
                .returning(api_clients)
            )
        ).one()
        await audit.record(
            conn,
            region=row.region,
            authority=row.authority,
            actor=actor,
            action="client.created",
            subject=row.id,
            details={"name": row.name, "scopes": list(row.scopes)},
        )
    out = _out(row)
    return ClientCreated(
        **{f: getattr(out, f) for f in out.__struct_fields__}, client_secret=secret
    )


async def revoke_client(
    engine: AsyncEngine, client_id: str, *, actor: Principal, clock: Clock
) -> ClientOut:
    """Revoke a client of the admin's region. Revoking twice answers the revoked client and
    records nothing more."""
    now = clock.now()
    async with transaction(engine) as conn:
        before = await conn.scalar(
            sa.select(api_clients.c.revoked_at)
            .where(api_clients.c.id == client_id, api_clients.c.region == actor.region)
            .with_for_update()
        )
        row = (
            await conn.execute(
                sa.update(api_clients)
                .where(api_clients.c.id == client_id, api_clients.c.region == actor.region)
                .values(revoked_at=sa.func.coalesce(api_clients.c.revoked_at, now))
                .returning(api_clients)
            )
        ).one_or_none()
        if row is None:
            raise not_found("client", client_id)
        if before is None:  # revoked now, not before
            await audit.record(
                conn,
                region=row.region,
                authority=row.authority,
                actor=actor,
                action="client.revoked",
                subject=row.id,
                details={"name": row.name},
                at=now,
            )
    return _out(row)


#: a page of clients: ordered by ``created_at``, then ``id``
def _client_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    try:
        if len(key) != 2 or not isinstance(key[1], str):
            raise ValueError
        at = datetime.fromisoformat(key[0])
        # only an instant this list could have given out: aware, and one PostgreSQL and
        # asyncpg carry without overflow (year 1 at +14:00 would be year 0 in UTC)
        if at.tzinfo is None or not 2000 <= at.year <= 9000:
            raise ValueError
        return at, key[1]
    except (TypeError, ValueError):
        raise invalid("cursor", "The cursor is not one this list gave out.") from None


async def list_clients(
    engine: AsyncEngine,
    principal: Principal,
    *,
    authority: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ClientOut]:
    """The clients that can act for the caller's authority (any client of an authority may
    list them), or, for a region-level ``coop:admin`` client, every client of its region
    (``authority`` narrows it to one authority's). Revoked ones too, with ``revoked_at``;
    oldest first. Never a secret or its hash."""
    check_limit(limit)
    after = _client_cursor(cursor)
    if principal.authority is not None:
        if authority is not None and authority != principal.authority:
            raise Problem(
                403, "other_authority", "You can list the clients of your own authority only."
            )
        where = [
            api_clients.c.region == principal.region,
            api_clients.c.authority == principal.authority,
        ]
    elif principal.has("coop:admin"):
        where = [api_clients.c.region == principal.region]
        if authority is not None:
            where.append(api_clients.c.authority == authority)
    else:
        raise Problem(
            403,
            "insufficient_scope",
            "A region-level client lists the region's clients with the coop:admin scope.",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="coop:admin"'},
        )
    q = sa.select(*(c for c in api_clients.c if c.name != "secret_hash")).where(*where)
    if after is not None:
        q = q.where(sa.tuple_(api_clients.c.created_at, api_clients.c.id) > sa.tuple_(*after))
    q = q.order_by(api_clients.c.created_at, api_clients.c.id).limit(limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    items = [_out(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor([last.created_at.isoformat(), last.id])
    return Page(items=items, next_cursor=nxt)


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
