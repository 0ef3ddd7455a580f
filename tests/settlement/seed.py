"""A large region built straight in SQL (not through the API): for the worker tests.

Deterministic for a seed: two databases seeded alike hold the same bookings, so the ledger
of a disturbed run can be compared with an undisturbed one row for row.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.db.schema import authorities, beds, bookings, homes

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)
PERIOD = date(2026, 10, 1)


def plan(region: str, n_bookings: int, n_authorities: int, seed: int) -> dict[str, list[dict]]:
    rnd = random.Random(seed)
    slugs = [f"{region}-la{i:02d}" for i in range(n_authorities)]
    out: dict[str, list[dict[str, Any]]] = {
        "authorities": [],
        "homes": [],
        "beds": [],
        "bookings": [],
    }
    for i, slug in enumerate(slugs):
        out["authorities"].append(
            dict(
                slug=slug,
                name=slug,
                gss_code=f"{region[-6:]}{i:03d}",
                region=region,
                membership="member",
            )
        )
    for i in range(n_bookings):
        owner = slugs[i % n_authorities]
        home_id, bed_id = f"hom_{region}_{i}", f"bed_{region}_{i}"
        out["homes"].append(
            dict(
                id=home_id,
                owner=owner,
                region=region,
                name=home_id,
                ofsted_urn=f"U{region}{i}",
                ofsted_rating="good",
                operator="in_house",
                purpose="long_term",
                district="x",
                latitude=52.0,
                longitude=0.5,
                age_min=8,
                age_max=17,
                gender="mixed",
                weekly_cost_pence=500_000,
            )
        )
        out["beds"].append(dict(id=bed_id, home_id=home_id, label="A"))
        own = rnd.random() < 0.1
        requester = (
            owner if own else slugs[(i + 1 + rnd.randrange(n_authorities - 1)) % n_authorities]
        )
        start = date(2026, 8, 1) + timedelta(days=rnd.randrange(90))
        end = start + timedelta(days=rnd.randrange(20, 200))
        row: dict[str, Any] = dict(
            id=f"bkg_{region}_{i:06d}",
            requester=requester,
            owner=owner,
            region=region,
            bed_id=bed_id,
            home_id=home_id,
            child={"ref": f"c-{i}", "age": 12},
            urgency="planned",
            start_date=start,
            end_date=end,
            status="active",
            decide_at=NOW,
            weekly_rate_pence=rnd.randrange(400_000, 850_000),
            policy_version=0,
            actual_start_date=None,
            actual_end_date=None,
            notice_date=None,
            cancelled_on=None,
            created_at=NOW,
            updated_at=NOW,
        )
        kind = rnd.random()
        if kind < 0.5:
            row["actual_start_date"] = start
        elif kind < 0.75:
            row["status"] = "ended"
            row["actual_start_date"] = start
            last = min(end, date(2026, 11, 1))
            span = (last - start).days
            row["actual_end_date"] = start + timedelta(days=rnd.randrange(0, span + 1))
            row["notice_date"] = max(
                start, row["actual_end_date"] - timedelta(days=rnd.randrange(21))
            )
        elif kind < 0.85:
            row["status"] = "cancelled"
            row["cancelled_on"] = start - timedelta(days=rnd.randrange(14))
        else:
            row["status"] = "confirmed"
        out["bookings"].append(row)
    return out


async def seed(
    engine: AsyncEngine,
    region: str,
    *,
    bookings_n: int,
    authorities_n: int = 20,
    seed_value: int = 7,
) -> None:
    data = plan(region, bookings_n, authorities_n, seed_value)
    async with engine.begin() as conn:
        for table, rows in (
            (authorities, data["authorities"]),
            (homes, data["homes"]),
            (beds, data["beds"]),
            (bookings, data["bookings"]),
        ):
            await conn.execute(sa.insert(table), rows)
