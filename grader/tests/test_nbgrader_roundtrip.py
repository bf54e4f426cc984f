"""The real nbgrader round trip over every topic (grader/nbgrader_roundtrip.py), with nbgrader
installed into .venv on first use (requirements-instructor.txt, grader/instructor_env.py):

- nbgrader's generate_assignment for every topic; the release notebooks hold no solution code and
  no hidden test, and are the learners' notebooks (`make notebooks`) cell for cell;
- three students per topic (the reference, the untouched release, a known mistake) go through
  nbgrader's autograde and `nbgrader export`; the exported scores equal `python -m grader grade`'s
  on the same notebooks, topic by topic;
- the attack cases (FACTS.md's three nbgrader exploits, a deleted test cell, a cell that redefines
  the test helper, a notebook that is not JSON) get exactly what their honest solution cells get,
  and each exploit really works against nbgrader's own autograde (or the case proves nothing);
- `--to-gradebook` writes our scores into the gradebook, read back through nbgrader's API.

One run serves every assertion (module-scoped fixture); the tables are printed.
"""

from __future__ import annotations

import pytest

from grader import catalog, instructor_env, nbgrader_course, nbgrader_roundtrip, notebook_grading, stubs

# The round trip runs every topic's suites six times (three students, in nbgrader's kernel and in our
# sandbox): far past the 600 s wall-clock safety net per test of pyproject.toml on a busy machine.
pytestmark = pytest.mark.timeout(3600)

EXPLOITS = ("input-transformer", "reads-source-notebook", "redefined-test-helper")


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    instructor_env.ensure("the nbgrader round trip (grader/tests/test_nbgrader_roundtrip.py)")
    result = nbgrader_roundtrip.run(tmp_path_factory.mktemp("roundtrip"))
    print("\n" + nbgrader_roundtrip.tables(result))
    return result


def test_every_topic_is_generated_and_autograded(trip):
    expected = [t for t in catalog.names() if nbgrader_course.test_groups([t])[t]]
    assert trip["topics"] == expected
    steps = {(e["step"], e["name"]): e for e in trip["log"]}
    for topic in trip["topics"]:
        assert steps[("generate", topic)]["ok"], steps[("generate", topic)]["error"]
        for student in trip["students"][topic]:
            if student != "not-json":
                assert steps[("autograde", f"{topic}:{student}")]["ok"], (topic, student)


def test_releases_hold_no_solution_and_no_hidden_test_and_are_the_learners_notebooks(trip):
    for topic in trip["topics"]:
        release = trip["releases"][topic]
        text = "".join("".join(c["source"]) for c in release["cells"])
        assert stubs.BEGIN not in text and nbgrader_course.BEGIN_HIDDEN not in text and "test_hidden.py::" not in text
        source, _ = nbgrader_course.module_source(topic, release["cells"])
        reference = (nbgrader_course.paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        stub_source, _ = nbgrader_course.module_source(
            topic, nbgrader_course.release_notebook(trip["sources"][topic])["cells"]
        )
        assert source == stub_source, f"{topic}: nbgrader's release is not our stub"
        assert stubs.make_stub(reference).count("raise NotImplementedError") == source.count(
            "raise NotImplementedError"
        )
        ours = {
            c["metadata"]["nbgrader"]["grade_id"]: c["source"]
            for c in nbgrader_course.release_notebook(trip["sources"][topic])["cells"]
            if "nbgrader" in c["metadata"]
        }
        for cell in release["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in ours:
                assert "".join(cell["source"]).strip() == "".join(ours[gid]).strip(), f"{topic} {gid}"


def test_exported_scores_equal_ours_topic_by_topic(trip):
    compared = 0
    for topic in trip["topics"]:
        for student in (s for s in trip["students"][topic] if s in nbgrader_roundtrip.HONEST):
            theirs = trip["nbgrader"][(student, topic)]
            ours = nbgrader_roundtrip.our_score(trip, student, topic)
            assert round(theirs, 2) == ours, f"{student} {topic}: nbgrader {theirs}, ours {ours}"
            compared += 1
        points = catalog.get(topic).points
        assert nbgrader_roundtrip.our_score(trip, "reference", topic) == points
        assert nbgrader_roundtrip.our_score(trip, "release", topic) == 0
        if trip["mutants"][topic]:
            assert nbgrader_roundtrip.our_score(trip, "mistake", topic) < points, topic
    assert compared >= 2 * len(trip["topics"])
    problems = {s: r["grader_problem"] for s, r in trip["ours"]["students"].items() if r["grader_problem"]}
    assert problems == {}


def test_attacks_get_what_their_honest_cells_deserve(trip):
    topic = trip["attack_topic"]
    assert set(trip["attacks"]) == {*EXPLOITS, "patched-comparisons", "always-equal", "deleted-test-cells", "not-json"}
    for case, honest in trip["attacks"].items():
        deserved = nbgrader_roundtrip.our_score(trip, honest, topic)
        assert nbgrader_roundtrip.our_score(trip, case, topic) == deserved, case
    for case in EXPLOITS:  # each attack works against nbgrader itself, or it proves nothing here
        deserved = nbgrader_roundtrip.our_score(trip, trip["attacks"][case], topic)
        assert trip["nbgrader"].get((case, topic), 0.0) > deserved, f"{case} does not fool nbgrader"
    note = next(r for r in trip["ours"]["students"]["not-json"]["topics"] if r["topic"] == topic).get("note", "")
    # named by its path in the student's folder (`<assignment>/<topic>.ipynb` in nbgrader's tree)
    assert note.endswith(f"{topic}.ipynb is not a notebook: it cannot be read as JSON"), note


def test_our_scores_go_into_the_gradebook(trip):
    from nbgrader.api import Gradebook

    course = trip["course"]
    lines = notebook_grading.to_gradebook(course, course.parent / "grades", trip["topics"])
    assert lines
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for topic in trip["topics"]:
            for student in (s for s in trip["students"][topic] if s in nbgrader_roundtrip.HONEST):
                stored = gb.find_submission(topic, student).score
                assert round(stored, 2) == nbgrader_roundtrip.our_score(trip, student, topic), (student, topic)
        attacked = gb.find_submission(trip["attack_topic"], "input-transformer").score
        assert attacked == nbgrader_roundtrip.our_score(trip, "input-transformer", trip["attack_topic"])
