"""API types shared by every bounded context: slugs, pages and cursors."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

import msgspec

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
    except (ValueError, msgspec.DecodeError):
        raise invalid("cursor", "The cursor is not one this service gave out.") from None
    if not isinstance(key, list):
        raise invalid("cursor", "The cursor is not one this service gave out.")
    return key


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"limit must be between 1 and {MAX_LIMIT}.")
    return limit
