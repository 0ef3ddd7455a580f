"""Allocation of one bed under the shared policy (SPEC §3 "Allocation").

One function, :func:`settle_bed`, is the only way a bed's bookings are decided: inside a
request when ``decide_at <= now``, by the deferred job at ``decide_at``, by the offer-hold
expiry job, and by the sweep. It runs under the bed's row lock (``lock_bed``), so a bed's
decisions are serial while unrelated beds never wait on each other; the exclusion
constraint on ``bookings.hold_during`` backs the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.db.schema import authorities, beds, booking_events, bookings, homes, voids
from coop.errors import Problem
from coop.members.service import PolicyVersion, policy_at
from coop.policy.document import offer_hold
from coop.policy.fit import ChildProfile, HomeFacts, Resident, fit
from coop.policy.lifecycle import next_status
from coop.policy.pricing import PriceBreakdown, price
from coop.policy.ranking import RankInput, rank_key
from coop.policy.vocabulary import home_type_for

LOCK_TIMEOUT = "5s"
SYSTEM = "system:allocator"


@dataclass
class Wakeups:
    """Jobs to schedule once the transaction has committed (Redis carries wake-ups only)."""

    offers: list[tuple[str, datetime]] = field(default_factory=list)
    allocations: list[tuple[str, datetime]] = field(default_factory=list)

    def extend(self, other: Wakeups) -> None:
        self.offers += other.offers
        self.allocations += other.allocations


async def lock_bed(conn: AsyncConnection, bed_id: str) -> None:
    """Serialise per bed: the row lock, waited for at most ``LOCK_TIMEOUT``."""
    await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    try:
        await conn.execute(sa.select(beds.c.id).where(beds.c.id == bed_id).with_for_update())
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":
            raise Problem(
                503,
                "bed_busy",
                "The bed is being decided by another request; try again.",
                headers={"Retry-After": "1"},
            ) from None
        raise


@dataclass
class BedFacts:
    bed: Any
    home: Any
    bed_count: int
    policy: PolicyVersion

    @property
    def home_type(self) -> str:
        return home_type_for(max(self.bed_count, 1))

    @property
    def owner(self) -> str:
        return self.home.owner

    def facts(self) -> HomeFacts:
        h = self.home
        return HomeFacts(
            age_min=h.age_min,
            age_max=h.age_max,
            gender=h.gender,
            needs_supported=frozenset(h.needs_supported),
            risks_managed=frozenset(h.risks_managed),
            accepts_dols=h.accepts_dols,
            home_type=self.home_type,  # type: ignore[arg-type]
            purpose=h.purpose,
            status=h.status,
        )

    def quote(self, *, requester: str, membership: str, urgency: str) -> PriceBreakdown:
        return price(
            weekly_cost_pence=self.home.weekly_cost_pence,
            home_type=self.home_type,  # type: ignore[arg-type]
            membership=membership,  # type: ignore[arg-type]
            urgency=urgency,  # type: ignore[arg-type]
            own_bed=requester == self.owner,
            pricing=self.policy.document.pricing,
        )


async def bed_facts(conn: AsyncConnection, bed_id: str, now: datetime) -> BedFacts:
    bed = (await conn.execute(sa.select(beds).where(beds.c.id == bed_id))).one()
    home = (await conn.execute(sa.select(homes).where(homes.c.id == bed.home_id))).one()
    count = await conn.scalar(
        sa.select(sa.func.count()).select_from(beds).where(beds.c.home_id == home.id)
    )
    return BedFacts(bed, home, int(count or 0), await policy_at(conn, home.region, now))


def overlaps(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    return a_start < b_end and b_start < a_end


async def occupants(
    conn: AsyncConnection, home_id: str, bed_id: str
) -> list[tuple[date, date, int]]:
    """(from, until, age) of children held in the home's other beds (offered, confirmed, active)."""
    rows = await conn.execute(
        sa.select(bookings.c.hold_during, bookings.c.child["age"].as_integer().label("age")).where(
            bookings.c.home_id == home_id,
            bookings.c.bed_id != bed_id,
            bookings.c.status.in_(("offered", "confirmed", "active")),
        )
    )
    return [(r.hold_during.lower, r.hold_during.upper, r.age) for r in rows]


def residents_over(others: list[tuple[date, date, int]], start: date, end: date) -> list[Resident]:
    """The children living in the home over [start, end)."""
    return [Resident(age=age) for s, e, age in others if overlaps(s, e, start, end)]


async def residents(
    conn: AsyncConnection, home_id: str, bed_id: str, start: date, end: date
) -> list[Resident]:
    return residents_over(await occupants(conn, home_id, bed_id), start, end)


def void_covers(void: Any, start: date, end: date) -> bool:
    return void.available_from <= start and (
        void.available_until is None or end <= void.available_until
    )


async def record(
    conn: AsyncConnection,
    booking_id: str,
    *,
    at: datetime,
    actor: str,
    actor_authority: str | None,
    from_status: str | None,
    to_status: str,
    reason: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        sa.insert(booking_events).values(
            booking_id=booking_id,
            at=at,
            actor=actor,
            actor_authority=actor_authority,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            detail=detail,
        )
    )


