"""Grading notebook submissions: the solution cells become `<topic>.py`, graded in the sandbox.

`python -m grader grade SUBMISSIONS --out DIR` accepts, besides folders of `.py` files:

- a class folder of students, each holding notebooks named after topics (`alice/adam.ipynb`) or
  nbgrader assignment folders (`alice/adam/adam.ipynb`): nbgrader's `submitted/` tree is one;
- an nbgrader course root (a folder holding `submitted/`);
- one student's folder of notebooks.

For each notebook, only the code of the solution cells is read, found by their nbgrader grade_id
(grader/nbgrader_course.module_source): whatever else the student added, deleted or changed (test
cells, helpers, cells that patch the kernel, outputs) is never run. The reference's given code
and docstring fill the rest of `<topic>.py`, which is then staged and graded by the usual path
(grader/classgrade.py: one trusted pytest process per student, the code in a sandboxed worker,
`--jobs` students at once, the usual reports). A notebook that cannot be read (not JSON, no cells,
too large) gives its topic 0 with a note; a missing solution cell leaves its function out.

`--to-gradebook` then writes each student's per-cell scores into the course's nbgrader gradebook
(gradebook.db, through nbgrader's own API) as the auto scores of the test cells, so formgrader
shows them.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from grader import catalog, classgrade, nbgrader_course


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)  # links are not followed
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _notebook_of(folder: Path, topic: str) -> Path | None:
    """A student's notebook for `topic`: `folder/<topic>.ipynb` or nbgrader's `folder/<topic>/<topic>.ipynb`."""
    for candidate in (folder / f"{topic}.ipynb", folder / topic / f"{topic}.ipynb"):
        if _is_file(candidate) and (candidate.parent == folder or _is_dir(candidate.parent)):
            return candidate
    return None


def class_folder(submissions: Path) -> Path:
    """The folder of students: `submitted/` when given an nbgrader course root."""
    return submissions / "submitted" if _is_dir(submissions / "submitted") else submissions


def is_notebook_submission(submissions: Path, topics: list[str]) -> bool:
    """Whether SUBMISSIONS holds notebooks named after topics (for one student, or per student)."""
    if not _is_dir(submissions):
        return False
    folder = class_folder(submissions)
    if any(_notebook_of(folder, t) for t in topics):
        return True
    try:
        students = [e for e in folder.iterdir() if _is_dir(e) and not e.name.startswith(".")]
    except OSError:
        return False
    return any(_notebook_of(s, t) for s in students[:1000] for t in topics)


def convert_student(folder: Path, target: Path, topics: list[str]) -> dict[str, str]:
    """Write `target/<topic>.py` for each of the student's notebooks; returns {topic: note}."""
    target.mkdir(parents=True, exist_ok=True)
    notes: dict[str, str] = {}
    for topic in topics:
        path = _notebook_of(folder, topic)
        if path is None:
            continue
        shown = path.name if path.parent == folder else f"{topic}/{path.name}"
        try:
            if path.stat().st_size > nbgrader_course.MAX_NOTEBOOK:
                raise nbgrader_course.NotebookError(f"{shown} is larger than {nbgrader_course.MAX_NOTEBOOK} bytes")
            cells = nbgrader_course.read_notebook(path.read_bytes(), shown)
        except OSError as exc:
            notes[topic] = f"{shown} cannot be read ({exc.__class__.__name__})"
            continue
        except nbgrader_course.NotebookError as exc:
            notes[topic] = str(exc)
            continue
        source, missing = nbgrader_course.module_source(topic, cells)
        if missing:
            notes[topic] = (
                f"{shown} has no solution cell for {', '.join(missing)} (cells are found by their nbgrader "
                "grade_id): graded without them"
            )
        (target / f"{topic}.py").write_text(source, encoding="utf-8")
    return notes


