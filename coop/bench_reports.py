"""``coop bench reports``: the reports on five years of a national market.

What it does, all on this machine:

1. creates a fresh database — on the configured server (``COOP_DATABASE_URL``: a new
   database beside the configured one, which it never touches, dropped at the end unless
   ``--keep``; the role needs ``CREATEDB``) or the embedded default in a temporary
   directory — and migrates it;
2. builds England **by bulk SQL (COPY), not through the API**, deterministically from
   ``--seed`` and ``--today``: 153 authorities in the 9 regions (London 33, South East 19,
   North West 23, ...; most members, some associates), 3,000 homes in proportion (solo, dual
   and multi), 12,000 beds registered from five years ago (some homes opened later, a few
   closed), each bed's history (about 5 % of beds out of use at any time, with reasons, as
   ``bed_states`` spans), two policy versions per region, voids published and withdrawn, and
   placements at a realistic turnover (3-18 months, about 80 % occupancy, 30 % of them
   another authority's child; ended, active, confirmed and offered ahead, cancelled) with
   the requests that lost (declined for a reason, withdrawn, expired) and every booking's
   events; ``--scale`` shrinks homes and beds;
3. runs ``ANALYZE`` and times each report the service functions give (not over HTTP), with
   a region-level view of the largest region, warm (one untimed call first), the median of
   ``--runs``: capacity on today (the region, and all of England), the five-year monthly
   series, income and demand over the last twelve months;
4. prints the figures against their targets, the database's row counts, the seeding time
   and the command that reproduces them.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from asyncpg import Range

from coop.bench import bench_database
from coop.db import schema
from coop.policy import vocabulary
from coop.policy.document import PolicyDocument, Pricing
from coop.policy.pricing import price
from coop.settings import Settings


@dataclass(frozen=True)
class Region:
    slug: str
    authorities: int
    lat: float
    lon: float
    areas: tuple[str, ...]  # postcode areas
    benchmark: int  # spot_benchmark_weekly_pence of the policy in force now


#: England's nine regions and their councils with children's services (153 in all)
REGIONS = (
    Region("north-east", 12, 54.90, -1.60, ("NE", "SR", "DH", "TS"), 720_000),
    Region("north-west", 23, 53.60, -2.50, ("M", "L", "PR", "BB", "CH", "WA", "CA"), 740_000),
    Region("yorkshire-and-the-humber", 15, 53.80, -1.30, ("LS", "S", "BD", "HU", "YO"), 730_000),
    Region("east-midlands", 10, 52.90, -1.10, ("NG", "LE", "DE", "LN", "NN"), 740_000),
    Region("west-midlands", 15, 52.50, -2.10, ("B", "CV", "WV", "ST", "WR", "HR"), 750_000),
    Region("east-of-england", 11, 52.20, 0.50, ("CB", "NR", "IP", "CM", "SS", "LU"), 768_800),
    Region("london", 33, 51.50, -0.12, ("E", "N", "SE", "SW", "W", "NW"), 880_000),
    Region("south-east", 19, 51.30, -0.80, ("RG", "GU", "BN", "ME", "OX", "SO"), 800_000),
    Region("south-west", 15, 50.90, -3.30, ("BS", "EX", "PL", "TR", "BA", "SN"), 760_000),
)
assert sum(r.authorities for r in REGIONS) == 153

HOMES, BEDS = 3_000, 12_000
#: out of use, by reason: (weight, shortest, longest span in days)
OUT_OF_USE = {
    "staffing": (40, 14, 120),
    "maintenance": (25, 7, 60),
    "matching": (20, 7, 45),
    "ofsted_restriction": (15, 30, 180),
}
OUT_OF_USE_CHANCE = 0.27  # of what follows a vacant spell: out of use, else a placement
GAP_DAYS = 55  # mean vacant spell between placements
SOLD = 0.30  # placements with another authority's child
#: why the requests that lost were declined, weighted
DECLINES = {
    "outranked": 34,
    "unavailable": 10,
    "needs": 12,
    "risks": 10,
    "age": 8,
    "over_budget": 8,
    "gender": 4,
    "dols": 2,
    "care_alongside": 2,
    "max_weeks": 2,
    "outside_void": 3,
    "owner_rejected": 3,
    "offer_expired": 2,
}
HOLD_HOURS = {"today": 4, "within_5_days": 24, "planned": 48}
NEEDS = sorted(vocabulary.NEEDS)
RISKS = sorted(vocabulary.RISKS)
SELF = vocabulary.RISKS_TO_SELF
CARE = ("with_others", "no_preference", "no_preference", "only_older", "only_younger")
AGES = ((8, 17), (10, 17), (11, 17), (12, 17), (12, 18), (13, 17), (14, 17))

TARGETS_MS = {
    "capacity_region": 100,
    "capacity_england": 300,
    "series": 1_000,
    "income": 300,
    "demand": 500,
}

# -- the data ----------------------------------------------------------------------------------

_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _noon(d: date) -> datetime:
    """An instant on the English day ``d`` (noon UTC is the same day in Europe/London)."""
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


@dataclass
class Shape:
    scale: float
    seed: int
    years: int
    today: date
    runs: int

    @property
    def homes(self) -> int:
        return max(len(REGIONS), round(HOMES * self.scale))

    @property
    def beds(self) -> int:
        return max(self.homes, round(BEDS * self.scale))


@dataclass
class Home:
    id: str
    owner: str
    region: str
    beds: int
    cost: int
    home_type: str
    age_min: int
    age_max: int
    gender: str
    needs: tuple[str, ...]
    risks: tuple[str, ...]
    dols: bool
    opened: date
    closed: date | None


@dataclass
class Built:
    counts: dict[str, int]
    statuses: Counter[str]
    reasons: Counter[str]
    voids: Counter[str]
    members: Counter[str]
    home_types: Counter[str]
    largest: str
    largest_beds: int
    seconds: float = 0.0
    generated: float = 0.0  # of which building the rows in Python


#: the columns each table is COPYed with (checked against coop.db.schema)
COLUMNS: dict[str, tuple[str, ...]] = {
    "authorities": ("slug", "name", "gss_code", "region", "membership", "created_at"),
    "region_policies": ("region", "version", "effective_from", "document", "created_by"),
    "homes": (
        "id",
        "owner",
        "region",
        "name",
        "ofsted_urn",
        "ofsted_rating",
        "operator",
        "purpose",
        "district",
        "latitude",
        "longitude",
        "age_min",
        "age_max",
        "gender",
        "needs_supported",
        "risks_managed",
        "accepts_dols",
        "weekly_cost_pence",
        "postcode",
        "status",
        "created_at",
        "updated_at",
    ),
    "beds": ("id", "home_id", "label", "status", "out_of_use_reason", "created_at", "updated_at"),
    "bed_states": ("bed_id", "home_id", "during", "status", "out_of_use_reason"),
    "voids": (
        "id",
        "bed_id",
        "home_id",
        "available_from",
        "available_until",
        "status",
        "published_at",
        "home_priority_until",
        "withdrawn_at",
        "policy_version",
    ),
    "bookings": (
        "id",
        "requester",
        "owner",
        "region",
        "void_id",
        "bed_id",
        "home_id",
        "child",
        "urgency",
        "start_date",
        "end_date",
        "max_weekly_price_pence",
        "status",
        "status_reason",
        "decide_at",
        "offered_at",
        "offer_expires_at",
        "weekly_rate_pence",
        "price_breakdown",
        "policy_version",
        "actual_start_date",
        "actual_end_date",
        "notice_date",
        "cancelled_on",
        "version",
        "created_at",
        "updated_at",
    ),
    "booking_events": (
        "booking_id",
        "at",
        "actor",
        "actor_authority",
        "from_status",
        "to_status",
        "reason",
    ),
}
for _name, _cols in COLUMNS.items():
    _table = schema.metadata.tables[_name]
    assert set(_cols) <= set(_table.c.keys()), (_name, set(_cols) - set(_table.c.keys()))


class Seeder:
    """Builds the rows of a national market, deterministic for (seed, today, scale)."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.today = shape.today
        self.now = _noon(shape.today)
        self.start = _years_before(shape.today, shape.years)
        self.second_policy = _years_before(shape.today, 2) if shape.years > 2 else self.start
        self.rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        self.membership: dict[str, str] = {}
        self.members_of: dict[str, list[str]] = {}
        self.prices: dict[tuple[Any, ...], tuple[int, str]] = {}
        self.statuses: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.bookings = 0
        self.open_voids: list[list[Any]] = []  # the current bed's open voids (mutable rows)
        self.voids: list[list[Any]] = []
        self.free = self.start  # the day the current bed was last free from

    # -- ids and times

    def ulid(self, prefix: str, at: datetime) -> str:
        value = int(at.timestamp() * 1000) << 80 | self.rng.getrandbits(80)
        chars = []
        for _ in range(26):
            chars.append(_B32[value & 31])
            value >>= 5
        return f"{prefix}_{''.join(reversed(chars))}"

    def past(self, at: datetime) -> datetime:
        """No instant after the bench's now."""
        return min(at, self.now - timedelta(minutes=1))

    def policy_version(self, at: datetime) -> int:
        return 2 if at.date() >= self.second_policy else 1

    # -- members, policy, homes, beds

    def members(self) -> None:
        rng, n = self.rng, 0
        for region in REGIONS:
            slugs = []
            for k in range(region.authorities):
                slug = f"{region.slug}-{k + 1:02d}"
                if region.slug == "london":
                    gss = f"E09{k + 1:06d}"
                else:
                    n += 1
                    gss = f"{('E06', 'E08', 'E10')[n % 3]}{n:06d}"
                membership = "member" if rng.random() < 0.85 else "associate"
                self.membership[slug] = membership
                slugs.append(slug)
                name = f"{region.slug.replace('-', ' ').title()} Council {k + 1}"
                self.rows["authorities"].append(
                    (slug, name, gss, region.slug, membership, _noon(self.start) - timedelta(60))
                )
            self.members_of[region.slug] = slugs
            for version, (effective, benchmark) in enumerate(
                (
                    (_noon(self.start) - timedelta(30), round(region.benchmark * 0.92, -2)),
                    (_noon(self.second_policy), region.benchmark),
                ),
                start=1,
            ):
                doc = PolicyDocument(pricing=Pricing(spot_benchmark_weekly_pence=int(benchmark)))
                self.rows["region_policies"].append(
                    (
                        region.slug,
                        version,
                        effective,
                        msgspec.json.encode(doc).decode(),
                        "bench",
                    )
                )

    def homes(self) -> list[Home]:
        rng, shape = self.rng, self.shape
        # homes per region in proportion to its councils (largest remainder, one at least)
        share = [shape.homes * r.authorities / 153 for r in REGIONS]
        per = [max(1, int(s)) for s in share]
        order = sorted(range(len(REGIONS)), key=lambda i: per[i] - share[i])
        i = 0
        while sum(per) != shape.homes:
            j = order[i % len(order)]
            if sum(per) < shape.homes:
                per[j] += 1
            elif per[j] > 1:
                per[j] -= 1
            i += 1
        # beds per home: solo 20 %, dual 25 %, multi (3-9) the rest, then exactly shape.beds
        counts = []
        for _ in range(shape.homes):
            x = rng.random()
            counts.append(1 if x < 0.2 else 2 if x < 0.45 else rng.randint(3, 9))
        while (diff := shape.beds - sum(counts)) != 0:
            h = rng.randrange(shape.homes)
            if diff > 0 and counts[h] < 12:
                counts[h] += 1
            elif diff < 0 and counts[h] > 1:
                counts[h] -= 1
        homes: list[Home] = []
        n = 0
        for region, k in zip(REGIONS, per, strict=True):
            slugs = self.members_of[region.slug]
            weights = [rng.uniform(0.4, 2.0) for _ in slugs]
            for _ in range(k):
                beds = counts[n]
                home_type = vocabulary.home_type_for(beds)
                lo, hi = {"solo": (600_000, 850_000), "dual": (500_000, 750_000)}.get(
                    home_type, (380_000, 600_000)
                )
                age_min, age_max = rng.choice(AGES)
                x = rng.random()
                opened = self.start
                closed = None
                if x < 0.10 and (self.today - self.start).days > 400:
                    opened = self.start + timedelta(
                        rng.randint(30, (self.today - self.start).days - 120)
                    )
                elif x < 0.12 and (self.today - self.start).days > 600:
                    closed = self.start + timedelta(
                        rng.randint(365, (self.today - self.start).days - 30)
                    )
                home = Home(
                    id=self.ulid("hom", _noon(opened)),
                    owner=rng.choices(slugs, weights)[0],
                    region=region.slug,
                    beds=beds,
                    cost=rng.randrange(lo, hi, 100),
                    home_type=home_type,
                    age_min=age_min,
                    age_max=age_max,
                    gender=rng.choice(("mixed", "mixed", "mixed", "male", "female")),
                    needs=tuple(sorted(rng.sample(NEEDS, rng.randint(2, 6)))),
                    risks=tuple(sorted(rng.sample(RISKS, rng.randint(3, 8)))),
                    dols=rng.random() < 0.2,
                    opened=opened,
                    closed=closed,
                )
                homes.append(home)
                area = rng.choice(region.areas)
                postcode = (
                    f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}"
                    f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                )
                self.rows["homes"].append(
                    (
                        home.id,
                        home.owner,
                        home.region,
                        f"{area} House {n + 1}",
                        f"SC{400_000 + n:06d}",
                        rng.choices(
                            ("outstanding", "good", "requires_improvement", "not_yet_inspected"),
                            (20, 60, 15, 5),
                        )[0],
                        rng.choices(("in_house", "commissioned", "vcs_partnership"), (70, 20, 10))[
                            0
                        ],
                        rng.choices(("long_term", "emergency", "assessment"), (75, 15, 10))[0],
                        f"{area} district",
                        round(region.lat + rng.uniform(-0.45, 0.45), 5),
                        round(region.lon + rng.uniform(-0.6, 0.6), 5),
                        home.age_min,
                        home.age_max,
                        home.gender,
                        list(home.needs),
                        list(home.risks),
                        home.dols,
                        home.cost,
                        postcode,
                        "closed" if closed else "open",
                        _noon(opened),
                        _noon(closed or opened),
                    )
                )
                n += 1
        return homes

    # -- a booking, with its events

    def rate(self, home: Home, requester: str, urgency: str, version: int) -> tuple[int, str]:
        key = (
            home.cost,
            home.home_type,
            self.membership[requester],
            urgency,
            requester == home.owner,
        )
        if key not in self.prices:
            p = price(
                weekly_cost_pence=home.cost,
                home_type=home.home_type,  # type: ignore[arg-type]
                membership=self.membership[requester],  # type: ignore[arg-type]
                urgency=urgency,  # type: ignore[arg-type]
                own_bed=requester == home.owner,
                pricing=Pricing(),
            )
            self.prices[key] = (p.weekly_rate_pence, msgspec.json.encode(p).decode())
        return self.prices[key]

    def child(self, home: Home, misfit: str | None = None) -> tuple[str, str | None]:
        """A child profile that fits the home, or misses it for ``misfit``; the reason it
        misses (``misfit`` or another when the home cannot miss on it)."""
        rng = self.rng
        age = rng.randint(home.age_min, home.age_max)
        gender = home.gender if home.gender != "mixed" else rng.choice(("male", "female"))
        if home.gender == "mixed" and rng.random() < 0.03:
            gender = "other"
        needs = rng.sample(home.needs, min(len(home.needs), rng.choice((0, 1, 1, 2, 2, 3))))
        risks = rng.sample(home.risks, min(len(home.risks), rng.choice((0, 1, 1, 2, 3))))
        dols = home.dols and rng.random() < 0.15
        care = "solo" if home.home_type == "solo" and rng.random() < 0.5 else rng.choice(CARE)
        if misfit == "gender" and home.gender == "mixed":
            misfit = "age"
        if misfit == "dols" and home.dols:
            misfit = "risks"
        if misfit == "care_alongside" and home.home_type == "solo":
            misfit = "needs"
        if misfit == "needs":
            missing = [n for n in NEEDS if n not in home.needs]
            needs.append(rng.choice(missing))
        elif misfit == "risks":
            missing = [r for r in RISKS if r not in home.risks]
            risks.append(rng.choice(missing))
        elif misfit == "age":
            age = home.age_max + rng.randint(1, 2) if home.age_min < 10 else home.age_min - 2
        elif misfit == "gender":
            gender = "female" if home.gender == "male" else "male"
        elif misfit == "dols":
            dols = True
        elif misfit == "care_alongside":
            care = "solo"
        profile: dict[str, Any] = {
            "ref": f"child-{self.bookings:07d}",
            "age": age,
            "gender": gender,
            "needs": needs,
            "risks_to_self": [r for r in risks if r in SELF],
            "risks_to_others": [r for r in risks if r not in SELF],
            "dols": dols,
            "care_alongside": care,
        }
        return msgspec.json.encode(profile).decode(), misfit

    def booking(
        self,
        home: Home,
        bed_id: str,
        requester: str,
        *,
        urgency: str,
        created: datetime,
        start: date,
        end: date,
        outcome: str,
        void: list[Any] | None = None,
        reason: str | None = None,
        actual_start: date | None = None,
        actual_end: date | None = None,
        notice: date | None = None,
        cancelled_on: date | None = None,
        settled_at: datetime | None = None,
    ) -> dict[str, Any]:
        """One booking and its events; ``outcome`` is its status, and for a lost request
        ``reason`` (its ``status_reason``) and ``settled_at`` (when it was decided)."""
        rng = self.rng
        self.bookings += 1
        created = self.past(created)
        own = requester == home.owner
        decide = created
        if void is not None and not own and urgency != "today":
            decide = max(created, void[7])  # the home window
        if cancelled_on is not None:
            cancelled_on = max(cancelled_on, created.date())
        child, misfit = self.child(home, reason if outcome == "declined" else None)
        if outcome == "declined" and reason != misfit:
            reason = misfit
        version = self.policy_version(created)
        rate, breakdown = self.rate(home, requester, urgency, version)
        budget = None
        if reason == "over_budget":
            budget = max(0, rate - rng.randrange(5_000, 60_000, 100))
        elif rng.random() < 0.2:
            budget = rate + rng.randrange(0, 80_000, 100)
        booking_id = self.ulid("bkg", created)
        owner_actor, requester_actor = f"client:cli_{home.owner}", f"client:cli_{requester}"
        events: list[tuple[Any, ...]] = []
        at = created

        def move(to: str, when: datetime, actor: str, who: str | None, why: str | None) -> None:
            nonlocal at
            frm = events[-1][4] if events else None
            at = max(at, self.past(when))
            events.append((booking_id, at, actor, who, frm, to, why))

        move("pending", created, requester_actor, requester, None)
        offered_at = expires = None
        offered = outcome in ("offered", "confirmed", "active", "ended", "cancelled") or (
            outcome == "declined" and reason in ("owner_rejected", "offer_expired")
        )
        if offered:
            move(
                "offered",
                decide + timedelta(minutes=rng.randint(0, 30)),
                "system:allocator",
                None,
                None,
            )
            offered_at = at
            expires = offered_at + timedelta(hours=HOLD_HOURS[urgency])
        if outcome in ("confirmed", "active", "ended", "cancelled"):
            hours = rng.uniform(0.2, HOLD_HOURS[urgency] * 0.8)
            move("confirmed", at + timedelta(hours=hours), owner_actor, home.owner, None)
        if outcome in ("active", "ended"):
            arrived = actual_start or start
            move("active", max(at, _noon(arrived)), owner_actor, home.owner, None)
        if outcome == "ended":
            assert actual_end is not None
            move(
                "ended",
                _noon(max(actual_end, notice or actual_end)) + timedelta(hours=2),
                requester_actor,
                requester,
                "placement ended",
            )
        elif outcome == "cancelled":
            assert cancelled_on is not None
            move("cancelled", max(at, _noon(cancelled_on)), requester_actor, requester, None)
        elif outcome == "declined":
            if reason == "owner_rejected":
                move(
                    "declined",
                    at + timedelta(hours=rng.uniform(0.5, 20)),
                    owner_actor,
                    home.owner,
                    reason,
                )
            elif reason == "offer_expired":
                move("declined", expires or at, "system:offer-expiry", None, reason)
            else:
                move("declined", settled_at or decide, "system:allocator", None, reason)
        elif outcome == "withdrawn":
            move(
                "withdrawn",
                settled_at or at + timedelta(hours=rng.uniform(1, 200)),
                requester_actor,
                requester,
                "withdrawn",
            )
        elif outcome == "expired":
            move("expired", settled_at or _noon(start), "system:allocator", None, "start_passed")
        status = events[-1][5]
        status_reason = events[-1][6] if status in ("declined", "withdrawn", "expired") else None
        self.statuses[status] += 1
        if status == "declined":
            self.reasons[status_reason or ""] += 1
        self.rows["bookings"].append(
            (
                booking_id,
                requester,
                home.owner,
                home.region,
                void[0] if void is not None else None,
                bed_id,
                home.id,
                child,
                urgency,
                start,
                end,
                budget,
                status,
                status_reason,
                decide,
                offered_at,
                expires,
                rate,
                breakdown,
                version,
                actual_start,
                actual_end,
                notice,
                cancelled_on,
                len(events),
                created,
                at,
            )
        )
        self.rows["booking_events"].extend(events)
        return {"created": created, "accepted": events[2][1] if len(events) > 2 else at}

    # -- voids

    def publish(
        self, home: Home, bed_id: str, at: datetime, start: date, until: date | None
    ) -> list[Any]:
        """A void on the bed; any open void of the bed over the same days is withdrawn first
        (a bed has one open void over a day)."""
        at = self.past(at)
        for v in self.open_voids:
            if v[3] < (until or date.max) and start < (v[4] or date.max):
                self.withdraw(v, at)
        self.open_voids = [v for v in self.open_voids if v[5] == "open"]
        void = [
            self.ulid("void", at),
            bed_id,
            home.id,
            start,
            until,
            "open",
            at,
            at + timedelta(hours=48),
            None,
            self.policy_version(at),
        ]
        self.voids.append(void)
        self.open_voids.append(void)
        return void

    def withdraw(self, void: list[Any], at: datetime) -> None:
        if void[5] == "open":
            void[5], void[8] = "withdrawn", max(void[6], self.past(at))

    # -- a bed's five years

    def other(self, home: Home, *, besides: str | None = None) -> str:
        slugs = [s for s in self.members_of[home.region] if s not in (home.owner, besides)]
        return self.rng.choice(slugs or self.members_of[home.region])

    def urgency(self, own: bool) -> str:
        weights = (15, 25, 60) if not own else (10, 20, 70)
        return self.rng.choices(("today", "within_5_days", "planned"), weights)[0]

    def requested(self, urgency: str, start: date) -> datetime:
        rng = self.rng
        if urgency == "today":
            return _noon(start) - timedelta(hours=rng.uniform(1, 4))
        days = rng.randint(0, 5) if urgency == "within_5_days" else rng.randint(6, 60)
        return _noon(start) - timedelta(days=days, hours=rng.uniform(0, 8))

    def placement(
        self,
        home: Home,
        bed_id: str,
        start: date,
        end: date,
        outcome: str,
        **dates: Any,
    ) -> None:
        """A placement (or a cancelled one): own, or sold through a void with the requests
        that lost it."""
        rng = self.rng
        sold = rng.random() < SOLD and len(self.members_of[home.region]) > 1
        requester = self.other(home) if sold else home.owner
        urgency = self.urgency(not sold)
        if outcome == "offered":
            urgency = "planned"
        created = self.requested(urgency, start)
        if outcome == "offered":
            created = self.now - timedelta(hours=rng.uniform(2, 30))
        void = None
        if sold:
            published = self.past(
                created - timedelta(days=rng.randint(2, 14), hours=rng.uniform(0, 9))
            )
            frm = min(start, max(self.free, published.date()))
            void = self.publish(home, bed_id, published, frm, end if rng.random() < 0.6 else None)
        won = self.booking(
            home,
            bed_id,
            requester,
            urgency=urgency,
            created=created,
            start=start,
            end=end,
            outcome=outcome,
            void=void,
            **dates,
        )
        if not sold:
            return
        assert void is not None
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 4))):
            theirs = self.urgency(False)
            asked = won["created"] + timedelta(hours=rng.uniform(-48, 72))
            asked = self.past(max(asked, void[6] + timedelta(hours=1)))
            s = max(start + timedelta(rng.randint(-5, 10)), void[3], asked.date())
            e = s + timedelta(rng.randint(60, 400))
            x = rng.random()
            if outcome == "offered" and x < 0.5:
                kind, reason, at = "pending", None, None
            elif x < 0.75:
                kind = "declined"
                reason = rng.choices(list(DECLINES), list(DECLINES.values()))[0]
                at = None
                if reason in ("outranked", "unavailable"):
                    at = max(asked, won["accepted"]) if reason == "outranked" else asked
            elif x < 0.9:
                kind, reason, at = "withdrawn", None, None
            else:
                kind, reason, at = "expired", None, _noon(s)
            self.booking(
                home,
                bed_id,
                self.other(home),
                urgency=theirs,
                created=asked,
                start=s,
                end=e,
                outcome=kind,
                void=void,
                reason=reason,
                settled_at=at,
            )

    def bed(self, home: Home, label: int) -> None:
        rng, today = self.rng, self.today
        created = home.opened
        bed_id = self.ulid("bed", _noon(created))
        horizon = home.closed or today + timedelta(120)
        spans: list[tuple[date, date | None, str | None]] = []  # out of use
        self.open_voids = []
        self.free = created
        t = created + timedelta(rng.randint(0, 20))
        out_now: tuple[date, str] | None = None
        while t < horizon:
            if rng.random() < OUT_OF_USE_CHANCE:
                if t > today:
                    break
                reason = rng.choices(list(OUT_OF_USE), [w for w, _, _ in OUT_OF_USE.values()])[0]
                _, shortest, longest = OUT_OF_USE[reason]
                until: date | None = t + timedelta(rng.randint(shortest, longest))
                for v in self.open_voids:
                    self.withdraw(v, _noon(t))
                self.open_voids = []
                if home.closed and until and until >= home.closed:
                    until = home.closed
                if until and until > today and not home.closed:
                    spans.append((t, None, reason))
                    out_now = (t, reason)
                    break
                spans.append((t, until, reason))
                assert until is not None
                t = self.free = until
                t += timedelta(int(rng.expovariate(1 / GAP_DAYS)))
                continue
            self.gap_void(home, bed_id, t)
            start = t
            if rng.random() < 0.05 and start + timedelta(30) < min(today, horizon):
                # a confirmed placement cancelled before it started; another child came later
                end = start + timedelta(rng.randint(60, 300))
                cancelled = start - timedelta(rng.randint(0, 20))
                self.placement(home, bed_id, start, end, "cancelled", cancelled_on=cancelled)
                start += timedelta(rng.randint(5, 30))
            end = start + timedelta(rng.randint(90, 540))
            if start > today:
                outcome = (
                    "offered" if (start - today).days <= 21 and rng.random() < 0.3 else "confirmed"
                )
                self.placement(home, bed_id, start, end, outcome)
                self.free = end
                break
            actual_end: date | None = None
            notice: date | None = None
            if home.closed and end > home.closed:
                if (home.closed - start).days < 14:
                    break
                actual_end = home.closed
            elif end <= today:
                actual_end = end
                if rng.random() < 0.2:
                    actual_end = start + timedelta(rng.randint(28, (end - start).days - 1))
            elif (today - start).days <= 3 and rng.random() < 0.5:
                self.placement(home, bed_id, start, end, "confirmed")
                t = self.free = end
                t += timedelta(int(rng.expovariate(1 / GAP_DAYS)))
                continue
            elif rng.random() < 0.08 and (today - start).days > 1:
                actual_end = start + timedelta(rng.randint(1, (today - start).days))
            if actual_end is None:
                self.placement(home, bed_id, start, end, "active", actual_start=start)
                t = self.free = end
            else:
                if actual_end < end:
                    notice = max(start, actual_end - timedelta(rng.randint(0, 28)))
                self.placement(
                    home,
                    bed_id,
                    start,
                    end,
                    "ended",
                    actual_start=start,
                    actual_end=actual_end,
                    notice=notice,
                )
                t = self.free = actual_end
            t += timedelta(int(rng.expovariate(1 / GAP_DAYS)) + 1)
        # vacant now: about half the vacant beds are offered to the cooperative
        offered_now = any(v[4] is None or v[4] > today for v in self.open_voids)
        vacant_now = out_now is None and not home.closed and self.free <= today
        if vacant_now and not offered_now and rng.random() < 0.55:
            published = _noon(self.free) - timedelta(days=rng.randint(0, 3))
            until = None if rng.random() < 0.7 else today + timedelta(rng.randint(7, 120))
            self.publish(home, bed_id, published, self.free, until)
        # the bed, as it is now, and its history of spans
        status, reason, changed = "in_use", None, created
        if out_now is not None:
            status, reason, changed = "out_of_use", out_now[1], out_now[0]
        self.rows["beds"].append(
            (bed_id, home.id, f"Bed {label}", status, reason, _noon(created), _noon(changed))
        )
        lo = created
        for s, u, why in spans:
            if s > lo:
                self.rows["bed_states"].append((bed_id, home.id, Range(lo, s), "in_use", None))
            self.rows["bed_states"].append((bed_id, home.id, Range(s, u), "out_of_use", why))
            lo = u  # type: ignore[assignment]
            if u is None:
                break
        else:
            if home.closed is None or lo < home.closed:
                self.rows["bed_states"].append(
                    (bed_id, home.id, Range(lo, home.closed), "in_use", None)
                )

    def gap_void(self, home: Home, bed_id: str, t: date) -> None:
        """Sometimes the owner offers a vacant bed and then fills it itself (the void is
        withdrawn); requests that came in meanwhile expire or are withdrawn."""
        rng = self.rng
        if (
            t - self.free < timedelta(7)
            or rng.random() > 0.3
            or len(self.members_of[home.region]) < 2
        ):
            return
        published = _noon(self.free) + timedelta(hours=rng.uniform(0, 30))
        withdrawn = _noon(t) - timedelta(days=rng.randint(1, 3))
        if withdrawn <= published or withdrawn > self.now:
            return
        void = self.publish(home, bed_id, published, self.free, None)
        for _ in range(rng.choice((0, 0, 1, 2))):
            asked = published + (withdrawn - published) * rng.random()
            s = asked.date() + timedelta(rng.randint(1, 20))
            kind = "expired" if rng.random() < 0.6 else "withdrawn"
            self.booking(
                home,
                bed_id,
                self.other(home),
                urgency="planned",
                created=asked,
                start=s,
                end=s + timedelta(rng.randint(60, 300)),
                outcome=kind,
                void=void,
                settled_at=withdrawn if kind == "expired" else None,
            )
        self.withdraw(void, withdrawn)
        self.open_voids = []

    def build(self) -> tuple[list[Home], dict[str, list[tuple[Any, ...]]]]:
        self.members()
        homes = self.homes()
        for home in homes:
            for label in range(1, home.beds + 1):
                self.bed(home, label)
        self.rows["voids"] = [tuple(v) for v in self.voids]
        return homes, self.rows


