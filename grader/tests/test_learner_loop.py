"""The learner's loop (issue 24): watch, compact reports, progress and next steps, reset and reveal.

Every test points .kata/ (paths.STATE) at tmp_path, so the learner's own progress is never touched.
One test starts `python -m grader watch` as a child process (what `make watch` runs) and drives it by
writing its file; one runs the watch's fork on every topic's reference.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from grader import catalog, feedback, hints, learner, learner_loop, paths, progress, stubs, watch


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setattr(paths, "STATE", folder)
    return folder


def reference(topic: str) -> str:
    return stubs.strip_markers((paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8"))


def stub(topic: str) -> str:
    return stubs.make_stub((paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8"), topic)


# ---------------------------------------------------------------------------------------------------
# The compact report


def test_cap_output_keeps_head_and_tail_and_counts_the_rest():
    """2,009 printed lines (the learner's debug print) become 15 + 10 lines and one saying 1,984 were left out."""
    text = "\n".join(f"line {i}" for i in range(2009))
    capped = feedback.cap_output(text).splitlines()
    assert len(capped) == feedback.HEAD_LINES + feedback.TAIL_LINES + 1
    assert capped[0] == "line 0" and capped[-1] == "line 2008"
    assert capped[feedback.HEAD_LINES] == f"... ({2009 - 25} lines of output left out) ..."
    one_line = feedback.cap_output("x" * 10_000)
    assert one_line.startswith("x" * feedback.MAX_LINE) and "(9700 more characters)" in one_line
    assert feedback.cap_output("a\nb") == "a\nb"


def _record(name, outcome="failed", message="", points=1.0):
    return {"name": name, "topic": "adam", "outcome": outcome, "message": message, "points": points}


def test_identical_sentences_are_shown_once_with_their_count():
    """14 tests failing with one sentence: one FAIL line naming the first and 13 more, the message once."""
    sentence = "exercises/adam.py has a syntax error at line 3: invalid syntax."
    records = [_record(f"test_{i}", message=f"Checks: case {i}\n{sentence}") for i in range(14)]
    records.append(_record("test_other", message="Checks: other\nadam_step returned the wrong shape"))
    records.append(_record("test_ok", outcome="passed"))
    row = {"topic": "adam", "status": "in progress", "passed": 1, "total": 16, "points": 0.6, "max_points": 10}
    lines = [text for _, text in feedback.topic_report(row, records)]
    assert lines[0] == "FAIL test_0 (and 13 more tests with the same failure)"
    assert sum(sentence in line for line in lines) == 1
    assert lines[-2] == "FAIL test_other: adam_step returned the wrong shape"  # the others: one line each
    assert lines[-1] == "adam: 1/16 tests, 0.6/10 points"


def test_syntax_error_is_one_sentence_and_no_hint(tmp_path, capsys):
    """`make test` on a file that does not parse: the sentence once, no test list, no hint suggested."""
    (tmp_path / "adam.py").write_text(reference("adam") + "\ndef broken(:\n", encoding="utf-8")
    status = learner_loop.test(["adam"], tmp_path, "public", [])
    out = capsys.readouterr().out
    assert status == 1
    assert out.count("has a syntax error at line") == 1
    assert "FAIL" not in out and "hint" not in out
    assert "does not load, so no test could run" in out


def test_interrupted_test_run_says_so_and_exits_130(tmp_path, capsys, monkeypatch):
    """pytest reports an interrupt as status 2; `make test` must then not print a summary of what ran."""
    (tmp_path / "adam.py").write_text(reference("adam"), encoding="utf-8")
    monkeypatch.setattr(watch, "run_inprocess", lambda *a, **k: (2, [_record("test_0", outcome="passed")]))
    assert learner_loop.test(["adam"], tmp_path, "public", []) == 130
    out, err = capsys.readouterr()
    assert "Interrupted" in err and "pass" not in out


def test_after_a_timeout_the_topics_other_tests_fail_at_once(tmp_path, monkeypatch):
    """An endless loop: the first test uses its CPU limit (0.3 s here), every other test fails at once
    with the same sentence; and a test's captured output is capped."""
    from grader import pytest_plugin

    monkeypatch.setattr(pytest_plugin, "CPU_SECONDS", 0.3)
    source = reference("adam").replace("def adam_step(", "def _real_step(", 1)
    source += "\n\ndef adam_step(*args, **kwargs):\n    for i in range(2009):\n        print('debug', i)\n"
    source += "    while True:\n        pass\n"
    (tmp_path / "adam.py").write_text(source, encoding="utf-8")
    _, records = watch.run_inprocess("adam", tmp_path, "public")
    failed = [r for r in records if r["outcome"] == "failed"]
    timed_out = [r for r in failed if "did not finish in time" in r["message"] and "Not run" not in r["message"]]
    not_run = [r for r in failed if "Not run: an earlier test timed out" in r["message"]]
    assert len(timed_out) == 1 and len(not_run) == len(failed) - 1 >= 5
    assert "lines of output left out" in timed_out[0]["output"]
    assert len(timed_out[0]["output"].splitlines()) <= feedback.HEAD_LINES + feedback.TAIL_LINES + 1


def test_a_print_in_an_endless_loop_stops_at_the_output_limit(tmp_path, monkeypatch):
    """A print inside an endless loop stops once the test's captured output reaches OUTPUT_LIMIT (1 MiB
    here), with a sentence that says so, rather than filling the disk until the time limit; the limit
    on file size is lifted again after the test (the next file written here is larger)."""
    import resource

    from grader import pytest_plugin

    monkeypatch.setattr(pytest_plugin, "OUTPUT_LIMIT", 2**20)
    source = reference("adam").replace("def adam_step(", "def _real_step(", 1)
    source += "\n\ndef adam_step(*args, **kwargs):\n    while True:\n        print('x' * 1000)\n"
    (tmp_path / "adam.py").write_text(source, encoding="utf-8")
    _, records = watch.run_inprocess("adam", tmp_path, "public", ["-k", "test_first_step_by_hand"])
    assert [r["outcome"] for r in records] == ["failed"]
    assert "adam_step printed more than 1 MiB in one test, and was stopped" in records[0]["message"]
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
    (tmp_path / "big").write_bytes(b"0" * (2 * 2**20))


# ---------------------------------------------------------------------------------------------------
# Progress and next steps


def _row(topic, status, points=0.0):
    info = catalog.get(topic)
    return {"topic": topic, "status": status, "passed": 0, "total": 1, "points": points, "max_points": info.points}


def test_progress_keeps_the_best_result(state):
    progress.record([_row("adam", "in progress", 6.0)], "public")
    progress.record([_row("adam", "in progress", 2.0)], "public")
    assert progress.load()["adam"]["best"]["points"] == 6.0
    progress.record([_row("adam", "done", 10.0)], "all")
    best = progress.load()["adam"]["best"]
    assert (best["status"], best["suite"]) == ("done", "all") and best["reached"]
    assert json.loads((state / "progress.json").read_text())["adam"]["best"]["status"] == "done"
    now = _row("adam", "in progress", 4.0)  # `make grade` shows the best next to a worse result
    assert learner_loop._note(now, {}, {}, progress.load()) == f"best: done, 10 points ({best['reached']})"
    assert learner_loop._note(_row("adam", "done", 10.0), {}, {}, progress.load()).startswith("done since ")


def test_recommend_waits_for_prerequisites():
    """Lowest order not done whose prerequisites are done; a topic waiting on an undone one is passed over."""
    waiting = next(t for t in catalog.ordered() if t.prerequisites)
    others = {t.name: "done" for t in catalog.ordered() if t.name != waiting.name}
    assert progress.recommend({}, others) == waiting.name
    blocked = dict(others, **{waiting.prerequisites[0]: "in progress"})
    assert progress.recommend({}, blocked) == waiting.prerequisites[0]
    assert progress.recommend({}, {t: "done" for t in catalog.names()}) is None
    first = catalog.ordered()[0].name
    assert progress.recommend({}, {}) == first


def test_next_names_topic_stub_and_first_hint():
    text = learner.next_step({})
    first = catalog.ordered()[0].name
    assert text.startswith(f"Next: {first} ")
    assert f"exercises/{first}.py" in text
    listed = hints.load(first)
    if listed:
        assert listed[0][0] in text


def test_grade_keeps_the_denominator_and_names_a_syntax_error(tmp_path, monkeypatch, capsys):
    """`make grade`: a missing file still counts its topic's tests (collected, not run), so the total's
    denominator is the same as with the file present; a file that does not parse says so."""
    (tmp_path / "adam.py").write_text("def adam_step(:\n", encoding="utf-8")
    monkeypatch.setattr(paths, "EXERCISES", tmp_path)  # the learner's folder: progress and notes apply
    assert learner_loop.grade(tmp_path, "public", True) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["topic"]: row for row in report["topics"]}
    assert rows["adam"]["total"] == len(learner_loop.count_tests(["adam"], "public")["adam"]) > 0  # as if missing
    assert all(row["total"] > 0 for row in rows.values())
    assert report["total"]["total"] == sum(row["total"] for row in rows.values())
    assert {row["status"] for name, row in rows.items() if name != "adam"} == {"missing"}
    assert rows["adam"]["note"] == "syntax error" and rows["adam"]["status"] == "does not load"
    assert rows["adam"]["points"] == 0
    assert report["next"] == catalog.ordered()[0].name


