"""Capacity on a day, on a home whose four beds are each in a different state."""

from __future__ import annotations

import csv
import io
from datetime import date

from tests.settlement.support import Market
from tests.support import assert_problem


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


async def _four_states(http, coop) -> Market:
    """One home of four beds on 2 March 2026: bed 0 sold (the buyer's child arrived), bed 1
    out of use for staffing, bed 2 offered in a void; bed 3 offered in a void too, and booked
    (`confirmed`) from 10 March to 10 April."""
    m = await Market.open(http, coop, date(2026, 3, 2))
    await m.place(0, date(2026, 6, 1))
    r = await http.patch(
        f"/beds/{m.home['beds'][1]['id']}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing", "version": 1},
        headers=m.seller.h,
    )
    assert r.status_code == 200, r.text
    await m.region.void(m.seller, m.home["beds"][2]["id"])
    await m.no_home_window()
    await m.book(3, date(2026, 3, 10), date(2026, 4, 10))
    return m


def _csv(r) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8", r.headers
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(r.text)))


FIGURES = ["registered", "operational", "occupied_own", "occupied_sold", "reserved"]
FIGURES += ["vacant_offered", "vacant_not_offered"]


def _same(row: dict[str, str], figures: dict) -> None:
    for key in FIGURES:
        assert int(row[key]) == figures[key], key
    for reason, n in figures["out_of_use"].items():
        assert int(row[f"out_of_use_{reason}"]) == n
    pct = figures["occupancy_pct"]
    assert row["occupancy_pct"] == ("" if pct is None else f"{pct:.1f}")


async def test_reserved_from_the_start_of_a_confirmed_booking(http, coop, clock) -> None:
    m = await _four_states(http, coop)
    h = m.region.admin.h
    base = f"/reports/capacity?region={m.region.slug}"
    before = (await http.get(f"{base}&on=2026-03-09", headers=h)).json()["totals"]
    during = (await http.get(f"{base}&on=2026-03-10", headers=h)).json()["totals"]
    # bed 3: on the 9th still offered by the open-ended void the booking was made through
    # (a booking holds only its own days); reserved on the 10th: the child has not arrived
    assert (before["reserved"], before["vacant_offered"]) == (0, 2), before
    assert (during["reserved"], during["vacant_offered"]) == (1, 1), during


async def test_an_authority_sees_its_own_rows_and_the_totals(http, coop, clock) -> None:
    m = await _four_states(http, coop)
    url = f"/reports/capacity?region={m.region.slug}&on=2026-03-02"
    region_view = (await http.get(url, headers=m.region.admin.h)).json()
    assert sorted(r["authority"] for r in region_view["rows"]) == sorted(
        [m.seller.authority, m.buyer.authority]
    )
    seller = (await http.get(url, headers=m.seller.h)).json()
    buyer = (await http.get(url, headers=m.buyer.h)).json()
    assert [r["authority"] for r in seller["rows"]] == [m.seller.authority]
    assert [h["home_id"] for h in seller["rows"][0]["homes"]] == [m.home["id"]]
    # the buyer owns no home: its row is empty, and it does not see the seller's homes
    assert [r["authority"] for r in buyer["rows"]] == [m.buyer.authority]
    assert buyer["rows"][0]["homes"] == [] and buyer["rows"][0]["registered"] == 0
    assert seller["totals"] == buyer["totals"] == region_view["totals"]
    # the series: the region's for everyone, one authority's only for itself
    series = (
        f"/reports/capacity/series?from=2026-03-01&to=2026-04-01&authority={m.seller.authority}"
    )
    assert (await http.get(series, headers=m.seller.h)).status_code == 200
    r = await http.get(series, headers=m.buyer.h)
    assert_problem(r, 403, "other_authority")


async def test_nobody_reads_another_region(http, coop, clock) -> None:
    m = await _four_states(http, coop)
    other = await Market.open(http, coop, date(2026, 3, 2))
    for path in (
        f"/reports/capacity?region={other.region.slug}",
        f"/reports/capacity/series?region={other.region.slug}&from=2026-03-01&to=2026-04-01",
    ):
        assert_problem(await http.get(path, headers=m.region.admin.h), 403, "other_region")
        assert_problem(await http.get(path, headers=m.seller.h), 403, "other_region")
    # a client without reports:read
    market_only = await m.region.client(m.seller.authority, ["market:read"])
    r = await http.get("/reports/capacity", headers=market_only.h)
    assert_problem(r, 403, "insufficient_scope")


async def test_bad_ranges_are_refused(http, coop, clock) -> None:
    m = await _four_states(http, coop)
    h = m.region.admin.h
    base = "/reports/capacity/series"
    assert_problem(
        await http.get(f"{base}?from=2026-03-01&to=2026-03-01", headers=h), 422, "validation_error"
    )
    assert_problem(
        await http.get(f"{base}?from=2000-01-01&to=2026-03-01", headers=h), 422, "range_too_long"
    )
    assert_problem(
        await http.get(f"{base}?from=2026-01-01&to=2026-03-01&step=day", headers=h),
        422,
        "validation_error",
    )
    assert_problem(
        await http.get("/reports/capacity?on=2026-02-30", headers=h), 422, "validation_error"
    )


