"""Grading mode's parts: the wire format, staging submissions, reports, Gradescope, the sandbox."""

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch

from grader import classgrade, gradescope, paths, sandbox, wire
from grader.proxy import Foreign, RemoteLearnerError, remote_error

# -- wire --------------------------------------------------------------------------------------------


def test_wire_round_trip_keeps_values_types_and_dtypes():
    value = {
        "a": [1, -(2**70), 2.5, 1 + 2j, "é", b"\x00", None, True],
        "t": (
            torch.arange(6.0).reshape(2, 3).T,
            torch.zeros(0, 4, dtype=torch.int64),
            torch.ones(2, dtype=torch.bfloat16),
            torch.tensor([True, False]),
        ),
        "d": torch.float16,
        3: "int key",
    }
    back = wire.loads(wire.dumps(value))
    assert back["a"] == value["a"] and back["d"] is torch.float16 and back[3] == "int key"
    for x, y in zip(back["t"], value["t"]):
        assert type(x) is torch.Tensor and x.dtype == y.dtype and torch.equal(x, y)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"Z",
        b"X\x05\x00\x00\x00float",
        b"l\x05\x00\x00\x00N",
        b"N trailing",
        b"X\x07\x00\x00\x00float32\x01\x00\x00\x00" + b"\x02" + b"\x00" * 7 + b"\x04" + b"\x00" * 7 + b"abcd",
    ],
)
def test_wire_rejects_malformed_messages(blob):
    """Truncated, unknown or inconsistent bytes are a WireError, never another exception."""
    with pytest.raises(wire.WireError):
        wire.loads(blob)


def test_wire_refuses_objects_that_are_not_data():
    class Sneaky:
        pass

    class Sub(torch.Tensor):
        pass

    for bad in (Sneaky(), [Sneaky()], {"k": Sneaky()}, torch.zeros(2).as_subclass(Sub), {1.5: 3}, {(1, 2.5): 3}):
        with pytest.raises(wire.WireError):
            wire.dumps(bad)
        with pytest.raises(wire.WireError):
            wire.check_data(bad)


def test_remote_errors_keep_their_builtin_type():
    exc = remote_error({"type": "ValueError", "message": "vocab_size must be >= 256"})
    assert isinstance(exc, ValueError) and isinstance(exc, RemoteLearnerError)
    assert isinstance(remote_error({"type": "os", "message": "x"}), Exception)
    assert "ndarray" in repr(Foreign("numpy.ndarray"))


# -- staging -----------------------------------------------------------------------------------------


def test_discover_folders_zips_and_a_single_submission(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / "adam.py").write_text("x = 1\n")
    with zipfile.ZipFile(tmp_path / "class" / "bo b.zip", "w") as z:
        z.writestr("bob/exercises/adam.py", "x = 2\n")
    (tmp_path / "class" / "notes.txt").write_text("ignored")
    assert [n for n, _ in classgrade.discover(tmp_path / "class", ["adam"])] == ["ann", "bo_b"]
    assert [n for n, _ in classgrade.discover(tmp_path / "class" / "ann", ["adam"])] == ["ann"]
    with pytest.raises(classgrade.GradeError):
        classgrade.discover(tmp_path / "nowhere", ["adam"])
    with pytest.raises(classgrade.GradeError):
        classgrade.discover(tmp_path / "class" / "notes.txt", ["adam"])


def test_stage_copies_topic_files_only_and_never_follows_links(tmp_path):
    sub = tmp_path / "sub"
    (sub / "exercises").mkdir(parents=True)
    (sub / "exercises" / "adam.py").write_text("x = 1\n")
    (sub / "conftest.py").write_text("raise SystemExit\n")
    (sub / "bpe.py").symlink_to(paths.SOLUTIONS / "adam.py")
    (sub / "rnn.py").write_bytes(b"#" * (classgrade.MAX_FILE + 1))
    notes = classgrade.stage(sub, tmp_path / "staged", ["adam", "bpe", "rnn"])
    assert sorted(p.name for p in (tmp_path / "staged").iterdir()) == ["adam.py"]
    assert "link" in notes["bpe"] and "larger" in notes["rnn"]


