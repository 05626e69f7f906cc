"""The harness cache on the user's disk: what it holds, and pruning it (`safety-harness cache ls|prune`).

Built models live under the cache root as `<kind>/<key>/` entries (organisms, the safety-tuned
SmolLM2, converted GGUF files, attack and recovery checkpoints), each with the manifest
harness/artifacts.py writes; generations and verdicts live in `cache.sqlite`. An entry a process is
using is held by a shared lock on `<kind>/<key>.use` for the life of that process (artifacts.hold), and prune
never removes an entry whose lock it cannot take. Last use is the manifest's modification time, set on
every use.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .artifacts import HELD, MANIFEST, cache_root


@dataclass(frozen=True)
class Entry:
    kind: str       # organism, smollm2-aligned, stages, gguf, … (the folder under the cache root)
    path: Path
    size: int       # bytes
    last_used: float  # epoch seconds

    @property
    def lock_file(self) -> Path:
        """Held shared by each process that uses the entry (artifacts.hold)."""
        return self.path.parent / f"{self.path.name}.use"

    @property
    def build_lock(self) -> Path:
        """Held by the process that builds the entry (artifacts.ensure_built)."""
        return self.path.parent / f"{self.path.name}.lock"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def entries(root: Path | None = None) -> list[Entry]:
    """Every built entry under the cache root, oldest use first."""
    root = root or cache_root()
    out = []
    for manifest in root.glob(f"*/*/{MANIFEST}"):
        d = manifest.parent
        out.append(Entry(d.parent.name, d, _size(d), manifest.stat().st_mtime))
    return sorted(out, key=lambda e: e.last_used)


def total_size(root: Path | None = None) -> int:
    root = root or cache_root()
    return _size(root) if root.exists() else 0


def in_use(entry: Entry) -> bool:
    """Whether this process or another holds the entry (its shared lock), or one builds beside it."""
    if str(entry.path) in HELD:
        return True
    for lock in (entry.lock_file, entry.build_lock):
        if not lock.exists():
            continue
        with open(lock, "ab") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
            except BlockingIOError:
                return True
    return False


def prune(older_than_days: float | None = None, max_bytes: int | None = None, root: Path | None = None,
          dry_run: bool = False) -> tuple[list[Entry], list[Entry]]:
    """(removed, kept in use): entries unused for more than `older_than_days`, then the least recently
    used until the entries total at most `max_bytes`. An entry in use is never removed."""
    now, removed, busy = time.time(), [], []
    live = entries(root)
    total = sum(e.size for e in live)
    for e in live:  # oldest use first
        old = older_than_days is not None and now - e.last_used > older_than_days * 86400
        over = max_bytes is not None and total > max_bytes
        if not (old or over):
            continue
        if in_use(e):
            busy.append(e)
            continue
        if not dry_run:
            shutil.rmtree(e.path, ignore_errors=True)
            for side in (e.lock_file, e.build_lock):
                side.unlink(missing_ok=True)
        removed.append(e)
        total -= e.size
    return removed, busy


def human(n: float) -> str:
    """Bytes as B, KiB, MiB or GiB."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"