async def test_csv_parses_back_to_the_json(http, coop, clock) -> None:
    m = await _four_states(http, coop)
    h = m.region.admin.h
    url = f"/reports/capacity?region={m.region.slug}&on=2026-03-12"
    body = (await http.get(url, headers=h)).json()
    rows = _csv(await http.get(url, headers={**h, "Accept": "text/csv"}))
    expect = []
    for a in body["rows"]:
        expect.append(("authority", a["authority"], "", a))
        expect += [("home", a["authority"], x["home_id"], x) for x in a["homes"]]
    expect.append(("region", m.region.slug, "", body["totals"]))
    assert len(rows) == len(expect)
    for row, (level, authority, home_id, figures) in zip(rows, expect, strict=True):
        assert (row["level"], row["authority"], row["home_id"]) == (level, authority, home_id)
        _same(row, figures)
    url = "/reports/capacity/series?from=2026-03-01&to=2026-05-01&step=week"
    body = (await http.get(url, headers=h)).json()
    rows = _csv(await http.get(url, headers={**h, "Accept": "text/csv"}))
    assert [(r["from"], r["to"], int(r["days"])) for r in rows] == [
        (s["from"], s["to"], s["days"]) for s in body["rows"]
    ]
    for row, step in zip(rows, body["rows"], strict=True):
        _same(row, step)


async def test_a_bed_is_registered_while_its_home_is_open(http, coop, clock) -> None:
    """The beds' history follows the API's changes day by day: a bed added on the 3rd, the
    home closed on the 5th and reopened on the 7th, a bed out of use from the 6th (while the
    home was closed) — it comes back out of use."""
    m = await Market.open(http, coop, date(2026, 3, 2), beds=1)
    h = m.region.admin.h
    m.move_to(date(2026, 3, 3))
    r = await http.post(f"/homes/{m.home['id']}/beds", json={"label": "B9"}, headers=m.seller.h)
    assert r.status_code == 201, r.text
    new_bed = r.json()

    async def patch_home(status: str) -> None:
        home = (await http.get(f"/homes/{m.home['id']}", headers=m.seller.h)).json()
        r = await http.patch(
            f"/homes/{m.home['id']}",
            json={"status": status, "version": home["version"]},
            headers=m.seller.h,
        )
        assert r.status_code == 200, r.text

    m.move_to(date(2026, 3, 5))
    await patch_home("closed")
    m.move_to(date(2026, 3, 6))
    r = await http.patch(
        f"/beds/{new_bed['id']}",
        json={"status": "out_of_use", "out_of_use_reason": "maintenance", "version": 1},
        headers=m.seller.h,
    )
    assert r.status_code == 200, r.text
    m.move_to(date(2026, 3, 7))
    await patch_home("open")
    seen = {}
    for day in range(2, 9):
        r = await http.get(
            f"/reports/capacity?region={m.region.slug}&on=2026-03-{day:02d}", headers=h
        )
        t = r.json()["totals"]
        seen[day] = (t["registered"], t["out_of_use"]["maintenance"])
    assert seen == {
        2: (1, 0),
        3: (2, 0),
        4: (2, 0),
        5: (0, 0),  # closed
        6: (0, 0),
        7: (2, 1),  # reopened, the new bed still out of use
        8: (2, 1),
    }, seen


async def test_a_late_arrival_leaves_its_waiting_days_reserved(http, coop, clock) -> None:
    """A placement confirmed from 10 March whose child arrived on the 12th: the bed was held
    for the child on the 10th and 11th (reserved), lived in from the 12th (sold). Recording
    the arrival does not rewrite those days."""
    m = await Market.open(http, coop, date(2026, 3, 2), beds=1)
    await m.no_home_window()
    booking = await m.book(0, date(2026, 3, 10), date(2026, 5, 1))
    m.move_to(date(2026, 3, 12))
    r = await http.post(
        f"/bookings/{booking['id']}/start", json={"date": "2026-03-12"}, headers=m.seller.h
    )
    assert r.status_code == 200, r.text
    h = m.region.admin.h
    seen = {}
    for day in (9, 10, 11, 12):
        r = await http.get(
            f"/reports/capacity?region={m.region.slug}&on=2026-03-{day:02d}", headers=h
        )
        t = r.json()["totals"]
        seen[day] = (t["vacant_offered"], t["reserved"], t["occupied_sold"])
    assert seen == {9: (1, 0, 0), 10: (0, 1, 0), 11: (0, 1, 0), 12: (0, 0, 1)}, seen
    r = await http.get(
        f"/reports/capacity/series?region={m.region.slug}&from=2026-03-09&to=2026-03-16&step=week",
        headers=h,
    )
    [week] = r.json()["rows"]
    assert (week["vacant_offered"], week["reserved"], week["occupied_sold"]) == (1, 2, 4), week
