"""`--limit N`: a quick run on a category-stratified subset whose rates stay comparable to a full run.

Contract of `stratified_subset(samples, limit, seed)`:
- size min(limit, len(samples)); the samples come back in their original order;
- each category gets its proportional share (largest-remainder rounding, exact integer arithmetic),
  and at least one sample while `limit` ≥ the number of categories;
- within a category the picks are the first of a seeded shuffle that does not depend on `limit`,
  so a larger limit mostly extends a smaller one (and reuses its cached generations);
- the same inputs give the same output on every machine and Python hash seed (no `hash()`, no sets).
"""

from __future__ import annotations

import hashlib
import random
from typing import Sequence

from ..types import Sample


def stratified_subset(samples: Sequence[Sample], limit: int, seed: int = 0) -> list[Sample]:
    if limit < 0:
        raise ValueError(f"limit must be ≥ 0, got {limit}")
    if limit >= len(samples):
        return list(samples)
    groups: dict[str, list[int]] = {}  # category → indices, in order of first appearance
    for i, s in enumerate(samples):
        groups.setdefault(s.category, []).append(i)
    counts = allocate({c: len(ix) for c, ix in groups.items()}, limit, seed)
    chosen: list[int] = []
    for cat, ix in groups.items():
        order = list(ix)
        _rng(seed, cat).shuffle(order)
        chosen.extend(order[:counts[cat]])
    return [samples[i] for i in sorted(chosen)]


def allocate(sizes: dict[str, int], limit: int, seed: int = 0) -> dict[str, int]:
    """Split `limit` over categories in proportion to `sizes` (Hamilton's method, with a floor of one).

    Ties between equal remainders are broken by a seeded order of the categories, so with more
    categories than `limit` different seeds cover different categories.
    """
    total = sum(sizes.values())
    cats = list(sizes)
    tie = list(cats)
    random.Random(seed).shuffle(tie)
    rank = {c: r for r, c in enumerate(tie)}
    # quota_c = limit * size_c / total = floor_c + rem_c / total
    alloc = {c: limit * sizes[c] // total for c in cats}
    rem = {c: limit * sizes[c] % total for c in cats}
    left = limit - sum(alloc.values())
    for c in sorted(cats, key=lambda c: (-rem[c], rank[c]))[:left]:
        alloc[c] += 1
    if limit >= len(cats):
        # Every category is represented: each empty one takes a unit from the most over-served
        # category (largest alloc − quota, compared as alloc·total − limit·size) that can spare one.
        for c in sorted((c for c in cats if alloc[c] == 0), key=lambda c: rank[c]):
            donor = max((d for d in cats if alloc[d] > 1),
                        key=lambda d: (alloc[d] * total - limit * sizes[d], -rank[d]))
            alloc[donor] -= 1
            alloc[c] = 1
    return alloc


def _rng(seed: int, category: str) -> random.Random:
    # A per-category stream from a stable digest: independent of other categories and of limit.
    digest = hashlib.sha256(f"{seed}\x00{category}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
