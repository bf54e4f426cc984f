"""Tiered hints: `tests/<topic>/hints.md` holds sections headed `## Hint N: <tier>`.

`make hint topic=T` prints one more hint each time (the count is kept in .kata/hints.json, which
is git-ignored); `n=K` prints hints 1..K without changing the count.
"""

from __future__ import annotations

import json

from grader import paths


def load(topic: str) -> list[tuple[str, str]]:
    """[(heading, body)] in order; [] when the topic has no hints file."""
    path = paths.topic_tests(topic) / "hints.md"
    if not path.is_file():
        return []
    hints: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            hints.append((line[3:].strip(), []))
        elif hints:
            hints[-1][1].append(line)
    return [(head, "\n".join(body).strip()) for head, body in hints]


def _state_file():
    return paths.STATE / "hints.json"


def shown(topic: str) -> int:
    try:
        return int(json.loads(_state_file().read_text()).get(topic, 0))
    except (OSError, ValueError, AttributeError):
        return 0


def remember(topic: str, count: int) -> None:
    try:
        state = json.loads(_state_file().read_text())
        if not isinstance(state, dict):
            state = {}
    except (OSError, ValueError):
        state = {}
    state[topic] = count
    paths.STATE.mkdir(exist_ok=True)
    _state_file().write_text(json.dumps(state, indent=1))


def render(topic: str, n: int | None) -> str:
    hints = load(topic)
    if not hints:
        return f"There are no hints for {topic} yet."
    if n is None:
        n = min(shown(topic) + 1, len(hints))
        remember(topic, n)
    n = max(1, min(n, len(hints)))
    parts = [f"{head}\n\n{body}" for head, body in hints[:n]]
    more = (
        f"\n\n({n} of {len(hints)} hints shown. `make hint topic={topic}` shows the next one.)"
        if n < len(hints)
        else f"\n\n(All {len(hints)} hints shown.)"
    )
    return "\n\n".join(parts) + more
