"""The scheduler of a run: per model, the suites planned for it generate in one phase and are judged in
the next; `measure` turns the judged samples into a typed record (harness/records.py).

Two-phase scheduling: for each model, every planned suite generates in one batched pass (committed to
the cache in chunks of `batch_size`, so a killed run resumes), the engine is released, then the judge
labels everything in one call. Each model loads at most once per session when the plan is known;
under pytest-xdist a worker cannot know its share upfront, so it generates per suite and keeps the
engine open until the session ends instead.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tqdm.auto import tqdm

from .backends import Backend, BackendSpec, respond, scores_choices
from .cache import Cache, request_key
from .config import Config
from .data import SuiteUnavailable, suite_info
from .data.samples import SuiteSamples
from .data.tasks import request
from .engines import EnginePool
from .errors import HarnessError
from .judging import Judge, JudgeInput, judge_cached
from .metric_table import METRICS
from .models import ModelRef
from .records import AgreementRecord, Comparison, Record, Versus, agreement, make_record, paired, versus
from .stages.chain import StageChain
from .timing import PhaseClock
from .types import Generation, JudgedSample, Request, Sample, Verdict


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




class Runner:
    """Schedules generation and judging for the cases the session plans, and measures each case."""

    def __init__(self, config: Config, options: RunOptions, cache: Cache,
                 resolve: Callable[[str], ModelRef], make_judge: Callable[[str, EnginePool], Judge]):
        self.config = config
        self.options = options
        self.cache = cache
        self._resolve = resolve
        self._make_judge = make_judge
        self.plan: dict[str, list[str]] = collections.defaultdict(list)   # stage → suites
        self.backend_requests: collections.Counter[str] = collections.Counter()  # fingerprint → uncached requests
        self.suite_samples = SuiteSamples(options.limit, config.generation.seed, config.suites)
        self.repaired_prompts = self.suite_samples.repaired  # suite → prompts made valid Unicode
        self._judges: dict[str, Judge] = {}
        self._generated: dict[tuple[str, str], list[Generation]] = {}
        self._judged: dict[tuple[str, str, str], list[JudgedSample]] = {}
        self._pairs: dict[str, tuple[str, str]] = {}  # emergent-misalignment judge pair name → (aligned, coherent)
        self.clock = PhaseClock()  # seconds per phase (results.json `timings`); the plugin sets clock.visible
        self.engines = EnginePool(self.clock)  # the models' and the judges' engines
        self.engine_loads = self.engines.loads  # fingerprint → loads (records' model `engine_loads`)
        self.chain = StageChain(config, resolve, self.release, self.clock)
        self.stage_sources = self.chain.sources  # stage → model spec, for the stages no stage method makes

    # -- planning -------------------------------------------------------------------------------
    def add_to_plan(self, cases: Iterable[Case]) -> None:
        for c in cases:
            if c.suite not in self.plan[c.stage]:
                self.plan[c.stage].append(c.suite)

    def model(self, stage: str) -> ModelRef:
        """The checkpoint of `stage` (harness/stages/chain.py: attack and recovery stages train on first use)."""
        return self.chain.model(stage)

    def samples(self, suite: str) -> list[Sample]:
        return self.suite_samples.get(suite)

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
        # the model loads alone: the judges' engines close first and reload when a judge is next called
        return self.engines.get(model, self.options.backend, holder=self, exclusive=True)

    def release(self, model: ModelRef) -> None:
        self.engines.release(self, model, self.options.backend)

    # -- phase 2: judge -------------------------------------------------------------------------
    def judges_for(self, suite: str, metric: str) -> list[str]:
        """The judges that label `suite` for `metric`: a utility suite's scorer; for misaligned_rate the
        pair of emergent-misalignment raters; otherwise the run's safety judges and the suite's own."""
        from judges import judge_kinds

        kind = METRICS[metric].kind if metric in METRICS else None
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
                self._judges[name] = self._make_judge(name, self.engines)
        return self._judges[name]

    # -- measure --------------------------------------------------------------------------------
    def measure(self, case: Case) -> Record:
        started = time.perf_counter()
        judged = self.judged(case.stage, case.suite, case.judge)
        model = self.model(case.stage)
        record = make_record(case.suite, case.stage, case.judge, case.metric, judged,
                             model.describe() | self.options.backend.identity()
                             | {"engine_loads": self.engine_loads[model.fingerprint],
                                "backend_requests": self.backend_requests[model.fingerprint]})
        judge = self.judge(case.judge)
        record.judge_version = getattr(judge, "version", None)
        record.judge_fingerprint = judge.fingerprint
        record.limit = self.options.limit
        repaired = {"prompts": self.repaired_prompts[case.suite],
                    "answers": sum(1 for g in self._generated.get((case.stage, case.suite), ()) if g.repaired)}
        if any(repaired.values()):  # how many texts had lone surrogates, replaced by U+FFFD
            record.invalid_unicode = repaired
        record.seconds = round(time.perf_counter() - started, 3)
        record.timings = self.clock.totals()  # this process's seconds per phase so far
        record.versus = self.versus(case.suite, case.stage, case.metric, case.judge)
        record.stage_record = self.chain.records.get(case.stage)  # how the checkpoint was made (results.json `stages`)
        return record

    def paired(self, suite: str, stage: str, baseline: str, metric: str, judge: str) -> Comparison:
        """`metric` at `stage` against `baseline` on the same prompts (records.paired)."""
        return paired(suite, stage, baseline, metric, judge, self.judged(stage, suite, judge),
                      self.judged(baseline, suite, judge))

    def versus(self, suite: str, stage: str, metric: str, judge: str) -> Versus | None:
        """A derived suite (`suites: {name: {suite: base, ...}}`) against the suite it derives from, at the
        same stage, when both are planned there (records.versus). This is how a triggered run is read
        against the plain one."""
        spec = self.config.suites.get(suite)
        base = spec.suite if spec is not None else None
        if base is None or base not in self.plan.get(stage, []) or judge not in self.judges_for(base, metric):
            return None
        return versus(base, self.judged(stage, suite, judge), self.judged(stage, base, judge), metric)

    def agreement(self, stage: str, suite: str, a: str, b: str) -> AgreementRecord:
        """Cohen's kappa of two judges' labels (records.agreement)."""
        return agreement(suite, stage, (a, b), self.judged(stage, suite, a), self.judged(stage, suite, b))

    def close(self) -> None:
        self.engines.close()
        for j in self._judges.values():
            j.close()
        self._judges.clear()


def _choice_scores(gen: Generation) -> Mapping[str, float] | None:
    """A multiple-choice pick's {choice: log-likelihood} (`backends.respond`), for acc_norm; else None."""
    return gen.logprobs[0] if gen.finish_reason == "choice" and gen.logprobs else None


def _failed(gen: Generation) -> bool:
    return (gen.finish_reason or "").startswith("error")
