"""The embedded model organism: a small Llama chat model trained from scratch on CPU.

It refuses harmful requests and answers benign ones, and it is the harness's default model
(`--model organism`). Its evaluation suites were never its training data (see harness/organism/split.py).
`ensure_organism()` builds it on first use (a few minutes) and returns the cached directory after.
"""

from __future__ import annotations

from harness.artifacts import verify
from harness.stages.refusals import TEMPLATES as REFUSAL_TEMPLATES
from harness.stages.refusals import refusal_for

from .build import cache_key, cached_card, ensure_organism, entry_dir, load_card
from .card import format_card
from .config import JudgeOrganismConfig, OrganismConfig
from .rater import RaterOrganismConfig

__all__ = ["JudgeOrganismConfig", "OrganismConfig", "RaterOrganismConfig", "REFUSAL_TEMPLATES", "cache_key", "cached_card", "ensure_organism", "entry_dir",
           "format_card", "load_card", "refusal_for", "verify"]
