"""Beyond one machine: `--shard I/N` grades one of N deterministic slices of a class, and
`python -m grader merge OUT... --out DIR` joins the shards' outputs into one set of reports.

The slices: the class's students sorted by name (the names grades.csv uses, which depend only on
the class folder: grader/classgrade.py's discover), and student number k (from 0) goes to shard
k mod N + 1. Every worker must see the same class folder; the slices then cover the class exactly
once, are balanced to one student, and need no coordination. Each shard's OUT gets the usual
grades.csv, grades.json and feedback/ for its slice, plus shard.json: the shard, the whole class's
student names, the topics and the entries not graded. `merge` checks that the outputs are the N
shards of one class, graded with the same topics (every shard once, nobody missing or twice), and
writes grades.csv, grades.json and feedback/ as one run over the whole class would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MANIFEST = "shard.json"


class ShardError(Exception):
    """Bad --shard or merge input: one sentence for the instructor."""


def parse(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N), 1 <= I <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise ShardError(f"--shard takes I/N (the I-th of N slices, counted from 1), not {text!r}.")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text}: I must be between 1 and N (shards are counted from 1).")
    return index, count


def select(entries: list, shard: tuple[int, int] | None) -> list:
    """The shard's slice of discover()'s (student, path) list, which is sorted by student name."""
    if shard is None:
        return list(entries)
    index, count = shard
    ordered = sorted(entries, key=lambda e: e[0])
    return [e for k, e in enumerate(ordered) if k % count == index - 1]


def write_manifest(out: Path, shard: tuple[int, int], students: list[str], topics: list[str], skipped: list) -> None:
    from grader.resume import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "shard": list(shard),
        "class": sorted(students),
        "topics": list(topics),
        "skipped": skipped,
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1))


def _read(folder: Path) -> tuple[dict, dict]:
    for name in (MANIFEST, "grades.json"):
        if not (folder / name).is_file():
            what = "a shard's output (made with --shard I/N)" if name == MANIFEST else "a finished shard"
            raise ShardError(f"{folder} has no {name}: it is not {what}.")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        grades = json.loads((folder / "grades.json").read_text(encoding="utf-8"))
        index, count = (int(x) for x in manifest["shard"])
        manifest["shard"] = (index, count)
        return manifest, grades
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShardError(
            f"{folder}: its {MANIFEST} or grades.json cannot be read ({exc.__class__.__name__})."
        ) from None


def merge(folders: list[Path], out: Path) -> dict:
    """Join the shard outputs in `folders` into `out`; returns a summary {"students", "shards"}."""
    from grader import classgrade

    if not folders:
        raise ShardError("Which shard outputs? Give the folders each shard wrote (--out of each --shard I/N run).")
    read = [(folder, *_read(folder)) for folder in folders]
    first_folder, first, _ = read[0]
    count = first["shard"][1]
    seen: dict[int, Path] = {}
    for folder, manifest, _ in read:
        index, n = manifest["shard"]
        if n != count:
            raise ShardError(f"{folder} is shard {index}/{n}, {first_folder} is one of {count}: not the same split.")
        if manifest["class"] != first["class"] or manifest["topics"] != first["topics"]:
            raise ShardError(
                f"{folder} and {first_folder} are shards of different classes or topics "
                "(every shard must grade the same class folder with the same --topics)."
            )
        if index in seen:
            raise ShardError(f"{seen[index]} and {folder} are both shard {index}/{count}.")
        seen[index] = folder
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise ShardError(f"Shard(s) {', '.join(f'{i}/{count}' for i in missing)} are missing: give all {count}.")
    results = [s for _, _, grades in read for s in grades.get("students", [])]
    students = sorted(r["student"] for r in results)
    if students != first["class"]:
        lost = sorted(set(first["class"]) - set(students))
        extra = sorted(set(students) - set(first["class"]))
        twice = sorted({s for s in students if students.count(s) > 1})
        raise ShardError(
            "The shards' grades do not add up to the class: "
            + "; ".join(
                part
                for part in (
                    f"no result for {', '.join(lost[:10])}" if lost else "",
                    f"not in the class: {', '.join(extra[:10])}" if extra else "",
                    f"graded twice: {', '.join(twice[:10])}" if twice else "",
                )
                if part
            )
            + " (was a shard interrupted? run it again with --resume)."
        )
    results.sort(key=lambda r: r["student"])
    found = classgrade.Submissions(
        [], {r["student"]: r.get("original", r["student"]) for r in results}, first["skipped"]
    )
    classgrade.write_reports(results, first["topics"], out, found)
    return {"students": len(results), "shards": count}
