"""The class release (grader/release.py): what it holds, what it leaves out, and that it works."""

import json
import subprocess
import sys

import pytest

from grader import catalog, paths, release

# `released`: the class release, built once per session (grader/tests/conftest.py).


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


def _public_suite_passes(topic: str, source: str, released, tmp_path) -> bool:
    """Whether `source`, as the learner's file, passes every public test of `topic` as the release
    runs them (its stored answers, when the topic has a key)."""
    from grader import runner, stubs

    folder = tmp_path / f"impl-{topic}"
    folder.mkdir(exist_ok=True)
    (folder / f"{topic}.py").write_text(stubs.strip_markers(source), encoding="utf-8")
    stored = released / "tests" / topic / "answers.pt"
    extra = (f"--kata-answers={stored}",) if stored.exists() else ()
    status, records, output = runner.run_subprocess(topic, str(folder), "public", timeout=300, extra=extra)
    assert records, output[-1500:]
    return status == 0 and all(r["outcome"] == "passed" for r in records)


def test_release_holds_no_answer_key(released, tmp_path):
    """Every function or class defined in a released tests/<topic>/ file under the name of one of the
    topic's functions, put in the reference's place as the learner's, does not pass the public
    tests; a released key.py defines nothing (it reads stored answers)."""
    leaks = []
    for topic in catalog.names():
        folder = released / "tests" / topic
        key = folder / "key.py"
        if key.exists():
            assert "def " not in key.read_text() and (folder / "answers.pt").is_file(), topic
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        for file, name, imports, source in release.named_like_the_api(folder, topic):
            if _public_suite_passes(topic, release.with_replaced(reference, name, imports, source), released, tmp_path):
                leaks.append(f"tests/{topic}/{file}: {name}")
    assert leaks == [], f"released test files hold a working implementation: {leaks}"


def test_the_answer_key_proof_finds_a_planted_implementation(released, tmp_path):
    """The proof above can fail: a released file defining the reference's own adam_step is found by
    name, and passes the public tests in the learner's place."""
    reference = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "helpers.py").write_text(reference, encoding="utf-8")
    found = {name: (imports, source) for _, name, imports, source in release.named_like_the_api(folder, "adam")}
    assert "adam_step" in found
    assert _public_suite_passes(
        "adam", release.with_replaced(reference, "adam_step", *found["adam_step"]), released, tmp_path
    )
    broken = found["adam_step"][1].replace("param - lr", "param + lr")
    assert not _public_suite_passes(
        "adam", release.with_replaced(reference, "adam_step", found["adam_step"][0], broken), released, tmp_path
    )
