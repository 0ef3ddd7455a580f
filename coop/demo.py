"""``coop demo``: a living East of England cooperative from one command.

On the embedded default (never a configured database), in an empty data directory, the demo
loads the region's eleven authorities and their homes (:mod:`coop.demo_data`) and a year of
trading made **through the real services**: the HTTP API in-process, under a clock moved
from the 1st of the month twelve months ago to today. Councils request beds (planned and
urgent, by needs and risks); home managers accept, reject with reasons, or let offers lapse;
placements start, end as planned or early, or run on past today; beds go out of use for
staffing; voids are published and withdrawn. Deferred work (allocation after the home window,
offer expiry, lapsed starts) is the worker's own sweep, run on the demo's clock as it moves,
and every past month is settled by a real arq worker (burst mode, the demo's clock) on the
1st of the next month. Then it serves exactly like ``coop serve``.

Two halves:

* :func:`make_plan` — **pure**: what every council and home intends over the year, drawn
  from ``random.Random(seed)`` and nothing else, relative to the first day. Same seed and
  same first month, same plan (its :meth:`Plan.digest` says so).
* :class:`Loader` — carries the plan out against the API, day by day. It decides nothing by
  chance: where a plan meets the market (which bed is free, whether a request was offered)
  it asks the service (a void search, the booking's status) and follows the answer. Only a
  council's own free beds are read from the database directly (its own rota).

The load stops at the start of the day it runs (the serving worker carries on from there, on
the real clock), so what it makes is a function of the seed and that day. It is summed up by
:func:`facts_digest` (ids left out): two loads of one seed on one day print the same digest.

A failed or interrupted load writes no ``demo.json``: the next ``coop demo`` on that
directory refuses to serve the half-loaded region (exit 2).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import math
import os
import random
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from coop.clock import ENGLAND, FrozenClock, local_date
from coop.demo_data import (
    AUTHORITIES,
    CANCEL_REASONS,
    EARLY_END_REASONS,
    HOMES,
    PLANNED_END_REASONS,
    REGION,
    REJECT_REASONS,
    UNMET_RISKS,
    WITHDRAW_REASONS,
    AuthorityFacts,
    HomeFacts,
)
from coop.policy.document import Pricing
from coop.policy.pricing import price
from coop.policy.vocabulary import RISKS_TO_SELF, home_type_for
from coop.settings import Settings

log = logging.getLogger("coop.demo")

DEMO_FILE = "demo.json"
#: the line a script (or a test) waits for: the server is listening
READY = "coop demo: ready at"
#: how many months the plan covers: twelve past ones and the month the load runs in
HORIZON_MONTHS = 13
#: an assessment home takes a child for at most this long (the policy's ``max_weeks``)
ASSESSMENT_DAYS = 20 * 7
MAX_ATTEMPTS = 3
#: the sweep runs on Monday mornings, before a council checks on a request (so whatever is
#: due then has been done: a decision after the home window, an offer's lapsed hold, a start
#: that passed), and before anything else once this long has passed without one (the worker's
#: runs every 30 s: it finds the same work, a little later on the clock)
SWEEP_EVERY = timedelta(days=3)
#: a council with time before the start waits for a void nearer than this to its child's home
#: (placements far from home are what the cooperative is meant to reduce)
NEAR_KM = 40.0
#: a request declined for one of these is tried again elsewhere; the others are unmet
RETRY_REASONS = frozenset({"unavailable", "outranked", "owner_rejected", "offer_expired"})

AUTHORITY = {a.slug: a for a in AUTHORITIES}
HOME = {h.key: h for h in HOMES}


# -- dates -----------------------------------------------------------------------------------


def months_after(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month``'s (``n`` may be negative)."""
    years, index = divmod(month.month - 1 + n, 12)
    return date(month.year + years, index + 1, 1)


