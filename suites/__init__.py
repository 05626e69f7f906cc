"""The packaged suite tests (installed as `harness.suites`; `safety-harness run` runs them)."""
