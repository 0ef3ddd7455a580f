"""Settlement runs through the HTTP stack (SPEC §4): what each month is charged, corrections as
adjustments, exactly-once runs, and the refusals of ``POST /settlement-runs``."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from coop.db.schema import invoice_lines, postings, settlement_runs
from coop.policy.money import charge
from coop.settlement import runs as runs_module
from coop.settlement.runs import execute_run
from tests.settlement.support import Market, assert_ledger_balanced, snapshot
from tests.support import assert_problem, count


def lines_of(invoice: dict[str, Any]) -> list[tuple[str, str, str, str, int, int]]:
    """(kind, charge_kind, from, to, days, amount) of every line, sorted."""
    return sorted(
        (x["kind"], x["charge_kind"], x["from"], x["to"], x["days"], x["amount_pence"])
        for x in invoice["lines"]
    )


async def settled(m: Market, period: str, expect: int = 201) -> dict[str, Any]:
    """Settle ``period``; the run completes and the ledger still balances."""
    run = await m.settle(period, expect=expect)
    assert run["status"] == "completed", run
    await assert_ledger_balanced(m.coop)
    return run


async def only_invoice(m: Market, run: dict[str, Any]) -> dict[str, Any]:
    [inv] = await m.invoices(run)
    assert inv["seller"] == m.seller.authority and inv["buyer"] == m.buyer.authority
    assert inv["total_pence"] == sum(x["amount_pence"] for x in inv["lines"])
    assert run["total_pence"] == inv["total_pence"] and run["invoice_count"] == 1
    assert run["line_count"] == len(inv["lines"])
    assert inv["issued_on"] == run["issued_on"] == m.today.isoformat()
    return inv


# -- what a month is charged -----------------------------------------------------------------


async def test_occupancy_is_split_at_each_month_end_and_priced_per_line(http, coop, clock):
    # a weekly rate that 7 does not divide: a month is charge(rate, days), not days × daily
    m = await Market.open(http, coop, date(2026, 1, 25), cost=500_001)
    b = await m.place(0, date(2026, 4, 10))
    rate = b["weekly_rate_pence"]
    assert rate % 7 != 0
    assert charge(rate, 31) != 31 * charge(rate, 1)
    expected = {
        "2026-01": ("2026-01-25", "2026-02-01", 7),
        "2026-02": ("2026-02-01", "2026-03-01", 28),
        "2026-03": ("2026-03-01", "2026-04-01", 31),
    }
    for n, (period, (start, end, days)) in enumerate(expected.items()):
        m.move_to(date(2026, 2 + n, 1))  # the first day after the month: it has ended
        inv = await only_invoice(m, await settled(m, period))
        assert lines_of(inv) == [
            ("occupancy", "occupancy", start, end, days, charge(rate, days))
        ], period
        assert inv["lines"][0]["weekly_rate_pence"] == rate
        assert inv["lines"][0]["month"] == period
        assert inv["period"] == period


async def test_february_of_a_leap_year_has_29_days(http, coop, clock):
    m = await Market.open(http, coop, date(2028, 2, 20))
    stays = await m.place(1, date(2028, 3, 10))
    m.move_to(date(2028, 2, 27))
    leaves = await m.place(0, date(2028, 3, 31), ref="case-2")
    m.move_to(date(2028, 2, 29))
    await m.end(leaves, date(2028, 2, 29))  # notice today: 29 Feb + 28 days = 28 Mar
    rate = stays["weekly_rate_pence"]
    m.move_to(date(2028, 3, 1))
    inv = await only_invoice(m, await settled(m, "2028-02"))
    by_booking = {
        bid: sorted(
            (x["kind"], x["from"], x["to"], x["days"], x["amount_pence"])
            for x in inv["lines"]
            if x["booking_id"] == bid
        )
        for bid in (stays["id"], leaves["id"])
    }
    assert by_booking[stays["id"]] == [
        ("occupancy", "2028-02-20", "2028-03-01", 10, charge(rate, 10))
    ]
    assert by_booking[leaves["id"]] == [
        ("notice", "2028-02-29", "2028-03-01", 1, charge(rate, 1)),
        ("occupancy", "2028-02-27", "2028-02-29", 2, charge(rate, 2)),
    ]
    m.move_to(date(2028, 4, 1))
    inv = await only_invoice(m, await settled(m, "2028-03"))
    assert sorted(
        (x["booking_id"], x["kind"], x["from"], x["to"], x["days"]) for x in inv["lines"]
    ) == sorted(
        [
            (stays["id"], "occupancy", "2028-03-01", "2028-03-10", 9),
            (leaves["id"], "notice", "2028-03-01", "2028-03-28", 27),
        ]
    )


async def test_a_placement_ended_on_its_arrival_day_owes_notice_only(http, coop, clock):
    """No day was occupied, so no occupancy line (not even a 0-day one); the early end still
    owes notice from the end to min(planned end, notice + 28 days) (SPEC §4)."""
    m = await Market.open(http, coop, date(2026, 3, 10))
    long = await m.place(0, date(2026, 5, 1))
    short = await m.place(1, date(2026, 3, 12), ref="case-2")
    await m.end(long, date(2026, 3, 10))
    await m.end(short, date(2026, 3, 10))
    rate = long["weekly_rate_pence"]
    m.move_to(date(2026, 4, 1))
    inv = await only_invoice(m, await settled(m, "2026-03"))
    assert sorted(
        (x["booking_id"], x["kind"], x["from"], x["to"], x["days"]) for x in inv["lines"]
    ) == sorted(
        [
            (long["id"], "notice", "2026-03-10", "2026-04-01", 22),
            (short["id"], "notice", "2026-03-10", "2026-03-12", 2),
        ]
    )
    assert inv["total_pence"] == charge(rate, 22) + charge(rate, 2)
    m.move_to(date(2026, 5, 1))
    inv = await only_invoice(m, await settled(m, "2026-04"))
    assert lines_of(inv) == [("notice", "notice", "2026-04-01", "2026-04-07", 6, charge(rate, 6))]


async def test_early_end_notice_is_charged_in_the_months_it_falls_in(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 10))
    b = await m.place(0, date(2026, 4, 30))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 2, 2))
    inv = await only_invoice(m, await settled(m, "2026-01"))
    assert lines_of(inv) == [
        ("occupancy", "occupancy", "2026-01-10", "2026-02-01", 22, charge(rate, 22))
    ]
    m.move_to(date(2026, 2, 12))
    # leaves on 20 Feb, notice given on 10 Feb: notice until min(30 Apr, 10 Feb + 28 = 10 Mar)
    await m.end(b, date(2026, 2, 20), notice=date(2026, 2, 10))
    m.move_to(date(2026, 3, 1))
    inv = await only_invoice(m, await settled(m, "2026-02"))
    assert lines_of(inv) == [
        ("notice", "notice", "2026-02-20", "2026-03-01", 9, charge(rate, 9)),
        ("occupancy", "occupancy", "2026-02-01", "2026-02-20", 19, charge(rate, 19)),
    ]
    m.move_to(date(2026, 4, 1))
    inv = await only_invoice(m, await settled(m, "2026-03"))
    # the rest of the notice is an ordinary line of March, not an adjustment
    assert lines_of(inv) == [("notice", "notice", "2026-03-01", "2026-03-10", 9, charge(rate, 9))]
    m.move_to(date(2026, 5, 1))
    await m.relog()
    run = await settled(m, "2026-04")
    assert (run["invoice_count"], run["line_count"], run["total_pence"]) == (0, 0, 0)
    assert await m.invoices(run) == []


async def test_cancellation_charges_follow_the_notice_given(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 26), beds=5)
    await m.no_home_window()
    # 3 days' notice (< 7): 7 days from the start, across the month end
    late = await m.book(0, date(2026, 1, 29), date(2026, 3, 1), urgency="within_5_days")
    # 6 days' notice: still charged
    six = await m.book(1, date(2026, 2, 1), date(2026, 3, 1), ref="case-2")
    # exactly 7 days' notice: nothing
    seven = await m.book(2, date(2026, 2, 2), date(2026, 3, 1), ref="case-3")
    # a short stay cancelled late: charged up to its planned end only
    short = await m.book(3, date(2026, 1, 28), date(2026, 1, 31), urgency="within_5_days")
    # confirmed, never cancelled, never arrived: the bed was held, occupancy from the start
    held = await m.book(4, date(2026, 1, 30), date(2026, 2, 3), urgency="within_5_days")
    for b in (late, six, seven, short):
        c = await m.cancel(b)
        assert c["cancelled_on"] == "2026-01-26"
    rate = late["weekly_rate_pence"]
    assert all(b["weekly_rate_pence"] == rate for b in (six, seven, short, held))

    m.move_to(date(2026, 2, 1))
    inv = await only_invoice(m, await settled(m, "2026-01"))
    got = sorted((x["booking_id"], x["kind"], x["from"], x["to"], x["days"]) for x in inv["lines"])
    assert got == sorted(
        [
            (late["id"], "cancellation", "2026-01-29", "2026-02-01", 3),
            (short["id"], "cancellation", "2026-01-28", "2026-01-31", 3),
            (held["id"], "occupancy", "2026-01-30", "2026-02-01", 2),
        ]
    )
    assert inv["total_pence"] == 2 * charge(rate, 3) + charge(rate, 2)
    m.move_to(date(2026, 3, 1))
    inv = await only_invoice(m, await settled(m, "2026-02"))
    got = sorted((x["booking_id"], x["kind"], x["from"], x["to"], x["days"]) for x in inv["lines"])
    assert got == sorted(
        [
            (late["id"], "cancellation", "2026-02-01", "2026-02-05", 4),
            (six["id"], "cancellation", "2026-02-01", "2026-02-08", 7),
            (held["id"], "occupancy", "2026-02-01", "2026-02-03", 2),
        ]
    )
    assert seven["id"] not in {x["booking_id"] for x in inv["lines"]}


async def test_cancellation_terms_are_those_the_booking_was_confirmed_under(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 5))
    r = await http.put(
        f"/regions/{m.region.slug}/policy",
        json={"priority": {"home_window": "PT0S"}, "pricing": {"cancellation_notice_days": 10}},
        headers=m.region.admin.h,
    )
    assert r.status_code == 200, r.text
    b = await m.book(0, date(2026, 1, 13), date(2026, 3, 1))
    await m.cancel(b)  # 8 days' notice: within the 10 of its terms
    r = await http.put(
        f"/regions/{m.region.slug}/policy",
        json={"priority": {"home_window": "PT0S"}, "pricing": {"cancellation_notice_days": 2}},
        headers=m.region.admin.h,
    )
    assert r.status_code == 200, r.text
    m.move_to(date(2026, 2, 1))
    inv = await only_invoice(m, await settled(m, "2026-01"))
    assert lines_of(inv) == [
        (
            "cancellation",
            "cancellation",
            "2026-01-13",
            "2026-01-23",
            10,
            charge(b["weekly_rate_pence"], 10),
        )
    ]


# -- corrections -----------------------------------------------------------------------------


async def test_a_correction_posts_adjustments_and_leaves_closed_invoices_untouched(
    http, coop, clock
):
    m = await Market.open(http, coop, date(2026, 1, 10))
    b = await m.place(0, date(2026, 4, 30))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 2, 2))
    run1 = await settled(m, "2026-01")
    inv1 = await only_invoice(m, run1)
    assert lines_of(inv1) == [
        ("occupancy", "occupancy", "2026-01-10", "2026-02-01", 22, charge(rate, 22))
    ]
    admin = m.region.admin.h
    views = [
        (f"/invoices/{inv1['id']}", admin),
        (f"/invoices/{inv1['id']}", m.buyer.h),
        (f"/invoices/{inv1['id']}", {**admin, "Accept": "text/csv"}),
        (f"/invoices?run_id={run1['id']}", m.seller.h),
        (f"/settlement-runs/{run1['id']}", admin),
        (f"/settlement-runs/{run1['id']}/positions", admin),
        (f"/settlement-runs/{run1['id']}/transfers", admin),
    ]

    async def read_all() -> list[bytes]:
        out = []
        for path, h in views:
            r = await http.get(path, headers=h)
            assert r.status_code == 200, r.text
            out.append(r.content)
        return out

    before = await read_all()

    # the child in fact left on 25 Jan (a month already settled); notice given today (10 Feb)
    m.move_to(date(2026, 2, 10))
    await m.end(b, date(2026, 1, 25))
    m.move_to(date(2026, 3, 1))
    run2 = await settled(m, "2026-02")
    inv2 = await only_invoice(m, run2)
    # notice: 25 Jan .. min(30 Apr, 10 Feb + 28 = 10 Mar)
    assert lines_of(inv2) == sorted(
        [
            # January: 22 days posted, 15 due — the 7 days from 25 Jan taken off
            (
                "adjustment",
                "occupancy",
                "2026-01-25",
                "2026-02-01",
                -7,
                charge(rate, 15) - charge(rate, 22),
            ),
            # January's notice days were never posted: an adjustment too
            ("adjustment", "notice", "2026-01-25", "2026-02-01", 7, charge(rate, 7)),
            ("notice", "notice", "2026-02-01", "2026-03-01", 28, charge(rate, 28)),
        ]
    )
    months = {(x["kind"], x["charge_kind"]): x["month"] for x in inv2["lines"]}
    assert months == {
        ("adjustment", "occupancy"): "2026-01",
        ("adjustment", "notice"): "2026-01",
        ("notice", "notice"): "2026-02",
    }
    # the closed run's invoice, run, positions and transfers: byte for byte as they were
    assert await read_all() == before
    # the whole stay, over both runs, is what the corrected booking owes through February
    total = inv1["total_pence"] + inv2["total_pence"]
    assert total == charge(rate, 15) + charge(rate, 7) + charge(rate, 28)
    m.move_to(date(2026, 4, 1))
    inv3 = await only_invoice(m, await settled(m, "2026-03"))
    assert lines_of(inv3) == [("notice", "notice", "2026-03-01", "2026-03-10", 9, charge(rate, 9))]


async def test_a_later_run_posts_the_skipped_months_as_adjustments(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 25))
    b = await m.place(0, date(2026, 5, 1))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 4, 1))
    inv = await only_invoice(m, await settled(m, "2026-03"))
    assert lines_of(inv) == [
        ("adjustment", "occupancy", "2026-01-25", "2026-02-01", 7, charge(rate, 7)),
        ("adjustment", "occupancy", "2026-02-01", "2026-03-01", 28, charge(rate, 28)),
        ("occupancy", "occupancy", "2026-03-01", "2026-04-01", 31, charge(rate, 31)),
    ]
    # the months skipped are closed now
    before = await snapshot(coop)
    for period in ("2026-01", "2026-02"):
        r = await http.post(
            "/settlement-runs",
            json={"region": m.region.slug, "period": period},
            headers=m.region.admin.h,
        )
        assert_problem(r, 409, "period_closed")
    assert await snapshot(coop) == before


# -- exactly once ----------------------------------------------------------------------------


async def test_asking_again_for_a_settled_month_returns_the_run_and_posts_nothing(
    http, coop, clock
):
    m = await Market.open(http, coop, date(2026, 1, 20))
    await m.place(0, date(2026, 3, 1))
    m.move_to(date(2026, 2, 3))
    run = await settled(m, "2026-01")
    before = await snapshot(coop)
    lines = await count(coop, invoice_lines, invoice_lines.c.run_id == run["id"])
    assert lines == 1
    for _ in range(2):
        r = await http.post(
            "/settlement-runs",
            json={"region": m.region.slug, "period": "2026-01"},
            headers=m.region.admin.h,
        )
        assert r.status_code == 200, r.text
        assert r.json() == run
        outcome = await execute_run(coop.engine, run["id"], clock=coop.clock)
        assert (outcome.status, outcome.lines) == ("completed", 0)
    assert await snapshot(coop) == before
    # the run of a later month posts what is new only
    m.move_to(date(2026, 3, 2))
    run2 = await settled(m, "2026-02")
    assert run2["id"] != run["id"] and run2["line_count"] == 1
    assert await count(coop, invoice_lines, invoice_lines.c.run_id == run["id"]) == 1


async def test_a_worker_dying_mid_run_leaves_nothing_and_the_retry_posts_once(
    http, coop, clock, monkeypatch
):
    m = await Market.open(http, coop, date(2026, 1, 20))
    b = await m.place(0, date(2026, 3, 1))
    m.move_to(date(2026, 2, 3))
    before = await snapshot(coop)
    r = await http.post(
        "/settlement-runs",
        json={"region": m.region.slug, "period": "2026-01"},
        headers=m.region.admin.h,
    )
    assert r.status_code == 201 and r.json()["status"] == "queued", r.text
    run_id = r.json()["id"]
    write = runs_module._write

    async def dies_after_writing(*args: Any, **kwargs: Any) -> int:
        await write(*args, **kwargs)  # everything written, nothing committed
        raise RuntimeError("worker lost")

    monkeypatch.setattr(runs_module, "_write", dies_after_writing)
    with pytest.raises(RuntimeError, match="worker lost"):
        await execute_run(coop.engine, run_id, clock=coop.clock)
    monkeypatch.undo()
    r = await http.get(f"/settlement-runs/{run_id}", headers=m.region.admin.h)
    failed = r.json()
    assert (failed["status"], failed["attempts"]) == ("failed", 1), failed
    assert "worker lost" in failed["error"]
    # a council's finance officer sees that it failed, not why (nor the region's totals)
    r = await http.get(f"/settlement-runs/{run_id}", headers=m.buyer.h)
    assert r.json() == {
        **failed,
        "error": None,
        "invoice_count": None,
        "line_count": None,
        "total_pence": None,
    }
    after = await snapshot(coop)
    assert {k: v for k, v in after.items() if k != "settlement_runs"} == {
        k: v for k, v in before.items() if k != "settlement_runs"
    }
    await assert_ledger_balanced(coop)
    # the retry (arq's, or someone asking again) carries it out once
    r = await http.post(
        "/settlement-runs",
        json={"region": m.region.slug, "period": "2026-01"},
        headers=m.region.admin.h,
    )
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    assert r.json()["id"] == run_id
    outcome = await execute_run(coop.engine, run_id, clock=coop.clock)
    assert (outcome.status, outcome.lines) == ("completed", 1)
    r = await http.get(f"/settlement-runs/{run_id}", headers=m.region.admin.h)
    run = r.json()
    assert (run["status"], run["error"], run["line_count"]) == ("completed", None, 1)
    [inv] = await m.invoices(run)
    assert lines_of(inv) == [
        (
            "occupancy",
            "occupancy",
            "2026-01-20",
            "2026-02-01",
            12,
            charge(b["weekly_rate_pence"], 12),
        )
    ]
    await assert_ledger_balanced(coop)


async def test_two_workers_on_one_run_post_it_once(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 20))
    await m.place(0, date(2026, 3, 1))
    await m.place(1, date(2026, 3, 1), ref="case-2")
    m.move_to(date(2026, 2, 3))
    r = await http.post(
        "/settlement-runs",
        json={"region": m.region.slug, "period": "2026-01"},
        headers=m.region.admin.h,
    )
    run_id = r.json()["id"]
    outcomes = await asyncio.gather(
        *(execute_run(coop.engine, run_id, clock=coop.clock) for _ in range(3))
    )
    assert sum(o.lines for o in outcomes) == 2, outcomes
    assert {o.status for o in outcomes} <= {"completed", "busy"}
    # whatever stepped aside, one more attempt finds the run completed
    final = await execute_run(coop.engine, run_id, clock=coop.clock)
    assert final.status == "completed"
    assert await count(coop, invoice_lines, invoice_lines.c.run_id == run_id) == 2
    await assert_ledger_balanced(coop)


# -- refusals --------------------------------------------------------------------------------


async def test_refused_requests_change_nothing(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 1, 20))
    await m.place(0, date(2026, 4, 1))
    m.move_to(date(2026, 3, 5))
    await settled(m, "2026-02")
    admin = m.region.admin.h
    slug = m.region.slug
    before = await snapshot(coop)
    runs_before = await count(coop, settlement_runs, settlement_runs.c.region == slug)

    async def ask(period: str, headers: dict[str, str] = admin, region: str = slug) -> Any:
        return await http.post(
            "/settlement-runs", json={"region": region, "period": period}, headers=headers
        )

    for bad in ("2026-13", "26-01", "2026-1", "2026-00", "2026-02-01", "", "2026/02"):
        r = await ask(bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # the month still running, and one not begun
    assert_problem(await ask("2026-03"), 422, "period_open")
    assert_problem(await ask("2026-07"), 422, "period_open")
    # before the latest completed run
    body = assert_problem(await ask("2026-01"), 409, "period_closed")
    assert "2026-02" in body["detail"]
    # another region's admin, and an authority of this one
    other = await Market.open(http, coop, date(2026, 3, 5))
    assert_problem(await ask("2026-02", other.region.admin.h), 403, "other_region")
    assert_problem(await ask("2026-02", m.buyer.h), 403, "insufficient_scope")
    r = await http.post("/settlement-runs", json={"region": slug, "period": "2026-02"})
    assert r.status_code == 401
    assert await snapshot(coop) == before
    assert await count(coop, settlement_runs, settlement_runs.c.region == slug) == runs_before
    assert await count(coop, postings) == before["postings"]


async def test_months_are_carried_out_in_order_and_opened_forward(http, coop, clock):
    """February and March asked for, March's job first (a job retried late): March waits
    (busy, nothing posted) until February is carried out. Once a later month is queued or
    settled, asking for an earlier one is 409 ``period_closed``: it could never complete."""
    m = await Market.open(http, coop, date(2026, 1, 20))
    b = await m.place(0, date(2026, 5, 1))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 4, 2))
    h, slug = m.region.admin.h, m.region.slug

    async def ask(period: str) -> Any:
        return await http.post(
            "/settlement-runs", json={"region": slug, "period": period}, headers=h
        )

    feb = (await ask("2026-02")).json()
    mar = (await ask("2026-03")).json()
    assert (feb["status"], mar["status"]) == ("queued", "queued")
    before = await snapshot(coop)
    assert (await execute_run(coop.engine, mar["id"], clock=coop.clock)).status == "busy"
    assert await snapshot(coop) == before
    assert (await http.get(f"/settlement-runs/{mar['id']}", headers=h)).json() == mar
    r = await ask("2026-01")  # before a queued month
    assert_problem(r, 409, "period_closed")
    assert r.json()["latest_period"] == "2026-03"
    assert await snapshot(coop) == before
    assert (await execute_run(coop.engine, feb["id"], clock=coop.clock)).status == "completed"
    assert (await execute_run(coop.engine, mar["id"], clock=coop.clock)).status == "completed"
    feb = (await http.get(f"/settlement-runs/{feb['id']}", headers=h)).json()
    mar = (await http.get(f"/settlement-runs/{mar['id']}", headers=h)).json()
    assert lines_of(await only_invoice(m, feb)) == [
        ("adjustment", "occupancy", "2026-01-20", "2026-02-01", 12, charge(rate, 12)),
        ("occupancy", "occupancy", "2026-02-01", "2026-03-01", 28, charge(rate, 28)),
    ]
    assert lines_of(await only_invoice(m, mar)) == [
        ("occupancy", "occupancy", "2026-03-01", "2026-04-01", 31, charge(rate, 31)),
    ]
    assert_problem(await ask("2026-01"), 409, "period_closed")
    await assert_ledger_balanced(coop)


async def test_a_late_arrival_moves_the_occupancy_to_the_day_the_child_came(http, coop, clock):
    """A confirmed booking is charged from its planned start while nobody has arrived; once
    the arrival is recorded, occupancy runs from the actual start (SPEC §4), and what an
    earlier run charged for the days before it is taken back as an adjustment."""
    m = await Market.open(http, coop, date(2026, 1, 20))
    await m.no_home_window()
    b = await m.book(0, date(2026, 1, 28), date(2026, 3, 31))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 2, 1))
    inv = await only_invoice(m, await settled(m, "2026-01"))
    assert lines_of(inv) == [
        ("occupancy", "occupancy", "2026-01-28", "2026-02-01", 4, charge(rate, 4))
    ]
    m.move_to(date(2026, 2, 3))
    r = await http.post(
        f"/bookings/{b['id']}/start", json={"date": "2026-02-03"}, headers=m.seller.h
    )
    assert r.status_code == 200, r.text
    m.move_to(date(2026, 3, 1))
    inv = await only_invoice(m, await settled(m, "2026-02"))
    assert lines_of(inv) == [
        ("adjustment", "occupancy", "2026-01-28", "2026-02-01", -4, -charge(rate, 4)),
        ("occupancy", "occupancy", "2026-02-03", "2026-03-01", 26, charge(rate, 26)),
    ]


async def test_a_late_import_is_posted_as_adjustments_of_the_next_run(http, coop, clock):
    """Placements recorded after their months were settled (SPEC §4: "a late import"): the
    next run posts their earlier days as adjustment lines, its own month as ordinary ones."""
    m = await Market.open(http, coop, date(2026, 1, 5))
    await m.place(0, date(2026, 3, 1))
    m.move_to(date(2026, 2, 2))
    run1 = await settled(m, "2026-01")
    assert run1["line_count"] == 1
    rate = 612_345
    row = {"requester": m.buyer.authority, "child": {"ref": "old-1", "age": 12, "gender": "female"}}
    r = await http.post(
        "/bookings/import",
        json=[
            # living there since December: two settled months of days nobody was charged
            {
                **row,
                "bed_id": m.home["beds"][1]["id"],
                "start_date": "2025-12-15",
                "end_date": "2026-06-01",
                "weekly_rate_pence": rate,
                "status": "active",
            },
            # over in January, left early with notice on its last day: notice to 14 Feb
            {
                **row,
                "bed_id": m.home["beds"][2]["id"],
                "start_date": "2026-01-03",
                "end_date": "2026-02-28",
                "actual_end_date": "2026-01-17",
                "weekly_rate_pence": rate,
                "status": "ended",
            },
        ],
        headers=m.region.admin.h,
    )
    assert r.status_code == 201, r.text
    active, ended = (b["id"] for b in r.json())
    m.move_to(date(2026, 3, 1))
    run2 = await settled(m, "2026-02")
    inv = await only_invoice(m, run2)
    got = sorted(
        (x["booking_id"], x["kind"], x["charge_kind"], x["month"], x["from"], x["to"], x["days"])
        for x in inv["lines"]
        if x["booking_id"] in (active, ended)
    )
    assert got == sorted(
        [
            (active, "adjustment", "occupancy", "2025-12", "2025-12-15", "2026-01-01", 17),
            (active, "adjustment", "occupancy", "2026-01", "2026-01-01", "2026-02-01", 31),
            (active, "occupancy", "occupancy", "2026-02", "2026-02-01", "2026-03-01", 28),
            (ended, "adjustment", "occupancy", "2026-01", "2026-01-03", "2026-01-17", 14),
            (ended, "adjustment", "notice", "2026-01", "2026-01-17", "2026-02-01", 15),
            (ended, "notice", "notice", "2026-02", "2026-02-01", "2026-02-14", 13),
        ]
    )
    for x in inv["lines"]:
        if x["booking_id"] in (active, ended):
            assert x["amount_pence"] == charge(rate, x["days"])


async def test_notice_already_served_by_the_end_day_owes_nothing_more(http, coop, clock):
    m = await Market.open(http, coop, date(2026, 3, 10))
    b = await m.place(0, date(2026, 5, 1))
    rate = b["weekly_rate_pence"]
    # notice today, the child leaves 28 days later: the notice is served by then
    await m.end(b, date(2026, 4, 7))
    m.move_to(date(2026, 4, 1))
    inv = await only_invoice(m, await settled(m, "2026-03"))
    assert lines_of(inv) == [
        ("occupancy", "occupancy", "2026-03-10", "2026-04-01", 22, charge(rate, 22))
    ]
    m.move_to(date(2026, 5, 1))
    inv = await only_invoice(m, await settled(m, "2026-04"))
    assert lines_of(inv) == [
        ("occupancy", "occupancy", "2026-04-01", "2026-04-07", 6, charge(rate, 6))
    ]


async def test_a_correction_that_takes_money_back_is_a_credit_the_seller_pays(http, coop, clock):
    """A confirmed booking charged for January as held; the child only arrives on 20 February
    (SPEC §4: occupancy runs from the actual start), so January's 22 days are taken back and
    only February's last 9 are due. The February invoice is negative, the seller's position
    is negative and the seller pays the buyer back."""
    m = await Market.open(http, coop, date(2026, 1, 5))
    await m.no_home_window()
    b = await m.book(0, date(2026, 1, 10), date(2026, 3, 31))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 2, 1))
    inv1 = await only_invoice(m, await settled(m, "2026-01"))
    assert lines_of(inv1) == [
        ("occupancy", "occupancy", "2026-01-10", "2026-02-01", 22, charge(rate, 22))
    ]
    m.move_to(date(2026, 2, 20))
    r = await http.post(
        f"/bookings/{b['id']}/start", json={"date": "2026-02-20"}, headers=m.seller.h
    )
    assert r.status_code == 200, r.text
    m.move_to(date(2026, 3, 1))
    run2 = await settled(m, "2026-02")
    inv2 = await only_invoice(m, run2)
    assert lines_of(inv2) == sorted(
        [
            ("adjustment", "occupancy", "2026-01-10", "2026-02-01", -22, -charge(rate, 22)),
            ("occupancy", "occupancy", "2026-02-20", "2026-03-01", 9, charge(rate, 9)),
        ]
    )
    credit = charge(rate, 22) - charge(rate, 9)
    assert inv2["total_pence"] == -credit
    admin = m.region.admin.h
    r = await http.get(f"/settlement-runs/{run2['id']}/positions", headers=admin)
    assert {p["authority"]: p["net_pence"] for p in r.json()} == {
        m.seller.authority: -credit,
        m.buyer.authority: credit,
    }
    r = await http.get(f"/settlement-runs/{run2['id']}/transfers", headers=admin)
    assert r.json() == [
        {"from": m.seller.authority, "to": m.buyer.authority, "amount_pence": credit}
    ]
    # the buyer's statement: charged, then credited back
    r = await http.get(
        f"/authorities/{m.buyer.authority}/statement?from=2026-01-01&to=2026-04-01",
        headers=m.buyer.h,
    )
    st = r.json()
    assert [(x["kind"], x["amount_pence"]) for x in st["lines"]] == [
        ("invoice_received", -inv1["total_pence"]),
        ("invoice_received", credit),
    ]
    assert st["closing_pence"] == -charge(rate, 9)


async def test_a_cancellation_after_the_start_never_refunds_the_days_held(http, coop, clock):
    """Confirmed from 20 January, January invoiced as held; the child never comes and the buyer
    cancels on 25 February. The held days stay charged (January untouched, February up to the
    cancellation) and the cancellation notice runs from that day, into March."""
    m = await Market.open(http, coop, date(2026, 1, 15))
    await m.no_home_window()
    b = await m.book(0, date(2026, 1, 20), date(2026, 6, 1))
    rate = b["weekly_rate_pence"]
    m.move_to(date(2026, 2, 1))
    inv1 = await only_invoice(m, await settled(m, "2026-01"))
    assert lines_of(inv1) == [
        ("occupancy", "occupancy", "2026-01-20", "2026-02-01", 12, charge(rate, 12))
    ]
    m.move_to(date(2026, 2, 25))
    await m.cancel(b)
    m.move_to(date(2026, 3, 1))
    inv2 = await only_invoice(m, await settled(m, "2026-02"))
    assert lines_of(inv2) == sorted(
        [
            ("occupancy", "occupancy", "2026-02-01", "2026-02-25", 24, charge(rate, 24)),
            ("cancellation", "cancellation", "2026-02-25", "2026-03-01", 4, charge(rate, 4)),
        ]
    )
    m.move_to(date(2026, 4, 1))
    inv3 = await only_invoice(m, await settled(m, "2026-03"))
    assert lines_of(inv3) == [
        ("cancellation", "cancellation", "2026-03-01", "2026-03-04", 3, charge(rate, 3))
    ]
