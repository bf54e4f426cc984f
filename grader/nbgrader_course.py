"""Notebooks from the single source: an nbgrader course, learners' notebooks, and notebook submissions.

`python -m grader nbgrader OUT` (`make nbgrader out=DIR`) writes an nbgrader course:
`OUT/nbgrader_config.py` and `OUT/source/<topic>/<topic>.ipynb` for every topic of the catalog,
generated from `solutions/<topic>.py`, `docs/<topic>.md` and the suites, never edited by hand.

A topic's notebook, top to bottom:

- markdown: the title, the module's docstring and docs/<topic>.md;
- a locked set-up cell that lets the test cells find the project (the folder holding `grader/`);
- the module itself, cut at its top-level statements: each function or class holding a solution
  block is a solution cell (grade_id `<topic>-<name>`, markers kept: nbgrader's release turns the
  block into the same `raise NotImplementedError` the stubs have), the rest (imports, constants,
  given helpers) locked cells (`<topic>-given-N`);
- one autograded test cell per test function of the suites (parametrised cases together), public
  ones visible, hidden ones between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`. A cell's
  points are the topic's points times its tests' share of the points grader/scoring.py counts, so
  the cells of a topic add up to the topic's points. The cell runs our pytest tests on the
  notebook's own functions (grader/notebook_tests.py).

`python -m grader notebooks OUT` (`make notebooks`) writes the learners' notebooks: the release of
the same notebooks (solution blocks stubbed as nbgrader's release does, with the code stub the
course's config sets; hidden tests and their cells left out), which run in plain Jupyter or VS Code.

For grading, `module_source` rebuilds `<topic>.py` from a submitted notebook: the trusted module's
given parts and docstring, and, for each solution cell of the source, the code of the submitted cell
with the same grade_id; nothing else of the notebook is read (grader/notebook_grading.py).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader import catalog, paths, stubs

SCHEMA = 3
# nbgrader's release replaces a solution block with this (set in the course's nbgrader_config.py), the
# same two lines grader/stubs.py writes: a released notebook holds the code of exercises/<topic>.py.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError"
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
MAX_NOTEBOOK = 16 << 20  # bytes of a submitted notebook that are read (outputs make notebooks large)


class NotebookError(ValueError):
    """A submitted notebook cannot be used; the message is the sentence for the feedback."""


@dataclass(frozen=True)
class Segment:
    kind: str  # "given" (locked) or "solution"
    name: str  # the function or class of a solution cell; "" for given code
    code: str


@dataclass(frozen=True)
class TestGroup:
    suite: str  # "public" or "hidden"
    nodeid: str  # tests/<topic>/test_public.py::test_name (its parametrised cases together)
    cases: int
    weight: float  # the points of its cases, as grader/scoring.py counts them


def docstring_and_segments(
    source: str, filename: str = "<solution>", marker: str = stubs.BEGIN
) -> tuple[str, str, list[Segment]]:
    """The module's docstring (its value and its source lines) and its code cut into cells, in order:
    each top-level function or class holding a solution block is a solution segment, runs of
    anything else are given segments. Comments and blank lines belong to the statement after them;
    every line but the docstring's is in exactly one segment."""
    tree = ast.parse(source, filename)
    lines = source.splitlines(keepends=True)
    body = list(tree.body)
    doc, doc_source, start = "", "", 0
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        doc, doc_source, start = first.value.value, "".join(lines[: first.end_lineno]), first.end_lineno
        body = body[1:]
    segments: list[Segment] = []
    for index, node in enumerate(body):
        end = node.end_lineno if index + 1 < len(body) else len(lines)
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
            end += 1  # indented comments after a block's last statement (an `### END SOLUTION`) are its own
        text = "".join(lines[start:end])
        start = end
        solution = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and marker in text
        if not solution and segments and segments[-1].kind == "given":
            segments[-1] = Segment("given", "", segments[-1].code + text)
        else:
            segments.append(Segment("solution" if solution else "given", node.name if solution else "", text))
    cleaned = [Segment(s.kind, s.name, s.code.strip("\n") + "\n") for s in segments if s.code.strip()]
    return doc, doc_source, cleaned


STUB_MARKER = "# YOUR CODE HERE"  # what grader/stubs.py leaves where a solution block was


def reference_segments(topic: str) -> tuple[str, str, list[Segment]]:
    """The reference cut into cells; in a class release (no solutions/), the committed stub's shape:
    a function or class holding the stub's `# YOUR CODE HERE` is a solution cell (learners'
    notebooks only)."""
    path = paths.SOLUTIONS / f"{topic}.py"
    if path.is_file():
        return docstring_and_segments(path.read_text(encoding="utf-8"), str(path))
    stub = paths.EXERCISES / f"{topic}.py"
    return docstring_and_segments(stub.read_text(encoding="utf-8"), str(stub), STUB_MARKER)


