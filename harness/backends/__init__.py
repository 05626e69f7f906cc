"""Backends: one small interface over vLLM, transformers and OpenAI-compatible servers.

Performance contract (as vLLM's `LLM` states it): pass *all* requests of a phase in one call to
`generate`; a backend batches internally and returns completions in request order. Caching,
templates of judges and scheduling live above this layer (`harness.runner`), so backends stay small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from ..errors import HarnessError
from ..types import Generation, GenerationRequest

KINDS = ("vllm", "hf", "openai")


@runtime_checkable
class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Complete every chat, in order. Greedy when temperature is 0."""
        ...

    def close(self) -> None:
        """Release the engine (GPU/CPU memory, worker processes)."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """How to run a model. `engine_args` pass straight to the engine (vllm.LLM, from_pretrained)."""

    kind: str = "vllm"
    engine_args: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, stored or hashed

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HarnessError(f"--backend {self.kind!r} is not one of {list(KINDS)}")


def load_backend(model: "ModelRef", spec: BackendSpec) -> Backend:
    """Construct the engine for `model`. Imports lazily so a missing vllm only matters if used."""
    if spec.kind == "vllm":
        from .vllm import VLLMBackend
        return VLLMBackend(model, spec)
    if spec.kind == "hf":
        from .hf import HFBackend
        return HFBackend(model, spec)
    from .openai import OpenAIBackend
    return OpenAIBackend(model, spec)


from ..models import ModelRef  # noqa: E402  (type only; models imports nothing from here)
