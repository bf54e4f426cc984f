"""GitHub Classroom: the autograding workflow a class release carries (`make release out=DIR classroom=1`).

`workflow()` writes `.github/workflows/classroom.yml` in GitHub Classroom's current format: on push
(and Classroom's repository_dispatch), one job on ubuntu-latest that checks the repository out,
installs Python 3.11, the CPU build of torch (the default Linux wheel downloads gigabytes of CUDA
libraries) and requirements.txt, then runs one `classroom-resources/autograding-command-grader@v1`
step per group of a topic's public tests, and last `classroom-resources/autograding-grading-reporter@v1`
with every step's result.

Partial credit: the command grader awards a step's `max-score` when its command exits 0 and writes
nothing to stderr, else 0, so a topic is split into up to MAX_STEPS steps (its public test
functions, in file order, in groups of about equal weight: `@pytest.mark.points(n)` or 1 each);
the steps' integer `max-score`s add up to the topic's points in the catalog. Each step runs
`python -m grader classroom-step TOPIC K`, which runs group K's tests on exercises/TOPIC.py in
learner mode, with its stderr sent to stdout (the action fails a step that writes to stderr).

Classroom runs the public tests only, in the student's own repository: the student can read and
change everything there, so its score is feedback, not a grade. Grade with the hidden tests, in the
sandbox, with `python -m grader grade` on the students' repositories (docs/grading.md).
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import catalog, paths, runner

MAX_STEPS = 2  # steps per topic: each costs the runner (and the test) one Python start with torch
TIMEOUT_MINUTES = 10  # per step; the action's default
WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
TORCH_CPU = "python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Group:
    topic: str
    index: int  # from 1
    count: int
    tests: tuple[str, ...]  # node ids relative to the project root: tests/T/test_public.py::name
    points: int

    @property
    def step_id(self) -> str:
        return f"{self.topic}-{self.index}"

    @property
    def command(self) -> str:
        return f"python -m grader classroom-step {self.topic} {self.index}"

    @property
    def test_name(self) -> str:
        names = ", ".join(t.rsplit("::", 1)[-1] for t in self.tests)
        names = names if len(names) <= 120 else names[:117] + "..."
        return f"{self.topic} {self.index}/{self.count}: {names}"


def _points(node: ast.FunctionDef) -> float:
    for dec in node.decorator_list:
        if (
            isinstance(dec, ast.Call)
            and isinstance(dec.func, ast.Attribute)
            and dec.func.attr == "points"
            and dec.args
            and isinstance(dec.args[0], ast.Constant)
            and isinstance(dec.args[0].value, (int, float))
        ):
            return float(dec.args[0].value)
    return 1.0


def public_tests(topic: str, root: Path = paths.ROOT) -> list[tuple[str, float]]:
    """(node id, weight) of each test function of the topic's public suite, in file order: top-level
    `test_*` functions and `test_*` methods of `Test*` classes (parametrized cases belong to their function)."""
    rel = f"tests/{topic}/{runner.SUITES['public'][0]}"
    tree = ast.parse((root / rel).read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.append((f"{rel}::{node.name}", _points(node)))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("test"):
                    found.append((f"{rel}::{node.name}::{sub.name}", _points(sub)))
    return found


def groups(topic: str, root: Path = paths.ROOT) -> list[Group]:
    """The topic's steps: its public test functions cut, in order, into up to MAX_STEPS groups of
    about equal weight, with integer points (largest remainders) adding up to the topic's points,
    at least 1 each."""
    tests = public_tests(topic, root)
    points = catalog.get(topic).points
    count = max(1, min(MAX_STEPS, len(tests), points))
    total = sum(w for _, w in tests) or 1.0
    members: list[list[str]] = [[] for _ in range(count)]
    weights = [0.0] * count
    before = 0.0
    for node, weight in tests:
        k = min(count - 1, int((before + weight / 2) * count / total))
        members[k].append(node)
        weights[k] += weight
        before += weight
    kept = [(m, w) for m, w in zip(members, weights) if m]
    count = len(kept)
    shares = [points * w / total for _, w in kept]
    given = [max(1, int(s)) for s in shares]
    while sum(given) > points:  # only when a share under 1 was raised to 1
        k = max((i for i in range(count) if given[i] > 1), key=lambda i: given[i] - shares[i])
        given[k] -= 1
    for k in sorted(range(count), key=lambda i: shares[i] - given[i], reverse=True)[: points - sum(given)]:
        given[k] += 1
    return [Group(topic, i + 1, count, tuple(m), given[i]) for i, (m, _) in enumerate(kept)]


def _q(text: str) -> str:
    """A YAML scalar: a JSON string is a valid YAML double-quoted string."""
    return json.dumps(text)


def workflow(root: Path = paths.ROOT) -> str:
    """The text of .github/workflows/classroom.yml for every topic of the catalog in `root`."""
    steps = [g for topic in catalog.names() if (root / "tests" / topic).is_dir() for g in groups(topic, root)]
    lines = [
        "# GitHub Classroom autograding, written by `python -m grader release OUT --classroom`",
        "# (grader/classroom.py). Public tests only: the hidden grading runs elsewhere (docs/grading.md).",
        "name: Autograding Tests",
        '"on":',
        "  - push",
        "  - repository_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - name: Checkout code",
        "        uses: actions/checkout@v4",
        "      - name: Python 3.11",
        "        uses: actions/setup-python@v5",
        "        with:",
        '          python-version: "3.11"',
        "      - name: The CPU build of torch, then the pinned requirements",
        "        run: |",
        f"          {TORCH_CPU}",
        "          python -m pip install -r requirements.txt",
    ]
    for g in steps:
        lines += [
            f"      - name: {_q(f'{g.topic} {g.index}/{g.count} ({len(g.tests)} tests, {g.points} points)')}",
            f"        id: {g.step_id}",
            f"        uses: {COMMAND_GRADER}",
            "        with:",
            f"          test-name: {_q(g.test_name)}",
            '          setup-command: ""',
            f"          command: {_q(g.command)}",
            f"          timeout: {TIMEOUT_MINUTES}",
            f"          max-score: {g.points}",
        ]
    lines += [
        "      - name: Autograding Reporter",
        f"        uses: {REPORTER}",
        "        env:",
        *(f"          {g.step_id.upper()}_RESULTS: {_q('${{steps.' + g.step_id + '.outputs.result}}')}" for g in steps),
        "        with:",
        f"          runners: {','.join(g.step_id for g in steps)}",
    ]
    return "\n".join(lines) + "\n"


def write(out: Path) -> Path:
    """Write the workflow into the release at `out`; returns its path."""
    path = out / WORKFLOW
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(workflow(out), encoding="utf-8")
    return path


def run_step(topic: str, index: int) -> int:
    """`python -m grader classroom-step TOPIC K`: group K's public tests on exercises/TOPIC.py, with
    every line on stdout. Exit 0 only when each of them passes."""
    import pytest

    found = {g.index: g for g in groups(topic)}
    if index not in found:
        print(f"{topic} has steps 1 to {len(found)} in the Classroom workflow, not {index}.")
        return 2
    sys.stdout.flush()
    os.dup2(1, 2)  # the command grader fails any step that writes to stderr, warnings included
    sys.stderr = sys.stdout
    impl = paths.EXERCISES
    args = [*found[index].tests, f"--impl={impl}", f"--rootdir={paths.ROOT}", *runner.QUIET_PLUGINS, "-q"]
    old = os.getcwd()
    os.chdir(paths.ROOT)
    try:
        status = int(pytest.main(args))
    finally:
        os.chdir(old)
    return 0 if status == 0 else 1