def demo_start(today: date) -> date:
    """The demo's first day: the 1st of the month twelve months before ``today``'s."""
    return months_after(today, -12)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant on ``day`` (UTC; between 02:00 and 22:00 UTC it is the same English day)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def period_of(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


# -- the plan (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    ref: str
    age: int
    gender: str
    needs: tuple[str, ...]
    risks_to_self: tuple[str, ...]
    risks_to_others: tuple[str, ...]
    dols: bool
    care_alongside: str
    home_latitude: float
    home_longitude: float

    def body(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "age": self.age,
            "gender": self.gender,
            "needs": list(self.needs),
            "risks_to_self": list(self.risks_to_self),
            "risks_to_others": list(self.risks_to_others),
            "dols": self.dols,
            "care_alongside": self.care_alongside,
            "home_latitude": self.home_latitude,
            "home_longitude": self.home_longitude,
        }


@dataclass(frozen=True)
class Ending:
    """How a placement ends: as planned (the home records it on the day), or early."""

    early: bool
    fraction: float
    """Early: how far into the stay notice is given."""
    ahead_days: int
    """Early: the child leaves this many days after notice (0: the same day)."""
    notice_days_before: int
    """Early: notice was given this many days before it was recorded."""
    by_requester: bool
    reason: str


@dataclass(frozen=True)
class Existing:
    """A placement that exists when the cooperative starts (imported on day one)."""

    home: str
    label: str
    requester: str
    child: Child
    start_date: date
    end_date: date
    ending: Ending


@dataclass(frozen=True)
class Answer:
    """What the home manager does with an offer: ``accept``, ``reject`` or ``ignore`` (the
    hold runs out), after so many minutes."""

    kind: str
    after_minutes: int
    reason: str


@dataclass(frozen=True)
class Demand:
    """A council needs a bed for a child."""

    at: datetime
    requester: str
    child: Child
    urgency: str
    start_date: date
    end_date: date
    budget: int | None
    prefer_own: bool
    """Try its own homes first (a bed there costs nothing between councils)."""
    answers: tuple[Answer, ...]
    """The home's answer to the first offer, the second, ... (one per attempt)."""
    withdraw_after_minutes: int | None
    withdraw_reason: str
    cancel_days_before: int | None
    """A confirmed placement is called off this many days before it starts."""
    cancel_reason: str
    arrival_delay: int
    ending: Ending

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days


@dataclass(frozen=True)
class Outage:
    """A bed of ``home`` out of use from ``begin`` for ``days`` days."""

    home: str
    begin: date
    days: int
    reason: str


@dataclass(frozen=True)
class Plan:
    seed: int
    start: date
    existing: tuple[Existing, ...]
    unoffered: tuple[tuple[str, str], ...]
    """Beds (home key, label) their owner keeps for its own children: never a void."""
    outages: tuple[Outage, ...]
    demands: tuple[Demand, ...]

    @property
    def horizon(self) -> date:
        return months_after(self.start, HORIZON_MONTHS)

    def digest(self) -> str:
        """A fingerprint of the whole plan."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


class _Refs:
    """Case references, one sequence per authority: ``SCC-00042``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def next(self, authority: str) -> str:
        self.counts[authority] += 1
        return f"{AUTHORITY[authority].ref}-{self.counts[authority]:05d}"


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat, dlon = math.radians(lat2 - lat1) / 2, math.radians(lon2 - lon1) / 2
    a = (
        math.sin(dlat) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def _neighbours(home: HomeFacts) -> list[str]:
    """The three other authorities nearest the home."""
    others = [a for a in AUTHORITIES if a.slug != home.owner]
    others.sort(key=lambda a: (_km(home.latitude, home.longitude, a.latitude, a.longitude), a.slug))
    return [a.slug for a in others[:3]]


def _child(rng: random.Random, home: HomeFacts, requester: AuthorityFacts, refs: _Refs) -> Child:
    """A child who fits ``home``, from ``requester``'s area."""
    age = rng.randint(max(home.age_min, 8), home.age_max)
    if home.gender == "mixed":
        gender = rng.choices(("male", "female", "other"), (48, 48, 4))[0]
    else:
        gender = home.gender
    needs = sorted(rng.sample(home.needs, k=min(len(home.needs), rng.choice((1, 1, 2)))))
    risks = rng.sample(home.risks, k=min(len(home.risks), rng.choice((0, 1, 1, 2))))
    dols = home.accepts_dols and rng.random() < 0.3
    care = rng.choices(
        ("no_preference", "with_others", "only_older", "only_younger"), (62, 30, 4, 4)
    )[0]
    return Child(
        ref=refs.next(requester.slug),
        age=age,
        gender=gender,
        needs=tuple(needs),
        risks_to_self=tuple(sorted(r for r in risks if r in RISKS_TO_SELF)),
        risks_to_others=tuple(sorted(r for r in risks if r not in RISKS_TO_SELF)),
        dols=dols,
        care_alongside=care,
        home_latitude=round(requester.latitude + rng.uniform(-0.12, 0.12), 4),
        home_longitude=round(requester.longitude + rng.uniform(-0.15, 0.15), 4),
    )


def _hard(rng: random.Random, child: Child) -> Child:
    """A child no home of the region can take: the unmet demand the board must see."""
    twist = rng.choice(("unmet_risk", "solo", "step_down_disability", "too_young"))
    if twist == "unmet_risk":
        extra = rng.choice(UNMET_RISKS)
        return _replace(child, risks_to_others=tuple(sorted({*child.risks_to_others, extra})))
    if twist == "solo":
        return _replace(child, care_alongside="solo")
    if twist == "step_down_disability":
        return _replace(child, needs=tuple(sorted({*child.needs, "mh_step_down", "disability"})))
    return _replace(child, age=rng.randint(5, 7))


def _replace(child: Child, **changes: Any) -> Child:
    from dataclasses import replace

    return replace(child, **changes)


def _ending(rng: random.Random, early_share: float) -> Ending:
    early = rng.random() < early_share
    return Ending(
        early=early,
        fraction=round(rng.uniform(0.15, 0.8), 3),
        ahead_days=rng.choice((0, 0, 1, 3, 7, 14)),
        notice_days_before=rng.choice((0, 0, 1, 2, 5)),
        by_requester=rng.random() < 0.7,
        reason=rng.choice(EARLY_END_REASONS if early else PLANNED_END_REASONS),
    )


def _existing(rng: random.Random, home: HomeFacts, label: str, start: date, refs: _Refs):
    own = rng.random() < 0.8
    requester = home.owner if own else rng.choice(_neighbours(home))
    child = _child(rng, home, AUTHORITY[requester], refs)
    # One arranged between councils before the cooperative starts on its first day (its
    # charges start with the cooperative); an owner's own child may have lived there long.
    begin = start - timedelta(days=rng.randint(14, 540)) if own else start
    if rng.random() < 0.2:  # still living there after the demo's year
        end = start + timedelta(days=rng.randint(420, 640))
    else:
        end = start + timedelta(days=rng.randint(6, 330))
    return Existing(home.key, label, requester, child, begin, end, _ending(rng, 0.2))


def _answer(rng: random.Random, urgency: str) -> Answer:
    kind = rng.choices(("accept", "reject", "ignore"), (84, 11, 5))[0]
    limit = {"today": 200, "within_5_days": 20 * 60, "planned": 40 * 60}[urgency]
    return Answer(kind, rng.randint(15, limit), rng.choice(REJECT_REASONS))


def _demand(rng: random.Random, when: datetime, refs: _Refs) -> Demand:
    requester = rng.choices(AUTHORITIES, [a.demand for a in AUTHORITIES])[0]
    kind_of = rng.choices(HOMES, [h.beds for h in HOMES])[0]  # the kind of home the child needs
    child = _child(rng, kind_of, requester, refs)
    if rng.random() < 0.08:
        child = _hard(rng, child)
    urgency = rng.choices(("today", "within_5_days", "planned"), (22, 23, 55))[0]
    day = when.date()
    if urgency == "today":
        start = day
        days = rng.randint(7, 49) if rng.random() < 0.6 else rng.randint(60, 200)
    elif urgency == "within_5_days":
        start = day + timedelta(days=rng.randint(1, 5))
        days = rng.randint(28, 240)
    else:
        start = day + timedelta(days=rng.randint(7, 28))
        days = rng.randint(60, 330)
    budget = rng.choice((650_000, 700_000, 720_000)) if rng.random() < 0.18 else None
    prefer_own = rng.random() < 0.6
    answers = tuple(_answer(rng, urgency) for _ in range(MAX_ATTEMPTS))
    withdraw = rng.randint(30, 30 * 60) if rng.random() < 0.05 else None
    withdraw_reason = rng.choice(WITHDRAW_REASONS)
    cancel = rng.randint(1, 10) if urgency == "planned" and rng.random() < 0.07 else None
    cancel_reason = rng.choice(CANCEL_REASONS)
    delay = rng.randint(1, 2) if rng.random() < 0.1 else 0
    return Demand(
        at=when,
        requester=requester.slug,
        child=child,
        urgency=urgency,
        start_date=start,
        end_date=start + timedelta(days=days),
        budget=budget,
        prefer_own=prefer_own,
        answers=answers,
        withdraw_after_minutes=withdraw,
        withdraw_reason=withdraw_reason,
        cancel_days_before=cancel,
        cancel_reason=cancel_reason,
        arrival_delay=delay,
        ending=_ending(rng, 0.25),
    )


def _outages(rng: random.Random, start: date) -> list[Outage]:
    homes = rng.sample(HOMES, 10)
    out = []
    for i, home in enumerate(homes):
        if i < 7:  # short of staff for a few weeks during the year
            begin, days, reason = rng.randint(10, 300), rng.randint(21, 90), "staffing"
        elif i < 9:  # short of staff now: the capacity illusion on today's board
            begin, days, reason = rng.randint(320, 350), rng.randint(100, 160), "staffing"
        else:  # a refurbishment
            begin, days, reason = rng.randint(120, 200), rng.randint(35, 56), "maintenance"
        out.append(Outage(home.key, start + timedelta(days=begin), days, reason))
    return sorted(out, key=lambda o: (o.begin, o.home))


def make_plan(seed: int, start: date) -> Plan:
    """Everything the region's councils and homes intend from ``start`` (the 1st of a month)
    over :data:`HORIZON_MONTHS` months. Pure: a function of ``seed`` and ``start`` only."""
    if start.day != 1:
        raise ValueError("the demo starts on the 1st of a month")
    rng = random.Random(seed)
    refs = _Refs()
    existing: list[Existing] = []
    unoffered: set[tuple[str, str]] = set()
    for home in HOMES:
        for label in home.labels:
            if rng.random() < 0.12:
                unoffered.add((home.key, label))
            if rng.random() < 0.82:
                existing.append(_existing(rng, home, label, start, refs))
    outages = _outages(rng, start)
    demands: list[Demand] = []
    horizon = months_after(start, HORIZON_MONTHS)
    day = start
    while day < horizon:
        weights = (75, 22, 3, 0) if day.weekday() >= 5 else (38, 42, 17, 3)
        count = rng.choices((0, 1, 2, 3), weights)[0]
        minutes = sorted(rng.randint(8 * 60 + 30, 17 * 60 + 30) for _ in range(count))
        for minute in minutes:
            demands.append(_demand(rng, at(day, 0) + timedelta(minutes=minute), refs))
        day += timedelta(days=1)
    return Plan(
        seed=seed,
        start=start,
        existing=tuple(existing),
        unoffered=tuple(sorted(unoffered)),
        outages=tuple(outages),
        demands=tuple(demands),
    )


# -- carrying the plan out -------------------------------------------------------------------


class DemoError(RuntimeError):
    """The load cannot go on (a service answered what it never should)."""


@dataclass
class Actor:
    client_id: str
    secret: str
    scopes: list[str]
    name: str
    authority: str | None = None
    region: str | None = None
    token: str = ""

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(eq=False)
class Case:
    """One demand on its way to a bed (or not)."""

    demand: Demand
    attempt: int = 0
    tried: set[str] = field(default_factory=set)
    booking: str | None = None
    bed: str = ""
    level: str = "fit"
    """How the bed was found (:meth:`Loader.search`): only a bed that was free is worth
    asking for again elsewhere when it is taken."""
    waited: bool = False
    """It has waited for a void once (it does not wait again)."""
    wait_km: float = math.inf
    """While it waits: how near a void must be (nearer than the best it found)."""
    target: dict[str, str] | None = None
    """The bed to ask for next, when the council already knows it (a void it watched for)."""
    step: int = 0
    """Bumped whenever the case waits for something new: older wake-ups are dropped."""


@dataclass
class Stay:
    """A placement under way, to be ended as planned."""

    booking: str
    bed: str
    requester: str
    owner: str
    start: date
    end: date
    earliest_notice: date
    ending: Ending


#: :meth:`Loader.choose`'s answer when the council waits for a void rather than asks now
WAIT: dict[str, str] = {}

#: the roles the demo prints credentials for: key -> (label, authority or None, scopes)
ROLES: dict[str, tuple[str, str | None, list[str]]] = {
    "placements": ("Placements team (Suffolk)", "suffolk", ["bookings:write", "market:read"]),
    "home_manager": ("Home manager (Norfolk)", "norfolk", ["homes:write", "market:read"]),
    "finance": ("Finance officer (Suffolk)", "suffolk", ["finance:read"]),
    "board": ("Regional board (East of England)", None, ["reports:read"]),
    "admin": ("Region admin (East of England)", None, ["coop:admin"]),
}


class Loader:
    """Carries a :class:`Plan` out through the API (``http``, an in-process client of an app
    made with ``clock``), moving ``clock`` from the plan's first day to ``until``."""

    def __init__(
        self,
        http: Any,
        app_state: Any,
        clock: FrozenClock,
        plan: Plan,
        settings: Settings,
        say: Callable[[str], None],
    ) -> None:
        self.http = http
        self.coop = app_state
        self.engine = app_state.engine
        self.clock = clock
        self.plan = plan
        self.settings = settings
        self.say = say
        self.queue: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self.seq = 0
        self.last_sweep = datetime.min.replace(tzinfo=UTC)
        self.admin: Actor | None = None
        self.teams: dict[str, Actor] = {}
        self.managers: dict[str, Actor] = {}
        self.roles: dict[str, Actor] = {}
        self.bed_ids: dict[tuple[str, str], str] = {}
        self.bed_of: dict[str, tuple[str, str]] = {}
        self.bed_version: dict[str, int] = {}
        self.home_ids: dict[str, str] = {}
        self.void_of: dict[str, str] = {}
        self.runs: dict[str, str] = {}
        self.unoffered = set(plan.unoffered)
        self.out_of_use: set[str] = set()
        self.waiting: list[Case] = []
        self.settled: list[str] = []
        self.stats: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    # -- plumbing ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.clock.today()

    def schedule(self, when: datetime, name: str, *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, name, args))

    async def call(
        self,
        method: str,
        path: str,
        actor: Actor | None,
        *,
        ok: tuple[int, ...] = (200, 201),
        what: str = "",
        **kwargs: Any,
    ) -> Any:
        """One API call. A 5xx stops the load; another refusal is counted and returned as
        ``None`` (the caller carries on: a real team reads the answer and moves on)."""
        headers = actor.h if actor is not None else {}
        r = await self.http.request(method, path, headers=headers, **kwargs)
        self.stats["http calls"] += 1
        if r.status_code in ok:
            return r.json() if r.content else {}
        if r.status_code >= 500 or r.status_code in (401, 403):
            raise DemoError(f"{method} {path} answered {r.status_code}: {r.text[:500]}")
        code = r.json().get("code", r.status_code) if r.content else r.status_code
        self.refused[f"{what or path.split('/')[1]}: {r.status_code} {code}"] += 1
        return None

    async def sweep(self) -> None:
        """The worker's sweep, on the demo's clock: deferred allocation, spent holds, passed
        starts, whatever is due."""
        from coop.bookings.jobs import sweep_once
        from coop.wakeups import Scheduler

        began = time.monotonic()
        await sweep_once(self.engine, self.clock, Scheduler(None))
        self.seconds["sweeps"] += time.monotonic() - began
        self.last_sweep = self.now()
        self.stats["sweeps"] += 1

    # -- day one -----------------------------------------------------------------------------

    async def open_region(self) -> None:
        """The region's admin, its authorities, everyone's clients, the homes, the
        placements that already exist, and the voids their owners offer."""
        from coop.auth.clients import create_client
        from coop.auth.schemas import ClientIn

        self.clock.set(at(self.plan.start, 8))
        name, _, scopes = ROLES["admin"]
        created = await create_client(
            self.engine,
            ClientIn(region=REGION, scopes=scopes, name=f"{name} (demo)"),
            actor=None,
            scrypt_n=self.settings.scrypt_n,
        )
        self.admin = Actor(created.client_id, created.client_secret, scopes, name, region=REGION)
        await self.login([self.admin])
        self.roles["admin"] = self.admin
        for a in AUTHORITIES:
            body = {"slug": a.slug, "name": a.name, "gss_code": a.gss_code, "region": REGION}
            if await self.call("POST", "/authorities", self.admin, json=body) is None:
                raise DemoError(f"could not add {a.name}")
        # Every council's placements team and homes have a client. The printed placements
        # team (Suffolk) and home manager (Norfolk) are the ones that act for their councils,
        # so what they see through the API is their own history.
        wanted: list[tuple[str, str, str | None, list[str]]] = [
            (key, label, authority, scopes)
            for key, (label, authority, scopes) in ROLES.items()
            if key != "admin"
        ]
        for a in AUTHORITIES:
            if a.slug != ROLES["placements"][1]:
                wanted.append((f"team:{a.slug}", f"{a.name} placements team", a.slug, []))
            if a.slug != ROLES["home_manager"][1]:
                wanted.append((f"manager:{a.slug}", f"{a.name} homes", a.slug, []))
        made = await _two_at_a_time([self.client(*w) for w in wanted])
        await self.login(made)
        by_key = dict(zip((w[0] for w in wanted), made, strict=True))
        self.roles.update({key: by_key[key] for key in ROLES if key != "admin"})
        for a in AUTHORITIES:
            self.teams[a.slug] = by_key.get(f"team:{a.slug}") or self.roles["placements"]
            self.managers[a.slug] = by_key.get(f"manager:{a.slug}") or self.roles["home_manager"]
        await self.open_homes()
        self.clock.set(at(self.plan.start, 9))
        await self.import_existing()
        # Owners offer their empty beds to the cooperative; an occupied bed is offered when
        # its placement ends (``on_end``), and the home window starts again.
        self.clock.set(at(self.plan.start, 10))
        occupied = {(e.home, e.label) for e in self.plan.existing}
        for home in HOMES:
            for label in home.labels:
                if (home.key, label) not in occupied:
                    await self.offer(self.bed_ids[(home.key, label)], self.plan.start)

    async def client(self, key: str, name: str, authority: str | None, scopes: list[str]) -> Actor:
        if not scopes:  # an authority's working clients: its team and its homes
            scopes = (
                ["bookings:write", "market:read"]
                if key.startswith("team:")
                else ["homes:write", "market:read"]
            )
        body: dict[str, Any] = {"scopes": scopes, "name": name}
        body["authority" if authority else "region"] = authority or REGION
        out = await self.call("POST", "/clients", self.admin, json=body, ok=(201,))
        if out is None:
            raise DemoError(f"could not create the client {name!r}")
        return Actor(out["client_id"], out["client_secret"], scopes, name, authority, out["region"])

    async def login(self, actors: list[Actor]) -> None:
        async def one(actor: Actor) -> None:
            out = await self.call(
                "POST",
                "/oauth/token",
                None,
                data={"grant_type": "client_credentials"},
                auth=(actor.client_id, actor.secret),
                ok=(200,),
            )
            if out is None:
                raise DemoError(f"{actor.name} cannot sign in")
            actor.token = out["access_token"]

        await _two_at_a_time([one(a) for a in actors])

    async def open_homes(self) -> None:
        for home in HOMES:
            body = {
                "name": home.name,
                "ofsted_urn": home.ofsted_urn,
                "ofsted_rating": home.ofsted_rating,
                "operator": home.operator,
                "purpose": home.purpose,
                "district": home.district,
                "latitude": home.latitude,
                "longitude": home.longitude,
                "age_min": home.age_min,
                "age_max": home.age_max,
                "gender": home.gender,
                "needs_supported": list(home.needs),
                "risks_managed": list(home.risks),
                "accepts_dols": home.accepts_dols,
                "weekly_cost_pence": home.weekly_cost_pence,
                "postcode": home.postcode,
                "beds": [{"label": label} for label in home.labels],
            }
            out = await self.call("POST", "/homes", self.managers[home.owner], json=body)
            if out is None:
                raise DemoError(f"could not open {home.name}")
            self.home_ids[home.key] = out["id"]
            for bed in out["beds"]:
                self.bed_ids[(home.key, bed["label"])] = bed["id"]
                self.bed_of[bed["id"]] = (home.key, bed["label"])
                self.bed_version[bed["id"]] = bed["version"]

    async def import_existing(self) -> None:
        rows = []
        pricing = Pricing()
        for e in self.plan.existing:
            home = HOME[e.home]
            rate = price(
                weekly_cost_pence=home.weekly_cost_pence,
                home_type=home_type_for(home.beds),
                membership="member",
                urgency="planned",
                own_bed=e.requester == home.owner,
                pricing=pricing,
            ).weekly_rate_pence
            rows.append(
                {
                    "requester": e.requester,
                    "bed_id": self.bed_ids[(e.home, e.label)],
                    "child": e.child.body(),
                    "start_date": e.start_date.isoformat(),
                    "end_date": e.end_date.isoformat(),
                    "weekly_rate_pence": rate,
                    "status": "active",
                }
            )
        out = await self.call("POST", "/bookings/import", self.admin, json=rows, ok=(201,))
        if out is None:
            raise DemoError("the placements that exist could not be imported")
        for e, b in zip(self.plan.existing, out, strict=True):
            self.stats["placements imported"] += 1
            self.stay(b, e.ending, earliest=date.fromisoformat(b["start_date"]))

    async def offer(self, bed_id: str, first_day: date) -> None:
        """The owner offers the bed from ``first_day`` (open-ended) — a new void in place of
        the one it had (the cooperative's members hear of a new vacancy, and the home window
        starts again) — unless it keeps the bed for its own children."""
        if self.bed_of[bed_id] in self.unoffered:
            return
        if bed_id in self.out_of_use:  # offered again when it is back in use
            return
        await self.filled(bed_id)
        await self.publish(bed_id, first_day)

    async def publish(self, bed_id: str, first_day: date) -> None:
        home_key, _ = self.bed_of[bed_id]
        owner = HOME[home_key].owner
        body = {"bed_id": bed_id, "available_from": first_day.isoformat()}
        out = await self.call("POST", "/voids", self.managers[owner], json=body, what="voids")
        if out is not None:
            self.void_of[bed_id] = out["id"]
            self.stats["voids published"] += 1
            self.watchers(bed_id, out["id"], first_day)

    # -- the year ----------------------------------------------------------------------------

    async def run(self, until: datetime) -> None:
        """Everything planned before ``until``, in time order, with the sweep as the clock
        moves, and each month settled through the worker on the 1st of the next."""
        start = self.plan.start
        began = time.monotonic()
        await self.open_region()
        self.seconds["day one"] += time.monotonic() - began
        day = start
        while at(day, 7) < until:
            if day.weekday() == 0 or day == start:
                self.schedule(at(day, 7), "tick")
            if day.day == 1 and day > start:
                self.schedule(at(day, 2), "settle", period_of(months_after(day, -1)))
            if day.day == 20 and day > start + timedelta(days=31):
                self.schedule(at(day, 11), "pay", period_of(months_after(day, -1)))
            day += timedelta(days=1)
        for demand in self.plan.demands:
            self.schedule(demand.at, "demand", Case(demand))
        for outage in self.plan.outages:
            self.schedule(at(outage.begin, 9, 30), "outage", outage, 0)
        while self.queue and self.queue[0][0] < until:
            when, _, name, args = heapq.heappop(self.queue)
            self.clock.set(max(when, self.now() + timedelta(seconds=1)))
            if self.now() - self.last_sweep >= SWEEP_EVERY:
                await self.sweep()
            began = time.monotonic()
            await getattr(self, f"on_{name}")(*args)
            self.seconds[name] += time.monotonic() - began

    async def finish(self, until: datetime) -> None:
        """Bring the clock to ``until`` (the start of the load's last day), sweep, and settle
        last month if it is not yet (the load ran on the 1st). The serving worker takes over
        from there, on the real clock."""
        self.clock.set(max(until, self.now()))
        await self.sweep()
        last = period_of(months_after(self.today(), -1))
        if last not in self.runs and last >= period_of(self.plan.start):
            await self.on_settle(last)

    async def on_tick(self) -> None:
        await self.sweep()

    # -- requests ------------------------------------------------------------------------------

    async def on_demand(self, case: Case) -> None:
        d = case.demand
        if d.start_date < self.today():
            self.stats["gave up: start passed"] += 1
            return
        target, case.target = case.target or await self.choose(case), None
        if target is None:
            self.stats["no bed to ask for"] += 1
            return
        if target is WAIT:
            return
        body: dict[str, Any] = {
            **target,
            "child": d.child.body(),
            "urgency": d.urgency,
            "start_date": d.start_date.isoformat(),
            "end_date": d.end_date.isoformat(),
        }
        if d.budget is not None:
            body["max_weekly_price_pence"] = d.budget
        b = await self.call("POST", "/bookings", self.teams[d.requester], json=body, ok=(201,))
        if b is None:
            return
        self.stats["requests"] += 1
        self.stats["requests for own beds" if "bed_id" in target else "requests by void"] += 1
        case.booking, case.bed = b["id"], b["bed_id"]
        case.tried.add(b["bed_id"])
        if d.withdraw_after_minutes is not None and case.attempt == 0:
            when = self.now() + timedelta(minutes=d.withdraw_after_minutes)
            self.schedule(when, "withdraw", case, b["id"])
        await self.route(case, b)

    async def choose(self, case: Case) -> dict[str, str] | None:
        """The bed to ask for: one of the council's own that fits and is free (if it tries
        its own first), else the nearest void the search finds that fits and is free — or,
        with time before the start, none near: :data:`WAIT` for one. Failing those, the
        nearest void that fits but is taken, or the nearest at all: the request is declined
        and counts as demand the region cannot meet. ``None``: no void at all."""
        d = case.demand
        case.level = "fit"
        if d.prefer_own:
            bed = await self.own_bed(case)
            if bed is not None:
                return {"bed_id": bed}
        for level in ("fit", "busy", "dates"):
            hits = await self.search(case, level)
            if level == "fit" and self.can_wait(case):
                # Nothing free that fits, or only far from home, and the start is some way
                # off: the team watches for a void that fits nearer (until three days before
                # the start), and asks for it as soon as it is published.
                nearest = hits[0]["distance_km"] if hits else math.inf
                if nearest > NEAR_KM:
                    case.wait_km = nearest
                    self.waiting.append(case)
                    when = at(d.start_date - timedelta(days=3), 8, 45)
                    self.schedule(when, "stop_waiting", case)
                    self.stats["requests that waited for a void"] += 1
                    return WAIT
            if hits:
                hit = hits[0]
                case.level = level
                if hit["owner"] == d.requester:
                    return {"bed_id": hit["bed_id"]}
                return {"void_id": hit["id"]}
        return None

    def can_wait(self, case: Case) -> bool:
        d = case.demand
        return (
            not case.waited and d.urgency == "planned" and (d.start_date - self.today()).days >= 6
        )

    async def on_stop_waiting(self, case: Case) -> None:
        """No void came up in time: the team asks for what there is (unmet, most likely)."""
        if case in self.waiting:
            self.waiting.remove(case)
            case.waited = True
            self.stats["requests that waited in vain"] += 1
            await self.on_demand(case)

    def watchers(self, bed_id: str, void_id: str, first_day: date) -> None:
        """A void was published: the first two councils waiting for one that fits ask for it
        (within the hour; another council's request waits for the home window)."""
        home_key, _ = self.bed_of[bed_id]
        home = HOME[home_key]
        taken = 0
        for case in list(self.waiting):
            d = case.demand
            if taken == 2:
                break
            if not self.fits(home, d) or first_day > d.start_date or bed_id in case.tried:
                continue
            c = d.child
            km = _km(c.home_latitude, c.home_longitude, home.latitude, home.longitude)
            if km >= case.wait_km:
                continue
            self.waiting.remove(case)
            case.waited = True
            case.level = "fit"
            own = home.owner == d.requester
            case.target = {"bed_id": bed_id} if own else {"void_id": void_id}
            taken += 1
            self.stats["requests for a void watched for"] += 1
            self.schedule(self.now() + timedelta(minutes=25 * taken), "demand", case)

    def fits(self, home: HomeFacts, d: Demand) -> bool:
        """What a council can see of a home's fit before asking (the policy decides)."""
        c = d.child
        return (
            home.age_min <= c.age <= home.age_max
            and home.gender in ("mixed", c.gender)
            and set(c.needs) <= set(home.needs)
            and set(c.risks_to_self) | set(c.risks_to_others) <= set(home.risks)
            and (home.accepts_dols or not c.dols)
            and c.care_alongside != "solo"
            and (
                home.purpose != "assessment" or (d.end_date - d.start_date).days <= ASSESSMENT_DAYS
            )
        )

    async def own_bed(self, case: Case) -> str | None:
        """A free bed of the council's own homes that fits: its own rota, read directly."""
        import sqlalchemy as sa

        from coop.db.schema import beds, bookings

        d = case.demand
        homes = [h for h in HOMES if h.owner == d.requester and self.fits(h, d)]
        if not homes:
            return None
        ids = [self.home_ids[h.key] for h in homes]
        held = sa.exists().where(
            bookings.c.bed_id == beds.c.id,
            bookings.c.hold_during.overlaps(sa.func.daterange(d.start_date, d.end_date, "[)")),
        )
        async with self.engine.connect() as conn:
            free = set(
                (
                    await conn.scalars(
                        sa.select(beds.c.id).where(
                            beds.c.home_id.in_(ids), beds.c.status == "in_use", ~held
                        )
                    )
                ).all()
            )
        c = d.child
        candidates = sorted(
            (
                _km(c.home_latitude, c.home_longitude, HOME[k].latitude, HOME[k].longitude),
                k,
                label,
                bed_id,
            )
            for bed_id in free - case.tried
            for k, label in [self.bed_of[bed_id]]
        )
        return candidates[0][3] if candidates else None

    async def search(self, case: Case, level: str) -> list[dict[str, Any]]:
        """``GET /voids`` as the council's team, nearest first (then by home and bed):

        * ``fit``: every filter — a void that fits the child and is free over the dates;
        * ``busy``: the same but the dates — a home that fits, its bed taken (the request
          is declined ``unavailable``, or waits behind an offer): no bed free;
        * ``dates``: the dates, age and gender only — no home that fits (the request is
          declined for the need, risk or budget no home meets).
        """
        d = case.demand
        c = d.child
        params: dict[str, Any] = {
            "region": REGION,
            "urgency": d.urgency,
            "near_lat": c.home_latitude,
            "near_lon": c.home_longitude,
            "age": c.age,
            "gender": c.gender,
            "limit": 20,
        }
        if level != "busy":
            params |= {"from": d.start_date.isoformat(), "to": d.end_date.isoformat()}
        if level != "dates":
            if c.needs:
                params["needs"] = ",".join(c.needs)
            risks = sorted({*c.risks_to_self, *c.risks_to_others})
            if risks:
                params["risks"] = ",".join(risks)
            if c.dols:
                params["dols"] = "true"
            if d.budget is not None:
                params["max_weekly_price_pence"] = d.budget
        page = await self.call("GET", "/voids", self.teams[d.requester], params=params)
        hits = [h for h in (page or {}).get("items", []) if h["bed_id"] not in case.tried]
        if level != "dates":
            hits = [h for h in hits if self.fits(HOME[self.bed_of[h["bed_id"]][0]], d)]
        hits.sort(key=lambda h: (h["distance_km"], *self.bed_of[h["bed_id"]]))
        return hits

    async def route(self, case: Case, b: dict[str, Any]) -> None:
        """What the council (or the home) does next, from the booking as the API shows it."""
        case.step += 1
        status, now = b["status"], self.now()
        d = case.demand
        if status == "offered":
            answer = d.answers[min(case.attempt, len(d.answers) - 1)]
            expires = datetime.fromisoformat(b["offer_expires_at"])
            if answer.kind == "ignore" and b["owner"] != b["requester"]:
                self.schedule(expires + timedelta(minutes=45), "check", case, case.step)
            else:
                when = min(
                    now + timedelta(minutes=answer.after_minutes), expires - timedelta(minutes=5)
                )
                self.schedule(max(when, now), "answer", case, case.step)
        elif status == "pending":
            decide_at = datetime.fromisoformat(b["decide_at"])
            when = (
                decide_at + timedelta(minutes=20) if decide_at > now else now + timedelta(hours=6)
            )
            self.schedule(when, "check", case, case.step)
        elif status == "confirmed":
            self.confirmed(case, b)
        elif status in ("declined", "expired"):
            self.stats[f"{status}: {b['status_reason']}"] += 1
            reason = b["status_reason"]
            retry = reason in RETRY_REASONS and case.attempt + 1 < MAX_ATTEMPTS
            retry = retry and (reason != "unavailable" or case.level == "fit")
            if retry and d.start_date >= self.today():
                case.attempt += 1
                self.schedule(now + timedelta(minutes=90), "demand", case)

    async def booking(self, booking_id: str, actor: Actor) -> dict[str, Any] | None:
        return await self.call("GET", f"/bookings/{booking_id}", actor, ok=(200,))

    async def on_check(self, case: Case, step: int) -> None:
        if step != case.step or case.booking is None:
            return
        if self.last_sweep < self.now():
            await self.sweep()
        b = await self.booking(case.booking, self.teams[case.demand.requester])
        if b is not None:
            await self.route(case, b)

    async def on_answer(self, case: Case, step: int) -> None:
        """The home manager answers the offer (the plan says how). An offer no longer there
        (withdrawn, lapsed) is refused: the council reads its booking and moves on."""
        if step != case.step or case.booking is None:
            return
        d = case.demand
        owner = self.owner_of(case)
        answer = d.answers[min(case.attempt, len(d.answers) - 1)]
        if answer.kind == "reject" and owner != d.requester:
            b = await self.call(
                "POST",
                f"/bookings/{case.booking}/reject",
                self.managers[owner],
                json={"reason": answer.reason},
                what="reject",
            )
            self.stats["offers rejected by homes"] += b is not None
        else:
            b = await self.call(
                "POST",
                f"/bookings/{case.booking}/accept",
                self.managers[owner],
                ok=(200,),
                what="accept",
            )
            self.stats["offers accepted"] += b is not None
        if b is None:
            b = await self.booking(case.booking, self.teams[d.requester])
        if b is not None:
            await self.route(case, b)

    def owner_of(self, case: Case) -> str:
        return HOME[self.bed_of[case.bed][0]].owner

    async def on_withdraw(self, case: Case, booking_id: str) -> None:
        if case.booking != booking_id:
            return
        d = case.demand
        b = await self.booking(booking_id, self.teams[d.requester])
        if b is None or b["status"] not in ("pending", "offered"):
            return  # too late: the team keeps what it has
        out = await self.call(
            "POST",
            f"/bookings/{booking_id}/withdraw",
            self.teams[d.requester],
            json={"reason": d.withdraw_reason},
            ok=(200,),
            what="withdraw",
        )
        if out is not None:
            case.step += 1  # nothing more to wait for
            self.stats["requests withdrawn"] += 1

    # -- placements ------------------------------------------------------------------------

    async def filled(self, bed_id: str) -> None:
        """The owner withdraws the bed's void (a bed out of use; a void renewed)."""
        void = self.void_of.pop(bed_id, None)
        if void is not None:
            manager = self.managers[HOME[self.bed_of[bed_id][0]].owner]
            await self.call("POST", f"/voids/{void}/withdraw", manager, ok=(200,), what="voids")
            self.stats["voids withdrawn"] += 1

    def confirmed(self, case: Case, b: dict[str, Any]) -> None:
        d = case.demand
        start, end = date.fromisoformat(b["start_date"]), date.fromisoformat(b["end_date"])
        if d.cancel_days_before is not None:
            day = start - timedelta(days=d.cancel_days_before)
            if day > self.today():
                self.schedule(at(day, 11), "cancel", case, case.step)
        arrival = start + timedelta(days=d.arrival_delay)
        if arrival >= end:
            arrival = start
        self.schedule(at(arrival, 15), "arrive", case, case.step, arrival)

    async def on_cancel(self, case: Case, step: int) -> None:
        if step != case.step or case.booking is None:
            return
        d = case.demand
        out = await self.call(
            "POST",
            f"/bookings/{case.booking}/cancel",
            self.teams[d.requester],
            json={"reason": d.cancel_reason},
            ok=(200,),
            what="cancel",
        )
        if out is not None:
            case.step += 1
            self.stats["placements cancelled"] += 1
            await self.offer(case.bed, self.today())

    async def on_arrive(self, case: Case, step: int, arrival: date) -> None:
        """The home records the child's arrival."""
        if step != case.step or case.booking is None:
            return
        out = await self.call(
            "POST",
            f"/bookings/{case.booking}/start",
            self.managers[self.owner_of(case)],
            json={"date": arrival.isoformat()},
            ok=(200,),
            what="start",
        )
        if out is not None:
            self.stats["placements started"] += 1
            created = local_date(datetime.fromisoformat(out["created_at"]))
            self.stay(out, case.demand.ending, earliest=min(created, arrival))

    def stay(self, b: dict[str, Any], ending: Ending, *, earliest: date) -> None:
        """Plan the end of a placement that has started."""
        s = Stay(
            booking=b["id"],
            bed=b["bed_id"],
            requester=b["requester"],
            owner=b["owner"],
            start=date.fromisoformat(b["actual_start_date"] or b["start_date"]),
            end=date.fromisoformat(b["end_date"]),
            earliest_notice=min(earliest, date.fromisoformat(b["start_date"])),
            ending=ending,
        )
        total = (s.end - s.start).days
        if ending.early and total >= 14:
            notice_day = max(
                s.start + timedelta(days=max(3, int(total * ending.fraction))), self.today()
            )
            left = min(notice_day + timedelta(days=ending.ahead_days), s.end - timedelta(days=1))
            if notice_day < s.end - timedelta(days=1):
                noticed = max(
                    s.earliest_notice, notice_day - timedelta(days=ending.notice_days_before)
                )
                self.schedule(at(notice_day, 12), "end", s, left, noticed)
                return
        self.schedule(at(s.end, 10), "end", s, s.end, None)

    async def on_end(self, s: Stay, left: date, noticed: date | None) -> None:
        early = left < s.end
        by_requester = early and s.ending.by_requester
        actor = self.teams[s.requester] if by_requester else self.managers[s.owner]
        body: dict[str, Any] = {"date": left.isoformat(), "reason": s.ending.reason}
        if noticed is not None:
            body["notice_date"] = noticed.isoformat()
        out = await self.call(
            "POST", f"/bookings/{s.booking}/end", actor, json=body, ok=(200,), what="end"
        )
        if out is not None:
            self.stats["placements ended early" if early else "placements ended as planned"] += 1
            # the bed will be empty: its owner offers it to the cooperative from that day
            await self.offer(s.bed, max(left, self.today()))

    # -- beds --------------------------------------------------------------------------------

    async def on_outage(self, outage: Outage, tries: int) -> None:
        """Short of staff: the owner takes a bed out of use — in the home the plan names, or
        else in another of its homes — an empty one, free for the whole spell if it can
        (else for the longest, two weeks at least); its void is withdrawn. It comes back at
        the end of the spell, or before the next child it is booked for arrives. None empty:
        the owner tries again the next day, for a month."""
        import sqlalchemy as sa

        from coop.db.schema import beds, bookings

        today = self.today()
        owner = HOME[outage.home].owner
        keys = [outage.home] + [h.key for h in HOMES if h.owner == owner and h.key != outage.home]
        home_ids = [self.home_ids[k] for k in keys]
        async with self.engine.connect() as conn:
            in_use = (
                await conn.scalars(
                    sa.select(beds.c.id).where(
                        beds.c.home_id.in_(home_ids), beds.c.status == "in_use"
                    )
                )
            ).all()
            holds = (
                await conn.execute(
                    sa.select(
                        bookings.c.bed_id,
                        sa.func.lower(bookings.c.hold_during).label("lo"),
                    ).where(
                        bookings.c.home_id.in_(home_ids),
                        sa.func.upper(bookings.c.hold_during) > today,
                    )
                )
            ).all()
        spell = today + timedelta(days=outage.days)
        best: tuple[date, str] | None = None
        for bed_id in sorted(in_use, key=lambda b: (keys.index(self.bed_of[b][0]), self.bed_of[b])):
            starts = [h.lo for h in holds if h.bed_id == bed_id]
            if any(lo <= today for lo in starts):
                continue  # a child lives there (or is about to)
            back = min([*starts, spell])
            if back >= today + timedelta(days=14) and (best is None or back > best[0]):
                best = (back, bed_id)
                if back == spell:
                    break
        if best is None:
            if tries < 30:
                self.schedule(at(today + timedelta(days=1), 9, 30), "outage", outage, tries + 1)
            else:
                self.stats["outages with no empty bed"] += 1
            return
        back, bed_id = best
        await self.filled(bed_id)
        manager = self.managers[owner]
        if await self.set_bed(bed_id, manager, "out_of_use", outage.reason):
            self.stats[f"beds out of use: {outage.reason}"] += 1
            self.schedule(at(back, 9, 15), "restore", outage, bed_id)

    async def on_restore(self, outage: Outage, bed_id: str) -> None:
        """The bed is back in use, and offered again (the home window starts again)."""
        manager = self.managers[HOME[outage.home].owner]
        if await self.set_bed(bed_id, manager, "in_use", None):
            await self.offer(bed_id, self.today())

    async def set_bed(self, bed_id: str, manager: Actor, status: str, reason: str | None) -> bool:
        body: dict[str, Any] = {"status": status, "version": self.bed_version[bed_id]}
        if reason is not None:
            body["out_of_use_reason"] = reason
        out = await self.call("PATCH", f"/beds/{bed_id}", manager, json=body, ok=(200,))
        if out is None:
            return False
        self.bed_version[bed_id] = out["version"]
        if status == "out_of_use":
            self.out_of_use.add(bed_id)
        else:
            self.out_of_use.discard(bed_id)
        return True

    # -- money -------------------------------------------------------------------------------

    async def on_settle(self, period: str) -> None:
        """Ask for the month's run as the region's admin (it is queued for the worker), then
        run a real arq worker on the demo's clock until its queue is empty."""
        run = await self.call(
            "POST", "/settlement-runs", self.admin, json={"region": REGION, "period": period}
        )
        if run is None:
            raise DemoError(f"the {period} settlement run could not be opened")
        await self.work()
        run = await self.call("GET", f"/settlement-runs/{run['id']}", self.admin, ok=(200,))
        if run is None or run["status"] != "completed":
            raise DemoError(f"the {period} settlement run did not complete: {run}")
        self.runs[period] = run["id"]
        self.settled.append(period)
        self.say(
            f"coop demo: {period} settled by the worker: {run['invoice_count']} invoices, "
            f"£{run['total_pence'] / 100:,.2f} between councils"
        )

    async def work(self) -> None:
        """A real arq worker, in burst mode, on the demo's clock: it carries out the queued
        settlement run (and the wake-ups the requests left) and stops when the queue is empty."""
        from arq.constants import default_queue_name

        from coop.worker import build_worker

        # Near the end of the load the clock is near the real time, and an offer's expiry may
        # be queued for a real moment still to come (arq defers by the real clock): that job
        # is the serving worker's. This one runs the jobs due now, then stops.
        redis = self.coop.redis
        queued = await redis.zcard(default_queue_name)
        due = await redis.zcount(default_queue_name, "-inf", int(time.time() * 1000))
        worker = build_worker(
            self.settings,
            clock=self.clock,
            burst=True,
            max_burst_jobs=-1 if due == queued else due,
            poll_delay=0.05,
            handle_signals=False,
            cron_jobs=[],
        )
        began = time.monotonic()
        try:
            await worker.async_run()
            self.stats["worker jobs"] += worker.jobs_complete
            if worker.jobs_failed:
                raise DemoError(f"{worker.jobs_failed} worker jobs failed")
        finally:
            await worker.close()
            self.seconds["worker"] += time.monotonic() - began

    async def on_pay(self, period: str) -> None:
        """Councils pay what the month's transfers say (recorded by the admin)."""
        run_id = self.runs.get(period)
        if run_id is None:
            return
        transfers = await self.call(
            "GET", f"/settlement-runs/{run_id}/transfers", self.admin, ok=(200,)
        )
        bodies = [
            {
                "from": t["from"],
                "to": t["to"],
                "amount_pence": t["amount_pence"],
                "paid_on": self.today().isoformat(),
                "reference": f"EOE-{period}-T{i:02d}",
            }
            for i, t in enumerate(transfers or [], start=1)
        ]
        # each a ledger entry of its own: the order they are recorded in changes nothing
        paid = await _two_at_a_time(
            [self.call("POST", "/payments", self.admin, json=body) for body in bodies]
        )
        self.stats["payments"] += sum(p is not None for p in paid)


async def _two_at_a_time(calls: list[Any]) -> list[Any]:
    """Run the calls two at a time (a client secret's scrypt hash takes 16 MB and a core
    for a twentieth of a second: two cores, two at once)."""
    gate = asyncio.Semaphore(2)

    async def one(call: Any) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


# -- what the load made ----------------------------------------------------------------------


async def facts_digest(engine: Any) -> tuple[str, dict[str, Any]]:
    """A fingerprint of the region's facts without ids (two loads of one plan on one day
    give the same), and counts worth printing."""
    import sqlalchemy as sa

    from coop.db.schema import beds, bookings, homes, invoices, payments, settlement_runs

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    bookings.c.requester,
                    bookings.c.owner,
                    homes.c.name,
                    beds.c.label,
                    bookings.c.status,
                    bookings.c.status_reason,
                    bookings.c.urgency,
                    bookings.c.start_date,
                    bookings.c.end_date,
                    bookings.c.actual_start_date,
                    bookings.c.actual_end_date,
                    bookings.c.notice_date,
                    bookings.c.cancelled_on,
                    bookings.c.weekly_rate_pence,
                    bookings.c.created_at,
                    bookings.c.updated_at,
                    bookings.c.child["ref"].astext,
                )
                .select_from(
                    bookings.join(beds, beds.c.id == bookings.c.bed_id).join(
                        homes, homes.c.id == bookings.c.home_id
                    )
                )
                .where(bookings.c.region == REGION)
            )
        ).all()
        runs = (
            await conn.execute(
                sa.select(
                    settlement_runs.c.period,
                    settlement_runs.c.status,
                    sa.select(sa.func.count())
                    .where(invoices.c.run_id == settlement_runs.c.id)
                    .scalar_subquery(),
                    sa.select(sa.func.coalesce(sa.func.sum(invoices.c.total_pence), 0))
                    .where(invoices.c.run_id == settlement_runs.c.id)
                    .scalar_subquery(),
                ).where(settlement_runs.c.region == REGION)
            )
        ).all()
        paid = (
            await conn.execute(
                sa.select(payments.c.payer, payments.c.payee, payments.c.amount_pence).where(
                    payments.c.region == REGION
                )
            )
        ).all()
        bed_rows = (
            await conn.execute(
                sa.select(homes.c.name, beds.c.label, beds.c.status, beds.c.out_of_use_reason)
                .select_from(beds.join(homes, homes.c.id == beds.c.home_id))
                .where(homes.c.region == REGION)
            )
        ).all()
    facts = sorted(map(repr, map(tuple, rows))) + sorted(map(repr, map(tuple, runs)))
    facts += sorted(map(repr, map(tuple, paid))) + sorted(map(repr, map(tuple, bed_rows)))
    digest = hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]
    counts = {
        "homes": len({r[0] for r in bed_rows}),
        "beds": len(bed_rows),
        "beds out of use now": sum(r[2] == "out_of_use" for r in bed_rows),
        "bookings": len(rows),
        "bookings by status": dict(sorted(Counter(r[4] for r in rows).items())),
        "settled months": sorted(period_of(r[0]) for r in runs if r[1] == "completed"),
        "invoices": sum(r[2] for r in runs),
        "payments": len(paid),
    }
    return digest, counts


