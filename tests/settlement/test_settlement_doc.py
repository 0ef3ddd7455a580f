"""Every figure of ``docs/settlement.md`` is what the service answers.

The test builds the page's worked example through the HTTP API — Suffolk's home, Norfolk's
two placements, an early end with notice, an end recorded late, three monthly runs, a payment —
and renders the API's answers in the page's own table formats. Each table of the page sits
under a ``<!-- figures:NAME -->`` marker; the page's tables and the rendered ones must be equal,
cell for cell, and every marked table must be one the test renders (and the other way round).
Editing a figure in the page breaks this test; so does a change of the service that changes one.

The page's names stand for the test's: ``suffolk`` and ``norfolk`` for the random authority
slugs, and ``EOE`` (``east-of-england``) for the random region's invoice prefix. The netting
illustration (three councils, one of them ``essex``) is checked against the netting functions
a run uses, with the page's names as they are.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coop.cli import build_parser
from coop.clock import local_date
from coop.db.schema import journal_entries, postings
from coop.policy.charges import Terms, lines_through
from coop.policy.document import PolicyDocument
from coop.policy.money import charge
from coop.policy.netting import net_positions, settle
from coop.settlement.jobs import BUSY_RETRY
from coop.settlement.runs import JOB, MAX_ATTEMPTS, MAX_STARTS, region_prefix
from coop.worker import CRON_JOBS, FUNCTIONS
from tests.settlement.support import Market, assert_ledger_balanced, facts, snapshot

DOC = Path(__file__).resolve().parents[2] / "docs" / "settlement.md"
MARKER = re.compile(r"<!-- figures:([a-z0-9:-]+) -->\n((?:[ \t]*\|.*\n?)+)")

#: Suffolk's weekly cost of the home: +5 % margin, +10 % for a same-day placement = £5,800.00
COST = 502_165
DOC_REGION = "east-of-england"


# -- reading the page ------------------------------------------------------------------------


def cells(line: str) -> list[str]:
    return [c.replace("`", "").strip() for c in line.strip().strip("|").split("|")]


def page_tables(text: str) -> dict[str, list[list[str]]]:
    """Every marked table: its header row and its body rows, cell by cell (no separator)."""
    out: dict[str, list[list[str]]] = {}
    for match in MARKER.finditer(text):
        name, block = match[1], match[2]
        rows = [cells(line) for line in block.strip().splitlines()]
        assert name not in out, f"two tables are marked {name}"
        assert len(rows) >= 2 and set("".join(rows[1])) <= set("-: "), f"{name}: not a table"
        out[name] = [rows[0], *rows[2:]]
    return out


# -- writing figures as the page does ---------------------------------------------------------


def p(n: int) -> str:
    """Pence: ``-497,143``."""
    return f"{n:,}"


def gbp(n: int) -> str:
    """Pounds, from integer pence: ``-4,971.43``."""
    sign = "-" if n < 0 else ""
    return f"{sign}{abs(n) // 100:,}.{abs(n) % 100:02d}"


def exact(numerator: int, denominator: int) -> str:
    """A fraction to three places (the page shows W × d ÷ 7 before rounding)."""
    q = Fraction(numerator, denominator)
    whole, rest = divmod(q.numerator * 1000, q.denominator)
    thousandths = whole + (1 if 2 * rest >= q.denominator else 0)
    return f"{thousandths // 1000:,}.{thousandths % 1000:03d}"


class Names:
    """The test's slugs and invoice prefix, as the page names them."""

    def __init__(self, m: Market) -> None:
        self.slugs = {m.seller.authority: "suffolk", m.buyer.authority: "norfolk"}
        self.prefix = region_prefix(m.region.slug)

    def __call__(self, value: str) -> str:
        if value in self.slugs:
            return self.slugs[value]
        if value.startswith(self.prefix + "-"):
            return region_prefix(DOC_REGION) + value[len(self.prefix) :]
        return value


# -- the worked example, through the API ---------------------------------------------------------


async def statement(m: Market, who: Any, start: date, end: date) -> dict[str, Any]:
    r = await m.http.get(
        f"/authorities/{who.authority}/statement?from={start}&to={end}", headers=who.h
    )
    assert r.status_code == 200, r.text
    return r.json()


