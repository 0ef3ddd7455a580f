"""Bookings under the shared policy (SPEC §2 Booking, §3 Ranking, Allocation, Price), over HTTP.

The home window, the owner first, the ranking order, offers passed down the queue on
rejection and on hold expiry, every fit reason, prices to the penny and the date rules.
Time moves only through the frozen clock; due work is caught by ``sweep_once``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from coop.bookings.jobs import sweep_once
from coop.db.schema import bookings
from tests.support import Actor, Region, assert_problem, child, count

# -- helpers (shared with test_bookings_moves) ------------------------------------------------


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ask(
    region: Region,
    *,
    void: dict[str, Any] | None = None,
    bed: str | None = None,
    urgency: str = "planned",
    start: int | None = None,
    end: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A request body; ``start``/``end`` are day offsets (default: today for ``today``,
    else in 4 days; end four weeks after the start)."""
    if start is None:
        start = 0 if urgency == "today" else 4
    if end is None:
        end = start + 28
    body: dict[str, Any] = {
        "child": child(),
        "urgency": urgency,
        "start_date": region.day(start),
        "end_date": region.day(end),
    }
    if void is not None:
        body["void_id"] = void["id"]
    if bed is not None:
        body["bed_id"] = bed
    body.update(overrides)
    return body


async def book(http: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/bookings", json=body, headers=actor.h)
    assert r.status_code == 201, r.text
    return r.json()


async def get(http: httpx.AsyncClient, actor: Actor, booking: dict[str, Any]) -> dict[str, Any]:
    r = await http.get(f"/bookings/{booking['id']}", headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


async def status(http: httpx.AsyncClient, actor: Actor, booking: dict[str, Any]) -> tuple:
    b = await get(http, actor, booking)
    return b["status"], b["status_reason"]


async def post(
    http: httpx.AsyncClient,
    actor: Actor,
    booking: dict[str, Any],
    move: str,
    body: Any = None,
    expect: int = 200,
    **kw: Any,
) -> dict[str, Any]:
    r = await http.post(f"/bookings/{booking['id']}/{move}", json=body, headers=actor.h, **kw)
    assert r.status_code == expect, r.text
    return r.json()


async def sweep(coop: Any) -> int:
    return await sweep_once(coop.engine, coop.clock, coop.scheduler)


async def put_policy(http: httpx.AsyncClient, region: Region, body: dict[str, Any]) -> int:
    r = await http.put(f"/regions/{region.slug}/policy", json=body, headers=region.admin.h)
    assert r.status_code in (200, 201), r.text
    return r.json()["version"]


def morning(clock: Any) -> None:
    """Move the clock (forward only: tokens stay valid) to 08:00 UTC tomorrow, so a few hours
    of holds never cross midnight."""
    clock.set(datetime.combine(clock.today() + timedelta(days=1), time(8), UTC))


async def in_region(coop: Any, region: Region) -> int:
    return await count(coop, bookings, bookings.c.region == region.slug)


# -- 1. the home window ----------------------------------------------------------------------


async def test_a_member_waits_out_the_home_window_the_owner_is_decided_at_once(
    region, http, coop, clock
):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    void = await region.void(owner, bed_a)

    waiting = await book(http, buyer, ask(region, void=void))
    assert (waiting["status"], waiting["status_reason"]) == ("pending", None)
    assert ts(waiting["decide_at"]) == ts(void["home_priority_until"])
    assert ts(waiting["decide_at"]) == clock.now() + timedelta(hours=48)
    assert waiting["offered_at"] is None and waiting["offer_expires_at"] is None
    assert waiting["weekly_rate_pence"] == 525_000  # quoted while pending

    # The owner's own requests, by void_id (another period) and by bed_id, are decided now.
    by_void = await book(http, owner, ask(region, void=void, start=40, end=60))
    by_bed = await book(http, owner, ask(region, bed=bed_b))
    for own in (by_void, by_bed):
        assert own["status"] == "offered", own
        assert ts(own["decide_at"]) == ts(own["created_at"]) == clock.now()
        assert ts(own["offered_at"]) == clock.now()
        assert (own["requester"], own["owner"]) == (owner.authority, owner.authority)
    assert by_bed["void_id"] is None and by_bed["bed_id"] == bed_b

    # Inside the window the sweep leaves the member's request alone.
    clock.advance(hours=47, minutes=59)
    await sweep(coop)
    assert await status(http, buyer, waiting) == ("pending", None)
    clock.advance(minutes=2)
    await sweep(coop)
    assert await status(http, buyer, waiting) == ("offered", None)


async def test_after_the_window_the_best_ranked_is_offered_the_rest_wait_then_are_outranked(
    region, http, coop, clock
):
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    m3 = await region.authority("essex")
    assoc = await region.authority("lincs", membership="associate")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])

    # Created in an order that is not the rank order.
    planned_m1 = await book(http, m1, ask(region, void=void, urgency="planned"))
    clock.advance(seconds=5)
    soon_assoc = await book(http, assoc, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=5)
    soon_m2 = await book(http, m2, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=5)
    soon_m3 = await book(http, m3, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=5)
    elsewhere = await book(http, m1, ask(region, void=void, start=40, end=60))  # no overlap
    queue = [planned_m1, soon_assoc, soon_m2, soon_m3, elsewhere]
    for b in queue:
        assert b["status"] == "pending", b
        assert ts(b["decide_at"]) == ts(void["home_priority_until"])

    clock.advance(hours=49)
    await sweep(coop)
    now = clock.now()
    offered = await get(http, m2, soon_m2)
    assert offered["status"] == "offered"
    assert ts(offered["offered_at"]) == now
    assert ts(offered["offer_expires_at"]) == now + timedelta(hours=24)  # within_5_days hold
    other = await get(http, m1, elsewhere)
    assert other["status"] == "offered"  # another period: not behind the offer
    assert ts(other["offer_expires_at"]) == now + timedelta(hours=48)  # planned hold
    for b, who in ((planned_m1, m1), (soon_assoc, assoc), (soon_m3, m3)):
        assert await status(http, who, b) == ("pending", None)

    accepted = await post(http, owner, soon_m2, "accept")
    assert accepted["status"] == "confirmed"
    for b, who in ((planned_m1, m1), (soon_assoc, assoc), (soon_m3, m3)):
        assert await status(http, who, b) == ("declined", "outranked")
    assert await status(http, m1, elsewhere) == ("offered", None)
    events = (await http.get(f"/bookings/{soon_m3['id']}/events", headers=m3.h)).json()
    assert events[-1]["actor"].startswith("system:")
    assert (events[-1]["from_status"], events[-1]["to_status"]) == ("pending", "declined")


