"""Prices to the penny, the rate locked at confirmation, quotes, and the date rules
(SPEC §2 Booking, §3 Price, §5 ``POST /bookings/quote``), over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_bookings_policy import ask, book, child, get, in_region, post, put_policy, ts
from tests.support import Actor, assert_problem

# -- 6. prices -------------------------------------------------------------------------------


async def quote(http: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/bookings/quote", json=body, headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


async def test_prices_to_the_penny(region, http, coop):
    owner = await region.authority("cambs")
    member = await region.authority("suffolk")
    assoc = await region.authority("lincs", membership="associate")
    dual = await region.home(owner)
    multi = await region.home(owner, weekly_cost_pence=700_000, beds=[{"label": x} for x in "ABC"])
    solo = await region.home(owner, weekly_cost_pence=700_000, beds=[{"label": "A"}])
    dual_void = await region.void(owner, dual["beds"][0]["id"])
    multi_void = await region.void(owner, multi["beds"][0]["id"])
    solo_void = await region.void(owner, solo["beds"][0]["id"])

    cases = [
        (member, dual_void, "planned", 525_000),
        (member, dual_void, "today", 577_500),
        (assoc, dual_void, "planned", 603_750),  # 525,000 × 1.15
        (assoc, dual_void, "today", 664_125),  # 603,750 × 1.10
        (member, multi_void, "planned", 650_000),  # 735,000 capped
        (member, solo_void, "planned", 735_000),  # under the solo ceiling
    ]
    for who, void, urgency, rate in cases:
        q = await quote(http, who, ask(region, void=void, urgency=urgency))
        assert q["weekly_rate_pence"] == rate, (void["id"], urgency, q)
        assert q["price_breakdown"]["chargeable"] is True
    multi_q = await quote(http, member, ask(region, void=multi_void))
    assert multi_q["price_breakdown"]["capped"] is True
    assert multi_q["price_breakdown"]["ceiling_pence"] == 650_000

    # The booking carries the quoted number.
    before = await in_region(coop, region)
    for who, void, urgency, rate in cases:
        b = await book(http, who, ask(region, void=void, urgency=urgency))
        assert b["weekly_rate_pence"] == rate
    assert await in_region(coop, region) == before + len(cases)

    # The owner's own bed: the rate is shown, nothing is charged.
    own = await book(http, owner, ask(region, bed=dual["beds"][1]["id"]))
    assert own["status"] == "offered"
    assert own["weekly_rate_pence"] == 525_000
    assert own["price_breakdown"]["chargeable"] is False
    own_q = await quote(http, owner, ask(region, bed=dual["beds"][1]["id"], start=40, end=50))
    assert (own_q["weekly_rate_pence"], own_q["price_breakdown"]["chargeable"]) == (525_000, False)


async def test_the_rate_is_locked_at_confirmation(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    assert (b["status"], b["weekly_rate_pence"]) == ("offered", 577_500)

    v1 = await put_policy(http, region, {"pricing": {"margin_bp": 1000}})
    confirmed = await post(http, owner, b, "accept")
    assert confirmed["weekly_rate_pence"] == 605_000  # 500,000 × 1.10 × 1.10
    assert confirmed["price_breakdown"]["margin_bp"] == 1000
    assert confirmed["policy_version"] == v1

    await put_policy(http, region, {"pricing": {"margin_bp": 2000}})
    q = await quote(http, buyer, ask(region, void=void, urgency="today"))
    assert q["weekly_rate_pence"] == 660_000  # the new policy is in force...
    after = await get(http, buyer, b)
    assert after["weekly_rate_pence"] == 605_000  # ...but the confirmed rate stands
    assert after["policy_version"] == v1


async def test_quote_lists_every_reason_and_saves_nothing(region, http, coop):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    suspended = await region.authority("lincs", membership="suspended")
    home = await region.home(owner, gender="female", purpose="assessment")
    void = await region.void(owner, home["beds"][0]["id"], available_until=region.day(100))
    before = await in_region(coop, region)

    fits = await quote(http, buyer, ask(region, void=void))
    assert (fits["fits"], fits["reasons"], fits["weekly_rate_pence"]) == (True, [], 525_000)
    assert ts(fits["decide_at"]) == ts(void["home_priority_until"])

    bad_child = child(
        age=18,
        gender="male",
        needs=["mh_step_down"],
        risks_to_others=["sexual_harm"],
        dols=True,
        care_alongside="solo",
    )
    body = ask(
        region, void=void, start=4, end=4 + 21 * 7, child=bad_child, max_weekly_price_pence=1
    )
    q = await quote(http, buyer, body)
    assert q["fits"] is False
    assert q["reasons"] == [
        "outside_void",
        "age",
        "gender",
        "needs",
        "risks",
        "dols",
        "care_alongside",
        "max_weeks",
        "over_budget",
    ]
    assert q["weekly_rate_pence"] == 525_000
    sq = await quote(http, suspended, ask(region, void=void))
    assert sq["reasons"] == ["requester_suspended"]
    assert await in_region(coop, region) == before

    # The booking is priced as quoted.
    b = await book(http, buyer, ask(region, void=void))
    assert b["weekly_rate_pence"] == fits["weekly_rate_pence"]
    assert b["price_breakdown"] == fits["price_breakdown"]


# -- 7. dates --------------------------------------------------------------------------------


async def test_dates_are_checked_and_nothing_is_saved(region, http, coop):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    cases = [
        (ask(region, void=void, urgency="today", start=1), "urgency_mismatch"),
        (ask(region, void=void, urgency="within_5_days", start=6), "urgency_mismatch"),
        (ask(region, void=void, urgency="planned", start=-1), "start_in_past"),
        (ask(region, void=void, start=5, end=5), "validation_error"),
        (ask(region, void=void, start=5, end=4), "validation_error"),
    ]
    for body, code in cases:
        r = await http.post("/bookings", json=body, headers=buyer.h)
        assert_problem(r, 422, code)
        r = await http.post("/bookings/quote", json=body, headers=buyer.h)
        assert_problem(r, 422, code)
    assert await in_region(coop, region) == 0
    # the edges are accepted
    for body in (
        ask(region, void=void, urgency="within_5_days", start=5, end=6),
        ask(region, void=void, urgency="planned", start=0, end=1),
    ):
        await book(http, buyer, body)
