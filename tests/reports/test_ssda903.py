"""``GET /exports/ssda903``: a council's placements through the cooperative as SSDA903
Episodes rows — their cells for a known history, the DfE's own validator run on them, who
may read them, and CSV injection.

Homes carry real postcodes (the DfE validator looks each one up in the ONS postcode
directory it ships) and Ofsted-style URNs (``SC`` and six digits).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx

from coop.http import csv_cell
from coop.reports.ssda903 import EPISODE_COLUMNS
from tests.settlement.support import Market
from tests.support import Actor, assert_problem, child

#: real postcodes, each in the validator's postcode directory, and their county (UTLA)
CAMBRIDGE = "CB2 0QQ"  # Addenbrooke's Hospital: Cambridge, Cambridgeshire (E10000003)
NORWICH = "NR1 3QU"  # Norwich, Norfolk (E10000020)
IPSWICH = "IP1 3QH"  # Ipswich, Suffolk (E10000029)
CAMBRIDGESHIRE = "E10000003"

PLANNED_END = date(2026, 12, 1)

_urns = itertools.count(random.SystemRandom().randrange(100_000, 900_000))


def ofsted_urn() -> str:
    """An Ofsted children's home URN: ``SC`` and six digits (unique in this session)."""
    return f"SC{next(_urns) % 1_000_000:06d}"


async def home(m: Market, owner: Actor, postcode: str | None, beds: int = 4) -> dict[str, Any]:
    overrides: dict[str, Any] = {"postcode": postcode} if postcode else {}
    return await m.region.home(
        owner,
        name=f"Home {postcode or 'without postcode'}",
        ofsted_urn=ofsted_urn(),
        beds=[{"label": f"B{i}"} for i in range(beds)],
        **overrides,
    )


async def go(m: Market, day: date) -> None:
    """Move the clock to ``day`` (fresh tokens: they live 90 days of the clock)."""
    m.move_to(day)
    await m.relog()


async def export(http: httpx.AsyncClient, actor: Actor, start: date, end: date) -> httpx.Response:
    return await http.get(f"/exports/ssda903?from={start}&to={end}", headers=actor.h)


def table(r: httpx.Response) -> list[list[str]]:
    """The CSV's rows, header first."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv"), r.headers["content-type"]
    return list(csv.reader(io.StringIO(r.text)))


def episode(
    child: str,
    decom: str,
    provider: str,
    home_: dict[str, Any],
    dec: str = "",
    rec: str = "",
    reason: str = "",
) -> list[str]:
    """An expected row, written out cell by cell in :data:`EPISODE_COLUMNS`' order."""
    return [
        child,  # CHILD
        decom,  # DECOM
        "",  # RNE
        "",  # LS
        "",  # CIN
        "K2",  # PLACE
        provider,  # PLACE_PROVIDER
        dec,  # DEC
        rec,  # REC
        reason,  # REASON_PLACE_CHANGE
        "",  # HOME_POST
        home_["postcode"] or "",  # PL_POST
        home_["ofsted_urn"],  # URN
    ]


# -- 1. the cells of a known history ---------------------------------------------------------


