"""The HumanEval sandbox: what a malicious completion tries must not happen, and limits must hold.

Each test would fail without the sandbox: the same programs, run by a plain interpreter, write the
file, open the socket, spawn the process or loop for ever.
"""

import json
import time

import pytest

from harness.sandbox import Limits, run_python
from judges.humaneval import HumanEvalScorer
from harness.judging import JudgeInput


def test_a_passing_and_a_failing_program():
    assert run_python("assert sum([1, 2]) == 3").status == "passed"
    failed = run_python("assert 1 == 2, 'nope'")
    assert failed.status == "failed" and "AssertionError: nope" in failed.output


@pytest.mark.parametrize("how", [
    "open({target!r}, 'w').write('pwned')",
    "import pathlib; pathlib.Path({target!r}).write_text('pwned')",
    "import os; fd = os.open({target!r}, os.O_WRONLY | os.O_CREAT); os.write(fd, b'pwned')",
    "import os; os.system('echo pwned > ' + {target!r})",
    "import subprocess; subprocess.run(['sh', '-c', 'echo pwned > ' + {target!r}])",
    "import ctypes; ctypes.CDLL(None).system(('echo pwned > ' + {target!r}).encode())",
    "import shutil; open('x', 'w').write('pwned'); shutil.copyfile('x', {target!r})",
    "import os; open('x', 'w').write('pwned'); os.rename('x', {target!r})",
])
def test_a_completion_cannot_write_outside_its_directory(tmp_path, how):
    target = tmp_path / "outside.txt"
    outcome = run_python(how.format(target=str(target)))
    assert not target.exists(), f"the program wrote {target}"
    assert outcome.status == "failed" and "sandbox:" in outcome.output


def test_a_completion_cannot_delete_outside_its_directory(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("data")
    outcome = run_python(f"import os; os.remove({str(victim)!r})")
    assert victim.read_text() == "data" and outcome.status == "failed"


def test_writes_inside_the_sandbox_work_and_vanish():
    outcome = run_python("import os; open('scratch.txt', 'w').write('ok'); print(os.getcwd())")
    assert outcome.status == "passed"
    import pathlib
    assert not pathlib.Path(outcome.output).exists()  # the temporary directory is gone


def test_an_endless_loop_is_stopped_at_its_wall_clock_limit():
    started = time.perf_counter()
    outcome = run_python("while True: pass", Limits(timeout_s=1.5, cpu_s=30))
    assert outcome.status == "timeout" and time.perf_counter() - started < 10


def test_a_cpu_limit_stops_a_busy_program():
    outcome = run_python("while True: pass", Limits(timeout_s=30, cpu_s=1))
    assert outcome.status == "timeout" and outcome.seconds < 20


def test_memory_and_file_size_limits():
    assert run_python("x = bytearray(3 << 30)", Limits(memory_mb=256)).status == "failed"
    big = run_python("open('big', 'wb').write(b'x' * (8 << 20))", Limits(file_mb=1))
    assert big.status in ("failed", "timeout")  # SIGXFSZ or OSError: File too large


def test_no_network():
    outcome = run_python("import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)")
    assert outcome.status == "failed" and "sandbox:" in outcome.output


def test_the_scorer_runs_a_malicious_completion_in_the_sandbox(tmp_path):
    target = tmp_path / "escaped.txt"
    ref = json.dumps({"test": "def check(f):\n    assert f() == 1\n", "entry_point": "f"})
    evil = f"```python\ndef f():\n    open({str(target)!r}, 'w').write('x')\n    return 1\n```"
    [v] = HumanEvalScorer()([JudgeInput("def f():\n    \"\"\"Return 1.\"\"\"\n", evil, reference=ref)])
    assert not target.exists()
    assert v.correct is False and v.categories == ("failed",) and "sandbox:" in v.raw
