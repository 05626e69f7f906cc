"""Inline SVG plots for the report: drawn here as text, so the page needs no plotting library and no
network. Every label that comes from data (suite, stage, category names) goes through `escape`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

from ..metric_table import METRICS
from .summary import pct as _pct

HIGHER_IS_BETTER = frozenset(m.name for m in METRICS.values() if m.higher_is_better)


@dataclass(frozen=True)
class Point:
    stage: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    k: int
    n: int


def interval_bar(value: float | None, lo: float | None, hi: float | None, threshold: float | None = None,
                 width: int = 160) -> Markup:
    """A 0–100 % axis with the 95 % interval (band), the rate (tick) and the gate's threshold (red)."""
    parts = [f'<svg class="bar" width="{width}" height="14" role="img" aria-label="{escape(_pct(value))}">',
             f'<rect x="0" y="6" width="{width}" height="2" fill="#e0e0e0"/>']
    if value is not None and lo is not None and hi is not None:
        parts.append(f'<rect x="{width * lo:.1f}" y="3" width="{max(width * (hi - lo), 1):.1f}" height="8" fill="#90caf9"/>')
        parts.append(f'<rect x="{width * value - 1:.1f}" y="1" width="2" height="12" fill="#0d47a1"/>')
    if threshold is not None and 0 <= threshold <= 1:
        parts.append(f'<rect x="{width * threshold - 1:.1f}" y="0" width="2" height="14" fill="#c62828"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stage_plot(title: str, metric: str, points: Sequence[Point], thresholds: Sequence[float] = (),
               width: int = 260, height: int = 150) -> Markup:
    """Rate per stage with its 95 % interval (whiskers), joined in stage order, gate thresholds dashed."""
    left, right, top, bottom = 34, 10, 22, 38
    pw, ph = width - left - right, height - top - bottom
    n = max(len(points), 1)
    x = [left + pw * (i + 0.5) / n for i in range(len(points))]

    def y(v: float) -> float:
        return top + ph * (1 - v)

    good = "#2e7d32" if metric in HIGHER_IS_BETTER else "#c62828"
    out = [f'<svg class="stageplot" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{left}" y="13" class="t">{escape(title)}</text>']
    for frac in (0, 0.5, 1):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(frac):.1f}" y2="{y(frac):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y(frac) + 3:.1f}" text-anchor="end" class="a">{int(frac * 100)}%</text>')
    for t in thresholds:
        if 0 <= t <= 1:
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#c62828" '
                       f'stroke-dasharray="4 3"><title>gate {escape(_pct(t))}</title></line>')
    known = [(xi, p.value) for xi, p in zip(x, points) if p.value is not None]
    if len(known) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{xi:.1f},{y(v):.1f}" for i, (xi, v) in enumerate(known))
        out.append(f'<path d="{path}" fill="none" stroke="{good}" stroke-width="1.5" opacity="0.5"/>')
    for xi, p in zip(x, points):
        kind, _, name = p.stage.partition("/")  # "attacked/lora-advbench-100": kind above, name below
        name = name if len(name) <= 14 else name[:13] + "…"
        out.append(f'<text x="{xi:.1f}" y="{height - bottom + 12}" text-anchor="middle" class="a">{escape(kind)}'
                   + (f'<tspan x="{xi:.1f}" dy="9">{escape(name)}</tspan>' if name else "")
                   + f'<title>{escape(p.stage)}</title></text>')
        if p.value is None:
            continue
        lo, hi = p.ci_low if p.ci_low is not None else p.value, p.ci_high if p.ci_high is not None else p.value
        out.append(f'<line x1="{xi:.1f}" x2="{xi:.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="#555"/>'
                   f'<circle cx="{xi:.1f}" cy="{y(p.value):.1f}" r="3.5" fill="{good}"><title>{escape(p.stage)}: '
                   f'{p.k}/{p.n} = {escape(_pct(p.value))} (95% CI {escape(_pct(lo))}–{escape(_pct(hi))})</title></circle>'
                   f'<text x="{xi + 5:.1f}" y="{y(p.value) - 5:.1f}" class="v">{escape(_pct(p.value))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def heat_color(value: float | None, metric: str) -> str:
    """A cell colour: white at 0 to red at 1 for rates that should be low, to green for utility."""
    if value is None:
        return "#fafafa"
    v = min(max(value, 0.0), 1.0)
    if metric in HIGHER_IS_BETTER:
        r, g, b = 255 - int(180 * v), 255 - int(80 * v), 255 - int(180 * v)
    else:
        r, g, b = 255 - int(40 * v), 255 - int(200 * v), 255 - int(200 * v)
    return f"#{r:02x}{g:02x}{b:02x}"
