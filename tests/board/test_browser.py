"""The board in a real browser: Debian's headless Chromium, driven by Playwright.

On the demo region (``coop demo --seed 1``, a known dataset) a board member signs in, the page's
figures are read off the page and compared with the API's, axe-core checks the pages for
WCAG 2.2 A/AA violations, the page is printed to an A4 PDF, and screenshots (laptop and
phone) are saved under ``test-output/board/`` (``COOP_TEST_OUTPUT`` moves it).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from coop.board.figures import add_months, pounds, whole_pounds
from coop.clock import local_date
from tests.board.browser import CHROMIUM_ARGS, OUTPUT, axe_source, chromium
from tests.board.support import api_figures

#: starts its own embedded servers (the demo) whatever COOP_TEST_* say: .ci/run runs it on
#: one path
pytestmark = [pytest.mark.slow, pytest.mark.own_servers]

#: axe-core rule sets: WCAG 2.0, 2.1 and 2.2, levels A and AA
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe(page: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page (every impact), WCAG 2.2 A and AA rules."""
    page.add_script_tag(content=source)
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        AXE_TAGS,
    )
    return result["violations"]


def serious(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_board_in_chromium(demo_server: Any) -> None:
    executable = chromium()
    source = axe_source()
    from playwright.sync_api import sync_playwright

    out = OUTPUT / "board"
    out.mkdir(parents=True, exist_ok=True)
    base = demo_server.base_url
    board = demo_server.clients["board"]
    client_id, secret = board["client_id"], board["client_secret"]
    today = local_date(datetime.now(UTC))
    expected = api_figures(base, demo_server.token("board"), today)
    report: dict[str, Any] = {}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        # bypass_csp: the page allows no script; the test injects axe-core all the same
        laptop = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True
        )
        page = laptop.new_page()
        page.goto(f"{base}/board")
        assert page.url.endswith("/board/sign-in")
        page.screenshot(path=out / "sign-in.png", full_page=True)
        report["sign-in"] = axe(page, source)

        page.get_by_label("Client id").fill(client_id)
        page.get_by_label("Client secret").fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/board")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Board report")
        assert secret not in page.content()

        # the figures on the page are the API's. The demo serves on the real clock with its
        # worker running, so a figure can move while the page is read (a pending request
        # decided meanwhile): the API is read before and after the page, and the page is
        # read again until the two agree.
        for _attempt in range(3):
            shown = page.eval_on_selector_all(
                "[data-figure]",
                "els => els.map(e => [e.dataset.figure, e.dataset.value, e.innerText.trim()])",
            )
            after = api_figures(base, demo_server.token("board"), today)
            if after == expected:
                break
            expected = after
            page.reload()
        on_page = {key: value for key, value, _text in shown}
        missing = sorted(set(expected) - set(on_page))
        assert not missing, missing
        assert {k: on_page[k] for k in expected} == expected
        for key, value, text in shown:
            if key.endswith("_pence") and value:
                shows = whole_pounds if key.startswith("headline.") else pounds
                assert text == shows(int(value)), (key, value, text)
        # every one of the region's authorities is on the board with beds
        authorities = [
            k.split(".")[1]
            for k in on_page
            if k.startswith("capacity.") and k.endswith(".registered")
        ]
        rows = [a for a in authorities if a != "totals"]
        assert len(set(rows)) == 11 and all(
            int(on_page[f"capacity.{a}.registered"]) > 0 for a in rows
        )
        # a text alternative for every chart
        alts = page.eval_on_selector_all("img", "els => els.map(e => e.alt)")
        assert len(alts) == 4 and all(len(a) > 40 for a in alts)

        page.screenshot(path=out / "board-laptop.png", full_page=True)
        page.screenshot(path=out / "board-top.png")
        report["board"] = axe(page, source)

        # printed into the board pack: A4, no navigation, a section a page
        page.emulate_media(media="print")
        assert not page.get_by_role("button", name="Sign out").is_visible()
        assert not page.locator("form.pickers").is_visible()
        page.pdf(path=out / "board.pdf", format="A4", print_background=True)
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi, to look at
        page.screenshot(path=out / "board-print.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.emulate_media(media="screen")

        # a phone: no sideways scrolling of the page itself
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            locale="en-GB",
            bypass_csp=True,
        )
        phone.add_cookies(laptop.cookies())
        small = phone.new_page()
        small.goto(f"{base}/board")
        assert small.url == f"{base}/board"
        overflow = small.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, overflow
        small.screenshot(path=out / "board-phone.png", full_page=True)
        report["phone"] = axe(small, source)

        # the pickers: another day, and a CSV link that answers CSV
        page.get_by_label("Capacity on").fill(add_months(today, -3).isoformat())
        page.get_by_role("button", name="Show").click()
        page.wait_for_load_state()
        assert f"on={add_months(today, -3).isoformat()}" in page.url
        link = page.locator("a.csv").first.get_attribute("href")
        assert link and link.startswith("/board/csv/")
        r = page.request.get(f"{base}{link}")
        assert r.status == 200 and r.headers["content-type"].startswith("text/csv")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base}/board/sign-in")
        page.goto(f"{base}/board")
        assert page.url.endswith("/board/sign-in")
        browser.close()

    (out / "axe.json").write_text(json.dumps(report, indent=2))
    problems = {name: serious(v) for name, v in report.items() if serious(v)}
    assert not problems, json.dumps(problems, indent=2)
    # A4 pages, a section a page: headline, capacity, occupancy, income, demand
    pdf = (out / "board.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = re.findall(rb"/Type\s*/Page(?![s\w])", pdf)
    boxes = {
        tuple(round(float(x)) for x in box.split())
        for box in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)
    }
    assert len(pages) >= 5, len(pages)
    assert boxes == {(0, 0, 596, 843)}, boxes  # A4: 210 x 297 mm in points
    print(f"\nbrowser test: screenshots and PDF in {out}")
