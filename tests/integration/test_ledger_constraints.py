"""The database keeps the ledger honest whatever the code does (migration 0003): an entry that
does not balance is refused at commit, and what was posted is never changed or deleted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from coop.db.locks import sqlstate
from coop.db.schema import (
    invoice_lines,
    invoices,
    journal_entries,
    payments,
    postings,
    settlement_positions,
    settlement_runs,
    settlement_transfers,
)
from coop.settlement import ledger
from tests.settlement.support import Market, assert_ledger_balanced, snapshot

CHECK_VIOLATION = "23514"
RESTRICT_VIOLATION = "23001"
UNIQUE_VIOLATION = "23505"


async def parties(region: Any) -> tuple[str, str]:
    a = (await region.authority("payer")).authority
    b = (await region.authority("payee")).authority
    async with region.coop.engine.begin() as conn:
        await ledger.ensure_accounts(conn, [a, b])
    return a, b


async def write_entry(
    conn: Any, region: str, legs: Sequence[tuple[str, str, int]], key: str | None = None
) -> int:
    entry_id = await conn.scalar(
        sa.insert(journal_entries)
        .values(
            region=region,
            kind="charge",
            key=key or f"test:{uuid.uuid4().hex}",
            occurred_on=date(2026, 1, 31),
        )
        .returning(journal_entries.c.id)
    )
    if legs:
        await conn.execute(
            sa.insert(postings),
            [
                {"entry_id": entry_id, "authority": a, "account": k, "amount_pence": n}
                for a, k, n in legs
            ],
        )
    return int(entry_id)


async def entries_with(coop: Any, key: str) -> int:
    async with coop.engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.select(sa.func.count())
                .select_from(journal_entries)
                .where(journal_entries.c.key == key)
            )
        )


@pytest.mark.parametrize(
    "legs",
    [
        [("A", "receivable", 100), ("B", "payable", -99)],  # off by a penny
        [("A", "receivable", 100)],  # one leg
        [],  # no leg at all
        [("A", "receivable", 100), ("B", "payable", -100), ("B", "cash", 1)],
    ],
    ids=["off-by-a-penny", "one-leg", "no-legs", "three-legs-off"],
)
async def test_an_unbalanced_entry_is_refused_at_commit(coop, region, legs):
    a, b = await parties(region)
    legs = [({"A": a, "B": b}[who], account, n) for who, account, n in legs]
    key = f"test:{uuid.uuid4().hex}"
    written = False
    with pytest.raises(DBAPIError) as refused:
        async with coop.engine.begin() as conn:
            await write_entry(conn, region.slug, legs, key)
            written = True  # the check is deferred: every statement went through
    assert written
    assert sqlstate(refused.value) == CHECK_VIOLATION, refused.value
    assert "does not balance" in str(refused.value)
    assert await entries_with(coop, key) == 0  # nothing of it is kept
    await assert_ledger_balanced(coop)


async def test_an_unbalanced_entry_is_refused_at_once_when_constraints_are_immediate(coop, region):
    a, b = await parties(region)
    with pytest.raises(DBAPIError) as refused:
        async with coop.engine.begin() as conn:
            await conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
            await write_entry(conn, region.slug, [(a, "receivable", 5), (b, "payable", -4)])
    assert sqlstate(refused.value) == CHECK_VIOLATION


async def test_balanced_entries_commit_and_a_later_leg_cannot_unbalance_them(coop, region):
    a, b = await parties(region)
    key = f"test:{uuid.uuid4().hex}"
    async with coop.engine.begin() as conn:
        # legs may arrive one statement at a time: only the commit counts
        entry_id = await write_entry(conn, region.slug, [(a, "receivable", 250)], key)
        await conn.execute(
            sa.insert(postings).values(
                entry_id=entry_id, authority=b, account="payable", amount_pence=-250
            )
        )
        await write_entry(
            conn,
            region.slug,
            [(a, "payable", 70), (a, "cash", -70), (b, "cash", 70), (b, "receivable", -70)],
        )
    assert await entries_with(coop, key) == 1
    await assert_ledger_balanced(coop)
    # a leg added afterwards, in its own transaction, unbalances the entry: refused
    with pytest.raises(DBAPIError) as refused:
        async with coop.engine.begin() as conn:
            await conn.execute(
                sa.insert(postings).values(
                    entry_id=entry_id, authority=b, account="cash", amount_pence=1
                )
            )
    assert sqlstate(refused.value) == CHECK_VIOLATION
    # and a pair that balances between themselves leaves it balanced (still two-sided)
    async with coop.engine.begin() as conn:
        await conn.execute(
            sa.insert(postings),
            [
                {"entry_id": entry_id, "authority": b, "account": "cash", "amount_pence": 3},
                {"entry_id": entry_id, "authority": a, "account": "cash", "amount_pence": -3},
            ],
        )
    await assert_ledger_balanced(coop)


async def test_a_zero_posting_or_an_unknown_account_is_refused(coop, region):
    a, b = await parties(region)
    with pytest.raises(DBAPIError):
        async with coop.engine.begin() as conn:
            await write_entry(conn, region.slug, [(a, "receivable", 0), (b, "payable", 0)])
    with pytest.raises(DBAPIError):
        async with coop.engine.begin() as conn:
            await write_entry(conn, region.slug, [(a, "wallet", 10), (b, "payable", -10)])


# -- append-only -----------------------------------------------------------------------------


async def settled_region(http: Any, coop: Any) -> tuple[Market, dict[str, Any]]:
    m = await Market.open(http, coop, date(2026, 1, 20))
    await m.place(0, date(2026, 3, 1))
    m.move_to(date(2026, 2, 2))
    run = await m.settle("2026-01")
    assert run["status"] == "completed"
    r = await http.post(
        "/payments",
        json={
            "from": m.buyer.authority,
            "to": m.seller.authority,
            "amount_pence": 1234,
            "paid_on": "2026-02-02",
            "reference": "REM-1",
        },
        headers=m.region.admin.h,
    )
    assert r.status_code == 201, r.text
    return m, run


async def refused(coop: Any, statement: Any) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with coop.engine.begin() as conn:
            await conn.execute(statement)
    return caught.value


async def test_postings_and_invoice_lines_can_never_be_changed_or_deleted(http, coop, clock):
    m, run = await settled_region(http, coop)
    before = await snapshot(coop)
    [inv] = await m.invoices(run)
    run_id = run["id"]
    entry_ids = sa.select(journal_entries.c.id).where(journal_entries.c.run_id == run_id)
    cases = [
        sa.update(postings).where(postings.c.entry_id.in_(entry_ids)).values(amount_pence=1),
        sa.delete(postings).where(postings.c.entry_id.in_(entry_ids)),
        sa.update(journal_entries).where(journal_entries.c.run_id == run_id).values(key="x"),
        sa.delete(journal_entries).where(journal_entries.c.run_id == run_id),
        sa.update(invoice_lines).where(invoice_lines.c.run_id == run_id).values(days=1),
        sa.update(invoice_lines).where(invoice_lines.c.run_id == run_id).values(amount_pence=0),
        sa.delete(invoice_lines).where(invoice_lines.c.run_id == run_id),
        sa.update(invoices).where(invoices.c.run_id == run_id).values(total_pence=0),
        sa.delete(invoices).where(invoices.c.run_id == run_id),
        sa.update(settlement_positions)
        .where(settlement_positions.c.run_id == run_id)
        .values(receivable_pence=0, payable_pence=0, net_pence=0),
        sa.delete(settlement_transfers).where(settlement_transfers.c.run_id == run_id),
        sa.update(payments).where(payments.c.region == m.region.slug).values(amount_pence=1),
        sa.delete(payments).where(payments.c.region == m.region.slug),
    ]
    for statement in cases:
        exc = await refused(coop, statement)
        assert sqlstate(exc) == RESTRICT_VIOLATION, (statement, exc)
        assert "append-only" in str(exc), exc
    for table in ("postings", "invoice_lines", "journal_entries", "payments"):
        exc = await refused(coop, sa.text(f"TRUNCATE {table} CASCADE"))
        assert sqlstate(exc) == RESTRICT_VIOLATION, (table, exc)
    # a completed run never changes, nor goes
    for statement in (
        sa.update(settlement_runs).where(settlement_runs.c.id == run_id).values(status="failed"),
        sa.update(settlement_runs).where(settlement_runs.c.id == run_id).values(total_pence=0),
        sa.delete(settlement_runs).where(settlement_runs.c.id == run_id),
    ):
        exc = await refused(coop, statement)
        assert sqlstate(exc) == RESTRICT_VIOLATION, (statement, exc)
    # everything as it was, byte for byte through the API too
    assert await snapshot(coop) == before
    r = await http.get(f"/invoices/{inv['id']}", headers=m.region.admin.h)
    assert r.json() == inv
    await assert_ledger_balanced(coop)


async def test_an_ordinary_line_is_posted_once(http, coop, clock):
    """Even past the code: a second ordinary line of the same booking, kind and month is
    refused by the database."""
    _, run = await settled_region(http, coop)
    async with coop.engine.connect() as conn:
        line = (
            await conn.execute(sa.select(invoice_lines).where(invoice_lines.c.run_id == run["id"]))
        ).one()
    values = {k: v for k, v in line._mapping.items() if k not in ("id", "entry_id")}
    with pytest.raises(DBAPIError) as duplicate:
        async with coop.engine.begin() as conn:
            await conn.execute(sa.insert(invoice_lines).values(**values))
    assert sqlstate(duplicate.value) == UNIQUE_VIOLATION, duplicate.value
    # an ordinary line with no days, or a negative amount, is not a charge
    for bad in ({"days": 0}, {"amount_pence": -1}, {"kind": "notice"}):
        with pytest.raises(DBAPIError) as caught:
            async with coop.engine.begin() as conn:
                await conn.execute(
                    sa.insert(invoice_lines).values(**{**values, "month": date(1999, 1, 1), **bad})
                )
        assert sqlstate(caught.value) == CHECK_VIOLATION, (bad, caught.value)
