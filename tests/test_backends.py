"""Backends on a tiny random model: the contracts in `harness/backends/*` hold for real engines.

Engines are expensive (a vLLM engine ~5-20 s, a `vllm serve` ~35 s on CPU), so one in-process vLLM
engine and one server are shared per module; the server starts in the background as soon as the
module runs, while the in-process tests use the CPU.

Why agreement between backends is asserted on a majority, not on every prompt: a random model's
next-token distributions can have near-ties, and two engines with different kernels may break a tie
differently; after that token the texts diverge. Both run float32 here, so disagreements are rare.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from harness.backends import PROMPT_TOO_LONG, BackendSpec, load_backend, request_seed
from harness.backends.vllm import cpu_engine_defaults
from harness.errors import HarnessError
from harness.models import ModelRef
from harness.types import Generation, GenerationRequest, SamplingParams
from tests.serving import Served, serve, wait_healthy

# Under `pytest -n N --dist loadgroup` this module stays on one worker: one engine, one server.
pytestmark = pytest.mark.xdist_group("backends")

PROMPTS = [
    "Hello there",
    "How do I bake a loaf of bread at home?",
    "Tell me a story about a dragon.",
    "What is the capital of France?",
    "Write a Python function that returns the sum of a list.",
    "Explain photosynthesis to a child.",
    "Sorry, can you help me with something dangerous?",
    "Write a short poem about the sea.",
]
# The same engine settings in-process and served, so their outputs can be compared. dtype: vLLM's
# "auto" downcasts a float32 model to bfloat16 (the hf backend keeps float32 on CPU); an explicit KV
# size lets vLLM's CPU worker skip its warm-up pass and reserve 256 MiB instead of 30 % of RAM.
MAX_MODEL_LEN = 256
KV_BYTES = 256 << 20
VLLM_ARGS = {"max_model_len": MAX_MODEL_LEN, "dtype": "float32", "kv_cache_memory_bytes": KV_BYTES}
_MP_ENV_BEFORE = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")


def greedy(prompts: list[str], max_tokens: int = 24, **kw: Any) -> list[GenerationRequest]:
    return [GenerationRequest.user(p, SamplingParams(max_tokens=max_tokens, **kw)) for p in prompts]


def sampled(prompt: str, repeat: int, seed: int = 0, max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest.user(prompt, SamplingParams(max_tokens=max_tokens, temperature=1.0, seed=seed),
                                  repeat=repeat)


def shuffled_run(backend: Any, reqs: list[GenerationRequest], seed: int = 1) -> list[Generation]:
    """Generate for a shuffled copy of `reqs`, answers put back in the original order."""
    idx = list(range(len(reqs)))
    random.Random(seed).shuffle(idx)
    got = backend.generate([reqs[i] for i in idx])
    back: list[Generation | None] = [None] * len(reqs)
    for k, i in enumerate(idx):
        back[i] = got[k]
    return back  # type: ignore[return-value]


def long_prompt(n_words: int) -> str:
    return " ".join(["the"] * n_words)  # one token per word with the tiny tokenizer


@pytest.fixture(scope="module")
def tiny_ref(tiny_model_dir: Path) -> ModelRef:
    return ModelRef("tiny", str(tiny_model_dir), tiny_model_dir, "tiny-fingerprint")


# --- in-process vLLM ------------------------------------------------------------------------------

class _Engine:
    """Owns the module's vLLM engine; `close` then `get` loads a fresh one (tests close/reload)."""

    def __init__(self, ref: ModelRef) -> None:
        self.ref, self.backend = ref, None
        self.load_seconds: list[float] = []

    def get(self) -> Any:
        if self.backend is None:
            t = time.perf_counter()
            self.backend = load_backend(self.ref, BackendSpec("vllm", VLLM_ARGS))
            self.load_seconds.append(time.perf_counter() - t)
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


@pytest.fixture(scope="module")
def vllm_engine(tiny_ref: ModelRef) -> Iterator[_Engine]:
    pytest.importorskip("vllm")
    engine = _Engine(tiny_ref)
    yield engine
    engine.close()
    print(f"\nvLLM engine load seconds: {[round(s, 1) for s in engine.load_seconds]}")


