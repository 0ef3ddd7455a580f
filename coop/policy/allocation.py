"""Allocation of one bed, as a pure decision (SPEC §3 "Allocation").

This module is the one place the booking rule lives. Plain frozen Structs go in — the bed and
its home (:class:`BedFacts`), the policy in force, every hold in the home (:class:`Hold`), the
pending requests (:class:`Ask`) and ``now`` — and decisions come out: :class:`Offer`,
:class:`Decline` (or expire), :class:`Wait` behind an offer, :class:`ExpireOffer`. Nothing here
reads a database or a clock; ``coop.bookings.allocation`` loads the facts, calls
:func:`decide` under the home's lock and applies what it returns.

:func:`assess` lists every reason one request fails, in decision order. The quote, a new
request, the deferred decision and the owner's accept all call it:

1. ``start_passed`` — the start date has passed (the request expires);
2. ``requester_suspended`` — the requesting authority is suspended;
3. ``home_closed`` — the home is closed;
4. ``unavailable`` — the bed is out of use;
5. ``outside_void`` — a request by anyone but the owner must lie inside an open void (the
   request expires when the void has been withdrawn);
6. the fit of the child (:mod:`coop.policy.fit`): ``age``, ``gender``, ``needs``, ``risks``,
   ``dols``, ``care_alongside``, ``max_weeks``;
7. ``over_budget`` — the weekly rate for this requester exceeds its cap;
8. ``unavailable`` — a placement (confirmed, active, or ended over its occupied days) holds
   the bed over part of the period.

A request that fails none of them but overlaps an *offer* on the bed waits behind it, still
pending. Two kinds of fact may change before a request is decided — the bed's use and the
children living in the home — so a request that is only *screened* (its ``decide_at`` is
still ahead) is checked for everything else, and declined at once only when it can never fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Literal

import msgspec

from coop.policy.document import PolicyDocument, offer_hold
from coop.policy.fit import ChildProfile, FitReason, HomeFacts, Resident, fit_all
from coop.policy.lifecycle import next_status
from coop.policy.pricing import PriceBreakdown, price
from coop.policy.ranking import RankInput, rank_key
from coop.policy.vocabulary import BedStatus, Membership, Urgency

#: the statuses of a booking that hold its bed (``ended`` only over its occupied days)
HOLDING = frozenset({"offered", "confirmed", "active", "ended"})
#: holds that are a child living in the home (an offer is not yet a child living there)
LIVING = frozenset({"confirmed", "active"})
#: rules that depend on the other children in the home: never evaluated for a quote by
#: anyone but the bed's owner (SPEC §3), so a quote cannot reveal another council's child
RESIDENT_RULES = frozenset({"only_older", "only_younger"})
#: what accepting an offer checks again: the home as it is now and the match (the children
#: living there may have changed since the offer), and the price against the budget. The rest
#: is either fixed since the offer or the owner's own act (taking the bed out of use,
#: withdrawing the void), and the owner can reject instead.
ACCEPT_RECHECKS = frozenset(
    {
        "home_closed",
        "age",
        "gender",
        "needs",
        "risks",
        "dols",
        "care_alongside",
        "max_weeks",
        "over_budget",
    }
)

DeclineMove = Literal["decline", "expire"]
#: Why a request is (or would be) declined: a fit reason or one of the market's.
DeclineReason = Literal[
    FitReason,
    "start_passed",
    "requester_suspended",
    "unavailable",
    "outside_void",
    "over_budget",
    "outranked",
]


# -- facts in --------------------------------------------------------------------------------


class VoidWindow(msgspec.Struct, frozen=True):
    """The void a request was made through."""

    status: str
    available_from: date
    available_until: date | None

    def covers(self, start: date, end: date) -> bool:
        return self.available_from <= start and (
            self.available_until is None or end <= self.available_until
        )


class BedFacts(msgspec.Struct, frozen=True):
    """A bed and what its home offers."""

    id: str
    owner: str
    status: BedStatus
    home: HomeFacts
    weekly_cost_pence: int


class Hold(msgspec.Struct, frozen=True):
    """A booking that holds a bed of the home over ``[start, end)``: offered, confirmed,
    active, or ended (over its occupied days)."""

    booking_id: str
    bed_id: str
    status: str
    start: date
    end: date
    child_age: int
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None

    def overlaps(self, start: date, end: date) -> bool:
        return self.start < end and start < self.end


class Ask(msgspec.Struct, frozen=True, kw_only=True):
    """A request for a bed: a pending booking, or the would-be booking of a quote."""

    id: str
    bed_id: str
    requester: str
    membership: Membership
    urgency: Urgency
    created_at: datetime
    decide_at: datetime
    start: date
    end: date
    child: ChildProfile
    max_weekly_price_pence: int | None = None
    void: VoidWindow | None = None
    """``None`` for the owner's request for its own bed (the owner needs no void)."""

    def rank_input(self) -> RankInput:
        return RankInput(
            id=self.id,
            requester=self.requester,
            urgency=self.urgency,
            membership=self.membership,
            created_at=self.created_at,
        )


