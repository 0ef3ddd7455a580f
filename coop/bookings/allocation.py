"""Allocation of one bed under the shared policy (SPEC §3 "Allocation").

:func:`decide` (spent holds go, then :func:`allocate`) is the only code that decides a bed's
bookings: inside a request (a new one, or a move that frees the bed), by the deferred job at
``decide_at``, by the offer-hold expiry job and by the sweep (the last three through
:func:`settle_bed`). It runs under the lock of the bed's home (:func:`lock_bed`), so a
home's decisions are serial while unrelated homes never wait on each other; the exclusion
constraint on ``bookings.hold_during`` backs the lock.

Round trips are few on purpose (``coop bench bookings`` measures them): one statement locks
the bed and reads the home, its size, the policy in force and the requester's membership;
one reads the home's live bookings with their voids; each move is one statement that
updates the booking and records its event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.clock import local_date
from coop.db.schema import (
    authorities,
    beds,
    bookings,
    homes,
    region_policies,
    voids,
)
from coop.errors import Problem, not_found
from coop.members.service import PolicyVersion
from coop.policy.document import PolicyDocument, offer_hold
from coop.policy.fit import ChildProfile, HomeFacts, Resident, fit
from coop.policy.lifecycle import REASONED_MOVES, next_status
from coop.policy.pricing import PriceBreakdown, price
from coop.policy.ranking import RankInput, rank_key
from coop.policy.vocabulary import home_type_for

SYSTEM = "system:allocator"
LIVE = ("pending", "offered", "confirmed", "active")
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout (set per connection in coop.db.session)


@dataclass
class Outcome:
    """What a decision changed, and the jobs to schedule once it has committed."""

    offers: list[tuple[str, datetime]] = field(default_factory=list)
    allocations: list[tuple[str, datetime]] = field(default_factory=list)
    moved: dict[str, Any] = field(default_factory=dict)

    def extend(self, other: Outcome) -> None:
        self.offers += other.offers
        self.allocations += other.allocations
        self.moved.update(other.moved)


# -- the bed and its home --------------------------------------------------------------------


@dataclass
class BedFacts:
    bed: Any
    home: Any
    bed_count: int
    policy: PolicyVersion
    membership: str | None = None
    """The requester's membership, when the caller asked for it."""

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


def _bed_facts_statement(*, lock: bool, with_requester: bool) -> sa.Select:
    all_beds = beds.alias("all_beds")
    now = sa.bindparam("now", type_=sa.DateTime(timezone=True))
    policy = (
        sa.select(
            region_policies.c.version,
            region_policies.c.effective_from,
            region_policies.c.document,
        )
        .where(region_policies.c.region == homes.c.region, region_policies.c.effective_from <= now)
        .order_by(region_policies.c.effective_from.desc(), region_policies.c.version.desc())
        .limit(1)
        .lateral("policy")
    )
    columns = [
        *[c.label(f"b_{c.name}") for c in beds.c],
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
    # FOR NO KEY UPDATE of the home: decisions serialise per home (a bed's decision depends on
    # the children in the home's other beds), while foreign-key checks (KEY SHARE) still pass.
    return q.with_for_update(of=homes, key_share=True) if lock else q


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
) -> BedFacts:
    """The bed, its home, the home's size, the policy in force (and the requester's
    membership) in one statement; with ``lock``, the bed's row lock too."""
    params: dict[str, Any] = {"bed_id": bed_id, "now": now}
    if requester is not None:
        params["requester"] = requester
    try:
        result = await conn.execute(_BED_FACTS[(lock, requester is not None)], params)
        row = result.one_or_none()
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise Problem(
                503,
                "bed_busy",
                "Another request is deciding a bed in this home; try again.",
                headers={"Retry-After": "1"},
            ) from None
        raise
    if row is None:
        raise not_found("bed", bed_id)
    m = row._mapping
    bed = SimpleNamespace(**{c.name: m[f"b_{c.name}"] for c in beds.c})
    home = SimpleNamespace(**{c.name: m[f"h_{c.name}"] for c in homes.c})
    if m["p_version"] is None:
        version = PolicyVersion(home.region, 0, None, PolicyDocument())
    else:
        version = PolicyVersion(
            home.region,
            m["p_version"],
            m["p_effective_from"],
            msgspec.convert(m["p_document"], PolicyDocument),
        )
    return BedFacts(bed, home, int(m["bed_count"]), version, m.get("membership"))


