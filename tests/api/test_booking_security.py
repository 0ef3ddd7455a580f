"""Four security holes in bookings, pinned over HTTP (SPEC §2 Booking, §3 Allocation, §5).

1. An end date cannot block a bed forever: `/end` stays within
   `[start, min(end_date, today + early_end_notice_days)]`, its `notice_date` between the
   booking's start (or the day it was made, if earlier) and today.
2. A quote never leaks other councils' children: for anyone but the bed's owner it does not
   evaluate `only_older` / `only_younger`, and lists them under `checked_at_decision`.
3. An `Idempotency-Key` replay never skips authorisation: a client without the move's scope
   gets 403, never the stored response.
4. A declined booking's events name the booking that won the bed only to the bed's owner.

A refused request changes nothing: the booking keeps its status, version and events.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from coop.db.schema import booking_events, bookings
from tests.api.test_bookings_moves import events, market
from tests.api.test_bookings_policy import ask, book, get, post, put_policy
from tests.support import Actor, Region, assert_problem, child, count, field_of

SECRET_REF = "case-secret-7731"


async def placement(region: Region, http: httpx.AsyncClient, *, end: int = 28) -> tuple:
    """An owner, a buyer, the home, and the buyer's `active` booking of the home's first bed
    (started today, planned end ``end`` days out; the child's ref is ``SECRET_REF``)."""
    owner, (buyer,), home, void = await market(region, "suffolk")
    body = ask(region, void=void, urgency="today", end=end, child=child(ref=SECRET_REF))
    b = await book(http, buyer, body)
    assert b["status"] == "offered", b
    await post(http, owner, b, "accept")
    b = await post(http, owner, b, "start", {"date": region.day(0)})
    assert (b["status"], b["actual_start_date"]) == ("active", region.day(0)), b
    return owner, buyer, home, b


async def n_events(coop: Any, booking: dict[str, Any]) -> int:
    return await count(coop, booking_events, booking_events.c.booking_id == booking["id"])


async def end_refused(
    http: httpx.AsyncClient,
    coop: Any,
    actor: Actor,
    booking: dict[str, Any],
    body: dict[str, Any],
    *fields: str,
) -> None:
    """``POST /end`` is a 422 naming one of ``fields``, and the booking has not moved."""
    before = await n_events(coop, booking)
    r = await http.post(f"/bookings/{booking['id']}/end", json=body, headers=actor.h)
    problem = assert_problem(r, 422, "validation_error")
    assert field_of(problem) in fields, problem
    now = await get(http, actor, booking)
    assert (now["status"], now["version"]) == ("active", booking["version"]), now
    assert (now["actual_end_date"], now["notice_date"]) == (None, None), now
    assert await n_events(coop, booking) == before


async def end(
    http: httpx.AsyncClient, actor: Actor, booking: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    ended = await post(http, actor, booking, "end", {"reason": "went home", **body})
    assert ended["status"] == "ended", ended
    assert ended["actual_end_date"] == body["date"], ended
    return ended


# -- 1. an end date cannot block a bed forever -----------------------------------------------


async def test_an_end_at_the_end_of_time_is_refused_and_the_bed_is_not_blocked(region, http, coop):
    owner, buyer, home, b = await placement(region, http)
    absurd = {"date": "9999-12-31", "reason": "x", "notice_date": "0001-01-01"}
    for who in (buyer, owner):
        await end_refused(http, coop, who, b, absurd, "date", "notice_date")
    # The bed is free again after the planned end: the owner's own request gets it.
    bed = home["beds"][0]["id"]
    own = await book(http, owner, ask(region, bed=bed, start=28, end=40))
    assert (own["status"], own["status_reason"]) == ("offered", None), own


async def test_an_end_after_the_planned_end_is_refused_never_an_extension(region, http, coop):
    owner, buyer, _, b = await placement(region, http, end=10)
    # day 11 is within the notice period (today + 28): only the planned end forbids it
    await end_refused(http, coop, buyer, b, {"date": region.day(11), "reason": "x"}, "date")
    await end_refused(http, coop, owner, b, {"date": region.day(11), "reason": "x"}, "date")


async def test_an_end_beyond_the_notice_period_is_refused(region, http, coop, clock):
    _, buyer, _, b = await placement(region, http, end=200)
    clock.advance(days=10)
    # before the planned end (day 190 from now) but after today + 28
    await end_refused(http, coop, buyer, b, {"date": region.day(29), "reason": "x"}, "date")


async def test_the_notice_period_is_the_region_policys(region, http, coop):
    await put_policy(http, region, {"pricing": {"early_end_notice_days": 7}})
    _, buyer, _, b = await placement(region, http, end=200)
    await end_refused(http, coop, buyer, b, {"date": region.day(8), "reason": "x"}, "date")
    await end(http, buyer, b, {"date": region.day(7)})


async def test_notice_dated_before_the_start_is_refused(region, http, coop, clock):
    owner, buyer, _, b = await placement(region, http)  # made and started today
    clock.advance(days=3)
    body = {"date": region.day(0), "reason": "x", "notice_date": region.day(-4)}
    await end_refused(http, coop, buyer, b, body, "notice_date")
    await end_refused(http, coop, owner, b, body, "notice_date")


async def test_notice_dated_in_the_future_is_refused(region, http, coop):
    _, buyer, _, b = await placement(region, http)
    body = {"date": region.day(0), "reason": "x", "notice_date": region.day(1)}
    await end_refused(http, coop, buyer, b, body, "notice_date")


async def test_notice_reaches_back_to_the_day_the_booking_was_made_not_before(
    region, http, coop, clock
):
    """The owner books its own bed four days ahead: notice may date from the day it asked."""
    owner, _, home, _ = await market(region)
    made = region.day(0)
    own = await book(http, owner, ask(region, bed=home["beds"][1]["id"], start=4, end=60))
    assert own["status"] == "offered", own
    await post(http, owner, own, "accept")
    clock.advance(days=4)
    own = await post(http, owner, own, "start", {"date": region.day(0)})
    body = {"date": region.day(0), "reason": "x", "notice_date": region.day(-5)}
    await end_refused(http, coop, owner, own, body, "notice_date")
    ended = await end(http, owner, own, {"date": region.day(0), "notice_date": made})
    assert ended["notice_date"] == made


async def test_an_end_on_the_planned_end_is_accepted(region, http):
    _, buyer, _, b = await placement(region, http, end=10)
    await end(http, buyer, b, {"date": region.day(10)})


async def test_an_end_on_the_last_day_of_notice_is_accepted(region, http, clock):
    _, buyer, _, b = await placement(region, http, end=200)
    clock.advance(days=10)
    await end(http, buyer, b, {"date": region.day(28)})  # today + 28, not start + 28


async def test_notice_dated_on_the_start_is_accepted(region, http, clock):
    owner, _, _, b = await placement(region, http)
    start = region.day(0)
    clock.advance(days=3)
    ended = await end(http, owner, b, {"date": region.day(0), "notice_date": start})
    assert ended["notice_date"] == start


async def test_after_an_honest_early_end_the_owner_gets_the_days_after(region, http, clock):
    owner, buyer, home, b = await placement(region, http, end=200)
    clock.advance(days=10)
    await end(http, buyer, b, {"date": region.day(14)})
    bed = home["beds"][0]["id"]
    own = await book(http, owner, ask(region, bed=bed, start=14, end=40))
    assert (own["status"], own["status_reason"]) == ("offered", None), own


# -- 2. quotes never leak other councils' children -------------------------------------------


async def home_with_resident(
    region: Region, http: httpx.AsyncClient, age: int, *, arrived: bool
) -> tuple[Actor, Actor, dict, dict]:
    """An owner whose home's second bed is taken by another council's child of ``age`` over
    the next four weeks (confirmed, or active when ``arrived``); an open void on the first
    bed; and a third council, the buyer."""
    owner = await region.authority("cambs")
    placer = await region.authority("norfolk")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    there = ask(
        region,
        void=await region.void(owner, bed_b),
        urgency="today",
        child=child(ref="resident", age=age),
    )
    resident = await book(http, placer, there)
    assert resident["status"] == "offered", resident
    await post(http, owner, resident, "accept")
    if arrived:
        await post(http, owner, resident, "start", {"date": region.day(0)})
    return owner, buyer, home, await region.void(owner, bed_a)


async def quote(http: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/bookings/quote", json=body, headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


def verdict(q: dict[str, Any]) -> tuple:
    return q["fits"], q["reasons"], q.get("checked_at_decision")


async def test_a_quote_by_another_council_never_depends_on_the_children_living_there(region, http):
    _, buyer, _, void = await home_with_resident(region, http, 15, arrived=True)
    quotes = {}
    for wish in ("only_older", "only_younger"):
        for age in range(8, 18):  # the home's whole age range, the resident's (15) among them
            body = ask(
                region, void=void, urgency="today", child=child(age=age, care_alongside=wish)
            )
            quotes[wish, age] = await quote(http, buyer, body)
    # Probing ages would reveal the resident's: the verdict is the same for every age...
    verdicts = {key: verdict(q) for key, q in quotes.items()}
    assert len(set(map(repr, verdicts.values()))) == 1, verdicts
    # ...and so is every other field of the answer.
    for (wish, age), q in quotes.items():
        assert q == quotes[wish, 8], (wish, age, q)
    # The rule is left to the decision, and nothing else stands in the way.
    assert verdicts["only_older", 8] == (True, [], ["care_alongside"]), verdicts


async def test_care_alongside_rules_on_the_homes_size_are_still_quoted(region, http):
    owner, buyer, _, void = await home_with_resident(region, http, 15, arrived=True)
    solo_home = await region.home(owner, beds=[{"label": "A"}])
    solo_void = await region.void(owner, solo_home["beds"][0]["id"])
    cases = [
        (void, "no_preference", []),
        (void, "with_others", []),
        (void, "solo", ["care_alongside"]),  # a dual home
        (solo_void, "solo", []),
        (solo_void, "with_others", ["care_alongside"]),
    ]
    for on, wish, reasons in cases:
        body = ask(region, void=on, urgency="today", child=child(care_alongside=wish))
        q = await quote(http, buyer, body)
        assert verdict(q) == (not reasons, reasons, []), (wish, q)


async def test_the_owner_quoting_its_own_bed_still_sees_care_alongside(region, http):
    owner, _, home, _ = await home_with_resident(region, http, 15, arrived=True)
    bed = home["beds"][0]["id"]
    older_only = child(age=16, care_alongside="only_older")  # the resident (15) is younger
    q = await quote(http, owner, ask(region, bed=bed, urgency="today", child=older_only))
    assert verdict(q) == (False, ["care_alongside"], []), q
    fits = child(age=12, care_alongside="only_older")
    q = await quote(http, owner, ask(region, bed=bed, urgency="today", child=fits))
    assert verdict(q) == (True, [], []), q


async def test_the_decision_still_applies_care_alongside_to_another_council(region, http):
    _, buyer, _, void = await home_with_resident(region, http, 9, arrived=False)
    older_only = child(age=12, care_alongside="only_older")  # the resident (9) is younger
    b = await book(http, buyer, ask(region, void=void, urgency="today", child=older_only))
    assert (b["status"], b["status_reason"]) == ("declined", "care_alongside"), b
    control = child(age=8, care_alongside="only_older")  # the resident is older
    b = await book(http, buyer, ask(region, void=void, urgency="today", child=control))
    assert (b["status"], b["status_reason"]) == ("offered", None), b


# -- 3. an Idempotency-Key replay never skips authorisation ----------------------------------


async def snapshot(coop: Any, booking_id: str) -> tuple:
    """What a refused request must not change: the booking's status and version, its events."""
    async with coop.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(bookings.c.status, bookings.c.version).where(bookings.c.id == booking_id)
            )
        ).one()
    n = await count(coop, booking_events, booking_events.c.booking_id == booking_id)
    return (*row, n)


def refused_replay(r: httpx.Response) -> None:
    """A 403 for the missing scope: not the stored response, nothing of the child in it."""
    body = assert_problem(r, 403, "insufficient_scope")
    assert "idempotent-replayed" not in r.headers, r.headers
    assert "child" not in body and "status_now" not in body, body
    assert SECRET_REF not in r.text, r.text


async def replay_refused_then_allowed(
    http: httpx.AsyncClient,
    coop: Any,
    url: str,
    body: Any,
    key: str,
    first: httpx.Response,
    original: Actor,
    others: list[Actor],
    booking_id: str,
) -> None:
    """Each of ``others`` replaying ``key`` is refused and moves nothing; ``original``
    replaying it gets ``first`` back."""
    before = await snapshot(coop, booking_id)
    for other in others:
        r = await http.post(url, json=body, headers={**other.h, "Idempotency-Key": key})
        refused_replay(r)
        assert await snapshot(coop, booking_id) == before
    again = await http.post(url, json=body, headers={**original.h, "Idempotency-Key": key})
    assert again.status_code == first.status_code, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await snapshot(coop, booking_id) == before


async def test_a_replayed_end_key_without_bookings_write_is_403(region, http, coop):
    _, buyer, _, b = await placement(region, http)
    reader = await region.client(buyer.authority, ["market:read"])
    url, body = f"/bookings/{b['id']}/end", {"date": region.day(0), "reason": "went home"}
    first = await http.post(url, json=body, headers={**buyer.h, "Idempotency-Key": "end-1"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "ended"
    await replay_refused_then_allowed(
        http, coop, url, body, "end-1", first, buyer, [reader], b["id"]
    )


async def test_a_replayed_owner_end_key_without_homes_write_is_403(region, http, coop):
    owner, _, _, b = await placement(region, http)
    readers = [
        await region.client(owner.authority, ["market:read"]),
        await region.client(owner.authority, ["market:read", "bookings:write"]),
    ]
    url, body = f"/bookings/{b['id']}/end", {"date": region.day(0), "reason": "needs changed"}
    first = await http.post(url, json=body, headers={**owner.h, "Idempotency-Key": "end-2"})
    assert first.status_code == 200, first.text
    await replay_refused_then_allowed(
        http, coop, url, body, "end-2", first, owner, readers, b["id"]
    )


MOVES = {  # move: (side, the state it is made from, body)
    "withdraw": ("requester", "offered", {"reason": "placed elsewhere"}),
    "cancel": ("requester", "confirmed", {"reason": "child placed at home"}),
    "accept": ("owner", "offered", None),
    "reject": ("owner", "offered", {"reason": "not a match"}),
    "start": ("owner", "confirmed", "today"),
}
OTHER_SIDE = {"requester": "homes:write", "owner": "bookings:write"}


@pytest.mark.parametrize("name", list(MOVES))
async def test_a_replayed_move_key_without_the_moves_scope_is_403(region, http, coop, name):
    side, state, body = MOVES[name]
    if body == "today":
        body = {"date": region.day(0)}
    owner, (buyer,), _, void = await market(region, "suffolk")
    b = await book(
        http, buyer, ask(region, void=void, urgency="today", child=child(ref=SECRET_REF))
    )
    if state == "confirmed":
        await post(http, owner, b, "accept")
    mover = buyer if side == "requester" else owner
    readers = [
        await region.client(mover.authority, ["market:read"]),
        await region.client(mover.authority, ["market:read", OTHER_SIDE[side]]),
    ]
    url, key = f"/bookings/{b['id']}/{name}", f"{name}-1"
    first = await http.post(url, json=body, headers={**mover.h, "Idempotency-Key": key})
    assert first.status_code == 200, first.text
    await replay_refused_then_allowed(http, coop, url, body, key, first, mover, readers, b["id"])


async def test_a_replayed_request_key_without_bookings_write_is_403(region, http, coop):
    _, (buyer,), _, void = await market(region, "suffolk")
    readers = [
        await region.client(buyer.authority, ["market:read"]),
        await region.client(buyer.authority, ["market:read", "homes:write"]),
    ]
    body = ask(region, void=void, urgency="today", child=child(ref=SECRET_REF))
    first = await http.post("/bookings", json=body, headers={**buyer.h, "Idempotency-Key": "req-1"})
    assert first.status_code == 201, first.text
    await replay_refused_then_allowed(
        http, coop, "/bookings", body, "req-1", first, buyer, readers, first.json()["id"]
    )
    assert await count(coop, bookings, bookings.c.region == region.slug) == 1


# -- 4. a declined booking's events name the winner only to the bed's owner ------------------


async def outranked(region: Region, http: httpx.AsyncClient) -> tuple:
    """Two councils ask for the same void today: A is offered, B waits; the owner accepts A
    and B is declined, outranked."""
    owner, (m1, m2), _, void = await market(region, "suffolk", "norfolk")
    a = await book(http, m1, ask(region, void=void, urgency="today"))
    b = await book(http, m2, ask(region, void=void, urgency="today"))
    assert (a["status"], b["status"]) == ("offered", "pending")
    await post(http, owner, a, "accept")
    assert (await get(http, m2, b))["status_reason"] == "outranked"
    return owner, m2, a, b


async def test_the_loser_of_a_bed_is_not_told_which_booking_won_it(region, http):
    _, loser, winner, b = await outranked(region, http)
    r = await http.get(f"/bookings/{b['id']}/events", headers=loser.h)
    assert r.status_code == 200, r.text
    last = r.json()[-1]
    assert (last["to_status"], last["reason"]) == ("declined", "outranked"), last
    assert "lost_to" not in (last["detail"] or {}), last
    assert winner["id"] not in r.text, r.text
    r = await http.get(f"/bookings/{b['id']}", headers=loser.h)
    assert r.status_code == 200, r.text
    assert winner["id"] not in r.text, r.text


async def test_the_beds_owner_is_told_which_booking_won_it(region, http):
    owner, _, winner, b = await outranked(region, http)
    last = (await events(http, owner, b))[-1]
    assert (last["to_status"], last["reason"]) == ("declined", "outranked"), last
    assert last["detail"]["lost_to"] == winner["id"], last


async def test_a_request_found_unavailable_is_not_told_the_owners_booking(region, http):
    owner, (buyer,), _, void = await market(region, "suffolk")
    member = await book(http, buyer, ask(region, void=void))  # waits out the home window
    own = await book(http, owner, ask(region, void=void))
    assert own["status"] == "offered", own
    await post(http, owner, own, "accept")
    r = await http.get(f"/bookings/{member['id']}/events", headers=buyer.h)
    assert r.status_code == 200, r.text
    last = r.json()[-1]
    assert (last["to_status"], last["reason"]) == ("declined", "unavailable"), last
    assert "lost_to" not in (last["detail"] or {}), last
    assert own["id"] not in r.text, r.text
    assert (await events(http, owner, member))[-1]["detail"]["lost_to"] == own["id"]
