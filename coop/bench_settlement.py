"""``coop bench settlement``: a national month of placements, settled through the worker.

What it does, all on this machine:

1. creates a fresh database — on the configured server (``COOP_DATABASE_URL``: a new
   database beside the configured one, which it never touches, dropped at the end; the role
   needs ``CREATEDB``) or the embedded default in a temporary directory — and migrates it;
   Redis is the configured one (or the embedded one), with a queue of the bench's own;
2. builds a national-scale market **by bulk SQL (COPY), not through the API**: 9 regions of
   17 authorities, homes with 12,000 beds, 6,000 placements between two authorities of a
   region (active through the month, arriving mid-month, ended early with notice — some of it
   running into the next month —, ended at the planned end, cancelled within the notice or
   with enough notice, confirmed for next month, and ends recorded after their month was
   settled), each on its own bed, and own-authority placements (never charged);
3. settles the month before (the history a real month reads: what earlier runs posted), then
   the month, every region through a real arq worker (``build_worker(burst=True)``), timed
   from enqueueing the runs to the last one ``completed``;
4. asks for the month again (the completed runs come back, nothing is posted) and has the
   worker, given their jobs again, confirm there is nothing to do; then settles the next
   month with no booking changed (its placements post their next month's lines);
5. COPYs the rows the month posted (lines + entries + postings) into unlogged tables without
   index, constraint or trigger — the floor the month is compared to — and into tables
   shaped like the real ones (indexes, checks, foreign keys, the deferred balance trigger);
6. prints the figures and the command that reproduces them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from coop.bench import bench_database
from coop.settings import Settings

#: the nine English regions (more are numbered)
REGIONS = (
    "east-of-england",
    "east-midlands",
    "london",
    "north-east",
    "north-west",
    "south-east",
    "south-west",
    "west-midlands",
    "yorkshire-and-the-humber",
)

BEDS_PER_HOME = 4

#: the placements between two authorities, by kind, in fortieths (shuffled, deterministic)
MIX: tuple[tuple[str, int, str], ...] = (
    ("active", 17, "active through the month"),
    ("arrived", 6, "arrived mid-month"),
    ("next_month", 2, "confirmed, arriving next month"),
    ("ended_notice", 4, "ended early, notice within the month"),
    ("ended_notice_over", 4, "ended early, notice running into next month"),
    ("ended_planned", 2, "ended at the planned end"),
    ("cancelled_late", 2, "cancelled within the notice (charged)"),
    ("cancelled_early", 2, "cancelled with notice (not charged)"),
    ("corrected", 1, "ended last month, recorded after it was settled"),
)


def _month_before(d: date) -> date:
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


def default_month(today: date) -> date:
    """The month before last: the next month, which the bench also settles, has ended."""
    return _month_before(_month_before(today))


@dataclass
class Shape:
    regions: int
    authorities: int
    beds: int
    placements: int
    month: date

    @property
    def own(self) -> int:
        return self.placements // 10


@dataclass
class Built:
    regions: list[str]
    authorities: int
    homes: int
    beds: int
    kinds: Counter[str]
    own: int
    corrections: list[tuple[str, date]]  # (booking, actual end) recorded after the history
    seconds: float = 0.0


@dataclass
class MonthRun:
    period: str
    seconds: float  # enqueue -> every run completed
    worker_seconds: float  # enqueue -> the burst worker exited
    run_ids: list[str]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds until all completed
    stats: dict[str, Any] = field(default_factory=dict)


# -- the data, by bulk SQL --------------------------------------------------------------------


def _placement(kind: str, rng: random.Random, m0: date) -> dict[str, Any]:
    """Dates and status of one placement of ``kind`` around the month starting ``m0``."""
    prev = _month_before(m0)
    m1 = (m0 + timedelta(days=32)).replace(day=1)
    m2 = (m1 + timedelta(days=32)).replace(day=1)
    days = (m1 - m0).days
    b: dict[str, Any] = dict(
        actual_start_date=None, actual_end_date=None, notice_date=None, cancelled_on=None
    )
    if kind in ("active", "corrected"):
        start = prev + timedelta(days=rng.randint(0, 9 if kind == "corrected" else 27))
        b.update(status="active", start=start, end=m2 + timedelta(days=rng.randint(14, 300)))
        b["actual_start_date"] = start
    elif kind == "arrived":
        start = m0 + timedelta(days=rng.randint(1, days - 2))
        b.update(status="active", start=start, end=m2 + timedelta(days=rng.randint(14, 300)))
        b["actual_start_date"] = start
    elif kind == "next_month":
        start = m1 + timedelta(days=rng.randint(0, 20))
        b.update(status="confirmed", start=start, end=start + timedelta(days=rng.randint(28, 200)))
    elif kind == "ended_notice":  # planned end inside the month caps the notice
        start = prev + timedelta(days=rng.randint(0, 20))
        end = m0 + timedelta(days=rng.randint(20, days - 1))
        left = end - timedelta(days=rng.randint(5, 12))
        b.update(status="ended", start=start, end=end, actual_start_date=start)
        b.update(actual_end_date=left, notice_date=left - timedelta(days=rng.randint(0, 3)))
    elif kind == "ended_notice_over":  # notice + 28 days runs past the month's end
        start = prev + timedelta(days=rng.randint(0, 20))
        left = m0 + timedelta(days=rng.randint(12, days - 2))
        b.update(status="ended", start=start, end=m2 + timedelta(days=rng.randint(14, 200)))
        b.update(actual_start_date=start, actual_end_date=left)
        b["notice_date"] = left - timedelta(days=rng.randint(0, 7))
    elif kind == "ended_planned":
        start = prev + timedelta(days=rng.randint(0, 20))
        end = m0 + timedelta(days=rng.randint(3, days - 1))
        b.update(status="ended", start=start, end=end, actual_start_date=start)
        b["actual_end_date"] = end
    elif kind in ("cancelled_late", "cancelled_early"):
        start = m0 + timedelta(days=rng.randint(2, days - 3))
        before = rng.randint(0, 6) if kind == "cancelled_late" else rng.randint(7, 40)
        b.update(status="cancelled", start=start, end=start + timedelta(days=rng.randint(28, 120)))
        b["cancelled_on"] = start - timedelta(days=before)
    else:
        raise ValueError(kind)
    return b


async def build_market(conn: Any, shape: Shape) -> Built:
    """COPY authorities, homes, beds and bookings (``conn``: asyncpg, in a transaction)."""
    started = time.perf_counter()
    names = [REGIONS[r] if r < len(REGIONS) else f"region-{r + 1}" for r in range(shape.regions)]
    per = max(2, shape.authorities // shape.regions)
    members = [[f"{region}-{k + 1:02d}" for k in range(per)] for region in names]
    region_of = {slug: names[r] for r, slugs in enumerate(members) for slug in slugs}
    order = [slug for slugs in members for slug in slugs]
    await conn.copy_records_to_table(
        "authorities",
        columns=["slug", "name", "gss_code", "region", "membership"],
        records=[
            (slug, slug.replace("-", " ").title(), f"E9{n:07d}", region_of[slug], "member")
            for n, slug in enumerate(order)
        ],
    )
    homes = -(-shape.beds // BEDS_PER_HOME)
    owner_of = [order[h % len(order)] for h in range(homes)]
    await conn.copy_records_to_table(
        "homes",
        columns=[
            "id",
            "owner",
            "region",
            "name",
            "ofsted_urn",
            "ofsted_rating",
            "operator",
            "purpose",
            "district",
            "latitude",
            "longitude",
            "age_min",
            "age_max",
            "gender",
            "weekly_cost_pence",
        ],
        records=[
            (
                f"hom_bench{h:06d}",
                owner_of[h],
                region_of[owner_of[h]],
                f"Home {h}",
                f"SB{h:07d}",
                "good",
                "in_house",
                "long_term",
                "Bench",
                52.2,
                0.1,
                8,
                17,
                "mixed",
                500_000 + 1_000 * (h % 50),
            )
            for h in range(homes)
        ],
    )
    await conn.copy_records_to_table(
        "beds",
        columns=["id", "home_id", "label"],
        records=[
            (f"bed_bench{n:06d}", f"hom_bench{n // BEDS_PER_HOME:06d}", str(n % BEDS_PER_HOME))
            for n in range(shape.beds)
        ],
    )
    if shape.placements + shape.own > shape.beds:
        raise SystemExit(
            f"{shape.placements} placements and {shape.own} own-authority ones need as many "
            f"beds (one each): --beds {shape.beds} is too few"
        )
    pattern = [kind for kind, share, _ in MIX for _ in range(share)]
    rng = random.Random(20261001)
    rng.shuffle(pattern)
    kinds: Counter[str] = Counter()
    corrections: list[tuple[str, date]] = []
    records = []
    for n in range(shape.placements + shape.own):
        own = n >= shape.placements
        kind = "active" if own else pattern[n % len(pattern)]
        home = n // BEDS_PER_HOME
        owner = owner_of[home]
        region = region_of[owner]
        if own:
            requester = owner
        else:  # another authority of the owner's region
            slugs = members[names.index(region)]
            requester = slugs[(slugs.index(owner) + 1 + n % (len(slugs) - 1)) % len(slugs)]
            kinds[kind] += 1
        b = _placement(kind, rng, shape.month)
        booking_id = f"bkg_bench{n:06d}"
        if kind == "corrected" and not own:
            start = b["actual_start_date"]
            corrections.append((booking_id, start + timedelta(days=rng.randint(5, 15))))
        records.append(
            (
                booking_id,
                requester,
                owner,
                region,
                f"bed_bench{n:06d}",
                f"hom_bench{home:06d}",
                f'{{"ref": "case-{n:06d}", "age": 12, "gender": "female"}}',
                "planned",
                b["start"],
                b["end"],
                b["status"],
                datetime.combine(b["start"] - timedelta(days=30), datetime.min.time(), UTC),
                420_000 + 5_000 * (n % 37),
                0,
                b["actual_start_date"],
                b["actual_end_date"],
                b["notice_date"],
                b["cancelled_on"],
            )
        )
    await conn.copy_records_to_table(
        "bookings",
        columns=[
            "id",
            "requester",
            "owner",
            "region",
            "bed_id",
            "home_id",
            "child",
            "urgency",
            "start_date",
            "end_date",
            "status",
            "decide_at",
            "weekly_rate_pence",
            "policy_version",
            "actual_start_date",
            "actual_end_date",
            "notice_date",
            "cancelled_on",
        ],
        records=records,
    )
    await conn.execute("ANALYZE authorities, homes, beds, bookings")
    return Built(
        regions=names,
        authorities=len(order),
        homes=homes,
        beds=shape.beds,
        kinds=kinds,
        own=shape.own,
        corrections=corrections,
        seconds=time.perf_counter() - started,
    )


async def record_corrections(conn: Any, corrections: list[tuple[str, date]]) -> None:
    """Ends recorded late: the child left in the month already settled (notice from then)."""
    await conn.executemany(
        "UPDATE bookings SET status = 'ended', actual_end_date = $2, notice_date = $2, "
        "version = version + 1 WHERE id = $1",
        corrections,
    )


# -- settling, through the worker ---------------------------------------------------------------


async def _month_stats(conn: Any, run_ids: list[str]) -> dict[str, Any]:
    one = conn.fetchval
    lines_by_kind = {
        r["kind"]: r["n"]
        for r in await conn.fetch(
            "SELECT kind, count(*) AS n FROM invoice_lines WHERE run_id = ANY($1) GROUP BY kind",
            run_ids,
        )
    }
    return dict(
        lines=await one("SELECT count(*) FROM invoice_lines WHERE run_id = ANY($1)", run_ids),
        lines_by_kind=lines_by_kind,
        invoices=await one("SELECT count(*) FROM invoices WHERE run_id = ANY($1)", run_ids),
        entries=await one("SELECT count(*) FROM journal_entries WHERE run_id = ANY($1)", run_ids),
        postings=await one(
            "SELECT count(*) FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
            "WHERE e.run_id = ANY($1)",
            run_ids,
        ),
        positions=await one(
            "SELECT count(*) FROM settlement_positions WHERE run_id = ANY($1)", run_ids
        ),
        transfers=await one(
            "SELECT count(*) FROM settlement_transfers WHERE run_id = ANY($1)", run_ids
        ),
        total_pence=await one(
            "SELECT coalesce(sum(total_pence), 0) FROM settlement_runs WHERE id = ANY($1)", run_ids
        ),
    )


def _cpu() -> dict[str, float]:
    """CPU seconds so far: this process (the worker runs in it) and the whole machine."""
    import psutil

    mine = psutil.Process().cpu_times()
    machine = psutil.cpu_times()
    return {
        "worker": mine.user + mine.system,
        "machine": sum(machine) - machine.idle - getattr(machine, "iowait", 0.0),
    }


class Bench:
    """The bench's own engine, Redis pool and queue (a queue of its own on a shared Redis)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = f"coop:bench-settlement:{uuid.uuid4().hex[:8]}"

    async def __aenter__(self) -> Bench:
        from arq import create_pool

        from coop.db.session import create_engine
        from coop.wakeups import Scheduler
        from coop.worker import redis_settings

        assert self.settings.redis_url
        self.engine = create_engine(self.settings)
        self.pool = await create_pool(
            redis_settings(self.settings.redis_url), default_queue_name=self.queue
        )
        self.scheduler = Scheduler(self.pool)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.delete(self.queue)
        await self.pool.aclose()
        await self.engine.dispose()

    async def driver(self) -> Any:
        """A plain asyncpg connection to the bench's database."""
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url).set(drivername="postgresql")
        return await asyncpg.connect(url.render_as_string(hide_password=False))

    def worker(self) -> Any:
        from coop.worker import build_worker

        return build_worker(self.settings, burst=True, handle_signals=False, queue_name=self.queue)

    async def ask(self, regions: list[str], period: str) -> list[Any]:
        from coop.clock import Clock
        from coop.settlement.runs import request_run

        out = []
        for region in regions:
            run, _created = await request_run(
                self.engine, None, region, period, clock=Clock(), scheduler=self.scheduler
            )
            out.append(run)
        return out

    async def settle(self, regions: list[str], period: str) -> MonthRun:
        """Open every region's run of ``period`` and run a worker until all are completed."""
        cpu = _cpu()
        started = time.perf_counter()
        runs = await self.ask(regions, period)
        ids = [r.id for r in runs]
        worker = self.worker()
        task = asyncio.create_task(worker.async_run())
        try:
            while True:
                async with self.engine.connect() as conn:
                    rows = (
                        await conn.execute(
                            sa.text(
                                "SELECT status, error FROM settlement_runs WHERE id = ANY(:ids)"
                            ),
                            {"ids": ids},
                        )
                    ).all()
                if all(r.status == "completed" for r in rows):
                    break
                failed = [r.error for r in rows if r.status == "failed"]
                if failed:
                    raise SystemExit(f"a settlement run failed: {failed[0]}")
                if task.done():
                    task.result()
                    raise SystemExit("the worker stopped before every run was completed")
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
            cpu = {k: v - cpu[k] for k, v in _cpu().items()}
            await task
            worker_seconds = time.perf_counter() - started
        finally:
            if not task.done():
                task.cancel()
            await worker.close()
        return MonthRun(period, seconds, worker_seconds, ids, cpu)

    async def no_op(self, regions: list[str], period: str) -> dict[str, Any]:
        """Ask for ``period`` again (the completed runs come back, nothing queued) and give
        the worker the runs' jobs again, as a duplicate wake-up would: it posts nothing."""
        from coop.policy.charges import parse_period
        from coop.settlement.runs import wakeup

        started = time.perf_counter()
        runs = await self.ask(regions, period)
        asked = time.perf_counter() - started
        assert all(r.status == "completed" for r in runs), [r.status for r in runs]
        queued = await self.pool.zcard(self.queue)
        wakeups = [wakeup(r.id, r.region, parse_period(r.period)) for r in runs]
        for w in wakeups:  # what Scheduler.schedule sends, checked: each job is queued
            job = await self.pool.enqueue_job(w.function, w.arg, _job_id=w.job_id)
            assert job is not None, f"{w.job_id} was not queued"
        keys = [f"arq:job:{w.job_id}" for w in wakeups]
        worker = self.worker()
        task = asyncio.create_task(worker.async_run())
        try:
            while await self.pool.exists(*keys):
                if task.done():
                    task.result()
                    raise SystemExit("the worker stopped before confirming the runs")
                await asyncio.sleep(0.01)
            confirmed = time.perf_counter() - started
            await task
            exited = time.perf_counter() - started
        finally:
            if not task.done():
                task.cancel()
            await worker.close()
        return dict(
            asked=asked,
            queued_by_asking=queued,
            confirmed=confirmed,
            exited=exited,
            runs=runs,
        )


