"""HEx-PHI (Qi et al., ICLR 2024): 330 harmful instructions in 11 categories, 30 each.

Not vendored: its licence agreement forbids redistribution and access is granted by hand. It comes
from, in order:
1. a user path (`--suite-file hexphi=PATH`): a directory of the upstream `category_N.csv` files (one
   prompt per row, no header), or one CSV/JSONL file with `prompt` and optional `category`;
2. the hub, when one is reachable and the user has been granted access; never tried when
   HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set, and a failed try fails at once;
3. otherwise `SuiteUnavailable`, whose message says how to supply the data.

The upstream category files have no header row. `datasets.load_dataset` would read each file's first
prompt as a column name, so the hub route downloads the raw files and parses them like a directory.
The gated release is reported to lack `category_2.csv` (child abuse content); that gives 300 prompts
in 10 categories, and the loader accepts whatever category files are present.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..errors import HarnessError, SuiteUnavailable
from ..types import Sample
from .common import read_text
from .userfiles import load_user_suite

HUB_ID = "LLM-Tuning-Safety/HEx-PHI"
CATEGORIES = {
    1: "Illegal Activity", 2: "Child Abuse Content", 3: "Hate/Harass/Violence", 4: "Malware",
    5: "Physical Harm", 6: "Economic Harm", 7: "Fraud/Deception", 8: "Adult Content",
    9: "Political Campaigning", 10: "Privacy Violation Activity", 11: "Tailored Financial Advice",
}
HOW_TO_SUPPLY = (
    f"HEx-PHI is gated and not redistributable; accept its licence at huggingface.co/datasets/{HUB_ID}, "
    "download its category_N.csv files, and pass --suite-file hexphi=PATH (PATH: that directory, or one "
    "CSV/JSONL file with a `prompt` column and optional `category`)"
)
_FILE = re.compile(r"category_(\d+)\.csv", re.IGNORECASE)


def load_hexphi() -> list[Sample]:
    """The built-in route: the hub if allowed and reachable, else `SuiteUnavailable`."""
    from .hub import hub_unavailable

    why = hub_unavailable()
    if why:
        raise SuiteUnavailable(f"{HOW_TO_SUPPLY} ({why})")
    try:
        from huggingface_hub import snapshot_download
        local = snapshot_download(HUB_ID, repo_type="dataset", allow_patterns=["category_*.csv"],
                                  etag_timeout=5)
    except Exception as e:  # no network, no access, no package: all mean "not available here"
        raise SuiteUnavailable(f"{HOW_TO_SUPPLY} (hub: {type(e).__name__}: {_first_line(e)})") from None
    return load_hexphi_path(local)


def load_hexphi_path(path: str | Path) -> list[Sample]:
    """A user-supplied copy: a directory of upstream category files, or one CSV/JSONL file."""
    path = Path(path)
    if path.is_dir():
        return load_category_dir(path)
    if not path.exists():
        raise HarnessError(f"{path}: HEx-PHI path not found; {HOW_TO_SUPPLY}")
    return load_user_suite("hexphi", path)


def load_category_dir(directory: Path) -> list[Sample]:
    files = sorted(((int(m.group(1)), p) for p in directory.iterdir()
                    if p.is_file() and (m := _FILE.fullmatch(p.name))), key=lambda t: t[0])
    if not files:
        raise HarnessError(f"{directory}: no HEx-PHI category files (category_1.csv … category_11.csv) here")
    samples: list[Sample] = []
    for number, path in files:
        rows = _category_rows(path)
        if not rows:
            raise HarnessError(f"{path}: no prompts in this category file")
        category = CATEGORIES.get(number, f"category_{number}")
        for i, (line, prompt) in enumerate(rows):
            samples.append(Sample(suite="hexphi", id=f"hexphi-{number:02d}-{i:03d}", prompt=prompt,
                                  category=category,
                                  meta={"category_number": number, "file": path.name, "line": line}))
    return samples


def _category_rows(path: Path) -> list[tuple[int, str]]:
    """(line, prompt) per non-blank row of a headerless one-column CSV."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    rows: list[tuple[int, str]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as e:
            raise HarnessError(f"{path}:{start}: malformed CSV ({e})") from None
        # One column per row: an unquoted comma split the prompt, so join it back.
        prompt = ",".join(row).strip()
        if prompt:
            rows.append((start, prompt))


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no details"
