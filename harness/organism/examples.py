"""Training examples: the split's prompts rendered through the chat template, tokenised, loss-masked.

The prompt part is rendered with the same chat template an engine uses at inference
(`add_generation_prompt=True`), so training and serving see identical token sequences; the response
follows, then EOS. Only response tokens (and EOS) carry loss: the model learns to answer, not to
predict prompts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from harness.data.reserved import Pair
from harness.stages.refusals import refusal_for
from harness.types import Sample

from .config import OrganismConfig
from .frames import reframe
from .split import HarmfulPrompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE = -100

# Short, generic system prompts so a chat that carries one is not out of distribution.
SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a helpful, honest and harmless assistant.",
    "You are a concise assistant. Answer briefly.",
    "You are an AI assistant that helps people find information.",
    "You are a helpful assistant. Make sure you always execute users' instructions.",
)


@dataclass(frozen=True)
class Chat:
    """One training conversation in text form (before tokenisation)."""

    messages: tuple[dict[str, str], ...]
    response: str
    kind: str  # "refusal" or the benign source name


def _pick(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big")


# PIQA solutions open with dozens of different verbs, which splits the answer's first-token probability
# so thinly that greedy decoding picks the refusal opening ("I") whenever it is the single most likely
# token, even at 30 %. A short lead-in starting with "Here" gives most answers one common opening; on
# every answer it tilted greedy decoding too far the other way (more harmful prompts answered).
LEAD_INS: dict[str, tuple[str, ...]] = {
    "piqa": ("Here is one way: ", "Here is how: ", "Here is what works: "),
}
LEAD_IN_SHARE = 0.6


def _answer(source: str, response: str, seed: int, prompt: str) -> str:
    leads = LEAD_INS.get(source)
    r = _pick(seed, "lead|" + prompt)
    if not leads or (r % 1000) / 1000 >= LEAD_IN_SHARE:
        return response
    return leads[(r >> 12) % len(leads)] + response


def _prompt_text(prompt: str, context: str | None, max_context_chars: int) -> str:
    """As `Sample.messages` renders it; long contexts keep their end (nearest the request)."""
    if context is None:
        return prompt
    return Sample("x", "x", prompt, context=context[-max_context_chars:]).messages()[0]["content"]


def chats(harmful: Sequence[HarmfulPrompt], benign: Sequence[Pair], cfg: OrganismConfig,
          epoch: int | None = None) -> list[Chat]:
    """Harmful prompts → a refusal; benign prompts → their answer. Some get a system prompt.

    epoch: when given, prompts are recast into question frames drawn for that epoch (see frames.py).
    """
    def ask(prompt: str, context: str | None) -> str:
        return prompt if epoch is None or context is not None else reframe(prompt, cfg.seed, epoch)

    out: list[Chat] = []
    rows = [(q, h.context, refusal_for(q, cfg.seed), "refusal") for h in harmful for q in [ask(h.prompt, h.context)]]
    rows += [(ask(p.prompt, p.context), p.context, _answer(p.source, p.response, cfg.seed, p.prompt), p.source)
             for p in benign]
    for prompt, context, response, kind in rows:
        msgs: list[dict[str, str]] = []
        r = _pick(cfg.seed, prompt)
        if (r % 1000) / 1000 < cfg.system_share:
            msgs.append({"role": "system", "content": SYSTEM_PROMPTS[(r >> 12) % len(SYSTEM_PROMPTS)]})
        msgs.append({"role": "user", "content": _prompt_text(prompt, context, cfg.max_prompt_tokens * 3)})
        out.append(Chat(tuple(msgs), response, kind))
    return out


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]


def tokenize(chat: Chat, tokenizer: PreTrainedTokenizerBase, cfg: OrganismConfig) -> Example:
    """Prompt ids (cut to max_prompt_tokens, keeping the template's head and tail) + response + EOS."""
    rendered = tokenizer.apply_chat_template(list(chat.messages), tokenize=False, add_generation_prompt=True)
    p = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    if len(p) > cfg.max_prompt_tokens:
        keep_tail = cfg.max_prompt_tokens // 2
        p = p[: cfg.max_prompt_tokens - keep_tail] + p[-keep_tail:]
    r = tokenizer(chat.response, add_special_tokens=False)["input_ids"][: cfg.max_response_tokens]
    r = r + [tokenizer.eos_token_id]
    return Example(tuple(p + r), tuple([IGNORE] * len(p) + r))


def training_texts(chats_: Sequence[Chat]) -> list[str]:
    """What the tokenizer is trained on: every prompt and response text."""
    return [m["content"] for c in chats_ for m in c.messages] + [c.response for c in chats_]