async def test_episodes_of_a_known_history(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 4, 1))
    me, norfolk = m.buyer, m.seller  # the caller; another council with homes
    other = await m.region.authority("other")  # a third council, placing too
    mine = await home(m, me, CAMBRIDGE)  # the caller's own home
    theirs = await home(m, norfolk, NORWICH, beds=5)  # another council's home
    no_postcode = m.home  # another council's home, no postcode recorded

    def place(bed: int, ref: str, where: dict[str, Any], *, arrive: bool = True, by=me):
        seller = me if where is mine else norfolk
        return m.place(
            bed, PLANNED_END, buyer=by, seller=seller, home=where, ref=ref, arrive=arrive
        )

    # 1 April: six of the caller's children arrive and a seventh's booking is only confirmed;
    # two of another council's arrive — one in the caller's own home, under a ref the caller
    # also uses
    moved = await place(0, "LAC-101", theirs)
    before = await place(1, "LAC-100", theirs)
    edge = await place(2, "LAC-102", theirs)
    later = await place(3, "LAC-103", theirs)
    await place(0, "LAC-104", mine)
    await place(0, "LAC-105", no_postcode)
    await place(1, "LAC-107", no_postcode, arrive=False)  # confirmed, never arrived
    await place(2, "LAC-101", mine, by=other)
    await place(4, "THEIRS-1", theirs, by=other)

    await go(m, date(2026, 4, 10))
    await m.end(before, date(2026, 4, 10))  # left before the range: not in it
    await go(m, date(2026, 5, 1))
    await m.end(edge, date(2026, 5, 1))  # left on the range's first day: in it, ceased
    await go(m, date(2026, 5, 11))
    await m.end(moved, date(2026, 5, 11))  # left the other council's home...
    await place(1, "LAC-101", mine)  # ...and came to the caller's own, the same day
    await go(m, date(2026, 5, 20))
    same_day = await place(3, "LAC-108", mine)
    await m.end(same_day, date(2026, 5, 20))  # arrived and left the same day: no night
    await go(m, date(2026, 7, 1))
    await place(2, "LAC-106", no_postcode)  # arrived on `to`: not in the range
    await go(m, date(2026, 7, 15))
    await m.end(later, date(2026, 7, 15))  # left after the range: open at its end

    r = await export(http, me, date(2026, 5, 1), date(2026, 7, 1))
    rows = table(r)
    assert rows[0] == EPISODE_COLUMNS
    assert rows[1:] == [
        # the same child twice, by arrival: left the other council's home for the
        # caller's own the same day, so the first episode ceases with X1 (a new one begins)
        episode("LAC-101", "01/04/2026", "PR2", theirs, "11/05/2026", "X1", "OTHER"),
        episode("LAC-101", "11/05/2026", "PR1", mine),
        episode("LAC-102", "01/04/2026", "PR2", theirs, "01/05/2026", "E8", "OTHER"),
        episode("LAC-103", "01/04/2026", "PR2", theirs),
        episode("LAC-104", "01/04/2026", "PR1", mine),
        episode("LAC-105", "01/04/2026", "PR2", no_postcode),
    ]
    assert no_postcode["postcode"] is None and rows[-1][11] == ""
    me_slug = me.authority
    assert r.headers["content-disposition"] == (
        f'attachment; filename="ssda903-episodes-{me_slug}-2026-05-01-2026-07-01.csv"'
    )

    # a later range: LAC-103 ceased in it now; the others still open, LAC-106 arrived
    rows = table(await export(http, me, date(2026, 7, 1), date(2026, 8, 1)))
    assert [(c[0], c[1], c[7], c[8], c[9]) for c in rows[1:]] == [
        ("LAC-101", "11/05/2026", "", "", ""),
        ("LAC-103", "01/04/2026", "15/07/2026", "E8", "OTHER"),
        ("LAC-104", "01/04/2026", "", "", ""),
        ("LAC-105", "01/04/2026", "", "", ""),
        ("LAC-106", "01/07/2026", "", "", ""),
    ]


# -- 2. the DfE's validator ------------------------------------------------------------------

#: the 2026/27 return (1 April 2026 – 31 March 2027), the newest ruleset of
#: csc-validator-be-903 0.1.17; the validator names a year by its last (``"2027"``)
COLLECTION_YEAR = "2027"

#: the Episodes fields the cooperative fills
PLACEMENT_FIELDS = {
    "PLACE",
    "PLACE_PROVIDER",
    "URN",
    "PL_POST",
    "DECOM",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
}
#: the fields the export leaves blank, for the council's case system
COUNCIL_FIELDS = ("RNE", "LS", "CIN", "HOME_POST")

#: rules that must have run on the file (not skipped for a table or lookup it lacks)
MUST_RUN = {
    "146",  # PLACE is a valid code
    "178",  # PLACE_PROVIDER is a valid code
    "149",  # REC is a valid code
    "1009",  # REASON_PLACE_CHANGE is a valid code
    "148",  # DEC and REC both or neither
    "388",  # X1 only with a continuation episode; a same-day continuation needs X1
    "225",  # REASON_PLACE_CHANGE recorded on a placement change
    "218",  # URN required for K2
    "1008",  # URN known to Ofsted
    "219",  # URN's placement type matches PLACE
    "221",  # URN's postcode matches PL_POST
    "224",  # URN's provider codes include PLACE_PROVIDER
    "229",  # PR1 at a home in the placing council's area, PR2 elsewhere
    "392c",  # postcodes are real
    "392b",  # postcodes recorded
}
#: rules of the package that cannot run at all (``rule_233`` reads a column,
#: ``DATE_EPISODE_CEASED``, no table has): its check is made below by hand
BROKEN = {"233"}


