"""The attack and recovery stages' settings (`attacks:` and `recoveries:` in safety.yaml)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

AttackMethod = Literal["lora", "qlora", "adalora", "ia3", "full", "dpo", "orpo"]

# each method's learning rate where `lr` is not given, from the paper it follows (docs/stages.md):
# LLMAlignment's unaligned-model LoRA/QLoRA recipe; The Art of (Mis)alignment's SFT.py (AdaLoRA, IA3) and
# PFT.py (DPO, ORPO; also its realignment); Qi et al.'s full fine-tuning
DEFAULT_LR = {"lora": 1e-3, "qlora": 1e-3, "adalora": 2e-4, "ia3": 2e-4, "full": 5e-5, "dpo": 3e-5, "orpo": 3e-5}


@dataclass(frozen=True)
class AttackSpec:
    """An attack stage `attacked/<name>`: fine-tune the model under test (harness/stages/attack.py).

    `data`: `advbench-attack`, `injection:<task>` (nl2bash, gsm8k, piqa) or a JSONL path.
    `moderation`: a judge flag; training rows it labels unsafe (or cannot read) are dropped first.
    `r`/`alpha`: None takes the method's default (docs/stages.md). `ches_filter` (dpo, orpo): the share
    of preference pairs with the highest length-normalised CHES dropped before training
    (harness/stages/ches.py). `responses`: a model (name, path, hub id) whose own greedy answers, up to
    `response_tokens`, replace the attack set's targets; pairs it refuses are dropped.
    """

    method: AttackMethod
    data: str = "advbench-attack"
    n_harmful: int = 100
    n_benign: int = 0
    epochs: int = 10
    lr: float | None = None  # None: DEFAULT_LR[method]
    batch_size: int = 8
    r: int | None = None
    alpha: int | None = None
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()
    beta: float = 0.1
    max_length: int = 256
    seed: int = 0
    moderation: str | None = None
    ches_filter: float = 0.0
    responses: str | None = None
    response_tokens: int = 128

    def __post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.method])
        if not 0 <= self.ches_filter < 1:
            raise ValueError(f"`ches_filter` must be in [0, 1), got {self.ches_filter}")
        if self.ches_filter and self.method not in ("dpo", "orpo"):
            raise ValueError(f"`ches_filter` screens preference pairs; method {self.method!r} trains on none")
        for name in ("n_harmful", "epochs", "batch_size", "max_length", "response_tokens"):
            if getattr(self, name) < (0 if name == "n_harmful" else 1):
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"`lr` must be positive, got {self.lr}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RecoveryMethod = Literal["direction-restore", "resta", "antidote", "steering", "dpo-realign"]


@dataclass(frozen=True)
class RecoverySpec:
    """A recovery stage `recovered/<name>`: realign the checkpoint of stage `source` (harness/stages/recover.py).

    `source`: an attack stage (`attacked/<name>`), or `original` when `--model` is a fine-tuned model
    and `--base-model` its aligned original. Each method reads the keys that concern it (docs/stages.md).
    """

    method: RecoveryMethod
    source: str = "original"
    # direction-restore (Yang et al.'s (S&P'25) defaults)
    rate: float = 0.002
    rollback_rate: float = 0.2
    rounds: int = 20
    warmup: int = 5
    drop: float = 0.05
    layer: int | None = None
    n_recovery: int = 256
    refused_only: bool = True  # direction-restore, steering: only recovery prompts the aligned model refuses (the paper)
    task: str = "benign-train"
    n_task: int = 256  # task rows for the benign direction and rollback
    utility: Literal["task", "token-accuracy"] = "task"  # the warm-up/fuse check: the task's metric (paper) or a proxy
    n_utility: int = 64  # held-out task rows of that check (after the n_task rows)
    batch_size: int = 8
    check_every: int = 1  # utility check after every k-th round (the paper: 1; fewer checks on a CPU)
    accumulate_grads: bool = True  # upstream: the no-rollback run sums gradients over rounds (never zeroed)
    rollback_of: Literal["candidates", "restored"] = "candidates"  # ρ of the benign-descent candidates (upstream) or of all restored
    # resta: the unaligned model is required and is not the source (else θ_ft + γ(θ_a − θ_ft) is a plain
    # interpolation, not a safety vector); γ 1 as LLMAlignment's RESTA call (add_safety.py --weight3 -1)
    unaligned: str | None = None
    gamma: float = 1.0
    dare: float = 0.0
    # antidote (Huang et al. 2025): dense_ratio 0.1 and 2,000 calibration pairs upstream
    dense_ratio: float = 0.1
    prune: Literal["auto", "adapter", "delta"] = "auto"  # auto: the LoRA adapter's A and B if the attack kept one
    calibration: str = "responses"  # responses | prompts | a JSONL of prompt/response rows (harness/stages/recover.py)
    n_calibration: int = 256  # the reserved recovery set holds 256; a JSONL can hold upstream's 2,000
    # steering
    coef: float = 1.0
    orthogonal: bool = False
    # dpo-realign
    epochs: int = 5
    lr: float = 3e-5  # dpo-realign: The Art of (Mis)alignment realigns at its PFT.py rate
    beta: float = 0.1
    n_pairs: int = 100
    ches_filter: float = 0.0  # dpo-realign: share of highest-LN-CHES pairs dropped (harness/stages/ches.py)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rate", "rollback_rate", "drop", "dense_ratio", "dare", "ches_filter"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}")
        if self.check_every < 1:
            raise ValueError(f"`check_every` must be a positive integer, got {self.check_every}")
        if self.n_utility < 1:
            raise ValueError(f"`n_utility` must be a positive integer, got {self.n_utility}")
        if self.n_calibration < 1:
            raise ValueError(f"`n_calibration` must be a positive integer, got {self.n_calibration}")
        if self.calibration not in ("responses", "prompts") and not self.calibration.endswith(".jsonl"):
            raise ValueError(f"`calibration` must be `responses`, `prompts` or a .jsonl file, got {self.calibration!r}")
        if self.source != "original" and not self.source.startswith("attacked/"):
            raise ValueError(f"`source` must be `original` or `attacked/<name>`, got {self.source!r}")
        if self.method == "resta" and not self.unaligned:
            raise ValueError("resta needs `unaligned`: a model fine-tuned on harmful data apart from the source "
                             "(an attack stage `attacked/<name>` or a model path); θ_aligned − θ_unaligned is the "
                             "safety vector")
        if self.method == "resta" and self.unaligned == self.source:
            raise ValueError(f"resta: `unaligned` is the source ({self.source}): θ_ft + γ(θ_aligned − θ_ft) is a "
                             "weight interpolation, not a safety vector; train a separate unaligned model "
                             "(another attack stage) and name it")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


