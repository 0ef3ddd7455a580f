"""Settlement runs: open one for a region's month, and carry it out, exactly once.

A run is carried out in one transaction, under the region's settlement lock (``coop.db.
locks``): it posts, for every booking whose requester is not its owner, what is due up to the
end of the month minus what earlier runs posted (``coop.settlement.lines``), as invoice lines,
one balanced journal entry per line, invoices per (seller, buyer) with sequential numbers,
positions and transfers — and marks the run ``completed``. All of it commits or none does.

Exactly once, whatever happens to the worker:

* a second worker on the same run does not get the region's lock (``pg_try_advisory_xact_
  lock``) and steps aside; once the first commits, the run is ``completed`` and a later
  attempt posts nothing;
* a worker that dies mid-run loses its transaction with its connection; the run stays
  ``running`` with nothing posted, and the sweep (or arq's retry) carries it out again;
* lines are unique per (run, booking, kind, month) and ordinary lines per (booking, kind,
  month) — a race that slipped past the lock would hit a constraint, not post twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop import audit, metrics
from coop.auth.principal import Principal
from coop.clock import Clock, local_date
from coop.db.locks import advisory, try_advisory
from coop.db.schema import (
    authorities,
    bookings,
    invoice_lines,
    invoices,
    region_policies,
    settlement_positions,
    settlement_runs,
    settlement_transfers,
)
from coop.db.session import transaction
from coop.errors import Problem, conflict, invalid
from coop.ids import new_id
from coop.policy.charges import (
    CHARGED_STATUSES,
    Booking,
    Terms,
    lines_through,
    next_month,
    parse_period,
    period_of,
)
from coop.policy.document import PolicyDocument
from coop.policy.netting import settle
from coop.settlement import ledger
from coop.settlement.lines import Line, Posted, to_post
from coop.settlement.schemas import RunOut
from coop.wakeups import Scheduler, Wakeup

log = logging.getLogger("coop.settlement")

JOB = "settle_run_job"
#: attempts before a failed run waits for someone to ask again
MAX_ATTEMPTS = 5
#: starts of a run whose worker died each time (an out-of-memory kill, say) before it is
#: marked failed and waits for someone to look
MAX_STARTS = 25


def run_out(row: Any, *, totals: bool = True) -> RunOut:
    """A run as an API answer; ``totals=False`` for a caller who sees its own authority's
    figures only (the region's totals could reveal two other councils' invoice)."""
    return RunOut(
        id=row.id,
        region=row.region,
        period=period_of(row.period),
        status=row.status,
        error=row.error if totals else None,
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        issued_on=row.issued_on,
        invoice_count=row.invoice_count if totals else None,
        line_count=row.line_count if totals else None,
        total_pence=row.total_pence if totals else None,
    )


def wakeup(run_id: str, region: str, period: date) -> Wakeup:
    """The run's job, now, keyed per (region, month): asking twice enqueues it once."""
    return Wakeup(JOB, run_id, f"settle:{region}:{period_of(period)}")


def region_prefix(region: str) -> str:
    """``east-of-england`` → ``EOE``; ``london`` → ``LON``."""
    words = [w for w in region.split("-") if w]
    if len(words) == 1:
        return words[0][:3].upper()
    return "".join(w[0] for w in words).upper()


def invoice_number(region: str, period: date, seq: int) -> str:
    return f"{region_prefix(region)}-{period:%Y-%m}-{seq:04d}"


# -- asking for a run ------------------------------------------------------------------------


def check_period(text: str, today: date) -> date:
    try:
        period = parse_period(text)
    except ValueError:
        raise invalid("period", "A calendar month, YYYY-MM.") from None
    if next_month(period) > today:
        raise invalid(
            "period",
            f"{text} has not ended yet: a month is settled once it is over.",
            code="period_open",
        )
    return period