def solution_id(topic: str, name: str) -> str:
    return f"{topic}-{name}"


def test_cell_id(suite: str, function: str) -> str:
    """The grade_id of the test cell of `function` (`test_x` or `Class::test_x`) of a suite."""
    return f"test-{suite}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", function)


def _test_id(group: TestGroup) -> str:
    return test_cell_id(group.suite, group.nodeid.split("::", 1)[1])


def _source_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _cell(kind: str, text: str, cell_id: str, nbgrader: dict | None = None) -> dict:
    cell = {"cell_type": kind, "id": cell_id[:64], "metadata": {}, "source": _source_lines(text)}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": SCHEMA, **nbgrader}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def _notebook(cells: list[dict]) -> dict:
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# ---------------------------------------------------------------------------------------------------
# The suites' test functions and their points


class _Grab:
    """pytest plugin: the collected items (nodeid, points), nothing run."""

    def __init__(self):
        self.items: list[tuple[str, float]] = []
        self.errors: list[str] = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext}")

    def pytest_collection_finish(self, session):
        for item in session.items:
            marker = item.get_closest_marker("points")
            self.items.append((item.nodeid, float(marker.args[0]) if marker else 1.0))


def test_groups(topics: list[str]) -> dict[str, list[TestGroup]]:
    """{topic: its test functions, public then hidden, in the suites' order}, by collecting the
    suites (without running them)."""
    import contextlib
    import io
    import os

    import pytest

    from grader import runner

    files = [f for t in topics for f in runner.test_files(t, "all")]
    grab = _Grab()
    old = os.getcwd()
    os.chdir(paths.ROOT)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(
                [*files, "--collect-only", "-q", f"--rootdir={paths.ROOT}", *runner.QUIET_PLUGINS], plugins=[grab]
            )
    finally:
        os.chdir(old)
    if grab.errors:
        raise RuntimeError("the suites cannot be collected:\n" + "\n".join(grab.errors))
    groups: dict[str, dict[str, list]] = {t: {} for t in topics}
    for nodeid, points in grab.items:
        path = nodeid.split("::", 1)[0]
        topic = Path(path).parent.name
        suite = "hidden" if "hidden" in Path(path).name else "public"
        key = nodeid.split("[", 1)[0]
        entry = groups[topic].setdefault(key, [suite, 0, 0.0])
        entry[1] += 1
        entry[2] += points
    order = {"public": 0, "hidden": 1}
    result = {}
    for topic, found in groups.items():
        listed = [TestGroup(s, k, n, w) for k, (s, n, w) in found.items()]
        result[topic] = sorted(listed, key=lambda g: order[g.suite])  # stable: the suites' own order
    return result


def cell_points(topic: str, groups: list[TestGroup]) -> dict[str, float]:
    """{nodeid of a test function: its cell's points}: the topic's points shared as scoring.py shares them."""
    total = sum(g.weight for g in groups)
    points = catalog.get(topic).points
    return {g.nodeid: round(points * g.weight / total, 6) for g in groups}


# ---------------------------------------------------------------------------------------------------
# Building the notebooks

SETUP = """\
# Set-up (locked): lets the test cells below find the project's tests, in the folder holding
# grader/ (this folder or one above it), or else where this notebook was generated.
import sys as _sys
from pathlib import Path as _Path

_kata = [p for p in (_Path.cwd(), *_Path.cwd().parents) if (p / "grader" / "notebook_tests.py").is_file()]
_kata = str(_kata[0] if _kata else _Path({root!r}))
if _kata not in _sys.path:
    _sys.path.insert(0, _kata)
"""

TEST_CELL = """\
from grader.notebook_tests import check

check(globals(), {topic!r}, {nodeid!r}, {points!r})
"""


def _markdown_intro(topic: str, doc: str) -> str:
    info = catalog.get(topic)
    parts = [f"# {info.title}\n\n{info.description}\n"]
    if doc.strip():
        parts.append("```text\n" + doc.strip("\n") + "\n```\n")
    page = paths.ROOT / "docs" / f"{topic}.md"
    if page.is_file():
        parts.append(page.read_text(encoding="utf-8"))
    parts.append(
        "**How this notebook works.** Fill each cell that says `raise NotImplementedError`, then run "
        "the test cell below it: it runs the project's tests on your functions and, when one fails, "
        "says why (with the known mistake it looks like). Run the cells from the top after a "
        "restart. The grey cells are locked."
    )
    return "\n".join(parts)


