"""GitHub Classroom (issue 25, part 1): the workflow a release carries, checked against the actions'
documented inputs, and every step's command run in a release copy the way the runner runs it."""

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml  # PyYAML: installed with transformers and huggingface_hub (requirements.txt), not pinned itself

from grader import catalog, classroom, paths, stubs

# The actions' inputs as their action.yml files document them (classroom-resources/autograding-
# command-grader and autograding-grading-reporter, read in 2026-12): name -> required. The command
# grader awards max-score when `command` exits 0 and wrote nothing to stderr; timeout is in minutes,
# at most 6 hours. The reporter reads each runner's result from the environment variable
# <STEP ID IN CAPITALS>_RESULTS.
ACTIONS = {
    "classroom-resources/autograding-command-grader@v1": {
        "test-name": True,
        "setup-command": False,
        "command": True,
        "timeout": False,
        "max-score": False,
    },
    "classroom-resources/autograding-grading-reporter@v1": {"runners": True},
}
MAX_TIMEOUT_MINUTES = 360
# The release (shared with test_release.py) and two runs of every step: minutes, not seconds.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def workflow(released):
    text = classroom.workflow(released)
    return yaml.safe_load(text)


def _steps(workflow):
    job = workflow["jobs"]["run-autograding-tests"]
    return job["steps"]


def test_workflow_has_classrooms_shape(workflow):
    assert "push" in workflow["on"]
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["runs-on"] == "ubuntu-latest" and workflow["permissions"]["checks"] == "write"
    steps = _steps(workflow)
    assert steps[0]["uses"].startswith("actions/checkout@")
    install = next(s for s in steps if "run" in s)
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in install["run"]
    assert steps.index(install) < min(i for i, s in enumerate(steps) if s.get("uses") in ACTIONS)
    assert steps[-1]["uses"] == "classroom-resources/autograding-grading-reporter@v1"


def test_every_step_uses_only_documented_inputs(workflow):
    for step in _steps(workflow):
        if step.get("uses") not in ACTIONS:
            continue
        documented = ACTIONS[step["uses"]]
        given = step.get("with", {})
        assert set(given) <= set(documented), step
        assert {k for k, required in documented.items() if required} <= set(given), step
        if "timeout" in given:
            assert 0 < float(given["timeout"]) <= MAX_TIMEOUT_MINUTES
        if "max-score" in given:
            assert isinstance(given["max-score"], int) and given["max-score"] >= 1, step


def test_steps_cover_every_public_test_and_the_topics_points(workflow, released):
    graders = [s for s in _steps(workflow) if s.get("uses") == "classroom-resources/autograding-command-grader@v1"]
    ids = [s["id"] for s in graders]
    assert len(ids) == len(set(ids))
    points: dict[str, int] = {}
    for step in graders:
        topic = shlex.split(step["with"]["command"])[-2]
        points[topic] = points.get(topic, 0) + step["with"]["max-score"]
    assert points == {t: catalog.get(t).points for t in catalog.names()}
    # Which tests the steps select, against pytest's own collection of the release's public suites.
    files = [f"tests/{t}/test_public.py" for t in catalog.names()]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=released,
        capture_output=True,
        text=True,
        timeout=300,
    )
    collected = {line.split("[")[0] for line in proc.stdout.splitlines() if "::" in line}
    chosen = [node for t in catalog.names() for g in classroom.groups(t, released) for node in g.tests]
    assert collected and sorted(chosen) == sorted(collected), proc.stdout[-2000:]
    reporter = _steps(workflow)[-1]
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}


def _as_the_runner(step: dict, folder) -> bool:
    """Run the step's setup-command and command as the command grader does (arguments split, no
    shell; the job's PATH, where setup-python put `python`) within its timeout; True when it would
    award the points: exit status 0 and nothing on stderr."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    limit = float(step["with"].get("timeout", 10)) * 60
    for key in ("setup-command", "command"):
        if not step["with"].get(key):
            continue
        try:
            proc = subprocess.run(
                shlex.split(step["with"][key]), cwd=folder, env=env, capture_output=True, text=True, timeout=limit
            )
        except subprocess.TimeoutExpired:
            return False
        if proc.returncode != 0 or (key == "command" and proc.stderr):
            return False
    return True


def test_each_step_passes_on_the_reference_and_fails_on_the_stub(workflow, released, tmp_path):
    solved = tmp_path / "solved"
    shutil.copytree(released, solved)
    for topic in catalog.names():
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        (solved / "exercises" / f"{topic}.py").write_text(stubs.strip_markers(reference), encoding="utf-8")
    graders = [s for s in _steps(workflow) if s.get("uses") == "classroom-resources/autograding-command-grader@v1"]
    runs = [(s, solved) for s in graders] + [(s, released) for s in graders]
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda r: _as_the_runner(*r), runs))
    on_reference, on_stub = verdicts[: len(graders)], verdicts[len(graders) :]
    assert [s["id"] for s, ok in zip(graders, on_reference) if not ok] == []
    assert [s["id"] for s, ok in zip(graders, on_stub) if ok] == []
