"""The organism's architecture: a few-million-parameter LlamaForCausalLM.

Llama because every engine the harness drives (transformers, vLLM) serves it without custom code;
head_dim >= 32 because vLLM's CPU attention kernels reject smaller heads; tied embeddings keep the
parameter count (and the build time) down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import OrganismConfig

if TYPE_CHECKING:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase


def llama_config(cfg: OrganismConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    from transformers import LlamaConfig

    # rope_theta and torch_dtype are accepted at runtime through **kwargs; transformers' stubs omit them
    return LlamaConfig(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )


def new_model(cfg: OrganismConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A freshly initialised model; the caller seeds torch first (initialisation draws from it)."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(llama_config(cfg, tokenizer))
    model.generation_config.do_sample = False
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def n_params(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
