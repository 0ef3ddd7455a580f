"""``coop bench bookings``: booking decisions per second against a running server.

What it does, all on this machine:

1. starts PostgreSQL and Redis (the embedded default in a temporary directory, or the
   configured ``COOP_DATABASE_URL``/``COOP_REDIS_URL``) and migrates;
2. starts a real ``coop serve`` in its own process (uvicorn, the worker, and the bench-only
   ``POST /_bench/insert`` endpoint that does one authenticated INSERT); with ``--workers N``
   above 1, first one API process, then ``coop serve --workers N``, in the same run;
3. builds a market through the API, for each server: a fresh region whose policy has no home
   window (so every request is decided inside its own request), one owner with ``--homes``
   homes of four beds each, a void on every bed, and eight buying authorities;
4. the **closed loop**: load from ``--processes`` separate processes (``--clients``
   concurrent requests in all, each sent when the last one answered) for ``--seconds``:
   each request is fresh, a random bed for a random week ahead. Its rate is the saturation;
5. does the same against ``/_bench/insert`` (the ceiling: the same auth, one INSERT);
6. the **open loop**: requests *scheduled* at a rate (Poisson arrivals, whatever the answers),
   at ``--rate`` or else at half the closed loop's rate, each one's latency counted from
   the moment it was due (so a slow answer delays no measurement: no coordinated omission);
   with ``--rate``, only the open loop runs;
7. counts double bookings in the database (pairs of holding bookings overlapping on a bed)
   and prints the figures with the command that reproduces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from coop.clock import local_date
from coop.settings import Settings

DOUBLE_BOOKINGS = sa.text(
    """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.bed_id = b.bed_id AND a.id < b.id AND a.hold_during && b.hold_during
    WHERE a.hold_during IS NOT NULL AND b.hold_during IS NOT NULL AND a.region = :region
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- load, in worker processes ---------------------------------------------------------------


def request_body(rng: random.Random, voids: list[str], today: str, n: int) -> dict[str, Any]:
    """A fresh request: a random bed's void and a random week within two years."""
    start = date.fromisoformat(today) + timedelta(days=7 * rng.randint(1, 104))
    return {
        "void_id": rng.choice(voids),
        "child": {"ref": f"bench-{n}", "age": 12, "gender": "female"},
        "urgency": "planned",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=7)).isoformat(),
    }


def _load_process(
    url: str,
    path: str,
    voids: list[str],
    today: str,
    tokens: list[str],
    clients: int,
    seconds: float,
    queue: Any,
) -> None:
    """One load process: ``clients`` concurrent loops for ``seconds``; reports its samples."""
    import httpx

    async def run() -> tuple[list[float], dict[str, int]]:
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        deadline = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

            async def loop(n: int) -> None:
                rng = random.Random(os.getpid() * 1000 + n)
                while time.monotonic() < deadline:
                    body = request_body(rng, voids, today, len(latencies)) if voids else None
                    token = rng.choice(tokens)
                    started = time.perf_counter()
                    r = await http.post(
                        path, json=body, headers={"Authorization": f"Bearer {token}"}
                    )
                    latencies.append(time.perf_counter() - started)
                    key = str(r.status_code)
                    if r.status_code == 201 and path == "/bookings":
                        key = r.json()["status"]
                    outcomes[key] = outcomes.get(key, 0) + 1

            await asyncio.gather(*(loop(n) for n in range(clients)))
        return latencies, outcomes

    queue.put(asyncio.run(run()))


