"""The attack and recovery stages' settings (`attacks:` and `recoveries:` in safety.yaml)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from ..errors import HarnessError
from ..stage_ref import StageRef

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
        if self.lr is None or self.lr <= 0:
            raise ValueError(f"`lr` must be positive, got {self.lr}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RecoveryMethod = Literal["direction-restore", "resta", "antidote", "steering", "dpo-realign"]


def _in_unit(settings: object, *names: str) -> None:
    for name in names:
        if not 0 <= getattr(settings, name) < 1:
            raise ValueError(f"`{name}` must be in [0, 1), got {getattr(settings, name)}")


def _positive(settings: object, *names: str) -> None:
    for name in names:
        if getattr(settings, name) < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {getattr(settings, name)}")


@dataclass(frozen=True)
class DirectionRestore:
    """Direction-guided weight restoration with rollback (Yang et al., S&P'25), at the paper's defaults."""

    rate: float = 0.002
    rollback_rate: float = 0.2
    rounds: int = 20
    warmup: int = 5
    drop: float = 0.05
    layer: int | None = None
    refused_only: bool = True  # only recovery prompts the aligned model refuses (the paper)
    task: str = "benign-train"
    n_task: int = 256  # task rows for the benign direction and rollback
    utility: Literal["task", "token-accuracy"] = "task"  # the warm-up/fuse check: the task's metric (paper) or a proxy
    n_utility: int = 64  # held-out task rows of that check (after the n_task rows)
    check_every: int = 1  # utility check after every k-th round (the paper: 1; fewer checks on a CPU)
    accumulate_grads: bool = True  # upstream: the no-rollback run sums gradients over rounds (never zeroed)
    rollback_of: Literal["candidates", "restored"] = "candidates"  # ρ of the benign-descent candidates (upstream) or all restored

    def __post_init__(self) -> None:
        _in_unit(self, "rate", "rollback_rate", "drop")
        _positive(self, "rounds", "n_task", "n_utility", "check_every")


@dataclass(frozen=True)
class Resta:
    """RESTA (Bhardwaj et al., https://github.com/declare-lab/resta): θ_ft + γ(θ_aligned − θ_unaligned).

    `unaligned` is required and is not the source (else θ_ft + γ(θ_a − θ_ft) is a plain interpolation, not a
    safety vector); γ 1 as LLMAlignment's RESTA call (add_safety.py --weight3 -1); `dare`: DARE's drop rate."""

    unaligned: str | None = None
    gamma: float = 1.0
    dare: float = 0.0

    def __post_init__(self) -> None:
        _in_unit(self, "dare")


@dataclass(frozen=True)
class Antidote:
    """Antidote (Huang et al. 2025): prune the weights most important to harmful answers; dense_ratio 0.1 and
    2,000 calibration pairs upstream."""

    dense_ratio: float = 0.1
    prune: Literal["auto", "adapter", "delta"] = "auto"  # auto: the LoRA adapter's A and B if the attack kept one
    calibration: str = "responses"  # responses | prompts | a JSONL of prompt/response rows (harness/stages/antidote.py)
    n_calibration: int = 256  # the reserved recovery set holds 256; a JSONL can hold upstream's 2,000

    def __post_init__(self) -> None:
        _in_unit(self, "dense_ratio")
        _positive(self, "n_calibration")
        if self.calibration not in ("responses", "prompts") and not self.calibration.endswith(".jsonl"):
            raise ValueError(f"`calibration` must be `responses`, `prompts` or a .jsonl file, got {self.calibration!r}")


@dataclass(frozen=True)
class Steering:
    """Activation steering along the aligned model's refusal direction at one layer."""

    layer: int | None = None
    coef: float = 1.0
    orthogonal: bool = False
    refused_only: bool = True


@dataclass(frozen=True)
class DpoRealign:
    """DPO toward refusals of the harmful prompts, at The Art of (Mis)alignment's PFT.py rate."""

    epochs: int = 5
    lr: float = 3e-5
    beta: float = 0.1
    n_pairs: int = 100
    ches_filter: float = 0.0  # share of highest-LN-CHES pairs dropped (harness/stages/ches.py)

    def __post_init__(self) -> None:
        _in_unit(self, "ches_filter")
        _positive(self, "epochs", "n_pairs")


MethodSettings = DirectionRestore | Resta | Antidote | Steering | DpoRealign
METHOD_SETTINGS: dict[str, type[MethodSettings]] = {
    "direction-restore": DirectionRestore, "resta": Resta, "antidote": Antidote, "steering": Steering,
    "dpo-realign": DpoRealign}
COMMON = ("method", "source", "n_recovery", "batch_size", "seed")  # keys every method takes


@dataclass(frozen=True)
class RecoverySpec:
    """A recovery stage `recovered/<name>`: realign the checkpoint of stage `source` (harness/stages/recover.py).

    `source`: an attack stage (`attacked/<name>`), or `original` when `--model` is a fine-tuned model
    and `--base-model` its aligned original. `n_recovery` recovery prompts give the direction (direction
    methods) and every method's direction cosine. `settings` holds the method's own keys; in safety.yaml
    they sit beside the common ones, and a key the method does not take is an error (docs/stages.md).
    """

    method: RecoveryMethod
    source: str = "original"
    n_recovery: int = 256
    batch_size: int = 8
    seed: int = 0
    settings: MethodSettings | None = None  # None: the method's defaults

    def __post_init__(self) -> None:
        if self.method not in METHOD_SETTINGS:
            raise ValueError(f"`method` must be one of {list(METHOD_SETTINGS)}, got {self.method!r}")
        if self.settings is None:
            object.__setattr__(self, "settings", METHOD_SETTINGS[self.method]())
        elif not isinstance(self.settings, METHOD_SETTINGS[self.method]):
            raise ValueError(f"{self.method} takes {METHOD_SETTINGS[self.method].__name__} settings, "
                             f"not {type(self.settings).__name__}")
        _positive(self, "n_recovery", "batch_size")
        source = StageRef.of(self.source)
        if source is None or source.kind not in ("original", "attacked"):
            raise ValueError(f"`source` must be `original` or `attacked/<name>`, got {self.source!r}")
        unaligned = self.unaligned
        if self.method == "resta" and not unaligned:
            raise ValueError("resta needs `unaligned`: a model fine-tuned on harmful data apart from the source "
                             "(an attack stage `attacked/<name>` or a model path); θ_aligned − θ_unaligned is the "
                             "safety vector")
        if self.method == "resta" and unaligned == self.source:
            raise ValueError(f"resta: `unaligned` is the source ({self.source}): θ_ft + γ(θ_aligned − θ_ft) is a "
                             "weight interpolation, not a safety vector; train a separate unaligned model "
                             "(another attack stage) and name it")

    @staticmethod
    def of(method: RecoveryMethod, **keys: Any) -> RecoverySpec:
        """A spec from safety.yaml's flat keys: the common ones and the method's own."""
        common = {k: keys.pop(k) for k in COMMON[1:] if k in keys}
        return RecoverySpec(method, **common, settings=METHOD_SETTINGS[method](**keys))

    @property
    def unaligned(self) -> str | None:
        """RESTA's unaligned model (an attack stage or a model path); None for the other methods."""
        return self.settings.unaligned if isinstance(self.settings, Resta) else None

    def as_dict(self) -> dict[str, Any]:
        """The flat keys, as safety.yaml writes them."""
        return {k: getattr(self, k) for k in COMMON} | (dataclasses.asdict(self.settings) if self.settings else {})

    @staticmethod
    def split_keys(data: Mapping[str, Any], where: str, parse: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """safety.yaml's flat keys → (the common keys, {"settings": the method's own, parsed}); a key the
        method does not take is an error naming the method and the keys it takes."""
        method = data.get("method")
        if method not in METHOD_SETTINGS:
            raise HarnessError(f"{where}: method: {method!r} is not one of {list(METHOD_SETTINGS)}")
        settings = METHOD_SETTINGS[method]
        own = {f.name for f in dataclasses.fields(settings)}
        for key in data:
            if key not in COMMON and key not in own:
                raise HarnessError(f"{where}: {method} does not take {key!r}; it takes {sorted(own)} "
                                   f"and {list(COMMON[1:])}")
        return ({k: v for k, v in data.items() if k in COMMON},
                {"settings": parse(settings, {k: v for k, v in data.items() if k in own}, f"{where} ({method})")})
