"""One pool for every engine of a run, the models' and the judges'.

An engine is keyed by its model and backend settings and shared by its holders (em-aligned and
em-coherent on one rater model load it once); it closes when its last holder lets go. A model under test
loads alone (`exclusive`): the engines its holder does not hold close first and reload on their next
use, since the memory is the model's and in-process vLLM engines share process-wide parallel state that
closing one of them tears down. An engine that failed to load fails every later use with the same
one-line message instead of loading again.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from typing import Callable

from .backends import Backend, BackendSpec, load_backend
from .errors import HarnessError, first_line
from .models import ModelRef
from .timing import PhaseClock


@dataclass
class _Entry:
    engine: Backend
    holders: list[object] = field(default_factory=list)


class EnginePool:
    def __init__(self, clock: PhaseClock | None = None,
                 load: Callable[[ModelRef, BackendSpec], Backend] | None = None) -> None:
        self.clock = clock or PhaseClock()
        self.load = load or load_backend
        self.loads: collections.Counter[str] = collections.Counter()  # model fingerprint → engine loads
        self._live: dict[str, _Entry] = {}
        self._failed: dict[str, HarnessError] = {}

    @staticmethod
    def key(model: ModelRef, spec: BackendSpec) -> str:
        return json.dumps([model.fingerprint, spec.kind, spec.base_url, sorted(map(str, spec.engine_args.items()))])

    def get(self, model: ModelRef, spec: BackendSpec, holder: object, exclusive: bool = False) -> Backend:
        """`model`'s engine on `spec`, held by `holder` until it lets go (`release`); loaded now if it is not
        live, after closing the engines `holder` does not hold when `exclusive`."""
        key = self.key(model, spec)
        if key in self._failed:
            raise self._failed[key]
        if key not in self._live:
            if exclusive:
                for other in [k for k, e in self._live.items() if holder not in e.holders]:
                    self._live.pop(other).engine.close()
            self.loads[model.fingerprint] += 1
            try:
                with self.clock.phase("load"):
                    self._live[key] = _Entry(self.load(model, spec))
            except HarnessError as e:
                self._failed[key] = e
                raise
            except Exception as e:  # an engine's own validation error: one line, and no retry per use
                err = HarnessError(f"{spec.kind} could not load {model.name}: {first_line(e)} "
                                   "(check --engine-arg / engine_args in safety.yaml)")
                self._failed[key] = err
                raise err from e
        entry = self._live[key]
        if holder not in entry.holders:
            entry.holders.append(holder)
        return entry.engine

    def release(self, holder: object, model: ModelRef, spec: BackendSpec) -> None:
        """`holder` lets go of `model`'s engine on `spec`; an engine nobody holds closes."""
        self._let_go(holder, [self.key(model, spec)])

    def release_all(self, holder: object) -> None:
        """`holder` lets go of every engine it holds (a judge that closes)."""
        self._let_go(holder, list(self._live))

    def _let_go(self, holder: object, keys: list[str]) -> None:
        for key in keys:
            entry = self._live.get(key)
            if entry is None or holder not in entry.holders:
                continue
            entry.holders.remove(holder)
            if not entry.holders:
                del self._live[key]
                entry.engine.close()

    def close(self) -> None:
        for key in list(self._live):
            self._live.pop(key).engine.close()


ENGINES = EnginePool()  # the pool of judges made outside a run (a run passes its own)
