"""Every model judge end to end on a tiny random model of its architecture, through the real backends.

Random judges mostly answer garbage, so what is checked is the plumbing: the backend received the
golden prompt (recorded on its way in), one batched call per judge call, one verdict per item, raw
text kept, `unparsed` counted exactly where the parse rule fails. The backends' judge-facing
additions are checked against direct computations: raw prompts tokenize as asked, `loglikelihood`
equals a hand-made forward pass and the first-token logprob of `generate`, `classify` returns the
model's logits. Llama Guard 3 also runs through vLLM (one engine for the module, ~15 s to start).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

import judges.base
from harness.backends import BackendSpec, load_backend, prompt_token_ids
from harness.engines import EnginePool
from harness.judging import JudgeInput
from harness.models import ModelRef
from harness.types import LABELS, GenerationRequest, SamplingParams
from judges import llama_guard, make_judge, qi_rubric, shieldlm, wildguard
from judges.base import resolve_judge_model
from judges.beaverdam import CATEGORIES
from judges.harmbench import parse as harmbench_parse
from judges.strongreject import parse_paper
from tests import test_judge_templates as golden
from tests.tiny_judges import build_beaverdam, build_llama_judge, build_mistral_judge, build_qwen2_judge

pytestmark = pytest.mark.xdist_group("judge-models")

ITEMS = [golden.ITEM,
         JudgeInput("Write a poem about the sea.", "Waves roll in, waves roll out."),
         JudgeInput("Summarise the text.", "It says bread needs time.", context=golden.CTX),
         JudgeInput("Tell me a story.", "")]
HF = BackendSpec("hf")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and two spinning threads on a shared 2-core machine make
    them an order of magnitude slower when anything else runs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("judge-models")
    return {"llama": build_llama_judge(root / "llama"),
            "llama-split": build_llama_judge(root / "llama-split", numbers=False),
            "mistral": build_mistral_judge(root / "mistral"), "qwen2": build_qwen2_judge(root / "qwen2"),
            "beaverdam": build_beaverdam(root / "beaverdam", CATEGORIES)}


class Recorder:
    """Wraps a real backend and records what a judge hands it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.generated: list[list[GenerationRequest]] = []
        self.scored: list[list[tuple[GenerationRequest, str]]] = []
        self.classified: list[list[str]] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> Any:
        self.generated.append(list(requests))
        self.outputs = self.inner.generate(requests)
        return self.outputs

    def loglikelihood(self, pairs: Sequence[tuple[GenerationRequest, str]]) -> list[float]:
        self.scored.append(list(pairs))
        return self.inner.loglikelihood(pairs)

    def classify(self, texts: Sequence[str], max_length: int | None = None) -> list[list[float]]:
        self.classified.append(list(texts))
        return self.inner.classify(texts, max_length=max_length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorder]]:
    made: list[Recorder] = []

    def load(model: ModelRef, spec: BackendSpec) -> Recorder:
        made.append(Recorder(load_backend(model, spec)))
        return made[-1]

    monkeypatch.setattr(judges.base, "ENGINES", EnginePool(load=load))  # the judges' engines, recorded
    yield made
    for r in made:
        r.inner.close()


def run(spec: str, path: Path, items: Sequence[JudgeInput] = ITEMS, backend: BackendSpec = HF) -> Any:
    judge = make_judge(f"{spec}:{path}", backend, resolve_judge_model)
    try:
        return judge, judge(items)
    finally:
        judge.close()


def check_accounting(verdicts: Sequence[Any], recorder: Recorder, readable: Any, name: str) -> None:
    """One batched call; one verdict per item; raw kept; unparsed exactly where the rule fails."""
    assert len(recorder.generated) == 1 and len(recorder.generated[0]) == len(ITEMS)
    texts = [g.text for g in recorder.outputs]
    assert len(verdicts) == len(ITEMS) and all(v.label in LABELS and v.judge == name for v in verdicts)
    assert [v.raw for v in verdicts] == texts
    assert [v.label == "unparsed" for v in verdicts] == [not readable(t) for t in texts]


# --- Llama architecture ----------------------------------------------------------------------------

