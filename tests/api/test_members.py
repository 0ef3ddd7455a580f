"""Member authorities and each region's versioned policy, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from coop.db.schema import authorities, region_policies
from tests.support import Region, assert_problem, count, field_of, gss, unique

# SPEC §3, the policy every region starts with.
DEFAULT_POLICY: dict[str, Any] = {
    "priority": {
        "home_window": "PT48H",
        "today_skips_home_window": True,
        "offer_hold": {"today": "PT4H", "within_5_days": "PT24H", "planned": "PT48H"},
        "ranking": ["home_authority", "urgency", "membership", "submitted_at"],
    },
    "pricing": {
        "margin_bp": 500,
        "associate_surcharge_bp": 1500,
        "emergency_premium_bp": 1000,
        "ceiling_weekly_pence": {"solo": 900000, "dual": 800000, "multi": 650000},
        "home_authority_charge": "none",
        "cancellation_notice_days": 7,
        "early_end_notice_days": 28,
        "spot_benchmark_weekly_pence": 768800,
    },
    "rules": {
        "max_weeks": {"assessment": 20, "solo": 26},
        "min_ofsted_rating_to_publish": "requires_improvement",
    },
}


def authority_body(region: Region, /, **overrides: Any) -> dict[str, Any]:
    slug = unique("council")
    body = {
        "slug": slug,
        "name": slug.title(),
        "gss_code": gss(),
        "region": region.slug,
        "membership": "member",
    }
    body.update(overrides)
    return body


async def rows(coop, slug: str) -> int:
    return await count(coop, authorities, authorities.c.slug == slug)


async def versions(coop, region: str) -> int:
    return await count(coop, region_policies, region_policies.c.region == region)


# -- authorities -----------------------------------------------------------------------------


async def test_region_admin_adds_an_authority(region, http, coop, clock):
    body = authority_body(region, membership="associate")
    r = await http.post("/authorities", json=body, headers=region.admin.h)
    assert r.status_code == 201, r.text
    made = r.json()
    assert {k: made[k] for k in body} == body
    assert made["version"] == 1

    r = await http.get(f"/authorities/{body['slug']}", headers=region.admin.h)
    assert r.status_code == 200
    assert r.headers["etag"] == '"1"'
    assert r.json() == made

    # Any valid token reads members, whatever its scopes.
    reader = await region.authority("reader", scopes=["finance:read"])
    assert (await http.get(f"/authorities/{body['slug']}", headers=reader.h)).json() == made
    assert_problem(
        await http.get("/authorities/no-such-council", headers=reader.h), 404, "not_found"
    )


async def test_duplicate_slug_or_gss_code_is_409(region, http, coop):
    first = authority_body(region)
    assert (await http.post("/authorities", json=first, headers=region.admin.h)).status_code == 201

    again = authority_body(region, slug=first["slug"])
    r = await http.post("/authorities", json=again, headers=region.admin.h)
    assert_problem(r, 409, "duplicate_authority")

    same_gss = authority_body(region, gss_code=first["gss_code"])
    r = await http.post("/authorities", json=same_gss, headers=region.admin.h)
    assert_problem(r, 409, "duplicate_gss_code")
    assert await rows(coop, same_gss["slug"]) == 0

    r = await http.get(f"/authorities/{first['slug']}", headers=region.admin.h)
    assert r.json()["gss_code"] == first["gss_code"] and r.json()["name"] == first["name"]


async def test_invalid_authority_is_422_naming_the_field(region, http, coop):
    cases = [
        ("slug", "Bad Slug"),
        ("slug", "-leading-hyphen"),
        ("slug", "x"),
        ("gss_code", "E1000000"),
        ("gss_code", "X10000003"),
        ("gss_code", "e10000003"),
        ("membership", "vip"),
        ("name", ""),
        ("region", "North East"),
    ]
    for name, value in cases:
        body = authority_body(region, **{name: value})
        r = await http.post("/authorities", json=body, headers=region.admin.h)
        problem = assert_problem(r, 422, "validation_error")
        assert field_of(problem) == f"{name}", (name, value, problem)
        assert await rows(coop, body["slug"]) == 0

    body = authority_body(region)
    del body["gss_code"]
    r = await http.post("/authorities", json=body, headers=region.admin.h)
    assert_problem(r, 422, "validation_error")
    r = await http.post(
        "/authorities", json=authority_body(region, version=3), headers=region.admin.h
    )
    assert_problem(r, 422, "validation_error")
    assert await count(coop, authorities, authorities.c.region == region.slug) == 0


async def test_missing_or_unknown_top_level_field_is_named(region, http):
    body = authority_body(region)
    del body["gss_code"]
    r = await http.post("/authorities", json=body, headers=region.admin.h)
    assert field_of(assert_problem(r, 422, "validation_error")) == "gss_code"
    r = await http.post("/authorities", json={**body, "colour": "blue"}, headers=region.admin.h)
    problem = assert_problem(r, 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["gss_code", "colour"]


async def test_another_regions_admin_cannot_add_to_this_region(region, http, coop):
    other = await Region.create(http, coop)
    body = authority_body(region)
    r = await http.post("/authorities", json=body, headers=other.admin.h)
    assert_problem(r, 403, "other_region")
    assert await rows(coop, body["slug"]) == 0


async def test_patch_needs_the_current_version(region, http, coop, clock):
    body = authority_body(region)
    await http.post("/authorities", json=body, headers=region.admin.h)
    url = f"/authorities/{body['slug']}"
    admin = region.admin.h

    r = await http.patch(url, json={"name": "Renamed"}, headers=admin)
    assert_problem(r, 428, "precondition_required")
    r = await http.patch(url, json={"name": "Renamed"}, headers={**admin, "If-Match": '"7"'})
    assert assert_problem(r, 412, "precondition_failed")["current_version"] == 1
    r = await http.patch(url, json={"name": "Renamed", "version": 7}, headers=admin)
    assert assert_problem(r, 409, "version_conflict")["current_version"] == 1
    r = await http.patch(url, json={"name": "Renamed"}, headers={**admin, "If-Match": "one"})
    assert_problem(r, 422, "validation_error")
    assert (await http.get(url, headers=admin)).json()["name"] == body["name"]

    clock.advance(minutes=5)
    etag = (await http.get(url, headers=admin)).headers["etag"]
    r = await http.patch(url, json={"name": "Renamed"}, headers={**admin, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["version"] == 2
    assert r.headers["etag"] == '"2"'
    assert r.json()["updated_at"] > r.json()["created_at"]

    # The old ETag is stale now; the body version works too.
    r = await http.patch(url, json={"membership": "associate"}, headers={**admin, "If-Match": etag})
    assert_problem(r, 412, "precondition_failed")
    r = await http.patch(url, json={"membership": "associate", "version": 2}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["membership"] == "associate" and r.json()["version"] == 3

    # Another member's GSS code is taken.
    taken = await region.authority("taken")
    gss_taken = (await http.get(f"/authorities/{taken.authority}", headers=admin)).json()
    r = await http.patch(url, json={"gss_code": gss_taken["gss_code"], "version": 3}, headers=admin)
    assert_problem(r, 409, "duplicate_gss_code")

    # An authority cannot move region, nor take a malformed value.
    r = await http.patch(url, json={"region": "elsewhere", "version": 3}, headers=admin)
    assert_problem(r, 422, "validation_error")
    r = await http.patch(url, json={"gss_code": "bad", "version": 3}, headers=admin)
    assert field_of(assert_problem(r, 422, "validation_error")) == "gss_code"

    other = await Region.create(http, coop)
    r = await http.patch(url, json={"name": "Taken", "version": 3}, headers=other.admin.h)
    assert_problem(r, 403, "other_region")
    got = (await http.get(url, headers=admin)).json()
    assert (got["name"], got["region"], got["version"]) == ("Renamed", region.slug, 3)

    r = await http.patch("/authorities/no-such-council", json={"version": 1}, headers=admin)
    assert_problem(r, 404, "not_found")


async def test_list_paginates_and_filters_by_region(region, http, coop):
    made = []
    for _ in range(3):
        body = authority_body(region)
        assert (
            await http.post("/authorities", json=body, headers=region.admin.h)
        ).status_code == 201
        made.append(body["slug"])
    other = await Region.create(http, coop)
    await other.authority("elsewhere")

    url = f"/authorities?region={region.slug}&limit=2"
    first = (await http.get(url, headers=region.admin.h)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await http.get(f"{url}&cursor={first['next_cursor']}", headers=region.admin.h)).json()
    assert len(second["items"]) == 1
    assert second.get("next_cursor") is None
    seen = [a["slug"] for a in first["items"] + second["items"]]
    assert seen == sorted(made)
    assert {a["region"] for a in first["items"] + second["items"]} == {region.slug}

    everyone = (await http.get("/authorities?limit=200", headers=region.admin.h)).json()
    assert everyone["items"]  # other regions' members are listed without the filter
    r = await http.get(f"/authorities?region={other.slug}", headers=region.admin.h)
    assert [a["region"] for a in r.json()["items"]] == [other.slug]

    for bad in ("limit=0", "limit=201", "limit=two", "cursor=%21%21not-ours"):
        r = await http.get(f"/authorities?{bad}", headers=region.admin.h)
        problem = assert_problem(r, 422, "validation_error")
        assert bad.split("=")[0] in field_of(problem), problem


# -- policy ----------------------------------------------------------------------------------


async def test_fresh_region_has_the_default_policy_as_version_0(region, http):
    reader = await region.authority("reader", scopes=["market:read"])
    r = await http.get(f"/regions/{region.slug}/policy", headers=reader.h)
    assert r.status_code == 200, r.text
    policy = r.json()
    assert policy["region"] == region.slug
    assert policy["version"] == 0
    assert policy.get("effective_from") is None
    assert {k: policy[k] for k in DEFAULT_POLICY} == DEFAULT_POLICY
    r = await http.get(f"/regions/{region.slug}/policy/versions", headers=reader.h)
    assert r.json() == []


async def test_put_makes_new_versions_and_keeps_the_old(region, http, coop, clock):
    url = f"/regions/{region.slug}/policy"
    r = await http.put(url, json={"pricing": {"margin_bp": 600}}, headers=region.admin.h)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["version"] == 1
    assert v1["pricing"]["margin_bp"] == 600
    # PUT replaces: what was left out takes the defaults.
    assert v1["pricing"]["associate_surcharge_bp"] == 1500
    assert v1["priority"] == DEFAULT_POLICY["priority"]
    assert (await http.get(url, headers=region.admin.h)).json() == v1

    clock.advance(minutes=1)
    body = {
        "priority": {"home_window": "PT24H", "offer_hold": {"today": "PT2H"}},
        "rules": {"max_weeks": {"assessment": 12}},
    }
    r = await http.put(url, json=body, headers=region.admin.h)
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2
    assert v2["priority"]["home_window"] == "PT24H"
    assert v2["priority"]["offer_hold"] == {
        "today": "PT2H",
        "within_5_days": "PT24H",
        "planned": "PT48H",
    }
    assert v2["pricing"]["margin_bp"] == 500
    assert v2["rules"]["max_weeks"] == {"assessment": 12}
    assert (await http.get(url, headers=region.admin.h)).json() == v2

    listed = (await http.get(f"{url}/versions", headers=region.admin.h)).json()
    assert [v["version"] for v in listed] == [1, 2]
    assert listed == [v1, v2]
    assert await versions(coop, region.slug) == 2


async def test_invalid_policy_is_422_naming_the_field(region, http, coop, clock):
    url = f"/regions/{region.slug}/policy"
    admin = region.admin.h
    cases = [
        ({"priority": {"home_window": "48 hours"}}, "priority.home_window"),
        ({"priority": {"home_window": "P1M"}}, "priority.home_window"),
        ({"priority": {"offer_hold": {"today": "PT0S"}}}, "priority.offer_hold.today"),
        ({"priority": {"ranking": ["urgency", "urgency"]}}, "priority.ranking"),
        ({"pricing": {"margin_bp": -1}}, "pricing.margin_bp"),
        ({"pricing": {"ceiling_weekly_pence": {"solo": 0}}}, "pricing.ceiling_weekly_pence.solo"),
        ({"pricing": {"early_end_notice_days": 400}}, "pricing.early_end_notice_days"),
        ({"rules": {"max_weeks": {"forever": 3}}}, "rules.max_weeks.forever"),
        ({"rules": {"max_weeks": {"solo": 0}}}, "rules.max_weeks.solo"),
    ]
    for body, field in cases:
        r = await http.put(url, json=body, headers=admin)
        problem = assert_problem(r, 422, "invalid_policy")
        assert field_of(problem) == field, (body, problem)
        assert field in [field_of(e) for e in problem["errors"]]

    # Every problem is listed, not only the first.
    r = await http.put(
        url,
        json={"priority": {"home_window": "soon"}, "pricing": {"margin_bp": -5}},
        headers=admin,
    )
    fields = [field_of(e) for e in assert_problem(r, 422, "invalid_policy")["errors"]]
    assert fields == ["priority.home_window", "pricing.margin_bp"]

    # Unknown keys and wrong types are refused, not ignored.
    for body, field in [
        ({"pricing": {"margin": 600}}, "pricing.margin"),
        ({"pricing": {"margin_bp": "lots"}}, "pricing.margin_bp"),
        ({"pricing": {"margin_bp": 5.5}}, "pricing.margin_bp"),
        ({"priority": {"today_skips_home_window": "yes"}}, "priority.today_skips_home_window"),
        ({"pricing": {"home_authority_charge": "full"}}, "pricing.home_authority_charge"),
        (
            {"rules": {"min_ofsted_rating_to_publish": "great"}},
            "rules.min_ofsted_rating_to_publish",
        ),
    ]:
        r = await http.put(url, json=body, headers=admin)
        problem = assert_problem(r, 422, "validation_error")
        assert field_of(problem) == field, (body, problem)
    r = await http.put(url, json={"colour": "blue"}, headers=admin)
    assert_problem(r, 422, "validation_error")

    # Always with an offset (one in the past means now: tests/api/test_policy_round_trip.py).
    naive = (clock.now() + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    r = await http.put(url, json={"effective_from": naive}, headers=admin)
    assert field_of(assert_problem(r, 422, "validation_error")) == "effective_from"
    r = await http.put(url, json={"effective_from": "tomorrow"}, headers=admin)
    assert field_of(assert_problem(r, 422, "validation_error")) == "effective_from"

    assert await versions(coop, region.slug) == 0
    assert (await http.get(url, headers=admin)).json()["version"] == 0


async def test_future_policy_takes_effect_when_the_clock_reaches_it(region, http, coop, clock):
    url = f"/regions/{region.slug}/policy"
    admin = region.admin.h
    r = await http.put(url, json={"pricing": {"margin_bp": 600}}, headers=admin)
    assert r.json()["version"] == 1
    start = clock.now() + timedelta(minutes=30)
    r = await http.put(
        url,
        json={"effective_from": start.isoformat(), "pricing": {"margin_bp": 700}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2

    current = (await http.get(url, headers=admin)).json()
    assert (current["version"], current["pricing"]["margin_bp"]) == (1, 600)
    clock.advance(minutes=29, seconds=59)
    assert (await http.get(url, headers=admin)).json()["version"] == 1
    clock.advance(seconds=1)
    current = (await http.get(url, headers=admin)).json()
    assert (current["version"], current["pricing"]["margin_bp"]) == (2, 700)

    # Long after, when the first token has expired, a fresh one still reads version 2.
    clock.advance(seconds=coop.settings.token_ttl_seconds)
    assert_problem(await http.get(url, headers=admin), 401, "token_expired")
    r = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(region.admin.client_id, region.admin.secret),
    )
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await http.get(url, headers=fresh)).json()["version"] == 2
    listed = (await http.get(f"{url}/versions", headers=fresh)).json()
    assert [v["version"] for v in listed] == [1, 2]


async def test_another_regions_admin_cannot_put_policy(region, http, coop):
    other = await Region.create(http, coop)
    url = f"/regions/{region.slug}/policy"
    r = await http.put(url, json={"pricing": {"margin_bp": 0}}, headers=other.admin.h)
    assert_problem(r, 403, "other_region")
    assert await versions(coop, region.slug) == 0
    assert (await http.get(url, headers=other.admin.h)).json()["version"] == 0


# -- request bodies --------------------------------------------------------------------------


async def test_malformed_json_is_400_and_wrong_types_are_422(region, http, coop):
    headers = {**region.admin.h, "Content-Type": "application/json"}
    for path, method in (("/authorities", "POST"), (f"/regions/{region.slug}/policy", "PUT")):
        for raw in (b'{"slug": ', b"not json", b'{"a": 1}}'):
            r = await http.request(method, path, content=raw, headers=headers)
            assert_problem(r, 400, "malformed_body")

    body = authority_body(region, slug=42)
    r = await http.post("/authorities", json=body, headers=region.admin.h)
    problem = assert_problem(r, 422, "validation_error")
    assert field_of(problem) == "slug"
    assert problem["errors"][0]["field"] == "slug"
    r = await http.post("/authorities", json=["not", "an", "object"], headers=region.admin.h)
    assert_problem(r, 422, "validation_error")
    assert await count(coop, authorities, authorities.c.region == region.slug) == 0
