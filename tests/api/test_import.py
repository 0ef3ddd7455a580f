"""``POST /bookings/import``: placements that already exist, recorded all or nothing (SPEC §4
"Placements that already exist", §5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from coop.db.schema import booking_events, bookings
from tests.support import Actor, Region, assert_problem, child, count

IMPORT = "/bookings/import"


def placement(
    requester: Actor,
    bed_id: str,
    region: Region,
    *,
    start: int,
    end: int,
    status: str = "active",
    actual_end: int | None = None,
    notice: int | None = None,
    rate: int = 612_345,
    **kid: Any,
) -> dict[str, Any]:
    """One import row; dates are days from today."""
    body: dict[str, Any] = {
        "requester": requester.authority,
        "bed_id": bed_id,
        "child": child(**kid),
        "start_date": region.day(start),
        "end_date": region.day(end),
        "weekly_rate_pence": rate,
        "status": status,
    }
    if actual_end is not None:
        body["actual_end_date"] = region.day(actual_end)
    if notice is not None:
        body["notice_date"] = region.day(notice)
    return body


async def setup(region: Region) -> tuple[Actor, Actor, dict[str, Any]]:
    """An owner with a two-bed home, and a buyer."""
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    return owner, buyer, home


async def in_region(region: Region) -> tuple[int, int]:
    """Bookings of the region, and events of any booking (nothing may be written)."""
    return (
        await count(region.coop, bookings, bookings.c.region == region.slug),
        await count(region.coop, booking_events),
    )


async def do_import(
    http: httpx.AsyncClient, region: Region, rows: list[dict[str, Any]], **headers: str
) -> httpx.Response:
    return await http.post(IMPORT, json=rows, headers={**region.admin.h, **headers})


async def test_active_and_ended_placements_become_bookings_both_sides_can_read(region, http, clock):
    owner, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    rows = [
        placement(buyer, bed_a, region, start=-30, end=60, rate=600_000),
        placement(
            buyer, bed_b, region, start=-100, end=-5, status="ended", actual_end=-20, notice=-40
        ),
        # an ended placement's notice defaults to its end; it may follow another on the bed
        placement(buyer, bed_b, region, start=-20, end=10, status="ended", actual_end=-1),
    ]
    r = await do_import(http, region, rows)
    assert r.status_code == 201, r.text
    active, ended, ended_2 = r.json()
    assert [b["status"] for b in r.json()] == ["active", "ended", "ended"]
    now = clock.now()
    for b, row in zip(r.json(), rows, strict=True):
        assert b["requester"] == buyer.authority and b["owner"] == owner.authority
        assert b["bed_id"] == row["bed_id"] and b["home_id"] == home["id"]
        assert b["status_reason"] == "imported"
        assert b["urgency"] == "planned" and b["void_id"] is None
        assert b["start_date"] == b["actual_start_date"] == row["start_date"]
        assert b["end_date"] == row["end_date"]
        assert b["weekly_rate_pence"] == row["weekly_rate_pence"]
        assert b["price_breakdown"] is None and b["max_weekly_price_pence"] is None
        assert b["policy_version"] == 0  # the region's defaults are in force
        assert b["child"]["ref"] == "case-0042"
        assert b["offered_at"] is None and b["cancelled_on"] is None
        for at in ("created_at", "updated_at", "decide_at"):
            assert b[at].startswith(now.strftime("%Y-%m-%dT%H:%M:%S")), (at, b[at])
    assert (active["actual_end_date"], active["notice_date"]) == (None, None)
    assert (ended["actual_end_date"], ended["notice_date"]) == (region.day(-20), region.day(-40))
    assert (ended_2["actual_end_date"], ended_2["notice_date"]) == (region.day(-1), region.day(-1))

    for actor in (buyer, owner):
        for b in r.json():
            got = await http.get(f"/bookings/{b['id']}", headers=actor.h)
            assert got.status_code == 200, got.text
            assert got.json() == b
            events = await http.get(f"/bookings/{b['id']}/events", headers=actor.h)
            assert events.status_code == 200, events.text
            (event,) = events.json()
            assert event["actor"] == f"client:{region.admin.client_id}"
            assert event["actor_authority"] is None
            assert (event["from_status"], event["to_status"], event["reason"]) == (
                None,
                b["status"],
                "imported",
            )
    listed = await http.get("/bookings", params={"role": "requester"}, headers=buyer.h)
    assert {b["id"] for b in listed.json()["items"]} == {b["id"] for b in r.json()}


async def test_past_dates_years_back_are_allowed(region, http):
    _, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    rows = [
        placement(buyer, bed_a, region, start=-3000, end=-2500, status="ended", actual_end=-2600),
        placement(buyer, bed_a, region, start=-900, end=400),
        placement(buyer, bed_b, region, start=-1, end=1, status="ended", actual_end=-1),
    ]
    r = await do_import(http, region, rows)
    assert r.status_code == 201, r.text
    assert [b["start_date"] for b in r.json()] == [
        region.day(-3000),
        region.day(-900),
        region.day(-1),
    ]
    # an ended placement that ended the day it started holds no day of the bed
    assert r.json()[2]["actual_end_date"] == region.day(-1)


async def test_a_bad_file_is_refused_whole_listing_every_bad_row(region, http):
    owner, buyer, home = await setup(region)
    other = await Region.create(http, region.coop)
    stranger = await other.authority("far")
    far_home = await other.home(stranger)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    before = await in_region(region)
    rows = [
        placement(buyer, bed_a, region, start=-30, end=60),  # 1: good
        placement(buyer, bed_b, region, start=-30, end=60, age="twelve"),  # 2: malformed
        placement(buyer, bed_b, region, start=-10, end=-20),  # 3: ends before it starts
        placement(buyer, "bed_nope", region, start=-10, end=20),  # 4: no such bed
        placement(stranger, bed_b, region, start=-10, end=20),  # 5: another region's council
        placement(buyer, bed_b, region, start=3, end=20),  # 6: active, not started
        placement(buyer, bed_b, region, start=-90, end=-40, status="ended"),  # 7: no end
        {**placement(buyer, bed_b, region, start=-9, end=9), "child": None},  # 8: malformed
        placement(buyer, far_home["beds"][0]["id"], region, start=-9, end=9),  # 9: far bed
        placement(owner, bed_b, region, start=-9, end=9, rate=10_000_001),  # 10: rate too high
        placement(buyer, bed_b, region, start=-9, end=9, actual_end=-1),  # 11: active, ended
        "not a row",  # 12
        {**placement(buyer, bed_b, region, start=-9, end=9), "colour": "red"},  # 13
    ]
    r = await do_import(http, region, rows)
    body = assert_problem(r, 422, "validation_error")
    found = {(e["row"], e["field"], e["code"]) for e in body["errors"]}
    assert found == {
        (2, "child.age", "wrong_type"),
        (3, "end_date", "invalid"),
        (4, "bed_id", "unknown_bed"),
        (5, "requester", "unknown_authority"),
        (6, "start_date", "start_in_future"),
        (7, "actual_end_date", "required"),
        (8, "child", "wrong_type"),
        (9, "bed_id", "unknown_bed"),
        (10, "weekly_rate_pence", "too_large"),
        (11, "actual_end_date", "invalid"),
        (12, "row", "wrong_type"),
        (13, "colour", "unknown_field"),
    }, body["errors"]
    assert [e["row"] for e in body["errors"]] == sorted(e["row"] for e in body["errors"])
    assert body["detail"].startswith("12 rows are invalid: row 2, child.age: ")
    assert await in_region(region) == before


async def test_rows_that_only_break_rules_are_all_listed_and_nothing_is_written(region, http):
    _, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    before = await in_region(region)
    rows = [
        placement(buyer, bed_a, region, start=-30, end=60),
        placement(buyer, bed_b, region, start=-10, end=20, status="ended", actual_end=25),
        placement(buyer, bed_b, region, start=-10, end=20, status="ended", actual_end=-11),
        placement(buyer, bed_b, region, start=-10, end=20, status="ended", actual_end=-2, notice=1),
        placement(buyer, bed_b, region, start=-10, end=20, notice=-3),
    ]
    r = await do_import(http, region, rows)
    body = assert_problem(r, 422, "validation_error")
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (2, "actual_end_date", "invalid"),
        (3, "actual_end_date", "invalid"),
        (4, "notice_date", "invalid"),
        (5, "notice_date", "invalid"),
    ]
    assert body["detail"].startswith("4 rows are invalid: row 2, actual_end_date: ")
    assert await in_region(region) == before


async def test_the_number_of_rows_is_bounded(region, http):
    _, buyer, home = await setup(region)
    body = assert_problem(await do_import(http, region, []), 422, "validation_error")
    assert [(e.get("row"), e["field"], e["code"]) for e in body["errors"]] == [
        (None, "body", "too_short")
    ]
    one = placement(buyer, home["beds"][0]["id"], region, start=-30, end=60)
    body = assert_problem(await do_import(http, region, [one] * 5001), 422, "validation_error")
    assert [(e.get("row"), e["field"], e["code"]) for e in body["errors"]] == [
        (None, "body", "too_long")
    ]
    assert await count(region.coop, bookings, bookings.c.region == region.slug) == 0


async def test_a_row_overlapping_a_booking_that_holds_the_bed_is_a_409_naming_it(region, http):
    owner, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    first = await do_import(http, region, [placement(buyer, bed_a, region, start=-30, end=30)])
    assert first.status_code == 201, first.text
    held = first.json()[0]["id"]
    # the owner's own request for bed B is offered at once: the offer holds days 10..20
    r = await http.post(
        "/bookings",
        json={
            "bed_id": bed_b,
            "child": child(),
            "urgency": "planned",
            "start_date": region.day(10),
            "end_date": region.day(20),
        },
        headers=owner.h,
    )
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    offered = r.json()["id"]
    before = await in_region(region)

    rows = [
        placement(buyer, bed_b, region, start=-50, end=-40, status="ended", actual_end=-41),
        placement(buyer, bed_a, region, start=-60, end=-20, status="ended", actual_end=-29),
    ]
    body = assert_problem(await do_import(http, region, rows), 409, "bed_held")
    assert (body["row"], body["booking_id"], body["bed_id"]) == (2, held, bed_a)
    assert "Row 2" in body["detail"]
    # ended the day the held booking started: half-open days, no overlap
    rows[1] = placement(buyer, bed_a, region, start=-60, end=-20, status="ended", actual_end=-30)
    rows.append(placement(buyer, bed_b, region, start=-5, end=11))
    body = assert_problem(await do_import(http, region, rows), 409, "bed_held")
    assert (body["row"], body["booking_id"]) == (3, offered)
    assert await in_region(region) == before

    rows[2] = placement(buyer, bed_b, region, start=-5, end=10)
    r = await do_import(http, region, rows)
    assert r.status_code == 201, r.text


async def test_two_rows_of_the_file_that_overlap_are_a_409_naming_the_later(region, http):
    _, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    before = await in_region(region)
    rows = [
        placement(buyer, bed_a, region, start=-100, end=-10, status="ended", actual_end=-50),
        placement(buyer, bed_b, region, start=-100, end=100),
        placement(buyer, bed_a, region, start=-51, end=30),
    ]
    body = assert_problem(await do_import(http, region, rows), 409, "bed_held")
    assert (body["row"], body["other_row"], body["bed_id"]) == (3, 1, bed_a)
    assert await in_region(region) == before
    # the planned end of an ended placement does not hold the bed: only its occupied days
    rows[2] = placement(buyer, bed_a, region, start=-50, end=30)
    r = await do_import(http, region, rows)
    assert r.status_code == 201, r.text


async def test_two_imports_at_once_of_the_same_days_one_wins_the_other_is_told(region, http):
    _, buyer, home = await setup(region)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    # both lock the home, then check: the later one finds the other's booking holding the bed
    first = [
        placement(buyer, bed_b, region, start=-10, end=10),
        placement(buyer, bed_a, region, start=-30, end=30),
    ]
    second = [placement(buyer, bed_a, region, start=-5, end=5, ref="case-0043")]
    answers = await asyncio.gather(do_import(http, region, first), do_import(http, region, second))
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    (won,) = [r for r in answers if r.status_code == 201]
    (lost,) = [r for r in answers if r.status_code == 409]
    body = assert_problem(lost, 409, "bed_held")
    assert body["booking_id"] in {b["id"] for b in won.json()}
    assert await count(region.coop, bookings, bookings.c.bed_id == bed_a) == 1


async def test_another_regions_bed_looks_like_no_bed_and_its_councils_like_none(region, http):
    _, buyer, home = await setup(region)
    other = await Region.create(http, region.coop)
    stranger = await other.authority("far")
    far_bed = (await other.home(stranger))["beds"][0]["id"]
    rows = [
        placement(buyer, far_bed, region, start=-10, end=10),
        placement(buyer, "bed_01NOSUCHBED0000000000000", region, start=-10, end=10),
        {**placement(stranger, home["beds"][0]["id"], region, start=-10, end=10)},
        {
            **placement(buyer, home["beds"][1]["id"], region, start=-10, end=10),
            "requester": "nobody",
        },
    ]
    body = assert_problem(await do_import(http, region, rows), 422, "validation_error")
    errors = body["errors"]
    assert [{k: v for k, v in e.items() if k != "row"} for e in errors[:2]] == [
        {"field": "bed_id", "code": "unknown_bed", "detail": "is not a bed of your region."}
    ] * 2
    assert [{k: v for k, v in e.items() if k != "row"} for e in errors[2:]] == [
        {
            "field": "requester",
            "code": "unknown_authority",
            "detail": "is not an authority of your region.",
        }
    ] * 2
    assert far_bed not in r_text(body) and other.slug not in r_text(body)
    # the other region's admin cannot import into this region's beds either
    r = await http.post(
        IMPORT,
        json=[placement(stranger, home["beds"][0]["id"], region, start=-10, end=10)],
        headers=other.admin.h,
    )
    assert_problem(r, 422, "validation_error")
    assert await count(region.coop, bookings, bookings.c.bed_id == far_bed) == 0


def r_text(body: dict[str, Any]) -> str:
    return repr({k: v for k, v in body.items() if k != "instance"})


async def test_only_an_admin_imports(region, http):
    owner, buyer, home = await setup(region)
    rows = [placement(buyer, home["beds"][0]["id"], region, start=-10, end=10)]
    before = await in_region(region)
    for actor in (owner, buyer):
        r = await http.post(IMPORT, json=rows, headers=actor.h)
        assert_problem(r, 403, "insufficient_scope")
    assert_problem(await http.post(IMPORT, json=rows), 401, "missing_token")
    assert await in_region(region) == before


async def test_a_repeated_idempotency_key_replays_the_import(region, http):
    _, buyer, home = await setup(region)
    rows = [placement(buyer, home["beds"][0]["id"], region, start=-10, end=10)]
    key = {"Idempotency-Key": "import-2026-01"}
    first = await do_import(http, region, rows, **key)
    assert first.status_code == 201, first.text
    after = await in_region(region)
    again = await do_import(http, region, rows, **key)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await in_region(region) == after
    other = [placement(buyer, home["beds"][1]["id"], region, start=-10, end=10)]
    assert_problem(await do_import(http, region, other, **key), 422, "idempotency_key_reused")
    # without the key, the same file is a second import: its rows overlap the first's
    assert_problem(await do_import(http, region, rows), 409, "bed_held")


async def test_an_owner_s_own_placement_is_imported(region, http):
    owner, _, home = await setup(region)
    rows = [placement(owner, home["beds"][0]["id"], region, start=-200, end=100, rate=0)]
    r = await do_import(http, region, rows)
    assert r.status_code == 201, r.text
    (b,) = r.json()
    assert b["requester"] == b["owner"] == owner.authority
    assert b["weekly_rate_pence"] == 0
    got = await http.get(f"/bookings/{b['id']}", headers=owner.h)
    assert got.status_code == 200 and got.json()["status"] == "active"
    # an active placement can be ended like any other
    end = await http.post(
        f"/bookings/{b['id']}/end",
        json={"date": region.day(0), "reason": "moved on"},
        headers=owner.h,
    )
    assert end.status_code == 200, end.text
    assert end.json()["status"] == "ended"


async def test_the_import_is_in_the_openapi_document(http):
    doc = (await http.get("/schema/openapi.json")).json()
    op = doc["paths"]["/bookings/import"]["post"]
    assert op["operationId"] == "importBookings"
    assert op["security"] == [{"oauth2": ["coop:admin"]}]
    assert {"201", "401", "403", "409", "422", "503"} <= set(op["responses"])
    assert "row" in doc["components"]["schemas"]["FieldError"]["properties"]
    assert "ImportRow" in doc["components"]["schemas"]
