"""Rules pinned after review: English dates, re-checks at accept, per-home serialisation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.api.test_booking_flow import request
from tests.support import assert_problem, child


async def test_today_is_the_english_date_in_british_summer_time(region, http, clock):
    clock.set(datetime(2027, 7, 1, 23, 30, tzinfo=UTC))  # 00:30 on 2 July in England
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"], available_from="2027-07-02")
    r = await http.post(
        "/bookings",
        json=request(
            void["id"], region, urgency="today", start_date="2027-07-02", end_date="2027-07-12"
        ),
        headers=buyer.h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "offered"
    late = request(
        void["id"], region, urgency="today", start_date="2027-07-01", end_date="2027-07-12"
    )
    assert_problem(await http.post("/bookings", json=late, headers=buyer.h), 422, "start_in_past")


async def test_accept_refuses_a_rate_above_the_budget_and_passes_the_bed_on(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    other = await region.authority("norfolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    capped = await http.post(
        "/bookings",
        json=request(void["id"], region, max_weekly_price_pence=600_000, **today),
        headers=buyer.h,
    )
    assert capped.json()["status"] == "offered"  # 577,500 with the today premium
    waiting = await http.post(
        "/bookings", json=request(void["id"], region, **today), headers=other.h
    )
    assert waiting.json()["status"] == "pending"
    home_now = await http.get(f"/homes/{home['id']}", headers=owner.h)
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"weekly_cost_pence": 800_000},
        headers={**owner.h, "If-Match": home_now.headers["etag"]},
    )
    assert r.status_code == 200
    refused = await http.post(f"/bookings/{capped.json()['id']}/accept", headers=owner.h)
    assert assert_problem(refused, 409, "no_longer_fits")["reason"] == "over_budget"
    gone = (await http.get(f"/bookings/{capped.json()['id']}", headers=buyer.h)).json()
    assert (gone["status"], gone["status_reason"]) == ("declined", "over_budget")
    nxt = (await http.get(f"/bookings/{waiting.json()['id']}", headers=other.h)).json()
    assert nxt["status"] == "offered"


async def test_an_offer_elsewhere_in_the_home_does_not_decline_a_request_for_good(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed1, bed2 = (b["id"] for b in home["beds"])
    v1, v2 = await region.void(owner, bed1), await region.void(owner, bed2)
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    young = await http.post(
        "/bookings", json=request(v1["id"], region, child=child(age=9), **today), headers=buyer.h
    )
    assert young.json()["status"] == "offered"
    older = await http.post(
        "/bookings",
        json=request(v2["id"], region, child=child(age=14, care_alongside="only_older"), **today),
        headers=buyer.h,
    )
    assert older.json()["status"] == "offered"  # an offer is not a child living there
    await http.post(
        f"/bookings/{young.json()['id']}/reject", json={"reason": "matching"}, headers=owner.h
    )
    r = await http.post(f"/bookings/{older.json()['id']}/accept", headers=owner.h)
    assert r.json()["status"] == "confirmed"


async def test_two_accepts_in_one_home_cannot_both_break_a_childs_wishes(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    pairs = []
    for _ in range(6):
        home = await region.home(owner)
        bed1, bed2 = (b["id"] for b in home["beds"])
        v1, v2 = await region.void(owner, bed1), await region.void(owner, bed2)
        asks = await asyncio.gather(
            http.post(
                "/bookings",
                json=request(
                    v1["id"], region, child=child(age=14, care_alongside="only_older"), **today
                ),
                headers=buyer.h,
            ),
            http.post(
                "/bookings",
                json=request(
                    v2["id"], region, child=child(age=9, care_alongside="only_younger"), **today
                ),
                headers=buyer.h,
            ),
        )
        assert [a.json()["status"] for a in asks] == ["offered", "offered"]
        pairs.append([a.json()["id"] for a in asks])
    for ids in pairs:
        answers = await asyncio.gather(
            *(http.post(f"/bookings/{i}/accept", headers=owner.h) for i in ids)
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 409).json()
        assert (refused["code"], refused["reason"]) == ("no_longer_fits", "care_alongside")


async def test_an_owner_ends_a_placement_in_its_own_bed_with_homes_write(region, http):
    owner = await region.authority("cambs")
    manager = await region.client(owner.authority, ["market:read", "homes:write"])
    home = await region.home(owner)
    r = await http.post(
        "/bookings",
        json={
            "bed_id": home["beds"][0]["id"],
            "child": child(),
            "urgency": "today",
            "start_date": region.day(0),
            "end_date": region.day(10),
        },
        headers=owner.h,
    )
    booking = r.json()["id"]
    await http.post(f"/bookings/{booking}/accept", headers=manager.h)
    await http.post(f"/bookings/{booking}/start", json={"date": region.day(0)}, headers=manager.h)
    r = await http.post(
        f"/bookings/{booking}/end",
        json={"date": region.day(0), "reason": "moved on"},
        headers=manager.h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"


async def test_a_home_rated_inadequate_withdraws_its_voids(region, http):
    owner = await region.authority("cambs")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"ofsted_rating": "inadequate"},
        headers={**owner.h, "If-Match": f'"{home["version"]}"'},
    )
    assert r.status_code == 200
    gone = (await http.get(f"/voids/{void['id']}", headers=owner.h)).json()
    assert gone["status"] == "withdrawn"
    assert (await http.get("/voids", headers=owner.h)).json()["items"] == []


async def test_search_leaves_out_a_bed_held_over_the_days_asked_for(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.post(
        "/bookings",
        json=request(
            void["id"], region, urgency="today", start_date=region.day(0), end_date=region.day(30)
        ),
        headers=buyer.h,
    )
    await http.post(f"/bookings/{r.json()['id']}/accept", headers=owner.h)
    held = await http.get(f"/voids?from={region.day(1)}&to={region.day(20)}", headers=buyer.h)
    assert held.json()["items"] == []
    free = await http.get(f"/voids?from={region.day(30)}&to={region.day(40)}", headers=buyer.h)
    assert [v["id"] for v in free.json()["items"]] == [void["id"]]


async def test_the_sweep_leaves_alone_a_request_waiting_behind_an_offer(region, http, coop):
    from coop.bookings.jobs import due_beds

    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    await http.post("/bookings", json=request(void["id"], region, **today), headers=buyer.h)
    waiting = await http.post(
        "/bookings", json=request(void["id"], region, **today), headers=buyer.h
    )
    assert waiting.json()["status"] == "pending"
    assert void["bed_id"] not in await due_beds(coop.engine, coop.clock.now())


async def test_the_booking_list_shows_each_booking_once_across_both_roles(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner, beds=[{"label": str(i)} for i in range(3)])
    ids = set()
    for bed in home["beds"]:  # the owner's own requests: it is requester and owner
        r = await http.post(
            "/bookings",
            json={
                "bed_id": bed["id"],
                "child": child(),
                "urgency": "planned",
                "start_date": region.day(3),
                "end_date": region.day(9),
            },
            headers=owner.h,
        )
        ids.add(r.json()["id"])
    for bed in home["beds"]:
        void = await region.void(owner, bed["id"], available_from=region.day(20))
        r = await http.post(
            "/bookings",
            json=request(void["id"], region, start_date=region.day(21), end_date=region.day(30)),
            headers=buyer.h,
        )
        ids.add(r.json()["id"])
    seen, cursor = [], None
    while True:
        r = await http.get(
            "/bookings",
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=owner.h,
        )
        seen += [b["id"] for b in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)) == 6


async def test_accept_refuses_an_offer_in_a_home_closed_since(region, http):
    """The re-check at accept sees the home as it is now: closed, the match is declined."""
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    offered = await http.post(
        "/bookings", json=request(void["id"], region, **today), headers=buyer.h
    )
    assert offered.json()["status"] == "offered"
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"status": "closed"},
        headers={**owner.h, "If-Match": f'"{home["version"]}"'},
    )
    assert r.status_code == 200
    refused = await http.post(f"/bookings/{offered.json()['id']}/accept", headers=owner.h)
    assert assert_problem(refused, 409, "no_longer_fits")["reason"] == "home_closed"
    gone = (await http.get(f"/bookings/{offered.json()['id']}", headers=buyer.h)).json()
    assert (gone["status"], gone["status_reason"]) == ("declined", "home_closed")
