"""`python -m grader check` (grader/selfcheck.py) and its warm runner (grader/warm.py).

The check judges the stubs as committed, never a learner's working files in exercises/; its suite
runs are forked from one warm server, each in a process of its own, killed at a wall-clock limit,
and an interrupt leaves no runs and no temporary folders behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import catalog, paths, selfcheck, stubs, warm

EDIT = "\n\ndef adam_step(*args, **kwargs):  # a learner's work in progress\n    return 42\n"


def _generated(topic: str) -> str:
    reference = paths.SOLUTIONS / f"{topic}.py"
    return stubs.make_stub(reference.read_text(encoding="utf-8"), str(reference))


def _edited_exercises(folder: Path) -> Path:
    """A copy of the stubs with adam.py edited the way a learner edits it."""
    folder.mkdir()
    for topic in catalog.names():
        (folder / f"{topic}.py").write_text(_generated(topic), encoding="utf-8")
    with (folder / "adam.py").open("a", encoding="utf-8") as f:
        f.write(EDIT)
    return folder


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=kata", "-c", "user.email=kata@example.invalid", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project of its own: solutions/ copied, exercises/ holding the stubs, paths pointed at it."""
    root = tmp_path / "project"
    shutil.copytree(paths.SOLUTIONS, root / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "exercises").mkdir()
    for topic in catalog.names():
        (root / "exercises" / f"{topic}.py").write_text(_generated(topic), encoding="utf-8")
    monkeypatch.setattr(paths, "ROOT", root)
    monkeypatch.setattr(paths, "SOLUTIONS", root / "solutions")
    monkeypatch.setattr(paths, "EXERCISES", root / "exercises")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never the repository around tmp
    return root


def test_the_check_judges_this_projects_committed_stubs_not_edited_working_files(tmp_path, monkeypatch):
    """With exercises/ pointed at a learner's edited copy, the check's stub judgement still passes: it
    reads the committed stubs (git HEAD here, or the generated ones outside a checkout), while
    `stubs --check` (the working files) sees the edit."""
    monkeypatch.setattr(paths, "EXERCISES", _edited_exercises(tmp_path / "exercises"))
    where: dict[str, str] = {}
    assert selfcheck.stale_stubs(committed=True, where=where) == []
    assert set(where) == set(catalog.names())
    assert selfcheck.committed_stub("adam")[0] == _generated("adam")
    assert [p.split(":")[0] for p in selfcheck.stale_stubs()] == ["adam"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_committed_stub_comes_from_git_head(project):
    """In a git checkout the judged stub is `git show HEAD:exercises/<topic>.py`: an edited working
    file is not read, and the output says where the stub came from."""
    _git(project, "init", "-q")
    _git(project, "add", "solutions", "exercises")
    _git(project, "commit", "-q", "-m", "stubs")
    with (project / "exercises" / "adam.py").open("a", encoding="utf-8") as f:
        f.write(EDIT)
    text, where = selfcheck.committed_stub("adam")
    assert text == _generated("adam") and where == "git HEAD:exercises/adam.py"
    assert selfcheck.stale_stubs(committed=True) == []
    assert selfcheck.stale_stubs()[0].startswith("adam: exercises/adam.py differs")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_stale_committed_stub_is_a_problem(project):
    """A committed stub that is not what solutions/ generates is reported, even when the working
    file has been fixed since (the check judges what is committed)."""
    (project / "exercises" / "rnn.py").write_text("# an old stub\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "solutions", "exercises")
    _git(project, "commit", "-q", "-m", "stale")
    (project / "exercises" / "rnn.py").write_text(_generated("rnn"), encoding="utf-8")
    problems = selfcheck.stale_stubs(committed=True)
    assert len(problems) == 1 and problems[0].startswith("rnn: exercises/rnn.py as committed (git HEAD")
    assert selfcheck.stale_stubs() == []


def test_outside_git_the_stub_is_generated_from_solutions(project):
    """Without a git checkout the judged stub is the one generated from solutions/, and `where` says
    so; the edited working file is still not read."""
    with (project / "exercises" / "adam.py").open("a", encoding="utf-8") as f:
        f.write(EDIT)
    text, where = selfcheck.committed_stub("adam")
    assert text == _generated("adam") and where.startswith("generated from solutions/adam.py")
    assert selfcheck.stale_stubs(committed=True) == []


def test_slowest_tests_are_the_longest_durations():
    """The slowest-test report sorts the records' durations, longest first, and keeps n."""
    records = [{"nodeid": f"t::{i}", "duration": d} for i, d in enumerate([0.5, 2.0, 0.1, 1.0])]
    assert selfcheck.slowest_tests(records, 2) == [(2.0, "t::1"), (1.0, "t::3")]


SUITE = {
    "test_fresh.py": """
        import os, sys

        def test_nothing_leaks_from_an_earlier_run():
            assert "kata_leak" not in sys.modules and "KATA_LEAK" not in os.environ
            sys.modules["kata_leak"] = sys
            os.environ["KATA_LEAK"] = "1"
    """,
    "test_fails.py": """
        def test_wrong():
            assert 1 == 2, "one is not two"
    """,
    "test_hangs.py": """
        import subprocess, sys, time
        from pathlib import Path

        def test_hang():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            (Path(__file__).parent / "grandchild.pid").write_text(str(child.pid))
            time.sleep(600)
    """,
}


def _suite(folder: Path) -> Path:
    folder.mkdir()
    for name, text in SUITE.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def _args(suite: Path, name: str) -> list[str]:
    return [str(suite / name), f"--rootdir={suite}", "-p", "no:cacheprovider", "-q", "-p", "no:timeout"]


def _gone(pid: int, seconds: float = 10) -> bool:
    """The process has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_warm_runs_are_separate_and_a_hanging_run_is_killed(tmp_path):
    """Runs forked from the warm server (torch imported once) see nothing of each other; results
    and output come back per run; a run past its wall-clock limit is killed with everything in its
    process group and reported with status 124."""
    suite = _suite(tmp_path / "suite")
    out = tmp_path / "out"
    out.mkdir()
    runs = [
        (_args(suite, "test_fresh.py"), False),
        (_args(suite, "test_fresh.py"), False),
        (_args(suite, "test_fails.py"), False),
        (_args(suite, "test_hangs.py"), False),
        (_args(suite, "test_fresh.py"), True),
    ]
    ended = []
    start = time.monotonic()
    results = warm.run_suites(runs, out, workers=2, timeout=15, on_end=lambda i, r: ended.append(i))
    assert time.monotonic() - start < 120
    assert sorted(ended) == list(range(len(runs)))
    statuses = [status for status, _, _ in results]
    assert statuses == [0, 0, 1, warm.TIMED_OUT, 0], [r[1][-600:] for r in results]
    assert "one is not two" in results[2][1]
    assert results[3][1].endswith("(killed: timed out after 15 s)") and results[3][2] >= 15
    assert _gone(int((suite / "grandchild.pid").read_text()))


INTERRUPTED = """
import signal, sys, tempfile
from pathlib import Path
from grader import selfcheck, warm

# A shell that starts a job in the background without job control ignores SIGINT for it, and Python
# keeps an ignored SIGINT: take ^C as a terminal's foreground job does, whoever started this test.
signal.signal(signal.SIGINT, signal.default_int_handler)

with selfcheck.sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="kata-check-") as tmp:
    print(tmp, flush=True)
    warm.run_suites([(sys.argv[1:], False)], Path(tmp), 1, 600, preload=())
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_kills_the_runs_and_removes_temporary_folders(tmp_path, signum):
    """SIGTERM or ^C (SIGINT) while a run is going: the run and what it started are killed, the warm
    server ends, and the check's temporary folder is removed."""
    suite = _suite(tmp_path / "suite")
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, *_args(suite, "test_hangs.py")],
        cwd=paths.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(paths.ROOT)),
    )
    try:
        folder = Path(proc.stdout.readline().strip())
        pid_file = suite / "grandchild.pid"
        deadline = time.monotonic() + 120
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), "the hanging run never started"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert folder.name.startswith("kata-check-") and not folder.exists()
    assert _gone(int(pid_file.read_text()))


