"""``/board``: sign-in, sessions, CSRF, tenancy, and the page's figures against the API."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from coop.board.figures import Dates, pounds
from coop.board.sessions import SESSION_COOKIE
from tests.board.support import Page, expected_figures, report_queries
from tests.settlement.support import Market
from tests.support import Actor


@pytest.fixture
async def browser(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A person's browser: its own cookie jar, the same app."""
    async with httpx.AsyncClient(transport=http._transport, base_url="http://coop.test") as b:
        yield b


async def sign_in(
    b: httpx.AsyncClient, actor: Actor, *, secret: str | None = None
) -> httpx.Response:
    form = Page((await b.get("/board/sign-in")).text).forms[0]["inputs"]
    return await b.post(
        "/board/sign-in",
        data={
            "csrf_token": form["csrf_token"],
            "client_id": actor.client_id,
            "client_secret": secret if secret is not None else actor.secret,
        },
    )


@pytest.fixture
async def market(http: httpx.AsyncClient, coop: Any, clock: Any) -> Market:
    """Suffolk-like seller and Norfolk-like buyer: a placement across a settled month."""
    m = await Market.open(http, coop, date(2026, 1, 5), beds=4, cost=500_000)
    await m.place(0, date(2026, 6, 1))
    await m.place(1, date(2026, 6, 1), buyer=m.seller, ref="own-1")
    m.move_to(date(2026, 2, 2))
    await m.relog()
    await m.settle("2026-01")
    m.move_to(date(2026, 3, 10))
    await m.relog()
    return m


