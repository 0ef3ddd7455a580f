"""One database per test session, on real PostgreSQL and Redis.

``COOP_TEST_DATABASE_URL`` / ``COOP_TEST_REDIS_URL`` name servers to use (a fresh database is
created on that server for the session and dropped after); otherwise the embedded default
is started in a temporary directory. Tests never share tenants: each takes a fresh region.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx
import pytest
from sqlalchemy.engine import make_url

from coop.app import create_app
from coop.bench import admin_sql as _admin_sql  # one statement outside a transaction
from coop.clock import FrozenClock
from coop.context import Coop
from coop.settings import Settings
from tests.demo_server import demo_server  # noqa: F401 - the session's `coop demo`, for any folder
from tests.support import Lifespan, Region

ISSUER = "http://coop.test"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # Not under pytest's 0700 tmp: the embedded PostgreSQL runs as its own system user.
    path = Path(tempfile.mkdtemp(prefix="coop-test-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def servers(data_dir: Path) -> Iterator[dict[str, str]]:
    """URLs of a PostgreSQL database (fresh, migrated) and a Redis, for the whole session."""
    from coop.db.migrate import upgrade

    given_db = os.environ.get("COOP_TEST_DATABASE_URL")
    given_redis = os.environ.get("COOP_TEST_REDIS_URL")
    embedded = None
    if not (given_db and given_redis):
        from coop.embedded import Embedded

        embedded = Embedded(data_dir / "services").start()
    try:
        if given_db:
            base = make_url(given_db).set(drivername="postgresql+asyncpg")
            name = f"coop_test_{uuid.uuid4().hex[:8]}"
            _admin_sql(base, f'CREATE DATABASE "{name}"')
            db_url = base.set(database=name).render_as_string(hide_password=False)
        else:
            assert embedded and embedded.database_url
            db_url = embedded.database_url
        redis_url = given_redis or (embedded.redis_url if embedded else None)
        assert redis_url
        if given_redis:
            _flush(redis_url)  # the test database: jobs left by an earlier run must not linger
        upgrade(db_url)
        yield {"database_url": db_url, "redis_url": redis_url}
        if given_db:
            _admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if embedded is not None:
            embedded.stop()


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.fixture
def new_database(servers: dict[str, str]) -> Iterator[Callable[..., str]]:
    """Make fresh databases on the session's server, migrated unless ``migrate=False``, for
    tests whose own processes must not touch the session's data; dropped afterwards.

    Blocking (Alembic runs its own event loop): from an async test, ``await
    asyncio.to_thread(new_database)``.
    """
    from coop.db.migrate import upgrade

    base = make_url(servers["database_url"])
    server = base.render_as_string(hide_password=False)
    made: list[str] = []

    def make(*, migrate: bool = True) -> str:
        name = f"coop_scratch_{uuid.uuid4().hex[:8]}"
        _admin_sql(server, f'CREATE DATABASE "{name}"')
        made.append(name)
        url = base.set(database=name).render_as_string(hide_password=False)
        if migrate:
            upgrade(url)
        return url

    yield make
    for name in made:
        _admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def other_redis(servers: dict[str, str]) -> Iterator[Callable[[int], str]]:
    """Another Redis database than the session's (``offset`` further on), emptied before and
    after: for worker processes that must not take the session's jobs."""

    made: list[str] = []

    def make(offset: int) -> str:
        url = urlparse(servers["redis_url"])
        if url.scheme == "unix":
            db = (int(parse_qs(url.query).get("db", ["0"])[0]) + offset) % 16
            other = f"unix://{url.path}?{urlencode({'db': db})}"
        else:
            db = (int(url.path.strip("/") or 0) + offset) % 16
            other = urlunparse(url._replace(path=f"/{db}"))
        _flush(other)
        made.append(other)
        return other

    yield make
    for url in made:
        _flush(url)


@pytest.fixture(scope="session")
def settings(servers: dict[str, str], data_dir: Path) -> Settings:
    return Settings(
        database_url=servers["database_url"],
        redis_url=servers["redis_url"],
        data_dir=str(data_dir),
        issuer=ISSUER,
        jwks_file=str(data_dir / "keys" / "jwks.json"),
        scrypt_n=2**10,  # fast in tests; production default is 2**14
        token_ttl_seconds=90 * 24 * 3600,  # tests move the clock by days
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def session_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def clock(session_clock: FrozenClock) -> FrozenClock:
    """The service clock, reset to the real time at the start of each test."""
    from datetime import UTC, datetime

    session_clock.set(datetime.now(UTC).replace(microsecond=0))
    return session_clock


@pytest.fixture(scope="session")
async def app(settings: Settings, session_clock: FrozenClock) -> AsyncIterator[Any]:
    application = create_app(settings, clock=session_clock)
    async with Lifespan(application):
        yield application


@pytest.fixture(scope="session")
def coop(app: Any) -> Coop:
    return app.state.coop


@pytest.fixture(scope="session")
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
        yield client


@pytest.fixture
async def region(http: httpx.AsyncClient, coop: Coop, clock: FrozenClock) -> Region:
    """A fresh region with its admin client; add authorities with ``await region.authority()``."""
    return await Region.create(http, coop)
