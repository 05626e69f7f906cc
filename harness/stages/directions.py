"""Hidden-state directions: the mean last-token hidden state at a layer over a set of prompts.

Yang et al.'s (S&P'25) Definition 1. The model is run only up to the direction layer (the layers after it
are cut off for the pass, and the final norm is skipped: the direction is the residual stream after
`layer` decoder layers, `hidden_states[layer]`), prompts are left-padded so every row's last token is
at the same position, and each prompt is rendered with the model's own chat template and generation
prompt, as it is at evaluation.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence, cast

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from transformers import BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase


def direction_layer(num_layers: int) -> int:
    """The paper's default: two thirds of the depth (layer 21 of Llama-2-7B's 32)."""
    return max(1, (2 * num_layers) // 3)


@contextmanager
def truncated(model: PreTrainedModel, layer: int) -> Iterator[None]:
    """Run `model.model` through its first `layer` decoder layers only, without the final norm."""
    import torch

    inner = model.model
    layers, norm = inner.layers, inner.norm
    inner.layers = torch.nn.ModuleList(list(layers)[:layer])
    inner.norm = torch.nn.Identity()
    try:
        yield
    finally:
        inner.layers, inner.norm = layers, norm


def batches(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], batch_size: int,
            max_length: int = 256) -> Iterator[BatchEncoding]:
    """Left-padded token batches (the last token of every row sits at position -1), a row longer than
    `max_length` cut on the left, so its last token is still the generation prompt's (upstream does not
    truncate; a cut on the right would measure the state in the middle of the prompt)."""
    sides = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    try:
        for i in range(0, len(texts), batch_size):
            yield tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding=True, truncation=True,
                            max_length=max_length, add_special_tokens=False)
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = sides


def last_token_states(model: PreTrainedModel, enc: BatchEncoding, layer: int) -> torch.Tensor:
    """[batch, hidden] states after `layer` decoder layers at each row's last token (keeps the graph)."""
    with truncated(model, layer):
        out = model.model(input_ids=enc["input_ids"].to(model.device),
                          attention_mask=enc["attention_mask"].to(model.device))
    states: torch.Tensor = out.last_hidden_state[:, -1, :]
    return states


def direction(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], layer: int,
              batch_size: int = 8) -> torch.Tensor:
    """The mean last-token state at `layer` over `prompts` (no gradients), on the CPU in float32."""
    import torch

    from .generation import rendered

    total, n = None, 0
    with torch.no_grad():
        for enc in batches(tokenizer, rendered(tokenizer, prompts), batch_size):
            h = last_token_states(model, enc, layer).float()
            total = h.sum(0) if total is None else total + h.sum(0)
            n += h.shape[0]
    assert total is not None, "no prompts"
    return (total / n).cpu()


def cosines_to(reference: str | Path, others: Mapping[str, str | Path], tokenizer: PreTrainedTokenizerBase,
               prompts: Sequence[str], batch_size: int = 8) -> dict[str, Any]:
    """cos(d_model, d_reference) at the direction layer over `prompts` for each of `others` (name → model
    directory): how far a stage's harmful-prompt direction sits from the aligned model's. Each model is
    loaded, measured and freed in turn."""
    import torch
    from transformers import AutoModelForCausalLM

    def load(path: str | Path) -> PreTrainedModel:
        return cast("PreTrainedModel", AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval())

    model = load(reference)
    layer = direction_layer(model.config.num_hidden_layers)
    out: dict[str, Any] = {"layer": layer, "num_layers": model.config.num_hidden_layers, "prompts": len(prompts)}
    ref = direction(model, tokenizer, prompts, layer, batch_size)
    del model
    for name, path in others.items():
        model = load(path)
        out[name] = round(float(torch.nn.functional.cosine_similarity(
            direction(model, tokenizer, prompts, layer, batch_size), ref, dim=0)), 5)
        del model
    return out
