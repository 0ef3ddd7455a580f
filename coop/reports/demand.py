"""Demand and unmet demand (SPEC §5): what the region's councils asked the cooperative for,
what became of it, how long an offer took, and the need the cooperative could not meet.

Definitions (``GET /reports/demand?region=&from=&to=``):

- A **request** is a booking of the region made on an English (Europe/London) day in
  ``[from, to)`` (the day of its ``created_at``). Placements recorded with
  ``POST /bookings/import`` were never requested through the cooperative and are not
  requests: they are the only bookings confirmed (or later) without ever being offered.
- ``requests``: how many. ``by_need``: for every need code, the requests whose child has it.
  ``by_risk``: for every risk code, the requests whose child has it as a risk to self or to
  others, counted once per request (``criminal_exploitation`` is in both lists).
  ``by_urgency``: ``today``, ``within_5_days``, ``planned``. Every code of the vocabulary is
  present, zeros included.
- ``outcomes``: ``offered``, requests ever offered a bed (``offered_at`` set), whatever
  happened next; ``confirmed``, requests ever confirmed (now ``confirmed``, ``active``,
  ``ended`` or ``cancelled``); ``declined``, requests now ``declined``, per ``status_reason``
  (every reason a request can be declined for, zeros included); ``withdrawn``; ``expired``;
  ``open``, requests still ``pending`` or ``offered``. A request is in exactly one of
  ``confirmed``, ``declined``, ``withdrawn``, ``expired`` and ``open``.
- ``time_to_offer``: over the requests ever offered, ``offers`` (how many) and the median
  (``median_seconds``) and 90th percentile (``p90_seconds``) of ``offered_at − created_at``
  in whole seconds (rounded down). Percentiles are nearest-rank: the p-th percentile is the
  smallest time such that at least p % of the offers took no longer. ``null`` with no offers.
- ``fill_rate_pct``: ``confirmed / requests × 100``, to one decimal (half-up); ``null`` with
  no requests. Every request is for a bed of the region: this is the in-region fill rate.
- ``unmet``: requests the cooperative could not place (no bed that fitted, was free, was
  within budget and that the home accepted in time): now ``declined`` or ``expired`` for any
  ``status_reason`` but one about the requester itself (``requester_suspended``).
  ``requests``; ``by_reason``, per reason (every such reason, zeros included);
  ``nearest_miss``, the reason counted most (ties go to the alphabetically first; ``null``
  with none); ``by_need`` and ``by_risk``: for every code, the unmet requests whose child has
  it and their ``nearest_miss``. This is the sufficiency gap a board commissions against.

``rows`` has one entry per authority of the region, sorted by slug, with the figures of the
requests it made (it is the ``requester``); an authority's client gets only its own row.
``totals`` is the whole region. No child profile, booking id or child ref is in the report.

The CSV (:func:`demand_csv`) has one row per authority, then the region's, with a fixed
column for every figure (every code and reason of the vocabularies, whatever the data).

One query reads each request's few facts through ``ix_bookings_region_created_at``: of the
child profile only its need and risk codes, as bit masks (no JSON to decode). A
:class:`Tally` per authority counts them in one pass, and the region's is their sum;
:func:`figures` is the same counting as a pure function of :class:`Request` s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, NamedTuple, get_args

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.clock import ENGLAND
from coop.db.schema import bookings
from coop.policy.allocation import DeclineReason
from coop.policy.money import round_half_up_div
from coop.policy.vocabulary import Need, RiskToOthers, RiskToSelf, Urgency
from coop.reports.scope import ReportView, check_range, region_authorities

# -- the codes every report lists, zeros included (and the CSV's fixed columns) --------------

NEEDS: tuple[str, ...] = get_args(Need)
#: both families, each code once (``criminal_exploitation`` is a risk to self and to others)
RISKS: tuple[str, ...] = tuple(dict.fromkeys((*get_args(RiskToSelf), *get_args(RiskToOthers))))
URGENCIES: tuple[str, ...] = get_args(Urgency)
#: why a request is now ``declined``: the allocation's reasons (``start_passed`` always
#: expires a request instead), the owner's rejection and an offer's hold running out
DECLINED_REASONS: tuple[str, ...] = (
    *(r for r in get_args(DeclineReason) if r != "start_passed"),
    "owner_rejected",
    "offer_expired",
)
#: why a request is now ``expired``: its start passed, or its void was withdrawn
EXPIRED_REASONS: tuple[str, ...] = ("start_passed", "outside_void")
#: reasons about the requester itself, not the cooperative's beds: not unmet demand
REQUESTER_REASONS = frozenset({"requester_suspended"})
UNMET_REASONS: tuple[str, ...] = tuple(
    dict.fromkeys(r for r in (*DECLINED_REASONS, *EXPIRED_REASONS) if r not in REQUESTER_REASONS)
)
CONFIRMED = frozenset({"confirmed", "active", "ended", "cancelled"})
OPEN = frozenset({"pending", "offered"})
UNPLACED = frozenset({"declined", "expired"})

# -- what the report answers -----------------------------------------------------------------


class DemandOutcomes(msgspec.Struct, kw_only=True):
    """What became of the requests. Each is in exactly one of `confirmed`, `declined`,
    `withdrawn`, `expired` and `open`; `offered` overlaps them."""

    offered: int
    """Requests ever offered a bed, whatever happened next."""
    confirmed: int
    """Requests ever confirmed: now `confirmed`, `active`, `ended` or `cancelled`."""
    declined: dict[str, int]
    """Requests now `declined`, by reason (every reason, zeros included): the child did not
    fit the home (`age`, `gender`, `needs`, `risks`, `dols`, `care_alongside`, `max_weeks`),
    the bed or void was not there (`unavailable`, `outside_void`, `home_closed`), it cost more
    than the budget (`over_budget`), a higher-ranked request got it (`outranked`), the home
    turned the match down (`owner_rejected`) or did not answer in time (`offer_expired`), or
    the requester was suspended (`requester_suspended`)."""
    withdrawn: int
    """Requests the requesting authority withdrew."""
    expired: int
    """Requests that lapsed undecided: the start date passed or the void was withdrawn."""
    open: int
    """Requests still being decided: `pending`, or `offered` and awaiting the home's answer."""


