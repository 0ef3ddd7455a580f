"""The double-entry ledger: accounts per authority, journal entries, postings in pence.

Each authority has three accounts: ``receivable`` (what others owe it), ``payable`` (what it
owes, as a negative balance) and ``cash``. Postings are signed (debit positive, credit
negative) and every entry's postings sum to zero — the database refuses, at commit, any entry
that does not (``coop_entry_balanced``), and refuses to change or delete what was posted.

* a charge line of A pence, seller S, buyer B: S receivable +A, B payable −A;
* a payment of P pence from X to Y: X payable +P, X cash −P, Y cash +P, Y receivable −P.

An authority's *balance* (positive = others owe it) is the sum of its receivable and payable
accounts: an issued invoice and a payment made raise it, a received invoice and a payment
received lower it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.db.schema import ACCOUNT_KINDS, journal_entries, ledger_accounts, postings

BALANCE_ACCOUNTS = ("receivable", "payable")


class Leg(msgspec.Struct, frozen=True):
    """One posting of an entry: ``amount_pence`` to ``authority``'s ``account``."""

    authority: str
    account: str
    amount_pence: int


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    kind: str
    region: str
    occurred_on: date
    legs: tuple[Leg, ...]
    run_id: str | None = None


def charge_legs(seller: str, buyer: str, amount_pence: int) -> tuple[Leg, ...]:
    return (Leg(seller, "receivable", amount_pence), Leg(buyer, "payable", -amount_pence))


def payment_legs(payer: str, payee: str, amount_pence: int) -> tuple[Leg, ...]:
    return (
        Leg(payer, "payable", amount_pence),
        Leg(payer, "cash", -amount_pence),
        Leg(payee, "cash", amount_pence),
        Leg(payee, "receivable", -amount_pence),
    )


async def ensure_accounts(conn: AsyncConnection, authorities: Iterable[str]) -> None:
    """Open the accounts of ``authorities`` that are not open yet (once per authority: a run
    usually finds them all there and only reads)."""
    wanted = sorted(set(authorities))
    if not wanted:
        return
    a = ledger_accounts.c
    rows_in = await conn.execute(sa.select(a.authority, a.kind).where(a.authority.in_(wanted)))
    have = {(r.authority, r.kind) for r in rows_in}
    rows = [
        {"authority": x, "kind": k} for x in wanted for k in ACCOUNT_KINDS if (x, k) not in have
    ]
    if rows:  # a concurrent transaction may open them too: the conflict is no error
        await conn.execute(pg_insert(ledger_accounts).on_conflict_do_nothing(), rows)


async def driver_of(conn: AsyncConnection) -> Any:
    """asyncpg's own connection (same transaction), for COPY."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def new_entry_ids(conn: AsyncConnection, n: int) -> list[int]:
    if n == 0:
        return []
    rows = await conn.execute(
        sa.text(
            "SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')) "
            "FROM generate_series(1, :n)"
        ),
        {"n": n},
    )
    return [r[0] for r in rows]


async def post(conn: AsyncConnection, entries: Sequence[Entry], now: Any) -> list[int]:
    """Write ``entries`` (COPY: a run posts thousands) and return their ids, in order. The
    balance is checked by the database when the transaction commits."""
    ids = await new_entry_ids(conn, len(entries))
    if not entries:
        return ids
    driver = await driver_of(conn)
    await driver.copy_records_to_table(
        journal_entries.name,
        columns=["id", "region", "kind", "key", "occurred_on", "run_id", "created_at"],
        records=[
            (i, e.region, e.kind, e.key, e.occurred_on, e.run_id, now)
            for i, e in zip(ids, entries, strict=True)
        ],
    )
    await driver.copy_records_to_table(
        postings.name,
        columns=["entry_id", "authority", "account", "amount_pence"],
        records=[
            (i, leg.authority, leg.account, leg.amount_pence)
            for i, e in zip(ids, entries, strict=True)
            for leg in e.legs
        ],
    )
    return ids


def balance_of(authority: str, *, before: date | None = None) -> sa.Select:
    """An authority's balance (receivable + payable), from entries dated before ``before``."""
    q = (
        sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount_pence), 0))
        .select_from(postings.join(journal_entries, journal_entries.c.id == postings.c.entry_id))
        .where(postings.c.authority == authority, postings.c.account.in_(BALANCE_ACCOUNTS))
    )
    if before is not None:
        q = q.where(journal_entries.c.occurred_on < before)
    return q


async def ledger_total(conn: AsyncConnection) -> int:
    """The sum of every posting: always zero."""
    total = sa.func.coalesce(sa.func.sum(postings.c.amount_pence), 0)
    return int(await conn.scalar(sa.select(total)))
