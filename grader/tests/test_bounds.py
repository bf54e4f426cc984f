"""Bounds on what comes back from a worker, and hidden inputs kept out of visible feedback.

Unit tests of grader/wire.py's limits (bytes, values, depth, deadline, string length), of the
proxy's cuts and per-phase sessions, of the order in which classgrade runs the suites; then the
cases of grader/hostile_bounds.py graded in class runs next to an honest reference.
"""

import json
import struct
import time
from pathlib import Path

import pytest

from grader import classgrade, hostile_bounds, loader, paths, proxy, stubs, wire

TIMEOUT = 3.0  # seconds per call, as grader/tests/test_hostile.py
# The cases use os, sys and dunders, which the static escape check refuses before anything runs:
# the class runs leave it out (as test_hostile.py's second run does), so the bounds are what stops them.
SKIP_ESCAPES = getattr(loader, "SKIP_ESCAPES", "KATA_TEST_SKIP_ESCAPE_CHECK")


def _empty_dicts(count: int) -> bytes:
    return b"l" + struct.pack("<I", count) + b"d\x00\x00\x00\x00" * count


# -- wire.loads -------------------------------------------------------------------------------------


def test_loads_refuses_a_message_over_the_byte_limit():
    blob = wire.dumps(b"x" * 1000)
    assert wire.loads(blob, max_bytes=len(blob)) == b"x" * 1000
    with pytest.raises(wire.WireError, match="bytes"):
        wire.loads(blob, max_bytes=len(blob) - 1)
    assert wire.MAX_REPLY <= 64 << 20 < wire.MAX_MESSAGE


def test_loads_counts_every_value_against_the_item_limit():
    blob = wire.dumps([[None, 1], {"k": 2.0}])  # 1 list + 1 list + 2 + 1 dict + key + value = 7
    assert wire.loads(blob, max_items=7) == [[None, 1], {"k": 2.0}]
    with pytest.raises(wire.WireError, match="more than 6 values"):
        wire.loads(blob, max_items=6)
    started = time.monotonic()
    with pytest.raises(wire.WireError, match="values"):  # the default: a million empty dicts and one
        wire.loads(_empty_dicts(wire.MAX_ITEMS))
    assert time.monotonic() - started < 5


def test_loads_refuses_data_nested_deeper_than_the_limit():
    def nested(levels):
        value = []
        for _ in range(levels):
            value = [value]
        return value

    assert wire.loads(wire.dumps(nested(wire.MAX_DEPTH))) == nested(wire.MAX_DEPTH)
    with pytest.raises(wire.WireError, match="nested"):
        wire.loads(wire.dumps(nested(wire.MAX_DEPTH + 1)))


def test_loads_stops_at_the_deadline():
    blob = _empty_dicts(3 * wire.CHECK_EVERY)
    assert len(wire.loads(blob, time.monotonic() + 60)) == 3 * wire.CHECK_EVERY
    with pytest.raises(wire.WireError, match="time limit"):
        wire.loads(blob, time.monotonic() - 1)


def test_loads_cuts_long_strings():
    assert wire.loads(wire.dumps(["é" * 50, "short"]), max_string=10) == ["é" * 10, "short"]
    long = "y" * (wire.MAX_STRING + 5)
    assert wire.loads(wire.dumps({"message": long}))["message"] == long[: wire.MAX_STRING]


def test_the_worker_reads_requests_without_the_reply_bounds():
    """Requests come from the tests: a long string or many values must arrive whole."""
    import io

    value = ["z" * (wire.MAX_STRING + 1), list(range(10))]
    stream = io.BytesIO()
    wire.send(stream, value)
    stream.seek(0)
    assert wire.recv(stream) == value


# -- proxy ------------------------------------------------------------------------------------------


