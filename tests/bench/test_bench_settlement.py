"""`coop bench settlement` keeps working: a tiny national month (2 regions, 200 placements).

Not a speed test (figures live in the bench's own output): it checks the bench builds its
market on a fresh database of the test server, settles through a real worker, re-runs the
month without posting, settles the next month, measures the COPY floor, and prints every
figure with the command that reproduces them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

COOP = str(Path(sys.executable).with_name("coop"))


def test_the_settlement_bench_settles_a_tiny_month_through_the_worker(
    servers: dict[str, str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    # the test servers: the bench creates (and drops) a database of its own on them
    env["COOP_DATABASE_URL"] = servers["database_url"]
    env["COOP_REDIS_URL"] = servers["redis_url"]
    env["COOP_LOG_LEVEL"] = "WARNING"
    args = ["--regions", "2", "--authorities", "6", "--beds", "400", "--placements", "200"]
    out = subprocess.run(
        [COOP, "bench", "settlement", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = out.stdout
    for figure in (
        "by bulk SQL (COPY; not through the API)",
        "2 regions, 6 authorities, 100 homes, 400 beds",
        "placements between two authorities of a region, each on its own bed: 200",
        "own-authority placements (never charged): 20",
        "no-op posted 0 lines",
        "ledger: sums to 0, 0 unbalanced entries",
    ):
        assert figure in report, report
    for label in ("settle", "no-op", "next month", "COPY floor", "COPY, real-shaped"):
        assert re.search(rf"^  {re.escape(label)} .* [0-9]+\.[0-9]{{2}} s ", report, re.M), (
            label,
            report,
        )
    assert re.search(r"posted [0-9,]+ lines .*, [0-9,]+ invoices, [0-9,]+ entries", report)
    assert re.search(r"ratio +[0-9.]+× the COPY floor", report), report
    assert re.search(r"invoice lines ([0-9,]+) → \1\b", report), report
    [reproduce] = [line for line in report.splitlines() if "reproduce:" in line]
    assert reproduce.strip().endswith(
        f"coop bench settlement {' '.join(args)} --month "
        + (
            re.search(r"settle +([0-9]{4}-[0-9]{2})", report)[1]  # type: ignore[index]
        )
    ), reproduce
