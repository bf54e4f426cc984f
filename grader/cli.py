"""Command line behind the Makefile: `python -m grader COMMAND ...`.

    test [TOPIC] [--impl DIR] [--suite public|hidden|all] [-- PYTEST ARGS]
    grade [--impl DIR] [--suite ...] [--json]
    grade SUBMISSIONS --out DIR [--jobs N] [--timeout S] [--topics T ...] [--format csv|gradescope]
    hint TOPIC [--n N]
    diff TOPIC [--impl DIR]
    stubs [--check]
    check [--topics T ...] [--jobs N] [--timeout S]
    release OUT
    topics
    gradescope [OUT.zip]         the Gradescope autograder bundle (default autograder.zip)
    bench TOPIC                  the topic's benchmark (bench/TOPIC.py), ratios from one run
    margins [TOPIC]              the share of its tolerance correct code uses, per test
    lint                         ruff check and ruff format --check over the project
    demo TOPIC [--impl DIR]      the topic's demonstration (demos/TOPIC.py) on your functions

Bad input (unknown topic, missing folder or file) gets one sentence, the list of topics and exit
status 2; nothing here writes to exercises/ except `stubs`, which backs up any file it replaces.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
import time

from grader import catalog, hints, loader, paths, runner, scoring, stubs


class UsageError(Exception):
    pass


def _topic(name: str | None) -> list[str]:
    if not name:
        return catalog.names()
    if name not in catalog.names():
        raise UsageError(f"There is no topic called {name!r}.")
    return [name]


def _impl_folder(impl: str | None):
    folder = loader.resolve_impl(impl)
    if not folder.is_dir():
        raise UsageError(f"The implementation folder {impl!r} does not exist ({folder}).")
    return folder


def cmd_test(args) -> int:
    topics = _topic(args.topic)
    folder = _impl_folder(args.impl)
    if args.topic and not loader.topic_file(args.topic, folder).is_file():
        raise UsageError(
            f"{loader.display(loader.topic_file(args.topic, folder))} does not exist: "
            f"there is no {args.topic}.py in {loader.display(folder)}."
        )
    status, records = runner.run_inprocess(topics, str(folder), args.suite, args.pytest_args)
    which = {"public": "public ", "hidden": "hidden ", "all": ""}[args.suite]
    for topic in topics:
        mine = [r for r in records if r["topic"] == topic]
        if not mine:
            continue
        row = scoring.topic_summary(catalog.get(topic), mine)
        if row["status"] == "done":
            print(f"{topic}: all {row['total']} {which}tests pass. `make grade` shows every topic.")
        elif row["status"] == "not started":
            print(
                f"{topic}: not started ({row['total']} tests wait for you). Open "
                f"{loader.display(loader.topic_file(topic, folder))} and read the docstrings; "
                f"`make hint topic={topic}` if you are stuck."
            )
        else:
            print(
                f"{topic}: {row['passed']}/{row['total']} {which}tests pass. Start with the "
                f"first failure above; `make hint topic={topic}` gives a hint."
            )
    return status


def _grade_rows(folder, suite: str) -> tuple[list[dict], dict]:
    present = [t for t in catalog.names() if loader.topic_file(t, folder).is_file()]
    _, records = runner.run_inprocess(present, str(folder), suite, quiet=True)
    rows = []
    for topic in catalog.ordered():
        mine = [r for r in records if r["topic"] == topic.name]
        rows.append(scoring.topic_summary(topic, mine, missing=topic.name not in present))
    return rows, scoring.totals(rows)


def cmd_grade(args) -> int:
    if args.submissions is not None:
        return _grade_submissions(args)
    folder = _impl_folder(args.impl)
    start = time.time()
    rows, total = _grade_rows(folder, args.suite)
    if args.json:
        print(json.dumps({"impl": str(folder), "suite": args.suite, "topics": rows, "total": total}, indent=1))
    else:
        print(f"Grading {loader.display(folder)} ({args.suite} tests)\n")
        print(scoring.table(rows, total))
        print(f"\n({time.time() - start:.1f} s) `make test topic=NAME` shows what fails and why.")
    return 0


def _grade_submissions(args) -> int:
    """Grading mode: a class of submissions, each in a sandboxed worker (grader/classgrade.py)."""
    from pathlib import Path

    from grader import classgrade

    if not args.submissions:
        raise UsageError(
            "Which submissions? Use `make grade-class submissions=DIR out=DIR` or "
            "`python -m grader grade SUBMISSIONS --out DIR`."
        )
    if not args.out:
        raise UsageError("Where should the grades go? Add --out DIR (it is created if needed).")
    topics = [t for name in (args.topics or []) for t in _topic(name)] or None
    if args.jobs < 1 or args.timeout <= 0:
        raise UsageError("--jobs must be at least 1 and --timeout positive.")
    try:
        return classgrade.grade_class(
            Path(args.submissions).expanduser(),
            Path(args.out).expanduser(),
            jobs=args.jobs,
            timeout=args.timeout,
            topics=topics,
            fmt=args.format,
        )
    except classgrade.GradeError as exc:
        raise UsageError(str(exc)) from None


def cmd_hint(args) -> int:
    topic = _topic(args.topic)[0] if args.topic else None
    if topic is None:
        raise UsageError("Which topic? Use `make hint topic=NAME`.")
    if args.n is not None and args.n < 1:
        raise UsageError("n counts hints from 1.")
    print(hints.render(topic, args.n))
    return 0


def cmd_diff(args) -> int:
    if not args.topic:
        raise UsageError("Which topic? Use `make diff topic=NAME`.")
    topic = _topic(args.topic)[0]
    mine = loader.topic_file(topic, _impl_folder(args.impl))
    ref = paths.SOLUTIONS / f"{topic}.py"
    if not ref.is_file():
        raise UsageError(
            f"There is no reference solution for {topic} in this copy (solutions/ is not shipped with a class release)."
        )
    if not mine.is_file():
        raise UsageError(f"{loader.display(mine)} does not exist.")
    a = mine.read_text(encoding="utf-8").splitlines(keepends=True)
    b = stubs.strip_markers(ref.read_text(encoding="utf-8")).splitlines(keepends=True)
    diff = list(difflib.unified_diff(a, b, fromfile=loader.display(mine), tofile=f"solutions/{topic}.py"))
    sys.stdout.writelines(diff or [f"{loader.display(mine)} is the same as the reference.\n"])
    return 0


def cmd_stubs(args) -> int:
    if args.check:
        from grader.selfcheck import stale_stubs

        problems = stale_stubs()
        for p in problems:
            print(p)
        return 1 if problems else 0
    backup = paths.STATE / "backups" / time.strftime("%Y%m%d-%H%M%S")
    for topic in catalog.names():
        ref = paths.SOLUTIONS / f"{topic}.py"
        target = paths.EXERCISES / f"{topic}.py"
        new = stubs.make_stub(ref.read_text(encoding="utf-8"), str(ref))
        if target.is_file() and target.read_text(encoding="utf-8") == new:
            continue
        if target.is_file():
            backup.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, backup / target.name)
            print(f"exercises/{topic}.py changed: the old file is saved as {loader.display(backup / target.name)}")
        paths.EXERCISES.mkdir(exist_ok=True)
        target.write_text(new, encoding="utf-8")
        print(f"wrote exercises/{topic}.py")
    return 0


class _HarnessTests:
    """grader/tests in a child pytest that runs while the suites run: it waits on timeouts and
    sandboxed workers for much of its time (about 0.8 of one core on average). Measured on a fresh
    clone with 11 topics on 2 cores: 703 s alongside the suites, 924 s one after the other (436 s
    and 488 s); the price is that every time printed meanwhile is inflated by the contention. Its
    output goes to a file, printed once it ends. On an interrupt the child gets SIGINT and a few
    seconds to remove its temporary folders before it is killed."""

    def __init__(self) -> None:
        import subprocess
        import tempfile

        self.start = time.monotonic()
        self.output = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "grader/tests", "-q", "--durations=8", *runner.QUIET_PLUGINS],
            cwd=paths.ROOT,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        self.seconds = 0.0

    def finish(self) -> int:
        """Wait for the tests, print their output; returns pytest's exit status."""
        status = self.proc.wait()
        self.seconds = time.monotonic() - self.start
        self.output.seek(0)
        print(f"\nHarness tests (grader/tests), run alongside the suites ({self.seconds:.0f} s):")
        print(self.output.read(), end="", flush=True)
        self.output.close()
        return status

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output.close()


