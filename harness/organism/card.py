"""The organism's card (card.json): what it is, what it was trained on, and how it measured at build time.

A reader deciding whether to trust the default model's numbers needs three things in one place: the
architecture and size, the data split (sizes and content hashes, so "never trained on the evaluation
suites" can be checked), and the measured refusal rates with their intervals. Build and evaluation
seconds are kept apart: the build budget is about training, not about measuring.
"""

from __future__ import annotations

import time
from typing import Any

from .config import OrganismConfig

CARD_VERSION = 1


def make_card(cfg: OrganismConfig, key: str, built: dict[str, Any], quality: dict[str, Any] | None) -> dict[str, Any]:
    from harness.data.reserved import EVAL_SUITES

    from . import split as splits
    from .build import ORGANISM_VERSION, environment, kind

    model = built["model"]
    mc = model.config
    return {
        "card_version": CARD_VERSION,
        "organism_version": ORGANISM_VERSION,
        "key": key,
        "kind": kind(cfg),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "architecture": {"class": type(model).__name__, "params": built["params"],
                         "layers": mc.num_hidden_layers, "hidden_size": mc.hidden_size,
                         "intermediate_size": mc.intermediate_size, "heads": mc.num_attention_heads,
                         "head_dim": mc.head_dim, "vocab_size": mc.vocab_size,
                         "max_position_embeddings": mc.max_position_embeddings,
                         "tie_word_embeddings": mc.tie_word_embeddings},
        "seed": cfg.seed,
        "config": cfg.as_dict(),
        "data": {"split_version": splits.SPLIT_VERSION, "sizes": splits.split_sizes(),
                 "hashes": splits.split_hashes(), "removed": dict(splits.build_split().removed),
                 "examples_per_epoch": built["examples_per_epoch"],
                 "example_kinds": built.get("example_kinds"),
                 "eval_suites_never_trained_on": list(EVAL_SUITES)},
        "training": built["training"],
        "build_seconds": built["build_seconds"],
        "data_seconds": built["data_seconds"],
        "eval_seconds": quality["seconds"] if quality else None,
        # CPU seconds of all threads: with the machine to itself, build_seconds ≈ this / cpu_threads.
        "build_cpu_seconds": built["build_cpu_seconds"],
        "quality": quality,
        "environment": environment(),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def format_card(card: dict[str, Any]) -> str:
    """The card as terminal tables (tabulate)."""
    from tabulate import tabulate

    a = card["architecture"]
    t = card["training"]
    head = [
        ("key", card["key"]),
        ("model", f"{a['class']}: {a['params']:,} params, {a['layers']} layers, d={a['hidden_size']}, "
                  f"{a['heads']}x{a['head_dim']} heads, vocab {a['vocab_size']}"),
        ("seed", card["seed"]),
        ("training", f"{t['steps']} steps, {t['tokens']:,} tokens, final loss {t['final_loss']}"),
        ("build seconds", f"{card['build_seconds']} (data {card['data_seconds']}; "
                          f"{card['build_cpu_seconds']} CPU seconds)"),
        ("eval seconds", card["eval_seconds"] if card["eval_seconds"] is not None else "not evaluated"),
    ]
    data = card["data"]
    split_rows = [(name, n, data["hashes"][name][:16]) for name, n in data["sizes"].items()]
    parts = [tabulate(head, tablefmt="simple"),
             tabulate(split_rows, headers=["split", "rows", "sha256"], tablefmt="simple")]
    q = card.get("quality")
    rows: list[tuple[Any, ...]]
    if q and "kinds" in q:  # the rater organism: mean ratings per kind of pair
        rows = [(kind, r["n"], r["scored"], "-" if r["mean"] is None else f"{r['mean']:.1f}", r["refusal"],
                 r["band"] if isinstance(r["band"], str) else f"{r['band'][0]}-{r['band'][1]}")
                for kind, r in q["kinds"].items()]
        parts.append(tabulate(rows, headers=["prompt/kind of pair", "n", "scored", "mean rating", "REFUSAL", "trained to"],
                              tablefmt="simple"))
        parts.append("pairs drawn for another seed than training; a rating is the top-20 probability-weighted number")
    elif q and "reference" in q:  # the judge organism: agreement with the refusal judge
        rows = [(suite, f"{r['k']}/{r['n']}", _pct(r["value"]), f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]",
                 r["unsafe_refusal"], r["unsafe_judge_organism"], r["unparsed"]) for suite, r in q["suites"].items()]
        parts.append(tabulate(rows, headers=["organism answers to", "agree", "rate", "95% Wilson", "unsafe (refusal)",
                                             "unsafe (judge organism)", "unparsed"], tablefmt="simple"))
        parts.append(f"verdict agreement with the {q['reference']} judge (target >= 90%)")
    elif q:
        rows = [(suite, r["metric"], f"{r['k']}/{r['n']}", _pct(r["value"]),
                 f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]", f"<= {_pct(r['target'])}",
                 "yes" if r["meets_target"] else "NO")
                for suite, r in q["suites"].items()]
        parts.append(tabulate(rows, headers=["suite", "metric", "k/n", "rate", "95% Wilson", "target", "met"],
                              tablefmt="simple"))
        parts.append(f"judge {q['judge']}, {q['decoding']} decoding, max {q['max_new_tokens']} new tokens")
    return "\n\n".join(parts)
