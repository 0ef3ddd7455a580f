"""``Idempotency-Key`` on POSTs that create or move beds or money.

The first response is stored with a hash of its request, in the same transaction as the
effect: either both commit or neither does. A repeat with the same key and the same request
gets the first response back (``Idempotent-Replayed: true``); the same key with another
request is a 422. Keys are scoped to the caller's authority (or, for a region-level client,
to the client), so two councils cannot collide.

Lock order (``coop.db.locks``): the key is taken after the caller has been authorised and
before anything else the service locks. Authorise first, then replay: a stored response is
never handed to a caller who could not have made the request.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.auth.principal import Principal
from coop.db.locks import advisory
from coop.db.schema import idempotency_keys
from coop.errors import FieldError, field_problem, invalid

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKey(msgspec.Struct, frozen=True):
    scope: str
    key: str
    request_hash: str


class Replay(Exception):
    """Raised inside the service when the key was seen: answer with the stored response."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__("idempotent replay")
        self.status_code = status_code
        self.body = body


async def from_request(request: Request, principal: Principal) -> IdempotencyKey | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise field_problem(
            [
                FieldError(
                    HEADER,
                    "invalid_idempotency_key",
                    f"must be 1–{MAX_KEY_LENGTH} printable characters.",
                )
            ],
            "invalid_idempotency_key",
            detail=f"{HEADER} must be 1–{MAX_KEY_LENGTH} printable characters.",
        )
    body = await request.body()
    digest = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), body])
    ).hexdigest()
    scope = principal.authority or f"client:{principal.client_id}"
    return IdempotencyKey(scope=scope, key=key, request_hash=digest)


async def claim(conn: AsyncConnection, idem: IdempotencyKey | None) -> None:
    """Serialise on the key; replay (raise ``Replay``) if it was used with this request."""
    if idem is None:
        return
    await advisory(conn, "idempotency", f"{idem.scope}:{idem.key}")
    row = (
        await conn.execute(
            sa.select(idempotency_keys).where(
                idempotency_keys.c.scope == idem.scope, idempotency_keys.c.key == idem.key
            )
        )
    ).one_or_none()
    if row is None:
        return
    if row.request_hash != idem.request_hash:
        raise invalid(
            HEADER, f"This {HEADER} was used for a different request.", "idempotency_key_reused"
        )
    raise Replay(row.status_code, row.response)


async def remember(
    conn: AsyncConnection, idem: IdempotencyKey | None, status_code: int, body: Any
) -> None:
    if idem is None:
        return
    await conn.execute(
        sa.insert(idempotency_keys).values(
            scope=idem.scope,
            key=idem.key,
            request_hash=idem.request_hash,
            status_code=status_code,
            response=msgspec.json.encode(body).decode(),
        )
    )


def handle_replay(request: Request, exc: Replay) -> Response:
    return Response(
        content=exc.body.encode(),
        status_code=exc.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )
