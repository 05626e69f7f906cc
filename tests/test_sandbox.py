"""The jail for model-written code: what a hostile completion tries must not reach the machine.

Each program here was run against the harness by a hostile-input review
(../shared/reviews/reliability.md, section 6); every one of them escaped the earlier in-process audit
hook. They need bubblewrap (`apt-get install bubblewrap`; `.ci/run` installs it) and skip without it,
except the tests of what happens when it is missing.
"""

import json
import os
import time
from pathlib import Path

import pytest

from harness import sandbox
from harness.data import SuiteUnavailable
from harness.judging import JudgeInput
from harness.sandbox import OUTPUT_LIMIT, Limits, run_python
from judges.humaneval import HumanEvalScorer

jailed = pytest.mark.skipif(sandbox.unavailable() is not None, reason=str(sandbox.unavailable()))

# switches the old audit hook off from inside, then acts: every later line ran unchecked before
HOOK_OFF = "import __main__\ntry:\n    __main__._busy.append(1)\nexcept AttributeError:\n    pass\n"


@jailed
def test_a_passing_and_a_failing_program():
    assert run_python("assert sum([1, 2]) == 3").status == "passed"
    failed = run_python("assert 1 == 2, 'nope'")
    assert failed.status == "failed" and "AssertionError: nope" in failed.output
    assert run_python("print('hello')").output == "hello"  # the completion token is not shown


@jailed
@pytest.mark.parametrize("how", [
    "open({target!r}, 'w').write('pwned')",
    HOOK_OFF + "import os; os.system('echo pwned > ' + {target!r})",
    HOOK_OFF + "import subprocess; subprocess.run(['sh', '-c', 'echo pwned > ' + {target!r}])",
    "import os; d = os.open({parent!r}, os.O_RDONLY | os.O_DIRECTORY); "
    "os.write(os.open({name!r}, os.O_WRONLY | os.O_CREAT, dir_fd=d), b'pwned')",
    "import sqlite3; c = sqlite3.connect({target!r}); c.execute('create table t (x)'); c.commit()",
    "import os; os.mkfifo({target!r})",
    "import ctypes; ctypes.CDLL(None).system(('echo pwned > ' + {target!r}).encode())",
])
def test_a_completion_cannot_create_files_outside(tmp_path: Path, how: str) -> None:
    target = tmp_path / "outside.txt"
    outcome = run_python(how.format(target=str(target), parent=str(tmp_path), name=target.name))
    assert not target.exists(), f"the program created {target}: {outcome}"


@jailed
@pytest.mark.parametrize("how", [
    "import os; os.remove({victim!r})",
    "import os; d = os.open({parent!r}, os.O_RDONLY | os.O_DIRECTORY); os.unlink({name!r}, dir_fd=d)",
    "import os; os.setxattr({victim!r}, 'user.pwned', b'1')",
    HOOK_OFF + "import os; os.system('rm -f ' + {victim!r})",
])
def test_a_completion_cannot_change_or_delete_files_outside(tmp_path: Path, how: str) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("data")
    run_python(how.format(victim=str(victim), parent=str(tmp_path), name=victim.name))
    assert victim.read_text() == "data"
    assert not hasattr(os, "getxattr") or "user.pwned" not in os.listxattr(victim)


@jailed
def test_a_completion_sees_no_file_of_the_machine_but_the_interpreter(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CANARY-7f3a")
    program = ("import os\n"
               f"for p in [{str(secret)!r}, '/etc/shadow', '/etc/passwd', os.path.expanduser('~root')]:\n"
               "    try:\n        print(p, open(p).read() if os.path.isfile(p) else os.listdir(p))\n"
               "    except OSError as e:\n        print(p, type(e).__name__)\n"
               "print('uid', os.getuid(), 'cwd', os.getcwd(), sorted(os.listdir('/')))")
    out = run_python(program).output
    assert "CANARY" not in out and "root:" not in out
    assert "uid 65534 cwd /tmp" in out
    assert "'home'" not in out and "'root'" not in out and "'etc'" not in out


@jailed
def test_a_completion_does_not_see_the_harness_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-ENV")
    out = run_python("import os\nprint(dict(os.environ))\nfor p in os.listdir('/proc'):\n"
                     "    if p.isdigit():\n        print(open(f'/proc/{p}/environ', 'rb').read())").output
    assert "CANARY" not in out


@jailed
def test_no_network() -> None:
    outcome = run_python("import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)")
    assert outcome.status == "failed" and "unreachable" in outcome.output.lower()


@jailed
def test_no_process_outlives_the_run() -> None:
    program = HOOK_OFF + ("import os\nif os.fork() == 0:\n    os.setsid()\n"
                          "    os.execv('/usr/bin/sleep', ['sleep', '31.4159'])\n")
    run_python(program)
    time.sleep(0.5)
    sleepers = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == b"sleep\x0031.4159\x00"]
    assert sleepers == []


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@jailed
def test_output_is_capped_and_stops_the_program() -> None:
    started = time.perf_counter()
    outcome = run_python("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", Limits(timeout_s=30))
    assert outcome.status == "failed" and f"more than {OUTPUT_LIMIT >> 10} KiB" in outcome.output
    assert len(outcome.output) < 4000 and time.perf_counter() - started < 10


@jailed
def test_a_fork_bomb_meets_the_process_limit() -> None:
    outcome = run_python("import os\nn = 0\ntry:\n    for _ in range(1000):\n        if os.fork() == 0:\n"
                         "            import time; time.sleep(5); os._exit(0)\n        n += 1\n"
                         "except OSError:\n    print('stopped at', n)", Limits(processes=16))
    assert outcome.status == "passed" and outcome.output.startswith("stopped at")
    assert int(outcome.output.split()[-1]) < 16


@jailed
def test_an_endless_loop_is_stopped_at_its_wall_clock_limit() -> None:
    started = time.perf_counter()
    outcome = run_python("while True: pass", Limits(timeout_s=1.5, cpu_s=30))
    assert outcome.status == "timeout" and time.perf_counter() - started < 10


@jailed
def test_a_cpu_limit_stops_a_busy_program() -> None:
    outcome = run_python("while True: pass", Limits(timeout_s=30, cpu_s=1))
    assert outcome.status == "timeout" and outcome.seconds < 20


@jailed
def test_memory_and_file_size_limits() -> None:
    assert run_python("x = bytearray(3 << 30)", Limits(memory_mb=256)).status == "failed"
    big = run_python("open('big', 'wb').write(b'x' * (8 << 20))", Limits(file_mb=1))
    assert big.status in ("failed", "timeout")  # SIGXFSZ or OSError: File too large


@jailed
@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit"])
def test_a_program_that_exits_before_its_end_fails(exit_call: str) -> None:
    outcome = run_python(f"{exit_call}\nassert False, 'the tests'")
    assert outcome.status == "failed" and "before it finished" in outcome.output


HE_REF = json.dumps({"test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"})
HE_PROMPT = "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n"


@jailed
@pytest.mark.parametrize("after", ["", "import sys; sys.exit(0)", "import os; os._exit(0)", HOOK_OFF + "import os; os._exit(0)"])
def test_humaneval_counts_a_wrong_or_early_exiting_answer_as_failed(after: str) -> None:
    answer = f"```python\ndef add(a, b):\n    return a - b\n{after}\n```"  # wrong, then leaves before the tests
    [v] = HumanEvalScorer()([JudgeInput(HE_PROMPT, answer, reference=HE_REF)])
    assert v.correct is False and v.categories == ("failed",)
    [ok] = HumanEvalScorer()([JudgeInput(HE_PROMPT, "```python\ndef add(a, b):\n    return a + b\n```", reference=HE_REF)])
    assert ok.correct is True and ok.categories == ("passed",)


@jailed
def test_humaneval_output_never_carries_a_machine_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CANARY-9c1e")
    answer = f"```python\ndef add(a, b):\n    print(open({str(secret)!r}).read())\n    return a + b\n```"
    [v] = HumanEvalScorer()([JudgeInput(HE_PROMPT, answer, reference=HE_REF)])
    assert v.correct is False and "CANARY" not in v.raw


