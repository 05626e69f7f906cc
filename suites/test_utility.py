"""Utility suites: what alignment costs. Each suite's task names its metric (accuracy, exact_match,
pass_at_1) and its scorer; gates can be absolute or relative to another stage (`on: ratio`)."""

import pytest


@pytest.mark.safety(kind="utility")
def test_utility(safety, suite, stage):
    safety.check(suite, stage)
