"""Grading mode against hostile and broken submissions (grader/hostile.py), in one class run.

For each case: it earns no more than its honest functions deserve, the grader survives (no grader
failure, exit status 0), and the honest submissions graded in the same run score exactly what they
score when graded alone. Where bubblewrap works, reading or writing outside the submission and the
network are also proven closed; where it does not, the grader must say so (it warns).
"""

import hashlib
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from grader import classgrade, hostile, loader, paths, sandbox, stubs
from grader.mistakes import apply_patch

TIMEOUT = 1.0  # seconds per call: the honest adam calls take milliseconds (a case that loops pays it per strike)


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
    made = hostile.build(
        tmp_path, paths.ROOT, tmp_path / "neighbour", 9, (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8")
    )
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


def _fingerprint() -> dict[str, str]:
    """Hashes of what a submission that escaped would patch: the grader package and the bwrap binary."""
    files = sorted(p for p in (paths.ROOT / "grader").rglob("*.py"))
    bwrap = sandbox.find_bwrap()
    if bwrap:
        files.append(Path(bwrap))
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _table(title: str, cases, together: dict, capsys) -> list[tuple]:
    rows = []
    for case in cases:
        got = together[case.name]
        rows.append((case.name, case.finding, got["total"]["points"], case.max_points, not got["grader_problem"]))
    with capsys.disabled():
        print(f"\n\n{title}")
        print(f"{'case':20} {'finding':>7} {'points':>7} {'at most':>8}  grader survived")
        for name, finding, points, expected, survived in rows:
            print(f"{name:20} {finding or '-':>7} {points:7g} {expected:8g}  {'yes' if survived else 'NO'}")
    return rows


@pytest.mark.timeout(1800)
def test_hostile_corpus_in_one_class_run(tmp_path, listener, capsys, monkeypatch):
    """The whole corpus, graded twice: with every check (what an instructor runs), then the cases
    that the sandbox and the run-time traps must stop on their own, with the static escape check
    left out. Each case earns at most what its honest functions deserve, the grader survives
    with exit status 0, the honest submissions score exactly what they score alone, and nothing
    the grader runs (its package, the bwrap binary) has changed."""
    port, received = listener
    before = _fingerprint()
    reference = stubs.strip_markers((paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"))
    from tests.adam.mutants import MUTANTS

    mutant = stubs.strip_markers(
        apply_patch((paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"), MUTANTS[0].patch, "adam mutant")
    )
    klass = tmp_path / "class"
    neighbour = _honest(klass / "honest-reference", reference)
    _honest(klass / "honest-mutant", mutant)
    hostile.build(klass, paths.ROOT, neighbour, port, (paths.SOLUTIONS / "adam.py").read_text(encoding="utf-8"))
    escape_files = {c.name: hostile.escapes(c, paths.ROOT, neighbour) for c in hostile.CASES}

    status = classgrade.grade_class(klass, tmp_path / "out", jobs=2, timeout=TIMEOUT, topics=["adam"], quiet=True)
    together = _scores(tmp_path / "out")
    assert status == 0, [s["grader_problem"] for s in together.values() if s["grader_problem"]]
    rows = _table("Hostile corpus, every check (adam topic, one class run, --jobs 2):", hostile.CASES, together, capsys)

    # The cases the sandbox and the run-time traps must stop by themselves.
    alone_cases = [c for c in hostile.CASES if c.layer == "any" and c.parses]
    klass2 = tmp_path / "class-without-escape-check"
    klass2.mkdir()
    for case in alone_cases:
        shutil.copytree(klass / case.name, klass2 / case.name)
    _honest(klass2 / "honest-reference", reference)
    monkeypatch.setenv(loader.SKIP_ESCAPES, "1")
    status2 = classgrade.grade_class(klass2, tmp_path / "out2", jobs=2, timeout=TIMEOUT, topics=["adam"], quiet=True)
    monkeypatch.delenv(loader.SKIP_ESCAPES)
    without = _scores(tmp_path / "out2")
    assert status2 == 0, [s["grader_problem"] for s in without.values() if s["grader_problem"]]
    rows2 = _table(
        "The same cases without the static escape check (sandbox and run-time traps alone):",
        alone_cases,
        without,
        capsys,
    )
    assert without["honest-reference"]["total"]["points"] == 10.0

    isolated = sandbox.bwrap_usable() is not None
    for cases, table in ((hostile.CASES, rows), (alone_cases, rows2)):
        for case, (name, _finding, points, expected, survived) in zip(cases, table):
            assert survived, name
            if case.isolation and not isolated:
                continue  # without bubblewrap nothing stops reading files or the network (and it warns)
            assert points <= expected, f"{name} earned {points}, more than its honest functions deserve ({expected})"
    assert together["prints-megabytes"]["total"]["points"] == 10.0  # printing is not punished
    assert without["prints-megabytes"]["total"]["points"] == 10.0
    assert together["honest-reference"]["total"]["points"] == 10.0
    assert _fingerprint() == before, "a submission changed the grader or the bwrap binary"

    # The honest submissions alone: exactly the same scores, test by test.
    for name in ("honest-reference", "honest-mutant"):
        alone_out = tmp_path / f"alone-{name}"
        assert classgrade.grade_class(klass / name, alone_out, timeout=TIMEOUT, topics=["adam"], quiet=True) == 0
        alone = _scores(alone_out)[name]
        assert alone["total"] == together[name]["total"], name
        assert [t["passed"] for t in alone["topics"][0]["tests"]] == [
            t["passed"] for t in together[name]["topics"][0]["tests"]
        ], name

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


def test_worker_runs_unprivileged(capsys):
    """The worker reports its identity before any submission code runs; whoever runs the grader
    (root included), it is not root and holds no capability, and its seccomp filter is on."""
    worker = sandbox.WorkerProcess(paths.SOLUTIONS)
    try:
        identity = worker.identity
    finally:
        worker.kill()
    with capsys.disabled():
        shown = {k: (hex(v) if k.startswith("Cap") else v) for k, v in identity.items()}
        print(f"\nworker identity (grader uid {os.geteuid()}, bubblewrap {worker.sandboxed}): {shown}")
    assert identity["uid"] != 0 and identity["euid"] != 0
    assert identity["CapEff"] == identity["CapPrm"] == identity["CapAmb"] == 0
    assert identity.get("Seccomp") == 2
    assert sandbox.refusal(identity) is None
    assert sandbox.refusal(dict(identity, uid=0)) == "it still runs as root"
    assert "CapEff" in sandbox.refusal(dict(identity, CapEff=1 << 21))
