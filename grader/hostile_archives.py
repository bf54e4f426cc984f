"""A corpus of hostile class folders, for the grader's staging (grader/tests/test_staging.py).

grader/hostile.py holds hostile *code*; this holds hostile *entries* of a class folder: names that
clean to the same student name, entries that are not submissions (dot folders, links, stray
files), and zips that cannot be read (bad CRC, encrypted, unknown compression, garbage, cut short,
bombs, too many members, too large). Each case says what it does, builds its entries in a class
folder, and says what grading them must give (`Entry`): the points for `adam`, the exact note in
the student's feedback, or the exact reason the entry is not graded.

`build(folder)` writes every case into `folder` (the symbolic-link case also writes one folder and
one zip next to it, `<folder>-outside`, that its links point to) and returns {case name: Case}.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader import classgrade, paths, stubs

MAX = classgrade.MAX_FILE
UNREADABLE = "the zip cannot be read: "


def reference(topic: str = "adam") -> str:
    """The honest reference text of a topic, as a student would hand it in."""
    return stubs.strip_markers((paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Entry:
    """One entry of the class folder and what grading it must give."""

    name: str  # the entry's own name in the class folder
    points: float | None = 0.0  # adam points in a class run; None when it is not graded
    note: str = ""  # the exact note on adam in the student's feedback ("" for none)
    skipped: str = ""  # the exact reason in grades.json "skipped" ("" when it is graded)
    hashed: bool = False  # its student name is the clean name + "-" + 8 hex digits (a collision)


@dataclass(frozen=True)
class Case:
    name: str
    says: str
    make: Callable[[Path], None]  # writes the case's entries into the class folder
    entries: tuple[Entry, ...]
    finding: int  # 7: names and entries, 8: broken zips


# -- building blocks ---------------------------------------------------------------------------------


def _folder(path: Path, files: dict[str, str]) -> None:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _headers(data: bytes, member: str) -> tuple[int, int]:
    """Offsets of the local header and of the central-directory header of `member`."""
    name = member.encode()
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.index(b"PK\x03\x04", local + 4)
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    return local, central


def _patched(
    data: bytes,
    member: str,
    *,
    flags: int = 0,
    method: int | None = None,
    crc: int | None = None,
    size: int | None = None,
) -> bytes:
    """The zip with `member`'s headers changed, in the local header and the central directory alike:
    `flags` or-ed in, the compression `method`, the `crc` or the uncompressed `size` replaced."""
    out = bytearray(data)
    local, central = _headers(data, member)
    for at, (f, m, c, s) in ((local, (6, 8, 14, 22)), (central, (8, 10, 16, 24))):
        struct.pack_into("<H", out, at + f, struct.unpack_from("<H", out, at + f)[0] | flags)
        if method is not None:
            struct.pack_into("<H", out, at + m, method)
        if crc is not None:
            struct.pack_into("<I", out, at + c, crc)
        if size is not None:
            struct.pack_into("<I", out, at + s, size)
    return bytes(out)


def _honest_zip() -> bytes:
    return _zip({"adam.py": reference().encode()})


def _crc_of(data: bytes, member: str) -> int:
    return zipfile.ZipFile(io.BytesIO(data)).getinfo(member).CRC


def _write(name: str, make_bytes: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(make_bytes())


def _bad_crc() -> bytes:
    data = _zip({"adam.py": reference().encode(), "bpe.py": reference("bpe").encode()})
    return _patched(data, "adam.py", crc=_crc_of(data, "adam.py") ^ 0xFFFFFFFF)


BOMB = 50 * (1 << 20)  # bytes of zeros in the bombs: about 50 KB once deflated


def _lying_bomb() -> bytes:
    return _patched(_zip({"adam.py": bytes(BOMB)}), "adam.py", size=len(reference().encode()))


def _too_many(lie: bool = False) -> bytes:
    members = {f"junk/{i}.txt": b"" for i in range(classgrade.MAX_MEMBERS)}
    members["adam.py"] = reference().encode()
    data = _zip(members, zipfile.ZIP_STORED)
    if lie:  # the end record claims one member; the list of files holds them all
        end = data.rindex(b"PK\x05\x06")
        data = data[: end + 8] + struct.pack("<HH", 1, 1) + data[end + 12 :]
    return data


def _garbage() -> bytes:
    return random.Random(7).randbytes(4096)


def _huge(folder: Path) -> None:
    """A sparse file just over the size limit, starting like a zip (no disk space is used)."""
    with open(folder / "huge.zip", "wb") as handle:
        handle.write(_honest_zip())
        handle.truncate(classgrade.MAX_ARCHIVE + 1)


def _links(folder: Path) -> None:
    outside = folder.parent / f"{folder.name}-outside"
    _folder(outside / "linked", {"adam.py": reference()})
    (outside / "linked.zip").write_bytes(_honest_zip())
    (folder / "linked").symlink_to(outside / "linked", target_is_directory=True)
    (folder / "linked.zip").symlink_to(outside / "linked.zip")


def _strays(folder: Path) -> None:
    (folder / "notes.txt").write_text("adam.py is in my folder\n")
    os.mkfifo(folder / "pipe")


LONG = "x" * 80  # two 100-character names that share their first 80 characters

CASES = (
    # -- finding 7: names that clean to the same student name, and entries that are not submissions
    Case(
        "non-latin-pair",
        "two all-Cyrillic folder names: both clean to 'student'",
        lambda f: (_folder(f / "Иван", {"adam.py": reference()}), _folder(f / "Пётр", {"notes.txt": "hi\n"})),
        (Entry("Иван", 10.0, hashed=True), Entry("Пётр", 0.0, hashed=True)),
        7,
    ),
    Case(
        "space-underscore",
        "'a b' next to 'a_b': both clean to 'a_b'",
        lambda f: (_folder(f / "a b", {"adam.py": reference()}), _folder(f / "a_b", {"notes.txt": "hi\n"})),
        (Entry("a b", 10.0, hashed=True), Entry("a_b", 0.0, hashed=True)),
        7,
    ),
    Case(
        "long-names",
        "two 100-character names sharing their first 80 characters (names are cut at 80)",
        lambda f: (
            _folder(f / (LONG + "A" * 20), {"adam.py": reference()}),
            _folder(f / (LONG + "B" * 20), {"notes.txt": "hi\n"}),
        ),
        (Entry(LONG + "A" * 20, 10.0, hashed=True), Entry(LONG + "B" * 20, 0.0, hashed=True)),
        7,
    ),
    Case(
        "dot-folders",
        "a .git folder and a .hidden folder, each holding the reference",
        lambda f: (_folder(f / ".git", {"adam.py": reference()}), _folder(f / ".hidden", {"adam.py": reference()})),
        (
            Entry(".git", None, skipped="hidden (its name starts with a dot)"),
            Entry(".hidden", None, skipped="hidden (its name starts with a dot)"),
        ),
        7,
    ),
    Case(
        "symlinks",
        "a link to a folder and a link to a zip, both outside the class folder",
        _links,
        (
            Entry("linked", None, skipped="a symbolic link (links are not followed)"),
            Entry("linked.zip", None, skipped="a symbolic link (links are not followed)"),
        ),
        7,
    ),
    Case(
        "strays",
        "a stray text file and a named pipe",
        _strays,
        (
            Entry("notes.txt", None, skipped="a file that is not a .zip"),
            Entry("pipe", None, skipped="not a folder, a .zip or a regular file"),
        ),
        7,
    ),
    # -- finding 8: zips that cannot be read (each would hold the reference as adam.py)
    Case(
        "bad-crc",
        "adam.py's CRC-32 is wrong (bpe.py, also inside, is fine)",
        _write("bad-crc.zip", _bad_crc),
        (
            Entry(
                "bad-crc.zip", 0.0, UNREADABLE + "adam.py is damaged (its CRC-32 checksum does not match its contents)"
            ),
        ),
        8,
    ),
    Case(
        "encrypted",
        "adam.py has the 'encrypted' flag set",
        _write("encrypted.zip", lambda: _patched(_honest_zip(), "adam.py", flags=0x1)),
        (Entry("encrypted.zip", 0.0, UNREADABLE + "adam.py is encrypted (protected by a password)"),),
        8,
    ),
    Case(
        "unknown-method",
        "adam.py's compression method is 99, which the grader cannot read",
        _write("unknown-method.zip", lambda: _patched(_honest_zip(), "adam.py", method=99)),
        (
            Entry(
                "unknown-method.zip",
                0.0,
                UNREADABLE + "adam.py is compressed with a method the grader cannot "
                "read (method 99); use the ordinary deflate compression",
            ),
        ),
        8,
    ),
    Case(
        "garbage",
        "4 KiB of random bytes named .zip",
        _write("garbage.zip", _garbage),
        (Entry("garbage.zip", 0.0, UNREADABLE + "it is not a zip file, or it is damaged or cut short (BadZipFile)"),),
        8,
    ),
    Case(
        "truncated",
        "an honest zip cut in half",
        _write("truncated.zip", lambda: _honest_zip()[: len(_honest_zip()) // 2]),
        (Entry("truncated.zip", 0.0, UNREADABLE + "it is not a zip file, or it is damaged or cut short (BadZipFile)"),),
        8,
    ),
    Case(
        "bomb",
        "adam.py: 50 MB of zeros, deflated to about 50 KB, its size told honestly",
        _write("bomb.zip", lambda: _zip({"adam.py": bytes(BOMB)})),
        (Entry("bomb.zip", 0.0, f"adam.py is larger than {MAX} bytes"),),
        8,
    ),
    Case(
        "lying-bomb",
        "the same 50 MB of zeros, claiming the reference's size",
        _write("lying-bomb.zip", _lying_bomb),
        (
            Entry(
                "lying-bomb.zip",
                0.0,
                UNREADABLE + "adam.py is damaged (its CRC-32 checksum does not match its contents)",
            ),
        ),
        8,
    ),
    Case(
        "too-many",
        f"{classgrade.MAX_MEMBERS} empty files, then adam.py",
        _write("too-many.zip", _too_many),
        (Entry("too-many.zip", 0.0, UNREADABLE + f"it holds more than {classgrade.MAX_MEMBERS} files"),),
        8,
    ),
    Case(
        "too-many-lying",
        "the same, its end record claiming one member",
        _write("too-many-lying.zip", lambda: _too_many(lie=True)),
        (Entry("too-many-lying.zip", 0.0, UNREADABLE + f"it holds more than {classgrade.MAX_MEMBERS} files"),),
        8,
    ),
    Case(
        "huge",
        "a (sparse) file over the archive limit",
        _huge,
        (Entry("huge.zip", 0.0, UNREADABLE + f"it is larger than {classgrade.MAX_ARCHIVE >> 20} MiB"),),
        8,
    ),
)


def build(folder: Path, cases=CASES) -> dict[str, Case]:
    """Write `cases` into the class folder `folder` (created if need be); {case name: case}."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.make(folder)
    return {case.name: case for case in cases}