async def lock_bed(
    conn: AsyncConnection, bed_id: str, now: datetime, *, requester: str | None = None
) -> BedFacts:
    """Serialise the bed's decisions: lock its home's row (waiting at most the connection's
    ``lock_timeout``) and read the bed's facts in the same statement.

    Per home rather than per bed: whether a child may live in one bed depends on the
    children in the home's other beds (``care_alongside``), so two decisions in one home
    must not interleave. Homes have one to a few beds; unrelated homes never wait."""
    return await bed_facts(conn, bed_id, now, lock=True, requester=requester)


# -- the home's live bookings ----------------------------------------------------------------


def overlaps(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    return a_start < b_end and b_start < a_end


_LIVE_BOOKINGS = (
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
            bookings.c.status.in_(LIVE),
            sa.and_(
                bookings.c.status == "ended",
                sa.func.upper(bookings.c.hold_during) > sa.bindparam("today", type_=sa.Date),
            ),
        ),
    )
)


async def live_bookings(conn: AsyncConnection, home_id: str, today: date) -> list[Any]:
    """The home's bookings that can still matter: live ones, and ended ones whose occupied
    days reach today or later — with the requester's membership and the void's window."""
    return list((await conn.execute(_LIVE_BOOKINGS, {"home_id": home_id, "today": today})).all())


def occupants_of(rows: list[Any], bed_id: str) -> list[tuple[date, date, int]]:
    """(from, until, age) of the children living in the home's other beds: placements agreed
    (confirmed) or begun (active). An offer is not yet a child living there."""
    return [
        (r.hold_during.lower, r.hold_during.upper, r.child["age"])
        for r in rows
        if r.bed_id != bed_id and r.status in ("confirmed", "active")
    ]


def residents_over(others: list[tuple[date, date, int]], start: date, end: date) -> list[Resident]:
    """The children living in the home over [start, end)."""
    return [Resident(age=age) for s, e, age in others if overlaps(s, e, start, end)]


async def residents(
    conn: AsyncConnection, home_id: str, bed_id: str, start: date, end: date, today: date
) -> list[Resident]:
    rows = await live_bookings(conn, home_id, today)
    return residents_over(occupants_of(rows, bed_id), start, end)


def void_covers(void: Any, start: date, end: date) -> bool:
    return void.available_from <= start and (
        void.available_until is None or end <= void.available_until
    )


# -- moves -----------------------------------------------------------------------------------


#: columns a move may set besides status, reason, version and updated_at (None keeps them)
MOVE_COLUMNS = (
    "offered_at",
    "offer_expires_at",
    "weekly_rate_pence",
    "price_breakdown",
    "policy_version",
    "cancelled_on",
    "actual_start_date",
    "actual_end_date",
    "notice_date",
)

_RECORD_EVENT = """
  event AS (
    INSERT INTO booking_events
      (booking_id, at, actor, actor_authority, from_status, to_status, reason, detail)
    SELECT id, :at, :actor, :actor_authority, :from_status, status, :reason, :detail
    FROM changed
  )
SELECT * FROM changed"""

_EVENT_PARAMS = [
    sa.bindparam("at", type_=sa.DateTime(timezone=True)),
    sa.bindparam("actor", type_=sa.Text),
    sa.bindparam("actor_authority", type_=sa.Text),
    sa.bindparam("from_status", type_=sa.Text),
    sa.bindparam("reason", type_=sa.Text),
    sa.bindparam("detail", type_=JSONB(none_as_null=True)),
]

