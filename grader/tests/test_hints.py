"""Tiered hints (grader/hints.py): one more per call, n=K without moving the counter.

The hints file and the counter's folder are redirected to tmp_path, so the learner's .kata/ is untouched.
"""

import json

import pytest

import grader.paths
from grader import hints

HINTS_MD = """\
# Hints for adam

Intro text that is not a hint.

## Hint 1: concept

First body.

## Hint 2: formula

Second body,
two lines.

## Hint 3: near-code

Third body.
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake tests/adam/hints.md with three hints and an empty state folder."""
    suite = tmp_path / "tests"
    (suite / "adam").mkdir(parents=True)
    (suite / "adam" / "hints.md").write_text(HINTS_MD, encoding="utf-8")
    state = tmp_path / "state"
    monkeypatch.setattr(grader.paths, "STATE", state)
    monkeypatch.setattr(grader.paths, "topic_tests", lambda topic: suite / topic)
    return state


def test_load_parses_sections(fake):
    """load returns (heading, body) per `## ` section, skipping text before the first one."""
    assert hints.load("adam") == [
        ("Hint 1: concept", "First body."),
        ("Hint 2: formula", "Second body,\ntwo lines."),
        ("Hint 3: near-code", "Third body."),
    ]


def test_each_call_shows_one_more_hint(fake):
    """Successive calls show hints 1, then 1-2, then 1-3; the counter is kept in STATE/hints.json."""
    first = hints.render("adam", None)
    assert "Hint 1: concept" in first and "Hint 2" not in first
    assert "(1 of 3 hints shown." in first
    assert json.loads((fake / "hints.json").read_text()) == {"adam": 1}
    second = hints.render("adam", None)
    assert "First body." in second and "Second body," in second and "Hint 3" not in second
    assert "(2 of 3 hints shown." in second
    third = hints.render("adam", None)
    assert third.index("Hint 1") < third.index("Hint 2") < third.index("Hint 3")
    assert "(All 3 hints shown.)" in third
    assert hints.shown("adam") == 3


def test_calls_after_the_last_keep_showing_all(fake):
    """Asking again after the last hint shows all of them again and says so."""
    for _ in range(4):
        text = hints.render("adam", None)
    assert "Third body." in text and "(All 3 hints shown.)" in text
    assert hints.shown("adam") == 3


def test_n_shows_first_k_without_moving_the_counter(fake):
    """n=K shows hints 1..K and leaves the counter as it was."""
    hints.render("adam", None)
    two = hints.render("adam", 2)
    assert "Hint 1" in two and "Hint 2" in two and "Hint 3" not in two
    assert hints.shown("adam") == 1
    everything = hints.render("adam", 3)
    assert "(All 3 hints shown.)" in everything
    assert hints.shown("adam") == 1
    assert "Hint 2" in hints.render("adam", None)  # the counter goes on from where it was


def test_n_beyond_the_last_hint_is_clamped(fake):
    """n larger than the number of hints shows them all."""
    text = hints.render("adam", 10)
    assert "Third body." in text and "(All 3 hints shown.)" in text


def test_counters_are_per_topic_and_survive_bad_state(fake):
    """A broken state file counts as nothing shown; other topics' counters are kept."""
    fake.mkdir()
    (fake / "hints.json").write_text("not json")
    assert hints.shown("adam") == 0
    (fake / "hints.json").write_text(json.dumps({"conv": 2}))
    hints.render("adam", None)
    assert json.loads((fake / "hints.json").read_text()) == {"conv": 2, "adam": 1}


def test_topic_without_hints_file(fake, monkeypatch, tmp_path):
    """A topic with no hints.md gets a sentence, and no counter is written."""
    monkeypatch.setattr(grader.paths, "topic_tests", lambda topic: tmp_path / "nowhere" / topic)
    assert hints.render("adam", None) == "There are no hints for adam yet."
    assert not (fake / "hints.json").exists()


def test_real_hints_file_if_present():
    """The shipped tests/<topic>/hints.md, where one exists, has at least one `## Hint N: tier` section."""
    from grader import catalog

    found = [t for t in catalog.names() if (grader.paths.topic_tests(t) / "hints.md").is_file()]
    if not found:
        pytest.skip("no topic has a hints.md yet")
    for topic in found:
        loaded = hints.load(topic)
        assert loaded, f"tests/{topic}/hints.md has no `## ` sections"
        for number, (head, body) in enumerate(loaded, start=1):
            assert head.startswith(f"Hint {number}"), head
            assert body, f"{topic} {head} is empty"
