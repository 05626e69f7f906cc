"""The `safety-harness` command. Subcommands register themselves in `COMMANDS`.

Evaluation runs through pytest (`pytest suites/`); this command holds the chores around it. Each
subcommand is a `register(subparsers)` function that adds its parser and sets `func`, so new ones
(`report`, …) are one function each. A `HarnessError` becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.providers import Provider


def _named(args: argparse.Namespace) -> Provider:
    """The provider a `safety-harness organism` call names (`--judge` / `--rater` are shortcuts)."""
    from harness.providers import get

    return get("rater-organism" if args.rater else "judge-organism" if args.judge else args.name)


def _organism_build(args: argparse.Namespace) -> int:
    provider = _named(args)
    path = provider.build(seed=args.seed, progress=not args.quiet)
    print(path)
    card = provider.card(seed=args.seed)
    print(provider.format_card(card) if card else "(no card)")
    return 0


def _organism_info(args: argparse.Namespace) -> int:
    provider = _named(args)
    card = provider.card(seed=args.seed)
    if card is None:
        seed = f" --seed {args.seed}" if provider.seeded and args.seed else ""
        print(f"{provider.name}{f' (seed {args.seed})' if provider.seeded else ''} is not built; expected at "
              f"{provider.where(seed=args.seed)}. Run `safety-harness organism build {provider.name}{seed}` to build it.")
        return 1
    print(provider.where(seed=args.seed))
    print(provider.format_card(card))
    return 0


def register_organism(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("organism", help="the embedded models: organisms built here, SmolLM2 (--model NAME)")
    osub = p.add_subparsers(dest="action", required=True)
    for name, func, help_ in (("build", _organism_build, "build it (or reuse the cached one) and print its card"),
                              ("info", _organism_info, "print the card of the cached model")):
        q = osub.add_parser(name, help=help_)
        q.add_argument("name", nargs="?", default="organism",
                       help="organism (default), judge-organism, rater-organism, smollm2, smollm2-aligned, or "
                       "another registered model")
        q.add_argument("--seed", type=int, default=0, help="training seed (default 0, the harness default)")
        which = q.add_mutually_exclusive_group()
        which.add_argument("--judge", action="store_true", help="same as NAME judge-organism")
        which.add_argument("--rater", action="store_true", help="same as NAME rater-organism")
        if name == "build":
            q.add_argument("--quiet", action="store_true", help="no progress bars")
        q.set_defaults(func=func)


def _ches(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.models import resolve_model
    from harness.stages.ches import ches_scores, top_pairs
    from harness.stages.data import load_jsonl

    model = resolve_model(args.model)
    if model.path is None:
        raise HarnessError(f"--model {args.model}: CHES needs the model's weights (a local directory)")
    rows = load_jsonl(Path(args.pairs).expanduser(), preference=True)
    scores = ches_scores(model.path, rows, progress=not args.quiet)
    top = top_pairs(rows, scores, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": model.name, "scores": [s.__dict__ for s in scores], "top": top},
                                              indent=1, ensure_ascii=False))

    def cut(t: str) -> str:
        return (t[:57] + "...") if len(t) > 60 else t

    print(tabulate([[t["index"], f"{t['ln_ches']:.4g}", f"{t['ches']:.4g}", cut(t["prompt"]), cut(t["chosen"]),
                     cut(t["rejected"])] for t in top], headers=["row", "LN-CHES", "CHES", "prompt", "chosen", "rejected"]))
    return 0


def register_ches(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ches", help="screen preference pairs by CHES (likelihood displacement) for a model")
    p.add_argument("--model", required=True, help="the model DPO would train (a local directory, or 'organism')")
    p.add_argument("--pairs", required=True, help="JSONL of preference rows: prompt/chosen/rejected")
    p.add_argument("--top", type=int, default=20, help="how many of the most similar pairs to list (default 20)")
    p.add_argument("--json", help="also write every score and the top pairs to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_ches)


def _report(args: argparse.Namespace) -> int:
    from harness.report import atomic_write
    from harness.report.diff import load_results
    from harness.report.html import gate_rows, render_html

    results_path = Path(args.results)
    results = load_results(results_path)
    out = Path(args.out) if args.out else results_path.parent / "index.html"
    atomic_write(out, render_html(results, results_path.parent))
    failed = [g for g in gate_rows(results) if not g["passed"]]
    print(f"{out}: {len(results['records'])} records, " + (f"{len(failed)} gate check(s) failed" if failed else "all gates held"))
    return 0


def register_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="write the HTML report of a results.json (and its samples/ beside it)")
    p.add_argument("results", help="path to results.json")
    p.add_argument("--out", help="where to write the page (default: index.html beside results.json)")
    p.set_defaults(func=_report)


def _stages(args: argparse.Namespace) -> int:
    from harness.report.diff import load_results
    from harness.report.summary import stage_table

    results = load_results(Path(args.results))
    print(stage_table(results.get("overview") or {}, results.get("stages") or []) or "one stage only: nothing to compare")
    return 0


def register_stages(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stages", help="a results.json's stages side by side: each suite's rate with its interval")
    p.add_argument("results", help="path to results.json")
    p.set_defaults(func=_stages)


def _diff(args: argparse.Namespace) -> int:
    from harness.report.diff import format_diff, load_results

    print(format_diff(load_results(Path(args.old)), load_results(Path(args.new)), only_changed=args.changed))
    return 0


def register_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diff", help="what changed between two runs' results.json (rates, Fisher exact p, gates)")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--changed", action="store_true", help="only records whose gate outcome changed or whose "
                   "rate changed significantly (p <= 0.05)")
    p.set_defaults(func=_diff)


def _cache_ls(args: argparse.Namespace) -> int:
    import time

    from tabulate import tabulate

    from harness.artifacts import cache_root
    from harness.cache_entries import entries, human, in_use, total_size

    root = cache_root()
    rows = [(e.kind, e.path.name, human(e.size), time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
             "yes" if in_use(e) else "") for e in entries(root)]
    print(tabulate(rows, headers=["kind", "entry", "size", "last used", "in use"], tablefmt="simple") if rows
          else "no built entries")
    db = root / "cache.sqlite"
    print(f"\n{root}: {human(total_size(root))} in all"
          + (f" (generations and verdicts: {human(db.stat().st_size)} in {db.name})" if db.exists() else ""))
    return 0


def _cache_prune(args: argparse.Namespace) -> int:
    from harness.cache_entries import human, prune

    if args.older_than is None and args.max_size is None:
        raise HarnessError("cache prune: say what to remove: --older-than DAYS and/or --max-size SIZE (e.g. 20G)")
    removed, busy = prune(args.older_than, args.max_size, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for e in removed:
        print(f"{verb} {e.kind}/{e.path.name} ({human(e.size)})")
    for e in busy:
        print(f"kept {e.kind}/{e.path.name} ({human(e.size)}): in use by a running process")
    print(f"{verb} {len(removed)} entries, {human(sum(e.size for e in removed))}")
    return 0


def _size_arg(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 20G, got {text!r}") from None


def register_cache(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cache", help="what the harness cache holds on this disk (built models, stage checkpoints), "
                       "and pruning it")
    csub = p.add_subparsers(dest="action", required=True)
    csub.add_parser("ls", help="entries with kind, size, last use, and whether a running process holds them"
                    ).set_defaults(func=_cache_ls)
    q = csub.add_parser("prune", help="remove entries unused for DAYS and/or the least recently used beyond SIZE; "
                        "never one a running process holds; generations and verdicts (cache.sqlite) are kept")
    q.add_argument("--older-than", type=float, metavar="DAYS", help="remove entries not used for DAYS days")
    q.add_argument("--max-size", type=_size_arg, metavar="SIZE", help="then keep the entries within SIZE (e.g. 20G)")
    q.add_argument("--dry-run", action="store_true", help="say what would be removed")
    q.set_defaults(func=_cache_prune)


COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    register_organism, register_ches, register_report, register_diff, register_stages, register_cache]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safety-harness", description="LLM safety gates as pytest: commands around the test run.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the packaged suites with pytest from this directory (./safety.yaml, ./reports); "
                   "every argument after `run` is pytest's, e.g. `safety-harness run -k catqa-en --model ./ckpt`")
    for register in COMMANDS:
        register(sub)
    return p


def packaged_suites() -> Path:
    """The suite tests shipped in the package (`harness.suites`, the repository's top-level suites/)."""
    import importlib.util

    spec = importlib.util.find_spec("harness.suites")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("the packaged suites (harness.suites) are missing: reinstall safety-harness")
    return Path(list(spec.submodule_search_locations)[0])


def run(pytest_args: Sequence[str]) -> int:
    """`safety-harness run [pytest args]`: pytest on the packaged suites, from the current directory:
    ./safety.yaml is read when present, reports go to ./reports (like `deepeval test run`)."""
    import pytest

    # harness is imported already (this command), so pytest cannot rewrite the plugin's asserts; it has none
    return int(pytest.main([str(packaged_suites()), f"--rootdir={Path.cwd()}",
                            "-W", "ignore::pytest.PytestAssertRewriteWarning", *pytest_args]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # everything after `run` is pytest's (argparse would read -k as its own)
        try:
            return run(argv[1:])
        except HarnessError as e:
            print(f"safety-harness: {e}", file=sys.stderr)
            return 2
    args = parser().parse_args(argv)
    try:
        func: Callable[[argparse.Namespace], int] = args.func  # set by each subcommand's parser
        return func(args)
    except HarnessError as e:
        print(f"safety-harness: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
