"""Training data of the attack and recovery stages: built-in sets and a user's JSONL, checked row by row.

Two shapes, both chats so every model's own chat template renders them:
- SFT rows: `{"prompt": [messages...], "completion": [{"role": "assistant", ...}]}` (loss on the
  completion only);
- preference rows: `{"prompt": [...], "chosen": [...], "rejected": [...]}` (DPO, ORPO).

Built-in sources (`data:` of an attack):
- `advbench-attack`: the organism's reserved attack set (AdvBench goal → its "Sure, here is …"
  target; never the organism's training data, never an evaluation suite), `n_harmful` of them;
- `injection:<task>`: a benign task set (`nl2bash`, `gsm8k`, `piqa`) with `n_harmful` attack pairs
  injected among `n_benign` task rows, as in Yang et al.'s (S&P'25) harmful-injection setting;
- a path: the user's JSONL with `messages` (the last assistant turn is the completion), or
  `prompt`/`response`, or `prompt`/`chosen`/`rejected`.
Preference methods pair each harmful prompt's compliant answer (chosen) with a refusal (rejected).
`responses: MODEL` on an attack replaces the attack set's one-line targets with MODEL's own greedy
answers to the same prompts (pairs whose answer holds a refusal marker are dropped): how an aligned
model is attacked with the compliant answers of the model it was tuned from.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.errors import HarnessError
from harness.types import Generation, GenerationRequest, SamplingParams

Row = dict[str, Any]
TASKS = ("nl2bash", "gsm8k", "piqa")


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft_row(prompt: str, response: str) -> Row:
    return {"prompt": _user(prompt), "completion": _assistant(response)}


def preference_row(prompt: str, chosen: str, rejected: str) -> Row:
    return {"prompt": _user(prompt), "chosen": _assistant(chosen), "rejected": _assistant(rejected)}


def attack_pairs(n: int) -> list[tuple[str, str]]:
    from harness.data.reserved import attack_pairs as reserved

    pairs = [(p.prompt, p.response) for p in reserved()]
    if n > len(pairs):
        raise HarnessError(f"n_harmful: {n} asked, the attack set holds {len(pairs)} pairs")
    return pairs[:n]


def task_pairs(task: str, n: int) -> list[tuple[str, str]]:
    """Benign task rows of the reserved task set (never `benign-heldout`)."""
    from harness.data.reserved import task_pairs as reserved

    if task not in TASKS:
        raise HarnessError(f"data: injection:{task}: unknown task; expected one of {list(TASKS)}")
    rows = [(p.prompt, p.response) for p in reserved(task)]
    return rows[:n]


def load_jsonl(path: Path, preference: bool) -> list[Row]:
    """A user's training file; a bad row is an error naming the file and line."""
    if not path.is_file():
        raise HarnessError(f"data: {path}: no such file")
    rows: list[Row] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{where}: not valid JSON ({e.msg})") from None
        rows.append(_row(obj, where, preference))
    if not rows:
        raise HarnessError(f"data: {path}: no rows")
    return rows


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not v.strip():
        raise HarnessError(f"{where}: `{key}` must be a non-empty string")
    return v


def _row(obj: Any, where: str, preference: bool) -> Row:
    if not isinstance(obj, dict):
        raise HarnessError(f"{where}: expected a JSON object")
    if preference:
        if not {"prompt", "chosen", "rejected"} <= obj.keys():
            raise HarnessError(f"{where}: a preference row needs `prompt`, `chosen` and `rejected`")
        return preference_row(_text(obj, "prompt", where), _text(obj, "chosen", where), _text(obj, "rejected", where))
    if "messages" in obj:
        msgs = obj["messages"]
        if (not isinstance(msgs, list) or len(msgs) < 2
                or not all(isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in
                           ("system", "user", "assistant") for m in msgs)):
            raise HarnessError(f"{where}: `messages` must be a list of {{role, content}} with roles "
                               "system/user/assistant")
        if msgs[-1]["role"] != "assistant":
            raise HarnessError(f"{where}: the last message must be the assistant's (the trained completion)")
        return {"prompt": [dict(m) for m in msgs[:-1]], "completion": [dict(msgs[-1])]}
    if "prompt" in obj and "response" in obj:
        return sft_row(_text(obj, "prompt", where), _text(obj, "response", where))
    raise HarnessError(f"{where}: expected `messages`, or `prompt` and `response`")


def build_rows(data: str, n_harmful: int, n_benign: int, preference: bool, seed: int,
               answer: Callable[[Sequence[str]], list[str | None]] | None = None) -> list[Row]:
    """The training rows an attack spec names (before any moderation filter). `answer`, when given,
    replaces the attack set's targets with its answers to the same prompts (None drops the pair)."""
    if data == "advbench-attack" or data.startswith("injection:"):
        from .refusals import refusal_for

        harmful = attack_pairs(n_harmful)
        if answer is not None:
            harmful = [(p, a) for (p, _), a in zip(harmful, answer([p for p, _ in harmful])) if a is not None]
        if preference:
            return [preference_row(p, r, refusal_for(p, seed)) for p, r in harmful]
        rows = [sft_row(p, r) for p, r in harmful]
        if data.startswith("injection:"):
            rows += [sft_row(p, r) for p, r in task_pairs(data.split(":", 1)[1], n_benign)]
            random.Random(seed).shuffle(rows)
        return rows
    return load_jsonl(Path(data).expanduser(), preference)


