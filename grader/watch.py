"""`make watch topic=T` (`python -m grader watch T`): re-run a topic's public tests each time the
learner saves its file, from a warm process; and the benchmark of that loop (`make bench topic=watch`).

The watching process imports torch, pytest, the harness and what each watched suite imports (its
top-level imports, read from the test file without running it) once, then freezes that heap
(gc.freeze: the forked runs' garbage collections skip it). Each run is a fresh fork of that process:
pytest.main on the topic's public tests in the child, which writes its records to a file and exits;
nothing a learner's code does survives into the next run. The child has its own process group,
a cap on the size of files it writes (so a print in an endless loop cannot fill the disk) and a
wall-clock limit; a save during a run stops that run and starts a new one.

Saves are noticed by polling the file's modification time and size every 0.1 s (standard library
only: the poll costs microseconds, and a dependency such as watchfiles would save at most the
0.05 s a save waits for the next poll on average). A file saved half-written (it does not parse, or
uses a forbidden API) gets one sentence without a run. When the topic turns green the report says so
and names the next topic; without a topic the watch follows the first unfinished topic in catalog
order (.kata/progress.json) and moves on when it passes. Ctrl-C stops it cleanly (exit status 0).
On a terminal each report replaces the previous one; otherwise the reports follow one another, one
per change.
"""

from __future__ import annotations

import ast
import gc
import io
import json
import os
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grader import catalog, feedback, loader, paths, progress, runner, scoring

INTERVAL = 0.1  # seconds between two looks at the file
RUN_LIMIT = 150.0  # wall-clock seconds of one run (30 s of CPU per test, and the rest fail at once)
FILE_LIMIT = 64 * 1024 * 1024  # bytes a run may write to one file (its captured output included)

PRELOAD = (
    "torch",
    "torch.nn.functional",
    "numpy",
    "pytest",
    "pytest_timeout",
    "grader.pytest_plugin",
    "grader.checks",
    "grader.kit",
    "grader.gradients",
    "grader.mistakes",
    "grader.loader",
    "grader.guard",
    "grader.answers",
    "tests.conftest",
)