def cmd_check(args) -> int:
    """Lint, then the harness's own tests alongside every topic's suites proven honest
    (grader/selfcheck.py); ends with a timing line. ^C or SIGTERM stops it with no runs and no
    temporary folders left behind."""
    from grader import selfcheck

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive.")
    topics = [t for name in (args.topics or []) for t in _topic(name)]
    start = time.monotonic()
    timings: dict = {}
    harness = None
    try:
        with selfcheck.sigterm_as_interrupt():
            print("Lint (ruff check, ruff format --check):", flush=True)
            status = _lint()
            linted = time.monotonic() - start
            if status != 0:
                print("The lint failed (above).")
            if topics:  # a topic's author checking their suites: the harness's own tests are not theirs
                print("Harness tests (grader/tests): skipped, --topics given (make check without it runs them).")
            else:
                print("Harness tests (grader/tests): started; their output follows the suites'.", flush=True)
                harness = _HarnessTests()
            print("\nSuites:", flush=True)
            status = max(status, selfcheck.run(topics or None, args.jobs, timings, args.timeout))
            if harness is not None:
                harness_status = harness.finish()
                if harness_status != 0:
                    print("The harness's own tests failed (above).")
                status = max(status, harness_status)
    except KeyboardInterrupt:
        if harness is not None:
            harness.stop()
        print("\nInterrupted: the runs were stopped and the check's temporary folders removed.", file=sys.stderr)
        return 130
    parts = ", ".join(f"{name} {timings.get(kind, 0):.0f} s" for kind, name in selfcheck.KINDS.items())
    print(
        f"\nTiming: lint {linted:.0f} s, harness tests {harness.seconds if harness else 0:.0f} s (alongside the "
        f"suites), suites {timings.get('suites', 0):.0f} s "
        f"({parts}; run time summed per kind, {timings.get('workers', 1)} runs at a time), "
        f"total {time.monotonic() - start:.0f} s"
    )
    return status


