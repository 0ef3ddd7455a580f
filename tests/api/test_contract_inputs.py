"""The API contract at the edge (issue #10): careless input is a 4xx problem in the API's
own words, never a 5xx, and it changes nothing.

Each case here answered 500, leaked library text or was silently accepted before.
"""

from __future__ import annotations

from typing import Any

import pytest

from coop.db.schema import bookings, homes, voids
from tests.support import PROBLEM, Actor, Region, assert_problem, child, count

NUL = "\u0000"


async def _market(region: Region) -> tuple[Actor, Actor, dict[str, Any], dict[str, Any]]:
    owner = await region.authority("owner")
    buyer = await region.authority("buyer")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    return owner, buyer, home, void


def _no_library_text(body: dict[str, Any]) -> None:
    text = repr(body)
    for leak in ("Expected `", "(at $)", "from_", "regex", "Http ", "Traceback", "msgspec", "\\^"):
        assert leak not in text, (leak, body)


# -- NUL bytes: PostgreSQL cannot store them in text ------------------------------------------


async def test_nul_in_path_query_and_cursor_is_a_422(region, http):
    owner, _, _, _ = await _market(region)
    for url in (
        "/homes/%00",
        "/homes/home_%00x",
        "/voids/%00",
        "/bookings/%00",
        "/bookings?bed_id=bed_%00",
        "/homes?owner=a%00b",
        "/voids?home_id=%00",
        "/homes?cursor=%00",
        "/voids?needs=semh%00",
    ):
        r = await http.get(url, headers=owner.h)
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["code"] == "nul_character", (url, body)
        _no_library_text(body)


async def test_nul_in_a_body_string_is_refused_and_nothing_is_saved(region, http):
    owner, _, home, _ = await _market(region)
    before = await count(region.coop, voids, voids.c.bed_id == home["beds"][1]["id"])
    r = await http.post(
        "/voids",
        json={
            "bed_id": home["beds"][1]["id"],
            "available_from": region.day(1),
            "notes": "a\u0000b",
        },
        headers=owner.h,
    )
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"] == [
        {"field": "notes", "code": "nul_character", "detail": body["errors"][0]["detail"]}
    ]
    assert await count(region.coop, voids, voids.c.bed_id == home["beds"][1]["id"]) == before


async def test_nul_in_a_token_request_is_an_oauth_error(http):
    r = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "cli_\x00", "client_secret": "x"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


# -- the ends of the calendar and of int64 ----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "from=9999-12-31",
        "to=0001-01-01",
        "from=0001-01-01",
        "to=9999-12-31",
        "max_weekly_price_pence=9223372036854775808",
        "max_weekly_price_pence=-1",
        "age=99999999999999999999",
        "limit=9223372036854775808",
        "near_lat=1e400&near_lon=0",
        "near_lat=nan&near_lon=0",
        "within_km=inf&near_lat=52&near_lon=0",
    ],
)
async def test_out_of_range_query_values_are_a_422_naming_the_parameter(region, http, query):
    owner, _, _, _ = await _market(region)
    r = await http.get(f"/voids?{query}", headers=owner.h)
    body = assert_problem(r, 422, "validation_error")
    name = query.split("=")[0]
    assert name in {e["field"] for e in body["errors"]}, body
    _no_library_text(body)


async def test_a_void_cannot_start_after_2100(region, http):
    owner, _, home, _ = await _market(region)
    for start in ("2101-01-01", "9999-12-31"):
        r = await http.post(
            "/voids",
            json={"bed_id": home["beds"][1]["id"], "available_from": start},
            headers=owner.h,
        )
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["field"] == "available_from", body
    assert await count(region.coop, voids, voids.c.bed_id == home["beds"][1]["id"]) == 0


async def test_huge_integers_in_a_body_are_a_422(region, http):
    owner, _, _, _ = await _market(region)
    before = await count(region.coop, homes, homes.c.owner == owner.authority)
    from tests.support import home_payload

    r = await http.post(
        "/homes", json=home_payload(weekly_cost_pence=2**63, age_min=-(2**70)), headers=owner.h
    )
    body = assert_problem(r, 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"weekly_cost_pence", "age_min"}, body
    assert await count(region.coop, homes, homes.c.owner == owner.authority) == before


# -- nesting and sizes -------------------------------------------------------------------------


