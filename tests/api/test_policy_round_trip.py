"""Policy round trip (issue #10): what GET returns is a valid PUT body, and PATCH takes an
RFC 7396 merge patch of it. ``version`` (or ``If-Match``) names the version in force now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar._openapi.plugin import OpenAPIPlugin

from coop.app import create_app
from coop.db.schema import region_policies
from coop.settings import Settings
from tests.support import Region, assert_problem, count

MERGE_PATCH = "application/merge-patch+json"


def url(region: Region) -> str:
    return f"/regions/{region.slug}/policy"


async def versions(region: Region) -> int:
    return await count(region.coop, region_policies, region_policies.c.region == region.slug)


async def read(region: Region) -> tuple[dict[str, Any], str]:
    r = await region.http.get(url(region), headers=region.admin.h)
    assert r.status_code == 200, r.text
    return r.json(), r.headers["etag"]


async def patch(region: Region, body: Any, **headers: str) -> Any:
    h = {**region.admin.h, "Content-Type": MERGE_PATCH, **headers}
    return await region.http.patch(url(region), json=body, headers=h)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- PUT: the GET body back ------------------------------------------------------------------


async def test_version_0_round_trips(region, http, clock):
    policy, tag = await read(region)
    assert (policy["version"], policy["effective_from"], tag) == (0, None, '"0"')
    r = await http.put(url(region), json=policy, headers=region.admin.h)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert (v1["version"], at(v1["effective_from"])) == (1, clock.now())
    assert r.headers["etag"] == '"1"'
    assert {k: v1[k] for k in ("priority", "pricing", "rules")} == {
        k: policy[k] for k in ("priority", "pricing", "rules")
    }
    assert await read(region) == (v1, '"1"')


async def test_get_change_one_number_put_it_all_back(region, http, clock):
    r = await http.put(
        url(region), json={"priority": {"home_window": "PT24H"}}, headers=region.admin.h
    )
    assert r.status_code == 200, r.text
    clock.advance(days=40)  # the served effective_from is now long past
    policy, tag = await read(region)
    assert (policy["version"], tag) == (1, '"1"')
    assert at(policy["effective_from"]) < clock.now() - timedelta(days=39)

    policy["pricing"]["margin_bp"] = 650
    r = await http.put(url(region), json=policy, headers=region.admin.h)
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2
    assert at(v2["effective_from"]) == clock.now()  # a past effective_from means now
    assert v2["pricing"]["margin_bp"] == 650
    assert v2["priority"]["home_window"] == "PT24H"  # the rest as it was
    assert v2 == {**policy, "version": 2, "effective_from": v2["effective_from"]}
    assert await read(region) == (v2, '"2"')
    assert await versions(region) == 2


async def test_the_region_must_be_the_paths(region, http, coop):
    policy, _ = await read(region)
    other = await Region.create(http, coop)
    policy["region"] = other.slug
    r = await http.put(url(region), json=policy, headers=region.admin.h)
    problem = assert_problem(r, 422, "region_mismatch")
    assert problem["errors"][0]["field"] == "region"
    assert problem["errors"][0]["code"] == "region_mismatch"
    # With other faults, every one is listed.
    policy["pricing"]["margin_bp"] = -1
    r = await http.put(url(region), json=policy, headers=region.admin.h)
    problem = assert_problem(r, 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["region", "pricing.margin_bp"]
    assert await versions(region) == 0
    assert await versions(other) == 0


async def test_a_stale_version_or_if_match_is_412_and_changes_nothing(region, http):
    stale, _ = await read(region)  # version 0
    r = await http.put(url(region), json={"pricing": {"margin_bp": 600}}, headers=region.admin.h)
    assert r.json()["version"] == 1

    stale["pricing"]["margin_bp"] = 700
    r = await http.put(url(region), json=stale, headers=region.admin.h)
    problem = assert_problem(r, 412, "precondition_failed")
    assert problem["current_version"] == 1
    assert await versions(region) == 1

    body = {"pricing": {"margin_bp": 700}}
    for tag in ('"0"', "0", 'W/"0"', '"2"'):
        r = await http.put(url(region), json=body, headers={**region.admin.h, "If-Match": tag})
        assert_problem(r, 412, "precondition_failed")
    # Header and body must both name the version in force: differing, one of them cannot.
    both = {**region.admin.h, "If-Match": '"1"'}
    r = await http.put(url(region), json={**body, "version": 0}, headers=both)
    assert_problem(r, 412, "precondition_failed")
    r = await http.put(url(region), json=body, headers={**region.admin.h, "If-Match": "one"})
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"][0]["field"] == "If-Match"
    assert await versions(region) == 1
    assert (await read(region))[0]["pricing"]["margin_bp"] == 600

    r = await http.put(url(region), json={**body, "version": 1}, headers=both)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


# -- effective_from ----------------------------------------------------------------------------


async def test_effective_from_in_the_past_is_now_in_the_future_is_scheduled(region, http, clock):
    past = (clock.now() - timedelta(days=400)).isoformat()
    r = await http.put(url(region), json={"effective_from": past}, headers=region.admin.h)
    assert r.status_code == 200, r.text
    assert at(r.json()["effective_from"]) == clock.now()

    policy, _ = await read(region)
    start = clock.now() + timedelta(days=7)
    policy["effective_from"] = start.isoformat()
    policy["pricing"]["margin_bp"] = 800
    r = await http.put(url(region), json=policy, headers=region.admin.h)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], at(r.json()["effective_from"])) == (2, start)
    assert "etag" not in r.headers  # not in force yet

    listed = (await http.get(f"{url(region)}/versions", headers=region.admin.h)).json()
    assert [(v["version"], at(v["effective_from"])) for v in listed] == [
        (1, clock.now()),
        (2, start),
    ]
    # Version 1 is still the one in force, and still the one a round trip names.
    current, tag = await read(region)
    assert (current["version"], current["pricing"]["margin_bp"], tag) == (1, 500, '"1"')
    current["rules"]["max_weeks"]["solo"] = 30
    r = await http.put(url(region), json=current, headers=region.admin.h)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 3
    # Until version 2's day: then it takes over, as scheduled.
    assert (await read(region))[0]["version"] == 3
    clock.advance(days=7)
    assert (await read(region))[0]["version"] == 2


# -- PATCH -------------------------------------------------------------------------------------


async def test_patch_changes_one_nested_setting_and_keeps_the_rest(region, http, clock):
    put = {
        "priority": {"home_window": "PT24H", "offer_hold": {"today": "PT2H"}},
        "pricing": {"margin_bp": 600},
    }
    r = await http.put(url(region), json=put, headers=region.admin.h)
    v1 = r.json()
    clock.advance(hours=1)
    r = await patch(region, {"priority": {"offer_hold": {"planned": "PT72H"}}})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    v2 = r.json()
    assert v2["version"] == 2
    assert at(v2["effective_from"]) == clock.now()
    assert v2["priority"]["offer_hold"] == {
        "today": "PT2H",
        "within_5_days": "PT24H",
        "planned": "PT72H",
    }
    expected = {**v1, "version": 2, "effective_from": v2["effective_from"]}
    expected["priority"] = {**v1["priority"], "offer_hold": v2["priority"]["offer_hold"]}
    assert v2 == expected
    assert await read(region) == (v2, '"2"')

    # An object merges into a map too: max_weeks gains a key, keeps the others.
    r = await patch(region, {"rules": {"max_weeks": {"dual": 30}}, "version": 2})
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["max_weeks"] == {"assessment": 20, "solo": 26, "dual": 30}


async def test_null_in_a_patch_restores_the_default(region, http):
    put = {"priority": {"home_window": "PT24H"}, "pricing": {"margin_bp": 600}}
    await http.put(url(region), json=put, headers=region.admin.h)
    r = await patch(
        region, {"pricing": {"margin_bp": None}, "rules": {"max_weeks": {"solo": None}}}
    )
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["pricing"]["margin_bp"] == 500  # the default
    assert v2["priority"]["home_window"] == "PT24H"  # kept
    assert v2["rules"]["max_weeks"] == {"assessment": 20}  # a map's key is removed
    r = await patch(region, {"priority": None})
    assert r.status_code == 200, r.text
    assert r.json()["priority"]["home_window"] == "PT48H"


async def test_patch_as_plain_json_is_415_and_changes_nothing(region, http):
    h = {**region.admin.h, "Content-Type": "application/json"}
    r = await http.patch(url(region), json={"pricing": {"margin_bp": 600}}, headers=h)
    assert_problem(r, 415, "unsupported_media_type")
    assert await versions(region) == 0
    # And PUT still takes plain JSON only.
    r = await http.put(
        url(region),
        content=b'{"pricing": {"margin_bp": 600}}',
        headers={**region.admin.h, "Content-Type": MERGE_PATCH},
    )
    assert_problem(r, 415, "unsupported_media_type")
    assert await versions(region) == 0


async def test_a_patch_making_an_invalid_document_lists_every_field(region, http):
    body = {
        "pricing": {"margin_bp": "lots", "margin": 600},
        "rules": {"min_ofsted_rating_to_publish": "great"},
    }
    problem = assert_problem(await patch(region, body), 422, "validation_error")
    assert sorted(e["field"] for e in problem["errors"]) == [
        "pricing.margin",
        "pricing.margin_bp",
        "rules.min_ofsted_rating_to_publish",
    ]
    body = {"priority": {"home_window": "soon"}, "pricing": {"margin_bp": -5}}
    problem = assert_problem(await patch(region, body), 422, "invalid_policy")
    assert [e["field"] for e in problem["errors"]] == ["priority.home_window", "pricing.margin_bp"]
    problem = assert_problem(await patch(region, {"region": "elsewhere"}), 422, "region_mismatch")
    assert problem["errors"][0]["field"] == "region"
    problem = assert_problem(await patch(region, ["not", "an", "object"]), 422, "validation_error")
    assert problem["errors"][0]["field"] == "body"
    assert_problem(await patch(region, {"version": 7}), 412, "precondition_failed")
    assert_problem(await patch(region, {}, **{"If-Match": '"3"'}), 412, "precondition_failed")
    assert await versions(region) == 0
    assert (await read(region))[0]["version"] == 0


async def test_patch_schedules_and_checks_the_version_like_put(region, http, clock):
    start = clock.now() + timedelta(days=1)
    r = await patch(
        region,
        {"effective_from": start.isoformat(), "pricing": {"margin_bp": 900}},
        **{"If-Match": '"0"'},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], at(r.json()["effective_from"])) == (1, start)
    assert (await read(region))[0]["version"] == 0
    clock.advance(days=1)
    assert (await read(region))[0]["pricing"]["margin_bp"] == 900


async def test_only_this_regions_admin_writes(region, http, coop):
    council = await region.authority("council")
    reader = await region.authority("reader", scopes=["market:read"])
    other = await Region.create(http, coop)
    body = {"pricing": {"margin_bp": 0}}
    for actor in (council, reader):
        assert_problem(
            await http.put(url(region), json=body, headers=actor.h), 403, "insufficient_scope"
        )
        h = {**actor.h, "Content-Type": MERGE_PATCH}
        r = await http.patch(url(region), json=body, headers=h)
        assert_problem(r, 403, "insufficient_scope")
    h = {**other.admin.h, "Content-Type": MERGE_PATCH}
    assert_problem(await http.patch(url(region), json=body, headers=h), 403, "other_region")
    assert await versions(region) == 0


# -- the OpenAPI document --------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = create_app(Settings(database_url="postgresql+asyncpg://nobody@/nowhere"))
    return app.plugins.get(OpenAPIPlugin).provide_openapi_schema()


def test_the_policy_operations_are_documented(doc):
    item = doc["paths"]["/regions/{region}/policy"]
    assert {m: op["operationId"] for m, op in item.items()} == {
        "get": "getPolicy",
        "put": "replacePolicy",
        "patch": "patchPolicy",
    }
    versions_op = doc["paths"]["/regions/{region}/policy/versions"]["get"]
    assert versions_op["operationId"] == "listPolicyVersions"
    assert list(item["patch"]["requestBody"]["content"]) == [MERGE_PATCH]
    assert list(item["put"]["requestBody"]["content"]) == ["application/json"]
    for method in ("put", "patch"):
        op = item[method]
        assert "412" in op["responses"] and "If-Match" in [p["name"] for p in op["parameters"]]
        assert "ETag" in op["responses"]["200"]["headers"]
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
