"""Utility suites that are not redistributable here: MMLU and TriviaQA, from a user path or the hub.

Like HEx-PHI (hexphi.py): a user path first (`--suite-file mmlu=PATH`), then the hub when one is
reachable and neither HF_HUB_OFFLINE nor HF_DATASETS_OFFLINE is set, else `SuiteUnavailable` (the
test skips) with a message that says how to supply the data.

Formats of a user path:
- MMLU: the upstream `data/test/` directory of `<subject>_test.csv` files (question, A, B, C, D,
  answer; no header), or a JSONL with `question`, `choices` (4 strings) and `answer` (0–3 or A–D),
  optional `subject`.
- TriviaQA: a JSONL with `question` and `answers` (a list of aliases) or `answer` (a string), or
  the official JSON (`{"Data": [{"Question", "Answer": {"Aliases", "Value"}}]}`).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import HarnessError, SuiteUnavailable
from ..types import Sample
from .common import read_text

LETTERS = "ABCD"
MMLU_HUB = ("cais/mmlu", "all", "test")
TRIVIAQA_HUB = ("mandarjoshi/trivia_qa", "rc.nocontext", "validation")


def _how(suite: str, hub: tuple[str, str, str], formats: str) -> str:
    return (f"{suite} is not vendored (licence or size); pass --suite-file {suite}=PATH ({formats}), or run "
            f"where the hub is reachable ({hub[0]}, config {hub[1]}, split {hub[2]})")


def _offline() -> str | None:
    return next((v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
                 if (os.environ.get(v) or "").strip().lower() not in ("", "0", "false", "no", "off")), None)


HUB_HOST = ("huggingface.co", 443)


@functools.lru_cache(maxsize=1)
def _unreachable() -> str | None:
    """Why the hub cannot be reached (one TCP connection, 3 s at most, once per process), or None.
    Without this, `datasets` retries five times per suite on a machine with no network (~26 s each)."""
    import socket

    try:
        socket.create_connection(HUB_HOST, timeout=3).close()
        return None
    except OSError as e:
        return f"{HUB_HOST[0]} is unreachable: {e.strerror or type(e).__name__}"


def hub_unavailable() -> str | None:
    """Why the hub is not to be tried — HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, or no network — or None."""
    offline = _offline()
    return f"{offline} is set, so the hub was not tried" if offline else _unreachable()


def _from_hub(suite: str, hub: tuple[str, str, str], formats: str,
              convert: Callable[[Iterable[dict[str, Any]]], list[Sample]]) -> list[Sample]:
    how = _how(suite, hub, formats)
    why = hub_unavailable()
    if why:
        raise SuiteUnavailable(f"{how} ({why})")
    try:
        import datasets
        rows = datasets.load_dataset(hub[0], hub[1], split=hub[2])
    except Exception as e:  # no network, no package, no access: not available here
        first = (str(e).strip().splitlines() or ["no details"])[0]
        raise SuiteUnavailable(f"{how} (hub: {type(e).__name__}: {first})") from None
    return convert(rows)


def _mmlu_sample(i: int, question: str, choices: list[str], answer: Any, subject: str, where: str) -> Sample:
    if len(choices) != 4 or not all(isinstance(c, str) for c in choices):
        raise HarnessError(f"{where}: expected 4 answer choices, got {choices!r}")
    idx = LETTERS.index(answer) if isinstance(answer, str) and answer in LETTERS else answer
    if not isinstance(idx, int) or not 0 <= idx < 4:
        raise HarnessError(f"{where}: answer must be 0-3 or A-D, got {answer!r}")
    prompt = question.strip() + "\n" + "\n".join(f"{LETTERS[k]}. {c.strip()}" for k, c in enumerate(choices))
    # lm-evaluation-harness's mmlu: the letters are the continuations scored
    return Sample(suite="mmlu", id=f"mmlu-{i:05d}", prompt=prompt, category=subject, reference=LETTERS[idx],
                  meta={"choices": list(LETTERS), "label": idx})


def _mmlu_rows(rows: Iterable[dict[str, Any]]) -> list[Sample]:
    return [_mmlu_sample(i, r["question"], list(r["choices"]), r["answer"], r.get("subject") or "all", f"mmlu row {i}")
            for i, r in enumerate(rows)]


def load_mmlu_path(path: Path) -> list[Sample]:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*_test.csv")) or sorted(path.glob("*.csv"))
        if not files:
            raise HarnessError(f"{path}: no MMLU <subject>_test.csv files here")
        out: list[Sample] = []
        for f in files:
            subject = f.stem.removesuffix("_test")
            for line, row in enumerate(csv.reader(io.StringIO(read_text(f), newline="")), 1):
                if len(row) != 6:
                    raise HarnessError(f"{f}:{line}: expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
                out.append(_mmlu_sample(len(out), row[0], row[1:5], row[5].strip(), subject, f"{f}:{line}"))
        return out
    return [_mmlu_sample(i, q, c, a, r.get("subject") or "all", where)
            for i, (where, r) in enumerate(_jsonl(path))
            for q, c, a in [_fields(r, where, ("question", "choices", "answer"))]]


def _triviaqa_sample(i: int, question: str, aliases: list[str], where: str) -> Sample:
    if not aliases or not all(isinstance(a, str) for a in aliases):
        raise HarnessError(f"{where}: expected at least one answer string, got {aliases!r}")
    return Sample(suite="triviaqa", id=f"triviaqa-{i:05d}", prompt=question.strip(), reference=aliases[0],
                  meta={"aliases": list(aliases)})


def _triviaqa_rows(rows: Iterable[dict[str, Any]]) -> list[Sample]:
    out = []
    for i, r in enumerate(rows):
        ans = r["answer"]
        out.append(_triviaqa_sample(i, r["question"], list(dict.fromkeys([ans["value"], *ans["aliases"]])), f"row {i}"))
    return out


def load_triviaqa_path(path: Path) -> list[Sample]:
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(read_text(path))["Data"]
        except (ValueError, KeyError, TypeError):
            raise HarnessError(f"{path}: expected TriviaQA's JSON with a top-level \"Data\" list") from None
        return [_triviaqa_sample(i, d["Question"], list(dict.fromkeys([d["Answer"]["Value"], *d["Answer"].get("Aliases", [])])),
                                 f"{path}: Data[{i}]") for i, d in enumerate(data)]
    out = []
    for i, (where, r) in enumerate(_jsonl(path)):
        answers = r.get("answers", [r["answer"]] if isinstance(r.get("answer"), str) else None)
        if "question" not in r or answers is None:
            raise HarnessError(f"{where}: expected `question` and `answers` (a list) or `answer` (a string)")
        out.append(_triviaqa_sample(i, r["question"], answers, where))
    return out


def _jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(FILE:LINE, object) per row of a JSONL file; the errors are the user-file loader's."""
    from .userfiles import jsonl_rows

    rows = [(f"{path}:{line}", obj) for line, obj in jsonl_rows(path, read_text(path))]
    if not rows:
        raise HarnessError(f"{path}: no rows")
    return rows


def _fields(obj: dict[str, Any], where: str, names: tuple[str, ...]) -> list[Any]:
    missing = [n for n in names if n not in obj]
    if missing:
        raise HarnessError(f"{where}: missing field(s) {missing}")
    return [obj[n] for n in names]


MMLU_FORMATS = "the upstream data/test directory of <subject>_test.csv files, or a JSONL with question, choices, answer"
TRIVIAQA_FORMATS = "a JSONL with question and answers, or TriviaQA's JSON"


def load_mmlu() -> list[Sample]:
    return _from_hub("mmlu", MMLU_HUB, MMLU_FORMATS, _mmlu_rows)


def load_triviaqa() -> list[Sample]:
    return _from_hub("triviaqa", TRIVIAQA_HUB, TRIVIAQA_FORMATS, _triviaqa_rows)
