"""Every registered bed is in exactly one state on every day, over random histories.

Each example builds one home in a fresh region straight in SQL, as its history happened:
beds created on different days, going in and out of use (through the triggers that keep
``bed_states``), the home closing and reopening, voids published and withdrawn, bookings in
every status — own placements, sold ones, imports with no void. Then for every day of the
window the capacity report must:

* put each registered bed in the state this test's own reading of the spec gives it;
* add its states up to ``registered`` (out of use + the five others);
and the weekly series over the window must equal the sum of its daily reports.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coop.db.schema import authorities, beds, bookings, homes, voids
from coop.reports.capacity import capacity_on, capacity_series
from coop.reports.scope import ReportView
from tests.support import unique

D0 = date(2026, 1, 5)  # a Monday: the weekly steps run Monday to Sunday
WINDOW = 35
REASONS = ["staffing", "ofsted_restriction", "matching", "maintenance"]
STATUSES = [
    "pending",
    "offered",
    "confirmed",
    "active",
    "ended",
    "declined",
    "withdrawn",
    "expired",
    "cancelled",
]
SEEN: Counter = Counter()


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


# -- a random history ---------------------------------------------------------------------------

day_offsets = st.integers(0, WINDOW - 1)


@st.composite
def bed_history(draw: Any) -> dict[str, Any]:
    created = draw(st.integers(0, 6))
    changes = sorted(
        draw(
            st.lists(
                st.tuples(st.integers(created, WINDOW), st.sampled_from([None, *REASONS])),
                max_size=3,
            )
        ),
        key=lambda change: change[0],
    )
    # bookings: disjoint spans for those that hold the bed, any span for the others
    cuts = sorted(set(draw(st.lists(st.integers(-5, WINDOW + 5), max_size=6))))
    held = []
    for a, b in zip(cuts[0::2], cuts[1::2], strict=False):
        if a < b:
            held.append((a, b, draw(st.sampled_from(["offered", "confirmed", "active", "ended"]))))
    loose = draw(
        st.lists(
            st.tuples(
                st.integers(-5, WINDOW),
                st.integers(1, 20),
                st.sampled_from(["pending", "declined", "withdrawn", "expired", "cancelled"]),
            ),
            max_size=2,
        )
    )
    v_from = draw(st.integers(-3, WINDOW))
    void = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "from": st.just(v_from),
                    "until": st.one_of(st.none(), st.integers(v_from + 1, WINDOW + 10)),
                    "published": st.integers(-3, v_from + 3),
                    "withdrawn": st.one_of(st.none(), st.integers(v_from - 2, WINDOW)),
                }
            ),
        )
    )
    return {
        "created": created,
        "changes": changes,
        "held": held,
        "loose": loose,
        "void": void,
        "own": draw(st.lists(st.booleans(), min_size=len(held) + 2, max_size=len(held) + 2)),
    }


histories = st.fixed_dictionaries(
    {
        "beds": st.lists(bed_history(), min_size=1, max_size=3),
        "closed": st.one_of(
            st.none(), st.tuples(st.integers(8, WINDOW), st.integers(0, 6))
        ),  # (closed on, reopened that many days later; 0: never)
    }
)


# -- building it ----------------------------------------------------------------------------------


def _booking(i: str, region: str, owner: str, requester: str, bed: str, home: str) -> dict:
    return dict(
        id=f"bkg_{i}",
        requester=requester,
        owner=owner,
        region=region,
        bed_id=bed,
        home_id=home,
        child={"ref": f"c-{i}", "age": 12},
        urgency="planned",
        decide_at=noon(D0),
        weekly_rate_pence=500_000,
        policy_version=0,
        created_at=noon(D0),
        updated_at=noon(D0),
    )


def _dates(status: str, a: date, b: date) -> dict[str, Any]:
    """Columns that make a booking of ``status`` hold exactly ``[a, b)`` (when it holds)."""
    if status in ("offered", "confirmed"):
        return dict(start_date=a, end_date=b)
    if status == "active":  # arrived on a, a day late: [a - 1, a) was reserved for it
        return dict(start_date=a - timedelta(days=1), end_date=b, actual_start_date=a)
    if status == "ended":  # left on b, planned to stay longer
        return dict(
            start_date=a, end_date=b + timedelta(days=9), actual_start_date=a, actual_end_date=b
        )
    return dict(start_date=a, end_date=b)


async def build(engine: Any, h: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Write the history in the order it happened; return the region and each bed's facts."""
    region, owner, other = unique("region"), unique("owner"), unique("other")
    home = f"hom_{unique('h')}"
    d = lambda n: D0 + timedelta(days=n)  # noqa: E731
    facts = []
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(authorities),
            [
                dict(slug=s, name=s, gss_code=unique("E")[-9:], region=region, membership="member")
                for s in (owner, other)
            ],
        )
        await conn.execute(
            sa.insert(homes).values(
                id=home, owner=owner, region=region, name="Home", ofsted_urn=unique("U")[-12:],
                ofsted_rating="good", operator="in_house", purpose="long_term", district="x",
                latitude=52.0, longitude=0.5, age_min=8, age_max=17, gender="mixed",
                weekly_cost_pence=500_000, created_at=noon(D0), updated_at=noon(D0),
            )
        )  # fmt: skip
        # every event of the home's life, in time order: (day, order, action)
        events: list[tuple[int, int, Any]] = []
        for n, bh in enumerate(h["beds"]):
            bed = f"bed_{home}_{n}"
            facts.append({"id": bed, **bh})
            events.append((bh["created"], 0, ("bed", bed, n)))
            for day, reason in bh["changes"]:
                events.append((day, 1, ("status", bed, reason)))
        if h["closed"]:
            closed_on, reopen_after = h["closed"]
            events.append((closed_on, 2, ("home", "closed")))
            if reopen_after:
                events.append((closed_on + reopen_after, 2, ("home", "open")))
        for day, _, action in sorted(events, key=lambda e: (e[0], e[1])):
            if action[0] == "bed":
                await conn.execute(
                    sa.insert(beds).values(
                        id=action[1], home_id=home, label=f"B{action[2]}",
                        created_at=noon(d(day)), updated_at=noon(d(day)),
                    )
                )  # fmt: skip
            elif action[0] == "status":
                reason = action[2]
                await conn.execute(
                    sa.update(beds)
                    .where(beds.c.id == action[1])
                    .values(
                        status="out_of_use" if reason else "in_use",
                        out_of_use_reason=reason,
                        updated_at=noon(d(day)),
                    )
                )
            else:
                await conn.execute(
                    sa.update(homes)
                    .where(homes.c.id == home)
                    .values(status=action[1], updated_at=noon(d(day)))
                )
        rows = []
        for f in facts:
            own = iter(f["own"])
            for k, (a, b, status) in enumerate(f["held"]):
                rows.append(
                    {
                        **_booking(f"{f['id']}_h{k}", region, owner,
                                   owner if next(own) else other, f["id"], home),
                        "status": status, **_dates(status, d(a), d(b)),
                    }
                )  # fmt: skip
            for k, (a, length, status) in enumerate(f["loose"]):
                rows.append(
                    {
                        **_booking(f"{f['id']}_l{k}", region, owner, other, f["id"], home),
                        "status": status,
                        **_dates(status, d(a), d(a + length)),
                        "cancelled_on": d(a) if status == "cancelled" else None,
                    }
                )
            v = f["void"]
            if v:
                await conn.execute(
                    sa.insert(voids).values(
                        id=f"void_{f['id']}", bed_id=f["id"], home_id=home,
                        available_from=d(v["from"]),
                        available_until=d(v["until"]) if v["until"] is not None else None,
                        status="withdrawn" if v["withdrawn"] is not None else "open",
                        published_at=noon(d(v["published"])),
                        home_priority_until=noon(d(v["published"])),
                        withdrawn_at=noon(d(v["withdrawn"])) if v["withdrawn"] is not None
                        else None,
                        policy_version=0,
                    )
                )  # fmt: skip
        for row in rows:
            full = {
                "actual_start_date": None,
                "actual_end_date": None,
                "cancelled_on": None,
                **row,
            }
            await conn.execute(sa.insert(bookings).values(**full))
    return region, facts


