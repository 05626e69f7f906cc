"""Tiny random stand-ins for the judge models, one per architecture the real judges use, built in a
second or two: Llama (Llama Guard, HarmBench-Llama-2, the rubric and 0–100 judges, StrongREJECT-ft),
Mistral (WildGuard, HarmBench-Mistral), Qwen2 (ShieldLM-qwen) and a 14-label
`LlamaForSequenceClassification` (BeaverDam).

Why random weights: the tests check what a judge sends and how it accounts for what comes back, not
judgement; random output is mostly `unparsed`, which exercises that path. Contracts:

- Deterministic for a seed; safetensors; head_dim 32 (vLLM's CPU attention needs ≥ 32).
- Tokenizers are byte-level BPEs trained on tests/tiny_model.CORPUS plus the judge templates, so
  judge prompts are a few hundred tokens, and carry the real models' special tokens as special tokens:
  Llama-3-style `<|begin_of_text|>` … `<|eot_id|>` (BOS added by the tokenizer, as Llama 3's does),
  `<s>`/`</s>` for Mistral (BOS added), `<|im_start|>`/`<|im_end|>` for Qwen2 (no BOS, as Qwen's).
- `numbers=True` makes every integer 0–100 one token (as Llama 3 and OpenAI tokenizers do); without
  it numbers split into several tokens, the case the 0–100 judges score by sequence probability.
- `max_position_embeddings` 8192, so the longest judge prompts fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tests.tiny_model import CORPUS

TEMPLATES = Path(__file__).resolve().parent.parent / "judges" / "templates"

LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>", "<|pad|>")
LLAMA3_CHAT = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MISTRAL_SPECIALS = ("<unk>", "<s>", "</s>")


def _corpus() -> list[str]:
    lines = CORPUS.splitlines()
    for f in sorted(TEMPLATES.iterdir()):
        if f.suffix in (".txt", ".jinja", ".json"):
            lines += f.read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip()]


def build_tokenizer(specials: Sequence[str], *, bos: str | None, eos: str, pad: str, add_bos: bool,
                    chat_template: str | None, numbers: bool = False, vocab_size: int = 4000):
    """A `PreTrainedTokenizerFast`: byte-level BPE on the judge texts, `specials` as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    if numbers:  # whole numbers as single tokens, matched before BPE
        tok.add_tokens([str(k) for k in range(101) if tok.token_to_id(str(k)) is None])
    if add_bos and bos is not None:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    kwargs = {"chat_template": chat_template} if chat_template else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                   model_max_length=1 << 20, **kwargs)


def _save(model, tok, out: Path) -> Path:
    from transformers import GenerationConfig

    cfg = model.config
    if hasattr(model, "generation_config") and model.can_generate():
        model.generation_config = GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
                                                   pad_token_id=cfg.pad_token_id, do_sample=False)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _dims(tok, init_std: float) -> dict:
    return dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=8192,
                initializer_range=init_std, tie_word_embeddings=False,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)


def build_llama_judge(out_dir: str | Path, *, numbers: bool = True, seed: int = 0, init_std: float = 0.3) -> Path:
    """A Llama-3-style judge: `<|begin_of_text|>` BOS (added by the tokenizer), `<|eot_id|>` EOS, a chat
    template, and (by default) single-token numbers."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tok = build_tokenizer(LLAMA3_SPECIALS, bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|pad|>", add_bos=True,
                          chat_template=LLAMA3_CHAT, numbers=numbers)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**_dims(tok, init_std), dtype="float32")).eval()
    return _save(model, tok, out)


def build_mistral_judge(out_dir: str | Path, *, seed: int = 0, init_std: float = 0.3) -> Path:
    """A Mistral-architecture judge with a Llama-2/Mistral-style `<s>` BOS and no chat template."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    tok = build_tokenizer(MISTRAL_SPECIALS, bos="<s>", eos="</s>", pad="<unk>", add_bos=True, chat_template=None)
    torch.manual_seed(seed)
    model = MistralForCausalLM(MistralConfig(**_dims(tok, init_std), sliding_window=None, dtype="float32")).eval()
    return _save(model, tok, Path(out_dir))


def build_qwen2_judge(out_dir: str | Path, *, seed: int = 0, init_std: float = 0.3) -> Path:
    """A Qwen2-architecture judge with ChatML special tokens and no BOS."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tokenizer(QWEN_SPECIALS, bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False,
                          chat_template=QWEN_CHAT)
    torch.manual_seed(seed)
    dims = _dims(tok, init_std)
    dims.pop("head_dim")
    model = Qwen2ForCausalLM(Qwen2Config(**dims, dtype="float32")).eval()
    return _save(model, tok, Path(out_dir))


def build_beaverdam(out_dir: str | Path, labels: Sequence[str], *, seed: int = 0, init_std: float = 0.3) -> Path:
    """A multi-label `LlamaForSequenceClassification` whose id2label is `labels`, `<s>`/`</s>`/`<pad>`."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tok = build_tokenizer(("<unk>", "<s>", "</s>", "<pad>"), bos="<s>", eos="</s>", pad="<pad>", add_bos=True,
                          chat_template=None)
    cfg = LlamaConfig(**_dims(tok, init_std), num_labels=len(labels), problem_type="multi_label_classification",
                      id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                      dtype="float32")
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(cfg).eval()
    return _save(model, tok, Path(out_dir))
