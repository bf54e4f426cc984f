"""Benchmark of grading mode: `make bench topic=grading` (or `python bench/grading.py --n 50 --jobs 2`).

Generates N submissions, each a seeded mixture over every topic of the reference, the stub and the
topic's mutants (a topic file may also be left out), then

1. grades them as a class in grading mode (sandboxed workers), `--jobs J`, and
2. runs the same suites on the same files in plain in-process pytest (one pytest process per
   submission, J at a time, no sandbox),

and prints the total wall-clock time of each, the mean per submission, and their ratio (the goal of
the grader issue: sandboxed at most 1.5 times in-process). Not a test.
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import catalog, classgrade, paths, runner, stubs  # noqa: E402
from grader.mistakes import apply_patch  # noqa: E402


def make_submissions(folder: Path, n: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    made = []
    for i in range(n):
        target = folder / f"student{i:03d}"
        target.mkdir(parents=True)
        for topic in catalog.names():
            reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
            mutants = importlib.import_module(f"tests.{topic}.mutants").MUTANTS
            choice = rng.choices(["reference", "stub", "mutant", "absent"], weights=[4, 2, 3, 1])[0]
            if choice == "absent":
                continue
            if choice == "reference":
                text = stubs.strip_markers(reference)
            elif choice == "stub":
                text = stubs.make_stub(reference)
            else:
                m = rng.choice(mutants)
                text = stubs.strip_markers(apply_patch(reference, m.patch, m.id))
            (target / f"{topic}.py").write_text(text, encoding="utf-8")
        made.append(target)
    return made


def inprocess(folder: Path) -> float:
    """One plain pytest process over the suites of the topics the submission has."""
    start = time.time()
    topics = [t for t in catalog.names() if (folder / f"{t}.py").is_file()]
    files = [f for t in topics for f in runner.test_files(t, "all")]
    if files:
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                *files,
                f"--impl={folder}",
                f"--rootdir={paths.ROOT}",
                f"--kata-report={tmp}/r.json",
                *runner.QUIET_PLUGINS,
                "-q",
            ]
            subprocess.run(cmd, cwd=paths.ROOT, capture_output=True)
    return time.time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--impl", help="ignored (the benchmark generates its own submissions)")
    args = parser.parse_args()
    if not paths.SOLUTIONS.is_dir() or not all((paths.TESTS / t / "mutants.py").is_file() for t in catalog.names()):
        print(
            "This benchmark builds submissions from solutions/ and the mutants: it runs in the project, "
            "not in a released copy.",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="kata-bench-grading-") as tmp:
        klass = Path(tmp) / "class"
        subs = make_submissions(klass, args.n, args.seed)
        print(f"{args.n} generated submissions over {len(catalog.names())} topics, --jobs {args.jobs}")
        start = time.time()
        status = classgrade.grade_class(klass, Path(tmp) / "out", jobs=args.jobs, quiet=True)
        sandboxed = time.time() - start
        start = time.time()
        with ThreadPoolExecutor(args.jobs) as pool:
            per = list(pool.map(inprocess, subs))
        plain = time.time() - start
        import json

        data = json.loads((Path(tmp) / "out" / "grades.json").read_text())
        seconds = [s["seconds"] for s in data["students"]]
    print(
        f"sandboxed grading: {sandboxed:.1f} s in all, {sum(seconds) / len(seconds):.2f} s per submission "
        f"(exit status {status})"
    )
    print(f"in-process pytest: {plain:.1f} s in all, {sum(per) / len(per):.2f} s per submission")
    print(f"ratio sandboxed / in-process: {sandboxed / plain:.2f} (goal: at most 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
