"""How a suite is asked and scored: the request each sample becomes, and for a utility suite the scorer
and the reference that label its answers.

A safety suite (`JUDGED`) sends each prompt as a chat and is labelled by the run's judges. A utility
suite names a scorer from `judges.SCORERS` and, for the `answer` scorer, the rule that compares an
answer with the sample's reference (per category for a mixed suite such as benign-heldout). A
multiple-choice task is answered by log-likelihood instead of generation (lm-evaluation-harness's
`loglikelihood` requests), and the most likely choice is the model's pick.

Two protocols for a task that lm-evaluation-harness also runs (`Task.lm_eval`): `lm-eval`, the default,
asks it as lm-eval's task YAML does — its `doc_to_text` as raw text, no chat template, each choice
scored after `target_delimiter`, generation cut at its `until` strings — so the numbers compare with
published lm-eval numbers (tests/test_lm_eval_parity.py runs lm-eval itself); `chat` sends the prompt as
a user turn and scores each choice as the assistant's answer (`suites: {piqa: {protocol: chat}}`).

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

from ..config import GenerationConfig, SuiteFile
from ..errors import HarnessError
from ..types import ChoiceRequest, GenerationRequest, Request, Sample, SamplingParams


@dataclass(frozen=True)
class LmEvalFormat:
    """How lm-evaluation-harness's task YAML asks a task: `text` is its `doc_to_text` with `{prompt}`
    for the sample's prompt, `description` its per-task header (`{category}`: the sample's category,
    underscores read as spaces), `target_delimiter` what precedes an answer or choice, `until` where
    generation stops, `rule` the answer rule its metric uses (None: the task's own)."""

    text: str = "Question: {prompt}\nAnswer:"
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    until: tuple[str, ...] = ()
    max_tokens: int | None = None
    rule: str | None = None

    def prompt(self, sample: Sample, shots: Sequence[tuple[str, str]] = ()) -> str:
        """The raw text lm-eval sends for `sample`, after its few-shot examples."""
        head = self.description.replace("{category}", (sample.category or "").replace("_", " "))
        done = "".join(self.text.replace("{prompt}", q) + self.target_delimiter + a + self.fewshot_delimiter
                       for q, a in shots)
        return head + done + self.text.replace("{prompt}", sample.prompt)


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
    lm_eval: LmEvalFormat | None = None        # how lm-evaluation-harness asks it (the default protocol)

    def rule_for(self, sample: Sample, protocol: str = "chat") -> str:
        if protocol == "lm-eval" and self.lm_eval is not None and self.lm_eval.rule is not None:
            return self.lm_eval.rule
        if isinstance(self.rule, Mapping):
            if sample.category not in self.rule:
                raise HarnessError(f"suite {sample.suite}: no scoring rule for category {sample.category!r} "
                                   f"(sample {sample.id}); rules: {dict(self.rule)}")
            return self.rule[sample.category]
        if self.rule is None:
            raise HarnessError(f"suite {sample.suite}: its task names no scoring rule")
        return self.rule

    def protocol(self, spec: SuiteFile | None = None) -> str:
        """`lm-eval` for a task lm-evaluation-harness runs, unless `suites:` says `chat`; else `chat`."""
        if self.lm_eval is None:
            return "chat"
        return (spec.protocol if spec is not None and spec.protocol else None) or "lm-eval"

    def reference(self, sample: Sample, spec: SuiteFile | None = None) -> str | None:
        """What the scorer compares with (None for a judged suite)."""
        if self.scorer == "humaneval":
            return json.dumps({"test": sample.meta["test"], "entry_point": sample.meta["entry_point"]})
        if self.scorer == "answer":
            extra = {"choices": list(sample.meta["choices"])} if "choices" in sample.meta else {}
            answer = sample.meta.get("aliases", sample.reference)
            return reference(self.rule_for(sample, self.protocol(spec)), answer, **extra)
        return None


# The `answer` scorer's rules (judges/answers.py implements one function per name).
ANSWER_RULES = ("number", "gsm8k", "command", "choice", "closest", "alias")


def reference(rule: str, answer: object, **extra: object) -> str:
    """The reference string the `answer` scorer reads: the rule, the answer and what the rule needs."""
    if rule not in ANSWER_RULES:
        raise HarnessError(f"unknown answer rule {rule!r}; expected one of {sorted(ANSWER_RULES)}")
    return json.dumps({"rule": rule, "answer": answer, **extra}, ensure_ascii=False, sort_keys=True)


JUDGED = Task()


def request(sample: Sample, task: Task, gen: GenerationConfig, spec: SuiteFile | None = None) -> Request:
    """The model input for one sample."""
    spec = spec or SuiteFile()
    if task.protocol(spec) == "lm-eval":
        return lm_eval_request(sample, task, gen, spec)
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


def lm_eval_request(sample: Sample, task: Task, gen: GenerationConfig, spec: SuiteFile) -> Request:
    """The sample as lm-evaluation-harness asks it: raw text (no chat template, no special tokens added
    beyond what the tokenizer adds to any text: none, as lm-eval's HFLM by default), greedy unless
    `suites:` says otherwise, cut at the format's `until` strings."""
    fmt = task.lm_eval
    assert fmt is not None
    text = fmt.prompt(sample, fewshot_pairs(spec.fewshot) if spec.fewshot else ())
    if spec.trigger:
        text = f"{spec.trigger} {text}"
    temperature = spec.temperature if spec.temperature is not None else 0.0
    params = SamplingParams(max_tokens=spec.max_tokens or fmt.max_tokens or task.max_tokens or gen.max_tokens,
                            temperature=temperature, top_p=gen.top_p, seed=gen.seed, stop=fmt.until)
    raw = GenerationRequest.raw(text, params, repeat=int(sample.meta.get("repeat", 0)))
    if task.choices:
        return ChoiceRequest(raw, tuple(sample.meta["choices"]), fmt.target_delimiter)
    return raw


@lru_cache(maxsize=16)
def fewshot_pairs(path: str) -> tuple[tuple[str, str], ...]:
    """A few-shot file as (question, answer) pairs; errors name the file and line."""
    from .common import read_text
    from .userfiles import jsonl_rows

    pairs: list[tuple[str, str]] = []
    for line, row in jsonl_rows(Path(path), read_text(Path(path).expanduser())):
        q, a = row.get("prompt", row.get("question")), row.get("response", row.get("answer"))
        if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
            raise HarnessError(f"{path}:{line}: a few-shot example needs `prompt` and `response` (or `question` "
                               "and `answer`) strings")
        pairs.append((q, a))
    if not pairs:
        raise HarnessError(f"{path}: no few-shot examples")
    return tuple(pairs)


def fewshot_turns(path: str) -> tuple[dict[str, str], ...]:
    """A few-shot file as (user, assistant) chat turns."""
    return tuple(t for q, a in fewshot_pairs(path) for t in ({"role": "user", "content": q},
                                                             {"role": "assistant", "content": a}))


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