async def api(http: httpx.AsyncClient, actor: Actor, path: str, **params: str) -> Any:
    r = await http.get(path, params=params, headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


async def test_signed_out_goes_to_sign_in(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/board")
    assert r.status_code == 303 and r.headers["location"] == "/board/sign-in"
    r = await browser.get("/board/csv/income")
    assert r.status_code == 303 and r.headers["location"] == "/board/sign-in"
    # a made-up cookie is no session
    browser.cookies.set(SESSION_COOKIE, "x" * 43)
    assert (await browser.get("/board")).status_code == 303


async def test_sign_in_form_is_accessible_and_protected(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/board/sign-in")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    (form,) = page.forms
    assert form["method"] == "post" and set(form["inputs"]) == {
        "csrf_token",
        "client_id",
        "client_secret",
    }
    for name in ("client_id", "client_secret"):
        assert f'<label for="{name}">' in r.text
    assert page.headings == [1]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_sign_in_refusals_make_no_session(browser: httpx.AsyncClient, market: Market) -> None:
    board = market.region.admin
    # no CSRF token, or the wrong one: refused before the secret is looked at
    assert (await browser.get("/board/sign-in")).status_code == 200
    for token in (None, "x" * 43, ""):
        data = {"client_id": board.client_id, "client_secret": board.secret}
        if token is not None:
            data["csrf_token"] = token
        r = await browser.post("/board/sign-in", data=data)
        assert r.status_code == 403 and "expired" in r.text
    r = await sign_in(browser, board, secret="wrong")
    assert r.status_code == 401 and "do not match" in r.text
    # a client without reports:read may not use the board
    clerk = await market.region.client(market.seller.authority or "", ["market:read"])
    r = await sign_in(browser, clerk)
    assert r.status_code == 403 and "reports:read" in r.text
    assert SESSION_COOKIE not in browser.cookies
    assert (await browser.get("/board")).status_code == 303


async def test_board_figures_equal_the_api(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, market: Market
) -> None:
    board = market.region.admin
    r = await sign_in(browser, board)
    assert r.status_code == 303 and r.headers["location"] == "/board"
    set_cookie = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    assert "Secure" not in session_cookie  # plain HTTP here
    r = await browser.get("/board")
    assert r.status_code == 200, r.text
    html = r.text
    assert board.secret not in html and board.token not in html
    page = Page(html)
    dates = Dates.default(market.today)
    expected = await board_figures(http, board, market.today)
    assert {k: page.figures[k] for k in expected} == expected
    assert int(page.figures["capacity.totals.occupied_sold"]) == 1
    assert int(page.figures["income.totals.income_pence"]) > 0
    assert pounds(int(page.figures["income.totals.income_pence"])) in html
    # headings in order, every chart has a text alternative, every figure has a table
    assert page.headings[0] == 1 and all(
        b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False)
    )
    assert len(page.imgs) >= 3 and all((img.get("alt") or "").strip() for img in page.imgs)
    assert all(img["src"].startswith("data:image/svg+xml;base64,") for img in page.imgs)
    # every CSV link answers the API's own CSV
    links = sorted({href for href in page.links if href.startswith("/board/csv/")})
    assert {link.split("?")[0] for link in links} == {
        "/board/csv/capacity",
        "/board/csv/capacity-series",
        "/board/csv/income",
        "/board/csv/demand",
    }
    income_link = next(link for link in links if link.startswith("/board/csv/income"))
    r = await browser.get(income_link)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    r2 = await http.get(
        "/reports/income",
        params={"from": dates.start.isoformat(), "to": dates.end.isoformat()},
        headers={**board.h, "Accept": "text/csv"},
    )
    assert list(csv.reader(io.StringIO(r.text))) == list(csv.reader(io.StringIO(r2.text)))


async def board_figures(http: httpx.AsyncClient, actor: Actor, today: date) -> dict[str, str]:
    """What the board must show ``actor`` with the default dates, from the API."""
    queries = report_queries(today, actor.authority)
    answers = {
        name: await api(http, actor, path, **params) for name, (path, params) in queries.items()
    }
    return expected_figures(answers)


async def test_an_authority_sees_its_own_rows_and_the_region(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, market: Market
) -> None:
    buyer = market.buyer
    assert (await sign_in(browser, buyer)).status_code == 303
    r = await browser.get("/board")
    page = Page(r.text)
    mine, theirs = buyer.authority, market.seller.authority
    assert f"capacity.{mine}.registered" in page.figures
    assert f"income.{mine}.spend_pence" in page.figures
    assert not [k for k in page.figures if f".{theirs}." in k]
    assert theirs not in r.text
    # every figure, its own series included, is the API's for this client
    expected = await board_figures(http, buyer, market.today)
    assert any(k.startswith("own_series.") for k in expected)
    assert {k: page.figures.get(k) for k in expected} == expected
    # its own series has a CSV too, and no CSV names the other council
    for report in ("capacity", "capacity-series", "own-series", "income", "demand"):
        r = await browser.get(f"/board/csv/{report}")
        assert r.status_code == 200 and theirs not in r.text, report
    # another region's board is refused, as in the API
    r = await browser.get("/board", params={"region": "elsewhere"})
    assert r.status_code == 403 and "own region" in r.text
    r = await browser.get("/board/csv/capacity", params={"region": "elsewhere"})
    assert r.status_code == 403


async def test_forms_from_another_site_change_nothing(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, market: Market
) -> None:
    board = market.region.admin
    # a sign-in posted from another site, even with a planted cookie and token, is refused
    form = Page((await browser.get("/board/sign-in")).text).forms[0]["inputs"]
    r = await browser.post(
        "/board/sign-in",
        data={
            "csrf_token": form["csrf_token"],
            "client_id": board.client_id,
            "client_secret": board.secret,
        },
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403 and SESSION_COOKIE not in browser.cookies
    assert (await sign_in(browser, board)).status_code == 303
    page = Page((await browser.get("/board")).text)
    (sign_out,) = [f for f in page.forms if f.get("action") == "/board/sign-out"]
    # the page's own token, from another site's page: refused
    r = await browser.post(
        "/board/sign-out", data=sign_out["inputs"], headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert (await browser.get("/board")).status_code == 200
    # with no session cookie at all (SameSite=Lax drops it cross-site): nothing to change
    async with httpx.AsyncClient(transport=http._transport, base_url="http://coop.test") as other:
        r = await other.post("/board/sign-out", data={})
        assert r.status_code == 303 and "set-cookie" not in r.headers
    assert (await browser.get("/board")).status_code == 200


async def test_signing_in_again_ends_the_old_session(
    browser: httpx.AsyncClient, market: Market
) -> None:
    assert (await sign_in(browser, market.region.admin)).status_code == 303
    old = browser.cookies[SESSION_COOKIE]
    assert (await sign_in(browser, market.buyer)).status_code == 303
    assert browser.cookies[SESSION_COOKIE] != old
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://coop.test") as b:
        b.cookies.set(SESSION_COOKIE, old)
        assert (await b.get("/board")).status_code == 303


async def test_bad_dates_are_explained_not_used(browser: httpx.AsyncClient, market: Market) -> None:
    assert (await sign_in(browser, market.region.admin)).status_code == 303
    for params, words in [
        ({"on": "2026-02-30"}, "must be a day"),
        ({"on": "99999-01-01"}, "must be a day"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "end after it starts"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "ten years"),
        ({"on": "1066-10-14"}, "between 2000 and 2100"),
    ]:
        r = await browser.get("/board", params=params)
        assert r.status_code == 422 and words in r.text, (params, r.status_code)
        assert 'role="alert"' in r.text
    r = await browser.get("/board/csv/income", params={"from": "x"})
    assert r.status_code == 422


async def test_sign_out_needs_the_page_token_and_ends_the_session(
    browser: httpx.AsyncClient, market: Market
) -> None:
    assert (await sign_in(browser, market.region.admin)).status_code == 303
    cookie = browser.cookies[SESSION_COOKIE]
    page = Page((await browser.get("/board")).text)
    (sign_out,) = [f for f in page.forms if f.get("action") == "/board/sign-out"]
    # a forged sign-out (another site's form) does nothing
    r = await browser.post("/board/sign-out", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (await browser.get("/board")).status_code == 200
    r = await browser.post("/board/sign-out", data=sign_out["inputs"])
    assert r.status_code == 303 and r.headers["location"] == "/board/sign-in"
    # the old cookie, replayed, is no session any more
    browser.cookies.set(SESSION_COOKIE, cookie)
    assert (await browser.get("/board")).status_code == 303


async def test_revoking_the_client_ends_its_sessions(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, market: Market
) -> None:
    admin = market.region.admin
    r = await http.post(
        "/clients",
        json={"region": market.region.slug, "scopes": ["reports:read"], "name": "board"},
        headers=admin.h,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    board = Actor(made["client_id"], made["client_secret"], "", None, market.region.slug)
    assert (await sign_in(browser, board)).status_code == 303
    assert (await browser.get("/board")).status_code == 200
    r = await http.delete(f"/clients/{board.client_id}", headers=admin.h)
    assert r.status_code in (200, 204), r.text
    assert (await browser.get("/board")).status_code == 303


async def test_secure_cookie_over_https(http: httpx.AsyncClient, market: Market) -> None:
    async with httpx.AsyncClient(transport=http._transport, base_url="https://coop.test") as b:
        r = await sign_in(b, market.region.admin)
        assert r.status_code == 303
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
        assert "Secure" in cookie
