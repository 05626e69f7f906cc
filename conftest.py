"""Registers the safety plugin for `pytest suites/`; `pytester` serves the project's own plugin tests."""

pytest_plugins = ["harness.plugin", "pytester"]
