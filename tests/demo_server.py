"""The ``demo_server`` fixture: ``coop demo`` started once per test session, as a newcomer
starts it — the real command in a subprocess, in a fresh directory, on the embedded default
(whatever COOP_TEST_* or COOP_* the suite runs with).

It waits for the command's ready line (a condition, not a sleep), reads the demo's clients
from ``demo.json``, and stops the command with SIGTERM at the end of the session.
``tests/conftest.py`` imports it, so any test folder can ask for it (``tests/board/`` does).
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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from coop.demo import DEMO_FILE, READY

#: a load takes about half a minute on two cores; leave room for a slow CI machine
READY_TIMEOUT = 240.0
SEED = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoRun:
    """One ``coop demo`` process and what it printed."""

    proc: subprocess.Popen[str]
    started: float
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    ready_after: float | None = None

    def read(self) -> None:
        """Collect stdout until it closes; note when the ready line comes."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(READY) and not self.ready.is_set():
                self.ready_after = time.monotonic() - self.started
                self.ready.set()
        self.ready.set()  # the process ended: stop waiting

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@dataclass
class DemoServer:
    """``coop demo`` serving a loaded East of England: its URL, clients and directory."""

    workdir: Path
    port: int
    seed: int = SEED
    run: DemoRun | None = None
    first: DemoRun | None = None
    """The run that loaded the data (``run`` is the one serving now)."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def board_url(self) -> str:
        return f"{self.base_url}/board"

    @property
    def data_dir(self) -> Path:
        return self.workdir / ".coop"

    @property
    def clients(self) -> dict[str, dict[str, Any]]:
        """Role -> ``{client_id, client_secret, scopes, role, authority | region}``: the
        ``placements``, ``home_manager``, ``finance``, ``board`` and ``admin`` clients."""
        return self.info["clients"]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
        env.update(COOP_DATA_DIR=str(self.data_dir), COOP_LOG_LEVEL="WARNING")
        return env

    def start(self) -> DemoRun:
        """Start ``coop demo`` and wait for its ready line (it loads first if it must)."""
        log = open(self.workdir / "demo.stderr", "a")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coop.cli",
                "demo",
                "--seed",
                str(self.seed),
                "--port",
                str(self.port),
            ],
            cwd=self.workdir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        log.close()
        run = DemoRun(proc=proc, started=time.monotonic())
        threading.Thread(target=run.read, daemon=True).start()
        if not run.ready.wait(READY_TIMEOUT) or run.ready_after is None:
            self._kill(proc)
            stderr = (self.workdir / "demo.stderr").read_text()[-4000:]
            raise AssertionError(
                f"coop demo was not ready in {READY_TIMEOUT:.0f} s (exit {proc.poll()}):\n"
                f"{run.output[-4000:]}\n--- stderr ---\n{stderr}"
            )
        self.run = run
        self.info = json.loads((self.data_dir / DEMO_FILE).read_text())
        return run

    def stop(self) -> int:
        """SIGTERM, and wait for a clean exit."""
        run, self.run = self.run, None
        if run is None:
            return 0
        run.proc.send_signal(signal.SIGTERM)
        try:
            return run.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._kill(run.proc)
            raise

    def restart(self) -> DemoRun:
        """Stop the command and start it again on the same directory (and port)."""
        self.stop()
        return self.start()

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    def token(self, role: str) -> str:
        c = self.clients[role]
        r = httpx.post(
            f"{self.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(c["client_id"], c["client_secret"]),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def client(self, role: str) -> httpx.Client:
        """An HTTP client of the server, signed in as ``role``."""
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token(role)}"},
            timeout=60,
        )


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    """``coop demo --seed 1`` loaded in a fresh directory and serving (once per session)."""
    # Not under pytest's 0700 tmp: the embedded PostgreSQL runs as its own system user.
    workdir = Path(tempfile.mkdtemp(prefix="coop-demo-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    server = DemoServer(workdir=workdir, port=free_port())
    try:
        server.first = server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
