"""Bookings: requests, offers, holds and the moves of both sides.

Every use case is one transaction, in this lock order: the idempotency key, then the bed's
home (``lock_bed``), then the booking rows. Allocation happens inside the request when the
booking is already decidable; otherwise a job wakes it at ``decide_at`` (scheduled after
commit: Redis carries wake-ups, the database is the truth, and the sweep catches anything
a lost job missed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop.auth.guards import require_authority
from coop.auth.principal import Principal
from coop.bookings.allocation import (
    BedFacts,
    Outcome,
    bed_facts,
    decide,
    expire_offers,
    insert_booking,
    live_bookings,
    lock_bed,
    move,
    residents,
    void_covers,
)
from coop.bookings.jobs import Scheduler
from coop.bookings.schemas import (
    BookingIn,
    BookingOut,
    EndIn,
    EventOut,
    QuoteOut,
    StartIn,
)
from coop.clock import Clock, local_date
from coop.db.schema import beds, booking_events, bookings, homes, voids
from coop.db.session import transaction
from coop.errors import Problem, conflict, invalid, not_found
from coop.idempotency import IdempotencyKey, claim, remember
from coop.ids import new_id
from coop.members.service import membership_of
from coop.policy.fit import ChildProfile, fit, fit_all
from coop.policy.lifecycle import InvalidTransition, allowed_moves
from coop.policy.pricing import PriceBreakdown
from coop.policy.priority import decide_at
from coop.schemas import Page, check_limit, decode_cursor, encode_cursor

WITHIN_5_DAYS = 5
SIDE_SCOPES = {"requester": "bookings:write", "owner": "homes:write"}


def to_out(row: Any) -> BookingOut:
    return BookingOut(
        id=row.id,
        requester=row.requester,
        owner=row.owner,
        void_id=row.void_id,
        bed_id=row.bed_id,
        home_id=row.home_id,
        child=msgspec.convert(row.child, ChildProfile),
        urgency=row.urgency,
        start_date=row.start_date,
        end_date=row.end_date,
        max_weekly_price_pence=row.max_weekly_price_pence,
        status=row.status,
        status_reason=row.status_reason,
        decide_at=row.decide_at,
        offered_at=row.offered_at,
        offer_expires_at=row.offer_expires_at,
        weekly_rate_pence=row.weekly_rate_pence,
        price_breakdown=(
            msgspec.convert(row.price_breakdown, PriceBreakdown) if row.price_breakdown else None
        ),
        policy_version=row.policy_version,
        actual_start_date=row.actual_start_date,
        actual_end_date=row.actual_end_date,
        notice_date=row.notice_date,
        cancelled_on=row.cancelled_on,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _actor(principal: Principal) -> str:
    return f"client:{principal.client_id}"


# -- what a request asks for -----------------------------------------------------------------


@dataclass
class Target:
    bed_id: str
    home_id: str
    owner: str
    void: Any | None


async def _target(conn: AsyncConnection, principal: Principal, data: BookingIn) -> Target:
    """The bed a request is for, checked against the caller's tenancy."""
    requester = require_authority(principal)
    if (data.void_id is None) == (data.bed_id is None):
        raise invalid("void_id", "Give exactly one of void_id or bed_id (bed_id: your own beds).")
    if data.void_id is not None:
        row = (
            await conn.execute(
                sa.select(voids, homes.c.owner)
                .join(homes, homes.c.id == voids.c.home_id)
                .where(voids.c.id == data.void_id, homes.c.region == principal.region)
            )
        ).one_or_none()
        if row is None:
            raise not_found("void", data.void_id)
        if row.status != "open":
            raise Problem(422, "void_not_open", "The void has been withdrawn.", field="$.void_id")
        return Target(row.bed_id, row.home_id, row.owner, row)
    row = (
        await conn.execute(
            sa.select(beds.c.id, beds.c.home_id, homes.c.owner)
            .join(homes, homes.c.id == beds.c.home_id)
            .where(beds.c.id == data.bed_id, homes.c.region == principal.region)
        )
    ).one_or_none()
    if row is None:
        raise not_found("bed", data.bed_id or "")
    if row.owner != requester:
        raise Problem(
            403,
            "own_beds_only",
            "Request another authority's bed through one of its voids (void_id).",
        )
    return Target(row.id, row.home_id, row.owner, None)


