"""A second identical run against the first, measured in one go: what a cached `make demo` costs.

Runs `pytest suites/` (the repository's safety.yaml: the organism, its attack and recovery stages, every
suite) twice in fresh subprocesses on one empty harness cache: the first builds the organisms and stages
and generates and judges everything, the second finds all of it cached. No network is assumed: a
hub-backed suite (MMLU, TriviaQA, HEx-PHI) skips at once when huggingface.co is unreachable or
HF_HUB_OFFLINE is set. Prints both times and second/first (target <= 0.03).

    python benchmarks/rerun.py [-- extra pytest args, e.g. -k original]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cache: Path, reports: Path, extra: list[str]) -> float:
    env = dict(os.environ, SAFETY_HARNESS_CACHE=str(cache))
    start = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites"), "-q", "-p", "no:cacheprovider",
                           "--reports-dir", str(reports), *extra], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL).returncode
    elapsed = time.perf_counter() - start
    if code not in (0, 1):  # 1: a gate failed, still a complete run
        sys.exit(f"pytest suites/ failed with exit code {code}")
    return elapsed


def main() -> None:
    extra = sys.argv[1:]
    if extra[:1] == ["--"]:
        extra = extra[1:]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        first = run(cache, Path(tmp) / "reports-1", extra)
        second = run(cache, Path(tmp) / "reports-2", extra)
    print(f"first run (empty cache): {first:8.1f} s")
    print(f"second run (cached):     {second:8.1f} s")
    print(f"second/first: {second / first:.3f} (target <= 0.03)")


if __name__ == "__main__":
    main()
