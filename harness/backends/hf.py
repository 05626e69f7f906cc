"""transformers backend: for models or machines vLLM cannot serve, and as a second opinion on vLLM.

Contracts (the same as the vLLM backend's):
- One `Generation` per request, in request order; greedy when temperature == 0.
- Requests are batched by prompt length; the batches depend on the *set* of requests, not their order,
  so shuffling a batch does not change any request's text.
- A sampled request draws from its own `torch.Generator` seeded by `request_seed(params, repeat)`,
  inside a batched decode, so its text does not depend on what else is in the batch.
- prompt tokens + max_tokens > max_position_embeddings gives `Generation("", "error:prompt_too_long")`.
- Logprobs, when asked, come from the raw logits (before temperature/top-p, as vLLM reports them):
  per generated token, the top-k alternatives and the chosen token.
- A request with a raw `prompt` is tokenized as it is (no chat template), with special tokens only if
  it asks for them.
- Scoring for judges: `loglikelihood` (continuation log-probabilities) on causal models; a model whose
  config names a `*ForSequenceClassification` architecture loads as a classifier and offers `classify`
  (logits) and `labels` (the config's id2label order) instead of `generate`.

engine_args: `device`, `dtype` (or `torch_dtype`), `batch_size` (default 16), `device_map`; the loading
options of `from_pretrained` (FROM_PRETRAINED) go to it; any other key is refused before loading.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import math
from typing import Any, Sequence, cast

from ..errors import HarnessError
from ..models import ModelRef
from ..types import Generation, GenerationRequest
from . import PROMPT_TOO_LONG, BackendSpec, messages_of, pair_token_ids, prompt_token_ids, request_seed, token_key

log = logging.getLogger(__name__)


OWN_ARGS = frozenset({"device", "dtype", "torch_dtype", "batch_size", "device_map"})
# from_pretrained's loading options (transformers 5; named parameters and the keys it pops from
# **kwargs). Its **kwargs also set model config attributes, which silently does nothing for a typo, so
# only these are passed on.
FROM_PRETRAINED = frozenset({
    "attn_implementation", "cache_dir", "force_download", "key_mapping", "local_files_only", "max_memory",
    "offload_buffers", "offload_folder", "quantization_config", "revision", "subfolder", "token", "tp_plan",
    "tp_size", "use_kernels", "variant", "disable_mmap", "experts_implementation"})

class HFBackend:
    """Runs `model` with transformers `generate`, left-padded batches, on cuda if available."""

    name = "hf"

    @staticmethod
    def accepted_engine_args() -> frozenset[str]:
        return OWN_ARGS | FROM_PRETRAINED

    def __init__(self, model: ModelRef, spec: BackendSpec) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

        if model.path is None:
            raise HarnessError(f"--backend hf: {model.source} is a served model; pass a model directory")
        args = dict(spec.engine_args)
        device = args.pop("device", None) or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype, legacy_dtype = args.pop("dtype", None), args.pop("torch_dtype", None)
        dtype = dtype or legacy_dtype
        if dtype is None:  # half precision on CPU is slow and less exact; keep what the GPU is good at
            dtype = "auto" if str(device).startswith("cuda") else "float32"
        self.batch_size = int(args.pop("batch_size", 16))
        device_map = args.pop("device_map", None)
        self.model = model
        self.tokenizer = AutoTokenizer.from_pretrained(model.location, trust_remote_code=model.trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        config = AutoConfig.from_pretrained(model.location, trust_remote_code=model.trust_remote_code)
        self.classifier = any(a.endswith("ForSequenceClassification") for a in config.architectures or ())
        auto = AutoModelForSequenceClassification if self.classifier else AutoModelForCausalLM
        self.lm = auto.from_pretrained(
            model.location, trust_remote_code=model.trust_remote_code,
            use_safetensors=None if model.allow_pickle else True,
            dtype=getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype,
            device_map=device_map, **args).eval()
        if device_map is None:
            self.lm.to(device)
        self.device = self.lm.device
        self.max_len: int | None = getattr(self.lm.config, "max_position_embeddings", None)
        if self.classifier and self.lm.config.pad_token_id is None:
            # Batched classification finds each row's last token by the pad id; without one it refuses.
            self.lm.config.pad_token_id = self.tokenizer.pad_token_id
        gen_cfg = getattr(self.lm, "generation_config", None)
        eos = gen_cfg.eos_token_id if gen_cfg is not None else None
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) - {None}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Complete every chat. Pass all requests at once: batching sorts them by length."""
        from tqdm.auto import tqdm

        if self.classifier:
            raise HarnessError(f"--backend hf: {self.model.name} is a sequence classifier; it cannot generate")
        out: list[Generation | None] = [None] * len(requests)
        prompts: dict[int, list[int]] = {}
        for i, req in enumerate(requests):
            ids = prompt_token_ids(self.tokenizer, req)
            if self.max_len is not None and len(ids) + req.params.max_tokens > self.max_len:
                out[i] = Generation("", PROMPT_TOO_LONG)
            else:
                prompts[i] = list(ids)
        # Order by (length, content): batch composition depends only on which requests there are.
        order = sorted(prompts, key=lambda i: (len(prompts[i]), _content(requests[i])))
        batches = [order[k:k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        for batch in tqdm(batches, desc=f"hf generate ({self.model.name})", disable=len(batches) < 2):
            for i, g in zip(batch, self._generate_batch([requests[i] for i in batch], [prompts[i] for i in batch])):
                out[i] = g
        return out  # type: ignore[return-value]

    def loglikelihood(self, requests: Sequence[tuple[GenerationRequest, str]]) -> list[float]:
        """log P(continuation | request's prompt), summed over the continuation's tokens, per pair.

        Tokens as `pair_token_ids` splits them (lm-evaluation-harness's way for a raw prompt; a chat
        rendered by its template, the answer encoded on its own); a special token's text in the
        continuation (an EOS) is that token. Pairs that score the same token sequence (single-token continuations of one
        prompt) share a forward pass. A pair that does not fit the context window gets NaN.
        """
        import torch

        if self.classifier:
            raise HarnessError(f"--backend hf: {self.model.name} is a sequence classifier; it cannot score text")
        out = [math.nan] * len(requests)
        groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
        for i, (req, continuation) in enumerate(requests):
            ctx, cont = pair_token_ids(self.tokenizer, req, continuation)
            if not cont:
                out[i] = 0.0
            elif ctx and (self.max_len is None or len(ctx) + len(cont) <= self.max_len):
                groups.setdefault(tuple(ctx + cont[:-1]), []).append((i, cont))
        seqs = sorted(groups, key=lambda t: (len(t), t))
        keep_arg = "logits_to_keep" in inspect.signature(self.lm.forward).parameters
        pad = self.tokenizer.pad_token_id
        for k in range(0, len(seqs), self.batch_size):
            batch = seqs[k:k + self.batch_size]
            width = max(len(t) for t in batch)
            keep = max(len(c) for t in batch for _, c in groups[t])
            # Left padding puts every row's scored positions at the end: one `logits_to_keep` for all.
            ids = torch.tensor([[pad] * (width - len(t)) + list(t) for t in batch], device=self.device)
            mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in batch], device=self.device)
            kwargs = {"logits_to_keep": keep} if keep_arg else {}
            with torch.inference_mode():
                logits = self.lm(input_ids=ids, attention_mask=mask,
                                 position_ids=(mask.cumsum(-1) - 1).clamp(min=0), **kwargs).logits
            logits = logits[:, -keep:].float().log_softmax(-1)
            for row, t in enumerate(batch):
                for i, cont in groups[t]:
                    pos = range(keep - len(cont), keep)  # the last len(cont) positions predict cont
                    out[i] = float(sum(logits[row, p, tok] for p, tok in zip(pos, cont)))
        return out

    @property
    def labels(self) -> list[str]:
        """A classifier's column names, in its config's id2label order."""
        cfg = self.lm.config
        return [str(cfg.id2label[i]) for i in range(cfg.num_labels)]

    def classify(self, texts: Sequence[str], max_length: int | None = None) -> list[list[float]]:
        """Logits of a sequence-classification model, one row per text, columns as `labels`.

        Texts are tokenized with the tokenizer's special tokens and right-padded (how such models
        are trained and run upstream), truncated to `max_length` tokens when given.
        """
        import torch

        if not self.classifier:
            raise HarnessError(f"--backend hf: {self.model.name} is not a sequence classifier "
                               "(config.json names no *ForSequenceClassification architecture)")
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for k in range(0, len(order), self.batch_size):
            rows = order[k:k + self.batch_size]
            enc = self.tokenizer([texts[i] for i in rows], padding=True, padding_side="right",
                                 truncation=max_length is not None, max_length=max_length, return_tensors="pt")
            with torch.inference_mode():
                logits = self.lm(**{key: v.to(self.device) for key, v in enc.items()}).logits
            for i, row in zip(rows, logits.float().tolist()):
                out[i] = row
        return out

    def close(self) -> None:
        import torch

        self.__dict__.pop("lm", None)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generate_batch(self, reqs: list[GenerationRequest], prompts: list[list[int]]) -> list[Generation]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        want_lp = any(r.params.logprobs is not None for r in reqs)
        gen_cfg = GenerationConfig(
            max_new_tokens=max(r.params.max_tokens for r in reqs), do_sample=False, eos_token_id=sorted(self.eos_ids),
            pad_token_id=pad, bos_token_id=self.lm.generation_config.bos_token_id, return_dict_in_generate=True,
            output_logits=want_lp)
        sampler = _RowSampler(reqs, self.device)
        with torch.inference_mode():
            res = self.lm.generate(input_ids=input_ids, attention_mask=mask, generation_config=gen_cfg,
                                   logits_processor=LogitsProcessorList([sampler]))
        new = res.sequences[:, width:].tolist()
        return [self._finish(r, toks, [step[row] for step in res.logits] if want_lp else None)
                for row, (r, toks) in enumerate(zip(reqs, new))]

    def _finish(self, req: GenerationRequest, toks: list[int], logits: list[Any] | None) -> Generation:
        """Cut one row at EOS, its own max_tokens and its first stop string; decode it."""
        p = req.params
        raw = toks[:p.max_tokens]
        end = next((n for n, t in enumerate(raw) if t in self.eos_ids), None)
        body = raw if end is None else raw[:end]
        reason = "length" if end is None else "stop"
        n_scored = len(raw) if end is None else end + 1  # the EOS token has a logprob too, as in vLLM
        text = self._decode(body)
        cut = _first_stop(text, p.stop)
        if cut is not None:  # vLLM leaves the stop string out of the text, and stops at its last token
            text, reason = text[:cut], "stop"
            n_scored = next(n for n in range(1, len(body) + 1)
                            if _first_stop(self._decode(body[:n]), p.stop) is not None)
        logprobs = None
        if p.logprobs is not None and logits is not None:
            logprobs = tuple(self._top(logits[n], raw[n], p.logprobs) for n in range(n_scored))
        return Generation(text, reason, logprobs)

    def _decode(self, toks: list[int]) -> str:
        # A trailing U+FFFD is a character cut in half by the token limit; vLLM's detokenizer holds
        # such bytes back, so drop them too and the two backends print the same text.
        return cast(str, self.tokenizer.decode(toks, skip_special_tokens=True)).rstrip("\ufffd")  # one sequence: a str

    def _top(self, logits: Any, chosen: int, k: int) -> dict[str, float]:
        import torch

        lp = torch.log_softmax(logits.float(), dim=-1)
        ids = lp.topk(k).indices.tolist() if k > 0 else []
        return {token_key(self.tokenizer, t, cast(str, self.tokenizer.decode([t]))): lp[t].item()
                for t in sorted(set(ids) | {chosen}, key=lambda t: -lp[t].item())}


