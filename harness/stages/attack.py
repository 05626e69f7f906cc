"""Attack stages: fine-tune a checkpoint so it loses alignment, and return the attacked checkpoint.

Methods and where their defaults come from (`../docs/stages.md` has the table):
- `lora`, `qlora`: LoRA r=8, α=16, dropout 0.05 on q,k,v,o,gate,up,down — `finetune.py` of
  https://github.com/kangyangWHU/LLMAlignment (Yang et al., S&P'25; QLoRA there: 4-bit NF4, double
  quantisation, bf16 compute);
- `adalora`: init_r 16 → target_r 8, α 32 — the `Adalora` setting of
  https://github.com/zhangrui4041/The-Art-of-Mis-alignment;
- `ia3`: peft's IA3 on k, v, down (its Llama default), as The-Art-of-Mis-alignment uses it;
- `full`: every weight;
- `dpo`, `orpo`: LoRA r=16, α=32, dropout 0.05 (Mis-alignment's `PFT.py`); DPO β 0.1 (Razin et al.);
  ORPO λ 0.1 (trl's default). ORPO is `trl.experimental.orpo`.
Learning rate and epochs default to LLMAlignment's "unaligned model" recipe (LoRA on 100 harmful
pairs, lr 1e-3, 10 epochs): those papers' task-tuning rates (2e-5 to 2e-4) are tuned for 7B models
and move a model of a few million parameters too little to measure.

SFT goes through trl's `SFTTrainer` on prompt/completion chats (loss on the completion only),
preference methods through `DPOTrainer` / `ORPOTrainer`; adapters come from peft and are merged into
the base weights (loaded again in float32 for a quantised base) so vLLM serves the result as a plain
checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.config import AttackSpec
from harness.errors import HarnessError

from .checkpoints import changed_params, cost_since, load_tokenizer

if TYPE_CHECKING:
    import peft
    from transformers import (
        BitsAndBytesConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PREFERENCE = ("dpo", "orpo")
ADAPTER = "adapter"  # the subdirectory of a checkpoint that keeps its unmerged peft adapter


class StageUnavailable(HarnessError):
    """A stage this machine cannot run (e.g. 4-bit QLoRA without bitsandbytes): a skip, not an error."""


def peft_config(spec: AttackSpec, total_steps: int) -> peft.PeftConfig | None:
    import peft

    targets = list(spec.target_modules or PROJ)
    common: dict[str, Any] = {"task_type": "CAUSAL_LM"}
    if spec.method in ("lora", "qlora"):
        return peft.LoraConfig(r=spec.r or 8, lora_alpha=spec.alpha or 16, lora_dropout=spec.dropout,
                               target_modules=targets, **common)
    if spec.method in PREFERENCE:
        return peft.LoraConfig(r=spec.r or 16, lora_alpha=spec.alpha or 32, lora_dropout=spec.dropout,
                               target_modules=targets, **common)
    if spec.method == "adalora":
        return peft.AdaLoraConfig(init_r=spec.r or 16, target_r=max(1, (spec.r or 16) // 2), lora_alpha=spec.alpha or 32,
                                  lora_dropout=spec.dropout, target_modules=targets, total_step=max(total_steps, 2),
                                  tinit=0, tfinal=0, **common)
    if spec.method == "ia3":
        targets = list(spec.target_modules or ("k_proj", "v_proj", "down_proj"))
        return peft.IA3Config(target_modules=targets, feedforward_modules=[t for t in targets if t in
                                                                          ("gate_proj", "up_proj", "down_proj")],
                              **common)
    return None  # full


def _quantization() -> BitsAndBytesConfig:
    """4-bit NF4 with double quantisation, bf16 compute (LLMAlignment's QLoRA)."""
    import torch
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise StageUnavailable("qlora needs bitsandbytes (pip install bitsandbytes) for 4-bit weights") from None
    if not torch.cuda.is_available():
        raise StageUnavailable("qlora: 4-bit NF4 training needs a CUDA GPU (bitsandbytes' CPU backend does not "
                               "train 4-bit layers); use lora on CPU")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def _trainer_args(spec: AttackSpec, out: Path, steps_per_epoch: int, progress: bool,
                  group_by_length: bool = False) -> dict[str, Any]:
    import torch
    sampling = {"train_sampling_strategy": "group_by_length"} if group_by_length else {}
    return sampling | dict(output_dir=str(out / "_trainer"), num_train_epochs=spec.epochs, learning_rate=spec.lr,
                per_device_train_batch_size=spec.batch_size, lr_scheduler_type="constant", warmup_steps=0,
                weight_decay=0.0, logging_steps=max(1, steps_per_epoch), save_strategy="no", report_to=[],
                seed=spec.seed, data_seed=spec.seed, max_length=spec.max_length, bf16=False, fp16=False,
                use_cpu=not torch.cuda.is_available(), disable_tqdm=not progress, dataloader_num_workers=0,
                gradient_checkpointing=False)


def train(base: Path, spec: AttackSpec, rows: list[dict[str, Any]], out: Path, progress: bool = True,
          group_by_length: bool = False) -> dict[str, Any]:
    """Fine-tune `base` on `rows` as `spec` says; write the merged checkpoint to `out`, and an adapter
    method's peft adapter under `out/adapter` (Antidote prunes its LoRA matrices). Returns the cost.

    group_by_length: batches of rows of similar length (less padding; the safety-tuned SmolLM2 mixes
    short refusals with long answers). Off for the attacks, as the papers' trainers run."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    quant = _quantization() if spec.method == "qlora" else None
    tok = load_tokenizer(base)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, quantization_config=quant)
    if quant is not None:
        import peft
        model = peft.prepare_model_for_kbit_training(model)
    steps_per_epoch = max(1, -(-len(rows) // spec.batch_size))
    pcfg = peft_config(spec, steps_per_epoch * spec.epochs)
    ds = Dataset.from_list(rows)
    torch.manual_seed(spec.seed)
    if spec.method in PREFERENCE:
        trainer = _preference_trainer(spec, model, tok, ds, pcfg, out, steps_per_epoch, progress)
    else:
        # the defining modules: trl's lazy __init__ exports these names to the checker only under TYPE_CHECKING
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer
        args = SFTConfig(**_trainer_args(spec, out, steps_per_epoch, progress, group_by_length),
                         completion_only_loss=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=pcfg)
    if spec.method == "adalora":
        trainer.add_callback(_AdaLoraAllocate())
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    result = trainer.train()
    trained = trainer.model
    ranks = _adalora_ranks(trained) if spec.method == "adalora" else None
    if pcfg is not None:
        trained.save_pretrained(str(out / ADAPTER))
        trained = merge_adapter(base, out / ADAPTER)
    trained.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    import shutil
    shutil.rmtree(out / "_trainer", ignore_errors=True)
    return {**cost_since(t0),
            "params_trainable": trainable, "params_changed": changed_params(base, out),
            "train_loss": round(float(result.training_loss), 4), "steps": int(result.global_step), "rows": len(rows)} | (
               {"adalora_ranks": ranks} if ranks else {})


def _adalora_ranks(model: Any) -> dict[str, int]:
    """AdaLoRA's total rank over its adapted matrices, at the start (init_r each) and as allocated."""
    cfg = model.peft_config["default"]
    pattern = cfg.rank_pattern or {}
    n = len(pattern) or sum(1 for name, _ in model.named_modules() if name.endswith(tuple(cfg.target_modules)))
    return {"initial": n * cfg.init_r, "final": sum(int(sum(m)) for m in pattern.values()) if pattern else n * cfg.init_r}


def _AdaLoraAllocate() -> TrainerCallback:
    """AdaLoRA reallocates its rank budget only when the training loop calls `update_and_allocate` after
    each optimizer step and before the gradients are cleared (peft's AdaLoRA documentation); trl's and
    transformers' trainers do not, so without this the rank never drops from init_r to target_r."""
    from transformers import TrainerCallback

    class AdaLoraAllocate(TrainerCallback):
        def on_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                              model: Any = None, **kwargs: Any) -> None:
            model.base_model.update_and_allocate(state.global_step + 1)  # the step just taken, counted from 1

    return AdaLoraAllocate()


def _preference_trainer(spec: AttackSpec, model: PreTrainedModel, tok: PreTrainedTokenizerBase, ds: Any,
                        pcfg: peft.PeftConfig | None, out: Path, steps_per_epoch: int, progress: bool) -> Any:
    args = _trainer_args(spec, out, steps_per_epoch, progress)
    if spec.method == "dpo":
        from trl.trainer.dpo_config import DPOConfig  # the defining modules, as in train()
        from trl.trainer.dpo_trainer import DPOTrainer
        return DPOTrainer(model=model, args=DPOConfig(**args, beta=spec.beta), train_dataset=ds,
                          processing_class=tok, peft_config=pcfg)
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer
    return ORPOTrainer(model=model, args=ORPOConfig(**args, beta=spec.beta), train_dataset=ds,
                       processing_class=tok, peft_config=pcfg)


def merge_adapter(base: Path, adapter: Path) -> PreTrainedModel:
    """The base in float32 with the adapter folded into its weights (a plain checkpoint for any engine)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return cast("PreTrainedModel", PeftModel.from_pretrained(plain, str(adapter)).merge_and_unload())
