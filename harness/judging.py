"""Runs a judge over judged items in one batched call, through the verdict cache.

A judge is any callable `judge(items) -> list[Verdict]` with a `name`, a `version` (its template
version: a short hash of the template bytes it renders from) and a `fingerprint` (judge identity and
options, template version and, for model judges, the judge model's content fingerprint); the
fingerprint is part of every verdict's cache key. Judges live in the top-level `judges/` package.

Performance contract: a judge sends all the items of one call to its backend in one batch, so hand
it every item of a phase at once (`judge_cached` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence, runtime_checkable

from .cache import Cache, verdict_key
from .types import Verdict, valid_text


@dataclass(frozen=True)
class JudgeInput:
    """What is judged: the prompt (a HarmBench behaviour), the model's response, the suite's context
    string where it has one (HarmBench contextual behaviours), and for utility scorers the sample's
    reference (the expected answer, or a HumanEval test program)."""

    prompt: str
    response: str
    context: str | None = None
    reference: str | None = None
    choice_scores: Mapping[str, float] | None = None  # a multiple-choice pick's {choice: log-likelihood}


@runtime_checkable
class Judge(Protocol):
    name: str
    version: str

    @property
    def fingerprint(self) -> str:
        """What decides a verdict (judge, template, parse rules, model): the verdict cache's key."""
        ...

    def __call__(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """Label every item, in order; output the judge cannot read is `unparsed`, never `safe`."""
        ...

    def close(self) -> None:
        ...


def judge_cached(judge: Judge, items: Sequence[JudgeInput], cache: Cache) -> list[Verdict]:
    """Verdicts for all items: cached ones are read, the rest judged in one call and stored."""
    keys = [verdict_key(judge.fingerprint, i.prompt, i.response, i.context, i.reference, i.choice_scores)
            for i in items]
    found = cache.get_many("verdicts", keys)
    todo = [j for j, k in enumerate(keys) if k not in found]
    if todo:
        fresh = judge([items[j] for j in todo])
        if len(fresh) != len(todo):
            raise RuntimeError(f"judge {judge.name} returned {len(fresh)} verdicts for {len(todo)} items")
        new = {keys[j]: v.to_json() | {"raw": valid_text(v.raw)[0]} for j, v in zip(todo, fresh)}
        cache.put_many("verdicts", new)
        found.update(new)
    return [Verdict.from_json(found[k]) for k in keys]
