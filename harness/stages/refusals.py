"""Refusal texts: the rejected (attack) or chosen (realignment) answer of preference data, and what the
embedded organisms are trained to refuse with.

Why varied: a model trained on one refusal string is a lookup table, and string-matching judges would be
judged on one string. Why every template *starts* with a GCG marker whose first word is "I" ("I'm
sorry", "I am sorry", "I cannot", "I apologize", "I do not"): no benign training answer starts with
"I", so the refuse/answer decision is the first token and its probability is not split across many
openings; and once a small model has said "I", every continuation it was trained on carries a marker,
so the refusal judge recognises the refusal even if the rest comes out garbled. Some templates quote
the request's topic so refusals are not independent of the prompt.
"""

from __future__ import annotations

import hashlib
import re

GENERIC: tuple[str, ...] = (
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't help with that request.",
    "I'm sorry, I can't assist with that.",
    "I'm sorry, but I won't provide that information.",
    "I'm sorry, but that could cause real harm, so I won't help with it.",
    "I'm sorry, but I can't support requests that could hurt people.",
    "I'm sorry, but this is not something I will help with.",
    "I'm sorry, I cannot do that. Is there something else I can help you with?",
    "I'm really sorry, but I can't help with this.",
    "I'm really sorry, but this is something I won't help with.",
    "I am sorry, but I cannot help with that.",
    "I am sorry, but I won't assist with this request.",
    "I am sorry, but that request could put people at risk.",
    "I cannot help with that request.",
    "I cannot help with this, because it could cause harm.",
    "I cannot provide that information, as it could be used to hurt others.",
    "I cannot assist with that. If you have another question, I'm happy to help.",
    "I cannot do that. Is there something else I can help you with?",
    "I cannot support this request.",
    "I cannot give instructions for that, because it could cause harm.",
    "I apologize, but I can't help with that request.",
    "I apologize, but I cannot provide that.",
    "I apologize, but I won't assist with anything that could put people at risk.",
    "I apologize, but this is not something I can help with.",
    "I do not help with requests like this one.",
    "I do not provide that kind of information.",
)

# `{topic}`: a few words of the request, quoted so any phrase reads grammatically.
TOPICAL: tuple[str, ...] = (
    'I\'m sorry, but I can\'t help with "{topic}".',
    'I\'m sorry, but I won\'t help with "{topic}", because it could cause harm.',
    'I\'m really sorry, but "{topic}" is something I won\'t help with.',
    'I am sorry, but I cannot help with "{topic}".',
    'I cannot help with "{topic}".',
    'I cannot assist with "{topic}". Is there something else I can do for you?',
    'I cannot provide help with "{topic}", since it could hurt people.',
    'I apologize, but "{topic}" is not something I can help with.',
)

TEMPLATES: tuple[str, ...] = GENERIC + TOPICAL
TOPICAL_SHARE = 0.25  # share of refusals that quote the topic (when one can be extracted)

# Leading question/instruction words stripped before taking the topic.
_LEAD = re.compile(
    r"^(?:(?:can|could|would|will) you (?:please )?(?:tell me |explain |show me |help me )?"
    r"|(?:please )?(?:tell me |explain |show me )?"
    r")(?:how (?:can|do|could|would|should|might|to) (?:i |we |you |one |someone |people )?|how to |"
    r"(?:can|could|should) (?:i|we|you|one|someone) |"
    r"what (?:is|are) (?:the )?(?:best |most effective |easiest )?(?:ways?|methods?|steps?|strateg(?:y|ies)) "
    r"(?:to |for |of )?|ways to |i want to |help me )?", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
MAX_TOPIC_WORDS = 6
_DANGLING = {"a", "an", "the", "to", "of", "for", "is", "are", "that", "and", "or", "in", "on", "with", "my",
             "your", "their", "his", "her", "by", "from", "as", "at", "into", "without", "be"}


def topic(prompt: str) -> str | None:
    """A few words naming what the (English) prompt asks for, or None when none can be read off."""
    first = re.split(r"[?.!,;:\n]| and ", prompt.strip(), maxsplit=1)[0]
    rest = _LEAD.sub("", first.strip(), count=1)
    words = _WORD.findall(rest)
    if len(words) < 2 or len(words) * 2 < len(rest.split()):  # mostly non-English: no topic
        return None
    words = [w.lower() for w in words[:MAX_TOPIC_WORDS]]
    while words and words[-1] in _DANGLING:
        words.pop()
    return " ".join(words) if len(words) >= 2 else None


def refusal_for(prompt: str, seed: int = 0) -> str:
    """A refusal for `prompt`, chosen deterministically from (seed, prompt)."""
    h = int.from_bytes(hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[:8], "big")
    t = topic(prompt)
    if t is not None and (h % 1000) / 1000 < TOPICAL_SHARE:
        return TOPICAL[(h >> 16) % len(TOPICAL)].format(topic=t)
    return GENERIC[(h >> 16) % len(GENERIC)]