@pytest.fixture
def vllm(vllm_engine: _Engine) -> Any:
    return vllm_engine.get()


def test_cpu_defaults_never_override_user_settings() -> None:
    assert cpu_engine_defaults({}) == {"enforce_eager": True, "gpu_memory_utilization": 0.3,
                                       "enable_chunked_prefill": False, "distributed_executor_backend": "uni"}
    user = {"enforce_eager": False, "gpu_memory_utilization": 0.5, "distributed_executor_backend": "mp",
            "enable_chunked_prefill": True}
    assert cpu_engine_defaults(user) == {}
    assert "gpu_memory_utilization" not in cpu_engine_defaults({"kv_cache_memory_bytes": 1 << 30})
    assert "distributed_executor_backend" not in cpu_engine_defaults({"tensor_parallel_size": 2})


def test_request_seed_separates_repeats_and_seeds() -> None:
    p = SamplingParams(temperature=1.0, seed=3)
    seeds = {request_seed(p, r) for r in range(100)}
    assert len(seeds) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert request_seed(p, 0) == request_seed(SamplingParams(temperature=0.5, seed=3), 0)
    assert request_seed(p, 0) != request_seed(SamplingParams(temperature=1.0, seed=4), 0)


@pytest.mark.slow
def test_vllm_engine_args_pass_through(vllm: Any) -> None:
    import torch

    cfg = vllm.llm.llm_engine.vllm_config
    assert cfg.model_config.max_model_len == MAX_MODEL_LEN != 512  # the model's own limit is 512
    assert cfg.model_config.dtype == torch.float32
    assert cfg.cache_config.kv_cache_memory_bytes == KV_BYTES
    assert cfg.load_config.load_format == "safetensors", "no pickle fallback without allow_pickle"
    if not torch.cuda.is_available():  # the in-process CPU defaults were filled in
        assert cfg.model_config.enforce_eager
        assert cfg.parallel_config.distributed_executor_backend == "uni"
    assert os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == _MP_ENV_BEFORE, "the engine's setting is not left behind"


@pytest.mark.slow
def test_vllm_bad_engine_args_are_a_harness_error(tiny_ref: ModelRef, vllm_engine: _Engine) -> None:
    import torch

    threads = torch.get_num_threads()
    with pytest.raises(HarnessError, match="max_model_len"):
        load_backend(tiny_ref, BackendSpec("vllm", {"max_model_len": 4096}))  # the model allows 512
    assert torch.get_num_threads() == threads


@pytest.mark.slow
def test_vllm_close_releases_the_engine_for_another(vllm_engine: _Engine) -> None:
    import torch

    threads = torch.get_num_threads()
    backend = vllm_engine.get()
    before = backend.generate(greedy(PROMPTS[:3]))
    vllm_engine.close()
    assert not hasattr(backend, "llm")
    backend.close()  # twice is harmless
    assert torch.get_num_threads() == threads, "vLLM's in-process thread setting is undone"
    torch.set_num_threads(threads)  # and the real function is back (vLLM replaces it with a no-op)
    reloaded = vllm_engine.get()
    assert reloaded is not backend and reloaded.generate(greedy(PROMPTS[:3])) == before


# --- transformers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf(tiny_ref: ModelRef) -> Iterator[Any]:
    backend = load_backend(tiny_ref, BackendSpec("hf", {"batch_size": 3}))  # several padded batches
    yield backend
    backend.close()


def test_hf_loads_pickle_weights_only_when_allowed(tmp_path: Path, hf: Any) -> None:
    from tests.tiny_model import build_tiny_model

    d = build_tiny_model(tmp_path / "pickled", pickle_weights=True)  # same seed: same weights
    with pytest.raises(OSError, match="safetensors"):
        load_backend(ModelRef("p", str(d), d, "fp"), BackendSpec("hf"))
    backend = load_backend(ModelRef("p", str(d), d, "fp", allow_pickle=True), BackendSpec("hf"))
    try:
        assert backend.generate(greedy(PROMPTS[:2])) == hf.generate(greedy(PROMPTS[:2]))
    finally:
        backend.close()


