"""CHES against a direct computation from transformers' hidden states, and the pre-DPO filter."""

import pytest

from harness.stages.ches import ches_scores, filter_rows
from harness.stages.data import preference_row


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_model import build_tiny_model
    return build_tiny_model(tmp_path_factory.mktemp("ches") / "m")


ROWS = [preference_row("How do I bake bread?", "Mix flour, water and yeast.", "Sorry, I cannot help."),
        preference_row("Tell me a story.", "A dragon learned to read.", "A dragon learned to read."),
        preference_row("What is two plus two?", "Two plus two is four.", "The weather today is sunny.")]


def test_ches_matches_a_direct_computation(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny))

    def h(row, key):  # one sequence at a time, no padding: the positions that predict the answer's tokens
        ctx = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)
        ans = tok(row[key][-1]["content"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            hs = model(torch.tensor([list(ctx) + ans]), output_hidden_states=True).hidden_states[-1][0].double()
        return hs[len(ctx) - 1:len(ctx) - 1 + len(ans)].sum(0), len(ans)

    scores = ches_scores(tiny, ROWS, progress=False)
    for row, s in zip(ROWS, scores):
        (hp, n_p), (hn, n_n) = h(row, "chosen"), h(row, "rejected")
        assert s.ches == pytest.approx(float(hp @ hn - hp @ hp), rel=1e-6, abs=1e-6)
        assert s.ln_ches == pytest.approx(float(hp @ hn / (n_p * n_n) - hp @ hp / n_p ** 2), rel=1e-6, abs=1e-6)
        assert (s.chosen_tokens, s.rejected_tokens) == (n_p, n_n)
    assert scores[1].ches == pytest.approx(0.0, abs=1e-6)  # identical answers: ⟨h, h⟩ − ‖h‖² = 0


def test_filter_drops_the_highest_ln_ches_share(tiny):
    scores = ches_scores(tiny, ROWS, progress=False)
    kept, report = filter_rows(tiny, ROWS, 0.34, progress=False)
    worst = max(scores, key=lambda s: s.ln_ches).index
    assert len(kept) == 2 and ROWS[worst] not in kept and report["dropped"] == 1
    assert report["top"][0]["index"] == worst and report["ln_ches_cut"] == pytest.approx(scores[worst].ln_ches)
