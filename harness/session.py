"""SafetySession: the one object that owns the plugin's state for a pytest run.

It reads options and safety.yaml, plans the suites collected, hands cases to the `Runner`, turns gate
breaches into failed tests, carries records through test reports (so pytest-xdist workers' results
reach the controller) and writes the reports at the end.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from .artifacts import cache_root
from .backends import BackendSpec
from .cache import Cache
from .config import Config
from .data import SuiteUnavailable
from .errors import HarnessError
from .gates import GateCheck, check_all, check_comparison, comparison_gates
from .models import ModelRef, resolve_model
from .plan import load_run_config, select_stages
from .records import AgreementRecord, Comparison, Record
from .report import write_reports, write_samples
from .report.results import overview, results_json, stage_records, timings
from .runner import Case, Runner, RunOptions
from .stages import StageUnavailable
from .timing import describe

RECORD = "safety_record"
AGREEMENT = "safety_agreement"
COMPARISON = "safety_comparison"
REQUIRED = "safety_required"


class SafetySession:
    def __init__(self, config: pytest.Config):
        self.pytest_config = config
        self.is_worker = hasattr(config, "workerinput")
        self.worker = config.workerinput["workerid"] if self.is_worker else "main"  # type: ignore[attr-defined]
        self.records: list[Record] = []
        self.agreements: list[AgreementRecord] = []
        self.started = time.time()
        opt = config.getoption
        try:  # the config with the command line applied, and the stages measured (harness/plan.py)
            self.cfg, self.notes, file_model = load_run_config(opt, Path(config.rootpath))
            # `base`: the aligned model --model was fine-tuned from, measured beside it (utility ratios)
            self.stages, note = select_stages(self.cfg, file_model, opt("stages"), opt("model"))
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from None
        self.notes += [note] if note else []
        self.judge_names: list[str] = list(self.cfg.judges)
        self.reports_dir: Path = opt("reports_dir") or Path(config.rootpath) / "reports"
        self.comparisons: list[Comparison] = []
        self.required: list[dict[str, Any]] = []  # required suites that could not be measured
        self._runner: Runner | None = None

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            opt = self.pytest_config.getoption
            api_key = opt("openai_api_key") or os.environ.get("OPENAI_API_KEY")
            kind = self.cfg.backend
            assert kind is not None, "load_run_config chooses the backend"
            spec = BackendSpec(kind, self.cfg.engine_args, opt("openai_base_url"), api_key)
            judge_kind = self.cfg.judge_backend or kind
            judge_spec = BackendSpec(judge_kind, self.cfg.judge_engine_args, opt("openai_base_url"), api_key)
            cache_dir = opt("cache_dir") or cache_root()
            cache = Cache(None if opt("no_cache") else Path(cache_dir) / "cache.sqlite")

            def resolver(kind: str, chat: bool) -> Callable[[str], ModelRef]:
                def resolve(source: str) -> ModelRef:
                    return resolve_model(source, name=source, allow_pickle=opt("allow_pickle"),
                                         trust_remote_code=opt("trust_remote_code"), served=kind == "openai",
                                         base_url=opt("openai_base_url"), require_chat_template=chat)
                return resolve

            from judges import make_judge
            judge_resolve = resolver(judge_kind, chat=False)  # judges receive their own prompt text
            self._runner = Runner(self.cfg, RunOptions(spec, opt("limit"), plan_ahead=not self.is_worker,
                                                       reports_dir=self.reports_dir),
                                  cache, resolver(kind, chat=True),
                                  lambda name, engines: make_judge(name, judge_spec, judge_resolve, engines))
            if self.cfg.base_model:
                self._runner.stage_sources["base"] = self.cfg.base_model
            capture = self.pytest_config.pluginmanager.getplugin("capturemanager")
            if capture is not None and not self.is_worker:  # progress bars reach the terminal, not the capture
                self._runner.clock.visible = capture.global_and_fixture_disabled
        return self._runner

    # -- pytest hooks ---------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        needed = {(s, st) for s, st0, base, _ in self.comparison_cases() for st in (st0, base)}
        of = {id(i): case_of(i, self.judge_names[0], self.cfg) for i in items}
        kept = [i for i in items if (case := of[id(i)]) is None
                or self.cfg.runs(case.suite, case.stage) or (case.suite, case.stage) in needed]
        if len(kept) < len(items):  # `stage_suites`: this suite is not measured at this stage
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
        cases = [c for c in (of[id(i)] for i in items) if c is not None]
        if not cases or config.option.collectonly:  # listing tests loads no data and builds no model
            return
        order = {s: n for n, s in enumerate([*self.stages, COMPARISON])}
        items.sort(key=lambda i: order.get(_stage_of(i), -1))  # stable: stage by stage, one model at a time
        try:
            available = []
            for c in cases:  # bad user files (prompts, few-shot examples) fail now, before any model loads
                try:
                    self.runner.requests(c.suite)
                    available.append(c)
                except SuiteUnavailable:
                    pass  # its test skips with the instructions; the other suites must not wait on it
            self.runner.add_to_plan(available)
            self.runner.model("original")
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            # records cross from pytest-xdist workers as JSON
            props: list[tuple[str, Any]] = list(report.user_properties)
            self.records += [Record.from_json(v | {"test": report.nodeid}) for k, v in props if k == RECORD]
            self.agreements += [AgreementRecord.from_json(v) for k, v in props if k == AGREEMENT]
            self.comparisons += [Comparison.from_json(v) for k, v in props if k == COMPARISON]
            self.required += [v for k, v in props if k == REQUIRED]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        for line in self.notes + [c["message"] for c in self.comparisons_not_run()]:
            terminalreporter.write_line(f"safety: {line}")
        if self.records:
            from .report.summary import stage_table, summary_table
            terminalreporter.write_sep("=", "safety summary")
            terminalreporter.write_line(summary_table(self.records))
            by_stage = stage_table(overview(self.records, self.stages), stage_records(self.records))
            if by_stage:
                terminalreporter.write_sep("-", "by stage (95 % Wilson intervals)")
                terminalreporter.write_line(by_stage)
            terminalreporter.write_line(f"time: {describe(timings(self.records))}")
            terminalreporter.write_line(f"reports: {self.reports_dir / 'results.json'}  {self.reports_dir / 'index.html'}")
            from .cache_entries import human, total_size
            terminalreporter.write_line(f"cache: {cache_root()} holds {human(total_size())} "
                                        "(`safety-harness cache ls`, `safety-harness cache prune`)")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._runner is not None:
            self._runner.close()
        if self.records and not self.is_worker:
            write_reports(self.reports_dir, self.results())

    # -- what a suite test calls ----------------------------------------------------------------
    def check(self, item: pytest.Item, suite: str, stage: str, metric: str | None) -> list[Record]:
        """Measure one case with every judge, attach the records (and the judges' agreement) to the test
        report, and fail the test if any gate breaks."""
        records: list[Record] = []
        failed: list[GateCheck] = []
        agreements: list[AgreementRecord] = []
        try:
            metric = metric or self.metric_of(suite)
            judges = self.runner.judges_for(suite, metric)
            for judge in judges:
                record = self.runner.measure(Case(suite, stage, metric, judge))
                checks = check_all(self.cfg.gates, record)
                record.gates = [c.result() for c in checks]
                record.worker = self.worker
                failed += [c for c in checks if not c.passed]
                records.append(record)
                write_samples(self.reports_dir, stage, suite, judge, self.runner.judged(stage, suite, judge))
            agreements = [self.runner.agreement(stage, suite, a, b)
                          for i, a in enumerate(judges) for b in judges[i + 1:]]
        except (SuiteUnavailable, StageUnavailable) as e:
            self.skip_or_fail(item, suite, stage, e)
        except HarnessError as e:  # `from None`: the message once, without the exception it replaces
            raise pytest.fail.Exception(str(e), pytrace=False) from None
        item.user_properties += [(RECORD, r.to_json()) for r in records] + [(AGREEMENT, a.to_json()) for a in agreements]
        if failed:
            pytest.fail("\n".join(c.message for c in failed), pytrace=False)
        return records

    def skip_or_fail(self, item: pytest.Item, suite: str, stage: str, why: Exception) -> None:
        """A suite that cannot be measured here skips, unless it is required: then its gate fails."""
        if not self.cfg.is_required(suite):
            pytest.skip(str(why))
        message = f"{suite} @ {stage}: required suite was not measured: {why}"
        item.user_properties.append((REQUIRED, {"suite": suite, "stage": stage, "passed": False, "message": message}))
        pytest.fail(message, pytrace=False)

    def required_checks(self) -> list[dict[str, Any]]:
        """Per required suite and stage: measured (a record), not measured (its test failed, above), or
        not run in this selection (deselected: reported, not failed)."""
        from .data import suite_names
        measured = {(r.suite, r.stage) for r in self.records}
        out = list(self.required)
        failed = {(q["suite"], q["stage"]) for q in out}
        for suite in (n for n in suite_names(None, self.cfg.suites) if self.cfg.is_required(n)):
            for stage in self.stages:
                if (suite, stage) in failed or not self.cfg.runs(suite, stage):
                    continue
                ok = (suite, stage) in measured
                out.append({"suite": suite, "stage": stage, "passed": True, "measured": ok,
                            "message": f"{suite} @ {stage}: " + ("measured" if ok else "not in this run's selection")})
        return sorted(out, key=lambda q: (q["stage"], q["suite"]))

    def metric_of(self, suite: str) -> str:
        """A utility suite's metric (its task's): what `@pytest.mark.safety(kind="utility")` measures."""
        from .data import suite_info
        metric = suite_info(suite, self.cfg.suites).task.metric
        if metric is None:
            raise HarnessError(f"suite {suite} has no task metric; name the metric in the test's marker")
        return metric

    def comparison_cases(self) -> list[tuple[str, str, str, str]]:
        """(suite, stage, baseline, metric) for every comparison gate whose stage and baseline both run."""
        return [c for c in self._comparisons() if c[2] in self.stages]

    def comparisons_not_run(self) -> list[dict[str, Any]]:
        """Comparison gates on a selected stage whose baseline stage is not selected: reported, never
        built behind the user's back."""
        return [{"suite": s, "stage": st, "baseline": b, "metric": m, "passed": None,
                 "message": f"{s} @ {st} vs {b}: not run (baseline stage {b} is not selected)"}
                for s, st, b, m in self._comparisons() if b not in self.stages]

    def _comparisons(self) -> list[tuple[str, str, str, str]]:
        from .data import suite_names
        out = []
        for g in self.cfg.gates:
            if g.baseline is None:
                continue
            for stage in self.stages:
                for suite in suite_names(None, self.cfg.suites):
                    case = (suite, stage, g.baseline, g.metric)
                    if stage != g.baseline and g.matches(suite, stage, g.metric) and case not in out:
                        out.append(case)
        return out

    def compare(self, item: pytest.Item, suite: str, stage: str, baseline: str, metric: str) -> list[Comparison]:
        """`metric` at `stage` against `baseline` on the same prompts, per judge; fails on a broken
        comparison gate. The two stages' own records are measured (and gated) by their suite tests."""
        out: list[Comparison] = []
        failed: list[GateCheck] = []
        try:
            for judge in self.runner.judges_for(suite, metric):
                comp = self.runner.paired(suite, stage, baseline, metric, judge)
                checks = [check_comparison(g, comp) for g in comparison_gates(self.cfg.gates, suite, stage, metric)
                          if g.baseline == baseline]
                comp.gates = [c.result() for c in checks]
                failed += [c for c in checks if not c.passed]
                out.append(comp)
        except (SuiteUnavailable, StageUnavailable) as e:
            self.skip_or_fail(item, suite, stage, e)
        except HarnessError as e:  # `from None`: the message once, without the exception it replaces
            raise pytest.fail.Exception(str(e), pytrace=False) from None
        item.user_properties += [(COMPARISON, c.to_json()) for c in out]
        if failed:
            pytest.fail("\n".join(c.message for c in failed), pytrace=False)
        return out

    def results(self) -> dict[str, Any]:
        return results_json(
            self.records, agreements=self.agreements, comparisons=self.comparisons,
            comparisons_not_run=self.comparisons_not_run(), required=self.required_checks(), stages=self.stages,
            config={"backend": self.cfg.backend, "judges": self.judge_names,
                    "generation": dataclasses.asdict(self.cfg.generation),
                    "limit": self.pytest_config.getoption("limit"), "stages": self.stages,
                    "attacks": {k: v.as_dict() for k, v in self.cfg.attacks.items()},
                    "recoveries": {k: v.as_dict() for k, v in self.cfg.recoveries.items()}},
            root=Path(self.pytest_config.rootpath))


def case_of(item: pytest.Item, judge: str, cfg: Config) -> Case | None:
    marker = item.get_closest_marker("safety")
    params = getattr(item, "callspec", None)
    if marker is None or params is None or "suite" not in params.params:
        return None
    suite = params.params["suite"]
    metric = marker.kwargs.get("metric")
    if metric is None:
        from .data import suite_info
        metric = suite_info(suite, cfg.suites).task.metric or ""
    return Case(suite, params.params.get("stage", "original"), metric, judge)


def _stage_of(item: pytest.Item) -> str:
    params = getattr(item, "callspec", None)
    if params is not None and "comparison" in params.params:
        return COMPARISON  # after every stage: both sides are generated and judged by then
    return params.params.get("stage", "") if params is not None else ""
