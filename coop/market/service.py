"""Homes, beds and voids: what an owning authority publishes to its cooperative.

Every function takes the caller's ``Principal``: homes, beds and voids are visible to the
callers of the home's region and writable only by the owning authority.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.auth.principal import Principal, require_authority
from coop.clock import Clock, local_date
from coop.db.schema import authorities, beds, homes, voids
from coop.db.session import transaction
from coop.errors import Problem, conflict, invalid, not_found
from coop.idempotency import IdempotencyKey, claim, remember
from coop.ids import new_id
from coop.market import search
from coop.market.schemas import (
    BedIn,
    BedOut,
    BedPatch,
    HomeIn,
    HomeOut,
    HomePatch,
    VoidHit,
    VoidIn,
    VoidOut,
)
from coop.members.service import check_version, membership_of, policy_at
from coop.policy.priority import home_priority_until
from coop.policy.vocabulary import home_type_for, rating_at_least
from coop.schemas import Page, keyset_page

# -- reading ---------------------------------------------------------------------------------


def _bed_out(row: sa.Row) -> BedOut:
    return BedOut(
        id=row.id,
        home_id=row.home_id,
        label=row.label,
        status=row.status,
        out_of_use_reason=row.out_of_use_reason,
        version=row.version,
    )


def _home_out(row: sa.Row, bed_rows: list[sa.Row]) -> HomeOut:
    bed_list = [_bed_out(b) for b in bed_rows]
    fields = {f: getattr(row, f) for f in HomeOut.__struct_fields__ if f in row._fields}
    return HomeOut(
        **fields,
        home_type=home_type_for(len(bed_list)) if bed_list else None,
        registered_capacity=len(bed_list),
        operational_capacity=sum(1 for b in bed_list if b.status == "in_use"),
        beds=bed_list,
    )


async def _visible_home(
    conn: AsyncConnection, home_id: str, principal: Principal, *, lock: bool = False
) -> sa.Row:
    q = sa.select(homes).where(homes.c.id == home_id, homes.c.region == principal.region)
    if lock:
        q = q.with_for_update(key_share=True)  # NO KEY UPDATE: foreign-key checks still pass
    row = (await conn.execute(q)).one_or_none()
    if row is None:
        raise not_found("home", home_id)
    return row


async def _owned_home(
    conn: AsyncConnection, home_id: str, principal: Principal, *, lock: bool = False
) -> sa.Row:
    row = await _visible_home(conn, home_id, principal, lock=lock)
    if row.owner != principal.authority:
        raise Problem(403, "not_owner", "Only the home's owning authority can change it.")
    return row


async def _beds_of(conn: AsyncConnection, home_ids: list[str]) -> dict[str, list[sa.Row]]:
    out: dict[str, list[sa.Row]] = {h: [] for h in home_ids}
    if home_ids:
        rows = await conn.execute(
            sa.select(beds).where(beds.c.home_id.in_(home_ids)).order_by(beds.c.id)
        )
        for b in rows:
            out[b.home_id].append(b)
    return out


async def _home(conn: AsyncConnection, row: sa.Row) -> HomeOut:
    return _home_out(row, (await _beds_of(conn, [row.id]))[row.id])


async def get_home(engine: AsyncEngine, principal: Principal, home_id: str) -> HomeOut:
    async with engine.connect() as conn:
        return await _home(conn, await _visible_home(conn, home_id, principal))


async def list_homes(
    engine: AsyncEngine,
    principal: Principal,
    *,
    owner: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[HomeOut]:
    q = sa.select(homes).where(homes.c.region == principal.region)
    if owner:
        q = q.where(homes.c.owner == owner)
    if status:
        q = q.where(homes.c.status == status)
    async with engine.connect() as conn:
        rows, next_cursor = await keyset_page(conn, q, homes.c.id, limit, cursor)
        bed_map = await _beds_of(conn, [r.id for r in rows])
    return Page(items=[_home_out(r, bed_map[r.id]) for r in rows], next_cursor=next_cursor)


# -- homes and beds --------------------------------------------------------------------------


def _check_ages(age_min: int, age_max: int) -> None:
    if age_min > age_max:
        raise invalid("age_max", "age_max must not be below age_min.")


def normal_postcode(text: str) -> str:
    """``"cb21tn"`` → ``"CB2 1TN"``: upper case, one space before the inward code."""
    compact = text.replace(" ", "").upper()
    return f"{compact[:-3]} {compact[-3:]}"


def _unique_labels(labels: list[str]) -> None:
    if len(set(labels)) != len(labels):
        raise invalid("beds", "Bed labels must differ within a home.", code="duplicate_label")


async def create_home(
    engine: AsyncEngine,
    principal: Principal,
    data: HomeIn,
    clock: Clock,
    idem: IdempotencyKey | None = None,
) -> HomeOut:
    owner = require_authority(principal)
    _check_ages(data.age_min, data.age_max)
    _unique_labels([b.label for b in data.beds])
    values = msgspec.structs.asdict(data)
    bed_in: list[BedIn] = values.pop("beds")
    values["needs_supported"] = sorted(set(data.needs_supported))
    values["risks_managed"] = sorted(set(data.risks_managed))
    if data.postcode is not None:
        values["postcode"] = normal_postcode(data.postcode)
    now = clock.now()
    async with transaction(engine) as conn:
        await claim(conn, idem)
        region = await conn.scalar(
            sa.select(authorities.c.region).where(authorities.c.slug == owner)
        )
        if region is None:
            raise Problem(403, "unknown_authority", "Your authority is not a member.")
        home_id = new_id("hom")
        row = (
            await conn.execute(
                sa.insert(homes)
                .values(
                    id=home_id, owner=owner, region=region, created_at=now, updated_at=now, **values
                )
                .returning(homes)
            )
        ).one()
        if bed_in:
            await conn.execute(
                sa.insert(beds),
                [
                    {
                        "id": new_id("bed"),
                        "home_id": home_id,
                        "label": b.label,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for b in bed_in
                ],
            )
        out = await _home(conn, row)
        await remember(conn, idem, 201, out)
    return out


async def update_home(
    engine: AsyncEngine,
    principal: Principal,
    home_id: str,
    data: HomePatch,
    *,
    if_match: int | None,
    clock: Clock,
) -> HomeOut:
    changes = {
        k: v for k, v in msgspec.structs.asdict(data).items() if v is not None and k != "version"
    }
    for key in ("needs_supported", "risks_managed"):
        if key in changes:
            changes[key] = sorted(set(changes[key]))
    if "postcode" in changes:
        changes["postcode"] = normal_postcode(changes["postcode"])
    async with transaction(engine) as conn:
        row = await _owned_home(conn, home_id, principal, lock=True)
        check_version(
            row.version, if_match if if_match is not None else data.version, if_match is not None
        )
        _check_ages(changes.get("age_min", row.age_min), changes.get("age_max", row.age_max))
        if changes:
            row = (
                await conn.execute(
                    sa.update(homes)
                    .where(homes.c.id == home_id)
                    .values(**changes, version=row.version + 1, updated_at=clock.now())
                    .returning(homes)
                )
            ).one()
            if "status" in changes or "ofsted_rating" in changes:
                await _withdraw_voids_if_barred(conn, row, clock.now())
        return await _home(conn, row)


async def _withdraw_voids_if_barred(conn: AsyncConnection, home: sa.Row, now: datetime) -> None:
    """A home closed, or rated below the region's minimum, offers nothing any more: its open
    voids are withdrawn (requests on them then expire ``outside_void`` when decided)."""
    minimum = (await policy_at(conn, home.region, now)).document.rules.min_ofsted_rating_to_publish
    if home.status == "closed" or not rating_at_least(home.ofsted_rating, minimum):
        await conn.execute(
            sa.update(voids)
            .where(voids.c.home_id == home.id, voids.c.status == "open")
            .values(status="withdrawn", withdrawn_at=now)
        )


async def add_bed(
    engine: AsyncEngine,
    principal: Principal,
    home_id: str,
    data: BedIn,
    clock: Clock,
    idem: IdempotencyKey | None = None,
) -> BedOut:
    async with transaction(engine) as conn:
        await claim(conn, idem)
        # Lock the home: its type (solo/dual/multi) changes with its number of beds.
        await _owned_home(conn, home_id, principal, lock=True)
        now = clock.now()
        row = (
            await conn.execute(
                sa.insert(beds)
                .values(
                    id=new_id("bed"),
                    home_id=home_id,
                    label=data.label,
                    created_at=now,
                    updated_at=now,
                )
                .returning(beds)
            )
        ).one()
        await _touch_home(conn, home_id, now)
        out = _bed_out(row)
        await remember(conn, idem, 201, out)
    return out


async def _touch_home(conn: AsyncConnection, home_id: str, now: datetime) -> None:
    """A home's representation lists its beds: a bed change is a new version of the home."""
    await conn.execute(
        sa.update(homes)
        .where(homes.c.id == home_id)
        .values(version=homes.c.version + 1, updated_at=now)
    )


