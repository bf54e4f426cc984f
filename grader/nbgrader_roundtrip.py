"""The nbgrader round trip that `make check` proves (grader/tests/test_nbgrader_roundtrip.py).

    python -m grader.nbgrader_roundtrip [--keep DIR]    runs it and prints the tables and timings

1. `write_course`: the course of every topic; nbgrader's generate_assignment for each (nbgrader's own
   converters, grader/nbgrader_driver.py).
2. Students in `submitted/`, for every topic: `reference` (the source notebook, solutions in it),
   `release` (nbgrader's release notebook, untouched) and `mistake` (the release with each solution
   cell filled from the topic's first known mistake, grader's mutants, that changes only solution
   code). For the first topic only, the attack cases of `attacks()`: the three nbgrader exploits of
   FACTS.md, a deleted test cell, a cell that redefines the test helper, and a notebook that is not
   JSON.
3. nbgrader's autograde of each topic for its students, then `nbgrader export` (the command line).
4. `python -m grader grade COURSE --out DIR --jobs 2` on the same `submitted/` tree (the notebooks'
   solution cells, graded sandboxed), and the same on plain `.py` folders of the honest code of
   each attack case (what the attack's solution cells deserve).

Returns the scores of both and the timings; the test compares them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from grader import catalog, mistakes, nbgrader_course, paths, stubs

HONEST = ("reference", "release", "mistake")


def _code_cells(notebook: dict) -> dict[str, str]:
    return {
        c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
        for c in notebook["cells"]
        if c["cell_type"] == "code" and "nbgrader" in c.get("metadata", {})
    }


def _with_solutions(release: dict, bodies: dict[str, str]) -> dict:
    """The release notebook with solution cells replaced by `bodies` ({grade_id: code})."""
    cells = []
    for cell in release["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in bodies:
            cell = {**cell, "source": bodies[gid].splitlines(keepends=True)}
        cells.append(cell)
    return {**release, "cells": cells}


def mistake_bodies(topic: str) -> tuple[str, dict[str, str]] | None:
    """(mutant id, {solution grade_id: the mutant's code}) for the topic's first mutant whose change
    lies in solution cells only (every solution cell: the reference with that one mistake), or None."""
    import importlib

    reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    _, _, original = nbgrader_course.docstring_and_segments(reference)
    try:
        module = importlib.import_module(f"tests.{topic}.mutants")
    except ImportError:
        return None
    for mutant in module.MUTANTS:
        try:
            source = mistakes.apply_patch(reference, mutant.patch, mutant.id)
            _, _, changed = nbgrader_course.docstring_and_segments(source)
        except (mistakes.PatchError, SyntaxError, stubs.MarkerError):
            continue
        if len(changed) != len(original):
            continue
        if any(a.code != b.code for a, b in zip(original, changed) if a.kind == "given"):
            continue
        if all(a.code == b.code for a, b in zip(original, changed)):
            continue
        bodies = {  # the whole reference, with the mistake
            nbgrader_course.solution_id(topic, b.name): stubs.strip_markers(b.code)
            for b in changed
            if b.kind == "solution"
        }
        return mutant.id, bodies
    return None


TRANSFORMER = """
try:  # exploit: rewrite every later test cell into `pass`
    get_ipython().input_transformers_post.append(
        lambda lines: ["pass\\n"] if any("check(" in l for l in lines) else lines
    )
except NameError:
    pass
"""

PATCH_COMPARISONS = """
import torch as _torch  # exploit: every later comparison in this process passes (FACTS.md: pytest in-process)
import grader.checks as _checks
_torch.allclose = lambda *a, **k: True
_torch.testing.assert_close = lambda *a, **k: None
_checks.is_close = lambda *a, **k: True
_checks.check_tensor = lambda *a, **k: None
"""

READ_SOURCE = """
import json as _json, pathlib as _pathlib  # exploit: run the instructor's solutions, read from disk
for _folder in [_pathlib.Path.cwd(), *_pathlib.Path.cwd().parents]:
    _found = _folder / "source" / {topic!r} / {name!r}
    if _found.is_file():
        for _cell in _json.loads(_found.read_text())["cells"]:
            if _cell["metadata"].get("nbgrader", {{}}).get("solution"):
                exec("".join(_cell["source"]), globals())
        break
"""

ALWAYS_EQUAL = """

class _Anything(float):  # exploit: a value equal to everything
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__
"""

REDEFINE_HELPER = """import grader.notebook_tests as _tests  # a cell of the student's: every test cell now passes
_tests.check = lambda *args, **kwargs: None
"""


def attacks(topic: str, release: dict, mistake: dict[str, str]) -> dict[str, tuple[bytes, str]]:
    """{case: (notebook bytes, the honest code's student: whose score its solution cells deserve)}."""
    solution_ids = [
        gid for gid, _ in _code_cells(release).items() if gid.startswith(f"{topic}-") and "given" not in gid
    ]
    solution_ids = [g for g in solution_ids if g != f"{topic}-setup"]
    stub = _code_cells(release)
    first = solution_ids[0]

    def dump(notebook: dict) -> bytes:
        return json.dumps(notebook).encode()

    def with_extra(code: str, where: str = first) -> dict:
        return _with_solutions(release, {where: stub[where].rstrip("\n") + "\n" + code})

    cases = {
        "input-transformer": (dump(with_extra(TRANSFORMER)), "release"),
        "patched-comparisons": (dump(with_extra(PATCH_COMPARISONS)), "release"),
    }
    read = READ_SOURCE.format(topic=topic, name=f"{topic}.ipynb")
    everywhere = {g: stub[g].rstrip("\n") + "\n" + read for g in solution_ids}  # each stub cell undone
    cases["reads-source-notebook"] = (dump(_with_solutions(release, everywhere)), "release")
    always = {
        gid: ALWAYS_EQUAL + "\n" + stub[gid].replace("raise NotImplementedError", "return _Anything()")
        for gid in solution_ids
    }
    cases["always-equal"] = (dump(_with_solutions(release, always)), "release")
    mistaken = _with_solutions(release, mistake)
    kept = [c for c in mistaken["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    cases["deleted-test-cells"] = (dump({**mistaken, "cells": kept}), "mistake")
    helper = {"cell_type": "code", "id": "mine", "metadata": {}, "execution_count": None, "outputs": []}
    helper["source"] = REDEFINE_HELPER.splitlines(keepends=True)
    cells = list(release["cells"])
    cells.insert(2, helper)  # after the set-up cell, before any test cell
    cases["redefined-test-helper"] = (dump({**release, "cells": cells}), "release")
    cases["not-json"] = (b'{"cells": [{"cell_type": "code", "source": "def adam', "release")
    return cases


def _nbgrader_env() -> dict:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` by name
    return dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONDONTWRITEBYTECODE="1")


def _driver(course: Path, step: str, names: list[str], log: list[dict]) -> None:
    cmd = [sys.executable, "-m", "grader.nbgrader_driver", str(course), step, *names]
    proc = subprocess.run(cmd, cwd=paths.ROOT, env=_nbgrader_env(), capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            log.append(json.loads(line))
    if proc.returncode != 0 and step == "generate":
        raise RuntimeError(f"nbgrader {step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _grade(submissions: Path, out: Path, jobs: int) -> dict:
    cmd = [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out), "--jobs", str(jobs)]
    proc = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True)
    if not (out / "grades.json").is_file():
        raise RuntimeError(f"grading {submissions} wrote no grades:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    graded = json.loads((out / "grades.json").read_text())
    return {
        "status": proc.returncode,
        "output": proc.stdout + proc.stderr,
        "students": {s["student"]: s for s in graded["students"]},
    }


def run(workdir: Path, topics: list[str] | None = None, jobs: int = 2) -> dict:
    """The whole round trip in `workdir` (see the module's docstring)."""
    topics = topics or [t for t in catalog.names() if nbgrader_course.test_groups([t])[t]]
    timings: dict[str, float] = {}
    course = workdir / "course"
    start = time.monotonic()
    nbgrader_course.write_course(course, topics)
    timings["write course"] = time.monotonic() - start
    log: list[dict] = []
    start = time.monotonic()
    _driver(course, "generate", topics, log)
    timings["generate_assignment"] = time.monotonic() - start
    releases, sources, mutants = {}, {}, {}
    students: dict[str, list[str]] = {}
    for topic in topics:
        release = json.loads((course / "release" / topic / f"{topic}.ipynb").read_text())
        source = json.loads((course / "source" / topic / f"{topic}.ipynb").read_text())
        releases[topic], sources[topic] = release, source
        found = mistake_bodies(topic)
        mutants[topic] = found[0] if found else None
        notebooks = {"reference": source, "release": release}
        if found:
            notebooks["mistake"] = _with_solutions(release, found[1])
        for student, notebook in notebooks.items():
            folder = course / "submitted" / student / topic
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{topic}.ipynb").write_text(json.dumps(notebook))
            students.setdefault(topic, []).append(student)
    attack_topic = next((t for t in ("adam", *topics) if t in topics and mutants[t]), None)
    attack_cases = {}
    if attack_topic is not None:
        attack_cases = attacks(attack_topic, releases[attack_topic], mistake_bodies(attack_topic)[1])
        for case, (data, _) in attack_cases.items():
            folder = course / "submitted" / case / attack_topic
            folder.mkdir(parents=True)
            (folder / f"{attack_topic}.ipynb").write_bytes(data)
            students[attack_topic].append(case)
    start = time.monotonic()
    _driver(course, "autograde", [f"{t}:{s}" for t in topics for s in students[t]], log)
    timings["autograde"] = time.monotonic() - start
    start = time.monotonic()
    export = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", "--to", str(workdir / "nbgrader.csv")],
        cwd=course,
        env=_nbgrader_env(),
        capture_output=True,
        text=True,
    )
    timings["export"] = time.monotonic() - start
    if export.returncode != 0:
        raise RuntimeError(f"nbgrader export failed:\n{export.stdout[-3000:]}\n{export.stderr[-3000:]}")
    nbgrader_scores: dict[tuple[str, str], float] = {}
    with open(workdir / "nbgrader.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            nbgrader_scores[(row["student_id"], row["assignment"])] = float(row["score"])
    start = time.monotonic()
    ours = _grade(course, workdir / "grades", jobs)
    timings["our grading"] = time.monotonic() - start
    return {
        "topics": topics,
        "course": course,
        "students": students,
        "mutants": mutants,
        "attack_topic": attack_topic,
        "attacks": {case: honest for case, (_, honest) in attack_cases.items()},
        "nbgrader": nbgrader_scores,
        "ours": ours,
        "log": log,
        "timings": timings,
        "releases": releases,
        "sources": sources,
    }


def our_score(result: dict, student: str, topic: str) -> float | None:
    graded = result["ours"]["students"].get(student)
    if graded is None:
        return None
    return next(r["points"] for r in graded["topics"] if r["topic"] == topic)


def tables(result: dict) -> str:
    lines = ["Round trip: student, topic, nbgrader's score (autograde, export), ours (python -m grader grade)"]
    lines.append(f"{'student':24} {'topic':12} {'nbgrader':>9} {'ours':>7}")
    for topic in result["topics"]:
        for student in (s for s in result["students"][topic] if s in HONEST):
            nb = result["nbgrader"].get((student, topic))
            shown = f"{nb:.2f}" if nb is not None else "error"
            lines.append(f"{student:24} {topic:12} {shown:>9} {our_score(result, student, topic):>7.2f}")
    topic = result["attack_topic"]
    lines.append(f"\nAttacks on {topic}: case, nbgrader's own autograde score, ours, what the honest cells deserve")
    for case, honest in result["attacks"].items():
        nb = result["nbgrader"].get((case, topic))
        shown = f"{nb:.2f}" if nb is not None else "error"
        deserved = our_score(result, honest, topic)
        lines.append(f"{case:24} {shown:>9} {our_score(result, case, topic):>7.2f} {deserved:>7.2f} ({honest})")
    t = result["timings"]
    notebooks = sum(len(v) for v in result["students"].values())
    per = [e["seconds"] for e in result["log"] if e["step"] == "autograde"]
    lines.append(
        f"\nTimings: course {t['write course']:.1f} s; generate_assignment {t['generate_assignment']:.1f} s "
        f"({len(result['topics'])} topics); nbgrader autograde {t['autograde']:.1f} s for {notebooks} notebooks "
        f"({sum(per) / max(1, len(per)):.1f} s per notebook); export {t['export']:.1f} s; our sandboxed grading of "
        f"the same notebooks (--jobs 2) {t['our grading']:.1f} s ({t['our grading'] / max(1, notebooks):.1f} s per "
        f"notebook, ratio {t['autograde'] / max(t['our grading'], 1e-9):.2f} for nbgrader/ours)"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import tempfile

    from grader import instructor_env

    instructor_env.ensure("the nbgrader round trip")
    keep = Path(argv[argv.index("--keep") + 1]) if "--keep" in argv else None
    with tempfile.TemporaryDirectory(prefix="kata-roundtrip-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(tables(run(workdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
