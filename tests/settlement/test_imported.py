"""Placements recorded with `POST /bookings/import` are settled like any other booking: the
days of months before the run's are `adjustment` lines of the run that first posts them."""

from __future__ import annotations

from datetime import date

from coop.policy.money import charge
from tests.settlement.support import Market
from tests.support import child

RATE = 700_000


async def test_an_imported_placement_is_charged_from_its_start_with_adjustments_first(
    http, coop, clock
) -> None:
    m = await Market.open(http, coop, date(2026, 3, 10))
    bed = m.home["beds"][1]["id"]
    rows = [
        {
            "requester": m.buyer.authority,
            "bed_id": bed,
            "child": child(ref="imported-1"),
            "start_date": "2026-01-15",
            "end_date": "2026-12-31",
            "weekly_rate_pence": RATE,
            "status": "active",
        },
        {  # an owner's own placement: never charged
            "requester": m.seller.authority,
            "bed_id": m.home["beds"][2]["id"],
            "child": child(ref="own-1"),
            "start_date": "2026-01-01",
            "end_date": "2026-02-10",
            "actual_end_date": "2026-02-10",
            "weekly_rate_pence": RATE,
            "status": "ended",
        },
    ]
    r = await http.post("/bookings/import", json=rows, headers=m.region.admin.h)
    assert r.status_code == 201, r.text
    booking_id = r.json()[0]["id"]
    run = await m.settle("2026-02")
    [invoice] = await m.invoices(run)
    assert (invoice["seller"], invoice["buyer"]) == (m.seller.authority, m.buyer.authority)
    lines = [
        (x["booking_id"], x["kind"], x["from"], x["to"], x["days"], x["amount_pence"])
        for x in invoice["lines"]
    ]
    assert lines == [
        (booking_id, "adjustment", "2026-01-15", "2026-02-01", 17, charge(RATE, 17)),
        (booking_id, "occupancy", "2026-02-01", "2026-03-01", 28, charge(RATE, 28)),
    ]
    assert {x["child_ref"] for x in invoice["lines"]} == {"imported-1"}
    assert invoice["total_pence"] == charge(RATE, 17) + charge(RATE, 28)
