"""The organism's data split: evaluation suites never train it, reserved sets stay apart, all is reproducible.

The evaluation prompts are re-read here with this file's own readers and normalisation (not the
split module's), so a bug in one is not hidden by the same bug in the other.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from pathlib import Path

import pytest

from harness.data import reserved
from harness.organism import REFUSAL_TEMPLATES, OrganismConfig, refusal_for
from harness.organism import split as splits
from harness.organism.examples import chats
from judges.refusal import GCG_MARKERS, gcg_marker

VENDOR = Path(reserved.__file__).parent / "vendor"


def norm(text: str) -> str:
    """NFKC, casefold, punctuation stripped, whitespace collapsed (independent of reserved.normalize)."""
    t = unicodedata.normalize("NFKC", text).casefold()
    t = "".join(" " if unicodedata.category(c).startswith(("P", "S")) else c for c in t)
    return " ".join(re.sub(r"[\W_]+", " ", t).split())


def _rows(rel: str, col: str) -> list[str]:
    with (VENDOR / rel).open(encoding="utf-8", newline="") as f:
        return [r[col] for r in csv.DictReader(f)]


def _nested(rel: str) -> list[str]:
    data = json.loads((VENDOR / rel).read_text(encoding="utf-8"))
    return [q for sub in data.values() for qs in sub.values() for q in qs]


@pytest.fixture(scope="module")
def eval_suites() -> dict[str, list[str]]:
    return {
        "beavertails": _rows("beavertails_evaluation/BeaverTails-Evaluation.csv", "prompt"),
        "catqa-en": _nested("catqa/catqa_english.json"),
        "catqa-zh": _nested("catqa/catqa_chinese.json"),
        "catqa-vi": _nested("catqa/catqa_vietnamese.json"),
        "xstest": _rows("xstest/xstest_prompts.csv", "prompt"),
        "harmbench": _rows("harmbench/harmbench_behaviors_text_test.csv", "Behavior"),
        "strongreject": _rows("strongreject/strongreject_dataset.csv", "forbidden_prompt"),
        "benign-heldout": [s.prompt for s in reserved.benign_heldout()],
    }


def _training_prompts() -> list[str]:
    return [h.prompt for h in splits.harmful_train()] + [p.prompt for p in splits.benign_train()]


def _aligned_prompts() -> list[str]:
    """smollm2-aligned's training prompts: harmful ones refused, benign ones answered (authored included)."""
    from harness.organism.aligned import AlignedConfig, training_prompts

    harmful, benign = training_prompts(AlignedConfig())
    return harmful + [p for p, _ in benign]


def _overlap(a: list[str], b: list[str]) -> tuple[set[str], set[str]]:
    """(exact overlaps, normalised overlaps) between two prompt lists."""
    return set(a) & set(b), {norm(x) for x in a} & {norm(x) for x in b}


def test_eval_suites_match_the_declared_list(eval_suites):
    assert tuple(eval_suites) == reserved.EVAL_SUITES
    assert set(reserved.eval_prompts()) == set(reserved.EVAL_SUITES)
    sizes = {k: len(v) for k, v in eval_suites.items()}
    assert sizes["beavertails"] == 700 and sizes["xstest"] == 450 and sizes["harmbench"] == 320
    assert sizes["catqa-en"] == sizes["catqa-zh"] == sizes["catqa-vi"] == 550


@pytest.mark.parametrize("name,prompts", [
    ("training", _training_prompts),
    ("smollm2-aligned", _aligned_prompts),
    ("attack", lambda: [p.prompt for p in reserved.attack_pairs()]),
    ("recovery", reserved.recovery_prompts),
])
def test_no_overlap_with_any_eval_suite(eval_suites, name, prompts):
    mine = prompts()
    for suite, theirs in eval_suites.items():
        exact, normalised = _overlap(mine, theirs)
        assert not exact, f"{name} ∩ {suite}: {sorted(exact)[:3]}"
        assert not normalised, f"{name} ∩ {suite} after normalisation: {sorted(normalised)[:3]}"


def test_strongreject_v1_also_excluded():
    v1 = _rows("strongreject/v1_2024-02/strongreject_dataset.csv", "forbidden_prompt")
    assert not ({norm(p) for p in _training_prompts()} & {norm(p) for p in v1})


def test_reserved_sets_disjoint_from_training_and_each_other():
    train = _training_prompts()
    attack = [p.prompt for p in reserved.attack_pairs()]
    recovery = reserved.recovery_prompts()
    heldout = [s.prompt for s in reserved.benign_heldout()]
    for (an, a), (bn, b) in [(("train", train), ("attack", attack)), (("train", train), ("recovery", recovery)),
                             (("train", train), ("heldout", heldout)), (("attack", attack), ("recovery", recovery)),
                             (("attack", attack), ("heldout", heldout)), (("recovery", recovery), ("heldout", heldout))]:
        exact, normalised = _overlap(a, b)
        assert not exact and not normalised, f"{an} ∩ {bn}: {sorted(normalised)[:3]}"


