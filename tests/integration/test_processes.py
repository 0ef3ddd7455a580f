"""Several processes: ``coop serve --workers 2`` and two ``coop worker``s on one database.

Real processes on the session's PostgreSQL and Redis (the machine's servers when
``COOP_TEST_DATABASE_URL``/``COOP_TEST_REDIS_URL`` are set, else the embedded ones): a fresh
database and a Redis database of their own. Through HTTP, a region's policy gets a
two-second home window and a three-second offer hold; a planned request waits out the
window, a worker offers the bed, the hold runs out and a worker expires the offer. Each of
those happens exactly once, both API processes serve requests, both workers keep running.

With no ``COOP_ISSUER``, the tokens name the address served (issue #11, point 4).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coop.auth.clients import create_client
from coop.auth.schemas import ClientIn
from coop.clock import local_date
from coop.db.schema import booking_events
from coop.members.schemas import AuthorityIn
from coop.members.service import add_authority
from coop.settings import Settings, issuer_for
from tests.support import ADMIN_SCOPES, AUTHORITY_SCOPES, child, gss, home_payload, unique

COOP = str(Path(sys.executable).with_name("coop"))
SCRYPT_N = 1024


# -- point 4, in-process ---------------------------------------------------------------------


def test_the_issuer_follows_the_address_served() -> None:
    unset = Settings()
    assert unset.served_at("127.0.0.1", 9000).effective_issuer == "http://127.0.0.1:9000"
    assert unset.served_at("coop.internal", 81).effective_issuer == "http://coop.internal:81"
    # a wildcard bind is no address a client can use: the loopback one (and a warning)
    assert unset.served_at("0.0.0.0", 9000).effective_issuer == "http://127.0.0.1:9000"
    assert unset.served_at("::", 9000).effective_issuer == "http://127.0.0.1:9000"
    assert issuer_for("::1", 9000) == "http://[::1]:9000"
    # COOP_ISSUER wins; unset and never served, the default address
    given = Settings(issuer="https://coop.example")
    assert given.served_at("127.0.0.1", 9000).effective_issuer == "https://coop.example"
    assert unset.effective_issuer == "http://127.0.0.1:8000"


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def database(new_database: Callable[..., str]) -> str:
    """A fresh, migrated database on the session's server; dropped afterwards."""
    return new_database()