async def seed(conn: Any, shape: Shape) -> Built:
    """Build the rows and COPY them (``conn``: asyncpg, outside a transaction)."""
    started = time.perf_counter()
    seeder = Seeder(shape)
    homes, rows = seeder.build()
    generated = time.perf_counter() - started
    async with conn.transaction():
        for name in ("authorities", "region_policies", "homes", "beds"):
            await conn.copy_records_to_table(name, columns=COLUMNS[name], records=rows[name])
        # the triggers started each bed's history when it was inserted; the bench writes the
        # whole of it (out-of-use spans, closed homes) instead
        await conn.execute("DELETE FROM bed_states")
        for name in ("bed_states", "voids", "bookings", "booking_events"):
            await conn.copy_records_to_table(name, columns=COLUMNS[name], records=rows[name])
    seconds = time.perf_counter() - started
    beds_of: Counter[str] = Counter()
    for home in homes:
        beds_of[home.region] += home.beds
    largest, largest_beds = max(beds_of.items(), key=lambda kv: (kv[1], kv[0]))
    return Built(
        counts={name: len(r) for name, r in rows.items()},
        statuses=seeder.statuses,
        reasons=seeder.reasons,
        voids=Counter(v[5] for v in seeder.voids),
        members=Counter(seeder.membership.values()),
        home_types=Counter(h.home_type for h in homes),
        largest=largest,
        largest_beds=largest_beds,
        seconds=seconds,
        generated=generated,
    )


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Timed:
    key: str
    label: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    error: str | None = None  # why it could not be timed

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def target_ms(self) -> int:
        return TARGETS_MS[self.key]