class _RowSampler:
    """Logits processor that picks each row's next token itself and leaves only that token possible.

    Greedy rows take the argmax; sampled rows draw with temperature and top-p from their own seeded
    generator, so a row's draws depend only on that row (HF's own sampling shares one global RNG).
    """

    def __init__(self, reqs: list[GenerationRequest], device: Any) -> None:
        import torch

        self.params = [r.params for r in reqs]
        self.gens = [torch.Generator(device=device).manual_seed(request_seed(r.params, r.repeat))
                     if r.params.temperature > 0 else None for r in reqs]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        picks = []
        for row, (p, gen) in enumerate(zip(self.params, self.gens)):
            if gen is None:
                picks.append(int(scores[row].argmax()))
                continue
            probs = torch.softmax(scores[row].float() / p.temperature, dim=-1)
            if p.top_p < 1.0:
                sp, si = probs.sort(descending=True)
                drop = sp.cumsum(-1) - sp >= p.top_p  # keep the smallest prefix reaching top_p
                probs = probs.scatter(0, si[drop], 0.0)
            picks.append(int(torch.multinomial(probs, 1, generator=gen)))
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(picks), device=scores.device), torch.tensor(picks, device=scores.device)] = 0.0
        return out


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def _content(req: GenerationRequest) -> str:
    raw = [req.prompt, req.add_special_tokens] if req.prompt is not None else []
    return json.dumps([messages_of(req), req.params.as_dict(), req.repeat] + raw, sort_keys=True)
