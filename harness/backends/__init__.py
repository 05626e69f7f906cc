"""Backends: one small interface over vLLM, transformers and OpenAI-compatible servers.

Performance contract (as vLLM's `LLM` states it): pass *all* requests of a phase in one call to
`generate`; a backend batches internally and returns completions in request order. Caching,
templates of judges and scheduling live above this layer (`harness.runner`), so backends stay small.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from ..errors import HarnessError
from ..types import ChoiceRequest, Generation, GenerationRequest, Request, SamplingParams

KINDS = ("vllm", "hf", "openai")

# A chat that does not fit the context window: returned as Generation("", PROMPT_TOO_LONG), judged unparsed.
PROMPT_TOO_LONG = "error:prompt_too_long"


def request_seed(params: SamplingParams, repeat: int) -> int:
    """The sampling seed of one request: a stable hash of (seed, repeat), in [0, 2**31).

    Shared by every backend so a sampled repeat means the same draw wherever it runs.
    """
    digest = hashlib.sha256(f"{params.seed}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def messages_of(request: GenerationRequest) -> list[dict[str, str]]:
    return [dict(m) for m in request.messages]


def prompt_token_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    """The tokens a request sends: its raw `prompt` tokenized as it is, or its chat rendered by the
    model's chat template with the generation prompt."""
    if request.prompt is not None:
        return list(tokenizer(request.prompt, add_special_tokens=request.add_special_tokens)["input_ids"])
    return list(tokenizer.apply_chat_template(messages_of(request), add_generation_prompt=True, tokenize=True,
                                              return_dict=False))


