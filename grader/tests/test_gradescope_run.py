"""Gradescope, run as Gradescope runs it (issue 25, part 2).

The bundle of `make gradescope` is unzipped into /autograder/source inside a bubblewrap mount
namespace over temporary folders (grader/gradescope_local.py: the machine's system folders
read-only, the project's own folder absent, /autograder private), setup.sh runs with only its
package manager lines skipped, and run_autograder grades five uploads: the references of every
topic, the stubs of every topic, a known mistake, a hostile submission and an empty upload. Every
results.json must satisfy grader/schemas/gradescope_results.schema.json, written from Gradescope's
published specification, and score what the upload deserves.
"""

import importlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader import catalog, gradescope, hostile, jsonschema_lite, paths, stubs
from grader.gradescope_local import Autograder

SCHEMA = jsonschema_lite.load("gradescope_results.schema.json")
# The module's fixture grades five uploads, two at a time: about 2 minutes on a quiet 2-core machine.
pytestmark = pytest.mark.timeout(1800)


def _reference(topic: str) -> str:
    return (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")


def _mistake() -> tuple[str, str, str]:
    """(topic, mutant id, source): the first mutant of the first topic (catalog order) that has one."""
    for topic in catalog.names():
        if (paths.topic_tests(topic) / "mutants.py").is_file():
            mutant = importlib.import_module(f"tests.{topic}.mutants").MUTANTS[0]
            from grader.mistakes import apply_patch

            return topic, mutant.id, stubs.strip_markers(apply_patch(_reference(topic), mutant.patch, mutant.id))
    pytest.fail("no topic has a mutants.py")


def _uploads() -> dict[str, dict[str, str]]:
    topic, _, source = _mistake()
    case = next(c for c in hostile.CASES if c.name == "patch-comparisons")
    solution = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    hostile_files = {
        name: text.replace("{stub}", stubs.make_stub(solution)).replace("{reference}", stubs.strip_markers(solution))
        for name, text in case.files.items()
    }
    return {
        "reference": {f"{t}.py": stubs.strip_markers(_reference(t)) for t in catalog.names()},
        "stub": {f"{t}.py": stubs.make_stub(_reference(t)) for t in catalog.names()},
        "mistake": {f"{topic}.py": source},
        "hostile": hostile_files,
        "empty": {},
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{upload: (results.json, the run)}, after setup.sh, two uploads at a time (each in its own
    /autograder)."""
    bundle = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    gradescope.build(bundle)
    uploads = _uploads()
    first = Autograder(bundle, tmp_path_factory.mktemp("gs-setup"))
    setup = first.setup()

    def run(name):
        return name, Autograder(bundle, tmp_path_factory.mktemp(f"gs-{name}")).grade(uploads[name])

    with ThreadPoolExecutor(2) as pool:
        results = dict(pool.map(run, uploads))
    return setup, results


def _by_topic(data: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for test in data["tests"]:
        out.setdefault(test["name"].split(":")[0], []).append(test)
    return out


def test_setup_sh_runs_and_finds_a_working_sandbox(graded):
    setup, _ = graded
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "bubblewrap: usable" in setup.stdout, setup.stdout + setup.stderr


@pytest.mark.parametrize("upload", ["reference", "stub", "mistake", "hostile", "empty"])
def test_results_json_follows_gradescope_schema(graded, upload):
    data, proc = graded[1][upload]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert data is not None, proc.stderr[-2000:]
    assert jsonschema_lite.errors(data, SCHEMA) == []
    assert "grader failures: 0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert set(_by_topic(data)) == set(catalog.names())
    # each test's score is rounded to 4 decimals (grader/classgrade.py), the total to 2
    rounding = 0.005 + 5e-5 * len(data["tests"])
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]), abs=rounding)
    assert all(t["score"] <= t["max_score"] + 1e-9 for t in data["tests"])
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(
        sum(t.points for t in catalog.TOPICS), abs=rounding
    )
    assert all(t["output"] == "" for t in data["tests"] if t["visibility"] != "visible")


def test_each_upload_scores_what_it_deserves(graded):
    results = {name: data for name, (data, _) in graded[1].items()}
    full = sum(t.points for t in catalog.TOPICS)
    reference = results["reference"]
    assert reference["score"] == pytest.approx(full, abs=1e-3), [
        t["name"] for t in reference["tests"] if t["status"] != "passed"
    ]
    assert results["stub"]["score"] == 0 and all(t["status"] == "failed" for t in results["stub"]["tests"])
    assert results["empty"]["score"] == 0
    assert all(
        t["name"].endswith(": file") and "was found in the submission" in t["output"] for t in results["empty"]["tests"]
    )
    topic, mutant, _ = _mistake()
    mine = _by_topic(results["mistake"])[topic]
    assert sum(t["score"] for t in mine) < catalog.get(topic).points, f"{topic} mutant {mutant}"
    assert any(t["status"] == "failed" for t in mine)
    case = next(c for c in hostile.CASES if c.name == "patch-comparisons")
    assert results["hostile"]["score"] <= case.max_points
