"""`python -m grader release OUT`: the copy of the project a class receives.

It holds the stubs, the public tests with their helpers (mistakes, oracles, drivers, hints), the
harness, the docs and the Makefile; it leaves out `solutions/` and the files in PROJECT_ONLY (hidden
tests, and the mutant files, which quote the reference). In the
release, `make test`, `make grade` and `make hint` work as in the full project; `make diff` says
there is no reference, and `make check` (which needs the references) is the project's, not the
class's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader import paths

TOP_FILES = ["Makefile", "README.md", "requirements.txt", "pyproject.toml", ".gitignore"]
TOP_DIRS = ["exercises", "grader", "tests", "docs", "data", "provided", "demos", "bench"]
# Files that quote the references or need them: they stay with the project.
PROJECT_ONLY = ("test_hidden.py", "mutants.py")


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in PROJECT_ONLY or n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def build(out: Path) -> list[str]:
    """Write the release into `out` (which must not exist). Returns the top-level entries."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new folder (nothing was written).")
    out.mkdir(parents=True)
    written = []
    for name in TOP_FILES:
        if (paths.ROOT / name).is_file():
            shutil.copy2(paths.ROOT / name, out / name)
            written.append(name)
    for name in TOP_DIRS:
        if (paths.ROOT / name).is_dir():
            shutil.copytree(paths.ROOT / name, out / name, ignore=_ignore)
            written.append(name + "/")
    return written
