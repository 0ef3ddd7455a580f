"""API types shared by every bounded context: slugs, pages and cursors."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.errors import invalid

Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
        description="lower-case letters, digits and hyphens, e.g. `cambridgeshire`",
    ),
]

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT, description=f"Page size (1–{MAX_LIMIT})")]
Cursor = Annotated[
    str, msgspec.Meta(min_length=1, max_length=1000, description="`next_cursor` of the page before")
]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None = None
    """Pass as ``cursor`` to get the next page; absent on the last page."""


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = msgspec.json.decode(raw)
    except (ValueError, RecursionError, msgspec.DecodeError, msgspec.ValidationError):
        raise invalid("cursor", "The cursor is not one this service gave out.") from None
    if not isinstance(key, list):
        raise invalid("cursor", "The cursor is not one this service gave out.")
    return key


async def keyset_page(
    conn: AsyncConnection, query: sa.Select, id_column: Any, limit: int, cursor: str | None
) -> tuple[list[sa.Row], str | None]:
    """Rows ordered by a unique key after the cursor; the cursor of the next page, if any."""
    check_limit(limit)
    after = decode_cursor(cursor)
    if after:
        query = query.where(id_column > str(after[0]))
    rows = (await conn.execute(query.order_by(id_column).limit(limit + 1))).all()
    nxt = encode_cursor([rows[limit - 1]._mapping[id_column.name]]) if len(rows) > limit else None
    return rows[:limit], nxt


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"limit must be between 1 and {MAX_LIMIT}.")
    return limit