def _decide_time(
    now: datetime, requester: str, target: Target, facts: BedFacts, urgency: str
) -> datetime:
    """When the shared policy decides this request (SPEC §3: the home window)."""
    return decide_at(
        created_at=now,
        requester=requester,
        owner=target.owner,
        urgency=urgency,  # type: ignore[arg-type]
        home_priority_until=target.void.home_priority_until if target.void else None,
        priority=facts.policy.document.priority,
    )


def _check_dates(data: BookingIn, today: date) -> None:
    if data.end_date <= data.start_date:
        raise invalid("end_date", "end_date must be after start_date.")
    if data.start_date < today:
        raise invalid("start_date", "A booking cannot start in the past.", code="start_in_past")
    if data.urgency == "today" and data.start_date != today:
        raise invalid("start_date", "A `today` booking starts today.", code="urgency_mismatch")
    if data.urgency == "within_5_days" and data.start_date > today + timedelta(WITHIN_5_DAYS):
        raise invalid(
            "start_date",
            "A `within_5_days` booking starts within five days.",
            code="urgency_mismatch",
        )


def _known(membership: str | None) -> str:
    if membership is None:
        raise Problem(403, "unknown_authority", "Your authority is not a member.")
    return membership


async def _membership(conn: AsyncConnection, slug: str) -> str:
    return _known(await membership_of(conn, slug))


# -- request and quote -----------------------------------------------------------------------


async def create_booking(
    engine: AsyncEngine,
    principal: Principal,
    data: BookingIn,
    *,
    clock: Clock,
    scheduler: Scheduler,
    idem: IdempotencyKey | None = None,
) -> BookingOut:
    now = clock.now()
    wake = Outcome()
    async with transaction(engine) as conn:
        await claim(conn, idem)  # first: a retry replays even once the dates no longer pass
        _check_dates(data, local_date(now))
        target = await _target(conn, principal, data)
        requester = principal.authority or ""
        facts = await lock_bed(conn, target.bed_id, now, requester=requester)
        membership = _known(facts.membership)
        quote = facts.quote(requester=requester, membership=membership, urgency=data.urgency)
        decide_time = _decide_time(now, requester, target, facts, data.urgency)
        booking_id = new_id("bkg")
        row = await insert_booking(
            conn,
            dict(
                id=booking_id,
                requester=requester,
                owner=target.owner,
                region=facts.home.region,
                void_id=data.void_id,
                bed_id=target.bed_id,
                home_id=target.home_id,
                child=msgspec.to_builtins(data.child),
                urgency=data.urgency,
                start_date=data.start_date,
                end_date=data.end_date,
                max_weekly_price_pence=data.max_weekly_price_pence,
                status="pending",
                decide_at=decide_time,
                weekly_rate_pence=quote.weekly_rate_pence,
                price_breakdown=msgspec.to_builtins(quote),
                policy_version=facts.policy.version,
                created_at=now,
                updated_at=now,
            ),
            actor=_actor(principal),
            actor_authority=requester,
        )
        # Decided now if it can be; one that can never fit is declined at once either way.
        wake.extend(await decide(conn, facts, now, screen=frozenset({booking_id})))
        row = wake.moved.get(booking_id, row)
        if row.status == "pending" and decide_time > now:
            wake.allocations.append((target.bed_id, decide_time))
        out = to_out(row)
        await remember(conn, idem, 201, out)
    await scheduler.schedule(wake)
    return out


async def quote_booking(
    engine: AsyncEngine, principal: Principal, data: BookingIn, *, clock: Clock
) -> QuoteOut:
    """Price and fit of a would-be booking; nothing is saved."""
    now = clock.now()
    _check_dates(data, local_date(now))
    async with engine.connect() as conn:
        target = await _target(conn, principal, data)
        requester = principal.authority or ""
        facts = await bed_facts(conn, target.bed_id, now, requester=requester)
        membership = _known(facts.membership)
        quote = facts.quote(requester=requester, membership=membership, urgency=data.urgency)
        reasons = await _reasons(conn, facts, target, data, requester, membership, quote, now)
        decide_time = _decide_time(now, requester, target, facts, data.urgency)
    return QuoteOut(
        owner=target.owner,
        bed_id=target.bed_id,
        home_id=target.home_id,
        void_id=data.void_id,
        weekly_rate_pence=quote.weekly_rate_pence,
        price_breakdown=quote,
        fits=not reasons,
        reasons=reasons,
        decide_at=decide_time,
        home_priority_until=target.void.home_priority_until if target.void else None,
    )


