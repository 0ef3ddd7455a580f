"""Homes and beds through HTTP: creation, validation, tenancy, optimistic concurrency, beds.

SPEC §2 (Home, Bed) and §5 (`/homes`, `/beds`). Every refusal is checked to have changed
nothing: no row left behind, the resource read back unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from coop.auth.schemas import ClientIn
from coop.db.schema import beds, homes
from tests.support import Region, assert_problem, count, field_of, home_payload, issue, urn


async def _get_home(http, actor, home_id: str) -> dict[str, Any]:
    r = await http.get(f"/homes/{home_id}", headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


def _if_match(actor, version: int | str) -> dict[str, str]:
    return {**actor.h, "If-Match": f'"{version}"'}


# -- create ----------------------------------------------------------------------------------


async def test_create_home_is_owned_by_the_token_authority(region, http, coop):
    owner = await region.authority("cambs")
    body = home_payload(needs_supported=["semh", "autism", "semh"])
    r = await http.post("/homes", json=body, headers=owner.h)

    assert r.status_code == 201, r.text
    home = r.json()
    assert home["id"]
    assert home["owner"] == owner.authority
    assert home["region"] == region.slug
    assert home["home_type"] == "dual"
    assert home["registered_capacity"] == 2
    assert home["operational_capacity"] == 2
    assert home["version"] == 1
    assert home["status"] == "open"
    assert r.headers["etag"] == '"1"'
    for key in ("name", "ofsted_urn", "ofsted_rating", "operator", "purpose", "district"):
        assert home[key] == body[key]
    assert (home["age_min"], home["age_max"], home["gender"]) == (8, 17, "mixed")
    assert home["weekly_cost_pence"] == 500_000
    assert home["needs_supported"] == ["autism", "semh"]  # a set: deduplicated
    assert sorted(home["risks_managed"]) == ["going_missing", "self_harm"]
    assert sorted(b["label"] for b in home["beds"]) == ["A", "B"]
    assert all(b["status"] == "in_use" and b["out_of_use_reason"] is None for b in home["beds"])
    assert all(b["home_id"] == home["id"] for b in home["beds"])

    r = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert r.status_code == 200
    assert r.json() == home
    assert r.headers["etag"] == '"1"'
    assert await count(coop, homes, homes.c.id == home["id"]) == 1
    assert await count(coop, beds, beds.c.home_id == home["id"]) == 2


@pytest.mark.parametrize(
    ("n_beds", "home_type"), [(0, None), (1, "solo"), (2, "dual"), (3, "multi"), (5, "multi")]
)
async def test_home_type_is_derived_from_the_number_of_beds(region, http, n_beds, home_type):
    owner = await region.authority()
    home = await region.home(owner, beds=[{"label": f"Bed {i}"} for i in range(n_beds)])
    assert home["home_type"] == home_type
    assert home["registered_capacity"] == n_beds == len(home["beds"])
    assert home["operational_capacity"] == n_beds


async def test_the_body_cannot_choose_the_owner(region, http, coop):
    owner = await region.authority()
    other = await region.authority()
    r = await http.post("/homes", json=home_payload(owner=other.authority), headers=owner.h)
    assert r.status_code == 422, r.text
    assert await count(coop, homes, homes.c.region == region.slug) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ofsted_rating": "brilliant"}, "ofsted_rating"),
        ({"operator": "private"}, "operator"),
        ({"gender": "boys"}, "gender"),
        ({"age_min": 12, "age_max": 11}, "age_max"),
        ({"age_max": 26}, "age_max"),
        ({"needs_supported": ["semh", "astrology"]}, "needs_supported[1]"),
        ({"risks_managed": ["arson"]}, "risks_managed[0]"),
        ({"weekly_cost_pence": -1}, "weekly_cost_pence"),
        ({"weekly_cost_pence": 1.5}, "weekly_cost_pence"),
        ({"latitude": 90.5}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"ofsted_urn": "SC 1"}, "ofsted_urn"),
        ({"beds": [{"label": "A"}, {"label": "A"}]}, "beds"),
        ({"beds": [{"label": ""}]}, "beds[0].label"),
    ],
)
async def test_invalid_home_is_422_naming_the_field_and_saves_nothing(
    region, http, coop, overrides, field
):
    owner = await region.authority()
    before = await count(coop, homes, homes.c.owner == owner.authority)
    r = await http.post("/homes", json=home_payload(**overrides), headers=owner.h)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field_of(r.json()) == field, r.json()
    assert await count(coop, homes, homes.c.owner == owner.authority) == before == 0


async def test_duplicate_bed_labels_have_their_own_code(region, http):
    owner = await region.authority()
    r = await http.post(
        "/homes", json=home_payload(beds=[{"label": "A"}, {"label": "A"}]), headers=owner.h
    )
    assert_problem(r, 422, "duplicate_label")


async def test_missing_required_field_is_422_and_saves_nothing(region, http, coop):
    owner = await region.authority()
    body = home_payload()
    del body["name"]
    r = await http.post("/homes", json=body, headers=owner.h)
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"] == [{"field": "name", "code": "required", "detail": "is required."}]
    assert await count(coop, homes, homes.c.owner == owner.authority) == 0


async def test_missing_required_field_is_named_in_field(region, http):
    owner = await region.authority()
    body = home_payload()
    del body["name"]
    r = await http.post("/homes", json=body, headers=owner.h)
    assert field_of(r.json()) == "name"


async def test_duplicate_urn_is_409_across_authorities(region, http, coop):
    first = await region.authority()
    second = await region.authority()
    taken = urn()
    await region.home(first, ofsted_urn=taken)
    r = await http.post("/homes", json=home_payload(ofsted_urn=taken), headers=second.h)
    assert_problem(r, 409, "duplicate_urn")
    assert await count(coop, homes, homes.c.ofsted_urn == taken) == 1
    assert await count(coop, homes, homes.c.owner == second.authority) == 0


async def test_region_level_client_cannot_create_a_home(region, http, coop):
    regional = await issue(
        http, coop, ClientIn(region=region.slug, scopes=["homes:write", "market:read"])
    )
    r = await http.post("/homes", json=home_payload(), headers=regional.h)
    assert_problem(r, 403, "authority_required")
    assert await count(coop, homes, homes.c.region == region.slug) == 0


async def test_homes_write_scope_is_needed_to_write(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    reader = await region.client(owner.authority, ["market:read"])

    r = await http.post("/homes", json=home_payload(), headers=reader.h)
    assert_problem(r, 403, "insufficient_scope")
    r = await http.patch(f"/homes/{home['id']}", json={"name": "X"}, headers=_if_match(reader, 1))
    assert_problem(r, 403, "insufficient_scope")
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "C"}, headers=reader.h)
    assert_problem(r, 403, "insufficient_scope")
    r = await http.patch(f"/beds/{home['beds'][0]['id']}", json={"label": "Z"}, headers=reader.h)
    assert_problem(r, 403, "insufficient_scope")

    assert await count(coop, homes, homes.c.owner == owner.authority) == 1
    assert await _get_home(http, reader, home["id"]) == home  # reading is enough for GET


async def test_reading_needs_market_read(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    writer_only = await region.client(owner.authority, ["homes:write"])
    assert_problem(await http.get("/homes", headers=writer_only.h), 403, "insufficient_scope")
    r = await http.get(f"/homes/{home['id']}", headers=writer_only.h)
    assert_problem(r, 403, "insufficient_scope")


# -- tenancy ---------------------------------------------------------------------------------


async def test_another_authority_cannot_change_a_home_or_its_beds(region, http, coop):
    owner = await region.authority("owner")
    intruder = await region.authority("intruder")
    home = await region.home(owner)
    bed_id = home["beds"][0]["id"]

    r = await http.patch(
        f"/homes/{home['id']}", json={"name": "Taken"}, headers=_if_match(intruder, 1)
    )
    assert_problem(r, 403, "not_owner")
    r = await http.patch(
        f"/homes/{home['id']}", json={"status": "closed", "version": 1}, headers=intruder.h
    )
    assert_problem(r, 403, "not_owner")
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "C"}, headers=intruder.h)
    assert_problem(r, 403, "not_owner")
    r = await http.patch(
        f"/beds/{bed_id}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing"},
        headers=intruder.h,
    )
    assert_problem(r, 403, "not_owner")
    r = await http.patch(f"/beds/{bed_id}", json={"label": "Z"}, headers=intruder.h)
    assert_problem(r, 403, "not_owner")

    assert await _get_home(http, owner, home["id"]) == home
    assert await count(coop, beds, beds.c.home_id == home["id"]) == 2
    # ...but it can read the home: the cooperative's homes are visible to its region.
    assert await _get_home(http, intruder, home["id"]) == home
    r = await http.get("/homes", headers=intruder.h)
    assert [h["id"] for h in r.json()["items"]] == [home["id"]]


async def test_a_home_of_another_region_does_not_exist_for_you(region, http, coop):
    owner = await region.authority("owner")
    home = await region.home(owner)
    elsewhere = await Region.create(http, coop)
    stranger = await elsewhere.authority("stranger")
    own_home = await elsewhere.home(stranger)
    bed_id = home["beds"][0]["id"]

    assert_problem(await http.get(f"/homes/{home['id']}", headers=stranger.h), 404, "not_found")
    r = await http.patch(f"/homes/{home['id']}", json={"name": "X"}, headers=_if_match(stranger, 1))
    assert_problem(r, 404, "not_found")
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "C"}, headers=stranger.h)
    assert_problem(r, 404, "not_found")
    r = await http.patch(f"/beds/{bed_id}", json={"label": "Z"}, headers=stranger.h)
    assert_problem(r, 404, "not_found")
    for params in ({}, {"owner": owner.authority}):
        r = await http.get("/homes", params=params, headers=stranger.h)
        assert r.status_code == 200
        assert home["id"] not in [h["id"] for h in r.json()["items"]]
    r = await http.get("/homes", headers=stranger.h)
    assert [h["id"] for h in r.json()["items"]] == [own_home["id"]]
    # The region admin of the other region cannot see it either.
    r = await http.get(f"/homes/{home['id']}", headers=elsewhere.admin.h)
    assert_problem(r, 404, "not_found")

    assert await _get_home(http, owner, home["id"]) == home


async def test_list_homes_filters_and_paginates(region, http):
    a = await region.authority("a")
    b = await region.authority("b")
    made = [await region.home(a) for _ in range(3)]
    made.append(await region.home(b, status="closed"))

    r = await http.get("/homes", params={"owner": a.authority}, headers=b.h)
    assert sorted(h["id"] for h in r.json()["items"]) == sorted(h["id"] for h in made[:3])
    r = await http.get("/homes", params={"status": "closed"}, headers=a.h)
    assert [h["id"] for h in r.json()["items"]] == [made[3]["id"]]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/homes", params=params, headers=a.h)).json()
        assert len(page["items"]) <= 3
        seen += [h["id"] for h in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert sorted(seen) == sorted(h["id"] for h in made)
    assert len(seen) == len(set(seen)) == 4


# -- optimistic concurrency ------------------------------------------------------------------


async def test_patch_with_if_match_bumps_the_version(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.patch(
        f"/homes/{home['id']}",
        json={"name": "Rowan House", "weekly_cost_pence": 450_000},
        headers=_if_match(owner, 1),
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    out = r.json()
    assert (out["version"], out["name"], out["weekly_cost_pence"]) == (2, "Rowan House", 450_000)
    assert out["ofsted_urn"] == home["ofsted_urn"]  # untouched fields keep their values
    assert out["beds"] == home["beds"]

    r = await http.patch(
        f"/homes/{home['id']}", json={"district": "Fenland", "version": 2}, headers=owner.h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["district"]) == (3, "Fenland")
    assert r.headers["etag"] == '"3"'

    got = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert got.headers["etag"] == '"3"'
    assert got.json() == r.json()


async def test_weak_etag_is_accepted(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.patch(
        f"/homes/{home['id']}", json={"name": "Oak"}, headers={**owner.h, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


async def test_stale_or_missing_preconditions_change_nothing(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.patch(f"/homes/{home['id']}", json={"name": "V2"}, headers=_if_match(owner, 1))
    assert r.status_code == 200
    current = r.json()
    url = f"/homes/{home['id']}"

    problem = assert_problem(
        await http.patch(url, json={"name": "Stale"}, headers=_if_match(owner, 1)),
        412,
        "precondition_failed",
    )
    assert problem["current_version"] == 2
    problem = assert_problem(
        await http.patch(url, json={"name": "Stale", "version": 1}, headers=owner.h),
        409,
        "version_conflict",
    )
    assert problem["current_version"] == 2
    assert_problem(
        await http.patch(url, json={"name": "Blind"}, headers=owner.h),
        428,
        "precondition_required",
    )
    assert_problem(
        await http.patch(url, json={"name": "Junk"}, headers={**owner.h, "If-Match": "*x"}),
        422,
        "validation_error",
    )
    # A future version is as stale as a past one.
    assert_problem(
        await http.patch(url, json={"name": "Future"}, headers=_if_match(owner, 3)),
        412,
        "precondition_failed",
    )

    r = await http.get(url, headers=owner.h)
    assert r.json() == current
    assert r.headers["etag"] == '"2"'


async def test_patch_validates_ages_against_the_stored_home(region, http):
    owner = await region.authority()
    home = await region.home(owner, age_min=8, age_max=17)
    url = f"/homes/{home['id']}"
    r = await http.patch(url, json={"age_min": 18}, headers=_if_match(owner, 1))
    problem = assert_problem(r, 422, "validation_error")
    assert field_of(problem) == "age_max"
    r = await http.patch(url, json={"ofsted_rating": "superb"}, headers=_if_match(owner, 1))
    assert r.status_code == 422
    assert field_of(r.json()) == "ofsted_rating"
    assert await _get_home(http, owner, home["id"]) == home


async def test_patch_can_take_the_urn_of_no_other_home(region, http):
    owner = await region.authority()
    first = await region.home(owner)
    second = await region.home(owner)
    r = await http.patch(
        f"/homes/{second['id']}",
        json={"ofsted_urn": first["ofsted_urn"]},
        headers=_if_match(owner, 1),
    )
    assert_problem(r, 409, "duplicate_urn")
    assert await _get_home(http, owner, second["id"]) == second


async def test_concurrent_patches_with_the_same_etag_one_wins(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    url = f"/homes/{home['id']}"
    names = [f"Name {i}" for i in range(10)]
    responses = await asyncio.gather(
        *(http.patch(url, json={"name": n}, headers=_if_match(owner, 1)) for n in names)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 9, [r.text for r in responses]
    for r in responses:
        if r.status_code == 412:
            assert_problem(r, 412, "precondition_failed")
    winner = next(r.json() for r in responses if r.status_code == 200)
    now = await _get_home(http, owner, home["id"])
    assert now["version"] == 2
    assert now["name"] == winner["name"]


# -- beds ------------------------------------------------------------------------------------


async def test_adding_beds_changes_the_home_type(region, http):
    owner = await region.authority()
    home = await region.home(owner, beds=[{"label": "A"}])
    assert home["home_type"] == "solo"
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "B"}, headers=owner.h)
    assert r.status_code == 201, r.text
    bed = r.json()
    assert (bed["home_id"], bed["label"], bed["status"], bed["version"]) == (
        home["id"],
        "B",
        "in_use",
        1,
    )
    assert r.headers["etag"] == '"1"'
    assert (await _get_home(http, owner, home["id"]))["home_type"] == "dual"

    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "C"}, headers=owner.h)
    assert r.status_code == 201, r.text
    got = await _get_home(http, owner, home["id"])
    assert got["home_type"] == "multi"
    assert (got["registered_capacity"], got["operational_capacity"]) == (3, 3)
    assert sorted(b["label"] for b in got["beds"]) == ["A", "B", "C"]


async def test_a_home_without_beds_gets_its_first(region, http):
    owner = await region.authority()
    home = await region.home(owner, beds=[])
    assert home["home_type"] is None
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "Only"}, headers=owner.h)
    assert r.status_code == 201
    assert (await _get_home(http, owner, home["id"]))["home_type"] == "solo"


async def test_duplicate_bed_label_is_409_and_adds_nothing(region, http, coop):
    owner = await region.authority()
    home = await region.home(owner)
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "A"}, headers=owner.h)
    assert_problem(r, 409, "duplicate_label")
    assert await count(coop, beds, beds.c.home_id == home["id"]) == 2
    # Relabelling a bed to its neighbour's label is the same conflict.
    bed_b = next(b for b in home["beds"] if b["label"] == "B")
    r = await http.patch(f"/beds/{bed_b['id']}", json={"label": "A"}, headers=_if_match(owner, 1))
    assert_problem(r, 409, "duplicate_label")
    assert await _get_home(http, owner, home["id"]) == home
    # The same label in another home is fine.
    other = await region.home(owner)
    assert sorted(b["label"] for b in other["beds"]) == ["A", "B"]


async def test_out_of_use_needs_a_reason_and_lowers_operational_capacity(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    bed = home["beds"][0]
    url = f"/beds/{bed['id']}"

    r = await http.patch(url, json={"status": "out_of_use"}, headers=_if_match(owner, 1))
    assert field_of(assert_problem(r, 422, "validation_error")) == "out_of_use_reason"
    r = await http.patch(
        url,
        json={"status": "out_of_use", "out_of_use_reason": "holiday"},
        headers=_if_match(owner, 1),
    )
    assert r.status_code == 422
    assert field_of(r.json()) == "out_of_use_reason"
    assert await _get_home(http, owner, home["id"]) == home

    r = await http.patch(
        url,
        json={"status": "out_of_use", "out_of_use_reason": "staffing"},
        headers=_if_match(owner, 1),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["out_of_use_reason"], out["version"]) == (
        "out_of_use",
        "staffing",
        2,
    )
    assert r.headers["etag"] == '"2"'
    got = await _get_home(http, owner, home["id"])
    assert (got["registered_capacity"], got["operational_capacity"]) == (2, 1)
    assert got["home_type"] == "dual"  # the type follows registered capacity, not operational

    # Relabelling an out-of-use bed keeps its reason; changing the reason alone works.
    r = await http.patch(url, json={"label": "A1"}, headers=_if_match(owner, 2))
    assert (r.json()["status"], r.json()["out_of_use_reason"]) == ("out_of_use", "staffing")
    r = await http.patch(
        url, json={"out_of_use_reason": "maintenance"}, headers=_if_match(owner, 3)
    )
    assert (r.json()["status"], r.json()["out_of_use_reason"]) == ("out_of_use", "maintenance")

    r = await http.patch(url, json={"status": "in_use"}, headers=_if_match(owner, 4))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["out_of_use_reason"]) == ("in_use", None)
    got = await _get_home(http, owner, home["id"])
    assert (got["registered_capacity"], got["operational_capacity"]) == (2, 2)


async def test_a_reason_on_a_bed_in_use_is_422(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    url = f"/beds/{home['beds'][0]['id']}"
    for body in (
        {"status": "in_use", "out_of_use_reason": "staffing"},
        {"out_of_use_reason": "matching"},  # the bed is in use: no reason to give
    ):
        r = await http.patch(url, json=body, headers=_if_match(owner, 1))
        assert field_of(assert_problem(r, 422, "validation_error")) == "out_of_use_reason"
    assert await _get_home(http, owner, home["id"]) == home


async def test_bed_patch_honours_if_match_when_sent(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    url = f"/beds/{home['beds'][0]['id']}"
    r = await http.patch(url, json={"label": "Z"}, headers=_if_match(owner, 2))
    assert_problem(r, 412, "precondition_failed")
    r = await http.patch(url, json={"label": "Z", "version": 2}, headers=owner.h)
    assert_problem(r, 409, "version_conflict")
    assert await _get_home(http, owner, home["id"]) == home
    r = await http.patch(url, json={"label": "Z"}, headers=_if_match(owner, 1))
    assert r.status_code == 200
    assert (r.json()["label"], r.json()["version"]) == ("Z", 2)


async def test_unknown_home_or_bed_is_404(region, http):
    owner = await region.authority()
    assert_problem(await http.get("/homes/hom_nope", headers=owner.h), 404, "not_found")
    r = await http.post("/homes/hom_nope/beds", json={"label": "A"}, headers=owner.h)
    assert_problem(r, 404, "not_found")
    r = await http.patch("/beds/bed_nope", json={"label": "A"}, headers=owner.h)
    assert_problem(r, 404, "not_found")


async def test_a_bed_change_is_a_new_version_of_the_home(region, http):
    owner = await region.authority()
    home = await region.home(owner)
    etag = (await http.get(f"/homes/{home['id']}", headers=owner.h)).headers["etag"]
    r = await http.post(f"/homes/{home['id']}/beds", json={"label": "C"}, headers=owner.h)
    assert r.status_code == 201
    after = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert after.json()["home_type"] == "multi" and after.headers["etag"] != etag
    stale = await http.patch(
        f"/homes/{home['id']}", json={"name": "Renamed"}, headers={**owner.h, "If-Match": etag}
    )
    assert_problem(stale, 412, "precondition_failed")
    bed = home["beds"][0]["id"]
    r = await http.patch(
        f"/beds/{bed}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing"},
        headers=_if_match(owner, 1),
    )
    assert r.status_code == 200
    again = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert again.headers["etag"] != after.headers["etag"]
    assert again.json()["operational_capacity"] == 2