async def request_run(
    engine: AsyncEngine,
    principal: Principal | None,
    region: str,
    period_text: str,
    *,
    clock: Clock,
    scheduler: Scheduler,
) -> tuple[RunOut, bool]:
    """Open the run of ``region``'s month (or return the one there is). ``True`` when it was
    opened now. A failed run is queued again."""
    if principal is not None and principal.region != region:
        raise Problem(403, "other_region", "You administer another region.")
    now = clock.now()
    period = check_period(period_text, local_date(now))
    async with transaction(engine) as conn:
        await advisory(conn, "settlement", f"{region}:open")
        row = (
            await conn.execute(
                sa.select(settlement_runs).where(
                    settlement_runs.c.region == region, settlement_runs.c.period == period
                )
            )
        ).one_or_none()
        created = row is None
        if row is None or row.status != "completed":
            # months settle forward: a month before one already settled (or being settled)
            # could never complete — refused, never queued
            latest = await conn.scalar(
                sa.select(sa.func.max(settlement_runs.c.period)).where(
                    settlement_runs.c.region == region,
                    settlement_runs.c.status.in_(("queued", "running", "completed")),
                    settlement_runs.c.period > period,
                )
            )
            if latest is not None:
                raise conflict(
                    "period_closed",
                    f"{region} is settled (or being settled) up to {period_of(latest)}: months "
                    "settle forward, and a change to an earlier month is posted as an "
                    "adjustment of the next run.",
                    latest_period=period_of(latest),
                )
        if row is None:
            row = (
                await conn.execute(
                    sa.insert(settlement_runs)
                    .values(
                        id=new_id("run"),
                        region=region,
                        period=period,
                        status="queued",
                        requested_by=f"client:{principal.client_id}" if principal else "system",
                        created_at=now,
                    )
                    .returning(settlement_runs)
                )
            ).one()
        elif row.status == "failed":
            # only if it is still failed (a sweep may have carried it out meanwhile)
            requeued = (
                await conn.execute(
                    sa.update(settlement_runs)
                    .where(settlement_runs.c.id == row.id, settlement_runs.c.status == "failed")
                    .values(status="queued", attempts=0)
                    .returning(settlement_runs)
                )
            ).one_or_none()
            row = (
                requeued
                or (
                    await conn.execute(
                        sa.select(settlement_runs).where(settlement_runs.c.id == row.id)
                    )
                ).one()
            )
        if principal is not None:  # an admin's request (the cron's and the CLI's are not)
            await audit.record(
                conn,
                region=region,
                authority=None,
                actor=principal,
                action="settlement_run.requested",
                subject=row.id,
                details={"period": period_of(period), "opened": created, "status": row.status},
                at=now,
            )
    if row.status != "completed":
        await scheduler.schedule([wakeup(row.id, region, period)])
    return run_out(row), created


