"""Background work of settlement: carry out a run, open last month's runs on the 1st, and
sweep up runs a lost job or a dead worker left behind.

The database is the truth: a run that is ``queued``, ``running`` (its worker died: its
transaction died with it, nothing was posted) or ``failed`` with attempts left is carried out
again by the sweep, which every worker runs at start-up and every minute.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from arq.worker import Retry
from sqlalchemy.ext.asyncio import AsyncEngine

from coop import metrics
from coop.clock import Clock
from coop.policy.charges import month_start, period_of
from coop.settlement.runs import (
    execute_run,
    give_up_on_abandoned,
    regions_to_settle,
    request_run,
    unfinished_runs,
)
from coop.wakeups import Scheduler

log = logging.getLogger("coop.settlement.jobs")

#: how long a job waits before trying again while another worker holds the region
BUSY_RETRY = timedelta(seconds=2)


async def settle_run_job(ctx: dict[str, Any], run_id: str) -> str:
    """The job of one run (keyed per region and month, ``keep_result=0``)."""
    metrics.job_started("settle_run_job", ctx)
    outcome = await execute_run(ctx["engine"], run_id, clock=ctx["clock"])
    if outcome.status == "busy":
        raise Retry(defer=BUSY_RETRY)
    return outcome.status


async def sweep_runs_once(engine: AsyncEngine, clock: Clock) -> int:
    """Carry out every unfinished run; returns how many it completed."""
    await give_up_on_abandoned(engine, clock.now())
    done = 0
    for run_id in await unfinished_runs(engine):
        try:
            outcome = await execute_run(engine, run_id, clock=clock)
        except Exception:
            log.exception("sweep could not carry out run %s; it is retried", run_id)
            continue
        done += outcome.status == "completed"
    return done


async def sweep_runs(ctx: dict[str, Any]) -> int:
    metrics.job_started("sweep_runs", ctx)
    return await sweep_runs_once(ctx["engine"], ctx["clock"])


async def open_last_month(engine: AsyncEngine, clock: Clock, scheduler: Scheduler) -> list[str]:
    """On the 1st: open the month just ended for every region with bookings between its
    authorities. A region already settled past it, or already settled, is left alone."""
    last_month = period_of(month_start(month_start(clock.today()) - timedelta(days=1)))
    opened = []
    for region in await regions_to_settle(engine):
        try:
            run, _ = await request_run(
                engine, None, region, last_month, clock=clock, scheduler=scheduler
            )
        except Exception:
            log.exception("could not open the %s run of %s", last_month, region)
            continue
        opened.append(run.id)
    return opened


async def monthly_settlement(ctx: dict[str, Any]) -> int:
    metrics.job_started("monthly_settlement", ctx)
    return len(await open_last_month(ctx["engine"], ctx["clock"], Scheduler(ctx["redis"])))
