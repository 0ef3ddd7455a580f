"""What the browser test needs from the machine: Debian's Chromium and axe-core from npm.

``.ci/run`` installs Chromium when it is missing (``scripts/browser``); axe-core is fetched
from the npm registry into ``.cache/`` the first time. Where either cannot be had, the
browser test is skipped with a message that says so and how to mend it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the axe-core release the test runs (the npm registry's, pinned)
AXE_VERSION = "4.14.1"
CACHE = ROOT / ".cache" / "npm"
#: where the browser test leaves its screenshots and PDF (COOP_TEST_OUTPUT overrides)
OUTPUT = Path(os.environ.get("COOP_TEST_OUTPUT") or ROOT / "test-output")
#: flags for a headless Chromium on a machine with no network but loopback
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-GB",  # dates shown as a person in England reads them
]


def loud_skip(why: str) -> None:
    banner = "!" * 78
    message = f"\n{banner}\nBROWSER TEST SKIPPED: {why}\n{banner}"
    print(message)
    pytest.skip(message)


def chromium() -> str:
    path = os.environ.get("COOP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        loud_skip(
            "no Chromium at /usr/bin/chromium. Install Debian's package: "
            "`apt-get install -y chromium` (.ci/run does this), or set COOP_CHROMIUM."
        )
    try:
        import playwright  # noqa: F401
    except ImportError:
        loud_skip("Playwright for Python is not installed: pip install -e '.[test]'.")
    return path


def axe_source() -> str:
    """axe-core's browser script, installed from the npm registry on first use."""
    script = CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            loud_skip("npm is not installed: axe-core comes from the npm registry.")
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(CACHE),
                "--no-audit",
                "--no-fund",
                "--no-save",
                f"axe-core@{AXE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not script.exists():
            loud_skip(f"could not install axe-core@{AXE_VERSION} from npm: {done.stderr[-500:]}")
    return script.read_text()