# -- 2. `today` and the home window ----------------------------------------------------------


async def test_today_skips_the_home_window_and_pays_the_emergency_premium(region, http, clock):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    assert ts(void["home_priority_until"]) > clock.now()

    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    assert b["status"] == "offered", b
    assert ts(b["decide_at"]) == clock.now()
    assert ts(b["offer_expires_at"]) == clock.now() + timedelta(hours=4)
    assert b["weekly_rate_pence"] == 577_500  # 525,000 × 1.10
    assert b["price_breakdown"]["emergency_premium_bp"] == 1000
    assert b["price_breakdown"]["member_rate_pence"] == 525_000


async def test_without_today_skips_home_window_a_today_request_waits_then_ranks_first(
    region, http, coop, clock
):
    morning(clock)
    await put_policy(
        http, region, {"priority": {"today_skips_home_window": False, "home_window": "PT1H"}}
    )
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    assoc = await region.authority("lincs", membership="associate")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    assert ts(void["home_priority_until"]) == clock.now() + timedelta(hours=1)

    planned = await book(http, m1, ask(region, void=void, start=0, urgency="planned"))
    clock.advance(seconds=5)
    soon = await book(http, m2, ask(region, void=void, start=0, urgency="within_5_days"))
    clock.advance(seconds=5)
    today = await book(http, assoc, ask(region, void=void, urgency="today"))
    assert today["status"] == "pending", today
    assert ts(today["decide_at"]) == ts(void["home_priority_until"])

    clock.advance(minutes=61)
    await sweep(coop)
    # today < within_5_days < planned outweighs member before associate and created_at.
    assert await status(http, assoc, today) == ("offered", None)
    assert await status(http, m2, soon) == ("pending", None)
    assert await status(http, m1, planned) == ("pending", None)


