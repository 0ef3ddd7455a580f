"""The repository around :mod:`coop.policy.allocation`: lock, load facts, apply decisions.

The rule itself is pure and lives in ``coop.policy.allocation``. This module:

- locks the bed's home and reads its facts in one statement (:func:`lock_bed`, the ``home``
  lock of ``coop.db.locks``: a home's decisions are serial, unrelated homes never wait);
- loads what the rule reads of the home — the bed's bookings that can still matter and the
  children living in the other beds — and maps them to :class:`Hold` and :class:`Ask`
  Structs (:func:`load_market`);
- applies the decisions, each move one statement that updates the booking (guarded by its
  version) and records its event (:func:`move`, :func:`apply`).

:func:`decide` — load, ``policy.allocation.decide``, apply — is the only code that decides a
bed's bookings: inside a request (a new one, or a move that frees the bed), by the deferred
job at ``decide_at``, by the offer-hold expiry job and by the sweep (:func:`settle_bed`). The
exclusion constraint on ``bookings.hold_during`` backs the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.clock import local_date
from coop.db.locks import locking_home, waiting_for
from coop.db.schema import authorities, beds, booking_events, bookings, homes, voids
from coop.errors import Problem, not_found
from coop.members.service import PolicyVersion, in_force, policy_version
from coop.policy import allocation as rule
from coop.policy.allocation import Ask, Decision, Hold, VoidWindow
from coop.policy.fit import ChildProfile, HomeFacts
from coop.policy.lifecycle import REASONED_MOVES, next_status
from coop.policy.vocabulary import home_type_for
from coop.wakeups import Wakeup

SYSTEM = "system:allocator"
OFFER_EXPIRY = "system:offer-expiry"
LIVE = ("pending", "offered", "confirmed", "active")


@dataclass
class Outcome:
    """What a decision changed, and the wake-ups to schedule once it has committed."""

    offers: list[tuple[str, datetime]] = field(default_factory=list)
    allocations: list[tuple[str, datetime]] = field(default_factory=list)
    moved: dict[str, Any] = field(default_factory=dict)
    moves: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)
    """Every move made, in order: ``(move, from_status, created_at, at)``, for the metrics
    (``coop.metrics.booking_moves``) once the transaction has committed."""

    def extend(self, other: Outcome) -> None:
        self.offers += other.offers
        self.allocations += other.allocations
        self.moved.update(other.moved)
        self.moves += other.moves

    def made(self, move_name: str, before: Any, now: datetime) -> None:
        """Note a move of the booking ``before`` (its row before the move)."""
        self.moves.append((move_name, before.status, before.created_at, now))

    def wakeups(self) -> list[Wakeup]:
        """Deferred allocation of a bed at ``decide_at``; expiry of each offer's hold."""
        return [
            *(
                Wakeup("allocate_bed", bed_id, f"allocate:{bed_id}:{int(at.timestamp())}", at)
                for bed_id, at in self.allocations
            ),
            *(Wakeup("expire_offer", bid, f"expire:{bid}", at) for bid, at in self.offers),
        ]


# -- the bed and its home --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """A bed's facts as the rule sees them, and what the service needs around them."""

    bed: rule.BedFacts
    home_id: str
    region: str
    policy: PolicyVersion
    membership: str | None = None
    """The requester's membership, when the caller asked for it."""

    @property
    def owner(self) -> str:
        return self.bed.owner


def _bed_facts_statement(*, lock: bool, with_requester: bool) -> sa.Select:
    all_beds = beds.alias("all_beds")
    policy = in_force(homes.c.region, sa.bindparam("now", type_=sa.DateTime(timezone=True)))
    policy = policy.lateral("policy")
    columns = [
        beds.c.id.label("bed_id"),
        beds.c.status.label("bed_status"),
        *[c.label(f"h_{c.name}") for c in homes.c],
        sa.select(sa.func.count())
        .where(all_beds.c.home_id == homes.c.id)
        .scalar_subquery()
        .label("bed_count"),
        policy.c.version.label("p_version"),
        policy.c.effective_from.label("p_effective_from"),
        policy.c.document.label("p_document"),
    ]
    if with_requester:
        columns.append(
            sa.select(authorities.c.membership)
            .where(authorities.c.slug == sa.bindparam("requester"))
            .scalar_subquery()
            .label("membership")
        )
    q = (
        sa.select(*columns)
        .select_from(beds.join(homes, homes.c.id == beds.c.home_id).outerjoin(policy, sa.true()))
        .where(beds.c.id == sa.bindparam("bed_id"))
    )
    return locking_home(q) if lock else q


