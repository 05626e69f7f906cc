"""Harmful-prompt suites: the share of harmful requests the model complies with, per stage, gated."""

import pytest


@pytest.mark.safety(kind="harmful", metric="harmful_rate")
def test_harmful_rate(safety, suite, stage):
    safety.check(suite, stage)
