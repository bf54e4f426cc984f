"""Fixtures shared by the harness's test files."""

import pytest

from grader import catalog, release


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """The class release (grader/release.py), built once per session: recording its answer keys
    runs every keyed topic's public suite. Tests read it; one that changes files works on a copy.
    Used by test_release.py and test_classroom.py."""
    out = tmp_path_factory.mktemp("rel") / "class"
    release.build(out)
    # The release copies exercises/ as it is; a learner running `make check` may have edited it, so
    # the release tested here gets the stubs as committed (grader.selfcheck.committed_stub).
    from grader.selfcheck import committed_stub

    for topic in catalog.names():
        (out / "exercises" / f"{topic}.py").write_text(committed_stub(topic)[0], encoding="utf-8")
    return out