@pytest.mark.slow
def test_hf_agrees_with_vllm(hf: Any, vllm: Any) -> None:
    reqs = greedy(PROMPTS, max_tokens=32)
    a, b = hf.generate(reqs), vllm.generate(reqs)
    same = sum(x.text == y.text for x, y in zip(a, b))
    assert same >= 0.75 * len(reqs), [(x.text, y.text) for x, y in zip(a, b) if x.text != y.text]
    # Same stop rule, same logprob convention (raw logits, top-k plus the chosen token).
    [x], [y] = hf.generate(greedy(PROMPTS[:1], max_tokens=8, logprobs=3)), vllm.generate(
        greedy(PROMPTS[:1], max_tokens=8, logprobs=3))
    for sx, sy in zip(x.logprobs, y.logprobs):  # steps with the same context, so the same distribution
        assert sorted(sx.values()) == pytest.approx(sorted(sy.values()), abs=1e-3)
        if max(sx, key=sx.get) != max(sy, key=sy.get):
            break  # the texts part here; later steps see different contexts


# --- OpenAI-compatible: a real `vllm serve` ---------------------------------------------------------

SERVE_FLAGS = ["--enforce-eager", "--distributed-executor-backend", "uni", "--max-model-len", str(MAX_MODEL_LEN),
               "--dtype", "float32", "--kv-cache-memory-bytes", str(KV_BYTES)]


@pytest.fixture(scope="module")
def _server_process(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tiny_model_dir, SERVE_FLAGS, tmp_path_factory.mktemp("serve") / "server.log")


@pytest.fixture(scope="module", autouse=True)
def _start_server_early(request: pytest.FixtureRequest) -> None:
    """Start `vllm serve` when the module begins, if any selected test needs it, to overlap its start."""
    here = request.module.__name__
    if any(item.module.__name__ == here and "vllm_server" in getattr(item, "fixturenames", ())
           for item in request.session.items):
        request.getfixturevalue("_server_process")


@pytest.fixture(scope="module")
def vllm_server(_server_process: Served) -> Served:
    return wait_healthy(_server_process)


def served_backend(server: Served, key: str | None = None, **engine_args: Any) -> Any:
    ref = ModelRef("served", server.model, None, "served-fp")
    return load_backend(ref, BackendSpec("openai", engine_args, base_url=server.url + "/v1",
                                         api_key=server.key if key is None else key))


# --- the contract every backend keeps (harness/backends/__init__.py), one test per clause -------------

@dataclass
class Contract:
    kind: str
    backend: Any
    max_len: int  # prompt + answer tokens the engine takes
    tokenizer: Any


@pytest.fixture(params=["vllm", "hf", "openai"])
def contract(request: pytest.FixtureRequest, tiny_model_dir: Path) -> Iterator[Contract]:
    if request.param == "vllm":
        b = request.getfixturevalue("vllm")
        yield Contract("vllm", b, MAX_MODEL_LEN, b.llm.get_tokenizer())
    elif request.param == "hf":
        b = request.getfixturevalue("hf")
        yield Contract("hf", b, b.max_len, b.tokenizer)
    else:  # a real `vllm serve` with the in-process engine's settings
        from transformers import AutoTokenizer
        b = served_backend(request.getfixturevalue("vllm_server"), max_concurrency=3)
        yield Contract("openai", b, MAX_MODEL_LEN, AutoTokenizer.from_pretrained(str(tiny_model_dir)))
        b.close()


@pytest.mark.slow
def test_greedy_is_deterministic_ordered_and_batch_independent(contract: Contract) -> None:
    b, reqs = contract.backend, greedy(PROMPTS)
    first = b.generate(reqs)
    assert len(first) == len(reqs) and len({g.text for g in first}) == len(PROMPTS), "distinct prompts, distinct texts"
    assert all(g.text and g.finish_reason in ("length", "stop") for g in first)
    assert b.generate(reqs) == first and shuffled_run(b, reqs) == first
    for i in (0, 5):  # a request alone (a batch of one, unpadded) gets what it got in the batch
        assert b.generate([reqs[i]]) == [first[i]]


