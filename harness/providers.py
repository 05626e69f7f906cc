"""Named models (`--model organism`, `smollm2`, …): a registry that providers join through entry points.

The core resolves paths, hub ids and GGUF files (harness/models.py). A bare name is looked up here: a
provider is a package that registers a `Provider` object under the entry-point group
`safety_harness.models` in its pyproject, e.g.

    [project.entry-points."safety_harness.models"]
    organism = "harness.organism.providers:ORGANISM"

The embedded organisms and SmolLM2 register themselves this way (harness/organism/providers.py); a
user's own package can add models the same way. The core never imports a provider by module name, so
what a provider imports (training code, the organism's data split) stays out of the core.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from .errors import HarnessError

GROUP = "safety_harness.models"


@dataclass(frozen=True)
class Provider:
    """A named model: how to get its directory and what its card says.

    build(seed, progress) → the model directory, built (or converted) on first use, cached by content;
    card(seed) → the cached model's card, or None when it is not built; where(seed) → where it lives
    (built or not); format_card(card) → the card as terminal text.
    """

    name: str
    summary: str
    build: Callable[..., Path]
    card: Callable[..., dict[str, Any] | None]
    where: Callable[..., Path]
    format_card: Callable[[dict[str, Any]], str]
    seeded: bool = True  # whether `seed` changes the model (a converted checkpoint has none)
    default: bool = False  # the model a run measures when neither --model nor the config names one


@lru_cache(maxsize=1)
def providers() -> dict[str, Provider]:
    """Every registered provider by name (entry points are read once per process)."""
    out: dict[str, Provider] = {}
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as e:  # a broken third-party provider must not take the others down
            raise HarnessError(f"model provider {ep.name!r} ({ep.value}) failed to load: {e}") from None
        if not isinstance(obj, Provider) or obj.name != ep.name:
            raise HarnessError(f"model provider {ep.name!r} ({ep.value}) is not a harness.providers.Provider "
                               f"named {ep.name!r}")
        out[ep.name] = obj
    return out


def lookup(name: str) -> Provider | None:
    """The provider registered as `name`, or None."""
    return providers().get(name)


def get(name: str) -> Provider:
    """The provider registered as `name`; a one-line error listing the names there are otherwise."""
    found = lookup(name)
    if found is None:
        names = ", ".join(providers()) or "none (is the package installed? pip install -e .)"
        raise HarnessError(f"no model named {name!r}; named models: {names}")
    return found


def default_model() -> str:
    """The name of the provider that declares itself the default model; an error when none does."""
    found = sorted(name for name, p in providers().items() if p.default)
    if not found:
        raise HarnessError("no model to measure: pass --model PATH (or set `model:` in safety.yaml); no installed "
                           "model provider declares a default")
    return found[0]


def is_name(spec: str) -> bool:
    """Whether `spec` reads as a bare name rather than a path or a hub id ('org/name')."""
    return "/" not in spec and "\\" not in spec and not spec.startswith((".", "~")) and not spec.endswith(".gguf")


def resolve_name(name: str, progress: bool = True) -> Path | None:
    """The directory of the model registered as `name` (built on first use), or None if none is."""
    found = lookup(name) if is_name(name) else None
    return found.build(progress=progress) if found is not None else None


def package_dir(dist: str) -> Path | None:
    """Where an installed distribution's files are, without importing it (None if not installed)."""
    try:
        return Path(str(importlib.metadata.distribution(dist).locate_file("")))
    except importlib.metadata.PackageNotFoundError:
        return None
