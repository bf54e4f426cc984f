"""Points and status of a topic (grader/scoring.py): the one definition every report uses."""

import pytest

from grader.catalog import Topic
from grader.scoring import NOT_WRITTEN, table, topic_summary, totals

TEN = Topic(name="adam", title="Adam", order=1, description="", points=10)
FOUR = Topic(name="conv", title="Convolution", order=2, description="", points=4)


def record(outcome="passed", points=1.0, message=""):
    return {
        "nodeid": "t",
        "topic": "adam",
        "suite": "public",
        "name": "t",
        "points": points,
        "outcome": outcome,
        "message": message,
    }


def test_all_passed_is_done_with_full_points():
    """Every test passed: status done and the topic's full points."""
    row = topic_summary(TEN, [record(), record(points=2)])
    assert row["status"] == "done"
    assert (row["passed"], row["total"], row["points"], row["max_points"]) == (2, 2, 10, 10)
    assert (row["topic"], row["title"]) == ("adam", "Adam")


def test_untouched_stub_is_not_started():
    """Nothing passed and every failure says the stub is not written yet: not started, 0 points."""
    records = [
        record("failed", message=f"adam_step {NOT_WRITTEN}: it still raises NotImplementedError"),
        record("failed", points=2, message=f"Adam.step {NOT_WRITTEN}"),
    ]
    row = topic_summary(TEN, records)
    assert row["status"] == "not started"
    assert row["points"] == 0


def test_one_real_failure_among_unwritten_is_in_progress():
    """Nothing passed but one failure is a real one (not 'not written yet'): in progress."""
    records = [record("failed", message=f"adam_step {NOT_WRITTEN}"), record("failed", message="wrong shape")]
    assert topic_summary(TEN, records)["status"] == "in progress"


def test_some_passed_is_in_progress():
    """Some tests passed, some failed: in progress."""
    records = [record(), record("failed", message=f"Adam.step {NOT_WRITTEN}")]
    assert topic_summary(TEN, records)["status"] == "in progress"


def test_missing_file_is_missing():
    """missing=True wins: the status is missing and no points are given."""
    assert topic_summary(TEN, [], missing=True)["status"] == "missing"
    row = topic_summary(TEN, [record("failed", message="x")], missing=True)
    assert row["status"] == "missing"
    assert row["points"] == 0


def test_suite_that_could_not_run_is_error():
    """No records at all, or only errors, means the suite itself failed: status error."""
    assert topic_summary(TEN, [])["status"] == "error"
    assert topic_summary(TEN, [record("error", points=0.0, message="collection failed")])["status"] == "error"


@pytest.mark.parametrize("outcome", ["failed", "skipped", "error"])
def test_only_passed_tests_earn_points(outcome):
    """Points weigh tests: on a 10-point topic, passing the 2-point test of (1, 2) earns 10 * 2/3 = 6.67."""
    row = topic_summary(TEN, [record(outcome, points=1, message="no"), record("passed", points=2)])
    assert row["points"] == 6.67
    assert (row["passed"], row["total"]) == (1, 2)
    # An error is the harness's fault: the status says so instead of "in progress".
    assert row["status"] == ("error" if outcome == "error" else "in progress")


def test_points_weighting_other_way_round():
    """Passing the 1-point test of (1, 2) earns 10 * 1/3 = 3.33."""
    assert topic_summary(TEN, [record(points=1), record("failed", points=2, message="no")])["points"] == 3.33


def rows():
    return [
        topic_summary(TEN, [record(points=1), record(points=2)]),
        topic_summary(FOUR, [record(), record("failed", message="no")]),
    ]


def test_totals_add_up_rows():
    """totals sums tests and points over topics and counts the topics done."""
    total = totals(rows())
    assert total == {"passed": 3, "total": 4, "points": 12.0, "max_points": 14, "done": 1, "topics": 2}


def test_table_has_every_topic_and_a_total_row():
    """The grade table shows a header, one row per topic with tests, points and status, and a total row."""
    text = table(rows(), totals(rows()))
    lines = text.splitlines()
    assert lines[0].split() == ["topic", "tests", "points", "status"]
    body = [line.split(None, 3) for line in lines if line.startswith(("adam", "conv", "total"))]
    assert body == [
        ["adam", "2/2", "10/10", "done"],
        ["conv", "1/2", "2/4", "in progress"],
        ["total", "3/4", "12/14", "1/2 topics done"],
    ]
    assert lines[-1].startswith("total")


def test_table_shows_fractional_points():
    """Fractional points are printed as rounded, e.g. 6.67/10."""
    row = topic_summary(TEN, [record("failed", points=1, message="no"), record(points=2)])
    assert "6.67/10" in table([row], totals([row]))