def test_stage_reads_zips_member_by_member(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("../../evil/adam.py", "x = 0\n")
        z.writestr("me/adam.py", "x = 1\n")
        z.writestr("me/conftest.py", "boom\n")
    classgrade.stage(tmp_path / "s.zip", tmp_path / "staged", ["adam"])
    assert (tmp_path / "staged" / "adam.py").read_text() == "x = 1\n"
    assert not (tmp_path / "evil").exists()
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert "cannot be read" in classgrade.stage(tmp_path / "bad.zip", tmp_path / "staged2", ["adam"])["adam"]


# -- reports -----------------------------------------------------------------------------------------

RESULT = {
    "student": "ann",
    "seconds": 1.5,
    "grader_problem": "",
    "total": {"points": 7.5, "max_points": 10, "passed": 3, "total": 4, "done": 0, "topics": 1},
    "topics": [
        {
            "topic": "adam",
            "points": 7.5,
            "max_points": 10,
            "status": "in progress",
            "passed": 3,
            "total": 4,
            "tests": [
                {"name": "test_a", "suite": "public", "points": 1.0, "max": 1.0, "passed": True, "message": ""},
                {
                    "name": "test_b",
                    "suite": "public",
                    "points": 0.0,
                    "max": 1.0,
                    "passed": False,
                    "message": "new_m is wrong: expected 0.1",
                },
                {
                    "name": "test_h",
                    "suite": "hidden",
                    "points": 0.0,
                    "max": 1.0,
                    "passed": False,
                    "message": "SECRET expected value 0.123",
                },
                {"name": "test_i", "suite": "hidden", "points": 1.0, "max": 1.0, "passed": True, "message": ""},
            ],
        }
    ],
}


def test_feedback_hides_hidden_test_details():
    text = classgrade.feedback(RESULT)
    assert "test_h" in text and "SECRET" not in text and "new_m is wrong" in text


def test_gradescope_results_follow_the_schema():
    data = classgrade.gradescope_results(RESULT)
    assert data["score"] == 7.5 and len(data["tests"]) == 4
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "visibility", "output"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published")
    hidden = [t for t in data["tests"] if t["visibility"] == "after_published"]
    assert len(hidden) == 2 and all(t["output"] == "" for t in hidden)
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(10)


def test_gradescope_bundle_has_executable_scripts_and_no_solutions(tmp_path):
    names = gradescope.build(tmp_path / "autograder.zip")
    assert names[:0] == [] and "setup.sh" in names and "run_autograder" in names
    assert not any(n.startswith("exercises/") for n in names)
    # Of the references, only those a hidden suite reads (they never enter the worker's sandbox).
    # (test_gradescope_run.py proves they are the ones needed: the references grade in full there).
    shipped = {n.split("/")[1][:-3] for n in names if n.startswith("solutions/")}
    assert all("solutions" in (paths.TESTS / t / "test_hidden.py").read_text().lower() for t in shipped)
    assert "tests/adam/test_hidden.py" in names
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        for script in ("setup.sh", "run_autograder"):
            mode = z.getinfo(script).external_attr >> 16
            assert mode & 0o111, script
            (tmp_path / script).write_bytes(z.read(script))
            assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0


# -- the sandbox -------------------------------------------------------------------------------------


def test_seccomp_filter_refuses_processes_but_not_threads(tmp_path):
    program = sandbox.seccomp_program()
    if program is None:
        pytest.fail("this machine's architecture has no seccomp filter in grader/sandbox.py")
    script = (
        "import os, threading\nt = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "try:\n    os.fork(); print('forked')\nexcept OSError:\n    print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, preexec_fn=sandbox._limits(program, 20)
    )
    assert out.stdout.strip() == "refused", out


@pytest.mark.timeout(600)
def test_run_autograder_writes_results_json(tmp_path):
    """The bundle's run_autograder, pointed at this project, grades a submission into results.json."""
    sub = tmp_path / "submission"
    sub.mkdir()
    from grader.selfcheck import committed_stub  # the stub as committed, not a learner's working copy

    (sub / "adam.py").write_text(committed_stub("adam")[0])
    script = tmp_path / "run_autograder"
    script.write_text(gradescope.RUN_AUTOGRADER)
    env = dict(
        os.environ,
        KATA_GS_SOURCE=str(paths.ROOT),
        KATA_GS_SUBMISSION=str(sub),
        KATA_GS_RESULTS=str(tmp_path / "results"),
    )
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    # run_autograder calls .venv/bin/python inside the source folder: this project's own venv.
    proc = subprocess.run(
        [
            "bash",
            str(script),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert proc.returncode == 0
    assert data["score"] == 0 and data["tests"], data.get("output")
    assert all(t["status"] == "failed" for t in data["tests"] if t["name"].startswith("adam"))


def test_a_worker_that_cannot_start_is_the_graders_failure(tmp_path, monkeypatch):
    """No 'ready' from the worker (here: its Python cannot be found) is SandboxBroken, which the
    plugin records as a grader error, before any submission code could have run."""
    sandbox._python_folders()  # cached with the real interpreter
    monkeypatch.setattr(sandbox.sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(sandbox.SandboxBroken, match="did not start"):
        sandbox.WorkerProcess(tmp_path)


def test_private_tmp_is_mounted_before_the_environment(tmp_path):
    """A project or virtual environment under /tmp stays visible in the sandbox: the private /tmp
    is mounted first, the read-only binds after it."""
    cmd = sandbox.bwrap_command("bwrap", tmp_path, ["3", "4"], None)
    assert cmd.index("--tmpfs") < cmd.index("--ro-bind")


_SCALARS = """
class Value:
    def __init__(self, data):
        self.data = float(data)

    def __add__(self, other):
        return Value(self.data + (other.data if isinstance(other, Value) else other))

    def __mul__(self, other):
        return Value(self.data * (other.data if isinstance(other, Value) else other))

    def __radd__(self, other):
        return self + other

    def __neg__(self):
        return self * -1

    def __pow__(self, k):
        return Value(self.data**k)


class Rows:
    def __init__(self, data):
        self.data = data
        self.shape = data.shape

    def __getitem__(self, index):
        return Rows(self.data[index])

    def __matmul__(self, other):
        return Rows(self.data @ other.data)

    def __call__(self, scale):
        return Rows(self.data * scale)


def draw(n, generator=None):
    import torch

    return torch.rand(n, generator=generator)
"""


def test_operators_on_learner_objects_are_computed_in_the_worker(monkeypatch):
    """Grading mode forwards arithmetic on learner objects (micrograd's Value, the autograd topic's
    Tensor) to the worker with Python's own rules: both operand orders, unary minus, powers, @,
    indexing with slices, Ellipsis and index tensors, calling the object; an operator the class
    lacks (here __rmul__) raises the learner's TypeError, as it would in learner mode."""
    from grader.proxy import ProxyImpl

    monkeypatch.setenv("KATA_TEST_SKIP_ESCAPE_CHECK", "1")  # a class file under the adam topic's name
    with tempfile.TemporaryDirectory() as tmp:  # readable by the worker's unprivileged user
        folder = Path(tmp)
        folder.chmod(0o755)
        (folder / "adam.py").write_text(_SCALARS)
        (folder / "adam.py").chmod(0o644)
        impl = ProxyImpl("adam", folder, timeout=20)
        try:
            a = impl.Value(2.0)
            assert (a * 3 + 1).data == 7.0
            assert (2 + a).data == 4.0 and (-a).data == -2.0 and (a**3).data == 8.0
            assert (a + a * a).data == 6.0
            with pytest.raises(TypeError, match="unsupported operand"):
                2 * a
            m = impl.Rows(torch.arange(12.0).reshape(3, 4))
            assert m.shape == (3, 4)  # torch.Size comes back as a tuple
            assert torch.equal(m[1:3].data, torch.arange(4.0, 12.0).reshape(2, 4))
            assert torch.equal(m[..., 0].data, torch.tensor([0.0, 4.0, 8.0]))
            assert torch.equal(m[torch.tensor([2, 2])].data, torch.arange(8.0, 12.0).repeat(2, 1))
            assert (m @ impl.Rows(torch.ones(4, 1))).shape == (3, 1)
            assert torch.equal(m(2.0).data, torch.arange(12.0).reshape(3, 4) * 2)
            # A test's torch.Generator goes to the worker by its state and comes back advanced.
            mine, theirs = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
            assert torch.equal(impl.draw(4, generator=mine), torch.rand(4, generator=theirs))
            assert torch.equal(mine.get_state(), theirs.get_state())
        finally:
            impl._session.close()


_ALIASING = """
def same(x):
    return x


def pair(x, values):
    return values[1], x + 0
"""


def test_a_returned_argument_is_the_tests_own_tensor_in_grading_mode(monkeypatch):
    """A function that returns a tensor argument itself (not a new tensor) gives the test that very
    tensor back in grading mode too, so that kit.call_checking_inputs names the aliasing there as it
    does in learner mode; a new tensor stays new."""
    from grader.proxy import ProxyImpl

    monkeypatch.setenv("KATA_TEST_SKIP_ESCAPE_CHECK", "1")
    with tempfile.TemporaryDirectory() as tmp:  # readable by the worker's unprivileged user
        folder = Path(tmp)
        folder.chmod(0o755)
        (folder / "adam.py").write_text(_ALIASING)
        (folder / "adam.py").chmod(0o644)
        impl = ProxyImpl("adam", folder, timeout=20)
        try:
            x, values = torch.arange(3.0), [torch.ones(2), torch.zeros(2)]
            assert impl.same(x) is x
            assert impl.same(x=x) is x
            first, second = impl.pair(x, values)
            assert first is values[1]
            assert second is not x and torch.equal(second, x)
        finally:
            impl._session.close()
