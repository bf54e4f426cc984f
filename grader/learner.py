"""The learner's own commands: `next`, `reset`, `solution`, and the confirmation every reveal asks.

- `make next`: the recommended topic (grader/progress.py), its stub and its first hint's title.
- `make reset topic=T`: the stub back in exercises/T.py; the learner's file is copied first to
  .kata/backups/<time>/T.py (the path is printed). The stub is generated from solutions/T.py where
  the references are present, otherwise taken from git (`git show HEAD:exercises/T.py`).
- `make solution topic=T`: the reference, only after a one-line confirmation (or `yes=1`); the
  topic is then marked "solution viewed" in `make grade`. `make diff` asks and records the same.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from grader import catalog, hints, loader, paths, progress, stubs


class Refused(Exception):
    """A sentence for the learner (the command stops there, exit status 2)."""


def confirm(question: str, yes: bool) -> bool:
    """True when `yes` or the learner answers y; a non-interactive run without `yes` is refused."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise Refused(
            "Nothing shown: this reveals the reference, so it asks first, and there is no terminal to ask "
            "on. Add yes=1 (make) or --yes (python -m grader) to confirm."
        )
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def reference_text(topic: str) -> str:
    ref = paths.SOLUTIONS / f"{topic}.py"
    if not ref.is_file():
        raise Refused(
            f"There is no reference solution for {topic} in this copy (solutions/ is not shipped with a class release)."
        )
    return stubs.strip_markers(ref.read_text(encoding="utf-8"))


def show_solution(topic: str, yes: bool) -> str | None:
    """The reference's text once confirmed (and recorded), or None when the learner said no."""
    text = reference_text(topic)
    if not confirm(f"Show the reference solution of {topic}? `make grade` will mark it as viewed.", yes):
        return None
    progress.mark_viewed(topic, "solution")
    return text


def stub_text(topic: str) -> str:
    """The topic's stub as shipped: generated from the reference, or git's committed copy."""
    ref = paths.SOLUTIONS / f"{topic}.py"
    if ref.is_file():
        return stubs.make_stub(ref.read_text(encoding="utf-8"), str(ref))
    try:
        proc = subprocess.run(
            ["git", "show", f"HEAD:exercises/{topic}.py"], cwd=paths.ROOT, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        proc = None
    if proc is None or proc.returncode != 0 or not proc.stdout:
        raise Refused(f"Cannot find the stub of {topic}: there is no solutions/{topic}.py and git has no copy of it.")
    return proc.stdout


def reset(topic: str, folder: Path | None = None) -> tuple[Path, Path | None]:
    """Write the stub to folder/<topic>.py (default exercises/); returns (target, backup or None)."""
    folder = folder or paths.EXERCISES
    target = loader.topic_file(topic, folder)
    stub = stub_text(topic)
    backup = None
    if target.is_file():
        if target.read_text(encoding="utf-8", errors="replace") == stub:
            return target, None
        backup = paths.STATE / "backups" / time.strftime("%Y%m%d-%H%M%S") / target.name
        n = 1
        while backup.exists():
            backup = backup.parent.with_name(f"{backup.parent.name}-{n}") / target.name
            n += 1
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, backup)
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(stub, encoding="utf-8")
    return target, backup


def next_step(state: dict | None = None) -> str:
    """What `make next` prints."""
    topic = progress.recommend(state)
    if topic is None:
        return "Every topic is done. `make grade` shows the table (with the hidden tests, where you have them)."
    info = catalog.get(topic)
    stub = loader.display(loader.topic_file(topic, paths.EXERCISES))
    lines = [f"Next: {topic} ({info.title})", f"  your file: {stub}"]
    listed = hints.load(topic)
    if listed:
        lines.append(f"  first hint: {listed[0][0]} (`make hint topic={topic}`)")
    if info.prerequisites:
        lines.append(f"  builds on: {', '.join(info.prerequisites)}")
    lines.append(f"  run `make watch topic={topic}` (or `make test topic={topic}`)")
    return "\n".join(lines)


def new_hint(topic: str) -> str:
    """`make hint topic=T`: only the next hint (the counter moves on); `n=K` (hints.render) shows 1..K."""
    listed = hints.load(topic)
    if not listed:
        return f"There are no hints for {topic} yet."
    n = min(hints.shown(topic) + 1, len(listed))
    hints.remember(topic, n)
    head, body = listed[n - 1]
    if n < len(listed):
        more = f"(hint {n} of {len(listed)}: `make hint topic={topic}` shows the next one, n={n} shows 1-{n} again.)"
    else:
        more = f"(hint {n} of {len(listed)}, the last; n={n} shows them all, reset=1 starts again from hint 1.)"
    return f"{head}\n\n{body}\n\n{more}"
