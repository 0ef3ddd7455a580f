from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from coop.market.schemas import Pence
from coop.policy.allocation import DeclineReason
from coop.policy.fit import ChildProfile
from coop.policy.lifecycle import Status
from coop.policy.pricing import PriceBreakdown
from coop.policy.vocabulary import Urgency
from coop.schemas import Slug

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class BookingIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request for a bed: by ``void_id``, or by ``bed_id`` for the owner's own beds."""

    void_id: str | None = None
    bed_id: str | None = None
    child: ChildProfile
    """Never a name: an opaque ``ref`` chosen by the placing authority, and the facts that
    decide the match. Only the requester and the bed's owner ever see it."""
    urgency: Urgency
    start_date: date
    end_date: date
    """Planned end (exclusive)."""
    max_weekly_price_pence: Pence | None = None
    """Budget cap: a bed whose weekly rate for you is higher is declined (`over_budget`)."""


class BookingOut(msgspec.Struct, kw_only=True):
    """A booking: who asked for which bed, for which child, when, at what rate, and where it
    stands. The child is shown to the requester and the bed's owner only."""

    id: str
    requester: str
    owner: str
    void_id: str | None
    bed_id: str
    home_id: str
    child: ChildProfile
    urgency: Urgency
    start_date: date
    end_date: date
    max_weekly_price_pence: int | None
    status: Status
    status_reason: str | None
    decide_at: datetime
    """When the shared policy decides this request (the home window may hold it back)."""
    offered_at: datetime | None
    offer_expires_at: datetime | None
    weekly_rate_pence: int | None
    """Quoted while pending and offered; locked at confirmation."""
    price_breakdown: PriceBreakdown | None
    policy_version: int
    actual_start_date: date | None
    actual_end_date: date | None
    notice_date: date | None
    cancelled_on: date | None
    created_at: datetime
    updated_at: datetime
    version: int


class QuoteOut(msgspec.Struct, kw_only=True):
    """What a request made now would get: its status, its reasons and its price. Nothing is
    saved."""

    owner: str
    bed_id: str
    home_id: str
    void_id: str | None
    weekly_rate_pence: int
    price_breakdown: PriceBreakdown
    fits: bool
    """True when nothing known now stands in the way (the owner still decides)."""
    reasons: list[DeclineReason]
    """Every reason it would be declined if decided now, in decision order (the spec's codes)."""
    checked_at_decision: list[Literal["care_alongside"]] = []
    """Rules this quote did not evaluate because they depend on the children living in the
    home, and that could change its answer: ``care_alongside`` (``only_older``/``only_younger``)
    of this request, or of the undecided request it would wait behind. Only the bed's owner is
    quoted them; for anyone else the decision applies them."""
    status: Status
    """What a request made now would be answered: ``offered``, ``declined``, or ``pending``
    (decided at ``decide_at``, or waiting behind an offer of the bed over those days)."""
    status_reason: str | None = None
    """The reason of a ``declined`` answer (its first reason that cannot change before the
    decision)."""
    decide_at: datetime
    home_priority_until: datetime | None


class MoveIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Optional body of withdraw and cancel."""

    reason: Reason | None = None


class RejectIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Why the owner rejects the match."""

    reason: Reason


class StartIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The day the child arrived."""

    date: date
    """The day the child arrived (today or earlier, not before the planned start)."""


class EndIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The last night of the placement, why it ends, and when notice was given."""

    date: date
    """The day the placement ended (the child's last night is the day before)."""
    reason: Reason
    notice_date: date | None = None
    """When notice was given; defaults to the day the end is recorded."""


class EventOut(msgspec.Struct, kw_only=True):
    """One move of a booking: who, when, from which status to which, and why."""

    at: datetime
    actor: str
    """``client:<id>`` for an API client; ``system:<job>`` for the allocator and jobs;
    ``cli`` for the command line (``coop import-placements``)."""
    actor_authority: str | None
    from_status: Status | None
    to_status: Status
    reason: str | None
    detail: dict | None = None


# -- placements that already exist (POST /bookings/import, coop import-placements) ------------

#: the most rows one import takes (a larger file is split into several imports)
MAX_IMPORT_ROWS = 5000
WeeklyRate = Annotated[
    int, msgspec.Meta(ge=0, le=10_000_000, description="integer pence a week (at most £100,000)")
]
BedId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ImportRow(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A placement that already exists (or was agreed outside the service), as it stands: it
    is recorded as a booking that is ``active`` or ``ended``, and settled like any other."""

    requester: Slug
    """The placing authority: one of your region's."""
    bed_id: BedId
    """A bed of a home of your region; the home's owner is the booking's owner (the requester
    may be the owner: its own child in its own bed, never charged)."""
    child: ChildProfile
    """Never a name: an opaque ``ref`` and the facts of the child, as for a request."""
    start_date: date
    """The day the child arrived (today or earlier): also the booking's ``actual_start_date``."""
    end_date: date
    """Planned end (exclusive), after ``start_date``."""
    actual_end_date: date | None = None
    """``ended`` only, and required there: the day the placement ended, between
    ``start_date`` and ``end_date``, today or earlier."""
    notice_date: date | None = None
    """``ended`` only: when notice of the end was given (today or earlier); defaults to
    ``actual_end_date``."""
    weekly_rate_pence: WeeklyRate
    """The weekly rate agreed for the placement."""
    status: Literal["active", "ended"]
    """``active``: the child lives there now; ``ended``: the placement is over."""


ImportRows = Annotated[
    list[ImportRow],
    msgspec.Meta(
        min_length=1,
        max_length=MAX_IMPORT_ROWS,
        description=f"1–{MAX_IMPORT_ROWS} placements; row 1 is the first",
    ),
]