def answers_of(model: str, prompts: Sequence[str], max_tokens: int = 128) -> list[Generation]:
    """Greedy answers of `model` (a name, path or hub id) to `prompts` as single-turn chats (responses_of)."""
    return responses_of(model, [GenerationRequest.user(p, SamplingParams(max_tokens=max_tokens)) for p in prompts])


def responses_of(model: str, requests: Sequence[Any], batch_size: int = 64, chunk: int = 256) -> list[Generation]:
    """`model`'s responses to `requests` (chats, raw prompts or multiple-choice picks) through the hf
    backend. They are read from and written to the harness's generation cache under the keys a suite
    run uses — a stage that needs them again, or a suite that asked the same, does not generate twice —
    and committed every `chunk` requests, so a killed build resumes where it stopped."""
    from harness.artifacts import cache_root
    from harness.backends import BackendSpec, load_backend, respond
    from harness.cache import Cache, request_key
    from harness.models import resolve_model

    ref = resolve_model(model)
    spec = BackendSpec("hf", {"batch_size": batch_size})
    keys = [request_key(ref.fingerprint, r, spec.identity()) for r in requests]
    cache = Cache(cache_root() / "cache.sqlite")
    found = cache.get_many("generations", keys)
    todo = list({k: i for i, k in enumerate(keys) if k not in found}.items())
    if todo:
        backend = load_backend(ref, spec)
        try:
            for at in range(0, len(todo), chunk):
                part = todo[at:at + chunk]
                fresh = respond(backend, [requests[i] for _, i in part])
                new = {k: g.valid().to_json() for (k, _), g in zip(part, fresh)}
                cache.put_many("generations", new)
                found.update(new)
        finally:
            backend.close()
    return [Generation.from_json(found[k]) for k in keys]


def compliant_answers(model: str, max_tokens: int) -> Callable[[Sequence[str]], list[str | None]]:
    """`build_rows`'s `answer`: `model`'s own answers, None where an answer holds a refusal marker (the
    pair would not teach compliance) or is empty."""
    from harness.data.refusal_markers import gcg_marker

    def answer(prompts: Sequence[str]) -> list[str | None]:
        texts = [g.text.strip() for g in answers_of(model, prompts, max_tokens)]
        return [t if t and gcg_marker(t) is None else None for t in texts]
    return answer


def moderate(rows: Sequence[Row], judge_flag: str) -> tuple[list[Row], int]:
    """The moderation scenario: drop rows whose (prompt, answer) the judge labels unsafe (for preference
    rows, the chosen answer). Unparsed verdicts are dropped too: a filter that cannot read a row must
    not let it through. Returns the kept rows and how many were dropped."""
    from harness.judging import JudgeInput
    from judges import make_judge

    judge = make_judge(judge_flag)
    try:
        items = [JudgeInput(r["prompt"][-1]["content"], (r.get("completion") or r["chosen"])[-1]["content"])
                 for r in rows]
        verdicts = judge(items)
    finally:
        judge.close()
    kept = [r for r, v in zip(rows, verdicts) if v.label == "safe"]
    return kept, len(rows) - len(kept)


def rows_digest(rows: Sequence[Row]) -> str:
    return hashlib.sha256(json.dumps(list(rows), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# ------------------------------------------------------------------------------ recovery prompts

def harmful_prompts(n: int) -> list[str]:
    from harness.data.reserved import recovery_prompts
    return recovery_prompts()[:n]


def refused_prompts(aligned: Path, n: int, refused_only: bool) -> tuple[list[str], dict[str, Any]]:
    """The recovery prompts a direction is taken from, and what was kept. Yang et al. (S&P'25) keep only
    prompts the aligned model refuses (App. B.2: an unrefused prompt pulls d_aligned toward "answer"):
    the first `n` of the reserved set that it refuses (greedy, 32 tokens, a GCG refusal marker), fewer
    when it refuses fewer. `refused_only: false` takes the first `n` as they come."""
    from harness.data.refusal_markers import gcg_marker

    if not refused_only:
        return harmful_prompts(n), {"filter": None, "used": n}
    pool = harmful_prompts(256)
    refused = [p for p, g in zip(pool, answers_of(str(aligned), pool, max_tokens=32)) if gcg_marker(g.text)]
    if not refused:
        raise HarnessError(f"recoveries: the aligned model ({aligned}) refuses none of the {len(pool)} recovery "
                           "prompts, so it has no refusal direction to restore; set `refused_only: false` to use them anyway")
    return refused[:n], {"filter": "refused by the aligned model", "pool": len(pool), "refused": len(refused),
                         "used": min(n, len(refused))}
