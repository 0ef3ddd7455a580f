"""The OpenAPI document says what the service does (issue #10): every operation described,
secured as its guard is, with the problem responses and headers it really has; the docs UI
served from the package, not a CDN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar._openapi.plugin import OpenAPIPlugin

from coop.app import create_app
from coop.auth.guards import PUBLIC_OPT
from coop.errors import PROBLEM_JSON
from coop.settings import Settings

PUBLIC = {
    ("post", "/oauth/token"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/health"),
    ("get", "/ready"),
}


@pytest.fixture(scope="module")
def offline_app() -> Any:
    return create_app(Settings(database_url="postgresql+asyncpg://nobody@/nowhere"))


@pytest.fixture(scope="module")
def doc(offline_app: Any) -> dict[str, Any]:
    return offline_app.plugins.get(OpenAPIPlugin).provide_openapi_schema()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def _handlers(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                out.append((method.lower(), route.path_format, handler))
    return out


def test_every_operation_and_schema_is_described_and_named_simply(doc):
    ids = set()
    for method, path, op in _operations(doc):
        assert op.get("description"), (method, path)
        assert re.fullmatch(r"[a-z]+[A-Z][A-Za-z]*", op["operationId"]), op["operationId"]
        assert len(op["operationId"]) <= 24, op["operationId"]
        ids.add(op["operationId"])
    assert len(ids) == len(_operations(doc))
    for name, schema in doc["components"]["schemas"].items():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
        assert schema.get("description"), name


def test_security_matches_each_guard(offline_app, doc):
    scheme = doc["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert "security" not in doc  # per operation, not one global default
    for method, path, handler in _handlers(offline_app):
        op = doc["paths"][path][method]
        guards = [g for layer in handler.ownership_layers for g in (layer.guards or [])]
        scopes = [s for g in guards for s in getattr(g, "scopes", ())]
        if handler.opt.get(PUBLIC_OPT):
            assert (method, path) in PUBLIC
            assert op["security"] == [], (method, path)
            continue
        assert (method, path) not in PUBLIC
        if handler.opt.get("any_scope"):
            assert op["security"] == [{"oauth2": [s]} for s in handler.opt["any_scope"]]
        else:
            assert op["security"] == [{"oauth2": scopes}], (method, path)
        for scope in scopes:
            assert scope in flow["scopes"]


def test_problem_responses_are_problem_json_with_the_shared_schema(offline_app, doc):
    for method, path, handler in _handlers(offline_app):
        op = doc["paths"][path][method]
        responses = op["responses"]
        if path == "/oauth/token":
            assert responses["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/OAuthError"
            }
            assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
            continue
        for status, response in responses.items():
            if int(status) >= 400 and path != "/ready":
                assert response["content"] == {
                    PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)
        authenticated = not handler.opt.get(PUBLIC_OPT)
        if authenticated:
            assert "401" in responses, (method, path)
        if "{" in path:
            assert "404" in responses and "422" in responses, (method, path)
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= set(responses), (method, path)
        if handler.opt.get("idempotent"):
            names = [p["name"] for p in op["parameters"]]
            assert "Idempotency-Key" in names
            ok = next(r for s, r in responses.items() if s.startswith("2"))
            assert "Idempotent-Replayed" in ok["headers"]
        if handler.opt.get("if_match"):
            assert "If-Match" in [p["name"] for p in op["parameters"]]
            assert {"412", "428"} <= set(responses)
        if handler.opt.get("etag"):
            ok = next(r for s, r in responses.items() if s.startswith("2"))
            assert "ETag" in ok["headers"]
        if "503" in responses and path != "/ready":
            assert "Retry-After" in responses["503"]["headers"]


def test_refused_unknown_fields_are_declared(doc):
    schemas = doc["components"]["schemas"]
    for name in ("HomeIn", "HomePatch", "BedPatch", "VoidIn", "BookingIn", "ChildProfile"):
        assert schemas[name]["additionalProperties"] is False, name


async def test_the_docs_ui_is_served_from_the_package(http):
    r = await http.get("/schema")
    assert r.status_code == 200
    html = r.text
    assert not re.search(r"https?://", html.split("<script", 1)[1]), "no CDN"
    assets = re.findall(r'(?:src|href)="(/schema/assets/[^"]+)"', html)
    assert len(assets) >= 2, html
    for asset in assets:
        got = await http.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    r = await http.get("/schema/openapi.json")
    assert r.status_code == 200 and r.json()["paths"]