def pair_token_ids(tokenizer: Any, request: GenerationRequest, continuation: str) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens) of a log-likelihood request.

    A raw prompt is split the way lm-evaluation-harness's `_encode_pair` splits it (trailing spaces of
    the context move to the continuation, the whole text is encoded, and the continuation is what
    follows the context's own encoding), so a task asked by the lm-eval protocol scores the same tokens
    lm-eval scores. A chat is rendered by its template with the generation prompt, and the continuation
    (the assistant's answer) encoded on its own, without special tokens.
    """
    if request.prompt is not None and request.prompt:
        context = request.prompt
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation

        def encode(t: str) -> list[int]:
            return list(tokenizer(t, add_special_tokens=request.add_special_tokens)["input_ids"])

        ctx = encode(context)
        return ctx, encode(context + continuation)[len(ctx):]
    return prompt_token_ids(tokenizer, request), list(tokenizer(continuation, add_special_tokens=False)["input_ids"])


def token_key(tokenizer: Any, token_id: int, decoded: str | None) -> str:
    """How a token is named in `Generation.logprobs`: its text, or where that is not whole text (a
    piece of a multi-byte character decodes to '' or U+FFFD) the tokenizer's own name for it, so two
    such tokens do not collide."""
    if decoded and "\ufffd" not in decoded:
        return decoded
    try:
        return str(tokenizer.convert_ids_to_tokens(token_id))
    except Exception:
        return decoded or f"<id:{token_id}>"




@runtime_checkable
class Backend(Protocol):
    """What every backend does. Some also offer, for judges and scored tasks (check with `hasattr`):

    - `tokenizer`: the model's transformers tokenizer (local engines only);
    - `loglikelihood(pairs) -> list[float]`: log P(continuation | request's prompt) for each
      (GenerationRequest, continuation) pair, in one batched call (hf, vllm);
    - `classify(texts, max_length=None) -> list[list[float]]`: logits of a sequence-classification
      model, with `labels` naming the columns (hf).
    """

    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Complete every chat, in order. Greedy when temperature is 0."""
        ...

    def close(self) -> None:
        """Release the engine (GPU/CPU memory, worker processes)."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """How to run a model. `engine_args` pass straight to the engine (vllm.LLM, from_pretrained)."""

    kind: str = "vllm"
    engine_args: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, stored or hashed

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HarnessError(f"--backend {self.kind!r} is not one of {list(KINDS)}")

    def identity(self) -> dict[str, Any]:
        """What of this backend can change an answer: its kind, every engine setting except those that
        only change speed or memory (NEUTRAL_ENGINE_ARGS), and the server (as a hash: a URL can hold
        credentials). Part of every generation's cache key and of each record's `model`."""
        out: dict[str, Any] = {"backend": self.kind, "engine_args": {k: str(v) for k, v in sorted(self.engine_args.items())
                                                                     if k not in NEUTRAL_ENGINE_ARGS}}
        if self.kind == "openai":
            url = self.base_url or os.environ.get("OPENAI_BASE_URL") or ""
            out["server"] = hashlib.sha256(url.encode()).hexdigest()[:16]
        return out


# engine settings that change how fast or in how much memory answers come, never what they are
NEUTRAL_ENGINE_ARGS = frozenset({
    "batch_size", "kv_cache_memory_bytes", "gpu_memory_utilization", "swap_space", "cpu_offload_gb",
    "max_num_seqs", "max_num_batched_tokens", "enforce_eager", "enable_chunked_prefill", "enable_prefix_caching",
    "disable_log_stats", "max_concurrency", "max_retries", "retry_backoff", "timeout", "device_map"})

def respond(backend: Backend, requests: Sequence[Request]) -> list[Generation]:
    """Answer every request in order: chats by one `generate` call, multiple-choice requests by one
    `loglikelihood` call over all their (prompt, choice) pairs. A choice's answer is the most likely
    choice (the first on a tie), with {choice: log-likelihood} as its one logprobs step; a request
    whose choices could not be scored (too long: NaN) is `error:prompt_too_long`."""
    import math

    out: list[Generation | None] = [None] * len(requests)
    chats = [i for i, r in enumerate(requests) if not isinstance(r, ChoiceRequest)]
    picks = [i for i, r in enumerate(requests) if isinstance(r, ChoiceRequest)]
    if chats:
        for i, g in zip(chats, backend.generate([requests[i] for i in chats])):  # type: ignore[misc]
            out[i] = g
    if picks:
        loglikelihood = getattr(backend, "loglikelihood", None)
        if loglikelihood is None:
            raise HarnessError(f"multiple-choice suites are scored by log-likelihood, which the {backend.name} "
                               "backend cannot do; run them with --backend vllm or --backend hf")
        pairs = [(requests[i].context, requests[i].delimiter + c)  # type: ignore[union-attr]
                 for i in picks for c in requests[i].choices]  # type: ignore[union-attr]
        lls = iter(loglikelihood(pairs))
        for i in picks:
            choices = requests[i].choices  # type: ignore[union-attr]
            scores = [next(lls) for _ in choices]
            if any(math.isnan(x) for x in scores):
                out[i] = Generation("", PROMPT_TOO_LONG)
                continue
            best = max(range(len(choices)), key=lambda k: (scores[k], -k))
            out[i] = Generation(choices[best], "choice", ({c: x for c, x in zip(choices, scores)},))
    return out  # type: ignore[return-value]


class BackendClass(Protocol):
    """A backend kind's class: built on a model and a spec; names the engine settings it takes (None: any)."""

    def __call__(self, model: ModelRef, spec: BackendSpec) -> Backend: ...

    def accepted_engine_args(self) -> frozenset[str] | None: ...


def backend_class(kind: str) -> BackendClass:
    """The class of a backend kind. Its module imports its engine (vllm, torch) only when constructed."""
    if kind == "vllm":
        from .vllm import VLLMBackend
        return VLLMBackend
    if kind == "hf":
        from .hf import HFBackend
        return HFBackend
    from .openai import OpenAIBackend
    return OpenAIBackend


def scores_choices(kind: str) -> bool:
    """Whether backends of this kind give log-likelihoods, which multiple-choice suites are scored by."""
    return hasattr(backend_class(kind), "loglikelihood")


def load_backend(model: "ModelRef", spec: BackendSpec) -> Backend:
    """Construct the engine for `model`, its engine settings checked first. Imports lazily so a missing
    vllm only matters if used."""
    check_engine_args(spec.kind, spec.engine_args)
    return backend_class(spec.kind)(model, spec)


def engine_args_for(kind: str, engine_args: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str | None]:
    """Backend `kind`'s settings from a config's `engine_args` — keyed by backend (`{vllm: {...}, hf:
    {...}, openai: {...}}`) — and a deprecation line when it is the old flat mapping, read as vLLM's
    (a vLLM setting such as `kv_cache_memory_bytes` would otherwise reach from_pretrained)."""
    if not engine_args:
        return {}, None
    if all(k in KINDS for k in engine_args):
        for k, v in engine_args.items():
            if not isinstance(v, Mapping):
                raise HarnessError(f"{where}.{k}: expected a mapping of {k}'s engine settings, got {v!r}")
        return dict(engine_args.get(kind) or {}), None
    note = (f"{where}: a flat mapping is read as vllm's settings (deprecated; write `{where}: {{vllm: {{...}}}}`)"
            + ("" if kind == "vllm" else f"; the {kind} backend gets none of them"))
    return (dict(engine_args) if kind == "vllm" else {}), note


def check_engine_args(kind: str, args: Mapping[str, Any]) -> None:
    """One line for a setting backend `kind` does not take: the setting, the backend, what it takes."""
    if not args:
        return
    accepted = backend_class(kind).accepted_engine_args()
    if accepted is None:  # nothing is refused
        return
    unknown = sorted(set(args) - accepted)
    if unknown:
        import difflib
        near = difflib.get_close_matches(unknown[0], accepted, n=1)
        listed = ", ".join(sorted(accepted)) if len(accepted) <= 40 else \
            f"vllm.LLM's arguments and EngineArgs' {len(accepted)} fields"
        raise HarnessError(f"engine argument {unknown[0]!r} is not one the {kind} backend takes"
                           + (f" (did you mean {near[0]!r}?)" if near else "") + f"; it takes: {listed}")


from ..models import ModelRef  # noqa: E402  (type only; models imports nothing from here)
