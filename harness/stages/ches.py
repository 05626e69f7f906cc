"""CHES screening of preference pairs (Razin et al., ICLR 2025, "Unintentional unalignment").

A DPO pair whose chosen and rejected answers look alike to the model (in its final-layer hidden
states) makes DPO push the chosen answer's probability *down* (likelihood displacement) and can
unalign a model trained on refusals. CHES, the centred hidden embedding similarity, finds those pairs:

    h⁺ = Σ_k h(x, y⁺_<k),  h⁻ = Σ_k h(x, y⁻_<k)         (final layer, the positions that predict each
                                                        answer token: last prompt token … second last)
    CHES    = ⟨h⁺, h⁻⟩ − ‖h⁺‖²
    LN-CHES = ⟨h⁺, h⁻⟩ / (|y⁺||y⁻|) − ‖h⁺‖² / |y⁺|²      (length-normalised)

Higher means more similar, more displacement. The paper filters by LN-CHES (unnormalised CHES
overflows on long answers of large models; sums here are float64). `filter_rows` drops the given share
of pairs with the highest LN-CHES before a DPO stage (`ches_filter:` of a DPO attack or dpo-realign);
upstream keeps the lowest-scoring ones, which is the same cut. Written by hand: it is a dozen lines over
transformers' hidden states, and no library ships it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

Row = dict[str, Any]


@dataclass(frozen=True)
class ChesScore:
    index: int
    ches: float
    ln_ches: float
    chosen_tokens: int
    rejected_tokens: int


def _answer_sums(model: Any, tok: Any, prompt: list[dict[str, Any]], answers: Sequence[str]) -> list[tuple[Any, int]]:
    """(Σ final-layer hidden states predicting the answer's tokens, number of answer tokens) per answer."""
    import torch

    ctx = list(tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False))
    seqs = []
    for a in answers:
        ids = list(tok(a, add_special_tokens=False)["input_ids"])
        seqs.append((ctx + ids + ([tok.eos_token_id] if tok.eos_token_id is not None else []), len(ids) + 1))
    width = max(len(s) for s, _ in seqs)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    batch = torch.tensor([s + [pad] * (width - len(s)) for s, _ in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s, _ in seqs])
    with torch.inference_mode():
        hidden = model(input_ids=batch.to(model.device), attention_mask=mask.to(model.device),
                       output_hidden_states=True).hidden_states[-1].double()
    start = len(ctx) - 1
    return [(hidden[row, start:start + n].sum(0).cpu(), n) for row, (_, n) in enumerate(seqs)]


def ches_scores(model_dir: Path, rows: Sequence[Row], progress: bool = True) -> list[ChesScore]:
    """CHES and LN-CHES of every preference row (`prompt`, `chosen`, `rejected` chats), in order."""
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    from .checkpoints import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tok = load_tokenizer(model_dir)
    out = []
    for i, r in enumerate(tqdm(rows, desc="CHES", unit="pair", disable=not progress)):
        (hp, np_), (hn, nn) = _answer_sums(model, tok, r["prompt"], [r["chosen"][-1]["content"], r["rejected"][-1]["content"]])
        inner, norm = float(hp @ hn), float(hp @ hp)
        out.append(ChesScore(i, inner - norm, inner / (np_ * nn) - norm / (np_ * np_), np_, nn))
    return out


def top_pairs(rows: Sequence[Row], scores: Sequence[ChesScore], k: int) -> list[dict[str, Any]]:
    """The k pairs with the highest LN-CHES, with their texts (the screening report)."""
    ranked = sorted(scores, key=lambda s: (-s.ln_ches, s.index))[:k]
    return [asdict(s) | {"prompt": rows[s.index]["prompt"][-1]["content"], "chosen": rows[s.index]["chosen"][-1]["content"],
                         "rejected": rows[s.index]["rejected"][-1]["content"]} for s in ranked]


def filter_rows(model_dir: Path, rows: Sequence[Row], share: float, report_top: int = 10,
                progress: bool = True) -> tuple[list[Row], dict[str, Any]]:
    """Drop the `share` of pairs with the highest LN-CHES (at least one when share > 0); returns the kept
    rows, in order, and a report for the stage record."""
    if not 0 < share < 1:
        raise ValueError(f"ches_filter must be in (0, 1), got {share}")
    scores = ches_scores(model_dir, rows, progress)
    drop = max(1, math.floor(share * len(rows)))
    ranked = sorted(scores, key=lambda s: (-s.ln_ches, s.index))
    dropped = {s.index for s in ranked[:drop]}
    kept = [r for i, r in enumerate(rows) if i not in dropped]
    report = {"share": share, "pairs": len(rows), "dropped": len(dropped),
              "ln_ches_cut": ranked[drop - 1].ln_ches, "ln_ches_max": ranked[0].ln_ches, "ln_ches_min": ranked[-1].ln_ches,
              "top": top_pairs(rows, scores, report_top)}
    return kept, report
