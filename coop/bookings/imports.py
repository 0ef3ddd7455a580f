"""Placements that already exist: ``POST /bookings/import`` and ``coop import-placements``.

When a cooperative starts, its councils already have children living in each other's homes
(and some placements are agreed outside the service). They are recorded here as bookings that
are ``active`` or ``ended``, with their agreed weekly rate, so that settlement charges them
like any other booking (SPEC §4, "Placements that already exist").

One function, :func:`import_placements`, serves the API (an admin of a region: ``coop:admin``)
and the command line (no principal: every row's requester and bed must lie in one region). It
is all or nothing:

- every row is checked, and a bad file is refused whole with a 422 that lists every bad row
  (``errors: [{row, field, code, detail}]``, row 1 = the first placement);
- then the homes of the beds are locked, in id order (``coop.db.locks``: the ``home`` lock, so
  imports, requests and moves on those homes are serial), and each row's hold is checked
  against the bookings that hold the bed and the earlier rows of the file, with the database's
  own rule (``HOLD_DURING``, the exclusion constraint ``ex_bookings_held_overlap``): an overlap
  is a 409 ``bed_held`` naming the row;
- then every booking and its ``imported`` event are written, in one transaction.

A row is recorded as a booking: ``urgency`` ``planned``, no void, ``actual_start_date`` =
``start_date``, ``status_reason`` ``imported``, the region's policy version in force, no price
breakdown (the rate is the agreed one). An ``ended`` row's ``notice_date`` defaults to its
``actual_end_date``.

The CSV layout of ``coop import-placements`` (:func:`rows_from_csv`) has the same fields,
the child's flattened into ``child_*`` columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coop import audit
from coop.auth.principal import Principal
from coop.bookings.csv_layout import CSV_COLUMNS, CSV_LISTS, CSV_OPTIONAL
from coop.bookings.schemas import MAX_IMPORT_ROWS, BookingOut, ImportRow
from coop.bookings.service import to_out
from coop.clock import Clock, local_date
from coop.db.locks import locking_home, waiting_for
from coop.db.schema import authorities, beds, booking_events, bookings, homes
from coop.db.session import transaction
from coop.edge import check_value
from coop.errors import FieldError, Problem, conflict, field_problem
from coop.idempotency import IdempotencyKey, claim, remember
from coop.ids import new_id
from coop.members.service import policy_at

#: the actor of an import from the command line
CLI_ACTOR = "cli"
REASON = "imported"


def _actor(principal: Principal | None) -> str:
    return CLI_ACTOR if principal is None else f"client:{principal.client_id}"


# -- the rows as they come -------------------------------------------------------------------


def decode_rows(values: Sequence[Any]) -> tuple[dict[int, ImportRow], list[FieldError]]:
    """The rows that are well formed (row number -> row), and every error of the others.

    ``values`` are :class:`ImportRow` (the API's body, decoded at the edge) or mappings; a
    mapping's text cells (a CSV's ``"12"``, ``"true"``) are read as the numbers and booleans
    they spell."""
    if not 1 <= len(values) <= MAX_IMPORT_ROWS:
        code = "too_short" if not values else "too_long"
        raise field_problem(
            [FieldError("body", code, f"must hold 1 to {MAX_IMPORT_ROWS} placements.")]
        )
    rows: dict[int, ImportRow] = {}
    errors: list[FieldError] = []
    for n, value in enumerate(values, start=1):
        if isinstance(value, ImportRow):
            rows[n] = value
            continue
        found = check_value(value, ImportRow, strict=False)
        if found:  # the whole row (``body`` to the edge) is the field ``row``
            errors.extend(
                FieldError("row" if e.field == "body" else e.field, e.code, e.detail, row=n)
                for e in found
            )
        else:
            rows[n] = msgspec.convert(value, ImportRow, strict=False)
    return rows, errors


def hold_of(row: ImportRow) -> tuple[date, date] | None:
    """The days ``[start, end)`` the row's booking holds its bed, as ``HOLD_DURING`` (the
    database's rule) computes them: an active placement from its start to its planned end, an
    ended one its occupied days (none, if it ended the day it started)."""
    if row.status == "active":
        return (row.start_date, row.end_date)
    if row.actual_end_date is not None and row.actual_end_date > row.start_date:
        return (row.start_date, row.actual_end_date)
    return None


def row_rules(row: ImportRow, today: date) -> list[FieldError]:
    """What a well-formed row must be besides its form: a placement that exists has started;
    an active one has no end yet; an ended one ended within its period, by today."""
    found: list[FieldError] = []
    if row.end_date <= row.start_date:
        found.append(FieldError("end_date", "invalid", "must be after start_date."))
    if row.start_date > today:
        found.append(
            FieldError(
                "start_date",
                "start_in_future",
                "A placement that exists has started: start_date is today or earlier.",
            )
        )
    if row.status == "active":
        found.extend(
            FieldError(
                name,
                "invalid",
                "An active placement has not ended: import it as ended, or end it afterwards "
                "(POST /bookings/{id}/end).",
            )
            for name in ("actual_end_date", "notice_date")
            if getattr(row, name) is not None
        )
        return found
    end = row.actual_end_date
    if end is None:
        found.append(
            FieldError("actual_end_date", "required", "is required for an ended placement.")
        )
    elif not row.start_date <= end <= row.end_date:
        found.append(
            FieldError("actual_end_date", "invalid", "must lie between start_date and end_date.")
        )
    elif end > today:
        found.append(
            FieldError(
                "actual_end_date",
                "invalid",
                "An ended placement ended today or earlier: import one that ends later as "
                "active, then end it (POST /bookings/{id}/end).",
            )
        )
    if row.notice_date is not None and row.notice_date > today:
        found.append(FieldError("notice_date", "invalid", "Notice is given today or earlier."))
    return found


# -- the facts the rows name -----------------------------------------------------------------


@dataclass(frozen=True)
class Bed:
    id: str
    home_id: str
    owner: str
    region: str


@dataclass(frozen=True)
class Named:
    """What the rows name, as the database has it: authorities (slug -> region) and beds."""

    authorities: dict[str, str]
    beds: dict[str, Bed]


async def _named(conn: AsyncConnection, rows: Mapping[int, ImportRow]) -> Named:
    slugs = sorted({r.requester for r in rows.values()})
    bed_ids = sorted({r.bed_id for r in rows.values()})
    found = await conn.execute(
        sa.select(authorities.c.slug, authorities.c.region).where(authorities.c.slug.in_(slugs))
    )
    by_slug = {r.slug: r.region for r in found}
    found = await conn.execute(
        sa.select(beds.c.id, beds.c.home_id, homes.c.owner, homes.c.region)
        .join(homes, homes.c.id == beds.c.home_id)
        .where(beds.c.id.in_(bed_ids))
    )
    return Named(by_slug, {r.id: Bed(r.id, r.home_id, r.owner, r.region) for r in found})


def _file_region(rows: Mapping[int, ImportRow], named: Named) -> str | None:
    """The region of a file imported from the command line: that of its first row's
    requester (or, if that is unknown, bed) that the database knows."""
    for n in sorted(rows):
        row = rows[n]
        if row.requester in named.authorities:
            return named.authorities[row.requester]
        if row.bed_id in named.beds:
            return named.beds[row.bed_id].region
    return None


def _errors(
    rows: Mapping[int, ImportRow], named: Named, region: str | None, today: date, *, yours: str
) -> list[FieldError]:
    """Every rule a well-formed row breaks. A bed of another region is refused exactly as a
    bed that does not exist (and an authority likewise): its existence is not the caller's
    to know."""
    errors: list[FieldError] = []
    for n in sorted(rows):
        row = rows[n]
        if region is None or named.authorities.get(row.requester) != region:
            errors.append(
                FieldError(
                    "requester", "unknown_authority", f"is not an authority of {yours}.", row=n
                )
            )
        bed = named.beds.get(row.bed_id)
        if region is None or bed is None or bed.region != region:
            errors.append(FieldError("bed_id", "unknown_bed", f"is not a bed of {yours}.", row=n))
        errors.extend(msgspec.structs.replace(e, row=n) for e in row_rules(row, today))
    return errors


def _whose(principal: Principal | None, region: str | None) -> str:
    if principal is not None:
        return "your region"
    return f"the file's region ({region})" if region else "any region"


async def check_rows(
    engine: AsyncEngine, principal: Principal, rows: Mapping[int, ImportRow], *, today: date
) -> list[FieldError]:
    """The rules of well-formed rows (row number -> row), for the edge to list them beside
    the malformed rows of the same body (``coop.edge.ROW_RULES``)."""
    async with engine.connect() as conn:
        named = await _named(conn, rows)
    return _errors(rows, named, principal.region, today, yours=_whose(principal, None))


# -- the import ------------------------------------------------------------------------------


async def _lock_homes(conn: AsyncConnection, home_ids: set[str]) -> None:
    """The ``home`` lock of every home the rows name, in id order (``coop.db.locks``)."""
    q = locking_home(sa.select(homes.c.id).where(homes.c.id.in_(sorted(home_ids)))).order_by(
        homes.c.id
    )
    async with waiting_for("home"):
        await conn.execute(q)


async def _check_holds(conn: AsyncConnection, rows: Mapping[int, ImportRow]) -> None:
    """409 ``bed_held`` naming the first row whose hold overlaps a booking holding the bed, or
    an earlier row of the file on the same bed. The homes are locked: nothing changes
    meanwhile (and the exclusion constraint would refuse what slipped through)."""
    holds = {n: h for n in sorted(rows) if (h := hold_of(rows[n])) is not None}
    if not holds:
        return
    first = min(h[0] for h in holds.values())
    last = max(h[1] for h in holds.values())
    held = await conn.execute(
        sa.select(bookings.c.id, bookings.c.bed_id, bookings.c.hold_during).where(
            bookings.c.bed_id.in_(sorted({rows[n].bed_id for n in holds})),
            bookings.c.hold_during.is_not(None),
            bookings.c.hold_during.op("&&")(sa.func.daterange(first, last, "[)")),
        )
    )
    existing: dict[str, list[tuple[date, date, str]]] = {}
    for b in held:
        existing.setdefault(b.bed_id, []).append((b.hold_during.lower, b.hold_during.upper, b.id))
    earlier: dict[str, list[tuple[date, date, int]]] = {}
    for n, (start, end) in holds.items():
        bed_id = rows[n].bed_id
        for lo, hi, booking_id in existing.get(bed_id, []):
            if start < hi and lo < end:
                raise conflict(
                    "bed_held",
                    f"Row {n}: another booking ({booking_id}) holds the bed over some of those "
                    "days. Nothing was imported.",
                    row=n,
                    bed_id=bed_id,
                    booking_id=booking_id,
                )
        for lo, hi, m in earlier.get(bed_id, []):
            if start < hi and lo < end:
                raise conflict(
                    "bed_held",
                    f"Row {n} overlaps row {m} on the same bed. Nothing was imported.",
                    row=n,
                    bed_id=bed_id,
                    other_row=m,
                )
        earlier.setdefault(bed_id, []).append((start, end, n))


def _booking(row: ImportRow, bed: Bed, version: int, now: datetime) -> dict[str, Any]:
    ended = row.status == "ended"
    return dict(
        id=new_id("bkg"),
        requester=row.requester,
        owner=bed.owner,
        region=bed.region,
        void_id=None,
        bed_id=bed.id,
        home_id=bed.home_id,
        child=msgspec.to_builtins(row.child),
        urgency="planned",
        start_date=row.start_date,
        end_date=row.end_date,
        max_weekly_price_pence=None,
        status=row.status,
        status_reason=REASON,
        decide_at=now,
        offered_at=None,
        offer_expires_at=None,
        weekly_rate_pence=row.weekly_rate_pence,
        # price_breakdown is left out: SQL NULL (a JSONB None would be the JSON null)
        policy_version=version,
        actual_start_date=row.start_date,
        actual_end_date=row.actual_end_date if ended else None,
        notice_date=(row.notice_date or row.actual_end_date) if ended else None,
        cancelled_on=None,
        created_at=now,
        updated_at=now,
    )


#: one statement for every row (batched by SQLAlchemy), the rows returned in row order
_INSERT = sa.insert(bookings).returning(*bookings.c, sort_by_parameter_order=True)


async def import_placements(
    engine: AsyncEngine,
    values: Sequence[ImportRow | Mapping[str, Any]],
    *,
    principal: Principal | None,
    clock: Clock,
    idem: IdempotencyKey | None = None,
) -> list[BookingOut]:
    """Record existing placements as bookings, all or nothing (see the module's doc).

    ``principal``: the region's admin (the API); ``None`` from the command line, where the
    file's region is its first known requester's. 422 lists every bad row; 409 ``bed_held``
    names the first row that overlaps a hold; 201's body is the bookings, in row order."""
    now = clock.now()
    today = local_date(now)
    rows, errors = decode_rows(values)
    async with transaction(engine) as conn:
        await claim(conn, idem)  # a retry replays, whatever the date is now
        named = await _named(conn, rows) if rows else Named({}, {})
        region = principal.region if principal is not None else _file_region(rows, named)
        errors.extend(_errors(rows, named, region, today, yours=_whose(principal, region)))
        if errors:
            raise field_problem(sorted(errors, key=lambda e: e.row or 0))
        assert region is not None
        await _lock_homes(conn, {named.beds[r.bed_id].home_id for r in rows.values()})
        await _check_holds(conn, rows)
        policy = await policy_at(conn, region, now)
        order = sorted(rows)
        values_of = [
            _booking(rows[n], named.beds[rows[n].bed_id], policy.version, now) for n in order
        ]
        created = (await conn.execute(_INSERT, values_of)).all()
        actor, authority = _actor(principal), principal.authority if principal else None
        await conn.execute(
            sa.insert(booking_events),
            [
                dict(
                    booking_id=b.id,
                    at=now,
                    actor=actor,
                    actor_authority=authority,
                    from_status=None,
                    to_status=b.status,
                    reason=REASON,
                    detail={"row": n},
                )
                for n, b in zip(order, created, strict=True)
            ],
        )
        out = [to_out(b) for b in created]
        await audit.record(  # an admin action (or the command line's): ids only, no child
            conn,
            region=region,
            authority=None,
            actor=principal,
            action="bookings.imported",
            subject=created[0].id if created else region,
            details={"rows": len(created), "booking_ids": [b.id for b in created]},
            at=now,
        )
        await remember(conn, idem, 201, out)
    return out


# -- the CSV twin ----------------------------------------------------------------------------


def _cell(column: str, text: str) -> Any:
    text = text.strip()
    if column in CSV_LISTS:
        return [item.strip() for item in text.split(";")]
    if column == "child_dols":
        return text.lower()
    return text


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """The rows of a CSV file as import rows (mappings of text cells), or a 422 naming what
    is wrong with the file's layout (its header, or a line with too many cells)."""
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    while lines and not any(cell.strip() for cell in lines[-1]):
        lines.pop()  # trailing blank lines
    if not lines:
        raise field_problem([FieldError("header", "required", "The file is empty.")])
    header = [h.strip() for h in lines[0]]
    errors = [
        FieldError(c, "required", "is a column the header must name.")
        for c in CSV_COLUMNS
        if c not in header
    ]
    errors += [
        FieldError(h or "header", "unknown_field", "is not a column of the import.")
        for h in header
        if h not in CSV_COLUMNS and h not in CSV_OPTIONAL
    ]
    errors += [
        FieldError(h, "invalid", "is named twice in the header.")
        for i, h in enumerate(header)
        if h in header[:i]
    ]
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(lines[1:], start=1):
        if len(line) > len(header):
            errors.append(
                FieldError(
                    "row",
                    "too_long",
                    f"has {len(line)} cells: the header names {len(header)} columns.",
                    row=n,
                )
            )
            continue
        cells = {h: c for h, c in zip(header, line, strict=False) if c.strip()}
        flat = {h: _cell(h, c) for h, c in cells.items()}
        row: dict[str, Any] = {k: v for k, v in flat.items() if not k.startswith("child_")}
        row["child"] = {
            k.removeprefix("child_"): v for k, v in flat.items() if k.startswith("child_")
        }
        rows.append(row)
    if errors:
        raise field_problem(errors)
    return rows


def as_csv_fields(problem: Problem) -> Problem:
    """A 422 of an import with the fields named as the CSV's columns (``child.age`` is
    ``child_age``; the body is the ``file``)."""
    if problem.status != 422 or "errors" not in problem.extra:
        return problem

    def column(field: str) -> str:
        if field.startswith("child."):
            return "child_" + field.removeprefix("child.")
        return "file" if field == "body" else field

    errors = [
        FieldError(column(e["field"]), e["code"], e["detail"], row=e.get("row"))
        for e in problem.extra["errors"]
    ]
    return field_problem(errors, problem.code)
