"""Recovery stages: realign a fine-tuned checkpoint, keeping what it learned. `recovered/<name>`.

- `direction-restore`: Yang et al.'s (S&P'25) algorithm (restore.py).
- `resta` (Bhardwaj et al. 2024): θ_ft + γ·(θ_aligned − θ_unaligned), the safety vector taken from an
  attack stage trained on harmful data; `dare` > 0 first drops that share of the fine-tuning delta
  θ_ft − θ_aligned at random and rescales the rest (DARE), as RESTA's optional step.
- `antidote` (Huang et al. 2025): Wanda pruning of the harmful weights (antidote.py).
- `steering`: the paper's inference-time baseline, α·(d_aligned − d_finetuned) (or its component
  orthogonal to d_aligned) added to the residual stream at the direction layer, baked into a bias.
- `dpo-realign`: DPO (trl) on the recovery prompts with a refusal preferred over the fine-tuned model's
  own greedy answer (on-policy rejected answers), LoRA merged, as the attack stages train.
Harmful prompts come from the reserved recovery set (256 HarmfulQA questions, disjoint from every
evaluated suite; for the direction methods only those the aligned model refuses, as the paper keeps);
benign task rows from `task` (`benign-train`: the reserved task rows of all three sources;
`nl2bash`/`gsm8k`/`piqa`: one of them; or a JSONL of prompt/response).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from harness.config import Antidote, AttackSpec, DirectionRestore, DpoRealign, RecoverySpec, Resta, Steering
from harness.errors import HarnessError

from .antidote import antidote, calibration_texts
from .checkpoints import changed_params, cost_since, load_tokenizer, load_weights, save_state
from .data import harmful_prompts, refused_prompts


def resta(aligned: Path, finetuned: Path, unaligned: Path, out: Path, gamma: float, dare: float,
          seed: int) -> dict[str, Any]:
    import torch

    a, f, u = load_weights(aligned), load_weights(finetuned), load_weights(unaligned)
    gen = torch.Generator().manual_seed(seed)
    new = {}
    for k, wf in f.items():
        w = wf.float()
        if dare > 0 and k in a:
            delta = w - a[k].float()
            keep = torch.rand(delta.shape, generator=gen) >= dare
            w = a[k].float() + delta * keep / (1 - dare)
        if k in a and k in u:
            w = w + gamma * (a[k].float() - u[k].float())
        new[k] = w
    save_state(new, finetuned, out)
    return {"gamma": gamma, "dare": dare}


def dpo_realign(finetuned: Path, out: Path, spec: DpoRealign, seed: int, prompts: Sequence[str],
                progress: bool) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    from . import attack
    from .data import preference_row
    from .generation import generate
    from .refusals import refusal_for

    model, tok = AutoModelForCausalLM.from_pretrained(str(finetuned)).eval(), load_tokenizer(finetuned)
    answers = [t for t, _ in generate(model, tok, prompts, max_new_tokens=64)]
    del model
    rows = [preference_row(p, refusal_for(p, seed), a or "Sure.") for p, a in zip(prompts, answers)]
    screening = None
    if spec.ches_filter:
        from .ches import filter_rows
        rows, screening = filter_rows(finetuned, rows, spec.ches_filter, progress=progress)
    dpo = AttackSpec("dpo", epochs=spec.epochs, lr=spec.lr, beta=spec.beta, seed=seed, n_harmful=len(rows))
    cost = attack.train(finetuned, dpo, rows, out, progress)
    return {"train_loss": cost["train_loss"], "steps": cost["steps"], "params_trainable": cost["params_trainable"],
            "ches": screening}


def steering(aligned: Path, finetuned: Path, out: Path, prompts: Sequence[str], layer: int | None, coef: float,
             orthogonal: bool, batch_size: int) -> dict[str, Any]:
    """Inference-time steering baked into a checkpoint: v = d_aligned − d_finetuned (harmful directions at
    layer L), or its component orthogonal to d_aligned; α·v is added to the residual stream after
    layer L at every position, as a bias on that layer's MLP down projection (Llama's `mlp_bias`). The
    result is a plain checkpoint, so every backend (vLLM included) applies the steering."""
    import torch
    from transformers import AutoModelForCausalLM

    from .directions import direction, direction_layer

    tok = load_tokenizer(finetuned)
    ft = AutoModelForCausalLM.from_pretrained(str(finetuned), dtype=torch.float32).eval()
    if getattr(ft.config, "model_type", None) != "llama":
        raise HarnessError(f"recoveries: steering bakes its vector into Llama's MLP bias; {ft.config.model_type} "
                           "models are not supported")
    L = layer or direction_layer(ft.config.num_hidden_layers)
    d_ft = direction(ft, tok, prompts, L, batch_size)
    d_a = direction(AutoModelForCausalLM.from_pretrained(str(aligned), dtype=torch.float32).eval(), tok, prompts, L,
                    batch_size)
    v = d_a - d_ft
    if orthogonal:
        unit = d_a / d_a.norm()
        v = v - (v @ unit) * unit
    cfg = ft.config
    cfg.mlp_bias = True
    steered = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    state = {k: t for k, t in ft.state_dict().items()}
    for name, t in steered.state_dict().items():
        if name.endswith(".bias"):
            state[name] = torch.zeros_like(t)
    state[f"model.layers.{L - 1}.mlp.down_proj.bias"] = coef * v
    steered.load_state_dict(state)
    steered.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return {"direction_layer": L, "coef": coef, "orthogonal": orthogonal, "vector_norm": round(float(v.norm()), 5)}


def recover(spec: RecoverySpec, aligned: Path, finetuned: Path, unaligned: Path | None, out: Path,
            progress: bool) -> dict[str, Any]:
    """Run `spec.method`; write the checkpoint to `out`; return the method's log plus the cost."""
    t0 = time.perf_counter()
    kept: dict[str, Any] | None = None
    s = spec.settings
    if isinstance(s, (DirectionRestore, Steering)):  # the methods that take the aligned model's direction
        prompts, kept = refused_prompts(aligned, spec.n_recovery, s.refused_only)
        t0 = time.perf_counter()  # the filter's answers are the aligned model's, cached: not the method's cost
    if isinstance(s, DirectionRestore):
        from .restore import direction_restore
        from .utility import Utility, task_split
        rows, held_out = task_split(s.task, s.n_task, s.n_utility, spec.seed)
        log = direction_restore(aligned, finetuned, out, prompts, [p for p, _, _ in rows],
                                Utility.of(held_out, s.utility), rate=s.rate,
                                rollback_rate=s.rollback_rate, rounds=s.rounds, warmup=s.warmup,
                                drop=s.drop, layer=s.layer, batch_size=spec.batch_size,
                                check_every=s.check_every, accumulate_grads=s.accumulate_grads,
                                rollback_of=s.rollback_of, progress=progress)
    elif isinstance(s, Resta):
        if unaligned is None:  # RecoverySpec refuses this already; kept for direct callers
            raise HarnessError("recoveries: resta needs `unaligned: attacked/<name>` (a model trained on harmful data)")
        log = resta(aligned, finetuned, unaligned, out, s.gamma, s.dare, spec.seed)
    elif isinstance(s, Antidote):
        texts, calibration = calibration_texts(s, finetuned, load_tokenizer(finetuned))
        t0 = time.perf_counter()  # the fine-tuned model's answers are cached generations: not the method's cost
        log = antidote(aligned, finetuned, out, texts, s.dense_ratio, spec.batch_size, s.prune)
        log["calibration"] = calibration
    elif isinstance(s, Steering):
        log = steering(aligned, finetuned, out, prompts, s.layer, s.coef, s.orthogonal, spec.batch_size)
    elif isinstance(s, DpoRealign):
        log = dpo_realign(finetuned, out, s, spec.seed, harmful_prompts(s.n_pairs), progress)
    else:
        raise HarnessError(f"recoveries: no method {spec.method!r}")
    record = {**cost_since(t0), "params_changed": changed_params(finetuned, out), "log": log}
    if kept is not None:
        record["recovery_prompts"] = kept
    # cos(harmful direction, the aligned model's) before and after, for every method: a recovery that
    # starts near 1 has little direction signal to restore (measured after the cost: not part of it)
    from .directions import cosines_to
    record["direction_cosine"] = cosines_to(aligned, {"source": finetuned, "recovered": out}, load_tokenizer(finetuned),
                                            prompts if kept else harmful_prompts(spec.n_recovery), spec.batch_size)
    return record
