"""Command line behind the Makefile: `python -m grader COMMAND ...`.

    test [TOPIC] [--impl DIR] [--suite public|hidden|all] [-- PYTEST ARGS]
    grade [--impl DIR] [--suite ...] [--json]
    grade SUBMISSIONS --out DIR [--jobs N] [--timeout S] [--topics T ...] [--format csv|gradescope]
    hint TOPIC [--n N]
    diff TOPIC [--impl DIR]
    stubs [--check]
    check [--topics T ...] [--jobs N] [--timeout S]
    release OUT [--classroom]    the class's copy; --classroom adds GitHub Classroom's workflow
    classroom-step TOPIC K       step K of that workflow: a group of the topic's public tests
    grade SUBMISSIONS --out DIR [--resume] [--shard I/N]   keep going after a kill; one slice of N
    merge OUT... --out DIR       join the shards' grades.csv, grades.json and feedback/
    topics
    gradescope [OUT.zip]         the Gradescope autograder bundle (default autograder.zip)
    bench TOPIC                  the topic's benchmark (bench/TOPIC.py), ratios from one run
    margins [TOPIC]              the share of its tolerance correct code uses, per test
    lint                         ruff check and ruff format --check over the project
    demo TOPIC [--impl DIR]      the topic's demonstration (demos/TOPIC.py) on your functions
    watch [TOPIC] [--impl DIR]   re-run the public tests on each save (grader/watch.py)
    next                         the recommended next topic (grader/progress.py)
    reset TOPIC                  the stub back in exercises/ (your file backed up in .kata/backups/)
    solution TOPIC [--yes]       the reference, after a confirmation; `grade` marks it viewed
    test TOPIC -x | -k NAME | --raw   stop at the first failure | only matching tests | pytest's report

Bad input (unknown topic, missing folder or file) gets one sentence, the list of topics and exit
status 2; nothing here writes to exercises/ except `stubs`, which backs up any file it replaces.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import time

from grader import catalog, hints, loader, paths, runner, stubs


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
    extra = [*(["-x"] if args.first else []), *(["-k", args.only] if args.only else []), *args.pytest_args]
    if args.raw:  # pytest's own report, as it prints it
        status, records = runner.run_inprocess(topics, str(folder), args.suite, extra)
        if status == 2:
            print("\nInterrupted: the run was stopped before every test had run.", file=sys.stderr)
            return 130
        return status
    from grader import learner_loop

    return learner_loop.test(topics, folder, args.suite, extra)


def cmd_grade(args) -> int:
    if args.submissions is not None:
        return _grade_submissions(args)
    from grader import learner_loop

    return learner_loop.grade(_impl_folder(args.impl), args.suite, args.json)


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
    from grader import notebook_grading

    submissions = Path(args.submissions).expanduser()
    course = None
    if args.to_gradebook is not None:
        if args.format != "csv":
            raise UsageError("--to-gradebook writes the scores of a class run (--format csv).")
        course = Path(args.to_gradebook) if args.to_gradebook else notebook_grading.default_course(submissions)
        if not (course / "gradebook.db").is_file():  # said before grading, not after
            raise UsageError(
                f"{course} has no gradebook.db: give the nbgrader course (--to-gradebook COURSE) after "
                "`nbgrader generate_assignment` has run there."
            )
    try:
        with notebook_grading.prepared(submissions, topics or catalog.names()) as graded:
            status = _grade_class(classgrade, graded, args, topics)
        if course is not None:
            lines = notebook_grading.to_gradebook(course, Path(args.out), topics or catalog.names())
            print(f"Wrote {len(lines)} scores into {course / 'gradebook.db'} (formgrader shows them).")
        return status
    except classgrade.GradeError as exc:
        raise UsageError(str(exc)) from None


def _grade_class(classgrade, submissions, args, topics) -> int:
    """classgrade.grade_class on a folder of `.py` submissions (notebooks already converted)."""
    from pathlib import Path

    from grader import shards

    try:
        shard = shards.parse(args.shard) if args.shard else None
    except shards.ShardError as exc:
        raise UsageError(str(exc)) from None
    return classgrade.grade_class(
        submissions,
        Path(args.out).expanduser(),
        jobs=args.jobs,
        timeout=args.timeout,
        topics=topics,
        fmt=args.format,
        resume=args.resume,
        shard=shard,
    )


def cmd_hint(args) -> int:
    topic = _topic(args.topic)[0] if args.topic else None
    if topic is None:
        raise UsageError("Which topic? Use `make hint topic=NAME`.")
    if args.n is not None and args.n < 1:
        raise UsageError("n counts hints from 1.")
    if args.reset:
        hints.remember(topic, 0)
        print(f"The hint counter of {topic} is back to 0: `make hint topic={topic}` shows hint 1 again.")
        return 0
    if args.n is None:  # only the new hint; n= shows the earlier ones too
        from grader import learner

        print(learner.new_hint(topic))
        return 0
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
    from grader import learner, progress

    try:
        if not learner.confirm(
            f"The diff shows the reference solution of {topic}. Show it? `make grade` will mark it as viewed.",
            args.yes,
        ):
            print("Nothing shown.")
            return 0
    except learner.Refused as exc:
        raise UsageError(str(exc)) from None
    if mine.resolve().parent == paths.EXERCISES.resolve():
        progress.mark_viewed(topic, "diff")
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


def cmd_check(args) -> int:
    """Lint, then every topic's suites proven honest and the harness's own tests, as runs of one
    pool (grader/selfcheck.py); ends with a timing line. ^C or SIGTERM stops it with no runs and no
    temporary folders left behind."""
    from grader import selfcheck

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive.")
    topics = [t for name in (args.topics or []) for t in _topic(name)]
    start = time.monotonic()
    timings: dict = {}
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
                print("Harness tests (grader/tests): runs of the same pool, started first.", flush=True)
            print("\nSuites:", flush=True)
            status = max(status, selfcheck.run(topics or None, args.jobs, timings, args.timeout, harness=not topics))
    except KeyboardInterrupt:
        print("\nInterrupted: the runs were stopped and the check's temporary folders removed.", file=sys.stderr)
        return 130
    parts = ", ".join(f"{name} {timings.get(kind, 0):.0f} s" for kind, name in selfcheck.KINDS.items())
    print(
        f"\nTiming: lint {linted:.0f} s, harness tests {timings.get('harness', 0):.0f} s, suites: {parts} (run "
        f"time summed per kind, {timings.get('workers', 1)} runs at a time); suites and harness tests together "
        f"{timings.get('suites', 0):.0f} s, total {time.monotonic() - start:.0f} s"
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
    if args.classroom:
        from grader import classroom

        out = Path(args.out).expanduser().resolve()
        written.append(str(classroom.write(out).relative_to(out)))
    print(f"Wrote the class release to {args.out}: {', '.join(written)} (no solutions/, no hidden tests).")
    return 0


def cmd_classroom_step(args) -> int:
    """`python -m grader classroom-step TOPIC K`: step K of the topic in the GitHub Classroom workflow."""
    from grader import classroom

    topic = _topic(args.topic)[0]
    if not loader.topic_file(topic, paths.EXERCISES).is_file():
        print(f"There is no exercises/{topic}.py in this repository.")
        return 1
    return classroom.run_step(topic, args.step)


def cmd_merge(args) -> int:
    """`python -m grader merge OUT... --out DIR`: the shards' reports as one (grader/shards.py)."""
    from pathlib import Path

    from grader import shards

    if not args.out:
        raise UsageError("Where should the merged grades go? Add --out DIR.")
    try:
        summary = shards.merge([Path(f).expanduser() for f in args.shards], Path(args.out).expanduser())
    except shards.ShardError as exc:
        raise UsageError(str(exc)) from None
    print(f"Merged {summary['shards']} shards: {summary['students']} students in {args.out}/grades.csv.")
    return 0


