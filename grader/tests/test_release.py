"""The class release (grader/release.py): what it holds, what it leaves out, and that it works."""

import json
import subprocess
import sys

import pytest

from grader import catalog, paths, release


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "class"
    release.build(out)
    # The release copies exercises/ as it is; a learner running `make check` may have edited it, so
    # the release tested here gets the stubs as committed (grader.selfcheck.committed_stub).
    from grader.selfcheck import committed_stub

    for topic in catalog.names():
        (out / "exercises" / f"{topic}.py").write_text(committed_stub(topic)[0], encoding="utf-8")
    return out


def test_release_leaves_out_solutions_and_project_only_files(released):
    """No solutions/, no hidden tests, no mutants or margin scripts (they quote the references)."""
    assert not (released / "solutions").exists()
    leaked = [p for p in released.rglob("*") if p.name in release.PROJECT_ONLY]
    assert leaked == []
    for topic in catalog.names():
        assert (released / "exercises" / f"{topic}.py").is_file()
        assert (released / "tests" / topic / "test_public.py").is_file()
        assert (released / "tests" / topic / "mistakes.py").is_file()
        text = "".join(p.read_text() for p in (released / "tests" / topic).glob("*.py"))
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text()
        # No line of a solution block appears in what the class gets.
        inside = reference.split("### BEGIN SOLUTION")[1:]
        body_lines = {
            line.strip()
            for block in inside
            for line in block.split("### END SOLUTION")[0].splitlines()
            if len(line.strip()) > 25
        }
        assert [line for line in body_lines if line in text] == []


def test_release_refuses_an_existing_folder(tmp_path):
    """Nothing is overwritten: an existing target folder is an error."""
    with pytest.raises(FileExistsError):
        release.build(tmp_path)


def test_release_grades_its_stubs_as_not_started(released):
    """In the release, `python -m grader grade` runs the public tests and finds every topic not started."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "--json"], cwd=released, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["topics"]
    assert {r["topic"]: r["status"] for r in rows} == {t: "not started" for t in catalog.names()}
    assert all(r["total"] > 0 for r in rows)
