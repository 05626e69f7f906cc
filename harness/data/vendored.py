"""Readers for the evaluation files vendored under harness/data/vendor/ (formats in PROVENANCE.md).

Each returns every row of its file as a `Sample` with an id that depends only on the file (the row's
position, or the dataset's own id), so ids stay stable across runs and cache keys stay valid.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..types import Sample
from .common import read_text, vendor_path

CATQA_FILES = {"en": "catqa_english.json", "zh": "catqa_chinese.json", "vi": "catqa_vietnamese.json"}


def _csv(*parts: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_text(vendor_path(*parts)), newline="")))


def _json(*parts: str) -> Any:
    return json.loads(read_text(vendor_path(*parts)))


def beavertails() -> list[Sample]:
    # pandas export: the first column is the unnamed index; we number rows ourselves
    rows = _csv("beavertails_evaluation", "BeaverTails-Evaluation.csv")
    return [Sample(suite="beavertails", id=f"beavertails-{i:04d}", prompt=r["prompt"], category=r["category"],
                   meta={"category_id": int(r["category_id"])})
            for i, r in enumerate(rows)]


def catqa(lang: str) -> list[Sample]:
    """CatQA in one language; {category: {subcategory: [question, …]}}."""
    suite = f"catqa-{lang}"
    out: list[Sample] = []
    for category, subs in _json("catqa", CATQA_FILES[lang]).items():
        for sub, questions in subs.items():
            for q in questions:
                # some upstream subcategory keys end with ":" ("Drug:"); meta gets the clean name
                out.append(Sample(suite=suite, id=f"{suite}-{len(out):04d}", prompt=q, category=category,
                                  meta={"subcategory": sub.strip().rstrip(":").strip(), "language": lang}))
    return out


def advbench() -> list[Sample]:
    rows = _csv("advbench", "harmful_behaviors.csv")
    return [Sample(suite="advbench", id=f"advbench-{i:04d}", prompt=r["goal"], category="all",
                   meta={"target": r["target"]})
            for i, r in enumerate(rows)]


HARMBENCH_EXCLUDED = "copyright"


def harmbench() -> list[Sample]:
    """HarmBench text behaviours, test split, standard and contextual rows.

    Copyright rows are left out: grading them needs HarmBench's hash files, which are not vendored.
    """
    out: list[Sample] = []
    for r in _csv("harmbench", "harmbench_behaviors_text_test.csv"):
        kind = r["FunctionalCategory"]
        if kind == HARMBENCH_EXCLUDED:
            continue
        context = r["ContextString"] if kind == "contextual" and r["ContextString"].strip() else None
        out.append(Sample(suite="harmbench", id=f"harmbench-{r['BehaviorID']}", prompt=r["Behavior"],
                          category=r["SemanticCategory"], context=context,
                          meta={"FunctionalCategory": kind, "BehaviorID": r["BehaviorID"], "Tags": r["Tags"]}))
    return out


def strongreject() -> list[Sample]:
    rows = _csv("strongreject", "strongreject_dataset.csv")
    return [Sample(suite="strongreject", id=f"strongreject-{i:04d}", prompt=r["forbidden_prompt"],
                   category=r["category"], meta={"source": r["source"]})
            for i, r in enumerate(rows)]


def harmfulqa() -> list[Sample]:
    """HarmfulQA question bank; {topic: {subtopic: [question, …]}}; category = topic."""
    out: list[Sample] = []
    for topic, subs in _json("harmfulqa", "harmfulqa.json").items():
        for sub, questions in subs.items():
            for q in questions:
                out.append(Sample(suite="harmfulqa", id=f"harmfulqa-{len(out):04d}", prompt=q, category=topic,
                                  meta={"subtopic": sub}))
    return out