async def move(
    conn: AsyncConnection,
    row: Any,
    move_name: str,
    *,
    now: datetime,
    actor: str,
    actor_authority: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> Any:
    """Make one state-machine move on a (locked) booking row, record it, return the new row."""
    to_status = next_status(row.status, move_name)
    new = (
        await conn.execute(
            sa.update(bookings)
            .where(bookings.c.id == row.id, bookings.c.version == row.version)
            .values(
                status=to_status,
                status_reason=reason if reason is not None else row.status_reason,
                version=row.version + 1,
                updated_at=now,
                **values,
            )
            .returning(bookings)
        )
    ).one()
    await record(
        conn,
        row.id,
        at=now,
        actor=actor,
        actor_authority=actor_authority,
        from_status=row.status,
        to_status=to_status,
        reason=reason,
        detail=detail,
    )
    return new


def never_fits(
    b: Any,
    facts: BedFacts,
    membership: str,
    today: date,
    void: Any | None,
    others: list[tuple[date, date, int]],
) -> tuple[str, str] | None:
    """(move, reason) for a pending booking that can never be offered this bed, else None."""
    if b.start_date < today:
        return ("expire", "start_passed")
    if membership == "suspended":
        return ("decline", "requester_suspended")
    if facts.home.status == "closed":
        return ("decline", "home_closed")
    if facts.bed.status == "out_of_use":
        return ("decline", "unavailable")
    if b.requester != facts.owner:  # the owner needs no void
        if void is None or void.status != "open":
            return ("expire", "outside_void")
        if not void_covers(void, b.start_date, b.end_date):
            return ("decline", "outside_void")
    child = msgspec.convert(b.child, ChildProfile)
    people = residents_over(others, b.start_date, b.end_date)
    reason = fit(
        child, facts.facts(), people, b.start_date, b.end_date, facts.policy.document.rules
    )
    if reason is not None:
        return ("decline", reason)
    if b.max_weekly_price_pence is not None:
        quote = facts.quote(requester=b.requester, membership=membership, urgency=b.urgency)
        if quote.weekly_rate_pence > b.max_weekly_price_pence:
            return ("decline", "over_budget")
    return None


async def allocate(
    conn: AsyncConnection, bed_id: str, now: datetime, *, actor: str = SYSTEM
) -> Wakeups:
    """Decide the bed's decidable pending bookings, best-ranked first. Caller holds the lock."""
    wake = Wakeups()
    facts = await bed_facts(conn, bed_id, now)
    today = now.date()
    held = [
        (r.id, r.status, r.hold_during.lower, r.hold_during.upper)
        for r in await conn.execute(
            sa.select(bookings.c.id, bookings.c.status, bookings.c.hold_during).where(
                bookings.c.bed_id == bed_id, bookings.c.hold_during.is_not(None)
            )
        )
    ]
    pending = (
        await conn.execute(
            sa.select(bookings, authorities.c.membership)
            .join(authorities, authorities.c.slug == bookings.c.requester)
            .where(
                bookings.c.bed_id == bed_id,
                bookings.c.status == "pending",
                # decidable now, or its start has passed (expired at once, whatever decide_at)
                sa.or_(bookings.c.decide_at <= now, bookings.c.start_date < today),
            )
        )
    ).all()
    void_ids = {b.void_id for b in pending if b.void_id}
    void_rows = (
        {v.id: v for v in await conn.execute(sa.select(voids).where(voids.c.id.in_(void_ids)))}
        if void_ids
        else {}
    )
    others = await occupants(conn, facts.home.id, bed_id) if pending else []
    order = facts.policy.document.priority.ranking
    ranked = sorted(
        pending,
        key=lambda r: rank_key(
            RankInput(
                id=r.id,
                requester=r.requester,
                urgency=r.urgency,
                membership=r.membership,
                created_at=r.created_at,
            ),
            bed_owner=facts.owner,
            order=order,
        ),
    )
    for b in ranked:
        verdict = never_fits(b, facts, b.membership, today, void_rows.get(b.void_id), others)
        if verdict is not None:
            move_name, reason = verdict
            await move(conn, b, move_name, now=now, actor=actor, reason=reason)
            continue
        clashes = [h for h in held if overlaps(h[2], h[3], b.start_date, b.end_date)]
        if any(status == "offered" for _, status, _, _ in clashes):
            continue  # waits behind the offer, still pending
        if clashes:
            await move(conn, b, "decline", now=now, actor=actor, reason="unavailable")
            continue
        quote = facts.quote(requester=b.requester, membership=b.membership, urgency=b.urgency)
        expires = now + offer_hold(facts.policy.document, b.urgency)
        await move(
            conn,
            b,
            "offer",
            now=now,
            actor=actor,
            reason=None,
            offered_at=now,
            offer_expires_at=expires,
            weekly_rate_pence=quote.weekly_rate_pence,
            price_breakdown=msgspec.to_builtins(quote),
            policy_version=facts.policy.version,
        )
        held.append((b.id, "offered", b.start_date, b.end_date))
        wake.offers.append((b.id, expires))
    return wake


async def expire_offers(conn: AsyncConnection, bed_id: str, now: datetime) -> int:
    """Offers on the bed whose hold has run out go back: declined ``offer_expired``."""
    rows = (
        await conn.execute(
            sa.select(bookings).where(
                bookings.c.bed_id == bed_id,
                bookings.c.status == "offered",
                bookings.c.offer_expires_at <= now,
            )
        )
    ).all()
    for row in rows:
        await move(
            conn, row, "expire_offer", now=now, actor="system:offer-expiry", reason="offer_expired"
        )
    return len(rows)


async def settle_bed(conn: AsyncConnection, bed_id: str, now: datetime) -> Wakeups:
    """Lock the bed, let expired holds go, and allocate: the one entry point for jobs."""
    await lock_bed(conn, bed_id)
    await expire_offers(conn, bed_id, now)
    return await allocate(conn, bed_id, now)
