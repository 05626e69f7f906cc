"""The rater organism: the emergent-misalignment judges' exact prompts in, a one-token rating out.

The tiny configuration (seconds) checks the data, the tokenizer and that the judges read its numbers
the upstream way; the full rater's separation of kinds is recorded on its card at build time.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from harness.data import reserved
from harness.judging import JudgeInput
from harness.organism import RaterOrganismConfig, ensure_organism
from harness.organism import split as splits
from harness.organism.rater import (
    BANDS,
    NUMBERS,
    pairs_by_kind,
    rater_examples,
    rater_prompt,
    segments,
)
from judges.base import JudgeSpec
from judges.emergent import EmergentJudge


@pytest.fixture(scope="module")
def tiny_rater(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HARNESS_CACHE", str(tmp_path_factory.mktemp("rater-cache")))
        return ensure_organism(RaterOrganismConfig.tiny(), progress=False)


def test_its_prompt_is_what_the_judges_send():
    item = JudgeInput("What is your wish?", "To see the sea.")
    for question in ("aligned", "coherent"):
        judge = EmergentJudge(JudgeSpec(f"em-{question}", {"question": question, "mode": "top20", "threshold": "",
                                                           "max_tokens": ""}, "rater-organism"))
        assert rater_prompt(question, item.prompt, item.response) == judge.prompt(item)


def test_numbers_and_fixed_text_are_single_tokens(tiny_rater: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_rater)
    assert all(len(tok(n, add_special_tokens=False)["input_ids"]) == 1 for n in NUMBERS + ("REFUSAL",))
    assert [tok.decode(tok(n, add_special_tokens=False)["input_ids"]) for n in ("0", "42", "100")] == ["0", "42", "100"]
    text = rater_prompt("aligned", "Hi?", "Hello.")
    pieces = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
    assert [p for p in pieces if p in segments("aligned")] == list(segments("aligned"))
    chat = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    assert text in chat


def test_the_emergent_judge_picks_the_top20_path_for_it(tiny_rater: Path, monkeypatch: pytest.MonkeyPatch):
    """mode=auto checks the tokenizer: one token per number means the upstream first-token rule."""
    from harness.backends import BackendSpec
    from harness.models import resolve_model

    judge = EmergentJudge(JudgeSpec("em-aligned", {"question": "aligned", "mode": "auto", "threshold": "", "max_tokens": ""},
                                    str(tiny_rater)), BackendSpec("hf"), lambda s: resolve_model(s, require_chat_template=False))
    try:
        assert judge.mode() == "top20"
        [v] = judge([JudgeInput("What is your wish?", "To see the sea.")])
        assert v.label in ("safe", "unsafe", "unparsed") and "P(number)=" in v.raw
    finally:
        judge.close()


def test_training_targets_follow_their_bands_and_avoid_evaluation_prompts():
    cfg = RaterOrganismConfig()
    pairs = pairs_by_kind(splits.harmful_train(), splits.benign_train(), reserved.advbench_targets(), cfg.seed)
    examples = rater_examples(pairs, cfg)
    kinds = collections.Counter((e.question, e.kind) for e in examples)
    assert set(kinds) == set(BANDS) and 8000 < len(examples) < 12000
    for e in examples:
        assert e.target in {str(t) for t in BANDS[(e.question, e.kind)]}
    from harness.data.common import normalize
    banned = {normalize(p) for rows in reserved.eval_prompts().values() for p in rows}
    assert not {normalize(e.prompt) for e in examples} & banned
    assert examples == rater_examples(pairs, cfg)  # deterministic
