"""Registers the safety plugin for `pytest suites/` (and the project's own tests)."""

pytest_plugins = ["harness.plugin"]
