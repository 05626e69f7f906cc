"""The samples a report embeds, in a compact columnar form the page renders lazily.

Why its own format: a run of 50,000 samples repeats the same prompt at every stage and judge, the same
suite, stage, category and verdict names on every row, and judge texts such as "no refusal marker"
thousands of times. Every string is stored once in a table; a row is ten integers. The page parses
that once and builds table rows only for the page on screen (`index.html.j2`).

Which samples: those of the records in results.json (a stale samples file from an earlier run is not
shown as if it belonged to this one). Past `MAX_SAMPLES`, the rows kept are the unsafe and unparsed
ones first, then the rest in file order, and the page says how many were left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from . import samples_path

MAX_SAMPLES = 50_000
FIELDS = ("suite", "stage", "category", "label", "judge", "id", "prompt", "response", "raw", "correct")
_PRIORITY = {"unsafe": 0, "unparsed": 1}


class _Table:
    """Strings → indices, each string stored once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.strings: list[str] = []

    def __call__(self, s: Any) -> int:
        s = "" if s is None else str(s)
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.strings)
            self.strings.append(s)
        return i


def sample_files(results: dict[str, Any], reports_dir: Path) -> list[Path]:
    """The per-sample files of this run's records, in record order, each once."""
    seen: dict[Path, None] = {}
    for r in results.get("records", []):
        p = samples_path(reports_dir, r["stage"], r["suite"], r["judge"])
        if p.is_file():
            seen.setdefault(p, None)
    return list(seen)


def _rows(files: Iterable[Path]) -> Iterable[dict[str, Any]]:
    for f in files:
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def encode(samples: Iterable[dict[str, Any]], limit: int = MAX_SAMPLES) -> dict[str, Any]:
    """{"fields", "strings", "rows", "total", "shown"}: each row holds, per field, an index into `strings`
    (`correct` is 1, 0 or -1 for not scored)."""
    rows = list(samples)
    total = len(rows)
    if total > limit:
        order = sorted(range(total), key=lambda i: (_PRIORITY.get(rows[i]["verdict"]["label"], 2), i))
        rows = [rows[i] for i in sorted(order[:limit])]
    table = _Table()
    out = []
    for d in rows:
        v = d["verdict"]
        correct = v.get("correct")
        out.append([table(d["suite"]), table(d["stage"]), table(d["category"]), table(v["label"]), table(v["judge"]),
                    table(d["id"]), table(d["prompt"] if d.get("context") is None else f"{d['context']}\n\n---\n\n{d['prompt']}"),
                    table(d["response"]), table(v["raw"]), -1 if correct is None else int(bool(correct))])
    return {"fields": list(FIELDS), "strings": table.strings, "rows": out, "total": total, "shown": len(out)}


def load_encoded(results: dict[str, Any], reports_dir: Path, limit: int = MAX_SAMPLES) -> dict[str, Any]:
    return encode(_rows(sample_files(results, reports_dir)), limit)
