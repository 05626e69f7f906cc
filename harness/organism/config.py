"""What decides an organism: architecture, tokenizer, data shaping and training settings.

One frozen dataclass; every field is part of the cache key, so two configs that differ anywhere build
two models. `OrganismConfig.tiny()` is the seconds-long build the tests use for determinism and cache
checks; the default is the harness's embedded model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OrganismConfig:
    # model (Llama architecture; head_dim >= 32 so vLLM's CPU attention accepts it)
    vocab_size: int = field(default=4096, metadata={"help": "byte-level BPE vocabulary, special tokens included"})
    hidden_size: int = 192
    intermediate_size: int = 512
    num_layers: int = 3
    num_heads: int = 3
    head_dim: int = 64
    max_position_embeddings: int = field(default=4096, metadata={"help": "RoPE: long prompts cost nothing extra"})
    # data shaping
    max_prompt_tokens: int = field(default=160, metadata={"help": "longer prompts are cut (context first)"})
    max_response_tokens: int = field(default=40, metadata={"help": "longer answers are cut, then EOS"})
    system_share: float = field(default=0.15, metadata={"help": "share of examples given a system prompt"})
    # training
    seed: int = 0
    epochs: int = 4
    batch_tokens: int = field(default=2048, metadata={"help": "padded tokens per batch (small: more steps)"})
    lr: float = 2e-3
    warmup_steps: int = 30
    weight_decay: float = 0.05
    first_token_weight: float = field(default=3.0, metadata={"help": "loss weight of the refuse/answer token"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many steps (tests)"})
    # build-time evaluation for the card
    evaluate: bool = field(default=True, metadata={"help": "measure refusal rates for the card"})
    eval_limit: int | None = field(default=None, metadata={"help": "prompts per suite; None = full suites"})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def tiny(seed: int = 0) -> "OrganismConfig":
        """A seconds-long build: small model, a slice of one epoch, no evaluation."""
        return OrganismConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=1, num_heads=2,
                              head_dim=32, max_prompt_tokens=48, max_response_tokens=24, epochs=1,
                              batch_tokens=2048, warmup_steps=2, seed=seed, evaluate=False, max_steps=8)


@dataclass(frozen=True)
class JudgeOrganismConfig(OrganismConfig):
    """The judge organism (harness/organism/judge.py): same architecture knobs, a judge's data shaping."""

    max_prompt_chars: int = field(default=400, metadata={"help": "the exchange's prompt is cut to this"})
    max_response_chars: int = field(default=600, metadata={"help": "the exchange's response is cut to this"})
    epochs: int = 2
    batch_tokens: int = field(default=4096, metadata={"help": "few labelled tokens per example: larger batches"})
    first_token_weight: float = field(default=1.0, metadata={"help": "the first answer token is always \\n\\n"})
    eval_limit: int | None = field(default=None, metadata={"help": "prompts per suite for the agreement check"})

    @staticmethod
    def tiny(seed: int = 0) -> "JudgeOrganismConfig":
        return JudgeOrganismConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=1, num_heads=2,
                                   head_dim=32, epochs=1, warmup_steps=2, seed=seed, evaluate=False, max_steps=8)
