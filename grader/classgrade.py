"""`python -m grader grade SUBMISSIONS --out DIR`: grade a class in grading mode (docs/design.md, grading model).

SUBMISSIONS is a folder with one entry per student (a folder or a .zip holding topic files at its
top or under `exercises/`, possibly inside one top-level folder), or a single submission folder.
For each student:

1. Stage: copy only the topic files (`<topic>.py` for each topic in the catalog) into a private
   folder. Symbolic links, files over MAX_FILE bytes and anything else (a conftest.py, notes,
   data) are left behind; a zip is read member by member, never extracted.
2. Run the suites in a fresh trusted pytest process, on a copy of tests/ made at the start of the
   run, with `--noconftest` and the harness loaded as a plugin, in grading mode (`--kata-sandbox`):
   the submission's code runs only in its sandboxed worker (grader/sandbox.py, grader/proxy.py).
3. Score with grader/scoring.py, the same definition `make grade` uses.

Then write DIR/grades.csv, DIR/grades.json and DIR/feedback/<student>.md (hidden tests listed by
name and result only). With `--format gradescope` (one submission) it writes DIR/results.json in
Gradescope's schema instead. Exit status 0 unless the grader itself failed for some student.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from grader import catalog, paths, runner, scoring, shards
from grader import resume as result_store

MAX_FILE = 1 << 20  # bytes per topic file
MAX_ARCHIVE = 64 << 20  # bytes per submitted .zip
MAX_MEMBERS = 10_000  # files in one submitted .zip
MAX_DIRECTORY = MAX_MEMBERS * 1024  # bytes of a submitted zip's central directory (its list of files)
MAX_NAME = 90  # characters of a student's name in the reports
SUBMISSION_LIMIT = 3600  # seconds of wall clock for one student's whole run (a grader failure beyond)
# {entry path: {topic: note}} from a converter that staged the entry itself (notebooks: a notebook
# that is not valid JSON has no <topic>.py; grader/notebook_grading.py says why here).
STAGING_NOTES: dict[str, dict[str, str]] = {}


class GradeError(Exception):
    """Bad input to the grade command: one sentence for the instructor."""


class Submissions(list):
    """What discover() finds: a list of (student, path) sorted by student name, as before, plus
    `originals` ({student: the entry's own name}) and `skipped` ([{"entry", "reason"}] for the
    entries of the class folder that are not graded, sorted by entry)."""

    def __init__(self, entries=(), originals: dict[str, str] | None = None, skipped: list[dict] | None = None):
        super().__init__(entries)
        self.originals = dict(originals or {})
        self.skipped = list(skipped or [])


# ---------------------------------------------------------------------------------------------------
# Finding and staging submissions


def _topic_names(names: list[str], topics: list[str]) -> dict[str, str]:
    """Map topic -> member name for the files of a submission. Accepted places, first found wins:
    `T.py`, `exercises/T.py`, and the same inside one top-level folder (`alice/T.py`,
    `alice/exercises/T.py`, as when a student zips their folder)."""

    def rank(name: str, wanted: str) -> int | None:
        parts = name.split("/")
        if parts[-1] != wanted:
            return None
        folders = parts[:-1]
        for i, shape in enumerate(([], ["exercises"])):
            if folders == shape:
                return i
        if len(folders) in (1, 2) and folders[1:] in ([], ["exercises"]) and not folders[0].startswith("__"):
            return 2 + len(folders)
        return None

    found: dict[str, str] = {}
    for topic in topics:
        ranked = sorted((r, n) for n in names if (r := rank(n, f"{topic}.py")) is not None)
        if ranked:
            found[topic] = ranked[0][1]
    return found


def is_single_submission(folder: Path, topics: list[str]) -> bool:
    return any((folder / f"{t}.py").is_file() or (folder / "exercises" / f"{t}.py").is_file() for t in topics)


def _shown(name: str, limit: int = 100) -> str:
    """A file name as reports show it: undecodable bytes as U+FFFD, control characters escaped,
    at most `limit` characters (names come from students)."""
    text = os.fsencode(name).decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip") and len(name) > 4


def _student_names(originals: list[str]) -> dict[str, str]:
    """{entry name: student name}. The clean name (_safe_name of the folder name, or of the zip's
    name without .zip) when no other entry cleans to the same name, ignoring case; otherwise the
    clean name, cut so the whole stays within MAX_NAME, + "-" + the first 8 hex digits of the
    SHA-256 of the entry's name (more digits if that is taken). Depends only on the set of names,
    never on the order they were listed in."""
    clean = {o: _safe_name(o[:-4] if _is_zip_name(o) else o) for o in originals}
    counts: dict[str, int] = {}
    for c in clean.values():
        counts[c.lower()] = counts.get(c.lower(), 0) + 1
    names = {o: c for o, c in clean.items() if counts[c.lower()] == 1}
    taken = {n.lower() for n in names.values()}
    for o in sorted((o for o in clean if o not in names), key=os.fsencode):
        digest = hashlib.sha256(os.fsencode(o)).hexdigest()
        candidates = [f"{clean[o][: MAX_NAME - 1 - w]}-{digest[:w]}" for w in (8, 12, 16, 24, 32)]
        candidates += [f"{clean[o][: MAX_NAME - 40]}-{digest[:32]}-{i}" for i in range(2, len(clean) + 2)]
        names[o] = next(c for c in candidates if c.lower() not in taken)
        taken.add(names[o].lower())
    return names


def _skip_reason(entry: Path) -> str:
    """Why an entry of the class folder is not a submission ('' when it is one)."""
    if entry.name.startswith("."):
        return "hidden (its name starts with a dot)"
    try:
        mode = entry.lstat().st_mode
    except OSError as exc:
        return f"cannot be examined ({exc.__class__.__name__})"
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are not followed)"
    if stat.S_ISDIR(mode):
        return ""
    if stat.S_ISREG(mode):
        return "" if _is_zip_name(entry.name) else "a file that is not a .zip"
    return "not a folder, a .zip or a regular file"


def discover(submissions: Path, topics: list[str], quiet: bool = True) -> Submissions:
    """Every submission as (student, path), sorted by student name, with the entries' own names and
    the entries not graded (see Submissions). Student names are unique (_student_names). Unless
    `quiet`, says on stderr which entries were skipped and which students are graded under another
    name than their entry's."""
    if not submissions.exists():
        raise GradeError(f"{submissions} does not exist.")
    if submissions.is_file():
        if not _is_zip_name(submissions.name):
            raise GradeError(
                f"{submissions} is a file; give a folder of submissions, one submission folder, or a .zip."
            )
        original = submissions.name
        student = _student_names([original])[original]
        return Submissions([(student, submissions)], {student: _shown(original, 1000)})
    if is_single_submission(submissions, topics):
        original = submissions.resolve().name
        student = _safe_name(original)
        return Submissions([(student, submissions)], {student: _shown(original, 1000)})
    found, skipped = {}, []
    for entry in submissions.iterdir():
        reason = _skip_reason(entry)
        if reason:
            skipped.append({"entry": _shown(entry.name, 1000), "reason": reason})
        else:
            found[entry.name] = entry
    skipped.sort(key=lambda s: s["entry"])
    if not found:
        also = f" (not graded: {', '.join(s['entry'] + ': ' + s['reason'] for s in skipped)})" if skipped else ""
        raise GradeError(
            f"{submissions} holds no submissions: expected one folder or .zip per student, "
            f"or topic files ({', '.join(t + '.py' for t in topics)}) in the folder itself{also}."
        )
    names = _student_names(list(found))
    entries = sorted((names[o], found[o]) for o in found)
    result = Submissions(entries, {names[o]: _shown(o, 1000) for o in found}, skipped)
    if not quiet:
        for s in skipped:
            print(f"not graded: {s['entry']!r}: {s['reason']}", file=sys.stderr)
        for student, path in entries:
            stem = path.name[:-4] if _is_zip_name(path.name) else path.name
            if student != stem:
                print(f"renamed: {_shown(path.name)!r} is graded as {student!r}", file=sys.stderr)
    return result


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._") or "student"
    return cleaned[:80]


def _member_problem(exc: BaseException, info: zipfile.ZipInfo) -> str:
    """A plain reason why a member of a zip cannot be read (never a traceback)."""
    name = _shown(info.filename)
    if info.flag_bits & 0x1:
        return f"{name} is encrypted (protected by a password)"
    if isinstance(exc, NotImplementedError) or (
        isinstance(exc, RuntimeError) and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    ):
        return (
            f"{name} is compressed with a method the grader cannot read (method {info.compress_type}); "
            "use the ordinary deflate compression"
        )
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return f"{name} is damaged (its CRC-32 checksum does not match its contents)"
    if isinstance(exc, EOFError):
        return f"{name} is cut short"
    return f"{name} is damaged ({exc.__class__.__name__})"


def _open_zip(handle) -> tuple[zipfile.ZipFile | None, str]:
    """The zip, or None and a plain reason why it cannot be read, within the bounds above."""
    size = os.fstat(handle.fileno()).st_size
    if size > MAX_ARCHIVE:
        return None, f"it is larger than {MAX_ARCHIVE >> 20} MiB"
    try:
        end = zipfile._EndRecData(handle)  # the end record only, before the list of files is read
    except Exception:  # noqa: BLE001 - a private helper: no check rather than a crash
        end = ()
    if end and (end[zipfile._ECD_ENTRIES_TOTAL] > MAX_MEMBERS or end[zipfile._ECD_SIZE] > MAX_DIRECTORY):
        return None, f"it holds more than {MAX_MEMBERS} files"
    try:
        archive = zipfile.ZipFile(handle)
    except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, ValueError, EOFError, struct.error...
        return None, f"it is not a zip file, or it is damaged or cut short ({exc.__class__.__name__})"
    if len(archive.infolist()) > MAX_MEMBERS:
        archive.close()
        return None, f"it holds more than {MAX_MEMBERS} files"
    return archive, ""


def _stage_zip(entry: Path, target: Path, topics: list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    try:
        handle = open(entry, "rb")
    except OSError as exc:
        return {t: f"the zip cannot be read: it cannot be opened ({exc.__class__.__name__})" for t in topics}
    with handle:
        archive, problem = _open_zip(handle)
        if archive is None:
            return {t: f"the zip cannot be read: {problem}" for t in topics}
        with archive:
            members = {i.filename: i for i in archive.infolist() if not i.is_dir()}
            for topic, name in _topic_names(list(members), topics).items():
                info = members[name]
                if info.file_size > MAX_FILE:
                    notes[topic] = f"{_shown(name)} is larger than {MAX_FILE} bytes"
                    continue
                try:
                    with archive.open(info) as src:
                        data = src.read(MAX_FILE + 1)
                except Exception as exc:  # noqa: BLE001 - BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, OSError, ValueError, LZMAError...
                    notes[topic] = f"the zip cannot be read: {_member_problem(exc, info)}"
                    continue
                if len(data) > MAX_FILE:
                    notes[topic] = f"{_shown(name)} is larger than {MAX_FILE} bytes"
                    continue
                (target / f"{topic}.py").write_bytes(data)
    return notes


def stage(entry: Path, target: Path, topics: list[str]) -> dict[str, str]:
    """Copy the submission's topic files into `target`; returns {topic: note} for files left out.
    A zip that cannot be read, or a member of it, is the student's problem: a note, never an exception."""
    target.mkdir(parents=True)
    notes: dict[str, str] = {}
    if entry.is_file():
        return _stage_zip(entry, target, topics)
    names = []
    for base, dirs, files in os.walk(entry, followlinks=False):
        rel = os.path.relpath(base, entry)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        if depth >= 2:
            dirs[:] = []
        names += [(f if rel == "." else f"{rel}/{f}").replace(os.sep, "/") for f in files]
    for topic, name in _topic_names(names, topics).items():
        source = entry / name
        if source.is_symlink():
            notes[topic] = f"{_shown(name)} is a link, not a file (links are not followed)"
            continue
        try:
            if not source.is_file():
                notes[topic] = f"{_shown(name)} is not a regular file"
                continue
            if source.stat().st_size > MAX_FILE:
                notes[topic] = f"{_shown(name)} is larger than {MAX_FILE} bytes"
                continue
            shutil.copyfile(source, target / f"{topic}.py", follow_symlinks=False)
        except OSError as exc:
            notes[topic] = f"{_shown(name)} cannot be read ({exc.__class__.__name__})"
    return notes


# ---------------------------------------------------------------------------------------------------
# Running the suites


def trusted_copy(workdir: Path) -> Path:
    """A fresh copy of tests/ (and the pytest settings) for this run; returns its root."""
    root = workdir / "trusted"
    shutil.copytree(paths.TESTS, root / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "conftest.py"))
    shutil.copy2(paths.ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


# The warm server (grader/warm.py) of the current pool thread, if it has one: each student's
# trusted pytest is forked from it instead of paying a fresh interpreter's imports.
_WARM = threading.local()
TRUSTED_MEMORY = 8 << 30  # bytes of address space of the trusted pytest process (all suites: 1.2 GiB)
MESSAGE_CHARS = 4000  # characters kept of one test's message in grades.json and the feedback


def _trusted_limits():
    """preexec_fn of the trusted pytest process: a soft RLIMIT_AS of TRUSTED_MEMORY, so a grader bug
    (or a reply that gets past grader/wire.py's bounds) ends in a MemoryError, not a host out of
    memory. Only the soft limit: the worker it starts sets its own, lower, hard limits."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = TRUSTED_MEMORY if hard == resource.RLIM_INFINITY else min(TRUSTED_MEMORY, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_student(staged: Path, topics: list[str], trusted: Path, timeout: float, report: Path) -> tuple[list[dict], str]:
    """Run the suites of `topics` on one staged submission; returns (records, grader problem or '').

    Every topic's public suite runs before any hidden suite: the hidden tests' inputs are never
    passed to the submission before a test whose message the student sees (grader/proxy.py also
    gives the hidden tests a worker of their own)."""
    files = [
        str(trusted / "tests" / t / name)
        for name in runner.SUITES["all"]
        for t in topics
        if (trusted / "tests" / t / name).is_file()
    ]
    if not files:
        return [], ""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *files,
        "--noconftest",
        # A test file that cannot be imported (a missing oracle library on a grading image) costs
        # its own tests, recorded as errors, not every topic's: pytest's default stops the session.
        "--continue-on-collection-errors",
        "-p",
        "grader.pytest_plugin",
        f"--impl={staged}",
        "--kata-sandbox",
        f"--kata-timeout={timeout}",
        f"--kata-report={report}",
        f"--rootdir={trusted}",
        *runner.QUIET_PLUGINS,
        "-q",
        "--tb=short",
    ]
    env = dict(os.environ, PYTHONPATH=f"{trusted}{os.pathsep}{paths.ROOT}", PYTHONDONTWRITEBYTECODE="1")
    server = getattr(_WARM, "server", None)
    if server is None:
        try:
            proc = subprocess.run(
                cmd,
                cwd=trusted,
                capture_output=True,
                text=True,
                env=env,
                timeout=SUBMISSION_LIMIT,
                preexec_fn=_trusted_limits,
            )
        except subprocess.TimeoutExpired:
            return [], f"the suites did not finish within {SUBMISSION_LIMIT} s"
        status, output = proc.returncode, proc.stdout + proc.stderr
    else:  # forked from a process that has imported torch and pytest (grader/warm.py): same run, no import
        out = report.with_name(report.name + ".out")
        server.submit(0, cmd[3:], out, cwd=trusted, env=env, rlimit_as=TRUSTED_MEMORY)
        end = server.next_end()
        if end["timed_out"]:
            return [], f"the suites did not finish within {SUBMISSION_LIMIT} s"
        status, output = end["status"], out.read_text(errors="replace") if out.exists() else ""
    if not report.exists():
        return [], f"pytest wrote no report (exit {status}): {output[-1500:]}"
    records = json.loads(report.read_text())
    errors = [r for r in records if r["outcome"] == "error"]
    if errors:
        return records, f"{len(errors)} tests could not run, e.g. {errors[0]['nodeid']}: {errors[0]['message'][:800]}"
    return records, ""


def _cut_message(message) -> str:
    """A test's message, at most MESSAGE_CHARS characters: it may quote what the submission returned
    or raised, and grades.json and the feedback must stay small whatever that was."""
    message = message if type(message) is str else str(message)
    if len(message) <= MESSAGE_CHARS:
        return message
    return message[:MESSAGE_CHARS] + f"\n... (the message was cut: {len(message)} characters in all)"


def grade_one(student: str, entry: Path, topics: list[str], trusted: Path, workdir: Path, timeout: float) -> dict:
    start = time.time()
    staged = workdir / "staged" / student
    notes = {**STAGING_NOTES.get(str(entry), {}), **stage(entry, staged, topics)}
    present = [t for t in topics if (staged / f"{t}.py").is_file()]
    records, problem = run_student(staged, present, trusted, timeout, workdir / f"{student}.report.json")
    rows = []
    for name in topics:
        topic = catalog.get(name)
        mine = [r for r in records if r["topic"] == name]
        row = scoring.topic_summary(topic, mine, missing=name not in present)
        row["tests"] = [
            {
                "name": r["name"],
                "suite": r["suite"],
                "points": r["points"] if r["outcome"] == "passed" else 0.0,
                "max": r["points"],
                "passed": r["outcome"] == "passed",
                "message": _cut_message(r["message"]),
            }
            for r in mine
        ]
        if name in notes:
            row["note"] = notes[name]
        rows.append(row)
    return {
        "student": student,
        "topics": rows,
        "total": scoring.totals(rows),
        "grader_problem": problem,
        "seconds": round(time.time() - start, 2),
        "staged_sha256": result_store.staged_sha256(staged, notes),  # what --resume compares (grader/resume.py)
    }


# ---------------------------------------------------------------------------------------------------
# Reports


class ClassProgress:
    """A class run's progress on stderr (stdout keeps the summary): on a terminal, rich's bar with
    students done of total, time spent and time left; otherwise one line per student with the same
    numbers ("[####......] 12/200 alice, 61 s, about 9.5 min left"). Time left is the mean time per
    student so far times the students left (jobs at a time included, as they are in the mean)."""

    WIDTH = 30

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.quiet, self.done, self.bar = total, quiet, 0, None
        self.start = time.monotonic()

    def __enter__(self):
        from grader import feedback

        if not self.quiet and self.total and feedback.fancy(sys.stderr):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("grading {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def advance(self, label: str) -> None:
        self.done += 1
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=label)
            return
        spent = time.monotonic() - self.start
        left = spent / self.done * (self.total - self.done)
        filled = int(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        when = f"about {left / 60:.1f} min left" if left >= 60 else f"about {left:.0f} s left"
        sys.stderr.write(f"[{bar}] {self.done}/{self.total} {label[:60]}, {spent:.0f} s, {when}\n")
        sys.stderr.flush()

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def feedback(result: dict) -> str:
    """The student's feedback in Markdown: public tests with their messages, hidden ones by name."""
    lines = [f"# Feedback for {result['student']}", ""]
    original = result.get("original", result["student"])
    if (original[:-4] if _is_zip_name(original) else original) != result["student"]:
        lines += [f"Submitted as: `{_shown(result['original'])}`", ""]
    lines += [f"Total: {result['total']['points']:g} / {result['total']['max_points']:g} points", ""]
    for row in result["topics"]:
        lines += [f"## {row['topic']}: {row['points']:g} / {row['max_points']:g} ({row['status']})", ""]
        if row.get("note"):
            lines += [f"Note: {row['note']}.", ""]
        if row["status"] == "missing":
            lines += [
                f"No {row['topic']}.py could be taken from the submission."
                if row.get("note")
                else f"No {row['topic']}.py was found in the submission.",
                "",
            ]
            continue
        for test in row["tests"]:
            mark = "passed" if test["passed"] else "failed"
            if test["suite"] == "hidden":
                lines.append(f"- hidden test `{test['name']}`: {mark}")
            else:
                lines.append(f"- `{test['name']}`: {mark}")
                if not test["passed"] and test["message"]:
                    message = "\n".join("    " + m for m in test["message"].strip().splitlines()[:30])
                    lines += ["", message, ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_reports(results: list[dict], topics: list[str], out: Path, found: Submissions | None = None) -> None:
    """grades.csv, grades.json (each student with the `original` name of their entry, and the
    class folder's `skipped` entries with their reasons, from `found`, discover()'s answer) and
    feedback/<student>.md."""
    originals = found.originals if found is not None else {}
    results = [{"student": r["student"], "original": originals.get(r["student"], r["student"]), **r} for r in results]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *topics, "total"])
        for r in results:
            writer.writerow([r["student"], *[f"{row['points']:g}" for row in r["topics"]], f"{r['total']['points']:g}"])
    skipped = found.skipped if found is not None else []
    (out / "grades.json").write_text(json.dumps({"topics": topics, "students": results, "skipped": skipped}, indent=1))
    (out / "feedback").mkdir(exist_ok=True)
    for r in results:
        (out / "feedback" / f"{r['student']}.md").write_text(feedback(r), encoding="utf-8")


def gradescope_results(result: dict) -> dict:
    """Gradescope's results.json for one submission (per-test score, max_score, status, name,
    output, visibility; hidden tests are shown after the grades are published, without output)."""
    tests = []
    for row in result["topics"]:
        if row["status"] == "missing":
            tests.append(
                {
                    "name": f"{row['topic']}: file",
                    "score": 0.0,
                    "max_score": float(row["max_points"]),
                    "status": "failed",
                    "visibility": "visible",
                    "output": f"{row['note'][:1].upper()}{row['note'][1:]}. No {row['topic']}.py could be "
                    "taken from the submission."
                    if row.get("note")
                    else f"No {row['topic']}.py was found in the submission.",
                }
            )
            continue
        total = sum(t["max"] for t in row["tests"]) or 1.0
        for test in row["tests"]:
            scale = row["max_points"] / total  # a test's share of its topic's points
            hidden = test["suite"] == "hidden"
            tests.append(
                {
                    "name": f"{row['topic']}: {test['name']}",
                    "score": round(test["points"] * scale, 4),
                    "max_score": round(test["max"] * scale, 4),
                    "status": "passed" if test["passed"] else "failed",
                    "visibility": "after_published" if hidden else "visible",
                    "output": "" if hidden or test["passed"] else test["message"][:4000],
                }
            )
    return {
        "score": result["total"]["points"],
        "execution_time": result["seconds"],
        "output": f"{result['total']['points']:g} / {result['total']['max_points']:g} points.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


# ---------------------------------------------------------------------------------------------------


def grade_class(
    submissions: Path,
    out: Path,
    jobs: int = 1,
    timeout: float = 20.0,
    topics: list[str] | None = None,
    fmt: str = "csv",
    quiet: bool = False,
    resume: bool = False,
    shard: tuple[int, int] | None = None,
) -> int:
    """Grade the class (or, with `shard` (I, N), its I-th slice: grader/shards.py). Each student's
    result is kept in out/students/ as soon as it is final; `resume` grades only the students
    without one (grader/resume.py)."""
    topics = topics or catalog.names()
    try:
        entries = discover(submissions, topics, quiet=quiet)
    except GradeError:
        if fmt != "gradescope" or not submissions.is_dir():
            raise
        # Gradescope's /autograder/submission is one upload even when nothing in it can be graded
        # (an empty upload): every topic is then "not found", as for any submission without it.
        student = _safe_name(submissions.resolve().name)
        entries = Submissions([(student, submissions)], {student: _shown(submissions.resolve().name, 1000)})
    if fmt == "gradescope" and len(entries) != 1:
        raise GradeError(f"--format gradescope grades one submission; {submissions} holds {len(entries)}.")
    if fmt == "gradescope" and (resume or shard):
        raise GradeError("--resume and --shard are for class runs; --format gradescope grades one submission.")
    store, kept, everyone = None, {}, [student for student, _ in entries]
    if shard is not None:
        entries = Submissions(shards.select(entries, shard), entries.originals, entries.skipped)
    if fmt == "csv":
        settings = {"topics": topics, "timeout": timeout, "shard": list(shard) if shard else None}
        store = result_store.Store(out, settings)
        try:
            kept = store.start(resume)
        except result_store.ResumeError as exc:
            raise GradeError(str(exc)) from None
        (out / shards.MANIFEST).unlink(missing_ok=True)  # written again when this run is complete
    from grader import sandbox

    if not sandbox.bwrap_usable() and not quiet:
        print(
            "warning: bubblewrap is not usable here; submissions run with resource limits and a seccomp filter only.",
            file=sys.stderr,
        )
    start = time.time()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="kata-grade-") as tmp:
        workdir = Path(tmp)
        trusted = trusted_copy(workdir)
        previous, todo = result_store.split(entries, kept, topics, workdir / "check") if kept else ({}, entries)
        results += previous.values()
        if resume and not quiet:
            print(
                f"resuming: {len(previous)} of {len(entries)} students keep their result; grading {len(todo)}",
                file=sys.stderr,
            )

        def one(item):
            student, entry = item
            try:
                return grade_one(student, entry, topics, trusted, workdir, timeout)
            except Exception as exc:  # noqa: BLE001 - a grader failure is reported, not raised
                return {
                    "student": student,
                    "topics": [scoring.topic_summary(catalog.get(t), [], missing=True) | {"tests": []} for t in topics],
                    "total": {
                        "points": 0.0,
                        "max_points": sum(catalog.get(t).points for t in topics),
                        "passed": 0,
                        "total": 0,
                        "done": 0,
                        "topics": len(topics),
                    },
                    "grader_problem": f"{exc.__class__.__name__}: {exc}",
                    "seconds": 0.0,
                }

        servers: list = []

        def one_warm(item):
            """one(item) in a pool thread that has a warm server of its own (started on first use;
            it dies with the thread, and is closed below)."""
            if getattr(_WARM, "server", None) is None and len(entries) > 1:
                from grader import warm

                try:
                    _WARM.server = warm.Server(SUBMISSION_LIMIT, warm.preload_for(topics, trusted / "tests"))
                    servers.append(_WARM.server)
                except (OSError, RuntimeError):  # grading goes on, one fresh interpreter per student
                    _WARM.server = None
            result = one(item)
            if store is not None:
                store.save(result)  # final: kept at once, so a killed run loses nothing (--resume)
            return result

        try:
            with ThreadPoolExecutor(max(1, jobs)) as pool, ClassProgress(len(todo), quiet) as progress:
                for future in as_completed([pool.submit(one_warm, item) for item in todo]):
                    result = future.result()
                    results.append(result)
                    progress.advance(result["student"])
        finally:
            for server in servers:
                server.close()
    results.sort(key=lambda r: r["student"])
    if fmt == "gradescope":
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(gradescope_results(results[0]), indent=1))
    else:
        write_reports(results, topics, out, entries)
        if shard is not None:
            shards.write_manifest(out, shard, everyone, topics, entries.skipped)
    failures = [r for r in results if r["grader_problem"]]
    mean = sum(r["total"]["points"] for r in results) / max(1, len(results))
    maximum = results[0]["total"]["max_points"] if results else sum(catalog.get(t).points for t in topics)
    if not quiet:
        print(
            f"Graded {len(results)} submission(s) in {time.time() - start:.1f} s: mean score "
            f"{mean:.2f} / {maximum:g}; grader failures: {len(failures)}. Reports in {out}."
        )
        for r in failures:
            print(f"  grader failure for {r['student']}: {r['grader_problem']}", file=sys.stderr)
    return 1 if failures else 0
