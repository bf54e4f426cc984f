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
Each suite runs in a child process; runs go in parallel on the machine's cores.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import catalog, paths, runner, stubs
from grader.mistakes import apply_patch
from grader.scoring import NOT_WRITTEN


def stale_stubs() -> list[str]:
    """Problems with exercises/ compared with what solutions/ generates."""
    problems = []
    for topic in catalog.names():
        ref = paths.SOLUTIONS / f"{topic}.py"
        stub = paths.EXERCISES / f"{topic}.py"
        if not ref.is_file():
            problems.append(f"{topic}: solutions/{topic}.py is missing")
            continue
        expected = stubs.make_stub(ref.read_text(encoding="utf-8"), str(ref))
        if not stub.is_file():
            problems.append(f"{topic}: exercises/{topic}.py is missing; run `make stubs`")
        elif stub.read_text(encoding="utf-8") != expected:
            problems.append(f"{topic}: exercises/{topic}.py differs from the stub generated from "
                            f"solutions/{topic}.py; run `make stubs`")
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
    jobs = [("reference", "reference", paths.SOLUTIONS, None),
            ("sandboxed", "reference, grading mode", paths.SOLUTIONS, None)]
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
                raise ValueError(f"{topic} mutant {item.id} names the mistake {item.mistake!r}, which "
                                 f"tests/{topic}/mistakes.py does not list")
            source = apply_patch(reference, item.patch, f"{topic} {kind} {item.id}")
            (folder / f"{topic}.py").write_text(stubs.strip_markers(source))
            jobs.append((kind, item.id, folder, item))
    for item in getattr(module, "TRIVIAL", []):
        folder = tmp / topic / f"trivial-{item.id}"
        folder.mkdir(parents=True)
        (folder / f"{topic}.py").write_text(stubs.fill_blocks(reference, list(item.bodies)))
        jobs.append(("trivial", item.id, folder, item))
    return jobs


def _judge(kind: str, item, records: list[dict], status: int, output: str) -> tuple[bool, str, dict]:
    """(ok, problem, row) for one run."""
    counts = {o: sum(1 for r in records if r["outcome"] == o) for o in ("passed", "failed", "error", "skipped")}
    if not records:
        return False, f"no test results (exit {status}): {output[-800:]}", counts
    if kind in ("reference", "alternative", "sandboxed"):
        bad = [r for r in records if r["outcome"] != "passed"]
        if bad:
            first = bad[0]
            return False, (f"{len(bad)} tests did not pass, e.g. {first['nodeid']} ({first['outcome']}): "
                           f"{first['message'][:600]}"), counts
        return True, "", counts
    if kind == "trivial":
        bad = [r for r in records if r["outcome"] != "failed"]
        if bad:
            return False, (f"{len(bad)} tests do not fail on this do-nothing implementation, e.g. "
                           f"{bad[0]['nodeid']} ({bad[0]['outcome']})"), counts
        return True, "", counts
    if kind == "stub":
        bad = [r for r in records if r["outcome"] != "failed" or NOT_WRITTEN not in r["message"]]
        if bad:
            first = bad[0]
            return False, (f"{len(bad)} tests do not fail cleanly on the stub, e.g. {first['nodeid']} "
                           f"({first['outcome']}): {first['message'][:600]}"), counts
        return True, "", counts
    # mutant
    failed = [r for r in records if r["outcome"] == "failed"]
    tag = f"[{item.mistake}]"
    named = [r for r in failed if tag in r["message"]]
    counts["caught"] = bool(failed)
    counts["named"] = bool(named)
    if not failed:
        return False, "the suite passes on this mutant", counts
    if not named:
        return False, f"no failure message names {tag}", counts
    return True, "", counts


def run(topics: list[str] | None = None, jobs: int | None = None) -> int:
    start = time.time()
    topics = topics or catalog.names()
    problems: list[str] = []
    problems += [f"stubs: {p}" for p in stale_stubs()]
    problems += [f"boundary: {p}" for p in boundary_problems()]
    workers = jobs or max(1, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="kata-check-") as tmp:
        all_jobs = [(topic, *job) for topic in topics for job in _topic_jobs(topic, Path(tmp))]
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda j: runner.run_subprocess(
                j[0], str(j[3]), "all", extra=("--kata-sandbox",) if j[1] == "sandboxed" else ()), all_jobs))
    kill_rows = []
    for (topic, kind, label, _folder, item), (status, records, output) in zip(all_jobs, results):
        ok, problem, counts = _judge(kind, item, records, status, output)
        if kind == "mutant":
            kill_rows.append((topic, label, item.mistake, counts.get("caught", False),
                              counts.get("named", False), counts.get("failed", 0), len(records)))
        else:
            print(f"{topic:10} {kind:11} {label:24} {'ok' if ok else 'PROBLEM'} "
                  f"({counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
                  f"{counts['skipped']} skipped)")
        if not ok:
            problems.append(f"{topic} {kind} {label}: {problem}")

    print("\nKill table (each known mistake applied to the reference):")
    print(f"{'topic':10} {'mutant':26} {'must be named as':26} {'caught':7} {'named':6} failing tests")
    for topic, label, mistake, caught, named, failed, total in kill_rows:
        print(f"{topic:10} {label:26} {mistake:26} {'yes' if caught else 'NO':7} "
              f"{'yes' if named else 'NO':6} {failed}/{total}")
    caught = sum(1 for r in kill_rows if r[3] and r[4])
    print(f"{caught}/{len(kill_rows)} mutants caught and named.  ({time.time() - start:.1f} s)")
    if problems:
        print("\nProblems:")
        for p in problems:
            print(f"- {p}")
        return 1
    print("All suites are honest: reference passes, stub fails, every mistake is caught and named.")
    return 0
