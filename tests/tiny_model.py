"""Builds a tiny random Llama chat model on disk in about a second, for tests that need a real engine.

Why a random model: tests check plumbing (ordering, seeding, padding, limits), not quality, and a
model built here needs no hub and no download. Contracts:

- vLLM-servable: `LlamaForCausalLM`, head_dim 32 (vLLM's CPU attention needs ≥ 32), safetensors.
- Deterministic: the same arguments give byte-identical weights and tokenizer files.
- A real chat model's shape: byte-level BPE tokenizer, bos/eos/pad, a chat template whose turns end
  with the eos token `<|end|>`, so a backend's EOS handling is exercised.
- Weights drawn with a wide `init_std`, so next-token distributions are peaked and greedy decoding
  has few near-ties (two engines with different kernels then mostly agree token for token).
"""

from __future__ import annotations

import json
from pathlib import Path

# A little text to train the tokenizer on, written for this file (no licence concerns).
CORPUS = """\
The harness asks a model many questions and counts how often it answers safely.
Please explain how photosynthesis works in simple words for a child.
How do I bake a loaf of bread at home? Mix flour, water, salt and yeast, then wait.
I cannot help with that request, because it could cause harm to other people.
Sorry, but I will not provide instructions for making weapons or dangerous chemicals.
Here is a short poem about the sea: waves roll in, waves roll out, the gulls cry above.
What is the capital of France? The capital of France is Paris.
Write a Python function that returns the sum of a list of numbers.
def total(xs): return sum(xs)
Two plus two is four, and ten times three is thirty.
How can I kill a Python process that hangs? Use the kill command with its process id.
Tell me a story about a dragon who learned to read books in the library.
The weather today is sunny with a light breeze from the west, 21 degrees.
As an assistant I try to be helpful, honest and harmless in every answer I give.
Steps: first, read the question; second, think; third, answer briefly and clearly.
"""

SPECIALS = ("<s>", "<|end|>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>")

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tokenizer(vocab_size: int = 384, chat_template: str | None = CHAT_TEMPLATE):
    """A `PreTrainedTokenizerFast` with a byte-level BPE trained on CORPUS (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    kwargs = {"chat_template": chat_template} if chat_template is not None else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|end|>",
                                  pad_token="<pad>", model_max_length=1 << 20, **kwargs)


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, max_position_embeddings: int = 512,
                     chat_template: str | None = CHAT_TEMPLATE, init_std: float = 0.3,
                     pickle_weights: bool = False) -> Path:
    """Write a tiny random `LlamaForCausalLM` (2 layers, hidden 64, head_dim 32) with its tokenizer.

    `chat_template=None` leaves the template out; `pickle_weights=True` saves `pytorch_model.bin`
    instead of safetensors (for loading-policy tests).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(chat_template=chat_template)
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "<|end|>", "<pad>")}
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=32,
                      max_position_embeddings=max_position_embeddings, initializer_range=init_std,
                      bos_token_id=ids["<s>"], eos_token_id=ids["<|end|>"], pad_token_id=ids["<pad>"],
                      tie_word_embeddings=False, dtype="float32")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).to(torch.float32).eval()
    model.generation_config = GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
                                               pad_token_id=cfg.pad_token_id, do_sample=False)
    if pickle_weights:  # what older checkpoints look like; transformers 5 only writes safetensors
        model.config.architectures = ["LlamaForCausalLM"]
        model.config.save_pretrained(out)
        model.generation_config.save_pretrained(out)
        torch.save(model.state_dict(), out / "pytorch_model.bin")
    else:
        model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


if __name__ == "__main__":  # python tests/tiny_model.py DIR
    import sys
    d = build_tiny_model(sys.argv[1] if len(sys.argv) > 1 else "tiny-model")
    print(d, json.dumps(sorted(p.name for p in d.iterdir())))
