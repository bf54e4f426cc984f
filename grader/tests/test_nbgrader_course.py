"""The notebooks made from the single source (grader/nbgrader_course.py), for every topic, without
nbgrader: the cells rebuild the reference and the stub, the points add up, the release holds no
solution and no hidden test, a submitted notebook is read only through its solution cells, and a
test cell tells a learner what `make test` tells them. The real nbgrader round trip is
test_nbgrader_roundtrip.py."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap

import pytest

from grader import catalog, nbgrader_course, paths, stubs

TOPICS = [t for t in catalog.names() if (paths.SOLUTIONS / f"{t}.py").is_file()]


@pytest.fixture(scope="module")
def groups():
    return nbgrader_course.test_groups(TOPICS)


def _same_code(a: str, b: str) -> bool:
    return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.mark.parametrize("topic", TOPICS)
def test_notebook_is_the_module_and_its_tests(topic, groups):
    reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    notebook = nbgrader_course.source_notebook(topic, groups[topic])
    cells = notebook["cells"]
    source, missing = nbgrader_course.module_source(topic, cells)
    assert missing == []
    assert _same_code(source, stubs.strip_markers(reference)), f"{topic}: the cells do not rebuild the reference"
    released, _ = nbgrader_course.module_source(topic, nbgrader_course.release_notebook(notebook)["cells"])
    assert _same_code(released, stubs.make_stub(reference)), f"{topic}: the release is not the stub"

    ids = [_meta(c)["grade_id"] for c in cells if _meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids are unique"
    for cell in cells:
        meta = _meta(cell)
        if not meta:
            assert cell["cell_type"] == "markdown"
            continue
        assert meta["schema_version"] == 3 and re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"])
        if meta["solution"]:
            assert (meta["grade"], meta["locked"]) == (False, False) and "points" not in meta
            assert stubs.BEGIN in "".join(cell["source"])
        elif meta["grade"]:
            assert meta["locked"] and meta["points"] > 0
        else:
            assert meta["locked"] and "points" not in meta

    tested = [c for c in cells if _meta(c).get("grade")]
    assert len(tested) == len(groups[topic]) > 0
    points = sum(_meta(c)["points"] for c in tested)
    assert points == pytest.approx(catalog.get(topic).points, abs=1e-4)
    hidden = [c for c in tested if nbgrader_course.BEGIN_HIDDEN in "".join(c["source"])]
    assert len(hidden) == sum(1 for g in groups[topic] if g.suite == "hidden")


@pytest.mark.parametrize("topic", TOPICS)
def test_each_public_test_cell_follows_the_code_it_calls(topic, groups):
    """Run top to bottom (as nbgrader does), a public test cell finds every function its test uses
    already defined: otherwise nbgrader and the grader would score the same code differently."""
    notebook = nbgrader_course.source_notebook(topic, groups[topic])
    uses = nbgrader_course.impl_uses(topic)
    defined: set[str] = set()
    for cell in notebook["cells"]:
        meta = _meta(cell)
        text = "".join(cell["source"])
        if meta and not meta.get("grade") and cell["cell_type"] == "code" and meta["grade_id"] != f"{topic}-setup":
            defined |= nbgrader_course._defined(text)
        elif meta.get("grade") and nbgrader_course.BEGIN_HIDDEN not in text:
            function = re.search(r"::([\w:]+)'", text).group(1).split("::")[-1]
            everything = set().union(
                *(nbgrader_course._defined(s.code) for s in nbgrader_course.reference_segments(topic)[2])
            )
            needed = uses.get(function, set()) & everything
            assert needed <= defined, f"{topic}: the cell of {function} comes before {sorted(needed - defined)}"


def test_release_notebooks_hold_no_solution_and_no_hidden_test(tmp_path, groups):
    written, kept = nbgrader_course.write_learner_notebooks(tmp_path, TOPICS)
    assert kept == [] and len(written) == len(TOPICS)
    for path in written:
        topic = path.stem
        text = path.read_text(encoding="utf-8")
        assert stubs.BEGIN not in text and nbgrader_course.BEGIN_HIDDEN not in text
        assert "test_hidden.py::" not in text
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        solution_only = set(stubs.strip_markers(reference).splitlines()) - set(stubs.make_stub(reference).splitlines())
        code = "".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code")
        leaked = [line for line in solution_only if len(line.strip()) > 12 and line in code.splitlines()]
        assert leaked == [], f"{topic}: solution lines in the learner's notebook: {leaked[:3]}"


def test_learner_notebooks_are_never_overwritten(tmp_path):
    topic = TOPICS[0]
    nbgrader_course.write_learner_notebooks(tmp_path, [topic])
    mine = tmp_path / f"{topic}.ipynb"
    mine.write_text(mine.read_text().replace("raise NotImplementedError", "return 42"))
    before = mine.read_text()
    written, kept = nbgrader_course.write_learner_notebooks(tmp_path, [topic])
    assert (written, kept) == ([], [mine]) and mine.read_text() == before


def test_a_submission_is_read_only_through_its_solution_cells(groups):
    """Extra cells, changed locked and test cells, reordered cells and outputs change nothing; a
    solution cell is found by its grade_id wherever it is; a missing one leaves its function out."""
    topic = "adam" if "adam" in TOPICS else TOPICS[0]
    notebook = nbgrader_course.source_notebook(topic, groups[topic])
    honest, _ = nbgrader_course.module_source(topic, notebook["cells"])
    cells = [dict(c) for c in notebook["cells"]]
    for cell in cells:
        meta = _meta(cell)
        if meta and not meta["solution"]:
            cell["source"] = ["import os\n", "os.system('echo pwned')\n"]
    extra = {"cell_type": "code", "metadata": {}, "source": "torch.allclose = lambda *a, **k: True\n", "outputs": []}
    forged = {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": f"{topic}-given-1"}}, "source": "evil()\n"}
    tampered = [extra, forged, *reversed(cells)]
    assert nbgrader_course.module_source(topic, tampered) == (honest, [])
    first = next(c for c in cells if _meta(c).get("solution"))
    name = _meta(first)["grade_id"].removeprefix(f"{topic}-")
    source, missing = nbgrader_course.module_source(topic, [c for c in cells if c is not first])
    assert missing == [name] and f"def {name}" not in source and f"class {name}" not in source


@pytest.mark.parametrize(
    "data, words",
    [
        (b'{"cells": [', "cannot be read as JSON"),
        (b"\xff\xfe not utf-8", "cannot be read as JSON"),
        (b'{"cells": 3}', "has no list of cells"),
        (b"[1, 2]", "has no list of cells"),
        (b"[" * 100_000, "cannot be read as JSON"),
    ],
)
def test_a_notebook_that_cannot_be_read_is_one_sentence(data, words):
    with pytest.raises(nbgrader_course.NotebookError) as caught:
        nbgrader_course.read_notebook(data, "adam.ipynb")
    assert str(caught.value) == f"adam.ipynb is not a notebook: it {words}"


# A learner's notebook run without Jupyter: each code cell is compiled under a file name of its own
# and registered with linecache, as IPython does, then the test cells' outcomes are compared with
# `make test`'s records (learner mode) on the same code written as a file.
LEARNER = textwrap.dedent(
    """
    import json, linecache, sys
    from pathlib import Path
    from grader import nbgrader_course, runner
    from grader.notebook_tests import TestsFailed

    topic, notebook_path, folder = sys.argv[1:4]
    cells = json.loads(Path(notebook_path).read_text())["cells"]
    ns = {"__name__": "__main__"}
    results = {}
    for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
        text = "".join(cell["source"])
        name = f"<cell-{i}>"
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
        meta = cell["metadata"]["nbgrader"]
        if not meta.get("grade"):
            exec(compile(text, name, "exec"), ns)
            continue
        nodeid = text.split("'")[3]
        *head, last = text.rstrip().splitlines()
        exec(compile(chr(10).join(head), name, "exec"), ns)
        try:
            value = eval(compile(last, name, "eval"), ns)
            results[nodeid] = ["passed" if value is None else "partial", value]
        except TestsFailed as exc:
            results[nodeid] = ["raised", str(exc)]
    status, records = runner.run_inprocess([topic], folder, "public", quiet=True)
    print(json.dumps({"cells": results, "records": records}))
    """
)


def test_a_test_cell_says_what_make_test_says(tmp_path, groups):
    """The release notebook of a topic, filled with a known mistake (its first mutant) and run cell
    by cell: each public test cell passes, raises or gives partial credit exactly as `make test`'s
    records of the same code say, and a failing cell's message carries `make test`'s messages (the
    known mistake named)."""
    from grader import nbgrader_roundtrip

    topic = "adam" if "adam" in TOPICS else TOPICS[0]
    mutant, bodies = nbgrader_roundtrip.mistake_bodies(topic)
    notebook = nbgrader_course.release_notebook(nbgrader_course.source_notebook(topic, groups[topic]))
    filled = nbgrader_roundtrip._with_solutions(notebook, bodies)
    (tmp_path / "nb.ipynb").write_text(json.dumps(filled))
    folder = tmp_path / "impl"
    folder.mkdir()
    (folder / f"{topic}.py").write_text(nbgrader_course.module_source(topic, filled["cells"])[0])
    proc = subprocess.run(
        [sys.executable, "-c", LEARNER, topic, str(tmp_path / "nb.ipynb"), str(folder)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    records, cells = out["records"], out["cells"]
    public = [g for g in groups[topic] if g.suite == "public"]
    assert sorted(cells) == sorted(g.nodeid for g in public)
    kinds = set()
    for group in public:
        mine = [r for r in records if r["nodeid"].split("[")[0] == group.nodeid]
        passed = [r for r in mine if r["outcome"] == "passed"]
        kind, value = cells[group.nodeid]
        kinds.add(kind)
        if len(passed) == len(mine):
            assert kind == "passed", group.nodeid
        elif not passed:
            assert kind == "raised", group.nodeid
            for record in [r for r in mine if r["outcome"] != "passed"][:1]:
                assert _where(record["message"].strip()) in _where(value), f"{group.nodeid}: {value[:500]}"
        else:
            assert kind == "partial", group.nodeid
    assert "raised" in kinds, f"the mutant {mutant} fails no public test cell of {topic}"
    tag = f"[{_mistake_of(topic, mutant)}]"
    assert any(tag in value for kind, value in cells.values() if kind == "raised"), f"no cell names {tag}"


def _where(message: str) -> str:
    """A message without the file and line it names (a notebook cell's, or a file's)."""
    return re.sub(r"\S+ line \d+", "<where>", message)


def _mistake_of(topic: str, mutant_id: str) -> str:
    import importlib

    return next(m.mistake for m in importlib.import_module(f"tests.{topic}.mutants").MUTANTS if m.id == mutant_id)


def test_notebook_submissions_become_topic_files(tmp_path, groups):
    """A class folder of notebooks (`alice/adam.ipynb`, nbgrader's `bob/adam/adam.ipynb`) becomes
    folders of `<topic>.py` for classgrade, with a note for a notebook that is not JSON; links are
    not followed."""
    from grader import classgrade, notebook_grading

    topic = "adam" if "adam" in TOPICS else TOPICS[0]
    notebook = nbgrader_course.source_notebook(topic, groups[topic])
    data = json.dumps(notebook)
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / f"{topic}.ipynb").write_text(data)
    (tmp_path / "class" / "bob" / topic).mkdir(parents=True)
    (tmp_path / "class" / "bob" / topic / f"{topic}.ipynb").write_text(data)
    (tmp_path / "class" / "carol").mkdir()
    (tmp_path / "class" / "carol" / f"{topic}.ipynb").write_text("{not json")
    (tmp_path / "class" / "dave").mkdir()
    (tmp_path / "class" / "dave" / f"{topic}.ipynb").symlink_to(tmp_path / "class" / "alice" / f"{topic}.ipynb")
    assert notebook_grading.is_notebook_submission(tmp_path / "class", [topic])
    assert not notebook_grading.is_notebook_submission(paths.SOLUTIONS, [topic])
    with notebook_grading.prepared(tmp_path / "class", [topic]) as folder:
        expected, _ = nbgrader_course.module_source(topic, notebook["cells"])
        for student in ("alice", "bob"):
            assert (folder / student / f"{topic}.py").read_text() == expected
        assert not (folder / "carol" / f"{topic}.py").exists() and not (folder / "dave" / f"{topic}.py").exists()
        notes = classgrade.STAGING_NOTES[str(folder / "carol")]
        assert notes == {topic: f"{topic}.ipynb is not a notebook: it cannot be read as JSON"}
    assert str(folder / "carol") not in classgrade.STAGING_NOTES and not folder.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["nbgrader"], "Where should the course go?"),
        (["notebooks", "exercises"], "do not go into exercises/"),
    ],
)
def test_notebook_commands_refuse_bad_input_with_one_sentence(capsys, argv, words):
    from grader import cli

    before = sorted(p.name for p in paths.EXERCISES.iterdir())
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert sorted(p.name for p in paths.EXERCISES.iterdir()) == before


def test_instructor_extras_install_once_with_one_line(tmp_path, monkeypatch, capsys):
    """The first need installs requirements-instructor.txt with one line saying so; a pip failure
    is one sentence and leaves no stamp; with the stamp and nbgrader found, pip is not run."""
    from grader import instructor_env

    calls = []
    monkeypatch.setattr(instructor_env, "_stamp", lambda: tmp_path / "stamp")
    monkeypatch.setattr(instructor_env, "_importable", lambda: bool(calls))
    failing = lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 1)  # noqa: E731
    monkeypatch.setattr(instructor_env.subprocess, "run", failing)
    with pytest.raises(instructor_env.InstallError, match="pip could not install requirements-instructor.txt"):
        instructor_env.ensure("make nbgrader")
    assert "make nbgrader needs the instructor extras: installing nbgrader==" in capsys.readouterr().out
    assert calls[0][-2:] == ["-r", str(instructor_env.REQUIREMENTS)] and not (tmp_path / "stamp").exists()
    working = lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0)  # noqa: E731
    monkeypatch.setattr(instructor_env.subprocess, "run", working)
    instructor_env.ensure("make nbgrader")
    assert (tmp_path / "stamp").read_text().strip() == instructor_env._hash()
    monkeypatch.setattr(instructor_env.subprocess, "run", lambda *a, **k: pytest.fail("pip ran again"))
    instructor_env.ensure("make nbgrader")
    assert "nbgrader==0.9.6" not in (paths.ROOT / "requirements.txt").read_text()


def test_to_gradebook_without_a_gradebook_is_refused_before_grading(capsys, tmp_path):
    from grader import cli

    (tmp_path / "class").mkdir()
    status = cli.main(["grade", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--to-gradebook"])
    err = capsys.readouterr().err
    assert status == 2 and "has no gradebook.db" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_class_release_builds_the_notebooks_from_its_stubs(tmp_path, monkeypatch):
    """Without solutions/ (a class release), `make notebooks` cuts the committed stub instead: the
    same cells, the same code."""
    from grader.selfcheck import committed_stub

    topic = "adam" if "adam" in TOPICS else TOPICS[0]
    stub = committed_stub(topic)[0]
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / f"{topic}.py").write_text(stub)
    fresh = nbgrader_course.release_notebook(
        nbgrader_course.source_notebook(topic, nbgrader_course.test_groups([topic])[topic])
    )
    monkeypatch.setattr(paths, "SOLUTIONS", tmp_path / "no-solutions")
    monkeypatch.setattr(paths, "EXERCISES", tmp_path / "exercises")
    written, _ = nbgrader_course.write_learner_notebooks(tmp_path / "nb", [topic])
    released = json.loads(written[0].read_text())
    ids = lambda nb: [(c["cell_type"], _meta(c).get("grade_id")) for c in nb["cells"]]  # noqa: E731
    assert ids(released) == ids(fresh)
    assert _same_code(nbgrader_course.module_source(topic, released["cells"])[0], stub)