async def _reasons(
    conn: AsyncConnection,
    facts: BedFacts,
    target: Target,
    data: BookingIn,
    requester: str,
    membership: str,
    quote: Any,
    now: datetime,
) -> list[str]:
    reasons: list[str] = []
    if membership == "suspended":
        reasons.append("requester_suspended")
    if (
        requester != target.owner
        and target.void is not None
        and not void_covers(target.void, data.start_date, data.end_date)
    ):
        reasons.append("outside_void")
    people = await residents(
        conn, facts.home.id, facts.bed.id, data.start_date, data.end_date, local_date(now)
    )
    reasons += fit_all(
        data.child,
        facts.facts(),
        people,
        data.start_date,
        data.end_date,
        facts.policy.document.rules,
    )
    if (
        data.max_weekly_price_pence is not None
        and quote.weekly_rate_pence > data.max_weekly_price_pence
    ):
        reasons.append("over_budget")
    held = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(bookings)
        .where(
            bookings.c.bed_id == facts.bed.id,
            bookings.c.status.in_(("confirmed", "active", "ended")),
            bookings.c.hold_during.overlaps(
                sa.func.daterange(data.start_date, data.end_date, "[)")
            ),
        )
    )
    if held or facts.bed.status == "out_of_use":
        reasons.append("unavailable")
    return reasons


# -- moves -----------------------------------------------------------------------------------


async def _load(conn: AsyncConnection, booking_id: str, *, lock: bool = False) -> Any:
    q = sa.select(bookings).where(bookings.c.id == booking_id)
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).one_or_none()
    if row is None:
        raise not_found("booking", booking_id)
    return to_out(row) if not lock else row


async def _visible_row(conn: AsyncConnection, principal: Principal, booking_id: str) -> Any:
    """The booking, if the caller is its requester or the bed's owner; else 404."""
    row = (
        await conn.execute(
            sa.select(bookings.c.bed_id, bookings.c.requester, bookings.c.owner).where(
                bookings.c.id == booking_id
            )
        )
    ).one_or_none()
    if row is None or principal.authority not in (row.requester, row.owner):
        raise not_found("booking", booking_id)
    return row


def _invalid_transition(exc: InvalidTransition) -> Problem:
    return conflict(
        "invalid_transition",
        f"The booking is {exc.status}: it cannot be {_PAST.get(exc.move, exc.move)}.",
        status_now=exc.status,
        allowed_moves=allowed_moves(exc.status),
    )


_PAST = {
    "accept": "accepted",
    "reject": "rejected",
    "withdraw": "withdrawn",
    "cancel": "cancelled",
    "start": "started",
    "end": "ended",
}


