"""A council's placements through the cooperative as SSDA903 *Episodes* rows (SPEC §5).

The DfE's SSDA903 return ("children looked after") records each child's episodes of care:
one row per placement (or legal status) period, with the 13 columns of
:data:`EPISODE_COLUMNS`. The cooperative knows only the placements an authority made through
it, so it fills the placement's columns and leaves the rest to the council's case system,
which merges these rows into its own return.

Which placements: those the caller's authority requested (``requester``) through the
cooperative — offered a bed, so not a placement imported with ``POST /bookings/import``,
which existed before and is in the council's case system already — in its region, where a
child actually lived in the home during ``[from, to)``: status ``active`` or
``ended``, arrived (``actual_start_date``, else ``start_date``) before ``to``, and not yet
gone or gone on or after ``from`` (``actual_end_date`` is the day the child left, so an
episode ceasing on ``from`` is one of the range's). A placement ended on the day the child
arrived holds no night in the home (the bed's hold is empty) and is no episode: SSDA903 has
none shorter than 24 hours (DfE rule 355). Another council's placements — and so its
children — never appear.

The columns:

* ``CHILD``: the child's ``ref``, the council's own reference for the child.
* ``DECOM``: the day the child arrived, ``dd/mm/yyyy`` like every date of the return.
* ``RNE``, ``LS``, ``CIN``, ``HOME_POST``: blank — the reason for the new episode, the legal
  status, the category of need and the child's home postcode come from the council's case
  system, not the cooperative.
* ``PLACE``: ``K2``, "Children's homes subject to Children's Homes Regulations" (every home
  of the cooperative is a registered children's home).
* ``PLACE_PROVIDER``: ``PR1``, "Own provision (by the LA)", when the home's owner is the
  caller; ``PR2``, "Other LA provision", when it is another council's home.
* ``DEC``, ``REC``, ``REASON_PLACE_CHANGE``: only when the child left inside the range
  (the leaving day is before ``to``); blank when the episode is still open at the end of the
  range (rule 148: ``DEC`` and ``REC`` are both coded or both blank; rule 233:
  no ``REASON_PLACE_CHANGE`` on an episode that has not ceased).

  - ``DEC``: the leaving day (``actual_end_date``; the child's last night was the day before).
  - ``REC`` = ``E8``, "Period of being looked after ceased for any other reason (where none
    of the other reasons apply)". The cooperative knows the child left this home, not where
    to, nor whether the child is still looked after; every other ``E`` code asserts an
    outcome it does not know (adopted, returned home, a special guardianship order, moved
    into independent living, custody...), and ``X1`` ("Episode ceases, and new episode
    begins on same day, for any reason") claims a continuation episode, which the DfE's rule
    388 requires to be in the return. ``E8`` is the DfE's own code for "none of the others".
    One exception, where the cooperative does know the rest: when the same child (the same
    ``ref``) moved the same day into another of the council's placements through the
    cooperative, that placement is the next row, and the episode ceases with ``X1`` — rule
    388 rejects an ``E8`` (a child who left care) followed by an episode starting that day.
    Where the child moved on elsewhere, the council replaces ``E8`` with ``X1`` when it adds
    the next episode from its case system.
  - ``REASON_PLACE_CHANGE`` = ``OTHER``, "Other" — the catch-all of the reasons for a
    placement change (``CARPL`` change to/implementation of care plan, ``CLOSE``
    resignation/closure of provision, ``ALLEG`` allegation (s47), ``STAND`` standards of care
    concern, ``APPRR`` approval removed, ``CREQB``/``CREQO`` carer(s) requested the end
    because of/other than the child's behaviour, ``CHILD`` child requested the end,
    ``LAREQ`` responsible/area authority requested the end, ``PLACE`` change in the status of
    placement only, ``CUSTOD`` custody arrangement): the end's free-text reason is no code.
    Rule 1009 accepts it, and rule 225 requires a reason on an ``X1`` episode followed by a
    placement change (``RNE`` ``P``, ``B``, ``T`` or ``U``): it is already there when the
    council recodes ``X1``.
* ``PL_POST``: the home's postcode (blank when the home has none recorded).
* ``URN``: the home's Ofsted unique reference number.

``tests/reports/test_ssda903.py`` runs the DfE's rules, as the ``csc-validator-be-903``
package implements them, on an export (code lists: 146 ``PLACE``, 178 ``PLACE_PROVIDER``,
149 ``REC``, 1009 ``REASON_PLACE_CHANGE``; 148 and 388 for ``DEC``/``REC``; 225 for the
reason; 218, 1008, 219, 221, 224 and 229 for ``URN`` against Ofsted's list, ``PL_POST`` and
``PR1``/``PR2``; 392c for real postcodes), and checks rule 233 by hand (the package's
version reads a column no table has).

Rows are sorted by ``CHILD``, then ``DECOM`` (then the booking, for a stable order).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.auth.principal import Principal, require_authority
from coop.db.schema import bookings, homes
from coop.reports.scope import check_range

EPISODE_COLUMNS = [
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
]

#: children's homes subject to Children's Homes Regulations
PLACE = "K2"
#: own provision (by the local authority)
OWN_PROVISION = "PR1"
#: other local authority provision
OTHER_LA_PROVISION = "PR2"
#: period of being looked after ceased for any other reason (the cooperative knows no more)
REC_LEFT = "E8"
#: episode ceases, and new episode begins on same day (the child's next placement, here)
REC_MOVED = "X1"
#: other
REASON_PLACE_CHANGE_LEFT = "OTHER"

#: statuses in which the child lives (``active``) or lived (``ended``) in the home
LIVED = ("active", "ended")


def ssda903_date(day: date) -> str:
    """A date as the return writes it: ``dd/mm/yyyy``."""
    return day.strftime("%d/%m/%Y")


def _query(region: str, authority: str, start: date, end: date) -> Any:
    k, h = bookings.c, homes.c
    arrival = sa.func.coalesce(k.actual_start_date, k.start_date)
    return (
        sa.select(
            k.id,
            k.child["ref"].astext.label("ref"),
            arrival.label("arrival"),
            k.status,
            k.actual_end_date,
            h.owner,
            h.ofsted_urn,
            h.postcode,
        )
        .join(homes, h.id == k.home_id)
        .where(
            k.region == region,
            k.requester == authority,
            k.status.in_(LIVED),
            # made through the cooperative: offered a bed (an imported placement never was;
            # the council's case system holds it already)
            k.offered_at.is_not(None),
            arrival < end,
            sa.or_(
                k.status == "active",
                # left in or after the range, and stayed at least a night
                sa.and_(k.actual_end_date >= start, k.actual_end_date > arrival),
            ),
        )
    )


def episode_row(row: Any, authority: str, end: date, starts: set[tuple[str, date]]) -> list[object]:
    """One placement as the 13 cells of :data:`EPISODE_COLUMNS`; ``starts`` holds the
    (child, arrival) of every row of the export."""
    left = row.actual_end_date if row.status == "ended" else None
    ceased = left is not None and left < end
    rec = REC_MOVED if (row.ref, left) in starts else REC_LEFT
    return [
        row.ref,
        ssda903_date(row.arrival),
        "",  # RNE
        "",  # LS
        "",  # CIN
        PLACE,
        OWN_PROVISION if row.owner == authority else OTHER_LA_PROVISION,
        ssda903_date(left) if ceased else "",  # DEC
        rec if ceased else "",
        REASON_PLACE_CHANGE_LEFT if ceased else "",
        "",  # HOME_POST
        row.postcode or "",
        row.ofsted_urn,
    ]


async def episodes(
    engine: AsyncEngine, principal: Principal, start: date, end: date
) -> tuple[list[str], list[list[object]], str]:
    """The caller's placements lived in ``[start, end)`` as SSDA903 Episodes rows: the
    header, the rows and the file's name. A region-level client is a 403
    ``authority_required``: the return is one authority's."""
    authority = require_authority(principal)  # who may ask comes before what is asked
    check_range(start, end)
    async with engine.connect() as conn:
        found = list(await conn.execute(_query(principal.region, authority, start, end)))
    found.sort(key=lambda r: (r.ref, r.arrival, r.id))
    starts = {(r.ref, r.arrival) for r in found}
    rows = [episode_row(r, authority, end, starts) for r in found]
    return list(EPISODE_COLUMNS), rows, f"ssda903-episodes-{authority}-{start}-{end}.csv"
