"""Suite loaders: vendored evaluation sets, the gated HEx-PHI from a user path, and user prompt files.

Everything a suite needs is reachable from here:

- `SUITES`, `SuiteInfo`: the built-in suites with kind, licence and provenance;
- `load_suite(name, limit=, seed=, user_files=)`: a suite's `Sample`s, optionally a stratified subset;
- `suite_kind`, `suite_names`: what the plugin parametrises over;
- `SuiteUnavailable`: data not present here (the plugin skips; the message says how to supply it);
- `stratified_subset`, `load_user_suite`, `vendor_path`, `normalize`.

Files: vendor/PROVENANCE.md lists every vendored file's source, counts and licence.
"""

from __future__ import annotations

from ..errors import SuiteUnavailable
from .common import normalize, vendor_path
from .subset import stratified_subset
from .suites import SUITES, SuiteInfo, load_suite, suite_info, suite_kind, suite_names
from .userfiles import load_user_suite

__all__ = [
    "SUITES", "SuiteInfo", "SuiteUnavailable", "load_suite", "load_user_suite", "normalize",
    "stratified_subset", "suite_info", "suite_kind", "suite_names", "vendor_path",
]
