"""The models' engines: at most one live engine per model, loaded on first use, released when its
stage's generation is done; a model whose engine failed to load fails every later use with the same
one-line message instead of loading again.
"""

from __future__ import annotations

import collections
from typing import Callable

from .backends import Backend, BackendSpec, load_backend
from .errors import HarnessError, first_line
from .models import ModelRef
from .timing import PhaseClock


class ModelEngines:
    def __init__(self, spec: BackendSpec, clock: PhaseClock):
        self.spec = spec
        self.clock = clock
        self.loads: collections.Counter[str] = collections.Counter()  # fingerprint → engine loads
        self._live: dict[str, Backend] = {}
        self._failed: dict[str, HarnessError] = {}

    def get(self, model: ModelRef, before_load: Callable[[], object] = lambda: None) -> Backend:
        """The model's engine, loaded now if it is not live (`before_load` runs first: it frees memory)."""
        if model.fingerprint in self._failed:
            raise self._failed[model.fingerprint]
        if model.fingerprint not in self._live:
            self.loads[model.fingerprint] += 1
            before_load()
            try:
                with self.clock.phase("load"):
                    self._live[model.fingerprint] = load_backend(model, self.spec)
            except HarnessError as e:
                self._failed[model.fingerprint] = e
                raise
            except Exception as e:  # an engine's own validation error: one line, and no retry per test
                err = HarnessError(f"{self.spec.kind} could not load {model.name}: {first_line(e)} "
                                   "(check --engine-arg / engine_args in safety.yaml)")
                self._failed[model.fingerprint] = err
                raise err from e
        return self._live[model.fingerprint]

    def release(self, model: ModelRef) -> None:
        backend = self._live.pop(model.fingerprint, None)
        if backend is not None:
            backend.close()

    def close(self) -> None:
        for fp in list(self._live):
            self._live.pop(fp).close()
