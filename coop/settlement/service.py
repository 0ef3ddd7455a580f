"""Reading what settlement produced, and recording payments.

Who sees what (tenancy, in one place — :func:`view_of`):

* ``coop:admin`` of a region, or a region-level client with ``finance:read``: everything of
  the region (runs, every position and transfer, every invoice, payment and statement);
* an authority's ``finance:read``: the region's runs (their status, not the region's
  totals), its own position, the
  transfers it pays or receives, the invoices where it is seller or buyer, its payments and
  its statement;
* nobody sees another region's.

Invoices carry booking ids and the placing authority's child ``ref`` — never any other field
of a child's profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coop import audit
from coop.auth.principal import Principal
from coop.clock import Clock, local_date
from coop.db.schema import (
    authorities,
    invoice_lines,
    invoices,
    journal_entries,
    payments,
    postings,
    settlement_positions,
    settlement_runs,
    settlement_transfers,
)
from coop.db.session import transaction
from coop.errors import FieldError, Problem, field_problem, invalid, not_found
from coop.idempotency import IdempotencyKey, claim, remember
from coop.ids import new_id
from coop.policy.charges import parse_period, period_of
from coop.schemas import Page, keyset_page
from coop.settlement import ledger
from coop.settlement.runs import run_out
from coop.settlement.schemas import (
    InvoiceLineOut,
    InvoiceOut,
    PaymentIn,
    PaymentOut,
    PositionOut,
    RunOut,
    StatementLine,
    StatementOut,
    TransferOut,
)


@dataclass(frozen=True)
class View:
    """What a caller may read: the region, and ``authority`` when only its own."""

    region: str
    authority: str | None


def view_of(principal: Principal) -> View:
    if principal.has("coop:admin") or (
        principal.authority is None and principal.has("finance:read")
    ):
        return View(principal.region, None)
    if principal.has("finance:read") and principal.authority is not None:
        return View(principal.region, principal.authority)
    raise Problem(403, "insufficient_scope", "This needs the finance:read or coop:admin scope.")


def _own_region(view: View, region: str | None) -> str:
    if region is not None and region != view.region:
        raise Problem(403, "other_region", "You can read your own region's settlement only.")
    return view.region


# -- runs ------------------------------------------------------------------------------------


async def _run_row(conn: Any, view: View, run_id: str) -> Any:
    row = (
        await conn.execute(sa.select(settlement_runs).where(settlement_runs.c.id == run_id))
    ).one_or_none()
    if row is None or row.region != view.region:
        raise not_found("settlement run", run_id)
    return row


async def get_run(engine: AsyncEngine, principal: Principal, run_id: str) -> RunOut:
    return await get_run_in(engine, view_of(principal), run_id)


async def get_run_in(engine: AsyncEngine, view: View, run_id: str) -> RunOut:
    async with engine.connect() as conn:
        return run_out(await _run_row(conn, view, run_id), totals=view.authority is None)


async def list_runs(
    engine: AsyncEngine,
    principal: Principal,
    *,
    region: str | None,
    limit: int,
    cursor: str | None,
) -> Page[RunOut]:
    view = view_of(principal)
    q = sa.select(settlement_runs).where(settlement_runs.c.region == _own_region(view, region))
    async with engine.connect() as conn:
        rows, nxt = await keyset_page(conn, q, settlement_runs.c.id, limit, cursor)
    totals = view.authority is None
    return Page(items=[run_out(r, totals=totals) for r in rows], next_cursor=nxt)


async def positions(engine: AsyncEngine, principal: Principal, run_id: str) -> list[PositionOut]:
    view = view_of(principal)
    p = settlement_positions.c
    async with engine.connect() as conn:
        await _run_row(conn, view, run_id)
        q = sa.select(settlement_positions).where(p.run_id == run_id).order_by(p.authority)
        if view.authority:
            q = q.where(p.authority == view.authority)
        rows = await conn.execute(q)
        return [
            PositionOut(
                authority=r.authority,
                receivable_pence=r.receivable_pence,
                payable_pence=r.payable_pence,
                net_pence=r.net_pence,
            )
            for r in rows
        ]


async def transfers(engine: AsyncEngine, principal: Principal, run_id: str) -> list[TransferOut]:
    view = view_of(principal)
    t = settlement_transfers.c
    async with engine.connect() as conn:
        await _run_row(conn, view, run_id)
        q = sa.select(settlement_transfers).where(t.run_id == run_id).order_by(t.seq)
        if view.authority:
            q = q.where(sa.or_(t.payer == view.authority, t.payee == view.authority))
        rows = await conn.execute(q)
        return [TransferOut(from_=r.payer, to=r.payee, amount_pence=r.amount_pence) for r in rows]


# -- invoices --------------------------------------------------------------------------------


def _visible_invoices(view: View) -> sa.Select:
    q = sa.select(invoices).where(invoices.c.region == view.region)
    if view.authority:
        q = q.where(sa.or_(invoices.c.seller == view.authority, invoices.c.buyer == view.authority))
    return q


async def _with_lines(conn: Any, rows: list[Any]) -> list[InvoiceOut]:
    if not rows:
        return []
    l = invoice_lines.c  # noqa: E741
    lines = await conn.execute(
        sa.select(invoice_lines)
        .where(l.invoice_id.in_([r.id for r in rows]))
        .order_by(l.invoice_id, l.booking_id, l.from_date, l.kind, l.id)
    )
    by_invoice: dict[str, list[InvoiceLineOut]] = {r.id: [] for r in rows}
    for x in lines:
        by_invoice[x.invoice_id].append(
            InvoiceLineOut(
                booking_id=x.booking_id,
                child_ref=x.child_ref,
                kind=x.kind,
                charge_kind=x.charge_kind,
                month=period_of(x.month),
                from_=x.from_date,
                to=x.to_date,
                days=x.days,
                weekly_rate_pence=x.weekly_rate_pence,
                amount_pence=x.amount_pence,
            )
        )
    return [
        InvoiceOut(
            id=r.id,
            number=r.number,
            run_id=r.run_id,
            region=r.region,
            period=period_of(r.period),
            seller=r.seller,
            buyer=r.buyer,
            issued_on=r.issued_on,
            total_pence=r.total_pence,
            lines=by_invoice[r.id],
        )
        for r in rows
    ]


async def list_invoices(
    engine: AsyncEngine,
    principal: Principal,
    *,
    period: str | None,
    run_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[InvoiceOut]:
    view = view_of(principal)
    q = _visible_invoices(view)
    if period is not None:
        try:
            q = q.where(invoices.c.period == parse_period(period))
        except ValueError:
            raise invalid("period", "A calendar month, YYYY-MM.") from None
    if run_id is not None:
        q = q.where(invoices.c.run_id == run_id)
    async with engine.connect() as conn:
        rows, nxt = await keyset_page(conn, q, invoices.c.id, limit, cursor)
        return Page(items=await _with_lines(conn, list(rows)), next_cursor=nxt)


async def get_invoice(engine: AsyncEngine, principal: Principal, invoice_id: str) -> InvoiceOut:
    view = view_of(principal)
    async with engine.connect() as conn:
        row = (
            await conn.execute(_visible_invoices(view).where(invoices.c.id == invoice_id))
        ).one_or_none()
        if row is None:
            raise not_found("invoice", invoice_id)
        return (await _with_lines(conn, [row]))[0]


# -- payments --------------------------------------------------------------------------------


def payment_out(row: Any) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        region=row.region,
        from_=row.payer,
        to=row.payee,
        amount_pence=row.amount_pence,
        paid_on=row.paid_on,
        reference=row.reference,
        created_at=row.created_at,
    )


async def record_payment(
    engine: AsyncEngine,
    principal: Principal,
    data: PaymentIn,
    *,
    clock: Clock,
    idem: IdempotencyKey | None,
) -> PaymentOut:
    """Record money that moved from one council to another, as one ledger entry."""
    now = clock.now()
    async with transaction(engine) as conn:
        await claim(conn, idem)
        known = set(
            (
                await conn.scalars(
                    sa.select(authorities.c.slug).where(
                        authorities.c.slug.in_([data.from_, data.to]),
                        authorities.c.region == principal.region,
                    )
                )
            ).all()
        )
        errors = [
            FieldError(field, "unknown_authority", "is not an authority of your region.")
            for field, slug in (("from", data.from_), ("to", data.to))
            if slug not in known
        ]
        if data.from_ == data.to:
            errors.append(FieldError("to", "same_authority", "must differ from `from`."))
        if data.paid_on > local_date(now):
            errors.append(FieldError("paid_on", "in_future", "cannot be after today."))
        if errors:
            raise field_problem(errors)
        await ledger.ensure_accounts(conn, [data.from_, data.to])
        payment_id = new_id("pay")
        [entry_id] = await ledger.post(
            conn,
            [
                ledger.Entry(
                    key=f"payment:{payment_id}",
                    kind="payment",
                    region=principal.region,
                    occurred_on=data.paid_on,
                    legs=ledger.payment_legs(data.from_, data.to, data.amount_pence),
                )
            ],
            now,
        )
        row = (
            await conn.execute(
                sa.insert(payments)
                .values(
                    id=payment_id,
                    region=principal.region,
                    payer=data.from_,
                    payee=data.to,
                    amount_pence=data.amount_pence,
                    paid_on=data.paid_on,
                    reference=data.reference,
                    entry_id=entry_id,
                    created_by=f"client:{principal.client_id}",
                    created_at=now,
                )
                .returning(payments)
            )
        ).one()
        out = payment_out(row)
        await audit.record(
            conn,
            region=principal.region,
            authority=None,
            actor=principal,
            action="payment.recorded",
            subject=payment_id,
            details={
                "from": data.from_,
                "to": data.to,
                "amount_pence": data.amount_pence,
                "paid_on": data.paid_on.isoformat(),
            },
            at=now,
        )
        await remember(conn, idem, 201, out)
    return out


async def list_payments(
    engine: AsyncEngine,
    principal: Principal,
    *,
    authority: str | None,
    limit: int,
    cursor: str | None,
) -> Page[PaymentOut]:
    view = view_of(principal)
    if view.authority and authority not in (None, view.authority):
        raise Problem(403, "other_authority", "You can read your own authority's payments only.")
    who = view.authority or authority
    q = sa.select(payments).where(payments.c.region == view.region)
    if who:
        q = q.where(sa.or_(payments.c.payer == who, payments.c.payee == who))
    async with engine.connect() as conn:
        rows, nxt = await keyset_page(conn, q, payments.c.id, limit, cursor)
    return Page(items=[payment_out(r) for r in rows], next_cursor=nxt)


# -- statements ------------------------------------------------------------------------------


async def statement(
    engine: AsyncEngine, principal: Principal, slug: str, start: date, end: date
) -> StatementOut:
    """An authority's invoices and payments over ``[start, end)``, from the ledger."""
    view = view_of(principal)
    if view.authority and slug != view.authority:
        raise Problem(403, "other_authority", "You can read your own authority's statement only.")
    if end <= start:
        raise invalid("to", "`to` must be after `from` (the range is [from, to)).")
    e, p = journal_entries.c, postings.c
    async with engine.connect() as conn:
        region = await conn.scalar(
            sa.select(authorities.c.region).where(authorities.c.slug == slug)
        )
        if region is None or region != view.region:
            raise not_found("authority", slug)
        opening = int(await conn.scalar(ledger.balance_of(slug, before=start)))
        # one row per invoice or payment: the authority's postings on its balance accounts
        line = invoice_lines.alias("l")
        rows = await conn.execute(
            sa.select(
                e.occurred_on,
                invoices.c.number,
                invoices.c.seller,
                payments.c.reference,
                payments.c.payer,
                payments.c.id.label("payment_id"),
                sa.func.sum(p.amount_pence).label("amount"),
            )
            .select_from(
                postings.join(journal_entries, e.id == p.entry_id)
                .outerjoin(line, line.c.entry_id == e.id)
                .outerjoin(invoices, invoices.c.id == line.c.invoice_id)
                .outerjoin(payments, payments.c.entry_id == e.id)
            )
            .where(
                p.authority == slug,
                p.account.in_(ledger.BALANCE_ACCOUNTS),
                e.occurred_on >= start,
                e.occurred_on < end,
            )
            .group_by(
                e.occurred_on,
                invoices.c.number,
                invoices.c.seller,
                payments.c.reference,
                payments.c.payer,
                payments.c.id,
            )
            .order_by(e.occurred_on, invoices.c.number, payments.c.id)
        )
        lines: list[StatementLine] = []
        balance = opening
        for r in rows:
            if r.number is not None:
                kind = "invoice_issued" if r.seller == slug else "invoice_received"
                reference = r.number
            else:
                kind = "payment_made" if r.payer == slug else "payment_received"
                reference = r.reference
            balance += int(r.amount)
            lines.append(
                StatementLine(
                    date=r.occurred_on,
                    kind=kind,
                    reference=reference,
                    amount_pence=int(r.amount),
                    balance_pence=balance,
                )
            )
    return StatementOut(
        authority=slug,
        from_=start,
        to=end,
        opening_pence=opening,
        lines=lines,
        closing_pence=balance,
    )
