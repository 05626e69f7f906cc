"""Recovery stages: realign a fine-tuned checkpoint, keeping what it learned. `recovered/<name>`.

- `direction-restore`: the recovery paper's algorithm (restore.py).
- `resta` (Bhardwaj et al. 2024): θ_ft + γ·(θ_aligned − θ_unaligned), the safety vector taken from an
  attack stage trained on harmful data; `dare` > 0 first drops that share of the fine-tuning delta
  θ_ft − θ_aligned at random and rescales the rest (DARE), as RESTA's optional step.
- `antidote` (Huang et al. 2025, git-disl/Antidote): Wanda importance |W|·sqrt(E‖x‖²), x a layer's
  inputs on harmful prompt + harmful response texts; the top `dense_ratio` entries of each row are
  zeroed. After a LoRA attack (`prune: auto` finds the adapter the attack kept) W is the adapter's A and
  B matrices, as upstream prunes them; after a full fine-tune, the entries of the delta θ_ft − θ_aligned
  are reset to the aligned weights (`prune: delta`).
- `steering`: the paper's inference-time baseline, α·(d_aligned − d_finetuned) (or its component
  orthogonal to d_aligned) added to the residual stream at the direction layer, baked into a bias.
- `dpo-realign`: DPO (trl) on the recovery prompts with a refusal preferred over the fine-tuned model's
  own greedy answer (on-policy rejected answers), LoRA merged, as the attack stages train.
Harmful prompts come from the reserved recovery set (256 HarmfulQA questions, disjoint from every
evaluated suite; for the direction methods only those the aligned model refuses, as the paper keeps);
benign task rows from `task` (`benign-train`: the organism's benign training pairs;
`nl2bash`/`gsm8k`/`piqa`: one of them; or a JSONL of prompt/response).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from harness.config import AttackSpec, RecoverySpec
from harness.errors import HarnessError

from .checkpoints import changed_params, cost_since, load_tokenizer, load_weights


def harmful_prompts(n: int) -> list[str]:
    from harness.data.reserved import recovery_prompts
    return recovery_prompts()[:n]


def refused_prompts(aligned: Path, n: int, refused_only: bool) -> tuple[list[str], dict[str, Any]]:
    """The recovery prompts a direction is taken from, and what was kept. The recovery paper keeps only
    prompts the aligned model refuses (App. B.2: an unrefused prompt pulls d_aligned toward "answer"):
    the first `n` of the reserved set that it refuses (greedy, 32 tokens, a GCG refusal marker), fewer
    when it refuses fewer. `refused_only: false` takes the first `n` as they come."""
    from judges.refusal import gcg_marker

    from .data import answers_of

    if not refused_only:
        return harmful_prompts(n), {"filter": None, "used": n}
    pool = harmful_prompts(256)
    refused = [p for p, g in zip(pool, answers_of(str(aligned), pool, max_tokens=32)) if gcg_marker(g.text)]
    if not refused:
        raise HarnessError(f"recoveries: the aligned model ({aligned}) refuses none of the {len(pool)} recovery "
                           "prompts, so it has no refusal direction to restore; set `refused_only: false` to use them anyway")
    return refused[:n], {"filter": "refused by the aligned model", "pool": len(pool), "refused": len(refused),
                         "used": min(n, len(refused))}


def _linear_names(state: dict) -> list[str]:
    return [k for k, v in state.items() if ".layers." in k and k.endswith(".weight") and v.dim() == 2]


def _save(state: dict, like: Path, out: Path) -> None:
    """`state` as a checkpoint with `like`'s config and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(like), dtype=torch.float32)
    missing = model.load_state_dict(state, strict=False)
    if missing.missing_keys and not all("lm_head" in k for k in missing.missing_keys):  # tied head is fine
        raise HarnessError(f"recovery produced no weights for {missing.missing_keys[:3]}")
    model.save_pretrained(str(out), safe_serialization=True)
    load_tokenizer(like).save_pretrained(str(out))


def resta(aligned: Path, finetuned: Path, unaligned: Path, out: Path, gamma: float, dare: float, seed: int) -> dict:
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
    _save(new, finetuned, out)
    return {"gamma": gamma, "dare": dare}


