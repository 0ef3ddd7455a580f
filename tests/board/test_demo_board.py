"""The board page of `coop demo` (the real command, the `demo_server` fixture), read with
plain HTTP: every one of the eleven authorities has non-zero figures on it, and the page
equals the API. (The browser test reads the same page in Chromium; this one runs wherever
Chromium cannot be installed.)"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from coop.clock import local_date
from coop.demo_data import AUTHORITIES
from tests.board.support import Page, api_figures
from tests.demo_server import DemoServer

#: starts its own embedded servers whatever COOP_TEST_* say: .ci/run runs it on one path
pytestmark = pytest.mark.own_servers

SLUGS = sorted(a.slug for a in AUTHORITIES)


def test_the_demo_board_shows_every_authority(demo_server: DemoServer) -> None:
    board = demo_server.clients["board"]
    with httpx.Client(base_url=demo_server.base_url, timeout=60) as b:
        form = Page(b.get("/board/sign-in").text).forms[0]["inputs"]
        r = b.post(
            "/board/sign-in",
            data={
                "csrf_token": form["csrf_token"],
                "client_id": board["client_id"],
                "client_secret": board["client_secret"],
            },
        )
        assert r.status_code == 303, r.text
        r = b.get("/board")
        assert r.status_code == 200, r.text
        page = Page(r.text)
        _the_page_is_the_apis(demo_server, b, page)
    assert len(SLUGS) == 11
    for slug in SLUGS:
        f = page.figures
        assert int(f[f"capacity.{slug}.registered"]) > 0, slug
        assert int(f[f"capacity.{slug}.occupied_own"]) + int(f[f"capacity.{slug}.occupied_sold"]), (
            slug
        )
        assert int(f[f"income.{slug}.income_pence"]) + int(f[f"income.{slug}.spend_pence"]) > 0, (
            slug
        )
        assert int(f[f"income.{slug}.bed_days_sold"]) + int(f[f"income.{slug}.bed_days_bought"]), (
            slug
        )
    assert int(page.figures["headline.unmet"]) > 0
    assert int(page.figures["demand.totals.requests"]) > 0


def _the_page_is_the_apis(demo_server: DemoServer, b: httpx.Client, page: Page) -> None:
    base = demo_server.base_url
    token = demo_server.token("board")
    # The demo serves on the real clock with its worker running, so a figure can move between
    # the page and the API (a pending request decided meanwhile): read both again until the
    # API gives the same answer before and after the page.
    expected = api_figures(base, token, local_date(datetime.now(UTC)))
    for _attempt in range(3):
        again = api_figures(base, token, local_date(datetime.now(UTC)))
        if again == expected and {k: page.figures.get(k) for k in expected} == expected:
            break
        expected = again
        page = Page(b.get("/board").text)
    assert {k: page.figures.get(k) for k in expected} == expected
