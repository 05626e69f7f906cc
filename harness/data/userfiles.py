"""A user's own prompt file as a suite (`--suite-file NAME=PATH`): JSONL or CSV.

Formats:
- JSONL: one object per line; `prompt` (non-empty string) required; optional `category`, `id`,
  `context`, `reference`; any other field goes into `Sample.meta`. Blank lines are skipped.
- CSV: a header row with a `prompt` column; the same optional columns; other columns into meta.

A bad row stops the run with a `HarnessError` of the form `FILE:LINE: what is wrong`, because a
silently dropped prompt changes the rate a gate is judged on.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import HarnessError
from ..types import Sample
from .common import read_text

EXTENSIONS = (".csv", ".jsonl")
_KNOWN = ("prompt", "category", "id", "context", "reference")


def load_user_suite(name: str, path: str | Path) -> list[Sample]:
    """Samples of suite `name` read from `path` (.jsonl or .csv); ids default to `NAME-0000`, …"""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise HarnessError(f"{path}: unknown file type {suffix or '(none)'!r} for suite {name!r}; "
                           f"expected one of {', '.join(EXTENSIONS)}")
    text = read_text(path)
    if not text.strip():
        raise HarnessError(f"{path}: file is empty; expected at least one prompt")
    rows = jsonl_rows(path, text) if suffix == ".jsonl" else _csv_rows(path, text)
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    for index, (line, fields) in enumerate(rows):
        sample = _sample(name, index, fields, lambda msg: HarnessError(f"{path}:{line}: {msg}"))
        if sample.id in first_line:
            raise HarnessError(f"{path}:{line}: duplicate id {sample.id!r} "
                               f"(first used on line {first_line[sample.id]})")
        first_line[sample.id] = line
        samples.append(sample)
    if not samples:
        raise HarnessError(f"{path}: no rows; expected at least one prompt")
    return samples


def jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # split on "\n" only: str.splitlines would also split on U+2028 inside JSON strings
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{line}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise HarnessError(f"{path}:{line}: expected a JSON object, got {_kind(obj)}")
        yield line, obj


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise HarnessError(f"{path}:{start}: malformed CSV ({e})") from None
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header, header_line = _header(path, start, row), start
            continue
        if len(row) != len(header):
            raise HarnessError(f"{path}:{start}: expected {len(header)} fields as in the header on line "
                               f"{header_line}, got {len(row)}")
        fields: dict[str, Any] = {}
        for col, cell in zip(header, row):
            low = col.lower()
            if low in _KNOWN:
                # an empty optional cell means "not given"
                if low == "prompt" or cell.strip():
                    fields[low] = cell
            else:
                fields[col] = cell
        yield start, fields


def _header(path: Path, line: int, row: list[str]) -> list[str]:
    cols = [c.strip() for c in row]
    seen: set[str] = set()
    for c in cols:
        key = c.lower() if c.lower() in _KNOWN else c
        if not c:
            raise HarnessError(f"{path}:{line}: the header has an empty column name")
        if key in seen:
            raise HarnessError(f"{path}:{line}: column {c!r} appears twice in the header")
        seen.add(key)
    if "prompt" not in seen:
        raise HarnessError(f"{path}:{line}: the header has no `prompt` column (columns: {', '.join(cols)})")
    return cols


def _sample(suite: str, index: int, fields: dict[str, Any], err: Callable[[str], HarnessError]) -> Sample:
    if "prompt" not in fields:
        raise err("missing `prompt`")
    prompt = fields["prompt"]
    if not isinstance(prompt, str):
        raise err(f"`prompt` must be a string, got {_kind(prompt)}")
    if not prompt.strip():
        raise err("`prompt` is empty")
    category = _label(fields.get("category"), "category", err) or "all"
    sid = _label(fields.get("id"), "id", err) or f"{suite}-{index:04d}"
    context = _optional_text(fields.get("context"), "context", err)
    reference = _optional_text(fields.get("reference"), "reference", err)
    meta = {k: v for k, v in fields.items() if k not in _KNOWN}
    return Sample(suite=suite, id=sid, prompt=prompt, category=category, context=context,
                  reference=reference, meta=meta)


def _label(value: Any, key: str, err: Callable[[str], HarnessError]) -> str | None:
    """`category` / `id`: a non-empty string or an integer; absent or null means "not given"."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise err(f"`{key}` must be a string or an integer, got {_kind(value)}")
    if not value.strip():
        raise err(f"`{key}` is empty")
    return value.strip()


def _optional_text(value: Any, key: str, err: Callable[[str], HarnessError]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise err(f"`{key}` must be a string, got {_kind(value)}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number",
            str: "a string", type(None): "null"}.get(type(value), type(value).__name__)
