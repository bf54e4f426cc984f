"""Learner mode's `make test` and `make grade`: the suites run in this process (pytest's own report
kept out), then a compact report per topic (grader/feedback.py) and a table, with progress per topic
while they run. Results on the learner's own folder (exercises/) are recorded in .kata/progress.json.

`make test`: each distinct failure once in full (identical sentences grouped with their count),
captured output capped, a closing sentence that suggests a hint only when the file loads. An
interrupted run (Ctrl-C) says so and exits with status 130.

`make grade`: every topic of the catalog, in order, with a progress line per topic. A missing file
still counts its topic's tests in the total (they are collected, not run), so the denominator does
not move; a file that does not load has the status "does not load" (the reason in the note column
and under the table); a topic whose public tests pass but hidden tests fail lists those by name
under the table; the note column also marks "solution viewed"; the last line recommends the next
topic.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from grader import catalog, feedback, loader, paths, progress, scoring, watch

INTERRUPTED = 130
IMPORT_FAILED = "failed while it was imported"


def load_problem(topic: str, folder: Path, records: list[dict]) -> str | None:
    """Why the topic's file cannot be used at all (syntax error, forbidden API, an exception while it
    is imported), or None. Read without running the file, except for what the records already say."""
    try:
        loader.check_source(topic, folder)
    except loader.LoadError as exc:
        return str(exc)
    failed = [r for r in records if r["outcome"] != "passed"]
    if records and len(failed) == len(records):
        sentences = {feedback._sentence(r["message"]) for r in failed}
        if len(sentences) == 1 and IMPORT_FAILED in next(iter(sentences)):
            return next(iter(sentences))
    return None


def _mine(folder: Path) -> bool:
    return folder.resolve() == paths.EXERCISES.resolve()


def test(topics: list[str], folder: Path, suite: str, extra: list[str]) -> int:
    """`make test` in learner mode; returns the exit status (0 only when every test passed)."""
    which = {"public": "public ", "hidden": "hidden ", "all": ""}[suite]
    worst = 0
    rows = []
    with feedback.TopicProgress(topics, "Testing") as bar:
        for topic in topics:
            bar.start(topic)
            if not loader.topic_file(topic, folder).is_file():
                bar.done(topic, "missing")
                continue
            status, records = watch.run_inprocess(topic, folder, suite, extra)
            if status == 2:
                bar.stop()
                print(
                    f"\nInterrupted: {topic}'s run was stopped before every test had run "
                    f"({sum(1 for r in records if r['outcome'] == 'passed')} passed so far).",
                    file=sys.stderr,
                )
                return INTERRUPTED
            if not records and status == 5 and extra:  # pytest: no test collected (only=NAME matched none)
                bar.done(topic, "no test matched")
                print(f"{topic}: no test matches what you asked for ({' '.join(extra)}).", file=sys.stderr)
                worst = max(worst, 1)
                continue
            if not records and status != 0:
                bar.done(topic, "error")
                print(f"{topic}: the tests could not run (pytest exit status {status}).", file=sys.stderr)
                worst = max(worst, status)
                continue
            row = scoring.topic_summary(catalog.get(topic), records)
            problem = load_problem(topic, folder, records)
            bar.done(topic, "does not load" if problem else row["status"])
            rows.append(row)
            lines = [] if row["status"] == "done" else feedback.topic_report(row, records, problem, every_in_full=True)
            lines.append(_closing(topic, folder, row, problem, which))
            bar.print(lines)
            worst = max(worst, status)
    if _mine(folder) and rows and not extra:
        progress.record(rows, suite)
    return worst


def _closing(topic: str, folder: Path, row: dict, problem: str | None, which: str) -> tuple[str, str]:
    shown = loader.display(loader.topic_file(topic, folder))
    if problem:
        return ("bold red", f"{topic}: {shown} does not load, so no test could run: fix what the line above says.")
    if row["status"] == "done":
        return ("bold green", f"{topic}: all {row['total']} {which}tests pass. `make grade` shows every topic.")
    if row["status"] == "not started":
        return (
            "yellow",
            f"{topic}: not started ({row['total']} tests wait for you). Open {shown} and read the docstrings; "
            f"`make hint topic={topic}` if you are stuck.",
        )
    return (
        "bold yellow",
        f"{topic}: {row['passed']}/{row['total']} {which}tests pass ({feedback.progress_line(row)}). Start with "
        f"the first failure above; `make hint topic={topic}` gives a hint.",
    )


def count_tests(topics: list[str], suite: str) -> dict[str, list[dict]]:
    """{topic: its tests as records of failed tests}, collected (not run) in one pytest session: a
    missing file's share of the total."""
    import contextlib
    import io

    import pytest

    from grader.pytest_plugin import topic_of

    class Items:
        def __init__(self):
            self.items = []

        def pytest_collection_finish(self, session):
            self.items = list(session.items)

    plugin = Items()
    files = [f for topic in topics for f in watch.runner.test_files(topic, suite)]
    found: dict[str, list[dict]] = {topic: [] for topic in topics}
    if not files:
        return found
    args = [*files, "--collect-only", "-q", f"--rootdir={paths.ROOT}", *watch.runner.QUIET_PLUGINS]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(args, plugins=[plugin])
    for item in plugin.items:
        topic = topic_of(item.path)
        found.setdefault(topic, []).append(
            {
                "nodeid": item.nodeid,
                "topic": topic,
                "name": item.nodeid.split("::", 1)[-1],
                "points": dict(item.user_properties).get("points", 1.0),
                "outcome": "failed",
                "message": "the file is missing",
            }
        )
    return found


