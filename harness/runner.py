"""The session object: plans the run, generates per model in one phase, judges in the next, measures.

Two-phase scheduling: for each model, every planned suite generates in one batched pass (committed to
the cache in chunks of `batch_size`, so a killed run resumes), the engine is released, then the judge
labels everything in one call. Each model loads at most once per session when the plan is known;
under pytest-xdist a worker cannot know its share upfront, so it generates per suite and keeps the
engine open until the session ends instead.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tqdm.auto import tqdm

from .backends import Backend, BackendSpec, load_backend, respond, scores_choices
from .cache import Cache, request_key
from .config import Config
from .data import SuiteUnavailable, load_suite, suite_info
from .data.tasks import METRIC_KINDS, request
from .errors import HarnessError
from .judging import Judge, JudgeInput, judge_cached
from .metrics import cohen_kappa, fisher_exact, mcnemar_exact
from .models import ModelRef
from .records import make_record
from .timing import PhaseClock
from .types import Generation, JudgedSample, Request, Sample, Verdict, valid_text


@dataclass(frozen=True)
class Case:
    """What one suite test asks for."""

    suite: str
    stage: str
    metric: str
    judge: str


@dataclass
class RunOptions:
    """Everything the run needs besides safety.yaml (from the command line)."""

    backend: BackendSpec
    limit: int | None = None
    plan_ahead: bool = True  # False under pytest-xdist
    reports_dir: Path = Path("reports")
    model_options: dict[str, Any] = field(default_factory=dict)


ATTACKED = "attacked/"  # attack stages are named attacked/<name> after safety.yaml's `attacks`
RECOVERED = "recovered/"  # recovery stages: recovered/<name> after `recoveries`


class Runner:
    def __init__(self, config: Config, options: RunOptions, cache: Cache,
                 resolve: Callable[[str], ModelRef], make_judge: Callable[[str], Judge]):
        self.config = config
        self.options = options
        self.cache = cache
        self._resolve = resolve
        self._make_judge = make_judge
        self.models: dict[str, ModelRef] = {}          # stage → model
        self.stage_sources: dict[str, str] = {"original": config.model}
        self.stage_records: dict[str, dict[str, Any]] = {}  # stage → its cost record (results.json `stages`)
        self._stage_errors: dict[str, HarnessError] = {}
        self.plan: dict[str, list[str]] = collections.defaultdict(list)   # stage → suites
        self.engine_loads: collections.Counter[str] = collections.Counter()  # fingerprint → loads
        self.backend_requests: collections.Counter[str] = collections.Counter()  # fingerprint → uncached requests
        self.repaired_prompts: collections.Counter[str] = collections.Counter()  # suite → prompts made valid Unicode
        self._backends: dict[str, Backend] = {}
        self._judges: dict[str, Judge] = {}
        self._failed_engines: dict[str, HarnessError] = {}
        self._unavailable: dict[str, SuiteUnavailable] = {}
        self._samples: dict[str, list[Sample]] = {}
        self._generated: dict[tuple[str, str], list[Generation]] = {}
        self._judged: dict[tuple[str, str, str], list[JudgedSample]] = {}
        self._pairs: dict[str, tuple[str, str]] = {}  # emergent-misalignment judge pair name → (aligned, coherent)
        self.clock = PhaseClock()  # seconds per phase (results.json `timings`); the plugin sets clock.visible

    # -- planning -------------------------------------------------------------------------------
    def add_to_plan(self, cases: Iterable[Case]) -> None:
        for c in cases:
            if c.suite not in self.plan[c.stage]:
                self.plan[c.stage].append(c.suite)

    def model(self, stage: str) -> ModelRef:
        """The checkpoint of `stage`; an attack stage trains (or takes from its cache) on first use."""
        if stage in self._stage_errors:  # a stage that failed or cannot run here fails each test the same way
            raise self._stage_errors[stage]
        if stage not in self.models:
            if stage.startswith(ATTACKED):
                with self.clock.phase("stages"):
                    self.models[stage] = self._attacked(stage)
            elif stage.startswith(RECOVERED):
                with self.clock.phase("stages"):
                    self.models[stage] = self._recovered(stage)
            elif stage in self.stage_sources:
                with self.clock.phase("load"):  # an embedded model is built here on first use
                    self.models[stage] = self._resolve(self.stage_sources[stage])
            else:
                raise KeyError(f"stage {stage!r} has no checkpoint")
        return self.models[stage]

    def _attacked(self, stage: str) -> ModelRef:
        from .stages import attacked_checkpoint, stage_record

        name = stage[len(ATTACKED):]
        base = self.model("original")
        self.release(base)  # training wants the memory an idle engine holds
        try:
            path = attacked_checkpoint(name, self.config.attacks[name], base)
        except HarnessError as e:
            self._stage_errors[stage] = e
            raise
        self.stage_records[stage] = stage_record(path)
        return self._resolve(str(path))

    def samples(self, suite: str) -> list[Sample]:
        if suite in self._unavailable:  # asked again by its own test: the same message, no second hub try
            raise self._unavailable[suite]
        if suite not in self._samples:
            try:
                samples = load_suite(suite, limit=self.options.limit, seed=self.config.generation.seed,
                                     user_files=self.config.suites)
                self._samples[suite] = [self._valid(suite, s) for s in samples]
            except SuiteUnavailable as e:
                self._unavailable[suite] = e
                raise
        return self._samples[suite]

    def _valid(self, suite: str, sample: Sample) -> Sample:
        """The sample with its texts made valid Unicode (a prompt file can hold lone surrogates), counted."""
        prompt, n = valid_text(sample.prompt)
        context, m = valid_text(sample.context) if sample.context is not None else (None, 0)
        if not n + m:
            return sample
        self.repaired_prompts[suite] += 1
        return dataclasses.replace(sample, prompt=prompt, context=context)

    # -- phase 1: generate ----------------------------------------------------------------------
    def generations(self, stage: str, suite: str) -> list[Generation]:
        unanswerable = self._unanswerable(suite)
        if unanswerable is not None:
            raise unanswerable
        if (stage, suite) not in self._generated:
            suites = [suite]
            if self.options.plan_ahead:
                suites += [s for s in self.plan.get(stage, []) if (stage, s) not in self._generated and s != suite
                           and self._unanswerable(s) is None]
            self._generate(stage, suites)
        return self._generated[(stage, suite)]

    def _unanswerable(self, suite: str) -> SuiteUnavailable | None:
        """Why the backend cannot answer `suite`, if it cannot: a multiple-choice suite needs log-likelihoods
        (an OpenAI-compatible server gives none); it skips with the reason instead of failing the generation
        of every suite batched with it."""
        kind = self.options.backend.kind
        if suite_info(suite, self.config.suites).task.choices and not scores_choices(kind):
            return SuiteUnavailable(f"{suite} is scored by the log-likelihood of each choice, which --backend {kind} "
                                    "cannot give; run it with --backend vllm or --backend hf")
        return None

    def requests(self, suite: str) -> list[Request]:
        info, spec = suite_info(suite, self.config.suites), self.config.suites.get(suite)
        return [request(s, info.task, self.config.generation, spec) for s in self.samples(suite)]

    def _generate(self, stage: str, suites: list[str]) -> None:
        model = self.model(stage)
        per_suite = {s: self.requests(s) for s in suites}
        engine = self.options.backend.identity()
        keys = {s: [request_key(model.fingerprint, r, engine) for r in reqs] for s, reqs in per_suite.items()}
        found = self.cache.get_many("generations", [k for ks in keys.values() for k in ks])
        todo: dict[str, Request] = {}
        for s in suites:
            for k, r in zip(keys[s], per_suite[s]):
                if k not in found:
                    todo.setdefault(k, r)  # identical chats across suites generate once
        if todo:
            backend = self._backend(model)
            chunk = max(1, self.config.batch_size)
            items = list(todo.items())
            with self.clock.phase("generate"), tqdm(total=len(items), desc=f"generate {stage}", unit="prompt") as bar:
                for i in range(0, len(items), chunk):
                    part = items[i:i + chunk]
                    outs = [o.valid() for o in respond(backend, [r for _, r in part])]
                    self.backend_requests[model.fingerprint] += len(part)
                    new = {k: o.to_json() for (k, _), o in zip(part, outs)}
                    self.cache.put_many("generations", new)  # committed: a killed run resumes here
                    found.update(new)
                    bar.update(len(part))
        for s in suites:
            self._generated[(stage, s)] = [Generation.from_json(found[k]) for k in keys[s]]
        if self.options.plan_ahead and all((stage, s) in self._generated for s in self.plan.get(stage, [])):
            self.release(model)

    def _backend(self, model: ModelRef) -> Backend:
        if model.fingerprint in self._failed_engines:
            raise self._failed_engines[model.fingerprint]
        if model.fingerprint not in self._backends:
            self.engine_loads[model.fingerprint] += 1
            # One engine at a time: a judge's engine from the previous stage is closed before a model's starts
            # (it restarts when the judge is next called). The memory is the model's, and in-process vLLM
            # engines share process-wide parallel state that closing one of them tears down.
            for judge in self._judges.values():
                judge.close()
            try:
                with self.clock.phase("load"):
                    self._backends[model.fingerprint] = load_backend(model, self.options.backend)
            except HarnessError as e:
                self._failed_engines[model.fingerprint] = e
                raise
            except Exception as e:  # an engine's own validation error: one line, and no retry per test
                err = HarnessError(f"{self.options.backend.kind} could not load {model.name}: {_first_line(e)} "
                                   "(check --engine-arg / engine_args in safety.yaml)")
                self._failed_engines[model.fingerprint] = err
                raise err from e
        return self._backends[model.fingerprint]

    def release(self, model: ModelRef) -> None:
        backend = self._backends.pop(model.fingerprint, None)
        if backend is not None:
            backend.close()

    # -- phase 2: judge -------------------------------------------------------------------------
    def judges_for(self, suite: str, metric: str) -> list[str]:
        """The judges that label `suite` for `metric`: a utility suite's scorer; for misaligned_rate the
        pair of emergent-misalignment raters; otherwise the run's safety judges and the suite's own."""
        from judges import judge_kinds

        kind = METRIC_KINDS.get(metric)
        info = suite_info(suite, self.config.suites)
        if kind == "utility":
            if info.task.scorer is None:
                raise HarnessError(f"suite {suite} has no scorer for {metric}")
            return [info.task.scorer]
        runs = [j for j in self.config.judges if kind in judge_kinds(j)]
        if kind == "emergent":
            aligned = [j for j in runs if j.startswith("em-aligned")]
            coherent = [j for j in runs if j.startswith("em-coherent")]
            if not aligned or not coherent:
                raise SuiteUnavailable(f"{suite}: misaligned_rate needs both raters: --judge em-aligned:MODEL "
                                       "--judge em-coherent:MODEL (any chat model; upstream used gpt-4o)")
            pair = f"{aligned[0]} + {coherent[0]}"
            self._pairs[pair] = (aligned[0], coherent[0])
            return [pair]
        return runs + [j for j in info.judges if j not in runs]

    def _labels(self, suite: str, judge_name: str) -> bool:
        """Whether `judge_name` labels any metric of `suite` (so one judge call covers a stage's suites)."""
        for metric in suite_info(suite, self.config.suites).metrics:
            try:
                if judge_name in self.judges_for(suite, metric):
                    return True
            except SuiteUnavailable:
                pass
        return False

    def judged(self, stage: str, suite: str, judge_name: str) -> list[JudgedSample]:
        if (stage, suite, judge_name) not in self._judged:
            suites = [suite]
            if self.options.plan_ahead:
                suites += [s for s in self.plan.get(stage, []) if s != suite and self._labels(s, judge_name)
                           and self._unanswerable(s) is None]
            gens = {s: self.generations(stage, s) for s in suites}  # generation finishes before judging
            judge = self.judge(judge_name)
            items: list[tuple[str, int, Sample, Generation]] = []
            for s in suites:
                if (stage, s, judge_name) in self._judged:
                    continue
                items += [(s, i, smp, gen) for i, (smp, gen) in enumerate(zip(self.samples(s), gens[s]))]
            usable = [it for it in items if not _failed(it[3])]
            tasks = {s: suite_info(s, self.config.suites).task for s in suites}
            specs = {s: self.config.suites.get(s) for s in suites}
            with self.clock.phase("judge"), tqdm(total=len(usable), desc=f"judge {stage} ({judge_name})",
                                                 unit="sample") as bar:
                verdicts = judge_cached(judge, [JudgeInput(smp.prompt, gen.text, smp.context,
                                                           tasks[s].reference(smp, specs[s]), _choice_scores(gen))
                                                for s, _, smp, gen in usable], self.cache)
                bar.update(len(usable))
            by_item = {(s, i): v for (s, i, _, _), v in zip(usable, verdicts)}
            out: dict[str, list[JudgedSample]] = collections.defaultdict(list)
            for s, i, smp, gen in items:
                v = by_item.get((s, i)) or Verdict("unparsed", f"no response ({gen.finish_reason})", judge.name)
                out[s].append(JudgedSample(smp, stage, gen.text, v))
            for s, js in out.items():
                self._judged[(stage, s, judge_name)] = js
        return self._judged[(stage, suite, judge_name)]

    def judge(self, name: str) -> Judge:
        if name not in self._judges:
            if name in self._pairs:
                from judges.emergent import MisalignmentJudge
                self._judges[name] = MisalignmentJudge(*(self.judge(j) for j in self._pairs[name]))
            else:
                self._judges[name] = self._make_judge(name)
        return self._judges[name]

    # -- measure --------------------------------------------------------------------------------
    def measure(self, case: Case) -> dict[str, Any]:
        started = time.perf_counter()
        judged = self.judged(case.stage, case.suite, case.judge)
        model = self.model(case.stage)
        record = make_record(case.suite, case.stage, case.judge, case.metric, judged,
                             model.describe() | self.options.backend.identity()
                             | {"engine_loads": self.engine_loads[model.fingerprint],
                                                  "backend_requests": self.backend_requests[model.fingerprint]})
        judge = self.judge(case.judge)
        record["judge_version"] = getattr(judge, "version", None)
        record["judge_fingerprint"] = judge.fingerprint
        record["limit"] = self.options.limit
        repaired = {"prompts": self.repaired_prompts[case.suite],
                    "answers": sum(1 for g in self._generated.get((case.stage, case.suite), ()) if g.repaired)}
        if any(repaired.values()):  # how many texts had lone surrogates, replaced by U+FFFD
            record["invalid_unicode"] = repaired
        record["seconds"] = round(time.perf_counter() - started, 3)
        record["timings"] = self.clock.totals()  # this process's seconds per phase so far
        versus = self.versus(case.suite, case.stage, case.metric, case.judge)
        if versus is not None:
            record["versus"] = versus
        if case.stage in self.stage_records:  # how the checkpoint was made (collected into `stages`)
            record["stage_record"] = self.stage_records[case.stage]
        return record

    def _recovered(self, stage: str) -> ModelRef:
        from .stages import recovered_checkpoint, stage_record

        name = stage[len(RECOVERED):]
        spec = self.config.recoveries[name]
        try:
            source = self.model(spec.source)
            if spec.source == "original":  # recovering the model under test: its aligned original is --base-model
                if not self.config.base_model:
                    raise HarnessError(f"recoveries: {name}: source `original` needs --base-model (the aligned "
                                       "model the checkpoint under test was fine-tuned from)")
                aligned = self._resolve(self.config.base_model)
            else:
                aligned = self.model("original")
            unaligned = None if not spec.unaligned else (  # RESTA's: an attack stage or a model path
                self.model(spec.unaligned) if spec.unaligned.startswith(ATTACKED) else self._resolve(spec.unaligned))
            for ref in (source, aligned):
                self.release(ref)
            path = recovered_checkpoint(name, spec, aligned, source, unaligned)
        except HarnessError as e:
            self._stage_errors[stage] = e
            raise
        self.stage_records[stage] = stage_record(path)
        return self._resolve(str(path))

    def paired(self, suite: str, stage: str, baseline: str, metric: str, judge: str) -> dict[str, Any]:
        """`metric` at `stage` against `baseline` on the same prompts: both rates, delta, exact McNemar."""
        from .records import METRICS

        labelled, hit = METRICS[metric]
        cur = {j.sample.id: j for j in self.judged(stage, suite, judge)}
        base = {j.sample.id: j for j in self.judged(baseline, suite, judge)}
        ids = [i for i in cur if i in base and labelled(cur[i]) and labelled(base[i])]
        a, b = [hit(cur[i]) for i in ids], [hit(base[i]) for i in ids]
        value = sum(a) / len(ids) if ids else None
        base_value = sum(b) / len(ids) if ids else None
        return {"suite": suite, "stage": stage, "baseline": baseline, "metric": metric, "judge": judge,
                "value": value, "baseline_value": base_value,
                "delta": None if value is None or base_value is None else value - base_value,
                "ratio": value / base_value if value is not None and base_value else None,
                "mcnemar": mcnemar_exact(a, b).as_dict()}

    def versus(self, suite: str, stage: str, metric: str, judge: str) -> dict[str, Any] | None:
        """A derived suite (`suites: {name: {suite: base, ...}}`) against the suite it derives from, at the
        same stage, when both are planned there: both rates and a Fisher exact test (the answers are
        separate draws, not pairs). This is how a triggered run is read against the plain one."""
        from .records import METRICS

        spec = self.config.suites.get(suite)
        base = spec.suite if spec is not None else None
        if base is None or base not in self.plan.get(stage, []) or judge not in self.judges_for(base, metric):
            return None
        labelled, hit = METRICS[metric]
        a = [hit(j) for j in self.judged(stage, suite, judge) if labelled(j)]
        b = [hit(j) for j in self.judged(stage, base, judge) if labelled(j)]
        value, base_value = (sum(a) / len(a) if a else None), (sum(b) / len(b) if b else None)
        return {"suite": base, "value": value, "baseline_value": base_value,
                "delta": None if value is None or base_value is None else value - base_value,
                "k": sum(a), "n": len(a), "baseline_k": sum(b), "baseline_n": len(b),
                "fisher_p": fisher_exact(sum(a), len(a), sum(b), len(b))}

    def agreement(self, stage: str, suite: str, a: str, b: str) -> dict[str, Any]:
        """Cohen's kappa of two judges' unsafe/not-unsafe labels on the samples both could label."""
        ja, jb = self.judged(stage, suite, a), self.judged(stage, suite, b)
        both = [(x.verdict.label == "unsafe", y.verdict.label == "unsafe") for x, y in zip(ja, jb)
                if "unparsed" not in (x.verdict.label, y.verdict.label)]
        res = cohen_kappa([x for x, _ in both], [y for _, y in both])
        return {"suite": suite, "stage": stage, "judges": [a, b], **res.as_dict(), "excluded_unparsed": len(ja) - len(both)}

    def close(self) -> None:
        for fp in list(self._backends):
            self._backends.pop(fp).close()
        for j in self._judges.values():
            j.close()
        self._judges.clear()


def _choice_scores(gen: Generation) -> Mapping[str, float] | None:
    """A multiple-choice pick's {choice: log-likelihood} (`backends.respond`), for acc_norm; else None."""
    return gen.logprobs[0] if gen.finish_reason == "choice" and gen.logprobs else None


def _failed(gen: Generation) -> bool:
    return (gen.finish_reason or "").startswith("error")


def _first_line(e: BaseException) -> str:
    """The most specific line of an exception message (pydantic puts it after a header line)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "error" in ln.lower() and "validation error" not in ln.lower()]
    return (useful or lines or [type(e).__name__])[0][:400]