async def test_deeply_nested_json_is_a_4xx(region, http):
    owner, _, _, _ = await _market(region)
    deep = b"[" * 100_000 + b"]" * 100_000
    r = await http.post(
        "/voids", content=deep, headers={**owner.h, "content-type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_a_deeply_nested_cursor_is_a_422(region, http):
    import base64

    owner, _, _, _ = await _market(region)
    cursor = base64.urlsafe_b64encode(b"[" * 3_000 + b"]" * 3_000).decode().rstrip("=")
    r = await http.get(f"/homes?cursor={cursor}", headers=owner.h)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    "key",
    ['["\\u0000"]', "[null]", '[{"a": 1}]', "[]", '["' + "x" * 201 + '"]', "[true]", '[1, "a"]'],
)
@pytest.mark.parametrize("path", ["/homes", "/bookings", "/invoices", "/payments"])
async def test_a_cursor_this_service_did_not_give_out_is_a_422(region, http, path, key):
    """Its key is read before it reaches PostgreSQL: a NUL, a null, an object, an empty or
    over-long key are refused, not compared as text (or answered 500)."""
    import base64

    owner, _, _, _ = await _market(region)
    cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    r = await http.get(f"{path}?cursor={cursor}", headers=owner.h)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["field"] == "cursor"


async def test_a_malformed_if_match_is_a_422_and_a_stale_one_a_412(region, http):
    owner, _, home, _ = await _market(region)
    for value in ('"' + "9" * 5000 + '"', '"' + "9" * 30 + '"', '"v1"', "*"):
        r = await http.patch(
            f"/homes/{home['id']}", json={"name": "X"}, headers={**owner.h, "If-Match": value}
        )
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["field"] == "If-Match", body
    r = await http.patch(
        f"/homes/{home['id']}", json={"name": "X"}, headers={**owner.h, "If-Match": '"7"'}
    )
    assert_problem(r, 412, "precondition_failed")
    r = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert r.json()["name"] == home["name"]


async def test_an_empty_code_is_refused_not_ignored(region, http):
    owner, _, _, _ = await _market(region)
    for query in ("needs=", "risks=", "needs=semh,", "needs=semh&needs="):
        r = await http.get(f"/voids?{query}", headers=owner.h)
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["field"] == query.split("=")[0], body


async def test_null_is_not_a_value_of_a_query_parameter(region, http):
    owner, _, _, _ = await _market(region)
    for url in ("/homes?status=null", "/bookings?status=null", "/voids?within_km=null"):
        r = await http.get(url, headers=owner.h)
        assert_problem(r, 422, "validation_error")


async def test_options_on_guarded_paths_is_not_a_500(http):
    for url in ("/clients", "/clients/cli_x", "/homes", "/bookings/bkg_x/accept"):
        r = await http.options(url)
        assert r.status_code < 500, (url, r.text)


async def test_a_body_too_large_is_a_413_problem(region, http):
    owner, _, _, _ = await _market(region)
    r = await http.post(
        "/voids",
        content=b'{"notes": "' + b"x" * (11 * 1024 * 1024) + b'"}',
        headers={**owner.h, "content-type": "application/json"},
    )
    body = assert_problem(r, 413, "body_too_large")
    assert "Http" not in body["title"]


# -- words: the API's own, every error at once -------------------------------------------------


async def test_a_missing_body_names_the_body_not_python(region, http):
    owner, _, _, _ = await _market(region)
    r = await http.post("/voids", headers={**owner.h, "content-type": "application/json"})
    body = assert_problem(r, 400, "malformed_body")
    _no_library_text(body)


async def test_every_invalid_field_is_listed_at_once(region, http):
    owner, _, _, _ = await _market(region)
    r = await http.post(
        "/voids",
        json={
            "bed_id": 7,
            "available_from": "tomorrow",
            "notes": "x" * 5000,
            "colour": "red",
        },
        headers=owner.h,
    )
    body = assert_problem(r, 422, "validation_error")
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["bed_id"]["code"] == "wrong_type"
    assert by_field["available_from"]["code"] == "bad_format"
    assert by_field["notes"]["code"] == "too_long"
    assert by_field["colour"]["code"] == "unknown_field"
    for e in body["errors"]:
        assert set(e) == {"field", "code", "detail"}, e
    _no_library_text(body)


async def test_a_pattern_error_does_not_show_the_regex(region, http):
    r = await http.post(
        "/authorities",
        json={"slug": "Not A Slug!", "name": "X", "gss_code": "E1", "region": region.slug},
        headers=region.admin.h,
    )
    body = assert_problem(r, 422, "validation_error")
    assert "slug" in {e["field"] for e in body["errors"]}
    _no_library_text(body)


async def test_query_parameters_are_named_as_sent(region, http):
    owner, _, _, _ = await _market(region)
    r = await http.get("/voids?from=soon&age=old", headers=owner.h)
    body = assert_problem(r, 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"from", "age"}, body
    _no_library_text(body)


# -- strictness ---------------------------------------------------------------------------------


async def test_a_string_where_a_number_belongs_is_a_422(region, http):
    _, buyer, _, void = await _market(region)
    before = await count(region.coop, bookings, bookings.c.requester == buyer.authority)
    r = await http.post(
        "/bookings",
        json={
            "void_id": void["id"],
            "child": child(age="14"),
            "start_date": region.day(1),
            "end_date": region.day(30),
        },
        headers=buyer.h,
    )
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["field"] == "child.age", body
    assert body["errors"][0]["code"] == "wrong_type"
    assert await count(region.coop, bookings, bookings.c.requester == buyer.authority) == before


async def test_json_sent_as_text_plain_is_a_415(region, http):
    owner, _, home, _ = await _market(region)
    import json

    r = await http.post(
        "/voids",
        content=json.dumps({"bed_id": home["beds"][1]["id"], "available_from": region.day(1)}),
        headers={**owner.h, "content-type": "text/plain"},
    )
    assert_problem(r, 415, "unsupported_media_type")
    assert await count(region.coop, voids, voids.c.bed_id == home["beds"][1]["id"]) == 0


async def test_a_form_body_is_a_415(region, http):
    owner, _, home, _ = await _market(region)
    r = await http.post(
        "/voids",
        data={"bed_id": home["beds"][1]["id"], "available_from": region.day(1)},
        headers=owner.h,
    )
    assert_problem(r, 415, "unsupported_media_type")


async def test_patch_bed_without_if_match_is_a_428(region, http):
    owner, _, home, _ = await _market(region)
    bed_id = home["beds"][1]["id"]
    r = await http.patch(f"/beds/{bed_id}", json={"label": "Z"}, headers=owner.h)
    assert_problem(r, 428, "precondition_required")
    r = await http.get(f"/homes/{home['id']}", headers=owner.h)
    assert {b["label"] for b in r.json()["beds"]} == {"A", "B"}