def calibration_texts(spec: RecoverySpec, finetuned: Path, tok) -> tuple[list[str], dict[str, Any]]:
    """Antidote's calibration texts, chat-rendered. Upstream calibrates on harmful prompt + harmful
    response (2,000 BeaverTails pairs); `responses` pairs the reserved recovery prompts with the
    fine-tuned model's own greedy answers (what it now generates), `prompts` takes the prompts alone,
    and a JSONL of prompt/response (or messages) rows brings a set of one's own."""
    from .data import answers_of, load_jsonl

    if spec.calibration in ("responses", "prompts"):
        prompts = harmful_prompts(spec.n_calibration)
        if len(prompts) < spec.n_calibration:
            raise HarnessError(f"recoveries: n_calibration {spec.n_calibration}: the reserved recovery set holds "
                               f"{len(prompts)} prompts; give `calibration:` a JSONL file for more")
        if spec.calibration == "prompts":
            from .directions import rendered
            return rendered(tok, prompts), {"source": "prompts", "n": len(prompts)}
        answers = [g.text for g in answers_of(str(finetuned), prompts, max_tokens=128)]
        chats = [[{"role": "user", "content": p}, {"role": "assistant", "content": a}] for p, a in zip(prompts, answers)]
        source = "recovery prompts + the fine-tuned model's answers"
    else:
        rows = load_jsonl(Path(spec.calibration), preference=False)
        if len(rows) < spec.n_calibration:
            raise HarnessError(f"recoveries: n_calibration {spec.n_calibration}: {spec.calibration} holds "
                               f"{len(rows)} rows")
        chats = [r["prompt"] + r["completion"] for r in rows[:spec.n_calibration]]
        source = spec.calibration
    return [tok.apply_chat_template(c, tokenize=False) for c in chats], {"source": source, "n": len(chats)}


def _lora_adapter(aligned: Path, finetuned: Path) -> tuple[Path | None, str]:
    """(the LoRA adapter the attack kept, if it was trained on `aligned`), else (None, why not)."""
    import json

    from .attack import ADAPTER

    cfg_file = finetuned / ADAPTER / "adapter_config.json"
    if not cfg_file.is_file():
        return None, "the checkpoint keeps no adapter (a full fine-tune, or not made by an attack stage)"
    cfg = json.loads(cfg_file.read_text())
    if cfg.get("peft_type") != "LORA":
        return None, f"its adapter is {cfg.get('peft_type')}, not LoRA (no A and B matrices)"
    base = cfg.get("base_model_name_or_path") or ""
    if not base or Path(base).resolve() != aligned.resolve():
        return None, f"its adapter was trained on {base or 'an unnamed base'}, not on the aligned model {aligned}"
    return cfg_file.parent, ""


def _wanda_mask(w, norm, dense_ratio: float):
    """Upstream's per-row selection (prune_wanda_outlier): the top cols − int(cols·(1 − dense_ratio))
    entries of |W|·sqrt(E‖x‖²) in each row, nonzero entries only."""
    import torch

    cols = w.shape[1]
    k = cols - int(cols * (1 - dense_ratio))
    mask = torch.zeros_like(w, dtype=torch.bool)
    if k:
        mask.scatter_(1, (w.abs() * torch.sqrt(norm)[None, :]).topk(k, dim=1).indices, True)
    return mask & (w != 0)


def antidote(aligned: Path, finetuned: Path, out: Path, texts: Sequence[str], dense_ratio: float,
             batch_size: int, prune: str = "auto") -> dict:
    """Zero the most important entries (Wanda score on `texts`) of the LoRA adapter or of the delta."""
    import torch
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(finetuned)
    adapter, why = _lora_adapter(aligned, finetuned) if prune != "delta" else (None, "prune: delta")
    if prune == "adapter" and adapter is None:
        raise HarnessError(f"recoveries: antidote `prune: adapter`: {finetuned}: {why}")
    if adapter is not None:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(str(aligned), dtype=torch.float32)
        model = PeftModel.from_pretrained(base, str(adapter)).eval()
        norms = input_norms(model, tok, texts, batch_size, lambda n: ".lora_A." in n or ".lora_B." in n)
        zeroed = 0
        with torch.no_grad():
            for name, mod in model.named_modules():
                if name in norms:
                    mask = _wanda_mask(mod.weight, norms[name], dense_ratio)
                    mod.weight[mask] = 0
                    zeroed += int(mask.sum())
        _save(model.merge_and_unload().state_dict(), finetuned, out)
        return {"dense_ratio": dense_ratio, "pruned": "lora adapter (A and B)", "entries_zeroed": zeroed}
    model = AutoModelForCausalLM.from_pretrained(str(finetuned), dtype=torch.float32).eval()
    norms = input_norms(model, tok, texts, batch_size)
    a, f = load_weights(aligned), load_weights(finetuned)
    new, pruned = dict(f), 0
    for k in _linear_names(f):
        mod = k[: -len(".weight")]
        if mod not in norms or k not in a:
            continue
        mask = _wanda_mask(f[k].float() - a[k].float(), norms[mod], dense_ratio)
        new[k] = torch.where(mask, a[k].float(), f[k].float())
        pruned += int(mask.sum())
    _save(new, finetuned, out)
    return {"dense_ratio": dense_ratio, "pruned": "delta", "why_not_adapter": why, "entries_reset": pruned}


