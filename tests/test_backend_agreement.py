"""Greedy outputs of the same model agree across the vLLM and transformers backends.

On the embedded organism (a real aligned model, so refusals and answers both occur), each backend at
its default settings — vLLM runs the float32 checkpoint in bfloat16 on CPU, transformers in float32 —
labels ≥ 95 % of the prompts the same under the refusal judge.
"""

from __future__ import annotations

import pytest

from harness.backends import BackendSpec, load_backend
from harness.data import load_suite
from harness.judging import JudgeInput
from harness.models import resolve_model
from harness.types import GenerationRequest, SamplingParams
from judges.refusal import RefusalJudge

pytestmark = pytest.mark.slow


def test_vllm_and_hf_agree_on_refusal_verdicts():
    pytest.importorskip("vllm")
    model = resolve_model("organism")
    samples = [s for name in ("catqa-en", "beavertails", "benign-heldout") for s in load_suite(name, limit=150)]
    requests = [GenerationRequest(s.messages(), SamplingParams(max_tokens=128)) for s in samples]
    labels = {}
    for kind in ("hf", "vllm"):
        backend = load_backend(model, BackendSpec(kind))
        try:
            outs = backend.generate(requests)
        finally:
            backend.close()
        labels[kind] = [v.label for v in RefusalJudge()([JudgeInput(s.prompt, o.text) for s, o in zip(samples, outs)])]
    agree = sum(a == b for a, b in zip(labels["hf"], labels["vllm"])) / len(samples)
    print(f"\nvllm/hf refusal-verdict agreement on {len(samples)} prompts: {agree:.1%}")
    assert len(set(labels["hf"])) == 2  # both refusals and answers occur, so agreement is not trivial
    assert agree >= 0.95