def test_harness_runs_hold_every_harness_file_once_the_long_ones_first():
    groups = selfcheck.harness_runs()
    files = [Path(f).name for group in groups for f in group]
    everyone = sorted(p.name for p in (paths.ROOT / "grader" / "tests").glob("test_*.py"))
    assert sorted(files) == everyone and len(files) == len(set(files))
    assert [Path(f).name for f in groups[0]] == ["test_nbgrader_roundtrip.py"]
    assert Path(__file__).name in [Path(f).name for f in groups[-1]]  # an unnamed file goes last


def test_a_passing_harness_run_is_shown_by_its_slowest_tests_and_closing_line():
    output = "\n".join(
        [
            "....",
            "============================= slowest 5 durations ==============================",
            "12.50s call     grader/tests/test_x.py::test_slow",
            "(3 durations < 0.005s hidden.  Use -vv to show these durations.)",
            "4 passed, 1 warning in 13.01s",
        ]
    )
    assert selfcheck._durations_and_summary(output) == (
        "12.50s call     grader/tests/test_x.py::test_slow\n4 passed, 1 warning in 13.01s"
    )
    assert selfcheck._durations_and_summary("") == "(no output)"


def test_a_class_runs_server_preloads_only_the_oracle_libraries_its_topics_import(tmp_path):
    base = [m for m in warm.PRELOAD if m not in warm.ORACLES]
    assert warm.preload_for(["adam"]) == tuple(base)  # adam's suites import none of them
    assert "transformers" in warm.preload_for(["gpt"]) and "peft" not in warm.preload_for(["gpt"])
    assert set(warm.preload_for(catalog.names())) == set(warm.PRELOAD)  # make check's: every one
    # Found inside functions and through another topic's helpers (tests.<topic>.<module>).
    for topic, text in {
        "a": "from tests.b.helpers import oracle\n",
        "b": "def oracle():\n    import sentencepiece\n    return sentencepiece\n",
    }.items():
        (tmp_path / topic).mkdir()
        (tmp_path / topic / "helpers.py").write_text(text)
    assert [m for m in warm.preload_for(["a"], tmp_path) if m in warm.ORACLES] == ["sentencepiece"]
