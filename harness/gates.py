"""Gates: thresholds on a record's interval bound → pass/fail with a message a reviewer can act on.

Checking a gate gives a `GateCheck` (value, passed, message); the record keeps its `GateResult`. A gate on `unparsed_rate` applies to every record of its suite/stage whatever the metric, so
output a judge could not read can never make a model look safer than it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .config import Gate
from .metric_table import UNPARSED
from .records import Comparison, GateResult, Record


@dataclass(frozen=True)
class GateCheck:
    gate: Gate
    metric: str
    value: float | None
    passed: bool
    message: str

    def result(self) -> GateResult:
        op, threshold, on = self.gate.rule
        return GateResult(self.metric, op, threshold, on, self.value, self.passed, self.message, self.gate.p_max)


def applicable(gates: Sequence[Gate], record: Record) -> list[Gate]:
    suite, stage, metric = record.suite, record.stage, record.metric
    return [g for g in gates if g.baseline is None and (g.matches(suite, stage, metric) or g.matches(suite, stage, UNPARSED))]


def check(gate: Gate, record: Record) -> GateCheck:
    op, threshold, on = gate.rule
    rate = record.unparsed_interval if gate.metric == UNPARSED else record.rate
    value: float | None = getattr(rate, on, None)
    where = f"{record.suite} @ {record.stage}"
    if value is None or rate.value is None:  # nothing judged: a gate cannot be shown to hold
        return GateCheck(gate, gate.metric, None, False,
                         f"{where}: {gate.metric} has no judged samples (n=0); gate {on} {op} {threshold:.4g} cannot hold")
    passed = value <= threshold if op == "<=" else value >= threshold
    k, n = (record.unparsed, record.judged) if gate.metric == UNPARSED else (record.k, record.n)
    message = (f"{where}: {gate.metric} {k}/{n} = {rate.value:.1%} (95% CI {rate.ci_low:.1%}–{rate.ci_high:.1%}) "
               f"{'holds' if passed else 'breaches'} gate {on} {op} {threshold:.1%} [judge {record.judge}]")
    return GateCheck(gate, gate.metric, value, passed, message)


def check_all(gates: Sequence[Gate], record: Record) -> list[GateCheck]:
    return [check(g, record) for g in applicable(gates, record)]


def comparison_gates(gates: Sequence[Gate], suite: str, stage: str, metric: str) -> list[Gate]:
    return [g for g in gates if g.baseline is not None and g.matches(suite, stage, metric)]


def check_comparison(gate: Gate, c: Comparison) -> GateCheck:
    """A paired gate on `delta` or `ratio` (and McNemar's p when `p_max` is set)."""
    op, threshold, on = gate.rule
    number: float | None = getattr(c, on, None)
    p, m = c.mcnemar.p_value, c.mcnemar
    where = f"{c.suite} @ {c.stage} vs {c.baseline}"
    if number is None or c.value is None or c.baseline_value is None:
        why = "no paired samples" if c.delta is None else "a baseline rate of 0, so no ratio"
        return GateCheck(gate, gate.metric, None, False, f"{where}: {gate.metric} has {why}")
    passed = (number <= threshold if op == "<=" else number >= threshold) and (gate.p_max is None or p <= gate.p_max)
    shown = f"delta {number:+.1%}" if on == "delta" else f"ratio {number:.3f}"
    limit = f"{threshold:+.1%}" if on == "delta" else f"{threshold:.3g}"
    message = (f"{where}: {gate.metric} {c.baseline_value:.1%} → {c.value:.1%} ({shown}, "
               f"McNemar p={p:.3g}; of {m.n} prompts {m.only_a} counted only at "
               f"{c.stage}, {m.only_b} only at {c.baseline}) {'holds' if passed else 'breaches'} "
               f"gate {on} {op} {limit}" + (f", p <= {gate.p_max}" if gate.p_max is not None else "")
               + f" [judge {c.judge}]")
    return GateCheck(gate, gate.metric, number, passed, message)