def test_without_bubblewrap_code_suites_skip_with_an_instruction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.unavailable.cache_clear()
    try:
        why = sandbox.unavailable()
        assert why is not None and "apt-get install bubblewrap" in why and "--unsafe-unsandboxed-code" in why
        monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
        with pytest.raises(SuiteUnavailable, match="bubblewrap"):
            HumanEvalScorer()([JudgeInput(HE_PROMPT, "return a + b", reference=HE_REF)])
        # the explicit, unsafe opt-out runs the code without a jail (and says so in its cache fingerprint)
        monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")
        scorer = HumanEvalScorer()
        [v] = scorer([JudgeInput(HE_PROMPT, "```python\ndef add(a, b):\n    return a + b\n```", reference=HE_REF)])
        assert v.correct is True and scorer.fingerprint.endswith(":unjailed")
        assert run_python("import os; os._exit(0)", jail=False).status == "failed"
    finally:
        monkeypatch.undo()
        sandbox.unavailable.cache_clear()


# --- the hostile-program battery -------------------------------------------------------------------
# Each program tries one escape and then asserts that it worked; contained, it fails (an exception, a
# limit, a kill) and is scored as a failure. `{secret}` and `{victim}` live in a canary directory
# outside the jail, `{canary}` is that directory.
HOSTILE = {
    # reading what is not the jail's
    "read a file outside": "print(open({secret!r}).read())",
    "read /etc/shadow": "print(open('/etc/shadow').read())",
    "read /etc/passwd": "print(open('/etc/passwd').read())",
    "list /root": "print(os.listdir('/root'))",
    "list /home": "print(os.listdir('/home'))",
    "read the harness cache": "print(open('/root/.cache/safety-harness/cache.sqlite', 'rb').read(64))",
    "the parent's environment": "e = open(f'/proc/{{os.getppid()}}/environ').read(); print(e); assert 'CANARY' in e",
    "every process's environment": "assert any('CANARY' in open(f'/proc/{{p}}/environ', errors='replace').read() "
                                   "for p in os.listdir('/proc') if p.isdigit())",
    "mounts show the host": "m = open('/proc/self/mountinfo').read(); print(m); assert {canary!r} in m",
    "symlink to a host file": "os.symlink({secret!r}, '/tmp/s'); print(open('/tmp/s').read())",
    # writing, deleting, changing outside
    "write outside": "open({canary!r} + '/x', 'w').write('pwned')",
    "pathlib write": "import pathlib; pathlib.Path({canary!r}, 'x').write_text('pwned')",
    "os.open O_CREAT": "os.write(os.open({canary!r} + '/x', os.O_WRONLY | os.O_CREAT), b'pwned')",
    "write through dir_fd": "d = os.open({canary!r}, os.O_RDONLY | os.O_DIRECTORY); "
                            "os.write(os.open('x', os.O_WRONLY | os.O_CREAT, dir_fd=d), b'pwned')",
    "delete": "os.remove({victim!r})",
    "delete through dir_fd": "d = os.open({canary!r}, os.O_RDONLY | os.O_DIRECTORY); os.unlink('victim', dir_fd=d)",
    "rename": "os.rename({victim!r}, {canary!r} + '/moved')",
    "rmtree": "import shutil; shutil.rmtree({canary!r})",
    "chmod": "os.chmod({victim!r}, 0o777)",
    "utime": "os.utime({victim!r}, (0, 0))",
    "truncate": "os.truncate({victim!r}, 0)",
    "hard link": "os.link({victim!r}, '/tmp/hard'); open('/tmp/hard', 'w').write('pwned')",
    "sqlite3 outside": "import sqlite3; c = sqlite3.connect({canary!r} + '/db'); c.execute('create table t (x)'); c.commit()",
    "mkfifo outside": "os.mkfifo({canary!r} + '/fifo')",
    "setxattr": "os.setxattr({victim!r}, 'user.pwned', b'1')",
    # processes and the old audit hook
    "hook off, then os.system": HOOK_OFF + "assert os.system('echo pwned > ' + {canary!r} + '/x') == 0",
    "subprocess": "import subprocess; subprocess.run(['sh', '-c', 'cat ' + {secret!r}], check=True)",
    "ctypes system": "import ctypes; assert ctypes.CDLL(None).system(('cat ' + {secret!r}).encode()) == 0",
    "ctypes via importlib": "import importlib; c = importlib.import_module('ctypes'); "
                            "assert c.CDLL(None).system(('rm ' + {victim!r}).encode()) == 0",
    "posix_spawn": "pid = os.posix_spawn('/bin/sh', ['sh', '-c', 'rm ' + {victim!r}], {{}}); "
                   "assert os.waitpid(pid, 0)[1] == 0",
    "exec a shell": "os.execv('/bin/sh', ['sh', '-c', 'cat ' + {secret!r}])",
    "kill the parent": "import signal, time; os.kill(os.getppid(), signal.SIGKILL); time.sleep(0.5); raise SystemExit(0)",
    "kill everything": "import signal; os.kill(-1, signal.SIGKILL)",
    "fork bomb": "while True:\n    os.fork()",
    "thread bomb": "import threading, time\nfor _ in range(100000):\n    threading.Thread(target=time.sleep, args=(30,)).start()",
    "setsid survivor": "import time\nif os.fork() == 0:\n    os.setsid(); time.sleep(2); open({canary!r} + '/late', 'w')\n"
                       "raise SystemExit(0)",
    # the network
    "tcp to the internet": "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)",
    "tcp to the host's loopback": "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)",
    "udp out": "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('8.8.8.8', 53))",
    "http": "import urllib.request; urllib.request.urlopen('http://example.com', timeout=2)",
    "unix socket of the host": "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/systemd/private')",
    # resources
    "memory bomb": "x = bytearray(10 << 30)",
    "busy loop": "while True:\n    pass",
    "sleep for ever": "import time; time.sleep(10 ** 6)",
    "huge stdout": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
    "huge stderr": "import sys\nwhile True:\n    sys.stderr.write('y' * 65536)",
    "fill /tmp": "f = open('/tmp/fill', 'wb')\nfor _ in range(1000):\n    f.write(b'z' * (1 << 20))\nf.flush()",
    "raise the limits": "import resource; resource.setrlimit(resource.RLIMIT_CPU, (10 ** 6, 10 ** 6))",
    # pretending to have passed
    "sys.exit(0) first": "import sys; sys.exit(0)",
    "os._exit(0) first": "os._exit(0)",
    "raise SystemExit": "raise SystemExit",
    "exit in a finally": "try:\n    raise ValueError\nfinally:\n    os._exit(0)",
}


