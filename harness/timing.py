"""Where a run's time goes: exclusive seconds per phase (stages, load, generate, judge).

Phases nest — generating asks for the model, which may load an engine or build a stage — so a phase
entered inside another pauses it: each second is counted once, in the innermost phase.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, ContextManager, Iterator

PHASES = ("stages", "load", "generate", "judge")


class PhaseClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {p: 0.0 for p in PHASES}
        self._stack: list[tuple[str, float]] = []  # (phase, when it last resumed)
        # what makes a phase's progress visible (the pytest plugin lifts output capture); none by default
        self.visible: Callable[[], ContextManager[object]] = contextlib.nullcontext

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:  # pause the enclosing phase
            outer, since = self._stack[-1]
            self.seconds[outer] += now - since
        self._stack.append((name, now))
        try:
            with self.visible():
                yield
        finally:
            end = time.perf_counter()
            _, since = self._stack.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + end - since
            if self._stack:  # resume it
                self._stack[-1] = (self._stack[-1][0], end)

    def totals(self) -> dict[str, float]:
        return {p: round(s, 2) for p, s in self.seconds.items()}


def describe(seconds: dict[str, float]) -> str:
    """"stages 120.3 s, load 14.2 s, generate 80.1 s, judge 5.3 s" (phases that took no time left out)."""
    parts = [f"{p} {s:.1f} s" for p, s in seconds.items() if s >= 0.05]
    return ", ".join(parts) if parts else "nothing measured"
