"""results.json (+ per-sample files) → one self-contained index.html (jinja2, inline CSS/JS/SVG).

What a reviewer sees, top to bottom: the verdict (every gate held, or which broke and why); the gate
table; each suite's rate across stages with intervals; harm next to over-refusal and utility per
stage; per-category heat maps; what each stage cost; judge agreement and unparsed rates; run
metadata; and a sample browser down to the prompt, answer and raw judge text, with the same prompt
compared across stages.

Model and dataset text is adversarial. The template autoescapes; SVG labels are escaped where they are
drawn (plots.py); samples travel as gzip-compressed, base64-encoded JSON (no character of which can
close a <script> block), and the page's script writes them with `textContent`, never as markup. The
page's Content-Security-Policy allows only its own script, by hash, so even markup that slipped
through could not run.
"""

from __future__ import annotations

import base64
import collections
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..metric_table import METRICS, UNPARSED
from ..records import Comparison, Record
from ..stage_ref import PIPELINE_ORDER, StageRef
from .plots import HIGHER_IS_BETTER, Point, heat_color, interval_bar, stage_plot
from .samples import MAX_SAMPLES, load_encoded
from .summary import pct

SECTIONS = tuple((m.name, m.title) for m in METRICS.values())


def _env() -> Environment:
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["pct"] = pct
    return env


def packed_json(data: Any) -> str:
    """JSON, gzip-compressed and base64-encoded: what the page's script decodes with the browser's
    DecompressionStream. Base64 holds no character that could close or confuse a <script> block."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def stage_order(results: dict[str, Any]) -> list[str]:
    """The run's stages in pipeline order (original, base, attacked/…, recovered/…)."""
    declared = list((results.get("config") or {}).get("stages") or [])
    seen = [r["stage"] for r in results.get("records", [])]
    rest = sorted({s for s in seen if s not in declared},
                  key=lambda s: (ref.rank() if (ref := StageRef.of(s)) else len(PIPELINE_ORDER), s))
    return [s for s in declared if s in seen] + rest


def gate_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate check: thresholds on records, paired comparisons, required suites."""
    rows = []
    for r in records_of(results):
        for g in r.gates:
            rate = r.unparsed_interval if g.metric == UNPARSED else r.rate
            rows.append({"kind": "threshold", "suite": r.suite, "stage": r.stage, "metric": g.metric, "judge": r.judge,
                         **rate.as_dict(), "rule": f"{g.on} {g.op} {pct(g.threshold)}", "threshold": g.threshold,
                         "passed": g.passed, "message": g.message})
    for c in map(Comparison.from_json, results.get("comparisons", [])):
        for g in c.gates:
            shown = f"{g.threshold:+.1%}" if g.on == "delta" else f"{g.threshold:.3g}"
            rows.append({"kind": "paired", "suite": c.suite, "stage": c.stage, "metric": c.metric,
                         "judge": c.judge, "baseline": c.baseline, "value": c.value,
                         "baseline_value": c.baseline_value, "delta": c.delta, "ratio": c.ratio,
                         "p": c.mcnemar.p_value, "n": c.mcnemar.n,
                         "rule": f"{g.on} {g.op} {shown}" + (f", p ≤ {g.p_max}" if g.p_max is not None else ""),
                         "passed": g.passed, "message": g.message})
    for q in results.get("required", []):
        rows.append({"kind": "required", "suite": q["suite"], "stage": q["stage"], "metric": "required",
                     "judge": "", "rule": "measured", "passed": q["passed"], "message": q["message"]})
    return rows


def records_of(results: dict[str, Any]) -> list[Record]:
    return [Record.from_json(r) for r in results.get("records", [])]


def first_judge(records: list[Record]) -> dict[tuple[str, str, str], Record]:
    """(suite, metric, stage) → the record of the first judge that labelled the suite for the metric."""
    judges: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str, str], Record] = {}
    for r in records:
        if judges.setdefault((r.suite, r.metric), r.judge) == r.judge:
            first.setdefault((r.suite, r.metric, r.stage), r)
    return first


def stage_plots(records: list[Record], stages: list[str]) -> list[dict[str, Any]]:
    """Per metric section, one small plot per suite: the first judge's rate at every stage."""
    first = first_judge(records)
    sections = []
    for metric, title in SECTIONS:
        suites = list(dict.fromkeys(s for (s, m, _) in first if m == metric))
        plots = []
        for suite in suites:
            recs = [first.get((suite, metric, st)) for st in stages]
            points = [Point(st, r.value, r.rate.ci_low, r.rate.ci_high, r.k, r.n) for st, r in zip(stages, recs) if r]
            thresholds = sorted({g.threshold for r in recs if r for g in r.gates
                                 if g.metric == metric and g.on in ("ci_high", "ci_low", "value")})
            judge = next(r.judge for r in recs if r)
            plots.append(stage_plot(f"{suite} · {judge}", metric, points, thresholds))
        if plots:
            sections.append({"metric": metric, "title": title, "plots": plots})
    return sections


