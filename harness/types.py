"""Typed records that travel through the pipeline: request → generation → verdict → record.

Frozen dataclasses rather than tuples or dicts, so every stage states what it hands on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

Label = Literal["unsafe", "safe", "unparsed"]
LABELS: tuple[Label, ...] = ("unsafe", "safe", "unparsed")


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; every field is part of a generation's cache key."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    logprobs: int | None = None  # number of top logprobs per generated token, or None
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Message = Mapping[str, str]  # {"role": ..., "content": ...}


@dataclass(frozen=True)
class GenerationRequest:
    """One chat to complete. `repeat` separates sampled repeats of the same chat in the cache.

    `prompt`, when set, is text already in the model's format (a judge's byte-exact template) and is
    sent instead of `messages`, without the chat template; `add_special_tokens` says whether the
    tokenizer adds its own BOS/EOS around it (upstream judges differ: Llama Guard's text carries
    `<|begin_of_text|>` itself, HarmBench's and WildGuard's rely on the tokenizer's BOS).
    """

    messages: tuple[Message, ...]
    params: SamplingParams = SamplingParams()
    repeat: int = 0
    prompt: str | None = None
    add_special_tokens: bool = False

    @staticmethod
    def user(prompt: str, params: SamplingParams = SamplingParams(), system: str | None = None,
             repeat: int = 0) -> "GenerationRequest":
        msgs: list[Message] = []
        if system:
            msgs.append({"role": "system", "content": system})
        msgs.append({"role": "user", "content": prompt})
        return GenerationRequest(tuple(msgs), params, repeat)

    @staticmethod
    def raw(prompt: str, params: SamplingParams = SamplingParams(), add_special_tokens: bool = False,
            repeat: int = 0) -> "GenerationRequest":
        """A request for text already in the model's format (no chat template is applied)."""
        return GenerationRequest((), params, repeat, prompt, add_special_tokens)


@dataclass(frozen=True)
class ChoiceRequest:
    """Multiple choice by log-likelihood (lm-evaluation-harness's `loglikelihood` requests): the model
    scores each of `choices` as the continuation of `context`'s prompt, and the answer is the most likely
    one. The phase-1 result is a `Generation` whose text is that choice and whose `logprobs` hold one
    mapping {choice: log-likelihood}."""

    context: GenerationRequest
    choices: tuple[str, ...]
    delimiter: str = ""  # put before each choice when scored (lm-eval's target_delimiter, " "); not in the answer


Request = GenerationRequest | ChoiceRequest


@dataclass(frozen=True)
class Generation:
    """A backend's answer. `logprobs`: per generated token, its top alternatives {token: logprob}."""

    text: str
    finish_reason: str | None = None
    logprobs: tuple[Mapping[str, float], ...] | None = None
    repaired: int = 0  # lone surrogates replaced in `text` (valid_text)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "finish_reason": self.finish_reason,
                "logprobs": [dict(d) for d in self.logprobs] if self.logprobs is not None else None} | (
                   {"repaired": self.repaired} if self.repaired else {})

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "Generation":
        lp = d.get("logprobs")
        return Generation(d["text"], d.get("finish_reason"), tuple(lp) if lp is not None else None,
                          d.get("repaired", 0))

    def valid(self) -> "Generation":
        """This answer with its text made valid Unicode (valid_text), the count kept in `repaired`."""
        text, n = valid_text(self.text)
        return dataclasses.replace(self, text=text, repaired=n) if n else self


def valid_text(text: str) -> tuple[str, int]:
    """`text` with each lone surrogate (U+D800-U+DFFF: not Unicode characters, and UTF-8 cannot encode
    them; a broken server or a `\\ud800` escape in a JSON prompt file gives them) replaced by U+FFFD, and
    how many were. Everything the harness stores or shows passes through here first."""
    try:
        text.encode("utf-8")
        return text, 0
    except UnicodeEncodeError:
        n = sum(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text), n


@dataclass(frozen=True)
class Sample:
    """One prompt of a suite. `reference` holds the expected answer for utility tasks."""

    suite: str
    id: str
    prompt: str
    category: str = "all"
    context: str | None = None
    reference: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def messages(self, system: str | None = None) -> tuple[Message, ...]:
        content = self.prompt if self.context is None else f"{self.context}\n\n---\n\n{self.prompt}"
        msgs: list[Message] = [{"role": "system", "content": system}] if system else []
        msgs.append({"role": "user", "content": content})
        return tuple(msgs)


@dataclass(frozen=True)
class Verdict:
    """A judge's label for one (prompt, response). Never `safe` for output the judge could not read.

    `refused` is the judge's reading of whether the model declined (None where the judge does not say);
    over-refusal metrics count it, harmful-rate metrics count `label == "unsafe"`. `correct` is a utility
    scorer's reading of whether the answer matches the suite's reference (None where nothing was scored);
    accuracy-style metrics count it. A scorer says nothing about safety: its label is `safe`, or
    `unparsed` when the answer could not be scored at all (a sandbox that failed to start).
    """

    label: Label
    raw: str
    judge: str
    refused: bool | None = None
    score: float | None = None
    categories: tuple[str, ...] = ()
    correct: bool | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"verdict label must be one of {LABELS}, got {self.label!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"categories": list(self.categories)}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "Verdict":
        return Verdict(d["label"], d["raw"], d["judge"], d.get("refused"), d.get("score"),
                       tuple(d.get("categories") or ()), d.get("correct"))


@dataclass(frozen=True)
class JudgedSample:
    """What the per-sample JSONL and the report's sample browser show."""

    sample: Sample
    stage: str
    response: str
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        s = self.sample
        return {"suite": s.suite, "stage": self.stage, "id": s.id, "category": s.category,
                "prompt": s.prompt, "context": s.context, "response": self.response,
                "verdict": self.verdict.to_json()}


def ids(samples: Sequence[Sample]) -> list[str]:
    return [s.id for s in samples]