# -- one request -----------------------------------------------------------------------------


class Assessment(msgspec.Struct, frozen=True):
    reasons: tuple[str, ...]
    """Every reason the request fails, in decision order; empty when nothing stands in the way."""
    price: PriceBreakdown
    """The weekly price for this requester, step by step."""
    waits_behind: str | None = None
    """The offer on the bed the request would wait behind (only when there is no reason)."""
    checked_at_decision: tuple[str, ...] = ()
    """Rules left for the decision (``care_alongside``), not evaluated here."""
    void_gone: bool = False
    """The void was withdrawn: the request expires rather than being declined."""

    @property
    def move(self) -> DeclineMove:
        """How a request failing ``reasons[0]`` leaves: ``expire`` when its time or its void
        has gone, else ``decline``."""
        first = self.reasons[0]
        if first == "start_passed" or (first == "outside_void" and self.void_gone):
            return "expire"
        return "decline"


def price_for(ask: Ask, bed: BedFacts, policy: PolicyDocument) -> PriceBreakdown:
    return price(
        weekly_cost_pence=bed.weekly_cost_pence,
        home_type=bed.home.home_type,
        membership=ask.membership,
        urgency=ask.urgency,
        own_bed=ask.requester == bed.owner,
        pricing=policy.pricing,
    )


def residents(holds: Iterable[Hold], bed_id: str, start: date, end: date) -> list[Resident]:
    """The children living in the home's other beds over ``[start, end)``."""
    return [
        Resident(age=h.child_age)
        for h in holds
        if h.bed_id != bed_id and h.status in LIVING and h.overlaps(start, end)
    ]


def assess(
    ask: Ask,
    bed: BedFacts,
    policy: PolicyDocument,
    holds: Sequence[Hold],
    today: date,
    *,
    deciding: bool = True,
    sees_residents: bool = True,
) -> Assessment:
    """Every reason ``ask`` cannot be offered ``bed`` now, in decision order (see the module).

    ``deciding=False`` screens a request that is not decidable yet: what may change before it
    is (the bed's use, the children living there, the bed's holds) is left for the decision.
    ``sees_residents=False`` is a quote by anyone but the owner: the rules that depend on the
    children living in the home are listed in ``checked_at_decision`` instead."""
    reasons: list[str] = []
    quote = price_for(ask, bed, policy)
    own = ask.requester == bed.owner
    if ask.start < today:
        reasons.append("start_passed")
    if ask.membership == "suspended":
        reasons.append("requester_suspended")
    if bed.home.status == "closed":
        reasons.append("home_closed")
    if deciding and bed.status == "out_of_use":
        reasons.append("unavailable")
    void_gone = False
    if not own:
        void_gone = ask.void is None or ask.void.status != "open"
        if void_gone or not ask.void.covers(ask.start, ask.end):  # type: ignore[union-attr]
            reasons.append("outside_void")
    deferred: tuple[str, ...] = ()
    people: list[Resident] = []
    if ask.child.care_alongside in RESIDENT_RULES:
        if deciding and sees_residents:
            people = residents(holds, bed.id, ask.start, ask.end)
        elif not sees_residents:
            deferred = ("care_alongside",)
    for reason in fit_all(ask.child, bed.home, people, ask.start, ask.end, policy.rules):
        if reason not in reasons:
            reasons.append(reason)
    if ask.max_weekly_price_pence is not None and quote.weekly_rate_pence > (
        ask.max_weekly_price_pence
    ):
        reasons.append("over_budget")
    waits_behind = None
    if deciding:
        clashes = [
            h
            for h in holds
            if h.bed_id == bed.id and h.booking_id != ask.id and h.overlaps(ask.start, ask.end)
        ]
        if any(h.status != "offered" for h in clashes):
            if "unavailable" not in reasons:
                reasons.append("unavailable")
        elif clashes and not reasons:
            waits_behind = clashes[0].booking_id
    return Assessment(
        reasons=tuple(reasons),
        price=quote,
        waits_behind=waits_behind,
        checked_at_decision=deferred,
        void_gone=void_gone,
    )


