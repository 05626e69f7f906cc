"""The `safety-harness` command. Subcommands register themselves in `COMMANDS`.

Evaluation runs through pytest (`pytest suites/`); this command holds the chores around it. Each
subcommand is a `register(subparsers)` function that adds its parser and sets `func`, so new ones
(`report`, …) are one function each. A `HarnessError` becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from harness.errors import HarnessError


def _organism_config(args: argparse.Namespace):
    from harness.organism import JudgeOrganismConfig, OrganismConfig

    return (JudgeOrganismConfig if args.judge else OrganismConfig)(seed=args.seed)


def _organism_build(args: argparse.Namespace) -> int:
    from harness.organism import ensure_organism, format_card, load_card

    path = ensure_organism(_organism_config(args), progress=not args.quiet)
    print(path)
    print(format_card(load_card(path)))
    return 0


def _organism_info(args: argparse.Namespace) -> int:
    from harness.organism import cached_card, entry_dir, format_card

    cfg = _organism_config(args)
    card = cached_card(cfg)
    if card is None:
        flag = " --judge" if args.judge else ""
        print(f"the {'judge' if args.judge else 'model'} organism (seed {cfg.seed}) is not built; expected at "
              f"{entry_dir(cfg)}. Run `safety-harness organism build{flag}` to build it.")
        return 1
    print(entry_dir(cfg))
    print(format_card(card))
    return 0


def register_organism(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("organism", help="the embedded model organism (the default --model)")
    osub = p.add_subparsers(dest="action", required=True)
    for name, func, help_ in (("build", _organism_build, "build it (or reuse the cached one) and print its card"),
                              ("info", _organism_info, "print the card of the cached organism")):
        q = osub.add_parser(name, help=help_)
        q.add_argument("--seed", type=int, default=0, help="training seed (default 0, the harness default)")
        q.add_argument("--judge", action="store_true",
                       help="the judge organism (`--judge llama-guard-3:judge-organism`) instead of the chat model")
        if name == "build":
            q.add_argument("--quiet", action="store_true", help="no progress bars")
        q.set_defaults(func=func)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [register_organism]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safety-harness", description="LLM safety gates as pytest: commands around the test run.")
    sub = p.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as e:
        print(f"safety-harness: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
