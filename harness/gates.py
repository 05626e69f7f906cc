"""Gates: thresholds on a record's interval bound → pass/fail with a message a reviewer can act on.

Each gate is a small object with `fails(record) -> str | None` (pytest-benchmark's RegressionCheck
shape). A gate on `unparsed_rate` applies to every record of its suite/stage whatever the metric, so
output a judge could not read can never make a model look safer than it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .config import Gate
from .records import judged_count

UNPARSED = "unparsed_rate"


@dataclass(frozen=True)
class GateCheck:
    gate: Gate
    metric: str
    value: float | None
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        op, threshold, on = self.gate.rule
        return {"metric": self.metric, "op": op, "threshold": threshold, "on": on, "value": self.value,
                "passed": self.passed, "message": self.message}


def applicable(gates: Sequence[Gate], record: Mapping[str, Any]) -> list[Gate]:
    suite, stage, metric = record["suite"], record["stage"], record["metric"]
    return [g for g in gates if g.baseline is None and (g.matches(suite, stage, metric) or g.matches(suite, stage, UNPARSED))]


def check(gate: Gate, record: Mapping[str, Any]) -> GateCheck:
    op, threshold, on = gate.rule
    numbers = record["unparsed_interval"] if gate.metric == UNPARSED else record
    value = numbers.get(on)
    where = f"{record['suite']} @ {record['stage']}"
    if value is None:  # nothing judged: a gate cannot be shown to hold
        return GateCheck(gate, gate.metric, None, False,
                         f"{where}: {gate.metric} has no judged samples (n=0); gate {on} {op} {threshold:.4g} cannot hold")
    passed = value <= threshold if op == "<=" else value >= threshold
    k, n = (record["unparsed"], judged_count(record)) if gate.metric == UNPARSED else (record["k"], record["n"])
    rate = numbers["value"]
    message = (f"{where}: {gate.metric} {k}/{n} = {rate:.1%} (95% CI {numbers['ci_low']:.1%}–{numbers['ci_high']:.1%}) "
               f"{'holds' if passed else 'breaches'} gate {on} {op} {threshold:.1%} [judge {record['judge']}]")
    return GateCheck(gate, gate.metric, value, passed, message)


def check_all(gates: Sequence[Gate], record: Mapping[str, Any]) -> list[GateCheck]:
    return [check(g, record) for g in applicable(gates, record)]


def comparison_gates(gates: Sequence[Gate], suite: str, stage: str, metric: str) -> list[Gate]:
    return [g for g in gates if g.baseline is not None and g.matches(suite, stage, metric)]


def check_comparison(gate: Gate, comparison: Mapping[str, Any]) -> GateCheck:
    """A paired gate on `delta` or `ratio` (and McNemar's p when `p_max` is set)."""
    op, threshold, on = gate.rule
    c = comparison
    number, p = c.get(on), c["mcnemar"]["p_value"]
    where = f"{c['suite']} @ {c['stage']} vs {c['baseline']}"
    if number is None:
        why = "no paired samples" if c["delta"] is None else "a baseline rate of 0, so no ratio"
        return GateCheck(gate, gate.metric, None, False, f"{where}: {gate.metric} has {why}")
    passed = (number <= threshold if op == "<=" else number >= threshold) and (gate.p_max is None or p <= gate.p_max)
    shown = f"delta {number:+.1%}" if on == "delta" else f"ratio {number:.3f}"
    limit = f"{threshold:+.1%}" if on == "delta" else f"{threshold:.3g}"
    message = (f"{where}: {gate.metric} {c['baseline_value']:.1%} → {c['value']:.1%} ({shown}, "
               f"McNemar p={p:.3g}; of {c['mcnemar']['n']} prompts {c['mcnemar']['only_a']} counted only at "
               f"{c['stage']}, {c['mcnemar']['only_b']} only at {c['baseline']}) {'holds' if passed else 'breaches'} "
               f"gate {on} {op} {limit}" + (f", p <= {gate.p_max}" if gate.p_max is not None else "")
               + f" [judge {c['judge']}]")
    return GateCheck(gate, gate.metric, number, passed, message)