async def timed(
    key: str, label: str, call: Callable[[], Awaitable[Any]], runs: int, describe: Any
) -> Timed:
    """Warm (one untimed call), then ``runs`` timed calls."""
    out = Timed(key, label)
    try:
        result = await call()
    except Exception as exc:  # a report that fails: say so, and time the others
        out.error = f"error: {type(exc).__name__}: {exc}"[:300]
        return out
    for _ in range(runs):
        started = time.perf_counter()
        result = await call()
        out.samples.append(time.perf_counter() - started)
    out.note = describe(result)
    return out


def _rows(result: Any) -> str:
    rows = getattr(result, "rows", None)
    return f"{len(rows)} rows" if isinstance(rows, list) else ""


async def measure(settings: Settings, shape: Shape, built: Built) -> dict[str, Any]:
    from coop.db.session import create_engine
    from coop.reports import capacity, demand, income
    from coop.reports.scope import ReportView

    today = shape.today
    view = ReportView(built.largest, None)
    engine = create_engine(settings)
    year_from = date(today.year - 1, today.month, 1)
    year_to = date(today.year, today.month, 1)
    series_from = date(today.year - shape.years, today.month, 1)
    series_to = today + timedelta(1)
    try:

        async def england() -> Any:
            async with engine.connect() as conn:
                rows = await capacity.beds_on(conn, None, today)
            return capacity.tally_on(rows)

        results = [
            await timed(
                "capacity_region",
                f"capacity on {today}, {built.largest}",
                lambda: capacity.capacity_on(engine, view, today),
                shape.runs,
                lambda r: f"{len(r.rows)} authorities, {r.totals.registered:,} beds",
            ),
            await timed(
                "capacity_england",
                f"capacity on {today}, all England (beds_on + tally_on)",
                england,
                shape.runs,
                lambda r: f"{r[0].registered:,} beds, {len(r[1]):,} homes",
            ),
            await timed(
                "series",
                f"capacity series {built.largest}, {series_from} → {series_to}, monthly",
                lambda: capacity.capacity_series(engine, view, series_from, series_to, "month"),
                shape.runs,
                lambda r: f"{len(r.rows)} months",
            ),
            await timed(
                "income",
                f"income {built.largest}, {year_from} → {year_to}",
                lambda: income.income_report(engine, view, year_from, year_to),
                shape.runs,
                _rows,
            ),
            await timed(
                "demand",
                f"demand {built.largest}, {year_from} → {year_to}",
                lambda: demand.demand_report(engine, view, year_from, year_to),
                shape.runs,
                _rows,
            ),
        ]
        # what the data looks like today, and a check the England figures hold every bed
        async with engine.connect() as conn:
            rows = await capacity.beds_on(conn, None, today)
            registered = await conn.scalar(
                sa.text("SELECT count(*) FROM bed_states WHERE during @> CAST(:d AS date)"),
                {"d": today},
            )
            counts = {
                name: await conn.scalar(sa.text(f"SELECT count(*) FROM {name}")) for name in COLUMNS
            }
            size = await conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
        total, _per_home, _ = capacity.tally_on(rows)
    finally:
        await engine.dispose()
    return dict(
        results=results,
        england=total,
        registered=registered,
        counts=counts,
        size=size,
        view=view,
    )