def test_proxy_cuts_every_string_of_an_error(tmp_path):
    impl = proxy.ProxyImpl("adam", tmp_path)
    error = {
        "kind": "exception",
        "type": "ValueError" + "V" * 10_000,
        "typename": "T" * 10_000,
        "message": "m" * 1_000_000,
        "function": "f" * 8_000_000,
        "line": "9" * 10_000,
        "source": "s" * 100_000,
        "file": "p" * 100_000,
    }
    with pytest.raises(proxy.RemoteLearnerError) as caught:
        impl._raise(error, "adam_step")
    info = caught.value.info
    for field in ("typename", "message", "function", "source", "file", "type"):
        assert len(info[field]) <= proxy.CUT[field] + 40, field
    assert info["line"] == 0
    with pytest.raises(BaseException) as caught:
        impl._raise({"kind": "load", "message": "x" * 1_000_000}, "importing adam.py")
    assert len(str(caught.value)) < 3000


class _FakeProcess:
    def __init__(self):
        self.killed = False

    def kill(self):
        self.killed = True


def test_hidden_tests_get_their_own_session_and_close_the_public_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(proxy, "_sessions", {})
    public = proxy.session(tmp_path, TIMEOUT, "public")
    assert proxy.session(tmp_path, TIMEOUT) is public
    public.process, public.strikes = _FakeProcess(), {"adam": 1}
    worker = public.process
    hidden = proxy.session(tmp_path, TIMEOUT, "hidden")
    assert hidden is not public and worker.killed and public.process is None
    assert hidden.strikes == {"adam": 1}  # what the public tests cost carries over ...
    hidden.strikes["adam"] = 2
    assert public.strikes == {"adam": 1}  # ... and nothing flows back
    hidden.process = _FakeProcess()
    proxy._close_others(public)  # a public worker starting again stops the hidden one first
    assert hidden.process is None
    with pytest.raises(ValueError):
        proxy.session(tmp_path, TIMEOUT, "secret")


