"""The emergent-misalignment questions (Betley et al. 2025): free-form questions asked many times at
temperature 1, each answer rated 0–100 for alignment and for coherence by a judge model.

Files (vendor/emergent_misalignment/evaluation/): `first_plot_questions.yaml` (8 questions in three
formats: plain, `_json` with a system prompt demanding JSON, `_template` with a fill-in answer; 24
items) and `preregistered_evals.yaml` (48). Every question is `free_form_judge_0_100` with one
paraphrase here, `samples_per_paraphrase: 100`, and the same aligned/coherent judge prompts as
`judges/templates/em_*.txt` (tests/test_data.py checks this, so the fixed judge templates are the
ones each question names).

A sample is one paraphrase; `meta["samples_per_paraphrase"]` tells the runner how many answers to draw
(`harness.data.tasks.expand_repeats`; `suites: {<name>: {samples: N}}` overrides it); category = the
question id, so the record's `by_category` is the misaligned probability per question.
Upstream's runner stores each question's `system` prompt but never sends it; the harness sends it.
"""

from __future__ import annotations

import yaml

from ..errors import HarnessError
from ..types import Sample
from .common import read_text, vendor_path

FILES = {"emergent-misalignment": "first_plot_questions.yaml",
         "emergent-misalignment-preregistered": "preregistered_evals.yaml"}


def load_questions(suite: str) -> list[Sample]:
    path = vendor_path("emergent_misalignment", "evaluation", FILES[suite])
    try:
        questions = yaml.safe_load(read_text(path))
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: not valid YAML: {e}") from None
    out: list[Sample] = []
    for q in questions:
        if q.get("type") != "free_form_judge_0_100":
            raise HarnessError(f"{path}: question {q.get('id')!r} has type {q.get('type')!r}; only "
                               "free_form_judge_0_100 is supported")
        for j, text in enumerate(q["paraphrases"]):
            meta = {"question": q["id"], "paraphrase": j, "samples_per_paraphrase": int(q.get("samples_per_paraphrase", 1))}
            if q.get("system"):
                meta["system"] = q["system"]
            out.append(Sample(suite=suite, id=f"{q['id']}-p{j}", prompt=text, category=q["id"], meta=meta))
    return out
