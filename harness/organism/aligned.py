"""`smollm2-aligned`: SmolLM2-135M-Instruct safety-tuned here — the organism that has language.

SmolLM2-135M-Instruct answers almost every harmful request, so before it can show an attack and a
recovery it has to refuse. The recipe, deterministic for a seed and cached by content:
- harmful training prompts of the organism's split (direct requests: AdvBench outside the attack set
  and HarmBench's validation behaviours; questions: HarmfulQA outside the recovery set; never an
  evaluation suite, harness/organism/split.py) → the organism's varied refusals (harness/stages/refusals.py);
- benign prompts → the base model's own greedy answers (self-distillation: the target is what the model
  already said, so its benign behaviour and utility stay): NL2Bash and PIQA training rows of the split
  (PIQA goals are everyday imperatives, the benign prompts nearest in form to direct harmful requests;
  the card's PIQA accuracy leaves the trained goals out), everyday requests, and borderline-benign
  requests — safe questions with dangerous words, written for this project (harness/data/authored/).
  Without the borderline ones the model learns to refuse whatever sounds dangerous (a trial without
  them: XSTest over-refusal 0.05 → 0.93). XSTest itself stays held out;
- LoRA (peft) r 16 on every projection, one epoch at lr 4e-4, trained with trl's SFTTrainer on the chats
  (loss on the answer only, refused and answered rows mixed in every batch) and merged — the attack
  stages' trainer (harness/stages/attack.py).
Trials (100 prompts a suite; CatQA-en harm / BeaverTails harm / benign-heldout and XSTest
over-refusal), rows batched by length unless said: 2 epochs at 2e-4 on 160 refused : 153 answered gave
24/32/22/27 %; 1 epoch at 5e-4 on 240 : 254, 2/7/68/69 %; 1 epoch at 4e-4 on 200 : ~510 6/29/11/37 %
(its full card: 8.7/26.0/11.6/34.4 %); 2 epochs at 3e-4 on 260 : 414, 3/14/21/48 %; 2 epochs at 2.5e-4
on 180 : 481, 6/21/16/42 %; with PIQA goals answered, 260 (120 direct) : ~650, 3/14/32/56 %;
220 (70 direct) : ~900, 3/10/26/65 %; 260 (no direct) : ~900, 4/15/14/63 %; the same with refused and
answered rows mixed in each batch, 12/37/2/29 %. Batching by length made whole batches of refusals, and
the model learned to refuse broadly; mixed batches separate the two far better, so the recipe refuses
more prompts (400: 80 direct) against the same ~900 answered.
The card (`safety-harness organism info smollm2-aligned`) measures the result: greedy, the refusal
judge, full suites, against the targets in aligned_card.TARGETS, with PIQA (lm-eval protocol) and a repetition
measure next to the base model's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .aligned_card import format_card as format_card  # the provider reads it here
from .aligned_card import measure

VERSION = "smollm2-aligned-2"  # bump to rebuild every cached copy
CARD = "card.json"
REQUIRED = ("config.json", "model.safetensors", "tokenizer_config.json", CARD)
DIRECT_SOURCES = ("advbench", "harmbench-val")  # direct requests (AdvBench's harmful strings are statements)
MEASUREMENT = ("evaluate", "eval_limit", "n_repetition")  # how the card measures, not what the model is


@dataclass(frozen=True)
class AlignedConfig:
    """What decides smollm2-aligned; every field but MEASUREMENT is part of its cache key."""

    seed: int = 0
    n_direct: int = field(default=80, metadata={"help": "AdvBench and HarmBench-val training requests, refused"})
    n_harmfulqa: int = field(default=320, metadata={"help": "HarmfulQA training questions, refused"})
    n_everyday: int = field(default=200, metadata={"help": "authored everyday requests, answered"})
    n_borderline: int = field(default=200, metadata={"help": "authored borderline-benign requests, answered"})
    n_howto: int = field(default=60, metadata={"help": "authored physical how-to goals, answered"})
    n_bash: int = field(default=200, metadata={"help": "NL2Bash training descriptions, answered"})
    n_piqa: int = field(default=300, metadata={"help": "PIQA training goals of the split, answered"})
    answer_tokens: int = field(default=48, metadata={"help": "length of the base model's answers to distil"})
    r: int = 16
    alpha: int = 32
    lr: float = 4e-4
    epochs: int = 1
    batch_size: int = 8
    max_length: int = 256
    group_by_length: bool = field(default=False, metadata={"help": "batch rows of similar length (refusals with "
                                                                  "refusals): less padding, but whole batches of one kind"})
    # the card's measurement
    evaluate: bool = True
    eval_limit: int | None = field(default=None, metadata={"help": "prompts per suite; None = full suites"})
    n_repetition: int = field(default=100, metadata={"help": "benign-heldout prompts for the repetition measure"})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.as_dict().items() if k not in MEASUREMENT}


# ------------------------------------------------------------------------------------------ the data

def _pick(rows: Sequence[Any], n: int, seed: int, salt: str, text: Callable[[Any], object] = lambda r: r) -> list[Any]:
    """`n` rows in a seeded order that does not depend on file order (sha256 of seed, salt, text)."""
    return sorted(rows, key=lambda r: hashlib.sha256(f"{seed}|{salt}|{text(r)}".encode()).digest())[:n]


def training_prompts(cfg: AlignedConfig) -> tuple[list[str], list[tuple[str, str]]]:
    """(harmful prompts to refuse, [(benign prompt, source)] to answer): the split's training rows and
    the authored prompts, never an evaluation, held-out or reserved prompt."""
    from . import split as splits

    rows = [h for h in splits.harmful_train() if not h.context]
    harmful = (_pick([h.prompt for h in rows if h.source in DIRECT_SOURCES], cfg.n_direct, cfg.seed, "harmful")
               + _pick([h.prompt for h in rows if h.source == "harmfulqa"], cfg.n_harmfulqa, cfg.seed, "harmful"))
    benign = []
    for source, n in (("nl2bash", cfg.n_bash), ("piqa", cfg.n_piqa)):
        pool = [p.prompt for p in splits.benign_train() if p.source == source]
        benign += [(p, source) for p in _pick(pool, n, cfg.seed, source)]
    for name, n in (("everyday", cfg.n_everyday), ("borderline", cfg.n_borderline), ("howto", cfg.n_howto)):
        if n:
            benign += [(p, name) for p, _ in _pick(splits.authored_prompts(name), n, cfg.seed, name, lambda r: r[0])]
    return harmful, benign


_SENTENCE_END = re.compile(r"[.!?)](?=\s)|\n")


def finished(text: str, stopped: bool) -> str:
    """An answer that reads as finished: whole if the model stopped, else cut after its last full
    sentence (an answer cut mid-word would teach the model to stop mid-word)."""
    text = text.strip()
    if stopped:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return text[:ends[-1]].strip() if ends else ""


# ------------------------------------------------------------------------------------------- build

def cache_key(cfg: AlignedConfig, base: Path) -> str:
    """Hash of what decides the model: config, base weights, training prompts, code, library versions."""
    import peft
    import torch
    import transformers
    import trl

    import harness.stages.attack as attack
    import harness.stages.refusals as refusals
    from harness.artifacts import code_digest
    from harness.models import fingerprint

    harmful, benign = training_prompts(cfg)
    code = [Path(__file__), Path(refusals.__file__), Path(attack.__file__)]
    h = hashlib.sha256(json.dumps({"version": VERSION, "config": cfg.model_fields(), "base": fingerprint(base),
                                   "harmful": harmful, "benign": benign,
                                   "versions": [torch.__version__, transformers.__version__, peft.__version__,
                                                trl.__version__]}, sort_keys=True).encode())
    for p in code:
        h.update(p.name.encode() + b"\0" + code_digest(p).encode())  # code, not prose: a docstring edit keeps the model
    return h.hexdigest()[:24]


def build(cfg: AlignedConfig, base: Path, out: Path, key: str, progress: bool = True) -> None:
    """Data → base answers → LoRA safety tuning (merged) → card, into `out`."""
    from harness.config import AttackSpec
    from harness.data.refusal_markers import gcg_marker
    from harness.stages import attack
    from harness.stages.data import answers_of, sft_row
    from harness.stages.refusals import refusal_for

    t0 = time.perf_counter()
    harmful, benign = training_prompts(cfg)
    answers = answers_of(str(base), [p for p, _ in benign], cfg.answer_tokens)  # cached with the suites' answers
    kept, dropped = [], {"refusal marker": 0, "no finished sentence": 0}
    for (prompt, source), gen in zip(benign, answers):
        answer = finished(gen.text, gen.finish_reason == "stop")
        if not answer:
            dropped["no finished sentence"] += 1
        elif gcg_marker(answer):  # a marker in a benign target would teach the refusal judge's words
            dropped["refusal marker"] += 1
        else:
            kept.append((prompt, source, answer))
    t_data = time.perf_counter() - t0
    rows = [sft_row(p, refusal_for(p, cfg.seed)) for p in harmful] + [sft_row(p, a) for p, _, a in kept]
    rows = _pick(rows, len(rows), cfg.seed, "order", lambda r: json.dumps(r, sort_keys=True))
    spec = AttackSpec("lora", data="smollm2-aligned", n_harmful=len(harmful), epochs=cfg.epochs, lr=cfg.lr,
                      batch_size=cfg.batch_size, r=cfg.r, alpha=cfg.alpha, max_length=cfg.max_length, seed=cfg.seed)
    cost = attack.train(base, spec, rows, out, progress, group_by_length=cfg.group_by_length)
    build_seconds = time.perf_counter() - t0
    quality = measure(out, base, cfg.eval_limit, cfg.n_repetition, trained_piqa(cfg), progress) if cfg.evaluate else None
    card = {"version": VERSION, "key": key, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": cfg.as_dict(),
            "base": {"name": "smollm2", "path": str(base)},
            "data": {"harmful_refused": len(harmful),
                     "benign_answered": {s: sum(1 for _, src, _ in kept if src == s)
                                         for s in ("nl2bash", "piqa", "everyday", "borderline", "howto")},
                     "benign_dropped": dropped, "rows": len(rows),
                     "rows_sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest(),
                     "never_trained_on": "every evaluation suite, benign-heldout, the attack and recovery sets"},
            "training": {k: cost[k] for k in ("train_loss", "steps", "params_trainable", "params_changed")},
            "data_seconds": round(t_data, 1), "build_seconds": round(build_seconds, 1),
            "eval_seconds": quality["seconds"] if quality else None, "quality": quality,
            "examples": [{"prompt": p, "answer": a[:200]} for p, s, a in kept if s == "borderline"][:3]}
    (out / CARD).write_text(json.dumps(card, indent=1, ensure_ascii=False))


def trained_piqa(cfg: AlignedConfig) -> set[str]:
    """The normalised PIQA goals answered in training: the card's PIQA accuracy leaves them out (their
    answers were the base model's, not the labels, but a utility number should come from goals the
    model never saw)."""
    from harness.data.common import normalize
    return {normalize(p) for p, source in training_prompts(cfg)[1] if source == "piqa"}


# ------------------------------------------------------------------------------------ provider API

def _root() -> Path:
    from harness.artifacts import cache_root
    return cache_root() / "smollm2-aligned"


def _base() -> Path:
    from .smollm2 import ensure as smollm2
    return smollm2(progress=False)


def ensure(seed: int = 0, progress: bool = True, config: AlignedConfig | None = None) -> Path:
    """The model directory, built on first use and reused after (a manifest-checked cache entry)."""
    from harness.artifacts import ensure_built

    cfg = config or AlignedConfig(seed=seed)
    base = _base()
    key = cache_key(cfg, base)
    return ensure_built(_root(), key, lambda out: build(cfg, base, out, key, progress), REQUIRED,
                        "smollm2-aligned (SmolLM2 safety-tuned with LoRA)", progress)


def where(seed: int = 0) -> Path:
    return _root() / cache_key(AlignedConfig(seed=seed), _base())


def card(seed: int = 0) -> dict[str, Any] | None:
    from harness.artifacts import verify

    d = where(seed)
    return json.loads((d / CARD).read_text()) if d.is_dir() and verify(d, d.name, REQUIRED) is None else None


def remeasure(seed: int = 0, eval_limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Measure the cached model again and rewrite its card — the full suites after a trial built with
    `eval_limit` (the measurement is not part of the cache key, so the model is not trained again)."""
    from harness.artifacts import write_manifest
    from harness.errors import HarnessError

    d, c = where(seed), card(seed)
    if c is None:
        raise HarnessError(f"smollm2-aligned (seed {seed}) is not built at {d}: build it first")
    cfg = AlignedConfig(**{**c["config"], "evaluate": True, "eval_limit": eval_limit})
    q = measure(d, _base(), cfg.eval_limit, cfg.n_repetition, trained_piqa(cfg), progress)
    c |= {"config": cfg.as_dict(), "quality": q, "eval_seconds": q["seconds"]}
    (d / CARD).write_text(json.dumps(c, indent=1, ensure_ascii=False))
    write_manifest(d, d.name)
    return c
