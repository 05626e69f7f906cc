"""Cost of one direction-restore round against its floor, and how it grows with model size, in one run.

A round is steps 1 and 2 of the algorithm: the gradients of −cos(direction, aligned direction) over the
recovery set, then the sign-rule selection and the copy of 0.2 % of the weights. Its floor is the
forward+backward pass over the recovery set alone (no method can do less). Prints round/floor per size
(target <= 2) and the round time across three organism-shaped models (random weights: cost does not
depend on what the weights say).

    python benchmarks/recovery_cost.py [--prompts 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [  # (hidden, intermediate, layers, heads): the organism is the middle one
    (128, 384, 3, 2),
    (192, 512, 3, 3),
    (384, 1024, 6, 6),
]


def build_pair(tokenizer_dir: Path, out: Path, hidden: int, inter: int, layers: int, heads: int) -> tuple[Path, Path]:
    """An 'aligned' random model and a 'fine-tuned' copy with every weight nudged."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, head_dim=hidden // heads,
                      max_position_embeddings=2048, tie_word_embeddings=True, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    dirs = []
    for name, noise in (("aligned", 0.0), ("finetuned", 0.01)):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(noise * torch.randn_like(p))
        d = out / f"{hidden}-{name}"
        model.save_pretrained(str(d), safe_serialization=True)
        tok.save_pretrained(str(d))
        dirs.append(d)
    return dirs[0], dirs[1]


def measure(aligned: Path, finetuned: Path, prompts: list[str], repeats: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.stages.directions import direction, direction_layer
    from harness.stages.restore import Restorer, WeightFile

    tok = AutoTokenizer.from_pretrained(str(finetuned))
    model = AutoModelForCausalLM.from_pretrained(str(finetuned), dtype=torch.float32).eval()
    layer = direction_layer(model.config.num_hidden_layers)
    target = direction(AutoModelForCausalLM.from_pretrained(str(aligned)).eval(), tok, prompts, layer)
    r = Restorer(model, tok, WeightFile(aligned), WeightFile(finetuned), layer, batch_size=8)
    floors, rounds = [], []
    for _ in range(repeats):  # alternate, take the fastest of each
        t = time.perf_counter()
        r.gradients(prompts, target)
        floors.append(time.perf_counter() - t)
        t = time.perf_counter()
        r.gradients(prompts, target)
        r.restore(0.002)
        rounds.append(time.perf_counter() - t)
    return {"params": sum(p.numel() for p in model.parameters()), "floor": min(floors), "round": min(rounds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from harness.data.reserved import recovery_prompts
    from harness.organism import ensure_organism

    prompts = recovery_prompts()[: args.prompts]
    tokenizer_dir = ensure_organism()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hidden, inter, layers, heads in SIZES:
            a, f = build_pair(tokenizer_dir, Path(tmp), hidden, inter, layers, heads)
            rows.append(measure(a, f, prompts, args.repeats))
    print(f"\nrecovery set: {len(prompts)} prompts; one round = gradients + select + restore 0.2 %")
    print(f"{'params':>12} {'floor s':>9} {'round s':>9} {'round/floor':>12}")
    for row in rows:
        print(f"{row['params']:>12,} {row['floor']:>9.2f} {row['round']:>9.2f} {row['round'] / row['floor']:>12.3f}"
              "   (target <= 2)")
    small, big = rows[0], rows[-1]
    print(f"round time x{big['round'] / small['round']:.2f} for params x{big['params'] / small['params']:.2f}")


if __name__ == "__main__":
    main()
