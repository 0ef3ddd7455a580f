"""The demand report (SPEC §5, ``GET /reports/demand``), over HTTP on real PostgreSQL.

One small history, made through ``/bookings`` on a frozen clock, is written out below so each
figure can be checked by hand; then the CSV, tenancy, the range's edges (English days) and the
pure counting helpers.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coop.bookings.jobs import sweep_once
from coop.reports import demand
from coop.reports.demand import Request, Tally, figures, nearest_miss, nearest_rank
from tests.settlement.support import Market
from tests.support import Actor, Region, assert_problem, child

HOUR = 3600
NEEDS = list(demand.NEEDS)
RISKS = list(demand.RISKS)

# -- helpers -----------------------------------------------------------------------------------


async def request(
    m: Market,
    who: Actor,
    bed: int,
    urgency: str,
    start: date,
    end: date,
    expect: str,
    *,
    own: bool = False,
    **body: Any,
) -> dict[str, Any]:
    """A request for bed ``bed`` of the market's home (through its void, or by ``bed_id`` when
    ``own``), whose answer is ``expect`` (``offered``, ``pending`` or ``declined:<reason>``)."""
    where = {"bed_id": m.bed_ids[bed]} if own else {"void_id": m.void_ids[bed]}
    r = await m.http.post(
        "/bookings",
        json={
            **where,
            "child": body.pop("child", child()),
            "urgency": urgency,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            **body,
        },
        headers=who.h,
    )
    assert r.status_code == 201, r.text
    b = r.json()
    got = b["status"] if b["status_reason"] is None else f"{b['status']}:{b['status_reason']}"
    assert got == expect, b
    return b


async def move(m: Market, who: Actor, b: dict[str, Any], what: str, expect: str, **body: Any):
    r = await m.http.post(f"/bookings/{b['id']}/{what}", json=body or None, headers=who.h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == expect, r.json()


async def report(
    m: Market, start: str, end: str, actor: Actor | None = None, **params: str
) -> dict[str, Any]:
    query = {"region": m.region.slug, "from": start, "to": end, **params}
    r = await m.http.get("/reports/demand", params=query, headers=(actor or m.region.admin).h)
    assert r.status_code == 200, r.text
    return r.json()


async def sweep(m: Market) -> None:
    await sweep_once(m.coop.engine, m.coop.clock, m.coop.scheduler)


def codes(every: list[str], **counts: Any) -> dict[str, Any]:
    """``{code: 0}`` for every code, but those given."""
    return {c: counts.get(c, 0) for c in every}


def unmet_codes(every: list[str], **given: tuple[int, str]) -> dict[str, Any]:
    return {
        c: {"requests": given[c][0], "nearest_miss": given[c][1]}
        if c in given
        else {"requests": 0, "nearest_miss": None}
        for c in every
    }


DECLINED_NONE = dict.fromkeys(demand.DECLINED_REASONS, 0)
UNMET_NONE = dict.fromkeys(demand.UNMET_REASONS, 0)


def nothing() -> dict[str, Any]:
    """The figures of no request at all."""
    return {
        "requests": 0,
        "by_need": codes(NEEDS),
        "by_risk": codes(RISKS),
        "by_urgency": {"today": 0, "within_5_days": 0, "planned": 0},
        "outcomes": {
            "offered": 0,
            "confirmed": 0,
            "declined": DECLINED_NONE,
            "withdrawn": 0,
            "expired": 0,
            "open": 0,
        },
        "time_to_offer": {"offers": 0, "median_seconds": None, "p90_seconds": None},
        "fill_rate_pct": None,
        "unmet": {
            "requests": 0,
            "by_reason": UNMET_NONE,
            "nearest_miss": None,
            "by_need": unmet_codes(NEEDS),
            "by_risk": unmet_codes(RISKS),
        },
    }


# -- the history -------------------------------------------------------------------------------
#
# The seller's home (4 beds, ages 8-17, needs semh + autism, risks self_harm + going_missing,
# £5,000 a week: a member pays £5,250, £5,775 for `today`) publishes a void on each bed on
# Monday 2 March 2026 at 12:00 (GMT: English day = UTC day), so until Wednesday 4 March 12:00
# only the seller can be offered them (the 48-hour home window; `today` requests skip it).
# Every child is the default (12, female, needs semh, risks_to_self self_harm) unless said.
#
#  id  made (UTC)    by      urgency bed    child, budget                -> final (wait to offer)
#  Z   Sun 01 23:00  seller  today   1 own  age 5                        -> declined age
#                                                                           (the day before)
#  A   Mon 02 12:00  buyer   today   0      -                            -> confirmed (0 s)
#  B   Mon 02 12:00  buyer   today   1      age 5                        -> declined age
#  C   Mon 02 12:00  buyer   today   1      autism, going_missing,
#                                           at most £5,000 a week        -> declined over_budget
#  D   Mon 02 12:00  buyer   today   1      mh_step_down + semh; to self
#                                           self_harm + criminal_expl.;
#                                           to others criminal_expl. +
#                                           fire_setting                 -> declined needs
#  D2  Mon 02 12:00  other   today   1      disability                   -> declined needs
#  E   Mon 02 12:00  buyer   planned 2      -                  withdrawn at 13:00 -> withdrawn
#  F   Mon 02 12:00  other   planned 2      -   offered Wed 12:00, the seller rejects
#                                                                -> declined owner_rejected (48 h)
#  G   Mon 02 18:00  other   planned 3      -   offered Wed 12:00, no answer by Fri 12:00
#                                                                 -> declined offer_expired (42 h)
#  H   Tue 03 06:00  buyer   planned 3      July; offered Wed 12:00, accepted -> confirmed (30 h)
#  I   Tue 03 06:00  buyer   planned 1      starts Tue 03: passed when decided
#                                                                        -> expired start_passed
#  J   Fri 06 13:00  seller  planned 1 own  -                            -> offered (0 s): open
#  K   Fri 06 13:00  buyer   planned 1      overlaps J                   -> pending behind J: open
#  L   Sat 07 00:00  other   today   1      age 5                        -> declined age
#                                                                           (the day after)
#
# The report for [2026-03-02, 2026-03-07) counts A-K: 12 requests.


def mar(day: int) -> date:
    return date(2026, 3, day)


async def history(http, coop) -> Market:
    m = await Market.open(http, coop, mar(1))
    m.other = await m.region.authority("other")
    m.idle = await m.region.authority("idle")  # makes no request: a row of zeros
    m.bed_ids = [b["id"] for b in m.home["beds"]]
    seller, buyer, other = m.seller, m.buyer, m.other
    young = child(age=5)
    april, june = date(2026, 4, 20), date(2026, 6, 1)

    m.move_to(mar(1), 23)
    await request(m, seller, 1, "today", mar(1), mar(20), "declined:age", own=True, child=young)

    m.move_to(mar(2), 12)
    m.void_ids = [(await m.region.void(seller, bed))["id"] for bed in m.bed_ids]
    a = await request(m, buyer, 0, "today", mar(2), june, "offered")
    await move(m, seller, a, "accept", "confirmed")
    await request(m, buyer, 1, "today", mar(2), mar(30), "declined:age", child=young)  # B
    c = child(needs=["autism"], risks_to_self=["going_missing"])
    await request(
        m, buyer, 1, "today", mar(2), mar(30), "declined:over_budget",
        child=c, max_weekly_price_pence=500_000,
    )  # fmt: skip
    d = child(
        needs=["mh_step_down", "semh"],
        risks_to_self=["self_harm", "criminal_exploitation"],
        risks_to_others=["criminal_exploitation", "fire_setting"],
    )
    await request(m, buyer, 1, "today", mar(2), mar(30), "declined:needs", child=d)
    d2 = child(needs=["disability"])
    await request(m, other, 1, "today", mar(2), mar(30), "declined:needs", child=d2)
    e = await request(m, buyer, 2, "planned", mar(12), mar(31), "pending")
    f = await request(m, other, 2, "planned", mar(20), june, "pending")
    m.move_to(mar(2), 13)
    await move(m, buyer, e, "withdraw", "withdrawn")
    m.move_to(mar(2), 18)
    g = await request(m, other, 3, "planned", mar(20), june, "pending")

    m.move_to(mar(3), 6)
    h = await request(m, buyer, 3, "planned", date(2026, 7, 1), date(2026, 8, 1), "pending")
    i = await request(m, buyer, 1, "planned", mar(3), april, "pending")

    m.move_to(mar(4), 12)  # the home window closes: F, G and H are offered, I has expired
    await sweep(m)
    for b, status in ((f, "offered"), (g, "offered"), (h, "offered"), (i, "expired")):
        assert (await m.booking(b))["status"] == status
    await move(m, seller, f, "reject", "declined", reason="Not a match for the group")
    await move(m, seller, h, "accept", "confirmed")

    m.move_to(mar(6), 13)  # G's 48-hour hold ran out at 12:00
    await sweep(m)
    assert (await m.booking(g))["status_reason"] == "offer_expired"
    await request(m, seller, 1, "planned", mar(20), april, "offered", own=True)  # J
    await request(m, buyer, 1, "planned", mar(25), april, "pending")  # K, behind J

    m.move_to(mar(7), 0)  # midnight: Saturday already
    await request(m, other, 1, "today", mar(7), mar(30), "declined:age", child=young)  # L
    return m


async def test_every_figure_of_a_small_history(http, coop, clock) -> None:
    m = await history(http, coop)
    body = await report(m, "2026-03-02", "2026-03-07")
    assert (body["region"], body["from"], body["to"]) == (m.region.slug, "2026-03-02", "2026-03-07")

    # The region: A B C D D2 E F G H I J K.
    assert body["totals"] == {
        "requests": 12,
        # semh: all but C (autism) and D2 (disability); D has mh_step_down too
        "by_need": codes(NEEDS, semh=10, autism=1, mh_step_down=1, disability=1),
        # self_harm: all but C; D's criminal_exploitation is in both lists, counted once
        "by_risk": codes(
            RISKS, self_harm=11, going_missing=1, criminal_exploitation=1, fire_setting=1
        ),
        "by_urgency": {"today": 5, "within_5_days": 0, "planned": 7},  # A B C D D2 / the rest
        "outcomes": {
            "offered": 5,  # A F G H J
            "confirmed": 2,  # A H
            "declined": {
                **DECLINED_NONE,
                "age": 1,  # B
                "over_budget": 1,  # C
                "needs": 2,  # D D2
                "owner_rejected": 1,  # F
                "offer_expired": 1,  # G
            },
            "withdrawn": 1,  # E
            "expired": 1,  # I
            "open": 2,  # J offered, K pending
        },
        # waits, sorted: A 0, J 0, H 30 h, G 42 h, F 48 h; the median is the 3rd of 5
        # (ceil(2.5)), the 90th percentile the 5th (ceil(4.5))
        "time_to_offer": {"offers": 5, "median_seconds": 30 * HOUR, "p90_seconds": 48 * HOUR},
        "fill_rate_pct": 16.7,  # 2 / 12 = 16.67 %
        "unmet": {
            "requests": 7,  # B C D D2 F G I (E was withdrawn: not unmet)
            "by_reason": {
                **UNMET_NONE,
                "age": 1,
                "over_budget": 1,
                "needs": 2,
                "owner_rejected": 1,
                "offer_expired": 1,
                "start_passed": 1,
            },
            "nearest_miss": "needs",
            "by_need": unmet_codes(
                NEEDS,
                semh=(5, "age"),  # B D F G I: one each, the alphabetically first wins
                autism=(1, "over_budget"),  # C
                mh_step_down=(1, "needs"),  # D
                disability=(1, "needs"),  # D2
            ),
            "by_risk": unmet_codes(
                RISKS,
                self_harm=(6, "needs"),  # B D D2 F G I: needs twice
                going_missing=(1, "over_budget"),  # C
                criminal_exploitation=(1, "needs"),  # D
                fire_setting=(1, "needs"),  # D
            ),
        },
    }

    rows = {r.pop("authority"): r for r in body["rows"]}
    assert list(rows) == sorted(
        [m.seller.authority, m.buyer.authority, m.other.authority, m.idle.authority]
    )

    # buyer: A B C D E H I K
    buyer = nothing()
    buyer.update(
        requests=8,
        by_need=codes(NEEDS, semh=7, autism=1, mh_step_down=1),
        by_risk=codes(RISKS, self_harm=7, going_missing=1, criminal_exploitation=1, fire_setting=1),
        by_urgency={"today": 4, "within_5_days": 0, "planned": 4},
        outcomes={
            "offered": 2,  # A H
            "confirmed": 2,
            "declined": {**DECLINED_NONE, "age": 1, "over_budget": 1, "needs": 1},
            "withdrawn": 1,  # E
            "expired": 1,  # I
            "open": 1,  # K
        },
        # waits 0 and 30 h: the median is the 1st of 2, the 90th percentile the 2nd
        time_to_offer={"offers": 2, "median_seconds": 0, "p90_seconds": 30 * HOUR},
        fill_rate_pct=25.0,
        unmet={
            "requests": 4,  # B C D I
            "by_reason": {**UNMET_NONE, "age": 1, "over_budget": 1, "needs": 1, "start_passed": 1},
            "nearest_miss": "age",  # a four-way tie
            "by_need": unmet_codes(
                NEEDS, semh=(3, "age"), autism=(1, "over_budget"), mh_step_down=(1, "needs")
            ),
            "by_risk": unmet_codes(
                RISKS,
                self_harm=(3, "age"),
                going_missing=(1, "over_budget"),
                criminal_exploitation=(1, "needs"),
                fire_setting=(1, "needs"),
            ),
        },
    )
    assert rows[m.buyer.authority] == buyer

    # other: D2 F G (L is the next day, out of range)
    other = nothing()
    other.update(
        requests=3,
        by_need=codes(NEEDS, semh=2, disability=1),
        by_risk=codes(RISKS, self_harm=3),
        by_urgency={"today": 1, "within_5_days": 0, "planned": 2},
        outcomes={
            "offered": 2,  # F G
            "confirmed": 0,
            "declined": {**DECLINED_NONE, "needs": 1, "owner_rejected": 1, "offer_expired": 1},
            "withdrawn": 0,
            "expired": 0,
            "open": 0,
        },
        time_to_offer={"offers": 2, "median_seconds": 42 * HOUR, "p90_seconds": 48 * HOUR},
        fill_rate_pct=0.0,
        unmet={
            "requests": 3,
            "by_reason": {**UNMET_NONE, "needs": 1, "owner_rejected": 1, "offer_expired": 1},
            "nearest_miss": "needs",
            "by_need": unmet_codes(NEEDS, semh=(2, "offer_expired"), disability=(1, "needs")),
            "by_risk": unmet_codes(RISKS, self_harm=(3, "needs")),
        },
    )
    assert rows[m.other.authority] == other

    # seller: J only (Z was the day before)
    seller = nothing()
    seller.update(
        requests=1,
        by_need=codes(NEEDS, semh=1),
        by_risk=codes(RISKS, self_harm=1),
        by_urgency={"today": 0, "within_5_days": 0, "planned": 1},
        outcomes={**nothing()["outcomes"], "offered": 1, "open": 1},
        time_to_offer={"offers": 1, "median_seconds": 0, "p90_seconds": 0},
        fill_rate_pct=0.0,
    )
    assert rows[m.seller.authority] == seller
    assert rows[m.idle.authority] == nothing()

    # No child profile, ref or booking id anywhere in the report.
    text = str(body)
    assert "case-" not in text and "bkg" not in text and "child" not in text


async def test_what_is_not_a_request_or_not_unmet_demand(http, coop, clock) -> None:
    """A suspended requester's decline is not unmet demand; a void withdrawn is; an imported
    placement was never a request."""
    m = await Market.open(http, coop, mar(2))
    m.other = await m.region.authority("other")
    m.bed_ids = [b["id"] for b in m.home["beds"]]
    m.void_ids = [(await m.region.void(m.seller, bed))["id"] for bed in m.bed_ids[:2]]
    await request(m, m.buyer, 0, "planned", mar(20), mar(30), "pending")  # P
    await request(m, m.other, 1, "planned", mar(20), mar(30), "pending")  # Q
    r = await http.patch(
        f"/authorities/{m.buyer.authority}",
        json={"membership": "suspended", "version": 1},
        headers=m.region.admin.h,
    )
    assert r.status_code == 200, r.text
    r = await http.post(f"/voids/{m.void_ids[1]}/withdraw", headers=m.seller.h)
    assert r.status_code == 200, r.text
    imported = {
        "requester": m.other.authority,
        "bed_id": m.bed_ids[2],
        "child": child(),
        "start_date": "2026-02-01",
        "end_date": "2026-06-01",
        "weekly_rate_pence": 600_000,
        "status": "active",
    }
    r = await http.post("/bookings/import", json=[imported], headers=m.region.admin.h)
    assert r.status_code == 201, r.text
    m.move_to(mar(4), 13)
    await sweep(m)

    totals = (await report(m, "2026-03-01", "2026-04-01"))["totals"]
    assert totals["requests"] == 2  # P and Q; not the imported placement
    assert totals["outcomes"]["declined"]["requester_suspended"] == 1  # P
    assert totals["outcomes"]["expired"] == 1  # Q: its void was withdrawn
    assert totals["outcomes"]["confirmed"] == 0 and totals["fill_rate_pct"] == 0.0
    assert totals["unmet"]["requests"] == 1  # Q only: P's was the requester's own doing
    assert totals["unmet"]["by_reason"] == {**UNMET_NONE, "outside_void": 1}
    assert totals["unmet"]["nearest_miss"] == "outside_void"
    assert "requester_suspended" not in totals["unmet"]["by_reason"]


async def test_only_requests_made_in_the_range_count(http, coop, clock) -> None:
    m = await history(http, coop)
    # Z was made on Sunday 1 March at 23:00 (GMT): the day before.
    before = (await report(m, "2026-03-01", "2026-03-02"))["totals"]
    assert before["requests"] == 1 and before["outcomes"]["declined"]["age"] == 1
    # L at 00:00 on Saturday 7 March: the first instant of `to`, so out of [from, to).
    after = (await report(m, "2026-03-07", "2026-03-08"))["totals"]
    assert after["requests"] == 1 and after["unmet"]["by_reason"]["age"] == 1
    assert (await report(m, "2026-03-01", "2026-03-08"))["totals"]["requests"] == 14
    assert (await report(m, "2026-02-01", "2026-03-01"))["totals"] == nothing()
    # one day: Tuesday's H and I
    tuesday = (await report(m, "2026-03-03", "2026-03-04"))["totals"]
    assert tuesday["requests"] == 2 and tuesday["by_urgency"]["planned"] == 2


async def test_a_request_belongs_to_its_english_day(http, coop, clock) -> None:
    """In British Summer Time, 23:30 UTC on 30 June is already 1 July in England."""
    m = await Market.open(http, coop, date(2026, 6, 30))
    m.bed_ids = [b["id"] for b in m.home["beds"]]
    coop.clock.set(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    m.void_ids = [(await m.region.void(m.seller, m.bed_ids[0]))["id"]]
    await request(m, m.buyer, 0, "today", date(2026, 7, 1), date(2026, 8, 1), "offered")
    assert (await report(m, "2026-06-30", "2026-07-01"))["totals"]["requests"] == 0
    july = (await report(m, "2026-07-01", "2026-07-02"))["totals"]
    assert july["requests"] == 1 and july["time_to_offer"]["median_seconds"] == 0


async def test_csv_is_the_json_flattened(http, coop, clock) -> None:
    m = await history(http, coop)
    body = await report(m, "2026-03-02", "2026-03-07")
    r = await http.get(
        "/reports/demand",
        params={"region": m.region.slug, "from": "2026-03-02", "to": "2026-03-07"},
        headers={**m.region.admin.h, "Accept": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert (
        f'filename="demand-{m.region.slug}-2026-03-02-2026-03-07.csv"'
        in (r.headers["content-disposition"])
    )
    table = list(csv.DictReader(io.StringIO(r.text)))
    expected = [flat("authority", row["authority"], row) for row in body["rows"]]
    expected.append(flat("region", m.region.slug, body["totals"]))
    assert table == expected
    assert list(table[0]) == HEADER

    # The columns are the vocabularies', not the data's: an empty month has the same.
    r = await http.get(
        "/reports/demand",
        params={"region": m.region.slug, "from": "2026-01-01", "to": "2026-02-01"},
        headers={**m.region.admin.h, "Accept": "text/csv"},
    )
    empty = list(csv.DictReader(io.StringIO(r.text)))
    assert list(empty[0]) == HEADER and empty[-1]["median_seconds"] == ""
    assert empty[-1]["fill_rate_pct"] == "" and empty[-1]["unmet_nearest_miss"] == ""


HEADER = [
    "level",
    "authority",
    "requests",
    *(f"need_{c}" for c in NEEDS),
    *(f"risk_{c}" for c in RISKS),
    "urgency_today",
    "urgency_within_5_days",
    "urgency_planned",
    "offered",
    "confirmed",
    *(f"declined_{r}" for r in demand.DECLINED_REASONS),
    "withdrawn",
    "expired",
    "open",
    "offers",
    "median_seconds",
    "p90_seconds",
    "fill_rate_pct",
    "unmet_requests",
    *(f"unmet_{r}" for r in demand.UNMET_REASONS),
    "unmet_nearest_miss",
    *(x for c in NEEDS for x in (f"unmet_need_{c}", f"unmet_need_{c}_nearest_miss")),
    *(x for c in RISKS for x in (f"unmet_risk_{c}", f"unmet_risk_{c}_nearest_miss")),
]


def flat(level: str, who: str, f: dict[str, Any]) -> dict[str, str]:
    """A report's figures as the CSV's cells should read (written independently of the
    module's own flattening)."""

    def s(v: Any) -> str:
        return "" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

    o, t, u = f["outcomes"], f["time_to_offer"], f["unmet"]
    cells: dict[str, Any] = {"level": level, "authority": who, "requests": f["requests"]}
    cells |= {f"need_{c}": n for c, n in f["by_need"].items()}
    cells |= {f"risk_{c}": n for c, n in f["by_risk"].items()}
    cells |= {f"urgency_{c}": n for c, n in f["by_urgency"].items()}
    cells |= {"offered": o["offered"], "confirmed": o["confirmed"]}
    cells |= {f"declined_{c}": n for c, n in o["declined"].items()}
    cells |= {k: o[k] for k in ("withdrawn", "expired", "open")}
    cells |= {k: t[k] for k in ("offers", "median_seconds", "p90_seconds")}
    cells |= {"fill_rate_pct": f["fill_rate_pct"], "unmet_requests": u["requests"]}
    cells |= {f"unmet_{c}": n for c, n in u["by_reason"].items()}
    cells["unmet_nearest_miss"] = u["nearest_miss"]
    for family, key in (("need", "by_need"), ("risk", "by_risk")):
        for c, x in u[key].items():
            cells[f"unmet_{family}_{c}"] = x["requests"]
            cells[f"unmet_{family}_{c}_nearest_miss"] = x["nearest_miss"]
    return {k: s(cells[k]) for k in HEADER}


async def test_tenancy(http, coop, clock) -> None:
    m = await history(http, coop)
    everyone = await report(m, "2026-03-02", "2026-03-07")
    assert len(everyone["rows"]) == 4  # the region's admin: every authority
    mine = await report(m, "2026-03-02", "2026-03-07", m.buyer)
    assert [r["authority"] for r in mine["rows"]] == [m.buyer.authority]
    assert mine["rows"] == [r for r in everyone["rows"] if r["authority"] == m.buyer.authority]
    assert mine["totals"] == everyone["totals"]  # the region's totals, aggregates only
    r = await http.get(
        "/reports/demand",
        params={"region": m.buyer.authority + "-x", "from": "2026-03-02", "to": "2026-03-07"},
        headers=m.buyer.h,
    )
    assert_problem(r, 403, "other_region")

    # Another region's admin cannot read this one; its own report has none of these requests.
    elsewhere = await Region.create(http, coop)
    r = await http.get(
        "/reports/demand",
        params={"region": m.region.slug, "from": "2026-03-02", "to": "2026-03-07"},
        headers=elsewhere.admin.h,
    )
    assert_problem(r, 403, "other_region")
    r = await http.get(
        "/reports/demand",
        params={"from": "2026-03-02", "to": "2026-03-07"},
        headers=elsewhere.admin.h,
    )
    assert r.status_code == 200 and r.json()["rows"] == [] and r.json()["totals"] == nothing()


async def test_range_is_checked(http, coop, clock, region) -> None:
    admin = region.admin
    r = await http.get("/reports/demand?from=2026-03-02&to=2026-03-02", headers=admin.h)
    assert_problem(r, 422, "validation_error")
    a = await region.authority("nobody", scopes=["market:read"])
    r = await http.get("/reports/demand?from=2026-03-02&to=2026-03-03", headers=a.h)
    assert_problem(r, 403, "insufficient_scope")


# -- the counting, pure ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 400_000), max_size=30), st.sampled_from([1, 10, 50, 90, 99, 100]))
def test_nearest_rank_is_the_smallest_value_covering_p_percent(values, pct) -> None:
    got = nearest_rank(sorted(values), pct)
    if not values:
        assert got is None
        return
    covering = [v for v in values if 100 * sum(x <= v for x in values) >= pct * len(values)]
    assert got == min(covering)


def test_nearest_rank_and_nearest_miss_by_hand() -> None:
    assert nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9  # 9 of 10 are <= 9
    assert nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert nearest_rank([7], 90) == 7
    assert nearest_miss({"needs": 2, "age": 2, "risks": 1}) == "age"
    assert nearest_miss({"needs": 0}) is None


STATUSES = ["pending", "offered", "confirmed", "active", "ended", "cancelled"]
requests = st.builds(
    Request,
    requester=st.sampled_from(["a", "b"]),
    urgency=st.sampled_from(list(demand.URGENCIES)),
    status=st.sampled_from([*STATUSES, "withdrawn", "declined", "expired"]),
    status_reason=st.sampled_from([*demand.UNMET_REASONS, "requester_suspended"]),
    offer_seconds=st.none() | st.integers(0, 10**6),
    needs=st.frozensets(st.sampled_from(NEEDS), max_size=3),
    risks=st.frozensets(st.sampled_from(RISKS), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(requests, max_size=25))
def test_figures_add_up(reqs) -> None:
    f = figures(reqs)
    o = f.outcomes
    # every request is in exactly one final-or-open bucket
    assert o.confirmed + sum(o.declined.values()) + o.withdrawn + o.expired + o.open == f.requests
    assert sum(f.by_urgency.values()) == f.requests
    assert f.time_to_offer.offers == o.offered <= f.requests
    unplaced = [r for r in reqs if r.status in ("declined", "expired")]
    mine = [r for r in unplaced if r.status_reason != "requester_suspended"]
    assert f.unmet.requests == len(mine) == sum(f.unmet.by_reason.values())
    for c in NEEDS:
        assert f.unmet.by_need[c].requests == sum(c in r.needs for r in mine) <= f.by_need[c]
    # the region's tally is the sum of its authorities' (how the report builds its totals)
    region = Tally()
    for who in ("a", "b"):
        mine = Tally()
        for r in reqs:
            if r.requester == who:
                mine.add(r)
        region.merge(mine)
    assert region.figures() == f
    if f.requests:
        assert f.fill_rate_pct == round(100 * o.confirmed / f.requests + 1e-9, 1)


def test_every_reason_of_the_spec_has_its_place() -> None:
    """SPEC §3's `status_reason` codes: a request is declined for any but `withdrawn` and
    `start_passed` (a passed start expires it); unmet demand is any but `withdrawn` and the
    requester's own suspension."""
    spec = {
        "outranked", "unavailable", "outside_void", "over_budget", "age", "gender", "needs",
        "risks", "dols", "care_alongside", "max_weeks", "home_closed", "requester_suspended",
        "owner_rejected", "offer_expired", "withdrawn", "start_passed",
    }  # fmt: skip
    assert set(demand.DECLINED_REASONS) == spec - {"withdrawn", "start_passed"}
    assert set(demand.UNMET_REASONS) == spec - {"withdrawn", "requester_suspended"}
    assert len(demand.RISKS) == 10 and len(set(demand.RISKS)) == 10  # criminal_exploitation once
