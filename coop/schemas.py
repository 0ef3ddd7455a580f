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
#: the longest text a cursor's key may hold (ids are 30 characters)
MAX_KEY_LENGTH = 200
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
    if not isinstance(key, list) or not key or not all(_key_part(k) for k in key):
        raise invalid("cursor", "The cursor is not one this service gave out.")
    return key


def _key_part(value: Any) -> bool:
    """An id (text PostgreSQL can hold) or a finite number: what the service's keys are."""
    if isinstance(value, str):
        return len(value) <= MAX_KEY_LENGTH and "\x00" not in value
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300


def decode_id_cursor(cursor: str | None) -> str | None:
    """The id after which a page ordered by id starts (a cursor of ``[id]``)."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if len(key) != 1 or not isinstance(key[0], str):
        raise invalid("cursor", "The cursor is not one this list gave out.")
    return key[0]


async def keyset_page(
    conn: AsyncConnection, query: sa.Select, id_column: Any, limit: int, cursor: str | None
) -> tuple[list[sa.Row], str | None]:
    """Rows ordered by a unique key after the cursor; the cursor of the next page, if any."""
    check_limit(limit)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(id_column > after)
    rows = (await conn.execute(query.order_by(id_column).limit(limit + 1))).all()
    nxt = encode_cursor([rows[limit - 1]._mapping[id_column.name]]) if len(rows) > limit else None
    return rows[:limit], nxt


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"limit must be between 1 and {MAX_LIMIT}.")
    return limit