# -- decisions out ---------------------------------------------------------------------------


class Offer(msgspec.Struct, frozen=True, tag="offer"):
    booking_id: str
    price: PriceBreakdown
    expires_at: datetime


class Decline(msgspec.Struct, frozen=True, tag="decline"):
    booking_id: str
    reason: str
    move: DeclineMove = "decline"
    lost_to: str | None = None
    """The booking that was given the bed instead (``outranked`` / ``unavailable`` at accept)."""


class Wait(msgspec.Struct, frozen=True, tag="wait"):
    """Still pending, behind an offer of the bed over overlapping days."""

    booking_id: str
    behind: str


class ExpireOffer(msgspec.Struct, frozen=True, tag="expire_offer"):
    """An offer whose hold ran out: declined ``offer_expired``, the bed goes back."""

    booking_id: str


Decision = Offer | Decline | Wait | ExpireOffer


def spent_offers(holds: Iterable[Hold], bed_id: str, now: datetime) -> list[ExpireOffer]:
    """Offers on the bed whose hold has run out."""
    return [
        ExpireOffer(h.booking_id)
        for h in holds
        if h.bed_id == bed_id
        and h.status == "offered"
        and h.offer_expires_at is not None
        and h.offer_expires_at <= now
    ]


def decidable(ask: Ask, now: datetime, today: date) -> bool:
    """Decidable now, or its start has passed (it expires at once, whatever its decide_at)."""
    return ask.decide_at <= now or ask.start < today


def ranked(asks: Iterable[Ask], bed: BedFacts, policy: PolicyDocument) -> list[Ask]:
    """``asks`` in the order the policy offers ``bed``, first first."""
    order = policy.priority.ranking
    return sorted(asks, key=lambda a: rank_key(a.rank_input(), bed_owner=bed.owner, order=order))


def allocate(
    bed: BedFacts,
    policy: PolicyDocument,
    holds: Sequence[Hold],
    asks: Iterable[Ask],
    now: datetime,
    today: date,
    *,
    screen: frozenset[str] = frozenset(),
    sees_residents: bool = True,
) -> list[Decision]:
    """Decide the bed's decidable pending requests, best-ranked first (``holds`` are current:
    spent offers already gone). Requests named in ``screen`` that are not decidable yet are
    only checked for what can never fit, so a hopeless request is declined at once.
    ``sees_residents=False`` simulates the decision for a quote by anyone but the owner."""
    decisions: list[Decision] = []
    current = list(holds)
    candidates = [
        a for a in asks if a.bed_id == bed.id and (decidable(a, now, today) or a.id in screen)
    ]
    for ask in ranked(candidates, bed, policy):
        now_decidable = decidable(ask, now, today)
        verdict = assess(
            ask,
            bed,
            policy,
            current,
            today,
            deciding=now_decidable,
            sees_residents=sees_residents,
        )
        if verdict.reasons:
            decisions.append(Decline(ask.id, verdict.reasons[0], verdict.move))
        elif not now_decidable:
            continue  # screened only: it fits so far, and waits for its decide_at
        elif verdict.waits_behind is not None:
            decisions.append(Wait(ask.id, verdict.waits_behind))
        else:
            expires = now + offer_hold(policy, ask.urgency)
            decisions.append(Offer(ask.id, verdict.price, expires))
            current.append(
                Hold(ask.id, bed.id, "offered", ask.start, ask.end, ask.child.age, now, expires)
            )
    return decisions