# -- carrying it out -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an attempt did: ``completed`` (now or before), ``busy`` (another worker holds the
    region), ``missing``."""

    status: str
    run_id: str
    lines: int = 0
    attempted: bool = False
    """Whether this attempt did the work (not a run found completed already, or missing)."""


async def execute_run(engine: AsyncEngine, run_id: str, *, clock: Clock) -> Outcome:
    """Carry out a run (the job, the sweep and ``coop settle`` call this). Idempotent.

    Each attempt's duration is observed (``coop_settlement_run_duration_seconds``) as
    ``completed``, ``busy`` (another worker holds the region) or ``failed``."""
    started = time.perf_counter()
    try:
        outcome = await _execute_run(engine, run_id, clock=clock)
    except BaseException:
        metrics.settlement_attempt("failed", time.perf_counter() - started)
        raise
    if outcome.status == "busy" or outcome.attempted:
        metrics.settlement_attempt(outcome.status, time.perf_counter() - started)
    return outcome


async def _execute_run(engine: AsyncEngine, run_id: str, *, clock: Clock) -> Outcome:
    now = clock.now()
    async with transaction(engine) as conn:
        row = (
            await conn.execute(sa.select(settlement_runs).where(settlement_runs.c.id == run_id))
        ).one_or_none()
        if row is None:
            return Outcome("missing", run_id)
        if row.status == "completed":
            return Outcome("completed", run_id)
        if not await try_advisory(conn, "settlement", row.region):
            return Outcome("busy", run_id)
        if await _earlier_unfinished(conn, row):  # months are carried out in order
            return Outcome("busy", run_id)
        await conn.execute(
            sa.update(settlement_runs)
            .where(settlement_runs.c.id == run_id, settlement_runs.c.status != "completed")
            .values(
                status="running",
                started_at=now,
                attempts=settlement_runs.c.attempts + 1,
                error=None,
            )
        )
    try:
        async with transaction(engine) as conn:
            if not await try_advisory(conn, "settlement", row.region):
                return Outcome("busy", run_id)
            row = (
                await conn.execute(sa.select(settlement_runs).where(settlement_runs.c.id == run_id))
            ).one()
            if row.status == "completed":  # another worker finished it in between
                return Outcome("completed", run_id)
            lines = await _settle(conn, row, now)
    except BaseException as exc:  # a job's timeout cancels it: that is a failure too
        await asyncio.shield(fail_run(engine, run_id, exc, clock.now()))
        raise
    log.info("settled %s %s: %d lines", row.region, period_of(row.period), lines)
    return Outcome("completed", run_id, lines, attempted=True)


async def _earlier_unfinished(conn: AsyncConnection, run: Any) -> bool:
    r = settlement_runs.c
    return bool(
        await conn.scalar(
            sa.select(
                sa.exists().where(
                    r.region == run.region,
                    r.period < run.period,
                    r.status.in_(("queued", "running")),
                )
            )
        )
    )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, Problem):
        return f"{exc.code}: {exc.detail}"
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def fail_run(engine: AsyncEngine, run_id: str, exc: BaseException, now: datetime) -> None:
    try:
        async with transaction(engine) as conn:
            await conn.execute(
                sa.update(settlement_runs)
                .where(settlement_runs.c.id == run_id, settlement_runs.c.status != "completed")
                .values(status="failed", error=_error_text(exc), finished_at=now)
            )
    except Exception:  # the sweep finds it again either way
        log.warning("could not record the failure of run %s", run_id, exc_info=True)


#: what :func:`booking_facts` reads of a booking, and the policy version of its terms
FACT_COLUMNS = tuple(
    bookings.c[name]
    for name in (
        "id",
        "requester",
        "owner",
        "status",
        "start_date",
        "end_date",
        "actual_start_date",
        "actual_end_date",
        "notice_date",
        "cancelled_on",
        "weekly_rate_pence",
        "policy_version",
    )
)


def booking_facts(row: Any) -> Booking:
    """What the charges of a booking depend on, from a row of ``bookings``."""
    return Booking(
        id=row.id,
        requester=row.requester,
        owner=row.owner,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        actual_start_date=row.actual_start_date,
        actual_end_date=row.actual_end_date,
        notice_date=row.notice_date,
        cancelled_on=row.cancelled_on,
        weekly_rate_pence=row.weekly_rate_pence,
    )


async def terms_by_version(conn: AsyncConnection, region: str) -> dict[int, Terms]:
    """The charging terms of every policy version of the region (0: the defaults)."""
    default = PolicyDocument().pricing
    terms = {0: Terms(default.cancellation_notice_days, default.early_end_notice_days)}
    rows = await conn.execute(
        sa.select(region_policies.c.version, region_policies.c.document).where(
            region_policies.c.region == region
        )
    )
    for version, document in rows:
        pricing = msgspec.convert(document, PolicyDocument).pricing
        terms[version] = Terms(pricing.cancellation_notice_days, pricing.early_end_notice_days)
    return terms


async def posted_lines(
    conn: AsyncConnection, region: str
) -> dict[str, dict[tuple[str, date], Posted]]:
    """What the region's earlier runs posted, per booking and (kind, month)."""
    l = invoice_lines  # noqa: E741
    rows = await conn.execute(
        sa.select(
            l.c.booking_id,
            l.c.charge_kind,
            l.c.month,
            sa.func.sum(l.c.days),
            sa.func.sum(l.c.amount_pence),
            sa.func.min(l.c.from_date),
            sa.func.max(l.c.to_date),
            sa.func.max(l.c.weekly_rate_pence),
        )
        .join(settlement_runs, settlement_runs.c.id == l.c.run_id)
        .where(settlement_runs.c.region == region)
        .group_by(l.c.booking_id, l.c.charge_kind, l.c.month)
    )
    out: dict[str, dict[tuple[str, date], Posted]] = defaultdict(dict)
    for booking_id, kind, month, days, amount, start, end, rate in rows:
        out[booking_id][(kind, month)] = Posted(int(days), int(amount), start, end, int(rate))
    return out


