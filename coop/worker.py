"""The arq worker: every job and cron of the slices, in one list.

Redis only carries wake-ups; the database is the truth, so every job is idempotent and a
sweep finds whatever a lost job missed.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from coop import metrics
from coop.bookings.jobs import allocate_bed, expire_offer, sweep
from coop.clock import Clock
from coop.settings import Settings
from coop.settlement.jobs import monthly_settlement, settle_run_job, sweep_runs

log = logging.getLogger("coop.worker")

HEARTBEAT_KEY = "coop:worker:heartbeat"


def redis_settings(url: str) -> RedisSettings:
    """``redis://host:port/db`` or ``unix:///path/to/socket?db=N``."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        db = int(parse_qs(parsed.query).get("db", ["0"])[0])
        return RedisSettings(unix_socket_path=parsed.path, database=db)
    return RedisSettings.from_dsn(url)


async def heartbeat(ctx: dict[str, Any]) -> str:
    """Say the worker is alive (operations look at this key's age)."""
    metrics.job_started("heartbeat", ctx)
    now = ctx["clock"].now().isoformat()
    await ctx["redis"].set(HEARTBEAT_KEY, now, ex=600)
    return now


FUNCTIONS: list[Any] = [
    heartbeat,
    # Keyed per bed / per booking; keep_result=0 so the same key can be enqueued again.
    func(allocate_bed, keep_result=0, max_tries=5),
    func(expire_offer, keep_result=0, max_tries=5),
    # Keyed per (region, month); a run that fails is retried (and swept up if all else fails).
    func(settle_run_job, keep_result=0, max_tries=10, timeout=900),
]
CRON_JOBS: list[Any] = [
    cron(heartbeat, second=0, run_at_startup=True, keep_result=0),
    # The database is the truth: every 30 s, settle whatever a lost wake-up missed.
    cron(sweep, second={0, 30}, run_at_startup=True, keep_result=0, unique=True),
    # Runs a dead worker or a lost job left behind: at start-up and every minute.
    cron(sweep_runs, second=15, run_at_startup=True, keep_result=0, unique=True, timeout=900),
    # The month just ended, for every region, on the 1st (02:00 UTC: the month is over in
    # England in summer time too).
    cron(monthly_settlement, day=1, hour=2, minute=0, second=0, keep_result=0, unique=True),
]


def build_worker(settings: Settings, *, clock: Clock | None = None, **overrides: Any) -> Worker:
    """A worker for ``coop worker`` or in-process beside ``coop serve``."""
    from coop.db.session import create_engine

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["clock"] = clock or Clock()
        ctx["engine"] = create_engine(settings)
        if settings.worker_metrics_port is not None:
            # the worker's own figures (job lag, deferred decisions, settlement runs), behind
            # the same token as the API's /metrics (coop.metrics)
            ctx["metrics_server"] = metrics.serve_worker_metrics(
                settings.worker_metrics_host, settings.worker_metrics_port, settings.metrics_token
            )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        server = ctx.pop("metrics_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()

    assert settings.redis_url, "the worker needs Redis"
    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "redis_settings": redis_settings(settings.redis_url),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "keep_result": 60,
        "max_jobs": 20,
    }
    options.update(overrides)
    return Worker(**options)
