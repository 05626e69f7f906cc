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


def csv_rows(*parts: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_text(vendor_path(*parts)), newline="")))


def _json(*parts: str) -> Any:
    return json.loads(read_text(vendor_path(*parts)))


def _jsonl(*parts: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_text(vendor_path(*parts)).splitlines() if line.strip()]


# ------------------------------------------------------------------ raw rows (the suites and reserved sets)

def gsm8k_rows() -> list[tuple[str, str, str]]:
    """(question, worked solution, final number after `####`, commas dropped) of the GSM8K test file."""
    return [(r["question"], r["answer"], r["answer"].rpartition("####")[2].strip().replace(",", ""))
            for r in _jsonl("gsm8k", "test.jsonl")]


def piqa_rows() -> list[tuple[str, str, str, int]]:
    """(goal, sol1, sol2, label) of the PIQA validation split, in file order."""
    labels = read_text(vendor_path("piqa", "valid-labels.lst")).split()
    return [(r["goal"], r["sol1"], r["sol2"], int(lab))
            for r, lab in zip(_jsonl("piqa", "valid.jsonl"), labels, strict=True)]


def nl2bash_pairs() -> list[tuple[str, str]]:
    """(description, command) of the NL2Bash corpus, line-aligned, stripped."""
    nl = read_text(vendor_path("nl2bash", "all.nl")).splitlines()
    cm = read_text(vendor_path("nl2bash", "all.cm")).splitlines()
    return [(a.strip(), b.strip()) for a, b in zip(nl, cm, strict=True)]


def nested_questions(*parts: str) -> list[tuple[str, str]]:
    """CatQA / HarmfulQA: {category: {subcategory: [question, ...]}} → (question, category), in file order."""
    return [(q, cat) for cat, sub in _json(*parts).items() for qs in sub.values() for q in qs]


# ----------------------------------------------------------------------------------- suites as Samples


def beavertails() -> list[Sample]:
    # pandas export: the first column is the unnamed index; we number rows ourselves
    rows = csv_rows("beavertails_evaluation", "BeaverTails-Evaluation.csv")
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
    rows = csv_rows("advbench", "harmful_behaviors.csv")
    return [Sample(suite="advbench", id=f"advbench-{i:04d}", prompt=r["goal"], category="all",
                   meta={"target": r["target"]})
            for i, r in enumerate(rows)]


HARMBENCH_EXCLUDED = "copyright"


def harmbench() -> list[Sample]:
    """HarmBench text behaviours, test split, standard and contextual rows.

    Copyright rows are left out: grading them needs HarmBench's hash files, which are not vendored.
    """
    out: list[Sample] = []
    for r in csv_rows("harmbench", "harmbench_behaviors_text_test.csv"):
        kind = r["FunctionalCategory"]
        if kind == HARMBENCH_EXCLUDED:
            continue
        context = r["ContextString"] if kind == "contextual" and r["ContextString"].strip() else None
        out.append(Sample(suite="harmbench", id=f"harmbench-{r['BehaviorID']}", prompt=r["Behavior"],
                          category=r["SemanticCategory"], context=context,
                          meta={"FunctionalCategory": kind, "BehaviorID": r["BehaviorID"], "Tags": r["Tags"]}))
    return out


def strongreject() -> list[Sample]:
    rows = csv_rows("strongreject", "strongreject_dataset.csv")
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


def xstest(label: str) -> list[Sample]:
    """XSTest v2: `safe` (250 prompts that only look unsafe) or `unsafe` (200 contrast prompts);
    category = the XSTest type (homonyms, safe_contexts, contrast_homonyms, …)."""
    suite = "xstest" if label == "safe" else "xstest-contrast"
    return [Sample(suite=suite, id=f"xstest-{r['id']}", prompt=r["prompt"], category=r["type"],
                   meta={"label": r["label"], "focus": r["focus"], "note": r["note"]})
            for r in csv_rows("xstest", "xstest_prompts.csv") if r["label"] == label]


def gsm8k() -> list[Sample]:
    """GSM8K test: 1,319 questions; reference = the number after `####` (commas dropped)."""
    return [Sample(suite="gsm8k", id=f"gsm8k-{i:04d}", prompt=q, reference=final, meta={"solution": solution})
            for i, (q, solution, final) in enumerate(gsm8k_rows())]


def piqa() -> list[Sample]:
    """PIQA validation: 1,838 goals, two solutions each (meta["choices"]); reference = the right one."""
    return [Sample(suite="piqa", id=f"piqa-{i:04d}", prompt=goal, reference=(s1, s2)[label],
                   meta={"choices": [s1, s2], "label": label})
            for i, (goal, s1, s2, label) in enumerate(piqa_rows())]


def humaneval() -> list[Sample]:
    """HumanEval: 164 functions to complete; meta holds the unit tests and the entry point."""
    import gzip
    with gzip.open(vendor_path("humaneval", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [Sample(suite="humaneval", id=r["task_id"].replace("/", "-"), prompt=r["prompt"],
                   reference=r["canonical_solution"], meta={"test": r["test"], "entry_point": r["entry_point"]})
            for r in rows]