class TimeToOffer(msgspec.Struct, kw_only=True):
    """How long requests waited for an offer, from the request to the offer."""

    offers: int
    """Requests ever offered a bed."""
    median_seconds: int | None
    """Half of the offers came within this many seconds (nearest-rank median, whole seconds);
    `null` with no offers."""
    p90_seconds: int | None
    """90 % of the offers came within this many seconds (nearest-rank); `null` with no
    offers."""


class UnmetFor(msgspec.Struct, kw_only=True):
    """Unmet requests whose child has one need or risk code."""

    requests: int
    """Unmet requests with the code."""
    nearest_miss: str | None
    """The reason they were most often not placed (ties: alphabetically first); `null` with
    none."""


class UnmetDemand(msgspec.Struct, kw_only=True):
    """Requests the cooperative could not place: now `declined` or `expired`, for any reason
    but the requester's own suspension. The sufficiency gap to commission against."""

    requests: int
    """Unmet requests."""
    by_reason: dict[str, int]
    """Unmet requests by the reason they were not placed (every reason, zeros included;
    `start_passed` and `outside_void` include requests that lapsed undecided)."""
    nearest_miss: str | None
    """The commonest reason requests went unplaced (ties: alphabetically first): the kind of
    bed or the rule that most often stood in the way. `null` with no unmet request."""
    by_need: dict[str, UnmetFor]
    """For every need code: the unmet requests whose child has it, and their commonest
    reason."""
    by_risk: dict[str, UnmetFor]
    """For every risk code (to self or to others): the unmet requests whose child has it, and
    their commonest reason."""


class DemandFigures(msgspec.Struct, kw_only=True):
    """Requests made in the period and what became of them."""

    requests: int
    """Requests for a bed made in the period (English days)."""
    by_need: dict[str, int]
    """For every need code, the requests whose child has it (a request counts under each of its
    codes)."""
    by_risk: dict[str, int]
    """For every risk code, the requests whose child has it as a risk to self or to others
    (once per request)."""
    by_urgency: dict[str, int]
    """Requests by urgency: `today`, `within_5_days`, `planned`."""
    outcomes: DemandOutcomes
    """What became of the requests: offered, confirmed, declined by reason, withdrawn,
    expired, still open."""
    time_to_offer: TimeToOffer
    """How long the requests that were offered a bed waited for the offer."""
    fill_rate_pct: float | None
    """Confirmed requests as a percentage of requests, to one decimal (half-up): the in-region
    fill rate. `null` with no requests."""
    unmet: UnmetDemand
    """The requests the cooperative could not place, and why: the gap in sufficiency."""


