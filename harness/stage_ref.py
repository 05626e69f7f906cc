"""Stage names, parsed once: `original` (the model under test), `base` (the aligned model it came from),
`attacked/<name>` (safety.yaml's `attacks`) and `recovered/<name>` (its `recoveries`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StageKind = Literal["original", "base", "attacked", "recovered"]
PIPELINE_ORDER: tuple[StageKind, ...] = ("original", "base", "attacked", "recovered")


@dataclass(frozen=True, order=True)
class StageRef:
    kind: StageKind
    name: str = ""  # the attack's or recovery's name; "" for original and base

    @staticmethod
    def of(text: str) -> StageRef | None:
        """The stage `text` names, or None when it names none (a model path, say)."""
        kind, sep, name = text.partition("/")
        if not sep:
            return StageRef("original") if kind == "original" else StageRef("base") if kind == "base" else None
        if not name:
            return None
        return StageRef("attacked", name) if kind == "attacked" else StageRef("recovered", name) if kind == "recovered" else None

    @staticmethod
    def parse(text: str) -> StageRef:
        ref = StageRef.of(text)
        if ref is None:
            raise KeyError(f"stage {text!r} is none of original, base, attacked/<name>, recovered/<name>")
        return ref

    @staticmethod
    def attacked(name: str) -> StageRef:
        return StageRef("attacked", name)

    @staticmethod
    def recovered(name: str) -> StageRef:
        return StageRef("recovered", name)

    @property
    def trained(self) -> bool:
        """Made by the harness (an attack or a recovery) rather than given."""
        return self.kind in ("attacked", "recovered")

    def rank(self) -> int:
        """Its place in the pipeline: original, base, attacks, recoveries."""
        return PIPELINE_ORDER.index(self.kind)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind
