"""`python -m grader check`: prove the suites honest (docs/design.md rules 1-3, 8), as `make check` runs it.

For every topic in the catalog:
  - the committed stub equals the one generated from the reference (rule 1);
  - every test (public and hidden) passes on the reference, in learner mode (in-process) and in
    grading mode (the reference behind the sandboxed proxy, grader/proxy.py), and fails on the generated stub, with a
    failure (not an error, not a skip) that says the stub is not written yet (rule 2);
  - every mutant (a known mistake applied to the reference) fails the suite, and a failure message
    names its mistake with the mistake's tag (rule 3); the kill table is printed;
  - every mutant names a mistake listed in the topic's mistakes.py;
  - every listed alternative (correct code written another way) passes every test (rule 5);
  - every listed trivial implementation (do-nothing bodies) fails every test;
  - public tests never mention `solutions`, and no test imports `exercises` or a learner path (rules
    4 and 8).
Each suite runs in a child process of its own, forked from one warm server that has imported
torch and pytest once (grader/warm.py); runs go in parallel on the machine's cores, each killed after
a wall-clock limit. The stubs judged are the committed ones (`git show HEAD:exercises/<topic>.py`,
or the stub generated from solutions/ outside a git checkout), never a learner's working files.
An interrupt (^C, SIGTERM) kills the runs and removes the temporary folders.

`make check` also runs the harness's own tests (grader/tests) as runs of the same pool
(`harness=True`): each file that takes minutes is a run of its own, the files that share the
session-wide release fixture one run, the rest one run; they start first, the longest first, so that
the two cores stay busy to the end rather than one long run finishing alone.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from grader import catalog, margins, paths, runner, stubs, warm
from grader.mistakes import apply_patch
from grader.scoring import NOT_WRITTEN


def committed_stub(topic: str) -> tuple[str, str]:
    """(text, where) of the stub the project commits for `topic`: `git show HEAD:exercises/<topic>.py`
    when the project is a git checkout holding that file, otherwise the stub generated from
    solutions/<topic>.py. `where` says which, for the check's output. The working copy in exercises/
    is never read: a learner who has edited it can still run `make check`."""
    try:
        proc = subprocess.run(
            ["git", "show", f"HEAD:./exercises/{topic}.py"], cwd=paths.ROOT, capture_output=True, timeout=60
        )
        if proc.returncode == 0:
            return proc.stdout.decode("utf-8"), f"git HEAD:exercises/{topic}.py"
    except (OSError, subprocess.TimeoutExpired, UnicodeDecodeError):
        pass
    ref = paths.SOLUTIONS / f"{topic}.py"
    return (
        stubs.make_stub(ref.read_text(encoding="utf-8"), str(ref)),
        f"generated from solutions/{topic}.py (no exercises/{topic}.py in a git HEAD here)",
    )


def stale_stubs(committed: bool = False, where: dict[str, str] | None = None) -> list[str]:
    """Problems with the stubs compared with what solutions/ generates. By default the files in
    exercises/ (`python -m grader stubs --check`); with `committed`, the stubs as committed
    (committed_stub), which is what `make check` judges. `where`, if given, receives per topic
    where the judged stub came from."""
    problems = []
    for topic in catalog.names():
        ref = paths.SOLUTIONS / f"{topic}.py"
        stub = paths.EXERCISES / f"{topic}.py"
        if not ref.is_file():
            problems.append(f"{topic}: solutions/{topic}.py is missing")
            continue
        expected = stubs.make_stub(ref.read_text(encoding="utf-8"), str(ref))
        if committed:
            text, source = committed_stub(topic)
            if where is not None:
                where[topic] = source
            if text != expected:
                problems.append(
                    f"{topic}: exercises/{topic}.py as committed ({source}) differs from the stub "
                    f"generated from solutions/{topic}.py; run `make stubs` and commit it"
                )
        elif not stub.is_file():
            problems.append(f"{topic}: exercises/{topic}.py is missing; run `make stubs`")
        elif stub.read_text(encoding="utf-8") != expected:
            problems.append(
                f"{topic}: exercises/{topic}.py differs from the stub generated from "
                f"solutions/{topic}.py; run `make stubs`"
            )
    return problems


_IMPORT_SOLUTIONS = re.compile(r"^\s*(from|import)\s+solutions\b|['\"]solutions[/'\"]", re.M)
_IMPORT_EXERCISES = re.compile(r"^\s*(from|import)\s+exercises\b|['\"]exercises[/'\"]", re.M)


def boundary_problems() -> list[str]:
    """Public tests must not reach solutions/; no test may import exercises/ directly."""
    problems = []
    for topic in catalog.names():
        for path in sorted(paths.topic_tests(topic).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            shown = path.relative_to(paths.ROOT)
            if _IMPORT_EXERCISES.search(text):
                problems.append(f"{shown} reaches exercises/ directly; use the impl fixture")
            if path.name != "test_hidden.py" and _IMPORT_SOLUTIONS.search(text):
                problems.append(f"{shown} reaches solutions/; public tests and their helpers never do")
    return problems


def _topic_jobs(topic: str, tmp: Path) -> list[tuple[str, str, Path, object]]:
    """(kind, label, folder, extra) for every run a topic needs; writes the folders."""
    reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    jobs = [
        ("reference", "reference", paths.SOLUTIONS, None),
        ("sandboxed", "reference, grading mode", paths.SOLUTIONS, None),
    ]
    stub_dir = tmp / topic / "stub"
    stub_dir.mkdir(parents=True)
    (stub_dir / f"{topic}.py").write_text(stubs.make_stub(reference))
    jobs.append(("stub", "stub", stub_dir, None))
    known = {m.id for m in importlib.import_module(f"tests.{topic}.mistakes").MISTAKES}
    module = importlib.import_module(f"tests.{topic}.mutants")
    for kind, items in (("mutant", module.MUTANTS), ("alternative", getattr(module, "ALTERNATIVES", []))):
        for item in items:
            folder = tmp / topic / f"{kind}-{item.id}"
            folder.mkdir(parents=True)
            if kind == "mutant" and item.mistake not in known:
                raise ValueError(
                    f"{topic} mutant {item.id} names the mistake {item.mistake!r}, which "
                    f"tests/{topic}/mistakes.py does not list"
                )
            source = apply_patch(reference, item.patch, f"{topic} {kind} {item.id}")
            (folder / f"{topic}.py").write_text(stubs.strip_markers(source))
            jobs.append((kind, item.id, folder, item))
    for item in getattr(module, "TRIVIAL", []):
        folder = tmp / topic / f"trivial-{item.id}"
        folder.mkdir(parents=True)
        (folder / f"{topic}.py").write_text(stubs.fill_blocks(reference, list(item.bodies)))
        jobs.append(("trivial", item.id, folder, item))
    return jobs


_NAMED = re.compile(r"Known mistake \[([a-z0-9-]+)\]")


def wrongly_named(mistake: str, records: list[dict], coincidences=frozenset()) -> list[tuple[str, list[str]]]:
    """(test, tags) for each failure on a mutant committing `mistake` that names another mistake,
    unless the two give the same output there ({mistake, other} in the topic's COINCIDENCES)."""
    wrong = []
    for r in records:
        tags = set(_NAMED.findall(r["message"])) if r["outcome"] == "failed" else set()
        if tags and (mistake not in tags or any(frozenset({mistake, t}) not in coincidences for t in tags - {mistake})):
            wrong.append((r["nodeid"].split("::")[-1], sorted(tags)))
    return wrong


def _judge(
    kind: str, item, records: list[dict], status: int, output: str, coincidences=frozenset()
) -> tuple[bool, str, dict]:
    """(ok, problem, row) for one run."""
    counts = {o: sum(1 for r in records if r["outcome"] == o) for o in ("passed", "failed", "error", "skipped")}
    if not records:
        return False, f"no test results (exit {status}): {output[-800:]}", counts
    if kind in ("reference", "alternative", "sandboxed"):
        bad = [r for r in records if r["outcome"] != "passed"]
        if bad:
            first = bad[0]
            return (
                False,
                (
                    f"{len(bad)} tests did not pass, e.g. {first['nodeid']} ({first['outcome']}): "
                    f"{first['message'][:600]}"
                ),
                counts,
            )
        return True, "", counts
    if kind == "trivial":
        bad = [r for r in records if r["outcome"] != "failed"]
        if bad:
            return (
                False,
                (
                    f"{len(bad)} tests do not fail on this do-nothing implementation, e.g. "
                    f"{bad[0]['nodeid']} ({bad[0]['outcome']})"
                ),
                counts,
            )
        return True, "", counts
    if kind == "stub":
        bad = [r for r in records if r["outcome"] != "failed" or NOT_WRITTEN not in r["message"]]
        if bad:
            first = bad[0]
            return (
                False,
                (
                    f"{len(bad)} tests do not fail cleanly on the stub, e.g. {first['nodeid']} "
                    f"({first['outcome']}): {first['message'][:600]}"
                ),
                counts,
            )
        return True, "", counts
    # mutant
    failed = [r for r in records if r["outcome"] == "failed"]
    tag = f"[{item.mistake}]"
    named = [r for r in failed if tag in r["message"]]
    counts["caught"] = bool(failed)
    counts["named"] = bool(named)
    counts["public"] = any(r["suite"] == "public" for r in named)  # named by what a class release ships
    if not failed:
        return False, "the suite passes on this mutant", counts
    if not named:
        return False, f"no failure message names {tag}", counts
    wrong = wrongly_named(item.mistake, records, coincidences)
    if wrong:
        return False, f"failures name another mistake than {tag} (mistake names must be true): {wrong[:3]}", counts
    return True, "", counts


# Kinds of run, in the order the timing line names them (with the names it uses).
KINDS = {
    "reference": "reference",
    "sandboxed": "sandboxed",
    "stub": "stubs",
    "mutant": "mutants",
    "alternative": "alternatives",
    "trivial": "trivial",
}
# Kinds run as a fresh `python -m pytest` (grader/warm.py's cold runs) rather than forked from the
# warm server. Empty: every kind, grading mode (sandboxed workers) included, runs correctly forked.
COLD_KINDS: frozenset[str] = frozenset()
SLOWEST = 10  # slowest reference tests reported after the suites

# The harness's own tests as runs of the pool, in the order they start (the longest first; measured
# in `make check`'s output, "harness ... s"). A file not named here goes into the last run.
HARNESS_RUNS = (
    ("test_nbgrader_roundtrip.py",),
    ("test_hostile.py",),
    ("test_classroom.py", "test_release.py", "test_nbgrader_course.py"),  # the `released` fixture, built once
    ("test_gradescope_run.py",),
    ("test_classes_at_scale.py",),
    ("test_bounds.py",),
)
HARNESS_LIMIT = 3600.0  # seconds of wall-clock time per harness run (its tests have their own limits)


def harness_runs() -> list[list[str]]:
    """The files of grader/tests grouped into runs (HARNESS_RUNS, then every other file together)."""
    folder = paths.ROOT / "grader" / "tests"
    files = sorted(p.name for p in folder.glob("test_*.py"))
    groups = [[f for f in group if f in files] for group in HARNESS_RUNS]
    named = {f for group in groups for f in group}
    groups.append([f for f in files if f not in named])
    return [[str(folder / f) for f in group] for group in groups if group]


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Inside, SIGTERM raises KeyboardInterrupt as ^C does, so that `with` blocks unwind: the warm
    server kills its runs and temporary folders are removed. Outside the main thread it does nothing
    (only the main thread may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _durations_and_summary(output: str) -> str:
    """From a passing pytest run's output: its "slowest durations" block and its last line."""
    lines = output.rstrip().splitlines()
    at = next((i for i, line in enumerate(lines) if "slowest" in line and "durations" in line), len(lines))
    block = [line for line in lines[at + 1 :] if re.match(r"\d+\.\d+s ", line)]
    return "\n".join([*block, lines[-1] if lines else "(no output)"])


def slowest_tests(records: list[dict], n: int = SLOWEST) -> list[tuple[float, str]]:
    """The n longest (seconds, nodeid) among records (setup, call and teardown together)."""
    return sorted(((r.get("duration", 0.0), r["nodeid"]) for r in records), reverse=True)[:n]


def run(
    topics: list[str] | None = None,
    jobs: int | None = None,
    timings: dict | None = None,
    timeout: float = 600,
    harness: bool = False,
) -> int:
    """Check `topics` (all by default) with `jobs` runs at once (one per core by default), each run
    killed after `timeout` seconds; with `harness`, grader/tests too (harness_runs, first in the
    queue). Prints a line per topic (and harness run) as it finishes, then every run's verdict,
    the kill table, the slowest reference tests, the harness tests' reports and the problems.
    Returns 0 when all is honest and the harness tests pass, else 1. `timings`, if given, receives
    seconds: "suites" (this whole call), per kind of run the run time summed over its runs, and
    "harness" (the harness runs summed; runs overlap: "workers" at a time)."""
    start = time.monotonic()
    topics = topics or catalog.names()
    problems: list[str] = []
    where: dict[str, str] = {}
    problems += [f"stubs: {p}" for p in stale_stubs(committed=True, where=where)]
    problems += [f"boundary: {p}" for p in boundary_problems()]
    generated = [t for t in catalog.names() if where.get(t, "").startswith("generated")]
    if not generated:
        print("Stubs judged as committed (git HEAD:exercises/), never the working files in exercises/.")
    else:
        print(
            f"Stubs judged as committed (git HEAD:exercises/) where there is one; generated from solutions/ "
            f"for {', '.join(generated)} (not in a git HEAD here). The working files in exercises/ are not read."
        )
    workers = jobs or max(1, os.cpu_count() or 1)
    seconds = dict.fromkeys(KINDS, 0.0)
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="kata-check-") as tmp:
        tmp = Path(tmp)
        all_jobs = [(topic, *job) for topic in topics for job in _topic_jobs(topic, tmp)]
        all_jobs.sort(key=lambda job: job[1] != "reference")  # the references first: the others read their answers
        (tmp / "runs").mkdir()
        reports = [tmp / "runs" / f"report-{i}.json" for i in range(len(all_jobs))]
        margin_files = [tmp / "runs" / f"margins-{i}.json" for i in range(len(all_jobs))]

        # The answer key (grader/answers.py): the reference run records its results for the public
        # tests, and every other run of the topic reads them as a class release does, so the kill
        # table below is what the released public tests (with the hidden ones live) catch and name.
        (tmp / "answers").mkdir()
        keyed = {t for t in topics if (paths.topic_tests(t) / "key.py").is_file()}
        reference_at = {job[0]: i for i, job in enumerate(all_jobs) if job[1] == "reference"}

        def extra(topic: str, kind: str, index: int) -> tuple[str, ...]:
            flags: tuple[str, ...] = ()
            if topic in keyed:
                where = tmp / "answers" / f"{topic}.pt"
                flags += (f"--kata-record={where}",) if kind == "reference" else (f"--kata-answers={where}",)
            if kind == "sandboxed":
                flags += ("--kata-sandbox",)
            if kind in ("reference", "alternative"):  # correct code: how much tolerance it uses
                flags += (f"--kata-margins={margin_files[index]}",)
            return flags

        runs = [
            (runner.pytest_args(topic, str(folder), "all", report, extra(topic, kind, i)), kind in COLD_KINDS)
            for i, ((topic, kind, _label, folder, _item), report) in enumerate(zip(all_jobs, reports))
        ]
        after = [
            None if kind == "reference" or topic not in keyed else reference_at[topic] for topic, kind, *_ in all_jobs
        ]
        verdicts: list = [None] * len(all_jobs)
        left = {t: sum(1 for j in all_jobs if j[0] == t) for t in topics}
        began: dict[str, float] = {}

        def ended(index: int, result: tuple[int, str, float]) -> None:
            """Judge a run as it ends; print the topic's progress line when its last run ends."""
            topic, kind, _label, _folder, item = all_jobs[index]
            status, output, took = result
            records = runner.read_report(reports[index])
            coincidences = getattr(importlib.import_module(f"tests.{topic}.mutants"), "COINCIDENCES", {})
            verdicts[index] = (*_judge(kind, item, records, status, output, coincidences), records)
            seconds[kind] += took
            now = time.monotonic()
            began[topic] = min(began.get(topic, now - took), now - took)
            left[topic] -= 1
            if left[topic] == 0:
                mine = [v for j, v in zip(all_jobs, verdicts) if j[0] == topic]
                bad = sum(1 for v in mine if not v[0])
                print(
                    f"{topic}: {len(mine)} runs in {now - began[topic]:.1f} s, "
                    f"{'ok' if not bad else f'{bad} with problems'}",
                    flush=True,
                )

        groups = harness_runs() if harness else []
        harness_results: list = [None] * len(groups)
        first = len(runs)  # the harness runs' indexes, after the suites'
        runs += [
            ([*group, f"--rootdir={paths.ROOT}", "--durations=5", *runner.QUIET_PLUGINS], False) for group in groups
        ]
        after += [None] * len(groups)
        limits = [None] * first + [HARNESS_LIMIT] * len(groups)
        order = list(range(first, len(runs))) + list(range(first))  # the harness runs start first

        def ended_any(index: int, result: tuple[int, str, float]) -> None:
            if index < first:
                ended(index, result)
                return
            harness_results[index - first] = result
            names = " ".join(Path(f).name for f in groups[index - first])
            print(f"harness {names}: {'passed' if result[0] == 0 else 'FAILED'} ({result[2]:.0f} s)", flush=True)

        warm.run_suites(
            [runs[i] for i in order],
            tmp / "runs",
            workers,
            timeout,
            lambda i, result: ended_any(order[i], result),
            after=[None if after[i] is None else order.index(after[i]) for i in order],
            limits=[limits[i] for i in order],
        )
        recorded: dict[str, dict[str, dict[str, float]]] = {}  # topic -> variant -> test -> share
        for (topic, kind, label, _folder, _item), path in zip(all_jobs, margin_files):
            if kind in ("reference", "alternative"):
                recorded.setdefault(topic, {})[label] = margins.read(path)

    kill_rows = []
    reference_records = []
    for (topic, kind, label, _folder, item), (ok, problem, counts, records) in zip(all_jobs, verdicts):
        if kind == "reference":
            reference_records += records
        if kind == "mutant":
            kill_rows.append(
                (
                    topic,
                    label,
                    item.mistake,
                    counts.get("caught", False),
                    counts.get("named", False),
                    counts.get("public", False),
                    counts.get("failed", 0),
                    len(records),
                )
            )
        else:
            print(
                f"{topic:10} {kind:11} {label:24} {'ok' if ok else 'PROBLEM'} "
                f"({counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
                f"{counts['skipped']} skipped)"
            )
        if not ok:
            problems.append(f"{topic} {kind} {label}: {problem}")

    print("\nKill table (each known mistake applied to the reference):")
    print(f"{'topic':10} {'mutant':26} {'must be named as':26} {'caught':7} {'named':6} {'by public':10} failing tests")
    for topic, label, mistake, caught, named, public, failed, total in kill_rows:
        print(
            f"{topic:10} {label:26} {mistake:26} {'yes' if caught else 'NO':7} "
            f"{'yes' if named else 'NO':6} {'yes' if public else 'no':10} {failed}/{total}"
        )
    caught = sum(1 for r in kill_rows if r[3] and r[4])
    public = sum(1 for r in kill_rows if r[5])
    print(
        f"{caught}/{len(kill_rows)} mutants caught and named; {public} named by the public tests as a class "
        f"release runs them (answer key stored).  ({time.monotonic() - start:.1f} s)"
    )
    print(
        f"\nMargins: the most of a tolerance any correct variant uses (at most {margins.LIMIT:g}; "
        f"`make margins topic=T` lists every test):"
    )
    for topic in topics:
        worst = margins.worst_per_test(recorded.get(topic, {}))
        top = max(worst.items(), key=lambda kv: kv[1][0], default=None)
        if top is None:
            print(f"{topic:10}   exact  (no tolerance comparisons)")
            continue
        test, (value, variant) = top
        print(f"{topic:10} {value:7.3f}  {variant:24} {test}")
        if value > margins.LIMIT:
            problems.append(
                f"{topic} margins: {variant} uses {value:.2f} of a tolerance in {test} (more than "
                f"{margins.LIMIT:g}: a correct variant this close to failing makes the test flaky)"
            )
    print(
        "\nSlowest tests on the reference (learner mode), setup and teardown included (under `make check` the"
        " harness tests run alongside, so these times are up to twice a quiet machine's):"
    )
    for took, nodeid in slowest_tests(reference_records):
        print(f"{took:8.2f} s  {nodeid}")
    for group, (status, output, took) in zip(groups, harness_results):
        names = " ".join(os.path.relpath(f, paths.ROOT) for f in group)
        if status == 0:  # pytest's slowest tests and its closing line
            print(f"\nHarness tests {names} ({took:.0f} s):\n" + _durations_and_summary(output))
        else:
            print(f"\nHarness tests {names} FAILED (exit {status}, {took:.0f} s):\n{output[-20000:]}")
            problems.append(f"harness tests failed: {names} (output above)")
    if timings is not None:
        timings.update(
            seconds,
            suites=time.monotonic() - start,
            workers=workers,
            harness=sum(r[2] for r in harness_results if r is not None),
        )
    if problems:
        print("\nProblems:")
        for p in problems:
            print(f"- {p}")
        return 1
    print("All suites are honest: reference passes, stub fails, every mistake is caught and named.")
    return 0
