"""``/settlement-runs``, ``/invoices``, ``/payments`` and an authority's statement."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from coop.auth.guards import requires
from coop.http import Caller, CoopDep, csv_response, wants_csv
from coop.idempotency import from_request
from coop.openapi import api
from coop.schemas import DEFAULT_LIMIT, Cursor, Limit, Page
from coop.settlement import runs, service
from coop.settlement.schemas import (
    InvoiceOut,
    PaymentIn,
    PaymentOut,
    Period,
    PositionOut,
    RunIn,
    RunOut,
    StatementOut,
    TransferOut,
)

ADMIN = [requires("coop:admin")]
FINANCE = api(any_scope=("finance:read", "coop:admin"))
FINANCE_CSV = api(any_scope=("finance:read", "coop:admin"), csv=True)

INVOICE_CSV_HEADER = [
    "invoice_number",
    "invoice_id",
    "run_id",
    "period",
    "issued_on",
    "seller",
    "buyer",
    "booking_id",
    "child_ref",
    "kind",
    "charge_kind",
    "month",
    "from",
    "to",
    "days",
    "weekly_rate_pence",
    "amount_pence",
]


def invoice_rows(invoice: InvoiceOut) -> list[list[object]]:
    return [
        [
            invoice.number,
            invoice.id,
            invoice.run_id,
            invoice.period,
            invoice.issued_on.isoformat(),
            invoice.seller,
            invoice.buyer,
            line.booking_id,
            line.child_ref,
            line.kind,
            line.charge_kind,
            line.month,
            line.from_.isoformat(),
            line.to.isoformat(),
            line.days,
            line.weekly_rate_pence,
            line.amount_pence,
        ]
        for line in invoice.lines
    ]


class SettlementRunController(Controller):
    path = "/settlement-runs"
    tags = ["settlement"]

    @post(
        guards=ADMIN,
        operation_id="createSettlementRun",
        opt=api(problems=(409, 503)),
        summary="Settle a region's month",
        description="Opens the run of `period` (a month that has ended: otherwise 422 "
        "`period_open`) and queues it for the worker: 201 with status `queued`. Months settle "
        "forward: a month before the region's latest completed run is 409 `period_closed`. "
        "Asking again for a month already opened returns that run (200) and posts nothing; a "
        "`failed` run is queued again.",
        responses={200: ResponseSpec(RunOut, description="The run of that month, as it is.")},
    )
    async def create(
        self, data: JSONBody[RunIn], coop: CoopDep, principal: Caller
    ) -> Response[RunOut]:
        out, created = await runs.request_run(
            coop.engine,
            principal,
            data.region,
            data.period,
            clock=coop.clock,
            scheduler=coop.scheduler,
        )
        return Response(out, status_code=201 if created else 200)

    @get(
        operation_id="listSettlementRuns",
        opt=FINANCE,
        summary="The region's settlement runs",
        description="Oldest first (`finance:read` or `coop:admin`). The region's totals "
        "(`invoice_count`, `line_count`, `total_pence`) are shown to those who see the whole "
        "region; for an authority's `finance:read` they are `null`.",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        region: Annotated[
            str | None, QueryParameter(description="Your region (the default)")
        ] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[RunOut]:
        return await service.list_runs(
            coop.engine, principal, region=region, limit=limit, cursor=cursor
        )

    @get(
        "/{run_id:str}",
        operation_id="getSettlementRun",
        opt=FINANCE,
        summary="One settlement run: status and totals",
    )
    async def get_one(self, run_id: FromPath[str], coop: CoopDep, principal: Caller) -> RunOut:
        return await service.get_run(coop.engine, principal, run_id)

    @get(
        "/{run_id:str}/positions",
        operation_id="listSettlementPositions",
        opt=FINANCE,
        summary="Net positions of the run",
        description="Per authority: what its invoices of the run make it owed "
        "(`receivable_pence`), what it owes (`payable_pence`) and the difference (`net_pence`). "
        "An authority's `finance:read` sees its own; `coop:admin` every one.",
    )
    async def positions(
        self, run_id: FromPath[str], coop: CoopDep, principal: Caller
    ) -> list[PositionOut]:
        return await service.positions(coop.engine, principal, run_id)

    @get(
        "/{run_id:str}/transfers",
        operation_id="listSettlementTransfers",
        opt=FINANCE,
        summary="Who pays whom to settle the run",
        description="At most n−1 transfers for n authorities with a non-zero position; nobody "
        "both pays and receives. An authority's `finance:read` sees the ones it pays or "
        "receives.",
    )
    async def transfers(
        self, run_id: FromPath[str], coop: CoopDep, principal: Caller
    ) -> list[TransferOut]:
        return await service.transfers(coop.engine, principal, run_id)


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["settlement"]

    @get(
        operation_id="listInvoices",
        opt=FINANCE,
        summary="Invoices you issued or received",
        description="An authority's `finance:read`: where it is seller or buyer; `coop:admin`: "
        "the region's. Filter by `period` or `run_id`.",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        period: Annotated[Period | None, QueryParameter(description="A month, YYYY-MM")] = None,
        run_id: Annotated[str | None, QueryParameter(description="One run's invoices")] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[InvoiceOut]:
        return await service.list_invoices(
            coop.engine, principal, period=period, run_id=run_id, limit=limit, cursor=cursor
        )

    @get(
        "/{invoice_id:str}",
        operation_id="getInvoice",
        opt=FINANCE_CSV,
        summary="One invoice, as JSON or CSV",
        description="`Accept: text/csv` gives one row per line with a header row; pence are "
        "integers.",
    )
    async def get_one(
        self, invoice_id: FromPath[str], request: Request, coop: CoopDep, principal: Caller
    ) -> Response[InvoiceOut]:
        invoice = await service.get_invoice(coop.engine, principal, invoice_id)
        if wants_csv(request):
            return csv_response(INVOICE_CSV_HEADER, invoice_rows(invoice), f"{invoice.number}.csv")
        return Response(invoice)


class PaymentController(Controller):
    path = "/payments"
    tags = ["settlement"]

    @post(
        guards=ADMIN,
        operation_id="createPayment",
        opt=api(problems=(503,), idempotent=True),
        summary="Record money that moved between two councils",
        description="A ledger entry: the payer's cash and payable, the payee's cash and "
        "receivable. Both are authorities of your region; `paid_on` is today or earlier. Send "
        "an `Idempotency-Key` header to make a retry safe.",
    )
    async def create(
        self, data: JSONBody[PaymentIn], request: Request, coop: CoopDep, principal: Caller
    ) -> Response[PaymentOut]:
        out = await service.record_payment(
            coop.engine,
            principal,
            data,
            clock=coop.clock,
            idem=await from_request(request, principal),
        )
        return Response(out, status_code=201)

    @get(
        operation_id="listPayments",
        opt=FINANCE,
        summary="Payments between councils",
        description="An authority's `finance:read`: the ones it made or received; `coop:admin`: "
        "the region's (`authority` narrows them to one).",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        authority: Annotated[
            str | None, QueryParameter(description="Made or received by this authority")
        ] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[PaymentOut]:
        return await service.list_payments(
            coop.engine, principal, authority=authority, limit=limit, cursor=cursor
        )


STATEMENT_CSV_HEADER = ["date", "kind", "reference", "amount_pence", "balance_pence"]


class StatementController(Controller):
    path = "/authorities/{slug:str}/statement"
    tags = ["settlement"]

    @get(
        operation_id="getStatement",
        opt=FINANCE_CSV,
        summary="An authority's statement: opening balance, invoices, payments, closing",
        description="Over `[from, to)`. A positive balance means others owe the authority: an "
        "invoice issued and a payment made raise it, an invoice received and a payment "
        "received lower it. `finance:read` for the authority itself, `coop:admin` for any of "
        "the region. `Accept: text/csv`: an `opening_balance` row, one row per line, a "
        "`closing_balance` row.",
    )
    async def get_one(
        self,
        slug: FromPath[str],
        request: Request,
        coop: CoopDep,
        principal: Caller,
        from_: Annotated[date, QueryParameter(name="from", description="First day")],
        to: Annotated[date, QueryParameter(description="Day after the last (exclusive)")],
    ) -> Response[StatementOut]:
        out = await service.statement(coop.engine, principal, slug, from_, to)
        if wants_csv(request):
            rows: list[list[object]] = [
                [out.from_.isoformat(), "opening_balance", "", 0, out.opening_pence]
            ]
            rows += [
                [x.date.isoformat(), x.kind, x.reference, x.amount_pence, x.balance_pence]
                for x in out.lines
            ]
            rows.append([out.to.isoformat(), "closing_balance", "", 0, out.closing_pence])
            return csv_response(
                STATEMENT_CSV_HEADER, rows, f"statement-{slug}-{out.from_}-{out.to}.csv"
            )
        return Response(out)
