"""Model references: one-line errors for each loading-policy problem, and content fingerprints.

Fast: no engine loads. Each test works on its own copy of the tiny model so edits stay local.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from pathlib import Path

import pytest

from harness import models
from harness.errors import HarnessError
from harness.models import fingerprint, resolve_model
from tests.tiny_model import build_tiny_model


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File-hash memos go to a per-test directory, so tests cannot see each other's."""
    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _error(spec: str, **kw) -> str:
    with pytest.raises(HarnessError) as e:
        resolve_model(spec, **kw)
    msg = str(e.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_resolves_a_good_model(model_dir: Path) -> None:
    ref = resolve_model(str(model_dir), name="tiny")
    assert ref.path == model_dir.resolve() and ref.name == "tiny" and ref.location == str(model_dir.resolve())
    assert len(ref.fingerprint) == 32 and not ref.allow_pickle and not ref.trust_remote_code


def test_missing_path(tmp_path: Path) -> None:
    msg = _error(str(tmp_path / "nope"))
    assert "no such directory" in msg


def test_file_instead_of_directory(model_dir: Path) -> None:
    msg = _error(str(model_dir / "config.json"))
    assert "is a file" in msg and "directory" in msg


def test_directory_without_config(model_dir: Path) -> None:
    (model_dir / "config.json").unlink()
    assert "no config.json" in _error(str(model_dir))


def test_malformed_config_is_a_harness_error(model_dir: Path) -> None:
    (model_dir / "config.json").write_text("{not json", encoding="utf-8")
    assert "config.json" in _error(str(model_dir))


def test_no_weights(model_dir: Path) -> None:
    (model_dir / "model.safetensors").unlink()
    assert "no weight files" in _error(str(model_dir))


def test_model_without_chat_template(tmp_path: Path) -> None:
    d = build_tiny_model(tmp_path / "plain", chat_template=None)
    assert not (d / "chat_template.jinja").exists()
    assert "no chat template" in _error(str(d))


def test_chat_template_in_tokenizer_config_counts(model_dir: Path) -> None:
    template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    (model_dir / "chat_template.jinja").unlink()
    assert "no chat template" in _error(str(model_dir))
    cfg_file = model_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8")) | {"chat_template": template}
    cfg_file.write_text(json.dumps(cfg), encoding="utf-8")
    assert resolve_model(str(model_dir)).path is not None


def test_pickle_weights_need_allow_pickle(tmp_path: Path) -> None:
    d = build_tiny_model(tmp_path / "pickled", pickle_weights=True)
    assert not list(d.glob("*.safetensors")) and (d / "pytorch_model.bin").is_file()
    msg = _error(str(d))
    assert "pickle" in msg and "--allow-pickle" in msg
    ref = resolve_model(str(d), allow_pickle=True)
    assert ref.allow_pickle
    # The pickle weights are part of what was hashed: changing them changes the fingerprint.
    before = ref.fingerprint
    with (d / "pytorch_model.bin").open("ab") as f:
        f.write(b"\0")
    assert resolve_model(str(d), allow_pickle=True).fingerprint != before


def test_auto_map_needs_trust_remote_code(model_dir: Path) -> None:
    cfg_file = model_dir / "config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    cfg_file.write_text(json.dumps(cfg), encoding="utf-8")
    msg = _error(str(model_dir))
    assert "auto_map" in msg and "--trust-remote-code" in msg
    assert resolve_model(str(model_dir), trust_remote_code=True).trust_remote_code


def test_unknown_architecture_needs_trust_remote_code(model_dir: Path) -> None:
    cfg_file = model_dir / "config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8")) | {"architectures": ["NoSuchModelForCausalLM"]}
    cfg_file.write_text(json.dumps(cfg), encoding="utf-8")
    msg = _error(str(model_dir))
    assert "NoSuchModelForCausalLM" in msg and "--trust-remote-code" in msg
    assert resolve_model(str(model_dir), trust_remote_code=True).path is not None


# --- fingerprints ---------------------------------------------------------------------------------