class DemandRow(DemandFigures, kw_only=True):
    """The requests one authority made in the period, and what became of them."""

    authority: str
    """The requesting authority: these are the requests it made."""


class DemandReport(msgspec.Struct, kw_only=True):
    """A region's requests for beds made in `[from, to)`, per requesting authority, with the
    region's totals. No child profile, booking or child reference is included."""

    region: str
    """The region reported on."""
    from_: date = msgspec.field(name="from")
    """First day (English dates)."""
    to: date
    """The day after the last (exclusive)."""
    rows: list[DemandRow]
    """One per authority of the region, by slug (an authority's client: its own only)."""
    totals: DemandFigures
    """The whole region."""


# -- counting (pure) ---------------------------------------------------------------------------


class Request(NamedTuple):
    """The facts of one request the report counts."""

    requester: str
    urgency: str
    status: str
    status_reason: str | None
    offer_seconds: int | None
    """Whole seconds from the request to its offer; ``None`` if never offered."""
    needs: frozenset[str]
    risks: frozenset[str]


def nearest_rank(ordered: Sequence[int], pct: int) -> int | None:
    """The ``pct``-th percentile of ``ordered`` (sorted ascending) by nearest rank: the smallest
    value such that at least ``pct`` % of the values are at most it. ``None`` when empty."""
    if not 0 < pct <= 100:
        raise ValueError(f"a percentile is in (0, 100], got {pct}")
    if not ordered:
        return None
    rank = -(-pct * len(ordered) // 100)  # ceil(pct × n / 100), exactly
    return ordered[rank - 1]


def nearest_miss(counts: Mapping[str, int]) -> str | None:
    """The reason counted most, ties to the alphabetically first; ``None`` when none counted."""
    counted = [(-n, reason) for reason, n in counts.items() if n > 0]
    return min(counted)[1] if counted else None


def fill_rate_pct(confirmed: int, requests: int) -> float | None:
    """``confirmed / requests × 100`` to one decimal, half-up (``None`` with no requests)."""
    if requests == 0:
        return None
    return round_half_up_div(confirmed * 1000, requests) / 10


def _unmet_for(reasons: Mapping[str, int]) -> UnmetFor:
    return UnmetFor(requests=sum(reasons.values()), nearest_miss=nearest_miss(reasons))


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for key, n in other.items():
        into[key] = into.get(key, 0) + n


class Tally:
    """The additive counts behind the figures: add requests one by one, or merge tallies
    (an authority's into the region's); :meth:`figures` derives the rest (percentiles, fill
    rate, nearest misses)."""

    def __init__(self) -> None:
        self.requests = self.offered = self.confirmed = 0
        self.withdrawn = self.expired = self.open = 0
        self.by_need = dict.fromkeys(NEEDS, 0)
        self.by_risk = dict.fromkeys(RISKS, 0)
        self.by_urgency = dict.fromkeys(URGENCIES, 0)
        self.declined = dict.fromkeys(DECLINED_REASONS, 0)
        self.waits: list[int] = []
        self.unmet = dict.fromkeys(UNMET_REASONS, 0)
        self.unmet_need: dict[str, dict[str, int]] = {c: {} for c in NEEDS}
        self.unmet_risk: dict[str, dict[str, int]] = {c: {} for c in RISKS}

    def add(self, r: Request) -> None:
        self.requests += 1
        for code in r.needs:
            if code in self.by_need:
                self.by_need[code] += 1
        for code in r.risks:
            if code in self.by_risk:
                self.by_risk[code] += 1
        self.by_urgency[r.urgency] = self.by_urgency.get(r.urgency, 0) + 1
        if r.offer_seconds is not None:
            self.offered += 1
            self.waits.append(r.offer_seconds)
        status, reason = r.status, r.status_reason or "unknown"
        if status in CONFIRMED:
            self.confirmed += 1
        elif status in OPEN:
            self.open += 1
        elif status == "withdrawn":
            self.withdrawn += 1
        elif status == "declined":
            self.declined[reason] = self.declined.get(reason, 0) + 1
        elif status == "expired":
            self.expired += 1
        if status in UNPLACED and reason not in REQUESTER_REASONS:
            self.unmet[reason] = self.unmet.get(reason, 0) + 1
            for code in r.needs:
                if code in self.unmet_need:
                    self.unmet_need[code][reason] = self.unmet_need[code].get(reason, 0) + 1
            for code in r.risks:
                if code in self.unmet_risk:
                    self.unmet_risk[code][reason] = self.unmet_risk[code].get(reason, 0) + 1

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.offered += other.offered
        self.confirmed += other.confirmed
        self.withdrawn += other.withdrawn
        self.expired += other.expired
        self.open += other.open
        self.waits += other.waits
        for mine, theirs in (
            (self.by_need, other.by_need),
            (self.by_risk, other.by_risk),
            (self.by_urgency, other.by_urgency),
            (self.declined, other.declined),
            (self.unmet, other.unmet),
        ):
            _add(mine, theirs)
        for code, reasons in other.unmet_need.items():
            _add(self.unmet_need.setdefault(code, {}), reasons)
        for code, reasons in other.unmet_risk.items():
            _add(self.unmet_risk.setdefault(code, {}), reasons)

    def figures(self) -> DemandFigures:
        waits = sorted(self.waits)
        return DemandFigures(
            requests=self.requests,
            by_need=dict(self.by_need),
            by_risk=dict(self.by_risk),
            by_urgency=dict(self.by_urgency),
            outcomes=DemandOutcomes(
                offered=self.offered,
                confirmed=self.confirmed,
                declined=dict(self.declined),
                withdrawn=self.withdrawn,
                expired=self.expired,
                open=self.open,
            ),
            time_to_offer=TimeToOffer(
                offers=len(waits),
                median_seconds=nearest_rank(waits, 50),
                p90_seconds=nearest_rank(waits, 90),
            ),
            fill_rate_pct=fill_rate_pct(self.confirmed, self.requests),
            unmet=UnmetDemand(
                requests=sum(self.unmet.values()),
                by_reason=dict(self.unmet),
                nearest_miss=nearest_miss(self.unmet),
                by_need={c: _unmet_for(self.unmet_need[c]) for c in NEEDS},
                by_risk={c: _unmet_for(self.unmet_risk[c]) for c in RISKS},
            ),
        )


def figures(requests: Iterable[Request]) -> DemandFigures:
    """The figures of ``requests`` (see the module for each definition)."""
    tally = Tally()
    for r in requests:
        tally.add(r)
    return tally.figures()


# -- the facts ---------------------------------------------------------------------------------

_EMPTY = sa.cast(sa.literal("[]"), JSONB)


def _mask(codes: Any, vocabulary: tuple[str, ...]) -> Any:
    """The codes of a JSON array as a bit mask over ``vocabulary`` (bit i: its i-th code;
    unknown codes ignored): a few bytes per request instead of JSON to decode."""
    code = sa.func.jsonb_array_elements_text(codes).table_valued("value").render_derived()
    position = sa.func.array_position(sa.literal(list(vocabulary), ARRAY(sa.Text)), code.c.value)
    bits = sa.func.bit_or(sa.literal(1).op("<<")((position - 1).self_group()))
    return sa.select(sa.func.coalesce(bits, 0)).select_from(code).scalar_subquery()


class _Codes(dict[int, frozenset[str]]):
    """Bit masks over a vocabulary back to its codes (each mask decoded once)."""

    def __init__(self, vocabulary: tuple[str, ...]) -> None:
        super().__init__()
        self.vocabulary = vocabulary

    def __missing__(self, mask: int) -> frozenset[str]:
        codes = self[mask] = frozenset(c for i, c in enumerate(self.vocabulary) if mask >> i & 1)
        return codes


def _requests_query(region: str, start: date, end: date) -> sa.Select:
    """The requests of ``region`` made on English days ``[start, end)``: bounds in UTC
    instants, so ``ix_bookings_region_created_at`` answers."""
    k = bookings.c
    lo = datetime.combine(start, time(), ENGLAND)
    hi = datetime.combine(end, time(), ENGLAND)
    waited = sa.cast(sa.func.floor(sa.extract("epoch", k.offered_at - k.created_at)), sa.BigInteger)
    needs = sa.func.coalesce(k.child["needs"], _EMPTY)
    risks = sa.func.coalesce(k.child["risks_to_self"], _EMPTY).op("||", return_type=JSONB)(
        sa.func.coalesce(k.child["risks_to_others"], _EMPTY)
    )
    return sa.select(
        k.requester,
        k.urgency,
        k.status,
        k.status_reason,
        waited.label("offer_seconds"),
        _mask(needs, NEEDS).label("needs"),
        _mask(risks, RISKS).label("risks"),
    ).where(
        k.region == region,
        k.created_at >= lo,
        k.created_at < hi,
        # an import: confirmed or later without an offer, never requested here
        ~sa.and_(k.offered_at.is_(None), k.status.in_(sorted(CONFIRMED))),
    )


async def demand_report(
    engine: AsyncEngine, view: ReportView, start: date, end: date
) -> DemandReport:
    """The region's requests made in ``[start, end)``: per requesting authority (an
    authority's client: its own row) and for the whole region."""
    check_range(start, end)
    async with engine.connect() as conn:
        rows = (await conn.execute(_requests_query(view.region, start, end))).all()
        slugs = await region_authorities(conn, view.region)
    needs_of, risks_of = _Codes(NEEDS), _Codes(RISKS)
    tallies: dict[str, Tally] = defaultdict(Tally)
    for requester, urgency, status, reason, waited, needs, risks in rows:
        tallies[requester].add(
            Request(requester, urgency, status, reason, waited, needs_of[needs], risks_of[risks])
        )
    total = Tally()
    out: list[DemandRow] = []
    for slug in sorted(set(slugs) | set(tallies)):
        mine = tallies[slug]
        total.merge(mine)
        if view.sees(slug):
            out.append(DemandRow(authority=slug, **msgspec.structs.asdict(mine.figures())))
    return DemandReport(region=view.region, from_=start, to=end, rows=out, totals=total.figures())


# -- CSV ---------------------------------------------------------------------------------------

FIGURE_COLUMNS: list[str] = [
    "requests",
    *(f"need_{c}" for c in NEEDS),
    *(f"risk_{c}" for c in RISKS),
    *(f"urgency_{u}" for u in URGENCIES),
    "offered",
    "confirmed",
    *(f"declined_{r}" for r in DECLINED_REASONS),
    "withdrawn",
    "expired",
    "open",
    "offers",
    "median_seconds",
    "p90_seconds",
    "fill_rate_pct",
    "unmet_requests",
    *(f"unmet_{r}" for r in UNMET_REASONS),
    "unmet_nearest_miss",
    *(col for c in NEEDS for col in (f"unmet_need_{c}", f"unmet_need_{c}_nearest_miss")),
    *(col for c in RISKS for col in (f"unmet_risk_{c}", f"unmet_risk_{c}_nearest_miss")),
]


def _cell(value: object) -> object:
    return "" if value is None else value


def figure_cells(f: DemandFigures) -> list[object]:
    """``f`` in the order of :data:`FIGURE_COLUMNS` (an empty cell for ``null``)."""
    o, t, u = f.outcomes, f.time_to_offer, f.unmet
    return [
        f.requests,
        *(f.by_need[c] for c in NEEDS),
        *(f.by_risk[c] for c in RISKS),
        *(f.by_urgency.get(x, 0) for x in URGENCIES),
        o.offered,
        o.confirmed,
        *(o.declined.get(r, 0) for r in DECLINED_REASONS),
        o.withdrawn,
        o.expired,
        o.open,
        t.offers,
        _cell(t.median_seconds),
        _cell(t.p90_seconds),
        "" if f.fill_rate_pct is None else f"{f.fill_rate_pct:.1f}",
        u.requests,
        *(u.by_reason.get(r, 0) for r in UNMET_REASONS),
        _cell(u.nearest_miss),
        *(v for c in NEEDS for v in (u.by_need[c].requests, _cell(u.by_need[c].nearest_miss))),
        *(v for c in RISKS for v in (u.by_risk[c].requests, _cell(u.by_risk[c].nearest_miss))),
    ]


def demand_csv(report: DemandReport) -> tuple[list[str], list[list[object]], str]:
    """One row per authority, then the region's (``level`` says which); the columns are fixed
    by the vocabularies, whatever the data."""
    header = ["level", "authority", *FIGURE_COLUMNS]
    rows: list[list[object]] = [["authority", r.authority, *figure_cells(r)] for r in report.rows]
    rows.append(["region", report.region, *figure_cells(report.totals)])
    return header, rows, f"demand-{report.region}-{report.from_}-{report.to}.csv"