async def make_move(
    engine: AsyncEngine,
    principal: Principal,
    booking_id: str,
    move_name: str,
    *,
    side: str,
    clock: Clock,
    scheduler: Scheduler,
    idem: IdempotencyKey | None = None,
    reason: str | None = None,
    start: StartIn | None = None,
    end: EndIn | None = None,
) -> BookingOut:
    """One move of the requester (``side="requester"``), the bed's owner (``"owner"``), or
    whichever of the two the caller is (``"either"``, for ``end``)."""
    now = clock.now()
    today = local_date(now)
    wake = Outcome()
    async with transaction(engine) as conn:
        await claim(conn, idem)
        head = await _visible_row(conn, principal, booking_id)
        if side == "either":  # an owner ending a placement in its own bed may be either side
            requester_side = principal.authority == head.requester and (
                principal.has(SIDE_SCOPES["requester"]) or principal.authority != head.owner
            )
            side = "requester" if requester_side else "owner"
        needed = SIDE_SCOPES[side]
        if not principal.has(needed):
            raise Problem(403, "insufficient_scope", f"This needs the {needed} scope.")
        party = head.requester if side == "requester" else head.owner
        if principal.authority != party:
            who = "the booking's requester" if side == "requester" else "the bed's owner"
            raise Problem(403, f"not_{side}", f"Only {who} can do this.")
        facts = await lock_bed(conn, head.bed_id, now)
        # A hold that ran out cannot be accepted: the offer is expired first, and that expiry
        # (with the next offer it makes) is kept even when the move itself is refused.
        rows = await live_bookings(conn, facts.home.id, today)
        expired = (await expire_offers(conn, facts, rows, now)).moved
        row = await _load(conn, booking_id, lock=True)
        actor = dict(now=now, actor=_actor(principal), actor_authority=principal.authority)
        refused: Problem | None = None
        try:
            if move_name == "accept":
                row = await _accept(conn, row, facts, actor)
            elif move_name == "reject":
                row = await move(
                    conn, row, "reject", reason="owner_rejected", detail={"note": reason}, **actor
                )
            elif move_name == "withdraw":
                row = await move(
                    conn,
                    row,
                    "withdraw",
                    reason="withdrawn",
                    detail={"note": reason} if reason else None,
                    **actor,
                )
            elif move_name == "cancel":
                row = await move(
                    conn,
                    row,
                    "cancel",
                    reason="cancelled",
                    cancelled_on=today,
                    detail={"note": reason} if reason else None,
                    **actor,
                )
            elif move_name == "start":
                assert start is not None
                row = await _start(conn, row, start.date, today, actor)
            elif move_name == "end":
                assert end is not None
                row = await _end(conn, row, end, today, actor)
            else:  # pragma: no cover - the controllers name the moves
                raise ValueError(move_name)
        except InvalidTransition as exc:
            if not expired:
                raise _invalid_transition(exc) from None
            refused = _invalid_transition(exc)
        except NoLongerFits as exc:  # the booking is declined (kept); the accept is refused
            refused, expired = exc.problem, {row.id: exc.row}
        if expired or (refused is None and move_name in ("reject", "withdraw", "cancel")):
            # The bed (or part of it) is free again: the next in rank may be offered it.
            wake.extend(await decide(conn, facts, now))
        if refused is None:
            out = to_out(row)
            await remember(conn, idem, 200, out)
    await scheduler.schedule(wake)
    if refused is not None:
        raise refused
    return out


