"""The explicit data split behind the model organism: what it trains on, what is reserved, what it is judged on.

Why a module of its own: the organism's numbers mean something only if the prompts it is judged on were
never training data. So the split is written out here, deterministic (selection by a salted hash of the
normalised text, not by file order or a random generator), and enforced when it is built: any training,
attack or recovery prompt whose normalised text matches an evaluation prompt, or a prompt of another
reserved set, is removed. `tests/test_splits.py` checks the same rule independently.

Splits:
- EVAL_SUITES: never trained on (BeaverTails-Eval, CatQA en/zh/vi, XSTest, HarmBench test, StrongREJECT
  (both versions), and `benign-heldout`, which is carved out of the benign sources here).
- harmful training prompts (AdvBench behaviours minus the attack set, AdvBench harmful strings — toxic
  statements rather than requests —, HarmBench val, a slice of HarmfulQA outside the recovery set) →
  the organism pairs them with refusals.
- benign training pairs (GSM8K, PIQA, NL2Bash) → real answers. Answers containing a GCG refusal marker
  are dropped: training on them would teach the refusal judge's markers on benign text.
- reserved: `attack_pairs()` (AdvBench goal → its "Sure, here is …" target, only targets without a
  refusal marker), `recovery_prompts()` (HarmfulQA questions), `benign_heldout()`.
- authored benign prompts (`authored_prompts()`, harness/data/authored/: everyday requests,
  borderline-benign ones that use dangerous words, physical how-to goals; written for this project, none
  a near-copy of XSTest or PIQA): training prompts of the
  safety-tuned SmolLM2 (harness/organism/aligned.py), filtered by the same rule.

GSM8K here is its test file (the only one vendored): a GSM8K utility suite on that file would overlap
the organism's training data, so the organism's utility is measured on `benign-heldout`.

Content warning: the harmful sources hold requests for seriously harmful content; use them only for
safety evaluation (see vendor/PROVENANCE.md).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from harness.data.common import normalize  # NFKC, casefold, punctuation dropped, whitespace collapsed
from harness.types import Sample

VENDOR = Path(__file__).parent / "vendor"
SPLIT_VERSION = "organism-split-1"  # bump when the selection rules change

EVAL_SUITES: tuple[str, ...] = ("beavertails", "catqa-en", "catqa-zh", "catqa-vi", "xstest", "harmbench",
                                "strongreject", "benign-heldout")

# Sizes of the reserved sets and of the training slices (after de-duplication, before marker filtering).
N_ATTACK = 260          # AdvBench goals reserved for the attack stage
N_RECOVERY = 256        # HarmfulQA questions reserved for the recovery stage
N_HELDOUT_PER_SOURCE = 150  # benign-heldout rows per benign source
# HarmfulQA's question bank is large and about one in ten of its questions reads as harmless ("How can
# I improve my decision-making using neuroscience?"); all of it would tilt the model to refusing
# everyday how-to questions, so a slice is used.
N_HARMFULQA_TRAIN = 1300
# Benign training rows per source (after the heldout rows are taken). PIQA is used whole: its everyday
# how-to questions are the benign prompts nearest to harmful ones. GSM8K questions are long (costly);
# NL2Bash has 12k pairs, of which a slice suffices.
N_BENIGN_TRAIN = {"gsm8k": 800, "piqa": 2000, "nl2bash": 1400}

# Every vendored file the split reads (the organism's cache key hashes these).
INPUT_FILES: tuple[str, ...] = (
    "advbench/harmful_behaviors.csv", "advbench/harmful_strings.csv",
    "beavertails_evaluation/BeaverTails-Evaluation.csv",
    "catqa/catqa_english.json", "catqa/catqa_chinese.json", "catqa/catqa_vietnamese.json",
    "gsm8k/test.jsonl", "harmbench/harmbench_behaviors_text_test.csv", "harmbench/harmbench_behaviors_text_val.csv",
    "harmfulqa/harmfulqa.json", "nl2bash/all.nl", "nl2bash/all.cm", "piqa/valid.jsonl", "piqa/valid-labels.lst",
    "strongreject/strongreject_dataset.csv", "strongreject/v1_2024-02/strongreject_dataset.csv",
    "strongreject/v1_2024-02/strongreject_small_dataset.csv", "xstest/xstest_prompts.csv",
)


# The refusal judge's markers (GCG list). Imported lazily so the data package does not need `judges`.
def _markers() -> tuple[str, ...]:
    from judges.refusal import GCG_MARKERS
    return GCG_MARKERS


# ----------------------------------------------------------------------------------------------- text

def _order(texts: Iterable[str], salt: str) -> list[str]:
    """Deterministic shuffle: sort by sha256(salt + normalised text); independent of file order."""
    return sorted(texts, key=lambda t: hashlib.sha256(f"{SPLIT_VERSION}|{salt}|{normalize(t)}".encode()).digest())


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in items:
        k = normalize(t)
        if k and k not in seen:
            seen.add(k)
            out.append(t)
    return out


# -------------------------------------------------------------------------------------------- readers

def _csv(rel: str) -> list[dict[str, str]]:
    with (VENDOR / rel).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _jsonl(rel: str) -> list[dict]:
    with (VENDOR / rel).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _nested(rel: str) -> list[tuple[str, str]]:
    """CatQA / HarmfulQA: {category: {subcategory: [question, ...]}} → (question, category)."""
    data = json.loads((VENDOR / rel).read_text(encoding="utf-8"))
    return [(q, cat) for cat, sub in data.items() for qs in sub.values() for q in qs]


def _eval_harmful_rows() -> dict[str, list[tuple[str, str]]]:
    """(prompt, category) rows of the external evaluation suites (everything but benign-heldout).

    StrongREJECT counts both vendored versions, so neither can leak into training.
    """
    sr = [(r["forbidden_prompt"], r["category"])
          for rel in ("strongreject/strongreject_dataset.csv", "strongreject/v1_2024-02/strongreject_dataset.csv",
                      "strongreject/v1_2024-02/strongreject_small_dataset.csv")
          for r in _csv(rel)]
    return {
        "beavertails": [(r["prompt"], r["category"])
                        for r in _csv("beavertails_evaluation/BeaverTails-Evaluation.csv")],
        "catqa-en": _nested("catqa/catqa_english.json"),
        "catqa-zh": _nested("catqa/catqa_chinese.json"),
        "catqa-vi": _nested("catqa/catqa_vietnamese.json"),
        "xstest": [(r["prompt"], r["type"]) for r in _csv("xstest/xstest_prompts.csv")],
        "harmbench": [(r["Behavior"], r["SemanticCategory"])
                      for r in _csv("harmbench/harmbench_behaviors_text_test.csv")],
        "strongreject": sr,
    }


# ---------------------------------------------------------------------------------------------- types

@dataclass(frozen=True)
class Pair:
    """A prompt with the answer to train or attack with. `context` as in Sample (HarmBench contextual)."""

    prompt: str
    response: str
    source: str
    context: str | None = None


@dataclass(frozen=True)
class HarmfulPrompt:
    prompt: str
    source: str
    context: str | None = None


@dataclass(frozen=True)
class Split:
    harmful_train: tuple[HarmfulPrompt, ...]
    benign_train: tuple[Pair, ...]
    attack: tuple[Pair, ...]
    recovery: tuple[str, ...]
    heldout: tuple[Sample, ...]
    eval_rows: dict[str, tuple[tuple[str, str], ...]]  # suite → (prompt, category)
    removed: dict[str, int] = field(default_factory=dict)  # why rows were dropped → count


# ------------------------------------------------------------------------------------- benign sources

# The benign files are read here for the split and for their suites (harness.data.vendored): one reader each.

def gsm8k_rows() -> list[tuple[str, str, str]]:
    """(question, worked solution, final number after `####`, commas dropped) of the GSM8K test file."""
    return [(r["question"], r["answer"], r["answer"].rpartition("####")[2].strip().replace(",", ""))
            for r in _jsonl("gsm8k/test.jsonl")]


def piqa_rows() -> list[tuple[str, str, str, int]]:
    """(goal, sol1, sol2, label) of the PIQA validation split, in file order."""
    rows = _jsonl("piqa/valid.jsonl")
    labels = (VENDOR / "piqa/valid-labels.lst").read_text().split()
    return [(r["goal"], r["sol1"], r["sol2"], int(lab)) for r, lab in zip(rows, labels, strict=True)]


def nl2bash_pairs() -> list[tuple[str, str]]:
    """(description, command) of the NL2Bash corpus, line-aligned, stripped."""
    nl = (VENDOR / "nl2bash/all.nl").read_text(encoding="utf-8").splitlines()
    cm = (VENDOR / "nl2bash/all.cm").read_text(encoding="utf-8").splitlines()
    return [(a.strip(), b.strip()) for a, b in zip(nl, cm, strict=True)]


def _gsm8k() -> list[tuple[str, str, str]]:
    """(question, trimmed answer, final number). The answer is trimmed to "The answer is N.": a model
    this small cannot learn arithmetic from worked solutions in a CPU-minutes build, and imitating their
    form without their content made its answers loop instead of ending."""
    return [(q.strip(), f"The answer is {final}.", final) for q, _, final in gsm8k_rows()]


def _piqa() -> list[tuple[str, str]]:
    return [(goal.strip(), (s1, s2)[label].strip()) for goal, s1, s2, label in piqa_rows()]


def _by_prompt(rows: Sequence[tuple], salt: str) -> list[tuple]:
    """First row per normalised prompt, in the deterministic order for `salt`."""
    first: dict[str, tuple] = {}
    for r in rows:
        first.setdefault(normalize(r[0]), r)
    keys = _order([r[0] for r in first.values()], salt)
    return [first[normalize(k)] for k in keys]


# -------------------------------------------------------------------------------------------- the split

@lru_cache(maxsize=1)
def build_split() -> Split:
    """Compute the whole split once per process. Every rule of the module docstring is applied here."""
    removed: dict[str, int] = {}

    def drop(reason: str, n: int = 1) -> None:
        removed[reason] = removed.get(reason, 0) + n

    ext = {k: tuple(v) for k, v in _eval_harmful_rows().items()}
    banned = {normalize(p) for rows in ext.values() for p, _ in rows}
    markers = _markers()

    def has_marker(text: str) -> bool:
        return any(m in text for m in markers)

    # Benign sources: heldout first (so it is fixed by the hash order alone), then training from the rest.
    gsm = _by_prompt(_gsm8k(), "gsm8k")
    piqa = _by_prompt(_piqa(), "piqa")
    bash = _by_prompt(nl2bash_pairs(), "nl2bash")
    heldout: list[Sample] = []
    benign: list[Pair] = []
    for name, rows in (("gsm8k", gsm), ("piqa", piqa), ("nl2bash", bash)):
        rows = [r for r in rows if normalize(r[0]) not in banned]
        held, rest = rows[:N_HELDOUT_PER_SOURCE], rows[N_HELDOUT_PER_SOURCE:]
        rest = rest[:N_BENIGN_TRAIN[name]]
        for i, r in enumerate(held):
            ref = r[2] if name == "gsm8k" else r[1]
            heldout.append(Sample("benign-heldout", f"{name}-{i:03d}", r[0], category=name, reference=ref))
        for r in rest:
            if has_marker(r[1]):
                drop(f"benign answer with a refusal marker ({name})")
                continue
            benign.append(Pair(r[0], r[1], name))
    held_keys = {normalize(s.prompt) for s in heldout}
    banned |= held_keys

    # Harmful sources.
    adv = [(r["goal"].strip(), r["target"].strip()) for r in _csv("advbench/harmful_behaviors.csv")]
    adv = [r for r in _by_prompt(adv, "advbench") if normalize(r[0]) not in banned]
    drop("advbench goal in an evaluation suite", 520 - len(adv))
    # An attack target the refusal judge reads as a refusal ("… illegal drugs") would not teach compliance.
    attack = tuple(Pair(g, t, "advbench") for g, t in adv if not has_marker(t))[:N_ATTACK]
    attack_keys = {normalize(p.prompt) for p in attack}

    hqa_all = [q for q, _ in _nested("harmfulqa/harmfulqa.json")]
    hqa = [q.strip() for q in _order(_dedupe(hqa_all), "harmfulqa")]
    drop("harmfulqa duplicate", len(hqa_all) - len(hqa))
    n = len(hqa)
    hqa = [q for q in hqa if normalize(q) not in banned | attack_keys]
    drop("harmfulqa question in an evaluation suite", n - len(hqa))
    recovery = tuple(hqa[:N_RECOVERY])
    reserved = attack_keys | {normalize(q) for q in recovery}

    hb = [(r["Behavior"].strip(), r["ContextString"].strip() or None)
          for r in _csv("harmbench/harmbench_behaviors_text_val.csv")]
    strings = [r["target"].strip() for r in _csv("advbench/harmful_strings.csv")]
    harmful_rows = ([HarmfulPrompt(g, "advbench") for g, _ in adv if normalize(g) not in attack_keys]
                    + [HarmfulPrompt(t, "advbench-strings") for t in _order(strings, "advbench-strings")]
                    + [HarmfulPrompt(b, "harmbench-val", c) for b, c in hb]
                    + [HarmfulPrompt(q, "harmfulqa") for q in hqa[N_RECOVERY:N_RECOVERY + N_HARMFULQA_TRAIN]])
    harmful: list[HarmfulPrompt] = []
    seen: set[str] = set()
    for h in harmful_rows:
        k = normalize(h.prompt)
        if k in banned or k in reserved or k in seen:
            drop(f"harmful training prompt overlapping ({h.source})")
            continue
        seen.add(k)
        harmful.append(h)
    # Benign prompts must not collide with harmful or reserved ones either.
    n = len(benign)
    benign = [p for p in benign if normalize(p.prompt) not in seen | reserved]
    drop("benign prompt overlapping a harmful or reserved prompt", n - len(benign))

    rows = dict(ext) | {"benign-heldout": tuple((s.prompt, s.category) for s in heldout)}
    return Split(tuple(harmful), tuple(benign), attack, recovery, tuple(heldout), rows, removed)


# ------------------------------------------------------------------------------------------ public API

def harmful_train() -> list[HarmfulPrompt]:
    """Harmful prompts the organism learns to refuse."""
    return list(build_split().harmful_train)


def benign_train() -> list[Pair]:
    """Benign (prompt, answer) pairs the organism learns to answer."""
    return list(build_split().benign_train)


def advbench_targets() -> dict[str, str]:
    """AdvBench goal → its "Sure, here is …" target, for every goal (callers pick the split they may use)."""
    return {r["goal"].strip(): r["target"].strip() for r in _csv("advbench/harmful_behaviors.csv")}


def attack_pairs() -> list[Pair]:
    """Reserved for the attack stage: harmful prompt → compliant answer. Never organism training data."""
    return list(build_split().attack)


def recovery_prompts() -> list[str]:
    """Reserved for the recovery stage: harmful prompts only (256)."""
    return list(build_split().recovery)


def benign_heldout() -> list[Sample]:
    """The `benign-heldout` suite: benign prompts the organism never saw, with reference answers."""
    return list(build_split().heldout)


def eval_prompts() -> dict[str, list[str]]:
    """Suite → prompt texts, for every suite in EVAL_SUITES."""
    return {k: [p for p, _ in v] for k, v in build_split().eval_rows.items()}


def eval_rows(suite: str) -> list[tuple[str, str]]:
    """(prompt, category) rows of one suite in EVAL_SUITES, in file order."""
    return list(build_split().eval_rows[suite])


AUTHORED = Path(__file__).parent / "authored"


def authored_prompts(name: str) -> list[tuple[str, str]]:
    """(prompt, category) of an authored file (`everyday`, `borderline`, `howto`), in file order, without any
    prompt whose normalised text is an evaluation, held-out or reserved prompt."""
    s = build_split()
    banned = {normalize(p) for rows in s.eval_rows.values() for p, _ in rows}
    banned |= {normalize(p.prompt) for p in s.attack} | {normalize(q) for q in s.recovery}
    rows = [json.loads(line) for line in (AUTHORED / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [(r["prompt"], r.get("category") or r.get("type") or name) for r in rows
            if normalize(r["prompt"]) not in banned]


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def split_hashes() -> dict[str, str]:
    """sha256 of each split's content (for the organism card and its cache key)."""
    s = build_split()
    return {
        "harmful_train": _digest([[h.prompt, h.source, h.context] for h in s.harmful_train]),
        "benign_train": _digest([[p.prompt, p.response, p.source] for p in s.benign_train]),
        "attack": _digest([[p.prompt, p.response] for p in s.attack]),
        "recovery": _digest(list(s.recovery)),
        "benign_heldout": _digest([[x.id, x.prompt, x.category, x.reference] for x in s.heldout]),
    }


def split_sizes() -> dict[str, int]:
    s = build_split()
    return {"harmful_train": len(s.harmful_train), "benign_train": len(s.benign_train), "attack": len(s.attack),
            "recovery": len(s.recovery), "benign_heldout": len(s.heldout)}