# -- 3. the owner first ----------------------------------------------------------------------


async def test_the_owner_is_offered_first_even_when_it_asked_last(region, http, coop, clock):
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    home = await region.home(owner)
    bed = home["beds"][0]["id"]
    void = await region.void(owner, bed)
    first = await book(http, m1, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=5)
    second = await book(http, m2, ask(region, void=void))

    # The window has passed but nothing has run yet: all three are decided together.
    clock.advance(hours=49)
    own = await book(http, owner, ask(region, bed=bed, start=3, end=20))
    assert own["status"] == "offered", own
    assert await status(http, m1, first) == ("pending", None)
    assert await status(http, m2, second) == ("pending", None)

    await post(http, owner, own, "accept")
    # They were decidable when the owner was offered the bed: outranked.
    assert await status(http, m1, first) == ("declined", "outranked")
    assert await status(http, m2, second) == ("declined", "outranked")


async def test_inside_the_window_the_owner_holds_the_bed_and_members_find_it_unavailable(
    region, http
):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    member = await book(http, buyer, ask(region, void=void))
    own = await book(http, owner, ask(region, void=void))
    assert own["status"] == "offered"
    assert await status(http, buyer, member) == ("pending", None)
    await post(http, owner, own, "accept")
    # The bed was held before the member's request was decided.
    assert await status(http, buyer, member) == ("declined", "unavailable")


async def test_a_rejected_offer_goes_to_the_owner_before_an_earlier_member(
    region, http, coop, clock
):
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    home = await region.home(owner)
    bed = home["beds"][0]["id"]
    void = await region.void(owner, bed)
    first = await book(http, m1, ask(region, void=void))
    clock.advance(seconds=5)
    second = await book(http, m2, ask(region, void=void))
    clock.advance(hours=49)
    await sweep(coop)
    assert await status(http, m1, first) == ("offered", None)

    own = await book(http, owner, ask(region, bed=bed))
    assert own["status"] == "pending"  # waits behind the offer like anyone else
    await post(http, owner, first, "reject", {"reason": "matching"})
    assert await status(http, owner, own) == ("offered", None)
    assert await status(http, m2, second) == ("pending", None)


# -- 4. rejection and hold expiry pass the bed down the queue --------------------------------


async def test_rejection_passes_the_bed_down_the_queue_in_rank_order(region, http, coop, clock):
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    m3 = await region.authority("essex")
    assoc = await region.authority("lincs", membership="associate")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    planned_m1 = await book(http, m1, ask(region, void=void, urgency="planned"))
    clock.advance(seconds=3)
    soon_assoc = await book(http, assoc, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=3)
    soon_m2 = await book(http, m2, ask(region, void=void, urgency="within_5_days"))
    clock.advance(seconds=3)
    soon_m3 = await book(http, m3, ask(region, void=void, urgency="within_5_days"))
    clock.advance(hours=49)
    await sweep(coop)

    order = [(soon_m2, m2), (soon_m3, m3), (soon_assoc, assoc), (planned_m1, m1)]
    for i, (b, who) in enumerate(order):
        assert await status(http, who, b) == ("offered", None), i
        for later, them in order[i + 1 :]:
            assert await status(http, them, later) == ("pending", None)
        r = await post(http, owner, b, "reject", {"reason": "not a match with the group"})
        assert (r["status"], r["status_reason"]) == ("declined", "owner_rejected")
        # the next in rank is offered by the same request, no sweep in between
    events = (await http.get(f"/bookings/{planned_m1['id']}/events", headers=m1.h)).json()
    assert [e["to_status"] for e in events] == ["pending", "offered", "declined"]
    assert events[-1]["reason"] == "owner_rejected"
    assert events[-1]["actor"] == f"client:{owner.client_id}"
    assert events[-1]["detail"] == {"note": "not a match with the group"}