# One statement per move: update the booking (guarded by its version) and record the event.
_MOVE = (
    sa.text(
        "WITH changed AS (UPDATE bookings SET status = :to_status, "
        "status_reason = :status_reason, version = version + 1, "
        "updated_at = :at, "
        + ", ".join(f"{c} = COALESCE(:{c}, {c})" for c in MOVE_COLUMNS)
        + " WHERE id = :id AND version = :version RETURNING *),"
        + _RECORD_EVENT
    )
    .bindparams(
        *_EVENT_PARAMS,
        sa.bindparam("to_status", type_=sa.Text),
        sa.bindparam("status_reason", type_=sa.Text),
        sa.bindparam("id", type_=sa.Text),
        sa.bindparam("version", type_=sa.Integer),
        *[
            sa.bindparam(c, type_=bookings.c[c].type)
            for c in MOVE_COLUMNS
            if c != "price_breakdown"
        ],
        sa.bindparam("price_breakdown", type_=JSONB(none_as_null=True)),
    )
    .columns(*bookings.c)
)

_INSERT_COLUMNS = [c.name for c in bookings.c if c.name not in ("hold_during", "version")]
_INSERT = (
    sa.text(
        f"WITH changed AS (INSERT INTO bookings ({', '.join(_INSERT_COLUMNS)}) VALUES ("
        + ", ".join(f":{c}" for c in _INSERT_COLUMNS)
        + ") RETURNING *),"
        + _RECORD_EVENT
    )
    .bindparams(
        *_EVENT_PARAMS,
        *[
            sa.bindparam(
                c,
                type_=JSONB(none_as_null=True)
                if c in ("child", "price_breakdown")
                else bookings.c[c].type,
            )
            for c in _INSERT_COLUMNS
        ],
    )
    .columns(*bookings.c)
)


async def insert_booking(
    conn: AsyncConnection, values: dict[str, Any], *, actor: str, actor_authority: str | None
) -> Any:
    """Insert a pending booking and record its ``requested`` event, in one statement."""
    params = {c: values.get(c) for c in _INSERT_COLUMNS}
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
    """Make one state-machine move on a (locked) booking row, record it, return the new row."""
    to_status = next_status(row.status, move_name)
    unknown = set(values) - set(MOVE_COLUMNS)
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"a move cannot set {sorted(unknown)}")
    params = {c: values.get(c) for c in MOVE_COLUMNS}
    params.update(
        status_reason=reason if move_name in REASONED_MOVES else None,
        id=row.id,
        version=row.version,
        to_status=to_status,
        at=now,
        actor=actor,
        actor_authority=actor_authority,
        from_status=row.status,
        reason=reason,
        detail=detail,
    )
    moved = (await conn.execute(_MOVE, params)).one_or_none()
    if moved is None:  # the version guard: someone moved it first (the home lock prevents it)
        raise Problem(409, "conflict", "The booking changed meanwhile: read it again.")
    return moved


# -- deciding --------------------------------------------------------------------------------


def never_fits(
    b: Any,
    facts: BedFacts,
    today: date,
    others: list[tuple[date, date, int]],
    *,
    deciding: bool = True,
) -> tuple[str, str] | None:
    """(move, reason) for a pending booking that cannot be offered this bed, else None.

    ``b`` is a row of :func:`live_bookings` (membership and void window joined). When only
    screening a new request (``deciding=False``), what may change before it is decided —
    the bed being out of use, the children living there — is left for the decision."""
    if b.start_date < today:
        return ("expire", "start_passed")
    if b.membership == "suspended":
        return ("decline", "requester_suspended")
    if facts.home.status == "closed":
        return ("decline", "home_closed")
    if deciding and facts.bed.status == "out_of_use":
        return ("decline", "unavailable")
    if b.requester != facts.owner:  # the owner needs no void
        if b.void_status != "open":
            return ("expire", "outside_void")
        window = SimpleNamespace(available_from=b.void_from, available_until=b.void_until)
        if not void_covers(window, b.start_date, b.end_date):
            return ("decline", "outside_void")
    child = msgspec.convert(b.child, ChildProfile)
    people = residents_over(others, b.start_date, b.end_date) if deciding else []
    reason = fit(
        child, facts.facts(), people, b.start_date, b.end_date, facts.policy.document.rules
    )
    if reason is not None:
        return ("decline", reason)
    if b.max_weekly_price_pence is not None:
        quote = facts.quote(requester=b.requester, membership=b.membership, urgency=b.urgency)
        if quote.weekly_rate_pence > b.max_weekly_price_pence:
            return ("decline", "over_budget")
    return None


