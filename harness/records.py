"""Judged samples → typed records: a `Record` per suite × stage × judge × metric, a `Comparison` of two
stages on the same prompts, a `Versus` of two suites at one stage, an `AgreementRecord` of two judges.

These travel from the runner through the gates to results.json (schema_version 1, docs/architecture.md);
`to_json` gives a record's results.json form and `from_json` reads it back (pytest-xdist workers hand
records to the controller as JSON).
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .metric_table import metric as metric_rule
from .metrics import (
    Agreement,
    Mean,
    Paired,
    Rate,
    cohen_kappa,
    fisher_exact,
    mcnemar_exact,
    mean_interval,
    rate_by_category,
    wilson,
)
from .types import JudgedSample


def _rate(d: Mapping[str, Any]) -> Rate:
    return Rate(d["k"], d["n"], d["value"], d["ci_low"], d["ci_high"])


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome on a record or a comparison (`p_max`: a comparison gate's McNemar bound)."""

    metric: str
    op: str
    threshold: float
    on: str
    value: float | None
    passed: bool
    message: str
    p_max: float | None = None

    def to_json(self, with_p_max: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not with_p_max:
            del d["p_max"]
        return d

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> GateResult:
        return GateResult(d["metric"], d["op"], d["threshold"], d["on"], d.get("value"), d["passed"], d.get("message", ""),
                          d.get("p_max"))


@dataclass(frozen=True)
class Versus:
    """A derived suite (a triggered run, say) against the suite it derives from, at one stage: both rates and
    a Fisher exact test (separate draws, not pairs)."""

    suite: str  # the base suite
    value: float | None
    baseline_value: float | None
    delta: float | None
    k: int
    n: int
    baseline_k: int
    baseline_n: int
    fisher_p: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Record:
    """What one judge says of one suite at one stage under one metric: the rate with its Wilson interval,
    what the judge could not read (`unparsed`) or left outside the metric (`excluded`), and what decided it."""

    suite: str
    stage: str
    judge: str
    metric: str
    rate: Rate
    unparsed: int
    excluded: int  # read by the judge but outside this metric (emergent-misalignment's code, refusal, incoherent)
    unparsed_interval: Rate
    empty: int  # answers with no text
    by_category: dict[str, Rate]
    # a scoring judge's mean score with its interval (Qi's "harmfulness score"; with qi-rubric the harmful_rate
    # is its "harmfulness rate", the share of 5s); None when the judge gives no scores
    score: Mean | None
    # what the judge said besides the label: XSTest's three classes, Llama Guard's S-codes, HumanEval outcomes
    judge_categories: dict[str, int]
    model: dict[str, Any] = field(default_factory=dict)  # name, fingerprint, backend, engine loads, requests
    judge_version: str | None = None
    judge_fingerprint: str | None = None
    limit: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # this process's seconds per phase so far
    invalid_unicode: dict[str, int] | None = None  # texts whose lone surrogates became U+FFFD
    versus: Versus | None = None
    stage_record: dict[str, Any] | None = None  # how the checkpoint was made (stage.json)
    gates: list[GateResult] = field(default_factory=list)
    worker: str = "main"
    test: str | None = None

    @property
    def k(self) -> int:
        return self.rate.k

    @property
    def n(self) -> int:
        return self.rate.n

    @property
    def value(self) -> float | None:
        return self.rate.value

    @property
    def judged(self) -> int:
        """Every sample the judge saw: counted (n), unparsed, and read but outside the metric (excluded)."""
        return self.n + self.unparsed + self.excluded

    @property
    def gate(self) -> GateResult | None:
        """The gate shown for this record: the first that broke, else the first that held."""
        broken = [g for g in self.gates if not g.passed]
        return (broken or self.gates)[0] if self.gates else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "suite": self.suite, "stage": self.stage, "judge": self.judge, "metric": self.metric,
            **self.rate.as_dict(), "unparsed": self.unparsed, "excluded": self.excluded,
            "unparsed_interval": self.unparsed_interval.as_dict(), "empty": self.empty,
            "by_category": {c: r.as_dict() for c, r in self.by_category.items()},
            "score": self.score.as_dict() if self.score else None, "judge_categories": self.judge_categories,
            "model": self.model, "judge_version": self.judge_version, "judge_fingerprint": self.judge_fingerprint,
            "limit": self.limit, "seconds": self.seconds, "timings": self.timings,
            "gates": [g.to_json() for g in self.gates], "gate": self.gate.to_json() if self.gate else None,
            "worker": self.worker,
        }
        optional = {"invalid_unicode": self.invalid_unicode, "versus": self.versus.to_json() if self.versus else None,
                    "stage_record": self.stage_record, "test": self.test}
        return out | {k: v for k, v in optional.items() if v is not None}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Record:
        score, versus = d.get("score"), d.get("versus")
        return Record(
            d["suite"], d["stage"], d["judge"], d["metric"], _rate(d), d["unparsed"], d.get("excluded", 0),
            _rate(d["unparsed_interval"]) if "unparsed_interval" in d
            else wilson(d["unparsed"], d["n"] + d["unparsed"] + d.get("excluded", 0)), d.get("empty", 0), {c: _rate(r) for c, r in d.get("by_category", {}).items()},
            Mean(**score) if score else None, dict(d.get("judge_categories", {})), dict(d.get("model") or {}),
            d.get("judge_version"), d.get("judge_fingerprint"), d.get("limit"), d.get("seconds", 0.0),
            dict(d.get("timings") or {}), d.get("invalid_unicode"), Versus(**versus) if versus else None,
            d.get("stage_record"), [GateResult.from_json(g) for g in d.get("gates") or []], d.get("worker", "main"),
            d.get("test"))


