"""`python -m grader grade SUBMISSIONS --out DIR`: grade a class in grading mode (DESIGN, grading model).

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
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import catalog, paths, runner, scoring

MAX_FILE = 1 << 20  # bytes per topic file
SUBMISSION_LIMIT = 3600  # seconds of wall clock for one student's whole run (a grader failure beyond)


class GradeError(Exception):
    """Bad input to the grade command: one sentence for the instructor."""


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


def discover(submissions: Path, topics: list[str]) -> list[tuple[str, Path]]:
    """(student, path) for every submission, sorted by student name."""
    if not submissions.exists():
        raise GradeError(f"{submissions} does not exist.")
    if submissions.is_file():
        if submissions.suffix != ".zip":
            raise GradeError(f"{submissions} is a file; give a folder of submissions, one submission "
                             "folder, or a .zip.")
        return [(_safe_name(submissions.stem), submissions)]
    if is_single_submission(submissions, topics):
        return [(_safe_name(submissions.resolve().name), submissions)]
    entries = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            entries.append((_safe_name(entry.name), entry))
        elif entry.is_file() and entry.suffix == ".zip":
            entries.append((_safe_name(entry.stem), entry))
    if not entries:
        raise GradeError(f"{submissions} holds no submissions: expected one folder or .zip per student, "
                         f"or topic files ({', '.join(t + '.py' for t in topics)}) in the folder itself.")
    names = [n for n, _ in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise GradeError(f"two submissions have the same name after cleaning: {', '.join(sorted(dupes))}.")
    return entries


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._") or "student"
    return cleaned[:80]


def stage(entry: Path, target: Path, topics: list[str]) -> dict[str, str]:
    """Copy the submission's topic files into `target`; returns {topic: note} for files left out."""
    target.mkdir(parents=True)
    notes: dict[str, str] = {}
    if entry.is_file():
        try:
            archive = zipfile.ZipFile(entry)
        except (zipfile.BadZipFile, OSError) as exc:
            return {t: f"the zip cannot be read ({exc.__class__.__name__})" for t in topics}
        with archive:
            members = {i.filename: i for i in archive.infolist() if not i.is_dir()}
            for topic, name in _topic_names(list(members), topics).items():
                info = members[name]
                if info.file_size > MAX_FILE:
                    notes[topic] = f"{name} is larger than {MAX_FILE} bytes"
                    continue
                with archive.open(info) as src:
                    data = src.read(MAX_FILE + 1)
                if len(data) > MAX_FILE:
                    notes[topic] = f"{name} is larger than {MAX_FILE} bytes"
                    continue
                (target / f"{topic}.py").write_bytes(data)
        return notes
    names = []
    for base, dirs, files in os.walk(entry, followlinks=False):
        rel = os.path.relpath(base, entry)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        if depth >= 2:
            dirs[:] = []
        names += [(f if rel == "." else f"{rel}/{f}").replace(os.sep, "/") for f in files]
    for topic, name in _topic_names(names, topics).items():
        source = entry / name
        if source.is_symlink() or not source.is_file():
            notes[topic] = f"{name} is a link, not a file (links are not followed)"
            continue
        if source.stat().st_size > MAX_FILE:
            notes[topic] = f"{name} is larger than {MAX_FILE} bytes"
            continue
        shutil.copyfile(source, target / f"{topic}.py", follow_symlinks=False)
    return notes


# ---------------------------------------------------------------------------------------------------
# Running the suites

def trusted_copy(workdir: Path) -> Path:
    """A fresh copy of tests/ (and the pytest settings) for this run; returns its root."""
    root = workdir / "trusted"
    shutil.copytree(paths.TESTS, root / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "conftest.py"))
    shutil.copy2(paths.ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def run_student(staged: Path, topics: list[str], trusted: Path, timeout: float, report: Path) -> tuple[list[dict], str]:
    """Run the suites of `topics` on one staged submission; returns (records, grader problem or '')."""
    files = [str(trusted / "tests" / t / name) for t in topics for name in runner.SUITES["all"]
             if (trusted / "tests" / t / name).is_file()]
    if not files:
        return [], ""
    cmd = [sys.executable, "-m", "pytest", *files, "--noconftest", "-p", "grader.pytest_plugin",
           f"--impl={staged}", "--kata-sandbox", f"--kata-timeout={timeout}", f"--kata-report={report}",
           f"--rootdir={trusted}", *runner.QUIET_PLUGINS, "-q", "--tb=short"]
    env = dict(os.environ, PYTHONPATH=f"{trusted}{os.pathsep}{paths.ROOT}", PYTHONDONTWRITEBYTECODE="1")
    try:
        proc = subprocess.run(cmd, cwd=trusted, capture_output=True, text=True, env=env,
                              timeout=SUBMISSION_LIMIT)
    except subprocess.TimeoutExpired:
        return [], f"the suites did not finish within {SUBMISSION_LIMIT} s"
    if not report.exists():
        return [], f"pytest wrote no report (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-1500:]}"
    records = json.loads(report.read_text())
    errors = [r for r in records if r["outcome"] == "error"]
    if errors:
        return records, f"{len(errors)} tests could not run, e.g. {errors[0]['nodeid']}: {errors[0]['message'][:800]}"
    return records, ""


def grade_one(student: str, entry: Path, topics: list[str], trusted: Path, workdir: Path,
              timeout: float) -> dict:
    start = time.time()
    staged = workdir / "staged" / student
    notes = stage(entry, staged, topics)
    present = [t for t in topics if (staged / f"{t}.py").is_file()]
    records, problem = run_student(staged, present, trusted, timeout, workdir / f"{student}.report.json")
    rows = []
    for name in topics:
        topic = catalog.get(name)
        mine = [r for r in records if r["topic"] == name]
        row = scoring.topic_summary(topic, mine, missing=name not in present)
        row["tests"] = [{"name": r["name"], "suite": r["suite"], "points": r["points"] if r["outcome"] == "passed" else 0.0,
                         "max": r["points"], "passed": r["outcome"] == "passed", "message": r["message"]}
                        for r in mine]
        if name in notes:
            row["note"] = notes[name]
        rows.append(row)
    return {"student": student, "topics": rows, "total": scoring.totals(rows), "grader_problem": problem,
            "seconds": round(time.time() - start, 2)}


# ---------------------------------------------------------------------------------------------------
# Reports

def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    line = f"[{bar}] {done}/{total} {label}"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line[:100].ljust(100))
        if done == total:
            sys.stderr.write("\n")
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def feedback(result: dict) -> str:
    """The student's feedback in Markdown: public tests with their messages, hidden ones by name."""
    lines = [f"# Feedback for {result['student']}", "",
             f"Total: {result['total']['points']:g} / {result['total']['max_points']:g} points", ""]
    for row in result["topics"]:
        lines += [f"## {row['topic']}: {row['points']:g} / {row['max_points']:g} ({row['status']})", ""]
        if row.get("note"):
            lines += [f"Note: {row['note']}.", ""]
        if row["status"] == "missing":
            lines += [f"No {row['topic']}.py was found in the submission.", ""]
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


