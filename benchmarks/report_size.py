"""The HTML report at scale: file size and time to usable page, 1,000 against 50,000 samples.

Builds two synthetic runs (same suites and stages, prompts of ~25 words and answers of ~60), renders
each report, and opens it in headless Chromium until the page's script has rendered the sample
browser (`--dump-dom`, which returns once the page settled). Prints the size, the render and load
seconds of each, and the ratios 50k/1k: a page that rendered every sample would grow its load time
with the sample count; one that renders a page of rows grows only with the data it parses.
Targets: 50,000 samples under 25 MB.

    python benchmarks/report_size.py [--samples 50000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCAB = ("the model answer refuse help water minutes step first then sure cannot provide information because "
         "harm people here is how").split()


def build(directory: Path, n: int, seed: int = 0) -> tuple[Path, float]:
    from harness.records import make_record
    from harness.report import write_reports, write_samples
    from harness.types import JudgedSample, Sample, Verdict

    rng = random.Random(seed)
    words = lambda k: " ".join(rng.choice(VOCAB) for _ in range(k)) + f" {rng.random():.10f}"  # noqa: E731
    suites, stages = [f"suite-{i}" for i in range(5)], ["original", "attacked/a"]
    per = n // (len(suites) * len(stages))
    records = []
    for suite in suites:
        prompts = [words(25) for _ in range(per)]
        for stage in stages:
            judged = [JudgedSample(Sample(suite, f"{suite}-{i}", prompts[i], category=f"c{i % 7}"), stage, words(60),
                                   Verdict("unsafe" if rng.random() < 0.3 else "safe", "no refusal marker", "refusal"))
                      for i in range(per)]
            write_samples(directory, stage, suite, "refusal", judged)
            records.append(make_record(suite, stage, "refusal", "harmful_rate", judged).to_json())
    started = time.perf_counter()
    write_reports(directory, {"schema_version": 1, "records": records, "config": {"stages": stages}})
    return directory / "index.html", time.perf_counter() - started


def load_seconds(page: Path) -> float:
    chromium = shutil.which("chromium") or sys.exit("needs headless Chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        started = time.perf_counter()
        out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              "--virtual-time-budget=10000", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()], capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if 'data-ready="1"' not in out.stdout:
        sys.exit(f"{page}: the page's script did not finish")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for n in (1_000, args.samples):
            page, render = build(Path(tmp) / str(n), n)
            load = min(load_seconds(page) for _ in range(3))
            rows.append((n, page.stat().st_size / 2**20, render, load))
    for n, mib, render, load in rows:
        print(f"{n:>7,} samples: {mib:6.2f} MiB, render {render:5.2f} s, browser load {load:5.2f} s")
    (n1, m1, r1, l1), (n2, m2, r2, l2) = rows
    print(f"size ratio {m2 / m1:.1f} and load ratio {l2 / l1:.2f} for {n2 / n1:.0f}x the samples; "
          f"{n2:,} samples {'under' if m2 < 25 else 'OVER'} the 25 MB target")


if __name__ == "__main__":
    main()
