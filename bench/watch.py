"""Benchmark: how soon `make watch` reports after a save, per topic, next to a cold `make test`.

    make bench topic=watch                          every topic, the reference (a correct file)
    python bench/watch.py --topics adam --runs 20   some topics; --impl DIR for another folder

For each topic a correct file (by default the reference, solutions/T.py) is copied to a temporary
folder and watched; a thread rewrites it `--runs` times at random moments of the 0.1 s poll cycle,
and each time the seconds from the end of the write to the end of the printed report are measured
(the watch's real loop: poll, fork, pytest, report; the report goes to a buffer). Printed per topic:
the median and worst of those, a cold `python -m grader test T` (median of 3 fresh processes), and
their ratios to `python -c "import torch"` in wall and in CPU time, all measured in the same run.
Topics come from the catalog, so a topic added later is measured too. Goal (issue 24): adam's
median at most 0.5 s; a cold test within 1.5x the torch import.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import catalog, watch  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder of correct files (default: solutions)")
    parser.add_argument("--runs", type=int, default=20, help="saves per topic (default 20)")
    parser.add_argument("--topics", nargs="*", help="only these topics (default: every topic in the catalog)")
    args = parser.parse_args(argv)
    topics = args.topics or catalog.names()
    unknown = [t for t in topics if t not in catalog.names()]
    if unknown or args.runs < 1:
        print(f"Unknown topics: {', '.join(unknown)}." if unknown else "--runs must be at least 1.")
        return 2
    return watch.benchmark(topics, args.runs, args.impl)


if __name__ == "__main__":
    sys.exit(main())