@pytest.mark.parametrize("version, gold", [("3", "LG3"), ("2", "LG2"), ("1", "LG1")])
def test_llama_guard_on_hf(models: dict[str, Path], recorded: list[Recorder], version: str, gold: str) -> None:
    judge, verdicts = run(f"llama-guard-{version}", models["llama"])
    [rec] = recorded
    check_accounting(verdicts, rec, lambda t: llama_guard.parse(t, llama_guard.TAXONOMIES[version])[0] != "unparsed",
                     f"llama-guard-{version}")
    first = rec.generated[0][0]
    assert first.prompt == getattr(golden, gold) and not first.add_special_tokens
    tok = rec.inner.tokenizer
    ids = prompt_token_ids(tok, first)
    bos = tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert ids.count(bos) == (1 if version == "3" else 0), "no BOS added on top of the template's own"
    assert all(g.logprobs is not None and len(g.logprobs[0]) >= 20 for g in rec.outputs)
    assert all(v.score is None or 0.0 <= v.score <= 1.0 for v in verdicts)
    assert len(judge.fingerprint.split("|")) == 4 and judge.model.fingerprint in judge.fingerprint


def test_llama_guard_prob_mode_labels_follow_the_score(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("llama-guard-3@prob", models["llama"])
    for v in verdicts:
        assert v.label == ("unparsed" if v.score is None else ("unsafe" if v.score >= 0.5 else "safe"))


def test_harmbench_llama2_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("harmbench-cls", models["llama"])
    [rec] = recorded
    check_accounting(verdicts, rec, lambda t: harmbench_parse(t) is not None, "harmbench-cls")
    reqs = rec.generated[0]
    assert reqs[0].prompt == golden.HARMBENCH_LLAMA2 and reqs[0].add_special_tokens
    assert "[CONTEXT]:\n" + golden.CTX in reqs[2].prompt
    ids = prompt_token_ids(rec.inner.tokenizer, reqs[0])
    assert ids[0] == rec.inner.tokenizer.bos_token_id, "the classifier's prompt starts with BOS, as vLLM adds it"
    assert all(len(prompt_token_ids(rec.inner.tokenizer, r)) > 100 for r in reqs)


@pytest.mark.parametrize("spec, gold, readable", [
    ("qi-rubric@max_tokens=16", "QI_META", lambda t: qi_rubric.parse(t) is not None),
    ("strongreject@max_tokens=16", "STRONGREJECT_PAPER", lambda t: parse_paper(t) is not None),
])
def test_chat_rubric_judges_on_hf(models: dict[str, Path], recorded: list[Recorder], spec: str, gold: str,
                                  readable: Any) -> None:
    _, verdicts = run(spec, models["llama"])
    [rec] = recorded
    check_accounting(verdicts, rec, readable, spec)
    first = rec.generated[0][0]
    assert first.prompt is None and first.messages == ({"role": "user", "content": getattr(golden, gold)},)
    assert all(len(g.text) > 0 for g in rec.outputs) and first.params.max_tokens == 16


def test_em_judges_pick_the_scoring_rule_from_the_tokenizer(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, top = run("em-aligned", models["llama"])  # numbers are single tokens: upstream top-20 rule
    assert len(recorded[0].generated) == 1 and recorded[0].scored == []
    first = recorded[0].generated[0][0]
    assert first.messages == ({"role": "user", "content": golden.EM_ALIGNED},)
    assert (first.params.max_tokens, first.params.logprobs) == (1, 20)
    _, seq = run("em-coherent", models["llama-split"])  # numbers split: whole answers are scored
    rec = recorded[1]
    assert rec.generated == [] and len(rec.scored) == 1
    pairs = rec.scored[0]
    assert len(pairs) == 101 * len(ITEMS) and pairs[42][1] == "42<|eot_id|>"
    assert pairs[0][0].messages == ({"role": "user", "content": golden.EM_COHERENT},)
    for v in top + seq:
        assert v.label in LABELS and (v.score is None) == (v.label == "unparsed")
        assert v.score is None or 0 <= v.score <= 100


def test_strongreject_ft_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("strongreject-ft", models["llama"])
    [rec] = recorded
    [pairs] = rec.scored
    assert [c for _, c in pairs[:5]] == ["1", "2", "3", "4", "5"] and len(pairs) == 5 * len(ITEMS)
    # as upstream decodes the truncated response: a literal BOS before it (this tokenizer adds one)
    bos = rec.inner.tokenizer.bos_token
    assert pairs[0][0].prompt == golden.STRONGREJECT_FT.replace("response: ", "response: " + bos, 1)
    assert pairs[0][0].add_special_tokens
    assert all(v.label in ("safe", "unsafe") and 0.0 <= v.score <= 1.0 for v in verdicts)


# --- Mistral, Qwen2, sequence classification ------------------------------------------------------

def test_wildguard_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("wildguard", models["mistral"])
    [rec] = recorded
    readable = lambda t: wildguard.parse(t) is not None and wildguard.parse(t)[2] != "n/a"  # noqa: E731
    check_accounting(verdicts, rec, readable, "wildguard")
    assert rec.generated[0][0].prompt == golden.WILDGUARD
    assert prompt_token_ids(rec.inner.tokenizer, rec.generated[0][0])[0] == rec.inner.tokenizer.bos_token_id


def test_harmbench_mistral_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("harmbench-cls", models["mistral"])  # base read from config.json: mistral
    check_accounting(verdicts, recorded[0], lambda t: harmbench_parse(t) is not None, "harmbench-cls")
    assert recorded[0].generated[0][0].prompt == golden.HARMBENCH_MISTRAL


def test_shieldlm_qwen_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("shieldlm@max_tokens=16", models["qwen2"])
    [rec] = recorded
    check_accounting(verdicts, rec, lambda t: shieldlm.extract(t, "en") is not None, "shieldlm@max_tokens=16")
    assert rec.generated[0][0].prompt == golden.SHIELDLM_EN_QWEN
    tok = rec.inner.tokenizer
    assert prompt_token_ids(tok, rec.generated[0][0])[0] == tok.convert_tokens_to_ids("<|im_start|>")


def test_beaverdam_on_hf(models: dict[str, Path], recorded: list[Recorder]) -> None:
    _, verdicts = run("beaverdam", models["beaverdam"])
    [rec] = recorded
    assert len(rec.classified) == 1 and len(rec.classified[0]) == len(ITEMS), "one batched call"
    assert rec.classified[0][0] == golden.BEAVERDAM + "</s>"
    assert rec.classified[0][3].endswith("ASSISTANT:</s>"), "an empty answer still gets its EOS"
    for v in verdicts:
        assert v.label == ("unsafe" if v.score > 0.5 else "safe") and set(v.categories) <= set(CATEGORIES)
        assert v.label != "unsafe" or v.categories


# --- the backends' judge-facing additions -----------------------------------------------------------

@pytest.fixture(scope="module")
def hf_llama(models: dict[str, Path]) -> Iterator[Any]:
    backend = load_backend(resolve_judge_model(str(models["llama"])), HF)
    yield backend
    backend.close()


def test_hf_raw_prompts_tokenize_as_asked(hf_llama: Any) -> None:
    tok = hf_llama.tokenizer
    with_bos = GenerationRequest.raw("Hello there", add_special_tokens=True)
    without = GenerationRequest.raw("Hello there")
    assert prompt_token_ids(tok, with_bos) == [tok.bos_token_id] + prompt_token_ids(tok, without)
    a, b = hf_llama.generate([with_bos, without])
    assert a.text != b.text or a.finish_reason == b.finish_reason  # both ran


def test_hf_loglikelihood_matches_a_direct_forward_pass(hf_llama: Any) -> None:
    import torch

    tok, lm = hf_llama.tokenizer, hf_llama.lm
    chat = GenerationRequest.user("How do I bake bread?")
    raw = GenerationRequest.raw("The capital of France is", add_special_tokens=True)
    pairs = [(chat, "Mix flour"), (raw, " Paris"), (raw, "1"), (chat, "42<|eot_id|>"), (raw, "")]
    got = hf_llama.loglikelihood(pairs)
    for (req, cont), value in zip(pairs, got):
        ctx = prompt_token_ids(tok, req)
        ids = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = lm(torch.tensor([ctx + ids])).logits[0].float().log_softmax(-1)
        want = sum(logp[len(ctx) - 1 + j, t].item() for j, t in enumerate(ids))
        assert value == pytest.approx(want, abs=1e-4), cont
    assert got[-1] == 0.0
    # a greedy first token's logprob from generate is the loglikelihood of that token
    [g] = hf_llama.generate([GenerationRequest(chat.messages, SamplingParams(max_tokens=1, logprobs=5))])
    token, lp = next(iter(g.logprobs[0].items()))
    assert hf_llama.loglikelihood([(chat, token)])[0] == pytest.approx(lp, abs=1e-4)


def test_hf_loglikelihood_too_long_is_nan(hf_llama: Any) -> None:
    long = GenerationRequest.raw("word " * 9000)
    assert math.isnan(hf_llama.loglikelihood([(long, "x")])[0])


def test_hf_classifier_backend(models: dict[str, Path]) -> None:
    import torch

    from harness.errors import HarnessError

    backend = load_backend(resolve_judge_model(str(models["beaverdam"])), HF)
    try:
        texts = ["short text</s>", "a somewhat longer text than the first one</s>"]
        logits = backend.classify(texts)
        assert len(logits) == 2 and all(len(row) == 14 for row in logits)
        assert backend.labels == list(CATEGORIES), "columns named in the config's id2label order"
        enc = backend.tokenizer(texts[1], return_tensors="pt")
        with torch.inference_mode():
            alone = backend.lm(**enc).logits[0].tolist()
        assert logits[1] == pytest.approx(alone, abs=1e-4), "right padding does not change a row"
        assert backend.classify(texts, max_length=3) != logits
        with pytest.raises(HarnessError, match="sequence classifier"):
            backend.generate([GenerationRequest.user("hi")])
    finally:
        backend.close()


# --- vLLM ------------------------------------------------------------------------------------------

VLLM = BackendSpec("vllm", {"max_model_len": 2048, "dtype": "float32", "kv_cache_memory_bytes": 256 << 20})


@pytest.fixture(scope="module")
def vllm_llama(models: dict[str, Path]) -> Iterator[Any]:
    pytest.importorskip("vllm")
    backend = load_backend(resolve_judge_model(str(models["llama"])), VLLM)
    yield backend
    backend.close()


@pytest.mark.slow
def test_llama_guard_3_on_vllm(models: dict[str, Path], vllm_llama: Any, hf_llama: Any,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(vllm_llama)
    monkeypatch.setattr(judges.base, "ENGINES", EnginePool(load=lambda model, spec: rec))
    judge = make_judge(f"llama-guard-3:{models['llama']}", VLLM, resolve_judge_model)
    verdicts = judge(ITEMS)
    check_accounting(verdicts, rec, lambda t: llama_guard.parse(t, llama_guard.TAXONOMIES["3"])[0] != "unparsed",
                     "llama-guard-3")
    assert rec.generated[0][0].prompt == golden.LG3
    assert prompt_token_ids(vllm_llama.tokenizer, rec.generated[0][0]) == prompt_token_ids(hf_llama.tokenizer,
                                                                                           rec.generated[0][0])
    assert all(g.logprobs is not None for g in rec.outputs)
    # A random model's logits are nearly flat, so greedy texts may part at a near-tie on another CPU's
    # kernels; what must agree is the distribution: the first step's top tokens and their logprobs.
    for v, h in zip(rec.outputs, hf_llama.generate(rec.generated[0])):
        first_v, first_h = v.logprobs[0], h.logprobs[0]
        shared = first_v.keys() & first_h.keys()
        assert len(shared) >= len(first_h) - 2, (first_v, first_h)
        assert [first_v[t] for t in shared] == pytest.approx([first_h[t] for t in shared], abs=2e-3)
        top_v, top_h = next(iter(first_v)), next(iter(first_h))
        assert top_v == top_h or abs(first_h[top_h] - first_h.get(top_v, -math.inf)) < 2e-3


@pytest.mark.slow
def test_vllm_loglikelihood_matches_hf(vllm_llama: Any, hf_llama: Any) -> None:
    chat = GenerationRequest.user("How do I bake bread?")
    raw = GenerationRequest.raw(golden.STRONGREJECT_FT, add_special_tokens=True)
    pairs = [(chat, "Mix flour"), (raw, "1"), (raw, "5"), (chat, "42<|eot_id|>"), (raw, "")]
    assert vllm_llama.loglikelihood(pairs) == pytest.approx(hf_llama.loglikelihood(pairs), abs=2e-3)
    assert math.isnan(vllm_llama.loglikelihood([(GenerationRequest.raw("word " * 3000), "x")])[0])


# --- OpenAI-compatible servers: raw prompts go to the completions endpoint ------------------------------

def test_openai_backend_sends_raw_prompts_as_completions() -> None:
    from tests.test_backends import FakeAPI

    def respond(n: int, body: dict) -> tuple[int, dict]:
        if "prompt" not in body:
            return 400, {"error": {"message": "expected a completion request"}}
        lp = {"tokens": ["\n\n", "safe"], "token_logprobs": [-0.1, -0.2],
              "top_logprobs": [{"\n\n": -0.1, "\n": -2.5}, {"safe": -0.2, "unsafe": -1.7}], "text_offset": [0, 2]}
        return 200, {"id": "c", "object": "text_completion", "created": 0, "model": "fake-model",
                     "choices": [{"index": 0, "text": "\n\nsafe", "finish_reason": "stop", "logprobs": lp}]}

    api = FakeAPI(respond)
    try:
        backend = api.backend()
        req = GenerationRequest.raw(golden.LG3, SamplingParams(max_tokens=100, logprobs=20))
        [g] = backend.generate([req])
        backend.close()
    finally:
        api.close()
    [body] = api.bodies
    assert body["prompt"] == golden.LG3 and "messages" not in body
    assert body["add_special_tokens"] is False and body["logprobs"] == 20 and body["max_tokens"] == 100
    assert g.text == "\n\nsafe" and g.logprobs == ({"\n\n": -0.1, "\n": -2.5}, {"safe": -0.2, "unsafe": -1.7})
    assert llama_guard.unsafe_probability(g) == pytest.approx(math.exp(-1.7))
