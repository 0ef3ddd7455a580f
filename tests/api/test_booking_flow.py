"""A booking from request to arrival, through the HTTP stack."""

from __future__ import annotations

from typing import Any

from coop.bookings.jobs import sweep_once
from tests.support import assert_problem, child


def request(void_id: str, region, **overrides: Any) -> dict[str, Any]:
    body = {
        "void_id": void_id,
        "child": child(),
        "urgency": "planned",
        "start_date": region.day(7),
        "end_date": region.day(35),
    }
    body.update(overrides)
    return body


async def test_request_waits_out_the_home_window_then_is_offered_accepted_and_starts(
    region, http, coop, clock
):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])

    r = await http.post("/bookings", json=request(void["id"], region), headers=buyer.h)
    assert r.status_code == 201, r.text
    booking = r.json()
    assert booking["status"] == "pending"
    assert booking["decide_at"] == void["home_priority_until"]
    assert booking["weekly_rate_pence"] == 525_000  # 500,000 × 1.05

    clock.advance(hours=49)
    await sweep_once(coop.engine, coop.clock, coop.scheduler)
    r = await http.get(f"/bookings/{booking['id']}", headers=buyer.h)
    assert r.json()["status"] == "offered", r.json()

    r = await http.post(f"/bookings/{booking['id']}/accept", headers=owner.h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"

    clock.advance(days=6)
    r = await http.post(
        f"/bookings/{booking['id']}/start", json={"date": region.day(0)}, headers=owner.h
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"

    events = (await http.get(f"/bookings/{booking['id']}/events", headers=buyer.h)).json()
    assert [e["to_status"] for e in events] == ["pending", "offered", "confirmed", "active"]


async def test_a_stranger_sees_nothing(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    stranger = await region.authority("norfolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.post(
        "/bookings",
        json=request(void["id"], region, urgency="today", start_date=region.day(0)),
        headers=buyer.h,
    )
    assert r.json()["status"] == "offered", r.text
    assert_problem(
        await http.get(f"/bookings/{r.json()['id']}", headers=stranger.h), 404, "not_found"
    )


async def test_a_request_that_can_never_fit_is_declined_at_once_even_in_the_home_window(
    region, http
):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)  # ages 8–17
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.post(
        "/bookings", json=request(void["id"], region, child=child(age=5)), headers=buyer.h
    )
    assert (r.json()["status"], r.json()["status_reason"]) == ("declined", "age")
    fits = await http.post("/bookings", json=request(void["id"], region), headers=buyer.h)
    assert fits.json()["status"] == "pending"  # a fitting one still waits for the window


async def test_a_suspended_requester_is_declined_at_once(region, http):
    owner = await region.authority("cambs")
    suspended = await region.authority("norfolk", membership="suspended")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.post("/bookings", json=request(void["id"], region), headers=suspended.h)
    assert (r.json()["status"], r.json()["status_reason"]) == ("declined", "requester_suspended")


async def test_a_new_request_is_not_held_up_by_a_spent_offer(region, http, clock):
    from datetime import UTC, datetime, time, timedelta

    # 08:00 tomorrow: a four-hour hold runs out the same day
    clock.set(datetime.combine(clock.today() + timedelta(days=1), time(8), tzinfo=UTC))
    owner = await region.authority("cambs")
    first = await region.authority("suffolk")
    second = await region.authority("norfolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    today = {"urgency": "today", "start_date": region.day(0), "end_date": region.day(10)}
    offered = await http.post(
        "/bookings", json=request(void["id"], region, **today), headers=first.h
    )
    assert offered.json()["status"] == "offered"
    clock.advance(hours=4, seconds=1)  # the `today` hold (PT4H) has run out; no sweep yet
    r = await http.post("/bookings", json=request(void["id"], region, **today), headers=second.h)
    assert r.json()["status"] == "offered"
    gone = await http.get(f"/bookings/{offered.json()['id']}", headers=first.h)
    assert (gone.json()["status"], gone.json()["status_reason"]) == ("declined", "offer_expired")


async def test_positive_moves_carry_no_status_reason(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.post(
        "/bookings",
        json=request(void["id"], region, urgency="today", start_date=region.day(0)),
        headers=buyer.h,
    )
    booking = r.json()
    assert (booking["status"], booking["status_reason"]) == ("offered", None)
    r = await http.post(f"/bookings/{booking['id']}/accept", headers=owner.h)
    assert (r.json()["status"], r.json()["status_reason"]) == ("confirmed", None)
    r = await http.post(
        f"/bookings/{booking['id']}/start", json={"date": region.day(0)}, headers=owner.h
    )
    assert (r.json()["status"], r.json()["status_reason"]) == ("active", None)
    events = (await http.get(f"/bookings/{booking['id']}/events", headers=buyer.h)).json()
    assert [e["reason"] for e in events][-2:] == ["owner_accepted", "arrived"]  # the why stays
