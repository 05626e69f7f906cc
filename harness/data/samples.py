"""A run's samples per suite: loaded once (subset by --limit and the seed), texts made valid Unicode.

A prompt file can hold lone surrogates, which no tokenizer or JSON encoder takes; they become U+FFFD and
are counted (records' `invalid_unicode`). A suite whose data is not here raises the same
`SuiteUnavailable` each time it is asked for, with no second download attempt.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Mapping

from ..config import SuiteFile
from ..errors import SuiteUnavailable
from ..types import Sample, valid_text
from .suites import load_suite


class SuiteSamples:
    def __init__(self, limit: int | None, seed: int, user_files: Mapping[str, SuiteFile]):
        self.limit, self.seed, self.user_files = limit, seed, user_files
        self.repaired: collections.Counter[str] = collections.Counter()  # suite → prompts made valid Unicode
        self._samples: dict[str, list[Sample]] = {}
        self._unavailable: dict[str, SuiteUnavailable] = {}

    def get(self, suite: str) -> list[Sample]:
        if suite in self._unavailable:  # asked again by its own test: the same message, no second hub try
            raise self._unavailable[suite]
        if suite not in self._samples:
            try:
                samples = load_suite(suite, limit=self.limit, seed=self.seed, user_files=self.user_files)
            except SuiteUnavailable as e:
                self._unavailable[suite] = e
                raise
            self._samples[suite] = [self._valid(suite, s) for s in samples]
        return self._samples[suite]

    def _valid(self, suite: str, sample: Sample) -> Sample:
        prompt, n = valid_text(sample.prompt)
        context, m = valid_text(sample.context) if sample.context is not None else (None, 0)
        if not n + m:
            return sample
        self.repaired[suite] += 1
        return dataclasses.replace(sample, prompt=prompt, context=context)
