"""`make gradescope` (`python -m grader gradescope OUT.zip`): the autograder bundle for Gradescope.

Gradescope unzips the bundle into /autograder/source, runs `setup.sh` once when the image is built,
and `run_autograder` for every submission, with the student's files in /autograder/submission; the
grader must write /autograder/results/results.json (Gradescope's documented schema, written by
grader/classgrade.gradescope_results).

The bundle holds the harness (grader/), every suite with its hidden tests (tests/), the provided
code (provided/), the golden data some suites read (data/), requirements.txt, pyproject.toml and the
Makefile; never exercises/, and of solutions/ only the references a hidden suite reads as its oracle
of last resort (hidden_references(); they stay in /autograder/source, which the sandboxed worker
does not see, like the hidden tests).
`setup.sh` installs Python 3.11 and bubblewrap from Ubuntu's archive, then a CPU build of torch and
the pinned requirements into /autograder/source/.venv. `run_autograder` grades the submission with
this same grader: `python -m grader grade /autograder/submission --format gradescope`.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from grader import catalog, paths

FILES = ["requirements.txt", "pyproject.toml", "Makefile"]
FOLDERS = ["grader", "tests", "provided", "data"]  # data/: golden files some suites read

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04).
# KATA_GS_SKIP_PACKAGES=1 skips the package manager lines (apt-get, pip) and nothing else: the
# project's test runs this script offline, with the environment already in place
# (grader/gradescope_local.py).
set -euo pipefail
if [ "${KATA_GS_SKIP_PACKAGES:-}" != 1 ]; then
  apt-get update
  apt-get install -y python3.11 python3.11-venv bubblewrap
fi
cd /autograder/source
[ -x .venv/bin/python ] || python3.11 -m venv .venv
if [ "${KATA_GS_SKIP_PACKAGES:-}" != 1 ]; then
  # A CPU build of torch (PyPI's default wheel for Linux pulls several GB of CUDA libraries).
  .venv/bin/pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
  # The other pinned requirements (torch is already importable, so setup keeps it).
  python3.11 grader/setup_venv.py
fi
# What the image holds: fails the build if torch or pytest cannot be imported; says whether
# bubblewrap can build the grader's sandbox here.
.venv/bin/python -m grader.gradescope_env
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. The paths can be overridden to try the bundle locally.
set -uo pipefail
SOURCE="${KATA_GS_SOURCE:-/autograder/source}"
SUBMISSION="${KATA_GS_SUBMISSION:-/autograder/submission}"
RESULTS="${KATA_GS_RESULTS:-/autograder/results}"
cd "$SOURCE"
mkdir -p "$RESULTS"
.venv/bin/python -m grader grade "$SUBMISSION" --format gradescope --out "$RESULTS" --jobs 1
status=$?
if [ ! -s "$RESULTS/results.json" ]; then
  # The grader itself failed: say so on Gradescope instead of leaving the student with nothing.
  printf '{"score": 0, "output": "The autograder failed (exit %s); please tell your instructor.", "tests": []}\\n' \\
    "$status" > "$RESULTS/results.json"
fi
exit 0
"""


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o644 & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def _script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = ((stat.S_IFREG | 0o755) & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def hidden_references() -> list[str]:
    """The topics whose hidden suite reads the reference (docs/design.md rule 4: the oracle of last
    resort): their test_hidden.py names the solutions folder."""
    found = []
    for topic in catalog.names():
        hidden = paths.topic_tests(topic) / "test_hidden.py"
        if hidden.is_file() and ("SOLUTIONS" in (text := hidden.read_text(encoding="utf-8")) or '"solutions"' in text):
            found.append(topic)
    return found


def build(out: Path) -> list[str]:
    """Write the bundle to `out` (a .zip path); returns the names inside, sorted."""
    out.parent.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(out, "w") as archive:
        _script(archive, "setup.sh", SETUP_SH)
        _script(archive, "run_autograder", RUN_AUTOGRADER)
        names += ["setup.sh", "run_autograder"]
        for name in FILES:
            _add(archive, paths.ROOT / name, name)
            names.append(name)
        for folder in FOLDERS:
            for path in sorted((paths.ROOT / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    name = path.relative_to(paths.ROOT).as_posix()
                    _add(archive, path, name)
                    names.append(name)
        for topic in hidden_references():
            name = f"solutions/{topic}.py"
            _add(archive, paths.ROOT / name, name)
            names.append(name)
    return sorted(names)
