"""Invoices, positions and transfers of a region with several buyers and sellers, checked
against an independent recomputation; and who may read them (SPEC §4, §5)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from coop.auth.schemas import ClientIn
from coop.policy.charges import next_month, parse_period
from coop.settlement.api import INVOICE_CSV_HEADER
from coop.settlement.runs import region_prefix
from tests.settlement.support import Market, assert_ledger_balanced, due_by_pair
from tests.support import ADMIN_SCOPES, Actor, assert_problem, issue

LINE_KEYS = {
    "booking_id",
    "child_ref",
    "kind",
    "charge_kind",
    "month",
    "from",
    "to",
    "days",
    "weekly_rate_pence",
    "amount_pence",
}
INVOICE_KEYS = {
    "id",
    "number",
    "run_id",
    "region",
    "period",
    "seller",
    "buyer",
    "issued_on",
    "total_pence",
    "lines",
}
#: what a child profile holds besides its ref: none of it may reach an invoice
CHILD_FIELDS = {
    "child",
    "age",
    "gender",
    "needs",
    "risks_to_self",
    "risks_to_others",
    "dols",
    "care_alongside",
    "home_latitude",
    "home_longitude",
}


@dataclass
class Network:
    """S and C both sell and buy, B only buys, D takes no part; S also places a child of its
    own in its own home (never charged)."""

    m: Market
    s: Actor
    b: Actor
    c: Actor
    d: Actor
    bookings: list[dict[str, Any]]
    runs: list[dict[str, Any]]


async def network(http: Any, coop: Any) -> Network:
    m = await Market.open(http, coop, date(2026, 1, 12), beds=4)
    s, b = m.seller, m.buyer
    c = await m.region.authority("third")
    d = await m.region.authority("outsider")
    home_c = await m.region.home(
        c, beds=[{"label": "C1"}, {"label": "C2"}], weekly_cost_pence=612_345
    )
    booked = [
        await m.place(0, date(2026, 3, 20), ref="b-in-s"),
        await m.place(1, date(2026, 2, 10), buyer=c, ref="c-in-s"),
        await m.place(0, date(2026, 3, 1), buyer=s, home=home_c, seller=c, ref="s-in-c"),
        await m.place(1, date(2026, 4, 1), buyer=b, home=home_c, seller=c, ref="b-in-c"),
        await m.place(2, date(2026, 3, 1), buyer=s, ref="s-own"),
    ]
    m.move_to(date(2026, 1, 20))
    booked.append(await m.place(3, date(2026, 2, 14), buyer=c, ref="c-in-s-2"))
    m.move_to(date(2026, 2, 2))
    run1 = await m.settle("2026-01")
    m.move_to(date(2026, 2, 5))
    await m.end(booked[3], date(2026, 2, 5), by=b)  # B's child leaves C's home early
    m.move_to(date(2026, 3, 2))
    run2 = await m.settle("2026-02")
    # the bookings as they stand now, read by their requester
    by = {a.authority: a for a in (s, b, c)}
    current = [await m.booking(x, by=by[x["requester"]]) for x in booked]
    return Network(m, s, b, c, d, current, [run1, run2])


async def all_invoices(n: Network, actor: Actor) -> list[dict[str, Any]]:
    out = []
    for run in n.runs:
        out += await n.m.invoices(run, actor)
    return out


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


# -- what the invoices say -------------------------------------------------------------------


async def test_invoices_equal_an_independent_recomputation(http, coop, clock):
    n = await network(http, coop)
    m = n.m
    for run in n.runs:
        assert run["status"] == "completed"
    await assert_ledger_balanced(coop)
    own = next(b for b in n.bookings if b["child"]["ref"] == "s-own")
    assert own["weekly_rate_pence"] and own["status"] == "active"  # rate shown, never charged
    previous: dict[tuple[str, str], int] = {}
    for run in n.runs:
        until = next_month(parse_period(run["period"]))
        due = due_by_pair(n.bookings, until)
        expected = {
            pair: due.get(pair, 0) - previous.get(pair, 0) for pair in due.keys() | previous.keys()
        }
        expected = {pair: v for pair, v in expected.items() if v}
        invoices = await m.invoices(run)
        got = {(i["seller"], i["buyer"]): i["total_pence"] for i in invoices}
        assert got == expected, run["period"]
        assert len(invoices) == len(got)  # one invoice per (seller, buyer)
        assert run["invoice_count"] == len(invoices)
        assert run["total_pence"] == sum(got.values())
        assert run["line_count"] == sum(len(i["lines"]) for i in invoices)
        for i in invoices:
            assert i["total_pence"] == sum(x["amount_pence"] for x in i["lines"])
            assert i["period"] == run["period"] and i["run_id"] == run["id"]
            assert i["region"] == m.region.slug
            assert i["seller"] != i["buyer"]
            assert own["id"] not in {x["booking_id"] for x in i["lines"]}
        previous = due
    # the pairs that trade: S→B, S→C (two bookings on one invoice), C→S, C→B
    pairs = {(i["seller"], i["buyer"]) for i in await all_invoices(n, m.region.admin)}
    assert pairs == {
        (n.s.authority, n.b.authority),
        (n.s.authority, n.c.authority),
        (n.c.authority, n.s.authority),
        (n.c.authority, n.b.authority),
    }


async def test_invoice_numbers_run_on_per_region(http, coop, clock):
    n = await network(http, coop)
    prefix = region_prefix(n.m.region.slug)
    seq = 0
    for run in n.runs:
        numbers = sorted(i["number"] for i in await n.m.invoices(run))
        assert numbers, run
        for number in numbers:
            seq += 1
            assert number == f"{prefix}-{run['period']}-{seq:04d}"
            assert re.fullmatch(r"[A-Z0-9]+-[0-9]{4}-[0-9]{2}-[0-9]{4}", number)
    # another region counts from 1 on its own
    other = await Market.open(http, coop, date(2026, 1, 12))
    await other.place(0, date(2026, 3, 1))
    other.move_to(date(2026, 2, 2))
    [inv] = await other.invoices(await other.settle("2026-01"))
    assert inv["number"] == f"{region_prefix(other.region.slug)}-2026-01-0001"


async def test_an_invoice_as_csv_is_its_json_one_row_a_line(http, coop, clock):
    n = await network(http, coop)
    for inv in await all_invoices(n, n.m.region.admin):
        r = await http.get(
            f"/invoices/{inv['id']}", headers={**n.m.region.admin.h, "Accept": "text/csv"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        header, *rows = csv_rows(r.text)
        assert header == INVOICE_CSV_HEADER
        assert len(rows) == len(inv["lines"])
        col = {name: i for i, name in enumerate(header)}
        for row, line in zip(rows, inv["lines"], strict=True):
            assert re.fullmatch(r"-?[0-9]+", row[col["amount_pence"]]), row
            assert re.fullmatch(r"-?[0-9]+", row[col["days"]]), row
            assert re.fullmatch(r"[0-9]+", row[col["weekly_rate_pence"]]), row
            assert int(row[col["amount_pence"]]) == line["amount_pence"]
            assert int(row[col["days"]]) == line["days"]
            assert (row[col["booking_id"]], row[col["kind"]], row[col["from"]], row[col["to"]]) == (
                line["booking_id"],
                line["kind"],
                line["from"],
                line["to"],
            )
            assert (row[col["invoice_number"]], row[col["seller"]], row[col["buyer"]]) == (
                inv["number"],
                inv["seller"],
                inv["buyer"],
            )
        assert sum(int(row[col["amount_pence"]]) for row in rows) == inv["total_pence"]
        # the same through the authority's own eyes
        r2 = await http.get(
            f"/invoices/{inv['id']}",
            headers={**n.m.region.actors[inv["buyer"]].h, "Accept": "text/csv"},
        )
        assert r2.status_code == 200 and r2.text == r.text


async def test_positions_and_transfers_settle_every_position(http, coop, clock):
    n = await network(http, coop)
    admin = n.m.region.admin.h
    for run in n.runs:
        invoices = await n.m.invoices(run)
        r = await http.get(f"/settlement-runs/{run['id']}/positions", headers=admin)
        assert r.status_code == 200, r.text
        positions = {p["authority"]: p for p in r.json()}
        parties = {i["seller"] for i in invoices} | {i["buyer"] for i in invoices}
        assert set(positions) == parties
        assert n.d.authority not in positions
        for a, p in positions.items():
            assert p["receivable_pence"] == sum(
                i["total_pence"] for i in invoices if i["seller"] == a
            )
            assert p["payable_pence"] == sum(i["total_pence"] for i in invoices if i["buyer"] == a)
            assert p["net_pence"] == p["receivable_pence"] - p["payable_pence"]
        assert sum(p["net_pence"] for p in positions.values()) == 0
        r = await http.get(f"/settlement-runs/{run['id']}/transfers", headers=admin)
        assert r.status_code == 200, r.text
        transfers = r.json()
        nets = {a: p["net_pence"] for a, p in positions.items()}
        payers = {t["from"] for t in transfers}
        payees = {t["to"] for t in transfers}
        assert not payers & payees  # nobody both pays and receives
        for t in transfers:
            assert t["amount_pence"] > 0
            nets[t["from"]] += t["amount_pence"]
            nets[t["to"]] -= t["amount_pence"]
        assert set(nets.values()) == {0}, nets
        nonzero = sum(1 for p in positions.values() if p["net_pence"])
        assert len(transfers) <= max(nonzero - 1, 0)


# -- who may read them -----------------------------------------------------------------------


async def test_an_authority_sees_its_own_invoices_position_and_transfers_only(http, coop, clock):
    n = await network(http, coop)
    everything = await all_invoices(n, n.m.region.admin)
    for actor in (n.s, n.b, n.c, n.d):
        me = actor.authority
        mine = sorted(i["id"] for i in everything if me in (i["seller"], i["buyer"]))
        seen = sorted(i["id"] for i in await all_invoices(n, actor))
        assert seen == mine, me
        r = await http.get("/invoices?limit=200", headers=actor.h)
        assert sorted(i["id"] for i in r.json()["items"]) == mine
        r = await http.get("/invoices?period=2026-02&limit=200", headers=actor.h)
        assert {i["period"] for i in r.json()["items"]} <= {"2026-02"}
        for inv in everything:
            r = await http.get(f"/invoices/{inv['id']}", headers=actor.h)
            if inv["id"] in mine:
                assert r.status_code == 200 and r.json() == inv
            else:
                assert_problem(r, 404, "not_found")
                r = await http.get(
                    f"/invoices/{inv['id']}", headers={**actor.h, "Accept": "text/csv"}
                )
                assert r.status_code == 404
        for run in n.runs:
            r = await http.get(f"/settlement-runs/{run['id']}", headers=actor.h)
            # the run's status, not the region's totals (they could be another pair's invoice)
            totals = ("invoice_count", "line_count", "total_pence")
            assert r.status_code == 200
            assert r.json() == {**run, **dict.fromkeys(totals)}
            r = await http.get(f"/settlement-runs/{run['id']}/positions", headers=actor.h)
            assert r.status_code == 200
            assert {p["authority"] for p in r.json()} <= {me}
            r = await http.get(f"/settlement-runs/{run['id']}/transfers", headers=actor.h)
            assert r.status_code == 200
            assert all(me in (t["from"], t["to"]) for t in r.json()), r.json()
        # the outsider took no part: nothing at all
        if actor is n.d:
            assert seen == []
        # a statement: its own, never another's
        q = "from=2026-01-01&to=2026-04-01"
        r = await http.get(f"/authorities/{me}/statement?{q}", headers=actor.h)
        assert r.status_code == 200, r.text
        for other in [x for x in (n.s, n.b, n.c, n.d) if x is not actor]:
            r = await http.get(f"/authorities/{other.authority}/statement?{q}", headers=actor.h)
            assert_problem(r, 403, "other_authority")
            r = await http.get(
                f"/authorities/{other.authority}/statement?{q}",
                headers={**actor.h, "Accept": "text/csv"},
            )
            assert r.status_code == 403
    # a region-level finance client reads the whole region
    region_client = await issue(
        http, coop, ClientIn(region=n.m.region.slug, scopes=["finance:read"])
    )
    assert sorted(i["id"] for i in await all_invoices(n, region_client)) == sorted(
        i["id"] for i in everything
    )


async def test_another_region_sees_nothing_of_this_one(http, coop, clock):
    n = await network(http, coop)
    other = await Market.open(http, coop, date(2026, 3, 2))
    strangers = [other.region.admin, other.buyer]
    run = n.runs[0]
    inv = (await n.m.invoices(run))[0]
    for x in strangers:
        for path in (
            f"/settlement-runs/{run['id']}",
            f"/settlement-runs/{run['id']}/positions",
            f"/settlement-runs/{run['id']}/transfers",
            f"/invoices/{inv['id']}",
        ):
            assert_problem(await http.get(path, headers=x.h), 404, "not_found")
        r = await http.get(f"/settlement-runs?region={n.m.region.slug}", headers=x.h)
        assert_problem(r, 403, "other_region")
        r = await http.get("/settlement-runs", headers=x.h)
        assert r.status_code == 200 and r.json()["items"] == []
        r = await http.get(f"/invoices?run_id={run['id']}", headers=x.h)
        assert r.status_code == 200 and r.json()["items"] == []
        r = await http.get(
            f"/authorities/{n.b.authority}/statement?from=2026-01-01&to=2026-04-01", headers=x.h
        )
        assert r.status_code in (403, 404), r.text
        r = await http.get(f"/payments?authority={n.b.authority}", headers=x.h)
        assert r.status_code in (200, 403), r.text
        if r.status_code == 200:
            assert r.json()["items"] == []
    # an admin of the other region cannot open a run here
    r = await http.post(
        "/settlement-runs",
        json={"region": n.m.region.slug, "period": "2026-02"},
        headers=other.region.admin.h,
    )
    assert_problem(r, 403, "other_region")


async def test_a_token_without_finance_read_reads_nothing(http, coop, clock):
    n = await network(http, coop)
    run = n.runs[0]
    inv = (await n.m.invoices(run))[0]
    paths = [
        "/settlement-runs",
        f"/settlement-runs?region={n.m.region.slug}",
        f"/settlement-runs/{run['id']}",
        f"/settlement-runs/{run['id']}/positions",
        f"/settlement-runs/{run['id']}/transfers",
        "/invoices",
        f"/invoices?run_id={run['id']}",
        f"/invoices/{inv['id']}",
        "/payments",
        f"/authorities/{n.b.authority}/statement?from=2026-01-01&to=2026-04-01",
    ]
    for scopes in (
        ["market:read"],
        ["market:read", "homes:write", "bookings:write", "reports:read"],
    ):
        for who in (n.b, n.s):
            narrow = await n.m.region.client(who.authority, scopes)
            for path in paths:
                r = await http.get(path, headers=narrow.h)
                assert r.status_code == 403, (scopes, path, r.text)
                r = await http.get(path, headers={**narrow.h, "Accept": "text/csv"})
                assert r.status_code == 403, (scopes, path, r.text)
            r = await http.post(
                "/settlement-runs",
                json={"region": n.m.region.slug, "period": "2026-02"},
                headers=narrow.h,
            )
            assert r.status_code == 403
    # and no token at all: 401
    for path in paths:
        assert (await http.get(path)).status_code == 401, path


async def test_invoices_carry_the_child_ref_and_nothing_else_of_the_child(http, coop, clock):
    n = await network(http, coop)
    refs = {b["id"]: b["child"]["ref"] for b in n.bookings}
    for actor in (n.m.region.admin, n.s, n.b, n.c):
        r = await http.get("/invoices?limit=200", headers=actor.h)
        assert r.status_code == 200
        body = r.json()
        assert not keys_of(body) & CHILD_FIELDS
        for inv in body["items"]:
            assert set(inv) == INVOICE_KEYS
            for line in inv["lines"]:
                assert set(line) == LINE_KEYS
                assert line["child_ref"] == refs[line["booking_id"]]
                assert line["booking_id"] in refs
            r = await http.get(f"/invoices/{inv['id']}", headers=actor.h)
            assert not keys_of(r.json()) & CHILD_FIELDS
    assert not {h.lower() for h in INVOICE_CSV_HEADER} & CHILD_FIELDS


async def test_admin_scopes_see_the_whole_region(http, coop, clock):
    n = await network(http, coop)
    admin2 = await issue(http, coop, ClientIn(region=n.m.region.slug, scopes=ADMIN_SCOPES))
    r = await http.get("/settlement-runs", headers=admin2.h)
    assert [x["id"] for x in r.json()["items"]] == [x["id"] for x in n.runs]
    for run in n.runs:
        r = await http.get(f"/settlement-runs/{run['id']}/positions", headers=admin2.h)
        assert len(r.json()) >= 3


async def test_pages_of_invoices_hold_each_visible_invoice_once(http, coop, clock):
    n = await network(http, coop)
    everything = await all_invoices(n, n.m.region.admin)
    for actor in (n.m.region.admin, n.s, n.c):
        mine = sorted(
            i["id"]
            for i in everything
            if actor is n.m.region.admin or actor.authority in (i["seller"], i["buyer"])
        )
        seen: list[str] = []
        url = "/invoices?limit=1"
        for _ in range(20):
            r = await http.get(url, headers=actor.h)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= 1
            seen += [i["id"] for i in page["items"]]
            if not page["next_cursor"]:
                break
            url = f"/invoices?limit=1&cursor={page['next_cursor']}"
        assert sorted(seen) == mine and len(seen) == len(set(seen))
    r = await http.get("/invoices?period=2026-13", headers=n.b.h)
    assert r.status_code == 422
