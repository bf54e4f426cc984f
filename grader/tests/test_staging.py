"""Finding and staging submissions against the hostile class folders of grader/hostile_archives.py:
colliding student names, entries that are not submissions, and zips that cannot be read.

All tests but the last are fast (no student code runs). The last grades the whole corpus in one
class run next to an honest submission, with real sandboxed workers (about a minute).
"""

import bz2
import hashlib
import json
import lzma
import os
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from grader import classgrade
from grader import hostile_archives as corpus

NAME_CASES = [c for c in corpus.CASES if c.finding == 7 and any(e.hashed for e in c.entries)]
SKIP_CASES = [c for c in corpus.CASES if c.finding == 7 and all(e.skipped for e in c.entries)]
ZIP_CASES = [c for c in corpus.CASES if c.finding == 8]


def _hashed(entry: str) -> str:
    """The name the rule gives an entry whose clean name collides: clean + '-' + 8 hex digits."""
    stem = entry[:-4] if entry.endswith(".zip") else entry
    return f"{classgrade._safe_name(stem)}-{hashlib.sha256(os.fsencode(entry)).hexdigest()[:8]}"


def test_the_corpus_covers_both_findings():
    """Every kind of entry the findings name is in the corpus, with a precise expectation each."""
    names = {c.name for c in corpus.CASES}
    assert {
        "non-latin-pair",
        "space-underscore",
        "long-names",
        "dot-folders",
        "symlinks",
        "bad-crc",
        "encrypted",
        "unknown-method",
        "garbage",
        "bomb",
        "lying-bomb",
        "too-many",
    } <= names
    assert len(NAME_CASES) == 3 and len(SKIP_CASES) == 3 and len(ZIP_CASES) >= 8
    for case in ZIP_CASES:
        for entry in case.entries:
            assert entry.note and entry.points == 0.0 and not entry.skipped, case.name


# -- finding 7: names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", NAME_CASES, ids=lambda c: c.name)
def test_colliding_names_are_made_unique_with_a_stable_hash(tmp_path, case):
    """Entries that clean to the same name are all graded, each as clean name + '-' + the first 8
    hex digits of the SHA-256 of its own name, at most 90 characters; the original is kept."""
    klass = tmp_path / "class"
    corpus.build(klass, [case])
    found = classgrade.discover(klass, ["adam"])
    students = [s for s, _ in found]
    assert len(students) == len(case.entries) == len(set(students))
    by_entry = {path.name: student for student, path in found}
    for entry in case.entries:
        assert by_entry[entry.name] == _hashed(entry.name)
        assert len(by_entry[entry.name]) <= classgrade.MAX_NAME
        assert found.originals[by_entry[entry.name]] == entry.name
    assert found.skipped == []


def test_names_do_not_depend_on_the_listing_order(tmp_path, monkeypatch):
    """The same class folder gives the same names whatever order the directory is listed in."""
    klass = tmp_path / "class"
    corpus.build(klass, NAME_CASES)
    first = list(classgrade.discover(klass, ["adam"]))
    listing = sorted(klass.iterdir())
    for seed in range(3):
        shuffled = listing[:]
        random.Random(seed).shuffle(shuffled)
        monkeypatch.setattr(Path, "iterdir", lambda self, order=shuffled: iter(order))
        assert list(classgrade.discover(klass, ["adam"])) == first
    originals = [e.name for c in NAME_CASES for e in c.entries]
    assert classgrade._student_names(originals) == classgrade._student_names(originals[::-1])


def test_unique_clean_names_stay_and_hashed_names_never_collide():
    """A unique clean name is kept as it is; names differing only in case count as the same (the
    feedback files must not overwrite each other on a case-insensitive disk); a hashed name that
    another entry already uses gets 12 hex digits instead of 8."""
    taken = _hashed("Иван")
    names = classgrade._student_names(["Иван", "Пётр", taken, "bo b.zip", "Ann", "ann"])
    assert names[taken] == taken and names["bo b.zip"] == "bo_b"
    assert names["Иван"] == f"student-{hashlib.sha256('Иван'.encode()).hexdigest()[:12]}"
    assert names["Пётр"] == _hashed("Пётр")
    assert names["Ann"] == _hashed("Ann") and names["ann"] == _hashed("ann")
    assert len({n.lower() for n in names.values()}) == len(names)
    assert len(classgrade._student_names(["y" * 300, "y" * 301])["y" * 300]) <= classgrade.MAX_NAME