# -- orchestration ------------------------------------------------------------------------------


async def _bench(settings: Settings, shape: Shape) -> dict[str, Any]:
    import asyncpg
    from sqlalchemy.engine import make_url

    assert settings.database_url
    url = make_url(settings.database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        built = await seed(conn, shape)
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        analyze = time.perf_counter() - started
    finally:
        await conn.close()
    measured = await measure(settings, shape, built)
    return dict(built=built, analyze=analyze, **measured)


def run_reports_bench(
    settings: Settings,
    *,
    scale: float = 1.0,
    seed: int = 1,
    years: int = 5,
    runs: int = 10,
    today: str | None = None,
    keep: bool = False,
) -> tuple[int, list[str]]:
    """Run the bench on a fresh database; return the exit code and the report lines."""
    from sqlalchemy.engine import make_url

    from coop.clock import Clock

    if not 0 < scale <= 10 or years < 1 or runs < 1:
        raise SystemExit("--scale must be in (0, 10], --years and --runs at least 1")
    day = date.fromisoformat(today) if today else Clock().today()
    shape = Shape(scale=scale, seed=seed, years=years, today=day, runs=runs)
    original = settings
    with bench_database(settings, "coop_bench_reports", keep=keep) as db:
        result = asyncio.run(_bench(db.settings, shape))
    configured, name, kept = db.configured, db.name, db.kept
    if configured:
        where = f"COOP_DATABASE_URL's server (a fresh database, {name}, " + (
            "kept)" if keep else "dropped after)"
        )
        assert original.database_url
        url = make_url(original.database_url).render_as_string(hide_password=True)
        env = f"COOP_DATABASE_URL={url} "
    else:
        where = "embedded PostgreSQL (fresh, in a temporary directory)"
        env = "env -u COOP_DATABASE_URL -u COOP_REDIS_URL "
    code, out = report(result, shape, where, env)
    if kept:
        out.append(f"  kept: {kept} (drop it when done)")
    return code, out


def _n(x: int) -> str:
    return f"{x:,}"


def report(result: dict[str, Any], shape: Shape, where: str, env: str) -> tuple[int, list[str]]:
    built: Built = result["built"]
    counts = result["counts"]
    t = result["england"]
    out: list[str] = []
    out.append(
        f"coop bench reports — {os.cpu_count()} cores, {where}; today {shape.today}, "
        f"seed {shape.seed}, scale {shape.scale:g}"
    )
    out.append(
        f"  data, by bulk SQL (COPY; not through the API) in {built.seconds:.1f} s "
        f"(rows built in Python {built.generated:.1f} s, COPY {built.seconds - built.generated:.1f}"
        f" s; then ANALYZE {result['analyze']:.1f} s): {len(REGIONS)} regions, "
        f"{_n(counts['authorities'])} authorities ({built.members['member']} members, "
        f"{built.members['associate']} associates), {_n(counts['homes'])} homes "
        f"({', '.join(f'{_n(built.home_types[k])} {k}' for k in ('solo', 'dual', 'multi'))}), "
        f"{_n(counts['beds'])} beds; {shape.years} years from "
        f"{_years_before(shape.today, shape.years)}"
    )
    out.append(
        "  rows: "
        + ", ".join(
            f"{name} {_n(counts[name])}"
            for name in (
                "authorities",
                "homes",
                "beds",
                "bookings",
                "bed_states",
                "voids",
                "booking_events",
                "region_policies",
            )
        )
        + f"; database {result['size'] / 2**20:,.0f} MiB"
    )
    out.append(
        "  bookings by status: "
        + ", ".join(f"{k} {_n(v)}" for k, v in built.statuses.most_common())
    )
    out.append(
        "  declined, by reason: "
        + ", ".join(f"{k} {_n(v)}" for k, v in built.reasons.most_common())
    )
    out.append(f"  voids: {_n(built.voids['open'])} open, {_n(built.voids['withdrawn'])} withdrawn")
    oou = sum(t.out_of_use.values())
    reasons = ", ".join(f"{k} {_n(v)}" for k, v in sorted(t.out_of_use.items()))
    pct = 100 * t.occupied / t.operational if t.operational else 0.0
    out.append(
        f"  England on {shape.today}: {_n(t.registered)} beds registered, {_n(oou)} out of use "
        f"({100 * oou / max(t.registered, 1):.1f} %: {reasons}), occupied {_n(t.occupied)} "
        f"(own {_n(t.occupied_own)}, sold {_n(t.occupied_sold)}; {pct:.1f} % of operational), "
        f"reserved {_n(t.reserved)}, vacant offered {_n(t.vacant_offered)}, "
        f"not offered {_n(t.vacant_not_offered)}"
    )
    out.append(
        f"  largest region: {built.largest} ({_n(built.largest_beds)} beds); reports called "
        f"directly (not over HTTP) with a region-level view, warm (one untimed call), "
        f"median of {shape.runs} runs (min–max)"
    )
    missed = 0
    for r in result["results"]:
        target = f"target < {r.target_ms:,} ms"
        if r.error:
            out.append(f"    {r.label:72} {r.error:>10}   {target}")
            continue
        ok = r.median_ms < r.target_ms
        missed += not ok
        out.append(
            f"    {r.label:72} {r.median_ms:8.1f} ms ({min(r.samples) * 1000:.1f}–"
            f"{max(r.samples) * 1000:.1f})   {target}   {'PASS' if ok else 'MISS'}   {r.note}"
        )
    timed_ = [r for r in result["results"] if not r.error]
    errors = [r.key for r in result["results"] if r.error]
    out.append(
        f"  targets: {len(timed_) - missed} of {len(timed_)} timed reports PASS"
        + (f"; failed: {', '.join(errors)}" if errors else "")
    )
    ok = result["registered"] == t.registered
    out.append(
        f"  check: every bed registered today is counted once in England's capacity "
        f"({_n(result['registered'])} in bed_states, {_n(t.registered)} counted): "
        f"{'ok' if ok else 'MISMATCH'}"
    )
    out.append(
        f"  reproduce: {env}coop bench reports --scale {shape.scale:g} --seed {shape.seed} "
        f"--years {shape.years} --runs {shape.runs} --today {shape.today}"
    )
    return (0 if ok and not errors else 1), out
