"""Every figure of ``docs/reports.md`` is what the service answers.

The test builds the page's worked example through the HTTP API on a clock it moves — two
councils' four-bed homes, placements made, ended and imported, requests declined, withdrawn
and offered after the home window, a bed out of use, February settled — and renders the
reports' answers in the page's own table formats: the JSON, and the CSV of the capacity
report, its series and the income report, which must say the same. Each table of the page
sits under a ``<!-- figures:NAME -->`` marker; the page's tables and the rendered ones must be
equal, cell for cell, and every marked table must be one the test renders (and the other way
round). Editing a figure in the page breaks this test; so does a change of the service that
changes one. The claims of the page's prose about the example are asserted on the way.

The page's names stand for the test's: ``suffolk``, ``norfolk`` and ``essex`` for the random
authority slugs, ``east-of-england`` (invoice prefix ``EOE``) for the random region, and
``SC100001``/``SC100002`` for the homes' random Ofsted URNs. The homes' postcodes are real.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from coop.bookings.jobs import sweep_once
from coop.policy.document import PolicyDocument
from coop.policy.money import charge
from coop.reports.ssda903 import EPISODE_COLUMNS
from coop.settlement.runs import region_prefix
from tests.settlement.support import Market
from tests.settlement.test_settlement_doc import _show, p, page_tables
from tests.support import Actor, Region, assert_problem, child

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"
DOC_REGION = "east-of-england"

#: the example's homes: name, postcode (real: Ipswich, Norwich), the page's URN, weekly cost
ORWELL = ("Orwell House", "IP1 3QH", "SC100001", 500_000)
WENSUM = ("Wensum Lodge", "NR1 3QU", "SC100002", 480_000)

FEB, MAR = date(2026, 2, 1), date(2026, 3, 1)
#: the board meets: the capacity snapshot's day; every range ends the day after (exclusive)
SNAPSHOT, UP_TO = date(2026, 3, 16), date(2026, 3, 17)
APRIL, JUNE = date(2026, 4, 1), date(2026, 6, 1)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def ofsted_urn() -> str:
    """``SC`` and six digits (random: URNs are unique across the test session)."""
    return f"SC{random.SystemRandom().randrange(200_000, 1_000_000):06d}"


# -- the worked example, through the API -----------------------------------------------------


class Example:
    """The region of the page: Suffolk's Orwell House, Norfolk's Wensum Lodge, Essex buying."""

    def __init__(self, http: httpx.AsyncClient, coop: Any) -> None:
        self.http, self.coop = http, coop
        self.names: dict[str, str] = {}  # the test's values -> the page's
        self.requests: dict[str, dict[str, Any]] = {}  # the page's R1...R9 -> the booking

    def move_to(self, day: date, hour: int = 9) -> None:
        self.coop.clock.set(at(day, hour))

    async def call(self, method: str, path: str, who: Actor, expect: int = 200, **kw: Any) -> Any:
        r = await self.http.request(method, path, headers=who.h, **kw)
        assert r.status_code == expect, r.text
        return r.json()

    async def home(self, owner: Actor, spec: tuple[str, str, str, int]) -> dict[str, Any]:
        name, postcode, page_urn, cost = spec
        home = await self.region.home(
            owner,
            name=name,
            ofsted_urn=ofsted_urn(),
            postcode=postcode,
            weekly_cost_pence=cost,
            beds=[{"label": f"{name[0]}{i}"} for i in range(1, 5)],
        )
        self.names[home["ofsted_urn"]] = page_urn
        return home

    async def void(self, owner: Actor, bed: dict[str, Any]) -> str:
        return (await self.region.void(owner, bed["id"]))["id"]

    async def request(
        self,
        label: str,
        who: Actor,
        void_id: str | None,
        urgency: str,
        period: tuple[date, date],
        expect: str,
        *,
        bed_id: str | None = None,
        **profile: Any,
    ) -> dict[str, Any]:
        """Request ``R<n>``: through a void, or by ``bed_id`` for the owner's own bed. Its
        answer is ``expect`` (``offered``, ``pending`` or ``declined:<reason>``)."""
        where = {"void_id": void_id} if void_id else {"bed_id": bed_id}
        b = await self.call(
            "POST",
            "/bookings",
            who,
            201,
            json={
                **where,
                "child": child(**profile),
                "urgency": urgency,
                "start_date": period[0].isoformat(),
                "end_date": period[1].isoformat(),
            },
        )
        got = b["status"] if b["status_reason"] is None else f"{b['status']}:{b['status_reason']}"
        assert got == expect, b
        self.requests[label] = b
        return b

    async def move(self, b: dict[str, Any], what: str, who: Actor, **body: Any) -> dict[str, Any]:
        return await self.call("POST", f"/bookings/{b['id']}/{what}", who, json=body or None)

    async def accept_and_start(self, b: dict[str, Any], owner: Actor) -> dict[str, Any]:
        assert (await self.move(b, "accept", owner))["status"] == "confirmed"
        started = await self.move(b, "start", owner, date=self.coop.clock.today().isoformat())
        assert started["status"] == "active"
        return started

    async def build(self) -> None:
        self.move_to(date(2026, 2, 2))
        region = self.region = await Region.create(self.http, self.coop)
        suffolk = self.suffolk = await region.authority("suffolk")
        norfolk = self.norfolk = await region.authority("norfolk")
        essex = self.essex = await region.authority("essex")
        self.names |= {region.slug: DOC_REGION}
        for actor, page_name in ((suffolk, "suffolk"), (norfolk, "norfolk"), (essex, "essex")):
            self.names[actor.authority or ""] = page_name
        self.market = Market(self.http, self.coop, region)  # for its settlement helpers

        # Monday 2 February: both councils register their four-bed homes
        self.orwell = await self.home(suffolk, ORWELL)
        self.wensum = await self.home(norfolk, WENSUM)
        o1, o2, o3, o4 = self.orwell["beds"]
        w1, w2, w3, _w4 = self.wensum["beds"]
        # Norfolk's own child has lived in W1 since 5 January: recorded, never requested
        placement = {
            "requester": norfolk.authority,
            "bed_id": w1["id"],
            "child": child(ref="NFK-0009"),
            "start_date": "2026-01-05",
            "end_date": "2026-07-31",
            "weekly_rate_pence": 504_000,
            "status": "active",
        }
        [self.imported] = await self.call(
            "POST", "/bookings/import", region.admin, 201, json=[placement]
        )
        # Suffolk offers O2 and O4: Norfolk places two children there today, Suffolk its own
        v2, v4 = await self.void(suffolk, o2), await self.void(suffolk, o4)
        self.move_to(date(2026, 2, 2), 10)
        feb2, feb20 = date(2026, 2, 2), date(2026, 2, 20)
        r1 = await self.request("R1", norfolk, v2, "today", (feb2, JUNE), "offered", ref="NFK-0042")
        await self.accept_and_start(r1, suffolk)
        r2 = await self.request(
            "R2", norfolk, v4, "today", (feb2, feb20), "offered", ref="NFK-0031"
        )
        r2 = await self.accept_and_start(r2, suffolk)
        r3 = await self.request(
            "R3", suffolk, None, "today", (feb2, date(2026, 8, 1)), "offered",
            bed_id=o3["id"], ref="SFK-0007",
        )  # fmt: skip
        await self.accept_and_start(r3, suffolk)

        # 20 February: NFK-0031 leaves O4 on its planned last day
        self.move_to(feb20)
        ended = await self.move(r2, "end", norfolk, date=feb20.isoformat(), reason="moved on")
        assert ended["status"] == "ended"

        # 23 February: three same-day requests for O4 that the home cannot meet
        feb23 = date(2026, 2, 23)
        self.move_to(feb23, 10)
        no = "declined:needs"
        await self.request(
            "R4", essex, v4, "today", (feb23, APRIL), no, ref="ESX-0101", needs=["mh_step_down"]
        )
        await self.request(
            "R5", essex, v4, "today", (feb23, APRIL), "declined:age", ref="ESX-0102", age=5
        )
        await self.request(
            "R6", norfolk, v4, "today", (feb23, APRIL), no, ref="NFK-0050", needs=["disability"]
        )

        # Monday 2 March: February is settled; at noon, voids on O1, W2 and W3
        mar2, mar3 = date(2026, 3, 2), date(2026, 3, 3)
        self.move_to(mar2)
        self.february = await self.market.settle("2026-02")
        self.move_to(mar2, 12)
        await self.void(suffolk, o1)
        void_w2, void_w3 = await self.void(norfolk, w2), await self.void(norfolk, w3)
        self.move_to(mar2, 13)
        r7 = await self.request(
            "R7", suffolk, void_w2, "planned", (date(2026, 3, 9), JUNE), "pending", ref="SFK-0011"
        )
        self.move_to(mar2, 14)
        r8 = await self.request(
            "R8", essex, void_w2, "planned", (SNAPSHOT, JUNE), "pending", ref="ESX-0103"
        )
        # 3 March: Suffolk withdraws R7, and asks for W3 from 1 April
        self.move_to(mar3)
        assert (await self.move(r7, "withdraw", suffolk))["status"] == "withdrawn"
        self.move_to(mar3, 12)
        r9 = await self.request(
            "R9", suffolk, void_w3, "planned", (APRIL, date(2026, 7, 1)), "pending",
            ref="SFK-0012",
        )  # fmt: skip
        # 4 March, noon: Norfolk's home window closes; R8 and R9 are offered and accepted
        self.move_to(date(2026, 3, 4), 12)
        await sweep_once(self.coop.engine, self.coop.clock, self.coop.scheduler)
        for b in (r8, r9):
            assert (await self.move(b, "accept", norfolk))["status"] == "confirmed"
        # 9 March: a staff shortage at Orwell House takes O1 out of use (its void stays open)
        self.move_to(date(2026, 3, 9))
        await self.call(
            "PATCH",
            f"/beds/{o1['id']}",
            suffolk,
            json={"status": "out_of_use", "out_of_use_reason": "staffing", "version": 1},
        )
        # Monday 16 March, 09:00: the board meets; ESX-0103 is due at W2 but not there yet
        self.move_to(SNAPSHOT)
        for label, b in self.requests.items():
            owner = suffolk if b["owner"] == suffolk.authority else norfolk
            self.requests[label] = await self.call("GET", f"/bookings/{b['id']}", owner)
        self.imported = await self.call("GET", f"/bookings/{self.imported['id']}", norfolk)

    # -- reading the reports ---------------------------------------------------------------

    def name(self, value: Any) -> str:
        """A value as the page writes it (the test's slugs, region, URNs and invoice numbers
        renamed)."""
        text = "" if value is None else str(value)
        if text in self.names:
            return self.names[text]
        prefix = region_prefix(self.region.slug) + "-"
        if text.startswith(prefix):
            return region_prefix(DOC_REGION) + "-" + text[len(prefix) :]
        return text

    async def report(self, path: str, who: Actor | None = None, **params: Any) -> Any:
        r = await self.http.get(path, params=params, headers=(who or self.region.admin).h)
        assert r.status_code == 200, r.text
        return r.json()

    async def csv(self, path: str, **params: Any) -> list[dict[str, str]]:
        headers = {**self.region.admin.h, "Accept": "text/csv"}
        r = await self.http.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv"), r.headers
        assert r.headers["content-disposition"].startswith("attachment; filename=")
        return list(csv.DictReader(io.StringIO(r.text)))


# -- the example, as the page sets the scene -------------------------------------------------


def dash(value: Any) -> str:
    """``null`` (JSON) or an empty cell (CSV) as the page writes it: ``—``."""
    return "—" if value is None or value == "" else str(value)


def example_tables(x: Example) -> dict[str, list[list[str]]]:
    """The homes, and the placements that held a bed: the import and the confirmed requests."""
    beds = {b["id"]: b["label"] for h in (x.orwell, x.wensum) for b in h["beds"]}
    placed = [b for b in x.requests.values() if b["status"] in ("confirmed", "active", "ended")]
    held = sorted([x.imported, *placed], key=lambda b: (b["start_date"], beds[b["bed_id"]]))
    head = ["child", "placed by", "bed", "status", "planned start", "arrived", "planned end"]
    return {
        "example:homes": [
            ["home", "owner", "beds", "postcode", "URN", "weekly cost (p)"],
            *[
                [
                    h["name"],
                    x.name(h["owner"]),
                    ", ".join(b["label"] for b in h["beds"]),
                    h["postcode"],
                    x.name(h["ofsted_urn"]),
                    p(h["weekly_cost_pence"]),
                ]
                for h in (x.orwell, x.wensum)
            ],
        ],
        "example:placements": [
            [*head, "left", "weekly rate (p)"],
            *[
                [
                    b["child"]["ref"],
                    x.name(b["requester"]),
                    beds[b["bed_id"]],
                    b["status"],
                    b["start_date"],
                    dash(b["actual_start_date"]),
                    b["end_date"],
                    dash(b["actual_end_date"]),
                    p(b["weekly_rate_pence"]),
                ]
                for b in held
            ],
        ],
    }


# -- capacity ----------------------------------------------------------------------------------

REASONS = ("staffing", "ofsted_restriction", "matching", "maintenance")
STATES = ("occupied_own", "occupied_sold", "reserved", "vacant_offered", "vacant_not_offered")
FIGURE_HEADS = ["registered", "operational", "out of use", "own", "sold", "reserved", "offered"]
FIGURE_HEADS += ["not offered", "occupancy %"]


def pct(value: float | str | None) -> str:
    """An occupancy: the JSON's number to one decimal, or the CSV's cell as it is."""
    if isinstance(value, float | int):
        return f"{value:.1f}"
    return dash(value)


def out_of_use(reasons: dict[str, int]) -> str:
    """Out-of-use beds by reason, as the page writes them: ``staffing 1``, or ``0``."""
    return ", ".join(f"{r} {reasons[r]}" for r in REASONS if reasons.get(r)) or "0"


def figure_cells(f: dict[str, Any]) -> list[str]:
    """One capacity row (the JSON's, or a CSV row read back with :func:`from_csv`)."""
    return [
        str(f["registered"]),
        str(f["operational"]),
        out_of_use(f["out_of_use"]),
        *(str(f[s]) for s in STATES),
        pct(f["occupancy_pct"]),
    ]


def from_csv(row: dict[str, str]) -> dict[str, Any]:
    """A capacity CSV row with the JSON's keys (the occupancy's cell kept as it is)."""
    return {
        **{k: int(row[k]) for k in ("registered", "operational", *STATES)},
        "out_of_use": {r: int(row[f"out_of_use_{r}"]) for r in REASONS},
        "occupancy_pct": row["occupancy_pct"],
    }


async def capacity_tables(x: Example) -> dict[str, list[list[str]]]:
    on = {"region": x.region.slug, "on": SNAPSHOT.isoformat()}
    day = await x.report("/reports/capacity", **on)
    assert day["on"] == SNAPSHOT.isoformat()
    by_authority = [
        ["authority", *FIGURE_HEADS],
        *[[x.name(a["authority"]), *figure_cells(a)] for a in day["rows"]],
        ["region", *figure_cells(day["totals"])],
    ]
    by_home = [
        ["home", "owner", *FIGURE_HEADS],
        *[
            [h["name"], x.name(a["authority"]), *figure_cells(h)]
            for a in day["rows"]
            for h in a["homes"]
        ],
    ]
    # the CSV says the same: a row per authority and per home, then the region's
    rows = await x.csv("/reports/capacity", **on)
    level = {kind: [r for r in rows if r["level"] == kind] for kind in ("authority", "home")}
    assert [r["level"] for r in rows][-1] == "region"
    assert by_authority[1:] == [
        *[[x.name(r["authority"]), *figure_cells(from_csv(r))] for r in level["authority"]],
        ["region", *figure_cells(from_csv(rows[-1]))],
    ]
    assert by_home[1:] == [
        [r["home_name"], x.name(r["authority"]), *figure_cells(from_csv(r))] for r in level["home"]
    ]
    # every bed in exactly one state; the capacity illusion is the beds out of use
    t = day["totals"]
    assert t["operational"] == sum(t[s] for s in STATES)
    assert t["registered"] - t["operational"] == sum(t["out_of_use"].values()) == 1

    series_params = {"region": x.region.slug, "from": "2026-02-02", "to": UP_TO.isoformat()}
    series = await x.report("/reports/capacity/series", step="month", **series_params)
    assert (series["step"], series["authority"]) == ("month", None)
    by_month = [
        ["from", "to", "days", *FIGURE_HEADS],
        *[[s["from"], s["to"], str(s["days"]), *figure_cells(s)] for s in series["rows"]],
    ]
    rows = await x.csv("/reports/capacity/series", step="month", **series_params)
    assert by_month[1:] == [
        [r["from"], r["to"], r["days"], *figure_cells(from_csv(r))] for r in rows
    ]
    # a step is the sum of its days: a one-day step is that day's report
    one_day = {"region": x.region.slug, "from": SNAPSHOT.isoformat(), "to": UP_TO.isoformat()}
    [step] = (await x.report("/reports/capacity/series", step="week", **one_day))["rows"]
    assert figure_cells(step) == figure_cells(t)
    return {
        "capacity:authorities": by_authority,
        "capacity:homes": by_home,
        "capacity:months": by_month,
    }


# -- income ------------------------------------------------------------------------------------

INCOME_HEADS = ["authority", "income (p)", "spend (p)", "net (p)", "bed-days sold"]
INCOME_HEADS += ["bed-days bought", "avg weekly price (p)", "cost avoided (p)"]
INCOME_KEYS = ("income_pence", "spend_pence", "net_pence", "bed_days_sold", "bed_days_bought")
INCOME_KEYS += ("avg_weekly_price_pence", "cost_avoided_pence")


def income_cells(row: dict[str, Any]) -> list[str]:
    """One income row (JSON or CSV): whole numbers with thousands separators, ``—`` for none."""
    return ["—" if row[k] in (None, "") else p(int(row[k])) for k in INCOME_KEYS]


async def income_report(x: Example, start: date, end: date) -> tuple[list[list[str]], Any]:
    """The report over ``[start, end)`` as the page's table (the CSV saying the same)."""
    params = {"region": x.region.slug, "from": start.isoformat(), "to": end.isoformat()}
    body = await x.report("/reports/income", **params)
    table = [
        INCOME_HEADS,
        *[[x.name(r["authority"]), *income_cells(r)] for r in body["rows"]],
        ["region", *income_cells(body["totals"])],
    ]
    rows = await x.csv("/reports/income", **params)
    assert [r["level"] for r in rows] == ["authority"] * len(body["rows"]) + ["region"]
    assert table[1:] == [
        [x.name(r["authority"]) if r["level"] == "authority" else "region", *income_cells(r)]
        for r in rows
    ]
    return table, body


async def income_tables(x: Example) -> dict[str, list[list[str]]]:
    run = x.february
    assert run["status"] == "completed"
    invoices = await x.market.invoices(run)
    lines = sorted(
        ((i, line) for i in invoices for line in i["lines"]),
        key=lambda il: (il[1]["from"], il[1]["child_ref"]),
    )
    february, feb = await income_report(x, FEB, MAR)
    to_date, so_far = await income_report(x, FEB, UP_TO)
    # a settled month is its invoices, to the penny: each seller's income, each buyer's spend
    for row in feb["rows"]:
        slug = row["authority"]
        assert row["income_pence"] == sum(i["total_pence"] for i in invoices if i["seller"] == slug)
        assert row["spend_pence"] == sum(i["total_pence"] for i in invoices if i["buyer"] == slug)
    assert feb["totals"]["income_pence"] == run["total_pence"]
    # cost avoided line by line: a penny less than on the 45 days at once
    benchmark = PolicyDocument().pricing.spot_benchmark_weekly_pence
    at_once = charge(benchmark, 45) - feb["totals"]["spend_pence"]
    assert at_once == feb["totals"]["cost_avoided_pence"] + 1
    return {
        "income:benchmark": [
            ["policy setting", "default"],
            ["pricing.spot_benchmark_weekly_pence", p(benchmark)],
        ],
        "income:invoice-lines": [
            ["invoice", "child", "kind", "from", "to", "days", "weekly rate (p)", "amount (p)"],
            *[
                [
                    x.name(i["number"]),
                    line["child_ref"],
                    line["kind"],
                    line["from"],
                    line["to"],
                    str(line["days"]),
                    p(line["weekly_rate_pence"]),
                    p(line["amount_pence"]),
                ]
                for i, line in lines
            ],
        ],
        "income:invoices": [
            ["invoice", "period", "seller", "buyer", "lines", "total (p)"],
            *[
                [
                    x.name(i["number"]),
                    i["period"],
                    x.name(i["seller"]),
                    x.name(i["buyer"]),
                    str(len(i["lines"])),
                    p(i["total_pence"]),
                ]
                for i in invoices
            ],
        ],
        "income:february": february,
        "income:to-date": to_date,
        "income:settled-through": [
            ["from", "to", "settled_through"],
            *[[b["from"], b["to"], dash(b["settled_through"])] for b in (feb, so_far)],
        ],
    }


# -- demand ------------------------------------------------------------------------------------


def seconds(value: int | None) -> str:
    return dash(None if value is None else p(value))


def hours(value: int | None) -> str:
    return dash(None if value is None else f"{value / 3600:g}")


async def demand_tables(x: Example) -> dict[str, list[list[str]]]:
    params = {"region": x.region.slug, "from": FEB.isoformat(), "to": UP_TO.isoformat()}
    body = await x.report("/reports/demand", **params)
    rows = [(x.name(r["authority"]), r) for r in body["rows"]] + [("region", body["totals"])]

    def waited(b: dict[str, Any]) -> str:
        if b["offered_at"] is None:
            return "—"
        wait = datetime.fromisoformat(b["offered_at"]) - datetime.fromisoformat(b["created_at"])
        return p(int(wait.total_seconds()))

    beds = {b["id"]: b["label"] for h in (x.orwell, x.wensum) for b in h["beds"]}
    requests = [
        ["request", "made (UTC)", "by", "urgency", "bed", "child", "status", "reason"],
        *[
            [
                label,
                datetime.fromisoformat(b["created_at"]).strftime("%Y-%m-%d %H:%M"),
                x.name(b["requester"]),
                b["urgency"],
                beds[b["bed_id"]],
                b["child"]["ref"],
                b["status"],
                b["status_reason"] or "",
            ]
            for label, b in x.requests.items()
        ],
    ]
    requests[0].append("waited for an offer (s)")
    for row, b in zip(requests[1:], x.requests.values(), strict=True):
        row.append(waited(b))

    outcomes = [
        ["requester", "requests", "today", "planned", "offered", "confirmed", "declined"],
        *[
            [
                who,
                str(r["requests"]),
                str(r["by_urgency"]["today"]),
                str(r["by_urgency"]["planned"]),
                str(r["outcomes"]["offered"]),
                str(r["outcomes"]["confirmed"]),
                str(sum(r["outcomes"]["declined"].values())),
                str(r["outcomes"]["withdrawn"]),
                str(r["outcomes"]["expired"]),
                str(r["outcomes"]["open"]),
                pct(r["fill_rate_pct"]),
            ]
            for who, r in rows
        ],
    ]
    outcomes[0] += ["withdrawn", "expired", "open", "fill rate %"]
    for _, r in rows:  # "within_5_days is 0 throughout"; "each row adds up"
        o = r["outcomes"]
        assert r["by_urgency"]["within_5_days"] == 0
        in_one = o["confirmed"] + sum(o["declined"].values()) + o["withdrawn"]
        assert in_one + o["expired"] + o["open"] == r["requests"]

    offers = [
        ["requester", "offers", "median (s)", "median (h)"],
        *[
            [
                who,
                str(t["offers"]),
                seconds(t["median_seconds"]),
                hours(t["median_seconds"]),
                seconds(t["p90_seconds"]),
                hours(t["p90_seconds"]),
            ]
            for who, t in ((who, r["time_to_offer"]) for who, r in rows)
        ],
    ]
    offers[0] += ["90th percentile (s)", "90th percentile (h)"]

    unmet_totals = body["totals"]["unmet"]
    reasons = [k for k, n in unmet_totals["by_reason"].items() if n]
    unmet = [
        ["requester", "unmet", *reasons, "nearest miss"],
        *[
            [
                who,
                str(r["unmet"]["requests"]),
                *(str(r["unmet"]["by_reason"][k]) for k in reasons),
                dash(r["unmet"]["nearest_miss"]),
            ]
            for who, r in rows
        ],
    ]
    assert sum(unmet_totals["by_reason"].values()) == unmet_totals["requests"]
    by_need = [
        ["need", "requests", "unmet", "nearest miss"],
        *[
            [
                code,
                str(n),
                str(unmet_totals["by_need"][code]["requests"]),
                dash(unmet_totals["by_need"][code]["nearest_miss"]),
            ]
            for code, n in body["totals"]["by_need"].items()
            if n
        ],
    ]
    # "all 3 unmet requests under self_harm"
    assert unmet_totals["by_risk"]["self_harm"] == {"requests": 3, "nearest_miss": "needs"}
    # no child profile, booking or child reference in the report
    text = str(body)
    assert not any(b["child"]["ref"] in text or b["id"] in text for b in x.requests.values())
    assert x.imported["child"]["ref"] not in text
    return {
        "demand:requests": requests,
        "demand:outcomes": outcomes,
        "demand:time-to-offer": offers,
        "demand:unmet": unmet,
        "demand:unmet-by-need": by_need,
    }


# -- SSDA903 -----------------------------------------------------------------------------------


async def episodes(x: Example, who: Actor) -> list[list[str]]:
    r = await x.http.get(f"/exports/ssda903?from={FEB}&to={UP_TO}", headers=who.h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(r.text)))
    assert header == EPISODE_COLUMNS
    return rows