#: the tables a run writes per line, in the order their foreign keys need
POSTED = ("journal_entries", "postings", "invoice_lines")

#: the same check as the ledger's ``coop_entry_balanced`` (migration 0003), on the copies
FLOOR_BALANCED = """
CREATE FUNCTION floor_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  entry bigint;
  total numeric;
  n integer;
BEGIN
  IF TG_TABLE_NAME = 'floor_postings' THEN entry := NEW.entry_id; ELSE entry := NEW.id; END IF;
  SELECT COALESCE(SUM(amount_pence), 0), COUNT(*) INTO total, n
    FROM floor_postings WHERE entry_id = entry;
  IF total <> 0 OR n < 2 THEN
    RAISE EXCEPTION 'journal entry % does not balance', entry;
  END IF;
  RETURN NULL;
END $$
"""


def _shaped_ddl(name: str) -> list[str]:
    """A copy of ``name`` with its indexes, checks and foreign keys (to the other copies, or
    to the real tables) and, for the ledger, the deferred balance trigger."""
    from coop.db.schema import metadata

    table = metadata.tables[name]
    out = [f"CREATE TABLE floor_{name} (LIKE {name} INCLUDING ALL)"]
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        target = f"floor_{target}" if target in POSTED else target
        cols = ", ".join(c.name for c in fk.columns)
        refs = ", ".join(e.column.name for e in fk.elements)
        out.append(
            f"ALTER TABLE floor_{name} ADD FOREIGN KEY ({cols}) REFERENCES {target} ({refs})"
        )
    if name in ("journal_entries", "postings"):
        out.append(
            f"CREATE CONSTRAINT TRIGGER floor_{name}_balanced AFTER INSERT ON floor_{name} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION floor_entry_balanced()"
        )
    return out