async def _owned_bed(
    conn: AsyncConnection, bed_id: str, principal: Principal, *, lock: bool = False
) -> tuple[sa.Row, sa.Row]:
    q = (
        sa.select(beds, homes.c.owner, homes.c.region)
        .join(homes, homes.c.id == beds.c.home_id)
        .where(beds.c.id == bed_id, homes.c.region == principal.region)
    )
    if lock:
        # Lock order home → bed, as bookings do; NO KEY UPDATE, so a booking inserted meanwhile
        # (whose foreign key takes KEY SHARE on both) never deadlocks with a bed change.
        q = q.with_for_update(of=(homes, beds), key_share=True)
    bed = (await conn.execute(q)).one_or_none()
    if bed is None:
        raise not_found("bed", bed_id)
    if bed.owner != principal.authority:
        raise Problem(403, "not_owner", "Only the home's owning authority can change its beds.")
    home = (await conn.execute(sa.select(homes).where(homes.c.id == bed.home_id))).one()
    return bed, home


async def update_bed(
    engine: AsyncEngine,
    principal: Principal,
    bed_id: str,
    data: BedPatch,
    *,
    if_match: int | None,
    clock: Clock,
) -> BedOut:
    async with transaction(engine) as conn:
        bed, _ = await _owned_bed(conn, bed_id, principal, lock=True)
        check_version(
            bed.version, if_match if if_match is not None else data.version, if_match is not None
        )
        status = data.status or bed.status
        reason = data.out_of_use_reason
        if status == "out_of_use":
            reason = reason or (bed.out_of_use_reason if data.status is None else None)
            if reason is None:
                raise invalid(
                    "out_of_use_reason",
                    "Say why the bed is out of use: staffing, ofsted_restriction, matching or "
                    "maintenance.",
                )
        elif reason is not None:
            raise invalid("out_of_use_reason", "Only a bed out of use has a reason.")
        row = (
            await conn.execute(
                sa.update(beds)
                .where(beds.c.id == bed_id)
                .values(
                    label=data.label or bed.label,
                    status=status,
                    out_of_use_reason=reason,
                    version=bed.version + 1,
                    updated_at=clock.now(),
                )
                .returning(beds)
            )
        ).one()
        await _touch_home(conn, bed.home_id, clock.now())
    return _bed_out(row)