async def ssda903_tables(x: Example) -> dict[str, list[list[str]]]:
    rows = await episodes(x, x.norfolk)
    # "Suffolk's file for the same range has SFK-0007 only. Essex's is empty"
    assert [row[0] for row in await episodes(x, x.suffolk)] == ["SFK-0007"]
    assert await episodes(x, x.essex) == []
    return {"ssda903:norfolk": [EPISODE_COLUMNS, *[[x.name(c) for c in row] for row in rows]]}


# -- who sees what -----------------------------------------------------------------------------


async def who_sees_what(x: Example) -> None:
    """Section 1 of the page: a council's client sees its own row and the region's totals;
    nobody reads another region; the export is a council's own."""
    ranged = {"from": FEB.isoformat(), "to": UP_TO.isoformat()}
    for path, params in (
        ("/reports/capacity", {"on": SNAPSHOT.isoformat()}),
        ("/reports/capacity/series", ranged),
        ("/reports/income", ranged),
        ("/reports/demand", ranged),
    ):
        region = await x.report(path, **params)
        mine = await x.report(path, x.norfolk, **params)
        if "totals" in region:
            assert [r["authority"] for r in mine["rows"]] == [x.norfolk.authority]
            assert mine["rows"][0] in region["rows"]
            assert mine["totals"] == region["totals"]
        else:  # the series: the region's, for a council's client too
            assert mine == region
    series = "/reports/capacity/series"
    mine = await x.report(series, x.norfolk, authority=x.norfolk.authority, **ranged)
    assert mine["authority"] == x.norfolk.authority
    r = await x.http.get(
        series, params={"authority": x.suffolk.authority, **ranged}, headers=x.norfolk.h
    )
    assert_problem(r, 403, "other_authority")
    other = await Region.create(x.http, x.coop)
    for who in (x.norfolk, x.region.admin):
        r = await x.http.get(f"/reports/capacity?region={other.slug}", headers=who.h)
        assert_problem(r, 403, "other_region")
    r = await x.http.get(f"/exports/ssda903?from={FEB}&to={UP_TO}", headers=x.region.admin.h)
    assert_problem(r, 403, "authority_required")


async def test_every_figure_of_the_reports_page_is_the_services(http, coop, clock) -> None:
    x = Example(http, coop)
    await x.build()
    rendered = (
        example_tables(x)
        | await capacity_tables(x)
        | await income_tables(x)
        | await demand_tables(x)
        | await ssda903_tables(x)
    )
    await who_sees_what(x)
    page = page_tables(DOC.read_text(encoding="utf-8"))
    assert sorted(page) == sorted(rendered), "the page's marked tables and the test's differ"
    for key, table in rendered.items():
        assert page[key] == table, f"docs/reports.md, table {key}:\n{_show(table)}"