async def copy_floor(conn: Any, run_ids: list[str]) -> dict[str, Any]:
    """COPY the rows the runs posted (entries, postings, lines), in one transaction, into
    (1) unlogged tables without index, constraint or trigger — the floor — and (2) tables
    shaped like the real ones (indexes, checks, foreign keys, the deferred balance trigger)."""
    records = {
        "journal_entries": await conn.fetch(
            "SELECT * FROM journal_entries WHERE run_id = ANY($1)", run_ids
        ),
        "postings": await conn.fetch(
            "SELECT p.* FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
            "WHERE e.run_id = ANY($1)",
            run_ids,
        ),
        "invoice_lines": await conn.fetch(
            "SELECT * FROM invoice_lines WHERE run_id = ANY($1)", run_ids
        ),
    }

    async def copy() -> float:
        started = time.perf_counter()
        async with conn.transaction():  # the deferred checks run at the commit, timed too
            for name in POSTED:
                if records[name]:
                    await conn.copy_records_to_table(
                        f"floor_{name}",
                        columns=list(records[name][0].keys()),
                        records=records[name],
                    )
        return time.perf_counter() - started

    async def drop() -> None:
        for name in reversed(POSTED):
            await conn.execute(f"DROP TABLE floor_{name}")

    for name in POSTED:
        await conn.execute(f"CREATE UNLOGGED TABLE floor_{name} (LIKE {name})")
    bare = await copy()
    await drop()
    await conn.execute(FLOOR_BALANCED)
    for name in POSTED:
        for statement in _shaped_ddl(name):
            await conn.execute(statement)
    shaped = await copy()
    await drop()
    await conn.execute("DROP FUNCTION floor_entry_balanced()")
    return dict(bare=bare, shaped=shaped, rows=sum(len(r) for r in records.values()))


