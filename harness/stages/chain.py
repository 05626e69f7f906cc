"""Which checkpoint each stage is: the model under test (`original`), the `base` model, and the attack and
recovery stages, trained (or taken from the content-keyed cache) the first time a test asks for them.

Stage names: `attacked/<name>` after safety.yaml's `attacks`, `recovered/<name>` after `recoveries`.
A stage that failed, or cannot run here, fails every test that asks for it with the same message.
"""

from __future__ import annotations

from typing import Any, Callable

from harness.config import Config
from harness.errors import HarnessError
from harness.models import ModelRef
from harness.stage_ref import StageRef
from harness.timing import PhaseClock

from . import attacked_checkpoint, recovered_checkpoint, stage_record


class StageChain:
    def __init__(self, config: Config, resolve: Callable[[str], ModelRef], release: Callable[[ModelRef], None],
                 clock: PhaseClock):
        self.config = config
        self._resolve = resolve
        self._release = release  # frees a model's engine: training wants the memory an idle engine holds
        self.clock = clock
        self.models: dict[str, ModelRef] = {}          # stage → model
        self.sources: dict[str, str] = {"original": config.model or ""}  # stage → model spec, for original and base
        self.records: dict[str, dict[str, Any]] = {}  # stage → how it was made (results.json `stages`)
        self._errors: dict[str, HarnessError] = {}

    def model(self, stage: str) -> ModelRef:
        """The checkpoint of `stage`; an attack or recovery stage is made (or taken from its cache) on first use."""
        if stage in self._errors:  # a stage that failed or cannot run here fails each test the same way
            raise self._errors[stage]
        if stage not in self.models:
            ref = StageRef.of(stage)
            if ref is not None and ref.kind == "attacked":
                with self.clock.phase("stages"):
                    self.models[stage] = self._attacked(ref)
            elif ref is not None and ref.kind == "recovered":
                with self.clock.phase("stages"):
                    self.models[stage] = self._recovered(ref)
            elif stage in self.sources:
                with self.clock.phase("load"):  # an embedded model is built here on first use
                    self.models[stage] = self._resolve(self.sources[stage])
            else:
                raise KeyError(f"stage {stage!r} has no checkpoint")
        return self.models[stage]

    def _attacked(self, ref: StageRef) -> ModelRef:
        stage, name = str(ref), ref.name
        base = self.model("original")
        self._release(base)  # training wants the memory an idle engine holds
        try:
            path = attacked_checkpoint(name, self.config.attacks[name], base)
        except HarnessError as e:
            self._errors[stage] = e
            raise
        self.records[stage] = stage_record(path)
        return self._resolve(str(path))

    def _recovered(self, ref: StageRef) -> ModelRef:
        stage, name = str(ref), ref.name
        spec = self.config.recoveries[name]
        try:
            source = self.model(spec.source)
            if spec.source == "original":  # recovering the model under test: its aligned original is --base-model
                if not self.config.base_model:
                    raise HarnessError(f"recoveries: {name}: source `original` needs --base-model (the aligned "
                                       "model the checkpoint under test was fine-tuned from)")
                aligned = self._resolve(self.config.base_model)
            else:
                aligned = self.model("original")
            unaligned = None if not spec.unaligned else (  # RESTA's: an attack stage or a model path
                self.model(spec.unaligned) if StageRef.of(spec.unaligned) else self._resolve(spec.unaligned))
            for model in (source, aligned):
                self._release(model)
            path = recovered_checkpoint(name, spec, aligned, source, unaligned)
        except HarnessError as e:
            self._errors[stage] = e
            raise
        self.records[stage] = stage_record(path)
        return self._resolve(str(path))
