"""Races through the whole HTTP stack: many requests at once, one bed."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from coop.db.schema import bookings
from tests.support import child

OVERLAPPING_HOLDS = sa.text(
    """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.bed_id = b.bed_id AND a.id < b.id AND a.hold_during && b.hold_during
    WHERE a.hold_during IS NOT NULL AND b.hold_during IS NOT NULL AND a.region = :region
    """
)


async def overlapping_holds(coop, region: str) -> int:
    async with coop.engine.connect() as conn:
        return int(await conn.scalar(OVERLAPPING_HOLDS, {"region": region}))


async def test_fifty_simultaneous_overlapping_requests_make_exactly_one_offer(region, http, coop):
    owner = await region.authority("cambs")
    buyers = [await region.authority(f"buyer{i}") for i in range(10)]
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])

    def body(i: int) -> dict:
        # `today` skips the home window: every request is decided inside its own request.
        return {
            "void_id": void["id"],
            "child": child(ref=f"race-{i}"),
            "urgency": "today",
            "start_date": region.day(0),
            "end_date": region.day(14 + i % 5),
        }

    responses = await asyncio.gather(
        *(http.post("/bookings", json=body(i), headers=buyers[i % 10].h) for i in range(50))
    )
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses][:3]
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("offered") == 1
    assert statuses.count("pending") == 49  # waiting behind the offer, as the spec says
    assert await overlapping_holds(coop, region.slug) == 0


async def test_simultaneous_requests_on_many_beds_each_get_their_bed(region, http, coop):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    homes = [
        await region.home(owner, beds=[{"label": f"b{j}"} for j in range(3)]) for _ in range(3)
    ]
    voids = [await region.void(owner, bed["id"]) for h in homes for bed in h["beds"]]
    requests = [
        {
            "void_id": v["id"],
            "child": child(ref=f"many-{i}-{k}"),
            "urgency": "today",
            "start_date": region.day(0),
            "end_date": region.day(10),
        }
        for i, v in enumerate(voids)
        for k in range(4)
    ]
    responses = await asyncio.gather(
        *(http.post("/bookings", json=b, headers=buyer.h) for b in requests)
    )
    assert all(r.status_code == 201 for r in responses)
    offered = [r.json()["bed_id"] for r in responses if r.json()["status"] == "offered"]
    assert sorted(offered) == sorted(v["bed_id"] for v in voids)  # one offer per bed
    assert await overlapping_holds(coop, region.slug) == 0


async def test_the_database_refuses_overlapping_holds_even_without_the_lock(region, http, coop):
    owner = await region.authority("cambs")
    home = await region.home(owner)
    bed = home["beds"][0]["id"]
    first = await http.post(
        "/bookings",
        json={
            "bed_id": bed,
            "child": child(),
            "urgency": "planned",
            "start_date": region.day(3),
            "end_date": region.day(20),
        },
        headers=owner.h,
    )
    assert first.json()["status"] == "offered"
    async with coop.engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(bookings).where(bookings.c.id == first.json()["id"])))
            .one()
            ._asdict()
        )
    row.update(id="bkg_forged", start_date=region.today(), status="confirmed", version=1)
    row.pop("hold_during")
    try:
        async with coop.engine.begin() as conn:
            await conn.execute(sa.insert(bookings).values(**row))
    except sa.exc.IntegrityError as exc:
        assert exc.orig.sqlstate == "23P01"  # exclusion violation
    else:  # pragma: no cover
        raise AssertionError("the exclusion constraint let two holds overlap")


async def test_bed_changes_and_bookings_in_one_home_do_not_deadlock(region, http):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner, beds=[{"label": str(i)} for i in range(4)])
    beds = [b["id"] for b in home["beds"]]
    voids = [await region.void(owner, b) for b in beds[1:]]
    calls = []
    for round_ in range(8):
        # Each names a version: the bed changes race each other too, so some lose with 412.
        calls.append(
            http.patch(
                f"/beds/{beds[0]}",
                json={"label": f"r{round_}"},
                headers={**owner.h, "If-Match": f'"{round_ + 1}"'},
            )
        )
        for v in voids:
            calls.append(
                http.post(
                    "/bookings",
                    json={
                        "void_id": v["id"],
                        "child": child(ref=f"d{round_}"),
                        "urgency": "today",
                        "start_date": region.day(0),
                        "end_date": region.day(3 + round_),
                    },
                    headers=buyer.h,
                )
            )
    answers = await asyncio.gather(*calls)
    assert {r.status_code for r in answers} <= {200, 201, 412}, {
        r.status_code: r.text for r in answers if r.status_code not in (200, 201, 412)
    }
    assert 201 in {r.status_code for r in answers}
