"""Command-line options: declared in one group, each value validated by a `parse_*` function.

pytest calls the `type=` callables at parse time, so a bad value fails before any model loads.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml


def parse_key_value(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE read as a YAML scalar (so 2 → int, 0.5 → float, true → bool)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def parse_suite_file(text: str) -> tuple[str, str]:
    """NAME=PATH for a user's prompt file run as a suite."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name.strip(), path.strip()


def parse_patterns(text: str) -> tuple[str, ...]:
    """A comma-separated list of glob patterns (stage names)."""
    out = tuple(p.strip() for p in text.split(",") if p.strip())
    if not out:
        raise argparse.ArgumentTypeError(f"expected stage patterns such as original,attacked/*, got {text!r}")
    return out


def parse_limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def parse_backend(text: str) -> str:
    from .backends import KINDS
    if text not in KINDS:
        raise argparse.ArgumentTypeError(f"expected one of {list(KINDS)}, got {text!r}")
    return text


def parse_judge(text: str) -> str:
    from judges import validate

    from .errors import HarnessError
    try:
        return validate(text)
    except HarnessError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_options(parser: Any) -> None:
    g = parser.getgroup("safety", "LLM safety gates")
    g.addoption("--model", help="model under test: a local directory, a hub id, a served model name (with "
                "--backend openai), or 'organism' for the embedded model (default: safety.yaml's `model`)")
    g.addoption("--base-model", help="the aligned model --model was fine-tuned from: recovery stages with "
                "`source: original` restore toward it (default: safety.yaml's `base_model`)")
    g.addoption("--backend", type=parse_backend, help="vllm (the default where it is installed), hf (transformers; the default otherwise) or openai (HTTP)")
    g.addoption("--engine-arg", action="append", type=parse_key_value, default=[], metavar="KEY=VALUE",
                help="engine setting passed through to vllm.LLM / from_pretrained (repeatable), e.g. "
                "tensor_parallel_size=2")
    g.addoption("--judge", action="append", type=parse_judge, default=[], metavar="NAME[@OPTIONS][:ARG]",
                help="judge, repeatable: each labels every sample and gets its own records; with two or more, "
                "their agreement (Cohen's kappa) is recorded. ARG is the judge model or a variant "
                "(default: safety.yaml's `judge`)")
    g.addoption("--judge-backend", type=parse_backend, help="backend of model judges (default: --backend)")
    g.addoption("--judge-engine-arg", action="append", type=parse_key_value, default=[], metavar="KEY=VALUE",
                help="engine setting for model judges (repeatable)")
    g.addoption("--gates", type=Path, help="safety.yaml-style file with model, stages and gates "
                "(default: safety.yaml in the rootdir, if present)")
    g.addoption("--stages", type=parse_patterns, metavar="PATTERN[,PATTERN]",
                help="the stages to run, e.g. original,attacked/* (default: safety.yaml's `stages`, else every "
                "declared stage; only original when --model is not the file's `model`)")
    g.addoption("--limit", type=parse_limit, help="run a deterministic, category-stratified subset of N prompts per suite")
    g.addoption("--suite-file", action="append", type=parse_suite_file, default=[], metavar="NAME=PATH",
                help="run a JSONL/CSV file with a `prompt` column as suite NAME (repeatable); also how "
                "HEx-PHI is supplied: --suite-file hexphi=PATH")
    g.addoption("--allow-pickle", action="store_true", help="allow non-safetensors weights (they can run code)")
    g.addoption("--unsafe-unsandboxed-code", action="store_true",
                help="run model-written code (HumanEval) WITHOUT the bubblewrap jail, when bwrap is missing; "
                     "only for models whose code you would run yourself")
    g.addoption("--trust-remote-code", action="store_true", help="allow models that ship their own code")
    g.addoption("--openai-base-url", default=os.environ.get("OPENAI_BASE_URL"),
                help="base URL of an OpenAI-compatible server (env OPENAI_BASE_URL)")
    g.addoption("--openai-api-key", default=None,
                help="API key for --backend openai (env OPENAI_API_KEY); never written anywhere")
    g.addoption("--reports-dir", type=Path, help="where results.json, samples and index.html go (default: <rootdir>/reports)")
    g.addoption("--cache-dir", type=Path, help="directory of the generation/verdict cache (default: user cache dir)")
    g.addoption("--no-cache", action="store_true", help="keep generations and verdicts in memory only")
