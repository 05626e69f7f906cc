"""Headless Chromium for the report tests: the page's DOM after its script ran, and screenshots.

Debian's `chromium` (installed by .ci/run). It is started so that it runs in a container: as root without
its sandbox, with the background networking that a closed network refuses turned off, and a fresh
profile each time. `--virtual-time-budget` lets the page's script finish before the DOM is dumped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "reports" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=180)


def dom(page: Path, fragment: str = "") -> str:
    """The page's DOM, serialised after its script ran."""
    out = _run(["--dump-dom", page.resolve().as_uri() + (f"#{fragment}" if fragment else "")])
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def screenshot(page: Path, name: str, size: tuple[int, int] = (1400, 3000), fragment: str = "") -> Path:
    """A PNG of the page, kept under reports/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / name
    out = _run([f"--window-size={size[0]},{size[1]}", f"--screenshot={target}",
                page.resolve().as_uri() + (f"#{fragment}" if fragment else "")])
    assert out.returncode == 0 and target.is_file() and target.stat().st_size > 10_000, out.stderr[-2000:]
    return target
