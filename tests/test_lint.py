"""The code passes ruff (pyflakes, import order), import-linter (the layers in pyproject.toml) and mypy
(strict on harness/ and judges/, `[tool.mypy]` in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "harness", "judges", "tests", "benchmarks", "suites",
                           "conftest.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_imports_keep_the_layers_and_never_reach_an_embedded_model() -> None:
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout + done.stderr


def test_the_layer_check_can_fail(tmp_path: Path) -> None:
    """A copy of the package where the data layer imports the runner breaks the contract."""
    shutil.copytree(ROOT / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("vendor", "__pycache__"))
    shutil.copytree(ROOT / "judges", tmp_path / "judges", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "harness" / "data" / "common.py").open("a") as f:
        f.write("\n\ndef _upward():\n    from harness.runner import Runner\n    return Runner\n")
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "harness.data.common -> harness.runner" in done.stdout, done.stdout + done.stderr


def test_mypy_strict_finds_nothing(tmp_path: Path) -> None:
    done = subprocess.run([_tool("mypy"), "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout[-6000:] + done.stderr
