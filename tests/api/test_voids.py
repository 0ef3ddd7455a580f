"""Voids through HTTP: publishing (home window, rating, closed homes, out-of-use beds, overlap),
withdrawal, tenancy, and the search with every filter of SPEC §5.

The search tests share one small market built once for the module (its own regions, so no
other test can add to it); every assertion compares the exact set (or order) of voids found.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coop.db.schema import voids
from tests.support import Actor, Region, assert_problem, count, field_of, home_payload


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _voids_on(coop, bed_id: str) -> int:
    return await count(coop, voids, voids.c.bed_id == bed_id)


# -- publishing ------------------------------------------------------------------------------


async def test_publish_void_with_the_default_home_window(region, http, clock):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    body = {
        "bed_id": bed_id,
        "available_from": region.day(1),
        "available_until": region.day(15),
        "notes": "Suits a younger child",
    }
    r = await http.post("/voids", json=body, headers=owner.h)
    assert r.status_code == 201, r.text
    void = r.json()
    assert void["id"]
    assert (void["bed_id"], void["home_id"], void["owner"]) == (
        bed_id,
        home["id"],
        owner.authority,
    )
    assert (void["available_from"], void["available_until"]) == (region.day(1), region.day(15))
    assert (void["status"], void["notes"], void["withdrawn_at"]) == (
        "open",
        "Suits a younger child",
        None,
    )
    published = _ts(void["published_at"])
    assert published == clock.now()
    assert _ts(void["home_priority_until"]) == published + timedelta(hours=48)

    r = await http.get(f"/voids/{void['id']}", headers=owner.h)
    assert r.status_code == 200
    assert r.json() == void

    open_ended = await region.void(owner, home["beds"][1]["id"])
    assert open_ended["available_until"] is None
    assert open_ended["available_from"] == region.day(0)


async def test_home_window_follows_the_region_policy(region, http, clock):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.put(
        f"/regions/{region.slug}/policy",
        json={"priority": {"home_window": "PT24H"}},
        headers=region.admin.h,
    )
    assert r.status_code in (200, 201), r.text
    void = await region.void(owner, home["beds"][0]["id"])
    assert _ts(void["published_at"]) == clock.now()
    assert _ts(void["home_priority_until"]) == clock.now() + timedelta(hours=24)


@pytest.mark.parametrize("rating", ["requires_improvement", "not_yet_inspected", "outstanding"])
async def test_homes_meeting_the_default_minimum_can_publish(region, rating):
    owner = await region.authority()
    home = await region.home(owner, ofsted_rating=rating)
    void = await region.void(owner, home["beds"][0]["id"])
    assert void["status"] == "open"


async def test_inadequate_home_cannot_publish(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner, ofsted_rating="inadequate")
    bed_id = home["beds"][0]["id"]
    r = await http.post(
        "/voids", json={"bed_id": bed_id, "available_from": region.day(0)}, headers=owner.h
    )
    assert_problem(r, 422, "rating_too_low")
    assert await _voids_on(coop, bed_id) == 0


async def test_a_stricter_policy_minimum_applies(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner, ofsted_rating="requires_improvement")
    good = await region.home(owner, ofsted_rating="good")
    r = await http.put(
        f"/regions/{region.slug}/policy",
        json={"rules": {"min_ofsted_rating_to_publish": "good"}},
        headers=region.admin.h,
    )
    assert r.status_code in (200, 201), r.text
    bed_id = home["beds"][0]["id"]
    r = await http.post(
        "/voids", json={"bed_id": bed_id, "available_from": region.day(0)}, headers=owner.h
    )
    assert_problem(r, 422, "rating_too_low")
    assert await _voids_on(coop, bed_id) == 0
    await region.void(owner, good["beds"][0]["id"])


async def test_closed_home_cannot_publish(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.patch(
        f"/homes/{home['id']}", json={"status": "closed", "version": 1}, headers=owner.h
    )
    assert r.status_code == 200, r.text
    bed_id = home["beds"][0]["id"]
    r = await http.post(
        "/voids", json={"bed_id": bed_id, "available_from": region.day(0)}, headers=owner.h
    )
    assert_problem(r, 422, "home_closed")
    assert await _voids_on(coop, bed_id) == 0


async def test_out_of_use_bed_cannot_publish(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    r = await http.patch(
        f"/beds/{bed_id}",
        json={"status": "out_of_use", "out_of_use_reason": "maintenance"},
        headers={**owner.h, "If-Match": '"1"'},
    )
    assert r.status_code == 200
    r = await http.post(
        "/voids", json={"bed_id": bed_id, "available_from": region.day(0)}, headers=owner.h
    )
    assert_problem(r, 422, "bed_out_of_use")
    assert await _voids_on(coop, bed_id) == 0


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ((-1, None), "available_from"),
        ((-3, 5), "available_from"),
        ((2, 2), "available_until"),
        ((5, 2), "available_until"),
    ],
)
async def test_bad_windows_are_422(region, http, coop, window, field):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    start, end = window
    body = {"bed_id": bed_id, "available_from": region.day(start)}
    if end is not None:
        body["available_until"] = region.day(end)
    r = await http.post("/voids", json=body, headers=owner.h)
    assert r.status_code == 422, r.text
    assert field_of(r.json()) == field
    assert await _voids_on(coop, bed_id) == 0


async def test_malformed_void_body_is_422(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    for body in (
        {"bed_id": bed_id, "available_from": "tomorrow"},
        {"bed_id": bed_id, "available_from": region.day(0), "status": "withdrawn"},
        {"available_from": region.day(0)},
    ):
        r = await http.post("/voids", json=body, headers=owner.h)
        assert r.status_code == 422, r.text
    assert await _voids_on(coop, bed_id) == 0


async def test_overlapping_open_voids_on_one_bed_are_refused(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id, other_bed = home["beds"][0]["id"], home["beds"][1]["id"]
    await region.void(owner, bed_id, available_from=region.day(0), available_until=region.day(10))

    for start, end in ((5, 15), (0, 10), (9, None), (1, 2)):
        body = {"bed_id": bed_id, "available_from": region.day(start)}
        if end is not None:
            body["available_until"] = region.day(end)
        r = await http.post("/voids", json=body, headers=owner.h)
        assert_problem(r, 409, "void_overlap")
    assert await _voids_on(coop, bed_id) == 1

    # Periods are half-open: the next window may start on the day the last one ends.
    await region.void(owner, bed_id, available_from=region.day(10), available_until=region.day(20))
    await region.void(owner, bed_id, available_from=region.day(30))  # open-ended
    r = await http.post(
        "/voids", json={"bed_id": bed_id, "available_from": region.day(40)}, headers=owner.h
    )
    assert_problem(r, 409, "void_overlap")
    assert await _voids_on(coop, bed_id) == 3
    # Another bed of the same home is independent.
    await region.void(
        owner, other_bed, available_from=region.day(0), available_until=region.day(10)
    )


async def test_concurrent_overlapping_publishes_one_wins(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    bodies = [
        {"bed_id": bed_id, "available_from": region.day(i), "available_until": region.day(20 + i)}
        for i in range(10)
    ]
    responses = await asyncio.gather(
        *(http.post("/voids", json=b, headers=owner.h) for b in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9, [
        r.text for r in responses
    ]
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "void_overlap")
    assert await _voids_on(coop, bed_id) == 1


async def test_withdraw_a_void(region, http, coop, clock):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    void = await region.void(owner, bed_id, available_until=region.day(10))
    clock.advance(minutes=5)

    r = await http.post(f"/voids/{void['id']}/withdraw", headers=owner.h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "withdrawn"
    assert _ts(out["withdrawn_at"]) == clock.now()
    assert {k: v for k, v in out.items() if k not in ("status", "withdrawn_at")} == {
        k: v for k, v in void.items() if k not in ("status", "withdrawn_at")
    }
    assert (await http.get(f"/voids/{void['id']}", headers=owner.h)).json() == out

    r = await http.post(f"/voids/{void['id']}/withdraw", headers=owner.h)
    assert_problem(r, 409, "invalid_transition")
    assert (await http.get(f"/voids/{void['id']}", headers=owner.h)).json() == out

    # The withdrawn window no longer blocks the bed, and is gone from the search.
    again = await region.void(owner, bed_id, available_from=region.day(2))
    r = await http.get("/voids", headers=owner.h)
    assert [v["id"] for v in r.json()["items"]] == [again["id"]]
    assert await _voids_on(coop, bed_id) == 2


async def test_another_authority_cannot_publish_or_withdraw(region, http, coop):
    owner = await region.authority("owner")
    intruder = await region.authority("intruder")
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    free_bed = home["beds"][1]["id"]
    void = await region.void(owner, bed_id, available_until=region.day(10))

    r = await http.post(
        "/voids", json={"bed_id": free_bed, "available_from": region.day(0)}, headers=intruder.h
    )
    assert_problem(r, 403, "not_owner")
    assert await _voids_on(coop, free_bed) == 0

    r = await http.post(f"/voids/{void['id']}/withdraw", headers=intruder.h)
    assert_problem(r, 403, "not_owner")
    assert (await http.get(f"/voids/{void['id']}", headers=owner.h)).json() == void
    # It can read the void: it is on the region's market.
    assert (await http.get(f"/voids/{void['id']}", headers=intruder.h)).json() == void


async def test_voids_of_another_region_are_invisible(region, http, coop):
    owner = await region.authority("owner")
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    void = await region.void(owner, bed_id, available_until=region.day(10))
    elsewhere = await Region.create(http, coop)
    stranger = await elsewhere.authority("stranger")

    assert_problem(await http.get(f"/voids/{void['id']}", headers=stranger.h), 404, "not_found")
    r = await http.post(f"/voids/{void['id']}/withdraw", headers=stranger.h)
    assert_problem(r, 404, "not_found")
    r = await http.post(
        "/voids",
        json={"bed_id": home["beds"][1]["id"], "available_from": region.day(0)},
        headers=stranger.h,
    )
    assert_problem(r, 404, "not_found")
    r = await http.get("/voids", headers=stranger.h)
    assert r.json()["items"] == []
    r = await http.get("/voids", params={"home_id": home["id"]}, headers=stranger.h)
    assert r.json()["items"] == []
    assert (await http.get(f"/voids/{void['id']}", headers=owner.h)).json() == void
    assert await count(coop, voids, voids.c.home_id == home["id"]) == 1


async def test_publishing_needs_homes_write_and_an_authority(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]
    body = {"bed_id": bed_id, "available_from": region.day(0)}
    reader = await region.client(owner.authority, ["market:read"])
    assert_problem(
        await http.post("/voids", json=body, headers=reader.h), 403, "insufficient_scope"
    )
    void = await region.void(owner, bed_id, available_until=region.day(3))
    r = await http.post(f"/voids/{void['id']}/withdraw", headers=reader.h)
    assert_problem(r, 403, "insufficient_scope")
    assert await _voids_on(coop, bed_id) == 1
    assert (await http.get(f"/voids/{void['id']}", headers=owner.h)).json()["status"] == "open"


async def test_unknown_bed_or_void_is_404(region, http):
    owner = await region.authority()
    r = await http.post(
        "/voids", json={"bed_id": "bed_nope", "available_from": region.day(0)}, headers=owner.h
    )
    assert_problem(r, 404, "not_found")
    assert_problem(await http.get("/voids/void_nope", headers=owner.h), 404, "not_found")
    r = await http.post("/voids/void_nope/withdraw", headers=owner.h)
    assert_problem(r, 404, "not_found")


# -- search ----------------------------------------------------------------------------------

CAMBRIDGE = (52.2053, 0.1218)

#: name -> home overrides; each gets the voids named in VOIDS
HOMES: dict[str, dict[str, Any]] = {
    "young": dict(
        age_min=5,
        age_max=11,
        gender="mixed",
        needs_supported=["semh"],
        risks_managed=["self_harm"],
        accepts_dols=False,
        weekly_cost_pence=300_000,
        latitude=52.2053,
        longitude=0.1218,  # Cambridge
        beds=[{"label": "A"}],
    ),
    "boys": dict(
        age_min=12,
        age_max=17,
        gender="male",
        needs_supported=["autism", "semh"],
        risks_managed=["going_missing", "criminal_exploitation"],
        accepts_dols=True,
        weekly_cost_pence=600_000,
        latitude=52.5695,
        longitude=-0.2405,  # Peterborough
        beds=[{"label": "A"}, {"label": "B"}],
    ),
    "girls": dict(
        age_min=10,
        age_max=17,
        gender="female",
        needs_supported=["autism", "learning_disability"],
        risks_managed=["self_harm", "sexual_exploitation"],
        accepts_dols=False,
        weekly_cost_pence=450_000,
        latitude=52.6309,
        longitude=1.2974,  # Norwich
        beds=[{"label": "A"}, {"label": "B"}, {"label": "C"}],
    ),
    "mixed": dict(
        age_min=8,
        age_max=18,
        gender="mixed",
        needs_supported=["semh", "autism", "trauma_attachment"],
        risks_managed=["self_harm", "going_missing", "fire_setting"],
        accepts_dols=True,
        weekly_cost_pence=700_000,
        latitude=52.0567,
        longitude=1.1482,  # Ipswich
        beds=[{"label": "A"}, {"label": "B"}],
    ),
    "pricey": dict(  # owned by the second seller
        age_min=13,
        age_max=17,
        gender="mixed",
        needs_supported=["mh_step_down", "semh"],
        risks_managed=["self_harm"],
        accepts_dols=False,
        weekly_cost_pence=1_000_000,  # ×1.05 = 1,050,000: capped at the solo ceiling
        latitude=51.8787,
        longitude=-0.4200,  # Luton
        beds=[{"label": "A"}],
    ),
    "closing": dict(weekly_cost_pence=100_000, beds=[{"label": "A"}]),
}

#: the caller's quoted weekly rate under the default policy, by home
MEMBER_RATE = {
    "young": 315_000,  # 300,000 × 1.05, solo ceiling 900,000
    "boys": 630_000,  # dual ceiling 800,000
    "girls": 472_500,  # multi ceiling 650,000
    "mixed": 735_000,
    "pricey": 900_000,  # capped
}
ASSOCIATE_RATE = {  # member rate × 1.15, half-up
    "young": 362_250,
    "boys": 724_500,
    "girls": 543_375,
    "mixed": 845_250,
    "pricey": 1_035_000,
}
TODAY_MEMBER_RATE = {  # member rate × 1.10
    "young": 346_500,
    "boys": 693_000,
    "girls": 519_750,
    "mixed": 808_500,
    "pricey": 990_000,
}

#: the voids the search may find: name -> (home, bed index, from day, until day)
VISIBLE = {
    "young": ("young", 0, 0, 30),
    "boys": ("boys", 0, 0, None),
    "girls": ("girls", 0, 5, None),
    "mixed": ("mixed", 0, 0, None),
    "mixed_short": ("mixed", 1, 2, 6),
    "pricey": ("pricey", 0, 0, None),
}
HOME_OF = {name: spec[0] for name, spec in VISIBLE.items()}
ALL = set(VISIBLE)


@dataclass
class Market:
    region: Region
    seller: Actor  # owns every home but "pricey"
    seller2: Actor
    member: Actor
    associate: Actor
    regional: Actor  # the region's admin client: no authority
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)
    voids: dict[str, str] = field(default_factory=dict)  # name -> void id
    hidden: dict[str, str] = field(default_factory=dict)  # name -> void id never to be found

    def names(self, page: dict[str, Any]) -> list[str]:
        by_id = {v: k for k, v in {**self.voids, **self.hidden}.items()}
        return [by_id.get(item["id"], item["id"]) for item in page["items"]]


@pytest.fixture(scope="module")
async def market(http, coop, session_clock) -> Market:
    session_clock.set(datetime.now(UTC).replace(microsecond=0))
    region = await Region.create(http, coop)
    m = Market(
        region=region,
        seller=await region.authority("seller"),
        seller2=await region.authority("seller2"),
        member=await region.authority("buyer"),
        associate=await region.authority("assoc", membership="associate"),
        regional=region.admin,
    )
    for name, overrides in HOMES.items():
        owner = m.seller2 if name == "pricey" else m.seller
        m.homes[name] = await region.home(owner, name=name.title(), **overrides)

    for name, (home, bed, start, end) in VISIBLE.items():
        extra = {"available_from": region.day(start)}
        if end is not None:
            extra["available_until"] = region.day(end)
        owner = m.seller2 if home == "pricey" else m.seller
        m.voids[name] = (await region.void(owner, m.homes[home]["beds"][bed]["id"], **extra))["id"]

    s = m.seller
    # A void on a home closed afterwards.
    closing = m.homes["closing"]
    m.hidden["closed"] = (await region.void(s, closing["beds"][0]["id"]))["id"]
    r = await http.patch(
        f"/homes/{closing['id']}", json={"status": "closed", "version": 1}, headers=s.h
    )
    assert r.status_code == 200, r.text
    # A void on a bed taken out of use afterwards.
    bed = m.homes["boys"]["beds"][1]["id"]
    m.hidden["out_of_use"] = (await region.void(s, bed))["id"]
    r = await http.patch(
        f"/beds/{bed}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing"},
        headers={**s.h, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    # A withdrawn void.
    m.hidden["withdrawn"] = (await region.void(s, m.homes["girls"]["beds"][1]["id"]))["id"]
    r = await http.post(f"/voids/{m.hidden['withdrawn']}/withdraw", headers=s.h)
    assert r.status_code == 200, r.text
    # A void that ended today: published yesterday for [yesterday, today). (Moving the clock
    # back keeps the tokens valid; a void cannot be published in the past.)
    now = session_clock.now()
    session_clock.set(now - timedelta(days=1))
    m.hidden["ended"] = (
        await region.void(
            s,
            m.homes["girls"]["beds"][2]["id"],
            available_from=region.day(0),
            available_until=region.day(1),
        )
    )["id"]
    session_clock.set(now)
    # A void of another region, on a home just like "mixed".
    elsewhere = await Region.create(http, coop)
    foreign = await elsewhere.authority("foreign")
    foreign_home = await elsewhere.home(foreign, **HOMES["mixed"])
    m.hidden["other_region"] = (await elsewhere.void(foreign, foreign_home["beds"][0]["id"]))["id"]
    return m


async def _search(http, actor: Actor, **params: Any) -> dict[str, Any]:
    params.setdefault("limit", 200)
    r = await http.get("/voids", params=params, headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


async def _found(http, market: Market, actor: Actor | None = None, **params: Any) -> set[str]:
    page = await _search(http, actor or market.member, **params)
    names = market.names(page)
    assert len(names) == len(set(names))
    return set(names)


async def test_search_finds_exactly_the_open_current_voids(http, market, clock):
    page = await _search(http, market.member)
    assert set(market.names(page)) == ALL
    assert not set(market.names(page)) & set(market.hidden)
    assert "next_cursor" not in page or page["next_cursor"] is None
    assert [item["id"] for item in page["items"]] == sorted(market.voids.values())  # id order
    for item in page["items"]:
        assert "distance_km" not in item
        assert item["status"] == "open"
        home = market.homes[HOME_OF[market.names({"items": [item]})[0]]]
        assert item["home"]["id"] == home["id"] == item["home_id"]
        assert item["home"]["home_type"] == home["home_type"]
    # Whoever asks, in the region, sees the same voids.
    assert await _found(http, market, market.associate) == ALL
    assert await _found(http, market, market.regional) == ALL
    assert await _found(http, market, market.seller) == ALL


async def test_hidden_voids_stay_readable_but_unsearchable(http, market):
    for name in ("closed", "out_of_use", "withdrawn", "ended"):
        r = await http.get(f"/voids/{market.hidden[name]}", headers=market.member.h)
        assert r.status_code == 200, (name, r.text)
    r = await http.get(
        "/voids", params={"home_id": market.homes["closing"]["id"]}, headers=market.member.h
    )
    assert r.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"from": 0}, {"young", "boys", "mixed", "pricey"}),
        ({"from": 2}, {"young", "boys", "mixed", "mixed_short", "pricey"}),
        ({"from": 5}, ALL),
        ({"from": 5, "to": 6}, ALL),
        ({"from": 5, "to": 7}, ALL - {"mixed_short"}),
        ({"from": 6}, ALL - {"mixed_short"}),
        ({"from": 10, "to": 30}, ALL - {"mixed_short"}),
        ({"from": 10, "to": 31}, ALL - {"mixed_short", "young"}),
        ({"from": 30}, ALL - {"mixed_short", "young"}),
        ({"from": 1, "to": 10}, {"young", "boys", "mixed", "pricey"}),
    ],
)
async def test_search_by_window_needs_the_void_to_cover_it(http, market, params, expected):
    days = {k: market.region.day(v) for k, v in params.items()}
    assert await _found(http, market, **days) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"age": 4}, set()),
        ({"age": 5}, {"young"}),
        ({"age": 9}, {"young", "mixed", "mixed_short"}),
        ({"age": 11}, {"young", "girls", "mixed", "mixed_short"}),
        ({"age": 13}, ALL - {"young"}),
        ({"age": 18}, {"mixed", "mixed_short"}),
        ({"gender": "male"}, ALL - {"girls"}),
        ({"gender": "female"}, ALL - {"boys"}),
        ({"gender": "other"}, {"young", "mixed", "mixed_short", "pricey"}),
        ({"needs": "autism"}, {"boys", "girls", "mixed", "mixed_short"}),
        ({"needs": ["semh", "autism"]}, {"boys", "mixed", "mixed_short"}),
        ({"needs": "semh,autism"}, {"boys", "mixed", "mixed_short"}),
        ({"needs": ["semh,autism", "trauma_attachment"]}, {"mixed", "mixed_short"}),
        ({"needs": "mh_step_down"}, {"pricey"}),
        ({"needs": "communication"}, set()),
        ({"risks": "self_harm"}, ALL - {"boys"}),
        ({"risks": ["self_harm", "going_missing"]}, {"mixed", "mixed_short"}),
        ({"risks": "self_harm,sexual_exploitation"}, {"girls"}),
        ({"risks": "criminal_exploitation"}, {"boys"}),
        ({"dols": "true"}, {"boys", "mixed", "mixed_short"}),
        ({"dols": "false"}, ALL),  # not needing DoLS rules nothing out
        (
            {"age": 12, "gender": "male", "needs": "semh", "dols": "true"},
            {"boys", "mixed", "mixed_short"},
        ),
        (
            {"age": 16, "gender": "female", "risks": "self_harm", "needs": "autism"},
            {"girls", "mixed", "mixed_short"},
        ),
    ],
)
async def test_search_by_child_narrows_exactly(http, market, params, expected):
    assert await _found(http, market, **params) == expected


async def test_search_by_home(http, market):
    assert await _found(http, market, home_id=market.homes["mixed"]["id"]) == {
        "mixed",
        "mixed_short",
    }
    assert await _found(http, market, home_id=market.homes["young"]["id"]) == {"young"}
    assert await _found(http, market, home_id="hom_nope") == set()


async def test_each_caller_gets_its_own_quote(http, market):
    for actor, rates in ((market.member, MEMBER_RATE), (market.associate, ASSOCIATE_RATE)):
        page = await _search(http, actor)
        for name, item in zip(market.names(page), page["items"], strict=True):
            home = HOME_OF[name]
            assert item["weekly_rate_pence"] == rates[home], (name, item)
            assert item["price_breakdown"]["weekly_rate_pence"] == rates[home]
            assert item["price_breakdown"]["chargeable"] is True
    page = await _search(http, market.member, urgency="today")
    for name, item in zip(market.names(page), page["items"], strict=True):
        assert item["weekly_rate_pence"] == TODAY_MEMBER_RATE[HOME_OF[name]]
        assert item["price_breakdown"]["emergency_premium_bp"] == 1000
    page = await _search(
        http, market.associate, urgency="today", home_id=market.homes["boys"]["id"]
    )
    assert page["items"][0]["weekly_rate_pence"] == 796_950  # 724,500 × 1.10
    page = await _search(http, market.member, home_id=market.homes["pricey"]["id"])
    assert page["items"][0]["price_breakdown"]["capped"] is True


async def test_the_owner_sees_its_rate_without_a_charge(http, market):
    page = await _search(http, market.seller)
    for name, item in zip(market.names(page), page["items"], strict=True):
        home = HOME_OF[name]
        assert item["weekly_rate_pence"] == MEMBER_RATE[home]
        own = home != "pricey"
        assert item["price_breakdown"]["chargeable"] is (not own), name


@pytest.mark.parametrize(
    ("actor", "limit", "expected"),
    [
        ("member", 700_000, {"young", "boys", "girls"}),
        ("associate", 700_000, {"young", "girls"}),
        ("member", 630_000, {"young", "boys", "girls"}),  # at most: equal is in
        ("member", 629_999, {"young", "girls"}),
        ("associate", 362_250, {"young"}),
        ("associate", 362_249, set()),
        ("member", 900_000, ALL),  # the capped home is priced at the ceiling
        ("associate", 900_000, ALL - {"pricey"}),
        ("member", 0, set()),
    ],
)
async def test_search_by_max_price_uses_the_callers_rate(http, market, actor, limit, expected):
    who = getattr(market, actor)
    assert await _found(http, market, who, max_weekly_price_pence=limit) == expected


async def test_max_price_uses_the_urgency_premium(http, market):
    assert await _found(http, market, max_weekly_price_pence=630_000) == {"young", "boys", "girls"}
    assert await _found(http, market, max_weekly_price_pence=630_000, urgency="today") == {
        "young",
        "girls",
    }


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


async def test_search_near_a_place_is_nearest_first(http, market):
    lat, lon = CAMBRIDGE
    page = await _search(http, market.member, near_lat=lat, near_lon=lon)
    names = market.names(page)
    assert set(names) == ALL
    distances = [item["distance_km"] for item in page["items"]]
    assert distances == sorted(distances)
    assert names[:3] == ["young", "boys", "pricey"]  # 0, 47.4 and 51.9 km
    assert set(names[3:5]) == {"mixed", "mixed_short"}
    assert names[5] == "girls"
    for name, item in zip(names, page["items"], strict=True):
        home = market.homes[HOME_OF[name]]
        expected = _km(CAMBRIDGE, (home["latitude"], home["longitude"]))
        assert item["distance_km"] == pytest.approx(expected, abs=0.06), name
    assert page["items"][0]["distance_km"] == 0.0

    assert await _found(http, market, near_lat=lat, near_lon=lon, within_km=60) == {
        "young",
        "boys",
        "pricey",
    }
    assert await _found(http, market, near_lat=lat, near_lon=lon, within_km=1) == {"young"}
    # Combined with the other filters.
    assert await _found(
        http, market, near_lat=lat, near_lon=lon, within_km=80, needs="semh", gender="female"
    ) == {"young", "mixed", "mixed_short", "pricey"}


async def _all_pages(http, actor: Actor, **params: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await http.get("/voids", params=query, headers=actor.h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= params["limit"]
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            return ids, pages
        assert pages < 20


@pytest.mark.parametrize("limit", [1, 2, 4, 6, 7])
@pytest.mark.parametrize("near", [False, True])
async def test_pagination_covers_every_result_once(http, market, limit, near):
    params: dict[str, Any] = {}
    if near:
        params = {"near_lat": CAMBRIDGE[0], "near_lon": CAMBRIDGE[1]}
    unpaged = [item["id"] for item in (await _search(http, market.member, **params))["items"]]
    ids, pages = await _all_pages(http, market.member, limit=limit, **params)
    assert ids == unpaged  # same order, nothing lost, nothing twice
    assert len(ids) == len(set(ids)) == len(ALL)
    assert pages == max(1, math.ceil(len(ALL) / limit))


async def test_pagination_with_a_filter(http, market):
    ids, _ = await _all_pages(
        http, market.member, limit=1, needs="semh", near_lat=52.6, near_lon=1.2
    )
    names = market.names({"items": [{"id": i} for i in ids]})
    assert set(names) == {"young", "boys", "mixed", "mixed_short", "pricey"}
    assert len(names) == 5


@pytest.mark.parametrize(
    ("params", "status", "code", "field_"),
    [
        ({"needs": "semh,telepathy"}, 422, "validation_error", "needs"),
        ({"needs": ["semh", "telepathy"]}, 422, "validation_error", "needs"),
        ({"risks": "arson"}, 422, "validation_error", "risks"),
        ({"near_lat": 52.2}, 422, "validation_error", "near_lon"),
        ({"near_lon": 0.1}, 422, "validation_error", "near_lat"),
        ({"near_lat": 95, "near_lon": 0}, 422, "validation_error", "near_lat"),
        ({"within_km": 5}, 422, "validation_error", "within_km"),
        ({"age": 30}, 422, "validation_error", "age"),
        ({"limit": 0}, 422, "validation_error", "limit"),
        ({"limit": 201}, 422, "validation_error", "limit"),
        ({"cursor": "not-a-cursor!"}, 422, "validation_error", "cursor"),
    ],
)
async def test_bad_search_parameters_are_422(http, market, params, status, code, field_):
    r = await http.get("/voids", params=params, headers=market.member.h)
    assert field_of(assert_problem(r, status, code)) == field_


async def test_bad_search_values_are_422(http, market):
    today = market.region.today()
    for params in (
        {"from": (today + timedelta(days=5)).isoformat(), "to": today.isoformat()},
        {"gender": "boy"},
        {"urgency": "asap"},
        {"dols": "maybe"},
        {"max_weekly_price_pence": -1},
        {"from": "next week"},
    ):
        r = await http.get("/voids", params=params, headers=market.member.h)
        assert r.status_code == 422, (params, r.text)


async def test_search_in_another_region_is_403(http, market):
    r = await http.get("/voids", params={"region": "somewhere-else"}, headers=market.member.h)
    assert_problem(r, 403, "other_region")
    r = await http.get("/voids", params={"region": market.region.slug}, headers=market.member.h)
    assert r.status_code == 200
    assert set(market.names(r.json())) == ALL


async def test_search_needs_market_read(http, market):
    writer = await market.region.client(market.seller.authority, ["homes:write"])
    assert_problem(await http.get("/voids", headers=writer.h), 403, "insufficient_scope")


async def test_a_cursor_of_another_search_shape_is_422(http, market):
    near = {"near_lat": CAMBRIDGE[0], "near_lon": CAMBRIDGE[1]}
    plain_cursor = (await _search(http, market.member, limit=1))["next_cursor"]
    near_cursor = (await _search(http, market.member, limit=1, **near))["next_cursor"]
    assert plain_cursor and near_cursor
    for params in ({"cursor": plain_cursor, **near}, {"cursor": near_cursor}):
        r = await http.get("/voids", params=params, headers=market.member.h)
        assert field_of(assert_problem(r, 422, "validation_error")) == "cursor"


async def test_idempotency_key_replays_home_bed_and_void_creation(region, http, coop):
    owner = await region.authority()
    body = home_payload()
    key = {"Idempotency-Key": "create-home-1"}
    first = await http.post("/homes", json=body, headers={**owner.h, **key})
    again = await http.post("/homes", json=body, headers={**owner.h, **key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    home = first.json()
    bed_key = {"Idempotency-Key": "add-bed-1"}
    b1 = await http.post(
        f"/homes/{home['id']}/beds", json={"label": "Z"}, headers={**owner.h, **bed_key}
    )
    b2 = await http.post(
        f"/homes/{home['id']}/beds", json={"label": "Z"}, headers={**owner.h, **bed_key}
    )
    assert b1.json() == b2.json()
    void_body = {"bed_id": b1.json()["id"], "available_from": region.day(0)}
    void_key = {"Idempotency-Key": "publish-1"}
    v1 = await http.post("/voids", json=void_body, headers={**owner.h, **void_key})
    v2 = await http.post("/voids", json=void_body, headers={**owner.h, **void_key})
    assert (v1.status_code, v2.status_code) == (201, 201) and v1.json() == v2.json()
    other = await http.post(
        "/voids", json={**void_body, "notes": "x"}, headers={**owner.h, **void_key}
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert await count(coop, voids, voids.c.bed_id == b1.json()["id"]) == 1
