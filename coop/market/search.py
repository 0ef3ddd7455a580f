"""Void search: every filter of SPEC §5 in one SQL query, paginated by keyset.

The caller's weekly rate is computed in SQL (so ``max_weekly_price_pence`` filters before
pagination) by :func:`rate_sql`, a mirror of :func:`coop.policy.pricing.price`;
``tests/integration/test_search_price.py`` checks the two agree to the penny.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from coop.db.schema import beds, bookings, homes, voids
from coop.errors import invalid
from coop.market.schemas import HomeSummary, VoidHit
from coop.policy.document import Pricing
from coop.policy.pricing import price
from coop.policy.vocabulary import NEEDS, RISKS, ChildGender, Urgency, home_type_for
from coop.schemas import Page, check_limit, decode_cursor, encode_cursor

EARTH_RADIUS_KM = 6371.0088


class VoidQuery(msgspec.Struct, kw_only=True):
    region: str | None = None
    from_: date | None = None
    to: date | None = None
    age: int | None = None
    gender: ChildGender | None = None
    needs: list[str] = []
    risks: list[str] = []
    dols: bool | None = None
    max_weekly_price_pence: int | None = None
    near_lat: float | None = None
    near_lon: float | None = None
    within_km: float | None = None
    urgency: Urgency = "planned"
    home_id: str | None = None
    limit: int = 50
    cursor: str | None = None

    def check(self) -> None:
        if self.from_ and self.to and self.to <= self.from_:
            raise invalid("to", "to must be after from.")
        for name, codes, known in (("needs", self.needs, NEEDS), ("risks", self.risks, RISKS)):
            unknown = sorted(set(codes) - known)
            if unknown:
                listed = ", ".join(c or "(empty)" for c in unknown)
                raise invalid(name, f"Unknown {name} codes: {listed}.")
        if (self.near_lat is None) != (self.near_lon is None):
            raise invalid(
                "near_lon" if self.near_lon is None else "near_lat",
                "Give near_lat and near_lon together.",
            )
        if self.near_lat is not None and not -90 <= self.near_lat <= 90:
            raise invalid("near_lat", "near_lat must be between -90 and 90.")
        if self.near_lon is not None and not -180 <= self.near_lon <= 180:
            raise invalid("near_lon", "near_lon must be between -180 and 180.")
        if self.within_km is not None and self.near_lat is None:
            raise invalid("within_km", "within_km needs near_lat and near_lon.")
        if self.age is not None and not 0 <= self.age <= 25:
            raise invalid("age", "age must be between 0 and 25.")
        check_limit(self.limit)


def _half_up_bp(amount: Any, bp: int) -> Any:
    """SQL twin of ``apply_bp`` for non-negative bigint amounts.

    ``//``, not ``/``: SQLAlchemy 2 renders ``/`` on integers as a NUMERIC (true) division, which
    would carry half pennies from one step into the next and into ``max_weekly_price_pence``.
    """
    return (amount * (10_000 + bp) + 5_000) // 10_000


def home_type_sql(bed_count: Any) -> Any:
    """SQL twin of ``policy.vocabulary.home_type_for`` (a home with a void has a bed)."""
    return sa.case((bed_count == 1, "solo"), (bed_count == 2, "dual"), else_="multi")


def rate_sql(cost: Any, bed_count: Any, pricing: Pricing, *, membership: str, urgency: str) -> Any:
    """SQL twin of ``policy.pricing.price(...).weekly_rate_pence``."""
    c = pricing.ceiling_weekly_pence
    ceiling = sa.case(
        {"solo": c.solo, "dual": c.dual, "multi": c.multi}, value=home_type_sql(bed_count)
    )
    rate = sa.func.least(ceiling, _half_up_bp(sa.cast(cost, sa.BigInteger), pricing.margin_bp))
    if membership == "associate" and pricing.associate_surcharge_bp:
        rate = _half_up_bp(rate, pricing.associate_surcharge_bp)
    if urgency == "today" and pricing.emergency_premium_bp:
        rate = _half_up_bp(rate, pricing.emergency_premium_bp)
    return rate


def distance_sql(lat: float, lon: float) -> Any:
    """Great-circle (haversine) distance in km from (lat, lon) to the home."""
    dlat = sa.func.radians(homes.c.latitude - lat) / 2
    dlon = sa.func.radians(homes.c.longitude - lon) / 2
    a = sa.func.power(sa.func.sin(dlat), 2) + sa.func.cos(sa.func.radians(lat)) * sa.func.cos(
        sa.func.radians(homes.c.latitude)
    ) * sa.func.power(sa.func.sin(dlon), 2)
    return 2 * EARTH_RADIUS_KM * sa.func.asin(sa.func.sqrt(sa.func.least(1.0, a)))


def _cursor_key(cursor: str | None, *, near: bool) -> list[Any] | None:
    """The keyset of ``cursor``: ``[distance, id]`` when searching near a place, else ``[id]``.

    A cursor of the other shape (the search changed between pages) is a 422, not a 500.
    """
    after = decode_cursor(cursor)
    if after is None:
        return None
    if near:
        ok = (
            len(after) == 2
            and isinstance(after[0], int | float)
            and not isinstance(after[0], bool)
            and isinstance(after[1], str)
        )
    else:
        ok = len(after) == 1 and isinstance(after[0], str)
    if not ok:
        raise invalid(
            "cursor", "The cursor is not one this search gave out: start again without it."
        )
    return after


async def run(
    conn: AsyncConnection,
    q: VoidQuery,
    *,
    region: str,
    caller: str | None,
    membership: str,
    pricing: Pricing,
    today: date,
) -> Page[VoidHit]:
    q.check()
    all_beds = beds.alias("all_beds")  # the home's registered capacity decides its type
    bed_count = (
        sa.select(sa.func.count()).where(all_beds.c.home_id == homes.c.id).scalar_subquery()
    ).label("bed_count")
    rate = rate_sql(
        homes.c.weekly_cost_pence, bed_count, pricing, membership=membership, urgency=q.urgency
    )
    near = q.near_lat is not None and q.near_lon is not None
    distance = distance_sql(q.near_lat, q.near_lon) if near else sa.literal(None)  # type: ignore[arg-type]
    home_columns = [c.label(f"h_{c.name}") for c in homes.c]
    stmt = (
        sa.select(voids, *home_columns, bed_count, rate.label("rate"), distance.label("dist"))
        .select_from(
            voids.join(homes, homes.c.id == voids.c.home_id).join(beds, beds.c.id == voids.c.bed_id)
        )
        .where(
            homes.c.region == region,
            homes.c.status == "open",
            voids.c.status == "open",
            beds.c.status == "in_use",
            sa.or_(voids.c.available_until.is_(None), voids.c.available_until > today),
        )
    )
    if q.from_:
        stmt = stmt.where(
            voids.c.available_from <= q.from_,
            sa.or_(voids.c.available_until.is_(None), voids.c.available_until > q.from_),
        )
    if q.to:
        stmt = stmt.where(
            voids.c.available_from < q.to,
            sa.or_(voids.c.available_until.is_(None), voids.c.available_until >= q.to),
        )
    if q.from_ or q.to:
        # the bed must not be held (offered, confirmed, active) over the days asked for
        first = q.from_ or (q.to - timedelta(days=1))  # type: ignore[operator]
        last = q.to or (q.from_ + timedelta(days=1))  # type: ignore[operator]
        stmt = stmt.where(
            ~sa.exists().where(
                bookings.c.bed_id == voids.c.bed_id,
                bookings.c.hold_during.overlaps(sa.func.daterange(first, last, "[)")),
            )
        )
    if q.age is not None:
        stmt = stmt.where(homes.c.age_min <= q.age, homes.c.age_max >= q.age)
    if q.gender is not None:
        allowed = ["mixed"] + ([q.gender] if q.gender in ("male", "female") else [])
        stmt = stmt.where(homes.c.gender.in_(allowed))
    if q.needs:
        stmt = stmt.where(homes.c.needs_supported.contains(sorted(set(q.needs))))
    if q.risks:
        stmt = stmt.where(homes.c.risks_managed.contains(sorted(set(q.risks))))
    if q.dols:
        stmt = stmt.where(homes.c.accepts_dols.is_(True))
    if q.home_id:
        stmt = stmt.where(voids.c.home_id == q.home_id)
    if q.max_weekly_price_pence is not None:
        stmt = stmt.where(rate <= q.max_weekly_price_pence)
    if near and q.within_km is not None:
        stmt = stmt.where(distance <= q.within_km)

    after = _cursor_key(q.cursor, near=near)
    if near:
        if after:
            stmt = stmt.where(
                sa.tuple_(distance, voids.c.id) > sa.tuple_(float(after[0]), str(after[1]))
            )
        stmt = stmt.order_by(distance, voids.c.id)
    else:
        if after:
            stmt = stmt.where(voids.c.id > str(after[-1]))
        stmt = stmt.order_by(voids.c.id)
    rows = (await conn.execute(stmt.limit(q.limit + 1))).all()
    items = [
        _hit(r, caller=caller, membership=membership, urgency=q.urgency, pricing=pricing, near=near)
        for r in rows[: q.limit]
    ]
    nxt = None
    if len(rows) > q.limit:
        last = rows[q.limit - 1]
        nxt = encode_cursor([last.dist, last.id] if near else [last.id])
    return Page(items=items, next_cursor=nxt)


def _hit(
    row: sa.Row, *, caller: str | None, membership: str, urgency: str, pricing: Pricing, near: bool
) -> VoidHit:
    m = row._mapping
    home_type = home_type_for(row.bed_count)
    breakdown = price(
        weekly_cost_pence=m["h_weekly_cost_pence"],
        home_type=home_type,
        membership=membership,  # type: ignore[arg-type]
        urgency=urgency,  # type: ignore[arg-type]
        own_bed=caller == m["h_owner"],
        pricing=pricing,
    )
    return VoidHit(
        id=row.id,
        bed_id=row.bed_id,
        home_id=row.home_id,
        owner=m["h_owner"],
        available_from=row.available_from,
        available_until=row.available_until,
        notes=row.notes,
        status=row.status,
        published_at=row.published_at,
        home_priority_until=row.home_priority_until,
        withdrawn_at=row.withdrawn_at,
        home=HomeSummary(
            id=m["h_id"],
            name=m["h_name"],
            owner=m["h_owner"],
            district=m["h_district"],
            home_type=home_type,
            ofsted_rating=m["h_ofsted_rating"],
            operator=m["h_operator"],
            purpose=m["h_purpose"],
            age_min=m["h_age_min"],
            age_max=m["h_age_max"],
            gender=m["h_gender"],
            accepts_dols=m["h_accepts_dols"],
            needs_supported=list(m["h_needs_supported"]),
            risks_managed=list(m["h_risks_managed"]),
        ),
        weekly_rate_pence=int(row.rate),
        price_breakdown=breakdown,
        distance_km=round(float(row.dist), 1) if near else None,
    )