def _notebook_command(kind: str, args) -> int:
    """`nbgrader OUT`: the nbgrader course; `notebooks [OUT]`: the learners' notebooks
    (grader/nbgrader_course.py). Neither writes to exercises/."""
    from pathlib import Path

    from grader import nbgrader_course

    if kind == "course":
        if not args.out:
            raise UsageError("Where should the course go? Use `make nbgrader out=DIR`.")
        if not paths.SOLUTIONS.is_dir():
            raise UsageError("The course is made from solutions/, which a class release does not have.")
        from grader import instructor_env

        try:
            instructor_env.ensure("make nbgrader")  # the course is for nbgrader: the next commands need it
        except instructor_env.InstallError as exc:
            raise UsageError(str(exc)) from None
        start = time.time()
        out = Path(args.out).expanduser()
        topics = nbgrader_course.write_course(out)
        print(
            f"Wrote the nbgrader course to {out} in {time.time() - start:.1f} s: nbgrader_config.py and "
            f"source/<topic>/<topic>.ipynb for {len(topics)} topics. From {out}: `nbgrader generate_assignment "
            "TOPIC`, then `nbgrader autograde TOPIC` or `python -m grader grade submitted --out DIR`."
        )
        return 0
    out = Path(args.out).expanduser()
    if out.resolve() == paths.EXERCISES.resolve():
        raise UsageError("The notebooks do not go into exercises/ (your files): choose another folder.")
    written, kept = nbgrader_course.write_learner_notebooks(out)
    print(
        f"Wrote {len(written)} notebooks to {out} (no solutions, no hidden tests). Open one in Jupyter or "
        "VS Code, fill a cell, run the test cell below it."
    )
    if kept:
        print(
            f"Kept {len(kept)} notebooks that differ from a fresh one (your work is never overwritten; move one "
            f"away to get it fresh): {', '.join(p.name for p in kept)}."
        )
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
    chose = any(a == "--impl" or a.startswith("--impl=") for a in extra)
    if args.topic in catalog.names() and not chose:  # a topic's bench times the learner's file, as `make test`
        extra = ["--impl", "exercises", *extra]  # (impl=solutions: the reference); bench/watch.py and the like choose
    return _script("bench", "bench", args, extra)