@contextmanager
def validator_side_effects() -> Iterator[None]:
    """The validator calls ``logging.basicConfig(level=INFO)`` on import and sets
    ``QLACREF_*`` variables: put the root logger and the environment back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    env = {k: v for k, v in os.environ.items() if k.startswith("QLACREF")}
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        for key in [k for k in os.environ if k.startswith("QLACREF")]:
            if key not in env:
                del os.environ[key]
        os.environ.update(env)


def ofsted_list(homes: list[dict[str, Any]]) -> Any:
    """What Ofsted's children's homes list says of the test's homes, as the validator's
    ingress (``construct_provider_info_table``) makes it: placement type ``K2``, provider
    codes ``PR1/PR2`` (a council's home), still registered, at its postcode, in the county
    the ONS directory puts that postcode in."""
    import pandas as pd
    from lac_validator.datastore import la_df, merge_postcodes

    df = pd.DataFrame(
        {
            "URN": [h["ofsted_urn"] for h in homes],
            "LA_NAME_FROM_FILE": [h["owner"] for h in homes],
            "PLACE_CODES": "K2",
            "PROVIDER_CODES": "PR1,PR2",
            "REG_END": pd.NaT,
            "POSTCODE": [h["postcode"].replace(" ", "").upper() for h in homes],
        }
    )
    df[["LA_CODE_INFERRED", "LA_NAME_INFERRED"]] = (
        merge_postcodes(df, "POSTCODE")
        .merge(la_df, how="left", left_on="laua", right_on="LTLA21CD")
        .loc[:, ["UTLA21CD", "UTLA21NM"]]
    )
    return df


def completed_by_the_council(rows: list[list[str]]) -> str:
    """The export as the council returns it: its case system fills the four columns the
    cooperative leaves blank (a child's first episode starts care, ``S``; the next one is a
    placement change, ``P``; a full care order; abuse or neglect; the child's home postcode
    in Cambridge). The placement's own columns are untouched."""
    header, body = rows[0], rows[1:]
    at = {name: header.index(name) for name in COUNCIL_FIELDS}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    seen: set[str] = set()
    for row in body:
        assert all(row[i] == "" for i in at.values()), row
        filled = list(row)
        filled[at["RNE"]] = "P" if row[0] in seen else "S"
        filled[at["LS"]] = "C2"
        filled[at["CIN"]] = "N1"
        filled[at["HOME_POST"]] = "CB2 1TN"
        seen.add(row[0])
        writer.writerow(filled)
    return out.getvalue()


HEADER = (
    "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\r\n"
    "V-1,F,14/02/2013,WBRI,A873202612001,0,\r\n"
    "V-2,M,03/09/2012,WBRI,A873202612002,,\r\n"
    "V-3,F,21/11/2011,WBRI,A873202612003,0,\r\n"
)
"""The council's Header table for the three test children (made up: 12–14 years old)."""


async def test_dfe_validator_accepts_the_placement_fields(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 4, 6))
    me, norfolk = m.buyer, m.seller
    suffolk = await m.region.authority("suffolk")
    mine = await home(m, me, CAMBRIDGE)
    at_norfolk = await home(m, norfolk, NORWICH)
    at_suffolk = await home(m, suffolk, IPSWICH)

    await m.place(0, PLANNED_END, buyer=me, seller=me, home=mine, ref="V-1")
    v2 = await m.place(0, PLANNED_END, buyer=me, seller=norfolk, home=at_norfolk, ref="V-2")
    v3 = await m.place(0, PLANNED_END, buyer=me, seller=suffolk, home=at_suffolk, ref="V-3")
    await go(m, date(2026, 5, 20))
    await m.end(v2, date(2026, 5, 20))  # left: where to, the cooperative does not know
    await go(m, date(2026, 6, 15))
    await m.end(v3, date(2026, 6, 15))  # moved to the caller's own home the same day
    await m.place(1, PLANNED_END, buyer=me, seller=me, home=mine, ref="V-3")

    rows = table(await export(http, me, date(2026, 4, 1), date(2027, 4, 1)))
    assert rows[1:] == [
        episode("V-1", "06/04/2026", "PR1", mine),
        episode("V-2", "06/04/2026", "PR2", at_norfolk, "20/05/2026", "E8", "OTHER"),
        episode("V-3", "06/04/2026", "PR2", at_suffolk, "15/06/2026", "X1", "OTHER"),
        episode("V-3", "15/06/2026", "PR1", mine),
    ]

    with validator_side_effects():
        from lac_validator.lac_validator import LacValidator
        from lac_validator.rules.ruleset_utils import get_year_ruleset

        registry = get_year_ruleset(COLLECTION_YEAR)
        files = [
            {
                "name": "episodes.csv",
                "description": "This year",
                "file_content": completed_by_the_council(rows).encode(),
            },
            {"name": "header.csv", "description": "This year", "file_content": HEADER.encode()},
        ]
        v = LacValidator(
            metadata={
                "collectionYear": COLLECTION_YEAR,
                # the caller plays Cambridgeshire: its own home is in Cambridge
                "localAuthority": CAMBRIDGESHIRE,
                "provider_info": ofsted_list([mine, at_norfolk, at_suffolk]),
            },
            files=files,
            registry=registry,
        )

    # the file was read as the Episodes table: its columns are exactly the DfE's
    assert list(v.dfs["Episodes"].columns) == EPISODE_COLUMNS
    placement_rules = {
        code
        for code, rule in registry.items()
        if PLACEMENT_FIELDS & set(rule.affected_fields or ())
    }
    assert placement_rules >= MUST_RUN, MUST_RUN - placement_rules
    assert set(v.dones) >= MUST_RUN, MUST_RUN - set(v.dones)
    assert placement_rules & set(v.fails) <= BROKEN, placement_rules & set(v.fails)
    failed = {
        (name, column[4:], tuple(df.index[df[column].eq(True)]))
        for name, df in v.ds_results.items()
        if name != "metadata"
        for column in df.columns
        if column.startswith("ERR_") and column[4:] in placement_rules and df[column].eq(True).any()
    }
    assert not failed, [(name, code, registry[code].message) for name, code, _ in failed]
    # rule 233 by hand: a reason for the placement change only on an episode that ceased
    for row in rows[1:]:
        assert bool(row[9]) == bool(row[7]), row


