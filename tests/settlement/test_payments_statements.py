"""Payments between councils and an authority's statement (SPEC §4 "Payments and
statements", §5 ``/payments`` and ``/authorities/{slug}/statement``)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from typing import Any

from coop.settlement.api import STATEMENT_CSV_HEADER
from tests.settlement.support import Market, assert_ledger_balanced, balance, snapshot
from tests.support import Actor, assert_problem

PAYMENT_KEYS = {"id", "region", "from", "to", "amount_pence", "paid_on", "reference", "created_at"}


async def pay(
    m: Market,
    payer: Actor,
    payee: Actor,
    amount: int,
    paid_on: date,
    reference: str,
    key: str | None = None,
) -> dict[str, Any]:
    h = {**m.region.admin.h, **({"Idempotency-Key": key} if key else {})}
    r = await m.http.post(
        "/payments",
        json={
            "from": payer.authority,
            "to": payee.authority,
            "amount_pence": amount,
            "paid_on": paid_on.isoformat(),
            "reference": reference,
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def two_months(http: Any, coop: Any) -> tuple[Market, Actor, list[dict[str, Any]]]:
    """S sells to B and C, and buys from C; January and February settled; C's January
    partly paid."""
    m = await Market.open(http, coop, date(2026, 1, 12))
    c = await m.region.authority("third")
    home_c = await m.region.home(c, beds=[{"label": "C1"}])
    await m.place(0, date(2026, 3, 20))
    await m.place(1, date(2026, 2, 20), buyer=c, ref="c-1")
    await m.place(0, date(2026, 2, 10), buyer=m.seller, home=home_c, seller=c, ref="s-1")
    m.move_to(date(2026, 2, 2))
    run1 = await m.settle("2026-01")
    m.move_to(date(2026, 3, 2))
    run2 = await m.settle("2026-02")
    return m, c, [run1, run2]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# -- payments --------------------------------------------------------------------------------


async def test_a_payment_is_a_balanced_ledger_entry_and_a_retry_replays_it(http, coop, clock):
    m, c, _ = await two_months(http, coop)
    b, s = m.buyer, m.seller
    before = {a.authority: await balance(coop, a.authority) for a in (b, s, c)}
    rows_before = await snapshot(coop)
    p = await pay(m, b, s, 123_456, date(2026, 2, 27), "REM-0001", key="pay-1")
    assert set(p) == PAYMENT_KEYS
    assert (p["from"], p["to"], p["amount_pence"], p["paid_on"], p["reference"]) == (
        b.authority,
        s.authority,
        123_456,
        "2026-02-27",
        "REM-0001",
    )
    assert p["region"] == m.region.slug
    # the payer owes less, the payee is owed less; nobody else moves
    assert await balance(coop, b.authority) == before[b.authority] + 123_456
    assert await balance(coop, s.authority) == before[s.authority] - 123_456
    assert await balance(coop, c.authority) == before[c.authority]
    await assert_ledger_balanced(coop)
    rows_after = await snapshot(coop)
    assert rows_after["payments"] == rows_before["payments"] + 1
    assert rows_after["journal_entries"] == rows_before["journal_entries"] + 1
    assert rows_after["postings"] == rows_before["postings"] + 4

    # the same request with the same key: the first answer, nothing new
    body = {
        "from": b.authority,
        "to": s.authority,
        "amount_pence": 123_456,
        "paid_on": "2026-02-27",
        "reference": "REM-0001",
    }
    h = {**m.region.admin.h, "Idempotency-Key": "pay-1"}
    r = await http.post("/payments", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers.get("idempotent-replayed") == "true"
    assert r.json() == p
    assert await snapshot(coop) == rows_after
    # the same key for another request: refused, nothing new
    r = await http.post("/payments", json={**body, "amount_pence": 1}, headers=h)
    assert_problem(r, 422, "idempotency_key_reused")
    assert await snapshot(coop) == rows_after
    # no key: a second payment
    r = await http.post("/payments", json=body, headers=m.region.admin.h)
    assert r.status_code == 201 and r.json()["id"] != p["id"]
    assert "idempotent-replayed" not in r.headers
    await assert_ledger_balanced(coop)


async def test_concurrent_retries_of_one_payment_record_it_once(http, coop, clock):
    m, _, _ = await two_months(http, coop)
    body = {
        "from": m.buyer.authority,
        "to": m.seller.authority,
        "amount_pence": 77_700,
        "paid_on": "2026-03-02",
        "reference": "REM-RACE",
    }
    before = await snapshot(coop)
    h = {**m.region.admin.h, "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *(http.post("/payments", json=body, headers=h) for _ in range(4))
    )
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 3
    after = await snapshot(coop)
    assert after["payments"] == before["payments"] + 1
    assert after["postings"] == before["postings"] + 4
    await assert_ledger_balanced(coop)


async def test_bad_payments_are_refused_and_change_nothing(http, coop, clock):
    m, c, _ = await two_months(http, coop)
    other = await Market.open(http, coop, date(2026, 3, 2))
    m.move_to(date(2026, 3, 2))
    b, s = m.buyer.authority, m.seller.authority
    good = {
        "from": b,
        "to": s,
        "amount_pence": 1000,
        "paid_on": "2026-03-02",
        "reference": "REM-9",
    }
    before = await snapshot(coop)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"to": b}, "to"),  # the same authority
        ({"paid_on": "2026-03-03"}, "paid_on"),  # tomorrow
        ({"from": "nobody-here"}, "from"),
        ({"to": "nobody-here"}, "to"),
        ({"to": other.seller.authority}, "to"),  # another region's authority
        ({"from": other.buyer.authority}, "from"),
        ({"amount_pence": 0}, "amount_pence"),
        ({"amount_pence": -500}, "amount_pence"),
        ({"amount_pence": 10_000_000_001}, "amount_pence"),
        ({"amount_pence": 10**20}, "amount_pence"),
        ({"amount_pence": 12.5}, "amount_pence"),
        ({"amount_pence": "1000"}, "amount_pence"),
        ({"reference": ""}, "reference"),
        ({"paid_on": "2026-02-30"}, "paid_on"),
        ({"surprise": 1}, "surprise"),
    ]
    for change, field in bad:
        r = await http.post("/payments", json={**good, **change}, headers=m.region.admin.h)
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        text = r.text
        assert field in text, (change, text)
    for missing in good:
        body = {k: v for k, v in good.items() if k != missing}
        r = await http.post("/payments", json=body, headers=m.region.admin.h)
        assert r.status_code == 422, (missing, r.text)
    # another region's admin, an authority's finance client: not theirs to record
    r = await http.post("/payments", json=good, headers=other.region.admin.h)
    assert r.status_code == 422, r.text  # neither is an authority of its region
    r = await http.post("/payments", json=good, headers=m.buyer.h)
    assert_problem(r, 403, "insufficient_scope")
    r = await http.post("/payments", json=good)
    assert r.status_code == 401
    assert await snapshot(coop) == before
    # the boundaries themselves are fine
    await pay(m, m.buyer, m.seller, 1, date(2026, 3, 2), "penny")
    await pay(m, c, m.seller, 10_000_000_000, date(2020, 1, 1), "x" * 140)


async def test_payments_are_listed_to_their_parties(http, coop, clock):
    m, c, _ = await two_months(http, coop)
    b, s = m.buyer, m.seller
    d = await m.region.authority("outsider")
    p1 = await pay(m, b, s, 5_000, date(2026, 3, 1), "B-S")
    p2 = await pay(m, c, s, 7_000, date(2026, 3, 2), "C-S")
    p3 = await pay(m, s, c, 2_000, date(2026, 3, 2), "S-C")

    async def ids(actor: Actor, query: str = "") -> set[str]:
        r = await http.get(f"/payments?limit=200{query}", headers=actor.h)
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            assert set(item) == PAYMENT_KEYS
        return {x["id"] for x in r.json()["items"]}

    admin = m.region.admin
    assert await ids(admin) == {p1["id"], p2["id"], p3["id"]}
    assert await ids(admin, f"&authority={c.authority}") == {p2["id"], p3["id"]}
    assert await ids(admin, f"&authority={b.authority}") == {p1["id"]}
    assert await ids(b) == {p1["id"]}
    assert await ids(b, f"&authority={b.authority}") == {p1["id"]}
    assert await ids(s) == {p1["id"], p2["id"], p3["id"]}
    assert await ids(c) == {p2["id"], p3["id"]}
    assert await ids(d) == set()
    r = await http.get(f"/payments?authority={s.authority}", headers=b.h)
    assert_problem(r, 403, "other_authority")
    other = await Market.open(http, coop, date(2026, 3, 2))
    assert await ids(other.region.admin) == set()
    assert await ids(other.region.admin, f"&authority={s.authority}") == set()


# -- statements ------------------------------------------------------------------------------


async def statement(
    m: Market, actor: Actor, slug: str, start: str, end: str, csv_: bool = False
) -> Any:
    h = {**actor.h, **({"Accept": "text/csv"} if csv_ else {})}
    r = await m.http.get(f"/authorities/{slug}/statement?from={start}&to={end}", headers=h)
    assert r.status_code == 200, r.text
    return r.text if csv_ else r.json()


def check_running(st: dict[str, Any]) -> None:
    balance = st["opening_pence"]
    for line in st["lines"]:
        balance += line["amount_pence"]
        assert line["balance_pence"] == balance, st
    assert st["closing_pence"] == balance


async def test_statements_list_invoices_and_payments_with_a_running_balance(http, coop, clock):
    m, c, runs = await two_months(http, coop)
    b, s = m.buyer, m.seller
    inv = {(i["seller"], i["buyer"], i["period"]): i for r in runs for i in await m.invoices(r)}
    p1 = await pay(m, b, s, 100_000, date(2026, 2, 10), "REM-B-1")
    p2 = await pay(m, s, c, 30_000, date(2026, 2, 12), "REM-S-1")
    p3 = await pay(m, c, s, 50_000, date(2026, 3, 2), "REM-C-1")

    st = await statement(m, b, b.authority, "2026-01-01", "2026-04-01")
    assert set(st) == {"authority", "from", "to", "opening_pence", "lines", "closing_pence"}
    assert (st["authority"], st["from"], st["to"], st["opening_pence"]) == (
        b.authority,
        "2026-01-01",
        "2026-04-01",
        0,
    )
    jan, feb = (
        inv[(s.authority, b.authority, "2026-01")],
        inv[(s.authority, b.authority, "2026-02")],
    )
    assert [(x["date"], x["kind"], x["reference"], x["amount_pence"]) for x in st["lines"]] == [
        ("2026-02-02", "invoice_received", jan["number"], -jan["total_pence"]),
        ("2026-02-10", "payment_made", "REM-B-1", p1["amount_pence"]),
        ("2026-03-02", "invoice_received", feb["number"], -feb["total_pence"]),
    ]
    check_running(st)
    assert st["closing_pence"] == await balance(coop, b.authority)

    # the seller: invoices issued raise its balance, payments received lower it
    st = await statement(m, s, s.authority, "2026-01-01", "2026-04-01")
    kinds = [(x["date"], x["kind"], x["reference"]) for x in st["lines"]]
    issued = sorted(i["number"] for i in inv.values() if i["seller"] == s.authority)
    received = sorted(i["number"] for i in inv.values() if i["buyer"] == s.authority)
    assert sorted(r for _, k, r in kinds if k == "invoice_issued") == issued
    assert sorted(r for _, k, r in kinds if k == "invoice_received") == received
    assert [r for _, k, r in kinds if k == "payment_received"] == ["REM-B-1", "REM-C-1"]
    assert [r for _, k, r in kinds if k == "payment_made"] == ["REM-S-1"]
    by_ref = {x["reference"]: x["amount_pence"] for x in st["lines"]}
    for i in inv.values():
        if i["seller"] == s.authority:
            assert by_ref[i["number"]] == i["total_pence"]
        elif i["buyer"] == s.authority:
            assert by_ref[i["number"]] == -i["total_pence"]
    assert by_ref["REM-B-1"] == -p1["amount_pence"]
    assert by_ref["REM-S-1"] == p2["amount_pence"]
    assert by_ref["REM-C-1"] == -p3["amount_pence"]
    assert [x["date"] for x in st["lines"]] == sorted(x["date"] for x in st["lines"])
    check_running(st)
    assert st["closing_pence"] == await balance(coop, s.authority)

    # every authority's closing balance is its ledger balance, and they sum to zero
    closings = []
    for a in (b, s, c):
        st = await statement(m, m.region.admin, a.authority, "2025-01-01", "2027-01-01")
        check_running(st)
        assert st["opening_pence"] == 0
        assert st["closing_pence"] == await balance(coop, a.authority)
        closings.append(st["closing_pence"])
    assert sum(closings) == 0
    await assert_ledger_balanced(coop)


async def test_a_statement_of_part_of_the_time_opens_with_what_came_before(http, coop, clock):
    m, _, runs = await two_months(http, coop)
    b, s = m.buyer, m.seller
    [jan] = [i for i in await m.invoices(runs[0]) if i["buyer"] == b.authority]
    await pay(m, b, s, 40_000, date(2026, 2, 10), "REM-1")
    await pay(m, b, s, 1_000, date(2026, 3, 1), "REM-2")  # the day `to` excludes
    st = await statement(m, b, b.authority, "2026-02-03", "2026-03-01")
    assert st["opening_pence"] == -jan["total_pence"]
    assert [(x["kind"], x["reference"]) for x in st["lines"]] == [("payment_made", "REM-1")]
    assert st["closing_pence"] == -jan["total_pence"] + 40_000
    check_running(st)
    # the next period opens where this one closed
    nxt = await statement(m, b, b.authority, "2026-03-01", "2026-04-01")
    assert nxt["opening_pence"] == st["closing_pence"]
    assert nxt["lines"][0]["reference"] == "REM-2"
    check_running(nxt)
    # a period with nothing in it
    empty = await statement(m, b, b.authority, "2025-06-01", "2025-07-01")
    assert (empty["opening_pence"], empty["lines"], empty["closing_pence"]) == (0, [], 0)
    # an authority that took no part
    d = await m.region.authority("outsider")
    st = await statement(m, d, d.authority, "2026-01-01", "2026-04-01")
    assert (st["opening_pence"], st["lines"], st["closing_pence"]) == (0, [], 0)


async def test_a_statement_as_csv(http, coop, clock):
    m, _, _ = await two_months(http, coop)
    b, s = m.buyer, m.seller
    await pay(m, b, s, 40_000, date(2026, 2, 10), "REM, with a comma")
    st = await statement(m, b, b.authority, "2026-02-03", "2026-04-01")
    text = await statement(m, b, b.authority, "2026-02-03", "2026-04-01", csv_=True)
    header, *rows = csv_rows(text)
    assert (
        header
        == STATEMENT_CSV_HEADER
        == [
            "date",
            "kind",
            "reference",
            "amount_pence",
            "balance_pence",
        ]
    )
    assert rows[0] == ["2026-02-03", "opening_balance", "", "0", str(st["opening_pence"])]
    assert rows[-1] == ["2026-04-01", "closing_balance", "", "0", str(st["closing_pence"])]
    assert rows[1:-1] == [
        [x["date"], x["kind"], x["reference"], str(x["amount_pence"]), str(x["balance_pence"])]
        for x in st["lines"]
    ]
    assert len(rows) == len(st["lines"]) + 2


async def test_statement_refusals(http, coop, clock):
    m, c, _ = await two_months(http, coop)
    b, s = m.buyer, m.seller

    async def get(actor: Actor, slug: str, query: str) -> Any:
        return await http.get(f"/authorities/{slug}/statement?{query}", headers=actor.h)

    for query in ("from=2026-03-01&to=2026-03-01", "from=2026-03-02&to=2026-03-01"):
        r = await get(b, b.authority, query)
        assert r.status_code == 422, r.text
        r = await get(m.region.admin, b.authority, query)
        assert r.status_code == 422, r.text
    for query in ("from=2026-03-01", "to=2026-03-01", "from=yesterday&to=2026-03-01", ""):
        r = await get(b, b.authority, query)
        assert r.status_code in (400, 422), (query, r.text)
    assert_problem(
        await get(b, s.authority, "from=2026-01-01&to=2026-04-01"), 403, "other_authority"
    )
    r = await get(m.region.admin, "nobody-here", "from=2026-01-01&to=2026-04-01")
    assert_problem(r, 404, "not_found")
    # the admin reads any authority of its region
    assert (
        await get(m.region.admin, c.authority, "from=2026-01-01&to=2026-04-01")
    ).status_code == 200
