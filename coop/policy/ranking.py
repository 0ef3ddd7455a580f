"""Who is offered a bed first (SPEC §3 "Ranking"; lower sorts first).

Under the default order: the owner of the bed before everyone else; ``today`` before
``within_5_days`` before ``planned``; ``member`` before ``associate``; earlier ``created_at``;
then the booking id, so the order is total. A pure function of the booking and the bed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from coop.policy.document import RANKING_KEYS
from coop.policy.vocabulary import Membership, Urgency

DEFAULT_ORDER: tuple[str, ...] = RANKING_KEYS  # the policy default: priority.ranking

URGENCY_RANK = {"today": 0, "within_5_days": 1, "planned": 2}
MEMBERSHIP_RANK = {"member": 0, "associate": 1, "suspended": 2}


class RankInput(msgspec.Struct, frozen=True):
    """The parts of a pending booking that decide its place in the queue for a bed."""

    id: str
    requester: str
    urgency: Urgency
    membership: Membership
    created_at: datetime


_COMPONENTS: dict[str, Callable[[RankInput, str], Any]] = {
    "home_authority": lambda b, owner: 0 if b.requester == owner else 1,
    "urgency": lambda b, owner: URGENCY_RANK[b.urgency],
    "membership": lambda b, owner: MEMBERSHIP_RANK[b.membership],
    "submitted_at": lambda b, owner: b.created_at,
}


def rank_key(
    booking: RankInput, *, bed_owner: str, order: Sequence[str] = DEFAULT_ORDER
) -> tuple[Any, ...]:
    """The sort key of ``booking`` for a bed owned by ``bed_owner``: one component per key of
    the policy's ``ranking``, in that order, then the id as the final tie-break."""
    unknown = [key for key in order if key not in _COMPONENTS]
    if unknown:
        raise ValueError(f"unknown ranking key(s): {', '.join(map(repr, unknown))}")
    return (*(_COMPONENTS[key](booking, bed_owner) for key in order), booking.id)


def rank(
    bookings: Iterable[RankInput], *, bed_owner: str, order: Sequence[str] = DEFAULT_ORDER
) -> list[RankInput]:
    """``bookings`` in the order they are offered the bed, first first."""
    return sorted(bookings, key=lambda b: rank_key(b, bed_owner=bed_owner, order=order))
