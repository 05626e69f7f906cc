"""What a trustworthy weights fingerprint costs: a full SHA-256 of the file against the memo's check.

Every run fingerprints the model under test (harness/models.py). Hashing a checkpoint in full on every
run is the safe choice and costs a read of every byte; the memo reads 16 × 64 KiB of it (its content
sample) plus a stat, and falls back to the full hash when the file's identity (inode, size, mtime,
ctime) or the sample changed. One run, one file, prints both times and their ratio:

    python benchmarks/fingerprint.py [FILE]      # default: a 512 MiB file of random bytes in a temp dir
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SAFETY_HARNESS_CACHE"] = tmp  # a memo of our own
        from harness.artifacts import file_hash
        from harness.artifacts import sha256_file as full_hash

        f = args.file
        if f is None:
            f = Path(tmp) / "weights.bin"
            with f.open("wb") as fh:
                for _ in range(32):
                    fh.write(os.urandom(16 << 20))
        size = f.stat().st_size
        assert file_hash(f) == full_hash(f)  # fills the memo (and warms the page cache for both)
        full = best_of(lambda: full_hash(f), args.repeats)
        memo = best_of(lambda: file_hash(f), args.repeats)
        print(f"{f.name}: {size / 2**20:.0f} MiB, page cache warm, best of {args.repeats}")
        print(f"  full SHA-256 every run : {full:8.3f} s")
        print(f"  memo + content sample  : {memo:8.4f} s")
        print(f"  ratio memo/full        : {memo / full:8.4f}")


if __name__ == "__main__":
    main()
