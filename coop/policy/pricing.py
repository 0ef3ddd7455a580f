"""The weekly price of a bed (SPEC §3 "Price").

``min(ceiling[home_type], weekly_cost × (1 + margin))``, then × (1 + associate_surcharge) for
associates, then × (1 + emergency_premium) for ``today`` bookings; each step rounded half-up to
the penny. An owner booking its own bed sees the rate but is not charged.
"""

from __future__ import annotations

import msgspec

from coop.policy.document import Pricing
from coop.policy.money import apply_bp
from coop.policy.vocabulary import HomeType, Membership, Urgency


class PriceBreakdown(msgspec.Struct, frozen=True):
    """Every step of a price, as shown to the requester and kept on the booking."""

    weekly_cost_pence: int
    margin_bp: int
    cost_plus_margin_pence: int
    ceiling_pence: int
    capped: bool
    member_rate_pence: int
    associate_surcharge_bp: int  # 0 when not applied
    emergency_premium_bp: int  # 0 when not applied
    weekly_rate_pence: int
    chargeable: bool  # False for an owner using its own bed: rate shown, no charge


def price(
    *,
    weekly_cost_pence: int,
    home_type: HomeType,
    membership: Membership,
    urgency: Urgency,
    own_bed: bool,
    pricing: Pricing,
) -> PriceBreakdown:
    """Price one week in a bed for this requester. A suspended authority is priced as a member
    (it cannot book; the caller refuses it)."""
    cost_plus_margin = apply_bp(weekly_cost_pence, pricing.margin_bp)
    ceiling = getattr(pricing.ceiling_weekly_pence, home_type)
    member_rate = min(ceiling, cost_plus_margin)
    surcharge_bp = pricing.associate_surcharge_bp if membership == "associate" else 0
    premium_bp = pricing.emergency_premium_bp if urgency == "today" else 0
    rate = member_rate
    if surcharge_bp:
        rate = apply_bp(rate, surcharge_bp)
    if premium_bp:
        rate = apply_bp(rate, premium_bp)
    return PriceBreakdown(
        weekly_cost_pence=weekly_cost_pence,
        margin_bp=pricing.margin_bp,
        cost_plus_margin_pence=cost_plus_margin,
        ceiling_pence=ceiling,
        capped=cost_plus_margin > ceiling,
        member_rate_pence=member_rate,
        associate_surcharge_bp=surcharge_bp,
        emergency_premium_bp=premium_bp,
        weekly_rate_pence=rate,
        chargeable=not (own_bed and pricing.home_authority_charge == "none"),
    )