async def run_tables(m: Market, run: dict[str, Any], key: str, name: Names) -> dict[str, Any]:
    h = m.region.admin.h
    [invoice] = await m.invoices(run)
    lines = sorted(invoice["lines"], key=lambda x: (x["from"], x["child_ref"], x["kind"]))
    positions = (await m.http.get(f"/settlement-runs/{run['id']}/positions", headers=h)).json()
    transfers = (await m.http.get(f"/settlement-runs/{run['id']}/transfers", headers=h)).json()
    assert run["status"] == "completed"
    assert (run["invoice_count"], run["line_count"], run["total_pence"]) == (
        1,
        len(lines),
        invoice["total_pence"],
    )
    assert sum(x["amount_pence"] for x in lines) == invoice["total_pence"]
    return {
        f"{key}:raw": lines,
        f"{key}:lines": [
            [
                "child",
                "kind",
                "charge kind",
                "from",
                "to",
                "days",
                "weekly rate (p)",
                "amount (p)",
                "amount (£)",
            ],
            *[
                [
                    x["child_ref"],
                    x["kind"],
                    x["charge_kind"],
                    x["from"],
                    x["to"],
                    str(x["days"]),
                    p(x["weekly_rate_pence"]),
                    p(x["amount_pence"]),
                    gbp(x["amount_pence"]),
                ]
                for x in lines
            ],
        ],
        f"{key}:invoice": [
            ["number", "issued on", "seller", "buyer", "lines", "total (p)", "total (£)"],
            [
                name(invoice["number"]),
                invoice["issued_on"],
                name(invoice["seller"]),
                name(invoice["buyer"]),
                str(len(lines)),
                p(invoice["total_pence"]),
                gbp(invoice["total_pence"]),
            ],
        ],
        f"{key}:positions": [
            ["authority", "receivable (p)", "payable (p)", "net (p)"],
            *sorted(
                [
                    name(x["authority"]),
                    p(x["receivable_pence"]),
                    p(x["payable_pence"]),
                    p(x["net_pence"]),
                ]
                for x in positions
            ),
        ],
        f"{key}:transfers": [
            ["from", "to", "amount (p)"],
            *[[name(t["from"]), name(t["to"]), p(t["amount_pence"])] for t in transfers],
        ],
    }


def statement_table(st: dict[str, Any], name: Names) -> list[list[str]]:
    return [
        ["date", "kind", "reference", "amount (p)", "balance (p)"],
        [st["from"], "opening_balance", "", "", p(st["opening_pence"])],
        *[
            [
                x["date"],
                x["kind"],
                name(x["reference"]),
                p(x["amount_pence"]),
                p(x["balance_pence"]),
            ]
            for x in st["lines"]
        ],
        [st["to"], "closing_balance", "", "", p(st["closing_pence"])],
    ]


