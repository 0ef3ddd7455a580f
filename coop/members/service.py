"""Members of the cooperatives (authorities) and each region's versioned policy.

Every change here is an admin's (or the command line's) and an audit event (``coop.audit``),
written in the change's transaction: an authority added or changed (its membership too), a
policy version made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop import audit
from coop.auth.principal import Principal
from coop.clock import Clock
from coop.db.locks import advisory
from coop.db.schema import authorities, region_policies
from coop.db.session import transaction
from coop.edge import check_value
from coop.errors import FieldError, Problem, field_problem, not_found
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
        await audit.record(
            conn,
            region=row.region,
            authority=row.slug,
            actor=actor,
            action="authority.added",
            subject=row.slug,
            details={"name": row.name, "gss_code": row.gss_code, "membership": row.membership},
        )
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
        before = row
        now = clock.now()
        row = (
            await conn.execute(
                sa.update(authorities)
                .where(authorities.c.slug == slug)
                .values(**changes, version=row.version + 1, updated_at=now)
                .returning(authorities)
            )
        ).one()
        await audit.record(
            conn,
            region=row.region,
            authority=row.slug,
            actor=actor,
            action="authority.changed",
            subject=row.slug,
            details={
                "version": row.version,
                "changes": {
                    k: {"from": getattr(before, k), "to": v}
                    for k, v in changes.items()
                    if getattr(before, k) != v
                },
            },
            at=now,
        )
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


class PolicyChange(msgspec.Struct, frozen=True):
    """A new version, and whether it is in force now (else it is scheduled)."""

    policy: PolicyOut
    in_force: bool


#: A PUT or PATCH: the new version's body, from the representation of the version in force.
PolicyEdit = Callable[[PolicyOut], PolicyIn]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, ``null`` removes a key, anything
    else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


async def put_policy(
    engine: AsyncEngine,
    region: str,
    data: PolicyIn,
    *,
    actor: Principal,
    clock: Clock,
    if_match: int | None = None,
) -> PolicyChange:
    """A new version from a whole document (``PUT``)."""
    return await change_policy(
        engine, region, lambda _current: data, actor=actor, clock=clock, if_match=if_match
    )


async def patch_policy(
    engine: AsyncEngine,
    region: str,
    patch: dict[str, Any],
    *,
    actor: Principal,
    clock: Clock,
    if_match: int | None = None,
) -> PolicyChange:
    """A new version from an RFC 7396 merge patch of the version in force (``PATCH``): the
    patched representation is then taken exactly as a PUT body."""

    def edit(current: PolicyOut) -> PolicyIn:
        merged = merge_patch(msgspec.to_builtins(current), patch)
        errors = check_value(merged, PolicyIn)
        if errors:
            raise field_problem(errors)
        return msgspec.convert(merged, PolicyIn, strict=True)

    return await change_policy(engine, region, edit, actor=actor, clock=clock, if_match=if_match)


async def change_policy(
    engine: AsyncEngine,
    region: str,
    edit: PolicyEdit,
    *,
    actor: Principal,
    clock: Clock,
    if_match: int | None,
) -> PolicyChange:
    """Make the region's next version from ``edit(version in force now)``.

    One writer per region at a time (an advisory lock), so the version read, the checks and
    the insert see the same state, and versions are consecutive. Checks, in order: the
    caller's region (403); the body (422, every field at once: ``region`` must be the path's,
    the policy's rules, ``effective_from`` with an offset); then the preconditions: the
    ``If-Match`` header and the body's ``version``, each one given, must name the version in
    force now (412 otherwise, so two that differ are a 412 too).
    """
    _own_region(actor, region)
    async with transaction(engine) as conn:
        await advisory(conn, "policy", region)
        now = clock.now()
        current = _policy_out(await policy_at(conn, region, now))
        data = edit(current)
        _check_policy_body(region, data)
        for given, source in ((if_match, "If-Match"), (data.version, "version")):
            if given is not None and given != current.version:
                raise Problem(
                    412,
                    "precondition_failed",
                    f"The policy in force is version {current.version}, not {given} "
                    f"({source}): read it again.",
                    current_version=current.version,
                )
        effective = (
            data.effective_from if data.effective_from and data.effective_from > now else now
        )
        doc = PolicyDocument(priority=data.priority, pricing=data.pricing, rules=data.rules)
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
        await audit.record(
            conn,
            region=region,
            authority=None,
            actor=actor,
            action="policy.versioned",
            subject=f"{region}@{version}",
            details={
                "version": version,
                "replaces": current.version,
                "effective_from": effective.isoformat(),
                "sections": sorted(_changed_sections(current, doc)),
            },
            at=now,
        )
    out = _policy_out(PolicyVersion(region, version, effective, doc))
    return PolicyChange(out, in_force=effective <= now)


def _changed_sections(current: PolicyOut, doc: PolicyDocument) -> set[str]:
    """The policy's sections the new version changes (``priority``, ``pricing``, ``rules``)."""
    return {
        name
        for name in ("priority", "pricing", "rules")
        if msgspec.to_builtins(getattr(current, name)) != msgspec.to_builtins(getattr(doc, name))
    }


def _check_policy_body(region: str, data: PolicyIn) -> None:
    """Every problem of a PUT body the types cannot see, in one 422."""
    errors: list[FieldError] = []
    if data.region is not None and data.region != region:
        errors.append(
            FieldError(
                "region",
                "region_mismatch",
                f"is {data.region!r}, but this is the policy of {region!r}.",
            )
        )
    doc = PolicyDocument(priority=data.priority, pricing=data.pricing, rules=data.rules)
    errors.extend(FieldError(f, "invalid_policy", m) for f, m in validate_policy(doc))
    if data.effective_from is not None and data.effective_from.tzinfo is None:
        errors.append(
            FieldError(
                "effective_from",
                "invalid",
                "Give a UTC offset (RFC 3339), e.g. 2027-01-01T00:00:00Z.",
            )
        )
    if errors:
        codes = {e.code for e in errors}
        code = codes.pop() if len(codes) == 1 and "invalid" not in codes else "validation_error"
        raise field_problem(errors, code)