class NoLongerFits(Exception):
    """Accepting found the match no longer fits: the booking was declined with the reason."""

    def __init__(self, row: Any, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.row = row
        self.problem = problem


async def _accept(conn: AsyncConnection, row: Any, facts: BedFacts, actor: dict[str, Any]) -> Any:
    now: datetime = actor["now"]
    if row.status != "offered":
        raise InvalidTransition(row.status, "accept")
    membership = await _membership(conn, row.requester)
    locked = facts.quote(requester=row.requester, membership=membership, urgency=row.urgency)
    # Check the match again against what holds now: the children living there (one may
    # have been accepted into another bed since the offer), the home, and the budget.
    people = await residents(
        conn, facts.home.id, row.bed_id, row.start_date, row.end_date, local_date(now)
    )
    child = msgspec.convert(row.child, ChildProfile)
    why = fit(
        child, facts.facts(), people, row.start_date, row.end_date, facts.policy.document.rules
    )
    if (
        why is None
        and row.max_weekly_price_pence is not None
        and (locked.weekly_rate_pence > row.max_weekly_price_pence)
    ):
        why = "over_budget"
    if why is not None:
        declined = await move(
            conn,
            row,
            "decline",
            reason=why,
            detail={"at": "accept"},
            now=now,
            actor="system:allocator",  # the policy declines it, not the owner
        )
        raise NoLongerFits(
            declined,
            conflict(
                "no_longer_fits",
                f"The match no longer fits ({why}): the request is declined and the bed "
                "goes to the next in rank.",
                reason=why,
            ),
        )
    row = await move(
        conn,
        row,
        "accept",
        reason="owner_accepted",
        weekly_rate_pence=locked.weekly_rate_pence,
        price_breakdown=msgspec.to_builtins(locked),
        policy_version=facts.policy.version,
        **actor,
    )
    # Those waiting behind the offer lose the bed: outranked if they were already decidable
    # when it was offered, unavailable if the bed was held before they were decided.
    waiting = (
        await conn.execute(
            sa.select(bookings)
            .where(
                bookings.c.bed_id == row.bed_id,
                bookings.c.status == "pending",
                bookings.c.start_date < row.end_date,
                bookings.c.end_date > row.start_date,
            )
            .with_for_update()
        )
    ).all()
    for b in waiting:
        why = "outranked" if b.decide_at <= row.offered_at else "unavailable"
        await move(
            conn,
            b,
            "decline",
            now=now,
            actor="system:allocator",
            reason=why,
            detail={"lost_to": row.id},
        )
    return row


async def _start(
    conn: AsyncConnection, row: Any, arrived: date, today: date, actor: dict[str, Any]
) -> Any:
    if row.status != "confirmed":
        raise InvalidTransition(row.status, "start")
    if arrived > today:
        raise invalid("date", "Record an arrival on the day or after it, not before.")
    if not row.start_date <= arrived < row.end_date:
        raise invalid("date", "The arrival must fall within the booking's period.")
    return await move(conn, row, "start", reason="arrived", actual_start_date=arrived, **actor)


async def _end(
    conn: AsyncConnection, row: Any, end: EndIn, today: date, actor: dict[str, Any]
) -> Any:
    if row.status != "active":
        raise InvalidTransition(row.status, "end")
    if end.date < (row.actual_start_date or row.start_date):
        raise invalid("date", "A placement cannot end before it started.")
    notice = end.notice_date or today
    if notice > today:
        raise invalid("notice_date", "Notice cannot be dated in the future.")
    return await move(
        conn,
        row,
        "end",
        reason="ended",
        detail={"note": end.reason},
        actual_end_date=end.date,
        notice_date=notice,
        **actor,
    )


# -- reading ---------------------------------------------------------------------------------


async def get_booking(engine: AsyncEngine, principal: Principal, booking_id: str) -> BookingOut:
    async with engine.connect() as conn:
        await _visible_row(conn, principal, booking_id)
        return await _load(conn, booking_id)


async def list_bookings(
    engine: AsyncEngine,
    principal: Principal,
    *,
    status: str | None,
    bed_id: str | None,
    home_id: str | None,
    role: str | None,
    limit: int,
    cursor: str | None,
) -> Page[BookingOut]:
    me = require_authority(principal)
    check_limit(limit)
    after = decode_cursor(cursor)

    def page_of(mine: Any) -> sa.Select:
        """One keyset page over one index: (requester, id) or (owner, id)."""
        q = sa.select(bookings).where(mine)
        if status:
            q = q.where(bookings.c.status == status)
        if bed_id:
            q = q.where(bookings.c.bed_id == bed_id)
        if home_id:
            q = q.where(bookings.c.home_id == home_id)
        if after:
            q = q.where(bookings.c.id > str(after[0]))
        return q.order_by(bookings.c.id).limit(limit + 1)

    as_requester = page_of(bookings.c.requester == me)
    # on its own beds, but not its own requests (those are in the first page already)
    as_owner = page_of(sa.and_(bookings.c.owner == me, bookings.c.requester != me))
    if role == "requester":
        q = as_requester
    elif role == "owner":
        q = page_of(bookings.c.owner == me)
    else:  # two index scans merged, rather than one OR that walks the whole table
        both = sa.union_all(as_requester, as_owner).subquery()
        q = sa.select(both).order_by(both.c.id).limit(limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    items = [to_out(r) for r in rows[:limit]]
    return Page(
        items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None
    )


async def list_events(engine: AsyncEngine, principal: Principal, booking_id: str) -> list[EventOut]:
    async with engine.connect() as conn:
        await _visible_row(conn, principal, booking_id)
        rows = await conn.execute(
            sa.select(booking_events)
            .where(booking_events.c.booking_id == booking_id)
            .order_by(booking_events.c.id)
        )
        return [
            EventOut(
                at=r.at,
                actor=r.actor,
                actor_authority=r.actor_authority,
                from_status=r.from_status,
                to_status=r.to_status,
                reason=r.reason,
                detail=r.detail,
            )
            for r in rows
        ]
