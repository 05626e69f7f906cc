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
