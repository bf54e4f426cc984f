"""The pytest side of the harness (grader/pytest_plugin.py): the impl wrappers, and failures in
learner code rewritten into one sentence.

The last tests run a small fake suite (an adam/test_public.py in tmp_path, with paths.ROOT and
paths.topic_tests pointed there) through runner.run_inprocess, in this process, and read the
records back.
"""

from pathlib import Path

import pytest

import grader.paths
from grader import catalog, loader, runner, scoring
from grader.pytest_plugin import Impl, Unusable, load_impl, topic_of

Failed = pytest.fail.Exception


def test_topic_of_is_the_folder_under_tests():
    """A test file's topic is the name of the folder it is in."""
    assert topic_of(Path("tests/adam/test_public.py")) == "adam"
    assert topic_of(grader.paths.TESTS / "conv" / "test_hidden.py") == "conv"


def test_unusable_fails_with_its_sentence_on_any_use():
    """Every attribute of Unusable fails the test with the loader's sentence, without a traceback."""
    unusable = Unusable("exercises/adam.py has a syntax error at line 3.")
    with pytest.raises(Failed) as info:
        unusable.adam_step  # noqa: B018 - the attribute access is what is tested
    assert str(info.value) == "exercises/adam.py has a syntax error at line 3."
    assert info.value.pytrace is False


def test_wrappers_do_not_fail_on_dunder_lookups():
    """Introspection (dunder attributes) gets an AttributeError, not a test failure."""
    assert getattr(Unusable("x"), "__wrapped__", None) is None
    assert getattr(Impl(object(), "f.py"), "__wrapped__", None) is None


def test_impl_passes_attributes_through():
    """Impl gives the module's attributes as they are."""

    class Module:
        answer = 42

        @staticmethod
        def adam_step(x):
            return x + 1

    impl = Impl(Module, "exercises/adam.py")
    assert impl.answer == 42
    assert impl.adam_step(1) == 2


def test_impl_missing_attribute_names_it():
    """A name the learner's module lacks fails with a sentence saying so."""
    impl = Impl(object(), "exercises/adam.py")
    with pytest.raises(Failed) as info:
        impl.adam_step  # noqa: B018 - the attribute access is what is tested
    message = str(info.value)
    assert "exercises/adam.py has no `adam_step`" in message
    assert "keep the names and signatures of the stub" in message


def test_load_impl_turns_load_errors_into_unusable_and_caches(tmp_path):
    """A broken file gives an Unusable with the loader's sentence; the same object comes back next time."""
    (tmp_path / "adam.py").write_text("def adam_step(:\n", encoding="utf-8")
    first = load_impl("adam", str(tmp_path))
    assert isinstance(first, Unusable)
    with pytest.raises(Failed, match="syntax error at line 1"):
        first.adam_step  # noqa: B018 - the attribute access is what is tested
    assert load_impl("adam", str(tmp_path)) is first


# ---------------------------------------------------------------------------------------------------
# A fake suite run in this process

CONFTEST = """\
from grader.pytest_plugin import (  # noqa: F401
    impl, pytest_addoption, pytest_collection_modifyitems, pytest_configure, pytest_runtest_call,
    pytest_runtest_makereport)
"""

SUITE = '''\
import pytest

from grader.checks import fail


def test_unwritten(impl):
    """The stub part."""
    impl.unwritten()


def test_broken(impl):
    """A learner bug."""
    impl.broken([1, 2])


def test_sneaky(impl):
    """Uses torch.optim but hides the error."""
    assert impl.sneaky() == "caught"


def test_forbidden(impl):
    """Uses torch.optim openly (at run time)."""
    impl.forbidden()


def test_wrong(impl):
    """A plain wrong answer."""
    if impl.answer() != 42:
        fail("answer is wrong: got 41, expected 42.")


def test_grader_broke(impl):
    """The sandbox could not start a worker (raised by the proxy in grading mode)."""
    from grader.sandbox import SandboxBroken
    raise SandboxBroken("the grading worker did not start")


@pytest.mark.points(3)
def test_right(impl):
    """The part that works."""
    assert impl.adam_step(1) == 2
'''