async def worked_example(http: Any, coop: Any) -> dict[str, list[list[str]]]:
    m = await Market.open(http, coop, date(2026, 1, 12), cost=COST)
    assert len(m.home["beds"]) == 4  # "Suffolk owns a four-bed children's home"
    name = Names(m)
    out: dict[str, list[list[str]]] = {}

    # Norfolk places two children in Suffolk's home, each arriving the day it is placed
    a = await m.place(0, date(2026, 5, 1), ref="NFK-0042")
    m.move_to(date(2026, 1, 19))
    b = await m.place(1, date(2026, 5, 1), ref="NFK-0057")
    steps = a["price_breakdown"]
    assert b["price_breakdown"] == steps
    out["rate"] = [
        ["step", "pence", "£"],
        *[
            [label, p(steps[key]), gbp(steps[key])]
            for label, key in (
                ("Suffolk's weekly cost of the home", "weekly_cost_pence"),
                ("+ 5 % margin", "cost_plus_margin_pence"),
                ("ceiling for a home of three or more beds", "ceiling_pence"),
                ("+ 10 % emergency premium: the weekly rate", "weekly_rate_pence"),
            )
        ],
    ]
    assert (steps["margin_bp"], steps["emergency_premium_bp"], steps["capped"]) == (
        500,
        1000,
        False,
    )

    # January, settled on 2 February
    m.move_to(date(2026, 2, 2))
    run1 = await m.settle("2026-01")
    out |= await run_tables(m, run1, "run-1", name)
    [jan] = await m.invoices(run1)
    assert jan["issued_on"] == "2026-02-02"

    # NFK-0042: notice given on 13 February, the child leaves on 20 February
    m.move_to(date(2026, 2, 20))
    a = await m.end(a, date(2026, 2, 20), notice=date(2026, 2, 13))

    # February, settled on 2 March
    m.move_to(date(2026, 3, 2))
    out |= await run_tables(m, await m.settle("2026-02"), "run-2", name)

    # Norfolk pays January's invoice on 5 March
    m.move_to(date(2026, 3, 5))
    body = {
        "from": m.buyer.authority,
        "to": m.seller.authority,
        "amount_pence": jan["total_pence"],
        "paid_on": "2026-03-05",
        "reference": "NCC-BACS-30517",
    }
    r = await http.post("/payments", json=body, headers=m.region.admin.h)
    assert r.status_code == 201, r.text
    pay = r.json()
    out["payment"] = [
        ["paid on", "from", "to", "amount (p)", "amount (£)", "reference", "pays"],
        [
            pay["paid_on"],
            name(pay["from"]),
            name(pay["to"]),
            p(pay["amount_pence"]),
            gbp(pay["amount_pence"]),
            pay["reference"],
            name(jan["number"]),
        ],
    ]

    # NFK-0057 left on 23 February (notice given on 26 January); recorded only on 9 March
    m.move_to(date(2026, 3, 9))
    b = await m.end(b, date(2026, 2, 23), notice=date(2026, 1, 26))

    # March, settled on 2 April
    m.move_to(date(2026, 4, 2))
    out |= await run_tables(m, await m.settle("2026-03"), "run-3", name)
    # asking again for March returns the run and posts nothing
    before = await snapshot(coop)
    again = await m.settle("2026-03", expect=200)
    assert again["line_count"] == int(out["run-3:invoice"][1][4])
    assert await snapshot(coop) == before

    # the correction: February's occupancy of NFK-0057, due now, posted, and the difference
    feb = date(2026, 2, 1)
    [due] = [
        x
        for x in lines_through(facts(b), Terms(), date(2026, 3, 1))
        if x.kind == "occupancy" and x.month == feb
    ]
    [posted] = [
        x for x in out["run-2:raw"] if x["child_ref"] == "NFK-0057" and x["kind"] == "occupancy"
    ]
    [adjusted] = [x for x in out["run-3:raw"] if x["kind"] == "adjustment"]
    assert adjusted["amount_pence"] == due.amount_pence - posted["amount_pence"]
    assert adjusted["days"] == due.days - posted["days"]
    out["correction"] = [
        ["NFK-0057, February occupancy", "from", "to", "days", "amount (p)"],
        ["due now", due.start.isoformat(), due.end.isoformat(), str(due.days), p(due.amount_pence)],
        *[
            [label, x["from"], x["to"], str(x["days"]), p(x["amount_pence"])]
            for label, x in (("posted by run 2", posted), ("adjustment in run 3", adjusted))
        ],
    ]

    async def recorded(booking: dict[str, Any]) -> str:
        """The day (in England) the end was recorded: the booking's ``ended`` event."""
        r = await http.get(f"/bookings/{booking['id']}/events", headers=m.buyer.h)
        assert r.status_code == 200, r.text
        events = r.json()
        [at] = [x["at"] for x in events if x["to_status"] == "ended"]
        return local_date(datetime.fromisoformat(at)).isoformat()

    out["placements"] = [
        ["child", "arrived", "planned end", "notice given", "left", "end recorded"],
        *[
            [
                x["child"]["ref"],
                x["actual_start_date"],
                x["end_date"],
                x["notice_date"],
                x["actual_end_date"],
                await recorded(x),
            ]
            for x in (a, b)
        ],
    ]
    assert a["status"] == b["status"] == "ended"

    # the statements, March and April
    start, end = date(2026, 3, 1), date(2026, 5, 1)
    out["statement:norfolk"] = statement_table(await statement(m, m.buyer, start, end), name)
    out["statement:suffolk"] = statement_table(await statement(m, m.seller, start, end), name)
    # "Norfolk still owes February's and March's invoices": together, the closing balance
    owed = sum(int(out[f"run-{n}:invoice"][1][5].replace(",", "")) for n in (2, 3))
    assert out["statement:norfolk"][-1][-1] == p(-owed)

    # the region's journal entries
    e = journal_entries.c
    async with coop.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(e.kind, sa.func.count(sa.distinct(e.id)), sa.func.count(postings.c.id))
            .select_from(journal_entries.join(postings, postings.c.entry_id == e.id))
            .where(e.region == m.region.slug)
            .group_by(e.kind)
        )
        entries = {kind: (n, legs) for kind, n, legs in rows}
    out["entries"] = [
        ["entry", "entries", "postings"],
        *[
            [label, str(entries[kind][0]), str(entries[kind][1])]
            for label, kind in (("charge (one per invoice line)", "charge"), ("payment", "payment"))
        ],
    ]
    assert entries["charge"][0] == sum(len(out[f"run-{n}:raw"]) for n in (1, 2, 3))

    # the ledger's accounts once all this is posted
    async with coop.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                postings.c.authority, postings.c.account, sa.func.sum(postings.c.amount_pence)
            )
            .where(postings.c.authority.in_([m.seller.authority, m.buyer.authority]))
            .group_by(postings.c.authority, postings.c.account)
        )
        held = {(r[0], r[1]): int(r[2]) for r in rows}
    accounts = [["authority", "receivable (p)", "payable (p)", "cash (p)", "balance (p)"]]
    for who in (m.seller.authority, m.buyer.authority):
        rec, pay_, cash = (held.get((who, k), 0) for k in ("receivable", "payable", "cash"))
        accounts.append([name(who), p(rec), p(pay_), p(cash), p(rec + pay_)])
    accounts.append(
        [
            "sum",
            *(p(sum(int(row[i].replace(",", "")) for row in accounts[1:])) for i in range(1, 5)),
        ]
    )
    out["accounts"] = accounts
    await assert_ledger_balanced(coop)

    # the rounding of the example's lines: W × d ÷ 7, to the nearest penny, per line
    rate = steps["weekly_rate_pence"]
    day = charge(rate, 1)
    out["rounding"] = [
        ["days", "W × d ÷ 7", "the line (p)", f"d × one day's {p(day)} p"],
        *[
            [str(d), exact(rate * d, 7), p(charge(rate, d)), p(d * day)]
            for d in sorted(
                {
                    abs(int(row[5]))
                    for key in ("run-1:lines", "run-2:lines", "run-3:lines")
                    for row in out[key][1:]
                }
            )
        ],
    ]
    return {k: v for k, v in out.items() if not k.endswith(":raw")}