def tradeoff(results: dict[str, Any], stages: list[str]) -> dict[str, Any]:
    """Stage × (metric, suite) table of the overview: harm beside over-refusal and utility."""
    overview = results.get("overview") or {}
    columns = []
    for metric, title in SECTIONS:
        for stage in stages:
            for suite in (overview.get(stage) or {}).get(metric, {}):
                if (metric, suite) not in columns:
                    columns.append((metric, suite))
    rows = []
    for stage in stages:
        cells = []
        for metric, suite in columns:
            c = ((overview.get(stage) or {}).get(metric) or {}).get(suite)
            cells.append(None if c is None else c | {"color": heat_color(c["value"], metric)})
        rows.append({"stage": stage, "cells": cells})
    return {"columns": [{"metric": m, "suite": s, "title": dict(SECTIONS).get(m, m)} for m, s in columns], "rows": rows}


def heat_maps(records: list[Record], stages: list[str]) -> list[dict[str, Any]]:
    """Per suite and metric with several categories: category × stage rates (first judge)."""
    by: dict[tuple[str, str], dict[str, Record]] = collections.defaultdict(dict)
    for (suite, metric, stage), r in first_judge(records).items():
        if len(r.by_category) > 1:
            by[(suite, metric)][stage] = r
    maps = []
    for (suite, metric), per_stage in by.items():
        cols = [s for s in stages if s in per_stage]
        cats = sorted({c for r in per_stage.values() for c in r.by_category})
        rows = [{"category": c, "cells": [None if c not in per_stage[s].by_category else per_stage[s].by_category[c].as_dict()
                                          | {"color": heat_color(per_stage[s].by_category[c].value, metric)} for s in cols]}
                for c in cats]
        judge = next(iter(per_stage.values())).judge
        maps.append({"suite": suite, "metric": metric, "judge": judge, "stages": cols, "rows": rows})
    return maps


def unparsed_rows(records: list[Record]) -> list[dict[str, Any]]:
    return [{"suite": r.suite, "stage": r.stage, "judge": r.judge, "metric": r.metric, "unparsed": r.unparsed,
             "excluded": r.excluded, "judged": r.judged, "rate": r.unparsed / r.judged if r.judged else None,
             "categories": r.judge_categories} for r in records]


def script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()


def render_html(results: dict[str, Any], reports_dir: Path, max_samples: int = MAX_SAMPLES) -> str:
    env = _env()
    stages = stage_order(results)
    records = records_of(results)
    gates = gate_rows(results)
    failed = [g for g in gates if not g["passed"]]
    # The data-quality checks (unparsed rate on every record) are many and dull while they hold: folded.
    quality = [g for g in gates if g["metric"] == "unparsed_rate" and g["passed"]]
    main_gates = sorted((g for g in gates if g not in quality), key=lambda g: g["passed"])
    samples = load_encoded(results, reports_dir, max_samples) | {"stage_order": stages}
    script = env.loader.get_source(env, "page.js")[0]  # type: ignore[union-attr]
    meta = {k: results.get(k) for k in ("created", "harness_version", "command", "git", "environment", "config")}
    return env.get_template("index.html.j2").render(
        results=results, stages=stages, gates=gates, main_gates=main_gates, quality_gates=quality, failed=failed,
        bar=interval_bar, higher_is_better=HIGHER_IS_BETTER,
        plots=stage_plots(records, stages), tradeoff=tradeoff(results, stages), heat_maps=heat_maps(records, stages),
        costs=results.get("stages") or [], agreement=results.get("agreement") or [], unparsed=unparsed_rows(records),
        models=results.get("models") or {}, meta_json=json.dumps(meta, indent=2, ensure_ascii=False, default=str),
        samples_data=packed_json(samples), samples_total=samples["total"], samples_shown=samples["shown"],
        script=script, script_hash=script_hash(script))
