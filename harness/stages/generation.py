"""Greedy chat generation in transformers, for the stages that read a model's own answers mid-build
(the recovery's refused-prompt filter, its harmful proxy and utility check, realignment data) and for
the embedded organisms' cards.

transformers' batched `generate` (left padding, length-sorted batches) rather than a backend: these
calls run on a model object a stage holds in memory and edits between calls, which no engine can serve
without a reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence, cast

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MAX_NEW_TOKENS = 128
BATCH = 48


def rendered(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[str]:
    """Single-turn user prompts in the model's chat template, each ending with the generation prompt."""
    return [cast(str, tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                    add_generation_prompt=True))  # tokenize=False: the text
            for p in prompts]


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
             max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = BATCH, progress: bool = False) -> list[tuple[str, bool]]:
    """Greedy chat completions for single-turn user prompts, in input order: (text, ended with EOS)."""
    return generate_rendered(model, tokenizer, rendered(tokenizer, prompts), max_new_tokens, batch_size, progress)


def generate_rendered(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rendered: Sequence[str],
                      max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = BATCH, progress: bool = False,
                      desc: str = "generating") -> list[tuple[str, bool]]:
    """Greedy completions of already rendered prompts (no special tokens added), in input order."""
    import torch
    from tqdm.auto import tqdm

    ids = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in rendered]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[tuple[str, bool]] = [("", False)] * len(ids)
    pad = tokenizer.pad_token_id
    for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, leave=False):
        idx = order[start:start + batch_size]
        width = max(len(ids[i]) for i in idx)
        x = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros_like(x)
        for row, i in enumerate(idx):  # left padding: generation continues from the right edge
            x[row, width - len(ids[i]):] = torch.tensor(ids[i])
            mask[row, width - len(ids[i]):] = 1
        with torch.inference_mode():
            # transformers 5 types PreTrainedModel without GenerationMixin (its causal LMs mix it in)
            y = model.generate(  # type: ignore[operator]
                               input_ids=x, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                               pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        for row, i in enumerate(idx):
            new = y[row, width:]
            ended = bool((new == tokenizer.eos_token_id).any())
            out[i] = (cast(str, tokenizer.decode(new, skip_special_tokens=True)), ended)  # one row: one string
    return out