def _open_process(
    url: str,
    path: str,
    voids: list[str],
    today: str,
    tokens: list[str],
    rate: float,
    seconds: float,
    start_at: float,
    seed: int,
    queue: Any,
) -> None:
    """One open-loop load process: requests due at Poisson arrivals of ``rate`` per second
    from ``start_at`` (wall clock, shared by the processes) for ``seconds``, each sent when
    due whatever the others' answers; latency from the moment it was due."""
    import httpx

    async def run() -> dict[str, Any]:
        rng = random.Random(seed)
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        late: list[float] = []  # how late this generator sent (it, not the server, was busy)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

            async def one(n: int, due: float) -> None:
                body = request_body(rng, voids, today, n) if voids else None
                token = rng.choice(tokens)
                try:
                    r = await http.post(
                        path, json=body, headers={"Authorization": f"Bearer {token}"}
                    )
                    key = str(r.status_code)
                    if r.status_code == 201 and path == "/bookings":
                        key = r.json()["status"]
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - due)
                outcomes[key] = outcomes.get(key, 0) + 1

            start = time.perf_counter() + max(0.0, start_at - time.time())
            end = start + seconds
            due, n = start, 0
            tasks: set[asyncio.Task[None]] = set()
            while True:
                due += rng.expovariate(rate)
                if due >= end:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                late.append(max(0.0, time.perf_counter() - due))
                task = asyncio.create_task(one(n, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            if tasks:
                await asyncio.wait(set(tasks))
            finished = time.perf_counter()
        return {
            "latencies": latencies,
            "outcomes": outcomes,
            "sent": n,
            "elapsed": finished - start,
            "late_max": max(late, default=0.0),
        }

    queue.put(asyncio.run(run()))


def _server_pids(pid: int) -> list[int]:
    """The server and its descendants: API processes, worker (``--workers N``)."""
    import psutil

    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return [pid]


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores)."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _drive(
    url: str,
    path: str,
    voids: list[str],
    today: str,
    tokens: list[str],
    *,
    clients: int,
    processes: int,
    seconds: float,
    server_pid: int,
    rate: float | None = None,
) -> dict[str, Any]:
    """Load from separate processes: the closed loop, or (``rate``) the open loop. Also the
    CPU the server (all its processes) and the rest of the machine spent."""
    server = _server_pids(server_pid)
    server_before, busy_before = _cpu_seconds(server), _busy_seconds()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    if rate is None:
        per = [
            clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
        ]
        procs = [
            ctx.Process(
                target=_load_process, args=(url, path, voids, today, tokens, n, seconds, queue)
            )
            for n in per
            if n
        ]
    else:  # each process a share of the arrivals, from one start (the spawns take a while)
        start_at = time.time() + 1.5
        procs = [
            ctx.Process(
                target=_open_process,
                args=(
                    url,
                    path,
                    voids,
                    today,
                    tokens,
                    rate / processes,
                    seconds,
                    start_at,
                    random.randrange(2**32),
                    queue,
                ),
            )
            for _ in range(processes)
        ]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    server_cpu = _cpu_seconds(server) - server_before
    busy = _busy_seconds() - busy_before
    if rate is None:
        results = [{"latencies": lat, "outcomes": out} for lat, out in results]
    latencies = sorted(x for r in results for x in r["latencies"])
    outcomes: dict[str, int] = {}
    for r in results:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v

    def pct(q: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    n = max(len(latencies), 1)
    if rate is None:
        per_second = len(latencies) / min(elapsed, seconds + 0.5)
    else:  # answered per second, from the first due time to the last answer
        per_second = len(latencies) / max(max(r["elapsed"] for r in results), 1e-9)
    ok = ("offered", "declined", "pending", "200", "201")
    return {
        "server_cpu_ms": server_cpu * 1000 / n,
        "other_cpu_ms": (busy - server_cpu) * 1000 / n,
        "busy_pct": 100 * busy / (elapsed * (os.cpu_count() or 1)),
        "requests": len(latencies),
        "per_second": per_second,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "outcomes": outcomes,
        "errors": sum(v for k, v in outcomes.items() if k not in ok),
        "rate": rate,
        "sent": sum(r.get("sent", 0) for r in results),
        "late_ms": 1000 * max((r.get("late_max", 0.0) for r in results), default=0.0),
    }


# -- the market ------------------------------------------------------------------------------


async def _build_market(url: str, settings: Settings, homes: int, tag: int = 0) -> dict[str, Any]:
    """A fresh region of its own (``tag``, 0-9, tells apart two markets of one run)."""
    import httpx

    from coop.auth.clients import create_client
    from coop.auth.schemas import ClientIn
    from coop.db.session import create_engine

    stamp = int(time.time()) % 10**4
    region = f"bench-{int(time.time())}-{tag}"
    engine = create_engine(settings)
    admin = await create_client(
        engine,
        ClientIn(region=region, scopes=["coop:admin", "market:read"]),
        actor=None,
        scrypt_n=settings.scrypt_n,
    )
    await engine.dispose()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def token(client_id: str, secret: str) -> str:
            r = await http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
            r.raise_for_status()
            return r.json()["access_token"]

        admin_h = {"Authorization": f"Bearer {await token(admin.client_id, admin.client_secret)}"}
        r = await http.put(
            f"/regions/{region}/policy",
            json={"priority": {"home_window": "PT0S"}},
            headers=admin_h,
        )
        r.raise_for_status()
        tokens: dict[str, str] = {}
        for i in range(9):
            slug = f"{region}-council-{i}"
            r = await http.post(
                "/authorities",
                json={
                    "slug": slug,
                    "name": f"Council {i}",
                    "gss_code": f"E9{stamp:04d}{tag}{i:02d}",
                    "region": region,
                },
                headers=admin_h,
            )
            r.raise_for_status()
            r = await http.post(
                "/clients",
                json={
                    "authority": slug,
                    "scopes": ["market:read", "homes:write", "bookings:write"],
                },
                headers=admin_h,
            )
            r.raise_for_status()
            c = r.json()
            tokens[slug] = await token(c["client_id"], c["client_secret"])
        owner, *buyers = list(tokens)
        owner_h = {"Authorization": f"Bearer {tokens[owner]}"}
        today = local_date(datetime.now(UTC))  # English days, as the service counts them
        voids = []
        for h in range(homes):
            r = await http.post(
                "/homes",
                json={
                    "name": f"Bench home {h}",
                    "ofsted_urn": f"BN{stamp:04d}{tag}{h:04d}",
                    "ofsted_rating": "good",
                    "operator": "in_house",
                    "purpose": "long_term",
                    "district": "Bench",
                    "latitude": 52.2,
                    "longitude": 0.1,
                    "age_min": 8,
                    "age_max": 17,
                    "gender": "mixed",
                    "weekly_cost_pence": 500_000,
                    "beds": [{"label": str(b)} for b in range(4)],
                },
                headers=owner_h,
            )
            r.raise_for_status()
            for bed in r.json()["beds"]:
                v = await http.post(
                    "/voids",
                    json={"bed_id": bed["id"], "available_from": today.isoformat()},
                    headers=owner_h,
                )
                v.raise_for_status()
                voids.append(v.json()["id"])
    return {
        "region": region,
        "voids": voids,
        "today": today.isoformat(),
        "buyer_tokens": [tokens[b] for b in buyers],
        "beds": len(voids),
    }


async def _bench_table(settings: Settings) -> None:
    """The ceiling's table, made once here: N API processes starting at once would race to
    make it."""
    from coop.app import BENCH_TABLE
    from coop.db.session import create_engine

    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(sa.text(BENCH_TABLE))
    await engine.dispose()


async def _double_bookings(settings: Settings, region: str) -> int:
    from coop.db.session import create_engine

    engine = create_engine(settings)
    async with engine.connect() as conn:
        n = int(await conn.scalar(DOUBLE_BOOKINGS, {"region": region}))
    await engine.dispose()
    return n


# -- orchestration ---------------------------------------------------------------------------


@contextlib.contextmanager
def _server(settings: Settings, port: int, workers: int = 1) -> Any:
    """``coop serve --workers N --with-worker`` on the bench's database (its issuer follows
    the port); yields its URL and pid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    for name, value in msgspec.structs.asdict(settings).items():  # the bench's own settings
        if value is not None:
            env[f"COOP_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    env.update(COOP_LOG_LEVEL="WARNING", COOP_BENCH="true")
    coop = str(Path(sys.executable).with_name("coop"))
    proc = subprocess.Popen(
        [coop, "serve", "--port", str(port), "--workers", str(workers), "--with-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    import httpx

    try:
        deadline = time.monotonic() + 60
        while True:  # the server answers /ready: a condition, polled
            if proc.poll() is not None:
                raise SystemExit(
                    "coop serve exited:\n" + (proc.stderr.read() if proc.stderr else "")
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("coop serve did not become ready in 60 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_embedded(settings: Settings) -> tuple[Settings, Path | None, Any]:
    """With no database configured, the embedded default in a temporary directory (a bench
    never touches ``./.coop``): the settings that point at it, the directory, the servers."""
    if not settings.embedded:
        return settings, None, None
    from coop.embedded import Embedded

    tmp = Path(tempfile.mkdtemp(prefix="coop-bench-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    embedded = Embedded(tmp / ".coop").start()
    settings = settings.replace(
        database_url=embedded.database_url,
        redis_url=embedded.redis_url,
        data_dir=str(tmp / ".coop"),
    )
    return settings, tmp, embedded


def stop_embedded(tmp: Path | None, embedded: Any) -> None:
    if embedded is not None:
        embedded.stop()
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def admin_sql(url: Any, statement: str) -> None:
    """One statement outside a transaction (``CREATE DATABASE``, ``DROP DATABASE``)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
        await engine.dispose()

    asyncio.run(run())


class BenchDatabase(msgspec.Struct, kw_only=True):
    """Where a bench runs: ``settings`` point at its fresh, migrated database."""

    settings: Settings
    configured: bool
    """On ``COOP_DATABASE_URL``'s server (else embedded PostgreSQL in a temporary directory)."""
    name: str = ""
    """The database made for the bench on that server."""
    kept: str = ""
    """Its URL, password hidden, when it was kept."""


@contextlib.contextmanager
def bench_database(settings: Settings, prefix: str, *, keep: bool = False) -> Any:
    """A fresh database for a bench, migrated: on ``COOP_DATABASE_URL``'s server a database of
    its own, dropped after (unless ``keep``); with no database configured, the embedded
    default in a temporary directory, stopped and removed after."""
    import uuid

    from sqlalchemy.engine import make_url

    from coop.db.migrate import upgrade

    configured = not settings.embedded
    if keep and not configured:
        raise SystemExit("--keep needs COOP_DATABASE_URL (the embedded one is temporary)")
    tmp = embedded = admin = None
    out = BenchDatabase(settings=settings, configured=configured)
    if not configured:
        settings, tmp, embedded = start_embedded(settings)
    try:
        assert settings.database_url
        if configured:  # a database of its own on the configured server, dropped after
            admin = make_url(settings.database_url).set(drivername="postgresql+asyncpg")
            out.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
            admin_sql(admin, f'CREATE DATABASE "{out.name}"')
            settings = settings.replace(
                database_url=admin.set(database=out.name).render_as_string(hide_password=False)
            )
        assert settings.database_url
        logging.disable(logging.INFO)  # Alembic's INFO lines are not the bench's figures
        try:
            upgrade(settings.database_url)
        finally:
            logging.disable(logging.NOTSET)
        out.settings = settings
        yield out
    finally:
        if admin is not None and out.name:
            if keep:
                out.kept = admin.set(database=out.name).render_as_string(hide_password=True)
            else:
                admin_sql(admin, f'DROP DATABASE IF EXISTS "{out.name}" WITH (FORCE)')
        stop_embedded(tmp, embedded)


def run_bookings_bench(
    settings: Settings,
    *,
    clients: int,
    processes: int,
    seconds: float,
    homes: int,
    workers: int = 1,
    rate: float | None = None,
) -> tuple[int, list[str]]:
    """Run the bench; return the exit code (1 if any double booking) and the report lines."""
    if workers < 1 or (rate is not None and rate <= 0):
        raise SystemExit("--workers must be 1 or more and --rate above 0")
    if not settings.embedded and not settings.redis_url:
        raise SystemExit("coop bench needs COOP_REDIS_URL beside COOP_DATABASE_URL")
    runs: list[dict[str, Any]] = []
    with bench_database(settings, "coop_bench_bookings") as db:
        settings = db.settings.replace(issuer=None)  # each server's tokens name its own port
        asyncio.run(_bench_table(settings))
        for tag, n in enumerate(sorted({1, workers})):
            runs.append(
                _measure(
                    settings,
                    n,
                    tag,
                    clients=clients,
                    processes=processes,
                    seconds=seconds,
                    homes=homes,
                    rate=rate,
                )
            )
    return _report(runs, db.configured, clients, processes, seconds, homes, workers, rate)


def _measure(
    settings: Settings,
    workers: int,
    tag: int,
    *,
    clients: int,
    processes: int,
    seconds: float,
    homes: int,
    rate: float | None,
) -> dict[str, Any]:
    """One server of ``workers`` API processes, a fresh market, the loops against it."""
    with _server(settings, _free_port(), workers=workers) as (url, server_pid):
        market = asyncio.run(_build_market(url, settings, homes, tag))

        def drive(path: str, voids: list[str], at: float | None) -> dict[str, Any]:
            return _drive(
                url,
                path,
                voids,
                market["today"],
                market["buyer_tokens"],
                clients=clients,
                processes=processes,
                seconds=seconds,
                server_pid=server_pid,
                rate=at,
            )

        run: dict[str, Any] = {"workers": workers, "beds": market["beds"]}
        if rate is None:
            run["bookings"] = drive("/bookings", market["voids"], None)
            run["ceiling"] = drive("/_bench/insert", [], None)
            half = run["bookings"]["per_second"] / 2
            run["open"] = drive("/bookings", market["voids"], max(half, 1.0))
        else:
            run["open"] = drive("/bookings", market["voids"], rate)
        run["doubles"] = asyncio.run(_double_bookings(settings, market["region"]))
    return run


def _figures(r: dict[str, Any]) -> str:
    return f"p50 {r['p50_ms']:.1f} ms   p95 {r['p95_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms"


def _report(
    runs: list[dict[str, Any]],
    configured: bool,
    clients: int,
    processes: int,
    seconds: float,
    homes: int,
    workers: int,
    rate: float | None,
) -> tuple[int, list[str]]:
    where = (
        "COOP_DATABASE_URL / COOP_REDIS_URL (a database of its own)"
        if configured
        else ("embedded PostgreSQL + Redis")
    )
    doubles = sum(r["doubles"] for r in runs)
    report = [
        f"coop bench bookings — {os.cpu_count()} cores, {where}, load from {processes} "
        "processes on the same machine",
        f"  market: for each server, a fresh region of {runs[0]['beds']} beds with open voids, "
        "home window 0, each request a random bed and week within two years",
    ]
    for r in runs:
        n = r["workers"]
        report.append(
            f"  {n} API process{'es' if n > 1 else ''}"
            + (" (the worker in-process)" if n == 1 else " (uvicorn workers; the worker beside)")
        )
        if "bookings" in r:
            b, c = r["bookings"], r["ceiling"]
            decided = sum(v for k, v in b["outcomes"].items() if k in ("offered", "declined"))
            ratio = b["per_second"] / c["per_second"] if c["per_second"] else 0.0
            report += [
                f"    bookings   {b['per_second']:7.1f} decisions/s, closed loop of {clients} "
                f"clients for {seconds:g} s   {_figures(b)}",
                f"               outcomes {dict(sorted(b['outcomes'].items()))} ({decided} "
                "offered or declined in the request)",
                f"    ceiling    {c['per_second']:7.1f} req/s (POST /_bench/insert: same auth, one "
                f"INSERT)   {_figures(c)}",
                f"    ratio      {ratio:.0%} of the ceiling",
            ]
        o = r["open"]
        why = "--rate" if rate is not None else "half the closed loop's rate"
        report += [
            f"    open loop  {o['rate']:7.1f} req/s scheduled ({why}, Poisson arrivals, latency "
            f"from the due time): {o['per_second']:.1f} answered/s   {_figures(o)}",
            f"               {o['requests']} requests, {o['errors']} errors, outcomes "
            f"{dict(sorted(o['outcomes'].items()))}; generators at most {o['late_ms']:.0f} ms "
            "late",
        ]
        for name in ("bookings", "ceiling", "open"):
            if name in r:
                x = r[name]
                report.append(
                    f"    CPU/request {name:9} server {x['server_cpu_ms']:.2f} ms, everything "
                    f"else (PostgreSQL, Redis, load generators) {x['other_cpu_ms']:.2f} ms; "
                    f"machine {x['busy_pct']:.0f}% busy"
                )
    if len(runs) > 1:
        one, many = runs[0], runs[-1]
        n = many["workers"]
        if "bookings" in one:
            gain = many["bookings"]["per_second"] / max(one["bookings"]["per_second"], 1e-9)
            ceiling = many["ceiling"]["per_second"] / max(one["ceiling"]["per_second"], 1e-9)
            report.append(
                f"  gain       {n} API processes: {gain:.2f}× the decisions/s of 1 (ceiling "
                f"{ceiling:.2f}×); p99 at half saturation {many['open']['p99_ms']:.1f} ms "
                f"against {one['open']['p99_ms']:.1f} ms"
            )
        else:
            report.append(
                f"  gain       at {rate:g} req/s, p99 {many['open']['p99_ms']:.1f} ms with {n} API "
                f"processes against {one['open']['p99_ms']:.1f} ms with 1"
            )
    report.append(f"  double bookings: {doubles}")
    report.append(
        f"  reproduce: coop bench bookings --clients {clients} --processes {processes} "
        f"--seconds {seconds:g} --homes {homes} --workers {workers}"
        + (f" --rate {rate:g}" if rate is not None else "")
    )
    return (0 if doubles == 0 else 1), report
