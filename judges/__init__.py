"""Judges: one small module each, all behind `harness.judging.Judge`.

`--judge NAME[@OPTIONS][:ARG]` picks one (grammar in `judges.base`). ARG is a variant for string
judges (`refusal:xstest`) and, required, the judge model for model judges (a local directory, hub id
or served name): `--judge llama-guard-3:/models/Llama-Guard-3-8B`, `--judge llama-guard-3@prob:PATH`,
`--judge shieldlm@base=internlm:PATH`. docs/judges.md describes each judge.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from harness.backends import BackendSpec
from harness.engines import EnginePool
from harness.errors import HarnessError
from harness.judging import Judge
from harness.models import ModelRef

from .base import JudgeSpec, display_name, parse_options


@dataclass(frozen=True)
class Factory:
    """Where a judge's class lives (imported on use, cheap) and the options its name fixes."""

    module: str
    cls: str
    fixed: Mapping[str, str] = field(default_factory=dict)
    canonical: str | None = None  # the name verdicts show, for aliases (llama-guard → llama-guard-3)

    def judge_class(self) -> Any:
        return getattr(importlib.import_module(self.module, __name__), self.cls)


FACTORIES: dict[str, Factory] = {
    "refusal": Factory(".refusal", "RefusalJudge"),
    "llama-guard": Factory(".llama_guard", "LlamaGuardJudge", {"version": "3"}, "llama-guard-3"),
    **{f"llama-guard-{v}": Factory(".llama_guard", "LlamaGuardJudge", {"version": v}) for v in "1234"},
    "shieldlm": Factory(".shieldlm", "ShieldLMJudge"),
    "harmbench-cls": Factory(".harmbench", "HarmBenchJudge"),
    "wildguard": Factory(".wildguard", "WildGuardJudge"),
    "beaverdam": Factory(".beaverdam", "BeaverDamJudge"),
    "strongreject": Factory(".strongreject", "StrongRejectJudge"),
    "strongreject-ft": Factory(".strongreject_ft", "StrongRejectFTJudge"),
    "qi-rubric": Factory(".qi_rubric", "QiRubricJudge"),
    "em-aligned": Factory(".emergent", "EmergentJudge", {"question": "aligned"}),
    "em-coherent": Factory(".emergent", "EmergentJudge", {"question": "coherent"}),
    "xstest": Factory(".xstest", "XSTestJudge"),
}

# Utility scorers: picked by a suite's task (harness.data.tasks), not by --judge; they read the reference.
SCORERS: dict[str, Factory] = {
    "answer": Factory(".answers", "AnswerScorer"),
    "humaneval": Factory(".humaneval", "HumanEvalScorer"),
}

# Which suite kinds a judge labels (harness.data.suites kinds). Safety judges label the harmful and
# benign suites; the emergent-misalignment raters only the emergent suites.
SAFETY_KINDS = ("harmful", "benign")


def judge_kinds(spec: str) -> tuple[str, ...]:
    """The suite kinds the judge `spec` labels."""
    factory, _ = parse_spec(spec)
    return tuple(getattr(factory.judge_class(), "KINDS", SAFETY_KINDS))


def make_scorer(name: str) -> Judge:
    if name not in SCORERS:
        raise HarnessError(f"unknown scorer {name!r}; expected one of {sorted(SCORERS)}")
    scorer: Judge = SCORERS[name].judge_class().from_spec(JudgeSpec(name))
    return scorer


def parse_spec(spec: str) -> tuple[Factory, JudgeSpec]:
    """Split and check a --judge value without loading anything."""
    head, colon, arg = spec.partition(":")
    name, _, opts = head.partition("@")
    if name not in FACTORIES:
        raise HarnessError(f"--judge {spec}: unknown judge {name!r}; expected one of {sorted(FACTORIES)}")
    factory = FACTORIES[name]
    cls = factory.judge_class()
    schema = getattr(cls, "OPTIONS", {})
    if opts and not schema:
        raise HarnessError(f"--judge {spec}: {name} takes no @options")
    options = parse_options(spec, opts, schema, factory.fixed)
    if hasattr(cls, "check_options"):  # rules that join several options
        cls.check_options(spec, options)
    shown = factory.canonical or name
    if getattr(cls, "NEEDS_MODEL", False) and not arg:
        raise HarnessError(f"--judge {spec}: {name} is a model judge; name its model, e.g. "
                           f"--judge {head}:/models/<judge model> (a directory, hub id or served name)")
    return factory, JudgeSpec(shown, options, arg or None, display_name(shown, options, schema, factory.fixed))


def make_judge(spec: str, backend: BackendSpec | None = None,
               resolve: Callable[[str], ModelRef] | None = None, engines: EnginePool | None = None) -> Judge:
    """The judge `spec` names. Model judges run on `backend` (default: vLLM) with the model that
    `resolve(ARG)` gives (default: `judges.base.resolve_judge_model`), their engines in `engines` (a run's
    pool; default: one shared by the judges made outside a run); nothing loads until first use.
    A utility scorer's name (`SCORERS`) gives that scorer."""
    if spec in SCORERS:
        return make_scorer(spec)
    factory, parsed = parse_spec(spec)
    judge: Judge = factory.judge_class().from_spec(parsed, backend, resolve, engines)
    return judge


def validate(spec: str) -> str:
    """Parse-time check of a --judge value (cheap: constructs nothing heavy). A judge without a model
    is built once, so a bad variant (`refusal:nosuch`) fails here too."""
    factory, parsed = parse_spec(spec)
    cls = factory.judge_class()
    if not getattr(cls, "NEEDS_MODEL", False):
        cls.from_spec(parsed, None, None)
    return spec
