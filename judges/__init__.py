"""Judges: one small module each, all behind `harness.judging.Judge`.

`--judge NAME[:ARG]` picks one; ARG is a variant (`refusal:xstest`) or, for model judges, a model
path, hub id or served name.
"""

from __future__ import annotations

from typing import Callable

from harness.errors import HarnessError
from harness.judging import Judge


def _refusal(arg: str | None) -> Judge:
    from .refusal import RefusalJudge
    try:
        return RefusalJudge(arg or "gcg")
    except ValueError as e:
        raise HarnessError(f"--judge refusal:{arg}: {e}") from None


FACTORIES: dict[str, Callable[[str | None], Judge]] = {"refusal": _refusal}


def make_judge(spec: str) -> Judge:
    name, _, arg = spec.partition(":")
    if name not in FACTORIES:
        raise HarnessError(f"--judge {spec}: unknown judge {name!r}; expected one of {sorted(FACTORIES)}")
    return FACTORIES[name](arg or None)


def validate(spec: str) -> str:
    """Parse-time check of a --judge value (cheap: constructs nothing heavy)."""
    name = spec.partition(":")[0]
    if name not in FACTORIES:
        raise HarnessError(f"--judge {spec}: unknown judge {name!r}; expected one of {sorted(FACTORIES)}")
    return spec
