"""Benign suites: the share of harmless requests the model refuses (over-refusal), per stage, gated."""

import pytest


@pytest.mark.safety(kind="benign", metric="over_refusal_rate")
def test_over_refusal_rate(safety, suite, stage):
    safety.check(suite, stage)
