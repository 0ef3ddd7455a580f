import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.document import Ceiling, Pricing
from coop.policy.pricing import PriceBreakdown, price

DEFAULT = Pricing()


def _price(cost=500_000, home_type="multi", membership="member", urgency="planned", **kw):
    pricing = kw.pop("pricing", DEFAULT)
    return price(
        weekly_cost_pence=cost,
        home_type=home_type,
        membership=membership,
        urgency=urgency,
        own_bed=kw.pop("own_bed", False),
        pricing=pricing,
    )


def test_member_rate_is_cost_plus_margin():
    p = _price(500_000, "dual")
    assert p == PriceBreakdown(
        weekly_cost_pence=500_000,
        margin_bp=500,
        cost_plus_margin_pence=525_000,
        ceiling_pence=800_000,
        capped=False,
        member_rate_pence=525_000,
        associate_surcharge_bp=0,
        emergency_premium_bp=0,
        weekly_rate_pence=525_000,
        chargeable=True,
    )


def test_associate_pays_the_surcharge():
    p = _price(500_000, "dual", "associate")
    assert (p.member_rate_pence, p.associate_surcharge_bp, p.weekly_rate_pence) == (
        525_000,
        1500,
        603_750,
    )


def test_today_pays_the_emergency_premium_after_the_surcharge():
    p = _price(500_000, "dual", "associate", "today")
    assert (p.associate_surcharge_bp, p.emergency_premium_bp) == (1500, 1000)
    assert p.weekly_rate_pence == 664_125
    assert _price(500_000, "dual", "member", "today").weekly_rate_pence == 577_500


@pytest.mark.parametrize("urgency", ["within_5_days", "planned"])
def test_only_today_pays_the_premium(urgency):
    p = _price(500_000, "dual", urgency=urgency)
    assert (p.emergency_premium_bp, p.weekly_rate_pence) == (0, 525_000)


def test_under_the_ceiling():
    p = _price(700_000, "solo")
    assert (p.member_rate_pence, p.ceiling_pence, p.capped) == (735_000, 900_000, False)


def test_capped_at_the_ceiling():
    p = _price(700_000, "multi")
    assert p.cost_plus_margin_pence == 735_000
    assert (p.member_rate_pence, p.ceiling_pence, p.capped) == (650_000, 650_000, True)
    assert _price(700_000, "multi", "associate").weekly_rate_pence == 747_500


def test_surcharges_apply_on_top_of_the_ceiling():
    p = _price(1_000_000, "solo", "associate", "today")
    assert p.member_rate_pence == 900_000
    assert p.weekly_rate_pence == 1_138_500  # 900000 × 1.15 × 1.10


def test_exactly_at_the_ceiling_is_not_capped():
    p = _price(619_048, "multi")  # × 1.05 = 650000.4 → 650000
    assert (p.cost_plus_margin_pence, p.capped) == (650_000, False)


def test_each_step_rounds_half_up_to_the_penny():
    pricing = Pricing(margin_bp=5000, associate_surcharge_bp=5000, emergency_premium_bp=5000)
    p = _price(1, "solo", "associate", "today", pricing=pricing)
    # 1 × 1.5 = 1.5 → 2; 2 × 1.5 = 3; 3 × 1.5 = 4.5 → 5  (one rounding at the end would give 3)
    assert (p.member_rate_pence, p.weekly_rate_pence) == (2, 5)


def test_surcharge_before_premium():
    # member 4 → associate 4.6 → 5 → today 5.5 → 6; the other order would give 4.4 → 4 → 5
    p = _price(4, "solo", "associate", "today")
    assert (p.member_rate_pence, p.weekly_rate_pence) == (4, 6)


def test_suspended_is_priced_as_a_member():
    assert _price(membership="suspended") == _price(membership="member")


def test_own_bed_shows_the_rate_but_is_not_chargeable():
    own = _price(500_000, "dual", own_bed=True)
    assert own.weekly_rate_pence == 525_000
    assert own.chargeable is False
    assert _price(500_000, "dual", own_bed=False).chargeable is True


def test_pricing_settings_are_used():
    pricing = Pricing(margin_bp=0, ceiling_weekly_pence=Ceiling(dual=100))
    p = _price(99, "dual", pricing=pricing)
    assert (p.member_rate_pence, p.capped) == (99, False)
    assert _price(101, "dual", pricing=pricing).member_rate_pence == 100


costs = st.integers(min_value=0, max_value=5_000_000)
home_types = st.sampled_from(["solo", "dual", "multi"])
memberships = st.sampled_from(["member", "associate", "suspended"])
urgencies = st.sampled_from(["today", "within_5_days", "planned"])
bps = st.integers(min_value=0, max_value=100_000)
pricings = st.builds(
    Pricing,
    margin_bp=bps,
    associate_surcharge_bp=bps,
    emergency_premium_bp=bps,
    ceiling_weekly_pence=st.builds(
        Ceiling,
        solo=st.integers(1, 2_000_000),
        dual=st.integers(1, 2_000_000),
        multi=st.integers(1, 2_000_000),
    ),
)


@settings(max_examples=200)
@given(costs, home_types, memberships, urgencies, st.booleans(), pricings)
def test_price_properties(cost, home_type, membership, urgency, own_bed, pricing):
    p = _price(cost, home_type, membership, urgency, own_bed=own_bed, pricing=pricing)
    assert all(
        type(getattr(p, f)) is int
        for f in PriceBreakdown.__struct_fields__
        if f not in ("capped", "chargeable")
    )
    assert p.member_rate_pence <= getattr(pricing.ceiling_weekly_pence, home_type)
    assert p.member_rate_pence == min(p.ceiling_pence, p.cost_plus_margin_pence)
    assert p.weekly_rate_pence >= p.member_rate_pence
    assert p.chargeable is not own_bed
    member = _price(cost, home_type, "member", urgency, pricing=pricing)
    associate = _price(cost, home_type, "associate", urgency, pricing=pricing)
    assert associate.weekly_rate_pence >= member.weekly_rate_pence
    today = _price(cost, home_type, membership, "today", pricing=pricing)
    planned = _price(cost, home_type, membership, "planned", pricing=pricing)
    assert today.weekly_rate_pence >= planned.weekly_rate_pence


@settings(max_examples=200)
@given(costs, costs, home_types, memberships, urgencies, pricings)
def test_price_is_monotone_in_cost(a, b, home_type, membership, urgency, pricing):
    low, high = sorted((a, b))
    p_low = _price(low, home_type, membership, urgency, pricing=pricing)
    p_high = _price(high, home_type, membership, urgency, pricing=pricing)
    assert p_low.weekly_rate_pence <= p_high.weekly_rate_pence
