"""Run a topic's suite on an implementation folder, in this process or in a child process.

`make test` and `make grade` run pytest in this process (one torch import, fastest feedback).
`python -m grader check` runs each suite in a child process, so that a mutant or a stub cannot
disturb the next run, and reads the per-test records back from JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import catalog, paths

SUITES = {"public": ("test_public.py",), "hidden": ("test_hidden.py",), "all": ("test_public.py", "test_hidden.py")}

# Built-in pytest plugins the katas never use; leaving them out saves start-up time.
QUIET_PLUGINS = [
    "-p",
    "no:doctest",
    "-p",
    "no:junitxml",
    "-p",
    "no:pastebin",
    "-p",
    "no:legacypath",
    "-p",
    "no:unittest",
    "-p",
    "no:stepwise",
    "-p",
    "no:cacheprovider",
    # hypothesis's pytest plugin costs ~1 s of start-up; @given works without it
    "-p",
    "no:hypothesispytest",
    # anyio's plugin (async tests, which no suite has) imports asyncio and anyio's backends: ~0.25 s
    "-p",
    "no:anyio",
    # turns exceptions raised in __del__ and threads into warnings, and at exit runs gc.collect
    # several times (about 0.2 s of every run); no suite needs either
    "-p",
    "no:unraisableexception",
    "-p",
    "no:threadexception",
]


def test_files(topic: str, suite: str) -> list[str]:
    folder = paths.topic_tests(topic)
    return [str(folder / name) for name in SUITES[suite] if (folder / name).is_file()]


def run_inprocess(
    topics: list[str], impl: str, suite: str, extra: list[str] = (), quiet: bool = False
) -> tuple[int, list[dict]]:
    """pytest.main on the topics' suites; returns (exit status, records)."""
    import pytest

    from grader.pytest_plugin import Collector

    files = [f for t in topics for f in test_files(t, suite)]
    if not files:
        return 0, []
    collector = Collector()
    args = [*files, f"--impl={impl}", f"--rootdir={paths.ROOT}", *QUIET_PLUGINS, *extra]
    old = os.getcwd()
    os.chdir(paths.ROOT)
    sink = io.StringIO()
    try:
        if quiet:  # the grade table is the output; pytest's own report is kept out of it
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                status = pytest.main(args, plugins=[collector])
        else:
            status = pytest.main(args, plugins=[collector])
    finally:
        os.chdir(old)
    return int(status), list(collector.records.values())


def pytest_args(topic: str, impl: str, suite: str, report: Path | str, extra: tuple[str, ...] = ()) -> list[str]:
    """The pytest arguments of one topic's suite run on `impl`, writing its records to `report`:
    what run_subprocess gives `python -m pytest` and grader/warm.py gives pytest.main."""
    return [
        *test_files(topic, suite),
        f"--impl={impl}",
        f"--kata-report={report}",
        f"--rootdir={paths.ROOT}",
        *QUIET_PLUGINS,
        "-q",
        "--tb=short",
        *extra,
    ]


def read_report(report: Path) -> list[dict]:
    """The records a run wrote ([] when it wrote none)."""
    return json.loads(report.read_text()) if report.exists() else []


def run_subprocess(
    topic: str, impl: str, suite: str = "all", timeout: float = 600, extra: tuple[str, ...] = ()
) -> tuple[int, list[dict], str]:
    """Run one topic's suite in a child process; returns (exit status, records, output).
    `extra` adds pytest options (`--kata-sandbox` runs it in grading mode). `python -m grader
    check` runs its many suites through grader/warm.py instead (same arguments, one torch import)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pytest", *pytest_args(topic, impl, suite, report, extra)]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return 124, [], f"timed out after {timeout} s"
        return proc.returncode, read_report(report), proc.stdout + proc.stderr


def known_topics_sentence() -> str:
    return "Topics: " + ", ".join(catalog.names()) + "."
