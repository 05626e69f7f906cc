"""safety-harness: LLM safety gates as pytest test cases.

Pipeline: data (suite loaders) → generate (backend) → judge → measure (rates, intervals) → gate → report.
Stages (attack, recovery) turn one checkpoint into another and are pytest fixtures.
"""

__version__ = "0.1.0"
