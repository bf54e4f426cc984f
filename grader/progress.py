"""The learner's progress, kept in .kata/progress.json (git-ignored), and the recommended next topic.

For each topic: its best result so far ("best": status, passed, total, points, max_points, the suite
it was measured on and when it was reached) and, once the learner has looked at the reference
(`make solution`, `make diff`), when ("solution_viewed"). `make test`, `make watch` and `make grade`
record their results here; a result replaces the best one only when it is better (status first:
done > in progress > not started > error/missing; then points; then the suite, all > public).

The next topic (`recommend`): the lowest-order topic not done whose prerequisites are all done; when
every undone topic still waits on a prerequisite, the lowest-order one not done.
"""

from __future__ import annotations

import json
import time

from grader import catalog, paths

RANK = {"missing": 0, "error": 0, "does not load": 0, "not started": 1, "in progress": 2, "done": 3}
SUITE_RANK = {"public": 0, "hidden": 0, "all": 1}


def _file():
    return paths.STATE / "progress.json"


def load() -> dict:
    """{topic: entry}; {} when there is no (readable) progress file."""
    try:
        state = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save(state: dict) -> None:
    paths.STATE.mkdir(exist_ok=True)
    tmp = _file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(_file())


def _key(best: dict) -> tuple:
    share = best["points"] / best["max_points"] if best.get("max_points") else 0.0
    return (RANK.get(best["status"], 0), share, SUITE_RANK.get(best.get("suite"), 0))


def record(rows: list[dict], suite: str) -> dict:
    """Keep each row's result if it beats the topic's best; returns the new state."""
    state = load()
    now = time.strftime("%Y-%m-%d %H:%M")
    for row in rows:
        if row["status"] == "missing" or row["topic"] not in catalog.names():
            continue
        new = {k: row[k] for k in ("status", "passed", "total", "points", "max_points")}
        new.update(suite=suite, reached=now)
        entry = state.setdefault(row["topic"], {})
        old = entry.get("best")
        if not isinstance(old, dict) or _key(new) > _key(old):
            entry["best"] = new
    _save(state)
    return state


def mark_viewed(topic: str, how: str) -> None:
    """Record that the learner looked at the reference of `topic` (`how`: "solution" or "diff")."""
    state = load()
    entry = state.setdefault(topic, {})
    if not entry.get("solution_viewed"):
        entry["solution_viewed"] = f"{time.strftime('%Y-%m-%d %H:%M')} ({how})"
    _save(state)


def done(state: dict, topic: str) -> bool:
    best = state.get(topic, {}).get("best")
    return isinstance(best, dict) and best.get("status") == "done"


def recommend(state: dict | None = None, current: dict[str, str] | None = None) -> str | None:
    """The next topic to work on, or None when every topic is done. `current[topic]`: a status just
    measured (the grade table's), which overrides the recorded best."""
    state = load() if state is None else state
    current = current or {}
    is_done = {t: current.get(t) == "done" or (t not in current and done(state, t)) for t in catalog.names()}
    undone = [t for t in catalog.ordered() if not is_done[t.name]]
    ready = [t for t in undone if all(is_done.get(p, True) for p in t.prerequisites)]
    pick = (ready or undone or [None])[0]
    return pick.name if pick else None


def first_unfinished(state: dict | None = None) -> str | None:
    """The first topic in catalog order whose best is not done (what `make watch` without topic follows)."""
    state = load() if state is None else state
    return next((t for t in catalog.names() if not done(state, t)), None)


def notes(state: dict | None = None) -> dict[str, str]:
    """{topic: note} for the grade table: "solution viewed" where the learner looked."""
    state = load() if state is None else state
    out = {}
    for topic, entry in state.items():
        if isinstance(entry, dict) and entry.get("solution_viewed"):
            out[topic] = "solution viewed"
    return out
