"""`direction-restore`: Yang et al.'s (S&P'25) gradient-guided weight restoration with rollback and fuse.

Yang et al., "Alleviating the Fear of Losing Alignment in LLM Fine-tuning" (S&P'25,
https://arxiv.org/abs/2504.09757; code https://github.com/kangyangWHU/LLMAlignment), §5, Algorithm 1,
at the paper's defaults:
1. Directions (harness/stages/directions.py): the aligned model's harmful direction d_a = mean
   last-token state at the direction layer L (2/3 of the depth) over the recovery set (256 harmful
   prompts, disjoint from every evaluated suite); the fine-tuned model's benign direction d_b over
   benign task prompts (for rollback).
2. A round: loss = −cos(mean last-token state of the current model at L, d_a), gradients accumulated
   over the recovery set for the weights of layers < L (norms excluded) and, in the run without
   rollback, over the rounds too, as upstream never zeroes them there (`accumulate_grads`; off: each
   round's own gradient). Candidates: entries where
   sign(θ_cur − θ_aligned) = sign(grad) (copying the aligned value moves down the gradient). The top
   `rate` (0.2 %) of *all* hidden-layer parameters by |grad| among them get their aligned values.
3. 20 rounds; after 5 warm-up rounds, if task utility fell more than 5 %, restart from the fine-tuned
   model with rollback: each round then also takes the benign loss −cos(state on task prompts, d_b)
   and reverts, among that round's restored entries whose move back to the fine-tuned value is a
   descent step for it, the 20 % with the largest |grad| (`rollback_of: candidates`, upstream's
   ceil(ρ·|candidates|); `restored`: int(ρ·|restored|), the paper's wording) to the fine-tuned values.
4. The fuse: after warm-up (in the rollback run, from its first check), a round that leaves utility
   more than 5 % below the fine-tuned model's is undone and the recovery stops there.
Where code and paper differ: the code's entry script uses 1/3 depth and its committed "256" recovery
file holds 64 prompts; this follows the paper (2/3 depth, 256 prompts).

Utility is the task's own metric on held-out task rows, as the paper's (harness/stages/utility.py;
`utility: token-accuracy` for teacher-forced next-token accuracy instead). The harmful proxy per round is the share of a few recovery prompts answered without a refusal marker (greedy, 16
tokens): a progress signal, not a result (the suites measure that).

Memory on a 7B model (on paper): the current model and the gradients of the layers below L live on the
accelerator (bf16: 13.5 GB of weights + ~9 GB of gradients for 2/3 of the layers + activations of one
batch); the aligned and fine-tuned weights are read from their safetensors files, memory-mapped on the
CPU, one tensor at a time, so they cost page cache, not accelerator memory.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, cast

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_LAYER = re.compile(r"\.layers\.(\d+)\.")


def _layer_of(name: str) -> int | None:
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


class WeightFile:
    """A checkpoint's tensors by name, memory-mapped (safetensors) and read one at a time."""

    def __init__(self, directory: Path) -> None:
        from safetensors import safe_open

        self._files = []
        self._where: dict[str, Any] = {}
        for f in sorted(Path(directory).glob("*.safetensors")):
            h = safe_open(str(f), framework="pt")
            self._files.append(h)
            for k in h.keys():
                self._where[k] = h

    def get(self, name: str) -> torch.Tensor:
        return cast("torch.Tensor", self._where[name].get_tensor(name))


def harmful_proxy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> float:
    """Share of `prompts` answered (greedy, 16 tokens) without a GCG refusal marker."""
    from harness.data.refusal_markers import GCG_MARKERS

    from .generation import generate

    outs = generate(model, tokenizer, prompts, max_new_tokens=16)
    return sum(not any(m in t for m in GCG_MARKERS) for t, _ in outs) / max(len(outs), 1)


