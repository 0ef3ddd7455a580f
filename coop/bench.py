"""``coop bench bookings``: booking decisions per second against a running server.

What it does, all on this machine:

1. starts PostgreSQL and Redis (the embedded default in a temporary directory, or the
   configured ``COOP_DATABASE_URL``/``COOP_REDIS_URL``) and migrates;
2. starts a real ``coop serve`` in its own process (uvicorn, the in-process worker, and the
   bench-only ``POST /_bench/insert`` endpoint that does one authenticated INSERT);
3. builds a market through the API: a fresh region whose policy has no home window (so
   every request is decided inside its own request), one owner with ``--homes`` homes of
   four beds each, a void on every bed, and eight buying authorities;
4. drives load from ``--processes`` separate processes (``--clients`` concurrent requests
   in all) for ``--seconds``: each request is fresh, a random bed for a random week ahead;
5. does the same against ``/_bench/insert`` (the ceiling: the same auth, one INSERT);
6. counts double bookings in the database (pairs of holding bookings overlapping on a bed)
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
) -> dict[str, Any]:
    """Load from separate processes; also the CPU the server and PostgreSQL spent."""
    server_before, busy_before = _cpu_seconds([server_pid]), _busy_seconds()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [
        ctx.Process(target=_load_process, args=(url, path, voids, today, tokens, n, seconds, queue))
        for n in per
        if n
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    server_cpu = _cpu_seconds([server_pid]) - server_before
    busy = _busy_seconds() - busy_before
    latencies = sorted(x for lat, _ in results for x in lat)
    outcomes: dict[str, int] = {}
    for _, out in results:
        for k, v in out.items():
            outcomes[k] = outcomes.get(k, 0) + v

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    n = max(len(latencies), 1)
    return {
        "server_cpu_ms": server_cpu * 1000 / n,
        "other_cpu_ms": (busy - server_cpu) * 1000 / n,
        "busy_pct": 100 * busy / (elapsed * (os.cpu_count() or 1)),
        "requests": len(latencies),
        "per_second": len(latencies) / min(elapsed, seconds + 0.5),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "outcomes": outcomes,
    }


# -- the market ------------------------------------------------------------------------------


async def _build_market(url: str, settings: Settings, homes: int) -> dict[str, Any]:
    import httpx

    from coop.auth.clients import create_client
    from coop.auth.schemas import ClientIn
    from coop.db.session import create_engine

    region = f"bench-{int(time.time())}"
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
                    "gss_code": f"E9{int(time.time()) % 10**5:05d}{i:02d}",
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
                    "ofsted_urn": f"BN{int(time.time()) % 10**4:04d}{h:04d}",
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


async def _double_bookings(settings: Settings, region: str) -> int:
    from coop.db.session import create_engine

    engine = create_engine(settings)
    async with engine.connect() as conn:
        n = int(await conn.scalar(DOUBLE_BOOKINGS, {"region": region}))
    await engine.dispose()
    return n


# -- orchestration ---------------------------------------------------------------------------


@contextlib.contextmanager
def _server(settings: Settings, port: int) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    for name, value in msgspec.structs.asdict(settings).items():  # the bench's own settings
        if value is not None:
            env[f"COOP_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    env.update(COOP_LOG_LEVEL="WARNING", COOP_BENCH="true", COOP_ISSUER=f"http://127.0.0.1:{port}")
    coop = str(Path(sys.executable).with_name("coop"))
    proc = subprocess.Popen(
        [coop, "serve", "--port", str(port), "--with-worker"],
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
    settings: Settings, *, clients: int, processes: int, seconds: float, homes: int
) -> tuple[int, list[str]]:
    """Run the bench; return the exit code (1 if any double booking) and the report lines."""
    from coop.db.migrate import upgrade

    settings, tmp, embedded = start_embedded(settings)
    try:
        assert settings.database_url
        if embedded is not None:  # a configured database is migrated by `coop migrate` only
            upgrade(settings.database_url)
        elif not settings.redis_url:
            raise SystemExit("coop bench needs COOP_REDIS_URL beside COOP_DATABASE_URL")
        port = _free_port()
        settings = settings.replace(issuer=f"http://127.0.0.1:{port}")
        with _server(settings, port) as (url, server_pid):
            market = asyncio.run(_build_market(url, settings, homes))
            tokens = market["buyer_tokens"]
            bookings = _drive(
                url,
                "/bookings",
                market["voids"],
                market["today"],
                tokens,
                clients=clients,
                processes=processes,
                seconds=seconds,
                server_pid=server_pid,
            )
            ceiling = _drive(
                url,
                "/_bench/insert",
                [],
                market["today"],
                tokens,
                clients=clients,
                processes=processes,
                seconds=seconds,
                server_pid=server_pid,
            )
            doubles = asyncio.run(_double_bookings(settings, market["region"]))
    finally:
        stop_embedded(tmp, embedded)

    decided = sum(v for k, v in bookings["outcomes"].items() if k in ("offered", "declined"))
    ratio = bookings["per_second"] / ceiling["per_second"] if ceiling["per_second"] else 0.0
    where = "embedded PostgreSQL + Redis" if embedded else "COOP_DATABASE_URL / COOP_REDIS_URL"
    report: list[str] = []
    report.append(
        f"coop bench bookings — {os.cpu_count()} cores, {where}, one uvicorn process with the "
        f"worker, load from {processes} processes"
    )
    report.append(
        f"  market: {market['beds']} beds with open voids, home window 0, each request a random "
        "bed and week within two years"
    )
    report.append(
        f"  bookings   {bookings['per_second']:7.1f} decisions/s over {seconds:.0f} s at "
        f"{clients} clients   p50 {bookings['p50_ms']:.1f} ms   p95 {bookings['p95_ms']:.1f} ms"
        f"   p99 {bookings['p99_ms']:.1f} ms"
    )
    report.append(
        f"             outcomes {dict(sorted(bookings['outcomes'].items()))} "
        f"({decided} offered or declined in the request)"
    )
    report.append(
        f"  ceiling    {ceiling['per_second']:7.1f} req/s (POST /_bench/insert: same auth, one "
        f"INSERT)   p50 {ceiling['p50_ms']:.1f} ms   p99 {ceiling['p99_ms']:.1f} ms"
    )
    report.append(f"  ratio      {ratio:.0%} of the ceiling")
    for name, r in (("bookings", bookings), ("ceiling", ceiling)):
        report.append(
            f"  CPU/request {name:9} server {r['server_cpu_ms']:.2f} ms, everything else "
            f"(PostgreSQL, Redis, load generators) {r['other_cpu_ms']:.2f} ms; machine "
            f"{r['busy_pct']:.0f}% busy"
        )
    report.append(f"  double bookings: {doubles}")
    report.append(
        f"  reproduce: coop bench bookings --clients {clients} --processes {processes} "
        f"--seconds {seconds:g} --homes {homes}"
    )
    return (0 if doubles == 0 else 1), report
