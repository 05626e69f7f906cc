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
from typing import Any

from harness.artifacts import ensure_built, sha256_file
from harness.config import AttackSpec
from harness.errors import HarnessError
from harness.models import ModelRef, cache_root

from .attack import PREFERENCE, STAGE_FILE, StageUnavailable

__all__ = ["STAGE_FILE", "StageUnavailable", "attacked_checkpoint", "stage_record"]

REQUIRED = ("config.json", "model.safetensors", "tokenizer_config.json", STAGE_FILE)
_SRC = Path(__file__).parent


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "trl": trl.__version__}


def stage_key(base: ModelRef, spec: AttackSpec, rows_digest: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"base": base.fingerprint, "spec": spec.as_dict(), "rows": rows_digest,
                         "versions": _versions()}, sort_keys=True).encode())
    for p in sorted(_SRC.glob("*.py")):
        h.update(p.name.encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()[:24]


def attacked_checkpoint(name: str, spec: AttackSpec, base: ModelRef, progress: bool = True) -> Path:
    """The checkpoint of stage `attacked/<name>`: trained on first use, then reused."""
    from . import attack, data

    if base.path is None:
        raise StageUnavailable(f"attacked/{name}: the base model is served over HTTP; an attack needs its weights")
    if spec.method == "qlora":
        attack._quantization()  # fail fast (a skip) before building data
    rows = data.build_rows(spec.data, spec.n_harmful, spec.n_benign, spec.method in PREFERENCE, spec.seed)
    dropped = 0
    if spec.moderation:
        rows, dropped = data.moderate(rows, spec.moderation)
    if not rows:
        raise HarnessError(f"attacks: {name}: no training rows left (moderation dropped {dropped})")

    def build(out: Path) -> None:
        cost = attack.train(base.path, spec, rows, out, progress)
        attack.write_stage_file(out, {"stage": f"attacked/{name}", "from": base.name, "method": spec.method,
                                      "spec": spec.as_dict(), "moderation_dropped": dropped, **cost})

    key = stage_key(base, spec, data.rows_digest(rows))
    return ensure_built(cache_root() / "stages", key, build, REQUIRED, f"attack stage attacked/{name}", progress)


def stage_record(path: Path) -> dict[str, Any]:
    """The cost record written when the checkpoint was trained (results.json `stages`)."""
    return json.loads((path / STAGE_FILE).read_text())

