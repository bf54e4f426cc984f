"""Benchmark: a class graded at scale (issue 25): `python bench/class_scale.py --students 20 --jobs 2`.

Generates a class (grader/classgen.py: each student a seeded mixture of the reference, the stub and
the mutants of every topic), grades it with `python -m grader grade CLASS --out OUT --jobs J` as its
own process, and samples every process of that run every 0.2 s from /proc: the peak resident memory
(VmHWM) of the grader itself, of the largest trusted pytest process, and of the largest sandboxed
worker. Prints the wall time, seconds per submission, the CPU seconds of the processes the grader
reaped (a lower bound: sandboxed workers are not all reaped through that chain), and `python -c
"import torch"` measured in the same run as the baseline the times are also given against.
`--topics-per-student K` gives each submission K topics (as a course whose assignments are single
topics) instead of every topic. Projections (printed, labelled as such) from the wall time: a job
slot's seconds per submission (wall x jobs / submissions); 500 students on a 16-core machine with
--jobs 16; Gradescope, one container per submission at its default half a CPU. Not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import classgen  # noqa: E402


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                todo += map(int, Path(f"/proc/{current}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return found


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kind(pid: int, grader: int) -> str:
    if pid == grader:
        return "grader"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
    if "grader.worker" in cmd:
        return "worker"
    if "python" in cmd:
        return "trusted pytest (or its warm server)"
    return ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--topics-per-student",
        type=int,
        default=None,
        help="each submission holds this many topics (cycling through the catalog); default every topic",
    )
    args = p.parse_args(argv)
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    torch_s = time.monotonic() - start
    with tempfile.TemporaryDirectory(prefix="kata-scale-") as tmp:
        manifest = classgen.make_class(
            Path(tmp) / "class", args.students, args.seed, per_student=args.topics_per_student
        )
        cmd = [sys.executable, "-m", "grader", "grade", f"{tmp}/class", "--out", f"{tmp}/out", "--jobs", str(args.jobs)]
        start = time.monotonic()
        before = os.times()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peaks: dict[str, int] = {}
        while proc.poll() is None:
            for pid in _tree(proc.pid):
                kind = _kind(pid, proc.pid)
                if kind:
                    peaks[kind] = max(peaks.get(kind, 0), _hwm_kib(pid))
            time.sleep(0.2)
        wall = time.monotonic() - start
        after = os.times()
        summary = proc.stdout.read().strip().splitlines()[-1:]
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    n = args.students
    held = sum(len(topics) for topics in manifest["students"].values())
    print(
        f"{n} students over {len(manifest['topics'])} topics ({', '.join(manifest['topics'])}), {held} topic "
        f"files in all ({held / n:.1f} per submission), --jobs {args.jobs}"
    )
    kinds: dict[str, int] = {}
    for topics in manifest["students"].values():
        for kind in topics.values():
            kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
    print(f"  the files: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}")
    print(f"  grader: {summary[0] if summary else '(no summary)'} exit {proc.returncode}")
    per = wall / n
    print(f"  wall {wall:.0f} s: {per:.1f} s per submission ({per / torch_s:.1f}x `import torch`, {torch_s:.2f} s)")
    print(
        f"  CPU {cpu:.0f} s of the processes the grader reaped ({cpu / n:.1f} s per submission, {cpu / held:.1f} s "
        "per topic file): a lower bound, since sandboxed workers are not all reaped through that chain"
    )
    for kind, kib in sorted(peaks.items()):
        print(f"  peak memory, {kind}: {kib / 1024:.0f} MiB")
    slot = wall * args.jobs / n  # seconds one of the `jobs` slots spends per submission
    print("Projections from these numbers (not measured), assuming each job keeps about one core busy:")
    print(f"  one submission takes {slot:.1f} s of a job slot ({slot * n / held:.1f} s per topic file)")
    print(f"  500 such submissions, 16 cores, --jobs 16: about {500 * slot / 16 / 60:.1f} min")
    print(
        f"  Gradescope, one container per submission at half a CPU: about {2 * slot:.0f} s each plus the "
        "container's start (containers run side by side)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