async def _bench(settings: Settings, shape: Shape) -> dict[str, Any]:
    from coop.policy.charges import next_month, period_of

    for name in ("arq", "coop.settlement", "coop.bookings"):
        logging.getLogger(name).setLevel(logging.WARNING)
    month = period_of(shape.month)
    before = period_of(_month_before(shape.month))
    after = period_of(next_month(shape.month))
    async with Bench(settings) as bench:
        conn = await bench.driver()
        try:
            async with conn.transaction():
                built = await build_market(conn, shape)
            # the history: the month before, settled as it was then
            history = await bench.settle(built.regions, before)
            history.stats = await _month_stats(conn, history.run_ids)
            await record_corrections(conn, built.corrections)
            await conn.execute("ANALYZE")
            settled = await bench.settle(built.regions, month)
            settled.stats = await _month_stats(conn, settled.run_ids)
            lines_before = await conn.fetchval("SELECT count(*) FROM invoice_lines")
            noop = await bench.no_op(built.regions, month)
            noop["lines_before"] = lines_before
            noop["lines_after"] = await conn.fetchval("SELECT count(*) FROM invoice_lines")
            noop["same_runs"] = [r.line_count for r in noop["runs"]] == [
                r.line_count for r in await bench.ask(built.regions, month)
            ]
            nxt = await bench.settle(built.regions, after)
            nxt.stats = await _month_stats(conn, nxt.run_ids)
            floor = await copy_floor(conn, settled.run_ids)
            ledger_total = await conn.fetchval(
                "SELECT coalesce(sum(amount_pence), 0) FROM postings"
            )
            unbalanced = await conn.fetchval(
                "SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id "
                "HAVING sum(amount_pence) <> 0) x"
            )
        finally:
            await conn.close()
    return dict(
        built=built,
        history=history,
        settled=settled,
        noop=noop,
        next=nxt,
        floor=floor,
        ledger_total=ledger_total,
        unbalanced=unbalanced,
    )


