"""OpenAI-compatible backend: chat completions over HTTP (vLLM serve, TGI, hosted APIs).

Contracts:
- One `Generation` per request, in request order, with up to `max_concurrency` requests in flight
  (engine_args, default 16). Sampled requests send `seed=request_seed(params, repeat)`.
- Transient failures (connection, timeout, 408/409/429/5xx) are retried at most `max_retries` times
  (default 4) with exponential backoff from `retry_backoff` seconds (default 0.5), capped at 30 s.
- A server that says the prompt does not fit answers `Generation("", "error:prompt_too_long")`, like
  the local backends; any other failure stops the batch with a `HarnessError`.
- The API key never appears in an error message or a log line: server text is redacted before it is
  shown, and errors are raised without the client's exception (which holds the request) attached.
- A request with a raw `prompt` (a judge's own template) goes to the completions endpoint, with
  `add_special_tokens` passed through (a vLLM server extension), so no chat template wraps it.

engine_args: `max_concurrency`, `max_retries`, `retry_backoff`, `timeout` (seconds, default 600);
`openai.OpenAI`'s own options (`default_headers`, `organization`, ...) go to its constructor.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Sequence

from ..errors import HarnessError
from ..models import ModelRef
from ..secrets import redact_url
from ..types import Generation, GenerationRequest
from . import PROMPT_TOO_LONG, BackendSpec, messages_of, request_seed

log = logging.getLogger(__name__)

_TOO_LONG_MARKERS = ("maximum context length", "maximum model length", "context_length_exceeded")


class _PromptTooLong(Exception):
    pass


class OpenAIBackend:
    """Sends each request as one chat completion to `base_url` for the model named `model.source`."""

    name = "openai"

    @staticmethod
    def accepted_engine_args() -> frozenset[str]:
        import inspect

        import openai
        client = {p for p in inspect.signature(openai.OpenAI.__init__).parameters
                  if not p.startswith("_") and p not in ("self", "api_key", "base_url", "max_retries")}
        return frozenset({"max_concurrency", "max_retries", "retry_backoff", "timeout"} | client)

    def __init__(self, model: ModelRef, spec: BackendSpec) -> None:
        import openai

        args = dict(spec.engine_args)
        self.max_concurrency = max(1, int(args.pop("max_concurrency", 16)))
        self.max_retries = max(0, int(args.pop("max_retries", 4)))
        self.retry_backoff = float(args.pop("retry_backoff", 0.5))
        timeout = float(args.pop("timeout", 600))
        base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise HarnessError("--backend openai: no server URL; pass --openai-base-url URL or set OPENAI_BASE_URL")
        self.base_url: str = base_url
        self._key = spec.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.model = model
        # Retries are ours (bounded, logged without secrets), so the client's own are off.
        self.client = openai.OpenAI(base_url=self.base_url, api_key=self._key, max_retries=0, timeout=timeout,
                                    **args)
        self._openai = openai
        self._stop = threading.Event()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Complete every chat concurrently; results come back in request order."""
        if not requests:
            return []
        self._stop.clear()
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests)))
        try:
            futures = [pool.submit(self._one, r) for r in requests]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                self._stop.set()  # requests still running give up at their next retry
                raise failed.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.client.close()

    def _one(self, req: GenerationRequest) -> Generation:
        if self._stop.is_set():
            raise HarnessError("--backend openai: stopped after another request failed")
        try:
            resp = self._call(self._body(req), raw=req.prompt is not None)
        except _PromptTooLong:
            return Generation("", PROMPT_TOO_LONG)
        choice = resp.choices[0]
        if req.prompt is not None:
            return Generation(choice.text or "", choice.finish_reason, _completion_logprobs(choice, req))
        logprobs = None
        if req.params.logprobs is not None and choice.logprobs is not None and choice.logprobs.content is not None:
            logprobs = tuple(_token_logprobs(t) for t in choice.logprobs.content)
        return Generation(choice.message.content or "", choice.finish_reason, logprobs)

    def _body(self, req: GenerationRequest) -> dict[str, Any]:
        p = req.params
        body: dict[str, Any] = {"model": self.model.source, "max_tokens": p.max_tokens, "temperature": p.temperature}
        if req.prompt is not None:
            body |= {"prompt": req.prompt, "extra_body": {"add_special_tokens": req.add_special_tokens}}
        else:
            body["messages"] = messages_of(req)
        if p.temperature > 0:
            body |= {"top_p": p.top_p, "seed": request_seed(p, req.repeat)}
        if p.stop:
            body["stop"] = list(p.stop)
        if p.logprobs is not None:
            body |= {"logprobs": p.logprobs} if req.prompt is not None else {"logprobs": True,
                                                                             "top_logprobs": p.logprobs}
        return body

    def _call(self, body: dict[str, Any], raw: bool = False) -> Any:
        oa = self._openai
        create = self.client.completions.create if raw else self.client.chat.completions.create
        for attempt in range(self.max_retries + 1):
            try:
                return create(**body)
            except (oa.APIConnectionError, oa.RateLimitError, oa.InternalServerError, oa.ConflictError) as e:
                reason = self._describe(e)
                if attempt == self.max_retries or self._stop.is_set():
                    raise HarnessError(f"--backend openai: {redact_url(self.base_url)} failed after {attempt + 1} "
                                       f"attempts ({reason})") from None
            except oa.APIStatusError as e:
                reason = self._describe(e)
                if e.status_code == 408 and attempt < self.max_retries:
                    pass  # request timeout: transient, retry below
                elif e.status_code in (400, 413, 422) and any(m in reason.lower() for m in _TOO_LONG_MARKERS):
                    raise _PromptTooLong() from None
                elif e.status_code in (401, 403):
                    raise HarnessError(f"--backend openai: {redact_url(self.base_url)} refused the API key ({reason}); "
                                       "check --openai-api-key or OPENAI_API_KEY") from None
                elif e.status_code == 404:
                    raise HarnessError(f"--backend openai: {redact_url(self.base_url)} has no model {self.model.source!r} "
                                       f"({reason}); pass the served model name as --model") from None
                else:
                    raise HarnessError(f"--backend openai: request rejected ({reason})") from None
            delay = min(30.0, self.retry_backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            log.warning("openai backend: %s; retry %d/%d in %.1fs", reason, attempt + 1, self.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _describe(self, e: Exception) -> str:
        """The error's first line with the key (and the key without its prefix) removed."""
        text = f"{type(e).__name__}: {getattr(e, 'status_code', '')} {e}".strip()
        line = text.splitlines()[0] if text else type(e).__name__
        return redact(line[:300], self._key)


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret`, and any 8+ character piece of it a server might echo, replaced by ***."""
    if not secret or secret == "EMPTY":
        return text
    text = text.replace(secret, "***")
    # Servers often echo part of a key ("sk-abc...wxyz"); drop any long-enough piece of it.
    n = 8
    if len(secret) >= n:
        for i in range(len(secret) - n + 1):
            piece = secret[i:i + n]
            if piece in text:
                text = text.replace(piece, "***")
    return text


def _completion_logprobs(choice: Any, req: GenerationRequest) -> tuple[dict[str, float], ...] | None:
    """The completions endpoint's logprobs in `Generation.logprobs` form (chosen token included)."""
    lp = choice.logprobs
    if req.params.logprobs is None or lp is None or lp.tokens is None:
        return None
    steps = []
    for n, token in enumerate(lp.tokens):
        tops = lp.top_logprobs or []
        top = dict(tops[n] or {}) if n < len(tops) else {}
        if lp.token_logprobs is not None and lp.token_logprobs[n] is not None:
            top.setdefault(token, lp.token_logprobs[n])
        steps.append({t: float(v) for t, v in sorted(top.items(), key=lambda kv: -kv[1])})
    return tuple(steps)


def _token_logprobs(tok: Any) -> dict[str, float]:
    """{token: logprob} for the top alternatives and the chosen token, best first."""
    pairs = [(t.token, t.logprob) for t in (tok.top_logprobs or [])] + [(tok.token, tok.logprob)]
    out: dict[str, float] = {}
    for t, lp in sorted(pairs, key=lambda x: -x[1]):
        out.setdefault(t, float(lp))
    return out
