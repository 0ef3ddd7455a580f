"""OAuth 2.0 client credentials, RFC 9068 access tokens, the key ring, scopes and API clients."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import RSAKey

from coop.auth.keys import KeyRing
from coop.auth.schemas import ClientIn
from coop.db.schema import api_clients, authorities, region_policies
from tests.support import (
    ADMIN_SCOPES,
    AUTHORITY_SCOPES,
    PROBLEM,
    Region,
    assert_problem,
    count,
    field_of,
    gss,
    issue,
    unique,
)

TOKEN = "/oauth/token"
GRANT = {"grant_type": "client_credentials"}


# -- helpers ---------------------------------------------------------------------------------


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def header_of(token: str) -> dict[str, Any]:
    return json.loads(_unb64(token.split(".")[0]))


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(_unb64(token.split(".")[1]))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_token(http, client_id: str, secret: str, **form: str) -> str:
    r = await http.post(TOKEN, data={**GRANT, **form}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def sign(claims: dict[str, Any], key: Any, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", **header}, claims, key)


def assert_oauth_error(r, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error, body
    assert body["code"] == error, body
    assert body["status"] == status
    assert body["error_description"]
    assert r.headers["cache-control"] == "no-store"
    if status == 401:
        assert r.headers["www-authenticate"], r.headers
    return body


async def assert_accepted(http, token: str) -> None:
    """The token works on an endpoint an authority's market:read token may call."""
    r = await http.get("/homes", headers=bearer(token))
    assert r.status_code == 200, r.text


# -- POST /oauth/token ---------------------------------------------------------------------


async def test_client_secret_basic_and_post_both_issue_tokens(region, http, coop):
    actor = await region.authority("basic")

    basic = await http.post(TOKEN, data=GRANT, auth=(actor.client_id, actor.secret))
    post = await http.post(
        TOKEN, data={**GRANT, "client_id": actor.client_id, "client_secret": actor.secret}
    )
    for r in (basic, post):
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == coop.settings.token_ttl_seconds
        assert body["scope"].split() == sorted(AUTHORITY_SCOPES)
        await assert_accepted(http, body["access_token"])
    assert basic.json()["access_token"] != post.json()["access_token"]


async def test_basic_credentials_are_form_urlencoded_before_base64(region, http):
    # RFC 6749 §2.3.1: a client id or secret with reserved characters is url-encoded first.
    actor = await region.authority("encoded")
    encoded = "".join(f"%{b:02X}" for b in actor.secret.encode())  # every byte escaped
    raw = f"{actor.client_id}:{encoded}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    r = await http.post(TOKEN, data=GRANT, headers={"Authorization": header})
    assert r.status_code == 200, r.text