# ---------------------------------------------------------------------------------------------------
# Reset and reveal


def test_reset_backs_up_then_restores_the_stub(tmp_path, state):
    mine = "def adam_step():\n    return 'my work'\n"
    (tmp_path / "adam.py").write_text(mine, encoding="utf-8")
    target, backup = learner.reset("adam", tmp_path)
    assert target.read_text(encoding="utf-8") == stub("adam")
    assert backup.read_text(encoding="utf-8") == mine and backup.is_relative_to(state / "backups")
    assert learner.reset("adam", tmp_path) == (target, None)  # the stub already: nothing to back up


def test_solution_asks_first_and_is_recorded(state):
    with pytest.raises(learner.Refused, match="yes=1"):  # pytest's stdin is not a terminal
        learner.show_solution("adam", yes=False)
    assert progress.notes() == {}
    assert learner.show_solution("adam", yes=True) == reference("adam")
    assert progress.notes() == {"adam": "solution viewed"}


def test_hint_shows_only_the_new_one_and_resets(state):
    listed = hints.load("adam")
    assert len(listed) >= 2
    first, second = learner.new_hint("adam"), learner.new_hint("adam")
    assert first.startswith(listed[0][0]) and listed[1][0] not in first
    assert second.startswith(listed[1][0]) and listed[0][0] not in second
    hints.remember("adam", 0)
    assert learner.new_hint("adam").startswith(listed[0][0])


