"""What the model judges share: the `--judge` grammar, byte-exact templates, a lazily loaded backend.

`--judge NAME[@OPTIONS][:ARG]`: ARG is the judge model (local directory, hub id, or served name) for
model judges and a variant for string judges; OPTIONS is a comma-separated list of `key=value` pairs,
or bare values where only one option accepts them (`llama-guard-3@prob:PATH` means `score=prob`).
Every model judge accepts `max_tokens=N` to cut its generation length below the upstream value.

Contracts of a `ModelJudge`:
- Constructing it loads nothing. The model is resolved (fingerprinted) the first time `fingerprint`
  or a call needs it, and the engine starts on the first call via `load_backend(resolve(ARG), spec)`
  (judges of one model on one backend share that engine: the run's `harness.engines.EnginePool`);
  `close()` frees the engine, and a later call starts it again.
- One call sends all its items to the backend in one batch (the vLLM performance contract).
- Decoding is greedy; the generation length is the one the judge's upstream code uses.
- `version` is a short SHA-256 of the template bytes the judge renders from; `fingerprint` joins the
  judge's name (with its options), that version, the parse-rule revision and the model's content
  fingerprint, so cached verdicts are invalidated when any of them changes.
- Output the judge cannot read, and generations that failed, are `unparsed` with the raw text kept.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence, cast

from harness.backends import Backend, BackendSpec
from harness.engines import ENGINES, EnginePool
from harness.errors import HarnessError
from harness.judging import JudgeInput
from harness.models import ModelRef
from harness.types import Generation, GenerationRequest, Label, Message, Sample, SamplingParams, Verdict

TEMPLATES = Path(__file__).resolve().parent / "templates"


# --- templates ------------------------------------------------------------------------------------

def template_bytes(name: str) -> bytes:
    return (TEMPLATES / name).read_bytes()


def template_text(name: str) -> str:
    """A template file's text, bytes decoded as they are (no newline translation)."""
    return template_bytes(name).decode("utf-8")


def short_hash(*blobs: bytes) -> str:
    h = hashlib.sha256()
    for b in blobs:
        h.update(len(b).to_bytes(8, "big") + b)
    return h.hexdigest()[:12]


def fill(template: str, **values: str) -> str:
    """`template.format(**values)` for templates whose only braces are their `{name}` placeholders,
    in one pass, so braces or placeholder names inside the values are left as they are."""
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def user_turn(item: JudgeInput) -> str:
    """What the model under test was asked: the prompt, behind its context if the suite has one."""
    return Sample("", "", item.prompt, context=item.context).messages()[-1]["content"]


def model_type(model: ModelRef) -> str | None:
    """`model_type` from a local judge model's config.json (None for a served model)."""
    if model.path is None:
        return None
    try:
        return str(json.loads((model.path / "config.json").read_text(encoding="utf-8")).get("model_type"))
    except (OSError, ValueError):
        return None


def chat_template_text(model: ModelRef) -> str | None:
    """The chat template shipped with a local model (chat_template.jinja, chat_template.json or
    tokenizer_config.json, every named template joined), or None (a served model, or none shipped)."""
    if model.path is None:
        return None
    jinja = model.path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        try:
            tpl = json.loads((model.path / name).read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError):
            continue
        if isinstance(tpl, list):  # named templates: [{"name": ..., "template": ...}]
            tpl = "\n".join(str(t.get("template", "")) for t in tpl if isinstance(t, dict))
        if isinstance(tpl, str):
            return tpl
    return None


# a template that reads typed content parts ([{"type": "text", "text": ...}]) rather than a string
_TYPED_PARTS = re.compile(r"""selectattr\(\s*['"]type['"]|\[\s*['"]type['"]\s*\]|\.type\s*==|['"]text['"]\s*\]""")


def reads_typed_parts(template: str | None) -> bool:
    """Whether a chat template takes message content as typed parts. Given a plain string, such a
    template iterates its characters, finds no parts and renders an empty turn (Llama Guard 4 and 3-1B /
    11B-Vision judged an empty conversation that way: a silent "safe")."""
    return template is not None and _TYPED_PARTS.search(template) is not None