def decide(
    bed: BedFacts,
    policy: PolicyDocument,
    holds: Sequence[Hold],
    asks: Iterable[Ask],
    now: datetime,
    today: date,
    *,
    screen: frozenset[str] = frozenset(),
    sees_residents: bool = True,
) -> list[Decision]:
    """Let the bed's spent offers go, then :func:`allocate` what the bed can now take."""
    spent = spent_offers(holds, bed.id, now)
    left = without(holds, spent)
    return [
        *spent,
        *allocate(
            bed, policy, left, asks, now, today, screen=screen, sees_residents=sees_residents
        ),
    ]


def without(holds: Iterable[Hold], gone: Iterable[Decision]) -> list[Hold]:
    """``holds`` less those of the bookings ``gone`` moved (an expired offer holds nothing)."""
    ids = {d.booking_id for d in gone}
    return [h for h in holds if h.booking_id not in ids]


class QuoteAnswer(msgspec.Struct, frozen=True):
    """What a request made now would be answered, and every reason it would fail."""

    status: str
    status_reason: str | None
    verdict: Assessment
    checked_at_decision: tuple[str, ...]


def quote(
    ask: Ask,
    bed: BedFacts,
    policy: PolicyDocument,
    holds: Sequence[Hold],
    asks: Iterable[Ask],
    now: datetime,
    today: date,
    *,
    sees_residents: bool,
) -> QuoteAnswer:
    """A request simulated: :func:`decide` with ``ask`` added to the bed's pending ``asks``.

    For anyone but the owner (``sees_residents=False``) no rule that depends on the children
    living in the home is evaluated, for ``ask`` or for any other request in the simulation.
    ``care_alongside`` is listed in ``checked_at_decision`` when such a rule could change the
    answer: the request's own wish, or — when it would wait behind an offer that only this
    simulation made, to a request decidable but not yet decided — that request's wish, which
    the decision may find does not fit the children there. The flag never depends on what
    that other council's child wishes: that too is not the caller's to learn."""
    decisions = decide(
        bed,
        policy,
        holds,
        [*asks, ask],
        now,
        today,
        screen=frozenset({ask.id}),
        sees_residents=sees_residents,
    )
    mine = next((d for d in decisions if d.booking_id == ask.id), None)
    # the state machine says where the decision takes a pending request; none: still pending
    if isinstance(mine, Offer):
        status, reason = next_status("pending", "offer"), None
    elif isinstance(mine, Decline):
        status, reason = next_status("pending", mine.move), mine.reason
    else:
        status, reason = "pending", None
    spent = [d for d in decisions if isinstance(d, ExpireOffer)]
    verdict = assess(ask, bed, policy, without(holds, spent), today, sees_residents=sees_residents)
    deferred = set(verdict.checked_at_decision)
    if not sees_residents and isinstance(mine, Wait):
        pending = {a.id: a for a in asks}
        made_now = [pending[d.booking_id] for d in decisions if isinstance(d, Offer)]
        if any(a.start < ask.end and ask.start < a.end for a in made_now):
            deferred.add("care_alongside")
    return QuoteAnswer(status, reason, verdict, tuple(sorted(deferred)))


def recheck_at_accept(
    offered: Ask, bed: BedFacts, policy: PolicyDocument, holds: Sequence[Hold], today: date
) -> str | None:
    """The reason an offer can no longer be accepted (see ``ACCEPT_RECHECKS``), else None."""
    verdict = assess(offered, bed, policy, holds, today)
    return next((r for r in verdict.reasons if r in ACCEPT_RECHECKS), None)


def losers(accepted: Hold, asks: Iterable[Ask]) -> list[Decline]:
    """The pending requests for the bed that overlap an accepted offer lose it: ``outranked``
    if they were decidable when it was offered, ``unavailable`` if the bed was held before
    they were decided."""
    assert accepted.offered_at is not None
    return [
        Decline(
            a.id,
            "outranked" if a.decide_at <= accepted.offered_at else "unavailable",
            lost_to=accepted.booking_id,
        )
        for a in asks
        if a.bed_id == accepted.bed_id and accepted.overlaps(a.start, a.end)
    ]
