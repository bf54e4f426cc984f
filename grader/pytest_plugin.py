"""The pytest side of the harness: the `impl` fixture, points, readable failures and result records.

Loaded by `tests/conftest.py` for every topic's suite. Options:

    --impl DIR          folder holding the implementation (`exercises`, `solutions` or a path)
    --kata-report FILE  write one JSON record per test (used by `python -m grader check`)

docs/design.md rule 8: learner code is reached only through `impl`, an object whose attributes are the
learner module's. Failures raised inside learner code are rewritten into one sentence (a stub that
is not written yet, an exception with its line in the learner's file, a forbidden API).
"""

from __future__ import annotations

import errno
import json
import signal
import threading
import traceback
from pathlib import Path

import pytest

from grader import guard, loader, paths


def pytest_addoption(parser):
    group = parser.getgroup("kata")
    group.addoption("--impl", default="exercises", help="folder with the implementation to test")
    group.addoption("--kata-report", default=None, help="write per-test results as JSON here")
    group.addoption(
        "--kata-sandbox",
        action="store_true",
        help="grading mode: run the implementation in a sandboxed worker (grader/proxy.py)",
    )
    group.addoption("--kata-timeout", type=float, default=None, help="grading mode: seconds per call")
    group.addoption(
        "--kata-margins",
        default=None,
        help="record the share of its tolerance each comparison uses (grader/margins.py)",
    )
    group.addoption("--kata-record", default=None, help="store the answer key's results here (grader/answers.py)")
    group.addoption(
        "--kata-answers", default=None, help="public tests read the answer key's results from here, as in a release"
    )


def pytest_configure(config):
    # The suites' tensors are small: on one thread a correct file takes the same CPU time however
    # busy the machine is (with two, torch starts its thread pool for a 1,000-element sqrt, which
    # costs milliseconds per call on a loaded machine).
    import torch

    torch.set_num_threads(1)
    _timed_out.clear()  # a new session: no topic has timed out yet
    import _pytest.python

    guard.stop_walks_at(_pytest.python.pytest_pyfunc_call)  # a test's learner frames are above it
    config.addinivalue_line("markers", "points(n): weight of this test in the topic's score (default 1)")
    if config.getoption("--kata-report"):
        config.pluginmanager.register(Collector(), "kata-collector")
    from grader import answers

    answers.configure(record=config.getoption("--kata-record"), stored=config.getoption("--kata-answers"))
    if config.getoption("--kata-margins"):
        from grader.margins import Recorder

        config.pluginmanager.register(Recorder(config.getoption("--kata-margins")), "kata-margins")


def pytest_sessionfinish(session):
    from grader import answers

    answers.save()


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("points")
        item.user_properties.append(("points", float(marker.args[0]) if marker else 1.0))


def topic_of(path: Path) -> str:
    """The topic a test file belongs to: the name of its folder under tests/."""
    return Path(path).resolve().parent.name


class Unusable:
    """Stands in for a learner module that cannot be used: any use fails with the sentence."""

    def __init__(self, message: str):
        self._message = message

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.fail(self._message, pytrace=False)


class Impl:
    """The learner's module, seen through attribute access only."""

    def __init__(self, module, shown: str):
        self._module = module
        self._shown = shown

    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("hypothesis_internal"):
            raise AttributeError(name)  # dunders, and hypothesis probing its arguments
        try:
            return getattr(self._module, name)
        except AttributeError:
            pytest.fail(
                f"{self._shown} has no `{name}`: keep the names and signatures of the stub (the tests call {name}).",
                pytrace=False,
            )


def suite_of(path: Path) -> str:
    """The suite of a test file: "hidden" for tests/<topic>/test_hidden.py, "public" otherwise (the
    same rule decides whether a record's message is shown to the student: Collector, feedback)."""
    return "hidden" if "hidden" in Path(path).name else "public"


_cache: dict[tuple, object] = {}


def load_impl(topic: str, impl_option: str, sandbox: bool = False, timeout: float | None = None, phase: str = "public"):
    """The implementation of `topic`. In grading mode (`sandbox`) a proxy to the submission's worker
    for `phase`: hidden tests get a worker of their own, never the one public tests use
    (grader/proxy.py), so nothing seen in a hidden test reaches a public test's message."""
    folder = loader.resolve_impl(impl_option)
    key = (topic, str(folder))
    if sandbox:
        from grader.proxy import DEFAULT_TIMEOUT, ProxyImpl

        key = (topic, str(folder), phase)
        if key not in _cache:
            _cache[key] = ProxyImpl(topic, folder, timeout or DEFAULT_TIMEOUT, phase)
        return _cache[key]
    if key not in _cache:
        path = loader.topic_file(topic, folder)
        try:
            _cache[key] = Impl(loader.load_topic(topic, folder), loader.display(path))
        except loader.LoadError as exc:
            _cache[key] = Unusable(str(exc))
    return _cache[key]


@pytest.fixture
def impl(request):
    """The implementation under test of this test's topic (docs/design.md rule 8)."""
    config = request.config
    return load_impl(
        topic_of(request.path),
        config.getoption("--impl"),
        config.getoption("--kata-sandbox"),
        config.getoption("--kata-timeout"),
        suite_of(request.path),
    )