# --- the --judge grammar --------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One `@key=value` option: a fixed set of `choices`, or any value `check` accepts."""

    default: str
    choices: tuple[str, ...] = ()
    check: Callable[[str], Any] | None = None
    help: str = ""

    def validate(self, key: str, value: str) -> str:
        if self.choices and value not in self.choices:
            raise ValueError(f"{key} must be one of {list(self.choices)}, got {value!r}")
        if self.check is not None:
            try:
                self.check(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key}={value!r} is not valid ({self.help or self.check.__name__})") from None
        return value


def positive_int(text: str) -> int:
    n = int(text)
    if n <= 0:
        raise ValueError(text)
    return n


def probability(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise ValueError(text)
    return p


MAX_TOKENS = Option("", check=positive_int, help="a positive integer")


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed `--judge` value. `display` (name plus non-default options) is what verdicts show."""

    name: str
    options: Mapping[str, str] = field(default_factory=dict)
    arg: str | None = None
    display: str = ""


def parse_options(flag: str, text: str, schema: Mapping[str, Option], fixed: Mapping[str, str]) -> dict[str, str]:
    """`key=value,bare,...` → every option of `schema` with defaults filled in (errors name the flag)."""
    values = {k: o.default for k, o in schema.items()} | dict(fixed)
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        if not eq:  # a bare value: the one option that accepts it
            owners = [k for k, o in schema.items() if part in o.choices and k not in fixed]
            if len(owners) != 1:
                raise HarnessError(f"--judge {flag}: option {part!r} is " + (
                    "ambiguous; write it as key=value" if owners else
                    f"unknown; options: {_describe(schema, fixed)}"))
            key, value = owners[0], part
        if key not in schema or key in fixed:
            raise HarnessError(f"--judge {flag}: unknown option {key!r}; options: {_describe(schema, fixed)}")
        try:
            values[key] = schema[key].validate(key, value)
        except ValueError as e:
            raise HarnessError(f"--judge {flag}: {e}") from None
    return values


def _describe(schema: Mapping[str, Option], fixed: Mapping[str, str]) -> str:
    parts = [f"{k}={'|'.join(o.choices) if o.choices else '<' + (o.help or 'value') + '>'}"
             for k, o in schema.items() if k not in fixed]
    return ", ".join(parts) or "none"


def display_name(name: str, options: Mapping[str, str], schema: Mapping[str, Option],
                 fixed: Mapping[str, str]) -> str:
    changed = [f"{k}={v}" for k, v in sorted(options.items()) if k not in fixed and v != schema[k].default]
    return name + ("@" + ",".join(changed) if changed else "")


# --- model judges ---------------------------------------------------------------------------------

def resolve_judge_model(source: str) -> ModelRef:
    """The default resolver: a local directory or hub id, safetensors only, no remote code.

    A judge sends its own byte-exact prompt, so unlike a model under test it needs no chat template
    (WildGuard, HarmBench and BeaverDam ship none); every other loading rule holds.
    """
    from harness.models import resolve_model
    return resolve_model(source, require_chat_template=False)




class ModelJudge:
    """Base of the judges that run a model. A generative judge is a prompt and a parser: it gives
    `request(item)` (or `requests(items)`, to render a batch at once) and `read(gen, item)`; a judge that
    scores otherwise (log-likelihoods, a classifier head) overrides `judge(items)`. Subclasses set OPTIONS."""

    NEEDS_MODEL: ClassVar[bool] = True
    OPTIONS: ClassVar[Mapping[str, Option]] = {"max_tokens": MAX_TOKENS}
    REVISION: ClassVar[int] = 1  # bump when a parse rule changes: cached verdicts then go stale

    def __init__(self, spec: JudgeSpec, backend: BackendSpec | None = None,
                 resolve: Callable[[str], ModelRef] | None = None, engines: EnginePool | None = None) -> None:
        if not spec.arg:
            raise HarnessError(f"--judge {spec.name}: needs the judge model, e.g. --judge {spec.name}:/models/NAME")
        self.spec = spec
        self.options = dict(spec.options)
        self.name = spec.display or spec.name
        self.source = spec.arg
        self.version = short_hash(*self.template_blobs())
        self._backend_spec = backend or BackendSpec()
        self._resolve = resolve or resolve_judge_model
        self._model: ModelRef | None = None
        self._engines = engines or ENGINES  # the run's pool: the models' and the judges' engines

    @classmethod
    def from_spec(cls, spec: JudgeSpec, backend: BackendSpec | None = None,
                  resolve: Callable[[str], ModelRef] | None = None, engines: EnginePool | None = None) -> "ModelJudge":
        return cls(spec, backend, resolve, engines)

    # -- what subclasses provide ----------------------------------------------------------------
    def template_blobs(self) -> Sequence[bytes]:
        """The bytes the prompts are rendered from (their hash is `version`)."""
        raise NotImplementedError

    def request(self, item: JudgeInput) -> GenerationRequest:
        """The judge model's input for one item, with its sampling parameters."""
        raise NotImplementedError

    def read(self, gen: Generation, item: JudgeInput) -> Verdict:
        """The verdict of one generation that did not fail (an unparsable one is `unparsed`, never safe)."""
        raise NotImplementedError

    def requests(self, items: Sequence[JudgeInput]) -> list[GenerationRequest]:
        return [self.request(i) for i in items]

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """All items in one backend call; a failed generation (prompt too long, ...) is `unparsed`."""
        gens = self.generate(self.requests(items))
        return [self.failed(g) or self.read(g, i) for g, i in zip(gens, items)]

    # -- shared machinery -----------------------------------------------------------------------
    @property
    def model(self) -> ModelRef:
        if self._model is None:
            self._model = self._resolve(self.source)
        return self._model

    @property
    def fingerprint(self) -> str:
        typed = "|parts:typed" if self.typed_parts else ""  # verdicts judged on empty turns are not reused
        return f"{self.name}|tpl:{self.version}|rev:{self.REVISION}|model:{self.model.fingerprint}{typed}"

    @functools.cached_property
    def typed_parts(self) -> bool:
        """Whether the judge model's own chat template reads content as typed parts (reads_typed_parts)."""
        return reads_typed_parts(chat_template_text(self.model))

    def backend(self) -> Backend:
        """The judge model's engine, shared with any judge of the same model (it stays held until `close`)."""
        return self._engines.get(self.model, self._backend_spec, holder=self)

    def __call__(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        items = list(items)
        if not items:
            return []
        out = self.judge(items)
        if len(out) != len(items):  # a broken subclass, not a model failure
            raise RuntimeError(f"judge {self.name} made {len(out)} verdicts for {len(items)} items")
        return out

    def close(self) -> None:
        self._engines.release_all(self)

    def params(self, max_tokens: int, logprobs: int | None = None) -> SamplingParams:
        """Greedy decoding with the upstream length, or the `max_tokens` option where given."""
        n = int(self.options.get("max_tokens") or max_tokens)
        return SamplingParams(max_tokens=n, temperature=0.0, logprobs=logprobs)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """All requests in one backend call. A chat goes as the model's own template reads it: with content
        as typed parts (`[{"type": "text", "text": ...}]`) when the template selects them."""
        if self.typed_parts:
            # `Message` types only the plain-string content; the typed parts go to the template all the same
            requests = [dataclasses.replace(r, messages=tuple(
                cast(Message, {**m, "content": [{"type": "text", "text": m["content"]}]}) if isinstance(m["content"], str)
                else m for m in r.messages)) for r in requests]
        return self.backend().generate(list(requests))

    def capability(self, method: str, what: str) -> Any:
        """A backend's optional method (`loglikelihood`, `classify`, `tokenizer`), or a clear error."""
        engine = self.backend()
        found = getattr(engine, method, None)
        if found is None:
            raise HarnessError(f"--judge {self.name}: {what} needs the {method!r} capability, which the "
                               f"{engine.name} backend lacks; run this judge with the hf backend")
        return found

    def base_of(self, model_types: Mapping[str, str], what: str) -> str:
        """The `base` option, or (`auto`) the base the judge model's config.json `model_type` names."""
        if self.options["base"] != "auto":
            return self.options["base"]
        mt = model_type(self.model)
        if mt is None or mt not in model_types:
            raise HarnessError(f"--judge {self.name}: cannot tell which {what} {self.source} is (model_type {mt!r}); "
                               f"add @base={'|'.join(dict.fromkeys(model_types.values()))}")
        return model_types[mt]

    def verdict(self, label: Label, raw: str, **kw: Any) -> Verdict:
        return Verdict(label, raw, self.name, **kw)

    def failed(self, gen: Generation) -> Verdict | None:
        """An unparsed verdict for a generation that failed (prompt too long, ...), else None."""
        if (gen.finish_reason or "").startswith("error"):
            return self.verdict("unparsed", gen.finish_reason or "error")
        return None
