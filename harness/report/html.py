"""results.json (+ per-sample files) → one self-contained index.html (jinja2, inline CSS/JS/SVG).

Model and dataset text is adversarial: the template autoescapes, and samples travel as JSON inside a
`<script type="application/json">` block (with `<`, `>` and `&` escaped as \\u003c…) that the page's
script renders with `textContent`, never `innerHTML`, so no response can become markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .summary import gate_text, pct, verdict_text

MAX_SAMPLES = 50_000


def _env() -> Environment:
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = pct
    return env


def script_json(data: Any) -> str:
    """JSON safe to place inside <script>: no `</script>`, no `<!--` can close or confuse the block."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def load_samples(reports_dir: Path, limit: int = MAX_SAMPLES) -> list[list[Any]]:
    """Compact rows [suite, stage, category, label, prompt, response, raw] from reports/samples/*.jsonl."""
    rows: list[list[Any]] = []
    for f in sorted((reports_dir / "samples").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            rows.append([d["suite"], d["stage"], d["category"], d["verdict"]["label"], d["prompt"],
                         d["response"], d["verdict"]["raw"]])
            if len(rows) >= limit:
                return rows
    return rows


def render_html(results: dict[str, Any], reports_dir: Path) -> str:
    records = results.get("records", [])
    failed = [r for r in records if verdict_text(r) == "FAIL"]
    rows = [r | {"gate_text": gate_text(r), "verdict": verdict_text(r)} for r in records]
    return _env().get_template("index.html.j2").render(
        results=results, records=rows, failed=failed, samples_json=script_json(load_samples(reports_dir)),
        meta_json=json.dumps({k: results.get(k) for k in ("created", "harness_version", "command", "models", "config")},
                             indent=2, ensure_ascii=False))
