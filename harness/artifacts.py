"""Built model directories (the organisms, attacked and recovered checkpoints), cached by content.

Contract of `ensure_built(root, key, build, required)`: it returns `root/key`, a directory whose files
match the manifest written when it was built. The build runs in a temporary directory under a file
lock (two pytest-xdist workers build once), the manifest (sha256 of every file) is written last, and
the directory is renamed into place atomically. An entry whose manifest is missing or does not match
is deleted and rebuilt, never loaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Callable, Sequence

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_digest(path: Path) -> str:
    """SHA-256 of a Python file's code without its docstrings and comments: what a cache key built on
    code should hash, so that editing the prose does not orphan a model that took an hour to build."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            setattr(node, "body", body[1:] or [ast.Pass()])  # any node with a body (ast.AST does not declare one)
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def write_manifest(d: Path, key: str) -> None:
    """Every file under `d` (subdirectories too, e.g. a kept LoRA adapter) with its SHA-256."""
    files = {p.relative_to(d).as_posix(): sha256_file(p) for p in sorted(d.rglob("*"))
             if p.is_file() and p.name not in (MANIFEST, MANIFEST + ".tmp")}
    tmp = d / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"key": key, "files": files}, indent=1, sort_keys=True))
    tmp.replace(d / MANIFEST)


def verify(d: Path, key: str | None = None, required: Sequence[str] = ()) -> str | None:
    """None if `d` is a complete, unmodified entry; otherwise what is wrong with it."""
    m = d / MANIFEST
    if not m.is_file():
        return "no manifest (build incomplete)"
    try:
        manifest = json.loads(m.read_text())
        files: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError):
        return "manifest unreadable"
    if key is not None and manifest.get("key") != key:
        return "manifest key mismatch"
    missing = [f for f in required if f not in files]
    if missing:
        return f"manifest lacks {missing}"
    for name, digest in files.items():
        p = d / name
        if not p.is_file():
            return f"{name} missing"
        if sha256_file(p) != digest:
            return f"{name} does not match its manifest hash"
    return None


HELD: dict[str, IO[bytes]] = {}  # entry path → the open lock file that holds it for this process


def hold(entry_dir: Path) -> None:
    """Mark `entry_dir` in use by this process (until it exits) and record the use."""
    key = str(entry_dir)
    if key not in HELD:
        f = open(entry_dir.parent / f"{entry_dir.name}.use", "ab")  # noqa: SIM115 (held open on purpose)
        fcntl.flock(f, fcntl.LOCK_SH)
        HELD[key] = f
    try:
        os.utime(entry_dir / MANIFEST)
    except OSError:
        pass


def ensure_built(root: Path, key: str, build: Callable[[Path], None], required: Sequence[str],
                 label: str, progress: bool = True) -> Path:
    """`root/key`, built by `build(tmp_dir)` on first use and reused (after a hash check) afterwards."""
    from filelock import FileLock

    final = root / key
    if final.is_dir() and verify(final, key, required) is None:
        hold(final)  # in use by this process: `safety-harness cache prune` leaves it alone
        return final
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{key}.lock")):
        problem = verify(final, key, required) if final.exists() else None
        if final.exists() and problem is None:
            hold(final)
            return final  # another process built it while we waited
        if final.exists():
            print(f"{label} cache entry {final} is damaged ({problem}); rebuilding", file=sys.stderr)
            shutil.rmtree(final)
        for stale in root.glob(f".tmp-{key}-*"):  # left by a killed build; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".tmp-{key}-{os.getpid()}"
        if progress:
            print(f"building the {label} into {final} (first use)", file=sys.stderr)
        try:
            tmp.mkdir(parents=True)
            build(tmp)
            write_manifest(tmp, key)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    hold(final)
    return final


SAMPLES, SAMPLE_BYTES = 16, 1 << 16  # the content sample checked on every use of a memoised hash


def file_hash(f: Path) -> str:
    """SHA-256 of the file's content, memoised. The memo is found by (path, inode, size, mtime, ctime) —
    ctime is set by the kernel on every write and cannot be set back the way `cp -p`, `rsync -t` or
    `tar x` set mtime back — and is used only when a sample of the content (16 × 64 KiB, evenly spread)
    still matches the one taken with it; otherwise the file is hashed again. (benchmarks/fingerprint.py
    times the check against a full hash.)"""
    st = f.stat()
    memo_dir = cache_root() / "file-hashes"
    ident = f"{f.resolve()}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"
    memo = memo_dir / hashlib.sha256(ident.encode()).hexdigest()
    sample = content_sample(f, st.st_size)
    if memo.is_file():
        saved, _, digest = memo.read_text().partition(" ")
        if saved == sample and digest:
            return digest
    digest = sha256_file(f)
    memo_dir.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(f"{sample} {digest}")
    tmp.replace(memo)
    return digest


def content_sample(f: Path, size: int) -> str:
    """SHA-256 of SAMPLES blocks of SAMPLE_BYTES spread evenly over the file (all of it when small)."""
    h = hashlib.sha256()
    with f.open("rb") as fh:
        if size <= SAMPLES * SAMPLE_BYTES:
            h.update(fh.read())
        else:
            for i in range(SAMPLES):
                fh.seek((size - SAMPLE_BYTES) * i // (SAMPLES - 1))
                h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest()


def cache_root() -> Path:
    """The user cache directory ($SAFETY_HARNESS_CACHE, else $XDG_CACHE_HOME/safety-harness)."""
    env = os.environ.get("SAFETY_HARNESS_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "safety-harness"