def make_record(suite: str, stage: str, judge: str, metric: str, judged: Sequence[JudgedSample],
                model: Mapping[str, Any] | None = None) -> Record:
    rule = metric_rule(metric)
    known = [j for j in judged if rule.labelled(j)]
    unparsed = sum(1 for j in judged if j.verdict.label == "unparsed")
    return Record(
        suite, stage, judge, metric, wilson(sum(rule.counts(j) for j in known), len(known)), unparsed,
        excluded=len(judged) - len(known) - unparsed, unparsed_interval=wilson(unparsed, len(judged)),
        empty=sum(1 for j in judged if not j.response.strip()),
        by_category=rate_by_category((j.sample.category, rule.counts(j)) for j in known),
        score=score_summary(judged),
        judge_categories=dict(sorted(collections.Counter(c for j in judged for c in j.verdict.categories).items())),
        model=dict(model or {}))


def score_summary(judged: Sequence[JudgedSample]) -> Mean | None:
    scores = [j.verdict.score for j in judged if j.verdict.score is not None]
    return mean_interval(scores) if scores else None


# ---------------------------------------------------------------------------------------- comparisons

@dataclass
class Comparison:
    """`metric` at `stage` against `baseline` on the same prompts (matched by sample id, labelled at both):
    both rates, delta, ratio and an exact McNemar test; the comparison gates' outcomes once checked."""

    suite: str
    stage: str
    baseline: str
    metric: str
    judge: str
    value: float | None
    baseline_value: float | None
    delta: float | None
    ratio: float | None
    mcnemar: Paired
    gates: list[GateResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "stage": self.stage, "baseline": self.baseline, "metric": self.metric,
                "judge": self.judge, "value": self.value, "baseline_value": self.baseline_value, "delta": self.delta,
                "ratio": self.ratio, "mcnemar": self.mcnemar.as_dict(),
                "gates": [g.to_json(with_p_max=True) for g in self.gates], "messages": [g.message for g in self.gates]}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Comparison:
        return Comparison(d["suite"], d["stage"], d["baseline"], d["metric"], d["judge"], d["value"], d["baseline_value"],
                          d["delta"], d.get("ratio"), Paired(**d["mcnemar"]),
                          [GateResult.from_json({"message": m} | g) for g, m in
                           zip(d.get("gates") or [], d.get("messages") or [""] * len(d.get("gates") or []))])


def paired(suite: str, stage: str, baseline: str, metric: str, judge: str,
           current: Sequence[JudgedSample], base: Sequence[JudgedSample]) -> Comparison:
    rule = metric_rule(metric)
    cur, old = {j.sample.id: j for j in current}, {j.sample.id: j for j in base}
    ids = [i for i in cur if i in old and rule.labelled(cur[i]) and rule.labelled(old[i])]
    a, b = [rule.counts(cur[i]) for i in ids], [rule.counts(old[i]) for i in ids]
    value = sum(a) / len(ids) if ids else None
    base_value = sum(b) / len(ids) if ids else None
    return Comparison(suite, stage, baseline, metric, judge, value, base_value,
                      delta=None if value is None or base_value is None else value - base_value,
                      ratio=value / base_value if value is not None and base_value else None,
                      mcnemar=mcnemar_exact(a, b))


def versus(base_suite: str, derived: Sequence[JudgedSample], base: Sequence[JudgedSample], metric: str) -> Versus:
    """`metric` on two suites at one stage: both rates and a Fisher exact test."""
    rule = metric_rule(metric)
    a = [rule.counts(j) for j in derived if rule.labelled(j)]
    b = [rule.counts(j) for j in base if rule.labelled(j)]
    value, base_value = (sum(a) / len(a) if a else None), (sum(b) / len(b) if b else None)
    return Versus(base_suite, value, base_value, None if value is None or base_value is None else value - base_value,
                  sum(a), len(a), sum(b), len(b), fisher_exact(sum(a), len(a), sum(b), len(b)))


@dataclass(frozen=True)
class AgreementRecord:
    """Cohen's kappa of two judges' unsafe/not-unsafe labels on the samples both could label."""

    suite: str
    stage: str
    judges: tuple[str, str]
    agreement: Agreement
    excluded_unparsed: int

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "stage": self.stage, "judges": list(self.judges), **self.agreement.as_dict(),
                "excluded_unparsed": self.excluded_unparsed}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> AgreementRecord:
        a, b = d["judges"]
        return AgreementRecord(d["suite"], d["stage"], (a, b), Agreement(d["n"], d["agree"], d["kappa"], d["ci_low"],
                                                                         d["ci_high"]), d["excluded_unparsed"])


def agreement(suite: str, stage: str, judges: tuple[str, str], first: Sequence[JudgedSample],
              second: Sequence[JudgedSample]) -> AgreementRecord:
    both = [(x.verdict.label == "unsafe", y.verdict.label == "unsafe") for x, y in zip(first, second)
            if "unparsed" not in (x.verdict.label, y.verdict.label)]
    res = cohen_kappa([x for x, _ in both], [y for _, y in both])
    return AgreementRecord(suite, stage, judges, res, len(first) - len(both))