def test_fingerprint_is_stable_and_content_keyed(model_dir: Path, tmp_path: Path) -> None:
    fp = fingerprint(model_dir)
    assert fingerprint(model_dir) == fp
    (model_dir / "README.md").write_text("notes that do not change what the model says")
    assert fingerprint(model_dir) == fp, "files outside weights/tokenizer/template do not count"
    copy = shutil.copytree(model_dir, tmp_path / "elsewhere")
    assert fingerprint(Path(copy)) == fp, "the same content in another directory is the same model"


def test_weights_swapped_with_size_and_mtime_kept_are_a_new_fingerprint(tmp_path: Path) -> None:
    """The reliability probe: other weights of the same size copied in and the mtime set back, as
    `cp -p`, `rsync -t` or `tar x` leave it, must not be served the first weights' cached answers."""
    a, b = build_tiny_model(tmp_path / "a"), build_tiny_model(tmp_path / "b", seed=1)
    fa, fb = fingerprint(a), fingerprint(b)
    w = a / "model.safetensors"
    st = w.stat()
    assert w.stat().st_size == (b / "model.safetensors").stat().st_size
    shutil.copyfile(b / "model.safetensors", w)
    os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert w.stat().st_mtime_ns == st.st_mtime_ns
    assert fingerprint(a) == fb != fa


def test_a_memo_whose_content_sample_no_longer_matches_is_not_trusted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "w.bin"
    f.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: sampled, not read whole
    real = models.file_hash(f)
    [memo] = (tmp_path / "cache" / "file-hashes").iterdir()
    sample, _, _ = memo.read_text().partition(" ")
    memo.write_text(f"{sample} {'0' * 64}")  # a memo that lies, with the right sample: believed
    assert models.file_hash(f) == "0" * 64
    memo.write_text(f"{'1' * 64} {'0' * 64}")  # a sample that does not match: hashed again
    assert models.file_hash(f) == real


def test_tiny_model_builder_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a")
    b = build_tiny_model(tmp_path / "b")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(build_tiny_model(tmp_path / "c", seed=1)) != fingerprint(a)


def _rewrite_same_size(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF  # a last weight byte: same size, new content
    f.write_bytes(bytes(data))


@pytest.mark.parametrize("what", ["weights", "tokenizer", "chat_template", "config"])
def test_fingerprint_changes_with_content(model_dir: Path, what: str) -> None:
    fp = fingerprint(model_dir)
    if what == "weights":
        _rewrite_same_size(model_dir / "model.safetensors")
    elif what == "tokenizer":
        tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        tok["added_tokens"][0]["content"] = "<bos>"
        (model_dir / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    elif what == "chat_template":
        f = model_dir / "chat_template.jinja"
        f.write_text(f.read_text(encoding="utf-8").replace("<|end|>", "<|end|>\n"), encoding="utf-8")
    else:
        f = model_dir / "generation_config.json"
        f.write_text(json.dumps(json.loads(f.read_text()) | {"temperature": 0.7}), encoding="utf-8")
    assert fingerprint(model_dir) != fp


def test_fingerprint_memoises_file_hashes(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real_open = pathlib.Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        if "b" in mode and "r" in mode:
            reads.append(self.name)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", counting_open)
    fp = fingerprint(model_dir)
    assert reads.count("model.safetensors") == 2, "first call samples and hashes the weights"
    reads.clear()
    assert fingerprint(model_dir) == fp
    assert reads == sorted(set(reads)), "second call only samples each file (one open) and reuses the memo"
    _rewrite_same_size(model_dir / "model.safetensors")
    reads.clear()
    assert fingerprint(model_dir) != fp
    assert [n for n in set(reads) if reads.count(n) == 2] == ["model.safetensors"], "only the changed file is read again"


def test_memo_lives_under_cache_root(model_dir: Path, tmp_path: Path) -> None:
    fingerprint(model_dir)
    assert models.cache_root() == tmp_path / "cache"
    assert list((tmp_path / "cache" / "file-hashes").iterdir())
