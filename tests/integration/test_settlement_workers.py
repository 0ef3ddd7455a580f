"""Exactly once, proven with real workers: two at once on the same run, and a `coop worker`
killed (SIGKILL) at random points of a large run, again and again.

Each test gets its own database (the workers run on the real clock, and must not touch the
session's data), seeded alike, so the ledger of a disturbed run is compared row for row with
the ledger of an undisturbed one.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coop.clock import Clock
from coop.db.schema import (
    invoice_lines,
    invoices,
    journal_entries,
    postings,
    settlement_positions,
    settlement_runs,
    settlement_transfers,
)
from coop.policy.charges import period_of
from coop.settlement.runs import execute_run, request_run
from coop.wakeups import Scheduler
from tests.settlement.seed import PERIOD, seed

REGION = "crash-test"
BOOKINGS = 3000
#: the crash test's run: large enough that a random point of it can be hit from outside
LARGE = 6000
KILLS = 20


@pytest.fixture
def worker_redis(other_redis: Callable[[int], str]) -> str:
    """Another Redis database than the session's: these workers must not take its jobs."""
    return other_redis(8)


async def _engine(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_size=8)


@pytest.fixture
async def engines() -> AsyncIterator[list[AsyncEngine]]:
    made: list[AsyncEngine] = []
    yield made
    for engine in made:
        await engine.dispose()


async def _seeded(
    url: str, engines: list[AsyncEngine], n: int = BOOKINGS
) -> tuple[AsyncEngine, str]:
    engine = await _engine(url)
    engines.append(engine)
    await seed(engine, REGION, bookings_n=n)
    run, created = await request_run(
        engine, None, REGION, period_of(PERIOD), clock=Clock(), scheduler=Scheduler(None)
    )
    assert created and run.status == "queued"
    return engine, run.id


async def ledger(engine: AsyncEngine) -> dict[str, Any]:
    """Everything a run wrote, without generated ids and clock times."""
    async with engine.connect() as conn:

        async def rows(q: sa.Select) -> list[tuple]:
            return sorted(tuple(r) for r in await conn.execute(q))

        l, i = invoice_lines.c, invoices.c  # noqa: E741
        return {
            "lines": await rows(
                sa.select(
                    i.number,
                    l.booking_id,
                    l.child_ref,
                    l.kind,
                    l.charge_kind,
                    l.month,
                    l.from_date,
                    l.to_date,
                    l.days,
                    l.weekly_rate_pence,
                    l.amount_pence,
                    l.entry_id.is_(None),
                ).join(invoices, i.id == l.invoice_id)
            ),
            "invoices": await rows(
                sa.select(
                    i.number, i.seller, i.buyer, i.seq, i.issued_on, i.line_count, i.total_pence
                )
            ),
            "accounts": await rows(
                sa.select(
                    postings.c.authority,
                    postings.c.account,
                    sa.func.sum(postings.c.amount_pence),
                    sa.func.count(),
                ).group_by(postings.c.authority, postings.c.account)
            ),
            "entries": await conn.scalar(sa.select(sa.func.count()).select_from(journal_entries)),
            "total": await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount_pence), 0))
            ),
            "positions": await rows(
                sa.select(
                    settlement_positions.c.authority,
                    settlement_positions.c.receivable_pence,
                    settlement_positions.c.payable_pence,
                    settlement_positions.c.net_pence,
                )
            ),
            "transfers": await rows(
                sa.select(
                    settlement_transfers.c.seq,
                    settlement_transfers.c.payer,
                    settlement_transfers.c.payee,
                    settlement_transfers.c.amount_pence,
                )
            ),
        }


async def _run(engine: AsyncEngine, run_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(sa.select(settlement_runs).where(settlement_runs.c.id == run_id))
        ).one()


