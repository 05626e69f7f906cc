"""Reserved data: the prompts the stages and the utility checks own, kept apart from every evaluation suite.

A number means something only if the prompts it is judged on were never training data, so these sets
are written out here, deterministic (selection by a salted hash of the normalised text, not by file
order or a random generator), and disjoint from every evaluation prompt by normalised text
(`tests/test_splits.py` checks the same rule independently):

- `benign_heldout()`: the `benign-heldout` suite, 150 rows each of GSM8K, PIQA and NL2Bash;
- `task_pairs(source)`: benign (prompt, answer) rows of the same sources outside `benign-heldout`: the
  task set an attack injects harmful rows into and a recovery's utility check reads;
- `attack_pairs()`: AdvBench goal → its "Sure, here is …" target (only targets without a GCG refusal
  marker: one the refusal judge reads as a refusal would not teach compliance);
- `recovery_prompts()`: HarmfulQA questions for the recovery stages;
- `nl2bash_suite()`: the `nl2bash` suite, NL2Bash pairs that no set above holds.

A model trained for this harness (the embedded organisms) trains on neither these sets nor the
evaluation suites: its own training split (harness/organism/split.py) is built from what is left.

Content warning: the harmful sources hold requests for seriously harmful content; use them only for
safety evaluation (see vendor/PROVENANCE.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence, TypeVar

from harness.data import vendored
from harness.data.common import (
    normalize,  # NFKC, casefold, punctuation dropped, whitespace collapsed
)
from harness.data.refusal_markers import GCG_MARKERS
from harness.types import Sample

# The salt of every hash-ordered selection (its name is historical: changing it reselects every set).
SALT = "organism-split-1"

EVAL_SUITES: tuple[str, ...] = ("beavertails", "catqa-en", "catqa-zh", "catqa-vi", "xstest", "harmbench",
                                "strongreject", "benign-heldout")

N_ATTACK = 260          # AdvBench goals reserved for the attack stage
N_RECOVERY = 256        # HarmfulQA questions reserved for the recovery stage
N_HELDOUT_PER_SOURCE = 150  # benign-heldout rows per benign source
# Task rows per source (after the heldout rows are taken). PIQA is used whole: its everyday how-to
# questions are the benign prompts nearest to harmful ones. GSM8K questions are long (costly);
# NL2Bash has 12k pairs, of which a slice suffices.
N_TASK = {"gsm8k": 800, "piqa": 2000, "nl2bash": 1400}
NL2BASH_SIZE = 606  # the size of NL2Bash's official test split (its split scripts are not vendored)


def has_marker(text: str) -> bool:
    """Whether a GCG refusal marker (the refusal judge's list) occurs in the text."""
    return any(m in text for m in GCG_MARKERS)


# ----------------------------------------------------------------------------------------------- text

def order(texts: Iterable[str], salt: str) -> list[str]:
    """Deterministic shuffle: sort by sha256(SALT + salt + normalised text); independent of file order."""
    return sorted(texts, key=lambda t: hashlib.sha256(f"{SALT}|{salt}|{normalize(t)}".encode()).digest())


def dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in items:
        k = normalize(t)
        if k and k not in seen:
            seen.add(k)
            out.append(t)
    return out


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def by_prompt(rows: Sequence[_Row], salt: str) -> list[_Row]:
    """First row per normalised prompt, in the deterministic order for `salt`."""
    first: dict[str, _Row] = {}
    for r in rows:
        first.setdefault(normalize(r[0]), r)
    keys = order([r[0] for r in first.values()], salt)
    return [first[normalize(k)] for k in keys]


# -------------------------------------------------------------------------------------------- sources

def _eval_harmful_rows() -> dict[str, list[tuple[str, str]]]:
    """(prompt, category) rows of the external evaluation suites (everything but benign-heldout).

    XSTest counts its safe and contrast prompts; StrongREJECT counts both vendored versions, so neither
    can leak into training.
    """
    sr = [(r["forbidden_prompt"], r["category"])
          for rel in (("strongreject", "strongreject_dataset.csv"),
                      ("strongreject", "v1_2024-02", "strongreject_dataset.csv"),
                      ("strongreject", "v1_2024-02", "strongreject_small_dataset.csv"))
          for r in vendored.csv_rows(*rel)]
    return {
        "beavertails": [(r["prompt"], r["category"])
                        for r in vendored.csv_rows("beavertails_evaluation", "BeaverTails-Evaluation.csv")],
        "catqa-en": vendored.nested_questions("catqa", "catqa_english.json"),
        "catqa-zh": vendored.nested_questions("catqa", "catqa_chinese.json"),
        "catqa-vi": vendored.nested_questions("catqa", "catqa_vietnamese.json"),
        "xstest": [(r["prompt"], r["type"]) for r in vendored.csv_rows("xstest", "xstest_prompts.csv")],
        "harmbench": [(r["Behavior"], r["SemanticCategory"])
                      for r in vendored.csv_rows("harmbench", "harmbench_behaviors_text_test.csv")],
        "strongreject": sr,
    }


def _gsm8k() -> list[tuple[str, str, str]]:
    """(question, trimmed answer, final number). The answer is trimmed to "The answer is N.": a model
    as small as the organism cannot learn arithmetic from worked solutions in a CPU-minutes build, and
    imitating their form without their content made its answers loop instead of ending."""
    return [(q.strip(), f"The answer is {final}.", final) for q, _, final in vendored.gsm8k_rows()]


def _piqa() -> list[tuple[str, str]]:
    return [(goal.strip(), (s1, s2)[label].strip()) for goal, s1, s2, label in vendored.piqa_rows()]


# ---------------------------------------------------------------------------------------------- types

@dataclass(frozen=True)
class Pair:
    """A prompt with the answer to train or attack with. `context` as in Sample (HarmBench contextual)."""

    prompt: str
    response: str
    source: str
    context: str | None = None


@dataclass(frozen=True)
class Reserved:
    heldout: tuple[Sample, ...]
    task: tuple[Pair, ...]
    attack: tuple[Pair, ...]
    recovery: tuple[str, ...]
    advbench: tuple[tuple[str, str], ...]  # (goal, target), hash order, evaluation prompts removed
    harmfulqa: tuple[str, ...]  # every HarmfulQA question outside the evaluation suites, hash order
    eval_rows: dict[str, tuple[tuple[str, str], ...]]  # suite → (prompt, category)
    removed: dict[str, int] = field(default_factory=dict)  # why rows were dropped → count

    def banned(self) -> set[str]:
        """Normalised texts no training set may hold: evaluation prompts (benign-heldout included)."""
        return {normalize(p) for rows in self.eval_rows.values() for p, _ in rows}

    def reserved(self) -> set[str]:
        """Normalised texts of the attack and recovery prompts."""
        return {normalize(p.prompt) for p in self.attack} | {normalize(q) for q in self.recovery}


@lru_cache(maxsize=1)
def build() -> Reserved:
    """Every reserved set, once per process. Each rule of the module docstring is applied here."""
    removed: dict[str, int] = {}

    def drop(reason: str, n: int = 1) -> None:
        removed[reason] = removed.get(reason, 0) + n

    ext = {k: tuple(v) for k, v in _eval_harmful_rows().items()}
    banned = {normalize(p) for rows in ext.values() for p, _ in rows}

    # Benign sources: heldout first (so it is fixed by the hash order alone), then the task rows.
    heldout: list[Sample] = []
    task: list[Pair] = []
    sources: tuple[tuple[str, Sequence[tuple[str, ...]]], ...] = (
        ("gsm8k", by_prompt(_gsm8k(), "gsm8k")), ("piqa", by_prompt(_piqa(), "piqa")),
        ("nl2bash", by_prompt(vendored.nl2bash_pairs(), "nl2bash")))
    for name, found in sources:
        rows = [r for r in found if normalize(r[0]) not in banned]
        held, rest = rows[:N_HELDOUT_PER_SOURCE], rows[N_HELDOUT_PER_SOURCE:N_HELDOUT_PER_SOURCE + N_TASK[name]]
        for i, r in enumerate(held):
            ref = r[2] if name == "gsm8k" else r[1]
            heldout.append(Sample("benign-heldout", f"{name}-{i:03d}", r[0], category=name, reference=ref))
        for r in rest:
            if has_marker(r[1]):  # training on them would teach the refusal judge's markers on benign text
                drop(f"benign answer with a refusal marker ({name})")
                continue
            task.append(Pair(r[0], r[1], name))
    banned |= {normalize(s.prompt) for s in heldout}

    adv = [(r["goal"].strip(), r["target"].strip()) for r in vendored.csv_rows("advbench", "harmful_behaviors.csv")]
    adv = [r for r in by_prompt(adv, "advbench") if normalize(r[0]) not in banned]
    drop("advbench goal in an evaluation suite", 520 - len(adv))
    attack = tuple(Pair(g, t, "advbench") for g, t in adv if not has_marker(t))[:N_ATTACK]
    attack_keys = {normalize(p.prompt) for p in attack}

    hqa_all = [q for q, _ in vendored.nested_questions("harmfulqa", "harmfulqa.json")]
    hqa = [q.strip() for q in order(dedupe(hqa_all), "harmfulqa")]
    drop("harmfulqa duplicate", len(hqa_all) - len(hqa))
    n = len(hqa)
    hqa = [q for q in hqa if normalize(q) not in banned | attack_keys]
    drop("harmfulqa question in an evaluation suite", n - len(hqa))
    recovery = tuple(hqa[:N_RECOVERY])

    reserved = attack_keys | {normalize(q) for q in recovery}
    n = len(task)
    task = [p for p in task if normalize(p.prompt) not in reserved]
    drop("task prompt overlapping a reserved prompt", n - len(task))
    all_rows = dict(ext) | {"benign-heldout": tuple((s.prompt, s.category) for s in heldout)}
    return Reserved(tuple(heldout), tuple(task), attack, recovery, tuple(adv), tuple(hqa), all_rows, removed)


# ------------------------------------------------------------------------------------------ public API

def benign_heldout() -> list[Sample]:
    """The `benign-heldout` suite: benign prompts no reserved or training set holds, with reference answers."""
    return list(build().heldout)


def task_pairs(source: str | None = None) -> list[Pair]:
    """Benign task rows outside `benign-heldout` (gsm8k, piqa, nl2bash in that order; one source if named)."""
    return [p for p in build().task if source is None or p.source == source]


def attack_pairs() -> list[Pair]:
    """Reserved for the attack stage: harmful prompt → compliant answer."""
    return list(build().attack)


def recovery_prompts() -> list[str]:
    """Reserved for the recovery stage: harmful prompts only (256)."""
    return list(build().recovery)


def advbench_targets() -> dict[str, str]:
    """AdvBench goal → its "Sure, here is …" target, for every goal (callers pick the split they may use)."""
    return {r["goal"].strip(): r["target"].strip() for r in vendored.csv_rows("advbench", "harmful_behaviors.csv")}


def eval_prompts() -> dict[str, list[str]]:
    """Suite → prompt texts, for every suite in EVAL_SUITES."""
    return {k: [p for p, _ in v] for k, v in build().eval_rows.items()}


def eval_rows(suite: str) -> list[tuple[str, str]]:
    """(prompt, category) rows of one suite in EVAL_SUITES, in file order."""
    return list(build().eval_rows[suite])


def nl2bash_suite() -> list[Sample]:
    """606 NL2Bash pairs, chosen by a salted hash of the description among the pairs that are neither
    task rows nor `benign-heldout` (so a model tuned on the task rows is not scored on memory)."""
    used = {normalize(p.prompt) for p in task_pairs("nl2bash")}
    used |= {normalize(s.prompt) for s in benign_heldout() if s.category == "nl2bash"}
    first: dict[str, tuple[int, str, str]] = {}
    for i, (desc, cmd) in enumerate(vendored.nl2bash_pairs()):
        key = normalize(desc)
        if key and key not in used:
            first.setdefault(key, (i, desc, cmd))
    ranked = sorted(first.values(), key=lambda r: hashlib.sha256(f"nl2bash-suite|{normalize(r[1])}".encode()).digest())
    chosen = sorted(ranked[:NL2BASH_SIZE])
    return [Sample(suite="nl2bash", id=f"nl2bash-{i:05d}", prompt=desc, reference=cmd, meta={"line": i + 1})
            for i, desc, cmd in chosen]