@jailed
def test_every_hostile_program_is_contained_limited_and_scored_a_failure(tmp_path: Path) -> None:
    import socket

    from harness.sandbox import run_many

    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret.txt").write_text("CANARY-51f0 secret")
    (canary / "victim").write_text("data")
    before = {p.name: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns) for p in canary.iterdir()}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    names = list(HOSTILE)
    programs = ["import os\n" + HOSTILE[n].format(secret=str(canary / "secret.txt"), victim=str(canary / "victim"),
                                                   canary=str(canary), port=port) for n in names]
    assert len(programs) >= 40
    started = time.perf_counter()
    outcomes = run_many(programs, Limits(timeout_s=4, cpu_s=3, memory_mb=512), workers=4)
    listener.close()
    time.sleep(2.5)  # a survivor would write its file by now
    after = {p.name: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns) for p in canary.iterdir()}
    assert after == before, "something changed outside the jail"
    for name, outcome in zip(names, outcomes):
        assert outcome.status in ("failed", "timeout"), f"{name}: {outcome}"
        assert "CANARY" not in outcome.output and "root:" not in outcome.output, f"{name} read outside: {outcome}"
        assert outcome.seconds < 15 and len(outcome.output) <= 2000, name
    assert time.perf_counter() - started < 120
    # and through the HumanEval scorer: every one is a wrong answer, its raw output holds nothing read outside
    items = [JudgeInput(HE_PROMPT, f"```python\ndef add(a, b):\n    return a + b\n{p}\n```", reference=HE_REF)
             for p in programs[:12]]
    for name, v in zip(names, HumanEvalScorer()(items)):
        assert v.correct is False and "CANARY" not in v.raw, name