# -- voids -----------------------------------------------------------------------------------


def _void_out(row: sa.Row, owner: str) -> VoidOut:
    return VoidOut(
        id=row.id,
        bed_id=row.bed_id,
        home_id=row.home_id,
        owner=owner,
        available_from=row.available_from,
        available_until=row.available_until,
        notes=row.notes,
        status=row.status,
        published_at=row.published_at,
        home_priority_until=row.home_priority_until,
        withdrawn_at=row.withdrawn_at,
    )


async def publish_void(
    engine: AsyncEngine,
    principal: Principal,
    data: VoidIn,
    clock: Clock,
    idem: IdempotencyKey | None = None,
) -> VoidOut:
    now = clock.now()
    today = local_date(now)
    if data.available_until is not None and data.available_until <= data.available_from:
        raise invalid("available_until", "available_until must be after available_from.")
    async with transaction(engine) as conn:
        await claim(conn, idem)  # first: a retry replays even once the date has passed
        if data.available_from < today:
            raise invalid("available_from", "A void cannot start in the past.", code="in_the_past")
        bed, home = await _owned_bed(conn, data.bed_id, principal, lock=True)
        policy = await policy_at(conn, home.region, now)
        if home.status == "closed":
            raise invalid("bed_id", "A closed home cannot publish voids.", code="home_closed")
        minimum = policy.document.rules.min_ofsted_rating_to_publish
        if not rating_at_least(home.ofsted_rating, minimum):
            raise invalid(
                "bed_id",
                f"A home rated {home.ofsted_rating} cannot publish voids (the region's minimum "
                f"is {minimum}).",
                code="rating_too_low",
            )
        if bed.status == "out_of_use":
            raise invalid(
                "bed_id",
                "The bed is out of use: bring it back into use first.",
                code="bed_out_of_use",
            )
        row = (
            await conn.execute(
                sa.insert(voids)
                .values(
                    id=new_id("void"),
                    bed_id=bed.id,
                    home_id=home.id,
                    available_from=data.available_from,
                    available_until=data.available_until,
                    notes=data.notes,
                    status="open",
                    published_at=now,
                    home_priority_until=home_priority_until(now, policy.document.priority),
                    policy_version=policy.version,
                )
                .returning(voids)
            )
        ).one()
        out = _void_out(row, home.owner)
        await remember(conn, idem, 201, out)
    return out