# Built once: SQLAlchemy memoises a statement's cache key, so reuse costs nothing to build.
_BED_FACTS = {
    (lock, with_requester): _bed_facts_statement(lock=lock, with_requester=with_requester)
    for lock in (False, True)
    for with_requester in (False, True)
}


async def bed_facts(
    conn: AsyncConnection,
    bed_id: str,
    now: datetime,
    *,
    lock: bool = False,
    requester: str | None = None,
) -> Facts:
    """The bed, its home, the home's size, the policy in force (and the requester's
    membership) in one statement; with ``lock``, the home's lock too."""
    params: dict[str, Any] = {"bed_id": bed_id, "now": now}
    if requester is not None:
        params["requester"] = requester
    async with waiting_for("home"):
        row = (await conn.execute(_BED_FACTS[(lock, requester is not None)], params)).one_or_none()
    if row is None:
        raise not_found("bed", bed_id)
    m = row._mapping
    home = HomeFacts(
        age_min=m["h_age_min"],
        age_max=m["h_age_max"],
        gender=m["h_gender"],
        needs_supported=frozenset(m["h_needs_supported"]),
        risks_managed=frozenset(m["h_risks_managed"]),
        accepts_dols=m["h_accepts_dols"],
        home_type=home_type_for(m["bed_count"]),
        purpose=m["h_purpose"],
        status=m["h_status"],
    )
    bed = rule.BedFacts(
        id=m["bed_id"],
        owner=m["h_owner"],
        status=m["bed_status"],
        home=home,
        weekly_cost_pence=m["h_weekly_cost_pence"],
    )
    version = policy_version(
        m["h_region"],
        None
        if m["p_version"] is None
        else (m["p_version"], m["p_effective_from"], m["p_document"]),
    )
    return Facts(bed, m["h_id"], m["h_region"], version, m.get("membership"))


async def lock_bed(
    conn: AsyncConnection, bed_id: str, now: datetime, *, requester: str | None = None
) -> Facts:
    """Serialise the bed's decisions: lock its home's row (``coop.db.locks``, waiting at most
    the lock timeout) and read the bed's facts in the same statement."""
    return await bed_facts(conn, bed_id, now, lock=True, requester=requester)


# -- the home's bookings ---------------------------------------------------------------------


_MARKET = (
    sa.select(
        bookings,
        authorities.c.membership,
        voids.c.status.label("void_status"),
        voids.c.available_from.label("void_from"),
        voids.c.available_until.label("void_until"),
    )
    .select_from(
        bookings.join(authorities, authorities.c.slug == bookings.c.requester).outerjoin(
            voids, voids.c.id == bookings.c.void_id
        )
    )
    .where(
        bookings.c.home_id == sa.bindparam("home_id"),
        sa.or_(
            # the bed's own bookings that can still matter: live, or ended with days to come
            sa.and_(
                bookings.c.bed_id == sa.bindparam("bed_id"),
                sa.or_(
                    bookings.c.status.in_(LIVE),
                    sa.and_(
                        bookings.c.status == "ended",
                        sa.func.upper(bookings.c.hold_during)
                        > sa.bindparam("today", type_=sa.Date),
                    ),
                ),
            ),
            # the children living in the home's other beds
            bookings.c.status.in_(sorted(rule.LIVING)),
        ),
    )
)


@dataclass
class Market:
    """What the rule reads of a bed's home, as Structs, and the rows behind them: every hold
    on the bed and the pending requests for it, and the children living in the other beds."""

    holds: list[Hold]
    asks: list[Ask]
    rows: dict[str, Any]


