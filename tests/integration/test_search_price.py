"""The search's SQL rate (``coop.market.search.rate_sql``) equals ``coop.policy.pricing.price``.

The void search filters and sorts by the caller's quoted rate inside PostgreSQL, so the SQL
twin must agree with the Python price to the penny for every cost, home type, membership,
urgency and policy. Each check evaluates many cases in ONE query (one column per case), so
hundreds of cases cost a single round trip.

Two tests:

* a deterministic sweep: ~400 cases from ``random.Random(seed)`` plus the edges (zero cost,
  half-penny boundaries at every step, exactly at / one penny over each ceiling, zero and
  maximal basis points), all in one query per chunk;
* a Hypothesis property test. It is an ``async def`` under ``@given``: pytest-asyncio runs
  each example on the session's event loop (its Hypothesis support), so the session-scoped
  ``coop`` fixture (engine) is usable; only session-scoped fixtures are used, so Hypothesis'
  function-scoped-fixture health check does not apply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.market.search import rate_sql
from coop.policy.document import Ceiling, Pricing
from coop.policy.pricing import price
from coop.policy.vocabulary import home_type_for

MEMBERSHIPS = ("member", "associate")
URGENCIES = ("today", "within_5_days", "planned")


@dataclass(frozen=True)
class Case:
    cost: int
    beds: int
    membership: str
    urgency: str
    pricing: Pricing

    def expected(self) -> int:
        return price(
            weekly_cost_pence=self.cost,
            home_type=home_type_for(self.beds),
            membership=self.membership,  # type: ignore[arg-type]
            urgency=self.urgency,  # type: ignore[arg-type]
            own_bed=False,
            pricing=self.pricing,
        ).weekly_rate_pence

    def sql(self) -> sa.ColumnElement:
        return rate_sql(
            sa.literal(self.cost, sa.BigInteger),
            sa.literal(self.beds),
            self.pricing,
            membership=self.membership,
            urgency=self.urgency,
        )


async def _check(coop, cases: list[Case], chunk: int = 250) -> None:
    """Evaluate every case's SQL rate in PostgreSQL (one SELECT per chunk) and compare."""
    mismatches = []
    async with coop.engine.connect() as conn:
        for start in range(0, len(cases), chunk):
            part = cases[start : start + chunk]
            row = (
                await conn.execute(sa.select(*(c.sql().label(f"r{i}") for i, c in enumerate(part))))
            ).one()
            for case, got in zip(part, row, strict=True):
                if got is None or int(got) != got or int(got) != case.expected():
                    mismatches.append((case, got, case.expected()))
    assert not mismatches, mismatches[:5]


def _pricing(rng: random.Random) -> Pricing:
    def bp() -> int:
        return rng.choice([0, 1, 5, 250, 500, 999, 1000, 1500, 3333, 10_000, 100_000])

    def ceiling() -> int:
        return rng.choice([1, rng.randint(1, 2_200_000), 650_000, 800_000, 900_000])

    return Pricing(
        margin_bp=bp() if rng.random() < 0.5 else rng.randint(0, 100_000),
        associate_surcharge_bp=bp() if rng.random() < 0.5 else rng.randint(0, 100_000),
        emergency_premium_bp=bp() if rng.random() < 0.5 else rng.randint(0, 100_000),
        ceiling_weekly_pence=Ceiling(solo=ceiling(), dual=ceiling(), multi=ceiling()),
    )