def grade(folder: Path, suite: str, as_json: bool) -> int:
    """`make grade` in learner mode."""
    start = time.time()
    rows, hidden_failures, problems = [], {}, {}
    absent = [t for t in catalog.names() if not loader.topic_file(t, folder).is_file()]
    counted = count_tests(absent, suite) if absent else {}
    with feedback.TopicProgress(catalog.names(), "Grading", quiet=as_json) as bar:
        for topic in catalog.ordered():
            name = topic.name
            bar.start(name)
            missing = name in absent
            if missing:
                records = counted.get(name, [])
            else:
                status, records = watch.run_inprocess(name, folder, suite)
                if status == 2:
                    bar.stop()
                    print("\nInterrupted: the grade was stopped before every topic had run.", file=sys.stderr)
                    return INTERRUPTED
            row = scoring.topic_summary(topic, records, missing=missing)
            if not missing:
                problem = load_problem(name, folder, records)
                if problem:
                    problems[name] = problem
                    row["status"] = "does not load"  # not "in progress": no test could run
                public_ok = all(r["outcome"] == "passed" for r in records if r.get("suite") != "hidden")
                failing = [r["name"] for r in records if r.get("suite") == "hidden" and r["outcome"] != "passed"]
                if public_ok and failing:
                    hidden_failures[name] = failing
            bar.done(name, "does not load" if name in problems else row["status"])
            rows.append(row)
    total = scoring.totals(rows)
    if _mine(folder):
        progress.record(rows, suite)
    state = progress.load()
    nxt = progress.recommend(state, {r["topic"]: r["status"] for r in rows}) if _mine(folder) else None
    if as_json:
        for row in rows:
            row["note"] = _note(row, problems, hidden_failures, state if _mine(folder) else {})
        report = {"impl": str(folder), "suite": suite, "topics": rows, "total": total}
        if _mine(folder):
            report["next"] = nxt
        print(json.dumps(report, indent=1))
        return 0
    notes = {r["topic"]: _note(r, problems, hidden_failures, state if _mine(folder) else {}) for r in rows}
    print(f"Grading {loader.display(folder)} ({suite} tests)\n")
    text = feedback.grade_table(rows, total, {k: v for k, v in notes.items() if v})
    if text is not None:
        print(text)
    for name, problem in problems.items():
        print(f"\n{name}: {problem}")
    for name, failing in hidden_failures.items():
        shown = ", ".join(failing[:8]) + (f" and {len(failing) - 8} more" if len(failing) > 8 else "")
        print(
            f"\n{name}: every public test passes, but {len(failing)} hidden tests fail: {shown}. "
            f"`make test topic={name} suite=all` shows why."
        )
    print(f"\n({time.time() - start:.1f} s) `make test topic=NAME` shows what fails and why.")
    if nxt:
        print(f"Next: {nxt} (`make next` says where to start).")
    elif _mine(folder):
        print("Every topic is done.")
    return 0


def _note(row: dict, problems: dict, hidden: dict, state: dict) -> str:
    """The grade table's note: why a file does not load, hidden failures, the recorded best, a reveal."""
    topic = row["topic"]
    parts = []
    if topic in problems:
        parts.append("syntax error" if "syntax error" in problems[topic] else "does not load")
    if topic in hidden:
        parts.append(f"{len(hidden[topic])} hidden tests fail")
    entry = state.get(topic) if isinstance(state.get(topic), dict) else {}
    best = entry.get("best")
    if isinstance(best, dict) and best.get("status") not in (None, "missing"):
        if best["status"] == "done" and row["status"] == "done":
            parts.append(f"done since {best.get('reached', '?')}")
        elif best["status"] != row["status"] or best.get("points") != row["points"]:
            parts.append(f"best: {best['status']}, {best.get('points', 0):g} points ({best.get('reached', '?')})")
    if entry.get("solution_viewed"):
        parts.append("solution viewed")
    return ", ".join(parts)