def cmd_watch(args) -> int:
    """`make watch [topic=T]`: re-run T's public tests on each save (grader/watch.py)."""
    from grader import watch

    topic = _topic(args.topic)[0] if args.topic else None
    return watch.watch(topic, _impl_folder(args.impl), args.pytest_args)


def cmd_next(args) -> int:
    """`make next`: the recommended topic, its stub and its first hint's title (grader/learner.py)."""
    from grader import learner

    print(learner.next_step())
    return 0


def cmd_reset(args) -> int:
    """`make reset topic=T`: the stub back in exercises/T.py, the learner's file backed up first."""
    from grader import learner

    if not args.topic:
        raise UsageError("Which topic? Use `make reset topic=NAME`.")
    topic = _topic(args.topic)[0]
    try:
        target, backup = learner.reset(topic)
    except learner.Refused as exc:
        raise UsageError(str(exc)) from None
    if backup is None:
        print(f"{loader.display(target)} is the stub already: nothing to back up.")
    else:
        shown = loader.display(target)
        print(f"Your {shown} is saved as {loader.display(backup)}; {shown} is the stub again.")
    return 0


def cmd_solution(args) -> int:
    """`make solution topic=T [yes=1]`: the reference, after a confirmation; recorded as viewed."""
    from grader import learner

    if not args.topic:
        raise UsageError("Which topic? Use `make solution topic=NAME`.")
    topic = _topic(args.topic)[0]
    try:
        text = learner.show_solution(topic, args.yes)
    except learner.Refused as exc:
        raise UsageError(str(exc)) from None
    if text is None:
        print("Nothing shown.")
        return 0
    sys.stdout.write(text)
    print(f'\n(The reference of {topic}, solutions/{topic}.py; `make grade` now marks {topic} "solution viewed".)')
    return 0


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
    t.add_argument("-x", "--first", action="store_true", help="stop at the first failure")
    t.add_argument("-k", "--only", help="only the tests whose name matches (a test or function name)")
    t.add_argument("--raw", action="store_true", help="pytest's own report instead of the compact one")
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
    g.add_argument("--resume", action="store_true", help="grading mode: grade only students without a result in OUT")
    g.add_argument("--shard", help="grading mode: I/N, grade the I-th of N slices of the class (then `merge`)")
    g.add_argument(
        "--to-gradebook",
        nargs="?",
        const="",
        default=None,
        metavar="COURSE",
        help="grading mode: also write the scores into the nbgrader course's gradebook (default: the course "
        "SUBMISSIONS belongs to)",
    )
    g.add_argument("--impl", default="exercises")
    g.add_argument("--suite", choices=list(runner.SUITES), default="all")
    g.add_argument("--json", action="store_true")
    h = sub.add_parser("hint", help="the next hint for a topic")
    h.add_argument("topic", nargs="?")
    h.add_argument("--n", type=int, default=None)
    h.add_argument("--reset", action="store_true", help="start the topic's hints from the first again")
    d = sub.add_parser("diff", help="your file against the reference")
    d.add_argument("topic", nargs="?")
    d.add_argument("--impl", default="exercises")
    d.add_argument("--yes", action="store_true", help="no confirmation (the diff reveals the reference)")
    w = sub.add_parser("watch", help="re-run a topic's public tests each time you save its file")
    w.add_argument("topic", nargs="?")
    w.add_argument("--impl", default="exercises")
    sub.add_parser("next", help="the recommended next topic, its file and its first hint")
    rs = sub.add_parser("reset", help="restore a topic's stub (your file is backed up first)")
    rs.add_argument("topic", nargs="?")
    so = sub.add_parser("solution", help="show a topic's reference solution (asks first; recorded)")
    so.add_argument("topic", nargs="?")
    so.add_argument("--yes", action="store_true", help="no confirmation")
    s = sub.add_parser("stubs", help="regenerate exercises/ from solutions/ (backs up what it replaces)")
    s.add_argument("--check", action="store_true", help="only report stale stubs")
    c = sub.add_parser("check", help="the project's own tests (make check)")
    c.add_argument("--topics", nargs="*")
    c.add_argument("--jobs", type=int, default=None, help="suite runs at once (default: one per core)")
    c.add_argument("--timeout", type=float, default=600.0, help="seconds a suite run may take before it is killed")
    r = sub.add_parser("release", help="write the copy a class receives (no solutions, no hidden tests)")
    r.add_argument("out")
    r.add_argument("--classroom", action="store_true", help="add GitHub Classroom's workflow (grader/classroom.py)")
    cs = sub.add_parser("classroom-step", help="one step of the GitHub Classroom workflow (public tests)")
    cs.add_argument("topic")
    cs.add_argument("step", type=int)
    mr = sub.add_parser("merge", help="join the outputs of `grade --shard I/N` runs into one set of reports")
    mr.add_argument("shards", nargs="*", help="the --out folders of the shards")
    mr.add_argument("--out", help="folder for the merged grades.csv, grades.json and feedback/")
    sub.add_parser("topics", help="list the topics")
    nb = sub.add_parser("nbgrader", help="write an nbgrader course of every topic (make nbgrader out=DIR)")
    nb.add_argument("out", nargs="?")
    nl = sub.add_parser("notebooks", help="write the learners' notebooks, without solutions (make notebooks)")
    nl.add_argument("out", nargs="?", default="notebooks")
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
    "classroom-step": cmd_classroom_step,
    "merge": cmd_merge,
    "topics": cmd_topics,
    "bench": cmd_bench,
    "demo": cmd_demo,
    "gradescope": cmd_gradescope,
    "margins": cmd_margins,
    "lint": cmd_lint,
    "nbgrader": lambda args: _notebook_command("course", args),
    "notebooks": lambda args: _notebook_command("notebooks", args),
    "watch": cmd_watch,
    "next": cmd_next,
    "reset": cmd_reset,
    "solution": cmd_solution,
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
