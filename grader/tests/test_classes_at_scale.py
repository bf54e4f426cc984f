"""Classes at scale (issue 25, parts 3 and 4): nothing lost when a run dies, and grading in shards.

A generated class (grader/classgen.py: references, stubs and mutants) is graded once without
interruption; that run's grades.csv is what a run killed with SIGKILL and resumed, and a run in 3
shards joined by `merge`, must both give. The class holds one topic, attention: what is tested
here is the bookkeeping around the suites, which does not depend on the topic, and attention is the
topic cheapest to grade sandboxed (5.1 s for its 63 tests on the reference, against 13.5 s for
adam's 37, whose 1000-step trajectories are 7,000 calls into the worker). This file, quiet
machine: 94 s with attention, 169 s with adam.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import classgen, classgrade, cli, paths, resume, shards, stubs

TOPICS = ["attention"]
pytestmark = pytest.mark.timeout(1200)  # a class graded four times over; each test well under it on a quiet machine
STUDENTS = 6


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """(class folder, the uninterrupted run's output folder)."""
    base = tmp_path_factory.mktemp("class")
    manifest = classgen.make_class(base / "class", STUDENTS, seed=1, topics=TOPICS)
    kinds = {k.split(":")[0] for s in manifest["students"].values() for k in s.values()}
    assert kinds == {"reference", "stub", "mutant"}, manifest  # the mixture the tests rely on
    status = classgrade.grade_class(base / "class", base / "single", jobs=2, topics=TOPICS, quiet=True)
    assert status == 0
    return base / "class", base / "single"


def _comparable(out: Path) -> dict:
    """grades.json without the timings, and every feedback file."""
    data = json.loads((out / "grades.json").read_text())
    for student in data["students"]:
        student.pop("seconds")
    return {"grades.json": data, **{p.name: p.read_text() for p in sorted((out / "feedback").iterdir())}}


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def test_a_run_killed_at_a_random_moment_resumes_to_the_same_grades(klass, tmp_path):
    """SIGKILL to the grader and everything it started, at a random moment after at least one
    student's result is written and before the last; `--resume` then grades only the students
    without a result and ends with the uninterrupted run's grades.csv."""
    folder, single = klass
    out, seed = tmp_path / "out", random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    after, delay = rng.randint(1, STUDENTS - 2), rng.uniform(0.0, 1.0)
    env = dict(os.environ, TMPDIR=str(tmp_path))  # what a killed run leaves behind stays in tmp_path
    cmd = [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--jobs", "2", "--topics", *TOPICS]
    proc = subprocess.Popen(cmd, cwd=paths.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kept = lambda: sorted(p for p in (out / resume.FOLDER).glob("*.json") if p.name != resume.RUN_FILE)  # noqa: E731
    start = time.monotonic()
    while len(kept()) < after and proc.poll() is None and time.monotonic() - start < 600:
        time.sleep(0.05)
    time.sleep(delay)
    tree = _descendants(proc.pid)
    for pid in [proc.pid, *tree]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    survivors = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in kept()}
    print(
        f"\nkilled (seed {seed}) {time.monotonic() - start:.1f} s in, {delay:.2f} s after result {after} "
        f"of {STUDENTS}: {len(survivors)} results on disk ({', '.join(sorted(survivors))})"
    )
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill: nothing was tested"
    assert after <= len(survivors) < STUDENTS
    assert not (out / "grades.csv").exists()

    again = subprocess.run([*cmd, "--resume"], cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    line = next(x for x in again.stderr.splitlines() if x.startswith("resuming:"))
    print(line)
    assert line == (
        f"resuming: {len(survivors)} of {STUDENTS} students keep their result; grading {STUDENTS - len(survivors)}"
    )
    for name, (data, mtime) in survivors.items():  # the kept results were not graded again
        path = out / resume.FOLDER / name
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, name
    assert not list((out / resume.FOLDER).glob(".*.tmp"))
    assert (out / "grades.csv").read_bytes() == (single / "grades.csv").read_bytes()
    assert _comparable(out) == _comparable(single)


def test_three_shards_merge_into_the_single_run(klass, tmp_path, capsys):
    folder, single = klass
    outs = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    graded = []
    for i, out in enumerate(outs, start=1):
        assert classgrade.grade_class(folder, out, jobs=1, topics=TOPICS, quiet=True, shard=(i, 3)) == 0
        graded.append(json.loads((out / "grades.json").read_text())["students"])
    names = [s["student"] for part in graded for s in part]
    assert sorted(names) == sorted(set(names)) and len(names) == STUDENTS and all(graded)
    assert cli.main(["merge", *map(str, outs), "--out", str(tmp_path / "merged")]) == 0
    merged = tmp_path / "merged"
    assert (merged / "grades.csv").read_bytes() == (single / "grades.csv").read_bytes()
    assert _comparable(merged) == _comparable(single)

    capsys.readouterr()
    assert cli.main(["merge", str(outs[0]), str(outs[2]), "--out", str(tmp_path / "m2")]) == 2
    assert "Shard(s) 2/3 are missing" in capsys.readouterr().err
    assert cli.main(["merge", str(outs[0]), str(outs[0]), "--out", str(tmp_path / "m3")]) == 2
    assert "are both shard 1/3" in capsys.readouterr().err
    assert cli.main(["merge", str(single), "--out", str(tmp_path / "m4")]) == 2
    assert "it is not a shard's output" in capsys.readouterr().err


def test_shard_slices_cover_the_class_once_and_are_balanced():
    entries = [(f"s{i:02d}", Path(f"/x/{i}")) for i in range(17)]
    for count in (1, 2, 3, 5, 17, 20):
        parts = [shards.select(list(reversed(entries)), (i, count)) for i in range(1, count + 1)]
        flat = sorted(e for p in parts for e in p)
        assert flat == entries
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert parts == [shards.select(entries, (i, count)) for i in range(1, count + 1)]  # order-free
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", ""):
        with pytest.raises(shards.ShardError):
            shards.parse(bad)
    assert shards.parse(" 2 / 5 ") == (2, 5)


def test_a_submission_changed_during_grading_is_graded_from_its_staged_copy(tmp_path, monkeypatch):
    """The student's file is replaced by the stub after staging, while the suites run: the grade is
    the reference's, and --resume's fingerprint still matches what was graded."""
    folder = tmp_path / "class" / "ann"
    folder.mkdir(parents=True)
    versions = classgen.versions(TOPICS[0])
    (folder / f"{TOPICS[0]}.py").write_text(versions["reference"])
    original = classgrade.run_student

    def changing(*args, **kwargs):
        (folder / f"{TOPICS[0]}.py").write_text(versions["stub"])
        return original(*args, **kwargs)

    monkeypatch.setattr(classgrade, "run_student", changing)
    out = tmp_path / "out"
    assert classgrade.grade_class(tmp_path / "class", out, topics=TOPICS, quiet=True) == 0
    result = json.loads((out / resume.FOLDER / "ann.json").read_text())
    assert result["total"]["points"] == result["total"]["max_points"] > 0
    # The folder now holds the stub: a resumed run sees a different submission and grades it again.
    keep, todo = resume.split([("ann", folder)], {"ann": result}, TOPICS, tmp_path / "check")
    assert keep == {} and [s for s, _ in todo] == ["ann"]
    (folder / f"{TOPICS[0]}.py").write_text(versions["reference"])
    keep, todo = resume.split([("ann", folder)], {"ann": result}, TOPICS, tmp_path / "check2")
    assert list(keep) == ["ann"] and todo == []


def test_resume_refuses_results_of_other_settings_and_regrades_grader_failures(tmp_path):
    store = resume.Store(tmp_path, {"topics": TOPICS, "timeout": 20.0, "shard": None})
    assert store.start(resume=False) == {}
    store.save({"student": "bob", "grader_problem": "", "staged_sha256": "x"})
    store.save({"student": "cy", "grader_problem": "the worker never started", "staged_sha256": "x"})
    (tmp_path / resume.FOLDER / ".bob.json.123.tmp").write_text("{half")
    kept = resume.Store(tmp_path, dict(store.settings)).start(resume=True)
    assert set(kept) == {"bob", "cy"} and not list((tmp_path / resume.FOLDER).glob(".*.tmp"))
    assert resume.still_good(kept["bob"], "x") and not resume.still_good(kept["cy"], "x")
    other = resume.Store(tmp_path, {"topics": TOPICS, "timeout": 5.0, "shard": None})
    with pytest.raises(resume.ResumeError, match="timeout: 20.0 then, 5.0 now"):
        other.start(resume=True)
    assert resume.Store(tmp_path, dict(store.settings)).start(resume=False) == {}
    assert not list((tmp_path / resume.FOLDER).glob("bob.json"))


@pytest.mark.parametrize(
    "argv, words",
    [
        (["grade", "{class}", "--out", "{out}", "--shard", "4/3"], "I must be between 1 and N"),
        (["grade", "{class}", "--out", "{out}", "--shard", "two"], "--shard takes I/N"),
        (["grade", "{class}/ann", "--out", "{out}", "--format", "gradescope", "--resume"], "are for class runs"),
        (["merge", "{out}"], "Add --out DIR"),
        (["merge", "--out", "{out}"], "Which shard outputs?"),
        (["classroom-step", "adam", "9"], "has steps 1 to"),
    ],
)
def test_bad_input_gets_one_sentence(argv, words, tmp_path, capsys):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / "adam.py").write_text("x = 1\n")
    argv = [a.replace("{class}", str(tmp_path / "class")).replace("{out}", str(tmp_path / "out")) for a in argv]
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == 2 and words in captured.err + captured.out
    assert "Traceback" not in captured.err + captured.out


def test_progress_off_a_terminal_is_a_line_per_student_with_time_left(capsys, monkeypatch):
    clock = iter([100.0, 110.0, 130.0])  # started at 100; students done at 110 and 130
    monkeypatch.setattr(classgrade.time, "monotonic", lambda: next(clock))
    with classgrade.ClassProgress(4) as progress:
        progress.advance("alice")
        progress.advance("bob")
    lines = capsys.readouterr().err.splitlines()
    # 10 s for one student, 3 left: about 30 s; then 30 s for two, 2 left: about 30 s
    assert lines == [
        "[#######.......................] 1/4 alice, 10 s, about 30 s left",
        "[###############...............] 2/4 bob, 30 s, about 30 s left",
    ]


def test_progress_quiet_prints_nothing(capsys):
    with classgrade.ClassProgress(3, quiet=True) as progress:
        progress.advance("alice")
    assert capsys.readouterr().err == ""


def test_a_test_file_that_cannot_be_imported_costs_only_its_own_tests(tmp_path):
    """rnn's hidden file fails to import (as with an oracle library missing from a grading image):
    its tests are errors and the run says so as a grader problem, while adam's and rnn's public
    tests are still run and scored."""
    trusted = classgrade.trusted_copy(tmp_path / "work")
    broken = trusted / "tests" / "rnn" / "test_hidden.py"
    broken.write_text("import kata_no_such_oracle_library\n" + broken.read_text(encoding="utf-8"), encoding="utf-8")
    staged = tmp_path / "staged"
    staged.mkdir()
    for topic in ("adam", "rnn"):
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        (staged / f"{topic}.py").write_text(stubs.strip_markers(reference), encoding="utf-8")
    records, problem = classgrade.run_student(staged, ["adam", "rnn"], trusted, 20.0, tmp_path / "report.json")
    by = {(r["topic"], r["suite"]): [] for r in records}
    for r in records:
        by[(r["topic"], r["suite"])].append(r["outcome"])
    assert set(by[("adam", "public")]) == {"passed"} and set(by[("adam", "hidden")]) == {"passed"}
    assert set(by[("rnn", "public")]) == {"passed"} and len(by[("rnn", "public")]) > 5
    assert by[("rnn", "hidden")] == ["error"]
    assert "could not run" in problem and "kata_no_such_oracle_library" in problem
