"""The tabulate summary printed at the end of a pytest run."""

from __future__ import annotations

from typing import Any, Sequence

from tabulate import tabulate

from ..records import Record


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def gate_text(record: Record) -> str:
    g = record.gate
    if g is None:
        return "–"
    return f"{g.on} {g.op} {pct(g.threshold)}" + ("" if g.metric == record.metric else f" ({g.metric})")


def verdict_text(record: Record) -> str:
    if not record.gates:
        return "no gate"
    return "PASS" if all(g.passed for g in record.gates) else "FAIL"


def score_text(record: Record) -> str:
    s = record.score
    if s is None or s.mean is None or s.ci_low is None or s.ci_high is None:
        return "–"
    return f"{s.mean:.3g} [{s.ci_low:.3g}, {s.ci_high:.3g}]"


def summary_table(records: Sequence[Record]) -> str:
    """One row per record; a `mean score` column only when some judge gave scores."""
    scored = any(r.score for r in records)
    rows = [[r.suite, r.stage, r.metric, r.judge, f"{r.k}/{r.n}", pct(r.value),
             f"{pct(r.rate.ci_low)}–{pct(r.rate.ci_high)}", r.unparsed, r.empty]
            + ([score_text(r)] if scored else []) + [gate_text(r), verdict_text(r)]
            for r in sorted(records, key=lambda r: (r.stage, r.suite, r.metric))]
    return tabulate(rows, headers=["suite", "stage", "metric", "judge", "k/n", "rate", "95% CI", "unparsed", "empty"]
                    + (["mean score"] if scored else []) + ["gate", "result"], tablefmt="github")


def stage_table(overview: dict[str, dict[str, dict[str, Any]]], stages: Sequence[dict[str, Any]] = ()) -> str | None:
    """Stages as rows, each measured (suite, metric) as a column with its 95 % interval, and the seconds
    each stage took to make: harm beside over-refusal and utility across attack and recovery. None for
    a run of one stage."""
    if len(overview) < 2:
        return None
    cols = list(dict.fromkeys((suite, metric) for by_metric in overview.values()
                              for metric, by_suite in by_metric.items() for suite in by_suite))
    cost = {s["stage"]: s.get("seconds") for s in stages}

    def cell(stage: str, suite: str, metric: str) -> str:
        r = overview[stage].get(metric, {}).get(suite)
        return "–" if r is None or r["value"] is None else f"{pct(r['value'])} [{pct(r['ci_low'])}, {pct(r['ci_high'])}]"

    cosine = {s["stage"]: s["direction_cosine"] for s in stages if s.get("direction_cosine")}

    def cos(stage: str) -> str:
        c = cosine.get(stage)
        return "–" if c is None else f"{c['source']:.3f} → {c['recovered']:.3f}"

    extra = ["cos(d, d_aligned) before → after"] if cosine else []
    rows = [[stage] + [cell(stage, s, m) for s, m in cols] + [cost.get(stage, "–")] + ([cos(stage)] if cosine else [])
            for stage in overview]
    return tabulate(rows, headers=["stage"] + [f"{s} {m}" for s, m in cols] + ["seconds to make"] + extra,
                    tablefmt="github")