async def _undisturbed(
    url: str, engines: list[AsyncEngine], n: int = BOOKINGS
) -> tuple[dict[str, Any], float]:
    engine, run_id = await _seeded(url, engines, n)
    began = time.perf_counter()
    outcome = await execute_run(engine, run_id, clock=Clock())
    took = time.perf_counter() - began
    assert outcome.status == "completed" and outcome.lines > n
    return await ledger(engine), took


async def test_four_workers_at_once_post_one_set_of_lines(new_database, engines) -> None:
    reference, _ = await _undisturbed(await asyncio.to_thread(new_database), engines)
    engine, run_id = await _seeded(await asyncio.to_thread(new_database), engines)
    # four attempts at once, each on its own connections: one posts, the others step aside
    others = [await _engine(engine.url.render_as_string(hide_password=False)) for _ in range(3)]
    engines.extend(others)
    outcomes = await asyncio.gather(
        *(execute_run(e, run_id, clock=Clock()) for e in [engine, *others])
    )
    posted = [o for o in outcomes if o.lines]
    assert len(posted) == 1, outcomes
    assert {o.status for o in outcomes} <= {"completed", "busy"}
    assert (await _run(engine, run_id)).status == "completed"
    assert await ledger(engine) == reference
    again = await execute_run(engine, run_id, clock=Clock())
    assert (again.status, again.lines) == ("completed", 0)
    assert await ledger(engine) == reference
    assert reference["total"] == 0


def _start_worker(db_url: str, redis_url: str, log: Any) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env.update(COOP_DATABASE_URL=db_url, COOP_REDIS_URL=redis_url, COOP_LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [sys.executable, "-m", "coop.cli", "worker"], env=env, stdout=log, stderr=log, cwd="/tmp"
    )


async def _until(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    """Wait on a condition of the database (polled every 10 ms), not on the clock; return
    what it answered."""
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _end_sessions_of_the_dead(engine: AsyncEngine) -> None:
    """PostgreSQL notices a dead client only when it next reads from its socket (a session
    waiting on a lock or committing does not): end the killed worker's sessions as it would,
    so that the next worker finds the region's lock free at once. Wait until they are gone:
    a session being ended still shows its last statement and holds its locks, and would be
    taken for the next worker's run (seen on a loaded machine)."""
    async with engine.connect() as conn:
        # in the select list, not the WHERE: only the rows the WHERE keeps are ended
        rows = await conn.execute(
            sa.text(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'coop'"
            )
        )
        ended = [pid for pid, _ in rows]
        await conn.commit()

    async def gone() -> bool:
        async with engine.connect() as conn:
            left = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": ended},
            )
        return left == 0

    await _until(gone, 30, "the killed worker's sessions to end")


#: points of a run, in order, as PostgreSQL shows the worker's transaction: the statement it
#: runs (or ran last, while the worker computes); the last is the run held at its end
POINTS = (
    ("reading what was posted", lambda q: "sum(invoice_lines.days)" in q),
    ("reading and pricing the bookings", lambda q: "FROM bookings" in q),
    ("opening accounts", lambda q: "ledger_accounts" in q),
    ("writing invoices", lambda q: q.startswith('COPY "invoices"')),
    ("writing journal entries", lambda q: q.startswith('COPY "journal_entries"')),
    ("writing postings", lambda q: q.startswith('COPY "postings"')),
    ("writing invoice lines", lambda q: q.startswith('COPY "invoice_lines"')),
    ("writing positions", lambda q: "settlement_positions" in q),
)


