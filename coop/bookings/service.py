"""Bookings: requests, quotes, and the moves of both sides.

Every use case is one transaction, in the lock order of ``coop.db.locks``: the caller is
authorised first (scope, tenancy), then the idempotency key is claimed (a replay is only ever
handed to a caller who could have made the request), then the bed's home is locked
(``lock_bed``), then booking rows are moved. What a request gets is decided by the pure rule
(``coop.policy.allocation``) on facts loaded under that lock; a request that is not decidable
yet is woken at ``decide_at`` by a job (scheduled after commit: Redis carries wake-ups, the
database is the truth, and the sweep catches anything a lost job missed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop import metrics
from coop.auth.principal import Principal, require_authority
from coop.bookings.allocation import (
    SYSTEM,
    Facts,
    Market,
    Outcome,
    apply,
    ask_of,
    bed_facts,
    decide,
    expire_offers,
    hold_of,
    insert_booking,
    load_market,
    lock_bed,
    move,
)
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
from coop.policy import allocation as rule
from coop.policy.allocation import Ask, VoidWindow
from coop.policy.fit import ChildProfile
from coop.policy.lifecycle import InvalidTransition, allowed_moves
from coop.policy.pricing import PriceBreakdown
from coop.policy.priority import decide_at
from coop.schemas import Page, check_limit, decode_id_cursor, encode_cursor
from coop.wakeups import Scheduler

WITHIN_5_DAYS = 5
SIDE_SCOPES = {"requester": "bookings:write", "owner": "homes:write"}
#: the id of a quote's would-be request: after every real booking in the ranking's last tie-break
QUOTE_ID = "~quote"


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


@dataclass(frozen=True)
class Call:
    """Who makes a move, and with what: the caller, the service's engine, clock and
    scheduler, and the request's ``Idempotency-Key``."""

    engine: AsyncEngine
    principal: Principal
    clock: Clock
    scheduler: Scheduler
    idem: IdempotencyKey | None = None


# -- what a request asks for -----------------------------------------------------------------


@dataclass
class Target:
    bed_id: str
    home_id: str
    owner: str
    void: Any | None


async def _target(conn: AsyncConnection, principal: Principal, data: BookingIn) -> Target:
    """The bed a request is for, checked against the caller's tenancy (nothing else: the
    void's state is checked after an idempotent replay had its chance)."""
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


def _check_request(data: BookingIn, target: Target, today: date) -> None:
    """What a request must be, whoever asks: its dates, and an open void."""
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
    if target.void is not None and target.void.status != "open":
        raise invalid("void_id", "The void has been withdrawn.", code="void_not_open")


def _known(membership: str | None) -> str:
    if membership is None:
        raise Problem(403, "unknown_authority", "Your authority is not a member.")
    return membership


def _ask(
    booking_id: str, requester: str, data: BookingIn, target: Target, facts: Facts, now: datetime
) -> Ask:
    """The request ``data`` as the rule sees it, made at ``now``."""
    void = target.void
    return Ask(
        id=booking_id,
        bed_id=target.bed_id,
        requester=requester,
        membership=_known(facts.membership),  # type: ignore[arg-type]
        urgency=data.urgency,
        created_at=now,
        decide_at=decide_at(
            created_at=now,
            requester=requester,
            owner=target.owner,
            urgency=data.urgency,
            home_priority_until=void.home_priority_until if void is not None else None,
            priority=facts.policy.document.priority,
        ),
        start=data.start_date,
        end=data.end_date,
        child=data.child,
        max_weekly_price_pence=data.max_weekly_price_pence,
        void=VoidWindow(void.status, void.available_from, void.available_until) if void else None,
    )


# -- request and quote -----------------------------------------------------------------------