def hold_of(row: Any) -> Hold:
    return Hold(
        booking_id=row.id,
        bed_id=row.bed_id,
        status=row.status,
        start=row.hold_during.lower,
        end=row.hold_during.upper,
        child_age=row.child["age"],
        offered_at=row.offered_at,
        offer_expires_at=row.offer_expires_at,
    )


def ask_of(row: Any, membership: str) -> Ask:
    """A booking row as a request; ``void_*`` columns joined when it came through a void."""
    void = None
    if row.void_id is not None:
        void = VoidWindow(row.void_status, row.void_from, row.void_until)
    return Ask(
        id=row.id,
        bed_id=row.bed_id,
        requester=row.requester,
        membership=membership,  # type: ignore[arg-type]
        urgency=row.urgency,
        created_at=row.created_at,
        decide_at=row.decide_at,
        start=row.start_date,
        end=row.end_date,
        child=msgspec.convert(row.child, ChildProfile),
        max_weekly_price_pence=row.max_weekly_price_pence,
        void=void,
    )


async def load_market(conn: AsyncConnection, facts: Facts, today: date) -> Market:
    """The bed's live bookings and its ended ones with days to come, and the placements in
    the home's other beds (its residents), with each requester's membership and each void's
    window: one statement. Nothing else in the home bears on the bed's decisions."""
    params = {"home_id": facts.home_id, "bed_id": facts.bed.id, "today": today}
    rows = (await conn.execute(_MARKET, params)).all()
    return Market(
        holds=[hold_of(r) for r in rows if r.hold_during is not None],
        asks=[ask_of(r, r.membership) for r in rows if r.status == "pending"],
        rows={r.id: r for r in rows},
    )


# -- moves -----------------------------------------------------------------------------------


#: columns a move may set besides status, reason, version and updated_at
MOVE_COLUMNS = frozenset(
    {
        "offered_at",
        "offer_expires_at",
        "weekly_rate_pence",
        "price_breakdown",
        "policy_version",
        "cancelled_on",
        "actual_start_date",
        "actual_end_date",
        "notice_date",
    }
)
_JSON = JSONB(none_as_null=True)


def _typed(column: sa.Column, name: str) -> sa.BindParameter:
    return sa.bindparam(name, type_=_JSON if isinstance(column.type, JSONB) else column.type)


def _with_event(changed: sa.CTE) -> sa.Select:
    """``SELECT * FROM changed``, recording an event for the changed booking on the way."""
    event = sa.insert(booking_events).from_select(
        [
            "booking_id",
            "at",
            "actor",
            "actor_authority",
            "from_status",
            "to_status",
            "reason",
            "detail",
        ],
        sa.select(
            changed.c.id,
            sa.bindparam("at", type_=sa.DateTime(timezone=True)),
            sa.bindparam("actor", type_=sa.Text),
            sa.bindparam("actor_authority", type_=sa.Text),
            sa.bindparam("from_status", type_=sa.Text),
            changed.c.status,
            sa.bindparam("reason", type_=sa.Text),
            sa.bindparam("detail", type_=_JSON),
        ),
    )
    return sa.select(changed).add_cte(event.cte("event"))


@cache
def _move_statement(columns: frozenset[str]) -> sa.Select:
    """One statement per set of columns a move writes: the update, guarded by the version
    the caller read, and its event. Cached: each shape is built once."""
    changed = (
        sa.update(bookings)
        .where(
            bookings.c.id == sa.bindparam("b_id", type_=sa.Text),
            bookings.c.version == sa.bindparam("b_version", type_=sa.Integer),
        )
        .values(
            status=sa.bindparam("to_status", type_=sa.Text),
            status_reason=sa.bindparam("status_reason", type_=sa.Text),
            version=bookings.c.version + 1,
            updated_at=sa.bindparam("at", type_=sa.DateTime(timezone=True)),
            **{c: _typed(bookings.c[c], f"set_{c}") for c in sorted(columns)},
        )
        .returning(*bookings.c)
        .cte("changed")
    )
    return _with_event(changed)


_INSERT_COLUMNS = tuple(c.name for c in bookings.c if c.name not in ("hold_during", "version"))
_INSERT = _with_event(
    sa.insert(bookings)
    .values({c: _typed(bookings.c[c], f"new_{c}") for c in _INSERT_COLUMNS})
    .returning(*bookings.c)
    .cte("changed")
)