async def _visible_void(
    conn: AsyncConnection, void_id: str, principal: Principal, *, lock: bool = False
) -> tuple[sa.Row, str]:
    q = (
        sa.select(voids, homes.c.owner)
        .join(homes, homes.c.id == voids.c.home_id)
        .where(voids.c.id == void_id, homes.c.region == principal.region)
    )
    if lock:
        q = q.with_for_update(of=voids, key_share=True)
    row = (await conn.execute(q)).one_or_none()
    if row is None:
        raise not_found("void", void_id)
    return row, row.owner


async def get_void(engine: AsyncEngine, principal: Principal, void_id: str) -> VoidOut:
    async with engine.connect() as conn:
        row, owner = await _visible_void(conn, void_id, principal)
    return _void_out(row, owner)


async def withdraw_void(
    engine: AsyncEngine,
    principal: Principal,
    void_id: str,
    clock: Clock,
    idem: IdempotencyKey | None = None,
) -> VoidOut:
    async with transaction(engine) as conn:
        await claim(conn, idem)
        row, owner = await _visible_void(conn, void_id, principal, lock=True)
        if owner != principal.authority:
            raise Problem(403, "not_owner", "Only the home's owning authority can withdraw it.")
        if row.status != "open":
            raise conflict("invalid_transition", f"The void is already {row.status}.")
        row = (
            await conn.execute(
                sa.update(voids)
                .where(voids.c.id == void_id)
                .values(status="withdrawn", withdrawn_at=clock.now())
                .returning(voids)
            )
        ).one()
        out = _void_out(row, owner)
        await remember(conn, idem, 200, out)
    return out


async def search_voids(
    engine: AsyncEngine, principal: Principal, query: search.VoidQuery, clock: Clock
) -> Page[VoidHit]:
    if query.region is not None and query.region != principal.region:
        raise Problem(403, "other_region", "You can search your own region's cooperative only.")
    now: datetime = clock.now()
    today: date = local_date(now)
    async with engine.connect() as conn:
        policy = await policy_at(conn, principal.region, now)
        membership = "member"
        if principal.authority:
            membership = await membership_of(conn, principal.authority) or "member"
        return await search.run(
            conn,
            query,
            region=principal.region,
            caller=principal.authority,
            membership=membership,
            pricing=policy.document.pricing,
            today=today,
        )