class Restorer:
    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, aligned: WeightFile,
                 finetuned: WeightFile, layer: int, batch_size: int) -> None:
        self.model, self.tok, self.layer, self.bs = model, tokenizer, layer, batch_size
        self.aligned, self.finetuned = aligned, finetuned
        n_layers = model.config.num_hidden_layers
        params = dict(model.named_parameters())
        # every hidden-layer parameter counts toward the budget (as the paper's code counts it) ...
        self.n_hidden = sum(p.numel() for n, p in params.items() if _layer_of(n) is not None and _layer_of(n) < n_layers)
        # ... but only weights of the layers before the direction layer, norms excluded, are touched
        self.names = [n for n, p in params.items()
                      if (at := _layer_of(n)) is not None and at < layer and "norm" not in n]
        for n, p in params.items():
            p.requires_grad_(n in self.names)
        self.params = {n: params[n] for n in self.names}

    def gradients(self, prompts: Sequence[str], target: torch.Tensor, keep: bool = False) -> float:
        """Accumulate d(−cos(mean state, target))/dθ over `prompts`, onto the gradients already there when
        `keep` (upstream's no-rollback run: G_t = Σ_s≤t g_s); returns the mean cosine."""
        import torch.nn.functional as F

        from .directions import batches, last_token_states
        from .generation import rendered

        if not keep:
            self.model.zero_grad(set_to_none=True)
        cos_sum, n = 0.0, 0
        target = target.to(self.model.device)
        for enc in batches(self.tok, rendered(self.tok, prompts), self.bs):
            h = last_token_states(self.model, enc, self.layer).float().mean(0)
            cos = F.cosine_similarity(h, target, dim=0)
            (-cos).backward()
            cos_sum += float(cos.detach()) * enc["input_ids"].shape[0]
            n += enc["input_ids"].shape[0]
        return cos_sum / max(n, 1)

    def restore(self, rate: float) -> dict[str, Any]:
        """Copy aligned values into the top-|grad| candidates; returns {name: (mask, previous values)}."""
        import torch

        k = math.ceil(self.n_hidden * rate)
        scores, masks = [], {}
        for n, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            diff = p.detach() - self.aligned.get(n).to(p.device, p.dtype)
            cand = (torch.sign(diff) == torch.sign(g)) & (diff != 0)
            masks[n] = cand
            scores.append(g.abs()[cand].float().flatten().cpu())
        allv = torch.cat(scores) if scores else torch.empty(0)
        if allv.numel() == 0:
            return {}
        thr = torch.topk(allv, min(k, allv.numel())).values.min()
        changed = {}
        with torch.no_grad():
            for n, cand in masks.items():
                p = self.params[n]
                assert p.grad is not None  # masks holds only parameters with a gradient
                m = cand & (p.grad.abs() >= thr.to(p.device))
                if m.any():
                    changed[n] = (m, p.detach()[m].clone())
                    # read again rather than kept from the scoring loop: holding every aligned tensor of
                    # the layers below L would cost the accelerator another copy of them
                    p[m] = self.aligned.get(n).to(p.device, p.dtype)[m]
        return changed

    def rollback(self, changed: dict[str, tuple[torch.Tensor, torch.Tensor]], share: float,
                 of: str = "candidates") -> tuple[int, int]:
        """Revert `share` of this round's restored entries to the fine-tuned values: those where moving
        back is a descent step of the benign loss (grads already computed), largest |grad| first.
        `of`: `candidates` reverts ceil(share × those candidates) (upstream), `restored` int(share × all
        restored entries) (the paper's wording). Returns (reverted, candidates)."""
        import torch

        vals, cands = [], {}
        for n, (m, _) in changed.items():
            p = self.params[n]
            if p.grad is None:
                continue
            ft = self.finetuned.get(n).to(p.device, p.dtype)
            c = m & (torch.sign(p.detach() - ft) == torch.sign(p.grad))
            cands[n] = (c, ft)
            vals.append(p.grad.abs()[c].float().flatten().cpu())
        allv = torch.cat(vals) if vals else torch.empty(0)
        total = sum(int(m.sum()) for m, _ in changed.values())
        k = math.ceil(allv.numel() * share) if of == "candidates" else int(total * share)
        if allv.numel() == 0 or k == 0:
            return 0, allv.numel()
        thr = torch.topk(allv, min(k, allv.numel())).values.min()
        reverted = 0
        with torch.no_grad():
            for n, (c, ft) in cands.items():
                p = self.params[n]
                assert p.grad is not None  # cands holds only parameters with a gradient
                r = c & (p.grad.abs() >= thr.to(p.device))
                p[r] = ft[r]
                reverted += int(r.sum())
        return reverted, allv.numel()

    def undo(self, changed: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        import torch
        with torch.no_grad():
            for n, (m, old) in changed.items():
                self.params[n][m] = old

    def reset(self) -> None:
        import torch
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(self.finetuned.get(n).to(p.device, p.dtype))


def direction_restore(aligned_dir: Path, finetuned_dir: Path, out: Path, harmful: Sequence[str],
                      benign_prompts: Sequence[str], utility: Callable[[Any, Any], float], *, rate: float = 0.002,
                      rollback_rate: float = 0.2, rounds: int = 20, warmup: int = 5, drop: float = 0.05,
                      layer: int | None = None, batch_size: int = 8, n_proxy: int = 16, check_every: int = 1,
                      accumulate_grads: bool = True, rollback_of: str = "candidates",
                      progress: bool = True) -> dict[str, Any]:
    """Recover `finetuned_dir` toward `aligned_dir`; writes the checkpoint to `out`; returns the log.

    benign_prompts: the task prompts of the benign direction (rollback); utility(model, tokenizer): the
    share of held-out task rows the model still gets right (harness/stages/utility.py).

    check_every: utility (and the harmful proxy) is measured after every `check_every`-th round, the
    warm-up round and the last (the paper: every round). A fuse that trips undoes every round since the
    previous check, so the model kept is always one whose utility was measured above the floor; on a CPU
    the checks are most of a round's cost, so checking less often buys rounds."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    from .checkpoints import load_tokenizer
    from .directions import direction, direction_layer

    t0 = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = load_tokenizer(finetuned_dir)
    # transformers types PreTrainedModel.to as functools.wraps(nn.Module.to), an unbound signature (self first)
    aligned_model = AutoModelForCausalLM.from_pretrained(str(aligned_dir), dtype=torch.float32)
    aligned_model = aligned_model.to(device).eval()  # type: ignore[arg-type]
    L = layer or direction_layer(aligned_model.config.num_hidden_layers)
    d_aligned = direction(aligned_model, tok, harmful, L, batch_size)
    del aligned_model
    model = AutoModelForCausalLM.from_pretrained(str(finetuned_dir), dtype=torch.float32)
    model = model.to(device).eval()  # type: ignore[arg-type]  # the same .to typing as above
    d_benign = direction(model, tok, benign_prompts, L, batch_size)
    proxy_prompts = list(harmful[:n_proxy])
    u_ft = utility(model, tok)
    floor = u_ft * (1 - drop)
    r = Restorer(model, tok, WeightFile(aligned_dir), WeightFile(finetuned_dir), L, batch_size)
    log: dict[str, Any] = {"direction_layer": L, "num_layers": model.config.num_hidden_layers,
                           "budget_per_round": math.ceil(r.n_hidden * rate),
                           "utility_metric": getattr(utility, "metric", "custom"), "utility_finetuned": u_ft,
                           "harmful_proxy_finetuned": harmful_proxy(model, tok, proxy_prompts),
                           "rollback": False, "fused_at": None, "rounds": []}

    def run(rollback: bool) -> bool:
        """All rounds; False when warm-up shows the restart with rollback is needed."""
        unchecked: list[dict[str, Any]] = []  # each round's changes since the last utility check, oldest first
        for i in tqdm(range(1, rounds + 1), desc="direction-restore" + (" (rollback)" if rollback else ""),
                      disable=not progress, leave=False):
            cos_before = r.gradients(harmful, d_aligned, keep=accumulate_grads and not rollback and i > 1)
            changed = r.restore(rate)
            reverted = candidates = 0
            if rollback:
                r.gradients(benign_prompts, d_benign)
                reverted, candidates = r.rollback(changed, rollback_rate, rollback_of)
            unchecked.append(changed)
            entry = {"round": i, "cos_before": round(cos_before, 5),
                     "restored": sum(int(m.sum()) for m, _ in changed.values()), "rolled_back": reverted,
                     "rollback_candidates": candidates}
            log["rounds"].append(entry)
            if i % check_every and i not in (warmup, rounds):
                continue
            u = utility(model, tok)
            entry |= {"utility": round(u, 5), "harmful_proxy": harmful_proxy(model, tok, proxy_prompts)}
            if i == warmup and not rollback and u < floor:
                entry["note"] = "warm-up cost more than the allowed utility drop: restart with rollback"
                return False
            if (rollback or i > warmup) and u < floor:  # the rollback run's warm-up round is checked too
                for rnd in reversed(unchecked):  # the fuse: back to the model of the last good check
                    r.undo(rnd)
                entry["note"] = f"fuse: utility fell below the floor; rounds {i - len(unchecked) + 1}-{i} are undone"
                log["fused_at"] = i
                return True
            unchecked.clear()
        return True

    if not run(rollback=False):
        r.reset()
        log["rollback"] = True
        run(rollback=True)
    with torch.no_grad():
        log["cos_final"] = round(float(torch.nn.functional.cosine_similarity(
            direction(model, tok, harmful, L, batch_size), d_aligned, dim=0)), 5)
    log["utility_final"] = utility(model, tok)
    for p in model.parameters():
        p.requires_grad_(False)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    log["seconds"] = round(time.perf_counter() - t0, 2)
    return log