def _defined(code: str) -> set[str]:
    """The top-level names a piece of module code defines."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _impl_uses(topic: str) -> dict[str, set[str]]:
    """{test function: the names it reads from `impl`, directly or through the test module's own
    helper functions}, from the suites' source (so a test cell can follow the last of them)."""
    uses: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for path in (paths.topic_tests(topic) / name for name in ("test_public.py", "test_hidden.py")):
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for function in functions:
            mine = uses.setdefault(function.name, set())
            called = calls.setdefault(function.name, set())
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "impl":
                    mine.add(node.attr)
                elif isinstance(node, ast.Name):
                    called.add(node.id)
    for _ in range(len(uses)):  # close over helper calls
        changed = False
        for name, called in calls.items():
            for other in called & uses.keys():
                if not uses[other] <= uses[name]:
                    uses[name] |= uses[other]
                    changed = True
        if not changed:
            break
    return uses


class _Recorder:
    """pytest plugin: which test function is running (the recording impl reads it)."""

    def __init__(self):
        self.current = ""

    def pytest_runtest_setup(self, item):
        self.current = item.nodeid.split("[", 1)[0].split("::")[-1]


_USES: dict[str, dict[str, set[str]]] = {}


def impl_uses(topic: str) -> dict[str, set[str]]:
    """{public test function: the names it reads from `impl`}, recorded by running the public suite on
    the reference (names reach `impl` through helpers, strings and other modules: reading the
    source would miss some). Falls back to reading the source if the run records nothing."""
    if topic in _USES:
        return _USES[topic]
    import contextlib
    import io
    import os

    import pytest

    from grader import loader, pytest_plugin, runner

    recorder = _Recorder()
    uses: dict[str, set[str]] = {}

    class Recording(pytest_plugin.Impl):
        def __getattr__(self, name):
            if not name.startswith("__") and recorder.current:
                uses.setdefault(recorder.current, set()).add(name)
            return super().__getattr__(name)

    key = (topic, str(loader.resolve_impl("solutions")))
    previous = pytest_plugin._cache.pop(key, None)
    try:
        pytest_plugin._cache[key] = Recording(loader.load_topic(topic, paths.SOLUTIONS), f"solutions/{topic}.py")
        files = runner.test_files(topic, "public")
        quiet = [*runner.QUIET_PLUGINS, "-p", "no:unraisableexception", "-p", "no:threadexception"]
        args = [*files, "--impl=solutions", f"--rootdir={paths.ROOT}", *quiet, "-q"]
        old = os.getcwd()
        os.chdir(paths.ROOT)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                pytest.main(args, plugins=[recorder])
        finally:
            os.chdir(old)
    except Exception:  # noqa: BLE001 - the reference cannot run here: read the source instead
        uses = {}
    finally:
        pytest_plugin._cache.pop(key, None)
        if previous is not None:
            pytest_plugin._cache[key] = previous
    static = _impl_uses(topic)
    _USES[topic] = {name: uses.get(name, set()) | static.get(name, set()) for name in {*uses, *static}}
    return _USES[topic]


def source_notebook(topic: str, groups: list[TestGroup], root: Path | None = None) -> dict:
    """The instructor's notebook of `topic` (solutions and hidden tests in it)."""
    doc, _, segments = reference_segments(topic)
    points = cell_points(topic, groups)
    cells = [
        _cell("markdown", _markdown_intro(topic, doc), f"{topic}-intro"),
        _cell(
            "code",
            SETUP.format(root=str(root or paths.ROOT)),
            f"{topic}-setup",
            {"grade": False, "solution": False, "locked": True, "grade_id": f"{topic}-setup"},
        ),
    ]
    uses = impl_uses(topic)
    defines = [_defined(segment.code) for segment in segments]
    after: dict[int, list[TestGroup]] = {}  # a public test's cell follows the last cell it needs
    for group in groups:
        used = uses.get(group.nodeid.split("::")[-1], set())
        needed = [i for i, names in enumerate(defines) if names & used]
        slot = max(needed) if needed and group.suite == "public" else -1
        after.setdefault(slot, []).append(group)

    def test_cell(group: TestGroup) -> dict:
        code = TEST_CELL.format(topic=topic, nodeid=group.nodeid, points=points[group.nodeid])
        if group.suite == "hidden":
            code = f"{BEGIN_HIDDEN}\n{code}{END_HIDDEN}\n"
        gid = _test_id(group)
        meta = {"grade": True, "solution": False, "locked": True, "grade_id": gid, "points": points[group.nodeid]}
        return _cell("code", code, gid, meta)

    given = 0
    for index, segment in enumerate(segments):
        if segment.kind == "given":
            given += 1
            gid = f"{topic}-given-{given}"
            meta = {"grade": False, "solution": False, "locked": True, "grade_id": gid}
        else:
            gid = solution_id(topic, segment.name)
            meta = {"grade": False, "solution": True, "locked": False, "grade_id": gid}
        cells.append(_cell("code", segment.code, gid, meta))
        cells.extend(test_cell(g) for g in after.get(index, []))
    if after.get(-1):
        text = "## More tests\n\nRun these once the functions above are written."
        cells.append(_cell("markdown", text, "more-tests"))
        cells.extend(test_cell(g) for g in after[-1])
    return _notebook(cells)


