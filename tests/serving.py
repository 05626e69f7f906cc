"""A real `vllm serve` on loopback for the tests: started in its own process group, waited on until
healthy, stopped with the engine process it spawned. Shared by the backend tests (tiny model) and the
real-model tier (SmolLM2)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    key: str
    model: str
    log: Path
    started: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: Path, flags: Sequence[str], log: Path) -> Iterator[Served]:
    """Start `vllm serve MODEL FLAGS` on a free loopback port with a random API key; stop it after."""
    pytest.importorskip("vllm")
    port, key = free_port(), "sk-test-" + secrets.token_hex(12)
    # The API server always runs the engine core in a child process; with this setting and `uni` the
    # model runs inside that one child instead of a third process (~35 s to healthy instead of ~46 s).
    env = os.environ | {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--host", "127.0.0.1", "--port", str(port), "--api-key", key, *flags]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    served = Served(proc, f"http://127.0.0.1:{port}", key, str(model), log, time.perf_counter())
    try:
        yield served
    finally:
        stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen) -> None:
    """End the server and its engine process (started as a new process group, so one id covers both)."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_healthy(served: Served, timeout_s: float = 420) -> Served:
    """The server once /health answers 200; the test fails with the server's log if it exits or hangs."""
    deadline = time.monotonic() + timeout_s  # slow when the CPU is shared
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            pytest.fail(f"vllm serve exited ({served.proc.returncode}):\n" + served.log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(served.url + "/health", timeout=2) as r:
                if r.status == 200:
                    print(f"\nvllm serve healthy {time.perf_counter() - served.started:.1f} s after start")
                    return served
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"vllm serve did not become healthy within {timeout_s:.0f} s:\n" + served.log.read_text(errors="replace")[-3000:])