async def test_a_spent_hold_is_declined_offer_expired_and_the_next_is_offered(
    region, http, coop, clock
):
    morning(clock)
    owner = await region.authority("cambs")
    m1 = await region.authority("norfolk")
    m2 = await region.authority("suffolk")
    m3 = await region.authority("essex")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    t0 = clock.now()
    first = await book(http, m1, ask(region, void=void, urgency="today"))
    assert ts(first["offer_expires_at"]) == t0 + timedelta(hours=4)
    clock.advance(seconds=5)
    second = await book(http, m2, ask(region, void=void, urgency="today"))
    clock.advance(seconds=5)
    third = await book(http, m3, ask(region, void=void, urgency="today"))
    assert second["status"] == third["status"] == "pending"

    clock.set(t0 + timedelta(hours=4, seconds=-1))
    await sweep(coop)
    assert await status(http, m1, first) == ("offered", None)  # not yet
    clock.set(t0 + timedelta(hours=4, minutes=1))
    await sweep(coop)
    assert await status(http, m1, first) == ("declined", "offer_expired")
    offered = await get(http, m2, second)
    assert offered["status"] == "offered"
    assert ts(offered["offer_expires_at"]) == clock.now() + timedelta(hours=4)
    events = (await http.get(f"/bookings/{first['id']}/events", headers=m1.h)).json()
    assert events[-1]["actor"].startswith("system:")
    assert events[-1]["reason"] == "offer_expired"

    # Accepting an offer whose hold ran out (no sweep yet): the offer is expired first.
    clock.advance(hours=4, minutes=1)
    r = await http.post(f"/bookings/{second['id']}/accept", headers=owner.h)
    body = assert_problem(r, 409, "invalid_transition")
    assert body["status_now"] == "declined"
    assert await status(http, m2, second) == ("declined", "offer_expired")
    assert await status(http, m3, third) == ("offered", None)


# -- 5. every fit reason, decided inside the request -----------------------------------------