async def _settle(conn: AsyncConnection, run: Any, now: datetime) -> int:
    region, period = run.region, run.period
    later = await conn.scalar(
        sa.select(sa.func.max(settlement_runs.c.period)).where(
            settlement_runs.c.region == region,
            settlement_runs.c.status == "completed",
            settlement_runs.c.period > period,
        )
    )
    if later is not None:
        raise conflict("period_closed", f"{region} is already settled up to {period_of(later)}.")
    until = next_month(period)
    issued_on = local_date(run.created_at)
    terms = await terms_by_version(conn, region)
    posted = await posted_lines(conn, region)
    b = bookings.c
    rows = await conn.execute(
        sa.select(
            *FACT_COLUMNS,
            b.child["ref"].astext.label("child_ref"),
        )
        .where(
            b.region == region,
            b.requester != b.owner,
            b.status.in_(sorted(CHARGED_STATUSES)),
            # once charged, a booking never leaves these statuses nor loses its rate (the
            # lifecycle has no way out of them): whatever was posted is compared here
            b.weekly_rate_pence.is_not(None),
            b.start_date < until,
        )
        .order_by(b.id)
    )
    # (seller, buyer) -> [(line, child_ref)]
    by_pair: dict[tuple[str, str], list[tuple[Line, str]]] = defaultdict(list)
    for r in rows:
        facts = booking_facts(r)
        due = lines_through(facts, terms.get(r.policy_version, terms[0]), until)
        for line in to_post(r.id, due, posted.get(r.id, {}), period):
            by_pair[(r.owner, r.requester)].append((line, r.child_ref or ""))
    return await _write(conn, run, by_pair, issued_on, now)


async def _write(
    conn: AsyncConnection,
    run: Any,
    by_pair: dict[tuple[str, str], list[tuple[Line, str]]],
    issued_on: date,
    now: datetime,
) -> int:
    region, period = run.region, run.period
    pairs = sorted(p for p, lines in by_pair.items() if lines)
    parties = {a for pair in pairs for a in pair}
    await ledger.ensure_accounts(conn, parties)
    seq = int(
        await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.max(invoices.c.seq), 0)).where(
                invoices.c.region == region
            )
        )
    )
    invoice_rows: list[dict[str, Any]] = []
    line_rows: list[tuple[Line, str, str]] = []  # (line, child_ref, invoice_id)
    for seller, buyer in pairs:
        seq += 1
        lines = by_pair[(seller, buyer)]
        invoice_id = new_id("inv")
        invoice_rows.append(
            dict(
                id=invoice_id,
                run_id=run.id,
                region=region,
                period=period,
                seller=seller,
                buyer=buyer,
                seq=seq,
                number=invoice_number(region, period, seq),
                issued_on=issued_on,
                line_count=len(lines),
                total_pence=sum(line.amount_pence for line, _ in lines),
                created_at=now,
            )
        )
        line_rows.extend((line, ref, invoice_id) for line, ref in lines)
    driver = await ledger.driver_of(conn)
    if invoice_rows:  # COPY, like the lines: a national month issues thousands
        columns = list(invoice_rows[0])
        await driver.copy_records_to_table(
            invoices.name,
            columns=columns,
            records=[tuple(row[c] for c in columns) for row in invoice_rows],
        )
    # one balanced entry per line that moves money
    charged = [(i, t) for i, t in enumerate(line_rows) if t[0].amount_pence != 0]
    seller_of = {row["id"]: (row["seller"], row["buyer"]) for row in invoice_rows}
    entries = [
        ledger.Entry(
            key=f"line:{run.id}:{line.booking_id}:{line.charge_kind}:{line.month:%Y-%m}",
            kind="charge",
            region=region,
            occurred_on=issued_on,
            run_id=run.id,
            legs=ledger.charge_legs(*seller_of[invoice_id], line.amount_pence),
        )
        for _, (line, _, invoice_id) in charged
    ]
    entry_ids = await ledger.post(conn, entries, now)
    entry_of = {i: entry_id for (i, _), entry_id in zip(charged, entry_ids, strict=True)}
    if line_rows:
        await driver.copy_records_to_table(
            invoice_lines.name,
            columns=[
                "invoice_id",
                "run_id",
                "booking_id",
                "child_ref",
                "kind",
                "charge_kind",
                "month",
                "from_date",
                "to_date",
                "days",
                "weekly_rate_pence",
                "amount_pence",
                "entry_id",
            ],
            records=[
                (
                    invoice_id,
                    run.id,
                    line.booking_id,
                    ref,
                    line.kind,
                    line.charge_kind,
                    line.month,
                    line.start,
                    line.end,
                    line.days,
                    line.weekly_rate_pence,
                    line.amount_pence,
                    entry_of.get(i),
                )
                for i, (line, ref, invoice_id) in enumerate(line_rows)
            ],
        )
    receivable: dict[str, int] = defaultdict(int)
    payable: dict[str, int] = defaultdict(int)
    for row in invoice_rows:
        receivable[row["seller"]] += row["total_pence"]
        payable[row["buyer"]] += row["total_pence"]
    nets = {a: receivable[a] - payable[a] for a in parties}
    if parties:
        await conn.execute(
            sa.insert(settlement_positions),
            [
                dict(
                    run_id=run.id,
                    authority=a,
                    receivable_pence=receivable[a],
                    payable_pence=payable[a],
                    net_pence=nets[a],
                )
                for a in sorted(parties)
            ],
        )
    transfers = settle(nets)
    if transfers:
        await conn.execute(
            sa.insert(settlement_transfers),
            [
                dict(run_id=run.id, seq=n, payer=t.from_, payee=t.to, amount_pence=t.amount_pence)
                for n, t in enumerate(transfers, start=1)
            ],
        )
    await conn.execute(
        sa.update(settlement_runs)
        .where(settlement_runs.c.id == run.id)
        .values(
            status="completed",
            error=None,
            finished_at=now,
            issued_on=issued_on,
            invoice_count=len(invoice_rows),
            line_count=len(line_rows),
            total_pence=sum(row["total_pence"] for row in invoice_rows),
        )
    )
    return len(line_rows)


