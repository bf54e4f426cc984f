"""Grading mode against hostile and broken submissions (grader/hostile.py), in one class run.

For each case: it earns no more than its honest functions deserve, the grader survives (no grader
failure, exit status 0), and the honest submissions graded in the same run score exactly what they
score when graded alone. Where bubblewrap works, reading or writing outside the submission and the
network are also proven closed; where it does not, the grader must say so (it warns).
"""

import json
import socket
import threading
from pathlib import Path

import pytest

from grader import classgrade, hostile, paths, sandbox, stubs
from grader.mistakes import apply_patch

TIMEOUT = 3.0  # seconds per call: the honest adam calls take milliseconds


@pytest.fixture(scope="module")
def listener():
    """A local TCP server that records whatever reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    received.append(conn.recv(100))
                except OSError:
                    received.append(b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def test_every_hostile_case_is_valid_python_except_the_syntax_error(tmp_path):
    """A case that does not parse would only test the syntax-error path: the corpus must be real."""
    made = hostile.build(tmp_path, paths.ROOT, tmp_path / "neighbour", 9,
                         (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"))
    for case in hostile.CASES:
        source = (made[case.name] / "adam.py").read_text(encoding="utf-8")
        try:
            compile(source, case.name, "exec")
            parses = True
        except SyntaxError:
            parses = False
        assert parses == case.parses, case.name


def _honest(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "adam.py").write_text(source, encoding="utf-8")
    return folder


def _scores(out: Path) -> dict:
    data = json.loads((out / "grades.json").read_text())
    return {s["student"]: s for s in data["students"]}


@pytest.mark.timeout(1800)
def test_hostile_corpus_in_one_class_run(tmp_path, listener, capsys):
    port, received = listener
    reference = stubs.strip_markers((paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"))
    from tests.adam.mutants import MUTANTS
    mutant = stubs.strip_markers(apply_patch((paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"),
                                             MUTANTS[0].patch, "adam mutant"))
    klass = tmp_path / "class"
    neighbour = _honest(klass / "honest-reference", reference)
    _honest(klass / "honest-mutant", mutant)
    hostile.build(klass, paths.ROOT, neighbour, port, (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"))
    escape_files = {c.name: hostile.escapes(c, paths.ROOT, neighbour) for c in hostile.CASES}

    status = classgrade.grade_class(klass, tmp_path / "out", jobs=2, timeout=TIMEOUT, topics=["adam"],
                                    quiet=True)
    together = _scores(tmp_path / "out")
    assert status == 0, [s["grader_problem"] for s in together.values() if s["grader_problem"]]

    rows = []
    for case in hostile.CASES:
        got = together[case.name]
        rows.append((case.name, got["total"]["points"], case.max_points, not got["grader_problem"]))
    with capsys.disabled():
        print("\n\nHostile corpus (adam topic, one class run, --jobs 2):")
        print(f"{'case':20} {'points':>7} {'expected':>9}  grader survived")
        for name, points, expected, survived in rows:
            print(f"{name:20} {points:7g} {expected:9g}  {'yes' if survived else 'NO'}")
    isolated = sandbox.bwrap_usable() is not None
    for case, (name, points, expected, survived) in zip(hostile.CASES, rows):
        assert survived, name
        if case.isolation and not isolated:
            continue  # without bubblewrap nothing stops reading files or the network (and it warns)
        assert points <= expected, f"{name} earned {points}, more than its honest functions deserve ({expected})"
    assert together["prints-megabytes"]["total"]["points"] == 10.0  # printing is not punished
    assert together["honest-reference"]["total"]["points"] == 10.0

    # The honest submissions alone: exactly the same scores, test by test.
    for name in ("honest-reference", "honest-mutant"):
        alone_out = tmp_path / f"alone-{name}"
        assert classgrade.grade_class(klass / name, alone_out, timeout=TIMEOUT, topics=["adam"], quiet=True) == 0
        alone = _scores(alone_out)[name]
        assert alone["total"] == together[name]["total"], name
        assert [t["passed"] for t in alone["topics"][0]["tests"]] == \
               [t["passed"] for t in together[name]["topics"][0]["tests"]], name

    if sandbox.bwrap_usable():
        for name, files in escape_files.items():
            for path in files:
                assert not path.exists(), f"{name} wrote {path}"
        assert received == [], "a submission reached the network"
    else:  # no filesystem or network isolation without bubblewrap: the grader must have said so
        with capsys.disabled():
            print("bubblewrap is not usable here: file and network isolation were not checked")
        for files in escape_files.values():
            for path in files:
                path.unlink(missing_ok=True)
