"""The default utility protocol is lm-evaluation-harness's: run lm-eval itself and compare, item by item.

lm-eval (a test dependency) evaluates a local copy of its own `piqa` task (the same doc_to_text,
doc_to_choice and metrics as lm_eval/tasks/piqa/piqa.yaml, the data read from the vendored file) on
SmolLM2-135M-Instruct through its HF model class; the harness answers the same 200 PIQA items through
its own hf backend and scorer. They must pick the same solution on at least 99 % of items and agree on
`acc` within half a point (float32 on both sides: in practice they agree exactly).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backends import BackendSpec, respond
from harness.config import GenerationConfig
from harness.data import load_suite, suite_info
from harness.data.tasks import request
from harness.judging import JudgeInput
from harness.models import resolve_model
from judges.answers import AnswerScorer

pytestmark = pytest.mark.slow
N = 200

TASK_YAML = """\
task: piqa_vendored
dataset_path: json
dataset_kwargs:
  data_files:
    validation: {data}
output_type: multiple_choice
validation_split: validation
doc_to_text: "Question: {{{{goal}}}}\\nAnswer:"
doc_to_target: label
doc_to_choice: "{{{{[sol1, sol2]}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def items():
    return load_suite("piqa", limit=N)


@pytest.fixture(scope="module")
def lm_eval_picks(smollm2_dir: Path, items, tmp_path_factory) -> list[dict]:
    """lm-eval's own run: per item, the log-likelihood of each solution."""
    pytest.importorskip("lm_eval")
    import lm_eval
    from lm_eval.tasks import TaskManager

    d = tmp_path_factory.mktemp("lm-eval")
    data = d / "piqa.jsonl"
    data.write_text("".join(json.dumps({"goal": s.prompt, "sol1": s.meta["choices"][0], "sol2": s.meta["choices"][1],
                                        "label": s.meta["label"]}) + "\n" for s in items), encoding="utf-8")
    (d / "piqa_vendored.yaml").write_text(TASK_YAML.format(data=data), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:  # everything is local: never wait on a hub
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={smollm2_dir},dtype=float32,device=cpu",
                                      tasks=["piqa_vendored"], task_manager=TaskManager(include_path=str(d)),
                                      batch_size=16, log_samples=True)
    rows = sorted(out["samples"]["piqa_vendored"], key=lambda r: r["doc_id"])
    return [{"lls": [float(r[0]) for r in row["filtered_resps"]], "acc": row["acc"], "acc_norm": row["acc_norm"]}
            for row in rows]


@pytest.fixture(scope="module")
def harness_picks(smollm2_dir: Path, items) -> list[dict]:
    from harness.backends.hf import HFBackend

    task = suite_info("piqa").task
    backend = HFBackend(resolve_model(str(smollm2_dir)), BackendSpec("hf"))
    try:
        gens = respond(backend, [request(s, task, GenerationConfig()) for s in items])
    finally:
        backend.close()
    verdicts = AnswerScorer()([JudgeInput(s.prompt, g.text, reference=task.reference(s), choice_scores=g.logprobs[0])
                               for s, g in zip(items, gens)])
    return [{"lls": [g.logprobs[0][c] for c in s.meta["choices"]], "pick": s.meta["choices"].index(g.text),
             "acc": float(v.correct), "acc_norm": v.score} for s, g, v in zip(items, gens, verdicts)]


def test_the_harness_scores_piqa_as_lm_eval_does(lm_eval_picks, harness_picks):
    assert len(lm_eval_picks) == len(harness_picks) == N
    theirs = [max(range(2), key=lambda k: (r["lls"][k], -k)) for r in lm_eval_picks]
    same = sum(a == h["pick"] for a, h in zip(theirs, harness_picks))
    assert same >= 0.99 * N, f"same choice on {same}/{N} items"
    acc_l = sum(r["acc"] for r in lm_eval_picks) / N
    acc_h = sum(r["acc"] for r in harness_picks) / N
    assert abs(acc_l - acc_h) <= 0.005, (acc_l, acc_h)
    norm_l = sum(r["acc_norm"] for r in lm_eval_picks) / N
    norm_h = sum(r["acc_norm"] for r in harness_picks) / N
    assert abs(norm_l - norm_h) <= 0.005, (norm_l, norm_h)
    # the scores themselves, not just the argmax: same tokens scored by the same weights
    worst = max(abs(a - b) for r, h in zip(lm_eval_picks, harness_picks) for a, b in zip(r["lls"], h["lls"]))
    assert worst < 1e-2, worst
    print(f"\nPIQA {N} items: lm-eval acc {acc_l:.3f} acc_norm {norm_l:.3f}; harness acc {acc_h:.3f} "
          f"acc_norm {norm_h:.3f}; same choice {same}/{N}; max |Δ log-likelihood| {worst:.2e}")
