"""Capacity on a day, on a home whose four beds are each in a different state."""

from __future__ import annotations

from datetime import date

from tests.settlement.support import Market


async def test_four_beds_four_states(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 3, 2))
    await m.place(0, date(2026, 6, 1))  # bed 0: the buyer's child lives there (sold)
    r = await http.patch(
        f"/beds/{m.home['beds'][1]['id']}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing", "version": 1},
        headers=m.seller.h,
    )
    assert r.status_code == 200, r.text
    await m.region.void(m.seller, m.home["beds"][2]["id"])  # bed 2 offered; bed 3 not
    r = await http.get(
        f"/reports/capacity?region={m.region.slug}&on=2026-03-02", headers=m.region.admin.h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    totals = body["totals"]
    assert totals["registered"] == 4 and totals["operational"] == 3, totals
    assert totals["out_of_use"]["staffing"] == 1
    assert (totals["occupied_sold"], totals["vacant_offered"], totals["vacant_not_offered"]) == (
        1,
        1,
        1,
    )
    assert totals["occupancy_pct"] == 33.3
    # the day before the home existed: nothing registered
    r = await http.get(
        f"/reports/capacity?region={m.region.slug}&on=2026-03-01", headers=m.region.admin.h
    )
    assert r.json()["totals"]["registered"] == 0
    r = await http.get(
        f"/reports/capacity/series?region={m.region.slug}&from=2026-03-01&to=2026-05-01",
        headers=m.region.admin.h,
    )
    assert r.status_code == 200, r.text
    march, april = r.json()["rows"]
    assert march["registered"] == 4 * 30 and march["occupied_sold"] == 30, march
    assert april["registered"] == 120 and april["out_of_use"]["staffing"] == 30, april
