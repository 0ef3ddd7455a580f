"""`coop bench reports` keeps working: five years of a tiny England (30 homes, 120 beds).

Not a speed test (figures and their targets live in the bench's own output): it checks the
bench builds its market on a fresh database of the test server by bulk SQL, times every
report (or says one is not written yet), counts every bed registered today once, and prints
the command that reproduces it all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

COOP = str(Path(sys.executable).with_name("coop"))

REGION = r"[a-z-]+"  # the region with the most beds (at this scale, the dice decide)
LABELS = (
    rf"capacity on 2026-06-15, {REGION}",
    r"capacity on 2026-06-15, all England \(beds_on \+ tally_on\)",
    rf"capacity series {REGION}, 2021-06-01 → 2026-06-16, monthly",
    rf"income {REGION}, 2025-06-01 → 2026-06-01",
    rf"demand {REGION}, 2025-06-01 → 2026-06-01",
)


def test_the_reports_bench_times_every_report_on_a_tiny_england(
    servers: dict[str, str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    # the test server: the bench creates (and drops) a database of its own on it
    env["COOP_DATABASE_URL"] = servers["database_url"]
    env["COOP_REDIS_URL"] = servers["redis_url"]
    env["COOP_LOG_LEVEL"] = "WARNING"
    args = ["--scale", "0.01", "--seed", "3", "--years", "5", "--runs", "2"]
    args += ["--today", "2026-06-15"]
    out = subprocess.run(
        [COOP, "bench", "reports", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = out.stdout
    assert "by bulk SQL (COPY; not through the API)" in report, report
    assert "9 regions, 153 authorities" in report, report
    assert "30 homes" in report and "120 beds; 5 years from 2021-06-15" in report, report
    rows = re.search(
        r"rows: authorities 153, homes 30, beds 120, bookings ([0-9,]+), bed_states ([0-9,]+), "
        r"voids ([0-9,]+), booking_events ([0-9,]+), region_policies 18",
        report,
    )
    assert rows and all(int(n.replace(",", "")) > 0 for n in rows.groups()), report
    seeded = re.search(r"data, by bulk SQL .* in ([0-9.]+) s", report)
    assert seeded, report
    for figure in ("bookings by status: ", "declined, by reason: ", "voids: ", "England on "):
        assert figure in report, report
    assert re.search(
        r"occupied [0-9,]+ \(own [0-9,]+, sold [0-9,]+; [0-9.]+ % of operational", report
    )
    # every report: a time against its target
    for label in LABELS:
        timed = re.search(
            rf"^    {label} +[0-9.]+ ms \([0-9.]+–[0-9.]+\)   target < [0-9,]+ ms   (PASS|MISS)",
            report,
            re.M,
        )
        assert timed, (label, report)
    assert re.search(r"targets: [0-9] of 5 timed reports PASS$", report, re.M), report
    assert re.search(r"check: every bed registered today .*: ok$", report, re.M), report
    [reproduce] = [line for line in report.splitlines() if "reproduce:" in line]
    assert reproduce.strip().endswith(f"coop bench reports {' '.join(args)}"), reproduce
    assert "COOP_DATABASE_URL=" in reproduce, reproduce