def _lint() -> int:
    """ruff's lint and format checks over the project, with the settings of pyproject.toml."""
    import subprocess

    ruff = [sys.executable, "-m", "ruff"]
    status = 0
    for args in (["check", "--output-format", "concise", "."], ["format", "--check", "."]):
        status = max(status, subprocess.run([*ruff, *args], cwd=paths.ROOT).returncode)
    return status


def cmd_lint(args) -> int:
    """`make lint`: ruff check and ruff format --check (exit 1 when either finds something)."""
    status = _lint()
    if status:
        print("`ruff check --fix .` and `ruff format .` (from .venv/bin) fix most of it.")
    return 1 if status else 0


def cmd_release(args) -> int:
    from pathlib import Path

    from grader import release

    try:
        written = release.build(Path(args.out).expanduser().resolve())
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    print(f"Wrote the class release to {args.out}: {', '.join(written)} (no solutions/, no hidden tests).")
    return 0


def cmd_gradescope(args) -> int:
    from pathlib import Path

    from grader import gradescope

    out = Path(args.out).expanduser()
    if out.suffix != ".zip":
        raise UsageError(f"{args.out} should name a .zip file.")
    names = gradescope.build(out)
    print(
        f"Wrote {out} ({len(names)} files: setup.sh, run_autograder, grader/, tests/ with the hidden "
        "suites, provided/). Upload it as the assignment's autograder (Ubuntu 22.04 base image)."
    )
    return 0


def cmd_topics(args) -> int:
    for t in catalog.ordered():
        pre = f" (after {', '.join(t.prerequisites)})" if t.prerequisites else ""
        print(f"{t.order:2}. {t.name:10} {t.title}{pre}: {t.description}")
    return 0


def _script(kind: str, folder: str, args, extra: list[str]) -> int:
    """Run `<folder>/<topic>.py` (a benchmark or a demonstration) as its own process."""
    import subprocess

    have = sorted(p.stem for p in (paths.ROOT / folder).glob("*.py") if not p.stem.startswith("_"))
    if not args.topic or args.topic not in have:
        asked = (
            f"There is no {kind} for {args.topic!r}." if args.topic else f"Which topic? Use `make {kind} topic=NAME`."
        )
        raise UsageError(f"{asked} Topics with a {kind}: {', '.join(have) or 'none yet'}.")
    env = dict(__import__("os").environ, PYTHONPATH=str(paths.ROOT))
    cmd = [sys.executable, str(paths.ROOT / folder / f"{args.topic}.py"), *extra]
    return subprocess.run(cmd, cwd=paths.ROOT, env=env).returncode


