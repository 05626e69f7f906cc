"""Content-keyed store of generations and verdicts (SQLite in WAL mode).

A key is the SHA-256 of everything that determines the value: for a generation, the model's content
fingerprint, the full chat (or raw prompt), the sampling parameters, the seed and the repeat index; for
a verdict, the judge's fingerprint and template version with the judged text. Each batch is committed
as it finishes, so a killed run resumes where it stopped, and concurrent pytest-xdist workers share one
file safely.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .types import ChoiceRequest, GenerationRequest, Request

TABLES = ("generations", "verdicts")


def content_key(payload: Any) -> str:
    """Stable hash of a JSON-able payload (dict keys sorted, no whitespace variance)."""
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def generation_key(model_fingerprint: str, request: GenerationRequest, engine: Mapping[str, Any] | None = None) -> str:
    """`engine`: what of the backend can change the answer (BackendSpec.identity)."""
    payload = {"model": model_fingerprint, "messages": [dict(m) for m in request.messages],
               "params": request.params.as_dict(), "repeat": request.repeat}
    if engine is not None:
        payload["engine"] = dict(engine)
    if request.prompt is not None:  # only then, so keys of chat requests stay what they were
        payload |= {"prompt": request.prompt, "add_special_tokens": request.add_special_tokens}
    return content_key(payload)


def request_key(model_fingerprint: str, request: Request, engine: Mapping[str, Any] | None = None) -> str:
    """The key of a phase-1 result: a generation, or a multiple-choice pick (its choices join the key)."""
    if isinstance(request, ChoiceRequest):
        payload = {"choice": generation_key(model_fingerprint, request.context, engine), "choices": list(request.choices)}
        if request.delimiter:  # only then, so keys of chat-format picks stay what they were
            payload["delimiter"] = request.delimiter
        return content_key(payload)
    return generation_key(model_fingerprint, request, engine)


def verdict_key(judge_fingerprint: str, prompt: str, response: str, context: str | None = None,
                reference: str | None = None, choice_scores: Mapping[str, float] | None = None) -> str:
    payload: dict[str, Any] = {"judge": judge_fingerprint, "prompt": prompt, "response": response, "context": context}
    if reference is not None:  # only then, so keys of safety verdicts stay what they were
        payload["reference"] = reference
    if choice_scores is not None:
        payload["choice_scores"] = dict(choice_scores)
    return content_key(payload)


class Cache:
    """Two key→JSON tables. `path=None` keeps everything in memory (for --no-cache runs)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", timeout=60, check_same_thread=False,
                                   isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        for t in TABLES:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get_many(self, table: str, keys: Sequence[str]) -> dict[str, Any]:
        self._check(table)
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(unique), 500):  # SQLite caps bound parameters per statement
                chunk = unique[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk):
                    found[k] = json.loads(v)
        return found

    def put_many(self, table: str, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Atomic: either every item of the batch is stored or none is."""
        self._check(table)
        rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in (items.items() if isinstance(items, Mapping) else items)]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def count(self, table: str) -> int:
        self._check(table)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _check(table: str) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown cache table {table!r}; expected one of {TABLES}")