def release_notebook(source: dict) -> dict:
    """What nbgrader's release makes of a source notebook, for learners: solution blocks replaced by
    CODE_STUB, hidden tests removed (and the cells they leave empty dropped)."""
    cells = []
    for cell in source["cells"]:
        text = "".join(cell["source"])
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            text = stubs.make_stub(text)
        if BEGIN_HIDDEN in text:
            continue
        cells.append({**cell, "source": _source_lines(text)})
    if cells and cells[-1].get("id") == "more-tests":
        cells.pop()  # its tests were all hidden
    return {**source, "cells": cells}


CONFIG = """\
# Written by `python -m grader nbgrader` (scratch-katas): the course's nbgrader settings.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "scratch-katas"
c.CourseDirectory.root = {root!r}
# The release's stub for a solution block: the same two lines as exercises/<topic>.py.
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.Execute.timeout = 300
c.Exchange.root = {exchange!r}
"""


def write_course(out: Path, topics: list[str] | None = None) -> list[str]:
    """Write the nbgrader course into `out` (created if needed); returns the topics written."""
    topics = topics or catalog.names()
    groups = test_groups(topics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(
        CONFIG.format(root=str(out.resolve()), stub=CODE_STUB, exchange=str(out.resolve() / "exchange"))
    )
    for topic in topics:
        folder = out / "source" / topic
        folder.mkdir(parents=True, exist_ok=True)
        notebook = source_notebook(topic, groups[topic])
        (folder / f"{topic}.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return topics


def write_learner_notebooks(out: Path, topics: list[str] | None = None) -> tuple[list[Path], list[Path]]:
    """The learners' notebooks (release versions, no solutions, no hidden tests) as OUT/<topic>.ipynb.
    A notebook already there that differs from the fresh one is the learner's work: it is kept, never
    overwritten. Returns (written, kept)."""
    topics = topics or catalog.names()
    groups = test_groups(topics)
    out.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for topic in topics:
        notebook = release_notebook(source_notebook(topic, groups[topic]))
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        target = out / f"{topic}.ipynb"
        if target.exists() or target.is_symlink():
            if target.is_file() and not target.is_symlink() and target.read_text(encoding="utf-8") == text:
                continue
            kept.append(target)
            continue
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written, kept


# ---------------------------------------------------------------------------------------------------
# Reading a submitted notebook


def read_notebook(data: bytes, shown: str) -> list[dict]:
    """The cells of a submitted notebook (bytes), or NotebookError with a sentence."""
    if len(data) > MAX_NOTEBOOK:
        raise NotebookError(f"{shown} is larger than {MAX_NOTEBOOK} bytes")
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotebookError(f"{shown} is not a notebook: it cannot be read as JSON") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{shown} is not a notebook: it has no list of cells")
    return [c for c in cells if isinstance(c, dict)]


def _cell_text(cell: dict) -> str | None:
    source = cell.get("source")
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def module_source(topic: str, cells: list[dict]) -> tuple[str, list[str]]:
    """`<topic>.py` from a submitted notebook's cells: the reference's docstring and given code (never
    the student's copies of them), and for each solution cell the code of the first submitted code
    cell with its grade_id. Returns (source, names of solution cells not found: their functions are
    then missing)."""
    _, doc_source, segments = reference_segments(topic)
    submitted: dict[str, str] = {}
    for cell in cells:
        gid = _grade_id(cell)
        text = _cell_text(cell)
        if gid and text is not None and cell.get("cell_type") == "code" and gid not in submitted:
            submitted[gid] = text
    parts = [doc_source.strip("\n") + "\n" if doc_source else ""]
    missing = []
    for segment in segments:
        if segment.kind == "given":
            parts.append(stubs.strip_markers(segment.code))
            continue
        code = submitted.get(solution_id(topic, segment.name))
        if code is None:
            missing.append(segment.name)
            continue
        parts.append(code.rstrip("\n") + "\n")
    return "\n\n".join(p for p in parts if p), missing