def convert(submissions: Path, workdir: Path, topics: list[str]) -> Path:
    """The class (or single submission) as folders of `<topic>.py` under `workdir`, with the notes for
    classgrade registered; returns the folder to grade."""
    folder = class_folder(submissions)
    out = workdir / "notebooks"
    out.mkdir(parents=True)
    nbgrader_tree = folder != submissions or folder.resolve().name == "submitted"  # a student may be called adam
    if not nbgrader_tree and any(_notebook_of(folder, t) for t in topics):  # one student's folder
        single = out / (folder.resolve().name or "student")
        classgrade.STAGING_NOTES[str(single)] = convert_student(folder, single, topics)
        return single
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not _is_dir(entry):
            continue  # as classgrade would skip them; it lists them when grading .py folders
        target = out / entry.name
        classgrade.STAGING_NOTES[str(target)] = convert_student(entry, target, topics)
    return out


def cell_scores(result: dict, topic: str) -> dict[str, float]:
    """{test cell grade_id: score} of one student's topic from its graded tests (grades.json rows):
    a cell earns its points times the share of its cases' points that passed, as the cell's
    partial credit does in the notebook (grader/notebook_tests.py)."""
    row = next(r for r in result["topics"] if r["topic"] == topic)
    groups: dict[str, list[float]] = {}
    for test in row.get("tests", []):
        gid = nbgrader_course.test_cell_id(test["suite"], test["name"].split("[", 1)[0])
        earned = groups.setdefault(gid, [0.0, 0.0])
        earned[0] += test["points"]
        earned[1] += test["max"]
    return {gid: (e / m if m else 0.0) for gid, (e, m) in groups.items()}


def to_gradebook(course: Path, out: Path, topics: list[str]) -> list[str]:
    """Write the scores of DIR/grades.json into the course's gradebook as the test cells' auto scores.
    Returns one line per student and topic written."""
    from grader import instructor_env

    instructor_env.ensure("--to-gradebook")
    from nbgrader.api import Gradebook, MissingEntry

    database = course / "gradebook.db"
    if not database.is_file():
        raise classgrade.GradeError(
            f"{course} has no gradebook.db: run `nbgrader generate_assignment` for the topics in the course first."
        )
    graded = json.loads((out / "grades.json").read_text())
    students = graded["students"] if isinstance(graded, dict) else graded
    written = []
    with Gradebook(f"sqlite:///{database}") as gb:
        for result in students:
            student = result["student"]
            gb.update_or_create_student(student)
            for topic in topics:
                try:
                    gb.find_assignment(topic)
                except MissingEntry:
                    continue
                row = next((r for r in result["topics"] if r["topic"] == topic), None)
                if row is None or (row["status"] == "missing" and "note" not in row):
                    continue  # no notebook for this topic: no submission to record
                shares = cell_scores(result, topic)
                try:
                    submission = gb.find_submission(topic, student)
                except MissingEntry:
                    submission = gb.add_submission(topic, student)
                total = maximum = 0.0
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        points = getattr(grade.cell, "max_score", None)
                        if grade.name in shares and points:
                            grade.auto_score = round(points * shares[grade.name], 6)
                            grade.needs_manual_grade = False
                            total += grade.auto_score
                            maximum += points
                gb.db.commit()
                written.append(f"{student} {topic}: {total:.2f} / {maximum:.2f}")
    return written


def default_course(submissions: Path) -> Path:
    """The course root of an nbgrader tree: the folder above `submitted/`, else SUBMISSIONS itself."""
    if _is_dir(submissions / "submitted"):
        return submissions
    if submissions.resolve().name == "submitted":
        return submissions.resolve().parent
    return submissions


def known_topics(names: list[str] | None) -> list[str]:
    return names or catalog.names()


class prepared:
    """`with prepared(SUBMISSIONS, topics) as folder:` the folder to hand to classgrade.grade_class:
    SUBMISSIONS itself, or its notebooks converted to `<topic>.py` folders in a temporary folder
    (removed afterwards)."""

    def __init__(self, submissions: Path, topics: list[str]):
        self.submissions = submissions
        self.topics = topics
        self._tmp = None

    def __enter__(self) -> Path:
        if not is_notebook_submission(self.submissions, self.topics):
            return self.submissions
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="kata-notebooks-")
        return convert(self.submissions, Path(self._tmp.name), self.topics)

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            for key in [k for k in classgrade.STAGING_NOTES if k.startswith(self._tmp.name)]:
                del classgrade.STAGING_NOTES[key]
            self._tmp.cleanup()
