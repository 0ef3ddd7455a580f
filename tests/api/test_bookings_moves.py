"""The moves of a booking over HTTP: guards, the event log, idempotency, visibility, and the
arq jobs that wake allocation and expire holds (SPEC §2 Booking, §3 Allocation, §5)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

from arq.jobs import Job

from coop.auth.schemas import ClientIn
from coop.bookings.jobs import allocate_bed, expire_offer
from coop.db.schema import booking_events, bookings
from tests.api.test_bookings_policy import ask, book, child, get, post, status, sweep, ts
from tests.support import assert_problem, count, issue


async def market(region: Any, *names: str, **home: Any) -> tuple[Any, list[Any], dict, dict]:
    """An owner with one home and an open void on its first bed, and a buyer per name."""
    owner = await region.authority("cambs")
    buyers = [await region.authority(n) for n in names]
    h = await region.home(owner, **home)
    void = await region.void(owner, h["beds"][0]["id"])
    return owner, buyers, h, void


async def events(http: Any, actor: Any, booking: dict[str, Any]) -> list[dict[str, Any]]:
    r = await http.get(f"/bookings/{booking['id']}/events", headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


# -- 8. moves and guards ---------------------------------------------------------------------


async def test_moves_the_state_machine_does_not_have_are_409(region, http, clock):
    owner, (buyer,), _, void = await market(region, "suffolk")
    pending = await book(http, buyer, ask(region, void=void, start=40, end=60))
    offered = await book(http, buyer, ask(region, void=void, urgency="today"))
    assert (pending["status"], offered["status"]) == ("pending", "offered")

    body = assert_problem(
        await http.post(f"/bookings/{pending['id']}/accept", headers=owner.h),
        409,
        "invalid_transition",
    )
    assert body["status_now"] == "pending"
    assert_problem(
        await http.post(f"/bookings/{pending['id']}/cancel", headers=buyer.h),
        409,
        "invalid_transition",
    )
    assert_problem(
        await http.post(
            f"/bookings/{offered['id']}/start", json={"date": region.day(0)}, headers=owner.h
        ),
        409,
        "invalid_transition",
    )
    await post(http, owner, offered, "accept")
    body = assert_problem(
        await http.post(f"/bookings/{offered['id']}/withdraw", headers=buyer.h),
        409,
        "invalid_transition",
    )
    assert (body["status_now"], sorted(body["allowed_moves"])) == (
        "confirmed",
        ["cancel", "start"],
    )
    assert_problem(
        await http.post(
            f"/bookings/{offered['id']}/end",
            json={"date": region.day(0), "reason": "x"},
            headers=buyer.h,
        ),
        409,
        "invalid_transition",
    )
    # nothing moved
    assert await status(http, buyer, pending) == ("pending", None)
    assert (await get(http, buyer, offered))["status"] == "confirmed"


async def test_each_side_makes_only_its_own_moves_and_a_stranger_sees_nothing(region, http):
    owner, (buyer, stranger), _, void = await market(region, "suffolk", "norfolk")
    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    assert b["status"] == "offered"

    for move in ("withdraw", "cancel"):
        r = await http.post(f"/bookings/{b['id']}/{move}", headers=owner.h)
        assert_problem(r, 403, "not_requester")
    for move, body in (("accept", None), ("reject", {"reason": "no"})):
        r = await http.post(f"/bookings/{b['id']}/{move}", json=body, headers=buyer.h)
        assert_problem(r, 403, "not_owner")
    r = await http.post(f"/bookings/{b['id']}/start", json={"date": region.day(0)}, headers=buyer.h)
    assert_problem(r, 403, "not_owner")
    for move, body in (
        ("accept", None),
        ("reject", {"reason": "no"}),
        ("withdraw", None),
        ("cancel", None),
        ("start", {"date": region.day(0)}),
        ("end", {"date": region.day(0), "reason": "x"}),
    ):
        r = await http.post(f"/bookings/{b['id']}/{move}", json=body, headers=stranger.h)
        assert_problem(r, 404, "not_found")
    assert await status(http, buyer, b) == ("offered", None)


async def test_withdrawing_an_offer_passes_the_bed_to_the_next(region, http):
    _, (m1, m2), _, void = await market(region, "suffolk", "norfolk")
    first = await book(http, m1, ask(region, void=void, urgency="today"))
    second = await book(http, m2, ask(region, void=void, urgency="today"))
    assert (first["status"], second["status"]) == ("offered", "pending")
    r = await post(http, m1, first, "withdraw", {"reason": "placed elsewhere"})
    assert (r["status"], r["status_reason"]) == ("withdrawn", "withdrawn")
    assert await status(http, m2, second) == ("offered", None)
    # a pending request can be withdrawn too
    third = await book(http, m1, ask(region, void=void, start=40, end=60))
    r = await post(http, m1, third, "withdraw")
    assert (r["status"], r["status_reason"]) == ("withdrawn", "withdrawn")


async def test_cancelling_a_confirmed_booking_records_the_day_and_frees_the_bed(
    region, http, clock
):
    owner, (buyer, other), _, void = await market(region, "suffolk", "norfolk")
    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    await post(http, owner, b, "accept")
    clock.advance(hours=1)
    r = await post(http, buyer, b, "cancel", {"reason": "child placed at home"})
    assert (r["status"], r["cancelled_on"]) == ("cancelled", region.day(0))
    # The bed is free again over those days.
    again = await book(http, other, ask(region, void=void, urgency="today", end=10))
    assert again["status"] == "offered", again


async def test_start_and_end_by_either_side_with_every_move_in_the_events(region, http, clock):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    voids = [await region.void(owner, bed["id"]) for bed in home["beds"]]
    t0 = clock.now()
    a = await book(http, buyer, ask(region, void=voids[0], urgency="today"))
    b = await book(http, buyer, ask(region, void=voids[1], urgency="today"))
    for x in (a, b):
        await post(http, owner, x, "accept")
        r = await http.post(
            f"/bookings/{x['id']}/start", json={"date": region.day(1)}, headers=owner.h
        )
        assert_problem(r, 422, "validation_error")  # an arrival is recorded, not foretold
        r = await post(http, owner, x, "start", {"date": region.day(0)})
        assert (r["status"], r["actual_start_date"]) == ("active", region.day(0))

    clock.advance(days=3)
    t1 = clock.now()
    ended = await post(http, buyer, a, "end", {"date": region.day(0), "reason": "went home"})
    assert ended["status"] == "ended"
    assert (ended["actual_end_date"], ended["notice_date"]) == (region.day(0), region.day(0))
    ended = await post(
        http,
        owner,
        b,
        "end",
        {"date": region.day(0), "reason": "needs changed", "notice_date": region.day(-2)},
    )
    assert (ended["actual_end_date"], ended["notice_date"]) == (region.day(0), region.day(-2))

    buyer_actor = f"client:{buyer.client_id}"
    owner_actor = f"client:{owner.client_id}"
    got = [
        (e["actor"], e["actor_authority"], e["from_status"], e["to_status"], e["reason"])
        for e in await events(http, buyer, a)
    ]
    assert got == [
        (buyer_actor, buyer.authority, None, "pending", "requested"),
        ("system:allocator", None, "pending", "offered", None),
        (owner_actor, owner.authority, "offered", "confirmed", "owner_accepted"),
        (owner_actor, owner.authority, "confirmed", "active", "arrived"),
        (buyer_actor, buyer.authority, "active", "ended", "ended"),
    ]
    at = [ts(e["at"]) for e in await events(http, owner, a)]
    assert at == [t0, t0, t0, t0, t1]
    last = (await events(http, owner, b))[-1]
    assert (last["actor"], last["actor_authority"], last["to_status"]) == (
        owner_actor,
        owner.authority,
        "ended",
    )
    assert last["detail"] == {"note": "needs changed"}


# -- 9. idempotency --------------------------------------------------------------------------


async def test_a_repeated_request_with_the_same_key_is_one_booking(region, http, coop):
    _, (buyer, other), _, void = await market(region, "suffolk", "norfolk")
    body = ask(region, void=void)
    headers = {**buyer.h, "Idempotency-Key": "req-0001"}
    first = await http.post("/bookings", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await http.post("/bookings", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    in_region = bookings.c.region == region.slug
    assert await count(coop, bookings, in_region) == 1

    changed = {**body, "child": child(ref="case-0043")}
    r = await http.post("/bookings", json=changed, headers=headers)
    assert_problem(r, 422, "idempotency_key_reused")
    assert await count(coop, bookings, in_region) == 1

    # Another authority's key is its own.
    theirs = await http.post(
        "/bookings", json=body, headers={**other.h, "Idempotency-Key": "req-0001"}
    )
    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["requester"] == other.authority
    assert await count(coop, bookings, in_region) == 2


async def test_a_retry_after_midnight_replays_rather_than_rechecking_the_dates(
    region, http, coop, clock
):
    """A `today` request retried (same key, same body) once the day has turned gets the first
    response back, not a 422 for a start that is no longer today."""
    _, (buyer,), _, void = await market(region, "suffolk")
    clock.set(datetime.combine(clock.today() + timedelta(days=1), time(23, 59, 50), UTC))
    body = ask(region, void=void, urgency="today")
    headers = {**buyer.h, "Idempotency-Key": "late-night"}
    first = await http.post("/bookings", json=body, headers=headers)
    assert first.status_code == 201, first.text
    clock.advance(seconds=20)
    again = await http.post("/bookings", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


async def test_a_repeated_move_with_the_same_key_returns_the_first_response(region, http, coop):
    owner, (buyer,), _, void = await market(region, "suffolk")
    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    headers = {**owner.h, "Idempotency-Key": "accept-1"}
    first = await http.post(f"/bookings/{b['id']}/accept", headers=headers)
    assert first.status_code == 200, first.text
    again = await http.post(f"/bookings/{b['id']}/accept", headers=headers)
    assert again.status_code == 200, again.text  # not 409: the first answer, replayed
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["status"] == "confirmed"
    n = await count(coop, booking_events, booking_events.c.booking_id == b["id"])
    assert n == 3  # requested, offered, confirmed: the repeat moved nothing
    r = await http.post(f"/bookings/{b['id']}/accept", headers=owner.h)
    assert_problem(r, 409, "invalid_transition")  # without the key it is a new request


# -- 10. visibility --------------------------------------------------------------------------


async def test_only_the_requester_and_the_beds_owner_see_a_booking(region, http):
    owner, (buyer, stranger), home, void = await market(region, "suffolk", "norfolk")
    theirs = await book(http, buyer, ask(region, void=void, urgency="today"))
    own = await book(http, owner, ask(region, bed=home["beds"][1]["id"]))

    for who in (buyer, owner):
        seen = await get(http, who, theirs)
        assert seen["child"] == theirs["child"]
        assert {k: seen["child"][k] for k in child()} == child()
    assert_problem(
        await http.get(f"/bookings/{theirs['id']}", headers=stranger.h), 404, "not_found"
    )
    r = await http.get(f"/bookings/{theirs['id']}/events", headers=stranger.h)
    assert_problem(r, 404, "not_found")

    async def listed(actor: Any, **params: Any) -> set[str]:
        r = await http.get("/bookings", params={"limit": 200, **params}, headers=actor.h)
        assert r.status_code == 200, r.text
        return {b["id"] for b in r.json()["items"]}

    assert await listed(stranger) == set()
    assert await listed(buyer) == {theirs["id"]}
    assert await listed(buyer, role="requester") == {theirs["id"]}
    assert await listed(buyer, role="owner") == set()
    assert await listed(owner) == {theirs["id"], own["id"]}
    assert await listed(owner, role="owner") == {theirs["id"], own["id"]}
    assert await listed(owner, role="requester") == {own["id"]}
    assert await listed(owner, bed_id=home["beds"][1]["id"]) == {own["id"]}
    assert await listed(owner, status="offered", home_id=home["id"]) == {theirs["id"], own["id"]}
    assert await listed(owner, status="pending") == set()


async def test_a_region_level_client_cannot_request_a_bed(region, http, coop):
    _, _, _, void = await market(region)
    regional = await issue(
        http, coop, ClientIn(region=region.slug, scopes=["market:read", "bookings:write"])
    )
    r = await http.post("/bookings", json=ask(region, void=void), headers=regional.h)
    assert_problem(r, 403, "authority_required")
    assert await count(coop, bookings, bookings.c.region == region.slug) == 0


# -- 11. jobs --------------------------------------------------------------------------------


def ms(text: str) -> int:
    return int(ts(text).timestamp() * 1000)


async def jobs_for(coop: Any, function: str, arg: str) -> list[Any]:
    """Queued arq jobs (``JobDef``) calling ``function(arg)``. Like ``ArqRedis.queued_jobs()``,
    but a queue entry whose job has already expired from a long-lived Redis is skipped instead
    of failing the lookup (the queue is shared by every test, and by earlier sessions)."""
    redis = coop.redis
    ids = await redis.zrange(redis.default_queue_name, 0, -1)
    infos = await asyncio.gather(*(Job(i.decode(), redis).info() for i in ids))
    found = []
    for job_id, job in zip(ids, infos, strict=True):
        if job and job.function == function and job.args == (arg,):
            job.job_id = job_id.decode()
            found.append(job)
    return found


async def test_jobs_wake_allocation_and_expire_holds_like_the_sweep(region, http, coop, clock):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    by_job, by_sweep = await region.home(owner), await region.home(owner)
    bed_j, bed_s = by_job["beds"][0]["id"], by_sweep["beds"][0]["id"]
    j = await book(http, buyer, ask(region, void=await region.void(owner, bed_j), start=10))
    s = await book(http, buyer, ask(region, void=await region.void(owner, bed_s), start=10))
    assert j["status"] == s["status"] == "pending"

    (wake,) = await jobs_for(coop, "allocate_bed", bed_j)
    assert wake.score == ms(j["decide_at"])  # deferred to decide_at
    assert wake.job_id and bed_j in wake.job_id

    ctx = {"engine": coop.engine, "clock": coop.clock, "redis": coop.redis}
    clock.advance(hours=49)
    assert await allocate_bed(ctx, bed_j) == bed_j
    offered = await get(http, buyer, j)
    assert offered["status"] == "offered"
    (hold,) = await jobs_for(coop, "expire_offer", j["id"])
    assert hold.score == ms(offered["offer_expires_at"])
    await allocate_bed(ctx, bed_j)  # again: nothing more happens
    assert await get(http, buyer, j) == offered
    assert len(await events(http, buyer, j)) == 2

    await sweep(coop)
    swept = await get(http, buyer, s)
    same = ("status", "status_reason", "offered_at", "offer_expires_at", "weekly_rate_pence")
    assert {k: swept[k] for k in same} == {k: offered[k] for k in same}

    def story(evs: list[dict]) -> list[tuple]:
        return [(e["actor"], e["from_status"], e["to_status"], e["reason"]) for e in evs]

    assert story(await events(http, buyer, s)) == story(await events(http, buyer, j))

    # The hold runs out: the expiry job and the sweep agree, and the job is idempotent.
    clock.advance(hours=48, seconds=1)
    assert await expire_offer(ctx, j["id"]) == bed_j
    expired = await get(http, buyer, j)
    assert (expired["status"], expired["status_reason"]) == ("declined", "offer_expired")
    await expire_offer(ctx, j["id"])
    assert await get(http, buyer, j) == expired
    await sweep(coop)
    swept = await get(http, buyer, s)
    assert (swept["status"], swept["status_reason"]) == ("declined", "offer_expired")
    assert story(await events(http, buyer, s)) == story(await events(http, buyer, j))
    assert await expire_offer(ctx, "bkg_does_not_exist") is None


async def test_an_offer_made_inside_the_request_schedules_its_expiry(region, http, coop, clock):
    _, (buyer,), _, void = await market(region, "suffolk")
    b = await book(http, buyer, ask(region, void=void, urgency="today"))
    (hold,) = await jobs_for(coop, "expire_offer", b["id"])
    assert hold.score == ms(b["offer_expires_at"])
    assert ts(b["offer_expires_at"]) == clock.now() + timedelta(hours=4)
    assert await jobs_for(coop, "allocate_bed", b["bed_id"]) == []  # decided already
