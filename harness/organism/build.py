"""Build the organism once, cache it by content (harness/artifacts.py), and never load a damaged copy.

`ensure_organism()` returns a directory that transformers and vLLM load. It lives at
`cache_root()/organism/<key>`, where the key hashes everything that decides the model: the config, the
inputs of the data split (vendored files, split code, refusal markers) and the organism's source code.
The split is a pure function of those inputs, so hashing them keys the training data without
recomputing it on every call; the card records the split's own content hashes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, cast

from harness.artifacts import cache_root, code_digest, ensure_built, sha256_file, verify

from .config import JudgeOrganismConfig, OrganismConfig

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .examples import Example

ORGANISM_VERSION = "organism-1"  # bump to rebuild every cached organism
CARD = "card.json"
REQUIRED = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", CARD)
_SRC = Path(__file__).parent
OWN_SOURCES = ("config", "evaluate", "examples", "frames", "judge", "model", "tokenizer", "train")


def _source_files(cfg: OrganismConfig) -> list[Path]:
    """Code whose change changes the model: this package, the split (with the reserved sets, readers and
    normalisation it reads), the refusal judge's markers; the judge organism's module and Llama Guard's
    judge only for the judge organism."""
    import harness.data.common as common
    import harness.data.refusal_markers as refusal_markers
    import harness.data.reserved as reserved
    import harness.data.vendored as vendored
    import harness.stages.generation as generation
    import harness.stages.refusals as refusals
    import judges.llama_guard as llama_guard
    import judges.refusal as refusal

    from . import split

    # named, not globbed: build.py and card.py only package and describe the model (bump
    # ORGANISM_VERSION when a change there must rebuild it), and the SmolLM2 providers beside it
    # (aligned.py, smollm2.py, providers.py) decide nothing here
    own = [_SRC / f"{name}.py" for name in OWN_SOURCES]
    own += [Path(f) for f in (refusals.__file__, generation.__file__, split.__file__, reserved.__file__, vendored.__file__,
                              common.__file__, refusal_markers.__file__, refusal.__file__)]
    if kind(cfg) == "rater-organism":
        import judges.emergent as emergent
        templates = Path(emergent.__file__).parent / "templates"
        return own + [_SRC / "rater.py", Path(emergent.__file__), templates / "em_aligned.txt", templates / "em_coherent.txt"]
    if isinstance(cfg, JudgeOrganismConfig):
        from judges.llama_guard import TEMPLATE_FILES
        return own + [Path(llama_guard.__file__), Path(llama_guard.__file__).parent / "templates" / TEMPLATE_FILES["3"]]
    return [p for p in own if p.name != "judge.py"]


def _input_files() -> list[Path]:
    from .split import INPUT_FILES, VENDOR

    return [VENDOR / rel for rel in INPUT_FILES]


def cache_key(cfg: OrganismConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": ORGANISM_VERSION, "kind": kind(cfg), "config": cfg.as_dict()},
                        sort_keys=True).encode())
    for group in (_source_files(cfg), _input_files()):
        for p in group:
            digest = code_digest(p) if p.suffix == ".py" else sha256_file(p)  # code, not its prose
            h.update(str(p.relative_to(p.parents[1])).encode() + b"\0" + digest.encode() + b"\0")
    return h.hexdigest()[:24]


def kind(cfg: OrganismConfig) -> str:
    """"organism" (the chat model), "judge-organism" (harness/organism/judge.py) or "rater-organism"
    (harness/organism/rater.py): also its --model name."""
    from .rater import RaterOrganismConfig

    if isinstance(cfg, RaterOrganismConfig):
        return "rater-organism"
    return "judge-organism" if isinstance(cfg, JudgeOrganismConfig) else "organism"


def organism_root() -> Path:
    return cache_root() / "organism"


def entry_dir(cfg: OrganismConfig | None = None) -> Path:
    """Where the organism for `cfg` lives (whether or not it is built)."""
    return organism_root() / cache_key(cfg or OrganismConfig())


# ---------------------------------------------------------------------------------------------- build

def train_and_save(cfg: OrganismConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Data → tokenizer → model → files in `out`. Returns the card's build section."""
    from . import split as splits

    if isinstance(cfg, JudgeOrganismConfig):
        from . import judge
        return judge.train_and_save(cfg, out, progress)
    if kind(cfg) == "rater-organism":
        from . import rater
        return rater.train_and_save(cfg, out, progress)  # type: ignore[arg-type]

    from .examples import chats, tokenize, training_texts
    from .tokenizer import train_tokenizer

    started = time.perf_counter(), time.process_time()
    harmful, benign = splits.harmful_train(), splits.benign_train()
    tokenizer = train_tokenizer(training_texts(chats(harmful, benign, cfg)), cfg.vocab_size)
    epochs = [[tokenize(c, tokenizer, cfg) for c in chats(harmful, benign, cfg, epoch=e)] for e in range(cfg.epochs)]
    return fit_and_save(cfg, tokenizer, epochs, out, started, progress)


