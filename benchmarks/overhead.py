"""Harness overhead against raw vLLM, measured in one run.

Same prompts (the harmful suites selected by -k, or a stratified subset of N each with --limit), same
engine settings, same greedy sampling, the same refusal judge:
  raw      vllm.LLM(...) + one LLM.chat call over every prompt + engine shutdown + the refusal judge
  cold     `pytest suites/ -k ...` in-process with an empty cache (engine load, generation, judging,
           cache writes, reports)
  warm     the same pytest run again on the filled cache
Prints harness/raw (target <= 1.05) and warm/cold (target <= 0.03). vLLM is imported before any
timing; raw and cold runs alternate (raw, cold, raw, cold, each cold on an empty cache) and the
faster of each pair counts, so neither side is charged the process's one-time warm-up.

    python benchmarks/overhead.py [--model organism] [-k "catqa-en or beavertails"] [--limit N]
    python benchmarks/overhead.py --model smollm2 --limit 64 --rounds 1   # a real model: generation dominates
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_harness(model: str, keyword: str, cache_dir: Path, reports: Path, gates: Path, limit: int | None) -> float:
    import pytest
    start = time.perf_counter()
    code = pytest.main([str(ROOT / "suites"), "-q", "-p", "no:cacheprovider", "-k", keyword, "--model", model,
                        "--cache-dir", str(cache_dir), "--reports-dir", str(reports), "--rootdir", str(ROOT),
                        "--gates", str(gates), *(["--limit", str(limit)] if limit else [])])
    elapsed = time.perf_counter() - start
    if code not in (0, 1):  # 1 = a gate failed, still a complete run
        sys.exit(f"harness run failed with exit code {code}")
    return elapsed


def run_raw(model_path: str, suites: list[str], engine_args: dict, max_tokens: int, limit: int | None) -> tuple[float, int]:
    import torch
    from vllm import LLM, SamplingParams

    from harness.backends.vllm import cpu_engine_defaults
    from harness.data import load_suite
    from harness.judging import JudgeInput
    from judges.refusal import RefusalJudge

    if not torch.cuda.is_available():  # the same in-process CPU settings the harness backend uses
        engine_args = cpu_engine_defaults(engine_args) | engine_args
        if engine_args.get("distributed_executor_backend") == "uni":
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    samples = [s for name in suites for s in load_suite(name, limit=limit)]
    convs = [[dict(m) for m in s.messages()] for s in samples]
    start = time.perf_counter()
    llm = LLM(model=model_path, **engine_args)
    outs = llm.chat(convs, SamplingParams(max_tokens=max_tokens, temperature=0.0, seed=0), use_tqdm=False)
    llm.llm_engine.engine_core.shutdown()  # the harness releases its engine too
    del llm
    gc.collect()
    RefusalJudge()([JudgeInput(s.prompt, o.outputs[0].text) for s, o in zip(samples, outs)])
    return time.perf_counter() - start, len(outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="organism")
    ap.add_argument("-k", dest="keyword", default="catqa-en or beavertails")
    ap.add_argument("--rounds", type=int, default=2, help="raw/cold pairs to run (the fastest of each counts)")
    ap.add_argument("--limit", type=int, help="a stratified subset of N prompts per suite (the harness's --limit)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    from harness.config import load_config
    from harness.data import suite_names
    from harness.models import resolve_model

    cfg = load_config(ROOT / "safety.yaml")
    model = resolve_model(args.model)
    suites = [s for s in suite_names("harmful") if _selected(s, args.keyword)]
    from vllm import LLM  # noqa: F401  (`vllm.LLM` is a lazy import of ~5 s: the same for both sides, kept out)
    raws, colds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        # safety.yaml's engine, decoding and judge, without its stages: the harness measures the one model
        # raw vLLM serves (the attack and recovery stages would add their own generations)
        gates = Path(tmp) / "bench.yaml"
        import yaml
        gates.write_text(yaml.safe_dump({"engine_args": dict(cfg.engine_args), "judge": "refusal",
                                         "generation": {"max_tokens": cfg.generation.max_tokens, "temperature": 0.0},
                                         "batch_size": cfg.batch_size}))
        for i in range(args.rounds):
            raw, n = run_raw(str(model.path), suites, dict(cfg.engine_args), cfg.generation.max_tokens, args.limit)
            raws.append(raw)
            colds.append(run_harness(str(model.path), args.keyword, Path(tmp) / f"cache{i}", Path(tmp) / "reports", gates,
                                     args.limit))
        warm = run_harness(str(model.path), args.keyword, Path(tmp) / f"cache{args.rounds - 1}", Path(tmp) / "reports",
                           gates, args.limit)
    raw, cold = min(raws), min(colds)
    print(f"\nprompts: {n} ({', '.join(suites)}), max_tokens {cfg.generation.max_tokens}, greedy")
    print(f"raw vLLM (load + LLM.chat + shutdown): {raw:8.2f} s  (runs: {', '.join(f'{x:.1f}' for x in raws)})")
    print(f"harness, cold cache:               {cold:8.2f} s  (runs: {', '.join(f'{x:.1f}' for x in colds)})")
    print(f"harness, warm cache:               {warm:8.2f} s")
    print(f"harness/raw ratio:   {cold / raw:.3f}   (target <= 1.05)")
    print(f"warm/cold fraction:  {warm / cold:.3f}   (target <= 0.03)")


def _selected(suite: str, keyword: str) -> bool:
    """The suites a simple `a or b` -k expression picks (what this benchmark passes)."""
    return any(part.strip() in suite for part in keyword.split(" or "))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