# ---------------------------------------------------------------------------------------------------
# Readable failures


def _learner_frame(excinfo):
    """The deepest traceback entry that lies in a learner's file, or None."""
    learner = guard._learner_files
    frames = [f for f in traceback.extract_tb(excinfo.tb) if f.filename in learner]
    return frames[-1] if frames else None


def _where(frame) -> str:
    return f"{loader.display(Path(frame.filename))} line {frame.lineno}"


def _rewrite(item, call) -> str | None:
    """A sentence replacing the traceback of an exception raised in learner code, or None."""
    excinfo = call.excinfo
    if excinfo is None:
        return None
    if excinfo.errisinstance(guard.ForbiddenAPIError):
        return f"Your code called a forbidden API: {excinfo.value}. This topic is about writing it yourself."
    info = getattr(excinfo.value, "info", None)
    if info is not None and _is_remote(excinfo.value):
        # grading mode: the learner's exception happened in the sandboxed worker
        where = f"{info['file']} line {info['line']}" if info.get("line") else "the submission"
        if info.get("kind") == "not_written":
            return _not_written(info["function"], where)
        if info.get("kind") == "exit":
            return f"{info['function']} tried to stop the program ({info['typename']}) at {where}."
        return _raised(info["function"], info["typename"], info["message"], where, info.get("source", ""))
    frame = _learner_frame(excinfo)
    if frame is None:
        return None
    name = frame.name
    tb = excinfo.tb
    while tb is not None:  # Python 3.11 knows the qualified name (Adam.step rather than step)
        if tb.tb_frame.f_code.co_filename == frame.filename and tb.tb_lineno == frame.lineno:
            name = getattr(tb.tb_frame.f_code, "co_qualname", name)
        tb = tb.tb_next
    if excinfo.errisinstance(NotImplementedError):
        return _not_written(name, _where(frame))
    line = (frame.line or "").strip()
    if excinfo.errisinstance(OSError) and excinfo.value.errno == errno.EFBIG:
        return (
            f"{name} printed more than {OUTPUT_LIMIT // 2**20} MiB in one test, and was stopped: a print "
            f"inside a loop? Print less (or only on the first steps) while you debug.\n"
            f"  it was running {_where(frame)}: {line}"
        )
    if "Timeout" in str(excinfo.value) and excinfo.errisinstance(pytest.fail.Exception):
        return (
            f"{name} did not finish in time ({str(excinfo.value).split('(')[-1].split(')')[0]}"
            f"): an endless loop, or far more work than the task needs?\n"
            f"  it was running {_where(frame)}: {line}"
        )
    return _raised(name, excinfo.typename, excinfo.value, _where(frame), line)


def _is_remote(exc) -> bool:
    from grader.proxy import RemoteLearnerError

    return isinstance(exc, RemoteLearnerError)


def _not_written(name: str, where: str) -> str:
    return (
        f"{name} is not written yet: it still raises NotImplementedError ({where}). Replace that "
        f"line with your code; the docstring says what to return."
    )


def _raised(name: str, typename: str, message, where: str, line: str) -> str:
    return f"{name} raised {typename}: {message}\n  at {where}: {line}"


def _summary(item) -> str:
    doc = getattr(item.function, "__doc__", None) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return f"Checks: {first}\n" if first else ""


CPU_SECONDS = 30.0  # per test, of this process's CPU time (docs/design.md: tests do not depend on speed)
OUTPUT_LIMIT = 64 * 2**20  # bytes one test's captured output may grow to (learner mode; RLIMIT_FSIZE)


class CPUTimeout(pytest.fail.Exception):
    """A test's code used more than its CPU-time budget."""


def _cpu_alarm(signum, frame):
    raise CPUTimeout(f"Timeout (>{CPU_SECONDS:g} s of CPU time) from the kata harness", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Each test gets CPU_SECONDS of CPU time (ITIMER_PROF: this process's user and system time,
    all threads), not wall-clock time: a busy machine slows a test down but does not make it use
    more CPU, so a correct file never times out because something else is running. A wall-clock
    safety net (pytest-timeout, pyproject.toml) stays for code that sleeps or waits forever."""
    item._kata_violations = len(guard.violations)
    sentence = _timed_out.get(topic_of(item.path))
    if sentence is not None and not item.config.getoption("--kata-sandbox"):
        item.runtest = lambda: pytest.fail(sentence, pytrace=False)  # not run: the topic timed out already
    armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if armed:
        previous = signal.signal(signal.SIGPROF, _cpu_alarm)
        signal.setitimer(signal.ITIMER_PROF, CPU_SECONDS)
    capped = _cap_file_size(armed and not item.config.getoption("--kata-sandbox"))
    try:
        yield
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)
        if capped is not None:
            capped()


def _cap_file_size(on: bool):
    """In learner mode, no file this process writes may grow past OUTPUT_LIMIT during a test: pytest
    captures a test's output in a temporary file, so a print inside an endless loop stops with
    OSError (EFBIG, named by _rewrite) after 64 MiB instead of filling the disk until the time
    limit. Returns the function that restores the limit and SIGXFSZ's handler, or None."""
    try:
        import resource
    except ImportError:  # not on Linux or macOS
        return None
    if not on:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY and hard < OUTPUT_LIMIT:
        return None
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, hard))

    def restore() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)

    return restore


