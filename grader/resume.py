"""Nothing lost when a class run dies: each student's result is kept as soon as it is final.

A class run (grader/classgrade.py, `--format csv`) writes OUT/students/<student>.json the moment a
student's grading ends, atomically (written to a temporary file in the same folder, flushed to disk,
then renamed over the final name), so a run killed at any moment leaves only whole results.
OUT/students/run.json records what the results were graded with (the topics, the per-call time
limit, the shard). `--resume` keeps the results that match: a student is graded again only when
they have no result, a result with a grader failure, or a submission whose staged files differ from
the ones the result was graded from (the result's `staged_sha256`). Without `--resume` the folder
is emptied first. grades.csv, grades.json and feedback/ are written from these results at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

FOLDER = "students"
RUN_FILE = "run.json"


class ResumeError(Exception):
    """The results in OUT cannot be resumed: one sentence for the instructor."""


def staged_sha256(staged: Path, notes: dict[str, str]) -> str:
    """A fingerprint of what was taken from a submission: every staged file's name and bytes, and
    the notes on the files left out."""
    digest = hashlib.sha256()
    for path in sorted(staged.glob("*.py")) if staged.is_dir() else []:
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(json.dumps(notes, sort_keys=True).encode())
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a run resumed after a kill) sees either the old
    file or the whole new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Store:
    """OUT/students/: one JSON file per graded student, and run.json with the run's settings."""

    def __init__(self, out: Path, settings: dict):
        self.folder = out / FOLDER
        self.settings = settings

    def start(self, resume: bool) -> dict[str, dict]:
        """Prepare the folder; returns the kept results {student: result} (none without `resume`).
        Raises ResumeError when `resume` finds results graded with other settings."""
        if resume and (self.folder / RUN_FILE).is_file():
            try:
                before = json.loads((self.folder / RUN_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                before = None
            if before != self.settings:
                raise ResumeError(
                    f"{self.folder} holds results graded with other settings ({_differences(before, self.settings)}); "
                    "resume with the same topics, --timeout and --shard, or drop --resume to grade everyone again."
                )
            return self._load()
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.iterdir():  # ours: results of an earlier run, and temporary files
            if old.suffix in (".json", ".tmp") and old.is_file():
                old.unlink()
        write_atomic(self.folder / RUN_FILE, json.dumps(self.settings, indent=1))
        return {}

    def _load(self) -> dict[str, dict]:
        kept = {}
        for path in sorted(self.folder.glob("*.json")):
            if path.name == RUN_FILE:
                continue
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # cannot happen with write_atomic; a hand-edited file is graded again
            if isinstance(result, dict) and result.get("student") == path.stem:
                kept[path.stem] = result
        for tmp in self.folder.glob(".*.tmp"):  # a write the kill interrupted
            tmp.unlink()
        return kept

    def save(self, result: dict) -> None:
        write_atomic(self.folder / f"{result['student']}.json", json.dumps(result, indent=1))


def still_good(result: dict | None, fingerprint: str) -> bool:
    """Whether a kept result stands: it exists, had no grader failure, and was graded from the same
    staged files."""
    return bool(result) and not result.get("grader_problem") and result.get("staged_sha256") == fingerprint


def _differences(before: dict | None, now: dict) -> str:
    if not isinstance(before, dict):
        return "its run.json cannot be read"
    keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    return "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in keys)


def split(entries: list, kept: dict[str, dict], topics: list[str], scratch: Path) -> tuple[dict[str, dict], list]:
    """({student: kept result} that still stand, [(student, path)] to grade) for discover()'s
    entries: each student with a result is staged into `scratch` to check that the submission is
    the one that result was graded from."""
    from grader.classgrade import STAGING_NOTES, stage

    keep, todo = {}, []
    for student, entry in entries:
        result = kept.get(student)
        if result:
            try:
                notes = {**STAGING_NOTES.get(str(entry), {}), **stage(entry, scratch / student, topics)}  # as grade_one
                fingerprint = staged_sha256(scratch / student, notes)
            except OSError:
                fingerprint = ""
            if still_good(result, fingerprint):
                keep[student] = result
                continue
        todo.append((student, entry))
    return keep, todo
