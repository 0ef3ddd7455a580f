"""The reports' edges a review of issue #7 found wanting, each pinned by a test:
authorisation before validation, a parameter echoed in a header, side-by-side ranges that
add up to the penny, the days a cancelled booking held its bed, half-up rounding; and
sequences of bed and home changes the property test does not generate.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from tests.settlement.support import Market
from tests.support import assert_problem

# -- 1. authorisation before validation --------------------------------------------------------


async def test_series_other_authority_is_403_before_the_range_is_checked(http, coop, clock) -> None:
    """A council's client that may not read another council's series gets the
    range's 422 (``to`` before ``from``; ten years and a day) instead of 403
    ``other_authority``: ``capacity_series`` runs ``check_range`` before ``own_authority``.
    So: in ``coop.reports.capacity.capacity_series``, call ``own_authority(view, authority)``
    before ``check_range(start, end)``."""
    m = await Market.open(http, coop, date(2026, 3, 2))
    other = m.seller.authority
    for span in ("from=2026-03-05&to=2026-03-01", "from=2016-01-01&to=2026-03-01"):
        r = await http.get(f"/reports/capacity/series?{span}&authority={other}", headers=m.buyer.h)
        assert_problem(r, 403, "other_authority")


async def test_a_caller_who_may_not_ask_gets_403_before_a_malformed_parameter(
    http, coop, clock
) -> None:
    """``region=`` of another region, and the SSDA903 export asked by a
    region-level client, are refused in the handler, after the edge has checked the
    parameters' types: a malformed ``step`` or ``on``, or a missing ``to``, answers 422 to a
    caller that may not ask at all. So: two route guards that read only the token and the
    raw query string, so they run before the edge's ``before_request`` check — one comparing
    ``region`` (when sent) with the token's region (403 ``other_region``) on
    ``ReportController``, and ``require_authority`` as a guard on ``ExportController``
    (403 ``authority_required``)."""
    m = await Market.open(http, coop, date(2026, 3, 2))
    other = await Market.open(http, coop, date(2026, 3, 2))
    o = other.region.slug
    for path in (
        f"/reports/capacity?region={o}&on=2026-02-30",
        f"/reports/capacity/series?region={o}&from=2026-03-01&to=2026-04-01&step=day",
        f"/reports/income?region={o}&from=2026-03-01",
    ):
        assert_problem(await http.get(path, headers=m.buyer.h), 403, "other_region")
    r = await http.get("/exports/ssda903?from=2026-03-05", headers=m.region.admin.h)
    assert_problem(r, 403, "authority_required")


async def test_series_authority_is_checked_before_it_is_echoed_in_a_header(
    http, coop, clock
) -> None:
    """``authority=`` of the capacity series is free text for a region-level client:
    it is never checked against the region's authorities, is echoed in the JSON and written
    raw into the CSV's ``Content-Disposition`` filename. A character outside Latin-1 makes the
    CSV answer 500 (the header cannot be encoded); CR LF goes into the header as they are
    (response-header injection; uvicorn then refuses the response); and any unknown slug —
    a typo, another region's council — answers a series of zeros as if it were a council
    with no beds. So: type the parameter as ``coop.schemas.Slug`` and, in
    ``own_authority``/``capacity_series``, refuse an authority that is not one of
    ``region_authorities(view.region)`` (404 ``not_found`` or 422), so the filename is only
    ever built from a known slug."""
    m = await Market.open(http, coop, date(2026, 3, 2))
    csv = {**m.region.admin.h, "Accept": "text/csv"}
    base = "/reports/capacity/series?from=2026-03-01&to=2026-04-01&authority="
    r = await http.get(base + quote("€uro"), headers=csv)
    assert r.status_code < 500, r.text
    r = await http.get(base + quote("x\r\nSet-Cookie: a=1"), headers=csv)
    assert "\n" not in r.headers.get("content-disposition", ""), r.headers
    r = await http.get(base + "no-such-council", headers=m.region.admin.h)
    assert r.status_code in (404, 422), r.text


# -- 2. income: two ranges side by side add up ----------------------------------------------------


async def test_income_of_two_ranges_side_by_side_adds_up_in_an_unsettled_month(
    http, coop, clock
) -> None:
    """docs/reports.md §4: "two ranges side by side add up to the range they
    make". In a month not settled yet, each range prices its own days of the month with
    ``charge(rate, days)`` rounded half-up, so a month cut in two is rounded twice: with a
    weekly rate of 577,504p (≡ 4 mod 7), 1 day is 82,501p, 29 days 2,392,517p, and the 30 days
    together 2,475,017p — one penny less than the two parts. (The same for
    ``cost_avoided_pence`` and the benchmark.)

    Fix (``coop.reports.income.charges_in``): price a window ``[lo, hi)`` of a charged span
    inside month M cumulatively, as ``charge(rate, days of the span in [M, hi)) −
    charge(rate, days of the span in [M, lo))`` (and the benchmark the same way in
    ``Tally.add``/``cost_avoided``): the parts then telescope to the month's line, and a
    whole month is still exactly settlement's line."""
    m = await Market.open(http, coop, date(2026, 3, 2), cost=500_004)
    b = await m.place(0, date(2026, 6, 1))
    assert b["weekly_rate_pence"] == 577_504, b  # 82,500.57p a day

    async def totals(start: str, end: str) -> dict:
        r = await http.get(
            f"/reports/income?region={m.region.slug}&from={start}&to={end}",
            headers=m.region.admin.h,
        )
        assert r.status_code == 200, r.text
        return r.json()["totals"]

    left, right = await totals("2026-03-02", "2026-03-03"), await totals("2026-03-03", "2026-04-01")
    whole = await totals("2026-03-02", "2026-04-01")
    assert whole["bed_days_sold"] == left["bed_days_sold"] + right["bed_days_sold"] == 30
    assert left["income_pence"] + right["income_pence"] == whole["income_pence"], (
        left["income_pence"],
        right["income_pence"],
        whole["income_pence"],
    )
    assert left["cost_avoided_pence"] + right["cost_avoided_pence"] == whole["cost_avoided_pence"]