# -- what the jobs look for ------------------------------------------------------------------


async def unfinished_runs(engine: AsyncEngine) -> list[str]:
    """Runs a lost job or a dead worker left behind: queued, running (its worker died: its
    transaction died with it), or failed with attempts left — oldest month first."""
    r = settlement_runs.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(r.id)
            .where(
                sa.or_(
                    r.status == "queued",
                    sa.and_(r.status == "running", r.attempts < MAX_STARTS),
                    sa.and_(r.status == "failed", r.attempts < MAX_ATTEMPTS),
                )
            )
            .order_by(r.region, r.period)
        )
        return [row.id for row in rows]


async def give_up_on_abandoned(engine: AsyncEngine, now: datetime) -> int:
    """Mark ``failed`` the runs whose worker died ``MAX_STARTS`` times (and that nobody is
    carrying out now), so that their status says so; an admin asks for them again."""
    r = settlement_runs.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(r.id, r.region).where(r.status == "running", r.attempts >= MAX_STARTS)
        )
        stuck = list(rows)
    given_up = 0
    for row in stuck:
        async with transaction(engine) as conn:
            if not await try_advisory(conn, "settlement", row.region):
                continue
            result = await conn.execute(
                sa.update(settlement_runs)
                .where(r.id == row.id, r.status == "running")
                .values(
                    status="failed",
                    finished_at=now,
                    error=f"abandoned: its worker died {MAX_STARTS} times while carrying it out",
                )
            )
            given_up += result.rowcount or 0
    return given_up


async def regions_to_settle(engine: AsyncEngine) -> list[str]:
    """Every region with bookings between two of its authorities."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(bookings.c.region)
            .where(bookings.c.requester != bookings.c.owner)
            .distinct()
            .order_by(bookings.c.region)
        )
        return [r.region for r in rows]


async def authorities_of(conn: AsyncConnection, region: str) -> list[str]:
    rows = await conn.execute(sa.select(authorities.c.slug).where(authorities.c.region == region))
    return [r.slug for r in rows]