@pytest.mark.slow
def test_max_tokens_and_stop(contract: Contract) -> None:
    b = contract.backend
    [full] = b.generate(greedy(PROMPTS[:1], max_tokens=24))
    [short] = b.generate(greedy(PROMPTS[:1], max_tokens=6))
    assert full.finish_reason == short.finish_reason == "length"
    assert full.text.startswith(short.text) and len(short.text) < len(full.text)
    stop = full.text[len(full.text) // 2:][:3]
    [cut] = b.generate(greedy(PROMPTS[:1], stop=(stop,)))
    assert cut.finish_reason == "stop" and cut.text == full.text[:full.text.index(stop)]


@pytest.mark.slow
def test_logprobs_only_when_asked_and_the_text_unchanged(contract: Contract) -> None:
    b = contract.backend
    with_lp, without = b.generate(greedy(PROMPTS[:1], max_tokens=12, logprobs=3) + greedy(PROMPTS[1:2]))
    assert without.logprobs is None
    assert with_lp.logprobs is not None and len(with_lp.logprobs) == 12
    # top-3 plus the chosen token; a server may name the pieces of a multi-byte character alike (fewer)
    assert all(1 <= len(step) <= 4 and max(step.values()) <= 0 for step in with_lp.logprobs)
    assert with_lp.text == b.generate(greedy(PROMPTS[:1], max_tokens=12))[0].text


@pytest.mark.slow
def test_sampled_repeats_are_reproducible_per_request(contract: Contract) -> None:
    b = contract.backend
    reqs = [sampled(PROMPTS[0], 0), sampled(PROMPTS[0], 1), sampled(PROMPTS[0], 0), sampled(PROMPTS[0], 0, seed=7)]
    r0, r1, r0_again, other_seed = b.generate(reqs)
    assert r0.text == r0_again.text and r0.text != r1.text and r0.text != other_seed.text
    assert b.generate([reqs[1]])[0].text == r1.text  # whatever else is in the batch
    assert b.generate(greedy(PROMPTS) + [reqs[0]])[-1].text == r0.text


@pytest.mark.slow
def test_a_too_long_prompt_does_not_sink_the_batch(contract: Contract) -> None:
    b, limit = contract.backend, contract.max_len
    border = long_prompt(limit * 2 // 3)
    n = len(contract.tokenizer.apply_chat_template([{"role": "user", "content": border}], add_generation_prompt=True,
                                                   tokenize=True, return_dict=False))
    assert n < limit
    reqs = (greedy([PROMPTS[0]]) + greedy([long_prompt(limit * 2)])
            + greedy([border], max_tokens=limit - n + 1)   # one token over
            + greedy([border], max_tokens=limit - n)       # exactly fits
            + greedy([PROMPTS[1]]))
    out = b.generate(reqs)
    assert out[1] == Generation("", PROMPT_TOO_LONG)
    if contract.kind == "openai":  # `vllm serve` cuts max_tokens to the room left rather than refusing
        assert out[2].text and out[2].finish_reason == "length"
    else:
        assert out[2] == Generation("", PROMPT_TOO_LONG)
    assert out[3].text and out[3].finish_reason in ("length", "stop")
    assert out[0] == b.generate(reqs[:1])[0] and out[4] == b.generate(reqs[4:])[0]


@pytest.mark.slow
def test_served_greedy_equals_in_process(vllm_server: Served, vllm: Any) -> None:
    backend = served_backend(vllm_server)
    reqs = greedy(PROMPTS) + [sampled(PROMPTS[0], 0), sampled(PROMPTS[0], 1)]
    try:
        got = backend.generate(reqs)
    finally:
        backend.close()
    want = vllm.generate(reqs)
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.finish_reason for g in got] == [w.finish_reason for w in want]
    assert got[-1].text != got[-2].text  # the seed travels: repeats differ, and match in-process draws


@pytest.mark.slow
def test_served_logprobs_and_too_long(vllm_server: Served, vllm: Any) -> None:
    backend = served_backend(vllm_server, max_concurrency=2)
    reqs = greedy(PROMPTS[:1], max_tokens=6, logprobs=2) + greedy([long_prompt(400)]) + greedy(PROMPTS[1:2])
    try:
        out = backend.generate(reqs)
    finally:
        backend.close()
    assert out[1] == Generation("", PROMPT_TOO_LONG)
    assert out[2].text and out[2].logprobs is None
    # The server names every piece of a multi-byte character '' (the local backends name them apart),
    # so a step may hold fewer entries; the best logprob of each step must match the in-process engine.
    [local] = vllm.generate(reqs[:1])
    assert out[0].logprobs is not None and len(out[0].logprobs) == len(local.logprobs) == 6
    assert all(1 <= len(step) <= 3 for step in out[0].logprobs)
    assert [max(s.values()) for s in out[0].logprobs] == pytest.approx([max(s.values()) for s in local.logprobs],
                                                                      abs=1e-4)


@pytest.mark.slow
def test_served_wrong_key_fails_without_showing_keys(vllm_server: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-" + secrets.token_hex(12)
    backend = served_backend(vllm_server, key=wrong)
    with pytest.raises(HarnessError) as e:
        backend.generate(greedy(PROMPTS[:3]))
    backend.close()
    shown = "".join(traceback.format_exception(e.value)) + caplog.text
    assert "401" in str(e.value) or "key" in str(e.value).lower()
    assert wrong not in shown and vllm_server.key not in shown


@pytest.mark.slow
def test_api_key_never_leaves_the_process(vllm_server: Served, pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A full `pytest suites/` run against the served model: the key given on the command line and the
    one in the environment appear nowhere — results, report, samples, cache, terminal output."""
    import shutil
    root = Path(__file__).resolve().parent.parent
    pytester.makeini("[pytest]\n")
    shutil.copytree(root / "suites", pytester.path / "suites")
    decoy = "sk-decoy-" + secrets.token_hex(12)
    pytester._monkeypatch.setenv("PYTHONPATH", str(root))
    pytester._monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path / "user-cache"))
    # run 1: the key from the environment; run 2: from the option, which wins over a wrong env key
    for env_key, option in ((vllm_server.key, []), (decoy, ["--openai-api-key", vllm_server.key])):
        pytester._monkeypatch.setenv("OPENAI_API_KEY", env_key)
        result = pytester.runpytest_subprocess(
            "suites/", "--backend", "openai", "--openai-base-url", vllm_server.url + "/v1", *option,
            "--model", vllm_server.model, "-k", "catqa-en", "--limit", "6", "--cache-dir", str(tmp_path / "cache"),
            "-p", "no:cacheprovider", timeout=600)
        assert result.ret in (0, 1), result.stdout.str() + result.stderr.str()
        results = pytester.path / "reports" / "results.json"
        assert results.is_file()
        written = [p.read_bytes() for p in (pytester.path / "reports").rglob("*") if p.is_file()]
        written += [p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        written.append((result.stdout.str() + result.stderr.str()).encode())
        for secret in (vllm_server.key, decoy):
            assert not any(secret.encode() in blob for blob in written), f"a key leaked (option: {bool(option)})"
        assert ("--openai-api-key" in results.read_text()) == bool(option)


# --- OpenAI-compatible: a scripted server, for the failure paths -------------------------------------

class FakeAPI:
    """A local HTTP server answering chat completions with `respond(n, body) -> (status, json)`."""

    def __init__(self, respond: Callable[[int, dict], tuple[int, dict]]) -> None:
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with api.lock:
                    api.bodies.append(body)
                    n = len(api.bodies)
                status, payload = respond(n, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def backend(self, key: str = "sk-fake-0123456789abcdef", **engine_args: Any) -> Any:
        ref = ModelRef("fake", "fake-model", None, "fp")
        return load_backend(ref, BackendSpec("openai", {"retry_backoff": 0.01} | engine_args,
                                             base_url=self.url, api_key=key))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def completion(text: str, finish: str = "stop") -> dict:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish, "logprobs": None}]}


@pytest.fixture
def fake_api() -> Iterator[Callable[..., FakeAPI]]:
    made: list[FakeAPI] = []

    def make(respond: Callable[[int, dict], tuple[int, dict]]) -> FakeAPI:
        made.append(FakeAPI(respond))
        return made[-1]

    yield make
    for api in made:
        api.close()


def test_openai_maps_params_and_keeps_order(fake_api: Callable[..., FakeAPI]) -> None:
    def respond(n: int, body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        time.sleep(0.02 * (10 - int(prompt.split()[-1])))  # later prompts answer first
        return 200, completion("echo " + prompt)

    api = fake_api(respond)
    reqs = [GenerationRequest.user(f"prompt {i}") for i in range(10)]
    reqs[3] = GenerationRequest.user("prompt 3", SamplingParams(max_tokens=7, temperature=0.8, top_p=0.9, seed=5,
                                                                stop=("###",), logprobs=4), repeat=2)
    backend = api.backend(max_concurrency=10)
    out = backend.generate(reqs)
    backend.close()
    assert [g.text for g in out] == [f"echo prompt {i}" for i in range(10)]
    by_prompt = {b["messages"][-1]["content"]: b for b in api.bodies}
    assert by_prompt["prompt 0"]["model"] == "fake-model" and "seed" not in by_prompt["prompt 0"]
    assert by_prompt["prompt 0"]["temperature"] == 0 and by_prompt["prompt 0"]["max_tokens"] == 128
    b3 = by_prompt["prompt 3"]
    assert (b3["max_tokens"], b3["temperature"], b3["top_p"], b3["stop"]) == (7, 0.8, 0.9, ["###"])
    assert b3["seed"] == request_seed(reqs[3].params, 2) and b3["logprobs"] is True and b3["top_logprobs"] == 4


def test_openai_retries_transient_errors(fake_api: Callable[..., FakeAPI]) -> None:
    api = fake_api(lambda n, body: (503, {"error": "busy"}) if n <= 2 else (200, completion("ok")))
    assert api.backend(max_retries=3).generate(greedy(["hi"])) == [Generation("ok", "stop")]
    assert len(api.bodies) == 3


def test_openai_retries_are_bounded(fake_api: Callable[..., FakeAPI]) -> None:
    api = fake_api(lambda n, body: (503, {"error": "busy"}))
    with pytest.raises(HarnessError, match="after 3 attempts"):
        api.backend(max_retries=2).generate(greedy(["hi"]))
    assert len(api.bodies) == 3


def test_openai_context_length_error_is_prompt_too_long(fake_api: Callable[..., FakeAPI]) -> None:
    def respond(n: int, body: dict) -> tuple[int, dict]:
        if body["messages"][-1]["content"] == "long":
            return 400, {"error": {"message": "This model's maximum context length is 256 tokens.", "code": 400}}
        return 200, completion("fine", "length")

    out = fake_api(respond).backend().generate(greedy(["a", "long", "b"]))
    assert out == [Generation("fine", "length"), Generation("", PROMPT_TOO_LONG), Generation("fine", "length")]


def test_openai_errors_never_show_the_key(fake_api: Callable[..., FakeAPI], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = "sk-secret-" + secrets.token_hex(16)

    def respond(n: int, body: dict) -> tuple[int, dict]:
        if n == 1:  # a transient failure that echoes the key, to be logged on retry
            return 500, {"error": {"message": f"internal error for key {key}"}}
        # Hosted APIs echo the key, or a piece of it, in the 401 body.
        return 401, {"error": {"message": f"Incorrect API key provided: {key}. Also: {key[:14]}...{key[-6:]}"}}

    api = fake_api(respond)
    with pytest.raises(HarnessError) as e:
        api.backend(key=key).generate(greedy(["hi"]))
    assert "refused the API key" in str(e.value) and len(api.bodies) == 2
    shown = "".join(traceback.format_exception(e.value)) + caplog.text
    assert "retry 1/" in caplog.text, "the retry was logged"
    assert key not in shown and key[:14] not in shown and key[10:26] not in shown


def test_openai_needs_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(HarnessError, match="OPENAI_BASE_URL"):
        load_backend(ModelRef("m", "m", None, "fp"), BackendSpec("openai"))


def test_credentials_in_a_url_are_redacted_wherever_it_is_written(fake_api: Callable[..., FakeAPI],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The reliability probe: `--openai-base-url http://user:PW@host/v1` was written in clear into
    results.json and the report (the command line) and into error messages."""
    from harness.secrets import redact_url, scrub_argv

    password = "URLPW-" + secrets.token_hex(8)
    assert redact_url(f"see https://alice:{password}@api.example/v1 now") == "see https://***@api.example/v1 now"
    argv = ["pytest", "--openai-base-url", f"http://u:{password}@h:1/v1", f"--openai-base-url=http://u:{password}@h/v1"]
    assert password not in " ".join(scrub_argv(argv)) and "http://***@h:1/v1" in scrub_argv(argv)
    api = fake_api(lambda n, body: (401, {"error": {"message": "no"}}))
    url = api.url.replace("http://", f"http://user:{password}@")
    backend = load_backend(ModelRef("fake", "fake-model", None, "fp"), BackendSpec("openai", base_url=url, api_key="k"))
    with pytest.raises(HarnessError) as e:
        backend.generate(greedy(["hi"]))
    assert "***@" in str(e.value) and password not in str(e.value) + caplog.text
    assert password not in str(BackendSpec("openai", base_url=url).identity())


def test_engine_args_are_keyed_by_backend_and_a_flat_mapping_is_vllms() -> None:
    from harness.backends import engine_args_for

    nested = {"vllm": {"kv_cache_memory_bytes": 1 << 30}, "hf": {"batch_size": 4}}
    assert engine_args_for("hf", nested, "engine_args") == ({"batch_size": 4}, None)
    assert engine_args_for("openai", nested, "engine_args") == ({}, None)
    flat = {"kv_cache_memory_bytes": 1 << 30}
    args, note = engine_args_for("hf", flat, "engine_args")
    assert args == {} and "flat mapping is read as vllm's" in note and "hf backend gets none" in note
    assert engine_args_for("vllm", flat, "engine_args")[0] == flat
    with pytest.raises(HarnessError, match="engine_args.hf: expected a mapping"):
        engine_args_for("hf", {"hf": 4}, "engine_args")


def test_a_setting_a_backend_does_not_take_is_one_line_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.backends.hf as hf_mod
    from harness.backends import check_engine_args, load_backend
    from harness.models import ModelRef

    check_engine_args("hf", {"batch_size": 4, "attn_implementation": "eager", "device_map": "auto"})
    with pytest.raises(HarnessError) as e:
        check_engine_args("hf", {"kv_cache_memory_bytes": 1})
    msg = str(e.value)
    assert "\n" not in msg and "'kv_cache_memory_bytes' is not one the hf backend takes" in msg
    assert "batch_size" in msg and "attn_implementation" in msg
    with pytest.raises(HarnessError, match="did you mean 'batch_size'"):
        check_engine_args("hf", {"batch_sise": 4})
    check_engine_args("openai", {"max_concurrency": 2, "default_headers": {"x": "y"}})
    with pytest.raises(HarnessError, match="'bogus' is not one the openai backend takes"):
        check_engine_args("openai", {"bogus": 1})
    monkeypatch.setattr(hf_mod.HFBackend, "__init__", lambda *a: (_ for _ in ()).throw(AssertionError("loaded")))
    with pytest.raises(HarnessError, match="'bogus'"):
        load_backend(ModelRef("m", "m", None, "fp"), BackendSpec("hf", {"bogus": 1}))


@pytest.mark.slow
def test_vllm_settings_are_checked_against_its_engine_args() -> None:
    pytest.importorskip("vllm")
    from harness.backends import check_engine_args

    check_engine_args("vllm", {"max_model_len": 512, "enforce_eager": True, "kv_cache_memory_bytes": 1 << 30})
    with pytest.raises(HarnessError, match="'max_modle_len' is not one the vllm backend takes \\(did you mean 'max_model_len'"):
        check_engine_args("vllm", {"max_modle_len": 512})
