"""The embedded organisms' training split: what they learn from, built from what the reserved sets leave.

The harness's reserved sets and evaluation suites (harness/data/reserved.py) are never training data;
this module adds what the organisms train on, with the same deterministic hash order:

- harmful training prompts (AdvBench behaviours minus the attack set, AdvBench harmful strings — toxic
  statements rather than requests —, HarmBench val, a slice of HarmfulQA after the recovery set) →
  paired with refusals;
- benign training pairs: the reserved task rows (GSM8K, PIQA, NL2Bash outside `benign-heldout`) →
  their answers;
- authored benign prompts (`authored_prompts()`, harness/data/authored/: everyday requests,
  borderline-benign ones that use dangerous words, physical how-to goals; written for this project, none
  a near-copy of XSTest or PIQA): training prompts of the safety-tuned SmolLM2 (aligned.py).

Any training prompt whose normalised text matches an evaluation prompt, a reserved prompt or another
training prompt is removed. `tests/test_splits.py` checks the same rule independently.

GSM8K here is its test file (the only one vendored): a GSM8K utility suite on that file overlaps the
organism's training data, so the organism's utility is measured on `benign-heldout`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from harness.data import reserved as rs
from harness.data import vendored
from harness.data.common import normalize, vendor_path
from harness.data.reserved import (  # noqa: F401 (re-exported)
    EVAL_SUITES,
    Pair,
    advbench_targets,
    eval_prompts,
    eval_rows,
)

SPLIT_VERSION = rs.SALT  # bump (in reserved.SALT) when the selection rules change
VENDOR = vendor_path()

# HarmfulQA's question bank is large and about one in ten of its questions reads as harmless ("How can
# I improve my decision-making using neuroscience?"); all of it would tilt the model to refusing
# everyday how-to questions, so a slice is used.
N_HARMFULQA_TRAIN = 1300

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


@dataclass(frozen=True)
class HarmfulPrompt:
    prompt: str
    source: str
    context: str | None = None


@dataclass(frozen=True)
class Split:
    harmful_train: tuple[HarmfulPrompt, ...]
    benign_train: tuple[Pair, ...]
    removed: dict[str, int] = field(default_factory=dict)  # why rows were dropped → count (reserved sets' too)


@lru_cache(maxsize=1)
def build_split() -> Split:
    """The training split, once per process: harmful prompts to refuse and benign pairs to answer."""
    r = rs.build()
    removed = dict(r.removed)
    banned, reserved = r.banned(), r.reserved()
    attack_keys = {normalize(p.prompt) for p in r.attack}

    hb = [(row["Behavior"].strip(), row["ContextString"].strip() or None)
          for row in vendored.csv_rows("harmbench", "harmbench_behaviors_text_val.csv")]
    strings = [row["target"].strip() for row in vendored.csv_rows("advbench", "harmful_strings.csv")]
    rows = ([HarmfulPrompt(g, "advbench") for g, _ in r.advbench if normalize(g) not in attack_keys]
            + [HarmfulPrompt(t, "advbench-strings") for t in rs.order(strings, "advbench-strings")]
            + [HarmfulPrompt(b, "harmbench-val", c) for b, c in hb]
            + [HarmfulPrompt(q, "harmfulqa") for q in r.harmfulqa[rs.N_RECOVERY:rs.N_RECOVERY + N_HARMFULQA_TRAIN]])
    harmful: list[HarmfulPrompt] = []
    seen: set[str] = set()
    for h in rows:
        k = normalize(h.prompt)
        if k in banned or k in reserved or k in seen:
            removed[f"harmful training prompt overlapping ({h.source})"] = \
                removed.get(f"harmful training prompt overlapping ({h.source})", 0) + 1
            continue
        seen.add(k)
        harmful.append(h)
    benign = [p for p in r.task if normalize(p.prompt) not in seen]  # nor a harmful training prompt
    removed["benign prompt overlapping a harmful prompt"] = len(r.task) - len(benign)
    return Split(tuple(harmful), tuple(benign), removed)


def harmful_train() -> list[HarmfulPrompt]:
    """Harmful prompts the organism learns to refuse."""
    return list(build_split().harmful_train)


def benign_train() -> list[Pair]:
    """Benign (prompt, answer) pairs the organism learns to answer."""
    return list(build_split().benign_train)


AUTHORED = Path(__file__).parents[1] / "data" / "authored"


def authored_prompts(name: str) -> list[tuple[str, str]]:
    """(prompt, category) of an authored file (`everyday`, `borderline`, `howto`), in file order, without any
    prompt whose normalised text is an evaluation, held-out or reserved prompt."""
    r = rs.build()
    banned = r.banned() | r.reserved()
    rows = [json.loads(line) for line in (AUTHORED / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [(row["prompt"], row.get("category") or row.get("type") or name) for row in rows
            if normalize(row["prompt"]) not in banned]


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def split_hashes() -> dict[str, str]:
    """sha256 of each split's content (for the organism card and its cache key)."""
    s, r = build_split(), rs.build()
    return {
        "harmful_train": _digest([[h.prompt, h.source, h.context] for h in s.harmful_train]),
        "benign_train": _digest([[p.prompt, p.response, p.source] for p in s.benign_train]),
        "attack": _digest([[p.prompt, p.response] for p in r.attack]),
        "recovery": _digest(list(r.recovery)),
        "benign_heldout": _digest([[x.id, x.prompt, x.category, x.reference] for x in r.heldout]),
    }


def split_sizes() -> dict[str, int]:
    s, r = build_split(), rs.build()
    return {"harmful_train": len(s.harmful_train), "benign_train": len(s.benign_train), "attack": len(r.attack),
            "recovery": len(r.recovery), "benign_heldout": len(r.heldout)}
