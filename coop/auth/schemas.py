from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from coop.schemas import Slug

ScopeList = Annotated[list[str], msgspec.Meta(min_length=1, description="Scopes granted")]


class ClientIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of ``authority`` (an authority's client) or ``region`` (region-level)."""

    scopes: ScopeList
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "api client"
    authority: Slug | None = None
    region: Slug | None = None


class ClientOut(msgspec.Struct, kw_only=True):
    """An API client: never its secret (nor its hash)."""

    client_id: str
    name: str
    authority: str | None
    """The authority it acts for; ``null`` for a region-level client."""
    region: str
    scopes: list[str]
    created_by: str | None = None
    """Who created it: an admin client's id, or ``cli`` (the command line)."""
    created_at: datetime
    revoked_at: datetime | None = None
    """When it was revoked; ``null`` while it is active."""


class ClientCreated(ClientOut, kw_only=True):
    """A new API client, with its secret: shown this once."""

    client_secret: str
    """Shown once: only a hash is kept."""


class TokenOut(msgspec.Struct, kw_only=True):
    """An RFC 9068 JWT access token (RFC 6749 §5.1 response)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