# -- 3. capacity: a bed held for a child who never came ---------------------------------------


async def test_days_a_cancelled_booking_held_the_bed_stay_reserved(http, coop, clock) -> None:
    """A confirmed booking from 10 March, cancelled on 15 March before the child
    came: on 12 March the capacity report said the bed was ``reserved``. After the cancel the
    same report for 12 March says it was vacant, so a past day's figures change (ADR 0008: "a
    report on a past day reads what was true that day"), and the capacity series disagrees
    with the income report, which charges those 5 days as occupancy ``bed_days_sold`` (the
    bed "was held for the child then", as docs/reports.md §2 says of a late arrival).

    So: treat a ``cancelled`` booking's ``[start_date, min(cancelled_on, end_date))`` — the
    span ``coop.policy.charges.charged_days`` charges as occupancy — as reserved, like a late
    arrival's waiting days: add it to the ``held`` union in ``beds_on`` and to the late-arrival
    query in ``histories`` (``cancelled_on > start_date``), and say so in docs/reports.md §2."""
    m = await Market.open(http, coop, date(2026, 3, 2))
    await m.no_home_window()
    booking = await m.book(0, date(2026, 3, 10), date(2026, 4, 10))
    h = m.region.admin.h
    url = f"/reports/capacity?region={m.region.slug}&on=2026-03-12"
    m.move_to(date(2026, 3, 12))
    assert (await http.get(url, headers=h)).json()["totals"]["reserved"] == 1
    m.move_to(date(2026, 3, 15))
    await m.cancel(booking)
    r = await http.get(
        f"/reports/income?region={m.region.slug}&from=2026-03-01&to=2026-04-01", headers=h
    )
    assert r.json()["totals"]["bed_days_sold"] == 5  # 10-14 March: held, and charged
    assert (await http.get(url, headers=h)).json()["totals"]["reserved"] == 1
    r = await http.get(
        f"/reports/capacity/series?region={m.region.slug}&from=2026-03-10&to=2026-03-15&step=week",
        headers=h,
    )
    assert r.json()["rows"][0]["reserved"] == 5, r.json()


# -- 4. occupancy %: rounded like every other percentage ---------------------------------------


async def test_occupancy_pct_rounds_half_up_like_the_fill_rate(http, coop, clock) -> None:
    """1 occupied bed of 16 operational is 6.25 %: the capacity report says 6.2
    (``round()`` on a float: half to even), while the demand report's fill rate of the same
    ratio is 6.3 (half-up, ``round_half_up_div``). So: ``coop.policy.capacity.occupancy_pct``
    as ``round_half_up_div(occupied * 1000, operational) / 10`` (integers, half-up), and
    docs/reports.md §2 "to one decimal place, rounded half-up"."""
    m = await Market.open(http, coop, date(2026, 3, 2), beds=16)
    await m.place(0, date(2026, 6, 1))
    r = await http.get(
        f"/reports/capacity?region={m.region.slug}&on=2026-03-02", headers=m.region.admin.h
    )
    totals = r.json()["totals"]
    assert (totals["occupied_sold"], totals["operational"]) == (1, 16)
    assert totals["occupancy_pct"] == 6.3, totals