async def test_token_header_and_claims(region, http, coop, clock):
    actor = await region.authority("claims")
    r = await http.post(TOKEN, data=GRANT, auth=(actor.client_id, actor.secret))
    token = r.json()["access_token"]

    header = header_of(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    jwks = (await http.get("/.well-known/jwks.json")).json()
    published = {k["kid"]: k for k in jwks["keys"]}
    assert header["kid"] in published
    assert header["kid"] == coop.keyring.current_kid
    # Only public halves are published.
    for key in jwks["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()

    claims = claims_of(token)
    issuer = coop.settings.issuer
    assert claims["iss"] == issuer
    assert claims["aud"] == issuer or claims["aud"] == [issuer]
    assert claims["sub"] == actor.client_id
    assert claims["client_id"] == actor.client_id
    assert claims["scope"].split() == sorted(AUTHORITY_SCOPES)
    assert claims["region"] == region.slug
    assert claims["authority"] == actor.authority
    assert claims["iat"] == int(clock.now().timestamp())
    assert claims["exp"] - claims["iat"] == coop.settings.token_ttl_seconds
    assert isinstance(claims["jti"], str) and claims["jti"]
    again = claims_of(await get_token(http, actor.client_id, actor.secret))
    assert again["jti"] != claims["jti"]

    # A region-level client's token has no authority claim at all.
    admin = claims_of(region.admin.token)
    assert admin["region"] == region.slug
    assert "authority" not in admin
    assert admin["scope"].split() == sorted(ADMIN_SCOPES)


async def test_tokens_are_dated_by_the_service_clock(region, http, coop, clock):
    # Tokens are checked against the service clock, so they must be issued by it too:
    # after the clock moves on, a freshly issued token is valid, not born expired.
    actor = await region.authority("later")
    clock.advance(seconds=coop.settings.token_ttl_seconds, days=1)
    _assert_401(await http.get("/homes", headers=actor.h), "token_expired")
    token = await get_token(http, actor.client_id, actor.secret)
    claims = claims_of(token)
    assert claims["iat"] == int(clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + coop.settings.token_ttl_seconds
    await assert_accepted(http, token)


async def test_requested_scope_narrows_the_token(region, http):
    actor = await region.authority("narrow")
    r = await http.post(
        TOKEN, data={**GRANT, "scope": "market:read"}, auth=(actor.client_id, actor.secret)
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "market:read"
    token = r.json()["access_token"]
    assert claims_of(token)["scope"] == "market:read"
    await assert_accepted(http, token)
    # homes:write was not asked for, so it is not granted.
    r = await http.post("/homes", json={}, headers=bearer(token))
    assert_problem(r, 403, "insufficient_scope")

    r = await http.post(
        TOKEN,
        data={**GRANT, "scope": "finance:read market:read"},
        auth=(actor.client_id, actor.secret),
    )
    assert r.json()["scope"] == "finance:read market:read"


async def test_scope_the_client_lacks_is_invalid_scope(region, http):
    actor = await region.authority("lacks", scopes=["market:read"])
    for scope in ("homes:write", "market:read coop:admin", "no:such-scope"):
        r = await http.post(
            TOKEN, data={**GRANT, "scope": scope}, auth=(actor.client_id, actor.secret)
        )
        assert_oauth_error(r, 400, "invalid_scope")


async def test_unsupported_and_missing_grant_type(region, http):
    actor = await region.authority("grants")
    auth = (actor.client_id, actor.secret)
    r = await http.post(TOKEN, data={"grant_type": "password"}, auth=auth)
    assert_oauth_error(r, 400, "unsupported_grant_type")
    r = await http.post(TOKEN, data={"grant_type": "authorization_code"}, auth=auth)
    assert_oauth_error(r, 400, "unsupported_grant_type")
    r = await http.post(TOKEN, data={"scope": "market:read"}, auth=auth)
    assert_oauth_error(r, 400, "invalid_request")
    # A JSON body is not a form: no grant_type.
    r = await http.post(TOKEN, json=GRANT, auth=auth)
    assert_oauth_error(r, 400, "invalid_request")


async def test_bad_client_credentials_are_invalid_client(region, http):
    actor = await region.authority("creds")
    wrong = await http.post(TOKEN, data=GRANT, auth=(actor.client_id, actor.secret + "x"))
    body = assert_oauth_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert actor.secret not in json.dumps(body)

    unknown = await http.post(TOKEN, data=GRANT, auth=("cli_nobody", actor.secret))
    assert_oauth_error(unknown, 401, "invalid_client")
    assert unknown.json()["detail"] == wrong.json()["detail"]  # no hint which one was wrong

    posted = await http.post(
        TOKEN, data={**GRANT, "client_id": actor.client_id, "client_secret": "nope"}
    )
    assert_oauth_error(posted, 401, "invalid_client")

    missing = await http.post(TOKEN, data=GRANT)
    assert_oauth_error(missing, 401, "invalid_client")

    not_base64 = await http.post(TOKEN, data=GRANT, headers={"Authorization": "Basic !!!"})
    assert_oauth_error(not_base64, 401, "invalid_client")


async def test_two_authentication_methods_is_invalid_request(region, http):
    actor = await region.authority("both")
    r = await http.post(
        TOKEN,
        data={**GRANT, "client_id": actor.client_id, "client_secret": actor.secret},
        auth=(actor.client_id, actor.secret),
    )
    assert_oauth_error(r, 400, "invalid_request")


# -- bearer tokens -------------------------------------------------------------------------


def _assert_401(r, code: str) -> None:
    assert_problem(r, 401, code)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_missing_or_garbage_token_is_401(region, http):
    _assert_401(await http.get("/homes"), "missing_token")
    _assert_401(await http.get("/homes", headers={"Authorization": "Bearer "}), "missing_token")
    basic = {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}
    _assert_401(await http.get("/homes", headers=basic), "missing_token")
    for garbage in ("garbage", "a.b", "a.b.c", "e30.e30.", "....", "x" * 5000):
        _assert_401(await http.get("/homes", headers=bearer(garbage)), "invalid_token")


async def test_tampered_token_is_401(region, http, coop):
    actor = await region.authority("tamper", scopes=["market:read"])
    await assert_accepted(http, actor.token)
    head, payload, signature = actor.token.split(".")

    # One character of the payload segment flipped.
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
    r = await http.get("/homes", headers=bearer(f"{head}.{flipped}.{signature}"))
    _assert_401(r, "invalid_token")

    # A well-formed payload that escalates scope and moves region, signature kept.
    claims = claims_of(actor.token)
    claims.update(scope="market:read coop:admin", region="somewhere-else")
    forged = _b64(json.dumps(claims).encode())
    r = await http.get("/homes", headers=bearer(f"{head}.{forged}.{signature}"))
    _assert_401(r, "invalid_token")

    # The signature dropped, or the header changed to alg none.
    r = await http.get("/homes", headers=bearer(f"{head}.{payload}."))
    _assert_401(r, "invalid_token")
    none = _b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    r = await http.get("/homes", headers=bearer(f"{none}.{payload}."))
    _assert_401(r, "invalid_token")


async def test_token_signed_by_a_key_not_in_the_ring_is_401(region, http, coop):
    actor = await region.authority("foreign")
    claims = claims_of(actor.token)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "nope"})
    r = await http.get("/homes", headers=bearer(sign(claims, stranger, kid="nope")))
    _assert_401(r, "invalid_token")
    # Claiming the ring's own kid does not help a key the ring does not hold.
    impostor = RSAKey.import_key(
        {**stranger.as_dict(private=True), "kid": coop.keyring.current_kid}
    )
    token = sign(claims, impostor, kid=coop.keyring.current_kid)
    _assert_401(await http.get("/homes", headers=bearer(token)), "invalid_token")
    # Nor does leaving the kid out.
    _assert_401(await http.get("/homes", headers=bearer(sign(claims, stranger))), "invalid_token")
    # The same claims signed by the ring verify: it is the key that is refused.
    await assert_accepted(http, sign(claims, coop.keyring.signing, kid=coop.keyring.current_kid))


async def test_expired_token_is_401(region, http, coop, clock):
    actor = await region.authority("expiry")
    ttl = coop.settings.token_ttl_seconds
    clock.advance(seconds=ttl - 1)
    await assert_accepted(http, actor.token)
    clock.advance(seconds=1)
    _assert_401(await http.get("/homes", headers=actor.h), "token_expired")
    clock.advance(hours=5)
    _assert_401(await http.get("/homes", headers=actor.h), "token_expired")


async def test_wrong_issuer_audience_or_type_is_401(region, http, coop):
    actor = await region.authority("issuer")
    claims = claims_of(actor.token)
    key, kid = coop.keyring.signing, coop.keyring.current_kid
    await assert_accepted(http, sign(claims, key, kid=kid))
    bad = [
        sign({**claims, "iss": "http://evil.test"}, key, kid=kid),
        sign({**claims, "aud": "http://other.test"}, key, kid=kid),
        sign({**claims, "aud": ["http://other.test"]}, key, kid=kid),
        sign({k: v for k, v in claims.items() if k != "aud"}, key, kid=kid),
        sign({k: v for k, v in claims.items() if k != "iss"}, key, kid=kid),
        sign(claims, key, kid=kid, typ="JWT"),  # an ID token or other JWT, not an access token
        sign({k: v for k, v in claims.items() if k != "client_id"}, key, kid=kid),
    ]
    for token in bad:
        _assert_401(await http.get("/homes", headers=bearer(token)), "invalid_token")


# -- key rotation --------------------------------------------------------------------------


def _restore_ring(coop, original: str) -> None:
    """Put the session's key file back exactly, and make the running ring reload it."""
    path = coop.keyring.path
    path.write_text(original)
    os.chmod(path, 0o600)
    # A new mtime for sure, so the ring notices even within one clock tick of the last write.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    coop.keyring.maybe_reload()
    assert coop.keyring.kids() == [k["kid"] for k in json.loads(original)["keys"]]


async def test_rotation_keeps_old_tokens_valid(region, http, coop):
    actor = await region.authority("rotate")
    original = coop.keyring.path.read_text()
    old_kid = coop.keyring.current_kid
    assert header_of(actor.token)["kid"] == old_kid
    try:
        new_kid = coop.keyring.rotate()
        assert new_kid != old_kid
        assert coop.keyring.current_kid == new_kid
        kids = [k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids[0] == new_kid and old_kid in kids

        fresh = await get_token(http, actor.client_id, actor.secret)
        assert header_of(fresh)["kid"] == new_kid
        await assert_accepted(http, fresh)
        await assert_accepted(http, actor.token)  # issued before the rotation
    finally:
        _restore_ring(coop, original)
    await assert_accepted(http, actor.token)


async def test_rotation_by_another_process_is_picked_up(region, http, coop):
    # `coop keys rotate` in another process rewrites the file; the service notices.
    actor = await region.authority("elsewhere")
    original = coop.keyring.path.read_text()
    try:
        other = KeyRing(path=coop.keyring.path)
        new_kid = other.rotate()
        kids = [k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids[0] == new_kid
        # A token the other process signed verifies here.
        token = sign(claims_of(actor.token), other.signing, kid=new_kid)
        await assert_accepted(http, token)
        assert header_of(await get_token(http, actor.client_id, actor.secret))["kid"] == new_kid
        await assert_accepted(http, actor.token)
    finally:
        _restore_ring(coop, original)


async def test_prune_drops_retired_keys_only_after_ttl(region, http, coop):
    actor = await region.authority("prune")
    ring = coop.keyring
    original = ring.path.read_text()
    ttl = timedelta(hours=1)
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    try:
        # Start from the signing key alone, whatever other tests left in the ring.
        _restore_ring(coop, json.dumps({"keys": json.loads(original)["keys"][:1]}))
        original_kids = ring.kids()
        await assert_accepted(http, actor.token)
        a = ring.rotate(now=base)  # retires every original key at `base`
        b = ring.rotate(now=base + timedelta(days=1))  # retires a
        c = ring.rotate(now=base + timedelta(days=1, minutes=30))  # retires b; c signs
        assert ring.kids() == [c, b, a, *original_kids]
        token_c = await get_token(http, actor.client_id, actor.secret)
        assert header_of(token_c)["kid"] == c

        # Nothing has been retired for a whole ttl yet: nothing goes.
        assert ring.prune(ttl, now=base + ttl - timedelta(seconds=1)) == []
        assert ring.kids() == [c, b, a, *original_kids]

        # The original keys were retired a day ago; a only 40 minutes ago, b 10 minutes ago.
        now = base + timedelta(days=1, minutes=40)
        assert ring.prune(ttl, now=now) == original_kids
        assert ring.kids() == [c, b, a]
        kids = [k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids == [c, b, a]
        # Tokens signed by a dropped key are refused now; the signing key's still verify.
        _assert_401(await http.get("/homes", headers=actor.h), "invalid_token")
        await assert_accepted(http, token_c)

        # a's last token expired an hour after b replaced it; b is still needed.
        assert ring.prune(ttl, now=base + timedelta(days=1, hours=1, seconds=1)) == [a]
        assert ring.kids() == [c, b]
        # The signing key is never dropped, however old.
        assert ring.prune(ttl, now=base + timedelta(days=365)) == [b]
        assert ring.kids() == [c]
        await assert_accepted(http, token_c)
    finally:
        _restore_ring(coop, original)
    await assert_accepted(http, actor.token)


# -- scopes --------------------------------------------------------------------------------


async def test_missing_scope_is_403_insufficient_scope(region, http, coop):
    writer = await region.authority("writer", scopes=["homes:write"])
    r = await http.get("/homes", headers=writer.h)
    body = assert_problem(r, 403, "insufficient_scope")
    assert "market:read" in body["detail"]
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]

    council = await region.authority("council")  # every authority scope but coop:admin
    board = await issue(http, coop, ClientIn(region=region.slug, scopes=["reports:read"]))
    narrowed = await get_token(
        http, region.admin.client_id, region.admin.secret, scope="market:read"
    )
    slug = unique("new")
    authority = {"slug": slug, "name": "New", "gss_code": gss(), "region": region.slug}
    client = {"authority": council.authority, "scopes": ["market:read"]}
    for headers in (council.h, board.h, bearer(narrowed)):
        r = await http.post("/authorities", json=authority, headers=headers)
        assert_problem(r, 403, "insufficient_scope")
        r = await http.patch(
            f"/authorities/{council.authority}", json={"version": 1}, headers=headers
        )
        assert_problem(r, 403, "insufficient_scope")
        r = await http.post("/clients", json=client, headers=headers)
        assert_problem(r, 403, "insufficient_scope")
        r = await http.delete(f"/clients/{council.client_id}", headers=headers)
        assert_problem(r, 403, "insufficient_scope")
        r = await http.put(f"/regions/{region.slug}/policy", json={}, headers=headers)
        assert_problem(r, 403, "insufficient_scope")
    # Nothing was made, changed or revoked.
    assert await count(coop, authorities, authorities.c.slug == slug) == 0
    assert await count(coop, region_policies, region_policies.c.region == region.slug) == 0
    assert await count(coop, api_clients, api_clients.c.authority == council.authority) == 1
    await assert_accepted(http, council.token)
    # Reading members and policy needs no particular scope.
    assert (
        await http.get(f"/authorities/{council.authority}", headers=writer.h)
    ).status_code == 200
    assert (await http.get(f"/regions/{region.slug}/policy", headers=board.h)).status_code == 200


# -- /clients ------------------------------------------------------------------------------


async def _secret_hash(coop, client_id: str) -> str:
    async with coop.engine.connect() as conn:
        return await conn.scalar(
            sa.select(api_clients.c.secret_hash).where(api_clients.c.id == client_id)
        )


async def test_create_client_returns_the_secret_once_and_stores_a_hash(region, http, coop):
    council = await region.authority("owner")
    r = await http.post(
        "/clients",
        json={
            "authority": council.authority,
            "scopes": ["market:read", "homes:write"],
            "name": "x",
        },
        headers=region.admin.h,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["authority"] == council.authority
    assert made["region"] == region.slug
    assert made["scopes"] == ["homes:write", "market:read"]
    assert made["name"] == "x"
    assert made.get("revoked_at") is None
    secret = made["client_secret"]
    assert len(secret) >= 32

    stored = await _secret_hash(coop, made["client_id"])
    assert stored != secret and secret not in stored
    assert stored.startswith("scrypt$")

    r = await http.post(TOKEN, data=GRANT, auth=(made["client_id"], secret))
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["authority"] == council.authority
    assert claims["scope"] == "homes:write market:read"
    await assert_accepted(http, r.json()["access_token"])

    # A region-level client of the admin's own region.
    r = await http.post(
        "/clients", json={"region": region.slug, "scopes": ["reports:read"]}, headers=region.admin.h
    )
    assert r.status_code == 201, r.text
    board = r.json()
    assert board["authority"] is None and board["region"] == region.slug
    token = await get_token(http, board["client_id"], board["client_secret"])
    assert "authority" not in claims_of(token)


async def test_revoked_client_is_refused_at_once(region, http, coop):
    council = await region.authority("revoked")
    spare = await region.client(council.authority, ["market:read"])  # another client, unaffected
    await assert_accepted(http, council.token)

    r = await http.delete(f"/clients/{council.client_id}", headers=region.admin.h)
    assert r.status_code == 200, r.text
    revoked_at = r.json()["revoked_at"]
    assert revoked_at is not None
    assert "client_secret" not in r.json()

    _assert_401(await http.get("/homes", headers=council.h), "client_revoked")
    r = await http.post(TOKEN, data=GRANT, auth=(council.client_id, council.secret))
    assert_oauth_error(r, 401, "invalid_client")
    await assert_accepted(http, spare.token)

    # Revoking again is harmless and keeps the first revocation time.
    r = await http.delete(f"/clients/{council.client_id}", headers=region.admin.h)
    assert r.status_code == 200 and r.json()["revoked_at"] == revoked_at
    r = await http.delete("/clients/cli_nosuchclient", headers=region.admin.h)
    assert_problem(r, 404, "not_found")


async def test_another_regions_admin_cannot_touch_this_regions_clients(region, http, coop):
    council = await region.authority("mine")
    other = await Region.create(http, coop)
    before = await count(coop, api_clients, api_clients.c.region == region.slug)

    r = await http.post(
        "/clients",
        json={"authority": council.authority, "scopes": ["market:read"]},
        headers=other.admin.h,
    )
    assert_problem(r, 422, "unknown_authority")
    r = await http.post(
        "/clients", json={"region": region.slug, "scopes": ["coop:admin"]}, headers=other.admin.h
    )
    assert_problem(r, 403, "other_region")
    for client_id in (council.client_id, region.admin.client_id):
        r = await http.delete(f"/clients/{client_id}", headers=other.admin.h)
        assert_problem(r, 404, "not_found")

    assert await count(coop, api_clients, api_clients.c.region == region.slug) == before
    assert await count(coop, api_clients, api_clients.c.region == other.slug) == 1
    assert (
        await count(
            coop,
            api_clients,
            api_clients.c.region == region.slug,
            api_clients.c.revoked_at.is_not(None),
        )
        == 0
    )
    await assert_accepted(http, council.token)


async def test_create_client_validation(region, http, coop):
    council = await region.authority("valid")
    before = await count(coop, api_clients, api_clients.c.region == region.slug)
    cases = [
        ({"authority": council.authority, "scopes": ["market:read", "root"]}, "invalid_scope"),
        ({"authority": council.authority, "scopes": ["coop:admin"]}, "invalid_scope"),
        ({"authority": council.authority, "region": region.slug, "scopes": ["market:read"]}, None),
        ({"scopes": ["market:read"]}, None),
        ({"authority": council.authority, "scopes": []}, None),
        ({"authority": "no-such-council", "scopes": ["market:read"]}, "unknown_authority"),
        ({"authority": council.authority, "scopes": ["market:read"], "secret": "mine"}, None),
    ]
    for body, code in cases:
        r = await http.post("/clients", json=body, headers=region.admin.h)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        if code:
            assert problem["code"] == code, problem
        if code == "invalid_scope":
            assert field_of(problem) == "scopes"
    assert await count(coop, api_clients, api_clients.c.region == region.slug) == before


# -- problem bodies ------------------------------------------------------------------------


async def test_malformed_and_mistyped_bodies(region, http, coop):
    headers = {**region.admin.h, "Content-Type": "application/json"}
    r = await http.post("/clients", content=b'{"scopes": [', headers=headers)
    assert_problem(r, 400, "malformed_body")
    r = await http.post(
        "/clients", json={"region": region.slug, "scopes": "market:read"}, headers=region.admin.h
    )
    body = assert_problem(r, 422, "validation_error")
    assert field_of(body) == "scopes"
