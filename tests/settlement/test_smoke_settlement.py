from __future__ import annotations

from datetime import date

from coop.policy.money import charge
from tests.settlement.support import Market


async def test_a_month_settles(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 1, 25))
    b = await m.place(0, date(2026, 4, 1))
    m.move_to(date(2026, 2, 2))
    run = await m.settle("2026-01")
    assert run["status"] == "completed", run
    [inv] = await m.invoices(run)
    rate = b["weekly_rate_pence"]
    assert inv["total_pence"] == charge(rate, 7)
    assert [(x["kind"], x["days"]) for x in inv["lines"]] == [("occupancy", 7)]
    m.move_to(date(2026, 3, 2))
    await m.end(b, date(2026, 2, 20), notice=date(2026, 2, 10))
    run2 = await m.settle("2026-02")
    [inv2] = await m.invoices(run2)
    # occupancy 1-20 Feb: 19 days; notice from 20 Feb to min(1 Apr, 10 Feb + 28 = 10 Mar),
    # of which February's 9 days are charged now
    assert [(x["kind"], x["days"]) for x in inv2["lines"]] == [("occupancy", 19), ("notice", 9)]
    r = await http.get(f"/settlement-runs/{run2['id']}/transfers", headers=m.region.admin.h)
    assert r.json() == [
        {"from": m.buyer.authority, "to": m.seller.authority, "amount_pence": inv2["total_pence"]}
    ]
    r = await http.get(
        f"/authorities/{m.buyer.authority}/statement?from=2026-01-01&to=2026-04-01",
        headers=m.buyer.h,
    )
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["closing_pence"] == -(inv["total_pence"] + inv2["total_pence"]), st