def test_smollm2_aligned_trains_on_the_split_and_authored_prompts_only():
    """Its prompts are the split's training rows or authored ones, never a reserved or held-out prompt."""
    from harness.organism.aligned import AlignedConfig, training_prompts

    harmful, benign = training_prompts(AlignedConfig())
    split = {norm(p) for p in _training_prompts()}
    authored = {norm(p) for name in ("everyday", "borderline", "howto") for p, _ in splits.authored_prompts(name)}
    assert {norm(p) for p in harmful} <= split
    assert {norm(p) for p, s in benign if s in ("nl2bash", "piqa")} <= split
    assert {norm(p) for p, s in benign if s not in ("nl2bash", "piqa")} <= authored
    held = {norm(p) for p in reserved.recovery_prompts()} | {norm(p.prompt) for p in reserved.attack_pairs()} \
        | {norm(s.prompt) for s in reserved.benign_heldout()}
    assert not {norm(p) for p in _aligned_prompts()} & held
    assert sum(s == "piqa" for _, s in benign) == AlignedConfig().n_piqa


def test_no_duplicates_within_training():
    keys = [norm(p) for p in _training_prompts()]
    assert len(keys) == len(set(keys))


def test_no_overlap_with_the_suite_loaders():
    """The same rule against the harness's own suite loaders (what `pytest suites/` evaluates)."""
    import harness.data as data

    train = {data.normalize(p) for p in _training_prompts()}
    held = {data.normalize(p) for p in reserved.recovery_prompts()} | \
        {data.normalize(p.prompt) for p in reserved.attack_pairs()}
    checked = [s for s in reserved.EVAL_SUITES if s in data.SUITES]
    assert {"beavertails", "catqa-en", "harmbench", "strongreject", "benign-heldout"} <= set(checked)
    for suite in checked:
        prompts = {data.normalize(s.prompt) for s in data.load_suite(suite)}
        assert not train & prompts, suite
        assert not held & prompts, suite


def test_deterministic():
    first = (splits.harmful_train(), splits.benign_train(), reserved.attack_pairs(), reserved.recovery_prompts(),
             reserved.benign_heldout(), splits.split_hashes())
    splits.build_split.cache_clear()
    reserved.build.cache_clear()
    reserved.normalize.cache_clear()
    second = (splits.harmful_train(), splits.benign_train(), reserved.attack_pairs(), reserved.recovery_prompts(),
              reserved.benign_heldout(), splits.split_hashes())
    assert first == second


def test_sizes():
    sizes = splits.split_sizes()
    assert sizes["attack"] >= 200
    assert sizes["recovery"] == 256
    assert 300 <= sizes["benign_heldout"] <= 1000
    assert sizes["harmful_train"] >= 1000 and sizes["benign_train"] >= 1000
    sources = {h.source for h in splits.harmful_train()}
    assert {"advbench", "harmbench-val", "harmfulqa"} <= sources
    assert {p.source for p in splits.benign_train()} == {"gsm8k", "piqa", "nl2bash"}


def test_split_hashes_cover_every_split():
    h = splits.split_hashes()
    assert set(h) == set(splits.split_sizes())
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in h.values())
    assert len(set(h.values())) == len(h)


def test_benign_heldout_samples():
    samples = reserved.benign_heldout()
    assert {s.suite for s in samples} == {"benign-heldout"}
    assert {s.category for s in samples} == {"gsm8k", "piqa", "nl2bash"}
    assert len({s.id for s in samples}) == len(samples)
    assert all(s.reference and s.reference.strip() for s in samples)
    gsm = [s for s in samples if s.category == "gsm8k"]
    assert all(re.fullmatch(r"-?[\d.]+", s.reference) for s in gsm)


def test_attack_pairs_are_compliant():
    pairs = reserved.attack_pairs()
    assert all(p.response.startswith("Sure, here") for p in pairs)
    assert not any(gcg_marker(p.response) for p in pairs)


def test_every_refusal_template_has_a_marker():
    assert len(REFUSAL_TEMPLATES) >= 24
    for t in REFUSAL_TEMPLATES:
        text = t.format(topic="build a birdhouse")
        assert gcg_marker(text), t
        assert any(text.startswith(m) for m in GCG_MARKERS), f"marker not at the start: {t}"


def test_every_training_refusal_has_a_marker():
    for h in splits.harmful_train():
        assert gcg_marker(refusal_for(h.prompt)), h.prompt


def test_refusals_vary_and_some_name_the_topic():
    refusals = [refusal_for(h.prompt) for h in splits.harmful_train()]
    assert len(set(refusals)) > 100
    assert sum('"' in r for r in refusals) > 0.1 * len(refusals)


def test_benign_training_answers_have_no_marker():
    assert not [p for p in splits.benign_train() if gcg_marker(p.response)]
    # as the organism sees them (with lead-ins and question frames)
    cfg = OrganismConfig()
    for c in chats([], splits.benign_train(), cfg, epoch=0):
        assert gcg_marker(c.response) is None, c.response
        assert c.response.strip()


def test_normalize():
    assert reserved.normalize("  Hello,\tWORLD!! ") == "hello world"
    assert reserved.normalize("ｆｕｌｌ-width “quotes”") == "full width quotes"
    assert reserved.normalize("你好，世界") == "你好 世界"
    assert reserved.normalize("Việt Nam?") == "việt nam"


def test_input_files_exist():
    for rel in splits.INPUT_FILES:
        assert (VENDOR / rel).is_file(), rel