def netting_tables() -> dict[str, list[list[str]]]:
    """The netting illustration: three invoices of one run, settled by two transfers."""
    invoices = [("suffolk", "norfolk", 900_000), ("essex", "suffolk", 400_000)]
    invoices.append(("norfolk", "essex", 100_000))
    positions = net_positions(invoices)
    return {
        "netting:invoices": [
            ["seller", "buyer", "total (p)"],
            *[[s, b, p(n)] for s, b, n in invoices],
        ],
        "netting:positions": [
            ["authority", "net (p)"],
            *[[a, p(n)] for a, n in positions.items()],
        ],
        "netting:transfers": [
            ["from", "to", "amount (p)"],
            *[[t.from_, t.to, p(t.amount_pence)] for t in settle(positions)],
        ],
    }


def jobs_table() -> dict[str, list[list[str]]]:
    """The worker's settings the page names (``coop/worker.py``, ``coop/settlement``)."""
    [job] = [f for f in FUNCTIONS if getattr(f, "name", None) == JOB]
    crons = {c.name.removeprefix("cron:"): c for c in CRON_JOBS}
    sweep, monthly = crons["sweep_runs"], crons["monthly_settlement"]
    assert sweep.run_at_startup and sweep.minute is None  # every minute
    assert monthly.month is None
    return {
        "jobs": [
            ["setting", "value"],
            ["settle_run_job: tries", str(job.max_tries)],
            ["settle_run_job: time limit (s)", f"{job.timeout_s:g}"],
            ["wait before trying a run another worker holds (s)", f"{BUSY_RETRY.seconds}"],
            ["attempts before a failed run waits to be asked again", str(MAX_ATTEMPTS)],
            ["starts of a run whose worker died before it is marked failed", str(MAX_STARTS)],
            ["sweep_runs: at start-up, then every minute at second", str(sweep.second)],
            ["monthly_settlement: day of the month", str(monthly.day)],
            ["monthly_settlement: time (UTC)", f"{monthly.hour:02d}:{monthly.minute:02d}"],
        ]
    }


def terms_table() -> dict[str, list[list[str]]]:
    pricing = PolicyDocument().pricing
    assert Terms() == Terms(pricing.cancellation_notice_days, pricing.early_end_notice_days)
    return {
        "terms": [
            ["policy setting", "default"],
            ["pricing.cancellation_notice_days", str(pricing.cancellation_notice_days)],
            ["pricing.early_end_notice_days", str(pricing.early_end_notice_days)],
            ["pricing.margin_bp", str(pricing.margin_bp)],
            ["pricing.emergency_premium_bp", str(pricing.emergency_premium_bp)],
        ]
    }


async def test_every_figure_of_the_settlement_page_is_the_services(http, coop, clock) -> None:
    page = page_tables(DOC.read_text(encoding="utf-8"))
    rendered = await worked_example(http, coop) | netting_tables() | terms_table() | jobs_table()
    assert sorted(page) == sorted(rendered), "the page's marked tables and the test's differ"
    for key, table in rendered.items():
        assert page[key] == table, f"docs/settlement.md, table {key}:\n{_show(table)}"


def test_the_pages_prefixes_and_bench_figures_are_the_codes() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    for region, prefix in (("east-of-england", "EOE"), ("london", "LON")):
        assert f"`{region}` → `{prefix}`" in text
        assert region_prefix(region) == prefix
    bench = build_parser().parse_args(["bench", "settlement"])
    assert (
        f"({bench.regions} regions, {bench.authorities} councils, {bench.beds:,} beds and "
        f"{bench.placements:,} placements between councils)"
    ) in text


def _show(table: list[list[str]]) -> str:
    """The table as it should read in the page (to paste, after checking it)."""
    head, *body = table
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