# -- the command -----------------------------------------------------------------------------


@dataclass
class Loaded:
    """What ``demo.json`` keeps."""

    seed: int
    loaded_on: str
    start: str
    region: str
    digest: str
    clients: dict[str, dict[str, Any]]


async def inspect(settings: Settings) -> tuple[bool, bool]:
    """(the demo region exists, the database holds anything at all)."""
    import sqlalchemy as sa

    from coop.db.schema import api_clients, authorities, homes
    from coop.db.session import create_engine

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            region = await conn.scalar(
                sa.select(sa.func.count()).where(authorities.c.region == REGION)
            )
            anything = 0
            for table in (authorities, api_clients, homes):
                anything += await conn.scalar(sa.select(sa.func.count()).select_from(table))
    finally:
        await engine.dispose()
    return bool(region), bool(anything) or bool(region)


async def load(
    settings: Settings, seed: int, *, now: datetime | None = None, say: Callable[[str], None]
) -> tuple[Loaded, dict[str, Any]]:
    """Load the demo region into the (empty) database of ``settings``: a year up to ``now``
    (default: the real time). Returns what ``demo.json`` keeps and the load's counts."""
    import httpx

    from coop.app import create_app

    started = time.monotonic()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    today = local_date(now)
    start = demo_start(today)
    plan = make_plan(seed, start)
    until = datetime.combine(today, datetime.min.time(), ENGLAND).astimezone(UTC)
    clock = FrozenClock(at(start, 8))
    # Tokens issued for the load (in memory only, never shown) last the whole load: the
    # clock moves a year. The demo's printed clients get tokens at the API like anyone.
    ttl = int((now - at(start, 0)).total_seconds()) + 2 * 86_400
    load_settings = settings.replace(token_ttl_seconds=ttl)
    app = create_app(load_settings, clock=clock)
    say(
        f"coop demo: loading the East of England from {start} to {today} (seed {seed}, "
        f"plan {plan.digest()})"
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.coop") as http:
            loader = Loader(http, app.state.coop, clock, plan, load_settings, say)
            await loader.run(until)
            await loader.finish(until)
        digest, counts = await facts_digest(app.state.coop.engine)
    seconds = time.monotonic() - started
    counts["load seconds"] = round(seconds, 1)
    counts["activity"] = dict(sorted(loader.stats.items()))
    counts["seconds"] = {k: round(v, 1) for k, v in sorted(loader.seconds.items())}
    if loader.refused:
        counts["refused calls"] = dict(sorted(loader.refused.items()))
    clients = {}
    for key, (label, authority, scopes) in ROLES.items():
        actor = loader.roles[key]
        clients[key] = {
            "role": label,
            "client_id": actor.client_id,
            "client_secret": actor.secret,
            "scopes": scopes,
            **({"authority": authority} if authority else {"region": REGION}),
        }
    loaded = Loaded(
        seed=seed,
        loaded_on=today.isoformat(),
        start=start.isoformat(),
        region=REGION,
        digest=digest,
        clients=clients,
    )
    return loaded, counts


def summary(counts: dict[str, Any], loaded: Loaded) -> str:
    statuses = ", ".join(f"{n} {status}" for status, n in counts["bookings by status"].items())
    return (
        f"coop demo: loaded in {counts['load seconds']} s (digest {loaded.digest}): "
        f"{counts['homes']} homes, {counts['beds']} beds ({counts['beds out of use now']} out "
        f"of use today); {counts['bookings']} bookings ({statuses}); "
        f"{len(counts['settled months'])} months settled by the worker, "
        f"{counts['invoices']} invoices, {counts['payments']} payments"
    )


def write_demo_file(path: Path, loaded: Loaded) -> None:
    """``demo.json``, readable by its owner only (it holds client secrets), written whole or
    not at all."""
    body = json.dumps(loaded.__dict__, indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_demo_file(path: Path) -> Loaded:
    return Loaded(**json.loads(path.read_text()))


def credentials_block(loaded: Loaded, host: str, port: int, path: Path) -> str:
    base = f"http://{host}:{port}"
    lines = [
        "",
        "=" * 78,
        f"coop demo — the East of England cooperative (seed {loaded.seed}, "
        f"loaded on {loaded.loaded_on}, a year from {loaded.start})",
        "",
        f"  Board:     {base}/board   (sign in with the board's client below)",
        f"  API docs:  {base}/schema",
        f"  Tokens:    POST {base}/oauth/token  (grant_type=client_credentials)",
        "",
    ]
    for key, c in loaded.clients.items():
        who = c.get("authority") or c.get("region")
        lines += [
            f"  {c['role']}",
            f"    client_id:     {c['client_id']}",
            f"    client_secret: {c['client_secret']}",
            f"    scopes:        {' '.join(c['scopes'])}   ({who}; demo.json key {key!r})",
        ]
    lines += ["", f"  These are saved in {path} (readable by you only).", "=" * 78, ""]
    return "\n".join(lines)


def _found(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The exception of one of ``kinds`` that ``exc`` is or carries (the app's task group
    wraps what is raised inside it — a SIGTERM's SystemExit too — in an exception group)."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _found(inner, kinds)
            if found is not None:
                return found
    return None


def _say(text: str) -> None:
    print(text, flush=True)


def run(
    settings: Settings,
    *,
    seed: int,
    host: str,
    port: int,
    data_dir: str | None = None,
    services: Any,
    serve: Any,
) -> int:
    """The ``coop demo`` command (``services`` and ``serve`` are the CLI's own, so the demo
    serves exactly like ``coop serve``)."""
    configured = settings.database_url or settings.redis_url
    changes: dict[str, Any] = {"database_url": None, "redis_url": None}
    if data_dir:
        changes["data_dir"] = data_dir
    settings = settings.replace(**changes)
    if configured:
        _say(
            "coop demo: COOP_DATABASE_URL/COOP_REDIS_URL are ignored: the demo runs on the "
            f"embedded default under {settings.data_path}"
        )
    path = settings.data_path / DEMO_FILE
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="redis")
    with services(settings, redis=True) as s:
        region, anything = asyncio.run(inspect(s))
        if path.exists() and region:
            loaded = read_demo_file(path)
            _say(
                f"coop demo: reusing the demo loaded on {loaded.loaded_on} (seed {loaded.seed}) "
                f"in {s.data_path}: nothing loaded"
            )
            if loaded.seed != seed:
                _say(
                    f"coop demo: --seed {seed} is not used: this directory holds seed "
                    f"{loaded.seed} (use a fresh --data-dir / COOP_DATA_DIR for another)"
                )
        elif region:
            print(
                f"coop demo: {s.data_path} holds an East of England region but no {DEMO_FILE}: "
                "an earlier load did not finish. Use a fresh directory (--data-dir or "
                "COOP_DATA_DIR).",
                file=sys.stderr,
            )
            return 2
        elif anything:
            print(
                f"coop demo: {s.data_path} holds a database that is not a demo: refusing to "
                "load into it. Use a fresh directory (--data-dir or COOP_DATA_DIR).",
                file=sys.stderr,
            )
            return 2
        else:
            if path.exists():  # a demo.json without its data (the database was reset)
                path.unlink()
            quiet = [logging.getLogger(n) for n in ("arq", "coop.settlement", "httpx")]
            levels = [q.level for q in quiet]
            for q in quiet:
                q.setLevel(logging.WARNING)
            try:
                loaded, counts = asyncio.run(load(s, seed, say=_say))
            except BaseException as exc:
                stop = _found(exc, (SystemExit, KeyboardInterrupt))
                failed = _found(exc, (DemoError,))
                if stop is None and failed is None:
                    raise
                why = "was stopped" if stop is not None else f"failed: {failed}"
                print(
                    f"coop demo: the load {why}. {s.data_path} now holds a half-loaded region "
                    "that the demo will not serve: use a fresh directory (--data-dir or "
                    "COOP_DATA_DIR).",
                    file=sys.stderr,
                )
                if stop is None:
                    return 1
                return 130 if isinstance(stop, KeyboardInterrupt) else 0
            finally:
                for q, level in zip(quiet, levels, strict=True):
                    q.setLevel(level)
            write_demo_file(path, loaded)
            _say(summary(counts, loaded))
            _say("coop demo: load details " + json.dumps(counts))
        _say(credentials_block(loaded, host, port, path))
        _say(f"coop demo: credentials in {path}")
        ready = f"{READY} http://{host}:{port}/board"
        asyncio.run(serve(s, host, port, True, on_started=lambda: _say(ready)))
    return 0


__all__ = ["Loader", "Plan", "facts_digest", "load", "make_plan", "run"]
