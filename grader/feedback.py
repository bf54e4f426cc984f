"""What a learner reads after a run: the compact report of `make test` and `make watch`, and the
grade table, in colour (rich) on a terminal and in plain text otherwise.

A topic's report lists its failures: the first one's message in full, the others one line each;
failures whose sentence is the same (a file that does not load, a function not written yet) are
shown once with the number of tests they cover. It ends with a progress line
("9/14 tests, 6.4/10 points") and a next step. Captured output is capped (`cap_output`): its head
and tail, with the count of lines left out.

Plain text (no colour, no box drawing) when NO_COLOR is set, TERM is "dumb", or the output is not a
terminal, and whenever rich is not installed.
"""

from __future__ import annotations

import os
import sys

HEAD_LINES, TAIL_LINES = 15, 10  # of a test's captured output
MAX_LINE = 300  # characters of one captured line


def cap_output(text: str, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> str:
    """`text` with at most head + tail lines, the middle replaced by a line counting what was left out;
    over-long lines are cut too (a print in a loop can write gigabytes on one line)."""
    lines = text.splitlines()
    cut = lambda s: s if len(s) <= MAX_LINE else f"{s[:MAX_LINE]} ... ({len(s) - MAX_LINE} more characters)"
    if len(lines) <= head + tail + 1:
        return "\n".join(cut(s) for s in lines)
    left_out = len(lines) - head - tail
    middle = f"... ({left_out} lines of output left out) ..."
    return "\n".join([*map(cut, lines[:head]), middle, *map(cut, lines[-tail:])])


def fancy(stream=None) -> bool:
    """Colour and tables: a terminal, NO_COLOR unset, and rich installed."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        if not stream.isatty():
            return False
        import rich  # noqa: F401
    except (ImportError, AttributeError, ValueError):
        return False
    return True


def _sentence(message: str) -> str:
    """A failure's message without its "Checks: ..." line (the test's own summary)."""
    lines = message.strip().splitlines()
    if lines and lines[0].startswith("Checks: "):
        lines = lines[1:]
    return "\n".join(lines).strip() or message.strip()


def _first_line(text: str, width: int = 160) -> str:
    line = next((s for s in text.splitlines() if s.strip()), "").strip()
    return line if len(line) <= width else line[: width - 3] + "..."


def failure_groups(records: list[dict]) -> list[dict]:
    """The failed (or errored, or skipped) tests grouped by identical sentence, in run order:
    [{"sentence", "message", "names", "output"}] (message and output: the first test's)."""
    groups: dict[str, dict] = {}
    for r in records:
        if r["outcome"] == "passed":
            continue
        sentence = _sentence(r.get("message") or r["outcome"])
        group = groups.setdefault(
            sentence, {"sentence": sentence, "message": r.get("message") or "", "names": [], "output": ""}
        )
        group["names"].append(r["name"])
        if not group["output"] and r.get("output"):
            group["output"] = r["output"]
    return list(groups.values())


def progress_line(row: dict) -> str:
    return f"{row['passed']}/{row['total']} tests, {row['points']:g}/{row['max_points']:g} points"


def topic_report(row: dict, records: list[dict], load_problem: str | None = None, every_in_full: bool = False) -> list:
    """The report of one topic's run as a list of (style, text) lines. `load_problem`: the sentence
    saying why the file cannot be loaded (then that is the whole story). `every_in_full`: each
    distinct failure in full (`make test`), not only the first (watch)."""
    lines: list[tuple[str, str]] = []
    if load_problem:
        lines.append(("bold red", load_problem))
        lines.append(("dim", f"{row['topic']}: 0/{row['total']} tests: the file does not load, so no test ran."))
        return lines
    groups = failure_groups(records)
    for index, group in enumerate(groups):
        names = group["names"]
        more = f" (and {len(names) - 1} more tests with the same failure)" if len(names) > 1 else ""
        if index == 0 or every_in_full:
            lines.append(("bold red", f"FAIL {names[0]}{more}"))
            lines.extend(("", "  " + s) for s in group["message"].strip().splitlines())
            if group["output"]:
                lines.append(("dim", "  its output:"))
                lines.extend(("dim", "    " + s) for s in cap_output(group["output"]).splitlines())
        else:
            lines.append(("red", f"FAIL {names[0]}{more}: {_first_line(group['sentence'])}"))
    style = "bold green" if row["status"] == "done" else "bold yellow"
    lines.append((style, f"{row['topic']}: {progress_line(row)}"))
    return lines


def print_lines(lines: list, stream=None) -> None:
    """Print (style, text) lines: styled on a terminal (fancy), plain otherwise."""
    stream = stream or sys.stdout
    if fancy(stream):
        from rich.console import Console
        from rich.text import Text

        console = Console(file=stream, highlight=False, soft_wrap=True)
        for style, text in lines:
            console.print(Text(text, style=style or ""))
    else:
        for _, text in lines:
            print(text, file=stream)
    stream.flush()


STATUS_STYLE = {
    "done": "green",
    "in progress": "yellow",
    "not started": "dim",
    "missing": "red",
    "error": "bold red",
    "does not load": "red",
}


def grade_table(rows: list[dict], total: dict, notes: dict[str, str] | None = None, stream=None) -> str | None:
    """Print the grade table with rich on a terminal and return None; otherwise return the plain text
    (grader/scoring.table plus a note column). `notes[topic]`: e.g. "solution viewed", "best: done"."""
    from grader import scoring

    notes = notes or {}
    stream = stream or sys.stdout
    if not fancy(stream):
        text = scoring.table(rows, total)
        if not notes:
            return text
        out = []
        width = max(len(s) for s in text.splitlines())
        for line in text.splitlines():
            topic = line.split("  ", 1)[0].strip()
            note = notes.get(topic)
            out.append(f"{line.ljust(width)}  {note}" if note and line.startswith(topic) else line)
        return "\n".join(out)
    from rich.console import Console
    from rich.table import Table

    table = Table(show_footer=True, header_style="bold")
    table.add_column("topic", footer="total")
    table.add_column("tests", justify="right", footer=f"{total['passed']}/{total['total']}")
    table.add_column("points", justify="right", footer=f"{total['points']:g}/{total['max_points']:g}")
    table.add_column("status", footer=f"{total['done']}/{total['topics']} topics done")
    table.add_column("note")
    for r in rows:
        style = STATUS_STYLE.get(r["status"], "")
        table.add_row(
            r["topic"],
            f"{r['passed']}/{r['total']}",
            f"{r['points']:g}/{r['max_points']:g}",
            f"[{style}]{r['status']}[/]" if style else r["status"],
            notes.get(r["topic"], ""),
        )
    Console(file=stream, highlight=False).print(table)
    return None


class TopicProgress:
    """Progress over several topics: a rich progress bar on a terminal; otherwise, for more than one
    topic, a line per topic on stderr (stdout stays the report). `print(lines)` prints a report without
    tearing the bar."""

    def __init__(self, topics: list[str], verb: str, quiet: bool = False):
        self.topics, self.verb, self.quiet = list(topics), verb, quiet
        self.bar = None
        self.task = None
        self.started = 0.0

    def __enter__(self):
        import time

        self._time = time.monotonic
        if len(self.topics) > 1 and not self.quiet and fancy(sys.stdout):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=sys.stdout),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.verb, total=len(self.topics))
        return self

    def start(self, topic: str) -> None:
        self.started = self._time()
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.verb} {topic}")

    def done(self, topic: str, status: str) -> None:
        seconds = self._time() - self.started
        if self.bar is not None:
            self.bar.advance(self.task)
        elif len(self.topics) > 1 and not self.quiet:
            print(f"{self.verb.lower()} {topic}: {status} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def print(self, lines: list) -> None:
        if self.bar is not None:
            from rich.text import Text

            for style, text in lines:
                self.bar.console.print(Text(text, style=style or ""), highlight=False, soft_wrap=True)
        else:
            print_lines(lines)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc):
        self.stop()