async def test_each_fit_reason_is_given_at_once(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"], available_until=region.day(30))

    cases = [
        ({"child": child(age=18)}, "age"),
        ({"child": child(age=7)}, "age"),
        ({"child": child(needs=["semh", "mh_step_down"])}, "needs"),
        ({"child": child(risks_to_others=["fire_setting"])}, "risks"),
        ({"child": child(risks_to_self=["eating_disorder"])}, "risks"),
        ({"child": child(dols=True)}, "dols"),
        ({"child": child(care_alongside="solo")}, "care_alongside"),
        ({"max_weekly_price_pence": 577_499}, "over_budget"),
        ({"end_date": region.day(31)}, "outside_void"),
    ]
    got = []
    for overrides, _ in cases:
        b = await book(http, buyer, {**ask(region, void=void, urgency="today"), **overrides})
        got.append((b["status"], b["status_reason"]))
    assert got == [("declined", reason) for _, reason in cases]

    # Controls: on the edges it fits.
    edge = {"child": child(age=17), "max_weekly_price_pence": 577_500, "end_date": region.day(30)}
    b = await book(http, buyer, {**ask(region, void=void, urgency="today"), **edge})
    assert (b["status"], b["status_reason"]) == ("offered", None)


async def test_gender_fit(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    for home_gender, child_gender in (("female", "male"), ("male", "other")):
        home = await region.home(owner, gender=home_gender)
        void = await region.void(owner, home["beds"][0]["id"])
        body = ask(region, void=void, urgency="today", child=child(gender=child_gender))
        b = await book(http, buyer, body)
        assert (b["status"], b["status_reason"]) == ("declined", "gender"), home_gender
        body = ask(region, void=void, urgency="today", child=child(gender=home_gender))
        assert (await book(http, buyer, body))["status"] == "offered"


async def test_care_alongside_only_older_against_the_children_living_there(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    resident_void = await region.void(owner, bed_b)
    resident = await book(
        http, buyer, ask(region, void=resident_void, urgency="today", child=child(age=10))
    )
    await post(http, owner, resident, "accept")
    assert (await post(http, owner, resident, "start", {"date": region.day(0)}))[
        "status"
    ] == "active"

    void = await region.void(owner, bed_a)
    older_only = child(age=12, care_alongside="only_older")
    b = await book(http, buyer, ask(region, void=void, urgency="today", child=older_only))
    assert (b["status"], b["status_reason"]) == ("declined", "care_alongside")
    younger = child(age=9, care_alongside="only_older")  # the resident (10) is older
    b = await book(http, buyer, ask(region, void=void, urgency="today", child=younger))
    assert b["status"] == "offered", b


async def test_solo_child_fits_a_solo_home(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner, beds=[{"label": "A"}])
    void = await region.void(owner, home["beds"][0]["id"])
    body = ask(region, void=void, urgency="today", child=child(care_alongside="solo"))
    assert (await book(http, buyer, body))["status"] == "offered"


async def test_max_weeks_for_an_assessment_home(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner, purpose="assessment")
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, buyer, ask(region, void=void, urgency="today", end=21 * 7))
    assert (b["status"], b["status_reason"]) == ("declined", "max_weeks")
    b = await book(http, buyer, ask(region, void=void, urgency="today", end=20 * 7))
    assert b["status"] == "offered", b


async def test_a_closed_home_declines_home_closed(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"status": "closed"},
        headers={**owner.h, "If-Match": f'"{home["version"]}"'},
    )
    assert r.status_code == 200, r.text
    # Closing the home withdrew its voids: a new request on one is refused outright...
    r = await http.post("/bookings", json=ask(region, void=void, urgency="today"), headers=buyer.h)
    assert_problem(r, 422, "void_not_open")
    # ...and the owner's own request for the bed is declined home_closed.
    own = {**ask(region, void=void, urgency="today"), "bed_id": home["beds"][0]["id"]}
    own.pop("void_id")
    b = await book(http, owner, own)
    assert (b["status"], b["status_reason"]) == ("declined", "home_closed")


async def test_a_request_waiting_when_the_home_closes_is_declined_home_closed(
    region, http, coop, clock
):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, buyer, ask(region, void=void))  # waits out the home window
    assert b["status"] == "pending"
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"status": "closed"},
        headers={**owner.h, "If-Match": f'"{home["version"]}"'},
    )
    assert r.status_code == 200
    clock.advance(hours=49)
    await sweep(coop)
    assert await status(http, buyer, b) == ("declined", "home_closed")


async def test_a_suspended_requester_is_declined(region, http):
    owner = await region.authority("cambs")
    suspended = await region.authority("lincs", membership="suspended")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, suspended, ask(region, void=void, urgency="today"))
    assert (b["status"], b["status_reason"]) == ("declined", "requester_suspended")


async def test_a_start_that_passes_before_decide_at_expires_start_passed(region, http, coop, clock):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, buyer, ask(region, void=void, start=1, end=20))
    assert b["status"] == "pending"
    clock.advance(hours=49)
    await sweep(coop)
    assert await status(http, buyer, b) == ("expired", "start_passed")


async def test_a_start_that_passes_is_expired_even_before_decide_at(region, http, coop, clock):
    """The sweep picks the bed up as due once the start has passed; the allocator must act on
    it then, not leave it pending until a ``decide_at`` that can no longer help."""
    await put_policy(http, region, {"priority": {"home_window": "PT96H"}})
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, buyer, ask(region, void=void, start=1, end=20))
    clock.advance(days=2, hours=1)
    assert ts(b["decide_at"]) > clock.now()
    await sweep(coop)
    assert await status(http, buyer, b) == ("expired", "start_passed")
