"""How a suite is asked and scored: the request each sample becomes, and for a utility suite the scorer
and the reference that label its answers.

A safety suite (`JUDGED`) sends each prompt as a chat and is labelled by the run's judges. A utility
suite names a scorer from `judges.SCORERS` and, for the `answer` scorer, the rule that compares an
answer with the sample's reference (per category for a mixed suite such as benign-heldout). A
multiple-choice task is answered by log-likelihood instead of generation (lm-evaluation-harness's
`loglikelihood` requests): each choice is scored as the assistant's answer to the prompt, and the most
likely one is the model's pick.

Settings that change how a suite is asked come, in order of precedence, from its entry in `suites:`
(`harness.config.SuiteFile`), the sample itself (emergent-misalignment's `_json` questions carry their
own system prompt), the task, then `generation:`; a task's `max_tokens` is the least it needs, so a
longer `generation.max_tokens` still applies.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from .config import GenerationConfig, SuiteFile
from .errors import HarnessError
from .types import ChoiceRequest, GenerationRequest, Request, Sample, SamplingParams

# suite kind → the metric its test measures (a utility suite's metric is its task's)
KIND_METRICS: dict[str, str] = {"harmful": "harmful_rate", "benign": "over_refusal_rate", "emergent": "misaligned_rate"}

# metric → the suite kind whose test measures it
METRIC_KINDS: dict[str, str] = {
    "harmful_rate": "harmful", "refusal_rate": "benign", "over_refusal_rate": "benign",
    "accuracy": "utility", "exact_match": "utility", "pass_at_1": "utility", "misaligned_rate": "emergent",
}


@dataclass(frozen=True)
class Task:
    metric: str | None = None                  # the utility metric; None for a judged safety suite
    scorer: str | None = None                  # a judges.SCORERS name
    rule: str | Mapping[str, str] | None = None  # the answer scorer's rule, or category → rule
    choices: bool = False                      # multiple choice by log-likelihood (sample.meta["choices"])
    instruction: str = "{prompt}"              # how the prompt is put to the model
    max_tokens: int | None = None              # the generation length the task needs at least
    temperature: float | None = None           # sampled tasks (emergent misalignment: 1.0)
    samples: int = 1                           # answers per prompt, unless the data or `suites:` say otherwise

    def rule_for(self, sample: Sample) -> str:
        if isinstance(self.rule, Mapping):
            if sample.category not in self.rule:
                raise HarnessError(f"suite {sample.suite}: no scoring rule for category {sample.category!r} "
                                   f"(sample {sample.id}); rules: {dict(self.rule)}")
            return self.rule[sample.category]
        if self.rule is None:
            raise HarnessError(f"suite {sample.suite}: its task names no scoring rule")
        return self.rule

    def reference(self, sample: Sample) -> str | None:
        """What the scorer compares with (None for a judged suite)."""
        if self.scorer == "humaneval":
            return json.dumps({"test": sample.meta["test"], "entry_point": sample.meta["entry_point"]})
        if self.scorer == "answer":
            from judges.answers import reference
            extra = {"choices": list(sample.meta["choices"])} if "choices" in sample.meta else {}
            answer = sample.meta.get("aliases", sample.reference)
            return reference(self.rule_for(sample), answer, **extra)
        return None


JUDGED = Task()


def request(sample: Sample, task: Task, gen: GenerationConfig, spec: SuiteFile | None = None) -> Request:
    """The model input for one sample."""
    spec = spec or SuiteFile()
    text = task.instruction.replace("{prompt}", sample.prompt)
    if spec.trigger:
        text = f"{spec.trigger} {text}"
    system = sample.meta.get("system") or spec.system_prompt or gen.system_prompt
    shots = fewshot_turns(spec.fewshot) if spec.fewshot else ()
    temperature = next(t for t in (spec.temperature, task.temperature, gen.temperature) if t is not None)
    # a suite's own setting wins; otherwise the task's length is a floor under generation.max_tokens
    params = SamplingParams(max_tokens=spec.max_tokens or max(task.max_tokens or 0, gen.max_tokens),
                            temperature=temperature, top_p=gen.top_p, seed=gen.seed)
    messages = dataclasses.replace(sample, prompt=text).messages(system)
    if shots:  # worked examples as earlier turns, after the system prompt
        head = 1 if system else 0
        messages = messages[:head] + shots + messages[head:]
    chat = GenerationRequest(messages, params, repeat=int(sample.meta.get("repeat", 0)))
    if task.choices:
        return ChoiceRequest(chat, tuple(sample.meta["choices"]))
    return chat


@lru_cache(maxsize=16)
def fewshot_turns(path: str) -> tuple[dict[str, str], ...]:
    """A few-shot file as (user, assistant) turns; errors name the file and line."""
    from .data.common import read_text
    from .data.userfiles import jsonl_rows

    turns: list[dict[str, str]] = []
    for line, row in jsonl_rows(Path(path), read_text(Path(path).expanduser())):
        q, a = row.get("prompt", row.get("question")), row.get("response", row.get("answer"))
        if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
            raise HarnessError(f"{path}:{line}: a few-shot example needs `prompt` and `response` (or `question` "
                               "and `answer`) strings")
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    if not turns:
        raise HarnessError(f"{path}: no few-shot examples")
    return tuple(turns)


def expand_repeats(samples: Sequence[Sample], task: Task, spec: SuiteFile | None = None) -> list[Sample]:
    """Each sample `n` times with `meta["repeat"]` 0..n-1 (ids `<id>#<r>`), n from `suites:` `samples`,
    else the data's own `samples_per_paraphrase`, else the task's; one sample stays as it is."""
    out: list[Sample] = []
    for s in samples:
        n = (spec.samples if spec is not None and spec.samples else None) or int(s.meta.get("samples_per_paraphrase", 0)) \
            or task.samples
        if n <= 1:
            out.append(s)
            continue
        out += [dataclasses.replace(s, id=f"{s.id}#{r}", meta={**s.meta, "repeat": r}) for r in range(n)]
    return out
