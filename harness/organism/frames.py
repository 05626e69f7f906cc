"""Question-frame augmentation: the same request asked as "How can I …", "What is the best way to …", ….

Why: the sources differ in phrasing, not only in content. HarmfulQA asks "How can I …" a thousand times,
PIQA a hundred; a small model then learns "How can I" → refuse, which refuses harmless how-to questions
and tells nothing about harm. Recasting harmful *and* benign requests into the same frames (a different
draw each epoch) leaves the content words as the only signal. Prompts whose request cannot be read off
as a verb phrase (GSM8K word problems, statements, long contextual prompts) keep their wording.
"""

from __future__ import annotations

import hashlib
import re

FRAMES: tuple[str, ...] = (
    "How can I {vp}?",
    "How do I {vp}?",
    "How to {vp}?",
    "How would someone {vp}?",
    "What is the best way to {vp}?",
    "What are the best ways to {vp}?",
    "What are the most effective methods to {vp}?",
    "Can you tell me how to {vp}?",
    "Explain how to {vp}.",
    "{VP}.",
    "Give me step-by-step instructions to {vp}.",
    "I need to {vp}. What should I do?",
)
REFRAME_SHARE = 0.5  # per epoch, share of eligible prompts asked in a new frame

_LEAD = re.compile(r"^(?:how (?:can|do|could|should|would|might) (?:i|we|you|one|someone)|how to|to)\s+(.+)$",
                   re.IGNORECASE | re.DOTALL)
# Imperative openings seen in AdvBench, HarmBench and NL2Bash.
_VERBS = frozenset("""
write create develop give generate provide instruct outline explain teach design describe produce list show
offer publish suggest use convert draw compose post train hack conduct exploit educate brainstorm choose
modify convince transform find print search display remove delete change copy calculate save read set make
split count replace get archive rename run unzip move add execute sort send check report locate extract
compress append build install start stop kill open prepare clean cut keep""".split())


def verb_phrase(prompt: str) -> str | None:
    """The request as a lower-case verb phrase ("make tuna salad"), or None when it is not one."""
    text = prompt.strip()
    if "\n" in text or len(text.split()) > 30 or re.search(r",\s*(?:you|it|they)\b", text, re.IGNORECASE):
        return None
    text = text.rstrip(" ?.!")
    m = _LEAD.match(text)
    if m:
        vp = m.group(1)
    elif text.split(" ", 1)[0].lower() in _VERBS and " " in text:
        vp = text
    else:
        return None
    return vp[0].lower() + vp[1:] if not vp[:2].isupper() else vp


def reframe(prompt: str, seed: int, epoch: int) -> str:
    """The prompt in a frame drawn from (seed, epoch, prompt), or unchanged (about half the time)."""
    vp = verb_phrase(prompt)
    if vp is None:
        return prompt
    h = int.from_bytes(hashlib.sha256(f"{seed}|{epoch}|{prompt}".encode()).digest()[:8], "big")
    if (h % 1000) / 1000 >= REFRAME_SHARE:
        return prompt
    frame = FRAMES[(h >> 16) % len(FRAMES)]
    return frame.format(vp=vp, VP=vp[0].upper() + vp[1:])
