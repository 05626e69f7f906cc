"""The utility check inside a recovery: how much of the task a model still does, measured between rounds.

Yang et al.'s (S&P'25) warm-up and fuse compare the task's own metric on held-out task data before and
after restoration (LLMAlignment `run_eval_exp.py`). Here the task rows a recovery uses are split in
two, by a seeded shuffle: the first `n_task` give the benign direction and the rollback gradients, the
next `n_utility` are held out and scored the way the `benign-heldout` suite scores them (greedy chat
answers; GSM8K by its final number, PIQA by the closer solution, NL2Bash by exact command match,
judges/answers.py). A JSONL task has no scorer, so it (and `utility: token-accuracy`) falls back to
teacher-forced next-token accuracy on the held-out rows' answers: no generation, cheaper on a CPU,
but a proxy rather than the task's metric.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from harness.types import Sample

from .data import TASKS, load_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from harness.data.tasks import Task

UTILITY_TOKENS = 128  # the harness's default answer length: a GSM8K answer needs its final number


def task_split(task: str, n_task: int, n_utility: int, seed: int) -> tuple[list[tuple[str, str, str]],
                                                                          list[tuple[str, str, str]]]:
    """(rows for the benign direction and rollback, held-out rows for the utility check), disjoint;
    each row (prompt, answer, source)."""
    from harness.data.reserved import task_pairs

    if task == "benign-train":
        rows = [(p.prompt, p.response, p.source) for p in task_pairs()]
    elif task in TASKS:
        rows = [(p.prompt, p.response, p.source) for p in task_pairs(task)]
    else:
        rows = [(r["prompt"][-1]["content"], r["completion"][-1]["content"], "jsonl")
                for r in load_jsonl(Path(task).expanduser(), preference=False)]
    random.Random(seed).shuffle(rows)
    return rows[:n_task], rows[n_task:n_task + n_utility]


@dataclass
class Utility:
    """`utility(model, tokenizer)` → the share of the held-out rows the model gets right (or its token
    accuracy on them); `metric` says which."""

    rows: Sequence[tuple[str, str, str]]
    metric: str  # "task" or "token-accuracy"

    @classmethod
    def of(cls, rows: Sequence[tuple[str, str, str]], metric: str) -> "Utility":
        if not rows:
            from harness.errors import HarnessError
            raise HarnessError("recoveries: no task rows are left for the utility check after `n_task`; "
                               "lower `n_task` or give a larger task")
        scored = metric == "task" and all(source != "jsonl" for _, _, source in rows)
        return cls(rows, "task" if scored else "token-accuracy")

    def __call__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> float:
        if self.metric == "token-accuracy":
            return token_accuracy(model, tokenizer, [(p, a) for p, a, _ in self.rows])
        from judges.answers import AnswerScorer

        from .generation import generate

        task = _heldout_task()
        samples = [_sample(i, *row) for i, row in enumerate(self.rows)]
        answers = generate(model, tokenizer, [s.prompt for s in samples], max_new_tokens=UTILITY_TOKENS, batch_size=16)
        scorer = AnswerScorer()
        return sum(bool(scorer.score(text, task.reference(s)).correct) for s, (text, _) in zip(samples, answers)) / len(samples)


def _heldout_task() -> Task:
    from harness.data import suite_info
    return suite_info("benign-heldout").task


def _sample(i: int, prompt: str, answer: str, source: str) -> Sample:
    """A held-out task row as a `benign-heldout` sample: the reference its rule reads."""
    from harness.data.suites import piqa_choices
    from judges.answers import extract_number

    reference = extract_number(answer) if source == "gsm8k" else answer  # the split's "The answer is N."
    meta = {"choices": piqa_choices(prompt)} if source == "piqa" else {}
    return Sample("benign-heldout", f"utility-{i:03d}", prompt, category=source, reference=reference, meta=meta)


def token_accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]],
                   batch_size: int = 16) -> float:
    """Teacher-forced next-token accuracy on the answers of (prompt, answer) pairs (right-padded batches:
    a causal model's logits before the padding do not see it)."""
    import torch

    from .generation import rendered

    seqs = [(tokenizer(t, add_special_tokens=False)["input_ids"],
             tokenizer(a, add_special_tokens=False)["input_ids"][:64] + [tokenizer.eos_token_id])
            for t, (_, a) in zip(rendered(tokenizer, [p for p, _ in pairs]), pairs)]
    right = total = 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        for i in range(0, len(seqs), batch_size):
            part = seqs[i:i + batch_size]
            width = max(len(p) + len(a) for p, a in part)
            ids = torch.full((len(part), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (p, a) in enumerate(part):
                ids[row, :len(p) + len(a)] = torch.tensor(p + a)
                mask[row, :len(p) + len(a)] = 1
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits.cpu()
            for row, (p, a) in enumerate(part):
                pred = logits[row, len(p) - 1:len(p) + len(a) - 1].argmax(-1)
                right += int((pred == torch.tensor(a)).sum())
                total += len(a)
    return right / max(total, 1)
