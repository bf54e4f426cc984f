"""Run many pytest suites from one warm process: how `python -m grader check` runs its suites.

The check runs every topic's suite on the reference, the stub, every mutant, alternative and trivial
implementation: about 150 runs, each in a process of its own so that one run cannot disturb the
next. A fresh interpreter per run pays `import torch` (about 1.4 s) and pytest's start-up every time,
which was most of the check. Here one server process (`python -m grader.warm`, started by
`Server`) imports torch, numpy, scipy, pytest and the harness once (PRELOAD) and then forks one child
per run. A child is a copy of a process that has imported those libraries and run nothing else, so
each run starts from the same state a fresh interpreter would reach after the same imports, and
whatever a run changes dies with its child: nothing leaks from one run to the next.

A child runs `pytest.main` with the arguments `runner.run_subprocess` gives `python -m pytest`
(runner.pytest_args), from the project root, with PYTHONDONTWRITEBYTECODE set, its stdout and
stderr in a file, then runs the atexit handlers (grading mode closes its sandboxed workers there,
as at a normal exit) and leaves with os._exit. A job marked `cold` is instead exec'd as a fresh
`python -m pytest` by its child: the way to run a job the warm path cannot serve.

Fork safety: the server only imports, it never computes, so when it forks no thread pool (torch's
OpenMP pool, which does not survive a fork) exists yet; each child starts its own when it first
needs one. Grading-mode runs (--kata-sandbox) start their sandboxed workers with fork and exec from
the child (grader/sandbox.py), which works from a forked child as from a fresh interpreter.

Limits and clean-up: each child has its own process group; a run past its wall-clock limit has its
group killed (SIGKILL) and is reported with exit status 124, like run_subprocess's timeout. The
server dies with the process that started it (PR_SET_PDEATHSIG), and its children with the server,
so an interrupted check leaves no runs behind; closing the server's stdin (Server.close, also on
KeyboardInterrupt) kills the runs still going and ends the server.

Protocol: the server is `python -m grader.warm TIMEOUT MODULE,MODULE,...` (the modules to
preload); then one JSON object per line: the client sends {"id", "args", "out", "cold"}; the server
answers {"ready": true} once after its imports, then {"id", "status", "seconds", "timed_out"} per run.
The client keeps at most `workers` runs going (run_suites).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections import deque
from pathlib import Path

from grader import paths

# What the server imports before it forks: the libraries the suites and the harness import at
# module level (each optional: one that is not installed is skipped). Test modules themselves and
# tests/ helpers are left to each run: pytest must import test files itself (assertion rewriting),
# and so pytest plugins found through entry points (pytest_timeout): pytest rewrites their asserts.
PRELOAD = (
    "torch",
    "torch.nn.functional",
    "torch.optim.adam",
    "numpy",
    "scipy.spatial.distance",
    "regex",
    "tokenizers",
    "pytest",
    "grader.pytest_plugin",
    "grader.proxy",
    "grader.sandbox",
    "grader.checks",
    "grader.gradients",
    "grader.mistakes",
    "grader.loader",
    "grader.guard",
    "provided.tiny_lm",
    # Imported lazily by a first use, at about a second per run: torch.optim's first optimizer.
    "torch._dynamo",
)
# The oracle libraries of gpt, lora, gnn and unigram (their hidden suites, and gnn's public golden-data
# check), about 1.8 s of the server's 4.5 s of imports: `make check` preloads them all (PRELOAD); a
# class run preloads only those its topics' test folders import (preload_for).
ORACLES = (
    "transformers",
    "transformers.models.gpt2.modeling_gpt2",
    "transformers.generation.logits_process",
    "peft",
    "torch_geometric.nn",
    "sentencepiece",
)
PRELOAD = PRELOAD + ORACLES


def _imported(folder: Path) -> set[str]:
    """Every module name imported anywhere (functions included) in the .py files of `folder`."""
    import ast

    names: set[str] = set()
    for file in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def preload_for(topics: list[str], tests: Path = paths.TESTS) -> tuple[str, ...]:
    """PRELOAD without the oracle libraries that no test file of `topics` imports (following the
    `tests.<other topic>` helpers they import). A library left out is imported by the run that
    needs it, at its cost: a wrong guess costs time, never a result."""
    todo, seen, libraries = list(topics), set(), set()
    while todo:
        topic = todo.pop()
        if topic in seen:
            continue
        seen.add(topic)
        for name in _imported(tests / topic):
            parts = name.split(".")
            if parts[0] == "tests" and len(parts) > 1:
                todo.append(parts[1])
            libraries.add(parts[0])
    return tuple(m for m in PRELOAD if m not in ORACLES or m.split(".")[0] in libraries)


TIMED_OUT = 124  # the exit status reported for a run killed at its wall-clock limit
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent goes away (Linux; no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _kill_group(pid: int) -> None:
    """SIGKILL a run's process group (its pytest and anything it started in the group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:  # the child may not have made its group yet
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------------------------
# The server side (runs in `python -m grader.warm TIMEOUT`)


