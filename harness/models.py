"""A model reference: where the weights are, what they are (content fingerprint), how they may load.

`--model` is a local directory, a GGUF file (converted once, harness/gguf.py), a hub id, or a name a
provider registered (harness/providers.py). This module resolves paths and
hub ids only; it never builds a named model itself.

Safe loading policy: safetensors only unless the user passes --allow-pickle; `trust_remote_code` only
with --trust-remote-code. Each problem a user can hit is one line that says what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import cache_root, file_hash  # noqa: F401 (the cache location, re-exported: callers import it here)
from .errors import HarnessError

# Files that decide what a model says: weights, tokenizer, chat template, configs.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                    "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "vocab.txt",
                    "added_tokens.json", "config.json", "generation_config.json")
_SAFE_WEIGHTS = (".safetensors",)
_PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model. `source` is what the user passed; `path` the local directory (None if served)."""

    name: str
    source: str
    path: Path | None
    fingerprint: str
    trust_remote_code: bool = False
    allow_pickle: bool = False

    @property
    def location(self) -> str:
        """What an engine loads: the local directory, or the served model name."""
        return str(self.path) if self.path is not None else self.source

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint}


def resolve_model(spec: str, *, name: str | None = None, allow_pickle: bool = False,
                  trust_remote_code: bool = False, served: bool = False,
                  base_url: str | None = None, require_chat_template: bool = True) -> ModelRef:
    """Turn `--model` into a ModelRef, checking the loading policy before any engine starts.

    served: the model lives behind an OpenAI-compatible server; its weights cannot be hashed, so the
    fingerprint is the server URL and served name (the user owns keeping that name unique per model).
    require_chat_template: False for judge models, which receive their own byte-exact prompt text.
    """
    display = name or spec
    if served:
        from .cache import content_key
        return ModelRef(display, spec, None, "served:" + content_key({"base_url": base_url, "model": spec}),
                        trust_remote_code, allow_pickle)
    from .providers import resolve_name

    path = resolve_name(spec) or _local_or_hub(spec)
    check_model_dir(path, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code,
                    require_chat_template=require_chat_template)
    return ModelRef(display, spec, path, fingerprint(path, allow_pickle), trust_remote_code, allow_pickle)


def _local_or_hub(spec: str) -> Path:
    p = Path(spec).expanduser()
    if p.exists():
        if p.is_file() and p.suffix.lower() == ".gguf":
            from .gguf import convert
            return convert(p)
        if not p.is_dir():
            raise HarnessError(f"--model {spec}: is a file; pass the model directory (with config.json) or a .gguf file")
        return p.resolve()
    if p.suffix.lower() == ".gguf":
        raise HarnessError(f"--model {spec}: no such GGUF file")
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        from .providers import is_name, providers
        named = f", and not a named model ({', '.join(providers())})" if is_name(spec) else ""
        raise HarnessError(f"--model {spec}: no such directory (and not a hub id like 'org/name'{named})")
    try:
        from huggingface_hub import snapshot_download
        try:
            return Path(snapshot_download(spec, local_files_only=True))
        except Exception:
            return Path(snapshot_download(spec))
    except Exception as e:  # offline, gated, not found: all one message
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise HarnessError(f"--model {spec}: not a local directory and not downloadable from the hub "
                           f"({reason}); download it and pass its path") from None


def check_model_dir(path: Path, *, allow_pickle: bool, trust_remote_code: bool,
                    require_chat_template: bool = True) -> None:
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise HarnessError(f"--model {path}: no config.json; pass a Hugging Face model directory")
    files = [f.name for f in path.iterdir() if f.is_file()]
    if not any(f.endswith(_SAFE_WEIGHTS) for f in files):
        if any(f.endswith(_PICKLE_WEIGHTS) for f in files):
            if not allow_pickle:
                raise HarnessError(f"--model {path}: weights are pickle files, which can run code when loaded; "
                                   "convert them to safetensors or pass --allow-pickle if you trust the source")
        else:
            raise HarnessError(f"--model {path}: no weight files (*.safetensors) found")
    cfg = _read_json(cfg_file)
    if cfg.get("auto_map") and not trust_remote_code:
        raise HarnessError(f"--model {path}: the model ships its own code (auto_map in config.json); "
                           "pass --trust-remote-code if you trust it")
    archs = cfg.get("architectures") or []
    import transformers
    # Looked up in the lazy module's index (dir() where it has none) rather than with hasattr, which would
    # import the modeling code and torch (seconds) that a run served entirely from the cache never needs.
    index = getattr(transformers, "_class_to_module", None)
    known = index if isinstance(index, dict) else set(dir(transformers))
    unknown = [a for a in archs if a not in known]
    if (not archs or unknown) and not trust_remote_code:
        raise HarnessError(f"--model {path}: unsupported architecture {unknown or archs or 'unspecified'}; "
                           "use a transformers-supported model or pass --trust-remote-code")
    if require_chat_template and not _has_chat_template(path):
        raise HarnessError(f"--model {path}: no chat template (tokenizer_config.json 'chat_template' or "
                           "chat_template.jinja); add one — the harness sends chats, not raw text")


def _has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    tc = path / "tokenizer_config.json"
    return tc.is_file() and bool(_read_json(tc).get("chat_template"))


def _read_json(f: Path) -> dict[str, Any]:
    """A model directory's JSON file, or a one-line HarnessError naming the file."""
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise HarnessError(f"--model {f.parent}: cannot read {f.name} ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"--model {f.parent}: {f.name} is not a JSON object")
    return data


def fingerprint(path: Path, allow_pickle: bool = False) -> str:
    """SHA-256 over the names and contents of weights, tokenizer, chat template and configs.

    Hashes of large files are memoised (file_hash) so a 15 GB checkpoint is read in full once.
    """
    h = hashlib.sha256()
    weights = _SAFE_WEIGHTS + (_PICKLE_WEIGHTS if allow_pickle else ())
    for f in sorted(path.iterdir()):
        if f.is_file() and (f.name in _TOKENIZER_FILES or f.name.endswith(weights)):
            h.update(f.name.encode() + b"\0" + file_hash(f).encode() + b"\0")
    return h.hexdigest()[:32]
