"""Points and status of a topic from its test records: the one definition every report uses.

A record is what grader/pytest_plugin.Collector writes: {"nodeid", "topic", "suite", "name",
"points", "outcome", "message"}. A topic's score is

    topic.points * (sum of points of passed tests) / (sum of points of all its tests)

rounded to 2 decimals; skipped and errored tests count as not passed.

Status: "done" (every test passed), "not started" (none passed and every failure says the stub is
not written yet), "in progress" (anything else), "missing" (the topic's file is absent), "error"
(some test could not run at all: a harness problem, never the learner's; the table shows it so
that a broken hidden suite cannot pass as "done").
"""

from __future__ import annotations

from grader.catalog import Topic

NOT_WRITTEN = "is not written yet"


def topic_summary(topic: Topic, records: list[dict], missing: bool = False) -> dict:
    total = sum(r["points"] for r in records)
    earned = sum(r["points"] for r in records if r["outcome"] == "passed")
    passed = sum(1 for r in records if r["outcome"] == "passed")
    if missing:
        status = "missing"
    elif not records or any(r["outcome"] == "error" for r in records):
        status = "error"  # the harness could not run some test: never reported as done
    elif passed == len(records):
        status = "done"
    elif passed == 0 and all(NOT_WRITTEN in r["message"] for r in records):
        status = "not started"
    else:
        status = "in progress"
    points = round(topic.points * earned / total, 2) if total else 0.0
    return {
        "topic": topic.name,
        "title": topic.title,
        "passed": passed,
        "total": len(records),
        "points": points,
        "max_points": topic.points,
        "status": status,
    }


def totals(rows: list[dict]) -> dict:
    return {
        "passed": sum(r["passed"] for r in rows),
        "total": sum(r["total"] for r in rows),
        "points": round(sum(r["points"] for r in rows), 2),
        "max_points": sum(r["max_points"] for r in rows),
        "done": sum(1 for r in rows if r["status"] == "done"),
        "topics": len(rows),
    }


def table(rows: list[dict], total: dict) -> str:
    """The grade table as text."""
    head = ("topic", "tests", "points", "status")
    lines = [
        (r["topic"], f"{r['passed']}/{r['total']}", f"{r['points']:g}/{r['max_points']:g}", r["status"]) for r in rows
    ]
    lines.append(
        (
            "total",
            f"{total['passed']}/{total['total']}",
            f"{total['points']:g}/{total['max_points']:g}",
            f"{total['done']}/{total['topics']} topics done",
        )
    )
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(4)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *map(fmt, lines[:-1]), rule, fmt(lines[-1])])