def input_norms(model, tok, texts: Sequence[str], batch_size: int,
                select=lambda name: ".layers." in name) -> dict[str, Any]:
    """E‖x‖² per input feature of every Linear `select` names, over the texts' tokens (Wanda's statistic)."""
    import torch

    from .directions import batches

    sq: dict[str, Any] = {}
    count: dict[str, int] = {}
    hooks = []
    real = {}  # the batch's non-padding positions: padding is no input the model sees (upstream: batch 1)
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and select(name):
            def hook(m, inp, _out, name=name):
                x = inp[0].detach().float()[real["mask"]]
                sq[name] = sq.get(name, 0) + (x * x).sum(0)
                count[name] = count.get(name, 0) + x.shape[0]
            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        for enc in batches(tok, texts, batch_size, max_length=512):
            real["mask"] = enc["attention_mask"].bool()
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    for h in hooks:
        h.remove()
    return {name: sq[name] / count[name] for name in sq}


def dpo_realign(finetuned: Path, out: Path, spec: RecoverySpec, prompts: Sequence[str], progress: bool) -> dict:
    from transformers import AutoModelForCausalLM

    from . import attack
    from .data import preference_row
    from .generation import generate
    from .refusals import refusal_for

    model, tok = AutoModelForCausalLM.from_pretrained(str(finetuned)).eval(), load_tokenizer(finetuned)
    answers = [t for t, _ in generate(model, tok, prompts, max_new_tokens=64)]
    del model
    rows = [preference_row(p, refusal_for(p, spec.seed), a or "Sure.") for p, a in zip(prompts, answers)]
    screening = None
    if spec.ches_filter:
        from .ches import filter_rows
        rows, screening = filter_rows(finetuned, rows, spec.ches_filter, progress=progress)
    dpo = AttackSpec("dpo", epochs=spec.epochs, lr=spec.lr, beta=spec.beta, seed=spec.seed, n_harmful=len(rows))
    cost = attack.train(finetuned, dpo, rows, out, progress)
    return {"train_loss": cost["train_loss"], "steps": cost["steps"], "params_trainable": cost["params_trainable"],
            "ches": screening}


def steering(aligned: Path, finetuned: Path, out: Path, prompts: Sequence[str], layer: int | None, coef: float,
             orthogonal: bool, batch_size: int) -> dict:
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
    if spec.method in ("direction-restore", "steering"):  # the methods that take the aligned model's direction
        prompts, kept = refused_prompts(aligned, spec.n_recovery, spec.refused_only)
        t0 = time.perf_counter()  # the filter's answers are the aligned model's, cached: not the method's cost
    if spec.method == "direction-restore":
        from .restore import direction_restore
        from .utility import Utility, task_split
        rows, held_out = task_split(spec.task, spec.n_task, spec.n_utility, spec.seed)
        log = direction_restore(aligned, finetuned, out, prompts, [p for p, _, _ in rows],
                                Utility.of(held_out, spec.utility), rate=spec.rate,
                                rollback_rate=spec.rollback_rate, rounds=spec.rounds, warmup=spec.warmup,
                                drop=spec.drop, layer=spec.layer, batch_size=spec.batch_size,
                                check_every=spec.check_every, accumulate_grads=spec.accumulate_grads,
                                rollback_of=spec.rollback_of, progress=progress)
    elif spec.method == "resta":
        if unaligned is None:  # RecoverySpec refuses this already; kept for direct callers
            raise HarnessError("recoveries: resta needs `unaligned: attacked/<name>` (a model trained on harmful data)")
        log = resta(aligned, finetuned, unaligned, out, spec.gamma, spec.dare, spec.seed)
    elif spec.method == "antidote":
        texts, calibration = calibration_texts(spec, finetuned, load_tokenizer(finetuned))
        t0 = time.perf_counter()  # the fine-tuned model's answers are cached generations: not the method's cost
        log = antidote(aligned, finetuned, out, texts, spec.dense_ratio, spec.batch_size, spec.prune)
        log["calibration"] = calibration
    elif spec.method == "steering":
        log = steering(aligned, finetuned, out, prompts, spec.layer, spec.coef,
                       spec.orthogonal, spec.batch_size)
    else:
        log = dpo_realign(finetuned, out, spec, harmful_prompts(spec.n_pairs), progress)
    record = {**cost_since(t0), "params_changed": changed_params(finetuned, out), "log": log}
    if kept is not None:
        record["recovery_prompts"] = kept
    # cos(harmful direction, the aligned model's) before and after, for every method: a recovery that
    # starts near 1 has little direction signal to restore (measured after the cost: not part of it)
    from .directions import cosines_to
    record["direction_cosine"] = cosines_to(aligned, {"source": finetuned, "recovered": out}, load_tokenizer(finetuned),
                                            prompts if kept else harmful_prompts(spec.n_recovery), spec.batch_size)
    return record