def test_renamed_students_and_skipped_entries_are_said_on_stderr(tmp_path, capsys):
    """Unless quiet, one line per renamed student and one per skipped entry, with its reason."""
    klass = tmp_path / "class"
    corpus.build(klass, [corpus.CASES[0], *SKIP_CASES])
    classgrade.discover(klass, ["adam"], quiet=False)
    err = capsys.readouterr().err.splitlines()
    assert f"renamed: 'Иван' is graded as '{_hashed('Иван')}'" in err
    assert f"renamed: 'Пётр' is graded as '{_hashed('Пётр')}'" in err
    for case in SKIP_CASES:
        for entry in case.entries:
            assert f"not graded: '{entry.name}': {entry.skipped}" in err
    assert len(err) == 2 + sum(len(c.entries) for c in SKIP_CASES)
    classgrade.discover(klass, ["adam"], quiet=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("case", SKIP_CASES, ids=lambda c: c.name)
def test_entries_that_are_not_submissions_are_listed_with_their_reason(tmp_path, case):
    """Dot folders, links (to folders or zips) and stray files are not graded, and each is listed
    in `skipped` with its reason."""
    klass = tmp_path / "class"
    corpus.build(klass, [case])
    (klass / "ann").mkdir()
    found = classgrade.discover(klass, ["adam"])
    assert [s for s, _ in found] == ["ann"]
    assert found.skipped == sorted(
        ({"entry": e.name, "reason": e.skipped} for e in case.entries), key=lambda s: s["entry"]
    )


def test_a_folder_of_skipped_entries_only_is_refused_with_the_reasons(tmp_path):
    """No submission at all is still the instructor's error, and the sentence says what was skipped."""
    klass = tmp_path / "class"
    corpus.build(klass, [c for c in SKIP_CASES if c.name == "dot-folders"])
    with pytest.raises(classgrade.GradeError, match=r"\.git: hidden \(its name starts with a dot\)"):
        classgrade.discover(klass, ["adam"])


def test_reports_keep_the_original_name_and_the_skipped_entries(tmp_path):
    """grades.json has each student's `original` entry name and the top-level `skipped` list; the
    feedback of a renamed student says what they submitted as; a note on a missing topic says the
    file could not be taken rather than that it was not found."""
    found = classgrade.Submissions(
        [("student-1", tmp_path / "Иван")],
        {"student-1": "Иван"},
        [{"entry": ".git", "reason": "hidden (its name starts with a dot)"}],
    )
    result = {
        "student": "student-1",
        "seconds": 0.0,
        "grader_problem": "",
        "total": {"points": 0.0, "max_points": 10, "passed": 0, "total": 0, "done": 0, "topics": 1},
        "topics": [
            {
                "topic": "adam",
                "points": 0.0,
                "max_points": 10,
                "status": "missing",
                "tests": [],
                "note": "the zip cannot be read: adam.py is encrypted (protected by a password)",
            }
        ],
    }
    classgrade.write_reports([result], ["adam"], tmp_path / "out", found)
    data = json.loads((tmp_path / "out" / "grades.json").read_text())
    assert data["skipped"] == found.skipped
    assert data["students"][0]["original"] == "Иван" and data["students"][0]["student"] == "student-1"
    text = (tmp_path / "out" / "feedback" / "student-1.md").read_text(encoding="utf-8")
    assert "Submitted as: `Иван`" in text
    assert "Note: the zip cannot be read: adam.py is encrypted (protected by a password)." in text
    assert "No adam.py could be taken from the submission." in text and "was found" not in text


# -- finding 8: zips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ZIP_CASES, ids=lambda c: c.name)
def test_a_broken_zip_is_a_note_never_an_exception(tmp_path, case):
    """stage() returns the case's exact note for adam, stages no adam.py, and raises nothing; a
    damaged member costs only its own topic (bpe.py next to a bad adam.py is still staged)."""
    klass = tmp_path / "class"
    corpus.build(klass, [case])
    (entry,) = case.entries
    notes = classgrade.stage(klass / entry.name, tmp_path / "staged", ["adam", "bpe"])
    assert notes["adam"] == entry.note
    assert "Traceback" not in notes["adam"] and "\n" not in notes["adam"]
    assert not (tmp_path / "staged" / "adam.py").exists()
    if case.name == "bad-crc":
        assert "bpe" not in notes
        assert (tmp_path / "staged" / "bpe.py").read_text(encoding="utf-8") == corpus.reference("bpe")
    elif entry.note.startswith(corpus.UNREADABLE + "it "):  # the whole archive: every topic says so
        assert notes["bpe"] == entry.note


@pytest.mark.parametrize(
    "error",
    [
        zipfile.BadZipFile("Bad magic number for file header"),
        zlib.error("invalid"),
        EOFError(),
        OSError("Invalid data stream"),
        ValueError("x"),
        lzma.LZMAError("corrupt"),
        RuntimeError("odd"),
        struct.error("short"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
    ids=lambda e: e.__class__.__name__,
)
def test_every_error_reading_a_member_is_a_plain_note(tmp_path, monkeypatch, error):
    """Whatever exception reading a member raises, the topic gets 'the zip cannot be read: adam.py
    is damaged (<class>)' (an EOFError: 'is cut short'), and the run goes on."""
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        archive.writestr("adam.py", "x = 1\n")

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(zipfile.ZipFile, "open", broken)
    notes = classgrade.stage(tmp_path / "s.zip", tmp_path / "staged", ["adam"])
    reason = "is cut short" if isinstance(error, EOFError) else f"is damaged ({error.__class__.__name__})"
    assert notes == {"adam": f"the zip cannot be read: adam.py {reason}"}


@pytest.mark.parametrize(
    "error",
    [
        ValueError("negative seek"),
        OSError(22, "Invalid argument"),
        EOFError(),
        struct.error("unpack"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
    ids=lambda e: e.__class__.__name__,
)
def test_every_error_opening_a_zip_is_a_plain_note(tmp_path, monkeypatch, error):
    """Whatever exception reading the zip's list of files raises, every topic gets one plain note."""
    (tmp_path / "s.zip").write_bytes(b"PK\x05\x06" + bytes(18))

    def broken(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(zipfile.ZipFile, "__init__", broken)
    notes = classgrade.stage(tmp_path / "s.zip", tmp_path / "staged", ["adam", "bpe"])
    reason = f"the zip cannot be read: it is not a zip file, or it is damaged or cut short ({error.__class__.__name__})"
    assert notes == {"adam": reason, "bpe": reason}


def test_a_bzip2_member_with_damaged_data_is_a_note(tmp_path):
    """A real damaged bzip2 stream (OSError from the bz2 module), not a mock."""
    assert bz2  # the bz2 module is what zipfile uses for method 12
    with zipfile.ZipFile(tmp_path / "s.zip", "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("adam.py", "x = 1\n" * 100)
    data = bytearray((tmp_path / "s.zip").read_bytes())
    start = 30 + len("adam.py")
    data[start + 10 : start + 20] = b"\x00" * 10
    (tmp_path / "s.zip").write_bytes(bytes(data))
    notes = classgrade.stage(tmp_path / "s.zip", tmp_path / "staged", ["adam"])
    assert notes["adam"].startswith("the zip cannot be read: adam.py is damaged (")
    assert not (tmp_path / "staged" / "adam.py").exists()


# -- the whole corpus in one class run ----------------------------------------------------------------


@pytest.mark.timeout(900)
def test_the_corpus_in_one_class_run(tmp_path, capsys):
    """Next to one honest folder, the whole corpus is graded in one run: exit status 0, one
    grades.csv row per graded student with unique names, the honest students score 10, every
    broken zip scores 0 with its note in its feedback file, and the skipped entries are in
    grades.json with their reasons."""
    klass = tmp_path / "class"
    (klass / "honest").mkdir(parents=True)
    (klass / "honest" / "adam.py").write_text(corpus.reference(), encoding="utf-8")
    corpus.build(klass)
    out = tmp_path / "out"
    status = classgrade.grade_class(klass, out, jobs=1, timeout=3.0, topics=["adam"], quiet=True)
    data = json.loads((out / "grades.json").read_text())
    students = {s["original"]: s for s in data["students"]}
    assert status == 0, [s["grader_problem"] for s in data["students"] if s["grader_problem"]]

    rows = (out / "grades.csv").read_text(encoding="utf-8").splitlines()
    graded = [e for c in corpus.CASES for e in c.entries if not e.skipped]
    assert len(rows) == 1 + 1 + len(graded)
    names = [row.split(",")[0] for row in rows[1:]]
    assert len(set(names)) == len(names) == len(data["students"])
    assert students["honest"]["student"] == "honest" and students["honest"]["total"]["points"] == 10.0

    table = [("honest", "honest", 10.0, "")]
    for case in corpus.CASES:
        for entry in case.entries:
            if entry.skipped:
                assert {"entry": entry.name, "reason": entry.skipped} in data["skipped"], entry.name
                assert entry.name not in students
                table.append((case.name, f"(not graded) {entry.name}", None, entry.skipped))
                continue
            got = students[entry.name]
            assert not got["grader_problem"], entry.name
            assert got["total"]["points"] == entry.points, entry.name
            assert (got["student"] == _hashed(entry.name)) == entry.hashed, entry.name
            note = got["topics"][0].get("note", "")
            assert note == entry.note, entry.name
            if entry.note:
                text = (out / "feedback" / f"{got['student']}.md").read_text(encoding="utf-8")
                assert f"Note: {entry.note}." in text, entry.name
            table.append((case.name, got["student"], got["total"]["points"], note))
    assert len(data["skipped"]) == sum(1 for c in corpus.CASES for e in c.entries if e.skipped)

    with capsys.disabled():
        print("\n\nHostile class folder (adam topic, one class run):")
        print(f"{'case':16} {'student':36} {'points':>6}  note / reason")
        for case, student, points, note in table:
            shown = student if len(student) <= 36 else student[:20] + "..." + student[-13:]
            print(f"{case:16} {shown:36} {'' if points is None else f'{points:g}':>6}  {note}")