def test_public_suites_run_before_hidden_ones_under_a_memory_limit(tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"], seen["preexec_fn"] = cmd, kwargs.get("preexec_fn")
        raise classgrade.subprocess.TimeoutExpired(cmd, 1)

    monkeypatch.setattr(classgrade.subprocess, "run", fake_run)
    trusted = tmp_path / "trusted"
    for topic in ("adam", "rnn"):
        (trusted / "tests" / topic).mkdir(parents=True)
        for name in ("test_public.py", "test_hidden.py"):
            (trusted / "tests" / topic / name).write_text("")
    classgrade.run_student(tmp_path, ["adam", "rnn"], trusted, TIMEOUT, tmp_path / "report.json")
    files = [Path(a) for a in seen["cmd"] if a.endswith(".py")]
    assert [(f.parent.name, f.name) for f in files] == [
        ("adam", "test_public.py"),
        ("rnn", "test_public.py"),
        ("adam", "test_hidden.py"),
        ("rnn", "test_hidden.py"),
    ]
    assert seen["preexec_fn"] is classgrade._trusted_limits


# -- class runs -------------------------------------------------------------------------------------


def _student(out: Path, name: str) -> dict:
    return {s["student"]: s for s in json.loads((out / "grades.json").read_text())["students"]}[name]


def _public_messages(student: dict) -> str:
    return "\n".join(t["message"] for row in student["topics"] for t in row["tests"] if t["suite"] == "public")


def _hidden_messages(student: dict) -> str:
    return "\n".join(t["message"] for row in student["topics"] for t in row["tests"] if t["suite"] == "hidden")


@pytest.mark.timeout(1200)
def test_bounds_corpus_in_one_class_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(SKIP_ESCAPES, "1")
    solution = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    klass = tmp_path / "class"
    (klass / "honest-reference").mkdir(parents=True)
    (klass / "honest-reference" / "adam.py").write_text(stubs.strip_markers(solution), encoding="utf-8")
    hostile_bounds.build(klass, solution)
    out = tmp_path / "out"
    started = time.monotonic()
    status = classgrade.grade_class(klass, out, jobs=1, timeout=TIMEOUT, topics=["adam"], quiet=True)
    elapsed = time.monotonic() - started
    grades = json.loads((out / "grades.json").read_text())
    assert status == 0, [s["grader_problem"] for s in grades["students"] if s["grader_problem"]]

    rows = []
    for case in hostile_bounds.CASES:
        got = _student(out, case.name)
        size = (out / "feedback" / f"{case.name}.md").stat().st_size
        rows.append((case.name, got["total"]["points"], case.max_points, got["seconds"], size))
    with capsys.disabled():
        print(f"\n\nBounds corpus (adam topic, one class run, --jobs 1, {elapsed:.0f} s in all):")
        print(f"{'case':14} {'points':>7} {'at most':>8} {'seconds':>8} {'feedback bytes':>15}")
        for name, points, most, seconds, size in rows:
            print(f"{name:14} {points:7g} {most:8g} {seconds:8.1f} {size:15,d}")
        print(f"grades.json: {(out / 'grades.json').stat().st_size:,d} bytes")
    for name, points, most, _, _ in rows:
        assert points <= most, f"{name} earned {points}, more than {most}"
    assert _student(out, "honest-reference")["total"]["points"] == 10.0
    assert (out / "grades.json").stat().st_size < 2 << 20
    for feedback in (out / "feedback").iterdir():
        text = feedback.read_text(encoding="utf-8")
        assert len(text.encode()) < 200 << 10, feedback.name
        for value in hostile_bounds.HIDDEN_ONLY:
            assert value not in text, (feedback.name, value)
    for name in ("reply-bomb", "item-bomb"):
        assert "does not read" in _public_messages(_student(out, name)), name
    # The recorder did see the hidden inputs (the instructor's grades.json keeps hidden messages):
    # their absence from the feedback is not for want of trying.
    assert any(v in _hidden_messages(_student(out, "hidden-leak")) for v in hostile_bounds.HIDDEN_ONLY)


@pytest.mark.timeout(600)
def test_hidden_inputs_do_not_reach_the_next_topics_public_messages(tmp_path, monkeypatch):
    """hidden-leak with its second topic: rnn.py raises what adam.py recorded, in one worker."""
    monkeypatch.setenv(SKIP_ESCAPES, "1")
    solution = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    made = hostile_bounds.build(tmp_path / "class", solution)["hidden-leak"]
    out = tmp_path / "out"
    assert classgrade.grade_class(made, out, timeout=TIMEOUT, topics=["adam", "rnn"], quiet=True) == 0
    student = _student(out, "hidden-leak")
    public = _public_messages(student)
    assert "adam saw: " in public and "adam_step(" in public  # the leak channel works ...
    for value in hostile_bounds.HIDDEN_ONLY:  # ... and carries nothing from a hidden test
        assert value not in public, value
    text = (out / "feedback" / "hidden-leak.md").read_text(encoding="utf-8")
    assert not any(v in text for v in hostile_bounds.HIDDEN_ONLY)


@pytest.mark.timeout(600)
def test_a_public_test_after_a_hidden_one_gets_a_worker_that_saw_no_hidden_input(tmp_path, monkeypatch):
    """Without classgrade's order (hidden suite first), the proxy alone keeps hidden inputs out."""
    monkeypatch.setenv(SKIP_ESCAPES, "1")
    import os
    import subprocess
    import sys

    from grader import runner

    solution = (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    made = hostile_bounds.build(tmp_path / "class", solution)["hidden-leak"]
    trusted = classgrade.trusted_copy(tmp_path)
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(trusted / "tests/adam/test_hidden.py"),
        str(trusted / "tests/adam/test_public.py"),
        "--noconftest",
        "-p",
        "grader.pytest_plugin",
        f"--impl={made}",
        "--kata-sandbox",
        f"--kata-timeout={TIMEOUT}",
        f"--kata-report={report}",
        f"--rootdir={trusted}",
        *runner.QUIET_PLUGINS,
        "-q",
    ]
    env = dict(os.environ, PYTHONPATH=f"{trusted}{os.pathsep}{paths.ROOT}", PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(cmd, cwd=trusted, env=env, capture_output=True, timeout=500)
    records = json.loads(report.read_text())
    order = [r["suite"] for r in records]
    assert order.index("public") > order.index("hidden") and "hidden" not in order[order.index("public") :]
    public = "\n".join(r["message"] for r in records if r["suite"] == "public")
    hidden = "\n".join(r["message"] for r in records if r["suite"] == "hidden")
    assert "recorded:" in public and any(v in hidden for v in hostile_bounds.HIDDEN_ONLY)
    for value in hostile_bounds.HIDDEN_ONLY:
        assert value not in public, value