def cmd_margins(args) -> int:
    """Run the suites on the reference and every alternative; print the worst share of its
    tolerance any of them uses, per test (grader/margins.py). Exit 1 above half a tolerance."""
    from grader import margins

    if not paths.SOLUTIONS.is_dir():
        raise UsageError("margins needs the references (solutions/), which a class release does not have.")
    return margins.run(_topic(args.topic))


def cmd_bench(args) -> int:
    extra = list(args.pytest_args)
    if not any(a == "--impl" or a.startswith("--impl=") for a in extra) and not paths.SOLUTIONS.is_dir():
        extra = ["--impl", "exercises", *extra]  # a released copy has no solutions/: time the learner's file
    return _script("bench", "bench", args, extra)


def cmd_demo(args) -> int:
    folder = _impl_folder(args.impl)
    return _script("demo", "demos", args, ["--impl", str(folder), *args.pytest_args])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader", description="scratch-katas: run, grade and check topics")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="run a topic's tests (all topics if none given)")
    t.add_argument("topic", nargs="?")
    t.add_argument("--impl", default="exercises", help="exercises (default), solutions, or a folder")
    t.add_argument("--suite", choices=list(runner.SUITES), default="public")
    g = sub.add_parser("grade", help="score every topic and print a table; with SUBMISSIONS, grade a class")
    g.add_argument("submissions", nargs="?", help="grading mode: a folder of submissions (or one submission)")
    g.add_argument("--out", help="grading mode: folder for grades.csv, grades.json and feedback/")
    g.add_argument("--jobs", type=int, default=1, help="grading mode: submissions graded at once")
    g.add_argument("--timeout", type=float, default=20.0, help="grading mode: seconds per call into a submission")
    g.add_argument("--topics", nargs="*", help="grading mode: only these topics")
    g.add_argument(
        "--format",
        choices=["csv", "gradescope"],
        default="csv",
        help="grading mode: csv (grades.csv, grades.json, feedback/) or gradescope (results.json)",
    )
    g.add_argument("--impl", default="exercises")
    g.add_argument("--suite", choices=list(runner.SUITES), default="all")
    g.add_argument("--json", action="store_true")
    h = sub.add_parser("hint", help="the next hint for a topic")
    h.add_argument("topic", nargs="?")
    h.add_argument("--n", type=int, default=None)
    d = sub.add_parser("diff", help="your file against the reference")
    d.add_argument("topic", nargs="?")
    d.add_argument("--impl", default="exercises")
    s = sub.add_parser("stubs", help="regenerate exercises/ from solutions/ (backs up what it replaces)")
    s.add_argument("--check", action="store_true", help="only report stale stubs")
    c = sub.add_parser("check", help="the project's own tests (make check)")
    c.add_argument("--topics", nargs="*")
    c.add_argument("--jobs", type=int, default=None, help="suite runs at once (default: one per core)")
    c.add_argument("--timeout", type=float, default=600.0, help="seconds a suite run may take before it is killed")
    r = sub.add_parser("release", help="write the copy a class receives (no solutions, no hidden tests)")
    r.add_argument("out")
    sub.add_parser("topics", help="list the topics")
    gs = sub.add_parser("gradescope", help="build the Gradescope autograder bundle")
    gs.add_argument("out", nargs="?", default="autograder.zip")
    b = sub.add_parser("bench", help="a topic's benchmark against PyTorch or another library")
    b.add_argument("topic", nargs="?")
    m = sub.add_parser("demo", help="a topic's demonstration, run on your functions")
    m.add_argument("topic", nargs="?")
    m.add_argument("--impl", default="exercises")
    sub.add_parser("lint", help="ruff's lint and format checks (part of make check)")
    mg = sub.add_parser("margins", help="the share of its tolerance correct code uses, per test")
    mg.add_argument("topic", nargs="?")
    return p


COMMANDS = {
    "test": cmd_test,
    "grade": cmd_grade,
    "hint": cmd_hint,
    "diff": cmd_diff,
    "stubs": cmd_stubs,
    "check": cmd_check,
    "release": cmd_release,
    "topics": cmd_topics,
    "bench": cmd_bench,
    "demo": cmd_demo,
    "gradescope": cmd_gradescope,
    "margins": cmd_margins,
    "lint": cmd_lint,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []  # passed on to pytest
    argv = argv[: argv.index("--")] if "--" in argv else argv
    args = parser().parse_args(argv)
    args.pytest_args = extra
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{exc} {runner.known_topics_sentence()}", file=sys.stderr)
        return 2