# -- orchestration ---------------------------------------------------------------------------


def run_settlement_bench(
    settings: Settings,
    *,
    regions: int = 9,
    authorities: int = 153,
    beds: int = 12_000,
    placements: int = 6_000,
    month: str | None = None,
) -> tuple[int, list[str]]:
    """Run the bench on a fresh database; return the exit code and the report lines."""
    from sqlalchemy.engine import make_url

    from coop.policy.charges import parse_period

    today = datetime.now(UTC).date()
    period = parse_period(month) if month else default_month(today)
    shape = Shape(regions, authorities, beds, placements, period)
    original = settings
    if not settings.embedded and not settings.redis_url:
        raise SystemExit("coop bench needs COOP_REDIS_URL beside COOP_DATABASE_URL")
    with bench_database(settings, "coop_bench") as db:
        result = asyncio.run(_bench(db.settings, shape))
    configured, name = db.configured, db.name
    where = (
        f"COOP_DATABASE_URL's server (a fresh database, {name}, dropped after) and COOP_REDIS_URL"
        if configured
        else "embedded PostgreSQL + Redis (fresh, in a temporary directory)"
    )
    if configured:
        assert original.database_url and original.redis_url
        url = make_url(original.database_url).render_as_string(hide_password=True)
        env = f"COOP_DATABASE_URL={url} COOP_REDIS_URL={original.redis_url} "
    else:
        env = "env -u COOP_DATABASE_URL -u COOP_REDIS_URL "
    return report(result, shape, where, env)


