"""Operations endpoints: metrics, the OpenAPI document, problem details on unknown routes."""

from tests.support import assert_problem


async def test_metrics_count_refused_requests_with_their_status(http, region):
    r = await http.get("/homes")  # no token
    assert r.status_code == 401
    metrics = (await http.get("/metrics")).text
    lines = [
        line
        for line in metrics.splitlines()
        if line.startswith("coop_requests_total{") and 'path="/homes"' in line
    ]
    assert any('status_code="401"' in line for line in lines), lines


async def test_openapi_describes_every_route(http):
    doc = (await http.get("/schema/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/oauth/token",
        "/homes",
        "/voids",
        "/bookings",
        "/bookings/{booking_id}/accept",
        "/regions/{region}/policy",
        "/authorities",
        "/clients",
    ):
        assert path in paths, path
    for path, operations in paths.items():
        for method, op in operations.items():
            assert op.get("summary") or op.get("description"), f"{method} {path}"


async def test_unknown_route_is_a_problem(http, region):
    assert_problem(await http.get("/nowhere", headers=region.admin.h), 404, "not_found")


async def test_unknown_booking_status_filter_is_422(http, region):
    buyer = await region.authority("suffolk")
    r = await http.get("/bookings?status=lost", headers=buyer.h)
    assert_problem(r, 422, "validation_error")