@pytest.fixture
def redis_url(other_redis: Callable[[int], str]) -> str:
    """Another Redis database than the session's (4 further on), emptied before and after."""
    return other_redis(4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll a condition until it holds (its value returned), or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _log_file(path: Path) -> Any:
    return path.open("w")  # the child process writes it; closed in `finally`


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    with_group = True
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        with_group = False
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    if with_group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _api_processes(serve_pid: int) -> list[psutil.Process]:
    """uvicorn's API processes: the children of ``coop serve`` that multiprocessing spawned."""
    return [
        p
        for p in psutil.Process(serve_pid).children()
        if "spawn_main" in " ".join(p.cmdline()) and p.is_running()
    ]


def _served_by(port: int, processes: list[psutil.Process]) -> int | None:
    """One request on a connection of its own; which API process answered it (pid)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200"), "GET /health failed"
        mine = s.getsockname()[1]
        for p in processes:
            for c in p.net_connections(kind="tcp"):
                if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == mine:
                    return p.pid
    return None


# -- the test --------------------------------------------------------------------------------


async def test_two_api_processes_and_two_workers_decide_each_thing_once(
    database: str, redis_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env.update(
        COOP_DATABASE_URL=database,
        COOP_REDIS_URL=redis_url,
        COOP_DATA_DIR=str(tmp_path / "data"),
        COOP_SCRYPT_N=str(SCRYPT_N),
        COOP_LOG_LEVEL="WARNING",
    )  # no COOP_ISSUER: it follows --port
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # `coop serve` makes one of its own
    logs = {name: _log_file(tmp_path / f"{name}.log") for name in ("serve", "worker1", "worker2")}

    def start(name: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [COOP, *args],
            env=env,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,  # a process group of its own, stopped whole
        )

    procs: list[subprocess.Popen] = []
    engine: AsyncEngine = create_async_engine(database)
    try:
        procs.append(start("serve", "serve", "--workers", "2", "--port", str(port)))
        procs += [start(name, "worker") for name in ("worker1", "worker2")]
        serve, workers = procs[0], procs[1:]

        # the region, in-process on the same database, while the processes start
        region = unique("region")
        owner, requester = unique("owner"), unique("requester")
        for slug in (owner, requester):
            await add_authority(
                engine,
                AuthorityIn(slug=slug, name=slug.title(), gss_code=gss(), region=region),
                actor=None,
            )
        clients = {
            "admin": ClientIn(region=region, scopes=ADMIN_SCOPES),
            "owner": ClientIn(authority=owner, scopes=AUTHORITY_SCOPES),
            "requester": ClientIn(authority=requester, scopes=AUTHORITY_SCOPES),
        }
        made = {
            k: await create_client(engine, c, actor=None, scrypt_n=SCRYPT_N)
            for k, c in clients.items()
        }

        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def ready() -> bool:
                assert serve.poll() is None, "coop serve exited: see serve.log"
                try:
                    return (await http.get("/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ready, 60, "coop serve --workers 2 to be ready")

            h: dict[str, dict[str, str]] = {}
            for key, c in made.items():
                r = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(c.client_id, c.client_secret),
                )
                assert r.status_code == 200, r.text
                claims = _claims(r.json()["access_token"])
                assert claims["iss"] == base  # no COOP_ISSUER: the address served
                assert base in (
                    claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
                )
                h[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}

            hold = "PT3S"
            r = await http.put(
                f"/regions/{region}/policy",
                json={
                    "priority": {
                        "home_window": "PT2S",
                        "offer_hold": {"today": hold, "within_5_days": hold, "planned": hold},
                    }
                },
                headers=h["admin"],
            )
            assert r.status_code in (200, 201), r.text
            r = await http.post("/homes", json=home_payload(), headers=h["owner"])
            assert r.status_code == 201, r.text
            bed = r.json()["beds"][0]["id"]
            today = local_date(datetime.now(UTC))
            r = await http.post(
                "/voids",
                json={"bed_id": bed, "available_from": today.isoformat()},
                headers=h["owner"],
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                "/bookings",
                json={
                    "void_id": r.json()["id"],
                    "child": child(),
                    "urgency": "planned",
                    "start_date": (today + timedelta(days=14)).isoformat(),
                    "end_date": (today + timedelta(days=42)).isoformat(),
                },
                headers=h["requester"],
            )
            assert r.status_code == 201, r.text
            booking = r.json()
            assert booking["status"] == "pending", booking  # the home window holds it back

            async def status(wanted: str) -> dict[str, Any] | None:
                r = await http.get(f"/bookings/{booking['id']}", headers=h["requester"])
                assert r.status_code == 200, r.text
                return r.json() if r.json()["status"] == wanted else None

            offered = await _until(lambda: status("offered"), 30, "a worker to offer the bed")
            declined = await _until(lambda: status("declined"), 30, "a worker to expire it")
            assert declined["status_reason"] == "offer_expired", declined
            assert offered["offer_expires_at"]

            # many requests through the one port, all answered
            rs = await asyncio.gather(
                *(http.get(f"/bookings/{booking['id']}", headers=h["owner"]) for _ in range(40))
            )
            assert [x.status_code for x in rs] == [200] * 40

        # both API processes serve: connections of their own, until each answered one
        api = _api_processes(serve.pid)
        assert len(api) == 2, [p.cmdline() for p in api]
        answered: set[int | None] = set()

        async def both() -> bool:
            answered.add(await asyncio.to_thread(_served_by, port, api))
            return {p.pid for p in api} <= answered

        await _until(both, 20, "each API process to answer a request")

        # both workers still run
        assert [w.poll() for w in workers] == [None, None], "a worker exited: see its log"

        # in the database: one offer, one expiry, both by the system (a worker), not the API
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        booking_events.c.from_status,
                        booking_events.c.to_status,
                        booking_events.c.reason,
                        booking_events.c.actor,
                    )
                    .where(booking_events.c.booking_id == booking["id"])
                    .order_by(booking_events.c.id)
                )
            ).all()
        offers = [r for r in rows if r.to_status == "offered"]
        expiries = [r for r in rows if r.reason == "offer_expired"]
        assert len(offers) == 1, rows
        assert len(expiries) == 1, rows
        assert offers[0].actor.startswith("system:"), rows
        assert expiries[0].actor.startswith("system:"), rows
    except BaseException:
        for f in logs.values():
            f.flush()
        for name in logs:
            print(f"--- {name}.log ---\n{(tmp_path / f'{name}.log').read_text()[-4000:]}")
        raise
    finally:
        for proc in procs:
            _stop(proc)
        for f in logs.values():
            f.close()
        await engine.dispose()