def _child(args: list[str], out: str, cold: bool, keep_out: set[int], job: dict | None = None) -> None:
    """In a freshly forked child: run one suite, exit with pytest's status. Never returns.
    `job` may set the run's "cwd" (first on sys.path too; default the project root), its whole
    environment "env", and a soft address-space limit "rlimit_as" in bytes (grading's trusted side)."""
    job = job or {}
    status = 70
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in keep_out:  # the server's protocol pipes and wake-up pipe are not the run's
            try:
                os.close(fd)
            except OSError:
                pass
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sink = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        os.close(sink)
        root = job.get("cwd") or str(paths.ROOT)
        os.chdir(root)
        if job.get("env") is not None:
            os.environ.clear()
            os.environ.update(job["env"])
        if job.get("rlimit_as"):
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            soft = job["rlimit_as"] if hard == resource.RLIM_INFINITY else min(job["rlimit_as"], hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if cold:
            os.execv(sys.executable, [sys.executable, "-m", "pytest", *args])
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
        import pytest

        status = int(pytest.main(args))
        atexit._run_exitfuncs()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)


def serve(timeout: float, preload: tuple[str, ...] = PRELOAD) -> None:
    """The server loop: import `preload`, then fork a child per request; kill runs past `timeout`
    seconds; report each run's end. Ends (killing its runs) when its stdin closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the client's to handle; it closes our stdin
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # anything printed while importing goes to stderr, never into the protocol
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    os.chdir(paths.ROOT)
    if str(paths.ROOT) not in sys.path:
        sys.path.insert(0, str(paths.ROOT))
    started = time.monotonic()
    for name in preload:
        try:
            __import__(name)
        except Exception:  # optional: the run imports it itself (or reports why it cannot)
            pass

    def reply(message: dict) -> None:
        os.write(reply_fd, (json.dumps(message) + "\n").encode())

    reply({"ready": True, "seconds": round(time.monotonic() - started, 3)})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    private = {reply_fd, wake_r, wake_w}  # fds a run must not keep (its stdin is replaced anyway)
    running: dict[int, list] = {}  # pid -> [id, start, timed_out, limit]
    pending = b""
    reading = True
    try:
        while reading or running:
            now = time.monotonic()
            for pid, (_, start, killed, limit) in list(running.items()):
                if not killed and now - start > limit:
                    _kill_group(pid)
                    running[pid][2] = True
            soonest = min((start + limit for _, start, killed, limit in running.values() if not killed), default=None)
            wait = None if soonest is None else max(0.0, soonest - now) + 0.01
            ready, _, _ = select.select([0, wake_r] if reading else [wake_r], [], [], wait)
            if wake_r in ready:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            while running:
                try:
                    pid, raw = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if pid in running:
                    ident, start, killed, _ = running.pop(pid)
                    reply(
                        {
                            "id": ident,
                            "status": os.waitstatus_to_exitcode(raw),
                            "seconds": round(time.monotonic() - start, 3),
                            "timed_out": killed,
                        }
                    )
            if 0 in ready:
                chunk = os.read(0, 1 << 16)
                if not chunk:
                    reading = False
                    break  # the client is gone or done: the finally kills what is left
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    job = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        _child(job["args"], job["out"], job.get("cold", False), private, job)
                    running[pid] = [job["id"], time.monotonic(), False, job.get("limit") or timeout]
    finally:
        for pid in running:
            _kill_group(pid)
        for pid in running:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


# ---------------------------------------------------------------------------------------------------
# The client side


class Server:
    """The warm server as seen from the check: start it, send runs, read their ends, close it.
    Start it from the thread that will keep running (the server dies with that thread)."""

    def __init__(self, timeout: float, preload: tuple[str, ...] = PRELOAD):
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.warm", str(timeout), ",".join(preload)],
            cwd=paths.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        hello = self._read()
        if not hello.get("ready"):
            self.close()
            raise RuntimeError(f"the warm server did not start: {hello}")
        self.import_seconds = hello["seconds"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            return {"error": f"the warm server ended (exit status {code})"}
        return json.loads(line)

    def submit(
        self,
        ident: int,
        args: list[str],
        out: Path,
        cold: bool = False,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        rlimit_as: int | None = None,
        limit: float | None = None,
    ) -> None:
        """Start a run: pytest `args`, output to `out`; see _child for cwd, env and rlimit_as.
        `limit`: this run's wall-clock limit in seconds (default: the server's timeout)."""
        message = {"id": ident, "args": [str(a) for a in args], "out": str(out), "cold": cold}
        message.update(cwd=str(cwd) if cwd else None, env=env, rlimit_as=rlimit_as, limit=limit)
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def next_end(self) -> dict:
        """The next run to end: {"id", "status", "seconds", "timed_out"}."""
        message = self._read()
        if "error" in message:
            raise RuntimeError(message["error"])
        return message

    def close(self) -> None:
        """Close the server: runs still going are killed. Safe to call twice."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_suites(
    runs: list[tuple[list[str], bool]],
    folder: Path,
    workers: int,
    timeout: float,
    on_end=None,
    preload: tuple[str, ...] = PRELOAD,
    after: list[int | None] | None = None,
    limits: list[float | None] | None = None,
) -> list[tuple[int, str, float]]:
    """Run each (pytest args, cold) with at most `workers` at once; returns, in the
    order given, (exit status, output, seconds) per run. Output files go to `folder`. A run killed at
    `timeout` seconds gets status 124 and output ending "(killed: timed out after S s)". `on_end(index, result)`
    is called as each run ends (progress). `preload`: the modules the server imports first.
    `after[i]`, if given and not None, is the index of a run that must end before run i starts (a
    run reading what another writes); runs otherwise start in the order given. `limits[i]`, if given
    and not None, replaces `timeout` for run i."""
    results: list = [None] * len(runs)
    queue = deque(range(len(runs)))
    going = 0

    def ready(index: int) -> bool:
        return after is None or after[index] is None or results[after[index]] is not None

    with Server(timeout, preload) as server:
        while queue or going:
            while queue and going < workers:
                index = next((i for i in queue if ready(i)), None)
                if index is None:
                    if not going:
                        raise ValueError("run_suites: runs wait on runs that never start")
                    break
                queue.remove(index)
                args, cold = runs[index]
                limit = limits[index] if limits is not None else None
                server.submit(index, args, folder / f"run-{index}.out", cold, limit=limit)
                going += 1
            end = server.next_end()
            going -= 1
            index = end["id"]
            out = folder / f"run-{index}.out"
            text = out.read_text(errors="replace") if out.exists() else ""
            if end["timed_out"]:
                limit = (limits[index] if limits is not None else None) or timeout
                text = f"{text[-2000:]}\n(killed: timed out after {limit} s)"
                status = TIMED_OUT
            else:
                status = end["status"]
            results[index] = (status, text, end["seconds"])
            if on_end is not None:
                on_end(index, results[index])
    return results


if __name__ == "__main__":
    serve(float(sys.argv[1]), tuple(n for n in sys.argv[2].split(",") if n) if len(sys.argv) > 2 else PRELOAD)
