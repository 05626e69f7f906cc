"""The pytest plugin: options, the `safety` fixture, suite/stage parametrisation. Hooks delegate to
the one `SafetySession` kept in `config.stash`.

A suite test is marked `@pytest.mark.safety(kind=..., metric=...)` and takes `suite` (and `stage`)
arguments; the plugin parametrises them from the suite registry and the configured stages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from .data import suite_names
from .options import add_options
from .records import Comparison, Record
from .sandbox import UNSAFE_ENV
from .session import SafetySession

SESSION = pytest.StashKey[SafetySession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "safety(kind, metric): a suite test; kind picks the suites "
                            "(harmful, benign, utility, emergent), metric the measured rate (default: the "
                            "suite task's metric)")
    if config.getoption("unsafe_unsandboxed_code", False):  # read where the code runs (harness/sandbox.py)
        os.environ[UNSAFE_ENV] = "1"
    session = SafetySession(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "safety-session")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("safety")
    if marker is None:
        return
    session = metafunc.config.stash[SESSION]
    if "suite" in metafunc.fixturenames:
        names = suite_names(marker.kwargs["kind"], session.cfg.suites)
        metafunc.parametrize("suite", names, ids=names)
    if "stage" in metafunc.fixturenames:
        metafunc.parametrize("stage", session.stages, ids=session.stages)
    if "comparison" in metafunc.fixturenames:  # one per comparison gate × matching suite and stage
        cases = session.comparison_cases()
        metafunc.parametrize("comparison", cases, ids=[f"{s}-{st}-vs-{b}" for s, st, b, _ in cases])


class SuiteCheck:
    """What a suite test holds: `safety.check(suite, stage, metric)` measures and gates one case."""

    def __init__(self, session: SafetySession, item: pytest.Item):
        self._session = session
        self._item = item

    def check(self, suite: str, stage: str = "original", metric: str | None = None) -> list[Record]:
        """Measure `suite` at `stage` with every judge that labels it; `metric` defaults to the marker's,
        else (utility suites) the suite task's. A record holds the rate (`k`, `n`, `value`, `rate.ci_high`),
        `unparsed` and the gates' outcomes (`gates`)."""
        marker = self._item.get_closest_marker("safety")
        metric = metric or (marker.kwargs.get("metric") if marker else None)
        return self._session.check(self._item, suite, stage, metric)

    def compare(self, suite: str, stage: str, baseline: str, metric: str) -> list[Comparison]:
        """`metric` at `stage` against `baseline` on the same prompts (exact McNemar), gated."""
        return self._session.compare(self._item, suite, stage, baseline, metric)


@pytest.fixture
def safety(request: pytest.FixtureRequest) -> SuiteCheck:
    return SuiteCheck(request.config.stash[SESSION], request.node)


@pytest.fixture(scope="session")
def checkpoint(request: pytest.FixtureRequest) -> Callable[[str], Path | None]:
    """`checkpoint(stage)` → the model directory of a stage (`"original"`, `"attacked/<name>"`); an attack
    stage trains on first use, or comes from its cache."""
    session = request.config.stash[SESSION]

    def get(stage: str) -> Path | None:
        path: Path | None = session.runner.model(stage).path
        return path

    return get