# Learner mode: the sentence of each topic's first timeout. The topic's remaining tests then fail at
# once with it, instead of each waiting out its own limit (grading mode does the same in proxy.py).
_timed_out: dict[str, str] = {}


def _cap_sections(report) -> None:
    """A test's captured output, capped: its head and tail and the count of lines left out."""
    from grader.feedback import cap_output

    report.sections = [(title, cap_output(content)) for title, content in report.sections]


class LearnerSentence(pytest.fail.Exception):
    """The sentence for an exception raised in learner code (_rewrite), standing in for it."""


def _sentence_first(item, call) -> None:
    """For an exception raised in learner code, put its sentence in place before pytest formats the
    failure: pytest would otherwise parse the source of every file on the traceback (tens of ms per
    failure, most of a stub's run) for a report that _kata_makereport replaces anyway."""
    excinfo = call.excinfo
    if call.when != "call" or excinfo is None:
        return
    if excinfo.errisinstance((pytest.fail.Exception, pytest.skip.Exception, KeyboardInterrupt)):
        return
    if type(excinfo.value).__name__ == "SandboxBroken":
        return
    message = _rewrite(item, call)
    if message is None:
        return
    item._kata_sentence = message
    try:
        raise LearnerSentence(message, pytrace=False)
    except LearnerSentence as exc:
        call.excinfo = pytest.ExceptionInfo.from_exception(exc)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    _sentence_first(item, call)
    outcome = yield
    report = outcome.get_result()
    _cap_sections(report)
    if call.when != "call":
        return
    try:
        _kata_makereport(item, call, report)
    finally:
        timeout = call.excinfo is not None and call.excinfo.errisinstance(pytest.fail.Exception)
        timeout = timeout and not call.excinfo.errisinstance(LearnerSentence)
        if timeout and report.failed and "Timeout" in str(call.excinfo.value):
            if not item.config.getoption("--kata-sandbox"):
                lines = report.longreprtext.strip().splitlines()
                text = "\n".join(lines[1:] if lines and lines[0].startswith("Checks: ") else lines)
                _timed_out.setdefault(topic_of(item.path), f"Not run: an earlier test timed out. {text}")


def _kata_makereport(item, call, report) -> None:
    if call.excinfo is not None and type(call.excinfo.value).__name__ == "SandboxBroken":
        report.user_properties.append(("grader_error", True))  # the grader's failure, not the learner's
        report.longrepr = f"GRADER ERROR, not yours: {call.excinfo.value}"
        return
    new = guard.violations[getattr(item, "_kata_violations", len(guard.violations)) :]
    message = item.__dict__.pop("_kata_sentence", None) or _rewrite(item, call)
    if new and message is None:
        message = (
            f"Your code called a forbidden API: {new[0]}. This topic is about writing it "
            f"yourself, so the test fails even though the error was caught."
        )
    if message is not None:
        report.outcome = "failed"
        report.longrepr = _summary(item) + message
    elif report.failed and isinstance(call.excinfo.value, pytest.fail.Exception):
        report.longrepr = _summary(item) + str(call.excinfo.value)


# ---------------------------------------------------------------------------------------------------
# Result records


class Collector:
    """Collects one record per test: nodeid, topic, suite, outcome, points, message, duration."""

    def __init__(self):
        self.records: dict[str, dict] = {}

    def pytest_collectreport(self, report):
        if report.failed:  # a test file that cannot even be imported: the harness's fault
            path = Path(report.fspath) if report.fspath else Path(report.nodeid)
            self.records[report.nodeid] = {
                "nodeid": report.nodeid,
                "topic": topic_of(paths.ROOT / path),
                "suite": suite_of(path),
                "name": report.nodeid,
                "points": 0.0,
                "outcome": "error",
                "message": report.longreprtext,
            }

    def pytest_runtest_logreport(self, report):
        path = Path(report.fspath) if report.fspath else Path(report.nodeid.split("::")[0])
        record = self.records.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "topic": topic_of(paths.ROOT / path),
                "suite": suite_of(path),
                "name": report.nodeid.split("::", 1)[-1],
                "points": dict(report.user_properties).get("points", 1.0),
                "outcome": "passed",
                "message": "",
                "duration": 0.0,
            },
        )
        record["duration"] += report.duration  # seconds: setup, call and teardown together
        if report.failed:
            # A failure in setup or teardown is an error of the harness, not of the learner's code.
            harness = report.when != "call" or dict(report.user_properties).get("grader_error")
            record["outcome"] = "error" if harness else "failed"
            record["message"] = report.longreprtext
        elif report.skipped and record["outcome"] == "passed":
            record["outcome"] = "skipped"
            record["message"] = report.longreprtext

    def pytest_sessionfinish(self, session):
        target = session.config.getoption("--kata-report")
        if target:
            Path(target).write_text(json.dumps(list(self.records.values()), indent=1))