async def create_booking(call: Call, data: BookingIn) -> BookingOut:
    """Request a bed: decided at once when it can be (the response says ``offered`` or
    ``declined``); otherwise ``pending`` until its ``decide_at``."""
    principal, idem = call.principal, call.idem
    now = call.clock.now()
    async with transaction(call.engine) as conn:
        target = await _target(conn, principal, data)
        await claim(conn, idem)  # a retry replays even once the dates or the void have gone
        _check_request(data, target, local_date(now))
        requester = principal.authority or ""
        facts = await lock_bed(conn, target.bed_id, now, requester=requester)
        ask = _ask(new_id("bkg"), requester, data, target, facts, now)
        quote = rule.price_for(ask, facts.bed, facts.policy.document)
        row = await insert_booking(
            conn,
            dict(
                id=ask.id,
                requester=requester,
                owner=target.owner,
                region=facts.region,
                void_id=data.void_id,
                bed_id=target.bed_id,
                home_id=target.home_id,
                child=msgspec.to_builtins(data.child),
                urgency=data.urgency,
                start_date=data.start_date,
                end_date=data.end_date,
                max_weekly_price_pence=data.max_weekly_price_pence,
                status="pending",
                decide_at=ask.decide_at,
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
        wake = await decide(conn, facts, now, screen=frozenset({ask.id}))
        row = wake.moved.get(ask.id, row)
        if row.status == "pending" and ask.decide_at > now:
            wake.allocations.append((target.bed_id, ask.decide_at))
        out = to_out(row)
        await remember(conn, idem, 201, out)
    metrics.booking_requested(out.status)
    metrics.booking_moves(wake.moves)
    await call.scheduler.schedule(wake.wakeups())
    return out


async def quote_booking(
    engine: AsyncEngine, principal: Principal, data: BookingIn, *, clock: Clock
) -> QuoteOut:
    """Price and fit of a would-be booking, nothing saved: the same decision a request made
    now would get, on the same facts — except that for anyone but the bed's owner no rule that
    depends on the children living in the home is evaluated (``checked_at_decision``)."""
    now = clock.now()
    today = local_date(now)
    async with engine.connect() as conn:
        target = await _target(conn, principal, data)
        _check_request(data, target, today)
        requester = principal.authority or ""
        facts = await bed_facts(conn, target.bed_id, now, requester=requester)
        market = await load_market(conn, facts, today)
    ask = _ask(QUOTE_ID, requester, data, target, facts, now)
    answer = rule.quote(
        ask,
        facts.bed,
        facts.policy.document,
        market.holds,
        market.asks,
        now,
        today,
        sees_residents=requester == facts.owner,
    )
    verdict = answer.verdict
    return QuoteOut(
        owner=target.owner,
        bed_id=target.bed_id,
        home_id=target.home_id,
        void_id=data.void_id,
        weekly_rate_pence=verdict.price.weekly_rate_pence,
        price_breakdown=verdict.price,
        fits=not verdict.reasons,
        reasons=list(verdict.reasons),
        checked_at_decision=list(answer.checked_at_decision),
        status=answer.status,
        status_reason=answer.status_reason,
        decide_at=ask.decide_at,
        home_priority_until=target.void.home_priority_until if target.void else None,
    )


# -- moves -----------------------------------------------------------------------------------


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


async def _authorised(
    conn: AsyncConnection, principal: Principal, booking_id: str, side: str
) -> Any:
    """The booking, if the caller may make a move of ``side`` on it: its requester
    (``bookings:write``), the bed's owner (``homes:write``), or for ``either`` (ending a
    placement) whichever of the two the caller is. 404 if it cannot see it, else 403."""
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
    return head


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


@dataclass
class Moving:
    """One move in progress: the locked home's facts and bookings, and the booking."""

    conn: AsyncConnection
    facts: Facts
    market: Market
    row: Any
    now: datetime
    today: date
    actor: str
    actor_authority: str | None
    expired: Outcome

    async def move(self, move_name: str, **kwargs: Any) -> Any:
        moved = await move(
            self.conn,
            self.row,
            move_name,
            now=self.now,
            actor=self.actor,
            actor_authority=self.actor_authority,
            **kwargs,
        )
        self.expired.made(move_name, self.row, self.now)
        return moved

    def holds(self) -> list[rule.Hold]:
        """The home's holds now (offers that ran out a moment ago hold nothing)."""
        return [h for h in self.market.holds if h.booking_id not in self.expired.moved]


class NoLongerFits(Exception):
    """Accepting found the match no longer fits: the booking was declined with the reason."""

    def __init__(self, row: Any, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.row = row
        self.problem = problem


Act = Callable[[Moving], Awaitable[Any]]


async def _make_move(
    call: Call, booking_id: str, side: str, act: Act, *, frees_bed: bool
) -> BookingOut:
    """Authorise, claim the key, lock the home, let spent offers go, make the move ``act``,
    and offer a freed bed to the next in rank — in one transaction."""
    principal, idem = call.principal, call.idem
    now = call.clock.now()
    today = local_date(now)
    async with transaction(call.engine) as conn:
        head = await _authorised(conn, principal, booking_id, side)
        await claim(conn, idem)
        facts = await lock_bed(conn, head.bed_id, now)
        market = await load_market(conn, facts, today)
        # A hold that ran out cannot be accepted: the offer is expired first, and that expiry
        # (with the next offer it makes) is kept even when the move itself is refused.
        wake = await expire_offers(conn, facts, market, now)
        row = wake.moved.get(booking_id) or market.rows.get(booking_id)
        if row is None:  # no longer live: the move will say what its status allows
            row = (await conn.execute(sa.select(bookings).where(bookings.c.id == booking_id))).one()
        moving = Moving(
            conn, facts, market, row, now, today, _actor(principal), principal.authority, wake
        )
        refused: Problem | None = None
        try:
            row = await act(moving)
        except InvalidTransition as exc:
            if not wake.moved:
                raise _invalid_transition(exc) from None
            refused = _invalid_transition(exc)
        except NoLongerFits as exc:  # the booking is declined (kept); the accept is refused
            refused = exc.problem
            wake.moved[booking_id] = exc.row
        if wake.moved or (refused is None and frees_bed):
            # The bed (or part of it) is free again: the next in rank may be offered it.
            wake.extend(await decide(conn, facts, now))
        if refused is None:
            out = to_out(row)
            await remember(conn, idem, 200, out)
    metrics.booking_moves(wake.moves)
    await call.scheduler.schedule(wake.wakeups())
    if refused is not None:
        raise refused
    return out


def _note(text: str | None) -> dict[str, Any] | None:
    return {"note": text} if text else None


async def withdraw_booking(call: Call, booking_id: str, note: str | None) -> BookingOut:
    """Requester: withdraw a pending or offered request; the bed goes to the next in rank."""

    async def act(m: Moving) -> Any:
        return await m.move("withdraw", reason="withdrawn", detail=_note(note))

    return await _make_move(call, booking_id, "requester", act, frees_bed=True)


async def cancel_booking(call: Call, booking_id: str, note: str | None) -> BookingOut:
    """Requester: cancel a confirmed booking (the day is recorded for the charges)."""

    async def act(m: Moving) -> Any:
        return await m.move("cancel", reason="cancelled", cancelled_on=m.today, detail=_note(note))

    return await _make_move(call, booking_id, "requester", act, frees_bed=True)


async def reject_booking(call: Call, booking_id: str, note: str) -> BookingOut:
    """Owner: reject the offered match; the next in rank is offered the bed."""

    async def act(m: Moving) -> Any:
        return await m.move("reject", reason="owner_rejected", detail={"note": note})

    return await _make_move(call, booking_id, "owner", act, frees_bed=True)


async def accept_booking(call: Call, booking_id: str) -> BookingOut:
    """Owner: accept the offered match. The match and the budget are checked again (the
    children living there may have changed since the offer): one that no longer fits is
    declined, 409 ``no_longer_fits``. The rate is locked; those waiting behind the offer lose
    the bed."""

    async def act(m: Moving) -> Any:
        if m.row.status != "offered":
            raise InvalidTransition(m.row.status, "accept")
        doc = m.facts.policy.document
        ask = ask_of(m.row, m.row.membership)
        why = rule.recheck_at_accept(ask, m.facts.bed, doc, m.holds(), m.today)
        if why is not None:
            declined = await move(
                m.conn,
                m.row,
                "decline",
                reason=why,
                detail={"at": "accept"},
                now=m.now,
                actor=SYSTEM,  # the policy declines it, not the owner
            )
            m.expired.made("decline", m.row, m.now)
            raise NoLongerFits(
                declined,
                conflict(
                    "no_longer_fits",
                    f"The match no longer fits ({why}): the request is declined and the bed "
                    "goes to the next in rank.",
                    reason=why,
                ),
            )
        locked = rule.price_for(ask, m.facts.bed, doc)
        row = await m.move(
            "accept",
            reason="owner_accepted",
            weekly_rate_pence=locked.weekly_rate_pence,
            price_breakdown=msgspec.to_builtins(locked),
            policy_version=m.facts.policy.version,
        )
        lost = rule.losers(hold_of(row), m.market.asks)
        m.expired.moves += (await apply(m.conn, m.facts, list(lost), m.market.rows, m.now)).moves
        return row

    return await _make_move(call, booking_id, "owner", act, frees_bed=False)


async def start_booking(call: Call, booking_id: str, data: StartIn) -> BookingOut:
    """Owner: record the child's arrival (on the day or after it, within the period)."""

    async def act(m: Moving) -> Any:
        row = m.row
        if row.status != "confirmed":
            raise InvalidTransition(row.status, "start")
        if data.date > m.today:
            raise invalid("date", "Record an arrival on the day or after it, not before.")
        if not row.start_date <= data.date < row.end_date:
            raise invalid("date", "The arrival must fall within the booking's period.")
        return await m.move("start", reason="arrived", actual_start_date=data.date)

    return await _make_move(call, booking_id, "owner", act, frees_bed=False)


async def end_booking(call: Call, booking_id: str, data: EndIn) -> BookingOut:
    """Requester or owner: record the end of a placement (SPEC §2). The end falls within
    ``[start, min(end_date, today + early_end_notice_days)]`` — a placement is never extended
    by an end, nor held far ahead — and its notice between the booking's start (or the day it
    was made, if earlier) and today."""

    async def act(m: Moving) -> Any:
        row = m.row
        if row.status != "active":
            raise InvalidTransition(row.status, "end")
        start = row.actual_start_date or row.start_date
        ahead = m.facts.policy.document.pricing.early_end_notice_days
        latest = min(row.end_date, m.today + timedelta(days=ahead))
        if not start <= data.date <= latest:
            raise invalid(
                "date",
                f"The end must fall between the start ({start}) and {latest}: the planned end, "
                f"or today plus the policy's {ahead} days' notice, whichever is sooner.",
            )
        notice = data.notice_date or m.today
        earliest = min(row.start_date, local_date(row.created_at))
        if not earliest <= notice <= m.today:
            raise invalid(
                "notice_date",
                f"Notice is dated between {earliest} (the booking's start, or the day it was "
                "made) and today.",
            )
        return await m.move(
            "end",
            reason="ended",
            detail={"note": data.reason},
            actual_end_date=data.date,
            notice_date=notice,
        )

    return await _make_move(call, booking_id, "either", act, frees_bed=False)


# -- reading ---------------------------------------------------------------------------------


async def get_booking(engine: AsyncEngine, principal: Principal, booking_id: str) -> BookingOut:
    async with engine.connect() as conn:
        await _visible_row(conn, principal, booking_id)
        row = (await conn.execute(sa.select(bookings).where(bookings.c.id == booking_id))).one()
    return to_out(row)


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
    after = decode_id_cursor(cursor)

    def page_of(mine: Any) -> sa.Select:
        """One keyset page over one index: (requester, id) or (owner, id)."""
        q = sa.select(bookings).where(mine)
        if status:
            q = q.where(bookings.c.status == status)
        if bed_id:
            q = q.where(bookings.c.bed_id == bed_id)
        if home_id:
            q = q.where(bookings.c.home_id == home_id)
        if after is not None:
            q = q.where(bookings.c.id > after)
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


#: what only the bed's owner may read of an event: the booking that won the bed instead
#: (another council's booking)
OWNER_ONLY_DETAIL = frozenset({"lost_to"})


def _detail_for(detail: dict | None, *, owner: bool) -> dict | None:
    if detail is None or owner:
        return detail
    shown = {k: v for k, v in detail.items() if k not in OWNER_ONLY_DETAIL}
    return shown or None


async def list_events(engine: AsyncEngine, principal: Principal, booking_id: str) -> list[EventOut]:
    async with engine.connect() as conn:
        head = await _visible_row(conn, principal, booking_id)
        owner = principal.authority == head.owner
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
                detail=_detail_for(r.detail, owner=owner),
            )
            for r in rows
        ]
