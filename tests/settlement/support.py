"""Placements made through the API on a clock the test moves, and settling them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from coop.context import Coop
from coop.db.schema import (
    invoice_lines,
    invoices,
    journal_entries,
    payments,
    postings,
    settlement_positions,
    settlement_runs,
    settlement_transfers,
)
from coop.policy.charges import Booking, Terms, lines_through
from coop.settlement.runs import execute_run
from tests.support import Actor, Region, child, count


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class Market:
    """A fresh region whose clock starts on ``start``: a seller with a home, buyers."""

    def __init__(self, http: httpx.AsyncClient, coop: Coop, region: Region) -> None:
        self.http, self.coop, self.region = http, coop, region
        self.home: dict[str, Any] = {}

    @classmethod
    async def open(
        cls, http: httpx.AsyncClient, coop: Coop, start: date, *, beds: int = 4, cost: int = 500_000
    ) -> Market:
        coop.clock.set(at(start))  # type: ignore[attr-defined]
        region = await Region.create(http, coop)
        m = cls(http, coop, region)
        m.seller = await region.authority("seller")
        m.buyer = await region.authority("buyer")
        m.home = await region.home(
            m.seller,
            beds=[{"label": f"B{i}"} for i in range(beds)],
            weekly_cost_pence=cost,
        )
        return m

    def move_to(self, day: date, hour: int = 12) -> None:
        self.coop.clock.set(at(day, hour))  # type: ignore[attr-defined]

    async def relog(self) -> None:
        """Fresh tokens for every actor of the region (tokens live 90 days of the clock)."""
        for actor in [self.region.admin, *self.region.actors.values()]:
            r = await self.http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(actor.client_id, actor.secret),
            )
            assert r.status_code == 200, r.text
            actor.token = r.json()["access_token"]

    @property
    def today(self) -> date:
        return self.coop.clock.today()

    async def place(
        self,
        bed: int,
        end: date,
        *,
        buyer: Actor | None = None,
        ref: str = "case-1",
        arrive: bool = True,
        home: dict[str, Any] | None = None,
        seller: Actor | None = None,
    ) -> dict[str, Any]:
        """A `today` placement on bed ``bed`` (of ``home``, the market's by default) from
        today to ``end``, accepted (and arrived). A ``buyer`` that owns the bed asks for it by
        ``bed_id``: its own placement."""
        buyer = buyer or self.buyer
        seller = seller or self.seller
        bed_id = (home or self.home)["beds"][bed]["id"]
        if buyer is seller:
            where: dict[str, Any] = {"bed_id": bed_id}
        else:
            where = {"void_id": (await self.region.void(seller, bed_id))["id"]}
        r = await self.http.post(
            "/bookings",
            json={
                **where,
                "child": child(ref=ref),
                "urgency": "today",
                "start_date": self.today.isoformat(),
                "end_date": end.isoformat(),
            },
            headers=buyer.h,
        )
        assert r.status_code == 201 and r.json()["status"] == "offered", r.text
        b = r.json()
        r = await self.http.post(f"/bookings/{b['id']}/accept", headers=seller.h)
        assert r.status_code == 200, r.text
        if arrive:
            r = await self.http.post(
                f"/bookings/{b['id']}/start",
                json={"date": self.today.isoformat()},
                headers=seller.h,
            )
            assert r.status_code == 200, r.text
        return r.json()

    async def no_home_window(self) -> None:
        """Let the region's policy offer a void to anyone at once (``home_window: PT0S``), so
        a ``planned`` or ``within_5_days`` request is decided in the request. Voids published
        after this carry no home priority."""
        r = await self.http.put(
            f"/regions/{self.region.slug}/policy",
            json={"priority": {"home_window": "PT0S"}},
            headers=self.region.admin.h,
        )
        assert r.status_code == 200, r.text

    async def book(
        self,
        bed: int,
        start: date,
        end: date,
        *,
        urgency: str = "planned",
        buyer: Actor | None = None,
        ref: str = "case-1",
        home: dict[str, Any] | None = None,
        seller: Actor | None = None,
    ) -> dict[str, Any]:
        """A request for ``[start, end)`` on bed ``bed``, offered at once and accepted: a
        ``confirmed`` booking (needs :meth:`no_home_window` unless ``urgency`` is today)."""
        buyer = buyer or self.buyer
        seller = seller or self.seller
        bed_id = (home or self.home)["beds"][bed]["id"]
        void = await self.region.void(seller, bed_id)
        r = await self.http.post(
            "/bookings",
            json={
                "void_id": void["id"],
                "child": child(ref=ref),
                "urgency": urgency,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
            },
            headers=buyer.h,
        )
        assert r.status_code == 201 and r.json()["status"] == "offered", r.text
        r = await self.http.post(f"/bookings/{r.json()['id']}/accept", headers=seller.h)
        assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
        return r.json()

    async def cancel(self, booking: dict[str, Any], by: Actor | None = None) -> dict[str, Any]:
        r = await self.http.post(
            f"/bookings/{booking['id']}/cancel", json={}, headers=(by or self.buyer).h
        )
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        return r.json()

    async def end(
        self,
        booking: dict[str, Any],
        day: date,
        notice: date | None = None,
        *,
        by: Actor | None = None,
    ) -> dict:
        body: dict[str, Any] = {"date": day.isoformat(), "reason": "moved on"}
        if notice:
            body["notice_date"] = notice.isoformat()
        r = await self.http.post(
            f"/bookings/{booking['id']}/end", json=body, headers=(by or self.buyer).h
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def booking(self, booking: dict[str, Any], by: Actor | None = None) -> dict[str, Any]:
        r = await self.http.get(f"/bookings/{booking['id']}", headers=(by or self.seller).h)
        assert r.status_code == 200, r.text
        return r.json()

    async def settle(self, period: str, expect: int = 201) -> dict[str, Any]:
        """Ask for the run (as the region's admin) and carry it out as the worker would."""
        h = self.region.admin.h
        r = await self.http.post(
            "/settlement-runs", json={"region": self.region.slug, "period": period}, headers=h
        )
        assert r.status_code == expect, r.text
        await execute_run(self.coop.engine, r.json()["id"], clock=self.coop.clock)
        r = await self.http.get(f"/settlement-runs/{r.json()['id']}", headers=h)
        assert r.status_code == 200, r.text
        return r.json()

    async def invoices(self, run: dict[str, Any], actor: Actor | None = None) -> list[dict]:
        actor = actor or self.region.admin
        r = await self.http.get(f"/invoices?run_id={run['id']}&limit=200", headers=actor.h)
        assert r.status_code == 200, r.text
        return r.json()["items"]


def days(n: int) -> timedelta:
    return timedelta(days=n)


def facts(b: dict[str, Any]) -> Booking:
    """A booking's JSON as the plain facts :mod:`coop.policy.charges` charges."""

    def d(key: str) -> date | None:
        return date.fromisoformat(b[key]) if b.get(key) else None

    return Booking(
        id=b["id"],
        requester=b["requester"],
        owner=b["owner"],
        status=b["status"],
        start_date=date.fromisoformat(b["start_date"]),
        end_date=date.fromisoformat(b["end_date"]),
        actual_start_date=d("actual_start_date"),
        actual_end_date=d("actual_end_date"),
        notice_date=d("notice_date"),
        cancelled_on=d("cancelled_on"),
        weekly_rate_pence=b.get("weekly_rate_pence"),
    )


def due_by_pair(bookings: list[dict[str, Any]], until: date) -> dict[tuple[str, str], int]:
    """An independent recomputation: pence due per (seller, buyer) for the days before
    ``until``, from :func:`coop.policy.charges.lines_through` per booking."""
    out: dict[tuple[str, str], int] = {}
    for b in bookings:
        for line in lines_through(facts(b), Terms(), until):
            pair = (b["owner"], b["requester"])
            out[pair] = out.get(pair, 0) + line.amount_pence
    return {pair: total for pair, total in out.items() if total}


LEDGER_TABLES = (
    settlement_runs,
    invoices,
    invoice_lines,
    journal_entries,
    postings,
    payments,
    settlement_positions,
    settlement_transfers,
)


async def snapshot(coop: Coop) -> dict[str, int]:
    """Row counts of every settlement table (the whole database: tests run one at a time)."""
    return {t.name: await count(coop, t) for t in LEDGER_TABLES}


async def ledger_total(coop: Coop) -> int:
    async with coop.engine.connect() as conn:
        return int(
            await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount_pence), 0)))
        )


async def unbalanced_entries(coop: Coop) -> list[Any]:
    """Entries whose postings do not sum to zero, or that have fewer than two."""
    e, p = journal_entries.c, postings.c
    async with coop.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(e.id, sa.func.coalesce(sa.func.sum(p.amount_pence), 0), sa.func.count(p.id))
            .select_from(journal_entries.outerjoin(postings, p.entry_id == e.id))
            .group_by(e.id)
            .having(
                sa.or_(
                    sa.func.coalesce(sa.func.sum(p.amount_pence), 0) != 0,
                    sa.func.count(p.id) < 2,
                )
            )
        )
        return list(rows)


async def assert_ledger_balanced(coop: Coop) -> None:
    assert await ledger_total(coop) == 0
    assert await unbalanced_entries(coop) == []


async def balance(coop: Coop, authority: str) -> int:
    """An authority's balance straight from the postings (receivable + payable)."""
    p = postings.c
    async with coop.engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(p.amount_pence), 0)).where(
                    p.authority == authority, p.account.in_(("receivable", "payable"))
                )
            )
        )