def fit_and_save(cfg: OrganismConfig, tokenizer: PreTrainedTokenizerBase, epochs: Sequence[Sequence[Example]], out: Path,
                 started: tuple[float, float], progress: bool = True, kinds: dict[str, int] | None = None) -> dict[str, Any]:
    """Train a new model on tokenised `epochs` (seeded, deterministic), save it with its tokenizer, and
    return the card's build section. `started`: (wall, CPU) clock when data preparation began."""
    from .model import n_params, new_model
    from .train import deterministic, train_model

    t_data = time.perf_counter() - started[0]
    with deterministic(cfg.seed):
        model = new_model(cfg, tokenizer)
        stats = train_model(model, epochs, cfg, tokenizer.pad_token_id, progress=progress)
    build_seconds, build_cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return {"model": model, "tokenizer": tokenizer, "params": n_params(model),
            "data_seconds": round(t_data, 2), "build_seconds": round(build_seconds, 2),
            "build_cpu_seconds": round(build_cpu, 1), "training": stats,
            "examples_per_epoch": len(epochs[0]), "example_kinds": kinds}


def build(cfg: OrganismConfig, out: Path, key: str, progress: bool = True) -> None:
    """Build into `out` (an empty directory): model, tokenizer, card, then the manifest."""
    from .card import make_card
    from .evaluate import SUITES, measure

    built = train_and_save(cfg, out, progress)
    quality = None
    if cfg.evaluate and kind(cfg) == "rater-organism":
        from .rater import check
        quality = check(built["model"], built["tokenizer"], cfg)  # type: ignore[arg-type]
    elif cfg.evaluate and isinstance(cfg, JudgeOrganismConfig):
        from .judge import agreement
        quality = agreement(built["model"], built["tokenizer"], [s for s, m in SUITES.items() if m == "harmful_rate"],
                            cfg.eval_limit, progress=progress)
    elif cfg.evaluate:
        from harness.data.reserved import eval_rows
        rows = {s: eval_rows(s)[: cfg.eval_limit] if cfg.eval_limit else eval_rows(s) for s in SUITES}
        quality = measure(built["model"], built["tokenizer"], rows, progress=progress)
    card = make_card(cfg, key, built, quality)
    (out / CARD).write_text(json.dumps(card, indent=1, ensure_ascii=False))


def ensure_organism(config: OrganismConfig | None = None, *, progress: bool = True) -> Path:
    """The organism's model directory, built on first use (minutes) and reused after (milliseconds)."""
    cfg = config or OrganismConfig()
    key = cache_key(cfg)
    return ensure_built(organism_root(), key, lambda out: build(cfg, out, key, progress), REQUIRED, kind(cfg), progress)


def load_card(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((path / CARD).read_text()))


def cached_card(config: OrganismConfig | None = None) -> dict[str, Any] | None:
    """The card of the cached organism for `config`, or None when it is not built (or damaged)."""
    cfg = config or OrganismConfig()
    key = cache_key(cfg)
    d = organism_root() / key
    return load_card(d) if d.is_dir() and verify(d, key, REQUIRED) is None else None


def environment() -> dict[str, str | int]:
    import tokenizers
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "cpu_threads": torch.get_num_threads()}
