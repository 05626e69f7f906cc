"""GGUF files as model directories: `--model path/to/file.gguf`, converted once and cached by content.

transformers reads a GGUF file (`from_pretrained(dir, gguf_file=name)`, with the `gguf` package) and
dequantizes its tensors, but a model loaded that way refuses `save_pretrained`, and vLLM serves
directories. So the dequantized tensors are copied into a plain model of the same architecture and
saved as float32 safetensors with the tokenizer and chat template the file carries. The directory lives
in the harness cache under the sha256 of the GGUF file and this converter's version, with a manifest
like every built model (harness/artifacts.py): a second run loads it in milliseconds, a damaged copy is
rebuilt, a changed file gets a new entry.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .artifacts import cache_root, ensure_built, file_hash, verify
from .errors import HarnessError

CONVERTER_VERSION = "gguf-1"  # bump to convert every cached GGUF again
CARD = "gguf.json"
REQUIRED = ("config.json", "model.safetensors", "tokenizer_config.json", CARD)
EXTRA_INSTALL = "pip install gguf accelerate (or: pip install 'safety-harness[real]')"


def architecture(path: Path) -> str:
    """The file's `general.architecture` (read from its header; the tensors stay on disk)."""
    reader = _reader(path)
    field = reader.fields.get("general.architecture")
    if field is None:
        raise HarnessError(f"{path}: GGUF file without general.architecture; not a model file")
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def _reader(path: Path) -> Any:  # a gguf.GGUFReader (the gguf package is untyped)
    try:
        from gguf import GGUFReader
    except ImportError:
        raise HarnessError(f"{path}: reading GGUF files needs the gguf package: {EXTRA_INSTALL}") from None
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise HarnessError(f"{path}: cannot read ({e.strerror})") from None
    if magic != b"GGUF":
        raise HarnessError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")
    try:
        return GGUFReader(str(path))
    except Exception as e:  # truncated or corrupt header
        raise HarnessError(f"{path}: unreadable GGUF file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def key(path: Path) -> str:
    """The cache key of a GGUF file: its content hash and the converter's version."""
    return hashlib.sha256(f"{CONVERTER_VERSION}|{file_hash(path)}".encode()).hexdigest()[:24]


def converted_dir(path: Path) -> Path:
    """Where the conversion of `path` lives (whether or not it is done)."""
    return cache_root() / "gguf" / key(path)


def cached_card(path: Path) -> dict[str, Any] | None:
    """The card of the cached conversion of `path`, or None when there is none (or it is damaged)."""
    d = converted_dir(path)
    return json.loads((d / CARD).read_text()) if d.is_dir() and verify(d, d.name, REQUIRED) is None else None


def convert(path: Path, progress: bool = True, label: str | None = None) -> Path:
    """The model directory of the GGUF file `path`, converted on first use (seconds) and cached."""
    path = Path(path).expanduser().resolve()
    arch = architecture(path)  # checks the file and the gguf package before anything is hashed or loaded
    d = converted_dir(path)
    return ensure_built(d.parent, d.name, lambda out: _convert(path, arch, out), REQUIRED,
                        label or f"conversion of {path.name}", progress)


def _convert(path: Path, arch: str, out: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    try:
        import accelerate  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise HarnessError(f"{path}: converting GGUF needs accelerate: {EXTRA_INSTALL}") from None
    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    except ValueError as e:
        if "architecture" in str(e) or "not supported" in str(e):
            raise HarnessError(f"{path}: transformers {transformers.__version__} cannot read GGUF architecture "
                               f"{arch!r}; convert it with llama.cpp's tools or pass a model directory") from None
        raise HarnessError(f"{path}: transformers could not load it ({str(e).splitlines()[0]})") from None
    config = loaded.config
    for attr in ("quantization_config", "_name_or_path"):  # the plain copy is float32, not a GGUF view
        if hasattr(config, attr):
            delattr(config, attr)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in result.missing_keys if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or result.unexpected_keys:
        raise HarnessError(f"{path}: GGUF tensors do not fill a {type(plain).__name__} "
                           f"(missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})")
    plain.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    card = {"converter": CONVERTER_VERSION, "gguf_file": path.name, "gguf_sha256": file_hash(path),
            "architecture": arch, "class": type(plain).__name__,
            "params": sum(p.numel() for p in plain.parameters()), "dtype": "float32",
            "transformers": transformers.__version__, "seconds": round(time.perf_counter() - t0, 2)}
    (out / CARD).write_text(json.dumps(card, indent=1))
