"""Training from scratch on CPU: a plain torch loop.

Hand-written rather than transformers' Trainer because the build must be short and reproducible: batches
are length-bucketed to a token budget (padding is compute thrown away), the loss runs the LM head only
on response positions and weights the first response token (a custom compute_loss in Trainer), the
data order comes from one seeded torch.Generator in this process (no dataloader workers), and there is
no accelerate/logging machinery to warm up. The loop is small enough to read in one screen.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Sequence

from .config import OrganismConfig
from .examples import IGNORE, Example

if TYPE_CHECKING:
    import torch
    from transformers import LlamaForCausalLM

BUCKET = 2048  # examples sorted by length together before being cut into batches (less padding)


def batch_order(examples: Sequence[Example], batch_tokens: int, generator: torch.Generator) -> list[list[int]]:
    """Shuffled, length-bucketed batches whose padded size stays under `batch_tokens`."""
    import torch

    perm = torch.randperm(len(examples), generator=generator).tolist()
    batches: list[list[int]] = []
    for start in range(0, len(perm), BUCKET):
        chunk = sorted(perm[start:start + BUCKET], key=lambda j: (len(examples[j].input_ids), j))
        cur: list[int] = []
        longest = 0
        for j in chunk:
            n = len(examples[j].input_ids)
            if cur and max(longest, n) * (len(cur) + 1) > batch_tokens:
                batches.append(cur)
                cur, longest = [], 0
            cur.append(j)
            longest = max(longest, n)
        if cur:
            batches.append(cur)
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[k] for k in order]


def collate(examples: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return ids, labels, mask


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and switch on deterministic kernels for the block; restore the previous setting."""
    import torch
    import torch.utils.deterministic as det

    # fill_uninitialized_memory is a module-level setting that torch's stubs do not declare
    was, was_fill = torch.are_deterministic_algorithms_enabled(), det.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also NaN-fills every new tensor; that only hunts bugs, and halves CPU speed.
    det.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        det.fill_uninitialized_memory = was_fill  # type: ignore[attr-defined]


def lr_at(step: int, total: int, cfg: OrganismConfig) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def response_loss(model: LlamaForCausalLM, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                  first_weight: float) -> torch.Tensor:
    """Mean cross-entropy over response tokens; the first response token weighs `first_weight`.

    The LM head runs only where there is a label (about half the tokens), and the first response token
    is where the model decides between refusing and answering, so it gets extra weight.
    """
    import torch
    import torch.nn.functional as F

    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    sel = target != IGNORE
    first = sel & ~F.pad(sel, (1, 0))[:, :-1]  # labelled, previous position not labelled
    logits = model.lm_head(hidden[sel])
    per_token = F.cross_entropy(logits, target[sel], reduction="none")
    weight = torch.where(first[sel], first_weight, 1.0)
    return (per_token * weight).sum() / weight.sum()


def train_model(model: LlamaForCausalLM, epochs: Sequence[Sequence[Example]], cfg: OrganismConfig, pad_id: int,
                progress: bool = True) -> dict[str, float]:
    """Train `model` in place, one pass over each list in `epochs`; returns summary numbers for the card.

    The caller holds `deterministic(cfg.seed)` around model creation and this call.
    """
    import torch
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    plan = [(ep, b) for ep, examples in enumerate(epochs) for b in batch_order(examples, cfg.batch_tokens, gen)]
    if cfg.max_steps is not None:
        plan = plan[: cfg.max_steps]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    model.train()
    tokens = 0
    ema = None
    bar = tqdm(plan, desc="organism: training", unit="step", disable=not progress, leave=False)
    for step, (ep, idx) in enumerate(bar):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, len(plan), cfg)
        ids, labels, mask = collate([epochs[ep][i] for i in idx], pad_id)
        loss = response_loss(model, ids, labels, mask, cfg.first_token_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += int(mask.sum())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}")
    model.eval()
    return {"steps": len(plan), "tokens": tokens, "final_loss": round(ema or 0.0, 4)}
