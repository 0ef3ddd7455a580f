"""Who is calling: the token, resolved once per request into a ``Principal``."""

from __future__ import annotations

import msgspec

from coop.errors import Problem

SCOPES = (
    "market:read",
    "homes:write",
    "bookings:write",
    "finance:read",
    "reports:read",
    "coop:admin",
)
SCOPE_SET = frozenset(SCOPES)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    region: str
    authority: str | None = None
    """``None`` for a region-level client (a regional board, the cooperative's admin)."""
    scopes: frozenset[str] = frozenset()

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def require_authority(principal: Principal) -> str:
    """The caller's authority, for actions only an authority can take."""
    if principal.authority is None:
        raise Problem(
            403, "authority_required", "A region-level client cannot act for an authority."
        )
    return principal.authority
