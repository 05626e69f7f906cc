"""What every stage does with checkpoints: read weights and tokenizer, count changes, record the cost."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

STAGE_FILE = "stage.json"


def load_weights(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint's safetensors files, by name."""
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for f in sorted(Path(directory).glob("*.safetensors")):
        out |= load_file(str(f))
    return out


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer, with EOS as padding where it has no pad token (batched passes need one)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def changed_params(a: Path, b: Path) -> int:
    """Weight entries that differ between two checkpoints (what the stage actually moved)."""
    wa, wb = load_weights(a), load_weights(b)
    return int(sum((wa[k] != wb[k]).sum().item() for k in wa.keys() & wb.keys() if wa[k].shape == wb[k].shape))


def cost_since(started: float) -> dict[str, Any]:
    """Seconds since `started`, the process's peak RSS, and peak GPU memory when on GPU."""
    import torch

    return {"seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None}


def write_stage_file(out: Path, record: dict[str, Any]) -> None:
    (out / STAGE_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))


def linear_names(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if ".layers." in k and k.endswith(".weight") and v.dim() == 2]


def save_state(state: dict[str, torch.Tensor], like: Path, out: Path) -> None:
    """`state` as a checkpoint with `like`'s config and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(like), dtype=torch.float32)
    missing = model.load_state_dict(state, strict=False)
    if missing.missing_keys and not all("lm_head" in k for k in missing.missing_keys):  # tied head is fine
        from harness.errors import HarnessError
        raise HarnessError(f"recovery produced no weights for {missing.missing_keys[:3]}")
    model.save_pretrained(str(out), safe_serialization=True)
    load_tokenizer(like).save_pretrained(str(out))
