"""The command line (grader/cli.py): bad input gets one sentence, the list of topics and exit status 2.

Three tests start `python -m grader` as a child process (what the Makefile runs); the others call
`cli.main` in this process, on inputs that are refused before any suite runs.
"""

import json
import subprocess
import sys

import pytest

from grader import catalog, cli, paths, stubs

TOPICS_SENTENCE = "Topics: " + ", ".join(catalog.names()) + "."


def grader(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=60
    )


def test_unknown_topic_exits_2_with_one_sentence():
    """`python -m grader test nosuchtopic`: exit 2, stderr names the topic and lists the real ones."""
    proc = grader("test", "nosuchtopic")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"There is no topic called 'nosuchtopic'. {TOPICS_SENTENCE}"
    assert "Traceback" not in proc.stderr
    assert all(f" {t}" in proc.stderr for t in ("adam", "backprop", "dola"))


def test_missing_impl_folder_exits_2_with_one_sentence():
    """`python -m grader test adam --impl /nonexistent`: exit 2, one sentence naming the folder."""
    proc = grader("test", "adam", "--impl", "/nonexistent/kata-folder")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'/nonexistent/kata-folder' does not exist" in lines[0]
    assert lines[0].endswith(TOPICS_SENTENCE)


def test_grade_of_empty_folder_reports_every_topic_missing(tmp_path):
    """`python -m grader grade --impl EMPTY --json`: exit 0, every catalog topic is missing, 0 points."""
    proc = grader("grade", "--impl", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [row["topic"] for row in report["topics"]] == catalog.names()
    assert {row["status"] for row in report["topics"]} == {"missing"}
    assert report["total"]["points"] == 0
    assert report["total"]["max_points"] == sum(t.points for t in catalog.TOPICS)


def run_main(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_topic_file_missing_in_impl_folder(capsys, tmp_path):
    """`test adam --impl DIR` where DIR has no adam.py: exit 2 and a sentence naming adam.py."""
    status, out, err = run_main(capsys, "test", "adam", "--impl", str(tmp_path))
    assert status == 2
    assert "does not exist: there is no adam.py in" in err
    assert err.strip().endswith(TOPICS_SENTENCE)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["hint"], "Which topic?"),
        (["hint", "adam", "--n", "0"], "n counts hints from 1"),
        (["hint", "nosuchtopic"], "There is no topic called 'nosuchtopic'"),
        (["diff"], "Which topic?"),
        (["diff", "nosuchtopic"], "There is no topic called 'nosuchtopic'"),
    ],
    ids=["hint-no-topic", "hint-n-zero", "hint-unknown", "diff-no-topic", "diff-unknown"],
)
def test_bad_input_in_process(capsys, argv, words):
    """Other refused inputs: exit 2, the sentence on stderr, nothing on stdout."""
    status, out, err = run_main(capsys, *argv)
    assert status == 2
    assert words in err
    assert err.strip().endswith(TOPICS_SENTENCE)
    assert out == ""


def test_diff_of_a_finished_file_says_same(capsys, tmp_path, monkeypatch):
    """`diff adam --impl DIR --yes` with the reference's code (markers stripped): says it is the same."""
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")  # the reveal is recorded there, not in .kata/
    source = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    (tmp_path / "adam.py").write_text(stubs.strip_markers(source), encoding="utf-8")
    status, out, err = run_main(capsys, "diff", "adam", "--impl", str(tmp_path), "--yes")
    assert status == 0
    assert "is the same as the reference" in out


def test_diff_of_the_stub_shows_the_missing_code(capsys, tmp_path, monkeypatch):
    """`diff adam --yes` on the stub shows the stub's raise removed and the solution's lines added."""
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")  # the reveal is recorded there, not in .kata/
    monkeypatch.setattr(paths, "EXERCISES", tmp_path)
    (tmp_path / "adam.py").write_text(stubs.make_stub((paths.SOLUTIONS / "adam.py").read_text(), "adam"))
    status, out, err = run_main(capsys, "diff", "adam", "--yes")
    assert status == 0
    assert "-        raise NotImplementedError" in out or "-    raise NotImplementedError" in out
    assert "+    beta1, beta2 = betas" in out


def test_stubs_check_is_clean(capsys, tmp_path, monkeypatch):
    """`stubs --check` reports nothing and exits 0 when exercises/ matches solutions/ (here a copy
    of the committed stubs: a learner's working files may differ)."""
    from grader.selfcheck import committed_stub

    for topic in catalog.names():
        (tmp_path / f"{topic}.py").write_text(committed_stub(topic)[0], encoding="utf-8")
    monkeypatch.setattr(paths, "EXERCISES", tmp_path)
    status, out, err = run_main(capsys, "stubs", "--check")
    assert (status, out) == (0, "")


def test_topics_lists_the_catalog(capsys):
    """`topics` prints one line per catalog topic, in order."""
    status, out, err = run_main(capsys, "topics")
    assert status == 0
    assert [line.split()[1] for line in out.splitlines()] == catalog.names()


def test_bench_times_the_learners_file_by_default(tmp_path, monkeypatch):
    """`make bench topic=T` times exercises/T.py, as `make test` does (issue 24), with or without
    solutions/; impl= chooses another folder; a bench that is not a topic's (watch) chooses itself."""
    seen = []
    monkeypatch.setattr(cli, "_script", lambda kind, folder, args, extra: seen.append(extra) or 0)
    args = type("Args", (), {"topic": "bpe", "pytest_args": ["--slow-chars", "0"]})()
    assert cli.cmd_bench(args) == 0
    assert seen[-1] == ["--impl", "exercises", "--slow-chars", "0"]
    monkeypatch.setattr(paths, "SOLUTIONS", tmp_path / "no-solutions")
    cli.cmd_bench(args)
    assert seen[-1] == ["--impl", "exercises", "--slow-chars", "0"]
    args.pytest_args = ["--impl", "mine"]
    cli.cmd_bench(args)
    assert seen[-1] == ["--impl", "mine"]
    args.topic, args.pytest_args = "watch", ["--runs", "3"]
    cli.cmd_bench(args)
    assert seen[-1] == ["--runs", "3"]
