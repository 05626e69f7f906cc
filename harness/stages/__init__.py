"""Stages: checkpoints made from checkpoints (attack → attacked/<name>), cached by content.

`attacked_checkpoint(name, spec, base)` returns a directory transformers and vLLM load. Its cache key
hashes the base model's fingerprint, the training rows, the spec, the library versions and this
package's code, so a second session (or a second xdist worker) reuses it without training; the
stage's cost record lives beside the weights in `stage.json`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from harness.artifacts import cache_root, ensure_built, sha256_file
from harness.config import AttackSpec, RecoverySpec
from harness.errors import HarnessError
from harness.models import ModelRef

from .attack import PREFERENCE, StageUnavailable
from .checkpoints import STAGE_FILE, write_stage_file

__all__ = ["STAGE_FILE", "StageUnavailable", "attacked_checkpoint", "recovered_checkpoint", "stage_record"]

REQUIRED = ("config.json", "model.safetensors", "tokenizer_config.json", STAGE_FILE)
_SRC = Path(__file__).parent
ATTACK_CODE = ("attack.py", "data.py", "checkpoints.py", "refusals.py")  # the code that decides an attacked checkpoint (its cache key)
RECOVER_CODE = ATTACK_CODE + ("recover.py", "restore.py", "directions.py", "ches.py", "utility.py", "generation.py", "antidote.py")


def _versions() -> dict[str, str]:
    """The training libraries' versions, read from their metadata: importing them to ask would cost a cached
    run ~7 s (the same strings as their `__version__`)."""
    import importlib.metadata as md

    return {name: md.version(name) for name in ("torch", "transformers", "peft", "trl")}


def stage_key(inputs: dict[str, Any], code: Sequence[str]) -> str:
    """Hash of what decides a stage's checkpoint: its inputs, the library versions, its code."""
    h = hashlib.sha256()
    h.update(json.dumps(inputs | {"versions": _versions()}, sort_keys=True).encode())
    for name in code:
        h.update(name.encode() + b"\0" + sha256_file(_SRC / name).encode())
    return h.hexdigest()[:24]


def attacked_checkpoint(name: str, spec: AttackSpec, base: ModelRef, progress: bool = True) -> Path:
    """The checkpoint of stage `attacked/<name>`: trained on first use, then reused."""
    from . import attack, data

    base_path = base.path
    if base_path is None:
        raise StageUnavailable(f"attacked/{name}: the base model is served over HTTP; an attack needs its weights")
    if spec.method == "qlora":
        attack._quantization()  # fail fast (a skip) before building data
    answer = data.compliant_answers(spec.responses, spec.response_tokens) if spec.responses else None
    rows = data.build_rows(spec.data, spec.n_harmful, spec.n_benign, spec.method in PREFERENCE, spec.seed, answer)
    dropped = 0
    if spec.moderation:
        rows, dropped = data.moderate(rows, spec.moderation)
    if not rows:
        raise HarnessError(f"attacks: {name}: no training rows left (moderation dropped {dropped})")
    screening = None
    if spec.ches_filter:
        from .ches import filter_rows
        rows, screening = filter_rows(base_path, rows, spec.ches_filter, progress=progress)

    def build(out: Path) -> None:
        cost = attack.train(base_path, spec, rows, out, progress)
        write_stage_file(out, {"stage": f"attacked/{name}", "from": base.name, "method": spec.method,
                               "spec": spec.as_dict(), "moderation_dropped": dropped, "ches": screening, **cost})

    key = stage_key({"base": base.fingerprint, "spec": spec.as_dict(), "rows": data.rows_digest(rows)}, ATTACK_CODE)
    return ensure_built(cache_root() / "stages", key, build, REQUIRED, f"attack stage attacked/{name}", progress)


def recovered_checkpoint(name: str, spec: RecoverySpec, aligned: ModelRef, source: ModelRef,
                         unaligned: ModelRef | None = None, progress: bool = True) -> Path:
    """The checkpoint of stage `recovered/<name>`: `source` realigned toward `aligned`, cached by content."""
    from . import recover

    for ref in (aligned, source, unaligned):
        if ref is not None and ref.path is None:
            raise StageUnavailable(f"recovered/{name}: {ref.name} is served over HTTP; recovery needs its weights")
    aligned_path, source_path = aligned.path, source.path
    assert aligned_path is not None and source_path is not None  # checked above

    def build(out: Path) -> None:
        cost = recover.recover(spec, aligned_path, source_path, unaligned.path if unaligned else None, out, progress)
        write_stage_file(out, {"stage": f"recovered/{name}", "from": spec.source, "aligned": aligned.name,
                                "method": spec.method, "spec": spec.as_dict(), **cost})

    key = stage_key({"aligned": aligned.fingerprint, "source": source.fingerprint,
                     "unaligned": unaligned.fingerprint if unaligned else None, "spec": spec.as_dict()}, RECOVER_CODE)
    return ensure_built(cache_root() / "stages", key, build, REQUIRED, f"recovery stage recovered/{name}", progress)


def stage_record(path: Path) -> dict[str, Any]:
    """The cost record written when the checkpoint was trained (results.json `stages`)."""
    record: dict[str, Any] = json.loads((path / STAGE_FILE).read_text())
    return record

