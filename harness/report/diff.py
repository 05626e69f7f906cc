"""`safety-harness diff OLD NEW`: what changed between two runs' results.json, for release-to-release review.

Records are matched by (suite, stage, metric, judge). For each: both rates, the change in points, a
two-sided Fisher exact test of the two k/n (the runs' samples are separate draws, not pairs), and
whether the gate outcome changed. Records only one run has are listed as added or removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..metrics import fisher_exact
from ..records import Record
from .summary import pct, verdict_text

Key = tuple[str, str, str, str]


def load_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except ValueError as e:
        raise HarnessError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1 or not isinstance(data.get("records"), list):
        raise HarnessError(f"{path}: not a results.json of schema_version 1 (no `records` list)")
    for i, r in enumerate(data["records"]):
        try:
            Record.from_json(r)
        except (KeyError, TypeError, AttributeError) as e:
            raise HarnessError(f"{path}: records[{i}] is not a record ({type(e).__name__}: {e})") from None
    return data


def _key(r: Record) -> Key:
    return r.suite, r.stage, r.metric, r.judge


def _gate(r: Record | None) -> str:
    """The record's gate outcome as the summary table shows it; "" for a record this run lacks."""
    return "" if r is None else verdict_text(r)


def diff_rows(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    a = {_key(r): r for r in map(Record.from_json, old["records"])}
    b = {_key(r): r for r in map(Record.from_json, new["records"])}
    rows = []
    for key in sorted(set(a) | set(b), key=lambda k: (k[1], k[0], k[2], k[3])):
        x, y = a.get(key), b.get(key)
        change = "removed" if y is None else "added" if x is None else ""
        delta = p = None
        if x is not None and y is not None and x.value is not None and y.value is not None:
            delta = y.value - x.value
            p = fisher_exact(y.k, y.n, x.k, x.n)
            gate_x, gate_y = _gate(x), _gate(y)
            change = f"gate {gate_x} → {gate_y}" if gate_x != gate_y else ""
        rows.append({"suite": key[0], "stage": key[1], "metric": key[2], "judge": key[3], "old": x, "new": y,
                     "delta": delta, "p": p, "change": change})
    return rows


def format_diff(old: dict[str, Any], new: dict[str, Any], only_changed: bool = False, alpha: float = 0.05) -> str:
    from tabulate import tabulate

    rows = diff_rows(old, new)
    if only_changed:
        rows = [r for r in rows if r["change"] or (r["p"] is not None and r["p"] <= alpha)]

    def rate(r: Record | None) -> str:
        return "–" if r is None else f"{r.k}/{r.n} = {pct(r.value)}"

    table = [[r["suite"], r["stage"], r["metric"], r["judge"], rate(r["old"]), rate(r["new"]),
              "–" if r["delta"] is None else f"{100 * r['delta']:+.1f}",
              "–" if r["p"] is None else f"{r['p']:.3g}" + (" *" if r["p"] <= alpha else ""),
              _gate(r["old"]) or "–", _gate(r["new"]) or "–", r["change"]] for r in rows]
    head = (f"old: {old.get('created')} ({(old.get('git') or {}).get('commit', '?')[:10]})   "
            f"new: {new.get('created')} ({(new.get('git') or {}).get('commit', '?')[:10]})")
    flips = sum(1 for r in rows if r["change"].startswith("gate"))
    foot = (f"{len(rows)} records; {flips} gate outcome(s) changed; * Fisher exact p <= {alpha}")
    return "\n".join([head, tabulate(table, disable_numparse=True, headers=["suite", "stage", "metric", "judge", "old", "new", "Δ pts",
                                                      "p", "old gate", "new gate", "change"], tablefmt="github"), foot])