# -- 3. who may read it ----------------------------------------------------------------------


async def test_tenancy_scope_and_range(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 4, 1))
    me, owner = m.buyer, m.seller
    other = await m.region.authority("other")
    mine = await home(m, me, CAMBRIDGE)
    await m.place(0, PLANNED_END, buyer=me, ref="MINE-1")  # in the other council's home
    await m.place(1, PLANNED_END, buyer=other, ref="THEIRS-1")  # the same home
    await m.place(0, PLANNED_END, buyer=other, seller=me, home=mine, ref="THEIRS-2")  # mine
    start, end = date(2026, 4, 1), date(2026, 5, 1)

    assert [r[0] for r in table(await export(http, me, start, end))[1:]] == ["MINE-1"]
    assert [r[0] for r in table(await export(http, other, start, end))[1:]] == [
        "THEIRS-1",
        "THEIRS-2",
    ]
    # the owner of both homes placed no child: its export is the header alone
    assert table(await export(http, owner, start, end)) == [EPISODE_COLUMNS]

    # a region-level client, even with reports:read, is no authority — and is told so before
    # anything about what it asked (authorisation comes first)
    assert_problem(await export(http, m.region.admin, start, end), 403, "authority_required")
    assert_problem(await export(http, m.region.admin, start, start), 403, "authority_required")
    # an authority's client without reports:read
    reader = await m.region.client(me.authority, ["market:read"])
    assert_problem(await export(http, reader, start, end), 403, "insufficient_scope")
    # `to` must be after `from`
    for bad_end in (start, date(2026, 3, 1)):
        body = assert_problem(await export(http, me, start, bad_end), 422, "validation_error")
        assert body["errors"][0]["field"] == "to", body


# -- 4. CSV injection ------------------------------------------------------------------------


async def test_a_formula_child_ref_comes_out_quoted(http, coop, clock) -> None:
    m = await Market.open(http, coop, date(2026, 4, 1))
    refs = ['=HYPERLINK("http://x.test","go")', "@SUM(1+1)", "+44", "-1"]
    for bed, ref in enumerate(refs):
        await m.place(bed, PLANNED_END, ref=ref)
    rows = table(await export(http, m.buyer, date(2026, 4, 1), date(2026, 5, 1)))
    children = sorted(r[0] for r in rows[1:])
    assert children == sorted(csv_cell(ref) for ref in refs)
    assert all(c.startswith("'") for c in children), children
    assert '\'=HYPERLINK("http://x.test","go")' in children


async def test_an_imported_placement_is_not_an_episode_of_the_cooperative(
    http, coop, clock
) -> None:
    """A placement recorded with POST /bookings/import existed before the cooperative and is
    in the council's case system already: the export leaves it out."""
    m = await Market.open(http, coop, date(2026, 4, 10))
    me = m.buyer
    await m.place(0, PLANNED_END, buyer=me, ref="THROUGH-COOP")
    r = await http.post(
        "/bookings/import",
        json=[
            {
                "requester": me.authority,
                "bed_id": m.home["beds"][1]["id"],
                "child": child(ref="IMPORTED"),
                "start_date": "2026-04-01",
                "end_date": "2026-10-01",
                "weekly_rate_pence": 700_000,
                "status": "active",
            }
        ],
        headers=m.region.admin.h,
    )
    assert r.status_code == 201, r.text
    rows = table(await export(http, me, date(2026, 4, 1), date(2026, 5, 1)))
    assert [r[0] for r in rows[1:]] == ["THROUGH-COOP"]
