"""The tabulate summary printed at the end of a pytest run."""

from __future__ import annotations

from typing import Any, Sequence

from tabulate import tabulate


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def gate_text(record: dict[str, Any]) -> str:
    g = record.get("gate")
    if not g:
        return "–"
    return f"{g['on']} {g['op']} {pct(g['threshold'])}" + ("" if g["metric"] == record["metric"] else f" ({g['metric']})")


def verdict_text(record: dict[str, Any]) -> str:
    gates = record.get("gates") or []
    if not gates:
        return "no gate"
    return "PASS" if all(g["passed"] for g in gates) else "FAIL"


def score_text(record: dict[str, Any]) -> str:
    s = record.get("score")
    if not s or s["mean"] is None:
        return "–"
    return f"{s['mean']:.3g} [{s['ci_low']:.3g}, {s['ci_high']:.3g}]"


def summary_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per record; a `mean score` column only when some judge gave scores."""
    scored = any(r.get("score") for r in records)
    rows = [[r["suite"], r["stage"], r["metric"], r["judge"], f"{r['k']}/{r['n']}", pct(r["value"]),
             f"{pct(r['ci_low'])}–{pct(r['ci_high'])}", r["unparsed"], r.get("empty", 0)]
            + ([score_text(r)] if scored else []) + [gate_text(r), verdict_text(r)]
            for r in sorted(records, key=lambda r: (r["stage"], r["suite"], r["metric"]))]
    return tabulate(rows, headers=["suite", "stage", "metric", "judge", "k/n", "rate", "95% CI", "unparsed", "empty"]
                    + (["mean score"] if scored else []) + ["gate", "result"], tablefmt="github")
