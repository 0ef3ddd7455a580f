"""What settlement answers: runs, positions, transfers, invoices, payments, statements."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

Period = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="A calendar month, `YYYY-MM`.",
        examples=["2026-11"],
    ),
]
RegionSlug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
AuthoritySlug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
#: a payment between two councils: a penny to £100m
PaymentPence = Annotated[
    int, msgspec.Meta(ge=1, le=10_000_000_000, description="integer pence, more than 0")
]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=140)]

RunStatus = Literal["queued", "running", "completed", "failed"]
LineKind = Literal["occupancy", "notice", "cancellation", "adjustment"]
StatementKind = Literal["invoice_issued", "invoice_received", "payment_received", "payment_made"]


class RunIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Settle one region's month (it must have ended)."""

    region: RegionSlug
    period: Period


class RunOut(msgspec.Struct, kw_only=True):
    """A settlement run of one region and month, and what it posted."""

    id: str
    region: str
    period: str
    """The month settled, `YYYY-MM`."""
    status: RunStatus
    """`queued` → `running` → `completed`, or `failed` (with `error`; retried)."""
    error: str | None
    """Why it failed (`null` unless you see the whole region)."""
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    issued_on: date | None
    """The date its invoices were issued."""
    invoice_count: int | None
    """How many invoices it issued (`null` unless you see the whole region: `coop:admin`)."""
    line_count: int | None
    """How many lines it posted (`null` unless you see the whole region)."""
    total_pence: int | None
    """The sum of its invoices (`null` unless you see the whole region: in a month when two
    councils alone traded, it would be their invoice)."""


class PositionOut(msgspec.Struct, kw_only=True):
    """An authority's net position in one run: what it is owed less what it owes."""

    authority: str
    receivable_pence: int
    payable_pence: int
    net_pence: int


class TransferOut(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """One payment that, with the others of the run, brings every position to zero."""

    from_: str
    to: str
    amount_pence: int


class InvoiceLineOut(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """One charge: a booking's days of one kind in one month, or an adjustment to them."""

    booking_id: str
    child_ref: str
    """The placing authority's own reference for the child (never any other profile field)."""
    kind: LineKind
    charge_kind: Literal["occupancy", "notice", "cancellation"]
    """What the line charges for (an adjustment corrects one of these)."""
    month: str
    """The month its days fall in, `YYYY-MM`."""
    from_: date
    to: date
    """Exclusive."""
    days: int
    """Negative for an adjustment that takes days off."""
    weekly_rate_pence: int
    amount_pence: int
    """`round_half_up(weekly_rate × days / 7)`; for an adjustment, the month's amount now
    minus what was posted for it (it may differ by a penny from its own days' charge: the
    month's total is exact)."""


class InvoiceOut(msgspec.Struct, kw_only=True):
    """What one authority (`buyer`) owes another (`seller`) for one run."""

    id: str
    number: str
    """Sequential per region, e.g. `EOE-2026-11-0007`: a finance system can key on it."""
    run_id: str
    region: str
    period: str
    seller: str
    buyer: str
    issued_on: date
    total_pence: int
    lines: list[InvoiceLineOut]


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename={"from_": "from"}):
    """Money that moved from one council to another."""

    from_: AuthoritySlug
    """The payer."""
    to: AuthoritySlug
    """The payee."""
    amount_pence: PaymentPence
    paid_on: date
    """The day the money moved (today or earlier)."""
    reference: Reference
    """The remittance reference both finance systems know it by."""


class PaymentOut(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """A recorded payment between two councils."""

    id: str
    region: str
    from_: str
    to: str
    amount_pence: int
    paid_on: date
    reference: str
    created_at: datetime


class StatementLine(msgspec.Struct, kw_only=True):
    """One invoice or payment on a statement, and the balance after it."""

    date: date
    kind: StatementKind
    reference: str
    """The invoice number, or the payment's reference."""
    amount_pence: int
    """Its effect on the balance: positive raises it (an invoice issued, a payment made)."""
    balance_pence: int


class StatementOut(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """An authority's account with the cooperative over `[from, to)`: positive = others
    owe it."""

    authority: str
    from_: date
    to: date
    """Exclusive."""
    opening_pence: int
    lines: list[StatementLine]
    closing_pence: int
