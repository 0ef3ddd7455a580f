"""`coop bench bookings` keeps working: a one-second run on a tiny market.

Not a speed test (figures live in the bench's own output): it checks the bench starts its
server, builds the market, drives load from separate processes, and finds no double booking.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COOP = str(Path(sys.executable).with_name("coop"))


def test_the_bookings_bench_runs_and_finds_no_double_booking() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env["COOP_SCRYPT_N"] = "1024"
    out = subprocess.run(
        [
            COOP,
            "bench",
            "bookings",
            "--seconds",
            "1",
            "--homes",
            "2",
            "--clients",
            "4",
            "--processes",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd="/tmp",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = out.stdout
    for line in ("decisions/s", "ceiling", "double bookings: 0", "reproduce: coop bench"):
        assert line in report, report
