"""A generated class of submissions: references, stubs and known mistakes (mutants) over the topics.

    python -m grader.classgen OUT --students N [--seed S] [--topics T ...]

Each student is a folder OUT/<student>/ holding one `<topic>.py` per topic, each drawn (with a seed,
so the same command makes the same class) as the reference, the stub, or one of the topic's mutants
(tests/<topic>/mutants.py); the first three students hold each of the three once per topic.
`--manifest FILE` records what each student got (outside the class folder, where the grader would
list it as an entry it does not grade). Used by the tests of
class grading (grader/tests/test_classes_at_scale.py) and by the measurement in docs/grading.md.
Topics whose reference, suite or mutant list is not there (a topic being written) are left out and
named in the manifest's "left_out".
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from pathlib import Path

from grader import catalog, paths, stubs
from grader.mistakes import apply_patch

KINDS = ("reference", "stub", "mutant")


def complete_topics(topics: list[str] | None = None) -> list[str]:
    """The topics (of `topics`, default every topic in the catalog) that have a reference, a suite
    and a mutant list: the ones a class can be generated for."""
    found = []
    for topic in topics or catalog.names():
        folder = paths.topic_tests(topic)
        if (paths.SOLUTIONS / f"{topic}.py").is_file() and (folder / "test_public.py").is_file():
            if (folder / "mutants.py").is_file():
                found.append(topic)
    return found


def versions(topic: str) -> dict[str, str]:
    """{kind: source} for the topic: "reference", "stub", and "mutant:<id>" for each mutant."""
    reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    out = {"reference": stubs.strip_markers(reference), "stub": stubs.make_stub(reference, topic)}
    for mutant in importlib.import_module(f"tests.{topic}.mutants").MUTANTS:
        patched = apply_patch(reference, mutant.patch, f"{topic} mutant {mutant.id}")
        out[f"mutant:{mutant.id}"] = stubs.strip_markers(patched)
    return out


def make_class(
    out: Path, students: int, seed: int = 0, topics: list[str] | None = None, per_student: int | None = None
) -> dict:
    """Write `students` submission folders into `out` (created; must not hold student-xxx folders
    already); returns the manifest {"students": {name: {topic: kind}}, "topics", "left_out"}.
    `per_student` K: each student holds K topics only (student i the topics i*K .. i*K+K-1 of the
    catalog order, cycling), as a course whose every assignment is one topic; default: every topic."""
    chosen = complete_topics(topics)
    left_out = [t for t in (topics or catalog.names()) if t not in chosen]
    if not chosen:
        raise ValueError("none of the topics has a reference, a suite and mutants to generate from")
    rng = random.Random(seed)
    sources = {t: versions(t) for t in chosen}
    manifest: dict = {"topics": chosen, "left_out": left_out, "seed": seed, "students": {}}
    out.mkdir(parents=True, exist_ok=True)
    for i in range(students):
        name = f"student-{i:03d}"
        folder = out / name
        folder.mkdir()
        got = {}
        mine = chosen if not per_student else [chosen[(i * per_student + k) % len(chosen)] for k in range(per_student)]
        for j, topic in enumerate(mine):
            # The first three students hold each kind once per topic (rotated), so every class of
            # three or more has all three kinds of every topic; the rest are drawn 2:1:2.
            kind = KINDS[(i + j) % len(KINDS)] if i < len(KINDS) else rng.choices(KINDS, weights=(2, 1, 2))[0]
            if kind == "mutant":
                kind = rng.choice(sorted(k for k in sources[topic] if k.startswith("mutant:")) or ["reference"])
            (folder / f"{topic}.py").write_text(sources[topic][kind], encoding="utf-8")
            got[topic] = kind
        manifest["students"][name] = got
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.classgen", description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--topics", nargs="*")
    p.add_argument("--manifest", help="write what each student got to this JSON file")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"{out} is not empty; choose a new folder (nothing was written).", file=sys.stderr)
        return 2
    unknown = [t for t in args.topics or [] if t not in catalog.names()]
    if unknown or args.students < 1:
        print(f"Unknown topics {unknown} or fewer than one student. Topics: {', '.join(catalog.names())}.")
        return 2
    manifest = make_class(out, args.students, args.seed, args.topics)
    if args.manifest:
        Path(args.manifest).write_text(json.dumps(manifest, indent=1))
    kinds = [k.split(":")[0] for s in manifest["students"].values() for k in s.values()]
    print(
        f"Wrote {args.students} submissions over {len(manifest['topics'])} topics to {out} "
        f"({', '.join(f'{kinds.count(k)} {k}' for k in KINDS)})"
        + (f"; left out (incomplete): {', '.join(manifest['left_out'])}" if manifest["left_out"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