def suite_imports(topic: str) -> list[str]:
    """The modules the topic's public test file imports at its top level (read, not run)."""
    names: list[str] = []
    for file in runner.test_files(topic, "public"):
        try:
            tree = ast.parse(Path(file).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    return names


def preload(topics: list[str]) -> None:
    """Import the libraries and what the topics' suites import, then freeze the heap (gc.freeze)."""
    if str(paths.ROOT) not in sys.path:
        sys.path.insert(0, str(paths.ROOT))
    for name in [*PRELOAD, *(n for t in topics for n in suite_imports(t))]:
        if name in sys.modules or name.startswith(("exercises", "solutions")):
            continue
        try:
            __import__(name)
        except Exception:  # optional: the run imports it itself (or says why it cannot)
            pass
    gc.collect()
    gc.freeze()


class _Records:
    """pytest plugin in the child: the harness's records plus each test's captured output."""

    def __init__(self):
        from grader.pytest_plugin import Collector

        self.collector = Collector()

    def pytest_collectreport(self, report):
        self.collector.pytest_collectreport(report)

    def pytest_runtest_logreport(self, report):
        self.collector.pytest_runtest_logreport(report)
        record = self.collector.records.get(report.nodeid)
        output = (report.capstdout or "") + (report.capstderr or "")
        if record is not None and output.strip():  # a report carries the sections of the phases so far
            record["output"] = output[-1_000_000:]


def _child(topic: str, folder: Path, result: Path, extra: list[str]) -> None:
    """In the forked child: run the public tests, write the records, exit. Never returns."""
    status = 70
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            import resource

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        except (ImportError, ValueError, OSError, AttributeError):
            pass
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sink = os.open(str(result) + ".out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        os.chdir(paths.ROOT)
        # Entry-point plugins are found by scanning every installed distribution (50 ms a run): the
        # one the suites use, pytest-timeout (the wall-clock safety net), is named instead.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        extra = ["-p", "pytest_timeout", *extra]
        import pytest

        plugin = _Records()
        args = [*runner.test_files(topic, "public"), f"--impl={folder}", f"--rootdir={paths.ROOT}"]
        status = int(pytest.main([*args, *runner.QUIET_PLUGINS, "-q", "--tb=short", *extra], plugins=[plugin]))
        result.write_text(json.dumps(list(plugin.collector.records.values())))
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            break
        except (ProcessLookupError, PermissionError):
            continue
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def stamp(path: Path):
    """What tells one save from the next: (mtime in ns, size), or None when the file is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Outcome:
    """One run: "records", or "problem" (a sentence: the file does not load, or the run broke), or
    "restarted" (the file changed during the run)."""

    def __init__(self, records=None, problem=None, restarted=False, seconds=0.0):
        self.records, self.problem, self.restarted, self.seconds = records or [], problem, restarted, seconds


def run_once(topic: str, folder: Path, extra: list[str] = (), watch_stamp=None, limit: float = RUN_LIMIT) -> Outcome:
    """Run the topic's public tests on folder/<topic>.py in a fresh fork. With `watch_stamp`, stop
    and return Outcome(restarted=True) as soon as the file's stamp differs from it."""
    start = time.monotonic()
    path = loader.topic_file(topic, folder)
    try:
        loader.check_source(topic, folder)
    except loader.LoadError as exc:
        return Outcome(problem=str(exc), seconds=time.monotonic() - start)
    with tempfile.TemporaryDirectory(prefix="kata-watch-") as tmp:
        result = Path(tmp) / "records.json"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(topic, folder, result, list(extra))
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        try:
            while True:
                if fd is not None:
                    select.select([fd], [], [], INTERVAL)
                else:
                    time.sleep(0.005)
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if watch_stamp is not None and stamp(path) != watch_stamp:
                    _kill(pid)
                    return Outcome(restarted=True, seconds=time.monotonic() - start)
                if time.monotonic() - start > limit:
                    _kill(pid)
                    return Outcome(
                        problem=f"The run took more than {limit:g} s and was stopped: an endless loop in "
                        f"{loader.display(path)}?",
                        seconds=time.monotonic() - start,
                    )
        except BaseException:
            _kill(pid)
            raise
        finally:
            if fd is not None:
                os.close(fd)
        seconds = time.monotonic() - start
        if result.exists():
            return Outcome(records=json.loads(result.read_text()), seconds=seconds)
        out = Path(str(result) + ".out")
        tail = out.read_text(errors="replace")[-1500:] if out.exists() else ""
        code = os.waitstatus_to_exitcode(raw)
        return Outcome(problem=f"The run ended without results (exit status {code}).\n{tail}".strip(), seconds=seconds)


def report(topic: str, folder: Path, outcome: Outcome, follow: bool) -> tuple[list, dict | None]:
    """(lines to print, the topic's summary row or None)."""
    info = catalog.get(topic)
    shown = loader.display(loader.topic_file(topic, folder))
    if outcome.problem:
        return [("bold red", outcome.problem), ("dim", f"{topic}: waiting for the next save of {shown}.")], None
    row = scoring.topic_summary(info, outcome.records)
    lines = feedback.topic_report(row, outcome.records)
    if row["status"] == "done":
        state = progress.load()
        nxt = progress.recommend(state, {topic: "done"})
        if nxt is None:
            lines.append(
                ("bold green", f"{topic} is green, and so is every topic: well done. `make grade` shows the table.")
            )
        else:
            how = "the watch moves on to it" if follow else f"`make watch topic={nxt}`"
            lines.append(("bold green", f"{topic} is green. Next: {nxt} (exercises/{nxt}.py); {how}."))
    elif row["status"] == "not started":
        lines.append(("", f"Open {shown}, read the docstrings, write the first function; `make hint topic={topic}`."))
    return lines, row


def _show(lines: list, header: str, stream, clear: bool) -> None:
    if clear:
        stream.write("\033[2J\033[H")
    else:
        stream.write("\n")
    feedback.print_lines([("bold", header), *lines], stream)


def watch(topic: str | None, folder: Path, extra: list[str] = (), stream=None, once: bool = False) -> int:
    """The watch loop (see the module's docstring). Returns the exit status."""
    stream = stream or sys.stdout
    follow = topic is None
    current = topic or progress.first_unfinished()
    if current is None:
        print("Every topic is done (.kata/progress.json): name one with `make watch topic=NAME`.", file=stream)
        return 0
    clear = stream.isatty() and os.environ.get("TERM") != "dumb"
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops, even where it was ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # and so does a polite kill
    preload([current])
    try:
        while current is not None:
            current = _watch_topic(current, folder, list(extra), stream, clear, follow, once)
            if current is not None:
                preload([current])
    except KeyboardInterrupt:
        print("\nStopped watching.", file=stream, flush=True)
    return 0


def _watch_topic(topic, folder, extra, stream, clear, follow, once, on_report=None):
    """Watch one topic until Ctrl-C (or, when following, until it passes: returns the next topic)."""
    path = loader.topic_file(topic, folder)
    shown = loader.display(path)
    last = object()
    while True:
        now = stamp(path)
        if now == last:
            time.sleep(INTERVAL)
            continue
        last = now
        if now is None:
            _show(
                [("bold red", f"{shown} does not exist; the watch waits for it.")], f"watching {shown}", stream, clear
            )
            if once:
                return None
            continue
        outcome = run_once(topic, folder, extra, watch_stamp=now)
        if outcome.restarted:
            continue
        lines, row = report(topic, folder, outcome, follow)
        header = f"watching {shown} ({time.strftime('%H:%M:%S')}, {outcome.seconds:.2f} s); Ctrl-C stops"
        _show(lines, header, stream, clear)
        if on_report is not None:
            on_report()
        if row is not None and folder.resolve() == paths.EXERCISES.resolve():
            progress.record([row], "public")  # the learner's own file only, never a reference's run
        if once:
            return None
        if follow and row is not None and row["status"] == "done":
            nxt = progress.first_unfinished()
            if nxt == topic:  # not recorded (a folder other than exercises/): the next in catalog order
                names = catalog.names()
                nxt = names[names.index(topic) + 1] if names.index(topic) + 1 < len(names) else None
            return nxt


# ---------------------------------------------------------------------------------------------------
# The benchmark: `make bench topic=watch` (bench/watch.py)


def _timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of `cmd`. The CPU time varies less than
    the wall time when other processes share the cores."""
    import resource
    import subprocess

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    start, before = time.perf_counter(), cpu()
    subprocess.run(cmd, cwd=paths.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, cpu() - before


def bench_topic(topic: str, runs: int, source: str) -> list[float]:
    """Seconds from the moment a correct file is written to the end of the printed report, `runs`
    times: a thread writes the file at a random moment of the poll's cycle, the watch loop notices
    it, runs, prints its report into a buffer."""
    import random
    import threading

    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kata-watch-bench-") as tmp:
        folder = Path(tmp)
        target = folder / f"{topic}.py"
        target.write_text(source, encoding="utf-8")
        printed = threading.Event()
        written: list[float] = []
        rng = random.Random(0)

        def writer():
            for i in range(runs + 1):
                printed.wait()
                printed.clear()
                if i == runs:
                    return
                time.sleep(rng.uniform(0.05, 0.05 + INTERVAL))
                target.write_text(f"{source}\n# save {i}\n", encoding="utf-8")
                written.append(time.perf_counter())

        def on_report():
            if written:
                times.append(time.perf_counter() - written[-1])
            printed.set()
            if len(times) == runs:
                raise _Done

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            _watch_topic(topic, folder, [], io.StringIO(), False, False, False, on_report)
        except _Done:
            pass
        thread.join(timeout=5)
    return times


class _Done(Exception):
    pass


def benchmark(topics: list[str], runs: int = 20, impl: str = "solutions") -> int:
    """Print, per topic, the median and worst of `runs` watch reports on a correct file, next to a
    cold `python -m grader test T` and `python -c "import torch"` (medians of 3, wall and CPU time),
    all measured in this run."""
    folder = loader.resolve_impl(impl)
    missing = [t for t in topics if not loader.topic_file(t, folder).is_file()]
    topics = [t for t in topics if t not in missing]
    if missing:
        print(f"Not measured (no {', '.join(missing)} in {loader.display(folder)}: a correct file is needed).")
    if not topics:
        return 2
    py = sys.executable
    baseline = [_timed([py, "-c", "import torch"]) for _ in range(3)]
    torch_s = statistics.median(wall for wall, _ in baseline)
    torch_cpu = statistics.median(c for _, c in baseline)
    print(
        f"python -c 'import torch': {torch_s:.2f} s (median of 3); watch runs: {runs} per topic, polled every "
        f"{INTERVAL:g} s; impl {loader.display(folder)}\n"
    )
    print(f"import torch CPU time: {torch_cpu:.2f} s (user + system, median of 3)\n")
    head = f"{'topic':12} {'watch median':>12} {'worst':>7} {'median/torch':>12} {'cold test':>10} {'cold/torch':>10}"
    print(f"{head} {'CPU ratio':>10}")
    preload(topics)
    for topic in topics:
        source = loader.topic_file(topic, folder).read_text(encoding="utf-8")
        times = bench_topic(topic, runs, source)
        colds = [_timed([py, "-m", "grader", "test", topic, "--impl", str(folder)]) for _ in range(3)]
        cold, cold_cpu = statistics.median(w for w, _ in colds), statistics.median(c for _, c in colds)
        median = statistics.median(times) if times else float("nan")
        worst = max(times, default=float("nan"))
        print(
            f"{topic:12} {median:11.2f}s {worst:6.2f}s {median / torch_s:11.2f}x {cold:9.2f}s {cold / torch_s:9.2f}x "
            f"{cold_cpu / torch_cpu:9.2f}x",
            flush=True,
        )
    print(
        "\nGoal: adam's median at most 0.5 s; a cold `make test topic=adam` within 1.5x import torch. The x "
        "columns divide by the torch import measured above, so a busy machine slows both sides alike."
    )
    return 0


# ---------------------------------------------------------------------------------------------------
# In this process: what `make test` and `make grade` run (pytest's own report kept out of the output)


def run_inprocess(topic: str, folder: Path, suite: str, extra: list[str] = ()) -> tuple[int, list[dict]]:
    """pytest.main on one topic's suite in this process, quietly; (exit status, records with each
    test's captured output). Status 2 means the run was interrupted (Ctrl-C)."""
    import contextlib

    import pytest

    files = runner.test_files(topic, suite)
    if not files:
        return 0, []
    plugin = _Records()
    args = [*files, f"--impl={folder}", f"--rootdir={paths.ROOT}", *runner.QUIET_PLUGINS, "-q", "--tb=short", *extra]
    old = os.getcwd()
    os.chdir(paths.ROOT)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            status = pytest.main(args, plugins=[plugin])
    finally:
        os.chdir(old)
    return int(status), list(plugin.collector.records.values())
