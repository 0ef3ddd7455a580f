"""A booking from request to arrival, through the HTTP stack."""

from __future__ import annotations

from typing import Any

from coop.bookings.jobs import sweep_once
from tests.support import assert_problem


def child(**overrides: Any) -> dict[str, Any]:
    body = {
        "ref": "case-0042",
        "age": 12,
        "gender": "female",
        "needs": ["semh"],
        "risks_to_self": ["self_harm"],
        "care_alongside": "no_preference",
    }
    body.update(overrides)
    return body


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