# ---------------------------------------------------------------------------------------------------
# Watch


def test_watch_fork_runs_every_topic_green_on_its_reference(tmp_path, monkeypatch):
    """The watch's run (a fork of this process) on every topic's reference: every public test passes."""
    from grader import guard

    # Earlier harness tests (test_guard.py) install traps for every learner file (topic None) in this
    # process; a real watch process has only the topics' own traps, which is what the forks must see.
    monkeypatch.setattr(guard, "_forbidden_by", {k: v - {None} for k, v in guard._forbidden_by.items()})
    watch.preload(catalog.names())
    for topic in catalog.names():
        (tmp_path / f"{topic}.py").write_text(reference(topic), encoding="utf-8")
        outcome = watch.run_once(topic, tmp_path)
        assert outcome.problem is None, (topic, outcome.problem)
        assert outcome.records and all(r["outcome"] == "passed" for r in outcome.records), topic


def _read_until(lines, words: str, limit: float = 120) -> str:
    """What the watch printed (from the reader thread's queue) up to the line containing `words`."""
    import queue

    seen = ""
    end = time.monotonic() + limit
    while words not in seen:
        try:
            line = lines.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {words!r} in the watch's output within {limit} s: {seen}") from None
        assert line is not None, f"the watch ended: {seen}"
        seen += line
    return seen


def test_watch_reports_each_save_and_stops_cleanly(tmp_path):
    """`python -m grader watch adam`: a report at start, one per save (a half-written file gets one
    sentence), green names the next topic, Ctrl-C exits 0."""
    target = tmp_path / "adam.py"
    target.write_text(stub("adam"), encoding="utf-8")
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "watch", "adam", "--impl", str(tmp_path)],
        cwd=paths.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    import queue
    import threading

    lines = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, proc.stdout), lines.put(None)], daemon=True).start()
    try:
        first = _read_until(lines, "points")
        assert "adam: 0/" in first and "is not written yet" in first
        target.write_text(stub("adam") + "\ndef half(:\n", encoding="utf-8")
        broken = _read_until(lines, "waiting for the next save")
        assert "has a syntax error" in broken and "Traceback" not in broken and "FAIL" not in broken
        target.write_text(reference("adam"), encoding="utf-8")
        green = _read_until(lines, "is green")
        assert re.search(r"adam: (\d+)/\1 tests, 10/10 points", green)
        assert "Next: " in green
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        rest = _read_until(lines, "Stopped watching.", limit=10)
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------------
# Demos' pictures


@pytest.mark.parametrize(
    "topic, argv, pictures",
    [
        ("attention", [], ["attention_map", "attention_causal_map"]),
        ("dola", ["--tokens", "4"], ["dola_jsd"]),
        ("rnn", ["--steps", "6"], ["rnn_loss"]),
    ],
)
def test_demo_writes_its_pictures_and_refuses_a_stub(topic, argv, pictures, tmp_path, monkeypatch, capsys):
    """On the reference each demo writes its PNGs (out/ redirected to tmp_path) and prints their paths;
    on the stub it says, in one sentence, that the file is not finished."""
    import importlib

    monkeypatch.syspath_prepend(str(paths.ROOT / "demos"))
    plot = importlib.import_module("_plot")
    monkeypatch.setattr(plot, "OUT", tmp_path / "out")
    demo = importlib.import_module(f"demos.{topic}")
    assert demo.main(["--impl", "solutions", *argv]) == 0
    out = capsys.readouterr().out
    for name in pictures:
        png = tmp_path / "out" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"picture: {png}" in out
    (tmp_path / f"{topic}.py").write_text(stub(topic), encoding="utf-8")
    assert demo.main(["--impl", str(tmp_path), *argv]) == 1
    said = capsys.readouterr()
    assert "not" in (said.out + said.err) and "Traceback" not in said.out + said.err