async def _point(engine: AsyncEngine) -> int | None:
    """How far the run under way has got (an index of POINTS), if one is under way."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT a.query FROM pg_stat_activity a JOIN pg_locks l "
                "ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted "
                "WHERE a.datname = current_database() AND a.application_name = 'coop'"
            )
        )
        reached = [i for (query,) in rows for i, (_, seen) in enumerate(POINTS) if seen(query)]
    return max(reached, default=None)


async def test_a_worker_killed_mid_run_leaves_the_ledger_of_an_undisturbed_run(
    new_database, engines, worker_redis, tmp_path
) -> None:
    reference, _ = await _undisturbed(await asyncio.to_thread(new_database), engines, LARGE)
    url = await asyncio.to_thread(new_database)
    engine, run_id = await _seeded(url, engines, LARGE)
    rnd = random.Random(int(os.environ.get("COOP_CRASH_SEED", "20261201")))
    hit: list[str] = []
    with (tmp_path / "worker.log").open("w") as log:
        async with engine.connect() as holder:
            # Hold back the run's last writes (its positions) while the workers are killed:
            # the run cannot complete, so every kill lands inside it.
            await holder.execute(sa.text("LOCK TABLE settlement_positions IN SHARE MODE"))
            for _ in range(KILLS):
                target = rnd.randrange(len(POINTS))
                worker = _start_worker(url, worker_redis, log)
                try:
                    # the worker's start-up sweep finds the run (queued, or left running by
                    # the worker killed before) and starts it again; kill it once the run
                    # has reached the point chosen at random (or a later one, if the
                    # chosen one went by between two looks)
                    async def reached(target: int = target) -> tuple[int] | None:
                        point = await _point(engine)
                        return (point,) if point is not None and point >= target else None

                    (point,) = await _until(reached, 60, f"the run to reach {POINTS[target][0]}")
                    hit.append(POINTS[point][0])
                finally:
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(timeout=30)
                await _end_sessions_of_the_dead(engine)
                # its transaction died with it: nothing of the run was posted
                row = await _run(engine, run_id)
                assert row.status == "running", row
                snapshot = await ledger(engine)
                assert snapshot["lines"] == [] and snapshot["entries"] == 0, row
                assert snapshot["total"] == 0
            await holder.rollback()
        # an undisturbed worker now: the retried run completes
        worker = _start_worker(url, worker_redis, log)
        try:

            async def done() -> bool:
                return (await _run(engine, run_id)).status == "completed"

            await _until(done, 120, "the retried run to complete")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    assert len(hit) == KILLS
    assert len(set(hit)) >= 4, hit  # killed at many points of the run, not one
    print("killed while", dict(collections.Counter(hit)))
    assert await ledger(engine) == reference
    assert (await _run(engine, run_id)).attempts == KILLS + 1
    again = await execute_run(engine, run_id, clock=Clock())
    assert (again.status, again.lines) == ("completed", 0)


async def test_the_cron_on_the_1st_opens_last_month_and_the_sweep_settles_it(
    new_database, engines
) -> None:
    from coop.clock import FrozenClock
    from coop.settlement.jobs import monthly_settlement, sweep_runs

    url = await asyncio.to_thread(new_database)
    engine = await _engine(url)
    engines.append(engine)
    await seed(engine, REGION, bookings_n=200)
    clock = FrozenClock(datetime(2026, 11, 1, 2, tzinfo=UTC))
    ctx = {"engine": engine, "clock": clock, "redis": None}
    assert await monthly_settlement(ctx) == 1
    async with engine.connect() as conn:
        [run] = (await conn.execute(sa.select(settlement_runs))).all()
    assert (run.region, run.period, run.status) == (REGION, PERIOD, "queued")
    assert await sweep_runs(ctx) == 1
    assert (await _run(engine, run.id)).status == "completed"
    settled = await ledger(engine)
    # the cron again (a second worker, a restart): the same run, nothing posted
    assert await monthly_settlement(ctx) == 1
    assert await sweep_runs(ctx) == 0
    assert await ledger(engine) == settled


async def test_a_failed_run_says_why_and_is_retried(new_database, engines) -> None:
    url = await asyncio.to_thread(new_database)
    engine, run_id = await _seeded(url, engines, 200)
    impatient = create_async_engine(
        url, connect_args={"server_settings": {"lock_timeout": "100ms"}}
    )
    engines.append(impatient)
    async with engine.connect() as blocker:
        # another session holds the invoices table: the run cannot write them, and fails
        await blocker.execute(sa.text("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(Exception):  # noqa: B017 (what the job raises is arq's business)
            await execute_run(impatient, run_id, clock=Clock())
        await blocker.rollback()
    row = await _run(engine, run_id)
    assert row.status == "failed" and row.attempts == 1
    assert row.error and "busy" in row.error.lower()
    assert (await ledger(engine))["lines"] == []
    done = await execute_run(engine, run_id, clock=Clock())  # what the sweep or arq's retry does
    assert done.status == "completed" and done.lines > 0
    row = await _run(engine, run_id)
    assert (row.status, row.attempts, row.error) == ("completed", 2, None)


async def test_coop_settle_settles_a_month_from_the_command_line(new_database, engines) -> None:
    import json

    url = await asyncio.to_thread(new_database)
    engine = await _engine(url)
    engines.append(engine)
    await seed(engine, REGION, bookings_n=200)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env.update(COOP_DATABASE_URL=url, COOP_REDIS_URL="redis://127.0.0.1:1/0")  # unused

    async def settle(period: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "coop.cli", "settle", "--region", REGION]
        return await asyncio.to_thread(
            subprocess.run, [*argv, "--period", period], env=env, capture_output=True, text=True
        )

    out = await settle(period_of(PERIOD))
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["status"] == "completed" and first["line_count"] > 200
    settled = await ledger(engine)
    again = await settle(period_of(PERIOD))  # the same run, nothing posted
    assert again.returncode == 0 and json.loads(again.stdout) == first
    assert await ledger(engine) == settled
    refused = await settle("2099-01")
    assert refused.returncode == 1 and "period_open" in refused.stderr


async def test_a_run_cancelled_by_its_jobs_timeout_is_failed_not_left_running(
    new_database, engines
) -> None:
    url = await asyncio.to_thread(new_database)
    engine, run_id = await _seeded(url, engines, 200)
    async with engine.connect() as blocker:
        await blocker.execute(sa.text("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE"))
        task = asyncio.create_task(execute_run(engine, run_id, clock=Clock()))

        async def waiting() -> bool:  # the run is stuck behind the lock
            async with engine.connect() as conn:
                return bool(
                    await conn.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_locks WHERE NOT granted "
                            "AND relation = 'invoices'::regclass"
                        )
                    )
                )

        await _until(waiting, 30, "the run to wait for the invoices table")
        task.cancel()  # what arq does when the job's timeout runs out
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.rollback()
    row = await _run(engine, run_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == "CancelledError"
    assert (await ledger(engine))["lines"] == []


async def test_a_run_whose_worker_keeps_dying_is_given_up_until_asked_again(
    new_database, engines
) -> None:
    from coop.settlement.jobs import sweep_runs_once
    from coop.settlement.runs import MAX_STARTS, unfinished_runs

    url = await asyncio.to_thread(new_database)
    engine, run_id = await _seeded(url, engines, 200)
    async with engine.begin() as conn:  # as if MAX_STARTS workers had died carrying it out
        await conn.execute(
            sa.update(settlement_runs)
            .where(settlement_runs.c.id == run_id)
            .values(status="running", attempts=MAX_STARTS)
        )
    assert await sweep_runs_once(engine, Clock()) == 0
    row = await _run(engine, run_id)
    assert row.status == "failed" and row.error.startswith("abandoned")
    assert await unfinished_runs(engine) == []
    assert (await ledger(engine))["lines"] == []
    # an admin asks again: queued, and carried out
    run, created = await request_run(
        engine, None, REGION, period_of(PERIOD), clock=Clock(), scheduler=Scheduler(None)
    )
    assert (created, run.status, run.attempts) == (False, "queued", 0)
    assert await sweep_runs_once(engine, Clock()) == 1
    assert (await _run(engine, run_id)).status == "completed"