def _n(x: int) -> str:
    return f"{x:,}"


def report(result: dict[str, Any], shape: Shape, where: str, env: str) -> tuple[int, list[str]]:
    from coop.policy.charges import period_of

    built: Built = result["built"]
    history: MonthRun = result["history"]
    settled: MonthRun = result["settled"]
    nxt: MonthRun = result["next"]
    noop = result["noop"]
    floor = result["floor"]
    floor_s, floor_rows = floor["bare"], floor["rows"]
    s = settled.stats
    rows = s["lines"] + s["entries"] + s["postings"]
    ratio = settled.seconds / floor_s if floor_s else 0.0
    out: list[str] = []
    out.append(
        f"coop bench settlement — {os.cpu_count()} cores, {where}; one arq worker "
        f"(coop.worker.build_worker, burst), in this process"
    )
    out.append(
        f"  data, by bulk SQL (COPY; not through the API) in {built.seconds:.1f} s: "
        f"{len(built.regions)} regions, {_n(built.authorities)} authorities, "
        f"{_n(built.homes)} homes, {_n(built.beds)} beds"
    )
    total = sum(built.kinds.values())
    out.append(
        f"  placements between two authorities of a region, each on its own bed: {_n(total)}"
    )
    for kind, _share, label in MIX:
        out.append(f"    {label:50} {_n(built.kinds[kind]):>7}")
    out.append(f"  own-authority placements (never charged): {_n(built.own)}")
    h = history.stats
    out.append(
        f"  history    {history.period}  settled first, through the worker: "
        f"{history.seconds:.2f} s, {_n(h['lines'])} lines"
    )

    def posted(stats: dict[str, Any]) -> str:
        kinds = ", ".join(f"{k} {_n(v)}" for k, v in sorted(stats["lines_by_kind"].items()))
        return (
            f"{_n(stats['lines'])} lines ({kinds}), {_n(stats['invoices'])} invoices, "
            f"{_n(stats['entries'])} entries / {_n(stats['postings'])} postings, "
            f"{_n(stats['positions'])} positions, {_n(stats['transfers'])} transfers, "
            f"£{stats['total_pence'] / 100:,.2f}"
        )

    out.append(
        f"  settle     {settled.period}  {settled.seconds:6.2f} s  from enqueueing "
        f"{len(settled.run_ids)} runs to the last completed (the worker exited at "
        f"{settled.worker_seconds:.2f} s)"
    )
    out.append(f"             posted {posted(s)}")
    worker_cpu, machine_cpu = settled.cpu["worker"], settled.cpu["machine"]
    out.append(
        f"             CPU meanwhile: the worker (Python, this process) {worker_cpu:.2f} s, "
        f"everything else on the machine (PostgreSQL, Redis, any other load) "
        f"{machine_cpu - worker_cpu:.2f} s; {os.cpu_count()} cores "
        f"{100 * machine_cpu / (settled.seconds * (os.cpu_count() or 1)):.0f}% busy"
    )
    out.append(
        f"  no-op      {settled.period}  {noop['confirmed']:6.2f} s  ask the {len(noop['runs'])} "
        f"regions again ({noop['asked'] * 1000:.0f} ms: the completed runs come back, "
        f"{noop['queued_by_asking']} jobs queued) and the worker, given their "
        f"{len(noop['runs'])} jobs again, confirms there is nothing to do (it exited at "
        f"{noop['exited']:.2f} s); invoice lines {_n(noop['lines_before'])} → "
        f"{_n(noop['lines_after'])}"
    )
    out.append(
        f"  next month {nxt.period}  {nxt.seconds:6.2f} s  no booking changed (the worker exited "
        f"at {nxt.worker_seconds:.2f} s)"
    )
    out.append(f"             posted {posted(nxt.stats)}")
    out.append(
        f"  COPY floor          {floor_s:6.2f} s  {_n(floor_rows)} rows ({_n(s['lines'])} lines + "
        f"{_n(s['entries'])} entries + {_n(s['postings'])} postings of {settled.period}) into "
        "unlogged tables, no index"
    )
    out.append(f"  ratio               {ratio:6.1f}× the COPY floor")
    out.append(
        f"  COPY, real-shaped   {floor['shaped']:6.2f} s  the same rows into tables shaped like "
        "the real ones (indexes, checks, foreign keys, the deferred balance trigger)"
    )
    out.append(
        f"  ratio               {settled.seconds / floor['shaped']:6.1f}× the real-shaped COPY"
    )
    ok = (
        result["ledger_total"] == 0
        and result["unbalanced"] == 0
        and noop["lines_before"] == noop["lines_after"]
        and noop["same_runs"]
        and floor_rows == rows
    )
    out.append(
        f"  ledger: sums to {result['ledger_total']}, {result['unbalanced']} unbalanced entries; "
        f"no-op posted {noop['lines_after'] - noop['lines_before']} lines"
    )
    out.append(
        f"  targets: settle < 10 s {'✓' if settled.seconds < 10 else '✗'}   "
        f"no-op < 3 s {'✓' if noop['confirmed'] < 3 else '✗'}   "
        f"within 5× the floor {'✓' if ratio <= 5 else '✗'}"
    )
    out.append(
        f"  reproduce: {env}coop bench settlement --regions {shape.regions} --authorities "
        f"{shape.authorities} --beds {shape.beds} --placements {shape.placements} "
        f"--month {period_of(shape.month)}"
    )
    return (0 if ok else 1), out
