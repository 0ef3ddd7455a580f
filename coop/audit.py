"""The audit: one writer for every event, called by the services inside their transaction.

What is audited: every API client created (``POST /clients``, ``coop clients add``) or
revoked, every policy version, and every other admin action (an authority added or
changed — its membership too —, a settlement run requested, a payment recorded, placements
imported). An event commits with its change or not at all, so a refused request (a 4xx)
leaves none.

``details`` describe the change for people (which fields, which scopes, which period); they
never hold a secret, a token or a child's data: :func:`record` refuses keys that look like
one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.auth.principal import Principal
from coop.db.schema import AUDIT_ACTIONS, audit_events

#: the actor of what the command line does (``coop clients add``, ``coop authorities add``)
CLI = "cli"
#: words a detail's key may not contain, and keys it may not be, at any depth
FORBIDDEN_WORDS = ("secret", "hash", "token", "password", "jwk")
FORBIDDEN_KEYS = frozenset({"child", "ref", "children"})


def actor_of(actor: Principal | str | None) -> str:
    """The client id of the principal, or ``cli`` (``None``: the command line)."""
    if actor is None:
        return CLI
    if isinstance(actor, Principal):
        return actor.client_id
    return actor


def _check(details: Any, path: str = "details") -> None:
    if isinstance(details, dict):
        for key, value in details.items():
            name = str(key).lower()
            if name in FORBIDDEN_KEYS or any(word in name for word in FORBIDDEN_WORDS):
                raise ValueError(f"an audit event may not carry {path}.{key}")
            _check(value, f"{path}.{key}")
    elif isinstance(details, list | tuple):
        for item in details:
            _check(item, path)


async def record(
    conn: AsyncConnection,
    *,
    region: str,
    authority: str | None,
    actor: Principal | str | None,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Write one audit event in ``conn``'s transaction. ``authority``: the one acted for or
    on (``None``: the region's own); ``actor``: the principal (``None``: the command line);
    ``at``: the service clock's time (default: the database's)."""
    if action not in AUDIT_ACTIONS:  # pragma: no cover - a programming error
        raise ValueError(f"unknown audit action {action!r}")
    _check(details)
    values: dict[str, Any] = dict(
        region=region,
        authority=authority,
        actor=actor_of(actor),
        action=action,
        subject=subject,
        details=details,
    )
    if at is not None:
        values["at"] = at
    await conn.execute(sa.insert(audit_events).values(**values))
