from tests.support import assert_problem


async def test_health_and_ready(http):
    assert (await http.get("/health")).json() == {"status": "ok"}
    r = await http.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_home_and_void_round_trip(region, http):
    owner = await region.authority("cambs")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    r = await http.get("/voids", headers=owner.h)
    assert [v["id"] for v in r.json()["items"]] == [void["id"]]


async def test_no_token_is_401(http):
    assert_problem(await http.get("/homes"), 401, "missing_token")