LEARNER = """\
import torch


def unwritten():
    raise NotImplementedError


def broken(items):
    return items[5]


def sneaky():
    try:
        getattr(torch, "op" + "tim").SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    except Exception:
        pass
    return "caught"


def forbidden():
    return getattr(torch, "op" + "tim").Adam([torch.zeros(1, requires_grad=True)])


def answer():
    return 41


def adam_step(x):
    return x + 1
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """{test name: record} from one run of the fake suite on the fake learner file."""
    root = tmp_path_factory.mktemp("plugin")
    suite = root / "fake_suites"  # not `tests`, so its modules cannot clash with the real tests package
    (suite / "adam").mkdir(parents=True)
    (suite / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (suite / "adam" / "test_public.py").write_text(SUITE, encoding="utf-8")
    learner = root / "learner"
    learner.mkdir()
    (learner / "adam.py").write_text(LEARNER, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grader.paths, "ROOT", root)  # the run's rootdir: node ids are relative to it
        patch.setattr(grader.paths, "topic_tests", lambda topic: suite / topic)
        # The fake learner hides torch.optim behind getattr to reach the run-time traps, which the
        # static escape check would refuse first (grader/tests/test_guard.py tests that check).
        patch.setenv(loader.SKIP_ESCAPES, "1")
        status, found = runner.run_inprocess(["adam"], str(learner), "public", ["--import-mode=importlib"], quiet=True)
    assert status == 1  # some tests failed
    return {r["name"]: r for r in found}


def test_fake_suite_records(records):
    """One record per test, with the topic taken from the folder and the points from the marker."""
    assert sorted(records) == [
        "test_broken",
        "test_forbidden",
        "test_grader_broke",
        "test_right",
        "test_sneaky",
        "test_unwritten",
        "test_wrong",
    ]
    assert {r["topic"] for r in records.values()} == {"adam"}
    assert {r["suite"] for r in records.values()} == {"public"}
    assert records["test_right"]["nodeid"] == "fake_suites/adam/test_public.py::test_right"
    assert records["test_right"]["points"] == 3.0
    assert records["test_wrong"]["points"] == 1.0
    assert records["test_right"]["outcome"] == "passed"


def test_not_implemented_becomes_not_written_yet(records):
    """NotImplementedError from learner code: 'NAME is not written yet', the learner's line, no traceback."""
    record = records["test_unwritten"]
    assert record["outcome"] == "failed"
    assert "unwritten is not written yet" in record["message"]
    assert "adam.py line 5" in record["message"]
    assert record["message"].startswith("Checks: The stub part.")
    assert "Traceback" not in record["message"]


def test_learner_exception_becomes_one_sentence(records):
    """Another exception from learner code: the function, the exception and the learner's line of code."""
    message = records["test_broken"]["message"]
    assert "broken raised IndexError: list index out of range" in message
    assert "adam.py line 9: return items[5]" in message


def test_caught_forbidden_call_still_fails(records):
    """A forbidden call whose error the learner caught still fails the test, with a sentence."""
    record = records["test_sneaky"]
    assert record["outcome"] == "failed"
    assert "forbidden API" in record["message"]
    assert "even though the error was caught" in record["message"]


def test_uncaught_forbidden_call_is_one_sentence(records):
    """A forbidden call that raises through the learner's code fails with a sentence naming the API."""
    record = records["test_forbidden"]
    assert record["outcome"] == "failed"
    assert record["message"].startswith(
        "Checks: Uses torch.optim openly (at run time).\nYour code called a forbidden API: "
    )
    assert "Adam" in record["message"]
    assert "Traceback" not in record["message"]


def test_fail_message_is_kept_with_summary(records):
    """A check's failure keeps its sentence, after the test's one-line summary."""
    message = records["test_wrong"]["message"]
    assert message.startswith("Checks: A plain wrong answer.")
    assert "answer is wrong: got 41, expected 42." in message


def test_records_score_as_in_progress(records):
    """The records feed scoring: 3 of 8 points on a 10-point topic, status in progress; with the
    grader's own error among them, the status is "error" (never reported as the learner's)."""
    learners = [r for name, r in records.items() if name != "test_grader_broke"]
    row = scoring.topic_summary(catalog.get("adam"), learners)
    assert row["status"] == "in progress"
    assert row["points"] == 3.75
    assert scoring.topic_summary(catalog.get("adam"), list(records.values()))["status"] == "error"


def test_a_broken_sandbox_is_a_grader_error_not_a_failure(records):
    """SandboxBroken is recorded as an error (which class grading reports as the grader's failure
    and exits non-zero for), never as the learner's failed test."""
    record = records["test_grader_broke"]
    assert record["outcome"] == "error"
    assert "GRADER ERROR, not yours" in record["message"]
