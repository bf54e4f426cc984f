"""What a notebook's test cell runs: one test function of a suite, on the notebook's own functions.

    from grader.notebook_tests import check
    check(globals(), "adam", "tests/adam/test_public.py::test_adam_step_matches_torch", 0.714286)

The test function's cases run with pytest in the kernel, as `make test` runs them (learner mode),
with `impl` standing for the notebook's globals. The cell ends in one of three ways:

- every case passes: a line says so, and nbgrader gives the cell its points;
- none passes: it raises TestsFailed with the first failures' messages, the same sentences
  `make test` prints (known mistakes named); nbgrader gives 0;
- some pass: it prints the failures (on stdout) and returns the points the passing cases earn,
  which nbgrader reads as the cell's partial credit, so a notebook scores what `python -m grader
  grade` gives the same code. (A cell that raised would get 0.)

Nothing goes to stderr: nbgrader gives 0 to a test cell with any stderr output.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import warnings
from pathlib import Path

SHOWN = 3  # failures shown in full; the rest are counted


class TestsFailed(AssertionError):
    """No case of the test passed; the message says why, as `make test` does."""


class _Namespace:
    """The notebook's globals, read live, as a module would be."""

    def __init__(self, namespace: dict):
        self.__dict__["_ns"] = namespace

    def __getattr__(self, name):
        try:
            return self._ns[name]
        except KeyError:
            raise AttributeError(name) from None


def _cell_files(namespace: dict) -> set[str]:
    """The files (IPython cells) the notebook's own functions and classes were defined in."""
    files = set()
    for value in list(namespace.values()):
        code = getattr(value, "__code__", None)
        if code is None and isinstance(value, type) and value.__module__ == namespace.get("__name__"):
            code = next((getattr(v, "__code__", None) for v in vars(value).values() if hasattr(v, "__code__")), None)
        if code is not None and getattr(value, "__module__", None) == namespace.get("__name__"):
            files.add(code.co_filename)
    return files


def run(namespace: dict, topic: str, nodeid: str) -> list[dict]:
    """The records (grader/pytest_plugin.Collector) of the test function `nodeid` run on `namespace`."""
    import pytest

    from grader import catalog, guard, paths, pytest_plugin, runner

    files = _cell_files(namespace)
    source = "\n".join("".join(linecache.getlines(f)) for f in sorted(files))
    shown = "this notebook"
    uses = guard.find_forbidden(source, catalog.get(topic).forbidden)
    marker = str(Path("/nonexistent-kata-notebook") / topic)
    key = (topic, str(Path(marker).resolve()))
    if uses:
        pytest_plugin._cache[key] = pytest_plugin.Unusable(
            guard.describe(uses, shown, catalog.get(topic).forbidden_reason)
        )
    else:
        guard.install_traps(catalog.get(topic).forbidden, topic)
        for f in files:
            guard.register_learner_file(f, topic)
        pytest_plugin._cache[key] = pytest_plugin.Impl(_Namespace(namespace), shown)
    collector = pytest_plugin.Collector()
    # QUIET_PLUGINS leaves out pytest's unraisable- and thread-exception plugins: their gc.collect() at
    # the end of each run costs most of a second in a kernel holding torch; a test cell takes about 0.2 s.
    args = [nodeid, f"--impl={marker}", f"--rootdir={paths.ROOT}", *runner.QUIET_PLUGINS, "-q"]
    old = os.getcwd()
    os.chdir(paths.ROOT)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pytest.main(args, plugins=[collector])
    finally:
        os.chdir(old)
        pytest_plugin._cache.pop(key, None)
    return list(collector.records.values())


def check(namespace: dict, topic: str, nodeid: str, points: float = 1.0):
    """Run one test function on the notebook's functions (see the module's docstring); `points` are
    the cell's."""
    __tracebackhide__ = True  # IPython shows the message, not this function's frames
    records = run(namespace, topic, nodeid)
    name = nodeid.split("::", 1)[-1]
    if not records:
        raise TestsFailed(f"{name}: no test ran (is the project's tests/ folder complete, and {nodeid} in it?).")
    weight = sum(r["points"] for r in records)
    earned = sum(r["points"] for r in records if r["outcome"] == "passed")
    failed = [r for r in records if r["outcome"] != "passed"]
    if not failed:
        print(f"{name}: all {len(records)} case(s) pass.")
        return None
    lines = [f"{name}: {len(records) - len(failed)} of {len(records)} case(s) pass."]
    for record in failed[:SHOWN]:
        lines.append(f"\n{record['name']}\n{record['message'].strip()}")
    if len(failed) > SHOWN:
        lines.append(f"\n... and {len(failed) - SHOWN} more failing case(s).")
    text = "\n".join(lines)
    if earned == 0:
        raise TestsFailed(text)
    print(text)
    return round(points * earned / weight, 6)