# -- the spec, read independently ------------------------------------------------------------------


def expected(h: dict[str, Any], f: dict[str, Any], n: int) -> tuple[str, str | None] | None:
    """What SPEC §5 makes of bed ``f`` on day ``n`` (None: not registered)."""
    if n < f["created"]:
        return None
    if h["closed"]:
        closed_on, reopen_after = h["closed"]
        if closed_on <= n and (not reopen_after or n < closed_on + reopen_after):
            return None
    reason = None
    for day, r in f["changes"]:
        if day <= n:
            reason = r
    if reason:
        return "out_of_use", reason
    own = iter(f["own"])
    for a, b, status in f["held"]:
        mine = next(own)
        if a <= n < b:
            if status in ("active", "ended"):
                return ("occupied_own" if mine else "occupied_sold"), None
            return "reserved", None
        if status == "active" and n == a - 1:  # planned a day before it arrived: held for it
            return "reserved", None
    v = f["void"]
    if v:
        start = max(v["from"], v["published"])
        ends = [e for e in (v["until"], v["withdrawn"]) if e is not None]
        if start <= n and (not ends or n < min(ends)):
            return "vacant_offered", None
    return "vacant_not_offered", None


FIVE = ("occupied_own", "occupied_sold", "reserved", "vacant_offered", "vacant_not_offered")


def test_every_bed_is_in_one_state_every_day(session_loop, coop) -> None:
    run = session_loop.run_until_complete

    @settings(
        max_examples=30,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(h=histories)
    def one_state(h: dict[str, Any]) -> None:
        region, facts = run(build(coop.engine, h))
        view = ReportView(region, None)
        daily = []
        for n in range(WINDOW):
            day = D0 + timedelta(days=n)
            report = run(capacity_on(coop.engine, view, day))
            t = report.totals
            want = Counter()
            for f in facts:
                state = expected(h, f, n)
                if state is not None:
                    want[state[0] if state[0] != "out_of_use" else f"out_of_use:{state[1]}"] += 1
                    SEEN[state[0]] += 1
            got = Counter({s: getattr(t, s) for s in FIVE})
            got.update({f"out_of_use:{r}": c for r, c in t.out_of_use.items()})
            assert +got == +want, (day, h)
            assert t.registered == sum(want.values())
            assert t.registered == t.operational + sum(t.out_of_use.values())
            assert t.operational == sum(getattr(t, s) for s in FIVE)
            daily.append(t)
        series = run(capacity_series(coop.engine, view, D0, D0 + timedelta(days=WINDOW), "week"))
        assert len(series.rows) == WINDOW // 7
        for k, step in enumerate(series.rows):
            days = daily[7 * k : 7 * k + 7]
            for field in ("registered", "operational", *FIVE):
                assert getattr(step, field) == sum(getattr(x, field) for x in days), field
            for r in REASONS:
                assert step.out_of_use[r] == sum(x.out_of_use[r] for x in days)

    one_state()
    for state in (*FIVE, "out_of_use"):
        assert SEEN[state], (state, SEEN)
