"""Members of the cooperatives (authorities) and each region's versioned policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.auth.principal import Principal
from coop.clock import Clock
from coop.db.locks import advisory
from coop.db.schema import authorities, region_policies
from coop.db.session import transaction
from coop.errors import Problem, invalid, not_found
from coop.members.schemas import (
    AuthorityIn,
    AuthorityOut,
    AuthorityPatch,
    PolicyIn,
    PolicyOut,
)
from coop.policy.document import PolicyDocument, validate_policy
from coop.schemas import Page, keyset_page


def _authority(row: sa.Row) -> AuthorityOut:
    return AuthorityOut(**{f: getattr(row, f) for f in AuthorityOut.__struct_fields__})


def _own_region(actor: Principal | None, region: str) -> None:
    if actor is not None and actor.region != region:
        raise Problem(403, "other_region", "You administer another region.")


async def add_authority(
    engine: AsyncEngine, data: AuthorityIn, *, actor: Principal | None
) -> AuthorityOut:
    _own_region(actor, data.region)
    async with transaction(engine) as conn:
        row = (
            await conn.execute(
                sa.insert(authorities).values(**msgspec.structs.asdict(data)).returning(authorities)
            )
        ).one()
    return _authority(row)


async def update_authority(
    engine: AsyncEngine,
    slug: str,
    data: AuthorityPatch,
    *,
    actor: Principal,
    if_match: int | None,
    clock: Clock,
) -> AuthorityOut:
    changes = {
        k: v for k, v in msgspec.structs.asdict(data).items() if v is not None and k != "version"
    }
    expected = if_match if if_match is not None else data.version
    async with transaction(engine) as conn:
        row = (
            await conn.execute(
                sa.select(authorities)
                .where(authorities.c.slug == slug)
                .with_for_update(key_share=True)
            )
        ).one_or_none()
        if row is None:
            raise not_found("authority", slug)
        _own_region(actor, row.region)
        check_version(row.version, expected, if_match is not None)
        if not changes:
            return _authority(row)
        row = (
            await conn.execute(
                sa.update(authorities)
                .where(authorities.c.slug == slug)
                .values(**changes, version=row.version + 1, updated_at=clock.now())
                .returning(authorities)
            )
        ).one()
    return _authority(row)


def check_version(current: int, expected: int | None, from_if_match: bool) -> None:
    """Optimistic concurrency: a stale ``If-Match`` is 412, a stale body ``version`` 409."""
    if expected is None:
        raise Problem(
            428,
            "precondition_required",
            "Say which version you are changing: an If-Match header or a version field.",
        )
    if expected != current:
        status, code = (412, "precondition_failed") if from_if_match else (409, "version_conflict")
        raise Problem(
            status,
            code,
            f"The resource is at version {current}, not {expected}: read it again.",
            current_version=current,
        )


async def get_authority(engine: AsyncEngine, slug: str) -> AuthorityOut:
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(authorities).where(authorities.c.slug == slug))
        ).one_or_none()
    if row is None:
        raise not_found("authority", slug)
    return _authority(row)


async def list_authorities(
    engine: AsyncEngine, *, region: str | None, limit: int, cursor: str | None
) -> Page[AuthorityOut]:
    q = sa.select(authorities)
    if region:
        q = q.where(authorities.c.region == region)
    async with engine.connect() as conn:
        rows, nxt = await keyset_page(conn, q, authorities.c.slug, limit, cursor)
    return Page(items=[_authority(r) for r in rows], next_cursor=nxt)


async def membership_of(conn: AsyncConnection, slug: str) -> str | None:
    """An authority's membership (``None`` if it is not a member)."""
    return await conn.scalar(sa.select(authorities.c.membership).where(authorities.c.slug == slug))


# -- policy ----------------------------------------------------------------------------------


class PolicyVersion(msgspec.Struct, frozen=True):
    region: str
    version: int
    effective_from: datetime | None
    document: PolicyDocument


def in_force(region: Any, at: Any) -> sa.Select:
    """The policy version in force for ``region`` at ``at``: the latest with
    ``effective_from <= at`` (no row: the defaults). ``region`` and ``at`` may be SQL
    expressions, so the same statement serves as a LATERAL join (bookings' facts)."""
    return (
        sa.select(
            region_policies.c.version, region_policies.c.effective_from, region_policies.c.document
        )
        .where(region_policies.c.region == region, region_policies.c.effective_from <= at)
        .order_by(region_policies.c.effective_from.desc(), region_policies.c.version.desc())
        .limit(1)
    )


def policy_version(region: str, row: tuple[int, datetime, Any] | None) -> PolicyVersion:
    """A region's policy from ``(version, effective_from, document)``; ``None``: the defaults."""
    if row is None:
        return PolicyVersion(region, 0, None, PolicyDocument())
    version, effective_from, document = row
    return PolicyVersion(region, version, effective_from, msgspec.convert(document, PolicyDocument))


async def policy_at(conn: AsyncConnection, region: str, at: datetime) -> PolicyVersion:
    """The version in force at ``at`` (see :func:`in_force`)."""
    row = (await conn.execute(in_force(region, at))).one_or_none()
    return policy_version(region, None if row is None else tuple(row))  # type: ignore[arg-type]


def _policy_out(p: PolicyVersion) -> PolicyOut:
    d = p.document
    return PolicyOut(
        region=p.region,
        version=p.version,
        effective_from=p.effective_from,
        priority=d.priority,
        pricing=d.pricing,
        rules=d.rules,
    )


async def get_policy(engine: AsyncEngine, region: str, at: datetime) -> PolicyOut:
    async with engine.connect() as conn:
        return _policy_out(await policy_at(conn, region, at))


async def list_policy_versions(engine: AsyncEngine, region: str) -> list[PolicyOut]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(region_policies)
                .where(region_policies.c.region == region)
                .order_by(region_policies.c.version)
            )
        ).all()
    return [
        _policy_out(policy_version(r.region, (r.version, r.effective_from, r.document)))
        for r in rows
    ]


#: how far in the past an ``effective_from`` may be (clock skew between client and server)
SKEW = timedelta(minutes=5)


async def put_policy(
    engine: AsyncEngine, region: str, data: PolicyIn, *, actor: Principal, clock: Clock
) -> PolicyOut:
    _own_region(actor, region)
    doc = PolicyDocument(priority=data.priority, pricing=data.pricing, rules=data.rules)
    problems = validate_policy(doc)
    if problems:
        field, message = problems[0]
        err = invalid(field, message, code="invalid_policy")
        err.extra["errors"] = [
            {"field": f, "code": "invalid_policy", "detail": m} for f, m in problems
        ]
        raise err
    now = clock.now()
    effective = data.effective_from or now
    if effective.tzinfo is None:
        raise invalid("effective_from", "Give a UTC offset (RFC 3339), e.g. 2027-01-01T00:00:00Z.")
    if effective < now - SKEW:
        raise invalid("effective_from", "A policy cannot take effect in the past.")
    async with transaction(engine) as conn:
        # One writer per region at a time: versions are consecutive.
        await advisory(conn, "policy", region)
        version = (
            await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.max(region_policies.c.version), 0)).where(
                    region_policies.c.region == region
                )
            )
        ) + 1
        await conn.execute(
            sa.insert(region_policies).values(
                region=region,
                version=version,
                effective_from=effective,
                document=msgspec.to_builtins(doc),
                created_by=actor.client_id,
            )
        )
    return _policy_out(PolicyVersion(region, version, effective, doc))
