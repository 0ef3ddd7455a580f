"""``GET /clients`` (who can act for an authority, or a region) and the audit: every client
created or revoked, every policy version and every admin action is one event, written with
the change, never carrying a secret; a refused request writes none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from coop.auth.clients import create_client
from coop.auth.schemas import ClientIn
from coop.db.schema import audit_events
from coop.policy.charges import month_start, period_of
from tests.api.test_members import authority_body
from tests.support import AUTHORITY_SCOPES, Region, assert_problem, child, issue

SECRET_FIELDS = {"client_secret", "secret", "secret_hash", "hash"}


async def list_clients(
    http: httpx.AsyncClient, actor: Any, query: str = ""
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url = f"/clients?limit=2{query}"
    while True:
        r = await http.get(url, headers=actor.h)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        if not page.get("next_cursor"):
            return items
        url = f"/clients?limit=2{query}&cursor={page['next_cursor']}"


async def events(coop: Any, region: str) -> list[Any]:
    async with coop.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_events)
            .where(audit_events.c.region == region)
            .order_by(audit_events.c.id)
        )
        return list(rows)


async def new_events(coop: Any, region: str, since: int) -> list[Any]:
    return [e for e in await events(coop, region) if e.id > since]


async def last_id(coop: Any) -> int:
    async with coop.engine.connect() as conn:
        return int(
            await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(audit_events.c.id), 0)))
        )


# -- GET /clients ----------------------------------------------------------------------------


async def test_a_council_lists_its_own_authoritys_clients_and_no_others(http, region):
    cambs = await region.authority("cambs")
    suffolk = await region.authority("suffolk")
    reader = await region.client(cambs.authority, ["market:read"])
    created = await http.post(
        "/clients",
        json={"authority": cambs.authority, "scopes": ["reports:read"], "name": "board feed"},
        headers=region.admin.h,
    )
    assert created.status_code == 201, created.text
    made = created.json()
    r = await http.delete(f"/clients/{reader.client_id}", headers=region.admin.h)
    assert r.status_code == 200, r.text

    # any active client of the authority may list, even one with market:read only
    other_reader = await region.client(cambs.authority, ["market:read"])
    for actor in (cambs, other_reader):
        items = await list_clients(http, actor)
        ids = [c["client_id"] for c in items]
        assert set(ids) == {
            cambs.client_id,
            reader.client_id,
            made["client_id"],
            other_reader.client_id,
        }
        assert ids == [c["client_id"] for c in sorted(items, key=lambda c: c["created_at"])]
        for c in items:
            assert not SECRET_FIELDS & set(c), c
            assert c["authority"] == cambs.authority and c["region"] == region.slug
            assert c["created_at"] and "created_by" in c
        by_id = {c["client_id"]: c for c in items}
        assert by_id[reader.client_id]["revoked_at"] is not None
        assert by_id[cambs.client_id]["revoked_at"] is None
        assert by_id[made["client_id"]]["created_by"] == region.admin.client_id
        assert by_id[cambs.client_id]["created_by"] == "cli"  # made as the CLI makes them
        assert made["client_secret"] not in str(items)
    assert suffolk.client_id not in str(await list_clients(http, cambs))

    # not even by asking for them
    for query in (f"?authority={suffolk.authority}", f"?authority={suffolk.authority}&limit=5"):
        r = await http.get("/clients" + query, headers=cambs.h)
        assert_problem(r, 403, "other_authority")
    own = await list_clients(http, cambs, f"&authority={cambs.authority}")
    assert {c["client_id"] for c in own} == {
        c["client_id"] for c in await list_clients(http, cambs)
    }


async def test_an_admin_lists_its_region_and_never_another(http, coop, region):
    cambs = await region.authority("cambs")
    suffolk = await region.authority("suffolk")
    other = await Region.create(http, coop)
    stranger = await other.authority("essex")

    items = await list_clients(http, region.admin)
    ids = {c["client_id"] for c in items}
    assert {region.admin.client_id, cambs.client_id, suffolk.client_id} <= ids
    assert not {other.admin.client_id, stranger.client_id} & ids
    assert all(c["region"] == region.slug for c in items)
    assert all(not SECRET_FIELDS & set(c) for c in items)

    only = await list_clients(http, region.admin, f"&authority={suffolk.authority}")
    assert {c["client_id"] for c in only} == {suffolk.client_id}
    # another region's authority: nothing of it
    assert await list_clients(http, region.admin, f"&authority={stranger.authority}") == []

    # a region-level client without coop:admin acts for no authority: it lists nothing
    board = await issue(http, coop, ClientIn(region=region.slug, scopes=["reports:read"]))
    assert_problem(await http.get("/clients", headers=board.h), 403, "insufficient_scope")
    assert_problem(await http.get("/clients"), 401, "missing_token")
    assert_problem(
        await http.get("/clients?cursor=nonsense", headers=cambs.h), 422, "validation_error"
    )


# -- the audit -------------------------------------------------------------------------------


async def test_each_audited_action_writes_one_event_without_a_secret(http, coop, region, clock):
    admin = region.admin
    cambs = await region.authority("cambs")
    since = await last_id(coop)

    async def one(action: str, subject: str, authority: str | None) -> Any:
        nonlocal since
        new = await new_events(coop, region.slug, since)
        assert [(e.action, e.subject) for e in new] == [(action, subject)], new
        (event,) = new
        assert event.actor == admin.client_id
        assert event.authority == authority
        since = event.id
        return event

    # clients
    r = await http.post(
        "/clients",
        json={"authority": cambs.authority, "scopes": AUTHORITY_SCOPES, "name": "placements"},
        headers=admin.h,
    )
    made = r.json()
    event = await one("client.created", made["client_id"], cambs.authority)
    assert event.details["scopes"] == sorted(AUTHORITY_SCOPES)
    r = await http.delete(f"/clients/{made['client_id']}", headers=admin.h)
    assert r.status_code == 200
    await one("client.revoked", made["client_id"], cambs.authority)
    r = await http.delete(f"/clients/{made['client_id']}", headers=admin.h)  # again: no event
    assert r.status_code == 200
    assert await new_events(coop, region.slug, since) == []

    # authorities, membership
    body = authority_body(region)
    assert (await http.post("/authorities", json=body, headers=admin.h)).status_code == 201
    await one("authority.added", body["slug"], body["slug"])
    r = await http.patch(
        f"/authorities/{body['slug']}",
        json={"membership": "suspended", "version": 1},
        headers=admin.h,
    )
    assert r.status_code == 200, r.text
    event = await one("authority.changed", body["slug"], body["slug"])
    assert event.details["changes"] == {"membership": {"from": "member", "to": "suspended"}}

    # the policy: PUT and PATCH each make one version
    url = f"/regions/{region.slug}/policy"
    policy = (await http.get(url, headers=admin.h)).json()
    policy["pricing"]["margin_bp"] = 650
    assert (await http.put(url, json=policy, headers=admin.h)).status_code == 200
    event = await one("policy.versioned", f"{region.slug}@1", None)
    assert event.details["version"] == 1 and event.details["sections"] == ["pricing"]
    r = await http.patch(
        url,
        content=b'{"rules": {"min_ofsted_rating_to_publish": "good"}}',
        headers={**admin.h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    await one("policy.versioned", f"{region.slug}@2", None)

    # a settlement run requested
    last_month = period_of(month_start(month_start(clock.today()) - timedelta(days=1)))
    r = await http.post(
        "/settlement-runs", json={"region": region.slug, "period": last_month}, headers=admin.h
    )
    assert r.status_code == 201, r.text
    event = await one("settlement_run.requested", r.json()["id"], None)
    assert event.details["period"] == last_month

    # a payment
    suffolk = await region.authority("suffolk")
    since = await last_id(coop)  # the helper made suffolk (and its client) as the CLI would
    r = await http.post(
        "/payments",
        json={
            "from": cambs.authority,
            "to": suffolk.authority,
            "amount_pence": 1234,
            "paid_on": clock.today().isoformat(),
            "reference": "BACS 1",
        },
        headers=admin.h,
    )
    assert r.status_code == 201, r.text
    event = await one("payment.recorded", r.json()["id"], None)
    assert event.details["amount_pence"] == 1234

    # an import of existing placements: ids only, never the child
    home = await region.home(cambs)
    row = {
        "requester": suffolk.authority,
        "bed_id": home["beds"][0]["id"],
        "child": child(ref="child-ref-audit"),
        "start_date": (clock.today() - timedelta(days=20)).isoformat(),
        "end_date": (clock.today() + timedelta(days=40)).isoformat(),
        "weekly_rate_pence": 500_000,
        "status": "active",
    }
    since = await last_id(coop)
    r = await http.post("/bookings/import", json=[row], headers=admin.h)
    assert r.status_code == 201, r.text
    event = await one("bookings.imported", r.json()[0]["id"], None)
    assert event.details == {"rows": 1, "booking_ids": [r.json()[0]["id"]]}

    # no secret, and no child, anywhere in the region's audit
    everything = str([tuple(e) for e in await events(coop, region.slug)])
    for secret in (made["client_secret"], cambs.secret, suffolk.secret, admin.secret):
        assert secret not in everything
    assert "child-ref-audit" not in everything


async def test_the_command_line_is_the_actor_when_there_is_no_admin(coop, region):
    since = await last_id(coop)
    cambs = await region.authority("cambs")  # coop authorities add, coop clients add
    new = await new_events(coop, region.slug, since)
    assert [(e.action, e.actor, e.subject) for e in new] == [
        ("authority.added", "cli", cambs.authority),
        ("client.created", "cli", cambs.client_id),
    ]
    created = await create_client(
        coop.engine,
        ClientIn(region=region.slug, scopes=["reports:read"]),
        actor=None,
        scrypt_n=coop.settings.scrypt_n,
    )
    (event,) = await new_events(coop, region.slug, new[-1].id)
    assert (event.actor, event.authority, event.subject) == ("cli", None, created.client_id)
    assert created.client_secret not in str(tuple(event))


async def test_a_refused_action_writes_no_event(http, coop, region):
    cambs = await region.authority("cambs")
    since = await last_id(coop)
    url = f"/regions/{region.slug}/policy"
    policy = (await http.get(url, headers=region.admin.h)).json()
    policy["pricing"]["margin_bp"] = -1
    assert_problem(await http.put(url, json=policy, headers=region.admin.h), 422, "invalid_policy")
    r = await http.put(url, json={**policy, "region": "elsewhere"}, headers=region.admin.h)
    assert r.status_code == 422
    assert_problem(
        await http.post(
            "/clients",
            json={"authority": cambs.authority, "scopes": ["nope"]},
            headers=region.admin.h,
        ),
        422,
        "invalid_scope",
    )
    assert_problem(
        await http.post(
            "/clients",
            json={"authority": cambs.authority, "scopes": ["market:read"]},
            headers=cambs.h,
        ),
        403,
        "insufficient_scope",
    )
    assert_problem(
        await http.patch(
            f"/authorities/{cambs.authority}",
            json={"name": "X", "version": 9},
            headers=region.admin.h,
        ),
        409,
        "version_conflict",
    )
    assert_problem(await http.delete("/clients/cli_nope", headers=region.admin.h), 404, "not_found")
    assert await new_events(coop, region.slug, since) == []


async def test_a_cursor_this_list_never_gave_out_is_a_422_not_a_500(http, region):
    from coop.schemas import encode_cursor

    for key in (
        ["0001-01-01T00:00:00+14:00", "cli_x"],  # year 0 in UTC: PostgreSQL cannot hold it
        ["9999-12-31T23:59:59-14:00", "cli_x"],  # year 10000 in UTC
        ["2026-12-01T10:00:00", "cli_x"],  # no time zone
        ["not a time", "cli_x"],
        ["2026-12-01T10:00:00+00:00"],
    ):
        r = await http.get(f"/clients?cursor={encode_cursor(key)}", headers=region.admin.h)
        assert_problem(r, 422, "validation_error")