async def expire_offers(
    conn: AsyncConnection, facts: BedFacts, rows: list[Any], now: datetime
) -> Outcome:
    """Offers on the bed whose hold has run out go back: declined ``offer_expired``."""
    out = Outcome()
    for r in rows:
        if (
            r.bed_id == facts.bed.id
            and r.status == "offered"
            and r.offer_expires_at is not None
            and r.offer_expires_at <= now
        ):
            out.moved[r.id] = await move(
                conn,
                r,
                "expire_offer",
                now=now,
                actor="system:offer-expiry",
                reason="offer_expired",
            )
    return out


async def allocate(
    conn: AsyncConnection,
    facts: BedFacts,
    now: datetime,
    *,
    rows: list[Any] | None = None,
    screen: frozenset[str] = frozenset(),
    actor: str = SYSTEM,
) -> Outcome:
    """Decide the bed's decidable pending bookings, best-ranked first.

    Bookings named in ``screen`` that are not decidable yet (the home window holds them) are
    only checked for what can never fit, so a hopeless request is declined at once.
    The caller holds the home's lock (``facts`` came from :func:`lock_bed`)."""
    out = Outcome()
    today = local_date(now)
    bed_id = facts.bed.id
    if rows is None:
        rows = await live_bookings(conn, facts.home.id, today)
    on_bed = [r for r in rows if r.bed_id == bed_id]
    held = [
        (r.id, r.status, r.hold_during.lower, r.hold_during.upper)
        for r in on_bed
        if r.hold_during is not None
    ]

    def decidable(r: Any) -> bool:
        # decidable now, or its start has passed (expired at once, whatever its decide_at)
        return r.decide_at <= now or r.start_date < today

    pending = [r for r in on_bed if r.status == "pending" and (decidable(r) or r.id in screen)]
    if not pending:
        return out
    others = occupants_of(rows, bed_id)
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
        verdict = never_fits(b, facts, today, others, deciding=decidable(b))
        if verdict is not None:
            move_name, reason = verdict
            out.moved[b.id] = await move(conn, b, move_name, now=now, actor=actor, reason=reason)
            continue
        if not decidable(b):
            continue  # screened only: it fits so far, and waits for its decide_at
        clashes = [h for h in held if overlaps(h[2], h[3], b.start_date, b.end_date)]
        if any(status == "offered" for _, status, _, _ in clashes):
            continue  # waits behind the offer, still pending
        if clashes:
            out.moved[b.id] = await move(
                conn, b, "decline", now=now, actor=actor, reason="unavailable"
            )
            continue
        quote = facts.quote(requester=b.requester, membership=b.membership, urgency=b.urgency)
        expires = now + offer_hold(facts.policy.document, b.urgency)
        out.moved[b.id] = await move(
            conn,
            b,
            "offer",
            now=now,
            actor=actor,
            offered_at=now,
            offer_expires_at=expires,
            weekly_rate_pence=quote.weekly_rate_pence,
            price_breakdown=msgspec.to_builtins(quote),
            policy_version=facts.policy.version,
        )
        held.append((b.id, "offered", b.start_date, b.end_date))
        out.offers.append((b.id, expires))
    return out


async def decide(
    conn: AsyncConnection, facts: BedFacts, now: datetime, *, screen: frozenset[str] = frozenset()
) -> Outcome:
    """Let the bed's spent holds go, then allocate. The caller holds the home's lock."""
    rows = await live_bookings(conn, facts.home.id, local_date(now))
    out = await expire_offers(conn, facts, rows, now)
    if out.moved:  # rare: read them again rather than patch the joined rows
        rows = await live_bookings(conn, facts.home.id, local_date(now))
    out.extend(await allocate(conn, facts, now, rows=rows, screen=screen))
    return out


async def settle_bed(conn: AsyncConnection, bed_id: str, now: datetime) -> Outcome:
    """Lock the bed and decide it: the entry point of the jobs and the sweep."""
    return await decide(conn, await lock_bed(conn, bed_id, now), now)