async def insert_booking(
    conn: AsyncConnection, values: dict[str, Any], *, actor: str, actor_authority: str | None
) -> Any:
    """Insert a pending booking and record its ``requested`` event, in one statement."""
    params = {f"new_{c}": values.get(c) for c in _INSERT_COLUMNS}
    params.update(
        at=values["created_at"],
        actor=actor,
        actor_authority=actor_authority,
        from_status=None,
        reason="requested",
        detail=None,
    )
    return (await conn.execute(_INSERT, params)).one()


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
    """Make one state-machine move on a booking row (its home locked), record it, return the
    new row. ``values`` are the columns the move writes (``MOVE_COLUMNS``), NULL included."""
    to_status = next_status(row.status, move_name)
    unknown = set(values) - MOVE_COLUMNS
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"a move cannot set {sorted(unknown)}")
    params = {f"set_{c}": v for c, v in values.items()}
    params.update(
        status_reason=reason if move_name in REASONED_MOVES else None,
        b_id=row.id,
        b_version=row.version,
        to_status=to_status,
        at=now,
        actor=actor,
        actor_authority=actor_authority,
        from_status=row.status,
        reason=reason,
        detail=detail,
    )
    moved = (await conn.execute(_move_statement(frozenset(values)), params)).one_or_none()
    if moved is None:  # the version guard: someone moved it first (the home lock prevents it)
        raise Problem(409, "conflict", "The booking changed meanwhile: read it again.")
    return moved


async def apply(
    conn: AsyncConnection,
    facts: Facts,
    decisions: list[Decision],
    rows: dict[str, Any],
    now: datetime,
    *,
    actor: str = SYSTEM,
) -> Outcome:
    """Carry out the rule's decisions, in order; ``rows`` are the bookings they name."""
    out = Outcome()
    for d in decisions:
        row = out.moved.get(d.booking_id) or rows[d.booking_id]
        if isinstance(d, rule.ExpireOffer):
            out.moved[d.booking_id] = await move(
                conn, row, "expire_offer", now=now, actor=OFFER_EXPIRY, reason="offer_expired"
            )
            out.made("expire_offer", row, now)
        elif isinstance(d, rule.Decline):
            out.moved[d.booking_id] = await move(
                conn,
                row,
                d.move,
                now=now,
                actor=actor,
                reason=d.reason,
                detail={"lost_to": d.lost_to} if d.lost_to else None,
            )
            out.made(d.move, row, now)
        elif isinstance(d, rule.Offer):
            out.moved[d.booking_id] = await move(
                conn,
                row,
                "offer",
                now=now,
                actor=actor,
                offered_at=now,
                offer_expires_at=d.expires_at,
                weekly_rate_pence=d.price.weekly_rate_pence,
                price_breakdown=msgspec.to_builtins(d.price),
                policy_version=facts.policy.version,
            )
            out.made("offer", row, now)
            out.offers.append((d.booking_id, d.expires_at))
    return out


# -- deciding --------------------------------------------------------------------------------


async def expire_offers(
    conn: AsyncConnection, facts: Facts, market: Market, now: datetime
) -> Outcome:
    """Offers on the bed whose hold has run out go back: declined ``offer_expired``."""
    spent = rule.spent_offers(market.holds, facts.bed.id, now)
    return await apply(conn, facts, list(spent), market.rows, now)


async def decide(
    conn: AsyncConnection, facts: Facts, now: datetime, *, screen: frozenset[str] = frozenset()
) -> Outcome:
    """Let the bed's spent holds go, then allocate. The caller holds the home's lock."""
    today = local_date(now)
    market = await load_market(conn, facts, today)
    decisions = rule.decide(
        facts.bed,
        facts.policy.document,
        market.holds,
        market.asks,
        now,
        today,
        screen=screen,
    )
    return await apply(conn, facts, decisions, market.rows, now)


async def settle_bed(conn: AsyncConnection, bed_id: str, now: datetime) -> Outcome:
    """Lock the bed and decide it: the entry point of the jobs and the sweep."""
    return await decide(conn, await lock_bed(conn, bed_id, now), now)
