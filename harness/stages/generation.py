"""Greedy chat generation in transformers, for the stages that read a model's own answers mid-build
(the recovery's refused-prompt filter, its harmful proxy and utility check, realignment data) and for
the embedded organisms' cards.

transformers' batched `generate` (left padding, length-sorted batches) rather than a backend: these
calls run on a model object a stage holds in memory and edits between calls, which no engine can serve
without a reload.
"""

from __future__ import annotations

from typing import Any, Sequence

MAX_NEW_TOKENS = 128
BATCH = 48


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = MAX_NEW_TOKENS,
             batch_size: int = BATCH, progress: bool = False) -> list[tuple[str, bool]]:
    """Greedy chat completions for single-turn user prompts, in input order: (text, ended with EOS)."""
    rendered = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                              add_generation_prompt=True) for p in prompts]
    return generate_rendered(model, tokenizer, rendered, max_new_tokens, batch_size, progress)


def generate_rendered(model: Any, tokenizer: Any, rendered: Sequence[str], max_new_tokens: int = MAX_NEW_TOKENS,
                      batch_size: int = BATCH, progress: bool = False,
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
            y = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                               pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        for row, i in enumerate(idx):
            new = y[row, width:]
            ended = bool((new == tokenizer.eos_token_id).any())
            out[i] = (tokenizer.decode(new, skip_special_tokens=True), ended)
    return out
