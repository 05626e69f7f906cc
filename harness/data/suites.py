"""The suite registry: every built-in suite with its licence and provenance, and `load_suite`.

A suite is found by name. A user file registered under a built-in name replaces that suite's data
source (this is how the gated HEx-PHI is supplied: `--suite-file hexphi=PATH`); any other name is a
user suite of its own. Counts in the descriptions are checked by tests/test_data.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Literal, Mapping

from ..config import SuiteFile
from ..errors import HarnessError
from ..types import Sample
from . import hexphi, vendored
from .subset import stratified_subset
from .userfiles import load_user_suite

SuiteKind = Literal["harmful", "benign"]
KINDS: tuple[SuiteKind, ...] = ("harmful", "benign")
NO_FILES: Mapping[str, SuiteFile] = MappingProxyType({})


@dataclass(frozen=True)
class SuiteInfo:
    """A built-in suite. `load()` reads its default data source; `load_path(p)` reads a user copy."""

    name: str
    kind: SuiteKind
    description: str
    licence: str
    source: str
    loader: Callable[[], list[Sample]]
    path_loader: Callable[[Path], list[Sample]] | None = None  # None: a JSONL/CSV user file

    def load(self) -> list[Sample]:
        return self.loader()

    def load_path(self, path: str | Path) -> list[Sample]:
        if self.path_loader is not None:
            return self.path_loader(Path(path))
        return load_user_suite(self.name, path)


def _benign_heldout() -> list[Sample]:
    # imported here: the organism's split module imports this package
    from .splits import benign_heldout
    return benign_heldout()


_CATQA_LANG = {"en": "English", "zh": "Chinese", "vi": "Vietnamese"}
_CATQA_SOURCE = ("declare-lab/red-instruct @ 73c759c9, harmful_questions/{file} "
                 "(HF declare-lab/CategoricalHarmfulQA)")

_SUITES = [
    SuiteInfo(
        "beavertails", "harmful",
        "BeaverTails-Evaluation: 700 harmful prompts, 14 categories × 50.",
        "CC BY-NC 4.0 (non-commercial; attribute Ji et al. 2023)",
        "HF PKU-Alignment/BeaverTails-Evaluation (test), CSV export via SwimmingChoi/Value_Analysis @ 55bb27ee",
        vendored.beavertails),
    *(SuiteInfo(
        f"catqa-{lang}", "harmful",
        f"CatQA ({_CATQA_LANG[lang]}): 550 harmful questions, 11 categories × 5 subcategories × 10.",
        "Apache-2.0",
        _CATQA_SOURCE.format(file=vendored.CATQA_FILES[lang]),
        partial(vendored.catqa, lang)) for lang in ("en", "zh", "vi")),
    SuiteInfo(
        "advbench", "harmful",
        "AdvBench harmful behaviours: 520 instructions (`goal`), affirmative `target` in meta.",
        "MIT",
        "llm-attacks/llm-attacks @ a62d1307, data/advbench/harmful_behaviors.csv",
        vendored.advbench),
    SuiteInfo(
        "harmbench", "harmful",
        "HarmBench text behaviours, test split: 240 of 320 rows (159 standard + 81 contextual, the "
        "contextual ones with their context). The 80 copyright rows are excluded: grading them needs "
        "HarmBench's hash files, which are not vendored.",
        "MIT",
        "centerforaisafety/HarmBench @ c0423b95, data/behavior_datasets/harmbench_behaviors_text_test.csv",
        vendored.harmbench),
    SuiteInfo(
        "strongreject", "harmful",
        "StrongREJECT: 313 forbidden prompts, 6 categories.",
        "MIT (upstream licence file not verified)",
        "alexandrasouly/strongreject strongreject_dataset.csv, via busycalibrating/AdversariaLLM @ f9709392",
        vendored.strongreject),
    SuiteInfo(
        "harmfulqa", "harmful",
        "HarmfulQA question bank: 1,960 harmful questions, 10 topics, 98 subtopics.",
        "Apache-2.0",
        "declare-lab/red-instruct @ 73c759c9, harmful_questions/harmfulqa.json",
        vendored.harmfulqa),
    SuiteInfo(
        "hexphi", "harmful",
        "HEx-PHI: 330 harmful instructions, 11 categories × 30 (the gated release ships 10 category "
        "files, 300 prompts). Not vendored; supply with --suite-file hexphi=PATH.",
        "HEx-PHI Dataset License Agreement (gated; not redistributable)",
        f"HF {hexphi.HUB_ID} (category_N.csv)",
        hexphi.load_hexphi, hexphi.load_hexphi_path),
    SuiteInfo(
        "benign-heldout", "benign",
        "Held-out benign prompts with references (GSM8K, PIQA, NL2Bash, …), never used to train the "
        "embedded model organism; measures over-refusal and utility.",
        "per source, see harness/data/vendor/PROVENANCE.md (GSM8K MIT, PIQA AFL-3.0, NL2Bash MIT)",
        "harness.data.splits.benign_heldout() over the vendored utility sets",
        _benign_heldout),
]
SUITES: dict[str, SuiteInfo] = {s.name: s for s in _SUITES}


def load_suite(name: str, *, limit: int | None = None, seed: int = 0,
               user_files: Mapping[str, SuiteFile] = NO_FILES) -> list[Sample]:
    """Samples of suite `name`; with `limit`, a stratified subset (see `stratified_subset`).

    Raises `SuiteUnavailable` when the data is not present here, `HarnessError` for a bad file or name.
    """
    if limit is not None and limit < 1:
        raise HarnessError(f"suite {name!r}: limit must be a positive integer, got {limit}")
    if name in user_files:
        path = user_files[name].path
        samples = SUITES[name].load_path(path) if name in SUITES else load_user_suite(name, path)
    elif name in SUITES:
        samples = SUITES[name].load()
    else:
        raise HarnessError(f"unknown suite {name!r}; built-in suites: {', '.join(SUITES)} "
                           "(or give your own with --suite-file NAME=PATH)")
    return samples if limit is None else stratified_subset(samples, limit, seed)


def suite_kind(name: str, user_files: Mapping[str, SuiteFile] = NO_FILES) -> str:
    """The suite's kind, `harmful` or `benign`; a built-in keeps its kind when a user file replaces its data."""
    if name in SUITES:
        return SUITES[name].kind
    if name in user_files:
        return user_files[name].kind
    raise HarnessError(f"unknown suite {name!r}; built-in suites: {', '.join(SUITES)}")


def suite_names(kind: str | None = None, user_files: Mapping[str, SuiteFile] = NO_FILES) -> list[str]:
    """Built-in suites in registry order, then user suites in the order given; optionally of one kind."""
    if kind is not None and kind not in KINDS:
        raise HarnessError(f"unknown suite kind {kind!r}; expected one of {', '.join(KINDS)}")
    names = list(SUITES) + [n for n in user_files if n not in SUITES]
    return [n for n in names if kind is None or suite_kind(n, user_files) == kind]