def _edge_cases() -> list[Case]:
    default = Pricing()
    cases: list[Case] = []
    # Zero cost, and costs whose margin lands exactly on / either side of half a penny:
    # 500 bp of 10 pence is 0.5p (half-up: 11p); of 30 pence 1.5p; of 9 pence 0.45p.
    costs = [0, 1, 9, 10, 11, 30, 99, 100, 199, 200, 300_000, 500_000, 600_000]
    # Exactly at, one penny under and over each default ceiling after the 5 % margin.
    for ceil in (650_000, 800_000, 900_000):
        base = ceil * 10_000 // 10_500
        costs += [base - 1, base, base + 1, base + 2, ceil, ceil + 1]
    costs += [2_000_000, 1_999_999]
    for cost in costs:
        for beds in (1, 2, 3, 4):
            for membership in MEMBERSHIPS:
                for urgency in ("today", "planned"):
                    cases.append(Case(cost, beds, membership, urgency, default))
    # Member rate exactly 10p / 30p etc.: the surcharge and premium then round half-up on
    # their own (1500 bp of 10p = 1.5p; 1000 bp of 5p = 0.5p) — no half penny may carry over.
    half = Pricing(margin_bp=0, associate_surcharge_bp=1500, emergency_premium_bp=1000)
    for cost in (5, 10, 15, 30, 33, 45, 50, 315_000):
        for membership in MEMBERSHIPS:
            for urgency in URGENCIES:
                cases.append(Case(cost, 2, membership, urgency, half))
    # Every step zero; every step maximal; a ceiling of one penny.
    zero = Pricing(margin_bp=0, associate_surcharge_bp=0, emergency_premium_bp=0)
    big = Pricing(margin_bp=100_000, associate_surcharge_bp=100_000, emergency_premium_bp=100_000)
    tiny = Pricing(ceiling_weekly_pence=Ceiling(solo=1, dual=1, multi=1))
    for pricing in (zero, big, tiny):
        for cost in (0, 1, 7, 2_000_000):
            for beds in (1, 2, 3):
                cases.append(Case(cost, beds, "associate", "today", pricing))
    return cases


async def test_rate_sql_matches_price_on_edges_and_a_random_sweep(coop):
    rng = random.Random(20_240_601)  # fixed: a failure reproduces
    cases = _edge_cases()
    for _ in range(400):
        cost = rng.choice(
            [rng.randint(0, 2_000_000), rng.randint(0, 1_000), rng.randint(0, 100) * 10]
        )
        cases.append(
            Case(
                cost=cost,
                beds=rng.randint(1, 4),
                membership=rng.choice(MEMBERSHIPS),
                urgency=rng.choice(URGENCIES),
                pricing=_pricing(rng) if rng.random() < 0.8 else Pricing(),
            )
        )
    assert len(cases) > 700
    await _check(coop, cases)


def _bp() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([0, 500, 1000, 1500, 5000]), st.integers(0, 100_000))


pricings = st.builds(
    Pricing,
    margin_bp=_bp(),
    associate_surcharge_bp=_bp(),
    emergency_premium_bp=_bp(),
    ceiling_weekly_pence=st.builds(
        Ceiling,
        solo=st.integers(1, 2_500_000),
        dual=st.integers(1, 2_500_000),
        multi=st.integers(1, 2_500_000),
    ),
)
cases = st.builds(
    Case,
    cost=st.one_of(st.integers(0, 2_000_000), st.integers(0, 200)),
    beds=st.integers(1, 4),
    membership=st.sampled_from(MEMBERSHIPS),
    urgency=st.sampled_from(URGENCIES),
    pricing=st.one_of(st.just(Pricing()), pricings),
)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(cases, min_size=1, max_size=25))
async def test_rate_sql_equals_price_property(coop, batch):
    await _check(coop, batch)


@settings(max_examples=200, deadline=None)
@given(case=cases)
def test_price_steps_are_ordered(case):
    """Python-side invariants the SQL twin relies on: the member rate is the capped cost plus
    margin, and each surcharge only ever raises it."""
    p = price(
        weekly_cost_pence=case.cost,
        home_type=home_type_for(case.beds),
        membership=case.membership,  # type: ignore[arg-type]
        urgency=case.urgency,  # type: ignore[arg-type]
        own_bed=False,
        pricing=case.pricing,
    )
    assert p.member_rate_pence == min(p.ceiling_pence, p.cost_plus_margin_pence)
    assert p.cost_plus_margin_pence >= case.cost
    assert p.weekly_rate_pence >= p.member_rate_pence
    assert p.associate_surcharge_bp == (
        case.pricing.associate_surcharge_bp if case.membership == "associate" else 0
    )
    assert p.emergency_premium_bp == (
        case.pricing.emergency_premium_bp if case.urgency == "today" else 0
    )