def write_reports(results: list[dict], topics: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *topics, "total"])
        for r in results:
            writer.writerow([r["student"], *[f"{row['points']:g}" for row in r["topics"]],
                             f"{r['total']['points']:g}"])
    (out / "grades.json").write_text(json.dumps({"topics": topics, "students": results}, indent=1))
    (out / "feedback").mkdir(exist_ok=True)
    for r in results:
        (out / "feedback" / f"{r['student']}.md").write_text(feedback(r), encoding="utf-8")


def gradescope_results(result: dict) -> dict:
    """Gradescope's results.json for one submission (per-test score, max_score, status, name,
    output, visibility; hidden tests are shown after the grades are published, without output)."""
    tests = []
    for row in result["topics"]:
        if row["status"] == "missing":
            tests.append({"name": f"{row['topic']}: file", "score": 0.0, "max_score": float(row["max_points"]),
                          "status": "failed", "visibility": "visible",
                          "output": f"No {row['topic']}.py was found in the submission."})
            continue
        total = sum(t["max"] for t in row["tests"]) or 1.0
        for test in row["tests"]:
            scale = row["max_points"] / total  # a test's share of its topic's points
            hidden = test["suite"] == "hidden"
            tests.append({
                "name": f"{row['topic']}: {test['name']}", "score": round(test["points"] * scale, 4),
                "max_score": round(test["max"] * scale, 4), "status": "passed" if test["passed"] else "failed",
                "visibility": "after_published" if hidden else "visible",
                "output": "" if hidden or test["passed"] else test["message"][:4000],
            })
    return {"score": result["total"]["points"], "execution_time": result["seconds"],
            "output": f"{result['total']['points']:g} / {result['total']['max_points']:g} points.",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


# ---------------------------------------------------------------------------------------------------

def grade_class(submissions: Path, out: Path, jobs: int = 1, timeout: float = 20.0,
                topics: list[str] | None = None, fmt: str = "csv", quiet: bool = False) -> int:
    topics = topics or catalog.names()
    entries = discover(submissions, topics)
    if fmt == "gradescope" and len(entries) != 1:
        raise GradeError(f"--format gradescope grades one submission; {submissions} holds {len(entries)}.")
    from grader import sandbox
    if not sandbox.bwrap_usable() and not quiet:
        print("warning: bubblewrap is not usable here; submissions run with resource limits and a "
              "seccomp filter only.", file=sys.stderr)
    start = time.time()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="kata-grade-") as tmp:
        workdir = Path(tmp)
        trusted = trusted_copy(workdir)
        done = 0

        def one(item):
            student, entry = item
            try:
                return grade_one(student, entry, topics, trusted, workdir, timeout)
            except Exception as exc:  # noqa: BLE001 - a grader failure is reported, not raised
                return {"student": student, "topics": [scoring.topic_summary(catalog.get(t), [], missing=True)
                                                       | {"tests": []} for t in topics],
                        "total": {"points": 0.0, "max_points": sum(catalog.get(t).points for t in topics),
                                  "passed": 0, "total": 0, "done": 0, "topics": len(topics)},
                        "grader_problem": f"{exc.__class__.__name__}: {exc}", "seconds": 0.0}

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            for result in pool.map(one, entries):
                results.append(result)
                done += 1
                if not quiet:
                    _progress(done, len(entries), result["student"])
    results.sort(key=lambda r: r["student"])
    if fmt == "gradescope":
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(gradescope_results(results[0]), indent=1))
    else:
        write_reports(results, topics, out)
    failures = [r for r in results if r["grader_problem"]]
    mean = sum(r["total"]["points"] for r in results) / len(results)
    maximum = results[0]["total"]["max_points"]
    if not quiet:
        print(f"Graded {len(results)} submission(s) in {time.time() - start:.1f} s: mean score "
              f"{mean:.2f} / {maximum:g}; grader failures: {len(failures)}. Reports in {out}.")
        for r in failures:
            print(f"  grader failure for {r['student']}: {r['grader_problem']}", file=sys.stderr)
    return 1 if failures else 0
