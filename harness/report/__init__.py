"""Run outputs: results.json (schema_version 1), per-sample JSONL, and the HTML report.

Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..types import JudgedSample


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def safe_name(text: str) -> str:
    """A judge or suite name as a file name ('llama-guard:/models/x' → 'llama-guard__models_x')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


def samples_path(reports_dir: Path, stage: str, suite: str, judge: str) -> Path:
    return reports_dir / "samples" / f"{safe_name(stage)}__{safe_name(suite)}__{safe_name(judge)}.jsonl"


def write_samples(reports_dir: Path, stage: str, suite: str, judge: str, judged: Iterable[JudgedSample]) -> Path:
    path = samples_path(reports_dir, stage, suite, judge)
    atomic_write(path, "".join(json.dumps(j.to_json(), ensure_ascii=False) + "\n" for j in judged))
    return path


def write_reports(reports_dir: Path, results: dict[str, Any]) -> None:
    from .html import render_html
    atomic_write(reports_dir / "results.json", json.dumps(results, indent=2, ensure_ascii=False))
    atomic_write(reports_dir / "index.html", render_html(results, reports_dir))
