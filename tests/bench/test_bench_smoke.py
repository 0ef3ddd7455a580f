"""`coop bench bookings` keeps working: a one-second run on a tiny market.

Not a speed test (figures live in the bench's own output): it checks the bench starts its
server, builds the market, drives load from separate processes, and finds no double booking;
with ``--workers 2``, against 1 and then 2 API processes in one run (closed loop, then an open
loop at half its rate); with ``--rate``, an open loop only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

#: Starts its own embedded servers whatever COOP_TEST_* say: CI runs it on one path only.
pytestmark = pytest.mark.own_servers

COOP = str(Path(sys.executable).with_name("coop"))


def _bench(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env["COOP_SCRYPT_N"] = "1024"
    common = ["--seconds", "1", "--homes", "2", "--clients", "4", "--processes", "1"]
    return subprocess.Popen(
        [COOP, "bench", "bookings", *common, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/tmp",
        start_new_session=True,  # its own process group: killed whole if the test fails
    )


def test_the_bookings_bench_runs_and_finds_no_double_booking() -> None:
    # at once (each starts its own embedded servers): 1 then 2 API processes, closed and
    # open loops; and an open loop at a given rate
    both = _bench("--workers", "2"), _bench("--rate", "20")
    try:
        (closed, closed_err), (open_, open_err) = (p.communicate(timeout=240) for p in both)
    finally:
        for p in both:  # SIGTERM lets the bench stop its embedded servers; then SIGKILL
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, sig)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=30)
    assert both[0].returncode == 0, closed_err[-3000:]
    assert both[1].returncode == 0, open_err[-3000:]
    for line in (
        "1 API process",
        "2 API processes",
        "decisions/s",
        "ceiling",
        "half the closed loop's rate",
        "gain       2 API processes:",
        "double bookings: 0",
        "reproduce: coop bench bookings --clients 4 --processes 1 --seconds 1 --homes 2 "
        "--workers 2",
    ):
        assert line in closed, closed
    for line in ("open loop     20.0 req/s scheduled (--rate", "p99", "double bookings: 0"):
        assert line in open_, open_
    assert "decisions/s" not in open_, open_  # --rate: the open loop only
