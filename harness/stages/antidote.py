"""`antidote` (Huang et al. 2025, https://github.com/git-disl/Antidote): one-shot pruning of the harmful
weights after fine-tuning. Wanda importance |W|·sqrt(E‖x‖²), x a layer's inputs on calibration texts
(upstream: harmful prompt + harmful response); the top `dense_ratio` entries of each row are zeroed.
After a LoRA attack (`prune: auto` finds the adapter the attack kept) W is the adapter's A and B
matrices, as upstream prunes them; after a full fine-tune, the entries of the delta θ_ft − θ_aligned
are reset to the aligned weights (`prune: delta`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, cast

from harness.config import Antidote
from harness.errors import HarnessError

from .checkpoints import linear_names, load_tokenizer, load_weights, save_state
from .data import harmful_prompts

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def calibration_texts(spec: Antidote, finetuned: Path, tok: PreTrainedTokenizerBase) -> tuple[list[str], dict[str, Any]]:
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
            from .generation import rendered
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
    return [cast(str, tok.apply_chat_template(c, tokenize=False)) for c in chats], {"source": source, "n": len(chats)}


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


def _wanda_mask(w: torch.Tensor, norm: torch.Tensor, dense_ratio: float) -> torch.Tensor:
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
             batch_size: int, prune: str = "auto") -> dict[str, Any]:
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
        save_state(model.merge_and_unload().state_dict(), finetuned, out)
        return {"dense_ratio": dense_ratio, "pruned": "lora adapter (A and B)", "entries_zeroed": zeroed}
    model = AutoModelForCausalLM.from_pretrained(str(finetuned), dtype=torch.float32).eval()
    norms = input_norms(model, tok, texts, batch_size)
    a, f = load_weights(aligned), load_weights(finetuned)
    new, pruned = dict(f), 0
    for k in linear_names(f):
        mod = k[: -len(".weight")]
        if mod not in norms or k not in a:
            continue
        mask = _wanda_mask(f[k].float() - a[k].float(), norms[mod], dense_ratio)
        new[k] = torch.where(mask, a[k].float(), f[k].float())
        pruned += int(mask.sum())
    save_state(new, finetuned, out)
    return {"dense_ratio": dense_ratio, "pruned": "delta", "why_not_adapter": why, "entries_reset": pruned}


def input_norms(model: torch.nn.Module, tok: PreTrainedTokenizerBase, texts: Sequence[str], batch_size: int,
                select: Callable[[str], bool] = lambda name: ".layers." in name) -> dict[str, Any]:
    """E‖x‖² per input feature of every Linear `select` names, over the texts' tokens (Wanda's statistic)."""
    import torch

    from .directions import batches

    sq: dict[str, Any] = {}
    count: dict[str, int] = {}
    hooks = []
    # the batch's non-padding positions: padding is no input the model sees (upstream: batch 1)
    real: dict[str, torch.Tensor] = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and select(name):
            def hook(m: torch.nn.Module, inp: tuple[torch.Tensor, ...], _out: Any, name: str = name) -> None:
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
